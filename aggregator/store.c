/* The Local Observation Store (see store.h). */
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void store_init(struct store *s)
{
	memset(s, 0, sizeof *s);
	strmap_init(&s->subj_by_name);
	strmap_init(&s->metric_ids);
	strmap_init(&s->observer_ids);
	strmap_init(&s->watch);
	s->next_id = 1;
}

static void view_fini(struct view *v)
{
	for (unsigned i = 0; i < v->n; i++)
		free(v->obs[i]);
	free(v->sum);
}

void store_fini(struct store *s)
{
	for (unsigned i = 0; i < s->nsubjects; i++) {
		struct subject *sj = s->subjects[i];
		for (unsigned v = 0; v < sj->nviews; v++)
			view_fini(&sj->views[v]);
		free(sj->views);
		free(sj->inf);
		free(sj->name);
		free(sj);
	}
	free(s->subjects);
	for (uint32_t i = 0; i < s->nmetrics; i++)
		free(s->metric_names[i]);
	free(s->metric_names);
	for (uint32_t i = 0; i < s->nobservers; i++)
		free(s->observer_names[i]);
	free(s->observer_names);
	strmap_free(&s->subj_by_name);
	strmap_free(&s->metric_ids);
	strmap_free(&s->observer_ids);
	strmap_free(&s->watch);
	memset(s, 0, sizeof *s);
}

static int grow(void **arr, unsigned *cap, unsigned need, size_t elem)
{
	unsigned ncap;
	void *n;

	if (need <= *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 4;
	while (ncap < need)
		ncap *= 2;
	n = realloc(*arr, (size_t)ncap * elem);
	if (!n)
		return -1;
	*arr = n;
	*cap = ncap;
	return 0;
}

/* Interns name in (map, names); returns its id or UINT32_MAX on out of memory. */
static uint32_t intern(struct strmap *map, char ***names, uint32_t *n, uint32_t *cap, const char *name)
{
	uintptr_t v = (uintptr_t)strmap_get(map, name);
	char *copy;

	if (v)
		return (uint32_t)(v - 1);
	if (grow((void **)names, cap, *n + 1, sizeof **names))
		return UINT32_MAX;
	copy = strdup(name);
	if (!copy || strmap_put(map, name, (void *)(uintptr_t)(*n + 1))) {
		free(copy);
		return UINT32_MAX;
	}
	(*names)[*n] = copy;
	return (*n)++;
}

const char *store_metric_name(const struct store *s, uint32_t id)
{
	return id < s->nmetrics ? s->metric_names[id] : "?";
}

const char *store_observer_name(const struct store *s, uint32_t id)
{
	return id < s->nobservers ? s->observer_names[id] : "?";
}

uint32_t store_observer_id(const struct store *s, const char *name)
{
	uintptr_t v = (uintptr_t)strmap_get(&s->observer_ids, name);
	return v ? (uint32_t)(v - 1) : UINT32_MAX;
}

struct subject *store_subject(const struct store *s, const char *name)
{
	return strmap_get(&s->subj_by_name, name);
}

static struct subject *subject_get_or_add(struct store *s, const char *name)
{
	struct subject *sj = strmap_get(&s->subj_by_name, name);

	if (sj)
		return sj;
	if (grow((void **)&s->subjects, &s->capsubjects, s->nsubjects + 1, sizeof *s->subjects))
		return NULL;
	sj = calloc(1, sizeof *sj);
	if (!sj || !(sj->name = strdup(name)) || strmap_put(&s->subj_by_name, name, sj)) {
		if (sj)
			free(sj->name);
		free(sj);
		return NULL;
	}
	sj->overall = -1;
	s->subjects[s->nsubjects++] = sj;
	return sj;
}

const struct view *store_view(const struct subject *sj, uint32_t observer)
{
	for (unsigned i = 0; i < sj->nviews; i++)
		if (sj->views[i].observer == observer)
			return &sj->views[i];
	return NULL;
}

uint64_t store_add(struct store *s, const struct insitu_report *r, uint64_t id, store_drop_fn drop,
		   void *ctx)
{
	uint32_t oid = intern(&s->observer_ids, &s->observer_names, &s->nobservers, &s->capobservers,
			      r->observer);
	struct subject *sj;
	struct view *v;
	struct obs *o;

	if (oid == UINT32_MAX || !(sj = subject_get_or_add(s, r->subject)))
		return 0;
	o = malloc(sizeof *o + r->obs.n_metrics * sizeof o->m[0]);
	if (!o)
		return 0;
	o->n = (uint16_t)r->obs.n_metrics;
	o->ts_us = r->obs.ts_us;
	for (unsigned i = 0; i < r->obs.n_metrics; i++) {
		uint32_t mid = intern(&s->metric_ids, &s->metric_names, &s->nmetrics, &s->capmetrics,
				      r->obs.metrics[i].name);
		if (mid == UINT32_MAX) {
			free(o);
			return 0;
		}
		o->m[i].metric = mid;
		o->m[i].status = (uint8_t)r->obs.metrics[i].value.status;
		o->m[i].score = r->obs.metrics[i].value.score;
	}
	v = (struct view *)store_view(sj, oid);
	if (!v) {
		if (grow((void **)&sj->views, &sj->capviews, sj->nviews + 1, sizeof *sj->views)) {
			free(o);
			return 0;
		}
		v = &sj->views[sj->nviews++];
		memset(v, 0, sizeof *v);
		v->observer = oid;
	}
	if (v->n == INFER_VIEW_CAP) {
		struct obs *old = v->obs[0];
		if (drop)
			drop(old->id, ctx);
		free(old);
		memmove(&v->obs[0], &v->obs[1], (INFER_VIEW_CAP - 1) * sizeof v->obs[0]);
		v->n--;
		s->nobs--;
		s->st.evicted_cap++;
	}
	if (!id)
		id = s->next_id;
	if (id >= s->next_id)
		s->next_id = id + 1;
	o->id = id;
	v->obs[v->n++] = o;
	v->dirty = 1;
	sj->dirty = 1;
	if (o->ts_us > sj->last_ts)
		sj->last_ts = o->ts_us;
	s->nobs++;
	s->st.reports++;
	return id;
}

const struct obs *store_latest(const struct subject *sj, uint32_t observer, const struct view **vout)
{
	const struct obs *best = NULL;

	for (unsigned i = 0; i < sj->nviews; i++) {
		const struct view *v = &sj->views[i];
		if (!v->n || (observer != UINT32_MAX && v->observer != observer))
			continue;
		if (!best || v->obs[v->n - 1]->id > best->id) {
			best = v->obs[v->n - 1];
			if (vout)
				*vout = v;
		}
	}
	return best;
}

void store_view_summary(struct view *v)
{
	struct obs_metric tmp[INFER_VIEW_METRICS_MAX];
	unsigned n;

	if (!v->dirty)
		return;
	n = infer_view((const struct obs *const *)v->obs, v->n, tmp, INFER_VIEW_METRICS_MAX, &v->sum_ts);
	if (n > v->sum_n || !v->sum) {
		struct obs_metric *m = realloc(v->sum, (n ? n : 1) * sizeof *m);
		if (!m)
			return; /* stays dirty; retried next time */
		v->sum = m;
	}
	memcpy(v->sum, tmp, n * sizeof *tmp);
	v->sum_n = n;
	v->dirty = 0;
}

static const struct store *sort_store; /* qsort has no context argument */

static int by_name(const void *a, const void *b)
{
	const struct obs_metric *x = a, *y = b;
	return strcmp(sort_store->metric_names[x->metric], sort_store->metric_names[y->metric]);
}

static int name_cmp(uint32_t a, uint32_t b, void *ctx)
{
	const struct store *s = ctx;
	return strcmp(s->metric_names[a], s->metric_names[b]);
}

struct subject *store_infer(struct store *s, struct subject *sj)
{
	struct view_summary stackv[16], *vs = stackv;
	struct obs_metric *scratch = NULL, *out = NULL;
	unsigned total = 0, n;

	if (!sj->dirty)
		return sj;
	if (sj->nviews > 16 && !(vs = malloc(sj->nviews * sizeof *vs)))
		return sj;
	for (unsigned i = 0; i < sj->nviews; i++) {
		store_view_summary(&sj->views[i]);
		vs[i].ts_us = sj->views[i].sum_ts;
		vs[i].n = sj->views[i].dirty ? 0 : sj->views[i].sum_n;
		vs[i].m = sj->views[i].sum;
		total += vs[i].n;
	}
	scratch = malloc((total ? total : 1) * sizeof *scratch);
	out = malloc((total ? total : 1) * sizeof *out);
	if (!scratch || !out) {
		free(scratch);
		free(out);
		if (vs != stackv)
			free(vs);
		return sj;
	}
	n = infer_panorama(vs, sj->nviews, out, total, scratch, &sj->inf_ts);
	sort_store = s;
	qsort(out, n, sizeof *out, by_name);
	free(sj->inf);
	sj->inf = out;
	sj->inf_n = n;
	sj->overall = infer_overall(out, n, name_cmp, s);
	sj->dirty = 0;
	s->st.inferences++;
	free(scratch);
	if (vs != stackv)
		free(vs);
	return sj;
}

int store_watch(struct store *s, const char *subject)
{
	if (strmap_has(&s->watch, subject))
		return 0;
	return strmap_put(&s->watch, subject, NULL) ? -1 : 1;
}

int store_unwatch(struct store *s, const char *subject)
{
	if (!strmap_has(&s->watch, subject))
		return 0;
	strmap_del(&s->watch, subject);
	return 1;
}

int store_watched(const struct store *s, const char *subject) { return strmap_has(&s->watch, subject); }

/* Removes from v every observation for which keep() is false; returns the count. */
static unsigned view_filter(struct store *s, struct view *v, int (*keep)(const struct obs *, const void *),
			    const void *arg, store_drop_fn drop, void *ctx)
{
	unsigned w = 0, removed = 0;

	for (unsigned i = 0; i < v->n; i++) {
		if (keep(v->obs[i], arg)) {
			v->obs[w++] = v->obs[i];
		} else {
			if (drop)
				drop(v->obs[i]->id, ctx);
			free(v->obs[i]);
			removed++;
		}
	}
	v->n = (uint8_t)w;
	if (removed) {
		v->dirty = 1;
		s->nobs -= removed;
		s->st.gc_removed += removed;
	}
	return removed;
}

static int keep_newer(const struct obs *o, const void *arg) { return o->ts_us >= *(const uint64_t *)arg; }
static int keep_id(const struct obs *o, const void *arg) { return o->id >= *(const uint64_t *)arg; }

static void subject_refresh(struct subject *sj)
{
	sj->last_ts = 0;
	for (unsigned i = 0; i < sj->nviews; i++)
		for (unsigned k = 0; k < sj->views[i].n; k++)
			if (sj->views[i].obs[k]->ts_us > sj->last_ts)
				sj->last_ts = sj->views[i].obs[k]->ts_us;
	sj->dirty = 1;
}

uint64_t store_gc(struct store *s, enum gc_mode mode, uint64_t now_us, uint64_t ttl_us,
		  store_drop_fn drop, void *ctx)
{
	uint64_t total = 0;

	if (mode == GC_OFF)
		return 0;
	for (unsigned i = 0; i < s->nsubjects; i++) {
		struct subject *sj = s->subjects[i];
		unsigned lost = 0;
		for (unsigned k = 0; k < sj->nviews; k++) {
			struct view *v = &sj->views[k];
			uint64_t limit;
			if (!v->n)
				continue;
			if (mode == GC_ABSOLUTE) {
				limit = now_us > ttl_us ? now_us - ttl_us : 0;
				lost += view_filter(s, v, keep_newer, &limit, drop, ctx);
			} else {
				/* the newest (last arrived) always stays */
				const struct obs *newest = v->obs[v->n - 1];
				limit = newest->ts_us > ttl_us ? newest->ts_us - ttl_us : 0;
				if (limit > newest->ts_us)
					limit = newest->ts_us;
				lost += view_filter(s, v, keep_newer, &limit, drop, ctx);
			}
		}
		if (lost) {
			subject_refresh(sj);
			store_infer(s, sj); /* re-inference of every subject that lost data */
			total += lost;
		}
	}
	return total;
}

uint64_t store_trim_ids_below(struct store *s, uint64_t min_id, store_drop_fn drop, void *ctx)
{
	uint64_t total = 0;

	for (unsigned i = 0; i < s->nsubjects; i++) {
		struct subject *sj = s->subjects[i];
		unsigned lost = 0;
		for (unsigned k = 0; k < sj->nviews; k++)
			lost += view_filter(s, &sj->views[k], keep_id, &min_id, drop, ctx);
		if (lost) {
			subject_refresh(sj);
			store_infer(s, sj);
			total += lost;
		}
	}
	return total;
}

uint64_t store_collect_ids(const struct store *s, uint64_t *ids, uint64_t cap)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < s->nsubjects; i++)
		for (unsigned k = 0; k < s->subjects[i]->nviews; k++) {
			const struct view *v = &s->subjects[i]->views[k];
			for (unsigned j = 0; j < v->n && n < cap; j++)
				ids[n++] = v->obs[j]->id;
		}
	return n;
}

void store_obs_to_report(const struct store *s, const struct subject *sj, const struct view *v,
			 const struct obs *o, struct insitu_report *r)
{
	memset(r, 0, sizeof *r);
	snprintf(r->observer, sizeof r->observer, "%s", store_observer_name(s, v->observer));
	snprintf(r->subject, sizeof r->subject, "%s", sj->name);
	r->obs.ts_us = o->ts_us;
	r->obs.n_metrics = o->n;
	for (unsigned i = 0; i < o->n; i++) {
		snprintf(r->obs.metrics[i].name, sizeof r->obs.metrics[i].name, "%s",
			 store_metric_name(s, o->m[i].metric));
		r->obs.metrics[i].value.status = (enum insitu_status)o->m[i].status;
		r->obs.metrics[i].value.score = o->m[i].score;
	}
}
