/* Bounded, reconnecting delivery of reports to insitud (reporter.h). */
#include "reporter.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "insitud_client.h"
#include "log.h"

#define BATCH 256
#define BACKOFF_MIN_NS 100000000ull
#define BACKOFF_MAX_NS 5000000000ull

struct reporter {
	char *socket, *module, *instance;
	struct insitu_report *ring;
	size_t cap, head, n; /* head: oldest */
	struct insitud_client *c;
	uint64_t handle;
	uint64_t next_try, backoff;
	bool warned;
	struct reporter_stats st;
	struct insitu_report batch[BATCH];
	/* paths: a ring of records and their sizes */
	struct cJSON **paths;
	size_t *path_len;
	size_t phead, pn, pbytes;
};

struct reporter *reporter_new(const char *socket, size_t backlog, const char *module,
			      const char *instance)
{
	struct reporter *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->cap = backlog ? backlog : 1;
	r->ring = calloc(r->cap, sizeof(*r->ring));
	r->paths = calloc(REPORTER_PATHS_MAX, sizeof(*r->paths));
	r->path_len = calloc(REPORTER_PATHS_MAX, sizeof(*r->path_len));
	r->socket = socket ? strdup(socket) : NULL;
	r->module = strdup(module);
	r->instance = strdup(instance);
	r->backoff = BACKOFF_MIN_NS;
	if (!r->ring || !r->paths || !r->path_len || (socket && !r->socket) || !r->module || !r->instance) {
		reporter_free(r);
		return NULL;
	}
	return r;
}

void reporter_free(struct reporter *r)
{
	if (!r)
		return;
	if (r->c)
		insitud_close(r->c);
	free(r->ring);
	for (size_t i = 0; r->paths && i < r->pn; i++)
		cJSON_Delete(r->paths[(r->phead + i) % REPORTER_PATHS_MAX]);
	free(r->paths);
	free(r->path_len);
	free(r->socket);
	free(r->module);
	free(r->instance);
	free(r);
}

const struct reporter_stats *reporter_stats(const struct reporter *r) { return &r->st; }

void reporter_add(struct reporter *r, const struct insitu_report *rep)
{
	r->st.queued++;
	if (r->n == r->cap) { /* full: the oldest evidence is the least useful */
		r->head = (r->head + 1) % r->cap;
		r->n--;
		r->st.dropped++;
	}
	r->ring[(r->head + r->n) % r->cap] = *rep;
	r->n++;
	r->st.backlog = (uint32_t)r->n;
}

static void path_pop(struct reporter *r)
{
	cJSON_Delete(r->paths[r->phead]);
	r->paths[r->phead] = NULL;
	r->pbytes -= r->path_len[r->phead];
	r->phead = (r->phead + 1) % REPORTER_PATHS_MAX;
	r->pn--;
}

void reporter_add_path(struct reporter *r, cJSON *path)
{
	char *s = path ? cJSON_PrintUnformatted(path) : NULL;
	size_t len = s ? strlen(s) : 0;

	free(s);
	r->st.paths_queued++;
	if (!len || len > REPORTER_PATH_BYTES_ONE) {
		cJSON_Delete(path);
		r->st.paths_dropped++;
		return;
	}
	/* full: the oldest goes, like reports */
	while (r->pn && (r->pn == REPORTER_PATHS_MAX || r->pbytes + len > REPORTER_PATH_BYTES_MAX)) {
		path_pop(r);
		r->st.paths_dropped++;
	}
	size_t at = (r->phead + r->pn) % REPORTER_PATHS_MAX;
	r->paths[at] = path;
	r->path_len[at] = len;
	r->pn++;
	r->pbytes += len;
	r->st.paths_backlog = (uint32_t)r->pn;
}

static void disconnect(struct reporter *r, uint64_t now)
{
	if (r->c)
		insitud_close(r->c);
	r->c = NULL;
	r->st.connected = false;
	r->st.failures++;
	r->next_try = now + r->backoff;
	r->backoff = r->backoff * 2 > BACKOFF_MAX_NS ? BACKOFF_MAX_NS : r->backoff * 2;
}

static bool try_connect(struct reporter *r, uint64_t now)
{
	char err[256];

	if (now < r->next_try)
		return false;
	r->c = insitud_connect(r->socket, err, sizeof(err));
	if (r->c && insitud_register(r->c, r->module, r->instance, &r->handle) == 0) {
		r->st.connected = true;
		r->st.connects++;
		r->backoff = BACKOFF_MIN_NS;
		if (r->warned)
			log_info("connected to insitud again; %zu report(s) waiting", r->n);
		r->warned = false;
		return true;
	}
	if (!r->warned) {
		log_warn("cannot reach insitud (%s); keeping up to %zu reports and retrying",
			 r->c ? insitud_error(r->c) : err, r->cap);
		r->warned = true;
	}
	disconnect(r, now);
	return false;
}

/* One submit_paths request of up to REPORTER_PATH_BATCH queued paths (below the
 * daemon's line limit).  0 sent or refused (dropped either way), -1 I/O error. */
static int flush_paths_once(struct reporter *r)
{
	cJSON *req = cJSON_CreateObject(), *a, *ans;
	size_t m = 0, bytes = 0;
	int rc = 0;

	cJSON_AddStringToObject(req, "op", "submit_paths");
	cJSON_AddNumberToObject(req, "handle", (double)r->handle);
	a = cJSON_AddArrayToObject(req, "paths");
	while (m < r->pn && m < REPORTER_PATH_BATCH) {
		size_t at = (r->phead + m) % REPORTER_PATHS_MAX;
		if (m && bytes + r->path_len[at] > INSITUD_LINE_MAX / 2)
			break;
		cJSON_AddItemReferenceToArray(a, r->paths[at]);
		bytes += r->path_len[at];
		m++;
	}
	ans = insitud_request(r->c, req);
	cJSON_Delete(req); /* references only: the paths stay in the ring */
	if (!ans)
		return -1;
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ans, "ok"))) {
		r->st.paths_sent += m;
	} else {
		/* refused (invalid, or an older insitud without submit_paths): would be
		 * refused forever, so dropped and counted */
		if (!r->st.paths_refused)
			log_warn("insitud refused %zu path(s): %s", m, insitud_error(r->c));
		r->st.paths_refused += m;
		rc = 0;
	}
	cJSON_Delete(ans);
	while (m--)
		path_pop(r);
	r->st.paths_backlog = (uint32_t)r->pn;
	return rc;
}

void reporter_flush(struct reporter *r, uint64_t now)
{
	while (r->n || r->pn) {
		if (!r->n) {
			if (!r->c && !try_connect(r, now))
				return;
			if (flush_paths_once(r)) {
				disconnect(r, now);
				return;
			}
			continue;
		}
		size_t k, m = r->n < BATCH ? r->n : BATCH, accepted = 0;

		if (!r->c && !try_connect(r, now))
			return;
		for (k = 0; k < m; k++)
			r->batch[k] = r->ring[(r->head + k) % r->cap];
		if (insitud_submit_batch(r->c, r->handle, r->batch, m, &accepted) < 0) {
			const char *e = insitud_error(r->c);
			/* A refused batch (a report insitud calls invalid) would be refused
			 * forever: drop it and say so; an I/O error keeps it for later. */
			if (e && strstr(e, "bad_request")) {
				log_warn("insitud refused %zu report(s): %s", m, e);
				r->st.refused++;
			} else {
				disconnect(r, now);
				return;
			}
		} else {
			r->st.sent += m;
		}
		r->head = (r->head + m) % r->cap;
		r->n -= m;
		r->st.backlog = (uint32_t)r->n;
	}
}
