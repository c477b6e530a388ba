/* Delivery of the observer's reports to the local insitud.
 *
 * Reports are queued in a bounded ring (oldest dropped first, counted) and sent in
 * batches from reporter_flush(), which the observer calls once per ring-buffer poll:
 * never on the per-event path.  When insitud is down or restarting, the reporter
 * keeps the backlog and reconnects with exponential backoff (0.1 s .. 5 s); a report
 * leaves the queue only once insitud acknowledged the batch that carried it (the
 * daemon acknowledges after its database commit, docs/protocol.md). */
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
};

struct reporter;

/* socket NULL: insitud's default ($INSITUD_SOCKET or /run/insitu/insitud.sock).
 * backlog: most reports kept while insitud is unreachable. */
struct reporter *reporter_new(const char *socket, size_t backlog, const char *module,
			      const char *instance);
void reporter_free(struct reporter *r);

void reporter_add(struct reporter *r, const struct insitu_report *rep);

/* Sends what is queued if connected (or if the backoff allows a new attempt).
 * now is CLOCK_MONOTONIC ns.  Never blocks longer than the client's timeout. */
void reporter_flush(struct reporter *r, uint64_t now);

const struct reporter_stats *reporter_stats(const struct reporter *r);

#endif
