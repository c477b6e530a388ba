/* The observer stage (linker.c + conn.c) with the real HTTP semantics: kernel-shaped
 * events in, paths out.  The cases where syscall boundaries differ between the two
 * ends (split and coalesced messages), lost events (a position gap), truncated
 * capture, close and socket reuse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "linker.h"

static struct sem_set *sem;
static struct linker_sink *ls;
static char out[1 << 16];
static FILE *outf;

static int setup(void **st)
{
	(void)st;
	if (!sem) {
		const char *p = "semantics/http.json";
		static struct sem_diags d;
		sem = sem_load(&p, 1, &d);
		if (!sem) {
			sem_diags_print(&d, stderr);
			return -1;
		}
	}
	memset(out, 0, sizeof(out));
	outf = fmemopen(out, sizeof(out) - 1, "w");
	struct linker_opts o;
	linker_opts_defaults(&o);
	o.out = outf;
	o.lk.linger_ns = 1000;
	o.lk.timeout_ns = 1000000000;
	ls = linker_sink_new(sem, &o);
	return ls ? 0 : -1;
}

static int teardown(void **st)
{
	(void)st;
	linker_sink_free(ls);
	fclose(outf);
	return 0;
}

static void finish(void)
{
	linker_sink_finish(ls);
	fflush(outf);
}

struct end {
	uint32_t netns, pid;
	uint8_t ip;
	uint16_t port;
	uint64_t sock;
	const char *comm;
};

/* One event: 'payload' moved from a to b (dir from a's point of view when send). */
static void ev(const struct end *self, const struct end *peer, int dir, uint32_t seq,
	       const char *payload, uint32_t bytes, uint64_t t)
{
	uint8_t buf[sizeof(struct insitu_msg_event) + 1024];
	struct insitu_msg_event *e = (void *)buf;
	size_t cap = strlen(payload);
	memset(e, 0, sizeof(*e));
	e->hdr.kind = INSITU_EV_MSG;
	e->hdr.version = INSITU_EVENT_VERSION;
	e->hdr.size = (uint32_t)(sizeof(*e) + cap);
	e->t_enter_ns = t;
	e->t_exit_ns = t + 10;
	e->sock_id = self->sock;
	e->pid = e->tid = self->pid;
	e->netns = self->netns;
	e->bytes = bytes ? bytes : (uint32_t)cap;
	e->ret = (int32_t)e->bytes;
	e->seq = seq;
	e->cap_len = (uint16_t)cap;
	e->flags = INSITU_F_SEQ_VALID | (cap < e->bytes ? INSITU_F_TRUNCATED : 0);
	e->dir = (uint8_t)dir;
	e->t.laddr[0] = e->t.raddr[0] = 10;
	e->t.laddr[3] = self->ip;
	e->t.raddr[3] = peer->ip;
	e->t.lport = self->port;
	e->t.rport = peer->port;
	e->t.family = 2;
	e->t.proto = 6;
	snprintf(e->comm, sizeof(e->comm), "%s", self->comm);
	memcpy(buf + sizeof(*e), payload, cap);
	linker_sink_msg(ls, e, buf + sizeof(*e));
}

static void close_sock(const struct end *self, uint64_t t)
{
	struct insitu_conn_event c;
	memset(&c, 0, sizeof(c));
	c.hdr.kind = INSITU_EV_CONN;
	c.hdr.version = INSITU_EVENT_VERSION;
	c.hdr.size = sizeof(c);
	c.t_ns = t;
	c.sock_id = self->sock;
	c.type = INSITU_CONN_SOCK_CLOSE;
	linker_sink_conn(ls, &c);
}

static struct end CL = { 1, 10, 1, 40000, 101, "curl" }, SV = { 2, 20, 2, 80, 201, "nginx" };

#define R1 "GET /one HTTP/1.1\r\nHost: a\r\n\r\n"
#define R2 "GET /two HTTP/1.1\r\nHost: a\r\n\r\n"
#define OK "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

static unsigned count(const char *needle)
{
	unsigned n = 0;
	for (const char *p = out; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

static void test_coalesced_send_split_receive(void **st)
{
	(void)st;
	/* the client writes both requests at once; the server reads them in pieces
	 * that do not line up with the messages */
	ev(&CL, &SV, INSITU_DIR_SEND, 1000, R1 R2, 0, 100);
	ev(&SV, &CL, INSITU_DIR_RECV, 1000, "GET /one HTTP/1.1\r\nHo", 0, 110);
	ev(&SV, &CL, INSITU_DIR_RECV, 1021, "st: a\r\n\r\nGET /two HTTP/1.1\r\nHost: a\r\n\r\n", 0, 120);
	ev(&SV, &CL, INSITU_DIR_SEND, 5000, OK, 0, 200);
	ev(&SV, &CL, INSITU_DIR_SEND, 5040, OK, 0, 210);
	ev(&CL, &SV, INSITU_DIR_RECV, 5000, OK OK, 0, 220);
	finish();
	assert_int_equal(count("\"label\":\"GET /one\""), 1);
	assert_int_equal(count("\"label\":\"GET /two\""), 1);
	assert_int_equal(count("\"client\":{\"seen\":true"), 2); /* joined: both ends */
	assert_int_equal(count("\"server\":{\"seen\":true"), 2);
	assert_int_equal(count("\"status\":200"), 2);
	assert_int_equal(lk_stats(linker_sink_linker(ls))->joined, 2);
	assert_non_null(strstr(out, "\"join\":\"tcp/10.0.0.1:40000>10.0.0.2:80/1000\""));
	assert_non_null(strstr(out, "\"join\":\"tcp/10.0.0.1:40000>10.0.0.2:80/1030\""));
}

#define R3 "GET /six HTTP/1.1\r\nHost: a\r\n\r\n"

static void test_gap_resyncs_and_positions_stay_exact(void **st)
{
	(void)st;
	/* the server's read of R2 and its answer were lost (ring buffer full): R3
	 * must still join and be answered by the right response */
	ev(&CL, &SV, INSITU_DIR_SEND, 1000, R1 R2 R3, 0, 100);
	ev(&SV, &CL, INSITU_DIR_RECV, 1000, R1, 0, 110);
	ev(&SV, &CL, INSITU_DIR_RECV, 1060, R3, 0, 130);
	ev(&SV, &CL, INSITU_DIR_SEND, 5000, OK, 0, 200);
	ev(&SV, &CL, INSITU_DIR_SEND, 5080, OK, 0, 220);
	finish();
	assert_int_equal(linker_sink_stats(ls)->gaps, 2);
	assert_int_equal(linker_sink_stats(ls)->gap_bytes, 70);
	assert_int_equal(lk_stats(linker_sink_linker(ls))->joined, 2);
	const char *six = strstr(out, "\"label\":\"GET /six\"");
	assert_non_null(six);
	assert_non_null(strstr(six, "\"join\":\"tcp/10.0.0.1:40000>10.0.0.2:80/1060\""));
	assert_non_null(strstr(six, "\"server_ns\":80,")); /* 220 - (130 + 10) */
}

static void test_truncated_body_known_length(void **st)
{
	(void)st;
	/* a 3000-byte response of which 38 bytes were captured: the next response on
	 * the connection is still found at the right place */
	char big[128];
	snprintf(big, sizeof(big), "HTTP/1.1 200 OK\r\nContent-Length: 2962\r\n\r\n");
	size_t hl = strlen(big);
	ev(&CL, &SV, INSITU_DIR_SEND, 1000, R1, 0, 100);
	ev(&CL, &SV, INSITU_DIR_SEND, 1030, R2, 0, 101);
	ev(&CL, &SV, INSITU_DIR_RECV, 9000, big, (uint32_t)(hl + 2962), 200);
	ev(&CL, &SV, INSITU_DIR_RECV, (uint32_t)(9000 + hl + 2962), OK, 0, 210);
	finish();
	assert_int_equal(count("\"status\":200"), 2);
	char want[64];
	snprintf(want, sizeof(want), "\"resp_bytes\":%zu", hl + 2962);
	assert_non_null(strstr(out, want));
	assert_non_null(strstr(out, "truncated"));
}

static void test_close_then_socket_reuse(void **st)
{
	(void)st;
	ev(&CL, &SV, INSITU_DIR_SEND, 1000, R1, 0, 100);
	close_sock(&CL, 150); /* closed before any answer */
	/* a new connection from the same port; the socket id is new */
	struct end cl2 = CL;
	cl2.sock = 102;
	ev(&cl2, &SV, INSITU_DIR_SEND, 777, R2, 0, 300);
	ev(&cl2, &SV, INSITU_DIR_RECV, 4000, OK, 0, 400);
	finish();
	assert_non_null(strstr(out, "\"outcome\":\"closed\""));
	const char *two = strstr(out, "\"label\":\"GET /two\"");
	assert_non_null(two);
	assert_non_null(strstr(two, "\"status\":200"));
	assert_int_equal(linker_sink_stats(ls)->closes, 1);
}

static void test_response_delimited_by_close(void **st)
{
	(void)st;
	/* HTTP/1.0 without Content-Length: the close completes the response */
	ev(&CL, &SV, INSITU_DIR_SEND, 1000, "GET /old HTTP/1.0\r\n\r\n", 0, 100);
	ev(&CL, &SV, INSITU_DIR_RECV, 7000, "HTTP/1.0 200 OK\r\n\r\nbody", 0, 200);
	close_sock(&CL, 300);
	finish();
	const char *old = strstr(out, "\"label\":\"GET /old\"");
	assert_non_null(old);
	assert_non_null(strstr(old, "\"outcome\":\"ok\",\"status\":200"));
}

static void test_late_start_mid_message(void **st)
{
	(void)st;
	/* first bytes seen are the middle of a response: nothing is invented */
	ev(&CL, &SV, INSITU_DIR_RECV, 5000, "tent-Length: 2\r\n\r\nok", 0, 50);
	ev(&CL, &SV, INSITU_DIR_SEND, 1000, R1, 0, 100);
	ev(&CL, &SV, INSITU_DIR_RECV, 5020, OK, 0, 200);
	finish();
	assert_int_equal(count("\"hop\":"), 1);
	assert_non_null(strstr(out, "\"label\":\"GET /one\""));
	assert_non_null(strstr(out, "\"status\":200"));
}

static void test_port_without_semantics_ignored(void **st)
{
	(void)st;
	struct end a = { 1, 10, 1, 40001, 301, "x" }, b = { 2, 20, 2, 9999, 302, "y" };
	ev(&a, &b, INSITU_DIR_SEND, 1, "hello", 0, 1);
	finish();
	assert_int_equal(linker_sink_stats(ls)->no_protocol, 1);
	assert_int_equal(out[0], 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(x) cmocka_unit_test_setup_teardown(x, setup, teardown)
		T(test_coalesced_send_split_receive),
		T(test_gap_resyncs_and_positions_stay_exact),
		T(test_truncated_body_known_length),
		T(test_close_then_socket_reuse),
		T(test_response_delimited_by_close),
		T(test_late_start_mid_message),
		T(test_port_without_semantics_ignored),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	sem_free(sem);
	return rc;
}
