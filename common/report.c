/* Statuses, names and the JSON form of reports (see report.h, docs/protocol.md). */
#include "report.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const status_names[INSITU_STATUS_COUNT] = {
	"INVALID", "NA", "HEALTHY", "PENDING", "MAYBE_UNHEALTHY", "UNHEALTHY", "DYING", "DEAD",
};
static const char *const status_letters[INSITU_STATUS_COUNT] = {
	"?", "n", "h", "p", "m", "u", "d", "dd",
};

const char *insitu_status_name(enum insitu_status s)
{
	return (unsigned)s < INSITU_STATUS_COUNT ? status_names[s] : "INVALID";
}

const char *insitu_status_letter(enum insitu_status s)
{
	return (unsigned)s < INSITU_STATUS_COUNT ? status_letters[s] : "?";
}

enum insitu_status insitu_status_parse(const char *s)
{
	if (!s || !*s)
		return INSITU_INVALID;
	if (!s[1] || (s[0] == 'd' && s[1] == 'd' && !s[2])) { /* the letters: the common case */
		switch (s[0]) {
		case 'n': case 'N': return INSITU_NA;
		case 'h': case 'H': return INSITU_HEALTHY;
		case 'p': case 'P': return INSITU_PENDING;
		case 'm': case 'M': return INSITU_MAYBE_UNHEALTHY;
		case 'u': case 'U': return INSITU_UNHEALTHY;
		case 'd': case 'D': return s[1] ? INSITU_DEAD : INSITU_DYING;
		default: return INSITU_INVALID;
		}
	}
	for (int i = 1; i < INSITU_STATUS_COUNT; i++)
		if (!strcasecmp(s, status_letters[i]) || !strcasecmp(s, status_names[i]))
			return (enum insitu_status)i;
	if (!strcasecmp(s, "maybe-unhealthy") || !strcasecmp(s, "maybe"))
		return INSITU_MAYBE_UNHEALTHY;
	return INSITU_INVALID;
}

int insitu_name_valid(const char *s, size_t max)
{
	size_t n = 0;

	if (!s)
		return 0;
	for (; s[n]; n++) {
		unsigned char c = (unsigned char)s[n];
		if (c <= ' ' || c == 0x7f || n + 1 >= max)
			return 0;
	}
	return n > 0;
}

int insitu_obs_set(struct insitu_observation *o, const char *name, enum insitu_status st,
		   double score)
{
	unsigned i;

	if (!insitu_name_valid(name, INSITU_METRIC_NAME_MAX) || st <= INSITU_INVALID ||
	    st >= INSITU_STATUS_COUNT || !isfinite(score))
		return -1;
	for (i = 0; i < o->n_metrics; i++)
		if (!strcmp(o->metrics[i].name, name))
			break;
	if (i == o->n_metrics) {
		if (o->n_metrics >= INSITU_METRICS_MAX)
			return -1;
		o->n_metrics++;
		memcpy(o->metrics[i].name, name, strlen(name) + 1); /* length checked above */
	}
	o->metrics[i].value.status = st;
	o->metrics[i].value.score = score;
	return 0;
}

int insitu_metric_parse_spec(const char *spec, struct insitu_metric *out, char *err, size_t errlen)
{
	char buf[256], *c1, *c2, *end;
	enum insitu_status st;
	double score;

	if (strlen(spec) >= sizeof buf) {
		snprintf(err, errlen, "metric '%.40s...' is too long", spec);
		return -1;
	}
	strcpy(buf, spec);
	c1 = strchr(buf, ':');
	if (!c1) {
		snprintf(err, errlen, "metric '%s': expected NAME:STATUS[:SCORE], e.g. cpu:u:30", spec);
		return -1;
	}
	*c1++ = '\0';
	c2 = strchr(c1, ':');
	if (c2)
		*c2++ = '\0';
	if (!insitu_name_valid(buf, INSITU_METRIC_NAME_MAX)) {
		snprintf(err, errlen, "metric '%s': name must be 1-%d bytes without spaces", spec,
			 INSITU_METRIC_NAME_MAX - 1);
		return -1;
	}
	st = insitu_status_parse(c1);
	if (st == INSITU_INVALID) {
		snprintf(err, errlen,
			 "metric '%s': unknown status '%s' (expected n h p m u d dd or NA HEALTHY "
			 "PENDING MAYBE_UNHEALTHY UNHEALTHY DYING DEAD)", spec, c1);
		return -1;
	}
	if (c2) {
		errno = 0;
		score = strtod(c2, &end);
		if (!*c2 || *end || errno || !isfinite(score)) {
			snprintf(err, errlen, "metric '%s': score '%s' is not a number", spec, c2);
			return -1;
		}
	} else {
		score = st == INSITU_HEALTHY ? 100.0 : 0.0;
	}
	snprintf(out->name, sizeof out->name, "%s", buf);
	out->value.status = st;
	out->value.score = score;
	return 0;
}

cJSON *insitu_value_to_json(const struct insitu_value *v)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "status", insitu_status_name(v->status));
	cJSON_AddNumberToObject(o, "score", v->score);
	return o;
}

cJSON *insitu_obs_metrics_to_json(const struct insitu_observation *o)
{
	cJSON *a = cJSON_CreateArray();

	for (unsigned i = 0; i < o->n_metrics; i++) {
		cJSON *m = cJSON_CreateObject();
		cJSON_AddStringToObject(m, "name", o->metrics[i].name);
		cJSON_AddStringToObject(m, "status", insitu_status_name(o->metrics[i].value.status));
		cJSON_AddNumberToObject(m, "score", o->metrics[i].value.score);
		cJSON_AddItemToArray(a, m);
	}
	return a;
}

cJSON *insitu_report_to_json(const struct insitu_report *r)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "observer", r->observer);
	cJSON_AddStringToObject(o, "subject", r->subject);
	cJSON_AddNumberToObject(o, "ts_us", (double)r->obs.ts_us);
	cJSON_AddItemToObject(o, "metrics", insitu_obs_metrics_to_json(&r->obs));
	return o;
}

static int get_name(const cJSON *j, const char *field, char *dst, size_t max, const char *dflt,
		    char *err, size_t errlen)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, field);
	const char *s;

	if (!v && dflt) {
		s = dflt;
	} else if (!cJSON_IsString(v)) {
		snprintf(err, errlen, "\"%s\": expected a string", field);
		return -1;
	} else {
		s = v->valuestring;
	}
	if (!insitu_name_valid(s, max)) {
		snprintf(err, errlen, "\"%s\": must be 1-%zu bytes without spaces or control characters",
			 field, max - 1);
		return -1;
	}
	memcpy(dst, s, strlen(s) + 1); /* insitu_name_valid bounded it by max */
	return 0;
}

int insitu_report_from_json(const cJSON *j, const char *default_observer, struct insitu_report *r,
			    char *err, size_t errlen)
{
	const cJSON *ts, *ms, *m;
	unsigned i = 0;

	memset(r, 0, sizeof *r);
	if (!cJSON_IsObject(j)) {
		snprintf(err, errlen, "report: expected an object");
		return -1;
	}
	if (default_observer && !*default_observer)
		default_observer = NULL;
	if (get_name(j, "observer", r->observer, sizeof r->observer, default_observer, err, errlen) ||
	    get_name(j, "subject", r->subject, sizeof r->subject, NULL, err, errlen))
		return -1;
	ts = cJSON_GetObjectItemCaseSensitive(j, "ts_us");
	if (ts && !cJSON_IsNull(ts)) {
		if (!cJSON_IsNumber(ts) || ts->valuedouble < 0 || ts->valuedouble > 9007199254740992.0 ||
		    ts->valuedouble != floor(ts->valuedouble)) {
			snprintf(err, errlen, "\"ts_us\": expected a non-negative integer (microseconds)");
			return -1;
		}
		r->obs.ts_us = (uint64_t)ts->valuedouble;
	}
	ms = cJSON_GetObjectItemCaseSensitive(j, "metrics");
	if (!cJSON_IsArray(ms) || cJSON_GetArraySize(ms) < 1) {
		snprintf(err, errlen, "\"metrics\": expected a non-empty array");
		return -1;
	}
	cJSON_ArrayForEach(m, ms) {
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(m, "name");
		const cJSON *st = cJSON_GetObjectItemCaseSensitive(m, "status");
		const cJSON *sc = cJSON_GetObjectItemCaseSensitive(m, "score");
		enum insitu_status s;

		if (i++ >= INSITU_METRICS_MAX * 4) {
			snprintf(err, errlen, "\"metrics\": too many entries");
			return -1;
		}
		if (!cJSON_IsString(name) || !insitu_name_valid(name->valuestring, INSITU_METRIC_NAME_MAX)) {
			snprintf(err, errlen, "metrics[%u].name: expected a string of 1-%d bytes without spaces",
				 i - 1, INSITU_METRIC_NAME_MAX - 1);
			return -1;
		}
		s = cJSON_IsString(st) ? insitu_status_parse(st->valuestring) : INSITU_INVALID;
		if (s == INSITU_INVALID) {
			snprintf(err, errlen, "metrics[%u].status: expected one of NA HEALTHY PENDING "
				 "MAYBE_UNHEALTHY UNHEALTHY DYING DEAD (or n h p m u d dd)", i - 1);
			return -1;
		}
		if (!cJSON_IsNumber(sc) || !isfinite(sc->valuedouble)) {
			snprintf(err, errlen, "metrics[%u].score: expected a finite number", i - 1);
			return -1;
		}
		if (insitu_obs_set(&r->obs, name->valuestring, s, sc->valuedouble)) {
			snprintf(err, errlen, "\"metrics\": more than %d distinct metrics", INSITU_METRICS_MAX);
			return -1;
		}
	}
	return 0;
}

/* --- a direct JSON writer (no cJSON tree): the hot path of clients that submit many
 * reports.  Names cannot hold control characters (insitu_name_valid) but may hold
 * quotes or backslashes, which are escaped. */

static int put(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
	if (*len + n + 1 > *cap) {
		size_t ncap = *cap ? *cap : 1024;
		char *nb;
		while (ncap < *len + n + 1)
			ncap *= 2;
		nb = realloc(*buf, ncap);
		if (!nb)
			return -1;
		*buf = nb;
		*cap = ncap;
	}
	memcpy(*buf + *len, s, n);
	*len += n;
	(*buf)[*len] = '\0';
	return 0;
}

static int put_str(char **buf, size_t *len, size_t *cap, const char *s)
{
	if (put(buf, len, cap, "\"", 1))
		return -1;
	for (const char *p = s; *p; p++) {
		size_t run = strcspn(p, "\"\\");
		if (run && put(buf, len, cap, p, run))
			return -1;
		p += run;
		if (!*p)
			break;
		if (put(buf, len, cap, *p == '"' ? "\\\"" : "\\\\", 2))
			return -1;
	}
	return put(buf, len, cap, "\"", 1);
}

int insitu_report_append_json(const struct insitu_report *r, int with_observer, char **buf, size_t *len,
			      size_t *cap)
{
	char num[64];
	int n;

	if (put(buf, len, cap, "{", 1))
		return -1;
	if (with_observer && r->observer[0] &&
	    (put(buf, len, cap, "\"observer\":", 11) || put_str(buf, len, cap, r->observer) ||
	     put(buf, len, cap, ",", 1)))
		return -1;
	n = snprintf(num, sizeof num, ",\"ts_us\":%llu,\"metrics\":[", (unsigned long long)r->obs.ts_us);
	if (put(buf, len, cap, "\"subject\":", 10) || put_str(buf, len, cap, r->subject) ||
	    put(buf, len, cap, num, (size_t)n))
		return -1;
	for (unsigned i = 0; i < r->obs.n_metrics; i++) {
		const struct insitu_metric *m = &r->obs.metrics[i];
		if (put(buf, len, cap, i ? ",{\"name\":" : "{\"name\":", i ? 9 : 8) ||
		    put_str(buf, len, cap, m->name))
			return -1;
		n = snprintf(num, sizeof num, ",\"status\":\"%s\",\"score\":%.17g}", insitu_status_name(m->value.status),
			     m->value.score);
		if (put(buf, len, cap, num, (size_t)n))
			return -1;
	}
	return put(buf, len, cap, "]}", 2);
}
