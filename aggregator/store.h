/* The Local Observation Store: subjects, their views (one per observer, at most
 * INFER_VIEW_CAP observations each, arrival order, oldest dropped), the watch list,
 * garbage collection, and cached inference recomputed lazily when a subject changed
 * (so a query right after an accepted report always sees it).
 *
 * The store is memory only; persist.c writes what it is told and replays it here at
 * start-up.  Names are interned: observations carry metric ids, views observer ids. */
#ifndef INSITU_STORE_H
#define INSITU_STORE_H

#include <stdint.h>

#include "inference.h"
#include "report.h"
#include "strmap.h"

struct view {
	uint32_t observer; /* interned observer name */
	uint8_t n;
	struct obs *obs[INFER_VIEW_CAP]; /* arrival order, oldest first */
	/* stage-A result, valid unless dirty */
	uint8_t dirty;
	unsigned sum_n;
	uint64_t sum_ts;
	struct obs_metric *sum;
};

struct subject {
	char *name;
	struct view *views;
	unsigned nviews, capviews;
	uint64_t last_ts;      /* newest observation time (list subjects) */
	uint8_t dirty;         /* inference must be recomputed */
	/* inference (stage B), valid unless dirty; n == 0 = no inference */
	unsigned inf_n;
	uint64_t inf_ts;
	struct obs_metric *inf; /* ordered by metric name */
	int overall;            /* index into inf (insitu's addition), -1 if none */
};

enum gc_mode { GC_OFF = 0, GC_ABSOLUTE, GC_RELATIVE };

struct store_stats {
	uint64_t reports;       /* observations added */
	uint64_t evicted_cap;   /* dropped by the per-view cap */
	uint64_t gc_removed;    /* dropped by garbage collection / retention */
	uint64_t inferences;    /* stage-B computations */
};

struct store {
	struct strmap subj_by_name;  /* -> struct subject * */
	struct subject **subjects;   /* insertion order */
	unsigned nsubjects, capsubjects;
	struct strmap metric_ids;    /* name -> id+1 */
	char **metric_names;
	uint32_t nmetrics, capmetrics;
	struct strmap observer_ids;  /* name -> id+1 */
	char **observer_names;
	uint32_t nobservers, capobservers;
	struct strmap watch;         /* watched subjects (value unused) */
	uint64_t next_id;            /* next observation id */
	uint64_t nobs;               /* observations held */
	struct store_stats st;
};

/* Called with the id of every observation the store drops (cap, GC, retention), so
 * persistence can delete it. */
typedef void (*store_drop_fn)(uint64_t id, void *ctx);

void store_init(struct store *s);
void store_fini(struct store *s);

/* Adds the report's observation to view (observer -> subject).  id 0 = assign the
 * next id; otherwise (replay from disk) use it.  The observation dropped by the cap,
 * if any, is passed to drop.  Returns the new observation's id, 0 on out of memory. */
uint64_t store_add(struct store *s, const struct insitu_report *r, uint64_t id, store_drop_fn drop,
		   void *ctx);

struct subject *store_subject(const struct store *s, const char *name);
const struct view *store_view(const struct subject *sj, uint32_t observer);
/* The latest observation about sj (from observer, or from anyone when observer is
 * UINT32_MAX); its view in *v. */
const struct obs *store_latest(const struct subject *sj, uint32_t observer, const struct view **v);
/* Brings sj's inference up to date; returns sj (inf_n == 0: no inference). */
struct subject *store_infer(struct store *s, struct subject *sj);
/* Brings v's stage-A summary up to date. */
void store_view_summary(struct view *v);

const char *store_metric_name(const struct store *s, uint32_t id);
const char *store_observer_name(const struct store *s, uint32_t id);
/* UINT32_MAX when unknown. */
uint32_t store_observer_id(const struct store *s, const char *name);

/* Watch list.  Return 1 when the list changed, 0 when not, -1 on out of memory. */
int store_watch(struct store *s, const char *subject);
int store_unwatch(struct store *s, const char *subject);
int store_watched(const struct store *s, const char *subject);

/* Garbage collection: absolute keeps observations newer than now - ttl; relative
 * keeps each view's newest observation plus those within ttl of it.  Subjects that
 * lost observations are re-inferred.  Returns the number removed. */
uint64_t store_gc(struct store *s, enum gc_mode mode, uint64_t now_us, uint64_t ttl_us,
		  store_drop_fn drop, void *ctx);
/* Retention: removes every observation whose id is below min_id. */
uint64_t store_trim_ids_below(struct store *s, uint64_t min_id, store_drop_fn drop, void *ctx);
/* Fills ids (cap nobs) with every held id; returns the count (retention by count). */
uint64_t store_collect_ids(const struct store *s, uint64_t *ids, uint64_t cap);

/* Rebuilds an insitu_report from a stored observation (names resolved). */
void store_obs_to_report(const struct store *s, const struct subject *sj, const struct view *v,
			 const struct obs *o, struct insitu_report *r);

#endif
