#include "strmap.h"

#include <stdlib.h>
#include <string.h>

static char tomb_marker;
#define STRMAP_TOMB (&tomb_marker)

static uint32_t hash_str(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

void strmap_init(struct strmap *m) { memset(m, 0, sizeof *m); }

void strmap_free(struct strmap *m)
{
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].key && m->slots[i].key != STRMAP_TOMB)
			free(m->slots[i].key);
	free(m->slots);
	memset(m, 0, sizeof *m);
}

static struct strmap_slot *find(const struct strmap *m, const char *key, uint32_t h)
{
	if (!m->cap)
		return NULL;
	for (size_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		struct strmap_slot *s = &m->slots[i];
		if (!s->key)
			return NULL;
		if (s->key != STRMAP_TOMB && s->hash == h && !strcmp(s->key, key))
			return s;
	}
}

void *strmap_get(const struct strmap *m, const char *key)
{
	struct strmap_slot *s = find(m, key, hash_str(key));
	return s ? s->val : NULL;
}

int strmap_has(const struct strmap *m, const char *key) { return find(m, key, hash_str(key)) != NULL; }

static int grow(struct strmap *m)
{
	/* size for the live keys only: a table full of tombstones is rehashed in place */
	size_t ncap = 16, ocap = m->cap;
	struct strmap_slot *ns, *old = m->slots;

	while ((m->live + 1) * 10 >= ncap * 5)
		ncap *= 2;
	ns = calloc(ncap, sizeof *ns);
	if (!ns)
		return -1;
	m->slots = ns;
	m->cap = ncap;
	m->used = m->live;
	for (size_t i = 0; i < ocap; i++) {
		struct strmap_slot *s = &old[i];
		if (!s->key || s->key == STRMAP_TOMB)
			continue;
		size_t j = s->hash & (ncap - 1);
		while (ns[j].key)
			j = (j + 1) & (ncap - 1);
		ns[j] = *s;
	}
	free(old);
	return 0;
}

int strmap_put(struct strmap *m, const char *key, void *val)
{
	uint32_t h = hash_str(key);
	struct strmap_slot *s = find(m, key, h);
	char *k;

	if (s) {
		s->val = val;
		return 0;
	}
	if ((m->used + 1) * 10 >= m->cap * 7 && grow(m))
		return -1;
	k = strdup(key);
	if (!k)
		return -1;
	for (size_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		s = &m->slots[i];
		if (!s->key || s->key == STRMAP_TOMB) {
			if (!s->key)
				m->used++;
			s->key = k;
			s->val = val;
			s->hash = h;
			m->live++;
			return 0;
		}
	}
}

void *strmap_del(struct strmap *m, const char *key)
{
	struct strmap_slot *s = find(m, key, hash_str(key));
	void *v;

	if (!s)
		return NULL;
	v = s->val;
	free(s->key);
	s->key = STRMAP_TOMB;
	s->val = NULL;
	m->live--;
	return v;
}

size_t strmap_size(const struct strmap *m) { return m->live; }

size_t strmap_next(const struct strmap *m, size_t pos, const char **key, void **val)
{
	for (size_t i = pos; i < m->cap; i++) {
		struct strmap_slot *s = &m->slots[i];
		if (s->key && s->key != STRMAP_TOMB) {
			if (key)
				*key = s->key;
			if (val)
				*val = s->val;
			return i + 1;
		}
	}
	return 0;
}
