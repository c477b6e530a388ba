/* insitu-logtail: a data-driven log-based observer (Panorama's hview-logtail).
 * Setup, the command line, the poll loop and the statistics; the per-line work is in
 * logtail_process.c, following files in logtail_tail.c. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fileutil.h"
#include "json.h"
#include "log.h"
#include "logtail_line.h"
#include "logtail_process.h"
#include "logtail_rules.h"
#include "logtail_submit.h"
#include "logtail_tail.h"
#include "report.h"

#define LT_MAX_FILES 64

static const char USAGE[] =
"NAME\n"
"    insitu-logtail - turn a component's log lines into health reports (insitu logtail)\n"
"\n"
"SYNOPSIS\n"
"    insitu logtail --rules RULES.json [--follow] [--dry-run] [OPTIONS] LOGFILE...\n"
"    COMMAND | insitu logtail --rules RULES.json [OPTIONS] -\n"
"    insitu logtail --check RULES.json...\n"
"\n"
"DESCRIPTION\n"
"    Reads each LOGFILE (\"-\": standard input), cuts every line into named fields with the rules' line\n"
"    pattern (PCRE2, named groups), reads its timestamp with the rules' time format and\n"
"    zone, and walks the rules' tree: the first rule whose conditions hold decides the\n"
"    report (metric, status, score, subject).  Reports are submitted to insitud as this\n"
"    node's observations (observer = --observer).  Lines older than the staleness bound\n"
"    are skipped, and identical events within the merge window are merged; both are\n"
"    measured in log time.  Lines that do not fit the pattern are counted, never fatal.\n"
"    The rules format is described in docs/logtail.md; rules for ZooKeeper, nginx,\n"
"    PostgreSQL and Redis ship in rules/.\n"
"\n"
"OPTIONS\n"
"    -r, --rules FILE     the rules file (required unless --check)\n"
"    -c, --check          validate the rules files given as arguments and exit; errors\n"
"                         are printed as file:line:column: error: JSON path: what was\n"
"                         expected (exit 0 when all are valid, 2 otherwise)\n"
"    -f, --follow         keep reading as the files grow, like tail -F: follows rotation\n"
"                         by rename and truncation, waits for missing files.  Starts at\n"
"                         the end of existing files unless --from-start.  Staleness is\n"
"                         then measured against the current time.  Stops on SIGINT/SIGTERM.\n"
"        --from-start     with --follow, read existing content first\n"
"    -n, --dry-run, --print\n"
"                         print reports on standard output as JSON lines (insitud's report\n"
"                         format plus \"source\": file, line, rule) instead of submitting\n"
"    -o, --observer NAME  the observer name of this node (default: the host name)\n"
"    -s, --socket PATH    insitud's socket (default: $INSITUD_SOCKET or\n"
"                         /run/insitu/insitud.sock)\n"
"        --config FILE    take this node's name (\"Id\") and the socket (\"Socket\") from\n"
"                         insitud's configuration file, so that log evidence carries the\n"
"                         same observer name as the aggregator; --observer and --socket\n"
"                         still win\n"
"        --subjects FILE  a JSON object {\"10.0.0.13\": \"peer@9\", \"9\": \"peer@9\", ...} added to\n"
"                         the rules' subjects table: how this deployment names the\n"
"                         nodes that log lines mention by address or id\n"
"        --zone ZONE      override the rules' time zone: local, UTC, +05:30, Europe/Berlin\n"
"        --staleness SEC  override the rules' staleness bound (0: never stale)\n"
"        --merge-window MS\n"
"                         override the rules' merge window (0: never merge)\n"
"        --interval MS    with --follow, how often idle files are checked (default 200)\n"
"        --backlog N      reports kept while insitud is unreachable (down, restarting);\n"
"                         sent when it is back, oldest dropped first when full (default\n"
"                         16384, about 1.5 KiB each; counted as dropped)\n"
"        --stats          print every counter at exit (and on SIGUSR1) on standard error\n"
"        --json           counters as one JSON object instead of text\n"
"    -q, --quiet          no summary line at exit\n"
"    -v, --verbose        more messages (repeat for debug)\n"
"    -h, --help           this text\n"
"\n"
"STALENESS AND TIME\n"
"    Without --follow the files are replayed: a line is stale when it is older than the\n"
"    newest line seen so far by more than the bound.  With --follow it is stale when\n"
"    older than now by more than the bound, so a wrong time zone in the rules shows up\n"
"    as lines being stale (a zone west of the real one) or in the future (east of\n"
"    it; skipped when newer than now by more than the bound): see the \"stale\" and\n"
"    \"future\" counters.\n"
"\n"
"EXIT STATUS\n"
"    0 success; 1 runtime error (unreadable file without --follow, insitud unreachable\n"
"    at start); 2 usage error or invalid rules.\n"
"\n"
"EXAMPLES\n"
"    insitu logtail --check rules/zookeeper.json\n"
"    insitu logtail --rules rules/zookeeper.json --dry-run zookeeper.out | jq .\n"
"    insitu logtail -r rules/nginx.json -f -o web1 /var/log/nginx/error.log\n";

static volatile sig_atomic_t stop_flag, stats_flag;

static void on_stop(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static void on_usr1(int sig)
{
	(void)sig;
	stats_flag = 1;
}

struct opts {
	const char *rules, *observer, *socket, *subjects, *zone, *config;
	bool check, follow, from_start, print, stats, json, quiet;
	double staleness_s, merge_ms;
	int interval_ms, verbose;
	size_t backlog;
};

/* Calls fn for every leaf rule in document order (depth is bounded by LT_MAX_DEPTH). */
static void for_each_leaf(const struct lt_node *n, void (*fn)(void *, const struct lt_node *), void *ctx)
{
	for (size_t i = 0; i < n->nchildren; i++) {
		const struct lt_node *k = &n->children[i];
		if (k->report)
			fn(ctx, k);
		else
			for_each_leaf(k, fn, ctx);
	}
}

struct leaf_print {
	FILE *out;
	bool json, first;
};

static void print_leaf(void *ctx, const struct lt_node *k)
{
	struct leaf_print *lp = ctx;
	if (!lp->json) {
		fprintf(lp->out, "  rule %-28s %" PRIu64 " report(s)\n", k->name, k->hits);
		return;
	}
	fprintf(lp->out, "%s\"", lp->first ? "" : ",");
	for (const char *q = k->name; *q; q++) {
		if (*q == '"' || *q == '\\')
			fprintf(lp->out, "\\%c", *q);
		else if ((unsigned char)*q < 0x20)
			fprintf(lp->out, "\\u%04x", *q);
		else
			fputc(*q, lp->out);
	}
	fprintf(lp->out, "\":%" PRIu64, k->hits);
	lp->first = false;
}

static void print_stats(FILE *out, const struct opts *o, const struct lt_proc *p, const struct lt_sink *s,
			const struct lt_tail *tails, int nt, bool full)
{
	uint64_t bytes = 0, overlong = 0, rot = 0, trunc = 0, openerr = 0;
	for (int i = 0; i < nt; i++) {
		bytes += tails[i].bytes;
		overlong += tails[i].overlong;
		rot += tails[i].rotations;
		trunc += tails[i].truncations;
		openerr += tails[i].open_errors;
	}
	const struct lt_counters *c = &p->c;
	if (o->json) {
		fprintf(out,
			"{\"lines\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"overlong\":%" PRIu64 ",\"unmatched\":%" PRIu64
			",\"bad_time\":%" PRIu64 ",\"stale\":%" PRIu64 ",\"future\":%" PRIu64 ",\"no_rule\":%" PRIu64 ",\"bad_subject\":%" PRIu64
			",\"dropped_unmapped\":%" PRIu64 ",\"merged\":%" PRIu64 ",\"merge_evicted\":%" PRIu64
			",\"reports\":%" PRIu64 ",\"sent\":%" PRIu64 ",\"accepted\":%" PRIu64 ",\"dropped\":%" PRIu64
			",\"backlog\":%" PRIu64 ",\"refused_batches\":%" PRIu64 ",\"reconnects\":%" PRIu64
			",\"send_failures\":%" PRIu64 ",\"lost_at_exit\":%" PRIu64
			",\"rotations\":%" PRIu64 ",\"truncations\":%" PRIu64 ",\"open_errors\":%" PRIu64
			",\"regex_errors\":%" PRIu64 ",\"rules\":{",
			c->lines + overlong, bytes, overlong, c->unmatched, c->bad_time, c->stale, c->future, c->no_rule,
			c->bad_subject, c->dropped_unmapped, c->merged, p->merge.evicted, c->reports, s->sent,
			s->accepted, s->dropped, s->backlog, s->refused, s->reconnects, s->failures, s->lost_at_exit, rot,
			trunc, openerr, lt_regex_errors());
		/* Hits per leaf rule, to see which rules fire. */
		struct leaf_print lp = { out, true, true };
		for_each_leaf(&p->r->root, print_leaf, &lp);
		fprintf(out, "}}\n");
		return;
	}
	fprintf(out, "%s: %" PRIu64 " lines, %" PRIu64 " reports, %" PRIu64 " merged, %" PRIu64 " stale, %" PRIu64
		" unmatched, %" PRIu64 " bad time, %" PRIu64 " overlong\n", log_progname(), c->lines + overlong,
		c->reports, c->merged, c->stale, c->unmatched, c->bad_time, overlong);
	if (!full)
		return;
	fprintf(out,
		"  bytes            %" PRIu64 "\n  future           %" PRIu64 "\n  no rule matched  %" PRIu64 "\n  bad subject      %" PRIu64
		"\n  unmapped dropped %" PRIu64 "\n  merge evicted    %" PRIu64 "\n  sent             %" PRIu64
		"\n  accepted         %" PRIu64 "\n  dropped (backlog full) %" PRIu64 "\n  backlog          %" PRIu64
		"\n  refused batches  %" PRIu64 "\n  reconnects       %" PRIu64 "\n  send failures    %" PRIu64
		"\n  lost at exit     %" PRIu64 "\n  rotations        %" PRIu64
		"\n  truncations      %" PRIu64 "\n  open errors      %" PRIu64 "\n  regex errors     %" PRIu64 "\n",
		bytes, c->future, c->no_rule, c->bad_subject, c->dropped_unmapped, p->merge.evicted, s->sent, s->accepted,
		s->dropped, s->backlog, s->refused, s->reconnects, s->failures, s->lost_at_exit, rot, trunc, openerr,
		lt_regex_errors());
	struct leaf_print lp = { out, false, true };
	for_each_leaf(&p->r->root, print_leaf, &lp);
}

static int run_check(int argc, char **argv)
{
	int bad = 0;
	if (argc == 0) {
		fprintf(stderr, "%s: --check needs at least one rules file\n", log_progname());
		return 2;
	}
	for (int i = 0; i < argc; i++) {
		struct lt_rules *r = lt_rules_load(argv[i], stderr);
		if (!r) {
			bad++;
			continue;
		}
		printf("%s: ok (%s: %d fields, %zu rules, %zu subjects, line pattern %s)\n", argv[i],
		       r->program ? r->program : "unnamed", r->nfields, r->nnodes, r->nsubjects,
		       r->jit ? "JIT-compiled" : "interpreted");
		lt_rules_free(r);
	}
	return bad ? 2 : 0;
}

/* Reads "Id" and "Socket" from insitud's JSON configuration (the rest is insitud's
 * business).  Returns false after printing a positioned error. */
static bool read_config(const char *path, char *id, size_t idlen, char *sock, size_t socklen)
{
	size_t n;
	char *text = read_file_max(path, 1 << 20, &n);
	if (!text) {
		fprintf(stderr, "insitu-logtail: %s: %s\n", path, errno == EFBIG ? "larger than 1 MiB" : strerror(errno));
		return false;
	}
	struct json_error err;
	struct json_value *doc = json_parse(text, n, &err);
	free(text);
	if (!doc) {
		fprintf(stderr, "%s:%d:%d: error: %s\n", path, err.pos.line, err.pos.col, err.msg);
		return false;
	}
	bool ok = true;
	const struct json_value *v = json_get(doc, "Id");
	if (doc->type != JSON_OBJECT) {
		fprintf(stderr, "%s:%d:%d: error: expected an object\n", path, doc->pos.line, doc->pos.col);
		ok = false;
	} else if (v && (v->type != JSON_STRING || !insitu_name_valid(v->u.string.s, idlen))) {
		fprintf(stderr, "%s:%d:%d: error: Id: expected a name (1-127 bytes, no spaces)\n", path, v->pos.line,
			v->pos.col);
		ok = false;
	} else if (v) {
		snprintf(id, idlen, "%s", v->u.string.s);
	}
	v = json_get(doc, "Socket");
	if (ok && v && v->type == JSON_STRING && v->u.string.len < socklen)
		snprintf(sock, socklen, "%s", v->u.string.s);
	json_free(doc);
	return ok;
}

static bool parse_num(const char *s, double max, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= 0) || v > max)
		return false;
	*out = v;
	return true;
}

int main(int argc, char **argv)
{
	log_init("insitu-logtail", LOG_WARN);
	struct opts o = { .staleness_s = -1, .merge_ms = -1, .interval_ms = 200 };
	enum { OPT_FROM_START = 256, OPT_STALENESS, OPT_MERGE, OPT_INTERVAL, OPT_STATS, OPT_JSON, OPT_SUBJECTS,
	       OPT_ZONE, OPT_CONFIG, OPT_BACKLOG };
	static const struct option lopts[] = {
		{ "rules", required_argument, 0, 'r' },
		{ "check", no_argument, 0, 'c' },
		{ "follow", no_argument, 0, 'f' },
		{ "from-start", no_argument, 0, OPT_FROM_START },
		{ "dry-run", no_argument, 0, 'n' },
		{ "print", no_argument, 0, 'n' },
		{ "observer", required_argument, 0, 'o' },
		{ "socket", required_argument, 0, 's' },
		{ "staleness", required_argument, 0, OPT_STALENESS },
		{ "merge-window", required_argument, 0, OPT_MERGE },
		{ "interval", required_argument, 0, OPT_INTERVAL },
		{ "backlog", required_argument, 0, OPT_BACKLOG },
		{ "stats", no_argument, 0, OPT_STATS },
		{ "subjects", required_argument, 0, OPT_SUBJECTS },
		{ "zone", required_argument, 0, OPT_ZONE },
		{ "config", required_argument, 0, OPT_CONFIG },
		{ "json", no_argument, 0, OPT_JSON },
		{ "quiet", no_argument, 0, 'q' },
		{ "verbose", no_argument, 0, 'v' },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	int ch;
	double d;
	while ((ch = getopt_long(argc, argv, "r:cfno:s:qvh", lopts, NULL)) != -1) {
		switch (ch) {
		case 'r': o.rules = optarg; break;
		case 'c': o.check = true; break;
		case 'f': o.follow = true; break;
		case OPT_FROM_START: o.from_start = true; break;
		case 'n': o.print = true; break;
		case 'o': o.observer = optarg; break;
		case 's': o.socket = optarg; break;
		case OPT_STALENESS:
			if (!parse_num(optarg, 366.0 * 86400, &o.staleness_s)) {
				fprintf(stderr, "insitu-logtail: --staleness: expected seconds >= 0, got \"%s\"\n", optarg);
				return 2;
			}
			break;
		case OPT_MERGE:
			if (!parse_num(optarg, 86400e3, &o.merge_ms)) {
				fprintf(stderr, "insitu-logtail: --merge-window: expected milliseconds >= 0, got \"%s\"\n",
					optarg);
				return 2;
			}
			break;
		case OPT_INTERVAL:
			if (!parse_num(optarg, 60000, &d) || d < 1) {
				fprintf(stderr, "insitu-logtail: --interval: expected 1-60000 ms, got \"%s\"\n", optarg);
				return 2;
			}
			o.interval_ms = (int)d;
			break;
		case OPT_BACKLOG:
			if (!parse_num(optarg, 1e8, &d) || d < 1) {
				fprintf(stderr, "insitu-logtail: --backlog: expected 1-100000000 reports, got \"%s\"\n", optarg);
				return 2;
			}
			o.backlog = (size_t)d;
			break;
		case OPT_STATS: o.stats = true; break;
		case OPT_SUBJECTS: o.subjects = optarg; break;
		case OPT_ZONE: o.zone = optarg; break;
		case OPT_CONFIG: o.config = optarg; break;
		case OPT_JSON: o.json = true; break;
		case 'q': o.quiet = true; break;
		case 'v': o.verbose++; break;
		case 'h': fputs(USAGE, stdout); return 0;
		default:
			fprintf(stderr, "Try 'insitu logtail --help'.\n");
			return 2;
		}
	}
	log_set_level(o.verbose >= 2 ? LOG_DEBUG : o.verbose ? LOG_INFO : LOG_WARN);
	if (o.check)
		return run_check(argc - optind, argv + optind);
	if (!o.rules) {
		fprintf(stderr, "insitu-logtail: missing --rules FILE (or --check FILE...)\nTry 'insitu logtail --help'.\n");
		return 2;
	}
	int nfiles = argc - optind;
	if (nfiles < 1 || nfiles > LT_MAX_FILES) {
		fprintf(stderr, "insitu-logtail: expected 1 to %d log files, got %d\nTry 'insitu logtail --help'.\n",
			LT_MAX_FILES, nfiles);
		return 2;
	}
	char host[INSITU_NAME_MAX] = "", cfg_id[INSITU_NAME_MAX] = "", cfg_sock[108] = "";
	if (o.config) {
		if (!read_config(o.config, cfg_id, sizeof cfg_id, cfg_sock, sizeof cfg_sock))
			return 2;
		if (!o.observer && cfg_id[0])
			o.observer = cfg_id;
		if (!o.socket && cfg_sock[0])
			o.socket = cfg_sock;
	}
	if (!o.observer) {
		gethostname(host, sizeof host - 1);
		o.observer = host;
	}
	if (!insitu_name_valid(o.observer, INSITU_NAME_MAX)) {
		fprintf(stderr, "insitu-logtail: --observer: \"%s\" is not a valid name (1-127 bytes, no spaces)\n",
			o.observer);
		return 2;
	}

	struct lt_rules *r = lt_rules_load(o.rules, stderr);
	if (!r)
		return 2;
	if (o.subjects && lt_rules_add_subjects(r, o.subjects, stderr) < 0) {
		lt_rules_free(r);
		return 2;
	}
	const char *why;
	if (o.zone && !lt_timefmt_set_zone(&r->time, o.zone, &why)) {
		fprintf(stderr, "insitu-logtail: --zone \"%s\": %s\n", o.zone, why);
		lt_rules_free(r);
		return 2;
	}
	if (o.staleness_s >= 0)
		r->staleness_ns = (int64_t)(o.staleness_s * 1e9);
	if (o.merge_ms >= 0)
		r->merge_window_ns = (int64_t)(o.merge_ms * 1e6);
	lt_timefmt_activate(&r->time);

	static struct lt_sink sink;	/* large (batch buffer): not on the stack */
	if (lt_sink_open_backlog(&sink, o.print, stdout, o.socket, o.observer, o.backlog) < 0) {
		fprintf(stderr, "insitu-logtail: cannot reach insitud: %s\n"
			"  (is insitud running? --socket PATH, or --dry-run to print reports instead)\n",
			sink.last_error);
		lt_rules_free(r);
		return 1;
	}
	static struct lt_proc proc;
	lt_proc_init(&proc, r, o.observer, o.follow, &sink);

	struct lt_tail tails[LT_MAX_FILES];
	int rc = 0, nt = 0;
	for (int i = 0; i < nfiles; i++) {
		const char *path = argv[optind + i];
		if (lt_tail_open(&tails[nt], path, o.follow, o.from_start) < 0) {
			fprintf(stderr, "insitu-logtail: %s: %s\n", path, strerror(errno));
			lt_tail_close(&tails[nt]);
			rc = 1;
			continue;
		}
		nt++;
	}

	struct sigaction sa = { .sa_handler = on_stop };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	do {
		size_t got = 0;
		for (int i = 0; i < nt && !stop_flag; i++) {
			got += lt_tail_poll(&tails[i], o.follow, lt_proc_line, &proc);
			if (!o.follow)
				lt_tail_flush(&tails[i], lt_proc_line, &proc);
		}
		lt_sink_flush(&sink);
		if (stats_flag) {
			stats_flag = 0;
			print_stats(stderr, &o, &proc, &sink, tails, nt, true);
		}
		if (o.follow && !got && !stop_flag) {
			struct timespec ts = { o.interval_ms / 1000, (long)(o.interval_ms % 1000) * 1000000L };
			nanosleep(&ts, NULL);
		}
	} while (o.follow && !stop_flag);

	lt_sink_close(&sink);
	if (o.stats || !o.quiet)
		print_stats(stderr, &o, &proc, &sink, tails, nt, o.stats);
	for (int i = 0; i < nt; i++)
		lt_tail_close(&tails[i]);
	lt_rules_free(r);
	return rc;
}
