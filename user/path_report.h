/* The record the observer sends insitud for one completed request path (the
 * "submit_paths" operation, docs/protocol.md): path.c's JSON object, with every text
 * derived from captured payload — a hop's "label" ("GET /r/2-1", a DNS name) and
 * "link_id" — replaced by a keyed hash ("h:" and 16 hex digits, BLAKE2b keyed with a
 * key drawn at start or read from a file) unless the operator asked for clear text.
 * Equal labels keep equal hashes under one key, so grouping still works; the text
 * cannot be recovered or guessed by dictionary without the key.  Join keys (addresses,
 * ports, TCP positions, and a hash of the datagram for UDP) are kept: stitching needs
 * them equal at both observers.  Runs once per completed path, never per event. */
#ifndef INSITU_PATH_REPORT_H
#define INSITU_PATH_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "link.h"

struct cJSON;

#define PATH_REPORT_KEY 32

struct path_privacy {
	bool clear;                     /* send labels and ids as they are */
	uint8_t key[PATH_REPORT_KEY];
};

/* clear: no hashing.  key_file NULL: a random key (hashes comparable within this
 * run only); else the file's first 32 bytes (at least 32 needed: the same file on
 * every host makes their hashes comparable).  0, or -1 with a message in err. */
int path_privacy_init(struct path_privacy *pp, bool clear, const char *key_file, char *err, size_t errlen);

/* "h:" + 16 hex digits into out (at least 19 bytes). */
void path_privacy_hash(const struct path_privacy *pp, const char *text, char *out, size_t n);

/* The record for root's tree (a new cJSON object; NULL on memory). */
struct cJSON *path_report_record(const struct lk_hop *root, const struct path_privacy *pp);

#endif
