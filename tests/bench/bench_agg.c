/* Load generator for insitud's benchmark (tests/bench/aggregator.sh).
 *
 *   bench_agg ingest SOCK CLIENTS TOTAL BATCH   reports/s accepted (acknowledged)
 *   bench_agg populate SOCK SUBJECTS OBSERVERS  one report per (observer, subject)
 *   bench_agg query SOCK SUBJECTS N             get_inference latency: median, p99 (us)
 *   bench_agg propagate SOCK_A SOCK_B N         peer propagation throughput and latency
 *
 * Uses the same client library as the observer and logtail (insitud_client.h); the
 * concurrent clients are processes, released together. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "insitud_client.h"
#include "timeutil.h"

static struct insitud_client *conn(const char *sock)
{
	char err[256];
	struct insitud_client *c = insitud_connect(sock, err, sizeof err);
	if (!c) {
		fprintf(stderr, "bench_agg: %s\n", err);
		exit(1);
	}
	insitud_set_timeout(c, 60000);
	return c;
}

static void fill(struct insitu_report *r, const char *subject, int i)
{
	memset(r, 0, sizeof *r);
	snprintf(r->subject, sizeof r->subject, "%s", subject);
	insitu_obs_set(&r->obs, "latency", i % 7 ? INSITU_HEALTHY : INSITU_UNHEALTHY, i % 100);
	insitu_obs_set(&r->obs, "errors", INSITU_HEALTHY, 90);
}

static void ingest_client(const char *sock, int id, long total, int batch, int go)
{
	struct insitud_client *c = conn(sock);
	struct insitu_report *rs = calloc((size_t)batch, sizeof *rs);
	char name[64], subj[64];
	uint64_t h;
	char x;

	snprintf(name, sizeof name, "bench%d", id);
	if (insitud_register(c, "bench", name, &h)) {
		fprintf(stderr, "bench_agg: %s\n", insitud_error(c));
		exit(1);
	}
	if (read(go, &x, 1) < 0) /* returns 0 (EOF) when the parent releases everyone */
		exit(1);
	for (long done = 0; done < total;) {
		int n = total - done < batch ? (int)(total - done) : batch;
		for (int i = 0; i < n; i++) {
			snprintf(subj, sizeof subj, "svc%ld", (done + i) % 1000);
			fill(&rs[i], subj, (int)(done + i));
		}
		if (n == 1 ? insitud_submit(c, h, rs, NULL) : insitud_submit_batch(c, h, rs, (size_t)n, NULL)) {
			fprintf(stderr, "bench_agg: %s\n", insitud_error(c));
			exit(1);
		}
		done += n;
	}
	exit(0);
}

static int cmd_ingest(const char *sock, int clients, long total, int batch)
{
	int p[2];
	uint64_t t0;
	double secs;

	if (pipe(p))
		return 1;
	for (int i = 0; i < clients; i++)
		if (fork() == 0) {
			close(p[1]);
			ingest_client(sock, i, total / clients, batch, p[0]);
		}
	close(p[0]);
	usleep(200000); /* everyone connected and registered */
	t0 = mono_ns();
	close(p[1]); /* EOF releases them... */
	for (int i = 0; i < clients; i++) {
		int st;
		wait(&st);
		if (!WIFEXITED(st) || WEXITSTATUS(st))
			return 1;
	}
	secs = (double)(mono_ns() - t0) / 1e9;
	printf("%.0f\n", (double)(total / clients * clients) / secs);
	return 0;
}

static int cmd_populate(const char *sock, int subjects, int observers)
{
	struct insitud_client *c = conn(sock);
	struct insitu_report rs[1000];
	char subj[64];
	uint64_t h;
	int n = 0;

	if (insitud_register(c, "bench", "populate", &h))
		return 1;
	for (int o = 0; o < observers; o++)
		for (int s = 0; s < subjects; s++) {
			snprintf(subj, sizeof subj, "sub%d", s);
			fill(&rs[n], subj, s + o);
			snprintf(rs[n].observer, sizeof rs[n].observer, "obs%d", o);
			if (++n == 1000 || (o == observers - 1 && s == subjects - 1)) {
				if (insitud_submit_batch(c, h, rs, (size_t)n, NULL)) {
					fprintf(stderr, "bench_agg: %s\n", insitud_error(c));
					return 1;
				}
				n = 0;
			}
		}
	insitud_close(c);
	return 0;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static int cmd_query(const char *sock, int subjects, int n)
{
	struct insitud_client *c = conn(sock);
	double *lat = malloc((size_t)n * sizeof *lat);
	char subj[64];

	srand(42);
	for (int i = 0; i < n; i++) {
		cJSON *req = cJSON_CreateObject(), *ans;
		uint64_t t0;
		snprintf(subj, sizeof subj, "sub%d", rand() % subjects);
		cJSON_AddStringToObject(req, "op", "get_inference");
		cJSON_AddStringToObject(req, "subject", subj);
		t0 = mono_ns();
		ans = insitud_request(c, req);
		lat[i] = (double)(mono_ns() - t0) / 1e3;
		if (!ans || !cJSON_IsTrue(cJSON_GetObjectItem(ans, "ok"))) {
			fprintf(stderr, "bench_agg: query failed: %s\n", insitud_error(c));
			return 1;
		}
		cJSON_Delete(ans);
		cJSON_Delete(req);
	}
	qsort(lat, (size_t)n, sizeof *lat, cmp_d);
	printf("%.1f %.1f\n", lat[n / 2], lat[(size_t)((double)n * 0.99)]);
	return 0;
}

static double learned(struct insitud_client *c)
{
	cJSON *req = cJSON_CreateObject(), *ans;
	double v = -1;
	cJSON_AddStringToObject(req, "op", "stats");
	ans = insitud_request(c, req);
	if (ans)
		v = cJSON_GetObjectItem(ans, "reports_learned_accepted")->valuedouble;
	cJSON_Delete(ans);
	cJSON_Delete(req);
	return v;
}

static int cmd_propagate(const char *sa, const char *sb, int n)
{
	struct insitud_client *a = conn(sa), *b = conn(sb);
	struct insitu_report rs[500];
	double base = learned(b), lat[50];
	uint64_t h, t0;
	int sent = 0;

	if (insitud_register(a, "bench", "prop", &h))
		return 1;
	/* latency: one report at a time, poll B until it counts it */
	for (int i = 0; i < 50; i++) {
		fill(&rs[0], "lat", i);
		t0 = mono_ns();
		if (insitud_submit(a, h, rs, NULL))
			return 1;
		while (learned(b) < base + i + 1)
			if (mono_ns() - t0 > 10000000000ull) {
				fprintf(stderr, "bench_agg: report not propagated in 10 s\n");
				return 1;
			}
		lat[i] = (double)(mono_ns() - t0) / 1e3;
	}
	base += 50;
	qsort(lat, 50, sizeof *lat, cmp_d);
	/* throughput: n reports in batches, until B has them all */
	t0 = mono_ns();
	while (sent < n) {
		int k = n - sent < 500 ? n - sent : 500;
		for (int i = 0; i < k; i++)
			fill(&rs[i], "tput", sent + i);
		if (insitud_submit_batch(a, h, rs, (size_t)k, NULL))
			return 1;
		sent += k;
	}
	while (learned(b) < base + n) {
		if (mono_ns() - t0 > 60000000000ull) {
			fprintf(stderr, "bench_agg: only %.0f of %d propagated in 60 s\n", learned(b) - base, n);
			return 1;
		}
		usleep(2000);
	}
	printf("%.0f %.1f %.1f\n", n / ((double)(mono_ns() - t0) / 1e9), lat[25], lat[49]);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 6 && !strcmp(argv[1], "ingest"))
		return cmd_ingest(argv[2], atoi(argv[3]), atol(argv[4]), atoi(argv[5]));
	if (argc == 5 && !strcmp(argv[1], "populate"))
		return cmd_populate(argv[2], atoi(argv[3]), atoi(argv[4]));
	if (argc == 5 && !strcmp(argv[1], "query"))
		return cmd_query(argv[2], atoi(argv[3]), atoi(argv[4]));
	if (argc == 5 && !strcmp(argv[1], "propagate"))
		return cmd_propagate(argv[2], argv[3], atoi(argv[4]));
	fprintf(stderr, "usage: see the comment at the top of tests/bench/bench_agg.c\n");
	return 2;
}
