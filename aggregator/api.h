/* The Unix-socket server: accepts clients, splits their input into lines, hands each
 * to requests.c, and queues the answers.  Answers produced while a transaction is
 * open are held back until api_end_pass() says whether it committed (when it failed,
 * every held answer becomes a "storage" error: the writes were not stored and the
 * reads may have shown what was rolled back).  Nothing blocks and no client starves
 * the others: at most API_LINES_PER_PASS requests of a client per pass; a client whose
 * unread answers exceed API_OUT_PAUSE is not served (nor read) until it reads them;
 * one that reads nothing for API_STALL_MS while answers wait is dropped.  Input is
 * bounded by INSITUD_LINE_MAX.  Every drop is counted. */
#ifndef INSITU_API_H
#define INSITU_API_H

#include <stdint.h>

#define API_OUT_PAUSE (1u << 20)  /* unread answers above which a client's requests wait */
#define API_OUT_MAX (256u << 20)  /* hard cap of unread answers (a single huge dump) */
#define API_STALL_MS 5000         /* answers pending and none read for this long: dropped */
#define API_LINES_PER_PASS 256    /* requests of one client handled per loop pass */
#define API_CLIENTS_MAX 1024

struct insitud;
struct api;
struct cJSON;

/* Creates the socket (path from d->cfg: parent directory created, stale socket
 * replaced, mode and group applied).  NULL with a logged error. */
struct api *api_new(struct insitud *d);
void api_free(struct api *a);
/* Handles requests left waiting by the per-pass limit; returns 1 while some can
 * proceed (the loop must not sleep). */
int api_run_backlog(struct api *a);
/* Drops clients that stopped reading (API_STALL_MS). */
void api_tick(struct api *a, uint64_t now_ms);
/* After the pass's commit: committed = 0 when it failed. */
void api_end_pass(struct api *a, int committed, const char *storage_msg);
void api_stats_json(const struct api *a, struct cJSON *o);

#endif
