/* Path segment operations and peer queries (segments_query.h). */
#include "segments_query.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "peers.h"
#include "segments.h"

#define GET cJSON_GetObjectItemCaseSensitive

enum { P_DOWN, P_ASKED, P_ANSWERED };

struct segq {
	uint64_t id, created_ms, deadline_ms;
	char join[SEG_KEY_MAX];
	unsigned recent;
	int find; /* join is not stored here: the peers are asked for the path holding it */
	unsigned npeers;
	struct {
		char id[64];
		int state;
	} peer[SEGQ_PEERS_MAX];
	unsigned rounds;
	int unasked;    /* leaves left that no round asked about (rounds or time ran out) */
	cJSON *asked;   /* keys already asked of the peers (not asked twice) */
	cJSON *fetched; /* path objects, each with "peer" */
	size_t fetched_bytes;
	int truncated;
};

struct segments {
	struct segstore store;
	struct segq *q[SEGQ_MAX];
	uint64_t next_q;
	size_t reply_max, answer_max; /* SEGQ_REPLY_MAX, SEGQ_ANSWER_MAX or the operator's */
	uint64_t queries, queries_local, queries_dropped, peers_asked, answers, answers_late, answers_bad_paths,
		served, served_paths, served_truncated, submit_bad, rounds_more;
};

struct segments *segments_new(const struct segments_limits *lim)
{
	static const struct segments_limits none;
	struct segments *g = calloc(1, sizeof *g);

	if (!lim)
		lim = &none;
	if (!g || segstore_init(&g->store, (unsigned)lim->paths, lim->bytes, lim->age_ms)) {
		if (g)
			segstore_fini(&g->store);
		free(g);
		return NULL;
	}
	if (lim->stitch_bytes)
		g->store.max_stitch_bytes = lim->stitch_bytes;
	g->reply_max = lim->reply_bytes ? lim->reply_bytes : SEGQ_REPLY_MAX;
	g->answer_max = lim->peer_answer_bytes ? lim->peer_answer_bytes : SEGQ_ANSWER_MAX;
	if (g->answer_max > SEGQ_PEER_ANSWER_LIMIT)
		g->answer_max = SEGQ_PEER_ANSWER_LIMIT;
	g->next_q = 1;
	return g;
}

static void q_free(struct segq *q)
{
	if (!q)
		return;
	cJSON_Delete(q->fetched);
	cJSON_Delete(q->asked);
	free(q);
}

void segments_free(struct segments *g)
{
	if (!g)
		return;
	for (int i = 0; i < SEGQ_MAX; i++)
		q_free(g->q[i]);
	segstore_fini(&g->store);
	free(g);
}

struct segstore *segments_store(struct segments *g) { return &g->store; }

/* --- submit_paths ----------------------------------------------------------------- */

int segments_op_submit(struct segments *g, const char *observer, const cJSON *req, cJSON *ans, char *err,
		       size_t errlen, uint64_t now_ms)
{
	const cJSON *a = GET(req, "paths"), *it;
	char e[200];
	int n, i = 0, stored = 0;

	if (!cJSON_IsArray(a) || (n = cJSON_GetArraySize(a)) < 1 || n > SEGQ_SUBMIT_MAX) {
		g->submit_bad++;
		return seg_fail(err, errlen, "\"paths\": expected an array of 1-%d path objects", SEGQ_SUBMIT_MAX);
	}
	cJSON_ArrayForEach(it, a) {
		if (seg_validate(it, e, sizeof e)) {
			g->submit_bad++;
			return seg_fail(err, errlen, "paths[%d].%s", i, e);
		}
		i++;
	}
	cJSON_ArrayForEach(it, a) if (!segstore_add(&g->store, observer, it, now_ms)) stored++;
	cJSON_AddNumberToObject(ans, "accepted", stored);
	cJSON_AddNumberToObject(ans, "rejected", n - stored);
	return 0;
}

/* --- local selection and stitching ------------------------------------------------ */

/* The paths a query starts from: the topmost stored path containing join (climbing
 * from a segment to the path whose leaf it continues), or the newest recent paths that
 * are not themselves continuations of another stored path (those appear grafted). */
static unsigned select_paths(struct segments *g, const char *join, unsigned recent, const struct seg_path **out)
{
	const struct seg_path *p, *up;
	unsigned n = 0;

	if (*join) {
		p = segstore_by_hop(&g->store, join);
		for (int steps = 0; p && steps < SEG_DEPTH_MAX && (up = segstore_parent(&g->store, p)); steps++)
			p = up;
		if (p)
			out[n++] = p;
		return n;
	}
	for (unsigned i = 0; n < recent && (p = segstore_nth_newest(&g->store, i)); i++)
		if (!segstore_parent(&g->store, p))
			out[n++] = p;
	return n;
}

static cJSON *build(struct segments *g, const char *join, unsigned recent, const cJSON *fetched, cJSON *unresolved,
		    int *truncated)
{
	const struct seg_path **sel = calloc(SEGQ_RECENT_MAX, sizeof *sel);
	size_t total = 0;
	cJSON *a = cJSON_CreateArray();
	unsigned n;

	if (!sel || !a) {
		free(sel);
		cJSON_Delete(a);
		return NULL;
	}
	n = select_paths(g, join, recent, sel);
	for (unsigned i = 0; i < n; i++) {
		size_t bytes = 0;
		cJSON *p;
		if (total > g->reply_max) { /* the newest paths come first: the oldest are left out */
			*truncated = 1;
			break;
		}
		p = segstore_stitch(&g->store, sel[i], fetched, unresolved, &bytes);
		if (p)
			cJSON_AddItemToArray(a, p);
		total += bytes;
	}
	free(sel);
	return a;
}

static const char *state_name(int st)
{
	return st == P_ANSWERED ? "answered" : st == P_ASKED ? "no_answer" : "down";
}

/* The final answer of a query: stitched with what peers sent; partial when a leaf is
 * unresolved and some peer could not be asked or did not answer in time. */
static int finish(struct segments *g, const struct segq *q, const char *join, unsigned recent, cJSON *ans)
{
	cJSON *unresolved = cJSON_CreateArray(), *paths, *pa, *un;
	int missing = 0, truncated = q && q->truncated, n;

	if (q && q->find) /* the whole path came from a peer (marked with "peer") */
		paths = cJSON_Duplicate(q->fetched, 1);
	else
		paths = build(g, join, recent, q ? q->fetched : NULL, unresolved, &truncated);
	n = paths ? cJSON_GetArraySize(paths) : 0;
	cJSON_AddItemToObject(ans, "paths", paths ? paths : cJSON_CreateArray());
	pa = cJSON_AddArrayToObject(ans, "peers");
	un = cJSON_AddArrayToObject(ans, "peers_unavailable");
	for (unsigned i = 0; q && i < q->npeers; i++) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "id", q->peer[i].id);
		cJSON_AddStringToObject(o, "state", state_name(q->peer[i].state));
		cJSON_AddItemToArray(pa, o);
		if (q->peer[i].state != P_ANSWERED) {
			cJSON_AddItemToArray(un, cJSON_CreateString(q->peer[i].id));
			missing = 1;
		}
	}
	cJSON_AddBoolToObject(ans, "partial", (q && q->unasked) ||
						      (missing && (q && q->find ? !n : cJSON_GetArraySize(unresolved) > 0)));
	cJSON_AddBoolToObject(ans, "truncated", truncated);
	cJSON_AddItemToObject(ans, "unresolved", unresolved);
	cJSON_AddNumberToObject(ans, "rounds", q ? q->rounds : 0);
	return n;
}

/* --- queries waiting for peers ---------------------------------------------------- */

static struct segq *q_find(struct segments *g, uint64_t id, int *slot)
{
	for (int i = 0; i < SEGQ_MAX; i++)
		if (g->q[i] && g->q[i]->id == id) {
			*slot = i;
			return g->q[i];
		}
	return NULL;
}

/* Queries nobody came back for (30 s after their deadline) are dropped. */
static void q_expire(struct segments *g, uint64_t now_ms)
{
	for (int i = 0; i < SEGQ_MAX; i++)
		if (g->q[i] && now_ms > g->q[i]->deadline_ms + 30000) {
			q_free(g->q[i]);
			g->q[i] = NULL;
			g->queries_dropped++;
		}
}

static struct segq *q_new(struct segments *g, uint64_t now_ms)
{
	int slot = -1;
	struct segq *q;

	for (int i = 0; i < SEGQ_MAX && slot < 0; i++)
		if (!g->q[i])
			slot = i;
	if (slot < 0) { /* full: the oldest goes (its client gets not_found) */
		slot = 0;
		for (int i = 1; i < SEGQ_MAX; i++)
			if (g->q[i]->created_ms < g->q[slot]->created_ms)
				slot = i;
		q_free(g->q[slot]);
		g->q[slot] = NULL;
		g->queries_dropped++;
	}
	q = calloc(1, sizeof *q);
	if (!q || !(q->fetched = cJSON_CreateArray()) || !(q->asked = cJSON_CreateArray())) {
		q_free(q);
		return NULL;
	}
	q->id = g->next_q++;
	q->created_ms = now_ms;
	g->q[slot] = q;
	return q;
}

static void q_peer(void *arg, const char *peer, int asked)
{
	struct segq *q = arg;
	if (q->npeers >= SEGQ_PEERS_MAX)
		return;
	snprintf(q->peer[q->npeers].id, sizeof q->peer[q->npeers].id, "%s", peer);
	q->peer[q->npeers++].state = asked ? P_ASKED : P_DOWN;
}

static int q_waiting(const struct segq *q)
{
	for (unsigned i = 0; i < q->npeers; i++)
		if (q->peer[i].state == P_ASKED)
			return 1;
	return 0;
}

static void pending(cJSON *ans, const struct segq *q)
{
	cJSON_AddBoolToObject(ans, "pending", 1);
	cJSON_AddNumberToObject(ans, "query", (double)q->id);
	cJSON_AddNumberToObject(ans, "retry_ms", 50);
}

static int listed(const cJSON *a, const char *s)
{
	const cJSON *it;
	cJSON_ArrayForEach(it, a) if (!strcmp(it->valuestring, s)) return 1;
	return 0;
}

/* One SEGQ round to every peer that is up: keys (an array of strings, taken over)
 * and, in the first round of a --join the peers must find, "find".  The peers' states
 * are this round's. */
static void ask_peers(struct segments *g, struct peers *ps, struct segq *q, cJSON *keys)
{
	cJSON *body = cJSON_CreateObject();
	const cJSON *it;
	char *txt;

	q->npeers = 0;
	q->rounds++;
	if (!body) {
		cJSON_Delete(keys);
		return;
	}
	cJSON_AddNumberToObject(body, "q", (double)q->id);
	if (q->find && q->rounds == 1)
		cJSON_AddStringToObject(body, "find", q->join);
	cJSON_ArrayForEach(it, keys) if (cJSON_GetArraySize(q->asked) < SEGQ_ASKED_MAX)
		cJSON_AddItemToArray(q->asked, cJSON_CreateString(it->valuestring));
	cJSON_AddItemToObject(body, "keys", keys);
	txt = cJSON_PrintUnformatted(body);
	cJSON_Delete(body);
	if (txt)
		peers_seg_query(ps, txt, strlen(txt), q_peer, q);
	free(txt);
	for (unsigned i = 0; i < q->npeers; i++)
		g->peers_asked += q->peer[i].state == P_ASKED;
}

/* Every asked peer answered: if what they sent ends in leaves nobody was asked about
 * yet (the next aggregator along the path holds them), ask the peers again, while
 * rounds and time remain.  1 when a round is out and awaited. */
static int next_round(struct segments *g, struct peers *ps, struct segq *q, uint64_t now_ms)
{
	cJSON *unresolved, *keys;
	const cJSON *it;
	int trunc = 0;

	if (q->find || !ps)
		return 0;
	unresolved = cJSON_CreateArray();
	keys = cJSON_CreateArray();
	if (unresolved && keys)
		cJSON_Delete(build(g, q->join, q->recent, q->fetched, unresolved, &trunc));
	cJSON_ArrayForEach(it, unresolved) if (keys && !listed(q->asked, it->valuestring))
		cJSON_AddItemToArray(keys, cJSON_CreateString(it->valuestring));
	cJSON_Delete(unresolved);
	if (!cJSON_GetArraySize(keys) || q->rounds >= SEGQ_ROUNDS_MAX || now_ms >= q->deadline_ms ||
	    cJSON_GetArraySize(q->asked) >= SEGQ_ASKED_MAX) {
		q->unasked = cJSON_GetArraySize(keys) > 0; /* the answer says partial */
		cJSON_Delete(keys);
		return 0;
	}
	g->rounds_more++;
	ask_peers(g, ps, q, keys);
	return q_waiting(q);
}

static int parse_paths_req(const cJSON *req, char *join, unsigned *recent, int *use_peers, unsigned *wait_ms,
			   char *err, size_t errlen)
{
	const cJSON *j = GET(req, "join"), *r = GET(req, "recent"), *p = GET(req, "peers"), *w = GET(req, "wait_ms");

	if (j && r)
		return seg_fail(err, errlen, "expected one of \"join\" (a key) or \"recent\" (a count), not both");
	if (j) {
		if (!cJSON_IsString(j) || !*j->valuestring || strlen(j->valuestring) >= SEG_KEY_MAX)
			return seg_fail(err, errlen, "\"join\": expected a join key of 1-%d bytes", SEG_KEY_MAX - 1);
		strcpy(join, j->valuestring);
	} else {
		*recent = 10;
		if (r && (!cJSON_IsNumber(r) || r->valuedouble < 1 || r->valuedouble > SEGQ_RECENT_MAX ||
			  r->valuedouble != floor(r->valuedouble)))
			return seg_fail(err, errlen, "\"recent\": expected an integer from 1 to %d", SEGQ_RECENT_MAX);
		if (r)
			*recent = (unsigned)r->valuedouble;
	}
	if (p && !cJSON_IsBool(p))
		return seg_fail(err, errlen, "\"peers\": expected true or false");
	*use_peers = !p || cJSON_IsTrue(p);
	*wait_ms = SEGQ_WAIT_MS;
	if (w && (!cJSON_IsNumber(w) || w->valuedouble < 0 || w->valuedouble > SEGQ_WAIT_MAX_MS))
		return seg_fail(err, errlen, "\"wait_ms\": expected milliseconds from 0 to %d", SEGQ_WAIT_MAX_MS);
	if (w)
		*wait_ms = (unsigned)w->valuedouble;
	return 0;
}

int segments_op_paths(struct segments *g, struct peers *ps, const cJSON *req, cJSON *ans, const char **code,
		      char *err, size_t errlen, uint64_t now_ms)
{
	const cJSON *qid = GET(req, "query");
	char join[SEG_KEY_MAX] = "";
	unsigned recent = 0, wait_ms;
	int use_peers = 1, slot;
	struct segq *q;
	cJSON *unresolved, *paths;

	*code = "bad_request";
	segstore_expire(&g->store, now_ms);
	q_expire(g, now_ms);
	if (qid) {
		if (!cJSON_IsNumber(qid) || qid->valuedouble < 1)
			return seg_fail(err, errlen, "\"query\": expected the id of a pending query");
		q = q_find(g, (uint64_t)qid->valuedouble, &slot);
		if (!q) {
			*code = "not_found";
			return seg_fail(err, errlen, "query %.0f: unknown or expired", qid->valuedouble);
		}
		if ((q_waiting(q) && now_ms < q->deadline_ms) || (!q_waiting(q) && next_round(g, ps, q, now_ms))) {
			pending(ans, q);
			return 0;
		}
		int found = finish(g, q, q->join, q->recent, ans), find = q->find, missing = q_waiting(q);
		for (unsigned i = 0; i < q->npeers; i++)
			missing |= q->peer[i].state != P_ANSWERED;
		snprintf(join, sizeof join, "%s", q->join);
		q_free(q);
		g->q[slot] = NULL;
		if (find && !found && !missing) {
			*code = "not_found";
			return seg_fail(err, errlen, "neither here nor at any peer is a path with join key '%s'", join);
		}
		return 0;
	}
	if (parse_paths_req(req, join, &recent, &use_peers, &wait_ms, err, errlen))
		return -1;
	g->queries++;
	int find = *join && !segstore_by_hop(&g->store, join), trunc = 0;
	if (find && (!use_peers || !ps)) {
		*code = "not_found";
		return seg_fail(err, errlen, "no stored path has a hop with join key '%s'", join);
	}
	unresolved = cJSON_CreateArray();
	if (!find) {
		paths = build(g, join, recent, NULL, unresolved, &trunc);
		cJSON_Delete(paths);
	}
	if (!use_peers || !ps || (!find && !cJSON_GetArraySize(unresolved)) || !(q = q_new(g, now_ms))) {
		cJSON_Delete(unresolved);
		g->queries_local++;
		if (find) {
			*code = "internal";
			return seg_fail(err, errlen, "out of memory");
		}
		finish(g, NULL, join, recent, ans);
		return 0;
	}
	q->find = find;
	strcpy(q->join, join);
	q->recent = recent;
	q->deadline_ms = now_ms + wait_ms;
	ask_peers(g, ps, q, unresolved);
	if (!q_waiting(q)) { /* nobody up: answer now, marked partial */
		finish(g, q, join, recent, ans);
		for (int i = 0; i < SEGQ_MAX; i++)
			if (g->q[i] == q)
				g->q[i] = NULL;
		q_free(q);
		return 0;
	}
	pending(ans, q);
	return 0;
}

/* --- the peer side ---------------------------------------------------------------- */

char *segments_peer_serve(struct segments *g, const uint8_t *payload, size_t len, size_t *outlen)
{
	cJSON *j = cJSON_ParseWithLength((const char *)payload, len), *ans, *segs, *it;
	const cJSON *qid = GET(j, "q"), *keys = GET(j, "keys"), *find = GET(j, "find");
	size_t total = 0;
	int nkeys = 0, truncated = 0;
	char *txt;

	if (!cJSON_IsNumber(qid) || (!cJSON_IsArray(keys) && !cJSON_IsString(find))) {
		cJSON_Delete(j);
		return NULL;
	}
	g->served++;
	ans = cJSON_CreateObject();
	cJSON_AddNumberToObject(ans, "q", qid->valuedouble);
	segs = cJSON_AddArrayToObject(ans, "segments");
	if (cJSON_IsString(find)) { /* the whole path holding this hop, from its top */
		const struct seg_path *sel[1];
		if (strlen(find->valuestring) < SEG_KEY_MAX && select_paths(g, find->valuestring, 0, sel)) {
			cJSON *st = segstore_stitch(&g->store, sel[0], NULL, NULL, &total);
			if (st && total <= g->answer_max) {
				cJSON_AddItemToArray(segs, st);
				g->served_paths++;
			} else {
				truncated = 1;
				cJSON_Delete(st);
			}
		}
	}
	cJSON_ArrayForEach(it, keys) {
		const struct seg_path *p;
		cJSON *st;
		char *s;
		if (++nkeys > SEG_GRAFTS_MAX)
			break;
		if (!cJSON_IsString(it) || !(p = segstore_segment(&g->store, it->valuestring)))
			continue;
		st = segstore_stitch(&g->store, p, NULL, NULL, NULL);
		s = st ? cJSON_PrintUnformatted(st) : NULL;
		if (s && total + strlen(s) <= g->answer_max) {
			total += strlen(s);
			cJSON_AddItemToArray(segs, st);
			g->served_paths++;
		} else {
			truncated = 1;
			cJSON_Delete(st);
		}
		free(s);
	}
	cJSON_AddBoolToObject(ans, "truncated", truncated);
	g->served_truncated += truncated;
	txt = cJSON_PrintUnformatted(ans);
	cJSON_Delete(ans);
	cJSON_Delete(j);
	if (txt)
		*outlen = strlen(txt);
	return txt;
}

int segments_peer_answer(struct segments *g, const char *peer, const uint8_t *payload, size_t len)
{
	cJSON *j = cJSON_ParseWithLength((const char *)payload, len), *it;
	const cJSON *qid = GET(j, "q");
	cJSON *segs = GET(j, "segments");
	struct segq *q;
	char e[200];
	int slot;

	if (!cJSON_IsNumber(qid) || !cJSON_IsArray(segs)) {
		cJSON_Delete(j);
		return -1;
	}
	q = qid->valuedouble >= 1 ? q_find(g, (uint64_t)qid->valuedouble, &slot) : NULL;
	if (!q) {
		g->answers_late++;
		cJSON_Delete(j);
		return 0;
	}
	for (unsigned i = 0; i < q->npeers; i++)
		if (!strcmp(q->peer[i].id, peer) && q->peer[i].state == P_ASKED) {
			q->peer[i].state = P_ANSWERED;
			g->answers++;
		}
	if (cJSON_IsTrue(GET(j, "truncated")))
		q->truncated = 1;
	while ((it = cJSON_DetachItemFromArray(segs, 0))) {
		char *s = NULL;
		if (seg_validate(it, e, sizeof e) || !(s = cJSON_PrintUnformatted(it)) ||
		    q->fetched_bytes + strlen(s) > g->answer_max * SEGQ_PEERS_MAX ||
		    cJSON_GetArraySize(q->fetched) >= SEG_GRAFTS_MAX) {
			if (!s || seg_validate(it, e, sizeof e))
				g->answers_bad_paths++;
			else
				q->truncated = 1;
			free(s);
			cJSON_Delete(it);
			continue;
		}
		q->fetched_bytes += strlen(s);
		free(s);
		cJSON_DeleteItemFromObjectCaseSensitive(it, "peer");
		cJSON_AddStringToObject(it, "peer", peer);
		cJSON_AddItemToArray(q->fetched, it);
	}
	cJSON_Delete(j);
	return 0;
}

void segments_stats_json(const struct segments *g, cJSON *o)
{
	const struct segstore *s = &g->store;
	cJSON *x = cJSON_AddObjectToObject(o, "segments");
	uint64_t pending_n = 0;

	for (int i = 0; i < SEGQ_MAX; i++)
		pending_n += g->q[i] != NULL;
	/* one table, in the order `insitu stats` shows them (docs/aggregator.md) */
	const struct {
		const char *name;
		uint64_t v;
	} c[] = {
		{"paths", s->n},
		{"bytes", s->bytes},
		{"paths_max", s->cap},
		{"bytes_max", s->max_bytes},
		{"age_max_ms", s->max_age_ms},
		{"stitch_bytes_max", s->max_stitch_bytes},
		{"answer_bytes_max", g->reply_max},
		{"peer_answer_bytes_max", g->answer_max},
		{"received", s->st.received},
		{"rejected", s->st.rejected + g->submit_bad},
		{"evicted_count", s->st.evicted_count},
		{"evicted_bytes", s->st.evicted_bytes},
		{"evicted_age", s->st.evicted_age},
		{"key_collisions", s->st.key_collisions},
		{"stitched", s->st.stitched},
		{"grafts", s->st.grafts},
		{"queries", g->queries},
		{"queries_local_only", g->queries_local},
		{"queries_pending", pending_n},
		{"queries_dropped", g->queries_dropped},
		{"query_rounds_more", g->rounds_more},
		{"peers_asked", g->peers_asked},
		{"peer_answers", g->answers},
		{"peer_answers_late", g->answers_late},
		{"peer_paths_invalid", g->answers_bad_paths},
		{"served_queries", g->served},
		{"served_paths", g->served_paths},
		{"served_truncated", g->served_truncated},
	};
	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++)
		cJSON_AddNumberToObject(x, c[i].name, (double)c[i].v);
}
