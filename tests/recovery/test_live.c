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
 * MN_LIVE_SECONDS sets how long the tool runs go on (default 4; make soak
 * runs it longer). The writer is bounded too: it stops after 600 s even if
 * never killed.
 */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/support.h"

#define ACTORS 2000
#define PAYLOAD 3000

static char store_dir[256];

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

/* The writer: until killed (or 600 s). Reports readiness by writing one
 * byte to fd once the store exists. */
static void writer_main(int fd)
{
	alarm(600);
	mn_runtime_opts o = {.workers = 2,
			     .store_path = store_dir,
			     .durability = MN_DURABILITY_RELAXED,
			     .max_resident = 200,
			     .checkpoint_every = 200,
			     .commit_delay_us = 500};
	mn_runtime *rt;
	mn_kind *k;
	if (mn_runtime_open(&o, &rt) || mn_kind_register(rt, &note_def, &k))
		_exit(3);
	unsigned char key[MT_KEY_LEN], p[PAYLOAD];
	mt_rng r;
	mt_rng_init(&r, 5);
	for (int i = 0; i < 2000; i++) {
		mt_key_put(key, (uint64_t)i % ACTORS);
		mt_put_u64(p, (uint64_t)i);
		if (mn_send_durable(rt, k, key, sizeof key, 1, p, 8))
			_exit(4);
	}
	if (write(fd, "x", 1) != 1)
		_exit(5);
	for (uint64_t i = 0;; i++) {
		for (size_t j = 0; j < PAYLOAD; j += 8)
			mt_put_u64(p + j, mt_rng_next(&r));
		mt_key_put(key, mt_rng_below(&r, ACTORS));
		int rc = i % 4 ? mn_send(rt, k, key, sizeof key, 1, p, PAYLOAD)
			       : mn_send_durable(rt, k, key, sizeof key, 1, p,
						 PAYLOAD);
		if (rc)
			_exit(6);
		if (i % 5000 == 4999)
			mn_runtime_drain(rt);
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
		writer_main(pfd[1]);
		_exit(0);
	}
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
			print_message("mnemo %s: exit %d%s\n%.2000s\n%.2000s\n",
				      what, st, st == 137 ? " (hung: killed)" : "",
				      out, errtext);
			failed = 1;
		} else if (runs % 4 == 1) {
			healthy++;
		}
	}
	kill(pid, SIGKILL);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
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
	assert_int_equal(mt_tool_run(tool, cmd, err, out, sizeof out,
				     errtext, sizeof errtext),
			 0);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", store_dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	mt_init("recovery/live");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_tools_beside_writer, mt_setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
