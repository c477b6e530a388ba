/* Extraction: every id source kind, truncation, outcomes, the DNS plugin; and the
 * kernel rule compiler: for every message of every captured fixture, the kernel
 * interpreter's C reference gives the same ids as user space. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "extract_kernel.h"
#include "semantics.h"
#include "sem_test_load.h"

static const char *id(const struct sem_id *i)
{
	static char buf[4][2 * SEM_ID_MAX + 1];
	static int k;
	k = (k + 1) % 4;
	sem_id_format(i, buf[k], sizeof(buf[k]));
	return buf[k];
}

#define MSG(sig, ids, extra) \
	"{\"name\":\"t\",\"transport\":\"tcp\",\"ports\":[1],\"framing\":{\"kind\":\"line\"},\"messages\":[" \
	"{\"name\":\"m\",\"role\":\"request\",\"signature\":" sig ",\"ids\":" ids extra "}]}"

static void test_sources(void **state)
{
	(void)state;
	struct sem_set *s = load(MSG("{\"direction\":\"to_server\",\"prefix\":\"GET \"}",
				     "{\"link_id\":{\"after\":\"GET \",\"until\":\" \"},"
				     "\"query_id\":{\"header\":\"x-request-id\"},"
				     "\"response_id\":{\"concat\":[{\"offset\":0,\"length\":3},{\"regex\":\"v=([0-9]+)\"}],\"separator\":\"#\"},"
				     "\"follow_ids\":[{\"same_as\":\"link_id\"},{\"offset\":4,\"length\":2,\"mask\":\"ff0f\"},"
				     "{\"cstring\":30},{\"none\":true}]}",
				     ",\"label\":{\"regex\":\"^([A-Z]+)\"}"));
	const char m[] = "GET /p?v=42 HTTP/1.1\r\nX-Request-ID:  abc \r\n\0tail";
	struct sem_result r;
	sem_extract(sem_protocol_at(s, 0), SEM_TO_SERVER, (const uint8_t *)m, sizeof(m) - 1, sizeof(m) - 1, &r);
	assert_int_equal(r.type, 0);
	assert_string_equal(r.type_name, "m");
	assert_int_equal(r.role, SEM_ROLE_REQUEST);
	assert_string_equal(id(&r.link), "/p?v=42");
	assert_string_equal(id(&r.query), "abc");
	assert_string_equal(id(&r.response), "GET#42");
	assert_int_equal(r.n_follow, 3); /* "none" yields nothing */
	assert_string_equal(id(&r.follow[0]), "/p?v=42");
	assert_string_equal(id(&r.follow[1]), "2f00"); /* "/p" & ff0f = 2f 00, not printable */
	assert_string_equal(id(&r.follow[2]), "742d49443a2020616263200d0a"); /* "t-ID:  abc \r\n" up to the NUL */
	assert_string_equal(r.label, "GET");
	assert_int_equal(r.flags, 0);
	/* other direction: nothing matches */
	sem_extract(sem_protocol_at(s, 0), SEM_FROM_SERVER, (const uint8_t *)m, sizeof(m) - 1, sizeof(m) - 1, &r);
	assert_int_equal(r.type, -1);
	assert_true(r.flags & SEM_R_UNMATCHED);
	sem_free(s);
}

static void test_truncation(void **state)
{
	(void)state;
	struct sem_set *s = load(MSG("{\"direction\":\"to_server\"}",
				     "{\"link_id\":{\"after\":\"id=\"},\"query_id\":{\"offset\":100,\"length\":4}}", ""));
	const uint8_t m[] = "xx id=abcd";
	struct sem_result r;
	/* the token runs to the end of what was captured, and the message is longer:
	 * the id may continue, so it is not reported */
	sem_extract(sem_protocol_at(s, 0), SEM_TO_SERVER, m, 10, 500, &r);
	assert_int_equal(r.link.len, 0);
	assert_true(r.flags & SEM_R_TRUNCATED);
	/* the whole message was captured: the token ends with it */
	sem_extract(sem_protocol_at(s, 0), SEM_TO_SERVER, m, 10, 10, &r);
	assert_string_equal(id(&r.link), "abcd");
	assert_int_equal(r.query.len, 0);
	assert_false(r.flags & SEM_R_TRUNCATED); /* offset 100 is beyond the message itself */
	sem_free(s);
}

static void test_outcomes(void **state)
{
	(void)state;
	const char *js =
		"{\"name\":\"t\",\"transport\":\"tcp\",\"ports\":[1],\"framing\":{\"kind\":\"http1\"},\"messages\":["
		"{\"name\":\"r\",\"role\":\"response\",\"signature\":{\"direction\":\"from_server\",\"prefix\":\"HTTP/\"},"
		"\"outcome\":{\"value\":{\"offset\":9,\"length\":3},\"numeric\":true,\"rules\":["
		"{\"range\":[500,599],\"status\":\"unhealthy\",\"score\":0},{\"equals\":404,\"status\":\"healthy\",\"score\":90}],"
		"\"default\":{\"status\":\"healthy\",\"score\":100}}},"
		"{\"name\":\"z\",\"role\":\"response\",\"signature\":{\"direction\":\"from_server\",\"prefix\":\"Z\"},"
		"\"outcome\":{\"value\":{\"offset\":1,\"length\":4},\"numeric\":true,\"rules\":["
		"{\"range\":[-99,-1],\"status\":\"dying\",\"score\":5}]}}]}";
	struct sem_set *s = load(js);
	const struct sem_protocol *p = sem_protocol_at(s, 0);
	struct sem_result r;
	const char *a = "HTTP/1.1 503 Service Unavailable\r\n\r\n";
	sem_extract(p, SEM_FROM_SERVER, (const uint8_t *)a, strlen(a), strlen(a), &r);
	assert_true(r.has_outcome);
	assert_int_equal(r.status, SEM_ST_UNHEALTHY);
	assert_int_equal(r.code, 503);
	const char *b = "HTTP/1.1 404 Not Found\r\n\r\n";
	sem_extract(p, SEM_FROM_SERVER, (const uint8_t *)b, strlen(b), strlen(b), &r);
	assert_int_equal(r.status, SEM_ST_HEALTHY);
	assert_true(r.score == 90);
	const char *c = "HTTP/1.1 200 OK\r\n\r\n";
	sem_extract(p, SEM_FROM_SERVER, (const uint8_t *)c, strlen(c), strlen(c), &r);
	assert_true(r.score == 100);
	/* a 4-byte binary value is signed; no rule and no default: no outcome */
	const uint8_t z[] = { 'Z', 0xff, 0xff, 0xff, 0xfc };
	sem_extract(p, SEM_FROM_SERVER, z, 5, 5, &r);
	assert_int_equal(r.code, -4);
	assert_int_equal(r.status, SEM_ST_DYING);
	const uint8_t z2[] = { 'Z', 0, 0, 0, 0 };
	sem_extract(p, SEM_FROM_SERVER, z2, 5, 5, &r);
	assert_false(r.has_outcome);
	sem_free(s);
}

static void test_dns_plugin(void **state)
{
	(void)state;
	/* a query for WwW.TeSt/A and a response whose question uses no compression,
	 * then an answer-only name via a compression pointer */
	const uint8_t q[] = { 0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 3, 'W', 'w', 'W', 4, 'T', 'e', 'S', 't', 0,
			      0, 1, 0, 1 };
	const char *js = "{\"name\":\"d\",\"transport\":\"udp\",\"ports\":[53],\"framing\":{\"kind\":\"datagram\"},\"messages\":["
			 "{\"name\":\"q\",\"role\":\"request\",\"signature\":{\"direction\":\"to_server\"},"
			 "\"ids\":{\"link_id\":{\"function\":\"dns_question\",\"plugin\":\"insitu-dns.so\"},"
			 "\"query_id\":{\"offset\":0,\"length\":2}}}]}";
	struct sem_set *s = load(js);
	struct sem_result r;
	sem_extract(sem_protocol_at(s, 0), SEM_TO_SERVER, q, sizeof(q), sizeof(q), &r);
	assert_string_equal(id(&r.link), "www.test. A");
	assert_string_equal(id(&r.query), "1234");
	/* cut in the middle of the name, longer on the wire: truncated, no id */
	sem_extract(sem_protocol_at(s, 0), SEM_TO_SERVER, q, 16, sizeof(q), &r);
	assert_int_equal(r.link.len, 0);
	assert_true(r.flags & SEM_R_TRUNCATED);
	/* a compression loop is refused, not followed forever */
	uint8_t loop[] = { 0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1 };
	sem_extract(sem_protocol_at(s, 0), SEM_TO_SERVER, loop, sizeof(loop), sizeof(loop), &r);
	assert_int_equal(r.link.len, 0);
	sem_free(s);
}

/* ---- kernel rules vs user space on every captured message ---------------------- */

struct cmp {
	const struct sem_protocol *p;
	const struct xk_table *t;
	enum sem_dir dir;
	int compared, with_ids, bad, complete;
	const char *name;
};

static bool id_eq(const struct sem_id *a, const struct sem_id *b)
{
	return a->len == b->len && !memcmp(a->b, b->b, a->len);
}

static void cmp_frame(void *ctx, const struct sem_frame *fr)
{
	struct cmp *c = ctx;
	uint32_t cap = fr->cap > 512 ? 512 : (uint32_t)fr->cap;
	const uint16_t *ports;
	sem_protocol_ports(c->p, &ports);
	uint8_t blk[INSITU_IDS_MAX];
	/* observed at the server: it receives to_server messages, sends the others */
	uint32_t n = xk_eval_msg(c->t, fr->data, cap, (uint32_t)fr->len, (uint8_t)sem_protocol_transport(c->p), ports[0], 40000,
			     c->dir == SEM_FROM_SERVER, blk, sizeof(blk));
	struct sem_result kr, ur;
	assert_true(xk_decode(blk, n, &kr) >= 0);
	sem_extract(c->p, c->dir, fr->data, cap, cap, &ur);
	if (n) {
		/* raw records (the DNS question) resolved as the linker does */
		int all = xk_result(c->p, c->dir, blk, n, false, &kr);
		assert_true(all >= 0);
		if (all == 1) {
			/* a complete block IS the extraction: every field */
			c->complete++;
			bool same = kr.type == ur.type && kr.role == ur.role && kr.n_follow == ur.n_follow &&
				    kr.has_outcome == ur.has_outcome && kr.code == ur.code &&
				    kr.status == ur.status && id_eq(&kr.link, &ur.link) && id_eq(&kr.query, &ur.query) &&
				    id_eq(&kr.response, &ur.response) &&
				    (!kr.label[0] || !strcmp(kr.label, ur.label));
			for (unsigned i = 0; same && i < kr.n_follow; i++)
				same = id_eq(&kr.follow[i], &ur.follow[i]);
			if (!same) {
				c->bad++;
				print_error("%s: complete kernel block differs from sem_extract (type %d/%d)\n",
					    c->name, kr.type, ur.type);
			}
		}
	}
	int32_t mask = xk_type_slots(c->t, c->p, c->dir, ur.type);
	char kt[600], ut[600];
	if (mask < 0) {
		struct sem_result none = { .type = -1 };
		xk_format(&none, -1, ut, sizeof(ut));
	} else {
		xk_format(&ur, mask, ut, sizeof(ut));
	}
	xk_format(&kr, mask, kt, sizeof(kt));
	c->compared++;
	c->with_ids += n > 3;
	if (strcmp(kt, ut)) {
		c->bad++;
		print_error("%s: kernel {%s} user {%s}\n", c->name, kt, ut);
	}
}

static void test_kernel_rules_agree_on_fixtures(void **state)
{
	(void)state;
	const char *root = getenv("INSITU_ROOT") ? getenv("INSITU_ROOT") : ".";
	char path[512];
	snprintf(path, sizeof(path), "%s/tests/fixtures/semantics/fixtures.list", root);
	FILE *list = fopen(path, "r");
	assert_non_null(list);
	char line[512];
	int total = 0, with_ids = 0, complete = 0;
	while (fgets(line, sizeof(line), list)) {
		char cap[128], files[256];
		if (line[0] == '#' || sscanf(line, "%127s %255s", cap, files) != 2)
			continue;
		const char *fv[8];
		char full[8][512];
		size_t nf = 0;
		for (char *sv = NULL, *t = strtok_r(files, ",", &sv); t && nf < 8; t = strtok_r(NULL, ",", &sv)) {
			snprintf(full[nf], sizeof(full[nf]), "%s/%s", root, t);
			fv[nf] = full[nf];
			nf++;
		}
		struct sem_diags *d = calloc(1, sizeof(*d));
		struct sem_set *set = sem_load(fv, nf, d);
		if (!set)
			sem_diags_print(d, stderr);
		free(d);
		assert_non_null(set);
		static struct xk_table t;
		xk_compile(set, &t);
		t.flags = INSITU_XC_RAW; /* as with --payload=ids: the DNS question too */
		snprintf(path, sizeof(path), "%s/tests/fixtures/semantics/%s", root, cap);
		FILE *f = fopen(path, "r");
		assert_non_null(f);
		struct sem_framer *fr[64][2] = { { 0 } };
		const struct sem_protocol *pp[64] = { 0 };
		char *l = NULL;
		size_t lc = 0;
		int udp = 0;
		static uint8_t buf[65536];
		struct cmp c = { .t = &t, .name = cap };
		while (getline(&l, &lc, f) > 0) {
			if (!strncmp(l, "# transport: udp", 16))
				udp = 1;
			if (l[0] == '#')
				continue;
			int conn, used = 0;
			char dch;
			if (sscanf(l, "%d %c %n", &conn, &dch, &used) < 2 || conn < 0 || conn >= 64)
				continue;
			size_t n = 0;
			for (char *h = l + used; h[0] && h[1] && h[0] != '\n' && n < sizeof(buf); h += 2) {
				unsigned v;
				sscanf(h, "%2x", &v);
				buf[n++] = (uint8_t)v;
			}
			enum sem_dir dir = dch == 'C' ? SEM_TO_SERVER : SEM_FROM_SERVER;
			if (!pp[conn]) {
				const uint16_t *ports;
				sem_protocol_ports(sem_protocol_at(set, 0), &ports);
				pp[conn] = sem_lookup(set, udp ? 17 : 6, ports[0], dir, buf, n);
				assert_non_null(pp[conn]);
				fr[conn][0] = sem_framer_new(pp[conn], SEM_TO_SERVER);
				fr[conn][1] = sem_framer_new(pp[conn], SEM_FROM_SERVER);
			}
			c.p = pp[conn];
			c.dir = dir;
			sem_framer_feed(fr[conn][dir], buf, n, n, 0, 0, cmp_frame, &c);
		}
		free(l);
		fclose(f);
		for (int k = 0; k < 64; k++)
			if (pp[k]) {
				sem_framer_free(fr[k][0]);
				sem_framer_free(fr[k][1]);
			}
		if (c.bad)
			fail_msg("%s: %d of %d messages disagree", cap, c.bad, c.compared);
		total += c.compared;
		with_ids += c.with_ids;
		complete += c.complete;
		sem_free(set);
	}
	fclose(list);
	assert_true(total > 300);
	assert_true(with_ids > 30);
	/* DNS (UDP and TCP) messages: the question decoded from the kernel's raw copy */
	print_message("kernel blocks complete (identical to sem_extract): %d\n", complete);
	assert_true(complete >= 20);
}

/* When --payload=ids may drop the payload: the TYPE record's F_ALL. */
static void test_ids_only_boundaries(void **state)
{
	(void)state;
	const char *root = getenv("INSITU_ROOT") ? getenv("INSITU_ROOT") : ".";
	char f1[512], f2[512], f3[512];
	snprintf(f1, sizeof(f1), "%s/semantics/dns-tcp.json", root);
	snprintf(f2, sizeof(f2), "%s/semantics/mqtt.json", root);
	snprintf(f3, sizeof(f3), "%s/semantics/dns.json", root);
	const char *fv[] = { f1, f2, f3 };
	struct sem_set *set = sem_load(fv, 3, NULL);
	assert_non_null(set);
	static struct xk_table t;
	xk_compile(set, &t);
	uint8_t blk[INSITU_IDS_MAX];
	/* DNS over TCP: [len 2][txid][flags][qd=1][0][0][0] www.test A IN */
	static const uint8_t q[] = { 0, 26, 0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 3, 'w', 'w', 'w',
				     4, 't', 'e', 's', 't', 0, 0, 1, 0, 1 };
	uint8_t two[2 * sizeof(q)];
	memcpy(two, q, sizeof(q));
	memcpy(two + sizeof(q), q, sizeof(q));
	/* without raw rules the question stays in user space: never complete */
	uint32_t n = xk_eval_msg(&t, q, sizeof(q), sizeof(q), 6, 53, 40000, 0, blk, sizeof(blk));
	assert_true(n >= 4);
	assert_false(blk[0] & INSITU_XID_F_ALL);
	t.flags = INSITU_XC_IDS_ONLY | INSITU_XC_RAW;
	/* one whole message in the syscall: complete */
	n = xk_eval_msg(&t, q, sizeof(q), sizeof(q), 6, 53, 40000, 0, blk, sizeof(blk));
	assert_true(n >= 4);
	assert_true(blk[0] & INSITU_XID_F_ALL);
	/* two pipelined in one syscall, or the first of a split one: keep the payload */
	n = xk_eval_msg(&t, two, sizeof(two), sizeof(two), 6, 53, 40000, 0, blk, sizeof(blk));
	assert_true(n >= 4);
	assert_false(blk[0] & INSITU_XID_F_ALL);
	n = xk_eval_msg(&t, q, 10, 10, 6, 53, 40000, 0, blk, sizeof(blk));
	assert_false(n >= 4 && (blk[0] & INSITU_XID_F_ALL));
	/* a compression pointer in the question: user space must decode it */
	uint8_t ptr[sizeof(q)];
	memcpy(ptr, q, sizeof(q));
	ptr[14] = 0xc0;
	n = xk_eval_msg(&t, ptr, sizeof(ptr), sizeof(ptr), 6, 53, 40000, 0, blk, sizeof(blk));
	assert_true(n >= 4);
	assert_false(blk[0] & INSITU_XID_F_ALL);
	/* the same query over UDP (datagram: always one message) is complete, and
	 * its block decodes to what sem_extract gives */
	n = xk_eval_msg(&t, q + 2, sizeof(q) - 2, sizeof(q) - 2, 17, 53, 40000, 0, blk, sizeof(blk));
	assert_true(blk[0] & INSITU_XID_F_ALL);
	const struct sem_protocol *udp = NULL;
	for (size_t i = 0; i < sem_protocol_count(set); i++)
		if (!strcmp(sem_protocol_name(sem_protocol_at(set, i)), "dns"))
			udp = sem_protocol_at(set, i);
	assert_non_null(udp);
	struct sem_result kr, ur;
	assert_int_equal(xk_result(udp, SEM_TO_SERVER, blk, n, false, &kr), 1);
	sem_extract(udp, SEM_TO_SERVER, q + 2, sizeof(q) - 2, sizeof(q) - 2, &ur);
	assert_int_equal(kr.link.len, ur.link.len);
	assert_memory_equal(kr.link.b, ur.link.b, ur.link.len);
	assert_int_equal(kr.n_follow, ur.n_follow);
	assert_string_equal(kr.label, ur.label);
	/* MQTT: varint length (the kernel decodes it for the body offset and the
	 * one-message check), topic as a length-prefixed string, packet id after it */
	static const uint8_t pub[] = { 0x32, 8, 0, 3, 'a', '/', 'b', 0, 7, 'x' };
	uint8_t pub2[2 * sizeof(pub)];
	memcpy(pub2, pub, sizeof(pub));
	memcpy(pub2 + sizeof(pub), pub, sizeof(pub));
	const struct sem_protocol *mq = NULL;
	for (size_t i = 0; i < sem_protocol_count(set); i++)
		if (!strcmp(sem_protocol_name(sem_protocol_at(set, i)), "mqtt"))
			mq = sem_protocol_at(set, i);
	assert_non_null(mq);
	n = xk_eval_msg(&t, pub, sizeof(pub), sizeof(pub), 6, 1883, 40000, 0, blk, sizeof(blk));
	assert_true(blk[0] & INSITU_XID_F_ALL);
	assert_int_equal(xk_result(mq, SEM_TO_SERVER, blk, n, false, &kr), 1);
	sem_extract(mq, SEM_TO_SERVER, pub, sizeof(pub), sizeof(pub), &ur);
	assert_int_equal(kr.type, ur.type);
	assert_int_equal(kr.link.len, 3);
	assert_memory_equal(kr.link.b, "a/b", 3);
	assert_int_equal(kr.query.len, 2);
	assert_memory_equal(kr.query.b, ur.query.b, 2);
	n = xk_eval_msg(&t, pub2, sizeof(pub2), sizeof(pub2), 6, 1883, 40000, 0, blk, sizeof(blk));
	assert_true(n >= 4);
	assert_false(blk[0] & INSITU_XID_F_ALL); /* two in one syscall */
	sem_free(set);
}

int main(void)
{
	/* the DNS plugin is built next to the tests' build directory */
	char pp[512];
	snprintf(pp, sizeof(pp), "%s/%s/plugins", getenv("INSITU_ROOT") ? getenv("INSITU_ROOT") : ".",
		 getenv("BUILD") ? getenv("BUILD") : "build");
	if (getenv("BUILD") && getenv("BUILD")[0] == '/')
		snprintf(pp, sizeof(pp), "%s/plugins", getenv("BUILD"));
	setenv("INSITU_PLUGIN_PATH", pp, 1);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sources),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_outcomes),
		cmocka_unit_test(test_dns_plugin),
		cmocka_unit_test(test_kernel_rules_agree_on_fixtures),
		cmocka_unit_test(test_ids_only_boundaries),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
