/*
 * evict.c - the eviction protocol E1-E5: an idle actor's record leaves
 * memory only after the writer committed its exact head (and a snapshot),
 * and only if nothing arrived meanwhile. The evictor (the maintenance
 * thread, core/maint.c, holding the actor's shard lock) checks E1 and
 * queues the EVICT record (mn__persist_evict, E2); the writer commits it
 * in a commit group (core/commit.c, E3) and then finishes it here
 * (mn__evict_finish, E4-E5).
 */
#include "core/evict.h"

#include "core/persist_int.h"
#include "base/clock.h"

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
void mn__evict_finish(mn__persist *p, wrec *r, int rc)
{
	mn__actor *a = r->actor;
	mn_runtime *rt = p->rt;
	uint64_t h = mn__hash(a->kind_idx, a->key, a->key_len);
	mn__shard *s = mn__reg_shard(&rt->reg, h);
	void *state = NULL;
	bool evicted = false;
	const mn_kind *k = rt->kinds[a->kind_idx];
	void (*free_fn)(void *) = NULL;

	mn__reg_lock(s);
	if (!rc && mn__mb_idle(a) &&
	    atomic_load_explicit(&mn__ap(a)->inflight, memory_order_acquire) ==
		0 &&
	    mn__ap(a)->seq == r->seq) {
		mn__reg_remove(s, a);
		state = a->state;
		evicted = true;
		/* Read under the lock: once the record is gone, a code
		 * upgrade may replace the kind's callbacks (swap.c, U3-U4);
		 * the state is still the old code's to free. */
		free_fn = k->def.free;
		mn__reg_record_free(s, a, true);
	} else {
		atomic_store_explicit(&mn__ap(a)->evicting, 0,
				      memory_order_relaxed);
	}
	mn__reg_unlock(s);
	atomic_fetch_sub_explicit(&p->st.evicting, 1, memory_order_relaxed);
	/* AC2: the slot back, after the lock. */
	if (evicted && mn__admit_on(&rt->adm))
		mn__admit_release(&rt->adm, 1);
	if (evicted) {
		if (free_fn)
			free_fn(state);
		atomic_fetch_add_explicit(&p->st.evictions, 1,
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
	r->unix_ms = mn__unix_ms();
	r->version = k->def.version;
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
	atomic_fetch_add_explicit(&p->st.evicting, 1, memory_order_relaxed);
	mn__persist_enqueue(p, r);
	return rc;
}
