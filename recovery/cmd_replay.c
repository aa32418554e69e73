/*
 * cmd_replay.c - `mnemo replay ADDRESS --plugin LIB.so`: re-run an actor's
 * recorded history with a kind's code loaded from a shared object, print
 * the state after each message through the kind's describe(), and report
 * the first message after which the replayed state differs from the
 * recorded history (new code checked against it): by the state hash the
 * runtime recorded with each message when the kind has hash(), and by the
 * bytes of each stored snapshot.
 *
 * The engine (mn__rp_*) is recovery/replay.c, shared with `mnemo diff`
 * (cmd_diff.c). The store is opened read-only (replay and diff write
 * nothing; fork, compact, import, rm and quarantine --release/--drop are
 * the tool's writing commands).
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "include/mnemo.h"
#include "recovery/replay.h"

/* ---- mnemo replay -------------------------------------------------------- */

static const char synopsis[] =
    "mnemo replay ADDRESS --plugin LIB.so [--to SEQ | --at TIME] "
    "[--from-start] [--on-divergence stop|stub] [--json] STORE";

static const char help[] =
    "NAME\n"
    "    mnemo replay - re-run an actor's history with a kind's code\n"
    "\n"
    "SYNOPSIS\n"
    "    mnemo replay ADDRESS --plugin LIB.so [--to SEQ | --at TIME]\n"
    "                 [--from-start] [--on-divergence stop|stub] [--json]\n"
    "                 STORE\n"
    "\n"
    "DESCRIPTION\n"
    "    Loads LIB.so, calls its entry symbol mnemo_plugin_kinds\n"
    "    (MN_PLUGIN_SYMBOL in mnemo.h) for its kinds, and replays the actor\n"
    "    at ADDRESS with the kind of its name: from the actor's latest\n"
    "    snapshot at or before the target (restore()), or with\n"
    "    --from-start from init(), then each recorded message through\n"
    "    handle(), printing after each one its seq, LSN, time, type and\n"
    "    sender and the state as the kind's describe() writes it.\n"
    "    Handlers run in replay mode (mn_ctx_replaying() is true): their\n"
    "    sends, replies and timers do nothing. Nothing is written.\n"
    "\n"
    "    The replayed state is checked against the recorded history:\n"
    "    when the kind has hash() and the runtime recorded a state hash\n"
    "    with each message, the hash after every message; and each stored\n"
    "    snapshot inside the replayed range, byte for byte, against the\n"
    "    kind's snapshot() after the same message. The first difference\n"
    "    is reported as 'diverges at seq S' with the replayed state\n"
    "    described (and the stored one, at a snapshot; a hash alone\n"
    "    cannot be described), and the replay stops there. With\n"
    "    --from-start every message is checked from init(): the way to\n"
    "    test changed code against recorded histories.\n"
    "\n"
    "    Outbound calls are not made: mn_ctx_call_http and\n"
    "    mn_ctx_call_begin return the recorded call id, and the recorded\n"
    "    replies come as the journaled messages they are; mn_ctx_time\n"
    "    and mn_ctx_random give the recorded time and the same numbers.\n"
    "    Each request the code makes is compared with the one recorded\n"
    "    at the same index of the message (by its canonical request\n"
    "    hash: method, URL, headers, body). A different request, a call\n"
    "    that was not recorded, or a recorded call the code no longer\n"
    "    makes is a call divergence: 'diverges at seq S: call I ...',\n"
    "    the old and new request and the first differing bytes. By\n"
    "    default the replay stops there; with --on-divergence stub it\n"
    "    reports each one and goes on feeding the recorded replies.\n"
    "\n"
    "OPTIONS\n"
    "    -p, --plugin LIB.so  the shared object with the kinds' code\n"
    "                         (a path: give ./x.so for one here)\n"
    "    -t, --to SEQ         stop after message SEQ (default: the last)\n"
    "    -a, --at TIME        stop after the last message handled at or\n"
    "                         before TIME: ISO 8601 (2026-11-25T07:57:00Z,\n"
    "                         UTC unless a zone is given) or unix ms\n"
    "    -s, --from-start     start from init(), not from a snapshot\n"
    "    -o, --on-divergence stop|stub\n"
    "                         at a call divergence: stop (the default),\n"
    "                         or report it and go on (stub)\n"
    "    -j, --json           JSON lines: \"replay\", \"start\", one\n"
    "                         \"state\" per message, \"divergence\"\n"
    "                         (\"by\": \"hash\", \"snapshot\" or \"call\"),\n"
    "                         \"summary\"\n"
    "    -h, --help           this text\n"
    "\n"
    "EXIT STATUS\n"
    "    0 replayed, every state hash, stored snapshot and recorded\n"
    "    call compared matched; 1 divergence (also a call divergence\n"
    "    stubbed), an actor that cannot be brought back\n"
    "    (init or restore failed), no such actor or kind in the store, a\n"
    "    damaged record, or a crash of the reader (the plugin's code or\n"
    "    a damaged store; docs/tool.md); 2 usage error, a plugin that\n"
    "    cannot be loaded or lacks the entry symbol or the kind, or the\n"
    "    store cannot be opened.\n"
    "\n"
    "EXAMPLE\n"
    "    mnemo replay agent/alice --plugin ./agents.so ./data\n"
    "    mnemo replay agent/alice --plugin ./new.so --from-start ./data\n"
    "    mnemo replay agent/alice --plugin ./agents.so --to 40 --json "
    "./data\n";

typedef struct rpout {
	mn__rp *r;
	mn_buf desc;
} rpout;

static int print_state(void *arg, mn__rp *r, const mn__entry *e, int hrc)
{
	rpout *o = arg;
	mn__cli *c = r->c;
	char t[MN__CLI_TIME_CAP], fl[64];
	o->desc.len = 0;
	if (mn__rp_describe(r, r->state, &o->desc))
		return MN_ENOMEM;
	if (c->json) {
		mn__jw w;
		mn__jw_begin(&w, c->out, e ? "state" : "start");
		mn__jw_u64(&w, "seq", r->seq);
		if (e) {
			mn__jw_u64(&w, "lsn", e->lsn);
			mn__jw_time(&w, "time", e->unix_ms);
			mn__jw_u64(&w, "unix_ms", e->unix_ms);
			mn__jw_u64(&w, "type", e->type);
			mn__jw_u64(&w, "sender_id", e->sender_id);
			mn__jw_str(&w, "sender", r->sender);
			mn__jw_u64(&w, "flags", e->flags);
			mn__jw_i64(&w, "handle_rc", hrc);
		} else {
			mn__jw_str(&w, "from",
				   r->from_snapshot ? "snapshot" : "init");
		}
		mn__jw_bytes(&w, "state", o->desc.data, o->desc.len);
		mn__jw_end(&w);
		return 0;
	}
	if (!e) {
		if (r->from_snapshot)
			fprintf(c->out,
				"seq %llu  restored from the snapshot\n",
				(unsigned long long)r->seq);
		else
			fputs("seq 0  init\n", c->out);
	} else {
		mn__cli_time(t, e->unix_ms);
		mn__cli_flags(fl, e->flags);
		fprintf(c->out,
			"seq %llu  lsn %llu  %s  type %u  from %s  flags %s",
			(unsigned long long)e->seq, (unsigned long long)e->lsn,
			t, e->type, r->sender, fl);
		if (hrc)
			fprintf(c->out, "  handle: %s", mn_err_name(hrc));
		fputc('\n', c->out);
	}
	mn__cli_lines(c->out, "    ", o->desc.data, o->desc.len);
	return 0;
}

/* The options, for on_option. */
typedef struct ropts {
	const char *plugin;
	uint64_t to, at;
	bool have_to, have_at, from_start, stub;
} ropts;

static int on_option(mn__cli *c, int ch, const char *arg, void *u)
{
	ropts *o = u;
	switch (ch) {
	case 'p':
		o->plugin = arg;
		break;
	case 't':
		if (mn__cli_parse_u64(arg, &o->to))
			return mn__cli_usage(
			    c, "--to wants a sequence number, not '%s'", arg);
		o->have_to = true;
		break;
	case 'a':
		if (mn__cli_parse_time(arg, &o->at))
			return mn__cli_usage(c,
					     "--at wants ISO 8601 "
					     "(2026-11-25T07:57:00.804Z) or "
					     "unix ms, not '%s'",
					     arg);
		o->have_at = true;
		break;
	case 's':
		o->from_start = true;
		break;
	case 'o':
		if (strcmp(arg, "stop") != 0 && strcmp(arg, "stub") != 0)
			return mn__cli_usage(
			    c, "--on-divergence wants stop or stub, not '%s'",
			    arg);
		o->stub = strcmp(arg, "stub") == 0;
		break;
	}
	return 0;
}

static const mn__cli_spec spec = {
    .name = "replay",
    .synopsis = synopsis,
    .help = help,
    .shortopts = "p:t:a:so:",
    .opts =
	(const struct option[]){{"plugin", required_argument, NULL, 'p'},
				{"to", required_argument, NULL, 't'},
				{"at", required_argument, NULL, 'a'},
				{"from-start", no_argument, NULL, 's'},
				{"on-divergence", required_argument, NULL, 'o'},
				{NULL, 0, NULL, 0}},
    .json = true,
    .nargs = 2,
    .args_wrong = "ADDRESS and STORE expected",
    .option = on_option};

int mn__cmd_replay(int argc, char **argv, FILE *out, FILE *err)
{
	mn__cli c;
	mn__rp r;
	rpout o;
	ropts op = {0};
	char **args;
	int rc;

	if ((rc = mn__cli_begin(&c, &spec, &op, argc, argv, out, err, &args)) !=
	    MN__CLI_GO)
		return rc;
	const char *plugin = op.plugin;
	uint64_t to = op.to, at = op.at;
	bool have_to = op.have_to, have_at = op.have_at;
	bool from_start = op.from_start;
	if (!plugin)
		return mn__cli_usage(&c, "--plugin LIB.so is required");
	if (have_to && have_at)
		return mn__cli_usage(&c, "--to and --at exclude each other");
	if ((rc = mn__rp_open(&r, &c, plugin, args[0])))
		goto out;

	uint64_t target = r.meta.last_seq;
	if (have_to) {
		if (to > r.meta.last_seq) {
			rc = mn__cli_usage(&c,
					   "--to %llu is past the last message "
					   "of %s (seq %llu)",
					   (unsigned long long)to, r.addr,
					   (unsigned long long)r.meta.last_seq);
			goto out;
		}
		target = to;
	} else if (have_at && (rc = mn__rp_seq_at(&r, at, &target))) {
		goto out;
	}

	if (c.json) {
		mn__jw w;
		mn__jw_begin(&w, out, "replay");
		mn__jw_str(&w, "address", r.addr);
		mn__jw_str(&w, "store", c.path);
		mn__jw_str(&w, "plugin", plugin);
		mn__jw_str(&w, "kind", r.kind_name);
		mn__jw_u64(&w, "last_seq", r.meta.last_seq);
		mn__jw_u64(&w, "to_seq", target);
		mn__jw_bool(&w, "from_start", from_start);
		mn__jw_end(&w);
	} else {
		fprintf(
		    out, "replay %s to seq %llu (last %llu), kind %s from %s\n",
		    r.addr, (unsigned long long)target,
		    (unsigned long long)r.meta.last_seq, r.kind_name, plugin);
	}
	o.r = &r;
	r.stub_calls = op.stub;
	mn__buf_init(&o.desc);
	r.cb = print_state;
	r.cb_arg = &o;
	rc = mn__rp_run(&r, target, from_start);
	mn__buf_free(&o.desc);
	/* Stubbed call divergences let the run finish: it still diverged. */
	bool stubbed = rc == MN__CLI_OK && r.call_divergences;
	if (c.json) {
		mn__jw w;
		mn__jw_begin(&w, out, "summary");
		mn__jw_u64(&w, "start_seq", r.start_seq);
		mn__jw_str(&w, "start", r.from_snapshot ? "snapshot" : "init");
		mn__jw_u64(&w, "replayed", r.replayed);
		mn__jw_u64(&w, "last_seq", r.seq);
		mn__jw_u64(&w, "snapshots_compared", r.compared);
		mn__jw_u64(&w, "hashes_compared", r.hashed);
		mn__jw_bool(&w, "diverged", r.diverged);
		if (r.diverged)
			mn__jw_u64(&w, "diverged_seq", r.diverged_seq);
		else
			mn__jw_null(&w, "diverged_seq");
		mn__jw_bool(&w, "ok", rc == MN__CLI_OK && !stubbed);
		mn__jw_u64(&w, "calls_compared", r.calls_compared);
		mn__jw_u64(&w, "call_divergences", r.call_divergences);
		mn__jw_str(&w, "on_divergence", r.stub_calls ? "stub" : "stop");
		mn__jw_end(&w);
	} else if (rc == MN__CLI_OK) {
		char calls[96] = "";
		if (r.calls_compared || r.call_divergences)
			snprintf(calls, sizeof calls, ", %llu recorded call%s",
				 (unsigned long long)r.calls_compared,
				 r.calls_compared == 1 ? "" : "s");
		fprintf(
		    out,
		    "replayed %llu message%s (seq %llu..%llu) from %s; "
		    "%llu stored snapshot%s%s and %llu state hash%s compared: ",
		    (unsigned long long)r.replayed, r.replayed == 1 ? "" : "s",
		    (unsigned long long)r.start_seq + (r.replayed ? 1 : 0),
		    (unsigned long long)r.seq,
		    r.from_snapshot ? "the snapshot" : "init",
		    (unsigned long long)r.compared, r.compared == 1 ? "" : "s",
		    calls, (unsigned long long)r.hashed,
		    r.hashed == 1 ? "" : "es");
		if (stubbed)
			fprintf(out,
				"%llu call divergence%s stubbed (first at seq "
				"%llu)\n",
				(unsigned long long)r.call_divergences,
				r.call_divergences == 1 ? "" : "s",
				(unsigned long long)r.diverged_seq);
		else
			fprintf(out, "%s\n",
				r.compared || r.hashed || r.calls_compared
				    ? "all match"
				    : "nothing to compare");
	}
	if (stubbed)
		rc = MN__CLI_FAIL;
out:
	mn__rp_close(&r);
	return rc;
}
