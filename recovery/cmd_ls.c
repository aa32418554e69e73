/*
 * cmd_ls.c - `mnemo ls`: the actors of a store, in id order (creation
 * order), optionally of one kind and at most N of them. Each line ends with
 * the actor's address as `mnemo dump` takes it.
 */
#include <getopt.h>
#include <string.h>

#include "include/mnemo.h"
#include "recovery/cli.h"

static const char synopsis[] =
    "mnemo ls [--kind KIND] [--limit N] [--broken] [--json] STORE";

static const char help[] =
    "NAME\n"
    "    mnemo ls - list the actors of a store\n"
    "\n"
    "SYNOPSIS\n"
    "    mnemo ls [--kind KIND] [--limit N] [--broken] [--json] STORE\n"
    "\n"
    "DESCRIPTION\n"
    "    Opens STORE read-only (safe while a runtime writes it) and lists\n"
    "    its actors in id (creation) order: id, last sequence number, LSN\n"
    "    of the newest journal entry, snapshot sequence number, creation\n"
    "    and last activity times (ISO 8601, UTC), and the address\n"
    "    KIND/KEY. A key is shown as text when every byte is printable\n"
    "    ASCII, else as 0x and hex digits; either form is accepted by\n"
    "    `mnemo dump`.\n"
    "\n"
    "    With --broken, lists only the actors a runtime could not bring\n"
    "    back: their latest snapshot, or their journal after it, does not\n"
    "    decode or does not chain back to it (checked without running the\n"
    "    kind's code: a snapshot its restore() would refuse is not seen).\n"
    "    Each line: id, the code, the address and the reason.\n"
    "\n"
    "OPTIONS\n"
    "    -k, --kind KIND  only actors of kind KIND\n"
    "    -n, --limit N    at most N actors (N >= 1)\n"
    "    -b, --broken     only broken actors, with the reason\n"
    "    -j, --json       JSON lines: one \"actor\" record per actor\n"
    "    -h, --help       this text\n"
    "\n"
    "EXIT STATUS\n"
    "    0 success; 1 no kind KIND in the store, or a damaged record\n"
    "    (with --broken: a broken actor was found);\n"
    "    2 usage error, or the store cannot be opened.\n"
    "\n"
    "EXAMPLE\n"
    "    mnemo ls --kind agent --limit 20 ./data\n";

typedef struct lsstate {
	mn__cli *c;
	bool by_kind;
	uint32_t kind_id;
	uint64_t limit, shown;
	bool more;
	/* The store has snapshots: look each actor's latest up. */
	bool snaps;
	/* --broken: check each actor's history, list the broken ones. */
	bool broken;
	const char *kind; /* --kind */
	mn_buf scratch;
} lsstate;

/* --broken: one line (or JSON record) per actor whose history cannot be
 * read. */
static int on_broken(lsstate *s, const mn__actor_meta *m)
{
	mn__cli *c = s->c;
	char why[768], addr[MN__CLI_ADDR_CAP];
	int rc = mn__cli_actor_check(c, m, &s->scratch, why, sizeof why);
	if (rc == 0)
		return 0;
	if (s->limit && s->shown == s->limit) {
		s->more = true;
		return MN__CLI_STOP;
	}
	mn__cli_addr_format(c, addr, m->kind_id, m->key, m->key_len);
	if (c->json) {
		mn__jw w;
		mn__jw_begin(&w, c->out, "broken");
		mn__jw_u64(&w, "id", m->id);
		mn__jw_str(&w, "address", addr);
		mn__jw_str(&w, "error", mn_err_name(rc));
		mn__jw_str(&w, "reason", why);
		mn__jw_end(&w);
	} else {
		if (s->shown == 0)
			fprintf(c->out, "%8s  %-12s  %s: %s\n", "id", "error",
				"address", "reason");
		fprintf(c->out, "%8llu  %-12s  %s: %s\n",
			(unsigned long long)m->id, mn_err_name(rc), addr, why);
	}
	s->shown++;
	return 0;
}

/*
 * The actor's snapshot position. ActorMeta.snapshot_seq is not kept up to
 * date by the runtime; the snapshots database is, so ask it (one lookup
 * per actor listed, only when the store has snapshots). A snapshot that
 * cannot be read is verify's to report; here it counts as none.
 */
static uint64_t snapshot_seq(lsstate *s, const mn__actor_meta *m)
{
	uint64_t seq = 0, lsn;
	if (s->snaps &&
	    mn__store_snapshot_latest(s->c->store, s->c->codec, m->id,
				      UINT64_MAX, &s->scratch, &seq,
				      &lsn) == 0 &&
	    seq > m->snapshot_seq)
		return seq;
	return m->snapshot_seq;
}

static int on_actor(void *arg, const mn__actor_meta *meta)
{
	lsstate *s = arg;
	mn__cli *c = s->c;
	char created[MN__CLI_TIME_CAP], active[MN__CLI_TIME_CAP],
	    addr[MN__CLI_ADDR_CAP];

	if (s->by_kind && meta->kind_id != s->kind_id)
		return 0;
	if (s->broken)
		return on_broken(s, meta);
	if (s->limit && s->shown == s->limit) {
		s->more = true;
		return MN__CLI_STOP;
	}
	mn__actor_meta copy = *meta, *m = &copy;
	copy.snapshot_seq = snapshot_seq(s, meta);
	if (s->shown++ == 0 && !c->json)
		fprintf(c->out, "%8s %8s %10s %8s  %-24s  %-24s  %s\n", "id",
			"last_seq", "last_lsn", "snap_seq", "created",
			"last_active", "address");
	if (c->json) {
		mn__cli_actor_json(c, m);
		return 0;
	}
	mn__cli_time(created, m->created_unix_ms);
	mn__cli_time(active, m->last_active_unix_ms);
	mn__cli_addr_format(c, addr, m->kind_id, m->key, m->key_len);
	char lin[2 * MN__CLI_ADDR_CAP];
	mn__cli_lineage(c, lin, sizeof lin, m);
	fprintf(c->out, "%8llu %8llu %10llu %8llu  %-24s  %-24s  %s%s%s%s\n",
		(unsigned long long)m->id, (unsigned long long)m->last_seq,
		(unsigned long long)m->last_lsn,
		(unsigned long long)m->snapshot_seq, created, active, addr,
		*lin ? " (" : "", lin, *lin ? ")" : "");
	return 0;
}

static int on_option(mn__cli *c, int ch, const char *arg, void *u)
{
	lsstate *s = u;
	switch (ch) {
	case 'k':
		s->kind = arg;
		break;
	case 'n':
		if (mn__cli_parse_u64(arg, &s->limit) || !s->limit)
			return mn__cli_usage(c,
					     "--limit wants a number >= 1, not "
					     "'%s'",
					     arg);
		break;
	case 'b':
		s->broken = true;
		break;
	}
	return 0;
}

static const mn__cli_spec ls_spec = {
    .name = "ls",
    .synopsis = synopsis,
    .help = help,
    .shortopts = "k:n:b",
    .opts = (const struct option[]){{"kind", required_argument, NULL, 'k'},
				    {"limit", required_argument, NULL, 'n'},
				    {"broken", no_argument, NULL, 'b'},
				    {NULL, 0, NULL, 0}},
    .json = true,
    .nargs = 1,
    .option = on_option};

int mn__cmd_ls(int argc, char **argv, FILE *out, FILE *err)
{
	mn__cli c;
	lsstate s = {.c = &c};
	char **args;
	int rc;

	if ((rc = mn__cli_begin(&c, &ls_spec, &s, argc, argv, out, err,
				&args)) != MN__CLI_GO)
		return rc;
	mn__buf_init(&s.scratch);
	const char *kind = s.kind;
	if ((rc = mn__cli_open(&c)))
		return rc;

	if (kind) {
		s.by_kind = true;
		if (!*kind || strlen(kind) > MN_KIND_NAME_MAX ||
		    mn__store_kind_id(c.store, kind, &s.kind_id) != 0) {
			fprintf(err,
				"mnemo ls: no kind named '%s' in store %s\n",
				kind, c.path);
			rc = MN__CLI_FAIL;
			goto out_close;
		}
	}
	mn__store_stats st;
	mn__cli_clear_detail();
	if ((rc = mn__store_stats_get(c.store, &st))) {
		rc = mn__cli_store_fail(&c, rc, "reading the statistics");
		goto out_close;
	}
	s.snaps = st.snapshots > 0;
	rc = mn__store_actors_scan(c.store, on_actor, &s);
	if (rc && rc != MN__CLI_STOP) {
		rc = mn__cli_store_fail(&c, rc, "scanning actors");
		goto out_close;
	}
	if (s.broken) {
		if (!c.json)
			fprintf(out, "%llu broken actor%s%s\n",
				(unsigned long long)s.shown,
				s.shown == 1 ? "" : "s",
				s.more ? " shown; more exist (--limit)" : "");
		rc = s.shown ? MN__CLI_FAIL : MN__CLI_OK;
		goto out_close;
	}
	if (!c.json) {
		if (s.more)
			fprintf(out,
				"%llu actors shown; more exist (--limit)\n",
				(unsigned long long)s.shown);
		else
			fprintf(out, "%llu actor%s\n",
				(unsigned long long)s.shown,
				s.shown == 1 ? "" : "s");
	}
	rc = MN__CLI_OK;
out_close:
	mn__buf_free(&s.scratch);
	mn__cli_close(&c);
	return rc;
}
