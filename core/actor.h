/*
 * actor.h - the in-memory records of an actor and of a queued message.
 *
 * An actor record is the runtime's whole per-actor cost while it is
 * resident: mailbox ends, the stub node of its queue, run-queue and registry
 * links, the state pointer, and the key inline. The fields are grouped by
 * the thread that may touch them; docs/architecture.md explains the groups.
 */
#ifndef MN_CORE_ACTOR_H
#define MN_CORE_ACTOR_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/mpsc.h"
#include "include/mnemo.h"

/* A link of an intrusive queue (mpsc.h). Message records start with one;
 * an actor embeds one as the stub of its mailbox. */
typedef mn__mpsc_node mn__mnode;

/* Message flags private to the runtime (above the public MN_MSG_* bits). */
#define MN__MSG_SPAWN 0x100u /* created by mn_spawn: runs init, not handle */
/* A live view (mn_actor_view): describe() on the worker, answered as an
 * ask (sender_id its id), never handled, never journaled. */
#define MN__MSG_VIEW 0x200u
/* (MN_MSG_TIMER 0x2: outbox_id then holds the timer id) */
#define MN__MSG_PUBLIC_MASK 0xffu

/*
 * A queued message: one allocation holding the header, the payload and the
 * sender's key. Written only by the sending thread before the push; read
 * only by the worker running the recipient after the pop; freed by that
 * worker (or by close).
 */
typedef struct mn__msg {
	mn__mnode node; /* must stay first: the mailbox links messages */
	uint32_t type;
	uint32_t flags;		/* MN_MSG_* | MN__MSG_* */
	size_t len;		/* payload bytes at data[0] */
	uint16_t sender_kind;	/* kind index of the sender; valid if key_len */
	uint8_t sender_key_len; /* 0 means external sender */
	uint8_t size_class;	/* message pool class, MN__MSG_UNPOOLED */
	uint32_t reserved;
	uint64_t sender_id;   /* the sender's store id (0: none/outside) */
	uint64_t outbox_id;   /* stored in the outbox under this id (0: not) */
	unsigned char data[]; /* payload, then sender key */
} mn__msg;

_Static_assert(offsetof(mn__msg, data) == 48,
	       "message header grew: update docs/architecture.md");

static inline const unsigned char *mn__msg_sender_key(const mn__msg *m)
{
	return m->data + m->len;
}

/* Actor flags (owner-only field: the worker running the actor). */
#define MN__ACTOR_INITIALIZED 0x1u
#define MN__ACTOR_NEW	      0x2u /* persistent, not yet in the store */
#define MN__ACTOR_BROKEN      0x4u /* could not be brought back from the store */

typedef struct mn__actor {
	/* Run-queue link: owned by whoever holds the lock of the run queue the
	 * actor is in (an actor is in at most one run queue, and only while
	 * scheduled); in the inject queue, written once by the producer that
	 * links the next actor (release) and read by the consumer (acquire),
	 * see sched.c. Relaxed everywhere else (mn__rq_next). Reused to list
	 * actors at close. First, so that the link is the actor (a cast,
	 * NULL for NULL: no test on the run queues' paths). */
	mn__mpsc_node rq_next;

	/* Producer end of the mailbox: any thread pushes with an atomic
	 * exchange while holding the actor's registry shard lock (see
	 * mailbox.h, invariant M1). Low bit 1 = empty and not scheduled. */
	_Atomic(uintptr_t) mb_head;

	/* Consumer group: only the worker currently running the actor (the
	 * one that took it from a run queue) touches these. */
	mn__mnode *mb_tail;
	mn__mnode mb_stub;
	void *state;
	uint8_t flags; /* MN__ACTOR_* */

	/* Immutable after creation: read by any thread holding a reference. */
	uint8_t key_len;
	uint16_t kind_idx;
	uint32_t hash; /* low 32 bits of the address hash */

	unsigned char key[]; /* key_len bytes */
} mn__actor;

_Static_assert(offsetof(mn__actor, key) == 48,
	       "actor record header grew: update docs/architecture.md");

_Static_assert(offsetof(mn__actor, rq_next) == 0,
	       "the run-queue link must be first: mn__actor_of_rq casts");

/* The actor whose run-queue link is n (NULL for NULL). */
static inline mn__actor *mn__actor_of_rq(mn__mpsc_node *n)
{
	return (mn__actor *)n;
}

/* The run-queue link, where a lock (or single ownership) orders it. */
static inline mn__actor *mn__rq_next(const mn__actor *a)
{
	return mn__actor_of_rq(atomic_load_explicit(
	    &((mn__actor *)a)->rq_next.next, memory_order_relaxed));
}

static inline void mn__rq_set_next(mn__actor *a, mn__actor *next)
{
	atomic_store_explicit(&a->rq_next.next, (mn__mpsc_node *)next,
			      memory_order_relaxed);
}

/*
 * The persistence prefix: actors of persistent kinds carry these fields in
 * the 40 bytes just before their record (one allocation), so that volatile
 * actors do not pay for them and a short key stays in the record's first
 * cache line. mn__ap(a) is valid only for actors of persistent kinds.
 */
typedef struct mn__actor_p {
	/* id: set by the worker at the actor's first run, immutable after.
	 * seq: the worker running the actor. last_lsn: that worker at the
	 * first run (before the actor's first commit record is queued), then
	 * only the writer thread. */
	uint64_t id;
	uint64_t seq;
	uint64_t last_lsn;
	/* Eviction (core/evict.c, persist.c E1-E5). inflight: commit
	 * records of this actor queued to the writer and not finished (the
	 * worker adds before queueing, the writer subtracts with release
	 * when done); an actor with inflight records is never evicted. ref:
	 * set by the worker at each turn, cleared by the evictor's clock
	 * sweep (second chance). evicting: set by the evictor under the
	 * shard lock, cleared by the writer when the eviction is abandoned. */
	_Atomic uint32_t inflight;
	_Atomic uint8_t ref;
	_Atomic uint8_t evicting;
	/* The worker running the actor: messages and payload bytes since
	 * the last snapshot. */
	uint16_t snap_msgs;
	uint32_t snap_bytes;
	/* MN__AP_* flags: set by the worker at the actor's first run
	 * (before its first commit record is queued, so the writer reads
	 * them after the queue's mutex), immutable after. */
	uint32_t pflags;
} mn__actor_p;

/* A fork (mnemo fork): its sends to other actors go to the quarantine. */
#define MN__AP_QUARANTINED 1u

_Static_assert(sizeof(mn__actor_p) == 40 && sizeof(mn__actor_p) % 8 == 0,
	       "persistence prefix grew: update docs/architecture.md");

static inline mn__actor_p *mn__ap(const mn__actor *a)
{
	return (mn__actor_p *)((char *)a - sizeof(mn__actor_p));
}

#endif
