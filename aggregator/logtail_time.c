/* Log timestamps: format compilation, zone handling, parsing.  See logtail_time.h. */
#include "logtail_time.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

bool lt_timefmt_compile(struct lt_timefmt *tf, const char *format, size_t *err_off, const char **why)
{
	tf->ntok = 0;
	tf->has_year = false;
	tf->cache_key = -1;
	bool has_epoch = false, has_day = false;
	for (size_t i = 0; format[i]; i++) {
		if (tf->ntok >= LT_TIME_MAX_TOKENS) {
			*err_off = i;
			*why = "format too long (at most 32 items)";
			return false;
		}
		char c = format[i];
		enum lt_tok k;
		if (c == ' ') {
			k = LT_TOK_SPACE;
			while (format[i + 1] == ' ')
				i++;
		} else if (c != '%') {
			tf->tok[tf->ntok].kind = LT_TOK_LIT;
			tf->tok[tf->ntok++].c = c;
			continue;
		} else {
			char d = format[++i];
			switch (d) {
			case 'Y': k = LT_TOK_YEAR; tf->has_year = true; break;
			case 'y': k = LT_TOK_YEAR2; tf->has_year = true; break;
			case 'm': k = LT_TOK_MON; break;
			case 'b': k = LT_TOK_MONNAME; break;
			case 'd': case 'e': k = LT_TOK_DAY; has_day = true; break;
			case 'H': k = LT_TOK_HOUR; break;
			case 'I': k = LT_TOK_HOUR12; break;
			case 'p': k = LT_TOK_AMPM; break;
			case 'M': k = LT_TOK_MIN; break;
			case 'S': k = LT_TOK_SEC; break;
			case 'f': k = LT_TOK_FRAC; break;
			case 's': k = LT_TOK_EPOCH; has_epoch = true; break;
			case 'z': k = LT_TOK_ZONE; break;
			case 'Z': k = LT_TOK_ZNAME; break;
			case '%':
				tf->tok[tf->ntok].kind = LT_TOK_LIT;
				tf->tok[tf->ntok++].c = '%';
				continue;
			case '\0':
				*err_off = i - 1;
				*why = "format ends with a lone '%'";
				return false;
			default:
				*err_off = i - 1;
				*why = "unknown directive (known: %Y %y %m %b %d %e %H %I %p %M %S %f %s %z %Z %%)";
				return false;
			}
		}
		tf->tok[tf->ntok++].kind = k;
	}
	if (tf->ntok == 0) {
		*err_off = 0;
		*why = "empty format";
		return false;
	}
	if (!has_epoch && !has_day) {
		*err_off = 0;
		*why = "format has neither a day (%d/%e) nor epoch seconds (%s)";
		return false;
	}
	if (has_epoch)
		tf->has_year = true;
	return true;
}

/* "+05:30", "-0800", "+05", "Z"/"UTC": seconds east of UTC. */
static bool parse_offset(const char *s, size_t len, int32_t *off, size_t *used)
{
	if (len >= 1 && (s[0] == 'Z' || s[0] == 'z')) {
		*off = 0;
		*used = 1;
		return true;
	}
	if (len < 3 || (s[0] != '+' && s[0] != '-') || !isdigit((unsigned char)s[1]) ||
	    !isdigit((unsigned char)s[2]))
		return false;
	int h = (s[1] - '0') * 10 + (s[2] - '0'), m = 0;
	size_t i = 3;
	if (i < len && s[i] == ':')
		i++;
	if (i + 2 <= len && isdigit((unsigned char)s[i]) && isdigit((unsigned char)s[i + 1])) {
		m = (s[i] - '0') * 10 + (s[i + 1] - '0');
		i += 2;
	} else if (i > 3) {
		return false;	/* "+05:" */
	}
	if (h > 23 || m > 59)
		return false;
	*off = (h * 3600 + m * 60) * (s[0] == '-' ? -1 : 1);
	*used = i;
	return true;
}

bool lt_timefmt_set_zone(struct lt_timefmt *tf, const char *zone, const char **why)
{
	size_t n = strlen(zone), used;
	int32_t off;
	tf->cache_key = -1;
	if (!strcmp(zone, "local")) {
		tf->zone = LT_ZONE_LOCAL;
		return true;
	}
	if (!strcasecmp(zone, "UTC") || !strcasecmp(zone, "GMT") || !strcmp(zone, "Z")) {
		tf->zone = LT_ZONE_FIXED;
		tf->fixed_offset_s = 0;
		return true;
	}
	if (zone[0] == '+' || zone[0] == '-') {
		if (!parse_offset(zone, n, &off, &used) || used != n) {
			*why = "a fixed offset is written +hh:mm, +hhmm or +hh";
			return false;
		}
		tf->zone = LT_ZONE_FIXED;
		tf->fixed_offset_s = off;
		return true;
	}
	/* An IANA name: it must exist in the tz database, else glibc silently uses UTC
	 * and every stamp would be off by the zone's offset. */
	if (n >= sizeof tf->zone_name || strstr(zone, "..") || zone[0] == '/') {
		*why = "not a time zone name";
		return false;
	}
	const char *dir = getenv("TZDIR");
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", zone);
	if (access(path, R_OK) != 0) {
		*why = "unknown time zone (expected \"local\", \"UTC\", an offset like \"+05:30\", "
		       "or a name from the tz database such as \"Europe/Berlin\")";
		return false;
	}
	tf->zone = LT_ZONE_NAMED;
	memcpy(tf->zone_name, zone, n + 1);
	return true;
}

void lt_timefmt_activate(const struct lt_timefmt *tf)
{
	if (tf->zone == LT_ZONE_NAMED) {
		char tz[80];
		snprintf(tz, sizeof tz, ":%s", tf->zone_name);
		setenv("TZ", tz, 1);
	}
	tzset();
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static bool digits(const char *s, size_t len, size_t *i, int min, int max, int *out)
{
	int v = 0, n = 0;
	while (*i < len && n < max && isdigit((unsigned char)s[*i])) {
		v = v * 10 + (s[*i] - '0');
		(*i)++;
		n++;
	}
	*out = v;
	return n >= min;
}

static const char MONTHS[] = "janfebmaraprmayjunjulaugsepoctnovdec";

/* UTC offset (seconds east) in force at the given local wall time, from mktime(3),
 * cached per minute of local time. */
static int32_t local_offset(struct lt_timefmt *tf, int y, int mo, int d, int h, int mi, int64_t local_as_utc)
{
	int64_t key = ((((int64_t)y * 13 + mo) * 32 + d) * 24 + h) * 60 + mi;
	if (key == tf->cache_key)
		return tf->cache_off;
	struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h,
			 .tm_min = mi, .tm_sec = 0, .tm_isdst = -1 };
	time_t t = mktime(&tm);
	int32_t off = 0;
	if (t != (time_t)-1)
		off = (int32_t)((local_as_utc - local_as_utc % 60) - (int64_t)t);
	tf->cache_key = key;
	tf->cache_off = off;
	return off;
}

bool lt_time_parse(struct lt_timefmt *tf, const char *s, size_t len, int64_t now_ns, int64_t *out_ns)
{
	int year = 1970, mon = 1, day = 1, hour = 0, min = 0, sec = 0, v;
	int64_t frac_ns = 0, epoch = 0;
	bool have_epoch = false, have_zone = false, pm = false, ampm = false, h12 = false;
	int32_t zone_off = 0;
	size_t i = 0;

	for (int t = 0; t < tf->ntok; t++) {
		switch (tf->tok[t].kind) {
		case LT_TOK_LIT:
			if (i >= len || s[i] != tf->tok[t].c)
				return false;
			i++;
			break;
		case LT_TOK_SPACE:
			if (i >= len || (s[i] != ' ' && s[i] != '\t'))
				return false;
			while (i < len && (s[i] == ' ' || s[i] == '\t'))
				i++;
			break;
		case LT_TOK_YEAR:
			if (!digits(s, len, &i, 4, 4, &year))
				return false;
			break;
		case LT_TOK_YEAR2:
			if (!digits(s, len, &i, 2, 2, &v))
				return false;
			year = v < 69 ? 2000 + v : 1900 + v;
			break;
		case LT_TOK_MON:
			if (!digits(s, len, &i, 1, 2, &mon) || mon < 1 || mon > 12)
				return false;
			break;
		case LT_TOK_MONNAME: {
			if (i + 3 > len)
				return false;
			int m;
			for (m = 0; m < 12; m++)
				if (!strncasecmp(s + i, MONTHS + 3 * m, 3))
					break;
			if (m == 12)
				return false;
			mon = m + 1;
			i += 3;
			break;
		}
		case LT_TOK_DAY:
			if (i < len && s[i] == ' ')
				i++;
			if (!digits(s, len, &i, 1, 2, &day) || day < 1 || day > 31)
				return false;
			break;
		case LT_TOK_HOUR:
			if (!digits(s, len, &i, 1, 2, &hour) || hour > 23)
				return false;
			break;
		case LT_TOK_HOUR12:
			if (!digits(s, len, &i, 1, 2, &hour) || hour < 1 || hour > 12)
				return false;
			h12 = true;
			break;
		case LT_TOK_AMPM:
			if (i + 2 > len)
				return false;
			if (!strncasecmp(s + i, "AM", 2))
				pm = false;
			else if (!strncasecmp(s + i, "PM", 2))
				pm = true;
			else
				return false;
			ampm = true;
			i += 2;
			break;
		case LT_TOK_MIN:
			if (!digits(s, len, &i, 2, 2, &min) || min > 59)
				return false;
			break;
		case LT_TOK_SEC:
			if (!digits(s, len, &i, 2, 2, &sec) || sec > 60)
				return false;
			break;
		case LT_TOK_FRAC: {
			int n = 0;
			int64_t f = 0;
			while (i < len && isdigit((unsigned char)s[i])) {
				if (n < 9) {
					f = f * 10 + (s[i] - '0');
					n++;
				}
				i++;
			}
			if (n == 0)
				return false;
			for (; n < 9; n++)
				f *= 10;
			frac_ns = f;
			break;
		}
		case LT_TOK_EPOCH: {
			int n = 0;
			epoch = 0;
			while (i < len && isdigit((unsigned char)s[i]) && n < 12) {
				epoch = epoch * 10 + (s[i] - '0');
				i++;
				n++;
			}
			if (n == 0)
				return false;
			have_epoch = true;
			break;
		}
		case LT_TOK_ZONE: {
			size_t used;
			if (!parse_offset(s + i, len - i, &zone_off, &used))
				return false;
			i += used;
			have_zone = true;
			break;
		}
		case LT_TOK_ZNAME: {
			size_t st = i;
			while (i < len && isalpha((unsigned char)s[i]))
				i++;
			if (i == st || i - st > 6)
				return false;
			/* Abbreviations other than UTC are ambiguous (IST, CST): those fall
			 * back to the configured zone. */
			if ((i - st == 3 && (!strncasecmp(s + st, "UTC", 3) || !strncasecmp(s + st, "GMT", 3))) ||
			    (i - st == 1 && (s[st] == 'Z' || s[st] == 'z'))) {
				zone_off = 0;
				have_zone = true;
			}
			break;
		}
		}
	}
	if (i != len)
		return false;

	if (have_epoch) {
		*out_ns = epoch * 1000000000ll + frac_ns;
		return true;
	}
	if (h12 || ampm) {
		if (h12 && ampm)
			hour = (hour % 12) + (pm ? 12 : 0);
		else if (!h12 && ampm && hour > 12)
			return false;
		else if (!h12 && ampm)
			hour = (hour % 12) + (pm ? 12 : 0);
	}
	if (!tf->has_year) {
		/* syslog-style stamps carry no year: take the current one, or the previous
		 * when that would put the stamp more than a day in the future (December
		 * lines read in January). */
		time_t now = (time_t)(now_ns / 1000000000ll);
		struct tm tm;
		gmtime_r(&now, &tm);
		year = tm.tm_year + 1900;
		int64_t guess = days_from_civil(year, mon, day) * 86400;
		if (guess > (int64_t)now + 86400)
			year--;
	}
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	if (day > mdays[mon - 1])
		return false;
	int64_t local = days_from_civil(year, mon, day) * 86400 + hour * 3600 + min * 60 + sec;
	int32_t off;
	if (have_zone)
		off = zone_off;
	else if (tf->zone == LT_ZONE_FIXED)
		off = tf->fixed_offset_s;
	else
		off = local_offset(tf, year, mon, day, hour, min, local);
	*out_ns = (local - off) * 1000000000ll + frac_ns;
	return true;
}

void lt_time_format_utc(int64_t ns, char *buf, size_t size)
{
	int64_t secs = ns / 1000000000ll;
	int64_t rem = ns % 1000000000ll;
	if (rem < 0) {
		rem += 1000000000ll;
		secs--;
	}
	time_t t = (time_t)secs;
	struct tm tm;
	gmtime_r(&t, &tm);
	snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(rem / 1000000));
}
