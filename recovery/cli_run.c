/*
 * cli_run.c - running one command of the mnemo tool (mn__cli_run): a
 * store command in a child process, the rest in the tool's own.
 *
 * A store command runs in a child (run_isolated): LMDB does not checksum
 * its B-tree pages, so damage there can crash whatever reads the store;
 * the parent turns such a crash into one line and exit 1 (blaming the
 * store, or for replay and diff either the plugin or the store), and a
 * child stopped by another signal stops the parent with the same signal.
 * The child runs the command on a thread of its own, so that the store's
 * per-thread decoding arena is freed when it exits. MNEMO_NO_FORK=1 runs
 * it in this process (a debugger or valgrind then sees the command).
 *
 * Owns: the tool's exit code is the command's, except 1 for a crash, and
 * a failed write of its output (a full disk, a closed pipe) makes a
 * success exit 2.
 *
 * Threads: the tool's main thread, and the one thread a command runs on.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "recovery/cli.h"

/* A command's run on its own thread. */
typedef struct job {
	const mn__cli_command *c;
	int argc;
	char **argv;
	int rc;
} job;

static void *job_main(void *arg)
{
	job *j = arg;
	j->rc = j->c->fn(j->argc, j->argv, stdout, stderr);
	return NULL;
}

/*
 * Run a command on a thread of its own: the store keeps a per-thread
 * decoding arena that is freed when its thread exits, which the main
 * thread never does, so a command run on it would leave a block that
 * valgrind reports as still reachable. If the thread cannot start, run
 * here.
 */
static int run(const mn__cli_command *c, int argc, char **argv)
{
	job j = {.c = c, .argc = argc, .argv = argv};
	pthread_t t;
	if (pthread_create(&t, NULL, job_main, &j) != 0)
		return c->fn(argc, argv, stdout, stderr);
	pthread_join(t, NULL);
	return j.rc;
}

/* Run the command here; a failed write (a full disk, a closed pipe) is an
 * error too. */
static int run_here(const mn__cli_command *c, int argc, char **argv)
{
	int rc = run(c, argc, argv);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "mnemo %s: writing the output failed\n",
			c->name);
		if (rc == MN__CLI_OK)
			rc = MN__CLI_USAGE;
	}
	return rc;
}

/* The store among a command's arguments: the last one that is a directory
 * holding data.mdb (STORE comes last in every synopsis, but options may
 * follow it). */
static const char *store_arg(int argc, char **argv)
{
	char data[4096];
	struct stat st;
	for (int i = argc - 1; i > 0; i--) {
		if (snprintf(data, sizeof data, "%s/data.mdb", argv[i]) <
			(int)sizeof data &&
		    stat(data, &st) == 0)
			return argv[i];
	}
	return NULL;
}

/* The value of --plugin/-p among a command's arguments. */
static const char *plugin_arg(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if ((strcmp(a, "--plugin") == 0 || strcmp(a, "-p") == 0) &&
		    i + 1 < argc)
			return argv[i + 1];
		if (strncmp(a, "--plugin=", 9) == 0)
			return a + 9;
	}
	return NULL;
}

/* Signals that mean the reader crashed (rather than was stopped). */
static bool crash_signal(int sig)
{
	return sig == SIGSEGV || sig == SIGBUS || sig == SIGABRT ||
	       sig == SIGILL || sig == SIGFPE || sig == SIGSYS ||
	       sig == SIGTRAP;
}

/* The one line for a child that crashed with sig. */
static void report_crash(const mn__cli_command *c, int argc, char **argv,
			 int sig)
{
	const char *store = store_arg(argc, argv);
	const char *what =
	    sig == SIGBUS ? "a damaged page points past the end of the data "
			    "file (or the disk could not read it)"
			  : "the data file's page structure is corrupt (LMDB "
			    "does not checksum its pages)";
	if (c->reads == MN__CLI_READS_PLUGIN) {
		const char *plugin = plugin_arg(argc, argv);
		fprintf(stderr,
			"mnemo %s: the replay crashed (signal %d, %s): either "
			"the plugin %s has a bug or store %s is damaged; if "
			"`mnemo verify %s` passes, it is the plugin\n",
			c->name, sig, strsignal(sig), plugin ? plugin : "?",
			store ? store : "?", store ? store : "STORE");
		return;
	}
	fprintf(stderr,
		"mnemo %s: store %s is damaged: reading it crashed the reader "
		"(signal %d, %s): %s; restore it from a backup (what the "
		"damage does not reach may still be read with `mnemo dump`)\n",
		c->name, store ? store : "?", sig, strsignal(sig), what);
}

/*
 * Run the command in a child process and wait for it. The child's output
 * goes straight to our stdout and stderr, and its exit code is ours. A
 * child killed by a crash signal (damaged pages made LMDB, or our code
 * reading what LMDB returned, fault) becomes one line on stderr and exit
 * 1; a child stopped by another signal (SIGPIPE, SIGINT, SIGTERM) stops us
 * with the same signal. If fork fails, runs the command here.
 */
static int run_isolated(const mn__cli_command *c, int argc, char **argv)
{
	fflush(stdout);
	fflush(stderr);
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0)
		return run_here(c, argc, argv);
	if (pid == 0) {
		/* Do not outlive the parent (a timeout that kills it). */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(MN__CLI_USAGE);
		/* Every finished line out at once: what was found before a
		 * crash is not lost in the buffer. */
		setvbuf(stdout, NULL, _IOLBF, 0);
		exit(run_here(c, argc, argv));
	}
	int st;
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR) {
			fprintf(stderr,
				"mnemo %s: waiting for the reader: %s\n",
				c->name, strerror(errno));
			return MN__CLI_USAGE;
		}
	}
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	int sig = WTERMSIG(st);
	if (crash_signal(sig)) {
		report_crash(c, argc, argv, sig);
		return MN__CLI_FAIL;
	}
	signal(sig, SIG_DFL);
	raise(sig);
	return 128 + sig;
}

/* MNEMO_NO_FORK set (and not "0"): run store commands in this process (a
 * debugger or valgrind then sees the command itself). */
static bool no_fork(void)
{
	const char *v = getenv("MNEMO_NO_FORK");
	return v && *v && strcmp(v, "0") != 0;
}

int mn__cli_run(const mn__cli_command *c, int argc, char **argv)
{
	if (c->reads != MN__CLI_READS_NOTHING && !no_fork())
		return run_isolated(c, argc, argv);
	return run_here(c, argc, argv);
}
