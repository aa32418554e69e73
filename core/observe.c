/*
 * observe.c - observers of an actor's outputs (mn_observe,
 * docs/semantics.md): a list of observers under one mutex, each a bounded
 * ring of copied events under its own. Emitting costs one relaxed load
 * while nobody observes. Lock order: the list's mutex, then an observer's.
 * Threads: the writer (sends and answers after their commit), the I/O loop
 * (chunks), any reader thread, the opening and closing thread. A reader's
 * notify callback (mn_observer_notify) runs on the emitting thread with
 * the list's mutex held (not the observer's), so a close waits for it.
 */
#include "core/observe.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "core/runtime.h"
#include "core/send.h"

#define OBS_DEFAULT_EVENTS 1024

typedef struct obs_ev {
	mn_observed ev;
	unsigned char *buf; /* data, then the recipient's key */
} obs_ev;

struct mn_observer {
	mn__observers *owner;
	mn_observer *next; /* the owner's list, under its mu */
	unsigned kind_idx;
	size_t key_len;
	unsigned char key[MN_KEY_MAX];
	pthread_mutex_t mu;
	pthread_cond_t cv;
	obs_ev *ring; /* cap slots, n from head; under mu */
	size_t cap, head, n;
	uint64_t lost;
	bool closed;
	unsigned char *cur; /* the buffer of the event last returned */
	/* mn_observer_notify's callback: under the owner's mu. */
	void (*notify)(void *arg);
	void *notify_arg;
};

struct mn__observers {
	pthread_mutex_t mu;
	mn_observer *list;
	_Atomic unsigned n;
	bool closed;
};

int mn__observers_new(mn__observers **out)
{
	mn__observers *o = calloc(1, sizeof *o);
	if (!o)
		return MN_ENOMEM;
	pthread_mutex_init(&o->mu, NULL);
	*out = o;
	return 0;
}

static void observer_free(mn_observer *ob)
{
	for (size_t i = 0; i < ob->n; i++)
		free(ob->ring[(ob->head + i) % ob->cap].buf);
	free(ob->ring);
	free(ob->cur);
	pthread_cond_destroy(&ob->cv);
	pthread_mutex_destroy(&ob->mu);
	free(ob);
}

void mn__observers_free(mn__observers *o)
{
	if (!o)
		return;
	pthread_mutex_lock(&o->mu);
	o->closed = true;
	mn_observer *l = o->list;
	o->list = NULL;
	pthread_mutex_unlock(&o->mu);
	while (l) {
		mn_observer *next = l->next;
		observer_free(l);
		l = next;
	}
	pthread_mutex_destroy(&o->mu);
	free(o);
}

bool mn__observed(const mn__observers *o)
{
	return o && atomic_load_explicit(&o->n, memory_order_relaxed) != 0;
}

/* Queue a copy of ev (ob->mu held). */
static void push(mn_observer *ob, const mn_observed *ev)
{
	if (ob->n == ob->cap) {
		ob->lost++;
		return;
	}
	size_t klen = ev->to.kind ? ev->to.key_len : 0;
	unsigned char *buf = malloc(ev->len + klen + 1);
	if (!buf) {
		ob->lost++;
		return;
	}
	if (ev->len)
		memcpy(buf, ev->data, ev->len);
	if (klen)
		memcpy(buf + ev->len, ev->to.key, klen);
	obs_ev *slot = &ob->ring[(ob->head + ob->n) % ob->cap];
	slot->ev = *ev;
	slot->buf = buf;
	ob->n++;
	pthread_cond_signal(&ob->cv);
}

void mn__observe_emit(mn__observers *o, unsigned kind_idx, const void *key,
		      size_t key_len, const mn_observed *ev)
{
	if (!mn__observed(o))
		return;
	pthread_mutex_lock(&o->mu);
	for (mn_observer *ob = o->list; ob; ob = ob->next) {
		if (ob->kind_idx != kind_idx || ob->key_len != key_len ||
		    memcmp(ob->key, key, key_len) != 0)
			continue;
		pthread_mutex_lock(&ob->mu);
		push(ob, ev);
		pthread_mutex_unlock(&ob->mu);
		if (ob->notify)
			ob->notify(ob->notify_arg);
	}
	pthread_mutex_unlock(&o->mu);
}

int mn_observe(mn_runtime *rt, const mn_kind *kind, const void *key,
	       size_t key_len, size_t max_events, mn_observer **out)
{
	if (!out)
		return MN_EINVAL;
	*out = NULL;
	int rc = mn__check_send(rt, kind, key, key_len, NULL, 0);
	if (rc)
		return rc;
	mn_observer *ob = calloc(1, sizeof *ob);
	size_t cap = max_events ? max_events : OBS_DEFAULT_EVENTS;
	if (!ob || !(ob->ring = calloc(cap, sizeof *ob->ring))) {
		free(ob);
		return MN_ENOMEM;
	}
	ob->cap = cap;
	ob->kind_idx = kind->idx;
	ob->key_len = key_len;
	memcpy(ob->key, key, key_len);
	pthread_mutex_init(&ob->mu, NULL);
	pthread_cond_init(&ob->cv, NULL);
	mn__observers *o = rt->observers;
	ob->owner = o;
	pthread_mutex_lock(&o->mu);
	if (o->closed) {
		pthread_mutex_unlock(&o->mu);
		observer_free(ob);
		return MN_ECLOSED;
	}
	ob->next = o->list;
	o->list = ob;
	atomic_fetch_add_explicit(&o->n, 1, memory_order_relaxed);
	pthread_mutex_unlock(&o->mu);
	*out = ob;
	return 0;
}

int mn_observer_next(mn_observer *ob, uint32_t timeout_ms, mn_observed *ev)
{
	if (!ob || !ev)
		return MN_EINVAL;
	struct timespec ts = mn__deadline_us((uint64_t)timeout_ms * 1000u);
	pthread_mutex_lock(&ob->mu);
	free(ob->cur);
	ob->cur = NULL;
	while (!ob->n && !ob->lost && !ob->closed && timeout_ms) {
		if (pthread_cond_timedwait(&ob->cv, &ob->mu, &ts) != 0)
			break;
	}
	int rc = 0;
	if (ob->lost) {
		*ev = (mn_observed){.type = MN_OBS_LOST, .lost = ob->lost};
		ob->lost = 0;
	} else if (ob->n) {
		obs_ev *slot = &ob->ring[ob->head];
		ob->head = (ob->head + 1) % ob->cap;
		ob->n--;
		*ev = slot->ev;
		ob->cur = slot->buf;
		ev->data = ev->len ? ob->cur : NULL;
		if (ev->to.kind)
			ev->to.key = ob->cur + ev->len;
	} else {
		rc = ob->closed ? MN_ECLOSED : MN_ETIMEDOUT;
	}
	pthread_mutex_unlock(&ob->mu);
	return rc;
}

int mn_observer_notify(mn_observer *ob, void (*fn)(void *arg), void *arg)
{
	if (!ob)
		return MN_EINVAL;
	mn__observers *o = ob->owner;
	pthread_mutex_lock(&o->mu);
	ob->notify = fn;
	ob->notify_arg = arg;
	pthread_mutex_unlock(&o->mu);
	return 0;
}

void mn_observer_close(mn_observer *ob)
{
	if (!ob)
		return;
	mn__observers *o = ob->owner;
	pthread_mutex_lock(&o->mu);
	for (mn_observer **l = &o->list; *l; l = &(*l)->next)
		if (*l == ob) {
			*l = ob->next;
			atomic_fetch_sub_explicit(&o->n, 1,
						  memory_order_relaxed);
			break;
		}
	pthread_mutex_unlock(&o->mu);
	observer_free(ob);
}
