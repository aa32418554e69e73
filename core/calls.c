/*
 * calls.c - outbound calls (docs/calls.md): the handler's calls (held until
 * the commit), the pending-call table, issuing after the commit, results
 * turned into reply messages, bridged calls, credentials, issuing again
 * after a restart. The transfers themselves are the I/O thread's (io.c).
 *
 * Threads: workers (mn_ctx_call_*, take_reply), the writer (issue and
 * cancel after a commit; reissue at kind registration runs on the
 * registering thread), the I/O loop thread (results, stream chunks), any
 * thread (mn_call_complete, mn_credential_set, stats).
 *
 * The pending-call table: one entry per call issued by this process and
 * not yet handled, keyed (actor id, call id), sharded, each shard under its
 * mutex. An entry's state:
 *   ISSUED    after the commit that stored the intent (or at reissue);
 *   REPLIED   its result was queued to the actor as a message;
 *   CANCELLED the actor cancelled it (mn_ctx_call_cancel).
 *  C1  A result is queued only by the thread that moves the entry from
 *      ISSUED to REPLIED, under the shard lock: at most one reply per call
 *      per process (a second mn_call_complete, a late transfer, find
 *      another state and drop theirs, counted in dropped).
 *  C2  A reply message is handled only if its entry is REPLIED when the
 *      worker takes it (take_reply removes the entry, under the lock);
 *      otherwise it is dropped: a cancel made by an earlier message of
 *      the actor (it set CANCELLED before that message's handler
 *      returned, so before any later message runs) wins over a reply
 *      already queued.
 *  C3  The intent leaves the store in the commit that journals its reply
 *      (or the cancel): a crash before that commit leaves it stored, and
 *      the next open issues it again with the same idempotency key. So
 *      toward the outside a call may happen more than once; into the
 *      journal exactly one reply lands.
 *  Violation of C1/C2: two replies journaled for one call, or one after a
 *  cancel.
 */
#include "core/calls.h"

#include "base/detail.h"
#include "core/io.h"
#include "core/observe.h"
#include "core/persist_int.h"

enum { CALL_ISSUED = 1, CALL_REPLIED = 2, CALL_CANCELLED = 3 };

#define CT_SHARDS 64
/* Calls one message may make: the id's low 16 bits. */
#define CALLS_PER_MSG 0xffffu

typedef struct ccall {
	struct ccall *next;
	uint64_t actor_id, call_id;
	uint8_t state;
	uint8_t transport;
	uint8_t key_len;
	uint16_t kind_idx;
	uint32_t reply_type;
	unsigned char key[];
} ccall;

typedef struct ctshard {
	pthread_mutex_t mu;
	ccall **b;
	size_t nb, n;
} ctshard;

struct mn__calls {
	mn_runtime *rt;
	/* The I/O thread, started on first use. Every use holds io_rw for
	 * reading (io_acquire .. io_release); stopping takes it for writing,
	 * so once mn__calls_stop has swapped io for NULL nobody still uses
	 * the old one when it closes it. io_stopped, io: under io_rw. */
	mn__io *io;
	pthread_rwlock_t io_rw;
	bool io_stopped;
	mn__io_opts io_opts;
	void (*on_bridge)(void *arg, const mn_bridge_call *call);
	void *bridge_arg;
	void (*on_stream)(void *arg, const mn_stream_chunk *chunk);
	void *stream_arg;
	ctshard shards[CT_SHARDS];
	_Atomic uint64_t started, reissued, pending, completed, dropped,
	    cancelled;
};

/* ---- the table ------------------------------------------------------------
 */

static uint64_t call_hash(uint64_t actor_id, uint64_t call_id)
{
	return mn__hash_word(mn__hash_word(MN__HASH_K3, actor_id), call_id);
}

static ctshard *shard_of(struct mn__calls *c, uint64_t h)
{
	return &c->shards[h >> 58];
}

/* The entry's link in its shard (lock held); *link is NULL when absent. */
static ccall **ct_find(ctshard *s, uint64_t h, uint64_t actor_id,
		       uint64_t call_id)
{
	if (!s->nb)
		return NULL;
	ccall **l = &s->b[h & (s->nb - 1)];
	while (*l && ((*l)->actor_id != actor_id || (*l)->call_id != call_id))
		l = &(*l)->next;
	return l;
}

/* Insert e unless its key is there (lock held): true when inserted. */
static bool ct_insert(ctshard *s, uint64_t h, ccall *e)
{
	ccall **l = ct_find(s, h, e->actor_id, e->call_id);
	if (l && *l)
		return false;
	if (s->n + 1 > s->nb) {
		size_t nb = s->nb ? s->nb * 2 : 64;
		ccall **b = calloc(nb, sizeof *b);
		if (!b)
			return false;
		for (size_t i = 0; i < s->nb; i++)
			for (ccall *x = s->b[i], *nx; x; x = nx) {
				nx = x->next;
				uint64_t xh =
				    call_hash(x->actor_id, x->call_id);
				x->next = b[xh & (nb - 1)];
				b[xh & (nb - 1)] = x;
			}
		free(s->b);
		s->b = b;
		s->nb = nb;
	}
	e->next = s->b[h & (s->nb - 1)];
	s->b[h & (s->nb - 1)] = e;
	s->n++;
	return true;
}

static ccall *ccall_new(const mn__intent *in, const mn_kind *k, const void *key,
			size_t key_len)
{
	ccall *e = malloc(sizeof *e + key_len);
	if (!e)
		return NULL;
	*e = (ccall){.actor_id = in->actor_id,
		     .call_id = in->call_id,
		     .state = CALL_ISSUED,
		     .transport = (uint8_t)in->transport,
		     .key_len = (uint8_t)key_len,
		     .kind_idx = k->idx,
		     .reply_type = in->reply_type};
	memcpy(e->key, key, key_len);
	return e;
}

/* Register a call as ISSUED; false when it is known already (a reissue of
 * a call this process issued) or out of memory. */
static bool ct_add(struct mn__calls *c, ccall *e)
{
	uint64_t h = call_hash(e->actor_id, e->call_id);
	ctshard *s = shard_of(c, h);
	pthread_mutex_lock(&s->mu);
	bool ok = ct_insert(s, h, e);
	pthread_mutex_unlock(&s->mu);
	if (ok)
		atomic_fetch_add_explicit(&c->pending, 1, memory_order_relaxed);
	return ok;
}

/* Remove and free the entry (any state); true when there was one. */
static bool ct_remove(struct mn__calls *c, uint64_t actor_id, uint64_t call_id)
{
	uint64_t h = call_hash(actor_id, call_id);
	ctshard *s = shard_of(c, h);
	ccall *e = NULL;
	pthread_mutex_lock(&s->mu);
	ccall **l = ct_find(s, h, actor_id, call_id);
	if (l && *l) {
		e = *l;
		*l = e->next;
		s->n--;
	}
	pthread_mutex_unlock(&s->mu);
	if (e) {
		if (e->transport) /* not a cancel's tombstone */
			atomic_fetch_sub_explicit(&c->pending, 1,
						  memory_order_relaxed);
		free(e);
	}
	return e != NULL;
}

/* C1: move ISSUED -> REPLIED, copying the address out; false when the
 * call is not ISSUED (unknown, cancelled, replied already). */
static bool ct_claim(struct mn__calls *c, uint64_t actor_id, uint64_t call_id,
		     uint16_t *kind_idx, unsigned char *key, size_t *key_len,
		     uint32_t *reply_type)
{
	uint64_t h = call_hash(actor_id, call_id);
	ctshard *s = shard_of(c, h);
	bool ok = false;
	pthread_mutex_lock(&s->mu);
	ccall **l = ct_find(s, h, actor_id, call_id);
	if (l && *l && (*l)->state == CALL_ISSUED) {
		ccall *e = *l;
		e->state = CALL_REPLIED;
		*reply_type = e->reply_type;
		*kind_idx = e->kind_idx;
		memcpy(key, e->key, e->key_len);
		*key_len = e->key_len;
		ok = true;
	}
	pthread_mutex_unlock(&s->mu);
	return ok;
}

/* Back to ISSUED after a reply could not be queued (it will be issued
 * again at the next open: the intent stays stored). */
static void ct_unclaim(struct mn__calls *c, uint64_t actor_id, uint64_t call_id)
{
	uint64_t h = call_hash(actor_id, call_id);
	ctshard *s = shard_of(c, h);
	pthread_mutex_lock(&s->mu);
	ccall **l = ct_find(s, h, actor_id, call_id);
	if (l && *l && (*l)->state == CALL_REPLIED)
		(*l)->state = CALL_ISSUED;
	pthread_mutex_unlock(&s->mu);
}

/* The address of a known call (stream chunks). */
static bool ct_addr(struct mn__calls *c, uint64_t actor_id, uint64_t call_id,
		    uint16_t *kind_idx, unsigned char *key, size_t *key_len)
{
	uint64_t h = call_hash(actor_id, call_id);
	ctshard *s = shard_of(c, h);
	bool ok = false;
	pthread_mutex_lock(&s->mu);
	ccall **l = ct_find(s, h, actor_id, call_id);
	if (l && *l) {
		*kind_idx = (*l)->kind_idx;
		memcpy(key, (*l)->key, (*l)->key_len);
		*key_len = (*l)->key_len;
		ok = true;
	}
	pthread_mutex_unlock(&s->mu);
	return ok;
}

/* The I/O thread, started now if it is not running (start: whether to),
 * held for use until io_release; NULL (nothing held) once stopped or when
 * it cannot start. */
static mn__io *io_acquire(struct mn__calls *c, bool start)
{
	pthread_rwlock_rdlock(&c->io_rw);
	if (c->io || c->io_stopped || !start) {
		if (c->io)
			return c->io;
		pthread_rwlock_unlock(&c->io_rw);
		return NULL;
	}
	pthread_rwlock_unlock(&c->io_rw);
	/* First use: start it (under the writer side, once). */
	pthread_rwlock_wrlock(&c->io_rw);
	if (!c->io && !c->io_stopped && mn__io_open(&c->io_opts, &c->io))
		c->io = NULL;
	pthread_rwlock_unlock(&c->io_rw);
	return io_acquire(c, false);
}

static void io_release(struct mn__calls *c)
{
	pthread_rwlock_unlock(&c->io_rw);
}

static bool io_stopped(struct mn__calls *c)
{
	pthread_rwlock_rdlock(&c->io_rw);
	bool s = c->io_stopped;
	pthread_rwlock_unlock(&c->io_rw);
	return s;
}

int mn__calls_wake_at(mn__persist *p, uint64_t due_unix_ms,
		      void (*fn)(void *arg), void *arg)
{
	mn__io *io = p->calls ? io_acquire(p->calls, true) : NULL;
	if (!io)
		return MN_ECLOSED;
	int rc = mn__io_wake_at(io, due_unix_ms, fn, arg);
	io_release(p->calls);
	return rc;
}

/* ---- results become messages ----------------------------------------------
 */

/* Queue the reply envelope of call (actor_id, call_id) to its actor (C1:
 * the caller claimed it). 0 or the send's error. */
static int deliver(struct mn__calls *c, uint64_t actor_id, uint64_t call_id,
		   uint16_t kind_idx, const unsigned char *key, size_t key_len,
		   uint32_t reply_type, const mn__reply_parts *parts)
{
	mn_runtime *rt = c->rt;
	mn_buf env;
	mn__buf_init(&env);
	int rc = mn__reply_encode(parts, &env);
	if (!rc && env.len > rt->max_payload) {
		/* Headers and body over the runtime's message limit: the
		 * reply says so instead (a message cannot carry it). */
		char why[160];
		snprintf(why, sizeof why,
			 "reply of %zu bytes over max_payload (%zu)", env.len,
			 rt->max_payload);
		mn__reply_parts small = {.call_id = parts->call_id,
					 .err = MN_ETOOBIG,
					 .status = parts->status,
					 .attempts = parts->attempts,
					 .latency_us = parts->latency_us,
					 .reason = why};
		env.len = 0;
		rc = mn__reply_encode(&small, &env);
	}
	if (!rc) {
		mn__sendx x = {.outbox_id = call_id,
			       .sender_id = 0,
			       .mflags = MN_MSG_CALL};
		rc = mn__send(rt, NULL, NULL, rt->kinds[kind_idx], key, key_len,
			      reply_type, env.data, env.len, &x);
	}
	mn__buf_free(&env);
	if (rc == MN__EDELETING) {
		/* The deletion removed the intent with the actor. */
		ct_remove(c, actor_id, call_id);
		atomic_fetch_add_explicit(&c->dropped, 1, memory_order_relaxed);
		mn__event(&rt->ev, MN_EVENT_DROPPED, MN_ENOACTOR,
			  rt->kinds[kind_idx], key, key_len, 0,
			  "reply to call %llu dropped: the actor is being "
			  "deleted",
			  (unsigned long long)call_id);
		return 0;
	}
	if (rc) {
		ct_unclaim(c, actor_id, call_id);
		mn__event(&rt->ev, MN_EVENT_UNDELIVERED, rc,
			  rt->kinds[kind_idx], key, key_len, 0,
			  "reply to call %llu not delivered (%s); the call "
			  "stays stored and is issued again at the next open",
			  (unsigned long long)call_id, mn_err_name(rc));
		return rc;
	}
	atomic_fetch_add_explicit(&c->completed, 1, memory_order_relaxed);
	return 0;
}

static void io_done(void *arg, mn__io_req *req, const mn__io_result *res)
{
	struct mn__calls *c = arg;
	uint16_t kind_idx;
	unsigned char key[MN_KEY_MAX];
	size_t key_len;
	uint32_t reply_type;
	if (!ct_claim(c, req->actor_id, req->call_id, &kind_idx, key, &key_len,
		      &reply_type)) {
		atomic_fetch_add_explicit(&c->dropped, 1, memory_order_relaxed);
		return;
	}
	mn__reply_parts parts = {
	    .call_id = req->call_id,
	    .err = res->err,
	    .status = (int)res->status,
	    .attempts = res->attempts,
	    .latency_us = res->latency_us,
	    .reason = res->err ? res->reason : "",
	    .headers = res->headers,
	    .headers_len = res->headers_len,
	    .body = res->body,
	    .body_len = res->body_len,
	};
	(void)deliver(c, req->actor_id, req->call_id, kind_idx, key, key_len,
		      reply_type, &parts);
}

static void io_chunk(void *arg, const mn__io_req *req, uint32_t attempt,
		     const void *data, size_t len)
{
	struct mn__calls *c = arg;
	uint16_t kind_idx;
	unsigned char key[MN_KEY_MAX];
	size_t key_len;
	if ((!c->on_stream && !mn__observed(c->rt->observers)) ||
	    !ct_addr(c, req->actor_id, req->call_id, &kind_idx, key, &key_len))
		return;
	if (mn__observed(c->rt->observers)) {
		mn_observed ev = {.type = MN_OBS_CHUNK,
				  .call_id = req->call_id,
				  .data = data,
				  .len = len};
		mn__observe_emit(c->rt->observers, kind_idx, key, key_len, &ev);
	}
	if (!c->on_stream)
		return;
	mn_stream_chunk ch = {
	    .actor = {.kind = c->rt->kinds[kind_idx]->name,
		      .key = key,
		      .key_len = key_len},
	    .call_id = req->call_id,
	    .attempt = attempt,
	    .data = data,
	    .len = len,
	};
	c->on_stream(c->stream_arg, &ch);
}

/* ---- issuing ---------------------------------------------------------------
 */

/* The idempotency key of a call: the actor's store id, the message's
 * sequence number and the call's index in it (docs/calls.md). */
static void idem_key(char *buf, size_t cap, uint64_t actor_id, uint64_t call_id)
{
	snprintf(buf, cap, "mnemo-%llu-%llu-%u", (unsigned long long)actor_id,
		 (unsigned long long)(call_id >> 16),
		 (unsigned)(call_id & CALLS_PER_MSG));
}

/* Hand a decoded intent to its transport. again: a reissue at open. */
static void issue(struct mn__calls *c, const mn__intent *in, const mn_kind *k,
		  const void *key, size_t key_len, bool again)
{
	ccall *e = ccall_new(in, k, key, key_len);
	if (!e || !ct_add(c, e)) {
		free(e); /* known already (issued by this process) */
		return;
	}
	atomic_fetch_add_explicit(again ? &c->reissued : &c->started, 1,
				  memory_order_relaxed);
	if (in->transport == MN__CALL_BRIDGE) {
		if (c->on_bridge) {
			mn_bridge_call bc = {
			    .ref = {.actor_id = in->actor_id,
				    .call_id = in->call_id},
			    .actor = {.kind = k->name,
				      .key = key,
				      .key_len = key_len},
			    .request = in->body,
			    .len = in->body_len,
			    .again = again,
			};
			c->on_bridge(c->bridge_arg, &bc);
		}
		return;
	}
	char idem[80];
	idem_key(idem, sizeof idem, in->actor_id, in->call_id);
	/* The headers as '\n'-separated lines, as io.h wants them. */
	mn_buf hb;
	mn__buf_init(&hb);
	int rc = 0;
	for (size_t i = 0; i < in->n_headers && !rc; i++)
		if (!(rc = mn_buf_append(&hb, in->headers[i],
					 strlen(in->headers[i]))))
			rc = mn_buf_append(&hb, "\n", 1);
	if (!rc)
		rc = mn_buf_append(&hb, "", 1);
	mn__io_req t = {
	    .actor_id = in->actor_id,
	    .call_id = in->call_id,
	    .method = in->method,
	    .url = in->url,
	    .headers = rc ? "" : (const char *)hb.data,
	    .body = in->body,
	    .body_len = in->body_len,
	    .idem_key = idem,
	    .credential = in->credential,
	    .timeout_ms = in->timeout_ms,
	    .max_attempts = in->max_attempts,
	    .backoff_ms = in->backoff_ms,
	    .max_response = in->max_response,
	    .stream = (in->flags & MN_CALL_STREAM) != 0,
	};
	mn__io_req *r = rc ? NULL : mn__io_req_new(&t);
	mn__buf_free(&hb);
	if (!r) {
		/* Out of memory: the intent stays stored; the call is
		 * issued again at the next open. */
		ct_remove(c, in->actor_id, in->call_id);
		mn__event(&c->rt->ev, MN_EVENT_UNDELIVERED, MN_ENOMEM, k, key,
			  key_len, 0,
			  "call %llu not issued (out of memory); it stays "
			  "stored and is issued again at the next open",
			  (unsigned long long)in->call_id);
		return;
	}
	mn__io *io = io_acquire(c, true);
	if (!io) {
		mn__io_req_free(r);
		ct_remove(c, in->actor_id, in->call_id);
		if (!io_stopped(c)) /* closing: issued at the next open */
			mn__event(
			    &c->rt->ev, MN_EVENT_UNDELIVERED, MN_ESYS, k, key,
			    key_len, 0,
			    "call %llu not issued (the I/O thread is not "
			    "running); it stays stored and is issued again at "
			    "the next open",
			    (unsigned long long)in->call_id);
		return;
	}
	if (mn__io_submit(io, r) != 0)
		ct_remove(c, in->actor_id, in->call_id); /* closing */
	io_release(c);
}

void mn__calls_issue(mn__persist *p, const mn__actor *a, uint64_t call_id,
		     const void *intent, size_t len)
{
	struct mn__calls *c = p->calls;
	mn__intent in;
	void *hold;
	if (mn__intent_unpack(intent, len, &in, &hold) == 0)
		issue(c, &in, p->rt->kinds[a->kind_idx], a->key, a->key_len,
		      false);
	(void)call_id;
	mn__intent_release(hold);
}

void mn__calls_cancelled(mn__persist *p, uint64_t actor_id, uint64_t call_id)
{
	struct mn__calls *c = p->calls;
	mn__io *io = io_acquire(c, false);
	if (io) {
		mn__io_cancel(io, actor_id, call_id);
		io_release(c);
	}
	ct_remove(c, actor_id, call_id);
}

/* Reissue at kind registration: the stored intents of kind k. */
typedef struct reissue_ctx {
	mn__persist *p;
	const mn_kind *k;
} reissue_ctx;

static int reissue_one(void *arg, const mn__call_rec *cr)
{
	reissue_ctx *x = arg;
	mn__intent in;
	void *hold;
	mn__actor_meta m;
	if (mn__intent_unpack(cr->intent, cr->len, &in, &hold) == 0 &&
	    in.kind_id == x->k->store_id &&
	    mn__store_actor_get(x->p->store, in.actor_id, &m) == 0)
		issue(x->p->calls, &in, x->k, m.key, m.key_len, true);
	mn__intent_release(hold);
	return 0;
}

void mn__calls_kind_registered(mn__persist *p, const mn_kind *k)
{
	if (!p || !p->calls || !k->persistent)
		return;
	reissue_ctx x = {.p = p, .k = k};
	int rc = mn__store_calls_scan(p->store, 0, reissue_one, &x);
	if (rc)
		mn__event(&p->rt->ev, MN_EVENT_UNDELIVERED, rc, k, NULL, 0, 0,
			  "stored calls of kind %s not issued again: %s",
			  k->name, mn__store_errdetail());
}

/* ---- the worker's side ----------------------------------------------------
 */

bool mn__calls_take_reply(mn__worker *w, mn__actor *a, const mn__msg *m)
{
	struct mn__calls *c = w->rt->persist->calls;
	uint64_t actor_id = mn__ap(a)->id, call_id = m->outbox_id;
	uint64_t h = call_hash(actor_id, call_id);
	ctshard *s = shard_of(c, h);
	ccall *e = NULL;
	bool ok = false;
	pthread_mutex_lock(&s->mu);
	ccall **l = ct_find(s, h, actor_id, call_id);
	if (l && *l) {
		e = *l;
		ok = e->state == CALL_REPLIED;
		if (ok || e->state == CALL_CANCELLED) {
			*l = e->next;
			s->n--;
		} else {
			e = NULL; /* ISSUED: a reply from elsewhere (C1) */
		}
	}
	pthread_mutex_unlock(&s->mu);
	if (e) {
		if (e->transport)
			atomic_fetch_sub_explicit(&c->pending, 1,
						  memory_order_relaxed);
		free(e);
	}
	if (!ok)
		atomic_fetch_add_explicit(&c->dropped, 1, memory_order_relaxed);
	return ok;
}

/* Hold a call (HELD_CALL: [call id][request hash][intent]) or a cancel
 * (HELD_CALL_CANCEL: [call id]) in the ctx until the commit. */
static int hold_call(mn_ctx *ctx, uint8_t tag, uint64_t call_id, uint64_t hash,
		     uint32_t reply_type, const mn_buf *intent)
{
	size_t extra = tag == HELD_CALL ? 8 + intent->len : 0;
	size_t sz = held_size(0, 8 + extra);
	int rc = mn__buf_reserve(&ctx->pending, sz);
	if (rc)
		return rc;
	held_send h = {.tag = tag, .type = reply_type, .len = 8 + extra};
	unsigned char *q = ctx->pending.data + ctx->pending.len;
	memset(q, 0, sz);
	memcpy(q, &h, sizeof h);
	memcpy(q + sizeof h, &call_id, 8);
	if (tag == HELD_CALL) {
		memcpy(q + sizeof h + 8, &hash, 8);
		memcpy(q + sizeof h + 16, intent->data, intent->len);
	}
	ctx->pending.len += sz;
	ctx->npending++;
	return 0;
}

/* A header line as a request may carry it: "Name: value", no line break,
 * a non-empty token before the colon. */
static bool header_ok(const char *h)
{
	const char *colon = strchr(h, ':');
	if (!colon || colon == h || strpbrk(h, "\r\n"))
		return false;
	for (const char *p = h; p < colon; p++)
		if (*p <= ' ' || *p >= 127)
			return false;
	return true;
}

/* Replay: the recorded call at this index, compared with the request the
 * handler makes now; the first that differs is kept for the tool. */
static void replay_compare(mn_ctx *ctx, uint32_t index, uint64_t hash,
			   const mn__intent *in)
{
	bool same = index < ctx->replay_ncalls &&
		    ctx->replay_call_hashes[index] == hash;
	if (same || ctx->diverged || !ctx->replay_call_hashes)
		return;
	ctx->diverged = true;
	ctx->diverge_index = index;
	ctx->diverge_intent.len = 0;
	(void)mn__intent_pack(in, &ctx->diverge_intent);
}

/* The shared path of mn_ctx_call_http and mn_ctx_call_begin: in is the
 * intent without its ids; fills them, the hash, and holds it. */
static int make_call(mn_ctx *ctx, mn__intent *in, uint64_t *call_id)
{
	if (call_id)
		*call_id = 0;
	if (!ctx->kind->persistent)
		return MN_ENOTSUP;
	if (!ctx->hold_sends && !ctx->replaying)
		return MN_EINVAL; /* not during init */
	if (ctx->ncalls >= CALLS_PER_MSG)
		return MN_ELIMIT;
	uint32_t index = ctx->ncalls++;
	uint64_t id = ctx->seq << 16 | index;
	in->request_hash =
	    mn__request_hash(in->method, in->url, in->headers, in->n_headers,
			     in->body, in->body_len);
	in->call_id = id;
	in->seq = ctx->seq;
	in->kind_id = ctx->kind->store_id;
	in->created_unix_ms = ctx->now_ms;
	if (call_id)
		*call_id = id;
	if (ctx->replaying) {
		replay_compare(ctx, index, in->request_hash, in);
		return 0;
	}
	in->actor_id = mn__ap(ctx->actor)->id;
	mn_buf packed;
	mn__buf_init(&packed);
	int rc = mn__intent_pack(in, &packed);
	if (!rc && packed.len > ctx->rt->max_payload)
		rc = MN_ETOOBIG;
	if (!rc)
		rc = hold_call(ctx, HELD_CALL, id, in->request_hash,
			       in->reply_type, &packed);
	mn__buf_free(&packed);
	if (rc) {
		ctx->ncalls--;
		if (call_id)
			*call_id = 0;
	}
	return rc;
}

int mn_ctx_call_http(mn_ctx *ctx, const mn_http_request *req,
		     uint32_t reply_type, uint64_t *call_id)
{
	if (call_id)
		*call_id = 0;
	if (!ctx || !req || (req->size && req->size < sizeof(size_t)) ||
	    !req->url || (!req->body && req->body_len) ||
	    (!req->headers && req->n_headers))
		return MN_EINVAL;
	if (strncmp(req->url, "http://", 7) != 0 &&
	    strncmp(req->url, "https://", 8) != 0)
		return MN_EINVAL;
	if (strpbrk(req->url, "\r\n \t"))
		return MN_EINVAL;
	for (size_t i = 0; i < req->n_headers; i++)
		if (!req->headers[i] || !header_ok(req->headers[i]))
			return MN_EINVAL;
	const char *method = req->method     ? req->method
			     : req->body_len ? "POST"
					     : "GET";
	if (!*method || strpbrk(method, "\r\n \t:"))
		return MN_EINVAL;
	if (req->credential &&
	    (!*req->credential || strpbrk(req->credential, "\r\n")))
		return MN_EINVAL;
	mn__intent in = {
	    .reply_type = reply_type,
	    .transport = MN__CALL_HTTP,
	    .flags = req->flags & MN_CALL_STREAM,
	    .method = method,
	    .url = req->url,
	    .credential = req->credential,
	    .headers = req->headers,
	    .n_headers = req->n_headers,
	    .body = req->body,
	    .body_len = req->body_len,
	    .timeout_ms = req->timeout_ms,
	    .max_attempts = req->max_attempts,
	    .backoff_ms = req->backoff_ms,
	    .max_response =
		req->max_response ? req->max_response : ctx->rt->max_payload,
	};
	return make_call(ctx, &in, call_id);
}

int mn_ctx_call_begin(mn_ctx *ctx, const void *request, size_t len,
		      uint32_t reply_type, uint64_t *call_id)
{
	if (call_id)
		*call_id = 0;
	if (!ctx || (!request && len))
		return MN_EINVAL;
	mn__intent in = {
	    .reply_type = reply_type,
	    .transport = MN__CALL_BRIDGE,
	    .method = "BRIDGE",
	    .url = "",
	    .body = request,
	    .body_len = len,
	};
	return make_call(ctx, &in, call_id);
}

int mn_ctx_call_cancel(mn_ctx *ctx, uint64_t call_id)
{
	if (!ctx)
		return MN_EINVAL;
	if (!ctx->kind->persistent)
		return MN_ENOTSUP;
	if (ctx->replaying)
		return 0;
	if (!ctx->hold_sends)
		return MN_EINVAL;
	/* A call of this very message: never stored, never issued. */
	unsigned char *q = ctx->pending.data;
	for (uint32_t i = 0; i < ctx->npending; i++) {
		held_send h;
		memcpy(&h, q, sizeof h);
		uint64_t id;
		if (h.tag == HELD_CALL) {
			memcpy(&id, q + sizeof h, 8);
			if (id == call_id) {
				h.tag = HELD_CALL_DEAD;
				memcpy(q, &h, sizeof h);
				atomic_fetch_add_explicit(
				    &ctx->rt->persist->calls->cancelled, 1,
				    memory_order_relaxed);
				return 0;
			}
		}
		q += held_size(h.key_len, (size_t)h.len);
	}
	/* C2: an earlier message's call: no reply from now on. Its entry
	 * becomes CANCELLED; a call whose commit has not issued it yet gets
	 * a tombstone (transport 0) that keeps issue() from issuing it; the
	 * cancel's commit removes either (its effects come after those of
	 * the call's commit: records commit in queue order). */
	struct mn__calls *c = ctx->rt->persist->calls;
	uint64_t actor_id = mn__ap(ctx->actor)->id;
	uint64_t hh = call_hash(actor_id, call_id);
	ctshard *s = shard_of(c, hh);
	ccall *tomb = malloc(sizeof *tomb);
	if (!tomb)
		return MN_ENOMEM;
	*tomb = (ccall){
	    .actor_id = actor_id, .call_id = call_id, .state = CALL_CANCELLED};
	pthread_mutex_lock(&s->mu);
	ccall **l = ct_find(s, hh, actor_id, call_id);
	if (l && *l) {
		(*l)->state = CALL_CANCELLED;
	} else if (ct_insert(s, hh, tomb)) {
		tomb = NULL;
	}
	pthread_mutex_unlock(&s->mu);
	free(tomb);
	atomic_fetch_add_explicit(&c->cancelled, 1, memory_order_relaxed);
	return hold_call(ctx, HELD_CALL_CANCEL, call_id, 0, 0, NULL);
}

void mn__ctx_replay_entry(mn_ctx *ctx, const struct mn__entry *e)
{
	ctx->now_ms = e->unix_ms;
	ctx->replay_flags = e->flags;
	ctx->rng_seeded = false;
	ctx->ncalls = 0;
	ctx->replay_call_hashes = e->call_hashes;
	ctx->replay_calls = e->calls;
	ctx->replay_call_lens = e->call_lens;
	ctx->replay_ncalls = e->n_calls;
	/* Entries from before calls were recorded carry no hashes: nothing
	 * to compare (replay_compare needs a non-NULL array). */
	static const uint64_t none[1];
	if (!e->call_hashes)
		ctx->replay_call_hashes = none;
	ctx->diverged = false;
}

/* ---- any thread -----------------------------------------------------------
 */

int mn_call_complete(mn_runtime *rt, const mn_call_ref *ref, int status,
		     const void *body, size_t len)
{
	if (!rt || !ref || (!body && len))
		return MN_EINVAL;
	if (!rt->persist || !rt->persist->calls)
		return MN_ENOTSUP;
	if (atomic_load_explicit(&rt->closed, memory_order_seq_cst))
		return MN_ECLOSED;
	if (len > rt->max_payload)
		return MN_ETOOBIG;
	struct mn__calls *c = rt->persist->calls;
	uint16_t kind_idx;
	unsigned char key[MN_KEY_MAX];
	size_t key_len;
	uint32_t reply_type;
	if (!ct_claim(c, ref->actor_id, ref->call_id, &kind_idx, key, &key_len,
		      &reply_type)) {
		atomic_fetch_add_explicit(&c->dropped, 1, memory_order_relaxed);
		mn__detail_setf("call %llu of actor %llu is not pending "
				"(never made, completed or cancelled)",
				(unsigned long long)ref->call_id,
				(unsigned long long)ref->actor_id);
		return MN_EINVAL;
	}
	mn__reply_parts parts = {
	    .call_id = ref->call_id,
	    .status = status,
	    .attempts = 1,
	    .body = body,
	    .body_len = len,
	};
	return deliver(c, ref->actor_id, ref->call_id, kind_idx, key, key_len,
		       reply_type, &parts);
}

int mn_credential_set(mn_runtime *rt, const char *name, const char *header,
		      const char *value)
{
	if (!rt || !name || !header || !value || !*name || !*header ||
	    !*value || strpbrk(name, "\r\n") || strpbrk(header, "\r\n: ") ||
	    strpbrk(value, "\r\n"))
		return MN_EINVAL;
	if (!rt->persist || !rt->persist->calls)
		return MN_ENOTSUP;
	struct mn__calls *c = rt->persist->calls;
	mn__io *io = io_acquire(c, true);
	if (!io)
		return MN_ECLOSED;
	int rc = mn__io_credential_set(io, name, header, value);
	io_release(c);
	return rc;
}

int mn_runtime_call_stats(mn_runtime *rt, mn_call_stats *st)
{
	if (!rt || !st)
		return MN_EINVAL;
	if (!rt->persist || !rt->persist->calls)
		return MN_ENOTSUP;
	struct mn__calls *c = rt->persist->calls;
	mn__io_stats is = {0};
	mn__io *io = io_acquire(c, false);
	if (io) {
		mn__io_stats_get(io, &is);
		io_release(c);
	}
	*st = (mn_call_stats){
	    .started = atomic_load_explicit(&c->started, memory_order_relaxed),
	    .reissued =
		atomic_load_explicit(&c->reissued, memory_order_relaxed),
	    .pending = atomic_load_explicit(&c->pending, memory_order_relaxed),
	    .inflight = is.inflight,
	    .queued = is.queued,
	    .completed =
		atomic_load_explicit(&c->completed, memory_order_relaxed),
	    .retries = is.retries,
	    .dropped = atomic_load_explicit(&c->dropped, memory_order_relaxed),
	    .cancelled =
		atomic_load_explicit(&c->cancelled, memory_order_relaxed),
	};
	return 0;
}

/* ---- open and close -------------------------------------------------------
 */

int mn__calls_open(mn__persist *p, const mn_runtime_opts *o)
{
	struct mn__calls *c = calloc(1, sizeof *c);
	if (!c)
		return MN_ENOMEM;
	c->rt = p->rt;
	c->on_bridge = o->on_bridge_call;
	c->bridge_arg = o->bridge_arg;
	c->on_stream = o->on_stream;
	c->stream_arg = o->stream_arg;
	for (int i = 0; i < CT_SHARDS; i++)
		pthread_mutex_init(&c->shards[i].mu, NULL);
	pthread_rwlock_init(&c->io_rw, NULL);
	c->io_opts = (mn__io_opts){
	    .max_inflight = o->calls_max_inflight,
	    .max_per_host = o->calls_max_per_host,
	    .done = io_done,
	    .chunk = io_chunk,
	    .arg = c,
	};
	p->calls = c;
	return 0;
}

void mn__calls_stop(mn_runtime *rt)
{
	struct mn__calls *c = rt->persist ? rt->persist->calls : NULL;
	if (!c)
		return;
	/* Every use in progress ends before this lock is had; none starts
	 * after (io_stopped). Then the loop stops (joined). */
	pthread_rwlock_wrlock(&c->io_rw);
	c->io_stopped = true;
	mn__io *io = c->io;
	c->io = NULL;
	pthread_rwlock_unlock(&c->io_rw);
	mn__io_close(io);
}

void mn__calls_close(mn__persist *p)
{
	struct mn__calls *c = p->calls;
	if (!c)
		return;
	mn__calls_stop(p->rt);
	for (int i = 0; i < CT_SHARDS; i++) {
		ctshard *s = &c->shards[i];
		for (size_t j = 0; j < s->nb; j++)
			for (ccall *e = s->b[j], *n; e; e = n) {
				n = e->next;
				free(e);
			}
		free(s->b);
		pthread_mutex_destroy(&s->mu);
	}
	pthread_rwlock_destroy(&c->io_rw);
	free(c);
	p->calls = NULL;
}
