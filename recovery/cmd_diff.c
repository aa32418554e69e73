/*
 * cmd_diff.c - `mnemo diff ADDRESS SEQ1..SEQ2 --plugin LIB.so`: an actor's
 * state at two points of its history, replayed with a kind's code (the
 * engine of cmd_replay.c), described by the kind's describe(), and the
 * difference of the two texts line by line.
 *
 * Each point is replayed on its own, from the latest snapshot at or before
 * it. The line difference is a longest-common-subsequence diff: lines only
 * in the first text are printed with "-", only in the second with "+", in
 * order; texts over MN__DIFF_MAX_CELLS (lines x lines) fall back to every
 * line of the first as "-" and of the second as "+".
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "include/mnemo.h"
#include "recovery/replay.h"

#define MN__DIFF_MAX_CELLS (16u * 1024 * 1024)

static const char synopsis[] =
    "mnemo diff ADDRESS SEQ1..SEQ2 --plugin LIB.so [--json] STORE";

static const char help[] =
    "NAME\n"
    "    mnemo diff - what changed in an actor's state between two points\n"
    "\n"
    "SYNOPSIS\n"
    "    mnemo diff ADDRESS SEQ1..SEQ2 --plugin LIB.so [--json] STORE\n"
    "\n"
    "DESCRIPTION\n"
    "    Replays the actor at ADDRESS with the kind's code from LIB.so (as\n"
    "    `mnemo replay` does: from the latest snapshot at or before each\n"
    "    point, handlers in replay mode) to message SEQ1 and to message\n"
    "    SEQ2 (0 means the state init() makes), prints both states through\n"
    "    the kind's describe(), then their difference line by line: lines\n"
    "    only in the state at SEQ1 start with '-', lines only in the state\n"
    "    at SEQ2 with '+'.\n"
    "\n"
    "OPTIONS\n"
    "    -p, --plugin LIB.so  the shared object with the kinds' code\n"
    "    -j, --json           JSON lines: two \"state\" records, one\n"
    "                         \"change\" per line (op \"-\" or \"+\"), a\n"
    "                         \"summary\"\n"
    "    -h, --help           this text\n"
    "\n"
    "EXIT STATUS\n"
    "    0 success (with or without differences); 1 a replay diverged from\n"
    "    the recorded history (a state hash or a stored snapshot), the\n"
    "    actor cannot be brought back, no such actor or kind, a damaged\n"
    "    record, or a crash of the reader; 2 usage error, a plugin that\n"
    "    cannot be loaded or lacks the entry symbol or the kind, or the\n"
    "    store cannot be opened.\n"
    "\n"
    "EXAMPLE\n"
    "    mnemo diff agent/alice 10..20 --plugin ./agents.so ./data\n";

typedef struct line {
	const char *p;
	size_t n;
} line;

/* Split text into lines (a final newline does not make an empty line). */
static line *split(const mn_buf *b, size_t *count)
{
	size_t n = 0, cap = 8;
	line *v = malloc(cap * sizeof *v);
	const char *s = (const char *)b->data, *end = s + b->len;
	if (!v)
		return NULL;
	while (s && s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		size_t len = nl ? (size_t)(nl - s) : (size_t)(end - s);
		if (n == cap) {
			line *t = realloc(v, 2 * cap * sizeof *v);
			if (!t) {
				free(v);
				return NULL;
			}
			v = t;
			cap *= 2;
		}
		v[n].p = s;
		v[n].n = len;
		n++;
		s += len + (nl ? 1 : 0);
	}
	*count = n;
	return v;
}

static bool same(const line *a, const line *b)
{
	return a->n == b->n && memcmp(a->p, b->p, a->n) == 0;
}

static void change(mn__cli *c, char op, const line *l, uint64_t *nchanges)
{
	(*nchanges)++;
	if (c->json) {
		mn__jw w;
		char ops[2] = {op, 0};
		mn__jw_begin(&w, c->out, "change");
		mn__jw_str(&w, "op", ops);
		mn__jw_bytes(&w, "text", l->p, l->n);
		mn__jw_end(&w);
	} else {
		fprintf(c->out, "%c%.*s\n", op, (int)l->n, l->p);
	}
}

/* Print the line difference of a and b; *nchanges counts the lines. */
static int line_diff(mn__cli *c, const mn_buf *a, const mn_buf *b,
		     uint64_t *nchanges)
{
	size_t na = 0, nb = 0;
	line *la = split(a, &na), *lb = split(b, &nb);
	uint32_t *t = NULL;
	int rc = 0;
	if (!la || !lb) {
		rc = MN_ENOMEM;
		goto out;
	}
	/* Common prefix and suffix first: states usually differ little. */
	size_t pre = 0, suf = 0;
	while (pre < na && pre < nb && same(&la[pre], &lb[pre]))
		pre++;
	while (suf < na - pre && suf < nb - pre &&
	       same(&la[na - 1 - suf], &lb[nb - 1 - suf]))
		suf++;
	size_t m = na - pre - suf, n = nb - pre - suf;
	line *x = la + pre, *y = lb + pre;
	if (m && n && (m + 1) * (n + 1) <= MN__DIFF_MAX_CELLS)
		t = calloc((m + 1) * (n + 1), sizeof *t);
	if (!t || !m || !n) {
		for (size_t i = 0; i < m; i++)
			change(c, '-', &x[i], nchanges);
		for (size_t j = 0; j < n; j++)
			change(c, '+', &y[j], nchanges);
		goto out;
	}
	/* t[i][j]: LCS length of x[i..] and y[j..]. */
#define T(i, j) t[(i) * (n + 1) + (j)]
	for (size_t i = m; i-- > 0;)
		for (size_t j = n; j-- > 0;)
			T(i, j) =
			    same(&x[i], &y[j])
				? T(i + 1, j + 1) + 1
				: (T(i + 1, j) >= T(i, j + 1) ? T(i + 1, j)
							      : T(i, j + 1));
	size_t i = 0, j = 0;
	while (i < m && j < n) {
		if (same(&x[i], &y[j])) {
			i++;
			j++;
		} else if (T(i + 1, j) >= T(i, j + 1)) {
			change(c, '-', &x[i++], nchanges);
		} else {
			change(c, '+', &y[j++], nchanges);
		}
	}
#undef T
	while (i < m)
		change(c, '-', &x[i++], nchanges);
	while (j < n)
		change(c, '+', &y[j++], nchanges);
out:
	free(t);
	free(la);
	free(lb);
	return rc;
}

static int parse_range(const char *s, uint64_t *a, uint64_t *b)
{
	const char *dots = strstr(s, "..");
	char first[32];
	if (!dots || (size_t)(dots - s) >= sizeof first)
		return -1;
	memcpy(first, s, (size_t)(dots - s));
	first[dots - s] = 0;
	return mn__cli_parse_u64(first, a) || mn__cli_parse_u64(dots + 2, b)
		   ? -1
		   : 0;
}

/* Replay to seq and describe the state into out. */
static int state_at(mn__rp *r, uint64_t seq, mn_buf *out)
{
	int rc = mn__rp_run(r, seq, false);
	if (rc)
		return rc;
	if (mn__rp_describe(r, r->state, out)) {
		fprintf(r->c->err, "mnemo diff: %s\n", mn_strerror(MN_ENOMEM));
		return MN__CLI_USAGE;
	}
	return MN__CLI_OK;
}

static void print_state(mn__rp *r, uint64_t seq, const mn_buf *d)
{
	mn__cli *c = r->c;
	if (c->json) {
		mn__jw w;
		mn__jw_begin(&w, c->out, "state");
		mn__jw_str(&w, "address", r->addr);
		mn__jw_u64(&w, "seq", seq);
		mn__jw_bytes(&w, "state", d->data, d->len);
		mn__jw_end(&w);
		return;
	}
	fprintf(c->out, "state at seq %llu:\n", (unsigned long long)seq);
	mn__cli_lines(c->out, "    ", d->data, d->len);
}

static int on_option(mn__cli *c, int ch, const char *arg, void *plugin)
{
	(void)c;
	(void)ch; /* 'p' */
	*(const char **)plugin = arg;
	return 0;
}

static const mn__cli_spec spec = {
    .name = "diff",
    .synopsis = synopsis,
    .help = help,
    .shortopts = "p:",
    .opts = (const struct option[]){{"plugin", required_argument, NULL, 'p'},
				    {NULL, 0, NULL, 0}},
    .json = true,
    .nargs = 3,
    .args_wrong = "ADDRESS, SEQ1..SEQ2 and STORE expected",
    .option = on_option};

int mn__cmd_diff(int argc, char **argv, FILE *out, FILE *err)
{
	mn__cli c;
	mn__rp r;
	mn_buf d1, d2;
	const char *plugin = NULL;
	uint64_t s1, s2, nchanges = 0;
	char **args;
	int rc;

	if ((rc = mn__cli_begin(&c, &spec, &plugin, argc, argv, out, err,
				&args)) != MN__CLI_GO)
		return rc;
	if (!plugin)
		return mn__cli_usage(&c, "--plugin LIB.so is required");
	if (parse_range(args[1], &s1, &s2))
		return mn__cli_usage(&c, "bad range '%s': SEQ1..SEQ2 expected",
				     args[1]);
	mn__buf_init(&d1);
	mn__buf_init(&d2);
	if ((rc = mn__rp_open(&r, &c, plugin, args[0])))
		goto out;
	uint64_t hi = s1 > s2 ? s1 : s2;
	if (hi > r.meta.last_seq) {
		rc = mn__cli_usage(&c,
				   "seq %llu is past the last message of %s "
				   "(seq %llu)",
				   (unsigned long long)hi, r.addr,
				   (unsigned long long)r.meta.last_seq);
		goto out;
	}
	if ((rc = state_at(&r, s1, &d1)) || (rc = state_at(&r, s2, &d2)))
		goto out;
	if (!c.json)
		fprintf(out, "diff %s seq %llu..%llu, kind %s from %s\n",
			r.addr, (unsigned long long)s1, (unsigned long long)s2,
			r.kind_name, plugin);
	print_state(&r, s1, &d1);
	print_state(&r, s2, &d2);
	if (!c.json)
		fputs("changes:\n", out);
	if (line_diff(&c, &d1, &d2, &nchanges)) {
		fprintf(err, "mnemo diff: %s\n", mn_strerror(MN_ENOMEM));
		rc = MN__CLI_USAGE;
		goto out;
	}
	if (c.json) {
		mn__jw w;
		mn__jw_begin(&w, out, "summary");
		mn__jw_u64(&w, "seq1", s1);
		mn__jw_u64(&w, "seq2", s2);
		mn__jw_u64(&w, "changed_lines", nchanges);
		mn__jw_bool(&w, "same", nchanges == 0);
		mn__jw_end(&w);
	} else if (!nchanges) {
		fputs("    (none: the two states describe the same)\n", out);
	}
	rc = MN__CLI_OK;
out:
	mn__buf_free(&d1);
	mn__buf_free(&d2);
	mn__rp_close(&r);
	return rc;
}
