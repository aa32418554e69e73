/*
 * events.h - failure events (mn_runtime_opts.on_event) and the broken-actor
 * table: the reasons kept for actors that could not be brought back, so
 * that sends to them fail with a detail (core/events.c).
 */
#ifndef MN_CORE_EVENTS_H
#define MN_CORE_EVENTS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "include/mnemo.h"

/* Event types are 1..MN__EVENT_TYPES-1. */
#define MN__EVENT_TYPES (MN_EVENT_DIVERGED + 1)
/* Events of one type delivered per second when opts.event_rate is 0. */
#define MN__EVENT_RATE_DEFAULT 100
/* Broken actors whose reason is kept (about 420 bytes each); beyond it an
 * actor is still counted broken, its sends are accepted and dropped. */
#define MN__BROKEN_KEEP 4096
/* Bytes of a kept reason, NUL included. */
#define MN__BROKEN_REASON 160

/* A fixed one-second window per event type: at most rate events pass in a
 * window; the rest are counted in suppressed, reported by the next event
 * of that type that passes. Lock-free (any thread). */
typedef struct mn__evlimit {
	_Atomic uint64_t window_ms;  /* start of the window (monotonic ms) */
	_Atomic uint32_t used;	     /* events let through in it */
	_Atomic uint64_t suppressed; /* not delivered since the last one */
} mn__evlimit;

struct mn__broken_ent;

typedef struct mn__events {
	/* Immutable after open. */
	mn_event_fn fn;
	void *arg;
	uint32_t rate;
	mn__evlimit lim[MN__EVENT_TYPES];
	_Atomic uint64_t delivered;  /* callback invocations */
	_Atomic uint64_t suppressed; /* events the rate limit dropped */

	/* The broken table: under broken_mu. nbroken mirrors its length
	 * (written under the mutex, read without it: a send looks at the
	 * table only when it is not 0). Lock order: a registry shard lock
	 * may be held while taking broken_mu, never the reverse; the event
	 * callback never runs under it. */
	pthread_mutex_t broken_mu;
	_Atomic size_t nbroken;
	struct mn__broken_ent *broken;
	size_t broken_cap;
} mn__events;

void mn__events_init(mn__events *ev, const mn_runtime_opts *o);
void mn__events_destroy(mn__events *ev);

/*
 * Report an event: rate-limited, then the callback runs on the calling
 * thread, which must hold no lock a worker needs. k NULL (or key_len 0):
 * no actor. The reason is formatted only when the event is delivered. A
 * no-op without a callback. Any thread.
 */
void mn__event(mn__events *ev, int type, int err, const mn_kind *k,
	       const void *key, size_t key_len, uint64_t seq, const char *fmt,
	       ...) __attribute__((format(printf, 8, 9)));

/* Mark the actor (k, key) broken with its code and reason (copied,
 * truncated to MN__BROKEN_REASON). Any thread. */
void mn__broken_mark(mn__events *ev, const mn_kind *k, const void *key,
		     size_t key_len, int err, const char *reason);
/* It came back after all: forget its mark. Any thread. */
void mn__broken_clear(mn__events *ev, const mn_kind *k, const void *key,
		      size_t key_len);
int mn__broken_lookup(mn__events *ev, const mn_kind *k, const void *key,
		      size_t key_len);

/* 0, or the code that broke the actor (k, key), with this thread's
 * errdetail naming the actor and the reason. One relaxed load when no
 * actor is broken. Any thread. */
static inline int mn__broken_check(mn__events *ev, const mn_kind *k,
				   const void *key, size_t key_len)
{
	if (__builtin_expect(
		atomic_load_explicit(&ev->nbroken, memory_order_relaxed) == 0,
		1))
		return 0;
	return mn__broken_lookup(ev, k, key, key_len);
}

/* Format key as the tool does (text when printable, else 0x and hex) into
 * out (cap >= 2 * MN_KEY_MAX + 3). */
void mn__key_format(char *out, size_t cap, const void *key, size_t key_len);

#endif
