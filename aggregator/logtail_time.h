/* Log timestamps: a strftime-like format compiled once, a time zone, and the
 * conversion of a timestamp text to nanoseconds since the epoch (UTC).
 *
 * Why our own parser and not strptime(3): strptime has no fractional seconds
 * ("17:26:04,510"), no way to say which zone a zone-less stamp is in, and it cannot
 * tell the caller where a format is wrong.  Staleness and merging are measured in log
 * time, so a stamp read in the wrong zone would make every line look hours old. */
#ifndef INSITU_LOGTAIL_TIME_H
#define INSITU_LOGTAIL_TIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LT_TIME_MAX_TOKENS 32

enum lt_tok {
	LT_TOK_LIT,	/* one literal byte */
	LT_TOK_SPACE,	/* ' ' in the format: one or more blanks */
	LT_TOK_YEAR,	/* %Y four digits */
	LT_TOK_YEAR2,	/* %y two digits, 1969-2068 */
	LT_TOK_MON,	/* %m 1-12 */
	LT_TOK_MONNAME,	/* %b Jan..Dec (English, any case) */
	LT_TOK_DAY,	/* %d or %e, 1-31, optional leading blank */
	LT_TOK_HOUR,	/* %H 0-23 */
	LT_TOK_HOUR12,	/* %I 1-12 */
	LT_TOK_AMPM,	/* %p AM/PM */
	LT_TOK_MIN,	/* %M */
	LT_TOK_SEC,	/* %S 0-60 */
	LT_TOK_FRAC,	/* %f 1-9 digits of fraction */
	LT_TOK_EPOCH,	/* %s seconds since the epoch (optionally with .fraction) */
	LT_TOK_ZONE,	/* %z +hhmm, +hh:mm, +hh, Z */
	LT_TOK_ZNAME,	/* %Z UTC/GMT/Z, or a name: then the configured zone applies */
};

enum lt_zone_kind {
	LT_ZONE_LOCAL,	/* this host's zone (TZ or /etc/localtime) */
	LT_ZONE_FIXED,	/* UTC or a fixed offset such as +05:30 */
	LT_ZONE_NAMED,	/* an IANA zone such as Europe/Berlin (DST applies) */
};

struct lt_timefmt {
	struct {
		enum lt_tok kind;
		char c;		/* LT_TOK_LIT */
	} tok[LT_TIME_MAX_TOKENS];
	int ntok;
	bool has_year;		/* else the year is guessed (syslog style) */
	enum lt_zone_kind zone;
	int32_t fixed_offset_s;	/* east of UTC, LT_ZONE_FIXED */
	char zone_name[64];	/* LT_ZONE_NAMED */

	/* Conversion cache: local date+hour+minute -> UTC offset, so mktime(3) runs once
	 * per minute of log and not once per line. */
	int64_t cache_key;
	int32_t cache_off;
};

/* Compiles 'format'.  On error returns false, *err_off = byte offset in the format
 * and *why a static explanation. */
bool lt_timefmt_compile(struct lt_timefmt *tf, const char *format, size_t *err_off, const char **why);

/* Sets the zone: "local", "UTC", "+05:30"/"-0800", or an IANA name known to the
 * system's tz database.  Returns false with *why on error. */
bool lt_timefmt_set_zone(struct lt_timefmt *tf, const char *zone, const char **why);

/* Makes the configured zone the one mktime(3) uses (LT_ZONE_NAMED sets TZ).  Called
 * once by the program; a process converts times of one zone. */
void lt_timefmt_activate(const struct lt_timefmt *tf);

/* Parses 's' (not NUL-terminated, exactly 'len' bytes, all must be consumed).
 * now_ns is used only for year-less formats.  Returns false on mismatch. */
bool lt_time_parse(struct lt_timefmt *tf, const char *s, size_t len, int64_t now_ns, int64_t *out_ns);

/* Formats ns since the epoch as RFC 3339 UTC with milliseconds; buf >= 32 bytes. */
void lt_time_format_utc(int64_t ns, char *buf, size_t size);

#endif
