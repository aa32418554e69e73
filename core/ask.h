/*
 * ask.h - asks from outside (mn_ask; core/ask.c): the table of pending
 * asks, their deadlines, and the completion of one. A runtime-wide module:
 * volatile and persistent actors both answer asks.
 */
#ifndef MN_CORE_ASK_H
#define MN_CORE_ASK_H

#include <stdint.h>

#include "include/mnemo.h"

typedef struct mn__asks mn__asks;

/* Make the table (runtime open; the timer thread starts on first use). */
int mn__asks_new(mn__asks **out);
/* End every pending ask with MN_ECLOSED, stop the timer thread, free.
 * After the workers and the writer stopped (no completion can race). */
void mn__asks_free(mn__asks *a);

/* The end of ask id: done(rc, reply) if it is pending; a reply to an
 * unknown, timed-out or cancelled ask is dropped. Any thread. */
void mn__ask_complete(mn__asks *a, uint64_t id, int rc, uint32_t type,
		      const void *payload, size_t len);

/* Worker, for a MN__MSG_VIEW message of ask id: answer it with the
 * actor's seq (u64, little-endian... host order) and describe() text. */
struct mn_kind;
void mn__ask_view(mn__asks *a, uint64_t id, const struct mn_kind *k,
		  const void *state, uint64_t seq);

#endif
