/*
 * maint.c - the maintenance thread of a runtime with a store: eviction of
 * idle actors (approximate LRU by a CLOCK sweep over the registry) and the
 * paced redelivery of stored messages after a restart.
 *
 * The clock is the registry itself: the sweep walks each shard's table,
 * under the shard lock, a bounded number of slots per tick. A worker sets an
 * actor's ref bit at each turn (one relaxed store, O(1) per message); the
 * sweep clears it (second chance) and evicts idle actors whose bit is
 * already clear, as long as the runtime holds more than max_resident
 * actors, or, with idle_evict_ms, those idle for a whole sweep period. The
 * eviction protocol itself (E1-E5) is in core/evict.c. Durable timers fire
 * on the I/O loop (core/timers.c), not here.
 */
#include "core/maint.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/mailbox.h"
#include "core/persist.h"
#include "core/send.h"
#include "base/clock.h"

/* Tick of the maintenance thread; slots visited per shard per tick. */
#define MN__MAINT_TICK_MS 5
/* Its tick while admission is under pressure (outside senders waiting or
 * messages parked, admit.c): evictions finish on the writer, and a waiter
 * should not wait a whole tick for the next round. */
#define MN__MAINT_PRESSED_US 500
/* Its sleep when it has nothing to do. */
#define MN__MAINT_IDLE_MS 500
#define MN__SWEEP_SLOTS	  4096
/* Stored messages redelivered per tick after a restart (core/outbox.c paces
 * them further by the messages in flight). */
#define MN__REDELIVER_PER_TICK 16384

struct mn__maint {
	mn_runtime *rt;
	pthread_t thread;
	uint64_t max_resident;
	unsigned idle_ms;
	/* Under *mu: stop request; *cv wakes the thread early (both are
	 * the runtime's admission kick, admit.h: they outlive the thread). */
	pthread_mutex_t *mu;
	pthread_cond_t *cv;
	bool stop;
	/* Maintenance thread only. */
	size_t hand_shard;
	size_t hand_pos[MN__REG_SHARDS];
	uint64_t last_idle_sweep_ms;
	/* Admission (admit.c): the release count last seen and when it
	 * moved (AC4: parked messages forced in after a stall). */
	uint64_t seen_released, progress_ms;
};

/* Admission's low-water mark: under pressure the evictor makes room for
 * this fraction of max_resident at once, so that waiters go in by the
 * batch rather than one eviction at a time. */
#define MN__ADMIT_LOW_WATER_DIV 8

typedef struct sweep {
	mn_runtime *rt;
	uint64_t want;	/* evictions still wanted for the count limit */
	bool idle_pass; /* evict whatever has been idle a whole period */
	uint64_t started;
} sweep;

/* One actor under the clock hand (shard lock held). */
static void visit(void *arg, mn__shard *s, mn__actor *a)
{
	sweep *sw = arg;
	mn_runtime *rt = sw->rt;
	(void)s;
	if (!sw->want && !sw->idle_pass)
		return;
	/* E1: idle (acquire: pairs with the release CAS of mark-empty, so
	 * the last turn's writes to the actor are visible), nothing in
	 * flight, initialised and in the store. */
	if (!rt->kinds[a->kind_idx]->persistent || !mn__mb_idle(a) ||
	    atomic_load_explicit(&mn__ap(a)->inflight, memory_order_acquire) !=
		0 ||
	    atomic_load_explicit(&mn__ap(a)->evicting, memory_order_relaxed))
		return;
	if ((a->flags & (MN__ACTOR_NEW | MN__ACTOR_BROKEN)) ||
	    !(a->flags & MN__ACTOR_INITIALIZED))
		return;
	if (atomic_load_explicit(&mn__ap(a)->ref, memory_order_relaxed)) {
		atomic_store_explicit(&mn__ap(a)->ref, 0, memory_order_relaxed);
		return; /* second chance */
	}
	if (mn__persist_evict(rt, a) == 0) {
		sw->started++;
		if (sw->want)
			sw->want--;
	}
}

/* Admission (admit.c): decide whether evictions are stalled (AC4: for
 * MN__ADMIT_STALL_MS no record left memory, none is being evicted and no
 * message is in flight but the parked ones, while senders wait or
 * messages are parked), then admit parked messages, the ones sent first
 * (AC3): as many as slots are free, and one address over the bound per
 * stall period. */
static void admit_step(mn__maint *m, uint64_t now)
{
	mn_runtime *rt = m->rt;
	mn__admit *ad = &rt->adm;
	uint64_t rel =
	    atomic_load_explicit(&ad->released, memory_order_relaxed);
	uint64_t np = atomic_load_explicit(&ad->nparked, memory_order_relaxed);
	bool pressed =
	    np || atomic_load_explicit(&ad->nwaiting, memory_order_relaxed);
	bool quiet =
	    mn__persist_evicting(rt) == 0 && mn__runtime_inflight(rt) <= np;
	if (rel != m->seen_released || !pressed || !quiet) {
		m->seen_released = rel;
		m->progress_ms = now;
	}
	bool stalled = now - m->progress_ms >= MN__ADMIT_STALL_MS;
	atomic_store_explicit(&ad->stalled, stalled, memory_order_relaxed);
	if (!np)
		return;
	mn__send_unpark(rt, stalled ? 1 : 0);
	if (stalled)
		m->progress_ms = now; /* the next one a period later */
}

static void maint_tick(mn__maint *m)
{
	mn_runtime *rt = m->rt;
	sweep sw = {.rt = rt};
	uint64_t now = mn__mono_ms();

	mn__persist_redeliver_step(rt, MN__REDELIVER_PER_TICK);
	if (mn__admit_on(&rt->adm))
		admit_step(m, now);

	if (m->max_resident) {
		/* Evictions under way still hold their records: count them
		 * as gone, or every tick would start another round. The
		 * count is admission's (AC1: records of persistent kinds;
		 * volatile actors are never evicted). Admission keeps it at
		 * the bound, so the target is below it: room for a batch. */
		bool adm = mn__admit_on(&rt->adm);
		uint64_t resident =
		    adm ? atomic_load_explicit(&rt->adm.resident,
					       memory_order_relaxed)
			: mn__reg_count(&rt->reg);
		uint64_t going = mn__persist_evicting(rt);
		uint64_t slack = m->max_resident / MN__ADMIT_LOW_WATER_DIV;
		/* Without admission (mn_runtime_opts.admission 0) the count
		 * is the registry's hint, and the bound itself the target. */
		uint64_t target = adm ? m->max_resident - (slack ? slack : 1)
				      : m->max_resident;
		resident = resident > going ? resident - going : 0;
		if (resident > target)
			sw.want = resident - target;
	}
	if (m->idle_ms && now - m->last_idle_sweep_ms >= m->idle_ms / 2) {
		/* Actors whose ref bit survived no sweep in idle_ms/2 and
		 * was cleared the sweep before: idle for about idle_ms. */
		sw.idle_pass = true;
		m->last_idle_sweep_ms = now;
	}
	if (!sw.want && !sw.idle_pass)
		return;
	/* A full revolution at most: every shard, its whole table when the
	 * idle pass runs, else until enough evictions are under way. */
	for (size_t i = 0; i < MN__REG_SHARDS && (sw.want || sw.idle_pass);
	     i++) {
		size_t si = (m->hand_shard + i) % MN__REG_SHARDS;
		mn__shard *s = &rt->reg.shards[si];
		mn__reg_lock(s);
		mn__reg_sweep(s, &m->hand_pos[si],
			      sw.idle_pass ? SIZE_MAX : MN__SWEEP_SLOTS, visit,
			      &sw);
		mn__reg_unlock(s);
	}
	m->hand_shard = (m->hand_shard + 1) % MN__REG_SHARDS;
}

static void *maint_main(void *arg)
{
	mn__maint *m = arg;
	pthread_setname_np(pthread_self(), "mn-maint");
	mn__tls_no_admit_wait = true; /* AC3 */
	mn__admit *ad = &m->rt->adm;
	pthread_mutex_lock(m->mu);
	while (!m->stop) {
		pthread_mutex_unlock(m->mu);
		/* A kick from now on asks for another tick (admit.h). */
		atomic_store_explicit(&ad->kick_pending, false,
				      memory_order_relaxed);
		maint_tick(m);
		pthread_mutex_lock(m->mu);
		/* Nothing to evict and nothing to redeliver: a long sleep
		 * (mn__maint_wake ends it when a redelivery is queued).
		 * Under admission pressure a short one; after a kick none. */
		bool work =
		    m->max_resident || m->idle_ms || mn__persist_busy(m->rt);
		bool pressed =
		    mn__admit_on(ad) &&
		    (atomic_load_explicit(&ad->nwaiting,
					  memory_order_relaxed) ||
		     atomic_load_explicit(&ad->nparked, memory_order_relaxed));
		uint64_t us = pressed ? MN__MAINT_PRESSED_US
			      : work  ? MN__MAINT_TICK_MS * 1000u
				      : MN__MAINT_IDLE_MS * 1000u;
		struct timespec ts = mn__deadline_us(us);
		if (!m->stop && !atomic_load_explicit(&ad->kick_pending,
						      memory_order_relaxed))
			pthread_cond_timedwait(m->cv, m->mu, &ts);
	}
	pthread_mutex_unlock(m->mu);
	return NULL;
}

int mn__maint_start(mn_runtime *rt, const mn_runtime_opts *o, mn__maint **out)
{
	mn__maint *m = calloc(1, sizeof *m);
	if (!m)
		return MN_ENOMEM;
	m->rt = rt;
	m->max_resident = o->max_resident;
	m->idle_ms = o->idle_evict_ms;
	m->last_idle_sweep_ms = mn__mono_ms();
	m->progress_ms = m->last_idle_sweep_ms;
	m->mu = &rt->adm.kmu;
	m->cv = &rt->adm.kcv;
	if (pthread_create(&m->thread, NULL, maint_main, m) != 0) {
		free(m);
		return MN_ESYS;
	}
	*out = m;
	return 0;
}

void mn__maint_wake(mn__maint *m)
{
	if (!m)
		return;
	pthread_mutex_lock(m->mu);
	pthread_cond_signal(m->cv);
	pthread_mutex_unlock(m->mu);
}

void mn__maint_stop(mn__maint *m)
{
	if (!m)
		return;
	pthread_mutex_lock(m->mu);
	m->stop = true;
	pthread_cond_signal(m->cv);
	pthread_mutex_unlock(m->mu);
	pthread_join(m->thread, NULL);
	free(m);
}
