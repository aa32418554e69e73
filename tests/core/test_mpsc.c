/*
 * test_mpsc.c - core/mpsc.h, the one intrusive MPSC queue (MQ1-MQ5).
 * (a) Detaching shape (inject and writer queues): 4 producer threads push
 * 20,000 numbered items each while one consumer pops; every item arrives
 * exactly once and in its producer's order, and the queue ends drained.
 * (b) Retaining shape with close (the mailbox): the same traffic, the
 * consumer closing the queue whenever it runs dry; exactly one producer
 * sees each close (the marked end), nothing is stranded behind a close.
 * (c) The stub and empty states: pop on an empty queue returns nothing,
 * push after a drain works (several cycles). (d) The transient state of a
 * producer between its exchange and its link (done by hand here): the
 * consumer reports it as empty (NULL), yet not drained and not closable,
 * and the node arrives once linked.
 */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "core/mpsc.h"
#include "tests/support/support.h"

#define PRODUCERS    4
#define PER_PRODUCER 20000

typedef struct item {
	mn__mpsc_node node; /* first: a node is its item */
	unsigned producer;
	unsigned seq;
} item;

static item *items;		     /* [PRODUCERS][PER_PRODUCER] */
static _Atomic(uintptr_t) *push_end; /* the end producers push to */
static _Atomic unsigned marks_seen;  /* (b): pushes that found a close */

static item *item_at(unsigned p, unsigned i)
{
	return &items[(size_t)p * PER_PRODUCER + i];
}

static void *producer_main(void *arg)
{
	unsigned p = (unsigned)(uintptr_t)arg;
	for (unsigned i = 0; i < PER_PRODUCER; i++) {
		item *it = item_at(p, i);
		it->producer = p;
		it->seq = i;
		uintptr_t prev = mn__mpsc_push(push_end, &it->node);
		if (prev & MN__MPSC_MARK)
			atomic_fetch_add_explicit(&marks_seen, 1,
						  memory_order_relaxed);
		if ((i & 1023) == 0)
			sched_yield(); /* vary the interleaving */
	}
	return NULL;
}

static void start_producers(pthread_t *t)
{
	items = calloc((size_t)PRODUCERS * PER_PRODUCER, sizeof *items);
	assert_non_null(items);
	for (unsigned p = 0; p < PRODUCERS; p++)
		assert_int_equal(pthread_create(&t[p], NULL, producer_main,
						(void *)(uintptr_t)p),
				 0);
}

static void join_producers(pthread_t *t)
{
	for (unsigned p = 0; p < PRODUCERS; p++)
		assert_int_equal(pthread_join(t[p], NULL), 0);
}

/* One received item: exactly once, in its producer's order. */
static void received(const item *it, unsigned *next, unsigned char *seen)
{
	assert_true(it >= items && it < items + PRODUCERS * PER_PRODUCER);
	size_t idx = (size_t)(it - items);
	assert_int_equal(seen[idx], 0);
	seen[idx] = 1;
	assert_int_equal(it->seq, next[it->producer]);
	next[it->producer]++;
}

/* ---- (a) detaching ----------------------------------------------------------
 */

static void test_detaching_many_producers(void **state)
{
	(void)state;
	static mn__mpsc q;
	unsigned next[PRODUCERS] = {0};
	unsigned char *seen = calloc((size_t)PRODUCERS * PER_PRODUCER, 1);
	pthread_t t[PRODUCERS];
	size_t got = 0, nulls = 0;

	assert_non_null(seen);
	mn__mpsc_init(&q);
	push_end = &q.end;
	start_producers(t);
	while (got < (size_t)PRODUCERS * PER_PRODUCER) {
		mn__mpsc_node *n = mn__mpsc_pop(&q);
		if (!n) {
			nulls++;
			sched_yield();
			continue;
		}
		received((const item *)n, next, seen);
		got++;
	}
	join_producers(t);
	for (unsigned p = 0; p < PRODUCERS; p++)
		assert_int_equal(next[p], PER_PRODUCER);
	assert_null(mn__mpsc_pop(&q));
	assert_true(mn__mpsc_drained(&q));
	assert_false(mn__mpsc_nonempty_hint(&q));
	free(seen);
	free(items);
}

/* ---- (b) retaining, with close ------------------------------------------- */

static void test_retaining_close_many_producers(void **state)
{
	(void)state;
	static _Atomic(uintptr_t) end;
	static mn__mpsc_node stub;
	mn__mpsc_node *cur = &stub;
	unsigned next[PRODUCERS] = {0};
	unsigned char *seen = calloc((size_t)PRODUCERS * PER_PRODUCER, 1);
	pthread_t t[PRODUCERS];
	size_t got = 0;
	unsigned closes = 0;

	assert_non_null(seen);
	atomic_init(&stub.next, NULL);
	atomic_init(&end, (uintptr_t)&stub | MN__MPSC_MARK); /* closed */
	atomic_init(&marks_seen, 0);
	push_end = &end;
	start_producers(t);
	while (got < (size_t)PRODUCERS * PER_PRODUCER) {
		/* Closed: wait for the producer that reopens it (the one
		 * whose exchange returned the mark; the mailbox's M1). */
		if (atomic_load_explicit(&marks_seen, memory_order_relaxed) <=
		    closes) {
			sched_yield();
			continue;
		}
		mn__mpsc_node *n = mn__mpsc_next(cur);
		if (n) {
			cur = n;
			received((const item *)n, next, seen);
			got++;
			continue;
		}
		/* Dry: close (MQ5), as mn__mb_mark_empty does. */
		mn__mpsc_node *last = cur;
		if (last != &stub) {
			atomic_store_explicit(&stub.next, NULL,
					      memory_order_relaxed);
			cur = &stub;
		}
		if (mn__mpsc_close(&end, last, &stub))
			closes++;
		else
			cur = last; /* a producer is mid-push: stay open */
	}
	join_producers(t);
	/* Each close was seen by exactly one producer, plus the initial one. */
	assert_int_equal(atomic_load(&marks_seen), closes + 1);
	assert_null(mn__mpsc_next(cur));
	free(seen);
	free(items);
}

/* ---- (c) the stub and the empty queue -------------------------------------
 */

static void test_empty_and_stub(void **state)
{
	(void)state;
	mn__mpsc q;
	item a = {0}, b = {0};

	mn__mpsc_init(&q);
	assert_null(mn__mpsc_pop(&q));
	assert_null(mn__mpsc_pop(&q));
	assert_true(mn__mpsc_drained(&q));
	assert_false(mn__mpsc_nonempty_hint(&q));
	for (int round = 0; round < 3; round++) {
		/* One node: it can leave only with the stub behind it. */
		assert_int_equal(mn__mpsc_push(&q.end, &a.node) & MN__MPSC_MARK,
				 0);
		assert_true(mn__mpsc_nonempty_hint(&q));
		assert_false(mn__mpsc_drained(&q));
		assert_ptr_equal(mn__mpsc_pop(&q), &a.node);
		assert_null(mn__mpsc_pop(&q));
		assert_true(mn__mpsc_drained(&q));
		/* Two nodes, then a push after the drain. */
		mn__mpsc_push(&q.end, &a.node);
		mn__mpsc_push_sc(&q.end, &b.node);
		assert_ptr_equal(mn__mpsc_pop(&q), &a.node);
		assert_false(mn__mpsc_drained(&q));
		assert_ptr_equal(mn__mpsc_pop(&q), &b.node);
		assert_null(mn__mpsc_pop(&q));
		assert_true(mn__mpsc_drained(&q));
		assert_false(mn__mpsc_nonempty_hint(&q));
	}
}

/* ---- (d) a producer between exchange and link ------------------------------
 */

/* MQ1's first half, by hand: the exchange without the link. */
static uintptr_t exchange_only(_Atomic(uintptr_t) *end, mn__mpsc_node *n)
{
	atomic_store_explicit(&n->next, NULL, memory_order_relaxed);
	return atomic_exchange_explicit(end, (uintptr_t)n,
					memory_order_acq_rel);
}

static void link_now(uintptr_t prev, mn__mpsc_node *n)
{
	atomic_store_explicit(&mn__mpsc_unmark(prev)->next, n,
			      memory_order_release);
}

static void test_busy_is_empty_not_lost(void **state)
{
	(void)state;
	mn__mpsc q;
	item a = {0}, b = {0};

	/* Alone in the queue, not linked yet. */
	mn__mpsc_init(&q);
	uintptr_t prev = exchange_only(&q.end, &a.node);
	assert_null(mn__mpsc_pop(&q));
	assert_false(mn__mpsc_drained(&q)); /* not empty: never sleep on it */
	assert_true(mn__mpsc_nonempty_hint(&q));
	link_now(prev, &a.node);
	assert_ptr_equal(mn__mpsc_pop(&q), &a.node);
	assert_true(mn__mpsc_drained(&q));

	/* Behind a linked node: that node cannot leave yet (its next will be
	 * written by the busy producer, MQ3), and nothing is lost. */
	mn__mpsc_push(&q.end, &a.node);
	prev = exchange_only(&q.end, &b.node);
	assert_null(mn__mpsc_pop(&q));
	assert_null(mn__mpsc_pop(&q));
	assert_false(mn__mpsc_drained(&q));
	link_now(prev, &b.node);
	assert_ptr_equal(mn__mpsc_pop(&q), &a.node);
	assert_ptr_equal(mn__mpsc_pop(&q), &b.node);
	assert_null(mn__mpsc_pop(&q));
	assert_true(mn__mpsc_drained(&q));

	/* MQ4: the consumer put the stub back (its check of the end was
	 * before a producer's exchange): the end is the stub, but the head
	 * still holds nodes, so the queue is not drained. */
	mn__mpsc_push(&q.end, &a.node);
	prev = exchange_only(&q.end, &b.node);
	assert_null(mn__mpsc_pop(&q));	/* head moved to a; b busy */
	mn__mpsc_push(&q.end, &q.stub); /* the racing stub push, by hand */
	assert_true(atomic_load(&q.end) == (uintptr_t)&q.stub);
	assert_false(mn__mpsc_drained(&q));
	assert_true(mn__mpsc_nonempty_hint(&q));
	link_now(prev, &b.node);
	assert_ptr_equal(mn__mpsc_pop(&q), &a.node);
	assert_ptr_equal(mn__mpsc_pop(&q), &b.node);
	assert_null(mn__mpsc_pop(&q));
	assert_true(mn__mpsc_drained(&q));

	/* Retaining: a close fails while a producer is busy (MQ5), and the
	 * node arrives after the link. */
	_Atomic(uintptr_t) end;
	mn__mpsc_node stub;
	atomic_init(&stub.next, NULL);
	atomic_init(&end, (uintptr_t)&stub);
	mn__mpsc_push(&end, &a.node);
	assert_ptr_equal(mn__mpsc_next(&stub), &a.node);
	prev = exchange_only(&end, &b.node);
	assert_null(mn__mpsc_next(&a.node));
	assert_false(mn__mpsc_close(&end, &a.node, &stub));
	link_now(prev, &b.node);
	assert_ptr_equal(mn__mpsc_next(&a.node), &b.node);
	atomic_store_explicit(&stub.next, NULL, memory_order_relaxed);
	assert_true(mn__mpsc_close(&end, &b.node, &stub));
	/* The first push after a close sees the mark, and links to the stub. */
	assert_true(mn__mpsc_push(&end, &a.node) & MN__MPSC_MARK);
	assert_ptr_equal(mn__mpsc_next(&stub), &a.node);
	assert_false(mn__mpsc_push(&end, &b.node) & MN__MPSC_MARK);
}

int main(void)
{
	mt_init("core/mpsc");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_detaching_many_producers, mt_setup),
	    cmocka_unit_test_setup(test_retaining_close_many_producers,
				   mt_setup),
	    cmocka_unit_test_setup(test_empty_and_stub, mt_setup),
	    cmocka_unit_test_setup(test_busy_is_empty_not_lost, mt_setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
