/*
 * idle_memory - bytes of memory per idle resident actor. After a warm-up
 * (1,000 actors of another kind, so worker threads have their malloc arenas
 * and the runtime its first tables), the program reads its resident set size
 * (/proc/self/statm), sends one empty message to each of N new actors (8-byte
 * binary keys, init() stores a NULL state, so state costs nothing), drains,
 * and reads RSS again. It prints the RSS delta divided by N
 * ("rss_bytes_per_actor", what a user pays, allocator slack included; the
 * message buffers of the run were freed but may still be resident), the same
 * after malloc_trim(0) returns free heap pages to the kernel
 * ("rss_trimmed_bytes_per_actor"), the runtime's own accounting
 * (actor_bytes + registry_bytes) / actors from mn_runtime_stats_get
 * ("accounted_bytes_per_actor"), and the resident actor count. N is 1M
 * (BENCH_SCALE=full: 10M). The run fails unless every message was handled
 * and the runtime reports exactly N + 1,000 actors.
 */
#include "bench/support/bench.h"

#include <malloc.h>
#include <stdio.h>

#define WARMUP 1000

static struct bench_counter handled;

static int idle_init(mn_ctx *ctx, void **state)
{
	(void)ctx;
	*state = NULL;
	return 0;
}

static int idle_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	(void)state;
	(void)msg;
	bench_count(&handled, ctx, 1);
	return 0;
}

static void line(const char *metric, double value, const char *unit, uint64_t n,
		 unsigned workers)
{
	struct bench_json j;

	bench_json_begin(&j, "idle_memory", metric, value, unit);
	bench_json_u64(&j, "n", n);
	bench_json_u64(&j, "threads", workers);
	bench_json_end(&j);
}

int main(void)
{
	bench_init("idle_memory");
	uint64_t n = bench_size(1000000, 10000000);
	unsigned workers = bench_threads();
	mn_runtime *rt = bench_runtime_open(workers);
	mn_kind *warm =
	    bench_kind(rt, "warmup", idle_init, idle_handle, NULL, NULL);
	mn_kind *kind =
	    bench_kind(rt, "idle", idle_init, idle_handle, NULL, NULL);
	mn_runtime_stats st;
	unsigned char key[8];

	bench_counter_reset(&handled);
	for (uint64_t i = 0; i < WARMUP; i++) {
		bench_key_put(key, i);
		bench_check(mn_send(rt, warm, key, sizeof(key), 0, NULL, 0),
			    "mn_send");
	}
	bench_drain(rt);
	malloc_trim(0);
	uint64_t rss0 = bench_rss_bytes();

	for (uint64_t i = 0; i < n; i++) {
		bench_key_put(key, i);
		bench_check(mn_send(rt, kind, key, sizeof(key), 0, NULL, 0),
			    "mn_send");
	}
	bench_drain(rt);
	uint64_t rss1 = bench_rss_bytes();
	malloc_trim(0);
	uint64_t rss2 = bench_rss_bytes();

	bench_note_stats(rt, "runtime");
	mn_runtime_stats_get(rt, &st);
	uint64_t got = bench_counter_sum(&handled);
	if (got != n + WARMUP)
		bench_die("handled %llu messages, sent %llu",
			  (unsigned long long)got,
			  (unsigned long long)(n + WARMUP));
	if (st.actors != n + WARMUP)
		bench_die("runtime reports %llu resident actors, expected %llu",
			  (unsigned long long)st.actors,
			  (unsigned long long)(n + WARMUP));
	if (st.handler_errors != 0)
		bench_die("%llu handler errors",
			  (unsigned long long)st.handler_errors);
	bench_note("rss %.1f MiB -> %.1f MiB (%.1f MiB after malloc_trim); "
		   "runtime accounts actor %.1f MiB, registry %.1f MiB",
		   rss0 / 1048576.0, rss1 / 1048576.0, rss2 / 1048576.0,
		   st.actor_bytes / 1048576.0, st.registry_bytes / 1048576.0);

	line("rss_bytes_per_actor", ((double)rss1 - (double)rss0) / (double)n,
	     "B/actor", n, st.workers);
	line("rss_trimmed_bytes_per_actor",
	     ((double)rss2 - (double)rss0) / (double)n, "B/actor", n,
	     st.workers);
	line("accounted_bytes_per_actor",
	     (double)(st.actor_bytes + st.registry_bytes) / (double)st.actors,
	     "B/actor", n, st.workers);
	line("resident_actors", (double)st.actors, "actors", n, st.workers);

	mn_runtime_close(rt);
	return 0;
}
