/* pingpong: N TCP connections on loopback, each sending SIZE bytes and waiting for
 * the SIZE-byte echo, for SEC seconds.  Prints the round trips per second.
 *
 *   pingpong [-c CONNS] [-s SIZE] [-t SEC] [-p PORT]
 *
 * Server and clients are threads of this process (read/write syscalls, as a
 * plain request/response service would use).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int size = 64, secs = 3;
static atomic_int stop_flag;
static atomic_long total;

static int full(int fd, char *buf, int n, int wr)
{
	int got = 0;
	while (got < n) {
		ssize_t r = wr ? write(fd, buf + got, n - got) : read(fd, buf + got, n - got);
		if (r <= 0)
			return -1;
		got += r;
	}
	return 0;
}

static void *echo(void *arg)
{
	int fd = (int)(long)arg;
	char buf[4096];
	while (full(fd, buf, size, 0) == 0 && full(fd, buf, size, 1) == 0)
		;
	close(fd);
	return NULL;
}

static void *client(void *arg)
{
	int fd = (int)(long)arg;
	char buf[4096];
	long n = 0;
	memset(buf, 'p', sizeof(buf));
	while (!atomic_load(&stop_flag)) {
		if (full(fd, buf, size, 1) || full(fd, buf, size, 0))
			break;
		n++;
	}
	atomic_fetch_add(&total, n);
	shutdown(fd, SHUT_RDWR);
	close(fd);
	return NULL;
}

int main(int argc, char **argv)
{
	int opt, conns = 4, port = 0, one = 1;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	pthread_t th[128];
	struct timespec t0, t1;

	while ((opt = getopt(argc, argv, "c:s:t:p:")) != -1) {
		switch (opt) {
		case 'c': conns = atoi(optarg); break;
		case 's': size = atoi(optarg); break;
		case 't': secs = atoi(optarg); break;
		case 'p': port = atoi(optarg); break;
		default: return 2;
		}
	}
	if (conns < 1 || conns > 64 || size < 1 || size > 4096)
		return 2;
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	a.sin_port = htons(port);
	if (bind(ls, (struct sockaddr *)&a, sizeof(a)) || listen(ls, 128) ||
	    getsockname(ls, (struct sockaddr *)&a, &al)) {
		perror("pingpong: listen");
		return 1;
	}
	int cfd[64];
	for (int i = 0; i < conns; i++) {
		cfd[i] = socket(AF_INET, SOCK_STREAM, 0);
		setsockopt(cfd[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(cfd[i], (struct sockaddr *)&a, sizeof(a))) {
			perror("pingpong: connect");
			return 1;
		}
		int s = accept(ls, NULL, NULL);
		setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		pthread_create(&th[conns + i], NULL, echo, (void *)(long)s);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < conns; i++)
		pthread_create(&th[i], NULL, client, (void *)(long)cfd[i]);
	sleep(secs);
	atomic_store(&stop_flag, 1);
	for (int i = 0; i < conns; i++)
		pthread_join(th[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double el = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	for (int i = 0; i < conns; i++)
		pthread_join(th[conns + i], NULL);
	printf("%.0f\n", atomic_load(&total) / el);
	return 0;
}
