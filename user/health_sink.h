/* The health stage of insitu-observer: request paths and connection signals in,
 * Panorama reports out (to insitud through the reporter, and/or printed as JSON
 * lines with --health).
 *
 * Wiring (insitu-observer):
 *     struct health_sink *hs = health_sink_new(names, &hcfg, reporter, print, live);
 *     linker_opts.on_path = health_sink_path; linker_opts.on_path_arg = hs;
 *     health_sink_set_linker(hs, linker_sink_linker(ls));
 *     obs_pipeline_add(&pipe, health_sink_obs(hs));   // after the linker's sink
 *
 * Attribution (why the right component gets the blame; docs/health.md): a caller
 * waiting for its callee is not the caller's fault.
 *  - a hop's latency is its own: the time its caller spent on its linked children
 *    (until each answered, or was given up) is subtracted, so a slow backend does
 *    not make the proxy in front of it look slow;
 *  - a failed exchange whose children failed (a relayed error, retries of a dead
 *    upstream), or whose caller left while a child was still pending, is the
 *    children's failure, not its own;
 *  - an upstream request given up together with its caller's is abandoned (nobody's
 *    failure); one given up after its server had answered was in flight (not judged);
 *  - a request waiting on a child that is itself waiting, or whose upstream already
 *    failed it once, is not counted as waiting: the innermost one is;
 *  - ECONNREFUSED on a connected UDP socket is the remote end refusing (DEAD). */
#ifndef INSITU_HEALTH_SINK_H
#define INSITU_HEALTH_SINK_H

#include <stdbool.h>
#include <stdio.h>

#include "health.h"
#include "link.h"
#include "names.h"
#include "observer_sink.h"
#include "reporter.h"

struct health_sink_stats {
	uint64_t hops, hops_skipped, signals, owners_unknown, owner_evictions;
	uint64_t held_back; /* evidence about a not-yet-named server during warm-up */
	uint64_t udp_refused; /* ECONNREFUSED on connected UDP sockets (ICMP port unreachable) */
	uint64_t late;        /* hops done over a window before their path was delivered */
};

struct health_sink;

/* reporter and print may each be NULL.  live: time advances with the clock at every
 * flush (else with the events, for replays). */
struct health_sink *health_sink_new(struct names *names, const struct health_cfg *cfg,
				    struct reporter *rep, FILE *print, bool live);
void health_sink_free(struct health_sink *hs);

void health_sink_set_linker(struct health_sink *hs, struct linker *lk);
struct obs_sink *health_sink_obs(struct health_sink *hs);

/* lk_path_fn: one completed request path. */
void health_sink_path(const struct lk_hop *root, void *arg);

/* End of input: closes the last window. */
void health_sink_finish(struct health_sink *hs);

const struct health_sink_stats *health_sink_stats(const struct health_sink *hs);
struct health *health_sink_health(struct health_sink *hs);

#endif
