/*
 * runtime.c - the public face of the core: opening and closing a runtime,
 * kinds, sends from outside and from handlers, drain, and counters.
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
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/assert.h"
#include "core/hash.h"
#include "core/evict.h"
#include "core/mailbox.h"
#include "core/persist.h"
#include "core/runtime.h"
#include "storage/store.h"

/* The worker this thread is, if it is one (set by worker_main). */
extern _Thread_local mn__worker *mn__tls_worker;

/* Runtime generations (mn_runtime.gen): 0 is never used. */
static _Atomic uint64_t next_gen = 1;

/* The send cache of a thread that is not a worker (owner-only). */
static _Thread_local mn__sendcache tls_sendcache;

const char *mn_errdetail(void)
{
	return mn__store_errdetail();
}

/* ---- opening and closing ---------------------------------------------- */

int mn_runtime_open(const mn_runtime_opts *opts, mn_runtime **out)
{
	mn_runtime_opts o = {0};
	mn_runtime *rt;
	int rc;

	if (!out)
		return MN_EINVAL;
	*out = NULL;
	if (opts)
		o = *opts;
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
	rt->workers = aligned_alloc(
		64, (o.workers * sizeof *rt->workers + 63) & ~(size_t)63);
	if (!rt->workers) {
		rc = MN_ENOMEM;
		goto err_free_rt;
	}
	memset(rt->workers, 0, o.workers * sizeof *rt->workers);
	mn__reg_init(&rt->reg);
	pthread_mutex_init(&rt->kinds_mu, NULL);
	pthread_mutex_init(&rt->sleep_mu, NULL);
	pthread_cond_init(&rt->sleep_cv, NULL);
	mn__msgdepot_init(&rt->depot);
	mn__events_init(&rt->ev, &o);
	if ((rc = mn__injectq_init(&rt->inject)))
		goto err_destroy;
	for (unsigned i = 0; i < o.workers; i++) {
		mn__worker *w = &rt->workers[i];
		w->rt = rt;
		w->idx = i;
		w->rng = 0x9e3779b97f4a7c15ull * (i + 1);
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
	for (unsigned i = 0; i < o.workers; i++)
		mn__runq_destroy(&rt->workers[i].q);
	mn__injectq_destroy(&rt->inject);
	mn__events_destroy(&rt->ev);
	pthread_cond_destroy(&rt->sleep_cv);
	pthread_mutex_destroy(&rt->sleep_mu);
	pthread_mutex_destroy(&rt->kinds_mu);
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
	mn__maint_stop(rt->maint);
	rt->maint = NULL;
	mn__sched_stop(rt);
	/* Commit what the workers handled (their states already show it),
	 * write the checkpoint, close the store. */
	mn__persist_close(rt);

	mn__actor *a = mn__reg_take_all(&rt->reg);
	while (a) {
		mn__actor *next = mn__rq_next(a);
		actor_destroy(rt, a);
		a = next;
	}
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
	mn__reg_destroy(&rt->reg);
	free(rt->workers);
	free(rt);
}

/* ---- drain and counters ------------------------------------------------- */

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
static void counter_sums(mn_runtime *rt, uint64_t *sent, uint64_t *done)
{
	uint64_t d = 0, s = 0;

	for (unsigned i = 0; i < rt->nworkers; i++)
		d += atomic_load_explicit(&rt->workers[i].n_done,
					  memory_order_acquire);
	d += mn__persist_done(rt);
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
	counter_sums(rt, &sent, &done);
	return sent > done ? sent - done : 0;
}

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
		counter_sums(rt, &sent, &done);
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
	counter_sums(rt, &st->sent, &st->processed);
	st->handler_errors =
		atomic_load_explicit(&rt->ext_errors, memory_order_acquire);
	for (unsigned i = 0; i < rt->nworkers; i++) {
		mn__worker *w = &rt->workers[i];
		st->handler_errors += atomic_load_explicit(
			&w->n_errors, memory_order_acquire);
		st->steals +=
			atomic_load_explicit(&w->n_steals, memory_order_acquire);
		st->sleeps +=
			atomic_load_explicit(&w->n_sleeps, memory_order_acquire);
	}
	mn__reg_totals(&rt->reg, &st->actors, &st->actor_bytes,
		       &st->registry_bytes);
	st->workers = rt->nworkers;
	st->events = atomic_load_explicit(&rt->ev.delivered,
					  memory_order_relaxed);
	st->events_suppressed = atomic_load_explicit(&rt->ev.suppressed,
						     memory_order_relaxed);
	mn__persist_stats(rt, st);
}

/* ---- kinds -------------------------------------------------------------- */

int mn_kind_register(mn_runtime *rt, const mn_kind_def *def, mn_kind **out)
{
	mn_kind *k;
	size_t nlen;
	int rc = 0;

	if (out)
		*out = NULL;
	if (!rt || !def || !def->init || !def->handle || !def->name)
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

/* ---- sending ------------------------------------------------------------ */

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
 * held: a store read, but only on this rare path. */
static bool explicit_stored(mn_runtime *rt, const mn_kind *kind,
			    const void *key, size_t key_len)
{
	mn__actor_meta m;
	if (!kind->persistent || !rt->persist)
		return false;
	return mn__persist_find(rt, kind, key, key_len, &m) == 0;
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
	atomic_init(&a->rq_next, NULL);
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
static inline void count_sent(mn_runtime *rt, mn__worker *w,
			      const mn__sendx *x)
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

static bool actor_known(mn_runtime *rt, const mn_kind *kind, const void *key,
			size_t key_len);

/* A send to a kind whose stored messages are not all queued yet (G2): an
 * explicit kind's unknown actor is refused now, as it would be later; the
 * message, with its sender resolved, is counted as sent and parked. */
static int send_gated(mn_runtime *rt, mn__worker *w, const mn__actor *from,
		      const mn_kind *kind, const void *key, size_t key_len,
		      uint32_t type, const void *payload, size_t len,
		      const mn__sendx *x)
{
	if ((kind->def.flags & MN_KIND_EXPLICIT) &&
	    !actor_known(rt, kind, key, key_len))
		return MN_ENOACTOR;
	if (mn__persist_deleting(rt, kind, key, key_len))
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
	int rc = mn__persist_park(rt, w, kind, key, key_len, type, payload, len,
				  &y);
	/* A caller that counted the message counts its failure done. */
	if (rc && !x->counted)
		mn__persist_count_parked_done(rt);
	return rc;
}

/*
 * Deliver one message (steps 1-6 above). w is the sending worker or NULL
 * (outside, or the writer thread); from is the sending actor or NULL; x
 * carries flags, the outbox id of a stored message, and whether the
 * message was already counted as sent.
 */
int mn__send(mn_runtime *rt, mn__worker *w, const mn__actor *from,
	     const mn_kind *kind, const void *key, size_t key_len,
	     uint32_t type, const void *payload, size_t len,
	     const mn__sendx *x)
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
	mn__reg_lock(s);
	/* X1 (persist.c): nothing reaches an address being deleted. */
	if (kind->persistent && mn__persist_deleting(rt, kind, key, key_len)) {
		rc = MN__EDELETING;
		goto err_unlock;
	}
	a = mn__reg_find(s, h, kind->idx, key, key_len);
	if (!a) {
		if ((kind->def.flags & MN_KIND_EXPLICIT) &&
		    !(mflags & MN__MSG_SPAWN) && !explicit_stored(rt, kind, key,
								  key_len)) {
			rc = MN_ENOACTOR;
			goto err_unlock;
		}
		a = actor_new(s, kind, h, key, key_len);
		if (!a) {
			rc = MN_ENOMEM;
			goto err_unlock;
		}
		rc = mn__reg_insert(s, h, a);
		if (rc) {
			mn__reg_record_free(s, a, kind->persistent);
			goto err_unlock;
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

err_unlock:
	mn__reg_unlock(s);
	mn__msg_free(w, m);
	return rc;
}

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
static mn__worker *local_worker(mn_runtime *rt)
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

static int send_outside(mn_runtime *rt, const mn_kind *kind, const void *key,
			size_t key_len, uint32_t type, const void *payload,
			size_t len, uint32_t mflags)
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
	mn__sendx x = {.mflags = mflags};
	rc = mn__send(rt, local_worker(rt), NULL, kind, key, key_len, type,
		      payload, len, &x);
	ext_leave(rt);
	return rc == MN__EDELETING ? refused_deleting(kind, key, key_len) : rc;
}

int mn_send(mn_runtime *rt, const mn_kind *kind, const void *key,
	    size_t key_len, uint32_t type, const void *payload, size_t len)
{
	return send_outside(rt, kind, key, key_len, type, payload, len, 0);
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
	return send_outside(rt, k, key, key_len, type, payload, len, 0);
}

int mn_spawn(mn_runtime *rt, const mn_kind *kind, const void *key,
	     size_t key_len)
{
	return send_outside(rt, kind, key, key_len, 0, NULL, 0, MN__MSG_SPAWN);
}

/* Resident, or (persistent kinds) in the store. */
static bool actor_known(mn_runtime *rt, const mn_kind *kind, const void *key,
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

int mn_send_durable_async(mn_runtime *rt, const mn_kind *kind,
			  const void *key, size_t key_len, uint32_t type,
			  const void *payload, size_t len, mn_send_done_cb done,
			  void *arg)
{
	int rc = mn__check_send(rt, kind, key, key_len, payload, len);
	if (rc)
		return rc;
	if (!rt->persist)
		return MN_EINVAL;
	if ((kind->def.flags & MN_KIND_EXPLICIT) &&
	    !actor_known(rt, kind, key, key_len))
		return MN_ENOACTOR;
	if ((rc = mn__broken_check(&rt->ev, kind, key, key_len)))
		return rc;
	if (mn__persist_deleting(rt, kind, key, key_len))
		return refused_deleting(kind, key, key_len);
	if ((rc = ext_enter(rt)))
		return rc;
	rc = mn__persist_durable(rt, kind, key, key_len, type, payload, len,
				 done, arg);
	ext_leave(rt);
	return rc;
}

int mn_send_durable(mn_runtime *rt, const mn_kind *kind, const void *key,
		    size_t key_len, uint32_t type, const void *payload,
		    size_t len)
{
	durable_wait d = {.done = false};
	if (rt && local_worker(rt))
		return MN_EINVAL; /* a worker would wait for the writer */
	pthread_mutex_init(&d.mu, NULL);
	pthread_cond_init(&d.cv, NULL);
	int rc = mn_send_durable_async(rt, kind, key, key_len, type, payload,
				       len, durable_wake, &d);
	if (rc == 0) {
		pthread_mutex_lock(&d.mu);
		while (!d.done)
			pthread_cond_wait(&d.cv, &d.mu);
		pthread_mutex_unlock(&d.mu);
		rc = d.rc;
		if (rc) /* the writer's detail, for this thread */
			(void)mn__persist_error(rt);
	}
	pthread_cond_destroy(&d.cv);
	pthread_mutex_destroy(&d.mu);
	return rc;
}

/* ---- inside a handler --------------------------------------------------- */

int mn_ctx_send(mn_ctx *ctx, const mn_kind *kind, const void *key,
		size_t key_len, uint32_t type, const void *payload, size_t len)
{
	if (!ctx)
		return MN_EINVAL;
	int rc = mn__check_send(ctx->rt, kind, key, key_len, payload, len);
	if (rc)
		return rc;
	if (ctx->replaying)
		return 0; /* its effect was stored the first time */
	if (ctx->hold_sends)
		return mn__persist_hold_send(ctx, kind, key, key_len, type,
					     payload, len);
	mn__sendx x = {0};
	rc = mn__send(ctx->rt, ctx->w, ctx->actor, kind, key, key_len, type,
		      payload, len, &x);
	if (rc == MN__EDELETING) {
		/* As for a broken recipient: dropped there, not an error of
		 * this handler. */
		mn__event(&ctx->rt->ev, MN_EVENT_DROPPED, MN_ENOACTOR, kind, key,
			  key_len, 0,
			  "message type %u dropped: the actor is being deleted",
			  (unsigned)type);
		rc = 0;
	}
	return rc;
}

int mn_ctx_reply(mn_ctx *ctx, uint32_t type, const void *payload, size_t len)
{
	if (!ctx)
		return MN_EINVAL;
	mn_addr from;
	int rc = mn_ctx_sender(ctx, &from);
	if (rc)
		return rc;
	const mn_kind *k = ctx->replaying
				   ? ctx->replay_sender_kind
				   : ctx->rt->kinds[ctx->msg->sender_kind];
	return mn_ctx_send(ctx, k, from.key, from.key_len, type, payload, len);
}

void mn_ctx_self(const mn_ctx *ctx, mn_addr *out)
{
	out->kind = ctx->kind->name;
	out->key = ctx->actor->key;
	out->key_len = ctx->actor->key_len;
}

int mn_ctx_sender(const mn_ctx *ctx, mn_addr *out)
{
	const mn__msg *m = ctx->msg;
	if (ctx->replaying && ctx->replay_sender_kind) {
		out->kind = ctx->replay_sender_kind->name;
		out->key = ctx->replay_sender_key;
		out->key_len = ctx->replay_sender_key_len;
		return 0;
	}
	if (ctx->replaying || !m || m->sender_key_len == 0) {
		out->kind = NULL;
		out->key = NULL;
		out->key_len = 0;
		return MN_ENOACTOR;
	}
	out->kind = ctx->rt->kinds[m->sender_kind]->name;
	out->key = mn__msg_sender_key(m);
	out->key_len = m->sender_key_len;
	return 0;
}

const mn_kind *mn_ctx_kind(const mn_ctx *ctx)
{
	return ctx->kind;
}

void *mn_ctx_kind_arg(const mn_ctx *ctx)
{
	return ctx->kind->def.arg;
}

mn_runtime *mn_ctx_runtime(const mn_ctx *ctx)
{
	return ctx->rt;
}

unsigned mn_ctx_worker(const mn_ctx *ctx)
{
	return ctx->w->idx;
}

int mn_ctx_after(mn_ctx *ctx, uint64_t delay_ms, uint32_t type,
		 const void *payload, size_t len, uint64_t *id)
{
	if (!ctx || (!payload && len))
		return MN_EINVAL;
	if (!ctx->kind->persistent)
		return MN_ENOTSUP;
	if (len > ctx->rt->max_payload)
		return MN_ETOOBIG;
	if (ctx->replaying) {
		/* The id the first run returned, recorded in the entry. */
		size_t i = ctx->replay_timer_next++;
		if (id)
			*id = i < ctx->replay_ntimer_ids ? ctx->replay_timer_ids[i]
							 : 0;
		return 0;
	}
	if (!ctx->hold_sends) {
		if (id)
			*id = 0;
		return MN_EINVAL; /* not during init */
	}
	return mn__persist_after(ctx, delay_ms, type, payload, len, id);
}

int mn_ctx_cancel(mn_ctx *ctx, uint64_t id)
{
	if (!ctx || id < 2)
		return MN_EINVAL;
	if (!ctx->kind->persistent)
		return MN_ENOTSUP;
	if (ctx->replaying)
		return 0;
	if (!ctx->hold_sends)
		return MN_EINVAL;
	return mn__persist_cancel(ctx, id);
}

int mn_ctx_replaying(const mn_ctx *ctx)
{
	return ctx->replaying;
}

uint64_t mn_ctx_seq(const mn_ctx *ctx)
{
	return ctx->seq;
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

int mn_runtime_recovery(mn_runtime *rt, mn_recovery *out)
{
	if (!rt || !out)
		return MN_EINVAL;
	if (!rt->persist)
		return MN_ENOTSUP;
	mn__persist_recovery(rt, out);
	return 0;
}
