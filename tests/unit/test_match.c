/* Request/response matching: ids, FIFO, pipelining marked ambiguous, timeouts with
 * tombstones (a late response does not shift later matches), bounds, close. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "link_msg.h"
#include "match.h"

static int ended[16];
static enum match_reason why_ended[16];

static void on_end(void *owner, enum match_reason why, void *arg)
{
	(void)arg;
	int i = *(int *)owner;
	ended[i]++;
	why_ended[i] = why;
}

static int ids[16] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 };
static struct match_table mt;
static struct match_queue q, q2;

static int setup(void **st)
{
	(void)st;
	memset(ended, 0, sizeof(ended));
	memset(&q, 0, sizeof(q));
	memset(&q2, 0, sizeof(q2));
	struct match_cfg cfg = { .timeout_ns = 1000, .queue_cap = 4, .total_cap = 6 };
	match_init(&mt, &cfg, on_end, NULL);
	return 0;
}

static int teardown(void **st)
{
	(void)st;
	match_close(&mt, &q);
	match_close(&mt, &q2);
	match_destroy(&mt);
	return 0;
}

static int popi(struct match_queue *qq, uint64_t rid, uint16_t *f)
{
	void *o = match_pop(&mt, qq, rid, f);
	return o ? *(int *)o : -1;
}

static void test_fifo_single_not_ambiguous(void **st)
{
	(void)st;
	uint16_t f;
	match_push(&mt, &q, 0, 10, &ids[1]);
	assert_int_equal(popi(&q, 0, &f), 1);
	assert_int_equal(f, 0);
	match_push(&mt, &q, 0, 20, &ids[2]);
	assert_int_equal(popi(&q, 0, &f), 2);
	assert_int_equal(f, 0);
	assert_int_equal(popi(&q, 0, &f), -1); /* response with nothing waiting */
	assert_int_equal(mt.stats.unmatched, 1);
}

static void test_fifo_pipelined_is_ambiguous(void **st)
{
	(void)st;
	uint16_t f;
	match_push(&mt, &q, 0, 10, &ids[1]);
	match_push(&mt, &q, 0, 11, &ids[2]);
	assert_int_equal(popi(&q, 0, &f), 1);
	assert_true(f & LK_F_AMBIGUOUS);
	assert_int_equal(popi(&q, 0, &f), 2);
	assert_true(f & LK_F_AMBIGUOUS); /* it was sent while 1 was waiting */
	assert_int_equal(mt.stats.ambiguous, 2);
}

static void test_id_match_out_of_order(void **st)
{
	(void)st;
	uint16_t f;
	match_push(&mt, &q, 0xaa, 10, &ids[1]);
	match_push(&mt, &q, 0xbb, 11, &ids[2]);
	match_push(&mt, &q, 0xcc, 12, &ids[3]);
	assert_int_equal(popi(&q, 0xbb, &f), 2);
	assert_int_equal(f, 0); /* ids make pipelining unambiguous */
	assert_int_equal(popi(&q, 0xcc, &f), 3);
	assert_int_equal(popi(&q, 0xaa, &f), 1);
	assert_int_equal(popi(&q, 0xdd, &f), -1);
	assert_int_equal(mt.stats.matched_id, 3);
}

static void test_id_duplicate_is_ambiguous(void **st)
{
	(void)st;
	uint16_t f;
	match_push(&mt, &q, 0xaa, 10, &ids[1]);
	match_push(&mt, &q, 0xaa, 11, &ids[2]);
	assert_int_equal(popi(&q, 0xaa, &f), 1); /* oldest first */
	assert_true(f & LK_F_AMBIGUOUS);
	assert_int_equal(popi(&q, 0xaa, &f), 2);
	assert_false(f & LK_F_AMBIGUOUS);
}

static void test_timeout_keeps_fifo_order(void **st)
{
	(void)st;
	uint16_t f;
	match_push(&mt, &q, 0, 100, &ids[1]);
	match_push(&mt, &q, 0, 1500, &ids[2]);
	match_expire(&mt, 1100);
	assert_int_equal(ended[1], 1);
	assert_int_equal(why_ended[1], MATCH_R_TIMEOUT);
	assert_int_equal(ended[2], 0);
	/* The late response to 1 must not be taken as 2's. */
	assert_int_equal(popi(&q, 0, &f), -1);
	assert_true(f & LK_F_LATE);
	assert_int_equal(popi(&q, 0, &f), 2);
	assert_int_equal(mt.stats.timeouts, 1);
	assert_int_equal(mt.stats.late, 1);
}

static void test_detach_tombstone(void **st)
{
	(void)st;
	uint16_t f;
	struct match_entry *e = match_push(&mt, &q, 0, 100, &ids[1]);
	match_push(&mt, &q, 0, 101, &ids[2]);
	match_detach(&mt, e);
	match_expire(&mt, 5000); /* the detached one is not reported */
	assert_int_equal(ended[1], 0);
	assert_int_equal(ended[2], 1);
	assert_int_equal(popi(&q, 0, &f), -1);
	assert_int_equal(mt.stats.orphan_hits, 1);
}

static void test_queue_cap_evicts_oldest(void **st)
{
	(void)st;
	uint16_t f;
	for (int i = 1; i <= 5; i++)
		match_push(&mt, &q, 0, (uint64_t)i, &ids[i]);
	assert_int_equal(ended[1], 1);
	assert_int_equal(why_ended[1], MATCH_R_EVICTED);
	assert_int_equal(q.n, 4);
	assert_int_equal(mt.stats.evicted_queue, 1);
	assert_int_equal(popi(&q, 0, &f), 2);
}

static void test_total_cap_evicts_globally_oldest(void **st)
{
	(void)st;
	for (int i = 1; i <= 4; i++)
		match_push(&mt, &q, 0, (uint64_t)i, &ids[i]);
	match_push(&mt, &q2, 0, 10, &ids[10]);
	match_push(&mt, &q2, 0, 11, &ids[11]);
	assert_int_equal(mt.stats.live, 6);
	match_push(&mt, &q2, 0, 12, &ids[12]);
	assert_int_equal(mt.stats.live, 6);
	assert_int_equal(ended[1], 1);
	assert_int_equal(mt.stats.evicted_total, 1);
}

static void test_close_ends_waiting(void **st)
{
	(void)st;
	uint16_t f;
	match_push(&mt, &q, 0, 1, &ids[1]);
	match_push(&mt, &q, 0, 2, &ids[2]);
	match_expire(&mt, 1001); /* 1 is a tombstone: not reported twice */
	match_close(&mt, &q);
	assert_int_equal(ended[1], 1);
	assert_int_equal(why_ended[1], MATCH_R_TIMEOUT);
	assert_int_equal(ended[2], 1);
	assert_int_equal(why_ended[2], MATCH_R_CLOSED);
	assert_int_equal(q.n, 0);
	assert_int_equal(mt.stats.live, 0);
	/* a reused connection (same queue) starts clean */
	match_push(&mt, &q, 0, 3000, &ids[3]);
	assert_int_equal(popi(&q, 0, &f), 3);
	assert_int_equal(f, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fifo_single_not_ambiguous, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fifo_pipelined_is_ambiguous, setup, teardown),
		cmocka_unit_test_setup_teardown(test_id_match_out_of_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_id_duplicate_is_ambiguous, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout_keeps_fifo_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_detach_tombstone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_cap_evicts_oldest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_total_cap_evicts_globally_oldest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_ends_waiting, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
