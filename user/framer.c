/* Framers: split one direction of a connection's byte stream into messages.
 *
 * Bytes arrive per syscall, in order.  A message may span many syscalls and one
 * syscall may hold many messages (pipelining), so every framer is an incremental
 * state machine that never needs more than the current message's first
 * SEM_FRAME_KEEP bytes (kept for extraction) plus a small line buffer.
 *
 * Captured prefixes: the kernel copies only the first N bytes of a syscall; the
 * rest is "missing".  Missing bytes inside a region of known length (a body after
 * Content-Length, a RESP bulk string, a length-prefixed message) are skipped
 * exactly; missing bytes anywhere else lose the framing, which then restarts at the
 * next syscall boundary (the message in progress is emitted ABORTED, the next one
 * carries GAP).  Both are counted in sem_framer_stats. */
#include "semantics_model.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define LINEBUF 320
#define HTTP_HEAD_MAX 65536 /* an HTTP head longer than this loses sync */
#define RESP_DEPTH 16

enum lstate { L_LINE = 0, L_BLOCK };
enum hstate { H_HEAD = 0, H_BODY, H_CHUNK_SIZE, H_CHUNK_DATA, H_TRAILER, H_UNTIL_CLOSE };

struct sem_framer {
	const struct sem_protocol *p;
	const struct semm_framing *fr;
	enum sem_dir dir;
	struct sem_framer_stats st;
	uint64_t pos;             /* stream offset of the next byte */
	uint64_t t_start, t_end;  /* times of the current feed */

	/* the message being assembled */
	bool in_msg;
	uint64_t mpos, mlen, t_first;
	uint32_t mflags;
	size_t have;
	uint8_t buf[SEM_FRAME_KEEP];

	bool resync;              /* framing lost: skip to the next feed */
	bool gap_next;            /* flag the next message GAP */

	/* shared line scanner */
	uint8_t line[LINEBUF];
	size_t line_len;          /* bytes of the current line (may exceed LINEBUF) */
	size_t dmatch;            /* delimiter bytes matched so far */
	unsigned nlines;          /* lines completed in this message */
	uint64_t remain;          /* bytes left in a known-length region */

	/* line framing */
	int lstate;
	int multi;                /* index+1 of the multi_line rule in effect */
	/* length framing */
	uint64_t need;            /* total length once known, 0 = not yet */
	/* http1 */
	int hstate;
	int64_t content_length;
	bool chunked, no_body;
	bool interim;             /* a 1xx response: the real one follows */
	bool is_head;             /* this request is HEAD: its response has no body */
	/* HTTP request/response pairing (sem_framer_pair): the to_server framer queues
	 * one bit per request (HEAD or not) in its peer, which pops one per response */
	struct sem_framer *peer;
	uint64_t head_q;
	uint8_t head_n;
	bool pair_broken;         /* framing was lost: the queue no longer lines up */
	/* resp */
	int depth;
	int64_t rem[RESP_DEPTH];
	bool inline_cmd;
};

struct sem_framer *sem_framer_new(const struct sem_protocol *p, enum sem_dir dir)
{
	struct sem_framer *f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->p = p;
	f->dir = dir;
	f->fr = &p->framing[dir];
	return f;
}

void sem_framer_pair(struct sem_framer *to_server, struct sem_framer *from_server)
{
	if (!to_server || !from_server || to_server->dir != SEM_TO_SERVER || from_server->dir != SEM_FROM_SERVER)
		return;
	to_server->peer = from_server;
	from_server->peer = to_server;
}

void sem_framer_free(struct sem_framer *f)
{
	if (f && f->peer)
		f->peer->peer = NULL;
	free(f);
}

const struct sem_framer_stats *sem_framer_stats(const struct sem_framer *f)
{
	return &f->st;
}

static void reset_msg(struct sem_framer *f)
{
	f->in_msg = false;
	f->mlen = 0;
	f->have = 0;
	f->mflags = 0;
	f->line_len = 0;
	f->dmatch = 0;
	f->nlines = 0;
	f->remain = 0;
	f->lstate = L_LINE;
	f->multi = 0;
	f->need = 0;
	f->hstate = H_HEAD;
	f->content_length = -1;
	f->chunked = f->no_body = f->interim = f->is_head = false;
	f->depth = 0;
	f->rem[0] = 1;
	f->inline_cmd = false;
}

static void start(struct sem_framer *f)
{
	if (f->in_msg)
		return;
	reset_msg(f);
	f->in_msg = true;
	f->mpos = f->pos;
	f->t_first = f->t_start;
	if (f->gap_next) {
		f->mflags |= SEM_FR_GAP;
		f->gap_next = false;
	}
}

/* Appends captured bytes to the current message. */
static void take(struct sem_framer *f, const uint8_t *b, size_t n)
{
	start(f);
	size_t room = SEM_FRAME_KEEP - f->have;
	size_t k = n < room ? n : room;
	memcpy(f->buf + f->have, b, k);
	f->have += k;
	f->mlen += n;
	f->pos += n;
}

static void emit(struct sem_framer *f, sem_frame_fn fn, void *ctx, uint32_t extra)
{
	if (!f->in_msg)
		return;
	struct sem_frame fr = {
		.data = f->buf,
		.cap = f->have,
		.len = f->mlen,
		.pos = f->mpos,
		.t_first = f->t_first,
		.t_last = f->t_end,
		.flags = f->mflags | extra | (f->have < f->mlen ? SEM_FR_TRUNCATED : 0),
	};
	f->st.messages++;
	fn(ctx, &fr);
	reset_msg(f);
}

static void lose_sync(struct sem_framer *f, sem_frame_fn fn, void *ctx)
{
	f->st.resyncs++;
	/* requests and responses may no longer line up: stop pairing them */
	if (f->dir == SEM_FROM_SERVER)
		f->pair_broken = true;
	else if (f->peer)
		f->peer->pair_broken = true;
	if (f->in_msg && f->mlen)
		emit(f, fn, ctx, SEM_FR_ABORTED);
	reset_msg(f);
	f->resync = true;
	f->gap_next = true;
}

/* Feeds one byte to the line scanner; returns true when it completed a line
 * (the delimiter included).  The line's first LINEBUF bytes are in f->line. */
static bool line_byte(struct sem_framer *f, uint8_t c)
{
	const struct semm_lit *d = &f->fr->delim;
	if (f->line_len < LINEBUF)
		f->line[f->line_len] = c;
	f->line_len++;
	if (c == (uint8_t)d->s[f->dmatch]) {
		if (++f->dmatch == d->len) {
			f->dmatch = 0;
			return true;
		}
	} else {
		f->dmatch = c == (uint8_t)d->s[0] ? 1 : 0;
		if (f->dmatch == d->len) {
			f->dmatch = 0;
			return true;
		}
	}
	return false;
}

/* Appends, in bulk, the bytes before the next possible start of the delimiter
 * (memchr instead of one line_byte() call per byte); returns the new index. */
static size_t line_skip(struct sem_framer *f, const uint8_t *b, size_t n, size_t i)
{
	if (f->dmatch)
		return i;
	const uint8_t *q = memchr(b + i, (uint8_t)f->fr->delim.s[0], n - i);
	size_t k = q ? (size_t)(q - b) - i : n - i;
	if (f->line_len < LINEBUF) {
		size_t c = LINEBUF - f->line_len < k ? LINEBUF - f->line_len : k;
		memcpy(f->line + f->line_len, b + i, c);
	}
	f->line_len += k;
	return i + k;
}

enum line_scan { LINE_MORE, LINE_DONE, LINE_OVERSIZE };

static bool line_over(const struct sem_framer *f, size_t i, size_t head_max)
{
	return f->line_len > f->fr->max_line || (head_max && f->mlen + i > head_max);
}

/* The line framings' scanner: advances *ip over b[*ip..n) to the end of the next
 * line (its delimiter included).  LINE_MORE: no line ended yet (call again while
 * *ip < n); LINE_DONE: b[0..*ip) ends a line; LINE_OVERSIZE: the line ran past
 * max_line (or the message past head_max, 0 = no bound) -- its bytes are taken,
 * counted and sync is lost; the caller skips the rest of the feed. */
static enum line_scan line_next(struct sem_framer *f, const uint8_t *b, size_t n, size_t *ip,
				size_t head_max, sem_frame_fn fn, void *ctx)
{
	size_t i = line_skip(f, b, n, *ip);
	if (i < n && !line_over(f, i, head_max) && line_byte(f, b[i++])) {
		*ip = i;
		return LINE_DONE;
	}
	*ip = i;
	if (!line_over(f, i, head_max))
		return LINE_MORE;
	take(f, b, i);
	f->st.oversize++;
	lose_sync(f, fn, ctx);
	return LINE_OVERSIZE;
}

/* Content of the completed line without its delimiter, within LINEBUF. */
static size_t line_content(const struct sem_framer *f, size_t dlen)
{
	size_t n = f->line_len >= dlen ? f->line_len - dlen : 0;
	return n < LINEBUF ? n : LINEBUF;
}

static bool line_starts(const struct sem_framer *f, const struct semm_lit *l)
{
	return f->line_len >= l->len && memcmp(f->line, l->s, l->len) == 0;
}

/* Decimal token number 'idx' (0 = first) of the line, with an optional one-char
 * prefix ("S5" -> 5).  -1 if absent or not a number. */
static int64_t line_token(const struct sem_framer *f, size_t n, unsigned idx, char pfx)
{
	size_t i = 0;
	unsigned t = 0;
	while (i < n) {
		while (i < n && f->line[i] == ' ')
			i++;
		size_t s = i;
		while (i < n && f->line[i] != ' ')
			i++;
		if (s == i)
			break;
		bool want = pfx ? (t >= idx && f->line[s] == (uint8_t)pfx) : t == idx;
		if (want) {
			if (pfx)
				s++;
			int64_t v = 0;
			if (s == i || i - s > 12)
				return -1;
			for (size_t k = s; k < i; k++) {
				if (!isdigit(f->line[k]))
					return -1;
				v = v * 10 + (f->line[k] - '0');
			}
			return v;
		}
		t++;
	}
	return -1;
}

/* ---- line framing ------------------------------------------------------------ */

static size_t step_line(struct sem_framer *f, const uint8_t *b, size_t n, sem_frame_fn fn, void *ctx)
{
	const struct semm_framing *fr = f->fr;
	if (f->lstate == L_BLOCK) {
		size_t k = f->remain < n ? (size_t)f->remain : n;
		take(f, b, k);
		f->remain -= k;
		if (f->remain == 0) {
			f->lstate = L_LINE;
			if (!f->multi)
				emit(f, fn, ctx, 0);
		}
		return k;
	}
	size_t i = 0;
	while (i < n) {
		enum line_scan ls = line_next(f, b, n, &i, 0, fn, ctx);
		if (ls == LINE_OVERSIZE)
			return n; /* rest of this feed is skipped */
		if (ls == LINE_MORE)
			continue;
		take(f, b, i);
		size_t cn = line_content(f, fr->delim.len);
		f->nlines++;
		bool end = true;
		if (f->nlines == 1)
			for (size_t k = 0; k < fr->n_multi; k++)
				if (line_starts(f, &fr->multi_prefix[k]))
					f->multi = (int)k + 1;
		if (f->multi) {
			const struct semm_lit *u = &fr->multi_until[f->multi - 1];
			end = cn == u->len && memcmp(f->line, u->s, u->len) == 0;
		}
		for (size_t k = 0; k < fr->n_blocks; k++) {
			const struct semm_block *bl = &fr->blocks[k];
			if (!line_starts(f, &bl->prefix))
				continue;
			int64_t sz = line_token(f, cn, bl->token, bl->token_prefix);
			if (sz >= 0) {
				f->lstate = L_BLOCK;
				f->remain = (uint64_t)sz + fr->delim.len;
				end = false;
			}
			break;
		}
		f->line_len = 0;
		if (end)
			emit(f, fn, ctx, 0);
		return i;
	}
	take(f, b, n);
	return n;
}

/* ---- length-prefixed ----------------------------------------------------------- */

static size_t step_length(struct sem_framer *f, const uint8_t *b, size_t n, sem_frame_fn fn, void *ctx)
{
	if (!f->need) {
		/* gather the header byte by byte until the length field is readable */
		take(f, b, 1);
		const struct semm_lenfield *lf = semm_pick_len(f->fr, f->buf, f->have);
		uint64_t total;
		size_t end;
		if (semm_read_len(lf, f->buf, f->have, &total, &end)) {
			if (total < end || total > lf->max) {
				lose_sync(f, fn, ctx);
				return n;
			}
			f->need = total;
			if (f->mlen >= f->need)
				emit(f, fn, ctx, 0);
		} else if (f->have >= 70) { /* a varint longer than 4 bytes */
			lose_sync(f, fn, ctx);
			return n;
		}
		return 1;
	}
	uint64_t left = f->need - f->mlen;
	size_t k = left < n ? (size_t)left : n;
	take(f, b, k);
	if (f->mlen == f->need)
		emit(f, fn, ctx, 0);
	return k;
}

/* ---- HTTP/1.x ------------------------------------------------------------------- */

static bool ci_prefix(const uint8_t *l, size_t n, const char *p)
{
	size_t k = strlen(p);
	if (n < k)
		return false;
	for (size_t i = 0; i < k; i++)
		if (tolower(l[i]) != p[i])
			return false;
	return true;
}

static void http_header_line(struct sem_framer *f, size_t cn)
{
	const uint8_t *l = f->line;
	if (f->nlines == 1) {
		/* status line: "HTTP/1.1 204 ..." -> no body for 1xx, 204, 304 */
		if (cn >= 12 && !memcmp(l, "HTTP/", 5)) {
			const uint8_t *sp = memchr(l, ' ', cn);
			if (sp && sp + 4 <= l + cn) {
				int code = (sp[1] - '0') * 100 + (sp[2] - '0') * 10 + (sp[3] - '0');
				if (code / 100 == 1 || code == 204 || code == 304)
					f->no_body = true;
				f->interim = code / 100 == 1;
			}
		} else if (cn >= 5 && !memcmp(l, "HEAD ", 5)) {
			f->is_head = true;
		}
		return;
	}
	if (ci_prefix(l, cn, "content-length:")) {
		int64_t v = 0;
		size_t i = 15;
		while (i < cn && (l[i] == ' ' || l[i] == '\t'))
			i++;
		size_t s = i;
		while (i < cn && isdigit(l[i]) && i - s < 15)
			v = v * 10 + (l[i++] - '0');
		if (i > s)
			f->content_length = v;
	} else if (ci_prefix(l, cn, "transfer-encoding:")) {
		for (size_t i = 18; i + 7 <= cn; i++)
			if (ci_prefix(l + i, cn - i, "chunked"))
				f->chunked = true;
	}
}

/* Request side: remember whether the request was HEAD.  Response side: a final
 * (non-1xx) response answers the oldest request; after HEAD it has no body even
 * when it announces a Content-Length. */
static void http_pair_headers_done(struct sem_framer *f)
{
	if (f->dir == SEM_TO_SERVER) {
		struct sem_framer *r = f->peer;
		if (!r || r->pair_broken)
			return;
		if (r->head_n == 64) { /* more outstanding requests than we track */
			r->pair_broken = true;
			return;
		}
		r->head_q |= (uint64_t)f->is_head << r->head_n;
		r->head_n++;
		return;
	}
	if (f->pair_broken || f->interim || !f->head_n)
		return;
	bool head = f->head_q & 1;
	f->head_q >>= 1;
	f->head_n--;
	if (head)
		f->no_body = true;
}

/* "HTTP/x.y NNN" from the server, "METHOD target" (upper-case token, space) to it. */
static bool http_start_line(const struct sem_framer *f, size_t cn)
{
	const uint8_t *l = f->line;
	if (f->dir == SEM_FROM_SERVER)
		return cn >= 12 && !memcmp(l, "HTTP/", 5);
	size_t i = 0;
	while (i < cn && i < 20 && l[i] >= 'A' && l[i] <= 'Z')
		i++;
	return i > 0 && i < cn && l[i] == ' ';
}

static size_t step_http(struct sem_framer *f, const uint8_t *b, size_t n, sem_frame_fn fn, void *ctx)
{
	if (f->hstate == H_BODY || f->hstate == H_CHUNK_DATA) {
		size_t k = f->remain < n ? (size_t)f->remain : n;
		take(f, b, k);
		f->remain -= k;
		if (f->remain == 0) {
			if (f->hstate == H_BODY) {
				emit(f, fn, ctx, 0);
			} else {
				f->hstate = H_CHUNK_SIZE;
			}
		}
		return k;
	}
	if (f->hstate == H_UNTIL_CLOSE) {
		take(f, b, n);
		return n;
	}
	size_t i = 0;
	while (i < n) {
		enum line_scan ls = line_next(f, b, n, &i, f->hstate == H_HEAD ? HTTP_HEAD_MAX : 0, fn, ctx);
		if (ls == LINE_OVERSIZE)
			return n; /* rest of this feed is skipped */
		if (ls == LINE_MORE)
			continue;
		take(f, b, i);
		size_t cn = line_content(f, 2);
		f->nlines++;
		f->line_len = 0;
		if (f->hstate == H_HEAD) {
			if (f->nlines == 1 && cn == 0) {
				/* a stray CRLF between messages belongs to none of them */
				reset_msg(f);
				return i;
			}
			if (cn > 0) {
				/* a message must begin with a start line; anything else means we
				 * joined the stream mid-message (late start, lost bytes) */
				if (f->nlines == 1 && !http_start_line(f, cn)) {
					lose_sync(f, fn, ctx);
					return n;
				}
				http_header_line(f, cn);
				return i;
			}
			/* end of headers */
			bool response = f->dir == SEM_FROM_SERVER;
			http_pair_headers_done(f);
			if (f->no_body) {
				emit(f, fn, ctx, 0);
			} else if (f->chunked) {
				f->hstate = H_CHUNK_SIZE;
			} else if (f->content_length > 0) {
				f->hstate = H_BODY;
				f->remain = (uint64_t)f->content_length;
			} else if (f->content_length == 0 || !response) {
				emit(f, fn, ctx, 0);
			} else {
				f->hstate = H_UNTIL_CLOSE; /* body delimited by connection close */
			}
			return i;
		}
		if (f->hstate == H_CHUNK_SIZE) {
			uint64_t sz = 0;
			size_t k = 0;
			for (; k < cn && k < 16 && isxdigit(f->line[k]); k++)
				sz = sz * 16 + (uint64_t)(isdigit(f->line[k]) ? f->line[k] - '0' : tolower(f->line[k]) - 'a' + 10);
			if (k == 0) {
				lose_sync(f, fn, ctx);
				return n;
			}
			if (sz == 0) {
				f->hstate = H_TRAILER;
			} else {
				f->hstate = H_CHUNK_DATA;
				f->remain = sz + 2;
			}
			return i;
		}
		/* trailer: ends with an empty line */
		if (cn == 0)
			emit(f, fn, ctx, 0);
		return i;
	}
	take(f, b, n);
	return n;
}

/* ---- RESP (Redis) --------------------------------------------------------------- */

static void resp_elem_done(struct sem_framer *f, sem_frame_fn fn, void *ctx)
{
	for (;;) {
		f->rem[f->depth]--;
		if (f->rem[f->depth] > 0)
			return;
		if (f->depth == 0) {
			emit(f, fn, ctx, 0);
			return;
		}
		f->depth--;
	}
}

static size_t step_resp(struct sem_framer *f, const uint8_t *b, size_t n, sem_frame_fn fn, void *ctx)
{
	if (f->remain) {
		size_t k = f->remain < n ? (size_t)f->remain : n;
		take(f, b, k);
		f->remain -= k;
		if (f->remain == 0)
			resp_elem_done(f, fn, ctx);
		return k;
	}
	size_t i = 0;
	while (i < n) {
		enum line_scan ls = line_next(f, b, n, &i, 0, fn, ctx);
		if (ls == LINE_OVERSIZE)
			return n; /* rest of this feed is skipped */
		if (ls == LINE_MORE)
			continue;
		take(f, b, i);
		size_t cn = line_content(f, f->fr->delim.len);
		f->line_len = 0;
		uint8_t t = cn ? f->line[0] : 0;
		int64_t v = 0;
		bool neg = false, num = cn >= 2;
		for (size_t k = 1; k < cn; k++) {
			if (k == 1 && f->line[k] == '-') {
				neg = true;
				continue;
			}
			if (!isdigit(f->line[k]) || k > 12) {
				num = false;
				break;
			}
			v = v * 10 + (f->line[k] - '0');
		}
		if (neg)
			v = -v;
		switch (t) {
		case '$': case '!': case '=': /* bulk: N bytes + CRLF */
			if (!num) {
				lose_sync(f, fn, ctx);
				return n;
			}
			if (v < 0) {
				resp_elem_done(f, fn, ctx);
			} else {
				f->remain = (uint64_t)v + 2;
			}
			return i;
		case '*': case '~': case '>': case '%': case '|':
			if (!num) {
				lose_sync(f, fn, ctx);
				return n;
			}
			if (t == '%' || t == '|')
				v *= 2;
			if (t == '|')
				f->rem[f->depth]++; /* an attribute precedes the value it describes */
			if (v <= 0) {
				resp_elem_done(f, fn, ctx);
			} else if (f->depth + 1 >= RESP_DEPTH) {
				lose_sync(f, fn, ctx);
				return n;
			} else {
				f->rem[++f->depth] = v;
			}
			return i;
		case '+': case '-': case ':': case '_': case '#': case ',': case '(':
			resp_elem_done(f, fn, ctx);
			return i;
		default:
			/* an inline command ("PING\r\n") is a whole message, but only at the top */
			/* an inline command is a whole message, but only from a client at
			 * the top level; anything else means we joined mid-message */
			if (f->depth == 0 && f->dir == SEM_TO_SERVER) {
				emit(f, fn, ctx, 0);
			} else {
				lose_sync(f, fn, ctx);
				return n;
			}
			return i;
		}
	}
	take(f, b, n);
	return n;
}

/* ---- feeding ------------------------------------------------------------------ */

/* Can 'n' missing bytes be accounted for inside a known-length region? */
static bool skip_missing(struct sem_framer *f, uint64_t n, sem_frame_fn fn, void *ctx)
{
	uint64_t *left = NULL;
	uint64_t known = 0;
	switch (f->fr->kind) {
	case SEMM_FR_LENGTH:
		if (!f->need)
			return false;
		known = f->need - f->mlen;
		break;
	case SEMM_FR_LINE:
		if (f->lstate != L_BLOCK)
			return false;
		left = &f->remain;
		break;
	case SEMM_FR_HTTP1:
		if (f->hstate == H_UNTIL_CLOSE) {
			known = n;
			break;
		}
		if (f->hstate != H_BODY && f->hstate != H_CHUNK_DATA)
			return false;
		left = &f->remain;
		break;
	case SEMM_FR_RESP:
		if (!f->remain)
			return false;
		left = &f->remain;
		break;
	default:
		return false;
	}
	if (left)
		known = *left;
	if (n > known)
		return false; /* the gap runs into the next message */
	f->mlen += n;
	f->pos += n;
	if (left)
		*left -= n;
	/* the region may be complete now: let the step function finish it with 0 bytes */
	if (f->fr->kind == SEMM_FR_LENGTH) {
		if (f->mlen == f->need)
			emit(f, fn, ctx, 0);
	} else if (known == n) {
		switch (f->fr->kind) {
		case SEMM_FR_LINE:
			f->remain = 0;
			f->lstate = L_LINE;
			if (!f->multi)
				emit(f, fn, ctx, 0);
			break;
		case SEMM_FR_HTTP1:
			if (f->hstate == H_BODY)
				emit(f, fn, ctx, 0);
			else if (f->hstate == H_CHUNK_DATA)
				f->hstate = H_CHUNK_SIZE;
			break;
		case SEMM_FR_RESP:
			resp_elem_done(f, fn, ctx);
			break;
		default:
			break;
		}
	}
	return true;
}

void sem_framer_feed(struct sem_framer *f, const uint8_t *data, size_t cap, size_t len, uint64_t t_start,
		     uint64_t t_end, sem_frame_fn fn, void *ctx)
{
	if (len < cap)
		len = cap;
	f->t_start = t_start;
	f->t_end = t_end;
	f->st.bytes += len;
	if (f->fr->kind == SEMM_FR_DATAGRAM) {
		reset_msg(f);
		f->in_msg = true;
		f->mpos = f->pos;
		f->t_first = t_start;
		struct sem_frame fr = { data, cap, len, f->pos, t_start, t_end, cap < len ? SEM_FR_TRUNCATED : 0 };
		f->pos += len;
		f->st.messages++;
		fn(ctx, &fr);
		f->in_msg = false;
		return;
	}
	if (f->resync) {
		/* restart at this syscall boundary */
		f->resync = false;
		reset_msg(f);
	}
	uint64_t pos0 = f->pos;
	size_t off = 0;
	while (off < cap && !f->resync) {
		size_t k;
		start(f); /* before the step functions fill the line buffer */
		switch (f->fr->kind) {
		case SEMM_FR_LINE: k = step_line(f, data + off, cap - off, fn, ctx); break;
		case SEMM_FR_LENGTH: k = step_length(f, data + off, cap - off, fn, ctx); break;
		case SEMM_FR_HTTP1: k = step_http(f, data + off, cap - off, fn, ctx); break;
		case SEMM_FR_RESP: k = step_resp(f, data + off, cap - off, fn, ctx); break;
		default: k = cap - off; break;
		}
		off += k;
	}
	if (f->resync) {
		f->pos = pos0 + len;
		return;
	}
	if (len > cap) {
		uint64_t miss = len - cap;
		if (!skip_missing(f, miss, fn, ctx)) {
			f->st.lost += miss;
			if (f->in_msg) {
				f->mlen += miss;
				f->mflags |= SEM_FR_TRUNCATED;
			}
			f->pos += miss;
			lose_sync(f, fn, ctx);
		} else if (f->in_msg) {
			f->mflags |= SEM_FR_TRUNCATED;
		}
	}
}

void sem_framer_flush(struct sem_framer *f, sem_frame_fn fn, void *ctx)
{
	if (f->in_msg && f->mlen)
		emit(f, fn, ctx, f->fr->kind == SEMM_FR_HTTP1 && f->hstate == H_UNTIL_CLOSE ? 0 : SEM_FR_ABORTED);
	reset_msg(f);
}
