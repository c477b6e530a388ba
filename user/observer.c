/* insitu-observer: command line, set-up and the main loop.  The capture itself is
 * in bpf/observer.bpf.c, loading in observer_loader.c, the hot path in
 * observer_consumer.c and observer_pipeline.c, outputs in observer_dump.c and
 * observer_record.c. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileutil.h"
#include "log.h"
#include "observer_consumer.h"
#include "observer_dump.h"
#include "observer_loader.h"
#include "observer_stages.h"
#include "privdrop.h"
#include "sandbox.h"
#include "observer_record.h"
#include "timeutil.h"

static const char usage[] =
"Usage: insitu-observer [OPTION]...\n"
"       insitu-observer --replay FILE [--dump] [--stats]\n"
"\n"
"Capture, with eBPF, every message sent or received on the host's TCP and UDP\n"
"sockets (IPv4 and IPv6, every network namespace), with connection lifecycle\n"
"events (connect, accept, close, failed connects, resets, retransmits).  Needs\n"
"root and a kernel with BTF.  Runs until SIGINT/SIGTERM or --duration.\n"
"\n"
"Output (any combination; with none, events are only counted):\n"
"  -d, --dump             one JSON object per event on stdout (docs/events.md)\n"
"  -o, --output FILE      write --dump to FILE instead of stdout\n"
"  -s, --stats            print counters at exit (stderr when --dump uses stdout)\n"
"      --interval SEC     with --stats, also print them every SEC seconds\n"
"      --json             counters as one JSON object instead of name/value lines\n"
"  -w, --record FILE      write the raw event stream to FILE (zstd), for --replay\n"
"  -r, --replay FILE      read events from a --record file instead of the kernel and\n"
"                         feed them to the same outputs (no root needed)\n"
"\n"
"Filters (enforced in the kernel; repeat an option to allow several values):\n"
"  -p, --port PORT        only sockets whose local or remote port is PORT\n"
"      --pid PID          only this process\n"
"      --comm NAME        only threads named NAME (as in /proc/PID/comm)\n"
"      --cgroup PATH      only threads in this cgroup v2 directory\n"
"      --netns PATH|INUM  only sockets of this network namespace (/run/netns/NAME,\n"
"                         /proc/PID/ns/net, or its inode number)\n"
"  The observer never traces itself.\n"
"\n"
"Capture:\n"
"  -c, --capture BYTES    payload prefix kept per message (default 512, max 4096)\n"
"      --payload MODE     full (default): every message carries its payload prefix;\n"
"                         ids: a message whose type's ids and outcome all compile\n"
"                         into the kernel (insitu-semantics kernel) carries only\n"
"                         its ids block, no payload bytes (the capture is still\n"
"                         read in the kernel to extract them).  Other messages\n"
"                         keep the prefix; a warning lists their types.  TCP: one\n"
"                         message per syscall (docs/events.md).  Needs semantics.\n"
"      --ring-kb KB       ring buffer size, power of two (default 8192)\n"
"      --wake-kb KB       wake the reader each time this much more is queued\n"
"                         (default 512; it also reads after every quiet poll)\n"
"      --poll-ms MS       longest wait before reading queued events (default 100)\n"
"      --mode MODE        auto (default), tp_btf or raw_tp hooks\n"
"      --no-lifecycle     do not attach the TCP state/reset/retransmit tracepoints\n"
"      --duration SEC     stop after SEC seconds\n"
"      --throttle-ms MS   sleep MS after each read (testing ring-buffer overflow)\n"
"      --no-sandbox       after attach, do not enter the seccomp allow-list (on by\n"
"                         default: other system calls fail with EPERM; SECURITY.md)\n"
"\n"
STAGES_USAGE
"\n"
"  -v, --verbose          more messages (twice: libbpf's own log)\n"
"  -q, --quiet            errors only\n"
"  -h, --help             this text\n"
"\n"
"Kernel counters (--stats): msg_events, conn_events, ringbuf_drops (events lost\n"
"because the ring buffer was full), truncated, filtered, stash_miss, copy_fail,\n"
"mmsg_cut, iov_cut, ids_only/ids_kept (--payload=ids: messages sent without /\n"
"with their payload), bpf_run_ns/bpf_run_cnt (time in our programs, counted while\n"
"sysctl kernel.bpf_stats_enabled=1); user-space: records, invalid, dump/record\n"
"errors.\n"
"\n"
"Exit status: 0 on success, 1 on a runtime error, 2 on a usage error.\n"
"Examples:\n"
"  insitu-observer --dump --port 6379            # redis traffic as JSON lines\n"
"  insitu-observer --record /tmp/ev.zst --duration 10 --stats\n"
"  insitu-observer --replay /tmp/ev.zst --dump | jq .\n";

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int parse_u64(const char *opt, const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v > max) {
		log_error("%s: invalid value '%s': expected a number 0..%" PRIu64, opt, s, max);
		return -1;
	}
	*out = v;
	return 0;
}

static int parse_netns(const char *s, uint32_t *inum)
{
	struct stat st;
	uint64_t v;

	if (s[0] >= '0' && s[0] <= '9' && !strchr(s, '/')) {
		if (parse_u64("--netns", s, UINT32_MAX, &v))
			return -1;
		*inum = v;
		return 0;
	}
	if (!strchr(s, '/')) { /* a name as given to ip netns */
		char path[300];
		snprintf(path, sizeof(path), "/run/netns/%s", s);
		return parse_netns(path, inum);
	}
	if (stat(s, &st)) {
		log_error("--netns %s: %s", s, strerror(errno));
		return -1;
	}
	*inum = st.st_ino;
	return 0;
}

struct run {
	struct observer_opts opts;
	int dump, stats, json, interval, duration, poll_ms, throttle_ms, no_sandbox;
	const char *record, *replay, *output;
	FILE *out;
	struct obs_pipeline pipe;
	struct obs_dump dump_st;
	struct obs_sink dump_sink, rec_sink;
	struct obs_recorder rec;
	int recording;
	struct stages_opts stg;
	struct stages *stages; /* semantics, linker, health: NULL when none asked for */
};

static void print_stats(struct run *r, struct observer *o, FILE *out)
{
	uint64_t k[INSITU_CNT_MAX] = {0};
	const struct obs_pipeline_stats *s = &r->pipe.st;
	int have_k = o && observer_counters(o, k) == 0;

	uint64_t run_ns = 0, run_cnt = 0;

	if (o)
		observer_prog_stats(o, &run_ns, &run_cnt);
	if (r->json) {
		fputc('{', out);
		if (have_k) {
			for (int i = 0; i < INSITU_CNT_MAX; i++)
				fprintf(out, "\"%s\":%" PRIu64 ",", observer_counter_names[i], k[i]);
			fprintf(out, "\"bpf_run_ns\":%" PRIu64 ",\"bpf_run_cnt\":%" PRIu64 ",", run_ns,
				run_cnt);
		}
		fprintf(out,
			"\"records\":%" PRIu64 ",\"msgs\":%" PRIu64 ",\"conns\":%" PRIu64
			",\"bytes\":%" PRIu64 ",\"invalid\":%" PRIu64 ",\"unknown\":%" PRIu64
			",\"dump_errors\":%" PRIu64 ",\"record_errors\":%" PRIu64 "}\n",
			s->records, s->msgs, s->conns, s->bytes, s->invalid, s->unknown,
			r->dump_st.write_errors, r->rec.errors);
	} else {
		if (have_k) {
			for (int i = 0; i < INSITU_CNT_MAX; i++)
				fprintf(out, "%-16s %" PRIu64 "\n", observer_counter_names[i], k[i]);
			fprintf(out, "%-16s %" PRIu64 "\n%-16s %" PRIu64 "\n", "bpf_run_ns", run_ns,
				"bpf_run_cnt", run_cnt);
		}
		fprintf(out,
			"%-16s %" PRIu64 "\n%-16s %" PRIu64 "\n%-16s %" PRIu64 "\n%-16s %" PRIu64
			"\n%-16s %" PRIu64 "\n%-16s %" PRIu64 "\n",
			"records", s->records, "msgs", s->msgs, "conns", s->conns, "invalid",
			s->invalid, "dump_errors", r->dump_st.write_errors, "record_errors",
			r->rec.errors);
	}
	fflush(out);
}

static int parse_args(struct run *r, int argc, char **argv)
{
	enum { O_PID = 256, O_COMM, O_CGROUP, O_NETNS, O_RING, O_WAKE, O_POLL, O_MODE, O_NOLIFE,
	       O_DUR, O_THROTTLE, O_INTERVAL, O_JSON, O_PAYLOAD, O_NOSANDBOX };
	static const struct option lo[] = {
		{"dump", no_argument, 0, 'd'},        {"output", required_argument, 0, 'o'},        {"stats", no_argument, 0, 's'},
		{"record", required_argument, 0, 'w'}, {"replay", required_argument, 0, 'r'},
		{"port", required_argument, 0, 'p'},  {"pid", required_argument, 0, O_PID},
		{"comm", required_argument, 0, O_COMM}, {"cgroup", required_argument, 0, O_CGROUP},
		{"netns", required_argument, 0, O_NETNS}, {"capture", required_argument, 0, 'c'},
		{"ring-kb", required_argument, 0, O_RING}, {"wake-kb", required_argument, 0, O_WAKE},
		{"poll-ms", required_argument, 0, O_POLL}, {"mode", required_argument, 0, O_MODE},
		{"no-lifecycle", no_argument, 0, O_NOLIFE},
		{"duration", required_argument, 0, O_DUR},
		{"throttle-ms", required_argument, 0, O_THROTTLE},
		{"interval", required_argument, 0, O_INTERVAL}, {"json", no_argument, 0, O_JSON},
		{"payload", required_argument, 0, O_PAYLOAD},
		{"no-sandbox", no_argument, 0, O_NOSANDBOX},
		{"verbose", no_argument, 0, 'v'},     {"quiet", no_argument, 0, 'q'},
		{"help", no_argument, 0, 'h'},        STAGES_LONG_OPTIONS,
		{0, 0, 0, 0},
	};
	struct observer_opts *op = &r->opts;
	int c, verbose = 0;
	uint64_t v;
	struct stat st;

	while ((c = getopt_long(argc, argv, "dso:w:r:p:c:vqh", lo, NULL)) != -1) {
		switch (c) {
		case 'd': r->dump = 1; break;
		case O_PAYLOAD:
			if (!strcmp(optarg, "ids")) {
				r->stg.ids_only = true;
			} else if (!strcmp(optarg, "full")) {
				r->stg.ids_only = false;
			} else {
				log_error("--payload %s: expected full or ids", optarg);
				return -1;
			}
			break;
		case 'o': r->output = optarg; break;
		case 's': r->stats = 1; break;
		case 'w': r->record = optarg; break;
		case 'r': r->replay = optarg; break;
		case 'p':
			if (parse_u64("--port", optarg, 65535, &v))
				return -1;
			if (op->nports == OBS_MAX_FILTER) {
				log_error("--port: at most %d", OBS_MAX_FILTER);
				return -1;
			}
			op->ports[op->nports++] = v;
			break;
		case O_PID:
			if (parse_u64("--pid", optarg, UINT32_MAX, &v))
				return -1;
			if (op->npids == OBS_MAX_FILTER) {
				log_error("--pid: at most %d", OBS_MAX_FILTER);
				return -1;
			}
			op->pids[op->npids++] = v;
			break;
		case O_COMM:
			if (strlen(optarg) >= INSITU_COMM_LEN || op->ncomms == OBS_MAX_FILTER) {
				log_error("--comm %s: names have at most 15 characters, at most %d names",
					  optarg, OBS_MAX_FILTER);
				return -1;
			}
			strncpy(op->comms[op->ncomms++], optarg, INSITU_COMM_LEN - 1);
			break;
		case O_CGROUP:
			if (stat(optarg, &st) || !S_ISDIR(st.st_mode)) {
				log_error("--cgroup %s: not a cgroup v2 directory", optarg);
				return -1;
			}
			op->cgroup = st.st_ino;
			break;
		case O_NETNS:
			if (op->nnetns == OBS_MAX_FILTER) {
				log_error("--netns: at most %d", OBS_MAX_FILTER);
				return -1;
			}
			if (parse_netns(optarg, &op->netns[op->nnetns]))
				return -1;
			op->nnetns++;
			break;
		case 'c':
			if (parse_u64("--capture", optarg, INSITU_PAYLOAD_MAX, &v))
				return -1;
			op->capture = v;
			break;
		case O_RING:
			if (parse_u64("--ring-kb", optarg, 1 << 20, &v))
				return -1;
			op->ring_kb = v;
			break;
		case O_WAKE:
			if (parse_u64("--wake-kb", optarg, 1 << 20, &v))
				return -1;
			op->wake_kb = v;
			break;
		case O_POLL:
			if (parse_u64("--poll-ms", optarg, 10000, &v))
				return -1;
			r->poll_ms = v;
			break;
		case O_MODE:
			if (!strcmp(optarg, "auto"))
				op->mode = OBS_MODE_AUTO;
			else if (!strcmp(optarg, "tp_btf"))
				op->mode = OBS_MODE_TP_BTF;
			else if (!strcmp(optarg, "raw_tp"))
				op->mode = OBS_MODE_RAW_TP;
			else {
				log_error("--mode %s: expected auto, tp_btf or raw_tp", optarg);
				return -1;
			}
			break;
		case O_NOLIFE: op->no_lifecycle = true; break;
		case O_DUR:
			if (parse_u64("--duration", optarg, 86400 * 365, &v))
				return -1;
			r->duration = v;
			break;
		case O_THROTTLE:
			if (parse_u64("--throttle-ms", optarg, 10000, &v))
				return -1;
			r->throttle_ms = v;
			break;
		case O_INTERVAL:
			if (parse_u64("--interval", optarg, 86400, &v))
				return -1;
			r->interval = v;
			break;
		case O_JSON: r->json = 1; break;
		case O_NOSANDBOX: r->no_sandbox = 1; break;
		case 'v': verbose++; break;
		case 'q': log_set_level(LOG_ERROR); break;
		case 'h': fputs(usage, stdout); exit(0);
		default:
			if (c >= STG_FIRST && c < STG_LAST) {
				if (stages_parse_opt(&r->stg, c, optarg))
					return -1;
				break;
			}
			fputs("Try 'insitu-observer --help'.\n", stderr);
			return -1;
		}
	}
	if (optind < argc) {
		log_error("unexpected argument '%s' (try --help)", argv[optind]);
		return -1;
	}
	if (verbose)
		log_set_level(verbose > 1 ? LOG_DEBUG : LOG_INFO);
	if (r->output && !r->dump) {
		log_error("--output is where --dump writes: add --dump");
		return -1;
	}
	if (r->stg.ids_only && !r->replay && !stages_wanted(&r->stg)) {
		log_error("--payload=ids: the kernel's id rules come from semantics: add --semantics "
			  "PATH (e.g. the shipped semantics/ directory), --paths or --health");
		return -1;
	}
	if (r->replay && r->record) {
		log_error("--replay and --record together: nothing would be new in the copy");
		return -1;
	}
	return 0;
}

static int setup_outputs(struct run *r)
{
	char err[512];

	r->out = stdout;
	if (r->output) {
		r->out = fopen_private(r->output, "w"); /* payload bytes: owner only */
		if (!r->out) {
			log_error("%s: cannot create: %s", r->output, strerror(errno));
			return -1;
		}
	}
	if (r->dump) {
		static char outbuf[1 << 20];
		setvbuf(r->out, outbuf, _IOFBF, sizeof(outbuf));
		obs_dump_init(&r->dump_st, r->out, &r->dump_sink);
		obs_pipeline_add(&r->pipe, &r->dump_sink);
	}
	if (r->record) {
		if (obs_recorder_open(&r->rec, r->record, 1, err, sizeof(err))) {
			log_error("%s", err);
			return -1;
		}
		r->recording = 1;
		obs_recorder_sink(&r->rec, &r->rec_sink);
		obs_pipeline_add(&r->pipe, &r->rec_sink);
	}
	return 0;
}

static int finish_outputs(struct run *r, struct observer *o)
{
	int rc = 0;

	if (r->recording && obs_recorder_close(&r->rec)) {
		log_error("%s: writing failed (disk full?)", r->record);
		rc = 1;
	}
	if (r->dump && fflush(r->out)) {
		log_error("%s: writing failed", r->output ? r->output : "stdout");
		rc = 1;
	}
	if (r->stages)
		stages_finish(r->stages);
	if (r->stats) {
		FILE *so = r->dump && r->out == stdout ? stderr : stdout;
		print_stats(r, o, so);
		if (r->stages)
			stages_print_stats(r->stages, so, r->json);
	}
	if (r->output && r->out)
		fclose(r->out);
	r->out = NULL;
	return rc;
}

static void add_port(void *arg, uint16_t port)
{
	if (observer_add_port(arg, port))
		log_warn("port %u: the kernel port filter is full", port);
}

/* The later stages, before the observer is opened: they decide the port filter. */
static int setup_stages(struct run *r, int live)
{
	if (!stages_wanted(&r->stg))
		return 0;
	r->stages = stages_new(&r->stg, &r->pipe, live);
	if (!r->stages)
		return -1;
	if (live && !r->opts.nports && !r->stg.all_ports)
		r->opts.port_filter = true;
	return 0;
}

static int do_replay(struct run *r)
{
	struct obs_reader rd;
	long n;
	int rc;

	if (obs_reader_open(&rd, r->replay)) {
		log_error("%s", rd.err);
		obs_reader_close(&rd);
		return 1;
	}
	if (setup_stages(r, 0) || setup_outputs(r)) {
		obs_reader_close(&rd);
		return 1;
	}
	n = obs_replay(&rd, &r->pipe);
	if (n < 0)
		log_error("%s (after %" PRIu64 " good records)", rd.err, r->pipe.st.records);
	obs_reader_close(&rd);
	rc = finish_outputs(r, NULL);
	stages_free(r->stages);
	r->stages = NULL;
	return n < 0 ? 1 : rc;
}

static int do_live(struct run *r)
{
	char err[1024];
	struct observer *o;
	struct obs_consumer cons;
	uint64_t t_end, t_stats;
	int rc = 1;

	if (setup_stages(r, 1))
		return 1;
	o = observer_open(&r->opts, err, sizeof(err));
	if (!o) {
		log_error("%s", err);
		return 1;
	}
	if (observer_load(o, err, sizeof(err))) {
		log_error("%s", err);
		goto out;
	}
	if (r->stages) {
		int np = r->opts.nports ? 0 : stages_ports(r->stages, add_port, o);
		if (np)
			log_info("capturing the %d server port(s) of the semantics (--all-ports: every port)", np);
		if (stages_kernel(r->stages, observer_bpf_object(o)))
			goto out;
	}
	if (setup_outputs(r))
		goto out;
	if (obs_consumer_init(&cons, observer_ringbuf_fd(o), &r->pipe, r->poll_ms) < 0) {
		log_error("cannot read the ring buffer: %s", strerror(errno));
		goto out;
	}
	cons.throttle_ms = r->throttle_ms;
	if (observer_attach(o, err, sizeof(err))) {
		log_error("%s", err);
		obs_consumer_free(&cons);
		goto out;
	}
	log_info("attached (%s mode, capture %u bytes, ring %u KiB)", observer_mode_name(o),
		 r->opts.capture, r->opts.ring_kb);
	/* From here on only descriptors already open are used: parse the host's
	 * traffic with no privilege at all. */
	if (drop_privileges())
		log_warn("could not drop capabilities after attach: %s", strerror(errno));
	else
		log_debug("capabilities dropped");
	if (!r->no_sandbox) { /* and only the system calls the loop below needs */
		if (sandbox_enter(SANDBOX_OBSERVER, err, sizeof err))
			log_info("%s: running without it", err);
		else
			log_debug("seccomp sandbox on: %zu system calls allowed, any other fails with EPERM",
				  sandbox_profile_size(SANDBOX_OBSERVER));
	}
	t_end = r->duration ? mono_ns() + (uint64_t)r->duration * 1000000000ull : 0;
	t_stats = r->interval ? mono_ns() + (uint64_t)r->interval * 1000000000ull : 0;
	while (!stop) {
		int n = obs_consumer_poll(&cons);
		if (n < 0 && n != -EINTR) {
			log_error("reading the ring buffer: %s", strerror(-n));
			break;
		}
		if (t_end && mono_ns() >= t_end)
			break;
		if (t_stats && mono_ns() >= t_stats) {
			print_stats(r, o, r->dump && r->out == stdout ? stderr : stdout);
			t_stats += (uint64_t)r->interval * 1000000000ull;
		}
	}
	obs_consumer_drain(&cons);
	obs_consumer_free(&cons);
	rc = finish_outputs(r, o);
	r->recording = 0;
	log_info("detached");
out:
	if (r->recording)
		obs_recorder_close(&r->rec);
	observer_close(o);
	stages_free(r->stages);
	r->stages = NULL;
	return rc;
}

int main(int argc, char **argv)
{
	static struct run r;
	struct sigaction sa = {.sa_handler = on_signal};

	log_init("insitu-observer", LOG_INFO);
	observer_opts_default(&r.opts);
	r.poll_ms = 100;
	if (parse_args(&r, argc, argv))
		return 2;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	return r.replay ? do_replay(&r) : do_live(&r);
}
