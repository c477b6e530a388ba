/* SQLite persistence (see persist.h). */
#include "persist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Migrations: MIGRATIONS[i] takes the schema from version i to i+1.  Never edit a
 * shipped step; append a new one and bump PERSIST_SCHEMA_VERSION. */
static const char *const MIGRATIONS[PERSIST_SCHEMA_VERSION] = {
	/* 0 -> 1: the first schema */
	"CREATE TABLE observers(handle INTEGER PRIMARY KEY, module TEXT NOT NULL,"
	"  name TEXT NOT NULL, UNIQUE(module, name));"
	"CREATE TABLE reports(id INTEGER PRIMARY KEY, observer TEXT NOT NULL,"
	"  subject TEXT NOT NULL, ts_us INTEGER NOT NULL, metrics BLOB NOT NULL);"
	"CREATE TABLE watch(subject TEXT PRIMARY KEY) WITHOUT ROWID;",
	/* 1 -> 2: remember whether a report was learned from a peer (never forwarded) */
	"ALTER TABLE reports ADD COLUMN learned INTEGER NOT NULL DEFAULT 0;",
};

/* Rewrites p->err as prefix + ": " + p->err (messages are truncated, never overflow). */
static void prefix_err(struct persist *p, const char *prefix)
{
	char e[1024];
	snprintf(e, sizeof e, "%s: %s", prefix, p->err);
	memcpy(p->err, e, sizeof p->err - 1);
	p->err[sizeof p->err - 1] = '\0';
}

static int fail(struct persist *p, const char *what)
{
	snprintf(p->err, sizeof p->err, "%s: %s", what, p->db ? sqlite3_errmsg(p->db) : "no database");
	return -1;
}

static int exec(struct persist *p, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(p->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(p->err, sizeof p->err, "%s", msg ? msg : sqlite3_errmsg(p->db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static int user_version(struct persist *p, int *v)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(p->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		return fail(p, "reading schema version");
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_finalize(st);
		return fail(p, "reading schema version");
	}
	*v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return 0;
}

static int migrate(struct persist *p)
{
	char sql[64];
	int v;

	if (user_version(p, &v))
		return -1;
	if (v > PERSIST_SCHEMA_VERSION) {
		snprintf(p->err, sizeof p->err,
			 "database schema version %d is newer than this insitud (%d): refusing to touch it",
			 v, PERSIST_SCHEMA_VERSION);
		return -1;
	}
	for (; v < PERSIST_SCHEMA_VERSION; v++) {
		if (exec(p, "BEGIN IMMEDIATE") || exec(p, MIGRATIONS[v])) {
			char pre[64];
			snprintf(pre, sizeof pre, "migrating schema %d -> %d", v, v + 1);
			prefix_err(p, pre);
			sqlite3_exec(p->db, "ROLLBACK", NULL, NULL, NULL);
			return -1;
		}
		snprintf(sql, sizeof sql, "PRAGMA user_version=%d", v + 1);
		if (exec(p, sql) || exec(p, "COMMIT")) {
			exec(p, "ROLLBACK");
			return -1;
		}
	}
	return 0;
}

int persist_open(struct persist *p, const char *path, int sync_full)
{
	memset(p, 0, sizeof *p);
	if (sqlite3_open_v2(path, &p->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		fail(p, path);
		persist_close(p);
		return -1;
	}
	if (sqlite3_db_readonly(p->db, "main") == 1) {
		snprintf(p->err, sizeof p->err, "%s: database is read-only (insitud needs to write it)", path);
		persist_close(p);
		return -1;
	}
	sqlite3_busy_timeout(p->db, 2000);
	/* auto_vacuum must be chosen before the first table exists */
	if (exec(p, "PRAGMA auto_vacuum=INCREMENTAL") || exec(p, "PRAGMA journal_mode=WAL") ||
	    exec(p, sync_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL") ||
	    exec(p, "PRAGMA wal_autocheckpoint=4000") || migrate(p)) {
		prefix_err(p, path);
		persist_close(p);
		return -1;
	}
	/* a read-only file can still be opened: check we can really write */
	if (exec(p, "BEGIN IMMEDIATE") || exec(p, "ROLLBACK")) {
		prefix_err(p, "cannot write the database");
		prefix_err(p, path);
		persist_close(p);
		return -1;
	}
	if (sqlite3_prepare_v2(p->db, "INSERT INTO reports(id,observer,subject,ts_us,metrics,learned) "
			       "VALUES(?,?,?,?,?,?)", -1, &p->ins_report, NULL) ||
	    sqlite3_prepare_v2(p->db, "INSERT OR IGNORE INTO observers(handle,module,name) VALUES(?,?,?)",
			       -1, &p->ins_reg, NULL) ||
	    sqlite3_prepare_v2(p->db, "INSERT OR IGNORE INTO watch(subject) VALUES(?)", -1, &p->ins_watch,
			       NULL) ||
	    sqlite3_prepare_v2(p->db, "DELETE FROM watch WHERE subject=?", -1, &p->del_watch, NULL) ||
	    sqlite3_prepare_v2(p->db, "DELETE FROM reports WHERE id=?", -1, &p->del_report, NULL)) {
		fail(p, "preparing statements");
		persist_close(p);
		return -1;
	}
	return 0;
}

void persist_close(struct persist *p)
{
	sqlite3_finalize(p->ins_report);
	sqlite3_finalize(p->ins_reg);
	sqlite3_finalize(p->ins_watch);
	sqlite3_finalize(p->del_watch);
	sqlite3_finalize(p->del_report);
	if (p->db) {
		if (p->in_txn)
			sqlite3_exec(p->db, "ROLLBACK", NULL, NULL, NULL);
		sqlite3_close(p->db);
	}
	free(p->drops);
	p->db = NULL;
	p->ins_report = p->ins_reg = p->ins_watch = p->del_watch = p->del_report = NULL;
	p->drops = NULL;
	p->ndrops = p->capdrops = 0;
}

static int begin(struct persist *p)
{
	if (p->in_txn)
		return 0;
	if (exec(p, "BEGIN"))
		return -1;
	p->in_txn = 1;
	return 0;
}

static int step_done(struct persist *p, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? 0 : fail(p, what);
}

/* Metrics blob: per metric, name length (1 byte), name, status (1 byte), score
 * (8 bytes, host order: the file is not meant to move between architectures). */
static size_t encode_metrics(const struct insitu_observation *o, unsigned char *buf)
{
	size_t n = 0;
	for (unsigned i = 0; i < o->n_metrics; i++) {
		size_t l = strlen(o->metrics[i].name);
		buf[n++] = (unsigned char)l;
		memcpy(buf + n, o->metrics[i].name, l);
		n += l;
		buf[n++] = (unsigned char)o->metrics[i].value.status;
		memcpy(buf + n, &o->metrics[i].value.score, 8);
		n += 8;
	}
	return n;
}

static int decode_metrics(const unsigned char *b, size_t len, struct insitu_observation *o)
{
	size_t i = 0;
	o->n_metrics = 0;
	while (i < len) {
		size_t l = b[i++];
		char name[INSITU_METRIC_NAME_MAX];
		double score;
		if (l >= sizeof name || i + l + 9 > len)
			return -1;
		memcpy(name, b + i, l);
		name[l] = '\0';
		i += l;
		enum insitu_status st = (enum insitu_status)b[i++];
		memcpy(&score, b + i, 8);
		i += 8;
		if (insitu_obs_set(o, name, st, score))
			return -1;
	}
	return o->n_metrics ? 0 : -1;
}

int persist_report(struct persist *p, uint64_t id, const struct insitu_report *r, int learned)
{
	unsigned char blob[INSITU_METRICS_MAX * (INSITU_METRIC_NAME_MAX + 10)];
	size_t n;

	if (begin(p))
		return -1;
	n = encode_metrics(&r->obs, blob);
	sqlite3_bind_int64(p->ins_report, 1, (sqlite3_int64)id);
	sqlite3_bind_text(p->ins_report, 2, r->observer, -1, SQLITE_STATIC);
	sqlite3_bind_text(p->ins_report, 3, r->subject, -1, SQLITE_STATIC);
	sqlite3_bind_int64(p->ins_report, 4, (sqlite3_int64)r->obs.ts_us);
	sqlite3_bind_blob(p->ins_report, 5, blob, (int)n, SQLITE_STATIC);
	sqlite3_bind_int(p->ins_report, 6, learned);
	return step_done(p, p->ins_report, "storing a report");
}

int persist_register(struct persist *p, uint64_t handle, const char *module, const char *name)
{
	if (begin(p))
		return -1;
	sqlite3_bind_int64(p->ins_reg, 1, (sqlite3_int64)handle);
	sqlite3_bind_text(p->ins_reg, 2, module, -1, SQLITE_STATIC);
	sqlite3_bind_text(p->ins_reg, 3, name, -1, SQLITE_STATIC);
	return step_done(p, p->ins_reg, "storing a registration");
}

int persist_watch(struct persist *p, const char *subject, int on)
{
	sqlite3_stmt *st = on ? p->ins_watch : p->del_watch;
	if (begin(p))
		return -1;
	sqlite3_bind_text(st, 1, subject, -1, SQLITE_STATIC);
	return step_done(p, st, "storing a watch-list change");
}

void persist_note_drop(struct persist *p, uint64_t id)
{
	if (p->ndrops == p->capdrops) {
		size_t ncap = p->capdrops ? p->capdrops * 2 : 1024;
		uint64_t *n = realloc(p->drops, ncap * sizeof *n);
		if (!n)
			return; /* harmless: replay re-applies the cap; compaction catches up */
		p->drops = n;
		p->capdrops = ncap;
	}
	p->drops[p->ndrops++] = id;
}

int persist_flush_drops(struct persist *p)
{
	if (!p->ndrops)
		return 0;
	if (begin(p))
		return -1;
	for (size_t i = 0; i < p->ndrops; i++) {
		sqlite3_bind_int64(p->del_report, 1, (sqlite3_int64)p->drops[i]);
		if (step_done(p, p->del_report, "deleting dropped reports"))
			return -1;
	}
	p->drops_deleted += p->ndrops;
	p->ndrops = 0;
	return 0;
}

int persist_in_txn(const struct persist *p) { return p->in_txn; }

int persist_commit(struct persist *p)
{
	if (!p->in_txn)
		return 0;
	p->in_txn = 0;
	if (exec(p, "COMMIT")) {
		prefix_err(p, "commit failed");
		sqlite3_exec(p->db, "ROLLBACK", NULL, NULL, NULL);
		p->commit_failures++;
		p->ndrops = 0; /* the deletes were rolled back too; replay re-applies caps */
		return -1;
	}
	p->commits++;
	return 0;
}

static void on_replay_drop(uint64_t id, void *ctx) { persist_note_drop(ctx, id); }

int persist_load(struct persist *p, struct store *s, struct registry *reg)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(p->db, "SELECT handle, module, name FROM observers ORDER BY handle", -1,
			       &st, NULL) != SQLITE_OK)
		return fail(p, "loading registrations");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (registry_restore(reg, (uint64_t)sqlite3_column_int64(st, 0),
				     (const char *)sqlite3_column_text(st, 1),
				     (const char *)sqlite3_column_text(st, 2))) {
			sqlite3_finalize(st);
			snprintf(p->err, sizeof p->err, "registrations in the database are not contiguous");
			return -1;
		}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return fail(p, "loading registrations");

	if (sqlite3_prepare_v2(p->db, "SELECT subject FROM watch", -1, &st, NULL) != SQLITE_OK)
		return fail(p, "loading the watch list");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		store_watch(s, (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return fail(p, "loading the watch list");

	if (sqlite3_prepare_v2(p->db, "SELECT id, observer, subject, ts_us, metrics FROM reports ORDER BY id",
			       -1, &st, NULL) != SQLITE_OK)
		return fail(p, "loading reports");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct insitu_report r;
		memset(&r, 0, sizeof r);
		snprintf(r.observer, sizeof r.observer, "%s", (const char *)sqlite3_column_text(st, 1));
		snprintf(r.subject, sizeof r.subject, "%s", (const char *)sqlite3_column_text(st, 2));
		r.obs.ts_us = (uint64_t)sqlite3_column_int64(st, 3);
		if (decode_metrics(sqlite3_column_blob(st, 4), (size_t)sqlite3_column_bytes(st, 4), &r.obs)) {
			/* a damaged row is skipped and deleted, not fatal */
			persist_note_drop(p, (uint64_t)sqlite3_column_int64(st, 0));
			continue;
		}
		if (!store_add(s, &r, (uint64_t)sqlite3_column_int64(st, 0), on_replay_drop, p)) {
			sqlite3_finalize(st);
			snprintf(p->err, sizeof p->err, "out of memory loading reports");
			return -1;
		}
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return fail(p, "loading reports");
	return 0;
}

int persist_compact(struct persist *p)
{
	if (persist_flush_drops(p) || persist_commit(p))
		return -1;
	if (exec(p, "PRAGMA wal_checkpoint(TRUNCATE)") || exec(p, "PRAGMA incremental_vacuum"))
		return -1;
	return 0;
}

int64_t persist_count_reports(struct persist *p)
{
	sqlite3_stmt *st;
	int64_t n = -1;
	if (sqlite3_prepare_v2(p->db, "SELECT count(*) FROM reports", -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}
