/* The Rake linker (rules in link.h).
 *
 * Layout: small bounded indexes first (join keys, Follow_IDs, threads, connection
 * queues), then hop life (open/done counting, tree attach, free), then the hot path
 * lk_add(), then time (timeouts, emission) and the derived figures used by output. */
#include "link.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

/* ---- indexes -------------------------------------------------------------- */

struct lk_follow {
	uint64_t key;              /* mix(node, follow id) */
	uint64_t t;                /* when the request carrying it was received */
	uint32_t tid;
	struct lk_hop *hop;
	struct lk_follow *bnext;   /* bucket chain */
	struct lk_follow *hnext;   /* entries of the same hop */
};

struct lk_thr {
	uint64_t key;              /* mix(node, tid) */
	struct lk_hop *last;       /* last request this thread started serving */
	uint32_t n_open;           /* requests it is serving now */
	struct lk_thr *next;
};

struct lk_conn {
	uint64_t conn;
	struct match_queue q;
	struct lk_conn *next;            /* bucket chain */
	struct lk_conn *lprev, *lnext;   /* least recently used first */
};

struct lk_ready {
	struct lk_hop *hop;
	uint64_t id;
	uint64_t at;
};

struct linker {
	struct lk_cfg cfg;
	lk_path_fn on_path;
	void *arg;
	uint64_t now;
	uint64_t next_id;

	struct match_table mt;

	struct lk_hop **kbuckets;   /* join-key index */
	uint64_t kmask;
	struct lk_follow **fbuckets;
	uint64_t fmask;
	uint64_t n_follow;
	struct lk_follow *ffree;
	struct lk_thr **tbuckets;
	uint64_t tmask;
	struct lk_conn **cbuckets;
	uint64_t cmask;
	uint64_t n_conns;
	struct lk_conn *lru_head, *lru_tail;

	struct lk_hop *ahead, *atail; /* age list */
	uint64_t n_hops;
	struct lk_hop *hfree;         /* hop pool: never returned to malloc while running */

	struct lk_ready *ready;       /* ring of roots waiting for linger */
	uint64_t rcap, rhead, rn;

	struct lk_stats stats;
};

static uint64_t pow2_at_least(uint64_t n)
{
	uint64_t p = 1024;
	while (p < n)
		p <<= 1;
	return p;
}

static uint64_t node_key(uint32_t netns, uint32_t pid)
{
	return ((uint64_t)netns << 32) | pid;
}

/* ---- thread index --------------------------------------------------------- */

static struct lk_thr *thr_get(struct linker *lk, uint32_t netns, uint32_t pid, uint32_t tid,
			      bool create)
{
	uint64_t key = lk_mix(node_key(netns, pid), tid);
	struct lk_thr **pp = &lk->tbuckets[key & lk->tmask];
	for (struct lk_thr *t = *pp; t; t = t->next)
		if (t->key == key)
			return t;
	if (!create)
		return NULL;
	struct lk_thr *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->key = key;
	t->next = *pp;
	*pp = t;
	return t;
}

static void thr_drop(struct linker *lk, struct lk_thr *t)
{
	struct lk_thr **pp = &lk->tbuckets[t->key & lk->tmask];
	while (*pp && *pp != t)
		pp = &(*pp)->next;
	if (*pp)
		*pp = t->next;
	free(t);
}

/* The server side of h stops being served by its thread. */
static void thr_server_ended(struct linker *lk, struct lk_hop *h)
{
	struct lk_side *s = &h->side[LK_SERVER];
	struct lk_thr *t = thr_get(lk, s->netns, s->pid, s->tid, false);
	if (!t)
		return;
	if (t->n_open)
		t->n_open--;
	if (t->last == h)
		t->last = NULL;
	if (t->n_open == 0)
		thr_drop(lk, t);
}

/* ---- connection queues ---------------------------------------------------- */

static void lru_unlink(struct linker *lk, struct lk_conn *c)
{
	if (c->lprev)
		c->lprev->lnext = c->lnext;
	else
		lk->lru_head = c->lnext;
	if (c->lnext)
		c->lnext->lprev = c->lprev;
	else
		lk->lru_tail = c->lprev;
	c->lprev = c->lnext = NULL;
}

static void lru_push(struct linker *lk, struct lk_conn *c)
{
	c->lprev = lk->lru_tail;
	if (lk->lru_tail)
		lk->lru_tail->lnext = c;
	else
		lk->lru_head = c;
	lk->lru_tail = c;
}

static void conn_free(struct linker *lk, struct lk_conn *c)
{
	match_close(&lk->mt, &c->q);
	struct lk_conn **pp = &lk->cbuckets[lk_mix(c->conn, 0) & lk->cmask];
	while (*pp && *pp != c)
		pp = &(*pp)->next;
	if (*pp)
		*pp = c->next;
	lru_unlink(lk, c);
	lk->n_conns--;
	free(c);
}

static struct lk_conn *conn_get(struct linker *lk, uint64_t conn, bool create)
{
	struct lk_conn **pp = &lk->cbuckets[lk_mix(conn, 0) & lk->cmask];
	for (struct lk_conn *c = *pp; c; c = c->next) {
		if (c->conn == conn) {
			if (c != lk->lru_tail) {
				lru_unlink(lk, c);
				lru_push(lk, c);
			}
			return c;
		}
	}
	if (!create)
		return NULL;
	if (lk->n_conns >= lk->cfg.max_conns && lk->lru_head) {
		lk->stats.conns_evicted++;
		conn_free(lk, lk->lru_head);
		pp = &lk->cbuckets[lk_mix(conn, 0) & lk->cmask];
	}
	struct lk_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->conn = conn;
	c->next = *pp;
	*pp = c;
	lru_push(lk, c);
	lk->n_conns++;
	return c;
}

/* ---- join-key index ------------------------------------------------------- */

static void key_del(struct linker *lk, struct lk_hop *h)
{
	if (!h->in_key_index)
		return;
	struct lk_hop **pp = &lk->kbuckets[h->key & lk->kmask];
	while (*pp && *pp != h)
		pp = &(*pp)->knext;
	if (*pp)
		*pp = h->knext;
	h->in_key_index = false;
	h->knext = NULL;
}

static void key_add(struct linker *lk, struct lk_hop *h)
{
	struct lk_hop **pp = &lk->kbuckets[h->key & lk->kmask];
	h->knext = *pp;
	*pp = h;
	h->in_key_index = true;
}

/* Client and server endpoints of the request's connection, and its identity. */
static uint64_t hop_key(const struct lk_msg *m, int side, uint8_t caddr[16],
			uint8_t saddr[16], uint16_t *cport, uint16_t *sport, uint64_t *ident)
{
	const struct lk_tuple *t = &m->tuple;
	if (side == LK_CLIENT) {
		memcpy(caddr, t->laddr, 16);
		memcpy(saddr, t->raddr, 16);
		*cport = t->lport;
		*sport = t->rport;
	} else {
		memcpy(caddr, t->raddr, 16);
		memcpy(saddr, t->laddr, 16);
		*cport = t->rport;
		*sport = t->lport;
	}
	uint64_t k;
	if (t->proto == IPPROTO_UDP) {
		/* Unconnected UDP sockets may report a wildcard local address: use
		 * the ports and the datagram itself. */
		*ident = lk_mix(m->content_hash, m->len);
		k = lk_mix(((uint64_t)IPPROTO_UDP << 32) | ((uint64_t)*cport << 16) | *sport, *ident);
	} else {
		*ident = m->pos & 0xffffffffull;
		k = lk_mix(lk_hash(caddr, 16), lk_hash(saddr, 16));
		k = lk_mix(k, ((uint64_t)t->proto << 32) | ((uint64_t)*cport << 16) | *sport);
		k = lk_mix(k, *ident);
	}
	return k ? k : 1;
}

/* ---- follow index --------------------------------------------------------- */

static void follow_add(struct linker *lk, struct lk_hop *h, uint64_t node, uint64_t id,
		       uint64_t t, uint32_t tid)
{
	if (lk->n_follow >= lk->cfg.max_follow) {
		lk->stats.follow_dropped++;
		return;
	}
	struct lk_follow *f = lk->ffree;
	if (f)
		lk->ffree = f->bnext;
	else if (!(f = malloc(sizeof(*f))))
		return;
	f->key = lk_mix(node, id);
	f->t = t;
	f->tid = tid;
	f->hop = h;
	struct lk_follow **b = &lk->fbuckets[f->key & lk->fmask];
	f->bnext = *b;
	*b = f;
	f->hnext = h->follows;
	h->follows = f;
	lk->n_follow++;
}

static void follows_del(struct linker *lk, struct lk_hop *h)
{
	struct lk_follow *f = h->follows;
	while (f) {
		struct lk_follow *n = f->hnext;
		struct lk_follow **pp = &lk->fbuckets[f->key & lk->fmask];
		while (*pp && *pp != f)
			pp = &(*pp)->bnext;
		if (*pp)
			*pp = f->bnext;
		f->bnext = lk->ffree;
		lk->ffree = f;
		lk->n_follow--;
		f = n;
	}
	h->follows = NULL;
}

/* ---- hop life ------------------------------------------------------------- */

static struct lk_hop *root_of(struct lk_hop *h)
{
	while (h->parent)
		h = h->parent;
	return h;
}

static void ready_push(struct linker *lk, struct lk_hop *root)
{
	if (root->queued)
		return;
	if (lk->rn == lk->rcap) {
		uint64_t ncap = lk->rcap ? lk->rcap * 2 : 1024;
		struct lk_ready *nr = malloc(ncap * sizeof(*nr));
		if (!nr)
			return;
		for (uint64_t i = 0; i < lk->rn; i++)
			nr[i] = lk->ready[(lk->rhead + i) % lk->rcap];
		free(lk->ready);
		lk->ready = nr;
		lk->rcap = ncap;
		lk->rhead = 0;
	}
	lk->ready[(lk->rhead + lk->rn) % lk->rcap] =
		(struct lk_ready){ .hop = root, .id = root->id, .at = lk->now };
	lk->rn++;
	root->queued = 1;
}

/* Adds d (+1/-1/subtree count) to the open count of h and its ancestors; a root
 * whose count drops to zero is complete and waits for emission. */
static void open_add(struct linker *lk, struct lk_hop *h, int64_t d)
{
	struct lk_hop *x = h, *root = h;
	for (; x; x = x->parent) {
		x->open = (uint32_t)((int64_t)x->open + d);
		root = x;
	}
	if (root->open == 0) {
		root->done_at = lk->now;
		ready_push(lk, root);
	}
}

static void side_open(struct linker *lk, struct lk_side *s)
{
	s->state = LK_SIDE_OPEN;
	open_add(lk, s->hop, 1);
}

static void side_done(struct linker *lk, struct lk_side *s)
{
	if (s->state != LK_SIDE_OPEN)
		return;
	s->state = LK_SIDE_DONE;
	s->waiting = NULL;
	struct lk_hop *h = s->hop;
	if (s == &h->side[LK_SERVER] && !h->oneway)
		thr_server_ended(lk, h);
	open_add(lk, h, -1);
}

static void age_unlink(struct linker *lk, struct lk_hop *h)
{
	if (h->aprev)
		h->aprev->anext = h->anext;
	else
		lk->ahead = h->anext;
	if (h->anext)
		h->anext->aprev = h->aprev;
	else
		lk->atail = h->aprev;
	h->aprev = h->anext = NULL;
}

static struct lk_hop *hop_new(struct linker *lk)
{
	struct lk_hop *h = lk->hfree;
	if (h)
		lk->hfree = h->anext;
	else if (!(h = malloc(sizeof(*h))))
		return NULL;
	memset(h, 0, sizeof(*h));
	h->id = ++lk->next_id;
	h->side[0].hop = h->side[1].hop = h;
	h->aprev = lk->atail;
	if (lk->atail)
		lk->atail->anext = h;
	else
		lk->ahead = h;
	lk->atail = h;
	lk->n_hops++;
	lk->stats.hops++;
	return h;
}

/* Frees h and its subtree (no output). */
static void tree_free(struct linker *lk, struct lk_hop *h)
{
	struct lk_hop *c = h->first_child;
	while (c) {
		struct lk_hop *n = c->next_sibling;
		tree_free(lk, c);
		c = n;
	}
	for (int i = 0; i < 2; i++) {
		struct lk_side *s = &h->side[i];
		if (s->state == LK_SIDE_OPEN) {
			if (s->waiting)
				match_detach(&lk->mt, s->waiting);
			if (i == LK_SERVER && !h->oneway)
				thr_server_ended(lk, h);
		}
	}
	key_del(lk, h);
	follows_del(lk, h);
	age_unlink(lk, h);
	h->id = 0; /* stale ready-list entries see this */
	h->anext = lk->hfree;
	lk->hfree = h;
	lk->n_hops--;
}

static void emit(struct linker *lk, struct lk_hop *root, uint16_t extra)
{
	root->flags |= extra;
	lk->stats.paths++;
	if (root->open || (extra & LK_F_INCOMPLETE))
		lk->stats.paths_incomplete++;
	if (lk->on_path)
		lk->on_path(root, lk->arg);
	tree_free(lk, root);
}

/* Hops on the longest chain from h down (trees never exceed LK_MAX_DEPTH). */
static unsigned subtree_depth(const struct lk_hop *h, unsigned d)
{
	unsigned best = 0;
	if (d > LK_MAX_DEPTH)
		return 1;
	for (const struct lk_hop *c = h->first_child; c; c = c->next_sibling) {
		unsigned x = subtree_depth(c, d + 1);
		if (x > best)
			best = x;
	}
	return best + 1;
}

/* Makes child (a root so far) a child of parent. */
static bool attach(struct linker *lk, struct lk_hop *parent, struct lk_hop *child)
{
	/* Depth bound: output, freeing and time propagation walk chains recursively. */
	unsigned depth = 1, below;
	for (struct lk_hop *x = parent; x->parent; x = x->parent)
		depth++;
	below = subtree_depth(child, 0);
	if (depth + below > LK_MAX_DEPTH) {
		child->flags |= LK_F_DEPTH_CAP;
		parent->flags |= LK_F_DEPTH_CAP;
		lk->stats.depth_capped++;
		return false;
	}
	if (parent->n_children >= lk->cfg.max_fanout) {
		parent->flags |= LK_F_FANOUT_CAP;
		child->flags |= LK_F_FANOUT_CAP;
		lk->stats.fanout_capped++;
		return false;
	}
	child->parent = parent;
	if (parent->last_child)
		parent->last_child->next_sibling = child;
	else
		parent->first_child = child;
	parent->last_child = child;
	parent->n_children++;
	for (struct lk_hop *x = parent; x && child->open; x = x->parent)
		x->open += child->open;
	return true;
}

/* ---- intra-node linking ----------------------------------------------------- */

/* Parent of a request sent by node (netns,pid) on thread tid at time t. */
static struct lk_hop *find_parent(struct linker *lk, const struct lk_msg *m, uint16_t *flags)
{
	uint64_t node = node_key(m->netns, m->pid);
	if (!m->link_id) {
		lk->stats.no_link_id++;
		if (!lk->cfg.link_by_thread)
			return NULL;
		struct lk_thr *t = thr_get(lk, m->netns, m->pid, m->tid, false);
		if (t && t->n_open == 1 && t->last &&
		    m->t_start >= t->last->side[LK_SERVER].t_req_start &&
		    m->t_start - t->last->side[LK_SERVER].t_req_start <= lk->cfg.window_ns) {
			*flags |= LK_F_BY_THREAD;
			lk->stats.linked_thread++;
			return t->last;
		}
		return NULL;
	}
	uint64_t key = lk_mix(node, m->link_id);
	enum { MAXC = 16 };
	struct lk_follow *cand[MAXC];
	unsigned n = 0, n_open = 0;
	for (struct lk_follow *f = lk->fbuckets[key & lk->fmask]; f; f = f->bnext) {
		/* The parent's receive must end before the child's send starts (same
		 * clock on every CPU; 1 ms of slack for exit/entry stamping order). */
		if (f->key != key || f->t > m->t_start + 1000000ull ||
		    (m->t_start > f->t && m->t_start - f->t > lk->cfg.window_ns))
			continue;
		if (n == MAXC) { /* keep the most recent candidates */
			unsigned o = 0;
			for (unsigned i = 1; i < n; i++)
				if (cand[i]->t < cand[o]->t)
					o = i;
			if (cand[o]->t >= f->t)
				continue;
			n_open -= cand[o]->hop->side[LK_SERVER].state == LK_SIDE_OPEN;
			cand[o] = cand[--n];
		}
		cand[n++] = f;
		n_open += f->hop->side[LK_SERVER].state == LK_SIDE_OPEN;
	}
	if (!n) {
		lk->stats.link_none++;
		return NULL;
	}
	/* 1. prefer requests still being served */
	if (n_open && n_open < n) {
		unsigned k = 0;
		for (unsigned i = 0; i < n; i++)
			if (cand[i]->hop->side[LK_SERVER].state == LK_SIDE_OPEN)
				cand[k++] = cand[i];
		n = k;
	}
	/* 2. a tie: thread affinity breaks it (and says so) */
	if (n > 1) {
		unsigned k = 0;
		for (unsigned i = 0; i < n; i++)
			if (cand[i]->tid == m->tid)
				cand[k++] = cand[i];
		if (k) {
			if (k < n)
				*flags |= LK_F_BY_THREAD;
			n = k;
		}
	}
	/* 3. still a tie: the most recent, flagged ambiguous */
	unsigned best = 0;
	for (unsigned i = 1; i < n; i++)
		if (cand[i]->t > cand[best]->t)
			best = i;
	if (n > 1) {
		*flags |= LK_F_AMBIGUOUS;
		lk->stats.link_ambiguous++;
	}
	lk->stats.linked_id++;
	return cand[best]->hop;
}

/* ---- the hot path ------------------------------------------------------------ */

static void tick(struct linker *lk);

static void fill_req(struct lk_side *s, const struct lk_msg *m)
{
	s->netns = m->netns;
	s->pid = m->pid;
	s->tid = m->tid;
	memcpy(s->comm, m->comm, LK_COMM_LEN);
	s->conn = m->conn;
	s->t_req_start = m->t_start;
	s->t_req_end = m->t_end;
	s->req_len = m->len;
	s->flags |= m->flags & (LK_F_TRUNCATED | LK_F_GAP);
	s->status = -1;
}

static void describe(struct lk_hop *h, const struct lk_msg *m)
{
	if (h->label[0] == 0)
		memcpy(h->label, m->label, sizeof(h->label));
	if (h->id_text[0] == 0)
		memcpy(h->id_text, m->id_text, sizeof(h->id_text));
	if (h->proto[0] == 0)
		memcpy(h->proto, m->proto, sizeof(h->proto));
	h->type = m->type;
	if (!h->link_id)
		h->link_id = m->link_id;
}

static void add_request(struct linker *lk, const struct lk_msg *m)
{
	int si = m->dir == LK_SEND ? LK_CLIENT : LK_SERVER;
	uint8_t caddr[16], saddr[16];
	uint16_t cport, sport;
	uint64_t ident;
	uint64_t key = hop_key(m, si, caddr, saddr, &cport, &sport, &ident);

	/* The other end may have reported this very message already. */
	struct lk_hop *h = NULL;
	for (struct lk_hop *x = lk->kbuckets[key & lk->kmask]; x; x = x->knext) {
		if (x->key != key || x->side[si].state != LK_SIDE_ABSENT ||
		    x->seq_or_hash != ident || x->cport != cport || x->sport != sport)
			continue;
		const struct lk_side *o = &x->side[!si];
		uint64_t dt = o->t_req_start > m->t_start ? o->t_req_start - m->t_start
							   : m->t_start - o->t_req_start;
		if (dt <= lk->cfg.window_ns) {
			h = x;
			break;
		}
	}
	if (h) {
		key_del(lk, h); /* both ends seen: nothing else can join */
		lk->stats.joined++;
	} else {
		if (lk->n_hops >= lk->cfg.max_hops && lk->ahead) {
			lk->stats.hops_evicted++;
			emit(lk, root_of(lk->ahead), LK_F_EVICTED | LK_F_INCOMPLETE);
		}
		if (!(h = hop_new(lk)))
			return;
		h->key = key;
		h->proto_l4 = m->tuple.proto;
		memcpy(h->caddr, caddr, 16);
		memcpy(h->saddr, saddr, 16);
		h->cport = cport;
		h->sport = sport;
		h->seq_or_hash = ident;
		key_add(lk, h);
	}
	describe(h, m);
	struct lk_side *s = &h->side[si];
	fill_req(s, m);
	bool oneway = m->role == LK_ROLE_ONEWAY;
	h->oneway = oneway;
	side_open(lk, s);

	if (si == LK_SERVER) {
		uint64_t node = node_key(m->netns, m->pid);
		for (unsigned i = 0; i < m->n_follow && i < LK_MAX_FOLLOW; i++) {
			bool dup = !m->follow[i];
			for (unsigned j = 0; j < i && !dup; j++)
				dup = m->follow[j] == m->follow[i];
			if (!dup)
				follow_add(lk, h, node, m->follow[i], m->t_end, m->tid);
		}
		if (!oneway) {
			struct lk_thr *t = thr_get(lk, m->netns, m->pid, m->tid, true);
			if (t) {
				t->n_open++;
				t->last = h;
			}
		}
	} else if (!h->parent) {
		uint16_t lf = 0;
		struct lk_hop *p = find_parent(lk, m, &lf);
		if (p && p != h && root_of(p) != h && attach(lk, p, h))
			h->flags |= lf;
	}

	if (oneway) {
		side_done(lk, s);
		return;
	}
	struct lk_conn *c = conn_get(lk, m->conn, true);
	if (c)
		s->waiting = match_push(&lk->mt, &c->q, m->query_id, m->t_end, s);
	if (!s->waiting) /* no memory: do not leave it open forever */
		side_done(lk, s);
}

static void add_response(struct linker *lk, const struct lk_msg *m)
{
	struct lk_conn *c = conn_get(lk, m->conn, false);
	uint16_t f = 0;
	struct lk_side *s = c ? match_pop(&lk->mt, &c->q, m->response_id, &f) : NULL;
	if (!s) {
		if (f & LK_F_LATE)
			lk->stats.responses_late++;
		else
			lk->stats.responses_unmatched++;
		return;
	}
	s->waiting = NULL;
	s->t_resp_start = m->t_start;
	s->t_resp_end = m->t_end;
	s->resp_len = m->len;
	s->outcome = m->outcome;
	s->status = m->status;
	s->flags |= f | (m->flags & (LK_F_TRUNCATED | LK_F_GAP));
	if (s->hop->label[0] == 0)
		describe(s->hop, m);
	side_done(lk, s);
}

void lk_add(struct linker *lk, const struct lk_msg *m)
{
	lk->stats.messages++;
	/* Requests whose time ran out before this message began are timeouts, however
	 * sparse the events were in between: a response arriving after that is late. */
	if (m->t_start > lk->now) {
		lk->now = m->t_start;
		match_expire(&lk->mt, lk->now);
	}
	if (m->t_end > lk->now)
		lk->now = m->t_end;
	switch (m->role) {
	case LK_ROLE_REQUEST:
		lk->stats.requests++;
		add_request(lk, m);
		break;
	case LK_ROLE_ONEWAY:
		lk->stats.oneway++;
		add_request(lk, m);
		break;
	case LK_ROLE_RESPONSE:
		lk->stats.responses++;
		add_response(lk, m);
		break;
	default:
		lk->stats.unknown_role++;
		break;
	}
	tick(lk);
}

/* ---- time ----------------------------------------------------------------- */

static void on_match_end(void *owner, enum match_reason why, void *arg)
{
	struct linker *lk = arg;
	struct lk_side *s = owner;
	s->waiting = NULL;
	s->flags |= why == MATCH_R_TIMEOUT ? LK_F_TIMEOUT
		  : why == MATCH_R_CLOSED ? LK_F_CLOSED
					  : LK_F_EVICTED;
	s->t_gave_up = lk->now;
	side_done(lk, s);
}

static void tick(struct linker *lk)
{
	match_expire(&lk->mt, lk->now);
	while (lk->rn) {
		struct lk_ready *r = &lk->ready[lk->rhead];
		if (r->hop->id == r->id && r->at + lk->cfg.linger_ns > lk->now)
			break;
		struct lk_hop *h = r->hop;
		bool live = h->id == r->id;
		lk->rhead = (lk->rhead + 1) % lk->rcap;
		lk->rn--;
		if (!live)
			continue;
		h->queued = 0;
		if (h->parent || h->open)
			continue; /* became a child, or reopened: requeued when complete */
		if (h->done_at + lk->cfg.linger_ns > lk->now) {
			ready_push(lk, h); /* completed again later than first queued */
			continue;
		}
		emit(lk, h, 0);
	}
}

void lk_tick(struct linker *lk, uint64_t now)
{
	if (now > lk->now)
		lk->now = now;
	tick(lk);
}

void lk_conn_closed(struct linker *lk, uint64_t conn, uint64_t now)
{
	if (now > lk->now)
		lk->now = now;
	struct lk_conn *c = conn_get(lk, conn, false);
	if (c)
		conn_free(lk, c);
	tick(lk);
}

void lk_flush(struct linker *lk)
{
	lk->now += lk->cfg.timeout_ns + lk->cfg.linger_ns + 1;
	tick(lk);
	lk->now += lk->cfg.linger_ns + 1;
	tick(lk);
	/* Whatever is left is open for a reason the input never resolved. */
	while (lk->ahead)
		emit(lk, root_of(lk->ahead), LK_F_INCOMPLETE);
}

/* ---- setup ---------------------------------------------------------------- */

void lk_cfg_defaults(struct lk_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->timeout_ns = 5000000000ull;
	cfg->window_ns = 10000000000ull;
	cfg->linger_ns = 200000000ull;
	cfg->max_fanout = 256;
	cfg->max_hops = 65536;
	cfg->max_follow = 262144;
	cfg->max_conns = 65536;
	cfg->queue_cap = 64;
	cfg->link_by_thread = true;
}

struct linker *lk_new(const struct lk_cfg *cfg, lk_path_fn on_path, void *arg)
{
	struct linker *lk = calloc(1, sizeof(*lk));
	if (!lk)
		return NULL;
	lk->cfg = *cfg;
	lk->on_path = on_path;
	lk->arg = arg;
	uint64_t kb = pow2_at_least(cfg->max_hops), fb = pow2_at_least(cfg->max_follow);
	uint64_t cb = pow2_at_least(cfg->max_conns);
	lk->kbuckets = calloc(kb, sizeof(*lk->kbuckets));
	lk->fbuckets = calloc(fb, sizeof(*lk->fbuckets));
	lk->cbuckets = calloc(cb, sizeof(*lk->cbuckets));
	lk->tbuckets = calloc(4096, sizeof(*lk->tbuckets));
	if (!lk->kbuckets || !lk->fbuckets || !lk->cbuckets || !lk->tbuckets) {
		lk_free(lk);
		return NULL;
	}
	lk->kmask = kb - 1;
	lk->fmask = fb - 1;
	lk->cmask = cb - 1;
	lk->tmask = 4095;
	struct match_cfg mc = { .timeout_ns = cfg->timeout_ns, .queue_cap = cfg->queue_cap,
				.total_cap = cfg->max_hops * 2 };
	match_init(&lk->mt, &mc, on_match_end, lk);
	return lk;
}

void lk_free(struct linker *lk)
{
	if (!lk)
		return;
	lk->on_path = NULL;
	while (lk->ahead)
		tree_free(lk, root_of(lk->ahead));
	while (lk->lru_head)
		conn_free(lk, lk->lru_head);
	match_destroy(&lk->mt);
	for (struct lk_hop *h = lk->hfree; h;) {
		struct lk_hop *n = h->anext;
		free(h);
		h = n;
	}
	for (struct lk_follow *f = lk->ffree; f;) {
		struct lk_follow *n = f->bnext;
		free(f);
		f = n;
	}
	if (lk->tbuckets)
		for (uint64_t i = 0; i <= lk->tmask; i++)
			while (lk->tbuckets[i])
				thr_drop(lk, lk->tbuckets[i]);
	free(lk->kbuckets);
	free(lk->fbuckets);
	free(lk->cbuckets);
	free(lk->tbuckets);
	free(lk->ready);
	free(lk);
}

const struct lk_stats *lk_stats(const struct linker *lk) { return &lk->stats; }
const struct match_stats *lk_match_stats(const struct linker *lk) { return &lk->mt.stats; }
uint64_t lk_hops_alive(const struct linker *lk) { return lk->n_hops; }

/* ---- derived figures --------------------------------------------------------- */

uint64_t lk_hop_client_latency(const struct lk_hop *h)
{
	const struct lk_side *c = &h->side[LK_CLIENT];
	if (c->state != LK_SIDE_DONE || !c->t_resp_end || c->t_resp_end < c->t_req_start)
		return 0;
	return c->t_resp_end - c->t_req_start;
}

uint64_t lk_hop_server_time(const struct lk_hop *h)
{
	const struct lk_side *s = &h->side[LK_SERVER];
	if (s->state != LK_SIDE_DONE || !s->t_resp_start || s->t_resp_start < s->t_req_end)
		return 0;
	return s->t_resp_start - s->t_req_end;
}

/* link.h.  (health_sink.c judges a hop's own time with these: one rule for the
 * children_ns of --paths and for health.) */
bool lk_hop_child_span(const struct lk_hop *c, uint64_t *a, uint64_t *b)
{
	const struct lk_side *cs = &c->side[LK_CLIENT], *ss = &c->side[LK_SERVER];
	/* The parent's own side first, even when the server did answer: an answer that
	 * never arrived (lost, or late to a socket already closed for a retry) kept the
	 * parent waiting until it gave up, not for the server's sub-millisecond work.
	 * Never answered at all (the parent gave up, or the connection closed): the
	 * parent was busy waiting on it all the same. */
	if (cs->state != LK_SIDE_ABSENT && cs->t_req_start && (cs->t_resp_end || cs->t_gave_up)) {
		*a = cs->t_req_start;
		*b = cs->t_resp_end ? cs->t_resp_end : cs->t_gave_up;
	} else if (ss->state != LK_SIDE_ABSENT && ss->t_resp_start) {
		*a = ss->t_req_end;
		*b = ss->t_resp_start;
	} else {
		return false;
	}
	return *b >= *a;
}

/* Union of the children's intervals: parallel fan-out is not counted twice. */
uint64_t lk_hop_children_time(const struct lk_hop *h)
{
	enum { MAXC = 256 };
	uint64_t a[MAXC], b[MAXC];
	unsigned n = 0;
	for (const struct lk_hop *c = h->first_child; c && n < MAXC; c = c->next_sibling)
		if (lk_hop_child_span(c, &a[n], &b[n]))
			n++;
	/* insertion sort by start: fan-out is small and already almost ordered */
	for (unsigned i = 1; i < n; i++) {
		uint64_t x = a[i], y = b[i];
		unsigned j = i;
		for (; j > 0 && a[j - 1] > x; j--) {
			a[j] = a[j - 1];
			b[j] = b[j - 1];
		}
		a[j] = x;
		b[j] = y;
	}
	uint64_t total = 0, cs = 0, ce = 0;
	for (unsigned i = 0; i < n; i++) {
		if (i == 0 || a[i] > ce) {
			total += ce - cs;
			cs = a[i];
			ce = b[i];
		} else if (b[i] > ce) {
			ce = b[i];
		}
	}
	if (n)
		total += ce - cs;
	return total;
}

uint16_t lk_hop_flags(const struct lk_hop *h)
{
	return h->flags | h->side[0].flags | h->side[1].flags;
}

void lk_foreach_open(const struct linker *lk, void (*fn)(const struct lk_hop *h, void *arg),
		     void *arg)
{
	for (const struct lk_hop *h = lk->ahead; h; h = h->anext)
		if (h->side[LK_CLIENT].state == LK_SIDE_OPEN || h->side[LK_SERVER].state == LK_SIDE_OPEN)
			fn(h, arg);
}

uint8_t lk_hop_outcome(const struct lk_hop *h)
{
	for (int i = 0; i < 2; i++)
		if (h->side[i].state == LK_SIDE_DONE && h->side[i].outcome != LK_OUTCOME_UNKNOWN)
			return h->side[i].outcome;
	return LK_OUTCOME_UNKNOWN;
}

int32_t lk_hop_status(const struct lk_hop *h)
{
	for (int i = 0; i < 2; i++)
		if (h->side[i].state == LK_SIDE_DONE && h->side[i].t_resp_end &&
		    h->side[i].status >= 0)
			return h->side[i].status;
	return -1;
}
