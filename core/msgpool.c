/*
 * msgpool.c - message buffers: worker pools, the depot, and outside
 * threads' caches (msgpool.h explains the flow and the depot protocol).
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "core/msgpool.h"

/* Buffers link through node.next while free. The owner of a free list is
 * the only thread that touches it, so relaxed accesses are enough; the
 * depot's CAS and exchange carry the hand-over between threads. */
static inline mn__msg *next_buf(const mn__msg *m)
{
	return (mn__msg *)atomic_load_explicit(&m->node.next,
					       memory_order_relaxed);
}

static inline void set_next_buf(mn__msg *m, mn__msg *next)
{
	/* node is the first member: a NULL next is a NULL link. */
	atomic_store_explicit(&m->node.next, (mn__mnode *)next,
			      memory_order_relaxed);
}

/* A chain head's link to the next chain (Q1): outbox_id, unused while the
 * buffer is free. */
static inline mn__msg *next_chain(const mn__msg *head)
{
	return (mn__msg *)(uintptr_t)head->outbox_id;
}

static inline void set_next_chain(mn__msg *head, mn__msg *next)
{
	head->outbox_id = (uint64_t)(uintptr_t)next;
}

static void free_list(mn__msg *m)
{
	while (m) {
		mn__msg *next = next_buf(m);
		free(m);
		m = next;
	}
}

static void free_chains(mn__msg *head)
{
	while (head) {
		mn__msg *next = next_chain(head);
		free_list(head);
		head = next;
	}
}

static inline unsigned class_of(size_t total)
{
	unsigned c = 0;
	while (c < MN__MSG_CLASSES && total > MN__MSG_CLASS_SIZE(c))
		c++;
	return c;
}

/* ---- the depot ---------------------------------------------------------- */

void mn__msgdepot_init(mn__msgdepot *d)
{
	for (unsigned c = 0; c < MN__MSG_CLASSES; c++) {
		atomic_init(&d->chains[c], NULL);
		atomic_init(&d->nchains[c], 0);
	}
}

void mn__msgdepot_clear(mn__msgdepot *d)
{
	for (unsigned c = 0; c < MN__MSG_CLASSES; c++) {
		free_chains(atomic_exchange_explicit(&d->chains[c], NULL,
						     memory_order_acquire));
		atomic_store_explicit(&d->nchains[c], 0, memory_order_relaxed);
	}
}

static inline uint32_t depot_max_chains(unsigned c)
{
	return (uint32_t)(MN__DEPOT_BYTES /
			  (MN__MSG_CLASS_SIZE(c) * MN__DEPOT_BATCH));
}

/* Push a full chain (a worker's overflow), or free it when the depot holds
 * its share already. */
static void depot_give(mn__msgdepot *d, unsigned c, mn__msg *chain)
{
	if (atomic_load_explicit(&d->nchains[c], memory_order_relaxed) >=
	    depot_max_chains(c)) {
		free_list(chain);
		return;
	}
	/* Q3: counted before it can be taken. */
	atomic_fetch_add_explicit(&d->nchains[c], 1, memory_order_relaxed);
	mn__msg *head =
	    atomic_load_explicit(&d->chains[c], memory_order_relaxed);
	do
		set_next_chain(chain, head);
	/* release: pairs with the acquire exchange in depot_take; publishes
	 * the chain's links and the buffers' last writes (Q1). */
	while (!atomic_compare_exchange_weak_explicit(
	    &d->chains[c], &head, chain, memory_order_release,
	    memory_order_relaxed));
}

/* Take every chain of class c (Q2), or NULL. */
static mn__msg *depot_take(mn__msgdepot *d, unsigned c)
{
	/* Cheap test first: an empty depot costs no write. */
	if (!atomic_load_explicit(&d->chains[c], memory_order_relaxed))
		return NULL;
	/* acquire: pairs with the release CAS in depot_give. */
	mn__msg *all =
	    atomic_exchange_explicit(&d->chains[c], NULL, memory_order_acquire);
	uint32_t k = 0;
	for (mn__msg *h = all; h; h = next_chain(h))
		k++;
	if (k)
		atomic_fetch_sub_explicit(&d->nchains[c], k,
					  memory_order_relaxed);
	return all;
}

/* ---- outside threads' caches ------------------------------------------- */

/* The calling thread's cache: only that thread touches it. free[c] is the
 * chain being used, chains[c] the further chains taken from a depot. */
typedef struct outside_cache {
	mn__msg *free[MN__MSG_CLASSES];
	mn__msg *chains[MN__MSG_CLASSES];
	bool at_exit; /* the thread-exit destructor is registered */
} outside_cache;

static _Thread_local outside_cache tls_cache;
static pthread_key_t cache_key;
static pthread_once_t cache_key_once = PTHREAD_ONCE_INIT;
static bool cache_key_ok; /* written once inside pthread_once */

void mn__msgcache_flush(void)
{
	outside_cache *oc = &tls_cache;
	for (unsigned c = 0; c < MN__MSG_CLASSES; c++) {
		free_list(oc->free[c]);
		free_chains(oc->chains[c]);
		oc->free[c] = oc->chains[c] = NULL;
	}
}

static void cache_at_exit(void *arg)
{
	(void)arg;
	mn__msgcache_flush();
}

static void cache_key_create(void)
{
	/* Without a key no cache is ever filled (cache_register fails):
	 * outside threads then allocate with malloc. */
	cache_key_ok = pthread_key_create(&cache_key, cache_at_exit) == 0;
}

static bool cache_register(outside_cache *oc)
{
	if (oc->at_exit)
		return true;
	pthread_once(&cache_key_once, cache_key_create);
	/* Any non-NULL value makes the destructor run at thread exit. */
	if (!cache_key_ok || pthread_setspecific(cache_key, oc) != 0)
		return false;
	oc->at_exit = true;
	return true;
}

static mn__msg *cache_get(mn__msgdepot *d, unsigned c)
{
	outside_cache *oc = &tls_cache;
	mn__msg *m = oc->free[c];

	if (!m) {
		m = oc->chains[c];
		if (!m) {
			if (!d || !cache_register(oc) ||
			    !(m = depot_take(d, c)))
				return NULL;
		}
		oc->chains[c] = next_chain(m);
	}
	oc->free[c] = next_buf(m);
	return m;
}

/* ---- allocation --------------------------------------------------------- */

mn__msg *mn__msg_get(mn__msgpool *p, mn__msgdepot *d, size_t total)
{
	unsigned c = class_of(total);
	mn__msg *m;

	if (c == MN__MSG_CLASSES) {
		m = malloc(total);
		if (m)
			m->size_class = MN__MSG_UNPOOLED;
		return m;
	}
	if (p) {
		if ((m = p->free[c]) != NULL) {
			p->free[c] = next_buf(m);
			p->n[c]--;
			return m;
		}
	} else if ((m = cache_get(d, c)) != NULL) {
		return m;
	}
	m = malloc(MN__MSG_CLASS_SIZE(c));
	if (m)
		m->size_class = (uint8_t)c;
	return m;
}

void mn__msg_put(mn__msgpool *p, mn__msgdepot *d, mn__msg *m)
{
	unsigned c = m->size_class;

	if (!p || c == MN__MSG_UNPOOLED) {
		free(m);
		return;
	}
	if (p->n[c] < MN__POOL_BYTES / MN__MSG_CLASS_SIZE(c)) {
		set_next_buf(m, p->free[c]);
		p->free[c] = m;
		p->n[c]++;
		return;
	}
	set_next_buf(m, p->ovf[c]);
	p->ovf[c] = m;
	if (++p->novf[c] == MN__DEPOT_BATCH) {
		depot_give(d, c, m);
		p->ovf[c] = NULL;
		p->novf[c] = 0;
	}
}

void mn__msgpool_clear(mn__msgpool *p)
{
	for (unsigned c = 0; c < MN__MSG_CLASSES; c++) {
		free_list(p->free[c]);
		free_list(p->ovf[c]);
		p->free[c] = p->ovf[c] = NULL;
		p->n[c] = p->novf[c] = 0;
	}
}
