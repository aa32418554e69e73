/*
 * cmd_stats.c - `mnemo stats`: what a store holds and what it costs.
 *
 * Counts and sizes come from LMDB's own statistics (mn__store_stats_get,
 * no values read). Unless --quick, three scans follow, each in its own read
 * transaction: the actors (actors by kind), the outbox (messages waiting,
 * by target kind) and the journal (entries, payload bytes before
 * compression and stored record bytes, by kind), so stats reads every
 * journal entry once; the actors scan also checks that each actor's
 * history can be read (mn__cli_actor_check: broken actors, counted), which
 * reads each actor's journal after its latest snapshot once more. On a live
 * store, numbers from different scans may be a few commits apart.
 */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "include/mnemo.h"
#include "recovery/cli.h"
#include "recovery/tokens.h"
#include "base/clock.h"

static const char synopsis[] = "mnemo stats [--json] [--quick] STORE";

static const char help[] =
    "NAME\n"
    "    mnemo stats - counts, sizes and compression of a store\n"
    "\n"
    "SYNOPSIS\n"
    "    mnemo stats [--json] [--quick] STORE\n"
    "\n"
    "DESCRIPTION\n"
    "    Opens STORE read-only (safe while a runtime writes it) and\n"
    "    prints its format version, last and checkpoint LSN, bytes on\n"
    "    disk, map size, and how many kinds, actors, journal entries,\n"
    "    outbox messages, snapshots, timers (how many are due now, when\n"
    "    the next is due) and dictionaries it holds.\n"
    "    Then, from one scan of the actors, the outbox and the journal:\n"
    "    bytes per journal entry, the compression ratio of the journal\n"
    "    (payload bytes before compression / bytes of the stored records,\n"
    "    headers included), the oldest and newest entry, and per kind its\n"
    "    id, dictionary, actors, journal entries, bytes and outbox depth;\n"
    "    and the tokens of the replies to calls whose body is a chat\n"
    "    completion (libmnemo-llm), in all and per kind.\n"
    "    The actors scan also counts broken actors: those whose latest\n"
    "    snapshot or journal after it cannot be read (`mnemo ls --broken`\n"
    "    lists them and why). When a later scan stops at a damaged\n"
    "    record, what was counted is printed before the error.\n"
    "\n"
    "OPTIONS\n"
    "    -j, --json   JSON lines: one \"store\" record, then one \"kind\"\n"
    "                 record per kind\n"
    "    -q, --quick  skip the scans (they read every journal entry):\n"
    "                 counts and sizes only\n"
    "    -h, --help   this text\n"
    "\n"
    "EXIT STATUS\n"
    "    0 success; 1 a damaged record stopped a scan; 2 usage error, or\n"
    "    the store cannot be opened.\n"
    "\n"
    "EXAMPLE\n"
    "    mnemo stats ./data\n"
    "    mnemo stats --json ./data | jq 'select(.record == \"store\")'\n";

/* Per kind; the last slot collects what names no known kind. */
typedef struct kstat {
	uint32_t id, dict;
	char name[MN_KIND_NAME_MAX + 1];
	uint64_t actors, entries, payload, stored, outbox;
	mn_llm_usage tokens; /* chat-completion replies (libmnemo-llm) */
} kstat;

typedef struct sstate {
	kstat kinds[MN_KINDS_MAX + 1];
	unsigned nkinds;
	/* Actor id -> kind id, in id order (the actors scan's order). */
	struct act {
		uint64_t id;
		uint32_t kind_id;
	} * acts;
	size_t nacts, cap;
	uint64_t entries, payload, stored, oldest_ms, newest_ms;
	uint64_t outbox, outbox_payload, outbox_stored;
	uint64_t timers_due, next_timer_ms;
	mn_llm_usage tokens;
	/* The actors scan checked every actor's history: broken of them
	 * cannot be brought back (mn__cli_actor_check). */
	mn__cli *c;
	mn_buf scratch;
	bool checked;
	uint64_t broken;
} sstate;

static kstat *other(sstate *s)
{
	return &s->kinds[MN_KINDS_MAX];
}

static kstat *kind_of(sstate *s, uint32_t id)
{
	/* Kind ids are dense from 1, in registration order. */
	if (id >= 1 && id <= s->nkinds && s->kinds[id - 1].id == id)
		return &s->kinds[id - 1];
	for (unsigned i = 0; i < s->nkinds; i++)
		if (s->kinds[i].id == id)
			return &s->kinds[i];
	return other(s);
}

static int on_kind(void *arg, uint32_t id, const char *name, uint32_t dict)
{
	sstate *s = arg;
	if (s->nkinds == MN_KINDS_MAX)
		return MN__CLI_STOP;
	kstat *k = &s->kinds[s->nkinds++];
	k->id = id;
	k->dict = dict;
	snprintf(k->name, sizeof k->name, "%s", name);
	return 0;
}

static int on_actor(void *arg, const mn__actor_meta *m)
{
	sstate *s = arg;
	kind_of(s, m->kind_id)->actors++;
	if (s->nacts == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 1024;
		struct act *n = realloc(s->acts, cap * sizeof *n);
		if (!n)
			return MN_ENOMEM;
		s->acts = n;
		s->cap = cap;
	}
	s->acts[s->nacts++] = (struct act){m->id, m->kind_id};
	char why[768];
	if (mn__cli_actor_check(s->c, m, &s->scratch, why, sizeof why))
		s->broken++;
	return 0;
}

static int on_outbox(void *arg, const mn__entry *e)
{
	sstate *s = arg;
	s->outbox++;
	s->outbox_payload += e->len;
	s->outbox_stored += e->stored_len;
	kind_of(s, e->kind_id)->outbox++;
	return 0;
}

static int on_timer(void *arg, const mn__wtimer *t)
{
	sstate *s = arg;
	(void)t;
	s->timers_due++;
	return 0;
}

static kstat *kind_of_actor(sstate *s, uint64_t id)
{
	size_t lo = 0, hi = s->nacts;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->acts[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < s->nacts && s->acts[lo].id == id)
		return kind_of(s, s->acts[lo].kind_id);
	/* Created after the actors scan (a live store), or damage that
	 * verify reports. */
	return other(s);
}

static int on_entry(void *arg, const mn__entry *e)
{
	sstate *s = arg;
	kstat *k = kind_of_actor(s, e->actor_id);
	s->entries++;
	s->payload += e->len;
	s->stored += e->stored_len;
	if (e->unix_ms && (!s->oldest_ms || e->unix_ms < s->oldest_ms))
		s->oldest_ms = e->unix_ms;
	if (e->unix_ms > s->newest_ms)
		s->newest_ms = e->unix_ms;
	k->entries++;
	k->payload += e->len;
	k->stored += e->stored_len;
	mn_llm_usage u;
	if (mn__entry_tokens(e, &u) == 0) {
		mn_llm_usage_add(&s->tokens, &u);
		mn_llm_usage_add(&k->tokens, &u);
	}
	return 0;
}

static double ratio(uint64_t a, uint64_t b)
{
	return b ? (double)a / (double)b : NAN;
}

static void print_text(mn__cli *c, const mn__store_stats *st, sstate *s,
		       bool scanned)
{
	FILE *f = c->out;
	char sz[32], t[MN__CLI_TIME_CAP];
	fprintf(f, "%-20s%s\n", "store", c->path);
	fprintf(f, "%-20s%u\n", "format version", st->format_version);
	fprintf(f, "%-20s%llu\n", "last LSN", (unsigned long long)st->last_lsn);
	fprintf(f, "%-20s%llu\n", "checkpoint LSN",
		(unsigned long long)st->checkpoint_lsn);
	mn__cli_size(sz, st->disk_bytes);
	fprintf(f, "%-20s%llu (%s)\n", "disk bytes",
		(unsigned long long)st->disk_bytes, sz);
	mn__cli_size(sz, st->map_size);
	fprintf(f, "%-20s%llu (%s)\n", "map size",
		(unsigned long long)st->map_size, sz);
	fprintf(f, "%-20s%llu\n", "kinds", (unsigned long long)st->kinds);
	fprintf(f, "%-20s%llu\n", "actors", (unsigned long long)st->actors);
	if (s->checked)
		fprintf(f, "%-20s%llu%s\n", "broken actors",
			(unsigned long long)s->broken,
			s->broken ? " (mnemo ls --broken)" : "");
	fprintf(f, "%-20s%llu\n", "journal entries",
		(unsigned long long)st->log_entries);
	fprintf(f, "%-20s%llu\n", "outbox", (unsigned long long)st->outbox);
	fprintf(f, "%-20s%llu\n", "quarantine",
		(unsigned long long)st->quarantine);
	fprintf(f, "%-20s%llu\n", "snapshots",
		(unsigned long long)st->snapshots);
	fprintf(f, "%-20s%llu", "timers", (unsigned long long)st->timers);
	if (st->timers) {
		mn__cli_time(t, s->next_timer_ms);
		fprintf(f, " (%llu due now; next due %s)",
			(unsigned long long)s->timers_due, t);
	}
	fputc('\n', f);
	fprintf(f, "%-20s%llu\n", "dictionaries",
		(unsigned long long)st->dicts);
	if (st->log_entries) {
		fprintf(f, "%-20s%.1f bytes (data file / journal entries)\n",
			"disk per entry",
			(double)st->disk_bytes / (double)st->log_entries);
		mn__cli_size(sz, st->log_bytes);
		fprintf(f, "%-20s%.1f bytes (log pages, %s)\n", "log per entry",
			(double)st->log_bytes / (double)st->log_entries, sz);
	}
	if (!scanned)
		return;
	fprintf(f, "%-20s%llu (before compression)\n", "payload bytes",
		(unsigned long long)s->payload);
	fprintf(f, "%-20s%llu (records as stored: frame, header, payload)\n",
		"stored bytes", (unsigned long long)s->stored);
	if (s->stored)
		fprintf(f, "%-20s%.2f (payload bytes / stored bytes)\n",
			"compression ratio", ratio(s->payload, s->stored));
	if (s->tokens.replies)
		fprintf(f,
			"%-20s%llu (prompt %llu, completion %llu; %llu chat "
			"completions)\n",
			"llm tokens",
			(unsigned long long)s->tokens.total_tokens,
			(unsigned long long)s->tokens.prompt_tokens,
			(unsigned long long)s->tokens.completion_tokens,
			(unsigned long long)s->tokens.replies);
	mn__cli_time(t, s->oldest_ms);
	fprintf(f, "%-20s%s\n", "oldest entry", t);
	mn__cli_time(t, s->newest_ms);
	fprintf(f, "%-20s%s\n", "newest entry", t);

	int w = 4;
	for (unsigned i = 0; i < s->nkinds; i++)
		if ((int)strlen(s->kinds[i].name) > w)
			w = (int)strlen(s->kinds[i].name);
	if (w < 7)
		w = 7;
	fprintf(f, "\n%-*s %5s %5s %9s %9s %12s %12s %6s %8s\n", w, "kind",
		"id", "dict", "actors", "entries", "payload", "stored", "ratio",
		"outbox");
	kstat *o = other(s);
	for (unsigned i = 0; i <= s->nkinds; i++) {
		kstat *k = i < s->nkinds ? &s->kinds[i] : o;
		if (k == o && !o->actors && !o->entries && !o->outbox)
			break;
		char r[16] = "-";
		if (k->stored)
			snprintf(r, sizeof r, "%.2f",
				 ratio(k->payload, k->stored));
		if (k == o)
			fprintf(f, "%-*s %5s %5s", w, "(other)", "-", "-");
		else
			fprintf(f, "%-*s %5u %5u", w, k->name, k->id, k->dict);
		fprintf(f, " %9llu %9llu %12llu %12llu %6s %8llu\n",
			(unsigned long long)k->actors,
			(unsigned long long)k->entries,
			(unsigned long long)k->payload,
			(unsigned long long)k->stored, r,
			(unsigned long long)k->outbox);
	}
	if (!s->tokens.replies)
		return;
	fprintf(f, "\n%-*s %9s %12s %12s %12s\n", w, "kind", "llm", "prompt",
		"completion", "tokens");
	for (unsigned i = 0; i <= s->nkinds; i++) {
		kstat *k = i < s->nkinds ? &s->kinds[i] : o;
		if (!k->tokens.replies)
			continue;
		fprintf(f, "%-*s %9llu %12llu %12llu %12llu\n", w,
			k == o ? "(other)" : k->name,
			(unsigned long long)k->tokens.replies,
			(unsigned long long)k->tokens.prompt_tokens,
			(unsigned long long)k->tokens.completion_tokens,
			(unsigned long long)k->tokens.total_tokens);
	}
}

/* Chat-completion replies and their tokens (libmnemo-llm). */
static void jw_tokens(mn__jw *w, const mn_llm_usage *u)
{
	mn__jw_u64(w, "llm_replies", u->replies);
	mn__jw_u64(w, "prompt_tokens", u->prompt_tokens);
	mn__jw_u64(w, "completion_tokens", u->completion_tokens);
	mn__jw_u64(w, "total_tokens", u->total_tokens);
}

static void print_json(mn__cli *c, const mn__store_stats *st, sstate *s,
		       bool scanned)
{
	mn__jw w;
	mn__jw_begin(&w, c->out, "store");
	mn__jw_str(&w, "path", c->path);
	mn__jw_u64(&w, "format_version", st->format_version);
	mn__jw_u64(&w, "last_lsn", st->last_lsn);
	mn__jw_u64(&w, "checkpoint_lsn", st->checkpoint_lsn);
	mn__jw_u64(&w, "disk_bytes", st->disk_bytes);
	mn__jw_u64(&w, "map_size", st->map_size);
	mn__jw_u64(&w, "page_size", st->page_size);
	mn__jw_u64(&w, "kinds", st->kinds);
	mn__jw_u64(&w, "actors", st->actors);
	if (s->checked)
		mn__jw_u64(&w, "broken_actors", s->broken);
	mn__jw_u64(&w, "names", st->names);
	mn__jw_u64(&w, "journal_entries", st->log_entries);
	mn__jw_u64(&w, "outbox", st->outbox);
	mn__jw_u64(&w, "quarantine", st->quarantine);
	mn__jw_u64(&w, "snapshots", st->snapshots);
	mn__jw_u64(&w, "timers", st->timers);
	mn__jw_u64(&w, "timers_due", s->timers_due);
	mn__jw_time(&w, "next_timer", s->next_timer_ms);
	mn__jw_u64(&w, "dictionaries", st->dicts);
	mn__jw_u64(&w, "log_bytes", st->log_bytes);
	mn__jw_num(&w, "disk_bytes_per_entry",
		   ratio(st->disk_bytes, st->log_entries));
	mn__jw_num(&w, "log_bytes_per_entry",
		   ratio(st->log_bytes, st->log_entries));
	if (scanned) {
		mn__jw_u64(&w, "scanned_entries", s->entries);
		mn__jw_u64(&w, "payload_bytes", s->payload);
		mn__jw_u64(&w, "stored_bytes", s->stored);
		mn__jw_num(&w, "compression_ratio",
			   ratio(s->payload, s->stored));
		mn__jw_u64(&w, "outbox_payload_bytes", s->outbox_payload);
		mn__jw_u64(&w, "outbox_stored_bytes", s->outbox_stored);
		mn__jw_time(&w, "oldest_entry", s->oldest_ms);
		mn__jw_time(&w, "newest_entry", s->newest_ms);
		jw_tokens(&w, &s->tokens);
	}
	mn__jw_end(&w);

	kstat *o = other(s);
	for (unsigned i = 0; i <= s->nkinds; i++) {
		kstat *k = i < s->nkinds ? &s->kinds[i] : o;
		if (k == o &&
		    (!scanned || (!o->actors && !o->entries && !o->outbox)))
			break;
		mn__jw_begin(&w, c->out, "kind");
		if (k == o) {
			mn__jw_null(&w, "id");
			mn__jw_null(&w, "name");
			mn__jw_null(&w, "dict_id");
		} else {
			mn__jw_u64(&w, "id", k->id);
			mn__jw_str(&w, "name", k->name);
			mn__jw_u64(&w, "dict_id", k->dict);
		}
		if (scanned) {
			mn__jw_u64(&w, "actors", k->actors);
			mn__jw_u64(&w, "journal_entries", k->entries);
			mn__jw_u64(&w, "payload_bytes", k->payload);
			mn__jw_u64(&w, "stored_bytes", k->stored);
			mn__jw_num(&w, "compression_ratio",
				   ratio(k->payload, k->stored));
			mn__jw_u64(&w, "outbox", k->outbox);
			jw_tokens(&w, &k->tokens);
		}
		mn__jw_end(&w);
	}
}

static int on_option(mn__cli *c, int ch, const char *arg, void *quick)
{
	(void)c;
	(void)arg;
	(void)ch; /* 'q' */
	*(bool *)quick = true;
	return 0;
}

static const mn__cli_spec spec = {
    .name = "stats",
    .synopsis = synopsis,
    .help = help,
    .shortopts = "q",
    .opts = (const struct option[]){{"quick", no_argument, NULL, 'q'},
				    {NULL, 0, NULL, 0}},
    .json = true,
    .nargs = 1,
    .option = on_option};

int mn__cmd_stats(int argc, char **argv, FILE *out, FILE *err)
{
	mn__cli c;
	mn__store_stats st;
	bool quick = false;
	char **args;
	int rc;

	if ((rc = mn__cli_begin(&c, &spec, &quick, argc, argv, out, err,
				&args)) != MN__CLI_GO)
		return rc;
	if ((rc = mn__cli_open(&c)))
		return rc;

	sstate *s = calloc(1, sizeof *s);
	if (!s) {
		rc = mn__cli_store_fail(&c, MN_ENOMEM, "counting");
		goto out_close;
	}
	mn__cli_clear_detail();
	if ((rc = mn__store_stats_get(c.store, &st))) {
		rc = mn__cli_store_fail(&c, rc, "reading the statistics");
		goto out_free;
	}
	if ((rc = mn__store_kinds_scan(c.store, on_kind, s)) < 0) {
		rc = mn__cli_store_fail(&c, rc, "listing kinds");
		goto out_free;
	}
	mn__cli_clear_detail();
	if ((rc = mn__store_timers_due(c.store, mn__unix_ms(), SIZE_MAX,
				       on_timer, s))) {
		rc = mn__cli_store_fail(&c, rc, "reading timers");
		goto out_free;
	}
	s->next_timer_ms = mn__store_timers_next(c.store);
	if (!quick) {
		s->c = &c;
		if ((rc = mn__store_actors_scan(c.store, on_actor, s))) {
			rc = mn__cli_store_fail(&c, rc, "scanning actors");
			goto out_free;
		}
		s->checked = true;
		const char *what = "scanning the outbox";
		mn__cli_clear_detail();
		rc = mn__store_outbox_scan(c.store, c.codec, on_outbox, s);
		if (!rc) {
			what = "scanning the journal";
			rc = mn__store_log_scan(c.store, c.codec, 0, on_entry,
						s);
		}
		if (rc) {
			/* Damage stops the scan: show what was counted
			 * (the broken actors above all) before the error. */
			if (c.json)
				print_json(&c, &st, s, false);
			else
				print_text(&c, &st, s, false);
			rc = mn__cli_store_fail(&c, rc, what);
			goto out_free;
		}
	}
	if (c.json)
		print_json(&c, &st, s, !quick);
	else
		print_text(&c, &st, s, !quick);
	rc = MN__CLI_OK;
out_free:
	mn__buf_free(&s->scratch);
	free(s->acts);
	free(s);
out_close:
	mn__cli_close(&c);
	return rc;
}
