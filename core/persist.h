/*
 * persist.h - the runtime side of durability: the writer thread (group
 * commit), output commit, the outbox, durable sends, and bringing an actor
 * back from the journal. storage/ does the LMDB work; this file decides what
 * is written when, and what becomes visible after which commit. The calls
 * are implemented across the durable core's files (core/persist_int.h
 * lists them: persist.c, commit.c, record.c, checkpoint.c, timers.c,
 * evict.c, delete.c, compact.c, outbox.c, rehydrate.c, dict_train.c).
 */
#ifndef MN_CORE_PERSIST_H
#define MN_CORE_PERSIST_H

#include "core/gate.h"
#include "core/runtime.h"
#include "core/send.h"

typedef struct mn__persist mn__persist;

/* Open the store of opts->store_path and start the writer thread; sets
 * rt->persist. Returns 0 or the store's error (detail: mn_errdetail()). */
int mn__persist_open(mn_runtime *rt, const mn_runtime_opts *opts);

/* After the workers stopped: commit what is queued, write a checkpoint,
 * stop the writer, close the store. */
void mn__persist_close(mn_runtime *rt);

/* A kind is being registered: give it its store id (any kind, volatile
 * ones too: stored messages name their target kind by it). */
int mn__persist_kind_id(mn_runtime *rt, mn_kind *k);

/* A kind was registered: queue the delivery of the stored outbox messages
 * addressed to it (P4), done by the maintenance thread, rate-limited. */
int mn__persist_kind_registered(mn_runtime *rt, mn_kind *k);

/* First run of a persistent actor (worker): find it in the store and
 * replay its journal, or give it a new id; runs init either way. */
int mn__persist_first_run(mn__worker *w, mn__actor *a, const mn_kind *k);

/* Before handle() of live message m of a persistent actor (worker).
 * false: m is a stale call reply (calls.c, C2), to drop unhandled. */
bool mn__persist_before_handle(mn__worker *w, mn__actor *a, const mn__msg *m);

/* After handle(): queue the commit record of message m with the sends the
 * handler made (output commit). The writer counts the message as done
 * after the commit. Returns 0 or MN_ENOMEM / the sticky store error. */
int mn__persist_after_handle(mn__worker *w, mn__actor *a, const mn__msg *m,
			     int handle_rc);

/* A spawn of a persistent actor: record it in the store. */
int mn__persist_spawned(mn__worker *w, mn__actor *a);

/* A volatile actor handled a message that was stored in the outbox: queue
 * its removal; the writer counts the message as done. */
int mn__persist_outbox_done(mn__worker *w, uint64_t outbox_id);

/* Hold a send made inside a persistent actor's handler until its commit. */
int mn__persist_hold_send(mn_ctx *ctx, const mn_kind *kind, const void *key,
			  size_t key_len, uint32_t type, const void *payload,
			  size_t len);

/* Queue a durable send (outside thread); ckey (ck_len bytes, or NULL):
 * its client key (idempotent ingress: done then gets MN_EEXIST or
 * MN_ECONFLICT when the key is known). */
int mn__persist_durable(mn_runtime *rt, const mn_kind *kind, const void *key,
			size_t key_len, uint32_t type, const void *payload,
			size_t len, const void *ckey, size_t ck_len,
			mn_send_done_cb done, void *arg);

/* Eviction step E2 (core/evict.c; evictor, shard lock held, actor idle
 * per E1): queue the EVICT record, with a snapshot if messages came after
 * the last. */
int mn__persist_evict(mn_runtime *rt, mn__actor *a);

/* Timers held in the ctx until the commit (mn_ctx_after/cancel). */
int mn__persist_after(mn_ctx *ctx, uint64_t delay_ms, uint32_t type,
		      const void *payload, size_t len, uint64_t *id);
int mn__persist_cancel(mn_ctx *ctx, uint64_t id);

/* Deliver up to max due timers (maintenance thread); returns how many.
 * mn__persist_timers_next: the earliest due time stored (unix ms), 0 if
 * none. */
uint64_t mn__persist_fire_timers(mn_runtime *rt, size_t max);
uint64_t mn__persist_timers_next(mn_runtime *rt);

/* Lazy restart: deliver up to max stored messages (maintenance thread);
 * returns how many. mn__persist_busy: stored messages remain to deliver
 * (drain waits). */
uint64_t mn__persist_redeliver_step(mn_runtime *rt, uint64_t max);

/* Push kind k's parked messages in order and open its gate (G3; outbox.c),
 * for the end of a code upgrade (swap.c). */
void mn__persist_gate_open(mn_runtime *rt, mn_kind *k);

/* mn_kind_upgrade's work (swap.c, U1-U5), after its checks. */
int mn__persist_swap(mn_runtime *rt, mn_kind *k, const mn_kind_def *def,
		     uint32_t timeout_ms);
bool mn__persist_busy(mn_runtime *rt);

/* Counters for mn_runtime_stats_get (the messages the writer finished,
 * drain's DR2, are the gate's: gate.h's mn__gate_done). */
void mn__persist_stats(mn_runtime *rt, mn_runtime_stats *st);
/* Evictions queued and not finished. */
uint64_t mn__persist_evicting(mn_runtime *rt);

/* mn_runtime_compact and mn_runtime_recovery. */
int mn__persist_compact(mn_runtime *rt, uint64_t keep, mn_compact_stats *st);
void mn__persist_recovery(mn_runtime *rt, mn_recovery *out);

/* Online deletion (mn_actor_delete; core/delete.c X1-X5). A send to an
 * address being deleted is refused with MN__EDELETING (gate.h); whether
 * one is: gate.h's mn__gate_deleting. */
/* Delete the actor (k, key) and wait until it is gone from the store.
 * Caller thread (not a worker). 0, MN_ENOTSUP, MN_ENOACTOR, MN_EBUSY, or
 * a store error. */
int mn__persist_delete(mn_runtime *rt, const mn_kind *k, const void *key,
		       size_t key_len);
/* Worker, before running message m on persistent actor a: if a is being
 * deleted, drop m (MN_EVENT_DROPPED, counted done) and return true (X2). */
bool mn__persist_drop_deleted(mn__worker *w, mn__actor *a, const mn_kind *k,
			      const mn__msg *m);

/* The sticky store failure, or 0. */
int mn__persist_error(mn_runtime *rt);

#endif
