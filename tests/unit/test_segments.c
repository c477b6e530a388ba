/* insitud's path segment store and queries (aggregator/segments*.c): validation with
 * named fields, the three indexes, grafting (local, fetched from a peer, loops cut),
 * eviction by count / bytes / age with the indexes kept right, and the query flow
 * (no peer, peer down -> partial, pending -> peer answer -> joined, peer silent ->
 * partial after the wait), and the peer side (SEGQ served, malformed refused). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <cjson/cJSON.h>

#include "peers.h"
#include "segments.h"
#include "segments_query.h"

#define GET cJSON_GetObjectItemCaseSensitive

/* The peer side of a query is the network's (tests/integration/segments_peers.sh runs
 * it for real); here the configured peers (one, "b", unless a test says), up or down as
 * the test says, and the SEGQ payload they would have been sent. */
static int peer_up;
static const char *peer_names[3] = {"b"};
static char last_segq[4096];
static unsigned segq_sent;
void peers_seg_query(struct peers *p, const char *payload, size_t len,
		     void (*fn)(void *arg, const char *peer, int asked), void *arg)
{
	(void)p;
	snprintf(last_segq, sizeof last_segq, "%.*s", (int)len, payload);
	segq_sent++;
	for (int i = 0; i < 3 && peer_names[i]; i++)
		fn(arg, peer_names[i], peer_up);
}

/* A hop: key, whether each end was seen, outcome, children (NULL-terminated). */
static cJSON *hop(const char *key, int cseen, int sseen, const char *outcome, cJSON *child)
{
	cJSON *h = cJSON_CreateObject(), *c = cJSON_CreateObject(), *s = cJSON_CreateObject();
	cJSON_AddStringToObject(h, "join", key);
	cJSON_AddStringToObject(h, "label", "h:0011223344556677");
	cJSON_AddBoolToObject(c, "seen", cseen);
	cJSON_AddBoolToObject(s, "seen", sseen);
	if (sseen)
		cJSON_AddStringToObject(s, "comm", "srv");
	cJSON_AddItemToObject(h, "client", c);
	cJSON_AddItemToObject(h, "server", s);
	cJSON_AddNumberToObject(h, "server_ns", sseen ? 900 : 0);
	cJSON_AddStringToObject(h, "outcome", outcome);
	cJSON_AddNumberToObject(h, "status", sseen ? 200 : -1);
	cJSON *fl = cJSON_AddArrayToObject(h, "flags");
	if (sseen)
		cJSON_AddItemToArray(fl, cJSON_CreateString("ambiguous"));
	cJSON *ch = cJSON_AddArrayToObject(h, "children");
	if (child)
		cJSON_AddItemToArray(ch, child);
	return h;
}

static cJSON *path(cJSON *root)
{
	cJSON *p = cJSON_CreateObject();
	cJSON_AddNumberToObject(p, "path", 1);
	cJSON_AddItemToObject(p, "root", root);
	return p;
}

static void add(struct segstore *s, const char *obs, cJSON *p, uint64_t now)
{
	char err[200];
	assert_int_equal(seg_validate(p, err, sizeof err), 0);
	assert_int_equal(segstore_add(s, obs, p, now), 0);
	cJSON_Delete(p);
}

/* front: k1 (both ends seen) -> leaf k2 (server unseen); back: segment k2 -> k3 */
static cJSON *front(void) { return path(hop("k1", 1, 1, "ok", hop("k2", 1, 0, "unknown", NULL))); }
static cJSON *back(void) { return path(hop("k2", 0, 1, "ok", hop("k3", 1, 1, "ok", NULL))); }

static void expect_invalid(const char *json, const char *msg)
{
	cJSON *j = cJSON_Parse(json);
	char err[300] = "";
	assert_int_equal(seg_validate(j, err, sizeof err), -1);
	if (!strstr(err, msg))
		fail_msg("'%s' does not contain '%s'", err, msg);
	cJSON_Delete(j);
}

static void validation_names_the_field(void **st)
{
	expect_invalid("[1]", "expected a path object");
	expect_invalid("{}", "root: missing");
	expect_invalid("{\"root\":{\"join\":\"a b\",\"client\":{\"seen\":true},\"server\":{\"seen\":true}}}",
		       "root.join: expected a key");
	expect_invalid("{\"root\":{\"join\":\"k\",\"client\":{\"seen\":1},\"server\":{\"seen\":true}}}",
		       "root.client: expected an object with a boolean \"seen\"");
	expect_invalid("{\"root\":{\"join\":\"k\",\"client\":{\"seen\":true},\"server\":{\"seen\":true},"
		       "\"children\":[{\"join\":\"k2\",\"client\":{\"seen\":true}}]}}",
		       "root.children[0].server");
	expect_invalid("{\"root\":{\"join\":\"k\",\"client\":{\"seen\":true},\"server\":{\"seen\":true},"
		       "\"children\":{}}}",
		       "root.children: expected an array");
	/* 65 levels deep */
	cJSON *h = hop("d64", 1, 1, "ok", NULL);
	for (int i = 63; i >= 0; i--) {
		char k[16];
		snprintf(k, sizeof k, "d%d", i);
		h = hop(k, 1, 1, "ok", h);
	}
	cJSON *p = path(h);
	char err[300];
	assert_int_equal(seg_validate(p, err, sizeof err), -1);
	if (!strstr(err, "nested deeper than 64")) {
		print_error("got: %s\n", err);
		fail();
	}
	cJSON_Delete(p);
}

static void indexes_and_parent(void **st)
{
	struct segstore s;
	assert_int_equal(segstore_init(&s, 0, 0, 0), 0);
	add(&s, "A", front(), 1);
	add(&s, "B", back(), 2);
	const struct seg_path *f = segstore_by_hop(&s, "k1"), *b = segstore_segment(&s, "k2");
	assert_non_null(f);
	assert_non_null(b);
	assert_false(f->segment);
	assert_true(b->segment);
	assert_ptr_equal(segstore_by_hop(&s, "k3"), b);
	assert_null(segstore_segment(&s, "k1")); /* not a segment: its client end was seen */
	assert_ptr_equal(segstore_parent(&s, b), f);
	assert_null(segstore_parent(&s, f));
	assert_ptr_equal(segstore_nth_newest(&s, 0), b);
	assert_ptr_equal(segstore_nth_newest(&s, 1), f);
	assert_null(segstore_nth_newest(&s, 2));
	segstore_fini(&s);
}

static void stitch_grafts_local_segment(void **st)
{
	struct segstore s;
	segstore_init(&s, 0, 0, 0);
	add(&s, "A", front(), 1);
	add(&s, "B", back(), 2);
	cJSON *un = cJSON_CreateArray();
	cJSON *p = segstore_stitch(&s, segstore_by_hop(&s, "k1"), NULL, un, NULL);
	assert_non_null(p);
	cJSON *leaf = cJSON_GetArrayItem(GET(GET(p, "root"), "children"), 0);
	assert_string_equal(GET(GET(leaf, "joined"), "observer")->valuestring, "B");
	assert_true(cJSON_IsTrue(GET(GET(leaf, "server"), "seen")));
	assert_string_equal(GET(leaf, "outcome")->valuestring, "ok"); /* the caller's side could not tell */
	assert_string_equal(GET(cJSON_GetArrayItem(GET(leaf, "children"), 0), "join")->valuestring, "k3");
	assert_string_equal(cJSON_GetArrayItem(GET(leaf, "flags"), 0)->valuestring, "ambiguous");
	assert_int_equal(GET(p, "grafts")->valueint, 1);
	assert_int_equal(GET(p, "hops")->valueint, 3);
	assert_int_equal(cJSON_GetArraySize(un), 0);
	cJSON_Delete(p);
	cJSON_Delete(un);
	segstore_fini(&s);
}

static void stitch_uses_fetched_and_reports_unresolved(void **st)
{
	struct segstore s;
	segstore_init(&s, 0, 0, 0);
	add(&s, "A", front(), 1);
	cJSON *un = cJSON_CreateArray();
	cJSON *p = segstore_stitch(&s, segstore_by_hop(&s, "k1"), NULL, un, NULL);
	assert_int_equal(cJSON_GetArraySize(un), 1);
	assert_string_equal(cJSON_GetArrayItem(un, 0)->valuestring, "k2");
	cJSON_Delete(p);
	cJSON *fetched = cJSON_CreateArray(), *b = back();
	cJSON_AddStringToObject(b, "peer", "b");
	cJSON_AddStringToObject(b, "observer", "B");
	cJSON_AddItemToArray(fetched, b);
	p = segstore_stitch(&s, segstore_by_hop(&s, "k1"), fetched, NULL, NULL);
	cJSON *leaf = cJSON_GetArrayItem(GET(GET(p, "root"), "children"), 0);
	assert_string_equal(GET(GET(leaf, "joined"), "peer")->valuestring, "b");
	assert_int_equal(cJSON_GetArraySize(GET(p, "unresolved")), 0);
	cJSON_Delete(p);
	cJSON_Delete(fetched);
	cJSON_Delete(un);
	segstore_fini(&s);
}

static void stitch_cuts_loops(void **st)
{
	struct segstore s;
	segstore_init(&s, 0, 0, 0);
	/* x: segment rooted at ka whose leaf is kb; y: segment rooted at kb whose leaf is ka */
	add(&s, "A", path(hop("ka", 0, 1, "ok", hop("kb", 1, 0, "unknown", NULL))), 1);
	add(&s, "B", path(hop("kb", 0, 1, "ok", hop("ka", 1, 0, "unknown", NULL))), 2);
	cJSON *p = segstore_stitch(&s, segstore_segment(&s, "ka"), NULL, NULL, NULL);
	assert_non_null(p);
	assert_true(GET(p, "grafts")->valueint <= 1);
	cJSON_Delete(p);
	segstore_fini(&s);
}

/* A chain of 20 segments of ~250 KB each: grafting stops at SEG_STITCH_BYTES_MAX. */
static void stitch_is_bounded_in_bytes(void **st)
{
	struct segstore s;
	char *big = malloc(250001), k[16], k2[16];
	memset(big, 'x', 250000);
	big[250000] = '\0';
	segstore_init(&s, 0, 0, 0);
	add(&s, "A", path(hop("s0", 1, 1, "ok", hop("s1", 1, 0, "unknown", NULL))), 1);
	for (int i = 1; i <= 20; i++) {
		snprintf(k, sizeof k, "s%d", i);
		snprintf(k2, sizeof k2, "s%d", i + 1);
		cJSON *h = hop(k, 0, 1, "ok", hop(k2, 1, 0, "unknown", NULL));
		cJSON_ReplaceItemInObjectCaseSensitive(h, "label", cJSON_CreateString(big));
		add(&s, "B", path(h), 2);
	}
	size_t bytes = 0;
	cJSON *p = segstore_stitch(&s, segstore_by_hop(&s, "s0"), NULL, NULL, &bytes);
	assert_true(cJSON_IsTrue(GET(p, "capped")));
	assert_true(GET(p, "grafts")->valueint >= 15 && GET(p, "grafts")->valueint < 20);
	assert_true(bytes <= SEG_STITCH_BYTES_MAX + 4096);
	cJSON_Delete(p);
	free(big);
	segstore_fini(&s);
}

static void eviction_keeps_indexes_right(void **st)
{
	struct segstore s;
	char k[16];
	segstore_init(&s, 3, 0, 1000);
	for (int i = 0; i < 5; i++) {
		snprintf(k, sizeof k, "c%d", i);
		add(&s, "A", path(hop(k, 1, 1, "ok", NULL)), (uint64_t)i);
	}
	assert_int_equal(s.n, 3);
	assert_int_equal(s.st.evicted_count, 2);
	assert_null(segstore_by_hop(&s, "c0"));
	assert_null(segstore_by_hop(&s, "c1"));
	assert_non_null(segstore_by_hop(&s, "c2"));
	/* the same key again: the newest wins, and evicting the older keeps its index */
	add(&s, "A", path(hop("c4", 1, 1, "ok", NULL)), 5);
	assert_int_equal(s.st.key_collisions, 1);
	const struct seg_path *newest = segstore_nth_newest(&s, 0);
	assert_ptr_equal(segstore_by_hop(&s, "c4"), newest);
	add(&s, "A", path(hop("c8", 1, 1, "ok", NULL)), 6); /* evicts c3 */
	add(&s, "A", path(hop("c9", 1, 1, "ok", NULL)), 6); /* evicts the old c4 */
	assert_ptr_equal(segstore_by_hop(&s, "c4"), newest);
	/* age */
	segstore_expire(&s, 6 + 1001);
	assert_int_equal(s.n, 0);
	assert_true(s.st.evicted_age >= 3);
	assert_int_equal(s.bytes, 0);
	segstore_fini(&s);

	/* bytes */
	segstore_init(&s, 0, 4096, 0);
	for (int i = 0; i < 50; i++) {
		snprintf(k, sizeof k, "b%d", i);
		add(&s, "A", path(hop(k, 1, 1, "ok", NULL)), 1);
	}
	assert_true(s.bytes <= 4096);
	assert_true(s.st.evicted_bytes > 0);
	assert_non_null(segstore_by_hop(&s, "b49"));
	segstore_fini(&s);
}

static cJSON *req(const char *json)
{
	cJSON *j = cJSON_Parse(json);
	assert_non_null(j);
	return j;
}

static cJSON *submit(struct segments *g, const char *obs, cJSON *p)
{
	cJSON *r = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(r, "paths"), *ans = cJSON_CreateObject();
	char err[300];
	cJSON_AddItemToArray(a, p);
	assert_int_equal(segments_op_submit(g, obs, r, ans, err, sizeof err, 1), 0);
	cJSON_Delete(r);
	return ans;
}

/* One "paths" request r to g at now: asserts the return code, gives the answer (the
 * caller deletes it) and the error code. */
static const char *last_code;
static cJSON *ask(struct segments *g, struct peers *ps, const cJSON *r, uint64_t now, int rc)
{
	cJSON *ans = cJSON_CreateObject();
	char err[300];
	assert_int_equal(segments_op_paths(g, ps, r, ans, &last_code, err, sizeof err, now), rc);
	return ans;
}

/* Polls pending query qid. */
static cJSON *poll_query(struct segments *g, struct peers *ps, int qid, uint64_t now, int rc)
{
	char txt[64];
	snprintf(txt, sizeof txt, "{\"op\":\"paths\",\"query\":%d}", qid);
	cJSON *pr = req(txt), *ans = ask(g, ps, pr, now, rc);
	cJSON_Delete(pr);
	return ans;
}

/* Starts a query that must wait for the peer: its id. */
static int ask_pending(struct segments *g, struct peers *ps, const cJSON *r, uint64_t now)
{
	cJSON *ans = ask(g, ps, r, now, 0);
	assert_true(cJSON_IsTrue(GET(ans, "pending")));
	int qid = GET(ans, "query")->valueint;
	cJSON_Delete(ans);
	return qid;
}

/* The peer at (its store gb, its name) serves the last SEGQ sent and g takes the SEGR. */
static void peer_answers(struct segments *gb, const char *name, struct segments *g)
{
	size_t len = 0;
	char *segr = segments_peer_serve(gb, (const uint8_t *)last_segq, strlen(last_segq), &len);
	assert_non_null(segr);
	assert_int_equal(segments_peer_answer(g, name, (const uint8_t *)segr, len), 0);
	free(segr);
}

static void query_flow(void **st)
{
	struct segments *g = segments_new(NULL), *gb = segments_new(NULL);
	struct peers *ps = (struct peers *)&peer_up; /* only passed through to the stub */
	cJSON *ans, *r;
	size_t len = 0;
	int qid;

	cJSON_Delete(submit(g, "A", front()));
	cJSON_Delete(submit(gb, "B", back()));

	/* no peers: local answer, not partial (nobody could have more) */
	r = req("{\"op\":\"paths\",\"recent\":5}");
	ans = ask(g, NULL, r, 10, 0);
	assert_false(cJSON_IsTrue(GET(ans, "partial")));
	assert_int_equal(cJSON_GetArraySize(GET(ans, "paths")), 1);
	cJSON_Delete(ans);

	/* the peer down: answered at once, partial */
	peer_up = 0;
	ans = ask(g, ps, r, 10, 0);
	assert_true(cJSON_IsTrue(GET(ans, "partial")));
	assert_string_equal(cJSON_GetArrayItem(GET(ans, "peers_unavailable"), 0)->valuestring, "b");
	cJSON_Delete(ans);

	/* the peer up: pending; b serves the SEGQ; its answer comes back; joined */
	peer_up = 1;
	qid = ask_pending(g, ps, r, 10);
	assert_non_null(strstr(last_segq, "\"k2\""));
	peer_answers(gb, "b", g);
	ans = poll_query(g, ps, qid, 11, 0);
	assert_false(cJSON_IsTrue(GET(ans, "pending")));
	assert_false(cJSON_IsTrue(GET(ans, "partial")));
	cJSON *leaf = cJSON_GetArrayItem(GET(GET(cJSON_GetArrayItem(GET(ans, "paths"), 0), "root"), "children"), 0);
	assert_string_equal(GET(GET(leaf, "joined"), "peer")->valuestring, "b");
	cJSON_Delete(ans);
	/* the query is gone once answered */
	cJSON_Delete(poll_query(g, ps, qid, 12, -1));
	assert_string_equal(last_code, "not_found");

	/* the peer silent: pending until the wait is over, then partial "no_answer" */
	qid = ask_pending(g, ps, r, 100);
	ans = poll_query(g, ps, qid, 100 + SEGQ_WAIT_MS - 1, 0);
	assert_true(cJSON_IsTrue(GET(ans, "pending")));
	cJSON_Delete(ans);
	ans = poll_query(g, ps, qid, 100 + SEGQ_WAIT_MS, 0);
	assert_true(cJSON_IsTrue(GET(ans, "partial")));
	assert_string_equal(GET(cJSON_GetArrayItem(GET(ans, "peers"), 0), "state")->valuestring, "no_answer");
	cJSON_Delete(ans);
	cJSON_Delete(r);

	/* --join with a key stored only at the peer: the peer is asked for its whole path */
	r = req("{\"op\":\"paths\",\"join\":\"k3\"}");
	cJSON_Delete(ask(g, NULL, r, 300, -1));
	assert_string_equal(last_code, "not_found"); /* no peers: nobody else to ask */
	peer_up = 0;
	ans = ask(g, ps, r, 300, 0);
	assert_true(cJSON_IsTrue(GET(ans, "partial")));
	assert_int_equal(cJSON_GetArraySize(GET(ans, "paths")), 0);
	cJSON_Delete(ans);
	peer_up = 1;
	qid = ask_pending(g, ps, r, 300);
	assert_non_null(strstr(last_segq, "\"find\":\"k3\""));
	peer_answers(gb, "b", g);
	ans = poll_query(g, ps, qid, 301, 0);
	cJSON *fp = cJSON_GetArrayItem(GET(ans, "paths"), 0);
	assert_string_equal(GET(GET(fp, "root"), "join")->valuestring, "k2");
	assert_string_equal(GET(fp, "peer")->valuestring, "b");
	assert_false(cJSON_IsTrue(GET(ans, "partial")));
	cJSON_Delete(ans);
	cJSON_Delete(r);
	/* ... and a key nobody has: not_found once the peer said so */
	r = req("{\"op\":\"paths\",\"join\":\"nowhere\"}");
	qid = ask_pending(g, ps, r, 400);
	peer_answers(gb, "b", g);
	cJSON_Delete(poll_query(g, ps, qid, 401, -1));
	assert_string_equal(last_code, "not_found");
	cJSON_Delete(r);

	/* bad requests */
	r = req("{\"op\":\"paths\",\"join\":\"k1\",\"recent\":3}");
	cJSON_Delete(ask(g, ps, r, 200, -1));
	assert_string_equal(last_code, "bad_request");
	cJSON_Delete(r);
	/* malformed peer payloads are refused (the caller drops the connection) */
	assert_null(segments_peer_serve(gb, (const uint8_t *)"{\"keys\":1}", 10, &len));
	assert_int_equal(segments_peer_answer(g, "b", (const uint8_t *)"[]", 2), -1);
	/* an answer for a query that is gone is counted, not an error */
	assert_int_equal(segments_peer_answer(g, "b", (const uint8_t *)"{\"q\":999,\"segments\":[]}", 23), 0);
	segments_free(g);
	segments_free(gb);
}

/* A path across three aggregators: A stores the front (k1 -> leaf k2), B the middle
 * (segment k2 -> leaf k3), C the back (segment k3 -> k4).  A asks B and C for k2; only
 * B's answer continues it, ending in leaf k3; A asks again, for k3 only; C's answer
 * completes the path: two rounds, nothing partial.  Then the bounds: a chain longer
 * than SEGQ_ROUNDS_MAX rounds, and a wait that is over, stop asking — partial. */
static void multi_round_fetch(void **st)
{
	struct segments *g = segments_new(NULL), *gb = segments_new(NULL), *gc = segments_new(NULL);
	struct peers *ps = (struct peers *)&peer_up;
	cJSON *r = req("{\"op\":\"paths\",\"join\":\"k1\"}"), *ans, *h;
	int qid;

	peer_names[1] = "c";
	peer_up = 1;
	cJSON_Delete(submit(g, "A", front()));
	cJSON_Delete(submit(gb, "B", path(hop("k2", 0, 1, "ok", hop("k3", 1, 0, "unknown", NULL)))));
	cJSON_Delete(submit(gc, "C", path(hop("k3", 0, 1, "ok", hop("k4", 1, 1, "ok", NULL)))));

	qid = ask_pending(g, ps, r, 1000);
	assert_non_null(strstr(last_segq, "\"keys\":[\"k2\"]"));
	peer_answers(gb, "b", g);
	peer_answers(gc, "c", g);
	unsigned sent = segq_sent;
	ans = poll_query(g, ps, qid, 1001, 0); /* every peer answered: round 2 goes out */
	assert_true(cJSON_IsTrue(GET(ans, "pending")));
	cJSON_Delete(ans);
	assert_int_equal(segq_sent, sent + 1);
	assert_non_null(strstr(last_segq, "\"keys\":[\"k3\"]")); /* k2 is not asked twice */
	ans = poll_query(g, ps, qid, 1002, 0); /* round 2 not answered yet */
	assert_true(cJSON_IsTrue(GET(ans, "pending")));
	cJSON_Delete(ans);
	peer_answers(gb, "b", g);
	peer_answers(gc, "c", g);
	ans = poll_query(g, ps, qid, 1003, 0);
	assert_false(cJSON_IsTrue(GET(ans, "pending")));
	assert_false(cJSON_IsTrue(GET(ans, "partial")));
	assert_int_equal(GET(ans, "rounds")->valueint, 2);
	assert_int_equal(cJSON_GetArraySize(GET(ans, "unresolved")), 0);
	h = cJSON_GetArrayItem(GET(GET(cJSON_GetArrayItem(GET(ans, "paths"), 0), "root"), "children"), 0);
	assert_string_equal(GET(h, "join")->valuestring, "k2");
	assert_string_equal(GET(GET(h, "joined"), "peer")->valuestring, "b");
	h = cJSON_GetArrayItem(GET(h, "children"), 0);
	assert_string_equal(GET(h, "join")->valuestring, "k3");
	assert_string_equal(GET(GET(h, "joined"), "peer")->valuestring, "c");
	assert_string_equal(GET(cJSON_GetArrayItem(GET(h, "children"), 0), "join")->valuestring, "k4");
	assert_int_equal(GET(cJSON_GetArrayItem(GET(ans, "paths"), 0), "grafts")->valueint, 2);
	cJSON_Delete(ans);
	cJSON_Delete(r);

	/* a chain m0 -> m1 -> ... -> m10, its segments alternately at b and c (so neither
	 * can stitch two in a row): one new key per round, SEGQ_ROUNDS_MAX rounds, then
	 * partial with the next key unresolved */
	char k[16], k2[16];
	cJSON_Delete(submit(g, "A", path(hop("m0", 1, 1, "ok", hop("m1", 1, 0, "unknown", NULL)))));
	for (int i = 1; i < 10; i++) {
		snprintf(k, sizeof k, "m%d", i);
		snprintf(k2, sizeof k2, "m%d", i + 1);
		cJSON_Delete(submit(i % 2 ? gb : gc, i % 2 ? "B" : "C",
				    path(hop(k, 0, 1, "ok", hop(k2, 1, 0, "unknown", NULL)))));
	}
	r = req("{\"op\":\"paths\",\"join\":\"m0\",\"wait_ms\":5000}");
	qid = ask_pending(g, ps, r, 2000);
	for (int round = 1;; round++) {
		peer_answers(gb, "b", g);
		peer_answers(gc, "c", g);
		ans = poll_query(g, ps, qid, 2000 + round, 0);
		if (!cJSON_IsTrue(GET(ans, "pending")))
			break;
		assert_true(round < SEGQ_ROUNDS_MAX);
		cJSON_Delete(ans);
	}
	assert_int_equal(GET(ans, "rounds")->valueint, SEGQ_ROUNDS_MAX);
	assert_true(cJSON_IsTrue(GET(ans, "partial")));
	snprintf(k, sizeof k, "m%d", SEGQ_ROUNDS_MAX + 1);
	assert_string_equal(cJSON_GetArrayItem(GET(ans, "unresolved"), 0)->valuestring, k);
	cJSON_Delete(ans);
	cJSON_Delete(r);

	/* the wait over when round 1 is answered: no round 2, partial */
	r = req("{\"op\":\"paths\",\"join\":\"m0\",\"wait_ms\":100}");
	qid = ask_pending(g, ps, r, 3000);
	peer_answers(gb, "b", g);
	peer_answers(gc, "c", g);
	sent = segq_sent;
	ans = poll_query(g, ps, qid, 3100, 0);
	assert_int_equal(segq_sent, sent);
	assert_false(cJSON_IsTrue(GET(ans, "pending")));
	assert_true(cJSON_IsTrue(GET(ans, "partial")));
	assert_int_equal(GET(ans, "rounds")->valueint, 1);
	cJSON_Delete(ans);
	cJSON_Delete(r);

	peer_names[1] = NULL;
	segments_free(g);
	segments_free(gb);
	segments_free(gc);
}

static void submit_refuses_all_when_one_is_invalid(void **st)
{
	struct segments *g = segments_new(NULL);
	cJSON *r = req("{\"paths\":[{\"root\":{\"join\":\"k\",\"client\":{\"seen\":true},\"server\":{\"seen\":true}}},"
		       "{\"root\":{\"join\":\"\",\"client\":{\"seen\":true},\"server\":{\"seen\":true}}}]}");
	cJSON *ans = cJSON_CreateObject();
	char err[300];
	assert_int_equal(segments_op_submit(g, "A", r, ans, err, sizeof err, 1), -1);
	assert_non_null(strstr(err, "paths[1].root.join"));
	assert_int_equal(segments_store(g)->n, 0);
	cJSON_Delete(ans);
	cJSON_Delete(r);
	segments_free(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(validation_names_the_field),
		cmocka_unit_test(indexes_and_parent),
		cmocka_unit_test(stitch_grafts_local_segment),
		cmocka_unit_test(stitch_uses_fetched_and_reports_unresolved),
		cmocka_unit_test(stitch_cuts_loops),
		cmocka_unit_test(stitch_is_bounded_in_bytes),
		cmocka_unit_test(eviction_keeps_indexes_right),
		cmocka_unit_test(query_flow),
		cmocka_unit_test(multi_round_fetch),
		cmocka_unit_test(submit_refuses_all_when_one_is_invalid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
