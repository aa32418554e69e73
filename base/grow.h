/*
 * grow.h - the one growth rule for arrays: capacity doubles (from a given
 * first capacity) until it holds n items, with the multiplication checked
 * against overflow. mn_buf (buf.h) uses the same rule for bytes.
 */
#ifndef MN_BASE_GROW_H
#define MN_BASE_GROW_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "include/mnemo.h"

/*
 * Make *arrp (a pointer to an array of elem-byte items with capacity *cap)
 * hold at least n items; first is the capacity of a first allocation.
 * Returns 0 (nothing moved if it already did) or MN_ENOMEM, leaving the
 * array and *cap as they were. arrp is a T ** passed as void *.
 */
static inline int mn__grow(void *arrp, size_t *cap, size_t n, size_t elem,
			   size_t first)
{
	void **pa = arrp;
	if (n <= *cap)
		return 0;
	size_t c = *cap ? *cap : (first ? first : 1);
	while (c < n) {
		if (c > SIZE_MAX / 2)
			return MN_ENOMEM;
		c *= 2;
	}
	if (elem && c > SIZE_MAX / elem)
		return MN_ENOMEM;
	void *na = realloc(*pa, c * elem);
	if (!na)
		return MN_ENOMEM;
	*pa = na;
	*cap = c;
	return 0;
}

#endif
