/*
 * registry.c - sharded open-addressing map of resident actors, grown
 * incrementally. See registry.h for the design and the locking rule.
 */
#include "core/registry.h"

#include "base/assert.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "base/assert.h"

/* Tables of this many bytes or more are mapped directly, so that freeing
 * one returns its memory at once. (Through malloc, large blocks churn the
 * heap: glibc raises its mmap threshold after each free of a mapped block,
 * so later tables come from the heap top and fragment it.) They are mapped
 * with MAP_POPULATE: probing a fresh table reads it before writing, and a
 * read of an untouched page maps the shared zero page, whose later
 * copy-on-write needs a TLB flush on every core (measured: 9% of skynet
 * with 2 workers). Populating costs a memset-speed pass, about 50 us for
 * the 512 KiB table of a shard at 10M actors. */
#define MN__REG_MMAP_MIN (64 * 1024)

#define SLOT_PTR_BITS 48
#define SLOT_PTR_MASK ((UINT64_C(1) << SLOT_PTR_BITS) - 1)

static inline uint64_t slot_tag(uint64_t hash)
{
	/* Bits 32..47: independent of the shard bits (56..63) and of the
	 * index bits (low bits) for tables under 2^32 slots. */
	return (hash >> 32) & 0xffff;
}

static inline uint64_t slot_make(uint64_t hash, mn__actor *a)
{
	return slot_tag(hash) << SLOT_PTR_BITS | (uint64_t)(uintptr_t)a;
}

static inline mn__actor *slot_actor(uint64_t slot)
{
	return (mn__actor *)(uintptr_t)(slot & SLOT_PTR_MASK);
}

static uint64_t *table_alloc(size_t n)
{
	size_t bytes = n * sizeof(uint64_t);
	if (bytes < MN__REG_MMAP_MIN)
		return calloc(n, sizeof(uint64_t));
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static void table_free(uint64_t *t, size_t n)
{
	size_t bytes = n * sizeof(uint64_t);
	if (!t)
		return;
	if (bytes < MN__REG_MMAP_MIN)
		free(t);
	else
		munmap(t, bytes);
}

void mn__reg_init(mn__registry *reg)
{
	for (unsigned i = 0; i < MN__REG_SHARDS; i++) {
		mn__shard *s = &reg->shards[i];
		memset(s, 0, sizeof *s);
		mn__lock_init(&s->mu);
		mn__slab_init(&s->slab);
	}
}

void mn__reg_destroy(mn__registry *reg)
{
	for (unsigned i = 0; i < MN__REG_SHARDS; i++) {
		mn__shard *s = &reg->shards[i];
		table_free(s->tab[0], s->nslots[0]);
		table_free(s->tab[1], s->nslots[1]);
		s->tab[0] = s->tab[1] = NULL;
		mn__slab_destroy(&s->slab);
	}
}

static inline bool growing(const mn__shard *s)
{
	return s->tab[1] != NULL;
}

/* Put slot v for home index h into table t (which has a free slot). */
static void table_put(uint64_t *t, size_t n, uint64_t h, uint64_t v)
{
	size_t mask = n - 1, i = h & mask;
	while (t[i])
		i = (i + 1) & mask;
	t[i] = v;
}

/* Copy the next MN__REG_REHASH_STEP old slots into the new table; when the
 * old table is exhausted, free it and make the new one the only table. The
 * old table is never written while growing, so its probe sequences stay
 * intact for lookups of actors not yet copied. */
static void grow_step(mn__shard *s)
{
	size_t end = s->rehash_pos + MN__REG_REHASH_STEP;
	if (end > s->nslots[0])
		end = s->nslots[0];
	for (size_t i = s->rehash_pos; i < end; i++) {
		uint64_t v = s->tab[0][i];
		if (v) {
			/* The record knows its low hash bits, which pick
			 * the home slot; the tag travels in the slot. */
			mn__actor *a = slot_actor(v);
			table_put(s->tab[1], s->nslots[1], a->hash, v);
		}
	}
	s->rehash_pos = end;
	if (end == s->nslots[0]) {
		table_free(s->tab[0], s->nslots[0]);
		s->tab[0] = s->tab[1];
		s->nslots[0] = s->nslots[1];
		s->tab[1] = NULL;
		s->nslots[1] = 0;
		s->rehash_pos = 0;
	}
}

static mn__actor *probe(const uint64_t *t, size_t n, uint64_t hash,
			uint16_t kind_idx, const void *key, size_t key_len)
{
	size_t mask = n - 1, i = hash & mask;
	uint64_t tag = slot_tag(hash);
	uint32_t h32 = (uint32_t)hash;

	for (;;) {
		uint64_t v = t[i];
		if (!v)
			return NULL;
		if ((v >> SLOT_PTR_BITS) == tag) {
			mn__actor *a = slot_actor(v);
			if (a->hash == h32 && a->kind_idx == kind_idx &&
			    a->key_len == key_len &&
			    memcmp(a->key, key, key_len) == 0)
				return a;
		}
		i = (i + 1) & mask;
	}
}

mn__actor *mn__reg_find(mn__shard *s, uint64_t hash, uint16_t kind_idx,
			const void *key, size_t key_len)
{
	mn__actor *a;

	if (!s->tab[0])
		return NULL;
	if (growing(s)) {
		grow_step(s);
		if (growing(s)) {
			a = probe(s->tab[1], s->nslots[1], hash, kind_idx, key,
				  key_len);
			if (a)
				return a;
		}
	}
	return probe(s->tab[0], s->nslots[0], hash, kind_idx, key, key_len);
}

int mn__reg_insert(mn__shard *s, uint64_t hash, mn__actor *a)
{
	mn_assert(((uintptr_t)a & ~(uintptr_t)SLOT_PTR_MASK) == 0);
	if (!s->tab[0]) {
		s->tab[0] = table_alloc(MN__REG_MIN_SLOTS);
		if (!s->tab[0])
			return MN_ENOMEM;
		s->nslots[0] = MN__REG_MIN_SLOTS;
	}
	if (growing(s)) {
		grow_step(s);
	} else if ((s->count + 1) * 4 > s->nslots[0] * 3) {
		size_t n = s->nslots[0] * 2;
		uint64_t *t = table_alloc(n);
		if (t) {
			s->tab[1] = t;
			s->nslots[1] = n;
			s->rehash_pos = 0;
			grow_step(s);
		} else if (s->count + 1 >= s->nslots[0]) {
			/* Keep one slot empty: probes end on an empty slot. */
			return MN_ENOMEM;
		}
	}
	int live = growing(s) ? 1 : 0;
	table_put(s->tab[live], s->nslots[live], hash, slot_make(hash, a));
	s->count++;
	return 0;
}

static void finish_growth(mn__shard *s)
{
	while (growing(s))
		grow_step(s);
}

void mn__reg_remove(mn__shard *s, mn__actor *a)
{
	finish_growth(s);
	uint64_t *t = s->tab[0];
	size_t mask = s->nslots[0] - 1, i = a->hash & mask;
	while (slot_actor(t[i]) != a) {
		mn_assert(t[i] != 0);
		i = (i + 1) & mask;
	}
	t[i] = 0;
	/* Backward shift: an entry after the hole moves into it unless its
	 * home lies cyclically in (hole, entry]. */
	for (size_t j = (i + 1) & mask; t[j]; j = (j + 1) & mask) {
		size_t home = slot_actor(t[j])->hash & mask;
		bool stays =
		    i <= j ? (home > i && home <= j) : (home > i || home <= j);
		if (!stays) {
			t[i] = t[j];
			t[j] = 0;
			i = j;
		}
	}
	s->count--;
	/* Shrink at load 1/8 (to 1/4), by the same incremental copy as
	 * growth: a shard whose actors were evicted gives its table back. */
	if (s->count * 8 < s->nslots[0] && s->nslots[0] > MN__REG_MIN_SLOTS) {
		size_t n = s->nslots[0] / 2;
		uint64_t *nt = table_alloc(n);
		if (nt) {
			s->tab[1] = nt;
			s->nslots[1] = n;
			s->rehash_pos = 0;
			grow_step(s);
		}
	}
}

void mn__reg_sweep(mn__shard *s, size_t *pos, size_t max,
		   void (*fn)(void *arg, mn__shard *s, mn__actor *a), void *arg)
{
	finish_growth(s);
	if (!s->tab[0])
		return;
	size_t n = s->nslots[0];
	if (max > n)
		max = n;
	for (size_t k = 0; k < max; k++) {
		size_t i = (*pos + k) & (n - 1);
		if (s->tab[0][i])
			fn(arg, s, slot_actor(s->tab[0][i]));
	}
	*pos = (*pos + max) & (n - 1);
}

mn__actor *mn__reg_take_all(mn__registry *reg)
{
	mn__actor *list = NULL;

	for (unsigned i = 0; i < MN__REG_SHARDS; i++) {
		mn__shard *s = &reg->shards[i];
		/* While growing, old slots before rehash_pos were copied:
		 * take them from the new table only. */
		size_t from0 = growing(s) ? s->rehash_pos : 0;
		for (size_t j = from0; s->tab[0] && j < s->nslots[0]; j++) {
			if (s->tab[0][j]) {
				mn__actor *a = slot_actor(s->tab[0][j]);
				mn__rq_set_next(a, list);
				list = a;
			}
		}
		for (size_t j = 0; s->tab[1] && j < s->nslots[1]; j++) {
			if (s->tab[1][j]) {
				mn__actor *a = slot_actor(s->tab[1][j]);
				mn__rq_set_next(a, list);
				list = a;
			}
		}
		table_free(s->tab[0], s->nslots[0]);
		table_free(s->tab[1], s->nslots[1]);
		s->tab[0] = s->tab[1] = NULL;
		s->nslots[0] = s->nslots[1] = 0;
		s->rehash_pos = 0;
		s->count = 0;
	}
	return list;
}

uint64_t mn__reg_count(mn__registry *reg)
{
	uint64_t n = 0;
	for (unsigned i = 0; i < MN__REG_SHARDS; i++) {
		mn__shard *s = &reg->shards[i];
		mn__reg_lock(s);
		n += s->count;
		mn__reg_unlock(s);
	}
	return n;
}

void mn__reg_totals(mn__registry *reg, uint64_t *actors, uint64_t *actor_bytes,
		    uint64_t *table_bytes)
{
	uint64_t n = 0, ab = 0, tb = 0;

	for (unsigned i = 0; i < MN__REG_SHARDS; i++) {
		mn__shard *s = &reg->shards[i];
		mn__reg_lock(s);
		n += s->count;
		/* Carved bytes: what records (live or free-listed) have
		 * touched; the untouched tail of the newest chunk costs no
		 * RSS. */
		ab += s->slab.chunk_bytes - s->slab.bump_left;
		tb += (s->nslots[0] + s->nslots[1]) * sizeof(uint64_t);
		mn__reg_unlock(s);
	}
	*actors = n;
	*actor_bytes = ab;
	*table_bytes = tb + sizeof(*reg);
}
