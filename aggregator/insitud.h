/* insitud's state and its core operations (core.c): everything that changes state
 * goes through here, whether it came from the Unix socket (api.c) or from a peer
 * (peers.c), so the rules — validation, watch list, hold buffer, persistence,
 * propagation — live in one place. */
#ifndef INSITU_INSITUD_H
#define INSITU_INSITUD_H

#include <stdint.h>

#include "config.h"
#include "hold.h"
#include "persist.h"
#include "registry.h"
#include "store.h"

struct peers;
struct api;
struct segments;

/* Something in the epoll set: the event loop calls fn with the events. */
struct ev_handler {
	void (*fn)(struct ev_handler *h, uint32_t events);
};

struct insitud_stats {
	uint64_t local_accepted;    /* reports accepted from local clients */
	uint64_t learned_accepted;  /* reports accepted from peers */
	uint64_t learned_ignored;   /* reports from peers about unwatched subjects */
	uint64_t storage_errors;    /* failed commits (writes answered "storage") */
	uint64_t rebuilds;          /* in-memory state rebuilt after a failed commit */
	uint64_t gc_runs, retention_removed, compactions;
};

struct insitud {
	struct config cfg;
	struct store store;
	struct registry reg;
	struct persist db;
	struct hold hold;
	struct peers *peers;
	struct api *api;
	struct segments *segs; /* path segments (segments_query.h); created on first use */
	int epfd;
	struct insitud_stats st;
	/* locally accepted reports of the open transaction: pushed to peers only once it
	 * is committed (a peer never learns what we might lose) */
	struct insitu_report *outbox;
	size_t noutbox, capoutbox;
	uint64_t next_gc_ms, next_compact_ms;
	volatile int stop;
};

/* Opens the database and rebuilds the state.  0 or -1 (message logged). */
int core_open(struct insitud *d);
void core_close(struct insitud *d);

uint64_t core_register(struct insitud *d, const char *module, const char *name);
/* A report from a local client: stamped if ts is 0, stored, subject watched. 0/-1. */
int core_submit_local(struct insitud *d, struct insitu_report *r);
/* A report learned from peer: 1 = accepted, 0 = ignored (held), -1 = error. */
int core_submit_learned(struct insitud *d, const struct insitu_report *r);
/* Watch-list change (on = 1 watch, 0 unwatch); peers are told.  0/-1. */
int core_watch(struct insitud *d, const char *subject, int on);
/* Ends the transaction of this loop pass.  0, or -1 when nothing of it was kept (the
 * writes must be answered with a "storage" error; memory was rebuilt from disk). */
int core_commit(struct insitud *d);
/* Periodic work: GC, retention, compaction, hold-buffer expiry. */
void core_housekeeping(struct insitud *d, uint64_t now_ms);

uint64_t now_ms(void);

#endif
