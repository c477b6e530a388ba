/* Ring-buffer consumer (hot path). */
#include "observer_consumer.h"

#include <bpf/libbpf.h>
#include <errno.h>
#include <string.h>
#include <time.h>

static int on_record(void *ctx, void *data, size_t size)
{
	obs_pipeline_feed(ctx, data, size);
	return 0;
}

int obs_consumer_init(struct obs_consumer *c, int ringbuf_fd, struct obs_pipeline *p, int poll_ms)
{
	memset(c, 0, sizeof(*c));
	c->p = p;
	c->poll_ms = poll_ms;
	c->rb = ring_buffer__new(ringbuf_fd, on_record, p, NULL);
	return c->rb ? 0 : -errno;
}

int obs_consumer_poll(struct obs_consumer *c)
{
	int n = ring_buffer__poll(c->rb, c->poll_ms);

	/* Records below the wake threshold raise no epoll event: after a quiet wait,
	 * take them anyway, or a trickle (or the last requests before a server hangs,
	 * the very evidence health needs) would wait for 64 KiB more. */
	if (n == 0)
		n = ring_buffer__consume(c->rb);
	c->polls++;
	if (n > 0 || c->polls % 8 == 0)
		obs_pipeline_flush(c->p);
	if (c->throttle_ms > 0) {
		struct timespec ts = {c->throttle_ms / 1000, (long)(c->throttle_ms % 1000) * 1000000};
		nanosleep(&ts, NULL);
	}
	return n;
}

int obs_consumer_drain(struct obs_consumer *c)
{
	int n = ring_buffer__consume(c->rb);
	obs_pipeline_flush(c->p);
	return n;
}

void obs_consumer_free(struct obs_consumer *c)
{
	ring_buffer__free(c->rb);
	c->rb = NULL;
}
