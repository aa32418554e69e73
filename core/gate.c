/*
 * gate.c - the state below the send engine that the durable core writes
 * (gate.h): parking at a gated kind (G2; the gate's invariants G1-G3 are
 * stated in outbox.c, which opens it), the deletion set (X1-X2; stated in
 * delete.c, which fills and empties it) and the done counters drain sums
 * (DR2-DR3; stated in send.c). It calls nothing above it: no send, no
 * store. Threads: any sender (park, the deleting check), the deleting
 * caller (X1-X2), the writer (done, X4), the open and close caller.
 */
#include <stdlib.h>
#include <string.h>

#include "core/events.h"
#include "core/gate.h"

void mn__gate_init(mn__gate *g, mn_runtime *rt, mn__gate_stored_fn stored)
{
	g->rt = rt;
	g->stored = stored;
	pthread_mutex_init(&g->del_mu, NULL);
	pthread_mutex_init(&g->gate_mu, NULL);
}

void mn__gate_destroy(mn__gate *g)
{
	/* Parked messages are dropped like queued ones (durable ones stay
	 * stored for the next open). */
	for (unsigned i = 0; i < MN_KINDS_MAX; i++) {
		while (g->park_head[i]) {
			mn__parked *q = g->park_head[i];
			g->park_head[i] = q->next;
			free(q);
		}
	}
	pthread_mutex_destroy(&g->gate_mu);
	pthread_mutex_destroy(&g->del_mu);
}

/* ---- the gate (G2) --------------------------------------------------------
 */

int mn__gate_park(mn__gate *g, const mn_kind *kind, const void *key,
		  size_t key_len, uint32_t type, const void *payload,
		  size_t len, const mn__sendx *x)
{
	mn__parked *q = malloc(sizeof *q + len);
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
	pthread_mutex_lock(&g->gate_mu);
	if (!atomic_load_explicit(&kind->gated, memory_order_relaxed)) {
		/* Opened meanwhile: every parked message is queued (G3). The
		 * caller sends it. */
		pthread_mutex_unlock(&g->gate_mu);
		free(q);
		return MN__GATE_OPEN;
	}
	if (g->park_tail[kind->idx])
		g->park_tail[kind->idx]->next = q;
	else
		g->park_head[kind->idx] = q;
	g->park_tail[kind->idx] = q;
	atomic_fetch_add_explicit(&g->nparked, 1, memory_order_relaxed);
	pthread_mutex_unlock(&g->gate_mu);
	return 0;
}

void mn__gate_parked_done(mn__gate *g)
{
	atomic_fetch_add_explicit(&g->gate_done, 1, memory_order_release);
}

/* X2: drop the messages parked (G2) for the address. Caller thread. */
void mn__gate_drop_parked(mn__gate *g, const mn_kind *k, const void *key,
			  size_t key_len)
{
	mn__parked *drop = NULL;
	pthread_mutex_lock(&g->gate_mu);
	mn__parked **pp = &g->park_head[k->idx], *last = NULL;
	while (*pp) {
		mn__parked *q = *pp;
		if (q->kind == k && q->key_len == key_len &&
		    memcmp(q->key, key, key_len) == 0) {
			*pp = q->next;
			q->next = drop;
			drop = q;
			atomic_fetch_sub_explicit(&g->nparked, 1,
						  memory_order_relaxed);
			continue;
		}
		last = q;
		pp = &q->next;
	}
	g->park_tail[k->idx] = last;
	pthread_mutex_unlock(&g->gate_mu);
	while (drop) {
		mn__parked *q = drop;
		drop = q->next;
		mn__event(&g->rt->ev, MN_EVENT_DROPPED, MN_ENOACTOR, k, key,
			  key_len, 0,
			  "parked message type %u dropped: the actor is being "
			  "deleted",
			  (unsigned)q->type);
		/* Counted as sent when parked: done, for drain. */
		mn__gate_parked_done(g);
		free(q);
	}
}

/* ---- the deletion set (X1) ------------------------------------------------
 */

mn__gate_addr *mn__gate_del_find_locked(mn__gate *g, const mn_kind *k,
					const void *key, size_t key_len)
{
	for (mn__gate_addr *d = g->deleting; d; d = d->next)
		if (d->k == k && d->key_len == key_len &&
		    memcmp(d->key, key, key_len) == 0)
			return d;
	return NULL;
}

bool mn__gate_deleting(mn__gate *g, const mn_kind *k, const void *key,
		       size_t key_len)
{
	if (!g || !k->persistent ||
	    __builtin_expect(
		atomic_load_explicit(&g->ndeleting, memory_order_relaxed) == 0,
		1))
		return false;
	pthread_mutex_lock(&g->del_mu);
	bool found = mn__gate_del_find_locked(g, k, key, key_len) != NULL;
	pthread_mutex_unlock(&g->del_mu);
	return found;
}

void mn__gate_del_add_locked(mn__gate *g, mn__gate_addr *a)
{
	a->next = g->deleting;
	g->deleting = a;
	atomic_store_explicit(
	    &g->ndeleting,
	    atomic_load_explicit(&g->ndeleting, memory_order_relaxed) + 1,
	    memory_order_relaxed);
}

void mn__gate_del_remove_locked(mn__gate *g, mn__gate_addr *a)
{
	for (mn__gate_addr **pp = &g->deleting; *pp; pp = &(*pp)->next)
		if (*pp == a) {
			*pp = a->next;
			break;
		}
	atomic_store_explicit(
	    &g->ndeleting,
	    atomic_load_explicit(&g->ndeleting, memory_order_relaxed) - 1,
	    memory_order_relaxed);
}

/* ---- drain's done counters (DR2-DR3) --------------------------------------
 */

uint64_t mn__gate_done(mn__gate *g)
{
	return g ? atomic_load_explicit(&g->done, memory_order_acquire) +
		       atomic_load_explicit(&g->gate_done, memory_order_acquire)
		 : 0;
}
