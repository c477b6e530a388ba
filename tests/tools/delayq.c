/* delayq: adds a fixed delay to packets with NFQUEUE, for kernels without netem.
 *
 *     iptables -I OUTPUT -p tcp --sport 8000 -j NFQUEUE --queue-num 7 --queue-bypass
 *     delayq --queue 7 --delay-ms 300
 *
 * Every packet the rule queues is held DELAY ms, then accepted, in arrival order (the
 * delay is the same for all, so a FIFO is enough and order is kept).  The queue is
 * bounded (--limit packets, like netem's limit): a packet arriving when it is full is
 * dropped and counted.  On SIGTERM/SIGINT the packets still held are accepted at once
 * and the queue is unbound, so stopping delayq never strands traffic; with
 * --queue-bypass on the rule, packets pass undelayed whenever delayq is not running.
 * Counters go to stderr at exit. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/netfilter.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libnetfilter_queue/libnetfilter_queue.h>

struct held {
	uint32_t id;
	uint64_t due_ns;
};

static struct {
	struct held *ring;
	uint32_t cap, head, len;
	uint64_t delay_ns;
	uint64_t queued, accepted, dropped_full, recv_errors, verdict_errors;
	struct nfq_q_handle *qh;
} dq;

static volatile sig_atomic_t stop;

static void on_signal(int sig) { (void)sig; stop = 1; }

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void verdict(uint32_t id, uint32_t v)
{
	if (nfq_set_verdict(dq.qh, id, v, 0, NULL) < 0)
		dq.verdict_errors++;
	else if (v == NF_ACCEPT)
		dq.accepted++;
}

static int on_packet(struct nfq_q_handle *qh, struct nfgenmsg *msg, struct nfq_data *nfa,
		     void *data)
{
	struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfa);
	uint32_t id;

	(void)qh; (void)msg; (void)data;
	if (!ph)
		return 0;
	id = ntohl(ph->packet_id);
	dq.queued++;
	if (dq.len == dq.cap) {
		dq.dropped_full++;
		verdict(id, NF_DROP);
		return 0;
	}
	if (dq.delay_ns == 0) {
		verdict(id, NF_ACCEPT);
		return 0;
	}
	dq.ring[(dq.head + dq.len) % dq.cap] = (struct held){id, now_ns() + dq.delay_ns};
	dq.len++;
	return 0;
}

/* Accepts every held packet that is due (all of them when flush). */
static void release(bool flush)
{
	uint64_t t = now_ns();

	while (dq.len && (flush || dq.ring[dq.head].due_ns <= t)) {
		verdict(dq.ring[dq.head].id, NF_ACCEPT);
		dq.head = (dq.head + 1) % dq.cap;
		dq.len--;
	}
}

static int next_timeout_ms(void)
{
	uint64_t t, due;

	if (!dq.len)
		return 200; /* wake now and then to notice signals */
	t = now_ns();
	due = dq.ring[dq.head].due_ns;
	if (due <= t)
		return 0;
	/* round up: waking early would only spin */
	return (int)((due - t + 999999) / 1000000);
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: delayq --queue NUM --delay-ms MS [--limit PACKETS]\n"
		"\n"
		"Holds every packet queued to NFQUEUE NUM for MS milliseconds, then accepts it\n"
		"(a netem-style delay for kernels without netem).  Packets are released in\n"
		"arrival order.  Pair it with an iptables rule in the namespace to slow down:\n"
		"  iptables -I OUTPUT -p tcp --sport 8000 -j NFQUEUE --queue-num NUM --queue-bypass\n"
		"\n"
		"  -q, --queue NUM      NFQUEUE number (0-65535)\n"
		"  -d, --delay-ms MS    delay per packet (0 accepts at once)\n"
		"  -l, --limit N        most packets held at a time; more are dropped (default 10000)\n"
		"  -h, --help           this text\n"
		"\n"
		"SIGTERM/SIGINT: held packets are accepted at once, counters are printed on\n"
		"stderr (queued, accepted, dropped_full, recv_errors, verdict_errors).\n"
		"Exit status: 0 ok, 1 runtime error, 2 usage error.\n");
}

static bool parse_u32(const char *s, uint32_t max, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > max || s[0] == '-')
		return false;
	*out = (uint32_t)v;
	return true;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"queue", required_argument, NULL, 'q'},
		{"delay-ms", required_argument, NULL, 'd'},
		{"limit", required_argument, NULL, 'l'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	uint32_t qnum = 0, delay_ms = 0, limit = 10000;
	bool have_q = false, have_d = false;
	struct nfq_handle *h;
	char buf[65536] __attribute__((aligned));
	int c, fd, rc = 0;

	while ((c = getopt_long(argc, argv, "q:d:l:h", opts, NULL)) != -1) {
		switch (c) {
		case 'q':
			if (!parse_u32(optarg, 65535, &qnum)) {
				fprintf(stderr, "delayq: --queue: expected 0-65535, got '%s'\n", optarg);
				return 2;
			}
			have_q = true;
			break;
		case 'd':
			if (!parse_u32(optarg, 600000, &delay_ms)) {
				fprintf(stderr, "delayq: --delay-ms: expected 0-600000, got '%s'\n", optarg);
				return 2;
			}
			have_d = true;
			break;
		case 'l':
			if (!parse_u32(optarg, 1000000, &limit) || limit == 0) {
				fprintf(stderr, "delayq: --limit: expected 1-1000000, got '%s'\n", optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!have_q || !have_d || optind != argc) {
		fprintf(stderr, "delayq: --queue and --delay-ms are required%s\n",
			optind != argc ? " (and no other arguments)" : "");
		usage(stderr);
		return 2;
	}
	dq.cap = limit;
	dq.delay_ns = (uint64_t)delay_ms * 1000000ull;
	dq.ring = calloc(dq.cap, sizeof(*dq.ring));
	if (!dq.ring) {
		fprintf(stderr, "delayq: out of memory\n");
		return 1;
	}

	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	h = nfq_open();
	if (!h) {
		fprintf(stderr, "delayq: nfq_open: %s\n", strerror(errno));
		return 1;
	}
	dq.qh = nfq_create_queue(h, (uint16_t)qnum, on_packet, NULL);
	if (!dq.qh) {
		fprintf(stderr, "delayq: cannot bind queue %u: %s (another program on it?)\n", qnum,
			strerror(errno));
		nfq_close(h);
		return 1;
	}
	/* Only the packet id is needed: copy no payload. */
	if (nfq_set_mode(dq.qh, NFQNL_COPY_META, 0) < 0 ||
	    nfq_set_queue_maxlen(dq.qh, limit) < 0) {
		fprintf(stderr, "delayq: configuring queue %u: %s\n", qnum, strerror(errno));
		rc = 1;
		goto out;
	}
	fd = nfq_fd(h);
	/* A bigger socket buffer keeps bursts from being lost as ENOBUFS. */
	int rcv = 4 << 20;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof(rcv));
	fprintf(stderr, "delayq: queue %u, delay %u ms, limit %u\n", qnum, delay_ms, limit);

	while (!stop) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int n = poll(&pfd, 1, next_timeout_ms());

		if (n < 0 && errno != EINTR) {
			fprintf(stderr, "delayq: poll: %s\n", strerror(errno));
			rc = 1;
			break;
		}
		if (n > 0 && (pfd.revents & POLLIN)) {
			/* drain what is there without blocking */
			for (;;) {
				ssize_t r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
				if (r > 0) {
					nfq_handle_packet(h, buf, (int)r);
					continue;
				}
				if (r < 0 && errno == ENOBUFS) {
					dq.recv_errors++; /* the kernel dropped queue messages */
					continue;
				}
				break;
			}
		}
		release(false);
	}
	release(true);
out:
	nfq_destroy_queue(dq.qh);
	nfq_close(h);
	fprintf(stderr,
		"delayq: queued %llu accepted %llu dropped_full %llu recv_errors %llu "
		"verdict_errors %llu\n",
		(unsigned long long)dq.queued, (unsigned long long)dq.accepted,
		(unsigned long long)dq.dropped_full, (unsigned long long)dq.recv_errors,
		(unsigned long long)dq.verdict_errors);
	free(dq.ring);
	return rc;
}
