/*
 * runtime.h - the private layout of a runtime, its kinds, workers and the
 * handler context. Shared by the files of core/; never installed.
 *
 * Threads of a runtime:
 *   - worker threads (nworkers): run actors taken from run queues;
 *   - caller threads: any application thread calling mn_send*, mn_spawn,
 *     mn_kind_register, mn_runtime_drain, mn_runtime_stats_get.
 * Every field below says who may touch it and how.
 */
#ifndef MN_CORE_RUNTIME_H
#define MN_CORE_RUNTIME_H

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "core/actor.h"
#include "core/admit.h"
#include "core/events.h"
#include "core/lock.h"
#include "core/msgpool.h"
#include "base/buf.h"
#include "core/registry.h"
#include "include/mnemo.h"

struct mn_kind {
	/* Immutable after registration. */
	mn_runtime *rt;
	uint16_t idx;
	bool persistent; /* journaled (the runtime has a store, not VOLATILE) */
	uint32_t store_id; /* the kind's id in the store (persistent kinds) */
	/* Compression: the kind's current dictionary (0: none), and whether
	 * the writer still samples its payloads to train one. Written by the
	 * writer thread (release) once the dictionary is in the store's
	 * dictset; read by workers (acquire) to compress journal payloads. */
	_Atomic uint32_t dict_id;
	_Atomic bool sampling;
	/* G1 (docs/architecture.md): set at registration when the store held
	 * stored messages at open, cleared (release, under the persistence's
	 * gate lock) once the kind's stored messages are all queued; while
	 * set, new messages to the kind are parked behind them. */
	_Atomic bool gated;
	/* Set (under gate_mu, with gated) while mn_kind_upgrade swaps the
	 * kind's code (core/swap.c, U1-U5); read under a shard lock by
	 * mn__send. */
	_Atomic bool upgrading;
	mn_kind_def def; /* def.name points at name[] below */
	char name[MN_KIND_NAME_MAX + 1];
};

/* The handler context: one per worker, owned by it, pointing at the actor
 * and message being handled. */
struct mn_ctx {
	mn_runtime *rt;
	struct mn__worker *w;
	mn__actor *actor;    /* the running actor */
	const mn_kind *kind; /* its kind */
	const mn__msg *msg;  /* the message being handled; NULL during init
				and replay */
	uint64_t seq;	     /* its sequence number (persistent actors) */
	/* Inside restore(): the version of the bytes it reads (0: none, the
	 * kind's own; core/upgrade.c). */
	uint32_t state_version;
	/* Persistent actors: sends are held until the commit (output
	 * commit), serialised into pending (see persist.c). */
	bool hold_sends;
	bool replaying; /* suppress sends: replay of the journal */
	mn_buf pending;
	uint32_t npending;	/* held items: sends, timers, cancels */
	uint32_t npending_msgs; /* of which sends */
	/* Replay: the recorded sender of the entry being replayed. */
	const mn_kind *replay_sender_kind;
	unsigned char replay_sender_key[MN_KEY_MAX];
	size_t replay_sender_key_len;
	/* Replay: the timer ids the entry recorded, handed out again by
	 * mn_ctx_after in order. */
	const uint64_t *replay_timer_ids;
	size_t replay_ntimer_ids, replay_timer_next;
	/* Deterministic time and randomness (mn_ctx_time, mn_ctx_random):
	 * the message's journaled time, set before handle (replay: the
	 * entry's), and the generator's state, seeded from the actor and
	 * seq on first use (rng_seeded). */
	uint64_t now_ms;
	uint64_t rng;
	bool rng_seeded;
	/* Outbound calls (calls.c): calls made by the message being
	 * handled; during replay, the calls its entry recorded (hashes and
	 * intents) and the first call whose request differs (diverged: its
	 * index and the new request's intent, in diverge_intent). */
	uint32_t ncalls;
	uint32_t replay_flags; /* replay: the entry's MN_MSG_* flags */
	const uint64_t *replay_call_hashes;
	const void *const *replay_calls;
	const size_t *replay_call_lens;
	size_t replay_ncalls;
	bool diverged;
	uint32_t diverge_index;
	mn_buf diverge_intent;
};

/* A FIFO of scheduled actors, linked through mn__actor.rq_next. */
typedef struct mn__runq {
	mn__lock mu;
	mn__actor *head, *tail; /* under mu */
	/* Written under mu (relaxed); read without it as a hint of whether
	 * the queue has work (steal, sleep decisions). */
	_Atomic size_t len;
} mn__runq;

/* The inject queue: actors scheduled from outside the workers, linked
 * through mn__actor.rq_next. mpsc.h's detaching queue (MQ1-MQ4), with I1-I3
 * (sched.c): producers (any thread) touch only q.end; consumers (workers)
 * take turns under cmu, acquired with a try-lock (MQ2), and own q.head.
 * Sleeping workers read the ends as a hint (seq_cst fence first, S1). */
typedef struct mn__injectq {
	mn__mpsc q;
	mn__lock cmu; /* in q.head's cache line */
} mn__injectq;

/* The last actor of a volatile kind a thread sent to (runtime.c, "the send
 * cache"): owner-only, one per worker and one per outside thread. Valid
 * while gen is its runtime's generation: volatile actors never leave the
 * registry while their runtime is open. */
typedef struct mn__sendcache {
	uint64_t gen; /* mn_runtime.gen when filled; 0: empty */
	const mn_kind *kind;
	uint64_t hash;
	mn__actor *actor;
} mn__sendcache;

/* Extra inputs of a send (send.h's mn__send; parked copies keep them,
 * gate.h). */
typedef struct mn__sendx {
	uint32_t mflags;    /* MN_MSG_* | MN__MSG_* */
	uint64_t outbox_id; /* the message is stored in the outbox */
	uint64_t sender_id; /* sender's store id when from is NULL */
	bool counted;	    /* already counted as sent (DR1) by its sender */
	bool ungated; /* a stored or parked message: passes the gate (G1) */
	/* An outside thread's send (not a worker, nor a runtime thread):
	 * it may wait for admission (AC2, admit.c); every other sender's
	 * message is parked instead (AC3). */
	bool may_wait;
	/* The sender when from is NULL and it is an actor (redelivery of a
	 * stored message): its kind and key. */
	const mn_kind *sender_kind;
	unsigned char sender_key[MN_KEY_MAX];
	size_t sender_key_len;
} mn__sendx;

typedef struct mn__worker {
	/* Owner-only (the worker thread), set before it starts. */
	mn_runtime *rt;
	unsigned idx;
	pthread_t thread;
	uint64_t rng;
	unsigned tick;
	mn_ctx ctx;
	mn__msgpool pool;
	struct mn__codec *codec; /* for replay (persistent runtimes) */
	mn_buf zbuf; /* compressed payload before its commit record exists */
	struct mn__wring *wring; /* its commit records' memory (persist.c) */
	mn__sendcache sendcache; /* last volatile actor this worker sent to */

	/* Counters: written only by the owner thread (relaxed load, release
	 * store: no read-modify-write needed with one writer), read by any
	 * thread with acquire (drain, stats). n_sent is bumped before the
	 * push of the message it counts, n_done after the handling; drain's
	 * proof relies on that order (docs/architecture.md, DR1-DR3). */
	alignas(64) _Atomic uint64_t n_sent;
	_Atomic uint64_t n_done;
	_Atomic uint64_t n_errors;
	_Atomic uint64_t n_steals;
	_Atomic uint64_t n_sleeps;

	/* The worker's run queue: pushed by its owner, popped by its owner
	 * and by thieves, all under q.mu. */
	alignas(64) mn__runq q;
} mn__worker;

struct mn_runtime {
	/* Immutable after mn_runtime_open. gen: unique per runtime opened in
	 * this process (send caches tell runtimes apart by it, not by
	 * address). */
	uint64_t gen;
	unsigned nworkers;
	size_t max_payload;
	mn__worker *workers;

	/* Kinds: kinds[i] written once under kinds_mu, then published by a
	 * release store of nkinds; read after an acquire load of nkinds, or
	 * through a kind handle (which happens after its registration). */
	pthread_mutex_t kinds_mu;
	mn_kind *kinds[MN_KINDS_MAX];
	_Atomic unsigned nkinds;

	/* Outside callers. closed: set once by shutdown (seq_cst). A send
	 * from outside increments ext_active (seq_cst) before checking
	 * closed and decrements it when done, so close can wait for sends in
	 * flight. ext_sent counts messages sent from outside (fetch_add,
	 * release), read with acquire by drain and stats. */
	alignas(64) _Atomic bool closed;
	_Atomic unsigned ext_active;
	_Atomic uint64_t ext_sent;
	_Atomic uint64_t ext_errors; /* init errors of explicit spawns etc. */

	/* Actors scheduled from outside any worker (sched.c, I1-I3). */
	mn__injectq inject;

	/* Message buffers the workers' pools overflowed, for outside
	 * threads (msgpool.h, Q1-Q3): its own cache lines. */
	mn__msgdepot depot;

	/* Sleeping workers (docs/architecture.md S1-S3). nsleeping: RMW
	 * seq_cst under sleep_mu, read by wakers after a seq_cst fence.
	 * wake_tokens: under sleep_mu. stop: set under sleep_mu, read by
	 * workers with acquire. */
	alignas(64) pthread_mutex_t sleep_mu;
	pthread_cond_t sleep_cv;
	_Atomic unsigned nsleeping;
	unsigned wake_tokens;
	_Atomic bool stop;

	mn__registry reg;

	/* Admission control of max_resident (admit.c, AC1-AC5): set up at
	 * open, destroyed at close after every sending thread stopped. */
	mn__admit adm;

	/* Failure events and broken actors (events.c): set up before the
	 * store opens, torn down after the workers stopped. */
	mn__events ev;

	/* Persistence (NULL without a store); see persist.c. */
	struct mn__persist *persist;
	/* The state the send engine reads from the durable core (gate.h: the
	 * gate, the deletion set, the writer's done counter): inside
	 * persist's, set with it, NULL without a store. */
	struct mn__gate *gate;
	/* Eviction and timers (NULL without a store); see evict.c. */
	struct mn__maint *maint;
	/* Pending asks from outside (ask.c): made at open, freed at close
	 * after the workers and the writer stopped. */
	struct mn__asks *asks;
	/* Observers of actors' outputs (observe.c): as asks. */
	struct mn__observers *observers;
};

/* A message buffer of total bytes (header included): from w's pool when w
 * (the calling worker) is not NULL, else from the calling thread's outside
 * cache and rt's depot (msgpool.h). Returns NULL when out of memory. */
static inline mn__msg *mn__msg_alloc(mn_runtime *rt, mn__worker *w,
				     size_t total)
{
	return mn__msg_get(w ? &w->pool : NULL, &rt->depot, total);
}
/* Release a message: to w's pool (w the calling worker; its overflow to
 * the depot) or to free() (w NULL). */
static inline void mn__msg_free(mn__worker *w, mn__msg *m)
{
	if (w)
		mn__msg_put(&w->pool, &w->rt->depot, m);
	else
		mn__msg_put(NULL, NULL, m);
}

/* A send from outside any actor (runtime.c: the checks of mn_send, then
 * the send engine), with extra message flags and the sender id field (an
 * ask's id, ask.c). */
int mn__send_outside(mn_runtime *rt, const mn_kind *kind, const void *key,
		     size_t key_len, uint32_t type, const void *payload,
		     size_t len, uint32_t mflags, uint64_t sender_id);
/* The calling thread's worker of rt, or NULL (not a worker of rt). */
struct mn__worker *mn__local_worker(mn_runtime *rt);
/* Answer ask id from a handler (ask.c): held until the commit for
 * persistent actors, at once for volatile ones; nothing in replay. */
int mn__ask_answer(mn_ctx *ctx, uint64_t id, uint32_t type, const void *payload,
		   size_t len);

/* Bump a single-writer counter (owner thread only). */
static inline void mn__count(_Atomic uint64_t *c, uint64_t n)
{
	/* release: pairs with the acquire loads of drain and stats. */
	atomic_store_explicit(c,
			      atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_release);
}

#endif
