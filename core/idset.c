/*
 * idset.c - the id set of idset.h: open addressing, linear probing,
 * tombstones (IS1), doubling at half full (IS2). Used by the durable timers
 * (core/timers.c) under fired_mu; no locking of its own.
 */
#include "core/idset.h"

#include <stdlib.h>

#include "base/assert.h"
#include "base/hash.h"

enum { SLOT_EMPTY = 0, SLOT_REMOVED = 1 };

static size_t slot_of(uint64_t id, size_t cap)
{
	return (size_t)((id * MN__HASH_K1) & (cap - 1));
}

void mn__idset_init(mn__idset *s)
{
	s->slots = NULL;
	s->cap = 0;
	s->used = 0;
}

void mn__idset_free(mn__idset *s)
{
	free(s->slots);
	mn__idset_init(s);
}

/* Double the table (or allocate the first), rehashing the live ids and
 * dropping the tombstones. On failure the old table stays. */
static void grow(mn__idset *s)
{
	size_t nc = s->cap ? s->cap * 2 : MN__IDSET_CAP0;
	uint64_t *nt = calloc(nc, sizeof *nt);
	if (!nt)
		return;
	for (size_t i = 0; i < s->cap; i++) {
		uint64_t v = s->slots[i];
		if (v > SLOT_REMOVED) {
			size_t j = slot_of(v, nc);
			while (nt[j] != SLOT_EMPTY)
				j = (j + 1) & (nc - 1);
			nt[j] = v;
		}
	}
	free(s->slots);
	s->slots = nt;
	s->cap = nc;
}

/* The slot holding id, or SIZE_MAX; *free_slot: where an insert would put
 * it (the first tombstone on the probe, else the empty slot that ended
 * it), SIZE_MAX if none. */
static size_t probe(const mn__idset *s, uint64_t id, size_t *free_slot)
{
	size_t mask = s->cap - 1, i = slot_of(id, s->cap), tomb = SIZE_MAX;
	*free_slot = SIZE_MAX;
	for (size_t n = 0; n < s->cap; n++, i = (i + 1) & mask) {
		if (s->slots[i] == id)
			return i;
		if (s->slots[i] == SLOT_REMOVED && tomb == SIZE_MAX)
			tomb = i;
		if (s->slots[i] == SLOT_EMPTY)
			break;
	}
	if (tomb != SIZE_MAX)
		*free_slot = tomb;
	else if (s->slots[i] == SLOT_EMPTY)
		*free_slot = i;
	return SIZE_MAX;
}

bool mn__idset_insert(mn__idset *s, uint64_t id)
{
	size_t at, free_slot;
	mn_assert(id > SLOT_REMOVED); /* IS1 */
	if ((s->used + 1) * 2 > s->cap)
		grow(s); /* IS2 */
	if (!s->cap)
		return false;
	if ((at = probe(s, id, &free_slot)) != SIZE_MAX ||
	    free_slot == SIZE_MAX)
		return false;
	s->slots[free_slot] = id;
	s->used++;
	return true;
}

bool mn__idset_remove(mn__idset *s, uint64_t id)
{
	size_t at, free_slot;
	if (!s->cap || (at = probe(s, id, &free_slot)) == SIZE_MAX)
		return false;
	s->slots[at] = SLOT_REMOVED;
	s->used--;
	return true;
}

bool mn__idset_contains(const mn__idset *s, uint64_t id)
{
	size_t free_slot;
	return s->cap && probe(s, id, &free_slot) != SIZE_MAX;
}
