/*
 * plugin_counter.c - the kind "counter" as a mnemo plugin, for
 * tests/recovery/test_replay.c. The test includes this file to run the kind
 * in a runtime, and builds it into a shared object at run time
 * (`cc -shared -fPIC -Iinclude`) for `mnemo replay --plugin`:
 *
 *   - as is: the same code that wrote the history (replay matches);
 *   - with -DMN_PLUGIN_BUGGY: a changed behaviour (each ADD counts 2), which
 *     replay must report as diverging from the recorded history (by the
 *     state hash after message 1; by the stored snapshots if also
 *     -DMN_PLUGIN_NO_HASH);
 *   - with -DMN_PLUGIN_LATE: a change that shows only from ADD 8 on (it
 *     adds 80), between two stored snapshots;
 *   - with -DMN_PLUGIN_CRASH: ADD 9 crashes the process (SIGSEGV);
 *   - with -DMN_PLUGIN_HANG: ADD 10 never returns;
 *   - with -DMN_PLUGIN_NO_ENTRY: without the entry symbol;
 *   - with -DMN_PLUGIN_V2: version 2 of the kind, whose snapshots store
 *     (sum, count) where version 1 stored (count, sum): its restore()
 *     reads both by mn_ctx_state_version(); with -DMN_PLUGIN_V2_UPGRADE as
 *     well, an upgrade() converts version 1's bytes and restore() reads
 *     version 2's only; with -DMN_PLUGIN_V2_STRICT instead, restore()
 *     refuses version 1's bytes and there is no upgrade() (mnemo check:
 *     cannot restore). Behaviour is version 1's in all three
 *     (tests/recovery/test_check.c).
 *
 * The kind has hash() (unless -DMN_PLUGIN_NO_HASH), so the runtime records
 * a state hash with each message.
 * State: count and sum. CT_ADD (payload: a uint64_t) counts one and adds
 * the value; CT_PING tells counter/peer (a send, suppressed in replay) and
 * sets a one-hour timer (nothing in replay), changing no state.
 */
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mnemo.h"

enum { CT_ADD = 1, CT_PING = 2 };

typedef struct counter {
	uint64_t count, sum;
} counter;

static int counter_init(mn_ctx *ctx, void **state)
{
	(void)ctx;
	*state = calloc(1, sizeof(counter));
	return *state ? 0 : MN_ENOMEM;
}

static int counter_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	counter *c = state;
	uint64_t v;
	switch (msg->type) {
	case CT_ADD:
		if (msg->len != sizeof v)
			return MN_EINVAL;
		memcpy(&v, msg->payload, sizeof v);
#ifdef MN_PLUGIN_CRASH
		if (v == 9)
			raise(SIGSEGV);
#endif
#ifdef MN_PLUGIN_HANG
		if (v == 10)
			for (volatile int spin = 1; spin;)
				;
#endif
#ifdef MN_PLUGIN_LATE
		if (v == 8)
			v = 80;
#endif
#ifdef MN_PLUGIN_BUGGY
		c->count += 2;
#else
		c->count += 1;
#endif
		c->sum += v;
		return 0;
	case CT_PING: {
		v = 100;
		int rc = mn_ctx_send(ctx, mn_ctx_kind(ctx), "peer", 4, CT_ADD,
				     &v, sizeof v);
		if (rc)
			return rc;
		return mn_ctx_after(ctx, 3600 * 1000, CT_ADD, &v, sizeof v,
				    NULL);
	}
	default:
		return MN_EINVAL;
	}
}

#ifdef MN_PLUGIN_V2
#define COUNTER_VERSION 2
#else
#define COUNTER_VERSION 1
#endif

/* (a, b) of a 16-byte snapshot, swapped when swap. */
static void counter_pair(const void *bytes, bool swap, uint64_t *a, uint64_t *b)
{
	uint64_t v[2];
	memcpy(v, bytes, sizeof v);
	*a = v[swap ? 1 : 0];
	*b = v[swap ? 0 : 1];
}

static int counter_snapshot(const void *state, mn_buf *out)
{
	const counter *c = state;
	uint64_t v[2] = {c->count, c->sum};
	if (COUNTER_VERSION == 2) {
		v[0] = c->sum;
		v[1] = c->count;
	}
	return mn_buf_append(out, v, sizeof v);
}

static int counter_restore(mn_ctx *ctx, const void *bytes, size_t len,
			   void **state)
{
	uint32_t version = mn_ctx_state_version(ctx);
	if (len != sizeof(counter) || version > COUNTER_VERSION)
		return MN_ECORRUPT;
#if defined(MN_PLUGIN_V2_UPGRADE) || defined(MN_PLUGIN_V2_STRICT)
	if (version != 2)
		return MN_EVERSION;
#endif
	counter *c = malloc(sizeof *c);
	if (!c)
		return MN_ENOMEM;
	counter_pair(bytes, version == 2, &c->count, &c->sum);
	*state = c;
	return 0;
}

#ifdef MN_PLUGIN_V2_UPGRADE
static int counter_upgrade(uint32_t from, const void *bytes, size_t len,
			   mn_buf *out)
{
	uint64_t v[2];
	if (from != 1 || len != sizeof v)
		return MN_ECORRUPT;
	counter_pair(bytes, true, &v[0], &v[1]);
	return mn_buf_append(out, v, sizeof v);
}
#endif

static void counter_free(void *state)
{
	free(state);
}

static int counter_describe(const void *state, mn_buf *out)
{
	const counter *c = state;
	char text[64];
	int n =
	    snprintf(text, sizeof text, "count=%llu sum=%llu",
		     (unsigned long long)c->count, (unsigned long long)c->sum);
	return mn_buf_append(out, text, (size_t)n);
}

#ifndef MN_PLUGIN_NO_HASH
/* The state's hash: the two counts mixed (splitmix64's finaliser). */
static uint64_t counter_hash(const void *state)
{
	const counter *c = state;
	uint64_t z = c->count * 0x9e3779b97f4a7c15ull + c->sum;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}
#endif

static const mn_kind_def counter_kinds[] = {{
    .size = sizeof(mn_kind_def),
    .name = "counter",
    .version = COUNTER_VERSION,
#ifdef MN_PLUGIN_V2_UPGRADE
    .upgrade = counter_upgrade,
#endif
    .init = counter_init,
    .handle = counter_handle,
    .snapshot = counter_snapshot,
    .restore = counter_restore,
    .free = counter_free,
    .snapshot_every = 5,
    .describe = counter_describe,
#ifndef MN_PLUGIN_NO_HASH
    .hash = counter_hash,
#endif
}};

#ifndef MN_PLUGIN_NO_ENTRY
const mn_kind_def *mnemo_plugin_kinds(size_t *count);

/* The plugin's entry symbol (MN_PLUGIN_SYMBOL). */
const mn_kind_def *mnemo_plugin_kinds(size_t *count)
{
	*count = sizeof counter_kinds / sizeof counter_kinds[0];
	return counter_kinds;
}
#endif
