/*
 * ingress.c - client keys of durable sends (idempotent ingress,
 * docs/format.md): "ingress" maps a client key to what it sent
 * (IngressKey); "ingress_age" lists the same keys by (time, key) so that
 * the writer prunes the oldest first without scanning the rest. Both are
 * written in the transaction that stores the message in the outbox.
 */
#include <string.h>

#include "base/byteorder.h"
#include "storage/frame.h"
#include "storage/scan.h"
#include "storage/store_int.h"

static int age_key(unsigned char *kb, uint64_t ms, const void *ck, size_t n)
{
	mn__be64_put(kb, ms);
	memcpy(kb + 8, ck, n);
	return (int)(8 + n);
}

/* Up to max keys older than before_ms leave both databases. */
static int prune(mn__store *s, MDB_txn *txn, uint64_t before_ms, size_t max)
{
	MDB_cursor *c;
	MDB_val k, v;
	int rc = mdb_cursor_open(txn, s->dbi[DB_INGRESS_AGE], &c);
	if (rc)
		return mn__st_mdb_fail(s, rc, "opening ingress_age");
	size_t n = 0;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && n < max;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT), n++) {
		if (k.mv_size < 9 || mn__be64_get(k.mv_data) >= before_ms)
			break;
		MDB_val ck = {.mv_size = k.mv_size - 8,
			      .mv_data = (unsigned char *)k.mv_data + 8};
		int e = mdb_del(txn, s->dbi[DB_INGRESS], &ck, NULL);
		if (e && e != MDB_NOTFOUND) {
			mdb_cursor_close(c);
			return mn__st_mdb_fail(s, e, "pruning ingress");
		}
		if ((e = mdb_cursor_del(c, 0))) {
			mdb_cursor_close(c);
			return mn__st_mdb_fail(s, e, "pruning ingress_age");
		}
	}
	mdb_cursor_close(c);
	return rc && rc != MDB_NOTFOUND ? mn__st_mdb_fail(s, rc, "ingress_age")
					: 0;
}

int mn__st_put_ingress(mn__store *s, MDB_txn *txn, const mn__wbatch *b)
{
	unsigned char kb[8 + 255];
	int rc;
	if (b->ingress_prune_ms &&
	    (rc = prune(s, txn, b->ingress_prune_ms, b->ingress_prune_max)))
		return rc;
	for (size_t i = 0; i < b->n_ingress; i++) {
		const mn__wingress *g = &b->ingress[i];
		Mnemo__IngressKey ik = MNEMO__INGRESS_KEY__INIT;
		uint64_t old_hash, old_ms;
		/* A key past its window is stored again: its old age entry
		 * goes. */
		if (mn__store_ingress_get_txn(s, txn, g->ckey, g->ck_len,
					      &old_hash, &old_ms) == 0) {
			MDB_val ak = {.mv_data = kb};
			ak.mv_size =
			    (size_t)age_key(kb, old_ms, g->ckey, g->ck_len);
			int e = mdb_del(txn, s->dbi[DB_INGRESS_AGE], &ak, NULL);
			if (e && e != MDB_NOTFOUND)
				return mn__st_mdb_fail(s, e, "ingress_age");
		}
		ik.hash = g->hash;
		ik.unix_ms = g->unix_ms;
		ik.outbox_id = g->outbox_id;
		MDB_val k = {.mv_size = g->ck_len, .mv_data = (void *)g->ckey};
		if ((rc = mn__frame_put(s, txn, DB_INGRESS, &k, &ik.base,
					R_INGRESS, 0)))
			return mn__st_mdb_fail(s, rc, "writing a client key");
		MDB_val ak = {.mv_data = kb}, av = {.mv_size = FRAME_HDR};
		ak.mv_size =
		    (size_t)age_key(kb, g->unix_ms, g->ckey, g->ck_len);
		if ((rc = mdb_put(txn, s->dbi[DB_INGRESS_AGE], &ak, &av,
				  MDB_RESERVE)))
			return mn__st_mdb_fail(s, rc, "writing ingress_age");
		mn__frame_seal(av.mv_data, R_INGRESS, 0);
	}
	return 0;
}

int mn__store_ingress_get_txn(mn__store *s, MDB_txn *txn, const void *ckey,
			      size_t ck_len, uint64_t *hash, uint64_t *unix_ms)
{
	MDB_val k = {.mv_size = ck_len, .mv_data = (void *)ckey}, v;
	const unsigned char *body;
	size_t len;
	int rc = mdb_get(txn, s->dbi[DB_INGRESS], &k, &v);
	if (rc == MDB_NOTFOUND)
		return MN_ENOACTOR;
	if (rc)
		return mn__st_mdb_fail(s, rc, "reading a client key");
	if ((rc = mn__frame_open(s, &v, R_INGRESS, DB_INGRESS, MN__FRAME_NAMED,
				 "client key", &body, &len)))
		return rc;
	Mnemo__IngressKey *ik =
	    mnemo__ingress_key__unpack(mn__arena_for(len), len, body);
	if (!ik)
		return mn__st_fail(s, MN_ECORRUPT,
				   "ingress: a client key's record is "
				   "undecodable");
	*hash = ik->hash;
	*unix_ms = ik->unix_ms;
	return 0;
}

int mn__store_ingress_get(mn__store *s, const void *ckey, size_t ck_len,
			  uint64_t *hash, uint64_t *unix_ms)
{
	MDB_txn *txn;
	if (s->no_ingress)
		return MN_ENOACTOR;
	int rc = mn__st_txn_begin(s, false, &txn);
	if (rc)
		return mn__st_mdb_fail(s, rc, "beginning a read");
	rc = mn__store_ingress_get_txn(s, txn, ckey, ck_len, hash, unix_ms);
	mn__st_txn_abort(s, txn);
	return rc;
}
