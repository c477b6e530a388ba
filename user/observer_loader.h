/* Loading the kernel side: open the CO-RE object, configure it, choose the hook
 * flavour by trying (tp_btf, else raw_tp), fill the filter maps, attach.
 *
 * Sequence for callers that plug in more kernel configuration (e.g. the semantics
 * part's rule maps declared in bpf/extract.bpf.h):
 *     o = observer_open(&opts, err, sizeof err);
 *     observer_load(o, err, sizeof err);          // maps exist from here on
 *     map = bpf_object__find_map_by_name(observer_bpf_object(o), "rules");
 *     bpf_map_update_elem(bpf_map__fd(map), ...); observer_add_port(o, 6379);
 *     observer_attach(o, err, sizeof err);
 *     ... poll observer_ringbuf_fd(o) ...
 *     observer_close(o);
 */
#ifndef INSITU_OBSERVER_LOADER_H
#define INSITU_OBSERVER_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../bpf/observer.h"

enum obs_mode { OBS_MODE_AUTO = 0, OBS_MODE_TP_BTF, OBS_MODE_RAW_TP };

#define OBS_MAX_FILTER 64

struct observer_opts {
	uint32_t capture;      /* payload bytes per message (<= INSITU_PAYLOAD_MAX) */
	uint32_t ring_kb;      /* ring buffer size, KiB (power of 2, >= 4) */
	uint32_t wake_kb;      /* wake the consumer when this much is queued */
	enum obs_mode mode;
	bool port_filter;      /* only ports added with observer_add_port (or listed here) */
	uint16_t ports[OBS_MAX_FILTER];
	int nports;
	uint32_t pids[OBS_MAX_FILTER];
	int npids;
	char comms[OBS_MAX_FILTER][INSITU_COMM_LEN];
	int ncomms;
	uint32_t netns[OBS_MAX_FILTER];
	int nnetns;
	uint64_t cgroup;       /* 0: any */
	bool no_lifecycle;     /* do not attach the TCP tracepoints */
};

struct observer;
struct bpf_object;

void observer_opts_default(struct observer_opts *o);

/* Checks the prerequisites (root, BTF) and opens the object; NULL + err on failure. */
struct observer *observer_open(const struct observer_opts *opts, char *err, size_t errlen);
/* Loads the programs, trying tp_btf then raw_tp (or the mode asked for). */
int observer_load(struct observer *o, char *err, size_t errlen);
int observer_attach(struct observer *o, char *err, size_t errlen);
void observer_close(struct observer *o);

const char *observer_mode_name(const struct observer *o);
struct bpf_object *observer_bpf_object(struct observer *o);
int observer_ringbuf_fd(const struct observer *o);
/* After load: add a port to the kernel port filter (only effective when the filter
 * was enabled by opts.port_filter or a port in opts.ports). */
int observer_add_port(struct observer *o, uint16_t port);
/* Sums of the per-CPU kernel counters (enum insitu_counter). */
int observer_counters(const struct observer *o, uint64_t out[INSITU_CNT_MAX]);

/* Run time and run count summed over the attached programs (non-zero only while
 * sysctl kernel.bpf_stats_enabled=1). */
int observer_prog_stats(const struct observer *o, uint64_t *run_ns, uint64_t *run_cnt);

extern const char *const observer_counter_names[INSITU_CNT_MAX];

#endif
