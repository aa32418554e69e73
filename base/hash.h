/*
 * hash.h - the 64-bit hash of actor addresses.
 *
 * Keys are short byte strings (1..255 bytes, typically 8-40). The hash reads
 * 8 bytes at a time, folds each word with a multiply and a rotate, and ends
 * with an avalanche so that both the top bits (shard choice) and the low bits
 * (bucket choice) depend on every input byte.
 */
#ifndef MN_BASE_HASH_H
#define MN_BASE_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define MN__HASH_K1 0x9e3779b97f4a7c15ull
#define MN__HASH_K2 0xc2b2ae3d27d4eb4full
#define MN__HASH_K3 0x165667b19e3779f9ull

static inline uint64_t mn__rotl64(uint64_t x, unsigned r)
{
	return (x << r) | (x >> (64 - r));
}

static inline uint64_t mn__hash_word(uint64_t h, uint64_t w)
{
	w *= MN__HASH_K2;
	w = mn__rotl64(w, 31);
	w *= MN__HASH_K1;
	h ^= w;
	return mn__rotl64(h, 27) * 5 + 0x52dce729;
}

/* Hash len bytes at p with seed (the kind index). Cannot fail. */
static inline uint64_t mn__hash(uint64_t seed, const void *p, size_t len)
{
	const unsigned char *b = p;
	uint64_t h = (seed + 1) * MN__HASH_K3 ^ (uint64_t)len;
	uint64_t w;

	while (len >= 8) {
		memcpy(&w, b, 8);
		h = mn__hash_word(h, w);
		b += 8;
		len -= 8;
	}
	if (len) {
		w = 0;
		memcpy(&w, b, len);
		h = mn__hash_word(h, w ^ ((uint64_t)len << 56));
	}
	h ^= h >> 33;
	h *= MN__HASH_K2;
	h ^= h >> 29;
	h *= MN__HASH_K3;
	h ^= h >> 32;
	return h;
}

/* The hash of a snapshot's bytes stored with it (Snapshot.state_hash;
 * docs/format.md): part of the store format, so never change it. */
static inline uint64_t mn__snap_hash(const void *p, size_t len)
{
	uint64_t h = mn__hash(0x6d6e656d6full, p, len);
	return h ? h : 1;
}

#endif
