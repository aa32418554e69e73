/*
 * hist.h - the latency and size histograms of mn_runtime_histogram: fixed
 * buckets (the bounds below, the last one +Inf), counted with relaxed
 * atomics by the thread that observes (a worker, the writer), read by any
 * thread (a snapshot a few observations apart, as mn_runtime_stats).
 */
#ifndef MN_CORE_HIST_H
#define MN_CORE_HIST_H

#include <stdatomic.h>
#include <stdint.h>

#include "include/mnemo.h"

typedef struct mn__hist {
	_Atomic uint64_t count, sum;
	_Atomic uint64_t bucket[MN_HISTOGRAM_BUCKETS];
} mn__hist;

/* Upper bounds: microseconds for latencies, records for sizes. */
static const uint64_t mn__hist_us_le[MN_HISTOGRAM_BUCKETS] = {
    25,	  50,	 100,	250,	500,	1000,	 2500,
    5000, 10000, 25000, 100000, 250000, 1000000, UINT64_MAX};
static const uint64_t mn__hist_n_le[MN_HISTOGRAM_BUCKETS] = {
    1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, UINT64_MAX};

static inline void mn__hist_add(mn__hist *h, const uint64_t *le, uint64_t v)
{
	unsigned i = 0;
	while (i < MN_HISTOGRAM_BUCKETS - 1 && v > le[i])
		i++;
	atomic_fetch_add_explicit(&h->bucket[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum, v, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
}

static inline void mn__hist_read(mn__hist *h, const uint64_t *le,
				 mn_histogram *out)
{
	out->count = atomic_load_explicit(&h->count, memory_order_relaxed);
	out->sum = atomic_load_explicit(&h->sum, memory_order_relaxed);
	for (unsigned i = 0; i < MN_HISTOGRAM_BUCKETS; i++) {
		out->le[i] = le[i];
		out->bucket[i] =
		    atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
	}
}

#endif /* MN_CORE_HIST_H */
