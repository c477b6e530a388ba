/* Where reports go: insitud (batched over its Unix socket), or standard output as
 * JSON lines (--dry-run/--print: for operators trying rules, and for tests).
 * Delivery to insitud is the observer's reporter (user/reporter.c, linked as is): a
 * bounded backlog (--backlog, oldest dropped first and counted) that is kept while
 * insitud is down or restarting, reconnection with backoff (0.1 s .. 5 s), and a
 * report leaves the backlog only once insitud acknowledged its batch. */
#ifndef INSITU_LOGTAIL_SUBMIT_H
#define INSITU_LOGTAIL_SUBMIT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "report.h"

#define LT_BACKLOG_DEFAULT 16384 /* about 1.5 KiB each when full: 24 MiB */

struct reporter;

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
	struct reporter *rep;		/* NULL when printing */
	/* counters (printing: sent only) */
	uint64_t sent, accepted, dropped, refused, failures, reconnects, backlog, lost_at_exit;
	char last_error[256];
};

/* print=true: no daemon.  Otherwise checks that insitud answers now, then delivers
 * through a reporter (module "insitu-logtail", name = observer) keeping up to
 * 'backlog' reports while insitud is unreachable later; returns -1 with a message in
 * last_error when insitud cannot be reached at start (the caller decides whether
 * that is fatal). */
int lt_sink_open_backlog(struct lt_sink *s, bool print, FILE *out, const char *socket, const char *observer,
			 size_t backlog);
/* The same with the default backlog (LT_BACKLOG_DEFAULT). */
int lt_sink_open(struct lt_sink *s, bool print, FILE *out, const char *socket, const char *observer);
void lt_sink_put(struct lt_sink *s, const struct insitu_report *r, const struct lt_source *src);
/* Sends what is queued if insitud is reachable (called when the input is idle and at
 * exit); refreshes the counters. */
void lt_sink_flush(struct lt_sink *s);
/* Last flush; what is still in the backlog then is lost and counted (lost_at_exit). */
void lt_sink_close(struct lt_sink *s);

/* Writes a report as one JSON line (protocol format plus "source"). */
void lt_report_print(FILE *out, const struct insitu_report *r, const struct lt_source *src);

#endif
