/* insitud's state-changing operations (see insitud.h). */
#include "insitud.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "peers.h"
#include "segments_query.h"
#include "timeutil.h"

uint64_t now_ms(void) { return mono_ns() / 1000000; }

static void on_drop(uint64_t id, void *ctx) { persist_note_drop(ctx, id); }

static int load(struct insitud *d)
{
	store_init(&d->store);
	registry_init(&d->reg);
	if (persist_load(&d->db, &d->store, &d->reg)) {
		log_error("%s: %s", d->cfg.db, d->db.err);
		return -1;
	}
	return 0;
}

int core_open(struct insitud *d)
{
	uint64_t t0 = mono_ns();

	hold_init(&d->hold);
	if (persist_open(&d->db, d->cfg.db, d->cfg.sync_full)) {
		log_error("%s", d->db.err);
		return -1;
	}
	if (load(d))
		return -1;
	for (unsigned i = 0; i < d->cfg.nsubjects; i++)
		if (store_watch(&d->store, d->cfg.subjects[i]) == 1 &&
		    persist_watch(&d->db, d->cfg.subjects[i], 1))
			log_warn("storing the configured watch list: %s", d->db.err);
	if (persist_flush_drops(&d->db) || persist_commit(&d->db))
		log_warn("%s", d->db.err);
	log_info("state rebuilt from %s: %u subjects, %llu observations, %u observers registered (%.1f ms)",
		 d->cfg.db, d->store.nsubjects, (unsigned long long)d->store.nobs, d->reg.n,
		 (double)(mono_ns() - t0) / 1e6);
	return 0;
}

void core_close(struct insitud *d)
{
	if (d->db.db) {
		persist_flush_drops(&d->db);
		persist_commit(&d->db);
	}
	persist_close(&d->db);
	store_fini(&d->store);
	segments_free(d->segs);
	d->segs = NULL;
	registry_fini(&d->reg);
	hold_fini(&d->hold);
	free(d->outbox);
	d->outbox = NULL;
}

uint64_t core_register(struct insitud *d, const char *module, const char *name)
{
	int is_new;
	uint64_t h = registry_add(&d->reg, module, name, &is_new);

	if (h && is_new && persist_register(&d->db, h, module, name))
		return 0;
	return h;
}

static int add_and_persist(struct insitud *d, const struct insitu_report *r, int learned)
{
	uint64_t id = store_add(&d->store, r, 0, on_drop, &d->db);
	if (!id)
		return -1;
	return persist_report(&d->db, id, r, learned);
}

static void release_one(const struct insitu_report *r, void *ctx)
{
	struct insitud *d = ctx;
	if (add_and_persist(d, r, 1) == 0)
		d->st.learned_accepted++;
}

static int watch_on(struct insitud *d, const char *subject)
{
	int rc = store_watch(&d->store, subject);
	if (rc <= 0)
		return rc;
	if (persist_watch(&d->db, subject, 1))
		return -1;
	/* a subject we start watching: take the peers' held evidence, and tell the peers
	 * that ignored it to send it again */
	hold_release(&d->hold, subject, release_one, d);
	if (d->peers)
		peers_subscribe(d->peers, subject, 1);
	return 0;
}

int core_submit_local(struct insitud *d, struct insitu_report *r)
{
	if (!r->obs.ts_us)
		r->obs.ts_us = wall_ns() / 1000;
	if (watch_on(d, r->subject) < 0 || add_and_persist(d, r, 0))
		return -1;
	d->st.local_accepted++;
	if (d->peers && d->cfg.npeers) {
		if (d->noutbox == d->capoutbox) {
			size_t ncap = d->capoutbox ? d->capoutbox * 2 : 64;
			struct insitu_report *n = realloc(d->outbox, ncap * sizeof *n);
			if (!n)
				return 0; /* stored; the peers miss it (counted by peers as dropped) */
			d->outbox = n;
			d->capoutbox = ncap;
		}
		d->outbox[d->noutbox++] = *r;
	}
	return 0;
}

int core_submit_learned(struct insitud *d, const struct insitu_report *r)
{
	if (d->cfg.filter && !store_watched(&d->store, r->subject)) {
		hold_add(&d->hold, r, now_ms());
		d->st.learned_ignored++;
		return 0;
	}
	if (add_and_persist(d, r, 1))
		return -1;
	d->st.learned_accepted++;
	return 1;
}

int core_watch(struct insitud *d, const char *subject, int on)
{
	int rc;
	if (on)
		return watch_on(d, subject) < 0 ? -1 : 0;
	rc = store_unwatch(&d->store, subject);
	if (rc == 1) {
		if (persist_watch(&d->db, subject, 0))
			return -1;
		if (d->peers)
			peers_subscribe(d->peers, subject, 0);
	}
	return 0;
}

int core_commit(struct insitud *d)
{
	if (d->db.ndrops > 4096)
		persist_flush_drops(&d->db);
	if (!persist_in_txn(&d->db)) {
		d->noutbox = 0;
		return 0;
	}
	if (persist_commit(&d->db) == 0) {
		if (d->peers)
			for (size_t i = 0; i < d->noutbox; i++)
				peers_push(d->peers, &d->outbox[i]);
		d->noutbox = 0;
		return 0;
	}
	/* Nothing of this pass reached the disk: forget it in memory too, so that what we
	 * answer and what survives a restart never disagree. */
	log_error("%s", d->db.err);
	d->st.storage_errors++;
	d->noutbox = 0;
	store_fini(&d->store);
	registry_fini(&d->reg);
	if (load(d)) {
		log_error("cannot rebuild the state from the database; exiting");
		d->stop = 1;
	}
	d->st.rebuilds++;
	return -1;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

void core_housekeeping(struct insitud *d, uint64_t now)
{
	uint64_t wall_us = wall_ns() / 1000;

	hold_expire(&d->hold, now);
	if (now < d->next_gc_ms)
		return;
	d->next_gc_ms = now + d->cfg.gc_interval_ms;
	if (d->cfg.gc_mode != GC_OFF) {
		store_gc(&d->store, d->cfg.gc_mode, wall_us, d->cfg.gc_ttl_us, on_drop, &d->db);
		d->st.gc_runs++;
	}
	if (d->cfg.retention_max_age_s)
		d->st.retention_removed += store_gc(&d->store, GC_ABSOLUTE, wall_us,
						    d->cfg.retention_max_age_s * 1000000ull, on_drop, &d->db);
	if (d->cfg.retention_max_reports && d->store.nobs > d->cfg.retention_max_reports) {
		uint64_t n = d->store.nobs, *ids = malloc(n * sizeof *ids);
		if (ids) {
			n = store_collect_ids(&d->store, ids, n);
			qsort(ids, n, sizeof *ids, cmp_u64);
			d->st.retention_removed += store_trim_ids_below(
				&d->store, ids[n - d->cfg.retention_max_reports], on_drop, &d->db);
			free(ids);
		}
	}
	if (d->db.ndrops) {
		persist_flush_drops(&d->db);
		core_commit(d);
	}
	if (now >= d->next_compact_ms) {
		d->next_compact_ms = now + 60000;
		if (persist_compact(&d->db))
			log_warn("compaction: %s", d->db.err);
		else
			d->st.compactions++;
	}
}
