/*
 * mnemo_cli.c - the mnemo command-line tool: `mnemo <command> [options]`.
 *
 * main() only dispatches. The store commands (stats, ls, dump, verify,
 * replay, diff, export, import) live in recovery/cmd_*.c as library code that prints to
 * the streams it is given and returns the exit code; this file holds the
 * commands that need no store (help, version, errors). docs/tool.md documents every command.
 *
 * A store command runs in a child process (run_isolated): LMDB does not
 * checksum its B-tree pages, so damage there can crash whatever reads the
 * store, and the parent turns such a crash into one line and exit 1.
 *
 * Exit codes: 0 success; 1 damaged store (verify, or a corrupt record met
 * while reading, or reading it crashed) or the actor/kind asked for is not
 * there; 2 usage error, or the store cannot be opened.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "include/mnemo.h"
#include "recovery/cli.h"

typedef int (*command_fn)(int argc, char **argv, FILE *out, FILE *err);

static int cmd_errors(int argc, char **argv, FILE *out, FILE *err);
static int cmd_version(int argc, char **argv, FILE *out, FILE *err);

/* What a command reads: nothing, a store, or a store and a plugin's code
 * (what a crash of the child is blamed on). */
enum reads { READS_NOTHING, READS_STORE, READS_PLUGIN };

static const struct command {
	const char *name;
	command_fn fn;
	const char *summary;
	enum reads reads;
} commands[] = {
    {"stats", mn__cmd_stats, "counts, sizes, compression, actors by kind",
     READS_STORE},
    {"ls", mn__cmd_ls, "list actors (by kind, at most N)", READS_STORE},
    {"dump", mn__cmd_dump,
     "an actor: metadata, snapshot, journal, outbox, timers", READS_STORE},
    {"verify", mn__cmd_verify, "check every record; exit 1 if damaged",
     READS_STORE},
    {"replay", mn__cmd_replay,
     "re-run an actor's history with a plugin's code", READS_PLUGIN},
    {"diff", mn__cmd_diff, "an actor's state at two points, and the change",
     READS_PLUGIN},
    {"fork", mn__cmd_fork, "branch an actor at a seq (shared history)",
     READS_STORE},
    {"compact", mn__cmd_compact, "drop history older than snapshots",
     READS_STORE},
    {"quarantine", mn__cmd_quarantine,
     "list, release or drop messages forks sent", READS_STORE},
    {"rm", mn__cmd_rm, "delete an actor (writes)", READS_STORE},
    {"export", mn__cmd_export, "an actor or the whole store as a stream",
     READS_STORE},
    {"import", mn__cmd_import, "load an export stream into a store (writes)",
     READS_STORE},
    {"errors", cmd_errors, "list the MN_E* error codes", READS_NOTHING},
    {"version", cmd_version, "print the library version", READS_NOTHING},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f)
{
	fprintf(f, "usage: mnemo <command> [options] [STORE]\n"
		   "\n"
		   "Inspect a mnemo store. The reading commands open it "
		   "read-only: safe\nwhile a runtime writes it. fork, compact, "
		   "import, rm and quarantine\n--release/--drop write: they refuse "
		   "while a runtime holds the store.\n"
		   "\n"
		   "commands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-11s%s\n", commands[i].name, commands[i].summary);
	fprintf(f, "  %-11s%s\n", "help",
		"this text; `mnemo help COMMAND` for a command's manual");
	fprintf(f, "\n"
		   "`mnemo COMMAND --help` describes a command; --json gives "
		   "JSON lines.\n"
		   "exit codes: 0 success; 1 damaged store, or actor or kind "
		   "not found;\n"
		   "2 usage error, or the store cannot be opened\n");
}

static const struct command *find(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static int cmd_version(int argc, char **argv, FILE *out, FILE *err)
{
	if (argc > 1 && strcmp(argv[1], "--help") != 0 &&
	    strcmp(argv[1], "-h") != 0) {
		fprintf(err,
			"mnemo version: unexpected argument '%s'\n"
			"usage: mnemo version\n",
			argv[1]);
		return MN__CLI_USAGE;
	}
	if (argc > 1) {
		fputs("usage: mnemo version\n"
		      "Print the library version (major.minor.patch).\n",
		      out);
		return MN__CLI_OK;
	}
	fprintf(out, "mnemo %s (store format %d)\n", mn_version(),
		MN__FORMAT_VERSION);
	return MN__CLI_OK;
}

static int cmd_errors(int argc, char **argv, FILE *out, FILE *err)
{
	static const int codes[] = {
#define MN__CLI_CODE(name, val, desc) MN_##name,
	    MN_ERRNO_MAP(MN__CLI_CODE)
#undef MN__CLI_CODE
	};
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	static const char synopsis[] = "mnemo errors [--json]";
	mn__cli c;
	bool json = false;
	int ch;

	mn__cli_init(&c, "errors", synopsis, out, err);
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":jh", opts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			json = true;
			break;
		case 'h':
			fputs("usage: mnemo errors [--json]\n"
			      "List the MN_E* error codes: value, name, "
			      "description\n"
			      "(to decode a number seen in a log).\n",
			      out);
			return MN__CLI_OK;
		default:
			return mn__cli_bad_option(&c, ch, argv);
		}
	}
	if (optind < argc)
		return mn__cli_usage(&c, "unexpected argument '%s'",
				     argv[optind]);
	for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
		int code = codes[i];
		if (json) {
			mn__jw w;
			mn__jw_begin(&w, out, "error");
			mn__jw_i64(&w, "code", code);
			mn__jw_str(&w, "name", mn_err_name(code));
			mn__jw_str(&w, "text", mn_strerror(code));
			mn__jw_end(&w);
		} else {
			fprintf(out, "%4d  %-13s %s\n", code, mn_err_name(code),
				mn_strerror(code));
		}
	}
	return MN__CLI_OK;
}

/* A command's run on its own thread. */
typedef struct job {
	const struct command *c;
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
static int run(const struct command *c, int argc, char **argv)
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
static int run_here(const struct command *c, int argc, char **argv)
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
static void report_crash(const struct command *c, int argc, char **argv,
			 int sig)
{
	const char *store = store_arg(argc, argv);
	const char *what =
	    sig == SIGBUS ? "a damaged page points past the end of the data "
			    "file (or the disk could not read it)"
			  : "the data file's page structure is corrupt (LMDB "
			    "does not checksum its pages)";
	if (c->reads == READS_PLUGIN) {
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
static int run_isolated(const struct command *c, int argc, char **argv)
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
			fprintf(stderr, "mnemo %s: waiting for the reader: %s\n",
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

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return MN__CLI_USAGE;
	}
	const char *name = argv[1];
	if (strcmp(name, "--version") == 0)
		name = "version";
	if (strcmp(name, "help") == 0 || strcmp(name, "--help") == 0 ||
	    strcmp(name, "-h") == 0) {
		if (argc > 2) {
			/* `mnemo help dump` is `mnemo dump --help`. */
			const struct command *c = find(argv[2]);
			if (!c) {
				fprintf(stderr,
					"mnemo help: unknown command "
					"'%s'\n",
					argv[2]);
				usage(stderr);
				return MN__CLI_USAGE;
			}
			char *hargv[] = {(char *)c->name, "--help", NULL};
			return c->fn(2, hargv, stdout, stderr);
		}
		usage(stdout);
		return MN__CLI_OK;
	}
	const struct command *c = find(name);
	if (!c) {
		fprintf(stderr, "mnemo: unknown command '%s'\n", name);
		usage(stderr);
		return MN__CLI_USAGE;
	}
	if (c->reads != READS_NOTHING && !no_fork())
		return run_isolated(c, argc - 1, argv + 1);
	return run_here(c, argc - 1, argv + 1);
}
