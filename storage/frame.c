/*
 * frame.c - record frames and the decode arena (frame.h).
 *
 * Owns: the frame layout of docs/format.md (asserted below), and the rule
 * that no stored value is believed before its frame is checked: length,
 * checksum, frame version, record type.
 *
 * The arena: unpacking allocates through protobuf-c's allocator, a
 * per-thread arena reset before every record, so decoding a journal entry
 * costs no malloc in the steady state. Threads: any; the arena is per
 * thread and freed when its thread exits.
 */
#include "storage/frame.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "base/crc32c.h"

_Static_assert(sizeof(struct mn__frame_hdr) == FRAME_HDR,
	       "the frame header is 8 bytes (docs/format.md)");
_Static_assert(offsetof(struct mn__frame_hdr, crc) == 0 &&
		   offsetof(struct mn__frame_hdr, type) == 4 &&
		   offsetof(struct mn__frame_hdr, version) == 5 &&
		   offsetof(struct mn__frame_hdr, zero) == 6,
	       "frame: crc 0..3, type 4, version 5, zero 6..7");

#define F_TYPE	  offsetof(struct mn__frame_hdr, type)
#define F_VERSION offsetof(struct mn__frame_hdr, version)
#define F_ZERO	  offsetof(struct mn__frame_hdr, zero)
#define F_COVERED F_TYPE /* the CRC covers from here to the end */

/* ---- frames ----------------------------------------------------------------
 */

void mn__frame_seal(unsigned char *p, enum rtype t, size_t len)
{
	p[F_TYPE] = (unsigned char)t;
	p[F_VERSION] = FRAME_VERSION;
	p[F_ZERO] = p[F_ZERO + 1] = 0;
	mn__le32_put(p,
		     mn__crc32c(0, p + F_COVERED, len + FRAME_HDR - F_COVERED));
}

int mn__frame_open(const mn__store *s, const MDB_val *v, enum rtype t, int db,
		   enum mn__frame_report how, const char *keydesc,
		   const unsigned char **body, size_t *len)
{
	const unsigned char *p = v->mv_data;
	if (how == MN__FRAME_QUIET) {
		if (v->mv_size < FRAME_HDR ||
		    mn__le32_get(p) !=
			mn__crc32c(0, p + F_COVERED, v->mv_size - F_COVERED) ||
		    p[F_VERSION] != FRAME_VERSION || p[F_TYPE] != t)
			return MN_ECORRUPT;
		*body = p + FRAME_HDR;
		*len = v->mv_size - FRAME_HDR;
		return 0;
	}
	if (v->mv_size < FRAME_HDR)
		return mn__st_fail(s, MN_ECORRUPT,
				   "%s record %s: truncated (%zu bytes)",
				   mn__st_db_name(db), keydesc, v->mv_size);
	if (mn__le32_get(p) !=
	    mn__crc32c(0, p + F_COVERED, v->mv_size - F_COVERED))
		return mn__st_fail(s, MN_ECORRUPT,
				   "%s record %s: checksum mismatch",
				   mn__st_db_name(db), keydesc);
	if (p[F_VERSION] != FRAME_VERSION)
		return mn__st_fail(
		    s, MN_EVERSION,
		    "%s record %s: frame version %u, this build reads %u",
		    mn__st_db_name(db), keydesc, p[F_VERSION], FRAME_VERSION);
	if (p[F_TYPE] != t)
		return mn__st_fail(
		    s, MN_ECORRUPT,
		    "%s record %s: record type %u where %u belongs",
		    mn__st_db_name(db), keydesc, p[F_TYPE], (unsigned)t);
	*body = p + FRAME_HDR;
	*len = v->mv_size - FRAME_HDR;
	return 0;
}

int mn__frame_put(const mn__store *s, MDB_txn *txn, int db, MDB_val *key,
		  const ProtobufCMessage *m, enum rtype t, unsigned flags)
{
	size_t len = protobuf_c_message_get_packed_size(m);
	MDB_val v = {.mv_size = len + FRAME_HDR, .mv_data = NULL};
	int rc = mdb_put(txn, s->dbi[db], key, &v, flags | MDB_RESERVE);
	if (rc)
		return rc;
	protobuf_c_message_pack(m, (uint8_t *)v.mv_data + FRAME_HDR);
	mn__frame_seal(v.mv_data, t, len);
	return 0;
}

/* ---- the decode arena ------------------------------------------------------
 */

typedef struct arena {
	unsigned char *buf;
	size_t cap, used;
	/* Allocations that did not fit (each a malloc with a 16-byte header
	 * linking it here): freed at the next reset, since callers drop
	 * arena-decoded records without freeing them. */
	unsigned char *spill;
} arena;

static void arena_spill_free(arena *a)
{
	while (a->spill) {
		unsigned char *next;
		memcpy(&next, a->spill, sizeof next);
		free(a->spill);
		a->spill = next;
	}
}

static _Thread_local arena tl_arena;

/* The arena's buffer is freed when its thread exits (a pthread key whose
 * value is the thread's arena, so its destructor runs at thread exit). */
static pthread_key_t arena_key;
static pthread_once_t arena_once = PTHREAD_ONCE_INIT;

static void arena_release(void *p)
{
	arena *a = p;
	arena_spill_free(a);
	free(a->buf);
	a->buf = NULL;
	a->cap = a->used = 0;
}

static void arena_key_make(void)
{
	pthread_key_create(&arena_key, arena_release);
}

static void *arena_alloc(void *ad, size_t size)
{
	arena *a = ad;
	size = (size + 15) & ~(size_t)15;
	if (a->used + size > a->cap) {
		/* Overflow: a malloc on the spill list, freed at the next
		 * reset. Rare: the arena is sized for the record
		 * (mn__arena_for); only records of many tiny fields (damage)
		 * get here. */
		unsigned char *p = malloc(size + 16);
		if (!p)
			return NULL;
		memcpy(p, &a->spill, sizeof a->spill);
		a->spill = p;
		return p + 16;
	}
	void *p = a->buf + a->used;
	a->used += size;
	return p;
}

static void arena_free(void *ad, void *p)
{
	/* Nothing one at a time: the arena (and its spill list) is released
	 * whole at the next reset. */
	(void)ad;
	(void)p;
}

ProtobufCAllocator *mn__arena_for(size_t len)
{
	static _Thread_local ProtobufCAllocator alloc;
	arena *a = &tl_arena;
	size_t want = len * 2 + 1024;
	arena_spill_free(a);
	if (a->cap < want) {
		if (!a->buf) {
			pthread_once(&arena_once, arena_key_make);
			pthread_setspecific(arena_key, a);
		}
		free(a->buf);
		a->buf = malloc(want);
		a->cap = a->buf ? want : 0;
	}
	a->used = 0;
	alloc.alloc = arena_alloc;
	alloc.free = arena_free;
	alloc.allocator_data = a;
	return &alloc;
}
