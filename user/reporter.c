/* Bounded, reconnecting delivery of reports to insitud (reporter.h). */
#include "reporter.h"

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
};

struct reporter *reporter_new(const char *socket, size_t backlog, const char *module,
			      const char *instance)
{
	struct reporter *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->cap = backlog ? backlog : 1;
	r->ring = calloc(r->cap, sizeof(*r->ring));
	r->socket = socket ? strdup(socket) : NULL;
	r->module = strdup(module);
	r->instance = strdup(instance);
	r->backoff = BACKOFF_MIN_NS;
	if (!r->ring || (socket && !r->socket) || !r->module || !r->instance) {
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

void reporter_flush(struct reporter *r, uint64_t now)
{
	while (r->n) {
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
