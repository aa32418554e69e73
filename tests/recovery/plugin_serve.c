/*
 * plugin_serve.c - the kind "tally" as a mnemo plugin, for
 * tests/recovery/test_serve.c: the test builds it into a shared object for
 * `mnemo serve --plugin`, and includes it to reopen the store afterwards.
 *
 * State: how many messages, how many of them were repeats, and a bitmap of
 * the ids seen. TL_MARK (payload: a decimal id 0..TL_IDS-1, or any other
 * bytes: counted only) marks the id; TL_ASK replies {"count":N} (JSON);
 * TL_SILENT is an ask left unanswered (the asker times out); TL_FORWARD
 * sends its payload on to tally/sink as a TL_MARK; TL_BURST (payload: a
 * decimal N up to 511) sends N TL_MARK "x" to tally/sink (for
 * tests/recovery/test_serve_stream.c). describe() writes
 * {"count":N,"dups":D,"ids":"<hex bitmap>"}.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mnemo.h"

enum { TL_MARK = 1, TL_ASK = 2, TL_SILENT = 3, TL_FORWARD = 4, TL_BURST = 5 };
#define TL_IDS 512

typedef struct tally {
	uint64_t count, dups;
	unsigned char ids[TL_IDS / 8];
} tally;

static int tally_init(mn_ctx *ctx, void **state)
{
	(void)ctx;
	*state = calloc(1, sizeof(tally));
	return *state ? 0 : MN_ENOMEM;
}

/* A decimal id in payload, or -1. */
static long tally_id(const mn_msg *msg)
{
	char text[16];
	if (!msg->len || msg->len >= sizeof text)
		return -1;
	memcpy(text, msg->payload, msg->len);
	text[msg->len] = 0;
	char *end;
	long v = strtol(text, &end, 10);
	return *end || v < 0 || v >= TL_IDS ? -1 : v;
}

static int tally_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	tally *t = state;
	char text[64];
	switch (msg->type) {
	case TL_MARK: {
		long id = tally_id(msg);
		t->count++;
		if (id >= 0) {
			unsigned char bit = (unsigned char)(1u << (id % 8));
			if (t->ids[id / 8] & bit)
				t->dups++;
			t->ids[id / 8] |= bit;
		}
		return 0;
	}
	case TL_ASK: {
		int n = snprintf(text, sizeof text, "{\"count\":%llu}",
				 (unsigned long long)t->count);
		return mn_ctx_reply(ctx, TL_ASK, text, (size_t)n);
	}
	case TL_SILENT:
		return 0;
	case TL_FORWARD:
		return mn_ctx_send(ctx, mn_ctx_kind(ctx), "sink", 4, TL_MARK,
				   msg->payload, msg->len);
	case TL_BURST: {
		long n = tally_id(msg);
		for (long i = 0; i < n; i++) {
			int rc = mn_ctx_send(ctx, mn_ctx_kind(ctx), "sink", 4,
					     TL_MARK, "x", 1);
			if (rc)
				return rc;
		}
		return 0;
	}
	default:
		return MN_EINVAL;
	}
}

static int tally_snapshot(const void *state, mn_buf *out)
{
	return mn_buf_append(out, state, sizeof(tally));
}

static int tally_restore(mn_ctx *ctx, const void *bytes, size_t len,
			 void **state)
{
	(void)ctx;
	if (len != sizeof(tally))
		return MN_ECORRUPT;
	tally *t = malloc(sizeof *t);
	if (!t)
		return MN_ENOMEM;
	memcpy(t, bytes, len);
	*state = t;
	return 0;
}

static void tally_free(void *state)
{
	free(state);
}

static int tally_describe(const void *state, mn_buf *out)
{
	const tally *t = state;
	char text[64 + 2 * sizeof t->ids];
	int n = snprintf(
	    text, sizeof text, "{\"count\":%llu,\"dups\":%llu,\"ids\":\"",
	    (unsigned long long)t->count, (unsigned long long)t->dups);
	for (size_t i = 0; i < sizeof t->ids; i++)
		n += snprintf(text + n, sizeof text - (size_t)n, "%02x",
			      t->ids[i]);
	n += snprintf(text + n, sizeof text - (size_t)n, "\"}");
	return mn_buf_append(out, text, (size_t)n);
}

static const mn_kind_def tally_kinds[] = {
    {.size = sizeof(mn_kind_def),
     .name = "tally",
     .init = tally_init,
     .handle = tally_handle,
     .snapshot = tally_snapshot,
     .restore = tally_restore,
     .free = tally_free,
     .describe = tally_describe},
};

const mn_kind_def *mnemo_plugin_kinds(size_t *count);
const mn_kind_def *mnemo_plugin_kinds(size_t *count)
{
	*count = sizeof tally_kinds / sizeof tally_kinds[0];
	return tally_kinds;
}
