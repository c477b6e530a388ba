/* SQLite persistence of insitud's whole state: accepted reports (local and learned),
 * registrations and watch-list changes.  WAL mode.
 *
 * Durability promise: writes go into one open transaction; insitud commits it at the
 * end of each event-loop pass (group commit) and only then sends the answers of the
 * requests in it.  So an acknowledged report is in the database: with "Sync":"normal"
 * (default) it survives the process being killed (kill -9); with "Sync":"full" it also
 * survives power loss.  On a failed commit (disk full, read-only) nothing of the
 * transaction is kept, every write in it is answered with a "storage" error, and the
 * in-memory state is rebuilt from the database.
 *
 * Observations dropped from memory (per-view cap, GC, retention) are deleted from the
 * database in batches (persist_note_drop, then persist_flush_drops / compaction); a
 * crash before that is harmless: replay applies the cap again. */
#ifndef INSITU_PERSIST_H
#define INSITU_PERSIST_H

#include <sqlite3.h>
#include <stdint.h>

#include "registry.h"
#include "report.h"
#include "store.h"

#define PERSIST_SCHEMA_VERSION 2

struct persist {
	sqlite3 *db;
	sqlite3_stmt *ins_report, *ins_reg, *ins_watch, *del_watch, *del_report;
	int in_txn;
	char err[256];
	uint64_t *drops; /* ids waiting to be deleted */
	size_t ndrops, capdrops;
	uint64_t drops_deleted, commits, commit_failures;
};

/* Opens (creating and migrating as needed).  sync_full: PRAGMA synchronous=FULL.
 * Returns 0, or -1 with a message in p->err (read-only database, corrupt file, newer
 * schema than this binary knows...). */
int persist_open(struct persist *p, const char *path, int sync_full);
void persist_close(struct persist *p);

/* Each write opens the transaction if needed.  Return 0 or -1 (p->err). */
int persist_report(struct persist *p, uint64_t id, const struct insitu_report *r, int learned);
int persist_register(struct persist *p, uint64_t handle, const char *module, const char *name);
int persist_watch(struct persist *p, const char *subject, int on);
void persist_note_drop(struct persist *p, uint64_t id);
/* Deletes the noted drops (inside the transaction). */
int persist_flush_drops(struct persist *p);

int persist_in_txn(const struct persist *p);
/* Commits; on failure rolls back and returns -1 (p->err). */
int persist_commit(struct persist *p);

/* Rebuilds store and registry from the database (both must be freshly initialised). */
int persist_load(struct persist *p, struct store *s, struct registry *reg);

/* Compaction: deletes noted drops, checkpoints the WAL and returns free pages to the
 * file system.  Outside any transaction. */
int persist_compact(struct persist *p);

/* Counts rows (tests, stats). */
int64_t persist_count_reports(struct persist *p);

#endif
