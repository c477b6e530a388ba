/* --dump output: JSON escaping is exact and every line is valid JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../user/observer_dump.h"

static void test_escape(void **state)
{
	char out[256];
	const uint8_t in[] = {'a', '"', '\\', '\n', '\r', '\t', 0, 0x1f, 0x7f, 0x80, 0xff, 'z'};
	size_t n = obs_json_escape(out, sizeof(out), in, sizeof(in));

	assert_string_equal(out, "a\\\"\\\\\\n\\r\\t\\u0000\\u001f\\u007f\\u0080\\u00ffz");
	assert_int_equal(n, strlen(out));
}

static void test_escape_truncates_safely(void **state)
{
	char out[5];
	const uint8_t in[] = {0x01, 0x02};
	size_t n = obs_json_escape(out, sizeof(out), in, sizeof(in));

	assert_int_equal(n, 12);   /* what it would need */
	assert_int_equal(strlen(out), 4);
	assert_int_equal(obs_json_escape(NULL, 0, in, 1), 6);
}

static char *dump_to_string(const struct insitu_msg_event *ev, const uint8_t *ids,
			    const uint8_t *payload)
{
	static char buf[8192];
	FILE *f = fmemopen(buf, sizeof(buf), "w");
	obs_dump_msg(f, ev, ids, payload);
	fclose(f);
	return buf;
}

static void test_msg_line(void **state)
{
	struct insitu_msg_event ev = {0};
	const uint8_t payload[] = "GET / \"x\"\r\n";
	const uint8_t ids[] = {0xde, 0xad};

	ev.hdr.kind = INSITU_EV_MSG;
	ev.t_enter_ns = 10;
	ev.t_exit_ns = 20;
	ev.pid = 7;
	ev.tid = 8;
	memcpy(ev.comm, "cu\"rl", 5);
	ev.netns = 4026531840u;
	ev.sock_id = 99;
	ev.t.family = 2;
	ev.t.proto = 6;
	ev.t.laddr[0] = 127, ev.t.laddr[3] = 1;
	ev.t.raddr[0] = 10, ev.t.raddr[3] = 2;
	ev.t.lport = 5000;
	ev.t.rport = 80;
	ev.dir = INSITU_DIR_SEND;
	ev.syscall = INSITU_SYS_WRITEV;
	ev.ret = 11;
	ev.bytes = 11;
	ev.seq = 4294967295u;
	ev.flags = INSITU_F_SEQ_VALID | INSITU_F_TRUNCATED;
	ev.cap_len = sizeof(payload) - 1;
	ev.ids_len = 2;
	assert_string_equal(
		dump_to_string(&ev, ids, payload),
		"{\"type\":\"msg\",\"t_enter\":10,\"t_exit\":20,\"pid\":7,\"tid\":8,\"comm\":\"cu\\\"rl\","
		"\"cgroup\":0,\"netns\":4026531840,\"sock\":99,\"family\":\"inet\",\"proto\":\"tcp\","
		"\"laddr\":\"127.0.0.1\",\"lport\":5000,\"raddr\":\"10.0.0.2\",\"rport\":80,"
		"\"dir\":\"send\",\"syscall\":\"writev\",\"ret\":11,\"bytes\":11,\"seq\":4294967295,"
		"\"flags\":[\"truncated\",\"seq_valid\"],\"cap_len\":11,\"ids\":\"dead\","
		"\"payload\":\"GET / \\\"x\\\"\\r\\n\"}\n");
}

static void test_conn_line_v6(void **state)
{
	static char buf[4096];
	struct insitu_conn_event ev = {0};
	FILE *f = fmemopen(buf, sizeof(buf), "w");

	ev.type = INSITU_CONN_CONNECT_FAILED;
	ev.err = 111;
	ev.t.family = 10;
	ev.t.proto = 6;
	ev.t.laddr[15] = 1;
	ev.t.raddr[0] = 0xfd;
	ev.t.raddr[15] = 2;
	ev.t.rport = 9;
	obs_dump_conn(f, &ev);
	fclose(f);
	assert_non_null(strstr(buf, "\"event\":\"connect_failed\""));
	assert_non_null(strstr(buf, "\"family\":\"inet6\",\"proto\":\"tcp\",\"laddr\":\"::1\""));
	assert_non_null(strstr(buf, "\"raddr\":\"fd00::2\",\"rport\":9,\"err\":111"));
	/* a name of 16 bytes with no NUL stays within the field */
	memset(ev.comm, 'x', sizeof(ev.comm));
	f = fmemopen(buf, sizeof(buf), "w");
	obs_dump_conn(f, &ev);
	fclose(f);
	assert_non_null(strstr(buf, "\"comm\":\"xxxxxxxxxxxxxxxx\""));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_escape_truncates_safely),
		cmocka_unit_test(test_msg_line),
		cmocka_unit_test(test_conn_line_v6),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
