/*
 * delete.c - deleting an actor (mn_actor_delete, mnemo rm): a first
 * transaction removes its name, snapshots, timers and messages and writes
 * a marker; steps then drop its entries newest first; the last removes the
 * actor record and the marker. store.h states the protocol.
 *
 * Threads: the writer thread (online), or the tool.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/frame.h"
#include "storage/store_int.h"

/* ---- deleting an actor (mn_actor_delete, mnemo rm) ---------------------------
 * store.h says the protocol. The marker: meta key "del:" + id (big-endian),
 * an R_NAME frame holding the id. */

static void del_key(unsigned char *kb, uint64_t id)
{
	memcpy(kb, "del:", 4);
	be64_put(kb + 4, id);
}

/* 0 marked, MN_ENOACTOR not, or a store error. */
int mn__st_del_marked(mn__store *s, MDB_txn *txn, uint64_t id)
{
	unsigned char kb[DEL_KEY_LEN];
	MDB_val k = {.mv_size = sizeof kb, .mv_data = kb}, v;
	del_key(kb, id);
	int rc = mdb_get(txn, s->dbi[DB_META], &k, &v);
	if (rc == MDB_NOTFOUND)
		return MN_ENOACTOR;
	return rc ? mn__st_mdb_fail(s, rc, "reading a deletion marker") : 0;
}

typedef struct del_op {
	uint64_t id;
	size_t max;
	bool done;
	bool check_forks; /* begin: refuse a parent with live forks */
	mn__delete_stats *st;
} del_op;

/* Delete, in db (outbox-shaped: outbox or quarantine), the records to
 * (kind_id, key), and when drop_from those from id; with rewrite_from,
 * records from id get sender 0 (from outside) instead. */
static int del_outbox_db(mn__store *s, MDB_txn *txn, int db,
			 const Mnemo__ActorMeta *m, bool drop_from,
			 uint64_t *count)
{
	MDB_cursor *c;
	MDB_val k, v;
	uint64_t *fix = NULL;
	size_t nfix = 0, capfix = 0;
	int rc = 0, e;
	if ((e = mdb_cursor_open(txn, s->dbi[db], &c)))
		return mn__st_mdb_fail(s, e, "opening a cursor");
	for (e = mdb_cursor_get(c, &k, &v, MDB_FIRST); e == 0;) {
		const unsigned char *body;
		size_t len;
		char where[32];
		if (k.mv_size != 8) {
			rc = mn__st_fail(s, MN_ECORRUPT, "%s: %zu-byte key",
				  mn__st_db_name(db), k.mv_size);
			break;
		}
		snprintf(where, sizeof where, "%llu",
			 (unsigned long long)be64_get(k.mv_data));
		if ((rc = mn__frame_open(s, &v, R_OUTBOX, db, MN__FRAME_NAMED, where, &body, &len)))
			break;
		Mnemo__OutboxEntry *o = mnemo__outbox_entry__unpack(
		    mn__arena_for(len), len, body);
		if (!o) {
			rc = mn__st_fail(s, MN_ECORRUPT, "%s record %s: undecodable",
				  mn__st_db_name(db), where);
			break;
		}
		bool to = o->target_kind_id == m->kind_id &&
			  o->target_key.len == m->key.len &&
			  memcmp(o->target_key.data, m->key.data,
				 m->key.len) == 0;
		bool from = o->sender_id == m->id;
		if (to || (from && drop_from)) {
			if ((e = mdb_cursor_del(c, 0))) {
				rc = mn__st_mdb_fail(s, e, "deleting a message");
				break;
			}
			(*count)++;
			e = mdb_cursor_get(c, &k, &v, MDB_NEXT);
			continue;
		}
		if (from) {
			if (nfix == capfix) {
				capfix = capfix ? capfix * 2 : 16;
				void *n = realloc(fix, capfix * sizeof *fix);
				if (!n) {
					rc = MN_ENOMEM;
					break;
				}
				fix = n;
			}
			fix[nfix++] = be64_get(k.mv_data);
		}
		e = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	if (!rc && e && e != MDB_NOTFOUND)
		rc = mn__st_mdb_fail(s, e, "reading messages");
	/* Its sends to others stay, as from outside. */
	for (size_t i = 0; i < nfix && !rc; i++) {
		unsigned char kb[8];
		const unsigned char *body;
		size_t len;
		MDB_val fk = {.mv_size = 8, .mv_data = kb}, fv;
		be64_put(kb, fix[i]);
		if ((e = mdb_get(txn, s->dbi[db], &fk, &fv))) {
			rc = mn__st_mdb_fail(s, e, "reading a message");
			break;
		}
		if ((rc = mn__frame_open(s, &fv, R_OUTBOX, db, MN__FRAME_NAMED, "message", &body,
				     &len)))
			break;
		Mnemo__OutboxEntry *o = mnemo__outbox_entry__unpack(
		    mn__arena_for(len), len, body);
		if (!o) {
			rc = mn__st_fail(s, MN_ECORRUPT, "%s: undecodable",
				  mn__st_db_name(db));
			break;
		}
		o->sender_id = 0;
		o->flags |= MN_MSG_EXTERNAL;
		if ((e = mn__frame_put(s, txn, db, &fk, &o->base, R_OUTBOX, 0)))
			rc = mn__st_mdb_fail(s, e, "rewriting a message");
	}
	free(fix);
	return rc;
}

/* MN_EBUSY (detail naming the fork) if actor id has a live fork (one
 * not being deleted), 0 if none, or a store error. One scan of actors. */
static int live_fork(mn__store *s, MDB_txn *txn, uint64_t id)
{
	MDB_cursor *c;
	MDB_val k, v;
	int rc = 0, e;
	if ((e = mdb_cursor_open(txn, s->dbi[DB_ACTORS], &c)))
		return mn__st_mdb_fail(s, e, "opening actors");
	for (e = mdb_cursor_get(c, &k, &v, MDB_FIRST); e == 0;
	     e = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		const unsigned char *body;
		size_t len;
		if (k.mv_size != 8)
			continue;
		if (mn__frame_open(s, &v, R_ACTOR, DB_ACTORS, MN__FRAME_NAMED, "actor", &body, &len))
			continue;
		Mnemo__ActorMeta *f =
		    mnemo__actor_meta__unpack(mn__arena_for(len), len, body);
		if (!f || f->fork_parent_id != id)
			continue;
		uint64_t fid = f->id;
		if ((rc = mn__st_del_marked(s, txn, fid)) == MN_ENOACTOR) {
			rc = mn__st_fail(s, MN_EBUSY,
				  "actor %llu has a live fork (actor %llu) "
				  "that shares its history: delete its forks "
				  "first",
				  (unsigned long long)id,
				  (unsigned long long)fid);
			break;
		}
		if (rc)
			break;
	}
	mdb_cursor_close(c);
	if (!rc && e != MDB_NOTFOUND)
		rc = mn__st_mdb_fail(s, e, "reading actors");
	return rc;
}

static int del_begin_txn(mn__store *s, void *arg, MDB_txn *txn)
{
	del_op *d = arg;
	Mnemo__ActorMeta *m = NULL;
	unsigned char kb[4 + MN_KEY_MAX], sk[16];
	MDB_val k = {.mv_data = kb}, v;
	MDB_cursor *c = NULL;
	int rc, e;

	rc = mn__st_del_marked(s, txn, d->id);
	if (rc != MN_ENOACTOR)
		return rc; /* begun before (0), or an error */
	if ((rc = mn__st_meta_get(s, txn, d->id, &m)))
		return rc;

	/* Its live forks share its history: refused. */
	if (d->check_forks && (rc = live_fork(s, txn, d->id)))
		goto out;

	/* Its name, if it still leads to it. */
	k.mv_data = kb;
	k.mv_size = mn__st_name_key(kb, m->kind_id, m->key.data, m->key.len);
	e = mdb_get(txn, s->dbi[DB_NAMES], &k, &v);
	if (e == 0 && v.mv_size == FRAME_HDR + 8 &&
	    be64_get((const unsigned char *)v.mv_data + FRAME_HDR) == d->id)
		e = mdb_del(txn, s->dbi[DB_NAMES], &k, NULL);
	if (e && e != MDB_NOTFOUND) {
		rc = mn__st_mdb_fail(s, e, "deleting a name");
		goto out;
	}

	/* Its snapshots: keys (id, seq). */
	if ((e = mdb_cursor_open(txn, s->dbi[DB_SNAPSHOTS], &c))) {
		rc = mn__st_mdb_fail(s, e, "opening snapshots");
		goto out;
	}
	be64_put(sk, d->id);
	be64_put(sk + 8, 0);
	k.mv_size = 16;
	k.mv_data = sk;
	e = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	while (e == 0 && k.mv_size == 16 && be64_get(k.mv_data) == d->id) {
		if ((e = mdb_cursor_del(c, 0)))
			break;
		d->st->snapshots++;
		e = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	c = NULL;
	if (e && e != MDB_NOTFOUND) {
		rc = mn__st_mdb_fail(s, e, "deleting snapshots");
		goto out;
	}

	/* Its timers (keys (due, id): every one is looked at). */
	if ((e = mdb_cursor_open(txn, s->dbi[DB_TIMERS], &c))) {
		rc = mn__st_mdb_fail(s, e, "opening timers");
		goto out;
	}
	for (e = mdb_cursor_get(c, &k, &v, MDB_FIRST); e == 0;) {
		const unsigned char *body;
		size_t len;
		if ((rc = mn__frame_open(s, &v, R_TIMER, DB_TIMERS, MN__FRAME_NAMED, "timer", &body,
				     &len)))
			goto out;
		Mnemo__Timer *t =
		    mnemo__timer__unpack(mn__arena_for(len), len, body);
		if (!t) {
			rc = mn__st_fail(s, MN_ECORRUPT, "timers: undecodable");
			goto out;
		}
		if (t->actor_id == d->id) {
			if ((e = mdb_cursor_del(c, 0)))
				break;
			d->st->timers++;
		}
		e = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	c = NULL;
	if (e && e != MDB_NOTFOUND) {
		rc = mn__st_mdb_fail(s, e, "deleting timers");
		goto out;
	}

	if ((rc = del_outbox_db(s, txn, DB_OUTBOX, m, false, &d->st->outbox)) ||
	    (!s->no_quarantine &&
	     (rc = del_outbox_db(s, txn, DB_QUARANTINE, m, true,
				 &d->st->quarantine))))
		goto out;

	/* The marker: from here the deletion finishes, even after a crash. */
	unsigned char mk[DEL_KEY_LEN], mv[FRAME_HDR + 8];
	MDB_val mkv = {.mv_size = sizeof mk, .mv_data = mk},
		mvv = {.mv_size = sizeof mv, .mv_data = mv};
	del_key(mk, d->id);
	be64_put(mv + FRAME_HDR, d->id);
	mn__frame_seal(mv, R_NAME, 8);
	if ((e = mdb_put(txn, s->dbi[DB_META], &mkv, &mvv, 0)))
		rc = mn__st_mdb_fail(s, e, "writing a deletion marker");
out:
	if (c)
		mdb_cursor_close(c);
	mnemo__actor_meta__free_unpacked(m, NULL);
	return rc;
}

static int del_step_txn(mn__store *s, void *arg, MDB_txn *txn)
{
	del_op *d = arg;
	Mnemo__ActorMeta *m = NULL;
	unsigned char kb[8], mk[DEL_KEY_LEN];
	MDB_val k = {.mv_size = 8, .mv_data = kb}, v;
	MDB_val mkv = {.mv_size = sizeof mk, .mv_data = mk};
	int rc, e;

	d->done = false;
	/* This step may drop the newest log entries: no LSN is issued
	 * twice (L1). */
	if ((rc = mn__st_keep_lsn_high(s, txn)))
		return rc;
	if ((rc = mn__st_del_marked(s, txn, d->id)))
		return rc == MN_ENOACTOR
			   ? mn__st_fail(s, MN_EINVAL, "actor %llu: no deletion begun",
				  (unsigned long long)d->id)
			   : rc;
	rc = mn__st_meta_get(s, txn, d->id, &m);
	if (rc && rc != MN_ENOACTOR)
		return rc;
	if (m) {
		/* Newest first along its own chain; a fork's stops at the
		 * parent's entries, a compacted one where the entries end. */
		uint64_t lsn = m->last_lsn, seq = m->last_seq + 1;
		size_t n = 0;
		bool end = false;
		while (!end && n < d->max) {
			const unsigned char *body;
			size_t len;
			if (!lsn) {
				end = true;
				break;
			}
			be64_put(kb, lsn);
			e = mdb_get(txn, s->dbi[DB_LOG], &k, &v);
			if (e == MDB_NOTFOUND) {
				end = true;
				break;
			}
			if (e) {
				rc = mn__st_mdb_fail(s, e, "reading the log");
				goto out;
			}
			if ((rc = mn__frame_open(s, &v, R_ENTRY, DB_LOG, MN__FRAME_NAMED, "entry",
					     &body, &len)))
				goto out;
			Mnemo__JournalEntry *je = mnemo__journal_entry__unpack(
			    mn__arena_for(len), len, body);
			if (!je) {
				rc = mn__st_fail(s, MN_ECORRUPT,
					  "log record %llu: undecodable",
					  (unsigned long long)lsn);
				goto out;
			}
			if (je->actor_id != d->id) {
				end = true; /* the parent's: a fork point */
				break;
			}
			if (je->seq >= seq || je->prev_lsn >= lsn) {
				rc = mn__st_fail(s, MN_ECORRUPT,
					  "log record %llu: actor %llu seq "
					  "%llu, prev_lsn %llu: the chain does "
					  "not move back",
					  (unsigned long long)lsn,
					  (unsigned long long)d->id,
					  (unsigned long long)je->seq,
					  (unsigned long long)je->prev_lsn);
				goto out;
			}
			seq = je->seq;
			uint64_t prev = je->prev_lsn;
			if ((e = mdb_del(txn, s->dbi[DB_LOG], &k, NULL))) {
				rc = mn__st_mdb_fail(s, e, "deleting an entry");
				goto out;
			}
			d->st->entries++;
			n++;
			lsn = prev;
		}
		if (!end) {
			/* More to go: its head moves back. */
			m->last_lsn = lsn;
			m->last_seq = seq - 1;
			rc = mn__st_meta_put(s, txn, m);
			goto out;
		}
		k.mv_size = 8;
		be64_put(kb, d->id);
		if ((e = mdb_del(txn, s->dbi[DB_ACTORS], &k, NULL)) &&
		    e != MDB_NOTFOUND) {
			rc = mn__st_mdb_fail(s, e, "deleting an actor");
			goto out;
		}
	}
	del_key(mk, d->id);
	if ((e = mdb_del(txn, s->dbi[DB_META], &mkv, NULL)) &&
	    e != MDB_NOTFOUND) {
		rc = mn__st_mdb_fail(s, e, "deleting a deletion marker");
		goto out;
	}
	rc = 0;
	d->done = true;
out:
	if (m)
		mnemo__actor_meta__free_unpacked(m, NULL);
	return rc;
}

int mn__store_delete_begin(mn__store *s, uint64_t id, mn__delete_stats *st)
{
	del_op d = {.id = id, .check_forks = true, .st = st};
	return mn__st_write_txn(s, del_begin_txn, &d);
}

int mn__store_delete_begin_unforked(mn__store *s, uint64_t id,
				    mn__delete_stats *st)
{
	del_op d = {.id = id, .st = st};
	return mn__st_write_txn(s, del_begin_txn, &d);
}

int mn__store_delete_check(mn__store *s, uint64_t id)
{
	MDB_txn *txn;
	int rc = mn__st_txn_begin(s, false, &txn);
	if (rc)
		return mn__st_mdb_fail(s, rc, "beginning a read");
	rc = live_fork(s, txn, id);
	mn__st_txn_abort(s, txn);
	return rc;
}

int mn__store_delete_step(mn__store *s, uint64_t id, size_t max, bool *done,
			  mn__delete_stats *st)
{
	del_op d = {.id = id, .max = max ? max : 1, .st = st};
	mn__delete_stats scratch = *st;
	d.st = &scratch;
	int rc = mn__st_write_txn(s, del_step_txn, &d);
	if (rc == 0)
		*st = scratch; /* counted only when committed */
	*done = rc == 0 && d.done;
	return rc;
}

/* Journal entries per deletion step (one transaction). */
#define MN__DELETE_STEP 4096

int mn__store_delete(mn__store *s, uint64_t id, mn__delete_stats *st)
{
	bool done = false;
	int rc = mn__store_delete_begin(s, id, st);
	while (!rc && !done)
		rc = mn__store_delete_step(s, id, MN__DELETE_STEP, &done, st);
	return rc;
}

int mn__store_delete_marked(mn__store *s, uint64_t *ids, size_t cap,
			    size_t *n)
{
	MDB_txn *txn;
	MDB_cursor *c;
	unsigned char kb[DEL_KEY_LEN];
	MDB_val k = {.mv_size = 4, .mv_data = kb}, v;
	int rc = mn__st_txn_begin(s, false, &txn), e;
	*n = 0;
	if (rc)
		return mn__st_mdb_fail(s, rc, "beginning a read");
	if ((rc = mdb_cursor_open(txn, s->dbi[DB_META], &c))) {
		mn__st_txn_abort(s, txn);
		return mn__st_mdb_fail(s, rc, "opening meta");
	}
	memcpy(kb, "del:", 4);
	for (e = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	     e == 0 && k.mv_size == DEL_KEY_LEN &&
	     memcmp(k.mv_data, "del:", 4) == 0;
	     e = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (*n < cap)
			ids[*n] = be64_get((const unsigned char *)k.mv_data + 4);
		(*n)++;
	}
	if (e && e != MDB_NOTFOUND)
		rc = mn__st_mdb_fail(s, e, "reading meta");
	mdb_cursor_close(c);
	mn__st_txn_abort(s, txn);
	return rc;
}

int mn__store_delete_pending(mn__store *s, size_t *n)
{
	uint64_t ids[64];
	size_t got, done = 0;
	int rc;
	*n = 0;
	for (;;) {
		if ((rc = mn__store_delete_marked(s, ids, 64, &got)))
			return rc;
		if (!got)
			break;
		for (size_t i = 0; i < got && i < 64; i++) {
			mn__delete_stats st = {0};
			if ((rc = mn__store_delete(s, ids[i], &st)))
				return rc;
			done++;
		}
	}
	*n = done;
	return 0;
}

