/*
 * rehydrate - how fast an evicted actor comes back (issue 4 target: p99 <=
 * 100 us for snapshot + 100 journaled messages, warm cache).
 *
 * The kind: persistent, with snapshot/restore; its state (200 bytes) is a
 * message counter, a byte counter, a ring of the 128-bit hashes of the last
 * 8 payloads and the first 48 bytes of the last payload. One kind per
 * configuration T in {0, 10, 100}, registered with snapshot_every = T + 2:
 * each actor is sent T + 2 messages (the last one takes the snapshot), then
 * exactly T more (journaled after the snapshot; T + 1 < T + 2, so neither
 * they nor the measured live message take another snapshot). Payloads are
 * about 300 bytes cut from the agent corpus, sent round-robin over all the
 * actors, so an actor's entries are spread over the log as real traffic
 * spreads them. Relaxed durability (the write side is not what is
 * measured). Then the runtime is closed: every actor is only on disk, and
 * the store's pages are in the OS page cache (warm cache).
 *
 * Latency: a new runtime on the same store; for each configuration, N actors
 * (2,000; BENCH_SCALE=full 20,000) in random order, one at a time: the time
 * from mn_send of one message to the handler running it live (after the
 * snapshot's restore() and the replay of the T journaled messages). The
 * main thread spins on a per-actor flag, so worker wake-ups do not enter the
 * figure. WARM actors per configuration go first, unmeasured. The handler
 * checks the restored state against the state the main thread computed
 * while sending (an exact byte compare); stats.rehydrations and
 * stats.replayed must match N x configurations and N x T. Prints
 * "rehydrate_p50_us" and "rehydrate_p99_us" with "tail":T.
 *
 * Peer (physical limit, same run, same records): before the runtime
 * reopens, a bare LMDB read transaction per actor gets the records mnemo
 * must read for it (the name, the actor record, the snapshot, the T journal
 * entries, their LSNs found beforehand) and touches each value; no
 * checksum, decoding or decompression, no handler. p50 and p99 of that.
 *
 * Rehydrations under load: another N actors per configuration, prepared the
 * same way and never touched by the latency phase; a third runtime; one
 * message to each of them at once, clock until mn_runtime_drain returns
 * (every message handled and its journal entry committed). The count is
 * stats.rehydrations (verified = N), replayed = N x T. Prints
 * "rehydrations_per_s" with "tail":T.
 */
#include "bench/support/bench.h"
#include "bench/support/corpus.h"
#include "schema/mnemo.pb-c.h"

#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>

#define NCFG 3
static const uint32_t TAILS[NCFG] = {0, 10, 100};
#define WARM	    50
#define POOL	    4096
#define PAYLOAD_CAP 320
#define T_PREP	    1
#define T_LIVE	    2
#define FRAME_HDR   8

/* ---- payloads ------------------------------------------------------------ */

static char *pool;
static size_t pool_len[POOL];

static void make_pool(void)
{
	pool = malloc((size_t)POOL * PAYLOAD_CAP);
	if (!pool)
		bench_die("out of memory");
	for (uint64_t i = 0; i < POOL; i++)
		pool_len[i] =
		    corpus_record(11, i, pool + i * PAYLOAD_CAP, PAYLOAD_CAP);
}

/* ---- the kind ------------------------------------------------------------ */

typedef struct rh_state {
	uint64_t count;
	uint64_t bytes;
	uint32_t pos;
	uint32_t last_type;
	uint64_t ring[8][2];
	char note[48];
} rh_state;
_Static_assert(sizeof(rh_state) == 200, "state is 200 bytes");

static void apply(rh_state *s, uint32_t type, const void *p, size_t n)
{
	s->count++;
	s->bytes += n;
	s->last_type = type;
	s->ring[s->pos][0] = bench_hash(0x9e3779b97f4a7c15ull, p, n);
	s->ring[s->pos][1] = bench_hash(0xc2b2ae3d27d4eb4full, p, n);
	s->pos = (s->pos + 1) % 8;
	memset(s->note, 0, sizeof s->note);
	memcpy(s->note, p, n < sizeof s->note ? n : sizeof s->note);
}

/* Per configuration and actor: the state it must have, and what the live
 * message saw. The main thread writes expect[] before sending; the handler
 * reads it after receiving (ordered by the send path). */
typedef struct slot {
	_Atomic int done;
	int ok;
	double t;
} slot;

static uint64_t nact; /* actors per set (latency: WARM + N; rate: N) */
static uint64_t nper; /* keys per kind: latency set then rate set */
static rh_state *expect[NCFG];
static slot *slots[NCFG];

static int cfg_of(mn_ctx *ctx)
{
	return (int)(uintptr_t)mn_ctx_kind_arg(ctx);
}

static int rh_init(mn_ctx *ctx, void **state)
{
	(void)ctx;
	rh_state *s = calloc(1, sizeof *s);
	if (!s)
		return MN_ENOMEM;
	*state = s;
	return 0;
}

static int rh_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	rh_state *s = state;
	if (msg->type == T_LIVE && !mn_ctx_replaying(ctx)) {
		double t = bench_now();
		int c = cfg_of(ctx);
		uint64_t i = bench_self_key(ctx);
		if (i >= nper)
			bench_die("live message to unknown actor %llu",
				  (unsigned long long)i);
		slot *sl = &slots[c][i];
		sl->t = t;
		sl->ok = memcmp(s, &expect[c][i], sizeof *s) == 0;
		atomic_store_explicit(&sl->done, 1, memory_order_release);
	}
	apply(s, msg->type, msg->payload, msg->len);
	return 0;
}

static int rh_snapshot(const void *state, mn_buf *out)
{
	return mn_buf_append(out, state, sizeof(rh_state));
}

static int rh_restore(mn_ctx *ctx, const void *bytes, size_t len, void **state)
{
	(void)ctx;
	if (len != sizeof(rh_state))
		return MN_ECORRUPT;
	rh_state *s = malloc(sizeof *s);
	if (!s)
		return MN_ENOMEM;
	memcpy(s, bytes, sizeof *s);
	*state = s;
	return 0;
}

static void rh_free(void *state)
{
	free(state);
}

static const char *kind_name(int c)
{
	static const char *names[NCFG] = {"rh_t0", "rh_t10", "rh_t100"};
	return names[c];
}

/* ---- runtime ------------------------------------------------------------- */

static mn_runtime *open_store(const char *dir, unsigned workers,
			      mn_kind *kinds[NCFG])
{
	mn_runtime_opts o = {.workers = workers,
			     .store_path = dir,
			     .durability = MN_DURABILITY_RELAXED};
	mn_runtime *rt;
	int rc = mn_runtime_open(&o, &rt);
	if (rc)
		bench_die("open %s: %s (%s)", dir, mn_strerror(rc),
			  mn_errdetail());
	for (int c = 0; c < NCFG; c++) {
		mn_kind_def def = {.name = kind_name(c),
				   .arg = (void *)(uintptr_t)c,
				   .init = rh_init,
				   .handle = rh_handle,
				   .snapshot = rh_snapshot,
				   .restore = rh_restore,
				   .free = rh_free,
				   .snapshot_every = TAILS[c] + 2};
		bench_check(mn_kind_register(rt, &def, &kinds[c]),
			    "mn_kind_register");
	}
	return rt;
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

static void send_to(mn_runtime *rt, mn_kind *k, int c, uint64_t i,
		    uint32_t type, uint64_t pi)
{
	unsigned char key[8];
	bench_key_put(key, i);
	bench_check(
	    mn_send(rt, k, key, 8, type, pool + pi * PAYLOAD_CAP, pool_len[pi]),
	    "mn_send");
	apply(&expect[c][i], type, pool + pi * PAYLOAD_CAP, pool_len[pi]);
}

static uint64_t payload_of(int c, uint64_t i, uint64_t j)
{
	return (i * 131 + j * 7 + (uint64_t)c * 1009) % POOL;
}

/* ---- the bare LMDB peer ----------------------------------------------------
 */

typedef struct peer_rec {
	uint64_t id, snap_seq;
	uint64_t *lsns; /* the T journal entries after the snapshot */
} peer_rec;

typedef struct bare {
	MDB_env *env;
	MDB_dbi names, actors, log, snaps, kinds;
} bare;

static void bare_open(bare *b, const char *dir)
{
	MDB_txn *txn;
	if (mdb_env_create(&b->env) || mdb_env_set_maxdbs(b->env, 16) ||
	    mdb_env_open(b->env, dir, MDB_RDONLY, 0640) ||
	    mdb_txn_begin(b->env, NULL, MDB_RDONLY, &txn) ||
	    mdb_dbi_open(txn, "names", 0, &b->names) ||
	    mdb_dbi_open(txn, "actors", 0, &b->actors) ||
	    mdb_dbi_open(txn, "log", 0, &b->log) ||
	    mdb_dbi_open(txn, "snapshots", 0, &b->snaps) ||
	    mdb_dbi_open(txn, "kinds", 0, &b->kinds))
		bench_die("bare LMDB: cannot open %s", dir);
	/* Commit, not abort: an aborted transaction closes its handles. */
	if (mdb_txn_commit(txn))
		bench_die("bare LMDB: cannot open %s", dir);
}

static void be_put(unsigned char *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (unsigned char)(v >> (8 * (n - 1 - i)));
}

static uint64_t be_get(const unsigned char *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static size_t name_key(unsigned char *kb, uint32_t kind_id, uint64_t i)
{
	be_put(kb, kind_id, 4);
	bench_key_put(kb + 4, i);
	return 12;
}

/* Find, once and untimed, the records each latency actor's rehydration
 * reads (decoding the store's records with the schema). */
static void peer_prepare(const char *dir, uint32_t kind_ids[NCFG],
			 peer_rec *recs[NCFG])
{
	bare b;
	MDB_txn *txn;
	MDB_val k, v;
	unsigned char kb[16];
	bare_open(&b, dir);
	if (mdb_txn_begin(b.env, NULL, MDB_RDONLY, &txn))
		bench_die("bare LMDB: begin");
	for (int c = 0; c < NCFG; c++) {
		const char *name = kind_name(c);
		k.mv_size = strlen(name);
		k.mv_data = (void *)name;
		if (mdb_get(txn, b.kinds, &k, &v))
			bench_die("bare LMDB: kind %s missing", name);
		Mnemo__KindRecord *kr = mnemo__kind_record__unpack(
		    NULL, v.mv_size - FRAME_HDR,
		    (const uint8_t *)v.mv_data + FRAME_HDR);
		if (!kr)
			bench_die("bare LMDB: kind record undecodable");
		kind_ids[c] = kr->id;
		mnemo__kind_record__free_unpacked(kr, NULL);

		uint64_t T = TAILS[c];
		recs[c] = calloc(nact, sizeof(peer_rec));
		for (uint64_t i = 0; i < nact; i++) {
			peer_rec *r = &recs[c][i];
			k.mv_size = name_key(kb, kind_ids[c], i);
			k.mv_data = kb;
			if (mdb_get(txn, b.names, &k, &v) ||
			    v.mv_size != FRAME_HDR + 8)
				bench_die("bare LMDB: name missing");
			r->id = be_get(
			    (const unsigned char *)v.mv_data + FRAME_HDR, 8);
			be_put(kb, r->id, 8);
			k.mv_size = 8;
			if (mdb_get(txn, b.actors, &k, &v))
				bench_die("bare LMDB: actor missing");
			Mnemo__ActorMeta *m = mnemo__actor_meta__unpack(
			    NULL, v.mv_size - FRAME_HDR,
			    (const uint8_t *)v.mv_data + FRAME_HDR);
			if (!m || m->last_seq != 2 * T + 2)
				bench_die(
				    "bare LMDB: actor %llu: last_seq "
				    "%llu, expected %llu",
				    (unsigned long long)r->id,
				    (unsigned long long)(m ? m->last_seq : 0),
				    (unsigned long long)(2 * T + 2));
			uint64_t lsn = m->last_lsn;
			mnemo__actor_meta__free_unpacked(m, NULL);
			r->snap_seq = T + 2;
			r->lsns = calloc(T + 1, sizeof(uint64_t));
			for (uint64_t n = 0; n < T; n++) {
				be_put(kb, lsn, 8);
				if (mdb_get(txn, b.log, &k, &v))
					bench_die("bare LMDB: log %llu missing",
						  (unsigned long long)lsn);
				Mnemo__JournalEntry *e =
				    mnemo__journal_entry__unpack(
					NULL, v.mv_size - FRAME_HDR,
					(const uint8_t *)v.mv_data + FRAME_HDR);
				if (!e || e->actor_id != r->id)
					bench_die("bare LMDB: log %llu: not "
						  "actor %llu's",
						  (unsigned long long)lsn,
						  (unsigned long long)r->id);
				r->lsns[T - 1 - n] = lsn;
				lsn = e->prev_lsn;
				mnemo__journal_entry__free_unpacked(e, NULL);
			}
		}
	}
	mdb_txn_abort(txn);
	mdb_env_close(b.env);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double pct(const double *sorted, size_t n, double p)
{
	size_t i = (size_t)(p * (double)n);
	return sorted[i < n ? i : n - 1];
}

/* The timed bare reads, in a fresh environment (a fresh mapping, as a
 * reopened runtime has): p50 and p99 per configuration, in us. */
static void peer_run(const char *dir, const uint32_t kind_ids[NCFG],
		     peer_rec *recs[NCFG], const uint64_t *order,
		     double p50[NCFG], double p99[NCFG])
{
	bare b;
	MDB_val k, v;
	unsigned char kb[16];
	uint64_t sum = 0;
	uint64_t n = nact - WARM;
	double *lat = malloc(n * sizeof *lat);
	bare_open(&b, dir);
	for (int c = 0; c < NCFG; c++) {
		uint64_t T = TAILS[c];
		for (uint64_t o = 0; o < nact; o++) {
			uint64_t i = order[o];
			peer_rec *r = &recs[c][i];
			MDB_txn *txn;
			double t0 = bench_now();
			if (mdb_txn_begin(b.env, NULL, MDB_RDONLY, &txn))
				bench_die("bare LMDB: begin");
			k.mv_size = name_key(kb, kind_ids[c], i);
			k.mv_data = kb;
			if (mdb_get(txn, b.names, &k, &v))
				bench_die("bare LMDB: name");
			sum +=
			    ((const unsigned char *)v.mv_data)[v.mv_size - 1];
			be_put(kb, r->id, 8);
			k.mv_size = 8;
			if (mdb_get(txn, b.actors, &k, &v))
				bench_die("bare LMDB: actor");
			sum +=
			    ((const unsigned char *)v.mv_data)[v.mv_size - 1];
			be_put(kb + 8, r->snap_seq, 8);
			k.mv_size = 16;
			if (mdb_get(txn, b.snaps, &k, &v))
				bench_die("bare LMDB: snapshot");
			sum +=
			    ((const unsigned char *)v.mv_data)[v.mv_size - 1];
			k.mv_size = 8;
			for (uint64_t e = 0; e < T; e++) {
				be_put(kb, r->lsns[e], 8);
				if (mdb_get(txn, b.log, &k, &v))
					bench_die("bare LMDB: log");
				sum += ((const unsigned char *)
					    v.mv_data)[v.mv_size - 1];
			}
			mdb_txn_abort(txn);
			if (o >= WARM)
				lat[o - WARM] = (bench_now() - t0) * 1e6;
		}
		qsort(lat, n, sizeof *lat, cmp_double);
		p50[c] = pct(lat, n, 0.50);
		p99[c] = pct(lat, n, 0.99);
	}
	mdb_env_close(b.env);
	free(lat);
	if (sum == 1)
		bench_note("(checksum %llu)", (unsigned long long)sum);
}

/* ---- main -----------------------------------------------------------------
 */

static void wait_slot(slot *sl)
{
	unsigned spins = 0;
	double t0 = 0;
	while (!atomic_load_explicit(&sl->done, memory_order_acquire)) {
		if (++spins % 256 == 0) {
			sched_yield();
			if (spins % (1u << 20) == 0) {
				double t = bench_now();
				if (t0 == 0)
					t0 = t;
				else if (t - t0 > BENCH_WAIT_S)
					bench_die("a live message was never "
						  "handled");
			}
		}
	}
}

int main(void)
{
	bench_init("rehydrate");
	unsigned workers = bench_threads();
	uint64_t n = bench_size(2000, 20000);
	nact = WARM + n;
	nper = nact + n; /* keys [0, nact): latency set; [nact, nper): rate */
	char dir[] = "/tmp/mnemo-bench-rehydrate-XXXXXX";
	mn_kind *k[NCFG];
	mn_runtime_stats st0, st1;
	struct bench_json j;

	make_pool();
	for (int c = 0; c < NCFG; c++) {
		expect[c] = calloc(nper, sizeof(rh_state));
		slots[c] = calloc(nper, sizeof(slot));
		if (!expect[c] || !slots[c])
			bench_die("out of memory");
	}
	bench_store_dir(dir);

	/* Prepare: 2T + 2 messages per actor, round-robin. */
	mn_runtime *rt = open_store(dir, workers, k);
	double t0 = bench_now();
	uint64_t total = 0, want_snaps = 0;
	for (uint64_t jj = 0; jj < 2 * TAILS[NCFG - 1] + 2; jj++)
		for (int c = 0; c < NCFG; c++) {
			if (jj >= 2 * TAILS[c] + 2)
				continue;
			for (uint64_t i = 0; i < nper; i++)
				send_to(rt, k[c], c, i, T_PREP,
					payload_of(c, i, jj));
			total += nper;
		}
	for (int c = 0; c < NCFG; c++)
		want_snaps += nper;
	bench_drain(rt);
	check_stats(rt, "prepare");
	mn_runtime_stats_get(rt, &st1);
	if (st1.journaled != total || st1.snapshots != want_snaps)
		bench_die("prepare: journaled %llu (expected %llu), snapshots "
			  "%llu (expected %llu)",
			  (unsigned long long)st1.journaled,
			  (unsigned long long)total,
			  (unsigned long long)st1.snapshots,
			  (unsigned long long)want_snaps);
	bench_note("prepared %llu actors with %llu messages and %llu "
		   "snapshots in %.2f s; store %.1f MiB",
		   (unsigned long long)(NCFG * nper), (unsigned long long)total,
		   (unsigned long long)st1.snapshots, bench_now() - t0,
		   st1.store_bytes / 1048576.0);
	mn_runtime_close(rt);

	/* A random order of the latency set (the same for mnemo and peer). */
	uint64_t *order = malloc(nact * sizeof *order);
	uint64_t x = 0x2545f4914f6cdd1dull;
	for (uint64_t i = 0; i < nact; i++)
		order[i] = i;
	for (uint64_t i = nact - 1; i > 0; i--) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		uint64_t r = x % (i + 1), tmp = order[i];
		order[i] = order[r];
		order[r] = tmp;
	}

	/* The peer first, on exactly the records the latency phase reads. */
	uint32_t kind_ids[NCFG];
	peer_rec *recs[NCFG];
	double peer50[NCFG], peer99[NCFG];
	peer_prepare(dir, kind_ids, recs);
	peer_run(dir, kind_ids, recs, order, peer50, peer99);

	/* Latency, one actor at a time. */
	rt = open_store(dir, workers, k);
	double *lat = malloc(n * sizeof *lat);
	for (int c = 0; c < NCFG; c++) {
		mn_runtime_stats_get(rt, &st0);
		for (uint64_t o = 0; o < nact; o++) {
			uint64_t i = order[o];
			unsigned char key[8];
			uint64_t pi = payload_of(c, i, 1000);
			bench_key_put(key, i);
			double s0 = bench_now();
			bench_check(mn_send(rt, k[c], key, 8, T_LIVE,
					    pool + pi * PAYLOAD_CAP,
					    pool_len[pi]),
				    "mn_send");
			wait_slot(&slots[c][i]);
			if (!slots[c][i].ok)
				bench_die("tail %u: actor %llu came back with "
					  "a wrong state",
					  TAILS[c], (unsigned long long)i);
			if (o >= WARM)
				lat[o - WARM] = (slots[c][i].t - s0) * 1e6;
		}
		bench_drain(rt);
		check_stats(rt, "latency");
		mn_runtime_stats_get(rt, &st1);
		if (st1.rehydrations - st0.rehydrations != nact ||
		    st1.replayed - st0.replayed != nact * TAILS[c])
			bench_die(
			    "tail %u: rehydrations %llu (expected %llu), "
			    "replayed %llu (expected %llu)",
			    TAILS[c],
			    (unsigned long long)(st1.rehydrations -
						 st0.rehydrations),
			    (unsigned long long)nact,
			    (unsigned long long)(st1.replayed - st0.replayed),
			    (unsigned long long)(nact * TAILS[c]));
		qsort(lat, n, sizeof *lat, cmp_double);
		double p50 = pct(lat, n, 0.50), p99 = pct(lat, n, 0.99);
		bench_note("tail %u: p50 %.1f us, p90 %.1f us, p99 %.1f us, "
			   "max %.1f us; bare LMDB reads p50 %.1f us, p99 "
			   "%.1f us",
			   TAILS[c], p50, pct(lat, n, 0.90), p99, lat[n - 1],
			   peer50[c], peer99[c]);

		bench_json_begin(&j, "rehydrate", "rehydrate_p50_us", p50,
				 "us");
		bench_json_u64(&j, "n", n);
		bench_json_u64(&j, "threads", workers);
		bench_json_u64(&j, "tail", TAILS[c]);
		bench_json_u64(&j, "state_bytes", sizeof(rh_state));
		bench_json_peer(&j, "bare_lmdb_read", peer50[c],
				peer50[c] / p50);
		bench_json_end(&j);
		bench_json_begin(&j, "rehydrate", "rehydrate_p99_us", p99,
				 "us");
		bench_json_u64(&j, "n", n);
		bench_json_u64(&j, "threads", workers);
		bench_json_u64(&j, "tail", TAILS[c]);
		bench_json_u64(&j, "state_bytes", sizeof(rh_state));
		bench_json_peer(&j, "bare_lmdb_read", peer99[c],
				peer99[c] / p99);
		bench_json_end(&j);
	}
	mn_runtime_close(rt);
	free(lat);

	/* Rehydrations under load: the untouched rate set, all at once. */
	rt = open_store(dir, workers, k);
	for (int c = 0; c < NCFG; c++) {
		mn_runtime_stats_get(rt, &st0);
		double s0 = bench_now();
		for (uint64_t i = nact; i < nper; i++) {
			unsigned char key[8];
			uint64_t pi = payload_of(c, i, 1000);
			bench_key_put(key, i);
			bench_check(mn_send(rt, k[c], key, 8, T_LIVE,
					    pool + pi * PAYLOAD_CAP,
					    pool_len[pi]),
				    "mn_send");
		}
		bench_drain(rt);
		double wall = bench_now() - s0;
		check_stats(rt, "load");
		mn_runtime_stats_get(rt, &st1);
		uint64_t reh = st1.rehydrations - st0.rehydrations;
		for (uint64_t i = nact; i < nper; i++)
			if (!atomic_load(&slots[c][i].done) || !slots[c][i].ok)
				bench_die("tail %u: actor %llu: %s", TAILS[c],
					  (unsigned long long)i,
					  slots[c][i].done ? "wrong state"
							   : "not handled");
		if (reh != n || st1.replayed - st0.replayed != n * TAILS[c])
			bench_die(
			    "tail %u: rehydrations %llu (expected %llu), "
			    "replayed %llu (expected %llu)",
			    TAILS[c], (unsigned long long)reh,
			    (unsigned long long)n,
			    (unsigned long long)(st1.replayed - st0.replayed),
			    (unsigned long long)(n * TAILS[c]));
		bench_note("tail %u: %llu rehydrations in %.1f ms", TAILS[c],
			   (unsigned long long)reh, wall * 1e3);
		bench_json_begin(&j, "rehydrate", "rehydrations_per_s",
				 (double)reh / wall, "actors/s");
		bench_json_u64(&j, "n", reh);
		bench_json_u64(&j, "threads", workers);
		bench_json_u64(&j, "tail", TAILS[c]);
		bench_json_end(&j);
	}
	mn_runtime_close(rt);

	bench_rm_rf(dir);
	for (int c = 0; c < NCFG; c++) {
		for (uint64_t i = 0; i < nact; i++)
			free(recs[c][i].lsns);
		free(recs[c]);
		free(expect[c]);
		free(slots[c]);
	}
	free(order);
	free(pool);
	return 0;
}
