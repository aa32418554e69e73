/*
 * support.c - the shared test helpers declared in support.h: size scaling,
 * seeded random numbers, failure records written by worker threads and
 * checked on the main thread, runtime and key helpers, a counting kind, and
 * a barrier-started thread group.
 */
#include "tests/support/support.h"

#include <fcntl.h>
#include <lmdb.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#include "schema/mnemo.pb-c.h"
#include "storage/store.h"
#include "base/crc32c.h"

#define MT_SEED_DEFAULT 0x6d6e656d6f2d7465ull

/* ---- sizes, seeds, time ---------------------------------------------- */

static double scale_value;
static uint64_t seed_value;
static int seed_set;

double mt_scale(void)
{
	if (scale_value > 0)
		return scale_value;
	const char *s = getenv("MN_TEST_SCALE");
	double v = 0;
	if (s && *s)
		v = strtod(s, NULL);
	if (!(v > 0))
		v = MT_TSAN ? 0.3 : 1.0;
	scale_value = v;
	return v;
}

size_t mt_scaled(size_t n, size_t min)
{
	double v = (double)n * mt_scale();
	size_t r = v < 1 ? 0 : (size_t)v;
	return r < min ? min : r;
}

uint64_t mt_seed(void)
{
	if (!seed_set) {
		const char *s = getenv("MN_TEST_SEED");
		seed_value = (s && *s) ? strtoull(s, NULL, 0) : MT_SEED_DEFAULT;
		seed_set = 1;
	}
	return seed_value;
}

/* Seconds one test may take before the watchdog ends the binary. */
static unsigned watchdog_s;

static void watchdog_fired(int sig)
{
	(void)sig;
	static const char msg[] = "watchdog: test still running after "
				  "MN_TEST_TIMEOUT seconds (hung?)\n";
	(void)!write(STDERR_FILENO, msg, sizeof msg - 1);
	_exit(124);
}

void mt_init(const char *suite)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	const char *t = getenv("MN_TEST_TIMEOUT");
	watchdog_s = (t && *t) ? (unsigned)strtoul(t, NULL, 10) : 60;
	signal(SIGALRM, watchdog_fired);
	printf("# %s: scale %g (MN_TEST_SCALE), seed %llu (MN_TEST_SEED), "
	       "%u s per test (MN_TEST_TIMEOUT)%s\n",
	       suite, mt_scale(), (unsigned long long)mt_seed(), watchdog_s,
	       MT_TSAN ? ", tsan" : "");
}

void mt_rng_init(mt_rng *r, uint64_t stream)
{
	r->s = mt_seed() ^ (stream * 0x9e3779b97f4a7c15ull);
	(void)mt_rng_next(r);
}

uint64_t mt_rng_next(mt_rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

uint64_t mt_rng_below(mt_rng *r, uint64_t n)
{
	return mt_rng_next(r) % n;
}

double mt_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void mt_sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0)
		;
}

int mt_wait_u64(_Atomic uint64_t *v, uint64_t want, double timeout_s)
{
	double end = mt_now() + timeout_s;
	struct timespec ts = {0, 100000};
	for (;;) {
		if (atomic_load_explicit(v, memory_order_acquire) >= want)
			return 1;
		if (mt_now() > end)
			return 0;
		nanosleep(&ts, NULL);
	}
}

/* ---- failures on other threads --------------------------------------- */

/* fail_text is written once per test by the thread that wins fail_claimed,
 * then published by the release store to fail_ready (paired with the
 * acquire load in mt_assert_no_failures_at). */
static _Atomic uint64_t fail_count;
static atomic_flag fail_claimed = ATOMIC_FLAG_INIT;
static _Atomic int fail_ready;
static char fail_text[512];

static void fail_record(const char *file, int line, const char *fmt, va_list ap)
{
	if (!atomic_flag_test_and_set_explicit(&fail_claimed,
					       memory_order_acq_rel)) {
		int n = snprintf(fail_text, sizeof fail_text, "%s:%d: ", file,
				 line);
		if (n < 0 || (size_t)n >= sizeof fail_text)
			n = 0;
		vsnprintf(fail_text + n, sizeof fail_text - (size_t)n, fmt, ap);
		atomic_store_explicit(&fail_ready, 1, memory_order_release);
	}
	atomic_fetch_add_explicit(&fail_count, 1, memory_order_acq_rel);
}

void mt_fail_at(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fail_record(file, line, fmt, ap);
	va_end(ap);
}

int mt_check_at(int ok, const char *file, int line, const char *expr)
{
	if (!ok)
		mt_fail_at(file, line, "check failed: %s", expr);
	return ok;
}

int mt_checkf_at(int ok, const char *file, int line, const char *fmt, ...)
{
	if (!ok) {
		va_list ap;
		va_start(ap, fmt);
		fail_record(file, line, fmt, ap);
		va_end(ap);
	}
	return ok;
}

uint64_t mt_failures(void)
{
	return atomic_load_explicit(&fail_count, memory_order_acquire);
}

void mt_assert_no_failures_at(const char *file, int line)
{
	uint64_t n = mt_failures();
	if (n == 0)
		return;
	int ready = atomic_load_explicit(&fail_ready, memory_order_acquire);
	print_error("%llu check(s) failed on other threads; first: %s\n",
		    (unsigned long long)n,
		    ready ? fail_text : "(not recorded)");
	_fail(file, line);
}

int mt_setup(void **state)
{
	(void)state;
	alarm(watchdog_s);
	atomic_store(&fail_count, 0);
	atomic_store(&fail_ready, 0);
	atomic_flag_clear(&fail_claimed);
	return 0;
}

void mt_assert_rc_at(int got, int want, const char *expr, const char *file,
		     int line)
{
	if (got == want)
		return;
	print_error("%s returned %d (%s), expected %d (%s)\n", expr, got,
		    mn_err_name(got), want, mn_err_name(want));
	_fail(file, line);
}

/* ---- runtime helpers -------------------------------------------------- */

mn_runtime *mt_open(unsigned workers, size_t max_payload)
{
	mn_runtime_opts o = {.workers = workers, .max_payload = max_payload};
	mn_runtime *rt = NULL;
	assert_rc(mn_runtime_open(&o, &rt), 0);
	assert_non_null(rt);
	return rt;
}

mn_kind *mt_register(mn_runtime *rt, const mn_kind_def *def)
{
	mn_kind *k = NULL;
	assert_rc(mn_kind_register(rt, def, &k), 0);
	assert_non_null(k);
	return k;
}

void mt_drain(mn_runtime *rt)
{
	assert_rc(mn_runtime_drain(rt), 0);
}

mn_runtime_stats mt_stats(mn_runtime *rt)
{
	mn_runtime_stats st;
	memset(&st, 0xa5, sizeof st);
	mn_runtime_stats_get(rt, &st);
	return st;
}

/* ---- keys --------------------------------------------------------------- */

void mt_put_u64(void *p, uint64_t v)
{
	unsigned char *b = p;
	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(v >> (8 * i));
}

uint64_t mt_get_u64(const void *p)
{
	const unsigned char *b = p;
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return v;
}

void mt_key_put(unsigned char key[MT_KEY_LEN], uint64_t v)
{
	mt_put_u64(key, v);
}

int mt_key_get(const void *key, size_t len, uint64_t *v)
{
	if (len != MT_KEY_LEN || !key)
		return 0;
	*v = mt_get_u64(key);
	return 1;
}

int mt_self_u64(const mn_ctx *ctx, uint64_t *v)
{
	mn_addr a = {0};
	mn_ctx_self(ctx, &a);
	return MT_CHECKF(mt_key_get(a.key, a.key_len, v),
			 "actor key of %zu bytes, expected %d", a.key_len,
			 MT_KEY_LEN);
}

int mt_sender_u64(const mn_ctx *ctx, uint64_t *v)
{
	mn_addr a = {0};
	if (mn_ctx_sender(ctx, &a) != 0)
		return 0;
	return mt_key_get(a.key, a.key_len, v);
}

/* ---- the counting kind ----------------------------------------------- */

#define MT_STATE_MAGIC 0x636f756e74737461ull
#define MT_STATE_DEAD  0xdeaddeaddeaddeadull

/* The state records its counters, since free() gets no ctx. */
typedef struct mt_cstate {
	uint64_t magic;
	uint64_t handled;
	mt_counts *counts;
} mt_cstate;

void mt_counts_reset(mt_counts *c)
{
	atomic_store(&c->inits, 0);
	atomic_store(&c->handles, 0);
	atomic_store(&c->frees, 0);
	atomic_store(&c->bytes, 0);
}

static int counting_init(mn_ctx *ctx, void **state)
{
	mt_counts *c = mn_ctx_kind_arg(ctx);
	mt_cstate *s = malloc(sizeof *s);
	if (!MT_CHECK(s != NULL))
		return MN_ENOMEM;
	s->magic = MT_STATE_MAGIC;
	s->handled = 0;
	s->counts = c;
	*state = s;
	atomic_fetch_add_explicit(&c->inits, 1, memory_order_relaxed);
	return 0;
}

static int counting_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	mt_counts *c = mn_ctx_kind_arg(ctx);
	mt_cstate *s = state;
	if (!MT_CHECK(s != NULL && s->magic == MT_STATE_MAGIC))
		return MN_EINVAL;
	s->handled++;
	atomic_fetch_add_explicit(&c->bytes, msg->len, memory_order_relaxed);
	atomic_fetch_add_explicit(&c->handles, 1, memory_order_relaxed);
	return 0;
}

static void counting_free(void *state)
{
	mt_cstate *s = state;
	if (!MT_CHECK(s != NULL && s->magic == MT_STATE_MAGIC))
		return;
	mt_counts *c = s->counts;
	s->magic = MT_STATE_DEAD;
	free(s);
	atomic_fetch_add_explicit(&c->frees, 1, memory_order_relaxed);
}

mn_kind_def mt_counting_kind(const char *name, mt_counts *c)
{
	mn_kind_def d = {
	    .name = name,
	    .arg = c,
	    .init = counting_init,
	    .handle = counting_handle,
	    .free = counting_free,
	};
	return d;
}

/* ---- threads ---------------------------------------------------------- */

typedef struct mt_thread {
	pthread_t tid;
	unsigned i;
	mt_thread_fn fn;
	void *arg;
	pthread_barrier_t *bar;
} mt_thread;

static void *thread_main(void *p)
{
	mt_thread *t = p;
	pthread_barrier_wait(t->bar);
	t->fn(t->i, t->arg);
	return NULL;
}

void mt_parallel(unsigned n, mt_thread_fn fn, void *arg)
{
	mt_thread *ts = calloc(n, sizeof *ts);
	pthread_barrier_t bar;
	assert_non_null(ts);
	assert_int_equal(pthread_barrier_init(&bar, NULL, n), 0);
	for (unsigned i = 0; i < n; i++) {
		ts[i] = (mt_thread){.i = i, .fn = fn, .arg = arg, .bar = &bar};
		assert_int_equal(
		    pthread_create(&ts[i].tid, NULL, thread_main, &ts[i]), 0);
	}
	for (unsigned i = 0; i < n; i++)
		pthread_join(ts[i].tid, NULL);
	pthread_barrier_destroy(&bar);
	free(ts);
}

/* ---- a store's raw records ------------------------------------------------
 */

void mt_store_poke(const char *dir, const char *db, const void *k, size_t klen,
		   const void *v, size_t vlen)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	assert_int_equal(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 16);
	assert_int_equal(mdb_env_open(env, dir, 0, 0640), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, db, 0, &dbi), 0);
	MDB_val key = {.mv_size = klen, .mv_data = (void *)k};
	MDB_val val = {.mv_size = vlen, .mv_data = (void *)v};
	assert_int_equal(mdb_put(txn, dbi, &key, &val, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

size_t mt_store_peek(const char *dir, const char *db, const void *k,
		     size_t klen, void *buf, size_t cap)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val key = {.mv_size = klen, .mv_data = (void *)k}, val;
	assert_int_equal(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 16);
	assert_int_equal(mdb_env_open(env, dir, MDB_RDONLY, 0640), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, db, 0, &dbi), 0);
	assert_int_equal(mdb_get(txn, dbi, &key, &val), 0);
	assert_true(val.mv_size <= cap);
	memcpy(buf, val.mv_data, val.mv_size);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	return val.mv_size;
}

char *mt_map_base(const char *path)
{
	char line[1024];
	unsigned long long lo = 0, off = 1;
	FILE *f = fopen("/proc/self/maps", "r");
	assert_non_null(f);
	while (fgets(line, sizeof line, f)) {
		size_t n = strlen(line), pl = strlen(path);
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = 0;
		if (n > pl && strcmp(line + n - pl, path) == 0 &&
		    sscanf(line, "%llx-%*x %*s %llx", &lo, &off) == 2)
			break;
	}
	fclose(f);
	if (!lo || off != 0)
		fail_msg("no mapping of %s in /proc/self/maps", path);
	return (char *)(uintptr_t)lo;
}

uint64_t mt_store_key_offset(const char *dir, const char *db, const void *k,
			     size_t klen)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_cursor *c;
	MDB_val key = {.mv_size = klen, .mv_data = (void *)k}, val;
	char path[600];
	snprintf(path, sizeof path, "%s/data.mdb", dir);
	assert_int_equal(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 16);
	assert_int_equal(mdb_env_open(env, dir, MDB_RDONLY, 0640), 0);
	char *base = mt_map_base(path);
	assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, db, 0, &dbi), 0);
	assert_int_equal(mdb_cursor_open(txn, dbi, &c), 0);
	/* MDB_SET_KEY hands back the key as stored, inside the map. */
	assert_int_equal(mdb_cursor_get(c, &key, &val, MDB_SET_KEY), 0);
	assert_true(key.mv_data != k);
	uint64_t off = (uint64_t)((char *)key.mv_data - base);
	mdb_cursor_close(c);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	return off;
}

void mt_store_flip(const char *dir, uint64_t off, unsigned char x)
{
	char p[600];
	unsigned char b;
	snprintf(p, sizeof p, "%s/data.mdb", dir);
	int fd = open(p, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, (off_t)off), 1);
	b ^= x;
	assert_int_equal(pwrite(fd, &b, 1, (off_t)off), 1);
	close(fd);
}

void mt_store_set_format(const char *dir, uint32_t format_version)
{
	Mnemo__StoreHeader h = MNEMO__STORE_HEADER__INIT;
	unsigned char buf[256];
	h.format_version = format_version;
	size_t n = mnemo__store_header__pack(&h, buf + 8);
	buf[4] = 1; /* record type: header */
	buf[5] = 1; /* frame version */
	buf[6] = buf[7] = 0;
	uint32_t crc = mn__crc32c(0, buf + 4, n + 4);
	for (int i = 0; i < 4; i++)
		buf[i] = (unsigned char)(crc >> (8 * i)); /* little-endian */
	mt_store_poke(dir, "meta", "header", 6, buf, n + 8);
}

/* ---- the tool ------------------------------------------------------------ */

void mt_tool_path(char *buf, size_t cap)
{
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	assert_true(n > 0);
	self[n] = 0;
	char *t = NULL;
	for (char *p = strstr(self, "/tests/"); p; p = strstr(p + 1, "/tests/"))
		t = p;
	assert_non_null(t);
	*t = 0;
	assert_true(snprintf(buf, cap, "%s/mnemo", self) < (int)cap);
	if (access(buf, X_OK) != 0)
		fail_msg("no tool at %s (make all builds it)", buf);
}

int mt_tool_run(const char *tool, const char *args, const char *errpath,
		char *out, size_t outcap, char *err, size_t errcap)
{
	size_t cap = strlen(tool) + strlen(args) + strlen(errpath) + 16;
	char *cmd = malloc(cap);
	assert_non_null(cmd);
	snprintf(cmd, cap, "'%s' %s 2>'%s'", tool, args, errpath);
	fflush(stdout);
	FILE *p = popen(cmd, "r");
	free(cmd);
	assert_non_null(p);
	size_t n = fread(out, 1, outcap - 1, p);
	out[n] = 0;
	assert_true(n < outcap - 1);
	int st = pclose(p);
	FILE *f = fopen(errpath, "r");
	size_t m = 0;
	if (f) {
		m = fread(err, 1, errcap - 1, f);
		fclose(f);
	}
	err[m] = 0;
	unlink(errpath);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static char tool_bin[4096], tool_errpath[4096];

void mt_tool_setup(const char *scratch_dir)
{
	mt_tool_path(tool_bin, sizeof tool_bin);
	assert_true(snprintf(tool_errpath, sizeof tool_errpath, "%s/stderr",
			     scratch_dir) < (int)sizeof tool_errpath);
}

int mt_build_plugin(const char *src, const char *out)
{
	return mt_build_plugin_with(src, out, "");
}

int mt_build_plugin_with(const char *src, const char *out, const char *defs)
{
	char cmd[1024];
	if (access(src, R_OK) != 0) {
		print_message("%s not found: run from the repository's root\n",
			      src);
		return -1;
	}
	snprintf(cmd, sizeof cmd,
		 "cc -std=c11 -shared -fPIC -O1 -Iinclude %s -o '%s' '%s'",
		 defs, out, src);
	if (system(cmd) != 0) {
		print_message("building the plugin failed: %s\n", cmd);
		return -1;
	}
	return 0;
}

pid_t mt_serve_spawn(char *const argv[], const char *portf, const char *logf,
		     unsigned *port)
{
	unlink(portf);
	fflush(stdout);
	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		FILE *e = freopen(logf, "w", stderr);
		(void)e;
		execv(argv[0], argv);
		_exit(127);
	}
	*port = 0;
	for (int i = 0; i < 2000; i++) {
		FILE *f = fopen(portf, "r");
		if (f) {
			int n = fscanf(f, "%u", port);
			fclose(f);
			if (n == 1 && *port)
				return child;
		}
		int st;
		if (waitpid(child, &st, WNOHANG) == child)
			fail_msg("mnemo serve exited early (see %s)", logf);
		mt_sleep_ms(10);
	}
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	fail_msg("mnemo serve did not write its port (see %s)", logf);
	return -1;
}

int mt_child_wait(pid_t pid, double secs)
{
	int st;
	double t0 = mt_now();
	while (mt_now() - t0 < secs) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st)
					     : 128 + WTERMSIG(st);
		mt_sleep_ms(10);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

pid_t mt_serve_in(const char *dir, const char *plugin, const char *token,
		  const char *threads, const char *workers, char *store,
		  char *logf, size_t cap, unsigned *port)
{
	char tool[512], tokens[600], portf[600];
	snprintf(store, cap, "%s/store", dir);
	snprintf(logf, cap, "%s/serve.log", dir);
	snprintf(tokens, sizeof tokens, "%s/tokens", dir);
	snprintf(portf, sizeof portf, "%s/port", dir);
	FILE *f = fopen(tokens, "w");
	assert_non_null(f);
	fprintf(f, "%s\n", token);
	assert_int_equal(fclose(f), 0);
	mt_tool_path(tool, sizeof tool);
	char *const argv[] = {
	    tool,	    "serve",	     "--plugin",    (char *)plugin,
	    "--listen",	    "127.0.0.1:0",   "--port-file", portf,
	    "--token-file", tokens,	     "--threads",   (char *)threads,
	    "--workers",    (char *)workers, store,	    NULL};
	return mt_serve_spawn(argv, portf, logf, port);
}

int mt_serve_stop(pid_t pid)
{
	kill(pid, SIGTERM);
	return mt_child_wait(pid, 30);
}

int mt_tool(mt_tool_res *r, const char *fmt, ...)
{
	char args[2048];
	va_list ap;
	assert_true(tool_bin[0]); /* mt_tool_setup first */
	va_start(ap, fmt);
	assert_true(vsnprintf(args, sizeof args, fmt, ap) < (int)sizeof args);
	va_end(ap);
	r->status = mt_tool_run(tool_bin, args, tool_errpath, r->out,
				sizeof r->out, r->err, sizeof r->err);
	return r->status;
}

void mt_expect_exit_at(const mt_tool_res *r, int want, const char *file,
		       int line)
{
	if (r->status == want)
		return;
	print_error("exit %d, expected %d\nstdout:\n%.8000s\nstderr:\n%s\n",
		    r->status, want, r->out, r->err);
	_fail(file, line);
}

void mt_expect_in_at(const char *hay, const char *needle, bool want,
		     const char *file, int line)
{
	if ((strstr(hay, needle) != NULL) == want)
		return;
	print_error("'%s' %s in:\n%.8000s\n", needle,
		    want ? "not found" : "unexpected", hay);
	_fail(file, line);
}

static void append_env(const char *name, const char *opts)
{
	const char *old = getenv(name);
	char buf[2048];
	snprintf(buf, sizeof buf, "%s%s%s", old ? old : "",
		 old && *old ? ":" : "", opts);
	setenv(name, buf, 1);
}

void mt_tool_crashes_are_signals(void)
{
	static const char opts[] =
	    "handle_segv=0:handle_sigbus=0:handle_abort=0";
	append_env("ASAN_OPTIONS", opts);
	append_env("TSAN_OPTIONS", opts);
}

void mt_scratch_setup(char *dir, size_t cap, const char *tag)
{
	char cmd[700];
	assert_true(snprintf(dir, cap, "/tmp/mnemo-%s-%d", tag, (int)getpid()) <
		    (int)cap);
	mt_tool_setup(dir);
	mt_tool_crashes_are_signals();
	snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
	assert_int_equal(system(cmd), 0);
}

int mt_scratch_remove(const char *dir)
{
	char cmd[700];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- what a deletion leaves ------------------------------------------ */

/* What the store holds of actor id (or addressed to kind/key): counts. */
typedef struct gone_left {
	uint64_t id;
	uint32_t kind_id;
	const char *key;
	uint64_t entries, outbox, quarantine, timers;
} gone_left;

static int gone_entry(void *arg, const mn__entry *e)
{
	gone_left *l = arg;
	if (e->actor_id == l->id)
		l->entries++;
	return 0;
}

static int gone_msg(void *arg, const mn__entry *e)
{
	gone_left *l = arg;
	if (e->actor_id == l->id || e->sender_id == l->id ||
	    (e->kind_id == l->kind_id && e->key_len == strlen(l->key) &&
	     memcmp(e->key, l->key, e->key_len) == 0))
		l->outbox++;
	return 0;
}

static int gone_timer(void *arg, const mn__wtimer *t)
{
	gone_left *l = arg;
	if (t->actor_id == l->id)
		l->timers++;
	return 0;
}

void mt_store_expect_gone(const char *dir, const char *kind, uint64_t id,
			  const char *key)
{
	mn__store *s;
	mn__store_info info;
	mn__codec *codec;
	mn__actor_meta m;
	mn_buf snap;
	uint64_t seq, lsn;
	uint32_t kind_id = 0;
	assert_rc(mn__store_open(dir, &(mn__store_opts){.read_only = true}, &s,
				 &info),
		  0);
	assert_rc(mn__codec_new(mn__store_dicts(s), &codec), 0);
	assert_rc(mn__store_kind_id(s, kind, &kind_id), 0);
	gone_left l = {.id = id, .kind_id = kind_id, .key = key};
	mn__store_set_errdetail("");
	assert_rc(mn__store_actor_find(s, kind_id, key, strlen(key), &m),
		  MN_ENOACTOR);
	/* No name left either (a name without its record says so). */
	assert_null(strstr(mn__store_errdetail(), "actors record"));
	assert_rc(mn__store_actor_get(s, id, &m), MN_ENOACTOR);
	mn__buf_init(&snap);
	assert_rc(mn__store_snapshot_latest(s, codec, id, UINT64_MAX, &snap,
					    &seq, &lsn),
		  MN_ENOACTOR);
	mn__buf_free(&snap);
	assert_rc(mn__store_log_scan(s, codec, 0, gone_entry, &l), 0);
	assert_rc(mn__store_outbox_scan(s, codec, gone_msg, &l), 0);
	assert_rc(mn__store_quarantine_scan(s, codec, gone_msg, &l), 0);
	assert_rc(mn__store_timers_due(s, UINT64_MAX, SIZE_MAX, gone_timer, &l),
		  0);
	size_t marked;
	uint64_t ids[4];
	assert_rc(mn__store_delete_marked(s, ids, 4, &marked), 0);
	mn__codec_free(codec);
	mn__store_close(s);
	assert_int_equal(l.entries, 0);
	assert_int_equal(l.outbox, 0);
	assert_int_equal(l.timers, 0);
	assert_int_equal(marked, 0);
}

static mn__store *store_ro(const char *dir)
{
	mn__store *s;
	mn__store_info info;
	assert_rc(mn__store_open(dir, &(mn__store_opts){.read_only = true}, &s,
				 &info),
		  0);
	return s;
}

uint64_t mt_store_actor_id(const char *dir, const char *kind, const char *key)
{
	mn__store *s = store_ro(dir);
	mn__actor_meta m;
	uint32_t kind_id;
	uint64_t id = 0;
	assert_rc(mn__store_kind_id(s, kind, &kind_id), 0);
	if (mn__store_actor_find(s, kind_id, key, strlen(key), &m) == 0)
		id = m.id;
	mn__store_close(s);
	return id;
}

uint64_t mt_store_actor_seq(const char *dir, uint64_t id)
{
	mn__store *s = store_ro(dir);
	mn__actor_meta m;
	assert_rc(mn__store_actor_get(s, id, &m), 0);
	mn__store_close(s);
	return m.last_seq;
}

typedef struct versions_seen {
	uint32_t *v;
	size_t cap, n;
} versions_seen;

static int version_entry(void *arg, const mn__entry *e)
{
	versions_seen *vs = arg;
	if (e->seq >= 1 && e->seq <= vs->cap)
		vs->v[e->seq - 1] = e->kind_version;
	vs->n++;
	return 0;
}

size_t mt_store_versions(const char *dir, const char *kind, const void *key,
			 size_t key_len, uint32_t *entries, size_t cap,
			 uint32_t *snap)
{
	mn__store *s = store_ro(dir);
	mn__codec *codec;
	mn__actor_meta m;
	uint32_t kind_id;
	mn_buf b;
	uint64_t seq, lsn;
	versions_seen vs = {.v = entries, .cap = cap};
	assert_rc(mn__codec_new(mn__store_dicts(s), &codec), 0);
	assert_rc(mn__store_kind_id(s, kind, &kind_id), 0);
	assert_rc(mn__store_actor_find(s, kind_id, key, key_len, &m), 0);
	assert_rc(
	    mn__store_history(s, codec, m.last_lsn, 0, version_entry, &vs), 0);
	mn__buf_init(&b);
	*snap = 0;
	int rc = mn__store_snapshot_latest_v(s, codec, m.id, UINT64_MAX, &b,
					     &seq, &lsn, snap);
	assert_true(rc == 0 || rc == MN_ENOACTOR);
	mn__buf_free(&b);
	mn__codec_free(codec);
	mn__store_close(s);
	return vs.n;
}

size_t mt_store_delete_marked(const char *dir, uint64_t *ids, size_t cap)
{
	mn__store *s = store_ro(dir);
	size_t marked;
	assert_rc(mn__store_delete_marked(s, ids, cap, &marked), 0);
	mn__store_close(s);
	return marked;
}

void mt_tmpdir(char *buf, size_t cap, const char *tag)
{
	int n = snprintf(buf, cap, "/tmp/mnemo-test-%s-%d-XXXXXX", tag,
			 (int)getpid());
	assert_true(n > 0 && (size_t)n < cap);
	assert_non_null(mkdtemp(buf));
}

int mt_rmrf(const char *dir)
{
	char cmd[600];
	if (snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir) >= (int)sizeof cmd)
		return -1;
	return system(cmd) == 0 ? 0 : -1;
}
