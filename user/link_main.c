/* insitu-link: request paths from a recorded event stream (offline linker).
 *
 * The same stage insitu-observer runs with --paths, over a --record file: useful to
 * replay real traffic through new semantics or linker settings, and for the
 * accuracy harness and the benchmark. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "linker.h"
#include "log.h"
#include "observer_record.h"
#include "timeutil.h"

static const char usage[] =
"usage: insitu-link -r FILE -s SEMANTICS... [options]\n"
"\n"
"Links the messages of a recorded event stream (insitu-observer --record FILE) into\n"
"request paths, with the rules of the Rake linker (docs/paths.md), and prints each\n"
"completed path as one JSON line (default) or as a tree.\n"
"\n"
"  -r, --replay FILE       the record file to read (zstd, docs/events.md); '-' reads\n"
"                          standard input, so a live observer can be piped in:\n"
"                          insitu-observer --record /dev/stdout | insitu-link -r - ...\n"
"  -s, --semantics PATH    a semantics file (JSON), or a directory of *.json files;\n"
"                          repeatable\n"
"      --tree              print paths as indented trees for humans\n"
"      --no-ids            ignore every extracted id (links by connection and\n"
"                          thread only: the baseline the accuracy harness reports)\n"
"      --no-kernel-ids     extract every message's ids in user space, even where the\n"
"                          recording holds the kernel's complete ids block\n"
"      --no-thread         never link a request without Link_ID by thread affinity\n"
"      --netns INUM        only events of this network namespace (inode number, as\n"
"                          in `stat -L -c %i /run/netns/NAME`); repeatable, up to 16:\n"
"                          the view of an observer watching only those hosts\n"
"      --timeout MS        a request unanswered this long is a timeout (5000)\n"
"      --window MS         how far back a Follow_ID may be matched (10000)\n"
"      --linger MS         wait after a path completes before printing it (200)\n"
"      --max-fanout N      children per hop (256)\n"
"      --max-hops N        hops held at once (65536)\n"
"      --max-conns N       connections tracked, least recently used evicted (16384)\n"
"      --stats             print the linker's counters on stderr at the end\n"
"      --json              with --stats: the counters as one JSON object\n"
"      --bench             print throughput (messages/s) and peak memory on stderr;\n"
"                          paths are counted, not printed\n"
"  -h, --help              this text\n"
"\n"
"Exit status: 0 when the file was read to its end, 1 on malformed input, 2 on\n"
"bad usage or semantics.\n"
"\n"
"Example:\n"
"  insitu-observer --record /tmp/ev.zst --duration 10\n"
"  insitu-link -r /tmp/ev.zst -s semantics/ --tree\n";

static int add_sem_path(const char ***v, size_t *n, const char *p)
{
	DIR *d = opendir(p);
	if (!d) {
		if (errno != ENOTDIR) {
			log_error("%s: %s", p, strerror(errno));
			return -1;
		}
		*v = realloc(*v, (*n + 1) * sizeof(**v));
		(*v)[(*n)++] = strdup(p);
		return 0;
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		if (l < 6 || strcmp(e->d_name + l - 5, ".json"))
			continue;
		char *full;
		if (asprintf(&full, "%s/%s", p, e->d_name) < 0)
			break;
		*v = realloc(*v, (*n + 1) * sizeof(**v));
		(*v)[(*n)++] = full;
	}
	closedir(d);
	return 0;
}

static long parse_num(const char *opt, const char *s)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || v < 0 || v > 1000000000L) {
		log_error("%s: expected a number from 0 to 1000000000, got '%s'", opt, s);
		exit(2);
	}
	return v;
}

static unsigned long long bench_paths;
static void count_only(FILE *f)
{
	(void)f;
}

/* An already decompressed stream (zstd -d) starts with the magic itself: read it
 * into memory.  Returns 0 (with *data NULL if the file is compressed) or -1. */
static int read_if_uncompressed(const char *path, uint8_t **data, size_t *len)
{
	struct stat st;
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
		return 0; /* a pipe (live: insitu-observer --record /dev/stdout | ...) */
	FILE *f = fopen(path, "rb");
	if (!f) {
		log_error("%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	char magic[8];
	if (fread(magic, 1, 8, f) != 8 || memcmp(magic, OBS_FILE_MAGIC, 8)) {
		fclose(f);
		return 0;
	}
	size_t cap = 1 << 20, n = 8;
	uint8_t *b = malloc(cap);
	if (!b) {
		fclose(f);
		return -1;
	}
	memcpy(b, magic, 8);
	for (;;) {
		if (n == cap) {
			uint8_t *nb = realloc(b, cap * 2);
			if (!nb) {
				free(b);
				fclose(f);
				return -1;
			}
			b = nb;
			cap *= 2;
		}
		size_t r = fread(b + n, 1, cap - n, f);
		if (r == 0)
			break;
		n += r;
	}
	fclose(f);
	*data = b;
	*len = n;
	return 0;
}

static long peak_rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %ld kB", &v) == 1)
			break;
	if (f)
		fclose(f);
	return v;
}

int main(int argc, char **argv)
{
	log_init("insitu-link", LOG_WARN);
	enum { O_TREE = 256, O_NOIDS, O_NOTHREAD, O_TIMEOUT, O_WINDOW, O_LINGER, O_FANOUT,
	       O_HOPS, O_CONNS, O_STATS, O_BENCH, O_NETNS, O_JSON, O_NOKIDS };
	static const struct option opts[] = {
		{ "replay", required_argument, 0, 'r' },
		{ "semantics", required_argument, 0, 's' },
		{ "tree", no_argument, 0, O_TREE },
		{ "no-ids", no_argument, 0, O_NOIDS },
		{ "no-kernel-ids", no_argument, 0, O_NOKIDS },
		{ "no-thread", no_argument, 0, O_NOTHREAD },
		{ "timeout", required_argument, 0, O_TIMEOUT },
		{ "window", required_argument, 0, O_WINDOW },
		{ "linger", required_argument, 0, O_LINGER },
		{ "max-fanout", required_argument, 0, O_FANOUT },
		{ "max-hops", required_argument, 0, O_HOPS },
		{ "max-conns", required_argument, 0, O_CONNS },
		{ "netns", required_argument, 0, O_NETNS },
		{ "stats", no_argument, 0, O_STATS },
		{ "json", no_argument, 0, O_JSON },
		{ "bench", no_argument, 0, O_BENCH },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	struct linker_opts o;
	linker_opts_defaults(&o);
	const char *replay = NULL;
	const char **sems = NULL;
	size_t nsem = 0;
	bool stats = false, bench = false, json = false;
	int c;
	while ((c = getopt_long(argc, argv, "r:s:h", opts, NULL)) != -1) {
		switch (c) {
		case 'r': replay = strcmp(optarg, "-") ? optarg : "/dev/stdin"; break;
		case 's':
			if (add_sem_path(&sems, &nsem, optarg))
				return 2;
			break;
		case O_TREE: o.format = LINKER_TREE; break;
		case O_NOIDS: o.no_ids = true; break;
		case O_NOKIDS: o.no_kernel_ids = true; break;
		case O_NOTHREAD: o.lk.link_by_thread = false; break;
		case O_TIMEOUT: o.lk.timeout_ns = (uint64_t)parse_num("--timeout", optarg) * 1000000ull; break;
		case O_WINDOW: o.lk.window_ns = (uint64_t)parse_num("--window", optarg) * 1000000ull; break;
		case O_LINGER: o.lk.linger_ns = (uint64_t)parse_num("--linger", optarg) * 1000000ull; break;
		case O_FANOUT: o.lk.max_fanout = (uint32_t)parse_num("--max-fanout", optarg); break;
		case O_HOPS: o.lk.max_hops = (uint32_t)parse_num("--max-hops", optarg); break;
		case O_CONNS: o.max_conns = (uint32_t)parse_num("--max-conns", optarg); break;
		case O_NETNS:
			if (o.n_netns == 16) {
				log_error("--netns: at most 16");
				return 2;
			}
			{
				char *end;
				unsigned long v = strtoul(optarg, &end, 10);
				if (*end || !v || v > UINT32_MAX) {
					log_error("--netns: expected a namespace inode number, got '%s'", optarg);
					return 2;
				}
				o.netns[o.n_netns++] = (uint32_t)v;
			}
			break;
		case O_STATS: stats = true; break;
		case O_JSON: json = true; break;
		case O_BENCH: bench = true; break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (!replay || !nsem || optind != argc) {
		log_error(!replay ? "missing -r FILE (see --help)"
			  : !nsem ? "missing -s SEMANTICS (see --help)"
				  : "unexpected argument '%s'", argv[optind]);
		return 2;
	}
	if (o.lk.max_fanout == 0 || o.lk.max_hops == 0 || o.max_conns == 0) {
		log_error("--max-fanout, --max-hops and --max-conns must be at least 1");
		return 2;
	}
	static struct sem_diags diags;
	struct sem_set *set = sem_load(sems, nsem, &diags);
	if (!set) {
		sem_diags_print(&diags, stderr);
		return 2;
	}
	FILE *devnull = NULL;
	if (bench) {
		devnull = fopen("/dev/null", "w");
		o.out = devnull;
	}
	struct linker_sink *ls = linker_sink_new(set, &o);
	if (!ls) {
		log_error("out of memory");
		return 2;
	}
	struct obs_reader rd = { 0 };
	uint8_t *raw = NULL;
	size_t raw_len = 0;
	if (read_if_uncompressed(replay, &raw, &raw_len) < 0)
		return 1;
	if (raw ? obs_reader_open_raw(&rd, replay, raw, raw_len) : obs_reader_open(&rd, replay)) {
		log_error("%s", rd.err);
		return 1;
	}
	/* Bench: decompress and validate the records first, time only the linker. */
	uint64_t t0 = 0, nmsg = 0;
	int rc = 0;
	if (bench) {
		size_t cap = 1 << 20, len = 0;
		uint8_t *all = malloc(cap);
		const void *rec;
		size_t rlen;
		int r;
		while ((r = obs_reader_next(&rd, &rec, &rlen)) == 1) {
			if (len + rlen + 8 > cap) {
				cap *= 2;
				all = realloc(all, cap);
			}
			memcpy(all + len, rec, rlen);
			len += (rlen + 7) & ~(size_t)7;
		}
		if (r < 0) {
			log_error("%s", rd.err);
			rc = 1;
		}
		struct obs_pipeline p = { 0 };
		obs_pipeline_add(&p, linker_sink_obs(ls));
		t0 = mono_ns();
		struct timespec c0, c1;
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
		for (size_t off = 0; off < len;) {
			const struct insitu_ev_hdr *h = (const void *)(all + off);
			obs_pipeline_feed(&p, h, h->size);
			off += (h->size + 7) & ~(size_t)7;
		}
		linker_sink_finish(ls);
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
		uint64_t dt = mono_ns() - t0;
		uint64_t dc = (uint64_t)(c1.tv_sec - c0.tv_sec) * 1000000000ull +
			      (uint64_t)c1.tv_nsec - (uint64_t)c0.tv_nsec;
		nmsg = lk_stats(linker_sink_linker(ls))->messages;
		fprintf(stderr,
			"bench: %" PRIu64 " events, %" PRIu64 " messages, %" PRIu64 " paths in %.3f s CPU "
			"(%.3f s wall): %.0f events/s, %.0f messages/s per core; peak RSS %ld KiB\n",
			linker_sink_stats(ls)->events, nmsg, lk_stats(linker_sink_linker(ls))->paths,
			(double)dc / 1e9, (double)dt / 1e9,
			(double)linker_sink_stats(ls)->events * 1e9 / (double)dc,
			(double)nmsg * 1e9 / (double)dc, peak_rss_kib());
		free(all);
	} else {
		struct obs_pipeline p = { 0 };
		obs_pipeline_add(&p, linker_sink_obs(ls));
		if (obs_replay(&rd, &p) < 0) {
			log_error("%s", rd.err);
			rc = 1;
		}
		linker_sink_finish(ls);
	}
	(void)bench_paths;
	(void)count_only;
	if (stats && json)
		linker_sink_print_stats_json(ls, stderr);
	else if (stats)
		linker_sink_print_stats(ls, stderr);
	obs_reader_close(&rd);
	free(raw);
	linker_sink_free(ls);
	sem_free(set);
	if (devnull)
		fclose(devnull);
	for (size_t i = 0; i < nsem; i++)
		free((void *)sems[i]);
	free(sems);
	return rc;
}
