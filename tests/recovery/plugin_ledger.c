/*
 * plugin_ledger.c - the kind "ledger" as a mnemo plugin, for
 * tests/recovery/test_serve_kill.c: the test builds it into a shared
 * object for `mnemo serve --plugin` and reads its state back through GET
 * /v1/actors/ledger/KEY.
 *
 * A ledger records what it processed: LG_MARK's payload is a decimal id,
 * client * LG_PER + n (client < LG_CLIENTS, n < LG_PER: the client's n-th
 * message). State: how many marks, how many repeated an id already seen
 * (dups), how many came from a client with an n not above the last one
 * seen from it (disorder: a repeat or an order broken), payloads that were
 * no id (bad), each client's last n (-1: none yet) and a bitmap of the ids.
 * LG_ASK replies {"count":N}. describe() writes
 * {"count":N,"dups":D,"disorder":O,"bad":B,"last":[..],"ids":"<hex>"}.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mnemo.h"

enum { LG_MARK = 1, LG_ASK = 2 };
#define LG_CLIENTS 8
#define LG_PER	   1024
#define LG_IDS	   (LG_CLIENTS * LG_PER)

typedef struct ledger {
	uint64_t count, dups, disorder, bad;
	int32_t last[LG_CLIENTS];
	unsigned char ids[LG_IDS / 8];
} ledger;

static int ledger_init(mn_ctx *ctx, void **state)
{
	(void)ctx;
	ledger *l = calloc(1, sizeof *l);
	if (!l)
		return MN_ENOMEM;
	for (int i = 0; i < LG_CLIENTS; i++)
		l->last[i] = -1;
	*state = l;
	return 0;
}

/* A decimal id in payload, or -1. */
static long ledger_id(const mn_msg *msg)
{
	char text[16];
	if (!msg->len || msg->len >= sizeof text)
		return -1;
	memcpy(text, msg->payload, msg->len);
	text[msg->len] = 0;
	char *end;
	long v = strtol(text, &end, 10);
	return *end || v < 0 || v >= LG_IDS ? -1 : v;
}

static int ledger_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	ledger *l = state;
	char text[64];
	if (msg->type == LG_ASK) {
		int n = snprintf(text, sizeof text, "{\"count\":%llu}",
				 (unsigned long long)l->count);
		return mn_ctx_reply(ctx, LG_ASK, text, (size_t)n);
	}
	if (msg->type != LG_MARK)
		return MN_EINVAL;
	long id = ledger_id(msg);
	l->count++;
	if (id < 0) {
		l->bad++;
		return 0;
	}
	unsigned char bit = (unsigned char)(1u << (id % 8));
	if (l->ids[id / 8] & bit)
		l->dups++;
	l->ids[id / 8] |= bit;
	int32_t c = (int32_t)(id / LG_PER), n = (int32_t)(id % LG_PER);
	if (n <= l->last[c])
		l->disorder++;
	else
		l->last[c] = n;
	return 0;
}

static int ledger_snapshot(const void *state, mn_buf *out)
{
	return mn_buf_append(out, state, sizeof(ledger));
}

static int ledger_restore(mn_ctx *ctx, const void *bytes, size_t len,
			  void **state)
{
	(void)ctx;
	if (len != sizeof(ledger))
		return MN_ECORRUPT;
	ledger *l = malloc(sizeof *l);
	if (!l)
		return MN_ENOMEM;
	memcpy(l, bytes, len);
	*state = l;
	return 0;
}

static void ledger_free(void *state)
{
	free(state);
}

static int ledger_describe(const void *state, mn_buf *out)
{
	const ledger *l = state;
	char text[256 + 12 * LG_CLIENTS + 2 * sizeof l->ids];
	int n = snprintf(
	    text, sizeof text,
	    "{\"count\":%llu,\"dups\":%llu,\"disorder\":%llu,"
	    "\"bad\":%llu,\"last\":[",
	    (unsigned long long)l->count, (unsigned long long)l->dups,
	    (unsigned long long)l->disorder, (unsigned long long)l->bad);
	for (int i = 0; i < LG_CLIENTS; i++)
		n += snprintf(text + n, sizeof text - (size_t)n, "%s%d",
			      i ? "," : "", (int)l->last[i]);
	n += snprintf(text + n, sizeof text - (size_t)n, "],\"ids\":\"");
	for (size_t i = 0; i < sizeof l->ids; i++)
		n += snprintf(text + n, sizeof text - (size_t)n, "%02x",
			      l->ids[i]);
	n += snprintf(text + n, sizeof text - (size_t)n, "\"}");
	return mn_buf_append(out, text, (size_t)n);
}

static const mn_kind_def ledger_kinds[] = {
    {.size = sizeof(mn_kind_def),
     .name = "ledger",
     .init = ledger_init,
     .handle = ledger_handle,
     .snapshot = ledger_snapshot,
     .restore = ledger_restore,
     .free = ledger_free,
     .describe = ledger_describe},
};

const mn_kind_def *mnemo_plugin_kinds(size_t *count);
const mn_kind_def *mnemo_plugin_kinds(size_t *count)
{
	*count = sizeof ledger_kinds / sizeof ledger_kinds[0];
	return ledger_kinds;
}
