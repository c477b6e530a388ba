/* The linker stage of insitu-observer (see linker.h). */
#include "linker.h"

#include <inttypes.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "extract_kernel.h"
#include "path.h"
#include "stream.h"
#include "timeutil.h"

#define LINKER_LIVE_LAG_NS 500000000ull /* 0.5 s */

struct linker_sink {
	struct linker_opts o;
	const struct sem_set *sem;
	struct linker *lk;
	struct conn_table conns;
	struct obs_sink sink;
	struct linker_stats st;
};

/* Context of one framer feed: what the frame callback needs to build a message. */
struct feed_ctx {
	struct linker_sink *ls;
	struct conn *c;
	const struct insitu_msg_event *ev;
	enum sem_dir sd;
	uint64_t base;
	/* the kernel's ids block of ev, and where ev's bytes begin in the framer's
	 * offsets: a frame that is exactly ev's bytes can use the block as it is */
	const uint8_t *ids;
	uint16_t ids_len;
	bool ev_whole;        /* ev's bytes were fed whole (no overlap trimmed) */
	uint64_t ev_off;      /* TCP: framer offset of ev's first byte */
	const struct sem_result *kr; /* --payload=ids: the message, already decoded */
};

void linker_opts_defaults(struct linker_opts *o)
{
	memset(o, 0, sizeof(*o));
	lk_cfg_defaults(&o->lk);
	o->max_conns = 16384; /* ~10 KiB each (two framers): ~160 MiB at most */
	o->out = stdout;
}

static void on_path(const struct lk_hop *root, void *arg)
{
	struct linker_sink *ls = arg;
	if (ls->o.on_path)
		ls->o.on_path(root, ls->o.on_path_arg);
	if (!ls->o.out)
		return;
	if (ls->o.format == LINKER_TREE)
		path_write_tree(ls->o.out, root);
	else
		path_write_json(ls->o.out, root);
}

static void on_frame(void *arg, const struct sem_frame *fr);

/* The connection ends: a message the end of the stream completes (HTTP body until
 * close) is emitted, one cut short is emitted flagged, then waiting requests end. */
static void on_conn_end(struct conn *c, bool evicted, void *arg)
{
	struct linker_sink *ls = arg;
	for (int sd = 0; sd < 2; sd++) {
		if (!c->fr[sd] || !c->has_last[sd])
			continue;
		struct feed_ctx x = { .ls = ls, .c = c, .ev = &c->last[sd], .sd = (enum sem_dir)sd,
				      .base = c->dir[sd].base };
		sem_framer_flush(c->fr[sd], on_frame, &x);
	}
	/* Evicted (table full) is not closed: its waiting requests run into their
	 * timeout in the linker's own bounded queues rather than being called closed. */
	if (!evicted)
		lk_conn_closed(ls->lk, c->id, 0);
}

/* Kernel tuple (IPv4 in the first 4 bytes) -> IPv4-mapped IPv6. */
static void addr16(uint8_t out[16], const uint8_t in[16], uint16_t family)
{
	if (family == 2 /* AF_INET */) {
		memset(out, 0, 10);
		out[10] = out[11] = 0xff;
		memcpy(out + 12, in, 4);
	} else {
		memcpy(out, in, 16);
	}
}

static uint64_t id_hash(const struct sem_id *id)
{
	return id->len ? lk_hash(id->b, id->len) : 0;
}

static uint8_t outcome_of(const struct sem_result *r)
{
	if (!r->has_outcome)
		return LK_OUTCOME_UNKNOWN;
	if (r->status == SEM_ST_HEALTHY)
		return LK_OUTCOME_OK;
	if (r->status >= SEM_ST_MAYBE_UNHEALTHY)
		return LK_OUTCOME_ERROR;
	return LK_OUTCOME_UNKNOWN;
}

/* The kernel extracted ids from the first bytes of ev's syscall: they are this
 * frame's ids when the frame is exactly those bytes (a datagram, or one whole
 * message in one TCP syscall; several messages in one syscall, or one message over
 * several, are extracted here). */
static bool frame_is_event(const struct feed_ctx *x, const struct sem_frame *fr)
{
	if (!x->ids_len || !x->ev_whole || fr->len != x->ev->bytes)
		return false;
	if (x->ev->t.proto == IPPROTO_UDP)
		return true;
	return (x->ev->flags & INSITU_F_SEQ_VALID) && fr->pos == x->ev_off;
}

static void on_frame(void *arg, const struct sem_frame *fr)
{
	struct feed_ctx *x = arg;
	struct linker_sink *ls = x->ls;
	const struct insitu_msg_event *ev = x->ev;
	struct sem_result r;
	if (x->kr) {
		r = *x->kr;
	} else if (!ls->o.no_kernel_ids && frame_is_event(x, fr) &&
		   xk_result(x->c->sp, x->sd, x->ids, x->ids_len, fr->cap < fr->len, &r) == 1) {
		ls->st.kernel_ids++;
		if (!r.label[0] && fr->cap)
			sem_label(x->c->sp, x->sd, r.type, fr->data, fr->cap, fr->len, r.label,
				  sizeof(r.label));
	} else {
		sem_extract(x->c->sp, x->sd, fr->data, fr->cap, fr->len, &r);
		ls->st.user_ids++;
	}
	ls->st.frames++;

	struct lk_msg m;
	memset(&m, 0, sizeof(m));
	m.conn = x->c->id;
	m.netns = ev->netns;
	m.pid = ev->pid;
	m.tid = ev->tid;
	memcpy(m.comm, ev->comm, LK_COMM_LEN);
	m.tuple.proto = ev->t.proto;
	m.tuple.lport = ev->t.lport;
	m.tuple.rport = ev->t.rport;
	addr16(m.tuple.laddr, ev->t.laddr, ev->t.family);
	addr16(m.tuple.raddr, ev->t.raddr, ev->t.family);
	m.dir = ev->dir == INSITU_DIR_SEND ? LK_SEND : LK_RECV;
	m.role = r.role; /* same numbering as enum lk_role */
	m.outcome = outcome_of(&r);
	m.status = r.code;
	m.type = r.type < 0 ? 0xffff : (uint16_t)r.type;
	if (fr->flags & SEM_FR_TRUNCATED || r.flags & SEM_R_TRUNCATED)
		m.flags |= LK_F_TRUNCATED;
	if (fr->flags & (SEM_FR_GAP | SEM_FR_ABORTED))
		m.flags |= LK_F_GAP;
	m.t_start = fr->t_first;
	m.t_end = fr->t_last;
	m.len = fr->len > UINT32_MAX ? UINT32_MAX : (uint32_t)fr->len;
	if (ev->t.proto == IPPROTO_TCP)
		m.pos = x->base + fr->pos;
	else if (x->kr) /* no payload: the ids block (same at both ends) stands for it */
		m.content_hash = lk_hash(x->ids, x->ids_len);
	else
		m.content_hash = lk_hash(fr->data, fr->cap);
	if (!ls->o.no_ids) {
		m.link_id = id_hash(&r.link);
		m.query_id = id_hash(&r.query);
		m.response_id = id_hash(&r.response);
		unsigned n = r.n_follow < LK_MAX_FOLLOW ? r.n_follow : LK_MAX_FOLLOW;
		for (unsigned i = 0; i < n; i++)
			m.follow[i] = id_hash(&r.follow[i]);
		m.n_follow = (uint8_t)n;
		if (r.link.len)
			sem_id_format(&r.link, m.id_text, sizeof(m.id_text));
	}
	snprintf(m.proto, sizeof(m.proto), "%s", sem_protocol_name(x->c->sp));
	memcpy(m.label, r.label, sizeof(m.label) < sizeof(r.label) ? sizeof(m.label) : sizeof(r.label));
	m.label[sizeof(m.label) - 1] = 0;
	lk_add(ls->lk, &m);
}

/* Which end is the server, which protocol, and the framers: on first sight. */
static void conn_setup(struct linker_sink *ls, struct conn *c, const struct insitu_msg_event *ev,
		       const uint8_t *payload)
{
	c->netns = ev->netns;
	c->proto = ev->t.proto;
	int ipp = ev->t.proto;
	if (sem_is_server_port(ls->sem, ipp, ev->t.rport))
		c->local_is_server = false;
	else if (sem_is_server_port(ls->sem, ipp, ev->t.lport))
		c->local_is_server = true;
	else {
		c->ignored = true;
		ls->st.no_protocol++;
		return;
	}
	uint16_t sport = c->local_is_server ? ev->t.lport : ev->t.rport;
	bool send = ev->dir == INSITU_DIR_SEND;
	enum sem_dir sd = send != c->local_is_server ? SEM_TO_SERVER : SEM_FROM_SERVER;
	c->sp = sem_lookup(ls->sem, ipp, sport, sd, payload, ev->cap_len);
	if (!c->sp) {
		c->ignored = true;
		ls->st.no_protocol++;
		return;
	}
	c->fr[SEM_TO_SERVER] = sem_framer_new(c->sp, SEM_TO_SERVER);
	c->fr[SEM_FROM_SERVER] = sem_framer_new(c->sp, SEM_FROM_SERVER);
	if (!c->fr[0] || !c->fr[1])
		c->ignored = true;
}

static bool netns_wanted(const struct linker_sink *ls, uint32_t netns)
{
	if (!ls->o.n_netns)
		return true;
	for (unsigned i = 0; i < ls->o.n_netns; i++)
		if (ls->o.netns[i] == netns)
			return true;
	return false;
}

/* --payload=ids: the event is one message whose ids block holds everything; no
 * payload, no framing (one syscall = one message).  The framer of its direction
 * never sees these bytes: what it was assembling ends here (flagged aborted), and
 * its offset 0 moves on so that later frames keep their stream positions. */
static void ids_only_msg(struct linker_sink *ls, struct conn *c, enum sem_dir sd,
			 const struct insitu_msg_event *ev, const uint8_t *ids, uint64_t pos)
{
	struct sem_result r;
	bool trunc = ev->flags & INSITU_F_TRUNCATED;
	struct feed_ctx x = { .ls = ls, .c = c, .ev = ev, .sd = sd, .ids = ids, .ids_len = ev->ids_len };
	if (xk_result(c->sp, sd, ids, ev->ids_len, trunc, &r) < 0) {
		ls->st.ids_only_unusable++; /* e.g. replayed with other semantics */
		r.type = -1;
		r.type_name = "";
		r.role = SEM_ROLE_UNKNOWN;
		r.flags = SEM_R_UNMATCHED;
		r.n_follow = 0;
		r.link.len = r.query.len = r.response.len = 0;
		r.has_outcome = false;
		r.code = -1;
		r.label[0] = 0;
	}
	ls->st.ids_only++;
	if (ev->t.proto == IPPROTO_TCP) {
		struct conn_dir *d = &c->dir[sd];
		if (c->has_last[sd]) {
			struct feed_ctx y = { .ls = ls, .c = c, .ev = &c->last[sd], .sd = sd,
					      .base = d->base };
			sem_framer_flush(c->fr[sd], on_frame, &y);
		}
		d->base += ev->bytes;
		x.base = pos;
	}
	x.kr = &r;
	struct sem_frame fr = { .data = NULL, .cap = 0, .len = ev->bytes, .pos = 0,
				.t_first = ev->t_enter_ns, .t_last = ev->t_exit_ns,
				.flags = trunc ? SEM_FR_TRUNCATED : 0 };
	on_frame(&x, &fr);
}

void linker_sink_msg(struct linker_sink *ls, const struct insitu_msg_event *ev,
		     const uint8_t *payload)
{
	linker_sink_msg_ids(ls, ev, NULL, payload);
}

void linker_sink_msg_ids(struct linker_sink *ls, const struct insitu_msg_event *ev,
			 const uint8_t *ids, const uint8_t *payload)
{
	ls->st.events++;
	if (!netns_wanted(ls, ev->netns)) {
		ls->st.filtered++;
		return;
	}
	if (ev->flags & (INSITU_F_ERROR | INSITU_F_PEEK) || ev->bytes == 0 ||
	    (ev->t.proto != IPPROTO_TCP && ev->t.proto != IPPROTO_UDP)) {
		ls->st.skipped++;
		return;
	}
	bool created;
	uint64_t key = conn_key(ev->sock_id, ev->t.proto, ev->t.raddr, ev->t.rport);
	struct conn *c = conn_get(&ls->conns, key, ev->sock_id, ev->t_exit_ns, &created);
	if (!c)
		return;
	if (created)
		conn_setup(ls, c, ev, payload);
	if (c->ignored)
		return;
	bool send = ev->dir == INSITU_DIR_SEND;
	enum sem_dir sd = send != c->local_is_server ? SEM_TO_SERVER : SEM_FROM_SERVER;
	uint32_t bytes = ev->bytes, cap = ev->cap_len < ev->bytes ? ev->cap_len : ev->bytes;
	bool ids_only = (ev->flags & INSITU_F_IDS_ONLY) && ids && ev->ids_len;
	struct feed_ctx x = { .ls = ls, .c = c, .ev = ev, .sd = sd, .ids = ids,
			      .ids_len = ids ? ev->ids_len : 0, .ev_whole = true };
	struct sem_framer *f = c->fr[sd];

	if (ev->t.proto == IPPROTO_TCP && (ev->flags & INSITU_F_SEQ_VALID)) {
		struct conn_dir *d = &c->dir[sd];
		if (!d->started) {
			d->started = true;
			d->next = d->base = (1ull << 32) | ev->seq;
		}
		uint64_t pos = stream_unwrap32(d->next, ev->seq);
		if (pos > d->next) {
			/* Lost events: tell the framer how many bytes it missed, so it
			 * resyncs and its offsets stay equal to stream positions. */
			ls->st.gaps++;
			ls->st.gap_bytes += pos - d->next;
			x.base = d->base;
			sem_framer_feed(f, NULL, 0, pos - d->next, ev->t_enter_ns, ev->t_enter_ns,
					on_frame, &x);
			d->next = pos;
		} else if (pos < d->next) {
			uint64_t dup = d->next - pos;
			ls->st.overlaps++;
			if (dup >= bytes)
				return;
			x.ev_whole = false;
			if (ids_only) {
				/* part of it seen already: the rest cannot be framed */
				d->next += bytes - dup;
				ls->st.ids_only_unusable++;
				return;
			}
			bytes -= (uint32_t)dup;
			if (dup >= cap) {
				cap = 0;
			} else {
				payload += dup;
				cap -= (uint32_t)dup;
			}
		}
		if (ids_only) {
			d->next += bytes;
			ids_only_msg(ls, c, sd, ev, ids, pos);
			c->last[sd] = *ev;
			c->has_last[sd] = true;
			return;
		}
		x.ev_off = pos - d->base;
		d->next += bytes;
		x.base = d->base;
	} else if (ids_only) {
		if (ev->t.proto == IPPROTO_UDP)
			ids_only_msg(ls, c, sd, ev, ids, 0);
		else
			ls->st.ids_only_unusable++; /* TCP without a stream position */
		return;
	}
	ls->st.truncated_bytes += bytes - cap;
	sem_framer_feed(f, payload, cap, bytes, ev->t_enter_ns, ev->t_exit_ns, on_frame, &x);
	c->last[sd] = *ev;
	c->has_last[sd] = true;
}

void linker_sink_conn(struct linker_sink *ls, const struct insitu_conn_event *ev)
{
	if (!netns_wanted(ls, ev->netns))
		return;
	switch (ev->type) {
	case INSITU_CONN_CLOSE:
	case INSITU_CONN_SOCK_CLOSE:
	case INSITU_CONN_RESET_SENT:
	case INSITU_CONN_RESET_RECV:
		/* time first: what timed out before the close is a timeout, not "closed" */
		if (ev->t_ns)
			lk_tick(ls->lk, ev->t_ns);
		if (ev->sock_id)
			ls->st.closes += conn_close_sock(&ls->conns, ev->sock_id);
		break;
	default:
		break;
	}
}

static void sink_msg(void *ctx, const struct insitu_msg_event *ev, const uint8_t *ids,
		     const uint8_t *payload)
{
	linker_sink_msg_ids(ctx, ev, ids, payload);
}

static void sink_conn(void *ctx, const struct insitu_conn_event *ev)
{
	linker_sink_conn(ctx, ev);
}

static void sink_flush(void *ctx)
{
	struct linker_sink *ls = ctx;
	/* Live: let time pass during idle periods, but stay behind the clock by more
	 * than the consumer usually lags (poll interval, ring-buffer backlog), so that
	 * the events still queued are not declared late or missing. */
	if (ls->o.live) {
		uint64_t now = mono_ns();
		if (now > LINKER_LIVE_LAG_NS)
			lk_tick(ls->lk, now - LINKER_LIVE_LAG_NS);
	}
	if (ls->o.out)
		fflush(ls->o.out);
}

struct linker_sink *linker_sink_new(const struct sem_set *sem, const struct linker_opts *o)
{
	struct linker_sink *ls = calloc(1, sizeof(*ls));
	if (!ls)
		return NULL;
	ls->o = *o;
	if (!ls->o.out && !ls->o.on_path)
		ls->o.out = stdout;
	ls->sem = sem;
	ls->lk = lk_new(&ls->o.lk, on_path, ls);
	if (!ls->lk || conn_table_init(&ls->conns, o->max_conns, on_conn_end, ls)) {
		lk_free(ls->lk);
		free(ls);
		return NULL;
	}
	ls->sink = (struct obs_sink){ .name = "linker", .ctx = ls, .on_msg = sink_msg,
				      .on_conn = sink_conn, .flush = sink_flush };
	return ls;
}

struct obs_sink *linker_sink_obs(struct linker_sink *ls) { return &ls->sink; }
const struct linker_stats *linker_sink_stats(const struct linker_sink *ls) { return &ls->st; }
struct linker *linker_sink_linker(struct linker_sink *ls) { return ls->lk; }

void linker_sink_finish(struct linker_sink *ls)
{
	lk_flush(ls->lk);
	if (ls->o.out)
		fflush(ls->o.out);
}

void linker_sink_print_stats(const struct linker_sink *ls, FILE *out)
{
	const struct lk_stats *s = lk_stats(ls->lk);
	const struct match_stats *m = lk_match_stats(ls->lk);
	fprintf(out,
		"linker: events %" PRIu64 " filtered %" PRIu64 " skipped %" PRIu64 " frames %" PRIu64
		" no_protocol %" PRIu64 " gaps %" PRIu64 " (%" PRIu64 " bytes) overlaps %" PRIu64
		" closes %" PRIu64 " truncated_bytes %" PRIu64 "\n",
		ls->st.events, ls->st.filtered, ls->st.skipped, ls->st.frames, ls->st.no_protocol, ls->st.gaps,
		ls->st.gap_bytes, ls->st.overlaps, ls->st.closes, ls->st.truncated_bytes);
	fprintf(out,
		"linker: ids kernel %" PRIu64 " user_space %" PRIu64 " ids_only %" PRIu64
		" ids_only_unusable %" PRIu64 "\n",
		ls->st.kernel_ids, ls->st.user_ids, ls->st.ids_only, ls->st.ids_only_unusable);
	fprintf(out,
		"linker: connections live %" PRIu64 " created %" PRIu64 " closed %" PRIu64
		" evicted %" PRIu64 "\n",
		ls->conns.st.live, ls->conns.st.created, ls->conns.st.closed, ls->conns.st.evicted);
	fprintf(out,
		"linker: messages %" PRIu64 " requests %" PRIu64 " responses %" PRIu64
		" oneway %" PRIu64 " unknown_role %" PRIu64 " hops %" PRIu64 " joined %" PRIu64 "\n",
		s->messages, s->requests, s->responses, s->oneway, s->unknown_role, s->hops,
		s->joined);
	fprintf(out,
		"linker: linked_id %" PRIu64 " linked_thread %" PRIu64 " ambiguous %" PRIu64
		" no_parent %" PRIu64 " no_link_id %" PRIu64 " fanout_capped %" PRIu64
		" depth_capped %" PRIu64 " follow_dropped %" PRIu64 " hops_evicted %" PRIu64
		" conns_evicted %" PRIu64 "\n",
		s->linked_id, s->linked_thread, s->link_ambiguous, s->link_none, s->no_link_id,
		s->fanout_capped, s->depth_capped, s->follow_dropped, s->hops_evicted,
		s->conns_evicted);
	fprintf(out,
		"linker: match id %" PRIu64 " fifo %" PRIu64 " ambiguous %" PRIu64 " timeouts %" PRIu64
		" late %" PRIu64 " unmatched %" PRIu64 " closed %" PRIu64 " evicted %" PRIu64 "\n",
		m->matched_id, m->matched_fifo, m->ambiguous, m->timeouts, m->late, m->unmatched,
		m->closed, m->evicted_queue + m->evicted_total);
	fprintf(out, "linker: paths %" PRIu64 " incomplete %" PRIu64 "\n", s->paths,
		s->paths_incomplete);
}

void linker_sink_print_stats_json(const struct linker_sink *ls, FILE *out)
{
	const struct lk_stats *s = lk_stats(ls->lk);
	const struct match_stats *m = lk_match_stats(ls->lk);
	const struct linker_stats *e = &ls->st;
	const struct conn_stats *c = &ls->conns.st;
	fprintf(out,
		"{\"events\":%" PRIu64 ",\"filtered\":%" PRIu64 ",\"skipped\":%" PRIu64
		",\"frames\":%" PRIu64 ",\"no_protocol\":%" PRIu64 ",\"gaps\":%" PRIu64
		",\"gap_bytes\":%" PRIu64 ",\"overlaps\":%" PRIu64 ",\"closes\":%" PRIu64
		",\"truncated_bytes\":%" PRIu64 ",\"kernel_ids\":%" PRIu64 ",\"user_ids\":%" PRIu64
		",\"ids_only\":%" PRIu64 ",\"ids_only_unusable\":%" PRIu64,
		e->events, e->filtered, e->skipped, e->frames, e->no_protocol, e->gaps, e->gap_bytes,
		e->overlaps, e->closes, e->truncated_bytes, e->kernel_ids, e->user_ids, e->ids_only,
		e->ids_only_unusable);
	fprintf(out,
		",\"conns_live\":%" PRIu64 ",\"conns_created\":%" PRIu64 ",\"conns_closed\":%" PRIu64
		",\"conns_evicted\":%" PRIu64,
		c->live, c->created, c->closed, c->evicted);
	fprintf(out,
		",\"messages\":%" PRIu64 ",\"requests\":%" PRIu64 ",\"responses\":%" PRIu64
		",\"oneway\":%" PRIu64 ",\"unknown_role\":%" PRIu64 ",\"hops\":%" PRIu64
		",\"joined\":%" PRIu64 ",\"linked_id\":%" PRIu64 ",\"linked_thread\":%" PRIu64
		",\"link_ambiguous\":%" PRIu64 ",\"no_parent\":%" PRIu64 ",\"no_link_id\":%" PRIu64
		",\"fanout_capped\":%" PRIu64 ",\"depth_capped\":%" PRIu64
		",\"follow_dropped\":%" PRIu64 ",\"hops_evicted\":%" PRIu64
		",\"queues_evicted\":%" PRIu64,
		s->messages, s->requests, s->responses, s->oneway, s->unknown_role, s->hops,
		s->joined, s->linked_id, s->linked_thread, s->link_ambiguous, s->link_none,
		s->no_link_id, s->fanout_capped, s->depth_capped, s->follow_dropped,
		s->hops_evicted, s->conns_evicted);
	fprintf(out,
		",\"match_id\":%" PRIu64 ",\"match_fifo\":%" PRIu64 ",\"match_ambiguous\":%" PRIu64
		",\"timeouts\":%" PRIu64 ",\"late\":%" PRIu64 ",\"unmatched\":%" PRIu64
		",\"closed\":%" PRIu64 ",\"waiting_evicted\":%" PRIu64 ",\"paths\":%" PRIu64
		",\"paths_incomplete\":%" PRIu64 "}\n",
		m->matched_id, m->matched_fifo, m->ambiguous, m->timeouts, m->late, m->unmatched,
		m->closed, m->evicted_queue + m->evicted_total, s->paths, s->paths_incomplete);
}

void linker_sink_free(struct linker_sink *ls)
{
	if (!ls)
		return;
	conn_table_destroy(&ls->conns);
	lk_free(ls->lk);
	free(ls);
}
