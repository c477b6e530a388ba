/* Exchange of reports between aggregators over TCP (one hop).
 *
 * Every locally accepted report is queued for every peer that has not said it
 * ignores the subject (bounded queue per peer; overflow counted) and sent in batches
 * over the connection this instance opens to the peer, which answers each batch with
 * per-report results: IGNORED puts the subject on that peer's ignored list, ACCEPTED
 * takes it off; SUBSCRIPTION / UNSUBSCRIPTION messages (batched; sent when this instance
 * starts / stops watching a subject) do the same on the receiving side.  Reports
 * learned from a peer are never forwarded.
 *
 * Connections: reconnection with exponential backoff (100 ms .. 5 s), a timeout on
 * every batch, keepalives.  Frames (frame.h) are length-prefixed, versioned and carry
 * an HMAC-SHA256 over the whole frame with the pre-shared key and a per-connection
 * challenge, plus a sequence number against replay; any frame that fails is counted
 * and the connection dropped, and nothing from an unauthenticated peer is stored. */
#ifndef INSITU_PEERS_H
#define INSITU_PEERS_H

#include <stdint.h>

#include "report.h"

struct insitud;
struct peers;
struct cJSON;

/* Starts the listener (cfg.listen) and the outgoing connections; NULL on error. */
struct peers *peers_new(struct insitud *d);
void peers_free(struct peers *p);
void peers_push(struct peers *p, const struct insitu_report *r);
void peers_subscribe(struct peers *p, const char *subject, int on);
/* Timers: reconnects, timeouts, batching.  Call every ~50 ms. */
void peers_tick(struct peers *p, uint64_t now_ms);
/* After the pass commit: RESULTS for learned reports go out only once they are
 * committed (committed = 0: those connections are dropped, the senders resend). */
void peers_end_pass(struct peers *p, int committed);
/* Sends a path segment query (SEGQ payload, segments_query.h) to every peer whose
 * connection is up; fn is told, per configured peer, whether it was asked. */
void peers_seg_query(struct peers *p, const char *payload, size_t len,
		     void (*fn)(void *arg, const char *peer, int asked), void *arg);
struct cJSON *peers_status_json(const struct peers *p);
struct cJSON *peers_stats_json(const struct peers *p);

#endif
