/*
 * test_ingress.c - idempotent ingress (mn_send_idempotent): a repeat of a
 * client key with the same message is acknowledged without a second
 * message (MN_EEXIST), also after a restart and within one commit group;
 * a reuse with another message is refused (MN_ECONFLICT); a key past the
 * retention window is forgotten and can be used again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lmdb.h>

#include "tests/support/support.h"

static mt_counts counts;
static char dir[256];

static int setup(void **state)
{
	mt_setup(state);
	mt_counts_reset(&counts);
	mt_tmpdir(dir, sizeof dir, "ingress");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return mt_rmrf(dir);
}

static mn_runtime *open_rt(uint64_t retention_ms, mn_kind **k)
{
	mn_runtime_opts o = MN_RUNTIME_OPTS_INIT;
	o.workers = 2;
	o.store_path = dir;
	o.durability = MN_DURABILITY_RELAXED;
	o.ingress_retention_ms = retention_ms;
	mn_runtime *rt;
	assert_rc(mn_runtime_open(&o, &rt), 0);
	mn_kind_def d = mt_counting_kind("inbox", &counts);
	*k = mt_register(rt, &d);
	return rt;
}

/* Records of database db in the closed store (LMDB's own count). */
static size_t db_entries(const char *db)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_stat st;
	assert_int_equal(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 32);
	assert_int_equal(mdb_env_open(env, dir, MDB_RDONLY, 0640), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, db, 0, &dbi), 0);
	assert_int_equal(mdb_stat(txn, dbi, &st), 0);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	return st.ms_entries;
}

static int send_key(mn_runtime *rt, mn_kind *k, uint64_t actor, const char *msg,
		    const char *ck)
{
	unsigned char key[MT_KEY_LEN];
	mt_key_put(key, actor);
	return mn_send_idempotent(rt, k, key, sizeof key, 1, msg, strlen(msg),
				  ck, strlen(ck));
}

static void test_repeat_and_conflict(void **state)
{
	(void)state;
	mn_kind *k;
	mn_runtime *rt = open_rt(0, &k);
	assert_rc(send_key(rt, k, 1, "hello", "req-1"), 0);
	assert_rc(send_key(rt, k, 1, "hello", "req-1"), MN_EEXIST);
	assert_rc(send_key(rt, k, 1, "other", "req-1"), MN_ECONFLICT);
	assert_non_null(strstr(mn_errdetail(), "client key"));
	assert_rc(send_key(rt, k, 2, "hello", "req-1"), MN_ECONFLICT);
	assert_rc(send_key(rt, k, 1, "hello", "req-2"), 0);
	/* Bad keys. */
	unsigned char key[MT_KEY_LEN];
	mt_key_put(key, 1);
	assert_rc(
	    mn_send_idempotent(rt, k, key, sizeof key, 1, "x", 1, NULL, 0),
	    MN_EINVAL);
	char big[MN_KEY_MAX + 1];
	memset(big, 'k', sizeof big);
	assert_rc(mn_send_idempotent(rt, k, key, sizeof key, 1, "x", 1, big,
				     sizeof big),
		  MN_EINVAL);
	mt_drain(rt);
	assert_int_equal(atomic_load(&counts.handles), 2);
	mn_runtime_close(rt);

	/* After a restart the keys are still known. */
	rt = open_rt(0, &k);
	assert_rc(send_key(rt, k, 1, "hello", "req-1"), MN_EEXIST);
	assert_rc(send_key(rt, k, 1, "again", "req-2"), MN_ECONFLICT);
	assert_rc(send_key(rt, k, 1, "hello", "req-3"), 0);
	mt_drain(rt);
	/* 2 before, the 2 replayed when actor 1 came back, 1 new. */
	assert_int_equal(atomic_load(&counts.handles), 5);
	mn_runtime_close(rt);
	/* The tool's verify reads the client keys' records too. */
	char tool[512], out[8192], err[2048], args[600];
	mt_tool_path(tool, sizeof tool);
	snprintf(args, sizeof args, "verify '%s'", dir);
	int st = mt_tool_run(tool, args, "/tmp/mnemo-ingress-err", out,
			     sizeof out, err, sizeof err);
	if (st != 0)
		fail_msg("verify: %d\n%s\n%s", st, out, err);
	/* stats counts the keys: req-1, req-2, req-3. */
	snprintf(args, sizeof args, "stats --json '%s'", dir);
	st = mt_tool_run(tool, args, "/tmp/mnemo-ingress-err", out, sizeof out,
			 err, sizeof err);
	assert_int_equal(st, 0);
	assert_non_null(strstr(out, "\"client_keys\":3"));
}

typedef struct acks {
	_Atomic int n, ok, exist, other;
} acks;

static void on_ack(void *arg, int rc)
{
	acks *a = arg;
	if (rc == 0)
		atomic_fetch_add(&a->ok, 1);
	else if (rc == MN_EEXIST)
		atomic_fetch_add(&a->exist, 1);
	else
		atomic_fetch_add(&a->other, 1);
	atomic_fetch_add(&a->n, 1);
}

/* Repeats queued together (one commit group): one message. */
static void test_repeats_in_one_group(void **state)
{
	(void)state;
	mn_kind *k;
	mn_runtime *rt = open_rt(0, &k);
	acks a = {0};
	unsigned char key[MT_KEY_LEN];
	mt_key_put(key, 9);
	for (int i = 0; i < 50; i++)
		assert_rc(mn_send_idempotent_async(rt, k, key, sizeof key, 1,
						   "same", 4, "dup", 3, on_ack,
						   &a),
			  0);
	for (int t = 0; t < 500 && atomic_load(&a.n) < 50; t++)
		mt_sleep_ms(10);
	mt_drain(rt);
	assert_int_equal(atomic_load(&a.ok), 1);
	assert_int_equal(atomic_load(&a.exist), 49);
	assert_int_equal(atomic_load(&a.other), 0);
	assert_int_equal(atomic_load(&counts.handles), 1);
	mn_runtime_close(rt);
}

/* Past the window a key is forgotten (the writer prunes once a second). */
static void test_retention(void **state)
{
	(void)state;
	mn_kind *k;
	mn_runtime *rt = open_rt(200, &k);
	assert_rc(send_key(rt, k, 3, "m", "old-key"), 0);
	assert_rc(send_key(rt, k, 3, "m", "old-key"), MN_EEXIST);
	mt_sleep_ms(300);
	/* Past the window: stored again (a new message). */
	assert_rc(send_key(rt, k, 3, "m", "old-key"), 0);
	/* Pruning: after more than a second, unrelated traffic drives a
	 * pruning commit; the store then holds only the fresh key. */
	mt_sleep_ms(1200);
	assert_rc(send_key(rt, k, 3, "n", "k2"), 0);
	mt_sleep_ms(1200);
	assert_rc(send_key(rt, k, 3, "n", "k3"), 0);
	mt_drain(rt);
	assert_int_equal(atomic_load(&counts.handles), 4);
	mn_runtime_close(rt);
	/* old-key and k2 are past the window at k3's pruning commit. */
	assert_int_equal(db_entries("ingress"), 1);
	assert_int_equal(db_entries("ingress_age"), 1);
}

/* kinds_expected: a restart's recovery (here a stored message) waits until
 * that many kinds are registered. */
static _Atomic uint64_t slow_handled;

static int slow_init(mn_ctx *ctx, void **state)
{
	(void)ctx;
	*state = NULL;
	return 0;
}

static int slow_handle(mn_ctx *ctx, void *state, const mn_msg *m)
{
	(void)ctx;
	(void)state;
	if (m->len == 5 && memcmp(m->payload, "sleep", 5) == 0)
		mt_sleep_ms(300);
	else
		atomic_fetch_add(&slow_handled, 1);
	return 0;
}

static int slow_snap(const void *state, mn_buf *out)
{
	(void)state;
	(void)out;
	return 0;
}

static int slow_restore(mn_ctx *ctx, const void *b, size_t len, void **st)
{
	(void)ctx;
	(void)b;
	(void)len;
	*st = NULL;
	return 0;
}

static void test_recovery_waits_for_kinds(void **state)
{
	(void)state;
	mn_kind_def d = MN_KIND_DEF_INIT;
	d.name = "slow";
	d.init = slow_init;
	d.handle = slow_handle;
	d.snapshot = slow_snap;
	d.restore = slow_restore;
	mn_runtime_opts o = MN_RUNTIME_OPTS_INIT;
	o.workers = 1;
	o.store_path = dir;
	o.durability = MN_DURABILITY_RELAXED;
	mn_runtime *rt;
	assert_rc(mn_runtime_open(&o, &rt), 0);
	mn_kind *k = mt_register(rt, &d);
	unsigned char a[MT_KEY_LEN], b[MT_KEY_LEN];
	mt_key_put(a, 1);
	mt_key_put(b, 2);
	/* The one worker sleeps in a's turn; b's message is stored and
	 * still queued when the runtime closes: it stays in the outbox. */
	assert_rc(mn_send(rt, k, a, sizeof a, 1, "sleep", 5), 0);
	mt_sleep_ms(50);
	assert_rc(mn_send_durable(rt, k, b, sizeof b, 1, "m", 1), 0);
	mn_runtime_close(rt);
	assert_int_equal(atomic_load(&slow_handled), 0);

	o.kinds_expected = 2;
	assert_rc(mn_runtime_open(&o, &rt), 0);
	mn_recovery r;
	assert_rc(mn_runtime_recovery(rt, &r), 0);
	assert_int_equal(r.outbox, 1);
	k = mt_register(rt, &d);
	mt_sleep_ms(200);
	/* One kind of two: nothing delivered yet. */
	assert_int_equal(atomic_load(&slow_handled), 0);
	mn_kind_def d2 = mt_counting_kind("other", &counts);
	mt_register(rt, &d2);
	for (int t = 0; t < 300 && atomic_load(&slow_handled) < 1; t++)
		mt_sleep_ms(10);
	assert_int_equal(atomic_load(&slow_handled), 1);
	mn_runtime_close(rt);
}

int main(void)
{
	mt_init("ingress");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_repeat_and_conflict, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_repeats_in_one_group, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_retention, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_recovery_waits_for_kinds,
					    setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
