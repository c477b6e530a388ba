#include "cli_table.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "timeutil.h"

int cli_color;

void table_init(struct table *t, unsigned ncols, ...)
{
	va_list ap;
	memset(t, 0, sizeof *t);
	t->ncols = ncols > TABLE_COLS_MAX ? TABLE_COLS_MAX : ncols;
	t->caprows = 16;
	t->cells = calloc((size_t)t->caprows * t->ncols, sizeof *t->cells);
	va_start(ap, ncols);
	for (unsigned i = 0; i < t->ncols; i++)
		t->cells[i] = strdup(va_arg(ap, const char *));
	va_end(ap);
	t->nrows = 1;
}

void table_row(struct table *t, const char *fmt, ...)
{
	char buf[4096], *p, *tab;
	va_list ap;
	unsigned c = 0;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (t->nrows == t->caprows) {
		char **n = realloc(t->cells, (size_t)t->caprows * 2 * t->ncols * sizeof *n);
		if (!n)
			return;
		t->cells = n;
		t->caprows *= 2;
	}
	for (p = buf; c < t->ncols; c++) {
		tab = p ? strchr(p, '\t') : NULL;
		if (tab)
			*tab = '\0';
		t->cells[t->nrows * t->ncols + c] = strdup(p ? p : "");
		p = tab ? tab + 1 : NULL;
	}
	t->nrows++;
}

/* Printed width: escape sequences take no room; UTF-8 continuation bytes neither. */
static size_t visible(const char *s)
{
	size_t n = 0;
	while (*s) {
		if (*s == '\033') {
			while (*s && *s != 'm')
				s++;
			if (*s)
				s++;
			continue;
		}
		if (((unsigned char)*s & 0xC0) != 0x80)
			n++;
		s++;
	}
	return n;
}

void table_print(struct table *t, FILE *f)
{
	size_t w[TABLE_COLS_MAX] = {0};

	for (unsigned r = 0; r < t->nrows; r++)
		for (unsigned c = 0; c < t->ncols; c++) {
			size_t v = visible(t->cells[r * t->ncols + c]);
			if (v > w[c])
				w[c] = v;
		}
	for (unsigned r = 0; r < t->nrows; r++) {
		for (unsigned c = 0; c < t->ncols; c++) {
			const char *s = t->cells[r * t->ncols + c];
			int last = c + 1 == t->ncols;
			if (r == 0 && cli_color)
				fprintf(f, "\033[1m%s\033[0m", s);
			else
				fputs(s, f);
			if (!last)
				fprintf(f, "%*s", (int)(w[c] - visible(s) + 2), "");
		}
		fputc('\n', f);
	}
}

void table_free(struct table *t)
{
	for (unsigned i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	memset(t, 0, sizeof *t);
}

const char *status_colored(const char *name)
{
	static const struct { const char *name, *col; } map[] = {
		{"HEALTHY", "\033[32mHEALTHY\033[0m"},
		{"PENDING", "\033[33mPENDING\033[0m"},
		{"MAYBE_UNHEALTHY", "\033[33mMAYBE_UNHEALTHY\033[0m"},
		{"UNHEALTHY", "\033[31mUNHEALTHY\033[0m"},
		{"DYING", "\033[1;31mDYING\033[0m"},
		{"DEAD", "\033[1;31mDEAD\033[0m"},
		{"NA", "\033[2mNA\033[0m"},
	};
	if (!cli_color)
		return name;
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (!strcmp(map[i].name, name))
			return map[i].col;
	return name;
}

void fmt_time(char *buf, size_t n, double ts_us)
{
	time_t t = (time_t)(ts_us / 1e6);
	struct tm tm;
	localtime_r(&t, &tm);
	strftime(buf, n, "%Y-%m-%d %H:%M:%S", &tm);
}

void fmt_age(char *buf, size_t n, double ts_us)
{
	double age = ((double)wall_ns() / 1e3 - ts_us) / 1e6;
	if (age < 0)
		age = 0;
	if (age < 120)
		snprintf(buf, n, "%.0fs ago", age);
	else if (age < 7200)
		snprintf(buf, n, "%.0fm ago", age / 60);
	else if (age < 172800)
		snprintf(buf, n, "%.0fh ago", age / 3600);
	else
		fmt_time(buf, n, ts_us);
}
