/*
 * scale - many actors: resident, persisted, the store's open time, and
 * memory after touching a few (issue 4; design.md section 3).
 *
 * The kind ("agent"): persistent, created by its first message, state NULL
 * (so state costs nothing and the figures are the runtime's), with a
 * snapshot of a fixed 8-byte tag so eviction writes a snapshot as real
 * agents' would. Keys are 8 bytes. Relaxed durability throughout (the fsync
 * rate is durable's subject, not this one's). Memory is the process's
 * anonymous resident memory (RssAnon of /proc/self/status): the store's
 * pages mapped from the page cache (RssFile) are the kernel's to drop, and
 * are printed on stderr.
 *
 * (a) resident: N actors (1M; BENCH_SCALE=full 10M) in a runtime with a
 *     store and no eviction, one message each. Prints the RssAnon delta / N
 *     before and after malloc_trim ("rss_bytes_per_actor",
 *     "rss_trimmed_bytes_per_actor") and (stats.actor_bytes +
 *     stats.registry_bytes) / actors ("accounted_bytes_per_actor"),
 *     "phase":"resident". Fails unless stats.actors = N (+ the warm-up).
 * (b) persisted: a fresh store, max_resident = MAXRES (10,000). First
 *     paced: 500,000 actors (full: 1M) created by one message each, in
 *     batches of max_resident/2, each batch drained and evicted before the
 *     next, so the resident set stays at the limit: the RssAnon delta over
 *     the last nine tenths / their count is what an evicted actor still
 *     costs in memory ("rss_bytes_per_evicted_actor", target 0,
 *     "phase":"paced"). Then a burst: N more actors as fast as one thread
 *     sends; RSS and stats.actors are sampled while they are created
 *     (peaks), then read once eviction has brought the resident count to
 *     max_resident or below and the evictions under way have finished.
 *     Prints "resident_actors" and "rss_bytes" (settled; peaks and the
 *     runtime's accounted bytes as fields), "phase":"persisted". After
 *     close, the data file's allocated size / all actors
 *     ("disk_bytes_per_actor": a name, an actor record, one journal entry
 *     and one snapshot each). Fails unless resident + evicted = created.
 * (c) open: mn_runtime_open on that closed store, REPS times (each reopened
 *     after a close): median "open_ms" (kind registration, which scans the
 *     outbox, as a field). Lazy open should load nothing per actor: no
 *     actor may be resident after open.
 * (d) touch: in the last reopened runtime, one message to each of a random
 *     1% of all the actors, drain; "resident_actors" and "rss_bytes" after,
 *     "phase":"touch", and "touch_rehydrations_per_s". The handler checks
 *     each came back with its history (mn_ctx_seq() = 2), and
 *     stats.rehydrations must equal the number touched.
 *
 * Every line's "n" is the number of actors that phase really ran with.
 */
#include "bench/support/bench.h"

#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WARMUP	 1000
#define MAXRES	 10000
#define REPS	 5
#define T_CREATE 1
#define T_TOUCH	 2

static const char TAG[8] = "agent-v1";

static struct bench_counter handled;
static _Atomic uint64_t bad_seq;

static int a_init(mn_ctx *ctx, void **state)
{
	(void)ctx;
	*state = NULL;
	return 0;
}

static int a_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	(void)state;
	if (mn_ctx_replaying(ctx))
		return 0;
	uint64_t want = msg->type == T_TOUCH ? 2 : 1;
	if (mn_ctx_seq(ctx) != want)
		atomic_fetch_add(&bad_seq, 1);
	bench_count(&handled, ctx, 1);
	return 0;
}

static int a_snapshot(const void *state, mn_buf *out)
{
	(void)state;
	return mn_buf_append(out, TAG, sizeof TAG);
}

static int a_restore(mn_ctx *ctx, const void *bytes, size_t len, void **state)
{
	(void)ctx;
	if (len != sizeof TAG || memcmp(bytes, TAG, sizeof TAG) != 0)
		return MN_ECORRUPT;
	*state = NULL;
	return 0;
}

/* ---- helpers ------------------------------------------------------------ */

/* RssAnon and RssFile of this process, in bytes. */
static void rss(uint64_t *anon, uint64_t *file)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	unsigned long kb;
	*anon = *file = 0;
	if (!f)
		bench_die("opening /proc/self/status");
	while (fgets(line, sizeof line, f)) {
		if (sscanf(line, "RssAnon: %lu kB", &kb) == 1)
			*anon = (uint64_t)kb * 1024;
		else if (sscanf(line, "RssFile: %lu kB", &kb) == 1)
			*file = (uint64_t)kb * 1024;
	}
	fclose(f);
}

static uint64_t rss_anon(void)
{
	uint64_t a, f;
	rss(&a, &f);
	return a;
}

static uint64_t disk_bytes(const char *dir)
{
	char p[600];
	struct stat sb;
	snprintf(p, sizeof p, "%s/data.mdb", dir);
	return stat(p, &sb) == 0 ? (uint64_t)sb.st_blocks * 512 : 0;
}

/* mn_runtime_opts.admission for the next open_store (the burst's). */
static unsigned open_admission;

static mn_runtime *open_store(const char *dir, unsigned workers,
			      uint64_t max_resident, mn_kind **kind,
			      mn_kind **warm, double *open_s, double *reg_s)
{
	mn_runtime_opts o = {.size = sizeof(mn_runtime_opts),
			     .workers = workers,
			     .store_path = dir,
			     .durability = MN_DURABILITY_RELAXED,
			     .max_resident = max_resident,
			     .admission = open_admission};
	mn_runtime *rt;
	double t0 = bench_now();
	int rc = mn_runtime_open(&o, &rt);
	double t1 = bench_now();
	if (rc)
		bench_die("open %s: %s (%s)", dir, mn_strerror(rc),
			  mn_errdetail());
	mn_kind_def def = {.name = "agent",
			   .init = a_init,
			   .handle = a_handle,
			   .snapshot = a_snapshot,
			   .restore = a_restore};
	bench_check(mn_kind_register(rt, &def, kind), "mn_kind_register");
	if (warm) {
		def.name = "warmup";
		bench_check(mn_kind_register(rt, &def, warm),
			    "mn_kind_register");
	}
	if (open_s)
		*open_s = t1 - t0;
	if (reg_s)
		*reg_s = bench_now() - t1;
	return rt;
}

static void send_one(mn_runtime *rt, mn_kind *k, uint64_t i, uint32_t type)
{
	unsigned char key[8];
	bench_key_put(key, i);
	bench_check(mn_send(rt, k, key, 8, type, NULL, 0), "mn_send");
}

static void check_stats(mn_runtime *rt, const char *what)
{
	mn_runtime_stats st;
	mn_runtime_stats_get(rt, &st);
	if (st.store_error || st.handler_errors || st.broken ||
	    atomic_load(&bad_seq))
		bench_die("%s: store error %d, %llu handler errors, %llu "
			  "broken actors, %llu wrong histories",
			  what, st.store_error,
			  (unsigned long long)st.handler_errors,
			  (unsigned long long)st.broken,
			  (unsigned long long)atomic_load(&bad_seq));
}

static void line(const char *metric, double value, const char *unit, uint64_t n,
		 unsigned workers, const char *phase)
{
	struct bench_json j;
	bench_json_begin(&j, "scale", metric, value, unit);
	bench_json_u64(&j, "n", n);
	bench_json_u64(&j, "threads", workers);
	bench_json_str(&j, "phase", phase);
	bench_json_end(&j);
}

/* ---- (a) resident -----------------------------------------------------------
 */

static void resident(uint64_t n, unsigned workers)
{
	char dir[] = "/tmp/mnemo-bench-scale-XXXXXX";
	mn_kind *k, *warm;
	mn_runtime_stats st;
	uint64_t file0, file1, a0, a1, a2;

	bench_store_dir(dir);
	mn_runtime *rt = open_store(dir, workers, 0, &k, &warm, NULL, NULL);
	bench_counter_reset(&handled);
	for (uint64_t i = 0; i < WARMUP; i++)
		send_one(rt, warm, i, T_CREATE);
	bench_drain(rt);
	malloc_trim(0);
	rss(&a0, &file0);

	double t0 = bench_now();
	for (uint64_t i = 0; i < n; i++)
		send_one(rt, k, i, T_CREATE);
	bench_drain(rt);
	double wall = bench_now() - t0;
	rss(&a1, &file1);
	malloc_trim(0);
	a2 = rss_anon();
	check_stats(rt, "resident");
	mn_runtime_stats_get(rt, &st);
	if (bench_counter_sum(&handled) != n + WARMUP)
		bench_die("resident: handled %llu of %llu",
			  (unsigned long long)bench_counter_sum(&handled),
			  (unsigned long long)(n + WARMUP));
	if (st.actors != n + WARMUP || st.evictions != 0)
		bench_die("resident: %llu actors resident (expected %llu), "
			  "%llu evictions",
			  (unsigned long long)st.actors,
			  (unsigned long long)(n + WARMUP),
			  (unsigned long long)st.evictions);
	bench_note("resident: created %llu persistent actors in %.2f s "
		   "(%.0f/s); RssAnon %.1f -> %.1f MiB (%.1f after trim), "
		   "RssFile %.1f -> %.1f MiB; accounted actor %.1f MiB, "
		   "registry %.1f MiB",
		   (unsigned long long)n, wall, (double)n / wall,
		   a0 / 1048576.0, a1 / 1048576.0, a2 / 1048576.0,
		   file0 / 1048576.0, file1 / 1048576.0,
		   st.actor_bytes / 1048576.0, st.registry_bytes / 1048576.0);
	line("rss_bytes_per_actor", ((double)a1 - (double)a0) / (double)n,
	     "B/actor", n, workers, "resident");
	line("rss_trimmed_bytes_per_actor",
	     ((double)a2 - (double)a0) / (double)n, "B/actor", n, workers,
	     "resident");
	line("accounted_bytes_per_actor",
	     (double)(st.actor_bytes + st.registry_bytes) / (double)st.actors,
	     "B/actor", n, workers, "resident");
	line("resident_actors", (double)st.actors, "actors", n, workers,
	     "resident");
	t0 = bench_now();
	mn_runtime_close(rt);
	bench_note("resident: close took %.2f s", bench_now() - t0);
	bench_rm_rf(dir);
}

/* ---- (b), (c), (d) persisted
 * ---------------------------------------------------- */

/* Wait (up to 30 s) until eviction has brought the resident count down to
 * MAXRES and evictions under way have finished (two reads 20 ms apart
 * agree); returns the seconds it took, *st holds the last stats read. */
static double settle(mn_runtime *rt, mn_runtime_stats *st)
{
	double s0 = bench_now();
	mn_runtime_stats prev;
	mn_runtime_stats_get(rt, st);
	while (st->actors > MAXRES && bench_now() - s0 < 30) {
		usleep(1000);
		mn_runtime_stats_get(rt, st);
	}
	if (st->actors > MAXRES)
		bench_die("persisted: %llu actors still resident after 30 s "
			  "(max_resident %d)",
			  (unsigned long long)st->actors, MAXRES);
	double s1 = bench_now();
	do {
		prev = *st;
		usleep(20000);
		mn_runtime_stats_get(rt, st);
	} while (
	    (st->actors != prev.actors || st->evictions != prev.evictions) &&
	    bench_now() - s1 < 30);
	return s1 - s0;
}

static void persisted(uint64_t n, uint64_t npaced, unsigned workers)
{
	char dir[] = "/tmp/mnemo-bench-scale-XXXXXX";
	mn_kind *k;
	mn_runtime_stats st;
	uint64_t a0, f0, a1, f1, peak_anon = 0, peak_res = 0;
	uint64_t total = n + npaced;
	struct bench_json j;

	bench_store_dir(dir);
	malloc_trim(0);
	mn_runtime *rt = open_store(dir, workers, MAXRES, &k, NULL, NULL, NULL);
	rss(&a0, &f0);

	/* Paced first: npaced actors in batches of MAXRES / 2, each drained
	 * and evicted before the next, so the resident set never exceeds
	 * max_resident: what each evicted actor still costs in memory (the
	 * target is 0). The first tenth warms the runtime up (tables, the
	 * store's buffers) before the baseline is read. */
	bench_counter_reset(&handled);
	uint64_t warm_end = n + npaced / 10, pa0 = 0, pmax = 0;
	double t0 = bench_now(), tw = 0;
	for (uint64_t i = n; i < total;) {
		for (uint64_t b = 0; b < MAXRES / 2 && i < total; b++, i++)
			send_one(rt, k, i, T_CREATE);
		bench_drain(rt);
		settle(rt, &st);
		pmax = st.actors > pmax ? st.actors : pmax;
		if (i >= warm_end && !pa0) {
			malloc_trim(0);
			pa0 = rss_anon();
			tw = bench_now();
			warm_end = i;
		}
	}
	double wall = bench_now() - t0;
	malloc_trim(0);
	uint64_t pa1 = rss_anon();
	uint64_t measured = total - warm_end;
	check_stats(rt, "paced");
	mn_runtime_stats_get(rt, &st);
	if (bench_counter_sum(&handled) != npaced ||
	    st.actors + st.evictions != npaced)
		bench_die("paced: handled %llu, %llu resident + %llu evicted, "
			  "of %llu",
			  (unsigned long long)bench_counter_sum(&handled),
			  (unsigned long long)st.actors,
			  (unsigned long long)st.evictions,
			  (unsigned long long)npaced);
	bench_note("paced: %llu actors in %.2f s (%.0f/s); RssAnon %.1f MiB "
		   "at open, %.1f after the first %llu, %.1f after all "
		   "(after malloc_trim); runtime accounts actor records %.1f "
		   "MiB, registry %.1f MiB",
		   (unsigned long long)npaced, wall,
		   (double)measured / (bench_now() - tw), a0 / 1048576.0,
		   pa0 / 1048576.0, (unsigned long long)(npaced - measured),
		   pa1 / 1048576.0, st.actor_bytes / 1048576.0,
		   st.registry_bytes / 1048576.0);
	bench_json_begin(&j, "scale", "rss_bytes_per_evicted_actor",
			 ((double)pa1 - (double)pa0) / (double)measured,
			 "B/actor");
	bench_json_u64(&j, "n", measured);
	bench_json_u64(&j, "threads", workers);
	bench_json_str(&j, "phase", "paced");
	bench_json_u64(&j, "max_resident", MAXRES);
	bench_json_u64(&j, "peak_resident", pmax);
	bench_json_end(&j);

	/* Then a burst: n actors as fast as one thread can send. */
	uint64_t e0 = st.evictions;
	bench_counter_reset(&handled);
	rss(&a0, &f0);
	t0 = bench_now();
	for (uint64_t i = 0; i < n; i++) {
		send_one(rt, k, i, T_CREATE);
		if (i % 65536 == 65535) {
			uint64_t a = rss_anon();
			mn_runtime_stats_get(rt, &st);
			peak_anon = a > peak_anon ? a : peak_anon;
			peak_res = st.actors > peak_res ? st.actors : peak_res;
		}
	}
	bench_drain(rt);
	wall = bench_now() - t0;
	double burst_rate = (double)n / wall;
	mn_runtime_stats_get(rt, &st);
	rss(&a1, &f1);
	peak_anon = a1 > peak_anon ? a1 : peak_anon;
	peak_res = st.actors > peak_res ? st.actors : peak_res;
	bench_note("persisted: created %llu actors in %.2f s (%.0f/s), "
		   "max_resident %d: after drain %llu resident, %llu "
		   "evictions, RssAnon %.1f MiB (%.1f at open); peaks while "
		   "creating: %llu resident, RssAnon %.1f MiB",
		   (unsigned long long)n, wall, (double)n / wall, MAXRES,
		   (unsigned long long)st.actors,
		   (unsigned long long)(st.evictions - e0), a1 / 1048576.0,
		   a0 / 1048576.0, (unsigned long long)peak_res,
		   peak_anon / 1048576.0);
	double settle_s = settle(rt, &st);
	malloc_trim(0);
	rss(&a1, &f1);
	check_stats(rt, "persisted");
	if (bench_counter_sum(&handled) != n)
		bench_die("persisted: handled %llu of %llu",
			  (unsigned long long)bench_counter_sum(&handled),
			  (unsigned long long)n);
	if (st.actors + st.evictions != total)
		bench_die("persisted: %llu resident + %llu evicted != %llu "
			  "created",
			  (unsigned long long)st.actors,
			  (unsigned long long)st.evictions,
			  (unsigned long long)total);
	bench_note("persisted: settled to %llu resident in %.2f s; RssAnon "
		   "%.1f MiB after malloc_trim (runtime accounts actor records "
		   "%.1f MiB, registry %.1f MiB), RssFile %.1f MiB; %llu "
		   "snapshots",
		   (unsigned long long)st.actors, settle_s, a1 / 1048576.0,
		   st.actor_bytes / 1048576.0, st.registry_bytes / 1048576.0,
		   f1 / 1048576.0, (unsigned long long)st.snapshots);
	bench_json_begin(&j, "scale", "resident_actors", (double)st.actors,
			 "actors");
	bench_json_u64(&j, "n", n);
	bench_json_u64(&j, "threads", workers);
	bench_json_str(&j, "phase", "persisted");
	bench_json_u64(&j, "max_resident", MAXRES);
	bench_json_u64(&j, "peak_resident", peak_res);
	bench_json_f64(&j, "settle_s", settle_s);
	bench_json_end(&j);
	bench_json_begin(&j, "scale", "rss_bytes", (double)a1, "B");
	bench_json_u64(&j, "n", n);
	bench_json_u64(&j, "threads", workers);
	bench_json_str(&j, "phase", "persisted");
	bench_json_u64(&j, "max_resident", MAXRES);
	bench_json_u64(&j, "rss_at_open", a0);
	bench_json_u64(&j, "peak_rss", peak_anon);
	bench_json_u64(&j, "accounted_bytes",
		       st.actor_bytes + st.registry_bytes);
	bench_json_end(&j);

	t0 = bench_now();
	mn_runtime_close(rt);
	double close_s = bench_now() - t0;
	malloc_trim(0);
	bench_note("persisted: close took %.2f s; RssAnon after it %.1f MiB",
		   close_s, rss_anon() / 1048576.0);
	uint64_t disk = disk_bytes(dir);
	line("disk_bytes_per_actor", (double)disk / (double)total, "B/actor",
	     total, workers, "persisted");
	/* The 100M persisted actors do not fit in a benchmark run:
	 * say what they would take at the rates just measured. */
	bench_note("persisted: 100M actors (the issue's figure) are out of "
		   "reach in a benchmark run: at %.0f creations/s and %.0f "
		   "B/actor they would take %.0f min and %.1f GB of disk; "
		   "ran %llu",
		   burst_rate, (double)disk / (double)total,
		   1e8 / burst_rate / 60,
		   1e8 * (double)disk / (double)total / 1e9,
		   (unsigned long long)total);

	/* (c) open time of the closed store. */
	double open_s[REPS], reg_s[REPS];
	for (int r = 0; r < REPS; r++) {
		rt = open_store(dir, workers, MAXRES, &k, NULL, &open_s[r],
				&reg_s[r]);
		mn_runtime_stats_get(rt, &st);
		if (st.actors != 0)
			bench_die("open: %llu actors resident right after "
				  "open",
				  (unsigned long long)st.actors);
		if (r < REPS - 1)
			mn_runtime_close(rt);
	}
	malloc_trim(0);
	bench_note("open: %.2f %.2f %.2f %.2f %.2f ms (kind registration "
		   "%.2f ms); RssAnon after the last open %.1f MiB",
		   open_s[0] * 1e3, open_s[1] * 1e3, open_s[2] * 1e3,
		   open_s[3] * 1e3, open_s[4] * 1e3, reg_s[0] * 1e3,
		   rss_anon() / 1048576.0);
	bench_json_begin(&j, "scale", "open_ms",
			 bench_median(open_s, REPS) * 1e3, "ms");
	bench_json_u64(&j, "n", total);
	bench_json_u64(&j, "threads", workers);
	bench_json_str(&j, "phase", "open");
	bench_json_f64(&j, "register_ms", bench_median(reg_s, REPS) * 1e3);
	bench_json_end(&j);

	/* (d) touch a random 1%. */
	uint64_t ntouch = total / 100, x = 0x9e3779b97f4a7c15ull;
	unsigned char *hit = calloc(total, 1);
	if (!hit)
		bench_die("out of memory");
	malloc_trim(0);
	rss(&a0, &f0);
	bench_counter_reset(&handled);
	mn_runtime_stats st0;
	mn_runtime_stats_get(rt, &st0);
	t0 = bench_now();
	for (uint64_t m = 0; m < ntouch;) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		uint64_t i = x % total;
		if (hit[i])
			continue;
		hit[i] = 1;
		send_one(rt, k, i, T_TOUCH);
		m++;
	}
	bench_drain(rt);
	wall = bench_now() - t0;
	mn_runtime_stats_get(rt, &st);
	rss(&a1, &f1);
	check_stats(rt, "touch");
	if (bench_counter_sum(&handled) != ntouch ||
	    st.rehydrations - st0.rehydrations != ntouch)
		bench_die(
		    "touch: handled %llu, rehydrations %llu, of %llu",
		    (unsigned long long)bench_counter_sum(&handled),
		    (unsigned long long)(st.rehydrations - st0.rehydrations),
		    (unsigned long long)ntouch);
	bench_note("touch: %llu actors in %.2f s; %llu resident, %llu "
		   "evictions; RssAnon %.1f -> %.1f MiB, RssFile %.1f -> %.1f "
		   "MiB",
		   (unsigned long long)ntouch, wall,
		   (unsigned long long)st.actors,
		   (unsigned long long)st.evictions, a0 / 1048576.0,
		   a1 / 1048576.0, f0 / 1048576.0, f1 / 1048576.0);
	bench_json_begin(&j, "scale", "resident_actors", (double)st.actors,
			 "actors");
	bench_json_u64(&j, "n", total);
	bench_json_u64(&j, "threads", workers);
	bench_json_str(&j, "phase", "touch");
	bench_json_u64(&j, "touched", ntouch);
	bench_json_u64(&j, "max_resident", MAXRES);
	bench_json_end(&j);
	bench_json_begin(&j, "scale", "rss_bytes", (double)a1, "B");
	bench_json_u64(&j, "n", total);
	bench_json_u64(&j, "threads", workers);
	bench_json_str(&j, "phase", "touch");
	bench_json_u64(&j, "touched", ntouch);
	bench_json_u64(&j, "rss_at_open", a0);
	bench_json_end(&j);
	bench_json_begin(&j, "scale", "touch_rehydrations_per_s",
			 (double)ntouch / wall, "actors/s");
	bench_json_u64(&j, "n", ntouch);
	bench_json_u64(&j, "threads", workers);
	bench_json_str(&j, "phase", "touch");
	bench_json_end(&j);
	mn_runtime_close(rt);
	free(hit);
	bench_rm_rf(dir);
}

/* ---- (e) burst: admission control (issue 17) ----------------------------
 *
 * A fresh store, max_resident = MAXRES: N new actors (1M; full 10M) created
 * as fast as BURST_SENDERS outside threads send, one message each, while a
 * sampler reads stats.actors every millisecond; then a storm: N/10 of them,
 * all but the last MAXRES or so evicted, each sent one message (so each is
 * brought back from the store). Prints "peak_resident" per phase (the
 * runtime's high-water mark, stats.resident_peak; the sampled peak as a
 * field: it sums the shards one lock at a time, so under churn it may read
 * a little above the true count), with the creation and rehydration rates
 * and the sends that waited for room.
 */
#define BURST_SENDERS 2

typedef struct burst_arg {
	mn_runtime *rt;
	mn_kind *k;
	uint64_t n, stride, mod;
	uint32_t type;
	unsigned t;
} burst_arg;

static void *burst_sender(void *arg)
{
	burst_arg *b = arg;
	for (uint64_t i = b->t; i < b->n; i += BURST_SENDERS)
		send_one(b->rt, b->k, b->stride ? (i * b->stride) % b->mod : i,
			 b->type);
	return NULL;
}

typedef struct sampler {
	mn_runtime *rt;
	_Atomic bool stop;
	uint64_t max_actors, max_anon;
} sampler;

static void *sampler_main(void *arg)
{
	sampler *sp = arg;
	while (!atomic_load(&sp->stop)) {
		mn_runtime_stats st;
		mn_runtime_stats_get(sp->rt, &st);
		if (st.actors > sp->max_actors)
			sp->max_actors = st.actors;
		uint64_t a = rss_anon();
		if (a > sp->max_anon)
			sp->max_anon = a;
		usleep(1000);
	}
	return NULL;
}

/* Send n messages of type from BURST_SENDERS threads (keys i, or i*stride
 * mod mod); returns the wall time; *sp holds the sampled peaks. */
static double burst_run(mn_runtime *rt, mn_kind *k, uint64_t n, uint64_t stride,
			uint64_t mod, uint32_t type, sampler *sp)
{
	pthread_t th[BURST_SENDERS], smp;
	burst_arg b[BURST_SENDERS];
	*sp = (sampler){.rt = rt};
	if (pthread_create(&smp, NULL, sampler_main, sp))
		bench_die("pthread_create");
	double t0 = bench_now();
	for (unsigned t = 0; t < BURST_SENDERS; t++) {
		b[t] = (burst_arg){.rt = rt,
				   .k = k,
				   .n = n,
				   .stride = stride,
				   .mod = mod,
				   .type = type,
				   .t = t};
		if (pthread_create(&th[t], NULL, burst_sender, &b[t]))
			bench_die("pthread_create");
	}
	for (unsigned t = 0; t < BURST_SENDERS; t++)
		pthread_join(th[t], NULL);
	bench_drain(rt);
	double wall = bench_now() - t0;
	atomic_store(&sp->stop, true);
	pthread_join(smp, NULL);
	return wall;
}

static void burst_line(const char *phase, uint64_t n, unsigned workers,
		       const mn_runtime_stats *st, const sampler *sp,
		       const char *rate_name, double rate)
{
	struct bench_json j;
	bench_json_begin(&j, "scale", "peak_resident",
			 (double)st->resident_peak, "actors");
	bench_json_u64(&j, "n", n);
	bench_json_u64(&j, "threads", workers);
	bench_json_str(&j, "phase", phase);
	bench_json_u64(&j, "max_resident", MAXRES);
	bench_json_u64(&j, "senders", BURST_SENDERS);
	bench_json_u64(&j, "sampled_peak", sp->max_actors);
	bench_json_u64(&j, "peak_rss", sp->max_anon);
	bench_json_f64(&j, rate_name, rate);
	bench_json_u64(&j, "admission_waits", st->admission_waits);
	bench_json_u64(&j, "admission_overruns", st->admission_overruns);
	bench_json_end(&j);
}

static void burst(uint64_t n, unsigned workers)
{
	char dir[] = "/tmp/mnemo-bench-burst-XXXXXX";
	mn_kind *k;
	mn_runtime_stats st;
	sampler sp;

	bench_store_dir(dir);
	open_admission = 1;
	mn_runtime *rt = open_store(dir, workers, MAXRES, &k, NULL, NULL, NULL);
	open_admission = 0;
	bench_counter_reset(&handled);
	double wall = burst_run(rt, k, n, 0, n, T_CREATE, &sp);
	mn_runtime_stats_get(rt, &st);
	if (bench_counter_sum(&handled) != n || atomic_load(&bad_seq))
		bench_die("burst: handled %llu of %llu (%llu out of order)",
			  (unsigned long long)bench_counter_sum(&handled),
			  (unsigned long long)n,
			  (unsigned long long)atomic_load(&bad_seq));
	bench_note("burst: %llu new actors from %d threads in %.2f s "
		   "(%.0f/s), max_resident %d: peak %llu resident (sampled "
		   "%llu), %llu sends waited, %llu over the bound, %llu "
		   "evictions; peak RssAnon %.1f MiB",
		   (unsigned long long)n, BURST_SENDERS, wall, n / wall, MAXRES,
		   (unsigned long long)st.resident_peak,
		   (unsigned long long)sp.max_actors,
		   (unsigned long long)st.admission_waits,
		   (unsigned long long)st.admission_overruns,
		   (unsigned long long)st.evictions, sp.max_anon / 1048576.0);
	burst_line("burst", n, workers, &st, &sp, "creations_per_s", n / wall);

	/* The storm: a tenth of them, spread over all (7919 is prime, so
	 * i * 7919 mod n visits distinct keys), nearly all evicted. */
	uint64_t ns = n / 10, r0 = st.rehydrations;
	bench_counter_reset(&handled);
	wall = burst_run(rt, k, ns, 7919, n, T_TOUCH, &sp);
	mn_runtime_stats_get(rt, &st);
	uint64_t rh = st.rehydrations - r0;
	if (bench_counter_sum(&handled) != ns || atomic_load(&bad_seq))
		bench_die("storm: handled %llu of %llu (%llu out of order)",
			  (unsigned long long)bench_counter_sum(&handled),
			  (unsigned long long)ns,
			  (unsigned long long)atomic_load(&bad_seq));
	bench_note("storm: %llu messages to evicted actors in %.2f s, %llu "
		   "rehydrations (%.0f/s): peak %llu resident (sampled %llu)",
		   (unsigned long long)ns, wall, (unsigned long long)rh,
		   rh / wall, (unsigned long long)st.resident_peak,
		   (unsigned long long)sp.max_actors);
	burst_line("storm", ns, workers, &st, &sp, "rehydrations_per_s",
		   rh / wall);
	mn_runtime_close(rt);
	bench_rm_rf(dir);
}

int main(void)
{
	bench_init("scale");
	unsigned workers = bench_threads();
	uint64_t n_res = bench_size(1000000, 10000000);
	uint64_t n_per = bench_size(1000000, 10000000);
	/* BENCH_SCALE_ONLY=burst: the admission phase alone. */
	const char *only = getenv("BENCH_SCALE_ONLY");
	if (!only || strcmp(only, "burst") != 0) {
		resident(n_res, workers);
		persisted(n_per, bench_size(500000, 1000000), workers);
	}
	burst(bench_size(1000000, 10000000), workers);
	return 0;
}
