/* Per-connection, per-direction stream reassembly by kernel byte positions.
 *
 * The kernel reports, for every send/recv, the stream position of the first byte,
 * the number of bytes moved and how many of them it captured (a prefix).  This module
 * keeps the captured bytes of one direction contiguous for a framer, and says plainly
 * where it could not:
 *   - a gap (position jumps forward: events were lost) drops what was buffered and
 *     flags the next message LK_F_GAP;
 *   - truncation (bytes moved but not captured) leaves an "unknown" run after the
 *     captured bytes: a framer that knows a message's length (Content-Length, RESP
 *     bulk length, ...) may consume across it, otherwise the bytes are dropped when the
 *     next event arrives and the next message is flagged LK_F_GAP;
 *   - an overlap (position goes backwards: duplicate report) is trimmed.
 * Nothing is ever made up.  Buffers are bounded per stream and in total (a shared
 * budget); going over drops the buffer, flags the next message and counts it.
 *
 * Timing: each consumed span reports the syscall entry time of the event holding its
 * first byte and the exit time of the event holding its last byte, so a message split
 * over several syscalls, or several messages coalesced into one, get honest times. */
#ifndef INSITU_STREAM_H
#define INSITU_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Shared by every stream of an observer: the total-memory cap and what overflowed. */
struct stream_budget {
	size_t limit;          /* bytes of buffered payload allowed in total */
	size_t used;
	uint64_t budget_drops; /* buffers dropped because the total was reached */
};

struct stream_stats {
	uint64_t events;
	uint64_t bytes;           /* bytes moved (captured or not) */
	uint64_t gaps;            /* forward jumps (lost events) */
	uint64_t gap_bytes;
	uint64_t truncated_bytes; /* moved but not captured */
	uint64_t dropped_bytes;   /* captured but discarded before framing (unframable) */
	uint64_t overlaps;        /* duplicate/backward reports trimmed */
	uint64_t overflows;       /* per-stream cap reached */
	uint64_t seg_merges;      /* event records merged (too many events in one message) */
};

#define STREAM_SEGS 32

/* One syscall's worth of bytes, for timing and thread of consumed spans. */
struct stream_seg {
	uint64_t pos;
	uint64_t end;
	uint64_t t_enter, t_exit;
	uint32_t tid;
	uint32_t pad;
};

struct stream {
	bool started;
	uint16_t pending_flags; /* LK_F_GAP/LK_F_TRUNCATED for the next consumed span */
	uint64_t next;          /* position right after the last byte reported */
	uint64_t base;          /* position of buf[head] */
	uint8_t *buf;
	size_t head, len, cap;  /* captured bytes are buf[head .. head+len) */
	uint64_t unknown;       /* bytes after the captured ones that were not captured */
	size_t max;             /* per-stream cap on captured bytes kept */
	struct stream_budget *budget;
	struct stream_seg segs[STREAM_SEGS];
	unsigned seg_head, seg_n;
	struct stream_stats *stats; /* may be shared by many streams */
};

/* A consumed span: what the framer called one message. */
struct stream_span {
	uint64_t pos;      /* stream position of the first byte */
	uint64_t len;
	uint64_t t_start;  /* entry of the first byte's syscall */
	uint64_t t_end;    /* exit of the last byte's syscall */
	uint32_t tid;      /* thread of the first byte's syscall */
	uint16_t flags;    /* LK_F_GAP, LK_F_TRUNCATED */
};

void stream_init(struct stream *s, size_t max, struct stream_budget *budget,
		 struct stream_stats *stats);
void stream_free(struct stream *s);

/* Feeds one event: 'len' bytes moved at stream position 'pos', of which the first
 * 'cap_len' (<= len) are in 'data'.  'truncated' says the kernel captured fewer
 * bytes than it was asked to (cap_len < len implies it). */
void stream_feed(struct stream *s, uint64_t pos, const uint8_t *data, uint32_t cap_len,
		 uint32_t len, uint64_t t_enter, uint64_t t_exit, uint32_t tid);

/* Captured bytes at the head of the stream, ready for a framer. */
static inline size_t stream_peek(const struct stream *s, const uint8_t **p)
{
	*p = s->buf ? s->buf + s->head : NULL;
	return s->len;
}

/* Bytes known to exist right after the captured ones but not captured. */
static inline uint64_t stream_unknown(const struct stream *s) { return s->unknown; }

/* Position of the first byte stream_peek() shows. */
static inline uint64_t stream_pos(const struct stream *s) { return s->base; }

/* Consumes n bytes (at most peek length + stream_unknown()) as one message and
 * describes them in *span.  Returns false (and consumes nothing) if n is too large. */
bool stream_consume(struct stream *s, uint64_t n, struct stream_span *span);

/* Drops every buffered byte (framer lost sync): counted, next span flagged GAP. */
void stream_discard(struct stream *s);

/* Extends a 32-bit TCP sequence number to 64 bits next to a previous 64-bit position. */
static inline uint64_t stream_unwrap32(uint64_t prev, uint32_t seq)
{
	uint64_t cand = (prev & ~0xffffffffull) | seq;
	int64_t d = (int64_t)(cand - prev);
	if (d > (int64_t)0x80000000ll)
		cand -= 0x100000000ull;
	else if (d < -(int64_t)0x80000000ll)
		cand += 0x100000000ull;
	return cand;
}

#endif
