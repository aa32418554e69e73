/*
 * slab.c - size-class allocator for actor records (see slab.h).
 *
 * Chunks grow geometrically from 4 KiB to 256 KiB, so a runtime with a few
 * actors per shard maps little, and one with millions maps few chunks.
 * Chunks of 64 KiB and more are mapped directly (and return to the system
 * at close); smaller ones come from malloc.
 */
#include "core/slab.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define CHUNK_MMAP_MIN (64 * 1024)

struct mn__slab_chunk {
	mn__slab_chunk *next;
	size_t size; /* bytes of the whole chunk, this header included */
		     /* 16-byte aligned records follow */
};

#define CHUNK_HDR ((sizeof(mn__slab_chunk) + 15) & ~(size_t)15)

void mn__slab_init(mn__slab *s)
{
	memset(s, 0, sizeof *s);
	s->next_chunk = MN__SLAB_CHUNK_MIN;
}

void mn__slab_destroy(mn__slab *s)
{
	mn__slab_chunk *c = s->chunks;
	while (c) {
		mn__slab_chunk *next = c->next;
		if (c->size >= CHUNK_MMAP_MIN)
			munmap(c, c->size);
		else
			free(c);
		c = next;
	}
	mn__slab_init(s);
}

static int new_chunk(mn__slab *s)
{
	size_t size = s->next_chunk;
	mn__slab_chunk *c;

	if (size >= CHUNK_MMAP_MIN) {
		void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		c = p == MAP_FAILED ? NULL : p;
	} else {
		c = aligned_alloc(16, size);
	}
	if (!c)
		return -1;
	c->size = size;
	c->next = s->chunks;
	s->chunks = c;
	s->chunk_bytes += size;
	s->bump = (unsigned char *)c + CHUNK_HDR;
	s->bump_left = size - CHUNK_HDR;
	if (s->next_chunk < MN__SLAB_CHUNK_MAX)
		s->next_chunk *= 2;
	return 0;
}

void *mn__slab_alloc(mn__slab *s, size_t size)
{
	size_t cs = mn__slab_class_size(size);
	if (!cs)
		return NULL;
	size_t ci = (cs - MN__SLAB_MIN) / MN__SLAB_GRAIN;
	void *p = s->free[ci];
	if (p) {
		memcpy(&s->free[ci], p, sizeof(void *));
		return p;
	}
	if (s->bump_left < cs && new_chunk(s) != 0)
		return NULL;
	p = s->bump;
	s->bump += cs;
	s->bump_left -= cs;
	return p;
}

void mn__slab_free(mn__slab *s, void *p, size_t size)
{
	size_t cs = mn__slab_class_size(size);
	size_t ci = (cs - MN__SLAB_MIN) / MN__SLAB_GRAIN;
	memcpy(p, &s->free[ci], sizeof(void *));
	s->free[ci] = p;
}
