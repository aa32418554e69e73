/*
 * clock.h - the one clock helper: monotonic time for intervals and
 * deadlines, wall time for what is stored (timer due times, snapshot and
 * export stamps). Both read clock_gettime, which cannot fail for these
 * clocks on Linux; any thread.
 */
#ifndef MN_BASE_CLOCK_H
#define MN_BASE_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t mn__clock_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Monotonic: nanoseconds, microseconds, milliseconds since an arbitrary
 * point (boot); only differences mean anything. */
static inline uint64_t mn__mono_ns(void)
{
	return mn__clock_ns(CLOCK_MONOTONIC);
}

static inline uint64_t mn__mono_us(void)
{
	return mn__mono_ns() / 1000u;
}

static inline uint64_t mn__mono_ms(void)
{
	return mn__mono_ns() / 1000000u;
}

/* Wall clock: milliseconds since the Unix epoch. */
static inline uint64_t mn__unix_ms(void)
{
	return mn__clock_ns(CLOCK_REALTIME) / 1000000u;
}

/* The CLOCK_REALTIME instant us microseconds from now, for
 * pthread_cond_timedwait (whose default clock is the wall clock). */
static inline struct timespec mn__deadline_us(uint64_t us)
{
	uint64_t t = mn__clock_ns(CLOCK_REALTIME) + us * 1000u;
	struct timespec ts = {(time_t)(t / 1000000000u),
			      (long)(t % 1000000000u)};
	return ts;
}

#endif
