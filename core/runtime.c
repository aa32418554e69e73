/*
 * runtime.c - the public face of the core: opening and closing a runtime,
 * kinds, sends from outside (mn_send*, mn_spawn, durable sends), drain and
 * counters, and store maintenance. The send engine they call is send.c;
 * the handler context's calls (mn_ctx_*) are ctx.c; the workers are
 * sched.c. No other core/ file calls into this one (offline.c uses the
 * public mn_kind_find only): it is the top of the core.
 *
 * Threads: caller threads (any application thread); mn_runtime_open and
 * mn_runtime_close on the thread that owns the runtime.
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/abi.h"
#include "base/detail.h"
#include "base/assert.h"
#include "base/hash.h"
#include "core/ask.h"
#include "core/observe.h"
#include "core/calls.h"
#include "core/maint.h"
#include "core/mailbox.h"
#include "core/persist.h"
#include "core/runtime.h"
#include "core/sched.h"
#include "core/send.h"
#include "storage/store.h"

/* Runtime generations (mn_runtime.gen): 0 is never used. */
static _Atomic uint64_t next_gen = 1;

/* ---- opening and closing ---------------------------------------------- */

int mn_runtime_open(const mn_runtime_opts *opts, mn_runtime **out)
{
	mn_runtime_opts o = {0};
	mn_runtime *rt;
	int rc;

	if (!out)
		return MN_EINVAL;
	*out = NULL;
	/* A caller's opts of any header version: copied into o (zeroed, this
	 * library's layout), missing fields 0 (core/abi.h). */
	if (opts && (rc = mn__runtime_opts_load(&o, opts)))
		return rc;
	if (o.workers == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		o.workers = n > 0 ? (unsigned)n : 1;
		if (o.workers > MN_WORKERS_MAX)
			o.workers = MN_WORKERS_MAX;
	}
	if (o.workers > MN_WORKERS_MAX)
		return MN_EINVAL;
	if (o.max_payload == 0)
		o.max_payload = MN_PAYLOAD_MAX_DEFAULT;

	rt = aligned_alloc(64, (sizeof *rt + 63) & ~(size_t)63);
	if (!rt)
		return MN_ENOMEM;
	memset(rt, 0, sizeof *rt);
	rt->gen = atomic_fetch_add_explicit(&next_gen, 1, memory_order_relaxed);
	rt->nworkers = o.workers;
	rt->max_payload = o.max_payload;
	rt->workers = aligned_alloc(64, (o.workers * sizeof *rt->workers + 63) &
					    ~(size_t)63);
	if (!rt->workers) {
		rc = MN_ENOMEM;
		goto err_free_rt;
	}
	memset(rt->workers, 0, o.workers * sizeof *rt->workers);
	mn__reg_init(&rt->reg);
	mn__admit_init(&rt->adm,
		       o.store_path && o.admission ? o.max_resident : 0);
	pthread_mutex_init(&rt->kinds_mu, NULL);
	pthread_mutex_init(&rt->sleep_mu, NULL);
	pthread_cond_init(&rt->sleep_cv, NULL);
	mn__msgdepot_init(&rt->depot);
	mn__events_init(&rt->ev, &o);
	if ((rc = mn__injectq_init(&rt->inject)) ||
	    (rc = mn__asks_new(&rt->asks)) ||
	    (rc = mn__observers_new(&rt->observers)))
		goto err_destroy;
	for (unsigned i = 0; i < o.workers; i++) {
		mn__worker *w = &rt->workers[i];
		w->rt = rt;
		w->idx = i;
		w->rng = MN__HASH_K1 * (i + 1);
		w->ctx.rt = rt;
		w->ctx.w = w;
		mn__runq_init(&w->q);
	}
	if (o.store_path) {
		rc = mn__persist_open(rt, &o);
		if (rc)
			goto err_destroy;
	}
	rc = mn__sched_start(rt);
	if (rc) {
		mn__persist_close(rt);
		goto err_destroy;
	}
	if (rt->persist && (rc = mn__maint_start(rt, &o, &rt->maint))) {
		mn__sched_stop(rt);
		mn__persist_close(rt);
		goto err_destroy;
	}
	*out = rt;
	return 0;

err_destroy:
	mn__asks_free(rt->asks);
	mn__observers_free(rt->observers);
	for (unsigned i = 0; i < o.workers; i++)
		mn__runq_destroy(&rt->workers[i].q);
	mn__injectq_destroy(&rt->inject);
	mn__events_destroy(&rt->ev);
	pthread_cond_destroy(&rt->sleep_cv);
	pthread_mutex_destroy(&rt->sleep_mu);
	pthread_mutex_destroy(&rt->kinds_mu);
	mn__admit_destroy(&rt->adm);
	mn__reg_destroy(&rt->reg);
	free(rt->workers);
err_free_rt:
	free(rt);
	return rc;
}

void mn_runtime_shutdown(mn_runtime *rt)
{
	if (rt)
		atomic_store_explicit(&rt->closed, true, memory_order_seq_cst);
}

/* Free an actor that no thread can reach any more: its queued messages
 * (dropped), its state, its record. */
static void actor_destroy(mn_runtime *rt, mn__actor *a)
{
	mn__msg *m, *done;

	while ((m = mn__mb_pop(a, &done)) != NULL)
		if (done)
			mn__msg_free(NULL, done);
	if (done)
		mn__msg_free(NULL, done);
	if (a->mb_tail != &a->mb_stub)
		mn__msg_free(NULL, (mn__msg *)a->mb_tail);
	const mn_kind *k = rt->kinds[a->kind_idx];
	if ((a->flags & MN__ACTOR_INITIALIZED) && k->def.free)
		k->def.free(a->state);
	/* The record itself goes with its shard's slab. */
}

void mn_runtime_close(mn_runtime *rt)
{
	if (!rt)
		return;
	mn_runtime_shutdown(rt);
	/* Wait for outside sends that passed the closed check (seq_cst:
	 * pairs with ext_enter). */
	while (atomic_load_explicit(&rt->ext_active, memory_order_seq_cst))
		sched_yield();
	/* No call result may reach a mailbox from now on. */
	mn__calls_stop(rt);
	mn__maint_stop(rt->maint);
	rt->maint = NULL;
	mn__sched_stop(rt);
	/* Commit what the workers handled (their states already show it),
	 * write the checkpoint, close the store. */
	mn__persist_close(rt);
	/* Asks still pending end with MN_ECLOSED (nothing can answer now). */
	mn__asks_free(rt->asks);
	rt->asks = NULL;
	mn__observers_free(rt->observers);
	rt->observers = NULL;

	mn__actor *a = mn__reg_take_all(&rt->reg);
	uint64_t npersistent = 0;
	while (a) {
		mn__actor *next = mn__rq_next(a);
		npersistent += rt->kinds[a->kind_idx]->persistent;
		actor_destroy(rt, a);
		a = next;
	}
	/* AC1: every record of a persistent kind took its slot. */
	mn_assert(!mn__admit_on(&rt->adm) ||
		  npersistent == atomic_load_explicit(&rt->adm.resident,
						      memory_order_relaxed));
	for (unsigned i = 0; i < rt->nworkers; i++) {
		mn__runq_destroy(&rt->workers[i].q);
		mn__msgpool_clear(&rt->workers[i].pool);
		mn__buf_free(&rt->workers[i].ctx.pending);
	}
	mn__injectq_destroy(&rt->inject);
	mn__msgdepot_clear(&rt->depot);
	/* The closing thread's outside cache: buffers it took from this
	 * runtime's depot (any other thread's cache goes at its exit). */
	mn__msgcache_flush();
	unsigned nk = atomic_load_explicit(&rt->nkinds, memory_order_acquire);
	for (unsigned i = 0; i < nk; i++)
		free(rt->kinds[i]);
	mn__events_destroy(&rt->ev);
	pthread_cond_destroy(&rt->sleep_cv);
	pthread_mutex_destroy(&rt->sleep_mu);
	pthread_mutex_destroy(&rt->kinds_mu);
	/* Messages still parked for admission are dropped, like queued
	 * ones (AC5). */
	mn__admit_destroy(&rt->adm);
	mn__reg_destroy(&rt->reg);
	free(rt->workers);
	free(rt);
}

/* ---- drain and counters ------------------------------------------------- */

/* Quiescence: DR1-DR3 (send.c, mn__counter_sums). */
int mn_runtime_drain(mn_runtime *rt)
{
	long delay_ns = 10000;

	if (!rt)
		return MN_EINVAL;
	if (mn__tls_worker && mn__tls_worker->rt == rt)
		return MN_EINVAL;
	for (;;) {
		uint64_t sent, done;
		/* Stored messages still to redeliver after open count as in
		 * flight; read first (acquire), so the deliveries the jobs
		 * made are in the sums below. */
		bool busy = mn__persist_busy(rt);
		mn__counter_sums(rt, &sent, &done);
		mn_assert(done <= sent);
		if (done == sent && !busy)
			return 0;
		struct timespec ts = {0, delay_ns};
		nanosleep(&ts, NULL);
		if (delay_ns < 1000000)
			delay_ns *= 2;
	}
}

void mn_runtime_stats_get(mn_runtime *rt, mn_runtime_stats *st)
{
	memset(st, 0, sizeof *st);
	if (!rt)
		return;
	mn__counter_sums(rt, &st->sent, &st->processed);
	st->handler_errors =
	    atomic_load_explicit(&rt->ext_errors, memory_order_acquire);
	for (unsigned i = 0; i < rt->nworkers; i++) {
		mn__worker *w = &rt->workers[i];
		st->handler_errors +=
		    atomic_load_explicit(&w->n_errors, memory_order_acquire);
		st->steals +=
		    atomic_load_explicit(&w->n_steals, memory_order_acquire);
		st->sleeps +=
		    atomic_load_explicit(&w->n_sleeps, memory_order_acquire);
	}
	mn__reg_totals(&rt->reg, &st->actors, &st->actor_bytes,
		       &st->registry_bytes);
	st->workers = rt->nworkers;
	st->events =
	    atomic_load_explicit(&rt->ev.delivered, memory_order_relaxed);
	st->events_suppressed =
	    atomic_load_explicit(&rt->ev.suppressed, memory_order_relaxed);
	mn__persist_stats(rt, st);
	st->resident_peak =
	    atomic_load_explicit(&rt->adm.peak, memory_order_relaxed);
	st->admission_waits =
	    atomic_load_explicit(&rt->adm.waits, memory_order_relaxed);
	st->admission_parked =
	    atomic_load_explicit(&rt->adm.parks, memory_order_relaxed);
	st->admission_overruns =
	    atomic_load_explicit(&rt->adm.overruns, memory_order_relaxed);
}

/* ---- kinds -------------------------------------------------------------- */

int mn_kind_register(mn_runtime *rt, const mn_kind_def *user_def, mn_kind **out)
{
	mn_kind_def def_copy;
	const mn_kind_def *def = &def_copy;
	mn_kind *k;
	size_t nlen;
	int rc = 0;

	if (out)
		*out = NULL;
	/* A caller's def of any header version: copied into def_copy
	 * (zeroed, this library's layout), missing fields 0 (core/abi.h). */
	if (!user_def || mn__kind_def_load(&def_copy, user_def))
		return MN_EINVAL;
	if (!rt || !def->init || !def->handle || !def->name)
		return MN_EINVAL;
	nlen = strlen(def->name);
	if (nlen == 0 || nlen > MN_KIND_NAME_MAX)
		return MN_EINVAL;
	if (atomic_load_explicit(&rt->closed, memory_order_acquire))
		return MN_ECLOSED;

	pthread_mutex_lock(&rt->kinds_mu);
	unsigned n = atomic_load_explicit(&rt->nkinds, memory_order_relaxed);
	for (unsigned i = 0; i < n; i++) {
		if (strcmp(rt->kinds[i]->name, def->name) == 0) {
			rc = MN_EEXIST;
			goto out_unlock;
		}
	}
	if (n == MN_KINDS_MAX) {
		rc = MN_ELIMIT;
		goto out_unlock;
	}
	k = calloc(1, sizeof *k);
	if (!k) {
		rc = MN_ENOMEM;
		goto out_unlock;
	}
	k->rt = rt;
	k->idx = (uint16_t)n;
	k->def = *def;
	memcpy(k->name, def->name, nlen + 1);
	k->def.name = k->name;
	k->persistent = rt->persist && !(def->flags & MN_KIND_VOLATILE);
	if (rt->persist && (rc = mn__persist_kind_id(rt, k))) {
		free(k);
		goto out_unlock;
	}
	rt->kinds[n] = k;
	/* release: publishes kinds[n]; pairs with acquire in mn_kind_find. */
	atomic_store_explicit(&rt->nkinds, n + 1, memory_order_release);
	if (out)
		*out = k;
	/* Stored messages for this kind (outbox) go out now that it can
	 * handle them (P4). */
	if (rt->persist) {
		pthread_mutex_unlock(&rt->kinds_mu);
		return mn__persist_kind_registered(rt, k);
	}
out_unlock:
	pthread_mutex_unlock(&rt->kinds_mu);
	return rc;
}

mn_kind *mn_kind_find(mn_runtime *rt, const char *name)
{
	if (!rt || !name)
		return NULL;
	unsigned n = atomic_load_explicit(&rt->nkinds, memory_order_acquire);
	for (unsigned i = 0; i < n; i++)
		if (strcmp(rt->kinds[i]->name, name) == 0)
			return rt->kinds[i];
	return NULL;
}

const char *mn_kind_name(const mn_kind *kind)
{
	return kind ? kind->name : NULL;
}

/* ---- sending from outside ------------------------------------------------ */

/* Admit a call from outside: fails once the runtime is shut down; a call
 * admitted here is waited for by close (pairs with mn_runtime_close). */
static int ext_enter(mn_runtime *rt)
{
	atomic_fetch_add_explicit(&rt->ext_active, 1, memory_order_seq_cst);
	if (atomic_load_explicit(&rt->closed, memory_order_seq_cst)) {
		atomic_fetch_sub_explicit(&rt->ext_active, 1,
					  memory_order_release);
		return MN_ECLOSED;
	}
	return 0;
}

static void ext_leave(mn_runtime *rt)
{
	atomic_fetch_sub_explicit(&rt->ext_active, 1, memory_order_release);
}

/* The worker of rt this thread is, or NULL: sends from a handler that use
 * the outside API still go to the local queue. */
mn__worker *mn__local_worker(mn_runtime *rt)
{
	mn__worker *w = mn__tls_worker;
	return (w && w->rt == rt) ? w : NULL;
}

/* A send from outside to an address being deleted: MN_ENOACTOR, with the
 * reason in mn_errdetail(). */
static int refused_deleting(const mn_kind *kind, const void *key,
			    size_t key_len)
{
	char k[2 * MN_KEY_MAX + 3], detail[2 * MN_KEY_MAX + 128];
	mn__key_format(k, sizeof k, key, key_len);
	snprintf(detail, sizeof detail, "actor %s/%s is being deleted",
		 kind->name, k);
	mn__store_set_errdetail(detail);
	return MN_ENOACTOR;
}

int mn__send_outside(mn_runtime *rt, const mn_kind *kind, const void *key,
		     size_t key_len, uint32_t type, const void *payload,
		     size_t len, uint32_t mflags, uint64_t sender_id)
{
	int rc = mn__check_send(rt, kind, key, key_len, payload, len);
	if (rc)
		return rc;
	/* After a store failure, durable work is refused (P7). */
	if (kind->persistent && (rc = mn__persist_error(rt)))
		return rc;
	/* An actor that could not be brought back: say why (events.c). */
	if (kind->persistent &&
	    (rc = mn__broken_check(&rt->ev, kind, key, key_len)))
		return rc;
	rc = ext_enter(rt);
	if (rc)
		return rc;
	mn__worker *w = mn__local_worker(rt);
	/* Only a thread of the application waits for admission (AC2). */
	mn__sendx x = {.mflags = mflags,
		       .sender_id = sender_id,
		       .may_wait = !w && !mn__tls_no_admit_wait};
	rc = mn__send(rt, w, NULL, kind, key, key_len, type, payload, len, &x);
	ext_leave(rt);
	return rc == MN__EDELETING ? refused_deleting(kind, key, key_len) : rc;
}

int mn_send(mn_runtime *rt, const mn_kind *kind, const void *key,
	    size_t key_len, uint32_t type, const void *payload, size_t len)
{
	return mn__send_outside(rt, kind, key, key_len, type, payload, len, 0,
				0);
}

int mn_send_named(mn_runtime *rt, const char *kind, const void *key,
		  size_t key_len, uint32_t type, const void *payload,
		  size_t len)
{
	if (!rt || !kind)
		return MN_EINVAL;
	const mn_kind *k = mn_kind_find(rt, kind);
	if (!k)
		return MN_ENOKIND;
	return mn__send_outside(rt, k, key, key_len, type, payload, len, 0, 0);
}

int mn_spawn(mn_runtime *rt, const mn_kind *kind, const void *key,
	     size_t key_len)
{
	return mn__send_outside(rt, kind, key, key_len, 0, NULL, 0,
				MN__MSG_SPAWN, 0);
}

typedef struct durable_wait {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
	int rc;
} durable_wait;

static void durable_wake(void *arg, int rc)
{
	durable_wait *d = arg;
	pthread_mutex_lock(&d->mu);
	d->done = true;
	d->rc = rc;
	pthread_cond_signal(&d->cv);
	pthread_mutex_unlock(&d->mu);
}

/* A durable send, with a client key or without (ck NULL). */
static int durable_async(mn_runtime *rt, const mn_kind *kind, const void *key,
			 size_t key_len, uint32_t type, const void *payload,
			 size_t len, const void *ck, size_t ck_len,
			 mn_send_done_cb done, void *arg)
{
	int rc = mn__check_send(rt, kind, key, key_len, payload, len);
	if (rc)
		return rc;
	if (!rt->persist || (ck && (ck_len == 0 || ck_len > MN_KEY_MAX)))
		return MN_EINVAL;
	if ((kind->def.flags & MN_KIND_EXPLICIT) &&
	    !mn__actor_known(rt, kind, key, key_len))
		return MN_ENOACTOR;
	if ((rc = mn__broken_check(&rt->ev, kind, key, key_len)))
		return rc;
	if (mn__gate_deleting(rt->gate, kind, key, key_len))
		return refused_deleting(kind, key, key_len);
	if ((rc = ext_enter(rt)))
		return rc;
	/* Backpressure on a burst to actors not resident (AC2); the
	 * writer's delivery parks what still finds no room (AC3). */
	if (!mn__local_worker(rt) && !mn__tls_no_admit_wait)
		mn__admit_wait_outside(rt, kind, key, key_len);
	rc = mn__persist_durable(rt, kind, key, key_len, type, payload, len, ck,
				 ck_len, done, arg);
	ext_leave(rt);
	return rc;
}

int mn_send_durable_async(mn_runtime *rt, const mn_kind *kind, const void *key,
			  size_t key_len, uint32_t type, const void *payload,
			  size_t len, mn_send_done_cb done, void *arg)
{
	return durable_async(rt, kind, key, key_len, type, payload, len, NULL,
			     0, done, arg);
}

int mn_send_idempotent_async(mn_runtime *rt, const mn_kind *kind,
			     const void *key, size_t key_len, uint32_t type,
			     const void *payload, size_t len,
			     const void *client_key, size_t ck_len,
			     mn_send_done_cb done, void *arg)
{
	if (!client_key)
		return MN_EINVAL;
	return durable_async(rt, kind, key, key_len, type, payload, len,
			     client_key, ck_len, done, arg);
}

/* A durable send, blocking until the writer says (mn_send_durable,
 * mn_send_idempotent). */
static int durable_block(mn_runtime *rt, const mn_kind *kind, const void *key,
			 size_t key_len, uint32_t type, const void *payload,
			 size_t len, const void *ck, size_t ck_len)
{
	durable_wait d = {.done = false};
	if (rt && mn__local_worker(rt))
		return MN_EINVAL; /* a worker would wait for the writer */
	if (ck && !ck_len)
		return MN_EINVAL;
	pthread_mutex_init(&d.mu, NULL);
	pthread_cond_init(&d.cv, NULL);
	int rc = durable_async(rt, kind, key, key_len, type, payload, len, ck,
			       ck_len, durable_wake, &d);
	if (rc == 0) {
		pthread_mutex_lock(&d.mu);
		while (!d.done)
			pthread_cond_wait(&d.cv, &d.mu);
		pthread_mutex_unlock(&d.mu);
		rc = d.rc;
		if (rc == MN_ECONFLICT)
			mn__detail_setf("client key used before, within the "
					"retention window, for another "
					"message");
		else if (rc && rc != MN_EEXIST)
			(void)mn__persist_error(rt); /* the writer's detail */
	}
	pthread_cond_destroy(&d.cv);
	pthread_mutex_destroy(&d.mu);
	return rc;
}

int mn_send_durable(mn_runtime *rt, const mn_kind *kind, const void *key,
		    size_t key_len, uint32_t type, const void *payload,
		    size_t len)
{
	return durable_block(rt, kind, key, key_len, type, payload, len, NULL,
			     0);
}

int mn_send_idempotent(mn_runtime *rt, const mn_kind *kind, const void *key,
		       size_t key_len, uint32_t type, const void *payload,
		       size_t len, const void *client_key, size_t ck_len)
{
	if (!client_key)
		return MN_EINVAL;
	return durable_block(rt, kind, key, key_len, type, payload, len,
			     client_key, ck_len);
}

/* ---- store maintenance --------------------------------------------------- */

int mn_runtime_compact(mn_runtime *rt, uint64_t keep_history,
		       mn_compact_stats *st)
{
	if (!rt)
		return MN_EINVAL;
	if (mn__tls_worker && mn__tls_worker->rt == rt)
		return MN_EINVAL; /* a handler must not block its worker */
	return mn__persist_compact(rt, keep_history, st);
}

int mn_actor_delete(mn_runtime *rt, const char *kind, const char *key)
{
	if (!rt || !kind)
		return MN_EINVAL;
	if (mn__tls_worker && mn__tls_worker->rt == rt)
		return MN_EINVAL; /* a handler must not block its worker */
	size_t key_len = key ? strlen(key) : 0;
	if (!key || key_len == 0 || key_len > MN_KEY_MAX)
		return MN_EKEY;
	const mn_kind *k = mn_kind_find(rt, kind);
	if (!k)
		return MN_ENOKIND;
	if (!rt->persist || !k->persistent)
		return MN_ENOTSUP;
	int rc = ext_enter(rt);
	if (rc)
		return rc;
	rc = mn__persist_delete(rt, k, key, key_len);
	ext_leave(rt);
	return rc;
}

int mn_kind_upgrade(mn_runtime *rt, const mn_kind_def *user_def,
		    uint32_t timeout_ms)
{
	mn_kind_def def;
	if (!rt || !user_def || mn__kind_def_load(&def, user_def) ||
	    !def.name || !def.init || !def.handle)
		return MN_EINVAL;
	if (mn__tls_worker && mn__tls_worker->rt == rt)
		return MN_EINVAL; /* a handler must not block its worker */
	mn_kind *k = (mn_kind *)mn_kind_find(rt, def.name);
	if (!k)
		return MN_ENOKIND;
	if (!rt->persist || !k->persistent)
		return MN_ENOTSUP;
	if (def.flags != k->def.flags)
		return MN_EINVAL;
	if (def.version < k->def.version) {
		char d[160];
		snprintf(d, sizeof d,
			 "kind %s runs version %u; version %u would misread "
			 "what it wrote",
			 k->name, (unsigned)k->def.version,
			 (unsigned)def.version);
		mn__store_set_errdetail(d);
		return MN_EVERSION;
	}
	int rc = ext_enter(rt);
	if (rc)
		return rc;
	rc = mn__persist_swap(rt, k, &def, timeout_ms);
	ext_leave(rt);
	return rc;
}

int mn_runtime_recovery(mn_runtime *rt, mn_recovery *out)
{
	if (!rt || !out)
		return MN_EINVAL;
	if (!rt->persist)
		return MN_ENOTSUP;
	mn__persist_recovery(rt, out);
	return 0;
}
