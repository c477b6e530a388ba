/* The socket protocol's request handling (docs/protocol.md): one JSON line in, one
 * JSON answer out.  Separate from the socket plumbing (api.c) so it can be fuzzed and
 * tested without sockets. */
#ifndef INSITU_REQUESTS_H
#define INSITU_REQUESTS_H

#include <stddef.h>

struct insitud;

struct answer {
	char *text;    /* malloc'd JSON, no newline */
	char *id;      /* malloc'd JSON of the request's "id", or NULL */
	int is_write;  /* changed state: must not be sent before the commit */
};

/* Handles one request line (not NUL-terminated).  Never fails: errors become error
 * answers.  may_write = 0: state-changing operations are refused ("permission"; the
 * client's SO_PEERCRED credentials are not in WriteGroup).  Caller frees ans->text
 * and ans->id. */
void requests_handle(struct insitud *d, const char *line, size_t len, int may_write, struct answer *ans);
/* The answer that replaces a write's when its commit failed. */
char *requests_storage_error(const char *id, const char *msg);
/* An error answer without a request (too_long, ...). */
char *requests_error(const char *id, const char *code, const char *msg);

struct requests_stats {
	unsigned long long ok, bad, parse_errors;
};
extern struct requests_stats requests_stats;

#endif
