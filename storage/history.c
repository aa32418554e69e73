/*
 * history.c - reading the journal: decoding entries and payloads, the
 * history walk of one actor (back-pointers from the head, across fork
 * boundaries, then forward), why an entry is missing (compacted or
 * damage), and snapshot lookup (a fork falls back to its parent's).
 *
 * Threads: any; decoding uses the thread's arena (frame.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/frame.h"
#include "storage/store_int.h"

/* ---- reading ---------------------------------------------------------------
 */

/* Unpack a journal entry whose frame was already checked. */
static int unpack_entry(const mn__store *s, uint64_t lsn, const MDB_val *v,
			Mnemo__JournalEntry **out)
{
	size_t len = v->mv_size - FRAME_HDR;
	*out = mnemo__journal_entry__unpack(
	    mn__arena_for(len), len, (const uint8_t *)v->mv_data + FRAME_HDR);
	if (!*out)
		return mn__st_fail(s, MN_ECORRUPT,
				   "log record %llu: undecodable",
				   (unsigned long long)lsn);
	return 0;
}

int mn__st_decode_entry(const mn__store *s, const MDB_val *k, const MDB_val *v,
			Mnemo__JournalEntry **out)
{
	const unsigned char *body;
	size_t len;
	uint64_t lsn = k->mv_size == 8 ? mn__be64_get(k->mv_data) : 0;
	/* The record's name is formatted only on failure: this runs for
	 * every entry replayed. */
	int rc = mn__frame_open(s, v, R_ENTRY, DB_LOG, MN__FRAME_QUIET, NULL,
				&body, &len);
	if (rc) {
		char desc[32];
		snprintf(desc, sizeof desc, "%llu", (unsigned long long)lsn);
		return mn__frame_open(s, v, R_ENTRY, DB_LOG, MN__FRAME_NAMED,
				      desc, &body, &len);
	}
	return unpack_entry(s, lsn, v, out);
}

/* "what key" into buf (the record's name in a detail); returns buf. */
static const char *where_of(char *buf, size_t cap, const char *what,
			    uint64_t key)
{
	snprintf(buf, cap, "%s %llu", what, (unsigned long long)key);
	return buf;
}

/* Decompress a record's payload into dst (grown); sets *p and *n. */
int mn__st_unpack_payload(const mn__store *s, mn__codec *codec, uint32_t method,
			  uint32_t dict_id, uint64_t raw_len,
			  const ProtobufCBinaryData *d, mn_buf *dst,
			  const void **p, size_t *n, const char *what,
			  uint64_t key)
{
	/* The record's name is formatted only on failure: this runs for
	 * every payload replayed. */
	char w[96];
	if (method > 255)
		return mn__st_fail(s, MN_ECORRUPT, "%s: codec %u unknown",
				   where_of(w, sizeof w, what, key), method);
	if (method == MN__CODEC_RAW) {
		if (d->len != raw_len)
			return mn__st_fail(s, MN_ECORRUPT,
					   "%s: length %zu, expected %llu",
					   where_of(w, sizeof w, what, key),
					   d->len, (unsigned long long)raw_len);
		*p = d->data;
		*n = d->len;
		return 0;
	}
	if (!codec)
		return mn__st_fail(s, MN_EINVAL, "%s: compressed, no codec",
				   where_of(w, sizeof w, what, key));
	if (raw_len > ((size_t)1 << 31))
		return mn__st_fail(s, MN_ECORRUPT, "%s: raw length %llu",
				   where_of(w, sizeof w, what, key),
				   (unsigned long long)raw_len);
	dst->len = 0;
	int rc = mn__buf_reserve(dst, (size_t)raw_len ? (size_t)raw_len : 1);
	if (rc)
		return rc;
	rc = mn__codec_decompress(codec, (uint8_t)method, dict_id, d->data,
				  d->len, dst->data, (size_t)raw_len);
	if (rc)
		return mn__st_fail(s, rc,
				   "%s: payload does not decompress (codec "
				   "%u, dictionary %u)",
				   where_of(w, sizeof w, what, key), method,
				   dict_id);
	*p = dst->data;
	*n = (size_t)raw_len;
	return 0;
}

int mn__st_deliver_entry(const mn__store *s, mn__codec *codec, uint64_t lsn,
			 const MDB_val *v, Mnemo__JournalEntry *je, mn_buf *dst,
			 mn__entry_cb cb, void *arg)
{
	mn__entry e = {0};
	int rc = mn__st_unpack_payload(s, codec, je->codec, je->dict_id,
				       je->raw_len, &je->payload, dst,
				       &e.payload, &e.len, "log record", lsn);
	if (rc)
		return rc;
	e.lsn = lsn;
	e.actor_id = je->actor_id;
	e.seq = je->seq;
	e.prev_lsn = je->prev_lsn;
	e.sender_id = je->sender_id;
	e.unix_ms = je->unix_ms;
	e.outbox_id = je->outbox_id;
	e.type = je->type;
	e.flags = je->flags;
	e.state_hash = je->state_hash;
	e.kind_version = je->kind_version ? je->kind_version : 1;
	e.timer_ids = je->timer_ids;
	e.n_timer_ids = je->n_timer_ids;
	/* Calls: their intents and hashes, paired (a record with a count
	 * mismatch reads as having none: verify reports it). */
	const void *callp[je->n_calls ? je->n_calls : 1];
	size_t calll[je->n_calls ? je->n_calls : 1];
	if (je->n_calls && je->n_calls == je->n_call_hashes) {
		for (size_t i = 0; i < je->n_calls; i++) {
			callp[i] = je->calls[i].data;
			calll[i] = je->calls[i].len;
		}
		e.calls = callp;
		e.call_lens = calll;
		e.call_hashes = je->call_hashes;
		e.n_calls = je->n_calls;
	}
	e.stored_len = v->mv_size;
	return cb(arg, &e);
}

/* A history walk found no entry at lsn, where actor's seq want_seq
 * belongs (actor 0: the head itself, of actor hint, whose seq the walk
 * does not know yet): compacted away (MN_ECOMPACTED) or damage
 * (MN_ECORRUPT). The history asked for starts at seq after_seq + 1. A
 * fork's first fork_seq entries are its parent's: one missing there was
 * dropped on purpose when the parent (or its parent) was compacted past
 * it. */
int mn__st_missing_entry(mn__store *s, MDB_txn *txn, uint64_t lsn,
			 uint64_t actor, uint64_t want_seq, uint64_t hint,
			 uint64_t after_seq)
{
	Mnemo__ActorMeta *m;
	uint64_t cur = actor ? actor : hint, who = hint ? hint : cur;
	bool head = !actor;
	for (int depth = 0; cur && depth < 64; depth++) {
		if (mn__st_meta_get(s, txn, cur, &m))
			break;
		if (head) {
			/* The head's seq, from the actor record that names
			 * the head. */
			bool named = m->last_lsn == lsn;
			want_seq = m->last_seq;
			head = false;
			if (!named) {
				mnemo__actor_meta__free_unpacked(m, NULL);
				break;
			}
		}
		uint64_t c = m->compacted_seq, parent = m->fork_parent_id,
			 fseq = m->fork_seq;
		mnemo__actor_meta__free_unpacked(m, NULL);
		if (want_seq && want_seq <= c) {
			if (cur == who)
				return mn__st_fail(
				    s, MN_ECOMPACTED,
				    "actor %llu: history up to seq %llu "
				    "was compacted (seq %llu asked for)",
				    (unsigned long long)who,
				    (unsigned long long)c,
				    (unsigned long long)after_seq + 1);
			return mn__st_fail(
			    s, MN_ECOMPACTED,
			    "actor %llu: history up to seq %llu was "
			    "compacted in actor %llu, whose history it "
			    "shares as a fork (seq %llu asked for)",
			    (unsigned long long)who, (unsigned long long)c,
			    (unsigned long long)cur,
			    (unsigned long long)after_seq + 1);
		}
		if (!parent || want_seq > fseq)
			break;
		cur = parent; /* the entry is the fork parent's */
	}
	return mn__st_fail(s, MN_ECORRUPT,
			   "log record %llu: missing (history chain broken)",
			   (unsigned long long)lsn);
}

/* Is the entry at lsn (of parent, seq) where fork actor's history joins its
 * parent's? */
bool mn__st_fork_boundary(mn__store *s, MDB_txn *txn, uint64_t actor,
			  uint64_t parent, uint64_t seq, uint64_t lsn)
{
	Mnemo__ActorMeta *m;
	if (mn__st_meta_get(s, txn, actor, &m))
		return false;
	bool ok = m->fork_parent_id == parent && m->fork_seq == seq &&
		  m->fork_lsn == lsn;
	mnemo__actor_meta__free_unpacked(m, NULL);
	return ok;
}

int mn__store_history(mn__store *s, mn__codec *codec, uint64_t head_lsn,
		      uint64_t after_seq, mn__entry_cb cb, void *arg)
{
	return mn__store_history_of(s, codec, 0, head_lsn, after_seq, cb, arg);
}

int mn__store_history_of(mn__store *s, mn__codec *codec, uint64_t actor_id,
			 uint64_t head_lsn, uint64_t after_seq, mn__entry_cb cb,
			 void *arg)
{
	MDB_txn *txn;
	/* The entries found walking back: their values stay valid for the
	 * whole read transaction, so the forward pass neither looks them up
	 * nor checks their checksums again. */
	struct hist {
		uint64_t lsn;
		MDB_val v;
	} *lsns = NULL;
	size_t n = 0, cap = 0;
	unsigned char kb[8];
	MDB_val k = {.mv_size = 8, .mv_data = kb}, v;
	mn_buf dst;
	uint64_t actor = 0, want_seq = 0;
	int rc = mn__st_txn_begin(s, false, &txn);
	if (rc)
		return mn__st_mdb_fail(s, rc, "beginning a read");
	mn__buf_init(&dst);

	/* Walk back-pointers from the head to the first wanted entry (and
	 * not one further: what comes before may be compacted away). */
	for (uint64_t lsn = head_lsn; lsn;) {
		Mnemo__JournalEntry *je;
		if (actor && want_seq <= after_seq)
			break;
		mn__be64_put(kb, lsn);
		if ((rc = mdb_get(txn, s->dbi[DB_LOG], &k, &v))) {
			rc = rc == MDB_NOTFOUND
				 ? mn__st_missing_entry(s, txn, lsn, actor,
							want_seq, actor_id,
							after_seq)
				 : mn__st_mdb_fail(s, rc, "reading the log");
			goto out;
		}
		if ((rc = mn__st_decode_entry(s, &k, &v, &je)))
			goto out;
		if (actor && je->actor_id != actor && je->seq == want_seq &&
		    mn__st_fork_boundary(s, txn, actor, je->actor_id, want_seq,
					 lsn))
			actor = je->actor_id; /* into the fork's parent */
		if (actor && (je->actor_id != actor || je->seq != want_seq)) {
			rc = mn__st_fail(
			    s, MN_ECORRUPT,
			    "log record %llu: actor %llu seq %llu where "
			    "actor %llu seq %llu belongs",
			    (unsigned long long)lsn,
			    (unsigned long long)je->actor_id,
			    (unsigned long long)je->seq,
			    (unsigned long long)actor,
			    (unsigned long long)want_seq);
			goto out;
		}
		actor = je->actor_id;
		if (je->seq <= after_seq)
			break;
		want_seq = je->seq - 1;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			struct hist *nl = realloc(lsns, cap * sizeof *lsns);
			if (!nl) {
				rc = MN_ENOMEM;
				goto out;
			}
			lsns = nl;
		}
		lsns[n].lsn = lsn;
		lsns[n++].v = v;
		if (je->seq == 1 && je->prev_lsn) {
			rc = mn__st_fail(
			    s, MN_ECORRUPT,
			    "log record %llu: seq 1 with a predecessor",
			    (unsigned long long)lsn);
			goto out;
		}
		lsn = je->prev_lsn;
		if (!lsn && je->seq != 1 && je->seq - 1 > after_seq) {
			rc = mn__st_fail(
			    s, MN_ECORRUPT,
			    "actor %llu: history starts at seq %llu",
			    (unsigned long long)actor,
			    (unsigned long long)je->seq);
			goto out;
		}
	}
	/* Then forward, oldest first. */
	while (n > 0) {
		Mnemo__JournalEntry *je;
		n--;
		if ((rc = unpack_entry(s, lsns[n].lsn, &lsns[n].v, &je)) ||
		    (rc = mn__st_deliver_entry(s, codec, lsns[n].lsn,
					       &lsns[n].v, je, &dst, cb, arg)))
			goto out;
	}
out:
	mn__st_txn_abort(s, txn);
	free(lsns);
	mn__buf_free(&dst);
	return rc;
}

/* The latest snapshot record of actor_id at a seq <= max_seq: 0 and *key,
 * *val; MN_ENOACTOR if there is none. */
int mn__st_snap_find(mn__store *s, MDB_cursor *c, uint64_t actor_id,
		     uint64_t max_seq, MDB_val *key, MDB_val *val)
{
	unsigned char kb[16];
	MDB_val k = {.mv_size = 16, .mv_data = kb}, v;
	int e;
	/* The first key at or after (actor, max_seq): that one if it is
	 * exactly it, else the one before. */
	mn__be64_put(kb, actor_id);
	mn__be64_put(kb + 8, max_seq);
	e = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	if (e == 0 && !(k.mv_size == 16 && memcmp(k.mv_data, kb, 16) == 0))
		e = mdb_cursor_get(c, &k, &v, MDB_PREV);
	else if (e == MDB_NOTFOUND)
		e = mdb_cursor_get(c, &k, &v, MDB_LAST);
	if (e == MDB_NOTFOUND ||
	    (e == 0 &&
	     (k.mv_size != 16 || mn__be64_get(k.mv_data) != actor_id)))
		return MN_ENOACTOR;
	if (e)
		return mn__st_mdb_fail(s, e, "reading snapshots");
	*key = k;
	*val = v;
	return 0;
}

/* Decode the snapshot record at (k, v) of actor_id. *out is allocated in
 * the thread's arena (valid until the next decode of this thread). */
int mn__st_snap_decode(mn__store *s, uint64_t actor_id, const MDB_val *k,
		       const MDB_val *v, Mnemo__Snapshot **out)
{
	char where[64];
	const unsigned char *body;
	size_t len;
	uint64_t sseq = mn__be64_get((unsigned char *)k->mv_data + 8);
	snprintf(where, sizeof where, "%llu/%llu", (unsigned long long)actor_id,
		 (unsigned long long)sseq);
	int rc = mn__frame_open(s, v, R_SNAPSHOT, DB_SNAPSHOTS, MN__FRAME_NAMED,
				where, &body, &len);
	if (rc)
		return rc;
	Mnemo__Snapshot *sn =
	    mnemo__snapshot__unpack(mn__arena_for(len), len, body);
	if (!sn || sn->actor_id != actor_id || sn->seq != sseq)
		return mn__st_fail(s, MN_ECORRUPT,
				   "snapshots record %s: undecodable", where);
	*out = sn;
	return 0;
}

int mn__store_snapshot_latest(mn__store *s, mn__codec *codec, uint64_t actor_id,
			      uint64_t max_seq, mn_buf *out, uint64_t *seq,
			      uint64_t *lsn)
{
	return mn__store_snapshot_latest_v(s, codec, actor_id, max_seq, out,
					   seq, lsn, NULL);
}

int mn__store_snapshot_latest_v(mn__store *s, mn__codec *codec,
				uint64_t actor_id, uint64_t max_seq,
				mn_buf *out, uint64_t *seq, uint64_t *lsn,
				uint32_t *version)
{
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_val k = {0}, v = {0};
	int rc = mn__st_txn_begin(s, false, &txn);
	if (rc)
		return mn__st_mdb_fail(s, rc, "beginning a read");
	if ((rc = mdb_cursor_open(txn, s->dbi[DB_SNAPSHOTS], &c))) {
		mn__st_txn_abort(s, txn);
		return mn__st_mdb_fail(s, rc, "opening snapshots");
	}
	/* A fork without a snapshot of its own at or before max_seq starts
	 * from its parent's latest at or before the fork point. */
	for (int depth = 0;; depth++) {
		rc = mn__st_snap_find(s, c, actor_id, max_seq, &k, &v);
		if (rc != MN_ENOACTOR || depth > 64)
			break;
		Mnemo__ActorMeta *m;
		if (mn__st_meta_get(s, txn, actor_id, &m))
			break; /* MN_ENOACTOR stays: no snapshot */
		uint64_t parent = m->fork_parent_id, fseq = m->fork_seq;
		mnemo__actor_meta__free_unpacked(m, NULL);
		if (!parent)
			break;
		actor_id = parent;
		if (fseq < max_seq)
			max_seq = fseq;
	}
	if (rc == 0) {
		Mnemo__Snapshot *sn = NULL;
		const void *p;
		size_t n;
		if (!(rc = mn__st_snap_decode(s, actor_id, &k, &v, &sn)) &&
		    !(rc = mn__st_unpack_payload(
			  s, codec, sn->codec, sn->dict_id, sn->raw_len,
			  &sn->state, out, &p, &n, "snapshot of actor",
			  actor_id))) {
			if (p != out->data) {
				out->len = 0;
				rc = mn_buf_append(out, p, n);
			}
			out->len = n;
			*seq = sn->seq;
			*lsn = sn->lsn;
			if (version)
				*version =
				    sn->kind_version ? sn->kind_version : 1;
		}
	}
	mdb_cursor_close(c);
	mn__st_txn_abort(s, txn);
	return rc;
}
