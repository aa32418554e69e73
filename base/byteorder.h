/*
 * byteorder.h - fixed-width integers to and from bytes, in the two orders
 * the store format uses: big-endian for LMDB keys (so that memcmp order is
 * numeric order) and little-endian inside record frames (docs/format.md).
 * Unaligned pointers are fine.
 */
#ifndef MN_BASE_BYTEORDER_H
#define MN_BASE_BYTEORDER_H

#include <stdint.h>

static inline void mn__be32_put(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static inline uint32_t mn__be32_get(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static inline void mn__be64_put(unsigned char *p, uint64_t v)
{
	mn__be32_put(p, (uint32_t)(v >> 32));
	mn__be32_put(p + 4, (uint32_t)v);
}

static inline uint64_t mn__be64_get(const unsigned char *p)
{
	return (uint64_t)mn__be32_get(p) << 32 | mn__be32_get(p + 4);
}

static inline void mn__le32_put(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static inline uint32_t mn__le32_get(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline void mn__le64_put(unsigned char *p, uint64_t v)
{
	mn__le32_put(p, (uint32_t)v);
	mn__le32_put(p + 4, (uint32_t)(v >> 32));
}

static inline uint64_t mn__le64_get(const unsigned char *p)
{
	return (uint64_t)mn__le32_get(p) | (uint64_t)mn__le32_get(p + 4) << 32;
}

#endif
