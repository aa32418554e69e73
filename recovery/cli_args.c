/*
 * cli_args.c - the prologue every store command of the tool shares
 * (mn__cli_begin): the option loop (getopt_long, with the command's own
 * options handed to its callback), -j/--json, -h/--help, the count of
 * positional arguments and the STORE argument (the last one). The open
 * that follows stays with each command (read-only, writable, or the
 * replay engine's), because some check more arguments first; the child
 * process it runs in is recovery/cli_run.c's.
 *
 * Owns: options are handled in the order given, the first error wins
 * (a --help after a bad option is not reached), and a usage error always
 * names the command and shows its synopsis (mn__cli_usage).
 *
 * Threads: one command at a time per process (getopt_long's optind and
 * optarg are process globals, reset here before parsing).
 */
#include <getopt.h>
#include <string.h>

#include "recovery/cli.h"

/* Room for a command's long options plus --json, --help and the end (the
 * most a command has is 13: serve). */
#define OPTS_MAX 24

int mn__cli_begin(mn__cli *c, const mn__cli_spec *s, void *arg, int argc,
		  char **argv, FILE *out, FILE *err, char ***args)
{
	struct option opts[OPTS_MAX];
	char shortopts[64];
	size_t n = 0;
	int ch, rc;

	mn__cli_init(c, s->name, s->synopsis, out, err);
	for (const struct option *o = s->opts; o && o->name; o++)
		if (n < OPTS_MAX - 3)
			opts[n++] = *o;
	if (s->json)
		opts[n++] = (struct option){"json", no_argument, NULL, 'j'};
	opts[n++] = (struct option){"help", no_argument, NULL, 'h'};
	opts[n] = (struct option){NULL, 0, NULL, 0};
	snprintf(shortopts, sizeof shortopts, ":%s%sh",
		 s->shortopts ? s->shortopts : "", s->json ? "j" : "");

	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, shortopts, opts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			c->json = true;
			break;
		case 'h':
			fputs(s->help, out);
			return MN__CLI_OK;
		case '?':
		case ':':
			return mn__cli_bad_option(c, ch, argv);
		default:
			if (!s->option)
				return mn__cli_bad_option(c, '?', argv);
			if ((rc = s->option(c, ch, optarg, arg)))
				return rc;
		}
	}
	if (s->args_optional && argc == optind) {
		*args = argv + optind;
		c->path = NULL;
		return MN__CLI_GO;
	}
	if (argc - optind != s->nargs) {
		if (s->args_wrong)
			return mn__cli_usage(c, "%s", s->args_wrong);
		return mn__cli_usage(c, argc == optind ? "missing STORE"
						       : "one STORE expected");
	}
	*args = argv + optind;
	c->path = argv[argc - 1];
	return MN__CLI_GO;
}
