/*
 * calls.h - outbound calls, their durable side (core/calls.c) and the reply
 * envelope (core/call_reply.c). The I/O thread (core/io.h) moves the bytes;
 * this decides what is issued when and what a result becomes:
 *
 *   - a handler's call is a held item of its message (record.h, HELD_CALL:
 *     the call id, the canonical request hash, the packed intent), stored
 *     by that message's commit (the "calls" database and the entry's
 *     calls), and issued by the writer after the commit (output commit);
 *   - its result becomes a message of the intent's reply type to the
 *     calling actor, flagged MN_MSG_CALL, its outbox id the call id; the
 *     commit that journals that message removes the intent;
 *   - after a crash every stored intent is issued again (when its kind is
 *     registered), with the same idempotency key.
 *
 * The pending-call table (C1-C3, calls.c) makes each call's reply reach
 * its handler at most once per process, and never after a cancel.
 */
#ifndef MN_CORE_CALLS_H
#define MN_CORE_CALLS_H

#include "core/runtime.h"

struct mn__persist;

/* Start the calls' state and the I/O thread (persist open). 0 or an
 * error (MN_ENOMEM, MN_ESYS). */
int mn__calls_open(struct mn__persist *p, const mn_runtime_opts *o);
/* Stop the I/O thread: no result arrives after it returns. Before the
 * workers stop (mn_runtime_close). Idempotent. */
void mn__calls_stop(mn_runtime *rt);
/* Free what is left (persist close). */
void mn__calls_close(struct mn__persist *p);

/* A kind was registered: issue again its stored intents (after a restart,
 * those the previous process made and got no reply for). */
void mn__calls_kind_registered(struct mn__persist *p, const mn_kind *k);

/* Writer, after the commit of a message of actor a that made call
 * call_id (intent: the packed CallIntent): issue it. */
void mn__calls_issue(struct mn__persist *p, const mn__actor *a,
		     uint64_t call_id, const void *intent, size_t len);
/* Writer, after the commit of a cancel: stop the transfer, forget it. */
void mn__calls_cancelled(struct mn__persist *p, uint64_t actor_id,
			 uint64_t call_id);

/* Worker, before handle() of a MN_MSG_CALL message m of persistent actor
 * a (its id known): true when the reply is to be handled; false when it
 * is stale (cancelled, or already handled), then the caller drops it. */
bool mn__calls_take_reply(mn__worker *w, mn__actor *a, const mn__msg *m);

/* Run fn(arg) on the I/O loop at or after due_unix_ms (io.h,
 * mn__io_wake_at: one wake-up, an earlier one wins), starting the loop if
 * needed. 0, or MN_ECLOSED once stopped, MN_ESYS. Any thread. */
int mn__calls_wake_at(struct mn__persist *p, uint64_t due_unix_ms,
		      void (*fn)(void *arg), void *arg);

/* Replay of journal entry e in ctx (rehydration, the tool's replay): its
 * time for mn_ctx_time, a fresh generator, its recorded calls for
 * mn_ctx_call_* to compare against (divergence: ctx->diverged). */
struct mn__entry;
void mn__ctx_replay_entry(mn_ctx *ctx, const struct mn__entry *e);

/* The reply envelope (call_reply.c; docs/format.md, "Call replies"):
 * the fixed header's size, and the writer of one into out. */
#define MN__REPLY_HDR 56
typedef struct mn__reply_parts {
	uint64_t call_id;
	int err, status;
	uint32_t attempts;
	uint64_t latency_us;
	const char *reason;
	const void *headers;
	size_t headers_len;
	const void *body;
	size_t body_len;
} mn__reply_parts;
int mn__reply_encode(const mn__reply_parts *r, mn_buf *out);

/* The canonical request hash (docs/format.md): method, URL, headers in
 * order, body; each length-prefixed. Part of the store format. */
uint64_t mn__request_hash(const char *method, const char *url,
			  const char *const *headers, size_t n_headers,
			  const void *body, size_t body_len);

#endif
