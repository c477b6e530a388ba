/* Report exchange between aggregators (see peers.h, frame.h, docs/aggregator.md). */
#include "peers.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "frame.h"
#include "insitud.h"
#include "log.h"
#include "segments_query.h"
#include "strmap.h"
#include "utf8.h"

#define BATCH_MAX 256          /* reports per REPORTS frame */
#define WINDOW 4               /* REPORTS frames awaiting RESULTS */
#define CTRL_MAX 4096          /* queued SUB/UNSUB messages per peer */
#define CONN_OUT_MAX (8u << 20) /* unsent bytes on one connection */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define INCOMING_MAX 256

enum conn_state { C_CONNECTING, C_HELLO, C_READY };

struct peer;

struct conn {
	struct ev_handler h;
	struct peers *ps;
	struct peer *peer; /* outgoing: always; incoming: after HELLO */
	int fd, outgoing, dead;
	enum conn_state state;
	uint8_t my_nonce[FRAME_NONCE], their_nonce[FRAME_NONCE];
	uint64_t send_seq, recv_seq;
	uint8_t *in;
	size_t inlen, incap;
	uint8_t *out;
	size_t outoff, outlen, outcap;
	uint32_t ev;
	uint64_t last_rx_ms, last_tx_ms, created_ms;
	int results_pending; /* incoming: RESULTS written before this pass commits */
	struct conn *next;   /* incoming list / graveyard */
};

struct batch {
	char *payload; /* JSON of the REPORTS frame, kept until RESULTS for resending */
	size_t len;
	unsigned n;
	uint64_t sent_ms;
};

struct ctrl {
	uint8_t type;
	char *subject;
};

struct peer {
	char id[CFG_ID_MAX];
	char addr[CFG_ADDR_MAX];
	struct conn *conn; /* outgoing */
	/* queue of serialized reports (ring), each with its delivery sequence number:
	 * REPORTS frames carry them (with this process's epoch) so that the receiver
	 * can skip what it already committed when a batch is re-sent */
	char **q;
	uint64_t *qseq;
	unsigned qhead, qlen, qcap;
	uint64_t next_seq;
	struct batch inflight[WINDOW];
	unsigned ninflight;
	struct ctrl *ctrl;
	unsigned nctrl;
	struct strmap ignored; /* subjects this peer answered IGNORED for */
	uint64_t backoff_ms, next_connect_ms;
	int connected_once;
	/* receiving from this peer: its epoch and the highest sequence number committed
	 * (rx_hw) or handled in the open pass (rx_hw_pass); reports at or below are
	 * duplicates (a batch re-sent after its RESULTS were lost) */
	uint64_t rx_epoch, rx_hw, rx_hw_pass, duplicates;
	/* counters */
	uint64_t queued, sent, accepted, ignored_n, dropped_overflow, dropped_ignored, connects,
		connect_failures, timeouts, ctrl_dropped, received;
};

struct peers {
	struct ev_handler h; /* listener */
	struct insitud *d;
	int lfd;
	struct peer *peer;
	unsigned npeers;
	struct conn *incoming;
	unsigned nincoming;
	struct conn *graveyard;
	uint64_t epoch; /* random per process: sequence numbers restart with it */
	int listener_paused;
	uint64_t resume_ms, accept_errors, invalid_utf8;
	uint64_t frames_rejected, auth_failures, unknown_peers, malformed, incoming_refused, learned_bad,
		self_connects, frames_unknown;
};

static void conn_event(struct ev_handler *h, uint32_t events);

static struct peer *peer_by_id(struct peers *ps, const char *id)
{
	for (unsigned i = 0; i < ps->npeers; i++)
		if (!strcmp(ps->peer[i].id, id))
			return &ps->peer[i];
	return NULL;
}

/* --- connection plumbing ---------------------------------------------------------- */

static void conn_set_events(struct conn *c)
{
	struct epoll_event e;
	uint32_t ev = EPOLLIN;
	if (c->state == C_CONNECTING || c->outoff < c->outlen)
		ev |= EPOLLOUT;
	if (ev == c->ev)
		return;
	e.events = ev;
	e.data.ptr = &c->h;
	epoll_ctl(c->ps->d->epfd, EPOLL_CTL_MOD, c->fd, &e);
	c->ev = ev;
}

static void requeue_inflight(struct peer *p);

static void conn_close(struct conn *c, const char *why)
{
	struct peers *ps = c->ps;
	if (c->dead)
		return;
	c->dead = 1;
	if (why)
		log_info("peer %s (%s): connection closed: %s", c->peer ? c->peer->id : "?",
			 c->outgoing ? "outgoing" : "incoming", why);
	epoll_ctl(ps->d->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	if (c->outgoing) {
		struct peer *p = c->peer;
		p->conn = NULL;
		requeue_inflight(p);
		p->next_connect_ms = now_ms() + p->backoff_ms;
		p->backoff_ms = p->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : p->backoff_ms * 2;
	} else {
		struct conn **pp = &ps->incoming;
		while (*pp && *pp != c)
			pp = &(*pp)->next;
		if (*pp)
			*pp = c->next;
		ps->nincoming--;
	}
	c->next = ps->graveyard;
	ps->graveyard = c;
}

static void conn_flush(struct conn *c)
{
	while (!c->dead && c->outoff < c->outlen) {
		ssize_t w = send(c->fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w > 0) {
			c->outoff += (size_t)w;
		} else if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
			break;
		} else {
			conn_close(c, strerror(errno));
			return;
		}
	}
	if (c->outoff == c->outlen)
		c->outoff = c->outlen = 0;
	conn_set_events(c);
}

/* Queues one frame; the MAC uses the receiver's nonce (zero for HELLO). */
static int conn_send(struct conn *c, uint8_t type, const char *payload, size_t len)
{
	static const uint8_t zero[FRAME_NONCE];
	size_t need = frame_size(len);

	if (c->dead || need > FRAME_MAX)
		return -1;
	if (c->outlen - c->outoff + need > CONN_OUT_MAX)
		return -1;
	if (c->outlen + need > c->outcap) {
		size_t ncap = c->outcap ? c->outcap : 65536;
		uint8_t *nb;
		if (c->outoff) {
			memmove(c->out, c->out + c->outoff, c->outlen - c->outoff);
			c->outlen -= c->outoff;
			c->outoff = 0;
		}
		while (ncap < c->outlen + need)
			ncap *= 2;
		if (ncap != c->outcap) {
			if (!(nb = realloc(c->out, ncap)))
				return -1;
			c->out = nb;
			c->outcap = ncap;
		}
	}
	frame_encode(c->out + c->outlen, type, c->send_seq++, payload, len, c->ps->d->cfg.key,
		     type == FRAME_HELLO ? zero : c->their_nonce);
	c->outlen += need;
	c->last_tx_ms = now_ms();
	return 0;
}

static void send_hello(struct conn *c)
{
	char hex[2 * FRAME_NONCE + 1], buf[256];
	int n;
	randombytes_buf(c->my_nonce, sizeof c->my_nonce);
	sodium_bin2hex(hex, sizeof hex, c->my_nonce, sizeof c->my_nonce);
	n = snprintf(buf, sizeof buf, "{\"id\":\"%s\",\"nonce\":\"%s\"}", c->ps->d->cfg.id, hex);
	conn_send(c, FRAME_HELLO, buf, (size_t)n);
}

static struct conn *conn_new(struct peers *ps, int fd, int outgoing, struct peer *p)
{
	struct conn *c = calloc(1, sizeof *c);
	struct epoll_event e;
	int one = 1;

	if (!c) {
		close(fd);
		return NULL;
	}
	c->h.fn = conn_event;
	c->ps = ps;
	c->fd = fd;
	c->outgoing = outgoing;
	c->peer = p;
	c->created_ms = c->last_rx_ms = now_ms();
	c->state = outgoing ? C_CONNECTING : C_HELLO;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	c->ev = EPOLLIN | EPOLLOUT;
	e.events = c->ev;
	e.data.ptr = &c->h;
	if (epoll_ctl(ps->d->epfd, EPOLL_CTL_ADD, fd, &e)) {
		close(fd);
		free(c);
		return NULL;
	}
	if (!outgoing)
		send_hello(c);
	return c;
}

/* --- queues ----------------------------------------------------------------------- */

static void q_push_front(struct peer *p, char *s, uint64_t seq)
{
	if (p->qlen == p->qcap) { /* full: the newest is dropped to make room */
		unsigned last = (p->qhead + p->qlen - 1) % p->qcap;
		free(p->q[last]);
		p->qlen--;
		p->dropped_overflow++;
	}
	p->qhead = (p->qhead + p->qcap - 1) % p->qcap;
	p->q[p->qhead] = s;
	p->qseq[p->qhead] = seq;
	p->qlen++;
}

static void requeue_inflight(struct peer *p)
{
	/* resend unacknowledged batches first after reconnecting, in their order */
	for (unsigned b = p->ninflight; b-- > 0;) {
		struct batch *bt = &p->inflight[b];
		cJSON *j = cJSON_ParseWithLength(bt->payload, bt->len), *a, *it, *sq;
		a = cJSON_GetObjectItemCaseSensitive(j, "reports");
		sq = cJSON_GetObjectItemCaseSensitive(j, "seq");
		if (cJSON_IsArray(a)) {
			for (int i = cJSON_GetArraySize(a) - 1; i >= 0; i--) {
				const cJSON *n = cJSON_GetArrayItem(sq, i);
				it = cJSON_GetArrayItem(a, i);
				char *s = cJSON_PrintUnformatted(it);
				if (s) /* the same number again: the receiver knows it if it stored it */
					q_push_front(p, s, cJSON_IsNumber(n) ? (uint64_t)n->valuedouble : 0);
			}
		}
		cJSON_Delete(j);
		free(bt->payload);
	}
	p->ninflight = 0;
}

void peers_push(struct peers *ps, const struct insitu_report *r)
{
	char *json = NULL;
	size_t len = 0, cap = 0;

	for (unsigned i = 0; i < ps->npeers; i++) {
		struct peer *p = &ps->peer[i];
		char *s;
		if (strmap_has(&p->ignored, r->subject)) {
			p->dropped_ignored++;
			continue;
		}
		if (p->qlen == p->qcap) {
			p->dropped_overflow++;
			continue;
		}
		if (!json && insitu_report_append_json(r, 1, &json, &len, &cap)) {
			p->dropped_overflow++;
			continue;
		}
		if (!(s = strdup(json))) {
			p->dropped_overflow++;
			continue;
		}
		p->q[(p->qhead + p->qlen) % p->qcap] = s;
		p->qseq[(p->qhead + p->qlen) % p->qcap] = ++p->next_seq;
		p->qlen++;
		p->queued++;
	}
	free(json);
}

void peers_subscribe(struct peers *ps, const char *subject, int on)
{
	for (unsigned i = 0; i < ps->npeers; i++) {
		struct peer *p = &ps->peer[i];
		char *s;
		if (p->nctrl >= CTRL_MAX || !(s = strdup(subject))) {
			p->ctrl_dropped++;
			continue;
		}
		p->ctrl[p->nctrl++] = (struct ctrl){on ? FRAME_SUB : FRAME_UNSUB, s};
	}
}

/* Sends what the outgoing connection can take: control messages, then batches. */
static void peer_pump(struct peer *p)
{
	struct conn *c = p->conn;
	unsigned i;

	if (!c || c->dead || c->state != C_READY)
		return;
	/* control messages first, consecutive ones of a kind batched in one frame */
	for (i = 0; i < p->nctrl;) {
		cJSON *o = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(o, "subjects");
		unsigned j;
		char *txt;
		int rc;
		for (j = i; j < p->nctrl && j - i < 512 && p->ctrl[j].type == p->ctrl[i].type; j++)
			cJSON_AddItemToArray(a, cJSON_CreateString(p->ctrl[j].subject));
		txt = cJSON_PrintUnformatted(o);
		cJSON_Delete(o);
		rc = txt ? conn_send(c, p->ctrl[i].type, txt, strlen(txt)) : -1;
		free(txt);
		if (rc)
			break;
		for (; i < j; i++)
			free(p->ctrl[i].subject);
	}
	memmove(p->ctrl, p->ctrl + i, (p->nctrl - i) * sizeof *p->ctrl);
	p->nctrl -= i;
	while (p->qlen && p->ninflight < WINDOW) {
		/* {"reports":[...],"epoch":"16 hex","seq":[n, ...]}: room is kept for the
		 * tail (at most 21 bytes per number) while reports are added */
		size_t len = 12, cap = 4096;
		char *buf = malloc(cap), *nb;
		uint64_t seqs[BATCH_MAX];
		unsigned n = 0;
		if (!buf)
			break;
		memcpy(buf, "{\"reports\":[", 12);
		while (n < BATCH_MAX && p->qlen) {
			char *s = p->q[p->qhead];
			size_t sl = strlen(s), tail = 40 + 21 * (size_t)(n + 1);
			if (len + sl + tail > FRAME_MAX - FRAME_MIN - 64)
				break;
			if (len + sl + tail > cap) {
				size_t ncap = cap;
				while (len + sl + tail > ncap)
					ncap *= 2;
				if (!(nb = realloc(buf, ncap)))
					break;
				buf = nb;
				cap = ncap;
			}
			if (n)
				buf[len++] = ',';
			memcpy(buf + len, s, sl);
			len += sl;
			free(s);
			seqs[n] = p->qseq[p->qhead];
			p->qhead = (p->qhead + 1) % p->qcap;
			p->qlen--;
			n++;
		}
		len += (size_t)snprintf(buf + len, cap - len, "],\"epoch\":\"%016llx\",\"seq\":[",
					(unsigned long long)p->conn->ps->epoch);
		for (unsigned k = 0; k < n; k++)
			len += (size_t)snprintf(buf + len, cap - len, k ? ",%llu" : "%llu", (unsigned long long)seqs[k]);
		buf[len++] = ']';
		buf[len++] = '}';
		if (conn_send(c, FRAME_REPORTS, buf, len)) {
			/* connection buffer full: put the batch back by reconnecting later */
			p->inflight[p->ninflight++] = (struct batch){buf, len, n, now_ms()};
			conn_close(c, "send buffer full");
			return;
		}
		p->inflight[p->ninflight++] = (struct batch){buf, len, n, now_ms()};
		p->sent += n;
	}
	conn_flush(c);
}

/* --- receiving -------------------------------------------------------------------- */

static int handle_hello(struct conn *c, const struct frame *f)
{
	cJSON *j = cJSON_ParseWithLength((const char *)f->payload, f->len);
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
	const cJSON *nonce = cJSON_GetObjectItemCaseSensitive(j, "nonce");
	size_t bin = 0;
	struct peer *p;

	if (!cJSON_IsString(id) || !cJSON_IsString(nonce) || strlen(nonce->valuestring) != 2 * FRAME_NONCE ||
	    sodium_hex2bin(c->their_nonce, FRAME_NONCE, nonce->valuestring, 2 * FRAME_NONCE, NULL, &bin,
			   NULL) || bin != FRAME_NONCE) {
		cJSON_Delete(j);
		c->ps->malformed++;
		conn_close(c, "malformed HELLO");
		return -1;
	}
	p = peer_by_id(c->ps, id->valuestring);
	if (c->outgoing ? p != c->peer : !p) {
		log_warn("peer connection from unknown instance '%.64s': refused", id->valuestring);
		c->ps->unknown_peers++;
		cJSON_Delete(j);
		conn_close(c, NULL);
		return -1;
	}
	cJSON_Delete(j);
	c->peer = p;
	c->state = C_READY;
	if (c->outgoing) {
		p->backoff_ms = BACKOFF_MIN_MS;
		log_info("peer %s (%s): connected", p->id, p->addr);
		peer_pump(p);
	}
	return 0;
}

/* The sender's epoch and sequence numbers of a REPORTS frame; 0 when it has none (a
 * sender from before de-duplication: every report is taken). */
static int batch_seqs(struct peer *p, const cJSON *j, const cJSON *reports, const cJSON **seq)
{
	const cJSON *ep = cJSON_GetObjectItemCaseSensitive(j, "epoch");
	uint8_t bin[8];
	size_t bl = 0;
	uint64_t epoch = 0;

	*seq = cJSON_GetObjectItemCaseSensitive(j, "seq");
	if (!cJSON_IsString(ep) || strlen(ep->valuestring) != 16 || !cJSON_IsArray(*seq) ||
	    cJSON_GetArraySize(*seq) != cJSON_GetArraySize(reports) ||
	    sodium_hex2bin(bin, sizeof bin, ep->valuestring, 16, NULL, &bl, NULL) || bl != 8)
		return 0;
	for (int i = 0; i < 8; i++)
		epoch = epoch << 8 | bin[i];
	if (epoch != p->rx_epoch) { /* the sender restarted: its numbering too */
		p->rx_epoch = epoch;
		p->rx_hw = p->rx_hw_pass = 0;
	}
	return 1;
}

static void handle_reports(struct conn *c, const struct frame *f)
{
	struct peers *ps = c->ps;
	cJSON *j = cJSON_ParseWithLength((const char *)f->payload, f->len), *a, *it, *ans, *acc, *ign;
	const cJSON *seq = NULL, *sq;
	struct strmap seen_a, seen_i;
	unsigned n = 0;
	int dedup;
	char *s;

	a = cJSON_GetObjectItemCaseSensitive(j, "reports");
	if (!cJSON_IsArray(a)) {
		cJSON_Delete(j);
		ps->malformed++;
		conn_close(c, "malformed REPORTS");
		return;
	}
	dedup = batch_seqs(c->peer, j, a, &seq);
	sq = dedup ? seq->child : NULL;
	strmap_init(&seen_a);
	strmap_init(&seen_i);
	ans = cJSON_CreateObject();
	acc = cJSON_AddArrayToObject(ans, "accepted");
	ign = cJSON_AddArrayToObject(ans, "ignored");
	cJSON_ArrayForEach(it, a) {
		struct insitu_report r;
		char err[200];
		int rc;
		const cJSON *num = sq;
		if (sq)
			sq = sq->next;
		if (cJSON_IsNumber(num) && num->valuedouble >= 1) {
			uint64_t k = (uint64_t)num->valuedouble;
			if (k <= c->peer->rx_hw_pass) {
				c->peer->duplicates++; /* stored already: a re-sent batch */
				continue;
			}
			c->peer->rx_hw_pass = k;
		}
		if (insitu_report_from_json(it, NULL, &r, err, sizeof err)) {
			ps->learned_bad++; /* authenticated but invalid: skipped, counted */
			continue;
		}
		n++;
		c->peer->received++;
		rc = core_submit_learned(ps->d, &r);
		if (rc == 1 && !strmap_has(&seen_a, r.subject)) {
			strmap_put(&seen_a, r.subject, NULL);
			cJSON_AddItemToArray(acc, cJSON_CreateString(r.subject));
		} else if (rc == 0 && !strmap_has(&seen_i, r.subject)) {
			strmap_put(&seen_i, r.subject, NULL);
			cJSON_AddItemToArray(ign, cJSON_CreateString(r.subject));
		}
	}
	cJSON_AddNumberToObject(ans, "n", n);
	s = cJSON_PrintUnformatted(ans);
	if (s) {
		conn_send(c, FRAME_RESULTS, s, strlen(s));
		free(s);
	}
	c->results_pending = 1; /* flushed only after this pass commits */
	strmap_free(&seen_a);
	strmap_free(&seen_i);
	cJSON_Delete(ans);
	cJSON_Delete(j);
}

static void handle_results(struct conn *c, const struct frame *f)
{
	struct peer *p = c->peer;
	cJSON *j = cJSON_ParseWithLength((const char *)f->payload, f->len), *it;
	const cJSON *acc = cJSON_GetObjectItemCaseSensitive(j, "accepted");
	const cJSON *ign = cJSON_GetObjectItemCaseSensitive(j, "ignored");

	if (!c->outgoing || !p->ninflight || !cJSON_IsArray(acc) || !cJSON_IsArray(ign)) {
		cJSON_Delete(j);
		c->ps->malformed++;
		conn_close(c, "unexpected RESULTS");
		return;
	}
	cJSON_ArrayForEach(it, acc) if (cJSON_IsString(it)) {
		strmap_del(&p->ignored, it->valuestring);
		p->accepted++;
	}
	cJSON_ArrayForEach(it, ign) if (cJSON_IsString(it) && insitu_name_valid(it->valuestring, INSITU_NAME_MAX)) {
		strmap_put(&p->ignored, it->valuestring, NULL);
		p->ignored_n++;
	}
	cJSON_Delete(j);
	free(p->inflight[0].payload);
	memmove(&p->inflight[0], &p->inflight[1], (p->ninflight - 1) * sizeof p->inflight[0]);
	p->ninflight--;
	peer_pump(p);
}

static void sub_one(struct conn *c, const cJSON *s, int on)
{
	if (!cJSON_IsString(s) || !insitu_name_valid(s->valuestring, INSITU_NAME_MAX))
		return;
	if (on)
		strmap_del(&c->peer->ignored, s->valuestring);
	else
		strmap_put(&c->peer->ignored, s->valuestring, NULL);
}

/* {"subjects": [s, ...]} (or {"subject": s}): the sender (un)watches them */
static void handle_sub(struct conn *c, const struct frame *f, int on)
{
	cJSON *j = cJSON_ParseWithLength((const char *)f->payload, f->len), *it;
	const cJSON *one = cJSON_GetObjectItemCaseSensitive(j, "subject");
	const cJSON *many = cJSON_GetObjectItemCaseSensitive(j, "subjects");

	if (!cJSON_IsString(one) && !cJSON_IsArray(many)) {
		c->ps->malformed++;
		conn_close(c, "malformed SUBSCRIPTION");
	} else if (one) {
		sub_one(c, one, on);
	} else {
		cJSON_ArrayForEach(it, many) sub_one(c, it, on);
	}
	cJSON_Delete(j);
}

/* Path segment queries (segments_query.h): a SEGQ arrives on an incoming connection
 * and is answered on it; the SEGR comes back on our outgoing one. */
static void handle_segments(struct conn *c, const struct frame *f)
{
	struct insitud *d = c->ps->d;
	char *ans;
	size_t len = 0;

	if (!d->segs && !(d->segs = segments_new(&d->cfg.segs)))
		return;
	if ((f->type == FRAME_SEGQ) == c->outgoing) {
		c->ps->malformed++;
		conn_close(c, f->type == FRAME_SEGQ ? "SEGQ on an outgoing connection" : "SEGR on an incoming connection");
		return;
	}
	if (f->type == FRAME_SEGR) {
		if (segments_peer_answer(d->segs, c->peer->id, f->payload, f->len)) {
			c->ps->malformed++;
			conn_close(c, "malformed SEGR");
		}
		return;
	}
	ans = segments_peer_serve(d->segs, f->payload, f->len, &len);
	if (!ans) {
		c->ps->malformed++;
		conn_close(c, "malformed SEGQ");
		return;
	}
	conn_send(c, FRAME_SEGR, ans, len);
	free(ans);
	if (!c->results_pending) /* else RESULTS of this pass wait for its commit: so does this */
		conn_flush(c);
}

void peers_seg_query(struct peers *ps, const char *payload, size_t len,
		     void (*fn)(void *arg, const char *peer, int asked), void *arg)
{
	for (unsigned i = 0; i < ps->npeers; i++) {
		struct peer *p = &ps->peer[i];
		int asked = p->conn && !p->conn->dead && p->conn->state == C_READY &&
			    conn_send(p->conn, FRAME_SEGQ, payload, len) == 0;
		if (asked)
			conn_flush(p->conn);
		fn(arg, p->id, asked && p->conn);
	}
}

static void conn_input(struct conn *c)
{
	static const uint8_t zero[FRAME_NONCE];
	size_t off = 0;

	while (!c->dead) {
		struct frame f;
		size_t used;
		const char *why = NULL;
		enum frame_status st = frame_decode(c->in + off, c->inlen - off, c->ps->d->cfg.key,
						    c->state == C_READY ? c->my_nonce : zero, &f, &used, &why);
		if (st == FRAME_INCOMPLETE)
			break;
		if (st == FRAME_BAD) {
			c->ps->frames_rejected++;
			if (why && strstr(why, "authentication"))
				c->ps->auth_failures++;
			log_warn("peer %s: %s: connection dropped", c->peer ? c->peer->id : "(unidentified)", why);
			conn_close(c, NULL);
			return;
		}
		off += used;
		if (f.seq != c->recv_seq || (c->state != C_READY) != (f.type == FRAME_HELLO)) {
			c->ps->frames_rejected++;
			log_warn("peer %s: frame out of sequence (seq %llu, expected %llu): connection dropped",
				 c->peer ? c->peer->id : "(unidentified)", (unsigned long long)f.seq,
				 (unsigned long long)c->recv_seq);
			conn_close(c, NULL);
			return;
		}
		c->recv_seq++;
		c->last_rx_ms = now_ms();
		if (!frame_type_known(f.type)) {
			/* a newer peer's frame: authenticated, in sequence, its length known —
			 * skipped, the connection kept (docs/protocol.md, "Frame types") */
			c->ps->frames_unknown++;
			log_debug("peer %s: frame type %u unknown to this version: skipped",
				  c->peer ? c->peer->id : "(unidentified)", f.type);
			continue;
		}
		/* what a peer sends ends up in JSON answers: it must be valid UTF-8 (the
		 * payload lies in our own input buffer, already authenticated) */
		if (utf8_sanitize((char *)(uintptr_t)f.payload, f.len))
			c->ps->invalid_utf8++;
		switch (f.type) {
		case FRAME_HELLO:
			handle_hello(c, &f);
			break;
		case FRAME_REPORTS:
			if (c->outgoing) {
				conn_close(c, "REPORTS on an outgoing connection");
				return;
			}
			handle_reports(c, &f);
			break;
		case FRAME_RESULTS:
			handle_results(c, &f);
			break;
		case FRAME_SUB:
		case FRAME_UNSUB:
			handle_sub(c, &f, f.type == FRAME_SUB);
			break;
		case FRAME_PING:
			/* out now: a PONG left queued on an idle connection made the pinging
			 * side call us silent and reconnect every PeerTimeout (RESULTS of this
			 * pass still wait for their commit, as in handle_segments) */
			conn_send(c, FRAME_PONG, "{}", 2);
			if (!c->results_pending)
				conn_flush(c);
			break;
		case FRAME_PONG:
			break;
		case FRAME_SEGQ:
		case FRAME_SEGR:
			handle_segments(c, &f);
			break;
		}
	}
	if (c->dead)
		return;
	memmove(c->in, c->in + off, c->inlen - off);
	c->inlen -= off;
}

static int self_connected(int fd)
{
	struct sockaddr_storage a, b;
	socklen_t la = sizeof a, lb = sizeof b;
	if (getsockname(fd, (struct sockaddr *)&a, &la) || getpeername(fd, (struct sockaddr *)&b, &lb))
		return 0;
	return la == lb && !memcmp(&a, &b, la);
}

static void conn_event(struct ev_handler *h, uint32_t events)
{
	struct conn *c = (struct conn *)h;

	if (c->dead)
		return;
	if (c->state == C_CONNECTING) {
		int err = 0;
		socklen_t l = sizeof err;
		if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
		if (err) {
			c->peer->connect_failures++;
			conn_close(c, c->peer->connect_failures < 3 || c->peer->connect_failures % 50 == 0
					      ? strerror(err) : NULL);
			return;
		}
		if (self_connected(c->fd)) {
			/* connecting to a local port nobody listens on can make the kernel
			 * pick that very port as ours (TCP self-connect): the peer could then
			 * never bind it.  Let go at once. */
			c->ps->self_connects++;
			conn_close(c, NULL);
			return;
		}
		c->state = C_HELLO;
		c->last_rx_ms = now_ms();
		send_hello(c);
		conn_flush(c);
		return;
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		for (int rounds = 0; rounds < 16 && !c->dead; rounds++) {
			ssize_t r;
			if (c->incap - c->inlen < 65536) {
				size_t ncap = c->incap ? c->incap * 2 : 131072;
				uint8_t *nb;
				if (ncap > FRAME_MAX + 131072)
					ncap = FRAME_MAX + 131072;
				if (ncap <= c->incap || !(nb = realloc(c->in, ncap))) {
					conn_close(c, "input buffer");
					return;
				}
				c->in = nb;
				c->incap = ncap;
			}
			r = recv(c->fd, c->in + c->inlen, c->incap - c->inlen, MSG_DONTWAIT);
			if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
				conn_close(c, r == 0 ? "closed by peer" : strerror(errno));
				return;
			}
			if (r < 0)
				break;
			c->inlen += (size_t)r;
			conn_input(c);
		}
	}
	if (!c->dead && (events & EPOLLOUT) && !c->results_pending)
		conn_flush(c);
}

/* --- listener, connecting, timers ------------------------------------------------- */

static void accept_event(struct ev_handler *h, uint32_t events)
{
	struct peers *ps = (struct peers *)h;
	for (int i = 0; i < 16; i++) {
		int fd = accept4(ps->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct conn *c;
		if (fd < 0 && (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)) {
			/* out of descriptors: the listener stays readable; out of epoll for a
			 * while (peers_tick resumes it) rather than spinning on it */
			struct epoll_event e = {.events = 0, .data.ptr = &ps->h};
			ps->accept_errors++;
			if (!ps->listener_paused && ps->accept_errors % 100 == 1)
				log_warn("peer listener: accept: %s: paused", strerror(errno));
			epoll_ctl(ps->d->epfd, EPOLL_CTL_MOD, ps->lfd, &e);
			ps->listener_paused = 1;
			ps->resume_ms = now_ms() + 100;
			return;
		}
		if (fd < 0)
			return;
		if (ps->nincoming >= INCOMING_MAX) {
			ps->incoming_refused++;
			close(fd);
			continue;
		}
		c = conn_new(ps, fd, 0, NULL);
		if (!c)
			continue;
		c->next = ps->incoming;
		ps->incoming = c;
		ps->nincoming++;
		conn_flush(c);
	}
}

static int split_addr(const char *addr, char *host, size_t hl, char *port, size_t pl)
{
	const char *colon = strrchr(addr, ':');
	if (!colon || (size_t)(colon - addr) >= hl || strlen(colon + 1) >= pl || !colon[1])
		return -1;
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = '\0';
	if (host[0] == '[') { /* [v6]:port */
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	strcpy(port, colon + 1);
	return 0;
}

static void peer_connect(struct peers *ps, struct peer *p)
{
	char host[CFG_ADDR_MAX], port[16];
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
	int fd;

	p->next_connect_ms = now_ms() + p->backoff_ms;
	if (split_addr(p->addr, host, sizeof host, port, sizeof port) || getaddrinfo(host, port, &hints, &ai)) {
		p->connect_failures++;
		return;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || (connect(fd, ai->ai_addr, ai->ai_addrlen) && errno != EINPROGRESS)) {
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		p->connect_failures++;
		p->backoff_ms = p->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : p->backoff_ms * 2;
		return;
	}
	freeaddrinfo(ai);
	p->conn = conn_new(ps, fd, 1, p);
	if (p->conn)
		p->connects++;
}

void peers_tick(struct peers *ps, uint64_t now)
{
	uint64_t timeout = ps->d->cfg.peer_timeout_ms;
	struct conn *c, *next;

	if (ps->listener_paused && now >= ps->resume_ms) {
		struct epoll_event e = {.events = EPOLLIN, .data.ptr = &ps->h};
		epoll_ctl(ps->d->epfd, EPOLL_CTL_MOD, ps->lfd, &e);
		ps->listener_paused = 0;
	}

	for (unsigned i = 0; i < ps->npeers; i++) {
		struct peer *p = &ps->peer[i];
		c = p->conn;
		if (!c) {
			if (now >= p->next_connect_ms)
				peer_connect(ps, p);
			continue;
		}
		if (c->state != C_READY) {
			if (now - c->created_ms > timeout) {
				p->timeouts++;
				conn_close(c, c->state == C_CONNECTING ? NULL : "no HELLO in time");
			}
			continue;
		}
		if (p->ninflight && now - p->inflight[0].sent_ms > timeout) {
			p->timeouts++;
			conn_close(c, "no RESULTS in time");
			continue;
		}
		if (now - c->last_rx_ms > timeout) {
			p->timeouts++;
			conn_close(c, "peer silent");
			continue;
		}
		if (now - c->last_tx_ms > timeout / 3)
			conn_send(c, FRAME_PING, "{}", 2);
		peer_pump(p);
	}
	for (c = ps->incoming; c; c = next) {
		next = c->next;
		if (now - c->last_rx_ms > timeout * 2)
			conn_close(c, c->state == C_READY ? "peer silent" : NULL);
	}
	while ((c = ps->graveyard)) {
		ps->graveyard = c->next;
		free(c->in);
		free(c->out);
		free(c);
	}
}

void peers_end_pass(struct peers *ps, int committed)
{
	struct conn *c, *next;
	/* what was skipped as a duplicate must really have been stored: the numbers
	 * seen in this pass count only once it committed */
	for (unsigned i = 0; i < ps->npeers; i++) {
		struct peer *p = &ps->peer[i];
		if (committed)
			p->rx_hw = p->rx_hw_pass;
		else
			p->rx_hw_pass = p->rx_hw;
	}
	for (c = ps->incoming; c; c = next) {
		next = c->next;
		if (!c->results_pending)
			continue;
		c->results_pending = 0;
		if (!committed) /* the RESULTS would lie: the sender resends after reconnecting */
			conn_close(c, "storage failure");
		else
			conn_flush(c);
	}
	/* what this pass committed goes out now, not at the next tick */
	for (unsigned i = 0; i < ps->npeers; i++)
		if (ps->peer[i].qlen || ps->peer[i].nctrl)
			peer_pump(&ps->peer[i]);
}

struct peers *peers_new(struct insitud *d)
{
	struct peers *ps = calloc(1, sizeof *ps);
	char host[CFG_ADDR_MAX], port[16];

	if (!ps || sodium_init() < 0)
		goto fail;
	ps->d = d;
	ps->lfd = -1;
	randombytes_buf(&ps->epoch, sizeof ps->epoch);
	ps->h.fn = accept_event;
	ps->peer = calloc(d->cfg.npeers ? d->cfg.npeers : 1, sizeof *ps->peer);
	if (!ps->peer)
		goto fail;
	for (unsigned i = 0; i < d->cfg.npeers; i++) {
		struct peer *p = &ps->peer[i];
		snprintf(p->id, sizeof p->id, "%s", d->cfg.peers[i].id);
		snprintf(p->addr, sizeof p->addr, "%s", d->cfg.peers[i].addr);
		p->qcap = d->cfg.peer_queue_max;
		p->q = calloc(p->qcap, sizeof *p->q);
		p->qseq = calloc(p->qcap, sizeof *p->qseq);
		p->ctrl = calloc(CTRL_MAX, sizeof *p->ctrl);
		if (!p->q || !p->qseq || !p->ctrl)
			goto fail;
		strmap_init(&p->ignored);
		p->backoff_ms = BACKOFF_MIN_MS;
		ps->npeers++;
	}
	if (*d->cfg.listen) {
		struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *ai = NULL;
		int one = 1;
		struct epoll_event e = {.events = EPOLLIN, .data.ptr = &ps->h};
		if (split_addr(d->cfg.listen, host, sizeof host, port, sizeof port) ||
		    getaddrinfo(*host ? host : NULL, port, &hints, &ai)) {
			log_error("peer listen address '%s': expected HOST:PORT", d->cfg.listen);
			goto fail;
		}
		ps->lfd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		setsockopt(ps->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (ps->lfd < 0 || bind(ps->lfd, ai->ai_addr, ai->ai_addrlen) || listen(ps->lfd, 64) ||
		    epoll_ctl(d->epfd, EPOLL_CTL_ADD, ps->lfd, &e)) {
			log_error("peer listener %s: %s", d->cfg.listen, strerror(errno));
			freeaddrinfo(ai);
			goto fail;
		}
		freeaddrinfo(ai);
	}
	return ps;
fail:
	peers_free(ps);
	return NULL;
}

void peers_free(struct peers *ps)
{
	if (!ps)
		return;
	while (ps->incoming)
		conn_close(ps->incoming, NULL);
	for (unsigned i = 0; i < ps->npeers; i++) {
		struct peer *p = &ps->peer[i];
		if (p->conn)
			conn_close(p->conn, NULL);
		requeue_inflight(p);
		for (unsigned k = 0; k < p->qlen; k++)
			free(p->q[(p->qhead + k) % p->qcap]);
		for (unsigned k = 0; k < p->nctrl; k++)
			free(p->ctrl[k].subject);
		free(p->q);
		free(p->qseq);
		free(p->ctrl);
		strmap_free(&p->ignored);
	}
	while (ps->graveyard) {
		struct conn *c = ps->graveyard;
		ps->graveyard = c->next;
		free(c->in);
		free(c->out);
		free(c);
	}
	free(ps->peer);
	if (ps->lfd >= 0)
		close(ps->lfd);
	free(ps);
}

cJSON *peers_status_json(const struct peers *ps)
{
	cJSON *a = cJSON_CreateArray();
	for (unsigned i = 0; i < ps->npeers; i++) {
		const struct peer *p = &ps->peer[i];
		cJSON *o = cJSON_CreateObject();
		const char *state = !p->conn ? "down"
				    : p->conn->state == C_READY ? "up"
				    : p->conn->state == C_CONNECTING ? "connecting" : "handshake";
		cJSON_AddStringToObject(o, "id", p->id);
		cJSON_AddStringToObject(o, "addr", p->addr);
		cJSON_AddStringToObject(o, "state", state);
		cJSON_AddNumberToObject(o, "queued", p->qlen);
		cJSON_AddNumberToObject(o, "inflight_batches", p->ninflight);
		cJSON_AddNumberToObject(o, "sent", (double)p->sent);
		cJSON_AddNumberToObject(o, "accepted_subjects", (double)p->accepted);
		cJSON_AddNumberToObject(o, "ignored_subjects", (double)strmap_size(&p->ignored));
		cJSON_AddNumberToObject(o, "received", (double)p->received);
		cJSON_AddNumberToObject(o, "duplicates_skipped", (double)p->duplicates);
		cJSON_AddNumberToObject(o, "dropped_overflow", (double)p->dropped_overflow);
		cJSON_AddNumberToObject(o, "skipped_ignored", (double)p->dropped_ignored);
		cJSON_AddNumberToObject(o, "connects", (double)p->connects);
		cJSON_AddNumberToObject(o, "connect_failures", (double)p->connect_failures);
		cJSON_AddNumberToObject(o, "timeouts", (double)p->timeouts);
		cJSON_AddItemToArray(a, o);
	}
	return a;
}

cJSON *peers_stats_json(const struct peers *ps)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "frames_rejected", (double)ps->frames_rejected);
	cJSON_AddNumberToObject(o, "auth_failures", (double)ps->auth_failures);
	cJSON_AddNumberToObject(o, "unknown_peers", (double)ps->unknown_peers);
	cJSON_AddNumberToObject(o, "malformed", (double)ps->malformed);
	cJSON_AddNumberToObject(o, "learned_invalid", (double)ps->learned_bad);
	cJSON_AddNumberToObject(o, "incoming", ps->nincoming);
	cJSON_AddNumberToObject(o, "incoming_refused", (double)ps->incoming_refused);
	cJSON_AddNumberToObject(o, "accept_errors", (double)ps->accept_errors);
	cJSON_AddNumberToObject(o, "frames_utf8_repaired", (double)ps->invalid_utf8);
	cJSON_AddNumberToObject(o, "self_connects", (double)ps->self_connects);
	cJSON_AddNumberToObject(o, "frames_unknown", (double)ps->frames_unknown);
	return o;
}
