/* The observer's user-space pipeline: records (from the ring buffer or from a
 * --replay file) are validated once, then handed to every registered sink.
 *
 * A sink is the plug-in point for every later stage (dump, record, and the
 * semantics / linker / health stages): a context pointer and callbacks, any of which
 * may be NULL.  Callbacks run on the consumer's hot path, one record at a time: keep
 * them cheap, buffer, and do slow work in flush().
 */
#ifndef INSITU_OBSERVER_SINK_H
#define INSITU_OBSERVER_SINK_H

#include <stddef.h>
#include <stdint.h>

#include "../bpf/observer.h"

/* Largest record a reader accepts (the kernel's largest is far smaller). */
#define OBS_RECORD_MAX (64 * 1024)
#define OBS_MAX_SINKS 8

struct obs_sink {
	const char *name;
	void *ctx;
	/* one message: ids = ev->ids_len bytes, payload = ev->cap_len bytes */
	void (*on_msg)(void *ctx, const struct insitu_msg_event *ev, const uint8_t *ids,
		       const uint8_t *payload);
	void (*on_conn)(void *ctx, const struct insitu_conn_event *ev);
	/* every valid record as raw bytes (record files keep them unchanged) */
	void (*on_raw)(void *ctx, const void *rec, size_t len);
	/* after each batch (ring-buffer poll, end of replay): write out, report */
	void (*flush)(void *ctx);
};

/* User-space counters of the pipeline itself. */
struct obs_pipeline_stats {
	uint64_t records;   /* valid records dispatched */
	uint64_t msgs;
	uint64_t conns;
	uint64_t bytes;     /* record bytes */
	uint64_t invalid;   /* records refused by obs_record_check() */
	uint64_t unknown;   /* valid header, unknown kind: skipped */
};

struct obs_pipeline {
	struct obs_sink *sinks[OBS_MAX_SINKS];
	int nsinks;
	struct obs_pipeline_stats st;
};

/* Returns 0, or -1 when OBS_MAX_SINKS sinks are already registered. */
int obs_pipeline_add(struct obs_pipeline *p, struct obs_sink *s);

/* Checks one record of len bytes (a complete record: len == hdr.size).  Returns 0
 * when it is well-formed, else -1 with a short reason in *why (static string). */
int obs_record_check(const void *rec, size_t len, const char **why);

/* Validates and dispatches one record; returns 0, or -1 if it was refused. */
int obs_pipeline_feed(struct obs_pipeline *p, const void *rec, size_t len);

void obs_pipeline_flush(struct obs_pipeline *p);

#endif
