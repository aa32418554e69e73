/*
 * mnemo_cli.c - the mnemo command-line tool: `mnemo <command> [options]`.
 *
 * main() only dispatches, through the table of commands. The store
 * commands (stats, ls, dump, verify, replay, diff, fork, compact,
 * quarantine, rm, export, import) live in recovery/cmd_*.c as library code
 * (libmnemo-tools.a) that prints to the streams it is given and returns
 * the exit code; mn__cli_run (recovery/cli_run.c) runs one, in a child
 * process for those that read a store. This file holds the commands that
 * need no store (help, version, errors). docs/tool.md documents every
 * command.
 *
 * Exit codes: 0 success; 1 damaged store (verify, or a corrupt record met
 * while reading, or reading it crashed) or the actor/kind asked for is not
 * there; 2 usage error, or the store cannot be opened.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "include/mnemo.h"
#include "recovery/cli.h"

static int cmd_errors(int argc, char **argv, FILE *out, FILE *err);
static int cmd_version(int argc, char **argv, FILE *out, FILE *err);

static const mn__cli_command commands[] = {
    {"stats", mn__cmd_stats, "counts, sizes, compression, actors by kind",
     MN__CLI_READS_STORE},
    {"ls", mn__cmd_ls, "list actors (by kind, at most N)", MN__CLI_READS_STORE},
    {"dump", mn__cmd_dump,
     "an actor: metadata, snapshot, journal, outbox, timers, calls",
     MN__CLI_READS_STORE},
    {"verify", mn__cmd_verify, "check every record; exit 1 if damaged",
     MN__CLI_READS_STORE},
    {"replay", mn__cmd_replay, "re-run an actor's history with a plugin's code",
     MN__CLI_READS_PLUGIN},
    {"check", mn__cmd_check,
     "replay real histories with new code: identical, diverged, failed",
     MN__CLI_READS_PLUGIN},
    {"diff", mn__cmd_diff, "an actor's state at two points, and the change",
     MN__CLI_READS_PLUGIN},
    {"fork", mn__cmd_fork, "branch an actor at a seq (shared history)",
     MN__CLI_READS_STORE},
    {"compact", mn__cmd_compact, "drop history older than snapshots",
     MN__CLI_READS_STORE},
    {"quarantine", mn__cmd_quarantine,
     "list, release or drop messages forks sent", MN__CLI_READS_STORE},
    {"rm", mn__cmd_rm, "delete an actor (writes)", MN__CLI_READS_STORE},
    {"export", mn__cmd_export, "an actor or the whole store as a stream",
     MN__CLI_READS_STORE},
    {"import", mn__cmd_import, "load an export stream into a store (writes)",
     MN__CLI_READS_STORE},
    {"serve", mn__cmd_serve,
     "host a plugin's kinds over a store behind HTTP (writes)",
     MN__CLI_READS_NOTHING},
    {"cluster", mn__cmd_cluster,
     "status of a cluster on NATS: members, owners, epochs, leader",
     MN__CLI_READS_NOTHING},
    {"errors", cmd_errors, "list the MN_E* error codes", MN__CLI_READS_NOTHING},
    {"version", cmd_version, "print the library version",
     MN__CLI_READS_NOTHING},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f)
{
	fprintf(
	    f, "usage: mnemo <command> [options] [STORE]\n"
	       "\n"
	       "Inspect a mnemo store. The reading commands open it "
	       "read-only: safe\nwhile a runtime writes it. fork, compact, "
	       "import, rm and quarantine\n--release/--drop write: they refuse "
	       "while a runtime holds the store.\n"
	       "\n"
	       "commands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-11s%s\n", commands[i].name,
			commands[i].summary);
	fprintf(f, "  %-11s%s\n", "help",
		"this text; `mnemo help COMMAND` for a command's manual");
	fprintf(f, "\n"
		   "`mnemo COMMAND --help` describes a command; --json gives "
		   "JSON lines.\n"
		   "exit codes: 0 success; 1 damaged store, or actor or kind "
		   "not found;\n"
		   "2 usage error, or the store cannot be opened\n");
}

static const mn__cli_command *find(const char *name)
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
			const mn__cli_command *c = find(argv[2]);
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
	const mn__cli_command *c = find(name);
	if (!c) {
		fprintf(stderr, "mnemo: unknown command '%s'\n", name);
		usage(stderr);
		return MN__CLI_USAGE;
	}
	return mn__cli_run(c, argc - 1, argv + 1);
}
