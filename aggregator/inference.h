/* Panorama's inference, as pure functions over observations (no store, no I/O, no
 * allocation): easy to test exhaustively, and they never change their inputs — the
 * original wrote averaged scores back into stored observations, so repeated
 * inference drifted; here inputs are const.
 *
 * Stage A (infer_view): one observer's view of a subject -> one value per metric.
 * Stage B (infer_panorama): all views' stage-A results -> one value per metric.
 * infer_overall: insitu's addition, the most severe metric verdict. */
#ifndef INSITU_INFERENCE_H
#define INSITU_INFERENCE_H

#include <stddef.h>
#include <stdint.h>

#include "report.h"

/* Within one view, a metric looks back at most at this many values (Panorama's
 * VIEW_METRIC_HISTORY_SIZE). */
#define INFER_LOOKBACK 2
/* At most this many observations per view (the LOS cap). */
#define INFER_VIEW_CAP 10
/* Distinct metrics one view can yield: every observation full of different names. */
#define INFER_VIEW_METRICS_MAX (INFER_VIEW_CAP * INSITU_METRICS_MAX)

/* A metric of a stored observation: the name is an interned id (the store owns the
 * names), so observations are small and comparisons cheap. */
struct obs_metric {
	uint32_t metric;
	uint8_t status; /* enum insitu_status */
	double score;
};

struct obs {
	uint64_t id;    /* database row id (0 when not persisted) */
	uint64_t ts_us; /* wall-clock microseconds */
	uint16_t n;
	struct obs_metric m[];
};

/* Stage A.  obs[0..n) in arrival order (oldest first).  Writes one value per metric
 * into out (at most outmax, ordered by first appearance from the newest observation)
 * and the view's time (its newest observation's) into *ts.  Returns the count; 0
 * for an empty view. */
unsigned infer_view(const struct obs *const *obs, unsigned n, struct obs_metric *out,
		    unsigned outmax, uint64_t *ts);

/* One view's stage-A result, the input of stage B. */
struct view_summary {
	uint64_t ts_us;
	unsigned n;
	const struct obs_metric *m;
};

/* Stage B.  Per metric: the most frequent status among the views wins, a tie goes to
 * the more severe (higher) status; the score is the mean of every view's score for
 * that metric.  Views with n == 0 are skipped.  out is ordered by metric id; scratch
 * must hold the sum of the views' n.  *ts = newest view time.  Returns the count. */
unsigned infer_panorama(const struct view_summary *views, unsigned nviews, struct obs_metric *out,
			unsigned outmax, struct obs_metric *scratch, uint64_t *ts);

/* insitu's addition: index in m[0..n) of the metric that decides the subject's overall
 * verdict — the most severe status, ties broken by the lower score, then by the
 * order given by name_cmp (may be NULL: lower metric id).  -1 when n == 0. */
int infer_overall(const struct obs_metric *m, unsigned n,
		  int (*name_cmp)(uint32_t a, uint32_t b, void *ctx), void *ctx);

#endif
