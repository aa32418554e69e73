/*
 * inspect.c - scans of whole databases: the log, the outbox (and the
 * quarantine's records), actors, timers, and store statistics. Each scan
 * reads inside one read transaction, with the cursor helper of scan.h.
 *
 * Threads: any (the runtime's timer and outbox threads, the tools).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/frame.h"
#include "storage/scan.h"
#include "storage/store_int.h"

typedef struct due_scan {
	mn__store *s;
	uint64_t now_ms;
	size_t max, n;
	mn__timer_cb cb;
	void *arg;
} due_scan;

static int due_timer(void *arg, mn__scan_at *at)
{
	due_scan *d = arg;
	mn__store *s = d->s;
	const unsigned char *body;
	size_t len;
	char where[48];
	int rc;
	if (d->n == d->max) {
		at->stop = true;
		return 0;
	}
	d->n++;
	if (at->k.mv_size != 16)
		return mn__st_fail(s, MN_ECORRUPT, "timers: %zu-byte key",
				   at->k.mv_size);
	if (mn__be64_get(at->k.mv_data) > d->now_ms) {
		at->stop = true;
		return 0;
	}
	snprintf(where, sizeof where, "%llu",
		 (unsigned long long)mn__be64_get(
		     (unsigned char *)at->k.mv_data + 8));
	if ((rc = mn__frame_open(s, &at->v, R_TIMER, DB_TIMERS, MN__FRAME_NAMED,
				 where, &body, &len)))
		return rc;
	Mnemo__Timer *t = mnemo__timer__unpack(mn__arena_for(len), len, body);
	if (!t)
		return mn__st_fail(s, MN_ECORRUPT,
				   "timers record %s: undecodable", where);
	mn__wtimer wt = {.id = t->id,
			 .actor_id = t->actor_id,
			 .due_unix_ms = t->due_unix_ms,
			 .type = t->type,
			 .payload = t->payload.data,
			 .len = t->payload.len};
	return d->cb(d->arg, &wt);
}

int mn__store_timers_due(mn__store *s, uint64_t now_ms, size_t max,
			 mn__timer_cb cb, void *arg)
{
	MDB_txn *txn;
	due_scan d = {s, now_ms, max, 0, cb, arg};
	/* Timers are read again at the next tick: a failed read ends this
	 * one quietly (reading: NULL). */
	mn__scan_spec sp = {.dbi = s->dbi[DB_TIMERS],
			    .opening = "opening timers"};
	int rc = mn__st_txn_begin(s, false, &txn);
	if (rc)
		return mn__st_mdb_fail(s, rc, "beginning a read");
	rc = mn__scan(s, txn, &sp, due_timer, &d);
	mn__st_txn_abort(s, txn);
	return rc;
}

bool mn__store_timer_exists(mn__store *s, uint64_t due_unix_ms, uint64_t id)
{
	MDB_txn *txn;
	unsigned char tk[16];
	MDB_val k = {.mv_size = 16, .mv_data = tk}, v;
	mn__be64_put(tk, due_unix_ms);
	mn__be64_put(tk + 8, id);
	if (mn__st_txn_begin(s, false, &txn))
		return false;
	bool found = mdb_get(txn, s->dbi[DB_TIMERS], &k, &v) == 0;
	mn__st_txn_abort(s, txn);
	return found;
}

uint64_t mn__store_timers_next(mn__store *s)
{
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_val k, v;
	uint64_t due = 0;
	if (mn__st_txn_begin(s, false, &txn))
		return 0;
	if (mdb_cursor_open(txn, s->dbi[DB_TIMERS], &c) == 0) {
		if (mdb_cursor_get(c, &k, &v, MDB_FIRST) == 0 &&
		    k.mv_size == 16)
			due = mn__be64_get(k.mv_data);
		mdb_cursor_close(c);
	}
	mn__st_txn_abort(s, txn);
	return due;
}

typedef struct log_scan {
	mn__store *s;
	mn__codec *codec;
	mn_buf dst;
	mn__entry_cb cb;
	void *arg;
} log_scan;

static int log_record(void *arg, mn__scan_at *at)
{
	log_scan *l = arg;
	Mnemo__JournalEntry *je;
	int rc = mn__st_decode_entry(l->s, &at->k, &at->v, &je);
	if (rc)
		return rc;
	return mn__st_deliver_entry(l->s, l->codec, mn__be64_get(at->k.mv_data),
				    &at->v, je, &l->dst, l->cb, l->arg);
}

int mn__store_log_scan(mn__store *s, mn__codec *codec, uint64_t from_lsn,
		       mn__entry_cb cb, void *arg)
{
	MDB_txn *txn;
	unsigned char kb[8];
	MDB_val k = {.mv_size = 8, .mv_data = kb};
	log_scan l = {.s = s, .codec = codec, .cb = cb, .arg = arg};
	mn__scan_spec sp = {.dbi = s->dbi[DB_LOG],
			    .from = &k,
			    .opening = "opening the log",
			    .reading = "scanning the log"};
	int rc = mn__st_txn_begin(s, false, &txn);
	if (rc)
		return mn__st_mdb_fail(s, rc, "beginning a read");
	mn__buf_init(&l.dst);
	mn__be64_put(kb, from_lsn);
	rc = mn__scan(s, txn, &sp, log_record, &l);
	mn__st_txn_abort(s, txn);
	mn__buf_free(&l.dst);
	return rc;
}

int mn__store_outbox_scan(mn__store *s, mn__codec *codec, mn__entry_cb cb,
			  void *arg)
{
	return mn__store_outbox_range(s, codec, 0, UINT64_MAX, cb, arg);
}

typedef struct outbox_scan {
	mn__store *s;
	mn__codec *codec;
	int db;
	uint64_t to_id;
	mn_buf dst;
	mn__entry_cb cb;
	void *arg;
} outbox_scan;

static int outbox_record(void *arg, mn__scan_at *at)
{
	outbox_scan *o = arg;
	mn__store *s = o->s;
	char where[48];
	const unsigned char *body;
	size_t len;
	int rc;
	uint64_t id = at->k.mv_size == 8 ? mn__be64_get(at->k.mv_data) : 0;
	if (id >= o->to_id) {
		at->stop = true;
		return 0;
	}
	snprintf(where, sizeof where, "%llu", (unsigned long long)id);
	if ((rc = mn__frame_open(s, &at->v, R_OUTBOX, o->db, MN__FRAME_NAMED,
				 where, &body, &len)))
		return rc;
	Mnemo__OutboxEntry *oe =
	    mnemo__outbox_entry__unpack(mn__arena_for(len), len, body);
	if (!oe || oe->id != id || oe->target_key.len == 0 ||
	    oe->target_key.len > MN_KEY_MAX)
		return mn__st_fail(s, MN_ECORRUPT, "%s record %s: undecodable",
				   mn__st_db_name(o->db), where);
	mn__entry en = {0};
	if ((rc = mn__st_unpack_payload(
		 s, o->codec, oe->codec, oe->dict_id, oe->raw_len, &oe->payload,
		 &o->dst, &en.payload, &en.len,
		 o->db == DB_OUTBOX ? "outbox record" : "quarantine record",
		 id)))
		return rc;
	en.lsn = id;
	en.sender_id = oe->sender_id;
	en.unix_ms = oe->unix_ms;
	en.type = oe->type;
	en.flags = oe->flags;
	en.kind_id = oe->target_kind_id;
	en.key = oe->target_key.data;
	en.key_len = oe->target_key.len;
	en.stored_len = at->v.mv_size;
	return o->cb(o->arg, &en);
}

int mn__st_outbox_db_range(mn__store *s, mn__codec *codec, int db,
			   uint64_t from_id, uint64_t to_id, mn__entry_cb cb,
			   void *arg)
{
	MDB_txn *txn;
	unsigned char fk[8];
	MDB_val k = {.mv_size = 8, .mv_data = fk};
	outbox_scan o = {.s = s,
			 .codec = codec,
			 .db = db,
			 .to_id = to_id,
			 .cb = cb,
			 .arg = arg};
	mn__scan_spec sp = {.dbi = s->dbi[db],
			    .from = &k,
			    .opening = "opening the outbox",
			    .reading = "scanning the outbox"};
	int rc = mn__st_txn_begin(s, false, &txn);
	if (rc)
		return mn__st_mdb_fail(s, rc, "beginning a read");
	mn__buf_init(&o.dst);
	mn__be64_put(fk, from_id);
	rc = mn__scan(s, txn, &sp, outbox_record, &o);
	mn__st_txn_abort(s, txn);
	mn__buf_free(&o.dst);
	return rc;
}

int mn__store_outbox_range(mn__store *s, mn__codec *codec, uint64_t from_id,
			   uint64_t to_id, mn__entry_cb cb, void *arg)
{
	return mn__st_outbox_db_range(s, codec, DB_OUTBOX, from_id, to_id, cb,
				      arg);
}

/* ---- inspection (tools)
 * ------------------------------------------------------ */

typedef struct actor_scan {
	mn__store *s;
	mn__actor_cb cb;
	void *arg;
} actor_scan;

static int actor_record(void *arg, mn__scan_at *at)
{
	actor_scan *a = arg;
	mn__store *s = a->s;
	const unsigned char *body;
	size_t len;
	char desc[32];
	int rc;
	uint64_t id = at->k.mv_size == 8 ? mn__be64_get(at->k.mv_data) : 0;
	snprintf(desc, sizeof desc, "%llu", (unsigned long long)id);
	if ((rc = mn__frame_open(s, &at->v, R_ACTOR, DB_ACTORS, MN__FRAME_NAMED,
				 desc, &body, &len)))
		return rc;
	Mnemo__ActorMeta *m = mnemo__actor_meta__unpack(NULL, len, body);
	if (!m || m->key.len == 0 || m->key.len > MN_KEY_MAX) {
		if (m)
			mnemo__actor_meta__free_unpacked(m, NULL);
		return mn__st_fail(s, MN_ECORRUPT,
				   "actors record %s: undecodable", desc);
	}
	mn__actor_meta out;
	mn__st_meta_copy(s, m, &out);
	mnemo__actor_meta__free_unpacked(m, NULL);
	return a->cb(a->arg, &out);
}

int mn__store_actors_scan(mn__store *s, mn__actor_cb cb, void *arg)
{
	MDB_txn *txn;
	actor_scan a = {s, cb, arg};
	mn__scan_spec sp = {.dbi = s->dbi[DB_ACTORS],
			    .opening = "opening actors",
			    .reading = "scanning actors"};
	int rc = mn__st_txn_begin(s, false, &txn);
	if (rc)
		return mn__st_mdb_fail(s, rc, "beginning a read");
	rc = mn__scan(s, txn, &sp, actor_record, &a);
	mn__st_txn_abort(s, txn);
	return rc;
}

int mn__store_stats_get(mn__store *s, mn__store_stats *st)
{
	MDB_txn *txn;
	MDB_stat ms;
	MDB_envinfo ei;
	memset(st, 0, sizeof *st);
	int rc = mn__st_txn_begin(s, false, &txn);
	if (rc)
		return mn__st_mdb_fail(s, rc, "beginning a read");
	uint64_t *counts[DB_COUNT] = {
	    [DB_KINDS] = &st->kinds,	       [DB_NAMES] = &st->names,
	    [DB_ACTORS] = &st->actors,	       [DB_LOG] = &st->log_entries,
	    [DB_SNAPSHOTS] = &st->snapshots,   [DB_OUTBOX] = &st->outbox,
	    [DB_TIMERS] = &st->timers,	       [DB_DICTS] = &st->dicts,
	    [DB_QUARANTINE] = &st->quarantine, [DB_CALLS] = &st->calls,
	    [DB_INGRESS] = &st->ingress,
	};
	for (int i = 0; i < DB_COUNT; i++) {
		if (!counts[i] || (i == DB_QUARANTINE && s->no_quarantine) ||
		    (i == DB_CALLS && s->no_calls) ||
		    (i == DB_INGRESS && s->no_ingress))
			continue;
		if ((rc = mdb_stat(txn, s->dbi[i], &ms))) {
			mn__st_txn_abort(s, txn);
			return mn__st_mdb_fail(s, rc, "stat");
		}
		*counts[i] = ms.ms_entries;
		if (i == DB_LOG)
			st->log_bytes = (ms.ms_branch_pages + ms.ms_leaf_pages +
					 ms.ms_overflow_pages) *
					(uint64_t)ms.ms_psize;
		st->page_size = ms.ms_psize;
	}
	Mnemo__StoreState *state;
	if ((rc = mn__st_read_state(s, txn, &state)) == 0) {
		st->checkpoint_lsn = state->checkpoint_lsn;
		mnemo__store_state__free_unpacked(state, NULL);
	}
	if (!rc)
		rc = mn__st_last_key_u64(s, txn, DB_LOG, &st->last_lsn);
	mn__st_txn_abort(s, txn);
	mdb_env_info(s->env, &ei);
	st->map_size = ei.me_mapsize;
	st->disk_bytes = mn__store_disk_bytes(s);
	st->format_version = MN__FORMAT_VERSION;
	return rc;
}
