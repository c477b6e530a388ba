/* Request/response matching on one connection.
 *
 * Each connection endpoint has a queue of requests waiting for their response (the
 * client's sent requests, the server's received ones).  A response is matched:
 *   - by id when it carries a Response_ID: the oldest waiting request whose Query_ID
 *     is equal (two waiting with the same id: the match is flagged ambiguous);
 *   - else first-in first-out; a FIFO match is flagged ambiguous whenever another
 *     request was waiting at the same time (pipelining), never silently trusted.
 * A request waiting longer than the configured timeout is reported to its owner as a
 * timeout, but its place in the queue is kept (a tombstone): a late response then
 * consumes the tombstone (flagged late) instead of being matched to the next request,
 * which would shift every later FIFO match by one.  Queues and the entry pool are
 * bounded; overflow evicts the oldest entry and is counted.
 *
 * The hot path (push, pop) is O(1) for FIFO and O(queue length) for ids; timeouts are
 * found from the head of one global age-ordered list. */
#ifndef INSITU_MATCH_H
#define INSITU_MATCH_H

#include <stdbool.h>
#include <stdint.h>

enum match_state { MATCH_LIVE = 0, MATCH_TIMED_OUT, MATCH_ORPHAN };

struct match_entry {
	struct match_entry *cprev, *cnext; /* in its queue, oldest first */
	struct match_entry *gprev, *gnext; /* global age list, while live */
	struct match_queue *q;
	uint64_t qid;   /* Query_ID hash, 0 = none */
	uint64_t t;     /* when it started waiting */
	void *owner;    /* caller's object; NULL once timed out or orphaned */
	uint8_t state;
	uint8_t pipelined; /* pushed while another request was waiting */
};

struct match_queue {
	struct match_entry *head, *tail;
	uint32_t n;
};

enum match_reason { MATCH_R_TIMEOUT = 1, MATCH_R_EVICTED, MATCH_R_CLOSED };

/* Told when a waiting request ends without a response. */
typedef void (*match_end_fn)(void *owner, enum match_reason why, void *arg);

struct match_cfg {
	uint64_t timeout_ns;   /* a request unanswered this long is a timeout */
	uint32_t queue_cap;    /* waiting requests (incl. tombstones) per connection */
	uint32_t total_cap;    /* entries in all queues */
};

struct match_stats {
	uint64_t pushed, matched_id, matched_fifo, ambiguous;
	uint64_t timeouts, late, unmatched, closed;
	uint64_t evicted_queue, evicted_total, orphan_hits;
	uint64_t live; /* entries in use now */
};

struct match_table {
	struct match_cfg cfg;
	struct match_entry *ghead, *gtail;
	struct match_entry *freelist;
	struct match_stats stats;
	match_end_fn on_end;
	void *arg;
};

void match_init(struct match_table *mt, const struct match_cfg *cfg, match_end_fn on_end,
		void *arg);
void match_destroy(struct match_table *mt);

/* A request starts waiting on queue q.  Returns its entry (keep it to detach). */
struct match_entry *match_push(struct match_table *mt, struct match_queue *q, uint64_t qid,
			       uint64_t t, void *owner);

/* A response arrived on q.  Returns the owner it answers (NULL: none waiting, or it
 * answers a request that already timed out: *flags says LK_F_LATE) and sets
 * LK_F_AMBIGUOUS in *flags when the choice was not certain. */
void *match_pop(struct match_table *mt, struct match_queue *q, uint64_t rid, uint16_t *flags);

/* The owner is going away: its entry stays as a tombstone to keep FIFO order. */
void match_detach(struct match_table *mt, struct match_entry *e);

/* Times out every live entry that started waiting at or before now - timeout. */
void match_expire(struct match_table *mt, uint64_t now);

/* Connection closed: every live entry ends (MATCH_R_CLOSED); the queue is emptied. */
void match_close(struct match_table *mt, struct match_queue *q);

#endif
