/* The Local Observation Store: per-view cap, arrival order, latest report, watch
 * list, garbage collection (absolute / relative) with re-inference, retention. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "hold.h"
#include "registry.h"
#include "store.h"
#include "strmap.h"

static void add(struct store *s, const char *obs, const char *subj, uint64_t ts, const char *metric,
		enum insitu_status st, double score, void (*drop)(uint64_t, void *), void *ctx)
{
	struct insitu_report r;
	memset(&r, 0, sizeof r);
	snprintf(r.observer, sizeof r.observer, "%s", obs);
	snprintf(r.subject, sizeof r.subject, "%s", subj);
	r.obs.ts_us = ts;
	assert_int_equal(insitu_obs_set(&r.obs, metric, st, score), 0);
	assert_true(store_add(s, &r, 0, drop, ctx) != 0);
}

static uint64_t dropped[64];
static unsigned ndropped;
static void on_drop(uint64_t id, void *ctx) { dropped[ndropped++ % 64] = id; }

static void cap_keeps_ten_newest(void **st)
{
	struct store s;
	store_init(&s);
	ndropped = 0;
	for (int i = 0; i < 15; i++)
		add(&s, "o", "x", 100 + (uint64_t)i, "m", INSITU_HEALTHY, i, on_drop, NULL);
	const struct view *v = store_view(store_subject(&s, "x"), store_observer_id(&s, "o"));
	assert_int_equal(v->n, 10);
	assert_int_equal(v->obs[0]->ts_us, 105);
	assert_int_equal(v->obs[9]->ts_us, 114);
	assert_int_equal(ndropped, 5);
	assert_int_equal(dropped[0], 1);
	assert_int_equal(s.nobs, 10);
	assert_int_equal(s.st.evicted_cap, 5);
	store_fini(&s);
}

static void latest_report_by_arrival(void **st)
{
	struct store s;
	const struct view *v = NULL;
	store_init(&s);
	add(&s, "a", "x", 500, "m", INSITU_HEALTHY, 1, NULL, NULL);
	add(&s, "b", "x", 100, "m", INSITU_DEAD, 2, NULL, NULL);
	struct subject *sj = store_subject(&s, "x");
	const struct obs *o = store_latest(sj, UINT32_MAX, &v);
	assert_non_null(o);
	assert_string_equal(store_observer_name(&s, v->observer), "b");
	o = store_latest(sj, store_observer_id(&s, "a"), &v);
	assert_int_equal(o->ts_us, 500);
	struct insitu_report r;
	store_obs_to_report(&s, sj, v, o, &r);
	assert_string_equal(r.observer, "a");
	assert_string_equal(r.subject, "x");
	assert_string_equal(r.obs.metrics[0].name, "m");
	assert_null(store_subject(&s, "nope"));
	store_fini(&s);
}

static void query_sees_report_at_once(void **st)
{
	struct store s;
	store_init(&s);
	add(&s, "a", "x", 1, "m", INSITU_HEALTHY, 90, NULL, NULL);
	struct subject *sj = store_infer(&s, store_subject(&s, "x"));
	assert_int_equal(sj->inf[0].status, INSITU_HEALTHY);
	add(&s, "a", "x", 2, "m", INSITU_DEAD, 0, NULL, NULL);
	sj = store_infer(&s, store_subject(&s, "x"));
	assert_int_equal(sj->inf[0].status, INSITU_DEAD);
	store_fini(&s);
}

static void watch_list(void **st)
{
	struct store s;
	store_init(&s);
	assert_false(store_watched(&s, "x"));
	assert_int_equal(store_watch(&s, "x"), 1);
	assert_int_equal(store_watch(&s, "x"), 0);
	assert_true(store_watched(&s, "x"));
	assert_int_equal(store_unwatch(&s, "x"), 1);
	assert_int_equal(store_unwatch(&s, "x"), 0);
	assert_false(store_watched(&s, "x"));
	store_fini(&s);
}

static void gc_absolute_empties_view(void **st)
{
	struct store s;
	store_init(&s);
	add(&s, "a", "x", 100, "m", INSITU_UNHEALTHY, 10, NULL, NULL);
	add(&s, "a", "x", 200, "m", INSITU_HEALTHY, 90, NULL, NULL);
	add(&s, "b", "y", 900, "m", INSITU_HEALTHY, 90, NULL, NULL);
	store_infer(&s, store_subject(&s, "x"));
	/* now 1000, ttl 850: keep >= 150 */
	assert_int_equal(store_gc(&s, GC_ABSOLUTE, 1000, 850, NULL, NULL), 1);
	struct subject *x = store_infer(&s, store_subject(&s, "x"));
	assert_int_equal(x->inf_n, 1);
	assert_int_equal(x->inf[0].status, INSITU_HEALTHY);
	/* ttl 50: x's view empties, x has no inference; y stays */
	assert_int_equal(store_gc(&s, GC_ABSOLUTE, 1000, 150, NULL, NULL), 1);
	x = store_infer(&s, store_subject(&s, "x"));
	assert_int_equal(x->inf_n, 0);
	assert_int_equal(store_infer(&s, store_subject(&s, "y"))->inf_n, 1);
	assert_int_equal(store_gc(&s, GC_OFF, 1000, 0, NULL, NULL), 0);
	store_fini(&s);
}

static void gc_relative_keeps_newest(void **st)
{
	struct store s;
	store_init(&s);
	add(&s, "a", "x", 100, "m", INSITU_UNHEALTHY, 10, NULL, NULL);
	add(&s, "a", "x", 150, "m", INSITU_UNHEALTHY, 30, NULL, NULL);
	add(&s, "a", "x", 200, "m", INSITU_UNHEALTHY, 50, NULL, NULL);
	/* ttl 60 relative to the newest (200): keeps 150 and 200 whatever "now" is */
	assert_int_equal(store_gc(&s, GC_RELATIVE, 999999, 60, NULL, NULL), 1);
	struct subject *x = store_infer(&s, store_subject(&s, "x"));
	assert_int_equal(x->views[0].n, 2);
	assert_true(x->inf[0].score == 40);
	/* ttl 0: only the newest stays, never empty */
	assert_int_equal(store_gc(&s, GC_RELATIVE, 999999, 0, NULL, NULL), 1);
	x = store_infer(&s, x);
	assert_int_equal(x->views[0].n, 1);
	assert_true(x->inf[0].score == 50);
	store_fini(&s);
}

static void retention_by_id(void **st)
{
	struct store s;
	uint64_t ids[16];
	store_init(&s);
	for (int i = 0; i < 6; i++)
		add(&s, i % 2 ? "a" : "b", "x", (uint64_t)i, "m", INSITU_HEALTHY, 1, NULL, NULL);
	assert_int_equal(store_collect_ids(&s, ids, 16), 6);
	assert_int_equal(store_trim_ids_below(&s, 4, NULL, NULL), 3);
	assert_int_equal(s.nobs, 3);
	assert_int_equal(store_collect_ids(&s, ids, 16), 3);
	store_fini(&s);
}

static void strmap_many(void **st)
{
	struct strmap m;
	char k[32];
	strmap_init(&m);
	for (int i = 0; i < 5000; i++) {
		snprintf(k, sizeof k, "k%d", i);
		assert_int_equal(strmap_put(&m, k, (void *)(uintptr_t)(i + 1)), 0);
	}
	for (int i = 0; i < 5000; i += 2) {
		snprintf(k, sizeof k, "k%d", i);
		assert_true(strmap_del(&m, k) == (void *)(uintptr_t)(i + 1));
	}
	for (int i = 0; i < 20000; i++) { /* churn through tombstones */
		snprintf(k, sizeof k, "t%d", i);
		strmap_put(&m, k, NULL);
		strmap_del(&m, k);
	}
	assert_int_equal(strmap_size(&m), 2500);
	for (int i = 0; i < 5000; i++) {
		snprintf(k, sizeof k, "k%d", i);
		assert_int_equal(strmap_has(&m, k), i % 2);
	}
	size_t n = 0;
	for (size_t it = 0; (it = strmap_next(&m, it, NULL, NULL));)
		n++;
	assert_int_equal(n, 2500);
	strmap_free(&m);
}

static unsigned released;
static char last_released[INSITU_NAME_MAX];
static void on_release(const struct insitu_report *r, void *ctx)
{
	released++;
	snprintf(last_released, sizeof last_released, "%s", r->observer);
}

static void hold_bounds_expiry_release(void **st)
{
	struct hold h;
	struct insitu_report r;
	memset(&r, 0, sizeof r);
	strcpy(r.subject, "x");
	hold_init(&h);
	for (int i = 0; i < HOLD_PER_SUBJECT + 5; i++) {
		snprintf(r.observer, sizeof r.observer, "o%d", i);
		hold_add(&h, &r, 1000 + (uint64_t)i);
	}
	assert_int_equal(h.total, HOLD_PER_SUBJECT);
	assert_int_equal(h.overflow, 5);
	strcpy(r.subject, "y");
	hold_add(&h, &r, 1000);
	/* x holds o5..o64 (added at 1005..1064; o0..o4 made room), y one added at 1000:
	 * at 1009 + TTL, o5..o9 and y's have expired */
	hold_expire(&h, 1009 + HOLD_TTL_MS);
	assert_int_equal(h.expired, 6);
	released = 0;
	assert_int_equal(hold_release(&h, "x", on_release, NULL), HOLD_PER_SUBJECT - 5);
	assert_string_equal(last_released, "o64"); /* oldest first, newest last */
	assert_int_equal(hold_release(&h, "x", on_release, NULL), 0);
	assert_int_equal(hold_release(&h, "y", on_release, NULL), 0); /* expired */
	assert_int_equal(h.total, 0);
	hold_fini(&h);
}

static void registry_handles(void **st)
{
	struct registry r;
	int is_new;
	registry_init(&r);
	assert_int_equal(registry_add(&r, "m", "a", &is_new), 10000);
	assert_true(is_new);
	assert_int_equal(registry_add(&r, "m", "b", &is_new), 10001);
	assert_int_equal(registry_add(&r, "m", "a", &is_new), 10000);
	assert_false(is_new);
	assert_int_equal(registry_add(&r, "n", "a", &is_new), 10002); /* pair, not name */
	assert_string_equal(registry_get(&r, 10001)->name, "b");
	assert_null(registry_get(&r, 9999));
	assert_null(registry_get(&r, 10003));
	assert_int_equal(registry_restore(&r, 10005, "x", "y"), -1); /* not contiguous */
	assert_int_equal(registry_restore(&r, 10003, "x", "y"), 0);
	registry_fini(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cap_keeps_ten_newest),
		cmocka_unit_test(latest_report_by_arrival),
		cmocka_unit_test(query_sees_report_at_once),
		cmocka_unit_test(watch_list),
		cmocka_unit_test(gc_absolute_empties_view),
		cmocka_unit_test(gc_relative_keeps_newest),
		cmocka_unit_test(retention_by_id),
		cmocka_unit_test(strmap_many),
		cmocka_unit_test(hold_bounds_expiry_release),
		cmocka_unit_test(registry_handles),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
