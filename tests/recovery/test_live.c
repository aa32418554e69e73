/*
 * test_live.c - the tool's read-only commands beside a live writer, as
 * docs/tool.md promises: a child process runs a runtime that writes without
 * pause (durable sends of incompressible payloads to many actors, snapshots
 * every few messages, eviction, frequent checkpoints of heads, a map that
 * grows past its first size), while this process runs verify, stats, ls
 * and dump against the store, again and again, each under a time limit.
 * Every run must exit 0 (verify: healthy); a hang (the limit's SIGKILL) or
 * false damage fails the test.
 *
 * test_more_tools_beside_writer: the same writer also sends small
 * messages to 16 actors of the kind "prop" (tests/recovery/plugin_prop.c,
 * built into a plugin), while this process runs the other read-only
 * commands: export (one actor, and once the whole store), quarantine
 * (listing, text and JSON: it holds the timers of a copy imported before
 * the writer started), replay (from the latest snapshot and from the
 * start: every recorded state hash and stored snapshot must match), diff,
 * ls --broken, stats --quick and dump --json.
 *
 * MN_LIVE_SECONDS sets how long the tool runs go on (default 4 for the
 * first test, half that for the second; make soak runs them longer). The
 * writer is bounded too: it stops after 4 x MN_LIVE_SECONDS + 120 s even if
 * never killed, and when data.mdb passes 2 GiB.
 */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/recovery/plugin_prop.c"
#include "tests/support/support.h"

#define ACTORS	2000
#define PAYLOAD 3000
/* The writer stops (and the test fails) past this size of data.mdb. */
#define WRITER_MAX_BYTES (2ull << 30)

#define PROP_ACTORS 16

static char store_dir[256];
static pid_t writer_pid; /* a running writer, killed by the teardown */

static int note_init(mn_ctx *ctx, void **state)
{
	(void)ctx;
	*state = calloc(1, 16);
	return *state ? 0 : MN_ENOMEM;
}

static int note_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	uint64_t *s = state;
	(void)ctx;
	s[0]++;
	if (msg->len >= 8)
		s[1] ^= mt_get_u64(msg->payload);
	return 0;
}

static int note_snapshot(const void *state, mn_buf *out)
{
	return mn_buf_append(out, state, 16);
}

static int note_restore(mn_ctx *ctx, const void *bytes, size_t len,
			void **state)
{
	(void)ctx;
	if (len != 16)
		return MN_ECORRUPT;
	if (!(*state = malloc(16)))
		return MN_ENOMEM;
	memcpy(*state, bytes, 16);
	return 0;
}

static mn_kind_def note_def = {.name = "note",
			       .init = note_init,
			       .handle = note_handle,
			       .snapshot = note_snapshot,
			       .restore = note_restore,
			       .free = free,
			       .snapshot_every = 3};

/* A durable message to prop/pN: an odd value (no timer), one in 64 a
 * multiple of 4 (a one-hour timer). */
static int prop_send(mn_runtime *rt, mn_kind *pk, uint64_t n, mt_rng *r)
{
	char key[8];
	uint64_t v = mt_rng_next(r);
	v = v % 64 ? v | 1 : v & ~(uint64_t)3;
	snprintf(key, sizeof key, "p%u", (unsigned)(n % PROP_ACTORS));
	return mn_send_durable(rt, pk, key, strlen(key), PROP_ADD, &v,
			       sizeof v);
}

/* The writer: until killed (or 600 s). Reports readiness by writing one
 * byte to fd once the store exists. */
static void writer_main(int fd, bool with_prop)
{
	const char *env = getenv("MN_LIVE_SECONDS");
	alarm((unsigned)((env ? atof(env) : 4) * 4 + 120));
	mn_runtime_opts o = {.workers = 2,
			     .store_path = store_dir,
			     .durability = MN_DURABILITY_RELAXED,
			     .max_resident = 200,
			     .checkpoint_every = 200,
			     .commit_delay_us = 500};
	mn_runtime *rt;
	mn_kind *k, *pk = NULL;
	size_t npk;
	if (mn_runtime_open(&o, &rt) || mn_kind_register(rt, &note_def, &k) ||
	    (with_prop &&
	     mn_kind_register(rt, &mnemo_plugin_kinds(&npk)[0], &pk)))
		_exit(3);
	unsigned char key[MT_KEY_LEN], p[PAYLOAD];
	size_t len = PAYLOAD;
	char data[300];
	struct stat sb;
	snprintf(data, sizeof data, "%s/data.mdb", store_dir);
	mt_rng r;
	mt_rng_init(&r, 5);
	for (int i = 0; i < 2000; i++) {
		mt_key_put(key, (uint64_t)i % ACTORS);
		mt_put_u64(p, (uint64_t)i);
		if (mn_send_durable(rt, k, key, sizeof key, 1, p, 8))
			_exit(4);
		if (pk && i % 8 == 0 && prop_send(rt, pk, (uint64_t)i / 8, &r))
			_exit(4);
	}
	if (write(fd, "x", 1) != 1)
		_exit(5);
	for (uint64_t i = 0;; i++) {
		for (size_t j = 0; j < len; j += 8)
			mt_put_u64(p + j, mt_rng_next(&r));
		mt_key_put(key, mt_rng_below(&r, ACTORS));
		int rc =
		    i % 4 ? mn_send(rt, k, key, sizeof key, 1, p, len)
			  : mn_send_durable(rt, k, key, sizeof key, 1, p, len);
		if (!rc && pk && i % 8 == 0)
			rc = prop_send(rt, pk, mt_rng_below(&r, PROP_ACTORS),
				       &r);
		if (rc)
			_exit(6);
		if (i % 5000 == 4999) {
			mn_runtime_drain(rt);
			if (stat(data, &sb) == 0 &&
			    (uint64_t)sb.st_size > WRITER_MAX_BYTES)
				_exit(7); /* never fill the disk */
		}
	}
}

static void test_tools_beside_writer(void **unused)
{
	(void)unused;
	char tool[PATH_MAX], cmd[PATH_MAX + 600], err[PATH_MAX];
	static char out[1 << 18], errtext[1 << 14];
	const char *env = getenv("MN_LIVE_SECONDS");
	double seconds = env ? atof(env) : 4;
	mt_tool_path(tool, sizeof tool);
	snprintf(store_dir, sizeof store_dir, "/tmp/mnemo-live-%d",
		 (int)getpid());
	snprintf(err, sizeof err, "%s.err", store_dir);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", store_dir);
	assert_int_equal(system(cmd), 0);

	int pfd[2];
	assert_int_equal(pipe(pfd), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(pfd[0]);
		writer_main(pfd[1], false);
		_exit(0);
	}
	writer_pid = pid;
	close(pfd[1]);
	char c;
	assert_int_equal(read(pfd[0], &c, 1), 1);
	close(pfd[0]);

	static const char *const cmds[] = {"verify", "stats", "ls --limit 50",
					   "dump note/0x0100000000000000"};
	unsigned runs = 0, healthy = 0;
	double t0 = mt_now();
	int failed = 0;
	while (!failed && (mt_now() - t0 < seconds || runs < 8)) {
		const char *what = cmds[runs % 4];
		snprintf(cmd, sizeof cmd, "-s KILL 30 '%s' %s '%s'", tool, what,
			 store_dir);
		int st = mt_tool_run("timeout", cmd, err, out, sizeof out,
				     errtext, sizeof errtext);
		runs++;
		if (st != 0) {
			print_message(
			    "mnemo %s: exit %d%s\n%.2000s\n%.2000s\n", what, st,
			    st == 137 ? " (hung: killed)" : "", out, errtext);
			failed = 1;
		} else if (runs % 4 == 1) {
			healthy++;
		}
	}
	kill(pid, SIGKILL);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	writer_pid = 0;
	assert_true(WIFSIGNALED(st)); /* the writer ran until killed */
	print_message("live: %u tool runs in %.1f s beside the writer, "
		      "%u verify healthy\n",
		      runs, mt_now() - t0, healthy);
	snprintf(cmd, sizeof cmd, "du -sh '%s/data.mdb' >&2", store_dir);
	if (system(cmd) != 0)
		print_message("du failed\n");
	assert_int_equal(failed, 0);
	/* After the kill: the store verifies and the writer's work is back. */
	snprintf(cmd, sizeof cmd, "verify '%s'", store_dir);
	assert_int_equal(mt_tool_run(tool, cmd, err, out, sizeof out, errtext,
				     sizeof errtext),
			 0);
	/* The store stays for test_more_tools_beside_writer: its map, grown
	 * once, grows again under that test's writer. */
}

/* Start the writer (with the prop kind) on store_dir; returns its pid. */
static pid_t start_writer(void)
{
	int pfd[2];
	assert_int_equal(pipe(pfd), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(pfd[0]);
		writer_main(pfd[1], true);
		_exit(0);
	}
	writer_pid = pid;
	close(pfd[1]);
	char c;
	assert_int_equal(read(pfd[0], &c, 1), 1);
	close(pfd[0]);
	return pid;
}

/* Did a run of cmd print what it must? (Its exit was 0.) */
static const char *live_check(const char *cmd, const char *out)
{
	if (strncmp(cmd, "replay", 6) == 0 && !strstr(out, "all match") &&
	    !strstr(out, "nothing to compare"))
		return "replay did not match";
	if (strncmp(cmd, "quarantine", 10) == 0 && !strstr(out, "prop/q0"))
		return "the copy's held timers are not listed";
	if (strncmp(cmd, "diff", 4) == 0 && !strstr(out, "count=6 "))
		return "diff lacks the state at seq 6";
	return NULL;
}

static void test_more_tools_beside_writer(void **unused)
{
	(void)unused;
	char tool[PATH_MAX], cmd[PATH_MAX + 2048], err[240], dir[200],
	    plugin[240], xfile[240];
	static char out[1 << 18], errtext[1 << 14];
	const char *env = getenv("MN_LIVE_SECONDS");
	double seconds = env ? atof(env) : 2;
	mt_tool_path(tool, sizeof tool);
	snprintf(dir, sizeof dir, "/tmp/mnemo-live2-%d", (int)getpid());
	/* The first test's store (its map grown once), or a new one. */
	snprintf(store_dir, sizeof store_dir, "/tmp/mnemo-live-%d",
		 (int)getpid());
	snprintf(err, sizeof err, "%s/err", dir);
	snprintf(plugin, sizeof plugin, "%s/prop.so", dir);
	snprintf(xfile, sizeof xfile, "%s/x.mnx", dir);
	snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(
	    mt_build_plugin("tests/recovery/plugin_prop.c", plugin), 0);

	/* Before the writer: prop/q0 with 4 timers, copied to prop/q0 of
	 * the store (a copy: its timers held in the quarantine). */
	snprintf(cmd, sizeof cmd, "%s/src", dir);
	mn_runtime_opts o = {.workers = 1, .store_path = cmd};
	mn_runtime *rt;
	mn_kind *pk;
	size_t npk;
	assert_rc(mn_runtime_open(&o, &rt), 0);
	assert_rc(mn_kind_register(rt, &mnemo_plugin_kinds(&npk)[0], &pk), 0);
	for (uint64_t v = 4; v <= 16; v += 4)
		assert_rc(
		    mn_send_durable(rt, pk, "q0", 2, PROP_ADD, &v, sizeof v),
		    0);
	mt_drain(rt);
	mn_runtime_close(rt);
	snprintf(cmd, sizeof cmd,
		 "export --actor prop/q0 -o '%s' '%s/src' && '%s' import '%s' "
		 "'%s' >/dev/null",
		 xfile, dir, tool, xfile, store_dir);
	int st = mt_tool_run(tool, cmd, err, out, sizeof out, errtext,
			     sizeof errtext);
	if (st != 0)
		fail_msg("export/import: exit %d\n%s\n%s", st, out, errtext);

	pid_t pid = start_writer();
	char cmds[10][400];
	snprintf(cmds[0], sizeof cmds[0], "export -o '%s' ", xfile);
	snprintf(cmds[1], sizeof cmds[1], "export --actor prop/p3 -o '%s' ",
		 xfile);
	snprintf(cmds[2], sizeof cmds[2], "quarantine ");
	snprintf(cmds[3], sizeof cmds[3], "quarantine --json ");
	snprintf(cmds[4], sizeof cmds[4], "replay prop/p%%u --plugin '%s' ",
		 plugin);
	snprintf(cmds[5], sizeof cmds[5],
		 "replay --from-start prop/p%%u --plugin '%s' ", plugin);
	snprintf(cmds[6], sizeof cmds[6], "diff prop/p%%u 2..6 --plugin '%s' ",
		 plugin);
	snprintf(cmds[7], sizeof cmds[7], "ls --broken ");
	snprintf(cmds[8], sizeof cmds[8], "stats --quick ");
	snprintf(cmds[9], sizeof cmds[9], "dump --json prop/p%%u ");
	unsigned runs = 0, per[10] = {0};
	double t0 = mt_now();
	int failed = 0;
	mt_rng r;
	mt_rng_init(&r, 9);
	/* The whole-store export once (it grows with the writer); then the
	 * others in turn. */
	while (!failed && (mt_now() - t0 < seconds || runs < 10)) {
		unsigned w = runs ? 1 + (runs - 1) % 9 : 0;
		char what[500];
		snprintf(what, sizeof what, cmds[w],
			 (unsigned)mt_rng_below(&r, PROP_ACTORS));
		snprintf(cmd, sizeof cmd, "-s KILL 30 '%s' %s'%s'", tool, what,
			 store_dir);
		st = mt_tool_run("timeout", cmd, err, out, sizeof out, errtext,
				 sizeof errtext);
		runs++;
		const char *why = st ? NULL : live_check(what, out);
		if (st != 0 || why) {
			print_message(
			    "mnemo %s: exit %d%s %s\n%.2000s\n%.2000s\n", what,
			    st, st == 137 ? " (hung: killed)" : "",
			    why ? why : "", out, errtext);
			failed = 1;
		} else {
			per[w]++;
		}
	}
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	writer_pid = 0;
	assert_true(WIFSIGNALED(st)); /* the writer ran until killed */
	print_message("live: %u runs in %.1f s beside the writer: export %u "
		      "(+%u whole), quarantine %u, replay %u, from the start "
		      "%u, diff %u, ls --broken %u, stats --quick %u, dump "
		      "--json %u\n",
		      runs, mt_now() - t0, per[1], per[0], per[2] + per[3],
		      per[4], per[5], per[6], per[7], per[8], per[9]);
	snprintf(cmd, sizeof cmd, "du -sh '%s/data.mdb' >&2", store_dir);
	if (system(cmd) != 0)
		print_message("du failed\n");
	assert_int_equal(failed, 0);
	snprintf(cmd, sizeof cmd, "verify '%s'", store_dir);
	assert_int_equal(mt_tool_run(tool, cmd, err, out, sizeof out, errtext,
				     sizeof errtext),
			 0);
	snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", dir, store_dir);
	assert_int_equal(system(cmd), 0);
}

/* After a failure: no writer left running, no store left behind. */
static int teardown(void **unused)
{
	(void)unused;
	char cmd[700];
	if (writer_pid > 0) {
		kill(writer_pid, SIGKILL);
		waitpid(writer_pid, NULL, 0);
		writer_pid = 0;
	}
	if (getenv("MN_TEST_KEEP"))
		return 0;
	snprintf(cmd, sizeof cmd,
		 "rm -rf /tmp/mnemo-live-%d /tmp/mnemo-live2-%d", (int)getpid(),
		 (int)getpid());
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	mt_init("recovery/live");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_tools_beside_writer, mt_setup),
	    cmocka_unit_test_setup(test_more_tools_beside_writer, mt_setup),
	};
	return cmocka_run_group_tests(tests, NULL, teardown);
}
