/* Rules of a log-based observer: how to cut a log line into named fields, how to read
 * its timestamp, and a tree of conditions on fields that decides which report (if
 * any) the line yields.  Loaded from a JSON file (docs/logtail.md has the format);
 * every error names file:line:column, the JSON path and what was expected.
 *
 * This module only builds and frees the structure.  Matching a line lives in
 * logtail_line.c, walking the tree in logtail_eval.c. */
#ifndef INSITU_LOGTAIL_RULES_H
#define INSITU_LOGTAIL_RULES_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "logtail_time.h"
#include "report.h"

#define LT_MAX_FIELDS 32	/* named fields: line pattern groups + condition captures */
#define LT_MAX_DEPTH 8		/* nesting of "rules" inside rules */
#define LT_MAX_NODES 4096	/* rules in one file, all levels */
#define LT_MAX_SUBJECTS 65536	/* entries of the "subjects" table */

enum lt_op { LT_OP_EQUALS, LT_OP_DIFFERS, LT_OP_MATCHES, LT_OP_IN };

struct lt_str {
	char *s;
	size_t len;
};

struct lt_cond {
	int field;			/* index into rules->field_names */
	enum lt_op op;
	struct lt_str value;		/* equals / differs */
	struct lt_str *list;		/* in */
	size_t nlist;
	pcre2_code *re;			/* matches */
	pcre2_match_data *md;
	int ncap;			/* capture groups of re */
	int *cap_field;			/* group number -> field index, -1 = unnamed */
};

/* Who a report is about. */
enum lt_unmapped { LT_UNMAPPED_RAW, LT_UNMAPPED_SELF, LT_UNMAPPED_DROP };

struct lt_report_tmpl {
	char metric[INSITU_METRIC_NAME_MAX];
	enum insitu_status status;
	double score;
	int subject_field;		/* -1: the observer itself */
	bool subject_map;		/* look the field's value up in rules->subjects */
	enum lt_unmapped unmapped;	/* when the value is not in the table */
};

struct lt_node {
	char *name;			/* "name", or "rules[2].rules[0]" */
	struct lt_cond *conds;		/* all must hold; none = always */
	size_t nconds;
	struct lt_node *children;	/* first matching child decides */
	size_t nchildren;
	struct lt_report_tmpl *report;	/* leaf (exactly one of report/children) */
	uint64_t hits;			/* lines this leaf turned into a report */
};

struct lt_subject {
	char *key;
	char *name;
};

struct lt_rules {
	char *path;
	char *program;
	pcre2_code *line_re;
	pcre2_match_data *line_md;
	bool jit;			/* PCRE2 JIT compiled the line pattern */
	int line_ncap;
	int *line_cap_field;		/* group number -> field index */
	char *field_names[LT_MAX_FIELDS];
	int nfields;
	int nline_fields;		/* fields [0, nline_fields) come from the line pattern */
	int time_field;			/* -1: no time field, lines are stamped on arrival */
	struct lt_timefmt time;
	int64_t staleness_ns;		/* 0: never stale */
	int64_t merge_window_ns;	/* 0: never merge */
	struct lt_subject *subjects;	/* sorted by key */
	size_t nsubjects;
	struct lt_node root;		/* root.children = top-level "rules" */
	size_t nnodes;
};

/* Loads a rules file.  On error returns NULL after printing every problem found
 * (up to a limit) to 'errf' as "file:line:col: error: ..." lines. */
struct lt_rules *lt_rules_load(const char *path, FILE *errf);
/* Same from memory (path is used in messages). */
struct lt_rules *lt_rules_load_mem(const char *path, const char *text, size_t len, FILE *errf);
void lt_rules_free(struct lt_rules *r);

/* Adds a JSON object {key: name, ...} read from 'path' to the subjects table
 * (replacing entries with the same key).  Returns 0, or -1 after printing errors. */
int lt_rules_add_subjects(struct lt_rules *r, const char *path, FILE *errf);

/* Looks 'key' up in the subjects table; NULL if absent. */
const char *lt_rules_subject(const struct lt_rules *r, const char *key, size_t len);

/* Index of a field by name, -1 if unknown. */
int lt_rules_field(const struct lt_rules *r, const char *name);

#endif
