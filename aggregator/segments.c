/* The path segment store (segments.h). */
#include "segments.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GET cJSON_GetObjectItemCaseSensitive

int segstore_init(struct segstore *s, unsigned cap, size_t max_bytes, uint64_t max_age_ms)
{
	memset(s, 0, sizeof *s);
	s->cap = cap ? cap : SEG_PATHS_MAX;
	s->max_bytes = max_bytes ? max_bytes : SEG_BYTES_MAX;
	s->max_age_ms = max_age_ms ? max_age_ms : SEG_AGE_MAX_MS;
	s->max_stitch_bytes = SEG_STITCH_BYTES_MAX;
	s->next_id = 1;
	s->ring = calloc(s->cap, sizeof *s->ring);
	strmap_init(&s->by_hop);
	strmap_init(&s->by_root);
	strmap_init(&s->by_leaf);
	return s->ring ? 0 : -1;
}

static void path_free(struct seg_path *p)
{
	if (!p)
		return;
	for (unsigned i = 0; i < p->nkeys; i++)
		free(p->keys[i]);
	free(p->keys);
	free(p->leaf);
	free(p->observer);
	free(p->json);
	free(p);
}

void segstore_fini(struct segstore *s)
{
	for (unsigned i = 0; i < s->n; i++)
		path_free(s->ring[(s->head + i) % s->cap]);
	free(s->ring);
	strmap_free(&s->by_hop);
	strmap_free(&s->by_root);
	strmap_free(&s->by_leaf);
	memset(s, 0, sizeof *s);
}

/* --- validation ------------------------------------------------------------------- */

int seg_fail(char *err, size_t n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, n, fmt, ap);
	va_end(ap);
	return -1;
}

static int key_valid(const char *k)
{
	size_t n = strlen(k);
	if (!n || n >= SEG_KEY_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)k[i] <= 0x20 || (unsigned char)k[i] == 0x7f)
			return 0;
	return 1;
}

static int side_valid(const cJSON *hop, const char *name, const char *where, char *err, size_t n)
{
	const cJSON *s = GET(hop, name);
	if (!cJSON_IsObject(s) || !cJSON_IsBool(GET(s, "seen")))
		return seg_fail(err, n, "%s.%s: expected an object with a boolean \"seen\"", where, name);
	return 0;
}

/* Depth-first over the hops; where names the hop for messages. */
static int hop_valid(const cJSON *h, unsigned depth, unsigned *hops, char *where, size_t wlen, char *err,
		     size_t n)
{
	const cJSON *k = GET(h, "join"), *ch = GET(h, "children"), *c;
	size_t base = strlen(where);
	int i = 0;

	if (!cJSON_IsObject(h))
		return seg_fail(err, n, "%s: expected a hop object", where);
	if (++*hops > SEG_HOPS_MAX)
		return seg_fail(err, n, "%s: more than %d hops in one path", where, SEG_HOPS_MAX);
	if (depth >= SEG_DEPTH_MAX) /* (the field's name would be 800 bytes long) */
		return seg_fail(err, n, "root: nested deeper than %d hops", SEG_DEPTH_MAX);
	if (!cJSON_IsString(k) || !key_valid(k->valuestring))
		return seg_fail(err, n, "%s.join: expected a key of 1-%d bytes without spaces", where, SEG_KEY_MAX - 1);
	if (side_valid(h, "client", where, err, n) || side_valid(h, "server", where, err, n))
		return -1;
	if (!ch)
		return 0;
	if (!cJSON_IsArray(ch))
		return seg_fail(err, n, "%s.children: expected an array of hops", where);
	cJSON_ArrayForEach(c, ch) {
		snprintf(where + base, wlen - base, ".children[%d]", i++);
		if (hop_valid(c, depth + 1, hops, where, wlen, err, n))
			return -1;
		where[base] = '\0';
	}
	return 0;
}

int seg_validate(const cJSON *j, char *err, size_t errlen)
{
	char where[SEG_DEPTH_MAX * 16 + 16] = "root";
	unsigned hops = 0;

	if (!cJSON_IsObject(j))
		return seg_fail(err, errlen, "expected a path object");
	if (!GET(j, "root"))
		return seg_fail(err, errlen, "root: missing (expected the path's first hop)");
	return hop_valid(GET(j, "root"), 0, &hops, where, sizeof where, err, errlen);
}

/* --- storing ---------------------------------------------------------------------- */

static unsigned count_hops(const cJSON *h, unsigned depth)
{
	const cJSON *c;
	unsigned n = 1;
	if (depth >= SEG_DEPTH_MAX)
		return 0;
	cJSON_ArrayForEach(c, GET(h, "children")) n += count_hops(c, depth + 1);
	return n > SEG_HOPS_MAX ? SEG_HOPS_MAX : n;
}

static void collect_keys(const cJSON *h, struct seg_path *p, unsigned depth, unsigned max)
{
	const cJSON *c;
	if (depth >= SEG_DEPTH_MAX || p->nkeys >= max)
		return;
	p->keys[p->nkeys] = strdup(GET(h, "join")->valuestring);
	p->leaf[p->nkeys] = cJSON_IsFalse(GET(GET(h, "server"), "seen"));
	if (p->keys[p->nkeys])
		p->nkeys++;
	cJSON_ArrayForEach(c, GET(h, "children")) collect_keys(c, p, depth + 1, max);
}

static void unindex(struct strmap *m, const char *key, const struct seg_path *p)
{
	if (strmap_get(m, key) == p)
		strmap_del(m, key);
}

static void evict_oldest(struct segstore *s)
{
	struct seg_path *p = s->ring[s->head];
	for (unsigned i = 0; i < p->nkeys; i++) {
		unindex(&s->by_hop, p->keys[i], p);
		if (p->leaf[i])
			unindex(&s->by_leaf, p->keys[i], p);
	}
	if (p->segment)
		unindex(&s->by_root, p->root_key, p);
	s->bytes -= p->bytes;
	s->ring[s->head] = NULL;
	s->head = (s->head + 1) % s->cap;
	s->n--;
	path_free(p);
}

void segstore_expire(struct segstore *s, uint64_t now_ms)
{
	while (s->n && now_ms - s->ring[s->head]->at_ms > s->max_age_ms) {
		evict_oldest(s);
		s->st.evicted_age++;
	}
}

static void index_key(struct segstore *s, struct strmap *m, const char *key, struct seg_path *p)
{
	if (strmap_has(m, key))
		s->st.key_collisions++;
	strmap_put(m, key, p);
}

int segstore_add(struct segstore *s, const char *observer, const cJSON *path, uint64_t now_ms)
{
	struct seg_path *p = calloc(1, sizeof *p);
	const cJSON *root = GET(path, "root");
	unsigned nhops;

	if (!p)
		goto bad;
	p->json = cJSON_PrintUnformatted(path);
	p->observer = strdup(observer);
	/* sized to the path: a fixed SEG_HOPS_MAX per path cost 4.5 KiB each */
	nhops = count_hops(root, 0);
	p->keys = calloc(nhops ? nhops : 1, sizeof *p->keys);
	p->leaf = calloc(nhops ? nhops : 1, 1);
	if (!p->json || !p->observer || !p->keys || !p->leaf || strlen(p->json) > SEG_PATH_BYTES_MAX)
		goto bad;
	collect_keys(root, p, 0, nhops);
	if (!p->nkeys)
		goto bad;
	p->root_key = p->keys[0];
	p->segment = cJSON_IsFalse(GET(GET(root, "client"), "seen"));
	/* what it really costs: the blocks with malloc's overhead, and per key an index
	 * slot (or two) sized for the maps' 70% load */
	p->bytes = strlen(p->json) + 1 + sizeof *p + strlen(observer) + 1 + 4 * 16 + nhops * 9;
	for (unsigned i = 0; i < p->nkeys; i++)
		p->bytes += 2 * (strlen(p->keys[i]) + 1 + 16) + 2 * 3 * sizeof(struct strmap_slot) / 2;
	p->id = s->next_id++;
	p->at_ms = now_ms;
	segstore_expire(s, now_ms);
	while (s->n && (s->n == s->cap || s->bytes + p->bytes > s->max_bytes)) {
		if (s->n == s->cap)
			s->st.evicted_count++;
		else
			s->st.evicted_bytes++;
		evict_oldest(s);
	}
	s->ring[(s->head + s->n) % s->cap] = p;
	s->n++;
	s->bytes += p->bytes;
	for (unsigned i = 0; i < p->nkeys; i++) {
		index_key(s, &s->by_hop, p->keys[i], p);
		if (p->leaf[i])
			index_key(s, &s->by_leaf, p->keys[i], p);
	}
	if (p->segment)
		index_key(s, &s->by_root, p->root_key, p);
	s->st.received++;
	return 0;
bad:
	s->st.rejected++;
	path_free(p);
	return -1;
}

const struct seg_path *segstore_by_hop(const struct segstore *s, const char *key)
{
	return strmap_get(&s->by_hop, key);
}

const struct seg_path *segstore_segment(const struct segstore *s, const char *root_key)
{
	return strmap_get(&s->by_root, root_key);
}

const struct seg_path *segstore_parent(const struct segstore *s, const struct seg_path *p)
{
	const struct seg_path *q;
	if (!p->segment)
		return NULL;
	q = strmap_get(&s->by_leaf, p->root_key);
	return q == p ? NULL : q;
}

const struct seg_path *segstore_nth_newest(const struct segstore *s, unsigned i)
{
	if (i >= s->n)
		return NULL;
	return s->ring[(s->head + s->n - 1 - i) % s->cap];
}

/* --- stitching -------------------------------------------------------------------- */

struct stitch {
	struct segstore *s;
	const cJSON *fetched;
	cJSON *unresolved;
	unsigned grafts;
	size_t bytes; /* JSON grafted so far */
	int capped;
	uint64_t used[SEG_GRAFTS_MAX + 1]; /* stored paths already in this tree */
	unsigned nused;
	unsigned char fused[SEG_GRAFTS_MAX]; /* fetched paths already grafted */
};

static int was_used(const struct stitch *x, uint64_t id)
{
	for (unsigned i = 0; i < x->nused; i++)
		if (x->used[i] == id)
			return 1;
	return 0;
}

static void move_item(cJSON *to, cJSON *from, const char *name)
{
	cJSON *v = cJSON_DetachItemFromObjectCaseSensitive(from, name);
	if (!v)
		return;
	if (GET(to, name))
		cJSON_ReplaceItemInObjectCaseSensitive(to, name, v);
	else
		cJSON_AddItemToObject(to, name, v);
}

static int has_string(const cJSON *a, const char *s)
{
	const cJSON *it;
	cJSON_ArrayForEach(it, a) if (cJSON_IsString(it) && !strcmp(it->valuestring, s)) return 1;
	return 0;
}

/* The leaf takes the segment root's server side, server time, children and flags
 * (link_join.py); its outcome too when the caller's side could not tell. */
static void graft(cJSON *leaf, cJSON *root, cJSON *mark)
{
	const cJSON *rf = GET(root, "flags"), *it, *oc = GET(leaf, "outcome");
	cJSON *lf = GET(leaf, "flags");

	move_item(leaf, root, "server");
	move_item(leaf, root, "server_ns");
	move_item(leaf, root, "children");
	move_item(leaf, root, "children_ns");
	if (!cJSON_IsArray(lf)) {
		cJSON_DeleteItemFromObjectCaseSensitive(leaf, "flags");
		lf = cJSON_AddArrayToObject(leaf, "flags");
	}
	if (lf)
		cJSON_ArrayForEach(it, rf) if (cJSON_IsString(it) && !has_string(lf, it->valuestring))
			cJSON_AddItemToArray(lf, cJSON_CreateString(it->valuestring));
	if (!cJSON_IsString(oc) || !strcmp(oc->valuestring, "unknown") || !strcmp(oc->valuestring, "incomplete")) {
		move_item(leaf, root, "outcome");
		move_item(leaf, root, "status");
	}
	cJSON_DeleteItemFromObjectCaseSensitive(leaf, "joined");
	cJSON_AddItemToObject(leaf, "joined", mark);
}

/* A continuation of the leaf with key k: a stored segment first, else a fetched one.
 * Returns the detached root hop to graft (caller deletes *holder) or NULL. */
static cJSON *find_segment(struct stitch *x, const char *k, cJSON **holder, cJSON **mark)
{
	const struct seg_path *q = segstore_segment(x->s, k);
	const cJSON *f;
	int i = 0;

	if (q && !was_used(x, q->id) && x->bytes + strlen(q->json) > x->s->max_stitch_bytes) {
		x->capped = 1;
		return NULL;
	}
	if (q && !was_used(x, q->id) && (*holder = cJSON_Parse(q->json))) {
		x->used[x->nused++] = q->id;
		x->bytes += strlen(q->json);
		*mark = cJSON_CreateObject();
		cJSON_AddStringToObject(*mark, "observer", q->observer);
		return GET(*holder, "root");
	}
	cJSON_ArrayForEach(f, x->fetched) {
		const cJSON *r = GET(f, "root"), *peer = GET(f, "peer"), *obs = GET(f, "observer");
		const cJSON *rk = GET(r, "join");
		if (i >= SEG_GRAFTS_MAX)
			break;
		if (!x->fused[i] && cJSON_IsString(rk) && !strcmp(rk->valuestring, k) &&
		    cJSON_IsFalse(GET(GET(r, "client"), "seen"))) {
			x->fused[i] = 1;
			/* (fetched ones are bounded by the query: its peer answer size per peer) */
			*holder = cJSON_Duplicate(f, 1);
			if (!*holder)
				return NULL;
			*mark = cJSON_CreateObject();
			if (cJSON_IsString(peer))
				cJSON_AddStringToObject(*mark, "peer", peer->valuestring);
			if (cJSON_IsString(obs))
				cJSON_AddStringToObject(*mark, "observer", obs->valuestring);
			return GET(*holder, "root");
		}
		i++;
	}
	return NULL;
}

static void walk(struct stitch *x, cJSON *hop, unsigned depth, unsigned *hops)
{
	cJSON *c, *k = GET(hop, "join");

	if (depth >= SEG_DEPTH_MAX || !cJSON_IsObject(hop))
		return;
	++*hops;
	if (cJSON_IsFalse(GET(GET(hop, "server"), "seen")) && cJSON_IsString(k)) {
		cJSON *holder = NULL, *mark = NULL, *root = NULL;
		if (x->grafts < SEG_GRAFTS_MAX)
			root = find_segment(x, k->valuestring, &holder, &mark);
		if (root) {
			graft(hop, root, mark);
			x->grafts++;
		} else if (x->unresolved && cJSON_GetArraySize(x->unresolved) < SEG_GRAFTS_MAX &&
			   !has_string(x->unresolved, k->valuestring)) {
			cJSON_AddItemToArray(x->unresolved, cJSON_CreateString(k->valuestring));
		}
		cJSON_Delete(holder);
	}
	cJSON_ArrayForEach(c, GET(hop, "children")) walk(x, c, depth + 1, hops);
}

cJSON *segstore_stitch(struct segstore *s, const struct seg_path *p, const cJSON *fetched, cJSON *unresolved,
		       size_t *bytes)
{
	struct stitch *x = calloc(1, sizeof *x);
	cJSON *j = cJSON_Parse(p->json), *mine = cJSON_CreateArray();
	unsigned hops = 0;

	if (!x || !j || !mine) {
		free(x);
		cJSON_Delete(j);
		cJSON_Delete(mine);
		return NULL;
	}
	x->s = s;
	x->fetched = cJSON_IsArray(fetched) ? fetched : NULL;
	x->unresolved = mine;
	x->used[x->nused++] = p->id;
	walk(x, GET(j, "root"), 0, &hops);
	cJSON_DeleteItemFromObjectCaseSensitive(j, "hops");
	cJSON_AddNumberToObject(j, "hops", hops);
	cJSON_DeleteItemFromObjectCaseSensitive(j, "observer");
	cJSON_AddStringToObject(j, "observer", p->observer);
	cJSON_AddNumberToObject(j, "grafts", x->grafts);
	if (unresolved) {
		const cJSON *it;
		cJSON_ArrayForEach(it, mine) if (!has_string(unresolved, it->valuestring) &&
						 cJSON_GetArraySize(unresolved) < SEG_GRAFTS_MAX)
			cJSON_AddItemToArray(unresolved, cJSON_CreateString(it->valuestring));
	}
	cJSON_AddItemToObject(j, "unresolved", mine);
	if (x->capped)
		cJSON_AddBoolToObject(j, "capped", 1);
	if (bytes)
		*bytes = strlen(p->json) + x->bytes;
	s->st.stitched++;
	s->st.grafts += x->grafts;
	free(x);
	return j;
}
