/*
 * idset.h - a set of 64-bit ids: open addressing with linear probing and
 * tombstones, for the durable timers that have fired and are not yet
 * processed (core/timers.c). Not thread-safe: the caller holds its lock.
 *
 *  IS1  Ids are >= 2: slot value 0 marks an empty slot, 1 a removed one (a
 *      tombstone). A probe stops at an empty slot and passes tombstones,
 *      so removing an id never hides another that collided with it.
 *      Violation: contains() misses an id inserted after a collision.
 *  IS2  cap is 0 or a power of two, and live ids never exceed half of it:
 *      an insert that would pass half doubles the table (dropping the
 *      tombstones) first. Violation: a probe that never meets a 0.
 */
#ifndef MN_CORE_IDSET_H
#define MN_CORE_IDSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The first capacity of a table: the first insert allocates it. */
#define MN__IDSET_CAP0 1024

typedef struct mn__idset {
	uint64_t *slots; /* cap slots: 0 empty, 1 removed, else an id */
	size_t cap;	 /* 0 or a power of two (IS2) */
	size_t used;	 /* live ids */
} mn__idset;

/* An empty set; allocates nothing. Cannot fail. */
void mn__idset_init(mn__idset *s);

/* Free the table; the set is empty afterwards. */
void mn__idset_free(mn__idset *s);

/* Add id (>= 2, IS1). True if it was added; false if it was present, or
 * the table could not be allocated (out of memory: not added). */
bool mn__idset_insert(mn__idset *s, uint64_t id);

/* Remove id. True if it was present. Cannot fail. */
bool mn__idset_remove(mn__idset *s, uint64_t id);

/* Whether id is in the set. Cannot fail. */
bool mn__idset_contains(const mn__idset *s, uint64_t id);

/* How many ids the set holds. */
static inline size_t mn__idset_count(const mn__idset *s)
{
	return s->used;
}

#endif
