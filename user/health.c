/* Health windows: accumulation per (observer, subject) pair and the judgement of
 * each metric when a window closes.  See health.h for the rules. */
#include "health.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Latency samples kept per pair and window; beyond this a reservoir keeps a uniform
 * sample, which is all a p90 needs. */
#define LAT_SAMPLES 128
/* A pair silent this many windows is forgotten (its baseline with it). */
#define IDLE_WINDOWS 600

struct pair {
	const char *obs, *subj; /* interned; obs == NULL: free */
	uint32_t next;          /* bucket chain / free list (index + 1, 0 = end) */
	/* this window */
	uint32_t ok, failed, timed_out;
	uint32_t wait_pending, wait_timeout;
	uint32_t refused, conn_timeouts, resets, retrans;
	uint32_t n_lat;
	uint64_t lat_seen;
	uint64_t lat_judged;    /* the percentile judged at this window's close */
	struct insitu_value lat_verdict;
	uint64_t lat[LAT_SAMPLES];
	/* across windows */
	double baseline_ns;
	uint32_t learned;       /* windows that fed the baseline */
	uint64_t last_window;   /* index of the last window with evidence */
};

struct health {
	struct health_cfg cfg;
	health_emit_fn emit;
	void *arg;
	struct pair *pairs;
	uint32_t *buckets;      /* index + 1 of the first pair, 0 = empty */
	uint32_t nbuckets;      /* power of two */
	uint32_t free_head;     /* index + 1 */
	uint32_t used_hwm;      /* pairs ever handed out from the array */
	uint64_t win_end;       /* 0: no window open yet */
	uint64_t win_index;
	uint64_t rng;
	struct health_stats st;
	struct insitu_report rep;
	health_close_fn on_close;
	void *on_close_arg;
	bool closing;
};

void health_cfg_defaults(struct health_cfg *c)
{
	memset(c, 0, sizeof(*c));
	c->window_ns = 1000000000ull;
	c->latency_floor_ns = 20000000ull;
	c->maybe_ratio = 3.0;
	c->unhealthy_ratio = 10.0;
	c->objective_ns = 0;
	c->learn_windows = 3;
	c->error_maybe = 0.05;
	c->error_unhealthy = 0.20;
	c->error_min_failed = 2;
	c->expected_ns = 300000000ull;
	c->timeout_ns = 1000000000ull;
	c->retrans_maybe = 3;
	c->max_pairs = 4096;
	c->stall_min_pairs = 3;
	c->stall_share = 2.0 / 3.0;
	c->pct_high = 90;
	c->pct_high_min = 20;
	c->pct_low = 75;
	c->pct_low_min = 5;
	c->min_samples = 3;
	c->warmup_ns = 5000000000ull;
}

struct health *health_new(const struct health_cfg *cfg, health_emit_fn emit, void *arg)
{
	struct health *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->cfg = *cfg;
	if (h->cfg.window_ns == 0)
		h->cfg.window_ns = 1000000000ull;
	if (h->cfg.max_pairs == 0)
		h->cfg.max_pairs = 1;
	h->emit = emit;
	h->arg = arg;
	h->nbuckets = 16;
	while (h->nbuckets < h->cfg.max_pairs * 2)
		h->nbuckets <<= 1;
	h->pairs = calloc(h->cfg.max_pairs, sizeof(*h->pairs));
	h->buckets = calloc(h->nbuckets, sizeof(*h->buckets));
	h->rng = 0x9e3779b97f4a7c15ull;
	if (!h->pairs || !h->buckets) {
		health_free(h);
		return NULL;
	}
	return h;
}

void health_free(struct health *h)
{
	if (!h)
		return;
	free(h->pairs);
	free(h->buckets);
	free(h);
}

const struct health_stats *health_stats(const struct health *h) { return &h->st; }
uint64_t health_cfg_window(const struct health *h) { return h->cfg.window_ns; }
const struct health_cfg *health_cfg_of(const struct health *h) { return &h->cfg; }

void health_on_close(struct health *h, health_close_fn fn, void *arg)
{
	h->on_close = fn;
	h->on_close_arg = arg;
}

static uint32_t pair_hash(const struct health *h, const char *o, const char *s)
{
	uint64_t x = (uint64_t)(uintptr_t)o * 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)s;
	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 29;
	return (uint32_t)x & (h->nbuckets - 1);
}

static struct pair *pair_get(struct health *h, const char *o, const char *s)
{
	uint32_t b = pair_hash(h, o, s), i;
	struct pair *p;

	for (i = h->buckets[b]; i; i = h->pairs[i - 1].next) {
		p = &h->pairs[i - 1];
		if (p->obs == o && p->subj == s)
			return p;
	}
	if (h->free_head) {
		i = h->free_head;
		h->free_head = h->pairs[i - 1].next;
	} else if (h->used_hwm < h->cfg.max_pairs) {
		i = ++h->used_hwm;
	} else {
		h->st.pairs_dropped++;
		return NULL;
	}
	p = &h->pairs[i - 1];
	memset(p, 0, sizeof(*p));
	p->obs = o;
	p->subj = s;
	p->next = h->buckets[b];
	h->buckets[b] = i;
	h->st.pairs++;
	return p;
}

static void pair_remove(struct health *h, struct pair *p)
{
	uint32_t idx = (uint32_t)(p - h->pairs) + 1;
	uint32_t *link = &h->buckets[pair_hash(h, p->obs, p->subj)];

	while (*link && *link != idx)
		link = &h->pairs[*link - 1].next;
	if (*link)
		*link = p->next;
	p->obs = p->subj = NULL;
	p->next = h->free_head;
	h->free_head = idx;
	h->st.pairs--;
}

static bool pair_active(const struct pair *p)
{
	return p->ok || p->failed || p->timed_out || p->wait_pending || p->wait_timeout ||
	       p->refused || p->conn_timeouts || p->resets || p->retrans;
}

static void pair_reset_window(struct pair *p)
{
	p->ok = p->failed = p->timed_out = 0;
	p->wait_pending = p->wait_timeout = 0;
	p->refused = p->conn_timeouts = p->resets = p->retrans = 0;
	p->n_lat = 0;
	p->lat_seen = 0;
}

static double clamp100(double x) { return x < 0 ? 0 : x > 100 ? 100 : x; }

struct insitu_value health_judge_latency(const struct health_cfg *c, uint64_t p90,
					 uint64_t baseline)
{
	struct insitu_value v = {INSITU_HEALTHY, 100};
	double base, r;

	if (p90 <= c->latency_floor_ns)
		return v;
	if (c->objective_ns && p90 > c->objective_ns) {
		v.status = INSITU_UNHEALTHY;
		v.score = clamp100(100.0 * (double)c->objective_ns / (double)p90 * 0.5);
		return v;
	}
	if (baseline == 0)
		return v; /* nothing to compare with yet */
	base = (double)(baseline > c->latency_floor_ns ? baseline : c->latency_floor_ns);
	r = (double)p90 / base;
	if (r >= c->unhealthy_ratio)
		v.status = INSITU_UNHEALTHY;
	else if (r >= c->maybe_ratio)
		v.status = INSITU_MAYBE_UNHEALTHY;
	/* 100 at the baseline, 50 at 3x, ~18 at 10x, ~2 at 100x: how far off. */
	v.score = clamp100(r <= 1 ? 100 : 200.0 / (r + 1));
	return v;
}

struct insitu_value health_judge_errors(const struct health_cfg *c, uint64_t failed,
					uint64_t total)
{
	struct insitu_value v = {INSITU_HEALTHY, 100};
	double share;

	if (total == 0)
		return v;
	share = (double)failed / (double)total;
	if (share >= c->error_unhealthy)
		v.status = INSITU_UNHEALTHY;
	else if (share >= c->error_maybe && failed >= c->error_min_failed)
		v.status = INSITU_MAYBE_UNHEALTHY;
	v.score = clamp100(100.0 * (1.0 - share));
	return v;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* The percentile judged: high enough to see a tail (loss, a slow replica), not so
 * high that one unlucky exchange decides a sparse window. */
static uint64_t pct_of(const struct pair *p, uint32_t pct)
{
	uint64_t i = ((uint64_t)p->n_lat * pct) / 100;
	return p->lat[i < p->n_lat ? i : p->n_lat - 1];
}

static uint64_t judged_latency(const struct health_cfg *c, struct pair *p)
{
	uint32_t n = p->n_lat;
	qsort(p->lat, n, sizeof(p->lat[0]), cmp_u64);
	if (n >= c->pct_high_min)
		return pct_of(p, c->pct_high);
	if (n >= c->pct_low_min)
		return pct_of(p, c->pct_low);
	return p->lat[n / 2]; /* n >= 1, so every index is < n */
}

/* First pass of a window close: the latency verdict alone, so that the second pass
 * can tell one slow subject from a host where everything stalled at once. */
static bool judge_latency(struct health *h, struct pair *p)
{
	const struct health_cfg *c = &h->cfg;

	if (!p->n_lat)
		return false;
	p->lat_judged = judged_latency(c, p);
	p->lat_verdict = health_judge_latency(c, p->lat_judged,
					      p->learned >= c->learn_windows ? (uint64_t)p->baseline_ns : 0);
	if (p->n_lat < c->min_samples && p->lat_verdict.status > INSITU_MAYBE_UNHEALTHY)
		p->lat_verdict.status = INSITU_MAYBE_UNHEALTHY;
	return p->lat_verdict.status != INSITU_HEALTHY;
}

static void judge_window(struct health *h, struct pair *p, bool stall)
{
	const struct health_cfg *c = &h->cfg;
	struct insitu_observation *o = &h->rep.obs;
	uint64_t completed = (uint64_t)p->ok + p->failed;
	uint64_t waiting = (uint64_t)p->wait_pending + p->wait_timeout;

	memset(&h->rep, 0, sizeof(h->rep));
	/* Names come from names.c, which bounds them below INSITU_NAME_MAX. */
	strncpy(h->rep.observer, p->obs, INSITU_NAME_MAX - 1);
	strncpy(h->rep.subject, p->subj, INSITU_NAME_MAX - 1);

	if (p->n_lat && !stall) {
		insitu_obs_set(o, "latency", p->lat_verdict.status, p->lat_verdict.score);
		/* The baseline learns from windows that look normal; a slow drift is
		 * followed slowly, a fault is not learned as the new normal. */
		if (p->learned < c->learn_windows || p->lat_verdict.status == INSITU_HEALTHY) {
			p->baseline_ns = p->learned ? 0.8 * p->baseline_ns + 0.2 * (double)p->lat_judged
						    : (double)p->lat_judged;
			p->learned++;
		} else if (p->lat_verdict.status == INSITU_MAYBE_UNHEALTHY) {
			p->baseline_ns = 0.98 * p->baseline_ns + 0.02 * (double)p->lat_judged;
		}
	}
	if (completed) {
		struct insitu_value v = health_judge_errors(c, p->failed, completed);
		insitu_obs_set(o, "errors", v.status, v.score);
	}
	if (completed || p->timed_out || waiting) {
		uint64_t all = completed + p->timed_out + waiting;
		if (p->timed_out || p->wait_timeout)
			insitu_obs_set(o, "timeouts", INSITU_UNHEALTHY,
				       clamp100(100.0 * (double)completed / (double)all));
		else if (p->wait_pending)
			insitu_obs_set(o, "timeouts", INSITU_PENDING,
				       clamp100(100.0 * (double)completed / (double)all));
		else
			insitu_obs_set(o, "timeouts", INSITU_HEALTHY, 100);
	}
	if (p->refused)
		insitu_obs_set(o, "connect", INSITU_DEAD, 0);
	else if (p->conn_timeouts || p->resets)
		insitu_obs_set(o, "connect", INSITU_UNHEALTHY,
			       clamp100(100.0 * (double)completed /
					(double)(completed + p->conn_timeouts + p->resets)));
	else if (completed)
		insitu_obs_set(o, "connect", INSITU_HEALTHY, 100);
	if (p->retrans >= c->retrans_maybe)
		insitu_obs_set(o, "retransmits", INSITU_MAYBE_UNHEALTHY,
			       clamp100(100.0 - 10.0 * p->retrans));
	else if (completed || p->retrans)
		insitu_obs_set(o, "retransmits", INSITU_HEALTHY, 100);
}

static unsigned close_window(struct health *h)
{
	unsigned emitted = 0;
	uint32_t i;

	uint32_t with_latency = 0, slow = 0;
	bool stall;

	h->st.windows++;
	if (h->on_close && !h->closing) {
		h->closing = true; /* its health_waiting() calls belong to this window */
		h->on_close(h->on_close_arg);
		h->closing = false;
	}
	for (i = 0; i < h->used_hwm; i++) {
		struct pair *p = &h->pairs[i];
		if (p->obs && p->n_lat) {
			with_latency++;
			slow += judge_latency(h, p);
		}
	}
	stall = slow >= h->cfg.stall_min_pairs && (double)slow >= h->cfg.stall_share * with_latency;
	h->st.host_stalls += stall;
	for (i = 0; i < h->used_hwm; i++) {
		struct pair *p = &h->pairs[i];
		if (!p->obs)
			continue;
		if (pair_active(p)) {
			judge_window(h, p, stall);
			p->last_window = h->win_index;
			if (h->rep.obs.n_metrics) {
				h->emit(&h->rep, h->arg);
				emitted++;
			}
			pair_reset_window(p);
		} else if (h->win_index - p->last_window > IDLE_WINDOWS) {
			pair_remove(h, p);
		}
	}
	h->st.reports += emitted;
	return emitted;
}

bool health_window_due(const struct health *h, uint64_t now)
{
	return h->win_end && now >= h->win_end;
}

/* Opens the window containing t if none is open; closes the current one first when
 * t is past it. */
static unsigned advance(struct health *h, uint64_t t)
{
	unsigned n = 0;

	if (h->win_end && t >= h->win_end) {
		n = close_window(h);
		h->win_end = 0;
	}
	if (!h->win_end) {
		h->win_index = t / h->cfg.window_ns;
		h->win_end = (h->win_index + 1) * h->cfg.window_ns;
	}
	return n;
}

unsigned health_tick(struct health *h, uint64_t now)
{
	if (!health_window_due(h, now))
		return 0;
	return advance(h, now);
}

static struct pair *evidence(struct health *h, const char *o, const char *s, uint64_t t)
{
	if (!o || !s)
		return NULL;
	advance(h, t);
	return pair_get(h, o, s);
}

void health_exchange(struct health *h, const char *observer, const char *subject, uint64_t t,
		     uint64_t latency_ns, enum health_outcome outcome)
{
	struct pair *p;

	/* Evidence about a moment before the previous window belongs to reports already
	 * sent (a request path is delivered once all of it is done, which can be
	 * seconds after a part of it failed): counting it now would date a fault that
	 * is over into windows where everything is fine again. */
	if (h->win_end && t + 2 * h->cfg.window_ns < h->win_end) {
		h->st.stale++;
		return;
	}
	p = evidence(h, observer, subject, t);
	if (!p)
		return;
	h->st.exchanges++;
	if (outcome == HEALTH_TIMED_OUT) {
		h->st.timed_out++;
		p->timed_out++;
		return;
	}
	if (outcome == HEALTH_FAILED) {
		h->st.failed++;
		p->failed++;
	} else {
		p->ok++;
	}
	if (latency_ns == HEALTH_NO_LATENCY)
		return;
	/* Reservoir sampling keeps a uniform sample of this window's latencies. */
	p->lat_seen++;
	if (p->n_lat < LAT_SAMPLES) {
		p->lat[p->n_lat++] = latency_ns;
	} else {
		h->rng = h->rng * 6364136223846793005ull + 1442695040888963407ull;
		uint64_t j = (h->rng >> 33) % p->lat_seen;
		if (j < LAT_SAMPLES)
			p->lat[j] = latency_ns;
	}
}

void health_waiting(struct health *h, const char *observer, const char *subject, uint64_t t,
		    uint64_t age_ns)
{
	struct pair *p;

	if (age_ns < h->cfg.expected_ns || !observer || !subject)
		return;
	/* Fed just before the window closes: belongs to the window still open, even
	 * when t is already past its end. */
	if (!h->win_end)
		advance(h, t);
	p = pair_get(h, observer, subject);
	if (!p)
		return;
	h->st.waiting++;
	if (age_ns >= h->cfg.timeout_ns)
		p->wait_timeout++;
	else
		p->wait_pending++;
}

void health_signal(struct health *h, const char *observer, const char *subject, uint64_t t,
		   enum health_signal sig)
{
	struct pair *p = evidence(h, observer, subject, t);

	if (!p)
		return;
	h->st.signals++;
	switch (sig) {
	case HEALTH_SIG_REFUSED: p->refused++; break;
	case HEALTH_SIG_CONNECT_TIMEOUT: p->conn_timeouts++; break;
	case HEALTH_SIG_RESET: p->resets++; break;
	case HEALTH_SIG_RETRANSMIT: p->retrans++; break;
	}
}
