/*
 * gate.h - the state the send engine reads that the durable core writes
 * (gate.c): the gate's park lists (G1-G3, stated in outbox.c), the set of
 * addresses being deleted (X1, stated in delete.c), the writer's done
 * counter (DR2, stated in send.c) and the store lookup of explicit actors
 * (a hook persist installs at open). It sits below send.c: send.c reads
 * and parks through these calls and never includes persist.h; persist.c,
 * outbox.c, delete.c and commit.c write the state through them. Nothing
 * here calls mn__send: a park that finds the gate open says so
 * (MN__GATE_OPEN) and the sender sends. Any thread, per call.
 */
#ifndef MN_CORE_GATE_H
#define MN_CORE_GATE_H

#include "core/runtime.h"

/* A send to an address being deleted is refused with MN__EDELETING (never
 * returned to an application: the public calls say MN_ENOACTOR, or drop
 * it; core/delete.c X1-X5). */
#define MN__EDELETING (-1000)
/* mn__gate_park: the gate opened meanwhile; the caller sends now (G3). */
#define MN__GATE_OPEN 1

/* A message parked at a gated kind (G2): its send, copied. */
typedef struct mn__parked {
	struct mn__parked *next;
	const mn_kind *kind;
	uint32_t type;
	size_t len, key_len;
	mn__sendx x;
	unsigned char key[MN_KEY_MAX];
	unsigned char data[];
} mn__parked;

/* An address in the deletion set (X1): embedded in its deletion request
 * (delete.c), linked under del_mu. */
typedef struct mn__gate_addr {
	struct mn__gate_addr *next;
	const mn_kind *k;
	unsigned char key[MN_KEY_MAX];
	size_t key_len;
} mn__gate_addr;

/* Whether the store holds the actor (k, key): the store lookup of an
 * explicit kind's actor that is not resident. Installed by persist at
 * open (the one deliberate hook from the durable core into the send
 * engine's reads); called with the address's shard lock held. */
typedef bool (*mn__gate_stored_fn)(mn_runtime *rt, const mn_kind *k,
				   const void *key, size_t key_len);

/*
 * One per persistent runtime (inside persist's state; mn_runtime.gate
 * points at it, NULL without a store).
 *  - rt, stored: immutable after mn__gate_init.
 *  - The gate (G1-G3, outbox.c): stored_at_open, set at open before any
 *    kind registers: the store held outbox entries. Park lists per kind
 *    index under gate_mu (outbox.c's gate_open walks them under it too:
 *    G3's pushes happen under the lock); nparked counts them (relaxed;
 *    the pacing leaves them out); gate_done counts parked messages that
 *    could not be delivered (release: done for drain).
 *  - The deletion set (X1, delete.c): under del_mu (lock order: a shard
 *    lock, then del_mu); ndeleting mirrors its count (written under
 *    del_mu, read without it: senders and workers look only when it is
 *    not 0). del_mu also guards the fields of a deletion request that
 *    delete.c marks as under it.
 *  - done: messages the writer finished (DR2; one writer, release; read
 *    with acquire by drain).
 * The deletion set, read on every send and turn of a persistent actor,
 * and done, written by the writer after every commit group, have cache
 * lines of their own (alignas(64)).
 */
typedef struct mn__gate {
	mn_runtime *rt;
	mn__gate_stored_fn stored;

	bool stored_at_open;
	pthread_mutex_t gate_mu;
	mn__parked *park_head[MN_KINDS_MAX], *park_tail[MN_KINDS_MAX];
	_Atomic uint64_t nparked;
	_Atomic uint64_t gate_done;

	alignas(64) pthread_mutex_t del_mu;
	mn__gate_addr *deleting;
	_Atomic size_t ndeleting;

	alignas(64) _Atomic uint64_t done;
} mn__gate;

/* Set up g (zeroed by the caller) for rt with the store lookup hook. */
void mn__gate_init(mn__gate *g, mn_runtime *rt, mn__gate_stored_fn stored);
/* Free the parked messages left (dropped like queued ones; durable ones
 * stay stored for the next open) and the locks. After the workers and the
 * writer stopped. */
void mn__gate_destroy(mn__gate *g);

/* A send to a gated kind (G2): park a copy (x with the sender resolved;
 * counted as sent by the caller). 0: parked; MN__GATE_OPEN: the gate
 * opened meanwhile, every parked message is queued (G3): the caller sends
 * it now, ungated; MN_ENOMEM. */
int mn__gate_park(mn__gate *g, const mn_kind *kind, const void *key,
		  size_t key_len, uint32_t type, const void *payload,
		  size_t len, const mn__sendx *x);
/* A message counted as sent that was parked, or meant to be, will never
 * be delivered: count it done (drain). Any thread. */
void mn__gate_parked_done(mn__gate *g);
/* X2: drop the messages parked for (k, key), each reported
 * MN_EVENT_DROPPED and counted done. The deleting caller. */
void mn__gate_drop_parked(mn__gate *g, const mn_kind *k, const void *key,
			  size_t key_len);

/* Whether the address is being deleted (X1): one relaxed load while no
 * deletion runs. g may be NULL (no store). Any thread; exact under the
 * address's shard lock. */
bool mn__gate_deleting(mn__gate *g, const mn_kind *k, const void *key,
		       size_t key_len);
/* The deletion set, under del_mu: find an address, enter one, remove one
 * (ndeleting follows). */
mn__gate_addr *mn__gate_del_find_locked(mn__gate *g, const mn_kind *k,
					const void *key, size_t key_len);
void mn__gate_del_add_locked(mn__gate *g, mn__gate_addr *a);
void mn__gate_del_remove_locked(mn__gate *g, mn__gate_addr *a);

/* The writer finished n messages (DR2). Writer thread only. */
static inline void mn__gate_writer_done(mn__gate *g, uint64_t n)
{
	/* One writer thread: store(load + n), release (drain's DR2). */
	atomic_store_explicit(
	    &g->done, atomic_load_explicit(&g->done, memory_order_relaxed) + n,
	    memory_order_release);
}
/* Messages the writer finished and parked ones not delivered, for drain's
 * done sum (DR3: acquire); 0 when g is NULL. Any thread. */
uint64_t mn__gate_done(mn__gate *g);

#endif
