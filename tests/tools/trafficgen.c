/* trafficgen: drives one socket syscall family at a time, so the observer's tests
 * can check each of them with known payloads.
 *
 *   trafficgen [-6] [-u] [-n COUNT] [-k CONNS] -s ADDR PORT   echo server
 *   trafficgen [-6] [-u] [-n COUNT] ADDR PORT MODE        client
 *
 * The server answers every message M with "ack:" M (TCP: read/write; UDP:
 * recvfrom/sendto) and exits after COUNT messages (TCP: after CONNS connections,
 * one at a time, each until the peer closes).
 * Client MODEs: rw (write/read), sendrecv (send/recv), sendto (sendto/recvfrom),
 * vec (writev 3 iovecs / readv 2 iovecs), msg (sendmsg 3 iovecs / recvmsg),
 * mmsg (UDP only: sendmmsg COUNT datagrams / recvmmsg).  Message i is
 * "<mode>-<i>-payload"; the client checks every answer and exits 0 when all
 * came back.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

static int v6, udp, count = 3, conns = 1;

static void die(const char *what)
{
	fprintf(stderr, "trafficgen: %s: %s\n", what, strerror(errno));
	exit(1);
}

static socklen_t mkaddr(struct sockaddr_storage *ss, const char *addr, int port)
{
	memset(ss, 0, sizeof(*ss));
	if (v6) {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;
		s->sin6_family = AF_INET6;
		s->sin6_port = htons(port);
		if (inet_pton(AF_INET6, addr, &s->sin6_addr) != 1)
			die("bad IPv6 address");
		return sizeof(*s);
	}
	struct sockaddr_in *s = (struct sockaddr_in *)ss;
	s->sin_family = AF_INET;
	s->sin_port = htons(port);
	if (inet_pton(AF_INET, addr, &s->sin_addr) != 1)
		die("bad IPv4 address");
	return sizeof(*s);
}

static int server(const char *addr, int port)
{
	struct sockaddr_storage ss, peer;
	socklen_t len = mkaddr(&ss, addr, port), plen;
	int one = 1, s = socket(v6 ? AF_INET6 : AF_INET, udp ? SOCK_DGRAM : SOCK_STREAM, 0);
	char buf[2048], out[2100];
	ssize_t n;

	if (s < 0)
		die("socket");
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(s, (struct sockaddr *)&ss, len))
		die("bind");
	if (udp) {
		for (int i = 0; i < count; i++) {
			plen = sizeof(peer);
			n = recvfrom(s, buf, sizeof(buf), 0, (struct sockaddr *)&peer, &plen);
			if (n < 0)
				die("recvfrom");
			memcpy(out, "ack:", 4);
			memcpy(out + 4, buf, n);
			if (sendto(s, out, n + 4, 0, (struct sockaddr *)&peer, plen) < 0)
				die("sendto");
		}
		return 0;
	}
	if (listen(s, 16))
		die("listen");
	printf("listening\n");
	fflush(stdout);
	for (int k = 0; k < conns; k++) { /* one connection at a time */
		int c = accept(s, NULL, NULL);
		if (c < 0)
			die("accept");
		while ((n = read(c, buf, sizeof(buf))) > 0) {
			memcpy(out, "ack:", 4);
			memcpy(out + 4, buf, n);
			if (write(c, out, n + 4) != n + 4)
				die("write");
		}
		close(c);
	}
	return 0;
}

/* Reads exactly want bytes (TCP) or one datagram with the given receive call. */
static ssize_t recv_with(int s, const char *mode, char *buf, size_t want)
{
	size_t got = 0;

	do {
		ssize_t n;
		if (!strcmp(mode, "rw")) {
			n = read(s, buf + got, want - got);
		} else if (!strcmp(mode, "sendrecv")) {
			n = recv(s, buf + got, want - got, 0);
		} else if (!strcmp(mode, "sendto")) {
			struct sockaddr_storage p;
			socklen_t pl = sizeof(p);
			n = recvfrom(s, buf + got, want - got, 0, (struct sockaddr *)&p, &pl);
		} else if (!strcmp(mode, "vec")) {
			size_t half = (want - got) / 2;
			struct iovec iov[2] = {{buf + got, half}, {buf + got + half, want - got - half}};
			n = readv(s, iov, 2);
		} else { /* msg */
			struct sockaddr_storage p;
			size_t half = (want - got) / 2;
			struct iovec iov[2] = {{buf + got, half}, {buf + got + half, want - got - half}};
			struct msghdr mh = {.msg_name = &p, .msg_namelen = sizeof(p), .msg_iov = iov,
					    .msg_iovlen = 2};
			n = recvmsg(s, &mh, 0);
		}
		if (n <= 0)
			die("receive");
		got += n;
	} while (!udp && got < want);
	return got;
}

static int client(const char *addr, int port, const char *mode)
{
	struct sockaddr_storage ss;
	socklen_t len = mkaddr(&ss, addr, port);
	int s = socket(v6 ? AF_INET6 : AF_INET, udp ? SOCK_DGRAM : SOCK_STREAM, 0);
	char msg[128], want[160], buf[256];

	if (s < 0)
		die("socket");
	/* UDP sendto/sendmsg/mmsg stay unconnected so the peer comes from the address */
	int connected = !udp || !strcmp(mode, "rw") || !strcmp(mode, "sendrecv") || !strcmp(mode, "vec");
	if (connected && connect(s, (struct sockaddr *)&ss, len))
		die("connect");

	if (!strcmp(mode, "mmsg")) {
		struct mmsghdr mm[64];
		struct iovec iov[64];
		char bufs[64][64];
		struct sockaddr_storage peers[64];
		int n = count > 64 ? 64 : count, got = 0;

		for (int i = 0; i < n; i++) {
			int l = snprintf(bufs[i], sizeof(bufs[i]), "mmsg-%d-payload", i);
			iov[i] = (struct iovec){bufs[i], l};
			mm[i] = (struct mmsghdr){.msg_hdr = {.msg_name = &ss, .msg_namelen = len,
							     .msg_iov = &iov[i], .msg_iovlen = 1}};
		}
		if (sendmmsg(s, mm, n, 0) != n)
			die("sendmmsg");
		while (got < n) {
			for (int i = 0; i < n; i++) {
				iov[i] = (struct iovec){bufs[i], sizeof(bufs[i])};
				mm[i].msg_hdr.msg_name = &peers[i];
				mm[i].msg_hdr.msg_namelen = sizeof(peers[i]);
			}
			int r = recvmmsg(s, mm, n - got, MSG_WAITFORONE, NULL);
			if (r <= 0)
				die("recvmmsg");
			got += r;
		}
		return 0;
	}

	for (int i = 0; i < count; i++) {
		int l = snprintf(msg, sizeof(msg), "%s-%d-payload", mode, i);
		int wl = snprintf(want, sizeof(want), "ack:%s", msg);
		ssize_t n;

		if (!strcmp(mode, "rw")) {
			n = write(s, msg, l);
		} else if (!strcmp(mode, "sendrecv")) {
			n = send(s, msg, l, 0);
		} else if (!strcmp(mode, "sendto")) {
			n = sendto(s, msg, l, 0, (struct sockaddr *)&ss, len);
		} else if (!strcmp(mode, "vec") || !strcmp(mode, "msg")) {
			/* three iovecs: "<mode>-", "<i>-", "payload" */
			int a = strlen(mode) + 1, b = strchr(msg + a, '-') - (msg + a) + 1;
			struct iovec iov[3] = {{msg, a}, {msg + a, b}, {msg + a + b, l - a - b}};
			if (!strcmp(mode, "vec")) {
				n = writev(s, iov, 3);
			} else {
				struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 3};
				if (udp) {
					mh.msg_name = &ss;
					mh.msg_namelen = len;
				}
				n = sendmsg(s, &mh, 0);
			}
		} else {
			fprintf(stderr, "trafficgen: unknown mode %s\n", mode);
			return 2;
		}
		if (n != l)
			die("send");
		n = recv_with(s, mode, buf, wl);
		if (n != wl || memcmp(buf, want, wl)) {
			fprintf(stderr, "trafficgen: bad answer to %s\n", msg);
			return 1;
		}
	}
	close(s);
	return 0;
}

int main(int argc, char **argv)
{
	int opt, srv = 0;

	while ((opt = getopt(argc, argv, "6un:sk:")) != -1) {
		switch (opt) {
		case '6': v6 = 1; break;
		case 'u': udp = 1; break;
		case 'n': count = atoi(optarg); break;
		case 's': srv = 1; break;
		case 'k': conns = atoi(optarg); break;
		default: return 2;
		}
	}
	if (srv && argc - optind == 2)
		return server(argv[optind], atoi(argv[optind + 1]));
	if (!srv && argc - optind == 3)
		return client(argv[optind], atoi(argv[optind + 1]), argv[optind + 2]);
	fprintf(stderr, "usage: trafficgen [-6] [-u] [-n COUNT] -s ADDR PORT\n"
			"       trafficgen [-6] [-u] [-n COUNT] ADDR PORT rw|sendrecv|sendto|vec|msg|mmsg\n");
	return 2;
}
