/* Health windows: judgement of each metric, window emission, absence, recovery,
 * bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "health.h"

#define MS 1000000ull
#define SEC 1000000000ull

static struct insitu_report got[64];
static int ngot;

static void emit(const struct insitu_report *r, void *arg)
{
	(void)arg;
	if (ngot < 64)
		got[ngot++] = *r;
}

static const struct insitu_metric *metric(const struct insitu_report *r, const char *name)
{
	for (unsigned i = 0; i < r->obs.n_metrics; i++)
		if (!strcmp(r->obs.metrics[i].name, name))
			return &r->obs.metrics[i];
	return NULL;
}

static struct health *mk(struct health_cfg *c)
{
	health_cfg_defaults(c);
	ngot = 0;
	return health_new(c, emit, NULL);
}

static const char *A = "client@h1", *B = "server@h2:80", *C = "db@h3:6379";

static void test_judge_latency(void **st)
{
	struct health_cfg c;
	health_cfg_defaults(&c);
	(void)st;
	/* below the floor (20 ms) nothing is slow, whatever the ratio */
	assert_int_equal(health_judge_latency(&c, 15 * MS, 10000).status, INSITU_HEALTHY);
	/* no baseline yet: healthy unless an objective says otherwise */
	assert_int_equal(health_judge_latency(&c, 500 * MS, 0).status, INSITU_HEALTHY);
	c.objective_ns = 100 * MS;
	assert_int_equal(health_judge_latency(&c, 500 * MS, 0).status, INSITU_UNHEALTHY);
	c.objective_ns = 0;
	/* against a 30 ms baseline: 2x fine, 4x maybe, 13x unhealthy */
	assert_int_equal(health_judge_latency(&c, 60 * MS, 30 * MS).status, INSITU_HEALTHY);
	assert_int_equal(health_judge_latency(&c, 120 * MS, 30 * MS).status, INSITU_MAYBE_UNHEALTHY);
	struct insitu_value v = health_judge_latency(&c, 400 * MS, 30 * MS);
	assert_int_equal(v.status, INSITU_UNHEALTHY);
	assert_true(v.score < 20);
	/* a microsecond baseline is lifted to the floor: 30 ms is not "30000x slower" */
	assert_int_equal(health_judge_latency(&c, 30 * MS, 1000).status, INSITU_HEALTHY);
	/* a 200 ms fault on a ~1 ms service clears the floor by 10x */
	assert_int_equal(health_judge_latency(&c, 201 * MS, 1 * MS).status, INSITU_UNHEALTHY);
}

static void test_judge_errors(void **st)
{
	struct health_cfg c;
	health_cfg_defaults(&c);
	(void)st;
	assert_int_equal(health_judge_errors(&c, 0, 100).status, INSITU_HEALTHY);
	assert_int_equal(health_judge_errors(&c, 10, 100).status, INSITU_MAYBE_UNHEALTHY);
	/* one failure among 14 is noise (7 %: no longer MAYBE); one among 3 is not */
	assert_int_equal(health_judge_errors(&c, 1, 14).status, INSITU_HEALTHY);
	assert_int_equal(health_judge_errors(&c, 2, 14).status, INSITU_MAYBE_UNHEALTHY);
	assert_int_equal(health_judge_errors(&c, 1, 3).status, INSITU_UNHEALTHY);
	struct insitu_value v = health_judge_errors(&c, 50, 100);
	assert_int_equal(v.status, INSITU_UNHEALTHY);
	assert_true(v.score > 49.9 && v.score < 50.1);
}

/* Healthy traffic learns a baseline; a 200 ms slowdown is UNHEALTHY in the very
 * next window; recovery answers with HEALTHY latency. */
static void test_slowdown_and_recovery(void **st)
{
	struct health_cfg c;
	struct health *h = mk(&c);
	uint64_t t = 100 * SEC;
	(void)st;
	for (int w = 0; w < 5; w++, t += SEC)
		for (int i = 0; i < 50; i++)
			health_exchange(h, A, B, t + i * MS, 3 * MS, HEALTH_OK);
	health_tick(h, t);
	assert_int_equal(ngot, 5);
	for (int i = 0; i < 5; i++)
		assert_int_equal(metric(&got[i], "latency")->value.status, INSITU_HEALTHY);
	ngot = 0;
	for (int i = 0; i < 20; i++)
		health_exchange(h, A, B, t + i * MS, 203 * MS, HEALTH_OK);
	t += SEC;
	health_tick(h, t);
	assert_int_equal(ngot, 1);
	assert_string_equal(got[0].observer, A);
	assert_string_equal(got[0].subject, B);
	assert_int_equal(metric(&got[0], "latency")->value.status, INSITU_UNHEALTHY);
	assert_int_equal(metric(&got[0], "errors")->value.status, INSITU_HEALTHY);
	assert_int_equal(metric(&got[0], "timeouts")->value.status, INSITU_HEALTHY);
	assert_int_equal(metric(&got[0], "connect")->value.status, INSITU_HEALTHY);
	/* the fault was not learned as the new normal */
	ngot = 0;
	for (int i = 0; i < 20; i++)
		health_exchange(h, A, B, t + i * MS, 3 * MS, HEALTH_OK);
	health_tick(h, t + SEC);
	assert_int_equal(ngot, 1);
	assert_int_equal(metric(&got[0], "latency")->value.status, INSITU_HEALTHY);
	health_free(h);
}

/* Windows without traffic report nothing, and pairs are independent. */
static void test_absence_is_not_health(void **st)
{
	struct health_cfg c;
	struct health *h = mk(&c);
	(void)st;
	health_exchange(h, A, B, 10 * SEC, 1 * MS, HEALTH_OK);
	health_exchange(h, B, C, 10 * SEC + 5, 1 * MS, HEALTH_FAILED);
	assert_int_equal(health_tick(h, 10 * SEC + 500 * MS), 0); /* window still open */
	assert_int_equal(health_tick(h, 11 * SEC), 2);
	assert_int_equal(health_tick(h, 20 * SEC), 0); /* nine silent windows */
	assert_int_equal(ngot, 2);
	const struct insitu_report *bc = !strcmp(got[0].observer, B) ? &got[0] : &got[1];
	assert_int_equal(metric(bc, "errors")->value.status, INSITU_UNHEALTHY);
	assert_int_equal(health_stats(h)->reports, 2);
	health_free(h);
}

/* Requests that wait: PENDING past the expected time, UNHEALTHY past the timeout. */
static void test_waiting_requests(void **st)
{
	struct health_cfg c;
	struct health *h = mk(&c);
	(void)st;
	health_exchange(h, A, B, 5 * SEC, 1 * MS, HEALTH_OK);
	health_waiting(h, A, B, 6 * SEC, 100 * MS); /* not yet past expected: ignored */
	health_waiting(h, A, B, 6 * SEC, 400 * MS);
	health_tick(h, 6 * SEC);
	assert_int_equal(ngot, 1);
	assert_int_equal(metric(&got[0], "timeouts")->value.status, INSITU_PENDING);
	ngot = 0;
	health_waiting(h, A, B, 7 * SEC, 1400 * MS);
	health_tick(h, 7 * SEC);
	assert_int_equal(ngot, 1);
	assert_int_equal(metric(&got[0], "timeouts")->value.status, INSITU_UNHEALTHY);
	/* no exchange completed: no latency, errors or connect claim */
	assert_null(metric(&got[0], "latency"));
	assert_null(metric(&got[0], "errors"));
	assert_null(metric(&got[0], "connect"));
	health_free(h);
}

static void test_connection_signals(void **st)
{
	struct health_cfg c;
	struct health *h = mk(&c);
	(void)st;
	health_signal(h, A, B, 3 * SEC, HEALTH_SIG_REFUSED);
	health_signal(h, A, C, 3 * SEC, HEALTH_SIG_RESET);
	for (int i = 0; i < 5; i++)
		health_signal(h, B, C, 3 * SEC, HEALTH_SIG_RETRANSMIT);
	health_tick(h, 4 * SEC);
	assert_int_equal(ngot, 3);
	for (int i = 0; i < 3; i++) {
		const struct insitu_report *r = &got[i];
		if (!strcmp(r->subject, B))
			assert_int_equal(metric(r, "connect")->value.status, INSITU_DEAD);
		else if (!strcmp(r->observer, A))
			assert_int_equal(metric(r, "connect")->value.status, INSITU_UNHEALTHY);
		else
			assert_int_equal(metric(r, "retransmits")->value.status, INSITU_MAYBE_UNHEALTHY);
	}
	health_free(h);
}

/* Everyone slow at once is the observing host stalling: latency is not blamed on
 * anyone that window (and counted); one slow subject among many still is. */
static void test_host_stall(void **st)
{
	struct health_cfg c;
	struct health *h = mk(&c);
	static const char *subj[4] = {"s0@h:1", "s1@h:1", "s2@h:1", "s3@h:1"};
	uint64_t t = 10 * SEC;
	(void)st;
	for (int w = 0; w < 4; w++, t += SEC)
		for (int k = 0; k < 4; k++)
			for (int i = 0; i < 10; i++)
				health_exchange(h, A, subj[k], t + i * MS, 2 * MS, HEALTH_OK);
	health_tick(h, t);
	ngot = 0;
	for (int k = 0; k < 4; k++) /* a stall: all four slow */
		for (int i = 0; i < 10; i++)
			health_exchange(h, A, subj[k], t + i * MS, 500 * MS, HEALTH_OK);
	t += SEC;
	health_tick(h, t);
	assert_int_equal(ngot, 4);
	for (int i = 0; i < 4; i++) {
		assert_null(metric(&got[i], "latency"));
		assert_int_equal(metric(&got[i], "errors")->value.status, INSITU_HEALTHY);
	}
	assert_int_equal(health_stats(h)->host_stalls, 1);
	ngot = 0;
	for (int k = 0; k < 4; k++) /* one slow subject */
		for (int i = 0; i < 10; i++)
			health_exchange(h, A, subj[k], t + i * MS, k == 2 ? 500 * MS : 2 * MS, HEALTH_OK);
	health_tick(h, t + SEC);
	assert_int_equal(ngot, 4);
	for (int i = 0; i < 4; i++)
		assert_int_equal(metric(&got[i], "latency")->value.status,
				 !strcmp(got[i].subject, subj[2]) ? INSITU_UNHEALTHY : INSITU_HEALTHY);
	assert_int_equal(health_stats(h)->host_stalls, 1);
	health_free(h);
}

/* One or two exchanges are not enough to call a subject UNHEALTHY. */
static void test_sparse_window(void **st)
{
	struct health_cfg c;
	struct health *h = mk(&c);
	uint64_t t = 10 * SEC;
	(void)st;
	for (int w = 0; w < 4; w++, t += SEC)
		health_exchange(h, A, B, t, 2 * MS, HEALTH_OK);
	health_tick(h, t);
	ngot = 0;
	health_exchange(h, A, B, t, 900 * MS, HEALTH_OK);
	health_tick(h, t + SEC);
	assert_int_equal(ngot, 1);
	assert_int_equal(metric(&got[0], "latency")->value.status, INSITU_MAYBE_UNHEALTHY);
	health_free(h);
}

/* The pair table is bounded: evidence beyond it is dropped and counted. */
static void test_pair_bound(void **st)
{
	struct health_cfg c;
	static char names[10][16];
	(void)st;
	health_cfg_defaults(&c);
	c.max_pairs = 4;
	ngot = 0;
	struct health *h = health_new(&c, emit, NULL);
	for (int i = 0; i < 10; i++) {
		snprintf(names[i], sizeof names[i], "s%d", i);
		health_exchange(h, A, names[i], SEC, MS, HEALTH_OK);
	}
	assert_int_equal(health_stats(h)->pairs, 4);
	assert_int_equal(health_stats(h)->pairs_dropped, 6);
	assert_int_equal(health_tick(h, 2 * SEC), 4);
	health_free(h);
}

/* Operator thresholds: by key, from a file, checked as a whole, clear errors. */
static void test_cfg_set(void **st)
{
	struct health_cfg c;
	char err[256];
	(void)st;
	health_cfg_defaults(&c);
	assert_int_equal(health_cfg_set(&c, "latency_floor=50ms", err, sizeof(err)), 0);
	assert_int_equal(c.latency_floor_ns, 50 * MS);
	assert_int_equal(health_cfg_set(&c, "latency_objective=1.5s", err, sizeof(err)), 0);
	assert_int_equal(c.objective_ns, 1500 * MS);
	assert_int_equal(health_cfg_set(&c, "latency_objective=none", err, sizeof(err)), 0);
	assert_int_equal(c.objective_ns, 0);
	assert_int_equal(health_cfg_set(&c, "error_maybe=10%", err, sizeof(err)), 0);
	assert_true(c.error_maybe > 0.099 && c.error_maybe < 0.101);
	assert_int_equal(health_cfg_set(&c, "error_unhealthy=0.5", err, sizeof(err)), 0);
	assert_int_equal(health_cfg_set(&c, "latency_percentile=99", err, sizeof(err)), 0);
	assert_int_equal(c.pct_high, 99);
	assert_int_equal(health_cfg_set(&c, "latency_maybe_ratio=4x", err, sizeof(err)), 0);
	assert_int_equal(health_cfg_set(&c, "warmup=0", err, sizeof(err)), 0);
	assert_int_equal(c.warmup_ns, 0);
	assert_int_equal(health_cfg_check(&c, err, sizeof(err)), 0);

	assert_int_equal(health_cfg_set(&c, "latency_flor=50ms", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "unknown threshold \"latency_flor\""));
	assert_int_equal(health_cfg_set(&c, "latency_floor=50", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "with a unit"));
	assert_int_equal(health_cfg_set(&c, "timeout=-1s", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "expected a number"));
	assert_int_equal(health_cfg_set(&c, "error_maybe=120%", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "out of range"));
	assert_int_equal(health_cfg_set(&c, "learn_windows=2.5", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "whole number"));
	assert_int_equal(health_cfg_set(&c, "window=10ms", err, sizeof(err)), -1);
	assert_int_equal(health_cfg_set(&c, "noequals", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "KEY=VALUE"));
	assert_int_equal(health_cfg_set(&c, "timeout=nan", err, sizeof(err)), -1);
	assert_int_equal(health_cfg_set(&c, "latency_maybe_ratio=0x3", err, sizeof(err)), -1);
	assert_int_equal(health_cfg_set(&c, "latency_floor=1e400s", err, sizeof(err)), -1);
	/* a failed setting leaves the old value */
	assert_int_equal(c.latency_floor_ns, 50 * MS);

	/* inconsistent as a whole */
	assert_int_equal(health_cfg_set(&c, "pending_after=2s", err, sizeof(err)), 0);
	assert_int_equal(health_cfg_check(&c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "pending_after"));
	health_cfg_defaults(&c);
	assert_int_equal(health_cfg_set(&c, "latency_maybe_ratio=20", err, sizeof(err)), 0);
	assert_int_equal(health_cfg_check(&c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "latency_maybe_ratio"));
}

static void test_cfg_file(void **st)
{
	static const char good[] = "# thresholds for a slow batch service\n"
				   "latency_floor   = 200ms\n"
				   "\n"
				   "error_unhealthy = 50%   # it fails a lot\r\n"
				   "  timeout=5s\n"
				   "pending_after = 2s";
	static const char bad_value[] = "latency_floor = 200ms\ntimeout = 5 s\n";
	static const char bad_line[] = "latency_floor 200ms\n";
	static const char bad_key[] = "\n\n   colour = blue\n";
	static const char no_value[] = "timeout =   # none\n";
	struct health_cfg c;
	char err[256];
	(void)st;
	health_cfg_defaults(&c);
	assert_int_equal(health_cfg_parse(&c, good, sizeof(good) - 1, "t.conf", err, sizeof(err)), 0);
	assert_int_equal(c.latency_floor_ns, 200 * MS);
	assert_int_equal(c.timeout_ns, 5 * SEC);
	assert_int_equal(c.expected_ns, 2 * SEC);
	assert_int_equal(health_cfg_check(&c, err, sizeof(err)), 0);

	assert_int_equal(health_cfg_parse(&c, bad_value, sizeof(bad_value) - 1, "t.conf", err, sizeof(err)), -1);
	assert_string_equal(err, "t.conf:2:11: timeout: expected a duration with a unit (ns, us, ms, s), e.g. 250ms; found \"5 s\"");
	assert_int_equal(health_cfg_parse(&c, bad_line, sizeof(bad_line) - 1, "t.conf", err, sizeof(err)), -1);
	assert_string_equal(err, "t.conf:1:1: expected \"key = value\"");
	assert_int_equal(health_cfg_parse(&c, bad_key, sizeof(bad_key) - 1, "t.conf", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "t.conf:3:4: unknown threshold \"colour\""));
	assert_int_equal(health_cfg_parse(&c, no_value, sizeof(no_value) - 1, "t.conf", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "t.conf:1:"));
	assert_non_null(strstr(err, "missing value"));
	assert_int_equal(health_cfg_parse(&c, "a\0b = 1\n", 8, "t.conf", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "control character"));
}

/* The settings change the judgement: a 100 ms floor hides a 70 ms slowdown that the
 * default floor shows, and a smaller sample suffices for the high percentile. */
static void test_cfg_applies(void **st)
{
	struct health_cfg c;
	char err[256];
	(void)st;
	health_cfg_defaults(&c);
	assert_int_equal(health_judge_latency(&c, 70 * MS, 1 * MS).status, INSITU_MAYBE_UNHEALTHY);
	assert_int_equal(health_cfg_set(&c, "latency_floor=100ms", err, sizeof(err)), 0);
	assert_int_equal(health_judge_latency(&c, 70 * MS, 1 * MS).status, INSITU_HEALTHY);
	health_cfg_defaults(&c);

	/* 10 samples, one slow: the default judges p75 (fast); p90 from 10 samples sees it */
	struct health *h = mk(&c);
	assert_int_equal(health_cfg_set(&c, "latency_percentile_samples=10", err, sizeof(err)), 0);
	assert_int_equal(health_cfg_set(&c, "latency_percentile=95", err, sizeof(err)), 0);
	health_free(h);
	ngot = 0;
	h = health_new(&c, emit, NULL);
	for (int w = 0; w < 4; w++) {
		for (int i = 0; i < 10; i++)
			health_exchange(h, A, B, (uint64_t)w * SEC + (uint64_t)i * MS, 1 * MS, HEALTH_OK);
		health_tick(h, (uint64_t)(w + 1) * SEC);
	}
	for (int i = 0; i < 10; i++)
		health_exchange(h, A, B, 4 * SEC + (uint64_t)i * MS, i == 9 ? 900 * MS : 1 * MS, HEALTH_OK);
	health_tick(h, 5 * SEC);
	assert_int_equal(ngot, 5);
	assert_int_equal(metric(&got[4], "latency")->value.status, INSITU_UNHEALTHY);
	health_free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_judge_latency),
		cmocka_unit_test(test_judge_errors),
		cmocka_unit_test(test_slowdown_and_recovery),
		cmocka_unit_test(test_absence_is_not_health),
		cmocka_unit_test(test_waiting_requests),
		cmocka_unit_test(test_connection_signals),
		cmocka_unit_test(test_host_stall),
		cmocka_unit_test(test_sparse_window),
		cmocka_unit_test(test_pair_bound),
		cmocka_unit_test(test_cfg_set),
		cmocka_unit_test(test_cfg_file),
		cmocka_unit_test(test_cfg_applies),
	};
	return cmocka_run_group_tests_name("health", tests, NULL, NULL);
}
