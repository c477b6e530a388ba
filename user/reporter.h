/* Delivery of the observer's reports to the local insitud.
 *
 * Reports are queued in a bounded ring (oldest dropped first, counted) and sent in
 * batches from reporter_flush(), which the observer calls once per ring-buffer poll:
 * never on the per-event path.  When insitud is down or restarting, the reporter
 * keeps the backlog and reconnects with exponential backoff (0.1 s .. 5 s); a report
 * leaves the queue only once insitud acknowledged the batch that carried it (the
 * daemon acknowledges after its database commit, docs/protocol.md).
 *
 * Completed request paths (reporter_add_path) wait in a second bounded queue (count
 * and bytes; oldest dropped first, counted) and go out after the reports, up to
 * REPORTER_PATH_BATCH per "submit_paths" request. */
#ifndef INSITU_REPORTER_H
#define INSITU_REPORTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "report.h"

struct reporter_stats {
	uint64_t queued;      /* reports handed to reporter_add() */
	uint64_t sent;        /* acknowledged by insitud */
	uint64_t dropped;     /* pushed out of a full backlog */
	uint64_t refused;     /* batches insitud refused as invalid (dropped) */
	uint64_t connects;    /* successful (re)connections */
	uint64_t failures;    /* failed connection attempts and broken sends */
	uint32_t backlog;     /* reports waiting now */
	bool connected;
	uint64_t paths_queued, paths_sent, paths_dropped, paths_refused;
	uint32_t paths_backlog;
};

#define REPORTER_PATH_BATCH 64
#define REPORTER_PATHS_MAX 4096           /* paths kept while insitud is unreachable */
#define REPORTER_PATH_BYTES_MAX (16u << 20) /* ... and their JSON bytes */
#define REPORTER_PATH_BYTES_ONE (256u << 10) /* a bigger path is dropped (counted) */

struct cJSON;

struct reporter;

/* socket NULL: insitud's default ($INSITUD_SOCKET or /run/insitu/insitud.sock).
 * backlog: most reports kept while insitud is unreachable. */
struct reporter *reporter_new(const char *socket, size_t backlog, const char *module,
			      const char *instance);
void reporter_free(struct reporter *r);

void reporter_add(struct reporter *r, const struct insitu_report *rep);
/* Queues one path record (path_report.h); takes ownership of it. */
void reporter_add_path(struct reporter *r, struct cJSON *path);

/* Sends what is queued if connected (or if the backoff allows a new attempt).
 * now is CLOCK_MONOTONIC ns.  Never blocks longer than the client's timeout. */
void reporter_flush(struct reporter *r, uint64_t now);

const struct reporter_stats *reporter_stats(const struct reporter *r);

#endif
