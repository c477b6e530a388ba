/* Clocks.  The kernel stamps events with CLOCK_MONOTONIC (bpf_ktime_get_ns), so user
 * space compares against the same clock; wall time is only for what humans read and
 * for reports that cross hosts. */
#ifndef INSITU_TIMEUTIL_H
#define INSITU_TIMEUTIL_H

#include <stdint.h>
#include <time.h>

static inline uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#endif
