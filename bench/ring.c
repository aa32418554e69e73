/*
 * ring - hops per second of one token around a ring of 1,000 actors. Actor i
 * (8-byte key i, no state) passes the token to actor (i + 1) mod 1,000 with
 * mn_ctx_send; the 8-byte payload counts the hops still to go, and the actor
 * that receives 0 tells the main thread, through a mutex and condvar, who it
 * is. The actors are created and drained before the clock starts; the clock
 * runs from the main thread's send of the token to actor 0 until that report.
 * With one token in flight this measures the latency of one hop (send,
 * schedule, handle) rather than parallel throughput. H is 5M hops
 * (BENCH_SCALE=full: 10M); the run fails unless exactly H + 1 token messages
 * were handled and the token stopped at actor H mod 1,000. Prints
 * "hops_per_s" with n = H.
 */
#include "bench/support/bench.h"

#include <stdio.h>
#include <string.h>

#define ACTORS 1000

enum { MSG_WARM = 1, MSG_TOKEN = 2 };

static struct bench_counter handled; /* token messages */
static struct bench_done done;

static int ring_init(mn_ctx *ctx, void **state)
{
	(void)ctx;
	*state = NULL;
	return 0;
}

static int ring_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	uint64_t left;
	unsigned char key[8];

	(void)state;
	if (msg->type == MSG_WARM)
		return 0;
	if (msg->type != MSG_TOKEN || msg->len != sizeof(left))
		bench_die("unexpected message type %u", msg->type);
	bench_count(&handled, ctx, 1);
	memcpy(&left, msg->payload, sizeof(left));
	uint64_t self = bench_self_key(ctx);
	if (left == 0) {
		bench_done_signal(&done, self);
		return 0;
	}
	left--;
	bench_key_put(key, (self + 1) % ACTORS);
	return mn_ctx_send(ctx, mn_ctx_kind(ctx), key, sizeof(key), MSG_TOKEN,
			   &left, sizeof(left));
}

int main(void)
{
	bench_init("ring");
	uint64_t hops = bench_size(5000000, 10000000);
	unsigned workers = bench_threads();
	mn_runtime *rt = bench_runtime_open(workers);
	mn_kind *kind =
	    bench_kind(rt, "ring", ring_init, ring_handle, NULL, NULL);
	mn_runtime_stats st;
	unsigned char key[8];

	bench_done_init(&done);
	for (uint64_t i = 0; i < ACTORS; i++) {
		bench_key_put(key, i);
		bench_check(
		    mn_send(rt, kind, key, sizeof(key), MSG_WARM, NULL, 0),
		    "mn_send");
	}
	bench_drain(rt);
	bench_counter_reset(&handled);

	bench_key_put(key, 0);
	double t0 = bench_now();
	bench_check(
	    mn_send(rt, kind, key, sizeof(key), MSG_TOKEN, &hops, sizeof(hops)),
	    "mn_send");
	uint64_t last = bench_done_wait(&done, BENCH_WAIT_S, "ring");
	double t1 = bench_now();

	bench_drain(rt);
	uint64_t got = bench_counter_sum(&handled);
	if (got != hops + 1)
		bench_die("handled %llu token messages, expected %llu",
			  (unsigned long long)got,
			  (unsigned long long)(hops + 1));
	if (last != hops % ACTORS)
		bench_die("token stopped at actor %llu, expected %llu",
			  (unsigned long long)last,
			  (unsigned long long)(hops % ACTORS));
	bench_note_stats(rt, "runtime");
	mn_runtime_stats_get(rt, &st);
	if (st.handler_errors != 0)
		bench_die("%llu handler errors",
			  (unsigned long long)st.handler_errors);

	struct bench_json j;
	bench_json_begin(&j, "ring", "hops_per_s", (double)hops / (t1 - t0),
			 "hops/s");
	bench_json_u64(&j, "n", hops);
	bench_json_u64(&j, "threads", st.workers);
	bench_json_u64(&j, "actors", ACTORS);
	bench_json_end(&j);

	mn_runtime_close(rt);
	bench_done_destroy(&done);
	return 0;
}
