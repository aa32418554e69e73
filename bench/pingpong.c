/*
 * pingpong - messages per second between pairs of actors bouncing a counter.
 * For P = 1, 100 and 10,000 pairs, actor A_i (key i) sends PING to B_i (key
 * 2^63 | i), B_i answers PONG with mn_ctx_reply, A_i answers that with the
 * next PING (mn_ctx_reply again), R rounds per pair; the 8-byte payload is a
 * counter incremented at every hop, which A_i checks, so a lost, duplicated
 * or reordered message fails the run. All 2P actors are created and drained
 * before the clock starts; the clock runs from the first START (sent by the
 * main thread) until the last pair reports to the main thread through a
 * mutex and condvar. R is sized per configuration from a short calibration
 * run so the measured run takes about 1.5 s (BENCH_SCALE=full: 5 s), so n,
 * the message count (2 * R * P, STARTs excluded), differs by machine and is
 * reported on each line. The run also fails unless exactly 2 * R * P PINGs
 * and PONGs were handled. One "msgs_per_s" line per pair count.
 */
#include "bench/support/bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROLE_B (1ull << 63)

enum { MSG_WARM = 1, MSG_START = 2, MSG_PING = 3, MSG_PONG = 4 };

struct player {
	uint64_t rounds; /* A: rounds still to play */
	uint64_t expect; /* A: counter value the next PONG must carry */
};

static struct bench_counter handled; /* PINGs and PONGs */
static struct bench_done done;
static _Atomic uint64_t pairs_left;

static int pp_init(mn_ctx *ctx, void **state)
{
	(void)ctx;
	struct player *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return MN_ENOMEM;
	*state = p;
	return 0;
}

static void pp_free(void *state)
{
	free(state);
}

static uint64_t payload_u64(const mn_msg *msg)
{
	uint64_t v;

	if (msg->len != sizeof(v))
		bench_die("message of %zu bytes, expected 8", msg->len);
	memcpy(&v, msg->payload, sizeof(v));
	return v;
}

static int pp_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	struct player *p = state;
	unsigned char key[8];
	uint64_t c;

	switch (msg->type) {
	case MSG_WARM:
		return 0;
	case MSG_START:
		p->rounds = payload_u64(msg);
		p->expect = 1;
		c = 0;
		bench_key_put(key, bench_self_key(ctx) | ROLE_B);
		return mn_ctx_send(ctx, mn_ctx_kind(ctx), key, sizeof(key),
				   MSG_PING, &c, sizeof(c));
	case MSG_PING:
		bench_count(&handled, ctx, 1);
		c = payload_u64(msg) + 1;
		return mn_ctx_reply(ctx, MSG_PONG, &c, sizeof(c));
	case MSG_PONG:
		bench_count(&handled, ctx, 1);
		c = payload_u64(msg);
		if (c != p->expect || p->rounds == 0)
			bench_die("pong carries %llu, expected %llu",
				  (unsigned long long)c,
				  (unsigned long long)p->expect);
		p->expect += 2;
		if (--p->rounds > 0) {
			c++;
			return mn_ctx_reply(ctx, MSG_PING, &c, sizeof(c));
		}
		/* acq_rel: the last pair's decrement sees every other pair's
		 * finish before it signals the main thread. */
		if (atomic_fetch_sub_explicit(&pairs_left, 1,
					      memory_order_acq_rel) == 1)
			bench_done_signal(&done, 0);
		return 0;
	default:
		bench_die("unknown message type %u", msg->type);
	}
}

/* One timed run of `rounds` rounds on every pair; returns seconds. */
static double run(mn_runtime *rt, mn_kind *kind, uint64_t pairs,
		  uint64_t rounds)
{
	unsigned char key[8];

	bench_counter_reset(&handled);
	bench_done_reset(&done);
	atomic_store_explicit(&pairs_left, pairs, memory_order_relaxed);
	double t0 = bench_now();
	for (uint64_t i = 0; i < pairs; i++) {
		bench_key_put(key, i);
		bench_check(mn_send(rt, kind, key, sizeof(key), MSG_START,
				    &rounds, sizeof(rounds)),
			    "mn_send");
	}
	bench_done_wait(&done, BENCH_WAIT_S, "pingpong");
	double t1 = bench_now();
	bench_drain(rt);
	uint64_t got = bench_counter_sum(&handled);
	if (got != 2 * rounds * pairs)
		bench_die("%llu pairs x %llu rounds: handled %llu messages, "
			  "expected %llu",
			  (unsigned long long)pairs, (unsigned long long)rounds,
			  (unsigned long long)got,
			  (unsigned long long)(2 * rounds * pairs));
	return t1 - t0;
}

static void config(unsigned workers, uint64_t pairs, double target_s)
{
	mn_runtime *rt = bench_runtime_open(workers);
	mn_kind *kind =
	    bench_kind(rt, "pingpong", pp_init, pp_handle, pp_free, NULL);
	mn_runtime_stats st;
	unsigned char key[8];

	for (uint64_t i = 0; i < pairs; i++) {
		bench_key_put(key, i);
		bench_check(
		    mn_send(rt, kind, key, sizeof(key), MSG_WARM, NULL, 0),
		    "mn_send");
		bench_key_put(key, i | ROLE_B);
		bench_check(
		    mn_send(rt, kind, key, sizeof(key), MSG_WARM, NULL, 0),
		    "mn_send");
	}
	bench_drain(rt);

	/* Calibrate on about 200,000 messages, then size the real run. */
	uint64_t rounds = 100000 / pairs;
	if (rounds < 1)
		rounds = 1;
	double cal = run(rt, kind, pairs, rounds);
	double rate = (double)(2 * rounds * pairs) / cal;
	uint64_t want = (uint64_t)(rate * target_s / (double)(2 * pairs));
	if (want > rounds)
		rounds = want;
	double wall = run(rt, kind, pairs, rounds);
	uint64_t n = 2 * rounds * pairs;

	bench_note_stats(rt, "runtime");
	mn_runtime_stats_get(rt, &st);
	if (st.handler_errors != 0)
		bench_die("%llu handler errors",
			  (unsigned long long)st.handler_errors);
	if (st.actors != 2 * pairs)
		bench_die("runtime reports %llu actors, expected %llu",
			  (unsigned long long)st.actors,
			  (unsigned long long)(2 * pairs));
	bench_note("%llu pairs: %llu rounds in %.3f s",
		   (unsigned long long)pairs, (unsigned long long)rounds, wall);

	struct bench_json j;
	bench_json_begin(&j, "pingpong", "msgs_per_s", (double)n / wall,
			 "msg/s");
	bench_json_u64(&j, "n", n);
	bench_json_u64(&j, "threads", st.workers);
	bench_json_u64(&j, "pairs", pairs);
	bench_json_end(&j);
	mn_runtime_close(rt);
}

int main(void)
{
	static const uint64_t pairs[] = {1, 100, 10000};

	bench_init("pingpong");
	unsigned workers = bench_threads();
	double target_s = bench_full() ? 5.0 : 1.5;

	bench_done_init(&done);
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++)
		config(workers, pairs[i], target_s);
	bench_done_destroy(&done);
	return 0;
}
