/* Set-up and tear-down of the observer's later stages (observer_stages.h):
 * semantics -> linker -> health -> reporter.  Nothing here runs per event. */
#include "observer_stages.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "extract_kernel.h"
#include "health_sink.h"
#include "linker.h"
#include "log.h"
#include "names.h"
#include "path_report.h"
#include "reporter.h"
#include "semantics.h"

#define MAX_SEM_FILES 256
#define REPORT_BACKLOG 65536

struct stages {
	struct stages_opts o;
	struct sem_set *sem;
	struct linker_sink *ls;
	struct names *names;
	struct reporter *rep;
	struct health_sink *hs;
	struct path_privacy pp; /* --report-paths */
};

int stages_parse_opt(struct stages_opts *o, int opt, const char *arg)
{
	char *end;
	unsigned long v;

	switch (opt) {
	case STG_SEMANTICS:
		if (o->n_sem >= STAGES_MAX_SEM) {
			log_error("--semantics: at most %d paths", STAGES_MAX_SEM);
			return -1;
		}
		o->sem[o->n_sem++] = arg;
		return 0;
	case STG_PATHS:
		if (!arg || !strcmp(arg, "json"))
			o->paths = 1;
		else if (!strcmp(arg, "tree"))
			o->paths = 2;
		else {
			log_error("--paths=%s: expected json or tree", arg);
			return -1;
		}
		return 0;
	case STG_REPORT: o->report = true; return 0;
	case STG_SOCKET: o->socket = arg; return 0;
	case STG_HEALTH: o->health = true; return 0;
	case STG_NAMES: o->names = arg; return 0;
	case STG_ALL_PORTS: o->all_ports = true; return 0;
	case STG_REPORT_PATHS: o->report_paths = o->report = true; return 0;
	case STG_CLEAR_LABELS: o->clear_labels = true; return 0;
	case STG_LABEL_KEY: o->label_key = arg; return 0;
	case STG_THRESHOLDS: o->thresholds = arg; return 0;
	case STG_THRESHOLD: {
		struct health_cfg scratch;
		char err[256];
		if (!strcmp(arg, "help")) {
			printf("Health thresholds (--threshold KEY=VALUE, or KEY = VALUE lines in\n"
			       "--thresholds FILE); durations take a unit (ns, us, ms, s), shares\n"
			       "are 0.05 or 5%%.  Defaults in parentheses:\n");
			health_cfg_print_keys(stdout);
			exit(0);
		}
		health_cfg_defaults(&scratch);
		if (health_cfg_set(&scratch, arg, err, sizeof(err))) {
			log_error("%s", err);
			return -1;
		}
		if (o->n_threshold >= STAGES_MAX_SEM) {
			log_error("--threshold: at most %d", STAGES_MAX_SEM);
			return -1;
		}
		o->threshold[o->n_threshold++] = arg;
		return 0;
	}
	case STG_WINDOW:
		errno = 0;
		v = strtoul(arg, &end, 10);
		if (errno || end == arg || *end || v < 100 || v > 60000) {
			log_error("--window %s: expected milliseconds from 100 to 60000", arg);
			return -1;
		}
		o->window_ms = v;
		return 0;
	}
	log_error("internal: option %d is not a stage option", opt);
	return -1;
}

bool stages_wanted(const struct stages_opts *o)
{
	return o->n_sem || o->paths || o->report || o->health;
}

/* The shipped semantics: $INSITU_SEMANTICS, else semantics/ next to the source tree
 * the binary was built in (build/ or build/san/), else the installed copy. */
static const char *default_semantics(char *buf, size_t n)
{
	static const char *const rel[] = {"/../semantics", "/../../semantics"};
	const char *env = getenv("INSITU_SEMANTICS");
	char exe[PATH_MAX];
	struct stat st;
	ssize_t len;

	if (env && *env)
		return env;
	len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (len > 0) {
		exe[len] = '\0';
		char *slash = strrchr(exe, '/');
		if (slash)
			*slash = '\0';
		for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
			size_t le = strlen(exe), lr = strlen(rel[i]);
			if (le + lr >= n)
				continue;
			memcpy(buf, exe, le);
			memcpy(buf + le, rel[i], lr + 1);
			if (stat(buf, &st) == 0 && S_ISDIR(st.st_mode))
				return buf;
		}
	}
	return "/usr/local/share/insitu/semantics";
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Expands directories into their *.json files (sorted, so the load order and thus
 * the messages are stable).  Returns the number of files, -1 on error. */
static int expand(const char *const *in, int n_in, char **out, int max)
{
	int n = 0;

	for (int i = 0; i < n_in; i++) {
		struct stat st;
		if (stat(in[i], &st)) {
			log_error("--semantics %s: %s", in[i], strerror(errno));
			return -1;
		}
		if (!S_ISDIR(st.st_mode)) {
			if (n >= max)
				goto full;
			out[n++] = strdup(in[i]);
			continue;
		}
		DIR *d = opendir(in[i]);
		struct dirent *de;
		int first = n;
		if (!d) {
			log_error("--semantics %s: %s", in[i], strerror(errno));
			return -1;
		}
		while ((de = readdir(d))) {
			size_t l = strlen(de->d_name);
			if (l < 6 || strcmp(de->d_name + l - 5, ".json") || de->d_name[0] == '.')
				continue;
			if (n >= max) {
				closedir(d);
				goto full;
			}
			if (asprintf(&out[n], "%s/%s", in[i], de->d_name) < 0) {
				closedir(d);
				return -1;
			}
			n++;
		}
		closedir(d);
		if (n == first) {
			log_error("--semantics %s: no *.json files in this directory", in[i]);
			return -1;
		}
		qsort(out + first, (size_t)(n - first), sizeof(*out), cmp_str);
	}
	return n;
full:
	log_error("--semantics: more than %d files", max);
	return -1;
}

static struct sem_set *load_semantics(const struct stages_opts *o)
{
	char dflt[PATH_MAX];
	const char *def[1];
	const char *const *paths = o->sem;
	int n_paths = o->n_sem;
	char *files[MAX_SEM_FILES] = {0};
	struct sem_diags *diags;
	struct sem_set *set = NULL;
	int n;

	if (!n_paths) {
		def[0] = default_semantics(dflt, sizeof(dflt));
		paths = def;
		n_paths = 1;
	}
	n = expand(paths, n_paths, files, MAX_SEM_FILES);
	if (n < 0)
		return NULL;
	diags = calloc(1, sizeof(*diags));
	if (diags)
		set = sem_load((const char *const *)files, (size_t)n, diags);
	if (!set && diags) {
		log_error("invalid semantics; not starting:");
		sem_diags_print(diags, stderr);
	} else if (set) {
		log_info("semantics: %zu protocol(s) from %d file(s)", sem_protocol_count(set), n);
	}
	free(diags);
	for (int i = 0; i < n; i++)
		free(files[i]);
	return set;
}

/* Thresholds: --thresholds FILE, then each --threshold, then --window; checked as a
 * whole (the reason printed). */
static int health_cfg_from_opts(const struct stages_opts *o, struct health_cfg *hc)
{
	char err[512];

	if (o->thresholds && health_cfg_load(hc, o->thresholds, err, sizeof(err)))
		goto bad;
	for (int i = 0; i < o->n_threshold; i++)
		if (health_cfg_set(hc, o->threshold[i], err, sizeof(err)))
			goto bad;
	if (o->window_ms)
		hc->window_ns = o->window_ms * 1000000ull;
	if (health_cfg_check(hc, err, sizeof(err)))
		goto bad;
	return 0;
bad:
	log_error("%s", err);
	return -1;
}

/* Every completed tree: to the health stage, and with --report-paths to insitud. */
static void stages_path(const struct lk_hop *root, void *arg)
{
	struct stages *s = arg;
	if (s->hs)
		health_sink_path(root, s->hs);
	if (s->o.report_paths && s->rep)
		reporter_add_path(s->rep, path_report_record(root, &s->pp));
}

struct stages *stages_new(const struct stages_opts *o, struct obs_pipeline *pipe, bool live)
{
	struct stages *s = calloc(1, sizeof(*s));
	struct linker_opts lo;
	struct health_cfg hc;
	char host[256] = "localhost";

	if (!s)
		return NULL;
	s->o = *o;
	s->sem = load_semantics(o);
	if (!s->sem)
		goto fail;

	linker_opts_defaults(&lo);
	lo.live = live;
	lo.out = o->paths ? stdout : NULL;
	lo.format = o->paths == 2 ? LINKER_TREE : LINKER_JSON;
	if (o->report || o->health) {
		health_cfg_defaults(&hc);
		if (health_cfg_from_opts(o, &hc))
			goto fail;
		s->names = names_new();
		if (!s->names)
			goto oom;
		names_set_live(s->names, live);
		if (o->names) {
			char err[512];
			if (names_load_rules(s->names, o->names, err, sizeof(err))) {
				log_error("%s", err);
				goto fail;
			}
		}
		if (o->report) {
			gethostname(host, sizeof(host) - 1);
			s->rep = reporter_new(o->socket, REPORT_BACKLOG, "insitu-observer", host);
			if (!s->rep)
				goto oom;
		}
		s->hs = health_sink_new(s->names, &hc, s->rep, o->health ? stdout : NULL, live);
		if (!s->hs)
			goto oom;
		lo.on_path = stages_path;
		lo.on_path_arg = s;
	}
	if (o->report_paths) {
		char err[512];
		if (path_privacy_init(&s->pp, o->clear_labels, o->label_key, err, sizeof(err))) {
			log_error("--label-key: %s", err);
			goto fail;
		}
	}
	s->ls = linker_sink_new(s->sem, &lo);
	if (!s->ls)
		goto oom;
	if (obs_pipeline_add(pipe, linker_sink_obs(s->ls)))
		goto full;
	if (s->hs) {
		health_sink_set_linker(s->hs, linker_sink_linker(s->ls));
		/* after the linker: its flush emits the paths this window judges */
		if (obs_pipeline_add(pipe, health_sink_obs(s->hs)))
			goto full;
	}
	return s;
full:
	log_error("too many outputs for the event pipeline");
	goto fail;
oom:
	log_error("out of memory setting up the observer's stages");
fail:
	stages_free(s);
	return NULL;
}

int stages_ports(const struct stages *s, void (*add)(void *arg, uint16_t port), void *arg)
{
	int n = 0;

	if (s->o.all_ports)
		return 0;
	for (size_t i = 0; i < sem_protocol_count(s->sem); i++) {
		const uint16_t *ports;
		size_t np = sem_protocol_ports(sem_protocol_at(s->sem, i), &ports);
		for (size_t k = 0; k < np; k++, n++)
			add(arg, ports[k]);
	}
	return n;
}

int stages_kernel(struct stages *s, struct bpf_object *obj)
{
	struct xk_table *t = calloc(1, sizeof(*t));
	int err;

	if (!t) {
		log_error("out of memory compiling the kernel id rules");
		return -1;
	}
	xk_compile(s->sem, t);
	if (s->o.ids_only) {
		char kept[1024];
		t->flags |= INSITU_XC_IDS_ONLY | INSITU_XC_RAW;
		if (xk_payload_kept(t, s->sem, kept, sizeof(kept)))
			log_warn("--payload=ids: these messages keep their payload prefix "
				 "(counted as ids_kept): %s", kept);
	}
	err = xk_install(obj, t);
	if (err)
		log_error("cannot install the kernel id rules: %s", strerror(-err));
	else
		log_info("kernel id extraction: %u rule(s), %u id(s) in the kernel, %u in user space%s",
			 t->n_rules, t->ids_compiled, t->ids_user_space,
			 t->rules_dropped ? " (rule table full: some left to user space)" : "");
	free(t);
	return err ? -1 : 0;
}

void stages_finish(struct stages *s)
{
	if (s->ls)
		linker_sink_finish(s->ls);
	if (s->hs)
		health_sink_finish(s->hs);
}

/* The linker's JSON counters as the value of "linker": its printer ends the object
 * with a newline (insitu-link prints it alone), which would split this one-line
 * object that tests and scripts read with grep. */
static void print_linker_json(const struct linker_sink *ls, FILE *out)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);

	if (!m) {
		fputs("null", out);
		return;
	}
	linker_sink_print_stats_json(ls, m);
	if (fclose(m) == 0 && buf) {
		while (len && buf[len - 1] == '\n')
			len--;
		fwrite(buf, 1, len, out);
	} else {
		fputs("null", out);
	}
	free(buf);
}

void stages_print_stats(const struct stages *s, FILE *out, bool json)
{
	const struct health_stats *h = s->hs ? health_stats(health_sink_health(s->hs)) : NULL;
	const struct reporter_stats *r = s->rep ? reporter_stats(s->rep) : NULL;

	if (s->ls && !json)
		linker_sink_print_stats(s->ls, out);
	if (json) {
		fprintf(out, "{\"health\":");
		if (h)
			fprintf(out,
				"{\"exchanges\":%" PRIu64 ",\"failed\":%" PRIu64 ",\"timed_out\":%" PRIu64
				",\"waiting\":%" PRIu64 ",\"signals\":%" PRIu64 ",\"windows\":%" PRIu64
				",\"reports\":%" PRIu64 ",\"host_stalls\":%" PRIu64
				",\"pairs\":%u,\"pairs_dropped\":%" PRIu64 ",\"stale\":%" PRIu64 "}",
				h->exchanges, h->failed, h->timed_out, h->waiting, h->signals, h->windows,
				h->reports, h->host_stalls, h->pairs, h->pairs_dropped, h->stale);
		else
			fputs("null", out);
		fprintf(out, ",\"reporter\":");
		if (r)
			fprintf(out,
				"{\"queued\":%" PRIu64 ",\"sent\":%" PRIu64 ",\"dropped\":%" PRIu64
				",\"refused\":%" PRIu64 ",\"connects\":%" PRIu64 ",\"failures\":%" PRIu64
				",\"backlog\":%u,\"connected\":%s,\"paths_queued\":%" PRIu64
				",\"paths_sent\":%" PRIu64 ",\"paths_dropped\":%" PRIu64 ",\"paths_refused\":%" PRIu64
				",\"paths_backlog\":%u}",
				r->queued, r->sent, r->dropped, r->refused, r->connects, r->failures,
				r->backlog, r->connected ? "true" : "false", r->paths_queued, r->paths_sent,
				r->paths_dropped, r->paths_refused, r->paths_backlog);
		else
			fputs("null", out);
		fprintf(out, ",\"linker\":");
		if (s->ls)
			print_linker_json(s->ls, out);
		else
			fputs("null", out);
		fputs("}\n", out);
		return;
	}
	if (h)
		fprintf(out,
			"health: exchanges %" PRIu64 " failed %" PRIu64 " timed_out %" PRIu64
			" waiting %" PRIu64 " signals %" PRIu64 " windows %" PRIu64 " reports %" PRIu64
			" host_stalls %" PRIu64 " pairs %u pairs_dropped %" PRIu64 " stale %" PRIu64 "\n",
			h->exchanges, h->failed, h->timed_out, h->waiting, h->signals, h->windows,
			h->reports, h->host_stalls, h->pairs, h->pairs_dropped, h->stale);
	if (s->hs) {
		const struct health_sink_stats *hss = health_sink_stats(s->hs);
		fprintf(out,
			"health_sink: hops %" PRIu64 " skipped %" PRIu64 " signals %" PRIu64
			" owners_unknown %" PRIu64 " owner_evictions %" PRIu64 " held_back %" PRIu64
			" udp_refused %" PRIu64 "\n",
			hss->hops, hss->hops_skipped, hss->signals, hss->owners_unknown,
			hss->owner_evictions, hss->held_back, hss->udp_refused);
	}
	if (r)
		fprintf(out,
			"reporter: queued %" PRIu64 " sent %" PRIu64 " dropped %" PRIu64
			" refused %" PRIu64 " connects %" PRIu64 " failures %" PRIu64
			" backlog %u connected %s\n",
			r->queued, r->sent, r->dropped, r->refused, r->connects, r->failures, r->backlog,
			r->connected ? "yes" : "no");
	if (r && s->o.report_paths)
		fprintf(out,
			"reporter: paths queued %" PRIu64 " sent %" PRIu64 " dropped %" PRIu64
			" refused %" PRIu64 " backlog %u\n",
			r->paths_queued, r->paths_sent, r->paths_dropped, r->paths_refused, r->paths_backlog);
}

void stages_free(struct stages *s)
{
	if (!s)
		return;
	health_sink_free(s->hs);
	linker_sink_free(s->ls);
	reporter_free(s->rep);
	names_free(s->names);
	sem_free(s->sem);
	free(s);
}
