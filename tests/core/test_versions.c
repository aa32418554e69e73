/*
 * test_versions.c - kind versions in the store (docs/upgrades.md): every
 * journal entry and snapshot records the version of the code that wrote
 * it; a newer version brings older snapshots forward with upgrade() or
 * reads them in restore() knowing their version; a snapshot or an entry
 * of a newer version than the running code is refused for that actor
 * only; replaying an old entry whose recorded state hash the new code
 * does not reproduce is counted and reported (MN_EVENT_DIVERGED), not
 * fatal.
 *
 * The kind "ver" sums the values it is sent. Version 1 stores the sum as
 * 8 bytes; version 2 as 16 (the sum and a tag 2), so a v1 snapshot that
 * reached v2's restore() unconverted is seen. Every actor's sum is
 * checked against a model after each reopen.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/support/support.h"

enum { T_ADD = 1, T_GET = 2 };

#define NACT	  8
#define PER_ACTOR 10 /* messages each; snapshots every 4 */

static char dir[256];
static uint64_t model[NACT];
static uint64_t got[NACT];
static _Atomic uint64_t gets;
/* What restore() saw: calls by the version of the bytes it was given. */
static _Atomic uint64_t restored_v1, restored_v2;

typedef struct vstate {
	uint64_t sum;
} vstate;

/* ---- the kind's callbacks, by version --------------------------------- */

static int v_init(mn_ctx *ctx, void **state)
{
	(void)ctx;
	*state = calloc(1, sizeof(vstate));
	return *state ? 0 : MN_ENOMEM;
}

static uint64_t v_hash(const void *state)
{
	return ((const vstate *)state)->sum * 0x9e3779b97f4a7c15ull + 7;
}

static int v_handle_with(mn_ctx *ctx, vstate *s, const mn_msg *msg,
			 uint64_t factor)
{
	uint64_t k;
	switch (msg->type) {
	case T_ADD:
		s->sum += factor * mt_get_u64(msg->payload);
		return 0;
	case T_GET:
		if (mn_ctx_replaying(ctx))
			return 0;
		if (mt_self_u64(ctx, &k) && k < NACT)
			got[k] = s->sum;
		atomic_fetch_add(&gets, 1);
		return 0;
	}
	return MN_EINVAL;
}

static int v_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	return v_handle_with(ctx, state, msg, 1);
}

/* Version 2 that changes behaviour: every value counts twice. */
static int v_handle_double(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	return v_handle_with(ctx, state, msg, 2);
}

static int v1_snapshot(const void *state, mn_buf *out)
{
	return mn_buf_append(out, state, 8);
}

static int restore_sum(const void *bytes, size_t len, uint32_t version,
		       void **state)
{
	vstate *s = calloc(1, sizeof *s);
	if (!s)
		return MN_ENOMEM;
	if (version == 1 && len == 8) {
		memcpy(&s->sum, bytes, 8);
		atomic_fetch_add(&restored_v1, 1);
	} else if (version == 2 && len == 16 &&
		   mt_get_u64((const char *)bytes + 8) == 2) {
		memcpy(&s->sum, bytes, 8);
		atomic_fetch_add(&restored_v2, 1);
	} else {
		free(s);
		return MN_ECORRUPT;
	}
	*state = s;
	return 0;
}

/* Version 1's restore reads only its own bytes. */
static int v1_restore(mn_ctx *ctx, const void *bytes, size_t len, void **state)
{
	if (mn_ctx_state_version(ctx) != 1)
		return MN_EVERSION;
	return restore_sum(bytes, len, 1, state);
}

static int v2_snapshot(const void *state, mn_buf *out)
{
	unsigned char b[16];
	mt_put_u64(b, ((const vstate *)state)->sum);
	mt_put_u64(b + 8, 2);
	return mn_buf_append(out, b, sizeof b);
}

/* Version 2's restore: its own bytes, or a v1 snapshot it migrates
 * itself (the kind without upgrade()). */
static int v2_restore(mn_ctx *ctx, const void *bytes, size_t len, void **state)
{
	return restore_sum(bytes, len, mn_ctx_state_version(ctx), state);
}

/* Version 2's restore when an upgrade() exists: only v2 bytes. */
static int v2_restore_strict(mn_ctx *ctx, const void *bytes, size_t len,
			     void **state)
{
	if (mn_ctx_state_version(ctx) != 2)
		return MN_EVERSION;
	return restore_sum(bytes, len, 2, state);
}

static _Atomic uint64_t upgrades;

static int v2_upgrade(uint32_t from, const void *bytes, size_t len, mn_buf *out)
{
	if (from != 1 || len != 8)
		return MN_ECORRUPT;
	unsigned char b[16];
	memcpy(b, bytes, 8);
	mt_put_u64(b + 8, 2);
	atomic_fetch_add(&upgrades, 1);
	return mn_buf_append(out, b, sizeof b);
}

static mn_kind_def kind_v(uint32_t version)
{
	mn_kind_def d = MN_KIND_DEF_INIT;
	d.name = "ver";
	d.init = v_init;
	d.handle = v_handle;
	d.free = free;
	d.hash = v_hash;
	d.snapshot_every = 4;
	d.version = version;
	if (version <= 1) {
		d.snapshot = v1_snapshot;
		d.restore = v1_restore;
	} else {
		d.snapshot = v2_snapshot;
		d.restore = v2_restore;
	}
	return d;
}

/* ---- events ------------------------------------------------------------ */

#define MAXEV 64
static struct {
	int type, err;
	uint64_t key, seq;
	char reason[200];
} evs[MAXEV];
static _Atomic unsigned nev;

static void on_event(void *arg, const mn_event *e)
{
	(void)arg;
	unsigned i = atomic_fetch_add(&nev, 1);
	if (i >= MAXEV)
		return;
	evs[i].type = e->type;
	evs[i].err = e->err;
	evs[i].seq = e->seq;
	evs[i].key = UINT64_MAX;
	if (e->addr.key_len == MT_KEY_LEN)
		mt_key_get(e->addr.key, e->addr.key_len, &evs[i].key);
	snprintf(evs[i].reason, sizeof evs[i].reason, "%s", e->reason);
}

static unsigned count_events(int type, int err, uint64_t key)
{
	unsigned n = 0, all = atomic_load(&nev);
	for (unsigned i = 0; i < all && i < MAXEV; i++)
		if (evs[i].type == type && evs[i].err == err &&
		    (key == UINT64_MAX || evs[i].key == key))
			n++;
	return n;
}

/* ---- helpers ------------------------------------------------------------ */

static void fresh(const char *tag)
{
	snprintf(dir, sizeof dir, "/tmp/mnemo-versions-%d-%s", (int)getpid(),
		 tag);
	mt_rmrf(dir);
	memset(model, 0, sizeof model);
	atomic_store(&nev, 0);
	atomic_store(&restored_v1, 0);
	atomic_store(&restored_v2, 0);
	atomic_store(&upgrades, 0);
}

static mn_runtime *open_rt(const mn_kind_def *def, mn_kind **k)
{
	mn_runtime_opts o = MN_RUNTIME_OPTS_INIT;
	o.workers = 2;
	o.store_path = dir;
	o.durability = MN_DURABILITY_RELAXED;
	o.on_event = on_event;
	mn_runtime *rt = NULL;
	int rc = mn_runtime_open(&o, &rt);
	if (rc)
		fail_msg("open: %s (%s)", mn_err_name(rc), mn_errdetail());
	assert_rc(mn_kind_register(rt, def, k), 0);
	return rt;
}

static int send_u64(mn_runtime *rt, mn_kind *k, uint64_t key, uint32_t type,
		    uint64_t v)
{
	unsigned char kb[MT_KEY_LEN], p[8];
	mt_key_put(kb, key);
	mt_put_u64(p, v);
	return mn_send(rt, k, kb, sizeof kb, type, p, sizeof p);
}

/* n messages to each of the actors [from, to), in the model with factor. */
static void add_all(mn_runtime *rt, mn_kind *k, unsigned from, unsigned to,
		    unsigned n, uint64_t factor)
{
	for (unsigned j = 0; j < n; j++)
		for (unsigned i = from; i < to; i++) {
			uint64_t v = 1000 * (i + 1) + j;
			assert_rc(send_u64(rt, k, i, T_ADD, v), 0);
			model[i] += factor * v;
		}
	mt_drain(rt);
}

static void check_sums(mn_runtime *rt, mn_kind *k, unsigned from, unsigned to)
{
	memset(got, 0, sizeof got);
	atomic_store(&gets, 0);
	for (unsigned i = from; i < to; i++)
		assert_rc(send_u64(rt, k, i, T_GET, 0), 0);
	mt_drain(rt);
	assert_int_equal(atomic_load(&gets), to - from);
	for (unsigned i = from; i < to; i++)
		if (got[i] != model[i])
			fail_msg("actor %u: sum %llu, model %llu", i,
				 (unsigned long long)got[i],
				 (unsigned long long)model[i]);
}

/* The store says actor i's entries up to `upto` were written by version
 * a, the later ones by b, and its latest snapshot by snap. */
static void expect_versions(uint64_t i, size_t upto, uint32_t a, uint32_t b,
			    uint32_t snap)
{
	unsigned char key[MT_KEY_LEN];
	uint32_t v[64], sv;
	mt_key_put(key, i);
	size_t n = mt_store_versions(dir, "ver", key, sizeof key, v, 64, &sv);
	assert_true(n > upto && n <= 64);
	for (size_t s = 0; s < n; s++)
		if (v[s] != (s < upto ? a : b))
			fail_msg("actor %llu seq %zu: version %u, want %u",
				 (unsigned long long)i, s + 1, v[s],
				 s < upto ? a : b);
	assert_int_equal(sv, snap);
}

/* ---- tests -------------------------------------------------------------- */

/* PER_ACTOR values to each actor, by version 1 (snapshots at 4 and 8). */
static void seed_v1(void)
{
	mn_kind *k;
	mn_kind_def d1 = kind_v(1);
	mn_runtime *rt = open_rt(&d1, &k);
	add_all(rt, k, 0, NACT, PER_ACTOR, 1);
	mn_runtime_close(rt);
}

/* Version 1 (written as 0 = "before versions" on disk and read as 1), then
 * version 2 with upgrade(): every v1 snapshot goes through upgrade()
 * before v2's restore() sees it, the old journal tails are replayed by v2
 * without a divergence (same state), new entries and snapshots say 2. */
static void test_upgrade_callback_brings_old_snapshots_forward(void **unused)
{
	(void)unused;
	mn_kind *k;
	fresh("upgrade");
	mn_kind_def d1 = kind_v(0); /* 0 means 1 */
	mn_runtime *rt = open_rt(&d1, &k);
	add_all(rt, k, 0, NACT, PER_ACTOR, 1);
	check_sums(rt, k, 0, NACT);
	mn_runtime_close(rt);
	expect_versions(0, 0, 1, 1, 1);

	mn_kind_def d2 = kind_v(2);
	d2.restore = v2_restore_strict;
	d2.upgrade = v2_upgrade;
	rt = open_rt(&d2, &k);
	check_sums(rt, k, 0, NACT);
	mn_upgrade_stats us;
	mn_runtime_upgrade_stats(rt, &us);
	assert_int_equal(us.upgraded, NACT);
	assert_int_equal(atomic_load(&upgrades), NACT);
	assert_int_equal(us.restored_older, 0);
	assert_int_equal(us.refused_newer, 0);
	assert_int_equal(us.hash_mismatches, 0);
	/* The entries after each actor's last snapshot (seq 8), and the
	 * T_GET at 11, were replayed by version 2. */
	assert_int_equal(us.replayed_older, NACT * 3);
	assert_int_equal(count_events(MN_EVENT_DIVERGED, 0, UINT64_MAX), 0);
	add_all(rt, k, 0, NACT, 6, 1);
	check_sums(rt, k, 0, NACT);
	mn_runtime_close(rt);
	/* 10 adds + a get in v1; a get, 6 adds, a get in v2. */
	expect_versions(3, 11, 1, 2, 2);
	assert_int_equal(atomic_load(&restored_v1), 0);

	/* Reopened with v2 again: its own snapshots, nothing upgraded. */
	atomic_store(&upgrades, 0);
	rt = open_rt(&d2, &k);
	check_sums(rt, k, 0, NACT);
	mn_runtime_upgrade_stats(rt, &us);
	assert_int_equal(us.upgraded, 0);
	assert_int_equal(atomic_load(&upgrades), 0);
	assert_int_equal(us.replayed_older, 0);
	mn_runtime_close(rt);
	mt_rmrf(dir);
}

/* Version 2 without upgrade(): restore() gets the v1 bytes with
 * mn_ctx_state_version() == 1 and migrates them itself. */
static void test_restore_reads_the_snapshot_version(void **unused)
{
	(void)unused;
	mn_kind *k;
	fresh("restore");
	seed_v1();

	mn_kind_def d2 = kind_v(2);
	mn_runtime *rt = open_rt(&d2, &k);
	check_sums(rt, k, 0, NACT);
	mn_upgrade_stats us;
	mn_runtime_upgrade_stats(rt, &us);
	assert_int_equal(us.restored_older, NACT);
	assert_int_equal(us.upgraded, 0);
	assert_int_equal(atomic_load(&restored_v1), NACT);
	add_all(rt, k, 0, NACT, PER_ACTOR, 1);
	mn_runtime_close(rt);

	atomic_store(&restored_v1, 0);
	rt = open_rt(&d2, &k);
	check_sums(rt, k, 0, NACT);
	assert_int_equal(atomic_load(&restored_v1), 0);
	assert_int_equal(atomic_load(&restored_v2), NACT);
	mn_runtime_close(rt);
	mt_rmrf(dir);
}

/* Old code opening what new code wrote: an actor with a v2 snapshot, and
 * one with only v2 journal entries after a v1 snapshot, are refused
 * (MN_EVERSION, reported broken once each); the actors v2 never touched
 * run on. */
static void test_newer_version_refused_for_that_actor_only(void **unused)
{
	(void)unused;
	mn_kind *k;
	fresh("newer");
	mn_kind_def d1 = kind_v(1), d2 = kind_v(2);
	seed_v1();

	/* v2 writes actor 0 past a snapshot (seq 11..14, its snapshot at
	 * 12), actor 1 one entry (seq 11; its snapshot stays v1's at 8). */
	mn_runtime *rt = open_rt(&d2, &k);
	add_all(rt, k, 0, 1, 4, 1);
	add_all(rt, k, 1, 2, 1, 1);
	mn_runtime_close(rt);
	expect_versions(0, PER_ACTOR, 1, 2, 2);
	expect_versions(1, PER_ACTOR, 1, 2, 1);

	atomic_store(&nev, 0);
	rt = open_rt(&d1, &k);
	check_sums(rt, k, 2, NACT); /* untouched by v2 */
	/* Both refused: a message to each is dropped, the send after it
	 * fails with the reason. */
	for (uint64_t i = 0; i < 2; i++)
		assert_rc(send_u64(rt, k, i, T_GET, 0), 0);
	mt_drain(rt);
	assert_int_equal(count_events(MN_EVENT_BROKEN, MN_EVERSION, 0), 1);
	assert_int_equal(count_events(MN_EVENT_BROKEN, MN_EVERSION, 1), 1);
	for (unsigned i = 0; i < atomic_load(&nev) && i < MAXEV; i++)
		if (evs[i].type == MN_EVENT_BROKEN)
			assert_non_null(strstr(evs[i].reason, "version 2"));
	assert_rc(send_u64(rt, k, 0, T_ADD, 1), MN_EVERSION);
	assert_non_null(strstr(mn_errdetail(), "this code is version 1"));
	mn_upgrade_stats us;
	mn_runtime_upgrade_stats(rt, &us);
	assert_int_equal(us.refused_newer, 2);
	mn_runtime_close(rt);

	/* Nothing was lost: v2 reads all of it. */
	rt = open_rt(&d2, &k);
	check_sums(rt, k, 0, NACT);
	mn_runtime_close(rt);
	mt_rmrf(dir);
}

/* Version 2 that handles old messages differently: replaying v1 entries
 * gives states whose hashes differ from the recorded ones. Counted for
 * every such entry, one MN_EVENT_DIVERGED per actor naming the first
 * one, and the actor runs on with the state the new code built. */
static void test_replay_hash_mismatch_reported_not_fatal(void **unused)
{
	(void)unused;
	mn_kind *k;
	fresh("diverge");
	seed_v1();

	mn_kind_def d2 = kind_v(2);
	d2.handle = v_handle_double;
	atomic_store(&nev, 0);
	mn_runtime *rt = open_rt(&d2, &k);
	/* The snapshot at seq 8 holds the v1 sum; seqs 9 and 10 are
	 * replayed counting twice. */
	for (unsigned i = 0; i < NACT; i++)
		model[i] += 1000 * (i + 1) + 8 + 1000 * (i + 1) + 9;
	check_sums(rt, k, 0, NACT);
	mn_upgrade_stats us;
	mn_runtime_upgrade_stats(rt, &us);
	/* Both replayed entries, 9 and 10, differ. */
	assert_int_equal(us.hash_mismatches, NACT * 2);
	assert_int_equal(count_events(MN_EVENT_DIVERGED, 0, UINT64_MAX), NACT);
	for (unsigned i = 0; i < atomic_load(&nev) && i < MAXEV; i++)
		if (evs[i].type == MN_EVENT_DIVERGED)
			assert_int_equal(evs[i].seq, 9);
	/* It runs on: new messages count twice. */
	add_all(rt, k, 0, NACT, 2, 2);
	check_sums(rt, k, 0, NACT);
	mn_runtime_close(rt);
	mt_rmrf(dir);
}

int main(void)
{
	mt_init("versions");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(
		test_upgrade_callback_brings_old_snapshots_forward, mt_setup),
	    cmocka_unit_test_setup(test_restore_reads_the_snapshot_version,
				   mt_setup),
	    cmocka_unit_test_setup(
		test_newer_version_refused_for_that_actor_only, mt_setup),
	    cmocka_unit_test_setup(test_replay_hash_mismatch_reported_not_fatal,
				   mt_setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
