/*
 * env.c - the LMDB environment at work: transactions, map growth, the
 * write-transaction runner with its retry, and the StoreState record.
 *
 * Map growth: mdb_env_set_mapsize may only run with no transaction open in
 * the process, so every transaction runs under map_lock held shared, and
 * growing takes it exclusively (between two batches of the writer). A
 * thread holding a transaction never waits for the exclusive side
 * (txns_held). Threads: any (reads); map growth and write transactions run
 * on the writer thread, or on a tool's one thread.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "storage/frame.h"
#include "storage/store_int.h"

/* ---- transactions ----------------------------------------------------------
 */

/* Transactions this thread holds open (of any store): a thread that holds
 * one must never wait for map_lock's write side, which waits for it. */
static _Thread_local int txns_held;

/* The read transaction this thread holds open on a read-only store (a
 * tool's), and how many reads begun inside it share it: a nested read
 * reuses it, so everything a command reads inside one transaction is one
 * snapshot, and no new transaction is begun that another process's map
 * growth refuses (MDB_MAP_RESIZED, which cannot be adopted while one is
 * open). A writable store's map grows only in this process. */
static _Thread_local struct {
	mn__store *s;
	MDB_txn *txn;
	int nested;
} rd_txn;

int mn__st_txn_begin(mn__store *s, bool write, MDB_txn **txn)
{
	if (!write && rd_txn.txn && rd_txn.s == s) {
		rd_txn.nested++;
		*txn = rd_txn.txn;
		return 0;
	}
	for (int attempt = 0;; attempt++) {
		pthread_rwlock_rdlock(&s->map_lock);
		int rc =
		    mdb_txn_begin(s->env, NULL, write ? 0 : MDB_RDONLY, txn);
		if (rc == 0) {
			txns_held++;
			if (!write && s->read_only && !rd_txn.txn) {
				rd_txn.s = s;
				rd_txn.txn = *txn;
				rd_txn.nested = 0;
			}
			return 0;
		}
		pthread_rwlock_unlock(&s->map_lock);
		/* Adopting a map another process grew needs no transaction
		 * of this process open: with one held here, say so rather
		 * than wait for ourselves. */
		if (rc != MDB_MAP_RESIZED || attempt > 0 || txns_held)
			return rc;
		/* Another process (a live runtime, when this is a tool)
		 * grew the map: adopt its size, with no transaction open. */
		pthread_rwlock_wrlock(&s->map_lock);
		mdb_env_set_mapsize(s->env, 0);
		pthread_rwlock_unlock(&s->map_lock);
	}
}

/* A nested read's end (it shares the open one): true when it was. */
static bool rd_txn_end(MDB_txn *txn)
{
	if (txn != rd_txn.txn)
		return false;
	if (rd_txn.nested) {
		rd_txn.nested--;
		return true;
	}
	rd_txn.txn = NULL;
	rd_txn.s = NULL;
	return false;
}

void mn__st_txn_abort(mn__store *s, MDB_txn *txn)
{
	if (rd_txn_end(txn))
		return;
	mdb_txn_abort(txn);
	txns_held--;
	pthread_rwlock_unlock(&s->map_lock);
}

int mn__st_txn_commit(mn__store *s, MDB_txn *txn)
{
	if (rd_txn_end(txn))
		return 0;
	int rc = mdb_txn_commit(txn);
	txns_held--;
	pthread_rwlock_unlock(&s->map_lock);
	return rc;
}

/* Double the map (no transaction of this process may be open). */
int mn__st_grow_map(mn__store *s)
{
	pthread_rwlock_wrlock(&s->map_lock);
	size_t want = s->map_size * 2;
	int rc = mdb_env_set_mapsize(s->env, want);
	if (rc == 0)
		s->map_size = want;
	pthread_rwlock_unlock(&s->map_lock);
	return rc ? mn__st_mdb_fail(s, rc, "growing the map") : 0;
}

/* Grow ahead of need when the map is three quarters used. */
int mn__st_maybe_grow(mn__store *s)
{
	MDB_envinfo info;
	MDB_stat st;
	mdb_env_info(s->env, &info);
	mdb_env_stat(s->env, &st);
	size_t used = (info.me_last_pgno + 1) * (size_t)st.ms_psize;
	if (info.me_mapsize > s->map_size)
		s->map_size = info.me_mapsize; /* grown by another process */
	if (used * 4 < s->map_size * 3)
		return 0;
	return mn__st_grow_map(s);
}

int mn__st_read_state(mn__store *s, MDB_txn *txn, Mnemo__StoreState **out)
{
	MDB_val k = {.mv_size = 5, .mv_data = "state"}, v;
	const unsigned char *body;
	size_t len;
	int rc = mdb_get(txn, s->dbi[DB_META], &k, &v);
	if (rc)
		return rc == MDB_NOTFOUND
			   ? mn__st_fail(s, MN_ECORRUPT,
					 "meta record state: missing")
			   : mn__st_mdb_fail(s, rc, "reading meta state");
	if ((rc = mn__frame_open(s, &v, R_STATE, DB_META, MN__FRAME_NAMED,
				 "state", &body, &len)))
		return rc;
	*out = mnemo__store_state__unpack(NULL, len, body);
	if (!*out)
		return mn__st_fail(s, MN_ECORRUPT,
				   "meta record state: undecodable");
	return 0;
}

int mn__st_write_state(mn__store *s, MDB_txn *txn, const Mnemo__StoreState *st)
{
	MDB_val k = {.mv_size = 5, .mv_data = "state"};
	int rc = mn__frame_put(s, txn, DB_META, &k, &st->base, R_STATE, 0);
	return rc ? mn__st_mdb_fail(s, rc, "writing meta state") : 0;
}

int mn__st_last_key_u64(mn__store *s, MDB_txn *txn, int db, uint64_t *out)
{
	MDB_cursor *c;
	MDB_val k, v;
	*out = 0;
	int rc = mdb_cursor_open(txn, s->dbi[db], &c);
	if (rc)
		return mn__st_mdb_fail(s, rc, "opening a cursor");
	rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
	if (rc == 0 && k.mv_size == 8)
		*out = mn__be64_get(k.mv_data);
	else if (rc == 0)
		rc = mn__st_fail(s, MN_ECORRUPT, "%s: last key of %zu bytes",
				 mn__st_db_name(db), k.mv_size);
	else if (rc == MDB_NOTFOUND)
		rc = 0;
	else
		rc = mn__st_mdb_fail(s, rc, "reading the last key");
	mdb_cursor_close(c);
	return rc;
}

/* Run fn(s, arg, txn) in a write transaction, growing the map and retrying
 * when it fills (fn must be safe to run again after an abort). */
int mn__st_write_txn(mn__store *s, int (*fn)(mn__store *, void *, MDB_txn *),
		     void *arg)
{
	if (s->read_only)
		return mn__st_fail(s, MN_EINVAL, "opened read-only");
	for (int attempt = 0;; attempt++) {
		MDB_txn *txn;
		int rc = mn__st_maybe_grow(s);
		if (rc)
			return rc;
		if ((rc = mn__st_txn_begin(s, true, &txn)))
			return mn__st_mdb_fail(s, rc, "beginning a write");
		mn__st_last_mdb_rc = 0;
		rc = fn(s, arg, txn);
		if (rc) {
			mn__st_txn_abort(s, txn);
		} else if ((rc = mn__st_txn_commit(s, txn))) {
			rc = mn__st_commit_fail(s, rc);
		}
		if (rc == MN_ENOSPC && mn__st_last_mdb_rc == MDB_MAP_FULL &&
		    attempt < 16) {
			if ((rc = mn__st_grow_map(s)))
				return rc;
			continue;
		}
		return rc;
	}
}

/* Raise StoreState.lsn_high to the newest log key in txn (L1). */
int mn__st_keep_lsn_high(mn__store *s, MDB_txn *txn)
{
	Mnemo__StoreState *st;
	uint64_t last;
	int rc = mn__st_last_key_u64(s, txn, DB_LOG, &last);
	if (rc || (rc = mn__st_read_state(s, txn, &st)))
		return rc;
	if (last > st->lsn_high) {
		st->lsn_high = last;
		rc = mn__st_write_state(s, txn, st);
	}
	mnemo__store_state__free_unpacked(st, NULL);
	return rc;
}
