/*
 * test_evict.c - more actors than memory holds: eviction, snapshots,
 * rehydration, durable timers.
 *
 * The kind "acc" folds every value it receives into (count, sum, digest) in
 * order, so any lost, duplicated or reordered message changes its state; it
 * has snapshot/restore callbacks and a small snapshot_every, so histories
 * mix snapshots and journal tails. The tests compare every actor's state
 * with a model kept by the test, after random evictions and restarts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/support/support.h"

enum { T_ADD = 1, T_CHECK = 2, T_SET_TIMER = 3, T_FIRE = 4, T_SEQ = 5 };

typedef struct acc {
	uint64_t count, sum, digest;
	uint64_t fired;	       /* timer firings seen */
	uint64_t last[8];      /* last sequence number per sender thread */
	uint64_t order_errors; /* out-of-order sequence numbers */
} acc;

typedef struct model {
	uint64_t count, sum, digest;
} model;

#define NACT 300
static model want[NACT];
static acc got[NACT];
static _Atomic uint64_t checks;
static _Atomic int restore_fail_key = -1;

static uint64_t fold(uint64_t d, uint64_t v)
{
	return (d ^ v) * 0x100000001b3ull + 0x9e37;
}

static int acc_init(mn_ctx *ctx, void **state)
{
	(void)ctx;
	*state = calloc(1, sizeof(acc));
	return *state ? 0 : MN_ENOMEM;
}

static int acc_snapshot(const void *state, mn_buf *out)
{
	return mn_buf_append(out, state, sizeof(acc));
}

static int acc_restore(mn_ctx *ctx, const void *bytes, size_t len, void **state)
{
	uint64_t k;
	if (len != sizeof(acc))
		return MN_ECORRUPT;
	if (mt_self_u64(ctx, &k) && (int)k == atomic_load(&restore_fail_key))
		return MN_ECORRUPT; /* this one's snapshot is "bad" */
	acc *a = malloc(sizeof *a);
	if (!a)
		return MN_ENOMEM;
	memcpy(a, bytes, len);
	*state = a;
	return 0;
}

static int acc_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	acc *a = state;
	uint64_t k = 0;
	switch (msg->type) {
	case T_ADD: {
		uint64_t v = mt_get_u64(msg->payload);
		a->count++;
		a->sum += v;
		a->digest = fold(a->digest, v);
		return 0;
	}
	case T_SEQ: { /* [thread][seq]: per sender order */
		uint64_t t = mt_get_u64(msg->payload);
		uint64_t seq = mt_get_u64((const char *)msg->payload + 8);
		if (t < 8) {
			if (seq != a->last[t] + 1)
				a->order_errors++;
			a->last[t] = seq;
		}
		a->count++;
		return 0;
	}
	case T_SET_TIMER: {
		uint64_t delay = mt_get_u64(msg->payload);
		return mn_ctx_after(ctx, delay, T_FIRE, "tick", 4, NULL);
	}
	case T_FIRE:
		MT_CHECK(msg->flags & MN_MSG_TIMER);
		a->fired++;
		return 0;
	case T_CHECK:
		if (mn_ctx_replaying(ctx))
			return 0;
		if (mt_self_u64(ctx, &k) && k < NACT)
			got[k] = *a;
		atomic_fetch_add(&checks, 1);
		return 0;
	}
	return MN_EINVAL;
}

static mn_kind_def acc_def = {.name = "acc",
			      .init = acc_init,
			      .handle = acc_handle,
			      .snapshot = acc_snapshot,
			      .restore = acc_restore,
			      .free = free,
			      .snapshot_every = 7};

static char dir[256];

static void fresh(const char *tag)
{
	char cmd[600];
	snprintf(dir, sizeof dir, "/tmp/mnemo-evict-%d-%s", (int)getpid(), tag);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void cleanup(void)
{
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static mn_runtime *open_rt(uint64_t max_resident, mn_kind **k)
{
	/* Checkpoints every 16 entries, written in pieces, interleave with
	 * evictions (a stale checkpoint head once overwrote an eviction's). */
	mn_runtime_opts o = {.workers = 2,
			     .store_path = dir,
			     .durability = MN_DURABILITY_RELAXED,
			     .max_resident = max_resident,
			     .checkpoint_every = 16};
	mn_runtime *rt = NULL;
	int rc = mn_runtime_open(&o, &rt);
	if (rc)
		fail_msg("open: %s (%s)", mn_err_name(rc), mn_errdetail());
	assert_rc(mn_kind_register(rt, &acc_def, k), 0);
	return rt;
}

static void send_u64(mn_runtime *rt, mn_kind *k, uint64_t key, uint32_t type,
		     uint64_t v)
{
	unsigned char kb[MT_KEY_LEN], p[8];
	mt_key_put(kb, key);
	mt_put_u64(p, v);
	assert_rc(mn_send(rt, k, kb, sizeof kb, type, p, sizeof p), 0);
}

/* Wait until the evictor brought the resident count down to at most n. */
static uint64_t wait_resident(mn_runtime *rt, uint64_t n)
{
	mn_runtime_stats st;
	for (int i = 0; i < 400; i++) {
		mn_runtime_stats_get(rt, &st);
		if (st.actors <= n)
			return st.actors;
		mt_sleep_ms(10);
	}
	return st.actors;
}

static void check_all(mn_runtime *rt, mn_kind *k, unsigned n)
{
	memset(got, 0, sizeof got);
	atomic_store(&checks, 0);
	for (unsigned i = 0; i < n; i++)
		send_u64(rt, k, i, T_CHECK, 0);
	mt_drain(rt);
	assert_int_equal(atomic_load(&checks), n);
	for (unsigned i = 0; i < n; i++) {
		if (got[i].count != want[i].count ||
		    got[i].sum != want[i].sum ||
		    got[i].digest != want[i].digest)
			fail_msg(
			    "actor %u: count %llu sum %llu, model %llu %llu", i,
			    (unsigned long long)got[i].count,
			    (unsigned long long)got[i].sum,
			    (unsigned long long)want[i].count,
			    (unsigned long long)want[i].sum);
	}
	mt_assert_no_failures();
}

/* Property: for random messages, random eviction pressure and random
 * restarts, every actor's state equals the model's (never evicting). */
static void test_state_survives_evictions_and_restarts(void **unused)
{
	(void)unused;
	mn_kind *k;
	mt_rng r;
	mt_rng_init(&r, 1);
	fresh("prop");
	memset(want, 0, sizeof want);
	uint64_t limit = 20, evictions = 0, rehydrations = 0;
	mn_runtime *rt = open_rt(limit, &k);
	unsigned rounds = MT_TSAN ? 6 : 12;
	for (unsigned round = 0; round < rounds; round++) {
		unsigned n = 200 + (unsigned)mt_rng_below(&r, 800);
		for (unsigned i = 0; i < n; i++) {
			uint64_t key = mt_rng_below(&r, NACT);
			uint64_t v = mt_rng_next(&r) >> 20;
			send_u64(rt, k, key, T_ADD, v);
			want[key].count++;
			want[key].sum += v;
			want[key].digest = fold(want[key].digest, v);
		}
		mt_drain(rt);
		/* Let the evictor work, sometimes; restart, sometimes. */
		if (mt_rng_below(&r, 2))
			assert_true(wait_resident(rt, limit) <= limit);
		if (mt_rng_below(&r, 3) == 0) {
			mn_runtime_stats cs = mt_stats(rt);
			evictions += cs.evictions;
			rehydrations += cs.rehydrations;
			mn_runtime_close(rt);
			limit = 20 + mt_rng_below(&r, 50);
			rt = open_rt(limit, &k);
		}
	}
	mn_runtime_stats st = mt_stats(rt);
	evictions += st.evictions;
	rehydrations += st.rehydrations;
	printf("# evictions %llu, rehydrations %llu (all runtimes)\n",
	       (unsigned long long)evictions, (unsigned long long)rehydrations);
	assert_true(evictions > 0);
	assert_true(rehydrations > 0);
	assert_int_equal(st.broken, 0);
	check_all(rt, k, NACT);
	mn_runtime_close(rt);
	cleanup();
}

/* Evicted actors cost no memory: with max_resident 50 and 2,000 actors,
 * the resident count comes down to the limit. */
static void test_evicted_actors_leave_memory(void **unused)
{
	(void)unused;
	mn_kind *k;
	fresh("mem");
	mn_runtime *rt = open_rt(50, &k);
	for (uint64_t i = 0; i < 2000; i++)
		send_u64(rt, k, i, T_ADD, i);
	mt_drain(rt);
	uint64_t resident = wait_resident(rt, 50);
	assert_true(resident <= 50);
	mn_runtime_stats st = mt_stats(rt);
	assert_true(st.evictions >= 1950);
	/* And they come back with their state. */
	memset(want, 0, sizeof want);
	for (uint64_t i = 0; i < NACT; i++) {
		want[i].count = 1;
		want[i].sum = i;
		want[i].digest = fold(0, i);
	}
	check_all(rt, k, NACT);
	mn_runtime_close(rt);
	cleanup();
}

/* Eviction racing new messages: 4 threads hammer 8 actors with numbered
 * messages while max_resident 1 makes the evictor try constantly. No
 * message is lost, duplicated or reordered. */
typedef struct race {
	mn_runtime *rt;
	mn_kind *k;
	unsigned per;
} race;

/* Thread 0, half-way: wait (bounded) until the runtime has evicted an
 * actor. The other senders keep sending meanwhile, so evictions race with
 * their messages; once they are done every actor goes idle and the clock
 * sweep evicts, so at least one eviction no longer depends on how the
 * scheduler interleaves (under TSan the senders sometimes kept all eight
 * actors busy to the end: no eviction, 2 runs in 5). Thread 0's second
 * half then lands on evicted actors and races with their rehydration. */
static void race_wait_eviction(race *rc)
{
	double until = mt_now() + 20.0;
	while (mt_stats(rc->rt).evictions == 0 && mt_now() < until)
		mt_sleep_ms(5);
}

static void race_sender(unsigned t, void *arg)
{
	race *rc = arg;
	unsigned char kb[MT_KEY_LEN], p[16];
	uint64_t seq[8] = {0};
	mt_rng r;
	mt_rng_init(&r, 100 + t);
	for (unsigned i = 0; i < rc->per; i++) {
		if (t == 0 && i == rc->per / 2)
			race_wait_eviction(rc);
		uint64_t key = mt_rng_below(&r, 8);
		mt_key_put(kb, key);
		mt_put_u64(p, t);
		mt_put_u64(p + 8, ++seq[key]);
		MT_CHECK(mn_send(rc->rt, rc->k, kb, sizeof kb, T_SEQ, p,
				 sizeof p) == 0);
		if ((i & 127) == 0) /* let actors go idle, now and then long
				       enough for two clock sweeps */
			usleep((useconds_t)mt_rng_below(&r, 25000));
	}
}

static void test_eviction_races_messages(void **unused)
{
	(void)unused;
	race rc;
	fresh("race");
	rc.rt = open_rt(1, &rc.k);
	rc.per = MT_TSAN ? 1500 : 4000;
	mt_parallel(4, race_sender, &rc);
	mt_drain(rc.rt);
	mt_assert_no_failures();
	mn_runtime_stats st = mt_stats(rc.rt);
	printf("# race: evictions %llu, rehydrations %llu\n",
	       (unsigned long long)st.evictions,
	       (unsigned long long)st.rehydrations);
	assert_true(st.evictions > 0);
	memset(got, 0, sizeof got);
	atomic_store(&checks, 0);
	for (unsigned i = 0; i < 8; i++)
		send_u64(rc.rt, rc.k, i, T_CHECK, 0);
	mt_drain(rc.rt);
	uint64_t total = 0;
	for (unsigned i = 0; i < 8; i++) {
		assert_int_equal(got[i].order_errors, 0);
		total += got[i].count;
	}
	assert_int_equal(total, 4ull * rc.per);
	assert_int_equal(st.broken, 0);
	mn_runtime_close(rc.rt);
	cleanup();
}

/* A durable timer set before a restart fires after it, and brings back an
 * evicted actor. */
static void test_timer_across_restart(void **unused)
{
	(void)unused;
	mn_kind *k;
	fresh("timer");
	mn_runtime *rt = open_rt(0, &k);
	send_u64(rt, k, 1, T_SET_TIMER, 300); /* fires after the restart */
	send_u64(rt, k, 2, T_SET_TIMER, 50);  /* fires before it */
	mt_drain(rt);
	mt_sleep_ms(150);
	mt_drain(rt);
	mn_runtime_close(rt);
	mt_sleep_ms(300); /* actor 1's timer falls due while down */

	rt = open_rt(1, &k);
	for (int i = 0; i < 200 && mt_stats(rt).timers_fired < 1; i++)
		mt_sleep_ms(10);
	mt_drain(rt);
	memset(got, 0, sizeof got);
	atomic_store(&checks, 0);
	send_u64(rt, k, 1, T_CHECK, 0);
	send_u64(rt, k, 2, T_CHECK, 0);
	mt_drain(rt);
	assert_int_equal(got[1].fired, 1);
	assert_int_equal(got[2].fired, 1);
	mn_runtime_close(rt);

	/* Exactly once: after another restart nothing fires again. */
	rt = open_rt(0, &k);
	mt_sleep_ms(100);
	mt_drain(rt);
	assert_int_equal(mt_stats(rt).timers_fired, 0);
	mn_runtime_close(rt);
	cleanup();
}

/* A snapshot that restore() refuses: that actor is reported broken, its
 * messages fail, every other actor keeps working. */
static void test_bad_snapshot_breaks_one_actor(void **unused)
{
	(void)unused;
	mn_kind *k;
	fresh("bad");
	memset(want, 0, sizeof want);
	mn_runtime *rt = open_rt(0, &k);
	for (uint64_t i = 0; i < 10; i++)
		for (uint64_t j = 0; j < 8; j++) { /* 8 > snapshot_every */
			send_u64(rt, k, i, T_ADD, j);
			want[i].count++;
			want[i].sum += j;
			want[i].digest = fold(want[i].digest, j);
		}
	mt_drain(rt);
	mn_runtime_close(rt);

	atomic_store(&restore_fail_key, 3);
	rt = open_rt(0, &k);
	memset(got, 0, sizeof got);
	atomic_store(&checks, 0);
	for (unsigned i = 0; i < 10; i++)
		send_u64(rt, k, i, T_CHECK, 0);
	mt_drain(rt);
	assert_int_equal(atomic_load(&checks), 9);
	for (unsigned i = 0; i < 10; i++)
		if (i != 3)
			assert_int_equal(got[i].sum, want[i].sum);
	mn_runtime_stats st = mt_stats(rt);
	assert_int_equal(st.broken, 1);
	assert_true(st.handler_errors >= 1);
	mn_runtime_close(rt);
	atomic_store(&restore_fail_key, -1);
	cleanup();
}

int main(void)
{
	mt_init("core/evict");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_state_survives_evictions_and_restarts,
				   mt_setup),
	    cmocka_unit_test_setup(test_evicted_actors_leave_memory, mt_setup),
	    cmocka_unit_test_setup(test_eviction_races_messages, mt_setup),
	    cmocka_unit_test_setup(test_timer_across_restart, mt_setup),
	    cmocka_unit_test_setup(test_bad_snapshot_breaks_one_actor,
				   mt_setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
