/* Cutting one log line into named fields with the rules' line pattern.  Hot path:
 * no allocation; field values point into the caller's line buffer. */
#ifndef INSITU_LOGTAIL_LINE_H
#define INSITU_LOGTAIL_LINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "logtail_rules.h"

struct lt_fields {
	const char *v[LT_MAX_FIELDS];	/* NULL: the field is absent from this line */
	size_t len[LT_MAX_FIELDS];
};

/* Matches 'line' (len bytes, no newline) against r->line_re and fills 'f'.
 * Returns false when the line does not fit the pattern. */
bool lt_line_parse(const struct lt_rules *r, const char *line, size_t len, struct lt_fields *f);

/* Runs re on s and, on a match, stores its named groups into f via cap_field.
 * Shared with the condition "matches" (logtail_eval.c). */
bool lt_re_match(const pcre2_code *re, pcre2_match_data *md, bool jit, const int *cap_field, int ncap,
		 const char *s, size_t len, struct lt_fields *f);

/* Matches abandoned on PCRE2's limits (bounded backtracking, JIT stack). */
uint64_t lt_regex_errors(void);

#endif
