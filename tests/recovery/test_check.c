/*
 * test_check.c - `mnemo check`, the upgrade gate, run as a user runs it
 * (the tool of this build through popen) on a store written by a runtime
 * running the kind "counter" of tests/recovery/plugin_counter.c (included
 * here, and built into shared objects with the system compiler, variants
 * by -D flags) and a kind "bystander" no plugin defines.
 *
 * History: counter/aI (I = 0..11) got ADD 1 .. ADD I+1, so it has I+1
 * messages; snapshot_every 5: the actors with 5 or more messages (a4..a11)
 * have a stored snapshot at seq 5, those with 10 or more (a9..a11) one at
 * 10. So, per variant:
 *   good       every counter identical, the bystander skipped;
 *   buggy      every counter diverges at seq 1 (the state hash);
 *   late       ADD 8 adds 80: a7..a11 diverge at seq 8, a0..a6 identical;
 *   crash      ADD 9 raises SIGSEGV: a8..a11 failed (the tool survives);
 *   hang       ADD 10 never returns: a9..a11 failed by --timeout-ms;
 *   v2, v2up   version 2 (snapshot bytes swapped), restore() by version
 *              or an upgrade(): every counter identical;
 *   v2strict   version 2 refusing version 1's snapshots: a4..a11 cannot
 *              restore (at seq 5).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/recovery/plugin_counter.c"
#include "tests/support/support.h"

#define NACT 12

static char dir[256], store[300];
static char so_good[300], so_buggy[300], so_late[300], so_crash[300],
    so_hang[300], so_v2[300], so_v2up[300], so_v2strict[300];

static mt_tool_res res;

#define run(...)	    mt_tool(&res, __VA_ARGS__)
#define expect_exit(want)   mt_expect_exit(&res, (want))
#define expect_in(h, n)	    mt_expect_in((h), (n))
#define expect_not_in(h, n) mt_expect_not_in((h), (n))

static void build_plugin(const char *out, const char *defs)
{
	if (mt_build_plugin_with("tests/recovery/plugin_counter.c", out, defs))
		fail_msg("building %s failed", out);
}

static int by_init(mn_ctx *ctx, void **state)
{
	(void)ctx;
	*state = NULL;
	return 0;
}

static int by_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	(void)ctx;
	(void)state;
	(void)msg;
	return 0;
}

static int setup_all(void **state)
{
	(void)state;
	if (access("tests/recovery/plugin_counter.c", R_OK) != 0)
		fail_msg("run from the repository's root");
	snprintf(dir, sizeof dir, "/tmp/mnemo-check-%d", (int)getpid());
	mt_tool_setup(dir);
	mt_rmrf(dir);
	char cmd[600];
	snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
	assert_int_equal(system(cmd), 0);
	snprintf(store, sizeof store, "%s/data", dir);
	struct {
		char *path;
		const char *name, *defs;
	} so[] = {
	    {so_good, "good", ""},
	    {so_buggy, "buggy", "-DMN_PLUGIN_BUGGY"},
	    {so_late, "late", "-DMN_PLUGIN_LATE"},
	    {so_crash, "crash", "-DMN_PLUGIN_CRASH"},
	    {so_hang, "hang", "-DMN_PLUGIN_HANG"},
	    {so_v2, "v2", "-DMN_PLUGIN_V2"},
	    {so_v2up, "v2up", "-DMN_PLUGIN_V2 -DMN_PLUGIN_V2_UPGRADE"},
	    {so_v2strict, "v2strict", "-DMN_PLUGIN_V2 -DMN_PLUGIN_V2_STRICT"},
	};
	for (size_t i = 0; i < sizeof so / sizeof so[0]; i++) {
		snprintf(so[i].path, 300, "%s/%s.so", dir, so[i].name);
		build_plugin(so[i].path, so[i].defs);
	}
	mt_tool_crashes_are_signals();

	mn_runtime_opts o = MN_RUNTIME_OPTS_INIT;
	o.workers = 2;
	o.store_path = store;
	o.durability = MN_DURABILITY_RELAXED;
	mn_runtime *rt;
	int rc = mn_runtime_open(&o, &rt);
	if (rc)
		fail_msg("mn_runtime_open: %s (%s)", mn_err_name(rc),
			 mn_errdetail());
	size_t n;
	const mn_kind_def *defs = mnemo_plugin_kinds(&n);
	assert_rc(mn_kind_register(rt, &defs[0], NULL), 0);
	mn_kind_def by = MN_KIND_DEF_INIT;
	by.name = "bystander";
	by.init = by_init;
	by.handle = by_handle;
	assert_rc(mn_kind_register(rt, &by, NULL), 0);
	for (unsigned i = 0; i < NACT; i++) {
		char key[8];
		int kl = snprintf(key, sizeof key, "a%u", i);
		for (uint64_t v = 1; v <= i + 1; v++)
			assert_rc(mn_send_named(rt, "counter", key, (size_t)kl,
						CT_ADD, &v, sizeof v),
				  0);
	}
	assert_rc(mn_send_named(rt, "bystander", "b", 1, 1, NULL, 0), 0);
	mt_drain(rt);
	assert_int_equal(mt_stats(rt).handler_errors, 0);
	mn_runtime_close(rt);
	return 0;
}

static int teardown_all(void **state)
{
	(void)state;
	return mt_rmrf(dir);
}

/* The count an outcome has in the JSON summary line. */
static void expect_summary(const char *outcome, unsigned n)
{
	char want[64];
	const char *s = strstr(res.out, "{\"record\":\"summary\"");
	if (!s)
		fail_msg("no summary record in:\n%s", res.out);
	snprintf(want, sizeof want, "\"%s\":%u,", outcome, n);
	if (!strstr(s, want))
		fail_msg("'%s' not in the summary:\n%s", want, s);
}

/* Actors lo..hi have the line "counter/aI: WHAT", the others none. */
static void expect_actors(unsigned lo, unsigned hi, const char *what)
{
	for (unsigned i = 0; i < NACT; i++) {
		char line[128];
		snprintf(line, sizeof line, "counter/a%u: %s", i, what);
		char *hit = strstr(res.out, line);
		/* "a1: " must not match "a11: ". */
		if (i >= lo && i <= hi && !hit)
			fail_msg("'%s' missing in:\n%s", line, res.out);
		if ((i < lo || i > hi) && hit)
			fail_msg("'%s' unexpected in:\n%s", line, res.out);
	}
}

static void test_same_code_identical(void **state)
{
	(void)state;
	run("check --plugin '%s' -j '%s'", so_good, store);
	expect_exit(0);
	expect_summary("identical", NACT);
	expect_summary("diverged", 0);
	expect_summary("failed", 0);
	expect_summary("skipped", 1); /* the bystander */
	expect_not_in(res.out, "{\"record\":\"actor\"");
	run("check --plugin '%s' '%s'", so_good, store);
	expect_exit(0);
	expect_in(res.out, "12 actors checked");
	expect_in(res.out, "(not in the plugin)");
}

static void test_changed_behaviour_at_the_right_seq(void **state)
{
	(void)state;
	run("check --plugin '%s' --details 100 '%s'", so_buggy, store);
	expect_exit(1);
	expect_actors(0, NACT - 1, "diverged at seq 1\n");
	run("check --plugin '%s' '%s'", so_late, store);
	expect_exit(1);
	expect_actors(7, NACT - 1, "diverged at seq 8\n");
	/* The report shows both states and the message. */
	expect_in(res.out, "the message at seq 8: type 1, 8 B");
	expect_in(res.out, "count=8 sum=108"); /* new code: 1..7 + 80 */
	expect_in(res.out, "before seq 8 (the same in both versions):\n"
			   "        count=7 sum=28\n");
	run("check --plugin '%s' -j '%s'", so_late, store);
	expect_summary("identical", 7);
	expect_summary("diverged", 5);
	expect_in(res.out, "\"diverged_seq_min\":8,\"diverged_seq_max\":8");
	/* One worker gives the same. */
	run("check --plugin '%s' --jobs 1 '%s'", so_late, store);
	expect_exit(1);
	expect_actors(7, NACT - 1, "diverged at seq 8\n");
}

static void test_expected_divergence(void **state)
{
	(void)state;
	run("check --plugin '%s' --expect-diverge counter -j '%s'", so_buggy,
	    store);
	expect_exit(0);
	expect_summary("diverged", NACT);
	expect_in(res.out, "\"expect_diverge\":true");
	run("check --plugin '%s' --expect-diverge counter '%s'", so_good,
	    store);
	expect_exit(0);
	expect_in(res.out, "note: kind counter was expected to diverge and "
			   "did not");
	run("check --plugin '%s' --expect-diverge nosuch '%s'", so_good, store);
	expect_exit(2);
}

static void test_crash_and_hang_isolated(void **state)
{
	(void)state;
	run("check --plugin '%s' --details 100 -J 1 '%s'", so_crash, store);
	expect_exit(2);
	expect_actors(8, NACT - 1, "failed");
	expect_in(res.out, "crashed: signal 11");
	expect_in(res.out, "8 identical, 0 diverged, 4 failed");
	run("check --plugin '%s' --timeout-ms 300 '%s'", so_hang, store);
	expect_exit(2);
	expect_actors(9, NACT - 1, "failed");
	expect_in(res.out, "ran past 300 ms");
	expect_in(res.out, "9 identical, 0 diverged, 3 failed");
}

static void test_versions(void **state)
{
	(void)state;
	run("check --plugin '%s' -j '%s'", so_v2, store);
	expect_exit(0);
	expect_summary("identical", NACT);
	run("check --plugin '%s' -j '%s'", so_v2up, store);
	expect_exit(0);
	expect_summary("identical", NACT);
	run("check --plugin '%s' --details 100 '%s'", so_v2strict, store);
	expect_exit(2);
	expect_actors(4, NACT - 1, "cannot_restore at seq 5\n");
	expect_in(res.out, "restore() refused the snapshot at seq 5, written "
			   "by version 1 (returned MN_EVERSION)");
}

static void test_choosing_actors(void **state)
{
	(void)state;
	run("check --plugin '%s' --sample 3 --seed 7 -j '%s'", so_good, store);
	expect_exit(0);
	unsigned checked = 0, skipped = 0;
	const char *s = strstr(res.out, "\"identical\":");
	assert_non_null(s);
	checked = (unsigned)atoi(s + strlen("\"identical\":"));
	s = strstr(res.out, "\"skipped\":");
	assert_non_null(s);
	skipped = (unsigned)atoi(s + strlen("\"skipped\":"));
	assert_int_equal(checked + skipped, 3);
	run("check --plugin '%s' --actor counter/a3 --actor counter/a9 -j '%s'",
	    so_late, store);
	expect_exit(1);
	expect_summary("identical", 1);
	expect_summary("diverged", 1);
	expect_in(res.out, "\"address\":\"counter/a9\"");
	run("check --plugin '%s' --kind counter -j '%s'", so_good, store);
	expect_exit(0);
	expect_summary("skipped", 0);
	expect_summary("identical", NACT);
	run("check --plugin '%s' --kind bystander '%s'", so_good, store);
	expect_exit(2);
	expect_in(res.err, "has no kind 'bystander'");
	run("check --plugin '%s' --actor counter/zz '%s'", so_good, store);
	expect_exit(1);
	run("check '%s'", store);
	expect_exit(2);
	expect_in(res.err, "--plugin NEW.so is required");
}

int main(void)
{
	mt_init("recovery/check");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_same_code_identical, mt_setup),
	    cmocka_unit_test_setup(test_changed_behaviour_at_the_right_seq,
				   mt_setup),
	    cmocka_unit_test_setup(test_expected_divergence, mt_setup),
	    cmocka_unit_test_setup(test_crash_and_hang_isolated, mt_setup),
	    cmocka_unit_test_setup(test_versions, mt_setup),
	    cmocka_unit_test_setup(test_choosing_actors, mt_setup),
	};
	return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
