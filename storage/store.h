/*
 * store.h - the durable store: one LMDB environment per directory, holding
 * the journal, actor metadata, the outbox, snapshots, timers and
 * compression dictionaries. docs/format.md describes every database, key and
 * record.
 *
 * storage/ knows nothing of scheduling. Writes come in batches
 * (mn__store_write: one LMDB transaction, all or nothing) from one writer
 * thread at a time; reads may come from any thread, concurrently with the
 * writer. LMDB error codes and zstd errors are translated here into MN_E*
 * codes; the detail of the last failure (store, record, reason) is kept per
 * thread (mn__store_errdetail).
 */
#ifndef MN_STORAGE_STORE_H
#define MN_STORAGE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "include/mnemo.h"
#include "base/buf.h"
#include "storage/codec.h"

/* The on-disk format this code writes; stores with a newer one are refused
 * with MN_EVERSION. */
#define MN__FORMAT_VERSION 1

/* Initial map size; the map grows by doubling when it fills. */
#define MN__STORE_MAP_INIT ((size_t)64 << 20)

typedef struct mn__store mn__store;

typedef struct mn__store_opts {
	bool relaxed;	 /* no fsync per commit (MDB_NOSYNC) */
	bool read_only;	 /* tools: open an existing store for reading */
	size_t map_size; /* initial map size; 0 = MN__STORE_MAP_INIT */
	int zstd_level;	 /* 0 = codec default */
} mn__store_opts;

/* What opening found (open-time recovery). */
typedef struct mn__store_info {
	bool created;		 /* the store did not exist */
	uint64_t last_lsn;	 /* newest journal entry, 0 if none */
	uint64_t checkpoint_lsn; /* heads were exact up to here */
	uint64_t heads_repaired; /* actor heads rebuilt from the log tail */
	uint64_t entries_scanned;
	uint64_t outbox_entries; /* stored messages waiting for delivery */
	uint64_t quarantined;	 /* messages forks sent, held */
	uint64_t timers;	 /* durable timers stored */
	uint64_t
	    stale_readers; /* LMDB reader slots of dead processes cleared */
	uint64_t next_actor_id;
	uint64_t next_outbox_id;
} mn__store_info;

/*
 * Open (creating if needed, unless read_only) the store in directory path.
 * Checks the format version, clears stale reader slots, and brings actor
 * heads up to date from the log tail written since the last checkpoint.
 * Returns 0 and *out, or MN_EINVAL, MN_EIO (cannot create or access the
 * directory), MN_EVERSION (newer format), MN_ENOTSTORE (not a mnemo store:
 * a data.mdb that is not LMDB's, an LMDB environment another program made,
 * or a directory of other files without a data.mdb), MN_ECORRUPT, MN_EBUSY
 * (another process has it open for writing), MN_ENOSPC, MN_ENOMEM. info may be
 * NULL.
 */
int mn__store_open(const char *path, const mn__store_opts *opts,
		   mn__store **out, mn__store_info *info);

/* Close; NULL is a no-op. No other call on s may be running. */
void mn__store_close(mn__store *s);

/* Description of the last failure of a store call in this thread, e.g.
 * "store ./data: log record 4411: checksum mismatch". Never NULL. */
const char *mn__store_errdetail(void);

/* Set this thread's detail (e.g. to hand another thread's failure to the
 * caller that waits for it). */
void mn__store_set_errdetail(const char *detail);

/* The shared dictionaries of the store (for per-thread codecs). */
mn__dictset *mn__store_dicts(mn__store *s);

/* ---- kinds -------------------------------------------------------------- */

/* The store-level id of kind name, created if new (its own small write
 * transaction; any thread). */
int mn__store_kind_id(mn__store *s, const char *name, uint32_t *id);

/* The kind name of id into buf (NUL-terminated). MN_ENOKIND if unknown. */
int mn__store_kind_name(mn__store *s, uint32_t id, char *buf, size_t cap);

/* The dictionary new records of kind id use (0: none yet). Any thread. */
uint32_t mn__store_kind_dict(mn__store *s, uint32_t kind_id);

/*
 * Store a trained dictionary for kind kind_id under a new id, make it the
 * kind's current one, and add it to the dictset (its own transaction;
 * older dictionaries stay, so old records stay readable). Returns 0 and
 * *id, or a store error. Writer thread.
 */
int mn__store_dict_add(mn__store *s, uint32_t kind_id, const void *dict,
		       size_t len, uint32_t *id);

/* ---- writing (one writer thread) ----------------------------------------- */

typedef struct mn__wentry {
	uint64_t lsn; /* assigned by the writer, strictly increasing */
	uint64_t actor_id, seq, prev_lsn, sender_id, unix_ms, outbox_id;
	uint32_t type, flags;
	bool compress;	  /* compress the payload now (with dict_id) */
	uint32_t dict_id; /* the dictionary (0 = none) */
	/* When compress is false: how payload is already stored (a
	 * MN__CODEC_* method; the caller compressed it) and its length
	 * before compression. RAW with raw_len == len for plain bytes. */
	uint32_t method;
	uint64_t raw_len;
	const void *payload;
	size_t len;
	uint64_t state_hash;   /* kind hash() after the message; 0 = none */
	uint32_t kind_version; /* the handling code's kind version (>= 1) */
	/* The ids of the timers the message set, in the order set. */
	const uint64_t *timer_ids;
	size_t n_timer_ids;
	/* The calls the message made, in order: packed intents (calls[i],
	 * call_lens[i]) and their canonical request hashes. */
	const void *const *calls;
	const size_t *call_lens;
	const uint64_t *call_hashes;
	size_t n_calls;
} mn__wentry;

typedef struct mn__woutbox {
	uint64_t id;
	uint32_t kind_id;
	const void *key;
	size_t key_len;
	uint32_t type, flags;
	uint64_t sender_id, unix_ms;
	bool compress;
	uint32_t dict_id;
	const void *payload;
	size_t len;
} mn__woutbox;

typedef struct mn__wactor {
	uint64_t id;
	uint32_t kind_id;
	const void *key;
	size_t key_len;
	uint64_t last_seq, last_lsn, first_lsn, created_unix_ms,
	    last_active_unix_ms;
	bool is_new; /* also write the (kind, key) -> id name */
	/* New actors only (mnemo import): history starts after this seq,
	 * whose snapshot the batch holds; compacted_lsn is what the first
	 * entry's prev_lsn points at (0 when it has none). */
	uint64_t compacted_seq, compacted_lsn;
} mn__wactor;

/* A snapshot to store: the state of actor_id after message seq. */
typedef struct mn__wsnap {
	uint64_t actor_id, seq, lsn;
	uint32_t dict_id; /* compress with this dictionary (0: plain zstd) */
	const void *state;
	size_t len;
	uint64_t state_hash;
	uint32_t kind_version; /* the version of the code that wrote state */
} mn__wsnap;

/* An outbound call's intent to store (a packed CallIntent, core's), or
 * (del: key only) to remove. */
typedef struct mn__wcall {
	uint64_t actor_id, call_id;
	const void *intent;
	size_t len;
} mn__wcall;

/* A client key of a durable send (idempotent ingress): its key bytes,
 * the hash of what it sent (target and message), when, and the outbox
 * id of the message. */
typedef struct mn__wingress {
	const void *ckey;
	size_t ck_len; /* 1..MN_KEY_MAX */
	uint64_t hash, unix_ms, outbox_id;
} mn__wingress;

/* The stored record of client key ckey: 0 and its hash and time, or
 * MN_ENOACTOR when the key is unknown, or a store error. Any thread (the
 * writer checks keys before it stores a batch). */
int mn__store_ingress_get(mn__store *s, const void *ckey, size_t ck_len,
			  uint64_t *hash, uint64_t *unix_ms);

/* A durable timer to store, or (del) to remove. */
typedef struct mn__wtimer {
	uint64_t id, actor_id, due_unix_ms;
	uint32_t type;
	const void *payload;
	size_t len;
} mn__wtimer;

typedef struct mn__wbatch {
	const mn__wentry *entries;
	size_t n_entries;
	const mn__woutbox *outbox;
	size_t n_outbox;
	const uint64_t *outbox_del;
	size_t n_outbox_del;
	const mn__wactor *actors;
	size_t n_actors;
	const mn__wsnap *snaps;
	size_t n_snaps;
	const mn__wtimer *timers;
	size_t n_timers;
	const mn__wtimer *timer_del; /* by (due_unix_ms, id) */
	size_t n_timer_del;
	/* Messages forks sent to actors outside themselves: held in the
	 * quarantine, not the outbox (ids from the outbox's sequence). */
	const mn__woutbox *quarantine;
	size_t n_quarantine;
	/* Call intents stored, then those removed (by actor and call id;
	 * removing one that is not stored is no error). */
	const mn__wcall *calls;
	size_t n_calls;
	const mn__wcall *call_del;
	size_t n_call_del;
	/* Client keys of durable sends stored in this batch (idempotent
	 * ingress), and a pruning: drop up to ingress_prune_max keys stored
	 * before ingress_prune_ms (0: none). */
	const struct mn__wingress *ingress;
	size_t n_ingress;
	uint64_t ingress_prune_ms;
	size_t ingress_prune_max;
	/* If non-zero: the heads in this batch's actors make every head
	 * exact up to this LSN; record it (StoreState.checkpoint_lsn). */
	uint64_t checkpoint_lsn;
	uint64_t next_actor_id; /* if non-zero: persist the id counter */
	/* If above the last LSN: LSNs up to this one are issued though not
	 * written (an import's compaction points): raise the last LSN and
	 * StoreState.lsn_high to it, so none is issued again. */
	uint64_t lsn_reserved;
} mn__wbatch;

/*
 * Write a batch in one transaction, compressing payloads with codec (the
 * calling thread's). All or nothing. The map grows on demand. Returns 0, or
 * MN_ENOSPC (disk full: nothing of the batch is stored, what was committed
 * before is intact), MN_EIO, MN_ECORRUPT, MN_EINVAL (an LSN not above the
 * last one), MN_ENOMEM.
 */
int mn__store_write(mn__store *s, mn__codec *codec, const mn__wbatch *b);

/* ---- reading (any thread) -------------------------------------------------
 */

typedef struct mn__actor_meta {
	uint64_t id;
	uint32_t kind_id;
	uint8_t key_len;
	unsigned char key[255];
	uint64_t last_seq, last_lsn, first_lsn, snapshot_seq;
	uint64_t created_unix_ms, last_active_unix_ms;
	/* Entries with seq <= compacted_seq were dropped by compaction; the
	 * actor's snapshot at compacted_seq is where its history starts. */
	uint64_t compacted_seq, compacted_lsn;
	/* A fork: its first fork_seq entries are fork_parent_id's (shared
	 * through the back-pointers; fork_lsn is the parent's entry at
	 * fork_seq). 0 = not a fork. */
	uint64_t fork_parent_id, fork_seq, fork_lsn;
} mn__actor_meta;

/* Look an actor up by address or by id. MN_ENOACTOR if absent. */
int mn__store_actor_find(mn__store *s, uint32_t kind_id, const void *key,
			 size_t key_len, mn__actor_meta *out);
int mn__store_actor_get(mn__store *s, uint64_t id, mn__actor_meta *out);

/* A decoded journal entry or outbox entry handed to a callback; payload is
 * decompressed, valid until the callback returns. */
typedef struct mn__entry {
	uint64_t lsn; /* journal: the LSN; outbox: the outbox id */
	uint64_t actor_id, seq, prev_lsn, sender_id, unix_ms, outbox_id;
	uint32_t type, flags;
	uint32_t kind_id; /* outbox: target kind */
	const void *key;  /* outbox: target key */
	size_t key_len;
	const void *payload;
	size_t len;
	size_t stored_len;     /* bytes of the record in the store */
	uint64_t state_hash;   /* journal: kind hash() after it; 0 = none */
	uint32_t kind_version; /* journal: the handling code's kind version
				* (1 for entries written before versions) */
	/* journal: ids of the timers it set, in order (none in entries
	 * written before the field existed) */
	const uint64_t *timer_ids;
	size_t n_timer_ids;
	/* journal: the calls it made, in order (packed intents and their
	 * request hashes; none in entries written before calls existed) */
	const void *const *calls;
	const size_t *call_lens;
	const uint64_t *call_hashes;
	size_t n_calls;
} mn__entry;

/* Return 0 to go on, anything else to stop (returned by the iterator). */
typedef int (*mn__entry_cb)(void *arg, const mn__entry *e);

/*
 * The journal of one actor in sequence order, entries with seq > after_seq,
 * following back-pointers from head_lsn (its newest entry). Returns 0, the
 * callback's non-zero value, or MN_ECORRUPT (checksum, broken chain, gap).
 */
int mn__store_history(mn__store *s, mn__codec *codec, uint64_t head_lsn,
		      uint64_t after_seq, mn__entry_cb cb, void *arg);

/*
 * As mn__store_history, for the actor actor_id whose head is head_lsn:
 * when an entry the walk needs is missing because a compaction dropped it
 * (the actor's, or, for a fork, the parent's whose history it shares, up
 * to the parent's compaction point), MN_ECOMPACTED, even when the missing
 * entry is the head itself (a fork at its parent's compaction point);
 * MN_ECORRUPT only for history that should be there.
 */
int mn__store_history_of(mn__store *s, mn__codec *codec, uint64_t actor_id,
			 uint64_t head_lsn, uint64_t after_seq, mn__entry_cb cb,
			 void *arg);

/*
 * The latest snapshot of actor_id taken at a seq <= max_seq: its state
 * (decompressed into out), seq and LSN. MN_ENOACTOR if there is none;
 * MN_ECORRUPT if it does not decode. Any thread.
 */
int mn__store_snapshot_latest(mn__store *s, mn__codec *codec, uint64_t actor_id,
			      uint64_t max_seq, mn_buf *out, uint64_t *seq,
			      uint64_t *lsn);
/* As mn__store_snapshot_latest, also *version: the kind version of the
 * code that wrote the snapshot (1 for snapshots written before versions).
 * version may be NULL. */
int mn__store_snapshot_latest_v(mn__store *s, mn__codec *codec,
				uint64_t actor_id, uint64_t max_seq,
				mn_buf *out, uint64_t *seq, uint64_t *lsn,
				uint32_t *version);

/* Timers due at or before now_ms, in due order, at most max of them. */
typedef int (*mn__timer_cb)(void *arg, const mn__wtimer *t);
int mn__store_timers_due(mn__store *s, uint64_t now_ms, size_t max,
			 mn__timer_cb cb, void *arg);

/* Whether a timer (due_unix_ms, id) is stored (false on a read error). */
bool mn__store_timer_exists(mn__store *s, uint64_t due_unix_ms, uint64_t id);

/* The due time of the earliest timer, or 0 when there is none. */
uint64_t mn__store_timers_next(mn__store *s);

/* An outbound call's intent, the record core/ stores for it (CallIntent,
 * docs/format.md). Strings NUL-terminated. transport: MN__CALL_HTTP or
 * MN__CALL_BRIDGE. */
enum { MN__CALL_HTTP = 1, MN__CALL_BRIDGE = 2 };
typedef struct mn__intent {
	uint64_t call_id, actor_id, seq, created_unix_ms;
	uint32_t kind_id, reply_type, transport, flags;
	const char *method, *url, *credential;
	const char *const *headers;
	size_t n_headers;
	const void *body;
	size_t body_len;
	uint32_t timeout_ms, max_attempts, backoff_ms;
	uint64_t max_response;
	uint64_t request_hash;
} mn__intent;
/* Append the packed intent to out (0 or MN_ENOMEM). */
int mn__intent_pack(const mn__intent *in, mn_buf *out);
/* Decode packed bytes: *out points into *hold, valid until
 * mn__intent_release(*hold) (call it on failure too). 0 or MN_ECORRUPT. */
int mn__intent_unpack(const void *p, size_t len, mn__intent *out, void **hold);
void mn__intent_release(void *hold);

/* A stored call intent (valid while the callback runs). */
typedef struct mn__call_rec {
	uint64_t actor_id, call_id;
	const void *intent; /* a packed CallIntent */
	size_t len;
} mn__call_rec;
typedef int (*mn__call_cb)(void *arg, const mn__call_rec *c);
/* The stored call intents of actor_id in call id order, or of every actor
 * (actor_id 0) in (actor, call) order. 0, the callback's non-zero value,
 * or a store error. Any thread. */
int mn__store_calls_scan(mn__store *s, uint64_t actor_id, mn__call_cb cb,
			 void *arg);

/* Every journal entry with lsn >= from_lsn, in LSN order. */
int mn__store_log_scan(mn__store *s, mn__codec *codec, uint64_t from_lsn,
		       mn__entry_cb cb, void *arg);

/* Every outbox entry, in id order. */
int mn__store_outbox_scan(mn__store *s, mn__codec *codec, mn__entry_cb cb,
			  void *arg);

/* The outbox entries with from_id <= id < to_id, in id order (the callback
 * may stop the scan by returning non-zero, which is returned). */
int mn__store_outbox_range(mn__store *s, mn__codec *codec, uint64_t from_id,
			   uint64_t to_id, mn__entry_cb cb, void *arg);

/* Every actor's metadata in id order (heads as exact as lookups). */
typedef int (*mn__actor_cb)(void *arg, const mn__actor_meta *m);
int mn__store_actors_scan(mn__store *s, mn__actor_cb cb, void *arg);

/* Every kind: id, name, current dictionary. */
typedef int (*mn__kind_cb)(void *arg, uint32_t id, const char *name,
			   uint32_t dict_id);
int mn__store_kinds_scan(mn__store *s, mn__kind_cb cb, void *arg);

/* Counts and sizes (no scan of values: LMDB's own statistics). */
typedef struct mn__store_stats {
	uint64_t kinds, actors, names, log_entries, outbox, snapshots, timers,
	    dicts, quarantine, calls, ingress;
	uint64_t log_bytes; /* pages of the log database, in bytes */
	uint64_t map_size, page_size, disk_bytes;
	uint64_t last_lsn, checkpoint_lsn;
	uint32_t format_version;
} mn__store_stats;
int mn__store_stats_get(mn__store *s, mn__store_stats *st);

/*
 * Check the whole store: every record of every database (frame, checksum,
 * record type, decoding), every journal entry's place in its actor's chain
 * (seq + 1 and prev_lsn of the actor's previous entry), names and actors
 * agreeing, outbox targets naming known kinds, every dictionary a record
 * names present and every payload decompressing. problem(arg, text) is
 * called for each problem found (text names the database and key).
 * Returns 0 when the walk completed (problems or not; *nproblems counts
 * them), or an error that stopped it.
 */
typedef int (*mn__problem_cb)(void *arg, const char *text);
int mn__store_verify(mn__store *s, mn__codec *codec, mn__problem_cb problem,
		     void *arg, uint64_t *nrecords, uint64_t *nproblems);

/* ---- maintenance: forks, compaction, quarantine ----------------------------
 * Writes of the tool (a writable open, so no runtime holds the store) or of
 * the runtime's writer thread. Each is crash-safe: LMDB transactions, each
 * leaving a consistent store. */

/*
 * Fork: a new actor of parent's kind at (kind, key) whose history is the
 * parent's first seq entries, shared (the fork's head is the parent's entry
 * at seq), not copied; its own entries continue from seq + 1. seq must be in
 * [max(1, compacted_seq), last_seq] of the parent. Returns 0 and *out (the
 * new actor), MN_EEXIST (the address exists), MN_ENOACTOR, MN_EINVAL (seq
 * out of range), MN_ECOMPACTED, or a store error.
 */
int mn__store_fork(mn__store *s, uint64_t parent_id, uint64_t seq,
		   const void *key, size_t key_len, mn__actor_meta *out);

typedef struct mn__compact_stats {
	uint64_t actors;    /* actors looked at */
	uint64_t compacted; /* actors whose stored history got shorter */
	uint64_t entries;   /* journal entries dropped */
	uint64_t snapshots; /* snapshots dropped */
	uint64_t bytes;	    /* bytes of the records dropped */
	uint64_t held;	    /* actors kept longer because a fork shares
			     * their history */
} mn__compact_stats;

/*
 * Compaction: for each actor, drop the journal entries and snapshots older
 * than its base, the latest snapshot with seq <= last_seq - keep (and, when a
 * fork still reads this actor's history, <= the fork point). Its snapshot
 * at the base stays; rehydration and replay start there. Incremental: begin,
 * then steps (each one write transaction over at most max_actors actors,
 * so a crash loses at most the step in progress, and the store is
 * consistent after every step), then end.
 */
typedef struct mn__compaction mn__compaction;
int mn__store_compact_begin(mn__store *s, uint64_t keep, mn__compaction **out);
int mn__store_compact_step(mn__store *s, mn__compaction *c, size_t max_actors,
			   bool *done);
void mn__store_compact_stats(const mn__compaction *c, mn__compact_stats *st);
void mn__store_compact_end(mn__compaction *c);

/* Every quarantined message (mn__entry as for the outbox: lsn is its id,
 * actor_id the fork that sent it, kind_id/key its target). */
int mn__store_quarantine_scan(mn__store *s, mn__codec *codec, mn__entry_cb cb,
			      void *arg);

/* Release (move to the outbox: delivered when a runtime next opens the
 * store) or drop quarantined message id, or all of them when id is 0;
 * *n counts them. MN_ENOACTOR when id is not held. */
int mn__store_quarantine_take(mn__store *s, uint64_t id, bool release,
			      uint64_t *n);

/* ---- deleting an actor (mn_actor_delete, mnemo rm) ------------------------
 * Crash-safe and incremental. The first transaction (delete_begin) makes the
 * actor unreachable: its name goes (the address is unknown from then on),
 * with its snapshots, its timers, the outbox and quarantine messages to it,
 * the quarantine messages from it (outbox messages it sent to others stay,
 * recorded from then on as from outside), and a deletion marker is written
 * (meta key "del:" + id). Each step then drops up to max journal entries,
 * newest first along the actor's chain, moving its head back; the last
 * removes its actors record and the marker. A crash leaves the marker: the
 * actor stays unreachable and delete_pending finishes it. Entries of the
 * actor's own history only: a fork's walk stops at its fork point (the
 * parent's entries stay). An actor with a live fork (one not being deleted)
 * is refused with MN_EBUSY: its forks share its history. */
typedef struct mn__delete_stats {
	uint64_t entries, snapshots, timers, outbox, quarantine, calls;
} mn__delete_stats;

int mn__store_delete_begin(mn__store *s, uint64_t id, mn__delete_stats *st);
int mn__store_delete_step(mn__store *s, uint64_t id, size_t max, bool *done,
			  mn__delete_stats *st);
/* As begin, without the scan of every actor for live forks: for a caller
 * that made sure there is none (mn__store_delete_check) and that no fork
 * can be made meanwhile (a runtime: forks are made offline only). */
int mn__store_delete_begin_unforked(mn__store *s, uint64_t id,
				    mn__delete_stats *st);
/* MN_EBUSY (detail naming the fork) if actor id has a live fork, else 0
 * or a store error. A read (one scan of actors); any thread. */
int mn__store_delete_check(mn__store *s, uint64_t id);
/* begin, then steps until done. */
int mn__store_delete(mn__store *s, uint64_t id, mn__delete_stats *st);
/* Ids of the actors whose deletion began and did not finish (up to cap;
 * *n is how many there are). */
int mn__store_delete_marked(mn__store *s, uint64_t *ids, size_t cap, size_t *n);
/* Finish every deletion that began and did not finish; *n how many. */
int mn__store_delete_pending(mn__store *s, size_t *n);

/* Counters as of open plus what this process wrote. */
uint64_t mn__store_last_lsn(mn__store *s);

/* Bytes the store occupies on disk (data file size). */
uint64_t mn__store_disk_bytes(mn__store *s);

#endif
