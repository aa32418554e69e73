/*
 * test_args.c - bad input to the public API. Each call gets exactly one bad
 * argument and must return the code mnemo.h documents for it, without
 * crashing and without queueing anything: every suite ends by draining and
 * checking that the runtime's sent counter and the handled count equal the
 * number of sends that returned 0. Covers mn_runtime_open, mn_send,
 * mn_send_named, mn_spawn, MN_KIND_EXPLICIT kinds, mn_kind_register, kind
 * handles from another runtime, payload limits, and sends after shutdown.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/support.h"

static mt_counts counts;
static mt_counts counts2;

/* Drain, then check that exactly `ok` messages were accepted and handled. */
static void expect_handled(mn_runtime *rt, uint64_t ok)
{
	mt_drain(rt);
	mn_runtime_stats st = mt_stats(rt);
	assert_int_equal(st.sent, ok);
	assert_int_equal(st.processed, ok);
	assert_int_equal(atomic_load(&counts.handles), ok);
	assert_int_equal(st.handler_errors, 0);
	mt_assert_no_failures();
}

static void test_runtime_open_args(void **state)
{
	(void)state;
	mn_runtime *rt = NULL;
	mn_runtime_opts o = {.workers = MN_WORKERS_MAX + 1};
	assert_rc(mn_runtime_open(&o, &rt), MN_EINVAL);
	o.workers = 100000;
	assert_rc(mn_runtime_open(&o, &rt), MN_EINVAL);
	o.workers = 1;
	assert_rc(mn_runtime_open(&o, NULL), MN_EINVAL);
	assert_rc(mn_runtime_open(NULL, NULL), MN_EINVAL);

	/* NULL opts means defaults: one worker per online core. */
	rt = NULL;
	assert_rc(mn_runtime_open(NULL, &rt), 0);
	assert_non_null(rt);
	mn_runtime_stats st = mt_stats(rt);
	assert_true(st.workers >= 1 && st.workers <= MN_WORKERS_MAX);
	mn_runtime_close(rt);

	/* Close of NULL is a no-op; drain of NULL is MN_EINVAL. */
	mn_runtime_close(NULL);
	assert_rc(mn_runtime_drain(NULL), MN_EINVAL);
}

static void test_send_args(void **state)
{
	(void)state;
	mn_runtime *rt = mt_open(2, 0);
	mt_counts_reset(&counts);
	mn_kind_def d = mt_counting_kind("args", &counts);
	mn_kind *k = mt_register(rt, &d);
	char key[MN_KEY_MAX + 2];
	memset(key, 'k', sizeof key);
	const char pl[4] = "abc";
	uint64_t ok = 0;

	assert_rc(mn_send(NULL, k, "a", 1, 0, pl, 3), MN_EINVAL);
	assert_rc(mn_send(rt, NULL, "a", 1, 0, pl, 3), MN_EINVAL);
	assert_rc(mn_send(rt, k, NULL, 1, 0, pl, 3), MN_EKEY);
	assert_rc(mn_send(rt, k, NULL, 0, 0, pl, 3), MN_EKEY);
	assert_rc(mn_send(rt, k, "a", 0, 0, pl, 3), MN_EKEY);
	assert_rc(mn_send(rt, k, key, MN_KEY_MAX + 1, 0, pl, 3), MN_EKEY);
	assert_rc(mn_send(rt, k, key, 100000, 0, pl, 3), MN_EKEY);
	assert_rc(mn_send(rt, k, "a", 1, 0, NULL, 1), MN_EINVAL);
	assert_rc(mn_send(rt, k, "a", 1, 0, NULL, 1000), MN_EINVAL);

	assert_rc(mn_send(rt, k, key, MN_KEY_MAX, 0, pl, 3), 0);
	ok++;
	assert_rc(mn_send(rt, k, key, 1, 0, pl, 3), 0);
	ok++;
	assert_rc(mn_send(rt, k, "a", 1, 0, NULL, 0), 0);
	ok++;

	/* mn_send_named: the same checks, plus unknown names. */
	assert_rc(mn_send_named(NULL, "args", "a", 1, 0, pl, 3), MN_EINVAL);
	assert_rc(mn_send_named(rt, NULL, "a", 1, 0, pl, 3), MN_EINVAL);
	assert_rc(mn_send_named(rt, "args", NULL, 1, 0, pl, 3), MN_EKEY);
	assert_rc(mn_send_named(rt, "args", "a", 0, 0, pl, 3), MN_EKEY);
	assert_rc(mn_send_named(rt, "args", key, MN_KEY_MAX + 1, 0, pl, 3),
		  MN_EKEY);
	assert_rc(mn_send_named(rt, "args", "a", 1, 0, NULL, 2), MN_EINVAL);
	assert_rc(mn_send_named(rt, "nope", "a", 1, 0, pl, 3), MN_ENOKIND);
	assert_rc(mn_send_named(rt, "", "a", 1, 0, pl, 3), MN_ENOKIND);
	assert_rc(mn_send_named(rt, "arg", "a", 1, 0, pl, 3), MN_ENOKIND);
	assert_rc(mn_send_named(rt, "argsx", "a", 1, 0, pl, 3), MN_ENOKIND);
	assert_rc(mn_send_named(rt, "args", key, MN_KEY_MAX, 0, pl, 3), 0);
	ok++;

	expect_handled(rt, ok);
	/* Keys "k"*255, "k", "a": three actors, each init once. */
	assert_int_equal(atomic_load(&counts.inits), 3);
	assert_int_equal(mt_stats(rt).actors, 3);
	mn_runtime_close(rt);
	assert_int_equal(atomic_load(&counts.frees), 3);
	mt_assert_no_failures();
}

static void test_payload_limit(void **state)
{
	(void)state;
	mn_runtime *rt = mt_open(2, 1000);
	mt_counts_reset(&counts);
	mn_kind_def d = mt_counting_kind("limit", &counts);
	mn_kind *k = mt_register(rt, &d);
	char *buf = calloc(1, 4096);
	assert_non_null(buf);

	assert_rc(mn_send(rt, k, "a", 1, 0, buf, 1000), 0);
	assert_rc(mn_send(rt, k, "a", 1, 0, buf, 1001), MN_ETOOBIG);
	assert_rc(mn_send(rt, k, "a", 1, 0, buf, 4096), MN_ETOOBIG);
	assert_rc(mn_send_named(rt, "limit", "a", 1, 0, buf, 1001), MN_ETOOBIG);
	assert_rc(mn_send_named(rt, "limit", "a", 1, 0, buf, 999), 0);
	expect_handled(rt, 2);
	assert_int_equal(atomic_load(&counts.bytes), 1999);
	mn_runtime_close(rt);
	free(buf);
}

static void test_payload_limit_default(void **state)
{
	(void)state;
	mn_runtime *rt = mt_open(1, 0);
	mt_counts_reset(&counts);
	mn_kind_def d = mt_counting_kind("big", &counts);
	mn_kind *k = mt_register(rt, &d);
	size_t max = MN_PAYLOAD_MAX_DEFAULT;
	assert_int_equal(max, 1u << 20);
	char *buf = calloc(1, max + 1);
	assert_non_null(buf);

	assert_rc(mn_send(rt, k, "b", 1, 0, buf, max), 0);
	assert_rc(mn_send(rt, k, "b", 1, 0, buf, max + 1), MN_ETOOBIG);
	assert_rc(mn_send(rt, k, "b", 1, 0, buf, SIZE_MAX), MN_ETOOBIG);
	expect_handled(rt, 1);
	assert_int_equal(atomic_load(&counts.bytes), max);
	mn_runtime_close(rt);
	free(buf);
}

static void test_kind_of_other_runtime(void **state)
{
	(void)state;
	mn_runtime *rt1 = mt_open(1, 0);
	mn_runtime *rt2 = mt_open(1, 0);
	mt_counts_reset(&counts);
	mt_counts_reset(&counts2);
	mn_kind_def d1 = mt_counting_kind("same", &counts);
	mn_kind_def d2 = mt_counting_kind("same", &counts2);
	mn_kind_def d3 = mt_counting_kind("only2", &counts2);
	mn_kind *k1 = mt_register(rt1, &d1);
	mn_kind *k2 = mt_register(rt2, &d2);
	mn_kind *k3 = mt_register(rt2, &d3);
	assert_ptr_not_equal(k1, k2);

	/* A handle of rt2 is not a kind of rt1, even under the same name. */
	assert_rc(mn_send(rt1, k2, "a", 1, 0, NULL, 0), MN_ENOKIND);
	assert_rc(mn_send(rt1, k3, "a", 1, 0, NULL, 0), MN_ENOKIND);
	assert_rc(mn_send(rt2, k1, "a", 1, 0, NULL, 0), MN_ENOKIND);
	assert_rc(mn_spawn(rt1, k3, "a", 1), MN_ENOKIND);
	assert_rc(mn_spawn(rt2, k1, "z", 1), MN_ENOKIND);
	assert_null(mn_kind_find(rt1, "only2"));
	assert_rc(mn_send_named(rt1, "only2", "a", 1, 0, NULL, 0), MN_ENOKIND);

	assert_rc(mn_send(rt1, k1, "a", 1, 0, NULL, 0), 0);
	assert_rc(mn_send(rt2, k2, "a", 1, 0, NULL, 0), 0);
	mt_drain(rt1);
	mt_drain(rt2);
	assert_int_equal(mt_stats(rt1).sent, 1);
	assert_int_equal(mt_stats(rt2).sent, 1);
	assert_int_equal(atomic_load(&counts.handles), 1);
	assert_int_equal(atomic_load(&counts2.handles), 1);
	mn_runtime_close(rt1);
	mn_runtime_close(rt2);
	mt_assert_no_failures();
}

static void test_explicit_kind(void **state)
{
	(void)state;
	mn_runtime *rt = mt_open(2, 0);
	mt_counts_reset(&counts);
	mn_kind_def d = mt_counting_kind("explicit", &counts);
	d.flags = MN_KIND_EXPLICIT;
	mn_kind *k = mt_register(rt, &d);

	assert_rc(mn_send(rt, k, "e1", 2, 0, "x", 1), MN_ENOACTOR);
	assert_rc(mn_send_named(rt, "explicit", "e1", 2, 0, "x", 1),
		  MN_ENOACTOR);

	/* Spawn argument checks. */
	assert_rc(mn_spawn(NULL, k, "e1", 2), MN_EINVAL);
	assert_rc(mn_spawn(rt, NULL, "e1", 2), MN_EINVAL);
	assert_rc(mn_spawn(rt, k, NULL, 2), MN_EKEY);
	assert_rc(mn_spawn(rt, k, "e1", 0), MN_EKEY);
	char key[MN_KEY_MAX + 1];
	memset(key, 'q', sizeof key);
	assert_rc(mn_spawn(rt, k, key, MN_KEY_MAX + 1), MN_EKEY);

	/* Spawn creates the actor: init runs without any message. */
	assert_rc(mn_spawn(rt, k, "e1", 2), 0);
	assert_rc(mn_spawn(rt, k, "e1", 2), MN_EEXIST);
	mt_drain(rt);
	assert_int_equal(atomic_load(&counts.inits), 1);
	assert_int_equal(atomic_load(&counts.handles), 0);
	assert_int_equal(mt_stats(rt).actors, 1);
	assert_rc(mn_spawn(rt, k, "e1", 2), MN_EEXIST);

	assert_rc(mn_send(rt, k, "e1", 2, 0, "x", 1), 0);
	assert_rc(mn_send_named(rt, "explicit", "e1", 2, 0, "yz", 2), 0);
	/* Only the spawned key exists. */
	assert_rc(mn_send(rt, k, "e2", 2, 0, "x", 1), MN_ENOACTOR);
	assert_rc(mn_send(rt, k, "e", 1, 0, "x", 1), MN_ENOACTOR);
	mt_drain(rt);
	assert_int_equal(atomic_load(&counts.inits), 1);
	assert_int_equal(atomic_load(&counts.handles), 2);
	assert_int_equal(atomic_load(&counts.bytes), 3);
	assert_int_equal(mt_stats(rt).actors, 1);

	/* Spawn and send without draining in between: the message finds the
	 * actor, and init runs once, before it. */
	assert_rc(mn_spawn(rt, k, key, MN_KEY_MAX), 0);
	assert_rc(mn_send(rt, k, key, MN_KEY_MAX, 0, "abcd", 4), 0);
	assert_rc(mn_spawn(rt, k, key, MN_KEY_MAX), MN_EEXIST);
	mt_drain(rt);
	assert_int_equal(atomic_load(&counts.inits), 2);
	assert_int_equal(atomic_load(&counts.handles), 3);
	assert_int_equal(atomic_load(&counts.bytes), 7);
	assert_int_equal(mt_stats(rt).actors, 2);
	mn_runtime_close(rt);
	assert_int_equal(atomic_load(&counts.frees), 2);
	mt_assert_no_failures();
}

static void test_spawn_virtual_kind(void **state)
{
	(void)state;
	mn_runtime *rt = mt_open(2, 0);
	mt_counts_reset(&counts);
	mn_kind_def d = mt_counting_kind("virt", &counts);
	mn_kind *k = mt_register(rt, &d);

	/* An actor created by a message exists for mn_spawn. */
	assert_rc(mn_send(rt, k, "v", 1, 0, NULL, 0), 0);
	mt_drain(rt);
	assert_rc(mn_spawn(rt, k, "v", 1), MN_EEXIST);
	/* A spawned actor of a virtual kind takes messages as usual. */
	assert_rc(mn_spawn(rt, k, "w", 1), 0);
	assert_rc(mn_send(rt, k, "w", 1, 0, NULL, 0), 0);
	mt_drain(rt);
	assert_int_equal(atomic_load(&counts.inits), 2);
	assert_int_equal(atomic_load(&counts.handles), 2);
	mn_runtime_close(rt);
	assert_int_equal(atomic_load(&counts.frees), 2);
	mt_assert_no_failures();
}

static int dummy_init(mn_ctx *ctx, void **state)
{
	(void)ctx;
	*state = NULL;
	return 0;
}

static int dummy_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	(void)ctx;
	(void)state;
	(void)msg;
	return 0;
}

/*
 * mn_ctx_send from inside a handler: the same argument checks as mn_send.
 * The probe actor runs them all on its first message and records each code;
 * the main thread compares them with the documented ones.
 */
enum {
	P_NULL_KIND,
	P_NULL_KEY,
	P_EMPTY_KEY,
	P_LONG_KEY,
	P_NULL_PAYLOAD,
	P_TOOBIG,
	P_FOREIGN,
	P_UNSPAWNED,
	P_SPAWN,
	P_SPAWNED_SEND,
	P_MAX_OK,
	P_NPROBES
};
static const int probe_want[P_NPROBES] = {
    [P_NULL_KIND] = MN_EINVAL,
    [P_NULL_KEY] = MN_EKEY,
    [P_EMPTY_KEY] = MN_EKEY,
    [P_LONG_KEY] = MN_EKEY,
    [P_NULL_PAYLOAD] = MN_EINVAL,
    [P_TOOBIG] = MN_ETOOBIG,
    [P_FOREIGN] = MN_ENOKIND,
    [P_UNSPAWNED] = MN_ENOACTOR,
    [P_SPAWN] = 0,
    [P_SPAWNED_SEND] = 0,
    [P_MAX_OK] = 0,
};
static _Atomic int probe_got[P_NPROBES];
static _Atomic int probe_ran;
static mn_kind *probe_kind, *probe_explicit, *probe_foreign;

static int probe_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	(void)state;
	if (msg->type != 1)
		return 0; /* a message to the target: nothing to do */
	static char buf[1001];
	static char key[MN_KEY_MAX + 1];
	memset(key, 'p', sizeof key);
	mn_runtime *rt = mn_ctx_runtime(ctx);
	const mn_kind *k = probe_kind;
	int r[P_NPROBES] = {0};
	r[P_NULL_KIND] = mn_ctx_send(ctx, NULL, "t", 1, 2, NULL, 0);
	r[P_NULL_KEY] = mn_ctx_send(ctx, k, NULL, 1, 2, NULL, 0);
	r[P_EMPTY_KEY] = mn_ctx_send(ctx, k, "t", 0, 2, NULL, 0);
	r[P_LONG_KEY] = mn_ctx_send(ctx, k, key, MN_KEY_MAX + 1, 2, NULL, 0);
	r[P_NULL_PAYLOAD] = mn_ctx_send(ctx, k, "t", 1, 2, NULL, 5);
	r[P_TOOBIG] = mn_ctx_send(ctx, k, "t", 1, 2, buf, 1001);
	r[P_FOREIGN] = mn_ctx_send(ctx, probe_foreign, "t", 1, 2, NULL, 0);
	r[P_UNSPAWNED] =
	    mn_ctx_send(ctx, probe_explicit, "nobody", 6, 2, NULL, 0);
	/* mn_spawn works from a handler too, and the actor exists at once. */
	r[P_SPAWN] = mn_spawn(rt, probe_explicit, "made", 4);
	r[P_SPAWNED_SEND] =
	    mn_ctx_send(ctx, probe_explicit, "made", 4, 2, "m", 1);
	r[P_MAX_OK] = mn_ctx_send(ctx, k, "t", 1, 2, buf, 1000);
	for (int i = 0; i < P_NPROBES; i++)
		atomic_store(&probe_got[i], r[i]);
	atomic_fetch_add(&probe_ran, 1);
	return 0;
}

static void test_ctx_send_args(void **state)
{
	(void)state;
	mn_runtime *rt = mt_open(2, 1000);
	mn_runtime *rt2 = mt_open(1, 0);
	mt_counts_reset(&counts);
	mt_counts_reset(&counts2);
	mn_kind_def dp = {
	    .name = "probe", .init = dummy_init, .handle = probe_handle};
	probe_kind = mt_register(rt, &dp);
	mn_kind_def de = mt_counting_kind("probe-explicit", &counts);
	de.flags = MN_KIND_EXPLICIT;
	probe_explicit = mt_register(rt, &de);
	mn_kind_def df = mt_counting_kind("probe-foreign", &counts2);
	probe_foreign = mt_register(rt2, &df);
	atomic_store(&probe_ran, 0);

	assert_rc(mn_send(rt, probe_kind, "probe", 5, 1, NULL, 0), 0);
	mt_drain(rt);
	mt_drain(rt2);
	mt_assert_no_failures();
	assert_int_equal(atomic_load(&probe_ran), 1);
	for (int i = 0; i < P_NPROBES; i++) {
		int got = atomic_load(&probe_got[i]);
		if (got != probe_want[i])
			fail_msg("probe %d: got %s, expected %s", i,
				 mn_err_name(got), mn_err_name(probe_want[i]));
	}
	/* The spawned actor got its init and the one message; the foreign
	 * runtime saw nothing. */
	assert_int_equal(atomic_load(&counts.inits), 1);
	assert_int_equal(atomic_load(&counts.handles), 1);
	assert_int_equal(atomic_load(&counts2.inits), 0);
	/* Actors: probe, target "t", spawned "made". */
	assert_int_equal(mt_stats(rt).actors, 3);
	assert_int_equal(mt_stats(rt2).actors, 0);
	mn_runtime_close(rt);
	mn_runtime_close(rt2);
	assert_int_equal(atomic_load(&counts.frees), 1);
}

static void test_kind_register_args(void **state)
{
	(void)state;
	mn_runtime *rt = mt_open(1, 0);
	mn_kind *k = NULL;
	mn_kind_def d = {
	    .name = "reg", .init = dummy_init, .handle = dummy_handle};

	mn_kind_def bad = d;
	bad.init = NULL;
	assert_rc(mn_kind_register(rt, &bad, &k), MN_EINVAL);
	bad = d;
	bad.handle = NULL;
	assert_rc(mn_kind_register(rt, &bad, &k), MN_EINVAL);
	bad = d;
	bad.name = "";
	assert_rc(mn_kind_register(rt, &bad, &k), MN_EINVAL);
	bad.name = NULL;
	assert_rc(mn_kind_register(rt, &bad, &k), MN_EINVAL);

	char name[MN_KIND_NAME_MAX + 2];
	memset(name, 'n', sizeof name);
	name[MN_KIND_NAME_MAX + 1] = '\0'; /* 64 bytes */
	bad.name = name;
	assert_rc(mn_kind_register(rt, &bad, &k), MN_EINVAL);
	assert_null(mn_kind_find(rt, name));

	/* 63 bytes is fine, and the name is copied. */
	name[MN_KIND_NAME_MAX] = '\0';
	mn_kind_def good = d;
	good.name = name;
	mn_kind *k63 = NULL;
	assert_rc(mn_kind_register(rt, &good, &k63), 0);
	assert_non_null(k63);
	char want[MN_KIND_NAME_MAX + 1];
	memcpy(want, name, sizeof want);
	memset(name, 'X', MN_KIND_NAME_MAX);
	assert_string_equal(mn_kind_name(k63), want);
	assert_ptr_equal(mn_kind_find(rt, want), k63);
	assert_null(mn_kind_find(rt, name));

	mn_kind *kr = mt_register(rt, &d);
	assert_string_equal(mn_kind_name(kr), "reg");
	assert_ptr_equal(mn_kind_find(rt, "reg"), kr);
	assert_null(mn_kind_find(rt, "re"));
	assert_null(mn_kind_find(rt, "regg"));
	assert_null(mn_kind_find(rt, ""));

	/* Duplicate name, even with other callbacks. */
	mn_kind *kd = NULL;
	assert_rc(mn_kind_register(rt, &d, &kd), MN_EEXIST);
	good = d;
	good.flags = MN_KIND_EXPLICIT;
	assert_rc(mn_kind_register(rt, &good, &kd), MN_EEXIST);
	assert_ptr_equal(mn_kind_find(rt, "reg"), kr);

	/* The def is copied: changing it afterwards changes nothing. */
	char nm[8] = "copy";
	good = d;
	good.name = nm;
	mn_kind *kc = mt_register(rt, &good);
	good.handle = NULL;
	nm[0] = 'C';
	assert_string_equal(mn_kind_name(kc), "copy");
	assert_rc(mn_send_named(rt, "copy", "a", 1, 0, NULL, 0), 0);
	mt_drain(rt);
	assert_int_equal(mt_stats(rt).processed, 1);
	mn_runtime_close(rt);
}

static void test_kind_limit(void **state)
{
	(void)state;
	mn_runtime *rt = mt_open(1, 0);
	mn_kind_def d = {.init = dummy_init, .handle = dummy_handle};
	char name[32];
	for (int i = 0; i < MN_KINDS_MAX; i++) {
		snprintf(name, sizeof name, "kind-%d", i);
		d.name = name;
		mn_kind *k = NULL;
		assert_rc(mn_kind_register(rt, &d, &k), 0);
		assert_non_null(k);
	}
	snprintf(name, sizeof name, "kind-%d", MN_KINDS_MAX);
	mn_kind *k = NULL;
	assert_rc(mn_kind_register(rt, &d, &k), MN_ELIMIT);
	assert_null(mn_kind_find(rt, name));
	/* Every registered kind works, the last one too. */
	snprintf(name, sizeof name, "kind-%d", MN_KINDS_MAX - 1);
	assert_non_null(mn_kind_find(rt, name));
	assert_rc(mn_send_named(rt, name, "a", 1, 0, NULL, 0), 0);
	assert_rc(mn_send_named(rt, "kind-0", "a", 1, 0, NULL, 0), 0);
	mt_drain(rt);
	assert_int_equal(mt_stats(rt).processed, 2);
	mn_runtime_close(rt);
}

static void test_after_shutdown(void **state)
{
	(void)state;
	mn_runtime *rt = mt_open(2, 0);
	mt_counts_reset(&counts);
	mn_kind_def d = mt_counting_kind("shut", &counts);
	d.flags = 0;
	mn_kind *k = mt_register(rt, &d);
	mn_kind_def de = mt_counting_kind("shut-explicit", &counts);
	de.flags = MN_KIND_EXPLICIT;
	mn_kind *ke = mt_register(rt, &de);
	assert_rc(mn_send(rt, k, "a", 1, 0, "x", 1), 0);

	mn_runtime_shutdown(rt);
	mn_runtime_shutdown(rt); /* idempotent */
	assert_rc(mn_send(rt, k, "a", 1, 0, "x", 1), MN_ECLOSED);
	assert_rc(mn_send(rt, k, "new", 3, 0, NULL, 0), MN_ECLOSED);
	assert_rc(mn_send_named(rt, "shut", "a", 1, 0, "x", 1), MN_ECLOSED);
	assert_rc(mn_spawn(rt, ke, "s", 1), MN_ECLOSED);
	mn_kind_def d2 = mt_counting_kind("late", &counts);
	mn_kind *k2 = NULL;
	assert_rc(mn_kind_register(rt, &d2, &k2), MN_ECLOSED);

	/* The message queued before shutdown is still handled. */
	expect_handled(rt, 1);
	assert_int_equal(atomic_load(&counts.inits), 1);
	mn_runtime_close(rt);
	assert_int_equal(atomic_load(&counts.frees), 1);
}

int main(void)
{
	mt_init("core/args");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_runtime_open_args, mt_setup),
	    cmocka_unit_test_setup(test_send_args, mt_setup),
	    cmocka_unit_test_setup(test_payload_limit, mt_setup),
	    cmocka_unit_test_setup(test_payload_limit_default, mt_setup),
	    cmocka_unit_test_setup(test_kind_of_other_runtime, mt_setup),
	    cmocka_unit_test_setup(test_explicit_kind, mt_setup),
	    cmocka_unit_test_setup(test_spawn_virtual_kind, mt_setup),
	    cmocka_unit_test_setup(test_ctx_send_args, mt_setup),
	    cmocka_unit_test_setup(test_kind_register_args, mt_setup),
	    cmocka_unit_test_setup(test_kind_limit, mt_setup),
	    cmocka_unit_test_setup(test_after_shutdown, mt_setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
