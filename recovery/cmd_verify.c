/*
 * cmd_verify.c - `mnemo verify`: check every record of a store
 * (mn__store_verify: frames and checksums, decoding, each actor's history
 * chain, names and actors agreeing, outbox targets, dictionaries, payloads
 * decompressing, heads) and say whether it is healthy in the exit code.
 */
#include <getopt.h>
#include <string.h>

#include "include/mnemo.h"
#include "recovery/cli.h"

static const char synopsis[] = "mnemo verify [--json] STORE";

static const char help[] =
    "NAME\n"
    "    mnemo verify - check every record of a store\n"
    "\n"
    "SYNOPSIS\n"
    "    mnemo verify [--json] STORE\n"
    "\n"
    "DESCRIPTION\n"
    "    Opens STORE read-only (safe while a runtime writes it) and reads\n"
    "    every record of every database: frame, checksum, record type and\n"
    "    decoding; each journal entry's place in its actor's history (seq\n"
    "    one more than the previous entry, and a back-pointer to it);\n"
    "    names and actors agreeing; outbox messages naming known kinds and\n"
    "    senders; every dictionary a record names present and every\n"
    "    payload decompressing; each actor's head at its newest entry.\n"
    "    Prints each problem (database and key, then what is wrong), then\n"
    "    a summary. It changes nothing.\n"
    "\n"
    "OPTIONS\n"
    "    -j, --json  JSON lines: one \"problem\" record per problem, then a\n"
    "                \"summary\" record (records, problems, healthy)\n"
    "    -h, --help  this text\n"
    "\n"
    "EXIT STATUS\n"
    "    0 healthy; 1 damaged (problems were found); 2 usage error, or\n"
    "    the store cannot be opened (a corrupt record that opening must\n"
    "    read is reported this way, naming the record).\n"
    "\n"
    "EXAMPLE\n"
    "    mnemo verify ./data && echo healthy\n";

/* "store PATH: " starts the problems found by frame checks; the summary
 * names the store once, so drop it. */
static const char *strip_store(const mn__cli *c, const char *text)
{
	size_t n = strlen(c->path);
	if (strncmp(text, "store ", 6) == 0 &&
	    strncmp(text + 6, c->path, n) == 0 &&
	    strncmp(text + 6 + n, ": ", 2) == 0)
		return text + 6 + n + 2;
	return text;
}

static int on_problem(void *arg, const char *text)
{
	mn__cli *c = arg;
	text = strip_store(c, text);
	if (c->json) {
		mn__jw w;
		mn__jw_begin(&w, c->out, "problem");
		mn__jw_str(&w, "text", text);
		mn__jw_end(&w);
	} else {
		fprintf(c->out, "%s\n", text);
	}
	return 0;
}

static const mn__cli_spec spec = {.name = "verify",
				  .synopsis = synopsis,
				  .help = help,
				  .json = true,
				  .nargs = 1};

int mn__cmd_verify(int argc, char **argv, FILE *out, FILE *err)
{
	mn__cli c;
	uint64_t records = 0, problems = 0;
	char **args;
	int rc;

	if ((rc = mn__cli_begin(&c, &spec, NULL, argc, argv, out, err,
				&args)) != MN__CLI_GO)
		return rc;
	if ((rc = mn__cli_open(&c)))
		return rc;

	mn__cli_clear_detail();
	rc = mn__store_verify(c.store, c.codec, on_problem, &c, &records,
			      &problems);
	if (rc) {
		/* The walk itself stopped (not a problem it found). */
		fflush(out);
		rc = mn__cli_store_fail(&c, rc, "verifying");
		goto out_close;
	}
	if (c.json) {
		mn__jw w;
		mn__jw_begin(&w, out, "summary");
		mn__jw_str(&w, "path", c.path);
		mn__jw_u64(&w, "records", records);
		mn__jw_u64(&w, "problems", problems);
		mn__jw_bool(&w, "healthy", problems == 0);
		mn__jw_end(&w);
	} else {
		fprintf(out,
			"verify %s: %llu records checked, %llu problem%s: %s\n",
			c.path, (unsigned long long)records,
			(unsigned long long)problems, problems == 1 ? "" : "s",
			problems ? "DAMAGED" : "healthy");
	}
	rc = problems ? MN__CLI_FAIL : MN__CLI_OK;
out_close:
	mn__cli_close(&c);
	return rc;
}
