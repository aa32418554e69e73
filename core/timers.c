/*
 * timers.c - durable timers (mn_ctx_after, mn_ctx_cancel): their ids, held
 * in the ctx until the commit, and their firing by the maintenance thread
 * from the store's due timers. The fired set (an id set, idset.h) holds the
 * timers fired and queued but not yet processed, so that a scan does not
 * fire one twice: the maintenance thread adds, the writer removes after the
 * processing commit, both under fired_mu. Threads: workers (after, cancel),
 * the maintenance thread (firing), the writer (removal).
 */
#include "core/persist_int.h"
#include "base/clock.h"

/*
 * The writer removes a timer from the set after the commit that deleted
 * its record. The maintenance thread holds fired_mu for a whole scan of due
 * timers (one read transaction): a scan that began before that commit still
 * sees the record, and must still find the id in the set, or it would fire
 * the timer a second time (found by the crash harness).
 */
void mn__timers_fired_remove(mn__persist *p, uint64_t id)
{
	pthread_mutex_lock(&p->tm.fired_mu);
	mn__idset_remove(&p->tm.fired, id);
	pthread_mutex_unlock(&p->tm.fired_mu);
}

int mn__persist_after(mn_ctx *ctx, uint64_t delay_ms, uint32_t type,
		      const void *payload, size_t len, uint64_t *id)
{
	mn__persist *p = ctx->rt->persist;
	uint64_t due = mn__unix_ms() + delay_ms;
	if (due >> 47)
		return MN_EINVAL;
	/* The id's low 16 bits come from this process's counter, unique
	 * among its own timers of one due millisecond; a timer a previous
	 * process stored for the same millisecond could have the same bits
	 * (its record would be overwritten, the timer lost), so skip ids the
	 * store holds. Only this process writes the store: an id free now
	 * stays free until this process uses it. */
	uint64_t tid = 0;
	for (int tries = 0; tries < 64; tries++) {
		tid = due << 16 |
		      (atomic_fetch_add_explicit(&p->tm.timer_seq, 1,
						 memory_order_relaxed) &
		       0xffff);
		if (tid < 2)
			continue; /* 0 and 1 are the fired set's markers */
		if (!mn__store_timer_exists(p->store, due, tid))
			break;
	}
	if (tid < 2)
		return MN_ELIMIT;
	if (id)
		*id = tid;
	return mn__persist_hold_timer(ctx, HELD_TIMER, tid, type, payload, len);
}

int mn__persist_cancel(mn_ctx *ctx, uint64_t id)
{
	return mn__persist_hold_timer(ctx, HELD_CANCEL, id, 0, NULL, 0);
}

typedef struct fire_ctx {
	mn__persist *p;
	size_t n;
} fire_ctx;

static int fire_one(void *arg, const mn__wtimer *t)
{
	fire_ctx *f = arg;
	mn__persist *p = f->p;
	mn_runtime *rt = p->rt;
	mn__actor_meta m;
	const mn_kind *k;

	/* fired_mu is held for the whole scan (mn__persist_fire_timers). */
	if (!mn__idset_insert(&p->tm.fired, t->id))
		return 0; /* fired already, its message is queued */
	if (mn__store_actor_get(p->store, t->actor_id, &m) != 0 ||
	    !(k = kind_by_store_id(rt, m.kind_id))) {
		/* Its kind is not registered yet: try again later. */
		mn__idset_remove(&p->tm.fired, t->id);
		return 0;
	}
	mn__sendx x = {.outbox_id = t->id, .mflags = MN_MSG_TIMER};
	int rc = mn__send(rt, NULL, NULL, k, m.key, m.key_len, t->type,
			  t->payload, t->len, &x);
	if (rc == MN__EDELETING) {
		/* The deletion's first transaction removes its record. */
		mn__idset_remove(&p->tm.fired, t->id);
		mn__event(&rt->ev, MN_EVENT_DROPPED, MN_ENOACTOR, k, m.key,
			  m.key_len, 0,
			  "timer %llu dropped: the actor is being deleted",
			  (unsigned long long)t->id);
		return 0;
	}
	if (rc != 0) {
		mn__idset_remove(&p->tm.fired, t->id);
		/* Under fired_mu, which no worker takes. */
		mn__event(
		    &rt->ev, MN_EVENT_UNDELIVERED, rc, k, m.key, m.key_len, 0,
		    "timer %llu (type %u) not delivered (%s); tried again "
		    "at the next tick",
		    (unsigned long long)t->id, (unsigned)t->type,
		    mn_err_name(rc));
		return 0;
	}
	atomic_fetch_add_explicit(&p->st.timers_fired, 1, memory_order_relaxed);
	f->n++;
	return 0;
}

uint64_t mn__persist_fire_timers(mn_runtime *rt, size_t max)
{
	mn__persist *p = rt->persist;
	fire_ctx f = {.p = p};
	if (!p || atomic_load_explicit(&p->error, memory_order_relaxed) ||
	    !atomic_load_explicit(&p->rec_ready, memory_order_acquire))
		return 0;
	pthread_mutex_lock(&p->tm.fired_mu);
	mn__store_timers_due(p->store, mn__unix_ms(), max, fire_one, &f);
	pthread_mutex_unlock(&p->tm.fired_mu);
	return f.n;
}

uint64_t mn__persist_timers_next(mn_runtime *rt)
{
	return rt->persist ? mn__store_timers_next(rt->persist->store) : 0;
}

/*
 * Firing runs on the I/O loop (calls.c starts it): one wake-up armed for
 * the earliest due time stored, instead of a poll every few milliseconds.
 * Armed at open, by every commit that stores a timer (earlier wins, io.h),
 * and by the firing itself for the next timer not fired yet (timers fired
 * and queued stay stored until their processing commit: they are skipped
 * by id, in the fired set). A due timer that could not be delivered (its
 * kind not registered yet, a full memory) makes it look again
 * MN__TIMER_RETRY_MS later: the old tick.
 */
#define MN__TIMERS_PER_WAKE 2048
#define MN__TIMER_RETRY_MS  5

typedef struct next_unfired {
	mn__persist *p;
	uint64_t due;
} next_unfired;

static int first_unfired(void *arg, const mn__wtimer *t)
{
	next_unfired *nu = arg;
	if (mn__idset_contains(&nu->p->tm.fired, t->id))
		return 0;
	nu->due = t->due_unix_ms;
	return 1; /* stop */
}

static void timers_wake(void *arg)
{
	mn__persist *p = arg;
	mn_runtime *rt = p->rt;
	uint64_t n = mn__persist_fire_timers(rt, MN__TIMERS_PER_WAKE);
	uint64_t now = mn__unix_ms();
	next_unfired nu = {.p = p};
	if (n == MN__TIMERS_PER_WAKE) {
		nu.due = now; /* more are due: go on right away */
	} else {
		pthread_mutex_lock(&p->tm.fired_mu);
		int rc = mn__store_timers_due(p->store, UINT64_MAX,
					      MN__TIMERS_PER_WAKE,
					      first_unfired, &nu);
		size_t nfired = mn__idset_count(&p->tm.fired);
		pthread_mutex_unlock(&p->tm.fired_mu);
		if (rc < 0 || (!nu.due && nfired >= MN__TIMERS_PER_WAKE))
			nu.due = now + MN__TIMER_RETRY_MS; /* look again */
		else if (nu.due && nu.due <= now)
			nu.due = now + MN__TIMER_RETRY_MS; /* undeliverable */
	}
	if (nu.due)
		(void)mn__calls_wake_at(p, nu.due, timers_wake, p);
}

void mn__timers_arm(mn__persist *p, uint64_t due_unix_ms)
{
	if (due_unix_ms)
		(void)mn__calls_wake_at(p, due_unix_ms, timers_wake, p);
}
