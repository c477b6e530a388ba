/* One log line through the rules (see logtail_process.h). */
#include "logtail_process.h"

#include <string.h>

#include "logtail_eval.h"
#include "logtail_line.h"
#include "timeutil.h"

void lt_proc_init(struct lt_proc *p, struct lt_rules *r, const char *observer, bool live,
		  struct lt_sink *sink)
{
	memset(p, 0, sizeof *p);
	p->r = r;
	p->observer = observer;
	p->live = live;
	p->sink = sink;
	p->newest_ns = INT64_MIN;
	lt_merge_init(&p->merge, r->merge_window_ns);
}

void lt_proc_line(void *ctx, struct lt_tail *t, const char *line, size_t len)
{
	struct lt_proc *p = ctx;
	struct lt_rules *r = p->r;
	struct lt_fields f;
	p->c.lines++;
	if (!lt_line_parse(r, line, len, &f)) {
		p->c.unmatched++;
		return;
	}
	int64_t now = (int64_t)wall_ns(), ts = now;
	if (r->time_field >= 0) {
		const char *tv = f.v[r->time_field];
		if (!tv || !lt_time_parse(&r->time, tv, f.len[r->time_field], now, &ts)) {
			p->c.bad_time++;
			return;
		}
	}
	if (ts > p->newest_ns)
		p->newest_ns = ts;
	if (lt_is_stale(ts, p->live ? now : p->newest_ns, r->staleness_ns)) {
		p->c.stale++;
		return;
	}
	/* A live line stamped well after now is as wrong as a stale one (a wrong zone
	 * east of us, a skewed clock); stored, it would outrank every real observation
	 * as the "newest" for as long as the error lasts. */
	if (p->live && lt_is_stale(now, ts, r->staleness_ns)) {
		p->c.future++;
		return;
	}
	struct lt_node *leaf = lt_eval(r, &f);
	if (!leaf) {
		p->c.no_rule++;
		return;
	}
	struct insitu_report rep = { 0 };
	switch (lt_make_report(r, leaf->report, &f, p->observer, &rep)) {
	case LT_SUBJECT_OK:
		break;
	case LT_SUBJECT_DROPPED:
		p->c.dropped_unmapped++;
		return;
	case LT_SUBJECT_INVALID:
		p->c.bad_subject++;
		return;
	}
	if (lt_merge_repeat(&p->merge, &rep, ts)) {
		p->c.merged++;
		return;
	}
	/* insitud's reports carry wall-clock microseconds; a stamp before the epoch
	 * (a broken clock in the log) is clamped rather than wrapped. */
	rep.obs.ts_us = ts > 0 ? (uint64_t)(ts / 1000) : 1;
	leaf->hits++;
	p->c.reports++;
	struct lt_source src = { t ? t->path : "-", t ? t->lineno : 0, leaf->name };
	lt_sink_put(p->sink, &rep, &src);
}
