/* Walking the rule tree for one parsed line, and turning the leaf it reaches into a
 * report (metric, status, score, subject).  Hot path: no allocation. */
#ifndef INSITU_LOGTAIL_EVAL_H
#define INSITU_LOGTAIL_EVAL_H

#include "logtail_line.h"
#include "logtail_rules.h"
#include "report.h"

/* The first matching branch decides: returns the leaf whose conditions (and its
 * ancestors') hold, or NULL when no rule matches.  "matches" conditions with named
 * groups add fields to 'f' (kept only along the branch that matched). */
struct lt_node *lt_eval(const struct lt_rules *r, struct lt_fields *f);

enum lt_subject_result {
	LT_SUBJECT_OK,
	LT_SUBJECT_DROPPED,	/* unmapped value with "unmapped": "drop" */
	LT_SUBJECT_INVALID,	/* absent field, or not a valid name (spaces, too long) */
};

/* Fills rep (observer, subject, one metric; ts_us left to the caller). */
enum lt_subject_result lt_make_report(const struct lt_rules *r, const struct lt_report_tmpl *t,
				      const struct lt_fields *f, const char *observer,
				      struct insitu_report *rep);

#endif
