/* insitu paths: request paths stitched by insitud from what its observers (and its
 * peers' observers) saw, as a tree for humans or JSON (docs/paths.md). */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "insitud_client.h"

#define GET cJSON_GetObjectItemCaseSensitive

static void paths_usage(FILE *f)
{
	fprintf(f,
"Usage: insitu paths [--join KEY | --recent N] [--json] [--no-peers] [--wait MS]\n"
"\n"
"Shows request paths insitud stored (observers send them with insitu-observer\n"
"--report-paths), stitched across observers: a hop whose server end this observer\n"
"did not see is continued by the segment another observer sent with the same join\n"
"key.  Segments not stored here are asked of the peer aggregators; a peer that is\n"
"down or silent makes the answer partial (said on the first line), never a hang.\n"
"\n"
"  --join KEY     the path containing the hop with this join key\n"
"                 (e.g. tcp/10.0.0.1:40000>10.0.0.2:80/123456); a key stored only\n"
"                 at a peer gets that peer's path\n"
"  --recent N     the N newest paths (default 10, at most 1000)\n"
"  --json         the daemon's final answer as one JSON line\n"
"  --no-peers     only what this insitud stores\n"
"  --wait MS      how long insitud waits for its peers (default 2000, max 10000)\n"
"\n"
"Exit status: 0 ok; 1 nothing found or refused; 2 bad arguments; 3 insitud\n"
"unreachable.  A partial answer still exits 0 (the JSON says \"partial\": true).\n");
}

static const char *s_of(const cJSON *o, const char *k)
{
	const cJSON *v = GET(o, k);
	return cJSON_IsString(v) ? v->valuestring : "";
}

static double n_of(const cJSON *o, const char *k)
{
	const cJSON *v = GET(o, k);
	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static void fmt_ns(double ns, char *buf, size_t n)
{
	if (ns >= 1e9)
		snprintf(buf, n, "%.2fs", ns / 1e9);
	else if (ns >= 1e6)
		snprintf(buf, n, "%.2fms", ns / 1e6);
	else
		snprintf(buf, n, "%.1fus", ns / 1e3);
}

/* comm[pid]@netns, or (address) for an end nobody watched; printable ASCII only. */
static void side_name(const cJSON *side, char *buf, size_t n)
{
	size_t k = 0;
	if (!cJSON_IsTrue(GET(side, "seen"))) {
		snprintf(buf, n, "(%s)", s_of(side, "addr"));
	} else {
		snprintf(buf, n, "%s[%.0f]@%.0f", s_of(side, "comm"), n_of(side, "pid"), n_of(side, "netns"));
	}
	for (; buf[k]; k++)
		if ((unsigned char)buf[k] < 0x20 || (unsigned char)buf[k] >= 0x7f)
			buf[k] = '?';
}

static void print_hop(const cJSON *h, char *prefix, size_t plen, int last, unsigned depth)
{
	char c[128], s[128], lat[32], srv[32], ch[32], fl[256] = "";
	const cJSON *f, *joined = GET(h, "joined"), *x;
	size_t off = 0;

	side_name(GET(h, "client"), c, sizeof c);
	side_name(GET(h, "server"), s, sizeof s);
	fmt_ns(n_of(h, "latency_ns"), lat, sizeof lat);
	fmt_ns(n_of(h, "server_ns"), srv, sizeof srv);
	fmt_ns(n_of(h, "children_ns"), ch, sizeof ch);
	cJSON_ArrayForEach(f, GET(h, "flags")) if (cJSON_IsString(f) && off < sizeof fl) {
		int w = snprintf(fl + off, sizeof fl - off, "%s%s", off ? " " : "", f->valuestring);
		if (w > 0)
			off += (size_t)w;
	}
	printf("%s%s%s -> %s  %s %s  %s (server %s, children %s)  %.0fB/%.0fB  %s", prefix,
	       depth == 0 ? "" : (last ? "`- " : "|- "), c, s, s_of(h, "proto"), s_of(h, "label"), lat, srv, ch,
	       n_of(h, "req_bytes"), n_of(h, "resp_bytes"), s_of(h, "outcome"));
	if (n_of(h, "status") >= 0 && GET(h, "status"))
		printf(" %.0f", n_of(h, "status"));
	if (*fl)
		printf("  [%s]", fl);
	if (joined) {
		if (*s_of(joined, "peer"))
			printf("  <= peer %s (observer %s)", s_of(joined, "peer"), s_of(joined, "observer"));
		else
			printf("  <= observer %s", s_of(joined, "observer"));
	} else if (!cJSON_IsTrue(GET(GET(h, "server"), "seen"))) {
		printf("  (server side not found: %s)", s_of(h, "join"));
	}
	putchar('\n');
	if (depth >= 64)
		return;
	size_t add = depth == 0 ? 0 : 3;
	if (plen + add + 1 > 256)
		add = 0;
	if (add)
		memcpy(prefix + plen, last ? "   " : "|  ", add + 1);
	cJSON_ArrayForEach(x, GET(h, "children"))
		print_hop(x, prefix, plen + add, x->next == NULL, depth + 1);
	prefix[plen] = '\0';
}

static void print_tree(const cJSON *ans)
{
	const cJSON *p, *u;
	int n = 0;

	if (cJSON_IsTrue(GET(ans, "partial")) && cJSON_GetArraySize(GET(ans, "peers_unavailable")) > 0) {
		printf("PARTIAL: peer(s) not available:");
		cJSON_ArrayForEach(u, GET(ans, "peers_unavailable")) printf(" %s", cJSON_IsString(u) ? u->valuestring : "?");
		printf(" — some server sides may be missing\n");
	} else if (cJSON_IsTrue(GET(ans, "partial"))) { /* the rounds of peer queries ran out */
		printf("PARTIAL: after %.0f round(s) of asking the peers, leaves were left unasked (the path\n"
		       "goes on through more aggregators than the rounds or the wait allowed)\n", n_of(ans, "rounds"));
	}
	cJSON_ArrayForEach(p, GET(ans, "paths")) {
		char prefix[260] = "  ";
		double hops = n_of(p, "hops");
		printf("path %.0f from %s%s%s (%.0f hop%s, %.0f joined)%s\n", n_of(p, "path"), s_of(p, "observer"),
		       *s_of(p, "peer") ? " at peer " : "", s_of(p, "peer"), hops, hops == 1 ? "" : "s",
		       n_of(p, "grafts"), cJSON_IsTrue(GET(p, "capped")) ? " [capped: more segments not grafted]" : "");
		print_hop(GET(p, "root"), prefix, 2, 1, 0);
		n++;
	}
	if (!n)
		printf("no paths stored\n");
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* An integer option argument within [lo, hi]: 0, or -1 after saying what was expected. */
static int int_arg(const char *opt, const char *expected, long lo, long hi, long *out)
{
	char *end;
	long v = strtol(optarg, &end, 10);
	if (!*optarg || *end || v < lo || v > hi) {
		fprintf(stderr, "insitu paths: %s %s: expected %s from %ld to %ld\n", opt, optarg, expected, lo, hi);
		return -1;
	}
	*out = v;
	return 0;
}

int cli_paths(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"join", 1, 0, 'J'}, {"recent", 1, 0, 'r'}, {"json", 0, 0, 'j'}, {"no-peers", 0, 0, 'n'},
		{"wait", 1, 0, 'w'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0},
	};
	const char *join = NULL;
	long recent = 0, wait = -1;
	int o, json = cli->json, peers = 1, rc = 0;
	char err[512];
	cJSON *req, *ans;

	optind = 1;
	while ((o = getopt_long(argc, argv, "J:r:jnw:h", opts, NULL)) != -1) {
		switch (o) {
		case 'J':
			join = optarg;
			break;
		case 'r':
			if (int_arg("--recent", "a count", 1, 1000, &recent))
				return 2;
			break;
		case 'j':
			json = 1;
			break;
		case 'n':
			peers = 0;
			break;
		case 'w':
			if (int_arg("--wait", "milliseconds", 0, 10000, &wait))
				return 2;
			break;
		case 'h':
			paths_usage(stdout);
			return 0;
		default:
			paths_usage(stderr);
			return 2;
		}
	}
	if (optind < argc || (join && recent)) {
		fprintf(stderr, "insitu paths: expected one of --join KEY or --recent N (see insitu paths --help)\n");
		return 2;
	}
	if (!cli->c && !(cli->c = insitud_connect(cli->socket, err, sizeof err))) {
		fprintf(stderr, "insitu: %s\n", err);
		return 3;
	}
	req = cJSON_CreateObject();
	cJSON_AddStringToObject(req, "op", "paths");
	if (join)
		cJSON_AddStringToObject(req, "join", join);
	else
		cJSON_AddNumberToObject(req, "recent", recent ? (double)recent : 10);
	cJSON_AddBoolToObject(req, "peers", peers);
	if (wait >= 0)
		cJSON_AddNumberToObject(req, "wait_ms", (double)wait);
	/* insitud never blocks on its peers: it answers "pending" and we ask again until
	 * the peers answered or its wait is over (bounded here too) */
	for (int round = 0;; round++) {
		ans = insitud_request(cli->c, req);
		cJSON_Delete(req);
		req = NULL;
		if (!ans) {
			fprintf(stderr, "insitu: %s\n", insitud_error(cli->c));
			insitud_close(cli->c);
			cli->c = NULL;
			return 3;
		}
		if (!cJSON_IsTrue(GET(ans, "pending")) || round > 400)
			break;
		sleep_ms(n_of(ans, "retry_ms") >= 10 && n_of(ans, "retry_ms") <= 1000 ? (long)n_of(ans, "retry_ms") : 50);
		req = cJSON_CreateObject();
		cJSON_AddStringToObject(req, "op", "paths");
		cJSON_AddNumberToObject(req, "query", n_of(ans, "query"));
		cJSON_Delete(ans);
	}
	if (json) {
		char *s = cJSON_PrintUnformatted(ans);
		puts(s);
		free(s);
	}
	if (!cJSON_IsTrue(GET(ans, "ok"))) {
		if (!json)
			fprintf(stderr, "insitu: %s\n", insitud_error(cli->c));
		rc = 1;
	} else if (cJSON_IsTrue(GET(ans, "pending"))) {
		fprintf(stderr, "insitu paths: insitud kept answering \"pending\"\n");
		rc = 1;
	} else if (!json) {
		print_tree(ans);
	}
	cJSON_Delete(ans);
	return rc;
}
