/* The per-line path of insitu-logtail: parse -> log time -> staleness -> rule tree
 * -> subject -> merge -> submit.  Every way a line can end is counted. */
#ifndef INSITU_LOGTAIL_PROCESS_H
#define INSITU_LOGTAIL_PROCESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "logtail_merge.h"
#include "logtail_rules.h"
#include "logtail_submit.h"
#include "logtail_tail.h"

struct lt_counters {
	uint64_t lines;		/* handed to the pipeline */
	uint64_t unmatched;	/* did not fit the line pattern (malformed, continuation) */
	uint64_t bad_time;	/* the time field did not fit the time format */
	uint64_t stale;		/* older than the staleness bound */
	uint64_t future;	/* following: newer than now by more than the bound */
	uint64_t no_rule;	/* no rule matched: nothing to report */
	uint64_t bad_subject;	/* subject field absent or not a valid name */
	uint64_t dropped_unmapped; /* subject not in the table and "unmapped": "drop" */
	uint64_t merged;	/* repeat of an event within the merge window */
	uint64_t reports;	/* handed to the sink */
};

struct lt_proc {
	struct lt_rules *r;
	const char *observer;
	bool live;		/* staleness against wall-clock now (follow), else newest log time */
	int64_t newest_ns;	/* newest log time seen */
	struct lt_merge merge;
	struct lt_sink *sink;
	struct lt_counters c;
};

void lt_proc_init(struct lt_proc *p, struct lt_rules *r, const char *observer, bool live,
		  struct lt_sink *sink);
/* lt_line_fn: called by the tailer for each line. */
void lt_proc_line(void *ctx, struct lt_tail *t, const char *line, size_t len);

#endif
