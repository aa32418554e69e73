/*
 * buf.h - mn_buf, the growable byte buffer the runtime hands to kinds
 * (snapshot output) and uses internally.
 */
#ifndef MN_BASE_BUF_H
#define MN_BASE_BUF_H

#include <stddef.h>

struct mn_buf {
	unsigned char *data;
	size_t len;
	size_t cap;
};

/* An empty buffer; no allocation until the first append. */
static inline void mn__buf_init(struct mn_buf *b)
{
	b->data = NULL;
	b->len = b->cap = 0;
}

/* Free the bytes and leave b empty. */
void mn__buf_free(struct mn_buf *b);

/* Ensure room for n more bytes. Returns 0 or MN_ENOMEM. */
int mn__buf_reserve(struct mn_buf *b, size_t n);

#endif
