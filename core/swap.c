/*
 * swap.c - replacing a running kind's code (mn_kind_upgrade, U1-U5):
 * close the kind's gate, let the messages already queued run on the old
 * code, evict the kind's resident actors, swap the definition, open the
 * gate. Threads: the caller (any thread but a worker) drives it; workers,
 * the maintenance thread and the writer go on meanwhile.
 */
#include "core/persist_int.h"

/*
 * Code upgrade (docs/upgrades.md, docs/architecture.md):
 *  U1  Under gate_mu the caller sets the kind's gated and upgrading flags
 *      (refused while the kind is gated: its stored messages are still
 *      being delivered after the open, or another upgrade runs). From then
 *      on a new message to the kind parks, in order, in the gate's list
 *      (G2): mn__send reads gated before its shard lock and upgrading
 *      again under it, so a sender that passed the first check before U1
 *      either pushed before U2's barrier or sees upgrading under the lock
 *      and parks. Messages that pass gates (a parked message released,
 *      a stored one redelivered at open: none while the gate is ours) are
 *      the only exception. A spawn fails with MN_EBUSY.
 *  U2  Barrier: the caller takes and releases every shard lock once.
 *      After it, no push to the kind can happen: the kind's mailboxes
 *      only drain.
 *  U3  The caller sweeps the registry until none of the kind's actors is
 *      resident: an idle one (mailbox empty, no commit record in flight,
 *      not being evicted, initialised, in the store) is evicted by the
 *      eviction protocol (E1-E5: its exact head and a snapshot by the old
 *      code are committed before the record leaves); a busy one is
 *      visited again on the next sweep, after its queued messages ran on
 *      the old code; an idle broken one stays (its next message retries
 *      with the new code), as does an idle one never initialised (its
 *      init() failed: it holds no state, and the new init() runs at its
 *      next message).
 *      Violation: a record of the kind stays resident with a state the
 *      new code did not make.
 *  U4  With no record of the kind left but idle broken ones, no thread
 *      runs the kind's callbacks: the caller writes the new callbacks,
 *      policy and version into the kind (name and flags never change).
 *  U5  The gate opens (G3: parked messages pushed in order, then gated
 *      cleared with release, which publishes U4's writes to every later
 *      sender and so to the workers that run the new code), then
 *      upgrading is cleared. On a timeout in U3 the gate opens without U4:
 *      the old code goes on.
 */

typedef struct sweep {
	mn_runtime *rt;
	const mn_kind *k;
	uint64_t pending, evicted;
} sweep;

/* One actor under a shard lock (U3). */
static void visit(void *arg, mn__shard *s, mn__actor *a)
{
	sweep *sw = arg;
	(void)s;
	if (a->kind_idx != sw->k->idx)
		return;
	bool idle =
	    mn__mb_idle(a) &&
	    atomic_load_explicit(&mn__ap(a)->inflight, memory_order_acquire) ==
		0 &&
	    !atomic_load_explicit(&mn__ap(a)->evicting, memory_order_relaxed);
	if (idle && ((a->flags & MN__ACTOR_BROKEN) ||
		     !(a->flags & MN__ACTOR_INITIALIZED)))
		return; /* no state of the old code's: stays */
	sw->pending++;
	if (idle && !(a->flags & MN__ACTOR_NEW) &&
	    mn__persist_evict(sw->rt, a) == 0)
		sw->evicted++;
}

/* U3's sweep over every shard: the kind's records still to go. */
static uint64_t sweep_all(sweep *sw)
{
	mn_runtime *rt = sw->rt;
	sw->pending = 0;
	for (unsigned i = 0; i < MN__REG_SHARDS; i++) {
		mn__shard *s = &rt->reg.shards[i];
		size_t pos = 0;
		mn__reg_lock(s);
		mn__reg_sweep(s, &pos, SIZE_MAX, visit, sw);
		mn__reg_unlock(s);
	}
	return sw->pending;
}

/* U4: the callbacks, policy and version; name, flags and arg's place stay
 * as the kind was registered (flags checked equal by the caller). */
static void swap_def(mn_kind *k, const mn_kind_def *d)
{
	k->def.arg = d->arg;
	k->def.init = d->init;
	k->def.handle = d->handle;
	k->def.snapshot = d->snapshot;
	k->def.restore = d->restore;
	k->def.free = d->free;
	k->def.snapshot_every = d->snapshot_every;
	k->def.snapshot_bytes = d->snapshot_bytes;
	k->def.describe = d->describe;
	k->def.hash = d->hash;
	k->def.version = d->version ? d->version : 1;
	k->def.upgrade = d->upgrade;
}

int mn__persist_swap(mn_runtime *rt, mn_kind *k, const mn_kind_def *def,
		     uint32_t timeout_ms)
{
	mn__persist *p = rt->persist;

	/* U1. */
	pthread_mutex_lock(&p->gate.gate_mu);
	if (atomic_load_explicit(&k->gated, memory_order_relaxed)) {
		pthread_mutex_unlock(&p->gate.gate_mu);
		mn__store_set_errdetail(
		    "the kind's stored messages are still being delivered, "
		    "or another upgrade of it runs");
		return MN_EBUSY;
	}
	atomic_store_explicit(&k->upgrading, true, memory_order_seq_cst);
	atomic_store_explicit(&k->gated, true, memory_order_seq_cst);
	pthread_mutex_unlock(&p->gate.gate_mu);

	/* U2. */
	for (unsigned i = 0; i < MN__REG_SHARDS; i++) {
		mn__reg_lock(&rt->reg.shards[i]);
		mn__reg_unlock(&rt->reg.shards[i]);
	}

	/* U3. */
	sweep sw = {.rt = rt, .k = k};
	uint64_t deadline = mn__mono_ms() + (timeout_ms ? timeout_ms : 30000u);
	int rc = 0;
	while (sweep_all(&sw)) {
		if (mn__mono_ms() > deadline) {
			char d[160];
			snprintf(d, sizeof d,
				 "%llu actors of kind %s were not idle in "
				 "time; the old code stays",
				 (unsigned long long)sw.pending, k->name);
			mn__store_set_errdetail(d);
			rc = MN_ETIMEDOUT;
			break;
		}
		struct timespec ts = {.tv_nsec = 1000000};
		nanosleep(&ts, NULL);
	}

	/* U4, U5. */
	if (!rc) {
		swap_def(k, def);
		atomic_fetch_add_explicit(&p->st.code_swaps, 1,
					  memory_order_relaxed);
	}
	atomic_fetch_add_explicit(&p->st.swap_evictions, sw.evicted,
				  memory_order_relaxed);
	mn__persist_gate_open(rt, k);
	atomic_store_explicit(&k->upgrading, false, memory_order_release);
	return rc;
}
