/*
 * io_queue.c - the waiting calls of the I/O thread (io_int.h): the call
 * table (cancel finds a call by its ids), the host table (the per-host cap
 * is per scheme://host:port, as curl's URL parser splits the URL), the
 * per-host FIFOs, the heap of eligible hosts that decides which host starts
 * next, and the retry heap under one uv_timer. Loop thread only (IO1).
 *
 * Order and cost (IO3): each host keeps its waiting calls in a FIFO; a host
 * is "eligible" while it has a waiting call and a free slot of its own. The
 * eligible hosts sit in a min-heap keyed by the arrival number of their
 * first waiting call, so when a global slot frees the call that arrived
 * first among those that may start, starts: a full host never blocks the
 * calls to other hosts behind it, and picking costs O(log hosts), whatever
 * the number of calls waiting (a global arrival list scanned for the first
 * eligible call would cost O(calls of full hosts) per start).
 *
 * Retry waits: one uv_timer over a min-heap by due time rather than one
 * uv_timer per waiting call. libuv keeps its timers in a heap too, so the
 * cost per operation is the same O(log n); what one timer saves is a handle
 * per call and its asynchronous uv_close, which would otherwise have to
 * finish before a cancelled or closed call could be freed.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "base/grow.h"
#include "base/hash.h"
#include "core/io_int.h"

/* ---- the heap ---------------------------------------------------------- */

static void heap_set(io_heap *h, size_t i, io_hent e)
{
	h->a[i] = e;
	*e.idx = (uint32_t)i;
}

static void heap_up(io_heap *h, size_t i)
{
	io_hent e = h->a[i];
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (h->a[p].key <= e.key)
			break;
		heap_set(h, i, h->a[p]);
		i = p;
	}
	heap_set(h, i, e);
}

static void heap_down(io_heap *h, size_t i)
{
	io_hent e = h->a[i];
	for (;;) {
		size_t l = 2 * i + 1, m;
		if (l >= h->n)
			break;
		m = l + 1 < h->n && h->a[l + 1].key < h->a[l].key ? l + 1 : l;
		if (h->a[m].key >= e.key)
			break;
		heap_set(h, i, h->a[m]);
		i = m;
	}
	heap_set(h, i, e);
}

/* Insert p with key; *idx follows its place. 0 or MN_ENOMEM. */
int mn__io_heap_push(io_heap *h, uint64_t key, void *p, uint32_t *idx)
{
	if (h->n >= IO_NOHEAP - 1 ||
	    mn__grow(&h->a, &h->cap, h->n + 1, sizeof(io_hent), 64))
		return MN_ENOMEM;
	h->a[h->n] = (io_hent){key, p, idx};
	*idx = (uint32_t)h->n;
	heap_up(h, h->n++);
	return 0;
}

/* Remove the entry at i; its owner's index becomes IO_NOHEAP. */
void mn__io_heap_del(io_heap *h, uint32_t i)
{
	*h->a[i].idx = IO_NOHEAP;
	if (i == --h->n)
		return;
	io_hent last = h->a[h->n];
	heap_set(h, i, last);
	heap_up(h, i);
	heap_down(h, *last.idx);
}

void mn__io_heap_free(io_heap *h)
{
	free(h->a);
	*h = (io_heap){0};
}

/* ---- the call table ---------------------------------------------------- */

static size_t call_bucket(const mn__io *io, uint64_t actor_id, uint64_t call_id)
{
	uint64_t x = mn__hash_word(mn__hash_word(0, actor_id), call_id);
	x ^= x >> 29;
	return (size_t)(x & (io->calls_cap - 1));
}

static int calls_grow(mn__io *io)
{
	size_t cap = io->calls_cap ? io->calls_cap * 2 : 1024;
	io_call **nt = calloc(cap, sizeof(*nt)), **old = io->calls;
	size_t oldcap = io->calls_cap;
	if (!nt)
		return MN_ENOMEM;
	io->calls = nt;
	io->calls_cap = cap;
	for (size_t i = 0; i < oldcap; i++) {
		for (io_call *c = old[i], *next; c; c = next) {
			next = c->tnext;
			size_t b =
			    call_bucket(io, c->req.actor_id, c->req.call_id);
			c->tnext = nt[b];
			nt[b] = c;
		}
	}
	free(old);
	return 0;
}

int mn__io_calls_add(mn__io *io, io_call *c)
{
	if (io->ncalls >= io->calls_cap && calls_grow(io) && !io->calls_cap)
		return MN_ENOMEM;
	size_t b = call_bucket(io, c->req.actor_id, c->req.call_id);
	c->tnext = io->calls[b];
	io->calls[b] = c;
	io->ncalls++;
	return 0;
}

void mn__io_calls_del(mn__io *io, io_call *c)
{
	io_call **pp =
	    &io->calls[call_bucket(io, c->req.actor_id, c->req.call_id)];
	while (*pp && *pp != c)
		pp = &(*pp)->tnext;
	if (*pp) {
		*pp = c->tnext;
		io->ncalls--;
	}
}

void mn__io_calls_each(mn__io *io, uint64_t actor_id, uint64_t call_id,
		       void (*fn)(mn__io *, io_call *))
{
	if (!io->calls_cap)
		return;
	io_call *c = io->calls[call_bucket(io, actor_id, call_id)], *next;
	for (; c; c = next) {
		next = c->tnext; /* fn may unlink c, never its successor */
		if (c->req.actor_id == actor_id && c->req.call_id == call_id)
			fn(io, c);
	}
}

/* ---- the host table ---------------------------------------------------- */

static int hosts_grow(mn__io *io)
{
	size_t cap = io->hosts_cap ? io->hosts_cap * 2 : 64;
	io_host **nt = calloc(cap, sizeof(*nt)), **old = io->hosts;
	size_t oldcap = io->hosts_cap;
	if (!nt)
		return MN_ENOMEM;
	for (size_t i = 0; i < oldcap; i++) {
		for (io_host *h = old[i], *next; h; h = next) {
			next = h->tnext;
			h->tnext = nt[h->hash & (cap - 1)];
			nt[h->hash & (cap - 1)] = h;
		}
	}
	free(old);
	io->hosts = nt;
	io->hosts_cap = cap;
	return 0;
}

/* "scheme://host:port" of url into a new string, or NULL with *err. The
 * URL is split by curl's parser (curl_url), never by hand; only http and
 * https are accepted. */
static char *host_key(const char *url, int *err)
{
	char *scheme = NULL, *host = NULL, *port = NULL, *key = NULL;
	CURLU *u = curl_url();
	*err = MN_ENOMEM;
	if (!u)
		return NULL;
	*err = MN_EINVAL;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) !=
		CURLUE_OK)
		goto out_free;
	if (strcmp(scheme, "http") && strcmp(scheme, "https"))
		goto out_free;
	size_t n = strlen(scheme) + strlen(host) + strlen(port) + 5;
	key = malloc(n);
	if (!key) {
		*err = MN_ENOMEM;
		goto out_free;
	}
	snprintf(key, n, "%s://%s:%s", scheme, host, port);
	for (char *p = key; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	*err = 0;
out_free:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return key;
}

/* Remember h as the host of url (one reference), dropping the previous. */
static void host_cache(mn__io *io, const char *url, io_host *h)
{
	char *u = strdup(url);
	if (!u)
		return;
	h->users++;
	io_host *old = io->last_host;
	free(io->last_url);
	io->last_url = u;
	io->last_host = h;
	mn__io_host_put(io, old);
}

int mn__io_host_get(mn__io *io, const char *url, io_host **out)
{
	int err;
	/* The same URL as the last call (a run of calls to one endpoint): no
	 * second parse. A string compare, not a parse of our own. */
	if (io->last_url && !strcmp(io->last_url, url)) {
		io->last_host->users++;
		*out = io->last_host;
		return 0;
	}
	char *key = host_key(url, &err);
	if (!key)
		return err;
	size_t len = strlen(key);
	uint64_t hash = mn__hash(0, key, len);
	io_host *h = NULL;
	if (io->hosts_cap) {
		h = io->hosts[hash & (io->hosts_cap - 1)];
		while (h && (h->hash != hash || strcmp(h->key, key)))
			h = h->tnext;
	}
	if (!h) {
		if (io->nhosts >= io->hosts_cap && hosts_grow(io) &&
		    !io->hosts_cap)
			goto out_nomem;
		h = calloc(1, sizeof(*h) + len + 1);
		if (!h)
			goto out_nomem;
		memcpy(h->key, key, len + 1);
		h->hash = hash;
		h->heap_idx = IO_NOHEAP;
		h->tnext = io->hosts[hash & (io->hosts_cap - 1)];
		io->hosts[hash & (io->hosts_cap - 1)] = h;
		io->nhosts++;
	}
	free(key);
	h->users++;
	*out = h;
	host_cache(io, url, h);
	return 0;
out_nomem:
	free(key);
	return MN_ENOMEM;
}

/* One call fewer points at h; an unused host is freed. */
void mn__io_host_put(mn__io *io, io_host *h)
{
	if (!h || --h->users)
		return;
	io_host **pp = &io->hosts[h->hash & (io->hosts_cap - 1)];
	while (*pp != h)
		pp = &(*pp)->tnext;
	*pp = h->tnext;
	io->nhosts--;
	if (h->heap_idx != IO_NOHEAP)
		mn__io_heap_del(&io->eligible, h->heap_idx);
	free(h);
}

void mn__io_hosts_free(mn__io *io)
{
	free(io->last_url);
	io->last_url = NULL;
	io->last_host = NULL;
	for (size_t i = 0; i < io->hosts_cap; i++) {
		for (io_host *h = io->hosts[i], *next; h; h = next) {
			next = h->tnext;
			free(h);
		}
	}
	free(io->hosts);
	io->hosts = NULL;
	io->hosts_cap = io->nhosts = 0;
	mn__io_heap_free(&io->eligible);
}

/* ---- per-host FIFOs and the eligible heap (IO3) ------------------------ */

/* Put h in the eligible heap, out of it, or at its new key. */
static void host_update(mn__io *io, io_host *h)
{
	bool want = h->head && h->inflight < io->o.max_per_host;
	if (h->heap_idx != IO_NOHEAP)
		mn__io_heap_del(&io->eligible, h->heap_idx);
	/* A push after a delete never grows the array; a push that fails
	 * (out of memory) leaves h out until its next change. */
	if (want)
		(void)mn__io_heap_push(&io->eligible, h->head->seq, h,
				       &h->heap_idx);
}

int mn__io_enqueue(mn__io *io, io_call *c)
{
	io_host *h = c->host;
	c->seq = ++io->seq;
	c->state = IO_QUEUED;
	c->next = NULL;
	c->prev = h->tail;
	if (h->tail)
		h->tail->next = c;
	else
		h->head = c;
	h->tail = c;
	if (h->head == c)
		host_update(io, h);
	return 0;
}

int mn__io_requeue(mn__io *io, io_call *c)
{
	io_host *h = c->host;
	io_call *after = NULL, *x = h->head;
	/* Only earlier retries can be ahead of c: every call that arrived
	 * before it to this host had started when c did (IO3). */
	while (x && x->seq < c->seq) {
		after = x;
		x = x->next;
	}
	c->state = IO_QUEUED;
	c->prev = after;
	c->next = x;
	if (after)
		after->next = c;
	else
		h->head = c;
	if (x)
		x->prev = c;
	else
		h->tail = c;
	if (h->head == c)
		host_update(io, h);
	return 0;
}

void mn__io_unqueue(mn__io *io, io_call *c)
{
	io_host *h = c->host;
	bool was_head = h->head == c;
	if (c->prev)
		c->prev->next = c->next;
	else
		h->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		h->tail = c->prev;
	c->prev = c->next = NULL;
	if (was_head)
		host_update(io, h);
}

void mn__io_slot_free(mn__io *io, io_call *c)
{
	io_host *h = c->host;
	h->inflight--;
	io->active--;
	atomic_fetch_sub_explicit(&io->inflight, 1, memory_order_relaxed);
	if (h->inflight + 1 == io->o.max_per_host)
		host_update(io, h);
}

void mn__io_pump(mn__io *io)
{
	while (!io->stopping && io->active < io->o.max_inflight &&
	       io->eligible.n) {
		io_host *h = io->eligible.a[0].p;
		io_call *c = h->head;
		mn__io_unqueue(io, c);
		h->inflight++;
		io->active++;
		atomic_fetch_sub_explicit(&io->queued, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&io->inflight, 1,
					  memory_order_relaxed);
		if (h->inflight == io->o.max_per_host)
			host_update(io, h);
		c->state = IO_INFLIGHT;
		mn__io_attempt_start(io, c);
	}
}

/* ---- retry waits ------------------------------------------------------- */

static void retry_arm(mn__io *io)
{
	if (!io->retry.n) {
		uv_timer_stop(&io->retry_timer);
		return;
	}
	uint64_t now = uv_now(&io->loop), due = io->retry.a[0].key;
	uv_timer_start(&io->retry_timer, mn__io_retry_timer_cb,
		       due > now ? due - now : 0, 0);
}

int mn__io_retry_add(mn__io *io, io_call *c, uint64_t wait_ms)
{
	uv_update_time(&io->loop);
	c->due_ms = uv_now(&io->loop) + wait_ms;
	int rc = mn__io_heap_push(&io->retry, c->due_ms, c, &c->heap_idx);
	if (rc)
		return rc;
	c->state = IO_RETRY;
	atomic_fetch_add_explicit(&io->queued, 1, memory_order_relaxed);
	if (c->heap_idx == 0)
		retry_arm(io);
	return 0;
}

void mn__io_retry_del(mn__io *io, io_call *c)
{
	bool first = c->heap_idx == 0;
	mn__io_heap_del(&io->retry, c->heap_idx);
	if (first)
		retry_arm(io);
}

void mn__io_retry_timer_cb(uv_timer_t *t)
{
	mn__io *io = t->data;
	uint64_t now = uv_now(&io->loop);
	while (io->retry.n && io->retry.a[0].key <= now) {
		io_call *c = io->retry.a[0].p;
		mn__io_heap_del(&io->retry, 0);
		mn__io_requeue(io, c);
	}
	retry_arm(io);
	mn__io_pump(io);
}
