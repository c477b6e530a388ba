/* The hold buffer: reports learned from peers about subjects this instance does not
 * watch (answered IGNORED) are kept a while, so that if a local report about the
 * subject arrives soon after, the peers' evidence is not lost: up to HOLD_PER_SUBJECT
 * reports per subject for HOLD_TTL_MS, and HOLD_TOTAL_MAX overall (overflow and
 * expiry are counted). */
#ifndef INSITU_HOLD_H
#define INSITU_HOLD_H

#include <stdint.h>

#include "report.h"
#include "strmap.h"

#define HOLD_PER_SUBJECT 60
#define HOLD_TTL_MS (3 * 60 * 1000)
#define HOLD_TOTAL_MAX 20000

struct hold {
	struct strmap subjects; /* -> struct held * */
	uint64_t total, added, expired, overflow, released;
};

void hold_init(struct hold *h);
void hold_fini(struct hold *h);
void hold_add(struct hold *h, const struct insitu_report *r, uint64_t now_ms);
/* Calls fn for every held report about subject (oldest first) and forgets them;
 * returns the count. */
unsigned hold_release(struct hold *h, const char *subject,
		      void (*fn)(const struct insitu_report *r, void *ctx), void *ctx);
void hold_expire(struct hold *h, uint64_t now_ms);

#endif
