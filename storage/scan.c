/*
 * scan.c - the cursor loop of scan.h, written once: open, position (first
 * key or MDB_SET_RANGE), the prefix bound, the callback's stop, the read
 * error at the end, close.
 *
 * Threads: any; the transaction's thread.
 */
#include "storage/scan.h"

#include <string.h>

/* Does the key at the cursor still begin with sp's prefix? */
static bool in_prefix(const mn__scan_spec *sp, const MDB_val *k)
{
	return !sp->prefix ||
	       (k->mv_size >= sp->prefix &&
		memcmp(k->mv_data, sp->from->mv_data, sp->prefix) == 0);
}

int mn__scan(mn__store *s, MDB_txn *txn, const mn__scan_spec *sp,
	     mn__scan_fn fn, void *arg)
{
	mn__scan_at at = {0};
	int rc = mdb_cursor_open(txn, sp->dbi, &at.cur), e;
	if (rc)
		return mn__st_mdb_fail(s, rc, sp->opening);
	if (sp->from) {
		at.k = *sp->from;
		e = mdb_cursor_get(at.cur, &at.k, &at.v, MDB_SET_RANGE);
	} else {
		e = mdb_cursor_get(at.cur, &at.k, &at.v, MDB_FIRST);
	}
	for (; e == 0 && in_prefix(sp, &at.k);
	     e = mdb_cursor_get(at.cur, &at.k, &at.v, MDB_NEXT))
		if ((rc = fn(arg, &at)) || at.stop)
			break;
	mdb_cursor_close(at.cur);
	if (!rc && e != 0 && e != MDB_NOTFOUND && sp->reading)
		rc = mn__st_mdb_fail(s, e, sp->reading);
	return rc;
}
