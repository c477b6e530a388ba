/* Benchmark: user-space ID extraction throughput, and ring-buffer bytes per event
 * with and without in-kernel extraction, on messages captured from real programs.
 *
 *   bench_extract SEMANTICS CAPTURE [SECONDS]
 *
 * Frames the capture once, then for SECONDS each (default 1) measures, on one
 * thread (so per core):
 *   extract   sem_extract() on every framed message (classification, ids, outcome)
 *   frame+ex  framers fed the capture's reads, plus sem_extract() per message
 *   kernel-ref the kernel interpreter's C reference (xk_eval) per message
 * and prints the event bytes a message costs with a 512-byte payload capture vs
 * with the ids block only (what "ids only" in-kernel extraction would submit). */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "extract_kernel.h"
#include "semantics.h"

#define MAXMSG 4096

struct msg {
	enum sem_dir dir;
	size_t len;
	uint8_t *b;
};

struct read_ {
	int conn;
	enum sem_dir dir;
	size_t len;
	uint8_t *b;
};

static struct msg msgs[MAXMSG];
static size_t nmsgs;
static struct read_ reads[MAXMSG];
static size_t nreads;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

struct cctx {
	enum sem_dir dir;
	int collect;
	const struct sem_protocol *p;
	uint64_t n;
};

static void on_frame(void *vctx, const struct sem_frame *fr)
{
	struct cctx *c = vctx;
	if (c->collect) {
		if (nmsgs < MAXMSG) {
			msgs[nmsgs].dir = c->dir;
			msgs[nmsgs].len = fr->cap;
			msgs[nmsgs].b = malloc(fr->cap ? fr->cap : 1);
			memcpy(msgs[nmsgs].b, fr->data, fr->cap);
			nmsgs++;
		}
		return;
	}
	struct sem_result r;
	sem_extract(c->p, c->dir, fr->data, fr->cap, fr->len, &r);
	c->n++;
}

static void load(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		perror(path);
		exit(2);
	}
	char *line = NULL;
	size_t cap = 0;
	while (getline(&line, &cap, f) > 0 && nreads < MAXMSG) {
		if (line[0] == '#')
			continue;
		int conn, used = 0;
		char d;
		if (sscanf(line, "%d %c %n", &conn, &d, &used) < 2)
			continue;
		char *h = line + used;
		size_t hl = strcspn(h, "\r\n");
		struct read_ *r = &reads[nreads++];
		r->conn = conn;
		r->dir = d == 'C' ? SEM_TO_SERVER : SEM_FROM_SERVER;
		r->len = hl / 2;
		r->b = malloc(r->len + 1);
		for (size_t i = 0; i < r->len; i++) {
			unsigned v;
			sscanf(h + 2 * i, "%2x", &v);
			r->b[i] = (uint8_t)v;
		}
	}
	free(line);
	fclose(f);
}

/* Feeds every read through per-connection framers (at most 64 connections). */
static uint64_t frame_all(const struct sem_protocol *p, int collect)
{
	struct sem_framer *fr[64][2] = { { 0 } };
	int ids[64];
	int n = 0;
	uint64_t count = 0;
	for (size_t i = 0; i < nreads; i++) {
		int k;
		for (k = 0; k < n && ids[k] != reads[i].conn; k++)
			;
		if (k == n) {
			if (n == 64)
				continue;
			ids[n] = reads[i].conn;
			fr[n][0] = sem_framer_new(p, SEM_TO_SERVER);
			fr[n][1] = sem_framer_new(p, SEM_FROM_SERVER);
			n++;
		}
		struct cctx c = { reads[i].dir, collect, p, 0 };
		sem_framer_feed(fr[k][reads[i].dir], reads[i].b, reads[i].len, reads[i].len, 0, 0, on_frame, &c);
		count += c.n;
	}
	for (int k = 0; k < n; k++) {
		sem_framer_free(fr[k][0]);
		sem_framer_free(fr[k][1]);
	}
	return count;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: bench_extract SEMANTICS CAPTURE [SECONDS]\n");
		return 2;
	}
	double secs = argc > 3 ? atof(argv[3]) : 1.0;
	static struct sem_diags d;
	const char *files[] = { argv[1] };
	struct sem_set *set = sem_load(files, 1, &d);
	if (!set) {
		sem_diags_print(&d, stderr);
		return 2;
	}
	const struct sem_protocol *p = sem_protocol_at(set, 0);
	load(argv[2]);
	frame_all(p, 1);
	if (!nmsgs) {
		fprintf(stderr, "no messages\n");
		return 2;
	}
	static struct xk_table t;
	xk_compile(set, &t);
	const uint16_t *ports;
	sem_protocol_ports(p, &ports);

	/* 1. extraction alone */
	struct sem_result r;
	uint64_t n = 0, bytes = 0;
	double t0 = now(), el;
	do {
		for (size_t i = 0; i < nmsgs; i++) {
			sem_extract(p, msgs[i].dir, msgs[i].b, msgs[i].len, msgs[i].len, &r);
			bytes += msgs[i].len;
		}
		n += nmsgs;
	} while ((el = now() - t0) < secs);
	double ex_rate = n / el;

	/* 2. framing + extraction from the reads */
	uint64_t fn = 0;
	t0 = now();
	do
		fn += frame_all(p, 0);
	while ((el = now() - t0) < secs);
	double fr_rate = fn / el;

	/* 3. the kernel interpreter's C reference */
	uint8_t ids[INSITU_IDS_MAX];
	uint64_t kn = 0, ids_bytes = 0, payload_bytes = 0, with_ids = 0;
	t0 = now();
	do {
		for (size_t i = 0; i < nmsgs; i++) {
			uint32_t cap = msgs[i].len > 512 ? 512 : (uint32_t)msgs[i].len;
			int send = msgs[i].dir == SEM_FROM_SERVER; /* observed at the server */
			uint32_t o = xk_eval(&t, msgs[i].b, cap, (uint8_t)sem_protocol_transport(p), ports[0], 40000,
					     send, ids, sizeof(ids));
			if (kn < nmsgs) {
				ids_bytes += o;
				payload_bytes += cap;
				with_ids += o > 3; /* more than the type record */
			}
			kn++;
		}
	} while ((el = now() - t0) < secs);
	double k_rate = kn / el;

	double hdr = (double)sizeof(struct insitu_msg_event);
	printf("%s: %zu messages, avg %.0f bytes\n", sem_protocol_name(p), nmsgs, (double)bytes / n);
	printf("  extract        %10.0f msg/s/core\n", ex_rate);
	printf("  frame+extract  %10.0f msg/s/core\n", fr_rate);
	printf("  kernel C ref   %10.0f msg/s/core\n", k_rate);
	printf("  ring-buffer bytes/event: payload (capture 512) %.1f, ids only %.1f (%.2fx smaller); "
	       "messages with kernel ids %llu/%zu\n",
	       hdr + (double)payload_bytes / nmsgs, hdr + (double)ids_bytes / nmsgs,
	       (hdr + (double)payload_bytes / nmsgs) / (hdr + (double)ids_bytes / nmsgs),
	       (unsigned long long)with_ids, nmsgs);
	sem_free(set);
	return 0;
}
