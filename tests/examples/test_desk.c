/*
 * test_desk.c - the support-desk demo (examples/support-desk/) in a short
 * form: a few hundred conversations against the in-process stand-in, one
 * SIGKILL with calls in flight, the restart and the demo's own checks
 * (its exit status and its PASS line); then, with the stand-in gone, the
 * mnemo tool replays one conversation from its journal with the demo's
 * kinds as a plugin (every state hash must match) and forks it at a turn.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/support.h"

static char bin[1024]; /* <build>/bin */
static char tool[1024];
static char store[512];

/* Run cmd (a shell line); its output into out (cap), its exit status
 * returned (-1 when it did not exit). */
static int run(const char *cmd, char *out, size_t cap)
{
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	size_t n = 0, got;
	while (n + 1 < cap && (got = fread(out + n, 1, cap - 1 - n, p)) > 0)
		n += got;
	out[n] = '\0';
	char sink[4096];
	while (fread(sink, 1, sizeof sink, p) > 0)
		;
	int st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_desk_crash_and_checks(void **state)
{
	(void)state;
	static char out[1 << 16];
	char cmd[4096];
	snprintf(cmd, sizeof cmd,
		 "env -u MNEMO_LLM_URL %s/support-desk --conversations %zu "
		 "--turns 4 --store '%s' --keep 2>&1",
		 bin, mt_scaled(300, 60), store);
	double t0 = mt_now();
	int rc = run(cmd, out, sizeof out);
	if (rc != 0 || !strstr(out, "result:    PASS"))
		fail_msg("support-desk exited %d:\n%s", rc, out);
	assert_non_null(strstr(out, "killed with calls in flight"));
	assert_null(strstr(out, "FAIL"));
	assert_true(mt_now() - t0 < 120);
}

static void test_desk_replay_and_fork(void **state)
{
	(void)state;
	static char out[1 << 18];
	char cmd[4096];
	/* The stand-in died with the demo: replay needs nothing outside. */
	snprintf(cmd, sizeof cmd,
		 "%s replay --from-start support-agent/conv-000007 --plugin "
		 "%s/support-desk.so '%s' 2>&1",
		 tool, bin, store);
	int rc = run(cmd, out, sizeof out);
	if (rc != 0 || !strstr(out, "all match"))
		fail_msg("mnemo replay exited %d:\n%s", rc, out);
	assert_non_null(strstr(out, "Here is what I found: order"));
	snprintf(cmd, sizeof cmd,
		 "%s fork support-agent/conv-000007@5 conv-7-try '%s' 2>&1",
		 tool, store);
	rc = run(cmd, out, sizeof out);
	if (rc != 0 || !strstr(out, "support-agent/conv-7-try"))
		fail_msg("mnemo fork exited %d:\n%s", rc, out);
	snprintf(cmd, sizeof cmd,
		 "%s replay --from-start support-agent/conv-7-try --plugin "
		 "%s/support-desk.so '%s' 2>&1",
		 tool, bin, store);
	rc = run(cmd, out, sizeof out);
	if (rc != 0 || !strstr(out, "all match"))
		fail_msg("replay of the fork exited %d:\n%s", rc, out);
}

static int setup(void **state)
{
	(void)state;
	char self[900];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n <= 0)
		return -1;
	self[n] = '\0';
	*strrchr(self, '/') = '\0'; /* <build>/tests/examples */
	snprintf(bin, sizeof bin, "%s/../../bin", self);
	snprintf(tool, sizeof tool, "%s/../../mnemo", self);
	char p[4200];
	snprintf(p, sizeof p, "%s/support-desk", bin);
	if (access(p, X_OK) != 0) {
		fprintf(stderr, "no program at %s (make test builds it)\n", p);
		return -1;
	}
	mt_tmpdir(store, sizeof store, "desk");
	mt_rmrf(store); /* the demo makes it */
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	mt_rmrf(store);
	return 0;
}

int main(void)
{
	mt_init("examples/desk");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_desk_crash_and_checks, mt_setup),
	    cmocka_unit_test_setup(test_desk_replay_and_fork, mt_setup),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
