/*
 * events.c - failure events and the broken-actor table.
 *
 * Events (mn_runtime_opts.on_event) are reported from failure paths only:
 * the hot path has no code of this file. The callback runs inline on the
 * thread that saw the failure, rate-limited per event type by a fixed
 * one-second window (lock-free: a CAS moves the window, a fetch_add takes
 * a slot); what the limit drops is counted and reported by the next event
 * of its type that passes.
 *
 * The broken table keeps, for each actor that could not be brought back,
 * its address, the code and a short reason (bounded: MN__BROKEN_KEEP
 * entries), so that a send to it fails with the reason in mn_errdetail()
 * instead of being accepted and dropped in silence. Broken actors are
 * rare, so the table is an array scanned under a mutex; a send looks at
 * it only when it is not empty (one relaxed load).
 */
#include "core/events.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/runtime.h"
#include "storage/store.h"
#include "base/clock.h"

typedef struct mn__broken_ent {
	uint16_t kind_idx;
	uint8_t key_len;
	int err;
	unsigned char key[MN_KEY_MAX];
	char reason[MN__BROKEN_REASON];
} mn__broken_ent;

void mn__events_init(mn__events *ev, const mn_runtime_opts *o)
{
	memset(ev, 0, sizeof *ev);
	ev->fn = o->on_event;
	ev->arg = o->event_arg;
	ev->rate = o->event_rate ? o->event_rate : MN__EVENT_RATE_DEFAULT;
	pthread_mutex_init(&ev->broken_mu, NULL);
}

void mn__events_destroy(mn__events *ev)
{
	free(ev->broken);
	ev->broken = NULL;
	pthread_mutex_destroy(&ev->broken_mu);
}

/* True when an event of this limit's type may be delivered now. */
static bool limit_take(mn__events *ev, mn__evlimit *l)
{
	uint64_t now = mn__mono_ms() + 1; /* 0 is "no window yet" */
	uint64_t ws = atomic_load_explicit(&l->window_ms, memory_order_relaxed);
	if (ws == 0 || now - ws >= 1000) {
		/* One thread moves the window and resets its count; an
		 * event racing with the reset may count in either window
		 * (the rate is "about"). */
		if (atomic_compare_exchange_strong_explicit(
			&l->window_ms, &ws, now, memory_order_relaxed,
			memory_order_relaxed))
			atomic_store_explicit(&l->used, 0,
					      memory_order_relaxed);
	}
	if (atomic_fetch_add_explicit(&l->used, 1, memory_order_relaxed) <
	    ev->rate)
		return true;
	atomic_fetch_add_explicit(&l->suppressed, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&ev->suppressed, 1, memory_order_relaxed);
	return false;
}

void mn__event(mn__events *ev, int type, int err, const mn_kind *k,
	       const void *key, size_t key_len, uint64_t seq, const char *fmt,
	       ...)
{
	if (!ev->fn || type <= 0 || type >= MN__EVENT_TYPES)
		return;
	mn__evlimit *l = &ev->lim[type];
	if (!limit_take(ev, l))
		return;
	char reason[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof reason, fmt, ap);
	va_end(ap);
	mn_event e = {
	    .type = type,
	    .err = err,
	    .seq = seq,
	    .reason = reason,
	    .suppressed = atomic_exchange_explicit(&l->suppressed, 0,
						   memory_order_relaxed),
	};
	if (k && key_len) {
		e.addr.kind = k->name;
		e.addr.key = key;
		e.addr.key_len = key_len;
	}
	atomic_fetch_add_explicit(&ev->delivered, 1, memory_order_relaxed);
	ev->fn(ev->arg, &e);
}

void mn__key_format(char *out, size_t cap, const void *key, size_t key_len)
{
	const unsigned char *b = key;
	bool text = key_len > 0;
	for (size_t i = 0; i < key_len; i++)
		if (b[i] < 0x21 || b[i] > 0x7e || b[i] == '/')
			text = false;
	size_t n = 0;
	if (text) {
		n = key_len < cap - 1 ? key_len : cap - 1;
		memcpy(out, b, n);
	} else if (cap > 3) {
		out[n++] = '0';
		out[n++] = 'x';
		for (size_t i = 0; i < key_len && n + 2 < cap; i++)
			n += (size_t)snprintf(out + n, cap - n, "%02x", b[i]);
	}
	out[n] = 0;
}

static mn__broken_ent *broken_find(mn__events *ev, const mn_kind *k,
				   const void *key, size_t key_len)
{
	size_t n = atomic_load_explicit(&ev->nbroken, memory_order_relaxed);
	for (size_t i = 0; i < n; i++) {
		mn__broken_ent *b = &ev->broken[i];
		if (b->kind_idx == k->idx && b->key_len == key_len &&
		    memcmp(b->key, key, key_len) == 0)
			return b;
	}
	return NULL;
}

void mn__broken_mark(mn__events *ev, const mn_kind *k, const void *key,
		     size_t key_len, int err, const char *reason)
{
	pthread_mutex_lock(&ev->broken_mu);
	mn__broken_ent *b = broken_find(ev, k, key, key_len);
	size_t n = atomic_load_explicit(&ev->nbroken, memory_order_relaxed);
	if (!b && n < MN__BROKEN_KEEP) {
		if (n == ev->broken_cap) {
			size_t c = ev->broken_cap ? 2 * ev->broken_cap : 8;
			mn__broken_ent *nb =
			    realloc(ev->broken, c * sizeof *nb);
			if (!nb)
				goto out_unlock; /* counted, reason not kept */
			ev->broken = nb;
			ev->broken_cap = c;
		}
		b = &ev->broken[n];
		b->kind_idx = k->idx;
		b->key_len = (uint8_t)key_len;
		memcpy(b->key, key, key_len);
		atomic_store_explicit(&ev->nbroken, n + 1,
				      memory_order_relaxed);
	}
	if (b) {
		b->err = err;
		snprintf(b->reason, sizeof b->reason, "%s", reason);
	}
out_unlock:
	pthread_mutex_unlock(&ev->broken_mu);
}

void mn__broken_clear(mn__events *ev, const mn_kind *k, const void *key,
		      size_t key_len)
{
	pthread_mutex_lock(&ev->broken_mu);
	mn__broken_ent *b = broken_find(ev, k, key, key_len);
	if (b) {
		size_t n =
		    atomic_load_explicit(&ev->nbroken, memory_order_relaxed);
		*b = ev->broken[n - 1];
		atomic_store_explicit(&ev->nbroken, n - 1,
				      memory_order_relaxed);
	}
	pthread_mutex_unlock(&ev->broken_mu);
}

int mn__broken_lookup(mn__events *ev, const mn_kind *k, const void *key,
		      size_t key_len)
{
	int rc = 0;
	char detail[MN__BROKEN_REASON + 2 * MN_KEY_MAX + MN_KIND_NAME_MAX + 64];
	pthread_mutex_lock(&ev->broken_mu);
	mn__broken_ent *b = broken_find(ev, k, key, key_len);
	if (b) {
		char kb[2 * MN_KEY_MAX + 3];
		mn__key_format(kb, sizeof kb, key, key_len);
		rc = b->err;
		snprintf(
		    detail, sizeof detail,
		    "actor %s/%s is broken (could not be brought back): %s",
		    k->name, kb, b->reason);
	}
	pthread_mutex_unlock(&ev->broken_mu);
	if (rc)
		mn__store_set_errdetail(detail);
	return rc;
}
