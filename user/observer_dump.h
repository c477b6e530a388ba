/* --dump: one JSON object per event, one per line (fields: docs/events.md). */
#ifndef INSITU_OBSERVER_DUMP_H
#define INSITU_OBSERVER_DUMP_H

#include <stdio.h>

#include "observer_sink.h"

struct obs_dump {
	FILE *out;
	uint64_t write_errors;
};

/* A sink writing to out (buffered; written through at each flush). */
void obs_dump_init(struct obs_dump *d, FILE *out, struct obs_sink *sink);

/* JSON string escaping of raw bytes: '"' '\\' and control characters escaped,
 * printable ASCII as is, every other byte b as \u00XX -- each code point
 * U+0000..U+00FF stands for exactly one byte, so the payload round-trips.
 * Writes at most cap-1 characters plus NUL into dst; returns the length the full
 * escape needs (like snprintf).  No surrounding quotes. */
size_t obs_json_escape(char *dst, size_t cap, const uint8_t *src, size_t n);

/* Writes the JSON line for one event (exposed for tests). */
void obs_dump_msg(FILE *out, const struct insitu_msg_event *ev, const uint8_t *ids,
		  const uint8_t *payload);
void obs_dump_conn(FILE *out, const struct insitu_conn_event *ev);

#endif
