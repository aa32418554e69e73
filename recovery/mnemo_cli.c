/*
 * mnemo_cli.c - the mnemo command-line tool.
 *
 * One binary, subcommands: `mnemo <command> [options]`. Today it knows the
 * commands that need no store: `version` and `errors` (the table of MN_E*
 * codes, to decode a number seen in a log). The store commands of
 * design.md section 5 (stats, ls, dump, replay, verify, ...) arrive with the
 * durable store. Exit codes: 0 success, 2 usage error.
 */
#include <stdio.h>
#include <string.h>

#include "include/mnemo.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: mnemo <command> [options]\n"
		   "\n"
		   "commands:\n"
		   "  version          print the library version\n"
		   "  errors [--json]  list the MN_E* error codes\n"
		   "  help             this text\n"
		   "\n"
		   "exit codes: 0 success, 2 usage error\n");
}

static int cmd_errors(int argc, char **argv)
{
	int json = 0;

	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = 1;
		} else {
			fprintf(stderr, "mnemo errors: unknown option '%s'\n",
				argv[i]);
			return 2;
		}
	}
#define MN__CLI_ERR(name, val, desc)                                           \
	if (json)                                                              \
		printf("{\"code\":%d,\"name\":\"MN_%s\",\"text\":\"%s\"}\n",   \
		       val, #name, mn_strerror(val));                          \
	else                                                                   \
		printf("%4d  %-13s %s\n", val, mn_err_name(val),               \
		       mn_strerror(val));
	MN_ERRNO_MAP(MN__CLI_ERR)
#undef MN__CLI_ERR
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
		printf("mnemo %s\n", mn_version());
		return 0;
	}
	if (strcmp(cmd, "errors") == 0)
		return cmd_errors(argc, argv);
	if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 ||
	    strcmp(cmd, "-h") == 0) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "mnemo: unknown command '%s'\n", cmd);
	usage(stderr);
	return 2;
}
