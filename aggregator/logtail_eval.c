/* The rule tree: conditions on fields, first matching branch decides. */
#include "logtail_eval.h"

#include <stdio.h>
#include <string.h>

static bool streq(const char *a, size_t la, const struct lt_str *b)
{
	return la == b->len && memcmp(a, b->s, la) == 0;
}

static bool cond_holds(const struct lt_rules *r, const struct lt_cond *c, struct lt_fields *f)
{
	if (c->field < 0)
		return false;
	const char *v = f->v[c->field];
	size_t len = f->len[c->field];
	switch (c->op) {
	case LT_OP_EQUALS:
		return v && streq(v, len, &c->value);
	case LT_OP_DIFFERS:
		return !v || !streq(v, len, &c->value);
	case LT_OP_MATCHES:
		/* JIT code exists when the platform supports it; pcre2_match uses it
		 * by itself, so the interpreter path stays correct without JIT. */
		return v && lt_re_match(c->re, c->md, false, c->cap_field, c->ncap, v, len, f);
	case LT_OP_IN:
		if (!v)
			return false;
		for (size_t i = 0; i < c->nlist; i++)
			if (streq(v, len, &c->list[i]))
				return true;
		return false;
	}
	(void)r;
	return false;
}

static struct lt_node *eval_children(const struct lt_rules *r, const struct lt_node *parent,
				     struct lt_fields *f)
{
	for (size_t i = 0; i < parent->nchildren; i++) {
		struct lt_node *n = &parent->children[i];
		/* Captures of a branch that fails must not leak into its siblings. */
		struct lt_fields saved;
		memcpy(&saved, f, sizeof saved);
		bool ok = true;
		for (size_t k = 0; k < n->nconds && ok; k++)
			ok = cond_holds(r, &n->conds[k], f);
		if (!ok) {
			memcpy(f, &saved, sizeof saved);
			continue;
		}
		if (n->report)
			return n;
		/* A branch whose conditions hold decides, even when none of its children
		 * matches (then the line yields no report). */
		return eval_children(r, n, f);
	}
	return NULL;
}

struct lt_node *lt_eval(const struct lt_rules *r, struct lt_fields *f)
{
	return eval_children(r, &r->root, f);
}

static enum lt_subject_result copy_name(char *dst, const char *s, size_t len)
{
	if (len == 0 || len >= INSITU_NAME_MAX)
		return LT_SUBJECT_INVALID;
	/* insitud's rule (no blanks or control characters), and ASCII only: a value cut
	 * from a line may hold any bytes, and invalid UTF-8 would make the report's
	 * JSON invalid.  Names from the subjects table are not restricted this way. */
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
			return LT_SUBJECT_INVALID;
	memcpy(dst, s, len);
	dst[len] = 0;
	return LT_SUBJECT_OK;
}

enum lt_subject_result lt_make_report(const struct lt_rules *r, const struct lt_report_tmpl *t,
				      const struct lt_fields *f, const char *observer,
				      struct insitu_report *rep)
{
	snprintf(rep->observer, sizeof rep->observer, "%s", observer);
	rep->obs.n_metrics = 1;
	struct insitu_metric *m = &rep->obs.metrics[0];
	memcpy(m->name, t->metric, sizeof m->name);
	m->value.status = t->status;
	m->value.score = t->score;

	if (t->subject_field < 0) {
		snprintf(rep->subject, sizeof rep->subject, "%s", observer);
		return LT_SUBJECT_OK;
	}
	const char *v = f->v[t->subject_field];
	size_t len = f->len[t->subject_field];
	if (!v)
		return LT_SUBJECT_INVALID;
	if (t->subject_map) {
		const char *name = lt_rules_subject(r, v, len);
		if (name) {
			snprintf(rep->subject, sizeof rep->subject, "%s", name);
			return LT_SUBJECT_OK;
		}
		switch (t->unmapped) {
		case LT_UNMAPPED_DROP:
			return LT_SUBJECT_DROPPED;
		case LT_UNMAPPED_SELF:
			snprintf(rep->subject, sizeof rep->subject, "%s", observer);
			return LT_SUBJECT_OK;
		case LT_UNMAPPED_RAW:
			break;
		}
	}
	return copy_name(rep->subject, v, len);
}
