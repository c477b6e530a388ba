/* Classification and ID extraction on one framed message (user space).
 *
 * The hot path: called once per framed message.  No allocation; every read is
 * bounded by the captured length 'cap'.  An id that lies beyond 'cap' is reported
 * as absent with SEM_R_TRUNCATED, never guessed. */
#include "semantics_model.h"

#include <ctype.h>
#include <string.h>

bool semm_pred_match(const struct semm_pred *p, const uint8_t *msg, size_t cap)
{
	if ((size_t)p->offset + p->len > cap)
		return p->negate;
	bool eq = true;
	for (size_t i = 0; i < p->len; i++)
		if ((msg[p->offset + i] & p->mask[i]) != p->value[i]) {
			eq = false;
			break;
		}
	return eq != p->negate;
}

static bool lit_at(const struct semm_lit *l, const uint8_t *b, size_t n)
{
	if (n < l->len)
		return false;
	if (!l->nocase)
		return memcmp(b, l->s, l->len) == 0;
	for (size_t i = 0; i < l->len; i++)
		if (tolower(b[i]) != tolower((unsigned char)l->s[i]))
			return false;
	return true;
}

bool semm_sig_match(const struct semm_signature *s, const uint8_t *msg, size_t cap)
{
	if (cap < s->min_len)
		return false;
	if (s->n_prefix) {
		bool any = false;
		for (size_t i = 0; i < s->n_prefix && !any; i++)
			any = lit_at(&s->prefix[i], msg, cap);
		if (!any)
			return false;
	}
	for (size_t i = 0; i < s->n_pred; i++)
		if (!semm_pred_match(&s->pred[i], msg, cap))
			return false;
	if (s->n_contains) {
		size_t n = cap < SEMM_CONTAINS_WITHIN ? cap : SEMM_CONTAINS_WITHIN;
		for (size_t i = 0; i < s->n_contains; i++)
			if (memmem(msg, n, s->contains[i].s, s->contains[i].len))
				return true;
		return false;
	}
	return true;
}

const struct semm_lenfield *semm_pick_len(const struct semm_framing *fr, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < fr->n_variants; i++)
		if (semm_pred_match(&fr->variant_when[i], b, n))
			return &fr->variant_len[i];
	return &fr->len;
}

bool semm_read_len(const struct semm_lenfield *lf, const uint8_t *b, size_t n, uint64_t *total,
		   size_t *field_end)
{
	uint64_t v = 0;
	size_t end;
	if (lf->width == 0) { /* varint: 7 bits per byte, least significant first */
		size_t i = 0;
		for (;; i++) {
			if (i == 4)
				return false; /* corrupt: caller resyncs */
			if (lf->offset + i >= n)
				return false;
			uint8_t c = b[lf->offset + i];
			v |= (uint64_t)(c & 0x7f) << (7 * i);
			if (!(c & 0x80))
				break;
		}
		end = lf->offset + i + 1;
	} else {
		if ((size_t)lf->offset + lf->width > n)
			return false;
		for (size_t i = 0; i < lf->width; i++) {
			size_t k = lf->big_endian ? i : lf->width - 1 - i;
			v = v << 8 | b[lf->offset + k];
		}
		end = (size_t)lf->offset + lf->width;
	}
	int64_t t = (int64_t)v + lf->adjust + (lf->from_field_end ? (int64_t)end : 0);
	*total = t > 0 ? (uint64_t)t : 0;
	*field_end = end;
	return true;
}

size_t semm_body_offset(const struct sem_protocol *p, enum sem_dir dir, const uint8_t *msg, size_t cap)
{
	const struct semm_framing *fr = &p->framing[dir];
	if (fr->kind != SEMM_FR_LENGTH)
		return 0;
	uint64_t total;
	size_t end;
	if (!semm_read_len(semm_pick_len(fr, msg, cap), msg, cap, &total, &end))
		return 0;
	return end;
}

int sem_classify(const struct sem_protocol *p, enum sem_dir dir, const uint8_t *msg, size_t cap)
{
	int fallback = -1;
	for (size_t i = 0; i < p->n_types; i++) {
		const struct semm_type *t = &p->types[i];
		if (t->dir != dir)
			continue;
		if (t->fallback) {
			if (fallback < 0 && semm_sig_match(&t->sig, msg, cap))
				fallback = (int)i;
			continue;
		}
		if (semm_sig_match(&t->sig, msg, cap))
			return (int)i;
	}
	return fallback;
}

/* ---- sources ------------------------------------------------------------------ */

struct xctx {
	const struct sem_protocol *p;
	enum sem_dir dir;
	const uint8_t *msg;
	size_t cap;
	uint64_t len;
	size_t body;       /* offset of the body (after the length field) */
	uint16_t *flags;
};

/* Output helper: appends, cutting (and flagging) at SEM_ID_MAX. */
static void put(struct xctx *x, struct sem_id *id, const uint8_t *b, size_t n)
{
	size_t room = SEM_ID_MAX - id->len;
	if (n > room) {
		n = room;
		*x->flags |= SEM_R_ID_CUT;
	}
	memcpy(id->b + id->len, b, n);
	id->len = (uint16_t)(id->len + n);
}

static const uint8_t *find(const uint8_t *h, size_t hn, const char *nd, size_t nn, bool nocase)
{
	if (nn == 0 || hn < nn)
		return NULL;
	if (!nocase)
		return memmem(h, hn, nd, nn);
	for (size_t i = 0; i + nn <= hn; i++) {
		size_t k = 0;
		while (k < nn && tolower(h[i + k]) == tolower((unsigned char)nd[k]))
			k++;
		if (k == nn)
			return h + i;
	}
	return NULL;
}

/* Returns false when the source could not be read (absent or truncated). */
static bool eval_src(struct xctx *x, const struct semm_src *s, struct sem_id *out)
{
	const uint8_t *m = x->msg;
	size_t cap = x->cap;
	bool beyond = x->len > cap; /* more bytes exist than we saw */
	size_t base = s->from_body ? x->body : 0;
	switch (s->kind) {
	case SEMM_SRC_NONE:
	case SEMM_SRC_SAME_AS: /* resolved by the caller */
		return false;
	case SEMM_SRC_OFFSET: {
		size_t off = base + s->offset;
		if (s->skip_lstring) {
			if (off + 2 > cap)
				goto truncated;
			off += 2 + ((size_t)m[off] << 8 | m[off + 1]);
		}
		if (off + s->length > cap) {
			if (off + s->length <= x->len)
				goto truncated;
			return false;
		}
		if (!s->has_mask) {
			put(x, out, m + off, s->length);
		} else {
			uint8_t tmp[8];
			for (size_t i = 0; i < s->length; i++)
				tmp[i] = m[off + i] & s->mask[i];
			put(x, out, tmp, s->length);
		}
		return true;
	}
	case SEMM_SRC_LSTRING: {
		size_t off = base + s->offset, n = 0;
		if (off + s->length > cap)
			goto maybe_trunc;
		for (size_t i = 0; i < s->length; i++)
			n = n << 8 | m[off + i];
		off += s->length;
		if (off + n > cap)
			goto maybe_trunc;
		put(x, out, m + off, s->max && n > s->max ? s->max : n);
		return true;
	}
	case SEMM_SRC_CSTRING: {
		size_t off = base + s->offset;
		if (off >= cap)
			goto maybe_trunc;
		const uint8_t *z = memchr(m + off, 0, cap - off);
		if (!z)
			goto maybe_trunc;
		size_t n = (size_t)(z - (m + off));
		put(x, out, m + off, s->max && n > s->max ? s->max : n);
		return true;
	}
	case SEMM_SRC_AFTER: {
		const uint8_t *a = find(m + base, cap > base ? cap - base : 0, s->lit.s, s->lit.len, s->lit.nocase);
		if (!a)
			goto maybe_trunc;
		const uint8_t *v = a + s->lit.len, *end = m + cap;
		const uint8_t *e = v;
		size_t max = s->max ? s->max : SEM_ID_MAX;
		while (e < end && (size_t)(e - v) < max && *e != '\r' && *e != '\n' &&
		       !(e + s->until.len <= end && memcmp(e, s->until.s, s->until.len) == 0))
			e++;
		if (e == end && beyond)
			goto truncated;
		put(x, out, v, (size_t)(e - v));
		return out->len > 0;
	}
	case SEMM_SRC_HEADER: {
		/* "\r\nName:" at line start, case-insensitive; value trimmed */
		const uint8_t *end = m + cap;
		const uint8_t *lim = m + cap;
		const uint8_t *hend = find(m, cap, "\r\n\r\n", 4, false);
		if (hend)
			lim = hend + 2;
		const uint8_t *l = find(m, (size_t)(lim - m), "\n", 1, false);
		while (l && l < lim) {
			l++;
			if ((size_t)(lim - l) > s->lit.len && l[s->lit.len] == ':') {
				size_t k = 0;
				while (k < s->lit.len && tolower(l[k]) == tolower((unsigned char)s->lit.s[k]))
					k++;
				if (k == s->lit.len) {
					const uint8_t *v = l + k + 1;
					while (v < end && (*v == ' ' || *v == '\t'))
						v++;
					const uint8_t *e = v;
					while (e < end && *e != '\r' && *e != '\n')
						e++;
					if (e == end && beyond)
						goto truncated;
					while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
						e--;
					size_t max = s->max ? s->max : SEM_ID_MAX;
					put(x, out, v, (size_t)(e - v) > max ? max : (size_t)(e - v));
					return out->len > 0;
				}
			}
			l = find(l, (size_t)(lim - l), "\n", 1, false);
		}
		if (!hend && beyond)
			goto truncated;
		return false;
	}
	case SEMM_SRC_REGEX: {
		int rc = pcre2_match(s->re, m, cap, 0, 0, s->md, NULL);
		if (rc < 0)
			goto maybe_trunc;
		PCRE2_SIZE *ov = pcre2_get_ovector_pointer(s->md);
		if ((int)s->group >= rc || ov[2 * s->group] == PCRE2_UNSET)
			return false;
		put(x, out, m + ov[2 * s->group], ov[2 * s->group + 1] - ov[2 * s->group]);
		return true;
	}
	case SEMM_SRC_CONCAT: {
		for (size_t i = 0; i < s->n_parts; i++) {
			if (i && s->sep.len)
				put(x, out, (const uint8_t *)s->sep.s, s->sep.len);
			if (!eval_src(x, &s->parts[i], out)) {
				out->len = 0;
				return false;
			}
		}
		return true;
	}
	case SEMM_SRC_FUNCTION: {
		int64_t n = s->fn(s->fn_state, m, cap, x->len, out->b + out->len, SEM_ID_MAX - out->len);
		if (n == INSITU_IDFUNC_TRUNCATED)
			goto truncated;
		if (n <= 0)
			return false;
		if ((size_t)n > (size_t)(SEM_ID_MAX - out->len))
			n = SEM_ID_MAX - out->len; /* a misbehaving plugin cannot overrun */
		out->len = (uint16_t)(out->len + n);
		return true;
	}
	}
	return false;
maybe_trunc:
	if (!beyond)
		return false;
truncated:
	*x->flags |= SEM_R_TRUNCATED;
	return false;
}

static int64_t id_number(const struct sem_id *id, bool *ok)
{
	/* decimal text, else a big-endian binary integer of up to 8 bytes */
	*ok = false;
	if (!id->len)
		return 0;
	bool digits = true;
	for (size_t i = 0; i < id->len; i++)
		digits &= (id->b[i] >= '0' && id->b[i] <= '9') || (i == 0 && id->b[i] == '-' && id->len > 1);
	int64_t v = 0;
	if (digits && id->len <= 18) {
		bool neg = id->b[0] == '-';
		for (size_t i = neg; i < id->len; i++)
			v = v * 10 + (id->b[i] - '0');
		*ok = true;
		return neg ? -v : v;
	}
	if (id->len <= 8) {
		for (size_t i = 0; i < id->len; i++)
			v = v << 8 | id->b[i];
		/* 4- and 8-byte fields are signed in the protocols we know (ZooKeeper
		 * error codes); 1- and 2-byte fields are codes/status words, unsigned. */
		if (id->len == 4)
			v = (int32_t)(uint32_t)v;
		*ok = true;
	}
	return v;
}

static void apply_outcome(const struct semm_outcome *o, const struct sem_id *vp, struct sem_result *r)
{
	const struct sem_id v = *vp;
	bool isnum = false;
	int64_t num = 0;
	if (o->numeric) {
		num = id_number(&v, &isnum);
		if (isnum)
			r->code = (int32_t)num;
	}
	for (size_t i = 0; i < o->n_rules; i++) {
		const struct semm_rule *ru = &o->rules[i];
		bool hit = false;
		switch (ru->cmp) {
		case SEMM_CMP_EQUALS:
			hit = v.len == ru->text.len && !memcmp(v.b, ru->text.s, v.len);
			break;
		case SEMM_CMP_PREFIX:
			hit = v.len >= ru->text.len && !memcmp(v.b, ru->text.s, ru->text.len);
			break;
		case SEMM_CMP_RANGE:
			hit = isnum && num >= ru->lo && num <= ru->hi;
			break;
		}
		if (hit) {
			r->has_outcome = true;
			r->status = ru->status;
			r->score = ru->score;
			return;
		}
	}
	if (o->has_default) {
		r->has_outcome = true;
		r->status = o->def_status;
		r->score = o->def_score;
	}
}

static void eval_outcome(struct xctx *x, const struct semm_outcome *o, struct sem_result *r)
{
	struct sem_id v = { 0 };
	if (!eval_src(x, &o->value, &v))
		return;
	apply_outcome(o, &v, r);
}

void sem_outcome_apply(const struct sem_protocol *p, int type, const struct sem_id *value,
		       struct sem_result *r)
{
	if (type < 0 || type >= p->n_types || !p->types[type].outcome.present || !value->len)
		return;
	apply_outcome(&p->types[type].outcome, value, r);
}

void sem_extract(const struct sem_protocol *p, enum sem_dir dir, const uint8_t *msg, size_t cap,
		 uint64_t len, struct sem_result *r)
{
	r->type = -1;
	r->type_name = "";
	r->role = SEM_ROLE_UNKNOWN;
	r->n_follow = 0;
	r->flags = 0;
	r->link.len = r->query.len = r->response.len = 0;
	r->has_outcome = false;
	r->status = SEM_ST_INVALID;
	r->score = 0;
	r->code = -1;
	r->label[0] = '\0';
	if (len < cap)
		len = cap;
	int ti = sem_classify(p, dir, msg, cap);
	if (ti < 0) {
		r->flags |= SEM_R_UNMATCHED;
		return;
	}
	const struct semm_type *t = &p->types[ti];
	r->type = ti;
	r->type_name = t->name;
	r->role = t->role;
	struct xctx x = { p, dir, msg, cap, len, semm_body_offset(p, dir, msg, cap), &r->flags };
	struct sem_id *slots[3] = { &r->link, &r->query, &r->response };
	for (size_t k = 0; k < 3; k++)
		if (t->ids[k].kind != SEMM_SRC_SAME_AS)
			eval_src(&x, &t->ids[k], slots[k]);
	for (size_t k = 0; k < 3; k++)
		if (t->ids[k].kind == SEMM_SRC_SAME_AS)
			*slots[k] = *slots[t->ids[k].same_as];
	for (size_t k = 0; k < t->n_follow; k++) {
		const struct semm_src *s = &t->ids[SEMM_ID_FOLLOW0 + k];
		struct sem_id *f = &r->follow[r->n_follow];
		f->len = 0;
		if (s->kind == SEMM_SRC_SAME_AS)
			*f = *slots[s->same_as];
		else
			eval_src(&x, s, f);
		if (f->len)
			r->n_follow++;
	}
	if (t->outcome.present)
		eval_outcome(&x, &t->outcome, r);
	if (t->has_label) {
		struct sem_id l = { 0 };
		uint16_t fl = 0;
		x.flags = &fl; /* a cut label is not a truncated id */
		if (eval_src(&x, &t->label, &l) || l.len)
			sem_id_format(&l, r->label, sizeof(r->label));
	}
}

void sem_label(const struct sem_protocol *p, enum sem_dir dir, int type, const uint8_t *msg, size_t cap,
	       uint64_t len, char *out, size_t n)
{
	if (!n)
		return;
	out[0] = 0;
	if (type < 0 || type >= p->n_types || !p->types[type].has_label)
		return;
	if (len < cap)
		len = cap;
	uint16_t fl = 0;
	struct xctx x = { p, dir, msg, cap, len, semm_body_offset(p, dir, msg, cap), &fl };
	struct sem_id l = { 0 };
	if (eval_src(&x, &p->types[type].label, &l) || l.len)
		sem_id_format(&l, out, n);
}

size_t sem_id_format(const struct sem_id *id, char *buf, size_t n)
{
	if (!n)
		return 0;
	bool printable = true;
	for (size_t i = 0; i < id->len; i++)
		printable &= id->b[i] >= 0x20 && id->b[i] < 0x7f;
	size_t o = 0;
	if (printable) {
		for (size_t i = 0; i < id->len && o + 1 < n; i++)
			buf[o++] = (char)id->b[i];
	} else {
		static const char hx[] = "0123456789abcdef";
		for (size_t i = 0; i < id->len && o + 2 < n; i++) {
			buf[o++] = hx[id->b[i] >> 4];
			buf[o++] = hx[id->b[i] & 15];
		}
	}
	buf[o] = '\0';
	return o;
}
