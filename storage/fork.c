/*
 * fork.c - forking an actor: a new actor (a new address) whose history is
 * its parent's up to a seq, shared, not copied.
 *
 * Owns: a fork point is an entry the parent still has, or the parent's
 * compaction point. Threads: the caller (a tool, or the writer), in one
 * write transaction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/frame.h"
#include "storage/store_int.h"

/* The LSN and owner of the entry at seq in the history that ends at
 * (actor, head_lsn): walks back, across fork boundaries. An entry dropped
 * by compaction is found only when it is the owner's compaction point. */
static int entry_at_seq(mn__store *s, MDB_txn *txn, const Mnemo__ActorMeta *am,
			uint64_t seq, uint64_t *lsn_out, uint64_t *owner_out)
{
	uint64_t actor = am->id, want = am->last_seq, lsn = am->last_lsn;
	unsigned char kb[8];
	MDB_val k = {.mv_size = 8, .mv_data = kb}, v;
	while (lsn) {
		Mnemo__JournalEntry *je;
		int rc;
		/* The compaction point's entry is gone but its LSN is kept: a
		 * fork may start there (from its snapshot). A fork whose head
		 * is its fork point holds its parent's entry there: look in
		 * the parent (and its parent) for that compaction point. */
		for (uint64_t who = actor, depth = 0;
		     want == seq && who && depth < 64; depth++) {
			Mnemo__ActorMeta *m;
			if ((rc = mn__st_meta_get(s, txn, who, &m)))
				return rc;
			bool at_base =
			    m->compacted_seq == seq && m->compacted_lsn == lsn;
			uint64_t up = m->fork_seq == seq && m->fork_lsn == lsn
					  ? m->fork_parent_id
					  : 0;
			mnemo__actor_meta__free_unpacked(m, NULL);
			if (at_base) {
				*lsn_out = lsn;
				*owner_out = who;
				return 0;
			}
			who = up;
		}
		mn__be64_put(kb, lsn);
		if ((rc = mdb_get(txn, s->dbi[DB_LOG], &k, &v)))
			return rc == MDB_NOTFOUND
				   ? mn__st_missing_entry(s, txn, lsn, actor,
							  want, 0, seq - 1)
				   : mn__st_mdb_fail(s, rc, "reading the log");
		if ((rc = mn__st_decode_entry(s, &k, &v, &je)))
			return rc;
		if (je->actor_id != actor && je->seq == want &&
		    mn__st_fork_boundary(s, txn, actor, je->actor_id, want,
					 lsn))
			actor = je->actor_id;
		if (je->actor_id != actor || je->seq != want)
			return mn__st_fail(
			    s, MN_ECORRUPT,
			    "log record %llu: actor %llu seq %llu where "
			    "actor %llu seq %llu belongs",
			    (unsigned long long)lsn,
			    (unsigned long long)je->actor_id,
			    (unsigned long long)je->seq,
			    (unsigned long long)actor,
			    (unsigned long long)want);
		if (je->seq == seq) {
			*lsn_out = lsn;
			*owner_out = actor;
			return 0;
		}
		want = je->seq - 1;
		lsn = je->prev_lsn;
	}
	return mn__st_fail(s, MN_ECORRUPT, "actor %llu: no entry at seq %llu",
			   (unsigned long long)am->id, (unsigned long long)seq);
}

typedef struct fork_op {
	uint64_t parent_id, seq;
	const void *key;
	size_t key_len;
	mn__actor_meta *out;
} fork_op;

static int fork_txn(mn__store *s, void *arg, MDB_txn *txn)
{
	fork_op *f = arg;
	Mnemo__ActorMeta *pm = NULL;
	Mnemo__StoreState *st = NULL;
	unsigned char kb[4 + MN_KEY_MAX];
	MDB_val k = {.mv_data = kb}, v;
	uint64_t lsn = 0, owner = 0, last_actor;
	int rc;

	if ((rc = mn__st_meta_get(s, txn, f->parent_id, &pm)))
		return rc;
	if (f->seq < 1 || f->seq > pm->last_seq) {
		rc = mn__st_fail(
		    s, MN_EINVAL,
		    "actor %llu has seq 1..%llu; cannot fork at %llu",
		    (unsigned long long)pm->id,
		    (unsigned long long)pm->last_seq,
		    (unsigned long long)f->seq);
		goto out;
	}
	if (f->seq < pm->compacted_seq) {
		rc = mn__st_fail(
		    s, MN_ECOMPACTED,
		    "actor %llu: history up to seq %llu was compacted; "
		    "fork at %llu or later",
		    (unsigned long long)pm->id,
		    (unsigned long long)pm->compacted_seq,
		    (unsigned long long)pm->compacted_seq);
		goto out;
	}
	if ((rc = entry_at_seq(s, txn, pm, f->seq, &lsn, &owner)))
		goto out;
	k.mv_size = mn__st_name_key(kb, pm->kind_id, f->key, f->key_len);
	rc = mdb_get(txn, s->dbi[DB_NAMES], &k, &v);
	if (rc == 0) {
		rc = mn__st_fail(s, MN_EEXIST,
				 "the new address is already an actor");
		goto out;
	}
	if (rc != MDB_NOTFOUND) {
		rc = mn__st_mdb_fail(s, rc, "reading a name");
		goto out;
	}
	if ((rc = mn__st_read_state(s, txn, &st)) ||
	    (rc = mn__st_last_key_u64(s, txn, DB_ACTORS, &last_actor)))
		goto out;
	uint64_t id =
	    st->next_actor_id > last_actor ? st->next_actor_id : last_actor + 1;
	uint64_t now = mn__unix_ms();
	Mnemo__ActorMeta m = MNEMO__ACTOR_META__INIT;
	m.id = id;
	m.kind_id = pm->kind_id;
	m.key.data = (uint8_t *)f->key;
	m.key.len = f->key_len;
	m.created_unix_ms = now;
	m.last_active_unix_ms = now;
	m.last_seq = f->seq;
	m.last_lsn = lsn;
	m.fork_parent_id = owner;
	m.fork_seq = f->seq;
	m.fork_lsn = lsn;
	if ((rc = mn__st_meta_put(s, txn, &m)))
		goto out;
	unsigned char v8[FRAME_HDR + 8];
	MDB_val nv = {.mv_size = sizeof v8, .mv_data = v8};
	mn__be64_put(v8 + FRAME_HDR, id);
	mn__frame_seal(v8, R_NAME, 8);
	if ((rc = mdb_put(txn, s->dbi[DB_NAMES], &k, &nv, 0))) {
		rc = mn__st_mdb_fail(s, rc, "writing a name");
		goto out;
	}
	st->next_actor_id = id + 1;
	if ((rc = mn__st_write_state(s, txn, st)))
		goto out;
	mn__st_meta_copy(s, &m, f->out);
out:
	if (pm)
		mnemo__actor_meta__free_unpacked(pm, NULL);
	if (st)
		mnemo__store_state__free_unpacked(st, NULL);
	return rc;
}

int mn__store_fork(mn__store *s, uint64_t parent_id, uint64_t seq,
		   const void *key, size_t key_len, mn__actor_meta *out)
{
	if (!key || key_len == 0 || key_len > MN_KEY_MAX || !out)
		return MN_EINVAL;
	fork_op f = {parent_id, seq, key, key_len, out};
	return mn__st_write_txn(s, fork_txn, &f);
}
