/*
 * admit.h - admission control (admit.c): max_resident held at the door,
 * not only by the evictor after the fact. The count of resident actors of
 * persistent kinds (every record in the registry, evictions under way
 * included), the outside senders' wait for room, the messages of senders
 * that must not wait (workers, the writer, the maintenance and I/O
 * threads) parked per registry shard until room frees, and the kick that
 * wakes the evictor. Below the send engine: it calls nothing in core/.
 * The protocol (AC1-AC5) is stated in admit.c.
 */
#ifndef MN_CORE_ADMIT_H
#define MN_CORE_ADMIT_H

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/actor.h"
#include "core/registry.h"

/* Evictions are stalled when for this long no record left memory while
 * nothing could make one evictable (no eviction under way, no message in
 * flight but the parked ones): every resident actor broken or never run.
 * The maintenance thread decides it (mn__admit.stalled); then one waiter
 * or one parked address at a time is admitted over the bound (counted in
 * admission_overruns). An outside sender also goes in after
 * MN__ADMIT_WAIT_MAX_MS in all, a safety net. */
#define MN__ADMIT_STALL_MS    200
#define MN__ADMIT_WAIT_MAX_MS 10000

/* A message parked for admission (AC3): the target address and the
 * message, in its shard's FIFO. */
typedef struct mn__apark {
	struct mn__apark *next;
	mn__msg *m;
	uint64_t hash;
	uint16_t kind_idx;
	uint8_t key_len;
	unsigned char key[];
} mn__apark;

/*
 * One per runtime (inside mn_runtime). bound: immutable after open (0: no
 * admission control, nothing below but kmu/kcv is touched). resident,
 * peak, nparked: atomics (see admit.c). park_head/park_tail[i]: under the
 * lock of registry shard i. mu/cv: the outside waiters. kmu/kcv: the
 * maintenance thread sleeps on them (its stop flag is under kmu);
 * kick_pending: set by a kick before it signals under kmu, cleared by the
 * maintenance thread at the start of a tick and read under kmu before it
 * sleeps, so a kick is never lost.
 */
typedef struct mn__admit {
	uint64_t bound;
	pthread_mutex_t kmu;
	pthread_cond_t kcv;
	_Atomic bool kick_pending;
	alignas(64) _Atomic uint64_t resident;
	_Atomic uint64_t peak;
	_Atomic uint64_t released; /* records that left memory (progress) */
	_Atomic bool stalled;	   /* AC4: set by the maintenance thread */
	alignas(64) _Atomic uint64_t nparked;
	_Atomic unsigned nwaiting;
	_Atomic uint64_t waits, parks, overruns;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	mn__apark *park_head[MN__REG_SHARDS], *park_tail[MN__REG_SHARDS];
} mn__admit;

/* Set on the runtime's own threads (writer, maintenance, I/O, ask timer)
 * at their start: a send from one of them, also through the public calls
 * from a callback they run (on_bridge_call, on_event, an ask's done),
 * never waits for admission (AC3: the evictions it would wait for may
 * need that thread). Workers are told apart by their worker record. */
extern _Thread_local bool mn__tls_no_admit_wait;

/* Set up a (zeroed by the caller) with bound (0: off). Cannot fail. */
void mn__admit_init(mn__admit *a, uint64_t bound);
/* Free the parked messages left (dropped unhandled, like queued ones) and
 * the lock. After every thread that sends stopped. */
void mn__admit_destroy(mn__admit *a);

static inline bool mn__admit_on(const mn__admit *a)
{
	return a->bound != 0;
}

/* Take one slot for a new record if resident < bound (AC1); true when
 * taken. Any thread, no lock. */
bool mn__admit_try(mn__admit *a);
/* Take one slot whatever the count (AC4: a stalled wait). */
void mn__admit_force(mn__admit *a);
/* Give back a slot taken for a record that was never created. */
static inline void mn__admit_untake(mn__admit *a)
{
	atomic_fetch_sub_explicit(&a->resident, 1, memory_order_relaxed);
}
/* n records left memory (AC2): give their slots back, wake the waiters and,
 * with messages parked, the evictor (which also admits parked messages).
 * Any thread; call it after the shard lock is released. */
void mn__admit_release(mn__admit *a, uint64_t n);
/* Whether an outside sender must wait before creating a record: no room,
 * or parked messages are ahead of it (AC3). A hint (relaxed loads). */
bool mn__admit_full(mn__admit *a);
/*
 * An outside sender waits for room (AC2): returns when mn__admit_full is
 * false, or (then true: the caller takes its slot with mn__admit_force)
 * when closed reads true, evictions are stalled or the wait reached
 * MN__ADMIT_WAIT_MAX_MS (AC4). *waited_ms accumulates
 * this sender's wait across calls. Never on a worker, the writer or any
 * runtime thread. Wakes the evictor first.
 */
bool mn__admit_wait(mn__admit *a, _Atomic bool *closed, uint64_t *waited_ms);
/* Wake the evictor (the maintenance thread) now. Any thread; a mutex
 * taken only when no kick is pending. */
void mn__admit_kick(mn__admit *a);

/* Park m for (kind_idx, key) at the end of shard si's FIFO (AC3). Shard
 * si locked. Returns 0 or MN_ENOMEM. */
int mn__admit_park(mn__admit *a, size_t si, uint64_t hash, uint16_t kind_idx,
		   const void *key, size_t key_len, mn__msg *m);
/* Whether shard si has a message parked for this address (AC3: a send to
 * it parks behind). Shard si locked; O(parked in the shard). */
bool mn__admit_parked_for(const mn__admit *a, size_t si, uint64_t hash,
			  uint16_t kind_idx, const void *key, size_t key_len);
/* Unlink and return the first parked node of shard si, and the nodes
 * after it for the same address, in order, as a list (NULL: none). Shard
 * si locked. */
mn__apark *mn__admit_unpark(mn__admit *a, size_t si);
/* Unlink and return every node parked for this address, in order (NULL:
 * none). Shard si locked. */
mn__apark *mn__admit_take_addr(mn__admit *a, size_t si, uint64_t hash,
			       uint16_t kind_idx, const void *key,
			       size_t key_len);
/* Put a list mn__admit_unpark returned back at the front of shard si's
 * FIFO, in order (its address cannot be admitted now). Shard si locked. */
void mn__admit_putback(mn__admit *a, size_t si, mn__apark *list);

#endif
