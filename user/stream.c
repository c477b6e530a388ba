/* Stream reassembly by kernel byte positions (see stream.h for the rules). */
#include "stream.h"

#include <stdlib.h>
#include <string.h>

#include "link_msg.h"

void stream_init(struct stream *s, size_t max, struct stream_budget *budget,
		 struct stream_stats *stats)
{
	memset(s, 0, sizeof(*s));
	s->max = max;
	s->budget = budget;
	s->stats = stats;
}

static void release_buf(struct stream *s)
{
	if (s->budget)
		s->budget->used -= s->cap;
	free(s->buf);
	s->buf = NULL;
	s->cap = s->head = s->len = 0;
}

void stream_free(struct stream *s)
{
	release_buf(s);
}

/* Forgets captured and unknown bytes; the next span starts at 'pos' and is flagged. */
static void restart_at(struct stream *s, uint64_t pos, uint16_t flag)
{
	if (s->stats)
		s->stats->dropped_bytes += s->len;
	s->head = s->len = 0;
	s->unknown = 0;
	s->base = pos;
	s->seg_n = 0;
	s->pending_flags = (uint16_t)((s->pending_flags & ~LK_F_TRUNCATED) | flag);
}

void stream_discard(struct stream *s)
{
	restart_at(s, s->next, LK_F_GAP);
}

/* Makes room for 'add' more captured bytes; false if a cap forbids it. */
static bool reserve(struct stream *s, size_t add)
{
	size_t need = s->len + add;
	if (need > s->max) {
		if (s->stats)
			s->stats->overflows++;
		return false;
	}
	if (s->head + need <= s->cap)
		return true;
	if (need <= s->cap) { /* compact: consumed bytes at the front */
		memmove(s->buf, s->buf + s->head, s->len);
		s->head = 0;
		return true;
	}
	size_t ncap = s->cap ? s->cap : 512;
	while (ncap < need)
		ncap *= 2;
	if (ncap > s->max)
		ncap = s->max;
	if (s->budget && s->budget->used - s->cap + ncap > s->budget->limit) {
		s->budget->budget_drops++;
		return false;
	}
	uint8_t *nb = malloc(ncap);
	if (!nb)
		return false;
	if (s->len)
		memcpy(nb, s->buf + s->head, s->len);
	if (s->budget)
		s->budget->used += ncap - s->cap;
	free(s->buf);
	s->buf = nb;
	s->cap = ncap;
	s->head = 0;
	return true;
}

static void add_seg(struct stream *s, uint64_t pos, uint64_t end, uint64_t t_enter,
		    uint64_t t_exit, uint32_t tid)
{
	if (s->seg_n == STREAM_SEGS) {
		/* Merge the two newest: a span's start/end times stay right unless a
		 * message boundary falls exactly between them (counted). */
		struct stream_seg *a = &s->segs[(s->seg_head + STREAM_SEGS - 2) % STREAM_SEGS];
		struct stream_seg *b = &s->segs[(s->seg_head + STREAM_SEGS - 1) % STREAM_SEGS];
		a->end = b->end;
		a->t_exit = b->t_exit;
		s->seg_n--;
		s->seg_head = (s->seg_head + STREAM_SEGS - 1) % STREAM_SEGS;
		if (s->stats)
			s->stats->seg_merges++;
	}
	struct stream_seg *g = &s->segs[s->seg_head];
	g->pos = pos;
	g->end = end;
	g->t_enter = t_enter;
	g->t_exit = t_exit;
	g->tid = tid;
	s->seg_head = (s->seg_head + 1) % STREAM_SEGS;
	s->seg_n++;
}

void stream_feed(struct stream *s, uint64_t pos, const uint8_t *data, uint32_t cap_len,
		 uint32_t len, uint64_t t_enter, uint64_t t_exit, uint32_t tid)
{
	if (cap_len > len)
		cap_len = len;
	if (s->stats) {
		s->stats->events++;
		s->stats->bytes += len;
	}
	if (len == 0)
		return;
	if (!s->started) {
		s->started = true;
		s->next = s->base = pos;
	}
	if (pos > s->next) {
		/* Lost events: what is buffered can never be completed in order. */
		if (s->stats) {
			s->stats->gaps++;
			s->stats->gap_bytes += pos - s->next;
		}
		restart_at(s, pos, LK_F_GAP);
		s->next = pos;
	} else if (pos < s->next) {
		uint64_t dup = s->next - pos;
		if (s->stats)
			s->stats->overlaps++;
		if (dup >= len)
			return;
		uint32_t d = (uint32_t)dup;
		pos += d;
		len -= d;
		if (d >= cap_len) {
			cap_len = 0;
		} else {
			data += d;
			cap_len -= d;
		}
	}
	if (s->unknown) {
		/* Uncaptured bytes sit between the buffer and this event and nobody
		 * consumed across them: the buffered bytes cannot be framed.  Resync here. */
		restart_at(s, pos, LK_F_GAP);
	}
	if (s->len == 0 && s->unknown == 0)
		s->base = pos;
	if (cap_len && !reserve(s, cap_len)) {
		restart_at(s, pos, LK_F_GAP);
		if (!reserve(s, cap_len)) {
			/* Even this one event does not fit: keep none of it. */
			if (s->stats)
				s->stats->dropped_bytes += cap_len;
			s->next = pos + len;
			s->base = s->next;
			return;
		}
	}
	if (cap_len) {
		memcpy(s->buf + s->head + s->len, data, cap_len);
		s->len += cap_len;
	}
	if (cap_len < len) {
		s->unknown = len - cap_len;
		s->pending_flags |= LK_F_TRUNCATED;
		if (s->stats)
			s->stats->truncated_bytes += len - cap_len;
	}
	add_seg(s, pos, pos + len, t_enter, t_exit, tid);
	s->next = pos + len;
}

static struct stream_seg *seg_at(struct stream *s, unsigned i)
{
	return &s->segs[(s->seg_head + STREAM_SEGS - s->seg_n + i) % STREAM_SEGS];
}

bool stream_consume(struct stream *s, uint64_t n, struct stream_span *span)
{
	if (n == 0 || n > s->len + s->unknown)
		return false;
	uint64_t start = s->base, end = s->base + n;
	memset(span, 0, sizeof(*span));
	span->pos = start;
	span->len = n;
	span->flags = s->pending_flags & LK_F_GAP;
	/* Truncation belongs to a span only if it covers uncaptured bytes. */
	if (n > s->len)
		span->flags |= LK_F_TRUNCATED;
	bool first = true;
	for (unsigned i = 0; i < s->seg_n; i++) {
		struct stream_seg *g = seg_at(s, i);
		if (g->end <= start || g->pos >= end)
			continue;
		if (first) {
			span->t_start = g->t_enter;
			span->tid = g->tid;
			first = false;
		}
		span->t_end = g->t_exit;
	}
	/* Drop segments fully consumed. */
	while (s->seg_n && seg_at(s, 0)->end <= end)
		s->seg_n--;
	if (n >= s->len) {
		s->unknown -= n - s->len;
		s->head = s->len = 0;
		if (s->unknown == 0)
			s->pending_flags &= (uint16_t)~LK_F_TRUNCATED;
	} else {
		s->head += n;
		s->len -= n;
	}
	s->base = end;
	s->pending_flags &= (uint16_t)~LK_F_GAP;
	return true;
}
