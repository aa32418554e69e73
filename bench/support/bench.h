/*
 * bench.h - helpers shared by the benchmark programs in bench/: a monotonic
 * clock, environment parsing (BENCH_SCALE, BENCH_THREADS), reading the
 * process's resident memory from /proc, per-worker counters that handlers bump
 * without contention, a one-shot "done" latch a handler uses to tell the main
 * thread a run has finished, and the JSON line writer of design.md section 6.
 *
 * Conventions: a benchmark prints only JSON lines to stdout; everything else
 * goes to stderr. Any failure (an mn_* error, a wrong count or sum, a timeout)
 * ends the program through bench_die() with exit status 1, so a broken run
 * never prints a number.
 */
#ifndef MNEMO_BENCH_H
#define MNEMO_BENCH_H

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "mnemo.h"

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */
/* ------------------------------------------------------------------------ */

/* Set the program name used in messages (call first in main). */
void bench_init(const char *name);

/* Print "bench NAME: <message>" to stderr and exit(1). Never returns. */
void bench_die(const char *fmt, ...)
    __attribute__((noreturn, format(printf, 1, 2)));

/* Die with "<what>: MN_E... (description)" when rc is not 0. */
void bench_check(int rc, const char *what);

/* Print "bench NAME: <message>" to stderr (progress, diagnostics). */
void bench_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ------------------------------------------------------------------------ */
/* Time and environment                                                     */
/* ------------------------------------------------------------------------ */

/* Seconds on CLOCK_MONOTONIC. */
double bench_now(void);

/* 1 when BENCH_SCALE=full, else 0. */
int bench_full(void);

/* Pick a size: full when BENCH_SCALE=full, else dflt. */
uint64_t bench_size(uint64_t dflt, uint64_t full);

/* Worker threads to run with: BENCH_THREADS if set (1..MN_WORKERS_MAX),
 * else the number of online cores. */
unsigned bench_threads(void);

/* Median of n values (sorts v in place); n > 0. */
double bench_median(double *v, size_t n);

/* ------------------------------------------------------------------------ */
/* Memory                                                                   */
/* ------------------------------------------------------------------------ */

/* Resident set size now, in bytes (/proc/self/statm). Dies on failure. */
uint64_t bench_rss_bytes(void);

/* Peak resident set size of the process so far (VmHWM), in bytes. */
uint64_t bench_peak_rss_bytes(void);

/* ------------------------------------------------------------------------ */
/* Runtime helpers                                                          */
/* ------------------------------------------------------------------------ */

/* Open a runtime with the given worker count; dies on error. */
mn_runtime *bench_runtime_open(unsigned workers);

/* Register a kind with the given callbacks; dies on error. */
mn_kind *bench_kind(mn_runtime *rt, const char *name,
		    int (*init)(mn_ctx *, void **),
		    int (*handle)(mn_ctx *, void *, const mn_msg *),
		    void (*free_state)(void *), void *arg);

/* Print the runtime's counters to stderr, prefixed by what. */
void bench_note_stats(mn_runtime *rt, const char *what);

/* Drain; dies on error. */
void bench_drain(mn_runtime *rt);

/* 8-byte little-endian key of v, and back. */
static inline void bench_key_put(unsigned char key[8], uint64_t v)
{
	for (int i = 0; i < 8; i++)
		key[i] = (unsigned char)(v >> (8 * i));
}

static inline uint64_t bench_key_get(const void *key)
{
	const unsigned char *k = key;
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)k[i] << (8 * i);
	return v;
}

/* The key of the actor running this callback as a uint64; dies if the key is
 * not 8 bytes long. */
uint64_t bench_self_key(const mn_ctx *ctx);

/* ------------------------------------------------------------------------ */
/* Per-worker counters                                                      */
/* ------------------------------------------------------------------------ */

/*
 * One counter per worker thread, each on its own cache line, so handlers on
 * different workers count without sharing a line. Only the worker that owns a
 * slot writes it (a callback runs on one worker and a worker runs one callback
 * at a time), so a relaxed load and store suffice; the main thread reads the
 * sum after mn_runtime_drain(), whose return orders it after every handler.
 */
struct bench_slot {
	alignas(64) _Atomic uint64_t v;
};

struct bench_counter {
	struct bench_slot slot[MN_WORKERS_MAX];
};

static inline void bench_count(struct bench_counter *c, const mn_ctx *ctx,
			       uint64_t n)
{
	_Atomic uint64_t *v = &c->slot[mn_ctx_worker(ctx)].v;
	atomic_store_explicit(v,
			      atomic_load_explicit(v, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

void bench_counter_reset(struct bench_counter *c);
uint64_t bench_counter_sum(struct bench_counter *c);

/* ------------------------------------------------------------------------ */
/* Done latch                                                               */
/* ------------------------------------------------------------------------ */

/* How long a benchmark waits for its actors to report before it calls the
 * run lost (a dropped message would otherwise hang it). Runs take seconds. */
#define BENCH_WAIT_S 300

/* A one-shot signal from a handler to the main thread, carrying a value. */
struct bench_done {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
	uint64_t value;
};

void bench_done_init(struct bench_done *d);
void bench_done_destroy(struct bench_done *d);
/* Reset for another run (no waiter may be present). */
void bench_done_reset(struct bench_done *d);
/* Signal: set the value and wake the waiter. Any thread. */
void bench_done_signal(struct bench_done *d, uint64_t value);
/* Wait up to timeout_s seconds; returns the value, dies on timeout. */
uint64_t bench_done_wait(struct bench_done *d, double timeout_s,
			 const char *what);

/* ------------------------------------------------------------------------ */
/* JSON lines (design.md section 6)                                         */
/* ------------------------------------------------------------------------ */

struct bench_json {
	char buf[1024];
	size_t len;
};

/* Start a line {"bench":..,"metric":..,"value":..,"unit":.. */
void bench_json_begin(struct bench_json *j, const char *bench,
		      const char *metric, double value, const char *unit);
void bench_json_u64(struct bench_json *j, const char *key, uint64_t v);
void bench_json_f64(struct bench_json *j, const char *key, double v);
void bench_json_str(struct bench_json *j, const char *key, const char *v);
/* Add "peer", "peer_value" and "ratio" (ratio > 1 means mnemo is better; the
 * caller computes it in the metric's direction). */
void bench_json_peer(struct bench_json *j, const char *peer, double peer_value,
		     double ratio);
/* Close the object, print it with a newline to stdout and flush. */
void bench_json_end(struct bench_json *j);

/* ------------------------------------------------------------------------ */
/* Store directories and hashing                                            */
/* ------------------------------------------------------------------------ */

/* mkdtemp(tmpl) for a store; the directory is also removed at exit, so a
 * run that dies (bench_die) leaves nothing in /tmp. Dies on failure. */
void bench_store_dir(char *tmpl);

/* rm -rf dir; dies on failure. Forgets it as the exit-time cleanup. */
void bench_rm_rf(const char *dir);

/* A 64-bit hash of n bytes chained from h (payload checks). */
uint64_t bench_hash(uint64_t h, const void *p, size_t n);

#endif /* MNEMO_BENCH_H */
