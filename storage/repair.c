/*
 * repair.c - open-time head repair after a crash. The writer records actor
 * heads only at checkpoints, so the log entries after
 * StoreState.checkpoint_lsn may be newer than their actors' heads: they
 * are scanned once at open and the heads brought forward (a writable open
 * writes them; a read-only one keeps them in memory, s->tail).
 *
 * Owns: heads only move forward, and no actor id or LSN is issued twice
 * after a crash (L1). Threads: the opening thread, inside the open
 * transaction.
 */
#include <stdlib.h>

#include "storage/frame.h"
#include "storage/scan.h"
#include "storage/store_int.h"

/* One (actor, seq, lsn) seen in the log tail. */
typedef struct head {
	uint64_t actor_id, seq, lsn;
} head;

static int head_cmp(const void *a, const void *b)
{
	const head *x = a, *y = b;
	if (x->actor_id != y->actor_id)
		return x->actor_id < y->actor_id ? -1 : 1;
	return x->lsn < y->lsn ? -1 : x->lsn > y->lsn;
}

/*
 * The heads the log tail implies: every entry after from_lsn, reduced to
 * each actor's newest (and its oldest in the tail, for first_lsn), sorted
 * by actor id. *out is malloc'd (or NULL when the tail is empty).
 */

/* The tail as read: every entry after the checkpoint, in LSN order. */
typedef struct tail_scan {
	mn__store *s;
	head *h;
	size_t n, cap;
} tail_scan;

static int tail_entry(void *arg, mn__scan_at *at)
{
	tail_scan *ts = arg;
	Mnemo__JournalEntry *je;
	int rc = mn__st_decode_entry(ts->s, &at->k, &at->v, &je);
	if (rc)
		return rc;
	if (ts->n == ts->cap) {
		size_t cap = ts->cap ? ts->cap * 2 : 1024;
		head *nh = realloc(ts->h, cap * sizeof *nh);
		if (!nh)
			return MN_ENOMEM;
		ts->h = nh;
		ts->cap = cap;
	}
	ts->h[ts->n++] =
	    (head){je->actor_id, je->seq, mn__be64_get(at->k.mv_data)};
	return 0;
}

static int scan_tail(mn__store *s, MDB_txn *txn, uint64_t from_lsn,
		     tail_head **out, size_t *nout, uint64_t *scanned)
{
	unsigned char kb[8];
	MDB_val k = {.mv_size = 8, .mv_data = kb};
	tail_scan ts = {.s = s};
	/* A failed read ends the tail quietly (reading: NULL), as it always
	 * has: the heads found so far are repaired. */
	mn__scan_spec sp = {
	    .dbi = s->dbi[DB_LOG], .from = &k, .opening = "opening the log"};
	*out = NULL;
	*nout = 0;
	mn__be64_put(kb, from_lsn + 1);
	int rc = mn__scan(s, txn, &sp, tail_entry, &ts);
	head *h = ts.h;
	size_t n = ts.n;
	*scanned = n;
	if (rc || n == 0) {
		free(h);
		return rc;
	}
	qsort(h, n, sizeof *h, head_cmp);
	tail_head *t = malloc(n * sizeof *t);
	if (!t) {
		free(h);
		return MN_ENOMEM;
	}
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		if (i == 0 || h[i - 1].actor_id != h[i].actor_id)
			t[m] = (tail_head){h[i].actor_id, 0, 0, h[i].lsn};
		t[m].seq = h[i].seq;
		t[m].lsn = h[i].lsn;
		if (i + 1 == n || h[i + 1].actor_id != h[i].actor_id)
			m++;
	}
	free(h);
	*out = t;
	*nout = m;
	return 0;
}

const tail_head *mn__st_tail_find(const mn__store *s, uint64_t id)
{
	size_t lo = 0, hi = s->ntail;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->tail[mid].actor_id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < s->ntail && s->tail[lo].actor_id == id ? &s->tail[lo]
							   : NULL;
}

/*
 * Open-time recovery of actor heads: the writer records actor heads only at
 * checkpoints, so entries after StoreState.checkpoint_lsn may be newer than
 * their actor's head. Scan them, update the heads, and move the checkpoint
 * to the last entry: work bounded by the checkpoint interval, not by the
 * number of actors. A read-only open (the tools, maybe beside a live
 * runtime) keeps the tail's heads in memory instead and applies them to
 * every lookup.
 */
int mn__st_repair_heads(mn__store *s, MDB_txn *txn, mn__store_info *info)
{
	Mnemo__StoreState *st;
	tail_head *t = NULL;
	size_t n = 0;
	uint64_t last_actor;
	int rc = mn__st_read_state(s, txn, &st);
	if (rc)
		return rc;
	info->checkpoint_lsn = st->checkpoint_lsn;
	info->next_actor_id = st->next_actor_id;
	/* Actors created after the last checkpoint have ids the state does
	 * not know yet: never hand one out twice. */
	if ((rc = mn__st_last_key_u64(s, txn, DB_ACTORS, &last_actor)))
		goto out_free_state;
	if (last_actor + 1 > info->next_actor_id)
		info->next_actor_id = last_actor + 1;
	/* The newest LSN issued, not the newest present: compaction may
	 * have dropped the newest entries, and an LSN issued again would
	 * sit below heads that only move forward (L1). */
	if (info->last_lsn < st->lsn_high)
		info->last_lsn = st->lsn_high;
	if (info->last_lsn <= st->checkpoint_lsn) {
		info->last_lsn = st->checkpoint_lsn;
		goto out_free_state;
	}
	if ((rc = scan_tail(s, txn, st->checkpoint_lsn, &t, &n,
			    &info->entries_scanned)))
		goto out_free_state;
	if (s->read_only) {
		s->tail = t;
		s->ntail = n;
		goto out_free_state;
	}
	for (size_t i = 0; i < n; i++) {
		Mnemo__ActorMeta *m;
		if ((rc = mn__st_meta_get(s, txn, t[i].actor_id, &m)))
			break;
		if (m->last_lsn < t[i].lsn) {
			m->last_lsn = t[i].lsn;
			m->last_seq = t[i].seq;
			if (!m->first_lsn)
				m->first_lsn = t[i].first_lsn;
			rc = mn__st_meta_put(s, txn, m);
			info->heads_repaired++;
		}
		mnemo__actor_meta__free_unpacked(m, NULL);
		if (rc)
			break;
	}
	free(t);
	if (rc)
		goto out_free_state;
	st->checkpoint_lsn = info->last_lsn;
	rc = mn__st_write_state(s, txn, st);
out_free_state:
	mnemo__store_state__free_unpacked(st, NULL);
	return rc;
}
