/* Line parsing: one PCRE2 match per line, named groups become fields. */
#include "logtail_line.h"

#include <string.h>

/* Every match is bounded: a rules author's pattern that backtracks badly on some
 * line must cost that line, not the observer.  The limits turn into "no match",
 * counted in lt_regex_errors. */
#define LT_MATCH_LIMIT 1000000
#define LT_JIT_STACK_MAX (1024 * 1024)

static pcre2_match_context *mctx;
static pcre2_jit_stack *jit_stack;
static uint64_t regex_errors;

uint64_t lt_regex_errors(void)
{
	return regex_errors;
}

static pcre2_match_context *match_context(void)
{
	if (mctx)
		return mctx;
	mctx = pcre2_match_context_create(NULL);
	if (!mctx)
		return NULL;
	pcre2_set_match_limit(mctx, LT_MATCH_LIMIT);
	pcre2_set_depth_limit(mctx, LT_MATCH_LIMIT / 10);
	jit_stack = pcre2_jit_stack_create(32 * 1024, LT_JIT_STACK_MAX, NULL);
	if (jit_stack)
		pcre2_jit_stack_assign(mctx, NULL, jit_stack);
	return mctx;
}

bool lt_re_match(const pcre2_code *re, pcre2_match_data *md, bool jit, const int *cap_field, int ncap,
		 const char *s, size_t len, struct lt_fields *f)
{
	pcre2_match_context *ctx = match_context();
	int rc = jit ? pcre2_jit_match(re, (PCRE2_SPTR)s, len, 0, 0, md, ctx)
		     : pcre2_match(re, (PCRE2_SPTR)s, len, 0, 0, md, ctx);
	if (rc <= 0) {
		if (rc != PCRE2_ERROR_NOMATCH)
			regex_errors++;	/* match/depth limit, JIT stack: counted, not fatal */
		return false;
	}
	if (!cap_field)
		return true;
	PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
	for (int g = 1; g <= ncap; g++) {
		int fi = cap_field[g];
		if (fi < 0)
			continue;
		if (g >= rc || ov[2 * g] == PCRE2_UNSET) {
			/* an unset optional group leaves an earlier value alone only when
			 * it came from the line; from this match it is absent */
			continue;
		}
		f->v[fi] = s + ov[2 * g];
		f->len[fi] = ov[2 * g + 1] - ov[2 * g];
	}
	return true;
}

bool lt_line_parse(const struct lt_rules *r, const char *line, size_t len, struct lt_fields *f)
{
	memset(f->v, 0, sizeof(f->v[0]) * (size_t)r->nfields);
	return lt_re_match(r->line_re, r->line_md, r->jit, r->line_cap_field, r->line_ncap, line, len, f);
}
