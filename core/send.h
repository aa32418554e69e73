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

#endif
