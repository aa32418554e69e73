/*
 * plugin_prop.c - the kind "prop" of tests/recovery/test_property.c and
 * tests/recovery/test_live.c, as a mnemo plugin. The tests include this
 * file to run the kind in a runtime, and build it into a shared object at
 * run time (`cc -shared -fPIC -Iinclude`) for `mnemo replay --plugin` and
 * `mnemo diff --plugin`.
 *
 * State: a message count, a running hash of every message's payload and
 * sequence number, and the last sequence number: a function of the
 * messages alone, so a test's model can say what it must be at any seq.
 * PROP_ADD (payload: a uint64_t v, or any bytes: their first 8 folded)
 * updates all three; when v % 4 == 0 it also sets a one-hour timer (not in
 * replay), which an import that copies must hold in the quarantine.
 * hash() is defined, so the runtime records a state hash with each message.
 * A test that includes the file may define PROP_PEEK(ctx, state) to see
 * the state after each message a runtime (not a replay) handles.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mnemo.h"

enum { PROP_ADD = 1 };

typedef struct prop_state {
	uint64_t count, h, seq;
} prop_state;

/* splitmix64's finaliser. */
static uint64_t prop_mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* The state after one more message (v, seq): what the model computes. */
static void prop_step(prop_state *s, uint64_t v, uint64_t seq)
{
	s->count++;
	s->h = prop_mix(s->h ^ prop_mix(v + seq * 0x9e3779b97f4a7c15ull));
	s->seq = seq;
}

static int prop_init(mn_ctx *ctx, void **state)
{
	(void)ctx;
	*state = calloc(1, sizeof(prop_state));
	return *state ? 0 : MN_ENOMEM;
}

static int prop_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	prop_state *s = state;
	uint64_t v = 0;
	if (msg->type != PROP_ADD)
		return MN_EINVAL;
	memcpy(&v, msg->payload, msg->len < sizeof v ? msg->len : sizeof v);
	prop_step(s, v, mn_ctx_seq(ctx));
#ifdef PROP_PEEK
	if (!mn_ctx_replaying(ctx))
		PROP_PEEK(ctx, s);
#endif
	if (v % 4 == 0)
		return mn_ctx_after(ctx, 3600 * 1000, PROP_ADD, &v, sizeof v,
				    NULL);
	return 0;
}

static int prop_snapshot(const void *state, mn_buf *out)
{
	return mn_buf_append(out, state, sizeof(prop_state));
}

static int prop_restore(mn_ctx *ctx, const void *bytes, size_t len,
			void **state)
{
	(void)ctx;
	if (len != sizeof(prop_state))
		return MN_ECORRUPT;
	prop_state *s = malloc(sizeof *s);
	if (!s)
		return MN_ENOMEM;
	memcpy(s, bytes, len);
	*state = s;
	return 0;
}

static void prop_free(void *state)
{
	free(state);
}

/* "count=C h=H seq=S": one line, unique per seq. */
static int prop_describe(const void *state, mn_buf *out)
{
	const prop_state *s = state;
	char text[96];
	int n = snprintf(text, sizeof text, "count=%llu h=%016llx seq=%llu",
			 (unsigned long long)s->count, (unsigned long long)s->h,
			 (unsigned long long)s->seq);
	return mn_buf_append(out, text, (size_t)n);
}

static uint64_t prop_hash(const void *state)
{
	const prop_state *s = state;
	return prop_mix(s->h ^ prop_mix(s->count + (s->seq << 32)));
}

static const mn_kind_def prop_kinds[] = {{
    .name = "prop",
    .init = prop_init,
    .handle = prop_handle,
    .snapshot = prop_snapshot,
    .restore = prop_restore,
    .free = prop_free,
    .snapshot_every = 2,
    .describe = prop_describe,
    .hash = prop_hash,
}};

const mn_kind_def *mnemo_plugin_kinds(size_t *count);

/* The plugin's entry symbol (MN_PLUGIN_SYMBOL). */
const mn_kind_def *mnemo_plugin_kinds(size_t *count)
{
	*count = sizeof prop_kinds / sizeof prop_kinds[0];
	return prop_kinds;
}
