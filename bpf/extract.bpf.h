/* In-kernel ID extraction, called by bpf/observer.bpf.c for every captured message
 * (owned by the semantics part; rule format and ids block in bpf/extract.h).
 *
 * Contract with observer.bpf.c:
 *
 *   static __always_inline __u32
 *   insitu_extract(const __u8 *payload, __u32 cap_len, __u32 bytes, __u16 family,
 *                  __u8 proto, __u16 lport, __u16 rport, __u8 dir, __u8 *out, __u32 room);
 *
 *   bytes    the syscall's whole length (for the one-message check of length framing)
 *
 *   payload  the captured payload prefix, in a per-CPU scratch buffer of
 *            INSITU_SCRATCH_SIZE bytes: reads at offsets masked with
 *            (INSITU_PAYLOAD_MAX - 1) are in bounds; the first cap_len bytes count.
 *   out      the ids block inside the event being built; writes at offsets masked
 *            with (INSITU_IDS_MAX - 1) (+ up to INSITU_XR_ID_MAX) are in bounds.
 *   returns  bytes written to out (0 = no rule matched).
 *
 * The rules (map "insitu_xrules", INSITU_XR_MAX entries, "insitu_xconf" holds how
 * many are in use, "insitu_xpsets" the protocols' ports) are compiled and installed
 * by user space (user/extract_kernel.c) before the programs are attached; with
 * n_rules == 0 this costs one map lookup per message.
 *
 * Verifier notes: both loops run through bpf_loop() so the program's complexity
 * does not grow with the rule count or the search window; callback state lives on
 * the stack (bpf_loop wants it there) and is kept small because observer.bpf.c's
 * exit handler already uses most of the 512-byte stack. */
#ifndef INSITU_EXTRACT_BPF_H
#define INSITU_EXTRACT_BPF_H

#include "extract.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, INSITU_XR_MAX);
	__type(key, __u32);
	__type(value, struct insitu_xrule);
} insitu_xrules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, INSITU_XR_MAX_PSETS);
	__type(key, __u32);
	__type(value, struct insitu_xpset);
} insitu_xpsets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct insitu_xconf);
} insitu_xconf SEC(".maps");

/* Mutable per-message state lives in a per-CPU map, not on the stack: the verifier
 * then sees unknown scalars in every bpf_loop iteration and the callbacks' states
 * converge at once (a stack counter would be re-verified for every value).  For
 * the same reason there is no counted loop inside a callback: byte comparisons are
 * two masked 64-bit compares, copies are one bpf_probe_read_kernel(), and scans
 * are nested bpf_loop()s. */
struct xr_state {
	__u32 o;        /* bytes written to out */
	__s32 group;    /* matched group, -1 = none yet */
	__u32 found;    /* AFTER: offset just after the literal, 0 = not found */
	__u32 n;        /* AFTER: token length so far */
	__u32 stop;     /* AFTER: 1 delimiter, 2 end of capture, 3 cut */
	__u32 need;     /* user space could find more in the payload: TYPE loses F_ALL */
	__u32 bytes;    /* the syscall's whole length (cap is what was captured) */
	__u32 raw;      /* insitu_xconf.flags & INSITU_XC_RAW */
	__u32 base;     /* body offset of the matched message (varint length framing) */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xr_state);
} insitu_xstate SEC(".maps");

#define XR_PMASK (INSITU_PAYLOAD_MAX - 1)
#define XR_OMASK (INSITU_IDS_MAX - 1)

/* Immutable during the loops (on the stack, as bpf_loop wants). */
struct xr_ctx {
	const __u8 *p;
	__u8 *out;
	__u32 cap;
	__u16 lport, rport;
	__u8 proto, send;
};

struct xr_scan {
	const __u8 *p;
	const struct insitu_xrule *r;
	__u32 cap;
};

static __always_inline struct xr_state *xr_st(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&insitu_xstate, &zero);
}

/* 16 payload bytes at off, masked, equal val?  (mask and val are 0 beyond the
 * compared length, so the extra bytes never matter; the scratch buffer has slack.) */
static __always_inline int xr_eq16(const __u8 *p, __u32 off, const __u8 *val, const __u8 *mask)
{
	__u64 a, b, v0, v1, m0, m1;

	off &= XR_PMASK;
	__builtin_memcpy(&a, p + off, 8);
	__builtin_memcpy(&b, p + off + 8, 8);
	__builtin_memcpy(&v0, val, 8);
	__builtin_memcpy(&v1, val + 8, 8);
	__builtin_memcpy(&m0, mask, 8);
	__builtin_memcpy(&m1, mask + 8, 8);
	return (a & m0) == v0 && (b & m1) == v1;
}

/* One candidate position of an AFTER literal. */
static long xr_search_one(__u32 pos, void *data)
{
	struct xr_scan *s = data;
	const struct insitu_xrule *r = s->r;
	struct xr_state *st = xr_st();

	if (!st)
		return 1;
	if (pos + r->lit_len > s->cap)
		return 1;
	if (!xr_eq16(s->p, pos, r->lit, r->lit_mask))
		return 0;
	st->found = pos + r->lit_len;
	return 1;
}

/* One byte of an AFTER token. */
static long xr_token_one(__u32 k, void *data)
{
	struct xr_scan *s = data;
	const struct insitu_xrule *r = s->r;
	struct xr_state *st = xr_st();

	if (!st)
		return 1;
	__u32 at = st->found + k;
	if (at >= s->cap) {
		st->stop = 2;
		return 1;
	}
	__u8 b = s->p[at & XR_PMASK];
	if (b == r->until || b == '\r' || b == '\n') {
		st->stop = 1;
		return 1;
	}
	if (k >= r->len) {
		st->stop = 3;
		return 1;
	}
	st->n = k + 1;
	return 0;
}

/* One label of a DNS question name: st->found is the label's length byte. */
static long xr_dns_one(__u32 k, void *data)
{
	struct xr_scan *s = data;
	struct xr_state *st = xr_st();

	if (!st)
		return 1;
	__u32 pos = st->found;
	if (pos >= s->cap) {
		st->stop = 2;
		return 1;
	}
	__u8 l = s->p[pos & XR_PMASK];
	if (l & 0xc0) {
		st->stop = 3; /* compression pointer or reserved: user space decodes it */
		return 1;
	}
	if (l == 0) {
		st->stop = 1;
		return 1;
	}
	st->found = pos + l + 1;
	return 0;
}

static __always_inline int xr_port_dir(const struct insitu_xrule *r, const struct xr_ctx *c)
{
	__u32 k = r->pset;
	const struct insitu_xpset *ps = bpf_map_lookup_elem(&insitu_xpsets, &k);

	if (!ps || ps->proto != c->proto)
		return -1;
#pragma unroll
	for (int i = 0; i < INSITU_XR_PORTS; i++) {
		if (i >= ps->n)
			break;
		/* we are the server: what we receive goes to the server */
		if (ps->ports[i] == c->lport)
			return c->send ? INSITU_XR_FROM_SERVER : INSITU_XR_TO_SERVER;
		if (ps->ports[i] == c->rport)
			return c->send ? INSITU_XR_TO_SERVER : INSITU_XR_FROM_SERVER;
	}
	return -1;
}

static __always_inline int xr_sig(const struct insitu_xrule *r, const struct xr_ctx *c)
{
	if (c->cap < r->min_len)
		return 0;
#pragma unroll
	for (int i = 0; i < INSITU_XR_CHECKS; i++) {
		const struct insitu_xcheck *ck = &r->chk[i];
		__u32 len = ck->len, off = ck->off;
		int eq;

		if (len == 0)
			continue;
		if (len > INSITU_XR_CHECK_BYTES || off + len > c->cap)
			eq = 0;
		else
			eq = xr_eq16(c->p, off, ck->val, ck->mask);
		if (eq == !!ck->negate)
			return 0;
	}
	return 1;
}

/* Appends one record [tag][len][n payload bytes from 'from']. */
static __always_inline void xr_put(const struct xr_ctx *c, struct xr_state *st, __u8 tag, __u32 from,
				   __u32 n, int masked, const __u8 *mask)
{
	__u32 o = st->o;

	if (n > INSITU_XR_ID_MAX || o + 2 + n > INSITU_IDS_MAX) {
		st->need = 1; /* the block is full: user space must extract */
		return;
	}
	o &= XR_OMASK;
	c->out[o & XR_OMASK] = tag;
	c->out[(o + 1) & XR_OMASK] = (__u8)n;
	if (bpf_probe_read_kernel(&c->out[(o + 2) & XR_OMASK], n & (2 * INSITU_XR_ID_MAX - 1),
				  &c->p[from & XR_PMASK]))
		return;
	if (masked) {
#pragma unroll
		for (int k = 0; k < 8; k++)
			if (k < n)
				c->out[(o + 2 + k) & XR_OMASK] &= mask[k];
	}
	st->o = o + 2 + n;
}

static long xr_rule_one(__u32 i, void *data)
{
	struct xr_ctx *c = data;
	__u32 key = i;
	const struct insitu_xrule *r = bpf_map_lookup_elem(&insitu_xrules, &key);
	struct xr_state *st = xr_st();

	if (!r || !st || st->o > INSITU_IDS_MAX)
		return 1;
	if (st->group >= 0) {
		/* the matched group's id rules follow its SIG rule; stop after them */
		if (r->group != st->group)
			return 1;
	} else {
		if (r->kind != INSITU_XR_SIG)
			return 0;
		if (xr_port_dir(r, c) != r->dir || !xr_sig(r, c))
			return 0;
		st->group = r->group;
		st->need = !(r->sflags & INSITU_XS_COMPLETE);
		st->base = 0;
		if (r->sflags & INSITU_XS_VARINT) {
			/* MQTT: 7 bits per byte, least significant first, at most 4 bytes;
			 * unreadable: body offset 0, as user space takes it */
			/* one byte live at a time: this frame is on 6.1's 512-byte call chain */
			__u32 lo = r->lf_off, end = 0, v, b;
			b = c->p[lo & XR_PMASK];
			v = b & 0x7f;
			if (!(b & 0x80)) {
				end = lo + 1;
			} else {
				b = c->p[(lo + 1) & XR_PMASK];
				v |= (b & 0x7f) << 7;
				if (!(b & 0x80)) {
					end = lo + 2;
				} else {
					b = c->p[(lo + 2) & XR_PMASK];
					v |= (b & 0x7f) << 14;
					if (!(b & 0x80)) {
						end = lo + 3;
					} else {
						b = c->p[(lo + 3) & XR_PMASK];
						v |= (b & 0x7f) << 21;
						if (!(b & 0x80))
							end = lo + 4;
					}
				}
			}
			if (end > c->cap)
				end = 0; /* a byte of it was not captured */
			st->base = end;
			if ((r->sflags & INSITU_XS_LEN) &&
			    (!end || (__s64)end + v + r->lf_add != (__s64)st->bytes))
				st->need = 1;
		} else if (r->sflags & INSITU_XS_LEN) {
			/* one whole message in this syscall, or the payload is kept */
			__u32 lo = r->lf_off, w = r->lf_width, v = 0;
			if (w == 0 || w > 4 || lo + w > c->cap) {
				st->need = 1;
			} else {
				/* one byte live at a time (stack: see the varint case) */
				if (r->lf_le) {
					v = c->p[lo & XR_PMASK];
					if (w > 1)
						v |= (__u32)c->p[(lo + 1) & XR_PMASK] << 8;
					if (w > 2)
						v |= (__u32)c->p[(lo + 2) & XR_PMASK] << 16;
					if (w > 3)
						v |= (__u32)c->p[(lo + 3) & XR_PMASK] << 24;
				} else {
					v = c->p[lo & XR_PMASK];
					if (w > 1)
						v = v << 8 | c->p[(lo + 1) & XR_PMASK];
					if (w > 2)
						v = v << 8 | c->p[(lo + 2) & XR_PMASK];
					if (w > 3)
						v = v << 8 | c->p[(lo + 3) & XR_PMASK];
				}
				if ((__s64)v + r->lf_add != (__s64)st->bytes)
					st->need = 1;
			}
		}
		__u32 o = st->o;
		if (o + 4 <= INSITU_IDS_MAX) {
			c->out[o & XR_OMASK] = INSITU_XID_TYPE | (st->need ? 0 : INSITU_XID_F_ALL);
			c->out[(o + 1) & XR_OMASK] = 2;
			c->out[(o + 2) & XR_OMASK] = r->tag;
			c->out[(o + 3) & XR_OMASK] = r->dup;
			st->o = o + 4;
		}
		return 0;
	}

	__u32 cap = c->cap;
	__u32 base = (r->rflags & INSITU_XF_BASE) ? st->base & XR_PMASK : 0;
	/* each kind finds its bytes; one xr_put() call site keeps this frame small
	 * (it is on 6.1's 512-byte call chain) */
	__u8 tag = r->tag;
	__u32 from, n;
	int masked = 0;
	if (r->kind == INSITU_XR_OFFSET) {
		__u32 off = base + r->off;
		if (r->rflags & INSITU_XF_SKIP) {
			if (off + 2 > cap)
				return 0;
			off += 2 + ((__u32)c->p[off & XR_PMASK] << 8 | c->p[(off + 1) & XR_PMASK]);
		}
		if (off + r->len > cap)
			return 0;
		from = off;
		n = r->len;
		masked = r->has_mask;
	} else if (r->kind == INSITU_XR_LSTRING) {
		__u32 off = base + r->off;
		if (r->lwidth == 1) {
			if (off + 1 > cap)
				return 0;
			n = c->p[off & XR_PMASK];
		} else {
			if (off + 2 > cap)
				return 0;
			n = (__u32)c->p[off & XR_PMASK] << 8 | c->p[(off + 1) & XR_PMASK];
		}
		off += r->lwidth;
		if (off + n > cap)
			return 0;
		if (n > r->len) {
			if (r->rflags & INSITU_XF_NOMAX) {
				st->need = 1; /* user space would take more than the kernel can */
				return 0;
			}
			n = r->len;
			tag |= INSITU_XID_F_CUT;
		}
		from = off;
	} else if (r->kind == INSITU_XR_DNSQ) {
		__u32 off = r->off;
		if (!st->raw || off + 8 > cap) {
			st->need = 1;
			return 0;
		}
		if (!c->p[off & XR_PMASK] && !c->p[(off + 1) & XR_PMASK])
			return 0; /* no question: no id, in user space too */
		struct xr_scan s = { .p = c->p, .r = r, .cap = cap };
		st->found = off + 8;
		st->stop = 0;
		bpf_loop(INSITU_XR_ID_MAX, xr_dns_one, &s, 0);
		st = xr_st();
		if (!st)
			return 0;
		n = st->found + 1 + 2 - off; /* through the zero label and the type */
		if (st->stop != 1 || st->found + 3 > cap || n > INSITU_XR_ID_MAX) {
			st->need = 1;
			return 0;
		}
		/* the compiler knows n <= 64 and would drop a mask; the verifier, which
		 * tracked n as a 64-bit difference, needs to see one */
		asm volatile("" : "+r"(n));
		n &= 2 * INSITU_XR_ID_MAX - 1;
		from = off;
	} else if (r->kind == INSITU_XR_AFTER) {
		struct xr_scan s = { .p = c->p, .r = r, .cap = cap };
		__u32 win = cap < INSITU_XR_WINDOW ? cap : INSITU_XR_WINDOW;

		if (r->lit_len > INSITU_XR_LIT)
			return 0;
		st->found = 0;
		bpf_loop(win, xr_search_one, &s, 0);
		st = xr_st();
		if (!st)
			return 0;
		if (!st->found) {
			/* user space searches the whole captured prefix */
			if (cap > INSITU_XR_WINDOW)
				st->need = 1;
			return 0;
		}
		st->n = 0;
		st->stop = 0;
		bpf_loop(INSITU_XR_ID_MAX + 1, xr_token_one, &s, 0);
		st = xr_st();
		if (!st)
			return 0;
		if (st->stop == 2)
			tag |= INSITU_XID_F_END;
		else if (st->stop == 3)
			tag |= INSITU_XID_F_CUT;
		if (!st->n)
			return 0;
		from = st->found;
		n = st->n;
	} else {
		return 0;
	}
	xr_put(c, st, tag, from & XR_PMASK, n, masked, r->mask);
	return 0;
}

static __always_inline __u32 insitu_extract(const __u8 *payload, __u32 cap_len, __u32 bytes,
					    __u16 family, __u8 proto, __u16 lport, __u16 rport,
					    __u8 dir, __u8 *out, __u32 room)
{
	__u32 zero = 0;
	const struct insitu_xconf *cf = bpf_map_lookup_elem(&insitu_xconf, &zero);
	struct xr_state *st = bpf_map_lookup_elem(&insitu_xstate, &zero);

	if (!cf || !st || cf->n_rules == 0 || room < INSITU_IDS_MAX)
		return 0;
	st->o = 0;
	st->group = -1;
	st->bytes = bytes;
	st->raw = cf->flags & INSITU_XC_RAW;
	struct xr_ctx c = {
		.p = payload,
		.out = out,
		.cap = cap_len > INSITU_PAYLOAD_MAX ? INSITU_PAYLOAD_MAX : cap_len,
		.lport = lport,
		.rport = rport,
		.proto = proto,
		.send = dir == INSITU_DIR_SEND,
	};
	bpf_loop(cf->n_rules > INSITU_XR_MAX ? INSITU_XR_MAX : cf->n_rules, xr_rule_one, &c, 0);
	st = bpf_map_lookup_elem(&insitu_xstate, &zero);
	if (!st)
		return 0;
	__u32 o = st->o;
	if (o >= 4 && o <= INSITU_IDS_MAX && st->need)
		out[0] &= ~INSITU_XID_F_ALL;
	return o <= INSITU_IDS_MAX ? o : 0;
}

/* --payload=ids: may the message whose ids block insitu_extract() just wrote (ids
 * bytes at out) go without its payload?  Only when its type is complete in the
 * kernel (TYPE record flagged F_ALL).  Returns 0 no (mode off), 1 drop, 2 keep. */
static __always_inline int insitu_ids_only(const __u8 *out, __u32 ids)
{
	__u32 zero = 0;
	const struct insitu_xconf *cf = bpf_map_lookup_elem(&insitu_xconf, &zero);

	if (!cf || !(cf->flags & INSITU_XC_IDS_ONLY))
		return 0;
	if (ids >= 4 && (out[0] & INSITU_XID_F_ALL))
		return 1;
	return 2;
}

#endif
