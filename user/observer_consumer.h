/* The hot path: drain the ring buffer into the pipeline.  The callback validates
 * and dispatches; anything slow belongs in a sink's flush(). */
#ifndef INSITU_OBSERVER_CONSUMER_H
#define INSITU_OBSERVER_CONSUMER_H

#include "observer_sink.h"

struct ring_buffer;

struct obs_consumer {
	struct ring_buffer *rb;
	struct obs_pipeline *p;
	int poll_ms;      /* longest wait: events submitted without wakeup show up by then */
	int throttle_ms;  /* testing: sleep after each batch to let the ring overflow */
	uint64_t polls;
};

int obs_consumer_init(struct obs_consumer *c, int ringbuf_fd, struct obs_pipeline *p, int poll_ms);
/* One wait-and-drain round; returns records consumed or a negative errno (-EINTR
 * when a signal arrived). */
int obs_consumer_poll(struct obs_consumer *c);
/* Consumes whatever is queued without waiting (at shutdown). */
int obs_consumer_drain(struct obs_consumer *c);
void obs_consumer_free(struct obs_consumer *c);

#endif
