/*
 * durable - processed messages per second when every message is journaled
 * (sync mode: fsync per commit group), with 300 B and 1 KB payloads, against
 * the bare LMDB loop of design.md section 7 in the same run.
 *
 * For each payload size: a runtime on a fresh store in /tmp with NACTORS
 * actors of one persistent kind. A warm-up message creates every actor (new
 * actors cost a name insert each, a one-time cost reported on stderr). Then
 * the main thread sends NMSGS fire-and-forget messages to random actors,
 * payloads cut from the agent corpus (bench/support/corpus.c); the clock
 * stops when mn_runtime_drain returns, i.e. when every message's journal
 * entry is committed. The peer: one LMDB environment, one global
 * big-endian key written with MDB_APPEND, sync commits, values of the same
 * size as mnemo's average stored journal record (read back from the store),
 * the same number of records per commit as mnemo's average commit group.
 *
 * Then commit latency: durable sends (mn_send_durable_async) paced at a
 * quarter of the measured message rate for about a second (each durable
 * message is two records: stored in the outbox, then journaled when
 * processed, so this is half the record load); the latency of each is the
 * time until its completion callback (the message is stored). p50 and p99.
 */
#include "bench/support/bench.h"
#include "bench/support/corpus.h"

#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Distinct payloads: far more than a 64 KiB dictionary can memorise, so
 * compression figures reflect the corpus, not repetition. */
#define POOL 16384

static struct bench_counter handled;

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

/* Payloads of exactly size bytes, cut from consecutive corpus records. */
static unsigned char *make_pool(size_t size)
{
	unsigned char *pool = malloc(POOL * size);
	char rec[8192];
	uint64_t idx = 0;
	if (!pool)
		bench_die("out of memory");
	for (int i = 0; i < POOL; i++) {
		size_t have = 0;
		while (have < size) {
			size_t n = corpus_record(42, idx++, rec, sizeof rec);
			if (n > size - have)
				n = size - have;
			memcpy(pool + (size_t)i * size + have, rec, n);
			have += n;
		}
	}
	return pool;
}

/* Average size of the journal records mnemo stored. */
static double avg_log_record(const char *dir, uint64_t *count)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_cursor *c;
	MDB_val k, v;
	double total = 0;
	uint64_t n = 0;
	if (mdb_env_create(&env) || mdb_env_set_maxdbs(env, 16) ||
	    mdb_env_open(env, dir, MDB_RDONLY, 0640) ||
	    mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) ||
	    mdb_dbi_open(txn, "log", 0, &dbi) || mdb_cursor_open(txn, dbi, &c))
		bench_die("cannot read the store's log");
	for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		total += (double)v.mv_size;
		n++;
	}
	mdb_cursor_close(c);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	*count = n;
	return n ? total / (double)n : 0;
}

/* The bare LMDB loop: n records of vsize bytes, per_txn per sync commit. */
static double bare_lmdb(const char *dir, uint64_t n, size_t vsize,
			uint64_t per_txn)
{
	MDB_env *env;
	MDB_dbi dbi;
	unsigned char key[8], *val = malloc(vsize);
	if (!val)
		bench_die("out of memory");
	for (size_t i = 0; i < vsize; i++)
		val[i] = (unsigned char)(i * 2654435761u >> 13);
	mkdir(dir, 0750);
	if (mdb_env_create(&env) || mdb_env_set_mapsize(env, (size_t)4 << 30) ||
	    mdb_env_open(env, dir, 0, 0640))
		bench_die("bare LMDB: cannot open %s", dir);
	double t0 = bench_now();
	for (uint64_t i = 0; i < n;) {
		MDB_txn *txn;
		if (mdb_txn_begin(env, NULL, 0, &txn) ||
		    mdb_dbi_open(txn, NULL, 0, &dbi))
			bench_die("bare LMDB: begin");
		for (uint64_t j = 0; j < per_txn && i < n; j++, i++) {
			for (int b = 0; b < 8; b++)
				key[b] = (unsigned char)(i >> (56 - 8 * b));
			val[0] = (unsigned char)i;
			MDB_val k = {8, key}, v = {vsize, val};
			if (mdb_put(txn, dbi, &k, &v, MDB_APPEND))
				bench_die("bare LMDB: put");
		}
		if (mdb_txn_commit(txn))
			bench_die("bare LMDB: commit");
	}
	double wall = bench_now() - t0;
	mdb_env_close(env);
	free(val);
	bench_rm_rf(dir);
	return (double)n / wall;
}

/* ---- commit latency ---------------------------------------------------------
 */

typedef struct lat {
	double *t_sent;
	double *lat;
	_Atomic uint64_t done;
} lat;

static lat L;

static void lat_done(void *arg, int rc)
{
	uint64_t i = (uint64_t)(uintptr_t)arg;
	if (rc)
		bench_die("durable send failed: %s", mn_strerror(rc));
	L.lat[i] = bench_now() - L.t_sent[i];
	atomic_fetch_add(&L.done, 1);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void run(size_t size, uint64_t nactors, uint64_t nmsgs)
{
	char dir[] = "/tmp/mnemo-bench-durable-XXXXXX";
	char bare_dir[600];
	unsigned char key[8];
	unsigned workers = bench_threads();
	unsigned char *pool = make_pool(size);

	bench_store_dir(dir);
	snprintf(bare_dir, sizeof bare_dir, "%s-bare", dir);
	mn_runtime_opts o = {.workers = workers,
			     .store_path = dir,
			     .durability = MN_DURABILITY_SYNC};
	mn_runtime *rt;
	int rc = mn_runtime_open(&o, &rt);
	if (rc)
		bench_die("open: %s (%s)", mn_strerror(rc), mn_errdetail());
	mn_kind *kind = bench_kind(rt, "durable", d_init, d_handle, NULL, NULL);

	/* Warm-up: create every actor. */
	double c0 = bench_now();
	for (uint64_t a = 0; a < nactors; a++) {
		bench_key_put(key, a);
		bench_check(mn_send(rt, kind, key, 8, 1,
				    pool + (a % POOL) * size, size),
			    "mn_send");
	}
	bench_drain(rt);
	bench_note("%zu B: created %llu persistent actors in %.2f s", size,
		   (unsigned long long)nactors, bench_now() - c0);
	mn_runtime_stats st0, st1;
	mn_runtime_stats_get(rt, &st0);

	/* Steady state. */
	bench_counter_reset(&handled);
	uint64_t x = 88172645463325252ull;
	double t0 = bench_now();
	for (uint64_t i = 0; i < nmsgs; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		bench_key_put(key, x % nactors);
		bench_check(mn_send(rt, kind, key, 8, 2,
				    pool + (i % POOL) * size, size),
			    "mn_send");
	}
	bench_drain(rt);
	double wall = bench_now() - t0;
	mn_runtime_stats_get(rt, &st1);
	if (bench_counter_sum(&handled) != nmsgs)
		bench_die("handled %llu of %llu",
			  (unsigned long long)bench_counter_sum(&handled),
			  (unsigned long long)nmsgs);
	if (st1.journaled - st0.journaled != nmsgs)
		bench_die("journaled %llu of %llu",
			  (unsigned long long)(st1.journaled - st0.journaled),
			  (unsigned long long)nmsgs);
	double rate = (double)nmsgs / wall;
	double per_commit = (double)nmsgs / (double)(st1.commits - st0.commits);

	/* Commit latency at half load: paced durable sends for ~1 s. */
	double load = rate / 4;
	uint64_t nlat = (uint64_t)load;
	if (nlat < 1000)
		nlat = 1000;
	L.t_sent = calloc(nlat, sizeof(double));
	L.lat = calloc(nlat, sizeof(double));
	atomic_store(&L.done, 0);
	double start = bench_now(), gap = 1.0 / load;
	for (uint64_t i = 0; i < nlat; i++) {
		double due = start + (double)i * gap;
		/* Sleep, not spin: the sender must not take a core from
		 * the runtime it measures (2 cores). */
		while (bench_now() < due)
			usleep(100);
		bench_key_put(key, (i * 7919) % nactors);
		L.t_sent[i] = bench_now();
		bench_check(mn_send_durable_async(
				rt, kind, key, 8, 3, pool + (i % POOL) * size,
				size, lat_done, (void *)(uintptr_t)i),
			    "mn_send_durable_async");
	}
	bench_drain(rt);
	while (atomic_load(&L.done) < nlat)
		usleep(1000);
	qsort(L.lat, nlat, sizeof(double), cmp_double);
	double p50 = L.lat[nlat / 2] * 1e3, p99 = L.lat[nlat * 99 / 100] * 1e3;
	bench_note_stats(rt, "runtime");
	mn_runtime_close(rt);

	uint64_t nrec;
	double rec = avg_log_record(dir, &nrec);
	uint64_t disk = 0;
	{
		char p[600];
		struct stat sb;
		snprintf(p, sizeof p, "%s/data.mdb", dir);
		if (stat(p, &sb) == 0)
			disk = (uint64_t)sb.st_blocks * 512;
	}
	bench_rm_rf(dir);
	double bare = bare_lmdb(bare_dir, nmsgs, (size_t)(rec + 0.5),
				(uint64_t)(per_commit + 0.5));

	struct bench_json j;
	bench_json_begin(&j, "durable", "msgs_per_s", rate, "msg/s");
	bench_json_u64(&j, "n", nmsgs);
	bench_json_u64(&j, "threads", workers);
	bench_json_u64(&j, "payload", size);
	bench_json_u64(&j, "actors", nactors);
	bench_json_f64(&j, "per_commit", per_commit);
	bench_json_str(&j, "mode", "sync");
	bench_json_peer(&j, "bare_lmdb_append", bare, rate / bare);
	bench_json_end(&j);

	bench_json_begin(&j, "durable", "stored_bytes_per_msg", rec, "B");
	bench_json_u64(&j, "n", nrec);
	bench_json_u64(&j, "threads", workers);
	bench_json_u64(&j, "payload", size);
	bench_json_end(&j);

	bench_json_begin(&j, "durable", "disk_bytes_per_msg",
			 (double)disk / (double)nrec, "B");
	bench_json_u64(&j, "n", nrec);
	bench_json_u64(&j, "threads", workers);
	bench_json_u64(&j, "payload", size);
	bench_json_end(&j);

	bench_json_begin(&j, "durable", "commit_p50_ms", p50, "ms");
	bench_json_u64(&j, "n", nlat);
	bench_json_u64(&j, "threads", workers);
	bench_json_u64(&j, "payload", size);
	bench_json_f64(&j, "load_msgs_per_s", load);
	bench_json_end(&j);

	bench_json_begin(&j, "durable", "commit_p99_ms", p99, "ms");
	bench_json_u64(&j, "n", nlat);
	bench_json_u64(&j, "threads", workers);
	bench_json_u64(&j, "payload", size);
	bench_json_f64(&j, "load_msgs_per_s", load);
	bench_json_end(&j);

	free(L.t_sent);
	free(L.lat);
	free(pool);
}

int main(void)
{
	bench_init("durable");
	uint64_t nactors = bench_size(100000, 1000000);
	uint64_t nmsgs = bench_size(400000, 4000000);
	run(300, nactors, nmsgs);
	run(1024, nactors, nmsgs);
	return 0;
}
