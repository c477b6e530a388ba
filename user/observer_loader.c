/* Loader: everything between "the user asked to observe" and "events flow".
 * Feature choice is made by trying to load, never by kernel version. */
#include "observer_loader.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "observer.skel.h"

struct observer {
	struct observer_opts opts;
	struct observer_bpf *skel;
	enum obs_mode mode;
	struct bpf_link *links[16];
	int nlinks;
};

const char *const observer_counter_names[INSITU_CNT_MAX] = {
	[INSITU_CNT_MSG] = "msg_events",       [INSITU_CNT_CONN] = "conn_events",
	[INSITU_CNT_DROP] = "ringbuf_drops",   [INSITU_CNT_TRUNC] = "truncated",
	[INSITU_CNT_FILTERED] = "filtered",    [INSITU_CNT_STASH_MISS] = "stash_miss",
	[INSITU_CNT_COPY_FAIL] = "copy_fail",  [INSITU_CNT_MMSG_CUT] = "mmsg_cut",
	[INSITU_CNT_IOV_CUT] = "iov_cut",      [INSITU_CNT_IDS_ONLY] = "ids_only",
	[INSITU_CNT_IDS_KEPT] = "ids_kept",
};

/* libbpf talks a lot, and its verifier dumps are not an error message.  Keep its
 * last warning for our own message; show everything with -v (debug level). */
static char last_libbpf[512];
static char last_verifier[256];

/* Remembers the verifier's verdict: the last non-empty line of a program load log
 * that is not a statistics line ("processed N insns ..."). */
static void note_verifier(const char *log)
{
	const char *p = log, *nl;

	for (; *p; p = nl + 1) {
		size_t n;
		nl = strchr(p, '\n');
		n = nl ? (size_t)(nl - p) : strlen(p);
		if (n && strncmp(p, "processed ", 10) && strncmp(p, "-- END", 6) &&
		    strncmp(p, "verification time", 17) && strncmp(p, "stack depth", 11) &&
		    !(p[0] >= '0' && p[0] <= '9') && p[0] != ';')
			snprintf(last_verifier, sizeof(last_verifier), "%.*s", (int)n, p);
		if (!nl)
			break;
	}
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	static char buf[1 << 20]; /* verifier logs arrive as one message */
	char *p, *nl;
	size_t n;

	vsnprintf(buf, sizeof(buf), fmt, ap);
	if (strstr(buf, "-- BEGIN PROG LOAD LOG --"))
		note_verifier(strstr(buf, "-- BEGIN PROG LOAD LOG --") + 26);
	n = strlen(buf);
	while (n && buf[n - 1] == '\n')
		buf[--n] = '\0';
	if (level == LIBBPF_WARN && n && !strchr(buf, '\n') && strncmp(buf, "libbpf: prog '", 14) != 0)
		snprintf(last_libbpf, sizeof(last_libbpf), "%s", buf);
	if (log_get_level() >= LOG_DEBUG)
		for (p = buf; p && *p; p = nl ? nl + 1 : NULL) {
			nl = strchr(p, '\n');
			log_debug("%.*s", (int)(nl ? nl - p : (long)strlen(p)), p);
		}
	return 0;
}

void observer_opts_default(struct observer_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->capture = INSITU_PAYLOAD_DEFAULT;
	o->ring_kb = 8192;
	o->wake_kb = 512;
}

struct observer *observer_open(const struct observer_opts *opts, char *err, size_t errlen)
{
	struct observer *o;

	libbpf_set_print(libbpf_print);
	if (geteuid() != 0) {
		snprintf(err, errlen, "must run as root: loading BPF programs needs CAP_BPF, "
				      "CAP_PERFMON and CAP_SYS_RESOURCE");
		return NULL;
	}
	if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) {
		snprintf(err, errlen, "this kernel exposes no BTF (/sys/kernel/btf/vmlinux): "
				      "insitu needs a kernel built with CONFIG_DEBUG_INFO_BTF=y");
		return NULL;
	}
	if (opts->capture > INSITU_PAYLOAD_MAX) {
		snprintf(err, errlen, "capture %u bytes: at most %u", opts->capture, INSITU_PAYLOAD_MAX);
		return NULL;
	}
	if (opts->ring_kb < 4 || (opts->ring_kb & (opts->ring_kb - 1))) {
		snprintf(err, errlen, "ring buffer %u KiB: must be a power of two >= 4", opts->ring_kb);
		return NULL;
	}
	o = calloc(1, sizeof(*o));
	if (!o) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	o->opts = *opts;
	return o;
}

static void set_autoload(struct observer_bpf *s, bool btf, bool lifecycle)
{
	bpf_program__set_autoload(s->progs.btf_sys_enter, btf);
	bpf_program__set_autoload(s->progs.btf_sys_exit, btf);
	bpf_program__set_autoload(s->progs.raw_sys_enter, !btf);
	bpf_program__set_autoload(s->progs.raw_sys_exit, !btf);
	bpf_program__set_autoload(s->progs.btf_set_state, btf && lifecycle);
	bpf_program__set_autoload(s->progs.btf_retransmit, btf && lifecycle);
	bpf_program__set_autoload(s->progs.btf_send_reset, btf && lifecycle);
	bpf_program__set_autoload(s->progs.btf_receive_reset, btf && lifecycle);
	bpf_program__set_autoload(s->progs.raw_set_state, !btf && lifecycle);
	bpf_program__set_autoload(s->progs.raw_retransmit, !btf && lifecycle);
	bpf_program__set_autoload(s->progs.raw_send_reset, !btf && lifecycle);
	bpf_program__set_autoload(s->progs.raw_receive_reset, !btf && lifecycle);
}

static int try_load(struct observer *o, enum obs_mode mode)
{
	const struct observer_opts *op = &o->opts;
	struct observer_bpf *s = observer_bpf__open();
	int err;

	if (!s)
		return -errno;
	s->rodata->cfg.self_pid = getpid();
	s->rodata->cfg.capture = op->capture;
	s->rodata->cfg.wake_bytes = op->wake_kb * 1024;
	s->rodata->cfg.filter_ports = op->port_filter || op->nports > 0;
	s->rodata->cfg.filter_pids = op->npids > 0;
	s->rodata->cfg.filter_comms = op->ncomms > 0;
	s->rodata->cfg.filter_netns = op->nnetns > 0;
	s->rodata->cfg.filter_cgroup = op->cgroup != 0;
	s->rodata->cfg.cgroup = op->cgroup;
	bpf_map__set_max_entries(s->maps.events, op->ring_kb * 1024);
	set_autoload(s, mode == OBS_MODE_TP_BTF, !op->no_lifecycle);
	err = observer_bpf__load(s);
	if (err) {
		observer_bpf__destroy(s);
		return err;
	}
	o->skel = s;
	o->mode = mode;
	return 0;
}

static int fill_filters(struct observer *o)
{
	const struct observer_opts *op = &o->opts;
	uint8_t one = 1;
	int i;

	for (i = 0; i < op->nports; i++)
		if (observer_add_port(o, op->ports[i]))
			return -1;
	for (i = 0; i < op->npids; i++)
		if (bpf_map_update_elem(bpf_map__fd(o->skel->maps.pids), &op->pids[i], &one, 0))
			return -1;
	for (i = 0; i < op->ncomms; i++)
		if (bpf_map_update_elem(bpf_map__fd(o->skel->maps.comms), op->comms[i], &one, 0))
			return -1;
	for (i = 0; i < op->nnetns; i++)
		if (bpf_map_update_elem(bpf_map__fd(o->skel->maps.netns), &op->netns[i], &one, 0))
			return -1;
	return 0;
}

int observer_load(struct observer *o, char *err, size_t errlen)
{
	int e_btf = 0, e_raw = 0;

	if (o->opts.mode != OBS_MODE_RAW_TP) {
		e_btf = try_load(o, OBS_MODE_TP_BTF);
		if (e_btf && o->opts.mode == OBS_MODE_AUTO)
			log_info("tp_btf programs refused (%s); falling back to raw_tp",
				 strerror(-e_btf));
	}
	if (!o->skel && o->opts.mode != OBS_MODE_TP_BTF)
		e_raw = try_load(o, OBS_MODE_RAW_TP);
	if (!o->skel) {
		int e = e_raw ? e_raw : e_btf;
		snprintf(err, errlen,
			 "the kernel refused the BPF programs (%s)%s%s%s%s%s", strerror(-e),
			 last_verifier[0] ? "; the verifier said: \"" : "", last_verifier,
			 last_verifier[0] ? "\"" : "",
			 e == -EPERM && !last_verifier[0] ? ": lockdown or missing capabilities (see dmesg)" : "",
			 " (run with -v -v for libbpf's whole log)");
		return -1;
	}
	if (fill_filters(o)) {
		snprintf(err, errlen, "cannot fill the filter maps: %s", strerror(errno));
		return -1;
	}
	return 0;
}

int observer_attach(struct observer *o, char *err, size_t errlen)
{
	struct bpf_program *p;

	bpf_object__for_each_program(p, o->skel->obj) {
		struct bpf_link *l;

		if (!bpf_program__autoload(p))
			continue;
		l = bpf_program__attach(p);
		if (!l) {
			snprintf(err, errlen, "cannot attach %s: %s", bpf_program__section_name(p),
				 strerror(errno));
			return -1;
		}
		if (o->nlinks < (int)(sizeof(o->links) / sizeof(o->links[0])))
			o->links[o->nlinks++] = l;
	}
	return 0;
}

void observer_close(struct observer *o)
{
	if (!o)
		return;
	for (int i = 0; i < o->nlinks; i++)
		bpf_link__destroy(o->links[i]);
	observer_bpf__destroy(o->skel);
	free(o);
}

const char *observer_mode_name(const struct observer *o)
{
	return o->mode == OBS_MODE_TP_BTF ? "tp_btf" : "raw_tp";
}

struct bpf_object *observer_bpf_object(struct observer *o)
{
	return o->skel ? o->skel->obj : NULL;
}

int observer_ringbuf_fd(const struct observer *o)
{
	return bpf_map__fd(o->skel->maps.events);
}

int observer_add_port(struct observer *o, uint16_t port)
{
	uint8_t one = 1;

	if (!o->skel)
		return -1;
	return bpf_map_update_elem(bpf_map__fd(o->skel->maps.ports), &port, &one, 0);
}

int observer_counters(const struct observer *o, uint64_t out[INSITU_CNT_MAX])
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t *vals;

	if (ncpu <= 0)
		return -1;
	vals = calloc(ncpu, sizeof(*vals));
	if (!vals)
		return -1;
	for (uint32_t k = 0; k < INSITU_CNT_MAX; k++) {
		out[k] = 0;
		if (bpf_map_lookup_elem(bpf_map__fd(o->skel->maps.counters), &k, vals))
			continue;
		for (int c = 0; c < ncpu; c++)
			out[k] += vals[c];
	}
	free(vals);
	return 0;
}

int observer_prog_stats(const struct observer *o, uint64_t *run_ns, uint64_t *run_cnt)
{
	struct bpf_program *p;

	*run_ns = *run_cnt = 0;
	bpf_object__for_each_program(p, o->skel->obj) {
		struct bpf_prog_info info;
		uint32_t len = sizeof(info);

		if (!bpf_program__autoload(p))
			continue;
		memset(&info, 0, sizeof(info));
		if (bpf_obj_get_info_by_fd(bpf_program__fd(p), &info, &len))
			return -1;
		*run_ns += info.run_time_ns;
		*run_cnt += info.run_cnt;
	}
	return 0;
}
