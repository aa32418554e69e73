/*
 * record.h - the commit record (wrec) a worker, an outside thread or the
 * maintenance thread queues to the writer, the held items (sends, timers,
 * cancels) serialised in it, and the per-worker ring the records of a
 * worker live in (R1). Workers allocate and fill records; the writer reads
 * and releases them (core/commit.c).
 */
#ifndef MN_CORE_RECORD_H
#define MN_CORE_RECORD_H

#include <stdalign.h>
#include <stdatomic.h>

#include "core/runtime.h"

enum rec_kind { REC_ENTRY, REC_SPAWN, REC_DURABLE, REC_OUTBOX_DEL, REC_EVICT };

/* A commit record, queued by a worker (or an outside thread) to the
 * writer. One allocation: header, payload, then held sends (ENTRY) or the
 * target key (DURABLE). */
typedef struct wrec {
	struct wrec *next;   /* the writer's group list */
	mn__mpsc_node qnode; /* the writer queue (MQ1-MQ4) */
	uint8_t rk;
	bool is_new;
	uint8_t key_len; /* DURABLE: target key length */
	uint8_t ck_len;	 /* DURABLE: client key length (0: none) */
	int dup_rc; /* DURABLE: MN_EEXIST / MN_ECONFLICT: its key was known */
	uint64_t ck_hash;      /* DURABLE: hash of target and message */
	mn__actor *actor;      /* ENTRY, SPAWN */
	const mn_kind *target; /* DURABLE */
	uint64_t seq, sender_id, outbox_id, unix_ms;
	uint32_t type, flags;
	uint32_t version; /* ENTRY, EVICT: the kind version that wrote it */
	uint32_t nsends;  /* held items (sends, timers, cancels) */
	uint32_t nmsgs;	  /* of which sends (counted as sent, DR1) */
	bool has_snap;	  /* ENTRY, EVICT: a snapshot's state follows */
	size_t snap_off, snap_len;
	uint64_t snap_hash;  /* hash of the snapshot's bytes */
	uint64_t state_hash; /* ENTRY: kind hash() after the message, 0 none */
	size_t len;	     /* payload bytes as stored at data[0] */
	uint64_t raw_len;    /* payload bytes before compression */
	uint8_t method;	     /* MN__CODEC_*: how data[0..len) is stored */
	bool has_raw;	     /* the raw payload follows, for sampling */
	uint32_t dict_id;
	size_t sends_off; /* held sends start at data[sends_off] */
	size_t sends_len; /* bytes of held sends */
	mn_send_done_cb done;
	void *done_arg;
	struct mn__wring *ring; /* the ring it lives in, or NULL: malloc'd */
	size_t ring_span;	/* ring bytes it holds (wrap padding too) */
	unsigned char data[];
} wrec;

/*
 * A worker's commit records live in a ring of its own instead of the heap:
 * the worker allocates at head, the writer releases in the order it
 * commits, which for one worker's records is the order they were queued
 * (one producer's pushes keep their order in the queue, MQ1). So releasing
 * is adding a record's span to tail. With malloc a record was allocated on
 * the worker and freed on the writer (a free into another thread's arena,
 * under its lock, and the arena's top trimmed and faulted in again): with
 * jemalloc preloaded the 1 KiB durable benchmark ran 10% faster, which is
 * what that cost. A record that does not fit (the writer is behind, or a
 * large snapshot) is malloc'd as before.
 *  R1  head is the worker's (plain); tail is written by the writer only,
 *      with release after its last use of the record, and read by the
 *      worker with acquire before it reuses the bytes. head - tail <= cap.
 *      Violation: a record overwritten while the writer reads it.
 */
#define MN__WRING_CAP ((size_t)4 << 20)
#define MN__WRING_MAX (MN__WRING_CAP / 16)
struct mn__wring {
	unsigned char *buf; /* MN__WRING_CAP bytes, 64-byte aligned */
	size_t head;	    /* the worker's */
	alignas(64) _Atomic size_t tail;
};

/* A held send, serialised in mn_ctx.pending: this header, the key, the
 * payload, padding to 8 bytes. */
typedef struct held_send {
	uint16_t kind_idx;
	uint8_t key_len;
	uint8_t tag; /* HELD_* */
	uint32_t type;
	uint64_t len;
} held_send;

/* Held items: a send (key, payload), a timer ([u64 id] then its payload:
 * key_len 0), a timer cancel ([u64 id]); an outbound call ([u64 call id]
 * [u64 request hash] then the packed intent; type: the reply type), a
 * call cancelled by the message that made it (the same, never stored nor
 * issued, but journaled with the entry's calls so that replay counts it),
 * a call's cancel ([u64 call id]); calls.c. An answer to an ask from
 * outside: delivered after the commit, never stored (ask.c). */
enum {
	HELD_SEND = 0,
	HELD_TIMER = 1,
	HELD_CANCEL = 2,
	HELD_CALL = 3,
	HELD_CALL_DEAD = 4,
	HELD_CALL_CANCEL = 5,
	HELD_ASK_REPLY = 6, /* [u64 ask id] then the reply; type: its type */
};

static inline size_t held_size(size_t key_len, size_t len)
{
	return (sizeof(held_send) + key_len + len + 7) & ~(size_t)7;
}

/* A commit record of size bytes with its header zeroed: from the worker's
 * ring (R1) or malloc. NULL when out of memory. Worker thread. */
wrec *mn__wrec_alloc(mn__worker *w, size_t size);

/* Give a record's memory back (writer): to its ring, or free(). */
void mn__wrec_release(wrec *r);

/* Hold a timer (tag HELD_TIMER, with payload) or a cancel (HELD_CANCEL)
 * in the ctx until the commit (worker). 0 or MN_ENOMEM. */
int mn__persist_hold_timer(mn_ctx *ctx, uint8_t tag, uint64_t id, uint32_t type,
			   const void *payload, size_t len);

#endif
