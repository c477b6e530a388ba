/* The Unix-socket server: accepts clients, splits their input into lines, hands each
 * to requests.c, and queues the answers.  Answers produced while a transaction is
 * open are held back until api_end_pass() says whether it committed (when it failed,
 * every held answer becomes a "storage" error: the writes were not stored and the
 * reads may have shown what was rolled back).  Nothing blocks: per-client input is
 * bounded by INSITUD_LINE_MAX, output by API_OUT_MAX (a client that does not read is
 * dropped); every drop is counted. */
#ifndef INSITU_API_H
#define INSITU_API_H

#include <stdint.h>

#define API_OUT_MAX (4u << 20)      /* unread answers before a client is dropped */
#define API_OUT_PAUSE (1u << 20)    /* stop reading a client while this much is unread */
#define API_CLIENTS_MAX 1024

struct insitud;
struct api;
struct cJSON;

/* Creates the socket (path from d->cfg: parent directory created, stale socket
 * replaced, mode and group applied).  NULL with a logged error. */
struct api *api_new(struct insitud *d);
void api_free(struct api *a);
/* After the pass's commit: committed = 0 when it failed. */
void api_end_pass(struct api *a, int committed, const char *storage_msg);
void api_stats_json(const struct api *a, struct cJSON *o);

#endif
