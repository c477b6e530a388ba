/* Loading a rules file into struct lt_rules (see logtail_rules.h, docs/logtail.md).
 *
 * The loader keeps going after an error so that one --check run shows every problem
 * in a file (up to LT_MAX_ERRORS), each as "file:line:col: error: PATH: what was
 * expected".  Nothing here runs per log line. */
#include "logtail_rules.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "fileutil.h"
#include "json.h"

#define LT_MAX_ERRORS 20
#define LT_MAX_FILE (4 << 20)

struct loader {
	const char *path;
	FILE *errf;
	int nerr;
	/* messages are kept and printed sorted by position, so that a file reads top
	 * to bottom whatever order the loader checked things in */
	struct msg {
		struct json_pos pos;
		char *text;
	} msgs[LT_MAX_ERRORS];
	struct lt_rules *r;
	/* field references seen before the field was defined (a capture group of a
	 * later "matches"): resolved at the end. */
	struct pending {
		int *slot;
		char *name;
		struct json_pos pos;
		char jpath[160];
	} pend[256];
	int npend;
};

static void errat(struct loader *L, struct json_pos pos, const char *jpath, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Builds a JSON path for messages ("rules[2].when[0].field"); a path longer than the
 * buffer is cut, which only shortens a message. */
static void mkpath(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void mkpath(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, size, fmt, ap);
	va_end(ap);
}

static void errat(struct loader *L, struct json_pos pos, const char *jpath, const char *fmt, ...)
{
	L->nerr++;
	if (L->nerr > LT_MAX_ERRORS || !L->errf)
		return;
	char body[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(body, sizeof body, fmt, ap);
	va_end(ap);
	char *text = NULL;
	if (asprintf(&text, "%s:%d:%d: error: %s: %s\n", L->path, pos.line, pos.col, jpath, body) < 0)
		return;
	L->msgs[L->nerr - 1] = (struct msg){ pos, text };
}

static int cmp_msg(const void *a, const void *b)
{
	const struct msg *x = a, *y = b;
	if (x->pos.line != y->pos.line)
		return x->pos.line < y->pos.line ? -1 : 1;
	return (x->pos.col > y->pos.col) - (x->pos.col < y->pos.col);
}

static void print_errors(struct loader *L)
{
	int n = L->nerr < LT_MAX_ERRORS ? L->nerr : LT_MAX_ERRORS;
	qsort(L->msgs, (size_t)n, sizeof L->msgs[0], cmp_msg);	/* qsort is not stable: equal positions are rare */
	for (int i = 0; i < n; i++) {
		if (L->errf && L->msgs[i].text)
			fputs(L->msgs[i].text, L->errf);
		free(L->msgs[i].text);
		L->msgs[i].text = NULL;
	}
	if (L->nerr > LT_MAX_ERRORS && L->errf)
		fprintf(L->errf, "%s: %d more error(s) not shown\n", L->path, L->nerr - LT_MAX_ERRORS);
}

/* Edit distance, for "did you mean": keys are short, so the O(n*m) table is fine. */
static int edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 40 || lb > 40)
		return 99;
	int d[41][41];
	for (size_t i = 0; i <= la; i++)
		d[i][0] = (int)i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = (int)j;
	for (size_t i = 1; i <= la; i++)
		for (size_t j = 1; j <= lb; j++) {
			int c = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
			int x = d[i - 1][j] + 1, y = d[i][j - 1] + 1;
			d[i][j] = c < x ? (c < y ? c : y) : (x < y ? x : y);
		}
	return d[la][lb];
}

static const char *did_you_mean(const char *key, const char *const *known, size_t n)
{
	const char *best = NULL;
	int bd = 3;
	for (size_t i = 0; i < n; i++) {
		int d = edit_distance(key, known[i]);
		if (d < bd) {
			bd = d;
			best = known[i];
		}
	}
	return best;
}

/* Reports members of obj whose key is not in 'known'. */
static void check_keys(struct loader *L, const struct json_value *obj, const char *jpath,
		       const char *const *known, size_t n)
{
	for (size_t i = 0; i < obj->u.object.n; i++) {
		const struct json_member *m = &obj->u.object.members[i];
		size_t k;
		for (k = 0; k < n; k++)
			if (!strcmp(m->key, known[k]))
				break;
		if (k < n)
			continue;
		char list[256] = "";
		for (k = 0; k < n; k++) {
			strncat(list, k ? ", " : "", sizeof list - strlen(list) - 1);
			strncat(list, known[k], sizeof list - strlen(list) - 1);
		}
		const char *sugg = did_you_mean(m->key, known, n);
		if (sugg)
			errat(L, m->key_pos, jpath, "unknown key \"%s\" (did you mean \"%s\"?)", m->key, sugg);
		else
			errat(L, m->key_pos, jpath, "unknown key \"%s\" (expected one of: %s)", m->key, list);
	}
}

static bool want_type(struct loader *L, const struct json_value *v, enum json_type t, const char *jpath)
{
	if (v->type == t)
		return true;
	errat(L, v->pos, jpath, "expected %s %s, found %s", t == JSON_OBJECT || t == JSON_ARRAY ? "an" : "a",
	      json_type_name(t), json_type_name(v->type));
	return false;
}

static char *dupstr(const char *s, size_t n)
{
	char *p = malloc(n + 1);
	if (!p) {
		fprintf(stderr, "out of memory\n");
		abort();
	}
	memcpy(p, s, n);
	p[n] = 0;
	return p;
}

static void *zalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);
	if (!p) {
		fprintf(stderr, "out of memory\n");
		abort();
	}
	return p;
}

int lt_rules_field(const struct lt_rules *r, const char *name)
{
	for (int i = 0; i < r->nfields; i++)
		if (!strcmp(r->field_names[i], name))
			return i;
	return -1;
}

/* Registers a field name (idempotent): line-pattern groups and condition captures
 * share one namespace, so a capture may refine a line field of the same name. */
static int add_field(struct loader *L, const char *name, struct json_pos pos, const char *jpath)
{
	int i = lt_rules_field(L->r, name);
	if (i >= 0)
		return i;
	if (L->r->nfields >= LT_MAX_FIELDS) {
		errat(L, pos, jpath, "too many named fields (at most %d)", LT_MAX_FIELDS);
		return -1;
	}
	L->r->field_names[L->r->nfields] = dupstr(name, strlen(name));
	return L->r->nfields++;
}

/* Compiles a regex; errors show the PCRE2 message and the offset in the pattern. */
static pcre2_code *compile_re(struct loader *L, const struct json_value *v, const char *jpath)
{
	int ec;
	PCRE2_SIZE eo;
	pcre2_code *re = pcre2_compile((PCRE2_SPTR)v->u.string.s, v->u.string.len, 0, &ec, &eo, NULL);
	if (!re) {
		PCRE2_UCHAR msg[160];
		pcre2_get_error_message(ec, msg, sizeof msg);
		errat(L, v->pos, jpath, "bad regular expression at offset %zu of the pattern: %s\n  %.*s\n  %*s^",
		      (size_t)eo, (char *)msg, (int)(v->u.string.len > 200 ? 200 : v->u.string.len),
		      v->u.string.s, (int)(eo > 200 ? 200 : eo), "");
		return NULL;
	}
	/* JIT when the platform has it; the interpreter is the fallback, not an error. */
	pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
	return re;
}

/* Maps each named group of 're' to a field; returns the group->field table. */
static int *capture_fields(struct loader *L, pcre2_code *re, const struct json_value *v, const char *jpath,
			   int *ncap, int *nnamed)
{
	uint32_t cap = 0, namecount = 0, entsize = 0;
	PCRE2_SPTR table = NULL;
	pcre2_pattern_info(re, PCRE2_INFO_CAPTURECOUNT, &cap);
	pcre2_pattern_info(re, PCRE2_INFO_NAMECOUNT, &namecount);
	pcre2_pattern_info(re, PCRE2_INFO_NAMEENTRYSIZE, &entsize);
	pcre2_pattern_info(re, PCRE2_INFO_NAMETABLE, &table);
	int *map = zalloc(cap + 1, sizeof *map);
	for (uint32_t g = 0; g <= cap; g++)
		map[g] = -1;
	for (uint32_t i = 0; i < namecount; i++) {
		PCRE2_SPTR e = table + i * entsize;
		int g = (e[0] << 8) | e[1];
		map[g] = add_field(L, (const char *)e + 2, v->pos, jpath);
	}
	*ncap = (int)cap;
	*nnamed = (int)namecount;
	return map;
}

static void ref_field(struct loader *L, int *slot, const struct json_value *v, const char *jpath)
{
	*slot = lt_rules_field(L->r, v->u.string.s);
	if (*slot >= 0)
		return;
	if (L->npend >= (int)(sizeof L->pend / sizeof L->pend[0])) {
		errat(L, v->pos, jpath, "too many forward field references");
		return;
	}
	struct pending *p = &L->pend[L->npend++];
	p->slot = slot;
	p->name = v->u.string.s;
	p->pos = v->pos;
	snprintf(p->jpath, sizeof p->jpath, "%s", jpath);
}

static void resolve_pending(struct loader *L)
{
	for (int i = 0; i < L->npend; i++) {
		struct pending *p = &L->pend[i];
		*p->slot = lt_rules_field(L->r, p->name);
		if (*p->slot >= 0)
			continue;
		const char *sugg = did_you_mean(p->name, (const char *const *)L->r->field_names,
						(size_t)L->r->nfields);
		char list[300] = "";
		for (int k = 0; k < L->r->nfields; k++) {
			strncat(list, k ? ", " : "", sizeof list - strlen(list) - 1);
			strncat(list, L->r->field_names[k], sizeof list - strlen(list) - 1);
		}
		if (sugg)
			errat(L, p->pos, p->jpath, "unknown field \"%s\" (did you mean \"%s\"?)", p->name, sugg);
		else
			errat(L, p->pos, p->jpath,
			      "unknown field \"%s\" (fields are the named groups (?<name>...) of \"line\" "
			      "and of \"matches\" patterns: %s)", p->name, list);
	}
}

static void load_cond(struct loader *L, const struct json_value *v, struct lt_cond *c, const char *jpath)
{
	static const char *const keys[] = { "field", "equals", "differs", "matches", "in" };
	c->field = -1;
	if (!want_type(L, v, JSON_OBJECT, jpath))
		return;
	check_keys(L, v, jpath, keys, 5);
	char sub[200];
	const struct json_value *f = json_get(v, "field");
	if (!f)
		errat(L, v->pos, jpath, "missing \"field\" (the name of the field to test)");
	else if (want_type(L, f, JSON_STRING, (mkpath(sub, sizeof sub, "%s.field", jpath), sub)))
		ref_field(L, &c->field, f, sub);

	int nops = 0;
	const struct json_value *op = NULL;
	const char *opname = NULL;
	for (int k = 1; k < 5; k++) {
		const struct json_value *x = json_get(v, keys[k]);
		if (x) {
			nops++;
			op = x;
			opname = keys[k];
			c->op = (enum lt_op)(k - 1);
		}
	}
	if (nops != 1) {
		errat(L, v->pos, jpath, "expected exactly one of \"equals\", \"differs\", \"matches\", \"in\" (found %d)",
		      nops);
		return;
	}
	mkpath(sub, sizeof sub, "%s.%s", jpath, opname);
	switch (c->op) {
	case LT_OP_EQUALS:
	case LT_OP_DIFFERS:
		if (want_type(L, op, JSON_STRING, sub))
			c->value = (struct lt_str){ dupstr(op->u.string.s, op->u.string.len), op->u.string.len };
		break;
	case LT_OP_MATCHES: {
		if (!want_type(L, op, JSON_STRING, sub))
			break;
		c->re = compile_re(L, op, sub);
		if (!c->re)
			break;
		int nnamed;
		c->cap_field = capture_fields(L, c->re, op, sub, &c->ncap, &nnamed);
		c->md = pcre2_match_data_create_from_pattern(c->re, NULL);
		break;
	}
	case LT_OP_IN:
		if (!want_type(L, op, JSON_ARRAY, sub))
			break;
		if (op->u.array.n == 0) {
			errat(L, op->pos, sub, "expected a non-empty array of strings");
			break;
		}
		c->list = zalloc(op->u.array.n, sizeof *c->list);
		for (size_t i = 0; i < op->u.array.n; i++) {
			const struct json_value *s = op->u.array.items[i];
			char ip[220];
			mkpath(ip, sizeof ip, "%s[%zu]", sub, i);
			if (!want_type(L, s, JSON_STRING, ip))
				continue;
			c->list[c->nlist++] = (struct lt_str){ dupstr(s->u.string.s, s->u.string.len), s->u.string.len };
		}
		break;
	}
}

static void load_report(struct loader *L, const struct json_value *v, struct lt_report_tmpl *t, const char *jpath)
{
	static const char *const keys[] = { "metric", "status", "score", "subject" };
	t->subject_field = -1;
	t->status = INSITU_INVALID;
	if (!want_type(L, v, JSON_OBJECT, jpath))
		return;
	check_keys(L, v, jpath, keys, 4);
	char sub[200];
	const struct json_value *m = json_get(v, "metric");
	mkpath(sub, sizeof sub, "%s.metric", jpath);
	if (!m)
		errat(L, v->pos, jpath, "missing \"metric\" (the metric name the report sets, e.g. \"Snapshot\")");
	else if (want_type(L, m, JSON_STRING, sub)) {
		if (!insitu_name_valid(m->u.string.s, INSITU_METRIC_NAME_MAX) || strlen(m->u.string.s) != m->u.string.len)
			errat(L, m->pos, sub, "expected a metric name of 1-%d bytes without spaces or control characters",
			      INSITU_METRIC_NAME_MAX - 1);
		else
			snprintf(t->metric, sizeof t->metric, "%s", m->u.string.s);
	}
	const struct json_value *s = json_get(v, "status");
	mkpath(sub, sizeof sub, "%s.status", jpath);
	if (!s)
		errat(L, v->pos, jpath, "missing \"status\"");
	else if (want_type(L, s, JSON_STRING, sub)) {
		t->status = insitu_status_parse(s->u.string.s);
		if (t->status == INSITU_INVALID)
			errat(L, s->pos, sub, "unknown status \"%s\" (expected NA, HEALTHY, PENDING, MAYBE_UNHEALTHY, "
			      "UNHEALTHY, DYING or DEAD)", s->u.string.s);
	}
	const struct json_value *sc = json_get(v, "score");
	mkpath(sub, sizeof sub, "%s.score", jpath);
	if (!sc)
		errat(L, v->pos, jpath, "missing \"score\" (0-100, higher is healthier)");
	else if (want_type(L, sc, JSON_NUMBER, sub)) {
		t->score = sc->u.number.num;
		if (!isfinite(t->score) || t->score < 0 || t->score > 100)
			errat(L, sc->pos, sub, "expected a score between 0 and 100 (higher is healthier)");
	}
	const struct json_value *subj = json_get(v, "subject");
	mkpath(sub, sizeof sub, "%s.subject", jpath);
	if (!subj)
		return;
	if (subj->type == JSON_STRING) {
		if (strcmp(subj->u.string.s, "self"))
			errat(L, subj->pos, sub, "expected \"self\" or an object {\"field\": NAME, \"map\": true|false, "
			      "\"unmapped\": \"raw\"|\"self\"|\"drop\"}");
		return;
	}
	if (!want_type(L, subj, JSON_OBJECT, sub))
		return;
	static const char *const skeys[] = { "field", "map", "unmapped" };
	check_keys(L, subj, sub, skeys, 3);
	char sub2[220];
	const struct json_value *f = json_get(subj, "field");
	mkpath(sub2, sizeof sub2, "%s.field", sub);
	if (!f)
		errat(L, subj->pos, sub, "missing \"field\" (the field naming the subject)");
	else if (want_type(L, f, JSON_STRING, sub2))
		ref_field(L, &t->subject_field, f, sub2);
	const struct json_value *mp = json_get(subj, "map");
	mkpath(sub2, sizeof sub2, "%s.map", sub);
	if (mp && want_type(L, mp, JSON_BOOL, sub2))
		t->subject_map = mp->u.boolean;
	const struct json_value *u = json_get(subj, "unmapped");
	mkpath(sub2, sizeof sub2, "%s.unmapped", sub);
	if (u && want_type(L, u, JSON_STRING, sub2)) {
		if (!strcmp(u->u.string.s, "raw"))
			t->unmapped = LT_UNMAPPED_RAW;
		else if (!strcmp(u->u.string.s, "self"))
			t->unmapped = LT_UNMAPPED_SELF;
		else if (!strcmp(u->u.string.s, "drop"))
			t->unmapped = LT_UNMAPPED_DROP;
		else
			errat(L, u->pos, sub2, "expected \"raw\" (the value itself), \"self\" or \"drop\"");
	}
}

static void load_nodes(struct loader *L, const struct json_value *arr, struct lt_node *parent,
		       const char *jpath, int depth);

static void load_node(struct loader *L, const struct json_value *v, struct lt_node *n, const char *jpath,
		      int depth)
{
	static const char *const keys[] = { "name", "when", "report", "rules" };
	n->name = dupstr(jpath, strlen(jpath));
	if (++L->r->nnodes > LT_MAX_NODES) {
		if (L->r->nnodes == LT_MAX_NODES + 1)
			errat(L, v->pos, jpath, "too many rules (at most %d in a file)", LT_MAX_NODES);
		return;
	}
	if (!want_type(L, v, JSON_OBJECT, jpath))
		return;
	check_keys(L, v, jpath, keys, 4);
	char sub[200];
	const struct json_value *name = json_get(v, "name");
	mkpath(sub, sizeof sub, "%s.name", jpath);
	if (name && want_type(L, name, JSON_STRING, sub)) {
		free(n->name);
		n->name = dupstr(name->u.string.s, strlen(name->u.string.s));
	}
	const struct json_value *w = json_get(v, "when");
	mkpath(sub, sizeof sub, "%s.when", jpath);
	if (w && w->type == JSON_ARRAY) {
		n->conds = zalloc(w->u.array.n, sizeof *n->conds);
		n->nconds = w->u.array.n;
		for (size_t i = 0; i < w->u.array.n; i++) {
			char ip[220];
			mkpath(ip, sizeof ip, "%s[%zu]", sub, i);
			load_cond(L, w->u.array.items[i], &n->conds[i], ip);
		}
	} else if (w && w->type == JSON_OBJECT) {
		n->conds = zalloc(1, sizeof *n->conds);
		n->nconds = 1;
		load_cond(L, w, &n->conds[0], sub);
	} else if (w) {
		errat(L, w->pos, sub, "expected a condition object or an array of them (all must hold), found %s",
		      json_type_name(w->type));
	}
	const struct json_value *rep = json_get(v, "report"), *kids = json_get(v, "rules");
	if ((rep != NULL) == (kids != NULL)) {
		errat(L, v->pos, jpath, "expected exactly one of \"report\" (a leaf) or \"rules\" (a branch)");
		return;
	}
	if (rep) {
		n->report = zalloc(1, sizeof *n->report);
		mkpath(sub, sizeof sub, "%s.report", jpath);
		load_report(L, rep, n->report, sub);
	} else {
		mkpath(sub, sizeof sub, "%s.rules", jpath);
		if (depth + 1 >= LT_MAX_DEPTH) {
			errat(L, kids->pos, sub, "rules nested too deep (at most %d levels)", LT_MAX_DEPTH);
			return;
		}
		load_nodes(L, kids, n, sub, depth + 1);
	}
}

static void load_nodes(struct loader *L, const struct json_value *arr, struct lt_node *parent,
		       const char *jpath, int depth)
{
	if (!want_type(L, arr, JSON_ARRAY, jpath))
		return;
	if (arr->u.array.n == 0) {
		errat(L, arr->pos, jpath, "expected a non-empty array of rules");
		return;
	}
	parent->children = zalloc(arr->u.array.n, sizeof *parent->children);
	parent->nchildren = arr->u.array.n;
	for (size_t i = 0; i < arr->u.array.n; i++) {
		char ip[180];
		mkpath(ip, sizeof ip, "%s[%zu]", jpath, i);
		load_node(L, arr->u.array.items[i], &parent->children[i], ip, depth);
	}
}

static void load_time(struct loader *L, const struct json_value *v)
{
	static const char *const keys[] = { "field", "format", "zone" };
	struct lt_rules *r = L->r;
	if (!want_type(L, v, JSON_OBJECT, "time"))
		return;
	check_keys(L, v, "time", keys, 3);
	const struct json_value *f = json_get(v, "field"), *fmt = json_get(v, "format"), *z = json_get(v, "zone");
	if (!f)
		errat(L, v->pos, "time", "missing \"field\" (the line field holding the timestamp)");
	else if (want_type(L, f, JSON_STRING, "time.field")) {
		r->time_field = lt_rules_field(r, f->u.string.s);
		if (r->time_field < 0 || r->time_field >= r->nline_fields) {
			const char *sugg = did_you_mean(f->u.string.s, (const char *const *)r->field_names,
							(size_t)r->nline_fields);
			errat(L, f->pos, "time.field", "\"%s\" is not a named group of \"line\"%s%s%s", f->u.string.s,
			      sugg ? " (did you mean \"" : "", sugg ? sugg : "", sugg ? "\"?)" : "");
		}
	}
	if (!fmt)
		errat(L, v->pos, "time", "missing \"format\" (e.g. \"%%Y-%%m-%%d %%H:%%M:%%S,%%f\")");
	else if (want_type(L, fmt, JSON_STRING, "time.format")) {
		size_t off;
		const char *why;
		if (!lt_timefmt_compile(&r->time, fmt->u.string.s, &off, &why))
			errat(L, fmt->pos, "time.format", "%s (at offset %zu of the format)", why, off);
	}
	const char *zone = "local";
	if (z && want_type(L, z, JSON_STRING, "time.zone"))
		zone = z->u.string.s;
	const char *why;
	if (!lt_timefmt_set_zone(&r->time, zone, &why))
		errat(L, z ? z->pos : v->pos, "time.zone", "\"%s\": %s", zone, why);
}

static int cmp_subject(const void *a, const void *b)
{
	return strcmp(((const struct lt_subject *)a)->key, ((const struct lt_subject *)b)->key);
}

static struct lt_subject *find_subject(struct lt_rules *r, const char *key)
{
	for (size_t i = 0; i < r->nsubjects; i++)
		if (!strcmp(r->subjects[i].key, key))
			return &r->subjects[i];
	return NULL;
}

/* Adds the entries of a JSON object {key: name} to the table; an entry for an
 * existing key replaces it (a deployment's --subjects file refines shipped rules). */
static void load_subjects(struct loader *L, const struct json_value *v, const char *where)
{
	struct lt_rules *r = L->r;
	if (!want_type(L, v, JSON_OBJECT, where))
		return;
	if (r->nsubjects + v->u.object.n > LT_MAX_SUBJECTS) {
		errat(L, v->pos, where, "too many entries (at most %d)", LT_MAX_SUBJECTS);
		return;
	}
	struct lt_subject *grown = realloc(r->subjects, (r->nsubjects + v->u.object.n + 1) * sizeof *grown);
	if (!grown) {
		fprintf(stderr, "out of memory\n");
		abort();
	}
	r->subjects = grown;
	for (size_t i = 0; i < v->u.object.n; i++) {
		const struct json_member *m = &v->u.object.members[i];
		char jp[200];
		mkpath(jp, sizeof jp, "%s.%s", where, m->key);
		if (!want_type(L, m->value, JSON_STRING, jp))
			continue;
		if (!insitu_name_valid(m->value->u.string.s, INSITU_NAME_MAX)) {
			errat(L, m->value->pos, jp, "expected a subject name of 1-%d bytes without spaces or control "
			      "characters", INSITU_NAME_MAX - 1);
			continue;
		}
		struct lt_subject *e = find_subject(r, m->key);
		if (e) {
			free(e->name);
		} else {
			e = &r->subjects[r->nsubjects++];
			e->key = dupstr(m->key, strlen(m->key));
		}
		e->name = dupstr(m->value->u.string.s, m->value->u.string.len);
	}
	qsort(r->subjects, r->nsubjects, sizeof *r->subjects, cmp_subject);
}

static bool load_ms(struct loader *L, const struct json_value *v, const char *key, double scale, int64_t *out)
{
	if (!v)
		return true;
	if (!want_type(L, v, JSON_NUMBER, key))
		return false;
	double x = v->u.number.num;
	if (!isfinite(x) || x < 0 || x > 366.0 * 86400 * 1000) {
		errat(L, v->pos, key, "expected a non-negative number");
		return false;
	}
	*out = (int64_t)(x * scale);
	return true;
}

struct lt_rules *lt_rules_load_mem(const char *path, const char *text, size_t len, FILE *errf)
{
	struct loader *L = zalloc(1, sizeof *L);
	L->path = path;
	L->errf = errf;
	struct lt_rules *r = L->r = zalloc(1, sizeof *r);
	r->path = dupstr(path, strlen(path));
	r->time_field = -1;
	r->staleness_ns = 60 * 1000000000ll;
	r->merge_window_ns = 1000000000ll;

	struct json_error jerr;
	struct json_value *doc = json_parse(text, len, &jerr);
	if (!doc) {
		errat(L, jerr.pos, "(document)", "%s", jerr.msg);
		goto out;
	}
	if (!want_type(L, doc, JSON_OBJECT, "(document)"))
		goto out;
	static const char *const keys[] = { "program", "description", "line", "time", "staleness_s",
					    "merge_window_ms", "subjects", "rules" };
	check_keys(L, doc, "(document)", keys, 8);

	const struct json_value *v = json_get(doc, "program");
	if (v && want_type(L, v, JSON_STRING, "program"))
		r->program = dupstr(v->u.string.s, strlen(v->u.string.s));
	v = json_get(doc, "description");
	if (v)
		want_type(L, v, JSON_STRING, "description");

	v = json_get(doc, "line");
	if (!v) {
		errat(L, doc->pos, "(document)", "missing \"line\" (a PCRE2 pattern with named groups (?<name>...) "
		      "that cuts a log line into fields)");
	} else if (want_type(L, v, JSON_STRING, "line")) {
		r->line_re = compile_re(L, v, "line");
		if (r->line_re) {
			int nnamed;
			r->line_cap_field = capture_fields(L, r->line_re, v, "line", &r->line_ncap, &nnamed);
			if (nnamed == 0)
				errat(L, v->pos, "line", "the pattern has no named group (?<name>...): rules test fields "
				      "by name");
			r->line_md = pcre2_match_data_create_from_pattern(r->line_re, NULL);
			size_t jit = 0;
			pcre2_pattern_info(r->line_re, PCRE2_INFO_JITSIZE, &jit);
			r->jit = jit > 0;
		}
	}
	r->nline_fields = r->nfields;

	v = json_get(doc, "time");
	if (v)
		load_time(L, v);
	load_ms(L, json_get(doc, "staleness_s"), "staleness_s", 1e9, &r->staleness_ns);
	load_ms(L, json_get(doc, "merge_window_ms"), "merge_window_ms", 1e6, &r->merge_window_ns);
	v = json_get(doc, "subjects");
	if (v)
		load_subjects(L, v, "subjects");
	v = json_get(doc, "rules");
	if (!v)
		errat(L, doc->pos, "(document)", "missing \"rules\" (an array of rules; the first that matches a "
		      "line decides its report)");
	else
		load_nodes(L, v, &r->root, "rules", 0);
	resolve_pending(L);
out:
	print_errors(L);
	json_free(doc);
	int nerr = L->nerr;
	free(L);
	if (nerr) {
		lt_rules_free(r);
		return NULL;
	}
	return r;
}

static char *read_file(const char *path, FILE *errf, size_t *len)
{
	char *buf = read_file_max(path, LT_MAX_FILE, len);
	if (!buf && errf) {
		if (errno == EFBIG)
			fprintf(errf, "%s: error: file larger than 4 MiB\n", path);
		else
			fprintf(errf, "%s: error: cannot open: %s\n", path, strerror(errno));
	}
	return buf;
}

struct lt_rules *lt_rules_load(const char *path, FILE *errf)
{
	size_t n;
	char *buf = read_file(path, errf, &n);
	if (!buf)
		return NULL;
	struct lt_rules *r = lt_rules_load_mem(path, buf, n, errf);
	free(buf);
	return r;
}

int lt_rules_add_subjects(struct lt_rules *r, const char *path, FILE *errf)
{
	size_t n;
	char *text = read_file(path, errf, &n);
	if (!text)
		return -1;
	struct loader *L = zalloc(1, sizeof *L);
	L->path = path;
	L->errf = errf;
	L->r = r;
	struct json_error jerr;
	struct json_value *doc = json_parse(text, n, &jerr);
	if (!doc)
		errat(L, jerr.pos, "(document)", "%s", jerr.msg);
	else
		load_subjects(L, doc, "(document)");
	print_errors(L);
	json_free(doc);
	free(text);
	int nerr = L->nerr;
	free(L);
	return nerr ? -1 : 0;
}

const char *lt_rules_subject(const struct lt_rules *r, const char *key, size_t len)
{
	size_t lo = 0, hi = r->nsubjects;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const char *k = r->subjects[mid].key;
		int c = strncmp(k, key, len);
		if (c == 0 && k[len] != 0)
			c = 1;
		if (c == 0)
			return r->subjects[mid].name;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static void free_cond(struct lt_cond *c)
{
	free(c->value.s);
	for (size_t i = 0; i < c->nlist; i++)
		free(c->list[i].s);
	free(c->list);
	if (c->md)
		pcre2_match_data_free(c->md);
	if (c->re)
		pcre2_code_free(c->re);
	free(c->cap_field);
}

static void free_node(struct lt_node *n)
{
	for (size_t i = 0; i < n->nconds; i++)
		free_cond(&n->conds[i]);
	free(n->conds);
	for (size_t i = 0; i < n->nchildren; i++)
		free_node(&n->children[i]);
	free(n->children);
	free(n->report);
	free(n->name);
}

void lt_rules_free(struct lt_rules *r)
{
	if (!r)
		return;
	free_node(&r->root);
	for (size_t i = 0; i < r->nsubjects; i++) {
		free(r->subjects[i].key);
		free(r->subjects[i].name);
	}
	free(r->subjects);
	for (int i = 0; i < r->nfields; i++)
		free(r->field_names[i]);
	free(r->line_cap_field);
	if (r->line_md)
		pcre2_match_data_free(r->line_md);
	if (r->line_re)
		pcre2_code_free(r->line_re);
	free(r->program);
	free(r->path);
	free(r);
}
