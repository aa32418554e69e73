/*
 * observe.h - observers of an actor's outputs (mn_observe; core/observe.c):
 * volatile, bounded queues the embedding program reads, fed after the
 * commit of the message that produced each output (sends, answers to asks)
 * and by the I/O loop (streamed chunks of its calls).
 */
#ifndef MN_CORE_OBSERVE_H
#define MN_CORE_OBSERVE_H

#include <stdatomic.h>
#include <stdbool.h>

#include "include/mnemo.h"

typedef struct mn__observers mn__observers;

int mn__observers_new(mn__observers **out);
/* Close every observer (their readers get MN_ECLOSED) and free. */
void mn__observers_free(mn__observers *o);

/* Whether anyone observes anything: one relaxed load, the cost of a
 * runtime without observers. */
bool mn__observed(const mn__observers *o);

/* An output of actor (kind idx, key): copied to each of its observers'
 * queues (a full queue counts it lost). Any thread. */
void mn__observe_emit(mn__observers *o, unsigned kind_idx, const void *key,
		      size_t key_len, const mn_observed *ev);

#endif
