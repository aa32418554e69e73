/*
 * write.c - batch writes (mn__store_write): one LMDB transaction per batch,
 * all or nothing, one function per record kind, and a dispatcher that runs
 * them in order and retries the whole batch when the map fills.
 *
 * Owns: LSNs strictly increase in the log (MDB_APPEND); heads only move
 * forward (head_update). Threads: the writer thread only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/frame.h"
#include "storage/store_int.h"

/* ---- writing ---------------------------------------------------------------
 */

/* Compress payload into scratch (grown as needed); sets codec fields. */
static int pack_payload(mn__codec *codec, bool compress, uint32_t dict_id,
			const void *p, size_t len, mn_buf *scratch,
			ProtobufCBinaryData *out, uint32_t *method,
			uint32_t *out_dict)
{
	*method = MN__CODEC_RAW;
	*out_dict = 0;
	out->data = (uint8_t *)p;
	out->len = len;
	if (!codec || !compress || len == 0)
		return 0;
	size_t bound = mn__codec_bound(len), clen;
	uint8_t m;
	scratch->len = 0;
	int rc = mn__buf_reserve(scratch, bound);
	if (rc)
		return rc;
	rc = mn__codec_compress(codec, dict_id, p, len, scratch->data, bound,
				&clen, &m);
	if (rc)
		return rc;
	*method = m;
	if (m != MN__CODEC_RAW) {
		*out_dict = m == MN__CODEC_ZSTD_DICT ? dict_id : 0;
		out->data = scratch->data;
		out->len = clen;
	}
	return 0;
}

/* An outbox record (the outbox, or the quarantine: same record). */
static int put_outbox(mn__store *s, MDB_txn *txn, mn__codec *codec, int db,
		      const mn__woutbox *o, mn_buf *scratch)
{
	Mnemo__OutboxEntry oe = MNEMO__OUTBOX_ENTRY__INIT;
	unsigned char kb[8];
	MDB_val k = {.mv_size = 8, .mv_data = kb};
	int rc;
	oe.id = o->id;
	oe.target_kind_id = o->kind_id;
	oe.target_key.data = (uint8_t *)o->key;
	oe.target_key.len = o->key_len;
	oe.type = o->type;
	oe.flags = o->flags;
	oe.sender_id = o->sender_id;
	oe.unix_ms = o->unix_ms;
	oe.raw_len = o->len;
	if ((rc = pack_payload(codec, o->compress, o->dict_id, o->payload,
			       o->len, scratch, &oe.payload, &oe.codec,
			       &oe.dict_id)))
		return rc;
	mn__be64_put(kb, o->id);
	if ((rc = mn__frame_put(s, txn, db, &k, &oe.base, R_OUTBOX, 0)))
		return mn__st_mdb_fail(s, rc,
				       db == DB_OUTBOX
					   ? "writing the outbox"
					   : "writing the quarantine");
	return 0;
}

/* A head update (checkpoints, evictions): the stored record keeps what it
 * holds (creation time, first entry) and takes the new head, unless it
 * holds a newer one already (heads only move forward: a checkpoint written
 * in pieces may carry an older head than the one an eviction wrote since).
 * Checkpoints write thousands of these per commit, so this is the cheap
 * path: one cursor (opened on first use into *cur) finds the record and
 * replaces it in place, decoding is into the arena, and the record's name
 * is formatted only on failure. Any record the quiet checks refuse (or an
 * arena that could not grow) takes the plain path, meta_get and meta_put,
 * which names what is wrong. */
static int head_update(mn__store *s, MDB_txn *txn, MDB_cursor **cur,
		       const mn__wactor *a)
{
	unsigned char kb[8];
	MDB_val k = {.mv_size = 8, .mv_data = kb}, v;
	const unsigned char *body;
	size_t len;
	int rc;
	Mnemo__ActorMeta *m = NULL;
	if (!*cur && mdb_cursor_open(txn, s->dbi[DB_ACTORS], cur))
		*cur = NULL;
	mn__be64_put(kb, a->id);
	/* MDB_SET, not MDB_SET_KEY: k must keep pointing at kb, since a
	 * put of a new size deletes the node (and its key bytes) first. */
	if (*cur && mdb_cursor_get(*cur, &k, &v, MDB_SET) == 0 &&
	    mn__frame_open(s, &v, R_ACTOR, DB_ACTORS, MN__FRAME_QUIET, NULL,
			   &body, &len) == 0)
		m = mnemo__actor_meta__unpack(mn__arena_for(len), len, body);
	if (!m || m->id != a->id || m->key.len == 0 ||
	    m->key.len > MN_KEY_MAX) {
		Mnemo__ActorMeta *old;
		if ((rc = mn__st_meta_get(s, txn, a->id, &old)))
			return rc;
		if (a->last_lsn > old->last_lsn) {
			old->last_seq = a->last_seq;
			old->last_lsn = a->last_lsn;
			old->last_active_unix_ms = a->last_active_unix_ms;
			rc = mn__st_meta_put(s, txn, old);
		}
		mnemo__actor_meta__free_unpacked(old, NULL);
		return rc;
	}
	if (a->last_lsn <= m->last_lsn)
		return 0;
	m->last_seq = a->last_seq;
	m->last_lsn = a->last_lsn;
	m->last_active_unix_ms = a->last_active_unix_ms;
	len = protobuf_c_message_get_packed_size(&m->base);
	v.mv_size = len + FRAME_HDR;
	v.mv_data = NULL;
	/* The record is replaced where the cursor stands. */
	if ((rc = mdb_cursor_put(*cur, &k, &v, MDB_CURRENT | MDB_RESERVE)))
		return mn__st_mdb_fail(s, rc, "writing an actor");
	protobuf_c_message_pack(&m->base, (uint8_t *)v.mv_data + FRAME_HDR);
	mn__frame_seal(v.mv_data, R_ACTOR, len);
	return 0;
}

/* ---- one function per record kind -------------------------------------------
 * Each writes its part of batch b inside txn and returns 0 or an MN_E* code
 * (the detail set); the dispatcher (write_once) aborts on the first failure.
 */

/* A new actor: its record and its name (one transaction, so a name never
 * leads nowhere). */
static int put_new_actor(mn__store *s, MDB_txn *txn, const mn__wactor *a)
{
	Mnemo__ActorMeta m = MNEMO__ACTOR_META__INIT;
	unsigned char kb[4 + MN_KEY_MAX];
	MDB_val k = {.mv_data = kb};
	int rc;
	m.id = a->id;
	m.kind_id = a->kind_id;
	m.key.data = (uint8_t *)a->key;
	m.key.len = a->key_len;
	m.created_unix_ms = a->created_unix_ms;
	m.last_seq = a->last_seq;
	m.last_lsn = a->last_lsn;
	m.first_lsn = a->first_lsn;
	m.last_active_unix_ms = a->last_active_unix_ms;
	m.compacted_seq = a->compacted_seq;
	m.compacted_lsn = a->compacted_lsn;
	if ((rc = mn__st_meta_put(s, txn, &m)))
		return rc;
	unsigned char *v8;
	MDB_val v = {.mv_size = FRAME_HDR + 8};
	k.mv_size = mn__st_name_key(kb, a->kind_id, a->key, a->key_len);
	if ((rc = mdb_put(txn, s->dbi[DB_NAMES], &k, &v, MDB_RESERVE)))
		return mn__st_mdb_fail(s, rc, "writing a name");
	v8 = v.mv_data;
	mn__be64_put(v8 + FRAME_HDR, a->id);
	mn__frame_seal(v8, R_NAME, 8);
	return 0;
}

/* Actors: new ones created, the others' heads moved forward. */
static int put_actors(mn__store *s, MDB_txn *txn, const mn__wbatch *b)
{
	MDB_cursor *acur = NULL;
	int rc = 0;
	for (size_t i = 0; i < b->n_actors && !rc; i++) {
		const mn__wactor *a = &b->actors[i];
		rc = a->is_new ? put_new_actor(s, txn, a)
			       : head_update(s, txn, &acur, a);
	}
	if (acur)
		mdb_cursor_close(acur);
	return rc;
}

/* One journal entry, appended (its LSN above every stored one). */
static int put_entry(mn__store *s, MDB_txn *txn, mn__codec *codec,
		     const mn__wentry *e, mn_buf *scratch)
{
	Mnemo__JournalEntry je = MNEMO__JOURNAL_ENTRY__INIT;
	unsigned char kb[8];
	MDB_val k = {.mv_size = 8, .mv_data = kb};
	int rc;
	je.actor_id = e->actor_id;
	je.seq = e->seq;
	je.type = e->type;
	je.sender_id = e->sender_id;
	je.unix_ms = e->unix_ms;
	je.prev_lsn = e->prev_lsn;
	je.outbox_id = e->outbox_id;
	je.flags = e->flags;
	je.state_hash = e->state_hash;
	/* Version 1 is stored as 0 (absent): no byte for most entries. */
	je.kind_version = e->kind_version > 1 ? e->kind_version : 0;
	je.n_timer_ids = e->n_timer_ids;
	je.timer_ids = (uint64_t *)e->timer_ids;
	ProtobufCBinaryData callv[e->n_calls ? e->n_calls : 1];
	for (size_t i = 0; i < e->n_calls; i++)
		callv[i] = (ProtobufCBinaryData){
		    .len = e->call_lens[i], .data = (uint8_t *)e->calls[i]};
	je.n_calls = e->n_calls;
	je.calls = callv;
	je.n_call_hashes = e->n_calls;
	je.call_hashes = (uint64_t *)e->call_hashes;
	if (e->compress) {
		je.raw_len = e->len;
		if ((rc = pack_payload(codec, true, e->dict_id, e->payload,
				       e->len, scratch, &je.payload, &je.codec,
				       &je.dict_id)))
			return rc;
	} else {
		/* Already in its stored form. */
		je.codec = e->method;
		je.dict_id = e->method == MN__CODEC_ZSTD_DICT ? e->dict_id : 0;
		je.raw_len = e->method == MN__CODEC_RAW ? e->len : e->raw_len;
		je.payload.data = (uint8_t *)e->payload;
		je.payload.len = e->len;
	}
	mn__be64_put(kb, e->lsn);
	if ((rc = mn__frame_put(s, txn, DB_LOG, &k, &je.base, R_ENTRY,
				MDB_APPEND)))
		return mn__st_mdb_fail(s, rc, "appending to the log");
	return 0;
}

/* The batch's entries, LSNs strictly increasing from *last (updated). */
static int put_entries(mn__store *s, MDB_txn *txn, mn__codec *codec,
		       const mn__wbatch *b, mn_buf *scratch, uint64_t *last)
{
	for (size_t i = 0; i < b->n_entries; i++) {
		const mn__wentry *e = &b->entries[i];
		int rc;
		if (e->lsn <= *last)
			return mn__st_fail(s, MN_EINVAL,
					   "log: LSN %llu not above %llu",
					   (unsigned long long)e->lsn,
					   (unsigned long long)*last);
		*last = e->lsn;
		if ((rc = put_entry(s, txn, codec, e, scratch)))
			return rc;
	}
	return 0;
}

/* Outbox records added, then those delivered removed. */
static int put_outboxes(mn__store *s, MDB_txn *txn, mn__codec *codec,
			const mn__wbatch *b, mn_buf *scratch)
{
	unsigned char kb[8];
	MDB_val k = {.mv_size = 8, .mv_data = kb};
	int rc;
	for (size_t i = 0; i < b->n_outbox; i++)
		if ((rc = put_outbox(s, txn, codec, DB_OUTBOX, &b->outbox[i],
				     scratch)))
			return rc;
	for (size_t i = 0; i < b->n_outbox_del; i++) {
		mn__be64_put(kb, b->outbox_del[i]);
		rc = mdb_del(txn, s->dbi[DB_OUTBOX], &k, NULL);
		if (rc && rc != MDB_NOTFOUND)
			return mn__st_mdb_fail(s, rc,
					       "removing from the outbox");
	}
	return 0;
}

/* Snapshots, keyed (actor, seq). */
static int put_snapshots(mn__store *s, MDB_txn *txn, mn__codec *codec,
			 const mn__wbatch *b, mn_buf *scratch)
{
	for (size_t i = 0; i < b->n_snaps; i++) {
		const mn__wsnap *sn = &b->snaps[i];
		Mnemo__Snapshot ms = MNEMO__SNAPSHOT__INIT;
		unsigned char sk[16];
		int rc;
		ms.actor_id = sn->actor_id;
		ms.seq = sn->seq;
		ms.lsn = sn->lsn;
		ms.raw_len = sn->len;
		ms.state_hash = sn->state_hash;
		ms.kind_version = sn->kind_version > 1 ? sn->kind_version : 0;
		if ((rc = pack_payload(codec, true, sn->dict_id, sn->state,
				       sn->len, scratch, &ms.state, &ms.codec,
				       &ms.dict_id)))
			return rc;
		mn__be64_put(sk, sn->actor_id);
		mn__be64_put(sk + 8, sn->seq);
		MDB_val skv = {.mv_size = 16, .mv_data = sk};
		if ((rc = mn__frame_put(s, txn, DB_SNAPSHOTS, &skv, &ms.base,
					R_SNAPSHOT, 0)))
			return mn__st_mdb_fail(s, rc, "writing a snapshot");
	}
	return 0;
}

/* Timers set, keyed (due, id), then those fired or cancelled removed. */
static int put_timers(mn__store *s, MDB_txn *txn, const mn__wbatch *b)
{
	unsigned char tk[16];
	MDB_val tkv = {.mv_size = 16, .mv_data = tk};
	int rc;
	for (size_t i = 0; i < b->n_timers; i++) {
		const mn__wtimer *t = &b->timers[i];
		Mnemo__Timer mt = MNEMO__TIMER__INIT;
		mt.id = t->id;
		mt.actor_id = t->actor_id;
		mt.due_unix_ms = t->due_unix_ms;
		mt.type = t->type;
		mt.payload.data = (uint8_t *)t->payload;
		mt.payload.len = t->len;
		mn__be64_put(tk, t->due_unix_ms);
		mn__be64_put(tk + 8, t->id);
		if ((rc = mn__frame_put(s, txn, DB_TIMERS, &tkv, &mt.base,
					R_TIMER, 0)))
			return mn__st_mdb_fail(s, rc, "writing a timer");
	}
	for (size_t i = 0; i < b->n_timer_del; i++) {
		mn__be64_put(tk, b->timer_del[i].due_unix_ms);
		mn__be64_put(tk + 8, b->timer_del[i].id);
		rc = mdb_del(txn, s->dbi[DB_TIMERS], &tkv, NULL);
		if (rc && rc != MDB_NOTFOUND)
			return mn__st_mdb_fail(s, rc, "removing a timer");
	}
	return 0;
}

/* Messages of forks, held in the quarantine. */
static int put_quarantine(mn__store *s, MDB_txn *txn, mn__codec *codec,
			  const mn__wbatch *b, mn_buf *scratch)
{
	int rc;
	for (size_t i = 0; i < b->n_quarantine; i++)
		if ((rc = put_outbox(s, txn, codec, DB_QUARANTINE,
				     &b->quarantine[i], scratch)))
			return rc;
	return 0;
}

/* The state record, when the batch moves the checkpoint, reserves LSNs
 * (*last raised to b->lsn_reserved) or hands out actor ids. */
static int put_state(mn__store *s, MDB_txn *txn, const mn__wbatch *b,
		     uint64_t *last)
{
	bool reserve = b->lsn_reserved > *last;
	if (reserve)
		*last = b->lsn_reserved;
	if (!b->checkpoint_lsn && !b->next_actor_id && !reserve)
		return 0;
	Mnemo__StoreState *st;
	int rc = mn__st_read_state(s, txn, &st);
	if (rc)
		return rc;
	if (b->checkpoint_lsn)
		st->checkpoint_lsn = b->checkpoint_lsn;
	if (reserve && *last > st->lsn_high)
		st->lsn_high = *last;
	if (b->next_actor_id > st->next_actor_id)
		st->next_actor_id = b->next_actor_id;
	rc = mn__st_write_state(s, txn, st);
	mnemo__store_state__free_unpacked(st, NULL);
	return rc;
}

/* ---- the batch
 * ---------------------------------------------------------------- */

/* One attempt at batch b: every record kind in one transaction, committed
 * or (on any failure) aborted whole. */
static int write_once(mn__store *s, mn__codec *codec, const mn__wbatch *b,
		      mn_buf *scratch)
{
	MDB_txn *txn;
	uint64_t last = s->last_lsn;
	int rc = mn__st_txn_begin(s, true, &txn);
	if (rc)
		return mn__st_mdb_fail(s, rc, "beginning a write");
	if ((rc = put_actors(s, txn, b)) ||
	    (rc = put_entries(s, txn, codec, b, scratch, &last)) ||
	    (rc = put_outboxes(s, txn, codec, b, scratch)) ||
	    (rc = put_snapshots(s, txn, codec, b, scratch)) ||
	    (rc = put_timers(s, txn, b)) ||
	    (rc = put_quarantine(s, txn, codec, b, scratch)) ||
	    ((b->n_calls || b->n_call_del) &&
	     (rc = mn__st_put_calls(s, txn, b))) ||
	    ((b->n_ingress || b->ingress_prune_ms) &&
	     (rc = mn__st_put_ingress(s, txn, b))) ||
	    (rc = put_state(s, txn, b, &last)))
		goto out_abort_txn;
	if ((rc = mn__st_txn_commit(s, txn)))
		return mn__st_commit_fail(s, rc);
	s->last_lsn = last;
	return 0;

out_abort_txn:
	mn__st_txn_abort(s, txn);
	return rc;
}

int mn__store_write(mn__store *s, mn__codec *codec, const mn__wbatch *b)
{
	mn_buf scratch;
	int rc;

	if (s->read_only)
		return mn__st_fail(s, MN_EINVAL, "opened read-only");
	mn__buf_init(&scratch);
	for (int attempt = 0;; attempt++) {
		if ((rc = mn__st_maybe_grow(s)))
			break;
		mn__st_last_mdb_rc = 0;
		rc = write_once(s, codec, b, &scratch);
		/* A full map is not a full disk: grow it and retry the
		 * whole batch (the transaction was aborted). */
		if (rc == MN_ENOSPC && mn__st_last_mdb_rc == MDB_MAP_FULL &&
		    attempt < 16) {
			if ((rc = mn__st_grow_map(s)))
				break;
			continue;
		}
		break;
	}
	mn__buf_free(&scratch);
	return rc;
}
