/* Panorama's inference rules (see inference.h and docs/aggregator.md). */
#include "inference.h"

#include <stdlib.h>

unsigned infer_view(const struct obs *const *obs, unsigned n, struct obs_metric *out,
		    unsigned outmax, uint64_t *ts)
{
	/* per output metric: values counted so far and whether the look-back stopped */
	uint8_t cnt[INFER_VIEW_METRICS_MAX];
	uint8_t stop[INFER_VIEW_METRICS_MAX];
	unsigned nout = 0;

	if (outmax > INFER_VIEW_METRICS_MAX)
		outmax = INFER_VIEW_METRICS_MAX;
	*ts = 0;
	if (n == 0)
		return 0;
	*ts = obs[n - 1]->ts_us;
	for (unsigned i = n; i-- > 0;) {
		const struct obs *o = obs[i];
		for (unsigned k = 0; k < o->n; k++) {
			const struct obs_metric *m = &o->m[k];
			unsigned j;

			for (j = 0; j < nout; j++)
				if (out[j].metric == m->metric)
					break;
			if (j == nout) {
				/* newest occurrence (or carried over from an older
				 * observation): it fixes the status */
				if (nout == outmax)
					continue;
				out[nout] = *m;
				cnt[nout] = 1;
				stop[nout] = 0;
				nout++;
				continue;
			}
			if (stop[j] || cnt[j] >= INFER_LOOKBACK)
				continue;
			if (m->status == INSITU_PENDING && out[j].status == INSITU_HEALTHY)
				continue; /* pending resolved: does not count, keep looking */
			if (m->status != out[j].status) {
				stop[j] = 1; /* the newer status overrides */
				continue;
			}
			out[j].score += m->score;
			cnt[j]++;
		}
	}
	for (unsigned j = 0; j < nout; j++)
		if (cnt[j] > 1)
			out[j].score /= cnt[j];
	return nout;
}

static int by_metric(const void *a, const void *b)
{
	const struct obs_metric *x = a, *y = b;
	if (x->metric != y->metric)
		return x->metric < y->metric ? -1 : 1;
	return 0;
}

unsigned infer_panorama(const struct view_summary *views, unsigned nviews, struct obs_metric *out,
			unsigned outmax, struct obs_metric *scratch, uint64_t *ts)
{
	unsigned total = 0, nout = 0, any = 0;

	*ts = 0;
	for (unsigned v = 0; v < nviews; v++) {
		if (!views[v].n)
			continue;
		if (!any || views[v].ts_us > *ts)
			*ts = views[v].ts_us;
		any = 1;
		for (unsigned k = 0; k < views[v].n; k++)
			scratch[total++] = views[v].m[k];
	}
	/* group by metric; a stable order of equal keys is not needed (sums and counts) */
	qsort(scratch, total, sizeof *scratch, by_metric);
	for (unsigned i = 0; i < total && nout < outmax;) {
		unsigned hist[INSITU_STATUS_COUNT] = {0}, j, best = 0, c = 0;
		double sum = 0;

		for (j = i; j < total && scratch[j].metric == scratch[i].metric; j++) {
			unsigned st = scratch[j].status < INSITU_STATUS_COUNT ? scratch[j].status : 0;
			hist[st]++;
			sum += scratch[j].score;
			c++;
		}
		for (unsigned s = 0; s < INSITU_STATUS_COUNT; s++)
			if (hist[s] && hist[s] >= hist[best])
				best = s; /* ">=" and ascending s: a tie goes to the more severe */
		out[nout].metric = scratch[i].metric;
		out[nout].status = (uint8_t)best;
		out[nout].score = sum / c;
		nout++;
		i = j;
	}
	return nout;
}

int infer_overall(const struct obs_metric *m, unsigned n,
		  int (*name_cmp)(uint32_t a, uint32_t b, void *ctx), void *ctx)
{
	int best = -1;

	for (unsigned i = 0; i < n; i++) {
		if (best < 0 || m[i].status > m[best].status) {
			best = (int)i;
			continue;
		}
		if (m[i].status < m[best].status)
			continue;
		if (m[i].score < m[best].score) {
			best = (int)i;
		} else if (m[i].score == m[best].score) {
			int c = name_cmp ? name_cmp(m[i].metric, m[best].metric, ctx)
					 : (m[i].metric < m[best].metric ? -1 : 1);
			if (c < 0)
				best = (int)i;
		}
	}
	return best;
}
