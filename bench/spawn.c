/*
 * spawn - actors created per second. The main thread sends one empty message
 * to each of N distinct virtual-actor addresses (8-byte binary keys 0..N-1 of
 * one kind), which creates each actor on its first message; the clock runs
 * from the first send until mn_runtime_drain() returns, so it covers registry
 * insertion, actor record allocation, init() (state NULL), scheduling and
 * handling the one message. N is 1M (BENCH_SCALE=full: 10M). The handlers
 * count their messages per worker; the run fails unless exactly N messages
 * were handled, the runtime reports N resident actors, and no handler failed.
 * Prints "spawns_per_s"; the time mn_runtime_close() takes to free them goes
 * to stderr only.
 */
#include "bench/support/bench.h"

#include <stdio.h>
#include <stdlib.h>

static struct bench_counter handled;

static int spawn_init(mn_ctx *ctx, void **state)
{
	(void)ctx;
	*state = NULL;
	return 0;
}

static int spawn_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	(void)state;
	(void)msg;
	bench_count(&handled, ctx, 1);
	return 0;
}

int main(void)
{
	bench_init("spawn");
	uint64_t n = bench_size(1000000, 10000000);
	unsigned workers = bench_threads();
	mn_runtime *rt = bench_runtime_open(workers);
	mn_kind *kind =
	    bench_kind(rt, "spawn", spawn_init, spawn_handle, NULL, NULL);
	mn_runtime_stats st;
	unsigned char key[8];

	bench_counter_reset(&handled);
	bench_note("creating %llu actors with %u workers",
		   (unsigned long long)n, workers);
	double t0 = bench_now();
	for (uint64_t i = 0; i < n; i++) {
		bench_key_put(key, i);
		bench_check(mn_send(rt, kind, key, sizeof(key), 0, NULL, 0),
			    "mn_send");
	}
	bench_drain(rt);
	double t1 = bench_now();

	uint64_t got = bench_counter_sum(&handled);
	bench_note_stats(rt, "runtime");
	mn_runtime_stats_get(rt, &st);
	if (got != n)
		bench_die("handled %llu messages, sent %llu",
			  (unsigned long long)got, (unsigned long long)n);
	if (st.actors != n)
		bench_die("runtime reports %llu resident actors, expected %llu",
			  (unsigned long long)st.actors, (unsigned long long)n);
	if (st.handler_errors != 0)
		bench_die("%llu handler errors",
			  (unsigned long long)st.handler_errors);

	double wall = t1 - t0;
	struct bench_json j;
	bench_json_begin(&j, "spawn", "spawns_per_s", (double)n / wall,
			 "actors/s");
	bench_json_u64(&j, "n", n);
	bench_json_u64(&j, "threads", st.workers);
	bench_json_end(&j);

	double c0 = bench_now();
	mn_runtime_close(rt);
	bench_note("close with %llu actors took %.3f s", (unsigned long long)n,
		   bench_now() - c0);
	return 0;
}
