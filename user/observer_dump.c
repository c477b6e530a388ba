/* JSON lines for humans and scripts.  Not on the hot path unless --dump is asked
 * for; formats straight into the stdio buffer, no allocation per event. */
#include "observer_dump.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <string.h>
#include <sys/socket.h>

static const char hexd[] = "0123456789abcdef";

size_t obs_json_escape(char *dst, size_t cap, const uint8_t *src, size_t n)
{
	size_t o = 0;

#define PUT(c)                                                                                    \
	do {                                                                                      \
		if (o + 1 < cap)                                                                  \
			dst[o] = (c);                                                             \
		o++;                                                                              \
	} while (0)
	for (size_t i = 0; i < n; i++) {
		uint8_t b = src[i];
		switch (b) {
		case '"': PUT('\\'); PUT('"'); continue;
		case '\\': PUT('\\'); PUT('\\'); continue;
		case '\n': PUT('\\'); PUT('n'); continue;
		case '\r': PUT('\\'); PUT('r'); continue;
		case '\t': PUT('\\'); PUT('t'); continue;
		}
		if (b >= 0x20 && b < 0x7f) {
			PUT((char)b);
		} else {
			PUT('\\'); PUT('u'); PUT('0'); PUT('0');
			PUT(hexd[b >> 4]); PUT(hexd[b & 15]);
		}
	}
#undef PUT
	if (cap)
		dst[o < cap ? o : cap - 1] = '\0';
	return o;
}

static void put_escaped(FILE *out, const uint8_t *src, size_t n)
{
	char buf[512];
	size_t i = 0;

	/* in chunks: at most 6 output characters per input byte */
	while (i < n) {
		size_t k = n - i < 80 ? n - i : 80;
		size_t len = obs_json_escape(buf, sizeof(buf), src + i, k);
		fwrite(buf, 1, len, out);
		i += k;
	}
}

static void put_hex(FILE *out, const uint8_t *src, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		fputc(hexd[src[i] >> 4], out);
		fputc(hexd[src[i] & 15], out);
	}
}

static void put_comm(FILE *out, const char comm[INSITU_COMM_LEN])
{
	put_escaped(out, (const uint8_t *)comm, strnlen(comm, INSITU_COMM_LEN));
}

static const char *proto_name(uint8_t p)
{
	return p == 6 ? "tcp" : p == 17 ? "udp" : "?";
}

static void put_tuple(FILE *out, const struct insitu_tuple *t)
{
	char l[INET6_ADDRSTRLEN] = "?", r[INET6_ADDRSTRLEN] = "?";
	int af = t->family == AF_INET6 ? AF_INET6 : AF_INET;

	inet_ntop(af, t->laddr, l, sizeof(l));
	inet_ntop(af, t->raddr, r, sizeof(r));
	fprintf(out, "\"family\":\"%s\",\"proto\":\"%s\",\"laddr\":\"%s\",\"lport\":%u,"
		     "\"raddr\":\"%s\",\"rport\":%u",
		t->family == AF_INET6 ? "inet6" : "inet", proto_name(t->proto), l, t->lport, r,
		t->rport);
}

static const char *const sys_names[INSITU_SYS_MAX] = {
	[INSITU_SYS_READ] = "read",         [INSITU_SYS_WRITE] = "write",
	[INSITU_SYS_READV] = "readv",       [INSITU_SYS_WRITEV] = "writev",
	[INSITU_SYS_RECVFROM] = "recvfrom", [INSITU_SYS_SENDTO] = "sendto",
	[INSITU_SYS_RECVMSG] = "recvmsg",   [INSITU_SYS_SENDMSG] = "sendmsg",
	[INSITU_SYS_RECVMMSG] = "recvmmsg", [INSITU_SYS_SENDMMSG] = "sendmmsg",
	[INSITU_SYS_CONNECT] = "connect",   [INSITU_SYS_ACCEPT] = "accept",
	[INSITU_SYS_CLOSE] = "close",
};

static const char *const flag_names[] = {"truncated", "seq_valid", "error", "eof", "peek",
					 "iov_cut", "mmsg_cut", "peer_addr", "copy_fail", "ids_only"};

void obs_dump_msg(FILE *out, const struct insitu_msg_event *ev, const uint8_t *ids,
		  const uint8_t *payload)
{
	const char *sys = ev->syscall < INSITU_SYS_MAX && sys_names[ev->syscall]
				  ? sys_names[ev->syscall] : "?";
	int first = 1;

	fprintf(out,
		"{\"type\":\"msg\",\"t_enter\":%" PRIu64 ",\"t_exit\":%" PRIu64 ",\"pid\":%u,"
		"\"tid\":%u,\"comm\":\"",
		(uint64_t)ev->t_enter_ns, (uint64_t)ev->t_exit_ns, ev->pid, ev->tid);
	put_comm(out, ev->comm);
	fprintf(out, "\",\"cgroup\":%" PRIu64 ",\"netns\":%u,\"sock\":%" PRIu64 ",",
		(uint64_t)ev->cgroup_id, ev->netns, (uint64_t)ev->sock_id);
	put_tuple(out, &ev->t);
	fprintf(out, ",\"dir\":\"%s\",\"syscall\":\"%s\",\"ret\":%d,\"bytes\":%u",
		ev->dir == INSITU_DIR_SEND ? "send" : "recv", sys, ev->ret, ev->bytes);
	if (ev->flags & INSITU_F_SEQ_VALID)
		fprintf(out, ",\"seq\":%u", ev->seq);
	if (ev->syscall == INSITU_SYS_SENDMMSG || ev->syscall == INSITU_SYS_RECVMMSG)
		fprintf(out, ",\"msg_index\":%u,\"msg_count\":%u", ev->msg_index, ev->msg_count);
	fputs(",\"flags\":[", out);
	for (unsigned i = 0; i < sizeof(flag_names) / sizeof(flag_names[0]); i++)
		if (ev->flags & (1u << i)) {
			fprintf(out, "%s\"%s\"", first ? "" : ",", flag_names[i]);
			first = 0;
		}
	fprintf(out, "],\"cap_len\":%u", ev->cap_len);
	if (ev->ids_len) {
		fputs(",\"ids\":\"", out);
		put_hex(out, ids, ev->ids_len);
		fputc('"', out);
	}
	fputs(",\"payload\":\"", out);
	put_escaped(out, payload, ev->cap_len);
	fputs("\"}\n", out);
}

static const char *const conn_names[] = {
	[INSITU_CONN_CONNECT] = "connect",
	[INSITU_CONN_ESTABLISHED] = "established",
	[INSITU_CONN_ACCEPT] = "accept",
	[INSITU_CONN_CONNECT_FAILED] = "connect_failed",
	[INSITU_CONN_CLOSE] = "close",
	[INSITU_CONN_RESET_SENT] = "reset_sent",
	[INSITU_CONN_RESET_RECV] = "reset_recv",
	[INSITU_CONN_RETRANSMIT] = "retransmit",
	[INSITU_CONN_SOCK_CLOSE] = "sock_close",
};

void obs_dump_conn(FILE *out, const struct insitu_conn_event *ev)
{
	const char *type = ev->type < sizeof(conn_names) / sizeof(conn_names[0]) &&
					   conn_names[ev->type]
				   ? conn_names[ev->type] : "?";

	fprintf(out,
		"{\"type\":\"conn\",\"event\":\"%s\",\"t\":%" PRIu64 ",\"pid\":%u,\"tid\":%u,"
		"\"comm\":\"",
		type, (uint64_t)ev->t_ns, ev->pid, ev->tid);
	put_comm(out, ev->comm);
	fprintf(out, "\",\"cgroup\":%" PRIu64 ",\"netns\":%u,\"sock\":%" PRIu64 ",",
		(uint64_t)ev->cgroup_id, ev->netns, (uint64_t)ev->sock_id);
	put_tuple(out, &ev->t);
	fprintf(out,
		",\"err\":%d,\"old_state\":%u,\"new_state\":%u,\"srtt_us\":%u,"
		"\"total_retrans\":%u,\"bytes_acked\":%" PRIu64 ",\"bytes_received\":%" PRIu64
		"}\n",
		ev->err, ev->old_state, ev->new_state, ev->srtt_us, ev->total_retrans,
		(uint64_t)ev->bytes_acked, (uint64_t)ev->bytes_received);
}

static void dump_on_msg(void *ctx, const struct insitu_msg_event *ev, const uint8_t *ids,
			const uint8_t *payload)
{
	struct obs_dump *d = ctx;
	obs_dump_msg(d->out, ev, ids, payload);
}

static void dump_on_conn(void *ctx, const struct insitu_conn_event *ev)
{
	struct obs_dump *d = ctx;
	obs_dump_conn(d->out, ev);
}

static void dump_flush(void *ctx)
{
	struct obs_dump *d = ctx;
	if (fflush(d->out))
		d->write_errors++;
}

void obs_dump_init(struct obs_dump *d, FILE *out, struct obs_sink *sink)
{
	memset(d, 0, sizeof(*d));
	d->out = out;
	memset(sink, 0, sizeof(*sink));
	sink->name = "dump";
	sink->ctx = d;
	sink->on_msg = dump_on_msg;
	sink->on_conn = dump_on_conn;
	sink->flush = dump_flush;
}
