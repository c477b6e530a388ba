/* The shared report format: status names and letters, metric specs, JSON both ways
 * (cJSON and the direct writer), validation messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <cjson/cJSON.h>

#include "report.h"

static void statuses(void **st)
{
	static const char *const letters[] = {"n", "h", "p", "m", "u", "d", "dd"};
	for (int i = 0; i < 7; i++) {
		assert_int_equal(insitu_status_parse(letters[i]), i + 1);
		assert_int_equal(insitu_status_parse(insitu_status_name((enum insitu_status)(i + 1))), i + 1);
		assert_string_equal(insitu_status_letter((enum insitu_status)(i + 1)), letters[i]);
	}
	assert_int_equal(insitu_status_parse("unhealthy"), INSITU_UNHEALTHY);
	assert_int_equal(insitu_status_parse("maybe-unhealthy"), INSITU_MAYBE_UNHEALTHY);
	assert_int_equal(insitu_status_parse("x"), INSITU_INVALID);
	assert_int_equal(insitu_status_parse("ddd"), INSITU_INVALID);
	assert_int_equal(insitu_status_parse("INVALID"), INSITU_INVALID);
	assert_int_equal(insitu_status_parse(""), INSITU_INVALID);
	assert_string_equal(insitu_status_name((enum insitu_status)42), "INVALID");
}

static void specs(void **st)
{
	struct insitu_metric m;
	char err[256];
	assert_int_equal(insitu_metric_parse_spec("snapshot:u:30", &m, err, sizeof err), 0);
	assert_string_equal(m.name, "snapshot");
	assert_int_equal(m.value.status, INSITU_UNHEALTHY);
	assert_true(m.value.score == 30);
	assert_int_equal(insitu_metric_parse_spec("cpu:h", &m, err, sizeof err), 0);
	assert_true(m.value.score == 100);
	assert_int_equal(insitu_metric_parse_spec("cpu", &m, err, sizeof err), -1);
	assert_non_null(strstr(err, "expected NAME:STATUS[:SCORE]"));
	assert_int_equal(insitu_metric_parse_spec("cpu:q:1", &m, err, sizeof err), -1);
	assert_non_null(strstr(err, "unknown status 'q'"));
	assert_int_equal(insitu_metric_parse_spec("cpu:h:1x", &m, err, sizeof err), -1);
	assert_non_null(strstr(err, "score '1x' is not a number"));
	assert_int_equal(insitu_metric_parse_spec("cpu:h:nan", &m, err, sizeof err), -1);
	assert_int_equal(insitu_metric_parse_spec(":h:1", &m, err, sizeof err), -1);
}

static void obs_set_bounds(void **st)
{
	struct insitu_observation o = {0};
	char name[8];
	for (int i = 0; i < INSITU_METRICS_MAX; i++) {
		snprintf(name, sizeof name, "m%d", i);
		assert_int_equal(insitu_obs_set(&o, name, INSITU_HEALTHY, i), 0);
	}
	assert_int_equal(insitu_obs_set(&o, "one-more", INSITU_HEALTHY, 1), -1);
	assert_int_equal(insitu_obs_set(&o, "m3", INSITU_DEAD, 0), 0); /* replaces */
	assert_int_equal(o.n_metrics, INSITU_METRICS_MAX);
	assert_int_equal(o.metrics[3].value.status, INSITU_DEAD);
	assert_int_equal(insitu_obs_set(&o, "m1", INSITU_INVALID, 0), -1);
	assert_int_equal(insitu_obs_set(&o, "has space", INSITU_HEALTHY, 0), -1);
}

static void json_both_writers_round_trip(void **st)
{
	struct insitu_report r = {0}, back;
	char err[256], *direct = NULL, *viacjson;
	size_t len = 0, cap = 0;
	cJSON *j;

	strcpy(r.observer, "ob\"s\\1");
	strcpy(r.subject, "peer@1");
	r.obs.ts_us = 1495181595385767ull;
	insitu_obs_set(&r.obs, "snap", INSITU_UNHEALTHY, 30.25);
	insitu_obs_set(&r.obs, "cpu", INSITU_PENDING, 1e-3);
	assert_int_equal(insitu_report_append_json(&r, 1, &direct, &len, &cap), 0);
	assert_int_equal(strlen(direct), len);
	j = cJSON_Parse(direct);
	assert_non_null(j);
	assert_int_equal(insitu_report_from_json(j, NULL, &back, err, sizeof err), 0);
	assert_memory_equal(&back, &r, sizeof r);
	cJSON_Delete(j);
	j = insitu_report_to_json(&r);
	viacjson = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	j = cJSON_Parse(viacjson);
	assert_int_equal(insitu_report_from_json(j, NULL, &back, err, sizeof err), 0);
	assert_memory_equal(&back, &r, sizeof r);
	cJSON_Delete(j);
	free(direct);
	free(viacjson);
}

static void json_validation(void **st)
{
	static const struct { const char *json, *msg; } cases[] = {
		{"[]", "report: expected an object"},
		{"{\"subject\":\"s\",\"metrics\":[{\"name\":\"m\",\"status\":\"h\",\"score\":1}]}", "\"observer\": expected a string"},
		{"{\"observer\":\"o\",\"subject\":\"a b\",\"metrics\":[]}", "\"subject\": must be 1-127 bytes"},
		{"{\"observer\":\"o\",\"subject\":\"s\",\"metrics\":[]}", "\"metrics\": expected a non-empty array"},
		{"{\"observer\":\"o\",\"subject\":\"s\",\"ts_us\":-1,\"metrics\":[]}", "\"ts_us\": expected a non-negative integer"},
		{"{\"observer\":\"o\",\"subject\":\"s\",\"metrics\":[{\"name\":\"m\",\"status\":\"zz\",\"score\":1}]}", "metrics[0].status"},
		{"{\"observer\":\"o\",\"subject\":\"s\",\"metrics\":[{\"name\":\"m\",\"status\":\"h\"}]}", "metrics[0].score: expected a finite number"},
		{"{\"observer\":\"o\",\"subject\":\"s\",\"metrics\":[{\"status\":\"h\",\"score\":1}]}", "metrics[0].name"},
	};
	struct insitu_report r;
	char err[256];
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		cJSON *j = cJSON_Parse(cases[i].json);
		assert_int_equal(insitu_report_from_json(j, NULL, &r, err, sizeof err), -1);
		if (!strstr(err, cases[i].msg))
			fail_msg("case %zu: got '%s', want '%s'", i, err, cases[i].msg);
		cJSON_Delete(j);
	}
	/* the default observer (the handle's name) */
	cJSON *j = cJSON_Parse(cases[1].json);
	assert_int_equal(insitu_report_from_json(j, "me", &r, err, sizeof err), 0);
	assert_string_equal(r.observer, "me");
	cJSON_Delete(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(statuses),
		cmocka_unit_test(specs),
		cmocka_unit_test(obs_set_bounds),
		cmocka_unit_test(json_both_writers_round_trip),
		cmocka_unit_test(json_validation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
