/* Path segments in insitud: the socket operations (submit_paths, paths), the peer side
 * of a query (SEGQ / SEGR frames, frame.h) and the queries waiting for peers.
 *
 * A "paths" query stitches what this instance stores (segments.h).  Leaves that
 * nothing here continues are asked of every peer whose connection is up, in one SEGQ
 * frame; each peer answers with the segments it stores for those keys (stitched on
 * its side, never asking further itself).  When every peer answered and the fetched
 * segments end in leaves nobody was asked about yet (a path across three or more
 * aggregators), the querying instance asks its peers again: at most SEGQ_ROUNDS_MAX
 * rounds, all within the query's wait.  The daemon never waits: the first answer says
 * "pending" with a query id, and the client asks again ({"op":"paths","query":id})
 * until every asked peer answered or the wait (default 2 s) is over.  The final answer
 * is marked "partial" when some leaf stayed unresolved while a peer was down or silent
 * — a missing peer never makes a query hang.  docs/protocol.md has the fields. */
#ifndef INSITU_SEGMENTS_QUERY_H
#define INSITU_SEGMENTS_QUERY_H

#include <stddef.h>
#include <stdint.h>

struct cJSON;
struct peers;
struct segments;
struct segstore;

#define SEGQ_MAX 32                    /* queries waiting for peers */
#define SEGQ_PEERS_MAX 16              /* peers one query tracks */
#define SEGQ_ROUNDS_MAX 4              /* SEGQ rounds of one query */
#define SEGQ_ASKED_MAX 256             /* keys one query asks about, all rounds */
#define SEGQ_WAIT_MS 2000              /* default wait for peers */
#define SEGQ_WAIT_MAX_MS 10000
#define SEGQ_ANSWER_MAX (512u << 10)   /* bytes of segments in one peer answer */
#define SEGQ_SUBMIT_MAX 256            /* paths in one submit_paths */
#define SEGQ_RECENT_MAX 1000
#define SEGQ_REPLY_MAX (32u << 20)     /* JSON of one answer: older paths left out ("truncated") */

/* The operator's limits (insitud's "Segments" configuration key, docs/aggregator.md);
 * a field left 0 takes the default above / in segments.h. */
struct segments_limits {
	uint64_t paths;             /* MaxPaths: paths stored (SEG_PATHS_MAX) */
	uint64_t bytes;             /* MaxBytes: accounted bytes stored (SEG_BYTES_MAX) */
	uint64_t age_ms;            /* MaxAgeSeconds: age of a stored path (SEG_AGE_MAX_MS) */
	uint64_t stitch_bytes;      /* MaxStitchBytes: grafted into one path (SEG_STITCH_BYTES_MAX) */
	uint64_t reply_bytes;       /* MaxAnswerBytes: one "paths" answer (SEGQ_REPLY_MAX) */
	uint64_t peer_answer_bytes; /* MaxPeerAnswerBytes: one SEGR payload (SEGQ_ANSWER_MAX) */
};
#define SEGQ_PEER_ANSWER_LIMIT (3u << 20) /* a SEGR must fit in one 4 MiB frame */

/* lim may be NULL (every default). */
struct segments *segments_new(const struct segments_limits *lim);
void segments_free(struct segments *g);
struct segstore *segments_store(struct segments *g);

/* {"op":"submit_paths","paths":[path, ...]} from observer (the handle's name): all
 * validated first (nothing stored if one is invalid).  0, or -1 with a message. */
int segments_op_submit(struct segments *g, const char *observer, const struct cJSON *req,
		       struct cJSON *ans, char *err, size_t errlen, uint64_t now_ms);

/* {"op":"paths", "join":KEY | "recent":N, "peers":bool, "wait_ms":N} or
 * {"op":"paths","query":ID}.  ps may be NULL (no peers).  0, or -1 with *code
 * ("bad_request", "not_found") and a message. */
int segments_op_paths(struct segments *g, struct peers *ps, const struct cJSON *req, struct cJSON *ans,
		      const char **code, char *err, size_t errlen, uint64_t now_ms);

/* A peer's SEGQ payload ({"q":id,"keys":[...]} for segments rooted at those keys, or
 * {"q":id,"find":key} for the whole path holding that hop, when the asker stores none):
 * returns the SEGR payload to send back (malloc'd), or NULL when
 * the request is malformed (the caller drops the connection). */
char *segments_peer_serve(struct segments *g, const uint8_t *payload, size_t len, size_t *outlen);

/* A peer's SEGR payload.  0, or -1 when malformed.  Answers to queries that are gone
 * (expired) are counted and ignored. */
int segments_peer_answer(struct segments *g, const char *peer, const uint8_t *payload, size_t len);

void segments_stats_json(const struct segments *g, struct cJSON *o);

#endif
