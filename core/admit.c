/*
 * admit.c - admission control: max_resident holds at the door. A send that
 * would create a record for an actor of a persistent kind (a new actor, or
 * one brought back from the store) takes a slot first; with no slot free,
 * an outside sender waits and any other sender's message is parked, with
 * no record, until evictions give slots back. The send engine (send.c)
 * applies it; the evictor (maint.c) is kicked by it and admits the parked
 * messages. Threads: any sender; the writer and deleting callers give
 * slots back; the maintenance thread unparks.
 *
 * Admission (docs/architecture.md, AC1-AC5):
 *  AC1  resident counts the registry's records of persistent kinds (those
 *       being evicted included: their memory is still held). A record is
 *       created only after a slot was taken (a compare-and-swap that fails
 *       at resident >= bound), so resident never passes the bound but by
 *       AC4's overruns. Broken: the bound is a target the burst outruns.
 *  AC2  A record that leaves the registry (eviction E4, deletion X4) gives
 *       its slot back after its shard lock is released, and wakes the
 *       outside waiters (a broadcast under mu: a waiter checks resident
 *       under mu before it sleeps, so no wake-up is lost).
 *  AC3  A sender that must not wait (a worker, the writer, the maintenance
 *       and I/O threads) parks its message in its address's shard FIFO,
 *       under the shard lock, without a record. While an address has a
 *       parked message, every later send to it parks behind (checked under
 *       the same lock), and outside senders wait (mn__admit_full): parked
 *       messages were sent first. The maintenance thread unparks an
 *       address (takes a slot, creates the record, pushes all its parked
 *       messages in order) under the shard lock, so a send that finds the
 *       record afterwards queues behind them. Broken: reordering, or a
 *       worker blocked on a full runtime (deadlock when the actors it would
 *       wait for need that worker).
 *  AC4  A wait is bounded: when evictions stall (for MN__ADMIT_STALL_MS no
 *       record left memory, no eviction is under way and no message is in
 *       flight but the parked ones: the resident actors are all broken or
 *       never ran), the maintenance thread sets stalled and admits one
 *       parked address over the bound per period, and a waiting outside
 *       sender goes in over the bound (overruns); an outside sender also
 *       goes in after MN__ADMIT_WAIT_MAX_MS in all. No send fails for lack
 *       of room, and growth past the bound needs a stall and is paced by
 *       it.
 *  AC5  Parked messages were counted as sent (DR1) when parked and are
 *       counted done when handled; one dropped (its address deleted, the
 *       runtime closing) is counted done where it is dropped.
 */
#include "core/admit.h"

#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "core/msgpool.h"
#include "include/mnemo.h"

_Thread_local bool mn__tls_no_admit_wait;

void mn__admit_init(mn__admit *a, uint64_t bound)
{
	a->bound = bound;
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->cv, NULL);
	pthread_mutex_init(&a->kmu, NULL);
	pthread_cond_init(&a->kcv, NULL);
}

void mn__admit_destroy(mn__admit *a)
{
	for (size_t i = 0; i < MN__REG_SHARDS; i++) {
		mn__apark *p = a->park_head[i];
		while (p) {
			mn__apark *next = p->next;
			mn__msg_put(NULL, NULL, p->m);
			free(p);
			p = next;
		}
		a->park_head[i] = a->park_tail[i] = NULL;
	}
	pthread_cond_destroy(&a->cv);
	pthread_mutex_destroy(&a->mu);
	pthread_cond_destroy(&a->kcv);
	pthread_mutex_destroy(&a->kmu);
}

static void note_peak(mn__admit *a, uint64_t r)
{
	uint64_t p = atomic_load_explicit(&a->peak, memory_order_relaxed);
	while (r > p &&
	       !atomic_compare_exchange_weak_explicit(
		   &a->peak, &p, r, memory_order_relaxed, memory_order_relaxed))
		;
}

/* AC1 */
bool mn__admit_try(mn__admit *a)
{
	uint64_t r = atomic_load_explicit(&a->resident, memory_order_relaxed);
	do {
		if (r >= a->bound)
			return false;
	} while (!atomic_compare_exchange_weak_explicit(&a->resident, &r, r + 1,
							memory_order_relaxed,
							memory_order_relaxed));
	note_peak(a, r + 1);
	return true;
}

void mn__admit_force(mn__admit *a)
{
	uint64_t r =
	    atomic_fetch_add_explicit(&a->resident, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&a->overruns, 1, memory_order_relaxed);
	note_peak(a, r + 1);
}

void mn__admit_kick(mn__admit *a)
{
	if (atomic_load_explicit(&a->kick_pending, memory_order_relaxed))
		return;
	/* Set before the signal under kmu: the maintenance thread reads it
	 * under kmu before it sleeps (see mn__admit). */
	atomic_store_explicit(&a->kick_pending, true, memory_order_relaxed);
	pthread_mutex_lock(&a->kmu);
	pthread_cond_signal(&a->kcv);
	pthread_mutex_unlock(&a->kmu);
}

/* AC2 */
void mn__admit_release(mn__admit *a, uint64_t n)
{
	if (!n)
		return;
	atomic_fetch_sub_explicit(&a->resident, n, memory_order_relaxed);
	atomic_fetch_add_explicit(&a->released, n, memory_order_relaxed);
	/* seq_cst: the waiter increments nwaiting (seq_cst) before it
	 * reads resident under mu; one of the two sees the other. */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&a->nwaiting, memory_order_relaxed)) {
		pthread_mutex_lock(&a->mu);
		pthread_cond_broadcast(&a->cv);
		pthread_mutex_unlock(&a->mu);
	}
	if (atomic_load_explicit(&a->nparked, memory_order_relaxed))
		mn__admit_kick(a);
}

bool mn__admit_full(mn__admit *a)
{
	return atomic_load_explicit(&a->resident, memory_order_relaxed) >=
		   a->bound ||
	       atomic_load_explicit(&a->nparked, memory_order_relaxed) != 0;
}

/* AC2, AC4 */
bool mn__admit_wait(mn__admit *a, _Atomic bool *closed, uint64_t *waited_ms)
{
	uint64_t t0 = mn__mono_ms();
	bool over = false;

	if (*waited_ms == 0)
		atomic_fetch_add_explicit(&a->waits, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&a->nwaiting, 1, memory_order_seq_cst);
	/* Pairs with the fence in mn__admit_release (AC2). */
	atomic_thread_fence(memory_order_seq_cst);
	mn__admit_kick(a);
	pthread_mutex_lock(&a->mu);
	while (mn__admit_full(a)) {
		/* Closing: the send goes in over the bound (close drops what
		 * is queued). */
		if (atomic_load_explicit(closed, memory_order_acquire) ||
		    atomic_load_explicit(&a->stalled, memory_order_relaxed) ||
		    *waited_ms + (mn__mono_ms() - t0) >=
			MN__ADMIT_WAIT_MAX_MS) {
			over = true;
			break;
		}
		/* 1 ms slices: a release's broadcast ends one early; the
		 * slice bounds a wake-up lost to the relaxed hint. */
		struct timespec ts = mn__deadline_us(1000);
		pthread_cond_timedwait(&a->cv, &a->mu, &ts);
	}
	pthread_mutex_unlock(&a->mu);
	atomic_fetch_sub_explicit(&a->nwaiting, 1, memory_order_relaxed);
	*waited_ms += mn__mono_ms() - t0;
	return over;
}

/* AC3 */
int mn__admit_park(mn__admit *a, size_t si, uint64_t hash, uint16_t kind_idx,
		   const void *key, size_t key_len, mn__msg *m)
{
	mn__apark *p = malloc(sizeof *p + key_len);
	if (!p)
		return MN_ENOMEM;
	p->next = NULL;
	p->m = m;
	p->hash = hash;
	p->kind_idx = kind_idx;
	p->key_len = (uint8_t)key_len;
	memcpy(p->key, key, key_len);
	if (a->park_tail[si])
		a->park_tail[si]->next = p;
	else
		a->park_head[si] = p;
	a->park_tail[si] = p;
	atomic_fetch_add_explicit(&a->nparked, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&a->parks, 1, memory_order_relaxed);
	return 0;
}

static bool same_addr(const mn__apark *p, uint64_t hash, uint16_t kind_idx,
		      const void *key, size_t key_len)
{
	return p->hash == hash && p->kind_idx == kind_idx &&
	       p->key_len == key_len && memcmp(p->key, key, key_len) == 0;
}

bool mn__admit_parked_for(const mn__admit *a, size_t si, uint64_t hash,
			  uint16_t kind_idx, const void *key, size_t key_len)
{
	for (const mn__apark *p = a->park_head[si]; p; p = p->next)
		if (same_addr(p, hash, kind_idx, key, key_len))
			return true;
	return false;
}

mn__apark *mn__admit_take_addr(mn__admit *a, size_t si, uint64_t hash,
			       uint16_t kind_idx, const void *key,
			       size_t key_len)
{
	/* The address's nodes move to the out list, the others stay, each
	 * in its order. */
	mn__apark *out = NULL, *out_tail = NULL, *keep = NULL,
		  *keep_tail = NULL;
	mn__apark *p = a->park_head[si];
	uint64_t n = 0;
	while (p) {
		mn__apark *next = p->next;
		p->next = NULL;
		if (same_addr(p, hash, kind_idx, key, key_len)) {
			if (out_tail)
				out_tail->next = p;
			else
				out = p;
			out_tail = p;
			n++;
		} else {
			if (keep_tail)
				keep_tail->next = p;
			else
				keep = p;
			keep_tail = p;
		}
		p = next;
	}
	a->park_head[si] = keep;
	a->park_tail[si] = keep_tail;
	if (n)
		atomic_fetch_sub_explicit(&a->nparked, n, memory_order_relaxed);
	return out;
}

mn__apark *mn__admit_unpark(mn__admit *a, size_t si)
{
	mn__apark *first = a->park_head[si];
	if (!first)
		return NULL;
	return mn__admit_take_addr(a, si, first->hash, first->kind_idx,
				   first->key, first->key_len);
}

void mn__admit_putback(mn__admit *a, size_t si, mn__apark *list)
{
	uint64_t n = 0;
	mn__apark *last = NULL;
	for (mn__apark *p = list; p; p = p->next) {
		last = p;
		n++;
	}
	if (!last)
		return;
	last->next = a->park_head[si];
	if (!a->park_head[si])
		a->park_tail[si] = last;
	a->park_head[si] = list;
	atomic_fetch_add_explicit(&a->nparked, n, memory_order_relaxed);
}
