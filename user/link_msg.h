/* The linker's view of one framed application message.
 *
 * This is everything the linker needs and nothing more: who (node = netns + process,
 * thread), where (connection identity and its tuple, seen from the local end), which
 * way (sent or received), when (first byte's syscall entry, last byte's syscall exit),
 * which bytes (stream position and length: the same numbers at both ends of a TCP
 * connection, which is what joins hops across hosts without synchronised clocks),
 * what (protocol, message type, role, outcome) and the Rake ids as 64-bit hashes.
 *
 * The glue between the observer, the semantics engine and the linker (linker.c)
 * fills it; unit tests and the benchmark build it directly.  Kept flat and copyable:
 * the linker copies what it keeps, callers may reuse their struct at once. */
#ifndef INSITU_LINK_MSG_H
#define INSITU_LINK_MSG_H

#include <stddef.h>
#include <stdint.h>

#define LK_MAX_FOLLOW 4   /* Follow_IDs kept per message (more are counted, not kept) */
#define LK_LABEL_LEN 64   /* human-readable text: "GET /r/17", "A www.test." */
#define LK_IDTEXT_LEN 40  /* the Link_ID as text, for output and accuracy checks */
#define LK_COMM_LEN 16
#define LK_MAX_DEPTH 32   /* hops in one chain, root included */

enum lk_dir { LK_DIR_NONE = 0, LK_SEND = 1, LK_RECV = 2 };

enum lk_role {
	LK_ROLE_UNKNOWN = 0,
	LK_ROLE_REQUEST,  /* expects a response on the same connection */
	LK_ROLE_RESPONSE, /* answers the oldest (FIFO) or the id-matching request */
	LK_ROLE_ONEWAY,   /* neither: linked by Link_ID/Follow_ID only */
};

enum lk_outcome { LK_OUTCOME_UNKNOWN = 0, LK_OUTCOME_OK, LK_OUTCOME_ERROR };

/* Flags on messages, hop sides and hops; printed by name in the path output. */
enum lk_flag {
	LK_F_TRUNCATED = 1u << 0, /* bytes beyond the captured prefix: ids may be missing */
	LK_F_GAP       = 1u << 1, /* bytes before this message were lost (stream gap) */
	LK_F_AMBIGUOUS = 1u << 2, /* a FIFO match under pipelining, or a tie in linking */
	LK_F_TIMEOUT   = 1u << 3, /* no response within the configured time */
	LK_F_CLOSED    = 1u << 4, /* connection closed before the response */
	LK_F_BY_THREAD = 1u << 5, /* parent chosen by thread affinity alone (no ids) */
	LK_F_EVICTED   = 1u << 6, /* dropped early because a table was full */
	LK_F_INCOMPLETE= 1u << 7, /* emitted before every part was seen */
	LK_F_LATE      = 1u << 8, /* a response that arrived after its request timed out */
	LK_F_FANOUT_CAP= 1u << 9, /* more children than the fan-out cap: some not attached */
	LK_F_DEPTH_CAP = 1u << 10,/* a chain deeper than LK_MAX_DEPTH: cut there */
};

/* Connection tuple as seen from the local end.  Addresses are 16 bytes; IPv4 is
 * stored as an IPv4-mapped IPv6 address so that both families compare alike. */
struct lk_tuple {
	uint8_t proto; /* IPPROTO_TCP or IPPROTO_UDP */
	uint8_t pad;
	uint16_t lport, rport; /* host byte order */
	uint8_t laddr[16], raddr[16];
};

struct lk_msg {
	uint64_t conn;   /* connection identity: unique per socket lifetime (and UDP peer) */
	uint32_t netns;  /* network namespace inode: the "host" */
	uint32_t pid;    /* process (tgid): together with netns, the node */
	uint32_t tid;    /* thread that did the syscall: only ever breaks ties */
	char comm[LK_COMM_LEN];
	struct lk_tuple tuple;

	uint8_t dir;     /* enum lk_dir */
	uint8_t role;    /* enum lk_role */
	uint8_t outcome; /* enum lk_outcome */
	uint8_t n_follow;
	uint16_t flags;  /* enum lk_flag (TRUNCATED, GAP) */
	uint16_t type;   /* semantics message-type index, for output only */
	int32_t status;  /* protocol status (HTTP code, DNS rcode), -1 if none */

	uint64_t t_start; /* CLOCK_MONOTONIC ns: entry of the syscall with the first byte */
	uint64_t t_end;   /* exit of the syscall with the last byte */
	uint64_t pos;     /* TCP: stream position of the first byte; UDP: 0 */
	uint32_t len;     /* message length in bytes (on the wire, not just captured) */
	uint32_t pad2;
	uint64_t content_hash; /* hash of the captured bytes: identity of a UDP datagram */

	uint64_t link_id;     /* 0 = none */
	uint64_t query_id;    /* 0 = none: FIFO */
	uint64_t response_id; /* 0 = none: FIFO */
	uint64_t follow[LK_MAX_FOLLOW];

	char proto[8];              /* "http", "redis", "dns" ... */
	char label[LK_LABEL_LEN];   /* short human text */
	char id_text[LK_IDTEXT_LEN];/* Link_ID as text if known, else "" */
};

/* FNV-1a over bytes; never returns 0 (0 means "no id"). */
static inline uint64_t lk_hash(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 1099511628211ull;
	}
	return h ? h : 1;
}

/* Mixes two 64-bit values (for composite hash-table keys). */
static inline uint64_t lk_mix(uint64_t a, uint64_t b)
{
	uint64_t h = a ^ (b + 0x9e3779b97f4a7c15ull + (a << 6) + (a >> 2));
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h;
}

#endif
