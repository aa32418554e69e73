/*
 * send.h - the send engine (send.c): the one path by which a message
 * reaches a mailbox, and drain's sent/done sums (DR1-DR3). Used by
 * runtime.c, ctx.c and the persistence files (redelivery, held sends,
 * durable sends, timers). Any thread.
 */
#ifndef MN_CORE_SEND_H
#define MN_CORE_SEND_H

#include "core/runtime.h"

/* The sums of the sent and done counters, read in DR3's order. Any
 * thread. */
void mn__counter_sums(mn_runtime *rt, uint64_t *sent, uint64_t *done);
/* Messages sent and not yet done (an estimate: a hint for pacing). */
uint64_t mn__runtime_inflight(mn_runtime *rt);
/* The send path (steps 1-6 of send.c). w: the calling worker or NULL;
 * from: the sending actor or NULL. */
int mn__send(mn_runtime *rt, mn__worker *w, const mn__actor *from,
	     const mn_kind *kind, const void *key, size_t key_len,
	     uint32_t type, const void *payload, size_t len,
	     const mn__sendx *x);
int mn__check_send(mn_runtime *rt, const mn_kind *kind, const void *key,
		   size_t key_len, const void *payload, size_t len);
/* The actor (kind, key) is resident or (persistent kinds) stored. Takes
 * the address's shard lock. Any thread. */
bool mn__actor_known(mn_runtime *rt, const mn_kind *kind, const void *key,
		     size_t key_len);
/* Admit messages parked for admission (AC3, admit.c) while slots are
 * free, and up to force addresses over the bound (AC4: evictions
 * stalled). The maintenance thread only. Returns the addresses that got
 * their record. */
uint64_t mn__send_unpark(mn_runtime *rt, unsigned force);
/* Drop the messages parked for admission to (kind, key) (an address
 * being deleted, X2): reported and counted done. Any thread but a worker
 * holding a shard lock. */
void mn__send_drop_parked(mn_runtime *rt, const mn_kind *kind, const void *key,
			  size_t key_len);
/* An outside thread about to make a durable send to (kind, key) waits
 * while admission has no room and the address is not resident (AC2,
 * bounded as AC4). Only an application thread. */
void mn__admit_wait_outside(mn_runtime *rt, const mn_kind *kind,
			    const void *key, size_t key_len);

#endif
