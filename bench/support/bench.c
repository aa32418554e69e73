/*
 * bench.c - the helpers declared in bench.h: clock, environment, /proc memory
 * readers, runtime shortcuts that die on error, per-worker counters, the done
 * latch, and the JSON line writer. Benchmarks are programs, so unlike library
 * code these helpers print to stderr and exit on failure.
 */
#include "bench/support/bench.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *prog = "bench";

void bench_init(const char *name)
{
	prog = name;
}

void bench_die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "bench %s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stdout);
	exit(1);
}

void bench_note(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "bench %s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void bench_check(int rc, const char *what)
{
	if (rc != 0)
		bench_die("%s: %s (%s)", what, mn_err_name(rc),
			  mn_strerror(rc));
}

double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int bench_full(void)
{
	const char *s = getenv("BENCH_SCALE");

	return s != NULL && strcmp(s, "full") == 0;
}

uint64_t bench_size(uint64_t dflt, uint64_t full)
{
	return bench_full() ? full : dflt;
}

unsigned bench_threads(void)
{
	const char *s = getenv("BENCH_THREADS");

	if (s != NULL && *s != '\0') {
		char *end;
		unsigned long v;

		errno = 0;
		v = strtoul(s, &end, 10);
		if (errno != 0 || *end != '\0' || v < 1 || v > MN_WORKERS_MAX)
			bench_die("BENCH_THREADS=%s: want 1..%d", s,
				  MN_WORKERS_MAX);
		return (unsigned)v;
	}
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		n = 1;
	if (n > MN_WORKERS_MAX)
		n = MN_WORKERS_MAX;
	return (unsigned)n;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double bench_median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

uint64_t bench_rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long size, resident;

	if (f == NULL)
		bench_die("opening /proc/self/statm: %s", strerror(errno));
	if (fscanf(f, "%lu %lu", &size, &resident) != 2)
		bench_die("reading /proc/self/statm: unexpected format");
	fclose(f);
	return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

uint64_t bench_peak_rss_bytes(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	unsigned long kb = 0;
	int found = 0;

	if (f == NULL)
		bench_die("opening /proc/self/status: %s", strerror(errno));
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "VmHWM: %lu kB", &kb) == 1) {
			found = 1;
			break;
		}
	}
	fclose(f);
	if (!found)
		bench_die("no VmHWM in /proc/self/status");
	return (uint64_t)kb * 1024;
}

mn_runtime *bench_runtime_open(unsigned workers)
{
	mn_runtime_opts opts = {.workers = workers, .max_payload = 0};
	mn_runtime *rt = NULL;

	bench_check(mn_runtime_open(&opts, &rt), "mn_runtime_open");
	return rt;
}

mn_kind *bench_kind(mn_runtime *rt, const char *name,
		    int (*init)(mn_ctx *, void **),
		    int (*handle)(mn_ctx *, void *, const mn_msg *),
		    void (*free_state)(void *), void *arg)
{
	mn_kind_def def = {
	    .name = name,
	    .flags = 0,
	    .arg = arg,
	    .init = init,
	    .handle = handle,
	    .free = free_state,
	};
	mn_kind *kind = NULL;

	bench_check(mn_kind_register(rt, &def, &kind), "mn_kind_register");
	return kind;
}

void bench_note_stats(mn_runtime *rt, const char *what)
{
	mn_runtime_stats st;

	mn_runtime_stats_get(rt, &st);
	bench_note("%s: actors %llu, sent %llu, processed %llu, errors %llu, "
		   "steals %llu, sleeps %llu, workers %u",
		   what, (unsigned long long)st.actors,
		   (unsigned long long)st.sent,
		   (unsigned long long)st.processed,
		   (unsigned long long)st.handler_errors,
		   (unsigned long long)st.steals, (unsigned long long)st.sleeps,
		   st.workers);
}

void bench_drain(mn_runtime *rt)
{
	bench_check(mn_runtime_drain(rt), "mn_runtime_drain");
}

uint64_t bench_self_key(const mn_ctx *ctx)
{
	mn_addr self;

	mn_ctx_self(ctx, &self);
	if (self.key_len != 8)
		bench_die("actor key of %zu bytes, expected 8", self.key_len);
	return bench_key_get(self.key);
}

void bench_counter_reset(struct bench_counter *c)
{
	for (int i = 0; i < MN_WORKERS_MAX; i++)
		atomic_store_explicit(&c->slot[i].v, 0, memory_order_relaxed);
}

uint64_t bench_counter_sum(struct bench_counter *c)
{
	uint64_t sum = 0;

	for (int i = 0; i < MN_WORKERS_MAX; i++)
		sum +=
		    atomic_load_explicit(&c->slot[i].v, memory_order_relaxed);
	return sum;
}

void bench_done_init(struct bench_done *d)
{
	pthread_condattr_t ca;

	pthread_mutex_init(&d->mu, NULL);
	pthread_condattr_init(&ca);
	/* Timed waits measure against the monotonic clock. */
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&d->cv, &ca);
	pthread_condattr_destroy(&ca);
	d->done = 0;
	d->value = 0;
}

void bench_done_destroy(struct bench_done *d)
{
	pthread_cond_destroy(&d->cv);
	pthread_mutex_destroy(&d->mu);
}

void bench_done_reset(struct bench_done *d)
{
	pthread_mutex_lock(&d->mu);
	d->done = 0;
	d->value = 0;
	pthread_mutex_unlock(&d->mu);
}

void bench_done_signal(struct bench_done *d, uint64_t value)
{
	pthread_mutex_lock(&d->mu);
	d->done = 1;
	d->value = value;
	pthread_cond_signal(&d->cv);
	pthread_mutex_unlock(&d->mu);
}

uint64_t bench_done_wait(struct bench_done *d, double timeout_s,
			 const char *what)
{
	struct timespec ts;
	uint64_t value;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)timeout_s;
	ts.tv_nsec += (long)((timeout_s - floor(timeout_s)) * 1e9);
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&d->mu);
	while (!d->done) {
		int rc = pthread_cond_timedwait(&d->cv, &d->mu, &ts);
		if (rc == ETIMEDOUT && !d->done)
			bench_die("%s: not done after %.0f s (lost message?)",
				  what, timeout_s);
	}
	value = d->value;
	pthread_mutex_unlock(&d->mu);
	return value;
}

/* Append formatted text; a line longer than the buffer is a program bug. */
static void json_put(struct bench_json *j, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void json_put(struct bench_json *j, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(j->buf + j->len, sizeof(j->buf) - j->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(j->buf) - j->len)
		bench_die("JSON line too long");
	j->len += (size_t)n;
}

static void json_string(struct bench_json *j, const char *s)
{
	json_put(j, "\"");
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			json_put(j, "\\%c", c);
		else if (c < 0x20)
			json_put(j, "\\u%04x", c);
		else
			json_put(j, "%c", c);
	}
	json_put(j, "\"");
}

/* Numbers: integers (up to 2^53) exactly, others with 6 significant digits.
 * JSON has no NaN or infinity, so those mean a broken measurement. */
static void json_number(struct bench_json *j, double v)
{
	if (!isfinite(v))
		bench_die("non-finite number in JSON output");
	if (v == floor(v) && fabs(v) < 9007199254740992.0)
		json_put(j, "%.0f", v);
	else
		json_put(j, "%.6g", v);
}

static void json_key(struct bench_json *j, const char *key)
{
	json_put(j, ",");
	json_string(j, key);
	json_put(j, ":");
}

void bench_json_begin(struct bench_json *j, const char *bench,
		      const char *metric, double value, const char *unit)
{
	j->len = 0;
	json_put(j, "{\"bench\":");
	json_string(j, bench);
	json_key(j, "metric");
	json_string(j, metric);
	json_key(j, "value");
	json_number(j, value);
	json_key(j, "unit");
	json_string(j, unit);
}

void bench_json_u64(struct bench_json *j, const char *key, uint64_t v)
{
	json_key(j, key);
	json_put(j, "%llu", (unsigned long long)v);
}

void bench_json_f64(struct bench_json *j, const char *key, double v)
{
	json_key(j, key);
	json_number(j, v);
}

void bench_json_str(struct bench_json *j, const char *key, const char *v)
{
	json_key(j, key);
	json_string(j, v);
}

void bench_json_peer(struct bench_json *j, const char *peer, double peer_value,
		     double ratio)
{
	bench_json_str(j, "peer", peer);
	bench_json_f64(j, "peer_value", peer_value);
	bench_json_f64(j, "ratio", ratio);
}

void bench_json_end(struct bench_json *j)
{
	json_put(j, "}\n");
	fputs(j->buf, stdout);
	fflush(stdout);
}

/* ---- store directories and hashing ----------------------------------------
 */

/* The store directory of the run in progress, removed at exit. */
static char store_dir[256];

static void store_dir_cleanup(void)
{
	char cmd[600];
	if (!store_dir[0])
		return;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", store_dir);
	store_dir[0] = 0;
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", cmd + 7);
}

void bench_store_dir(char *tmpl)
{
	static int registered;
	if (!mkdtemp(tmpl))
		bench_die("mkdtemp failed");
	snprintf(store_dir, sizeof store_dir, "%s", tmpl);
	if (!registered++)
		atexit(store_dir_cleanup);
}

void bench_rm_rf(const char *dir)
{
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		bench_die("cannot remove %s", dir);
	if (strcmp(dir, store_dir) == 0)
		store_dir[0] = 0;
}

uint64_t bench_hash(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	uint64_t w;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		memcpy(&w, b + i, 8);
		h = (h ^ w) * 0x100000001b3ull;
		h ^= h >> 29;
	}
	for (; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h ^ n;
}
