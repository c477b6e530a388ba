/* The linker with the kernel's ids blocks, on event streams recorded from real
 * programs: tests/fixtures/linker/ids_only_{full,ids}.zst were written by
 * tests/integration/ids_only.sh (IDS_ONLY_KEEP=DIR) -- curl -> nginx -> python
 * http.server and dig -> named, insitu-observer --record with the kernel-complete
 * semantics of tests/integration/ids_only/, once with --payload=full and once with
 * --payload=ids.
 *
 *  - the recorded blocks are what the kernel interpreter's C mirror writes;
 *  - using the complete blocks gives byte-for-byte the same paths as extracting
 *    again in user space;
 *  - the full stream turned into ids only (payload removed where the block is
 *    complete, as the kernel does) and the real --payload=ids recording both give
 *    the same paths as the full stream: shape, protocols, link ids, outcomes,
 *    status codes, both ends of every hop;
 *  - replayed with semantics whose type numbers differ, ids-only blocks are
 *    refused and counted, never taken for another type. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extract_kernel.h"
#include "linker.h"
#include "observer_record.h"

#define FULL "tests/fixtures/linker/ids_only_full.zst"
#define IDS "tests/fixtures/linker/ids_only_ids.zst"

static struct sem_set *sem;
static struct xk_table xt;

static struct sem_set *load_dir(void)
{
	const char *p[] = { "tests/integration/ids_only/dns.json", "tests/integration/ids_only/http.json" };
	static struct sem_diags d;
	struct sem_set *s = sem_load(p, 2, &d);
	if (!s)
		sem_diags_print(&d, stderr);
	return s;
}

static int setup(void **st)
{
	(void)st;
	sem = load_dir();
	if (!sem)
		return -1;
	xk_compile(sem, &xt);
	return 0;
}

static int teardown(void **st)
{
	(void)st;
	sem_free(sem);
	return 0;
}

/* ---- canonical paths: what must not change between the modes --------------- */

struct canon {
	char *lines[512];
	size_t n;
};

static size_t canon_hop(const struct lk_hop *h, char *b, size_t n, size_t o, int depth)
{
	if (o >= n || depth > 8)
		return o;
	o += (size_t)snprintf(b + o, n - o, "(%.8s %.40s %u %d %d%d", h->proto, h->id_text, lk_hop_outcome(h),
			      lk_hop_status(h), h->side[LK_CLIENT].state != LK_SIDE_ABSENT,
			      h->side[LK_SERVER].state != LK_SIDE_ABSENT);
	for (const struct lk_hop *c = h->first_child; c && o < n; c = c->next_sibling)
		o = canon_hop(c, b, n, o, depth + 1);
	if (o < n)
		o += (size_t)snprintf(b + o, n - o, ")");
	return o;
}

static void on_path(const struct lk_hop *root, void *arg)
{
	struct canon *c = arg;
	char b[1024];
	canon_hop(root, b, sizeof(b), 0, 0);
	if (c->n < 512)
		c->lines[c->n++] = strdup(b);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void canon_free(struct canon *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->lines[i]);
	c->n = 0;
}

static void assert_same_paths(struct canon *a, struct canon *b)
{
	qsort(a->lines, a->n, sizeof(char *), cmp_str);
	qsort(b->lines, b->n, sizeof(char *), cmp_str);
	assert_int_equal(a->n, b->n);
	for (size_t i = 0; i < a->n; i++)
		assert_string_equal(a->lines[i], b->lines[i]);
}

/* ---- replay ---------------------------------------------------------------- */

enum feed { FEED_AS_RECORDED, FEED_MAKE_IDS_ONLY };

struct run {
	struct linker_stats st;
	uint64_t msgs, ids_only_events, blocks, blocks_agree;
};

/* Replays a recording into a fresh linker stage; 'out' gets the JSON paths (if
 * not NULL), 'c' the canonical ones. */
static void replay(const char *path, const struct sem_set *s, enum feed how, bool no_kernel_ids, FILE *out,
		   struct canon *c, struct run *r)
{
	struct linker_opts o;
	linker_opts_defaults(&o);
	o.out = out;
	o.on_path = on_path;
	o.on_path_arg = c;
	o.no_kernel_ids = no_kernel_ids;
	struct linker_sink *ls = linker_sink_new(s, &o);
	assert_non_null(ls);
	struct obs_reader rd;
	assert_int_equal(obs_reader_open(&rd, path), 0);
	const void *rec;
	size_t len;
	static uint8_t copy[65536];
	memset(r, 0, sizeof(*r));
	int k;
	while ((k = obs_reader_next(&rd, &rec, &len)) == 1) {
		const struct insitu_ev_hdr *h = rec;
		if (h->kind == INSITU_EV_CONN) {
			linker_sink_conn(ls, rec);
			continue;
		}
		if (h->kind != INSITU_EV_MSG)
			continue;
		const struct insitu_msg_event *e = rec;
		const uint8_t *ids = (const uint8_t *)rec + sizeof(*e), *pl = ids + e->ids_len;
		r->msgs++;
		if (e->flags & INSITU_F_IDS_ONLY)
			r->ids_only_events++;
		if (e->cap_len && e->ids_len) {
			/* the block the kernel wrote == the C mirror on the same bytes */
			uint8_t ref[INSITU_IDS_MAX];
			bool send = e->dir == INSITU_DIR_SEND;
			uint32_t n = xk_eval_msg(&xt, pl, e->cap_len, e->bytes, e->t.proto, e->t.lport, e->t.rport, send, ref,
					     sizeof(ref));
			r->blocks++;
			if (n == e->ids_len && !memcmp(ref, ids, n))
				r->blocks_agree++;
		}
		if (how == FEED_MAKE_IDS_ONLY && e->ids_len && e->cap_len && (ids[0] & INSITU_XID_F_ALL) &&
		    len <= sizeof(copy)) {
			/* what --payload=ids would have sent for the same bytes */
			memcpy(copy, rec, sizeof(*e) + e->ids_len);
			struct insitu_msg_event *x = (void *)copy;
			x->cap_len = 0;
			x->flags |= INSITU_F_IDS_ONLY;
			x->hdr.size = (uint32_t)(sizeof(*e) + e->ids_len);
			linker_sink_msg_ids(ls, x, copy + sizeof(*e), copy + sizeof(*e) + e->ids_len);
			continue;
		}
		linker_sink_msg_ids(ls, e, e->ids_len ? ids : NULL, pl);
	}
	assert_int_equal(k, 0);
	obs_reader_close(&rd);
	linker_sink_finish(ls);
	r->st = *linker_sink_stats(ls);
	linker_sink_free(ls);
}

static void test_recorded_blocks_are_the_interpreters(void **st)
{
	(void)st;
	struct canon c = { 0 };
	struct run r;
	replay(FULL, sem, FEED_AS_RECORDED, false, NULL, &c, &r);
	assert_true(r.msgs > 200);
	assert_true(r.blocks > 200);
	assert_int_equal(r.blocks_agree, r.blocks);
	assert_int_equal(r.ids_only_events, 0);
	canon_free(&c);
}

static void test_kernel_ids_give_the_same_paths_as_extraction(void **st)
{
	(void)st;
	static char ja[1 << 18], jb[1 << 18];
	FILE *fa = fmemopen(ja, sizeof(ja) - 1, "w"), *fb = fmemopen(jb, sizeof(jb) - 1, "w");
	struct canon a = { 0 }, b = { 0 };
	struct run ra, rb;
	replay(FULL, sem, FEED_AS_RECORDED, false, fa, &a, &ra);
	replay(FULL, sem, FEED_AS_RECORDED, true, fb, &b, &rb);
	fclose(fa);
	fclose(fb);
	assert_true(ra.st.kernel_ids > 200);
	assert_int_equal(rb.st.kernel_ids, 0);
	assert_int_equal(ra.st.kernel_ids + ra.st.user_ids, rb.st.user_ids);
	assert_true(a.n >= 48);
	assert_string_equal(ja, jb); /* every field of every path, labels and bytes included */
	canon_free(&a);
	canon_free(&b);
}

static void test_ids_only_gives_the_same_paths(void **st)
{
	(void)st;
	struct canon a = { 0 }, d = { 0 }, i = { 0 };
	struct run ra, rd, ri;
	replay(FULL, sem, FEED_AS_RECORDED, false, NULL, &a, &ra);
	/* the same bytes, the payload dropped where the kernel would have */
	replay(FULL, sem, FEED_MAKE_IDS_ONLY, false, NULL, &d, &rd);
	assert_true(rd.st.ids_only > 200);
	assert_int_equal(rd.st.ids_only_unusable, 0);
	assert_same_paths(&a, &d);
	/* the real --payload=ids run (other ports and txids, same requests) */
	replay(IDS, sem, FEED_AS_RECORDED, false, NULL, &i, &ri);
	assert_true(ri.ids_only_events > 200);
	assert_int_equal(ri.st.ids_only, ri.ids_only_events);
	assert_int_equal(ri.st.ids_only_unusable, 0);
	assert_same_paths(&a, &i);
	canon_free(&a);
	canon_free(&d);
	canon_free(&i);
}

static void test_other_semantics_refuse_the_blocks(void **st)
{
	(void)st;
	/* HTTP with its types the other way round: type 0 is now the response */
	static const char swapped[] =
		"{\"name\":\"http\",\"transport\":\"tcp\",\"ports\":[80,8000],\"framing\":{\"kind\":\"http1\"},"
		"\"messages\":[{\"name\":\"response\",\"role\":\"response\",\"signature\":{\"direction\":"
		"\"from_server\",\"prefix\":\"HTTP/\"}},{\"name\":\"request\",\"role\":\"request\","
		"\"signature\":{\"direction\":\"to_server\",\"prefix\":[\"GET \",\"HEAD \"]},"
		"\"ids\":{\"link_id\":{\"after\":\" \",\"until\":\" \"}}}]}";
	static struct sem_diags dg;
	struct sem_set *s = sem_load_buffer("swapped.json", swapped, sizeof(swapped) - 1, &dg);
	if (!s)
		sem_diags_print(&dg, stderr);
	assert_non_null(s);
	struct canon c = { 0 };
	struct run r;
	replay(IDS, s, FEED_AS_RECORDED, false, NULL, &c, &r);
	assert_true(r.st.ids_only_unusable > 100); /* every HTTP one; DNS has no protocol here */
	assert_int_equal(c.n, 0); /* nothing is made of them */
	canon_free(&c);
	sem_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_recorded_blocks_are_the_interpreters),
		cmocka_unit_test(test_kernel_ids_give_the_same_paths_as_extraction),
		cmocka_unit_test(test_ids_only_gives_the_same_paths),
		cmocka_unit_test(test_other_semantics_refuse_the_blocks),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
