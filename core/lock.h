/*
 * lock.h - mn__lock, a small test-and-test-and-set spinlock for the short
 * critical sections of the registry shards and run queues (tens of
 * nanoseconds: a probe and a push). Measured against pthread mutexes on
 * skynet with 2 workers, mutexes spent their time in futex wake-ups; a
 * spinner that yields after MN__LOCK_SPINS attempts keeps the fast path to
 * one atomic exchange and still lets a preempted holder run when threads
 * outnumber cores.
 */
#ifndef MN_CORE_LOCK_H
#define MN_CORE_LOCK_H

#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>

#define MN__LOCK_SPINS 64

typedef struct mn__lock {
	_Atomic int held;
} mn__lock;

static inline void mn__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

static inline void mn__lock_init(mn__lock *l)
{
	atomic_init(&l->held, 0);
}

static inline void mn__lock_acquire(mn__lock *l)
{
	for (;;) {
		/* acquire: pairs with the release in mn__lock_release. */
		if (!atomic_exchange_explicit(&l->held, 1,
					      memory_order_acquire))
			return;
		for (unsigned spins = 0;
		     atomic_load_explicit(&l->held, memory_order_relaxed);) {
			if (++spins < MN__LOCK_SPINS)
				mn__cpu_relax();
			else
				sched_yield();
		}
	}
}

/* Take the lock if it is free; true on success. */
static inline bool mn__lock_try(mn__lock *l)
{
	/* acquire: pairs with the release in mn__lock_release. */
	return !atomic_load_explicit(&l->held, memory_order_relaxed) &&
	       !atomic_exchange_explicit(&l->held, 1, memory_order_acquire);
}

static inline void mn__lock_release(mn__lock *l)
{
	atomic_store_explicit(&l->held, 0, memory_order_release);
}

#endif
