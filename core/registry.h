/*
 * registry.h - the map from actor address (kind, key) to resident actor.
 *
 * 256 shards, each an open-addressing hash table (linear probing) behind its
 * own mutex. A slot is one 64-bit word: the actor pointer in the low 48 bits
 * and 16 more bits of the address hash on top, so a probe compares tags and
 * touches an actor record only on a likely match: a miss (creating a new
 * actor) costs one table cache line, not a walk over actor records.
 *
 * Growth is incremental: at load 3/4 a shard allocates a table twice the
 * size; the old table becomes read-only, new actors go to the new one, and
 * every later operation on the shard copies the next MN__REG_REHASH_STEP old
 * slots. Lookups look in the new table, then the old. No operation pays for
 * a whole rehash (no stop-the-world pause at 10M actors), and the copy is
 * done long before the new table reaches 3/4. Large tables are mapped
 * directly (mmap), so allocating one is O(1).
 *
 * Locking: callers lock the shard (mn__reg_lock) around find/insert and
 * around the mailbox push that follows a find, so that an actor cannot leave
 * the registry while a message is being pushed into it (mailbox.h, M5;
 * volatile actors, which never leave before close, may also be pushed into
 * through a sender's cache without the lock).
 */
#ifndef MN_CORE_REGISTRY_H
#define MN_CORE_REGISTRY_H

#include <pthread.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/actor.h"
#include "core/lock.h"
#include "core/slab.h"

#define MN__REG_SHARD_BITS 8
#define MN__REG_SHARDS	   (1u << MN__REG_SHARD_BITS)
#define MN__REG_MIN_SLOTS  16
/* Old-table slots copied per operation while a shard grows. The new table
 * has twice the slots; growth starts at 3/4 full, so copying all C old slots
 * takes C/16 operations, far fewer than the 3C/4 inserts that would make the
 * new table grow again. */
#define MN__REG_REHASH_STEP 16

typedef struct mn__shard {
	alignas(64) mn__lock mu;
	/* All fields below: under mu. */
	uint64_t *tab[2]; /* tab[1]: the new table, only while growing */
	size_t nslots[2];
	size_t rehash_pos; /* next old slot to copy */
	size_t count;	   /* actors in the shard */
	mn__slab slab;	   /* the memory of the shard's actor records */
} mn__shard;

typedef struct mn__registry {
	mn__shard shards[MN__REG_SHARDS];
} mn__registry;

/* Initialise an empty registry. Cannot fail. */
void mn__reg_init(mn__registry *reg);

/* Free the tables and every actor record. */
void mn__reg_destroy(mn__registry *reg);

static inline mn__shard *mn__reg_shard(mn__registry *reg, uint64_t hash)
{
	return &reg->shards[hash >> (64 - MN__REG_SHARD_BITS)];
}

static inline void mn__reg_lock(mn__shard *s)
{
	mn__lock_acquire(&s->mu);
}

static inline void mn__reg_unlock(mn__shard *s)
{
	mn__lock_release(&s->mu);
}

/* The actor with this address, or NULL. Shard locked. */
mn__actor *mn__reg_find(mn__shard *s, uint64_t hash, uint16_t kind_idx,
			const void *key, size_t key_len);

_Static_assert(sizeof(mn__actor_p) + sizeof(mn__actor) + MN_KEY_MAX <=
		   MN__SLAB_MAX,
	       "the largest actor record must fit the largest slab class");

/* Memory for an actor record with a key of key_len bytes and, if prefix,
 * the persistence prefix before it; NULL when out of memory. Shard locked.
 */
static inline mn__actor *mn__reg_record_alloc(mn__shard *s, size_t key_len,
					      bool prefix)
{
	size_t pre = prefix ? sizeof(mn__actor_p) : 0;
	char *p = mn__slab_alloc(&s->slab, pre + sizeof(mn__actor) + key_len);
	return p ? (mn__actor *)(p + pre) : NULL;
}

/* Give back a record that was never inserted, or that was removed (prefix
 * as it was allocated). Shard locked. */
static inline void mn__reg_record_free(mn__shard *s, mn__actor *a, bool prefix)
{
	size_t pre = prefix ? sizeof(mn__actor_p) : 0;
	mn__slab_free(&s->slab, (char *)a - pre, pre + sizeof *a + a->key_len);
}

/* Insert a new actor (a->hash, kind, key set; address not present).
 * Shard locked. Returns 0, or MN_ENOMEM when the shard has no room and no
 * larger table can be allocated. */
int mn__reg_insert(mn__shard *s, uint64_t hash, mn__actor *a);

/* Remove actor a (present in the shard). Shard locked. Finishes a growth
 * in progress first (one table), then deletes by backward shift, so probe
 * runs stay unbroken without tombstones. The record is the caller's to
 * free (mn__reg_record_free). */
void mn__reg_remove(mn__shard *s, mn__actor *a);

/* Visit up to max slots of the shard from *pos (wrapping), calling fn on
 * each actor; *pos advances. Shard locked. Finishes a growth in progress
 * first. fn must not insert or remove. */
void mn__reg_sweep(mn__shard *s, size_t *pos, size_t max,
		   void (*fn)(void *arg, mn__shard *s, mn__actor *a),
		   void *arg);

/* Detach every actor of every shard and return them as a list linked by
 * rq_next; the registry is left empty but the records stay valid until
 * mn__reg_destroy. Only when no other thread uses the registry or the run
 * queues (close). */
mn__actor *mn__reg_take_all(mn__registry *reg);

/* Actors resident (sum of the shards' counts, read without locks: a
 * hint). */
uint64_t mn__reg_count(mn__registry *reg);

/* Sum over all shards (locking each in turn) of actors, bytes mapped for
 * their records, and bytes of the tables. */
void mn__reg_totals(mn__registry *reg, uint64_t *actors, uint64_t *actor_bytes,
		    uint64_t *table_bytes);

#endif
