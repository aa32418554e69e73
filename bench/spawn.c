/*
 * spawn - actors created per second. The main thread sends one empty message
 * to each of N distinct virtual-actor addresses (8-byte binary keys 0..N-1 of
 * one kind), which creates each actor on its first message; the clock runs
 * from the first send until mn_runtime_drain() returns, so it covers registry
 * insertion, actor record allocation, init() (state NULL), scheduling and
 * handling the one message. N is 1M (BENCH_SCALE=full: 10M). The handlers
 * count their messages per worker; the run fails unless exactly N messages
 * were handled, the runtime reports N resident actors, and no handler failed.
 * Prints "spawns_per_s" with "from":"outside". A second run creates the same
 * number of actors from inside actors: the main thread messages SPAWNERS
 * spawner actors, each of which sends one message to N/SPAWNERS new
 * addresses with mn_ctx_send (how agents create sub-agents); it prints
 * "spawns_per_s" with "from":"actors". The time mn_runtime_close() takes to
 * free them goes to stderr only.
 */
#include "bench/support/bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SPAWNERS 1000

static struct bench_counter handled;
static mn_kind *child_kind;
static uint64_t per_spawner;

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

/* A spawner's one message carries its index; it creates its children. */
static int spawner_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	uint64_t idx;
	unsigned char key[8];
	(void)state;
	memcpy(&idx, msg->payload, sizeof idx);
	for (uint64_t i = 0; i < per_spawner; i++) {
		bench_key_put(key, idx * per_spawner + i);
		int rc =
		    mn_ctx_send(ctx, child_kind, key, sizeof key, 0, NULL, 0);
		if (rc)
			return rc;
	}
	return 0;
}

/* The run must have handled n child messages and hold n + extra actors. */
static void check_run(mn_runtime *rt, uint64_t n, uint64_t extra)
{
	mn_runtime_stats st;
	uint64_t got = bench_counter_sum(&handled);
	bench_note_stats(rt, "runtime");
	mn_runtime_stats_get(rt, &st);
	if (got != n)
		bench_die("handled %llu messages, sent %llu",
			  (unsigned long long)got, (unsigned long long)n);
	if (st.actors != n + extra)
		bench_die("runtime reports %llu resident actors, expected %llu",
			  (unsigned long long)st.actors,
			  (unsigned long long)(n + extra));
	if (st.handler_errors != 0)
		bench_die("%llu handler errors",
			  (unsigned long long)st.handler_errors);
}

static void report(uint64_t n, double wall, unsigned workers, const char *from)
{
	struct bench_json j;
	bench_json_begin(&j, "spawn", "spawns_per_s", (double)n / wall,
			 "actors/s");
	bench_json_u64(&j, "n", n);
	bench_json_u64(&j, "threads", workers);
	bench_json_str(&j, "from", from);
	bench_json_end(&j);
}

/* One run: n actors created by the main thread or by spawner actors. */
static void run(uint64_t n, unsigned workers, int from_actors)
{
	mn_runtime *rt = bench_runtime_open(workers);
	mn_runtime_stats st;
	unsigned char key[8];
	double t0, wall;

	child_kind =
	    bench_kind(rt, "spawn", spawn_init, spawn_handle, NULL, NULL);
	bench_counter_reset(&handled);
	bench_note("creating %llu actors from %s with %u workers",
		   (unsigned long long)n, from_actors ? "actors" : "outside",
		   workers);
	if (from_actors) {
		mn_kind *spawner = bench_kind(rt, "spawner", spawn_init,
					      spawner_handle, NULL, NULL);
		per_spawner = n / SPAWNERS;
		t0 = bench_now();
		for (uint64_t i = 0; i < SPAWNERS; i++) {
			bench_key_put(key, i);
			bench_check(mn_send(rt, spawner, key, sizeof key, 0, &i,
					    sizeof i),
				    "mn_send");
		}
	} else {
		t0 = bench_now();
		for (uint64_t i = 0; i < n; i++) {
			bench_key_put(key, i);
			bench_check(mn_send(rt, child_kind, key, sizeof key, 0,
					    NULL, 0),
				    "mn_send");
		}
	}
	bench_drain(rt);
	wall = bench_now() - t0;
	check_run(rt, n, from_actors ? SPAWNERS : 0);
	mn_runtime_stats_get(rt, &st);
	report(n, wall, st.workers, from_actors ? "actors" : "outside");

	double c0 = bench_now();
	mn_runtime_close(rt);
	bench_note("close with %llu actors took %.3f s", (unsigned long long)n,
		   bench_now() - c0);
}

int main(void)
{
	bench_init("spawn");
	uint64_t n = bench_size(1000000, 10000000);
	unsigned workers = bench_threads();

	run(n, workers, 0);
	run(n / SPAWNERS * SPAWNERS, workers, 1);
	return 0;
}
