/* Linker throughput: messages per second on one core, and memory.
 *
 *   bench_linker core N          N requests through the linker core (lk_add): a
 *                                wrk -> nginx -> backend -> redis chain, 32 in flight,
 *                                both ends of every hop seen: 12 messages/request
 *   bench_linker record N FILE   writes the HTTP part of the same traffic as kernel
 *                                events (an uncompressed --record stream) for
 *                                `insitu-link --bench`, which adds framing and
 *                                extraction (the semantics engine) to the cost
 */
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../bpf/observer.h"
#include "link.h"
#include "timeutil.h"

/* CPU time of this thread: on a shared machine, messages per CPU second is the
 * per-core figure; wall time also counts waiting for the CPU. */
static uint64_t cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#define INFLIGHT 32

struct end {
	uint32_t netns, pid, tid;
	const char *comm;
	uint8_t ip;
};
static const struct end LG = { 1, 10, 11, "wrk", 1 }, NGX = { 2, 20, 20, "nginx", 2 },
			PY = { 3, 30, 31, "python3", 3 }, RD = { 4, 40, 40, "redis-server", 4 };

struct conn {
	const struct end *c, *s;
	uint16_t cport, sport;
	uint64_t cid, sid;
	uint32_t c2s, s2c;
};

static void mk_tuple(struct lk_tuple *t, const struct conn *c, int client)
{
	memset(t, 0, sizeof(*t));
	t->proto = IPPROTO_TCP;
	t->laddr[10] = t->laddr[11] = t->raddr[10] = t->raddr[11] = 0xff;
	t->laddr[12] = t->raddr[12] = 10;
	t->laddr[15] = client ? c->c->ip : c->s->ip;
	t->raddr[15] = client ? c->s->ip : c->c->ip;
	t->lport = client ? c->cport : c->sport;
	t->rport = client ? c->sport : c->cport;
}

static struct lk_msg *msgs;
static size_t nmsgs, capmsgs;

static void emit(const struct conn *c, int client, int dir, int role, uint64_t t, uint32_t pos,
		 uint32_t len, uint64_t link, uint64_t follow, const char *label)
{
	if (nmsgs == capmsgs) {
		capmsgs = capmsgs ? capmsgs * 2 : 1 << 16;
		msgs = realloc(msgs, capmsgs * sizeof(*msgs));
		if (!msgs)
			exit(1);
	}
	struct lk_msg *m = &msgs[nmsgs++];
	memset(m, 0, sizeof(*m));
	const struct end *e = client ? c->c : c->s;
	m->conn = client ? c->cid : c->sid;
	m->netns = e->netns;
	m->pid = e->pid;
	m->tid = e->tid;
	snprintf(m->comm, sizeof(m->comm), "%s", e->comm);
	mk_tuple(&m->tuple, c, client);
	m->dir = (uint8_t)dir;
	m->role = (uint8_t)role;
	m->t_start = t;
	m->t_end = t + 2000;
	m->pos = pos;
	m->len = len;
	m->link_id = link;
	m->follow[0] = follow;
	m->n_follow = follow ? 1 : 0;
	m->status = role == LK_ROLE_RESPONSE ? 200 : -1;
	m->outcome = role == LK_ROLE_RESPONSE ? LK_OUTCOME_OK : 0;
	snprintf(m->label, sizeof(m->label), "%s", label);
}

/* One hop, both ends: request at t, response at t + dt. */
static void hop_req(struct conn *c, uint64_t t, uint64_t link, uint64_t follow, const char *l)
{
	emit(c, 1, LK_SEND, LK_ROLE_REQUEST, t, c->c2s, 100, link, 0, l);
	emit(c, 0, LK_RECV, LK_ROLE_REQUEST, t + 10000, c->c2s, 100, link, follow, l);
	c->c2s += 100;
}

static void hop_resp(struct conn *c, uint64_t t)
{
	emit(c, 0, LK_SEND, LK_ROLE_RESPONSE, t, c->s2c, 60, 0, 0, "");
	emit(c, 1, LK_RECV, LK_ROLE_RESPONSE, t + 10000, c->s2c, 60, 0, 0, "");
	c->s2c += 60;
}

static void gen(unsigned n)
{
	struct conn a[INFLIGHT], b[INFLIGHT], r[INFLIGHT];
	for (unsigned i = 0; i < INFLIGHT; i++) {
		a[i] = (struct conn){ &LG, &NGX, (uint16_t)(40000 + i), 80, 1000 + i, 2000 + i, 1000u * i, 7000u * i };
		b[i] = (struct conn){ &NGX, &PY, (uint16_t)(50000 + i), 8000, 3000 + i, 4000 + i, 3000u * i, 9000u * i };
		r[i] = (struct conn){ &PY, &RD, (uint16_t)(60000 + i), 6379, 5000 + i, 6000 + i, 5000u * i, 11000u * i };
	}
	uint64_t t = 1000000000ull;
	char label[32];
	for (unsigned base = 0; base < n; base += INFLIGHT) {
		unsigned k = n - base < INFLIGHT ? n - base : INFLIGHT;
		/* each step for every request in flight, as a busy server interleaves them */
		for (unsigned i = 0; i < k; i++) {
			snprintf(label, sizeof(label), "GET /r/%u", base + i);
			uint64_t id = lk_hash(label, strlen(label));
			hop_req(&a[i], t += 5000, id, id, label);
		}
		for (unsigned i = 0; i < k; i++) {
			snprintf(label, sizeof(label), "GET /r/%u", base + i);
			uint64_t id = lk_hash(label, strlen(label));
			hop_req(&b[i], t += 5000, id, id, label);
		}
		for (unsigned i = 0; i < k; i++) {
			snprintf(label, sizeof(label), "GET /r/%u", base + i);
			uint64_t id = lk_hash(label, strlen(label));
			hop_req(&r[i], t += 5000, id, 0, "GET");
		}
		for (unsigned i = 0; i < k; i++)
			hop_resp(&r[i], t += 5000);
		for (unsigned i = 0; i < k; i++)
			hop_resp(&b[i], t += 5000);
		for (unsigned i = 0; i < k; i++)
			hop_resp(&a[i], t += 5000);
	}
}

static uint64_t paths, hops_in_paths;
static void on_path(const struct lk_hop *root, void *arg)
{
	(void)arg;
	paths++;
	hops_in_paths += 1 + root->n_children;
}

static long rss_kib(const char *field)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;
	size_t fl = strlen(field);
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, field, fl) && sscanf(line + fl, ": %ld", &v) == 1)
			break;
	if (f)
		fclose(f);
	return v;
}

static int bench_core(unsigned n)
{
	gen(n);
	long before = rss_kib("VmRSS");
	struct lk_cfg cfg;
	lk_cfg_defaults(&cfg);
	struct linker *lk = lk_new(&cfg, on_path, NULL);
	uint64_t t0 = mono_ns(), c0 = cpu_ns();
	for (size_t i = 0; i < nmsgs; i++)
		lk_add(lk, &msgs[i]);
	lk_flush(lk);
	uint64_t dt = mono_ns() - t0, dc = cpu_ns() - c0;
	long after = rss_kib("VmHWM");
	printf("core: %zu messages, %u requests, %" PRIu64 " paths in %.3f s CPU (%.3f s wall): "
	       "%.0f messages/s per core (%.0f ns/message); linker memory %ld KiB over the input "
	       "(peak RSS %ld KiB)\n",
	       nmsgs, n, paths, (double)dc / 1e9, (double)dt / 1e9, (double)nmsgs * 1e9 / (double)dc,
	       (double)dc / (double)nmsgs, after - before, after);
	const struct lk_stats *st = lk_stats(lk);
	printf("core: hops %" PRIu64 " joined %" PRIu64 " linked %" PRIu64 " evicted %" PRIu64
	       " incomplete %" PRIu64 "\n", st->hops, st->joined, st->linked_id, st->hops_evicted,
	       st->paths_incomplete);
	int bad = paths != n || st->paths_incomplete;
	lk_free(lk);
	free(msgs);
	if (bad)
		fprintf(stderr, "bench_linker: expected %u paths, got %" PRIu64 "\n", n, paths);
	return bad;
}

/* ---- record mode ---------------------------------------------------------------- */

static FILE *rec;
static uint64_t sock_ids;

static void ev(const struct conn *c, int client, int dir, uint64_t t, uint32_t seq, const char *payload)
{
	uint8_t buf[sizeof(struct insitu_msg_event) + 512];
	struct insitu_msg_event *e = (void *)buf;
	size_t len = strlen(payload);
	memset(e, 0, sizeof(*e));
	e->hdr.kind = INSITU_EV_MSG;
	e->hdr.version = INSITU_EVENT_VERSION;
	e->hdr.size = (uint32_t)(sizeof(*e) + len);
	e->t_enter_ns = t;
	e->t_exit_ns = t + 2000;
	e->sock_id = client ? c->cid : c->sid;
	const struct end *x = client ? c->c : c->s;
	e->pid = x->pid;
	e->tid = x->tid;
	e->netns = x->netns;
	e->ret = (int32_t)len;
	e->bytes = (uint32_t)len;
	e->seq = seq;
	e->cap_len = (uint16_t)len;
	e->flags = INSITU_F_SEQ_VALID;
	e->dir = (uint8_t)dir;
	e->syscall = dir == INSITU_DIR_SEND ? INSITU_SYS_WRITE : INSITU_SYS_READ;
	e->msg_count = 1;
	e->t.laddr[0] = e->t.raddr[0] = 10;
	e->t.laddr[3] = client ? c->c->ip : c->s->ip;
	e->t.raddr[3] = client ? c->s->ip : c->c->ip;
	e->t.lport = client ? c->cport : c->sport;
	e->t.rport = client ? c->sport : c->cport;
	e->t.family = 2;
	e->t.proto = IPPROTO_TCP;
	snprintf(e->comm, sizeof(e->comm), "%s", x->comm);
	memcpy(buf + sizeof(*e), payload, len);
	fwrite(buf, 1, e->hdr.size, rec);
}

static void rec_hop(struct conn *c, uint64_t t, const char *req, const char *resp, int phase)
{
	if (phase == 0) {
		ev(c, 1, INSITU_DIR_SEND, t, c->c2s, req);
		ev(c, 0, INSITU_DIR_RECV, t + 10000, c->c2s, req);
		c->c2s += (uint32_t)strlen(req);
	} else {
		ev(c, 0, INSITU_DIR_SEND, t, c->s2c, resp);
		ev(c, 1, INSITU_DIR_RECV, t + 10000, c->s2c, resp);
		c->s2c += (uint32_t)strlen(resp);
	}
}

static int write_record(unsigned n, const char *path)
{
	rec = fopen(path, "wb");
	if (!rec) {
		perror(path);
		return 1;
	}
	uint8_t hdr[32] = "INSITUEV";
	uint16_t v = 1;
	uint32_t hl = 32;
	memcpy(hdr + 8, &v, 2);
	memcpy(hdr + 10, &v, 2);
	memcpy(hdr + 12, &hl, 4);
	fwrite(hdr, 1, sizeof(hdr), rec);
	struct conn a[INFLIGHT], b[INFLIGHT];
	for (unsigned i = 0; i < INFLIGHT; i++) {
		a[i] = (struct conn){ &LG, &NGX, (uint16_t)(40000 + i), 80, ++sock_ids, ++sock_ids, 1000u * i, 7000u * i };
		b[i] = (struct conn){ &NGX, &PY, (uint16_t)(50000 + i), 8000, ++sock_ids, ++sock_ids, 3000u * i, 9000u * i };
	}
	uint64_t t = 1000000000ull;
	char req[256], up[256];
	const char *resp = "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 3\r\n\r\nok\n";
	for (unsigned base = 0; base < n; base += INFLIGHT) {
		unsigned k = n - base < INFLIGHT ? n - base : INFLIGHT;
		for (unsigned i = 0; i < k; i++) {
			snprintf(req, sizeof(req), "GET /r/%u HTTP/1.1\r\nHost: 10.0.0.2\r\nX-Request-Id: %u\r\n\r\n", base + i, base + i);
			rec_hop(&a[i], t += 5000, req, NULL, 0);
		}
		for (unsigned i = 0; i < k; i++) {
			snprintf(up, sizeof(up), "GET /r/%u HTTP/1.1\r\nHost: be\r\nX-Request-Id: %u\r\n\r\n", base + i, base + i);
			rec_hop(&b[i], t += 5000, up, NULL, 0);
		}
		for (unsigned i = 0; i < k; i++)
			rec_hop(&b[i], t += 5000, NULL, resp, 1);
		for (unsigned i = 0; i < k; i++)
			rec_hop(&a[i], t += 5000, NULL, resp, 1);
	}
	return fclose(rec) ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && !strcmp(argv[1], "core"))
		return bench_core((unsigned)strtoul(argv[2], NULL, 10));
	if (argc >= 4 && !strcmp(argv[1], "record"))
		return write_record((unsigned)strtoul(argv[2], NULL, 10), argv[3]);
	fprintf(stderr, "usage: bench_linker core N | record N FILE\n");
	return 2;
}
