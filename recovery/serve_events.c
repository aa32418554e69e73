/*
 * serve_events.c - the event streams of `mnemo serve` (`GET
 * /v1/actors/{kind}/{key}/events`, server-sent events, docs/serve.md) and
 * the watcher thread.
 *
 * A stream is an observer of the actor (mn_observe, bounded: a slow
 * reader loses events, is told with an "event: lost", and never slows the
 * actor) read by libmicrohttpd's content reader callback
 * (MHD_create_response_from_callback). The reader never waits: it polls
 * the observer (mn_observer_next with a timeout of 0), and when there is
 * nothing to write it suspends the connection (MHD_suspend_connection)
 * and returns 0. The observer's notify callback (mn_observer_notify, on
 * the writer or the I/O loop) resumes it, and so does the watcher at the
 * stream's next heartbeat (": ping") or its deadline. So an idle stream
 * holds no thread, only memory.
 *
 * The watcher: one thread, an epoll set of the sockets of suspended asks
 * and streams (EPOLLRDHUP: libmicrohttpd does not watch a suspended
 * connection, so a client that closes one is noticed here), and its tick
 * for the heartbeats and deadlines. A closed ask is cancelled at once
 * (serve_api.c, mn__srv_client_gone); a closed stream ends.
 *
 * Owns: a stream's connection is resumed only while it is suspended, by
 * whoever clears `suspended` under wait_mu; its socket is unwatched
 * before. Its observer is read and closed under obs_mu while obs_gone is
 * false, before the stream is freed; the close sets obs_gone (before
 * mn_runtime_close frees the observers still open).
 *
 * Threads: libmicrohttpd's pool (open, read, free), the writer and the
 * I/O loop (notify), the watcher, the command's thread (the drain).
 */
#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "recovery/serve.h"

/* The watcher's longest sleep (the heartbeat and deadline precision). */
#define TICK_MS 1000
/* Bytes of events written at most per call of the reader. */
#define BATCH 32768

struct mn__srv_stream {
	mn__srv *s;
	struct MHD_Connection *conn;
	mn_observer *ob; /* NULL once closed (or freed by the close) */
	uint64_t wid;
	int fd;
	uint64_t next_id;     /* the SSE id of the next event */
	uint64_t deadline_us; /* the stream's end */
	uint64_t ping_us;
	_Atomic uint64_t next_ping_us; /* the reader's; the watcher reads */
	/* Under wait_mu. */
	bool suspended, pending, ending, watched;
	const char *why; /* the end's reason */
	bool ended;	 /* the "end" event is written (reader only) */
	mn_buf out;	 /* formatted, not yet handed out from off */
	size_t off;
	mn__srv_stream *next, *prev; /* s->stream_head, under wait_mu */
};

static uint64_t now_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000 + (uint64_t)t.tv_nsec / 1000;
}

/* ---- the watcher ----------------------------------------------------------
 */

void mn__srv_watch_add(mn__srv *s, int fd, uint64_t wid)
{
	struct epoll_event e = {.events = EPOLLRDHUP | EPOLLONESHOT,
				.data.u64 = wid};
	if (s->watch_ep >= 0 && fd >= 0)
		(void)epoll_ctl(s->watch_ep, EPOLL_CTL_ADD, fd, &e);
}

void mn__srv_watch_del(mn__srv *s, int fd)
{
	if (s->watch_ep >= 0 && fd >= 0)
		(void)epoll_ctl(s->watch_ep, EPOLL_CTL_DEL, fd, NULL);
}

/* Resume st (wait_mu held, st suspended). */
static void stream_resume(mn__srv_stream *st)
{
	st->suspended = false;
	if (st->watched)
		mn__srv_watch_del(st->s, st->fd);
	st->watched = false;
	MHD_resume_connection(st->conn);
}

/* The tick: resume the streams whose heartbeat or deadline is due.
 * Returns the milliseconds until the next one is (at most TICK_MS). */
static int tick(mn__srv *s)
{
	uint64_t now = now_us(), next = now + TICK_MS * 1000u;
	pthread_mutex_lock(&s->wait_mu);
	for (mn__srv_stream *st = s->stream_head; st; st = st->next) {
		uint64_t ping = atomic_load_explicit(&st->next_ping_us,
						     memory_order_relaxed);
		uint64_t due = ping < st->deadline_us ? ping : st->deadline_us;
		if (st->suspended && due <= now)
			stream_resume(st);
		else if (due < next)
			next = due;
	}
	pthread_mutex_unlock(&s->wait_mu);
	uint64_t ms = next > now ? (next - now + 999) / 1000 : 1;
	return ms > TICK_MS ? TICK_MS : (int)ms;
}

static void *watch_main(void *arg)
{
	mn__srv *s = arg;
	int wait_ms = TICK_MS;
	while (!atomic_load(&s->watch_stop)) {
		struct epoll_event ev[32];
		int n = epoll_wait(s->watch_ep, ev, 32, wait_ms);
		for (int i = 0; i < n; i++) {
			if (ev[i].data.u64 == 0) {
				uint64_t v;
				if (read(s->watch_ev, &v, sizeof v) < 0) {
					/* nothing to read: woken anyway */
				}
				continue;
			}
			pthread_rwlock_rdlock(&s->rt_lock);
			mn__srv_client_gone(s, ev[i].data.u64);
			pthread_rwlock_unlock(&s->rt_lock);
		}
		wait_ms = tick(s);
	}
	return NULL;
}

int mn__srv_watch_start(mn__srv *s)
{
	s->watch_ep = epoll_create1(EPOLL_CLOEXEC);
	s->watch_ev = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct epoll_event e = {.events = EPOLLIN, .data.u64 = 0};
	if (s->watch_ep < 0 || s->watch_ev < 0 ||
	    epoll_ctl(s->watch_ep, EPOLL_CTL_ADD, s->watch_ev, &e) ||
	    pthread_create(&s->watch_thread, NULL, watch_main, s)) {
		fprintf(s->c->err, "mnemo serve: the watcher: %s\n",
			strerror(errno));
		mn__srv_watch_stop(s);
		return -1;
	}
	s->watch_running = true;
	return 0;
}

void mn__srv_watch_stop(mn__srv *s)
{
	if (s->watch_running) {
		uint64_t one = 1;
		atomic_store(&s->watch_stop, 1);
		if (write(s->watch_ev, &one, sizeof one) < 0) {
			/* the counter is full: it wakes anyway */
		}
		pthread_join(s->watch_thread, NULL);
		s->watch_running = false;
	}
	if (s->watch_ep >= 0)
		close(s->watch_ep);
	if (s->watch_ev >= 0)
		close(s->watch_ev);
	s->watch_ep = s->watch_ev = -1;
}

/* ---- events as text -------------------------------------------------------
 */

static const char *type_name(int type)
{
	switch (type) {
	case MN_OBS_SENT:
		return "send";
	case MN_OBS_ANSWER:
		return "reply";
	case MN_OBS_CHUNK:
		return "chunk";
	case MN_OBS_LOST:
		return "lost";
	default:
		return "other";
	}
}

/* One SSE event: "event: NAME\nid: N\ndata: JSON\n\n" (o is consumed). */
static void put_event(mn__srv_stream *st, const char *name, json_t *o)
{
	char head[96];
	char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (!text)
		return;
	int n = snprintf(head, sizeof head, "event: %s\nid: %llu\ndata: ", name,
			 (unsigned long long)++st->next_id);
	if (mn_buf_append(&st->out, head, (size_t)n) == 0 &&
	    mn_buf_append(&st->out, text, strlen(text)) == 0)
		(void)mn_buf_append(&st->out, "\n\n", 2);
	free(text);
	atomic_fetch_add(&st->s->m.stream_events, 1);
}

/* An observed event as one SSE event. */
static void put_observed(mn__srv_stream *st, const mn_observed *ev)
{
	const char *name = type_name(ev->type);
	json_t *o;
	if (ev->type == MN_OBS_LOST) {
		o = json_object();
		json_object_set_new(o, "type", json_string(name));
		json_object_set_new(o, "lost",
				    json_integer((json_int_t)ev->lost));
		atomic_fetch_add(&st->s->m.stream_lost, ev->lost);
		put_event(st, name, o);
		return;
	}
	if (ev->type == MN_OBS_CHUNK) {
		o = json_object();
		json_object_set_new(o, "type", json_string(name));
		json_object_set_new(o, "call_id",
				    json_integer((json_int_t)ev->call_id));
		char *b = mn__b64_encode(ev->data, ev->len);
		json_object_set_new(o, "payload_base64",
				    b ? json_string(b) : json_null());
		free(b);
		json_t *t = json_stringn(ev->data ? ev->data : "", ev->len);
		if (t) /* valid UTF-8 */
			json_object_set_new(o, "text", t);
		put_event(st, name, o);
		return;
	}
	o = mn__srv_message_json(ev->msg_type, ev->data, ev->len);
	json_object_set_new(o, "type", json_string(name));
	json_object_set_new(o, "msg_type", json_integer(ev->msg_type));
	json_object_set_new(o, "seq", json_integer((json_int_t)ev->seq));
	if (ev->type == MN_OBS_SENT && ev->to.kind) {
		char key[MN__CLI_KEY_CAP];
		mn__cli_key_format(key, ev->to.key, ev->to.key_len);
		json_object_set_new(o, "to_kind", json_string(ev->to.kind));
		json_object_set_new(o, "to_key", json_string(key));
	}
	put_event(st, name, o);
}

/* ---- a stream -------------------------------------------------------------
 */

/* The observer's callback (the writer, the I/O loop): wake the stream. */
static void on_observed(void *arg)
{
	mn__srv_stream *st = arg;
	pthread_mutex_lock(&st->s->wait_mu);
	if (st->suspended)
		stream_resume(st);
	else
		st->pending = true;
	pthread_mutex_unlock(&st->s->wait_mu);
}

/* Close st's observer (while the runtime is open; after its close the
 * observer is gone with it). */
static void stream_unobserve(mn__srv_stream *st)
{
	mn__srv *s = st->s;
	pthread_mutex_lock(&s->obs_mu);
	if (!s->obs_gone && st->ob)
		mn_observer_close(st->ob);
	st->ob = NULL;
	pthread_mutex_unlock(&s->obs_mu);
}

void mn__srv_streams_detach(mn__srv *s)
{
	pthread_mutex_lock(&s->obs_mu);
	s->obs_gone = true;
	pthread_mutex_unlock(&s->obs_mu);
}

/* Fill st->out: the events waiting, a heartbeat when due, the end.
 * Returns whether the stream is over. */
static bool stream_fill(mn__srv_stream *st)
{
	mn__srv *s = st->s;
	uint64_t now = now_us();
	const char *why;
	pthread_mutex_lock(&s->wait_mu);
	why = st->ending ? st->why : NULL;
	st->pending = false;
	pthread_mutex_unlock(&s->wait_mu);
	/* obs_mu, not rt_lock: libmicrohttpd calls the reader with the
	 * response's mutex held, and a route holds rt_lock while it makes a
	 * response. */
	pthread_mutex_lock(&s->obs_mu);
	if (s->obs_gone) {
		st->ob = NULL; /* freed by the runtime's close */
		if (!why)
			why = "closed";
	}
	while (st->ob && st->out.len < BATCH) {
		mn_observed ev;
		if (mn_observer_next(st->ob, 0, &ev) != 0)
			break;
		put_observed(st, &ev);
	}
	pthread_mutex_unlock(&s->obs_mu);
	if (!why && now >= st->deadline_us)
		why = "timeout";
	if (why && !st->ended) {
		json_t *o = json_object();
		json_object_set_new(o, "type", json_string("end"));
		json_object_set_new(o, "reason", json_string(why));
		put_event(st, "end", o);
		st->ended = true;
		stream_unobserve(st);
	}
	if (!st->out.len && now >= atomic_load(&st->next_ping_us))
		(void)mn_buf_append(&st->out, ": ping\n\n", 8);
	if (st->out.len)
		atomic_store_explicit(&st->next_ping_us, now + st->ping_us,
				      memory_order_relaxed);
	return st->ended;
}

/* Copy what is formatted into buf. */
static size_t stream_take(mn__srv_stream *st, char *buf, size_t max)
{
	size_t n = st->out.len - st->off;
	if (n > max)
		n = max;
	memcpy(buf, st->out.data + st->off, n);
	st->off += n;
	if (st->off == st->out.len)
		st->out.len = st->off = 0;
	return n;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	mn__srv_stream *st = cls;
	mn__srv *s = st->s;
	(void)pos;
	for (;;) {
		if (st->off < st->out.len)
			return (ssize_t)stream_take(st, buf, max);
		if (st->ended)
			return MHD_CONTENT_READER_END_OF_STREAM;
		if (stream_fill(st) || st->out.len)
			continue;
		/* Nothing to write: suspend until an event, the heartbeat,
		 * the deadline, the drain or the client's close. */
		pthread_mutex_lock(&s->wait_mu);
		if (st->pending || st->ending) {
			pthread_mutex_unlock(&s->wait_mu);
			continue;
		}
		st->suspended = true;
		st->watched = true;
		mn__srv_watch_add(s, st->fd, st->wid);
		MHD_suspend_connection(st->conn);
		pthread_mutex_unlock(&s->wait_mu);
		return 0;
	}
}

static void stream_free(void *cls)
{
	mn__srv_stream *st = cls;
	mn__srv *s = st->s;
	stream_unobserve(st);
	pthread_mutex_lock(&s->wait_mu);
	if (st->watched)
		mn__srv_watch_del(s, st->fd);
	if (st->prev)
		st->prev->next = st->next;
	else
		s->stream_head = st->next;
	if (st->next)
		st->next->prev = st->prev;
	pthread_mutex_unlock(&s->wait_mu);
	atomic_fetch_sub(&s->streams, 1);
	mn__buf_free(&st->out);
	free(st);
}

int mn__srv_stream_open(mn__srv *s, struct MHD_Connection *conn,
			const mn_kind *kind, const void *key, size_t key_len,
			uint64_t timeout_ms, uint64_t ping_ms,
			uint64_t max_events, struct MHD_Response **resp)
{
	*resp = NULL;
	mn__srv_stream *st = calloc(1, sizeof *st);
	if (!st)
		return MN_ENOMEM;
	int rc =
	    mn_observe(s->rt, kind, key, key_len, (size_t)max_events, &st->ob);
	if (rc) {
		free(st);
		return rc;
	}
	uint64_t now = now_us();
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	st->s = s;
	st->conn = conn;
	st->fd = ci ? ci->connect_fd : -1;
	st->deadline_us = now + timeout_ms * 1000u;
	st->ping_us = ping_ms * 1000u;
	atomic_init(&st->next_ping_us, now + st->ping_us);
	/* The first bytes at once: the client knows the stream is open. */
	(void)mn_buf_append(&st->out, ": open\n\n", 8);
	atomic_fetch_add(&s->streams, 1);
	pthread_mutex_lock(&s->wait_mu);
	st->wid = ++s->next_wid;
	if (atomic_load(&s->draining)) {
		st->ending = true;
		st->why = "draining";
	}
	st->next = s->stream_head;
	if (st->next)
		st->next->prev = st;
	s->stream_head = st;
	pthread_mutex_unlock(&s->wait_mu);
	*resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384,
						  stream_read, st, stream_free);
	if (!*resp) {
		stream_free(st);
		return MN_ENOMEM;
	}
	mn_observer_notify(st->ob, on_observed, st);
	MHD_add_response_header(*resp, "Content-Type", "text/event-stream");
	MHD_add_response_header(*resp, "Cache-Control", "no-cache");
	MHD_add_response_header(*resp, "X-Accel-Buffering", "no");
	return 0;
}

/* End st with reason why (wait_mu held). */
static void stream_end(mn__srv_stream *st, const char *why)
{
	if (!st->ending) {
		st->ending = true;
		st->why = why;
	}
	if (st->suspended)
		stream_resume(st);
}

void mn__srv_streams_end(mn__srv *s)
{
	pthread_mutex_lock(&s->wait_mu);
	for (mn__srv_stream *st = s->stream_head; st; st = st->next)
		stream_end(st, "draining");
	pthread_mutex_unlock(&s->wait_mu);
}

bool mn__srv_stream_gone(mn__srv *s, uint64_t wid)
{
	for (mn__srv_stream *st = s->stream_head; st; st = st->next)
		if (st->wid == wid) {
			stream_end(st, "client closed");
			return true;
		}
	return false;
}
