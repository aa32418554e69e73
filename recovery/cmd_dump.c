/*
 * cmd_dump.c - `mnemo dump ADDRESS`: one actor's metadata, its latest
 * snapshot, its journal in sequence order (following its history chain back
 * from its head, as rehydration does; with the outbound calls each entry
 * made and the reply envelope of each call reply), the messages waiting
 * for it in the outbox, its pending timers and its pending calls.
 *
 * Payloads and states are shown as bytes (hex and printable text); decoding
 * them with the protobuf descriptors a kind registers comes later
 * (docs/tool.md).
 */
#include <getopt.h>
#include <string.h>

#include "include/mnemo.h"
#include "recovery/cli.h"
#include "recovery/tokens.h"

static const char synopsis[] =
    "mnemo dump [--from SEQ] [--to SEQ] [--full] [--json] ADDRESS STORE";

static const char help[] =
    "NAME\n"
    "    mnemo dump - an actor's metadata, snapshot, journal, waiting\n"
    "    messages and timers\n"
    "\n"
    "SYNOPSIS\n"
    "    mnemo dump [--from SEQ] [--to SEQ] [--full] [--json] ADDRESS STORE\n"
    "\n"
    "DESCRIPTION\n"
    "    Opens STORE read-only (safe while a runtime writes it) and prints\n"
    "    the actor at ADDRESS: its metadata (id, kind, key, last sequence\n"
    "    number and LSN, snapshot, times), its latest snapshot (sequence\n"
    "    number, LSN, state bytes), its journal entries in sequence order\n"
    "    (seq, LSN, time, message type, sender, outbox id, flags, stored\n"
    "    bytes, payload; the outbound calls the message made: call id,\n"
    "    method, URL, headers, body bytes, request hash, credential name;\n"
    "    for a call reply, flag 'call', its envelope: call id, error or\n"
    "    status, body bytes, latency, attempts; for a chat completion,\n"
    "    its tokens), the messages addressed to it that wait in the\n"
    "    outbox, its pending timers, and its pending calls (made, reply\n"
    "    not yet journaled).\n"
    "\n"
    "    ADDRESS is KIND/KEY: the key as text (agent/alice), or 0x and\n"
    "    hex digits for any bytes (agent/0x0001feff), as `mnemo ls`\n"
    "    prints it. Payloads and states are shown like `hexdump -C`, the\n"
    "    first 64 bytes of each unless --full.\n"
    "\n"
    "OPTIONS\n"
    "    -f, --from SEQ  entries from sequence number SEQ (default 1)\n"
    "    -t, --to SEQ    entries up to SEQ (default: the newest)\n"
    "    -F, --full      whole payloads and states (text output)\n"
    "    -j, --json      JSON lines: an \"actor\" record, a \"snapshot\"\n"
    "                    record if there is one, one \"entry\" record per\n"
    "                    journal entry, one \"outbox\" record per waiting\n"
    "                    message, one \"timer\" record per pending timer,\n"
    "                    one \"call\" record per call an entry made\n"
    "                    (after that entry), one \"pending_call\" record\n"
    "                    per pending call;\n"
    "                    payloads whole, as hex (payload_hex) and, when\n"
    "                    they are UTF-8 text, as text (payload_text)\n"
    "    -h, --help      this text\n"
    "\n"
    "EXIT STATUS\n"
    "    0 success; 1 no such actor or kind, or a damaged record (the\n"
    "    message names it); 2 usage error, or the store cannot be opened.\n"
    "\n"
    "EXAMPLE\n"
    "    mnemo dump agent/alice ./data\n"
    "    mnemo dump --from 10 --to 20 --json agent/0x0001feff ./data\n";

typedef struct dstate {
	mn__cli *c;
	uint64_t to;
	bool full;
	uint64_t shown;
	/* The target, to pick its messages out of the outbox and its
	 * timers out of the timers. */
	uint64_t actor_id;
	uint32_t kind_id;
	const unsigned char *key;
	size_t key_len;
	/* Its latest snapshot. */
	mn_buf snap;
	uint64_t snap_seq, snap_lsn;
	uint32_t snap_version;
	bool have_snap, snap_damaged;
	bool damaged; /* a call intent that does not decode */
	/* Last sender resolved (runs of messages from one sender). */
	uint64_t sender_id;
	char sender[MN__CLI_ADDR_CAP];
} dstate;

static const char *sender_name(dstate *s, uint64_t id)
{
	if (id != s->sender_id || !s->sender[0]) {
		mn__cli_actor_name(s->c, s->sender, id);
		s->sender_id = id;
	}
	return s->sender;
}

/* One call intent (packed): text after indent (an entry's calls are
 * indented, the pending ones not), or a JSON record. */
static void print_intent(dstate *s, const char *record, const void *p,
			 size_t len, uint64_t call_id)
{
	mn__cli *c = s->c;
	const char *indent = strcmp(record, "call") == 0 ? "    " : "";
	mn__intent in;
	void *hold;
	if (mn__intent_unpack(p, len, &in, &hold)) {
		s->damaged = true;
		if (c->json) {
			mn__jw w;
			mn__jw_begin(&w, c->out, record);
			mn__jw_u64(&w, "call_id", call_id);
			mn__jw_bool(&w, "damaged", true);
			mn__jw_end(&w);
		} else {
			fprintf(c->out,
				"%scall %llu: damaged (%zu B that do not "
				"decode)\n",
				indent, (unsigned long long)call_id, len);
		}
	} else if (c->json) {
		mn__jw w;
		mn__jw_begin(&w, c->out, record);
		mn__cli_intent_json(&w, "", &in);
		mn__jw_end(&w);
	} else {
		mn__cli_intent_text(c->out, indent, &in);
	}
	mn__intent_release(hold);
}

/* The calls journal entry e made (its recorded intents). */
static void print_calls(dstate *s, const mn__entry *e)
{
	for (size_t i = 0; i < e->n_calls; i++)
		print_intent(s, "call", e->calls[i], e->call_lens[i],
			     e->seq << 16 | i);
}

/* One journal entry or outbox message (is_outbox), text or JSON. */
static void print_msg(dstate *s, const mn__entry *e, bool is_outbox)
{
	mn__cli *c = s->c;
	char t[MN__CLI_TIME_CAP], fl[64], ob[32];
	const char *from = sender_name(s, e->sender_id);
	mn_llm_usage u;

	if (c->json) {
		mn__jw w;
		mn__jw_begin(&w, c->out, is_outbox ? "outbox" : "entry");
		if (is_outbox) {
			mn__jw_u64(&w, "id", e->lsn);
		} else {
			mn__jw_u64(&w, "seq", e->seq);
			mn__jw_u64(&w, "lsn", e->lsn);
			mn__jw_u64(&w, "version", e->kind_version);
		}
		mn__jw_time(&w, "time", e->unix_ms);
		mn__jw_u64(&w, "unix_ms", e->unix_ms);
		mn__jw_u64(&w, "type", e->type);
		mn__jw_u64(&w, "sender_id", e->sender_id);
		mn__jw_str(&w, "sender", from);
		if (!is_outbox)
			mn__jw_u64(&w, "outbox_id", e->outbox_id);
		mn__jw_u64(&w, "flags", e->flags);
		mn__jw_u64(&w, "stored_bytes", e->stored_len);
		mn__jw_u64(&w, "payload_bytes", e->len);
		if (!is_outbox && mn__entry_tokens(e, &u) == 0) {
			mn__jw_u64(&w, "prompt_tokens", u.prompt_tokens);
			mn__jw_u64(&w, "completion_tokens",
				   u.completion_tokens);
			mn__jw_u64(&w, "total_tokens", u.total_tokens);
		}
		mn__jw_hex(&w, "payload_hex", e->payload, e->len);
		if (mn__cli_is_text(e->payload, e->len))
			mn__jw_bytes(&w, "payload_text", e->payload, e->len);
		else
			mn__jw_null(&w, "payload_text");
		if (!is_outbox)
			mn__jw_u64(&w, "calls", e->n_calls);
		if (e->flags & MN_MSG_CALL)
			mn__cli_reply_json(&w, e->payload, e->len);
		mn__jw_end(&w);
		if (!is_outbox)
			print_calls(s, e);
		return;
	}
	mn__cli_time(t, e->unix_ms);
	mn__cli_flags(fl, e->flags);
	if (is_outbox) {
		fprintf(c->out, "id %llu  %s  type %u  from %s  flags %s",
			(unsigned long long)e->lsn, t, e->type, from, fl);
	} else {
		if (e->outbox_id)
			snprintf(ob, sizeof ob, "%llu",
				 (unsigned long long)e->outbox_id);
		else
			snprintf(ob, sizeof ob, "-");
		fprintf(c->out,
			"seq %llu  lsn %llu  %s  type %u  from %s  flags %s  "
			"outbox %s",
			(unsigned long long)e->seq, (unsigned long long)e->lsn,
			t, e->type, from, fl, ob);
	}
	if (!is_outbox && e->kind_version > 1)
		fprintf(c->out, "  version %u", (unsigned)e->kind_version);
	fprintf(c->out, "  stored %zu B  payload %zu B\n", e->stored_len,
		e->len);
	if (e->flags & MN_MSG_CALL)
		mn__cli_reply_text(c->out, "    ", e->payload, e->len);
	if (!is_outbox && mn__entry_tokens(e, &u) == 0)
		fprintf(c->out,
			"    tokens %llu (prompt %llu, completion %llu)\n",
			(unsigned long long)u.total_tokens,
			(unsigned long long)u.prompt_tokens,
			(unsigned long long)u.completion_tokens);
	mn__cli_hexdump(c->out, "    ", e->payload, e->len,
			s->full ? 0 : MN__CLI_PAYLOAD_SHOWN);
	if (!is_outbox)
		print_calls(s, e);
}

static int on_entry(void *arg, const mn__entry *e)
{
	dstate *s = arg;
	if (s->to && e->seq > s->to)
		return MN__CLI_STOP;
	if (s->shown++ == 0 && !s->c->json)
		fputs("\njournal:\n", s->c->out);
	print_msg(s, e, false);
	return 0;
}

static bool for_target(const dstate *s, const mn__entry *e)
{
	return e->kind_id == s->kind_id && e->key_len == s->key_len &&
	       memcmp(e->key, s->key, s->key_len) == 0;
}

static int on_outbox(void *arg, const mn__entry *e)
{
	dstate *s = arg;
	if (!for_target(s, e))
		return 0;
	if (s->shown++ == 0 && !s->c->json)
		fputs("\noutbox (waiting for this actor):\n", s->c->out);
	print_msg(s, e, true);
	return 0;
}

static int on_timer(void *arg, const mn__wtimer *t)
{
	dstate *s = arg;
	mn__cli *c = s->c;
	char due[MN__CLI_TIME_CAP];
	if (t->actor_id != s->actor_id)
		return 0;
	if (c->json) {
		mn__jw w;
		mn__jw_begin(&w, c->out, "timer");
		mn__jw_u64(&w, "id", t->id);
		mn__jw_time(&w, "due", t->due_unix_ms);
		mn__jw_u64(&w, "due_unix_ms", t->due_unix_ms);
		mn__jw_u64(&w, "type", t->type);
		mn__jw_u64(&w, "payload_bytes", t->len);
		mn__jw_hex(&w, "payload_hex", t->payload, t->len);
		if (mn__cli_is_text(t->payload, t->len))
			mn__jw_bytes(&w, "payload_text", t->payload, t->len);
		else
			mn__jw_null(&w, "payload_text");
		mn__jw_end(&w);
		return 0;
	}
	if (s->shown++ == 0)
		fputs("\ntimers (pending for this actor):\n", c->out);
	mn__cli_time(due, t->due_unix_ms);
	fprintf(c->out, "id %llu  due %s  type %u  payload %zu B\n",
		(unsigned long long)t->id, due, t->type, t->len);
	mn__cli_hexdump(c->out, "    ", t->payload, t->len,
			s->full ? 0 : MN__CLI_PAYLOAD_SHOWN);
	return 0;
}

static int on_call(void *arg, const mn__call_rec *cr)
{
	dstate *s = arg;
	if (s->shown++ == 0 && !s->c->json)
		fputs("\ncalls (pending for this actor):\n", s->c->out);
	print_intent(s, "pending_call", cr->intent, cr->len, cr->call_id);
	return 0;
}

/* The latest snapshot, if any, into s->snap (MN_ENOACTOR: none). */
static int fetch_snapshot(dstate *s)
{
	mn__cli_clear_detail();
	int rc = mn__store_snapshot_latest_v(
	    s->c->store, s->c->codec, s->actor_id, UINT64_MAX, &s->snap,
	    &s->snap_seq, &s->snap_lsn, &s->snap_version);
	s->have_snap = rc == 0;
	return rc == MN_ENOACTOR ? 0 : rc;
}

/* The snapshot's place and its state's bytes (decoding the state with the
 * kind's descriptors comes later). */
static void print_snapshot(dstate *s)
{
	mn__cli *c = s->c;
	if (!s->have_snap) {
		if (!c->json)
			fputs(s->snap_damaged ? "\nsnapshot: unreadable\n"
					      : "\nsnapshot: none\n",
			      c->out);
		return;
	}
	if (c->json) {
		mn__jw w;
		mn__jw_begin(&w, c->out, "snapshot");
		mn__jw_u64(&w, "seq", s->snap_seq);
		mn__jw_u64(&w, "lsn", s->snap_lsn);
		mn__jw_u64(&w, "version", s->snap_version);
		mn__jw_u64(&w, "state_bytes", s->snap.len);
		mn__jw_hex(&w, "state_hex", s->snap.data, s->snap.len);
		mn__jw_end(&w);
		return;
	}
	fprintf(c->out, "\nsnapshot: seq %llu  lsn %llu  state %zu B",
		(unsigned long long)s->snap_seq,
		(unsigned long long)s->snap_lsn, s->snap.len);
	if (s->snap_version > 1)
		fprintf(c->out, "  version %u", (unsigned)s->snap_version);
	fputc('\n', c->out);
	mn__cli_hexdump(c->out, "    ", s->snap.data, s->snap.len,
			s->full ? 0 : MN__CLI_PAYLOAD_SHOWN);
}

static int count_outbox(void *arg, const mn__entry *e)
{
	dstate *s = arg;
	if (for_target(s, e))
		s->shown++;
	return 0;
}

static void print_meta(mn__cli *c, const mn__actor_meta *m, const char *addr)
{
	FILE *f = c->out;
	char kind[MN_KIND_NAME_MAX + 1], key[MN__CLI_KEY_CAP],
	    t[MN__CLI_TIME_CAP];
	if (mn__store_kind_name(c->store, m->kind_id, kind, sizeof kind))
		snprintf(kind, sizeof kind, "?");
	mn__cli_key_format(key, m->key, m->key_len);
	fprintf(f, "actor %s\n", addr);
	fprintf(f, "  %-14s%llu\n", "id", (unsigned long long)m->id);
	fprintf(f, "  %-14s%s (id %u)\n", "kind", kind, m->kind_id);
	fprintf(f, "  %-14s%s (%u bytes)\n", "key", key, m->key_len);
	fprintf(f, "  %-14s%llu\n", "last seq",
		(unsigned long long)m->last_seq);
	fprintf(f, "  %-14s%llu\n", "last LSN",
		(unsigned long long)m->last_lsn);
	fprintf(f, "  %-14s%llu\n", "first LSN",
		(unsigned long long)m->first_lsn);
	fprintf(f, "  %-14s%llu\n", "snapshot seq",
		(unsigned long long)m->snapshot_seq);
	if (m->fork_parent_id) {
		char parent[MN__CLI_ADDR_CAP];
		mn__cli_actor_name(c, parent, m->fork_parent_id);
		fprintf(f,
			"  %-14s%s at seq %llu (shared history; sends "
			"quarantined)\n",
			"forked from", parent, (unsigned long long)m->fork_seq);
	}
	if (m->compacted_seq)
		fprintf(f,
			"  %-14sentries up to seq %llu dropped; history "
			"starts at the snapshot there\n",
			"compacted", (unsigned long long)m->compacted_seq);
	mn__cli_time(t, m->created_unix_ms);
	fprintf(f, "  %-14s%s\n", "created", t);
	mn__cli_time(t, m->last_active_unix_ms);
	fprintf(f, "  %-14s%s\n", "last active", t);
}

/* The options, for on_option. */
typedef struct dopts {
	dstate *s;
	uint64_t from;
} dopts;

static int on_option(mn__cli *c, int ch, const char *arg, void *u)
{
	dopts *o = u;
	switch (ch) {
	case 'f':
	case 't': {
		uint64_t v;
		if (mn__cli_parse_u64(arg, &v) || v == 0)
			return mn__cli_usage(
			    c,
			    "--%s wants a sequence number >= 1, "
			    "not '%s'",
			    ch == 'f' ? "from" : "to", arg);
		*(ch == 'f' ? &o->from : &o->s->to) = v;
		break;
	}
	case 'F':
		o->s->full = true;
		break;
	}
	return 0;
}

static const mn__cli_spec spec = {
    .name = "dump",
    .synopsis = synopsis,
    .help = help,
    .shortopts = "f:t:F",
    .opts = (const struct option[]){{"from", required_argument, NULL, 'f'},
				    {"to", required_argument, NULL, 't'},
				    {"full", no_argument, NULL, 'F'},
				    {NULL, 0, NULL, 0}},
    .json = true,
    .nargs = 2,
    .args_wrong = "ADDRESS and STORE expected",
    .option = on_option};

/* The command in steps: find the target, show its metadata and snapshot,
 * its journal, then what waits for it in the outbox and the timers. Each
 * step returns 0 to go on or the command's exit code (its message
 * printed). */

/* The target named by address (key its buffer of MN_KEY_MAX bytes, addr
 * its formatted address) and its metadata. */
static int find_target(dstate *s, const char *address, unsigned char *key,
		       char *addr, mn__actor_meta *m)
{
	mn__cli *c = s->c;
	size_t key_len, kind_end;
	int rc = mn__cli_addr_parse(c, address, &s->kind_id, key, &key_len,
				    &kind_end);
	if (rc == MN_ENOKIND) {
		fprintf(c->err,
			"mnemo dump: no kind named '%.*s' in store %s\n",
			(int)kind_end, address, c->path);
		return MN__CLI_FAIL;
	}
	if (rc) {
		mn__cli_close(c);
		return mn__cli_usage(c,
				     "bad address '%s': KIND/KEY expected, the "
				     "key as text or 0x and hex digits, 1 to "
				     "%d bytes",
				     address, MN_KEY_MAX);
	}
	s->key = key;
	s->key_len = key_len;

	mn__cli_clear_detail();
	rc = mn__store_actor_find(c->store, s->kind_id, key, key_len, m);
	mn__cli_addr_format(c, addr, s->kind_id, key, key_len);
	if (rc == MN_ENOACTOR) {
		/* Messages may wait for an actor not created yet. */
		s->shown = 0;
		int orc =
		    mn__store_outbox_scan(c->store, c->codec, count_outbox, s);
		fprintf(c->err, "mnemo dump: no actor %s in store %s", addr,
			c->path);
		if (!orc && s->shown)
			fprintf(c->err,
				" (%llu message%s for it wait%s in the "
				"outbox)",
				(unsigned long long)s->shown,
				s->shown == 1 ? "" : "s",
				s->shown == 1 ? "s" : "");
		fputc('\n', c->err);
		return MN__CLI_FAIL;
	}
	if (rc)
		return mn__cli_store_fail(c, rc, "reading the actor");
	s->actor_id = m->id;
	return 0;
}

/* The metadata and the latest snapshot; a damaged snapshot sets *damaged
 * and goes on. */
static int show_actor(dstate *s, mn__actor_meta *m, const char *addr,
		      bool *damaged)
{
	mn__cli *c = s->c;
	int rc;
	if ((rc = fetch_snapshot(s))) {
		/* A damaged snapshot does not hide the journal: say so, go
		 * on, and exit 1 at the end. */
		rc = mn__cli_store_fail(c, rc, "reading the snapshot");
		if (rc != MN__CLI_FAIL)
			return rc;
		*damaged = s->snap_damaged = true;
	}
	/* ActorMeta.snapshot_seq is not kept up to date by the runtime;
	 * the snapshots database is. */
	if (s->have_snap && s->snap_seq > m->snapshot_seq)
		m->snapshot_seq = s->snap_seq;
	if (c->json)
		mn__cli_actor_json(c, m);
	else
		print_meta(c, m, addr);
	print_snapshot(s);
	return 0;
}

/* The journal from seq from (to s->to, if set). */
static int show_journal(dstate *s, const mn__actor_meta *m, uint64_t from)
{
	mn__cli *c = s->c;
	FILE *out = c->out;
	int rc;
	s->shown = 0;
	mn__cli_clear_detail();
	/* Compacted: the journal starts after the compaction point. */
	uint64_t start = mn__cli_history_start(c, m);
	if (from <= start) {
		if (!c->json)
			fprintf(out,
				"\njournal: entries up to seq %llu were "
				"compacted; showing from seq %llu\n",
				(unsigned long long)start,
				(unsigned long long)start + 1);
		from = start + 1;
	}
	rc = from > m->last_seq
		 ? 0
		 : mn__store_history(c->store, c->codec, m->last_lsn, from - 1,
				     on_entry, s);
	if (rc && rc != MN__CLI_STOP) {
		fflush(out);
		return mn__cli_store_fail(c, rc, "reading the journal");
	}
	if (!c->json && !s->shown)
		fprintf(out, "\njournal: no entries%s\n",
			from > 1 || s->to ? " in the range asked" : "");
	return 0;
}

/* Its messages waiting in the outbox, its pending timers, then its
 * pending calls. */
static int show_waiting(dstate *s)
{
	mn__cli *c = s->c;
	FILE *out = c->out;
	int rc;
	s->shown = 0;
	mn__cli_clear_detail();
	if ((rc = mn__store_outbox_scan(c->store, c->codec, on_outbox, s))) {
		fflush(out);
		return mn__cli_store_fail(c, rc, "scanning the outbox");
	}
	if (!c->json && !s->shown)
		fputs("\noutbox: no messages waiting\n", out);

	s->shown = 0;
	mn__cli_clear_detail();
	if ((rc = mn__store_timers_due(c->store, UINT64_MAX, SIZE_MAX, on_timer,
				       s))) {
		fflush(out);
		return mn__cli_store_fail(c, rc, "reading timers");
	}
	if (!c->json && !s->shown)
		fputs("\ntimers: none pending\n", out);

	s->shown = 0;
	mn__cli_clear_detail();
	if ((rc = mn__store_calls_scan(c->store, s->actor_id, on_call, s))) {
		fflush(out);
		return mn__cli_store_fail(c, rc, "reading calls");
	}
	if (!c->json && !s->shown)
		fputs("\ncalls: none pending\n", out);
	return 0;
}

int mn__cmd_dump(int argc, char **argv, FILE *out, FILE *err)
{
	mn__cli c;
	dstate s = {.c = &c};
	dopts o = {.s = &s, .from = 1};
	unsigned char key[MN_KEY_MAX];
	char addr[MN__CLI_ADDR_CAP];
	mn__actor_meta m;
	bool damaged = false;
	char **args;
	int rc;

	if ((rc = mn__cli_begin(&c, &spec, &o, argc, argv, out, err, &args)) !=
	    MN__CLI_GO)
		return rc;
	mn__buf_init(&s.snap);
	uint64_t from = o.from;
	if (s.to && s.to < from)
		return mn__cli_usage(&c, "--to %llu is before --from %llu",
				     (unsigned long long)s.to,
				     (unsigned long long)from);
	if ((rc = mn__cli_open(&c)))
		return rc;

	if ((rc = find_target(&s, args[0], key, addr, &m)) ||
	    (rc = show_actor(&s, &m, addr, &damaged)) ||
	    (rc = show_journal(&s, &m, from)) || (rc = show_waiting(&s)))
		goto out_close;
	if (s.damaged)
		fprintf(err,
			"mnemo dump: %s: a call intent does not decode "
			"(verify names the record)\n",
			addr);
	rc = damaged || s.damaged ? MN__CLI_FAIL : MN__CLI_OK;
out_close:
	mn__buf_free(&s.snap);
	mn__cli_close(&c);
	return rc;
}
