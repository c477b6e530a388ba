/* The linking rules, one test each: cross-host join by tuple + byte position,
 * intra-node Link_ID/Follow_ID linking through several tiers, fan-out, concurrency
 * (ids, not timing or threads, decide), thread affinity as a tie-breaker only, the
 * no-id thread fallback, the window, caps, timeouts, closes, pipelining, UDP, out of
 * order reports, late-starting observer, segments, and the output formats. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "link.h"
#include "path.h"

struct node {
	uint32_t netns, pid;
	const char *comm;
	uint8_t ip;
};

/* One TCP connection between two nodes; positions advance per direction and end. */
struct cx {
	const struct node *cl, *sv;
	uint32_t ctid, stid;
	uint64_t cconn, sconn;
	uint16_t cport, sport;
	uint64_t c2s_s, c2s_r, s2c_s, s2c_r;
	uint8_t proto;
};

static const struct node LG = { 100, 10, "wrk", 1 }, NGX = { 200, 20, "nginx", 2 },
			 PY = { 300, 30, "python3", 3 }, PY2 = { 301, 31, "python3", 4 },
			 RD = { 400, 40, "redis-server", 5 };

static uint64_t next_conn = 1;

static struct cx cx_new(const struct node *cl, const struct node *sv, uint16_t cport,
			uint16_t sport)
{
	struct cx c = { .cl = cl, .sv = sv, .ctid = cl->pid, .stid = sv->pid,
			.cconn = next_conn++, .sconn = next_conn++, .cport = cport, .sport = sport,
			.proto = IPPROTO_TCP };
	c.c2s_s = c.c2s_r = 1000u * cport; /* an initial sequence number */
	c.s2c_s = c.s2c_r = 7000u * cport;
	return c;
}

static void set_ip(uint8_t a[16], uint8_t last)
{
	memset(a, 0, 16);
	a[10] = a[11] = 0xff;
	a[12] = 10;
	a[15] = last;
}

static uint64_t H(const char *s)
{
	return s ? lk_hash(s, strlen(s)) : 0;
}

static struct lk_msg base(const struct cx *c, int client, int dir, int role, uint64_t t0,
			  uint64_t t1, uint32_t len, uint64_t pos)
{
	struct lk_msg m;
	memset(&m, 0, sizeof(m));
	const struct node *n = client ? c->cl : c->sv;
	m.conn = client ? c->cconn : c->sconn;
	m.netns = n->netns;
	m.pid = n->pid;
	m.tid = client ? c->ctid : c->stid;
	snprintf(m.comm, sizeof(m.comm), "%s", n->comm);
	m.tuple.proto = c->proto;
	set_ip(m.tuple.laddr, client ? c->cl->ip : c->sv->ip);
	set_ip(m.tuple.raddr, client ? c->sv->ip : c->cl->ip);
	m.tuple.lport = client ? c->cport : c->sport;
	m.tuple.rport = client ? c->sport : c->cport;
	m.dir = (uint8_t)dir;
	m.role = (uint8_t)role;
	m.t_start = t0;
	m.t_end = t1;
	m.len = len;
	m.pos = c->proto == IPPROTO_TCP ? pos : 0;
	m.status = -1;
	snprintf(m.proto, sizeof(m.proto), "http");
	return m;
}

static struct linker *lk;

/* client sends a request carrying Link_ID 'link' */
static void c_req(struct cx *c, uint64_t t0, uint64_t t1, const char *label, const char *link)
{
	struct lk_msg m = base(c, 1, LK_SEND, LK_ROLE_REQUEST, t0, t1, 100, c->c2s_s);
	c->c2s_s += 100;
	m.link_id = H(link);
	snprintf(m.label, sizeof(m.label), "%s", label);
	if (link)
		snprintf(m.id_text, sizeof(m.id_text), "%s", link);
	lk_add(lk, &m);
}

/* server receives it; its Follow_IDs are what its children will carry */
static void s_req(struct cx *c, uint64_t t0, uint64_t t1, const char *label, const char *f1,
		  const char *f2)
{
	struct lk_msg m = base(c, 0, LK_RECV, LK_ROLE_REQUEST, t0, t1, 100, c->c2s_r);
	c->c2s_r += 100;
	snprintf(m.label, sizeof(m.label), "%s", label);
	m.follow[0] = H(f1);
	m.follow[1] = H(f2);
	m.n_follow = 2;
	lk_add(lk, &m);
}

static void s_resp(struct cx *c, uint64_t t0, uint64_t t1, int status)
{
	struct lk_msg m = base(c, 0, LK_SEND, LK_ROLE_RESPONSE, t0, t1, 50, c->s2c_s);
	c->s2c_s += 50;
	m.status = status;
	m.outcome = status >= 500 ? LK_OUTCOME_ERROR : LK_OUTCOME_OK;
	lk_add(lk, &m);
}

static void c_resp(struct cx *c, uint64_t t0, uint64_t t1, int status)
{
	struct lk_msg m = base(c, 1, LK_RECV, LK_ROLE_RESPONSE, t0, t1, 50, c->s2c_r);
	c->s2c_r += 50;
	m.status = status;
	m.outcome = status >= 500 ? LK_OUTCOME_ERROR : LK_OUTCOME_OK;
	lk_add(lk, &m);
}

/* Both ends of one full exchange, client first. */
static void both_req(struct cx *c, uint64_t t, const char *label, const char *link,
		     const char *follow)
{
	c_req(c, t, t + 1, label, link);
	s_req(c, t + 2, t + 3, label, follow, NULL);
}

static void both_resp(struct cx *c, uint64_t t, int status)
{
	s_resp(c, t, t + 1, status);
	c_resp(c, t + 2, t + 3, status);
}

/* ---- collecting output -------------------------------------------------- */

static char shapes[64][512];
static char jsons[64][8192];
static unsigned n_paths;
static FILE *tree_out;

static void shape(const struct lk_hop *h, char *buf, size_t n)
{
	size_t l = strlen(buf);
	snprintf(buf + l, n - l, "%s", h->label);
	if (!h->first_child)
		return;
	l = strlen(buf);
	snprintf(buf + l, n - l, "(");
	for (const struct lk_hop *c = h->first_child; c; c = c->next_sibling) {
		shape(c, buf, n);
		if (c->next_sibling) {
			l = strlen(buf);
			snprintf(buf + l, n - l, ",");
		}
	}
	l = strlen(buf);
	snprintf(buf + l, n - l, ")");
}

static void on_path(const struct lk_hop *root, void *arg)
{
	(void)arg;
	if (n_paths >= 64)
		return;
	shapes[n_paths][0] = 0;
	shape(root, shapes[n_paths], sizeof(shapes[0]));
	FILE *f = fmemopen(jsons[n_paths], sizeof(jsons[0]), "w");
	path_write_json(f, root);
	fclose(f);
	if (tree_out)
		path_write_tree(tree_out, root);
	n_paths++;
}

static const char *find_shape(const char *s)
{
	for (unsigned i = 0; i < n_paths; i++)
		if (strcmp(shapes[i], s) == 0)
			return jsons[i];
	return NULL;
}

static struct lk_cfg cfg;

static int setup(void **st)
{
	(void)st;
	n_paths = 0;
	lk_cfg_defaults(&cfg);
	cfg.timeout_ns = 1000000;  /* 1 ms: tests use small numbers */
	cfg.linger_ns = 100000;
	cfg.window_ns = 500000;
	lk = lk_new(&cfg, on_path, NULL);
	return lk ? 0 : -1;
}

static int teardown(void **st)
{
	(void)st;
	lk_free(lk);
	return 0;
}

static void reopen(void)
{
	lk_free(lk);
	lk = lk_new(&cfg, on_path, NULL);
	n_paths = 0;
}

/* ---- the rules ------------------------------------------------------------ */

static void test_join_both_ends_one_hop(void **st)
{
	(void)st;
	struct cx a = cx_new(&LG, &NGX, 40000, 80);
	c_req(&a, 1000, 1010, "GET /1", "r1");
	s_req(&a, 1020, 1030, "GET /1", NULL, NULL);
	s_resp(&a, 1500, 1510, 200);
	c_resp(&a, 1400, 1600, 200); /* blocking read entered early, returned late */
	lk_flush(lk);
	assert_int_equal(n_paths, 1);
	assert_int_equal(lk_stats(lk)->joined, 1);
	const char *j = jsons[0];
	assert_non_null(strstr(j, "\"latency_ns\":600,"));   /* 1600 - 1000 */
	assert_non_null(strstr(j, "\"server_ns\":470,"));    /* 1500 - 1030 */
	assert_non_null(strstr(j, "\"outcome\":\"ok\",\"status\":200"));
	assert_non_null(strstr(j, "\"segment\":false"));
	assert_non_null(strstr(j, "\"join\":\"tcp/10.0.0.1:40000>10.0.0.2:80/40000000\""));
	assert_non_null(strstr(j, "\"comm\":\"wrk\""));
	assert_non_null(strstr(j, "\"comm\":\"nginx\""));
}

static void test_chain_three_tiers(void **st)
{
	(void)st;
	struct cx a = cx_new(&LG, &NGX, 40001, 80), b = cx_new(&NGX, &PY, 50001, 8000),
		  c = cx_new(&PY, &RD, 60001, 6379);
	both_req(&a, 100, "GET /k7", "rid7", "rid7");
	both_req(&b, 200, "GET /k7 up", "rid7", "k7");
	both_req(&c, 300, "GET k7", "k7", NULL);
	both_resp(&c, 400, 0);
	both_resp(&b, 500, 200);
	both_resp(&a, 600, 200);
	lk_tick(lk, 600 + cfg.linger_ns + 10);
	assert_int_equal(n_paths, 1);
	assert_string_equal(shapes[0], "GET /k7(GET /k7 up(GET k7))");
	assert_int_equal(lk_stats(lk)->linked_id, 2);
	assert_int_equal(lk_hops_alive(lk), 0);
	/* children time of the root = client-observed latency of nginx's upstream call */
	assert_non_null(strstr(jsons[0], "\"children_ns\":303,"));
}

static void test_fanout(void **st)
{
	(void)st;
	struct cx a = cx_new(&LG, &NGX, 40002, 80), b1 = cx_new(&NGX, &PY, 50002, 8000),
		  b2 = cx_new(&NGX, &PY2, 50003, 8000), b3 = cx_new(&NGX, &PY, 50004, 8000);
	both_req(&a, 100, "GET /f", "x", "fx");
	both_req(&b1, 200, "b1", "fx", NULL);
	both_req(&b2, 210, "b2", "fx", NULL);
	both_req(&b3, 220, "b3", "fx", NULL);
	both_resp(&b2, 300, 200);
	both_resp(&b1, 310, 200);
	both_resp(&b3, 320, 200);
	both_resp(&a, 400, 200);
	lk_flush(lk);
	assert_int_equal(n_paths, 1);
	assert_string_equal(shapes[0], "GET /f(b1,b2,b3)");
	/* parallel children: union of [200,313],[210,303],[220,323] = 123 */
	assert_non_null(strstr(jsons[0], "\"children_ns\":123,"));
}

static void test_concurrent_requests_linked_by_id_not_time(void **st)
{
	(void)st;
	/* Two requests in flight at nginx, served by the same thread (event loop);
	 * the upstream calls go out in the opposite order. */
	struct cx a1 = cx_new(&LG, &NGX, 41001, 80), a2 = cx_new(&LG, &NGX, 41002, 80);
	struct cx u1 = cx_new(&NGX, &PY, 51001, 8000), u2 = cx_new(&NGX, &PY, 51002, 8000);
	both_req(&a1, 100, "A", "idA", "idA");
	both_req(&a2, 110, "B", "idB", "idB");
	both_req(&u2, 200, "B-up", "idB", NULL);
	both_req(&u1, 210, "A-up", "idA", NULL);
	both_resp(&u1, 300, 200);
	both_resp(&u2, 310, 200);
	both_resp(&a2, 400, 200);
	both_resp(&a1, 410, 200);
	lk_flush(lk);
	assert_int_equal(n_paths, 2);
	assert_non_null(find_shape("A(A-up)"));
	assert_non_null(find_shape("B(B-up)"));
	assert_null(strstr(jsons[0], "ambiguous"));
}

static void test_thread_breaks_tie_only(void **st)
{
	(void)st;
	/* Two requests carry the same follow id (a duplicate key) on two threads: the
	 * child's thread breaks the tie, and the output says that is how. */
	struct cx a1 = cx_new(&LG, &PY, 41003, 8000), a2 = cx_new(&LG, &PY, 41004, 8000);
	struct cx r = cx_new(&PY, &RD, 61003, 6379);
	a1.stid = 1001;
	a2.stid = 1002;
	r.ctid = 1001;
	both_req(&a1, 100, "P1", "same", "key");
	both_req(&a2, 110, "P2", "same", "key");
	both_req(&r, 200, "GET key", "key", NULL);
	both_resp(&r, 300, 0);
	both_resp(&a1, 400, 200);
	both_resp(&a2, 410, 200);
	lk_flush(lk);
	const char *j = find_shape("P1(GET key)");
	assert_non_null(j);
	assert_non_null(strstr(j, "by_thread"));
	assert_null(strstr(j, "ambiguous"));
	assert_non_null(find_shape("P2"));
}

static void test_duplicate_id_same_thread_is_ambiguous(void **st)
{
	(void)st;
	struct cx a1 = cx_new(&LG, &NGX, 41005, 80), a2 = cx_new(&LG, &NGX, 41006, 80);
	struct cx u = cx_new(&NGX, &PY, 51005, 8000);
	both_req(&a1, 100, "P1", "dup", "dup");
	both_req(&a2, 110, "P2", "dup", "dup");
	both_req(&u, 200, "child", "dup", NULL);
	both_resp(&u, 300, 200);
	both_resp(&a1, 400, 200);
	both_resp(&a2, 410, 200);
	lk_flush(lk);
	const char *j = find_shape("P2(child)"); /* the most recent */
	assert_non_null(j);
	assert_non_null(strstr(j, "ambiguous"));
	assert_int_equal(lk_stats(lk)->link_ambiguous, 1);
}

static void test_prefers_request_still_served(void **st)
{
	(void)st;
	/* An earlier request with the same id is already answered: the open one wins. */
	struct cx a1 = cx_new(&LG, &NGX, 41007, 80), a2 = cx_new(&LG, &NGX, 41008, 80);
	struct cx u = cx_new(&NGX, &PY, 51007, 8000);
	both_req(&a1, 100, "old", "k", "k");
	both_resp(&a1, 150, 200);
	both_req(&a2, 200, "new", "k", "k");
	both_req(&u, 300, "child", "k", NULL);
	both_resp(&u, 400, 200);
	both_resp(&a2, 500, 200);
	lk_flush(lk);
	assert_non_null(find_shape("new(child)"));
	assert_non_null(find_shape("old"));
}

static void test_no_id_thread_fallback(void **st)
{
	(void)st;
	/* thread-per-request server, no ids: the only request on the thread */
	struct cx a = cx_new(&LG, &PY, 41009, 8000), r = cx_new(&PY, &RD, 61009, 6379);
	a.stid = r.ctid = 777;
	both_req(&a, 100, "P", NULL, NULL);
	both_req(&r, 200, "GET x", NULL, NULL);
	both_resp(&r, 300, 0);
	both_resp(&a, 400, 200);
	lk_flush(lk);
	const char *j = find_shape("P(GET x)");
	assert_non_null(j);
	assert_non_null(strstr(j, "by_thread"));
	assert_int_equal(lk_stats(lk)->linked_thread, 1);

	/* event loop: two requests open on the thread, so no guess */
	reopen();
	struct cx b1 = cx_new(&LG, &NGX, 41010, 80), b2 = cx_new(&LG, &NGX, 41011, 80);
	struct cx u = cx_new(&NGX, &PY, 51010, 8000);
	both_req(&b1, 100, "Q1", NULL, NULL);
	both_req(&b2, 110, "Q2", NULL, NULL);
	both_req(&u, 200, "up", NULL, NULL);
	both_resp(&u, 300, 200);
	both_resp(&b1, 400, 200);
	both_resp(&b2, 410, 200);
	lk_flush(lk);
	assert_int_equal(n_paths, 3);
	assert_non_null(find_shape("up"));

	/* and off when configured off */
	cfg.link_by_thread = false;
	reopen();
	struct cx c = cx_new(&LG, &PY, 41012, 8000), d = cx_new(&PY, &RD, 61012, 6379);
	both_req(&c, 100, "P", NULL, NULL);
	both_req(&d, 200, "GET y", NULL, NULL);
	both_resp(&d, 300, 0);
	both_resp(&c, 400, 200);
	lk_flush(lk);
	assert_int_equal(n_paths, 2);
}

static void test_window(void **st)
{
	(void)st;
	struct cx a = cx_new(&LG, &NGX, 41013, 80), u = cx_new(&NGX, &PY, 51013, 8000);
	both_req(&a, 100, "P", "w", "w");
	both_req(&u, 100 + cfg.window_ns + 10, "late child", "w", NULL);
	lk_flush(lk);
	assert_non_null(find_shape("P"));
	assert_non_null(find_shape("late child"));
	assert_int_equal(lk_stats(lk)->link_none, 2); /* P's own Link_ID found nothing either */
}

static void test_fanout_cap(void **st)
{
	(void)st;
	cfg.max_fanout = 2;
	reopen();
	struct cx a = cx_new(&LG, &NGX, 41014, 80);
	struct cx u[3] = { cx_new(&NGX, &PY, 51014, 8000), cx_new(&NGX, &PY, 51015, 8000),
			   cx_new(&NGX, &PY, 51016, 8000) };
	both_req(&a, 100, "P", "c", "c");
	for (int i = 0; i < 3; i++) {
		char l[8];
		snprintf(l, sizeof(l), "c%d", i);
		both_req(&u[i], 200 + (uint64_t)i * 10, l, "c", NULL);
		both_resp(&u[i], 300 + (uint64_t)i * 10, 200);
	}
	both_resp(&a, 400, 200);
	lk_flush(lk);
	const char *j = find_shape("P(c0,c1)");
	assert_non_null(j);
	assert_non_null(strstr(j, "fanout_cap"));
	assert_non_null(find_shape("c2"));
	assert_int_equal(lk_stats(lk)->fanout_capped, 1);
}

static void test_timeout(void **st)
{
	(void)st;
	struct cx a = cx_new(&LG, &NGX, 41015, 80), u = cx_new(&NGX, &PY, 51017, 8000);
	both_req(&a, 100, "P", "t", "t");
	both_req(&u, 200, "stuck", "t", NULL);
	/* nginx gives up first (504); the upstream never answers */
	both_resp(&a, 300, 504);
	lk_tick(lk, 310 + cfg.linger_ns);
	assert_int_equal(n_paths, 0); /* a hop in the tree is still open */
	lk_tick(lk, 200 + cfg.timeout_ns + 10);              /* times out */
	lk_tick(lk, 200 + cfg.timeout_ns + cfg.linger_ns + 20); /* lingers, emits */
	assert_int_equal(n_paths, 1);
	assert_string_equal(shapes[0], "P(stuck)");
	assert_non_null(strstr(jsons[0], "\"outcome\":\"timeout\""));
	assert_non_null(strstr(jsons[0], "\"outcome\":\"error\",\"status\":504"));
	assert_int_equal(lk_match_stats(lk)->timeouts, 2); /* both ends of the stuck hop */
}

static void test_late_response_does_not_shift_fifo(void **st)
{
	(void)st;
	struct cx a = cx_new(&LG, &RD, 41016, 6379);
	both_req(&a, 100, "GET slow", NULL, NULL);
	lk_tick(lk, 100 + cfg.timeout_ns + 10);
	both_req(&a, 200 + cfg.timeout_ns, "GET fast", NULL, NULL);
	both_resp(&a, 300 + cfg.timeout_ns, 0); /* late answer to "slow" */
	both_resp(&a, 400 + cfg.timeout_ns, 0); /* answer to "fast" */
	lk_flush(lk);
	assert_int_equal(n_paths, 2);
	assert_non_null(strstr(find_shape("GET slow"), "\"outcome\":\"timeout\""));
	const char *f = find_shape("GET fast");
	assert_non_null(strstr(f, "\"latency_ns\":203,")); /* 403 - 200, not the late one */
	assert_int_equal(lk_stats(lk)->responses_late, 2);
}

static void test_close_ends_waiting(void **st)
{
	(void)st;
	struct cx a = cx_new(&LG, &NGX, 41017, 80);
	both_req(&a, 100, "P", NULL, NULL);
	lk_conn_closed(lk, a.sconn, 200);
	lk_conn_closed(lk, a.cconn, 210);
	lk_tick(lk, 300 + cfg.linger_ns);
	assert_int_equal(n_paths, 1);
	assert_non_null(strstr(jsons[0], "\"outcome\":\"closed\""));
	assert_non_null(strstr(jsons[0], "\"closed\""));
}

static void test_pipelined_fifo_flagged(void **st)
{
	(void)st;
	struct cx a = cx_new(&LG, &RD, 41018, 6379);
	c_req(&a, 100, 101, "GET a", NULL);
	c_req(&a, 102, 103, "GET b", NULL);
	s_req(&a, 104, 105, "GET a", NULL, NULL);
	s_req(&a, 106, 107, "GET b", NULL, NULL);
	both_resp(&a, 200, 0);
	both_resp(&a, 210, 0);
	lk_flush(lk);
	assert_int_equal(n_paths, 2);
	assert_non_null(strstr(find_shape("GET a"), "ambiguous"));
	assert_non_null(strstr(find_shape("GET b"), "ambiguous"));
	/* but each request is still one hop seen from both ends */
	assert_int_equal(lk_stats(lk)->joined, 2);
}

static void test_udp_dns_by_content_and_txid(void **st)
{
	(void)st;
	struct cx d = cx_new(&LG, &NGX, 53001, 53);
	d.proto = IPPROTO_UDP;
	struct lk_msg q = base(&d, 1, LK_SEND, LK_ROLE_REQUEST, 100, 101, 40, 0);
	q.content_hash = 0xabc;
	q.query_id = 0x1234;
	snprintf(q.label, sizeof(q.label), "A www.test.");
	memset(q.tuple.laddr, 0, 16); /* unconnected UDP: wildcard local address */
	lk_add(lk, &q);
	struct lk_msg sq = base(&d, 0, LK_RECV, LK_ROLE_REQUEST, 102, 103, 40, 0);
	sq.content_hash = 0xabc;
	sq.query_id = 0x1234;
	lk_add(lk, &sq);
	struct lk_msg sr = base(&d, 0, LK_SEND, LK_ROLE_RESPONSE, 110, 111, 56, 0);
	sr.response_id = 0x1234;
	sr.status = 0;
	sr.outcome = LK_OUTCOME_OK;
	lk_add(lk, &sr);
	struct lk_msg cr = sr;
	cr = base(&d, 1, LK_RECV, LK_ROLE_RESPONSE, 105, 112, 56, 0);
	cr.response_id = 0x1234;
	cr.outcome = LK_OUTCOME_OK;
	lk_add(lk, &cr);
	lk_flush(lk);
	assert_int_equal(n_paths, 1);
	assert_int_equal(lk_stats(lk)->joined, 1);
	assert_non_null(strstr(jsons[0], "\"join\":\"udp/:53001>:53/"));
	assert_non_null(strstr(jsons[0], "\"latency_ns\":12,"));
}

static void test_server_reported_first(void **st)
{
	(void)st;
	/* The upstream's receive is reported before nginx's send (ring buffer order
	 * across CPUs): the hop still joins and still finds its parent. */
	struct cx a = cx_new(&LG, &NGX, 41019, 80), u = cx_new(&NGX, &PY, 51019, 8000);
	both_req(&a, 100, "P", "o", "o");
	s_req(&u, 202, 203, "child", NULL, NULL);
	c_req(&u, 200, 201, "child", "o");
	both_resp(&u, 300, 200);
	both_resp(&a, 400, 200);
	lk_flush(lk);
	assert_int_equal(n_paths, 1);
	assert_string_equal(shapes[0], "P(child)");
}

static void test_late_starting_observer(void **st)
{
	(void)st;
	/* Connection already open: the first thing seen is a response. */
	struct cx a = cx_new(&LG, &NGX, 41020, 80);
	a.s2c_r += 50;
	a.s2c_s += 50;
	struct cx old = a;
	old.s2c_r -= 50;
	old.s2c_s -= 50;
	both_resp(&old, 50, 200);
	both_req(&a, 100, "first seen", NULL, NULL);
	both_resp(&a, 200, 200);
	lk_flush(lk);
	assert_int_equal(n_paths, 1);
	assert_int_equal(lk_stats(lk)->responses_unmatched, 2);
	assert_non_null(strstr(jsons[0], "\"outcome\":\"ok\""));
}

static void test_segment_when_other_end_unwatched(void **st)
{
	(void)st;
	/* Only the server end is watched here: a segment, with the key another
	 * observer (watching the client) computes for the same hop. */
	struct cx a = cx_new(&LG, &NGX, 41021, 80);
	s_req(&a, 100, 101, "GET /seg", NULL, NULL);
	s_resp(&a, 200, 201, 200);
	lk_flush(lk);
	assert_int_equal(n_paths, 1);
	assert_non_null(strstr(jsons[0], "\"segment\":true"));
	assert_non_null(strstr(jsons[0], "\"client\":{\"seen\":false,\"addr\":\"10.0.0.1:41021\"}"));
	assert_non_null(strstr(jsons[0], "\"join\":\"tcp/10.0.0.1:41021>10.0.0.2:80/41021000\""));
}

static void test_hop_cap_evicts_oldest(void **st)
{
	(void)st;
	cfg.max_hops = 4;
	reopen();
	struct cx a[6];
	for (int i = 0; i < 6; i++) {
		a[i] = cx_new(&LG, &NGX, (uint16_t)(42000 + i), 80);
		both_req(&a[i], 100 + (uint64_t)i * 10, "x", NULL, NULL);
	}
	assert_true(lk_hops_alive(lk) <= 4);
	assert_int_equal(lk_stats(lk)->hops_evicted, 2);
	assert_int_equal(n_paths, 2);
	assert_non_null(strstr(jsons[0], "evicted"));
	/* their late responses find tombstones, not the wrong request */
	both_resp(&a[0], 500, 200);
	lk_flush(lk);
	assert_int_equal(n_paths, 6);
}

static void test_depth_cap(void **st)
{
	(void)st;
	/* a chain through 40 nodes: cut at LK_MAX_DEPTH hops, and said so */
	enum { N = 40 };
	static struct node nodes[N + 1];
	struct cx c[N];
	for (int i = 0; i <= N; i++)
		nodes[i] = (struct node){ (uint32_t)(1000 + i), (uint32_t)(5000 + i), "n", (uint8_t)(i + 1) };
	for (int i = 0; i < N; i++) {
		c[i] = cx_new(&nodes[i], &nodes[i + 1], (uint16_t)(20000 + i), 80);
		both_req(&c[i], 100 + (uint64_t)i * 10, "x", "chain", "chain");
	}
	for (int i = N - 1; i >= 0; i--)
		both_resp(&c[i], 1000 + (uint64_t)(N - i) * 10, 200);
	lk_flush(lk);
	assert_int_equal(lk_stats(lk)->depth_capped, 1);
	assert_int_equal(n_paths, 2);
	assert_non_null(strstr(jsons[0], "depth_cap"));
	assert_int_equal(lk_hops_alive(lk), 0);
}

static void test_tree_view(void **st)
{
	(void)st;
	cfg.timeout_ns = 1000000000;
	cfg.window_ns = 1000000000;
	reopen();
	struct cx a = cx_new(&LG, &NGX, 41022, 80), b = cx_new(&NGX, &PY, 51022, 8000);
	both_req(&a, 1000000, "GET /t", "t", "t");
	both_req(&b, 2000000, "GET /t up", "t", NULL);
	both_resp(&b, 3000000, 200);
	both_resp(&a, 4000000, 503);
	char buf[4096] = "";
	tree_out = fmemopen(buf, sizeof(buf), "w");
	lk_flush(lk);
	fclose(tree_out);
	tree_out = NULL;
	assert_non_null(strstr(buf, "path "));
	assert_non_null(strstr(buf, "(2 hops)"));
	assert_non_null(strstr(buf, "wrk[10]@100 -> nginx[20]@200  http GET /t  3.00ms"));
	assert_non_null(strstr(buf, "error 503"));
	assert_non_null(strstr(buf, "`- nginx[20]@200 -> python3[30]@300  http GET /t up"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(x) cmocka_unit_test_setup_teardown(x, setup, teardown)
		T(test_join_both_ends_one_hop),
		T(test_chain_three_tiers),
		T(test_fanout),
		T(test_concurrent_requests_linked_by_id_not_time),
		T(test_thread_breaks_tie_only),
		T(test_duplicate_id_same_thread_is_ambiguous),
		T(test_prefers_request_still_served),
		T(test_no_id_thread_fallback),
		T(test_window),
		T(test_fanout_cap),
		T(test_timeout),
		T(test_late_response_does_not_shift_fifo),
		T(test_close_ends_waiting),
		T(test_pipelined_fifo_flagged),
		T(test_udp_dns_by_content_and_txid),
		T(test_server_reported_first),
		T(test_late_starting_observer),
		T(test_segment_when_other_end_unwatched),
		T(test_hop_cap_evicts_oldest),
		T(test_depth_cap),
		T(test_tree_view),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
