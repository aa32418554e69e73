/*
 * persist.c - durability for a runtime with a store: the writer thread,
 * group commit, output commit, the outbox, durable sends, and bringing an
 * actor back by replaying its journal.
 *
 * Protocol (docs/semantics.md states the promises, docs/architecture.md
 * repeats these invariants):
 *  P1  A worker handles a message of a persistent actor with the actor's
 *      sends held in the worker's ctx, not delivered. After handle() it
 *      queues one commit record (the message, its sequence number, the held
 *      sends) to the writer and moves on: workers never wait for the disk.
 *  P2  One writer thread takes the queued records in order, up to
 *      commit_max_records at a time, and writes them in one LMDB
 *      transaction (a commit group): a journal entry per message (global
 *      LSN, appended), an outbox entry per held send, the removal of the
 *      outbox entry each handled message came from, new actors' names.
 *  P3  Output commit: only after the commit returns does the writer push
 *      the held sends into their recipients' mailboxes, each carrying its
 *      outbox id. So no recipient ever sees an effect whose cause could be
 *      lost.
 *  P4  Exactly once on one node: a stored message (outbox) is removed in
 *      the same commit as the journal entry of its processing. After a
 *      crash, the outbox holds exactly the stored messages not processed;
 *      they are delivered again when their kind is registered.
 *  P5  A message counts as done (drain) when the writer has committed its
 *      record, so drain waits for durability too.
 *  P6  Actor heads (last seq, last LSN) are written only at checkpoints
 *      (every MN__CHECKPOINT_EVERY entries and at close): the append path
 *      stays sequential. Entries after the checkpoint are chained to their
 *      actor by back-pointers and repaired at open (storage/store.c).
 *  P7  A store failure (disk full, I/O error) is sticky: nothing more is
 *      written, durable sends fail with the error, and what was committed
 *      stays intact.
 *
 * Per-pair order across a restart (the gate, docs/architecture.md):
 *  G1  When the store held stored messages at open, every kind is gated
 *      from its registration (before it is published) until its
 *      redelivery job has queued the last of its stored messages.
 *  G2  While a kind is gated, a new message to it (any send but a spawn,
 *      a redelivered stored message and a released one) is counted as sent
 *      and parked, in order, in the kind's list, under gate_mu.
 *  G3  The job's end pushes the kind's parked messages in order and only
 *      then clears the gate (release), all under gate_mu; a sender that
 *      reads the gate clear (acquire) therefore finds every earlier
 *      parked message queued. So stored messages to an actor are in its
 *      mailbox before any message sent to it after the open.
 */
#include "core/persist.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/assert.h"
#include "core/hash.h"
#include "core/mailbox.h"
#include "storage/store.h"

/* A checkpoint of actor heads begins after this many journal entries
 * (mn_runtime_opts.checkpoint_every), and each commit group then writes
 * max(ckpt_per_group, its own record count) of them; ckpt_per_group is
 * checkpoint_every / 8, at most MN__CKPT_PER_GROUP. */
#define MN__CHECKPOINT_EVERY 65536
/* Measured (bench/peers/mnemo/durable_latency.c, 300 B at 25,000/s, five
 * runs each): 1,024 heads a group put p99 at 1.1-2.6 ms, 64 at 1.0-1.2 ms,
 * where p99 without a checkpoint in the window is 1.0-1.1 ms: a small
 * group then waited behind a thousand head updates. */
#define MN__CKPT_PER_GROUP 64
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
#define MN__DICT_SAMPLES 1000
#define MN__DICT_SAMPLE_BYTES (1u << 20)
#define MN__DICT_SAMPLE_MAX 16384
#define MN__PLAIN_MIN 1024
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

enum rec_kind { REC_ENTRY, REC_SPAWN, REC_DURABLE, REC_OUTBOX_DEL, REC_EVICT };

/* A commit record, queued by a worker (or an outside thread) to the
 * writer. One allocation: header, payload, then held sends (ENTRY) or the
 * target key (DURABLE). */
typedef struct wrec {
	struct wrec *next;            /* the writer's group list */
	_Atomic(struct wrec *) qnext; /* the queue (W1-W4) */
	uint8_t rk;
	bool is_new;
	uint8_t key_len;      /* DURABLE: target key length */
	mn__actor *actor;     /* ENTRY, SPAWN */
	const mn_kind *target; /* DURABLE */
	uint64_t seq, sender_id, outbox_id, unix_ms;
	uint32_t type, flags;
	uint32_t nsends;  /* held items (sends, timers, cancels) */
	uint32_t nmsgs;   /* of which sends (counted as sent, D1) */
	bool has_snap;    /* ENTRY, EVICT: a snapshot's state follows */
	size_t snap_off, snap_len;
	uint64_t snap_hash;   /* hash of the snapshot's bytes */
	uint64_t state_hash;  /* ENTRY: kind hash() after the message, 0 none */
	size_t len;       /* payload bytes as stored at data[0] */
	uint64_t raw_len; /* payload bytes before compression */
	uint8_t method;   /* MN__CODEC_*: how data[0..len) is stored */
	bool has_raw;     /* the raw payload follows, for sampling */
	uint32_t dict_id;
	size_t sends_off; /* held sends start at data[sends_off] */
	size_t sends_len; /* bytes of held sends */
	mn_send_done_cb done;
	void *done_arg;
	struct mn__wring *ring; /* the ring it lives in, or NULL: malloc'd */
	size_t ring_span;       /* ring bytes it holds (wrap padding too) */
	unsigned char data[];
} wrec;

/*
 * A worker's commit records live in a ring of its own instead of the heap:
 * the worker allocates at head, the writer releases in the order it
 * commits, which for one worker's records is the order they were queued
 * (one producer's pushes keep their order in the queue, W1). So releasing
 * is adding a record's span to tail. With malloc a record was allocated on
 * the worker and freed on the writer (a free into another thread's arena,
 * under its lock, and the arena's top trimmed and faulted in again): with
 * jemalloc preloaded the 1 KiB durable benchmark ran 10% faster, which is
 * what that cost. A record that does not fit (the writer is behind, or a
 * large snapshot) is malloc'd as before.
 *  R1  head is the worker's (plain); tail is written by the writer only,
 *      with release after its last use of the record, and read by the
 *      worker with acquire before it reuses the bytes. head - tail <= cap.
 *      Violation: a record overwritten while the writer reads it.
 */
#define MN__WRING_CAP ((size_t)4 << 20)
#define MN__WRING_MAX (MN__WRING_CAP / 16)
struct mn__wring {
	unsigned char *buf; /* MN__WRING_CAP bytes, 64-byte aligned */
	size_t head;        /* the worker's */
	alignas(64) _Atomic size_t tail;
};

/* A commit record of size bytes with its header zeroed: from the worker's
 * ring (R1) or malloc. NULL when out of memory. Worker thread. */
static wrec *wrec_alloc(mn__worker *w, size_t size)
{
	struct mn__wring *g = w->wring;
	size_t n = (size + 63) & ~(size_t)63;
	wrec *r = NULL;
	size_t span = 0;
	if (g && n <= MN__WRING_MAX) {
		/* acquire: pairs with the writer's release of the bytes. */
		size_t tail = atomic_load_explicit(&g->tail,
						   memory_order_acquire);
		size_t off = g->head & (MN__WRING_CAP - 1);
		size_t pad = off + n > MN__WRING_CAP ? MN__WRING_CAP - off : 0;
		if (g->head + pad + n - tail <= MN__WRING_CAP) {
			r = (wrec *)(g->buf + (pad ? 0 : off));
			span = pad + n;
			g->head += span;
		}
	}
	if (!r && !(r = malloc(size)))
		return NULL;
	memset(r, 0, sizeof *r);
	r->ring = span ? g : NULL;
	r->ring_span = span;
	return r;
}

/* Give a record's memory back (writer): to its ring, or free(). */
static void wrec_release(wrec *r)
{
	struct mn__wring *g = r->ring;
	if (!g) {
		free(r);
		return;
	}
	size_t span = r->ring_span;
	/* One writer: load + store. release: every use of the record
	 * happens before the worker may reuse its bytes (R1). */
	atomic_store_explicit(
		&g->tail,
		atomic_load_explicit(&g->tail, memory_order_relaxed) + span,
		memory_order_release);
}


/* A held send, serialised in mn_ctx.pending: this header, the key, the
 * payload, padding to 8 bytes. */
typedef struct held_send {
	uint16_t kind_idx;
	uint8_t key_len;
	uint8_t tag; /* HELD_* */
	uint32_t type;
	uint64_t len;
} held_send;

/* Held items: a send (key, payload), a timer ([u64 id] then its payload:
 * key_len 0), a timer cancel ([u64 id]). */
enum { HELD_SEND = 0, HELD_TIMER = 1, HELD_CANCEL = 2 };

static inline size_t held_size(size_t key_len, size_t len)
{
	return (sizeof(held_send) + key_len + len + 7) & ~(size_t)7;
}

/* A head to checkpoint: by id, not by record, since the actor may be
 * evicted before the checkpoint runs. */
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

/* A message parked at a gated kind (G2): its send, copied. */
typedef struct parked {
	struct parked *next;
	const mn_kind *kind;
	uint32_t type;
	size_t len, key_len;
	mn__sendx x;
	unsigned char key[MN_KEY_MAX];
	unsigned char data[];
} parked;

struct mn__persist {
	/* Immutable after open. */
	mn_runtime *rt;
	mn__store *store;
	unsigned max_records;
	unsigned delay_us;
	unsigned checkpoint_every;
	unsigned ckpt_per_group; /* heads per commit group */
	pthread_t thread;

	/* The queue of commit records (W1-W3 at enqueue): qtail is
	 * exchanged by producers; qhead and qstub are the writer's. qlen
	 * counts queued records only with a group delay (delay_us), where
	 * the writer needs it (relaxed). wsleep: the writer sleeps on cv
	 * (seq_cst, W2). mu guards the sleep, stop and creq. */
	alignas(64) _Atomic(wrec *) qtail;
	_Atomic uint64_t qlen;
	_Atomic int wsleep;
	alignas(64) wrec *qhead;
	wrec *qstub;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;

	/* Writer thread only. */
	mn__codec *codec;
	uint64_t last_lsn;
	uint64_t next_outbox_id;
	dirty *dirty;
	size_t ndirty, dirty_cap;
	dirty *ckpt; /* the checkpoint in progress: heads still to write */
	size_t nckpt, ckpt_cap, ckpt_pos;
	uint64_t ckpt_lsn;
	bool ckpt_active;
	mn__wentry *ents;
	mn__woutbox *obs, *quar;
	size_t cap_quar;
	uint64_t *dels;
	mn__wactor *acts;
	size_t cap_ents, cap_obs, cap_dels, cap_acts;
	kind_codec kc[MN_KINDS_MAX];
	uint64_t dicts_trained;
	mn__wsnap *snaps;
	mn__wtimer *timers, *tdels;
	size_t cap_snaps, cap_timers, cap_tdels;
	uint64_t *tids; /* the group's entries' timer ids (wentry.timer_ids) */
	size_t cap_tids;

	/* Timers fired and queued but not yet processed (their record is
	 * still stored): the maintenance thread adds, the writer removes
	 * after the processing commit; under fired_mu. Keys are timer ids
	 * (never 0 or 1: 0 marks an empty slot, 1 a removed one). */
	pthread_mutex_t fired_mu;
	uint64_t *fired;
	size_t fired_cap, fired_used;
	_Atomic uint64_t timer_seq;

	/* Redelivery after open (lazy restart): jobs under jobs_mu, their
	 * count in njobs (drain waits for 0). outbox_end and maint_codec:
	 * set at open; the codec is the maintenance thread's. */
	pthread_mutex_t jobs_mu;
	struct redeliver_job *jobs_head, *jobs_tail;
	_Atomic unsigned njobs;
	uint64_t outbox_end;
	mn__codec *maint_codec;

	/* The gate (G1-G3): stored at open: the store held outbox entries;
	 * parked lists per kind index under gate_mu; nparked counts them (the
	 * pacing leaves them out); gate_done counts parked messages that could
	 * not be delivered (done for drain). */
	bool stored_at_open;
	pthread_mutex_t gate_mu;
	parked *park_head[MN_KINDS_MAX], *park_tail[MN_KINDS_MAX];
	_Atomic uint64_t nparked;
	_Atomic uint64_t gate_done;

	/* Shared counters: written by the writer (release), read by any
	 * thread (acquire). next_actor_id: fetch_add by workers. error:
	 * sticky, set once by the writer. */
	_Atomic uint64_t done;
	_Atomic uint64_t commits;
	_Atomic uint64_t journaled;
	_Atomic uint64_t delivered_at_open;
	_Atomic uint64_t next_actor_id;
	_Atomic uint64_t evictions, rehydrations, snapshots, replayed, broken,
		timers_fired;
	/* EVICT records queued and not finished (evictor adds, writer
	 * subtracts): the evictor counts them as already gone. */
	_Atomic uint64_t evicting;
	/* Online compaction (mn_runtime_compact): the request is set by the
	 * caller and cleared by the writer, both under mu; the writer runs it
	 * in steps between commit groups; the caller waits on compact_cv. */
	struct compact_req *creq;
	pthread_cond_t compact_cv;
	/* Online deletions (mn_actor_delete, X1-X5): requests queued to the
	 * writer under mu (dreq_head, oldest first), each caller waiting on
	 * delete_cv. The addresses being deleted, until X4 closes their
	 * window: under del_mu (lock order: a shard lock, then del_mu);
	 * ndeleting mirrors their count (written under del_mu, read
	 * without it: senders and workers look only when it is not 0).
	 * redeliver_mu: held by the maintenance thread over each redelivery
	 * scan, taken by the writer as a barrier (X4). */
	struct delete_req *dreq_head;
	pthread_cond_t delete_cv;
	pthread_mutex_t del_mu;
	struct delete_req *deleting;
	_Atomic size_t ndeleting;
	pthread_mutex_t redeliver_mu;

	/* What the open found: written before the writer starts, then
	 * immutable. */
	mn_recovery recovery;

	_Atomic int error;
	/* The detail of the sticky error: written once by the writer before
	 * the release CAS on error, read after an acquire load of it. */
	char error_detail[512];
};

static uint64_t now_unix_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Grow *arr (of elem-byte items, capacity *cap) to hold n. */
static int grow(void *arr, size_t *cap, size_t n, size_t elem)
{
	void **pa = arr;
	if (n <= *cap)
		return 0;
	size_t c = *cap ? *cap : 256;
	while (c < n)
		c *= 2;
	void *na = realloc(*pa, c * elem);
	if (!na)
		return MN_ENOMEM;
	*pa = na;
	*cap = c;
	return 0;
}

/* ---- the queue ------------------------------------------------------------- */

/*
 * The queue from workers (and outside threads, the maintenance thread) to
 * the writer: an intrusive multi-producer queue (Vyukov's), linked through
 * wrec.qnext, with a stub record; the writer is its only consumer. It was
 * a list under mu: with two workers queueing 500k records a second, the
 * mutex's futex waits and wakes were 4-6% of the workers' time (perf, the
 * 1 KiB durable benchmark).
 *  W1  A producer sets its record's qnext to NULL, exchanges qtail
 *      (seq_cst) and then links the previous tail to it (release).
 *      Between the two the queue is "busy": the writer may find no next
 *      record while qtail shows one, and must try again, never sleep.
 *      Violation: a record skipped, or read before its link.
 *  W2  The writer sleeps only after storing wsleep = 1 and then finding
 *      the queue drained (W4; its load of qtail seq_cst); a producer loads
 *      wsleep (seq_cst) after its exchange and, if set, clears it and
 *      signals cv under mu. In the single order of seq_cst operations
 *      either the writer sees the record or the producer sees the flag.
 *      Violation: a record stranded while the writer sleeps.
 *  W3  The writer returns a record only once its qnext is linked or the
 *      stub was put back behind it, so no producer writes its qnext after
 *      it left; the writer may then reuse next for its group list.
 *      Violation: a link written into a committed (freed) record.
 *  W4  The queue is drained only when the stub is the head and the tail.
 *      A producer can exchange between the writer's check that the tail
 *      is its head record and the writer's push of the stub: the stub
 *      then becomes the tail behind that producer's record, which is not
 *      linked yet. Violation: the writer sleeps with records queued and a
 *      durable send waits for ever (test_writer_sleeps_only_when_drained).
 */
static void queue_push(mn__persist *p, wrec *r)
{
	atomic_store_explicit(&r->qnext, NULL, memory_order_relaxed);
	wrec *prev =
		atomic_exchange_explicit(&p->qtail, r, memory_order_seq_cst);
	/* release: pairs with the writer's acquire load of qnext. */
	atomic_store_explicit(&prev->qnext, r, memory_order_release);
}

static void enqueue(mn__persist *p, wrec *r)
{
	queue_push(p, r);
	if (p->delay_us)
		atomic_fetch_add_explicit(&p->qlen, 1, memory_order_relaxed);
	if (atomic_load_explicit(&p->wsleep, memory_order_seq_cst)) {
		pthread_mutex_lock(&p->mu);
		if (atomic_load_explicit(&p->wsleep, memory_order_relaxed)) {
			atomic_store_explicit(&p->wsleep, 0,
					      memory_order_relaxed);
			pthread_cond_signal(&p->cv);
		}
		pthread_mutex_unlock(&p->mu);
	}
}

/* The next record, or NULL: empty, or busy (W1). Writer only. */
static wrec *queue_pop(mn__persist *p)
{
	wrec *stub = p->qstub, *head = p->qhead, *next;
	/* acquire (here and below): pairs with the release link in
	 * queue_push. */
	next = atomic_load_explicit(&head->qnext, memory_order_acquire);
	if (head == stub) {
		if (!next)
			return NULL;
		p->qhead = head = next;
		next = atomic_load_explicit(&head->qnext, memory_order_acquire);
	}
	if (!next) {
		/* head is the last linked record: put the stub behind it
		 * so that it can leave (W3), unless a producer is between
		 * its exchange and its link (W1). */
		if (atomic_load_explicit(&p->qtail, memory_order_acquire) !=
		    head)
			return NULL;
		queue_push(p, stub);
		next = atomic_load_explicit(&head->qnext, memory_order_acquire);
		if (!next)
			return NULL;
	}
	p->qhead = next;
	return head;
}

/* Up to max records from the queue, linked through next in queue order,
 * after *last (or starting the list when *list is NULL); returns how many.
 * Writer only. */
static size_t queue_take(mn__persist *p, size_t max, wrec **list,
			 wrec **last)
{
	size_t n = 0;
	wrec *r;
	while (n < max && (r = queue_pop(p))) {
		r->next = NULL;
		if (*last)
			(*last)->next = r;
		else
			*list = r;
		*last = r;
		n++;
	}
	if (n && p->delay_us)
		atomic_fetch_sub_explicit(&p->qlen, n, memory_order_relaxed);
	return n;
}

/* True when the writer has taken everything: its stub is both the head and
 * the tail (W2). The tail alone is not enough: the stub put back behind a
 * record (W3) can become the tail while a producer that exchanged just
 * before it has not linked its record yet, so the head still holds records
 * the writer cannot reach; sleeping then stranded them (W4). */
static bool queue_drained(mn__persist *p)
{
	return p->qhead == p->qstub &&
	       atomic_load_explicit(&p->qtail, memory_order_seq_cst) ==
		       p->qstub;
}

/* ---- the writer ------------------------------------------------------------ */

static const mn_kind *kind_by_store_id(mn_runtime *rt, uint32_t id)
{
	unsigned n = atomic_load_explicit(&rt->nkinds, memory_order_acquire);
	for (unsigned i = 0; i < n; i++)
		if (rt->kinds[i]->store_id == id)
			return rt->kinds[i];
	return NULL;
}

static void count_done(mn__persist *p, uint64_t n)
{
	/* One writer thread: store(load + n), release (drain's D2). */
	atomic_store_explicit(
		&p->done, atomic_load_explicit(&p->done, memory_order_relaxed) + n,
		memory_order_release);
}

/* Make a store failure sticky (P7), with its detail (writer only). */
static void set_error(mn__persist *p, int rc)
{
	if (atomic_load_explicit(&p->error, memory_order_relaxed))
		return;
	snprintf(p->error_detail, sizeof p->error_detail, "%s",
		 mn__store_errdetail());
	atomic_store_explicit(&p->error, rc, memory_order_release);
	mn__event(&p->rt->ev, MN_EVENT_STORE_ERROR, rc, NULL, NULL, 0, 0,
		  "%s; the store takes no more writes", p->error_detail);
}

/* The sticky error, with its detail copied to this thread's errdetail. */
static int sticky_error(mn__persist *p)
{
	int rc = atomic_load_explicit(&p->error, memory_order_acquire);
	if (rc)
		mn__store_set_errdetail(p->error_detail);
	return rc;
}

static int dirty_add(mn__persist *p, uint64_t id, uint64_t lsn, uint64_t seq)
{
	int rc = grow(&p->dirty, &p->dirty_cap, p->ndirty + 1, sizeof(dirty));
	if (rc)
		return rc;
	p->dirty[p->ndirty++] = (dirty){id, lsn, seq};
	return 0;
}

/* Sort d[0..n) by actor id, stably (entries arrive in LSN order, so an
 * actor's newest comes last), using tmp[0..n); returns the array that
 * holds the result. LSD radix, 11 bits a pass: two passes below 4M actor
 * ids. qsort with a comparator was 8% of the writer's time in the 1 KiB
 * durable benchmark (65,536 entries a checkpoint). */
#define DIRTY_RADIX 11
static dirty *dirty_sort(dirty *d, dirty *tmp, size_t n)
{
	uint64_t max = 0;
	for (size_t i = 0; i < n; i++)
		max = d[i].id > max ? d[i].id : max;
	for (unsigned shift = 0; shift < 64 && (max >> shift);
	     shift += DIRTY_RADIX) {
		size_t pos[1u << DIRTY_RADIX] = {0}, sum = 0;
		const uint64_t mask = (1u << DIRTY_RADIX) - 1;
		for (size_t i = 0; i < n; i++)
			pos[(d[i].id >> shift) & mask]++;
		for (size_t b = 0; b <= mask; b++) {
			size_t c = pos[b];
			pos[b] = sum;
			sum += c;
		}
		for (size_t i = 0; i < n; i++)
			tmp[pos[(d[i].id >> shift) & mask]++] = d[i];
		dirty *t = d;
		d = tmp;
		tmp = t;
	}
	return d;
}

/* Begin a checkpoint (P6): the heads touched so far, one per actor, are
 * written a bounded number per commit group (see MN__CHECKPOINT_EVERY), so
 * that a checkpoint of a million actors never stalls one commit, yet ends
 * before the next is due; the group that writes the last of them records
 * checkpoint_lsn. */
static int checkpoint_begin(mn__persist *p)
{
	size_t n = 0;
	int rc;

	if (p->ckpt_active || p->ndirty == 0)
		return 0;
	if ((rc = grow(&p->ckpt, &p->ckpt_cap, p->ndirty, sizeof *p->ckpt)))
		return rc;
	/* The sorted run may end in ckpt itself: the compaction below
	 * writes at n <= i, so it can run in place. */
	const dirty *d = dirty_sort(p->dirty, p->ckpt, p->ndirty);
	for (size_t i = 0; i < p->ndirty; i++)
		if (i + 1 == p->ndirty || d[i + 1].id != d[i].id)
			p->ckpt[n++] = d[i]; /* the actor's newest */
	p->nckpt = n;
	p->ckpt_pos = 0;
	p->ckpt_lsn = p->last_lsn;
	p->ckpt_active = true;
	p->ndirty = 0;
	return 0;
}

/* Append up to max pending heads to acts[*na...]; returns true when they
 * were the last ones (the batch then records the checkpoint). */
static bool checkpoint_take(mn__persist *p, size_t max, size_t *na,
			    size_t *taken)
{
	size_t k = 0;
	uint64_t now = now_unix_ms();
	while (k < max && p->ckpt_pos + k < p->nckpt) {
		const dirty *d = &p->ckpt[p->ckpt_pos + k];
		p->acts[(*na)++] = (mn__wactor){
			.id = d->id,
			.last_seq = d->seq,
			.last_lsn = d->lsn,
			.last_active_unix_ms = now,
		};
		k++;
	}
	*taken = k;
	return p->ckpt_pos + k == p->nckpt;
}

/* At close: finish the checkpoint in progress and write one of every head
 * still dirty, in whole batches. */
static void checkpoint_all(mn__persist *p)
{
	for (int round = 0; round < 2; round++) {
		if (atomic_load_explicit(&p->error, memory_order_relaxed))
			return;
		if (!p->ckpt_active && checkpoint_begin(p))
			return;
		if (!p->ckpt_active)
			return;
		mn__wbatch b = {0};
		size_t na = 0, taken;
		if (grow(&p->acts, &p->cap_acts, p->nckpt, sizeof *p->acts))
			return;
		checkpoint_take(p, SIZE_MAX, &na, &taken);
		b.actors = p->acts;
		b.n_actors = na;
		b.checkpoint_lsn = p->ckpt_lsn;
		b.next_actor_id = atomic_load_explicit(&p->next_actor_id,
						       memory_order_relaxed);
		int rc = mn__store_write(p->store, p->codec, &b);
		if (rc) {
			set_error(p, rc);
			return;
		}
		p->ckpt_active = false;
	}
}

/* How the writer stores a payload of kind k (outbox entries; journal
 * payloads arrive compressed by their worker). */
static void codec_choice(const mn_kind *k, size_t len, bool *compress,
			 uint32_t *dict_id)
{
	*dict_id = atomic_load_explicit(&((mn_kind *)k)->dict_id,
					memory_order_acquire);
	*compress = *dict_id || len >= MN__PLAIN_MIN;
}

/* Keep a raw payload of kind k as a training sample while it has no
 * dictionary. */
static void sample(mn__persist *p, const mn_kind *k, const void *payload,
		   size_t len)
{
	kind_codec *kc = &p->kc[k->idx];
	if (!atomic_load_explicit(&((mn_kind *)k)->sampling,
				  memory_order_relaxed) ||
	    len < MN__CODEC_MIN_DICT || len > MN__DICT_SAMPLE_MAX)
		return;
	if (grow(&kc->sizes, &kc->sizes_cap, kc->nsamples + 1,
		 sizeof *kc->sizes) ||
	    mn_buf_append(&kc->samples, payload, len))
		return; /* no memory: just fewer samples */
	kc->sizes[kc->nsamples++] = len;
}

/* Train the dictionaries that have enough samples (after a commit group:
 * the samples are copies). A kind whose traffic teaches zstd nothing keeps
 * no dictionary. */
static void train_dicts(mn__persist *p)
{
	mn_runtime *rt = p->rt;
	unsigned n = atomic_load_explicit(&rt->nkinds, memory_order_acquire);
	for (unsigned i = 0; i < n; i++) {
		kind_codec *kc = &p->kc[i];
		mn_kind *k = rt->kinds[i];
		if (!atomic_load_explicit(&k->sampling, memory_order_relaxed) ||
		    (kc->nsamples < MN__DICT_SAMPLES &&
		     kc->samples.len < MN__DICT_SAMPLE_BYTES))
			continue;
		unsigned char *dict = malloc(MN__DICT_CAP_DEFAULT);
		size_t dlen;
		uint32_t id;
		if (dict &&
		    mn__dict_train(kc->samples.data, kc->sizes, kc->nsamples,
				   MN__DICT_CAP_DEFAULT, dict, &dlen) == 0 &&
		    mn__store_dict_add(p->store, k->store_id, dict, dlen,
				       &id) == 0) {
			/* release: the dictionary is in the dictset; pairs
			 * with the acquire loads of the workers. */
			atomic_store_explicit(&k->dict_id, id,
					      memory_order_release);
			p->dicts_trained++;
		}
		free(dict);
		atomic_store_explicit(&k->sampling, false, memory_order_relaxed);
		mn__buf_free(&kc->samples);
		free(kc->sizes);
		kc->sizes = NULL;
		kc->sizes_cap = 0;
		kc->nsamples = 0;
	}
}

/* ---- fired timers ------------------------------------------------------------ */

/* The fired set, fired_mu held. op: 0 test, 1 add (returns false if
 * present), 2 remove. */
static bool fired_op_locked(mn__persist *p, uint64_t id, int op)
{
	bool r = false;
	if (op == 1 && (p->fired_used + 1) * 2 > p->fired_cap) {
		size_t nc = p->fired_cap ? p->fired_cap * 2 : 1024;
		uint64_t *nt = calloc(nc, sizeof *nt);
		if (nt) {
			for (size_t i = 0; i < p->fired_cap; i++) {
				uint64_t v = p->fired[i];
				if (v > 1) {
					size_t j = (v * 0x9e3779b97f4a7c15ull) &
						   (nc - 1);
					while (nt[j])
						j = (j + 1) & (nc - 1);
					nt[j] = v;
				}
			}
			free(p->fired);
			p->fired = nt;
			p->fired_cap = nc;
		}
	}
	if (p->fired_cap) {
		size_t mask = p->fired_cap - 1;
		size_t i = (id * 0x9e3779b97f4a7c15ull) & mask, tomb = SIZE_MAX;
		for (size_t n = 0; n < p->fired_cap; n++, i = (i + 1) & mask) {
			if (p->fired[i] == id) {
				if (op == 2) {
					p->fired[i] = 1;
					p->fired_used--;
				}
				r = op != 1 ? true : false;
				goto out;
			}
			if (p->fired[i] == 1 && tomb == SIZE_MAX)
				tomb = i;
			if (p->fired[i] == 0)
				break;
		}
		if (op == 1 && (tomb != SIZE_MAX || p->fired[i] == 0)) {
			p->fired[tomb != SIZE_MAX ? tomb : i] = id;
			p->fired_used++;
			r = true;
		}
	}
out:
	return r;
}

/*
 * The writer removes a timer from the set after the commit that deleted
 * its record. The maintenance thread holds fired_mu for a whole scan of due
 * timers (one read transaction): a scan that began before that commit still
 * sees the record, and must still find the id in the set, or it would fire
 * the timer a second time (found by the crash harness).
 */
static void fired_remove(mn__persist *p, uint64_t id)
{
	pthread_mutex_lock(&p->fired_mu);
	fired_op_locked(p, id, 2);
	pthread_mutex_unlock(&p->fired_mu);
}

/* ---- eviction ------------------------------------------------------------------ */

/*
 * Eviction (docs/architecture.md, E1-E5):
 *  E1  Only an idle actor is chosen: mailbox marked empty, no commit record
 *      in flight, initialised and already in the store. The evictor checks
 *      this holding the actor's shard lock, so no message can arrive while
 *      it looks (M5), and captures seq and, if messages came after the
 *      last snapshot, a snapshot of the state.
 *  E2  The evictor queues an EVICT record; the actor stays resident and
 *      usable meanwhile.
 *  E3  The writer commits the actor's exact head (and snapshot) first. Only
 *      then may the record leave memory, so a later rehydration reads a
 *      complete history from the store.
 *  E4  After the commit, the writer takes the shard lock and removes the
 *      actor only if it is still idle, with nothing in flight and the same
 *      seq: a message that arrived meanwhile cancels the eviction, never
 *      lands in freed memory, and is never reordered.
 *  E5  The kind's free() runs on the state after the record left the
 *      registry, outside the lock.
 */
static void evict_finish(mn__persist *p, wrec *r, int rc)
{
	mn__actor *a = r->actor;
	mn_runtime *rt = p->rt;
	uint64_t h = mn__hash(a->kind_idx, a->key, a->key_len);
	mn__shard *s = mn__reg_shard(&rt->reg, h);
	void *state = NULL;
	bool evicted = false;
	const mn_kind *k = rt->kinds[a->kind_idx];

	mn__reg_lock(s);
	if (!rc && mn__mb_idle(a) &&
	    atomic_load_explicit(&mn__ap(a)->inflight, memory_order_acquire) == 0 &&
	    mn__ap(a)->seq == r->seq) {
		mn__reg_remove(s, a);
		state = a->state;
		evicted = true;
		mn__reg_record_free(s, a, true);
	} else {
		atomic_store_explicit(&mn__ap(a)->evicting, 0, memory_order_relaxed);
	}
	mn__reg_unlock(s);
	atomic_fetch_sub_explicit(&p->evicting, 1, memory_order_relaxed);
	if (evicted) {
		if (k->def.free)
			k->def.free(state);
		atomic_fetch_add_explicit(&p->evictions, 1,
					  memory_order_relaxed);
	}
}

int mn__persist_evict(mn_runtime *rt, mn__actor *a)
{
	mn__persist *p = rt->persist;
	const mn_kind *k = rt->kinds[a->kind_idx];
	mn_buf snap;
	int rc = 0;

	mn__buf_init(&snap);
	bool want_snap = k->def.snapshot && mn__ap(a)->snap_msgs > 0;
	if (want_snap && k->def.snapshot(a->state, &snap) < 0) {
		/* No snapshot: the history alone brings it back. */
		want_snap = false;
	}
	wrec *r = malloc(sizeof *r + (want_snap ? snap.len : 0));
	if (!r) {
		mn__buf_free(&snap);
		return MN_ENOMEM;
	}
	memset(r, 0, sizeof *r);
	r->rk = REC_EVICT;
	r->actor = a;
	r->seq = mn__ap(a)->seq;
	r->unix_ms = now_unix_ms();
	if (want_snap) {
		r->has_snap = true;
		r->snap_off = 0;
		r->snap_len = snap.len;
		if (snap.len)
			memcpy(r->data, snap.data, snap.len);
		r->snap_hash = mn__snap_hash(snap.data, snap.len);
		mn__ap(a)->snap_msgs = 0;
		mn__ap(a)->snap_bytes = 0;
	}
	mn__buf_free(&snap);
	atomic_store_explicit(&mn__ap(a)->evicting, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&p->evicting, 1, memory_order_relaxed);
	enqueue(p, r);
	return rc;
}

/* Is held send h (target key) of actor a one to hold in the quarantine:
 * a fork's send to any actor but itself? */
static bool quarantined(const mn__actor *a, const held_send *h,
			const unsigned char *key)
{
	return (mn__ap(a)->pflags & MN__AP_QUARANTINED) &&
	       !(h->kind_idx == a->kind_idx && h->key_len == a->key_len &&
		 memcmp(key, a->key, a->key_len) == 0);
}

/* Deliver the held sends of an ENTRY record (P3); ids[] are their outbox
 * ids. */
static void deliver_held(mn__persist *p, wrec *r, const uint64_t *ids)
{
	mn_runtime *rt = p->rt;
	const unsigned char *q = r->data + r->sends_off;
	size_t k = 0;
	for (uint32_t i = 0; i < r->nsends; i++) {
		held_send h;
		memcpy(&h, q, sizeof h);
		const unsigned char *key = q + sizeof h;
		if (h.tag != HELD_SEND) {
			q += held_size(h.key_len, (size_t)h.len);
			continue;
		}
		if (quarantined(r->actor, &h, key)) {
			/* Held in the quarantine, not delivered: done. */
			k++;
			count_done(p, 1);
			q += held_size(h.key_len, (size_t)h.len);
			continue;
		}
		mn__sendx x = {.outbox_id = ids[k++], .counted = true};
		int rc = mn__send(rt, NULL, r->actor, rt->kinds[h.kind_idx], key,
				  h.key_len, h.type, key + h.key_len,
				  (size_t)h.len, &x);
		if (rc == MN__EDELETING) {
			/* Its deletion's first transaction removed it from
			 * the outbox (X3). */
			count_done(p, 1);
			mn__event(&rt->ev, MN_EVENT_DROPPED, MN_ENOACTOR,
				  rt->kinds[h.kind_idx], key, h.key_len, 0,
				  "message type %u dropped: the actor is being "
				  "deleted",
				  (unsigned)h.type);
		} else if (rc) {
			/* Counted as sent by the worker: count it done so
			 * drain does not wait forever. The outbox keeps it
			 * for the next open. */
			count_done(p, 1);
			mn__event(&rt->ev, MN_EVENT_UNDELIVERED, rc,
				  rt->kinds[h.kind_idx], key, h.key_len, 0,
				  "stored message %llu (type %u) not delivered "
				  "(%s); it stays stored for the next open",
				  (unsigned long long)x.outbox_id,
				  (unsigned)h.type, mn_err_name(rc));
		}
		q += held_size(h.key_len, (size_t)h.len);
	}
}

/* Write one commit group and make its effects visible (P2, P3, P5). */
static void commit_group(mn__persist *p, wrec *list, size_t count)
{
	mn__wbatch b = {0};
	size_t ne = 0, no = 0, nd = 0, na = 0, nsends = 0;
	uint64_t *ids = NULL;
	int rc = atomic_load_explicit(&p->error, memory_order_relaxed);
	uint64_t first_lsn = p->last_lsn;

	size_t nsn = 0, nt = 0, ntd = 0, nq = 0;
	for (wrec *r = list; r; r = r->next)
		nsends += r->rk == REC_ENTRY ? r->nsends : 0;
	if (!rc &&
	    ((rc = grow(&p->ents, &p->cap_ents, count, sizeof *p->ents)) ||
	     (rc = grow(&p->obs, &p->cap_obs, nsends + count, sizeof *p->obs)) ||
	     (rc = grow(&p->quar, &p->cap_quar, nsends + 1, sizeof *p->quar)) ||
	     (rc = grow(&p->dels, &p->cap_dels, count, sizeof *p->dels)) ||
	     (rc = grow(&p->snaps, &p->cap_snaps, count, sizeof *p->snaps)) ||
	     (rc = grow(&p->timers, &p->cap_timers, nsends + 1,
			sizeof *p->timers)) ||
	     (rc = grow(&p->tids, &p->cap_tids, nsends + 1,
			sizeof *p->tids)) ||
	     (rc = grow(&p->tdels, &p->cap_tdels, nsends + count,
			sizeof *p->tdels)) ||
	     (rc = grow(&p->acts, &p->cap_acts, count + MN__CKPT_PER_GROUP,
			sizeof *p->acts)) ||
	     !(ids = malloc((nsends + count + 1) * sizeof *ids))))
		rc = rc ? rc : MN_ENOMEM;

	size_t nid = 0, ntid = 0;
	for (wrec *r = list; !rc && r; r = r->next) {
		mn__actor *a = r->actor;
		switch (r->rk) {
		case REC_ENTRY: {
			uint64_t lsn = ++p->last_lsn;
			mn__wentry *e = &p->ents[ne];
			*e = (mn__wentry){
				.lsn = lsn,
				.actor_id = mn__ap(a)->id,
				.seq = r->seq,
				.prev_lsn = mn__ap(a)->last_lsn,
				.sender_id = r->sender_id,
				.unix_ms = r->unix_ms,
				.outbox_id = r->outbox_id,
				.type = r->type,
				.flags = r->flags,
				.method = r->method,
				.dict_id = r->dict_id,
				.raw_len = r->raw_len,
				.payload = r->data,
				.len = r->len,
				.state_hash = r->state_hash,
			};
			if (r->method == MN__CODEC_RAW)
				sample(p, p->rt->kinds[a->kind_idx], r->data,
				       r->len);
			else if (r->has_raw)
				sample(p, p->rt->kinds[a->kind_idx],
				       r->data + r->len, (size_t)r->raw_len);
			ne++;
			if (r->is_new)
				p->acts[na++] = (mn__wactor){
					.id = mn__ap(a)->id,
					.kind_id = p->rt->kinds[a->kind_idx]
							   ->store_id,
					.key = a->key,
					.key_len = a->key_len,
					.last_seq = r->seq,
					.last_lsn = lsn,
					.first_lsn = lsn,
					.created_unix_ms = r->unix_ms,
					.last_active_unix_ms = r->unix_ms,
					.is_new = true,
				};
			mn__ap(a)->last_lsn = lsn;
			if ((rc = dirty_add(p, mn__ap(a)->id, lsn, r->seq)))
				break;
			if (r->has_snap) {
				p->snaps[nsn++] = (mn__wsnap){
					.actor_id = mn__ap(a)->id,
					.seq = r->seq,
					.lsn = lsn,
					.dict_id = r->dict_id,
					.state = r->data + r->snap_off,
					.len = r->snap_len,
					.state_hash = r->snap_hash,
				};
			}
			if (r->flags & MN_MSG_TIMER)
				p->tdels[ntd++] = (mn__wtimer){
					.id = r->outbox_id,
					.due_unix_ms = r->outbox_id >> 16};
			else if (r->outbox_id)
				p->dels[nd++] = r->outbox_id;
			const unsigned char *q = r->data + r->sends_off;
			for (uint32_t i = 0; i < r->nsends; i++) {
				held_send h;
				memcpy(&h, q, sizeof h);
				if (h.tag != HELD_SEND) {
					uint64_t tid;
					memcpy(&tid, q + sizeof h, 8);
					if (h.tag == HELD_TIMER) {
						if (!e->n_timer_ids)
							e->timer_ids = &p->tids[ntid];
						p->tids[ntid++] = tid;
						e->n_timer_ids++;
						p->timers[nt++] = (mn__wtimer){
							.id = tid,
							.actor_id = mn__ap(a)->id,
							.due_unix_ms = tid >> 16,
							.type = h.type,
							.payload = q + sizeof h + 8,
							.len = (size_t)h.len - 8,
						};
					} else
						p->tdels[ntd++] = (mn__wtimer){
							.id = tid,
							.due_unix_ms = tid >> 16};
					q += held_size(h.key_len, (size_t)h.len);
					continue;
				}
				uint64_t id = p->next_outbox_id++;
				ids[nid++] = id;
				mn__woutbox *ob =
					quarantined(a, &h, q + sizeof h)
						? &p->quar[nq++]
						: &p->obs[no++];
				*ob = (mn__woutbox){
					.id = id,
					.kind_id = p->rt->kinds[h.kind_idx]
							   ->store_id,
					.key = q + sizeof h,
					.key_len = h.key_len,
					.type = h.type,
					.sender_id = mn__ap(a)->id,
					.unix_ms = r->unix_ms,
					.payload = q + sizeof h + h.key_len,
					.len = (size_t)h.len,
				};
				codec_choice(p->rt->kinds[h.kind_idx], ob->len,
					     &ob->compress, &ob->dict_id);
				q += held_size(h.key_len, (size_t)h.len);
			}
			break;
		}
		case REC_SPAWN:
			if (r->is_new)
				p->acts[na++] = (mn__wactor){
					.id = mn__ap(a)->id,
					.kind_id = p->rt->kinds[a->kind_idx]
							   ->store_id,
					.key = a->key,
					.key_len = a->key_len,
					.created_unix_ms = r->unix_ms,
					.last_active_unix_ms = r->unix_ms,
					.is_new = true,
				};
			break;
		case REC_DURABLE: {
			uint64_t id = p->next_outbox_id++;
			ids[nid++] = id;
			mn__woutbox *ob = &p->obs[no++];
			*ob = (mn__woutbox){
				.id = id,
				.kind_id = r->target->store_id,
				.key = r->data + r->len,
				.key_len = r->key_len,
				.type = r->type,
				.flags = MN_MSG_EXTERNAL,
				.unix_ms = r->unix_ms,
				.payload = r->data,
				.len = r->len,
			};
			codec_choice(r->target, r->len, &ob->compress,
				     &ob->dict_id);
			break;
		}
		case REC_OUTBOX_DEL:
			p->dels[nd++] = r->outbox_id;
			break;
		case REC_EVICT:
			/* The head becomes exact in the store before the
			 * record leaves memory (rehydration reads it). */
			p->acts[na++] = (mn__wactor){
				.id = mn__ap(a)->id,
				.last_seq = r->seq,
				.last_lsn = mn__ap(a)->last_lsn,
				.last_active_unix_ms = r->unix_ms,
			};
			if (r->has_snap)
				p->snaps[nsn++] = (mn__wsnap){
					.actor_id = mn__ap(a)->id,
					.seq = r->seq,
					.lsn = mn__ap(a)->last_lsn,
					.dict_id = atomic_load_explicit(
						&p->rt->kinds[a->kind_idx]
							 ->dict_id,
						memory_order_acquire),
					.state = r->data + r->snap_off,
					.len = r->snap_len,
					.state_hash = r->snap_hash,
				};
			break;
		}
	}
	size_t ckpt_taken = 0;
	bool ckpt_last = false;
	if (!rc && p->ckpt_active) {
		/* At least as many heads as the group has records, so a
		 * checkpoint always ends before the next is due. */
		size_t quota = p->ckpt_per_group > count ? p->ckpt_per_group
							 : count;
		if ((rc = grow(&p->acts, &p->cap_acts, na + quota,
			       sizeof *p->acts)))
			goto out_ckpt;
		ckpt_last = checkpoint_take(p, quota, &na, &ckpt_taken);
		if (ckpt_last) {
			b.checkpoint_lsn = p->ckpt_lsn;
			b.next_actor_id = atomic_load_explicit(
				&p->next_actor_id, memory_order_relaxed);
		}
	}
out_ckpt:
	if (!rc) {
		b.entries = p->ents;
		b.n_entries = ne;
		b.outbox = p->obs;
		b.n_outbox = no;
		b.outbox_del = p->dels;
		b.n_outbox_del = nd;
		b.actors = p->acts;
		b.n_actors = na;
		b.snaps = p->snaps;
		b.n_snaps = nsn;
		b.timers = p->timers;
		b.n_timers = nt;
		b.timer_del = p->tdels;
		b.n_timer_del = ntd;
		b.quarantine = p->quar;
		b.n_quarantine = nq;
		rc = mn__store_write(p->store, p->codec, &b);
		if (rc) {
			set_error(p, rc);
			p->last_lsn = first_lsn;
		}
	}
	if (!rc) {
		p->ckpt_pos += ckpt_taken;
		if (ckpt_last)
			p->ckpt_active = false;
		atomic_fetch_add_explicit(&p->commits, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&p->journaled, ne,
					  memory_order_relaxed);
		atomic_fetch_add_explicit(&p->snapshots, nsn,
					  memory_order_relaxed);
		for (size_t i = 0; i < ntd; i++)
			fired_remove(p, p->tdels[i].id);
	}

	/* After the commit (or its failure): effects, completions, done. */
	nid = 0;
	uint64_t ndone = 0;
	for (wrec *r = list, *next; r; r = next) {
		next = r->next;
		switch (r->rk) {
		case REC_ENTRY:
			if (!rc)
				deliver_held(p, r, ids + nid);
			else
				ndone += r->nmsgs; /* never delivered */
			nid += r->nmsgs;
			ndone++;
			/* release: the evictor's acquire load sees every
			 * use of the record by this thread as done. */
			atomic_fetch_sub_explicit(&mn__ap(r->actor)->inflight, 1,
						  memory_order_release);
			break;
		case REC_SPAWN:
			ndone++;
			atomic_fetch_sub_explicit(&mn__ap(r->actor)->inflight, 1,
						  memory_order_release);
			break;
		case REC_OUTBOX_DEL:
			ndone++;
			break;
		case REC_EVICT:
			evict_finish(p, r, rc);
			break;
		case REC_DURABLE:
			if (!rc) {
				mn__sendx x = {.outbox_id = ids[nid],
					       .counted = true,
					       .mflags = MN_MSG_EXTERNAL};
				int src = mn__send(p->rt, NULL, NULL, r->target,
						   r->data + r->len, r->key_len,
						   r->type, r->data, r->len, &x);
				if (src == MN__EDELETING) {
					ndone++;
					mn__event(&p->rt->ev, MN_EVENT_DROPPED,
						  MN_ENOACTOR, r->target,
						  r->data + r->len, r->key_len,
						  0,
						  "durable message type %u "
						  "dropped: the actor is being "
						  "deleted",
						  (unsigned)r->type);
				} else if (src) {
					ndone++;
					mn__event(&p->rt->ev,
						  MN_EVENT_UNDELIVERED, src,
						  r->target, r->data + r->len,
						  r->key_len, 0,
						  "durable message %llu (type "
						  "%u) not delivered (%s); it "
						  "stays stored for the next "
						  "open",
						  (unsigned long long)x.outbox_id,
						  (unsigned)r->type,
						  mn_err_name(src));
				}
			} else {
				ndone++; /* counted as sent, never delivered */
			}
			nid++;
			if (r->done)
				r->done(r->done_arg, rc);
			break;
		}
		wrec_release(r);
	}
	count_done(p, ndone);
	free(ids);
}

/* ---- deleting an actor (mn_actor_delete) ------------------------------------ */

/*
 * Online deletion (docs/architecture.md, X1-X5). The store's primitives
 * (storage/store.h, "deleting an actor") do the durable part; this is what
 * keeps memory in step with them:
 *  X1  The caller checks the actor exists and has no live fork (a read: no
 *      fork can be made while a runtime holds the store), then, holding
 *      the address's shard lock, enters it in the deleting set. From then
 *      on no send pushes to the address (mn__send checks under the same
 *      lock): outside sends are refused (MN_ENOACTOR), a handler's send,
 *      a stored message's delivery or a timer's firing is dropped
 *      (MN_EVENT_DROPPED). Violation: a message lands in a record the
 *      writer is about to free, or a new record rehydrates the old
 *      history and journals it after the deletion.
 *  X2  Messages already waiting for it are dropped, each reported
 *      MN_EVENT_DROPPED: those parked at a gated kind (by the caller,
 *      under gate_mu) and those in its mailbox (by the worker, before
 *      init or handle). A message being handled when X1 ran completes
 *      normally: its commit precedes the deletion (X3).
 *  X3  The writer, between commit groups, waits until the resident record
 *      (if any) is idle, with no commit record in flight and no eviction
 *      under way, then removes it from the registry (free() runs on its
 *      state), forgets its dirty heads (a checkpoint must not write the
 *      head of a deleted actor) and commits the deletion's first
 *      transaction (name, snapshots, timers, stored messages to it, the
 *      marker). Everything the actor ever committed precedes it.
 *      Violation: a journal entry or a head written after the marker.
 *  X4  In the same writer step, the window closes: the writer takes
 *      fired_mu (a due-timer scan holds it throughout, so one that read
 *      the timers before the commit has ended), removes the fired-set
 *      slots of the timers X2 dropped, takes redeliver_mu (likewise for a
 *      redelivery scan), clears any broken mark and leaves the deleting
 *      set. From then on a message to the address is new: it creates a
 *      fresh actor (new id, init) unless the kind is explicit.
 *      Violation: a timer or stored message read before the commit is
 *      delivered to the fresh actor.
 *  X5  The remaining journal entries go in steps of MN__DELETE_STEP_ONLINE
 *      entries, one transaction each, between commit groups; the caller
 *      returns when the last is committed. A crash at any point leaves the
 *      marker, and the next open finishes the deletion.
 */

/* Journal entries removed per writer step (one transaction between commit
 * groups, a few milliseconds). */
#define MN__DELETE_STEP_ONLINE 1024
/* How often the writer looks again at an actor that is not idle yet. */
#define MN__DELETE_POLL_US 1000

enum { DEL_WAIT, DEL_STEPS };

typedef struct delete_req {
	struct delete_req *next;  /* p->dreq_head: under mu */
	struct delete_req *dnext; /* p->deleting: under del_mu */
	const mn_kind *k;
	uint64_t hash;
	unsigned char key[MN_KEY_MAX];
	size_t key_len;
	/* The writer's. */
	int phase;
	uint64_t id;
	bool resident; /* a record was in memory */
	mn__delete_stats st;
	/* Under del_mu: begun (X4 has run); fired timers X2 dropped before. */
	bool begun;
	uint64_t *fired;
	size_t nfired, cap_fired;
	/* Under mu. */
	int rc;
	bool done;
	char detail[256]; /* the writer's errdetail when rc != 0 */
} delete_req;

static delete_req *deleting_find_locked(mn__persist *p, const mn_kind *k,
					const void *key, size_t key_len)
{
	for (delete_req *d = p->deleting; d; d = d->dnext)
		if (d->k == k && d->key_len == key_len &&
		    memcmp(d->key, key, key_len) == 0)
			return d;
	return NULL;
}

bool mn__persist_deleting(mn_runtime *rt, const mn_kind *k, const void *key,
			  size_t key_len)
{
	mn__persist *p = rt->persist;
	if (!p || !k->persistent ||
	    __builtin_expect(atomic_load_explicit(&p->ndeleting,
						  memory_order_relaxed) == 0,
			     1))
		return false;
	pthread_mutex_lock(&p->del_mu);
	bool found = deleting_find_locked(p, k, key, key_len) != NULL;
	pthread_mutex_unlock(&p->del_mu);
	return found;
}

bool mn__persist_drop_deleted(mn__worker *w, mn__actor *a, const mn_kind *k,
			      const mn__msg *m)
{
	mn__persist *p = w->rt->persist;
	if (__builtin_expect(atomic_load_explicit(&p->ndeleting,
						  memory_order_relaxed) == 0,
			     1))
		return false;
	bool timer = (m->flags & MN_MSG_TIMER) && m->outbox_id;
	bool remove_now = false;
	pthread_mutex_lock(&p->del_mu);
	delete_req *d = deleting_find_locked(p, k, a->key, a->key_len);
	if (d && timer) {
		/* Its slot in the fired set goes only once the timer's record
		 * is gone from the store (X4), or a scan would fire it again. */
		if (d->begun) {
			remove_now = true;
		} else if (grow(&d->fired, &d->cap_fired, d->nfired + 1,
				sizeof *d->fired) == 0) {
			d->fired[d->nfired++] = m->outbox_id;
		}
	}
	pthread_mutex_unlock(&p->del_mu);
	if (!d)
		return false;
	if (remove_now)
		fired_remove(p, m->outbox_id);
	mn__event(&w->rt->ev, MN_EVENT_DROPPED, MN_ENOACTOR, k, a->key,
		  a->key_len, 0, "%s type %u dropped: the actor is being deleted",
		  timer ? "timer" : "message", (unsigned)m->type);
	mn__count(&w->n_done, 1);
	return true;
}

/* X2: drop the messages parked (G2) for the address. Caller thread. */
static void drop_parked(mn__persist *p, const delete_req *d)
{
	mn_runtime *rt = p->rt;
	parked *drop = NULL;
	pthread_mutex_lock(&p->gate_mu);
	parked **pp = &p->park_head[d->k->idx], *last = NULL;
	while (*pp) {
		parked *q = *pp;
		if (q->kind == d->k && q->key_len == d->key_len &&
		    memcmp(q->key, d->key, d->key_len) == 0) {
			*pp = q->next;
			q->next = drop;
			drop = q;
			atomic_fetch_sub_explicit(&p->nparked, 1,
						  memory_order_relaxed);
			continue;
		}
		last = q;
		pp = &q->next;
	}
	p->park_tail[d->k->idx] = last;
	pthread_mutex_unlock(&p->gate_mu);
	while (drop) {
		parked *q = drop;
		drop = q->next;
		mn__event(&rt->ev, MN_EVENT_DROPPED, MN_ENOACTOR, d->k, d->key,
			  d->key_len, 0,
			  "parked message type %u dropped: the actor is being "
			  "deleted",
			  (unsigned)q->type);
		/* Counted as sent when parked: done, for drain. */
		atomic_fetch_add_explicit(&p->gate_done, 1,
					  memory_order_release);
		free(q);
	}
}

/* Forget the heads of actor id the writer would checkpoint (X3), after
 * writing the newest of them: the deletion walks the actor's chain back
 * from its stored head, which must be exact. 0 or the store's error. */
static int heads_forget(mn__persist *p, uint64_t id)
{
	dirty newest = {0};
	size_t n = 0;
	for (size_t i = 0; i < p->ndirty; i++) {
		if (p->dirty[i].id != id) {
			p->dirty[n++] = p->dirty[i];
			continue;
		}
		if (p->dirty[i].lsn > newest.lsn)
			newest = p->dirty[i];
	}
	p->ndirty = n;
	if (p->ckpt_active) {
		n = p->ckpt_pos;
		for (size_t i = p->ckpt_pos; i < p->nckpt; i++) {
			if (p->ckpt[i].id != id) {
				p->ckpt[n++] = p->ckpt[i];
				continue;
			}
			if (p->ckpt[i].lsn > newest.lsn)
				newest = p->ckpt[i];
		}
		p->nckpt = n;
	}
	if (!newest.lsn)
		return 0;
	mn__wactor a = {.id = id,
			.last_seq = newest.seq,
			.last_lsn = newest.lsn,
			.last_active_unix_ms = now_unix_ms()};
	mn__wbatch b = {.actors = &a, .n_actors = 1};
	int rc = mn__store_write(p->store, p->codec, &b);
	if (rc)
		set_error(p, rc);
	return rc;
}

/* X4: close the window of d (writer). */
static void window_close(mn__persist *p, delete_req *d)
{
	pthread_mutex_lock(&p->fired_mu);
	pthread_mutex_lock(&p->del_mu);
	d->begun = true;
	pthread_mutex_unlock(&p->del_mu);
	for (size_t i = 0; i < d->nfired; i++)
		fired_op_locked(p, d->fired[i], 2);
	pthread_mutex_unlock(&p->fired_mu);
	pthread_mutex_lock(&p->redeliver_mu);
	pthread_mutex_unlock(&p->redeliver_mu);
	mn__broken_clear(&p->rt->ev, d->k, d->key, d->key_len);
	pthread_mutex_lock(&p->del_mu);
	for (delete_req **pp = &p->deleting; *pp; pp = &(*pp)->dnext)
		if (*pp == d) {
			*pp = d->dnext;
			break;
		}
	atomic_store_explicit(&p->ndeleting,
			      atomic_load_explicit(&p->ndeleting,
						   memory_order_relaxed) - 1,
			      memory_order_relaxed);
	pthread_mutex_unlock(&p->del_mu);
}

/* X3: the resident record of d, once idle, leaves memory. Returns false
 * while it is busy. Writer. */
static bool record_remove(mn__persist *p, delete_req *d)
{
	mn_runtime *rt = p->rt;
	mn__shard *s = mn__reg_shard(&rt->reg, d->hash);
	void *state = NULL;
	bool initialized = false;
	mn__reg_lock(s);
	mn__actor *a = mn__reg_find(s, d->hash, d->k->idx, d->key, d->key_len);
	if (a) {
		/* acquire (mb_idle, inflight): the last turn's writes and
		 * the writer's own last use of its records are done. */
		if (!mn__mb_idle(a) ||
		    atomic_load_explicit(&mn__ap(a)->inflight,
					 memory_order_acquire) != 0 ||
		    atomic_load_explicit(&mn__ap(a)->evicting,
					 memory_order_relaxed)) {
			mn__reg_unlock(s);
			return false;
		}
		mn__reg_remove(s, a);
		d->resident = true;
		d->id = mn__ap(a)->id;
		initialized = a->flags & MN__ACTOR_INITIALIZED;
		state = a->state;
		mn__reg_record_free(s, a, true);
	}
	mn__reg_unlock(s);
	if (initialized && d->k->def.free)
		d->k->def.free(state);
	return true;
}

/* Finish request d with rc and wake its caller (writer). */
static void delete_finish(mn__persist *p, delete_req *d, int rc)
{
	if (d->phase == DEL_WAIT)
		window_close(p, d);
	pthread_mutex_lock(&p->mu);
	for (delete_req **pp = &p->dreq_head; *pp; pp = &(*pp)->next)
		if (*pp == d) {
			*pp = d->next;
			break;
		}
	d->rc = rc;
	if (rc)
		snprintf(d->detail, sizeof d->detail, "%s",
			 mn__store_errdetail());
	d->done = true;
	pthread_cond_broadcast(&p->delete_cv);
	pthread_mutex_unlock(&p->mu);
}

/* One step of the oldest deletion (writer, between commit groups). Returns
 * true when it waits for its actor to go idle (X3). */
static bool delete_step(mn__persist *p, delete_req *d)
{
	int rc = atomic_load_explicit(&p->error, memory_order_relaxed);
	if (rc) {
		delete_finish(p, d, rc);
		return false;
	}
	if (d->phase == DEL_WAIT) {
		if (!record_remove(p, d))
			return true;
		if (!d->id) {
			mn__actor_meta m;
			rc = mn__store_actor_find(p->store, d->k->store_id,
						  d->key, d->key_len, &m);
			if (rc == 0)
				d->id = m.id;
		}
		if (d->id && !(rc = heads_forget(p, d->id)))
			rc = mn__store_delete_begin_unforked(p->store, d->id,
							     &d->st);
		/* A record that never reached the store: nothing more. */
		if (rc == MN_ENOACTOR || !d->id)
			rc = d->resident ? 0 : MN_ENOACTOR;
		if (rc || !d->id) {
			delete_finish(p, d, rc);
			return false;
		}
		window_close(p, d);
		d->phase = DEL_STEPS;
		return false;
	}
	bool done = false;
	rc = mn__store_delete_step(p->store, d->id, MN__DELETE_STEP_ONLINE,
				   &done, &d->st);
	if (rc || done)
		delete_finish(p, d, rc);
	return false;
}

int mn__persist_delete(mn_runtime *rt, const mn_kind *k, const void *key,
		       size_t key_len)
{
	mn__persist *p = rt->persist;
	mn__actor_meta m;
	int rc;

	if (!p || !k->persistent)
		return MN_ENOTSUP;
	if ((rc = mn__persist_error(rt)))
		return rc;
	/* X1: a parent with a live fork is refused before anything is
	 * touched. */
	int found = mn__store_actor_find(p->store, k->store_id, key, key_len,
					 &m);
	if (found && found != MN_ENOACTOR)
		return found;
	if (found == 0 && (rc = mn__store_delete_check(p->store, m.id)))
		return rc;
	delete_req *d = calloc(1, sizeof *d);
	if (!d)
		return MN_ENOMEM;
	d->k = k;
	d->hash = mn__hash(k->idx, key, key_len);
	memcpy(d->key, key, key_len);
	d->key_len = key_len;
	mn__shard *s = mn__reg_shard(&rt->reg, d->hash);
	mn__reg_lock(s);
	bool resident = mn__reg_find(s, d->hash, k->idx, key, key_len) != NULL;
	pthread_mutex_lock(&p->del_mu);
	if (!resident && found == MN_ENOACTOR)
		rc = MN_ENOACTOR;
	else if (deleting_find_locked(p, k, key, key_len))
		rc = MN_EBUSY; /* another deletion of it is under way */
	else {
		d->dnext = p->deleting;
		p->deleting = d;
		atomic_store_explicit(&p->ndeleting,
				      atomic_load_explicit(&p->ndeleting,
							   memory_order_relaxed) +
					  1,
				      memory_order_relaxed);
	}
	pthread_mutex_unlock(&p->del_mu);
	mn__reg_unlock(s);
	if (rc) {
		if (rc == MN_EBUSY)
			mn__store_set_errdetail("a deletion of this actor is "
						"under way");
		free(d);
		return rc;
	}
	drop_parked(p, d); /* X2 */
	pthread_mutex_lock(&p->mu);
	delete_req **pp = &p->dreq_head;
	while (*pp)
		pp = &(*pp)->next;
	*pp = d;
	pthread_cond_signal(&p->cv);
	while (!d->done)
		pthread_cond_wait(&p->delete_cv, &p->mu);
	pthread_mutex_unlock(&p->mu);
	rc = d->rc;
	if (rc) /* the writer's detail, for this thread */
		mn__store_set_errdetail(d->detail);
	free(d->fired);
	free(d);
	return rc;
}

/* An online compaction: the caller's, on its stack until done is set. */
typedef struct compact_req {
	uint64_t keep;
	mn__compaction *c;
	mn_compact_stats st;
	int rc;
	bool done;
} compact_req;

/* Actors per compaction step (one transaction between commit groups). */
#define MN__COMPACT_STEP 256

/* One step of the requested compaction (writer thread). */
static void compact_step(mn__persist *p, compact_req *cr)
{
	int rc = atomic_load_explicit(&p->error, memory_order_relaxed);
	bool done = false;
	if (!rc && !cr->c) {
		/* Exact heads first: compaction reads them from the store. */
		checkpoint_all(p);
		rc = atomic_load_explicit(&p->error, memory_order_relaxed);
		if (!rc)
			rc = mn__store_compact_begin(p->store, cr->keep, &cr->c);
	}
	if (!rc)
		rc = mn__store_compact_step(p->store, cr->c, MN__COMPACT_STEP,
					    &done);
	if (!rc && !done)
		return;
	if (cr->c) {
		mn__compact_stats cs;
		mn__store_compact_stats(cr->c, &cs);
		cr->st = (mn_compact_stats){cs.actors,	 cs.compacted,
					    cs.entries,	 cs.snapshots,
					    cs.bytes,	 cs.held};
		mn__store_compact_end(cr->c);
		cr->c = NULL;
	}
	pthread_mutex_lock(&p->mu);
	cr->rc = rc;
	cr->done = true;
	p->creq = NULL;
	pthread_cond_broadcast(&p->compact_cv);
	pthread_mutex_unlock(&p->mu);
}

/* Sleep until a record, a compaction or deletion request or stop arrives
 * (W2); with timeout_us, at most that long (a deletion waiting for its
 * actor to go idle, X3). */
static void writer_sleep(mn__persist *p, unsigned timeout_us)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += (long)timeout_us * 1000;
	ts.tv_sec += ts.tv_nsec / 1000000000;
	ts.tv_nsec %= 1000000000;
	pthread_mutex_lock(&p->mu);
	atomic_store_explicit(&p->wsleep, 1, memory_order_seq_cst);
	while (atomic_load_explicit(&p->wsleep, memory_order_relaxed) &&
	       !p->stop && !p->creq && (timeout_us || !p->dreq_head) &&
	       queue_drained(p)) {
		if (!timeout_us)
			pthread_cond_wait(&p->cv, &p->mu);
		else if (pthread_cond_timedwait(&p->cv, &p->mu, &ts) != 0)
			break;
	}
	atomic_store_explicit(&p->wsleep, 0, memory_order_relaxed);
	pthread_mutex_unlock(&p->mu);
}

/* Group commit with a delay: hold the group open until max_records are
 * queued or delay_us has passed. */
static void writer_delay(mn__persist *p)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += (long)p->delay_us * 1000;
	ts.tv_sec += ts.tv_nsec / 1000000000;
	ts.tv_nsec %= 1000000000;
	pthread_mutex_lock(&p->mu);
	while (!p->stop &&
	       atomic_load_explicit(&p->qlen, memory_order_relaxed) <
		       p->max_records) {
		/* Woken by a producer (any record) or the timeout. */
		atomic_store_explicit(&p->wsleep, 1, memory_order_seq_cst);
		if (pthread_cond_timedwait(&p->cv, &p->mu, &ts) != 0)
			break;
	}
	atomic_store_explicit(&p->wsleep, 0, memory_order_relaxed);
	pthread_mutex_unlock(&p->mu);
}

static void *writer_main(void *arg)
{
	mn__persist *p = arg;
	pthread_setname_np(pthread_self(), "mn-writer");

	for (;;) {
		pthread_mutex_lock(&p->mu);
		compact_req *cr = p->creq;
		struct delete_req *dr = p->dreq_head;
		bool stop = p->stop;
		pthread_mutex_unlock(&p->mu);

		if (p->delay_us && !stop && !queue_drained(p) &&
		    atomic_load_explicit(&p->qlen, memory_order_relaxed) <
			    p->max_records)
			writer_delay(p);
		wrec *list = NULL, *last = NULL;
		size_t n = queue_take(p, p->max_records, &list, &last);
		if (!n) {
			bool waiting = false;
			if (dr && !(waiting = delete_step(p, dr)))
				continue;
			if (cr) {
				compact_step(p, cr);
				continue;
			}
			if (!queue_drained(p)) {
				sched_yield(); /* a producer mid-push (W1) */
				continue;
			}
			if (stop && !dr)
				break;
			writer_sleep(p, waiting ? MN__DELETE_POLL_US : 0);
			continue;
		}

		commit_group(p, list, n);
		if (!atomic_load_explicit(&p->error, memory_order_relaxed))
			train_dicts(p);
		if (p->ndirty >= p->checkpoint_every)
			checkpoint_begin(p);
		if (dr)
			(void)delete_step(p, dr);
		if (cr)
			compact_step(p, cr);
	}
	checkpoint_all(p);
	return NULL;
}

/* ---- open and close -------------------------------------------------------- */

static uint64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static int count_due(void *arg, const mn__wtimer *t)
{
	(void)t;
	(*(uint64_t *)arg)++;
	return 0;
}

int mn__persist_compact(mn_runtime *rt, uint64_t keep, mn_compact_stats *st)
{
	mn__persist *p = rt->persist;
	compact_req cr = {.keep = keep};
	if (!p)
		return MN_ENOTSUP;
	pthread_mutex_lock(&p->mu);
	if (p->creq || p->stop) {
		pthread_mutex_unlock(&p->mu);
		return p->stop ? MN_ECLOSED : MN_EBUSY;
	}
	p->creq = &cr;
	pthread_cond_signal(&p->cv);
	while (!cr.done)
		pthread_cond_wait(&p->compact_cv, &p->mu);
	pthread_mutex_unlock(&p->mu);
	if (st)
		*st = cr.st;
	return cr.rc;
}

void mn__persist_recovery(mn_runtime *rt, mn_recovery *out)
{
	*out = rt->persist->recovery;
}

/* Free what persistence gave each worker: its codec, its compression
 * scratch buffer and its record ring (workers stopped). */
static void workers_free(mn_runtime *rt)
{
	for (unsigned i = 0; i < rt->nworkers; i++) {
		mn__worker *w = &rt->workers[i];
		mn__codec_free(w->codec);
		w->codec = NULL;
		mn__buf_free(&w->zbuf);
		if (w->wring)
			free(w->wring->buf);
		free(w->wring);
		w->wring = NULL;
	}
}

int mn__persist_open(mn_runtime *rt, const mn_runtime_opts *o)
{
	mn__store_opts so = {.relaxed = o->durability == MN_DURABILITY_RELAXED};
	mn__store_info info;
	mn__persist *p;
	int rc;

	if (o->durability != MN_DURABILITY_SYNC &&
	    o->durability != MN_DURABILITY_RELAXED)
		return MN_EINVAL;
	/* 64-byte aligned: the queue's fields have cache lines of their
	 * own. */
	p = aligned_alloc(64, (sizeof *p + 63) & ~(size_t)63);
	if (p)
		memset(p, 0, sizeof *p);
	if (!p)
		return MN_ENOMEM;
	p->rt = rt;
	p->max_records =
		o->commit_max_records ? o->commit_max_records : MN__COMMIT_MAX_DEFAULT;
	p->delay_us = o->commit_delay_us;
	p->checkpoint_every = o->checkpoint_every ? o->checkpoint_every
						  : MN__CHECKPOINT_EVERY;
	/* A checkpoint spreads over about 8 commit groups or more. */
	p->ckpt_per_group = p->checkpoint_every / 8;
	if (p->ckpt_per_group > MN__CKPT_PER_GROUP)
		p->ckpt_per_group = MN__CKPT_PER_GROUP;
	if (p->ckpt_per_group < 1)
		p->ckpt_per_group = 1;
	if (!(p->qstub = calloc(1, sizeof *p->qstub))) {
		free(p);
		return MN_ENOMEM;
	}
	p->qhead = p->qstub;
	atomic_init(&p->qtail, p->qstub);
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	pthread_cond_init(&p->compact_cv, NULL);
	pthread_cond_init(&p->delete_cv, NULL);
	pthread_mutex_init(&p->del_mu, NULL);
	pthread_mutex_init(&p->redeliver_mu, NULL);
	pthread_mutex_init(&p->fired_mu, NULL);
	pthread_mutex_init(&p->jobs_mu, NULL);
	pthread_mutex_init(&p->gate_mu, NULL);
	atomic_init(&p->timer_seq, now_unix_ms() * 7919);
	uint64_t t0 = mono_us();
	if ((rc = mn__store_open(o->store_path, &so, &p->store, &info)))
		goto err_free;
	/* Deletions a crash interrupted (mn_actor_delete, mnemo rm) are
	 * finished before anything can reach those actors. */
	size_t ndeleted;
	if ((rc = mn__store_delete_pending(p->store, &ndeleted)))
		goto err_close;
	p->recovery = (mn_recovery){
		.created = info.created,
		.last_lsn = info.last_lsn,
		.checkpoint_lsn = info.checkpoint_lsn,
		.entries_scanned = info.entries_scanned,
		.heads_repaired = info.heads_repaired,
		.stale_readers = info.stale_readers,
		.outbox = info.outbox_entries,
		.quarantined = info.quarantined,
		.timers = info.timers,
		.next_actor_id = info.next_actor_id,
		.open_us = mono_us() - t0,
	};
	if (info.timers &&
	    (rc = mn__store_timers_due(p->store, now_unix_ms(), SIZE_MAX,
				       count_due, &p->recovery.timers_due)))
		goto err_close;
	if ((rc = mn__codec_new(mn__store_dicts(p->store), &p->codec)) ||
	    (rc = mn__codec_new(mn__store_dicts(p->store), &p->maint_codec)))
		goto err_close;
	p->outbox_end = info.next_outbox_id;
	p->stored_at_open = info.outbox_entries > 0;
	for (unsigned i = 0; i < rt->nworkers; i++) {
		struct mn__wring *g;
		if ((rc = mn__codec_new(mn__store_dicts(p->store),
					&rt->workers[i].codec)))
			goto err_close;
		if (!(g = aligned_alloc(64, sizeof *g)) ||
		    !(g->buf = aligned_alloc(64, MN__WRING_CAP))) {
			free(g);
			rc = MN_ENOMEM;
			goto err_close;
		}
		g->head = 0;
		atomic_init(&g->tail, 0);
		rt->workers[i].wring = g;
	}
	p->last_lsn = info.last_lsn;
	p->next_outbox_id = info.next_outbox_id;
	atomic_init(&p->next_actor_id, info.next_actor_id);
	if (pthread_create(&p->thread, NULL, writer_main, p) != 0) {
		rc = MN_ESYS;
		goto err_close;
	}
	rt->persist = p;
	return 0;

err_close:
	workers_free(rt);
	mn__codec_free(p->codec);
	mn__codec_free(p->maint_codec);
	mn__store_close(p->store);
err_free:
	pthread_cond_destroy(&p->cv);
	pthread_cond_destroy(&p->compact_cv);
	pthread_cond_destroy(&p->delete_cv);
	pthread_mutex_destroy(&p->del_mu);
	pthread_mutex_destroy(&p->redeliver_mu);
	pthread_mutex_destroy(&p->mu);
	pthread_mutex_destroy(&p->fired_mu);
	pthread_mutex_destroy(&p->jobs_mu);
	pthread_mutex_destroy(&p->gate_mu);
	free(p->qstub);
	free(p);
	return rc;
}

void mn__persist_close(mn_runtime *rt)
{
	mn__persist *p = rt->persist;
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
	pthread_join(p->thread, NULL);
	workers_free(rt);
	mn__codec_free(p->codec);
	mn__codec_free(p->maint_codec);
	mn__store_close(p->store);
	while (p->jobs_head) {
		struct redeliver_job *j = p->jobs_head;
		p->jobs_head = j->next;
		free(j);
	}
	pthread_mutex_destroy(&p->jobs_mu);
	/* Parked messages are dropped like queued ones (durable ones stay
	 * stored for the next open). */
	for (unsigned i = 0; i < MN_KINDS_MAX; i++) {
		while (p->park_head[i]) {
			parked *q = p->park_head[i];
			p->park_head[i] = q->next;
			free(q);
		}
	}
	pthread_mutex_destroy(&p->gate_mu);
	for (unsigned i = 0; i < MN_KINDS_MAX; i++) {
		mn__buf_free(&p->kc[i].samples);
		free(p->kc[i].sizes);
	}
	free(p->dirty);
	free(p->ckpt);
	free(p->snaps);
	free(p->timers);
	free(p->tids);
	free(p->tdels);
	free(p->fired);
	pthread_mutex_destroy(&p->fired_mu);
	free(p->ents);
	free(p->obs);
	free(p->quar);
	free(p->dels);
	free(p->acts);
	pthread_cond_destroy(&p->cv);
	pthread_cond_destroy(&p->compact_cv);
	pthread_cond_destroy(&p->delete_cv);
	pthread_mutex_destroy(&p->del_mu);
	pthread_mutex_destroy(&p->redeliver_mu);
	pthread_mutex_destroy(&p->mu);
	free(p->qstub);
	free(p);
	rt->persist = NULL;
}

/* ---- kinds and the stored outbox ------------------------------------------- */

typedef struct redeliver {
	mn_runtime *rt;
	mn_kind *k;
	uint64_t n, scanned, last_id, max;
	int rc;
} redeliver;


/*
 * Lazy restart, rate-limited (maintenance thread): each step delivers up to
 * max stored messages of every pending kind, only while fewer than
 * MN__REDELIVER_INFLIGHT messages are in flight in the runtime (messages
 * parked at a gate, G2, not counted: they wait for the redelivery), so that
 * a restart with millions of stored messages neither floods memory nor
 * starves live traffic.
 */
#define MN__REDELIVER_INFLIGHT 65536

static bool redeliver_paced(mn_runtime *rt)
{
	uint64_t inflight = mn__runtime_inflight(rt);
	uint64_t np = atomic_load_explicit(&rt->persist->nparked,
					   memory_order_relaxed);
	return (inflight > np ? inflight - np : 0) > MN__REDELIVER_INFLIGHT;
}

static int redeliver_one(void *arg, const mn__entry *e)
{
	redeliver *d = arg;
	mn_runtime *rt = d->rt;
	mn__sendx x = {.outbox_id = e->lsn, .sender_id = e->sender_id,
		       .mflags = e->flags & MN__MSG_PUBLIC_MASK,
		       .ungated = true};
	mn__actor_meta m;

	if (++d->scanned > d->max * 8)
		return 1; /* enough for this step: resume at this entry */
	if (e->kind_id != d->k->store_id) {
		d->last_id = e->lsn;
		return 0;
	}
	/* Paced by the messages in flight, checked every 64 deliveries;
	 * the scan past other kinds' entries goes on regardless. */
	if ((d->n & 63) == 0 && redeliver_paced(rt))
		return 1; /* resume at this entry */
	d->last_id = e->lsn;
	if (e->sender_id &&
	    mn__store_actor_get(rt->persist->store, e->sender_id, &m) == 0) {
		const mn_kind *sk = kind_by_store_id(rt, m.kind_id);
		/* A sender whose kind is not registered yet is not
		 * reachable by reply; the message still arrives. */
		if (sk) {
			x.sender_kind = sk;
			memcpy(x.sender_key, m.key, m.key_len);
			x.sender_key_len = m.key_len;
		}
	}
	if (!e->sender_id)
		x.mflags |= MN_MSG_EXTERNAL;
	int rc = mn__send(rt, NULL, NULL, d->k, e->key, e->key_len, e->type,
			  e->payload, e->len, &x);
	if (rc) {
		mn__event(&rt->ev, MN_EVENT_UNDELIVERED, rc, d->k, e->key,
			  e->key_len, 0,
			  "stored message %llu (type %u) not redelivered (%s); "
			  "it stays stored for the next open",
			  (unsigned long long)e->lsn, (unsigned)e->type,
			  mn_err_name(rc));
		return rc;
	}
	return ++d->n >= d->max ? 1 : 0;
}

int mn__persist_kind_id(mn_runtime *rt, mn_kind *k)
{
	int rc = mn__store_kind_id(rt->persist->store, k->name, &k->store_id);
	if (rc)
		return rc;
	uint32_t dict = mn__store_kind_dict(rt->persist->store, k->store_id);
	atomic_init(&k->dict_id, dict);
	atomic_init(&k->sampling, dict == 0);
	/* G1: before the kind is published, so no send can pass it. */
	atomic_init(&k->gated, rt->persist->stored_at_open);
	return 0;
}

/* Push the kind's parked messages in order, then clear its gate (G3). */
static void gate_open(mn_runtime *rt, mn_kind *k)
{
	mn__persist *p = rt->persist;
	pthread_mutex_lock(&p->gate_mu);
	parked *q = p->park_head[k->idx];
	p->park_head[k->idx] = p->park_tail[k->idx] = NULL;
	while (q) {
		parked *next = q->next;
		atomic_fetch_sub_explicit(&p->nparked, 1, memory_order_relaxed);
		int src = mn__send(rt, NULL, NULL, q->kind, q->key,
				   q->key_len, q->type, q->data, q->len, &q->x);
		if (src) {
			/* Counted as sent when parked: done, for drain. */
			atomic_fetch_add_explicit(&p->gate_done, 1,
						  memory_order_release);
			if (src == MN__EDELETING)
				mn__event(&rt->ev, MN_EVENT_DROPPED,
					  MN_ENOACTOR, q->kind, q->key,
					  q->key_len, 0,
					  "parked message type %u dropped: the "
					  "actor is being deleted",
					  (unsigned)q->type);
		}
		free(q);
		q = next;
	}
	atomic_store_explicit(&k->gated, false, memory_order_release);
	pthread_mutex_unlock(&p->gate_mu);
}

int mn__persist_park(mn_runtime *rt, mn__worker *w, const mn_kind *kind,
		     const void *key, size_t key_len, uint32_t type,
		     const void *payload, size_t len, const mn__sendx *x)
{
	mn__persist *p = rt->persist;
	parked *q = malloc(sizeof *q + len);
	if (!q)
		return MN_ENOMEM;
	q->next = NULL;
	q->kind = kind;
	q->type = type;
	q->len = len;
	q->key_len = key_len;
	q->x = *x;
	q->x.ungated = true;
	memcpy(q->key, key, key_len);
	if (len)
		memcpy(q->data, payload, len);
	pthread_mutex_lock(&p->gate_mu);
	if (!atomic_load_explicit(&kind->gated, memory_order_relaxed)) {
		/* Opened meanwhile: every parked message is queued (G3). */
		pthread_mutex_unlock(&p->gate_mu);
		int rc = mn__send(rt, w, NULL, kind, q->key, key_len, type,
				  q->data, len, &q->x);
		free(q);
		return rc;
	}
	if (p->park_tail[kind->idx])
		p->park_tail[kind->idx]->next = q;
	else
		p->park_head[kind->idx] = q;
	p->park_tail[kind->idx] = q;
	atomic_fetch_add_explicit(&p->nparked, 1, memory_order_relaxed);
	pthread_mutex_unlock(&p->gate_mu);
	return 0;
}

void mn__persist_count_parked_done(mn_runtime *rt)
{
	atomic_fetch_add_explicit(&rt->persist->gate_done, 1,
				  memory_order_release);
}

int mn__persist_find(mn_runtime *rt, const mn_kind *k, const void *key,
		     size_t key_len, mn__actor_meta *m)
{
	return mn__store_actor_find(rt->persist->store, k->store_id, key,
				    key_len, m);
}

int mn__persist_kind_registered(mn_runtime *rt, mn_kind *k)
{
	mn__persist *p = rt->persist;
	if (!p->stored_at_open)
		return 0; /* nothing was stored before this open */
	redeliver_job *j = calloc(1, sizeof *j);
	if (!j) {
		gate_open(rt, k);
		return MN_ENOMEM;
	}
	j->k = k;
	j->next_id = 1;
	j->end_id = p->outbox_end;
	pthread_mutex_lock(&p->jobs_mu);
	if (p->jobs_tail)
		p->jobs_tail->next = j;
	else
		p->jobs_head = j;
	p->jobs_tail = j;
	/* release: a drain that reads 0 later sees every delivery the jobs
	 * made (counted before their pushes). */
	atomic_fetch_add_explicit(&p->njobs, 1, memory_order_release);
	pthread_mutex_unlock(&p->jobs_mu);
	return 0;
}

/* Every pending kind's job steps once, in registration order: a kind with
 * few stored messages (or none) is not held behind another's many (its
 * gate, G1, opens when its own scan is done). */
uint64_t mn__persist_redeliver_step(mn_runtime *rt, uint64_t max)
{
	mn__persist *p = rt->persist;
	uint64_t total = 0;
	if (!p || !atomic_load_explicit(&p->njobs, memory_order_acquire))
		return 0;
	pthread_mutex_lock(&p->jobs_mu);
	redeliver_job *j = p->jobs_head, *prev = NULL;
	pthread_mutex_unlock(&p->jobs_mu);
	while (j) {
		redeliver d = {.rt = rt, .k = j->k, .max = max};
		/* Held over the scan and its sends: a deletion's barrier
		 * (X4). */
		pthread_mutex_lock(&p->redeliver_mu);
		int rc = mn__store_outbox_range(p->store, p->maint_codec,
						j->next_id, j->end_id,
						redeliver_one, &d);
		pthread_mutex_unlock(&p->redeliver_mu);
		atomic_fetch_add_explicit(&p->delivered_at_open, d.n,
					  memory_order_relaxed);
		total += d.n;
		/* Only this thread unlinks; registration appends (jobs_mu). */
		pthread_mutex_lock(&p->jobs_mu);
		redeliver_job *next = j->next;
		if (rc == 1) {
			/* Stopped early: go on after the last entry handled. */
			if (d.last_id)
				j->next_id = d.last_id + 1;
			prev = j;
			pthread_mutex_unlock(&p->jobs_mu);
			j = next;
			continue;
		}
		/* Done with this kind (or it failed: the store error is
		 * sticky in the detail; the entries stay stored for the next
		 * open). */
		if (prev)
			prev->next = next;
		else
			p->jobs_head = next;
		if (p->jobs_tail == j)
			p->jobs_tail = prev;
		pthread_mutex_unlock(&p->jobs_mu);
		gate_open(rt, j->k); /* G3 */
		free(j);
		atomic_fetch_sub_explicit(&p->njobs, 1, memory_order_release);
		j = next;
	}
	return total;
}

bool mn__persist_busy(mn_runtime *rt)
{
	return rt->persist &&
	       atomic_load_explicit(&rt->persist->njobs, memory_order_acquire);
}

/* ---- the worker side ------------------------------------------------------- */

typedef struct replay {
	mn__worker *w;
	mn__actor *a;
	const mn_kind *k;
	uint64_t last_seq;
} replay;

static int replay_one(void *arg, const mn__entry *e)
{
	replay *r = arg;
	mn_ctx *ctx = &r->w->ctx;
	mn_runtime *rt = r->w->rt;
	mn_msg view = {
		.type = e->type,
		.flags = e->flags & MN__MSG_PUBLIC_MASK,
		.payload = e->len ? e->payload : NULL,
		.len = e->len,
	};
	mn__actor_meta m;

	ctx->replay_sender_kind = NULL;
	ctx->replay_sender_key_len = 0;
	if (e->sender_id &&
	    mn__store_actor_get(rt->persist->store, e->sender_id, &m) == 0) {
		ctx->replay_sender_kind = kind_by_store_id(rt, m.kind_id);
		memcpy(ctx->replay_sender_key, m.key, m.key_len);
		ctx->replay_sender_key_len = m.key_len;
	}
	ctx->seq = e->seq;
	ctx->replay_timer_ids = e->timer_ids;
	ctx->replay_ntimer_ids = e->n_timer_ids;
	ctx->replay_timer_next = 0;
	r->last_seq = e->seq;
	/* The handler's result was counted when the message was first
	 * handled; replay only rebuilds the state. */
	(void)r->k->def.handle(ctx, r->a->state, &view);
	return 0;
}

int mn__persist_first_run(mn__worker *w, mn__actor *a, const mn_kind *k)
{
	mn__persist *p = w->rt->persist;
	mn_ctx *ctx = &w->ctx;
	mn__actor_meta m;
	int rc;

	/* A stale detail must not name the reason of this failure. */
	mn__store_set_errdetail("");
	rc = mn__store_actor_find(p->store, k->store_id, a->key, a->key_len,
				  &m);
	ctx->msg = NULL;
	if (rc == MN_ENOACTOR) {
		if (!mn__ap(a)->id) {
			mn__ap(a)->id = atomic_fetch_add_explicit(
				&p->next_actor_id, 1, memory_order_relaxed);
			a->flags |= MN__ACTOR_NEW;
		}
		return k->def.init(ctx, &a->state);
	}
	if (rc)
		goto err_broken;
	mn__ap(a)->id = m.id;
	a->flags &= (uint8_t)~MN__ACTOR_NEW;
	if (m.fork_parent_id)
		mn__ap(a)->pflags |= MN__AP_QUARANTINED;

	/* The latest snapshot, then the journal after it (design.md 3). */
	mn_buf snap;
	uint64_t snap_seq = 0, snap_lsn;
	mn__buf_init(&snap);
	rc = k->def.restore ? mn__store_snapshot_latest(p->store, w->codec,
							m.id, m.last_seq, &snap,
							&snap_seq, &snap_lsn)
			    : MN_ENOACTOR;
	if (rc == 0) {
		ctx->replaying = true;
		rc = k->def.restore(ctx, snap.data, snap.len, &a->state);
		ctx->replaying = false;
		if (rc < 0) {
			char d[128];
			snprintf(d, sizeof d,
				 "restore() refused the snapshot at seq %llu "
				 "(returned %s)",
				 (unsigned long long)snap_seq, mn_err_name(rc));
			mn__store_set_errdetail(d);
			rc = MN_EHANDLER;
		}
	} else if (rc == MN_ENOACTOR) {
		snap_seq = 0;
		rc = k->def.init(ctx, &a->state);
	}
	mn__buf_free(&snap);
	if (rc)
		goto err_broken;
	replay r = {.w = w, .a = a, .k = k, .last_seq = snap_seq};
	ctx->replaying = true;
	/* Nothing after the snapshot: its head entry may have been
	 * compacted away, so do not look it up. */
	rc = snap_seq >= m.last_seq
		     ? 0
		     : mn__store_history(p->store, w->codec, m.last_lsn,
					 snap_seq, replay_one, &r);
	ctx->replaying = false;
	ctx->replay_sender_kind = NULL;
	ctx->replay_timer_ids = NULL;
	ctx->replay_ntimer_ids = 0;
	if (rc == 0 && r.last_seq != m.last_seq) {
		char d[128];
		snprintf(d, sizeof d,
			 "history ends at seq %llu, the actor's head says %llu",
			 (unsigned long long)r.last_seq,
			 (unsigned long long)m.last_seq);
		mn__store_set_errdetail(d);
		rc = MN_ECORRUPT;
	}
	if (rc) {
		if (k->def.free)
			k->def.free(a->state);
		a->state = NULL;
		goto err_broken;
	}
	atomic_fetch_add_explicit(&p->replayed, r.last_seq - snap_seq,
				  memory_order_relaxed);
	atomic_fetch_add_explicit(&p->rehydrations, 1, memory_order_relaxed);
	mn__ap(a)->seq = m.last_seq;
	mn__ap(a)->snap_msgs = (uint16_t)(m.last_seq - snap_seq > UINT16_MAX
					  ? UINT16_MAX
					  : m.last_seq - snap_seq);
	mn__ap(a)->last_lsn = m.last_lsn; /* before the first record is queued */
	if (a->flags & MN__ACTOR_BROKEN) {
		/* It came back after all (a retry after a passing failure). */
		a->flags &= (uint8_t)~MN__ACTOR_BROKEN;
		mn__broken_clear(&w->rt->ev, k, a->key, a->key_len);
	}
	return 0;

err_broken:
	/* The actor cannot come back: its messages fail (counted), the
	 * others keep running. Reported once per actor record, with its
	 * reason kept for the sends that follow (events.c). */
	if (!(a->flags & MN__ACTOR_BROKEN)) {
		char why[MN__BROKEN_REASON];
		const char *d = mn__store_errdetail();
		if (!strcmp(d, "no detail"))
			d = mn_strerror(rc);
		snprintf(why, sizeof why, "%s (%s)", d, mn_err_name(rc));
		a->flags |= MN__ACTOR_BROKEN;
		atomic_fetch_add_explicit(&p->broken, 1, memory_order_relaxed);
		mn__broken_mark(&w->rt->ev, k, a->key, a->key_len, rc, why);
		mn__event(&w->rt->ev, MN_EVENT_BROKEN, rc, k, a->key,
			  a->key_len, 0, "%s", why);
	}
	return rc;
}

void mn__persist_before_handle(mn__worker *w, mn__actor *a)
{
	mn_ctx *ctx = &w->ctx;
	ctx->seq = ++mn__ap(a)->seq;
	ctx->hold_sends = true;
	ctx->pending.len = 0;
	ctx->npending = 0;
	ctx->npending_msgs = 0;
}

int mn__persist_hold_send(mn_ctx *ctx, const mn_kind *kind, const void *key,
			  size_t key_len, uint32_t type, const void *payload,
			  size_t len)
{
	size_t sz = held_size(key_len, len);
	int rc = mn__buf_reserve(&ctx->pending, sz);
	if (rc)
		return rc;
	held_send h = {.kind_idx = kind->idx,
		       .key_len = (uint8_t)key_len,
		       .tag = HELD_SEND,
		       .type = type,
		       .len = len};
	unsigned char *q = ctx->pending.data + ctx->pending.len;
	memcpy(q, &h, sizeof h);
	memcpy(q + sizeof h, key, key_len);
	if (len)
		memcpy(q + sizeof h + key_len, payload, len);
	ctx->pending.len += sz;
	ctx->npending++;
	ctx->npending_msgs++;
	/* D1: counted before the writer pushes it, after the commit. */
	mn__count(&ctx->w->n_sent, 1);
	return 0;
}

/* Hold a timer (tag HELD_TIMER, with payload) or a cancel (HELD_CANCEL). */
static int hold_timer(mn_ctx *ctx, uint8_t tag, uint64_t id, uint32_t type,
		      const void *payload, size_t len)
{
	size_t sz = held_size(0, 8 + len);
	int rc = mn__buf_reserve(&ctx->pending, sz);
	if (rc)
		return rc;
	held_send h = {.tag = tag, .type = type, .len = 8 + len};
	unsigned char *q = ctx->pending.data + ctx->pending.len;
	memcpy(q, &h, sizeof h);
	memcpy(q + sizeof h, &id, 8);
	if (len)
		memcpy(q + sizeof h + 8, payload, len);
	ctx->pending.len += sz;
	ctx->npending++;
	return 0;
}

int mn__persist_after(mn_ctx *ctx, uint64_t delay_ms, uint32_t type,
		      const void *payload, size_t len, uint64_t *id)
{
	mn__persist *p = ctx->rt->persist;
	uint64_t due = now_unix_ms() + delay_ms;
	if (due >> 47)
		return MN_EINVAL;
	/* The id's low 16 bits come from this process's counter, unique
	 * among its own timers of one due millisecond; a timer a previous
	 * process stored for the same millisecond could have the same bits
	 * (its record would be overwritten, the timer lost), so skip ids the
	 * store holds. Only this process writes the store: an id free now
	 * stays free until this process uses it. */
	uint64_t tid = 0;
	for (int tries = 0; tries < 64; tries++) {
		tid = due << 16 |
		      (atomic_fetch_add_explicit(&p->timer_seq, 1,
						 memory_order_relaxed) &
		       0xffff);
		if (tid < 2)
			continue; /* 0 and 1 are the fired set's markers */
		if (!mn__store_timer_exists(p->store, due, tid))
			break;
	}
	if (tid < 2)
		return MN_ELIMIT;
	if (id)
		*id = tid;
	return hold_timer(ctx, HELD_TIMER, tid, type, payload, len);
}

int mn__persist_cancel(mn_ctx *ctx, uint64_t id)
{
	return hold_timer(ctx, HELD_CANCEL, id, 0, NULL, 0);
}

int mn__persist_after_handle(mn__worker *w, mn__actor *a, const mn__msg *m,
			     int handle_rc)
{
	mn_ctx *ctx = &w->ctx;
	mn_kind *k = w->rt->kinds[a->kind_idx];
	(void)handle_rc;
	ctx->hold_sends = false;

	/* Compress here, in parallel on the workers, not on the single
	 * writer thread (measured: zstd took half the writer's time), into
	 * the worker's scratch buffer, so the record is allocated at the
	 * stored size (a quarter of the bound on agent traffic): smaller
	 * blocks for the writer to free and less memory to touch. */
	uint32_t dict = atomic_load_explicit(&k->dict_id, memory_order_acquire);
	bool compress = m->len && (dict || m->len >= MN__PLAIN_MIN);
	const unsigned char *stored = m->data;
	size_t stored_len = m->len, zcap = mn__codec_bound(m->len);
	uint8_t method = MN__CODEC_RAW;
	if (compress && w->zbuf.cap < zcap)
		compress = mn__buf_reserve(&w->zbuf, zcap) == 0;
	if (compress) {
		size_t clen;
		uint8_t how;
		if (mn__codec_compress(w->codec, dict, m->data, m->len,
				       w->zbuf.data, zcap, &clen, &how) == 0 &&
		    how != MN__CODEC_RAW) {
			method = how;
			stored = w->zbuf.data;
			stored_len = clen;
		}
	}
	bool keep_raw = method != MN__CODEC_RAW && !dict &&
			atomic_load_explicit(&k->sampling, memory_order_relaxed);
	size_t raw_extra = keep_raw ? m->len : 0;

	/* Snapshot policy: every snapshot_every messages or snapshot_bytes
	 * of payload since the last one. */
	mn_buf snap;
	bool want_snap = false;
	mn__buf_init(&snap);
	mn__ap(a)->snap_msgs = mn__ap(a)->snap_msgs < UINT16_MAX ? mn__ap(a)->snap_msgs + 1 : UINT16_MAX;
	mn__ap(a)->snap_bytes += m->len < UINT32_MAX - mn__ap(a)->snap_bytes
				 ? (uint32_t)m->len
				 : UINT32_MAX - mn__ap(a)->snap_bytes;
	if (k->def.snapshot &&
	    (mn__ap(a)->snap_msgs >= (k->def.snapshot_every ? k->def.snapshot_every
						      : 1000) ||
	     mn__ap(a)->snap_bytes >= (k->def.snapshot_bytes ? k->def.snapshot_bytes
						       : (1u << 20)))) {
		want_snap = k->def.snapshot(a->state, &snap) >= 0;
		if (want_snap) {
			mn__ap(a)->snap_msgs = 0;
			mn__ap(a)->snap_bytes = 0;
		}
	}
	size_t snap_extra = want_snap ? snap.len : 0;
	wrec *r = wrec_alloc(w, sizeof *r + stored_len + raw_extra +
				       ctx->pending.len + snap_extra);
	if (!r) {
		if (w->zbuf.cap > MN__ZBUF_KEEP)
			mn__buf_free(&w->zbuf);
		/* The held sends were counted as sent: count them (and
		 * the message) done, they are lost with the record. */
		mn__count(&w->n_done, 1 + ctx->npending_msgs);
		mn__buf_free(&snap);
		return MN_ENOMEM;
	}
	r->raw_len = m->len;
	r->method = method;
	r->len = stored_len;
	r->dict_id = method == MN__CODEC_ZSTD_DICT ? dict : 0;
	if (stored_len)
		memcpy(r->data, stored, stored_len);
	/* Only now, with the compressed bytes copied out of it: `stored`
	 * may point into zbuf. */
	if (w->zbuf.cap > MN__ZBUF_KEEP)
		mn__buf_free(&w->zbuf); /* a rare large payload */
	if (keep_raw)
		memcpy(r->data + r->len, m->data, m->len);
	r->has_raw = keep_raw;
	r->sends_off = r->len + (keep_raw ? m->len : 0);
	r->rk = REC_ENTRY;
	r->actor = a;
	r->is_new = (a->flags & MN__ACTOR_NEW) != 0;
	a->flags &= (uint8_t)~MN__ACTOR_NEW;
	r->seq = mn__ap(a)->seq;
	r->sender_id = m->sender_id;
	r->outbox_id = m->outbox_id;
	r->unix_ms = now_unix_ms();
	r->type = m->type;
	r->flags = m->flags & MN__MSG_PUBLIC_MASK;
	if (k->def.hash) {
		uint64_t h = k->def.hash(a->state);
		r->state_hash = h ? h : 1;
	}
	r->nsends = ctx->npending;
	r->nmsgs = ctx->npending_msgs;
	r->sends_len = ctx->pending.len;
	if (ctx->pending.len)
		memcpy(r->data + r->sends_off, ctx->pending.data,
		       ctx->pending.len);
	if (want_snap) {
		r->has_snap = true;
		r->snap_off = r->sends_off + r->sends_len;
		r->snap_len = snap.len;
		if (snap.len)
			memcpy(r->data + r->snap_off, snap.data, snap.len);
		r->snap_hash = mn__snap_hash(snap.data, snap.len);
	}
	mn__buf_free(&snap);
	/* E1: in flight until the writer is done with the record. */
	atomic_fetch_add_explicit(&mn__ap(a)->inflight, 1, memory_order_relaxed);
	enqueue(w->rt->persist, r);
	return 0;
}

int mn__persist_spawned(mn__worker *w, mn__actor *a)
{
	wrec *r = calloc(1, sizeof *r);
	if (!r) {
		mn__count(&w->n_done, 1);
		return MN_ENOMEM;
	}
	r->rk = REC_SPAWN;
	r->actor = a;
	r->is_new = (a->flags & MN__ACTOR_NEW) != 0;
	a->flags &= (uint8_t)~MN__ACTOR_NEW;
	r->unix_ms = now_unix_ms();
	atomic_fetch_add_explicit(&mn__ap(a)->inflight, 1, memory_order_relaxed);
	enqueue(w->rt->persist, r);
	return 0;
}

int mn__persist_outbox_done(mn__worker *w, uint64_t outbox_id)
{
	wrec *r = calloc(1, sizeof *r);
	if (!r) {
		mn__count(&w->n_done, 1);
		return MN_ENOMEM;
	}
	r->rk = REC_OUTBOX_DEL;
	r->outbox_id = outbox_id;
	enqueue(w->rt->persist, r);
	return 0;
}

int mn__persist_durable(mn_runtime *rt, const mn_kind *kind, const void *key,
			size_t key_len, uint32_t type, const void *payload,
			size_t len, mn_send_done_cb done, void *arg)
{
	mn__persist *p = rt->persist;
	int rc = sticky_error(p);
	if (rc)
		return rc;
	wrec *r = malloc(sizeof *r + len + key_len);
	if (!r)
		return MN_ENOMEM;
	memset(r, 0, sizeof *r);
	r->rk = REC_DURABLE;
	r->target = kind;
	r->key_len = (uint8_t)key_len;
	r->type = type;
	r->flags = MN_MSG_EXTERNAL;
	r->unix_ms = now_unix_ms();
	r->len = len;
	r->done = done;
	r->done_arg = arg;
	if (len)
		memcpy(r->data, payload, len);
	memcpy(r->data + len, key, key_len);
	/* D1: counted before the writer pushes it. */
	atomic_fetch_add_explicit(&rt->ext_sent, 1, memory_order_release);
	enqueue(p, r);
	return 0;
}

/* ---- counters -------------------------------------------------------------- */

uint64_t mn__persist_evicting(mn_runtime *rt)
{
	return rt->persist ? atomic_load_explicit(&rt->persist->evicting,
						  memory_order_relaxed)
			   : 0;
}

uint64_t mn__persist_done(mn_runtime *rt)
{
	return rt->persist ? atomic_load_explicit(&rt->persist->done,
						  memory_order_acquire) +
				     atomic_load_explicit(&rt->persist->gate_done,
							  memory_order_acquire)
			   : 0;
}

int mn__persist_error(mn_runtime *rt)
{
	return rt->persist ? sticky_error(rt->persist) : 0;
}

void mn__persist_stats(mn_runtime *rt, mn_runtime_stats *st)
{
	mn__persist *p = rt->persist;
	if (!p)
		return;
	st->commits = atomic_load_explicit(&p->commits, memory_order_relaxed);
	st->journaled =
		atomic_load_explicit(&p->journaled, memory_order_relaxed);
	st->outbox_delivered = atomic_load_explicit(&p->delivered_at_open,
						    memory_order_relaxed);
	st->store_bytes = mn__store_disk_bytes(p->store);
	st->store_error = atomic_load_explicit(&p->error, memory_order_relaxed);
	st->evictions = atomic_load_explicit(&p->evictions, memory_order_relaxed);
	st->rehydrations =
		atomic_load_explicit(&p->rehydrations, memory_order_relaxed);
	st->snapshots = atomic_load_explicit(&p->snapshots, memory_order_relaxed);
	st->replayed = atomic_load_explicit(&p->replayed, memory_order_relaxed);
	st->broken = atomic_load_explicit(&p->broken, memory_order_relaxed);
	st->timers_fired =
		atomic_load_explicit(&p->timers_fired, memory_order_relaxed);
}

/* ---- timers ------------------------------------------------------------------ */

typedef struct fire_ctx {
	mn__persist *p;
	size_t n;
} fire_ctx;

static int fire_one(void *arg, const mn__wtimer *t)
{
	fire_ctx *f = arg;
	mn__persist *p = f->p;
	mn_runtime *rt = p->rt;
	mn__actor_meta m;
	const mn_kind *k;

	/* fired_mu is held for the whole scan (mn__persist_fire_timers). */
	if (!fired_op_locked(p, t->id, 1))
		return 0; /* fired already, its message is queued */
	if (mn__store_actor_get(p->store, t->actor_id, &m) != 0 ||
	    !(k = kind_by_store_id(rt, m.kind_id))) {
		/* Its kind is not registered yet: try again later. */
		fired_op_locked(p, t->id, 2);
		return 0;
	}
	mn__sendx x = {.outbox_id = t->id, .mflags = MN_MSG_TIMER};
	int rc = mn__send(rt, NULL, NULL, k, m.key, m.key_len, t->type,
			  t->payload, t->len, &x);
	if (rc == MN__EDELETING) {
		/* The deletion's first transaction removes its record. */
		fired_op_locked(p, t->id, 2);
		mn__event(&rt->ev, MN_EVENT_DROPPED, MN_ENOACTOR, k, m.key,
			  m.key_len, 0,
			  "timer %llu dropped: the actor is being deleted",
			  (unsigned long long)t->id);
		return 0;
	}
	if (rc != 0) {
		fired_op_locked(p, t->id, 2);
		/* Under fired_mu, which no worker takes. */
		mn__event(&rt->ev, MN_EVENT_UNDELIVERED, rc, k, m.key,
			  m.key_len, 0,
			  "timer %llu (type %u) not delivered (%s); tried again "
			  "at the next tick",
			  (unsigned long long)t->id, (unsigned)t->type,
			  mn_err_name(rc));
		return 0;
	}
	atomic_fetch_add_explicit(&p->timers_fired, 1, memory_order_relaxed);
	f->n++;
	return 0;
}

uint64_t mn__persist_fire_timers(mn_runtime *rt, size_t max)
{
	mn__persist *p = rt->persist;
	fire_ctx f = {.p = p};
	if (!p || atomic_load_explicit(&p->error, memory_order_relaxed))
		return 0;
	pthread_mutex_lock(&p->fired_mu);
	mn__store_timers_due(p->store, now_unix_ms(), max, fire_one, &f);
	pthread_mutex_unlock(&p->fired_mu);
	return f.n;
}

uint64_t mn__persist_timers_next(mn_runtime *rt)
{
	return rt->persist ? mn__store_timers_next(rt->persist->store) : 0;
}
