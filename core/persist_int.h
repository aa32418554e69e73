/*
 * persist_int.h - private to the durable core (core/persist.c and the files
 * it was split into: record, commit, checkpoint, dict_train, timers, evict,
 * delete, compact, outbox, rehydrate): the state of a runtime's persistence,
 * struct mn__persist, and the calls those files make into each other. The
 * invariants are stated in the file that owns them (P1-P7 persist.c, R1
 * record.h, W2 persist.c, its queue MQ1-MQ4 mpsc.h, E1-E5 evict.c, G1-G3
 * outbox.c, X1-X5 delete.c, IS1-IS2 idset.h).
 */
#ifndef MN_CORE_PERSIST_INT_H
#define MN_CORE_PERSIST_INT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/assert.h"
#include "base/hash.h"
#include "core/calls.h"
#include "core/gate.h"
#include "core/hist.h"
#include "core/idset.h"
#include "core/mailbox.h"
#include "core/persist.h"
#include "core/record.h"
#include "storage/store.h"
#include "base/clock.h"
#include "base/grow.h"

/* A checkpoint of actor heads begins after this many journal entries
 * (mn_runtime_opts.checkpoint_every), and each commit group then writes
 * max(ckpt_per_group, its own record count) of them; ckpt_per_group is
 * checkpoint_every / 8, at most MN__CKPT_PER_GROUP. */
#define MN__CHECKPOINT_EVERY 65536
/* Measured (bench/peers/mnemo/durable_latency.c, 300 B at 25,000/s, five
 * runs each): 1,024 heads a group put p99 at 1.1-2.6 ms, 64 at 1.0-1.2 ms,
 * where p99 without a checkpoint in the window is 1.0-1.1 ms: a small
 * group then waited behind a thousand head updates. */
#define MN__CKPT_PER_GROUP     64
#define MN__COMMIT_MAX_DEFAULT 4096

/*
 * Compression policy (docs/compression.md). A kind's first payloads are
 * sampled; after MN__DICT_SAMPLES of them (or MN__DICT_SAMPLE_BYTES) the
 * writer trains a dictionary for the kind (about 40 ms, once) and stores it;
 * from then on its payloads are compressed with it (about 500k records/s
 * per core, 4x smaller on agent traffic). Until then, only payloads of
 * MN__PLAIN_MIN bytes or more are compressed: zstd without a dictionary
 * manages about 170k small records/s per core for a 1.5x gain, which would
 * make compression, not the disk, the writer's limit.
 */
#define MN__DICT_SAMPLES      1000
#define MN__DICT_SAMPLE_BYTES (1u << 20)
#define MN__DICT_SAMPLE_MAX   16384
#define MN__PLAIN_MIN	      1024
/* A worker keeps a compression scratch buffer up to this size between
 * messages (the bound of a 64 KiB payload); a larger one is freed. */
#define MN__ZBUF_KEEP (mn__codec_bound(64 * 1024))

/* The writer's sampling state of one kind (writer thread only); the kind's
 * dictionary itself is published in mn_kind.dict_id. */
typedef struct kind_codec {
	mn_buf samples;
	size_t *sizes;
	size_t sizes_cap;
	unsigned nsamples;
} kind_codec;

/* How often the writer looks again at an actor that is not idle yet
 * (delete.c, X3). */
#define MN__DELETE_POLL_US 1000

/* Stored messages of one kind still to deliver after open: entries with
 * next_id <= id < end_id (end_id: the first id this process assigns). */
typedef struct redeliver_job {
	struct redeliver_job *next;
	mn_kind *k;
	uint64_t next_id, end_id;
} redeliver_job;

typedef struct dirty {
	uint64_t id, lsn, seq;
} dirty;

/*
 * The state of a runtime's persistence: immutable fields first, then one
 * sub-struct per concern, each next to the comment on which threads touch
 * it; the file that owns the concern is named with it.
 */

/* The writer's queue (persist.c; mpsc.h's detaching queue, MQ1-MQ4, and
 * W2): q.end is exchanged by producers; q.head and q.stub are the
 * writer's. qlen counts queued records only with a
 * group delay (delay_us), where the writer needs it (relaxed). wsleep: the
 * writer sleeps on mn__persist.cv (seq_cst, W2). */
struct mn__persist_queue {
	mn__mpsc q;
	alignas(64) _Atomic uint64_t qlen;
	_Atomic int wsleep;
};

/* The arrays a commit group is built in (commit.c): writer thread only,
 * grown as needed, kept between groups. */
struct mn__persist_batch {
	mn__wentry *ents;
	mn__woutbox *obs, *quar;
	size_t cap_quar;
	uint64_t *dels;
	mn__wactor *acts;
	size_t cap_ents, cap_obs, cap_dels, cap_acts;
	mn__wsnap *snaps;
	mn__wtimer *timers, *tdels;
	size_t cap_snaps, cap_timers, cap_tdels;
	uint64_t *tids; /* the group's entries' timer ids (wentry.timer_ids) */
	size_t cap_tids;
	/* Calls: intents stored and removed; the entries' calls (pointers
	 * to the intents, their lengths, their request hashes). */
	mn__wcall *calls, *cdels;
	size_t cap_calls, cap_cdels;
	const void **cptr;
	size_t *clen;
	uint64_t *chash;
	size_t cap_cptr, cap_clen, cap_chash;
	/* Client keys of the group's durable sends (idempotent ingress). */
	mn__wingress *ing;
	size_t cap_ing;
	uint64_t ing_pruned_ms; /* the last pruning (unix ms) */
};

/* Checkpoints of heads (checkpoint.c, P6): writer thread only; the two
 * settings are immutable after open. */
struct mn__persist_ckpt {
	unsigned checkpoint_every;
	unsigned ckpt_per_group; /* heads per commit group */
	dirty *dirty;
	size_t ndirty, dirty_cap;
	dirty *ckpt; /* the checkpoint in progress: heads still to write */
	size_t nckpt, ckpt_cap, ckpt_pos;
	uint64_t ckpt_lsn;
	bool ckpt_active;
};

/* Dictionary training (dict_train.c): writer thread only. */
struct mn__persist_dicts {
	kind_codec kc[MN_KINDS_MAX];
	uint64_t dicts_trained;
};

/* Durable timers (timers.c): timers fired and queued but not yet
 * processed (their record is still stored): the maintenance thread adds,
 * the writer removes after the processing commit; under fired_mu. Keys
 * are timer ids (never 0 or 1, IS1). timer_seq: the ids' low bits. */
struct mn__persist_timers {
	pthread_mutex_t fired_mu;
	mn__idset fired;
	_Atomic uint64_t timer_seq;
};

/* Redelivery after open (outbox.c, lazy restart): jobs under jobs_mu, their
 * count in njobs (drain waits for 0). outbox_end and maint_codec: set at
 * open; the codec is the maintenance thread's. */
struct mn__persist_redeliver {
	pthread_mutex_t jobs_mu;
	struct redeliver_job *jobs_head, *jobs_tail;
	_Atomic unsigned njobs;
	uint64_t outbox_end;
	mn__codec *maint_codec;
};

/* Shared counters: written by the writer (release), read by any thread
 * (acquire); the maintenance thread and workers count evictions,
 * rehydrations and the like (relaxed). The messages the writer finished
 * (drain, DR2) are counted in the gate (gate.h), which the send engine
 * reads. */
struct mn__persist_stats {
	_Atomic uint64_t commits;
	_Atomic uint64_t journaled;
	_Atomic uint64_t delivered_at_open;
	_Atomic uint64_t evictions, rehydrations, snapshots, replayed, broken,
	    timers_fired;
	/* EVICT records queued and not finished (evict.c: the evictor adds,
	 * the writer subtracts): the evictor counts them as already gone. */
	_Atomic uint64_t evicting;
	/* Other versions met by rehydrations (mn_upgrade_stats; workers,
	 * relaxed). */
	_Atomic uint64_t upgraded, restored_older, refused_newer,
	    replayed_older, hash_mismatches, code_swaps, swap_evictions;
	/* mn_runtime_histogram (hist.h). */
	mn__hist rehydrate_us, commit_us, commit_records;
};

/* Online compaction (compact.c, mn_runtime_compact): the request is set
 * by the caller and cleared by the writer, both under mn__persist.mu; the
 * writer runs it in steps between commit groups; the caller waits on
 * compact_cv. */
struct mn__persist_compact {
	struct compact_req *creq;
	pthread_cond_t compact_cv;
};

/* Online deletions (delete.c, mn_actor_delete, X1-X5): requests queued to
 * the writer under mn__persist.mu (dreq_head, oldest first), each caller
 * waiting on delete_cv. The addresses being deleted, until X4 closes their
 * window, are the gate's deletion set (gate.h: del_mu, ndeleting), which
 * the send engine reads. redeliver_mu: held by the maintenance thread
 * over each redelivery scan, taken by the writer as a barrier (X4). */
struct mn__persist_delete {
	struct delete_req *dreq_head;
	pthread_cond_t delete_cv;
	pthread_mutex_t redeliver_mu;
};

struct mn__persist {
	/* Immutable after open. */
	mn_runtime *rt;
	mn__store *store;
	unsigned max_records;
	unsigned delay_us;
	uint64_t ingress_retention_ms; /* client keys remembered this long */
	/* Recovery waits for kinds_expected registrations (outbox.c):
	 * kinds registered before, under rec_mu; ready once it began. */
	unsigned kinds_expected;
	pthread_mutex_t rec_mu;
	mn_kind *rec_waiting[MN_KINDS_MAX];
	unsigned nrec_waiting;
	_Atomic bool rec_ready;
	pthread_t thread;

	/* The queue of commit records (MQ1-MQ4, W2). */
	struct mn__persist_queue q;
	/* mu guards the writer's sleep, stop and the compaction and
	 * deletion requests; cv wakes the writer. */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;

	/* Writer thread only. */
	mn__codec *codec;
	uint64_t last_lsn;
	uint64_t next_outbox_id;
	struct mn__persist_batch wb;
	struct mn__persist_ckpt ck;
	struct mn__persist_dicts dt;

	struct mn__persist_timers tm;
	struct mn__persist_redeliver rd;
	/* The gate, the deletion set and the done counter (gate.h; the
	 * send engine's view: mn_runtime.gate points here). */
	mn__gate gate;
	struct mn__persist_stats st;
	struct mn__persist_compact cp;
	struct mn__persist_delete del;
	/* Outbound calls (calls.c): the pending-call table and the I/O
	 * thread; set at open, freed at close. */
	struct mn__calls *calls;

	/* next_actor_id: fetch_add by workers (new actors). */
	_Atomic uint64_t next_actor_id;

	/* What the open found: written before the writer starts, then
	 * immutable. */
	mn_recovery recovery;

	/* Sticky, set once by the writer (P7). The detail: written once by
	 * the writer before the release CAS on error, read after an acquire
	 * load of it. */
	_Atomic int error;
	char error_detail[512];
};

/* Grow *arr (of elem-byte items, capacity *cap) to hold n: the one growth
 * rule (base/grow.h), first capacity 256. */
static inline int grow(void *arr, size_t *cap, size_t n, size_t elem)
{
	return mn__grow(arr, cap, n, elem, 256);
}

static inline const mn_kind *kind_by_store_id(mn_runtime *rt, uint32_t id)
{
	unsigned n = atomic_load_explicit(&rt->nkinds, memory_order_acquire);
	for (unsigned i = 0; i < n; i++)
		if (rt->kinds[i]->store_id == id)
			return rt->kinds[i];
	return NULL;
}

/* ---- persist.c ---- */

/* Queue record r to the writer (MQ1, W2). Any thread. */
void mn__persist_enqueue(mn__persist *p, wrec *r);
/* Make a store failure sticky (P7), with its detail (writer only). */
void mn__persist_set_error(mn__persist *p, int rc);
/* The sticky error, with its detail copied to this thread's errdetail. */
int mn__persist_sticky_error(mn__persist *p);

/* ---- commit.c: write one commit group, then its effects (P2-P5) ---- */
void mn__commit_group(mn__persist *p, wrec *list, size_t count);

/* ---- checkpoint.c (P6), writer only ---- */
int mn__ckpt_dirty_add(mn__persist *p, uint64_t id, uint64_t lsn, uint64_t seq);
int mn__ckpt_begin(mn__persist *p);
bool mn__ckpt_take(mn__persist *p, size_t max, size_t *na, size_t *taken);
void mn__ckpt_all(mn__persist *p);
int mn__ckpt_heads_forget(mn__persist *p, uint64_t id);

/* ---- dict_train.c, writer only ---- */
void mn__dict_codec_choice(const mn_kind *k, size_t len, bool *compress,
			   uint32_t *dict_id);
void mn__dict_sample(mn__persist *p, const mn_kind *k, const void *payload,
		     size_t len);
void mn__dict_train_ready(mn__persist *p);

/* ---- timers.c ---- */
void mn__timers_fired_remove(mn__persist *p, uint64_t id);
/* Make the I/O loop fire timers at due_unix_ms (0: nothing). */
void mn__timers_arm(mn__persist *p, uint64_t due_unix_ms);

/* ---- evict.c (E3-E5), writer ---- */
void mn__evict_finish(mn__persist *p, wrec *r, int rc);

/* ---- delete.c (X3-X5), writer; true while it waits (X3) ---- */
struct delete_req;
bool mn__delete_step(mn__persist *p, struct delete_req *d);

/* ---- compact.c, writer ---- */
struct compact_req;
void mn__compact_step(mn__persist *p, struct compact_req *cr);

#endif
