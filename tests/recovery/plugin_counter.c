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
 *   - with -DMN_PLUGIN_NO_ENTRY: without the entry symbol.
 *
 * The kind has hash() (unless -DMN_PLUGIN_NO_HASH), so the runtime records
 * a state hash with each message.
 * State: count and sum. CT_ADD (payload: a uint64_t) counts one and adds
 * the value; CT_PING tells counter/peer (a send, suppressed in replay) and
 * sets a one-hour timer (nothing in replay), changing no state.
 */
#include <signal.h>
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

static int counter_snapshot(const void *state, mn_buf *out)
{
	return mn_buf_append(out, state, sizeof(counter));
}

static int counter_restore(mn_ctx *ctx, const void *bytes, size_t len,
			   void **state)
{
	(void)ctx;
	if (len != sizeof(counter))
		return MN_ECORRUPT;
	counter *c = malloc(sizeof *c);
	if (!c)
		return MN_ENOMEM;
	memcpy(c, bytes, len);
	*state = c;
	return 0;
}

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
    .name = "counter",
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
