/*
 * scan.h - the one cursor loop of storage/: walk a database in key order,
 * from its first key or from a given one, optionally only while the keys
 * share a prefix, handing each record to a callback that may stop the walk
 * or delete the record under the cursor. Every scan of a whole database
 * (or of one actor's range of it) in storage/ goes through mn__scan.
 * Private to storage/.
 */
#ifndef MN_STORAGE_SCAN_H
#define MN_STORAGE_SCAN_H

#include <stdbool.h>
#include <stddef.h>

#include "storage/store_int.h"

typedef struct mn__scan_spec {
	MDB_dbi dbi;
	/* Start at the first key at or after *from (MDB_SET_RANGE); NULL:
	 * at the first key. */
	const MDB_val *from;
	/* > 0: end at the first key that does not begin with the first
	 * prefix bytes of *from (from must be set). */
	size_t prefix;
	/* The detail when the cursor does not open, and when a read fails
	 * (NULL: a failed read ends the scan quietly, as if at the end). */
	const char *opening, *reading;
} mn__scan_spec;

/* Where the scan stands: the record, and the cursor on it (the callback
 * may mdb_cursor_del it; the scan then moves to the record after it). */
typedef struct mn__scan_at {
	MDB_cursor *cur;
	MDB_val k, v;
	bool stop; /* set by the callback: end the scan after this record */
} mn__scan_at;

/* Returns 0 to go on (or to end, with at->stop set); anything else ends
 * the scan and is what mn__scan returns. */
typedef int (*mn__scan_fn)(void *arg, mn__scan_at *at);

/*
 * Run the scan of sp inside txn: fn(arg, at) for each record in key order.
 * Returns 0 (the end of the database or of the prefix, or a stop), the
 * first non-zero result of fn, or an MN_E* code with the detail of
 * sp->opening or sp->reading. The cursor is closed on every return.
 * Threads: any (txn's thread).
 */
int mn__scan(mn__store *s, MDB_txn *txn, const mn__scan_spec *sp,
	     mn__scan_fn fn, void *arg);

#endif
