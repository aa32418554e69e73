/*
 * test_replay.c - `mnemo replay` and `mnemo diff` run as a user runs them:
 * the tool of this build (found from this test's own path) through popen,
 * on a store written by a runtime running the kind "counter" of
 * tests/recovery/plugin_counter.c, which this test includes (the same
 * code) and also builds into shared objects with the system compiler, no
 * sanitizer flags (tests run from the repository's root):
 *
 *   good.so     the code that wrote the history: replay matches it, every
 *               recorded state hash and stored snapshot;
 *   buggy.so    -DMN_PLUGIN_BUGGY (ADD counts 2): the state hash differs
 *               after the first message replayed;
 *   nohash.so   -DMN_PLUGIN_BUGGY -DMN_PLUGIN_NO_HASH: without hash() only
 *               the stored snapshots show the divergence (at seq 5);
 *   late.so     -DMN_PLUGIN_LATE (ADD 8 adds 80): diverges at seq 8,
 *               between the snapshots at 5 and 10;
 *   crash.so    -DMN_PLUGIN_CRASH (ADD 9 raises SIGSEGV): the tool reports
 *               the crash of its reader process and exits 1;
 *   noentry.so  -DMN_PLUGIN_NO_ENTRY: exit 2 naming the entry symbol.
 *
 * History of counter/k1: seq i is ADD i, except seq 7 which is PING (a send
 * to counter/peer and a timer: suppressed in replay, no state change).
 * snapshot_every 5: stored snapshots after seq 5 and 10. A pause between
 * seq 6 and 7 gives --at a time that ends at seq 6.
 */
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/recovery/plugin_counter.c"
#include "tests/support/support.h"

#define NMSG	 12
#define PING_SEQ 7

static char dir[256], store[300], good[300], buggy[300], nohash[300], late[300],
    crash[300], noentry[300];
static uint64_t at_ms; /* between seq 6 and seq 7 */

static mt_tool_res res;

static uint64_t want_count(unsigned seq)
{
	return seq - (seq >= PING_SEQ);
}

static uint64_t want_sum(unsigned seq)
{
	return (uint64_t)seq * (seq + 1) / 2 - (seq >= PING_SEQ ? PING_SEQ : 0);
}

#define run(...)	    mt_tool(&res, __VA_ARGS__)
#define expect_exit(want)   mt_expect_exit(&res, (want))
#define expect_in(h, n)	    mt_expect_in((h), (n))
#define expect_not_in(h, n) mt_expect_not_in((h), (n))

/* The state line printed after seq (indented, as replay prints it). */
static void expect_state(unsigned seq, const char *header)
{
	char want[256];
	const char *h = strstr(res.out, header);
	if (!h)
		fail_msg("'%s' not found in:\n%s", header, res.out);
	snprintf(want, sizeof want, "\n    count=%llu sum=%llu\n",
		 (unsigned long long)want_count(seq),
		 (unsigned long long)want_sum(seq));
	const char *nl = strchr(h + strlen(header), '\n');
	assert_non_null(nl);
	if (strncmp(nl, want, strlen(want)) != 0)
		fail_msg("after '%s' expected%s got:\n%s", header, want, h);
}

/* The state line after seq is text. */
static void expect_seq_text(unsigned seq, const char *text)
{
	char want[256];
	snprintf(want, sizeof want, "\nseq %u  lsn ", seq);
	const char *h = strstr(res.out, want);
	if (!h)
		fail_msg("'%s' not found in:\n%s", want, res.out);
	snprintf(want, sizeof want, "\n    %s\n", text);
	const char *nl = strchr(h + 1, '\n');
	if (!nl || strncmp(nl, want, strlen(want)) != 0)
		fail_msg("after seq %u expected%s got:\n%s", seq, want, h);
}

static void expect_seq(unsigned seq)
{
	char header[64];
	snprintf(header, sizeof header, "\nseq %u  lsn ", seq);
	expect_state(seq, header);
}

static void build_plugin(const char *out, const char *defs)
{
	if (mt_build_plugin_with("tests/recovery/plugin_counter.c", out, defs))
		fail_msg("building %s failed", out);
}

static uint64_t now_ms(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

static void send_range(mn_runtime *rt, unsigned from, unsigned to)
{
	for (unsigned i = from; i <= to; i++) {
		uint64_t v = i;
		if (i == PING_SEQ)
			assert_rc(mn_send_named(rt, "counter", "k1", 2, CT_PING,
						NULL, 0),
				  0);
		else
			assert_rc(mn_send_named(rt, "counter", "k1", 2, CT_ADD,
						&v, sizeof v),
				  0);
	}
}

static int setup_all(void **state)
{
	(void)state;
	char cmd[600];
	if (access("tests/recovery/plugin_counter.c", R_OK) != 0)
		fail_msg("run from the repository's root");
	snprintf(dir, sizeof dir, "/tmp/mnemo-replay-%d", (int)getpid());
	mt_tool_setup(dir);
	snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
	assert_int_equal(system(cmd), 0);
	snprintf(store, sizeof store, "%s/data", dir);
	snprintf(good, sizeof good, "%s/good.so", dir);
	snprintf(buggy, sizeof buggy, "%s/buggy.so", dir);
	snprintf(noentry, sizeof noentry, "%s/noentry.so", dir);
	snprintf(nohash, sizeof nohash, "%s/nohash.so", dir);
	snprintf(late, sizeof late, "%s/late.so", dir);
	snprintf(crash, sizeof crash, "%s/crash.so", dir);
	build_plugin(good, "");
	build_plugin(buggy, "-DMN_PLUGIN_BUGGY");
	build_plugin(nohash, "-DMN_PLUGIN_BUGGY -DMN_PLUGIN_NO_HASH");
	build_plugin(late, "-DMN_PLUGIN_LATE");
	build_plugin(crash, "-DMN_PLUGIN_CRASH");
	build_plugin(noentry, "-DMN_PLUGIN_NO_ENTRY");
	mt_tool_crashes_are_signals();

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
	assert_int_equal(n, 1);
	assert_rc(mn_kind_register(rt, &defs[0], NULL), 0);
	send_range(rt, 1, 6);
	mt_drain(rt);
	mt_sleep_ms(20);
	at_ms = now_ms();
	mt_sleep_ms(20);
	send_range(rt, 7, NMSG);
	mt_drain(rt);
	mn_runtime_stats st = mt_stats(rt);
	assert_int_equal(st.handler_errors, 0);
	mn_runtime_close(rt);
	return 0;
}

static int teardown_all(void **state)
{
	(void)state;
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Default: from the latest snapshot (seq 10), then 11 and 12. */
static void test_replay_latest(void **state)
{
	(void)state;
	run("replay counter/k1 --plugin '%s' '%s'", good, store);
	expect_exit(0);
	expect_in(res.out, "replay counter/k1 to seq 12 (last 12), kind "
			   "counter");
	expect_state(10, "seq 10  restored from the snapshot");
	expect_seq(11);
	expect_seq(12);
	expect_not_in(res.out, "\nseq 9 ");
	expect_in(res.out,
		  "replayed 2 messages (seq 11..12) from the snapshot; 0 "
		  "stored snapshots and 2 state hashes compared: all match");
}

/* From init, every message; both stored snapshots compared. */
static void test_replay_from_start(void **state)
{
	(void)state;
	run("replay --from-start counter/k1 --plugin '%s' '%s'", good, store);
	expect_exit(0);
	expect_state(0, "seq 0  init");
	for (unsigned i = 1; i <= NMSG; i++)
		expect_seq(i);
	/* The PING: a send and a timer, suppressed, no error. */
	expect_not_in(res.out, "handle:");
	expect_in(res.out, "replayed 12 messages (seq 1..12) from init; 2 "
			   "stored snapshots and 12 state hashes compared: "
			   "all match");
}

static void test_replay_to_at(void **state)
{
	(void)state;
	run("replay counter/k1 --plugin '%s' --to 7 '%s'", good, store);
	expect_exit(0);
	expect_state(5, "seq 5  restored from the snapshot");
	expect_seq(6);
	expect_seq(7);
	expect_not_in(res.out, "\nseq 8 ");

	run("replay counter/k1 --plugin '%s' --at %llu '%s'", good,
	    (unsigned long long)at_ms, store);
	expect_exit(0);
	expect_in(res.out, "to seq 6 (last 12)");
	expect_seq(6);
	expect_not_in(res.out, "\nseq 7 ");

	/* The same time as ISO 8601. */
	char iso[64];
	time_t t = (time_t)(at_ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	size_t n = strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(iso + n, sizeof iso - n, ".%03uZ", (unsigned)(at_ms % 1000));
	run("replay counter/k1 --plugin '%s' --at %s '%s'", good, iso, store);
	expect_exit(0);
	expect_in(res.out, "to seq 6 (last 12)");

	/* Before the first message: the state init makes. */
	run("replay counter/k1 --plugin '%s' --at 2000-01-01T00:00:00Z '%s'",
	    good, store);
	expect_exit(0);
	expect_state(0, "seq 0  init");
	expect_in(res.out, "replayed 0 messages");

	run("replay counter/k1 --plugin '%s' --to 13 '%s'", good, store);
	expect_exit(2);
	expect_in(res.err, "past the last message");
	run("replay counter/k1 --plugin '%s' --to 3 --at 5 '%s'", good, store);
	expect_exit(2);
	run("replay counter/k1 --plugin '%s' --at yesterday '%s'", good, store);
	expect_exit(2);
}

static void test_replay_json(void **state)
{
	(void)state;
	run("replay --json --from-start --to 6 counter/k1 --plugin '%s' '%s'",
	    good, store);
	expect_exit(0);
	expect_in(res.out, "{\"record\":\"replay\",\"address\":\"counter/k1\"");
	expect_in(res.out, "{\"record\":\"start\",\"seq\":0,\"from\":\"init\","
			   "\"state\":\"count=0 sum=0\"}");
	expect_in(res.out, "\"seq\":6,");
	expect_in(res.out, "\"state\":\"count=6 sum=21\"}");
	expect_in(res.out, "\"snapshots_compared\":1,\"hashes_compared\":6,"
			   "\"diverged\":false");
	unsigned lines = 0;
	for (const char *p = res.out; (p = strchr(p, '\n')); p++)
		lines++;
	assert_int_equal(lines, 1 + 1 + 6 + 1);
}

/* Changed code without hash(): diverges at the first stored snapshot. */
static void test_replay_diverges_snapshot(void **state)
{
	(void)state;
	run("replay --from-start counter/k1 --plugin '%s' '%s'", nohash, store);
	expect_exit(1);
	expect_in(res.out, "diverges at seq 5: the replayed state differs "
			   "from the stored snapshot\n"
			   "  replayed (plugin code):\n"
			   "    count=10 sum=15\n"
			   "  stored (recorded history):\n"
			   "    count=5 sum=15\n");
	expect_not_in(res.out, "\nseq 6 ");

	run("replay --json --from-start counter/k1 --plugin '%s' '%s'", nohash,
	    store);
	expect_exit(1);
	expect_in(res.out, "{\"record\":\"divergence\",\"seq\":5,"
			   "\"replayed\":\"count=10 sum=15\","
			   "\"stored\":\"count=5 sum=15\"");
	expect_in(res.out, "\"by\":\"snapshot\"}");
	expect_in(res.out, "\"hashes_compared\":0,\"diverged\":true,"
			   "\"diverged_seq\":5");

	/* From the latest snapshot no stored snapshot is in range. */
	run("replay counter/k1 --plugin '%s' '%s'", nohash, store);
	expect_exit(0);
	expect_in(res.out, "nothing to compare");
}

/* Changed code with hash(): the first message whose state differs, even
 * where the store holds no snapshot. */
static void test_replay_diverges_hash(void **state)
{
	(void)state;
	run("replay --from-start counter/k1 --plugin '%s' '%s'", buggy, store);
	expect_exit(1);
	expect_seq_text(1, "count=2 sum=1");
	expect_in(res.out, "diverges at seq 1: the replayed state's hash "
			   "differs from the one recorded after this "
			   "message\n  replayed (plugin code): hash 0x");
	expect_in(res.out, "\n    count=2 sum=1\n  recorded (history): hash "
			   "0x");
	expect_in(res.out, "(the store keeps the state itself only at "
			   "snapshots)");
	expect_not_in(res.out, "\nseq 2 ");

	/* From the latest snapshot (seq 10): the next message. */
	run("replay counter/k1 --plugin '%s' '%s'", buggy, store);
	expect_exit(1);
	expect_in(res.out, "diverges at seq 11: the replayed state's hash");

	/* A change that shows at seq 8 only: found there, not at the
	 * snapshot after it (seq 10). */
	run("replay --from-start counter/k1 --plugin '%s' '%s'", late, store);
	expect_exit(1);
	for (unsigned i = 1; i <= 6; i++)
		expect_seq(i);
	expect_in(res.out, "diverges at seq 8: the replayed state's hash");
	expect_not_in(res.out, "\nseq 9 ");
	run("replay --json --from-start counter/k1 --plugin '%s' '%s'", late,
	    store);
	expect_exit(1);
	expect_in(res.out, "{\"record\":\"divergence\",\"seq\":8,"
			   "\"replayed\":\"count=7 sum=101\",\"stored\":null,"
			   "\"replayed_hash\":\"0x");
	expect_in(res.out, "\"by\":\"hash\"}");
	expect_in(res.out, "\"snapshots_compared\":1,\"hashes_compared\":8,"
			   "\"diverged\":true,\"diverged_seq\":8");

	/* diff meets the divergence on its way to seq 9. */
	run("diff counter/k1 2..9 --plugin '%s' '%s'", late, store);
	expect_exit(1);
	expect_in(res.out, "diverges at seq 8");
}

/* A plugin that crashes the process: the tool's reader child dies, the
 * tool says so and exits 1; with MNEMO_NO_FORK the tool itself dies. */
static void test_plugin_crash(void **state)
{
	(void)state;
	run("replay --from-start counter/k1 --plugin '%s' '%s'", crash, store);
	expect_exit(1);
	expect_seq(8); /* the lines before the crash came through */
	char want[800];
	snprintf(want, sizeof want,
		 "mnemo replay: the replay crashed (signal %d, %s): either "
		 "the plugin %s has a bug or store %s is damaged",
		 SIGSEGV, strsignal(SIGSEGV), crash, store);
	expect_in(res.err, want);

	assert_int_equal(setenv("MNEMO_NO_FORK", "1", 1), 0);
	run("replay --from-start counter/k1 --plugin '%s' '%s'", crash, store);
	unsetenv("MNEMO_NO_FORK");
	expect_exit(128 + SIGSEGV);
}

static void test_plugin_errors(void **state)
{
	(void)state;
	run("replay counter/k1 --plugin '%s' '%s'", noentry, store);
	expect_exit(2);
	expect_in(res.err, "has no symbol 'mnemo_plugin_kinds'");
	assert_string_equal(res.out, "");

	run("replay counter/k1 --plugin '%s/nope.so' '%s'", dir, store);
	expect_exit(2);
	expect_in(res.err, "mnemo replay: loading plugin");

	run("replay counter/k1 '%s'", store);
	expect_exit(2);
	expect_in(res.err, "--plugin LIB.so is required");

	run("replay counter/nobody --plugin '%s' '%s'", good, store);
	expect_exit(1);
	expect_in(res.err, "no actor counter/nobody");

	run("replay counter/k1 --plugin '%s' '%s/nostore'", good, dir);
	expect_exit(2);

	run("diff counter/k1 1..2 --plugin '%s' '%s'", noentry, store);
	expect_exit(2);
	expect_in(res.err, "mnemo_plugin_kinds");

	run("replay --help");
	expect_exit(0);
	expect_in(res.out, "EXIT STATUS");
	run("help diff");
	expect_exit(0);
	expect_in(res.out, "SEQ1..SEQ2");
}

static void test_diff(void **state)
{
	(void)state;
	run("diff counter/k1 3..8 --plugin '%s' '%s'", good, store);
	expect_exit(0);
	expect_in(res.out, "state at seq 3:\n    count=3 sum=6\n"
			   "state at seq 8:\n    count=7 sum=29\n"
			   "changes:\n-count=3 sum=6\n+count=7 sum=29\n");

	run("diff counter/k1 6..7 --plugin '%s' '%s'", good, store);
	expect_exit(0);
	expect_in(res.out, "(none: the two states describe the same)");

	run("diff --json counter/k1 0..12 --plugin '%s' '%s'", good, store);
	expect_exit(0);
	expect_in(res.out, "{\"record\":\"state\",\"address\":\"counter/k1\","
			   "\"seq\":0,\"state\":\"count=0 sum=0\"}");
	expect_in(res.out, "{\"record\":\"change\",\"op\":\"+\","
			   "\"text\":\"count=11 sum=71\"}");
	expect_in(res.out, "\"changed_lines\":2,\"same\":false");

	run("diff counter/k1 3-8 --plugin '%s' '%s'", good, store);
	expect_exit(2);
	run("diff counter/k1 3..99 --plugin '%s' '%s'", good, store);
	expect_exit(2);
}

int main(void)
{
	mt_init("recovery/replay");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_replay_latest, mt_setup),
	    cmocka_unit_test_setup(test_replay_from_start, mt_setup),
	    cmocka_unit_test_setup(test_replay_to_at, mt_setup),
	    cmocka_unit_test_setup(test_replay_json, mt_setup),
	    cmocka_unit_test_setup(test_replay_diverges_snapshot, mt_setup),
	    cmocka_unit_test_setup(test_replay_diverges_hash, mt_setup),
	    cmocka_unit_test_setup(test_plugin_crash, mt_setup),
	    cmocka_unit_test_setup(test_plugin_errors, mt_setup),
	    cmocka_unit_test_setup(test_diff, mt_setup),
	};
	return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
