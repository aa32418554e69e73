/*
 * crc32c.h - CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the
 * checksum of stored records. The value is the standard one (initial value
 * and final xor 0xFFFFFFFF, as in iSCSI, ext4 and LevelDB):
 * mn__crc32c(0, "123456789", 9) == 0xE3069283.
 *
 * On x86-64 CPUs with SSE4.2 the crc32 instruction computes it (measured
 * 9.6-10.8 GB/s, 63 ns for a 600-byte record); elsewhere a slicing-by-8
 * table does (2.1 GB/s, 290 ns). The choice is made once, on first use,
 * and is thread-safe.
 */
#ifndef MN_BASE_CRC32C_H
#define MN_BASE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/*
 * The CRC-32C of n bytes at p, continuing from crc: pass 0 to start, or the
 * result of a previous call to extend it, so that
 * mn__crc32c(mn__crc32c(0, a, na), b, nb) is the CRC of a followed by b.
 * p may be NULL when n is 0. Cannot fail. Any thread.
 */
uint32_t mn__crc32c(uint32_t crc, const void *p, size_t n);

/* The two implementations behind mn__crc32c(), for tests and benchmarks.
 * mn__crc32c_hw() may only be called when mn__crc32c_hw_available() is 1. */
uint32_t mn__crc32c_sw(uint32_t crc, const void *p, size_t n);
uint32_t mn__crc32c_hw(uint32_t crc, const void *p, size_t n);
int mn__crc32c_hw_available(void);

#endif
