/* Compiling semantics into the kernel's rule table, decoding the ids block, and a C
 * reference of the kernel interpreter (bpf/extract.bpf.h).  See extract_kernel.h
 * for what compiles. */
#include "extract_kernel.h"

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "semantics_model.h"

_Static_assert(SEMM_MAX_TYPES <= 32, "slots[] has room for 32 types");
_Static_assert(SEM_MAX_FOLLOW <= 8, "follow tags 4..11");

/* ---- compiling ----------------------------------------------------------------- */

/* Signature alternative 'alt' (a prefix, or none) as kernel checks. */
static bool sig_compile(const struct semm_signature *s, int alt, struct insitu_xrule *r)
{
	int n = 0;
	if (s->n_contains)
		return false;
	if (s->n_prefix) {
		const struct semm_lit *l = &s->prefix[alt];
		if (l->nocase || l->len > INSITU_XR_CHECK_BYTES)
			return false;
		struct insitu_xcheck *c = &r->chk[n++];
		c->off = 0;
		c->len = l->len;
		memcpy(c->val, l->s, l->len);
		memset(c->mask, 0xff, l->len);
	}
	for (size_t i = 0; i < s->n_pred; i++) {
		const struct semm_pred *p = &s->pred[i];
		if (n == INSITU_XR_CHECKS || p->len > INSITU_XR_CHECK_BYTES)
			return false;
		struct insitu_xcheck *c = &r->chk[n++];
		c->off = p->offset;
		c->len = p->len;
		c->negate = p->negate;
		memcpy(c->val, p->value, p->len);
		memcpy(c->mask, p->mask, p->len);
	}
	r->min_len = s->min_len;
	return true;
}

/* Is this direction's length field a varint the kernel decodes (MQTT)? */
static bool varint_framing(const struct sem_protocol *p, enum sem_dir dir)
{
	const struct semm_framing *fr = &p->framing[dir];
	return fr->kind == SEMM_FR_LENGTH && fr->len.width == 0 && !fr->n_variants && fr->len.from_field_end;
}

/* Fixed offset of the body for this direction's framing, -2 when the kernel finds
 * it at run time (varint), or -1 if it varies otherwise. */
static int body_base(const struct sem_protocol *p, enum sem_dir dir)
{
	const struct semm_framing *fr = &p->framing[dir];
	if (fr->kind != SEMM_FR_LENGTH)
		return 0; /* user space uses 0 too */
	if (varint_framing(p, dir))
		return -2;
	if (fr->len.width == 0 || fr->n_variants)
		return -1;
	return fr->len.offset + fr->len.width;
}

static bool src_compile(const struct sem_protocol *p, enum sem_dir dir, const struct semm_src *s,
			struct insitu_xrule *r)
{
	int base = 0;
	if (s->from_body) {
		base = body_base(p, dir);
		if (base == -2 && (s->kind == SEMM_SRC_OFFSET || s->kind == SEMM_SRC_LSTRING)) {
			r->rflags |= INSITU_XF_BASE;
			base = 0;
		} else if (base < 0) {
			return false;
		}
	}
	switch (s->kind) {
	case SEMM_SRC_OFFSET:
		if (s->length > INSITU_XR_ID_MAX || base + s->offset > UINT16_MAX)
			return false;
		if (s->skip_lstring)
			r->rflags |= INSITU_XF_SKIP;
		r->kind = INSITU_XR_OFFSET;
		r->off = (uint16_t)(base + s->offset);
		r->len = s->length;
		if (s->has_mask) {
			r->has_mask = 1;
			memcpy(r->mask, s->mask, sizeof(r->mask));
		}
		return true;
	case SEMM_SRC_AFTER: {
		unsigned max = s->max ? s->max : SEM_ID_MAX;
		if (s->from_body || s->lit.nocase || s->lit.len > INSITU_XR_LIT || s->until.len != 1 ||
		    max > INSITU_XR_ID_MAX)
			return false;
		r->kind = INSITU_XR_AFTER;
		r->lit_len = s->lit.len;
		memcpy(r->lit, s->lit.s, s->lit.len);
		memset(r->lit_mask, 0xff, s->lit.len);
		r->until = (uint8_t)s->until.s[0];
		r->len = (uint16_t)max;
		return true;
	}
	case SEMM_SRC_FUNCTION:
		/* insitu-dns.so's dns_question: the kernel copies the raw question, user
		 * space runs the same function on it (xk_result) */
		if (s->kfn != SEMM_KFN_DNS_QUESTION || s->from_body)
			return false;
		r->kind = INSITU_XR_DNSQ;
		r->off = (uint16_t)(s->kfn_base + 4);
		r->len = INSITU_XR_ID_MAX;
		return true;
	case SEMM_SRC_LSTRING:
		if ((s->length != 1 && s->length != 2) || base + s->offset > UINT16_MAX)
			return false;
		r->kind = INSITU_XR_LSTRING;
		r->off = (uint16_t)(base + s->offset);
		r->lwidth = (uint8_t)s->length;
		if (s->max && s->max <= INSITU_XR_ID_MAX) {
			r->len = s->max; /* cut at max, as user space does */
		} else {
			r->len = INSITU_XR_ID_MAX; /* longer: the payload is kept */
			r->rflags |= INSITU_XF_NOMAX;
		}
		return true;
	default:
		return false;
	}
}

/* An id source, or the source a same_as points at (user space copies that
 * slot's value; the kernel extracts it again under this slot's tag). */
static bool id_compile(const struct sem_protocol *p, enum sem_dir dir, const struct semm_type *ty,
		       const struct semm_src *s, struct insitu_xrule *r)
{
	if (s->kind == SEMM_SRC_SAME_AS) {
		if (s->same_as >= 3)
			return false;
		s = &ty->ids[s->same_as];
		if (s->kind == SEMM_SRC_SAME_AS || s->kind == SEMM_SRC_NONE)
			return false;
	}
	return src_compile(p, dir, s, r);
}

static void compile_type(struct xk_table *t, const struct sem_protocol *p, int ps, enum sem_dir dir, int ti,
			 uint16_t *group, bool *stop)
{
	const struct semm_type *ty = &p->types[ti];
	struct insitu_xrule ids[3 + SEM_MAX_FOLLOW + 2];
	int nids = 0;
	int32_t mask = 0;
	bool complete = true; /* everything user space would extract, the kernel does */
	/* link, query, response one by one; follow ids all or none */
	for (int k = 0; k < 3; k++) {
		const struct semm_src *s = &ty->ids[k];
		if (s->kind == SEMM_SRC_NONE)
			continue;
		struct insitu_xrule r = { 0 };
		if (id_compile(p, dir, ty, s, &r)) {
			r.tag = (uint8_t)(INSITU_XID_LINK + k);
			ids[nids++] = r;
			mask |= 1 << (INSITU_XID_LINK + k);
			t->ids_compiled++;
		} else {
			t->ids_user_space++;
			complete = false;
		}
	}
	bool all_follow = ty->n_follow > 0;
	struct insitu_xrule fr[SEM_MAX_FOLLOW];
	uint8_t dup = 0; /* ids equal to the link id: not extracted twice */
	bool link_in = mask & (1 << INSITU_XID_LINK);
	for (int k = 0; k < ty->n_follow; k++) {
		const struct semm_src *s = &ty->ids[SEMM_ID_FOLLOW0 + k];
		memset(&fr[k], 0, sizeof(fr[k]));
		if (link_in && s->kind == SEMM_SRC_SAME_AS && s->same_as == SEMM_ID_LINK)
			dup |= (uint8_t)(1u << k);
		else if (!id_compile(p, dir, ty, s, &fr[k]))
			all_follow = false;
		fr[k].tag = (uint8_t)(INSITU_XID_FOLLOW0 + k);
	}
	if (all_follow) {
		for (int k = 0; k < ty->n_follow; k++)
			if (!(dup & (1u << k)))
				ids[nids++] = fr[k];
		mask |= 1 << INSITU_XID_FOLLOW0;
		t->ids_compiled += ty->n_follow;
	} else {
		t->ids_user_space += ty->n_follow;
		if (ty->n_follow)
			complete = false;
	}
	if (ty->outcome.present) {
		struct insitu_xrule r = { 0 };
		if (src_compile(p, dir, &ty->outcome.value, &r) && r.kind != INSITU_XR_DNSQ) {
			r.tag = INSITU_XID_OUTCOME;
			ids[nids++] = r;
			mask |= 1 << INSITU_XID_OUTCOME;
		} else {
			complete = false;
		}
	}
	/* the label is only shown, never linked on: compiled when it can be, not required */
	const struct semm_src *ls = &ty->label, *lk = &ty->ids[SEMM_ID_LINK];
	if (ty->has_label && link_in && ls->kind == SEMM_SRC_FUNCTION && lk->kind == SEMM_SRC_FUNCTION &&
	    ls->fn == lk->fn && ls->fn_state == lk->fn_state) {
		dup |= 0x10; /* the same function on the same bytes (DNS: the question) */
	} else if (ty->has_label) {
		struct insitu_xrule r = { 0 };
		if (src_compile(p, dir, &ty->label, &r)) {
			r.tag = INSITU_XID_LABEL;
			ids[nids++] = r;
			mask |= 1 << INSITU_XID_LABEL;
		}
	}
	/* "ids only" sends one syscall as one message: only where that is the truth */
	const struct semm_framing *fw = &p->framing[dir];
	uint8_t lflags = 0;
	bool unframed = false;
	bool varint = varint_framing(p, dir);
	if (fw->kind == SEMM_FR_LENGTH) {
		if ((fw->len.width >= 1 && fw->len.width <= 4 && !fw->n_variants) || varint)
			lflags = INSITU_XS_LEN; /* the kernel checks one whole message */
		else
			unframed = true; /* variant lengths */
	} else if (fw->kind != SEMM_FR_DATAGRAM && ty->fallback) {
		unframed = true; /* a fallback matches any bytes, message start or not */
	}
	if (unframed && complete) {
		complete = false;
		t->types_unframed++;
	}
	int nalt = ty->sig.n_prefix ? ty->sig.n_prefix : 1;
	for (int a = 0; a < nalt; a++) {
		struct insitu_xrule sig = { 0 };
		if (!sig_compile(&ty->sig, a, &sig)) {
			*stop = true;
			return;
		}
		if (t->n_rules + 1 + (uint32_t)nids > INSITU_XR_MAX) {
			t->rules_dropped += 1 + (uint32_t)nids;
			*stop = true;
			return;
		}
		sig.kind = INSITU_XR_SIG;
		sig.group = *group;
		sig.pset = (uint8_t)ps;
		sig.dir = (uint8_t)dir;
		sig.tag = (uint8_t)ti;
		sig.sflags = (uint8_t)((complete ? INSITU_XS_COMPLETE | lflags : 0) | (varint ? INSITU_XS_VARINT : 0));
		sig.dup = all_follow ? dup : (uint8_t)(dup & 0x10);
		if (varint) {
			sig.lf_off = fw->len.offset;
			sig.lf_add = fw->len.adjust; /* size = end of the varint + value + adjust */
		} else if (lflags) {
			sig.lf_off = fw->len.offset;
			sig.lf_width = fw->len.width;
			sig.lf_le = !fw->len.big_endian;
			sig.lf_add = fw->len.adjust + (fw->len.from_field_end ? fw->len.offset + fw->len.width : 0);
		}
		t->rules[t->n_rules++] = sig;
		for (int k = 0; k < nids; k++) {
			struct insitu_xrule r = ids[k];
			if (r.kind == INSITU_XR_DNSQ)
				r.tag |= INSITU_XID_F_RAW;
			r.group = *group;
			r.pset = (uint8_t)ps;
			r.dir = (uint8_t)dir;
			t->rules[t->n_rules++] = r;
		}
		(*group)++;
	}
	t->slots[ps][dir][ti] = mask;
	t->complete[ps][dir][ti] = complete;
	t->unframed[ps][dir][ti] = unframed;
	if (complete)
		t->types_complete++;
}

void xk_compile(const struct sem_set *set, struct xk_table *t)
{
	memset(t, 0, sizeof(*t));
	memset(t->slots, 0xff, sizeof(t->slots)); /* -1: not classified by the kernel */
	uint16_t group = 0;
	for (size_t i = 0; i < set->n; i++) {
		const struct sem_protocol *p = set->protos[i];
		if (p->has_detect || t->n_psets == INSITU_XR_MAX_PSETS) {
			t->protocols_skipped++;
			continue;
		}
		int ps = (int)t->n_psets++;
		struct insitu_xpset *pset = &t->psets[ps];
		pset->proto = (uint8_t)p->transport;
		pset->n = p->n_ports;
		memcpy(pset->ports, p->ports, p->n_ports * sizeof(uint16_t));
		t->pset_proto[ps] = p;
		for (int d = 0; d < 2; d++) {
			bool stop = false;
			/* fallback types last: they match only when nothing else does */
			for (int pass = 0; pass < 2 && !stop; pass++)
				for (int ti = 0; ti < p->n_types && !stop; ti++) {
					const struct semm_type *ty = &p->types[ti];
					if (ty->dir != (enum sem_dir)d || ty->fallback != (pass == 1))
						continue;
					compile_type(t, p, ps, (enum sem_dir)d, ti, &group, &stop);
					if (stop)
						t->types_skipped++;
				}
		}
	}
}

int32_t xk_type_slots(const struct xk_table *t, const struct sem_protocol *p, enum sem_dir dir, int type)
{
	if (type < 0 || type >= 32)
		return -1;
	for (uint32_t i = 0; i < t->n_psets; i++)
		if (t->pset_proto[i] == p)
			return t->slots[i][dir][type];
	return -1;
}

/* ---- decoding ------------------------------------------------------------------ */

/* Decodes every record; the outcome value and the label go to *oc and *label. */
struct raw_info {
	uint32_t slots;                 /* bit per tag slot: its record is F_RAW */
	uint8_t fslot[SEM_MAX_FOLLOW];  /* tag slot of r->follow[i] */
	uint8_t dup;                    /* the TYPE record's dup bits */
};

static int decode(const uint8_t *ids, size_t n, struct sem_result *r, struct sem_id *oc,
		  struct sem_id *label, bool *all, bool *ended, struct raw_info *raw)
{
	memset(raw, 0, sizeof(*raw));
	memset(r, 0, sizeof(*r));
	r->type = -1;
	r->type_name = "";
	r->code = -1;
	oc->len = label->len = 0;
	*all = *ended = false;
	int count = 0;
	size_t o = 0;
	while (o < n) {
		if (n - o < 2)
			return -1;
		uint8_t tag = ids[o], len = ids[o + 1];
		if (len > n - o - 2 || len > SEM_ID_MAX)
			return -1;
		const uint8_t *b = ids + o + 2;
		unsigned slot = tag & 0x0f;
		struct sem_id *id = NULL;
		if (tag & INSITU_XID_F_CUT)
			r->flags |= SEM_R_ID_CUT;
		if (tag & INSITU_XID_F_END)
			*ended = true;
		if (slot != INSITU_XID_TYPE && (tag & INSITU_XID_F_RAW))
			raw->slots |= 1u << slot;
		if (slot == INSITU_XID_TYPE) {
			if ((len != 1 && len != 2) || o != 0)
				return -1;
			r->type = b[0];
			raw->dup = len == 2 ? b[1] : 0;
			*all = tag & INSITU_XID_F_ALL;
		} else if (slot == INSITU_XID_LINK) {
			id = &r->link;
		} else if (slot == INSITU_XID_QUERY) {
			id = &r->query;
		} else if (slot == INSITU_XID_RESPONSE) {
			id = &r->response;
		} else if (slot >= INSITU_XID_FOLLOW0 && slot < INSITU_XID_FOLLOW0 + SEM_MAX_FOLLOW) {
			if (r->n_follow < SEM_MAX_FOLLOW) {
				raw->fslot[r->n_follow] = (uint8_t)slot;
				id = &r->follow[r->n_follow++];
			}
		} else if (slot == INSITU_XID_OUTCOME) {
			memcpy(oc->b, b, len);
			oc->len = len;
		} else if (slot == INSITU_XID_LABEL) {
			memcpy(label->b, b, len);
			label->len = len;
		} else {
			return -1;
		}
		if (id) {
			memcpy(id->b, b, len);
			id->len = len;
			count++;
		}
		o += 2u + len;
	}
	return count;
}

int xk_decode(const uint8_t *ids, size_t n, struct sem_result *r)
{
	struct sem_id oc, label;
	bool all, ended;
	struct raw_info raw;
	return decode(ids, n, r, &oc, &label, &all, &ended, &raw);
}

/* The source the kernel compiled for tag slot 'slot' of type t (same_as resolved). */
static const struct semm_src *slot_src(const struct semm_type *t, unsigned slot)
{
	const struct semm_src *s;
	if (slot >= INSITU_XID_LINK && slot <= INSITU_XID_RESPONSE)
		s = &t->ids[slot - INSITU_XID_LINK];
	else if (slot >= INSITU_XID_FOLLOW0 && slot < INSITU_XID_FOLLOW0 + SEM_MAX_FOLLOW)
		s = &t->ids[SEMM_ID_FOLLOW0 + slot - INSITU_XID_FOLLOW0];
	else if (slot == INSITU_XID_LABEL && t->has_label)
		s = &t->label;
	else
		return NULL;
	if (s->kind == SEMM_SRC_SAME_AS && s->same_as < 3)
		s = &t->ids[s->same_as];
	return s;
}

/* An F_RAW record: the id's own function run on the raw bytes put back where the
 * kernel took them from (the rest of the message is not needed by it). */
static bool raw_apply(const struct semm_type *t, unsigned slot, struct sem_id *id)
{
	const struct semm_src *s = slot_src(t, slot);
	if (!s || s->kind != SEMM_SRC_FUNCTION || s->kfn != SEMM_KFN_DNS_QUESTION || !s->fn)
		return false;
	uint8_t msg[8 + INSITU_XR_ID_MAX];
	size_t off = (size_t)s->kfn_base + 4;
	if (id->len > INSITU_XR_ID_MAX)
		return false;
	memset(msg, 0, off);
	memcpy(msg + off, id->b, id->len);
	struct sem_id v = { 0 };
	int64_t n = s->fn(s->fn_state, msg, off + id->len, off + id->len, v.b, SEM_ID_MAX);
	if (n < 0 || n > SEM_ID_MAX)
		n = 0;
	v.len = (uint16_t)n;
	*id = v;
	return true;
}

int xk_result(const struct sem_protocol *p, enum sem_dir dir, const uint8_t *ids, size_t n,
	      bool truncated, struct sem_result *r)
{
	struct sem_id oc, label;
	bool all, ended;
	struct raw_info raw;
	if (!n || decode(ids, n, r, &oc, &label, &all, &ended, &raw) < 0 || r->type < 0 ||
	    r->type >= p->n_types || p->types[r->type].dir != dir)
		return -1;
	const struct semm_type *t = &p->types[r->type];
	/* replayed with semantics that define fewer ids than the recording's: what
	 * they do not define is not theirs to link on */
	struct sem_id *defined[3] = { &r->link, &r->query, &r->response };
	for (unsigned k = 0; k < 3; k++)
		if (t->ids[k].kind == SEMM_SRC_NONE)
			defined[k]->len = 0;
	if (!t->has_label)
		label.len = 0;
	if (raw.slots) {
		struct sem_id *slots[3] = { &r->link, &r->query, &r->response };
		for (unsigned k = 0; k < 3; k++)
			if (raw.slots & (1u << (INSITU_XID_LINK + k)) && slots[k]->len &&
			    !raw_apply(t, INSITU_XID_LINK + k, slots[k]))
				return -1;
		for (unsigned i = 0; i < r->n_follow; i++)
			if (raw.slots & (1u << raw.fslot[i]) && !raw_apply(t, raw.fslot[i], &r->follow[i]))
				return -1;
		if (raw.slots & (1u << INSITU_XID_LABEL) && label.len && !raw_apply(t, INSITU_XID_LABEL, &label))
			return -1;
	}
	/* follow ids in the type's order: a record each, or the link id (dup bit) */
	struct sem_id fl[SEM_MAX_FOLLOW];
	unsigned nf = 0;
	for (unsigned k = 0; k < t->n_follow && k < SEM_MAX_FOLLOW; k++) {
		const struct sem_id *v = NULL;
		if (raw.dup & (1u << k))
			v = &r->link;
		for (unsigned i = 0; !v && i < r->n_follow; i++)
			if (raw.fslot[i] == INSITU_XID_FOLLOW0 + k)
				v = &r->follow[i];
		if (v && v->len) /* as user space: empty follow ids are not counted */
			fl[nf++] = *v;
	}
	memcpy(r->follow, fl, nf * sizeof(fl[0]));
	r->n_follow = (uint8_t)nf;
	if ((raw.dup & 0x10) && t->has_label && !label.len)
		label = r->link;
	r->type_name = t->name;
	r->role = t->role;
	if (truncated && ended)
		r->flags |= SEM_R_TRUNCATED; /* as user space flags an id cut by the capture */
	sem_outcome_apply(p, r->type, &oc, r);
	if (label.len)
		sem_id_format(&label, r->label, sizeof(r->label));
	return all ? 1 : 0;
}

static size_t put_id(char *buf, size_t n, size_t o, const char *name, const struct sem_id *id)
{
	char t[2 * SEM_ID_MAX + 1];
	sem_id_format(id, t, sizeof(t));
	int w = snprintf(buf + o, o < n ? n - o : 0, " %s=%s", name, t);
	return o + (w > 0 ? (size_t)w : 0);
}

size_t xk_format(const struct sem_result *r, int32_t mask, char *buf, size_t n)
{
	if (!n)
		return 0;
	size_t o = (size_t)snprintf(buf, n, "type=%d", r->type);
	if (mask < 0)
		return o;
	if (mask & (1 << INSITU_XID_LINK))
		o = put_id(buf, n, o, "link", &r->link);
	if (mask & (1 << INSITU_XID_QUERY))
		o = put_id(buf, n, o, "query", &r->query);
	if (mask & (1 << INSITU_XID_RESPONSE))
		o = put_id(buf, n, o, "response", &r->response);
	if (mask & (1 << INSITU_XID_FOLLOW0))
		for (size_t i = 0; i < r->n_follow; i++)
			o = put_id(buf, n, o, "follow", &r->follow[i]);
	return o < n ? o : n - 1;
}

/* ---- the kernel interpreter in C ---------------------------------------------- */

static int ref_port_dir(const struct xk_table *t, const struct insitu_xrule *r, uint8_t proto, uint16_t lport,
			uint16_t rport, int send)
{
	if (r->pset >= t->n_psets)
		return -1;
	const struct insitu_xpset *ps = &t->psets[r->pset];
	if (ps->proto != proto)
		return -1;
	for (unsigned i = 0; i < ps->n && i < INSITU_XR_PORTS; i++) {
		if (ps->ports[i] == lport)
			return send ? INSITU_XR_FROM_SERVER : INSITU_XR_TO_SERVER;
		if (ps->ports[i] == rport)
			return send ? INSITU_XR_TO_SERVER : INSITU_XR_FROM_SERVER;
	}
	return -1;
}

static bool ref_sig(const struct insitu_xrule *r, const uint8_t *p, uint32_t cap)
{
	if (cap < r->min_len)
		return false;
	for (int i = 0; i < INSITU_XR_CHECKS; i++) {
		const struct insitu_xcheck *c = &r->chk[i];
		if (!c->len)
			continue;
		bool eq = c->len <= INSITU_XR_CHECK_BYTES && (uint32_t)c->off + c->len <= cap;
		for (unsigned k = 0; eq && k < c->len; k++)
			eq = (p[c->off + k] & c->mask[k]) == c->val[k];
		if (eq == !!c->negate)
			return false;
	}
	return true;
}

static void ref_put(uint8_t *out, uint32_t *o, uint8_t tag, const uint8_t *b, uint32_t n, const uint8_t *mask,
		    bool *need)
{
	if (n > INSITU_XR_ID_MAX || *o + 2 + n > INSITU_IDS_MAX) {
		*need = true;
		return;
	}
	out[*o] = tag;
	out[*o + 1] = (uint8_t)n;
	for (uint32_t k = 0; k < n; k++)
		out[*o + 2 + k] = mask && k < 8 ? b[k] & mask[k] : b[k];
	*o += 2 + n;
}

uint32_t xk_eval(const struct xk_table *t, const uint8_t *p, uint32_t cap, uint8_t proto, uint16_t lport,
		 uint16_t rport, int send, uint8_t *out, uint32_t room)
{
	return xk_eval_msg(t, p, cap, cap, proto, lport, rport, send, out, room);
}

uint32_t xk_eval_msg(const struct xk_table *t, const uint8_t *p, uint32_t cap, uint32_t bytes, uint8_t proto,
		     uint16_t lport, uint16_t rport, int send, uint8_t *out, uint32_t room)
{
	if (!t->n_rules || room < INSITU_IDS_MAX)
		return 0;
	if (cap > INSITU_PAYLOAD_MAX)
		cap = INSITU_PAYLOAD_MAX;
	uint32_t o = 0, base = 0;
	int group = -1;
	bool need = false;
	for (uint32_t i = 0; i < t->n_rules; i++) {
		const struct insitu_xrule *r = &t->rules[i];
		if (group >= 0) {
			if (r->group != group)
				break;
		} else {
			if (r->kind != INSITU_XR_SIG)
				continue;
			if (ref_port_dir(t, r, proto, lport, rport, send) != r->dir || !ref_sig(r, p, cap))
				continue;
			group = r->group;
			need = !(r->sflags & INSITU_XS_COMPLETE);
			base = 0;
			if (r->sflags & INSITU_XS_VARINT) {
				uint32_t lo = r->lf_off, v = 0, end = 0;
				for (uint32_t k = 0; k < 4; k++) {
					if (lo + k >= cap)
						break;
					v |= (uint32_t)(p[lo + k] & 0x7f) << (7 * k);
					if (!(p[lo + k] & 0x80)) {
						end = lo + k + 1;
						break;
					}
				}
				base = end;
				if ((r->sflags & INSITU_XS_LEN) &&
				    (!end || (int64_t)end + v + r->lf_add != (int64_t)bytes))
					need = true;
			} else if (r->sflags & INSITU_XS_LEN) {
				uint32_t lo = r->lf_off, w = r->lf_width, v = 0;
				if (w == 0 || w > 4 || lo + w > cap) {
					need = true;
				} else {
					for (uint32_t k = 0; k < w; k++)
						v = v << 8 | p[lo + (r->lf_le ? w - 1 - k : k)];
					if ((int64_t)v + r->lf_add != (int64_t)bytes)
						need = true;
				}
			}
			if (o + 4 <= INSITU_IDS_MAX) {
				out[o] = INSITU_XID_TYPE | (need ? 0 : INSITU_XID_F_ALL);
				out[o + 1] = 2;
				out[o + 2] = r->tag;
				out[o + 3] = r->dup;
				o += 4;
			}
			continue;
		}
		uint32_t rb = (r->rflags & INSITU_XF_BASE) ? base : 0;
		if (r->kind == INSITU_XR_OFFSET) {
			uint32_t off = rb + r->off;
			if (r->rflags & INSITU_XF_SKIP) {
				if (off + 2 > cap)
					continue;
				off += 2 + ((uint32_t)p[off] << 8 | p[off + 1]);
			}
			if (off + r->len <= cap)
				ref_put(out, &o, r->tag, p + off, r->len, r->has_mask ? r->mask : NULL, &need);
		} else if (r->kind == INSITU_XR_LSTRING) {
			uint32_t off = rb + r->off, n;
			if (off + r->lwidth > cap)
				continue;
			n = r->lwidth == 1 ? p[off] : (uint32_t)p[off] << 8 | p[off + 1];
			off += r->lwidth;
			if (off + n > cap)
				continue;
			uint8_t tag = r->tag;
			if (n > r->len) {
				if (r->rflags & INSITU_XF_NOMAX) {
					need = true;
					continue;
				}
				n = r->len;
				tag |= INSITU_XID_F_CUT;
			}
			ref_put(out, &o, tag, p + off, n, NULL, &need);
		} else if (r->kind == INSITU_XR_DNSQ) {
			uint32_t off = r->off;
			if (!(t->flags & INSITU_XC_RAW) || off + 8 > cap) {
				need = true;
				continue;
			}
			if (!p[off] && !p[off + 1])
				continue;
			uint32_t pos = off + 8, stop = 0;
			for (uint32_t k = 0; k < INSITU_XR_ID_MAX && !stop; k++) {
				if (pos >= cap) {
					stop = 2;
				} else if (p[pos] & 0xc0) {
					stop = 3;
				} else if (p[pos] == 0) {
					stop = 1;
				} else {
					pos += p[pos] + 1u;
				}
			}
			uint32_t n = pos + 3 - off;
			if (stop != 1 || pos + 3 > cap || n > INSITU_XR_ID_MAX) {
				need = true;
				continue;
			}
			ref_put(out, &o, r->tag, p + off, n, NULL, &need);
		} else if (r->kind == INSITU_XR_AFTER) {
			uint32_t win = cap < INSITU_XR_WINDOW ? cap : INSITU_XR_WINDOW, found = 0;
			for (uint32_t pos = 0; pos < win; pos++) {
				if (r->lit_len > INSITU_XR_LIT || pos + r->lit_len > cap)
					break;
				if (!memcmp(p + pos, r->lit, r->lit_len)) {
					found = pos + r->lit_len;
					break;
				}
			}
			if (!found) {
				if (cap > INSITU_XR_WINDOW)
					need = true; /* user space searches further */
				continue;
			}
			uint32_t n = 0;
			uint8_t tag = r->tag;
			for (uint32_t k = 0; k <= INSITU_XR_ID_MAX; k++) {
				if (found + k >= cap) {
					tag |= INSITU_XID_F_END;
					break;
				}
				uint8_t b = p[found + k];
				if (b == r->until || b == '\r' || b == '\n')
					break;
				if (k >= r->len) {
					tag |= INSITU_XID_F_CUT;
					break;
				}
				n++;
			}
			if (n)
				ref_put(out, &o, tag, p + found, n, NULL, &need);
		}
	}
	if (o >= 4 && need)
		out[0] &= (uint8_t)~INSITU_XID_F_ALL;
	return o;
}

/* ---- what "ids only" keeps ----------------------------------------------------- */

size_t xk_payload_kept(const struct xk_table *t, const struct sem_set *set, char *buf, size_t n)
{
	size_t o = 0;
	if (!n)
		return 0;
	buf[0] = 0;
	for (size_t i = 0; i < set->n; i++) {
		const struct sem_protocol *p = set->protos[i];
		int ps = -1;
		for (uint32_t k = 0; k < t->n_psets; k++)
			if (t->pset_proto[k] == p)
				ps = (int)k;
		for (int ti = 0; ti < p->n_types; ti++) {
			const struct semm_type *ty = &p->types[ti];
			const char *why = NULL;
			if (ps < 0)
				why = "protocol not compiled";
			else if (t->slots[ps][ty->dir][ti] < 0)
				why = "signature not compiled";
			else if (!t->complete[ps][ty->dir][ti])
				why = t->unframed[ps][ty->dir][ti] ? "no message boundary in the kernel"
								  : "ids or outcome need user space";
			if (!why)
				continue;
			int w = snprintf(buf + o, n - o, "%s%s %s (%s)", o ? ", " : "", p->name, ty->name, why);
			if (w < 0 || (size_t)w >= n - o) {
				buf[o] = 0;
				if (o + 4 < n)
					memcpy(buf + o, " ...", 5);
				return o;
			}
			o += (size_t)w;
		}
	}
	return o;
}
