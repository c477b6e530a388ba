/* Where reports go: insitud (batched over its Unix socket), or standard output as
 * JSON lines (--dry-run/--print: for operators trying rules, and for tests).
 * Bounded: at most LT_BATCH reports wait; while insitud is unreachable reports are
 * dropped and counted, and reconnection is retried at most once per second. */
#ifndef INSITU_LOGTAIL_SUBMIT_H
#define INSITU_LOGTAIL_SUBMIT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "report.h"

#define LT_BATCH 256

struct insitud_client;

struct lt_source {
	const char *file;
	uint64_t lineno;
	const char *rule;
};

struct lt_sink {
	bool print;			/* JSON lines to 'out' instead of insitud */
	FILE *out;
	const char *socket;		/* NULL: $INSITUD_SOCKET or the default */
	const char *observer;
	struct insitud_client *c;
	uint64_t handle;
	int64_t retry_at_ns;		/* monotonic time of the next reconnection try */
	struct insitu_report batch[LT_BATCH];
	size_t n;
	/* counters */
	uint64_t sent, accepted, dropped, failures;
	char last_error[256];
};

/* print=true: no daemon.  Otherwise connects and registers (module "insitu-logtail",
 * name = observer); returns -1 with a message in last_error when insitud cannot be
 * reached now (the caller decides whether that is fatal). */
int lt_sink_open(struct lt_sink *s, bool print, FILE *out, const char *socket, const char *observer);
void lt_sink_put(struct lt_sink *s, const struct insitu_report *r, const struct lt_source *src);
/* Sends what is queued (called when the input is idle and at exit). */
void lt_sink_flush(struct lt_sink *s);
void lt_sink_close(struct lt_sink *s);

/* Writes a report as one JSON line (protocol format plus "source"). */
void lt_report_print(FILE *out, const struct insitu_report *r, const struct lt_source *src);

#endif
