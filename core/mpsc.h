/*
 * mpsc.h - the one intrusive multi-producer single-consumer queue of the
 * core (Vyukov's shape): nodes are embedded in the records queued, a stub
 * node stands in for "nothing", producers do one atomic exchange and one
 * store, the consumer walks links. Used by the mailbox (mailbox.h), the
 * scheduler's inject queue (sched.c) and the writer queue (persist.c).
 *
 * The producer end is one word, a node pointer whose low bit is a mark
 * (MN__MPSC_MARK) that only a consumer sets (mn__mpsc_close): the mailbox's
 * "empty and not scheduled". Queues that never close never see it.
 *
 * Two consumer shapes share the producer side:
 *   - detaching (mn__mpsc + mn__mpsc_pop): a returned node has left the
 *     queue; the stub is pushed back behind the last node so that it can
 *     leave (the inject queue, the writer queue);
 *   - retaining (the mailbox): the consumer keeps the last node it took as
 *     its cursor (mn__mpsc_next), and swaps it for the stub when it closes.
 *
 * Invariants (labels unique in the project):
 *  MQ1  A producer sets its node's next to NULL, exchanges the end (acq_rel,
 *       or seq_cst where a sleep protocol needs it: mn__mpsc_push_sc), then
 *       stores the link from the previous end to it (release). Between the
 *       two the queue is "busy": the consumer may see no next node while the
 *       end shows one. Busy is reported like empty (NULL), but it is not
 *       empty: the node is not lost, and the consumer must look again (never
 *       sleep or close on it: MQ4, MQ5). Violation: a node skipped, or read
 *       before its link.
 *  MQ2  One consumer at a time: the caller's discipline (the mailbox's
 *       owner worker, M2; the inject queue's try-lock; the writer thread).
 *       Violation: two consumers moving the cursor, a node returned twice.
 *  MQ3  Detaching: a node is returned only once its next is linked or the
 *       stub was pushed behind it, so no producer writes into it after it
 *       left; the caller may then reuse, requeue or free it. Violation: a
 *       link written into a freed record, or one already in another queue.
 *  MQ4  Drained (detaching) means head == stub and end == stub. The end
 *       alone is not enough: the stub pushed back behind a node (MQ3) can
 *       become the end while a producer that exchanged just before it has
 *       not linked yet. Violation: a consumer that sleeps with nodes queued.
 *  MQ5  Close (retaining): the consumer resets its cursor to the stub, then
 *       CASes the end from its last node to stub | mark (release). It fails
 *       when a producer exchanged since that node (linked or busy, MQ1);
 *       the consumer then keeps its old cursor. A producer whose exchange
 *       returns a marked word is the first after a close (the mailbox's M1).
 *       Violation: a node stranded behind a closed queue.
 *
 * Threads: producers any thread; the consumer per MQ2. Header-only: every
 * call is inline (the mailbox push is on every send).
 */
#ifndef MN_CORE_MPSC_H
#define MN_CORE_MPSC_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* A link, embedded in a queued record. */
typedef struct mn__mpsc_node {
	/* Written by the producer that links the next node (release), read by
	 * the consumer (acquire); relaxed where a lock orders it. */
	_Atomic(struct mn__mpsc_node *) next;
} mn__mpsc_node;

/* The mark bit of the producer end (MQ5). Nodes are pointer-aligned. */
#define MN__MPSC_MARK ((uintptr_t)1)

static inline mn__mpsc_node *mn__mpsc_unmark(uintptr_t w)
{
	return (mn__mpsc_node *)(w & ~MN__MPSC_MARK);
}

/* ---- producers (any thread) ------------------------------------------------
 */

static inline uintptr_t mn__mpsc_push_order(_Atomic(uintptr_t) *end,
					    mn__mpsc_node *n, memory_order mo)
{
	atomic_store_explicit(&n->next, NULL, memory_order_relaxed);
	/* acq_rel: acquire pairs with the release CAS of a close (MQ5: the
	 * consumer's reset of stub.next happens before our link into it) and
	 * with the previous producer's exchange; release orders the NULL
	 * link above before n is reachable. */
	uintptr_t prev = atomic_exchange_explicit(end, (uintptr_t)n, mo);
	/* release: pairs with the consumer's acquire load of next; publishes
	 * the record's contents (MQ1). */
	atomic_store_explicit(&mn__mpsc_unmark(prev)->next, n,
			      memory_order_release);
	return prev;
}

/* Append n (MQ1). Returns the previous end word, mark bit included. */
static inline uintptr_t mn__mpsc_push(_Atomic(uintptr_t) *end, mn__mpsc_node *n)
{
	return mn__mpsc_push_order(end, n, memory_order_acq_rel);
}

/* Append n with a seq_cst exchange: for a consumer that sleeps after a
 * seq_cst check of the end (the writer's W2). */
static inline uintptr_t mn__mpsc_push_sc(_Atomic(uintptr_t) *end,
					 mn__mpsc_node *n)
{
	return mn__mpsc_push_order(end, n, memory_order_seq_cst);
}

/* ---- the retaining consumer (the mailbox) ----------------------------------
 */

/* The node linked after cur, or NULL: none yet, or busy (MQ1). */
static inline mn__mpsc_node *mn__mpsc_next(mn__mpsc_node *cur)
{
	/* acquire: pairs with the release link in mn__mpsc_push_order. */
	return atomic_load_explicit(&cur->next, memory_order_acquire);
}

/* MQ5: mark the end closed if last is still the end. The caller reset
 * stub.next and its cursor first. True on success. */
static inline bool mn__mpsc_close(_Atomic(uintptr_t) *end, mn__mpsc_node *last,
				  mn__mpsc_node *stub)
{
	uintptr_t expect = (uintptr_t)last;
	/* release: pairs with the acquire exchange of the next producer. */
	return atomic_compare_exchange_strong_explicit(
	    end, &expect, (uintptr_t)stub | MN__MPSC_MARK, memory_order_release,
	    memory_order_relaxed);
}

/* ---- the detaching consumer (inject queue, writer queue) -------------------
 */

typedef struct mn__mpsc {
	/* The producer end: exchanged by producers (MQ1). */
	_Atomic(uintptr_t) end;
	/* The consumer's cursor: written by the consumer only (MQ2), relaxed;
	 * atomic so that other threads may read it as a hint. Its own cache
	 * line, apart from the producers' end. */
	alignas(64) _Atomic(mn__mpsc_node *) head;
	mn__mpsc_node stub;
} mn__mpsc;

/* An empty queue. Cannot fail. q must not move afterwards. */
static inline void mn__mpsc_init(mn__mpsc *q)
{
	atomic_init(&q->stub.next, NULL);
	atomic_init(&q->end, (uintptr_t)&q->stub);
	atomic_init(&q->head, &q->stub);
}

/* The next node, detached (MQ3), or NULL: empty, or busy (MQ1: look
 * again). Consumer only (MQ2). */
static inline mn__mpsc_node *mn__mpsc_pop(mn__mpsc *q)
{
	mn__mpsc_node *stub = &q->stub, *head, *next;

	head = atomic_load_explicit(&q->head, memory_order_relaxed);
	next = mn__mpsc_next(head);
	if (head == stub) {
		if (!next)
			return NULL;
		head = next;
		atomic_store_explicit(&q->head, head, memory_order_relaxed);
		next = mn__mpsc_next(head);
	}
	if (!next) {
		/* head is the last linked node: if it is also the end, put the
		 * stub behind it so that it can leave (MQ3); otherwise a
		 * producer is between its exchange and its link (MQ1). */
		if (atomic_load_explicit(&q->end, memory_order_acquire) !=
		    (uintptr_t)head)
			return NULL;
		mn__mpsc_push(&q->end, stub);
		next = mn__mpsc_next(head);
		if (!next)
			return NULL;
	}
	atomic_store_explicit(&q->head, next, memory_order_relaxed);
	return head;
}

/* MQ4: everything pushed so far was taken. Consumer only. seq_cst load of
 * the end: a sleeping consumer pairs it with mn__mpsc_push_sc. */
static inline bool mn__mpsc_drained(mn__mpsc *q)
{
	return atomic_load_explicit(&q->head, memory_order_relaxed) ==
		   &q->stub &&
	       atomic_load_explicit(&q->end, memory_order_seq_cst) ==
		   (uintptr_t)&q->stub;
}

/* A hint, any thread, no ordering of its own: something may be queued
 * (head or end is not the stub, or the stub has a next). */
static inline bool mn__mpsc_nonempty_hint(mn__mpsc *q)
{
	mn__mpsc_node *stub = &q->stub;
	return atomic_load_explicit(&q->head, memory_order_relaxed) != stub ||
	       atomic_load_explicit(&stub->next, memory_order_relaxed) ||
	       atomic_load_explicit(&q->end, memory_order_relaxed) !=
		   (uintptr_t)stub;
}

#endif
