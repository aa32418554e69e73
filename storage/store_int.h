/*
 * store_int.h - private to storage/: the layout of struct mn__store, the
 * databases and record types, byte order of keys, and the helpers the
 * store's files share (each declared here, defined in the file named
 * beside it). Nothing outside storage/ (and tests/storage/) includes this;
 * store.h is the layer's interface.
 *
 * The files behind store.h, in dependency order (each uses only those
 * above it):
 *   errmap.c   the error detail of this thread, LMDB/errno -> MN_E*
 *   frame.c    record frames (frame.h) and the decode arena
 *   scan.c     the one cursor-scan helper (scan.h)
 *   env.c      transactions, map growth, the write runner, the state record
 *   catalog.c  kinds, dictionaries, actor records and names
 *   history.c  decoding entries and payloads, history and snapshot reads
 *   repair.c   open-time head repair from the log tail
 *   open.c     is it a store, the writer lock, open (with its retry), close
 *   write.c    batch writes (mn__store_write)
 *   inspect.c  scans for tools: log, outbox, actors, timers, stats
 *   fork.c, compact.c (compaction and quarantine), delete.c, verify.c
 *
 * Threads: see store.h. struct mn__store's groups say who touches what.
 */
#ifndef MN_STORAGE_STORE_INT_H
#define MN_STORAGE_STORE_INT_H

#include <lmdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "include/mnemo.h"
#include "schema/mnemo.pb-c.h"
#include "base/byteorder.h"
#include "base/clock.h"
#include "base/detail.h"
#include "storage/store.h"

/* Record types: byte 4 of every frame (docs/format.md). */
enum rtype {
	R_HEADER = 1,
	R_STATE = 2,
	R_KIND = 3,
	R_ACTOR = 4,
	R_NAME = 5,
	R_ENTRY = 6,
	R_SNAPSHOT = 7,
	R_OUTBOX = 8,
	R_TIMER = 9,
	R_DICT = 10,
	R_CALL = 11,
	R_INGRESS = 12,
};

/* The quarantine holds outbox records (R_OUTBOX). */

enum dbi_index {
	DB_META,
	DB_KINDS,
	DB_NAMES,
	DB_ACTORS,
	DB_LOG,
	DB_SNAPSHOTS,
	DB_OUTBOX,
	DB_TIMERS,
	DB_DICTS,
	DB_QUARANTINE,	/* added after version 1's first stores: optional */
	DB_CALLS,	/* added with outbound calls: optional too */
	DB_INGRESS,	/* client keys of durable sends: optional */
	DB_INGRESS_AGE, /* the same by (time, key), for pruning */
	DB_COUNT
};

/* The LMDB name of database db (also how error details name it). */
static inline const char *mn__st_db_name(int db)
{
	static const char *const names[DB_COUNT] = {
	    "meta",	 "kinds",   "names",	   "actors", "log",
	    "snapshots", "outbox",  "timers",	   "dicts",  "quarantine",
	    "calls",	 "ingress", "ingress_age",
	};
	return names[db];
}

/* Kinds cached in memory: few, read often (name <-> id). */
#define KINDS_CACHE 256

/* Deletion markers: meta key "del:" + actor id (big-endian). */
#define DEL_KEY_LEN 12

/*
 * The heads the log tail implies (repair.c): each actor's newest entry
 * after the checkpoint (and its oldest there, for first_lsn).
 */
typedef struct tail_head {
	uint64_t actor_id, seq, lsn, first_lsn;
} tail_head;

struct mn__store {
	/* Immutable after open. */
	char *path;
	MDB_env *env;
	MDB_dbi dbi[DB_COUNT];
	bool read_only;
	bool no_quarantine; /* read-only open of a store that has none */
	bool no_calls;	    /* read-only open of a store that has none */
	bool no_ingress;    /* read-only open of a store that has none */
	int lock_fd;
	mn__dictset *dicts;

	/* Shared by every transaction, exclusive to grow the map. */
	pthread_rwlock_t map_lock;

	/* Writer thread only (mn__store_write). */
	uint64_t last_lsn;
	size_t map_size;

	/* Read-only opens: heads implied by the log after the checkpoint,
	 * sorted by actor id (immutable after open). */
	struct tail_head *tail;
	size_t ntail;

	/* Kind cache: under kinds_mu. */
	pthread_mutex_t kinds_mu;
	unsigned nkinds;
	struct {
		uint32_t id;
		uint32_t dict_id;
		char name[MN_KIND_NAME_MAX + 1];
	} kinds[KINDS_CACHE];
};

/* Byte order of keys (big-endian) and frames (little-endian): base/byteorder.h.
 */

/* ---- errmap.c: error detail and code mapping ----------------------------- */

/* The raw LMDB code of the last mn__st_mdb_fail in this thread (0 when
 * reset): map growth retries on MDB_MAP_FULL behind an MN_ENOSPC. */
extern _Thread_local int mn__st_last_mdb_rc;

/* Set this thread's detail to "store PATH: " + the message; returns code. */
__attribute__((format(printf, 3, 4))) int
mn__st_fail(const mn__store *s, int code, const char *fmt, ...);

/* An LMDB (or errno) failure of what: its MN_E* code, with detail. */
int mn__st_mdb_fail(const mn__store *s, int rc, const char *what);

/* A failed commit (rc from mdb_txn_commit): a full disk that LMDB reports
 * as EIO is MN_ENOSPC. */
int mn__st_commit_fail(mn__store *s, int rc);

/* The detail buffer as it stands ("" when none), and clearing it. */

/* ---- env.c: transactions, map growth, the state record ------------------- */

/* Begin (a nested read on a read-only store shares the open one); returns
 * 0 or the raw LMDB code. Every transaction holds map_lock shared. */
int mn__st_txn_begin(mn__store *s, bool write, MDB_txn **txn);
void mn__st_txn_abort(mn__store *s, MDB_txn *txn);
int mn__st_txn_commit(mn__store *s, MDB_txn *txn); /* raw LMDB code */

/* Double the map; grow ahead when three quarters used. No transaction of
 * this thread may be open. */
int mn__st_grow_map(mn__store *s);
int mn__st_maybe_grow(mn__store *s);

/* Run fn(s, arg, txn) in a write transaction, growing the map and retrying
 * when it fills (fn must be safe to run again after an abort). */
int mn__st_write_txn(mn__store *s, int (*fn)(mn__store *, void *, MDB_txn *),
		     void *arg);

/* The StoreState record (meta "state"): *out to free_unpacked. */
int mn__st_read_state(mn__store *s, MDB_txn *txn, Mnemo__StoreState **out);
int mn__st_write_state(mn__store *s, MDB_txn *txn, const Mnemo__StoreState *st);

/* Raise StoreState.lsn_high to the newest log key in txn (L1). */
int mn__st_keep_lsn_high(mn__store *s, MDB_txn *txn);

/* The last 8-byte key of db as a u64 (0 if empty). */
int mn__st_last_key_u64(mn__store *s, MDB_txn *txn, int db, uint64_t *out);

/* ---- catalog.c: kinds, dictionaries, actors, names ----------------------- */

int mn__st_load_dicts(mn__store *s, MDB_txn *txn);
int mn__st_load_kinds(mn__store *s, MDB_txn *txn);

/* An actor record: *out to mnemo__actor_meta__free_unpacked; MN_ENOACTOR
 * if missing, MN_ECORRUPT if unreadable. */
int mn__st_meta_get(mn__store *s, MDB_txn *txn, uint64_t id,
		    Mnemo__ActorMeta **out);
int mn__st_meta_put(mn__store *s, MDB_txn *txn, const Mnemo__ActorMeta *m);

/* Copy a record out, with the head a read-only open's tail implies. */
void mn__st_meta_copy(const mn__store *s, const Mnemo__ActorMeta *m,
		      mn__actor_meta *out);

/* A names key (kind id, then the key) into kb; returns its length. */
size_t mn__st_name_key(unsigned char *kb, uint32_t kind_id, const void *key,
		       size_t key_len);

/* mn__store_actor_find inside txn. */
int mn__st_actor_find_txn(mn__store *s, MDB_txn *txn, uint32_t kind_id,
			  const void *key, size_t key_len, mn__actor_meta *out);

/* ---- history.c: entries, payloads, history walks, snapshots -------------- */

/* Check and decode the log record (k, v) into the thread's arena. */
int mn__st_decode_entry(const mn__store *s, const MDB_val *k, const MDB_val *v,
			Mnemo__JournalEntry **out);

/* Decompress a record's payload into dst (grown); sets *p and *n. what and
 * key name the record in the detail. */
int mn__st_unpack_payload(const mn__store *s, mn__codec *codec, uint32_t method,
			  uint32_t dict_id, uint64_t raw_len,
			  const ProtobufCBinaryData *d, mn_buf *dst,
			  const void **p, size_t *n, const char *what,
			  uint64_t key);

/* Hand the decoded entry at lsn (stored as v) to cb. */
int mn__st_deliver_entry(const mn__store *s, mn__codec *codec, uint64_t lsn,
			 const MDB_val *v, Mnemo__JournalEntry *je, mn_buf *dst,
			 mn__entry_cb cb, void *arg);

/* No entry at lsn where a history walk needed one: MN_ECOMPACTED or
 * MN_ECORRUPT (history.c says when). */
int mn__st_missing_entry(mn__store *s, MDB_txn *txn, uint64_t lsn,
			 uint64_t actor, uint64_t want_seq, uint64_t hint,
			 uint64_t after_seq);

/* Is the entry at lsn (of parent, seq) where fork actor's history joins its
 * parent's? */
bool mn__st_fork_boundary(mn__store *s, MDB_txn *txn, uint64_t actor,
			  uint64_t parent, uint64_t seq, uint64_t lsn);

/* The latest snapshot record of actor_id at a seq <= max_seq, and its
 * decoding (into the thread's arena). */
int mn__st_snap_find(mn__store *s, MDB_cursor *c, uint64_t actor_id,
		     uint64_t max_seq, MDB_val *key, MDB_val *val);
int mn__st_snap_decode(mn__store *s, uint64_t actor_id, const MDB_val *k,
		       const MDB_val *v, Mnemo__Snapshot **out);

/* ---- repair.c: heads after a crash --------------------------------------- */

int mn__st_repair_heads(mn__store *s, MDB_txn *txn, mn__store_info *info);

/* The tail head of actor id (read-only opens), or NULL. */
const tail_head *mn__st_tail_find(const mn__store *s, uint64_t id);

/* ---- inspect.c ------------------------------------------------------------
 */

/* The outbox-shaped records of db (outbox or quarantine) with from_id <=
 * id < to_id. */
int mn__st_outbox_db_range(mn__store *s, mn__codec *codec, int db,
			   uint64_t from_id, uint64_t to_id, mn__entry_cb cb,
			   void *arg);

/* ---- delete.c -------------------------------------------------------------
 */

/* 0 marked for deletion, MN_ENOACTOR not, or a store error. */
/* calls.c: the batch's call intents written and removed; an actor's
 * intents deleted (deletion's first transaction), *n counting them. */
int mn__st_put_calls(mn__store *s, MDB_txn *txn, const mn__wbatch *b);
int mn__st_del_calls(mn__store *s, MDB_txn *txn, uint64_t actor_id,
		     uint64_t *n);

/* ingress.c: the batch's client keys stored, old ones pruned; one key's
 * record read in txn. */
int mn__st_put_ingress(mn__store *s, MDB_txn *txn, const mn__wbatch *b);
int mn__store_ingress_get_txn(mn__store *s, MDB_txn *txn, const void *ckey,
			      size_t ck_len, uint64_t *hash, uint64_t *unix_ms);

int mn__st_del_marked(mn__store *s, MDB_txn *txn, uint64_t id);

#endif
