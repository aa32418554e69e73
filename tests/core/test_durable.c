/*
 * test_durable.c - the durable journal as users rely on it: state back after
 * a restart (full replay), durable sends, output commit, exactly-once across
 * SIGKILL at seeded random points, and the bad-input paths (newer format,
 * corrupt record, unusable directory, full disk).
 *
 * Two kinds: "acct" records every id it is sent and, for FWD, forwards the
 * id to "ledger" (key id % LEDGERS), which records it too. Each records how
 * many times it saw each id, so a duplicate shows as a 2 and a loss as a 0.
 * CHECK makes an actor copy its state to the results table, read by the main
 * thread after drain.
 */
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/support.h"

#define MAXID	4096
#define ACCTS	64
#define LEDGERS 16

enum { T_ADD = 1, T_FWD = 2, T_CHECK = 3, T_BIG = 4 };

typedef struct book {
	uint64_t count, sum;
	uint8_t seen[MAXID];
} book;

static book results_acct[ACCTS], results_ledger[LEDGERS];
static _Atomic uint64_t checks;
static _Atomic uint64_t ledger_handled;
static _Atomic uint64_t journaled_seen_by_ledger;
static mn_kind *ledger_kind;

static int book_init(mn_ctx *ctx, void **state)
{
	(void)ctx;
	*state = calloc(1, sizeof(book));
	return *state ? 0 : MN_ENOMEM;
}

static void book_record(book *b, uint64_t id)
{
	if (MT_CHECKF(id < MAXID, "id %llu out of range",
		      (unsigned long long)id))
		b->seen[id]++;
	b->count++;
	b->sum += id;
}

static void book_check(mn_ctx *ctx, book *b, book *table, unsigned n)
{
	uint64_t k;
	/* A CHECK reports to the outside world: not again in replay. */
	if (mn_ctx_replaying(ctx))
		return;
	if (mt_self_u64(ctx, &k) && MT_CHECK(k < n))
		table[k] = *b;
	atomic_fetch_add(&checks, 1);
}

static int acct_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	book *b = state;
	switch (msg->type) {
	case T_ADD:
	case T_FWD: {
		uint64_t id = mt_get_u64(msg->payload);
		book_record(b, id);
		if (msg->type == T_FWD) {
			unsigned char key[MT_KEY_LEN];
			mt_key_put(key, id % LEDGERS);
			return mn_ctx_send(ctx, ledger_kind, key, sizeof key,
					   T_ADD, msg->payload, 8);
		}
		return 0;
	}
	case T_BIG:
		b->count++;
		return 0;
	case T_CHECK:
		book_check(ctx, b, results_acct, ACCTS);
		return 0;
	}
	return MN_EINVAL;
}

static int ledger_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	book *b = state;
	if (msg->type == T_CHECK) {
		book_check(ctx, b, results_ledger, LEDGERS);
		return 0;
	}
	if (!mn_ctx_replaying(ctx)) {
		mn_runtime_stats st;
		mn_runtime_stats_get(mn_ctx_runtime(ctx), &st);
		atomic_store(&journaled_seen_by_ledger, st.journaled);
		atomic_fetch_add(&ledger_handled, 1);
	}
	book_record(b, mt_get_u64(msg->payload));
	return 0;
}

static mn_kind_def acct_def = {
    .name = "acct", .init = book_init, .handle = acct_handle, .free = free};
static mn_kind_def ledger_def = {
    .name = "ledger", .init = book_init, .handle = ledger_handle, .free = free};

static char store_dir[256];

static void fresh_store(const char *tag)
{
	char cmd[600];
	snprintf(store_dir, sizeof store_dir, "/tmp/mnemo-test-%d-%s",
		 (int)getpid(), tag);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", store_dir);
	assert_int_equal(system(cmd), 0);
}

static void remove_store(void)
{
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", store_dir);
	assert_int_equal(system(cmd), 0);
}

/* Open a runtime on store_dir and register both kinds (which delivers the
 * stored outbox). */
static mn_runtime *open_durable(int durability, unsigned delay_us,
				mn_kind **acct)
{
	mn_runtime_opts o = {.workers = 2,
			     .store_path = store_dir,
			     .durability = durability,
			     .commit_delay_us = delay_us};
	mn_runtime *rt = NULL;
	int rc = mn_runtime_open(&o, &rt);
	if (rc)
		fail_msg("mn_runtime_open: %s (%s)", mn_err_name(rc),
			 mn_errdetail());
	assert_rc(mn_kind_register(rt, &ledger_def, &ledger_kind), 0);
	assert_rc(mn_kind_register(rt, &acct_def, acct), 0);
	return rt;
}

static void send_id(mn_runtime *rt, mn_kind *acct, uint64_t id, uint32_t type,
		    int durable)
{
	unsigned char key[MT_KEY_LEN], p[8];
	mt_key_put(key, id % ACCTS);
	mt_put_u64(p, id);
	if (durable)
		assert_rc(mn_send_durable(rt, acct, key, sizeof key, type, p,
					  sizeof p),
			  0);
	else
		assert_rc(mn_send(rt, acct, key, sizeof key, type, p, sizeof p),
			  0);
}

/* CHECK every actor (after the traffic in flight, e.g. redelivered
 * messages, has settled); results land in the tables. */
static void collect(mn_runtime *rt, mn_kind *acct)
{
	unsigned char key[MT_KEY_LEN];
	mt_drain(rt);
	memset(results_acct, 0, sizeof results_acct);
	memset(results_ledger, 0, sizeof results_ledger);
	atomic_store(&checks, 0);
	for (uint64_t k = 0; k < ACCTS; k++) {
		mt_key_put(key, k);
		assert_rc(mn_send(rt, acct, key, sizeof key, T_CHECK, NULL, 0),
			  0);
	}
	for (uint64_t k = 0; k < LEDGERS; k++) {
		mt_key_put(key, k);
		assert_rc(
		    mn_send(rt, ledger_kind, key, sizeof key, T_CHECK, NULL, 0),
		    0);
	}
	mt_drain(rt);
	assert_int_equal(atomic_load(&checks), ACCTS + LEDGERS);
	mt_assert_no_failures();
}

/* How many times id was seen by its acct and by its ledger. */
static unsigned seen_acct(uint64_t id)
{
	return results_acct[id % ACCTS].seen[id];
}

static unsigned seen_ledger(uint64_t id)
{
	return results_ledger[id % LEDGERS].seen[id];
}

/* State comes back after close and reopen, by replaying the journal. */
static void test_restart_replays_state(void **unused)
{
	(void)unused;
	mn_kind *acct;
	fresh_store("replay");
	mn_runtime *rt = open_durable(MN_DURABILITY_RELAXED, 0, &acct);
	uint64_t n = 2000;
	for (uint64_t id = 1; id <= n; id++)
		send_id(rt, acct, id, T_FWD, 0);
	mt_drain(rt);
	mn_runtime_stats st = mt_stats(rt);
	assert_int_equal(st.journaled, 2 * n);
	assert_true(st.commits >= 1);
	assert_int_equal(st.store_error, 0);
	mn_runtime_close(rt);

	rt = open_durable(MN_DURABILITY_RELAXED, 0, &acct);
	collect(rt, acct);
	for (uint64_t id = 1; id < MAXID; id++) {
		unsigned want = id <= n;
		if (seen_acct(id) != want || seen_ledger(id) != want)
			fail_msg("id %llu seen %u/%u times, want %u",
				 (unsigned long long)id, seen_acct(id),
				 seen_ledger(id), want);
	}
	mn_runtime_close(rt);

	/* A third open: the CHECKs were journaled too and replay again. */
	rt = open_durable(MN_DURABILITY_SYNC, 0, &acct);
	collect(rt, acct);
	assert_int_equal(results_acct[1].count, n / ACCTS + 1);
	mn_runtime_close(rt);
	remove_store();
}

/* Heads written by checkpoints are each actor's newest, for thousands of
 * actors (the writer sorts the touched heads by actor id, in two radix
 * passes beyond 2,048 ids): after a clean close, a reopen replays every
 * actor from its stored head, so an older head would lose messages. */
#define CK_ACTORS 5000
static _Atomic uint64_t ck_count[CK_ACTORS];

static int ck_init(mn_ctx *ctx, void **state)
{
	(void)ctx;
	*state = calloc(1, sizeof(uint64_t));
	return *state ? 0 : MN_ENOMEM;
}

static int ck_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	uint64_t *n = state, k;
	if (msg->type == T_ADD) {
		++*n;
	} else if (!mn_ctx_replaying(ctx) && mt_self_u64(ctx, &k) &&
		   MT_CHECK(k < CK_ACTORS)) {
		atomic_store(&ck_count[k], *n);
	}
	return 0;
}

static mn_kind_def ck_def = {
    .name = "ck", .init = ck_init, .handle = ck_handle, .free = free};

static void test_checkpoint_heads_many_actors(void **unused)
{
	(void)unused;
	uint64_t want[CK_ACTORS] = {0};
	unsigned char key[MT_KEY_LEN];
	mt_rng r;
	mt_rng_init(&r, 31);
	fresh_store("ckpt");
	for (int round = 0; round < 3; round++) {
		mn_runtime_opts o = {.workers = 2,
				     .store_path = store_dir,
				     .durability = MN_DURABILITY_RELAXED,
				     .checkpoint_every = 512};
		mn_runtime *rt;
		mn_kind *ck;
		assert_rc(mn_runtime_open(&o, &rt), 0);
		assert_rc(mn_kind_register(rt, &ck_def, &ck), 0);
		mn_recovery rec;
		mn_runtime_recovery(rt, &rec);
		/* A clean close leaves exact heads: nothing to repair. */
		assert_int_equal(rec.heads_repaired, 0);
		for (uint64_t k = 0; k < CK_ACTORS; k++) {
			atomic_store(&ck_count[k], UINT64_MAX);
			mt_key_put(key, k);
			assert_rc(
			    mn_send(rt, ck, key, sizeof key, T_CHECK, NULL, 0),
			    0);
		}
		mt_drain(rt);
		for (uint64_t k = 0; k < CK_ACTORS; k++)
			if (atomic_load(&ck_count[k]) != want[k])
				fail_msg("round %d: actor %llu has %llu "
					 "messages, want %llu",
					 round, (unsigned long long)k,
					 (unsigned long long)atomic_load(
					     &ck_count[k]),
					 (unsigned long long)want[k]);
		/* Random actors, in random order: many checkpoints. */
		for (int i = 0; i < 20000; i++) {
			uint64_t k = mt_rng_below(&r, CK_ACTORS);
			want[k]++;
			mt_key_put(key, k);
			assert_rc(
			    mn_send(rt, ck, key, sizeof key, T_ADD, NULL, 0),
			    0);
		}
		mt_drain(rt);
		mt_assert_no_failures();
		mn_runtime_close(rt);
	}
	remove_store();
}

/* Records of every size go through the workers' record rings: small ones,
 * ones that wrap around the ring's end, and ones too large for it (heap),
 * interleaved; each is journaled intact. Payloads are random bytes (they do
 * not compress), so the stored records are as large as the payloads. */
#define BIG_ACTORS 3
static _Atomic uint64_t big_hash[BIG_ACTORS];

static uint64_t fnv_step(uint64_t h, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

static int big_init(mn_ctx *ctx, void **state)
{
	(void)ctx;
	*state = malloc(sizeof(uint64_t));
	if (!*state)
		return MN_ENOMEM;
	*(uint64_t *)*state = 0xcbf29ce484222325ull;
	return 0;
}

static int big_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	uint64_t *h = state, k;
	if (msg->type == T_BIG)
		*h = fnv_step(*h, msg->payload, msg->len);
	else if (!mn_ctx_replaying(ctx) && mt_self_u64(ctx, &k) &&
		 MT_CHECK(k < BIG_ACTORS))
		atomic_store(&big_hash[k], *h);
	return 0;
}

static mn_kind_def big_def = {
    .name = "big", .init = big_init, .handle = big_handle, .free = free};

static void test_records_of_every_size(void **unused)
{
	(void)unused;
	uint64_t want[BIG_ACTORS];
	unsigned char key[MT_KEY_LEN];
	size_t max = 300 * 1024;
	unsigned char *p = malloc(max);
	assert_non_null(p);
	mt_rng r;
	mt_rng_init(&r, 77);
	for (int k = 0; k < BIG_ACTORS; k++)
		want[k] = 0xcbf29ce484222325ull;
	fresh_store("sizes");
	/* Round 0: groups held open 3 ms, so each worker's 4 MiB ring wraps
	 * many times; round 1: held 100 ms, so records pile up unreleased
	 * and the rings fill (the rest goes to the heap); round 2 replays. */
	for (int round = 0; round < 3; round++) {
		mn_runtime_opts o = {.workers = 2,
				     .store_path = store_dir,
				     .durability = MN_DURABILITY_RELAXED,
				     .max_payload = max,
				     .commit_delay_us = round ? 100000 : 3000};
		mn_runtime *rt;
		mn_kind *big;
		assert_rc(mn_runtime_open(&o, &rt), 0);
		assert_rc(mn_kind_register(rt, &big_def, &big), 0);
		/* About 30 MiB of records a round. */
		for (int i = 0; round < 2 && i < 900; i++) {
			uint64_t k = mt_rng_below(&r, BIG_ACTORS);
			size_t n = i % 10 == 0 ? 1 + mt_rng_below(&r, max)
				   : i % 4 == 0
				       ? 1 + mt_rng_below(&r, 64)
				       : 1 + mt_rng_below(&r, 64 * 1024);
			for (size_t j = 0; j < n; j++)
				p[j] = (unsigned char)mt_rng_next(&r);
			want[k] = fnv_step(want[k], p, n);
			mt_key_put(key, k);
			assert_rc(
			    mn_send(rt, big, key, sizeof key, T_BIG, p, n), 0);
		}
		mt_drain(rt);
		for (uint64_t k = 0; k < BIG_ACTORS; k++) {
			atomic_store(&big_hash[k], 0);
			mt_key_put(key, k);
			assert_rc(
			    mn_send(rt, big, key, sizeof key, T_CHECK, NULL, 0),
			    0);
		}
		mt_drain(rt);
		mt_assert_no_failures();
		assert_int_equal(mt_stats(rt).broken, 0);
		for (int k = 0; k < BIG_ACTORS; k++)
			if (atomic_load(&big_hash[k]) != want[k])
				fail_msg("round %d: actor %d's payloads differ",
					 round, k);
		mn_runtime_close(rt);
	}
	free(p);
	remove_store();
}

/* Payloads up to the default limit (MN_PAYLOAD_MAX_DEFAULT), compressible
 * (a few letters cycling: zstd shrinks them a thousandfold) and not, sent
 * durably with default options: each is acknowledged, journaled intact
 * (the actors' payload hashes after a reopen equal the model's) and the
 * store verifies healthy. The limit itself is accepted, one byte more is
 * refused. Under ASan this is the durable path with payloads of 64 KB to
 * 1 MB (a compressed record was once copied out of a buffer already freed
 * because it had grown past its keep size). */
static void test_large_payloads(void **unused)
{
	(void)unused;
	static const size_t sizes[] = {
	    1,		4095,	    65536,
	    70 * 1024,	100 * 1024, 300000,
	    512 * 1024, 999999,	    MN_PAYLOAD_MAX_DEFAULT};
	const size_t n = sizeof sizes / sizeof sizes[0];
	uint64_t want[BIG_ACTORS];
	unsigned char key[MT_KEY_LEN];
	unsigned char *p = malloc(MN_PAYLOAD_MAX_DEFAULT + 1);
	assert_non_null(p);
	mt_rng r;
	mt_rng_init(&r, 91);
	for (int k = 0; k < BIG_ACTORS; k++)
		want[k] = 0xcbf29ce484222325ull;
	fresh_store("large");
	mt_tool_setup("/tmp");
	for (int round = 0; round < 2; round++) {
		mn_runtime_opts o = {.store_path = store_dir};
		mn_runtime *rt;
		mn_kind *big;
		assert_rc(mn_runtime_open(&o, &rt), 0);
		assert_rc(mn_kind_register(rt, &big_def, &big), 0);
		for (size_t i = 0; round == 0 && i < 2 * n; i++) {
			size_t len = sizes[i / 2];
			bool compressible = i % 2 == 0;
			uint64_t k = i % BIG_ACTORS;
			for (size_t j = 0; j < len; j++)
				p[j] = compressible
					   ? (unsigned char)("abcab"[j % 5])
					   : (unsigned char)mt_rng_next(&r);
			want[k] = fnv_step(want[k], p, len);
			mt_key_put(key, k);
			assert_rc(mn_send_durable(rt, big, key, sizeof key,
						  T_BIG, p, len),
				  0);
		}
		if (round == 0) {
			memset(p, 'x', MN_PAYLOAD_MAX_DEFAULT + 1);
			mt_key_put(key, 0);
			assert_rc(mn_send_durable(rt, big, key, sizeof key,
						  T_BIG, p,
						  MN_PAYLOAD_MAX_DEFAULT + 1),
				  MN_ETOOBIG);
		}
		mt_drain(rt);
		for (uint64_t k = 0; k < BIG_ACTORS; k++) {
			atomic_store(&big_hash[k], 0);
			mt_key_put(key, k);
			assert_rc(
			    mn_send(rt, big, key, sizeof key, T_CHECK, NULL, 0),
			    0);
		}
		mt_drain(rt);
		mt_assert_no_failures();
		assert_int_equal(mt_stats(rt).broken, 0);
		assert_int_equal(mt_stats(rt).handler_errors, 0);
		for (int k = 0; k < BIG_ACTORS; k++)
			if (atomic_load(&big_hash[k]) != want[k])
				fail_msg("round %d: actor %d's payloads differ",
					 round, k);
		mn_runtime_close(rt);
		mt_tool_res *tr = malloc(sizeof *tr);
		assert_non_null(tr);
		if (mt_tool(tr, "verify '%s'", store_dir) != 0)
			fail_msg("round %d: verify: %s%s", round, tr->out,
				 tr->err);
		free(tr);
	}
	free(p);
	remove_store();
}

/* A durable send is processed even if the runtime closes at once, without
 * a drain: the message waits in the outbox. */
static void test_durable_survives_close(void **unused)
{
	(void)unused;
	mn_kind *acct;
	fresh_store("durable");
	mn_runtime *rt = open_durable(MN_DURABILITY_SYNC, 0, &acct);
	uint64_t n = 300;
	for (uint64_t id = 1; id <= n; id++)
		send_id(rt, acct, id, T_FWD, 1);
	mn_runtime_close(rt);

	rt = open_durable(MN_DURABILITY_SYNC, 0, &acct);
	collect(rt, acct);
	for (uint64_t id = 1; id <= n; id++)
		if (seen_acct(id) != 1 || seen_ledger(id) != 1)
			fail_msg("id %llu seen %u/%u times",
				 (unsigned long long)id, seen_acct(id),
				 seen_ledger(id));
	mn_runtime_close(rt);
	remove_store();
}

/* The writer never sleeps with records queued (W4). Two threads send one
 * durable message each at the same moment, then wait for both to be
 * acknowledged, round after round: every round ends with the writer going
 * to sleep just as a producer may be mid-push, the moment where it once
 * slept with a record it could not yet reach (about 1 round in 10^5).
 * Bounded by rounds and by time; a stranded record shows as a round that
 * is not acknowledged within 5 s. */
typedef struct handoff {
	mn_runtime *rt;
	mn_kind *acct;
	_Atomic unsigned round; /* the round both threads send in */
	_Atomic uint64_t acked; /* acknowledgements so far */
	_Atomic unsigned stop;
	unsigned rounds;
} handoff;

static void handoff_ack(void *arg, int rc)
{
	handoff *h = arg;
	MT_CHECKF(rc == 0, "durable send acknowledged with %s",
		  mn_err_name(rc));
	atomic_fetch_add(&h->acked, 1);
}

static void handoff_thread(unsigned i, void *arg)
{
	handoff *h = arg;
	for (unsigned r = 1; r <= h->rounds; r++) {
		while (atomic_load(&h->round) < r && !atomic_load(&h->stop))
			sched_yield();
		if (atomic_load(&h->stop))
			return;
		unsigned char key[MT_KEY_LEN], p[8];
		mt_key_put(key, i);
		mt_put_u64(p, (uint64_t)r % MAXID);
		int rc =
		    mn_send_durable_async(h->rt, h->acct, key, sizeof key,
					  T_ADD, p, sizeof p, handoff_ack, h);
		if (!MT_CHECKF(rc == 0, "send: %s", mn_err_name(rc)))
			atomic_store(&h->stop, 1);
	}
}

typedef struct handoff_run {
	handoff *h;
	unsigned nthreads;
} handoff_run;

static void handoff_senders(unsigned i, void *arg)
{
	handoff_run *hr = arg;
	if (i < hr->nthreads) {
		handoff_thread(i, hr->h);
		return;
	}
	/* The conductor: start a round once the last one is acknowledged. */
	handoff *h = hr->h;
	double end = mt_now() + 3.0;
	for (unsigned r = 1; r <= h->rounds && !atomic_load(&h->stop); r++) {
		atomic_store(&h->round, r);
		uint64_t want = (uint64_t)r * hr->nthreads;
		if (!mt_wait_u64(&h->acked, want, 5.0)) {
			mt_fail_at(__FILE__, __LINE__,
				   "round %u: %llu of %llu durable sends "
				   "acknowledged after 5 s (a record stranded "
				   "while the writer sleeps)",
				   r,
				   (unsigned long long)atomic_load(&h->acked),
				   (unsigned long long)want);
			atomic_store(&h->stop, 1);
		}
		if (mt_now() > end)
			break; /* bounded in time as well as rounds */
	}
	atomic_store(&h->stop, 1);
}

static void test_writer_sleeps_only_when_drained(void **unused)
{
	(void)unused;
	mn_kind *acct;
	fresh_store("handoff");
	mn_runtime *rt = open_durable(MN_DURABILITY_RELAXED, 0, &acct);
	handoff h = {.rt = rt,
		     .acct = acct,
		     .rounds = (unsigned)mt_scaled(200000, 1000)};
	handoff_run hr = {.h = &h, .nthreads = 2};
	double t0 = mt_now();
	mt_parallel(3, handoff_senders, &hr);
	print_message("%llu durable sends acknowledged in %.2f s\n",
		      (unsigned long long)atomic_load(&h.acked), mt_now() - t0);
	mt_assert_no_failures();
	mn_runtime_close(rt);
	remove_store();
}

/* Output commit: a message a handler sends reaches its recipient only after
 * the sender's commit. The group commit is held open 300 ms. */
static void test_output_commit(void **unused)
{
	(void)unused;
	mn_kind *acct;
	fresh_store("outcommit");
	atomic_store(&ledger_handled, 0);
	atomic_store(&journaled_seen_by_ledger, 0);
	mn_runtime *rt = open_durable(MN_DURABILITY_SYNC, 300000, &acct);
	send_id(rt, acct, 7, T_FWD, 0);
	mt_sleep_ms(100);
	/* acct handled it long ago, but its record is not committed. */
	assert_int_equal(atomic_load(&ledger_handled), 0);
	assert_int_equal(mt_stats(rt).journaled, 0);
	mt_drain(rt);
	assert_int_equal(atomic_load(&ledger_handled), 1);
	/* When ledger ran, acct's entry was in the store. */
	assert_true(atomic_load(&journaled_seen_by_ledger) >= 1);
	mn_runtime_close(rt);
	remove_store();
}

/* ---- exactly once across SIGKILL ------------------------------------------
 */

typedef struct child_sender {
	mn_runtime *rt;
	mn_kind *acct;
	int fd;
} child_sender;

static child_sender cs;

static void child_send(unsigned t, void *arg)
{
	(void)arg;
	for (uint64_t id = 1 + t; id < MAXID; id += 3) {
		unsigned char key[MT_KEY_LEN], p[8];
		mt_key_put(key, id % ACCTS);
		mt_put_u64(p, id);
		if (mn_send_durable(cs.rt, cs.acct, key, sizeof key, T_FWD, p,
				    sizeof p) != 0)
			_exit(3);
		uint32_t v = (uint32_t)id;
		if (write(cs.fd, &v, sizeof v) != sizeof v)
			_exit(4);
	}
}

/* The child: durable sends from 3 threads, each acknowledged on the pipe
 * once mn_send_durable returned. Runs until killed. */
static void child_main(int fd, int durability)
{
	mn_runtime_opts o = {
	    .workers = 2, .store_path = store_dir, .durability = durability};
	if (mn_runtime_open(&o, &cs.rt) ||
	    mn_kind_register(cs.rt, &ledger_def, &ledger_kind) ||
	    mn_kind_register(cs.rt, &acct_def, &cs.acct))
		_exit(2);
	cs.fd = fd;
	mt_parallel(3, child_send, NULL);
	pause();
	_exit(0);
}

static void crash_once(uint64_t seed, int durability)
{
	int fds[2];
	uint8_t acked[MAXID] = {0};
	mn_kind *acct;
	mt_rng r;

	mt_rng_init(&r, seed);
	uint64_t kill_after = 50 + mt_rng_below(&r, 1200);
	printf("# crash seed %llu: SIGKILL after %llu acks (%s)\n",
	       (unsigned long long)seed, (unsigned long long)kill_after,
	       durability == MN_DURABILITY_SYNC ? "sync" : "relaxed");
	fresh_store("crash");
	assert_int_equal(pipe(fds), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		child_main(fds[1], durability);
	}
	close(fds[1]);
	uint64_t nacked = 0;
	uint32_t v;
	while (nacked < kill_after && read(fds[0], &v, sizeof v) == sizeof v) {
		assert_true(v < MAXID);
		acked[v] = 1;
		nacked++;
	}
	kill(pid, SIGKILL);
	/* Acks already in the pipe were acknowledged before the kill. */
	while (read(fds[0], &v, sizeof v) == sizeof v) {
		acked[v] = 1;
		nacked++;
	}
	close(fds[0]);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));

	mn_runtime *rt = open_durable(durability, 0, &acct);
	mt_drain(rt);
	collect(rt, acct);
	uint64_t processed = 0;
	for (uint64_t id = 1; id < MAXID; id++) {
		unsigned a = seen_acct(id), l = seen_ledger(id);
		if (acked[id] && a != 1)
			fail_msg("seed %llu: acknowledged id %llu processed %u "
				 "times",
				 (unsigned long long)seed,
				 (unsigned long long)id, a);
		if (a > 1 || l != a)
			fail_msg("seed %llu: id %llu processed %u times, "
				 "forwarded copy %u times",
				 (unsigned long long)seed,
				 (unsigned long long)id, a, l);
		processed += a;
	}
	printf("# crash seed %llu: %llu acknowledged, %llu processed, all "
	       "exactly once\n",
	       (unsigned long long)seed, (unsigned long long)nacked,
	       (unsigned long long)processed);
	mn_runtime_close(rt);
	remove_store();
}

static void test_exactly_once_across_sigkill(void **unused)
{
	(void)unused;
	uint64_t seed = mt_seed();
	unsigned runs = MT_TSAN ? 2 : 4;
	for (unsigned i = 0; i < runs; i++)
		crash_once(seed + i,
			   i == 0 ? MN_DURABILITY_SYNC : MN_DURABILITY_RELAXED);
}

/* ---- bad input -------------------------------------------------------------
 */

static void test_newer_format_refused(void **unused)
{
	(void)unused;
	mn_kind *acct;
	fresh_store("version");
	mn_runtime *rt = open_durable(MN_DURABILITY_RELAXED, 0, &acct);
	mn_runtime_close(rt);

	/* A header that says format 99, framed and checksummed right. */
	mt_store_set_format(store_dir, 99);

	mn_runtime_opts o = {.store_path = store_dir};
	mn_runtime *rt2 = NULL;
	assert_rc(mn_runtime_open(&o, &rt2), MN_EVERSION);
	assert_null(rt2);
	assert_non_null(strstr(mn_errdetail(), "format version 99"));
	remove_store();
}

static void test_corrupt_record_detected(void **unused)
{
	(void)unused;
	mn_kind *acct;
	fresh_store("corrupt");
	mn_runtime *rt = open_durable(MN_DURABILITY_RELAXED, 0, &acct);
	send_id(rt, acct, 5, T_ADD, 0);
	mt_drain(rt);
	mn_runtime_close(rt);

	/* Flip one payload byte of the first journal entry. */
	unsigned char k[8] = {0, 0, 0, 0, 0, 0, 0, 1}, v[512];
	size_t n = mt_store_peek(store_dir, "log", k, 8, v, sizeof v);
	v[n - 1] ^= 0x40;
	mt_store_poke(store_dir, "log", k, 8, v, n);

	rt = open_durable(MN_DURABILITY_RELAXED, 0, &acct);
	unsigned char key[MT_KEY_LEN];
	mt_key_put(key, 5 % ACCTS);
	atomic_store(&checks, 0);
	assert_rc(mn_send(rt, acct, key, sizeof key, T_CHECK, NULL, 0), 0);
	mt_drain(rt);
	/* The actor cannot come back from a corrupt history: its messages
	 * fail (counted), it never runs on a wrong state. */
	assert_int_equal(atomic_load(&checks), 0);
	assert_true(mt_stats(rt).handler_errors >= 1);
	mn_runtime_close(rt);
	remove_store();
}

static void test_unusable_directory(void **unused)
{
	(void)unused;
	char path[300];
	fresh_store("notadir");
	FILE *f = fopen(store_dir, "w");
	assert_non_null(f);
	fclose(f);
	snprintf(path, sizeof path, "%s/sub", store_dir);
	mn_runtime_opts o = {.store_path = path};
	mn_runtime *rt = NULL;
	assert_rc(mn_runtime_open(&o, &rt), MN_EIO);
	assert_non_null(strstr(mn_errdetail(), path));
	o.durability = 7;
	assert_rc(mn_runtime_open(&o, &rt), MN_EINVAL);
	unlink(store_dir);
}

/* A full disk: the store on an 8 MiB tmpfs (as root; otherwise a file size
 * limit, which LMDB reports as an I/O error). The durable send that does not
 * fit fails with MN_ENOSPC, later ones too, and everything acknowledged
 * before is intact when the store is opened again. */
static void test_full_disk(void **unused)
{
	(void)unused;
	int fds[2];
	mn_kind *acct;
	char cmd[2048];
	fresh_store("full");
	assert_int_equal(mkdir(store_dir, 0750), 0);
	snprintf(cmd, sizeof cmd,
		 "mount -t tmpfs -o size=8m tmpfs '%s' 2>/dev/null", store_dir);
	int mounted = system(cmd) == 0;
	int want = mounted ? MN_ENOSPC : MN_EIO;
	printf("# full disk: %s\n",
	       mounted ? "8 MiB tmpfs" : "RLIMIT_FSIZE (not root)");
	assert_int_equal(pipe(fds), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit rl = {.rlim_cur = 8 << 20, .rlim_max = 8 << 20};
		signal(SIGXFSZ, SIG_IGN);
		close(fds[0]);
		mn_runtime_opts o = {.workers = 1, .store_path = store_dir};
		mn_runtime *rt;
		mn_kind *k;
		if (mn_runtime_open(&o, &rt) ||
		    mn_kind_register(rt, &ledger_def, &ledger_kind) ||
		    mn_kind_register(rt, &acct_def, &k))
			_exit(2);
		if (!mounted)
			setrlimit(RLIMIT_FSIZE, &rl);
		static unsigned char big[200000];
		unsigned char key[MT_KEY_LEN];
		mt_key_put(key, 1);
		int rc = 0;
		uint32_t i;
		for (i = 0; i < 1000 && rc == 0; i++) {
			/* Random bytes: zstd cannot shrink them. */
			uint64_t x = 0x9e3779b97f4a7c15ull * (i + 1);
			for (size_t j = 0; j < sizeof big; j++) {
				x ^= x << 13;
				x ^= x >> 7;
				x ^= x << 17;
				big[j] = (unsigned char)x;
			}
			rc = mn_send_durable(rt, k, key, sizeof key, T_BIG, big,
					     sizeof big);
			if (rc == 0 && write(fds[1], &i, 4) != 4)
				_exit(4);
		}
		int rc2 =
		    mn_send_durable(rt, k, key, sizeof key, T_BIG, "x", 1);
		mn_runtime_close(rt);
		printf("# full disk child: %s then %s (%s)\n", mn_err_name(rc),
		       mn_err_name(rc2), mn_errdetail());
		fflush(stdout);
		_exit(rc == want && rc2 == want ? 0 : 5);
	}
	close(fds[1]);
	uint32_t v, acked = 0;
	while (read(fds[0], &v, 4) == 4)
		acked++;
	close(fds[0]);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_true(acked > 0);

	/* Reopen with room to spare (a larger tmpfs would do; unmounting
	 * moves nothing, so copy the store out first). */
	if (mounted) {
		snprintf(cmd, sizeof cmd,
			 "cp -a '%s' '%s.copy' && umount '%s' && rmdir '%s' && "
			 "mv '%s.copy' '%s'",
			 store_dir, store_dir, store_dir, store_dir, store_dir,
			 store_dir);
		assert_int_equal(system(cmd), 0);
	}
	mn_runtime *rt = open_durable(MN_DURABILITY_SYNC, 0, &acct);
	collect(rt, acct);
	assert_int_equal(results_acct[1].count, acked);
	mn_runtime_close(rt);
	remove_store();
}

int main(void)
{
	mt_init("core/durable");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_restart_replays_state, mt_setup),
	    cmocka_unit_test_setup(test_checkpoint_heads_many_actors, mt_setup),
	    cmocka_unit_test_setup(test_records_of_every_size, mt_setup),
	    cmocka_unit_test_setup(test_large_payloads, mt_setup),
	    cmocka_unit_test_setup(test_durable_survives_close, mt_setup),
	    cmocka_unit_test_setup(test_writer_sleeps_only_when_drained,
				   mt_setup),
	    cmocka_unit_test_setup(test_output_commit, mt_setup),
	    cmocka_unit_test_setup(test_exactly_once_across_sigkill, mt_setup),
	    cmocka_unit_test_setup(test_newer_format_refused, mt_setup),
	    cmocka_unit_test_setup(test_corrupt_record_detected, mt_setup),
	    cmocka_unit_test_setup(test_unusable_directory, mt_setup),
	    cmocka_unit_test_setup(test_full_disk, mt_setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
