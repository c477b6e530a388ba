/* The path segment store of insitud: request paths (docs/paths.md) that observers
 * sent, kept so that a query can stitch what different observers saw.
 *
 * A path is stored as its normalized JSON text plus the join keys of its hops, indexed
 * three ways: every hop's key (find the path a hop belongs to), the root's key when the
 * root's client end was not seen (a segment: some other observer's leaf continues
 * here), and the keys of hops whose server end was not seen (leaves that another
 * observer's segment may continue).  Stitching grafts a segment's root onto the leaf
 * with the same key, as tests/integration/link_join.py does offline.
 *
 * Bounded by count, bytes and age, oldest evicted first, every eviction counted.
 * Memory only (not persisted; docs/aggregator.md says why).  Pure data structure: no
 * sockets, no clock (callers pass the time), so it can be fuzzed and unit-tested. */
#ifndef INSITU_SEGMENTS_H
#define INSITU_SEGMENTS_H

#include <stddef.h>
#include <stdint.h>

#include "strmap.h"

struct cJSON;

#define SEG_PATHS_MAX 20000             /* paths kept */
#define SEG_BYTES_MAX (32u << 20)       /* JSON bytes kept */
#define SEG_AGE_MAX_MS (10u * 60 * 1000) /* a path older than this is evicted */
#define SEG_PATH_BYTES_MAX (256u << 10) /* one path's JSON */
#define SEG_HOPS_MAX 512                /* hops in one path */
#define SEG_DEPTH_MAX 64                /* nesting of one path, and of a stitched one */
#define SEG_KEY_MAX 160                 /* a join key, NUL included */
#define SEG_GRAFTS_MAX 256              /* segments grafted into one stitched path */
#define SEG_STITCH_BYTES_MAX (4u << 20) /* stored JSON grafted into one stitched path */

struct seg_path {
	uint64_t id;     /* arrival order, from 1 */
	uint64_t at_ms;  /* arrival (caller's clock) */
	char *observer;  /* who sent it */
	char *json;      /* the path object, compact */
	size_t bytes;    /* accounted size */
	char *root_key;
	int segment;     /* its root's client end was not seen */
	unsigned nkeys;
	char **keys;     /* every hop's join key */
	unsigned char *leaf; /* per key: that hop's server end was not seen */
};

struct seg_stats {
	uint64_t received, rejected;
	uint64_t evicted_count, evicted_bytes, evicted_age; /* by which limit */
	uint64_t key_collisions; /* a key already indexed for another path (newest wins) */
	uint64_t stitched, grafts;
};

struct segstore {
	struct seg_path **ring; /* arrival order, oldest at head */
	unsigned cap, head, n;
	size_t bytes, max_bytes;
	size_t max_stitch_bytes; /* stored JSON grafted into one stitched path */
	uint64_t max_age_ms, next_id;
	struct strmap by_hop, by_root, by_leaf;
	struct seg_stats st;
};

/* cap 0 / max_bytes 0 / max_age_ms 0: the defaults above (max_stitch_bytes starts at
 * SEG_STITCH_BYTES_MAX; the caller may lower or raise it).  0 or -1 (memory). */
int segstore_init(struct segstore *s, unsigned cap, size_t max_bytes, uint64_t max_age_ms);
void segstore_fini(struct segstore *s);

/* Formats a message into err (n bytes) and returns -1: the error convention of the
 * segment code (validation here, the socket and peer operations in segments_query.c). */
int seg_fail(char *err, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Checks that j is a path object as insitu-observer prints it (docs/paths.md): "root"
 * a hop; every hop has a "join" key (1-159 bytes, no spaces or control characters),
 * "client" and "server" objects with a boolean "seen", optional "children" (array of
 * hops); at most SEG_HOPS_MAX hops, SEG_DEPTH_MAX deep.  0, or -1 with a message naming
 * the field ("root.children[1].join: expected ...") in err. */
int seg_validate(const struct cJSON *j, char *err, size_t errlen);

/* Stores a validated path (a copy) from observer, evicting what the limits require.
 * 0, or -1 (too big after normalization, or memory: counted as rejected). */
int segstore_add(struct segstore *s, const char *observer, const struct cJSON *path, uint64_t now_ms);

/* Evicts what is older than max_age_ms. */
void segstore_expire(struct segstore *s, uint64_t now_ms);

/* Lookups (NULL when absent). */
const struct seg_path *segstore_by_hop(const struct segstore *s, const char *key);
const struct seg_path *segstore_segment(const struct segstore *s, const char *root_key);
/* The path whose leaf is continued by segment p (the one above it), if stored. */
const struct seg_path *segstore_parent(const struct segstore *s, const struct seg_path *p);
/* Newest first: i = 0 is the newest stored path. */
const struct seg_path *segstore_nth_newest(const struct segstore *s, unsigned i);

/* The stitched path starting at p: p's JSON with, recursively, every leaf whose key is
 * the root key of a stored segment (or of a path in fetched, an array of path objects
 * each with a "peer" member saying where it came from) grafted in place, marked with
 * "joined": {"observer": ...} or {"peer": ...}.  Keys of leaves nothing continues are
 * appended to unresolved (strings) when it is not NULL.  Adds "observer", "grafts" and
 * "unresolved" to the result (and "capped": true when max_stitch_bytes stopped the
 * grafting).  *bytes (optional) receives about how big its JSON is.  Returns a new
 * object (caller deletes), NULL on memory. */
struct cJSON *segstore_stitch(struct segstore *s, const struct seg_path *p, const struct cJSON *fetched,
			      struct cJSON *unresolved, size_t *bytes);

#endif
