/*
 * support.h - helpers shared by the mnemo test suites (the test_*.c files).
 *
 * cmocka's assertions may only run on the main thread: they longjmp out of
 * the test. Code on worker or producer threads therefore records failures
 * with MT_CHECK()/MT_CHECKF() (an atomic counter plus the text of the first
 * failure), and the main thread turns them into a test failure with
 * mt_assert_no_failures() after mn_runtime_drain(). Every test is registered
 * with mt_setup, which clears that record.
 *
 * Sizes: mt_scaled() multiplies a test size by MN_TEST_SCALE (a positive
 * number in the environment; default 1, or 0.3 under ThreadSanitizer).
 * Randomness: mt_rng, seeded from MN_TEST_SEED (printed at start).
 * Hangs: mt_setup arms a per-test watchdog (MN_TEST_TIMEOUT seconds).
 */
#ifndef MN_TEST_SUPPORT_H
#define MN_TEST_SUPPORT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cmocka.h>

#include "include/mnemo.h"

#if defined(__SANITIZE_THREAD__)
#define MT_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MT_TSAN 1
#endif
#endif
#ifndef MT_TSAN
#define MT_TSAN 0
#endif

/* Call first in main(): line-buffers stdout (so a hung test still shows its
 * "[ RUN ]" line), installs the watchdog and prints the scale and the seed.
 */
void mt_init(const char *suite);

/* cmocka per-test setup: clears the record of failures on other threads and
 * arms the watchdog: a test running longer than MN_TEST_TIMEOUT seconds
 * (default 60; 0 disables) ends the binary with exit code 124. */
int mt_setup(void **state);

/* ---- sizes, seeds, time ---------------------------------------------- */

double mt_scale(void);
/* n * mt_scale(), at least min. */
size_t mt_scaled(size_t n, size_t min);
uint64_t mt_seed(void);

/* A splitmix64 generator: one per thread, seeded from mt_seed() and a
 * stream number, so a run is reproducible for a given seed. */
typedef struct mt_rng {
	uint64_t s;
} mt_rng;
void mt_rng_init(mt_rng *r, uint64_t stream);
uint64_t mt_rng_next(mt_rng *r);
/* Uniform in [0, n), n > 0. */
uint64_t mt_rng_below(mt_rng *r, uint64_t n);

/* Monotonic seconds. */
double mt_now(void);
void mt_sleep_ms(unsigned ms);
/* Wait until *v >= want or timeout_s passes. Returns 1 if reached. */
int mt_wait_u64(_Atomic uint64_t *v, uint64_t want, double timeout_s);

/* ---- failures on other threads --------------------------------------- */

/* Record a failure (any thread). */
void mt_fail_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Returns ok; records a failure when ok is 0 (any thread). */
int mt_check_at(int ok, const char *file, int line, const char *expr);
int mt_checkf_at(int ok, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Number of failures recorded since the last mt_setup. */
uint64_t mt_failures(void);
/* Main thread: fail the test if any failure was recorded. */
void mt_assert_no_failures_at(const char *file, int line);

#define MT_CHECK(cond) mt_check_at((cond) != 0, __FILE__, __LINE__, #cond)
#define MT_CHECKF(cond, ...)                                                   \
	mt_checkf_at((cond) != 0, __FILE__, __LINE__, __VA_ARGS__)
#define mt_assert_no_failures() mt_assert_no_failures_at(__FILE__, __LINE__)

/* Main thread: fail unless the int expression equals want; the message names
 * both codes (MN_E...). */
void mt_assert_rc_at(int got, int want, const char *expr, const char *file,
		     int line);
#define assert_rc(expr, want)                                                  \
	mt_assert_rc_at((expr), (want), #expr, __FILE__, __LINE__)

/* ---- runtime helpers (main thread: they assert) ---------------------- */

/* Open a runtime with the given workers and max_payload (0: defaults). */
mn_runtime *mt_open(unsigned workers, size_t max_payload);
mn_kind *mt_register(mn_runtime *rt, const mn_kind_def *def);
void mt_drain(mn_runtime *rt);
mn_runtime_stats mt_stats(mn_runtime *rt);

/* A fresh directory /tmp/mnemo-test-TAG-PID-XXXXXX into buf (cap >= 64);
 * fails the test if it cannot be made. mt_rmrf removes a tree (0 or -1:
 * for a cmocka teardown's return). */
void mt_tmpdir(char *buf, size_t cap, const char *tag);
int mt_rmrf(const char *dir);

/* ---- keys: 8-byte little-endian integers ----------------------------- */

#define MT_KEY_LEN 8
void mt_key_put(unsigned char key[MT_KEY_LEN], uint64_t v);
/* Decode a key made by mt_key_put; returns 0 if len is not MT_KEY_LEN. */
int mt_key_get(const void *key, size_t len, uint64_t *v);
/* This actor's key as an integer; returns 0 (and records a failure) if it
 * is not an mt key. */
int mt_self_u64(const mn_ctx *ctx, uint64_t *v);
/* The sender's key as an integer; returns 0 if external or not an mt key. */
int mt_sender_u64(const mn_ctx *ctx, uint64_t *v);
void mt_put_u64(void *p, uint64_t v);
uint64_t mt_get_u64(const void *p);

/* ---- the counting kind ----------------------------------------------- */

/*
 * Counters of a counting kind: init calls that succeeded, handle calls, free
 * calls, and payload bytes handled. Its state is a malloc'd record with a
 * magic number, checked by handle and free (a free of a state twice, or of
 * something init did not make, shows as a failure or under ASan).
 */
typedef struct mt_counts {
	_Atomic uint64_t inits;
	_Atomic uint64_t handles;
	_Atomic uint64_t frees;
	_Atomic uint64_t bytes;
} mt_counts;

void mt_counts_reset(mt_counts *c);
/* A kind def named name counting into c (kept as the kind's arg). */
mn_kind_def mt_counting_kind(const char *name, mt_counts *c);

/* ---- a kind whose state is one flat struct --------------------------- */

/* Defines static prefix_init (a zeroed TYPE), prefix_free, prefix_snapshot
 * (its bytes) and prefix_restore (the same bytes back, MN_ECORRUPT for any
 * other length): the callbacks of a kind whose state is a plain struct. */
#define MT_FLAT_STATE(prefix, TYPE)                                            \
	static int prefix##_init(mn_ctx *ctx, void **state)                    \
	{                                                                      \
		(void)ctx;                                                     \
		*state = calloc(1, sizeof(TYPE));                              \
		return *state ? 0 : MN_ENOMEM;                                 \
	}                                                                      \
	static void prefix##_free(void *state)                                 \
	{                                                                      \
		free(state);                                                   \
	}                                                                      \
	static int prefix##_snapshot(const void *state, mn_buf *out)           \
	{                                                                      \
		return mn_buf_append(out, state, sizeof(TYPE));                \
	}                                                                      \
	static int prefix##_restore(mn_ctx *ctx, const void *b, size_t len,    \
				    void **state)                              \
	{                                                                      \
		(void)ctx;                                                     \
		if (len != sizeof(TYPE))                                       \
			return MN_ECORRUPT;                                    \
		if (!(*state = malloc(len)))                                   \
			return MN_ENOMEM;                                      \
		memcpy(*state, b, len);                                        \
		return 0;                                                      \
	}

/* ---- threads ---------------------------------------------------------- */

/* Run fn(i, arg) on n new threads, i = 0..n-1, released together from a
 * barrier; returns when all have returned. Asserts the threads started. */
typedef void (*mt_thread_fn)(unsigned i, void *arg);
void mt_parallel(unsigned n, mt_thread_fn fn, void *arg);

/* ---- a store's raw records (corruption tests; main thread: asserts) ---- */

/* Write value v under key k in database db of the store in dir, with LMDB
 * directly (no frame, no checksum: whatever bytes the test wants). */
void mt_store_poke(const char *dir, const char *db, const void *k, size_t klen,
		   const void *v, size_t vlen);
/* Read the value under key k into buf (cap bytes); returns its length. */
size_t mt_store_peek(const char *dir, const char *db, const void *k,
		     size_t klen, void *buf, size_t cap);

/* Where, in the store's data.mdb, the bytes of key k of database db lie
 * (the key as LMDB stores it in its leaf page: flipping a byte there is a
 * damaged key, in its slot). Fails the test if the key is absent. */
uint64_t mt_store_key_offset(const char *dir, const char *db, const void *k,
			     size_t klen);
/* Where this process maps the file path (whole, from offset 0, as LMDB
 * maps its data file), from /proc/self/maps; fails the test if it does
 * not. */
char *mt_map_base(const char *path);
/* XOR the byte at offset off of the store's data.mdb with x. */
void mt_store_flip(const char *dir, uint64_t off, unsigned char x);
/* Nothing of actor id (kind/key) is left in the store at dir: no name, no
 * actors record, no snapshot, journal entry, timer, outbox or quarantine
 * message of it or to it, and no deletion marker of any actor. Opens the
 * store read-only with the store's own API. */
void mt_store_expect_gone(const char *dir, const char *kind, uint64_t id,
			  const char *key);

/* The store id of actor kind/key (key as text), 0 if the store has no such
 * actor; fails the test if it has no kind of that name. Opens the store
 * read-only with the store's own API, as the next two. */
uint64_t mt_store_actor_id(const char *dir, const char *kind, const char *key);
/* The last seq of the actor of store id id (fails if it has none). */
uint64_t mt_store_actor_seq(const char *dir, uint64_t id);
/* The kind versions actor kind/key (key_len bytes) was written with: the
 * version of each journal entry in seq order into entries[seq - 1] (the
 * first cap; returns how many entries the journal holds), and in *snap
 * the latest snapshot's (0 when it has none). Opens the store read-only
 * with the store's own API. */
size_t mt_store_versions(const char *dir, const char *kind, const void *key,
			 size_t key_len, uint32_t *entries, size_t cap,
			 uint32_t *snap);
/* The count of actors marked for deletion whose deletion is unfinished
 * (the first cap of their ids into ids). */
size_t mt_store_delete_marked(const char *dir, uint64_t *ids, size_t cap);

/* Replace the store's meta header with one saying format_version (framed
 * and checksummed as the store writes it). */
void mt_store_set_format(const char *dir, uint32_t format_version);

/* The mnemo tool of this build: <build dir>/mnemo, where the test runs as
 * <build dir>/tests/<suite>/test_x (so ASan and TSan builds find their own
 * tool). Copies the path into buf; fails the test if it is missing. */
void mt_tool_path(char *buf, size_t cap);

/* Run `TOOL ARGS` through sh (args already shell-quoted), capturing stdout
 * into out and stderr (via the file errpath, removed after) into err, both
 * NUL-terminated; fails the test if stdout fills out. Returns the exit
 * status (128 + signal for a signal). */
int mt_tool_run(const char *tool, const char *args, const char *errpath,
		char *out, size_t outcap, char *err, size_t errcap);

/* One run of the tool: its exit status (128 + signal for a signal) and
 * what it wrote. */
typedef struct mt_tool_res {
	int status;
	char out[1 << 18];
	char err[1 << 14];
} mt_tool_res;

/* The tool of this build (mt_tool_path) and a scratch directory for its
 * stderr, for mt_tool. Call once, before mt_tool. */
void mt_tool_setup(const char *scratch_dir);

/* Build the kind plugin src (a tests/recovery/plugin_*.c, relative to the
 * repository's root, where tests run) into the shared object out for
 * `mnemo replay --plugin`, with the system compiler. Returns 0, or -1
 * (printed) when the source is missing or the build failed. */
int mt_build_plugin(const char *src, const char *out);
/* The same with compiler flags (-D variants of the plugin). */
int mt_build_plugin_with(const char *src, const char *out, const char *defs);

/* Start `mnemo serve` as a child: argv (argv[0] the tool, argv[1]
 * "serve", NULL-terminated) must hold "--port-file" portf; its stderr goes
 * to the file logf. Waits (bounded: 20 s, sanitizer builds start slowly)
 * until the port is in portf and stores it in *port; fails the test if the
 * child exits or writes no port. Returns the child's pid. */
pid_t mt_serve_spawn(char *const argv[], const char *portf, const char *logf,
		     unsigned *port);

/* The usual host of a test: files in dir (store, tokens holding token,
 * port, serve.log: their paths into the caller's buffers of cap bytes
 * each, store and logf), `mnemo serve --plugin plugin` on 127.0.0.1 port
 * 0 with threads HTTP threads and workers workers, through
 * mt_serve_spawn. Returns the child's pid. */
pid_t mt_serve_in(const char *dir, const char *plugin, const char *token,
		  const char *threads, const char *workers, char *store,
		  char *logf, size_t cap, unsigned *port);

/* Wait up to secs for the child pid to exit: its exit status (128 +
 * signal for a signal), or -1 after a SIGKILL when it did not exit. */
int mt_child_wait(pid_t pid, double secs);

/* SIGTERM to the serve child pid, then mt_child_wait (30 s). */
int mt_serve_stop(pid_t pid);

/* Run `mnemo ARGS` (ARGS formatted; the caller shell-quotes paths) into r
 * (mt_tool_run). Returns r->status. */
int mt_tool(mt_tool_res *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Fail the test (at file:line, showing the output) unless the run exited
 * with want; unless hay holds needle; if hay holds needle. */
void mt_expect_exit_at(const mt_tool_res *r, int want, const char *file,
		       int line);
void mt_expect_in_at(const char *hay, const char *needle, bool want,
		     const char *file, int line);
#define mt_expect_exit(r, want)                                                \
	mt_expect_exit_at((r), (want), __FILE__, __LINE__)
#define mt_expect_in(hay, needle)                                              \
	mt_expect_in_at((hay), (needle), true, __FILE__, __LINE__)
#define mt_expect_not_in(hay, needle)                                          \
	mt_expect_in_at((hay), (needle), false, __FILE__, __LINE__)

/* Make the sanitizers of this build leave SIGSEGV, SIGBUS and SIGABRT of
 * the tools this process runs alone (appends to ASAN_OPTIONS and
 * TSAN_OPTIONS in the environment), so that a crash in the tool is a
 * signal, as without a sanitizer, not a sanitizer report and exit 1. */
void mt_tool_crashes_are_signals(void);

/* A scratch directory /tmp/mnemo-TAG-PID, emptied, into dir (cap bytes),
 * with the tool set up there (mt_tool_setup) and its crashes left as
 * signals (mt_tool_crashes_are_signals): a suite's group setup. */
void mt_scratch_setup(char *dir, size_t cap, const char *tag);
/* Remove it: a suite's group teardown; 0 or -1. */
int mt_scratch_remove(const char *dir);

#endif /* MN_TEST_SUPPORT_H */
