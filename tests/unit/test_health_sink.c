/* The health stage's attribution (user/health_sink.c): which component a request
 * path's evidence is about.  Paths are built by hand, shaped as the linker emits them
 * for the real cases they come from (a DNS resolver retrying a dead upstream, a proxy
 * dropping an upstream request because its client left), and the reports the stage
 * prints are read back. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "health_sink.h"

#define MS 1000000ull
#define SEC 1000000000ull
#define T0 (100 * SEC) /* after the warm-up */

enum { NS_FWD = 11, NS_RES = 12, NS_AUTH = 13 };

struct fixture {
	struct names *names;
	struct health_sink *hs;
	char *out;
	size_t outlen;
	FILE *f;
};

static struct fixture fx;

/* Advances the stage's event time as a message event would. */
static void event_at(uint64_t t)
{
	struct insitu_msg_event ev = {0};
	struct obs_sink *s = health_sink_obs(fx.hs);
	ev.t_enter_ns = ev.t_exit_ns = t;
	s->on_msg(s->ctx, &ev, NULL, NULL);
	s->flush(s->ctx);
}

static int setup(void **st)
{
	(void)st;
	struct health_cfg c;
	health_cfg_defaults(&c);
	memset(&fx, 0, sizeof(fx));
	fx.names = names_new();
	fx.f = open_memstream(&fx.out, &fx.outlen);
	fx.hs = health_sink_new(fx.names, &c, NULL, fx.f, false);
	if (!fx.names || !fx.f || !fx.hs)
		return -1;
	event_at(T0 - 10 * SEC); /* the warm-up is over by T0 */
	return 0;
}

static int teardown(void **st)
{
	(void)st;
	health_sink_free(fx.hs);
	names_free(fx.names);
	fclose(fx.f);
	free(fx.out);
	return 0;
}

static void ip4(uint8_t a[16], uint8_t last)
{
	memset(a, 0, 16);
	a[10] = a[11] = 0xff;
	a[12] = 10;
	a[15] = last;
}

static void side(struct lk_side *s, uint32_t netns, uint32_t pid, const char *comm)
{
	s->state = LK_SIDE_DONE;
	s->netns = netns;
	s->pid = s->tid = pid;
	snprintf(s->comm, sizeof(s->comm), "%s", comm);
}

static void add_child(struct lk_hop *p, struct lk_hop *c)
{
	c->parent = p;
	if (p->last_child)
		p->last_child->next_sibling = c;
	else
		p->first_child = c;
	p->last_child = c;
	p->n_children++;
}

/* dnsmasq -> unbound, both sides seen. */
static void fwd_hop(struct lk_hop *h, uint64_t start)
{
	memset(h, 0, sizeof(*h));
	ip4(h->caddr, 2);
	ip4(h->saddr, 3);
	h->cport = 40000;
	h->sport = 53;
	side(&h->side[LK_CLIENT], NS_FWD, 20, "dnsmasq");
	side(&h->side[LK_SERVER], NS_RES, 30, "unbound");
	h->side[LK_CLIENT].t_req_start = start;
	h->side[LK_SERVER].t_req_end = start + 100000;
}

/* unbound -> the authoritative server, seen from unbound only (it is dead). */
static void up_hop(struct lk_hop *h, uint64_t start, uint64_t gave_up, uint16_t flag)
{
	memset(h, 0, sizeof(*h));
	ip4(h->caddr, 3);
	ip4(h->saddr, 4);
	h->cport = 50000;
	h->sport = 53;
	side(&h->side[LK_CLIENT], NS_RES, 30, "unbound");
	h->side[LK_CLIENT].t_req_start = start;
	h->side[LK_CLIENT].t_gave_up = gave_up;
	h->side[LK_CLIENT].flags = flag;
}

/* The newest report's metric of observer -> subject ("" when absent). */
static const char *metric_of(const char *obs, const char *subj, const char *metric, char *buf,
			     size_t n)
{
	char key[256], m[64];
	const char *p = fx.out, *hit = NULL;

	fflush(fx.f);
	snprintf(key, sizeof(key), "\"observer\":\"%s\",\"subject\":\"%s\"", obs, subj);
	while (p && (p = strstr(p, key))) {
		hit = p;
		p++;
	}
	buf[0] = '\0';
	if (!hit)
		return buf;
	const char *eol = strchr(hit, '\n');
	snprintf(m, sizeof(m), "{\"name\":\"%s\",\"status\":\"", metric);
	const char *q = strstr(hit, m);
	if (!q || (eol && q > eol))
		return buf;
	q += strlen(m);
	size_t k = strcspn(q, "\"");
	snprintf(buf, n, "%.*s", (int)(k < n ? k : n - 1), q);
	return buf;
}

/* named is dead; unbound retries it (each attempt closed when the next is sent)
 * until dnsmasq's request ends unanswered (here dnsmasq gives up after 1.2 s).  The
 * waiting is the dead server's, not unbound's. */
static void build_dead_upstream(struct lk_hop *parent, struct lk_hop kids[4], uint64_t g)
{
	fwd_hop(parent, T0);
	parent->side[LK_CLIENT].flags = LK_F_CLOSED;
	parent->side[LK_CLIENT].t_gave_up = T0 + g;
	parent->side[LK_SERVER].flags = LK_F_CLOSED;
	parent->side[LK_SERVER].t_gave_up = T0 + g;
	up_hop(&kids[0], T0 + 1 * MS, T0 + g / 4, LK_F_CLOSED);
	up_hop(&kids[1], T0 + g / 4, T0 + g / 2, LK_F_CLOSED);
	up_hop(&kids[2], T0 + g / 2, T0 + g * 3 / 4, LK_F_CLOSED);
	/* the last attempt is given up with its parent: abandoned, nobody's failure */
	up_hop(&kids[3], T0 + g * 3 / 4, T0 + g, LK_F_CLOSED);
	for (int i = 0; i < 4; i++)
		add_child(parent, &kids[i]);
}

static void test_resolver_retrying_dead_upstream(void **st)
{
	(void)st;
	struct lk_hop parent, kids[4];
	char b[32];
	const char *fwd, *res;

	event_at(T0);
	build_dead_upstream(&parent, kids, 1200 * MS);
	event_at(T0 + 1400 * MS);
	health_sink_path(&parent, fx.hs);
	health_sink_finish(fx.hs);

	fwd = names_node(fx.names, NS_FWD, 20, "dnsmasq", 0);
	res = names_node(fx.names, NS_RES, 30, "unbound", 0);
	assert_string_equal(metric_of(fwd, res, "timeouts", b, sizeof(b)), "HEALTHY");
	assert_string_equal(metric_of(fwd, res, "errors", b, sizeof(b)), "HEALTHY");
	/* no latency: an unanswered request has none of its own */
	assert_string_equal(metric_of(fwd, res, "latency", b, sizeof(b)), "");
	/* the dead server takes the blame: 3 of 3 judged attempts failed */
	assert_string_equal(metric_of(res, "10.0.0.4:53", "errors", b, sizeof(b)), "UNHEALTHY");
	assert_int_equal(health_sink_stats(fx.hs)->hops_skipped, 1);
}

/* The same path delivered 5 s after it began (the linker waited for its timeout):
 * its parts' windows are long closed and the fault may be over; nothing of it is
 * dated into the windows of now.  (While it lasted, the waiting requests and the
 * refused datagrams were the evidence.) */
static void test_late_path_not_judged(void **st)
{
	(void)st;
	struct lk_hop parent, kids[4];

	event_at(T0);
	build_dead_upstream(&parent, kids, 5 * SEC);
	event_at(T0 + 5200 * MS);
	health_sink_path(&parent, fx.hs);
	health_sink_finish(fx.hs);
	/* only dnsmasq's request, which ended just now (and not by unbound's fault) */
	assert_int_equal(health_sink_stats(fx.hs)->hops, 1);
	assert_int_equal(health_sink_stats(fx.hs)->late, 3); /* the 3 failed retries */
	assert_int_equal(health_sink_stats(fx.hs)->hops_skipped, 1);
}

/* A proxy whose client went away drops the upstream request at the same moment:
 * neither the upstream nor (here) anybody else is to blame for the upstream hop. */
static void test_abandoned_with_caller(void **st)
{
	(void)st;
	struct lk_hop parent, kid;

	event_at(T0);
	fwd_hop(&parent, T0);
	parent.side[LK_CLIENT].flags = LK_F_CLOSED;
	parent.side[LK_CLIENT].t_gave_up = T0 + 4 * SEC;
	parent.side[LK_SERVER].flags = LK_F_CLOSED;
	parent.side[LK_SERVER].t_gave_up = T0 + 4 * SEC + 2 * MS;
	/* closed 1 ms before the caller's own side was (nginx closes upstream first) */
	up_hop(&kid, T0 + 1 * MS, T0 + 4 * SEC - 1 * MS, LK_F_CLOSED);
	add_child(&parent, &kid);
	event_at(T0 + 4 * SEC);
	health_sink_path(&parent, fx.hs);
	health_sink_finish(fx.hs);
	assert_int_equal(health_sink_stats(fx.hs)->hops_skipped, 1);
	assert_int_equal(health_sink_stats(fx.hs)->hops, 1);
}

/* A slow upstream answered after one retry: the resolver's own latency is what is
 * left after both attempts (the closed first one included) are subtracted. */
static void test_retry_time_is_the_childrens(void **st)
{
	(void)st;
	struct lk_hop parent, kids[2];
	char b[32];
	const char *fwd, *res;

	event_at(T0);
	/* three healthy windows teach a ~1 ms baseline, then the slow one */
	for (int w = 0; w < 5; w++) {
		uint64_t t = T0 + (uint64_t)w * SEC;
		fwd_hop(&parent, t);
		parent.side[LK_CLIENT].t_resp_end = t + (w < 4 ? 1 * MS : 700 * MS);
		parent.side[LK_SERVER].t_resp_start = parent.side[LK_CLIENT].t_resp_end - 100000;
		if (w == 4) {
			/* named did answer the first attempt, 300 ms late, to a socket
			 * unbound had already closed: the wait is still unbound's
			 * 376 ms, not named's own 0.1 ms */
			up_hop(&kids[0], t + 1 * MS, t + 377 * MS, LK_F_CLOSED);
			side(&kids[0].side[LK_SERVER], NS_AUTH, 40, "named");
			kids[0].side[LK_SERVER].t_req_start = t + 2 * MS;
			kids[0].side[LK_SERVER].t_req_end = t + 2 * MS;
			kids[0].side[LK_SERVER].t_resp_start = t + 2 * MS + 100000;
			kids[0].side[LK_SERVER].t_resp_end = t + 2 * MS + 100000;
			up_hop(&kids[1], t + 377 * MS, 0, 0);
			kids[1].side[LK_CLIENT].t_resp_end = t + 699 * MS;
			add_child(&parent, &kids[0]);
			add_child(&parent, &kids[1]);
		}
		event_at(parent.side[LK_CLIENT].t_resp_end);
		health_sink_path(&parent, fx.hs);
	}
	health_sink_finish(fx.hs);
	fwd = names_node(fx.names, NS_FWD, 20, "dnsmasq", 0);
	res = names_node(fx.names, NS_RES, 30, "unbound", 0);
	assert_string_equal(metric_of(fwd, res, "latency", b, sizeof(b)), "HEALTHY");
	assert_string_equal(metric_of(fwd, res, "errors", b, sizeof(b)), "HEALTHY");
	/* the first attempt was answered before unbound gave up on it: in flight, not
	 * named's failure (nor its latency: the attempt that got through has that) */
	assert_string_equal(metric_of(res, "10.0.0.4:53", "errors", b, sizeof(b)), "HEALTHY");
	assert_int_equal(health_sink_stats(fx.hs)->hops_skipped, 1);
}

/* unbound hangs; dig gives up after 2 s; dnsmasq's request to unbound is answered
 * once unbound resumes, and dnsmasq answers dig's closed socket: dig's failure is
 * unbound's doing, not dnsmasq's. */
static void test_caller_left_while_child_pending(void **st)
{
	(void)st;
	struct lk_hop root, kid;
	char b[32];

	event_at(T0);
	memset(&root, 0, sizeof(root));
	ip4(root.caddr, 31);
	ip4(root.saddr, 2);
	root.sport = 53;
	side(&root.side[LK_CLIENT], 21, 50, "dig");
	side(&root.side[LK_SERVER], NS_FWD, 20, "dnsmasq");
	root.side[LK_CLIENT].flags = LK_F_CLOSED;
	root.side[LK_CLIENT].t_req_start = T0;
	root.side[LK_CLIENT].t_gave_up = T0 + 2 * SEC;
	root.side[LK_SERVER].t_req_end = T0 + 1 * MS;
	root.side[LK_SERVER].t_resp_start = T0 + 3700 * MS;
	root.side[LK_SERVER].t_resp_end = T0 + 3700 * MS;
	fwd_hop(&kid, T0 + 1 * MS);
	kid.side[LK_CLIENT].t_resp_end = T0 + 3699 * MS;
	kid.side[LK_SERVER].t_resp_start = T0 + 3698 * MS;
	add_child(&root, &kid);
	event_at(T0 + 3700 * MS);
	health_sink_path(&root, fx.hs);
	health_sink_finish(fx.hs);
	assert_string_equal(metric_of(names_node(fx.names, 21, 50, "dig", 0),
				      names_node(fx.names, NS_FWD, 20, "dnsmasq", 0), "errors", b, sizeof(b)),
			    "HEALTHY");
}

/* Connected UDP socket, ICMP port unreachable: recvfrom fails with ECONNREFUSED. */
static void test_udp_refused_is_dead(void **st)
{
	(void)st;
	struct insitu_msg_event ev = {0};
	struct obs_sink *s = health_sink_obs(fx.hs);
	char b[32];

	event_at(T0);
	ev.t_enter_ns = ev.t_exit_ns = T0 + 1 * MS;
	ev.pid = ev.tid = 30;
	ev.netns = NS_RES;
	snprintf(ev.comm, sizeof(ev.comm), "unbound");
	ev.ret = -ECONNREFUSED;
	ev.flags = INSITU_F_ERROR;
	ev.dir = INSITU_DIR_RECV;
	ev.t.family = AF_INET;
	ev.t.proto = 17;
	ev.t.raddr[0] = 10;
	ev.t.raddr[3] = 4;
	ev.t.rport = 53;
	s->on_msg(s->ctx, &ev, NULL, NULL);
	/* a TCP socket's failed read is not a refused connection */
	ev.t.proto = 6;
	s->on_msg(s->ctx, &ev, NULL, NULL);
	health_sink_finish(fx.hs);
	assert_string_equal(metric_of(names_node(fx.names, NS_RES, 30, "unbound", 0), "10.0.0.4:53",
				      "connect", b, sizeof(b)),
			    "DEAD");
	assert_int_equal(health_sink_stats(fx.hs)->udp_refused, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_resolver_retrying_dead_upstream, setup, teardown),
		cmocka_unit_test_setup_teardown(test_late_path_not_judged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abandoned_with_caller, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retry_time_is_the_childrens, setup, teardown),
		cmocka_unit_test_setup_teardown(test_caller_left_while_child_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(test_udp_refused_is_dead, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
