/*
 * record.c - commit records: their allocation in the worker's ring (R1,
 * record.h) and the held items a handler's sends and timers become in its
 * ctx until the commit. Worker threads allocate and hold; the writer
 * releases.
 */
#include "core/record.h"

#include <stdlib.h>
#include <string.h>

#include "core/persist.h"

/* A commit record of size bytes with its header zeroed: from the worker's
 * ring (R1) or malloc. NULL when out of memory. Worker thread. */
wrec *mn__wrec_alloc(mn__worker *w, size_t size)
{
	struct mn__wring *g = w->wring;
	size_t n = (size + 63) & ~(size_t)63;
	wrec *r = NULL;
	size_t span = 0;
	if (g && n <= MN__WRING_MAX) {
		/* acquire: pairs with the writer's release of the bytes. */
		size_t tail =
		    atomic_load_explicit(&g->tail, memory_order_acquire);
		size_t off = g->head & (MN__WRING_CAP - 1);
		size_t pad = off + n > MN__WRING_CAP ? MN__WRING_CAP - off : 0;
		if (g->head + pad + n - tail <= MN__WRING_CAP) {
			r = (wrec *)(g->buf + (pad ? 0 : off));
			span = pad + n;
			g->head += span;
		}
	}
	if (!r && !(r = malloc(size)))
		return NULL;
	memset(r, 0, sizeof *r);
	r->ring = span ? g : NULL;
	r->ring_span = span;
	return r;
}

/* Give a record's memory back (writer): to its ring, or free(). */
void mn__wrec_release(wrec *r)
{
	struct mn__wring *g = r->ring;
	if (!g) {
		free(r);
		return;
	}
	size_t span = r->ring_span;
	/* One writer: load + store. release: every use of the record
	 * happens before the worker may reuse its bytes (R1). */
	atomic_store_explicit(
	    &g->tail,
	    atomic_load_explicit(&g->tail, memory_order_relaxed) + span,
	    memory_order_release);
}

int mn__persist_hold_send(mn_ctx *ctx, const mn_kind *kind, const void *key,
			  size_t key_len, uint32_t type, const void *payload,
			  size_t len)
{
	size_t sz = held_size(key_len, len);
	int rc = mn__buf_reserve(&ctx->pending, sz);
	if (rc)
		return rc;
	held_send h = {.kind_idx = kind->idx,
		       .key_len = (uint8_t)key_len,
		       .tag = HELD_SEND,
		       .type = type,
		       .len = len};
	unsigned char *q = ctx->pending.data + ctx->pending.len;
	memcpy(q, &h, sizeof h);
	memcpy(q + sizeof h, key, key_len);
	if (len)
		memcpy(q + sizeof h + key_len, payload, len);
	ctx->pending.len += sz;
	ctx->npending++;
	ctx->npending_msgs++;
	/* DR1: counted before the writer pushes it, after the commit. */
	mn__count(&ctx->w->n_sent, 1);
	return 0;
}

/* Hold a timer (tag HELD_TIMER, with payload) or a cancel (HELD_CANCEL). */
int mn__persist_hold_timer(mn_ctx *ctx, uint8_t tag, uint64_t id, uint32_t type,
			   const void *payload, size_t len)
{
	size_t sz = held_size(0, 8 + len);
	int rc = mn__buf_reserve(&ctx->pending, sz);
	if (rc)
		return rc;
	held_send h = {.tag = tag, .type = type, .len = 8 + len};
	unsigned char *q = ctx->pending.data + ctx->pending.len;
	memcpy(q, &h, sizeof h);
	memcpy(q + sizeof h, &id, 8);
	if (len)
		memcpy(q + sizeof h + 8, payload, len);
	ctx->pending.len += sz;
	ctx->npending++;
	return 0;
}
