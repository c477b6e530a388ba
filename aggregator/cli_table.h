/* Aligned text tables and status colours for the insitu CLI. */
#ifndef INSITU_CLI_TABLE_H
#define INSITU_CLI_TABLE_H

#include <stdio.h>

#include "report.h"

#define TABLE_COLS_MAX 10

struct table {
	unsigned ncols, nrows, caprows;
	char **cells; /* nrows * ncols, row-major; row 0 is the header */
};

/* Whether to colour (a terminal, and NO_COLOR unset); set once by the CLI. */
extern int cli_color;

void table_init(struct table *t, unsigned ncols, ...); /* header titles */
/* Adds a row of ncols printf-formatted cells: fmt is one format per cell separated
 * by '\t' in the format string, e.g. table_row(t, "%s\t%.1f", name, score). */
void table_row(struct table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void table_print(struct table *t, FILE *f);
void table_free(struct table *t);

/* Status name with colour escapes when cli_color (static buffer per call site is
 * not needed: returns a string literal). */
const char *status_colored(const char *name);
/* "12s ago", "3m ago", "2h ago", "2025-01-01 12:00:00" */
void fmt_age(char *buf, size_t n, double ts_us);
void fmt_time(char *buf, size_t n, double ts_us);

#endif
