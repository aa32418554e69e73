/*
 * delete.c - online deletion of an actor (mn_actor_delete, X1-X5): the
 * caller enters the address in the deleting set and queues the request;
 * the writer, between commit groups, removes the record and commits the
 * deletion in steps. The deleting set itself is the gate's (gate.c), which
 * the send engine reads below this file. Threads: the caller (X1-X2), workers
 * and senders (the deleting checks), the writer (X3-X5).
 */
#include "core/persist_int.h"

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
 *      under gate_mu, gate.c) and those in its mailbox (by the worker,
 *      before init or handle). A message being handled when X1 ran
 *      completes normally: its commit precedes the deletion (X3).
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

enum { DEL_WAIT, DEL_STEPS };

typedef struct delete_req {
	struct delete_req *next; /* p->del.dreq_head: under mu */
	/* The address (k, key), linked in the gate's deletion set under
	 * del_mu (gate.h). */
	mn__gate_addr addr;
	uint64_t hash;
	/* The writer's. */
	int phase;
	uint64_t id;
	bool resident; /* a record was in memory */
	mn__delete_stats st;
	/* Under del_mu (the gate's): begun (X4 has run); fired timers X2
	 * dropped before. */
	bool begun;
	uint64_t *fired;
	size_t nfired, cap_fired;
	/* Under mu. */
	int rc;
	bool done;
	char detail[256]; /* the writer's errdetail when rc != 0 */
} delete_req;

/* The request whose address is in the gate's deletion set (del_mu held),
 * or NULL. */
static delete_req *deleting_find_locked(mn__persist *p, const mn_kind *k,
					const void *key, size_t key_len)
{
	mn__gate_addr *a = mn__gate_del_find_locked(&p->gate, k, key, key_len);
	return a ? (delete_req *)((char *)a - offsetof(delete_req, addr))
		 : NULL;
}

bool mn__persist_drop_deleted(mn__worker *w, mn__actor *a, const mn_kind *k,
			      const mn__msg *m)
{
	mn__persist *p = w->rt->persist;
	if (__builtin_expect(atomic_load_explicit(&p->gate.ndeleting,
						  memory_order_relaxed) == 0,
			     1))
		return false;
	bool timer = (m->flags & MN_MSG_TIMER) && m->outbox_id;
	bool remove_now = false;
	pthread_mutex_lock(&p->gate.del_mu);
	delete_req *d = deleting_find_locked(p, k, a->key, a->key_len);
	if (d && timer) {
		/* Its slot in the fired set goes only once the timer's record
		 * is gone from the store (X4), or a scan would fire it again.
		 */
		if (d->begun) {
			remove_now = true;
		} else if (grow(&d->fired, &d->cap_fired, d->nfired + 1,
				sizeof *d->fired) == 0) {
			d->fired[d->nfired++] = m->outbox_id;
		}
	}
	pthread_mutex_unlock(&p->gate.del_mu);
	if (!d)
		return false;
	if (remove_now)
		mn__timers_fired_remove(p, m->outbox_id);
	mn__event(&w->rt->ev, MN_EVENT_DROPPED, MN_ENOACTOR, k, a->key,
		  a->key_len, 0,
		  "%s type %u dropped: the actor is being deleted",
		  timer ? "timer" : "message", (unsigned)m->type);
	mn__count(&w->n_done, 1);
	return true;
}

/* X4: close the window of d (writer). */
static void window_close(mn__persist *p, delete_req *d)
{
	pthread_mutex_lock(&p->tm.fired_mu);
	pthread_mutex_lock(&p->gate.del_mu);
	d->begun = true;
	pthread_mutex_unlock(&p->gate.del_mu);
	for (size_t i = 0; i < d->nfired; i++)
		mn__idset_remove(&p->tm.fired, d->fired[i]);
	pthread_mutex_unlock(&p->tm.fired_mu);
	pthread_mutex_lock(&p->del.redeliver_mu);
	pthread_mutex_unlock(&p->del.redeliver_mu);
	mn__broken_clear(&p->rt->ev, d->addr.k, d->addr.key, d->addr.key_len);
	pthread_mutex_lock(&p->gate.del_mu);
	mn__gate_del_remove_locked(&p->gate, &d->addr);
	pthread_mutex_unlock(&p->gate.del_mu);
}

/* X3: the resident record of d, once idle, leaves memory. Returns false
 * while it is busy. Writer. */
static bool record_remove(mn__persist *p, delete_req *d)
{
	mn_runtime *rt = p->rt;
	mn__shard *s = mn__reg_shard(&rt->reg, d->hash);
	void *state = NULL;
	bool initialized = false;
	void (*free_fn)(void *) = NULL;
	mn__reg_lock(s);
	mn__actor *a = mn__reg_find(s, d->hash, d->addr.k->idx, d->addr.key,
				    d->addr.key_len);
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
		/* Under the lock, as in mn__evict_finish (swap.c, U4). */
		free_fn = d->addr.k->def.free;
		mn__reg_record_free(s, a, true);
	}
	mn__reg_unlock(s);
	/* AC2: the slot back, after the lock. */
	if (a && mn__admit_on(&rt->adm))
		mn__admit_release(&rt->adm, 1);
	if (initialized && free_fn)
		free_fn(state);
	return true;
}

/* Finish request d with rc and wake its caller (writer). */
static void delete_finish(mn__persist *p, delete_req *d, int rc)
{
	if (d->phase == DEL_WAIT)
		window_close(p, d);
	pthread_mutex_lock(&p->mu);
	for (delete_req **pp = &p->del.dreq_head; *pp; pp = &(*pp)->next)
		if (*pp == d) {
			*pp = d->next;
			break;
		}
	d->rc = rc;
	if (rc)
		snprintf(d->detail, sizeof d->detail, "%s",
			 mn__store_errdetail());
	d->done = true;
	pthread_cond_broadcast(&p->del.delete_cv);
	pthread_mutex_unlock(&p->mu);
}

/* One step of the oldest deletion (writer, between commit groups). Returns
 * true when it waits for its actor to go idle (X3). */
bool mn__delete_step(mn__persist *p, delete_req *d)
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
			rc = mn__store_actor_find(p->store, d->addr.k->store_id,
						  d->addr.key, d->addr.key_len,
						  &m);
			if (rc == 0)
				d->id = m.id;
		}
		if (d->id && !(rc = mn__ckpt_heads_forget(p, d->id)))
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
	int found =
	    mn__store_actor_find(p->store, k->store_id, key, key_len, &m);
	if (found && found != MN_ENOACTOR)
		return found;
	if (found == 0 && (rc = mn__store_delete_check(p->store, m.id)))
		return rc;
	delete_req *d = calloc(1, sizeof *d);
	if (!d)
		return MN_ENOMEM;
	d->addr.k = k;
	d->hash = mn__hash(k->idx, key, key_len);
	memcpy(d->addr.key, key, key_len);
	d->addr.key_len = key_len;
	mn__shard *s = mn__reg_shard(&rt->reg, d->hash);
	mn__reg_lock(s);
	bool resident = mn__reg_find(s, d->hash, k->idx, key, key_len) != NULL;
	pthread_mutex_lock(&p->gate.del_mu);
	if (!resident && found == MN_ENOACTOR)
		rc = MN_ENOACTOR;
	else if (deleting_find_locked(p, k, key, key_len))
		rc = MN_EBUSY; /* another deletion of it is under way */
	else
		mn__gate_del_add_locked(&p->gate, &d->addr);
	pthread_mutex_unlock(&p->gate.del_mu);
	mn__reg_unlock(s);
	if (rc) {
		if (rc == MN_EBUSY)
			mn__store_set_errdetail("a deletion of this actor is "
						"under way");
		free(d);
		return rc;
	}
	mn__gate_drop_parked(&p->gate, k, key, key_len); /* X2 */
	mn__send_drop_parked(rt, k, key, key_len);	 /* X2, AC5 */
	pthread_mutex_lock(&p->mu);
	delete_req **pp = &p->del.dreq_head;
	while (*pp)
		pp = &(*pp)->next;
	*pp = d;
	pthread_cond_signal(&p->cv);
	while (!d->done)
		pthread_cond_wait(&p->del.delete_cv, &p->mu);
	pthread_mutex_unlock(&p->mu);
	rc = d->rc;
	if (rc) /* the writer's detail, for this thread */
		mn__store_set_errdetail(d->detail);
	free(d->fired);
	free(d);
	return rc;
}
