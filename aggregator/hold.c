#include "hold.h"

#include <stdlib.h>
#include <string.h>

struct held {
	unsigned n, head; /* ring of at most HOLD_PER_SUBJECT */
	uint64_t at[HOLD_PER_SUBJECT];
	struct insitu_report *r[HOLD_PER_SUBJECT];
};

void hold_init(struct hold *h)
{
	memset(h, 0, sizeof *h);
	strmap_init(&h->subjects);
}

static void held_free(struct held *hd)
{
	for (unsigned i = 0; i < hd->n; i++)
		free(hd->r[(hd->head + i) % HOLD_PER_SUBJECT]);
	free(hd);
}

void hold_fini(struct hold *h)
{
	void *v;
	for (size_t it = 0; (it = strmap_next(&h->subjects, it, NULL, &v));)
		held_free(v);
	strmap_free(&h->subjects);
}

void hold_add(struct hold *h, const struct insitu_report *r, uint64_t now_ms)
{
	struct held *hd = strmap_get(&h->subjects, r->subject);
	struct insitu_report *copy;

	if (h->total >= HOLD_TOTAL_MAX) {
		h->overflow++;
		return;
	}
	if (!hd) {
		hd = calloc(1, sizeof *hd);
		if (!hd || strmap_put(&h->subjects, r->subject, hd)) {
			free(hd);
			h->overflow++;
			return;
		}
	}
	copy = malloc(sizeof *copy);
	if (!copy) {
		h->overflow++;
		return;
	}
	*copy = *r;
	if (hd->n == HOLD_PER_SUBJECT) { /* oldest makes room */
		free(hd->r[hd->head]);
		hd->head = (hd->head + 1) % HOLD_PER_SUBJECT;
		hd->n--;
		h->total--;
		h->overflow++;
	}
	unsigned slot = (hd->head + hd->n) % HOLD_PER_SUBJECT;
	hd->r[slot] = copy;
	hd->at[slot] = now_ms;
	hd->n++;
	h->total++;
	h->added++;
}

unsigned hold_release(struct hold *h, const char *subject,
		      void (*fn)(const struct insitu_report *r, void *ctx), void *ctx)
{
	struct held *hd = strmap_del(&h->subjects, subject);
	unsigned n;

	if (!hd)
		return 0;
	n = hd->n;
	for (unsigned i = 0; i < hd->n; i++)
		fn(hd->r[(hd->head + i) % HOLD_PER_SUBJECT], ctx);
	h->total -= n;
	h->released += n;
	held_free(hd);
	return n;
}

void hold_expire(struct hold *h, uint64_t now_ms)
{
	const char *k;
	void *v;

	for (size_t it = 0; (it = strmap_next(&h->subjects, it, &k, &v));) {
		struct held *hd = v;
		while (hd->n && hd->at[hd->head] + HOLD_TTL_MS <= now_ms) {
			free(hd->r[hd->head]);
			hd->head = (hd->head + 1) % HOLD_PER_SUBJECT;
			hd->n--;
			h->total--;
			h->expired++;
		}
		if (!hd->n) {
			strmap_del(&h->subjects, k); /* tombstone: iteration stays valid */
			free(hd);
		}
	}
}
