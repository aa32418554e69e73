/*
 * ask.c - asks from outside (mn_ask, docs/semantics.md "Asking an actor"):
 * the table of pending asks (id -> callback, under one mutex: a hash of
 * chains and a binary heap by deadline), the timer thread that ends asks
 * at their deadline, and the ctx calls that answer one.
 *
 * An ask is an ordinary message flagged MN_MSG_ASK whose sender_id carries
 * the ask's id (never journaled: the commit records the sender as 0,
 * outside). mn_ctx_reply to it, or mn_ctx_ask_reply with its token, is a
 * held item of the replying message (HELD_ASK_REPLY, record.h) delivered
 * to the asker by the writer after that message's commit (output commit);
 * volatile actors answer at once.
 *  A1  An ask ends exactly once: the thread that removes it from the table
 *      (under mu) runs its callback, outside mu; complete, the deadline and
 *      cancel all remove first. Violation: a callback run twice, or after
 *      mn_ask_cancel returned.
 * Threads: any (mn_ask, cancel), workers (replies of volatile actors), the
 * writer (replies after commit), the ask timer thread (deadlines), close.
 */
#include "core/ask.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/grow.h"
#include "base/hash.h"
#include "core/record.h"
#include "core/runtime.h"
#include "core/send.h"

#define ASK_DEFAULT_TIMEOUT_MS 30000u

typedef struct ask {
	struct ask *next; /* hash chain */
	uint64_t id;
	uint64_t deadline_us; /* mn__mono_us */
	size_t heap_idx;
	mn_ask_fn done;
	void *arg;
} ask;

struct mn__asks {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	ask **b; /* chains, nb a power of 2 */
	size_t nb, n;
	ask **heap; /* by deadline */
	size_t cap_heap;
	pthread_t thread;
	bool started, stop;
	_Atomic uint64_t next_id;
};

/* ---- the table (mu held) ------------------------------------------------- */

static ask **chain_of(mn__asks *a, uint64_t id)
{
	return &a->b[mn__hash_word(MN__HASH_K1, id) & (a->nb - 1)];
}

static void heap_swap(mn__asks *a, size_t i, size_t j)
{
	ask *t = a->heap[i];
	a->heap[i] = a->heap[j];
	a->heap[j] = t;
	a->heap[i]->heap_idx = i;
	a->heap[j]->heap_idx = j;
}

static void heap_up(mn__asks *a, size_t i)
{
	while (i &&
	       a->heap[(i - 1) / 2]->deadline_us > a->heap[i]->deadline_us) {
		heap_swap(a, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void heap_down(mn__asks *a, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < a->n &&
		    a->heap[l]->deadline_us < a->heap[m]->deadline_us)
			m = l;
		if (r < a->n &&
		    a->heap[r]->deadline_us < a->heap[m]->deadline_us)
			m = r;
		if (m == i)
			return;
		heap_swap(a, i, m);
		i = m;
	}
}

static int table_add(mn__asks *a, ask *x)
{
	if (a->n + 1 > a->nb) {
		size_t nb = a->nb ? a->nb * 2 : 256;
		ask **b = calloc(nb, sizeof *b);
		if (!b)
			return MN_ENOMEM;
		for (size_t i = 0; i < a->nb; i++)
			for (ask *y = a->b[i], *ny; y; y = ny) {
				ny = y->next;
				size_t h = mn__hash_word(MN__HASH_K1, y->id) &
					   (nb - 1);
				y->next = b[h];
				b[h] = y;
			}
		free(a->b);
		a->b = b;
		a->nb = nb;
	}
	if (mn__grow(&a->heap, &a->cap_heap, a->n + 1, sizeof *a->heap, 256))
		return MN_ENOMEM;
	ask **c = chain_of(a, x->id);
	x->next = *c;
	*c = x;
	x->heap_idx = a->n;
	a->heap[a->n++] = x;
	heap_up(a, x->heap_idx);
	return 0;
}

/* Remove ask id from chain and heap; NULL when it is not pending. */
static ask *table_take(mn__asks *a, uint64_t id)
{
	if (!a->nb)
		return NULL;
	ask **c = chain_of(a, id);
	while (*c && (*c)->id != id)
		c = &(*c)->next;
	ask *x = *c;
	if (!x)
		return NULL;
	*c = x->next;
	size_t i = x->heap_idx;
	a->n--;
	if (i != a->n) {
		heap_swap(a, i, a->n);
		heap_down(a, i);
		heap_up(a, i);
	}
	return x;
}

/* ---- the timer thread ---------------------------------------------------- */

static void *ask_timer_main(void *arg)
{
	mn__asks *a = arg;
	pthread_setname_np(pthread_self(), "mn-ask");
	mn__tls_no_admit_wait = true; /* AC3 */
	pthread_mutex_lock(&a->mu);
	while (!a->stop) {
		if (!a->n) {
			pthread_cond_wait(&a->cv, &a->mu);
			continue;
		}
		uint64_t now = mn__mono_us(), due = a->heap[0]->deadline_us;
		if (due > now) {
			struct timespec ts = mn__deadline_us(due - now);
			pthread_cond_timedwait(&a->cv, &a->mu, &ts);
			continue;
		}
		ask *x = table_take(a, a->heap[0]->id);
		pthread_mutex_unlock(&a->mu);
		x->done(x->arg, MN_ETIMEDOUT, 0, NULL, 0); /* A1 */
		free(x);
		pthread_mutex_lock(&a->mu);
	}
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

int mn__asks_new(mn__asks **out)
{
	mn__asks *a = calloc(1, sizeof *a);
	if (!a)
		return MN_ENOMEM;
	pthread_mutex_init(&a->mu, NULL);
	/* The timer thread waits with deadlines from mn__deadline_us. */
	pthread_cond_init(&a->cv, NULL);
	atomic_init(&a->next_id, 1);
	*out = a;
	return 0;
}

void mn__asks_free(mn__asks *a)
{
	if (!a)
		return;
	pthread_mutex_lock(&a->mu);
	a->stop = true;
	pthread_cond_signal(&a->cv);
	bool started = a->started;
	pthread_mutex_unlock(&a->mu);
	if (started)
		pthread_join(a->thread, NULL);
	/* Every ask left ends now. */
	while (a->n) {
		ask *x = table_take(a, a->heap[0]->id);
		x->done(x->arg, MN_ECLOSED, 0, NULL, 0);
		free(x);
	}
	free(a->b);
	free(a->heap);
	pthread_cond_destroy(&a->cv);
	pthread_mutex_destroy(&a->mu);
	free(a);
}

void mn__ask_complete(mn__asks *a, uint64_t id, int rc, uint32_t type,
		      const void *payload, size_t len)
{
	if (!a || !id)
		return;
	pthread_mutex_lock(&a->mu);
	ask *x = table_take(a, id);
	pthread_mutex_unlock(&a->mu);
	if (x) {
		x->done(x->arg, rc, type, payload, len); /* A1 */
		free(x);
	}
}

/* ---- the public calls -----------------------------------------------------
 */

/* mn_ask with the message's flags (MN_MSG_ASK, and MN__MSG_VIEW for a
 * live view). */
static int ask_start(mn_runtime *rt, const mn_kind *kind, const void *key,
		     size_t key_len, uint32_t type, const void *payload,
		     size_t len, uint32_t timeout_ms, uint32_t mflags,
		     mn_ask_fn done, void *arg, uint64_t *ask_id)
{
	if (ask_id)
		*ask_id = 0;
	if (!rt || !done)
		return MN_EINVAL;
	mn__asks *a = rt->asks;
	ask *x = malloc(sizeof *x);
	if (!x)
		return MN_ENOMEM;
	*x = (ask){
	    .id =
		atomic_fetch_add_explicit(&a->next_id, 1, memory_order_relaxed),
	    .deadline_us =
		mn__mono_us() +
		(uint64_t)(timeout_ms ? timeout_ms : ASK_DEFAULT_TIMEOUT_MS) *
		    1000u,
	    .done = done,
	    .arg = arg,
	};
	uint64_t id = x->id;
	pthread_mutex_lock(&a->mu);
	int rc = a->stop ? MN_ECLOSED : table_add(a, x);
	if (!rc && !a->started) {
		if (pthread_create(&a->thread, NULL, ask_timer_main, a) == 0)
			a->started = true;
		else
			rc = MN_ESYS;
		if (rc)
			table_take(a, id);
	}
	if (!rc)
		pthread_cond_signal(&a->cv); /* a new earliest deadline */
	pthread_mutex_unlock(&a->mu);
	if (rc) {
		free(x);
		return rc;
	}
	/* The ask is in the table before its message can be answered. */
	rc = mn__send_outside(rt, kind, key, key_len, type, payload, len,
			      mflags, id);
	if (rc) {
		pthread_mutex_lock(&a->mu);
		ask *y = table_take(a, id);
		pthread_mutex_unlock(&a->mu);
		free(y); /* NULL if it already ended: it cannot have (A1) */
		return rc;
	}
	if (ask_id)
		*ask_id = id;
	return 0;
}

int mn_ask(mn_runtime *rt, const mn_kind *kind, const void *key, size_t key_len,
	   uint32_t type, const void *payload, size_t len, uint32_t timeout_ms,
	   mn_ask_fn done, void *arg, uint64_t *ask_id)
{
	return ask_start(rt, kind, key, key_len, type, payload, len, timeout_ms,
			 MN_MSG_ASK, done, arg, ask_id);
}

typedef struct ask_wait {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done, want;
	int rc;
	uint32_t type;
	void *out;
	size_t len;
} ask_wait;

static void ask_wake(void *arg, int rc, uint32_t type, const void *payload,
		     size_t len)
{
	ask_wait *w = arg;
	pthread_mutex_lock(&w->mu);
	if (!rc && w->want && len) {
		if ((w->out = malloc(len)))
			memcpy(w->out, payload, len);
		else
			rc = MN_ENOMEM;
	}
	w->len = rc ? 0 : len;
	w->rc = rc;
	w->type = type;
	w->done = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

/* Ask and wait for the end (mn_ask_wait, mn_actor_view). */
static int ask_block(mn_runtime *rt, const mn_kind *kind, const void *key,
		     size_t key_len, uint32_t type, const void *payload,
		     size_t len, uint32_t timeout_ms, uint32_t mflags,
		     uint32_t *reply_type, void **reply, size_t *reply_len)
{
	if (reply)
		*reply = NULL;
	if (reply_len)
		*reply_len = 0;
	if (!rt || mn__local_worker(rt))
		return MN_EINVAL; /* a worker would wait for itself */
	ask_wait w = {.want = reply != NULL};
	pthread_mutex_init(&w.mu, NULL);
	pthread_cond_init(&w.cv, NULL);
	int rc = ask_start(rt, kind, key, key_len, type, payload, len,
			   timeout_ms, mflags, ask_wake, &w, NULL);
	if (!rc) {
		pthread_mutex_lock(&w.mu);
		while (!w.done)
			pthread_cond_wait(&w.cv, &w.mu);
		pthread_mutex_unlock(&w.mu);
		rc = w.rc;
		if (reply_type)
			*reply_type = w.type;
		if (reply)
			*reply = w.out;
		if (reply_len)
			*reply_len = w.len;
	}
	pthread_cond_destroy(&w.cv);
	pthread_mutex_destroy(&w.mu);
	return rc;
}

int mn_ask_wait(mn_runtime *rt, const mn_kind *kind, const void *key,
		size_t key_len, uint32_t type, const void *payload, size_t len,
		uint32_t timeout_ms, uint32_t *reply_type, void **reply,
		size_t *reply_len)
{
	return ask_block(rt, kind, key, key_len, type, payload, len, timeout_ms,
			 MN_MSG_ASK, reply_type, reply, reply_len);
}

void mn_ask_cancel(mn_runtime *rt, uint64_t ask_id)
{
	if (!rt || !ask_id)
		return;
	pthread_mutex_lock(&rt->asks->mu);
	ask *x = table_take(rt->asks, ask_id);
	pthread_mutex_unlock(&rt->asks->mu);
	free(x);
}

/* ---- answering, in a handler ----------------------------------------------
 */

int mn__ask_answer(mn_ctx *ctx, uint64_t id, uint32_t type, const void *payload,
		   size_t len)
{
	if (!payload && len)
		return MN_EINVAL;
	if (len > ctx->rt->max_payload)
		return MN_ETOOBIG;
	if (ctx->replaying || !id)
		return 0;
	if (ctx->hold_sends) /* persistent: after the commit */
		return mn__persist_hold_timer(ctx, HELD_ASK_REPLY, id, type,
					      payload, len);
	mn__ask_complete(ctx->rt->asks, id, 0, type, payload, len);
	return 0;
}

int mn_ctx_ask_token(const mn_ctx *ctx, uint64_t *token)
{
	if (token)
		*token = 0;
	if (!ctx || ctx->replaying || !ctx->msg ||
	    !(ctx->msg->flags & MN_MSG_ASK))
		return MN_ENOACTOR;
	if (token)
		*token = ctx->msg->sender_id;
	return 0;
}

int mn_ctx_ask_reply(mn_ctx *ctx, uint64_t token, uint32_t type,
		     const void *payload, size_t len)
{
	if (!ctx)
		return MN_EINVAL;
	return mn__ask_answer(ctx, token, type, payload, len);
}

/* ---- live views ------------------------------------------------------------
 */

void mn__ask_view(mn__asks *a, uint64_t id, const mn_kind *k, const void *state,
		  uint64_t seq)
{
	mn_buf b;
	mn__buf_init(&b);
	unsigned char s8[8];
	memcpy(s8, &seq, 8);
	int rc = mn_buf_append(&b, s8, 8);
	if (!rc && k->def.describe && (rc = k->def.describe(state, &b)) > 0)
		rc = 0;
	if (!rc)
		rc = mn_buf_append(&b, "", 1);
	if (rc)
		mn__ask_complete(a, id, rc < 0 ? rc : MN_EHANDLER, 0, NULL, 0);
	else
		mn__ask_complete(a, id, 0, 0, b.data, b.len);
	mn__buf_free(&b);
}

int mn_actor_view(mn_runtime *rt, const mn_kind *kind, const void *key,
		  size_t key_len, uint32_t timeout_ms, char **text,
		  uint64_t *seq)
{
	if (text)
		*text = NULL;
	if (seq)
		*seq = 0;
	if (!rt || !kind || !text)
		return MN_EINVAL;
	if (!kind->def.describe)
		return MN_ENOTSUP;
	int rc = mn__check_send(rt, kind, key, key_len, NULL, 0);
	if (rc)
		return rc;
	/* Never create an actor to look at it. */
	if (!mn__actor_known(rt, kind, key, key_len))
		return MN_ENOACTOR;
	void *out = NULL;
	size_t len = 0;
	rc = ask_block(rt, kind, key, key_len, 0, NULL, 0, timeout_ms,
		       MN_MSG_ASK | MN__MSG_VIEW, NULL, &out, &len);
	if (!rc && len < 9) {
		rc = MN_EHANDLER;
	} else if (!rc) {
		uint64_t s;
		memcpy(&s, out, 8);
		if (seq)
			*seq = s;
		memmove(out, (char *)out + 8, len - 8);
		*text = out;
		out = NULL;
	}
	free(out);
	return rc;
}
