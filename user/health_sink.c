/* The health stage of insitu-observer (health_sink.h): turns request paths and
 * connection lifecycle events into evidence for the health windows, names the
 * components, and hands the windows' reports to the reporter. */
#include "health_sink.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cjson/cJSON.h>

#include "timeutil.h"

/* How long the linker holds a completed path before delivering it (its linger,
 * 200 ms by default): evidence that much older than its delivery is on time. */
#define LINGER_NS 200000000ull

/* Sockets whose owner (the process that called connect) we remember, so that TCP
 * state changes seen in softirq context (no meaningful pid) are charged to the right
 * observer.  Direct-mapped: a collision replaces the older entry (counted). */
#define OWNER_SLOTS 65536

struct owner {
	uint64_t sock_id; /* 0: empty */
	uint32_t netns, pid;
	uint64_t cgroup;
	char comm[INSITU_COMM_LEN];
};

struct health_sink {
	struct names *names;
	struct health *h;
	struct reporter *rep;
	FILE *print;
	bool live;
	struct linker *lk;
	uint64_t now;      /* when windows close: event time (replay) or clock (live) */
	uint64_t ev_first; /* first event time: start of the warm-up */
	uint64_t ev_now;   /* newest event time consumed: what waiting requests are aged
			      against, so a response still queued in the ring buffer
			      never looks like a request still waiting */
	struct owner *owners;
	struct obs_sink sink;
	struct health_sink_stats st;
};

static void emit(const struct insitu_report *r, void *arg)
{
	struct health_sink *hs = arg;

	if (hs->rep)
		reporter_add(hs->rep, r);
	if (hs->print) {
		cJSON *j = insitu_report_to_json(r);
		char *s = j ? cJSON_PrintUnformatted(j) : NULL;
		if (s)
			fprintf(hs->print, "%s\n", s);
		free(s);
		cJSON_Delete(j);
	}
}

/* ---- paths ---------------------------------------------------------------- */

static const char *side_name(struct health_sink *hs, const struct lk_side *s)
{
	return names_node(hs->names, s->netns, s->pid, s->comm, 0);
}

static bool warming_up(const struct health_sink *hs)
{
	/* For a while after the first event (health_cfg.warmup_ns), evidence about a
	 * server known only by its address is held back: connections opened before the
	 * observer started show their server's own side only once it next reads, and a
	 * provisional "addr:port" name would otherwise live on in insitud next to the
	 * real one. */
	return hs->ev_now - hs->ev_first < health_cfg_of(hs->h)->warmup_ns;
}

/* Observer and subject of a hop, learning the server's endpoint on the way.
 * Returns false when the evidence should be held back (warm-up, see above). */
static bool hop_names(struct health_sink *hs, const struct lk_hop *h, const char **obs,
		      const char **subj)
{
	const struct lk_side *c = &h->side[LK_CLIENT], *s = &h->side[LK_SERVER];

	if (s->state != LK_SIDE_ABSENT) {
		names_server_seen(hs->names, s->netns, s->pid, s->comm, 0, h->saddr, h->sport);
		*subj = side_name(hs, s);
	} else {
		if (warming_up(hs) && !names_endpoint_known(hs->names, c->netns, h->saddr, h->sport)) {
			hs->st.held_back++;
			return false;
		}
		*subj = names_endpoint(hs->names, c->netns, h->saddr, h->sport);
	}
	if (c->state != LK_SIDE_ABSENT)
		names_client_seen(hs->names, c->netns, c->pid, c->comm, 0, h->caddr);
	*obs = c->state != LK_SIDE_ABSENT ? side_name(hs, c) : names_remote_client(hs->names, h->caddr);
	return true;
}

static uint64_t gave_up_at(const struct lk_hop *h)
{
	uint64_t a = h->side[LK_CLIENT].t_gave_up, b = h->side[LK_SERVER].t_gave_up;
	return a && b ? (a < b ? a : b) : a ? a : b;
}

/* How far apart two closes may be and still be one give-up: a proxy drops the
 * upstream request and its caller's connection in one go (nginx closes the upstream
 * first), so the two ends are microseconds apart, a loaded host's scheduling aside. */
#define SAME_GIVE_UP_NS 100000000ull

/* Closed without an answer while the request it was serving also ended without an
 * answer, at about the same time or later: the caller went away and the proxy dropped
 * the upstream request with it (nginx closes the upstream connection first, then the
 * client's, so the order of the two closes within SAME_GIVE_UP_NS says nothing).
 * Nobody's failure downstream.  A child given up well before its parent ended is a
 * retry (a resolver giving up on a silent or refusing upstream and asking again): that
 * is the child's failure, and what kept the parent waiting.  A child that failed on
 * its own (reset, timeout) makes its parent answer with an error, and a parent that
 * crashed is still judged by its own caller. */
static bool abandoned(const struct lk_hop *h)
{
	const struct lk_hop *p = h->parent;
	uint64_t pg, hg;

	if (!p || !(lk_hop_flags(h) & LK_F_CLOSED) || (lk_hop_flags(h) & LK_F_TIMEOUT) ||
	    !(lk_hop_flags(p) & (LK_F_CLOSED | LK_F_TIMEOUT)))
		return false;
	pg = gave_up_at(p);
	hg = gave_up_at(h);
	return pg && hg && hg + SAME_GIVE_UP_NS >= pg;
}

/* Closed by its caller although the server had already sent the answer: the answer
 * was in flight (a resolver's retry timer firing first on a starved host, or the
 * network holding it).  The server did its part in time; the caller's wait, if too
 * long, shows in the latency of the attempt that got through. */
static bool answer_in_flight(const struct lk_hop *h)
{
	const struct lk_side *c = &h->side[LK_CLIENT], *s = &h->side[LK_SERVER];

	return (lk_hop_flags(h) & LK_F_CLOSED) && !(lk_hop_flags(h) & LK_F_TIMEOUT) &&
	       c->state != LK_SIDE_ABSENT && !c->t_resp_end && c->t_gave_up &&
	       s->state == LK_SIDE_DONE && s->t_resp_start && s->t_resp_start <= c->t_gave_up;
}

static bool hop_failed(const struct lk_hop *h)
{
	uint16_t f = lk_hop_flags(h);
	if (abandoned(h) || answer_in_flight(h))
		return false;
	return (f & (LK_F_TIMEOUT | LK_F_CLOSED)) || lk_hop_outcome(h) == LK_OUTCOME_ERROR;
}

/* Did this hop fail because of its children?  One of them failed, or -- for a hop
 * its caller gave up on -- one was still outstanding when it was given up (a hung
 * upstream's answer arriving after the client left): the caller waited for the
 * callee's callee. */
static bool failed_below(const struct lk_hop *h)
{
	uint64_t g = gave_up_at(h), a, b;
	const struct lk_side *c = &h->side[LK_CLIENT];
	/* unanswered as the caller saw it (the server may answer after it left) */
	bool unanswered = c->state != LK_SIDE_ABSENT ? !c->t_resp_end : !h->side[LK_SERVER].t_resp_end;

	for (const struct lk_hop *k = h->first_child; k; k = k->next_sibling) {
		if (hop_failed(k))
			return true;
		if (unanswered && g && lk_hop_child_span(k, &a, &b) && a < g && b >= g)
			return true;
	}
	return false;
}

/* A hop's own time: the caller's latency (else the server's own time, the best
 * evidence a server-side observer has of what its remote callers see), less the time
 * its linked children took. */
static uint64_t own_latency(const struct lk_hop *h)
{
	uint64_t lat = h->side[LK_CLIENT].state == LK_SIDE_DONE ? lk_hop_client_latency(h)
								: lk_hop_server_time(h);
	uint64_t kids = lk_hop_children_time(h);
	return lat > kids ? lat - kids : 0;
}

static void judge_hop(struct health_sink *hs, const struct lk_hop *h)
{
	const struct lk_side *c = &h->side[LK_CLIENT], *s = &h->side[LK_SERVER];
	uint16_t flags = lk_hop_flags(h);
	enum health_outcome out = HEALTH_OK;
	const char *obs, *subj;
	uint64_t lat, t;

	if (h->oneway || (flags & (LK_F_EVICTED | LK_F_INCOMPLETE)) || abandoned(h) ||
	    answer_in_flight(h)) {
		hs->st.hops_skipped++;
		return;
	}
	/* Seen only from the server's side although the client is a process we watch:
	 * the client's own view is the evidence (it gave up, or its side is a hop of its
	 * own); a server answering requests its client abandoned says nothing new, and
	 * would add a spurious observer whose stale view outvotes the real one. */
	if (c->state == LK_SIDE_ABSENT && names_client_known(hs->names, h->caddr)) {
		hs->st.hops_skipped++;
		return;
	}
	if (!hop_names(hs, h, &obs, &subj))
		return;
	t = c->t_resp_end ? c->t_resp_end : s->t_resp_end ? s->t_resp_end
		: c->t_gave_up ? c->t_gave_up : h->done_at;
	if (flags & LK_F_TIMEOUT) {
		out = HEALTH_TIMED_OUT;
		/* it became a timeout for the health windows (and was reported waiting
		 * as such) long before the linker gave up on it */
		uint64_t from = c->state != LK_SIDE_ABSENT ? c->t_req_start : s->t_req_end;
		uint64_t when = from + health_cfg_of(hs->h)->timeout_ns;
		if (from && when < t)
			t = when;
	} else if (hop_failed(h)) {
		out = HEALTH_FAILED;
		/* A UDP request never answered failed when it was sent to a server that
		 * did not answer; its caller closing the socket later is the caller's
		 * retry timer (unbound's, after named came back), not a new failure. */
		if (h->proto_l4 == 17 /* UDP */ && !c->t_resp_end && c->t_req_start)
			t = c->t_req_start;
	}
	/* Done long before its path was delivered (the path waited for a slow or timed
	 * out part of it): its windows are gone, and a fault it showed may be over. */
	if (t && t + health_cfg_of(hs->h)->window_ns + LINGER_NS < hs->ev_now) {
		hs->st.late++;
		return;
	}
	lat = own_latency(h);
	/* A failure that comes from below is the children's, not this hop's: a proxy
	 * relaying its upstream's error, or a resolver that kept retrying a silent
	 * upstream until its own caller gave up on it.  An exchange that ended
	 * unanswered because of them has no latency of its own to judge: the time
	 * between two attempts is the retry timer's, set by the child's failure. */
	if (out != HEALTH_OK && failed_below(h)) {
		if (!c->t_resp_end && !s->t_resp_end)
			lat = HEALTH_NO_LATENCY;
		out = HEALTH_OK;
	}
	hs->st.hops++;
	health_exchange(hs->h, obs, subj, t ? t : hs->now, lat, out);
}

static void walk(struct health_sink *hs, const struct lk_hop *h)
{
	judge_hop(hs, h);
	for (const struct lk_hop *c = h->first_child; c; c = c->next_sibling)
		walk(hs, c);
}

void health_sink_path(const struct lk_hop *root, void *arg)
{
	walk(arg, root);
}

/* Requests still waiting when a window closes: PENDING / UNHEALTHY evidence.  One
 * waiting on a child that is itself waiting is the child's business. */
static void open_hop(const struct lk_hop *h, void *arg)
{
	struct health_sink *hs = arg;
	const struct lk_side *c = &h->side[LK_CLIENT], *s = &h->side[LK_SERVER];
	const char *obs, *subj;
	uint64_t start;

	if (h->oneway)
		return;
	/* Waiting on a child that is itself waiting, or on a request whose upstream
	 * already failed it once (a resolver between two attempts at a silent upstream,
	 * or still sorting out its answer after the upstream came back): the child's
	 * business.  Requests that met no upstream failure still show a stuck caller. */
	for (const struct lk_hop *k = h->first_child; k; k = k->next_sibling) {
		if (k->side[LK_CLIENT].state == LK_SIDE_OPEN || k->side[LK_SERVER].state == LK_SIDE_OPEN)
			return;
		/* given up on unanswered (failed, or its answer still in flight) */
		if (gave_up_at(k) && !k->side[LK_CLIENT].t_resp_end && !abandoned(k))
			return;
	}
	if (c->state == LK_SIDE_OPEN)
		start = c->t_req_start;
	else if (s->state == LK_SIDE_OPEN)
		start = s->t_req_start;
	else
		return;
	/* its own wait: since its request, or since its last child answered (a proxy
	 * has waited on itself for 0 ms the moment its upstream's answer arrives) */
	for (const struct lk_hop *k = h->first_child; k; k = k->next_sibling) {
		uint64_t a, b;
		if (lk_hop_child_span(k, &a, &b) && b > start)
			start = b;
	}
	if (!start || start > hs->ev_now)
		return;
	if (!hop_names(hs, h, &obs, &subj))
		return;
	health_waiting(hs->h, obs, subj, hs->now, hs->ev_now - start);
}

/* ---- connection signals --------------------------------------------------- */

static struct owner *owner_slot(struct health_sink *hs, uint64_t sock_id)
{
	uint64_t x = sock_id * 0x9e3779b97f4a7c15ull;
	return &hs->owners[(x >> 40) & (OWNER_SLOTS - 1)];
}

/* The event's addresses are raw (IPv4 in the first 4 bytes); names want IPv4-mapped. */
static void to_mapped(const struct insitu_tuple *t, const uint8_t raw[16], uint8_t out[16])
{
	if (t->family == AF_INET) {
		memset(out, 0, 10);
		out[10] = out[11] = 0xff;
		memcpy(out + 12, raw, 4);
	} else {
		memcpy(out, raw, 16);
	}
}

static void signal_from(struct health_sink *hs, const struct insitu_conn_event *ev,
			enum health_signal sig)
{
	struct owner *o = owner_slot(hs, ev->sock_id);
	const char *obs, *subj;
	uint8_t raddr[16];

	if (ev->sock_id && o->sock_id == ev->sock_id) {
		obs = names_node(hs->names, o->netns, o->pid, o->comm, o->cgroup);
	} else if (sig == HEALTH_SIG_REFUSED && ev->pid) {
		/* a blocking connect() failing in the caller's own context */
		obs = names_node(hs->names, ev->netns, ev->pid, ev->comm, ev->cgroup_id);
	} else {
		hs->st.owners_unknown++;
		return;
	}
	to_mapped(&ev->t, ev->t.raddr, raddr);
	if (warming_up(hs) && !names_endpoint_known(hs->names, ev->netns, raddr, ev->t.rport)) {
		hs->st.held_back++;
		return;
	}
	subj = names_endpoint(hs->names, ev->netns, raddr, ev->t.rport);
	hs->st.signals++;
	health_signal(hs->h, obs, subj, ev->t_ns, sig);
}

/* A replay's clock is the events': windows close as soon as event time passes
 * their end, as the live clock would close them, also while nothing completes (a
 * hang) -- not only when the reader next flushes. */
static void replay_clock(struct health_sink *hs)
{
	hs->now = hs->ev_now;
	health_tick(hs->h, hs->now);
}

static void on_conn(void *ctx, const struct insitu_conn_event *ev)
{
	struct health_sink *hs = ctx;
	struct owner *o;

	uint8_t laddr[16];

	if (!hs->ev_first)
		hs->ev_first = ev->t_ns;
	if (ev->t_ns > hs->ev_now)
		hs->ev_now = ev->t_ns;
	if (!hs->live)
		replay_clock(hs);
	switch (ev->type) {
	case INSITU_CONN_ACCEPT:
		/* The server is known by its address from its first accepted connection,
		 * before any request: clients never see it under a provisional name. */
		to_mapped(&ev->t, ev->t.laddr, laddr);
		names_server_seen(hs->names, ev->netns, ev->pid, ev->comm, ev->cgroup_id, laddr,
				  ev->t.lport);
		break;
	case INSITU_CONN_CONNECT:
		if (ev->err == ECONNREFUSED) {
			signal_from(hs, ev, HEALTH_SIG_REFUSED);
			break;
		}
		if (ev->t.proto != 6 /* IPPROTO_TCP */ || !ev->sock_id)
			break;
		o = owner_slot(hs, ev->sock_id);
		if (o->sock_id && o->sock_id != ev->sock_id)
			hs->st.owner_evictions++;
		o->sock_id = ev->sock_id;
		o->netns = ev->netns;
		o->pid = ev->pid;
		o->cgroup = ev->cgroup_id;
		memcpy(o->comm, ev->comm, sizeof(o->comm));
		o->comm[sizeof(o->comm) - 1] = '\0';
		break;
	case INSITU_CONN_CONNECT_FAILED:
		signal_from(hs, ev, ev->err == ECONNREFUSED ? HEALTH_SIG_REFUSED
							   : HEALTH_SIG_CONNECT_TIMEOUT);
		break;
	case INSITU_CONN_RESET_RECV:
		signal_from(hs, ev, HEALTH_SIG_RESET);
		break;
	case INSITU_CONN_RETRANSMIT:
		signal_from(hs, ev, HEALTH_SIG_RETRANSMIT);
		break;
	case INSITU_CONN_SOCK_CLOSE:
		o = owner_slot(hs, ev->sock_id);
		if (o->sock_id == ev->sock_id)
			o->sock_id = 0;
		break;
	default:
		break;
	}
}

/* A connected UDP socket's call failing with ECONNREFUSED: the kernel got an ICMP
 * port unreachable for an earlier datagram, so nobody listens at the far end -- the
 * UDP form of a refused connection (resolvers such as unbound connect their upstream
 * sockets).  Unconnected sockets never see it (the error is not queued for them). */
static void udp_refused(struct health_sink *hs, const struct insitu_msg_event *ev)
{
	const char *obs, *subj;
	uint8_t raddr[16];

	to_mapped(&ev->t, ev->t.raddr, raddr);
	if (!ev->t.rport)
		return;
	if (warming_up(hs) && !names_endpoint_known(hs->names, ev->netns, raddr, ev->t.rport)) {
		hs->st.held_back++;
		return;
	}
	obs = names_node(hs->names, ev->netns, ev->pid, ev->comm, ev->cgroup_id);
	subj = names_endpoint(hs->names, ev->netns, raddr, ev->t.rport);
	hs->st.signals++;
	hs->st.udp_refused++;
	health_signal(hs->h, obs, subj, ev->t_exit_ns, HEALTH_SIG_REFUSED);
}

static void on_msg(void *ctx, const struct insitu_msg_event *ev, const uint8_t *ids,
		   const uint8_t *payload)
{
	struct health_sink *hs = ctx;

	if (!hs->ev_first)
		hs->ev_first = ev->t_exit_ns;
	if (ev->t_exit_ns > hs->ev_now)
		hs->ev_now = ev->t_exit_ns;
	if (!hs->live)
		replay_clock(hs);
	if (ev->cgroup_id && names_cgroups_matter(hs->names))
		names_cgroup_seen(hs->names, ev->netns, ev->pid, ev->comm, ev->cgroup_id);
	if ((ev->flags & INSITU_F_ERROR) && ev->ret == -ECONNREFUSED && ev->t.proto == 17 /* UDP */)
		udp_refused(hs, ev);
}

/* health_on_close(): every window, live or replayed, is judged with the requests
 * still outstanding when it closes. */
static void window_closing(void *arg)
{
	struct health_sink *hs = arg;

	if (hs->lk)
		lk_foreach_open(hs->lk, open_hop, hs);
}

static void flush(void *ctx)
{
	struct health_sink *hs = ctx;

	if (hs->live)
		hs->now = mono_ns();
	health_tick(hs->h, hs->now);
	if (hs->rep)
		reporter_flush(hs->rep, mono_ns());
	if (hs->print)
		fflush(hs->print);
}

struct health_sink *health_sink_new(struct names *names, const struct health_cfg *cfg,
				    struct reporter *rep, FILE *print, bool live)
{
	struct health_sink *hs = calloc(1, sizeof(*hs));

	if (!hs)
		return NULL;
	hs->names = names;
	hs->rep = rep;
	hs->print = print;
	hs->live = live;
	hs->h = health_new(cfg, emit, hs);
	if (hs->h)
		health_on_close(hs->h, window_closing, hs);
	hs->owners = calloc(OWNER_SLOTS, sizeof(*hs->owners));
	if (!hs->h || !hs->owners) {
		health_sink_free(hs);
		return NULL;
	}
	hs->sink.name = "health";
	hs->sink.ctx = hs;
	hs->sink.on_msg = on_msg;
	hs->sink.on_conn = on_conn;
	hs->sink.flush = flush;
	return hs;
}

void health_sink_free(struct health_sink *hs)
{
	if (!hs)
		return;
	health_free(hs->h);
	free(hs->owners);
	free(hs);
}

void health_sink_set_linker(struct health_sink *hs, struct linker *lk) { hs->lk = lk; }
struct obs_sink *health_sink_obs(struct health_sink *hs) { return &hs->sink; }
struct health *health_sink_health(struct health_sink *hs) { return hs->h; }
const struct health_sink_stats *health_sink_stats(const struct health_sink *hs) { return &hs->st; }

void health_sink_finish(struct health_sink *hs)
{
	/* Close the window still open: the evidence in it is as real as the rest. */
	health_tick(hs->h, hs->now + health_cfg_window(hs->h));
	if (hs->rep)
		reporter_flush(hs->rep, mono_ns());
	if (hs->print)
		fflush(hs->print);
}
