/*
 * compact.c - online compaction (mn_runtime_compact): the caller queues a
 * request to the writer and waits; the writer runs it in steps between
 * commit groups, after writing exact heads (a full checkpoint). Threads:
 * the caller, the writer.
 */
#include "core/persist_int.h"

/* An online compaction: the caller's, on its stack until done is set. */
typedef struct compact_req {
	uint64_t keep;
	mn__compaction *c;
	mn_compact_stats st;
	int rc;
	bool done;
} compact_req;

/* Actors per compaction step (one transaction between commit groups). */
#define MN__COMPACT_STEP 256

/* One step of the requested compaction (writer thread). */
void mn__compact_step(mn__persist *p, compact_req *cr)
{
	int rc = atomic_load_explicit(&p->error, memory_order_relaxed);
	bool done = false;
	if (!rc && !cr->c) {
		/* Exact heads first: compaction reads them from the store. */
		mn__ckpt_all(p);
		rc = atomic_load_explicit(&p->error, memory_order_relaxed);
		if (!rc)
			rc =
			    mn__store_compact_begin(p->store, cr->keep, &cr->c);
	}
	if (!rc)
		rc = mn__store_compact_step(p->store, cr->c, MN__COMPACT_STEP,
					    &done);
	if (!rc && !done)
		return;
	if (cr->c) {
		mn__compact_stats cs;
		mn__store_compact_stats(cr->c, &cs);
		cr->st =
		    (mn_compact_stats){cs.actors,    cs.compacted, cs.entries,
				       cs.snapshots, cs.bytes,	   cs.held};
		mn__store_compact_end(cr->c);
		cr->c = NULL;
	}
	pthread_mutex_lock(&p->mu);
	cr->rc = rc;
	cr->done = true;
	p->cp.creq = NULL;
	pthread_cond_broadcast(&p->cp.compact_cv);
	pthread_mutex_unlock(&p->mu);
}

int mn__persist_compact(mn_runtime *rt, uint64_t keep, mn_compact_stats *st)
{
	mn__persist *p = rt->persist;
	compact_req cr = {.keep = keep};
	if (!p)
		return MN_ENOTSUP;
	pthread_mutex_lock(&p->mu);
	if (p->cp.creq || p->stop) {
		pthread_mutex_unlock(&p->mu);
		return p->stop ? MN_ECLOSED : MN_EBUSY;
	}
	p->cp.creq = &cr;
	pthread_cond_signal(&p->cv);
	while (!cr.done)
		pthread_cond_wait(&p->cp.compact_cv, &p->mu);
	pthread_mutex_unlock(&p->mu);
	if (st)
		*st = cr.st;
	return cr.rc;
}
