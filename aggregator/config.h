/* insitud's configuration: the JSON file `insitu mkconfig` writes (Panorama's
 * hview-mkrc keys: Addr, Id, Subjects, Peers, FilterSubmission, LogLevel, DBFile)
 * plus insitu's own keys, then command-line overrides.  Errors name
 * file:line:column and what was expected.  See docs/aggregator.md. */
#ifndef INSITU_AGG_CONFIG_H
#define INSITU_AGG_CONFIG_H

#include <stdint.h>

#include "segments_query.h"
#include "store.h"

#define CFG_ID_MAX 64
#define CFG_ADDR_MAX 128
#define CFG_PEERS_MAX 64

struct peer_cfg {
	char id[CFG_ID_MAX];
	char addr[CFG_ADDR_MAX]; /* host:port */
};

struct config {
	char id[CFG_ID_MAX];          /* this instance (Id) */
	char listen[CFG_ADDR_MAX];    /* peer listener host:port (Addr); "" = none */
	char socket[108];             /* Unix socket path (Socket) */
	char socket_group[64];        /* group owning the socket (SocketGroup) */
	char write_group[64];         /* WriteGroup: only its members (and root, and
				       * insitud's user) may change state; "" = anyone
				       * who can connect */
	unsigned socket_mode;         /* SocketMode, default 0660 */
	char db[256];                 /* DBFile */
	int sync_full;                /* Sync: "normal" | "full" */
	int filter;                   /* FilterSubmission */
	char **subjects;              /* Subjects: initial watch list */
	unsigned nsubjects;
	struct peer_cfg peers[CFG_PEERS_MAX]; /* Peers minus this instance */
	unsigned npeers;
	unsigned char key[32];        /* pre-shared peer key (KeyFile: 64 hex digits) */
	int have_key;
	char key_file[256];
	enum gc_mode gc_mode;         /* GC.Mode: "off" | "absolute" | "relative" */
	uint64_t gc_ttl_us;           /* GC.TTL seconds */
	uint64_t gc_interval_ms;      /* GC.Interval seconds, default 10 */
	uint64_t retention_max_age_s; /* Retention.MaxAgeSeconds, 0 = none */
	uint64_t retention_max_reports; /* Retention.MaxReports, 0 = none */
	unsigned peer_queue_max;      /* PeerQueue: reports queued per peer (65536) */
	unsigned peer_timeout_ms;     /* PeerTimeout: no answer -> reconnect (5000) */
	int log_level;                /* LogLevel: "error".."debug" */
	/* local clients (issue 9): one user must not starve the others */
	unsigned clients_per_user;    /* ClientsPerUser: Unix-socket clients of one
				       * non-root uid (256; 0 = no limit) */
	unsigned client_rate;         /* ClientRequestRate: requests/s of one client
				       * before it is paused (20000; 0 = no limit) */
	unsigned client_idle_ms;      /* ClientIdleTimeout: a client that sent no
				       * complete request this long after connecting is
				       * closed (30 s; 0 = never) */
	size_t client_memory_max;     /* ClientMemoryMax: MiB of input buffers of all
				       * clients together (256) */
	int sandbox;                  /* Sandbox: seccomp allow-list once set up (true) */
	struct segments_limits segs;  /* Segments {MaxPaths, MaxBytes, MaxAgeSeconds,
				       * MaxStitchBytes, MaxAnswerBytes,
				       * MaxPeerAnswerBytes}: the path segment store
				       * (issue 4); 0 = default */
};

void config_defaults(struct config *c);
void config_free(struct config *c);
/* Loads a JSON config file over the defaults (then reads its KeyFile).  Returns 0
 * or -1 with err. */
int config_load(struct config *c, const char *path, char *err, size_t errlen);
/* Parses config text (len bytes; 'path' only names it in errors) over c; reads no
 * other file (KeyFile is only recorded).  0 or -1 with err.  The fuzz target's entry. */
int config_parse(struct config *c, const char *text, size_t len, const char *path, char *err, size_t errlen);
/* Reads a key file (64 hex digits, optional trailing newline).  0 or -1 with err. */
int config_read_key(const char *path, unsigned char key[32], char *err, size_t errlen);
int config_add_peer(struct config *c, const char *id, const char *addr, char *err, size_t errlen);
int config_add_subject(struct config *c, const char *s);

#endif
