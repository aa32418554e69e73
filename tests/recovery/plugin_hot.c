/*
 * plugin_hot.c - the kind "meter" as a mnemo plugin, for
 * tests/recovery/test_serve_upgrade.c (a hot upgrade of `mnemo serve`):
 * built into shared objects at run time, in three versions:
 *
 *   as is:                 version 1; snapshots are (count, sum);
 *   -DMN_PLUGIN_V2:        version 2; snapshots are (sum, count, 2), with
 *                          an upgrade() from version 1's bytes; the same
 *                          behaviour, so `mnemo check` passes;
 *   -DMN_PLUGIN_DIVERGE:   version 2 whose ADD counts twice: the check
 *                          reports every actor diverged and the upgrade
 *                          is refused.
 *
 * MT_ADD (payload: decimal text) counts one and adds the value. describe()
 * writes {"count":N,"sum":S,"v":V}: V is the version of the code that
 * answers, so the test sees which code runs. The state hash is recorded
 * after every message (hash()), snapshots every 4 messages.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mnemo.h"

#if defined(MN_PLUGIN_V2) || defined(MN_PLUGIN_DIVERGE)
#define METER_VERSION 2
#else
#define METER_VERSION 1
#endif

enum { MT_ADD = 1 };

typedef struct meter {
	uint64_t count, sum;
} meter;

static int meter_init(mn_ctx *ctx, void **state)
{
	(void)ctx;
	*state = calloc(1, sizeof(meter));
	return *state ? 0 : MN_ENOMEM;
}

static int meter_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	meter *m = state;
	char text[24];
	(void)ctx;
	if (msg->type != MT_ADD || !msg->len || msg->len >= sizeof text)
		return MN_EINVAL;
	memcpy(text, msg->payload, msg->len);
	text[msg->len] = 0;
#ifdef MN_PLUGIN_DIVERGE
	m->count += 2;
#else
	m->count += 1;
#endif
	m->sum += strtoull(text, NULL, 10);
	return 0;
}

static int meter_snapshot(const void *state, mn_buf *out)
{
	const meter *m = state;
#if METER_VERSION == 2
	uint64_t v[3] = {m->sum, m->count, 2};
#else
	uint64_t v[2] = {m->count, m->sum};
#endif
	return mn_buf_append(out, v, sizeof v);
}

static int meter_restore(mn_ctx *ctx, const void *bytes, size_t len,
			 void **state)
{
	uint64_t v[3];
	meter *m;
	if (mn_ctx_state_version(ctx) != METER_VERSION)
		return MN_EVERSION;
	if (len != (METER_VERSION == 2 ? 24 : 16))
		return MN_ECORRUPT;
	memcpy(v, bytes, len);
	if (!(m = malloc(sizeof *m)))
		return MN_ENOMEM;
	m->count = METER_VERSION == 2 ? v[1] : v[0];
	m->sum = METER_VERSION == 2 ? v[0] : v[1];
	*state = m;
	return 0;
}

#if METER_VERSION == 2
static int meter_upgrade(uint32_t from, const void *bytes, size_t len,
			 mn_buf *out)
{
	uint64_t v1[2], v2[3];
	if (from != 1 || len != sizeof v1)
		return MN_ECORRUPT;
	memcpy(v1, bytes, sizeof v1);
	v2[0] = v1[1];
	v2[1] = v1[0];
	v2[2] = 2;
	return mn_buf_append(out, v2, sizeof v2);
}
#endif

static int meter_describe(const void *state, mn_buf *out)
{
	const meter *m = state;
	char text[96];
	int n = snprintf(text, sizeof text,
			 "{\"count\":%llu,\"sum\":%llu,\"v\":%d}",
			 (unsigned long long)m->count,
			 (unsigned long long)m->sum, METER_VERSION);
	return mn_buf_append(out, text, (size_t)n);
}

static uint64_t meter_hash(const void *state)
{
	const meter *m = state;
	uint64_t z = m->count * 0x9e3779b97f4a7c15ull ^ m->sum;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	return z ^ (z >> 31);
}

static const mn_kind_def meter_kinds[] = {{
    .size = sizeof(mn_kind_def),
    .name = "meter",
    .init = meter_init,
    .handle = meter_handle,
    .snapshot = meter_snapshot,
    .restore = meter_restore,
    .free = free,
    .snapshot_every = 4,
    .describe = meter_describe,
    .hash = meter_hash,
    .version = METER_VERSION,
#if METER_VERSION == 2
    .upgrade = meter_upgrade,
#endif
}};

const mn_kind_def *mnemo_plugin_kinds(size_t *count);
const mn_kind_def *mnemo_plugin_kinds(size_t *count)
{
	*count = sizeof meter_kinds / sizeof meter_kinds[0];
	return meter_kinds;
}
