/* Merging identical events within a window of log time (see logtail_merge.h). */
#include "logtail_merge.h"

#include <string.h>

void lt_merge_init(struct lt_merge *m, int64_t window_ns)
{
	memset(m, 0, sizeof *m);
	m->window_ns = window_ns;
}

/* FNV-1a over the identity of an event. */
static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *s = p;
	for (size_t i = 0; i < n; i++) {
		h ^= s[i];
		h *= 1099511628211ull;
	}
	return h;
}

bool lt_merge_repeat(struct lt_merge *m, const struct insitu_report *rep, int64_t ts_ns)
{
	if (m->window_ns <= 0)
		return false;
	const struct insitu_metric *met = &rep->obs.metrics[0];
	uint64_t h = 14695981039346656037ull;
	h = fnv(h, rep->subject, strlen(rep->subject) + 1);
	h = fnv(h, met->name, strlen(met->name) + 1);
	h = fnv(h, &met->value.status, sizeof met->value.status);
	h = fnv(h, &met->value.score, sizeof met->value.score);
	if (h == 0)
		h = 1;
	struct lt_merge_slot *s = &m->slot[h % LT_MERGE_SLOTS];
	if (s->hash == h && s->value.status == met->value.status && s->value.score == met->value.score &&
	    !strcmp(s->metric, met->name) && !strcmp(s->subject, rep->subject)) {
		int64_t d = ts_ns - s->ts_ns;
		if (d < 0)
			d = -d;	/* a line a little out of order is still the same burst */
		if (d < m->window_ns)
			return true;
	} else if (s->hash != 0 && ts_ns - s->ts_ns < m->window_ns) {
		m->evicted++;	/* its window was still open: a repeat of it will be reported */
	}
	s->hash = h;
	s->ts_ns = ts_ns;
	s->value = met->value;
	memcpy(s->metric, met->name, sizeof s->metric);
	memcpy(s->subject, rep->subject, sizeof s->subject);
	return false;
}
