/*
 * cmd_rm.c - `mnemo rm KIND/KEY STORE`: delete an actor (storage/store.h,
 * "deleting an actor"): its name, journal entries, snapshots, timers, the
 * outbox and quarantine messages to it and the quarantine messages from
 * it. Opens the store for writing (mn__cli_open_rw: refused beside a live
 * runtime); any deletion a crash left unfinished is finished first.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "include/mnemo.h"
#include "recovery/cli.h"

static const char rm_synopsis[] = "mnemo rm [--json] KIND/KEY STORE";

static const char rm_help[] =
    "NAME\n"
    "    mnemo rm - delete an actor\n"
    "\n"
    "SYNOPSIS\n"
    "    mnemo rm [--json] KIND/KEY STORE\n"
    "\n"
    "DESCRIPTION\n"
    "    Deletes the actor KIND/KEY: its name, its journal entries, its\n"
    "    snapshots and timers, the outbox and quarantine messages to it\n"
    "    and the quarantine messages from it. Its outbox messages to\n"
    "    other actors stay, recorded as from outside. Afterwards the\n"
    "    address is unknown: a later message creates a fresh actor (unless\n"
    "    the kind is explicit).\n"
    "\n"
    "    An actor with a fork (mnemo fork) is refused: the fork shares its\n"
    "    history; delete the forks first. A fork's deletion removes its\n"
    "    own entries; its parent's stay.\n"
    "\n"
    "    Crash-safe and incremental: the first transaction removes the\n"
    "    name and marks the actor deleted; the journal goes in\n"
    "    transactions of 4,096 entries. Killed on the way, the actor\n"
    "    stays unreachable, and the next `mnemo rm` or runtime open\n"
    "    finishes the deletion. LMDB reuses the freed pages; the data file\n"
    "    does not shrink and freed pages keep the old bytes until reused\n"
    "    (docs/semantics.md says what remains).\n"
    "\n"
    "    The store is opened for writing: refused while a runtime holds\n"
    "    it (a runtime deletes with mn_actor_delete()).\n"
    "\n"
    "OPTIONS\n"
    "    -j, --json  one \"deleted\" JSON line\n"
    "    -h, --help  this text\n"
    "\n"
    "EXIT STATUS\n"
    "    0 deleted; 1 no such actor or kind, the actor has forks, or the\n"
    "    store is damaged; 2 usage error, or the store cannot be opened\n"
    "    (or a runtime holds it).\n"
    "\n"
    "EXAMPLE\n"
    "    mnemo rm agent/alice ./data\n";

static const mn__cli_spec rm_spec = {.name = "rm",
				     .synopsis = rm_synopsis,
				     .help = rm_help,
				     .json = true,
				     .nargs = 2,
				     .args_wrong =
					 "KIND/KEY and STORE expected"};

int mn__cmd_rm(int argc, char **argv, FILE *out, FILE *err)
{
	mn__cli c;
	char **args;
	int rc;

	if ((rc = mn__cli_begin(&c, &rm_spec, NULL, argc, argv, out, err,
				&args)) != MN__CLI_GO)
		return rc;
	const char *addr = args[0];
	if ((rc = mn__cli_open_rw(&c)))
		return rc;

	size_t finished = 0;
	mn__cli_clear_detail();
	if ((rc = mn__store_delete_pending(c.store, &finished))) {
		rc = mn__cli_store_fail(&c, rc,
					"finishing an interrupted deletion");
		goto out;
	}
	if (finished)
		fprintf(err,
			"mnemo rm: finished %zu deletion%s a crash had "
			"interrupted\n",
			finished, finished == 1 ? "" : "s");

	uint32_t kind_id;
	unsigned char key[MN_KEY_MAX];
	size_t key_len, kind_end;
	mn__actor_meta m;
	rc = mn__cli_addr_parse(&c, addr, &kind_id, key, &key_len, &kind_end);
	if (rc == MN_ENOKIND) {
		fprintf(err, "mnemo rm: no kind %.*s in store %s\n",
			(int)kind_end, addr, c.path);
		rc = MN__CLI_FAIL;
		goto out;
	}
	if (rc) {
		rc = mn__cli_usage(&c, "bad address '%s'", addr);
		goto out;
	}
	mn__cli_clear_detail();
	rc = mn__store_actor_find(c.store, kind_id, key, key_len, &m);
	if (rc == MN_ENOACTOR) {
		fprintf(err, "mnemo rm: no actor %s in store %s\n", addr,
			c.path);
		rc = MN__CLI_FAIL;
		goto out;
	}
	if (rc) {
		rc = mn__cli_store_fail(&c, rc, "looking the actor up");
		goto out;
	}
	mn__delete_stats st = {0};
	mn__cli_clear_detail();
	rc = mn__store_delete(c.store, m.id, &st);
	if (rc) {
		char what[MN__CLI_ADDR_CAP + 16];
		snprintf(what, sizeof what, "deleting %s", addr);
		int code = mn__cli_store_fail(&c, rc, what);
		rc = rc == MN_EBUSY ? MN__CLI_FAIL : code;
		goto out;
	}
	if (c.json) {
		mn__jw w;
		mn__jw_begin(&w, out, "deleted");
		mn__jw_str(&w, "address", addr);
		mn__jw_u64(&w, "id", m.id);
		mn__jw_u64(&w, "entries", st.entries);
		mn__jw_u64(&w, "snapshots", st.snapshots);
		mn__jw_u64(&w, "timers", st.timers);
		mn__jw_u64(&w, "outbox", st.outbox);
		mn__jw_u64(&w, "quarantine", st.quarantine);
		mn__jw_end(&w);
	} else {
		fprintf(out,
			"deleted %s (id %llu): %llu journal entries, %llu "
			"snapshots, %llu timers, %llu outbox and %llu "
			"quarantine messages\n",
			addr, (unsigned long long)m.id,
			(unsigned long long)st.entries,
			(unsigned long long)st.snapshots,
			(unsigned long long)st.timers,
			(unsigned long long)st.outbox,
			(unsigned long long)st.quarantine);
	}
	rc = MN__CLI_OK;
out:
	mn__cli_close(&c);
	return rc;
}
