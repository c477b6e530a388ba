/* Stream reassembly by kernel byte positions: split and coalesced messages, gaps,
 * truncation, overlaps, and the per-stream and total bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "link_msg.h"
#include "stream.h"

static struct stream_budget budget;
static struct stream_stats stats;

static void mk(struct stream *s, size_t max)
{
	memset(&stats, 0, sizeof(stats));
	budget = (struct stream_budget){ .limit = 1 << 20 };
	stream_init(s, max, &budget, &stats);
}

static void feed(struct stream *s, uint64_t pos, const char *txt, uint32_t len, uint64_t t)
{
	uint32_t cap = (uint32_t)strlen(txt);
	stream_feed(s, pos, (const uint8_t *)txt, cap, len ? len : cap, t, t + 5, (uint32_t)t);
}

static void test_split_message_times(void **st)
{
	(void)st;
	struct stream s;
	mk(&s, 4096);
	feed(&s, 1000, "GET /a HT", 0, 100);
	feed(&s, 1009, "TP/1.1\r\n\r\n", 0, 200);
	const uint8_t *p;
	assert_int_equal(stream_peek(&s, &p), 19);
	assert_memory_equal(p, "GET /a HTTP/1.1\r\n\r\n", 19);
	struct stream_span sp;
	assert_true(stream_consume(&s, 19, &sp));
	assert_int_equal(sp.pos, 1000);
	assert_int_equal(sp.t_start, 100);  /* entry of the first piece */
	assert_int_equal(sp.t_end, 205);    /* exit of the last piece */
	assert_int_equal(sp.tid, 100);
	assert_int_equal(sp.flags, 0);
	assert_int_equal(stream_peek(&s, &p), 0);
	stream_free(&s);
	assert_int_equal(budget.used, 0);
}

static void test_coalesced_messages_share_event(void **st)
{
	(void)st;
	struct stream s;
	mk(&s, 4096);
	feed(&s, 0, "+OK\r\n+OK\r\n", 0, 50);
	struct stream_span a, b;
	assert_true(stream_consume(&s, 5, &a));
	assert_true(stream_consume(&s, 5, &b));
	assert_int_equal(a.pos, 0);
	assert_int_equal(b.pos, 5);
	assert_int_equal(a.t_start, 50);
	assert_int_equal(b.t_start, 50);
	assert_int_equal(b.t_end, 55);
	assert_false(stream_consume(&s, 1, &b));
	stream_free(&s);
}

static void test_gap_drops_buffer_and_flags(void **st)
{
	(void)st;
	struct stream s;
	mk(&s, 4096);
	feed(&s, 0, "partial-mess", 0, 1);
	feed(&s, 100, "NEXT\r\n", 0, 2); /* 88 bytes lost in between */
	const uint8_t *p;
	assert_int_equal(stream_peek(&s, &p), 6);
	assert_memory_equal(p, "NEXT\r\n", 6);
	assert_int_equal(stats.gaps, 1);
	assert_int_equal(stats.gap_bytes, 88);
	assert_int_equal(stats.dropped_bytes, 12);
	struct stream_span sp;
	assert_true(stream_consume(&s, 6, &sp));
	assert_true(sp.flags & LK_F_GAP);
	assert_int_equal(sp.pos, 100);
	feed(&s, 106, "X\r\n", 0, 3);
	assert_true(stream_consume(&s, 3, &sp));
	assert_false(sp.flags & LK_F_GAP); /* only the first message after the gap */
	stream_free(&s);
}

static void test_truncated_consumed_across(void **st)
{
	(void)st;
	struct stream s;
	mk(&s, 4096);
	/* 1000-byte write of which 16 were captured: the framer knows the length. */
	feed(&s, 0, "HTTP/1.1 200 OK\r", 1000, 10);
	assert_int_equal(stream_unknown(&s), 984);
	struct stream_span sp;
	assert_false(stream_consume(&s, 1001, &sp));
	assert_true(stream_consume(&s, 1000, &sp));
	assert_true(sp.flags & LK_F_TRUNCATED);
	assert_int_equal(stats.truncated_bytes, 984);
	feed(&s, 1000, "next", 0, 20);
	assert_true(stream_consume(&s, 4, &sp));
	assert_int_equal(sp.flags, 0);
	assert_int_equal(sp.pos, 1000);
	stream_free(&s);
}

static void test_truncated_unframable_resyncs(void **st)
{
	(void)st;
	struct stream s;
	mk(&s, 4096);
	feed(&s, 0, "chunked...", 500, 10);
	/* nobody consumed across the uncaptured bytes: next event restarts framing */
	feed(&s, 500, "HTTP/1.1 200", 0, 20);
	const uint8_t *p;
	assert_int_equal(stream_peek(&s, &p), 12);
	assert_int_equal(stream_pos(&s), 500);
	assert_int_equal(stream_unknown(&s), 0);
	struct stream_span sp;
	assert_true(stream_consume(&s, 12, &sp));
	assert_true(sp.flags & LK_F_GAP);
	assert_false(sp.flags & LK_F_TRUNCATED);
	stream_free(&s);
}

static void test_overlap_trimmed(void **st)
{
	(void)st;
	struct stream s;
	mk(&s, 4096);
	feed(&s, 0, "abcdef", 0, 1);
	feed(&s, 3, "defghi", 0, 2); /* 3 bytes reported twice */
	feed(&s, 0, "abc", 0, 3);    /* entirely old */
	const uint8_t *p;
	assert_int_equal(stream_peek(&s, &p), 9);
	assert_memory_equal(p, "abcdefghi", 9);
	assert_int_equal(stats.overlaps, 2);
	stream_free(&s);
}

static void test_per_stream_cap(void **st)
{
	(void)st;
	struct stream s;
	mk(&s, 16);
	feed(&s, 0, "0123456789", 0, 1);
	feed(&s, 10, "0123456789", 0, 2); /* would be 20 > 16: drop old, keep new */
	const uint8_t *p;
	assert_int_equal(stream_peek(&s, &p), 10);
	assert_int_equal(stream_pos(&s), 10);
	assert_int_equal(stats.overflows, 1);
	struct stream_span sp;
	assert_true(stream_consume(&s, 10, &sp));
	assert_true(sp.flags & LK_F_GAP);
	feed(&s, 20, "0123456789012345678", 0, 3); /* one event bigger than the cap */
	assert_int_equal(stream_peek(&s, &p), 0);
	assert_int_equal(stream_pos(&s), 39);
	stream_free(&s);
}

static void test_total_budget(void **st)
{
	(void)st;
	struct stream a, b;
	memset(&stats, 0, sizeof(stats));
	budget = (struct stream_budget){ .limit = 600 };
	stream_init(&a, 4096, &budget, &stats);
	stream_init(&b, 4096, &budget, &stats);
	char big[400];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	feed(&a, 0, big, 0, 1); /* 512-byte buffer */
	feed(&b, 0, big, 0, 2); /* another 512 would exceed 600 */
	assert_int_equal(budget.budget_drops, 2); /* refused, and refused again after reset */
	const uint8_t *p;
	assert_int_equal(stream_peek(&b, &p), 0);
	assert_int_equal(stream_peek(&a, &p), 399);
	stream_free(&a);
	stream_free(&b);
	assert_int_equal(budget.used, 0);
}

static void test_many_small_events_merge(void **st)
{
	(void)st;
	struct stream s;
	mk(&s, 4096);
	for (int i = 0; i < 100; i++)
		feed(&s, (uint64_t)i, "x", 0, (uint64_t)(1000 + i * 10));
	struct stream_span sp;
	assert_true(stream_consume(&s, 100, &sp));
	assert_int_equal(sp.t_start, 1000);
	assert_int_equal(sp.t_end, 1000 + 99 * 10 + 5);
	assert_true(stats.seg_merges > 0);
	stream_free(&s);
}

static void test_unwrap32(void **st)
{
	(void)st;
	uint64_t base = (1ull << 32) | 0xfffffff0u;
	assert_int_equal(stream_unwrap32(base, 0x10), (2ull << 32) | 0x10);
	assert_int_equal(stream_unwrap32(base, 0xffffff00u), (1ull << 32) | 0xffffff00u);
	assert_int_equal(stream_unwrap32((2ull << 32) | 5, 0xfffffff0u), (1ull << 32) | 0xfffffff0u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_message_times),
		cmocka_unit_test(test_coalesced_messages_share_event),
		cmocka_unit_test(test_gap_drops_buffer_and_flags),
		cmocka_unit_test(test_truncated_consumed_across),
		cmocka_unit_test(test_truncated_unframable_resyncs),
		cmocka_unit_test(test_overlap_trimmed),
		cmocka_unit_test(test_per_stream_cap),
		cmocka_unit_test(test_total_budget),
		cmocka_unit_test(test_many_small_events_merge),
		cmocka_unit_test(test_unwrap32),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
