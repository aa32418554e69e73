/*
 * cmd_export.c - `mnemo export [--actor ADDRESS] [-o FILE] STORE`: one
 * actor, or every actor and the outbox, as an export stream
 * (recovery/xstream.h) that `mnemo import` loads into another store.
 *
 * The store is opened read-only, so export is safe beside a live runtime.
 * Each actor is exported as of its head when it is read: its latest
 * snapshots and journal up to that head, never half an entry. Timers are
 * read before the actors (a timer that fired meanwhile is left out: its
 * firing is in the history), the outbox after them; docs/tool.md says what
 * a live export may miss.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "include/mnemo.h"
#include "recovery/cli.h"
#include "recovery/xstream.h"
#include "base/clock.h"

static const char synopsis[] = "mnemo export [--actor ADDRESS] [-o FILE] STORE";

static const char help[] =
    "NAME\n"
    "    mnemo export - write an actor, or a whole store, as a portable\n"
    "    stream\n"
    "\n"
    "SYNOPSIS\n"
    "    mnemo export [--actor ADDRESS] [-o FILE] STORE\n"
    "\n"
    "DESCRIPTION\n"
    "    Opens STORE read-only (safe while a runtime writes it) and writes\n"
    "    an export stream: every actor (or the one at ADDRESS) with its\n"
    "    snapshots, its journal in sequence order (with the outbound\n"
    "    calls each message made), its pending timers and its pending\n"
    "    calls, and for a whole store the messages waiting in the outbox.\n"
    "    Payloads and states are written decompressed, senders by address,\n"
    "    so `mnemo import` can load the stream into any store, where the\n"
    "    actors resume. docs/format.md describes the stream.\n"
    "\n"
    "    The stream goes to FILE (written as FILE.partial, renamed when\n"
    "    complete) or to standard output, which must not be a terminal.\n"
    "\n"
    "OPTIONS\n"
    "    -a, --actor ADDRESS  only this actor (KIND/KEY, as `mnemo ls`\n"
    "                         prints it); no outbox messages\n"
    "    -o, --output FILE    write to FILE (- for standard output)\n"
    "    -h, --help           this text\n"
    "\n"
    "EXIT STATUS\n"
    "    0 success; 1 no such actor or kind, or a damaged record (the\n"
    "    message names it); 2 usage error, the store cannot be opened, or\n"
    "    the stream cannot be written.\n"
    "\n"
    "EXAMPLE\n"
    "    mnemo export -o all.mnx ./data\n"
    "    mnemo export --actor agent/alice ./data | ssh host mnemo import - "
    "./data\n";

/* A timer read before the actors, kept until its actor is written. */
typedef struct xtimer {
	uint64_t id, actor_id, due;
	uint32_t type;
	void *payload;
	size_t len;
} xtimer;

typedef struct xstate {
	mn__cli *c;
	mn__xs_writer w;
	uint64_t only_id; /* --actor: its id; 0: every actor */
	/* Timers, sorted by actor id then due time. */
	xtimer *timers;
	size_t ntimers, captimers;
	/* Actor ids of a whole-store export. */
	uint64_t *ids;
	size_t nids, capids;
	/* The actor being written. */
	const mn__actor_meta *m;
	uint64_t seen;	 /* its entries written */
	uint64_t *fired; /* timer ids its history shows firing */
	size_t nfired, capfired;
	/* Its pending calls, read before its history (xcall), and the call
	 * ids its history shows replied to. */
	struct xcall {
		uint64_t call_id;
		void *intent;
		size_t len;
	} * calls;
	size_t ncalls, capcalls;
	uint64_t *replied;
	size_t nreplied, capreplied;
	/* The entry being written: its calls as protobuf bytes. */
	ProtobufCBinaryData *ecalls;
	size_t capecalls;
	/* Last sender resolved. */
	uint64_t sender_id;
	bool sender_ok;
	char sender_kind[MN_KIND_NAME_MAX + 1];
	unsigned char sender_key[MN_KEY_MAX];
	size_t sender_key_len;
	mn_buf snap;
	uint64_t nsenders_lost; /* senders not in the store (damage) */
} xstate;

/* Fill a with the address of actor id (an empty kind for 0: outside).
 * The bytes live in x until the next call. */
static void sender_addr(xstate *x, uint64_t id, Mnemo__Export__Address *a)
{
	mnemo__export__address__init(a);
	if (id == 0)
		return;
	if (id != x->sender_id) {
		mn__actor_meta m;
		x->sender_id = id;
		x->sender_ok =
		    mn__store_actor_get(x->c->store, id, &m) == 0 &&
		    mn__store_kind_name(x->c->store, m.kind_id, x->sender_kind,
					sizeof x->sender_kind) == 0;
		if (x->sender_ok) {
			memcpy(x->sender_key, m.key, m.key_len);
			x->sender_key_len = m.key_len;
		}
	}
	if (!x->sender_ok) {
		/* An id the store cannot name: outside, counted. */
		x->nsenders_lost++;
		return;
	}
	a->kind = x->sender_kind;
	a->key.data = x->sender_key;
	a->key.len = x->sender_key_len;
}

static int on_timer(void *arg, const mn__wtimer *t)
{
	xstate *x = arg;
	if (x->only_id && t->actor_id != x->only_id)
		return 0;
	if (mn__cli_grow((void **)&x->timers, &x->captimers, x->ntimers,
			 sizeof *x->timers))
		return MN_ENOMEM;
	xtimer *xt = &x->timers[x->ntimers];
	*xt = (xtimer){.id = t->id,
		       .actor_id = t->actor_id,
		       .due = t->due_unix_ms,
		       .type = t->type,
		       .len = t->len};
	if (!(xt->payload = malloc(t->len ? t->len : 1)))
		return MN_ENOMEM;
	if (t->len)
		memcpy(xt->payload, t->payload, t->len);
	x->ntimers++;
	return 0;
}

static int cmp_timer(const void *a, const void *b)
{
	const xtimer *x = a, *y = b;
	if (x->actor_id != y->actor_id)
		return x->actor_id < y->actor_id ? -1 : 1;
	if (x->due != y->due)
		return x->due < y->due ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

static int on_entry(void *arg, const mn__entry *e)
{
	xstate *x = arg;
	Mnemo__Export__Record r = MNEMO__EXPORT__RECORD__INIT;
	Mnemo__Export__Entry en = MNEMO__EXPORT__ENTRY__INIT;
	Mnemo__Export__Address from;
	if ((e->flags & MN_MSG_TIMER) && e->outbox_id) {
		if (mn__cli_grow((void **)&x->fired, &x->capfired, x->nfired,
				 sizeof *x->fired))
			return MN_ENOMEM;
		x->fired[x->nfired++] = e->outbox_id;
	}
	if ((e->flags & MN_MSG_CALL) && e->outbox_id) {
		if (mn__cli_grow((void **)&x->replied, &x->capreplied,
				 x->nreplied, sizeof *x->replied))
			return MN_ENOMEM;
		x->replied[x->nreplied++] = e->outbox_id;
	}
	for (size_t i = 0; i < e->n_calls; i++) {
		if (mn__cli_grow((void **)&x->ecalls, &x->capecalls, i,
				 sizeof *x->ecalls))
			return MN_ENOMEM;
		x->ecalls[i].data = (uint8_t *)e->calls[i];
		x->ecalls[i].len = e->call_lens[i];
	}
	sender_addr(x, e->sender_id, &from);
	en.seq = e->seq;
	en.type = e->type;
	en.flags = e->flags;
	en.unix_ms = e->unix_ms;
	en.sender = e->sender_id ? &from : NULL;
	en.payload.data = (uint8_t *)e->payload;
	en.payload.len = e->len;
	en.state_hash = e->state_hash;
	en.kind_version = e->kind_version > 1 ? e->kind_version : 0;
	en.n_timer_ids = e->n_timer_ids;
	en.timer_ids = (uint64_t *)e->timer_ids;
	en.n_calls = e->n_calls;
	en.calls = e->n_calls ? x->ecalls : NULL;
	en.n_call_hashes = e->n_calls;
	en.call_hashes = (uint64_t *)e->call_hashes;
	r.body_case = MNEMO__EXPORT__RECORD__BODY_ENTRY;
	r.entry = &en;
	x->seen++;
	return mn__xs_put(&x->w, &r);
}

static bool fired(const xstate *x, uint64_t id)
{
	for (size_t i = 0; i < x->nfired; i++)
		if (x->fired[i] == id)
			return true;
	return false;
}

static bool replied(const xstate *x, uint64_t call_id)
{
	for (size_t i = 0; i < x->nreplied; i++)
		if (x->replied[i] == call_id)
			return true;
	return false;
}

static int on_call(void *arg, const mn__call_rec *cr)
{
	xstate *x = arg;
	if (mn__cli_grow((void **)&x->calls, &x->capcalls, x->ncalls,
			 sizeof *x->calls))
		return MN_ENOMEM;
	void *p = malloc(cr->len ? cr->len : 1);
	if (!p)
		return MN_ENOMEM;
	memcpy(p, cr->intent, cr->len);
	x->calls[x->ncalls++] =
	    (struct xcall){.call_id = cr->call_id, .intent = p, .len = cr->len};
	return 0;
}

static void drop_calls(xstate *x)
{
	for (size_t i = 0; i < x->ncalls; i++)
		free(x->calls[i].intent);
	x->ncalls = 0;
}

/* Its pending calls (read before its history): those made by an exported
 * message whose reply is not in the exported journal. */
static int export_calls(xstate *x, const mn__actor_meta *m)
{
	Mnemo__Export__Record r = MNEMO__EXPORT__RECORD__INIT;
	int rc = 0;
	for (size_t i = 0; i < x->ncalls && !rc; i++) {
		const struct xcall *xc = &x->calls[i];
		Mnemo__Export__Call cl = MNEMO__EXPORT__CALL__INIT;
		if (xc->call_id >> 16 > m->last_seq || replied(x, xc->call_id))
			continue;
		cl.call_id = xc->call_id;
		cl.seq = xc->call_id >> 16;
		cl.intent.data = xc->intent;
		cl.intent.len = xc->len;
		r.body_case = MNEMO__EXPORT__RECORD__BODY_CALL;
		r.call = &cl;
		rc = mn__xs_put(&x->w, &r);
	}
	return rc;
}

/* The seqs of the actor's snapshots in [base, last_seq], descending. */
static int snapshot_seqs(xstate *x, uint64_t base, uint64_t **seqs, size_t *n)
{
	size_t cap = 0;
	uint64_t max = x->m->last_seq, seq, lsn;
	*seqs = NULL;
	*n = 0;
	for (;;) {
		mn__cli_clear_detail();
		int rc = mn__store_snapshot_latest(x->c->store, x->c->codec,
						   x->m->id, max, &x->snap,
						   &seq, &lsn);
		if (rc == MN_ENOACTOR || (rc == 0 && seq < base))
			return 0;
		if (rc)
			return rc;
		if (mn__cli_grow((void **)seqs, &cap, *n, sizeof **seqs))
			return MN_ENOMEM;
		(*seqs)[(*n)++] = seq;
		if (seq == 0 || seq == base)
			return 0;
		max = seq - 1;
	}
}

/* One actor's group: Actor, Snapshot*, Entry*, Timer*. Returns 0, an
 * MN_E* code (the store's, or MN_ECORRUPT with the detail set), or the
 * writer's error. */
static int export_actor(xstate *x, const mn__actor_meta *m, const char *kind)
{
	Mnemo__Export__Record r = MNEMO__EXPORT__RECORD__INIT;
	Mnemo__Export__Actor a = MNEMO__EXPORT__ACTOR__INIT;
	Mnemo__Export__Address addr = MNEMO__EXPORT__ADDRESS__INIT, parent;
	/* Where the stored history starts: a compaction point of the actor,
	 * or of the parent whose history a fork shares. */
	uint64_t base = mn__cli_history_start(x->c, m), *seqs = NULL;
	size_t nseqs = 0;
	int rc;

	x->m = m;
	x->seen = 0;
	x->nfired = 0;
	x->nreplied = 0;
	if ((rc = snapshot_seqs(x, base, &seqs, &nseqs)))
		goto out;
	if (base && (!nseqs || seqs[nseqs - 1] != base)) {
		mn__store_set_errdetail("compacted history without a "
					"snapshot at the compacted seq");
		rc = MN_ECORRUPT;
		goto out;
	}
	addr.kind = (char *)kind;
	addr.key.data = (uint8_t *)m->key;
	addr.key.len = m->key_len;
	a.address = &addr;
	a.created_unix_ms = m->created_unix_ms;
	a.last_active_unix_ms = m->last_active_unix_ms;
	a.last_seq = m->last_seq;
	a.base_seq = base;
	a.compacted_seq = m->compacted_seq;
	a.source_id = m->id;
	if (m->fork_parent_id) {
		sender_addr(x, m->fork_parent_id, &parent);
		a.fork_parent = &parent;
		a.fork_seq = m->fork_seq;
	}
	r.body_case = MNEMO__EXPORT__RECORD__BODY_ACTOR;
	r.actor = &a;
	if ((rc = mn__xs_put(&x->w, &r)))
		goto out;

	for (size_t i = nseqs; i-- > 0;) {
		Mnemo__Export__Snapshot sn = MNEMO__EXPORT__SNAPSHOT__INIT;
		uint64_t seq, lsn;
		uint32_t ver = 1;
		mn__cli_clear_detail();
		if ((rc = mn__store_snapshot_latest_v(x->c->store, x->c->codec,
						      m->id, seqs[i], &x->snap,
						      &seq, &lsn, &ver)))
			goto out;
		sn.seq = seq;
		sn.kind_version = ver > 1 ? ver : 0;
		sn.state.data = x->snap.data;
		sn.state.len = x->snap.len;
		/* The store API hands back no snapshot hash yet; 0 = none. */
		r.body_case = MNEMO__EXPORT__RECORD__BODY_SNAPSHOT;
		r.snapshot = &sn;
		if ((rc = mn__xs_put(&x->w, &r)))
			goto out;
	}

	mn__cli_clear_detail();
	/* Nothing after the base: its head entry may be compacted away. */
	if (m->last_seq > base &&
	    (rc = mn__store_history(x->c->store, x->c->codec, m->last_lsn, base,
				    on_entry, x)))
		goto out;
	if (x->seen != m->last_seq - base) {
		char d[160];
		snprintf(d, sizeof d,
			 "history of actor %llu: %llu entries after seq %llu, "
			 "its head says %llu",
			 (unsigned long long)m->id, (unsigned long long)x->seen,
			 (unsigned long long)base,
			 (unsigned long long)(m->last_seq - base));
		mn__store_set_errdetail(d);
		rc = MN_ECORRUPT;
		goto out;
	}

	/* Timers are sorted by actor: find this actor's run. */
	size_t lo = 0, hi = x->ntimers;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (x->timers[mid].actor_id < m->id)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i < x->ntimers && x->timers[i].actor_id == m->id;
	     i++) {
		const xtimer *t = &x->timers[i];
		Mnemo__Export__Timer tm = MNEMO__EXPORT__TIMER__INIT;
		if (fired(x, t->id))
			continue;
		tm.due_unix_ms = t->due;
		tm.type = t->type;
		tm.payload.data = t->payload;
		tm.payload.len = t->len;
		tm.id = t->id;
		r.body_case = MNEMO__EXPORT__RECORD__BODY_TIMER;
		r.timer = &tm;
		if ((rc = mn__xs_put(&x->w, &r)))
			goto out;
	}
	rc = export_calls(x, m);
out:
	free(seqs);
	return rc;
}

static int on_outbox(void *arg, const mn__entry *e)
{
	xstate *x = arg;
	Mnemo__Export__Record r = MNEMO__EXPORT__RECORD__INIT;
	Mnemo__Export__Outbox o = MNEMO__EXPORT__OUTBOX__INIT;
	Mnemo__Export__Address to = MNEMO__EXPORT__ADDRESS__INIT, from;
	char kind[MN_KIND_NAME_MAX + 1];
	if (mn__store_kind_name(x->c->store, e->kind_id, kind, sizeof kind)) {
		char d[96];
		snprintf(d, sizeof d, "outbox entry %llu: unknown kind %u",
			 (unsigned long long)e->lsn, e->kind_id);
		mn__store_set_errdetail(d);
		return MN_ECORRUPT;
	}
	to.kind = kind;
	to.key.data = (uint8_t *)e->key;
	to.key.len = e->key_len;
	sender_addr(x, e->sender_id, &from);
	o.target = &to;
	o.sender = e->sender_id ? &from : NULL;
	o.type = e->type;
	o.flags = e->flags;
	o.unix_ms = e->unix_ms;
	o.payload.data = (uint8_t *)e->payload;
	o.payload.len = e->len;
	r.body_case = MNEMO__EXPORT__RECORD__BODY_OUTBOX;
	r.outbox = &o;
	return mn__xs_put(&x->w, &r);
}

static int collect_id(void *arg, const mn__actor_meta *m)
{
	xstate *x = arg;
	if (mn__cli_grow((void **)&x->ids, &x->capids, x->nids, sizeof *x->ids))
		return MN_ENOMEM;
	x->ids[x->nids++] = m->id;
	return 0;
}

/* A failure while exporting: the writer's (the output), else the store's.
 * Returns the exit code. */
static int fail(xstate *x, int rc, const char *what, const char *out_name)
{
	mn__cli *c = x->c;
	if (x->w.err) {
		fprintf(c->err, "mnemo export: writing %s: %s\n", out_name,
			x->w.err == MN_EIO ? strerror(errno)
					   : mn_strerror(x->w.err));
		return MN__CLI_USAGE;
	}
	return mn__cli_store_fail(c, rc, what);
}

/* Export every actor, or only x->only_id (meta *only), then the outbox.
 * Returns the exit code. */
static int export_all(xstate *x, const mn__actor_meta *only,
		      const char *out_name)
{
	mn__cli *c = x->c;
	char kind[MN_KIND_NAME_MAX + 1], what[MN__CLI_ADDR_CAP + 32];
	int rc;

	mn__cli_clear_detail();
	if ((rc = mn__store_timers_due(c->store, UINT64_MAX, SIZE_MAX, on_timer,
				       x)))
		return fail(x, rc, "reading timers", out_name);
	if (x->ntimers) /* qsort wants an array, even of 0 */
		qsort(x->timers, x->ntimers, sizeof *x->timers, cmp_timer);
	if (!only) {
		mn__cli_clear_detail();
		if ((rc = mn__store_actors_scan(c->store, collect_id, x)))
			return fail(x, rc, "listing actors", out_name);
	}
	size_t n = only ? 1 : x->nids;
	for (size_t i = 0; i < n; i++) {
		mn__actor_meta m;
		/* Its pending calls before its head: a call whose reply
		 * lands meanwhile is then in the calls read, and its reply
		 * in the exported journal (left out) or not (exported):
		 * never in neither. */
		drop_calls(x);
		mn__cli_clear_detail();
		if ((rc = mn__store_calls_scan(
			 c->store, only ? only->id : x->ids[i], on_call, x)))
			return fail(x, rc, "reading calls", out_name);
		mn__cli_clear_detail();
		if ((rc = mn__store_actor_get(c->store,
					      only ? only->id : x->ids[i], &m)))
			return fail(x, rc, "reading an actor", out_name);
		if (mn__store_kind_name(c->store, m.kind_id, kind,
					sizeof kind)) {
			fprintf(c->err,
				"mnemo export: actor %llu has kind %u, which "
				"the store does not name\n",
				(unsigned long long)m.id, m.kind_id);
			return MN__CLI_FAIL;
		}
		if ((rc = export_actor(x, &m, kind))) {
			char addr[MN__CLI_ADDR_CAP];
			mn__cli_addr_format(c, addr, m.kind_id, m.key,
					    m.key_len);
			snprintf(what, sizeof what, "exporting %s", addr);
			return fail(x, rc, what, out_name);
		}
	}
	if (!only) {
		mn__cli_clear_detail();
		if ((rc = mn__store_outbox_scan(c->store, c->codec, on_outbox,
						x)))
			return fail(x, rc, "reading the outbox", out_name);
	}
	if (mn__xs_end(&x->w))
		return fail(x, 0, "", out_name);
	return MN__CLI_OK;
}

static void xstate_free(xstate *x)
{
	for (size_t i = 0; i < x->ntimers; i++)
		free(x->timers[i].payload);
	free(x->timers);
	free(x->ids);
	free(x->fired);
	drop_calls(x);
	free(x->calls);
	free(x->replied);
	free(x->ecalls);
	mn__buf_free(&x->snap);
	mn__xs_writer_free(&x->w);
}

/* Resolve --actor's address (read-only: no kind is created). Returns 0, or
 * the exit code after saying why. */
static int find_actor(mn__cli *c, const char *address, mn__actor_meta *m)
{
	unsigned char key[MN_KEY_MAX];
	size_t key_len, kind_end;
	uint32_t kind_id;
	char addr[MN__CLI_ADDR_CAP];
	int rc =
	    mn__cli_addr_parse(c, address, &kind_id, key, &key_len, &kind_end);
	if (rc == MN_ENOKIND) {
		fprintf(c->err,
			"mnemo export: no kind named '%.*s' in store %s\n",
			(int)kind_end, address, c->path);
		return MN__CLI_FAIL;
	}
	if (rc) {
		fprintf(c->err,
			"mnemo export: bad address '%s': KIND/KEY expected, "
			"the key as text or 0x and hex digits, 1 to %d bytes\n"
			"usage: %s\n",
			address, MN_KEY_MAX, synopsis);
		return MN__CLI_USAGE;
	}
	mn__cli_clear_detail();
	rc = mn__store_actor_find(c->store, kind_id, key, key_len, m);
	if (rc == MN_ENOACTOR) {
		mn__cli_addr_format(c, addr, kind_id, key, key_len);
		fprintf(c->err, "mnemo export: no actor %s in store %s\n", addr,
			c->path);
		return MN__CLI_FAIL;
	}
	if (rc)
		return mn__cli_store_fail(c, rc, "reading the actor");
	return 0;
}

/* The options, for on_option. */
typedef struct xopts {
	const char *address, *output;
} xopts;

static int on_option(mn__cli *c, int ch, const char *arg, void *u)
{
	xopts *o = u;
	(void)c;
	*(ch == 'a' ? &o->address : &o->output) = arg;
	return 0;
}

static const mn__cli_spec spec = {
    .name = "export",
    .synopsis = synopsis,
    .help = help,
    .shortopts = "a:o:",
    .opts = (const struct option[]){{"actor", required_argument, NULL, 'a'},
				    {"output", required_argument, NULL, 'o'},
				    {NULL, 0, NULL, 0}},
    .nargs = 1,
    .args_wrong = "STORE expected",
    .option = on_option};

int mn__cmd_export(int argc, char **argv, FILE *out, FILE *err)
{
	mn__cli c;
	xstate x = {.c = &c};
	xopts o = {NULL, NULL};
	char partial[4096];
	mn__actor_meta only;
	FILE *f = NULL;
	char **args;
	int rc;

	if ((rc = mn__cli_begin(&c, &spec, &o, argc, argv, out, err, &args)) !=
	    MN__CLI_GO)
		return rc;
	const char *address = o.address, *output = o.output;
	if (output && strcmp(output, "-") == 0)
		output = NULL;
	if (!output && isatty(fileno(out)))
		return mn__cli_usage(&c,
				     "standard output is a terminal: give -o "
				     "FILE, or redirect it");
	if (output && (size_t)snprintf(partial, sizeof partial, "%s.partial",
				       output) >= sizeof partial)
		return mn__cli_usage(&c, "output path too long");
	if ((rc = mn__cli_open(&c)))
		return rc;
	if (address && (rc = find_actor(&c, address, &only)))
		goto out_close;
	x.only_id = address ? only.id : 0;

	if (output && !(f = fopen(partial, "wb"))) {
		fprintf(err, "mnemo export: creating %s: %s\n", partial,
			strerror(errno));
		rc = MN__CLI_USAGE;
		goto out_close;
	}
	mn__store_stats st;
	Mnemo__Export__Header h = MNEMO__EXPORT__HEADER__INIT;
	h.stream_version = MN__XS_VERSION;
	h.source_store = (char *)c.path;
	h.library_version = (char *)mn_version();
	h.created_unix_ms = mn__unix_ms();
	h.whole_store = !address;
	h.store_format_version = mn__store_stats_get(c.store, &st) == 0
				     ? st.format_version
				     : MN__FORMAT_VERSION;
	const char *out_name = output ? partial : "standard output";
	if (mn__xs_begin(&x.w, f ? f : out, &h))
		rc = fail(&x, 0, "", out_name);
	else
		rc = export_all(&x, address ? &only : NULL, out_name);
	if (f) {
		if (fclose(f) != 0 && rc == MN__CLI_OK) {
			fprintf(err, "mnemo export: writing %s: %s\n", partial,
				strerror(errno));
			rc = MN__CLI_USAGE;
		}
		if (rc == MN__CLI_OK && rename(partial, output) != 0) {
			fprintf(err, "mnemo export: renaming %s to %s: %s\n",
				partial, output, strerror(errno));
			rc = MN__CLI_USAGE;
		}
		if (rc != MN__CLI_OK)
			unlink(partial);
	}
	if (rc == MN__CLI_OK && output) {
		char calls[48] = "";
		if (x.w.calls)
			snprintf(calls, sizeof calls, ", %llu pending calls",
				 (unsigned long long)x.w.calls);
		fprintf(out,
			"exported %llu actor%s (%llu entries, %llu snapshots, "
			"%llu timers%s) and %llu outbox messages to %s, %llu "
			"bytes\n",
			(unsigned long long)x.w.actors,
			x.w.actors == 1 ? "" : "s",
			(unsigned long long)x.w.entries,
			(unsigned long long)x.w.snapshots,
			(unsigned long long)x.w.timers, calls,
			(unsigned long long)x.w.outbox, output,
			(unsigned long long)x.w.bytes);
	}
	if (rc == MN__CLI_OK && x.nsenders_lost)
		fprintf(err,
			"mnemo export: warning: %llu messages name a sender "
			"the store does not hold; exported as from outside\n",
			(unsigned long long)x.nsenders_lost);
out_close:
	xstate_free(&x);
	mn__cli_close(&c);
	return rc;
}
