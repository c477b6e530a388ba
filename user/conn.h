/* The observer's connection table, keyed by socket identity.
 *
 * A connection is one socket (the kernel's socket inode number, unique while the
 * socket lives) and, for unconnected UDP, one peer of that socket.  It holds what
 * the per-message path needs: the protocol the semantics engine picked, one framer
 * per direction, and each direction's next expected TCP position.  Entries die on
 * close (so fd and port reuse start clean) or are evicted least-recently-used when
 * the table is full (counted); every entry gets a fresh 64-bit id, which is what the
 * linker knows a connection by. */
#ifndef INSITU_CONN_H
#define INSITU_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "../bpf/observer.h"
#include "semantics.h"

struct conn_dir {
	bool started;
	uint64_t next;  /* next expected position (unwrapped 64-bit TCP sequence) */
	uint64_t base;  /* position of the framer's offset 0 */
};

struct conn {
	uint64_t key;
	uint64_t sock_id;
	uint64_t id;              /* unique per connection lifetime */
	uint32_t netns;
	uint8_t proto;            /* IPPROTO_TCP / IPPROTO_UDP */
	bool local_is_server;
	bool ignored;             /* no protocol claims it */
	const struct sem_protocol *sp;
	struct sem_framer *fr[2]; /* by enum sem_dir */
	struct conn_dir dir[2];
	/* last event header per direction: who/where, for messages completed by a close
	 * (a response delimited by the end of the connection) */
	struct insitu_msg_event last[2];
	bool has_last[2];
	uint64_t last_seen;
	struct conn *next, *snext;      /* key chain, same-socket chain */
	struct conn *lprev, *lnext;     /* least recently used first */
};

struct conn_stats {
	uint64_t created, closed, evicted, ignored, live;
};

/* Called just before an entry is freed (closed or evicted). */
typedef void (*conn_end_fn)(struct conn *c, bool evicted, void *arg);

struct conn_table {
	struct conn **buckets, **sbuckets;
	uint64_t mask;
	uint32_t max;
	uint64_t next_id;
	struct conn *lru_head, *lru_tail;
	struct conn_stats st;
	conn_end_fn on_end;
	void *arg;
};

int conn_table_init(struct conn_table *t, uint32_t max, conn_end_fn on_end, void *arg);
void conn_table_destroy(struct conn_table *t);

/* Key of a TCP connection, or of one UDP peer (remote address and port). */
uint64_t conn_key(uint64_t sock_id, uint8_t proto, const uint8_t raddr[16], uint16_t rport);

/* Finds the entry, or creates an empty one (*created set) evicting the least
 * recently used entry when full.  NULL only without memory. */
struct conn *conn_get(struct conn_table *t, uint64_t key, uint64_t sock_id, uint64_t now,
		      bool *created);

/* Ends every entry of this socket (all its UDP peers too). Returns how many. */
unsigned conn_close_sock(struct conn_table *t, uint64_t sock_id);

#endif
