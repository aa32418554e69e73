/*
 * test_cli_args.c - the store commands' shared prologue (mn__cli_begin,
 * recovery/cli_args.c): --help prints the command's manual and ends the
 * command with 0; --json sets the flag only for commands that take it;
 * the command's own options reach its callback in order, with their
 * values, and the first error stops the parse; a bad option, a missing
 * value or a wrong count of positional arguments is a usage error (exit
 * 2) naming the command and showing its synopsis; on success the
 * positional arguments come back and STORE is the last.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recovery/cli.h"
#include "tests/support/support.h"

typedef struct seen {
	char log[128]; /* "k=v;x;" per option, in order */
	int fail_on;   /* an option char whose callback fails, or 0 */
} seen;

static int on_option(mn__cli *c, int ch, const char *arg, void *u)
{
	seen *s = u;
	size_t n = strlen(s->log);
	snprintf(s->log + n, sizeof s->log - n, "%c=%s;", ch, arg ? arg : "");
	if (ch == s->fail_on)
		return mn__cli_usage(c, "bad -%c", ch);
	return 0;
}

static const mn__cli_spec spec = {
    .name = "probe",
    .synopsis = "mnemo probe [-k V] [-x] A STORE",
    .help = "PROBE MANUAL\n",
    .shortopts = "k:x",
    .opts = (const struct option[]){{"key", required_argument, NULL, 'k'},
				    {"extra", no_argument, NULL, 'x'},
				    {NULL, 0, NULL, 0}},
    .json = true,
    .nargs = 2,
    .args_wrong = "A and STORE expected",
    .option = on_option};

/* One run: argv from a space-separated line; out and err captured. */
typedef struct run {
	mn__cli c;
	seen s;
	char *argv[16]; /* args points into it */
	char **args;
	int rc;
	char out[512], err[512];
} run;

static void begin(run *r, const mn__cli_spec *sp, char *line)
{
	char **argv = r->argv;
	int argc = 0;
	for (char *t = strtok(line, " "); t && argc < 15; t = strtok(NULL, " "))
		argv[argc++] = t;
	argv[argc] = NULL;
	FILE *o = fmemopen(r->out, sizeof r->out, "w");
	FILE *e = fmemopen(r->err, sizeof r->err, "w");
	assert_non_null(o);
	assert_non_null(e);
	r->rc = mn__cli_begin(&r->c, sp, &r->s, argc, argv, o, e, &r->args);
	fclose(o);
	fclose(e);
}

static void test_help_and_json(void **state)
{
	(void)state;
	run r = {0};
	char l1[] = "probe --help";
	begin(&r, &spec, l1);
	assert_int_equal(r.rc, MN__CLI_OK);
	assert_string_equal(r.out, "PROBE MANUAL\n");
	assert_string_equal(r.err, "");

	run q = {0};
	char l2[] = "probe -j a ./s";
	begin(&q, &spec, l2);
	assert_int_equal(q.rc, MN__CLI_GO);
	assert_true(q.c.json);
	assert_string_equal(q.args[0], "a");
	assert_string_equal(q.c.path, "./s");

	/* A command without --json refuses it. */
	mn__cli_spec nojson = spec;
	nojson.json = false;
	run n = {0};
	char l3[] = "probe --json a ./s";
	begin(&n, &nojson, l3);
	assert_int_equal(n.rc, MN__CLI_USAGE);
	assert_non_null(strstr(n.err, "mnemo probe: unknown, ambiguous or "
				      "misused option '--json'"));
}

static void test_options_in_order(void **state)
{
	(void)state;
	run r = {0};
	char l[] = "probe -x a --key=v1 -k v2 ./s";
	begin(&r, &spec, l);
	assert_int_equal(r.rc, MN__CLI_GO);
	assert_string_equal(r.s.log, "x=;k=v1;k=v2;");
	assert_string_equal(r.args[0], "a");
	assert_string_equal(r.args[1], "./s");
	assert_string_equal(r.c.path, "./s");
	assert_false(r.c.json);

	/* The first error stops the parse: --help after it is not reached. */
	run f = {0};
	f.s.fail_on = 'x';
	char l2[] = "probe -k v -x --help a ./s";
	begin(&f, &spec, l2);
	assert_int_equal(f.rc, MN__CLI_USAGE);
	assert_string_equal(f.s.log, "k=v;x=;");
	assert_string_equal(f.out, "");
	assert_non_null(strstr(f.err,
			       "mnemo probe: bad -x\n"
			       "usage: mnemo probe [-k V] [-x] A STORE\n"));
}

static void test_usage_errors(void **state)
{
	(void)state;
	struct {
		const char *line, *want;
	} cases[] = {
	    {"probe -q a ./s", "mnemo probe: unknown option '-q'"},
	    {"probe a ./s -k", "mnemo probe: option '-k' needs a value"},
	    {"probe a", "mnemo probe: A and STORE expected"},
	    {"probe a b ./s", "mnemo probe: A and STORE expected"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		run r = {0};
		char l[64];
		snprintf(l, sizeof l, "%s", cases[i].line);
		begin(&r, &spec, l);
		assert_int_equal(r.rc, MN__CLI_USAGE);
		assert_non_null(strstr(r.err, cases[i].want));
		assert_non_null(strstr(r.err, "Run 'mnemo probe --help' for "
					      "more.\n"));
	}
	/* One positional argument without args_wrong: the STORE wording. */
	mn__cli_spec one = spec;
	one.nargs = 1;
	one.args_wrong = NULL;
	run m = {0};
	char l1[] = "probe";
	begin(&m, &one, l1);
	assert_non_null(strstr(m.err, "mnemo probe: missing STORE\n"));
	run t = {0};
	char l2[] = "probe a b";
	begin(&t, &one, l2);
	assert_non_null(strstr(t.err, "mnemo probe: one STORE expected\n"));
}

int main(void)
{
	mt_init("recovery/cli_args");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_help_and_json, mt_setup),
	    cmocka_unit_test_setup(test_options_in_order, mt_setup),
	    cmocka_unit_test_setup(test_usage_errors, mt_setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
