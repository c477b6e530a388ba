/* Panorama's inference rules: every example of the reference, plus edge cases, through
 * the pure functions and through the store (names, caching, no mutation). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "inference.h"
#include "store.h"

/* --- helpers: one observation = "metric:status:score ..." ------------------------ */

static void mkreport(struct insitu_report *r, const char *observer, const char *subject,
		     uint64_t ts, const char *specs)
{
	char buf[512], *tok, *save = NULL, err[256];

	memset(r, 0, sizeof *r);
	snprintf(r->observer, sizeof r->observer, "%s", observer);
	snprintf(r->subject, sizeof r->subject, "%s", subject);
	r->obs.ts_us = ts;
	snprintf(buf, sizeof buf, "%s", specs);
	for (tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		struct insitu_metric m;
		assert_int_equal(insitu_metric_parse_spec(tok, &m, err, sizeof err), 0);
		assert_int_equal(insitu_obs_set(&r->obs, m.name, m.value.status, m.value.score), 0);
	}
}

/* Feeds one observer's observations (oldest first) and returns the subject. */
static struct subject *feed(struct store *s, const char *observer, const char *subject,
			    const char *const *obs, unsigned n)
{
	struct insitu_report r;
	for (unsigned i = 0; i < n; i++) {
		mkreport(&r, observer, subject, 1000 + i, obs[i]);
		assert_true(store_add(s, &r, 0, NULL, NULL) != 0);
	}
	return store_infer(s, store_subject(s, subject));
}

static const struct obs_metric *metric(const struct store *s, const struct subject *sj, const char *name)
{
	for (unsigned i = 0; i < sj->inf_n; i++)
		if (!strcmp(store_metric_name(s, sj->inf[i].metric), name))
			return &sj->inf[i];
	return NULL;
}

static void expect(const struct store *s, const struct subject *sj, const char *name,
		   enum insitu_status st, double score)
{
	const struct obs_metric *m = metric(s, sj, name);
	assert_non_null(m);
	assert_int_equal(m->status, st);
	assert_true(m->score > score - 1e-9 && m->score < score + 1e-9);
}

#define ONE_VIEW(...)                                                                   \
	struct store s;                                                                 \
	static const char *const o[] = {__VA_ARGS__};                                   \
	store_init(&s);                                                                 \
	struct subject *sj = feed(&s, "obs", "subj", o, sizeof o / sizeof o[0])

/* --- the reference's examples --------------------------------------------------- */

static void ex_healthy_mean_of_two(void **st)
{
	ONE_VIEW("cpu:h:100", "cpu:h:90", "cpu:h:70");
	expect(&s, sj, "cpu", INSITU_HEALTHY, 80);
	store_fini(&s);
}

static void ex_unhealthy_lookback_stops(void **st)
{
	ONE_VIEW("cpu:h:80", "cpu:u:30", "cpu:u:10");
	expect(&s, sj, "cpu", INSITU_UNHEALTHY, 20);
	store_fini(&s);
}

static void ex_pending_resolved(void **st)
{
	ONE_VIEW("rd:p:50", "rd:h:90");
	expect(&s, sj, "rd", INSITU_HEALTHY, 90);
	store_fini(&s);
}

static void ex_pending_newest(void **st)
{
	ONE_VIEW("x:h:90", "x:p:40");
	expect(&s, sj, "x", INSITU_PENDING, 40);
	store_fini(&s);
}

static void ex_two_observers_tie_severe(void **st)
{
	struct store s;
	static const char *const a[] = {"mem:u:30"}, *const b[] = {"mem:h:60"};
	store_init(&s);
	feed(&s, "o1", "subj", a, 1);
	struct subject *sj = feed(&s, "o2", "subj", b, 1);
	expect(&s, sj, "mem", INSITU_UNHEALTHY, 45);
	assert_int_equal(sj->overall, 0);
	store_fini(&s);
}

/* --- stage A edge cases --------------------------------------------------------- */

static void a_single_value(void **st)
{
	ONE_VIEW("cpu:u:30");
	expect(&s, sj, "cpu", INSITU_UNHEALTHY, 30);
	store_fini(&s);
}

static void a_pending_then_healthy_counts_older_healthy(void **st)
{
	/* newest H90, P skipped (not counted), then H70 counted: (90+70)/2 */
	ONE_VIEW("rd:h:70", "rd:p:10", "rd:h:90");
	expect(&s, sj, "rd", INSITU_HEALTHY, 80);
	store_fini(&s);
}

static void a_many_pendings_resolved(void **st)
{
	ONE_VIEW("rd:h:50", "rd:p:1", "rd:p:2", "rd:p:3", "rd:h:90");
	expect(&s, sj, "rd", INSITU_HEALTHY, 70);
	store_fini(&s);
}

static void a_pending_not_resolved_by_unhealthy(void **st)
{
	/* only HEALTHY resolves an older PENDING; UNHEALTHY stops at it */
	ONE_VIEW("x:u:10", "x:p:50", "x:u:30");
	expect(&s, sj, "x", INSITU_UNHEALTHY, 30);
	store_fini(&s);
}

static void a_two_pendings_average(void **st)
{
	ONE_VIEW("x:p:20", "x:p:40");
	expect(&s, sj, "x", INSITU_PENDING, 30);
	store_fini(&s);
}

static void a_lookback_at_most_two(void **st)
{
	ONE_VIEW("x:m:10", "x:m:20", "x:m:30", "x:m:40");
	expect(&s, sj, "x", INSITU_MAYBE_UNHEALTHY, 35);
	store_fini(&s);
}

static void a_different_status_stops_even_if_same_later(void **st)
{
	/* U50 <- H10 stops; the older U90 is not reached */
	ONE_VIEW("x:u:90", "x:h:10", "x:u:50");
	expect(&s, sj, "x", INSITU_UNHEALTHY, 50);
	store_fini(&s);
}

static void a_metric_carry_over(void **st)
{
	/* snap appears only in an older observation: taken from there */
	ONE_VIEW("snap:u:20 cpu:h:90", "cpu:h:70", "cpu:h:80");
	expect(&s, sj, "snap", INSITU_UNHEALTHY, 20);
	expect(&s, sj, "cpu", INSITU_HEALTHY, 75);
	assert_int_equal(sj->inf_n, 2);
	store_fini(&s);
}

static void a_independent_metrics(void **st)
{
	ONE_VIEW("a:h:100 b:u:0", "a:h:50 b:u:20");
	expect(&s, sj, "a", INSITU_HEALTHY, 75);
	expect(&s, sj, "b", INSITU_UNHEALTHY, 10);
	store_fini(&s);
}

static void a_view_time_is_newest(void **st)
{
	const struct obs_metric m1 = {1, INSITU_HEALTHY, 10};
	struct obs *o[2];
	struct obs_metric out[4];
	uint64_t ts;

	for (int i = 0; i < 2; i++) {
		o[i] = malloc(sizeof *o[i] + sizeof m1);
		o[i]->n = 1;
		o[i]->m[0] = m1;
		o[i]->id = (uint64_t)i + 1;
	}
	o[0]->ts_us = 500; /* arrival order decides "newest", not the clock */
	o[1]->ts_us = 200;
	assert_int_equal(infer_view((const struct obs *const *)o, 2, out, 4, &ts), 1);
	assert_int_equal(ts, 200);
	assert_int_equal(infer_view((const struct obs *const *)o, 0, out, 4, &ts), 0);
	free(o[0]);
	free(o[1]);
}

/* --- stage B edge cases --------------------------------------------------------- */

static struct subject *multi(struct store *s, const char *const *last, unsigned n)
{
	char name[16];
	struct subject *sj = NULL;
	for (unsigned i = 0; i < n; i++) {
		snprintf(name, sizeof name, "o%u", i);
		sj = feed(s, name, "subj", &last[i], 1);
	}
	return sj;
}

static void b_majority_wins_mean_of_all(void **st)
{
	struct store s;
	static const char *const v[] = {"m:h:90", "m:h:80", "m:u:10"};
	store_init(&s);
	struct subject *sj = multi(&s, v, 3);
	expect(&s, sj, "m", INSITU_HEALTHY, 60); /* minority's score counts too */
	store_fini(&s);
}

static void b_three_way_tie_most_severe(void **st)
{
	struct store s;
	static const char *const v[] = {"m:h:90", "m:d:0", "m:p:30"};
	store_init(&s);
	struct subject *sj = multi(&s, v, 3);
	expect(&s, sj, "m", INSITU_DYING, 40);
	store_fini(&s);
}

static void b_tie_of_pairs(void **st)
{
	struct store s;
	static const char *const v[] = {"m:m:40", "m:h:100", "m:m:40", "m:h:100", "m:n:0"};
	store_init(&s);
	struct subject *sj = multi(&s, v, 5);
	expect(&s, sj, "m", INSITU_MAYBE_UNHEALTHY, 56);
	store_fini(&s);
}

static void b_metric_seen_by_some_views(void **st)
{
	struct store s;
	static const char *const v[] = {"a:h:90", "a:h:70 b:u:10"};
	store_init(&s);
	struct subject *sj = multi(&s, v, 2);
	expect(&s, sj, "a", INSITU_HEALTHY, 80);
	expect(&s, sj, "b", INSITU_UNHEALTHY, 10);
	assert_string_equal(store_metric_name(&s, sj->inf[sj->overall].metric), "b");
	store_fini(&s);
}

static void b_time_is_newest_view(void **st)
{
	struct view_summary vs[3];
	struct obs_metric a = {0, INSITU_HEALTHY, 10}, b = {0, INSITU_DEAD, 0}, out[4], scratch[4];
	uint64_t ts;

	vs[0] = (struct view_summary){.ts_us = 30, .n = 1, .m = &a};
	vs[1] = (struct view_summary){.ts_us = 90, .n = 1, .m = &b};
	vs[2] = (struct view_summary){.ts_us = 999, .n = 0, .m = NULL}; /* empty: skipped */
	assert_int_equal(infer_panorama(vs, 3, out, 4, scratch, &ts), 1);
	assert_int_equal(ts, 90);
	assert_int_equal(out[0].status, INSITU_DEAD);
	assert_int_equal(infer_panorama(vs + 2, 1, out, 4, scratch, &ts), 0);
}

/* --- overall (insitu's addition) ------------------------------------------------ */

static void overall_most_severe_then_lowest_score(void **st)
{
	struct obs_metric m[] = {{0, INSITU_UNHEALTHY, 30}, {1, INSITU_HEALTHY, 0},
				 {2, INSITU_UNHEALTHY, 20}, {3, INSITU_PENDING, 0}};
	assert_int_equal(infer_overall(m, 4, NULL, NULL), 2);
	assert_int_equal(infer_overall(m, 0, NULL, NULL), -1);
	m[0].score = 20; /* tie on status and score: lower id */
	assert_int_equal(infer_overall(m, 4, NULL, NULL), 0);
}

/* --- inference never changes stored data; repeated inference is stable --------- */

static void no_mutation_and_stable(void **st)
{
	ONE_VIEW("cpu:h:100", "cpu:h:90", "cpu:h:70");
	const struct view *v = store_view(sj, store_observer_id(&s, "obs"));
	for (int i = 0; i < 5; i++) {
		sj->dirty = 1;
		((struct view *)v)->dirty = 1;
		store_infer(&s, sj);
		expect(&s, sj, "cpu", INSITU_HEALTHY, 80);
	}
	assert_true(v->obs[0]->m[0].score == 100 && v->obs[1]->m[0].score == 90 &&
		    v->obs[2]->m[0].score == 70);
	store_fini(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ex_healthy_mean_of_two),
		cmocka_unit_test(ex_unhealthy_lookback_stops),
		cmocka_unit_test(ex_pending_resolved),
		cmocka_unit_test(ex_pending_newest),
		cmocka_unit_test(ex_two_observers_tie_severe),
		cmocka_unit_test(a_single_value),
		cmocka_unit_test(a_pending_then_healthy_counts_older_healthy),
		cmocka_unit_test(a_many_pendings_resolved),
		cmocka_unit_test(a_pending_not_resolved_by_unhealthy),
		cmocka_unit_test(a_two_pendings_average),
		cmocka_unit_test(a_lookback_at_most_two),
		cmocka_unit_test(a_different_status_stops_even_if_same_later),
		cmocka_unit_test(a_metric_carry_over),
		cmocka_unit_test(a_independent_metrics),
		cmocka_unit_test(a_view_time_is_newest),
		cmocka_unit_test(b_majority_wins_mean_of_all),
		cmocka_unit_test(b_three_way_tie_most_severe),
		cmocka_unit_test(b_tie_of_pairs),
		cmocka_unit_test(b_metric_seen_by_some_views),
		cmocka_unit_test(b_time_is_newest_view),
		cmocka_unit_test(overall_most_severe_then_lowest_score),
		cmocka_unit_test(no_mutation_and_stable),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
