/* Staleness and merging, both measured in log time (the stamps in the lines, after
 * time-zone conversion), as Panorama's hview-logtail did:
 *   - a line older than the staleness bound is skipped: reporting a condition long
 *     gone would make a healthy component look sick now;
 *   - identical events (same subject, metric, status and score) within the merge
 *     window of the last one reported are merged into it: a burst of 400 "Slow
 *     serializing node" lines is one piece of evidence, not 400.
 * The table of recent events is bounded; an event pushed out early is counted. */
#ifndef INSITU_LOGTAIL_MERGE_H
#define INSITU_LOGTAIL_MERGE_H

#include <stdbool.h>
#include <stdint.h>

#include "report.h"

#define LT_MERGE_SLOTS 1024

struct lt_merge {
	int64_t window_ns;
	struct lt_merge_slot {
		uint64_t hash;		/* 0: empty */
		int64_t ts_ns;		/* log time of the last reported event */
		struct insitu_value value;
		char metric[INSITU_METRIC_NAME_MAX];
		char subject[INSITU_NAME_MAX];
	} slot[LT_MERGE_SLOTS];
	uint64_t evicted;		/* a different live event took the slot */
};

void lt_merge_init(struct lt_merge *m, int64_t window_ns);

/* True when 'rep' (one metric) at log time ts_ns repeats an event reported less than
 * the window ago: the caller drops it.  False: report it (and it is remembered). */
bool lt_merge_repeat(struct lt_merge *m, const struct insitu_report *rep, int64_t ts_ns);

/* Staleness reference: the newest log time seen (replay), or wall-clock now (follow). */
static inline bool lt_is_stale(int64_t ts_ns, int64_t ref_ns, int64_t bound_ns)
{
	return bound_ns > 0 && ref_ns - ts_ns > bound_ns;
}

#endif
