/* Framers: boundaries under every split, uncaptured bytes inside and outside
 * known-length regions, resync, bounds, and the positions/times of frames. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "semantics.h"
#include "sem_test_load.h"

#define MAXF 64
struct got {
	int n;
	uint64_t len[MAXF], pos[MAXF], t_first[MAXF], t_last[MAXF];
	uint32_t flags[MAXF];
	char head[MAXF][16];
};

static void on_frame(void *ctx, const struct sem_frame *fr)
{
	struct got *g = ctx;
	if (g->n == MAXF)
		return;
	g->len[g->n] = fr->len;
	g->pos[g->n] = fr->pos;
	g->t_first[g->n] = fr->t_first;
	g->t_last[g->n] = fr->t_last;
	g->flags[g->n] = fr->flags;
	size_t k = fr->cap < 15 ? fr->cap : 15;
	memcpy(g->head[g->n], fr->data, k);
	g->head[g->n][k] = '\0';
	g->n++;
}

#define PROTO(framing) \
	"{\"name\":\"t\",\"transport\":\"tcp\",\"ports\":[1],\"framing\":" framing \
	",\"messages\":[{\"name\":\"m\",\"role\":\"request\",\"signature\":{\"direction\":\"to_server\"}}]}"

/* Feeds 'data' in pieces of 'split' bytes; returns frames. */
static struct got feed_split(const struct sem_set *s, enum sem_dir dir, const char *data, size_t n, size_t split)
{
	struct got g = { 0 };
	struct sem_framer *f = sem_framer_new(sem_protocol_at(s, 0), dir);
	for (size_t o = 0; o < n; o += split) {
		size_t k = n - o < split ? n - o : split;
		sem_framer_feed(f, (const uint8_t *)data + o, k, k, o, o + 1, on_frame, &g);
	}
	sem_framer_flush(f, on_frame, &g);
	sem_framer_free(f);
	return g;
}

static void expect_same_for_all_splits(const struct sem_set *s, enum sem_dir dir, const char *data, size_t n,
				       int want, const uint64_t *lens)
{
	for (size_t split = 1; split <= n; split++) {
		struct got g = feed_split(s, dir, data, n, split);
		if (g.n != want)
			fail_msg("split %zu: %d frames, want %d", split, g.n, want);
		uint64_t pos = 0;
		for (int i = 0; i < want; i++) {
			if (g.len[i] != lens[i] || g.pos[i] != pos || g.flags[i])
				fail_msg("split %zu frame %d: len %llu pos %llu flags %u, want len %llu pos %llu", split, i,
					 (unsigned long long)g.len[i], (unsigned long long)g.pos[i], g.flags[i],
					 (unsigned long long)lens[i], (unsigned long long)pos);
			pos += lens[i];
		}
	}
}

static void test_http_all_splits(void **state)
{
	(void)state;
	struct sem_set *s = load(PROTO("{\"kind\":\"http1\"}"));
	const char *req = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
			  "POST /b HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
			  "PUT /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
	uint64_t l1[] = { 28, 44, 60 };
	expect_same_for_all_splits(s, SEM_TO_SERVER, req, strlen(req), 3, l1);
	const char *resp = "HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n"
			   "HTTP/1.1 200 OK\r\ncontent-length:2\r\n\r\nok"
			   "HTTP/1.1 200 OK\r\n\r\ntill close";
	uint64_t l2[] = { 46, 39, 29 };
	/* a 204 has no body even with Content-Length; the last is delimited by close */
	for (size_t split = 1; split < strlen(resp); split += 7) {
		struct got g = feed_split(s, SEM_FROM_SERVER, resp, strlen(resp), split);
		assert_int_equal(g.n, 3);
		for (int i = 0; i < 3; i++)
			assert_int_equal(g.len[i], l2[i]);
		assert_int_equal(g.flags[2], 0); /* close-delimited body is complete at flush */
	}
	sem_free(s);
}

static void test_resp_nested_and_inline(void **state)
{
	(void)state;
	struct sem_set *s = load(PROTO("{\"kind\":\"resp\"}"));
	const char *d = "*2\r\n$3\r\nGET\r\n$1\r\na\r\n" /* 20 */
			"PING\r\n"                       /* 6 */
			"*2\r\n*1\r\n:1\r\n$-1\r\n"      /* 17 */
			"%1\r\n+k\r\n$2\r\nvv\r\n"       /* 16 */
			"*0\r\n";                        /* 4 */
	uint64_t l[] = { 20, 6, 17, 16, 4 };
	expect_same_for_all_splits(s, SEM_TO_SERVER, d, strlen(d), 5, l);
	sem_free(s);
}

static void test_length_varint_and_variants(void **state)
{
	(void)state;
	struct sem_set *s = load(PROTO("{\"kind\":\"length\",\"offset\":1,\"encoding\":\"varint\",\"from\":\"field_end\"}"));
	/* MQTT: 0x30 len=130 (varint 0x82 0x01) -> 1 + 2 + 130 bytes; then 0xc0 0x00 */
	char m[135 + 2];
	memset(m, 'x', sizeof(m));
	m[0] = 0x30;
	m[1] = (char)0x82;
	m[2] = 0x01;
	m[133] = (char)0xc0;
	m[134] = 0x00;
	uint64_t l[] = { 133, 2 };
	expect_same_for_all_splits(s, SEM_TO_SERVER, m, 135, 2, l);
	sem_free(s);

	s = load(PROTO("{\"kind\":\"length\",\"offset\":1,\"width\":4,\"adjust\":1,\"variants\":"
		       "[{\"when\":{\"offset\":0,\"equals\":\"00\"},\"offset\":0,\"width\":4,\"adjust\":0}]}"));
	const char pg[] = "\0\0\0\x08\x04\xd2\x16\x2f" "Q\0\0\0\x08selX" "S\0\0\0\x04";
	uint64_t l2[] = { 8, 9, 5 };
	expect_same_for_all_splits(s, SEM_TO_SERVER, pg, sizeof(pg) - 1, 3, l2);
	sem_free(s);
}

static void test_line_blocks_and_multiline(void **state)
{
	(void)state;
	struct sem_set *s = load(PROTO("{\"kind\":\"line\",\"data_blocks\":[{\"prefix\":\"set \",\"token\":4},"
				       "{\"prefix\":\"VALUE \",\"token\":3}],\"multi_line\":[{\"prefix\":\"VALUE \",\"until\":\"END\"}]}"));
	const char *c = "set k 0 0 5\r\nab\r\nc\r\nget k\r\n";
	uint64_t l[] = { 20, 7 };
	expect_same_for_all_splits(s, SEM_TO_SERVER, c, strlen(c), 2, l);
	const char *r = "VALUE k 0 5\r\nab\r\nc\r\nVALUE j 0 1\r\nx\r\nEND\r\nSTORED\r\n";
	uint64_t l2[] = { 41, 8 };
	expect_same_for_all_splits(s, SEM_FROM_SERVER, r, strlen(r), 2, l2);
	sem_free(s);
}

/* Uncaptured bytes (len > cap): inside a known-length body they are skipped
 * exactly; in a header they lose sync until the next feed, which is flagged GAP. */
static void test_missing_bytes(void **state)
{
	(void)state;
	struct sem_set *s = load(PROTO("{\"kind\":\"http1\"}"));
	struct sem_framer *f = sem_framer_new(sem_protocol_at(s, 0), SEM_TO_SERVER);
	struct got g = { 0 };
	const char *h = "POST /x HTTP/1.1\r\nContent-Length: 1000\r\n\r\n0123";
	/* one syscall of 42 + 1000 bytes, of which only the first 46 were captured */
	sem_framer_feed(f, (const uint8_t *)h, strlen(h), 42 + 1000, 1, 2, on_frame, &g);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.len[0], 1042);
	assert_true(g.flags[0] & SEM_FR_TRUNCATED);
	assert_false(g.flags[0] & SEM_FR_GAP);
	const char *n2 = "GET /y HTTP/1.1\r\n\r\n";
	sem_framer_feed(f, (const uint8_t *)n2, strlen(n2), strlen(n2), 3, 4, on_frame, &g);
	assert_int_equal(g.n, 2);
	assert_int_equal(g.pos[1], 1042);
	assert_int_equal(g.flags[1], 0);
	/* now lose bytes inside headers: the partial request is emitted ABORTED, the
	 * next syscall starts a new message flagged GAP, positions keep counting */
	const char *p3 = "GET /z HTTP/1.1\r\nHost: a";
	sem_framer_feed(f, (const uint8_t *)p3, strlen(p3), strlen(p3) + 50, 5, 6, on_frame, &g);
	assert_int_equal(g.n, 3);
	assert_true(g.flags[2] & SEM_FR_ABORTED);
	sem_framer_feed(f, NULL, 0, 10, 7, 8, on_frame, &g); /* a gap reported by the caller */
	sem_framer_feed(f, (const uint8_t *)n2, strlen(n2), strlen(n2), 9, 10, on_frame, &g);
	assert_int_equal(g.n, 4);
	assert_true(g.flags[3] & SEM_FR_GAP);
	assert_int_equal(g.pos[3], 1042 + 19 + strlen(p3) + 50 + 10);
	assert_int_equal(g.t_first[3], 9);
	const struct sem_framer_stats *st = sem_framer_stats(f);
	assert_true(st->resyncs >= 1);
	assert_int_equal(st->messages, 4);
	sem_framer_free(f);
	sem_free(s);
}

static void test_times_span_syscalls(void **state)
{
	(void)state;
	struct sem_set *s = load(PROTO("{\"kind\":\"line\"}"));
	struct sem_framer *f = sem_framer_new(sem_protocol_at(s, 0), SEM_TO_SERVER);
	struct got g = { 0 };
	sem_framer_feed(f, (const uint8_t *)"AB", 2, 2, 100, 101, on_frame, &g);
	sem_framer_feed(f, (const uint8_t *)"C\r", 2, 2, 200, 201, on_frame, &g);
	sem_framer_feed(f, (const uint8_t *)"\nD\r\nE", 5, 5, 300, 301, on_frame, &g);
	assert_int_equal(g.n, 2);
	assert_int_equal(g.t_first[0], 100);
	assert_int_equal(g.t_last[0], 301);
	assert_string_equal(g.head[0], "ABC\r\n");
	assert_int_equal(g.t_first[1], 300);
	sem_framer_flush(f, on_frame, &g); /* "E" is incomplete: emitted ABORTED */
	assert_int_equal(g.n, 3);
	assert_true(g.flags[2] & SEM_FR_ABORTED);
	sem_framer_free(f);
	sem_free(s);
}

static void test_bounds(void **state)
{
	(void)state;
	/* a line beyond max_line resyncs instead of buffering without end */
	struct sem_set *s = load(PROTO("{\"kind\":\"line\",\"max_line\":16}"));
	struct sem_framer *f = sem_framer_new(sem_protocol_at(s, 0), SEM_TO_SERVER);
	struct got g = { 0 };
	char big[100];
	memset(big, 'a', sizeof(big));
	sem_framer_feed(f, (const uint8_t *)big, sizeof(big), sizeof(big), 0, 0, on_frame, &g);
	assert_int_equal(sem_framer_stats(f)->oversize, 1);
	sem_framer_feed(f, (const uint8_t *)"ok\r\n", 4, 4, 0, 0, on_frame, &g);
	assert_string_equal(g.head[g.n - 1], "ok\r\n");
	assert_true(g.flags[g.n - 1] & SEM_FR_GAP);
	sem_framer_free(f);
	sem_free(s);
	/* a length above max is corrupt */
	s = load(PROTO("{\"kind\":\"length\",\"offset\":0,\"width\":4,\"max\":100}"));
	f = sem_framer_new(sem_protocol_at(s, 0), SEM_TO_SERVER);
	memset(&g, 0, sizeof(g));
	sem_framer_feed(f, (const uint8_t *)"\xff\xff\xff\xff", 4, 4, 0, 0, on_frame, &g);
	assert_int_equal(sem_framer_stats(f)->resyncs, 1);
	sem_framer_free(f);
	sem_free(s);
	/* messages longer than SEM_FRAME_KEEP keep their first bytes only */
	s = load(PROTO("{\"kind\":\"length\",\"offset\":0,\"width\":4,\"from\":\"field_end\"}"));
	f = sem_framer_new(sem_protocol_at(s, 0), SEM_TO_SERVER);
	memset(&g, 0, sizeof(g));
	uint8_t *m = calloc(1, 10004);
	m[2] = 0x27, m[3] = 0x10; /* 10000 */
	sem_framer_feed(f, m, 10004, 10004, 0, 0, on_frame, &g);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.len[0], 10004);
	assert_true(g.flags[0] & SEM_FR_TRUNCATED);
	free(m);
	sem_framer_free(f);
	sem_free(s);
}

/* Joining a connection mid-message (observer started late): the tail of a
 * response is not taken for a response head; framing restarts at the next read. */
static void test_late_start(void **state)
{
	(void)state;
	struct sem_set *s = load(PROTO("{\"kind\":\"http1\"}"));
	struct sem_framer *f = sem_framer_new(sem_protocol_at(s, 0), SEM_FROM_SERVER);
	struct got g = { 0 };
	const char *tail = "tent-Length: 2\r\n\r\nok";
	const char *next = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
	sem_framer_feed(f, (const uint8_t *)tail, strlen(tail), strlen(tail), 1, 1, on_frame, &g);
	sem_framer_feed(f, (const uint8_t *)next, strlen(next), strlen(next), 2, 2, on_frame, &g);
	assert_int_equal(g.n, 2);
	assert_true(g.flags[0] & SEM_FR_ABORTED);
	assert_int_equal(g.len[1], strlen(next));
	assert_true(g.flags[1] & SEM_FR_GAP);
	assert_int_equal(g.pos[1], strlen(tail));
	sem_framer_free(f);
	sem_free(s);
	/* RESP: a reply joined in the middle of a bulk string */
	s = load(PROTO("{\"kind\":\"resp\"}"));
	f = sem_framer_new(sem_protocol_at(s, 0), SEM_FROM_SERVER);
	memset(&g, 0, sizeof(g));
	sem_framer_feed(f, (const uint8_t *)"lue\r\n", 5, 5, 1, 1, on_frame, &g);
	sem_framer_feed(f, (const uint8_t *)"+OK\r\n", 5, 5, 2, 2, on_frame, &g);
	assert_int_equal(g.n, 2);
	assert_true(g.flags[0] & SEM_FR_ABORTED);
	assert_string_equal(g.head[1], "+OK\r\n");
	sem_framer_free(f);
	sem_free(s);
}

/* HEAD: the response announces a length but has no body; paired framers know. */
static void test_head_pairing(void **state)
{
	(void)state;
	struct sem_set *s = load(PROTO("{\"kind\":\"http1\"}"));
	struct sem_framer *rq = sem_framer_new(sem_protocol_at(s, 0), SEM_TO_SERVER);
	struct sem_framer *rs = sem_framer_new(sem_protocol_at(s, 0), SEM_FROM_SERVER);
	sem_framer_pair(rq, rs);
	struct got a = { 0 }, b = { 0 };
	const char *req = "HEAD /x HTTP/1.1\r\nHost: h\r\n\r\nGET /y HTTP/1.1\r\nHost: h\r\n\r\n";
	sem_framer_feed(rq, (const uint8_t *)req, strlen(req), strlen(req), 0, 0, on_frame, &a);
	assert_int_equal(a.n, 2);
	const char *resp = "HTTP/1.1 100 Continue\r\n\r\n"
			   "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
			   "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
	sem_framer_feed(rs, (const uint8_t *)resp, strlen(resp), strlen(resp), 0, 0, on_frame, &b);
	assert_int_equal(b.n, 3);
	assert_int_equal(b.len[0], 25); /* interim: does not answer a request */
	assert_int_equal(b.len[1], 38); /* HEAD: headers only */
	assert_int_equal(b.len[2], 43);
	sem_framer_free(rq);
	sem_framer_free(rs);
	sem_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_http_all_splits),
		cmocka_unit_test(test_resp_nested_and_inline),
		cmocka_unit_test(test_length_varint_and_variants),
		cmocka_unit_test(test_line_blocks_and_multiline),
		cmocka_unit_test(test_missing_bytes),
		cmocka_unit_test(test_times_span_syscalls),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_late_start),
		cmocka_unit_test(test_head_pairing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
