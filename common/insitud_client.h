/* A small blocking client for insitud's Unix-socket protocol (docs/protocol.md),
 * used by insitu-observer, insitu-logtail and the insitu CLI.
 *
 * One request at a time: each call writes one JSON line and reads the one answer
 * line.  Every call has a timeout (default 5 s) so a stuck daemon never hangs the
 * caller forever.  Not thread-safe: use one client per thread.
 *
 *   char err[256];
 *   struct insitud_client *c = insitud_connect(NULL, err, sizeof err);  // default path
 *   uint64_t h;
 *   insitud_register(c, "insitu-observer", "host1", &h);
 *   struct insitu_report r = {0};  ... fill r ...
 *   enum insitud_submit_result res;
 *   if (insitud_submit(c, h, &r, &res) < 0) log_error("%s", insitud_error(c));
 *   insitud_close(c);
 *
 * Link with libinsitu-common.a and -lcjson. */
#ifndef INSITU_INSITUD_CLIENT_H
#define INSITU_INSITUD_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "report.h"

struct cJSON;
struct insitud_client;

#define INSITUD_DEFAULT_SOCKET "/run/insitu/insitud.sock"
/* Environment variable that overrides the default socket path (tests use it). */
#define INSITUD_SOCKET_ENV "INSITUD_SOCKET"
/* Longest request or answer line insitud accepts (bytes, newline included). */
#define INSITUD_LINE_MAX (1024 * 1024)
/* Most reports in one "submit" batch. */
#define INSITUD_BATCH_MAX 1024

enum insitud_submit_result {
	INSITUD_ACCEPTED = 0, /* stored (and committed to disk) */
	INSITUD_IGNORED = 1,  /* filtered: subject not on the watch list (peers only) */
};

/* path NULL: $INSITUD_SOCKET, else INSITUD_DEFAULT_SOCKET.  Returns NULL and a
 * message in err on failure. */
struct insitud_client *insitud_connect(const char *path, char *err, size_t errlen);
void insitud_close(struct insitud_client *c);
/* Per-call timeout in milliseconds (answer must arrive within it). */
void insitud_set_timeout(struct insitud_client *c, int ms);
/* The last error of this client ("daemon: unknown handle 12345", "timeout", ...). */
const char *insitud_error(const struct insitud_client *c);

/* Registers observer (module, name); the same pair always gets the same handle
 * (>= 10000).  Returns 0 or -1. */
int insitud_register(struct insitud_client *c, const char *module, const char *name,
		     uint64_t *handle);

/* Submits one report; *res says ACCEPTED or IGNORED.  An empty observer in r means
 * "the handle's name".  Returns 0, or -1 (refused: invalid report, unknown handle,
 * daemon error, I/O error). */
int insitud_submit(struct insitud_client *c, uint64_t handle, const struct insitu_report *r,
		   enum insitud_submit_result *res);

/* Submits n (<= INSITUD_BATCH_MAX) reports in one request, committed together: the
 * way to go for throughput.  *accepted (optional) receives how many were accepted.
 * Returns 0 when the batch was processed (an individual invalid report makes the
 * whole batch refused, nothing stored), -1 otherwise. */
int insitud_submit_batch(struct insitud_client *c, uint64_t handle, const struct insitu_report *r,
			 size_t n, size_t *accepted);

/* Generic request: sends req (not consumed) and returns the parsed answer object
 * (caller deletes it), or NULL on I/O/parse error.  An answer with "ok":false is
 * returned as is; insitud_error() then holds its message too. */
struct cJSON *insitud_request(struct insitud_client *c, const struct cJSON *req);

#endif
