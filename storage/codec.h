/*
 * codec.h - payload compression for the journal and snapshots: zstd, with
 * dictionaries trained on a kind's own traffic (docs/compression.md has the
 * measurements behind every constant here).
 *
 * Three objects:
 *   - mn__dictset: the dictionaries of a store by u32 id (0 means "none"),
 *     each prepared once for compression and decompression. Thread-safe:
 *     lookups take no lock and may run while another thread adds.
 *   - mn__codec: one thread's compression and decompression contexts and
 *     scratch memory, bound to a dictset. Not thread-safe: one per thread.
 *   - mn__dict_train(): builds a dictionary from sample payloads.
 *
 * Stored form (what the journal writes next to a method byte, a dict id and
 * the raw length):
 *   - MN__CODEC_RAW: the payload bytes as they are.
 *   - MN__CODEC_ZSTD, MN__CODEC_ZSTD_DICT: one zstd frame (RFC 8878) without
 *     its 4-byte magic number, with no dictionary id, no content size and
 *     no checksum: the record header carries all three (method, dict id,
 *     raw length) and the record's CRC-32C covers the bytes, so repeating
 *     them would cost 9-10 bytes of a ~150-byte compressed record. Always
 *     shorter than the raw payload.
 *
 * Integrity: mn__codec_decompress() checks everything the stored form lets
 * it check (method, dict id, sizes, the zstd structure) and never reads or
 * writes out of bounds, whatever the input. Without a checksum of its own it
 * cannot see every flipped bit of a literal: callers verify the record's
 * CRC-32C (base/crc32c.h) before decoding.
 */
#ifndef MN_STORAGE_CODEC_H
#define MN_STORAGE_CODEC_H

#include <stddef.h>
#include <stdint.h>

/* Methods (stored in records: values never change). */
#define MN__CODEC_RAW	    0
#define MN__CODEC_ZSTD	    1
#define MN__CODEC_ZSTD_DICT 2

/* The zstd level used when a dictset is created with level 0. On ~600-byte
 * records with a dictionary, level 3 is 9% denser than level 1 for 3% more
 * time (about 2 us per record, 500k records/s per core); level 5 gains
 * another 0.5% at half the speed. */
#define MN__CODEC_LEVEL_DEFAULT 3

/* Payloads shorter than this are stored raw: with a dictionary, 16 bytes is
 * where half of the payloads start to shrink; without one, nothing under 64
 * bytes does (the frame costs 5 bytes and there is no history to match). */
#define MN__CODEC_MIN_DICT  16
#define MN__CODEC_MIN_PLAIN 64

/* ------------------------------------------------------------------------ */
/* Dictionary sets                                                          */
/* ------------------------------------------------------------------------ */

typedef struct mn__dictset mn__dictset;

/*
 * Create an empty set whose dictionaries compress at zstd level `level`
 * (0: MN__CODEC_LEVEL_DEFAULT; negative levels are zstd's fast modes).
 * Returns 0 and *out, or MN_EINVAL (out NULL, level outside zstd's range),
 * MN_ENOMEM. Any thread.
 */
int mn__dictset_new(int level, mn__dictset **out);

/* Free the set and its dictionaries. Every codec bound to it must have been
 * freed first. NULL is a no-op. */
void mn__dictset_free(mn__dictset *set);

/* The set's compression level (never 0). Any thread. */
int mn__dictset_level(const mn__dictset *set);

/*
 * Add dictionary id, a zstd dictionary as mn__dict_train() makes it (len
 * bytes at dict, copied: the caller keeps its buffer). It is prepared for
 * compression and decompression here (0.4 ms for 64 KiB; 553 KiB of
 * memory at level 3: 462 KiB CDict, 91 KiB DDict) and is usable by every codec
 * of the set, on any thread, as soon as this returns. Dictionaries are never
 * removed: records compressed with one stay readable for the life of the set.
 *
 * Returns 0, or MN_EINVAL (set or dict NULL, id 0, len 0), MN_EEXIST (id
 * already in the set; the set is unchanged), MN_ECORRUPT (the bytes are not
 * a zstd dictionary, or zstd rejects its tables; zstd reports a failed
 * allocation the same way, so a ECORRUPT under memory exhaustion may be
 * one), MN_ENOMEM. Any thread, concurrently with lookups, compression and
 * decompression by other threads.
 */
int mn__dictset_add(mn__dictset *set, uint32_t id, const void *dict,
		    size_t len);

/* 1 if the set holds dictionary id, else 0 (also for id 0 or set NULL).
 * Any thread; takes no lock. */
int mn__dictset_has(mn__dictset *set, uint32_t id);

/* ------------------------------------------------------------------------ */
/* Training                                                                 */
/* ------------------------------------------------------------------------ */

/* zstd's trainer needs at least 7 samples; fewer than 8 is refused. */
#define MN__DICT_MIN_SAMPLES 8
/* The smallest dictionary zstd builds (ZDICT_DICTSIZE_MIN). */
#define MN__DICT_MIN_CAP 256
/* Suggested dictionary size: on the agent corpus 64 KiB compresses 0.3%
 * less than 110 KiB and 1.8% more than 32 KiB (docs/compression.md). */
#define MN__DICT_CAP_DEFAULT (64 * 1024)

/*
 * Train a dictionary on n sample payloads, stored one after the other at
 * samples with their lengths in sizes[0..n-1], and write it to dict_out
 * (dict_cap bytes available); *dict_len receives its length.
 *
 * Samples: at least MN__DICT_MIN_SAMPLES, and for a good dictionary about
 * 10 times dict_cap in total bytes (zstd's own advice is 100 times; on the
 * agent corpus, 10 times is within 2% of the best). A dictionary larger
 * than half the sample bytes is mostly a copy of them and compresses worse
 * than a smaller one, so the size is capped at half the sample bytes.
 * Training uses zstd's default trainer (fastCover, tuned for level 3): about
 * 40 ms for 1,000 samples of 600 bytes, and it prints nothing.
 *
 * Returns 0, or MN_EINVAL (a NULL pointer, n < MN__DICT_MIN_SAMPLES,
 * dict_cap < MN__DICT_MIN_CAP, samples totalling under 2 * MN__DICT_MIN_CAP
 * bytes, or zstd finding nothing to learn), MN_ENOMEM. Any thread.
 */
int mn__dict_train(const void *samples, const size_t *sizes, unsigned n,
		   size_t dict_cap, void *dict_out, size_t *dict_len);

/* ------------------------------------------------------------------------ */
/* Codecs                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct mn__codec mn__codec;

/*
 * Create a codec for set (which must outlive it). About 140 KiB after use
 * on small payloads (zstd's contexts; more after large payloads, which
 * grow the compression context and the scratch buffer); keep one per
 * thread. Returns 0 and *out, or MN_EINVAL,
 * MN_ENOMEM. The codec may only be used by one thread at a time.
 */
int mn__codec_new(mn__dictset *set, mn__codec **out);

/* Free a codec. NULL is a no-op. */
void mn__codec_free(mn__codec *c);

/* The dst_cap that mn__codec_compress() needs for len bytes: zstd's
 * worst-case bound (ZSTD_COMPRESSBOUND: len + len/256 + up to 64 bytes).
 * zstd needs that room to work in even when the result is small: with less,
 * payloads of 16-21 bytes that compress to 12 fail with "dst too small". */
#define MN__CODEC_BOUND(len)                                                   \
	((size_t)(len) + ((size_t)(len) >> 8) +                                \
	 ((size_t)(len) < (128u << 10) ? ((128u << 10) - (size_t)(len)) >> 11  \
				       : 0))

static inline size_t mn__codec_bound(size_t len)
{
	return MN__CODEC_BOUND(len);
}

/*
 * Compress len bytes at src into dst (dst_cap >= mn__codec_bound(len)),
 * with dictionary dict_id (0: none). On success *out_len is the stored
 * length and *method the method to record with it: MN__CODEC_RAW (stored as
 * is: the payload is shorter than MN__CODEC_MIN_DICT / MN__CODEC_MIN_PLAIN,
 * or compression would not make it shorter; *out_len == len), else
 * MN__CODEC_ZSTD (dict_id 0) or MN__CODEC_ZSTD_DICT (*out_len < len).
 * Record dict_id only with MN__CODEC_ZSTD_DICT; store 0 otherwise.
 *
 * Returns 0, or MN_EINVAL (c, out_len or method NULL, src NULL with len > 0,
 * dst_cap under mn__codec_bound(len), len over SIZE_MAX / 2, dict_id not
 * in the codec's set), MN_ENOMEM. dst may be
 * written even when an error is returned. One thread per codec.
 */
int mn__codec_compress(mn__codec *c, uint32_t dict_id, const void *src,
		       size_t len, void *dst, size_t dst_cap, size_t *out_len,
		       uint8_t *method);

/*
 * Decompress a stored payload of len bytes at src, recorded with method and
 * dict_id, into exactly raw_len bytes at dst.
 *
 * Returns 0 when dst holds the raw_len bytes, or MN_ECORRUPT for any
 * inconsistency: an unknown method; dict_id not 0 with RAW or ZSTD, 0 with
 * ZSTD_DICT, or not in the set (a record written with a dictionary the set
 * does not have is unreadable, which is corruption of the store, not a
 * caller error); len != raw_len for RAW; a zstd payload empty, not shorter
 * than raw_len, not exactly one frame, rejected by zstd, or not decoding to
 * exactly raw_len bytes. MN_EINVAL: c NULL, src NULL with len > 0, dst NULL
 * with raw_len > 0. MN_ENOMEM. Never reads outside src[0..len) nor writes
 * outside dst[0..raw_len), whatever the bytes; dst is unspecified after an
 * error. One thread per codec.
 */
int mn__codec_decompress(mn__codec *c, uint8_t method, uint32_t dict_id,
			 const void *src, size_t len, void *dst,
			 size_t raw_len);

#endif
