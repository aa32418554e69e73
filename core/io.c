/*
 * io.c - the I/O thread (io.h): its life (open, the loop thread, close),
 * the submission queue that every other thread uses to reach it (IO1,
 * IO6), cancel, the credential table, the durable-timer wake-up
 * (mn__io_wake_at) and the end of a call (done, then free). The waiting
 * calls are io_queue.c's, the transfers io_curl.c's.
 *
 * The queue is core/mpsc.h's detaching queue: a request is pushed through
 * the mn__mpsc_node of its wrapper (io_call, in the request's own block),
 * cancel pushes a small node of its own, wake_at one embedded node. The
 * loop drains it in the uv_async callback; a node found "busy" (MQ1: a
 * producer between its exchange and its link) is left for the next
 * callback, which that producer's uv_async_send (after its link) causes.
 *
 * Close without uv_stop: the stop flag and a last uv_async_send; the async
 * callback then drains the queue (freeing what it finds, no done), abandons
 * every call, cleans up curl (whose cached connections close their sockets
 * through IO4) and closes every handle, so that uv_run returns by itself
 * once the last close callback ran; the closing thread joins the loop
 * thread.
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "core/admit.h"
#include "core/io_int.h"

#define IO_DEFAULT_INFLIGHT 256
#define IO_DEFAULT_PER_HOST 64

/* ---- requests ---------------------------------------------------------- */

static size_t str_size(const char *s)
{
	return s ? strlen(s) + 1 : 0;
}

static const char *str_copy(char **at, const char *s)
{
	if (!s)
		return NULL;
	size_t n = strlen(s) + 1;
	char *d = memcpy(*at, s, n);
	*at += n;
	return d;
}

mn__io_req *mn__io_req_new(const mn__io_req *tmpl)
{
	size_t n = str_size(tmpl->method) + str_size(tmpl->url) +
		   str_size(tmpl->headers) + str_size(tmpl->idem_key) +
		   str_size(tmpl->credential);
	if (tmpl->body_len > SIZE_MAX - sizeof(io_call) - n - 1)
		return NULL;
	io_call *c = malloc(sizeof(*c) + n + tmpl->body_len + 1);
	if (!c)
		return NULL;
	memset(c, 0, sizeof(*c));
	c->req = *tmpl;
	char *at = (char *)(c + 1);
	c->req.method = str_copy(&at, tmpl->method);
	c->req.url = str_copy(&at, tmpl->url);
	c->req.headers = str_copy(&at, tmpl->headers);
	c->req.idem_key = str_copy(&at, tmpl->idem_key);
	c->req.credential = str_copy(&at, tmpl->credential);
	if (tmpl->body_len)
		memcpy(at, tmpl->body, tmpl->body_len);
	at[tmpl->body_len] = 0;
	c->req.body = tmpl->body_len ? at : NULL;
	c->heap_idx = IO_NOHEAP;
	return &c->req;
}

void mn__io_req_free(mn__io_req *r)
{
	if (r)
		free(io_call_of(r));
}

/* A method is an HTTP token; headers and the key carry no bare CR or NUL
 * (every line is ours to split on '\n'), so that nothing a request holds
 * can start a header or a request of its own. */
static bool req_valid(const mn__io_req *r, const char **why)
{
	const char *m = r->method ? r->method : "GET";
	*why = "malformed method";
	if (!*m)
		return false;
	for (const char *p = m; *p; p++)
		if (!strchr("!#$%&'*+-.^_`|~", *p) &&
		    !((*p >= '0' && *p <= '9') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= 'a' && *p <= 'z')))
			return false;
	*why = "malformed header line (a CR inside a line)";
	for (const char *p = r->headers; p && *p; p++)
		if (*p == '\r' && p[1] != '\n' && p[1] != 0)
			return false;
	*why = "malformed idempotency key";
	for (const char *p = r->idem_key; p && *p; p++)
		if (*p == '\r' || *p == '\n')
			return false;
	*why = "malformed URL";
	return r->url != NULL;
}

/* ---- the end of a call ------------------------------------------------- */

void mn__io_finish(mn__io *io, io_call *c, mn__io_result *res)
{
	res->attempts = c->attempt ? c->attempt : 1;
	res->latency_us = (mn__mono_ns() - c->t_submit_ns) / 1000u;
	if (!res->reason)
		res->reason = "";
	if (!res->headers)
		res->headers = "";
	if (!res->body)
		res->body = "";
	if (c->state != IO_NEW)
		mn__io_calls_del(io, c);
	atomic_fetch_add_explicit(&io->completed, 1, memory_order_relaxed);
	if (io->o.done)
		io->o.done(io->o.arg, &c->req, res);
	mn__io_host_put(io, c->host);
	free(c);
}

void mn__io_fail(mn__io *io, io_call *c, int err, const char *reason)
{
	mn__io_result res = {.err = err, .reason = reason};
	mn__io_finish(io, c, &res);
}

/* Free c without done (cancel, close): out of wherever it waits. */
static void call_drop(mn__io *io, io_call *c)
{
	switch (c->state) {
	case IO_QUEUED:
		mn__io_unqueue(io, c);
		atomic_fetch_sub_explicit(&io->queued, 1, memory_order_relaxed);
		break;
	case IO_RETRY:
		mn__io_retry_del(io, c);
		atomic_fetch_sub_explicit(&io->queued, 1, memory_order_relaxed);
		break;
	case IO_INFLIGHT:
		mn__io_attempt_abort(io, c);
		mn__io_slot_free(io, c);
		break;
	default:
		break;
	}
	if (c->state != IO_NEW)
		mn__io_calls_del(io, c);
	mn__io_host_put(io, c->host);
	free(c);
}

static void call_cancel(mn__io *io, io_call *c)
{
	call_drop(io, c);
	atomic_fetch_add_explicit(&io->cancelled, 1, memory_order_relaxed);
}

/* ---- the loop side of the queue ---------------------------------------- */

typedef struct io_cancel_msg {
	io_msg msg; /* IO_MSG_CANCEL; first */
	uint64_t actor_id, call_id;
} io_cancel_msg;

static void take_call(mn__io *io, io_call *c)
{
	const char *why;
	int rc;
	if (io->stopping) {
		atomic_fetch_sub_explicit(&io->queued, 1, memory_order_relaxed);
		free(c);
		return;
	}
	/* Seeded from the ids so that a call's jitter is the same in every
	 * run (the tests' determinism), distinct between calls. */
	c->rng = c->req.actor_id * 0x9e3779b97f4a7c15ull ^ c->req.call_id;
	if (!req_valid(&c->req, &why)) {
		rc = MN_EINVAL;
		goto out_fail;
	}
	rc = mn__io_host_get(io, c->req.url, &c->host);
	why = rc == MN_EINVAL ? "malformed URL (an http or https URL)"
			      : "out of memory";
	if (rc)
		goto out_fail;
	why = "out of memory";
	if ((rc = mn__io_calls_add(io, c)))
		goto out_fail;
	mn__io_enqueue(io, c);
	return;
out_fail:
	atomic_fetch_sub_explicit(&io->queued, 1, memory_order_relaxed);
	mn__io_fail(io, c, rc, why);
}

static void wake_arm(mn__io *io);

static void take_wake(mn__io *io)
{
	pthread_mutex_lock(&io->wake_mu);
	uint64_t due = io->wake_due;
	void (*fn)(void *) = io->wake_fn;
	void *arg = io->wake_arg;
	io->wake_queued = false;
	pthread_mutex_unlock(&io->wake_mu);
	if (io->stopping)
		return;
	if (io->wake_armed && io->wake_armed_due <= due)
		return;
	io->wake_armed = true;
	io->wake_armed_due = due;
	io->wake_armed_fn = fn;
	io->wake_armed_arg = arg;
	wake_arm(io);
}

/* Everything queued so far (but a busy node: see the top). */
static void drain(mn__io *io)
{
	mn__mpsc_node *n;
	while ((n = mn__mpsc_pop(&io->q))) {
		io_msg *m = (io_msg *)n;
		if (m->kind == IO_MSG_CALL) {
			take_call(io, (io_call *)m);
		} else if (m->kind == IO_MSG_CANCEL) {
			io_cancel_msg *cm = (io_cancel_msg *)m;
			if (!io->stopping)
				mn__io_calls_each(io, cm->actor_id, cm->call_id,
						  call_cancel);
			free(cm);
		} else {
			take_wake(io);
		}
	}
}

static void close_cb_none(uv_handle_t *h)
{
	(void)h;
}

/* Close whatever handle is still open (the poll handles of sockets that
 * curl owned, if any survived its cleanup). */
static void close_walk(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, close_cb_none);
}

/* The loop's last work: abandon every call (no done), curl, the handles. */
static void shutdown_loop(mn__io *io)
{
	io->stopping = true;
	drain(io);
	for (size_t i = 0; i < io->calls_cap; i++)
		while (io->calls[i])
			call_drop(io, io->calls[i]);
	mn__io_curl_close(io);
	free(io->calls);
	io->calls = NULL;
	io->calls_cap = 0;
	mn__io_hosts_free(io);
	mn__io_heap_free(&io->retry);
	uv_close((uv_handle_t *)&io->curl_timer, close_cb_none);
	uv_close((uv_handle_t *)&io->retry_timer, close_cb_none);
	uv_close((uv_handle_t *)&io->wake_timer, close_cb_none);
	uv_close((uv_handle_t *)&io->async, close_cb_none);
}

static void on_async(uv_async_t *a)
{
	mn__io *io = a->data;
	drain(io);
	/* acquire: pairs with the release store in mn__io_close; IO6 made
	 * every producer finish before it. */
	if (atomic_load_explicit(&io->stop, memory_order_acquire)) {
		shutdown_loop(io);
		return;
	}
	mn__io_pump(io);
}

static void *loop_main(void *arg)
{
	pthread_setname_np(pthread_self(), "mn-io");
	mn__tls_no_admit_wait = true; /* AC3 */
	mn__io *io = arg;
	uv_run(&io->loop, UV_RUN_DEFAULT);
	uv_walk(&io->loop, close_walk, NULL);
	uv_run(&io->loop, UV_RUN_DEFAULT);
	uv_loop_close(&io->loop);
	return NULL;
}

/* ---- producers (IO6) --------------------------------------------------- */

static bool enter(mn__io *io)
{
	/* seq_cst, with the closing store and the entering load of close:
	 * either close sees us entered or we see it closing (IO6). */
	atomic_fetch_add_explicit(&io->entering, 1, memory_order_seq_cst);
	if (atomic_load_explicit(&io->closing, memory_order_seq_cst)) {
		atomic_fetch_sub_explicit(&io->entering, 1,
					  memory_order_release);
		return false;
	}
	return true;
}

static void leave(mn__io *io)
{
	/* release: our push and uv_async_send happen before close goes on. */
	atomic_fetch_sub_explicit(&io->entering, 1, memory_order_release);
}

static void push(mn__io *io, io_msg *m)
{
	mn__mpsc_push(&io->q.end, &m->node);
	uv_async_send(&io->async);
}

int mn__io_submit(mn__io *io, mn__io_req *req)
{
	io_call *c = io_call_of(req);
	c->t_submit_ns = mn__mono_ns();
	c->state = IO_NEW;
	c->msg.kind = IO_MSG_CALL;
	if (!enter(io)) {
		free(c);
		return MN_ECLOSED;
	}
	atomic_fetch_add_explicit(&io->submitted, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&io->queued, 1, memory_order_relaxed);
	push(io, &c->msg);
	leave(io);
	return 0;
}

/* A cancel that cannot get its node (out of memory) is lost: the call's
 * done then comes, as for a cancel that arrives after the end. */
void mn__io_cancel(mn__io *io, uint64_t actor_id, uint64_t call_id)
{
	io_cancel_msg *m = malloc(sizeof(*m));
	if (!m)
		return;
	m->msg.kind = IO_MSG_CANCEL;
	m->actor_id = actor_id;
	m->call_id = call_id;
	if (!enter(io)) {
		free(m);
		return;
	}
	push(io, &m->msg);
	leave(io);
}

/* ---- the durable-timer wake-up ----------------------------------------- */

static void on_wake(uv_timer_t *t)
{
	mn__io *io = t->data;
	if (!io->wake_armed)
		return;
	/* Never early: the loop's clock is a cached, whole-millisecond
	 * monotonic one; the due time is the wall clock's. */
	if (mn__unix_ms() < io->wake_armed_due) {
		wake_arm(io);
		return;
	}
	io->wake_armed = false;
	io->wake_armed_fn(io->wake_armed_arg);
}

static void wake_arm(mn__io *io)
{
	uint64_t now = mn__unix_ms(), due = io->wake_armed_due;
	uv_update_time(&io->loop);
	uv_timer_start(&io->wake_timer, on_wake, due > now ? due - now : 0, 0);
}

int mn__io_wake_at(mn__io *io, uint64_t due_unix_ms, void (*fn)(void *arg),
		   void *arg)
{
	if (!io || !fn)
		return MN_EINVAL;
	if (!enter(io))
		return MN_ECLOSED;
	pthread_mutex_lock(&io->wake_mu);
	bool first = !io->wake_queued;
	if (first || due_unix_ms < io->wake_due) {
		io->wake_due = due_unix_ms;
		io->wake_fn = fn;
		io->wake_arg = arg;
	}
	/* One embedded node: pushed only when not already queued (MQ3). */
	io->wake_queued = true;
	if (first)
		mn__mpsc_push(&io->q.end, &io->wake_msg.node);
	pthread_mutex_unlock(&io->wake_mu);
	if (first)
		uv_async_send(&io->async);
	leave(io);
	return 0;
}

/* ---- credentials ------------------------------------------------------- */

static void cred_free(io_cred *c)
{
	if (!c)
		return;
	explicit_bzero(c->line, strlen(c->line));
	free(c->line);
	free(c->name);
	free(c);
}

int mn__io_credential_set(mn__io *io, const char *name, const char *header,
			  const char *value)
{
	if (!io || !name || !*name || !header || !*header || !value)
		return MN_EINVAL;
	if (strpbrk(header, ":\r\n \t") || strpbrk(value, "\r\n"))
		return MN_EINVAL;
	size_t n = strlen(header) + strlen(value) + 3;
	io_cred *c = calloc(1, sizeof(*c));
	if (!c)
		return MN_ENOMEM;
	c->name = strdup(name);
	c->line = malloc(n);
	if (!c->name || !c->line) {
		free(c->name);
		free(c->line);
		free(c);
		return MN_ENOMEM;
	}
	snprintf(c->line, n, "%s: %s", header, value);
	pthread_mutex_lock(&io->cred_mu);
	io_cred **pp = &io->creds, *old = NULL;
	while (*pp && strcmp((*pp)->name, name))
		pp = &(*pp)->next;
	if (*pp) {
		old = *pp;
		c->next = old->next;
	}
	*pp = c;
	pthread_mutex_unlock(&io->cred_mu);
	cred_free(old);
	return 0;
}

int mn__io_cred_line(mn__io *io, const char *name, char **line)
{
	int rc = MN_EINVAL;
	*line = NULL;
	pthread_mutex_lock(&io->cred_mu);
	for (io_cred *c = io->creds; c; c = c->next) {
		if (!strcmp(c->name, name)) {
			*line = strdup(c->line);
			rc = *line ? 0 : MN_ENOMEM;
			break;
		}
	}
	pthread_mutex_unlock(&io->cred_mu);
	return rc;
}

/* ---- open, close, stats ------------------------------------------------ */

void mn__io_stats_get(mn__io *io, mn__io_stats *st)
{
	st->submitted =
	    atomic_load_explicit(&io->submitted, memory_order_relaxed);
	st->completed =
	    atomic_load_explicit(&io->completed, memory_order_relaxed);
	st->cancelled =
	    atomic_load_explicit(&io->cancelled, memory_order_relaxed);
	st->retries = atomic_load_explicit(&io->retries, memory_order_relaxed);
	st->queued = atomic_load_explicit(&io->queued, memory_order_relaxed);
	st->inflight =
	    atomic_load_explicit(&io->inflight, memory_order_relaxed);
}

void mn__io_set_attempt_hook(mn__io *io,
			     void (*fn)(void *arg, const mn__io_req *req,
					uint32_t attempt,
					unsigned host_inflight,
					unsigned inflight),
			     void *arg)
{
	io->hook = fn;
	io->hook_arg = arg;
}

static void io_free(mn__io *io)
{
	while (io->creds) {
		io_cred *c = io->creds;
		io->creds = c->next;
		cred_free(c);
	}
	pthread_mutex_destroy(&io->cred_mu);
	pthread_mutex_destroy(&io->wake_mu);
	free(io);
	curl_global_cleanup();
}

int mn__io_open(const mn__io_opts *o, mn__io **out)
{
	int rc = MN_ESYS;
	*out = NULL;
	/* curl_global_init is thread-safe in this libcurl ("threadsafe"
	 * feature) and counted: each close undoes one. */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return MN_ESYS;
	mn__io *io = calloc(1, sizeof(*io));
	if (!io) {
		curl_global_cleanup();
		return MN_ENOMEM;
	}
	io->o = *o;
	if (!io->o.max_inflight)
		io->o.max_inflight = IO_DEFAULT_INFLIGHT;
	if (!io->o.max_per_host)
		io->o.max_per_host = IO_DEFAULT_PER_HOST;
	mn__mpsc_init(&io->q);
	io->wake_msg.kind = IO_MSG_WAKE;
	io->eligible.a = NULL;
	pthread_mutex_init(&io->cred_mu, NULL);
	pthread_mutex_init(&io->wake_mu, NULL);
	if (uv_loop_init(&io->loop))
		goto out_free;
	io->loop.data = io;
	if (uv_async_init(&io->loop, &io->async, on_async))
		goto out_loop;
	uv_timer_init(&io->loop, &io->curl_timer);
	uv_timer_init(&io->loop, &io->retry_timer);
	uv_timer_init(&io->loop, &io->wake_timer);
	io->async.data = io->curl_timer.data = io->retry_timer.data =
	    io->wake_timer.data = io;
	if ((rc = mn__io_curl_open(io)))
		goto out_handles;
	if (pthread_create(&io->thread, NULL, loop_main, io)) {
		rc = MN_ESYS;
		goto out_curl;
	}
	*out = io;
	return 0;
out_curl:
	mn__io_curl_close(io);
out_handles:
	uv_walk(&io->loop, close_walk, NULL);
	uv_run(&io->loop, UV_RUN_DEFAULT);
out_loop:
	uv_loop_close(&io->loop);
out_free:
	io_free(io);
	return rc;
}

void mn__io_close(mn__io *io)
{
	if (!io)
		return;
	atomic_store_explicit(&io->closing, 1, memory_order_seq_cst);
	while (atomic_load_explicit(&io->entering, memory_order_seq_cst))
		sched_yield();
	/* release: pairs with the acquire load in on_async. */
	atomic_store_explicit(&io->stop, 1, memory_order_release);
	uv_async_send(&io->async);
	pthread_join(io->thread, NULL);
	io_free(io);
}
