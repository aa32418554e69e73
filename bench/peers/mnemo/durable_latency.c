/*
 * durable_latency - mnemo's commit latency at a given offered load, so that
 * it can be set beside the peers' at the same load (bench/durable.c measures
 * it at a quarter of mnemo's own throughput, which differs from the peers').
 *
 *   durable_latency SIZE LOAD POOL TARGETS [DIR]
 *
 * A runtime (BENCH_THREADS workers) on a fresh store in DIR (created; it
 * must not exist), or in a new directory in /tmp, in sync mode,
 * with 100,000 actors of one persistent kind, each created by a warm-up
 * message as in bench/durable.c. Then max(1,000, LOAD) durable sends
 * (mn_send_durable_async) paced at LOAD per second, about a second: message
 * i goes to actor TARGETS[(400,000 + i) mod |TARGETS|] with payload
 * (400,000 + i) mod 16,384 of POOL, the same messages the peers send in
 * their latency phase after their 400,000-message throughput phase (files
 * written by bench/peers/mnemo/stream.c). The latency of each runs from the
 * call until its completion callback (the message is stored: it will be
 * processed even across a crash). Prints "commit_p50_ms" and
 * "commit_p99_ms" with "payload":SIZE and "load":LOAD. The run fails unless
 * every send completed with 0 and every message was handled and journaled.
 */
#include "bench/support/bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NACTORS 100000
#define POOL	16384
#define BASE	400000 /* messages the peers sent before their latency phase */

static struct bench_counter handled;
static double *t_sent, *lat;
static _Atomic uint64_t completed;

static int d_init(mn_ctx *ctx, void **state)
{
	(void)ctx;
	*state = NULL;
	return 0;
}

static int d_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	(void)state;
	(void)msg;
	if (!mn_ctx_replaying(ctx))
		bench_count(&handled, ctx, 1);
	return 0;
}

static void lat_done(void *arg, int rc)
{
	uint64_t i = (uint64_t)(uintptr_t)arg;

	if (rc)
		bench_die("durable send failed: %s", mn_strerror(rc));
	lat[i] = bench_now() - t_sent[i];
	atomic_fetch_add(&completed, 1);
}

static unsigned char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf;
	long n;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0)
		bench_die("cannot read %s", path);
	buf = malloc((size_t)n + 1);
	if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n)
		bench_die("cannot read %s", path);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	bench_init("durable_latency");
	if (argc != 5 && argc != 6)
		bench_die(
		    "usage: durable_latency SIZE LOAD POOL TARGETS [DIR]");
	size_t size = strtoul(argv[1], NULL, 10);
	double load = strtod(argv[2], NULL);
	size_t pool_len, targets_len;
	unsigned char *pool = read_file(argv[3], &pool_len);
	unsigned char *targets = read_file(argv[4], &targets_len);
	uint64_t ntargets = targets_len / 4;
	if (size == 0 || pool_len != (size_t)POOL * size)
		bench_die("pool of %zu bytes, expected %d x %zu", pool_len,
			  POOL, size);
	if (load < 1 || ntargets == 0)
		bench_die("bad load or targets");

	char dir[512] = "/tmp/mnemo-peers-latency-XXXXXX";
	if (argc == 6) {
		if (strlen(argv[5]) >= sizeof dir || mkdir(argv[5], 0750) != 0)
			bench_die("cannot create %s", argv[5]);
		strcpy(dir, argv[5]);
	} else if (!mkdtemp(dir)) {
		bench_die("mkdtemp failed");
	}
	unsigned workers = bench_threads();
	mn_runtime_opts o = {.workers = workers,
			     .store_path = dir,
			     .durability = MN_DURABILITY_SYNC};
	mn_runtime *rt;
	int rc = mn_runtime_open(&o, &rt);
	if (rc)
		bench_die("open: %s (%s)", mn_strerror(rc), mn_errdetail());
	mn_kind *kind = bench_kind(rt, "durable", d_init, d_handle, NULL, NULL);
	unsigned char key[8];

	for (uint64_t a = 0; a < NACTORS; a++) {
		bench_key_put(key, a);
		bench_check(mn_send(rt, kind, key, 8, 1,
				    pool + (a % POOL) * size, size),
			    "mn_send");
	}
	bench_drain(rt);
	bench_counter_reset(&handled);
	mn_runtime_stats st0, st1;
	mn_runtime_stats_get(rt, &st0);

	uint64_t nlat = load < 1000 ? 1000 : (uint64_t)load;
	t_sent = calloc(nlat, sizeof(double));
	lat = calloc(nlat, sizeof(double));
	if (t_sent == NULL || lat == NULL)
		bench_die("out of memory");
	double start = bench_now(), gap = 1.0 / load;
	for (uint64_t i = 0; i < nlat; i++) {
		double due = start + (double)i * gap;
		/* Sleep, not spin, as bench/durable.c: 2 cores. */
		while (bench_now() < due)
			usleep(100);
		uint64_t m = BASE + i;
		const unsigned char *t = targets + 4 * (m % ntargets);
		uint32_t a = (uint32_t)t[0] | (uint32_t)t[1] << 8 |
			     (uint32_t)t[2] << 16 | (uint32_t)t[3] << 24;
		bench_key_put(key, a);
		t_sent[i] = bench_now();
		bench_check(mn_send_durable_async(
				rt, kind, key, 8, 3, pool + (m % POOL) * size,
				size, lat_done, (void *)(uintptr_t)i),
			    "mn_send_durable_async");
	}
	bench_drain(rt);
	while (atomic_load(&completed) < nlat)
		usleep(1000);
	mn_runtime_stats_get(rt, &st1);
	if (bench_counter_sum(&handled) != nlat)
		bench_die("handled %llu of %llu",
			  (unsigned long long)bench_counter_sum(&handled),
			  (unsigned long long)nlat);
	if (st1.journaled - st0.journaled != nlat)
		bench_die("journaled %llu of %llu",
			  (unsigned long long)(st1.journaled - st0.journaled),
			  (unsigned long long)nlat);
	qsort(lat, nlat, sizeof(double), cmp_double);
	double p50 = lat[nlat / 2] * 1e3, p99 = lat[nlat * 99 / 100] * 1e3;
	bench_note("%zu B at %.0f/s: p50 %.3f ms, p99 %.3f ms, %.1f messages "
		   "per commit",
		   size, load, p50, p99,
		   (double)(st1.journaled - st0.journaled) /
		       (double)(st1.commits - st0.commits));
	mn_runtime_close(rt);
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		bench_die("cannot remove %s", dir);

	struct bench_json j;
	bench_json_begin(&j, "durable", "commit_p50_ms", p50, "ms");
	bench_json_u64(&j, "n", nlat);
	bench_json_u64(&j, "threads", workers);
	bench_json_u64(&j, "payload", size);
	bench_json_f64(&j, "load", load);
	bench_json_end(&j);
	bench_json_begin(&j, "durable", "commit_p99_ms", p99, "ms");
	bench_json_u64(&j, "n", nlat);
	bench_json_u64(&j, "threads", workers);
	bench_json_u64(&j, "payload", size);
	bench_json_f64(&j, "load", load);
	bench_json_end(&j);
	free(t_sent);
	free(lat);
	free(pool);
	free(targets);
	return 0;
}
