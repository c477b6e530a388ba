/* Health thresholds from the operator: one "key = value" setting at a time (the
 * observer's --threshold KEY=VALUE) or a file of them (--thresholds FILE), checked
 * as a whole once everything is read.  See health.h for the keys. */
#include "health.h"
#include "fileutil.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum kind { K_DURATION, K_RATIO, K_SHARE, K_COUNT, K_PERCENTILE };

struct key {
	const char *name;
	enum kind kind;
	size_t off;           /* offset of the field in struct health_cfg */
	double min, max;      /* bounds (durations in ns) */
	bool zero_ok;         /* 0 / "none" allowed (durations) */
	const char *help;
};

#define F(field) offsetof(struct health_cfg, field)
#define MS_ 1e6
#define S_ 1e9

static const struct key keys[] = {
	{"window", K_DURATION, F(window_ns), 100 * MS_, 60 * S_, false,
	 "report period (1s)"},
	{"latency_floor", K_DURATION, F(latency_floor_ns), 0, 60 * S_, true,
	 "latencies below this are never slow (20ms)"},
	{"latency_objective", K_DURATION, F(objective_ns), 1e3, 3600 * S_, true,
	 "judged latency above this is UNHEALTHY whatever the baseline (none)"},
	{"latency_maybe_ratio", K_RATIO, F(maybe_ratio), 1.0, 1e6, false,
	 "judged latency / baseline at which latency is MAYBE_UNHEALTHY (3)"},
	{"latency_unhealthy_ratio", K_RATIO, F(unhealthy_ratio), 1.0, 1e6, false,
	 "... and UNHEALTHY (10)"},
	{"latency_percentile", K_PERCENTILE, F(pct_high), 1, 100, false,
	 "percentile judged when the window has enough samples (90)"},
	{"latency_percentile_samples", K_COUNT, F(pct_high_min), 1, 128, false,
	 "... that many (20)"},
	{"latency_fallback_percentile", K_PERCENTILE, F(pct_low), 1, 100, false,
	 "percentile judged on fewer samples (75); fewer still: the median"},
	{"latency_fallback_samples", K_COUNT, F(pct_low_min), 1, 128, false,
	 "... from this many (5)"},
	{"latency_min_samples", K_COUNT, F(min_samples), 1, 128, false,
	 "fewer samples than this are never beyond MAYBE_UNHEALTHY (3)"},
	{"learn_windows", K_COUNT, F(learn_windows), 1, 100000, false,
	 "windows that teach the baseline before it is trusted (3)"},
	{"error_maybe", K_SHARE, F(error_maybe), 0, 1, false,
	 "failed share at which errors are MAYBE_UNHEALTHY (5%)"},
	{"error_unhealthy", K_SHARE, F(error_unhealthy), 0, 1, false,
	 "... and UNHEALTHY (20%)"},
	{"error_min_failed", K_COUNT, F(error_min_failed), 1, 1000000, false,
	 "fewer failures in a window are never MAYBE_UNHEALTHY, only a share >= error_unhealthy (2)"},
	{"pending_after", K_DURATION, F(expected_ns), 1 * MS_, 3600 * S_, false,
	 "a request waiting this long makes timeouts PENDING (300ms)"},
	{"timeout", K_DURATION, F(timeout_ns), 1 * MS_, 3600 * S_, false,
	 "... and this long UNHEALTHY (1s)"},
	{"retransmits_maybe", K_COUNT, F(retrans_maybe), 1, 1000000, false,
	 "TCP retransmits in a window that make it MAYBE_UNHEALTHY (3)"},
	{"stall_min_pairs", K_COUNT, F(stall_min_pairs), 1, 1000000, false,
	 "host stall: at least this many pairs slow at once (3)"},
	{"stall_share", K_SHARE, F(stall_share), 0, 1, false,
	 "... and at least this share of the pairs with latency (67%)"},
	{"warmup", K_DURATION, F(warmup_ns), 0, 3600 * S_, true,
	 "evidence about servers known only by address held back this long (5s)"},
	{"max_pairs", K_COUNT, F(max_pairs), 1, 1 << 20, false,
	 "(observer, subject) pairs tracked (4096)"},
};

static void err_at(char *err, size_t errlen, const char *where, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void err_at(char *err, size_t errlen, const char *where, const char *fmt, ...)
{
	va_list ap;
	int o = snprintf(err, errlen, "%s%s", where ? where : "", where ? ": " : "");

	if (o < 0 || (size_t)o >= errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err + o, errlen - (size_t)o, fmt, ap);
	va_end(ap);
}

static const struct key *find_key(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strlen(keys[i].name) == len && !strncmp(keys[i].name, name, len))
			return &keys[i];
	return NULL;
}

/* A number with an optional unit; returns the number of characters used, or 0. */
static size_t number(const char *s, double *v)
{
	char *end;

	if ((!(*s >= '0' && *s <= '9') && *s != '.') || (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')))
		return 0; /* no sign, no "inf"/"nan", no hex */
	errno = 0;
	*v = strtod(s, &end);
	if (errno || end == s || !isfinite(*v))
		return 0;
	return (size_t)(end - s);
}

static int parse_value(const struct key *k, const char *val, double *out, char *why, size_t wlen)
{
	double v;
	size_t n;
	const char *unit;

	if (k->kind == K_DURATION && k->zero_ok && !strcmp(val, "none")) {
		*out = 0;
		return 0;
	}
	n = number(val, &v);
	if (!n) {
		snprintf(why, wlen, "expected a number, found \"%s\"", val);
		return -1;
	}
	unit = val + n;
	switch (k->kind) {
	case K_DURATION:
		if (!strcmp(unit, "ns"))
			;
		else if (!strcmp(unit, "us"))
			v *= 1e3;
		else if (!strcmp(unit, "ms"))
			v *= 1e6;
		else if (!strcmp(unit, "s"))
			v *= 1e9;
		else if (!*unit && v == 0)
			;
		else {
			snprintf(why, wlen, "expected a duration with a unit (ns, us, ms, s), e.g. 250ms; found \"%s\"",
				 val);
			return -1;
		}
		break;
	case K_SHARE:
		if (!strcmp(unit, "%"))
			v /= 100;
		else if (*unit) {
			snprintf(why, wlen, "expected a share: 0.05 or 5%%; found \"%s\"", val);
			return -1;
		}
		break;
	case K_COUNT:
	case K_PERCENTILE:
		if (*unit || v != floor(v)) {
			snprintf(why, wlen, "expected a whole number, found \"%s\"", val);
			return -1;
		}
		break;
	case K_RATIO:
		if (!strcmp(unit, "x"))
			;
		else if (*unit) {
			snprintf(why, wlen, "expected a ratio such as 3 or 3x, found \"%s\"", val);
			return -1;
		}
		break;
	}
	if (v == 0 && k->zero_ok) {
		*out = 0;
		return 0;
	}
	if (v < k->min || v > k->max) {
		if (k->kind == K_DURATION)
			snprintf(why, wlen, "out of range: %s from %gms to %gs%s", val, k->min / 1e6,
				 k->max / 1e9, k->zero_ok ? " (or none)" : "");
		else if (k->kind == K_SHARE)
			snprintf(why, wlen, "out of range: %s (a share from 0 to 1, or 0%% to 100%%)", val);
		else
			snprintf(why, wlen, "out of range: %s (from %g to %g)", val, k->min, k->max);
		return -1;
	}
	*out = v;
	return 0;
}

static void store(struct health_cfg *c, const struct key *k, double v)
{
	char *p = (char *)c + k->off;

	switch (k->kind) {
	case K_DURATION: {
		uint64_t x = (uint64_t)llround(v);
		memcpy(p, &x, sizeof(x));
		break;
	}
	case K_RATIO:
	case K_SHARE:
		memcpy(p, &v, sizeof(v));
		break;
	case K_COUNT:
	case K_PERCENTILE: {
		uint32_t x = (uint32_t)v;
		memcpy(p, &x, sizeof(x));
		break;
	}
	}
}

/* key and value as written (trimmed), where = "FILE:LINE:COL" or "--threshold". */
static int set_kv(struct health_cfg *c, const char *key, size_t klen, const char *val,
		  const char *where, const char *where_val, char *err, size_t errlen)
{
	const struct key *k = find_key(key, klen);
	char why[200];
	double v;

	if (!k) {
		err_at(err, errlen, where, "unknown threshold \"%.*s\" (see insitu-observer --threshold help)",
		       (int)(klen > 64 ? 64 : klen), key);
		return -1;
	}
	if (parse_value(k, val, &v, why, sizeof(why))) {
		err_at(err, errlen, where_val, "%s: %s", k->name, why);
		return -1;
	}
	store(c, k, v);
	return 0;
}

int health_cfg_set(struct health_cfg *c, const char *kv, char *err, size_t errlen)
{
	const char *eq = strchr(kv, '=');

	if (!eq || eq == kv) {
		err_at(err, errlen, "--threshold", "expected KEY=VALUE, found \"%s\"", kv);
		return -1;
	}
	return set_kv(c, kv, (size_t)(eq - kv), eq + 1, "--threshold", "--threshold", err, errlen);
}

static bool blank(char ch) { return ch == ' ' || ch == '\t' || ch == '\r'; }

int health_cfg_parse(struct health_cfg *c, const char *text, size_t len, const char *path,
		     char *err, size_t errlen)
{
	size_t pos = 0;
	int line = 0;

	while (pos < len) {
		size_t ls = pos, eol = pos, a, b, kb, va;
		char where[300], where_val[300], val[128];

		line++;
		while (eol < len && text[eol] != '\n')
			eol++;
		pos = eol + 1;
		a = ls;
		b = eol;
		for (size_t i = a; i < b; i++)
			if (text[i] == '#') {
				b = i;
				break;
			}
		for (size_t i = a; i < b; i++)
			if ((unsigned char)text[i] < 0x20 && !blank(text[i])) {
				snprintf(where, sizeof(where), "%s:%d:%zu", path, line, i - ls + 1);
				err_at(err, errlen, where, "unexpected control character");
				return -1;
			}
		while (a < b && blank(text[a]))
			a++;
		while (b > a && blank(text[b - 1]))
			b--;
		if (a == b)
			continue; /* blank line or comment */
		kb = a;
		while (kb < b && text[kb] != '=' && !blank(text[kb]))
			kb++;
		snprintf(where, sizeof(where), "%s:%d:%zu", path, line, a - ls + 1);
		va = kb;
		while (va < b && blank(text[va]))
			va++;
		if (va >= b || text[va] != '=') {
			err_at(err, errlen, where, "expected \"key = value\"");
			return -1;
		}
		va++;
		while (va < b && blank(text[va]))
			va++;
		snprintf(where_val, sizeof(where_val), "%s:%d:%zu", path, line, va - ls + 1);
		if (va == b) {
			err_at(err, errlen, where_val, "%.*s: missing value",
			       (int)(kb - a > 64 ? 64 : kb - a), text + a);
			return -1;
		}
		if (b - va >= sizeof(val)) {
			err_at(err, errlen, where_val, "value longer than %zu characters", sizeof(val) - 1);
			return -1;
		}
		memcpy(val, text + va, b - va);
		val[b - va] = '\0';
		if (set_kv(c, text + a, kb - a, val, where, where_val, err, errlen))
			return -1;
	}
	return 0;
}

int health_cfg_load(struct health_cfg *c, const char *path, char *err, size_t errlen)
{
	size_t len;
	int rc;
	char *text = read_file_max(path, 64 * 1024, &len);

	if (!text) {
		err_at(err, errlen, path, "%s", errno == EFBIG ? "larger than 64 KiB" : strerror(errno));
		return -1;
	}
	rc = health_cfg_parse(c, text, len, path, err, errlen);
	free(text);
	return rc;
}

int health_cfg_check(const struct health_cfg *c, char *err, size_t errlen)
{
	if (c->maybe_ratio >= c->unhealthy_ratio)
		err_at(err, errlen, NULL, "latency_maybe_ratio (%g) must be below latency_unhealthy_ratio (%g)",
		       c->maybe_ratio, c->unhealthy_ratio);
	else if (c->error_maybe > c->error_unhealthy)
		err_at(err, errlen, NULL, "error_maybe (%g) must not be above error_unhealthy (%g)",
		       c->error_maybe, c->error_unhealthy);
	else if (c->expected_ns > c->timeout_ns)
		err_at(err, errlen, NULL, "pending_after (%gms) must not be above timeout (%gms)",
		       c->expected_ns / 1e6, c->timeout_ns / 1e6);
	else if (c->pct_low > c->pct_high)
		err_at(err, errlen, NULL,
		       "latency_fallback_percentile (%u) must not be above latency_percentile (%u)",
		       c->pct_low, c->pct_high);
	else if (c->pct_low_min > c->pct_high_min)
		err_at(err, errlen, NULL,
		       "latency_fallback_samples (%u) must not be above latency_percentile_samples (%u)",
		       c->pct_low_min, c->pct_high_min);
	else
		return 0;
	return -1;
}

void health_cfg_print_keys(FILE *out)
{
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		fprintf(out, "  %-28s %s\n", keys[i].name, keys[i].help);
}

void health_cfg_print(const struct health_cfg *c, FILE *out)
{
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const struct key *k = &keys[i];
		const char *p = (const char *)c + k->off;
		uint64_t d;
		uint32_t n;
		double v;

		switch (k->kind) {
		case K_DURATION:
			memcpy(&d, p, sizeof(d));
			if (!d && k->zero_ok)
				fprintf(out, "%s = none\n", k->name);
			else
				fprintf(out, "%s = %gms\n", k->name, (double)d / 1e6);
			break;
		case K_RATIO:
			memcpy(&v, p, sizeof(v));
			fprintf(out, "%s = %g\n", k->name, v);
			break;
		case K_SHARE:
			memcpy(&v, p, sizeof(v));
			fprintf(out, "%s = %g%%\n", k->name, v * 100);
			break;
		case K_COUNT:
		case K_PERCENTILE:
			memcpy(&n, p, sizeof(n));
			fprintf(out, "%s = %u\n", k->name, n);
			break;
		}
	}
}
