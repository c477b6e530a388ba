/* Loading and validating semantics files (docs/semantics.md).
 *
 * Validation and loading are one pass over the JSON DOM: every key is checked
 * against what the language allows at that place, so a problem is reported with
 * the file:line:column of the offending value, its JSON path, and what was
 * expected.  The walk continues after a problem so that one run of
 * `insitu-semantics check` shows all of them.  Cross-checks that need the whole
 * file (overlapping signatures, same_as references) run after the walk. */
#include "semantics_model.h"

#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileutil.h"
#include "json.h"

#define MAX_FILE_BYTES (1 << 20)

struct ctx {
	const char *file;
	char dir[256];          /* directory of the file, for plugin lookup */
	struct sem_diags *d;
	unsigned errors;
	struct sem_set *set;
};

__attribute__((format(printf, 4, 5)))
static void diag(struct ctx *c, struct json_pos pos, const char *path, const char *fmt, ...)
{
	c->errors++;
	if (!c->d)
		return;
	if (c->d->n >= SEM_MAX_DIAGS) {
		c->d->dropped++;
		return;
	}
	struct sem_diag *g = &c->d->d[c->d->n++];
	snprintf(g->file, sizeof(g->file), "%s", c->file);
	g->line = pos.line;
	g->col = pos.col;
	snprintf(g->path, sizeof(g->path), "%s", path ? path : "");
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(g->msg, sizeof(g->msg), fmt, ap);
	va_end(ap);
}

void sem_diags_print(const struct sem_diags *d, FILE *out)
{
	for (unsigned i = 0; i < d->n; i++) {
		const struct sem_diag *g = &d->d[i];
		if (g->line)
			fprintf(out, "%s:%d:%d: ", g->file, g->line, g->col);
		else
			fprintf(out, "%s: ", g->file);
		if (g->path[0])
			fprintf(out, "%s: ", g->path);
		fprintf(out, "%s\n", g->msg);
	}
	if (d->dropped)
		fprintf(out, "(%u more problems not shown)\n", d->dropped);
}

/* ---- generic checks ------------------------------------------------------------ */

static unsigned edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 40 || lb > 40)
		return 99;
	unsigned row[41];
	for (size_t j = 0; j <= lb; j++)
		row[j] = (unsigned)j;
	for (size_t i = 1; i <= la; i++) {
		unsigned prev = row[0];
		row[0] = (unsigned)i;
		for (size_t j = 1; j <= lb; j++) {
			unsigned cur = row[j];
			unsigned sub = prev + (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));
			unsigned m = row[j] + 1 < row[j - 1] + 1 ? row[j] + 1 : row[j - 1] + 1;
			row[j] = sub < m ? sub : m;
			prev = cur;
		}
	}
	return row[lb];
}

static const char *closest(const char *word, const char *const *cands)
{
	const char *best = NULL;
	unsigned bd = 99;
	for (size_t i = 0; cands[i]; i++) {
		unsigned d = edit_distance(word, cands[i]);
		if (d < bd) {
			bd = d;
			best = cands[i];
		}
	}
	size_t l = strlen(word);
	unsigned limit = l <= 3 ? 1 : l <= 6 ? 2 : 3;
	return bd <= limit ? best : NULL;
}

static void list_words(const char *const *w, char *buf, size_t n)
{
	size_t o = 0;
	buf[0] = '\0';
	for (size_t i = 0; w[i] && o < n; i++)
		o += (size_t)snprintf(buf + o, n - o, "%s\"%s\"", i ? ", " : "", w[i]);
}

/* JSON paths are for humans: a path longer than the buffer is cut, not an error. */
static void child(char *out, size_t n, const char *path, const char *key)
{
	if (snprintf(out, n, "%s.%s", path, key) >= (int)n)
		out[n - 1] = '\0';
}

static void index_path(char *out, size_t n, const char *path, size_t i)
{
	if (snprintf(out, n, "%s[%zu]", path, i) >= (int)n)
		out[n - 1] = '\0';
}

static bool want(struct ctx *c, const struct json_value *v, enum json_type t, const char *path)
{
	if (v->type == t)
		return true;
	diag(c, v->pos, path, "expected %s %s, found %s", t == JSON_ARRAY || t == JSON_OBJECT ? "an" : "a",
	     json_type_name(t), json_type_name(v->type));
	return false;
}

/* Unknown keys (with a did-you-mean) and missing required keys. */
static bool check_keys(struct ctx *c, const struct json_value *obj, const char *path,
		       const char *const *allowed, const char *const *required)
{
	bool ok = true;
	for (size_t i = 0; i < obj->u.object.n; i++) {
		const struct json_member *m = &obj->u.object.members[i];
		bool known = false;
		for (size_t k = 0; allowed[k]; k++)
			if (!strcmp(allowed[k], m->key))
				known = true;
		if (known)
			continue;
		ok = false;
		char p[128];
		child(p, sizeof(p), path, m->key);
		const char *sug = closest(m->key, allowed);
		if (sug) {
			diag(c, m->key_pos, p, "unknown key \"%.40s\" (did you mean \"%s\"?)", m->key, sug);
		} else {
			char list[200];
			list_words(allowed, list, sizeof(list));
			diag(c, m->key_pos, p, "unknown key \"%.40s\" (expected one of %s)", m->key, list);
		}
	}
	for (size_t k = 0; required && required[k]; k++) {
		if (!json_get(obj, required[k])) {
			ok = false;
			diag(c, obj->pos, path, "missing required key \"%s\"", required[k]);
		}
	}
	return ok;
}

static bool get_uint(struct ctx *c, const struct json_value *v, const char *path, int64_t lo,
		     int64_t hi, int64_t *out)
{
	if (!want(c, v, JSON_NUMBER, path))
		return false;
	if (!v->u.number.is_int || v->u.number.i < lo || v->u.number.i > hi) {
		diag(c, v->pos, path, "expected an integer from %lld to %lld", (long long)lo, (long long)hi);
		return false;
	}
	*out = v->u.number.i;
	return true;
}

static bool get_bool(struct ctx *c, const struct json_value *v, const char *path, bool *out)
{
	if (!want(c, v, JSON_BOOL, path))
		return false;
	*out = v->u.boolean;
	return true;
}

static bool get_lit(struct ctx *c, const struct json_value *v, const char *path, struct semm_lit *l,
		    bool allow_empty)
{
	if (!want(c, v, JSON_STRING, path))
		return false;
	if (v->u.string.len >= SEMM_LIT_MAX) {
		diag(c, v->pos, path, "string longer than %d bytes", SEMM_LIT_MAX - 1);
		return false;
	}
	if (!allow_empty && v->u.string.len == 0) {
		diag(c, v->pos, path, "expected a non-empty string");
		return false;
	}
	memcpy(l->s, v->u.string.s, v->u.string.len);
	l->s[v->u.string.len] = '\0';
	l->len = (uint8_t)v->u.string.len;
	return true;
}

/* A literal or a list of 1..max literals ("prefix", "contains"); *n gets how many
 * were stored.  `what` names them in the error ("prefixes", "literals"). */
static bool get_lits(struct ctx *c, const struct json_value *v, const char *path,
		     struct semm_lit *out, size_t max, uint8_t *n, const char *what)
{
	char ip[140];
	bool ok = true;

	if (v->type == JSON_STRING) {
		*n = 1;
		return get_lit(c, v, path, &out[0], false);
	}
	if (!want(c, v, JSON_ARRAY, path))
		return false;
	if (v->u.array.n == 0 || v->u.array.n > max) {
		diag(c, v->pos, path, "expected 1 to %zu %s", max, what);
		ok = false;
	}
	for (size_t i = 0; i < v->u.array.n && i < max; i++) {
		index_path(ip, sizeof(ip), path, i);
		ok &= get_lit(c, v->u.array.items[i], ip, &out[i], false);
	}
	*n = (uint8_t)(v->u.array.n < max ? v->u.array.n : max);
	return ok;
}

/* One of a fixed set of words; returns its index or -1. */
static int get_enum(struct ctx *c, const struct json_value *v, const char *path,
		    const char *const *words)
{
	if (!want(c, v, JSON_STRING, path))
		return -1;
	for (int i = 0; words[i]; i++)
		if (!strcmp(words[i], v->u.string.s))
			return i;
	const char *sug = closest(v->u.string.s, words);
	char list[200];
	list_words(words, list, sizeof(list));
	if (sug)
		diag(c, v->pos, path, "unknown value \"%.40s\" (did you mean \"%s\"?)", v->u.string.s, sug);
	else
		diag(c, v->pos, path, "unknown value \"%.40s\" (expected one of %s)", v->u.string.s, list);
	return -1;
}

static int hexdig(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = tolower(ch);
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

/* Hex bytes: "80", "0x8000", "de ad". */
static bool get_hex(struct ctx *c, const struct json_value *v, const char *path, uint8_t *out,
		    size_t max, size_t *n_out)
{
	if (!want(c, v, JSON_STRING, path))
		return false;
	const char *s = v->u.string.s;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	size_t n = 0;
	int hi = -1;
	for (; *s; s++) {
		if (*s == ' ')
			continue;
		int d = hexdig((unsigned char)*s);
		if (d < 0) {
			diag(c, v->pos, path, "expected hex bytes like \"0x8000\", found '%c'", *s);
			return false;
		}
		if (hi < 0) {
			hi = d;
			continue;
		}
		if (n == max) {
			diag(c, v->pos, path, "more than %zu hex bytes", max);
			return false;
		}
		out[n++] = (uint8_t)(hi << 4 | d);
		hi = -1;
	}
	if (hi >= 0 || n == 0) {
		diag(c, v->pos, path, "expected an even, non-zero number of hex digits");
		return false;
	}
	*n_out = n;
	return true;
}

/* ---- signatures --------------------------------------------------------------- */

static bool parse_pred(struct ctx *c, const struct json_value *v, const char *path, struct semm_pred *p)
{
	static const char *const allowed[] = { "offset", "equals", "text", "mask", "not", NULL };
	static const char *const req[] = { "offset", NULL };
	if (!want(c, v, JSON_OBJECT, path))
		return false;
	bool ok = check_keys(c, v, path, allowed, req);
	char cp[128];
	int64_t off = 0;
	const struct json_value *x;
	if ((x = json_get(v, "offset"))) {
		child(cp, sizeof(cp), path, "offset");
		ok &= get_uint(c, x, cp, 0, SEMM_MAX_OFFSET, &off);
	}
	p->offset = (uint16_t)off;
	const struct json_value *eq = json_get(v, "equals"), *tx = json_get(v, "text");
	size_t n = 0;
	if (eq && tx) {
		diag(c, tx->pos, path, "give either \"equals\" (hex) or \"text\", not both");
		return false;
	}
	if (!eq && !tx) {
		diag(c, v->pos, path, "missing \"equals\" (hex bytes) or \"text\" (literal)");
		return false;
	}
	if (eq) {
		child(cp, sizeof(cp), path, "equals");
		ok &= get_hex(c, eq, cp, p->value, SEMM_PRED_BYTES, &n);
	} else {
		struct semm_lit l;
		child(cp, sizeof(cp), path, "text");
		if (get_lit(c, tx, cp, &l, false)) {
			if (l.len > SEMM_PRED_BYTES) {
				diag(c, tx->pos, cp, "longer than %d bytes (use \"prefix\" for long literals)",
				     SEMM_PRED_BYTES);
				ok = false;
			} else {
				memcpy(p->value, l.s, l.len);
				n = l.len;
			}
		} else {
			ok = false;
		}
	}
	p->len = (uint8_t)n;
	memset(p->mask, 0xff, sizeof(p->mask));
	if ((x = json_get(v, "mask"))) {
		size_t mn = 0;
		child(cp, sizeof(cp), path, "mask");
		if (get_hex(c, x, cp, p->mask, SEMM_PRED_BYTES, &mn) && n && mn != n) {
			diag(c, x->pos, cp, "mask has %zu bytes but the value has %zu", mn, n);
			ok = false;
		}
		for (size_t i = 0; i < n; i++)
			p->value[i] &= p->mask[i];
	}
	if ((x = json_get(v, "not"))) {
		child(cp, sizeof(cp), path, "not");
		ok &= get_bool(c, x, cp, &p->negate);
	}
	return ok;
}

static const char *const dir_words[] = { "to_server", "from_server", NULL };

/* Signature body (direction handled by the caller). */
static bool parse_signature(struct ctx *c, const struct json_value *v, const char *path,
			    struct semm_signature *s, bool with_direction, enum sem_dir *dir)
{
	static const char *const allowed[] = { "direction", "prefix", "prefix_nocase", "contains", "bytes",
					       "min_length", NULL };
	static const char *const req_dir[] = { "direction", NULL };
	if (!want(c, v, JSON_OBJECT, path))
		return false;
	bool ok = check_keys(c, v, path, allowed, with_direction ? req_dir : NULL);
	char cp[128], ip[140];
	const struct json_value *x;
	if ((x = json_get(v, "direction"))) {
		child(cp, sizeof(cp), path, "direction");
		int d = get_enum(c, x, cp, dir_words);
		if (d < 0)
			ok = false;
		else if (dir)
			*dir = (enum sem_dir)d;
	}
	bool nocase = false;
	if ((x = json_get(v, "prefix_nocase"))) {
		child(cp, sizeof(cp), path, "prefix_nocase");
		ok &= get_bool(c, x, cp, &nocase);
	}
	if ((x = json_get(v, "prefix"))) {
		child(cp, sizeof(cp), path, "prefix");
		ok &= get_lits(c, x, cp, s->prefix, SEMM_MAX_PREFIXES, &s->n_prefix, "prefixes");
		for (size_t i = 0; i < s->n_prefix; i++)
			s->prefix[i].nocase = nocase;
	}
	if ((x = json_get(v, "contains"))) {
		child(cp, sizeof(cp), path, "contains");
		ok &= get_lits(c, x, cp, s->contains, SEMM_MAX_CONTAINS, &s->n_contains, "literals");
	}
	if ((x = json_get(v, "bytes"))) {
		child(cp, sizeof(cp), path, "bytes");
		if (want(c, x, JSON_ARRAY, cp)) {
			if (x->u.array.n > SEMM_MAX_PREDS) {
				diag(c, x->pos, cp, "at most %d byte predicates", SEMM_MAX_PREDS);
				ok = false;
			}
			for (size_t i = 0; i < x->u.array.n && i < SEMM_MAX_PREDS; i++) {
				index_path(ip, sizeof(ip), cp, i);
				ok &= parse_pred(c, x->u.array.items[i], ip, &s->pred[s->n_pred++]);
			}
		} else {
			ok = false;
		}
	}
	if ((x = json_get(v, "min_length"))) {
		int64_t m = 0;
		child(cp, sizeof(cp), path, "min_length");
		ok &= get_uint(c, x, cp, 0, SEMM_MAX_OFFSET, &m);
		s->min_len = (uint16_t)m;
	}
	return ok;
}

/* ---- framing ------------------------------------------------------------------ */

static bool parse_lenfield(struct ctx *c, const struct json_value *v, const char *path,
			   struct semm_lenfield *lf, bool require_all)
{
	char cp[128];
	bool ok = true;
	const struct json_value *x;
	int64_t t;
	static const char *const enc_words[] = { "uint", "varint", NULL };
	static const char *const end_words[] = { "big", "little", NULL };
	static const char *const from_words[] = { "start", "field_end", NULL };
	lf->big_endian = true;
	lf->max = 16u << 20;
	if ((x = json_get(v, "offset"))) {
		child(cp, sizeof(cp), path, "offset");
		ok &= get_uint(c, x, cp, 0, 64, &t);
		lf->offset = (uint16_t)t;
	} else if (require_all) {
		diag(c, v->pos, path, "missing required key \"offset\"");
		ok = false;
	}
	bool varint = false;
	if ((x = json_get(v, "encoding"))) {
		child(cp, sizeof(cp), path, "encoding");
		int e = get_enum(c, x, cp, enc_words);
		ok &= e >= 0;
		varint = e == 1;
	}
	if ((x = json_get(v, "width"))) {
		child(cp, sizeof(cp), path, "width");
		if (varint) {
			diag(c, x->pos, cp, "a varint has no fixed width");
			ok = false;
		} else if (get_uint(c, x, cp, 1, 4, &t)) {
			lf->width = (uint8_t)t;
		} else {
			ok = false;
		}
	} else if (!varint && require_all) {
		diag(c, v->pos, path, "missing required key \"width\"");
		ok = false;
	}
	if (varint)
		lf->width = 0;
	if ((x = json_get(v, "endian"))) {
		child(cp, sizeof(cp), path, "endian");
		int e = get_enum(c, x, cp, end_words);
		ok &= e >= 0;
		lf->big_endian = e != 1;
	}
	if ((x = json_get(v, "from"))) {
		child(cp, sizeof(cp), path, "from");
		int e = get_enum(c, x, cp, from_words);
		ok &= e >= 0;
		lf->from_field_end = e == 1;
	}
	if ((x = json_get(v, "adjust"))) {
		child(cp, sizeof(cp), path, "adjust");
		ok &= get_uint(c, x, cp, -65536, 65536, &t);
		lf->adjust = (int32_t)t;
	}
	if ((x = json_get(v, "max"))) {
		child(cp, sizeof(cp), path, "max");
		ok &= get_uint(c, x, cp, 1, 1ll << 31, &t);
		lf->max = (uint32_t)t;
	}
	return ok;
}

static const char *const framing_words[] = { "datagram", "line", "length", "http1", "resp", NULL };

static bool parse_framing(struct ctx *c, const struct json_value *v, const char *path,
			  struct semm_framing *fr)
{
	static const char *const allowed[] = { "kind", "delimiter", "max_line", "data_blocks", "multi_line",
					       "offset", "width", "encoding", "endian", "from", "adjust", "max",
					       "variants", NULL };
	static const char *const req[] = { "kind", NULL };
	if (!want(c, v, JSON_OBJECT, path))
		return false;
	bool ok = check_keys(c, v, path, allowed, req);
	char cp[128], ip[140], kp[160];
	const struct json_value *x;
	int64_t t;
	fr->delim = (struct semm_lit){ .len = 2, .s = "\r\n" };
	fr->max_line = 8192;
	if (!(x = json_get(v, "kind")))
		return false;
	child(cp, sizeof(cp), path, "kind");
	int k = get_enum(c, x, cp, framing_words);
	if (k < 0)
		return false;
	fr->kind = (enum semm_framing_kind)k;
	/* keys that only make sense for some kinds */
	static const char *const line_only[] = { "delimiter", "data_blocks", "multi_line", NULL };
	static const char *const len_only[] = { "offset", "width", "encoding", "endian", "from", "adjust", "max",
						"variants", NULL };
	for (size_t i = 0; line_only[i]; i++)
		if ((x = json_get(v, line_only[i])) && fr->kind != SEMM_FR_LINE) {
			child(cp, sizeof(cp), path, line_only[i]);
			diag(c, json_get_member(v, line_only[i])->key_pos, cp, "\"%s\" applies only to kind \"line\"",
			     line_only[i]);
			ok = false;
		}
	for (size_t i = 0; len_only[i]; i++)
		if ((x = json_get(v, len_only[i])) && fr->kind != SEMM_FR_LENGTH) {
			child(cp, sizeof(cp), path, len_only[i]);
			diag(c, json_get_member(v, len_only[i])->key_pos, cp, "\"%s\" applies only to kind \"length\"",
			     len_only[i]);
			ok = false;
		}
	if (!ok)
		return false;
	if ((x = json_get(v, "max_line"))) {
		child(cp, sizeof(cp), path, "max_line");
		ok &= get_uint(c, x, cp, 16, 1 << 20, &t);
		fr->max_line = (uint32_t)t;
	}
	if ((x = json_get(v, "delimiter"))) {
		child(cp, sizeof(cp), path, "delimiter");
		ok &= get_lit(c, x, cp, &fr->delim, false);
	}
	if ((x = json_get(v, "data_blocks"))) {
		child(cp, sizeof(cp), path, "data_blocks");
		if (want(c, x, JSON_ARRAY, cp)) {
			if (x->u.array.n > SEMM_MAX_BLOCKS) {
				diag(c, x->pos, cp, "at most %d data-block rules", SEMM_MAX_BLOCKS);
				ok = false;
			}
			for (size_t i = 0; i < x->u.array.n && i < SEMM_MAX_BLOCKS; i++) {
				static const char *const ba[] = { "prefix", "token", "token_prefix", NULL };
				static const char *const br[] = { "prefix", "token", NULL };
				const struct json_value *b = x->u.array.items[i], *y;
				index_path(ip, sizeof(ip), cp, i);
				if (!want(c, b, JSON_OBJECT, ip) || !check_keys(c, b, ip, ba, br)) {
					ok = false;
					continue;
				}
				struct semm_block *blk = &fr->blocks[fr->n_blocks++];
				child(kp, sizeof(kp), ip, "prefix");
				ok &= get_lit(c, json_get(b, "prefix"), kp, &blk->prefix, false);
				child(kp, sizeof(kp), ip, "token");
				ok &= get_uint(c, json_get(b, "token"), kp, 1, 16, &t);
				blk->token = (uint8_t)t;
				if ((y = json_get(b, "token_prefix"))) {
					struct semm_lit tp;
					child(kp, sizeof(kp), ip, "token_prefix");
					if (get_lit(c, y, kp, &tp, false) && tp.len == 1)
						blk->token_prefix = tp.s[0];
					else {
						if (tp.len != 1)
							diag(c, y->pos, kp, "expected a single character");
						ok = false;
					}
				}
			}
		} else {
			ok = false;
		}
	}
	if ((x = json_get(v, "multi_line"))) {
		child(cp, sizeof(cp), path, "multi_line");
		if (want(c, x, JSON_ARRAY, cp)) {
			for (size_t i = 0; i < x->u.array.n && i < SEMM_MAX_BLOCKS; i++) {
				static const char *const ma[] = { "prefix", "until", NULL };
				const struct json_value *b = x->u.array.items[i];
				index_path(ip, sizeof(ip), cp, i);
				if (!want(c, b, JSON_OBJECT, ip) || !check_keys(c, b, ip, ma, ma)) {
					ok = false;
					continue;
				}
				child(kp, sizeof(kp), ip, "prefix");
				ok &= get_lit(c, json_get(b, "prefix"), kp, &fr->multi_prefix[fr->n_multi], false);
				child(kp, sizeof(kp), ip, "until");
				ok &= get_lit(c, json_get(b, "until"), kp, &fr->multi_until[fr->n_multi], false);
				fr->n_multi++;
			}
		} else {
			ok = false;
		}
	}
	if (fr->kind == SEMM_FR_LENGTH) {
		ok &= parse_lenfield(c, v, path, &fr->len, true);
		if ((x = json_get(v, "variants"))) {
			child(cp, sizeof(cp), path, "variants");
			if (want(c, x, JSON_ARRAY, cp)) {
				for (size_t i = 0; i < x->u.array.n && i < SEMM_MAX_VARIANTS; i++) {
					static const char *const va[] = { "when", "offset", "width", "encoding", "endian",
									  "from", "adjust", "max", NULL };
					static const char *const vr[] = { "when", NULL };
					const struct json_value *b = x->u.array.items[i];
					index_path(ip, sizeof(ip), cp, i);
					if (!want(c, b, JSON_OBJECT, ip) || !check_keys(c, b, ip, va, vr)) {
						ok = false;
						continue;
					}
					child(kp, sizeof(kp), ip, "when");
					ok &= parse_pred(c, json_get(b, "when"), kp, &fr->variant_when[fr->n_variants]);
					fr->variant_len[fr->n_variants] = fr->len;
					ok &= parse_lenfield(c, b, ip, &fr->variant_len[fr->n_variants], false);
					fr->n_variants++;
				}
			} else {
				ok = false;
			}
		}
	}
	return ok;
}

/* ---- id sources --------------------------------------------------------------- */

static const char *const src_kinds[] = { "offset", "after", "header", "regex", "same_as", "concat",
					 "function", "lstring", "cstring", "none", NULL };
static const char *const slot_words[] = { "link_id", "query_id", "response_id", NULL };

static bool load_plugin_fn(struct ctx *c, const struct json_value *v, const char *path,
			   const char *plugin, const char *fname, const char *arg, struct semm_src *s);

static bool parse_src(struct ctx *c, const struct json_value *v, const char *path, struct semm_src *s,
		      int depth)
{
	memset(s, 0, sizeof(*s));
	if (v->type == JSON_NULL) {
		s->kind = SEMM_SRC_NONE;
		return true;
	}
	if (!want(c, v, JSON_OBJECT, path))
		return false;
	const char *kind = NULL;
	const struct json_member *km = NULL;
	for (size_t i = 0; i < v->u.object.n; i++) {
		const struct json_member *m = &v->u.object.members[i];
		for (size_t k = 0; src_kinds[k]; k++) {
			if (strcmp(m->key, src_kinds[k]))
				continue;
			if (kind) {
				diag(c, m->key_pos, path, "conflicting id kinds \"%s\" and \"%s\": use one", kind, m->key);
				return false;
			}
			kind = src_kinds[k];
			km = m;
		}
	}
	if (!kind) {
		/* an unknown key that looks like a kind is the likely mistake */
		for (size_t i = 0; i < v->u.object.n; i++) {
			const char *sug = closest(v->u.object.members[i].key, src_kinds);
			if (sug) {
				char cp[128];
				child(cp, sizeof(cp), path, v->u.object.members[i].key);
				diag(c, v->u.object.members[i].key_pos, cp, "unknown key \"%.40s\" (did you mean \"%s\"?)",
				     v->u.object.members[i].key, sug);
				return false;
			}
		}
		char list[200];
		list_words(src_kinds, list, sizeof(list));
		diag(c, v->pos, path, "expected an id source with one of %s", list);
		return false;
	}
	const struct json_value *kv = km->value, *x;
	char cp[128], ip[140];
	int64_t t;
	bool ok = true;
	child(cp, sizeof(cp), path, kind);
	if (!strcmp(kind, "offset")) {
		static const char *const a[] = { "offset", "length", "endian", "mask", "base", "skip_lstring", NULL };
		static const char *const r[] = { "length", NULL };
		ok = check_keys(c, v, path, a, r);
		s->kind = SEMM_SRC_OFFSET;
		ok &= get_uint(c, kv, cp, 0, SEMM_MAX_OFFSET, &t);
		s->offset = (uint32_t)t;
		if ((x = json_get(v, "length"))) {
			child(cp, sizeof(cp), path, "length");
			ok &= get_uint(c, x, cp, 1, SEM_ID_MAX, &t);
			s->length = (uint16_t)t;
		}
		s->big_endian = true;
		if ((x = json_get(v, "endian"))) {
			static const char *const ew[] = { "big", "little", NULL };
			child(cp, sizeof(cp), path, "endian");
			int e = get_enum(c, x, cp, ew);
			ok &= e >= 0;
			s->big_endian = e != 1;
		}
		if ((x = json_get(v, "mask"))) {
			size_t n = 0;
			child(cp, sizeof(cp), path, "mask");
			if (get_hex(c, x, cp, s->mask, sizeof(s->mask), &n)) {
				if (n != s->length) {
					diag(c, x->pos, cp, "mask has %zu bytes but length is %u", n, s->length);
					ok = false;
				}
				s->has_mask = true;
			} else {
				ok = false;
			}
		}
		if ((x = json_get(v, "skip_lstring"))) {
			child(cp, sizeof(cp), path, "skip_lstring");
			ok &= get_bool(c, x, cp, &s->skip_lstring);
		}
	} else if (!strcmp(kind, "lstring") || !strcmp(kind, "cstring")) {
		bool ls = kind[0] == 'l';
		static const char *const la[] = { "lstring", "width", "base", "max", NULL };
		static const char *const ca[] = { "cstring", "base", "max", NULL };
		ok = check_keys(c, v, path, ls ? la : ca, NULL);
		s->kind = ls ? SEMM_SRC_LSTRING : SEMM_SRC_CSTRING;
		ok &= get_uint(c, kv, cp, 0, SEMM_MAX_OFFSET, &t);
		s->offset = (uint32_t)t;
		s->length = 2;
		s->big_endian = true;
		if ((x = json_get(v, "width"))) {
			child(cp, sizeof(cp), path, "width");
			ok &= get_uint(c, x, cp, 1, 4, &t);
			s->length = (uint16_t)t;
		}
	} else if (!strcmp(kind, "after")) {
		static const char *const a[] = { "after", "until", "max", "nocase", NULL };
		ok = check_keys(c, v, path, a, NULL);
		s->kind = SEMM_SRC_AFTER;
		ok &= get_lit(c, kv, cp, &s->lit, false);
		s->until = (struct semm_lit){ .len = 1, .s = " " };
		if ((x = json_get(v, "until"))) {
			child(cp, sizeof(cp), path, "until");
			ok &= get_lit(c, x, cp, &s->until, false);
		}
		if ((x = json_get(v, "nocase"))) {
			child(cp, sizeof(cp), path, "nocase");
			ok &= get_bool(c, x, cp, &s->lit.nocase);
		}
	} else if (!strcmp(kind, "header")) {
		static const char *const a[] = { "header", "max", NULL };
		ok = check_keys(c, v, path, a, NULL);
		s->kind = SEMM_SRC_HEADER;
		ok &= get_lit(c, kv, cp, &s->lit, false);
		for (size_t i = 0; i < s->lit.len; i++)
			if (s->lit.s[i] == ':' || s->lit.s[i] == ' ') {
				diag(c, kv->pos, cp, "a header name has no ':' or spaces (write \"X-Request-Id\")");
				ok = false;
				break;
			}
	} else if (!strcmp(kind, "regex")) {
		static const char *const a[] = { "regex", "group", NULL };
		ok = check_keys(c, v, path, a, NULL);
		s->kind = SEMM_SRC_REGEX;
		s->group = 1;
		if ((x = json_get(v, "group"))) {
			child(ip, sizeof(ip), path, "group");
			ok &= get_uint(c, x, ip, 0, 99, &t);
			s->group = (uint32_t)t;
		}
		if (want(c, kv, JSON_STRING, cp)) {
			int err;
			PCRE2_SIZE eoff;
			s->re = pcre2_compile((PCRE2_SPTR)kv->u.string.s, kv->u.string.len, 0, &err, &eoff, NULL);
			if (!s->re) {
				PCRE2_UCHAR msg[160];
				pcre2_get_error_message(err, msg, sizeof(msg));
				diag(c, kv->pos, cp, "regex does not compile at offset %zu: %s", (size_t)eoff, (char *)msg);
				ok = false;
			} else {
				/* JIT where the platform has it: a 3-10x faster match on the hot
				 * path; the interpreter is the fallback. */
				(void)pcre2_jit_compile(s->re, PCRE2_JIT_COMPLETE);
				uint32_t ncap = 0;
				pcre2_pattern_info(s->re, PCRE2_INFO_CAPTURECOUNT, &ncap);
				if (s->group > ncap) {
					diag(c, kv->pos, cp, "capture group %u does not exist (the regex has %u)", s->group, ncap);
					ok = false;
				}
				s->md = pcre2_match_data_create_from_pattern(s->re, NULL);
			}
		} else {
			ok = false;
		}
	} else if (!strcmp(kind, "same_as")) {
		static const char *const a[] = { "same_as", NULL };
		ok = check_keys(c, v, path, a, NULL);
		s->kind = SEMM_SRC_SAME_AS;
		int e = get_enum(c, kv, cp, slot_words);
		ok &= e >= 0;
		s->same_as = (uint8_t)(e < 0 ? 0 : e);
	} else if (!strcmp(kind, "concat")) {
		static const char *const a[] = { "concat", "separator", NULL };
		ok = check_keys(c, v, path, a, NULL);
		s->kind = SEMM_SRC_CONCAT;
		if ((x = json_get(v, "separator"))) {
			child(ip, sizeof(ip), path, "separator");
			ok &= get_lit(c, x, ip, &s->sep, true);
		}
		if (depth > 2) {
			diag(c, kv->pos, cp, "concatenations nest at most 2 deep");
			return false;
		}
		if (want(c, kv, JSON_ARRAY, cp)) {
			if (kv->u.array.n < 2 || kv->u.array.n > SEMM_MAX_PARTS) {
				diag(c, kv->pos, cp, "expected 2 to %d parts", SEMM_MAX_PARTS);
				return false;
			}
			s->parts = calloc(kv->u.array.n, sizeof(*s->parts));
			if (!s->parts)
				return false;
			s->n_parts = (uint8_t)kv->u.array.n;
			for (size_t i = 0; i < kv->u.array.n; i++) {
				index_path(ip, sizeof(ip), cp, i);
				ok &= parse_src(c, kv->u.array.items[i], ip, &s->parts[i], depth + 1);
				if (s->parts[i].kind == SEMM_SRC_SAME_AS) {
					diag(c, kv->u.array.items[i]->pos, ip, "same_as cannot be part of a concatenation");
					ok = false;
				}
			}
		} else {
			ok = false;
		}
	} else if (!strcmp(kind, "function")) {
		static const char *const a[] = { "function", "plugin", "arg", NULL };
		static const char *const r[] = { "plugin", NULL };
		ok = check_keys(c, v, path, a, r);
		s->kind = SEMM_SRC_FUNCTION;
		const struct json_value *pl = json_get(v, "plugin"), *arg = json_get(v, "arg");
		ok &= want(c, kv, JSON_STRING, cp);
		if (pl) {
			child(ip, sizeof(ip), path, "plugin");
			ok &= want(c, pl, JSON_STRING, ip);
		}
		if (arg) {
			child(ip, sizeof(ip), path, "arg");
			ok &= want(c, arg, JSON_STRING, ip);
		}
		if (ok)
			ok = load_plugin_fn(c, pl, path, pl->u.string.s, kv->u.string.s, arg ? arg->u.string.s : NULL, s);
	} else { /* none */
		static const char *const a[] = { "none", NULL };
		ok = check_keys(c, v, path, a, NULL);
		s->kind = SEMM_SRC_NONE;
		bool b = false;
		if (get_bool(c, kv, cp, &b) && !b) {
			diag(c, kv->pos, cp, "write \"none\": true (or leave the id out)");
			ok = false;
		}
	}
	if ((x = json_get(v, "base"))) {
		static const char *const bw[] = { "start", "body", NULL };
		child(cp, sizeof(cp), path, "base");
		int e = get_enum(c, x, cp, bw);
		ok &= e >= 0;
		s->from_body = e == 1;
	}
	if ((x = json_get(v, "max")) && s->kind != SEMM_SRC_OFFSET) {
		child(cp, sizeof(cp), path, "max");
		ok &= get_uint(c, x, cp, 1, SEM_ID_MAX, &t);
		s->max = (uint16_t)t;
	}
	return ok;
}

void semm_src_free(struct semm_src *s)
{
	if (s->md)
		pcre2_match_data_free(s->md);
	if (s->re)
		pcre2_code_free(s->re);
	for (size_t i = 0; i < s->n_parts; i++)
		semm_src_free(&s->parts[i]);
	free(s->parts);
	memset(s, 0, sizeof(*s));
}

/* ---- plugins ------------------------------------------------------------------ */

static bool plugins_allowed = true;

void sem_allow_plugins(bool allow)
{
	plugins_allowed = allow;
}

static bool try_open(const char *path, void **h)
{
	if (access(path, R_OK) != 0)
		return false;
	*h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	return true;
}

static bool load_plugin_fn(struct ctx *c, const struct json_value *v, const char *path,
			   const char *plugin, const char *fname, const char *arg, struct semm_src *s)
{
	char cp[128];
	child(cp, sizeof(cp), path, "plugin");
	if (!plugins_allowed) {
		diag(c, v->pos, cp, "plugins are disabled");
		return false;
	}
	char full[256] = "";
	void *h = NULL;
	bool found = false;
	if (strchr(plugin, '/')) {
		int w = plugin[0] != '/' && c->dir[0] ? snprintf(full, sizeof(full), "%s/%s", c->dir, plugin)
						      : snprintf(full, sizeof(full), "%s", plugin);
		if (w >= (int)sizeof(full))
			full[0] = '\0';
		found = try_open(full, &h);
	} else {
		const char *env = getenv("INSITU_PLUGIN_PATH");
		char dirs[1024] = "";
		char exe[PATH_MAX];
		ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		if (n > 0) {
			exe[n] = '\0';
			char *sl = strrchr(exe, '/');
			if (sl)
				*sl = '\0';
		} else {
			exe[0] = '\0';
		}
		snprintf(dirs, sizeof(dirs), "%s%s%s:%s/plugins", env ? env : "", env ? ":" : "", c->dir, exe);
		for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
			if (!*d)
				continue;
			if (snprintf(full, sizeof(full), "%s/%s", d, plugin) < (int)sizeof(full))
				found = try_open(full, &h);
		}
	}
	if (!found) {
		diag(c, v->pos, cp, "plugin \"%s\" not found (searched $INSITU_PLUGIN_PATH, the file's directory, "
				    "<program dir>/plugins)", plugin);
		return false;
	}
	if (!h) {
		diag(c, v->pos, cp, "plugin \"%s\" cannot be loaded: %s", plugin, dlerror());
		return false;
	}
	const struct insitu_idfunc_plugin *desc = dlsym(h, INSITU_IDFUNC_SYMBOL);
	if (!desc) {
		diag(c, v->pos, cp, "plugin \"%s\" does not export \"%s\" (see include/insitu/idfunc.h)", plugin,
		     INSITU_IDFUNC_SYMBOL);
		dlclose(h);
		return false;
	}
	if (desc->abi_version != INSITU_IDFUNC_ABI_VERSION) {
		diag(c, v->pos, cp, "plugin \"%s\" has ABI version %u; this insitu supports %u", plugin,
		     desc->abi_version, INSITU_IDFUNC_ABI_VERSION);
		dlclose(h);
		return false;
	}
	const struct insitu_idfunc *fn = NULL;
	char names[200] = "";
	size_t o = 0;
	for (uint32_t i = 0; i < desc->n_funcs; i++) {
		if (desc->funcs[i].name && !strcmp(desc->funcs[i].name, fname))
			fn = &desc->funcs[i];
		if (o < sizeof(names))
			o += (size_t)snprintf(names + o, sizeof(names) - o, "%s\"%s\"", i ? ", " : "",
					      desc->funcs[i].name ? desc->funcs[i].name : "?");
	}
	if (!fn || !fn->fn) {
		char fp[128];
		child(fp, sizeof(fp), path, "function");
		diag(c, v->pos, fp, "plugin \"%s\" has no function \"%s\" (it has %s)", plugin, fname, names);
		dlclose(h);
		return false;
	}
	/* keep one handle per loaded set (dlopen refcounts repeated opens) */
	struct semm_plugin *pl = calloc(1, sizeof(*pl));
	if (!pl) {
		dlclose(h);
		return false;
	}
	snprintf(pl->path, sizeof(pl->path), "%s", full);
	pl->handle = h;
	pl->desc = desc;
	pl->next = c->set->plugins;
	c->set->plugins = pl;
	s->fn = fn->fn;
	s->fn_state = fn->init ? fn->init(arg) : NULL;
	const char *base = strrchr(full, '/');
	if (!strcmp(base ? base + 1 : full, "insitu-dns.so") && !strcmp(fname, "dns_question")) {
		s->kfn = SEMM_KFN_DNS_QUESTION;
		s->kfn_base = arg && !strcmp(arg, "tcp") ? 2 : 0;
	}
	return true;
}

/* ---- outcome ------------------------------------------------------------------- */

static const char *const status_words[] = { "invalid", "na", "healthy", "pending", "maybe_unhealthy",
					    "unhealthy", "dying", "dead", NULL };

static bool parse_status_score(struct ctx *c, const struct json_value *v, const char *path, uint8_t *st,
			       float *score)
{
	char cp[128];
	bool ok = true;
	const struct json_value *x;
	if ((x = json_get(v, "status"))) {
		child(cp, sizeof(cp), path, "status");
		int e = get_enum(c, x, cp, status_words);
		if (e <= 0) {
			if (e == 0)
				diag(c, x->pos, cp, "\"invalid\" is not a status an outcome can have");
			ok = false;
		}
		*st = (uint8_t)(e < 0 ? 0 : e);
	}
	if ((x = json_get(v, "score"))) {
		child(cp, sizeof(cp), path, "score");
		if (want(c, x, JSON_NUMBER, cp)) {
			if (x->u.number.num < 0 || x->u.number.num > 100) {
				diag(c, x->pos, cp, "expected a score from 0 to 100");
				ok = false;
			}
			*score = (float)x->u.number.num;
		} else {
			ok = false;
		}
	}
	return ok;
}

static bool parse_outcome(struct ctx *c, const struct json_value *v, const char *path, struct semm_outcome *o)
{
	static const char *const a[] = { "value", "numeric", "rules", "default", NULL };
	static const char *const r[] = { "value", "rules", NULL };
	if (!want(c, v, JSON_OBJECT, path))
		return false;
	bool ok = check_keys(c, v, path, a, r);
	char cp[128], ip[140], kp[160];
	const struct json_value *x;
	o->present = true;
	if ((x = json_get(v, "value"))) {
		child(cp, sizeof(cp), path, "value");
		ok &= parse_src(c, x, cp, &o->value, 0);
		if (o->value.kind == SEMM_SRC_SAME_AS || o->value.kind == SEMM_SRC_NONE) {
			diag(c, x->pos, cp, "an outcome value must read the message (not same_as/none)");
			ok = false;
		}
	}
	if ((x = json_get(v, "numeric"))) {
		child(cp, sizeof(cp), path, "numeric");
		ok &= get_bool(c, x, cp, &o->numeric);
	}
	if ((x = json_get(v, "rules"))) {
		child(cp, sizeof(cp), path, "rules");
		if (want(c, x, JSON_ARRAY, cp)) {
			if (x->u.array.n > SEMM_MAX_RULES) {
				diag(c, x->pos, cp, "at most %d rules", SEMM_MAX_RULES);
				ok = false;
			}
			for (size_t i = 0; i < x->u.array.n && i < SEMM_MAX_RULES; i++) {
				static const char *const ra[] = { "equals", "prefix", "range", "status", "score", NULL };
				static const char *const rr[] = { "status", "score", NULL };
				const struct json_value *b = x->u.array.items[i], *y;
				index_path(ip, sizeof(ip), cp, i);
				if (!want(c, b, JSON_OBJECT, ip) || !check_keys(c, b, ip, ra, rr)) {
					ok = false;
					continue;
				}
				struct semm_rule *rule = &o->rules[o->n_rules++];
				int kinds = !!json_get(b, "equals") + !!json_get(b, "prefix") + !!json_get(b, "range");
				if (kinds != 1) {
					diag(c, b->pos, ip, "expected exactly one of \"equals\", \"prefix\", \"range\"");
					ok = false;
					continue;
				}
				if ((y = json_get(b, "equals"))) {
					child(kp, sizeof(kp), ip, "equals");
					rule->cmp = SEMM_CMP_EQUALS;
					if (y->type == JSON_NUMBER && y->u.number.is_int) {
						rule->cmp = SEMM_CMP_RANGE;
						rule->lo = rule->hi = y->u.number.i;
						if (!o->numeric) {
							diag(c, y->pos, kp, "a number needs \"numeric\": true (else compare text)");
							ok = false;
						}
					} else {
						ok &= get_lit(c, y, kp, &rule->text, true);
					}
				} else if ((y = json_get(b, "prefix"))) {
					child(kp, sizeof(kp), ip, "prefix");
					rule->cmp = SEMM_CMP_PREFIX;
					ok &= get_lit(c, y, kp, &rule->text, false);
				} else if ((y = json_get(b, "range"))) {
					child(kp, sizeof(kp), ip, "range");
					rule->cmp = SEMM_CMP_RANGE;
					if (!o->numeric) {
						diag(c, y->pos, kp, "\"range\" needs \"numeric\": true");
						ok = false;
					}
					if (want(c, y, JSON_ARRAY, kp)) {
						if (y->u.array.n != 2) {
							diag(c, y->pos, kp, "expected [low, high]");
							ok = false;
						} else {
							char ep[170];
							index_path(ep, sizeof(ep), kp, 0);
							ok &= get_uint(c, y->u.array.items[0], ep, INT32_MIN, INT32_MAX, &rule->lo);
							index_path(ep, sizeof(ep), kp, 1);
							ok &= get_uint(c, y->u.array.items[1], ep, INT32_MIN, INT32_MAX, &rule->hi);
							if (rule->lo > rule->hi) {
								diag(c, y->pos, kp, "low end %lld is above high end %lld",
								     (long long)rule->lo, (long long)rule->hi);
								ok = false;
							}
						}
					} else {
						ok = false;
					}
				}
				ok &= parse_status_score(c, b, ip, &rule->status, &rule->score);
			}
		} else {
			ok = false;
		}
	}
	if ((x = json_get(v, "default"))) {
		static const char *const da[] = { "status", "score", NULL };
		child(cp, sizeof(cp), path, "default");
		if (want(c, x, JSON_OBJECT, cp) && check_keys(c, x, cp, da, da)) {
			o->has_default = true;
			ok &= parse_status_score(c, x, cp, &o->def_status, &o->def_score);
		} else {
			ok = false;
		}
	}
	return ok;
}

/* ---- message types -------------------------------------------------------------- */

static const char *const role_words[] = { "unknown", "request", "response", "oneway", NULL };

static bool parse_ids(struct ctx *c, const struct json_value *v, const char *path, struct semm_type *t)
{
	static const char *const a[] = { "link_id", "follow_ids", "query_id", "response_id", NULL };
	if (!want(c, v, JSON_OBJECT, path))
		return false;
	bool ok = check_keys(c, v, path, a, NULL);
	char cp[128], ip[140];
	const struct json_value *x;
	for (int slot = 0; slot < 3; slot++) {
		if (!(x = json_get(v, slot_words[slot])))
			continue;
		child(cp, sizeof(cp), path, slot_words[slot]);
		ok &= parse_src(c, x, cp, &t->ids[slot], 0);
		if (t->ids[slot].kind == SEMM_SRC_SAME_AS) {
			if (t->ids[slot].same_as == slot) {
				diag(c, x->pos, cp, "an id cannot be the same as itself");
				ok = false;
			} else if (!json_get(v, slot_words[t->ids[slot].same_as])) {
				diag(c, x->pos, cp, "same_as \"%s\", which this message type does not define",
				     slot_words[t->ids[slot].same_as]);
				ok = false;
			} else if (t->ids[slot].same_as > slot &&
				   t->ids[t->ids[slot].same_as].kind == SEMM_SRC_SAME_AS) {
				diag(c, x->pos, cp, "same_as chains are not allowed: refer to the id itself");
				ok = false;
			}
		}
	}
	if ((x = json_get(v, "follow_ids"))) {
		child(cp, sizeof(cp), path, "follow_ids");
		if (want(c, x, JSON_ARRAY, cp)) {
			if (x->u.array.n > SEM_MAX_FOLLOW) {
				diag(c, x->pos, cp, "at most %d follow ids", SEM_MAX_FOLLOW);
				ok = false;
			}
			for (size_t i = 0; i < x->u.array.n && i < SEM_MAX_FOLLOW; i++) {
				index_path(ip, sizeof(ip), cp, i);
				struct semm_src *s = &t->ids[SEMM_ID_FOLLOW0 + i];
				ok &= parse_src(c, x->u.array.items[i], ip, s, 0);
				if (s->kind == SEMM_SRC_SAME_AS && !json_get(v, slot_words[s->same_as])) {
					diag(c, x->u.array.items[i]->pos, ip,
					     "same_as \"%s\", which this message type does not define", slot_words[s->same_as]);
					ok = false;
				}
				t->n_follow++;
			}
		} else {
			ok = false;
		}
	}
	return ok;
}

static bool parse_type(struct ctx *c, const struct json_value *v, const char *path, struct semm_type *t)
{
	static const char *const a[] = { "name", "role", "signature", "fallback", "ids", "outcome", "label",
					 "description", NULL };
	static const char *const r[] = { "name", "role", "signature", NULL };
	if (!want(c, v, JSON_OBJECT, path))
		return false;
	bool ok = check_keys(c, v, path, a, r);
	char cp[128];
	const struct json_value *x;
	if ((x = json_get(v, "name"))) {
		child(cp, sizeof(cp), path, "name");
		if (want(c, x, JSON_STRING, cp)) {
			if (x->u.string.len == 0 || x->u.string.len >= SEM_NAME_MAX) {
				diag(c, x->pos, cp, "expected a name of 1 to %d bytes", SEM_NAME_MAX - 1);
				ok = false;
			}
			snprintf(t->name, sizeof(t->name), "%s", x->u.string.s);
		} else {
			ok = false;
		}
	}
	if ((x = json_get(v, "role"))) {
		child(cp, sizeof(cp), path, "role");
		int e = get_enum(c, x, cp, role_words);
		ok &= e >= 0;
		t->role = (uint8_t)(e < 0 ? 0 : e);
	}
	if ((x = json_get(v, "fallback"))) {
		child(cp, sizeof(cp), path, "fallback");
		ok &= get_bool(c, x, cp, &t->fallback);
	}
	if ((x = json_get(v, "description"))) {
		child(cp, sizeof(cp), path, "description");
		ok &= want(c, x, JSON_STRING, cp);
	}
	if ((x = json_get(v, "signature"))) {
		child(cp, sizeof(cp), path, "signature");
		ok &= parse_signature(c, x, cp, &t->sig, true, &t->dir);
	}
	if ((x = json_get(v, "ids"))) {
		child(cp, sizeof(cp), path, "ids");
		ok &= parse_ids(c, x, cp, t);
	}
	if ((x = json_get(v, "outcome"))) {
		child(cp, sizeof(cp), path, "outcome");
		ok &= parse_outcome(c, x, cp, &t->outcome);
	}
	if ((x = json_get(v, "label"))) {
		child(cp, sizeof(cp), path, "label");
		ok &= parse_src(c, x, cp, &t->label, 0);
		t->has_label = true;
	}
	return ok;
}

/* Could one message match both signatures?  Each signature is a conjunction of
 * byte constraints (its predicates) and one of its prefixes; two overlap when some
 * choice of prefixes gives constraints that agree on every byte they share.
 * Negated predicates are ignored (they only make overlap less likely). */
static bool constraints_agree(const struct semm_signature *a, const struct semm_lit *pa,
			      const struct semm_signature *b, const struct semm_lit *pb)
{
	/* bytes: offset -> (mask, value); at most prefix + predicates */
	uint8_t va[SEMM_LIT_MAX + SEMM_MAX_PREDS * SEMM_PRED_BYTES], ma[sizeof(va)];
	uint8_t vb[sizeof(va)], mb[sizeof(va)];
	uint16_t oa[sizeof(va)], ob[sizeof(va)];
	size_t na = 0, nb = 0;
	if (pa && !pa->nocase)
		for (size_t i = 0; i < pa->len; i++, na++)
			oa[na] = (uint16_t)i, va[na] = (uint8_t)pa->s[i], ma[na] = 0xff;
	for (size_t k = 0; k < a->n_pred; k++)
		if (!a->pred[k].negate)
			for (size_t i = 0; i < a->pred[k].len; i++, na++)
				oa[na] = (uint16_t)(a->pred[k].offset + i), va[na] = a->pred[k].value[i],
				ma[na] = a->pred[k].mask[i];
	if (pb && !pb->nocase)
		for (size_t i = 0; i < pb->len; i++, nb++)
			ob[nb] = (uint16_t)i, vb[nb] = (uint8_t)pb->s[i], mb[nb] = 0xff;
	for (size_t k = 0; k < b->n_pred; k++)
		if (!b->pred[k].negate)
			for (size_t i = 0; i < b->pred[k].len; i++, nb++)
				ob[nb] = (uint16_t)(b->pred[k].offset + i), vb[nb] = b->pred[k].value[i],
				mb[nb] = b->pred[k].mask[i];
	for (size_t i = 0; i < na; i++)
		for (size_t j = 0; j < nb; j++)
			if (oa[i] == ob[j]) {
				uint8_t m = ma[i] & mb[j];
				if ((va[i] & m) != (vb[j] & m))
					return false;
			}
	/* the same within a message, too: a's own constraints are consistent (assumed) */
	return true;
}

/* "contains" literals are taken to separate two types when neither type's
 * literals include the other's (a documented approximation: a message could
 * contain both, but then the first type listed wins). */
static bool contains_separate(const struct semm_signature *a, const struct semm_signature *b)
{
	if (!a->n_contains || !b->n_contains)
		return false;
	for (size_t i = 0; i < a->n_contains; i++)
		for (size_t j = 0; j < b->n_contains; j++)
			if (a->contains[i].len == b->contains[j].len &&
			    !memcmp(a->contains[i].s, b->contains[j].s, a->contains[i].len))
				return false;
	return true;
}

/* A negated predicate of one type that is exactly a positive predicate of the
 * other separates them ("publish, but not QoS 0" vs "publish QoS 0"). */
static bool negation_separates(const struct semm_signature *a, const struct semm_signature *b)
{
	for (size_t i = 0; i < a->n_pred; i++) {
		const struct semm_pred *n = &a->pred[i];
		if (!n->negate)
			continue;
		for (size_t j = 0; j < b->n_pred; j++) {
			const struct semm_pred *q = &b->pred[j];
			if (!q->negate && q->offset == n->offset && q->len == n->len &&
			    !memcmp(q->mask, n->mask, n->len) && !memcmp(q->value, n->value, n->len))
				return true;
		}
	}
	return false;
}

static bool signatures_overlap(const struct semm_signature *a, const struct semm_signature *b)
{
	if (contains_separate(a, b) || negation_separates(a, b) || negation_separates(b, a))
		return false;
	size_t npa = a->n_prefix ? a->n_prefix : 1, npb = b->n_prefix ? b->n_prefix : 1;
	for (size_t i = 0; i < npa; i++)
		for (size_t j = 0; j < npb; j++)
			if (constraints_agree(a, a->n_prefix ? &a->prefix[i] : NULL, b,
					      b->n_prefix ? &b->prefix[j] : NULL))
				return true;
	return false;
}

/* ---- a whole file ---------------------------------------------------------------- */

static const struct json_value *find_type_value(const struct json_value *msgs, size_t i)
{
	return msgs && msgs->type == JSON_ARRAY && i < msgs->u.array.n ? msgs->u.array.items[i] : NULL;
}

static struct sem_protocol *parse_protocol(struct ctx *c, const struct json_value *root)
{
	static const char *const a[] = { "$schema", "name", "description", "version", "transport", "ports",
					 "detect", "framing", "messages", NULL };
	static const char *const r[] = { "name", "transport", "ports", "framing", "messages", NULL };
	const char *path = "$";
	if (!want(c, root, JSON_OBJECT, path))
		return NULL;
	struct sem_protocol *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	snprintf(p->file, sizeof(p->file), "%s", c->file);
	bool ok = check_keys(c, root, path, a, r);
	const struct json_value *x;
	int64_t t;
	if ((x = json_get(root, "name"))) {
		if (want(c, x, JSON_STRING, "$.name")) {
			bool good = x->u.string.len > 0 && x->u.string.len < SEM_NAME_MAX;
			for (size_t i = 0; i < x->u.string.len; i++)
				if (!isalnum((unsigned char)x->u.string.s[i]) && !strchr("-_.", x->u.string.s[i]))
					good = false;
			if (!good) {
				diag(c, x->pos, "$.name", "expected 1 to %d letters, digits, '-', '_' or '.'", SEM_NAME_MAX - 1);
				ok = false;
			}
			snprintf(p->name, sizeof(p->name), "%s", x->u.string.s);
		} else {
			ok = false;
		}
	}
	if ((x = json_get(root, "version")) && get_uint(c, x, "$.version", 1, 1, &t) == false)
		ok = false;
	if ((x = json_get(root, "description")))
		ok &= want(c, x, JSON_STRING, "$.description");
	if ((x = json_get(root, "transport"))) {
		static const char *const tw[] = { "tcp", "udp", NULL };
		int e = get_enum(c, x, "$.transport", tw);
		ok &= e >= 0;
		p->transport = e == 1 ? IPPROTO_UDP : IPPROTO_TCP;
	}
	if ((x = json_get(root, "ports"))) {
		if (want(c, x, JSON_ARRAY, "$.ports")) {
			if (x->u.array.n == 0 || x->u.array.n > SEMM_MAX_PORTS) {
				diag(c, x->pos, "$.ports", "expected 1 to %d ports", SEMM_MAX_PORTS);
				ok = false;
			}
			for (size_t i = 0; i < x->u.array.n && i < SEMM_MAX_PORTS; i++) {
				char ip[64];
				index_path(ip, sizeof(ip), "$.ports", i);
				if (get_uint(c, x->u.array.items[i], ip, 1, 65535, &t))
					p->ports[p->n_ports++] = (uint16_t)t;
				else
					ok = false;
			}
		} else {
			ok = false;
		}
	}
	if ((x = json_get(root, "detect"))) {
		p->has_detect = true;
		ok &= parse_signature(c, x, "$.detect", &p->detect, true, &p->detect_dir);
	}
	if ((x = json_get(root, "framing"))) {
		if (x->type == JSON_OBJECT && (json_get(x, "to_server") || json_get(x, "from_server"))) {
			static const char *const fa[] = { "to_server", "from_server", NULL };
			if (check_keys(c, x, "$.framing", fa, fa)) {
				ok &= parse_framing(c, json_get(x, "to_server"), "$.framing.to_server", &p->framing[0]);
				ok &= parse_framing(c, json_get(x, "from_server"), "$.framing.from_server", &p->framing[1]);
			} else {
				ok = false;
			}
		} else if (parse_framing(c, x, "$.framing", &p->framing[0])) {
			p->framing[1] = p->framing[0];
		} else {
			ok = false;
		}
		for (int d = 0; d < 2 && ok; d++) {
			bool dgram = p->framing[d].kind == SEMM_FR_DATAGRAM;
			if (dgram != (p->transport == IPPROTO_UDP)) {
				diag(c, x->pos, "$.framing", dgram ? "\"datagram\" framing needs transport \"udp\""
								  : "transport \"udp\" needs \"datagram\" framing");
				ok = false;
			}
		}
	}
	const struct json_value *msgs = json_get(root, "messages");
	if (msgs) {
		if (want(c, msgs, JSON_ARRAY, "$.messages")) {
			if (msgs->u.array.n == 0 || msgs->u.array.n > SEMM_MAX_TYPES) {
				diag(c, msgs->pos, "$.messages", "expected 1 to %d message types", SEMM_MAX_TYPES);
				ok = false;
			}
			for (size_t i = 0; i < msgs->u.array.n && i < SEMM_MAX_TYPES; i++) {
				char ip[64];
				index_path(ip, sizeof(ip), "$.messages", i);
				ok &= parse_type(c, msgs->u.array.items[i], ip, &p->types[p->n_types++]);
			}
		} else {
			ok = false;
		}
	}
	/* whole-file checks, only meaningful when the parts parsed */
	if (ok) {
		for (size_t i = 0; i < p->n_types; i++)
			for (size_t j = 0; j < i; j++) {
				const struct semm_type *ti = &p->types[i], *tj = &p->types[j];
				char ip[64];
				index_path(ip, sizeof(ip), "$.messages", i);
				const struct json_value *vi = find_type_value(msgs, i);
				if (!strcmp(ti->name, tj->name)) {
					diag(c, json_get(vi, "name")->pos, ip, "duplicate message type name \"%s\" (also $.messages[%zu])",
					     ti->name, j);
					ok = false;
					continue;
				}
				if (ti->dir != tj->dir || ti->fallback || tj->fallback)
					continue;
				if (signatures_overlap(&ti->sig, &tj->sig)) {
					char sp[80];
					child(sp, sizeof(sp), ip, "signature");
					diag(c, json_get(vi, "signature")->pos, sp,
					     "signature overlaps with $.messages[%zu] (\"%s\"): one message could match both; "
					     "add a distinguishing prefix or byte predicate, or mark one \"fallback\"",
					     j, tj->name);
					ok = false;
				}
			}
		for (int d = 0; d < 2; d++) {
			int nfb = 0;
			for (size_t i = 0; i < p->n_types; i++)
				if (p->types[i].fallback && p->types[i].dir == (enum sem_dir)d && ++nfb == 2) {
					char ip[64];
					index_path(ip, sizeof(ip), "$.messages", i);
					diag(c, json_get(find_type_value(msgs, i), "fallback")->pos, ip,
					     "a second \"fallback\" type for direction \"%s\"", dir_words[d]);
					ok = false;
				}
		}
	}
	if (!ok) {
		for (size_t i = 0; i < p->n_types; i++) {
			for (size_t k = 0; k < 3 + SEM_MAX_FOLLOW; k++)
				semm_src_free(&p->types[i].ids[k]);
			semm_src_free(&p->types[i].outcome.value);
			semm_src_free(&p->types[i].label);
		}
		free(p);
		return NULL;
	}
	return p;
}

static void free_protocol(struct sem_protocol *p)
{
	for (size_t i = 0; i < p->n_types; i++) {
		for (size_t k = 0; k < 3 + SEM_MAX_FOLLOW; k++)
			semm_src_free(&p->types[i].ids[k]);
		semm_src_free(&p->types[i].outcome.value);
		semm_src_free(&p->types[i].label);
	}
	free(p);
}

void sem_free(struct sem_set *set)
{
	if (!set)
		return;
	for (size_t i = 0; i < set->n; i++)
		free_protocol(set->protos[i]);
	free(set->protos);
	struct semm_plugin *pl = set->plugins;
	while (pl) {
		struct semm_plugin *next = pl->next;
		dlclose(pl->handle);
		free(pl);
		pl = next;
	}
	free(set);
}

static bool add_buffer(struct sem_set *set, const char *name, const char *text, size_t len,
		       struct sem_diags *diags, unsigned *errors)
{
	struct ctx c = { .file = name, .d = diags, .set = set };
	const char *sl = strrchr(name, '/');
	if (!sl)
		snprintf(c.dir, sizeof(c.dir), ".");
	else if (snprintf(c.dir, sizeof(c.dir), "%.*s", (int)(sl - name), name) >= (int)sizeof(c.dir))
		c.dir[0] = '\0';
	struct json_error je;
	struct json_value *root = json_parse(text, len, &je);
	if (!root) {
		diag(&c, je.pos, "", "malformed JSON: %s", je.msg);
		*errors += c.errors;
		return false;
	}
	struct sem_protocol *p = parse_protocol(&c, root);
	if (p) {
		/* protocols sharing a port must tell themselves apart */
		for (size_t i = 0; i < set->n; i++) {
			const struct sem_protocol *q = set->protos[i];
			if (q->transport != p->transport)
				continue;
			if (!strcmp(q->name, p->name)) {
				diag(&c, json_get(root, "name")->pos, "$.name", "protocol \"%s\" is already defined in %s",
				     p->name, q->file);
				goto clash;
			}
			for (size_t a = 0; a < p->n_ports; a++)
				for (size_t b = 0; b < q->n_ports; b++)
					if (p->ports[a] == q->ports[b] && (!p->has_detect || !q->has_detect)) {
						diag(&c, json_get(root, "ports")->pos, "$.ports",
						     "port %u/%s is also claimed by \"%s\" (%s); give both a \"detect\" signature",
						     p->ports[a], p->transport == IPPROTO_UDP ? "udp" : "tcp", q->name, q->file);
						goto clash;
					}
		}
		struct sem_protocol **np = realloc(set->protos, (set->n + 1) * sizeof(*np));
		if (!np)
			goto clash;
		set->protos = np;
		set->protos[set->n++] = p;
		p = NULL;
	clash:
		if (p)
			free_protocol(p);
	}
	json_free(root);
	*errors += c.errors;
	return c.errors == 0;
}

struct sem_set *sem_load_buffer(const char *name, const char *text, size_t len, struct sem_diags *diags)
{
	if (diags)
		diags->n = diags->dropped = 0;
	struct sem_set *set = calloc(1, sizeof(*set));
	if (!set)
		return NULL;
	unsigned errors = 0;
	add_buffer(set, name, text, len, diags, &errors);
	if (errors) {
		sem_free(set);
		return NULL;
	}
	return set;
}

struct sem_set *sem_load(const char *const *paths, size_t n, struct sem_diags *diags)
{
	if (diags)
		diags->n = diags->dropped = 0;
	struct sem_set *set = calloc(1, sizeof(*set));
	if (!set)
		return NULL;
	unsigned errors = 0;
	for (size_t i = 0; i < n; i++) {
		struct ctx c = { .file = paths[i], .d = diags };
		size_t len;
		char *buf = read_file_max(paths[i], MAX_FILE_BYTES, &len);
		if (!buf) {
			if (errno == EFBIG)
				diag(&c, (struct json_pos){ 0, 0 }, "", "larger than %d bytes", MAX_FILE_BYTES);
			else
				diag(&c, (struct json_pos){ 0, 0 }, "", "cannot open: %s", strerror(errno));
			errors++;
			continue;
		}
		add_buffer(set, paths[i], buf, len, diags, &errors);
		free(buf);
	}
	if (errors) {
		sem_free(set);
		return NULL;
	}
	return set;
}

struct sem_set *sem_load_list(const char *list, struct sem_diags *diags)
{
	const char *files[SEM_LIST_MAX];
	size_t nf = 0;
	char *copy = strdup(list);

	if (!copy)
		return NULL;
	for (char *save = NULL, *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (nf == SEM_LIST_MAX) {
			if (diags)
				diags->n = diags->dropped = 0;
			struct ctx c = { .file = t, .d = diags };
			diag(&c, (struct json_pos){ 0, 0 }, "", "more than %d files in the list", SEM_LIST_MAX);
			free(copy);
			return NULL;
		}
		files[nf++] = t;
	}
	struct sem_set *set = sem_load(files, nf, diags);
	free(copy);
	return set;
}

size_t sem_protocol_count(const struct sem_set *set)
{
	return set->n;
}

const struct sem_protocol *sem_protocol_at(const struct sem_set *set, size_t i)
{
	return i < set->n ? set->protos[i] : NULL;
}

const char *sem_protocol_name(const struct sem_protocol *p)
{
	return p->name;
}

int sem_protocol_transport(const struct sem_protocol *p)
{
	return p->transport;
}

size_t sem_protocol_ports(const struct sem_protocol *p, const uint16_t **ports)
{
	*ports = p->ports;
	return p->n_ports;
}

bool sem_is_server_port(const struct sem_set *set, int ipproto, uint16_t port)
{
	for (size_t i = 0; i < set->n; i++)
		if (set->protos[i]->transport == ipproto)
			for (size_t k = 0; k < set->protos[i]->n_ports; k++)
				if (set->protos[i]->ports[k] == port)
					return true;
	return false;
}

const struct sem_protocol *sem_lookup(const struct sem_set *set, int ipproto, uint16_t server_port,
				      enum sem_dir dir, const uint8_t *first, size_t n)
{
	const struct sem_protocol *undetected = NULL;
	for (size_t i = 0; i < set->n; i++) {
		const struct sem_protocol *p = set->protos[i];
		if (p->transport != ipproto)
			continue;
		bool port = false;
		for (size_t k = 0; k < p->n_ports; k++)
			port |= p->ports[k] == server_port;
		if (!port)
			continue;
		if (!p->has_detect)
			undetected = p;
		else if (p->detect_dir == dir && first && semm_sig_match(&p->detect, first, n))
			return p;
	}
	return undetected;
}
