/*
 * replay - journaled messages replayed per second per core (issue 4 target:
 * >= 1M/s per core).
 *
 * One actor: a persistent kind without a snapshot callback (so rehydration
 * replays the whole journal), on a fresh store in /tmp (relaxed durability:
 * the write side is not what is measured). The main thread sends it HIST
 * messages (200,000; BENCH_SCALE=full 2,000,000) of about 300 bytes cut from
 * the agent corpus (bench/support/corpus.c), drains and closes the runtime.
 * Then, REPS times: reopen, send one message, and time from that send until
 * the handler sees it live (mn_ctx_replaying() false), i.e. until the whole
 * history has been read, decompressed and replayed through handle(). The
 * actor lands on one worker, so the rate is per core. stats.replayed must
 * equal the history length and stats.rehydrations 1, and the state the live
 * message sees (a count and a hash chain over every payload) must equal the
 * one the main thread computed while sending; each live message joins the
 * history, so each repetition replays one more. Prints the median
 * "replayed_per_s" (the others on stderr).
 *
 * Then the same with many actors at once: 2,000 actors (BENCH_SCALE=full
 * 10,000) x 200 messages, sent round-robin so each actor's entries are
 * spread over the log as real traffic spreads them; reopen, send one message to
 * each, and time until every live message has been handled. Prints
 * "replayed_per_s" with "actors" and the rate per worker ("per_core").
 *
 * Peer (a physical limit, same run): a bare LMDB cursor walking the store's
 * log database once, reading the same number of records (no decoding, no
 * decompression), records per second on one thread.
 */
#include "bench/support/bench.h"
#include "bench/support/corpus.h"

#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define POOL	    4096
#define PAYLOAD_CAP 320
#define REPS	    3
#define T_PREP	    1
#define T_LIVE	    2

/* ---- payloads -------------------------------------------------------------
 */

static char *pool;
static size_t pool_len[POOL];

static void make_pool(void)
{
	pool = malloc((size_t)POOL * PAYLOAD_CAP);
	if (!pool)
		bench_die("out of memory");
	for (uint64_t i = 0; i < POOL; i++)
		pool_len[i] =
		    corpus_record(7, i, pool + i * PAYLOAD_CAP, PAYLOAD_CAP);
}

/* ---- the kind -------------------------------------------------------------
 */

typedef struct rstate {
	uint64_t count;
	uint64_t hash;
} rstate;

/* Per actor: the state the live message saw, and when it ran. */
typedef struct result {
	uint64_t count, hash;
	double t;
} result;

static result *results;
static uint64_t nresults;
static _Atomic uint64_t live_seen;
static uint64_t live_want;
static struct bench_done all_live;

static int r_init(mn_ctx *ctx, void **state)
{
	(void)ctx;
	rstate *s = calloc(1, sizeof *s);
	if (!s)
		return MN_ENOMEM;
	*state = s;
	return 0;
}

static int r_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	rstate *s = state;
	if (msg->type == T_LIVE && !mn_ctx_replaying(ctx)) {
		uint64_t i = bench_self_key(ctx);
		if (i >= nresults)
			bench_die("live message to unknown actor %llu",
				  (unsigned long long)i);
		results[i].t = bench_now();
		results[i].count = s->count;
		results[i].hash = s->hash;
		if (atomic_fetch_add(&live_seen, 1) + 1 == live_want)
			bench_done_signal(&all_live, 1);
	}
	s->count++;
	s->hash = bench_hash(s->hash, msg->payload, msg->len);
	return 0;
}

static void r_free(void *state)
{
	free(state);
}

/* ---- helpers ------------------------------------------------------------ */

static mn_runtime *open_store(const char *dir, unsigned workers, mn_kind **kind)
{
	mn_runtime_opts o = {.workers = workers,
			     .store_path = dir,
			     .durability = MN_DURABILITY_RELAXED};
	mn_runtime *rt;
	int rc = mn_runtime_open(&o, &rt);
	if (rc)
		bench_die("open %s: %s (%s)", dir, mn_strerror(rc),
			  mn_errdetail());
	mn_kind_def def = {.name = "replay",
			   .init = r_init,
			   .handle = r_handle,
			   .free = r_free};
	bench_check(mn_kind_register(rt, &def, kind), "mn_kind_register");
	return rt;
}

static void send_msg(mn_runtime *rt, mn_kind *k, uint64_t actor, uint32_t type,
		     uint64_t pi)
{
	unsigned char key[8];
	bench_key_put(key, actor);
	bench_check(
	    mn_send(rt, k, key, 8, type, pool + pi * PAYLOAD_CAP, pool_len[pi]),
	    "mn_send");
}

static void check_stats(mn_runtime *rt, const char *what)
{
	mn_runtime_stats st;
	mn_runtime_stats_get(rt, &st);
	if (st.store_error || st.handler_errors || st.broken)
		bench_die("%s: store error %d, %llu handler errors, %llu "
			  "broken actors",
			  what, st.store_error,
			  (unsigned long long)st.handler_errors,
			  (unsigned long long)st.broken);
}

/* Bare LMDB: walk the log database once with a cursor; records/s. */
static double bare_scan(const char *dir, uint64_t want)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_cursor *c;
	MDB_val k, v;
	uint64_t n = 0, sum = 0;
	if (mdb_env_create(&env) || mdb_env_set_maxdbs(env, 16) ||
	    mdb_env_open(env, dir, MDB_RDONLY, 0640))
		bench_die("bare LMDB: cannot open %s", dir);
	double t0 = bench_now();
	if (mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) ||
	    mdb_dbi_open(txn, "log", 0, &dbi) || mdb_cursor_open(txn, dbi, &c))
		bench_die("bare LMDB: cannot read the log");
	for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && n < want;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		/* Touch the value as a reader must (its frame and last byte).
		 */
		const unsigned char *b = v.mv_data;
		sum += b[0] + b[v.mv_size - 1];
		n++;
	}
	double wall = bench_now() - t0;
	mdb_cursor_close(c);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	if (n != want)
		bench_die("bare LMDB: %llu log records, expected %llu",
			  (unsigned long long)n, (unsigned long long)want);
	if (sum == 42)
		bench_note("(unlikely checksum)");
	return (double)n / wall;
}

/* ---- one long history --------------------------------------------------- */

static void one_actor(unsigned workers)
{
	uint64_t hist = bench_size(200000, 2000000);
	char dir[] = "/tmp/mnemo-bench-replay-XXXXXX";
	mn_kind *k;
	mn_runtime_stats st;
	double rate[REPS];

	bench_store_dir(dir);
	results = calloc(1, sizeof *results);
	nresults = 1;
	uint64_t want_count = 0, want_hash = 0;

	mn_runtime *rt = open_store(dir, workers, &k);
	double t0 = bench_now();
	for (uint64_t i = 0; i < hist; i++) {
		uint64_t pi = i % POOL;
		send_msg(rt, k, 0, T_PREP, pi);
		want_count++;
		want_hash = bench_hash(want_hash, pool + pi * PAYLOAD_CAP,
				       pool_len[pi]);
	}
	bench_drain(rt);
	check_stats(rt, "writing");
	mn_runtime_stats_get(rt, &st);
	if (st.journaled != hist)
		bench_die("journaled %llu of %llu",
			  (unsigned long long)st.journaled,
			  (unsigned long long)hist);
	bench_note(
	    "one actor: wrote %llu messages in %.2f s (%.0f/s), store %.1f MiB",
	    (unsigned long long)hist, bench_now() - t0,
	    (double)hist / (bench_now() - t0), st.store_bytes / 1048576.0);
	mn_runtime_close(rt);

	double bare = bare_scan(dir, hist);

	for (int r = 0; r < REPS; r++) {
		rt = open_store(dir, workers, &k);
		atomic_store(&live_seen, 0);
		live_want = 1;
		bench_done_reset(&all_live);
		uint64_t pi = (hist + (uint64_t)r) % POOL;
		double s0 = bench_now();
		send_msg(rt, k, 0, T_LIVE, pi);
		bench_done_wait(&all_live, BENCH_WAIT_S, "the live message");
		double wall = results[0].t - s0;
		bench_drain(rt);
		check_stats(rt, "replay");
		mn_runtime_stats_get(rt, &st);
		if (results[0].count != want_count ||
		    results[0].hash != want_hash)
			bench_die("replayed state: count %llu hash %016llx, "
				  "expected %llu %016llx",
				  (unsigned long long)results[0].count,
				  (unsigned long long)results[0].hash,
				  (unsigned long long)want_count,
				  (unsigned long long)want_hash);
		if (st.replayed != want_count || st.rehydrations != 1)
			bench_die("stats: replayed %llu (expected %llu), "
				  "rehydrations %llu (expected 1)",
				  (unsigned long long)st.replayed,
				  (unsigned long long)want_count,
				  (unsigned long long)st.rehydrations);
		rate[r] = (double)st.replayed / wall;
		bench_note("one actor, run %d: replayed %llu in %.1f ms: "
			   "%.3g/s",
			   r + 1, (unsigned long long)st.replayed, wall * 1e3,
			   rate[r]);
		want_count++;
		want_hash = bench_hash(want_hash, pool + pi * PAYLOAD_CAP,
				       pool_len[pi]);
		mn_runtime_close(rt);
	}
	bench_rm_rf(dir);
	free(results);

	double med = bench_median(rate, REPS);
	struct bench_json j;
	bench_json_begin(&j, "replay", "replayed_per_s", med, "msg/s");
	bench_json_u64(&j, "n", hist);
	bench_json_u64(&j, "threads", workers);
	bench_json_u64(&j, "actors", 1);
	bench_json_peer(&j, "bare_lmdb_scan", bare, med / bare);
	bench_json_end(&j);
}

/* ---- many actors in parallel -----------------------------------------------
 */

static void many_actors(unsigned workers)
{
	uint64_t nact = bench_size(2000, 10000), per = 200;
	char dir[] = "/tmp/mnemo-bench-replay-XXXXXX";
	mn_kind *k;
	mn_runtime_stats st;

	bench_store_dir(dir);
	results = calloc(nact, sizeof *results);
	nresults = nact;
	uint64_t *want_hash = calloc(nact, sizeof *want_hash);
	if (!results || !want_hash)
		bench_die("out of memory");

	mn_runtime *rt = open_store(dir, workers, &k);
	double t0 = bench_now();
	for (uint64_t m = 0; m < per; m++) {
		for (uint64_t a = 0; a < nact; a++) {
			uint64_t pi = (a * 31 + m) % POOL;
			send_msg(rt, k, a, T_PREP, pi);
			want_hash[a] =
			    bench_hash(want_hash[a], pool + pi * PAYLOAD_CAP,
				       pool_len[pi]);
		}
	}
	bench_drain(rt);
	check_stats(rt, "writing");
	mn_runtime_stats_get(rt, &st);
	if (st.journaled != nact * per)
		bench_die("journaled %llu of %llu",
			  (unsigned long long)st.journaled,
			  (unsigned long long)(nact * per));
	bench_note("%llu actors: wrote %llu messages in %.2f s",
		   (unsigned long long)nact, (unsigned long long)(nact * per),
		   bench_now() - t0);
	mn_runtime_close(rt);

	double bare = bare_scan(dir, nact * per);

	rt = open_store(dir, workers, &k);
	atomic_store(&live_seen, 0);
	live_want = nact;
	bench_done_reset(&all_live);
	double s0 = bench_now();
	for (uint64_t a = 0; a < nact; a++)
		send_msg(rt, k, a, T_LIVE, a % POOL);
	bench_done_wait(&all_live, BENCH_WAIT_S, "the live messages");
	double wall = 0;
	for (uint64_t a = 0; a < nact; a++)
		if (results[a].t - s0 > wall)
			wall = results[a].t - s0;
	bench_drain(rt);
	check_stats(rt, "replay");
	mn_runtime_stats_get(rt, &st);
	for (uint64_t a = 0; a < nact; a++)
		if (results[a].count != per || results[a].hash != want_hash[a])
			bench_die("actor %llu: replayed state count %llu hash "
				  "%016llx, expected %llu %016llx",
				  (unsigned long long)a,
				  (unsigned long long)results[a].count,
				  (unsigned long long)results[a].hash,
				  (unsigned long long)per,
				  (unsigned long long)want_hash[a]);
	if (st.replayed != nact * per || st.rehydrations != nact)
		bench_die("stats: replayed %llu (expected %llu), rehydrations "
			  "%llu (expected %llu)",
			  (unsigned long long)st.replayed,
			  (unsigned long long)(nact * per),
			  (unsigned long long)st.rehydrations,
			  (unsigned long long)nact);
	double rate = (double)st.replayed / wall;
	bench_note("%llu actors: replayed %llu in %.1f ms",
		   (unsigned long long)nact, (unsigned long long)st.replayed,
		   wall * 1e3);
	mn_runtime_close(rt);
	bench_rm_rf(dir);
	free(results);
	free(want_hash);

	struct bench_json j;
	bench_json_begin(&j, "replay", "replayed_per_s", rate, "msg/s");
	bench_json_u64(&j, "n", nact * per);
	bench_json_u64(&j, "threads", workers);
	bench_json_u64(&j, "actors", nact);
	bench_json_f64(&j, "per_core", rate / workers);
	bench_json_peer(&j, "bare_lmdb_scan", bare, rate / bare);
	bench_json_end(&j);
}

int main(void)
{
	bench_init("replay");
	unsigned workers = bench_threads();
	bench_done_init(&all_live);
	make_pool();
	one_actor(workers);
	many_actors(workers);
	bench_done_destroy(&all_live);
	free(pool);
	return 0;
}
