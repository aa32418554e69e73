/*
 * cmd_maint.c - the commands that write a store: `mnemo fork` (a branch of
 * an actor at a sequence number, sharing its history), `mnemo compact`
 * (drop history older than snapshots) and `mnemo quarantine` (the
 * messages forks sent to other actors: list, release, drop).
 *
 * Each opens the store for writing (mn__cli_open_rw): the store's writer
 * lock is taken, so a live runtime makes them refuse, and open-time
 * recovery runs first. Each change is one or more LMDB transactions: a
 * kill at any point leaves a consistent store (storage/store.h).
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "include/mnemo.h"
#include "recovery/cli.h"

/* ---- fork ------------------------------------------------------------------
 */

static const char fork_synopsis[] =
    "mnemo fork [--json] KIND/KEY@SEQ NEW_KEY STORE";

static const char fork_help[] =
    "NAME\n"
    "    mnemo fork - branch an actor at a sequence number\n"
    "\n"
    "SYNOPSIS\n"
    "    mnemo fork [--json] KIND/KEY@SEQ NEW_KEY STORE\n"
    "\n"
    "DESCRIPTION\n"
    "    Creates the actor KIND/NEW_KEY whose history is the first SEQ\n"
    "    messages of KIND/KEY: a place to try a different continuation\n"
    "    from any point. Nothing is copied: the fork's history points\n"
    "    into its parent's journal and snapshots (copy-on-write), so a\n"
    "    fork costs one metadata record however long the history is.\n"
    "    When a runtime next sends to KIND/NEW_KEY it is rehydrated at\n"
    "    SEQ and goes on with its own messages; the parent is untouched.\n"
    "\n"
    "    A fork is quarantined: its messages to any actor but itself are\n"
    "    held in the store's quarantine, not delivered (`mnemo\n"
    "    quarantine` lists, releases or drops them), so an experiment\n"
    "    cannot act on production agents by accident.\n"
    "\n"
    "    SEQ is from the parent's compaction point (or 1) to its last\n"
    "    message. NEW_KEY is written like keys in addresses (text, or 0x\n"
    "    and hex digits). The store is opened for writing: refused while\n"
    "    a runtime holds it.\n"
    "\n"
    "OPTIONS\n"
    "    -j, --json  one \"actor\" JSON line for the new actor\n"
    "    -h, --help  this text\n"
    "\n"
    "EXIT STATUS\n"
    "    0 forked; 1 no such actor or kind, the new address exists, SEQ\n"
    "    out of range or compacted, or the store is damaged; 2 usage\n"
    "    error, or the store cannot be opened (or a runtime holds it).\n"
    "\n"
    "EXAMPLE\n"
    "    mnemo fork agent/alice@120 alice-try2 ./data\n";

static const mn__cli_spec fork_spec = {
    .name = "fork",
    .synopsis = fork_synopsis,
    .help = fork_help,
    .json = true,
    .nargs = 3,
    .args_wrong = "KIND/KEY@SEQ, NEW_KEY and STORE expected"};

int mn__cmd_fork(int argc, char **argv, FILE *out, FILE *err)
{
	mn__cli c;
	char **args;
	int rc;

	if ((rc = mn__cli_begin(&c, &fork_spec, NULL, argc, argv, out, err,
				&args)) != MN__CLI_GO)
		return rc;
	const char *at = args[0], *newkey = args[1];
	const char *sep = strrchr(at, '@');
	char addr[MN__CLI_ADDR_CAP];
	uint64_t seq;
	if (!sep || (size_t)(sep - at) >= sizeof addr ||
	    mn__cli_parse_u64(sep + 1, &seq) || seq == 0)
		return mn__cli_usage(
		    &c, "'%s' is not KIND/KEY@SEQ (SEQ from 1)", at);
	memcpy(addr, at, (size_t)(sep - at));
	addr[sep - at] = 0;
	unsigned char nk[MN_KEY_MAX];
	size_t nk_len;
	if (mn__cli_key_parse(newkey, nk, &nk_len))
		return mn__cli_usage(
		    &c,
		    "bad NEW_KEY '%s' (1 to %d bytes: text, or "
		    "0x and hex digits)",
		    newkey, MN_KEY_MAX);
	if ((rc = mn__cli_open_rw(&c)))
		return rc;

	uint32_t kind_id;
	unsigned char key[MN_KEY_MAX];
	size_t key_len, kind_end;
	mn__actor_meta parent, f;
	rc = mn__cli_addr_parse(&c, addr, &kind_id, key, &key_len, &kind_end);
	if (rc == MN_ENOKIND) {
		fprintf(err, "mnemo fork: no kind %.*s in store %s\n",
			(int)kind_end, addr, c.path);
		rc = MN__CLI_FAIL;
		goto out;
	}
	if (rc) {
		rc = mn__cli_usage(&c, "bad address '%s'", addr);
		goto out;
	}
	mn__cli_clear_detail();
	rc = mn__store_actor_find(c.store, kind_id, key, key_len, &parent);
	if (rc == MN_ENOACTOR) {
		fprintf(err, "mnemo fork: no actor %s in store %s\n", addr,
			c.path);
		rc = MN__CLI_FAIL;
		goto out;
	}
	if (rc) {
		rc = mn__cli_store_fail(&c, rc, "looking the actor up");
		goto out;
	}
	mn__cli_clear_detail();
	rc = mn__store_fork(c.store, parent.id, seq, nk, nk_len, &f);
	if (rc) {
		char what[MN__CLI_ADDR_CAP + 32];
		snprintf(what, sizeof what, "forking %s at seq %llu", addr,
			 (unsigned long long)seq);
		int code = mn__cli_store_fail(&c, rc, what);
		rc = rc == MN_EEXIST || rc == MN_EINVAL || rc == MN_ECOMPACTED
			 ? MN__CLI_FAIL
			 : code;
		goto out;
	}
	if (c.json) {
		mn__cli_actor_json(&c, &f);
	} else {
		char naddr[MN__CLI_ADDR_CAP];
		mn__cli_addr_format(&c, naddr, f.kind_id, f.key, f.key_len);
		fprintf(
		    out,
		    "forked %s at seq %llu: %s (id %llu); its sends to other "
		    "actors are quarantined\n",
		    addr, (unsigned long long)seq, naddr,
		    (unsigned long long)f.id);
	}
	rc = MN__CLI_OK;
out:
	mn__cli_close(&c);
	return rc;
}

/* ---- compact ---------------------------------------------------------------
 */

static const char compact_synopsis[] =
    "mnemo compact [--keep-history N] [--json] STORE";

static const char compact_help[] =
    "NAME\n"
    "    mnemo compact - drop history older than snapshots\n"
    "\n"
    "SYNOPSIS\n"
    "    mnemo compact [--keep-history N] [--json] STORE\n"
    "\n"
    "DESCRIPTION\n"
    "    For every actor, drops the journal entries and snapshots older\n"
    "    than its base: the latest snapshot that leaves at least N newer\n"
    "    journal entries (N = 0: the latest snapshot). The base snapshot\n"
    "    stays; rehydration, dump and replay start there, and asking for\n"
    "    an earlier point says MN_ECOMPACTED. History that a fork still\n"
    "    shares is kept (reported as held). Actors without a snapshot are\n"
    "    left whole.\n"
    "\n"
    "    Crash-safe: the work is done in transactions of 256 actors, each\n"
    "    leaving a consistent store, so killing it at any point loses\n"
    "    nothing but the compaction of the step in progress; run it again\n"
    "    to finish. LMDB reuses the freed pages for new records; the data\n"
    "    file does not shrink.\n"
    "\n"
    "    The store is opened for writing: refused while a runtime holds\n"
    "    it (a runtime compacts itself with mn_runtime_compact()).\n"
    "\n"
    "OPTIONS\n"
    "    -k, --keep-history N  newest journal entries to keep per actor\n"
    "                          (default 0)\n"
    "    -j, --json            one \"compaction\" JSON line\n"
    "    -h, --help            this text\n"
    "\n"
    "EXIT STATUS\n"
    "    0 compacted; 1 the store is damaged; 2 usage error, or the store\n"
    "    cannot be opened (or a runtime holds it).\n"
    "\n"
    "EXAMPLE\n"
    "    mnemo compact --keep-history 100 ./data\n";

static int compact_option(mn__cli *c, int ch, const char *arg, void *keep)
{
	(void)ch; /* 'k' */
	if (mn__cli_parse_u64(arg, keep))
		return mn__cli_usage(c,
				     "--keep-history wants a number >= 0, not "
				     "'%s'",
				     arg);
	return 0;
}

static const mn__cli_spec compact_spec = {
    .name = "compact",
    .synopsis = compact_synopsis,
    .help = compact_help,
    .shortopts = "k:",
    .opts =
	(const struct option[]){{"keep-history", required_argument, NULL, 'k'},
				{NULL, 0, NULL, 0}},
    .json = true,
    .nargs = 1,
    .option = compact_option};

int mn__cmd_compact(int argc, char **argv, FILE *out, FILE *err)
{
	mn__cli c;
	uint64_t keep = 0;
	char **args;
	int rc;

	if ((rc = mn__cli_begin(&c, &compact_spec, &keep, argc, argv, out, err,
				&args)) != MN__CLI_GO)
		return rc;
	if ((rc = mn__cli_open_rw(&c)))
		return rc;

	mn__store_stats before, after;
	mn__compaction *cp = NULL;
	mn__compact_stats cs;
	bool done = false;
	unsigned steps = 0;
	mn__cli_clear_detail();
	if ((rc = mn__store_stats_get(c.store, &before)) ||
	    (rc = mn__store_compact_begin(c.store, keep, &cp))) {
		rc = mn__cli_store_fail(&c, rc, "starting");
		goto out;
	}
	while (!done) {
		if ((rc = mn__store_compact_step(c.store, cp, 256, &done))) {
			rc = mn__cli_store_fail(&c, rc, "compacting");
			goto out;
		}
		steps++;
	}
	mn__store_compact_stats(cp, &cs);
	if ((rc = mn__store_stats_get(c.store, &after))) {
		rc = mn__cli_store_fail(&c, rc, "reading counts");
		goto out;
	}
	if (c.json) {
		mn__jw w;
		mn__jw_begin(&w, out, "compaction");
		mn__jw_str(&w, "path", c.path);
		mn__jw_u64(&w, "keep_history", keep);
		mn__jw_u64(&w, "actors", cs.actors);
		mn__jw_u64(&w, "compacted", cs.compacted);
		mn__jw_u64(&w, "entries_dropped", cs.entries);
		mn__jw_u64(&w, "snapshots_dropped", cs.snapshots);
		mn__jw_u64(&w, "bytes_dropped", cs.bytes);
		mn__jw_u64(&w, "held_by_forks", cs.held);
		mn__jw_u64(&w, "steps", steps);
		mn__jw_u64(&w, "entries_before", before.log_entries);
		mn__jw_u64(&w, "entries_after", after.log_entries);
		mn__jw_u64(&w, "log_bytes_before", before.log_bytes);
		mn__jw_u64(&w, "log_bytes_after", after.log_bytes);
		mn__jw_end(&w);
	} else {
		char b1[32], b2[32], b3[32];
		mn__cli_size(b1, cs.bytes);
		mn__cli_size(b2, before.log_bytes);
		mn__cli_size(b3, after.log_bytes);
		fprintf(
		    out,
		    "compact %s (keep %llu): %llu of %llu actors compacted, "
		    "%llu journal entries and %llu snapshots dropped (%s); "
		    "%llu actors held by forks\n"
		    "journal: %llu -> %llu entries, log pages %s -> %s "
		    "(freed pages are reused; the file does not shrink)\n",
		    c.path, (unsigned long long)keep,
		    (unsigned long long)cs.compacted,
		    (unsigned long long)cs.actors,
		    (unsigned long long)cs.entries,
		    (unsigned long long)cs.snapshots, b1,
		    (unsigned long long)cs.held,
		    (unsigned long long)before.log_entries,
		    (unsigned long long)after.log_entries, b2, b3);
	}
	rc = MN__CLI_OK;
out:
	mn__store_compact_end(cp);
	mn__cli_close(&c);
	return rc;
}

/* ---- quarantine ------------------------------------------------------------
 */

static const char q_synopsis[] =
    "mnemo quarantine [--release ID|all | --drop ID|all] [--json] STORE";

static const char q_help[] =
    "NAME\n"
    "    mnemo quarantine - messages forks sent to other actors\n"
    "\n"
    "SYNOPSIS\n"
    "    mnemo quarantine [--json] STORE\n"
    "    mnemo quarantine --release ID|all [--json] STORE\n"
    "    mnemo quarantine --drop ID|all [--json] STORE\n"
    "\n"
    "DESCRIPTION\n"
    "    A fork (mnemo fork) runs like any actor, but its messages to\n"
    "    other actors are held here instead of being delivered. Without\n"
    "    an option, lists them (read-only, safe beside a live runtime):\n"
    "    id, time, sending fork, target, type, payload. --release moves\n"
    "    one (or all) to the outbox: the next runtime to open the store\n"
    "    delivers it, exactly once, like any stored message. --drop\n"
    "    deletes it. Both write: refused while a runtime holds the store.\n"
    "\n"
    "OPTIONS\n"
    "    -r, --release ID|all  deliver at the next open\n"
    "    -d, --drop ID|all     delete\n"
    "    -j, --json            JSON lines: \"quarantined\" records, or one\n"
    "                          \"released\"/\"dropped\" record with the count\n"
    "    -h, --help            this text\n"
    "\n"
    "EXIT STATUS\n"
    "    0 success; 1 no quarantined message ID, or the store is damaged;\n"
    "    2 usage error, or the store cannot be opened (or a runtime holds\n"
    "    it, for --release and --drop).\n"
    "\n"
    "EXAMPLE\n"
    "    mnemo quarantine ./data\n"
    "    mnemo quarantine --release 4711 ./data\n";

static int q_print(void *arg, const mn__entry *e)
{
	mn__cli *c = arg;
	char from[MN__CLI_ADDR_CAP], to[MN__CLI_ADDR_CAP], t[MN__CLI_TIME_CAP];
	mn__cli_actor_name(c, from, e->sender_id);
	mn__cli_addr_format(c, to, e->kind_id, e->key, e->key_len);
	if (c->json) {
		mn__jw w;
		mn__jw_begin(&w, c->out, "quarantined");
		mn__jw_u64(&w, "id", e->lsn);
		mn__jw_time(&w, "time", e->unix_ms);
		mn__jw_u64(&w, "sender_id", e->sender_id);
		mn__jw_str(&w, "sender", from);
		mn__jw_str(&w, "target", to);
		mn__jw_u64(&w, "type", e->type);
		mn__jw_u64(&w, "len", e->len);
		mn__jw_hex(&w, "payload_hex", e->payload, e->len);
		if (mn__cli_is_text(e->payload, e->len))
			mn__jw_bytes(&w, "payload_text", e->payload, e->len);
		else
			mn__jw_null(&w, "payload_text");
		mn__jw_end(&w);
		return 0;
	}
	mn__cli_time(t, e->unix_ms);
	fprintf(c->out, "%-8llu %s  %s -> %s  type %u  %zu B\n",
		(unsigned long long)e->lsn, t, from, to, e->type, e->len);
	if (e->len)
		mn__cli_hexdump(c->out, "    ", e->payload, e->len,
				MN__CLI_PAYLOAD_SHOWN);
	return 0;
}

/* The options, for q_option. */
typedef struct qopts {
	const char *which; /* --release or --drop's value */
	bool release;
} qopts;

static int q_option(mn__cli *c, int ch, const char *arg, void *u)
{
	qopts *o = u;
	if (o->which)
		return mn__cli_usage(c, "one --release or --drop at a time");
	o->which = arg;
	o->release = ch == 'r';
	return 0;
}

static const mn__cli_spec q_spec = {
    .name = "quarantine",
    .synopsis = q_synopsis,
    .help = q_help,
    .shortopts = "r:d:",
    .opts = (const struct option[]){{"release", required_argument, NULL, 'r'},
				    {"drop", required_argument, NULL, 'd'},
				    {NULL, 0, NULL, 0}},
    .json = true,
    .nargs = 1,
    .option = q_option};

int mn__cmd_quarantine(int argc, char **argv, FILE *out, FILE *err)
{
	mn__cli c;
	qopts o = {NULL, false};
	char **args;
	int rc;

	if ((rc = mn__cli_begin(&c, &q_spec, &o, argc, argv, out, err,
				&args)) != MN__CLI_GO)
		return rc;
	const char *which = o.which;
	bool release = o.release;
	uint64_t id = 0;
	if (which && strcmp(which, "all") != 0 &&
	    (mn__cli_parse_u64(which, &id) || id == 0))
		return mn__cli_usage(&c, "'%s' is not a message id or 'all'",
				     which);
	if ((rc = which ? mn__cli_open_rw(&c) : mn__cli_open(&c)))
		return rc;

	mn__cli_clear_detail();
	if (!which) {
		rc = mn__store_quarantine_scan(c.store, c.codec, q_print, &c);
		rc = rc ? mn__cli_store_fail(&c, rc, "reading the quarantine")
			: MN__CLI_OK;
		goto out;
	}
	uint64_t n = 0;
	rc = mn__store_quarantine_take(c.store, id, release, &n);
	if (rc == MN_ENOACTOR) {
		fprintf(err,
			"mnemo quarantine: no quarantined message %llu in "
			"store %s\n",
			(unsigned long long)id, c.path);
		rc = MN__CLI_FAIL;
		goto out;
	}
	if (rc) {
		rc = mn__cli_store_fail(&c, rc,
					release ? "releasing" : "dropping");
		goto out;
	}
	if (c.json) {
		mn__jw w;
		mn__jw_begin(&w, out, release ? "released" : "dropped");
		mn__jw_u64(&w, "count", n);
		mn__jw_end(&w);
	} else {
		fprintf(out, "%s %llu message%s%s\n",
			release ? "released" : "dropped", (unsigned long long)n,
			n == 1 ? "" : "s",
			release ? " to the outbox (delivered when a runtime "
				  "next opens the store)"
				: "");
	}
	rc = MN__CLI_OK;
out:
	mn__cli_close(&c);
	return rc;
}
