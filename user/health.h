/* Health windows: what callers experienced of their callees, turned into Panorama
 * observations (observer = the calling component, subject = the called one).
 *
 * Evidence comes in as it is found (completed exchanges, requests still waiting,
 * connection failures, resets, retransmits), is accumulated per (observer, subject)
 * pair for one window of event time (default 1 s), and when the window closes every
 * pair that had traffic yields one report.  A pair with no traffic yields nothing:
 * absence of evidence is not health.
 *
 * Each report carries every metric the window has evidence for, healthy ones too:
 * Panorama carries a metric over from older observations when newer ones lack it, so
 * a fault that ended must be answered by a HEALTHY value of the same metric, or the
 * old verdict would outlive it.
 *
 *   latency     a high percentile of the exchanges' own latency (time in linked
 *               children removed: p90 from 20 samples, p75 from 5, else the median,
 *               and never beyond MAYBE_UNHEALTHY on fewer than 3) against a learned
 *               baseline and an optional objective.  A window in which most pairs
 *               turn slow at once is the observing host stalling (CPU starvation),
 *               not every component failing together: latency is left out of that
 *               window's reports and the stall is counted
 *   errors      share of exchanges with a failed outcome (per the semantics)
 *   timeouts    PENDING while requests wait past the expected time, UNHEALTHY once
 *               one waits past the timeout
 *   connect     refused -> DEAD, connect timeouts and resets -> UNHEALTHY
 *   retransmits TCP retransmissions -> MAYBE_UNHEALTHY past a threshold
 *
 * Names are interned strings (names.h) compared by pointer.  Time is the events'
 * CLOCK_MONOTONIC time, so a replay judges exactly as the live run did.  The pair
 * table is bounded; pairs beyond it are counted and their evidence dropped. */
#ifndef INSITU_HEALTH_H
#define INSITU_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "report.h"

struct health_cfg {
	uint64_t window_ns;        /* report period (1 s) */
	uint64_t latency_floor_ns; /* latencies below this are never "slow" (20 ms) */
	double maybe_ratio;        /* p90 / baseline at which latency is MAYBE_UNHEALTHY (3) */
	double unhealthy_ratio;    /* ... and UNHEALTHY (10) */
	uint64_t objective_ns;     /* p90 above this is UNHEALTHY whatever the baseline (0: none) */
	uint32_t learn_windows;    /* healthy windows before the baseline is trusted (3) */
	double error_maybe;        /* failed share at which errors are MAYBE_UNHEALTHY (0.05) */
	double error_unhealthy;    /* ... and UNHEALTHY (0.20) */
	uint32_t error_min_failed; /* fewer failed exchanges in a window are never
				      MAYBE_UNHEALTHY: one failure among many is noise (2) */
	uint64_t expected_ns;      /* a request waiting this long makes timeouts PENDING (300 ms) */
	uint64_t timeout_ns;       /* ... and this long UNHEALTHY (1 s) */
	uint32_t retrans_maybe;    /* retransmits in a window that make it MAYBE_UNHEALTHY (3) */
	uint32_t max_pairs;        /* (observer, subject) pairs tracked (4096) */
	uint32_t stall_min_pairs;  /* host stall: at least this many pairs slow at once (3) ... */
	double stall_share;        /* ... and at least this share of the pairs with latency (2/3) */
	/* The percentile judged: pct_high from pct_high_min samples, pct_low from
	 * pct_low_min, else the median; below min_samples never beyond MAYBE_UNHEALTHY. */
	uint32_t pct_high, pct_high_min;  /* 90, 20 */
	uint32_t pct_low, pct_low_min;    /* 75, 5 */
	uint32_t min_samples;             /* 3 */
	uint64_t warmup_ns;        /* evidence about servers known only by address held
				      back this long after the first event (5 s; health_sink) */
};

enum health_signal {
	HEALTH_SIG_REFUSED = 1,     /* connect refused: nobody listens */
	HEALTH_SIG_CONNECT_TIMEOUT, /* connect timed out or the host is unreachable */
	HEALTH_SIG_RESET,           /* the subject reset an established connection */
	HEALTH_SIG_RETRANSMIT,      /* a TCP segment to the subject was retransmitted */
};

enum health_outcome { HEALTH_OK = 0, HEALTH_FAILED = 1, HEALTH_TIMED_OUT = 2 };

struct health_stats {
	uint64_t exchanges, failed, timed_out, waiting, signals;
	uint64_t windows, reports;
	uint64_t host_stalls;   /* windows in which most pairs were slow at once (not blamed) */
	uint64_t pairs_dropped; /* evidence dropped: pair table full */
	uint64_t stale;         /* exchanges dated before the previous window: not counted */
	uint32_t pairs;         /* pairs tracked now */
};

/* Called for each report when a window closes (the report is reused afterwards). */
typedef void (*health_emit_fn)(const struct insitu_report *r, void *arg);

struct health;

void health_cfg_defaults(struct health_cfg *cfg);

/* Operator settings (user/health_cfg.c), by key, e.g. "latency_floor=50ms",
 * "error_maybe=10%", "latency_objective=none".  Each returns 0, or -1 with what is
 * wrong in err ("FILE:LINE:COL: key: why" for files).  A file has one "key = value"
 * per line, '#' starts a comment.  health_cfg_check() then checks the settings
 * against each other (maybe below unhealthy, pending_after below timeout, ...). */
int health_cfg_set(struct health_cfg *cfg, const char *key_eq_value, char *err, size_t errlen);
int health_cfg_parse(struct health_cfg *cfg, const char *text, size_t len, const char *path,
		     char *err, size_t errlen);
int health_cfg_load(struct health_cfg *cfg, const char *path, char *err, size_t errlen);
int health_cfg_check(const struct health_cfg *cfg, char *err, size_t errlen);
void health_cfg_print_keys(FILE *out); /* one line per key: name, meaning, default */
void health_cfg_print(const struct health_cfg *cfg, FILE *out); /* as a file would say it */
struct health *health_new(const struct health_cfg *cfg, health_emit_fn emit, void *arg);
void health_free(struct health *h);

/* One completed exchange: its own latency (children excluded) and outcome.  t is
 * the event time at which it completed (a timeout: when it became one); one dated
 * before the previous window is stale (counted, not judged).  latency_ns HEALTH_NO_LATENCY: an exchange
 * that counts (errors, timeouts) but says nothing about its latency (it ended
 * unanswered, and not by its own fault). */
#define HEALTH_NO_LATENCY UINT64_MAX
void health_exchange(struct health *h, const char *observer, const char *subject, uint64_t t,
		     uint64_t latency_ns, enum health_outcome outcome);

/* A request of observer to subject still waiting after age_ns (at time t).  Call it
 * for each waiting request from the health_on_close() callback. */
void health_waiting(struct health *h, const char *observer, const char *subject, uint64_t t,
		    uint64_t age_ns);

void health_signal(struct health *h, const char *observer, const char *subject, uint64_t t,
		   enum health_signal sig);

/* Advances event time: closes the current window when now passes its end, emitting
 * one report per pair with evidence.  Returns the number of reports emitted. */
unsigned health_tick(struct health *h, uint64_t now);

/* True when the next health_tick(now) would close a window. */
bool health_window_due(const struct health *h, uint64_t now);

/* Called as each window closes, before it is judged: the moment to feed
 * health_waiting() for the requests still outstanding.  Windows close from
 * health_tick() or from evidence dated past the window's end, whichever comes
 * first, so this is the one place that sees every close (live and replay alike). */
typedef void (*health_close_fn)(void *arg);
void health_on_close(struct health *h, health_close_fn fn, void *arg);

const struct health_stats *health_stats(const struct health *h);
uint64_t health_cfg_window(const struct health *h);
const struct health_cfg *health_cfg_of(const struct health *h);

/* The pure judgement of one metric, exposed for tests and documentation.
 * baseline_ns 0 = not learned yet. */
struct insitu_value health_judge_latency(const struct health_cfg *cfg, uint64_t p90_ns,
					 uint64_t baseline_ns);
struct insitu_value health_judge_errors(const struct health_cfg *cfg, uint64_t failed,
					uint64_t total);

#endif
