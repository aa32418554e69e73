/*
 * mailbox.h - an actor's mailbox: a lock-free multi-producer single-consumer
 * queue of messages, whose empty state doubles as "not scheduled".
 *
 * The queue is mpsc.h's, in its retaining shape, with a stub node embedded
 * in the actor: mb_head is the producer end (MQ1), mb_tail the consumer's
 * cursor, and the end's mark bit (MQ5) is "empty and not scheduled".
 * Producers append with one atomic exchange on the head; the single
 * consumer (the worker running the actor) walks from the tail.
 *
 * Invariants (docs/architecture.md repeats them):
 *  M1  Exactly one party schedules an actor: the producer whose exchange
 *      returned a marked head. Between that and a successful mark_empty the
 *      actor is "scheduled": in one run queue or running on one worker.
 *      Violation: an actor run on two workers at once, or never run.
 *  M2  Only the worker that took a scheduled actor from a run queue pops,
 *      marks empty or touches the consumer fields, until it puts the actor
 *      back in a run queue or marks it empty. Violation: data race on tail.
 *  M3  mark_empty succeeds only when head == tail, i.e. no producer has
 *      exchanged the head since the last linked node (MQ5); a producer that has
 *      exchanged but not yet linked makes it fail, and the consumer keeps
 *      the actor scheduled. Violation: a message stranded in an idle actor.
 *  M4  The node at the tail is the message being (or last) handled; it is
 *      freed when the tail moves past it or when mark_empty swaps it for
 *      the stub, so an idle actor holds no message memory. Violation: a
 *      message buffer per idle actor.
 *  M5  Producers push into an actor of a persistent kind while holding
 *      its registry shard lock, so that whoever holds that lock and sees
 *      the head marked knows no push is in progress (the basis for
 *      eviction). Actors of volatile kinds are never evicted (they leave
 *      the registry only at close, when no thread sends any more), so a
 *      sender that resolved one earlier may push without the lock (the
 *      send cache, runtime.c). Violation: a push into a freed actor.
 */
#ifndef MN_CORE_MAILBOX_H
#define MN_CORE_MAILBOX_H

#include <stdbool.h>

#include "core/actor.h"
#include "core/mpsc.h"

#define MN__MB_EMPTY MN__MPSC_MARK

/* Initialise an empty, unscheduled mailbox. Cannot fail. */
static inline void mn__mb_init(mn__actor *a)
{
	atomic_init(&a->mb_stub.next, NULL);
	a->mb_tail = &a->mb_stub;
	atomic_init(&a->mb_head, (uintptr_t)&a->mb_stub | MN__MB_EMPTY);
}

/*
 * Append m (any thread; shard lock held for persistent kinds: M5). Returns true
 * when the mailbox was empty and unscheduled: the caller now owns scheduling
 * the actor (M1).
 */
static inline bool mn__mb_push(mn__actor *a, mn__msg *m)
{
	/* MQ1 (acq_rel exchange: its acquire pairs with the release CAS in
	 * mn__mb_mark_empty, MQ5). */
	return (mn__mpsc_push(&a->mb_head, &m->node) & MN__MB_EMPTY) != 0;
}

/*
 * Take the next message (consumer only, M2), or NULL if none is linked yet.
 * *done is set to the node the tail moved past (a message whose handling
 * has finished, to be freed by the caller) or NULL.
 */
static inline mn__msg *mn__mb_pop(mn__actor *a, mn__msg **done)
{
	mn__mnode *tail = a->mb_tail;
	/* acquire: pairs with the release link in mn__mb_push. */
	mn__mnode *next = mn__mpsc_next(tail);
	*done = NULL;
	if (!next)
		return NULL;
	a->mb_tail = next;
	if (tail != &a->mb_stub)
		*done = (mn__msg *)tail;
	return (mn__msg *)next;
}

/*
 * After mn__mb_pop returned NULL: try to mark the mailbox empty and
 * unscheduled (consumer only). Returns true on success; the actor must then
 * not be touched by this worker any more (a producer may schedule it at
 * once), except that *done, the last handled message or NULL, is freed by
 * the caller. Returns false when a producer is mid-push (M3): the actor stays
 * scheduled and the caller must put it back in a run queue.
 */
static inline bool mn__mb_mark_empty(mn__actor *a, mn__msg **done)
{
	mn__mnode *tail = a->mb_tail;
	mn__mnode *stub = &a->mb_stub;

	*done = NULL;
	/* The consumer fields are reset before the CAS: once it succeeds,
	 * another worker may run the actor at once and read them. */
	if (tail != stub) {
		atomic_store_explicit(&stub->next, NULL, memory_order_relaxed);
		a->mb_tail = stub;
	}
	/* MQ5 (release CAS: the resets above happen before a producer links
	 * to the stub). */
	if (!mn__mpsc_close(&a->mb_head, tail, stub)) {
		a->mb_tail = tail;
		return false;
	}
	if (tail != stub)
		*done = (mn__msg *)tail;
	return true;
}

/* True if the mailbox is marked empty and unscheduled. Any thread; exact
 * only while the shard lock is held (M5). */
static inline bool mn__mb_idle(mn__actor *a)
{
	return (atomic_load_explicit(&a->mb_head, memory_order_acquire) &
		MN__MB_EMPTY) != 0;
}

#endif
