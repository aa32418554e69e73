/*
 * msgpool.h - message buffers: per-worker pools, the runtime's depot, and
 * the cache of each thread that sends from outside the workers.
 *
 * A message buffer is one malloc block in one of MN__MSG_CLASSES size
 * classes (total sizes 80 << c, 80 to 1,280 bytes: a 48-byte header leaves
 * 32 bytes for the payload and sender key of the smallest, and 1 KiB
 * payloads fit the largest), or a block of its exact size for larger
 * messages (MN__MSG_UNPOOLED). Buffers are allocated by the sending
 * thread and freed by the worker that handled the message, so the free
 * lists must carry buffers from where they are freed to where they are
 * needed:
 *
 *   - a worker keeps the buffers it frees in its own pool (owner-only free
 *     lists, at most MN__POOL_BYTES per class) and hands them to the
 *     messages it sends;
 *   - what a full pool cannot keep goes to the runtime's depot, in chains
 *     of MN__DEPOT_BATCH buffers (one atomic compare-and-swap per chain),
 *     at most MN__DEPOT_BYTES per class; beyond that, to free();
 *   - a thread sending from outside (the application's threads, the
 *     writer) takes every chain in the depot with one atomic exchange into
 *     a cache of its own (thread-local), and allocates from that cache
 *     without atomics. Its buffers are plain malloc blocks, so the cache
 *     serves any runtime; it is freed when the thread exits, or by
 *     mn__msgcache_flush (mn_runtime_close flushes the closing thread's).
 *
 * Without the depot, one outside thread creating actors spent about 30% of
 * its time in malloc: the workers' frees of its buffers went back to its
 * glibc arena under the arena lock, and each malloc then found them in
 * bins to consolidate (docs/performance.md).
 *
 * Depot protocol (a Treiber stack whose only removal is "take all"):
 *  Q1  A chain is pushed whole: its buffers are linked through node.next
 *      (NULL-terminated), and its first buffer's outbox_id holds the next
 *      chain, written before the release CAS that publishes the chain.
 *  Q2  Removal exchanges the head with NULL (acquire): it takes the whole
 *      stack, so no thread ever reads a chain's link through a head it
 *      does not own, and a pusher's CAS cannot be fooled by a head that was
 *      taken and pushed again (ABA): the pushed chain's link is the head it
 *      saw, which is again a whole stack. Violation of either: a chain
 *      lost or handed out twice.
 *  Q3  nchains is raised before a push and lowered, by the number taken,
 *      after a take (the take happens after the push, so the count never
 *      drops below zero); it is only a bound on the depot's memory, read
 *      relaxed.
 */
#ifndef MN_CORE_MSGPOOL_H
#define MN_CORE_MSGPOOL_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/actor.h"

/* Five classes: with four (up to 640 bytes), 1 KiB payloads sent from
 * outside were malloc'd by the sender and freed by a worker; the fifth made
 * bench/durable.c's 1 KiB phase 15% faster (median 252k against 219k msg/s,
 * 8 interleaved runs). */
#define MN__MSG_CLASSES	      5
#define MN__MSG_CLASS_SIZE(c) ((size_t)80 << (c))
#define MN__MSG_UNPOOLED      0xff
/* Most bytes a worker's pool keeps per class. */
#define MN__POOL_BYTES (64 * 1024)
/* Buffers per depot chain. */
#define MN__DEPOT_BATCH 32
/* Most bytes the depot keeps per class (and so the most one take hands an
 * outside thread's cache). */
#define MN__DEPOT_BYTES (256 * 1024)

/* A worker's pool: owner-only (the worker thread). */
typedef struct mn__msgpool {
	mn__msg *free[MN__MSG_CLASSES]; /* linked through node.next */
	uint32_t n[MN__MSG_CLASSES];
	/* Buffers the full pool could not keep, gathered into the next
	 * chain for the depot. */
	mn__msg *ovf[MN__MSG_CLASSES];
	uint32_t novf[MN__MSG_CLASSES];
} mn__msgpool;

/* The runtime's depot: pushed by workers (CAS), taken by any other thread
 * (exchange), Q1-Q3. */
typedef struct mn__msgdepot {
	alignas(64) _Atomic(mn__msg *) chains[MN__MSG_CLASSES];
	_Atomic uint32_t nchains[MN__MSG_CLASSES];
} mn__msgdepot;

/* An empty depot. Cannot fail. */
void mn__msgdepot_init(mn__msgdepot *d);

/* Free every buffer in the depot. Only when no thread uses it (close). */
void mn__msgdepot_clear(mn__msgdepot *d);

/* A buffer of total bytes (header included): from pool p (the calling
 * worker's), or when p is NULL from the calling thread's outside cache,
 * refilled from depot d. size_class is set. Returns NULL when out of
 * memory. */
mn__msg *mn__msg_get(mn__msgpool *p, mn__msgdepot *d, size_t total);

/* Release a buffer: into pool p (the calling worker's; its overflow goes
 * to depot d, then to free()), or to free() when p is NULL. */
void mn__msg_put(mn__msgpool *p, mn__msgdepot *d, mn__msg *m);

/* Free every buffer in a worker's pool (its owner gone: close). */
void mn__msgpool_clear(mn__msgpool *p);

/* Free the calling thread's outside cache. Any thread, any time. */
void mn__msgcache_flush(void);

#endif
