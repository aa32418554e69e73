/*
 * compact.c - compaction (dropping history before a snapshot, in steps of
 * a few actors per write transaction) and the quarantine (messages forks
 * sent, held until released to the outbox or dropped).
 *
 * Owns: a compaction never drops what a fork still reads (fork_dep), and
 * a chain that loops is damage (L2), never a walk without end. Threads:
 * the caller, one step per write transaction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/frame.h"
#include "storage/scan.h"
#include "storage/store_int.h"

/* A fork that still reads its parent's history up to seq. */
typedef struct fork_dep {
	uint64_t parent_id, seq;
} fork_dep;

struct mn__compaction {
	uint64_t keep;
	uint64_t next_id; /* the next actor to look at */
	bool done;
	fork_dep *deps; /* sorted by parent, then seq */
	size_t ndeps;
	mn__compact_stats st;
	uint64_t *ids; /* one step's actors */
	size_t ids_cap;
	uint64_t *dead; /* one actor's entries to drop */
	size_t dead_cap;
};

static int dep_cmp(const void *a, const void *b)
{
	const fork_dep *x = a, *y = b;
	if (x->parent_id != y->parent_id)
		return x->parent_id < y->parent_id ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int collect_dep(void *arg, const mn__actor_meta *m)
{
	mn__compaction *c = arg;
	/* A fork compacted past its fork point no longer reads the
	 * parent's history. */
	if (!m->fork_parent_id || m->compacted_seq > m->fork_seq)
		return 0;
	if ((c->ndeps & (c->ndeps + 1)) == 0 || c->ndeps == 0) {
		size_t cap = c->ndeps ? (c->ndeps + 1) * 2 : 16;
		fork_dep *n = realloc(c->deps, cap * sizeof *n);
		if (!n)
			return MN_ENOMEM;
		c->deps = n;
	}
	c->deps[c->ndeps++] = (fork_dep){m->fork_parent_id, m->fork_seq};
	return 0;
}

int mn__store_compact_begin(mn__store *s, uint64_t keep, mn__compaction **out)
{
	mn__compaction *c = calloc(1, sizeof *c);
	if (!c)
		return MN_ENOMEM;
	c->keep = keep;
	c->next_id = 1;
	int rc = mn__store_actors_scan(s, collect_dep, c);
	if (rc) {
		mn__store_compact_end(c);
		return rc;
	}
	if (c->ndeps)
		qsort(c->deps, c->ndeps, sizeof *c->deps, dep_cmp);
	*out = c;
	return 0;
}

/* The smallest fork point of forks reading id's history (UINT64_MAX if
 * none). */
static uint64_t dep_min(const mn__compaction *c, uint64_t id)
{
	size_t lo = 0, hi = c->ndeps;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (c->deps[mid].parent_id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < c->ndeps && c->deps[lo].parent_id == id ? c->deps[lo].seq
							    : UINT64_MAX;
}

/* Drop actor id's own entries at or before seq base, walking back from its
 * head (stop at a fork boundary or at what an earlier compaction dropped);
 * *first_kept: the oldest entry kept. */
static int drop_entries(mn__store *s, mn__compaction *c, MDB_txn *txn,
			const Mnemo__ActorMeta *m, uint64_t base,
			uint64_t *first_kept)
{
	uint64_t id = m->id;
	size_t ndead = 0;
	unsigned char lk[8];
	MDB_val lkv = {.mv_size = 8, .mv_data = lk}, lv;
	uint64_t above_seq = UINT64_MAX, above_lsn = UINT64_MAX;
	int rc;
	*first_kept = 0;
	for (uint64_t lsn = m->last_lsn; lsn;) {
		Mnemo__JournalEntry *je;
		mn__be64_put(lk, lsn);
		int e = mdb_get(txn, s->dbi[DB_LOG], &lkv, &lv);
		if (e == MDB_NOTFOUND)
			break;
		if (e)
			return mn__st_mdb_fail(s, e, "reading the log");
		if ((rc = mn__st_decode_entry(s, &lkv, &lv, &je)))
			return rc;
		if (je->actor_id != id)
			break;
		/* L2: a chain moves strictly back; a loop is damage, never
		 * a walk without end. */
		if (lsn >= above_lsn || je->seq >= above_seq)
			return mn__st_fail(
			    s, MN_ECORRUPT,
			    "log record %llu: actor %llu seq %llu does not "
			    "come before seq %llu (history chain loops)",
			    (unsigned long long)lsn, (unsigned long long)id,
			    (unsigned long long)je->seq,
			    (unsigned long long)above_seq);
		above_lsn = lsn;
		above_seq = je->seq;
		if (je->seq > base) {
			*first_kept = lsn;
		} else {
			if (ndead == c->dead_cap) {
				size_t cap =
				    c->dead_cap ? c->dead_cap * 2 : 256;
				uint64_t *n = realloc(c->dead, cap * sizeof *n);
				if (!n)
					return MN_ENOMEM;
				c->dead = n;
				c->dead_cap = cap;
			}
			c->dead[ndead++] = lsn;
			c->st.bytes += lv.mv_size;
		}
		lsn = je->prev_lsn;
	}
	for (size_t i = 0; i < ndead; i++) {
		mn__be64_put(lk, c->dead[i]);
		int e = mdb_del(txn, s->dbi[DB_LOG], &lkv, NULL);
		if (e && e != MDB_NOTFOUND)
			return mn__st_mdb_fail(s, e, "dropping a log record");
	}
	c->st.entries += ndead;
	return 0;
}

typedef struct snap_drop {
	mn__store *s;
	mn__compaction *c;
	uint64_t id, base;
} snap_drop;

static int drop_snapshot(void *arg, mn__scan_at *at)
{
	snap_drop *d = arg;
	int e;
	if (at->k.mv_size != 16 || mn__be64_get(at->k.mv_data) != d->id ||
	    mn__be64_get((unsigned char *)at->k.mv_data + 8) >= d->base) {
		at->stop = true;
		return 0;
	}
	d->c->st.bytes += at->v.mv_size;
	d->c->st.snapshots++;
	if ((e = mdb_cursor_del(at->cur, 0)))
		return mn__st_mdb_fail(d->s, e, "dropping a snapshot");
	return 0;
}

/* Drop actor id's snapshots before seq base. */
static int drop_snapshots(mn__store *s, mn__compaction *c, MDB_txn *txn,
			  uint64_t id, uint64_t base)
{
	unsigned char kb[16];
	MDB_val k = {.mv_size = 16, .mv_data = kb};
	snap_drop d = {s, c, id, base};
	/* A failed read ends the drop quietly (reading: NULL): what is left
	 * goes at the next compaction. */
	mn__scan_spec sp = {.dbi = s->dbi[DB_SNAPSHOTS],
			    .from = &k,
			    .prefix = 8,
			    .opening = "opening snapshots"};
	mn__be64_put(kb, id);
	mn__be64_put(kb + 8, 0);
	return mn__scan(s, txn, &sp, drop_snapshot, &d);
}

/* Compact one actor inside txn: its base is its own latest snapshot at or
 * before limit (last_seq - keep, or the earliest fork point reading its
 * history); entries and snapshots before the base go. */
static int compact_actor(mn__store *s, mn__compaction *c, MDB_txn *txn,
			 uint64_t id)
{
	Mnemo__ActorMeta *m;
	MDB_cursor *sc = NULL;
	MDB_val k, v;
	int rc = mn__st_meta_get(s, txn, id, &m);
	if (rc)
		return rc == MN_ENOACTOR ? 0 : rc;
	c->st.actors++;
	if (m->last_seq <= c->keep)
		goto out;
	uint64_t limit = m->last_seq - c->keep, dep = dep_min(c, id);
	if (dep < limit) {
		limit = dep;
		c->st.held++;
	}
	/* The base: this actor's own latest snapshot at or before limit. */
	if ((rc = mdb_cursor_open(txn, s->dbi[DB_SNAPSHOTS], &sc))) {
		rc = mn__st_mdb_fail(s, rc, "opening snapshots");
		goto out;
	}
	rc = mn__st_snap_find(s, sc, id, limit, &k, &v);
	if (rc == MN_ENOACTOR) {
		rc = 0;
		goto out;
	}
	if (rc)
		goto out;
	uint64_t base = mn__be64_get((unsigned char *)k.mv_data + 8);
	if (base <= m->compacted_seq || base <= m->fork_seq)
		goto out; /* nothing new to drop (a fork drops only its own) */
	Mnemo__Snapshot *sn;
	if ((rc = mn__st_snap_decode(s, id, &k, &v, &sn)))
		goto out;
	uint64_t base_lsn = sn->lsn, first_kept;
	if ((rc = drop_entries(s, c, txn, m, base, &first_kept)) ||
	    (rc = drop_snapshots(s, c, txn, id, base)))
		goto out;
	m->compacted_seq = base;
	m->compacted_lsn = base_lsn;
	m->first_lsn = first_kept;
	if ((rc = mn__st_meta_put(s, txn, m)))
		goto out;
	c->st.compacted++;
out:
	if (sc)
		mdb_cursor_close(sc);
	mnemo__actor_meta__free_unpacked(m, NULL);
	return rc;
}

typedef struct compact_op {
	mn__compaction *c;
	size_t max;
	mn__compact_stats before;
	uint64_t next_before;
} compact_op;

typedef struct ids_scan {
	mn__compaction *c;
	size_t max, n;
	bool more; /* an actor after the step's last */
} ids_scan;

static int step_id(void *arg, mn__scan_at *at)
{
	ids_scan *is = arg;
	if (is->n == is->max) {
		is->more = true;
		at->stop = true;
		return 0;
	}
	if (at->k.mv_size == 8)
		is->c->ids[is->n++] = mn__be64_get(at->k.mv_data);
	return 0;
}

static int compact_txn(mn__store *s, void *arg, MDB_txn *txn)
{
	compact_op *op = arg;
	mn__compaction *c = op->c;
	unsigned char kb[8];
	MDB_val k = {.mv_size = 8, .mv_data = kb};
	ids_scan is = {.c = c, .max = op->max};
	mn__scan_spec sp = {.dbi = s->dbi[DB_ACTORS],
			    .from = &k,
			    .opening = "opening the actors",
			    .reading = "reading the actors"};
	int rc;

	/* A retry (map growth) starts the step over. */
	c->st = op->before;
	c->next_id = op->next_before;
	/* L1: before this step may drop the newest log entries, the store
	 * remembers the newest LSN issued, so no LSN is issued twice. */
	if ((rc = mn__st_keep_lsn_high(s, txn)))
		return rc;
	if (c->ids_cap < op->max) {
		uint64_t *ids = realloc(c->ids, op->max * sizeof *ids);
		if (!ids)
			return MN_ENOMEM;
		c->ids = ids;
		c->ids_cap = op->max;
	}
	/* This step's actors first: the loop below writes the actors
	 * database. */
	mn__be64_put(kb, c->next_id);
	if ((rc = mn__scan(s, txn, &sp, step_id, &is)))
		return rc;
	for (size_t i = 0; i < is.n; i++)
		if ((rc = compact_actor(s, c, txn, c->ids[i])))
			return rc;
	if (!is.more)
		c->done = true;
	else
		c->next_id = c->ids[is.n - 1] + 1;
	return 0;
}

int mn__store_compact_step(mn__store *s, mn__compaction *c, size_t max_actors,
			   bool *done)
{
	compact_op op = {c, max_actors ? max_actors : 1, c->st, c->next_id};
	int rc = c->done ? 0 : mn__st_write_txn(s, compact_txn, &op);
	if (rc) {
		c->st = op.before;
		c->next_id = op.next_before;
	}
	*done = c->done;
	return rc;
}

void mn__store_compact_stats(const mn__compaction *c, mn__compact_stats *st)
{
	*st = c->st;
}

void mn__store_compact_end(mn__compaction *c)
{
	if (!c)
		return;
	free(c->deps);
	free(c->ids);
	free(c->dead);
	free(c);
}

int mn__store_quarantine_scan(mn__store *s, mn__codec *codec, mn__entry_cb cb,
			      void *arg)
{
	if (s->no_quarantine)
		return 0;
	return mn__st_outbox_db_range(s, codec, DB_QUARANTINE, 0, UINT64_MAX,
				      cb, arg);
}

typedef struct take_op {
	uint64_t id;
	bool release;
	uint64_t n;
} take_op;

typedef struct take_scan {
	mn__store *s;
	MDB_txn *txn;
	take_op *t;
	uint64_t next; /* the last outbox id handed out */
} take_scan;

/* Take the quarantined record at the cursor: released (renumbered into
 * the outbox: the record keeps its frame, only its id changes) or
 * dropped. */
static int take_one(void *arg, mn__scan_at *at)
{
	take_scan *ts = arg;
	mn__store *s = ts->s;
	take_op *t = ts->t;
	unsigned char ob[8];
	int rc, e;
	if (t->release) {
		const unsigned char *body;
		size_t len;
		char where[32];
		snprintf(where, sizeof where, "%llu",
			 (unsigned long long)mn__be64_get(at->k.mv_data));
		if ((rc = mn__frame_open(s, &at->v, R_OUTBOX, DB_QUARANTINE,
					 MN__FRAME_NAMED, where, &body, &len)))
			return rc;
		Mnemo__OutboxEntry *o =
		    mnemo__outbox_entry__unpack(mn__arena_for(len), len, body);
		if (!o)
			return mn__st_fail(s, MN_ECORRUPT,
					   "quarantine record %s: undecodable",
					   where);
		o->id = ++ts->next;
		mn__be64_put(ob, o->id);
		MDB_val okv = {.mv_size = 8, .mv_data = ob};
		if ((rc = mn__frame_put(s, ts->txn, DB_OUTBOX, &okv, &o->base,
					R_OUTBOX, 0)))
			return mn__st_mdb_fail(s, rc, "writing the outbox");
	}
	if ((e = mdb_cursor_del(at->cur, 0)))
		return mn__st_mdb_fail(s, e, "removing from the quarantine");
	t->n++;
	at->stop = t->id != 0; /* one message, or all of them */
	return 0;
}

static int take_txn(mn__store *s, void *arg, MDB_txn *txn)
{
	take_op *t = arg;
	unsigned char kb[8];
	MDB_val k = {.mv_size = 8, .mv_data = kb};
	take_scan ts = {s, txn, t, 0};
	uint64_t qlast;
	/* One id: the scan starts at it and ends past it (an 8-byte key is
	 * its own prefix). */
	mn__scan_spec sp = {.dbi = s->dbi[DB_QUARANTINE],
			    .from = t->id ? &k : NULL,
			    .prefix = t->id ? 8 : 0,
			    .opening = "opening the quarantine",
			    .reading = "reading the quarantine"};
	int rc;

	t->n = 0;
	if ((rc = mn__st_last_key_u64(s, txn, DB_OUTBOX, &ts.next)) ||
	    (rc = mn__st_last_key_u64(s, txn, DB_QUARANTINE, &qlast)))
		return rc;
	if (qlast > ts.next)
		ts.next = qlast;
	mn__be64_put(kb, t->id);
	if ((rc = mn__scan(s, txn, &sp, take_one, &ts)))
		return rc;
	if (t->id && t->n == 0)
		return mn__st_fail(s, MN_ENOACTOR,
				   "no quarantined message %llu",
				   (unsigned long long)t->id);
	return 0;
}

int mn__store_quarantine_take(mn__store *s, uint64_t id, bool release,
			      uint64_t *n)
{
	take_op t = {id, release, 0};
	int rc = mn__st_write_txn(s, take_txn, &t);
	*n = rc ? 0 : t.n;
	return rc;
}
