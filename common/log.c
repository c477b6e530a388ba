#include "log.h"

#include <stdio.h>

static const char *prog = "insitu";
static enum log_level cur = LOG_INFO;

void log_init(const char *progname, enum log_level level)
{
	if (progname)
		prog = progname;
	cur = level;
}

void log_set_level(enum log_level level) { cur = level; }
enum log_level log_get_level(void) { return cur; }
const char *log_progname(void) { return prog; }

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const char *const tag[] = {"error: ", "warning: ", "", "debug: "};
	va_list ap;

	if (level > cur)
		return;
	fprintf(stderr, "%s: %s", prog, tag[level]);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
