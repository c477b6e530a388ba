/* Record files: what --record writes, --replay reads back byte for byte, and
 * malformed files are refused with the offset of the first bad byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../user/observer_record.h"

static size_t make_msg(uint8_t *buf, uint32_t ids, uint32_t cap, uint32_t seed)
{
	struct insitu_msg_event ev = {0};
	ev.hdr.kind = INSITU_EV_MSG;
	ev.hdr.version = INSITU_EVENT_VERSION;
	ev.hdr.size = sizeof(ev) + ids + cap;
	ev.ids_len = ids;
	ev.cap_len = cap;
	ev.bytes = cap + seed;
	ev.pid = seed;
	memcpy(buf, &ev, sizeof(ev));
	for (uint32_t i = 0; i < ids + cap; i++)
		buf[sizeof(ev) + i] = (uint8_t)(i * 7 + seed);
	return ev.hdr.size;
}

static size_t make_conn(uint8_t *buf, uint32_t seed)
{
	struct insitu_conn_event ev = {0};
	ev.hdr.kind = INSITU_EV_CONN;
	ev.hdr.version = INSITU_EVENT_VERSION;
	ev.hdr.size = sizeof(ev);
	ev.type = INSITU_CONN_ACCEPT;
	ev.pid = seed;
	memcpy(buf, &ev, sizeof(ev));
	return sizeof(ev);
}

/* Collects what a pipeline delivers. */
struct collect {
	uint8_t data[16 << 20];
	size_t len;
	int msgs, conns;
};
static void c_raw(void *ctx, const void *rec, size_t len)
{
	struct collect *c = ctx;
	memcpy(c->data + c->len, rec, len);
	c->len += len;
}
static void c_msg(void *ctx, const struct insitu_msg_event *ev, const uint8_t *ids,
		  const uint8_t *payload)
{
	struct collect *c = ctx;
	assert_ptr_equal(payload, ids + ev->ids_len);
	c->msgs++;
}
static void c_conn(void *ctx, const struct insitu_conn_event *ev)
{
	((struct collect *)ctx)->conns++;
}

static char tmpl[64];

static void test_roundtrip(void **state)
{
	static uint8_t all[16 << 20];
	static struct collect col;
	uint8_t rec[OBS_RECORD_MAX];
	struct obs_recorder w;
	struct obs_sink ws, cs = {.ctx = &col, .on_raw = c_raw, .on_msg = c_msg, .on_conn = c_conn};
	struct obs_pipeline in = {0}, out = {0};
	struct obs_reader r;
	char err[256];
	size_t total = 0;

	snprintf(tmpl, sizeof(tmpl), "/tmp/insitu-rec-XXXXXX");
	close(mkstemp(tmpl));
	assert_int_equal(obs_recorder_open(&w, tmpl, 3, err, sizeof(err)), 0);
	obs_recorder_sink(&w, &ws);
	obs_pipeline_add(&in, &ws);
	/* enough records to cross the writer's and the reader's buffers several times */
	for (uint32_t i = 0; i < 3000; i++) {
		size_t n = i % 5 == 0 ? make_conn(rec, i)
				      : make_msg(rec, i % 3 ? 0 : 16, (i * 13) % (INSITU_PAYLOAD_MAX + 1), i);
		assert_int_equal(obs_pipeline_feed(&in, rec, n), 0);
		memcpy(all + total, rec, n);
		total += n;
		if (i % 700 == 0)
			obs_pipeline_flush(&in);
	}
	assert_int_equal(obs_recorder_close(&w), 0);

	assert_int_equal(obs_reader_open(&r, tmpl), 0);
	assert_int_equal(r.hdr.event_version, INSITU_EVENT_VERSION);
	obs_pipeline_add(&out, &cs);
	assert_int_equal(obs_replay(&r, &out), 3000);
	obs_reader_close(&r);
	unlink(tmpl);
	assert_int_equal(col.len, total);
	assert_memory_equal(col.data, all, total);
	assert_int_equal(col.conns, 600);
	assert_int_equal(col.msgs, 2400);
}

/* A decompressed stream in memory: header + the given records. */
static size_t stream(uint8_t *buf, const uint8_t *recs, size_t n)
{
	struct obs_file_header h = {.file_version = 1, .event_version = INSITU_EVENT_VERSION,
				    .header_len = OBS_FILE_HEADER_LEN};
	memcpy(h.magic, OBS_FILE_MAGIC, 8);
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), recs, n);
	return sizeof(h) + n;
}

static const char *read_all(const uint8_t *data, size_t len, int *count)
{
	static struct obs_reader r;
	const void *rec;
	size_t l;
	int rc;

	*count = 0;
	if (obs_reader_open_raw(&r, "f", data, len)) {
		obs_reader_close(&r);
		return "open";
	}
	while ((rc = obs_reader_next(&r, &rec, &l)) == 1)
		(*count)++;
	static char err[256];
	snprintf(err, sizeof(err), "%s", rc < 0 ? r.err : "");
	obs_reader_close(&r);
	return err;
}

static void test_malformed(void **state)
{
	static uint8_t recs[8192], buf[16384];
	size_t n = make_msg(recs, 4, 10, 1);
	size_t len;
	int cnt;
	struct obs_reader r;

	len = stream(buf, recs, n);
	assert_string_equal(read_all(buf, len, &cnt), "");
	assert_int_equal(cnt, 1);

	/* truncated inside the record */
	assert_string_equal(read_all(buf, len - 3, &cnt),
			    "f:32: file ends inside a record (truncated file?)");
	/* bad magic */
	buf[0] = 'X';
	assert_int_equal(obs_reader_open_raw(&r, "f", buf, len), -1);
	assert_string_equal(r.err, "f:0: not an insitu event file: expected magic \"INSITUEV\"");
	obs_reader_close(&r);
	buf[0] = 'I';
	/* size field disagreeing with ids_len + cap_len */
	((struct insitu_msg_event *)(buf + 32))->cap_len = 11;
	assert_string_equal(read_all(buf, len, &cnt),
			    "f:32: message size != header + ids_len + cap_len");
	((struct insitu_msg_event *)(buf + 32))->cap_len = 10;
	/* absurd size */
	((struct insitu_ev_hdr *)(buf + 32))->size = 3;
	assert_string_equal(read_all(buf, len, &cnt),
			    "f:36: record size out of range: expected 8..65536");
	/* too short for a header at all */
	assert_int_equal(obs_reader_open_raw(&r, "f", buf, 20), -1);
	obs_reader_close(&r);
}

static void test_unknown_kind_skipped(void **state)
{
	static uint8_t recs[8192], buf[16384];
	struct insitu_ev_hdr h = {.kind = 99, .version = INSITU_EVENT_VERSION, .size = 24};
	struct obs_pipeline p = {0};
	size_t n = 0;
	int cnt;

	memcpy(recs, &h, sizeof(h));
	memset(recs + 8, 0xab, 16);
	n = 24;
	n += make_conn(recs + n, 2);
	size_t len = stream(buf, recs, n);
	assert_string_equal(read_all(buf, len, &cnt), "");
	assert_int_equal(cnt, 2);
	assert_int_equal(obs_pipeline_feed(&p, recs, 24), 0);
	assert_int_equal(p.st.unknown, 1);
}

static void test_zstd_garbage(void **state)
{
	struct obs_reader r;
	char path[] = "/tmp/insitu-rec-XXXXXX";
	int fd = mkstemp(path);
	static const uint8_t junk[] = {0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3, 4, 5, 6, 7, 8};

	assert_true(write(fd, junk, sizeof(junk)) == (ssize_t)sizeof(junk));
	close(fd);
	assert_int_equal(obs_reader_open(&r, path), -1);
	assert_non_null(strstr(r.err, path));
	obs_reader_close(&r);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_unknown_kind_skipped),
		cmocka_unit_test(test_zstd_garbage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
