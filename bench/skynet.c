/*
 * skynet - the classic actor creation and messaging benchmark
 * (github.com/atemerev/skynet): a root actor creates 10 children, each
 * creates 10 more, 6 levels down, 1,111,111 actors in all. Every actor is a
 * virtual actor created by its parent's first message (mn_ctx_send with a
 * 16-byte {num, size} payload). The 1,000,000 leaves reply with their number
 * (mn_ctx_reply); every inner actor sums its 10 replies and sends the sum to
 * the parent it recorded from mn_ctx_sender() (a reply would go to the child
 * whose message it is handling). The root, started by mn_send from outside,
 * hands the total to the main thread through a mutex and condvar. Keys are 8
 * bytes, level << 56 | num: a number alone is not unique, since the first
 * child at every level has the same number as its parent. Inner actors keep a
 * 24-byte malloc'd state; leaves need none (init sees the level in its key).
 * The clock runs from the root's message until the root reports. The run is
 * repeated 3 times with a fresh runtime each; it fails unless every sum is
 * 499999500000, 2,222,221 messages were handled and the runtime reports
 * 1,111,111 actors. Prints the median "wall_s" (best in "best_s") and the
 * process's peak RSS (VmHWM) as "peak_rss_bytes".
 */
#include "bench/support/bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Tree shape and the checks it implies. MESSAGES: a start per actor and a
 * result per actor but the root. */
#define LEVELS	 6 /* levels below the root */
#define FANOUT	 10
#define LEAVES	 1000000ull	 /* FANOUT^LEVELS */
#define ACTORS	 1111111ull	 /* sum of FANOUT^i, i = 0..LEVELS */
#define SUM	 499999500000ull /* 0 + 1 + ... + (LEAVES - 1) */
#define MESSAGES (2 * ACTORS - 1)
#define RUNS	 3

enum { MSG_START = 1, MSG_RESULT = 2 };

struct start {
	uint64_t num;  /* first leaf number under this actor */
	uint64_t size; /* leaves under this actor */
};

struct node {
	uint64_t parent; /* parent's key; unused by the root */
	uint64_t sum;
	uint32_t pending; /* replies still expected */
	uint32_t root;	  /* started from outside */
};

static struct bench_counter handled;
static struct bench_done done;

static uint64_t key_of(unsigned level, uint64_t num)
{
	return (uint64_t)level << 56 | num;
}

static int sky_init(mn_ctx *ctx, void **state)
{
	unsigned level = (unsigned)(bench_self_key(ctx) >> 56);

	if (level == LEVELS) {
		*state = NULL;
		return 0;
	}
	struct node *n = calloc(1, sizeof(*n));
	if (n == NULL)
		return MN_ENOMEM;
	*state = n;
	return 0;
}

static void sky_free(void *state)
{
	free(state);
}

static int sky_start(mn_ctx *ctx, struct node *n, const mn_msg *msg)
{
	struct start s;
	mn_addr parent;
	unsigned char key[8];
	uint64_t self = bench_self_key(ctx);
	unsigned level = (unsigned)(self >> 56);

	if (msg->len != sizeof(s))
		bench_die("start message of %zu bytes", msg->len);
	memcpy(&s, msg->payload, sizeof(s));
	if (s.size == 1) {
		if (n != NULL || level != LEVELS)
			bench_die("leaf %llu at level %u",
				  (unsigned long long)s.num, level);
		return mn_ctx_reply(ctx, MSG_RESULT, &s.num, sizeof(s.num));
	}
	if (n == NULL)
		bench_die("inner actor without state at level %u", level);
	if (msg->flags & MN_MSG_EXTERNAL) {
		n->root = 1;
	} else {
		int rc = mn_ctx_sender(ctx, &parent);
		if (rc != 0)
			return rc;
		if (parent.key_len != 8)
			bench_die("parent key of %zu bytes", parent.key_len);
		n->parent = bench_key_get(parent.key);
	}
	n->sum = 0;
	n->pending = FANOUT;
	uint64_t step = s.size / FANOUT;
	for (unsigned i = 0; i < FANOUT; i++) {
		struct start c = {.num = s.num + i * step, .size = step};
		bench_key_put(key, key_of(level + 1, c.num));
		int rc = mn_ctx_send(ctx, mn_ctx_kind(ctx), key, sizeof(key),
				     MSG_START, &c, sizeof(c));
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int sky_result(mn_ctx *ctx, struct node *n, const mn_msg *msg)
{
	uint64_t v;
	unsigned char key[8];

	if (n == NULL || msg->len != sizeof(v) || n->pending == 0)
		bench_die("unexpected result message");
	memcpy(&v, msg->payload, sizeof(v));
	n->sum += v;
	if (--n->pending > 0)
		return 0;
	if (n->root) {
		bench_done_signal(&done, n->sum);
		return 0;
	}
	bench_key_put(key, n->parent);
	return mn_ctx_send(ctx, mn_ctx_kind(ctx), key, sizeof(key), MSG_RESULT,
			   &n->sum, sizeof(n->sum));
}

static int sky_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	bench_count(&handled, ctx, 1);
	switch (msg->type) {
	case MSG_START:
		return sky_start(ctx, state, msg);
	case MSG_RESULT:
		return sky_result(ctx, state, msg);
	default:
		bench_die("unknown message type %u", msg->type);
	}
}

/* One run on a fresh runtime; returns its wall time in seconds. */
static double run_once(unsigned workers, unsigned *workers_used)
{
	mn_runtime *rt = bench_runtime_open(workers);
	mn_kind *kind =
	    bench_kind(rt, "skynet", sky_init, sky_handle, sky_free, NULL);
	struct start s = {.num = 0, .size = LEAVES};
	unsigned char key[8];
	mn_runtime_stats st;

	bench_counter_reset(&handled);
	bench_done_reset(&done);
	bench_key_put(key, key_of(0, 0));

	double t0 = bench_now();
	bench_check(
	    mn_send(rt, kind, key, sizeof(key), MSG_START, &s, sizeof(s)),
	    "mn_send");
	uint64_t sum = bench_done_wait(&done, BENCH_WAIT_S, "skynet");
	double t1 = bench_now();

	bench_drain(rt);
	if (sum != SUM)
		bench_die("sum %llu, expected %llu", (unsigned long long)sum,
			  SUM);
	uint64_t got = bench_counter_sum(&handled);
	if (got != MESSAGES)
		bench_die("handled %llu messages, expected %llu",
			  (unsigned long long)got, MESSAGES);
	bench_note_stats(rt, "runtime");
	mn_runtime_stats_get(rt, &st);
	if (st.actors != ACTORS)
		bench_die("runtime reports %llu actors, expected %llu",
			  (unsigned long long)st.actors, ACTORS);
	if (st.handler_errors != 0)
		bench_die("%llu handler errors",
			  (unsigned long long)st.handler_errors);
	*workers_used = st.workers;
	mn_runtime_close(rt);
	return t1 - t0;
}

int main(void)
{
	bench_init("skynet");
	unsigned workers = bench_threads(), used = 0;
	double wall[RUNS], best;
	struct bench_json j;

	bench_done_init(&done);
	for (int r = 0; r < RUNS; r++) {
		wall[r] = run_once(workers, &used);
		bench_note("run %d: %.3f s", r + 1, wall[r]);
	}
	double med = bench_median(wall, RUNS);
	best = wall[0]; /* sorted by bench_median */

	bench_json_begin(&j, "skynet", "wall_s", med, "s");
	bench_json_u64(&j, "n", ACTORS);
	bench_json_u64(&j, "threads", used);
	bench_json_u64(&j, "runs", RUNS);
	bench_json_f64(&j, "best_s", best);
	bench_json_end(&j);

	bench_json_begin(&j, "skynet", "peak_rss_bytes",
			 (double)bench_peak_rss_bytes(), "B");
	bench_json_u64(&j, "n", ACTORS);
	bench_json_u64(&j, "threads", used);
	bench_json_end(&j);

	bench_done_destroy(&done);
	return 0;
}
