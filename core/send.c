/*
 * send.c - the send engine: every message, from outside, from a handler,
 * from the writer or the maintenance thread, reaches a mailbox through
 * mn__send; and the sent/done accounting that drain reads (DR1-DR3).
 *
 * The send path, for every message:
 *   1. validate, then copy payload and sender key into one new allocation;
 *   2. hash the address and lock its registry shard;
 *   3. find the actor, or create it (virtual actor) and insert it;
 *   4. count the message as sent (before the push: drain's DR1);
 *   5. push it into the mailbox (still under the shard lock: M5);
 *   6. unlock, and if the push found the mailbox idle, schedule the actor
 *      (M1): on the sending worker's own run queue, or the inject queue.
 *
 * The send cache: actors of volatile kinds are never evicted, so they
 * leave the registry only at close, after every worker has stopped and
 * every admitted outside send has returned. M5 (push under the shard lock)
 * guards against eviction only, so a thread that has resolved such an
 * actor may push into it again without the registry: each worker and each
 * outside thread remembers the last volatile actor it sent to (its kind,
 * address hash and record), and a send to the same address skips steps
 * 2-3 and the lock. The key is compared in the record (immutable after
 * creation). Persistent kinds, and spawns (which must see whether the
 * actor exists), always take the registry path. With many senders and one
 * receiver this removes the one shard lock they all spun on.
 *
 * Invariants owned here: DR1-DR3 (below; docs/architecture.md), and the
 * send cache's validity (gen, M5's volatile exception). M1 and M5 are the
 * mailbox's (mailbox.h); G1-G3 (outbox.c) and X1 (delete.c) are the
 * durable core's, whose state this file reads through gate.h: it calls
 * nothing above it (no persist.h; scripts/check-layers checks send.o).
 *
 * Threads: any (workers, caller threads, the writer, the maintenance
 * thread); per-thread state is the send cache only (owner-only).
 */
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "core/gate.h"
#include "core/mailbox.h"
#include "core/sched.h"
#include "core/send.h"

/* The send cache of a thread that is not a worker (owner-only). */
static _Thread_local mn__sendcache tls_sendcache;

/* ---- drain's counters ------------------------------------------------------
 */

/*
 * Quiescence (docs/architecture.md):
 *  DR1  Every message is counted in a sent counter before it is pushed.
 *  DR2  A message is counted in its worker's n_done after its handler
 *       returned, hence after the sends it made were counted.
 *  DR3  Drain reads all n_done first, then all sent counters, each with
 *       acquire. A message whose n_done it saw was sent (and its children
 *       counted) before, so the sent sum it reads later includes them;
 *       equal sums then mean nothing was queued or running in between.
 */
void mn__counter_sums(mn_runtime *rt, uint64_t *sent, uint64_t *done)
{
	uint64_t d = 0, s = 0;

	for (unsigned i = 0; i < rt->nworkers; i++)
		d += atomic_load_explicit(&rt->workers[i].n_done,
					  memory_order_acquire);
	d += mn__gate_done(rt->gate);
	for (unsigned i = 0; i < rt->nworkers; i++)
		s += atomic_load_explicit(&rt->workers[i].n_sent,
					  memory_order_acquire);
	s += atomic_load_explicit(&rt->ext_sent, memory_order_acquire);
	*sent = s;
	*done = d;
}

uint64_t mn__runtime_inflight(mn_runtime *rt)
{
	uint64_t sent, done;
	mn__counter_sums(rt, &sent, &done);
	return sent > done ? sent - done : 0;
}

/* ---- the send engine -------------------------------------------------------
 */

int mn__check_send(mn_runtime *rt, const mn_kind *kind, const void *key,
		   size_t key_len, const void *payload, size_t len)
{
	if (!rt || !kind)
		return MN_EINVAL;
	if (kind->rt != rt)
		return MN_ENOKIND;
	if (!key || key_len == 0 || key_len > MN_KEY_MAX)
		return MN_EKEY;
	if (!payload && len)
		return MN_EINVAL;
	if (len > rt->max_payload)
		return MN_ETOOBIG;
	return 0;
}

/* An actor of an explicit persistent kind that is not resident may exist
 * in the store (spawned before a restart). Called with the shard lock
 * held: a store read (through the hook persist installed in the gate),
 * but only on this rare path. */
static bool explicit_stored(mn_runtime *rt, const mn_kind *kind,
			    const void *key, size_t key_len)
{
	if (!kind->persistent || !rt->gate)
		return false;
	return rt->gate->stored(rt, kind, key, key_len);
}

/* A new actor record, from the shard's slab (shard locked). */
static mn__actor *actor_new(mn__shard *s, const mn_kind *kind, uint64_t hash,
			    const void *key, size_t key_len)
{
	mn__actor *a = mn__reg_record_alloc(s, key_len, kind->persistent);
	if (!a)
		return NULL;
	mn__mb_init(a);
	a->state = NULL;
	a->flags = 0;
	a->key_len = (uint8_t)key_len;
	a->kind_idx = kind->idx;
	a->hash = (uint32_t)hash;
	atomic_init(&a->rq_next.next, NULL);
	if (kind->persistent) {
		mn__actor_p *ap = mn__ap(a);
		ap->id = 0;
		ap->seq = 0;
		ap->last_lsn = 0;
		atomic_init(&ap->inflight, 0);
		atomic_init(&ap->ref, 1);
		atomic_init(&ap->evicting, 0);
		ap->snap_msgs = 0;
		ap->snap_bytes = 0;
		ap->pflags = 0;
	}
	memcpy(a->key, key, key_len);
	return a;
}

/* DR1: a message is counted as sent before its push (unless its sender
 * counted it). */
static inline void count_sent(mn_runtime *rt, mn__worker *w, const mn__sendx *x)
{
	if (x->counted)
		return;
	if (w)
		mn__count(&w->n_sent, 1);
	else
		atomic_fetch_add_explicit(&rt->ext_sent, 1,
					  memory_order_release);
}

/* The calling thread's send cache holding the actor of this address, or
 * NULL (see "the send cache" above). */
static mn__actor *sendcache_find(const mn__sendcache *c, mn_runtime *rt,
				 const mn_kind *kind, uint64_t h,
				 const void *key, size_t key_len)
{
	/* The hash first: it tells a miss in one compare. */
	if (c->hash != h || c->gen != rt->gen || c->kind != kind)
		return NULL;
	mn__actor *a = c->actor;
	if (a->key_len != key_len || memcmp(a->key, key, key_len) != 0)
		return NULL;
	return a;
}

/* Resident, or (persistent kinds) in the store. */
bool mn__actor_known(mn_runtime *rt, const mn_kind *kind, const void *key,
		     size_t key_len)
{
	uint64_t h = mn__hash(kind->idx, key, key_len);
	mn__shard *s = mn__reg_shard(&rt->reg, h);
	mn__reg_lock(s);
	bool found = mn__reg_find(s, h, kind->idx, key, key_len) != NULL ||
		     explicit_stored(rt, kind, key, key_len);
	mn__reg_unlock(s);
	return found;
}

/* A send to a kind whose stored messages are not all queued yet (G2): an
 * explicit kind's unknown actor is refused now, as it would be later; the
 * message, with its sender resolved, is counted as sent and parked. */
static int send_gated(mn_runtime *rt, mn__worker *w, const mn__actor *from,
		      const mn_kind *kind, const void *key, size_t key_len,
		      uint32_t type, const void *payload, size_t len,
		      const mn__sendx *x)
{
	if ((kind->def.flags & MN_KIND_EXPLICIT) &&
	    !mn__actor_known(rt, kind, key, key_len))
		return MN_ENOACTOR;
	if (mn__gate_deleting(rt->gate, kind, key, key_len))
		return MN__EDELETING; /* X1; rechecked when it is pushed */
	mn__sendx y = *x;
	if (from) {
		const mn_kind *sk = rt->kinds[from->kind_idx];
		y.sender_kind = sk;
		memcpy(y.sender_key, from->key, from->key_len);
		y.sender_key_len = from->key_len;
		y.sender_id = sk->persistent ? mn__ap(from)->id : 0;
	}
	count_sent(rt, w, x);
	y.counted = true;
	/* Whoever pushes the parked copy later (G3, U5) holds the gate's
	 * lock: it must never wait for admission (AC3). */
	y.may_wait = false;
	int rc =
	    mn__gate_park(rt->gate, kind, key, key_len, type, payload, len, &y);
	if (rc == MN__GATE_OPEN) {
		/* Opened meanwhile: every parked message is queued (G3). */
		y.ungated = true;
		rc = mn__send(rt, w, NULL, kind, key, key_len, type, payload,
			      len, &y);
	}
	/* A caller that counted the message counts its failure done. */
	if (rc && !x->counted)
		mn__gate_parked_done(rt->gate);
	return rc;
}

/* ---- admission (admit.c, AC1-AC5) ------------------------------------------
 */

enum { ADMIT_TAKEN, ADMIT_WAIT, ADMIT_PARK };

static inline size_t shard_index(uint64_t h)
{
	return (size_t)(h >> (64 - MN__REG_SHARD_BITS));
}

/* A record of a persistent kind is about to be created for (kind, key),
 * its shard locked: ADMIT_TAKEN (a slot is taken: create it), ADMIT_WAIT
 * (an outside sender: unlock, wait, look again) or ADMIT_PARK (park the
 * message without a record). over: the sender's wait stalled (AC4). */
static int admit_new(mn_runtime *rt, uint64_t h, const mn_kind *kind,
		     const void *key, size_t key_len, const mn__sendx *x,
		     bool over)
{
	mn__admit *ad = &rt->adm;
	size_t si = shard_index(h);
	/* AC3: behind the messages parked for the address, in order. */
	if (ad->park_head[si] &&
	    mn__admit_parked_for(ad, si, h, kind->idx, key, key_len))
		return ADMIT_PARK;
	if (over) {
		mn__admit_force(ad);
		return ADMIT_TAKEN;
	}
	/* A message already counted was sent earlier, by someone else: its
	 * pusher (the writer, a gate's opener) never waits. */
	if (x->may_wait && !x->counted) {
		/* Parked messages were sent first: they take the room. */
		if (!atomic_load_explicit(&ad->nparked, memory_order_relaxed) &&
		    mn__admit_try(ad))
			return ADMIT_TAKEN;
		return ADMIT_WAIT;
	}
	return mn__admit_try(ad) ? ADMIT_TAKEN : ADMIT_PARK;
}

/* Park m (AC3), counted as sent (AC5); unlocks s and wakes the evictor. */
static int park(mn_runtime *rt, mn__worker *w, mn__shard *s, uint64_t h,
		const mn_kind *kind, const void *key, size_t key_len,
		mn__msg *m, const mn__sendx *x)
{
	int rc = mn__admit_park(&rt->adm, shard_index(h), h, kind->idx, key,
				key_len, m);
	if (rc) {
		mn__reg_unlock(s);
		mn__msg_free(w, m);
		return rc;
	}
	count_sent(rt, w, x);
	mn__reg_unlock(s);
	mn__admit_kick(&rt->adm);
	return 0;
}

/* Drop an unparked message whose address is being deleted (X1): counted
 * done (AC5), reported. */
static void unpark_drop(mn_runtime *rt, const mn_kind *kind, mn__apark *p)
{
	mn__event(&rt->ev, MN_EVENT_DROPPED, MN_ENOACTOR, kind, p->key,
		  p->key_len, 0,
		  "message type %u waiting for admission dropped: the actor "
		  "is being deleted",
		  (unsigned)p->m->type);
	mn__msg_free(NULL, p->m);
	mn__gate_parked_done(rt->gate);
}

/* X2 for admission: the messages parked for (kind, key) are dropped, each
 * reported and counted done (AC5). The deleting thread, after the address
 * entered the deletion set (X1: none can park behind them now). */
void mn__send_drop_parked(mn_runtime *rt, const mn_kind *kind, const void *key,
			  size_t key_len)
{
	if (!mn__admit_on(&rt->adm))
		return;
	uint64_t h = mn__hash(kind->idx, key, key_len);
	mn__shard *s = mn__reg_shard(&rt->reg, h);
	mn__reg_lock(s);
	mn__apark *p = mn__admit_take_addr(&rt->adm, shard_index(h), h,
					   kind->idx, key, key_len);
	mn__reg_unlock(s);
	while (p) {
		mn__apark *next = p->next;
		unpark_drop(rt, kind, p);
		free(p);
		p = next;
	}
}

/* AC2 for sends another thread delivers (durable sends: the writer pushes
 * them after their commit and parks them when no slot is free): the
 * outside caller waits first while there is no room and the address is
 * not resident, so that its burst does not only grow the parked list. */
void mn__admit_wait_outside(mn_runtime *rt, const mn_kind *kind,
			    const void *key, size_t key_len)
{
	mn__admit *ad = &rt->adm;
	uint64_t waited_ms = 0;
	if (!kind->persistent || !mn__admit_on(ad))
		return;
	while (mn__admit_full(ad)) {
		uint64_t h = mn__hash(kind->idx, key, key_len);
		mn__shard *s = mn__reg_shard(&rt->reg, h);
		mn__reg_lock(s);
		bool resident =
		    mn__reg_find(s, h, kind->idx, key, key_len) != NULL;
		mn__reg_unlock(s);
		if (resident || mn__admit_wait(ad, &rt->closed, &waited_ms))
			return;
	}
}

enum { UNPARK_CREATED, UNPARK_DROPPED, UNPARK_BACK };

/* One address of shard si unparked (AC3), the shard locked and a slot
 * taken: UNPARK_CREATED (its record created, its messages pushed in order;
 * *sched: the actor to schedule, or NULL), UNPARK_DROPPED (the address is
 * being deleted: its messages dropped) or UNPARK_BACK (not admissible now:
 * the list went back to the front). After the last two the slot is the
 * caller's to give back. */
static int unpark_one(mn_runtime *rt, mn__shard *s, size_t si,
		      mn__actor **sched)
{
	mn__apark *list = mn__admit_unpark(&rt->adm, si);
	const mn_kind *kind = rt->kinds[list->kind_idx];
	mn__actor *a = NULL;
	bool idle = false;

	*sched = NULL;
	/* U1: no push into a kind whose code is being replaced. */
	if (atomic_load_explicit(&kind->upgrading, memory_order_acquire))
		goto put_back;
	if (!mn__gate_deleting(rt->gate, kind, list->key, list->key_len)) {
		a = actor_new(s, kind, list->hash, list->key, list->key_len);
		if (!a)
			goto put_back;
		if (mn__reg_insert(s, list->hash, a)) {
			mn__reg_record_free(s, a, true);
			goto put_back;
		}
	}
	while (list) {
		mn__apark *next = list->next;
		if (a)
			idle |= mn__mb_push(a, list->m);
		else
			unpark_drop(rt, kind, list);
		free(list);
		list = next;
	}
	if (!a)
		return UNPARK_DROPPED;
	*sched = idle ? a : NULL;
	return UNPARK_CREATED;

put_back:
	mn__admit_putback(&rt->adm, si, list);
	return UNPARK_BACK;
}

/* Admit parked messages while slots are free, and force addresses more
 * over the bound (evictions stalled, AC4). The maintenance thread.
 * Returns how many addresses got their record. */
uint64_t mn__send_unpark(mn_runtime *rt, unsigned force)
{
	mn__admit *ad = &rt->adm;
	uint64_t n = 0;

	for (size_t si = 0; si < MN__REG_SHARDS; si++) {
		if (!atomic_load_explicit(&ad->nparked, memory_order_relaxed))
			break;
		mn__shard *s = &rt->reg.shards[si];
		mn__reg_lock(s);
		while (ad->park_head[si]) {
			if (!mn__admit_try(ad)) {
				if (!force)
					break;
				force--;
				mn__admit_force(ad);
			}
			mn__actor *a;
			int r = unpark_one(rt, s, si, &a);
			if (r != UNPARK_CREATED) {
				mn__admit_untake(ad);
				if (r == UNPARK_BACK)
					break; /* try again next tick */
				/* UNPARK_DROPPED: a forced slot not used. */
				continue;
			}
			n++;
			if (a) {
				/* Scheduled by the push (M1): not evictable
				 * until it ran, so safe after the unlock. */
				mn__reg_unlock(s);
				mn__sched_submit(rt, NULL, a);
				mn__reg_lock(s);
			}
		}
		mn__reg_unlock(s);
	}
	return n;
}

/*
 * Deliver one message (steps 1-6 above). w is the sending worker or NULL
 * (outside, or the writer thread); from is the sending actor or NULL; x
 * carries flags, the outbox id of a stored message, and whether the
 * message was already counted as sent.
 */
int mn__send(mn_runtime *rt, mn__worker *w, const mn__actor *from,
	     const mn_kind *kind, const void *key, size_t key_len,
	     uint32_t type, const void *payload, size_t len, const mn__sendx *x)
{
	const mn_kind *sk = from ? rt->kinds[from->kind_idx] : x->sender_kind;
	const void *skey = from ? from->key : x->sender_key;
	size_t skl = from ? from->key_len : (sk ? x->sender_key_len : 0);
	uint32_t mflags = x->mflags;
	mn__msg *m;
	mn__actor *a;
	int rc;

	if (atomic_load_explicit(&kind->gated, memory_order_acquire) &&
	    !x->ungated && !(mflags & MN__MSG_SPAWN))
		return send_gated(rt, w, from, kind, key, key_len, type,
				  payload, len, x);
	m = mn__msg_alloc(rt, w, sizeof *m + len + skl);
	if (!m)
		return MN_ENOMEM;
	m->type = type;
	m->flags = mflags | (skl ? 0 : MN_MSG_EXTERNAL);
	m->len = len;
	m->sender_key_len = (uint8_t)skl;
	m->sender_kind = sk ? sk->idx : 0;
	m->sender_id = from && sk->persistent ? mn__ap(from)->id : x->sender_id;
	m->outbox_id = x->outbox_id;
	if (len)
		memcpy(m->data, payload, len);
	if (skl)
		memcpy(m->data + len, skey, skl);

	uint64_t h = mn__hash(kind->idx, key, key_len);
	mn__sendcache *cache = NULL;
	if (!kind->persistent && !(mflags & MN__MSG_SPAWN)) {
		cache = w ? &w->sendcache : &tls_sendcache;
		if ((a = sendcache_find(cache, rt, kind, h, key, key_len))) {
			/* No lock: a volatile actor stays until close. */
			count_sent(rt, w, x);
			if (mn__mb_push(a, m))
				mn__sched_submit(rt, w, a);
			return 0;
		}
	}
	mn__shard *s = mn__reg_shard(&rt->reg, h);
	bool over = false; /* admitted over the bound (AC4) */
	uint64_t waited_ms = 0;
relock:
	mn__reg_lock(s);
	/* U1 (swap.c): a gate closed for a code upgrade after the check
	 * above is seen here, under the shard lock the upgrade's barrier
	 * takes, so no push to the kind follows the barrier. */
	if (kind->persistent && !x->ungated &&
	    atomic_load_explicit(&kind->upgrading, memory_order_acquire)) {
		mn__reg_unlock(s);
		mn__msg_free(w, m);
		if (mflags & MN__MSG_SPAWN)
			return MN_EBUSY;
		return send_gated(rt, w, from, kind, key, key_len, type,
				  payload, len, x);
	}
	/* X1 (delete.c): nothing reaches an address being deleted. */
	if (kind->persistent &&
	    mn__gate_deleting(rt->gate, kind, key, key_len)) {
		rc = MN__EDELETING;
		goto err_unlock;
	}
	a = mn__reg_find(s, h, kind->idx, key, key_len);
	if (!a) {
		if ((kind->def.flags & MN_KIND_EXPLICIT) &&
		    !(mflags & MN__MSG_SPAWN) &&
		    !explicit_stored(rt, kind, key, key_len)) {
			rc = MN_ENOACTOR;
			goto err_unlock;
		}
		if (kind->persistent && mn__admit_on(&rt->adm)) {
			rc = admit_new(rt, h, kind, key, key_len, x, over);
			if (rc == ADMIT_WAIT) {
				mn__reg_unlock(s);
				over = mn__admit_wait(&rt->adm, &rt->closed,
						      &waited_ms);
				goto relock;
			}
			if (rc == ADMIT_PARK) {
				if (mflags & MN__MSG_SPAWN) {
					rc = MN_EEXIST;
					goto err_unlock;
				}
				return park(rt, w, s, h, kind, key, key_len, m,
					    x);
			}
		}
		a = actor_new(s, kind, h, key, key_len);
		if (!a) {
			rc = MN_ENOMEM;
			goto err_unslot;
		}
		rc = mn__reg_insert(s, h, a);
		if (rc) {
			mn__reg_record_free(s, a, kind->persistent);
			goto err_unslot;
		}
	} else if (mflags & MN__MSG_SPAWN) {
		rc = MN_EEXIST;
		goto err_unlock;
	}
	count_sent(rt, w, x);
	bool sched = mn__mb_push(a, m);
	mn__reg_unlock(s);
	if (cache)
		*cache = (mn__sendcache){
		    .gen = rt->gen, .kind = kind, .hash = h, .actor = a};
	if (sched)
		mn__sched_submit(rt, w, a);
	return 0;

err_unslot:
	mn__reg_unlock(s);
	mn__msg_free(w, m);
	if (kind->persistent && mn__admit_on(&rt->adm))
		mn__admit_untake(&rt->adm);
	return rc;
err_unlock:
	mn__reg_unlock(s);
	mn__msg_free(w, m);
	return rc;
}
