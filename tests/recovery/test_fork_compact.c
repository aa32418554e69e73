/*
 * test_fork_compact.c - forks after a compaction of their parent (issue 11,
 * defect 5), with the tool as README shows it: fork, compact, verify
 * (healthy), then replay and dump of the forks and the parent. History that
 * compaction dropped on purpose is MN_ECOMPACTED (exit 1, naming the seq
 * asked for), never MN_ECORRUPT; reads from the fork point stay right, and
 * a fork at its parent's compaction point keeps working in a runtime.
 *
 * The kind is tests/recovery/plugin_counter.c (snapshot_every 5), built
 * into a plugin for `mnemo replay`. counter/k1 gets ADD 1..12 (snapshots
 * at 5 and 10); counter/f5 is its fork at 5 (no entries of its own: its
 * head is k1's entry at 5), counter/f10 its fork at 10 with ADD 100 and
 * 200 of its own. Compaction keeping nothing cuts k1 at 5 (f5 holds it
 * there), dropping the entry f5's head names; a fork of f5 at 5 starts
 * from k1's snapshot there.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/recovery/plugin_counter.c"
#include "tests/support/support.h"

static char dir[256], store[300], plugin[300];
static mt_tool_res res;

#define run(...)	    mt_tool(&res, __VA_ARGS__)
#define expect_exit(want)   mt_expect_exit(&res, (want))
#define expect_in(h, n)	    mt_expect_in((h), (n))
#define expect_not_in(h, n) mt_expect_not_in((h), (n))

static mn_runtime *open_rt(void)
{
	mn_runtime_opts o = {.workers = 2,
			     .store_path = store,
			     .durability = MN_DURABILITY_RELAXED};
	mn_runtime *rt;
	int rc = mn_runtime_open(&o, &rt);
	if (rc)
		fail_msg("mn_runtime_open: %s (%s)", mn_err_name(rc),
			 mn_errdetail());
	size_t n;
	const mn_kind_def *defs = mnemo_plugin_kinds(&n);
	assert_rc(mn_kind_register(rt, &defs[0], NULL), 0);
	return rt;
}

static void add(mn_runtime *rt, const char *key, uint64_t v)
{
	assert_rc(mn_send_named(rt, "counter", key, strlen(key), CT_ADD, &v,
				sizeof v),
		  0);
}

/* The state replay prints last: "count=C sum=S". */
static void expect_final(const char *state)
{
	char want[128];
	snprintf(want, sizeof want, "    %s\n", state);
	const char *h = strstr(res.out, want);
	if (!h)
		fail_msg("'%s' not in:\n%s", state, res.out);
}

static void test_fork_after_compaction(void **unused)
{
	(void)unused;
	char cmd[700];
	snprintf(dir, sizeof dir, "/tmp/mnemo-forkc-%d", (int)getpid());
	mt_tool_setup(dir);
	snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
	assert_int_equal(system(cmd), 0);
	snprintf(store, sizeof store, "%s/data", dir);
	snprintf(plugin, sizeof plugin, "%s/counter.so", dir);
	assert_int_equal(
	    mt_build_plugin("tests/recovery/plugin_counter.c", plugin), 0);

	mn_runtime *rt = open_rt();
	for (uint64_t i = 1; i <= 12; i++)
		add(rt, "k1", i);
	mt_drain(rt);
	mn_runtime_close(rt);

	run("fork counter/k1@5 f5 '%s'", store);
	expect_exit(0);
	run("fork counter/k1@10 f10 '%s'", store);
	expect_exit(0);
	rt = open_rt();
	add(rt, "f10", 100);
	add(rt, "f10", 200);
	mt_drain(rt);
	mn_runtime_close(rt);

	run("compact '%s'", store);
	expect_exit(0);
	run("verify '%s'", store);
	expect_exit(0);

	/* From the start: the history before seq 5 was dropped on purpose. */
	run("replay --from-start counter/f5 --plugin '%s' '%s'", plugin, store);
	expect_exit(1);
	expect_in(res.err, "MN_ECOMPACTED");
	expect_in(res.err, "seq 1 asked for");
	expect_not_in(res.err, "MN_ECORRUPT");
	expect_not_in(res.err, "broken");
	run("replay --from-start counter/f10 --plugin '%s' '%s'", plugin,
	    store);
	expect_exit(1);
	expect_in(res.err, "MN_ECOMPACTED");
	expect_in(res.err, "seq 1 asked for");
	expect_not_in(res.err, "MN_ECORRUPT");
	run("replay --from-start counter/k1 --plugin '%s' '%s'", plugin, store);
	expect_exit(1);
	expect_in(res.err, "MN_ECOMPACTED");
	expect_in(res.err, "up to seq 5 was compacted (seq 1 asked for)");

	/* From the fork point (the parent's snapshot at 5) and later. */
	run("replay counter/f5 --plugin '%s' '%s'", plugin, store);
	expect_exit(0);
	expect_final("count=5 sum=15");
	run("replay counter/f10 --plugin '%s' '%s'", plugin, store);
	expect_exit(0);
	expect_final("count=12 sum=355");
	expect_in(res.out, "all match");
	run("replay counter/k1 --plugin '%s' '%s'", plugin, store);
	expect_exit(0);
	expect_final("count=12 sum=78");
	run("replay counter/k1 --to 7 --plugin '%s' '%s'", plugin, store);
	expect_exit(0);
	expect_final("count=7 sum=28");
	/* A fork of f5 at its fork point, k1's compaction point: the entry
	 * there is gone, its snapshot is not (it failed with MN_ECOMPACTED:
	 * the walk looked for the compaction point in f5, not in k1). */
	run("fork counter/f5@5 f5b '%s'", store);
	expect_exit(0);
	run("replay counter/f5b --plugin '%s' '%s'", plugin, store);
	expect_exit(0);
	expect_final("count=5 sum=15");
	run("verify '%s'", store);
	expect_exit(0);
	run("dump counter/f5 '%s'", store);
	expect_exit(0);
	run("dump counter/f10 '%s'", store);
	expect_exit(0);
	run("dump counter/k1 '%s'", store);
	expect_exit(0);
	expect_in(res.out, "were compacted");

	/* The fork goes on from its parent's compaction point. */
	rt = open_rt();
	add(rt, "f5", 1000);
	add(rt, "k1", 13);
	mt_drain(rt);
	mn_runtime_close(rt);
	run("verify '%s'", store);
	expect_exit(0);
	run("replay counter/f5 --plugin '%s' '%s'", plugin, store);
	expect_exit(0);
	expect_final("count=6 sum=1015");
	run("replay --from-start counter/f5 --plugin '%s' '%s'", plugin, store);
	expect_exit(1);
	expect_in(res.err, "MN_ECOMPACTED");
	run("replay counter/k1 --plugin '%s' '%s'", plugin, store);
	expect_exit(0);
	expect_final("count=13 sum=91");

	if (!getenv("MN_TEST_KEEP")) {
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
		assert_int_equal(system(cmd), 0);
	}
}

int main(void)
{
	mt_init("test_fork_compact");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_fork_after_compaction, mt_setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
