/* The Rake linker: framed messages in, request path trees out.
 *
 * A hop is one request/response exchange on one connection.  It has up to two sides:
 * the client's view (sent the request, received the response) and the server's view
 * (received the request, sent the response).  The rules:
 *
 *  1. Same message, two hosts.  The client's send and the server's receive of one
 *     request are the same message when the connection tuple (client -> server) and
 *     the TCP stream position of the first byte agree (UDP: ports and the datagram's
 *     content hash).  No clock synchronisation is involved.  The two sides become one
 *     hop; its join key is printed so that segments emitted by different observers
 *     can be joined where they meet.
 *  2. Request and response.  Per connection, by Query_ID/Response_ID when the
 *     protocol has them, else FIFO with pipelined matches flagged ambiguous; a request
 *     unanswered for timeout_ns ends as a timeout (match.h).
 *  3. Within a node (netns + process).  A request the node SENDS is a child of a
 *     request the same node RECEIVED earlier (within window_ns) when its Link_ID equals
 *     one of that request's Follow_IDs.  Several candidates: prefer one still being
 *     served, then one on the same thread (thread affinity only breaks ties), then the
 *     most recent, and flag the link ambiguous.  A sent request with no Link_ID may,
 *     if enabled, be attached to the only request its thread is serving (flagged
 *     by_thread); with two or more it stays unlinked.
 *  4. Output.  A tree is emitted once its root is done, every hop in it is done
 *     (answered, timed out or closed) and linger_ns has passed (time from events, so
 *     replays are deterministic).  Fan-out per hop, hops alive, follow-index entries
 *     and connection queues are all capped; every cap has a counter.
 */
#ifndef INSITU_LINK_H
#define INSITU_LINK_H

#include <stdbool.h>
#include <stdint.h>

#include "link_msg.h"
#include "match.h"

enum lk_side_idx { LK_CLIENT = 0, LK_SERVER = 1 };
enum lk_side_state { LK_SIDE_ABSENT = 0, LK_SIDE_OPEN, LK_SIDE_DONE };

struct lk_hop;

struct lk_side {
	uint8_t state;     /* enum lk_side_state */
	uint8_t outcome;   /* enum lk_outcome, from the response */
	uint16_t flags;    /* enum lk_flag */
	int32_t status;
	uint32_t netns, pid, tid;
	char comm[LK_COMM_LEN];
	uint64_t conn;
	uint64_t t_req_start, t_req_end, t_resp_start, t_resp_end;
	uint64_t t_gave_up;  /* ended without a response (timeout, close): when */
	uint32_t req_len, resp_len;
	struct match_entry *waiting; /* in its connection's queue while open */
	struct lk_hop *hop;
};

struct lk_hop {
	uint64_t id;
	uint64_t key;           /* cross-host join key (hash of the fields below) */
	uint8_t proto_l4;       /* IPPROTO_TCP / IPPROTO_UDP */
	uint8_t n_follow;
	uint8_t oneway;
	uint8_t queued;         /* on the ready-to-emit list */
	uint16_t flags;         /* link flags: AMBIGUOUS, BY_THREAD, FANOUT_CAP, EVICTED.. */
	uint16_t type;
	uint8_t caddr[16], saddr[16]; /* client and server address (as seen first) */
	uint16_t cport, sport;
	uint64_t seq_or_hash;   /* TCP: seq (mod 2^32) of the request; UDP: content hash */
	uint64_t link_id;
	uint64_t follow[LK_MAX_FOLLOW];
	char proto[8];
	char label[LK_LABEL_LEN];
	char id_text[LK_IDTEXT_LEN];
	struct lk_side side[2];

	struct lk_hop *parent, *first_child, *last_child, *next_sibling;
	uint32_t n_children;
	uint32_t open;          /* open sides in this subtree (this hop included) */
	uint64_t done_at;       /* event time the subtree became complete */

	struct lk_hop *aprev, *anext;  /* age list (all live hops) */
	struct lk_hop *knext;          /* join-key index chain */
	struct lk_hop *rnext;          /* ready list */
	struct lk_follow *follows;     /* follow-index entries owned by this hop */
	bool in_key_index;
};

struct lk_cfg {
	uint64_t timeout_ns;   /* request without response -> timeout (default 5 s) */
	uint64_t window_ns;    /* how far back a Follow_ID may be matched (default 10 s) */
	uint64_t linger_ns;    /* wait after completion before emitting (default 200 ms) */
	uint32_t max_fanout;   /* children per hop (default 256) */
	uint32_t max_hops;     /* hops alive (default 262144) */
	uint32_t max_follow;   /* follow-index entries (default 262144) */
	uint32_t max_conns;    /* connections with waiting requests (default 65536) */
	uint32_t queue_cap;    /* waiting requests per connection (default 64) */
	bool link_by_thread;   /* fallback for sent requests without Link_ID (default on) */
};

struct lk_stats {
	uint64_t messages, requests, responses, oneway, unknown_role;
	uint64_t hops, joined;          /* hops created; hops seen from both ends */
	uint64_t linked_id, linked_thread, link_ambiguous, link_none, no_link_id;
	uint64_t fanout_capped, depth_capped, follow_dropped, hops_evicted, conns_evicted;
	uint64_t responses_unmatched, responses_late;
	uint64_t paths, paths_incomplete;
};

/* Called for every completed tree; the tree is freed when it returns. */
typedef void (*lk_path_fn)(const struct lk_hop *root, void *arg);

struct linker;

void lk_cfg_defaults(struct lk_cfg *cfg);
struct linker *lk_new(const struct lk_cfg *cfg, lk_path_fn on_path, void *arg);
void lk_free(struct linker *lk);

/* The hot path: one framed, classified message. */
void lk_add(struct linker *lk, const struct lk_msg *m);

/* The connection is gone (close, reset, fd reuse): its waiting requests end
 * (flagged closed) and its state is forgotten. */
void lk_conn_closed(struct linker *lk, uint64_t conn, uint64_t now);

/* Advances time without a message (idle periods): timeouts and emission. */
void lk_tick(struct linker *lk, uint64_t now);

/* End of input: every waiting request ends as a timeout, every tree is emitted. */
void lk_flush(struct linker *lk);

/* Calls fn for every hop still waiting for its response (a side open), oldest first:
 * the health stage's view of requests outstanding.  Not for the per-event path. */
void lk_foreach_open(const struct linker *lk, void (*fn)(const struct lk_hop *h, void *arg),
		     void *arg);

const struct lk_stats *lk_stats(const struct linker *lk);
const struct match_stats *lk_match_stats(const struct linker *lk);
uint64_t lk_hops_alive(const struct linker *lk);

/* Derived per-hop figures (ns; 0 when a needed side was not seen). */
uint64_t lk_hop_client_latency(const struct lk_hop *h);
uint64_t lk_hop_server_time(const struct lk_hop *h);
/* How long a parent waited on child c, [*a, *b]: as the parent's node saw it (request
 * sent .. answer received, or .. given up), else as the child's server saw it. */
bool lk_hop_child_span(const struct lk_hop *c, uint64_t *a, uint64_t *b);
/* The union of the children's spans: retries in a row and parallel fan-out counted once. */
uint64_t lk_hop_children_time(const struct lk_hop *h);
uint16_t lk_hop_flags(const struct lk_hop *h); /* hop flags | both sides' flags */
uint8_t lk_hop_outcome(const struct lk_hop *h);
int32_t lk_hop_status(const struct lk_hop *h);

#endif
