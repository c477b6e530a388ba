/* libFuzzer target: arbitrary message sequences through the linking rules, with tiny
 * caps so that every eviction, cap and timeout path runs; paths are formatted (JSON
 * and tree).  Invariants: no crash or leak (ASan), every path is valid JSON on one
 * line, and nothing is left alive after lk_flush(). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../../user/link.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
#include "../../user/path.h"

static FILE *sink;

/* Every path must be one valid JSON object on one line, whatever bytes the labels
 * held. */
static void on_path(const struct lk_hop *root, void *arg)
{
	(void)arg;
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	if (!m)
		return;
	path_write_json(m, root);
	fclose(m);
	if (!len || buf[len - 1] != '\n' || memchr(buf, '\n', len) != buf + len - 1)
		abort();
	cJSON *j = cJSON_Parse(buf);
	if (!j || !cJSON_IsObject(j))
		abort();
	cJSON_Delete(j);
	free(buf);
	path_write_tree(sink, root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!sink)
		sink = fopen("/dev/null", "w");
	struct lk_cfg cfg;
	lk_cfg_defaults(&cfg);
	cfg.timeout_ns = 5000;
	cfg.window_ns = 20000;
	cfg.linger_ns = 500;
	cfg.max_fanout = 3;
	cfg.max_hops = 16;
	cfg.max_follow = 32;
	cfg.max_conns = 4;
	cfg.queue_cap = 4;
	cfg.link_by_thread = size & 1;
	struct linker *lk = lk_new(&cfg, on_path, NULL);
	if (!lk)
		return 0;
	uint64_t t = 1000;
	/* 12 bytes per message: op, node, tid, conn, port, pos, ids, dt */
	for (size_t i = 0; i + 12 <= size; i += 12) {
		const uint8_t *b = data + i;
		t += b[11] * 37u;
		if (b[0] == 0xff) {
			lk_conn_closed(lk, b[3] & 7, t);
			continue;
		}
		if (b[0] == 0xfe) {
			lk_tick(lk, t);
			continue;
		}
		struct lk_msg m;
		memset(&m, 0, sizeof(m));
		m.role = (uint8_t)(b[0] & 3);
		m.dir = (b[0] & 4) ? LK_SEND : LK_RECV;
		m.flags = (uint16_t)((b[0] >> 3) & 3);
		m.netns = b[1] & 3;
		m.pid = (b[1] >> 2) & 3;
		m.tid = b[2] & 3;
		m.conn = b[3] & 7;
		m.tuple.proto = (b[0] & 0x20) ? 17 : 6;
		m.tuple.laddr[15] = (uint8_t)(m.netns + 1);
		m.tuple.raddr[15] = (uint8_t)((b[4] & 3) + 1);
		m.tuple.lport = (uint16_t)(b[4] >> 2);
		m.tuple.rport = (uint16_t)(b[5] & 7);
		m.pos = b[6];
		m.len = b[7];
		m.content_hash = b[6] & 3;
		m.link_id = b[8] & 7;
		m.follow[0] = b[9] & 7;
		m.follow[1] = b[9] >> 5;
		m.n_follow = (uint8_t)(b[10] % 5);
		m.query_id = (b[10] & 0x10) ? (b[8] >> 4) : 0;
		m.response_id = (b[10] & 0x20) ? (b[8] >> 4) : 0;
		m.status = (int32_t)b[10] - 100;
		m.outcome = (uint8_t)(b[10] >> 6);
		m.t_start = t;
		m.t_end = t + (b[11] & 7);
		memcpy(m.label, b, 12);
		m.label[12] = 0;
		snprintf(m.proto, sizeof(m.proto), "x");
		lk_add(lk, &m);
	}
	lk_flush(lk);
	if (lk_hops_alive(lk) != 0)
		abort();
	lk_free(lk);
	return 0;
}
