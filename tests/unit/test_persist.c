/* SQLite persistence: replay rebuilds the same state (view cap re-applied,
 * registrations, watch list), migration from schema 1, refusal of a newer schema,
 * compaction deletes the rows dropped from memory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "persist.h"

static char path[256];

static int setup(void **st)
{
	snprintf(path, sizeof path, "/tmp/insitu-test-persist-%d.db", getpid());
	unlink(path);
	return 0;
}

static int teardown(void **st)
{
	char p[300];
	unlink(path);
	snprintf(p, sizeof p, "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof p, "%s-shm", path);
	unlink(p);
	return 0;
}

static void on_drop(uint64_t id, void *ctx) { persist_note_drop(ctx, id); }

static void add(struct persist *p, struct store *s, const char *obs, const char *subj, int i)
{
	struct insitu_report r;
	uint64_t id;
	memset(&r, 0, sizeof r);
	strcpy(r.observer, obs);
	strcpy(r.subject, subj);
	r.obs.ts_us = 1000 + (uint64_t)i;
	insitu_obs_set(&r.obs, "cpu", i % 3 ? INSITU_HEALTHY : INSITU_PENDING, i);
	insitu_obs_set(&r.obs, "snap", INSITU_UNHEALTHY, 100 - i);
	id = store_add(s, &r, 0, on_drop, p);
	assert_true(id != 0);
	assert_int_equal(persist_report(p, id, &r, 0), 0);
}

static void same_state(struct store *a, struct store *b)
{
	assert_int_equal(a->nsubjects, b->nsubjects);
	assert_int_equal(a->nobs, b->nobs);
	for (unsigned i = 0; i < a->nsubjects; i++) {
		struct subject *x = store_infer(a, a->subjects[i]);
		struct subject *y = store_infer(b, store_subject(b, x->name));
		assert_non_null(y);
		assert_int_equal(x->inf_n, y->inf_n);
		assert_true(x->inf_ts == y->inf_ts);
		for (unsigned k = 0; k < x->inf_n; k++) {
			assert_string_equal(store_metric_name(a, x->inf[k].metric), store_metric_name(b, y->inf[k].metric));
			assert_int_equal(x->inf[k].status, y->inf[k].status);
			assert_true(x->inf[k].score == y->inf[k].score);
		}
	}
}

static void replay_rebuilds_everything(void **st)
{
	struct persist p, q;
	struct store s, t;
	struct registry r1, r2;
	int is_new;

	assert_int_equal(persist_open(&p, path, 0), 0);
	store_init(&s);
	registry_init(&r1);
	assert_int_equal(registry_add(&r1, "mod", "o1", &is_new), 10000);
	assert_int_equal(persist_register(&p, 10000, "mod", "o1"), 0);
	assert_int_equal(registry_add(&r1, "mod", "o2", &is_new), 10001);
	assert_int_equal(persist_register(&p, 10001, "mod", "o2"), 0);
	for (int i = 0; i < 25; i++)
		add(&p, &s, i % 2 ? "o1" : "o2", i % 3 ? "s1" : "s2", i);
	assert_int_equal(store_watch(&s, "w"), 1);
	assert_int_equal(persist_watch(&p, "w", 1), 0);
	assert_int_equal(persist_commit(&p), 0);
	persist_close(&p);

	assert_int_equal(persist_open(&q, path, 0), 0);
	store_init(&t);
	registry_init(&r2);
	assert_int_equal(persist_load(&q, &t, &r2), 0);
	same_state(&s, &t);
	assert_int_equal(r2.n, 2);
	assert_int_equal(registry_add(&r2, "mod", "o2", &is_new), 10001);
	assert_int_equal(is_new, 0);
	assert_true(store_watched(&t, "w"));
	/* the cap dropped rows: compaction deletes them from the file */
	assert_int_equal(persist_count_reports(&q), 25);
	assert_int_equal(persist_compact(&q), 0);
	assert_int_equal(persist_count_reports(&q), (int64_t)t.nobs);
	persist_close(&q);
	store_fini(&s);
	store_fini(&t);
	registry_fini(&r1);
	registry_fini(&r2);
}

static void exec_sql(const char *sql)
{
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static void migrates_from_schema_1(void **st)
{
	struct persist p;
	struct store s;
	struct registry r;
	/* a schema-1 database, as the first insitud wrote it */
	exec_sql("CREATE TABLE observers(handle INTEGER PRIMARY KEY, module TEXT NOT NULL, name TEXT NOT NULL, UNIQUE(module, name));"
		 "CREATE TABLE reports(id INTEGER PRIMARY KEY, observer TEXT NOT NULL, subject TEXT NOT NULL, ts_us INTEGER NOT NULL, metrics BLOB NOT NULL);"
		 "CREATE TABLE watch(subject TEXT PRIMARY KEY) WITHOUT ROWID;"
		 "INSERT INTO reports VALUES(7,'o','s',5,x'036370750200000000000049400000');"
		 "PRAGMA user_version=1;");
	assert_int_equal(persist_open(&p, path, 0), 0);
	store_init(&s);
	registry_init(&r);
	assert_int_equal(persist_load(&p, &s, &r), 0);
	/* the blob above is malformed on purpose (truncated score): skipped, not fatal */
	assert_int_equal(s.nobs, 0);
	struct insitu_report rep = {0};
	strcpy(rep.observer, "o");
	strcpy(rep.subject, "s");
	insitu_obs_set(&rep.obs, "cpu", INSITU_HEALTHY, 50);
	assert_int_equal(persist_report(&p, 8, &rep, 1), 0); /* the new column works */
	assert_int_equal(persist_commit(&p), 0);
	persist_close(&p);
	store_fini(&s);
	registry_fini(&r);
	sqlite3 *db;
	sqlite3_stmt *q;
	sqlite3_open(path, &db);
	sqlite3_prepare_v2(db, "SELECT learned FROM reports WHERE id=8", -1, &q, NULL);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(q, 0), 1);
	sqlite3_finalize(q);
	sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &q, NULL);
	sqlite3_step(q);
	assert_int_equal(sqlite3_column_int(q, 0), PERSIST_SCHEMA_VERSION);
	sqlite3_finalize(q);
	sqlite3_close(db);
}

static void refuses_newer_schema(void **st)
{
	struct persist p;
	exec_sql("PRAGMA user_version=99;");
	assert_int_equal(persist_open(&p, path, 0), -1);
	assert_non_null(strstr(p.err, "newer than this insitud"));
}

static void refuses_unopenable(void **st)
{
	struct persist p;
	assert_int_equal(persist_open(&p, "/nonexistent-dir/x/y.db", 0), -1);
	assert_non_null(strstr(p.err, "/nonexistent-dir/x/y.db"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(replay_rebuilds_everything, setup, teardown),
		cmocka_unit_test_setup_teardown(migrates_from_schema_1, setup, teardown),
		cmocka_unit_test_setup_teardown(refuses_newer_schema, setup, teardown),
		cmocka_unit_test_setup_teardown(refuses_unopenable, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
