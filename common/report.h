/* The report format shared by every insitu program that speaks to insitud: the
 * observer (kernel evidence), logtail (log evidence), the CLI and insitud itself.
 *
 * It is Panorama's data model (see docs/protocol.md):
 *   Value       = {status, score}           score 0-100 by convention, higher = healthier
 *   Metric      = {name, value}
 *   Observation = {timestamp, metrics}
 *   Report      = {observer, subject, observation}
 *
 * Everything is fixed-size and bounded so that a report can live on the stack and a
 * hostile peer cannot make us allocate: names are at most INSITU_NAME_MAX-1 bytes, a
 * report carries at most INSITU_METRICS_MAX metrics.  Timestamps are wall-clock
 * microseconds since the epoch (they cross hosts; microseconds fit exactly in a JSON
 * number, nanoseconds would not). */
#ifndef INSITU_REPORT_H
#define INSITU_REPORT_H

#include <stddef.h>
#include <stdint.h>

struct cJSON;

/* Ordered: the order decides ties in inference (a tie goes to the higher value). */
enum insitu_status {
	INSITU_INVALID = 0,
	INSITU_NA = 1,
	INSITU_HEALTHY = 2,
	INSITU_PENDING = 3,
	INSITU_MAYBE_UNHEALTHY = 4,
	INSITU_UNHEALTHY = 5,
	INSITU_DYING = 6,
	INSITU_DEAD = 7,
};
#define INSITU_STATUS_COUNT 8

#define INSITU_NAME_MAX 128       /* observer / subject names, NUL included */
#define INSITU_METRIC_NAME_MAX 64 /* metric names, NUL included */
#define INSITU_METRICS_MAX 16     /* metrics in one observation */

struct insitu_value {
	enum insitu_status status;
	double score;
};

struct insitu_metric {
	char name[INSITU_METRIC_NAME_MAX];
	struct insitu_value value;
};

struct insitu_observation {
	uint64_t ts_us; /* 0 on submission = "stamp it when accepted" */
	unsigned n_metrics;
	struct insitu_metric metrics[INSITU_METRICS_MAX];
};

struct insitu_report {
	char observer[INSITU_NAME_MAX];
	char subject[INSITU_NAME_MAX];
	struct insitu_observation obs;
};

/* "HEALTHY", "MAYBE_UNHEALTHY", ...; "INVALID" for anything out of range. */
const char *insitu_status_name(enum insitu_status s);
/* One-or-two letter code of the original client: n h p m u d dd ("?" if invalid). */
const char *insitu_status_letter(enum insitu_status s);
/* Accepts the letters (n h p m u d dd) and the full names, case-insensitively, and
 * the forms "maybe-unhealthy"/"maybe_unhealthy".  Returns INSITU_INVALID if unknown. */
enum insitu_status insitu_status_parse(const char *s);

/* A name is valid when it has 1..max-1 bytes and no control characters or spaces. */
int insitu_name_valid(const char *s, size_t max);

/* Adds (or replaces, when a metric of that name exists) one metric.  Returns 0, or -1
 * when the name is invalid, the status is INVALID, the score is not finite, or the
 * observation is full. */
int insitu_obs_set(struct insitu_observation *o, const char *name, enum insitu_status st,
		   double score);

/* Parses the CLI form "metric:status:score" (score optional, default 0 for
 * unhealthy statuses and 100 for HEALTHY).  On error returns -1 and writes a precise
 * message (which part, what was expected) into err. */
int insitu_metric_parse_spec(const char *spec, struct insitu_metric *out, char *err, size_t errlen);

/* JSON: {"observer":"o","subject":"s","ts_us":N,
 *        "metrics":[{"name":"cpu","status":"HEALTHY","score":90}, ...]}
 * report_to_json returns a new cJSON object (caller deletes). */
struct cJSON *insitu_report_to_json(const struct insitu_report *r);
struct cJSON *insitu_value_to_json(const struct insitu_value *v);
struct cJSON *insitu_obs_metrics_to_json(const struct insitu_observation *o);
/* Appends the report's JSON to a growing buffer (*buf may be NULL; realloc'd) without
 * building a cJSON tree: the fast path for clients submitting many reports.  The
 * observer is left out when with_observer is 0 or it is empty.  0 or -1 (memory). */
int insitu_report_append_json(const struct insitu_report *r, int with_observer, char **buf, size_t *len,
			      size_t *cap);
/* Decodes and validates; "observer" may be absent when default_observer is given
 * (the submitting handle's name).  Returns 0, or -1 with a message naming the field. */
int insitu_report_from_json(const struct cJSON *j, const char *default_observer,
			    struct insitu_report *r, char *err, size_t errlen);

#endif
