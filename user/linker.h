/* The linker stage of insitu-observer: kernel message events in, request paths out.
 *
 * Per event: connection table (conn.h) -> TCP position check (gaps are fed to the
 * framer as uncaptured bytes, so it resyncs and byte positions stay exact; overlaps
 * are trimmed) -> the semantics engine's framer and extraction (semantics.h) ->
 * struct lk_msg -> the linker (link.h) -> completed trees printed as JSON lines or
 * as a tree (path.h).
 *
 * Use from insitu-observer (--paths):
 *     struct linker_opts o;  linker_opts_defaults(&o);  o.out = stdout;
 *     o.live = !replaying;   // live: time advances with the clock at every flush
 *     struct linker_sink *ls = linker_sink_new(sem_set, &o);
 *     obs_pipeline_add(&pipe, linker_sink_obs(ls));
 *     ... run ...
 *     linker_sink_finish(ls);           // end: time out what is open, emit the rest
 *     linker_sink_print_stats(ls, stderr);
 *     linker_sink_free(ls);
 */
#ifndef INSITU_LINKER_H
#define INSITU_LINKER_H

#include <stdbool.h>
#include <stdio.h>

#include "link.h"
#include "observer_sink.h"
#include "semantics.h"

enum linker_format { LINKER_JSON = 0, LINKER_TREE = 1 };

struct linker_opts {
	struct lk_cfg lk;        /* linking rules' bounds and times */
	uint32_t max_conns;      /* connection table (default 16384; ~10 KiB each) */
	FILE *out;               /* where paths go (default stdout) */
	enum linker_format format;
	bool live;               /* advance time from the clock at flush() */
	bool no_ids;             /* ignore every extracted id (accuracy baseline) */
	bool no_kernel_ids;      /* extract in user space even where the kernel's ids
	                            block is complete (benchmark, cross-checks) */
	lk_path_fn on_path;      /* also called for every completed tree (health stage) */
	void *on_path_arg;       /* with on_path set, out NULL means: print nothing */
	/* Only events of these network namespaces (0 entries: all), as an observer
	 * filtered with --netns would see them: splits one recording into the views of
	 * several observers (segments and their joins). */
	uint32_t netns[16];
	unsigned n_netns;
};

struct linker_stats {
	uint64_t events, skipped, no_protocol, gaps, gap_bytes, overlaps, frames;
	uint64_t closes, filtered;
	uint64_t truncated_bytes; /* moved but not captured (beyond the payload prefix) */
	uint64_t kernel_ids;      /* frames whose ids came from the kernel's block */
	uint64_t user_ids;        /* frames extracted here (no complete block for them) */
	uint64_t ids_only;        /* --payload=ids messages: no payload, kernel ids only */
	uint64_t ids_only_unusable; /* of those, blocks that did not fit the semantics,
	                               or TCP ones with no stream position / overlapping */
};

struct linker_sink;

void linker_opts_defaults(struct linker_opts *o);
struct linker_sink *linker_sink_new(const struct sem_set *sem, const struct linker_opts *o);
struct obs_sink *linker_sink_obs(struct linker_sink *ls);
void linker_sink_finish(struct linker_sink *ls);
void linker_sink_print_stats(const struct linker_sink *ls, FILE *out);
/* The same counters as one JSON object on one line (for programs). */
void linker_sink_print_stats_json(const struct linker_sink *ls, FILE *out);
void linker_sink_free(struct linker_sink *ls);

/* For tests and benchmarks: the same path without the pipeline. */
void linker_sink_msg(struct linker_sink *ls, const struct insitu_msg_event *ev,
		     const uint8_t *payload);
/* The same with the event's ids block (ev->ids_len bytes; NULL = none): a complete
 * block is used instead of extracting again, and --payload=ids events need it. */
void linker_sink_msg_ids(struct linker_sink *ls, const struct insitu_msg_event *ev,
			 const uint8_t *ids, const uint8_t *payload);
void linker_sink_conn(struct linker_sink *ls, const struct insitu_conn_event *ev);
const struct linker_stats *linker_sink_stats(const struct linker_sink *ls);
struct linker *linker_sink_linker(struct linker_sink *ls);

#endif
