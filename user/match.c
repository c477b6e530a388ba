/* Request/response matching (see match.h for the rules). */
#include "match.h"

#include <stdlib.h>
#include <string.h>

#include "link_msg.h"

void match_init(struct match_table *mt, const struct match_cfg *cfg, match_end_fn on_end,
		void *arg)
{
	memset(mt, 0, sizeof(*mt));
	mt->cfg = *cfg;
	if (!mt->cfg.queue_cap)
		mt->cfg.queue_cap = 64;
	if (!mt->cfg.total_cap)
		mt->cfg.total_cap = 1u << 20;
	mt->on_end = on_end;
	mt->arg = arg;
}

void match_destroy(struct match_table *mt)
{
	struct match_entry *e = mt->freelist;
	while (e) {
		struct match_entry *n = e->cnext;
		free(e);
		e = n;
	}
	mt->freelist = NULL;
}

static void glist_del(struct match_table *mt, struct match_entry *e)
{
	if (e->state != MATCH_LIVE)
		return;
	if (e->gprev)
		e->gprev->gnext = e->gnext;
	else
		mt->ghead = e->gnext;
	if (e->gnext)
		e->gnext->gprev = e->gprev;
	else
		mt->gtail = e->gprev;
	e->gprev = e->gnext = NULL;
}

/* Unlinks e from everything and returns it to the pool. */
static void entry_free(struct match_table *mt, struct match_entry *e)
{
	struct match_queue *q = e->q;
	glist_del(mt, e);
	if (e->cprev)
		e->cprev->cnext = e->cnext;
	else
		q->head = e->cnext;
	if (e->cnext)
		e->cnext->cprev = e->cprev;
	else
		q->tail = e->cprev;
	q->n--;
	mt->stats.live--;
	e->cnext = mt->freelist;
	mt->freelist = e;
}

/* Ends a live entry without a response and frees it. */
static void end_and_free(struct match_table *mt, struct match_entry *e, enum match_reason why)
{
	void *owner = e->state == MATCH_LIVE ? e->owner : NULL;
	entry_free(mt, e);
	if (owner && mt->on_end)
		mt->on_end(owner, why, mt->arg);
}

struct match_entry *match_push(struct match_table *mt, struct match_queue *q, uint64_t qid,
			       uint64_t t, void *owner)
{
	if (q->n >= mt->cfg.queue_cap && q->head) {
		mt->stats.evicted_queue++;
		end_and_free(mt, q->head, MATCH_R_EVICTED);
	}
	if (mt->stats.live >= mt->cfg.total_cap && mt->ghead) {
		/* Oldest waiting request anywhere: it has waited longest for nothing. */
		mt->stats.evicted_total++;
		end_and_free(mt, mt->ghead, MATCH_R_EVICTED);
	}
	struct match_entry *e = mt->freelist;
	if (e)
		mt->freelist = e->cnext;
	else if (!(e = malloc(sizeof(*e))))
		return NULL;
	memset(e, 0, sizeof(*e));
	e->q = q;
	e->qid = qid;
	e->t = t;
	e->owner = owner;
	e->state = MATCH_LIVE;
	e->pipelined = q->n > 0;
	e->cprev = q->tail;
	if (q->tail)
		q->tail->cnext = e;
	else
		q->head = e;
	q->tail = e;
	q->n++;
	e->gprev = mt->gtail;
	if (mt->gtail)
		mt->gtail->gnext = e;
	else
		mt->ghead = e;
	mt->gtail = e;
	mt->stats.live++;
	mt->stats.pushed++;
	return e;
}

void *match_pop(struct match_table *mt, struct match_queue *q, uint64_t rid, uint16_t *flags)
{
	struct match_entry *hit = NULL;
	uint16_t f = 0;
	if (rid) {
		unsigned same = 0;
		for (struct match_entry *e = q->head; e; e = e->cnext) {
			if (e->qid != rid)
				continue;
			if (!hit)
				hit = e;
			if (e->state == MATCH_LIVE)
				same++;
		}
		if (hit) {
			mt->stats.matched_id++;
			if (same > 1)
				f |= LK_F_AMBIGUOUS;
		}
	} else if (q->head) {
		hit = q->head;
		mt->stats.matched_fifo++;
		if (q->n > 1 || hit->pipelined)
			f |= LK_F_AMBIGUOUS;
	}
	if (!hit) {
		mt->stats.unmatched++;
		*flags = f;
		return NULL;
	}
	if (f & LK_F_AMBIGUOUS)
		mt->stats.ambiguous++;
	void *owner = NULL;
	if (hit->state == MATCH_LIVE) {
		owner = hit->owner;
	} else if (hit->state == MATCH_TIMED_OUT) {
		f |= LK_F_LATE;
		mt->stats.late++;
	} else {
		mt->stats.orphan_hits++;
	}
	entry_free(mt, hit);
	*flags = f;
	return owner;
}

void match_detach(struct match_table *mt, struct match_entry *e)
{
	glist_del(mt, e);
	e->state = MATCH_ORPHAN;
	e->owner = NULL;
}

void match_expire(struct match_table *mt, uint64_t now)
{
	while (mt->ghead && mt->ghead->t + mt->cfg.timeout_ns <= now) {
		struct match_entry *e = mt->ghead;
		void *owner = e->owner;
		glist_del(mt, e);
		e->state = MATCH_TIMED_OUT;
		e->owner = NULL;
		mt->stats.timeouts++;
		if (owner && mt->on_end)
			mt->on_end(owner, MATCH_R_TIMEOUT, mt->arg);
	}
}

void match_close(struct match_table *mt, struct match_queue *q)
{
	while (q->head) {
		if (q->head->state == MATCH_LIVE)
			mt->stats.closed++;
		end_and_free(mt, q->head, MATCH_R_CLOSED);
	}
}
