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
#include "storage/store_int.h"

int mn__store_timers_due(mn__store *s, uint64_t now_ms, size_t max,
			 mn__timer_cb cb, void *arg)
{
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_val k, v;
	size_t n = 0;
	int rc = mn__st_txn_begin(s, false, &txn), e;
	if (rc)
		return mn__st_mdb_fail(s, rc, "beginning a read");
	if ((rc = mdb_cursor_open(txn, s->dbi[DB_TIMERS], &c))) {
		mn__st_txn_abort(s, txn);
		return mn__st_mdb_fail(s, rc, "opening timers");
	}
	for (e = mdb_cursor_get(c, &k, &v, MDB_FIRST); e == 0 && n < max;
	     e = mdb_cursor_get(c, &k, &v, MDB_NEXT), n++) {
		const unsigned char *body;
		size_t len;
		char where[48];
		if (k.mv_size != 16) {
			rc = mn__st_fail(s, MN_ECORRUPT, "timers: %zu-byte key",
				  k.mv_size);
			break;
		}
		if (be64_get(k.mv_data) > now_ms)
			break;
		snprintf(where, sizeof where, "%llu",
			 (unsigned long long)be64_get(
				 (unsigned char *)k.mv_data + 8));
		if ((rc = mn__frame_open(s, &v, R_TIMER, DB_TIMERS, MN__FRAME_NAMED, where, &body,
				     &len)))
			break;
		Mnemo__Timer *t = mnemo__timer__unpack(mn__arena_for(len), len, body);
		if (!t) {
			rc = mn__st_fail(s, MN_ECORRUPT, "timers record %s: undecodable",
				  where);
			break;
		}
		mn__wtimer wt = {.id = t->id,
				 .actor_id = t->actor_id,
				 .due_unix_ms = t->due_unix_ms,
				 .type = t->type,
				 .payload = t->payload.data,
				 .len = t->payload.len};
		if ((rc = cb(arg, &wt)))
			break;
	}
	mdb_cursor_close(c);
	mn__st_txn_abort(s, txn);
	return rc;
}

bool mn__store_timer_exists(mn__store *s, uint64_t due_unix_ms, uint64_t id)
{
	MDB_txn *txn;
	unsigned char tk[16];
	MDB_val k = {.mv_size = 16, .mv_data = tk}, v;
	be64_put(tk, due_unix_ms);
	be64_put(tk + 8, id);
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
		if (mdb_cursor_get(c, &k, &v, MDB_FIRST) == 0 && k.mv_size == 16)
			due = be64_get(k.mv_data);
		mdb_cursor_close(c);
	}
	mn__st_txn_abort(s, txn);
	return due;
}

int mn__store_log_scan(mn__store *s, mn__codec *codec, uint64_t from_lsn,
		       mn__entry_cb cb, void *arg)
{
	MDB_txn *txn;
	MDB_cursor *c;
	unsigned char kb[8];
	MDB_val k = {.mv_size = 8, .mv_data = kb}, v;
	mn_buf dst;
	int rc = mn__st_txn_begin(s, false, &txn);
	if (rc)
		return mn__st_mdb_fail(s, rc, "beginning a read");
	if ((rc = mdb_cursor_open(txn, s->dbi[DB_LOG], &c))) {
		mn__st_txn_abort(s, txn);
		return mn__st_mdb_fail(s, rc, "opening the log");
	}
	mn__buf_init(&dst);
	be64_put(kb, from_lsn);
	int e;
	for (e = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); e == 0;
	     e = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		Mnemo__JournalEntry *je;
		if ((rc = mn__st_decode_entry(s, &k, &v, &je)) ||
		    (rc = mn__st_deliver_entry(s, codec, be64_get(k.mv_data), &v, je,
					&dst, cb, arg)))
			break;
	}
	if (!rc && e != MDB_NOTFOUND)
		rc = mn__st_mdb_fail(s, e, "scanning the log");
	mdb_cursor_close(c);
	mn__st_txn_abort(s, txn);
	mn__buf_free(&dst);
	return rc;
}

int mn__store_outbox_scan(mn__store *s, mn__codec *codec, mn__entry_cb cb,
			  void *arg)
{
	return mn__store_outbox_range(s, codec, 0, UINT64_MAX, cb, arg);
}

/* The outbox-shaped records of db (outbox or quarantine) with from_id <=
 * id < to_id. */
int mn__st_outbox_db_range(mn__store *s, mn__codec *codec, int db,
			   uint64_t from_id, uint64_t to_id, mn__entry_cb cb,
			   void *arg)
{
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_val k, v;
	mn_buf dst;
	int rc = mn__st_txn_begin(s, false, &txn);
	if (rc)
		return mn__st_mdb_fail(s, rc, "beginning a read");
	if ((rc = mdb_cursor_open(txn, s->dbi[db], &c))) {
		mn__st_txn_abort(s, txn);
		return mn__st_mdb_fail(s, rc, "opening the outbox");
	}
	mn__buf_init(&dst);
	int e;
	unsigned char fk[8];
	be64_put(fk, from_id);
	k.mv_size = 8;
	k.mv_data = fk;
	for (e = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); e == 0;
	     e = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		char where[48];
		const unsigned char *body;
		size_t len;
		uint64_t id = k.mv_size == 8 ? be64_get(k.mv_data) : 0;
		if (id >= to_id)
			break;
		snprintf(where, sizeof where, "%llu", (unsigned long long)id);
		if ((rc = mn__frame_open(s, &v, R_OUTBOX, db, MN__FRAME_NAMED, where, &body,
				     &len)))
			break;
		Mnemo__OutboxEntry *o =
			mnemo__outbox_entry__unpack(mn__arena_for(len), len, body);
		if (!o || o->id != id || o->target_key.len == 0 ||
		    o->target_key.len > MN_KEY_MAX) {
			rc = mn__st_fail(s, MN_ECORRUPT, "%s record %s: undecodable",
				  mn__st_db_name(db), where);
			break;
		}
		mn__entry en = {0};
		if ((rc = mn__st_unpack_payload(s, codec, o->codec, o->dict_id,
					 o->raw_len, &o->payload, &dst,
					 &en.payload, &en.len,
					 db == DB_OUTBOX ? "outbox record"
							 : "quarantine record",
					 id)))
			break;
		en.lsn = id;
		en.sender_id = o->sender_id;
		en.unix_ms = o->unix_ms;
		en.type = o->type;
		en.flags = o->flags;
		en.kind_id = o->target_kind_id;
		en.key = o->target_key.data;
		en.key_len = o->target_key.len;
		en.stored_len = v.mv_size;
		if ((rc = cb(arg, &en)))
			break;
	}
	if (!rc && e != MDB_NOTFOUND)
		rc = mn__st_mdb_fail(s, e, "scanning the outbox");
	mdb_cursor_close(c);
	mn__st_txn_abort(s, txn);
	mn__buf_free(&dst);
	return rc;
}

int mn__store_outbox_range(mn__store *s, mn__codec *codec, uint64_t from_id,
			   uint64_t to_id, mn__entry_cb cb, void *arg)
{
	return mn__st_outbox_db_range(s, codec, DB_OUTBOX, from_id, to_id, cb, arg);
}

/* ---- inspection (tools) ------------------------------------------------------ */

int mn__store_actors_scan(mn__store *s, mn__actor_cb cb, void *arg)
{
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_val k, v;
	int rc = mn__st_txn_begin(s, false, &txn), e;
	if (rc)
		return mn__st_mdb_fail(s, rc, "beginning a read");
	if ((rc = mdb_cursor_open(txn, s->dbi[DB_ACTORS], &c))) {
		mn__st_txn_abort(s, txn);
		return mn__st_mdb_fail(s, rc, "opening actors");
	}
	for (e = mdb_cursor_get(c, &k, &v, MDB_FIRST); e == 0;
	     e = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		const unsigned char *body;
		size_t len;
		char desc[32];
		uint64_t id = k.mv_size == 8 ? be64_get(k.mv_data) : 0;
		snprintf(desc, sizeof desc, "%llu", (unsigned long long)id);
		if ((rc = mn__frame_open(s, &v, R_ACTOR, DB_ACTORS, MN__FRAME_NAMED, desc, &body,
				     &len)))
			break;
		Mnemo__ActorMeta *m = mnemo__actor_meta__unpack(NULL, len, body);
		if (!m || m->key.len == 0 || m->key.len > MN_KEY_MAX) {
			if (m)
				mnemo__actor_meta__free_unpacked(m, NULL);
			rc = mn__st_fail(s, MN_ECORRUPT, "actors record %s: undecodable",
				  desc);
			break;
		}
		mn__actor_meta out;
		mn__st_meta_copy(s, m, &out);
		mnemo__actor_meta__free_unpacked(m, NULL);
		if ((rc = cb(arg, &out)))
			break;
	}
	if (!rc && e != MDB_NOTFOUND)
		rc = mn__st_mdb_fail(s, e, "scanning actors");
	mdb_cursor_close(c);
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
		[DB_KINDS] = &st->kinds,	 [DB_NAMES] = &st->names,
		[DB_ACTORS] = &st->actors,	 [DB_LOG] = &st->log_entries,
		[DB_SNAPSHOTS] = &st->snapshots, [DB_OUTBOX] = &st->outbox,
		[DB_TIMERS] = &st->timers,	 [DB_DICTS] = &st->dicts,
		[DB_QUARANTINE] = &st->quarantine,
	};
	for (int i = 0; i < DB_COUNT; i++) {
		if (!counts[i] || (i == DB_QUARANTINE && s->no_quarantine))
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

