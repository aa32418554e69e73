/*
 * sched.c - worker threads, run queues, work stealing, sleeping and waking,
 * and one actor's turn on a worker.
 *
 * Each worker owns a FIFO run queue of scheduled actors. An actor that a
 * handler schedules (its mailbox went from empty to non-empty) goes to the
 * queue of the worker running that handler; one scheduled from outside goes
 * to the shared inject queue. A worker runs actors from its own queue,
 * checks the inject queue (first, every MN__INJECT_EVERY turns, so outside
 * traffic is never starved), and when both are empty steals half of another
 * worker's queue. With nothing anywhere it spins briefly (a message often
 * arrives within microseconds; busy-waiting for the first few microseconds,
 * then yielding the core between looks), then sleeps on a condition
 * variable until a submit wakes it.
 *
 * Sleep/wake invariants (docs/architecture.md):
 *  S1  A worker about to sleep increments nsleeping (seq_cst, under
 *      sleep_mu), then issues a seq_cst fence and re-checks every run
 *      queue's length before waiting. A submitter pushes (queue lock, or
 *      the inject queue's exchange, I3), issues a seq_cst fence, then
 *      reads nsleeping. One of the two sees the other (store-buffering
 *      with fences on both sides), so work put in the inject queue never
 *      waits for a sleeping worker.
 *  S2  A wake hands out a token under sleep_mu; a sleeper consumes one
 *      token, and tokens never exceed sleepers, so wakes are not lost to
 *      spurious returns nor accumulated.
 *  S3  Work submitted by a worker to its own queue needs no wake for
 *      progress (that worker is awake and will run it); a wake is sent
 *      only when the queue holds more than the next actor, so the other
 *      cores can steal.
 *
 * Layering: the scheduler sits below the send engine and the durable core,
 * and calls upward in one place only, deliberately: a turn of a persistent
 * actor (process() below) calls persist.h's handler hooks, the way an
 * event loop calls its callbacks: mn__persist_drop_deleted (X2),
 * mn__persist_first_run, mn__persist_spawned, mn__persist_before_handle,
 * mn__persist_after_handle and mn__persist_outbox_done (a volatile actor's
 * stored message). Nothing else here includes or calls what is above it
 * (scripts/check-layers holds sched.o to that list).
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/assert.h"
#include "core/ask.h"
#include "core/mailbox.h"
#include "core/persist.h"
#include "core/runtime.h"
#include "core/sched.h"
#include "base/clock.h"

/* How often (in turns) a busy worker looks at the inject queue first. */
#define MN__INJECT_EVERY 61
/* Most actors one steal takes. */
#define MN__STEAL_MAX 128
/* How long an idle worker keeps looking for work before sleeping. */
#define MN__SPIN_NS 50000
/* The first part of that spin busy-waits (pause); after it the worker
 * yields its core between looks. With more runnable threads than cores (an
 * outside thread sending, plus the workers) a worker spinning on the
 * sender's core took up to a third of its time: one outside thread's spawn
 * rate went from 1.36-1.45M/s to 1.77-1.88M/s (medians of 6-8 interleaved
 * runs, docs/performance.md). */
#define MN__SPIN_PAUSE_NS 5000

/* ---- run queues -------------------------------------------------------- */

void mn__runq_init(mn__runq *q)
{
	mn__lock_init(&q->mu);
	q->head = q->tail = NULL;
	atomic_init(&q->len, 0);
}

void mn__runq_destroy(mn__runq *q)
{
	(void)q;
}

static inline size_t runq_len_hint(mn__runq *q)
{
	return atomic_load_explicit(&q->len, memory_order_relaxed);
}

/* Append a; returns the queue length before. */
static size_t runq_push(mn__runq *q, mn__actor *a)
{
	size_t len;

	mn__rq_set_next(a, NULL);
	mn__lock_acquire(&q->mu);
	if (q->tail)
		mn__rq_set_next(q->tail, a);
	else
		q->head = a;
	q->tail = a;
	len = atomic_load_explicit(&q->len, memory_order_relaxed);
	atomic_store_explicit(&q->len, len + 1, memory_order_relaxed);
	mn__lock_release(&q->mu);
	return len;
}

/* Append the list first..last of n actors. */
static void runq_push_list(mn__runq *q, mn__actor *first, mn__actor *last,
			   size_t n)
{
	mn__rq_set_next(last, NULL);
	mn__lock_acquire(&q->mu);
	if (q->tail)
		mn__rq_set_next(q->tail, first);
	else
		q->head = first;
	q->tail = last;
	atomic_store_explicit(
	    &q->len, atomic_load_explicit(&q->len, memory_order_relaxed) + n,
	    memory_order_relaxed);
	mn__lock_release(&q->mu);
}

/* Remove up to max actors from the head; returns the first (linked through
 * rq_next, NULL-terminated) and their count in *n. */
static mn__actor *runq_take(mn__runq *q, size_t max, size_t *n)
{
	mn__actor *first, *last;
	size_t len, k;

	*n = 0;
	if (runq_len_hint(q) == 0)
		return NULL;
	mn__lock_acquire(&q->mu);
	len = atomic_load_explicit(&q->len, memory_order_relaxed);
	if (len == 0) {
		mn__lock_release(&q->mu);
		return NULL;
	}
	first = last = q->head;
	for (k = 1; k < max && k < len; k++)
		last = mn__rq_next(last);
	q->head = mn__rq_next(last);
	if (!q->head)
		q->tail = NULL;
	mn__rq_set_next(last, NULL);
	atomic_store_explicit(&q->len, len - k, memory_order_relaxed);
	mn__lock_release(&q->mu);
	*n = k;
	return first;
}

static inline mn__actor *runq_pop(mn__runq *q)
{
	size_t n;
	return runq_take(q, 1, &n);
}

/* ---- the inject queue ---------------------------------------------------- */

/*
 * mpsc.h's detaching queue, linked through rq_next; consumers are
 * serialised by a try-lock. Before it was a locked FIFO like the workers'
 * queues, and one outside thread creating actors spent 13% of its time in
 * that lock (pushing while the workers popped), then yielded its core when
 * a preempted worker held it.
 *
 *  I1  The queue's MQ1 (push, the busy state) with an acq_rel exchange:
 *      a worker that finds it busy returns NULL and looks again on its
 *      next round (its spin, or S1's re-check), never concludes "empty".
 *      Violation: an actor skipped, or read before its link.
 *  I2  MQ2 and MQ3: only the worker holding cmu pops (moves head, puts the
 *      stub back); an actor is returned only once detached, so no producer
 *      writes its rq_next after it leaves, and the worker may put it in a
 *      run queue. Violation: a link written into an actor already in
 *      another queue.
 *  I3  Emptiness as a hint (mn__mpsc_nonempty_hint): non-empty when the
 *      end or head is not the stub or the stub has a next. A sleeping
 *      worker reads it after its seq_cst fence (S1) and so sees every push
 *      ordered before the submitter's fence through the end; the one state
 *      where the end is the stub with actors queued (a consumer put the
 *      stub back behind a racing producer, MQ4) exists only while that
 *      consumer is awake with head past the stub, so it takes them.
 *      Violation: a lost wake-up.
 */
int mn__injectq_init(mn__injectq *q)
{
	mn__mpsc_init(&q->q);
	mn__lock_init(&q->cmu);
	return 0;
}

void mn__injectq_destroy(mn__injectq *q)
{
	(void)q;
}

/* I1. Any thread. */
static inline void inject_push(mn__injectq *q, mn__actor *a)
{
	mn__mpsc_push(&q->q.end, &a->rq_next);
}

/* I3: a hint, no lock. */
static inline bool inject_nonempty(mn__injectq *q)
{
	return mn__mpsc_nonempty_hint(&q->q);
}

/* The next actor, or NULL (empty, busy, or another worker consuming). */
static mn__actor *inject_pop(mn__injectq *q)
{
	if (!inject_nonempty(q) || !mn__lock_try(&q->cmu))
		return NULL;
	mn__actor *a = mn__actor_of_rq(mn__mpsc_pop(&q->q));
	mn__lock_release(&q->cmu);
	return a;
}

/* ---- sleeping and waking ------------------------------------------------ */

static bool any_work(mn_runtime *rt)
{
	if (inject_nonempty(&rt->inject))
		return true;
	for (unsigned i = 0; i < rt->nworkers; i++)
		if (runq_len_hint(&rt->workers[i].q))
			return true;
	return false;
}

/*
 * The number of sleepers, read after a full barrier that orders our earlier
 * queue push before the read (S1; pairs with the barrier in idle_sleep).
 * ThreadSanitizer does not model fences (gcc refuses them under -Wtsan), so
 * sanitizer builds use a seq_cst read-modify-write of nsleeping instead:
 * also correct (the two RMWs are ordered in nsleeping's modification order
 * and synchronise), but it writes a shared cache line on every call, which
 * the fence does not.
 */
static inline unsigned sleepers_after_barrier(mn_runtime *rt)
{
#if defined(__SANITIZE_THREAD__)
	return atomic_fetch_add_explicit(&rt->nsleeping, 0,
					 memory_order_seq_cst);
#else
	atomic_thread_fence(memory_order_seq_cst);
	return atomic_load_explicit(&rt->nsleeping, memory_order_relaxed);
#endif
}

/* Wake one sleeping worker if there is one (S1, S2). Any thread. */
static void wake_one(mn_runtime *rt)
{
	if (sleepers_after_barrier(rt) == 0)
		return;
	pthread_mutex_lock(&rt->sleep_mu);
	unsigned sleepers =
	    atomic_load_explicit(&rt->nsleeping, memory_order_relaxed);
	if (rt->wake_tokens < sleepers) {
		rt->wake_tokens++;
		pthread_cond_signal(&rt->sleep_cv);
	}
	pthread_mutex_unlock(&rt->sleep_mu);
}

static void idle_sleep(mn__worker *w)
{
	mn_runtime *rt = w->rt;

	pthread_mutex_lock(&rt->sleep_mu);
	atomic_fetch_add_explicit(&rt->nsleeping, 1, memory_order_seq_cst);
#if !defined(__SANITIZE_THREAD__)
	/* seq_cst fence: pairs with the one in sleepers_after_barrier (S1).
	 * Under TSan the RMW above pairs with the RMW there instead. */
	atomic_thread_fence(memory_order_seq_cst);
#endif
	if (!any_work(rt) &&
	    !atomic_load_explicit(&rt->stop, memory_order_acquire)) {
		mn__count(&w->n_sleeps, 1);
		while (rt->wake_tokens == 0 &&
		       !atomic_load_explicit(&rt->stop, memory_order_acquire))
			pthread_cond_wait(&rt->sleep_cv, &rt->sleep_mu);
		if (rt->wake_tokens > 0)
			rt->wake_tokens--;
	}
	atomic_fetch_sub_explicit(&rt->nsleeping, 1, memory_order_seq_cst);
	pthread_mutex_unlock(&rt->sleep_mu);
}

void mn__sched_submit(mn_runtime *rt, mn__worker *w, mn__actor *a)
{
	if (w) {
		/* S3: the owner will run it; wake others only if there is
		 * more than the next actor to share. */
		if (runq_push(&w->q, a) > 0)
			wake_one(rt);
	} else {
		inject_push(&rt->inject, a);
		wake_one(rt);
	}
}

/* ---- finding work ------------------------------------------------------- */

static inline uint64_t next_rand(mn__worker *w)
{
	/* xorshift64: only to spread steal attempts over victims. */
	uint64_t x = w->rng;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return w->rng = x;
}

static mn__actor *steal(mn__worker *w)
{
	mn_runtime *rt = w->rt;
	unsigned n = rt->nworkers;
	unsigned start = (unsigned)(next_rand(w) % n);

	for (unsigned i = 0; i < n; i++) {
		mn__worker *v = &rt->workers[(start + i) % n];
		if (v == w)
			continue;
		size_t len = runq_len_hint(&v->q);
		if (len == 0)
			continue;
		size_t want = (len + 1) / 2, got;
		if (want > MN__STEAL_MAX)
			want = MN__STEAL_MAX;
		mn__actor *first = runq_take(&v->q, want, &got);
		if (!first)
			continue;
		mn__count(&w->n_steals, got);
		if (got > 1) {
			mn__actor *last = mn__rq_next(first);
			while (mn__rq_next(last))
				last = mn__rq_next(last);
			runq_push_list(&w->q, mn__rq_next(first), last,
				       got - 1);
		}
		return first;
	}
	return NULL;
}

static mn__actor *find_work(mn__worker *w)
{
	mn_runtime *rt = w->rt;
	mn__actor *a;

	if (++w->tick % MN__INJECT_EVERY == 0 && (a = inject_pop(&rt->inject)))
		return a;
	if ((a = runq_pop(&w->q)))
		return a;
	if ((a = inject_pop(&rt->inject)))
		return a;
	return steal(w);
}

/* ---- one actor's turn --------------------------------------------------- */

/* Failure events (events.c): a cold path, only after a failure. */
static void report_handler_error(mn__worker *w, const mn__actor *a,
				 const mn_kind *k, const mn__msg *m, int rc)
{
	mn__event(&w->rt->ev, MN_EVENT_HANDLER_ERROR, rc, k, a->key, a->key_len,
		  w->ctx.seq, "handle() returned %s (message type %u)",
		  mn_err_name(rc), (unsigned)m->type);
}

/* The message m could not be handled: the actor's first run failed. A
 * broken actor (persist.c) was reported when it broke; a failed init is a
 * handler error. A stored message or timer stays stored. */
static void report_drop(mn__worker *w, const mn__actor *a, const mn_kind *k,
			const mn__msg *m, int rc)
{
	mn__events *ev = &w->rt->ev;
	bool broken = a->flags & MN__ACTOR_BROKEN;
	if (!broken)
		mn__event(ev, MN_EVENT_HANDLER_ERROR, rc, k, a->key, a->key_len,
			  0, "init() returned %s", mn_err_name(rc));
	const char *why = broken ? "the actor is broken" : "init() failed";
	if (m->outbox_id && w->rt->persist)
		mn__event(ev, MN_EVENT_UNDELIVERED, rc, k, a->key, a->key_len,
			  0, "%s %llu not handled: %s; it stays stored",
			  (m->flags & MN_MSG_TIMER) ? "timer"
						    : "stored message",
			  (unsigned long long)m->outbox_id, why);
	else
		mn__event(ev, MN_EVENT_DROPPED, rc, k, a->key, a->key_len, 0,
			  "message type %u dropped: %s", (unsigned)m->type,
			  why);
}

/* Handle (or drop) one message on the running actor. Volatile actors
 * count it done here; for persistent ones the writer does after the commit
 * (persist.c, P5). */
static void process(mn__worker *w, mn__actor *a, const mn_kind *k, mn__msg *m)
{
	mn_ctx *ctx = &w->ctx;
	int rc;

	/* X2: an actor being deleted runs no more messages, not even init. */
	if (k->persistent && mn__persist_drop_deleted(w, a, k, m))
		return;
	if (!(a->flags & MN__ACTOR_INITIALIZED)) {
		ctx->msg = NULL;
		ctx->seq = 0;
		rc = k->persistent ? mn__persist_first_run(w, a, k)
				   : k->def.init(ctx, &a->state);
		if (rc < 0) {
			/* The message is dropped (a stored one stays in
			 * the outbox); init runs again next time. */
			a->state = NULL;
			mn__count(&w->n_errors, 1);
			report_drop(w, a, k, m, rc);
			mn__count(&w->n_done, 1);
			return;
		}
		a->flags |= MN__ACTOR_INITIALIZED;
	}
	if (m->flags & MN__MSG_VIEW) {
		/* Between two messages, on the actor's own worker: its state
		 * as describe() tells it, and its seq (ask.c answers). */
		mn__ask_view(w->rt->asks, m->sender_id, k, a->state,
			     k->persistent ? mn__ap(a)->seq : 0);
		mn__count(&w->n_done, 1);
		return;
	}
	if (m->flags & MN__MSG_SPAWN) {
		if (k->persistent && (a->flags & MN__ACTOR_NEW))
			mn__persist_spawned(w, a);
		else
			mn__count(&w->n_done, 1);
		return;
	}
	mn_msg view = {
	    .type = m->type,
	    .flags = m->flags & MN__MSG_PUBLIC_MASK,
	    .payload = m->len ? m->data : NULL,
	    .len = m->len,
	};
	ctx->msg = m;
	if (k->persistent) {
		if (!mn__persist_before_handle(w, a, m)) {
			/* A stale call reply (calls.c, C2): dropped. */
			mn__count(&w->n_done, 1);
			return;
		}
		rc = k->def.handle(ctx, a->state, &view);
		if (rc < 0) {
			mn__count(&w->n_errors, 1);
			report_handler_error(w, a, k, m, rc);
		}
		mn__persist_after_handle(w, a, m, rc);
		return;
	}
	ctx->seq = 0;
	rc = k->def.handle(ctx, a->state, &view);
	if (rc < 0) {
		mn__count(&w->n_errors, 1);
		report_handler_error(w, a, k, m, rc);
	}
	/* After the handler (and the sends it made, counted in n_sent
	 * before their pushes): drain's DR2. */
	if (m->outbox_id && w->rt->persist)
		mn__persist_outbox_done(w, m->outbox_id);
	else
		mn__count(&w->n_done, 1);
}

/* Run up to MN_SCHED_BATCH messages of a, then leave it idle (mailbox
 * marked empty) or put it back at the end of our queue. */
static void run_turn(mn__worker *w, mn__actor *a)
{
	mn_runtime *rt = w->rt;
	const mn_kind *k = rt->kinds[a->kind_idx];
	mn__msg *m, *done;

	w->ctx.actor = a;
	w->ctx.kind = k;
	/* CLOCK: referenced (evict.c); a plain store, once per turn. */
	if (k->persistent)
		atomic_store_explicit(&mn__ap(a)->ref, 1, memory_order_relaxed);
	for (int i = 0; i < MN_SCHED_BATCH; i++) {
		m = mn__mb_pop(a, &done);
		if (done)
			mn__msg_free(w, done);
		if (!m) {
			if (mn__mb_mark_empty(a, &done)) {
				/* a may now run elsewhere: do not touch it. */
				if (done)
					mn__msg_free(w, done);
				goto out_idle;
			}
			/* A producer is mid-push (M3): stay scheduled. */
			break;
		}
		process(w, a, k, m);
	}
	runq_push(&w->q, a);
out_idle:
	w->ctx.actor = NULL;
	w->ctx.msg = NULL;
}

_Thread_local mn__worker *mn__tls_worker;

static void *worker_main(void *arg)
{
	mn__worker *w = arg;
	mn_runtime *rt = w->rt;

	mn__tls_worker = w;
	char name[16];
	snprintf(name, sizeof name, "mn-worker-%u", w->idx);
	pthread_setname_np(pthread_self(), name);

	for (;;) {
		/* Checked every turn: actors that keep each other busy
		 * forever must not keep close waiting. */
		if (atomic_load_explicit(&rt->stop, memory_order_acquire))
			break;
		mn__actor *a = find_work(w);
		if (a) {
			run_turn(w, a);
			continue;
		}
		/* Spin a little before sleeping: in message-passing
		 * workloads the next actor is usually microseconds away.
		 * Busy-wait first, then yield between looks so that a
		 * thread sharing this core (the sender) can run. */
		uint64_t t0 = mn__mono_ns(), t;
		while (!(a = find_work(w)) &&
		       (t = mn__mono_ns()) < t0 + MN__SPIN_NS &&
		       !atomic_load_explicit(&rt->stop, memory_order_acquire)) {
			if (t > t0 + MN__SPIN_PAUSE_NS)
				sched_yield();
			else
				for (int i = 0; i < 32; i++)
					mn__cpu_relax();
		}
		if (a) {
			run_turn(w, a);
			continue;
		}
		idle_sleep(w);
	}
	return NULL;
}

int mn__sched_start(mn_runtime *rt)
{
	for (unsigned i = 0; i < rt->nworkers; i++) {
		mn__worker *w = &rt->workers[i];
		if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
			/* Stop the ones already running. */
			rt->nworkers = i;
			mn__sched_stop(rt);
			return MN_ESYS;
		}
	}
	return 0;
}

void mn__sched_stop(mn_runtime *rt)
{
	pthread_mutex_lock(&rt->sleep_mu);
	atomic_store_explicit(&rt->stop, true, memory_order_release);
	pthread_cond_broadcast(&rt->sleep_cv);
	pthread_mutex_unlock(&rt->sleep_mu);
	for (unsigned i = 0; i < rt->nworkers; i++)
		pthread_join(rt->workers[i].thread, NULL);
}
