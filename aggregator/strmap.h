/* A string-keyed hash map (open addressing, linear probing) used for every name
 * lookup in insitud: subjects, observers, metric names, watch list, handles.  Keys are
 * copied; values are opaque pointers.  Deletion uses tombstones; the table grows at
 * 70% load (tombstones included) so lookups stay short. */
#ifndef INSITU_STRMAP_H
#define INSITU_STRMAP_H

#include <stddef.h>
#include <stdint.h>

struct strmap_slot {
	char *key; /* NULL = empty, STRMAP_TOMB = deleted */
	void *val;
	uint32_t hash;
};

struct strmap {
	struct strmap_slot *slots;
	size_t cap, used, live;
};

void strmap_init(struct strmap *m);
void strmap_free(struct strmap *m); /* keys only; values are the caller's */
void *strmap_get(const struct strmap *m, const char *key);
int strmap_has(const struct strmap *m, const char *key);
/* Inserts or replaces; returns 0, -1 on out of memory. */
int strmap_put(struct strmap *m, const char *key, void *val);
/* Returns the removed value (NULL when absent). */
void *strmap_del(struct strmap *m, const char *key);
size_t strmap_size(const struct strmap *m);
/* Iteration: for (size_t i = 0; (i = strmap_next(m, i, &k, &v)); ) ... */
size_t strmap_next(const struct strmap *m, size_t pos, const char **key, void **val);

#endif
