/*
 * ctx.c - the handler context's calls (mn_ctx_*): sends, replies, the
 * running actor's identity, timers. A send from a persistent actor's
 * handler is held until its commit (persist.c, output commit); during
 * replay sends and timers are suppressed (their effect was stored the
 * first time). Owns no invariant of its own.
 *
 * Threads: worker threads only, inside init/handle (the ctx is the
 * worker's).
 */
#include "base/clock.h"
#include "base/hash.h"
#include "core/events.h"
#include "core/persist.h"
#include "core/runtime.h"
#include "core/send.h"

int mn_ctx_send(mn_ctx *ctx, const mn_kind *kind, const void *key,
		size_t key_len, uint32_t type, const void *payload, size_t len)
{
	if (!ctx)
		return MN_EINVAL;
	int rc = mn__check_send(ctx->rt, kind, key, key_len, payload, len);
	if (rc)
		return rc;
	if (ctx->replaying)
		return 0; /* its effect was stored the first time */
	if (ctx->hold_sends)
		return mn__persist_hold_send(ctx, kind, key, key_len, type,
					     payload, len);
	mn__sendx x = {0};
	rc = mn__send(ctx->rt, ctx->w, ctx->actor, kind, key, key_len, type,
		      payload, len, &x);
	if (rc == MN__EDELETING) {
		/* As for a broken recipient: dropped there, not an error of
		 * this handler. */
		mn__event(&ctx->rt->ev, MN_EVENT_DROPPED, MN_ENOACTOR, kind,
			  key, key_len, 0,
			  "message type %u dropped: the actor is being deleted",
			  (unsigned)type);
		rc = 0;
	}
	return rc;
}

int mn_ctx_reply(mn_ctx *ctx, uint32_t type, const void *payload, size_t len)
{
	if (!ctx)
		return MN_EINVAL;
	/* An ask from outside: the answer goes to the asker (ask.c). */
	if (ctx->replaying ? (ctx->replay_flags & MN_MSG_ASK)
			   : (ctx->msg && (ctx->msg->flags & MN_MSG_ASK)))
		return mn__ask_answer(ctx,
				      ctx->replaying ? 0 : ctx->msg->sender_id,
				      type, payload, len);
	mn_addr from;
	int rc = mn_ctx_sender(ctx, &from);
	if (rc)
		return rc;
	const mn_kind *k = ctx->replaying
			       ? ctx->replay_sender_kind
			       : ctx->rt->kinds[ctx->msg->sender_kind];
	return mn_ctx_send(ctx, k, from.key, from.key_len, type, payload, len);
}

void mn_ctx_self(const mn_ctx *ctx, mn_addr *out)
{
	out->kind = ctx->kind->name;
	out->key = ctx->actor->key;
	out->key_len = ctx->actor->key_len;
}

int mn_ctx_sender(const mn_ctx *ctx, mn_addr *out)
{
	const mn__msg *m = ctx->msg;
	if (ctx->replaying && ctx->replay_sender_kind) {
		out->kind = ctx->replay_sender_kind->name;
		out->key = ctx->replay_sender_key;
		out->key_len = ctx->replay_sender_key_len;
		return 0;
	}
	if (ctx->replaying || !m || m->sender_key_len == 0) {
		out->kind = NULL;
		out->key = NULL;
		out->key_len = 0;
		return MN_ENOACTOR;
	}
	out->kind = ctx->rt->kinds[m->sender_kind]->name;
	out->key = mn__msg_sender_key(m);
	out->key_len = m->sender_key_len;
	return 0;
}

const mn_kind *mn_ctx_kind(const mn_ctx *ctx)
{
	return ctx->kind;
}

void *mn_ctx_kind_arg(const mn_ctx *ctx)
{
	return ctx->kind->def.arg;
}

mn_runtime *mn_ctx_runtime(const mn_ctx *ctx)
{
	return ctx->rt;
}

unsigned mn_ctx_worker(const mn_ctx *ctx)
{
	return ctx->w->idx;
}

int mn_ctx_after(mn_ctx *ctx, uint64_t delay_ms, uint32_t type,
		 const void *payload, size_t len, uint64_t *id)
{
	if (!ctx || (!payload && len))
		return MN_EINVAL;
	if (!ctx->kind->persistent)
		return MN_ENOTSUP;
	if (len > ctx->rt->max_payload)
		return MN_ETOOBIG;
	if (ctx->replaying) {
		/* The id the first run returned, recorded in the entry. */
		size_t i = ctx->replay_timer_next++;
		if (id)
			*id = i < ctx->replay_ntimer_ids
				  ? ctx->replay_timer_ids[i]
				  : 0;
		return 0;
	}
	if (!ctx->hold_sends) {
		if (id)
			*id = 0;
		return MN_EINVAL; /* not during init */
	}
	return mn__persist_after(ctx, delay_ms, type, payload, len, id);
}

int mn_ctx_cancel(mn_ctx *ctx, uint64_t id)
{
	if (!ctx || id < 2)
		return MN_EINVAL;
	if (!ctx->kind->persistent)
		return MN_ENOTSUP;
	if (ctx->replaying)
		return 0;
	if (!ctx->hold_sends)
		return MN_EINVAL;
	return mn__persist_cancel(ctx, id);
}

int mn_ctx_replaying(const mn_ctx *ctx)
{
	return ctx->replaying;
}

uint64_t mn_ctx_seq(const mn_ctx *ctx)
{
	return ctx->seq;
}

uint32_t mn_ctx_state_version(const mn_ctx *ctx)
{
	if (!ctx)
		return 1;
	if (ctx->state_version)
		return ctx->state_version;
	return ctx->kind && ctx->kind->def.version ? ctx->kind->def.version : 1;
}

uint64_t mn_ctx_time(const mn_ctx *ctx)
{
	if (!ctx)
		return 0;
	/* Persistent actors: set before handle (the journaled time) or by
	 * replay; volatile ones and init: the clock. */
	return ctx->kind->persistent && ctx->now_ms ? ctx->now_ms
						    : mn__unix_ms();
}

uint64_t mn_ctx_random(mn_ctx *ctx)
{
	if (!ctx)
		return 0;
	if (!ctx->rng_seeded) {
		/* The seed: the actor's address and the message's seq, so
		 * that replay draws the same numbers (persistent actors);
		 * volatile ones mix in the clock. */
		uint64_t s = mn__hash(
		    mn__hash(0, ctx->kind->name, strlen(ctx->kind->name)),
		    ctx->actor->key, ctx->actor->key_len);
		s = mn__hash_word(s, ctx->seq);
		if (!ctx->kind->persistent)
			s = mn__hash_word(s, mn__mono_ns());
		ctx->rng = s ? s : MN__HASH_K1;
		ctx->rng_seeded = true;
	}
	/* xorshift64* */
	uint64_t x = ctx->rng;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	ctx->rng = x;
	return x * 0x2545f4914f6cdd1dull;
}
