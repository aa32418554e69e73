/*
 * calls - outbound calls (docs/calls.md) against the stand-in server, run as
 * its own process (build/tests/tools/standin-server, started here on an
 * ephemeral port; out of this process so that its memory and threads are
 * not counted as mnemo's). Three parts:
 *
 * Pending calls held. HELD calls (100,000; BENCH_SCALE=full: 1,000,000) to
 * /hold?ms=HOLD_MS (replies held for minutes: none returns during the run),
 * from 100 actors, 100 calls per message, with calls_max_inflight and
 * calls_max_per_host at INFLIGHT (4,000). First INFLIGHT calls, all in
 * flight; then the rest, all queued behind the cap. The RSS delta of each
 * step divided by its calls: bytes per call in flight (curl's handle and
 * buffers, the connection; kernel socket buffers are not in RSS) and per
 * queued call (its intent, its queue entry, its pending-call record): the
 * anonymous RSS (heap, without the store's mapped file pages, which
 * "with_store_pages" adds), each read after malloc_trim(0). The
 * run checks mn_runtime_call_stats (pending, in flight, queued) before it
 * reads RSS. Closing the runtime abandons the calls (their intents stay
 * stored; the store is removed).
 *
 * Calls completed per second, against /echo: CONC (64: mnemo's per-host
 * default) actors each keep one call outstanding (a reply's handler makes
 * the next call) until NCALLS calls have been handled; the reply of each is
 * journaled (durability relaxed, then sync, each a fresh store). Beside it
 * the peer, a bare curl-multi client on a libuv loop
 * (bench/support/curl_peer.c), keeps CONC requests in flight to the same
 * stand-in until NCALLS complete. Peer and mnemo run alternately, twice
 * each; the best run of each is reported. Latency: mnemo's is from
 * mn_ctx_call_http in a handler to the handler that receives the reply (the
 * intent's commit, the issue, the transfer, the reply queued: what an actor
 * sees); the peer's from curl_multi_add_handle to completion. "added_ms" is
 * mnemo's minus the peer's.
 *
 * Timer lateness: NTIMERS durable timers (mn_ctx_after) from 200 actors,
 * delays 20..520 ms; lateness = the firing handler's wall clock minus the
 * arming handler's clock plus the delay (ids have millisecond due times, so
 * a timer may be due up to 1 ms before that mark). Timers are fired by
 * the I/O loop, woken at the next due time (core/timers.c); the reference
 * printed with the figures is the MAINT_POLL_MS polling it replaced.
 * Also the CPU an idle runtime with a store uses (getrusage over 2 s).
 *
 * BENCH_CALLS_PART=rate, timers or held runs one part only.
 */
#include "bench/support/bench.h"
#include "bench/support/curl_peer.h"
#include "tests/support/standin_proc.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define INFLIGHT      4000
#define HOLD_MS	      600000
#define HOLD_ACTORS   100
#define CALLS_PER_MSG 100
#define CONC	      64
#define MAINT_POLL_MS 5 /* the maintenance thread's poll timers had before */
#define TIMER_ACTORS  200

enum { T_HOLD = 1, T_START = 2, T_REPLY = 3, T_ARM = 4, T_FIRE = 5 };

/* ---- the stand-in ------------------------------------------------------ */

static pid_t srv_pid;
static char srv_base[64];

/* The stand-in program: $BUILD/tests/tools/standin-server, else beside
 * this binary's build directory (build/bench/calls). */
static void srv_path(char *buf, size_t cap)
{
	const char *b = getenv("BUILD");
	if (b && *b) {
		snprintf(buf, cap, "%s/tests/tools/standin-server", b);
		return;
	}
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n <= 0)
		bench_die("readlink /proc/self/exe: %s", strerror(errno));
	self[n] = 0;
	char *slash = strrchr(self, '/');
	if (slash)
		*slash = 0;
	snprintf(buf, cap, "%s/../tests/tools/standin-server", self);
}

static void srv_start(void)
{
	char path[PATH_MAX + 64];
	uint16_t port;
	srv_path(path, sizeof path);
	if (access(path, X_OK) != 0)
		bench_die("no stand-in at %s (make bench builds it)", path);
	static const char *const args[] = {
	    "--seed", "1", "--threads", "2", "--max-connections", "8192", NULL};
	if (standin_proc_start(path, args, &srv_pid, &port) != 0)
		bench_die("the stand-in did not start (%s)", path);
	snprintf(srv_base, sizeof srv_base, "http://127.0.0.1:%u",
		 (unsigned)port);
}

static void srv_stop(void)
{
	standin_proc_stop(srv_pid);
	srv_pid = 0;
}

static void srv_stop_at_exit(void)
{
	srv_stop();
}

/* ---- shared ------------------------------------------------------------- */

static mn_runtime *open_store(char *dir, int durability, unsigned inflight)
{
	bench_store_dir(dir);
	mn_runtime_opts o = MN_RUNTIME_OPTS_INIT;
	o.workers = bench_threads();
	o.store_path = dir;
	o.durability = durability;
	o.calls_max_inflight = inflight;
	o.calls_max_per_host = inflight;
	mn_runtime *rt;
	int rc = mn_runtime_open(&o, &rt);
	if (rc)
		bench_die("open: %s (%s)", mn_strerror(rc), mn_errdetail());
	return rt;
}

static int null_init(mn_ctx *ctx, void **state)
{
	(void)ctx;
	*state = NULL;
	return 0;
}

static mn_call_stats cstats(mn_runtime *rt)
{
	mn_call_stats st;
	bench_check(mn_runtime_call_stats(rt, &st), "mn_runtime_call_stats");
	return st;
}

static uint64_t now_us_real(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return (uint64_t)t.tv_sec * 1000000u + (uint64_t)t.tv_nsec / 1000u;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* The q-quantile of n sorted values. */
static double quantile(const double *v, uint64_t n, double q)
{
	uint64_t i = (uint64_t)(q * (double)n);
	return v[i < n ? i : n - 1];
}

static void line(const char *metric, double value, const char *unit, uint64_t n,
		 struct bench_json *j)
{
	bench_json_begin(j, "calls", metric, value, unit);
	bench_json_u64(j, "n", n);
	bench_json_u64(j, "threads", bench_threads());
}

/* ---- pending calls held ------------------------------------------------ */

static char hold_url[128];
static _Atomic uint64_t hold_errors;

static int hold_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	(void)state;
	if (msg->flags & MN_MSG_CALL)
		return 0; /* none returns during the run */
	uint32_t n;
	if (msg->len != sizeof n)
		return MN_EINVAL;
	memcpy(&n, msg->payload, sizeof n);
	mn_http_request req = MN_HTTP_REQUEST_INIT;
	req.url = hold_url;
	req.timeout_ms = HOLD_MS + 60000;
	for (uint32_t i = 0; i < n; i++) {
		int rc = mn_ctx_call_http(ctx, &req, T_REPLY, NULL);
		if (rc) {
			atomic_fetch_add(&hold_errors, 1);
			return rc;
		}
	}
	return 0;
}

/* Anonymous resident memory (RssAnon of /proc/self/status), in bytes: the
 * heap and stacks, without the store's mapped pages (file-backed, the page
 * cache's; they are in the total). */
static uint64_t rss_anon_bytes(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char l[256];
	unsigned long long kb = 0;
	int found = 0;
	if (!f)
		bench_die("/proc/self/status: %s", strerror(errno));
	while (!found && fgets(l, sizeof l, f))
		found = sscanf(l, "RssAnon: %llu kB", &kb) == 1;
	fclose(f);
	if (!found)
		bench_die("no RssAnon in /proc/self/status");
	return kb * 1024;
}

/* Both readings, after malloc_trim(0) (freed heap pages returned: what
 * stays). */
static void rss_read(uint64_t *anon, uint64_t *total)
{
	malloc_trim(0);
	*anon = rss_anon_bytes();
	*total = bench_rss_bytes();
}

/* Make calls more calls, CALLS_PER_MSG per message, over the actors. */
static void hold_calls(mn_runtime *rt, mn_kind *k, uint64_t calls,
		       uint64_t *msg_no)
{
	unsigned char key[8];
	for (uint64_t done = 0; done < calls; (*msg_no)++) {
		uint32_t n =
		    (uint32_t)(calls - done < CALLS_PER_MSG ? calls - done
							    : CALLS_PER_MSG);
		bench_key_put(key, *msg_no % HOLD_ACTORS);
		bench_check(mn_send(rt, k, key, 8, T_HOLD, &n, sizeof n),
			    "mn_send");
		done += n;
	}
	bench_drain(rt);
}

/* Wait until the stats show pending calls, inflight of them in flight. */
static mn_call_stats wait_calls(mn_runtime *rt, uint64_t pending,
				uint64_t inflight)
{
	double t0 = bench_now();
	mn_call_stats st;
	for (;;) {
		st = cstats(rt);
		if (st.pending == pending && st.inflight == inflight &&
		    st.queued == pending - inflight)
			return st;
		if (bench_now() - t0 > 120)
			bench_die("calls: %llu pending, %llu in flight, %llu "
				  "queued; wanted %llu, %llu",
				  (unsigned long long)st.pending,
				  (unsigned long long)st.inflight,
				  (unsigned long long)st.queued,
				  (unsigned long long)pending,
				  (unsigned long long)inflight);
		usleep(20000);
	}
}

static void run_held(void)
{
	uint64_t total = bench_size(100000, 1000000);
	char dir[] = "/tmp/mnemo-bench-calls-held-XXXXXX";
	mn_runtime *rt = open_store(dir, MN_DURABILITY_RELAXED, INFLIGHT);
	mn_kind *k =
	    bench_kind(rt, "holder", null_init, hold_handle, NULL, NULL);
	snprintf(hold_url, sizeof hold_url, "%s/hold?ms=%u", srv_base, HOLD_MS);
	uint64_t msg_no = 0;

	/* Warm-up: the actors exist, the I/O thread runs, one call in
	 * flight; then the baseline. */
	hold_calls(rt, k, HOLD_ACTORS, &msg_no);
	msg_no = 0;
	wait_calls(rt, HOLD_ACTORS, HOLD_ACTORS);
	uint64_t a0, rss0, a1, rss1, a2, rss2;
	rss_read(&a0, &rss0);

	uint64_t first = INFLIGHT - HOLD_ACTORS;
	double t0 = bench_now();
	hold_calls(rt, k, first, &msg_no);
	wait_calls(rt, INFLIGHT, INFLIGHT);
	rss_read(&a1, &rss1);
	double t_inflight = bench_now() - t0;

	uint64_t queued = total - INFLIGHT;
	t0 = bench_now();
	hold_calls(rt, k, queued, &msg_no);
	mn_call_stats st = wait_calls(rt, total, INFLIGHT);
	rss_read(&a2, &rss2);
	double t_queued = bench_now() - t0;
	if (atomic_load(&hold_errors))
		bench_die("%llu calls refused",
			  (unsigned long long)atomic_load(&hold_errors));
	bench_note("held: anonymous rss %.1f -> %.1f MiB (%llu in flight, "
		   "%.2f s) -> %.1f MiB (%llu queued, %.2f s to commit and "
		   "queue); total rss %.1f -> %.1f -> %.1f MiB",
		   a0 / 1048576.0, a1 / 1048576.0,
		   (unsigned long long)st.inflight, t_inflight, a2 / 1048576.0,
		   (unsigned long long)st.queued, t_queued, rss0 / 1048576.0,
		   rss1 / 1048576.0, rss2 / 1048576.0);
	bench_note_stats(rt, "held");

	struct bench_json j;
	line("pending_calls_held", (double)st.pending, "calls", total, &j);
	bench_json_u64(&j, "inflight", st.inflight);
	bench_json_u64(&j, "queued", st.queued);
	bench_json_u64(&j, "hold_ms", HOLD_MS);
	bench_json_end(&j);
	line("rss_bytes_per_inflight_call",
	     ((double)a1 - (double)a0) / (double)first, "B/call", first, &j);
	bench_json_f64(&j, "with_store_pages",
		       ((double)rss1 - (double)rss0) / (double)first);
	bench_json_end(&j);
	line("rss_bytes_per_queued_call",
	     ((double)a2 - (double)a1) / (double)queued, "B/call", queued, &j);
	bench_json_f64(&j, "with_store_pages",
		       ((double)rss2 - (double)rss1) / (double)queued);
	bench_json_u64(&j, "inflight", st.inflight);
	bench_json_end(&j);

	mn_runtime_close(rt); /* abandons the calls */
	bench_rm_rf(dir);
}

/* ---- calls completed per second ---------------------------------------- */

static char echo_url[128];
static struct {
	_Atomic uint64_t issued, handled, bad;
	uint64_t n;
	double t_call[CONC]; /* per actor: when its call was made */
	double *lat;	     /* issue-to-handle, per reply */
	double *io_lat;	     /* the envelope's latency_us */
	struct bench_done done;
} E;

static int call_next(mn_ctx *ctx, uint64_t a)
{
	if (atomic_fetch_add(&E.issued, 1) >= E.n)
		return 0;
	mn_http_request req = MN_HTTP_REQUEST_INIT;
	req.url = echo_url;
	req.timeout_ms = 30000;
	E.t_call[a] = bench_now();
	return mn_ctx_call_http(ctx, &req, T_REPLY, NULL);
}

static int echo_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	(void)state;
	uint64_t a = bench_self_key(ctx) % CONC;
	if (mn_ctx_replaying(ctx))
		return 0;
	if (msg->flags & MN_MSG_CALL) {
		mn_call_reply r;
		if (mn_call_reply_decode(msg, &r) || r.err || r.status != 200)
			atomic_fetch_add(&E.bad, 1);
		uint64_t i = atomic_fetch_add(&E.handled, 1);
		if (i < E.n) {
			E.lat[i] = bench_now() - E.t_call[a];
			E.io_lat[i] = (double)r.latency_us * 1e-6;
		}
		if (i + 1 == E.n)
			bench_done_signal(&E.done, i + 1);
	}
	return call_next(ctx, a);
}

typedef struct rate {
	double per_s, p50, p99, io_p50;
} rate;

static rate run_mnemo(int durability, uint64_t n)
{
	char dir[] = "/tmp/mnemo-bench-calls-rate-XXXXXX";
	mn_runtime *rt = open_store(dir, durability, CONC);
	mn_kind *k =
	    bench_kind(rt, "caller", null_init, echo_handle, NULL, NULL);
	atomic_store(&E.issued, 0);
	atomic_store(&E.handled, 0);
	atomic_store(&E.bad, 0);
	E.n = n;
	bench_done_reset(&E.done);
	unsigned char key[8];
	double t0 = bench_now();
	for (uint64_t a = 0; a < CONC; a++) {
		bench_key_put(key, a);
		bench_check(mn_send(rt, k, key, 8, T_START, NULL, 0),
			    "mn_send");
	}
	bench_done_wait(&E.done, BENCH_WAIT_S, "call replies");
	double dt = bench_now() - t0;
	bench_drain(rt);
	if (atomic_load(&E.bad))
		bench_die("%llu bad replies",
			  (unsigned long long)atomic_load(&E.bad));
	mn_call_stats st = cstats(rt);
	if (st.completed != n || st.pending != 0)
		bench_die("completed %llu of %llu, %llu pending",
			  (unsigned long long)st.completed,
			  (unsigned long long)n,
			  (unsigned long long)st.pending);
	mn_runtime_close(rt);
	bench_rm_rf(dir);
	qsort(E.lat, n, sizeof(double), cmp_double);
	qsort(E.io_lat, n, sizeof(double), cmp_double);
	return (rate){.per_s = (double)n / dt,
		      .p50 = quantile(E.lat, n, 0.5),
		      .p99 = quantile(E.lat, n, 0.99),
		      .io_p50 = quantile(E.io_lat, n, 0.5)};
}

static rate run_peer(uint64_t n, double *lat)
{
	curl_peer_result r = curl_peer_run(echo_url, n, CONC, lat);
	if (r.completed != n)
		bench_die("peer: %llu of %llu completed, %llu failed",
			  (unsigned long long)r.completed,
			  (unsigned long long)n, (unsigned long long)r.failed);
	qsort(lat, n, sizeof(double), cmp_double);
	return (rate){.per_s = (double)n / r.seconds,
		      .p50 = quantile(lat, n, 0.5),
		      .p99 = quantile(lat, n, 0.99)};
}

/* The better of two runs: by rate, and the lower latencies. */
static rate best(rate a, rate b)
{
	return (rate){.per_s = a.per_s > b.per_s ? a.per_s : b.per_s,
		      .p50 = a.p50 < b.p50 ? a.p50 : b.p50,
		      .p99 = a.p99 < b.p99 ? a.p99 : b.p99,
		      .io_p50 = a.io_p50 < b.io_p50 ? a.io_p50 : b.io_p50};
}

static void rate_line(const char *metric, double value, const char *unit,
		      uint64_t n, const char *mode, struct bench_json *j)
{
	line(metric, value, unit, n, j);
	bench_json_str(j, "mode", mode);
	bench_json_u64(j, "concurrency", CONC);
}

static void run_rate(void)
{
	uint64_t n = bench_size(20000, 200000);
	snprintf(echo_url, sizeof echo_url, "%s/echo", srv_base);
	E.lat = calloc(n, sizeof(double));
	E.io_lat = calloc(n, sizeof(double));
	double *plat = calloc(n, sizeof(double));
	if (!E.lat || !E.io_lat || !plat)
		bench_die("out of memory");
	bench_done_init(&E.done);
	static const struct {
		int durability;
		const char *name;
	} modes[] = {{MN_DURABILITY_RELAXED, "relaxed"},
		     {MN_DURABILITY_SYNC, "sync"}};
	rate peer = run_peer(n, plat);
	for (size_t m = 0; m < 2; m++) {
		rate mn = run_mnemo(modes[m].durability, n);
		peer = best(peer, run_peer(n, plat));
		mn = best(mn, run_mnemo(modes[m].durability, n));
		bench_note("%s: mnemo %.0f calls/s (p50 %.3f ms, p99 %.3f ms, "
			   "I/O p50 %.3f ms); peer %.0f/s (p50 %.3f ms, p99 "
			   "%.3f ms)",
			   modes[m].name, mn.per_s, mn.p50 * 1e3, mn.p99 * 1e3,
			   mn.io_p50 * 1e3, peer.per_s, peer.p50 * 1e3,
			   peer.p99 * 1e3);
		struct bench_json j;
		rate_line("calls_per_s", mn.per_s, "calls/s", n, modes[m].name,
			  &j);
		bench_json_peer(&j, "bare_curl_multi", peer.per_s,
				mn.per_s / peer.per_s);
		bench_json_end(&j);
		rate_line("call_latency_p50_ms", mn.p50 * 1e3, "ms", n,
			  modes[m].name, &j);
		bench_json_f64(&j, "added_ms", (mn.p50 - peer.p50) * 1e3);
		bench_json_f64(&j, "io_p50_ms", mn.io_p50 * 1e3);
		bench_json_peer(&j, "bare_curl_multi", peer.p50 * 1e3,
				peer.p50 / mn.p50);
		bench_json_end(&j);
		rate_line("call_latency_p99_ms", mn.p99 * 1e3, "ms", n,
			  modes[m].name, &j);
		bench_json_f64(&j, "added_ms", (mn.p99 - peer.p99) * 1e3);
		bench_json_peer(&j, "bare_curl_multi", peer.p99 * 1e3,
				peer.p99 / mn.p99);
		bench_json_end(&j);
	}
	bench_done_destroy(&E.done);
	free(E.lat);
	free(E.io_lat);
	free(plat);
}

/* ---- timer lateness ----------------------------------------------------- */

static struct {
	_Atomic uint64_t fired;
	uint64_t n;
	double *late_ms;
	struct bench_done done;
} T;

static int timer_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	(void)state;
	uint64_t p[2]; /* armed at (unix us), delay (ms) */
	if (mn_ctx_replaying(ctx))
		return 0;
	if (msg->type == T_ARM) {
		uint64_t delay;
		if (msg->len != 8)
			return MN_EINVAL;
		memcpy(&delay, msg->payload, 8);
		p[0] = now_us_real();
		p[1] = delay;
		return mn_ctx_after(ctx, delay, T_FIRE, p, sizeof p, NULL);
	}
	if (msg->type != T_FIRE || msg->len != sizeof p)
		return MN_EINVAL;
	memcpy(p, msg->payload, sizeof p);
	double late =
	    ((double)now_us_real() - (double)(p[0] + p[1] * 1000)) / 1000.0;
	uint64_t i = atomic_fetch_add(&T.fired, 1);
	if (i < T.n)
		T.late_ms[i] = late;
	if (i + 1 == T.n)
		bench_done_signal(&T.done, i + 1);
	return 0;
}

static double cpu_seconds(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

/* A line of the timer part, with its reference: the polling interval. */
static void timer_line(const char *metric, double value, const char *unit,
		       uint64_t n)
{
	struct bench_json j;
	line(metric, value, unit, n, &j);
	bench_json_str(&j, "mechanism",
		       "I/O loop wake-up at the next due time");
	bench_json_u64(&j, "poll_ms", MAINT_POLL_MS);
	bench_json_end(&j);
}

static void run_timers(void)
{
	uint64_t n = bench_size(2000, 20000);
	char dir[] = "/tmp/mnemo-bench-calls-timers-XXXXXX";
	mn_runtime *rt = open_store(dir, MN_DURABILITY_RELAXED, 0);
	mn_kind *k =
	    bench_kind(rt, "timer", null_init, timer_handle, NULL, NULL);

	/* Idle: a runtime with a store and nothing to do. */
	unsigned char key[8];
	bench_key_put(key, 0);
	uint64_t zero = 1;
	bench_check(mn_send(rt, k, key, 8, T_ARM, &zero, 8), "mn_send");
	bench_drain(rt);
	usleep(200000);
	double c0 = cpu_seconds(), w0 = bench_now();
	usleep(2000000);
	double idle = (cpu_seconds() - c0) / (bench_now() - w0) * 100;

	T.n = n;
	T.late_ms = calloc(n, sizeof(double));
	if (!T.late_ms)
		bench_die("out of memory");
	atomic_store(&T.fired, 0);
	bench_done_init(&T.done);
	for (uint64_t i = 0; i < n; i++) {
		uint64_t delay = 20 + (i * 7919) % 500;
		bench_key_put(key, i % TIMER_ACTORS);
		bench_check(mn_send(rt, k, key, 8, T_ARM, &delay, 8),
			    "mn_send");
	}
	bench_done_wait(&T.done, BENCH_WAIT_S, "timers");
	bench_drain(rt);
	mn_runtime_close(rt);
	bench_rm_rf(dir);
	qsort(T.late_ms, n, sizeof(double), cmp_double);
	bench_note("timers: lateness min %.3f p50 %.3f p99 %.3f max %.3f ms; "
		   "idle CPU %.2f%%",
		   T.late_ms[0], quantile(T.late_ms, n, 0.5),
		   quantile(T.late_ms, n, 0.99), T.late_ms[n - 1], idle);

	timer_line("timer_lateness_p50_ms", quantile(T.late_ms, n, 0.5), "ms",
		   n);
	timer_line("timer_lateness_p99_ms", quantile(T.late_ms, n, 0.99), "ms",
		   n);
	timer_line("idle_cpu_percent", idle, "%", 1);
	bench_done_destroy(&T.done);
	free(T.late_ms);
}

int main(void)
{
	bench_init("calls");
	/* Sockets: INFLIGHT connections here, as many in the stand-in
	 * (which inherits the limit). */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	/* BENCH_CALLS_PART=rate|timers|held runs one part (default all). */
	const char *part = getenv("BENCH_CALLS_PART");
	if (!part || !*part)
		part = "all";
	srv_start();
	atexit(srv_stop_at_exit);
	if (!strcmp(part, "all") || !strcmp(part, "rate"))
		run_rate();
	if (!strcmp(part, "all") || !strcmp(part, "timers"))
		run_timers();
	/* Last: the held connections stay open in the stand-in. */
	if (!strcmp(part, "all") || !strcmp(part, "held"))
		run_held();
	srv_stop();
	return 0;
}
