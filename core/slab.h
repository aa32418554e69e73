/*
 * slab.h - size-class allocator for actor records, one per registry shard.
 *
 * Actor records are small (48 bytes plus a key of 1..255), numerous (10M)
 * and long-lived. Through malloc each pays a chunk header and rounding, and
 * freeing millions of them at close leaves glibc's heap full of small free
 * chunks that the next large allocation must consolidate (measured: a
 * second skynet run in one process spent 26% of its time there). A slab
 * carves records from chunks it owns, in 16-byte classes, keeps a free list
 * per class, and returns whole chunks at close.
 *
 * A slab belongs to one registry shard and is used under that shard's lock:
 * no synchronisation of its own.
 */
#ifndef MN_CORE_SLAB_H
#define MN_CORE_SLAB_H

#include <stddef.h>

#define MN__SLAB_GRAIN 16
#define MN__SLAB_MIN   64 /* smallest record class */
#define MN__SLAB_MAX                                                           \
	352 /* largest: 40-byte prefix + 48-byte header + 255-byte key */
#define MN__SLAB_CLASSES   ((MN__SLAB_MAX - MN__SLAB_MIN) / MN__SLAB_GRAIN + 1)
#define MN__SLAB_CHUNK_MIN 4096
#define MN__SLAB_CHUNK_MAX (256 * 1024)

typedef struct mn__slab_chunk mn__slab_chunk;

typedef struct mn__slab {
	void *free[MN__SLAB_CLASSES]; /* free records, linked through word 0 */
	unsigned char *bump;	      /* unused tail of the newest chunk */
	size_t bump_left;
	mn__slab_chunk *chunks; /* every chunk, newest first */
	size_t next_chunk;	/* size of the next chunk to map */
	size_t chunk_bytes;	/* total bytes of chunks */
} mn__slab;

/* An empty slab; maps nothing until the first allocation. */
void mn__slab_init(mn__slab *s);

/* Return every chunk; records still allocated become invalid. */
void mn__slab_destroy(mn__slab *s);

/* The bytes a record of size bytes really occupies (its class size), or 0
 * if size is over MN__SLAB_MAX. */
static inline size_t mn__slab_class_size(size_t size)
{
	if (size > MN__SLAB_MAX)
		return 0;
	if (size < MN__SLAB_MIN)
		size = MN__SLAB_MIN;
	return (size + MN__SLAB_GRAIN - 1) & ~(size_t)(MN__SLAB_GRAIN - 1);
}

/* A record of at least size bytes (16-byte aligned), or NULL when out of
 * memory or size is over MN__SLAB_MAX. */
void *mn__slab_alloc(mn__slab *s, size_t size);

/* Give back a record allocated with the same size. */
void mn__slab_free(mn__slab *s, void *p, size_t size);

#endif
