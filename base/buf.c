/*
 * buf.c - mn_buf: append-only growable byte buffer (grows by base/grow.h).
 */
#include "base/buf.h"
#include "base/grow.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "include/mnemo.h"

void mn__buf_free(struct mn_buf *b)
{
	free(b->data);
	mn__buf_init(b);
}

int mn__buf_reserve(struct mn_buf *b, size_t n)
{
	if (n > SIZE_MAX - b->len)
		return MN_ENOMEM;
	/* The one growth rule (grow.h), first 64 bytes. */
	return mn__grow(&b->data, &b->cap, b->len + n, 1, 64);
}

int mn_buf_append(mn_buf *b, const void *data, size_t len)
{
	if (!b || (!data && len))
		return MN_EINVAL;
	if (len == 0)
		return 0;
	int rc = mn__buf_reserve(b, len);
	if (rc)
		return rc;
	memcpy(b->data + b->len, data, len);
	b->len += len;
	return 0;
}

const void *mn_buf_data(const mn_buf *b)
{
	return b->data;
}

size_t mn_buf_len(const mn_buf *b)
{
	return b->len;
}
