/* Protocol semantics: the public API of the semantics engine (issue 3).
 *
 * A semantics file (JSON, docs/semantics.md) describes one protocol: the transport
 * and server ports it lives on, how its byte stream splits into messages (framing),
 * how to recognise each message type (signature), where each message's Rake ids are
 * (link_id, follow_ids, query_id, response_id) and how to read its outcome.
 *
 * Use, per observed connection:
 *   1. sem_load()                 once, at start-up: every problem is reported in
 *                                 'diags' (file:line:column, JSON path, expectation);
 *                                 NULL means "refuse to start".
 *   2. sem_lookup()               pick the protocol of a connection from the transport,
 *                                 the server port and the first bytes seen.
 *   3. sem_framer_new()           one framer per connection DIRECTION (to/from server);
 *      sem_framer_feed()          feed every syscall's captured bytes in order; the
 *                                 callback receives each complete message, whether it
 *                                 came in many syscalls or many came in one.
 *   4. sem_extract()              on each framed message: type, role, ids, outcome.
 *
 * Threading: a sem_set is immutable after sem_load() and may be shared by threads;
 * a framer belongs to one thread.  Nothing here allocates per message.
 */
#ifndef INSITU_SEMANTICS_H
#define INSITU_SEMANTICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define SEM_ID_MAX 128        /* bytes of one extracted id (longer ids are cut, flagged) */
#define SEM_MAX_FOLLOW 4      /* follow_ids per message type */
#define SEM_LABEL_MAX 64      /* human-readable label ("GET /x", "A www.test.") */
#define SEM_NAME_MAX 32       /* protocol and message-type names */
#define SEM_FRAME_KEEP 4096   /* bytes of each message a framer keeps for extraction */

/* Direction of a message relative to the server (the side owning the port). */
enum sem_dir { SEM_TO_SERVER = 0, SEM_FROM_SERVER = 1 };

enum sem_role {
	SEM_ROLE_UNKNOWN = 0,
	SEM_ROLE_REQUEST = 1,  /* expects a response on the same connection */
	SEM_ROLE_RESPONSE = 2, /* answers a request (by response_id, else FIFO) */
	SEM_ROLE_ONEWAY = 3,   /* no response expected */
};

/* Panorama statuses (same numbers as the aggregator's). */
enum sem_status {
	SEM_ST_INVALID = 0,
	SEM_ST_NA = 1,
	SEM_ST_HEALTHY = 2,
	SEM_ST_PENDING = 3,
	SEM_ST_MAYBE_UNHEALTHY = 4,
	SEM_ST_UNHEALTHY = 5,
	SEM_ST_DYING = 6,
	SEM_ST_DEAD = 7,
};

/* sem_result.flags */
enum sem_result_flag {
	SEM_R_UNMATCHED = 1 << 0, /* no message type's signature matched */
	SEM_R_TRUNCATED = 1 << 1, /* an id or the outcome lay beyond the captured bytes */
	SEM_R_ID_CUT = 1 << 2,    /* an id was longer than SEM_ID_MAX and was cut */
};

struct sem_id {
	uint16_t len; /* 0 = no id */
	uint8_t b[SEM_ID_MAX];
};

/* What sem_extract() found in one message. */
struct sem_result {
	int type;                /* message-type index in its protocol, -1 if none matched */
	const char *type_name;   /* "request", "response", ... or "" */
	uint8_t role;            /* enum sem_role */
	uint8_t n_follow;
	uint16_t flags;          /* enum sem_result_flag */
	struct sem_id link, query, response;
	struct sem_id follow[SEM_MAX_FOLLOW];
	bool has_outcome;        /* the type has an outcome rule and it could be read */
	uint8_t status;          /* enum sem_status (valid when has_outcome) */
	float score;             /* 0..100, higher is healthier */
	int32_t code;            /* protocol status (HTTP 503, DNS rcode 2) or -1 */
	char label[SEM_LABEL_MAX];
};

/* ---- loading and validation ------------------------------------------------ */

struct sem_diag {
	char file[128];
	int line, col;    /* 0 when the problem has no position (unreadable file) */
	char path[96];    /* JSON path: $.messages[1].ids.link_id */
	char msg[256];
};

/* Collected problems; bounded (further problems are counted in 'dropped'). */
#define SEM_MAX_DIAGS 256
struct sem_diags {
	struct sem_diag d[SEM_MAX_DIAGS];
	unsigned n, dropped;
};

/* Prints "file:line:col: path: message" lines, as `insitu semantics check` does. */
void sem_diags_print(const struct sem_diags *d, FILE *out);

struct sem_set;
struct sem_protocol;

/* Loads and validates files (each one protocol).  Returns NULL if any file has a
 * problem: all of them are in *diags (which may be NULL). */
struct sem_set *sem_load(const char *const *paths, size_t n, struct sem_diags *diags);
/* Same from a comma-separated list of files ("-s a.json,b.json"), at most
 * SEM_LIST_MAX of them. */
#define SEM_LIST_MAX 32
struct sem_set *sem_load_list(const char *list, struct sem_diags *diags);
/* Same from memory (tests, fuzzing); 'name' is used in messages. */
struct sem_set *sem_load_buffer(const char *name, const char *text, size_t len,
				struct sem_diags *diags);
void sem_free(struct sem_set *set);
/* Plugins are loaded by default; fuzzing turns that off (a "function" source then
 * fails validation with "plugins are disabled"). */
void sem_allow_plugins(bool allow);

size_t sem_protocol_count(const struct sem_set *set);
const struct sem_protocol *sem_protocol_at(const struct sem_set *set, size_t i);
const char *sem_protocol_name(const struct sem_protocol *p);
int sem_protocol_transport(const struct sem_protocol *p);      /* IPPROTO_TCP / _UDP */
/* Server ports of p (for the kernel's port filter). */
size_t sem_protocol_ports(const struct sem_protocol *p, const uint16_t **ports);

/* Does any protocol claim this (transport, port) as its server port? */
bool sem_is_server_port(const struct sem_set *set, int ipproto, uint16_t port);

/* The protocol of a connection: transport IPPROTO_TCP/IPPROTO_UDP, the server port,
 * and the first bytes seen in direction 'dir' (used when several protocols share a
 * port, e.g. memcached text and binary: each file's "detect" predicate decides).
 * NULL if none claims it. */
const struct sem_protocol *sem_lookup(const struct sem_set *set, int ipproto,
				      uint16_t server_port, enum sem_dir dir,
				      const uint8_t *first, size_t n);

/* ---- framing ----------------------------------------------------------------- */

/* sem_frame.flags */
enum sem_frame_flag {
	SEM_FR_TRUNCATED = 1 << 0, /* cap < len: only a prefix of the message was seen */
	SEM_FR_GAP = 1 << 1,       /* bytes were lost before this message (resynced) */
	SEM_FR_ABORTED = 1 << 2,   /* framing lost sync inside this message: cut short */
};

struct sem_frame {
	const uint8_t *data;  /* first 'cap' bytes of the message (valid during the callback) */
	size_t cap;
	uint64_t len;         /* message length on the wire */
	uint64_t pos;         /* offset of its first byte in the direction's byte stream */
	uint64_t t_first;     /* t_start of the feed holding the first byte */
	uint64_t t_last;      /* t_end of the feed holding the last byte */
	uint32_t flags;       /* enum sem_frame_flag */
};

typedef void (*sem_frame_fn)(void *ctx, const struct sem_frame *fr);

struct sem_framer;

struct sem_framer_stats {
	uint64_t messages;   /* frames emitted */
	uint64_t bytes;      /* bytes fed */
	uint64_t lost;       /* bytes fed but not captured (len - cap) that broke framing */
	uint64_t resyncs;    /* times framing lost sync and restarted at a syscall boundary */
	uint64_t oversize;   /* headers/lines longer than the framer's bound */
};

struct sem_framer *sem_framer_new(const struct sem_protocol *p, enum sem_dir dir);
void sem_framer_free(struct sem_framer *f);

/* Optional, HTTP: lets the response framer know which requests were HEAD (their
 * responses carry Content-Length but no body).  Pairs the two framers of one
 * connection; pairing stops by itself if either direction loses framing. */
void sem_framer_pair(struct sem_framer *to_server, struct sem_framer *from_server);

/* Feeds one syscall's bytes: 'cap' captured bytes of a 'len'-byte transfer
 * (len > cap when the capture was a prefix: the missing bytes are skipped if the
 * framing knows their extent, else the framer resyncs at the next feed).  t_start
 * and t_end are the syscall's times, returned in frames as t_first/t_last.
 * Calls fn for every message completed by these bytes (datagram framing: exactly
 * one).  Never fails: malformed input resyncs and is counted. */
void sem_framer_feed(struct sem_framer *f, const uint8_t *data, size_t cap, size_t len,
		     uint64_t t_start, uint64_t t_end, sem_frame_fn fn, void *ctx);

/* Emits a message still being assembled (connection closed), flagged ABORTED. */
void sem_framer_flush(struct sem_framer *f, sem_frame_fn fn, void *ctx);
const struct sem_framer_stats *sem_framer_stats(const struct sem_framer *f);

/* ---- classification and extraction ----------------------------------------- */

/* Message type (index) of a framed message, or -1. */
int sem_classify(const struct sem_protocol *p, enum sem_dir dir, const uint8_t *msg,
		 size_t cap);

/* Type, role, ids, outcome and label of one framed message: 'cap' captured bytes
 * of a message of 'len' bytes. */
void sem_extract(const struct sem_protocol *p, enum sem_dir dir, const uint8_t *msg,
		 size_t cap, uint64_t len, struct sem_result *out);

/* The outcome of a message of type 'type' whose outcome value (the bytes the
 * type's outcome.value source selects) is 'value': sets has_outcome, status,
 * score and code in r as sem_extract() would.  For values extracted elsewhere
 * (the kernel's ids block). */
void sem_outcome_apply(const struct sem_protocol *p, int type, const struct sem_id *value,
		       struct sem_result *r);

/* Only the label of a message already known to be of type 'type' (as sem_extract()
 * would write it into sem_result.label; "" if the type has none). */
void sem_label(const struct sem_protocol *p, enum sem_dir dir, int type, const uint8_t *msg, size_t cap,
	       uint64_t len, char *out, size_t n);

/* Prints an id as text: printable bytes as they are, else lowercase hex. */
size_t sem_id_format(const struct sem_id *id, char *buf, size_t n);

#endif
