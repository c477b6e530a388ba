/* The insitu CLI's commands: validate arguments (nothing is sent when something is
 * wrong), send one request, print the answer as a table (or JSON with --json). */
#include <cjson/cJSON.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli_table.h"
#include "insitud_client.h"
#include "report.h"

static volatile sig_atomic_t interrupted;
static void on_int(int sig) { interrupted = 1; }

static int usage_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_err(const char *fmt, ...)
{
	va_list ap;
	fputs("insitu: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 2;
}

static int connect_cli(struct cli *cli)
{
	char err[512];
	if (cli->c)
		return 0;
	cli->c = insitud_connect(cli->socket, err, sizeof err);
	if (!cli->c) {
		fprintf(stderr, "insitu: %s\n", err);
		return 3;
	}
	insitud_set_timeout(cli->c, 60000); /* a dump of a big store takes a while */
	return 0;
}

/* Sends req (consumed); returns the answer or NULL (error printed, *rc set). */
static cJSON *call(struct cli *cli, cJSON *req, int *rc)
{
	cJSON *ans;
	if ((*rc = connect_cli(cli))) {
		cJSON_Delete(req);
		return NULL;
	}
	ans = insitud_request(cli->c, req);
	cJSON_Delete(req);
	if (!ans) {
		fprintf(stderr, "insitu: %s\n", insitud_error(cli->c));
		insitud_close(cli->c); /* reconnect next time */
		cli->c = NULL;
		cli->handle = 0;
		*rc = 3;
		return NULL;
	}
	if (cli->json) {
		char *s = cJSON_PrintUnformatted(ans);
		puts(s);
		free(s);
	}
	if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ans, "ok"))) {
		if (!cli->json)
			fprintf(stderr, "insitu: %s\n", insitud_error(cli->c));
		cJSON_Delete(ans);
		*rc = 1;
		return NULL;
	}
	*rc = 0;
	return ans;
}

static cJSON *req_op(const char *op)
{
	cJSON *r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "op", op);
	return r;
}

static const char *str(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : "";
}

static double num(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static void metrics_inline(const cJSON *ms, char *buf, size_t n)
{
	const cJSON *m;
	size_t off = 0;
	buf[0] = '\0';
	cJSON_ArrayForEach(m, ms) {
		int w = snprintf(buf + off, n - off, "%s%s: %s %.1f", off ? ", " : "", str(m, "name"),
				 status_colored(str(m, "status")), num(m, "score"));
		if (w < 0 || (size_t)w >= n - off)
			break;
		off += (size_t)w;
	}
}

/* --- commands ------------------------------------------------------------------- */

static int check_name(const char *what, const char *s)
{
	if (!insitu_name_valid(s, INSITU_NAME_MAX))
		return usage_err("%s '%s': expected 1-%d bytes without spaces or control characters", what, s,
				 INSITU_NAME_MAX - 1);
	return 0;
}

static int cmd_me(struct cli *cli, int argc, char **argv)
{
	if (argc != 2)
		return usage_err("usage: me OBSERVER (the name your reports are made as)");
	if (check_name("observer", argv[1]))
		return 2;
	snprintf(cli->observer, sizeof cli->observer, "%s", argv[1]);
	cli->handle = 0;
	if (!cli->json && cli->interactive)
		printf("reporting as %s\n", cli->observer);
	return 0;
}

static int ensure_handle(struct cli *cli)
{
	cJSON *req, *ans;
	int rc;
	if (cli->handle)
		return 0;
	req = req_op("register");
	cJSON_AddStringToObject(req, "module", "insitu-cli");
	cJSON_AddStringToObject(req, "name", cli->observer);
	int json = cli->json;
	cli->json = 0; /* the registration is plumbing: print only the report's answer */
	ans = call(cli, req, &rc);
	cli->json = json;
	if (!ans)
		return rc;
	cli->handle = (uint64_t)num(ans, "handle");
	cJSON_Delete(ans);
	return 0;
}

static int cmd_report(struct cli *cli, int argc, char **argv)
{
	struct insitu_report r;
	char err[300];
	cJSON *req, *ans;
	int rc;

	if (argc < 3)
		return usage_err("usage: report SUBJECT METRIC:STATUS[:SCORE] ... (e.g. report peer@1 snapshot:u:30)");
	if (!cli->observer[0])
		return usage_err("report: say who you are first: `me OBSERVER` (or --as OBSERVER)");
	if (check_name("subject", argv[1]))
		return 2;
	memset(&r, 0, sizeof r);
	snprintf(r.observer, sizeof r.observer, "%s", cli->observer);
	snprintf(r.subject, sizeof r.subject, "%s", argv[1]);
	for (int i = 2; i < argc; i++) {
		struct insitu_metric m;
		if (insitu_metric_parse_spec(argv[i], &m, err, sizeof err))
			return usage_err("report: %s; nothing sent", err);
		if (insitu_obs_set(&r.obs, m.name, m.value.status, m.value.score))
			return usage_err("report: more than %d metrics; nothing sent", INSITU_METRICS_MAX);
	}
	if ((rc = ensure_handle(cli)))
		return rc;
	req = req_op("submit");
	cJSON_AddNumberToObject(req, "handle", (double)cli->handle);
	cJSON_AddItemToObject(req, "report", insitu_report_to_json(&r));
	cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(req, "report"), "ts_us");
	ans = call(cli, req, &rc);
	if (!ans)
		return rc;
	if (!cli->json)
		printf("%s\n", str(ans, "result")[0] == 'A' ? "Accepted" : str(ans, "result"));
	cJSON_Delete(ans);
	return 0;
}

static void print_inference(const cJSON *inf)
{
	const cJSON *m, *o, *ov = cJSON_GetObjectItemCaseSensitive(inf, "overall");
	char t[64], obs[1024] = "";
	size_t off = 0;
	struct table tb;

	cJSON_ArrayForEach(o, cJSON_GetObjectItemCaseSensitive(inf, "observers")) {
		int w = snprintf(obs + off, sizeof obs - off, "%s%s", off ? ", " : "", o->valuestring);
		if (w < 0 || (size_t)w >= sizeof obs - off)
			break;
		off += (size_t)w;
	}
	fmt_time(t, sizeof t, num(inf, "ts_us"));
	printf("%s  (%s; observers: %s)\n", str(inf, "subject"), t, obs);
	table_init(&tb, 3, "METRIC", "STATUS", "SCORE");
	cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(inf, "metrics"))
		table_row(&tb, "%s\t%s\t%.1f", str(m, "name"), status_colored(str(m, "status")), num(m, "score"));
	table_print(&tb, stdout);
	table_free(&tb);
	if (ov)
		printf("overall: %s (%s %.1f)  [insitu's addition: the most severe metric]\n",
		       status_colored(str(ov, "status")), str(ov, "metric"), num(ov, "score"));
}

static void print_view(const cJSON *v)
{
	const cJSON *o;
	char t[64], ms[2048];
	struct table tb;

	printf("[%s] -> %s (%d observations)\n", str(v, "observer"), str(v, "subject"),
	       cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(v, "observations")));
	table_init(&tb, 2, "  TIME", "METRICS");
	cJSON_ArrayForEach(o, cJSON_GetObjectItemCaseSensitive(v, "observations")) {
		fmt_time(t, sizeof t, num(o, "ts_us"));
		metrics_inline(cJSON_GetObjectItemCaseSensitive(o, "metrics"), ms, sizeof ms);
		table_row(&tb, "  %s\t%s", t, ms);
	}
	table_print(&tb, stdout);
	table_free(&tb);
}

static void print_panorama(const cJSON *p)
{
	const cJSON *v;
	printf("============= %s =============\n", str(p, "subject"));
	cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(p, "views"))
		print_view(v);
}

static int cmd_get(struct cli *cli, int argc, char **argv)
{
	static const char *const usage = "usage: get report [OBSERVER] SUBJECT | get view OBSERVER SUBJECT | "
					 "get inference SUBJECT | get panorama SUBJECT";
	const char *what, *observer = NULL, *subject;
	char op[32];
	cJSON *req, *ans;
	int rc;

	if (argc < 3)
		return usage_err("%s", usage);
	what = argv[1];
	if (strcmp(what, "report") && strcmp(what, "view") && strcmp(what, "inference") && strcmp(what, "panorama"))
		return usage_err("get: unknown kind '%s'; %s", what, usage);
	if (argc == 4 && (!strcmp(what, "report") || !strcmp(what, "view"))) {
		observer = argv[2];
		subject = argv[3];
	} else if (argc == 3 && strcmp(what, "view")) {
		subject = argv[2];
	} else {
		return usage_err("get %s: wrong number of arguments; %s", what, usage);
	}
	if ((observer && check_name("observer", observer)) || check_name("subject", subject))
		return 2;
	snprintf(op, sizeof op, "get_%s", what);
	req = req_op(op);
	cJSON_AddStringToObject(req, "subject", subject);
	if (observer)
		cJSON_AddStringToObject(req, "observer", observer);
	ans = call(cli, req, &rc);
	if (!ans)
		return rc;
	if (!cli->json) {
		if (!strcmp(what, "inference")) {
			print_inference(cJSON_GetObjectItemCaseSensitive(ans, "inference"));
		} else if (!strcmp(what, "view")) {
			print_view(cJSON_GetObjectItemCaseSensitive(ans, "view"));
		} else if (!strcmp(what, "panorama")) {
			print_panorama(cJSON_GetObjectItemCaseSensitive(ans, "panorama"));
		} else {
			const cJSON *r = cJSON_GetObjectItemCaseSensitive(ans, "report");
			char t[64], ms[2048];
			fmt_time(t, sizeof t, num(r, "ts_us"));
			metrics_inline(cJSON_GetObjectItemCaseSensitive(r, "metrics"), ms, sizeof ms);
			printf("observer: %s  subject: %s  time: %s\n  %s\n", str(r, "observer"), str(r, "subject"), t, ms);
		}
	}
	cJSON_Delete(ans);
	return 0;
}

static int cmd_list(struct cli *cli, int argc, char **argv)
{
	cJSON *ans, *s;
	int rc;
	struct table tb;
	char t[64];

	if (argc > 2 || (argc == 2 && strcmp(argv[1], "subjects") && strcmp(argv[1], "subject")))
		return usage_err("usage: list subjects");
	ans = call(cli, req_op("list_subjects"), &rc);
	if (!ans)
		return rc;
	if (!cli->json) {
		table_init(&tb, 3, "SUBJECT", "LAST OBSERVATION", "AGE");
		cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(ans, "subjects")) {
			char age[64];
			fmt_time(t, sizeof t, num(s, "ts_us"));
			fmt_age(age, sizeof age, num(s, "ts_us"));
			table_row(&tb, "%s\t%s\t%s", str(s, "subject"), t, age);
		}
		table_print(&tb, stdout);
		table_free(&tb);
	}
	cJSON_Delete(ans);
	return 0;
}

static int cmd_dump(struct cli *cli, int argc, char **argv)
{
	int pano, rc;
	cJSON *ans, *it;

	if (argc != 2 || (strcmp(argv[1], "inference") && strcmp(argv[1], "panorama")))
		return usage_err("usage: dump inference | dump panorama");
	pano = !strcmp(argv[1], "panorama");
	ans = call(cli, req_op(pano ? "dump_panorama" : "dump_inference"), &rc);
	if (!ans)
		return rc;
	if (!cli->json)
		cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(ans, pano ? "panoramas" : "inferences")) {
			if (pano) {
				print_panorama(it);
			} else {
				printf("============= %s =============\n", str(it, "subject"));
				print_inference(it);
			}
		}
	cJSON_Delete(ans);
	return 0;
}

static int cmd_simple(struct cli *cli, const char *op, int argc)
{
	cJSON *ans;
	int rc;
	if (argc != 1)
		return usage_err("%s takes no argument", op);
	ans = call(cli, req_op(op), &rc);
	if (!ans)
		return rc;
	if (!cli->json) {
		if (!strcmp(op, "ping")) {
			printf("pong from %s\n", str(ans, "instance"));
		} else {
			char *s = cJSON_Print(ans);
			puts(s);
			free(s);
		}
	}
	cJSON_Delete(ans);
	return 0;
}

static int cmd_peers(struct cli *cli, int argc)
{
	cJSON *ans, *p;
	int rc;
	struct table tb;

	if (argc != 1)
		return usage_err("peers takes no argument");
	ans = call(cli, req_op("peers"), &rc);
	if (!ans)
		return rc;
	if (!cli->json) {
		table_init(&tb, 8, "PEER", "ADDRESS", "STATE", "QUEUED", "SENT", "IGNORED-SUBJ", "DROPPED", "RECONNECTS");
		cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(ans, "peers"))
			table_row(&tb, "%s\t%s\t%s\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f", str(p, "id"), str(p, "addr"),
				  str(p, "state"), num(p, "queued"), num(p, "sent"), num(p, "ignored_subjects"),
				  num(p, "dropped_overflow"), num(p, "connects"));
		if (tb.nrows == 1)
			printf("no peers configured\n");
		else
			table_print(&tb, stdout);
		table_free(&tb);
	}
	cJSON_Delete(ans);
	return 0;
}

static int print_status(struct cli *cli)
{
	cJSON *ans, *s, *o;
	int rc;
	struct table tb;

	ans = call(cli, req_op("status"), &rc);
	if (!ans)
		return rc;
	if (!cli->json) {
		table_init(&tb, 6, "SUBJECT", "VERDICT", "METRIC", "SCORE", "SEEN THAT WAY BY", "UPDATED");
		cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(ans, "subjects")) {
			char obs[512] = "", age[64];
			size_t off = 0;
			int n = 0;
			cJSON_ArrayForEach(o, cJSON_GetObjectItemCaseSensitive(s, "observers")) {
				int w = n < 4 ? snprintf(obs + off, sizeof obs - off, "%s%s", off ? ", " : "", o->valuestring) : 0;
				if (w > 0 && (size_t)w < sizeof obs - off)
					off += (size_t)w;
				n++;
			}
			if (n > 4)
				snprintf(obs + off, sizeof obs - off, " +%d", n - 4);
			snprintf(obs + strlen(obs), sizeof obs - strlen(obs), " (%d/%.0f)", n, num(s, "views"));
			fmt_age(age, sizeof age, num(s, "ts_us"));
			table_row(&tb, "%s\t%s\t%s\t%.1f\t%s\t%s", str(s, "subject"), status_colored(str(s, "verdict")),
				  str(s, "metric"), num(s, "score"), obs, age);
		}
		if (tb.nrows == 1)
			printf("no subject has observations yet\n");
		else
			table_print(&tb, stdout);
		table_free(&tb);
	}
	cJSON_Delete(ans);
	return 0;
}

static int cmd_watch(struct cli *cli, int argc, char **argv)
{
	double secs = 2;
	char *end;
	int rc = 0;

	if (argc > 2 || (argc == 2 && ((secs = strtod(argv[1], &end)) < 0.1 || *end)))
		return usage_err("usage: watch [SECONDS] (refresh interval, >= 0.1, default 2)");
	interrupted = 0;
	signal(SIGINT, on_int);
	while (!interrupted) {
		if (!cli->json && isatty(STDOUT_FILENO))
			printf("\033[H\033[2J");
		if (!cli->json)
			printf("insitu status, every %.1fs (Ctrl-C to stop)\n\n", secs);
		rc = print_status(cli);
		fflush(stdout);
		if (rc == 3)
			break;
		usleep((useconds_t)(secs * 1e6));
	}
	signal(SIGINT, SIG_DFL);
	return rc;
}

static int cmd_subject_op(struct cli *cli, const char *op, int argc, char **argv)
{
	cJSON *req, *ans;
	int rc;
	if (argc != 2)
		return usage_err("usage: %s SUBJECT", op);
	if (check_name("subject", argv[1]))
		return 2;
	req = req_op(op);
	cJSON_AddStringToObject(req, "subject", argv[1]);
	ans = call(cli, req, &rc);
	if (!ans)
		return rc;
	if (!cli->json)
		printf("%s %s\n", !strcmp(op, "watch") ? "watching" : "no longer watching", argv[1]);
	cJSON_Delete(ans);
	return 0;
}

void cli_help(void)
{
	printf(
"Commands:\n"
"  me OBSERVER                         report as OBSERVER from now on\n"
"  report SUBJECT METRIC:STATUS[:SCORE] ...\n"
"                                      STATUS: n h p m u d dd, or NA HEALTHY PENDING\n"
"                                      MAYBE_UNHEALTHY UNHEALTHY DYING DEAD\n"
"  get report [OBSERVER] SUBJECT       the latest report about SUBJECT\n"
"  get view OBSERVER SUBJECT           what OBSERVER reported about SUBJECT\n"
"  get inference SUBJECT               the inferred health of SUBJECT\n"
"  get panorama SUBJECT                every observer's view of SUBJECT\n"
"  list subjects                       subjects with observations\n"
"  dump inference | dump panorama      everything\n"
"  status                              one line per subject: verdict, metric, observers\n"
"  watch [SECONDS]                     status, refreshed live\n"
"  subscribe SUBJECT | unsubscribe SUBJECT   edit the watch list\n"
"  peers                               peer aggregators and their queues\n"
"  stats                               insitud's counters (drops, storage, ...)\n"
"  paths [--join KEY|--recent N] [--json]  request paths stitched across observers\n"
"                                      and peers (paths --help)\n"
"  ping                                is insitud there?\n"
"  mkconfig ...                        write an insitud configuration (mkconfig --help)\n"
"  help, exit\n"
"Any other COMMAND runs insitu-COMMAND from insitu's directory (insitu logtail ...).\n");
}

static bool is_builtin(const char *c)
{
	static const char *const builtin[] = { "me",    "report", "get",   "list",      "dump",
					       "ping",  "stats",  "peers", "status",    "watch",
					       "subscribe", "unsubscribe" };

	for (size_t i = 0; i < sizeof builtin / sizeof builtin[0]; i++)
		if (!strcmp(c, builtin[i]))
			return true;
	return false;
}

int cli_run(struct cli *cli, int argc, char **argv)
{
	const char *c = argv[0];

	if (!strcmp(c, "help") || !strcmp(c, "?")) {
		cli_help();
		return 0;
	}
	/* "insitu status --help": the built-in commands share one usage text (paths has
	 * its own; insitu-FOO tools, run when this returns -1, answer for themselves) */
	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) && strcmp(c, "paths") &&
	    is_builtin(c)) {
		cli_help();
		return 0;
	}
	if (!strcmp(c, "me"))
		return cmd_me(cli, argc, argv);
	if (!strcmp(c, "report"))
		return cmd_report(cli, argc, argv);
	if (!strcmp(c, "get"))
		return cmd_get(cli, argc, argv);
	if (!strcmp(c, "list"))
		return cmd_list(cli, argc, argv);
	if (!strcmp(c, "dump"))
		return cmd_dump(cli, argc, argv);
	if (!strcmp(c, "ping") || !strcmp(c, "stats"))
		return cmd_simple(cli, c, argc);
	if (!strcmp(c, "peers"))
		return cmd_peers(cli, argc);
	if (!strcmp(c, "paths"))
		return cli_paths(cli, argc, argv);
	if (!strcmp(c, "status")) {
		if (argc != 1)
			return usage_err("status takes no argument");
		return print_status(cli);
	}
	if (!strcmp(c, "watch"))
		return cmd_watch(cli, argc, argv);
	if (!strcmp(c, "subscribe"))
		return cmd_subject_op(cli, "watch", argc, argv);
	if (!strcmp(c, "unsubscribe"))
		return cmd_subject_op(cli, "unwatch", argc, argv);
	return -1; /* not ours */
}
