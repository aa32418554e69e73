/*
 * crc32c.c - CRC-32C: the SSE4.2 crc32 instruction when the CPU has it, a
 * slicing-by-8 table otherwise. The tables are built and the implementation
 * chosen once, under pthread_once, by the first call from any thread.
 */
#include "base/crc32c.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#define CRC32C_POLY 0x82F63B78u /* reflected Castagnoli polynomial */

/* slice[k][b]: the CRC of byte b followed by k zero bytes. Written once by
 * crc_init under pthread_once, read-only afterwards. */
static uint32_t slice[8][256];
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int hw_ok;

typedef uint32_t (*crc_fn)(uint32_t, const void *, size_t);

static uint32_t crc_first(uint32_t crc, const void *p, size_t n);

/* The implementation in use: crc_first until a first call resolved it. A
 * thread that loads the resolved pointer never ran pthread_once itself, so
 * the pointer is published with release and loaded with acquire to carry
 * the table writes along. */
static _Atomic crc_fn crc_impl = crc_first;

static void crc_init(void)
{
	for (unsigned b = 0; b < 256; b++) {
		uint32_t c = b;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (CRC32C_POLY & (0u - (c & 1)));
		slice[0][b] = c;
	}
	for (unsigned b = 0; b < 256; b++)
		for (int k = 1; k < 8; k++)
			slice[k][b] = (slice[k - 1][b] >> 8) ^
				      slice[0][slice[k - 1][b] & 0xFF];
#if defined(__x86_64__)
	__builtin_cpu_init();
	hw_ok = __builtin_cpu_supports("sse4.2") != 0;
#else
	hw_ok = 0;
#endif
}

int mn__crc32c_hw_available(void)
{
	pthread_once(&init_once, crc_init);
	return hw_ok;
}

static inline uint64_t load_le64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

static uint32_t sw_update(uint32_t c, const unsigned char *p, size_t n)
{
	while (n >= 8) {
		uint64_t v = load_le64(p) ^ c;
		c = slice[7][v & 0xFF] ^ slice[6][(v >> 8) & 0xFF] ^
		    slice[5][(v >> 16) & 0xFF] ^ slice[4][(v >> 24) & 0xFF] ^
		    slice[3][(v >> 32) & 0xFF] ^ slice[2][(v >> 40) & 0xFF] ^
		    slice[1][(v >> 48) & 0xFF] ^ slice[0][v >> 56];
		p += 8;
		n -= 8;
	}
	while (n--)
		c = (c >> 8) ^ slice[0][(c ^ *p++) & 0xFF];
	return c;
}

static uint32_t sw_crc(uint32_t crc, const void *p, size_t n)
{
	return ~sw_update(~crc, p, n);
}

uint32_t mn__crc32c_sw(uint32_t crc, const void *p, size_t n)
{
	pthread_once(&init_once, crc_init);
	return sw_crc(crc, p, n);
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t
hw_update(uint32_t c, const unsigned char *p, size_t n)
{
	uint64_t c64 = c;

	/* One dependency chain: 3 cycles per 8 bytes. Records are hundreds of
	 * bytes, where three interleaved chains and their combination step
	 * would not pay for themselves. */
	while (n >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		c64 = __builtin_ia32_crc32di(c64, v);
		p += 8;
		n -= 8;
	}
	c = (uint32_t)c64;
	while (n--)
		c = __builtin_ia32_crc32qi(c, *p++);
	return c;
}

uint32_t mn__crc32c_hw(uint32_t crc, const void *p, size_t n)
{
	return ~hw_update(~crc, p, n);
}
#else
uint32_t mn__crc32c_hw(uint32_t crc, const void *p, size_t n)
{
	return mn__crc32c_sw(crc, p, n);
}
#endif

static uint32_t crc_first(uint32_t crc, const void *p, size_t n)
{
	pthread_once(&init_once, crc_init);
	crc_fn f = hw_ok ? mn__crc32c_hw : sw_crc;
	/* release: pairs with the acquire load in mn__crc32c, so a thread that
	 * calls the resolved function directly sees the tables. */
	atomic_store_explicit(&crc_impl, f, memory_order_release);
	return f(crc, p, n);
}

uint32_t mn__crc32c(uint32_t crc, const void *p, size_t n)
{
	/* acquire: pairs with the release store in crc_first. */
	crc_fn f = atomic_load_explicit(&crc_impl, memory_order_acquire);
	return f(crc, p, n);
}
