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
#include "storage/scan.h"
#include "storage/store_int.h"

/* ---- deleting an actor (mn_actor_delete, mnemo rm)
 * --------------------------- store.h says the protocol. The marker: meta key
 * "del:" + id (big-endian), an R_NAME frame holding the id. */

static void del_key(unsigned char *kb, uint64_t id)
{
	memcpy(kb, "del:", 4);
	mn__be64_put(kb + 4, id);
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

typedef struct msg_scan {
	mn__store *s;
	int db;
	const Mnemo__ActorMeta *m;
	bool drop_from;
	uint64_t *count;
	uint64_t *fix; /* records from the actor, kept: their sender goes */
	size_t nfix, capfix;
} msg_scan;

static int del_message(void *arg, mn__scan_at *at)
{
	msg_scan *ms = arg;
	mn__store *s = ms->s;
	const Mnemo__ActorMeta *m = ms->m;
	const unsigned char *body;
	size_t len;
	char where[32];
	int rc, e;
	if (at->k.mv_size != 8)
		return mn__st_fail(s, MN_ECORRUPT, "%s: %zu-byte key",
				   mn__st_db_name(ms->db), at->k.mv_size);
	snprintf(where, sizeof where, "%llu",
		 (unsigned long long)mn__be64_get(at->k.mv_data));
	if ((rc = mn__frame_open(s, &at->v, R_OUTBOX, ms->db, MN__FRAME_NAMED,
				 where, &body, &len)))
		return rc;
	Mnemo__OutboxEntry *o =
	    mnemo__outbox_entry__unpack(mn__arena_for(len), len, body);
	if (!o)
		return mn__st_fail(s, MN_ECORRUPT, "%s record %s: undecodable",
				   mn__st_db_name(ms->db), where);
	bool to = o->target_kind_id == m->kind_id &&
		  o->target_key.len == m->key.len &&
		  memcmp(o->target_key.data, m->key.data, m->key.len) == 0;
	bool from = o->sender_id == m->id;
	if (to || (from && ms->drop_from)) {
		if ((e = mdb_cursor_del(at->cur, 0)))
			return mn__st_mdb_fail(s, e, "deleting a message");
		(*ms->count)++;
		return 0;
	}
	if (from) {
		if (ms->nfix == ms->capfix) {
			size_t cap = ms->capfix ? ms->capfix * 2 : 16;
			uint64_t *n = realloc(ms->fix, cap * sizeof *n);
			if (!n)
				return MN_ENOMEM;
			ms->fix = n;
			ms->capfix = cap;
		}
		ms->fix[ms->nfix++] = mn__be64_get(at->k.mv_data);
	}
	return 0;
}

/* The message at id of db, from outside now (its sender is deleted). */
static int del_unsend(mn__store *s, MDB_txn *txn, int db, uint64_t id)
{
	unsigned char kb[8];
	const unsigned char *body;
	size_t len;
	MDB_val fk = {.mv_size = 8, .mv_data = kb}, fv;
	int rc, e;
	mn__be64_put(kb, id);
	if ((e = mdb_get(txn, s->dbi[db], &fk, &fv)))
		return mn__st_mdb_fail(s, e, "reading a message");
	if ((rc = mn__frame_open(s, &fv, R_OUTBOX, db, MN__FRAME_NAMED,
				 "message", &body, &len)))
		return rc;
	Mnemo__OutboxEntry *o =
	    mnemo__outbox_entry__unpack(mn__arena_for(len), len, body);
	if (!o)
		return mn__st_fail(s, MN_ECORRUPT, "%s: undecodable",
				   mn__st_db_name(db));
	o->sender_id = 0;
	o->flags |= MN_MSG_EXTERNAL;
	if ((e = mn__frame_put(s, txn, db, &fk, &o->base, R_OUTBOX, 0)))
		return mn__st_mdb_fail(s, e, "rewriting a message");
	return 0;
}

/* Delete, in db (outbox-shaped: outbox or quarantine), the records to
 * (kind_id, key), and when drop_from those from id; without drop_from,
 * records from id get sender 0 (from outside) instead. */
static int del_outbox_db(mn__store *s, MDB_txn *txn, int db,
			 const Mnemo__ActorMeta *m, bool drop_from,
			 uint64_t *count)
{
	msg_scan ms = {
	    .s = s, .db = db, .m = m, .drop_from = drop_from, .count = count};
	mn__scan_spec sp = {.dbi = s->dbi[db],
			    .opening = "opening a cursor",
			    .reading = "reading messages"};
	int rc = mn__scan(s, txn, &sp, del_message, &ms);
	/* Its sends to others stay, as from outside. */
	for (size_t i = 0; i < ms.nfix && !rc; i++)
		rc = del_unsend(s, txn, db, ms.fix[i]);
	free(ms.fix);
	return rc;
}

typedef struct fork_scan {
	mn__store *s;
	MDB_txn *txn;
	uint64_t id;
} fork_scan;

static int fork_of(void *arg, mn__scan_at *at)
{
	fork_scan *fs = arg;
	const unsigned char *body;
	size_t len;
	int rc;
	if (at->k.mv_size != 8)
		return 0;
	if (mn__frame_open(fs->s, &at->v, R_ACTOR, DB_ACTORS, MN__FRAME_NAMED,
			   "actor", &body, &len))
		return 0;
	Mnemo__ActorMeta *f =
	    mnemo__actor_meta__unpack(mn__arena_for(len), len, body);
	if (!f || f->fork_parent_id != fs->id)
		return 0;
	uint64_t fid = f->id;
	if ((rc = mn__st_del_marked(fs->s, fs->txn, fid)) == MN_ENOACTOR)
		return mn__st_fail(fs->s, MN_EBUSY,
				   "actor %llu has a live fork (actor %llu) "
				   "that shares its history: delete its forks "
				   "first",
				   (unsigned long long)fs->id,
				   (unsigned long long)fid);
	return rc;
}

/* MN_EBUSY (detail naming the fork) if actor id has a live fork (one
 * not being deleted), 0 if none, or a store error. One scan of actors. */
static int live_fork(mn__store *s, MDB_txn *txn, uint64_t id)
{
	fork_scan fs = {s, txn, id};
	mn__scan_spec sp = {.dbi = s->dbi[DB_ACTORS],
			    .opening = "opening actors",
			    .reading = "reading actors"};
	return mn__scan(s, txn, &sp, fork_of, &fs);
}

/* Its name, if it still leads to it. */
static int del_name(mn__store *s, MDB_txn *txn, const Mnemo__ActorMeta *m)
{
	unsigned char kb[4 + MN_KEY_MAX];
	MDB_val k = {.mv_data = kb}, v;
	k.mv_size = mn__st_name_key(kb, m->kind_id, m->key.data, m->key.len);
	int e = mdb_get(txn, s->dbi[DB_NAMES], &k, &v);
	if (e == 0 && v.mv_size == FRAME_HDR + 8 &&
	    mn__be64_get((const unsigned char *)v.mv_data + FRAME_HDR) == m->id)
		e = mdb_del(txn, s->dbi[DB_NAMES], &k, NULL);
	if (e && e != MDB_NOTFOUND)
		return mn__st_mdb_fail(s, e, "deleting a name");
	return 0;
}

typedef struct own_scan {
	mn__store *s;
	del_op *d;
} own_scan;

static int del_snapshot(void *arg, mn__scan_at *at)
{
	own_scan *os = arg;
	int e;
	if (at->k.mv_size != 16) {
		at->stop = true;
		return 0;
	}
	if ((e = mdb_cursor_del(at->cur, 0)))
		return mn__st_mdb_fail(os->s, e, "deleting snapshots");
	os->d->st->snapshots++;
	return 0;
}

/* Its snapshots: keys (id, seq), one range. */
static int del_snapshots(mn__store *s, MDB_txn *txn, del_op *d)
{
	unsigned char sk[16];
	MDB_val k = {.mv_size = 16, .mv_data = sk};
	own_scan os = {s, d};
	mn__scan_spec sp = {.dbi = s->dbi[DB_SNAPSHOTS],
			    .from = &k,
			    .prefix = 8,
			    .opening = "opening snapshots",
			    .reading = "deleting snapshots"};
	mn__be64_put(sk, d->id);
	mn__be64_put(sk + 8, 0);
	return mn__scan(s, txn, &sp, del_snapshot, &os);
}

static int del_timer(void *arg, mn__scan_at *at)
{
	own_scan *os = arg;
	const unsigned char *body;
	size_t len;
	int rc, e;
	if ((rc = mn__frame_open(os->s, &at->v, R_TIMER, DB_TIMERS,
				 MN__FRAME_NAMED, "timer", &body, &len)))
		return rc;
	Mnemo__Timer *t = mnemo__timer__unpack(mn__arena_for(len), len, body);
	if (!t)
		return mn__st_fail(os->s, MN_ECORRUPT, "timers: undecodable");
	if (t->actor_id == os->d->id) {
		if ((e = mdb_cursor_del(at->cur, 0)))
			return mn__st_mdb_fail(os->s, e, "deleting timers");
		os->d->st->timers++;
	}
	return 0;
}

/* Its timers (keys (due, id): every one is looked at). */
static int del_timers(mn__store *s, MDB_txn *txn, del_op *d)
{
	own_scan os = {s, d};
	mn__scan_spec sp = {.dbi = s->dbi[DB_TIMERS],
			    .opening = "opening timers",
			    .reading = "deleting timers"};
	return mn__scan(s, txn, &sp, del_timer, &os);
}

/* The marker: from here the deletion finishes, even after a crash. */
static int del_mark(mn__store *s, MDB_txn *txn, uint64_t id)
{
	unsigned char mk[DEL_KEY_LEN], mv[FRAME_HDR + 8];
	MDB_val mkv = {.mv_size = sizeof mk, .mv_data = mk},
		mvv = {.mv_size = sizeof mv, .mv_data = mv};
	int e;
	del_key(mk, id);
	mn__be64_put(mv + FRAME_HDR, id);
	mn__frame_seal(mv, R_NAME, 8);
	if ((e = mdb_put(txn, s->dbi[DB_META], &mkv, &mvv, 0)))
		return mn__st_mdb_fail(s, e, "writing a deletion marker");
	return 0;
}

/* The first transaction of a deletion: everything but the entries and the
 * actor record goes, and the marker is written. */
static int del_begin_txn(mn__store *s, void *arg, MDB_txn *txn)
{
	del_op *d = arg;
	Mnemo__ActorMeta *m = NULL;
	int rc = mn__st_del_marked(s, txn, d->id);
	if (rc != MN_ENOACTOR)
		return rc; /* begun before (0), or an error */
	if ((rc = mn__st_meta_get(s, txn, d->id, &m)))
		return rc;
	/* Its live forks share its history: refused. */
	if ((d->check_forks && (rc = live_fork(s, txn, d->id))) ||
	    (rc = del_name(s, txn, m)) || (rc = del_snapshots(s, txn, d)) ||
	    (rc = del_timers(s, txn, d)) ||
	    (rc = del_outbox_db(s, txn, DB_OUTBOX, m, false, &d->st->outbox)) ||
	    (!s->no_quarantine &&
	     (rc = del_outbox_db(s, txn, DB_QUARANTINE, m, true,
				 &d->st->quarantine))) ||
	    (rc = mn__st_del_calls(s, txn, d->id, &d->st->calls)))
		goto out_free_meta;
	rc = del_mark(s, txn, d->id);
out_free_meta:
	mnemo__actor_meta__free_unpacked(m, NULL);
	return rc;
}

/* Drop up to d->max of m's entries, newest first along its own chain; a
 * fork's stop at the parent's entries, a compacted one's where the
 * entries end (*end: none of its own left). Otherwise its head moves back
 * to what is left. */
static int del_entries(mn__store *s, MDB_txn *txn, del_op *d,
		       Mnemo__ActorMeta *m, bool *end)
{
	unsigned char kb[8];
	MDB_val k = {.mv_size = 8, .mv_data = kb}, v;
	uint64_t lsn = m->last_lsn, seq = m->last_seq + 1;
	size_t n = 0;
	int rc, e;
	*end = false;
	while (n < d->max) {
		const unsigned char *body;
		size_t len;
		if (!lsn) {
			*end = true;
			return 0;
		}
		mn__be64_put(kb, lsn);
		e = mdb_get(txn, s->dbi[DB_LOG], &k, &v);
		if (e == MDB_NOTFOUND) {
			*end = true;
			return 0;
		}
		if (e)
			return mn__st_mdb_fail(s, e, "reading the log");
		if ((rc =
			 mn__frame_open(s, &v, R_ENTRY, DB_LOG, MN__FRAME_NAMED,
					"entry", &body, &len)))
			return rc;
		Mnemo__JournalEntry *je =
		    mnemo__journal_entry__unpack(mn__arena_for(len), len, body);
		if (!je)
			return mn__st_fail(s, MN_ECORRUPT,
					   "log record %llu: undecodable",
					   (unsigned long long)lsn);
		if (je->actor_id != d->id) {
			*end = true; /* the parent's: a fork point */
			return 0;
		}
		if (je->seq >= seq || je->prev_lsn >= lsn)
			return mn__st_fail(
			    s, MN_ECORRUPT,
			    "log record %llu: actor %llu seq "
			    "%llu, prev_lsn %llu: the chain does "
			    "not move back",
			    (unsigned long long)lsn, (unsigned long long)d->id,
			    (unsigned long long)je->seq,
			    (unsigned long long)je->prev_lsn);
		seq = je->seq;
		uint64_t prev = je->prev_lsn;
		if ((e = mdb_del(txn, s->dbi[DB_LOG], &k, NULL)))
			return mn__st_mdb_fail(s, e, "deleting an entry");
		d->st->entries++;
		n++;
		lsn = prev;
	}
	/* More to go: its head moves back. */
	m->last_lsn = lsn;
	m->last_seq = seq - 1;
	return mn__st_meta_put(s, txn, m);
}

/* One step of a begun deletion; the last removes the actor record and the
 * marker (d->done). */
static int del_step_txn(mn__store *s, void *arg, MDB_txn *txn)
{
	del_op *d = arg;
	Mnemo__ActorMeta *m = NULL;
	unsigned char kb[8], mk[DEL_KEY_LEN];
	MDB_val k = {.mv_size = 8, .mv_data = kb};
	MDB_val mkv = {.mv_size = sizeof mk, .mv_data = mk};
	int rc, e;

	d->done = false;
	/* This step may drop the newest log entries: no LSN is issued
	 * twice (L1). */
	if ((rc = mn__st_keep_lsn_high(s, txn)))
		return rc;
	if ((rc = mn__st_del_marked(s, txn, d->id)))
		return rc == MN_ENOACTOR
			   ? mn__st_fail(s, MN_EINVAL,
					 "actor %llu: no deletion begun",
					 (unsigned long long)d->id)
			   : rc;
	rc = mn__st_meta_get(s, txn, d->id, &m);
	if (rc && rc != MN_ENOACTOR)
		return rc;
	if (m) {
		bool end;
		if ((rc = del_entries(s, txn, d, m, &end)) || !end)
			goto out_free_meta;
		mn__be64_put(kb, d->id);
		if ((e = mdb_del(txn, s->dbi[DB_ACTORS], &k, NULL)) &&
		    e != MDB_NOTFOUND) {
			rc = mn__st_mdb_fail(s, e, "deleting an actor");
			goto out_free_meta;
		}
	}
	del_key(mk, d->id);
	if ((e = mdb_del(txn, s->dbi[DB_META], &mkv, NULL)) &&
	    e != MDB_NOTFOUND) {
		rc = mn__st_mdb_fail(s, e, "deleting a deletion marker");
		goto out_free_meta;
	}
	rc = 0;
	d->done = true;
out_free_meta:
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

typedef struct mark_scan {
	uint64_t *ids;
	size_t cap, *n;
} mark_scan;

static int marked_id(void *arg, mn__scan_at *at)
{
	mark_scan *ms = arg;
	if (at->k.mv_size != DEL_KEY_LEN) {
		at->stop = true;
		return 0;
	}
	if (*ms->n < ms->cap)
		ms->ids[*ms->n] =
		    mn__be64_get((const unsigned char *)at->k.mv_data + 4);
	(*ms->n)++;
	return 0;
}

int mn__store_delete_marked(mn__store *s, uint64_t *ids, size_t cap, size_t *n)
{
	MDB_txn *txn;
	MDB_val k = {.mv_size = 4, .mv_data = "del:"};
	mark_scan ms = {ids, cap, n};
	mn__scan_spec sp = {.dbi = s->dbi[DB_META],
			    .from = &k,
			    .prefix = 4,
			    .opening = "opening meta",
			    .reading = "reading meta"};
	int rc = mn__st_txn_begin(s, false, &txn);
	*n = 0;
	if (rc)
		return mn__st_mdb_fail(s, rc, "beginning a read");
	rc = mn__scan(s, txn, &sp, marked_id, &ms);
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
