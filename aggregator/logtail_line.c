/* Line parsing: one PCRE2 match per line, named groups become fields. */
#include "logtail_line.h"

#include <string.h>

bool lt_re_match(const pcre2_code *re, pcre2_match_data *md, bool jit, const int *cap_field, int ncap,
		 const char *s, size_t len, struct lt_fields *f)
{
	int rc = jit ? pcre2_jit_match(re, (PCRE2_SPTR)s, len, 0, 0, md, NULL)
		     : pcre2_match(re, (PCRE2_SPTR)s, len, 0, 0, md, NULL);
	/* JIT stack exhaustion or match limits count as "no match": a pathological line
	 * must not stop the observer. */
	if (rc <= 0)
		return false;
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
