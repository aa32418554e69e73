/*
 * offline.c - a handler context outside any runtime (core/offline.h).
 *
 * Which fields the mn_ctx_* functions read (core/runtime.c): rt (send
 * checks: kind->rt == rt, max_payload; mn_kind_find: kinds, nkinds), kind
 * (name, def.arg, persistent), actor (key), w (idx), seq, replaying and
 * replay_sender_* (mn_ctx_sender, mn_ctx_reply), now_ms, rng and seq
 * (mn_ctx_time, mn_ctx_random), and, for mn_ctx_call_* (core/calls.c),
 * kind->persistent, replaying and the replay_call_* of the entry
 * (mn__ctx_replay_entry). msg stays NULL and replaying true, so no send
 * or call path past the checks is ever taken: a call is compared with
 * the recorded one, never held or issued.
 */
#include <stdlib.h>
#include <string.h>

#include "core/offline.h"
#include "core/calls.h"
#include "core/runtime.h"

struct mn__offline {
	mn_runtime *rt;
	mn__worker *w;
	mn__actor *actor;
	mn_ctx ctx;
};

/* Zeroed memory aligned for the alignas(64) members of the runtime's
 * structures. */
static void *zalloc_aligned(size_t size)
{
	void *p = NULL;
	size = (size + 63) & ~(size_t)63;
	if (posix_memalign(&p, 64, size) != 0)
		return NULL;
	memset(p, 0, size);
	return p;
}

int mn__offline_new(mn__offline **out)
{
	mn__offline *o = calloc(1, sizeof *o);
	if (!o)
		return MN_ENOMEM;
	o->rt = zalloc_aligned(sizeof *o->rt);
	o->w = zalloc_aligned(sizeof *o->w);
	if (!o->rt || !o->w) {
		mn__offline_free(o);
		return MN_ENOMEM;
	}
	o->rt->nworkers = 1;
	o->rt->max_payload = MN_PAYLOAD_MAX_DEFAULT;
	o->rt->workers = o->w;
	atomic_store_explicit(&o->rt->nkinds, 0, memory_order_relaxed);
	o->w->rt = o->rt;
	o->w->idx = 0;
	o->ctx.rt = o->rt;
	o->ctx.w = o->w;
	o->ctx.replaying = true;
	*out = o;
	return 0;
}

void mn__offline_free(mn__offline *o)
{
	if (!o)
		return;
	if (o->rt) {
		unsigned n =
		    atomic_load_explicit(&o->rt->nkinds, memory_order_relaxed);
		for (unsigned i = 0; i < n; i++)
			free(o->rt->kinds[i]);
	}
	mn__buf_free(&o->ctx.diverge_intent);
	free(o->rt);
	free(o->w);
	free(o->actor);
	free(o);
}

int mn__offline_add_kind(mn__offline *o, const char *name,
			 const mn_kind_def *def, mn_kind **out)
{
	size_t len = name ? strlen(name) : 0;
	if (len == 0 || len > MN_KIND_NAME_MAX)
		return MN_EINVAL;
	if (mn_kind_find(o->rt, name))
		return MN_EEXIST;
	unsigned n = atomic_load_explicit(&o->rt->nkinds, memory_order_relaxed);
	if (n >= MN_KINDS_MAX)
		return MN_ELIMIT;
	mn_kind *k = calloc(1, sizeof *k);
	if (!k)
		return MN_ENOMEM;
	k->rt = o->rt;
	k->idx = (uint16_t)n;
	k->persistent = true;
	if (def)
		k->def = *def;
	if (!k->def.version)
		k->def.version = 1;
	memcpy(k->name, name, len + 1);
	k->def.name = k->name;
	o->rt->kinds[n] = k;
	atomic_store_explicit(&o->rt->nkinds, n + 1, memory_order_relaxed);
	if (out)
		*out = k;
	return 0;
}

const mn_kind_def *mn__offline_kind_def(const mn_kind *k)
{
	return &k->def;
}

mn_runtime *mn__offline_runtime(mn__offline *o)
{
	return o->rt;
}

int mn__offline_set_actor(mn__offline *o, const mn_kind *kind, const void *key,
			  size_t key_len)
{
	if (!key || key_len == 0 || key_len > MN_KEY_MAX)
		return MN_EKEY;
	mn__actor *a = calloc(1, sizeof *a + key_len);
	if (!a)
		return MN_ENOMEM;
	memcpy(a->key, key, key_len);
	a->key_len = (uint8_t)key_len;
	a->kind_idx = kind->idx;
	free(o->actor);
	o->actor = a;
	o->ctx.actor = a;
	o->ctx.kind = kind;
	return 0;
}

void mn__offline_set_message(mn__offline *o, const mn_kind *sender_kind,
			     const void *sender_key, size_t sender_key_len,
			     uint64_t seq)
{
	mn_ctx *ctx = &o->ctx;
	ctx->replay_sender_kind = NULL;
	ctx->replay_sender_key_len = 0;
	if (sender_kind && sender_key_len && sender_key_len <= MN_KEY_MAX) {
		ctx->replay_sender_kind = sender_kind;
		memcpy(ctx->replay_sender_key, sender_key, sender_key_len);
		ctx->replay_sender_key_len = sender_key_len;
	}
	ctx->seq = seq;
	ctx->msg = NULL;
	ctx->replaying = true;
	ctx->replay_timer_ids = NULL;
	ctx->replay_ntimer_ids = 0;
	ctx->replay_timer_next = 0;
	/* No recorded calls (init, restore) until set_entry: calls made
	 * then are compared with nothing. */
	ctx->ncalls = 0;
	ctx->replay_call_hashes = NULL;
	ctx->replay_calls = NULL;
	ctx->replay_call_lens = NULL;
	ctx->replay_ncalls = 0;
	ctx->diverged = false;
	ctx->rng_seeded = false;
	ctx->now_ms = 0;
}

void mn__offline_set_timer_ids(mn__offline *o, const uint64_t *ids, size_t n)
{
	o->ctx.replay_timer_ids = ids;
	o->ctx.replay_ntimer_ids = n;
	o->ctx.replay_timer_next = 0;
}

void mn__offline_set_entry(mn__offline *o, const struct mn__entry *e)
{
	mn__ctx_replay_entry(&o->ctx, e);
}

void mn__offline_calls_get(mn__offline *o, mn__offline_calls *out)
{
	const mn_ctx *ctx = &o->ctx;
	*out = (mn__offline_calls){
	    .made = ctx->ncalls,
	    .diverged = ctx->diverged,
	    .index = ctx->diverge_index,
	    .intent = ctx->diverged ? ctx->diverge_intent.data : NULL,
	    .len = ctx->diverged ? ctx->diverge_intent.len : 0,
	};
}

mn_ctx *mn__offline_ctx(mn__offline *o)
{
	return &o->ctx;
}
