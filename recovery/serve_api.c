/*
 * serve_api.c - the HTTP routes of `mnemo serve` on libmicrohttpd, JSON in
 * and out through jansson (docs/serve.md lists them).
 *
 * libmicrohttpd runs with its internal polling thread in epoll mode and a
 * small thread pool (MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL,
 * MHD_OPTION_THREAD_POOL_SIZE), not a thread per connection: nothing a
 * route does holds a thread for long. A durable or idempotent send and an
 * ask suspend their connection (MHD_ALLOW_SUSPEND_RESUME, which brings
 * MHD_USE_ITC; MHD_suspend_connection) and start the runtime's asynchronous
 * call (mn_send_durable_async, mn_send_idempotent_async, mn_ask); its
 * completion, on the writer or a worker or the ask timer thread, stores the
 * result and resumes the connection, whose handler then answers. So waiting
 * asks cost memory, bounded by max_asks (429 beyond), never a thread. The one
 * blocking route is the live view (mn_actor_view, bounded by view_ms).
 * While an ask waits, the watcher (serve_events.c) watches its socket: a
 * client that closes it has its ask cancelled (mn_ask_cancel) at once.
 * The event streams (serve_events.c) and the history pages
 * (serve_history.c) have their own files; their routes are here.
 *
 * Owns: every /v1 request is authenticated before anything else is read;
 * every error is a JSON body {"error": "...", "code": "MN_E..."}; a
 * suspended request is resumed exactly once, by whoever ends it first.
 *
 * Threads: libmicrohttpd's pool; the completions (any runtime thread).
 */
#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "recovery/serve.h"

/* One request (MHD's per-request pointer). */
typedef struct mn__srv_req {
	mn__srv *s;
	struct MHD_Connection *conn;
	enum mn__srv_route route;
	char method[16];	  /* copied: MHD's is the request's */
	const mn__srv_token *tok; /* a /v1 request's token, once checked */
	char *path;
	uint64_t start_us;
	mn_buf body;
	bool too_big, busy;
	/* A suspended request: done once ended (under wait_mu). */
	bool suspended, done, idem, ask;
	bool watched, gone; /* its socket watched; its client went away */
	uint64_t ask_id, wid;
	int fd;
	int rc;
	uint32_t rtype;
	void *reply;
	size_t rlen;
	unsigned status;
	struct mn__srv_req *next, *prev;
} mn__srv_req;

static uint64_t now_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000 + (uint64_t)t.tv_nsec / 1000;
}

/* ---- responses ------------------------------------------------------------
 */

static enum MHD_Result send_json(mn__srv_req *q, unsigned status, json_t *o,
				 const char *retry_after, const char *allow)
{
	char *text =
	    o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(o);
	if (!text && !(text = strdup("{}")))
		return MHD_NO;
	size_t n = strlen(text);
	text[n] = 0;
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(n, text, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "application/json");
	if (retry_after)
		MHD_add_response_header(r, "Retry-After", retry_after);
	if (allow)
		MHD_add_response_header(r, "Allow", allow);
	q->status = status;
	enum MHD_Result ret = MHD_queue_response(q->conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result send_error(mn__srv_req *q, unsigned status, int code,
				  const char *msg)
{
	json_t *o = json_object();
	json_object_set_new(o, "error", json_string(msg));
	json_object_set_new(o, "code", json_string(mn_err_name(code)));
	return send_json(q, status, o, status == 429 ? "1" : NULL,
			 status == 405 ? q->route == MN__SRV_R_ACTOR  ? "GET"
					 : q->route == MN__SRV_R_LIST ? "GET"
					 : q->route <= MN__SRV_R_ASK  ? "POST"
					 : q->route == MN__SRV_R_UPGRADE
					     ? "POST"
					     : "GET"
				       : NULL);
}

static enum MHD_Result send_text(mn__srv_req *q, unsigned status,
				 const char *type, char *text, size_t n)
{
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(n, text, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", type);
	q->status = status;
	enum MHD_Result ret = MHD_queue_response(q->conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* The HTTP status of a runtime error. */
static unsigned status_of(int rc)
{
	switch (rc) {
	case MN_ENOKIND:
	case MN_ENOACTOR:
		return 404;
	case MN_EKEY:
	case MN_EINVAL:
		return 400;
	case MN_ETOOBIG:
		return 413;
	case MN_ECONFLICT:
		return 409;
	case MN_ELIMIT:
	case MN_EBUSY:
		return 429;
	case MN_ECLOSED:
		return 503;
	case MN_ETIMEDOUT:
		return 504;
	case MN_ENOTSUP:
		return 501;
	default:
		return 500;
	}
}

static enum MHD_Result send_rc(mn__srv_req *q, int rc)
{
	return send_error(q, status_of(rc), rc, mn_strerror(rc));
}

/* {"type": T, "payload_base64": "...", "json": ...}: json when the bytes
 * are valid UTF-8 JSON. */
json_t *mn__srv_message_json(uint32_t type, const void *p, size_t len)
{
	json_t *o = json_object();
	json_object_set_new(o, "type", json_integer(type));
	char *b = mn__b64_encode(p, len);
	json_object_set_new(o, "payload_base64", json_string(b ? b : ""));
	free(b);
	if (len) {
		json_t *j = json_loadb(p, len, JSON_DECODE_ANY, NULL);
		if (j)
			json_object_set_new(o, "json", j);
	}
	return o;
}

/* ---- waiting: suspend, complete, resume -----------------------------------
 */

/* Put q on the wait list and suspend its connection (before the call that
 * may complete it starts). */
static void wait_begin(mn__srv_req *q)
{
	mn__srv *s = q->s;
	pthread_mutex_lock(&s->wait_mu);
	q->suspended = true;
	q->prev = NULL;
	q->next = s->wait_head;
	if (s->wait_head)
		s->wait_head->prev = q;
	s->wait_head = q;
	atomic_fetch_add(&s->waiting, 1);
	MHD_suspend_connection(q->conn);
	pthread_mutex_unlock(&s->wait_mu);
}

/* End q with rc (and a reply): the first end wins and resumes (wait_mu
 * held). */
static void wait_end_locked(mn__srv_req *q, int rc, uint32_t type,
			    const void *p, size_t len)
{
	mn__srv *s = q->s;
	if (!q->done) {
		q->done = true;
		q->rc = rc;
		q->rtype = type;
		if (rc == 0 && len && (q->reply = malloc(len))) {
			memcpy(q->reply, p, len);
			q->rlen = len;
		}
		if (q->prev)
			q->prev->next = q->next;
		else
			s->wait_head = q->next;
		if (q->next)
			q->next->prev = q->prev;
		atomic_fetch_sub(&s->waiting, 1);
		if (q->watched)
			mn__srv_watch_del(s, q->fd);
		MHD_resume_connection(q->conn);
	}
}

static void wait_end(mn__srv_req *q, int rc, uint32_t type, const void *p,
		     size_t len)
{
	mn__srv *s = q->s; /* q may be freed once it resumed */
	pthread_mutex_lock(&s->wait_mu);
	wait_end_locked(q, rc, type, p, len);
	pthread_mutex_unlock(&s->wait_mu);
}

/* Watch the socket of ask q (its id ask_id) while it waits. */
static void wait_watch(mn__srv_req *q, uint64_t ask_id)
{
	mn__srv *s = q->s;
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(q->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	pthread_mutex_lock(&s->wait_mu);
	if (!q->done && ci) {
		q->ask_id = ask_id;
		q->wid = ++s->next_wid;
		q->fd = ci->connect_fd;
		q->watched = true;
		mn__srv_watch_add(s, q->fd, q->wid);
	}
	pthread_mutex_unlock(&s->wait_mu);
}

void mn__srv_client_gone(mn__srv *s, uint64_t wid)
{
	pthread_mutex_lock(&s->wait_mu);
	if (!mn__srv_stream_gone(s, wid))
		for (mn__srv_req *q = s->wait_head; q; q = q->next) {
			if (q->wid != wid)
				continue;
			if (s->rt)
				mn_ask_cancel(s->rt, q->ask_id);
			q->gone = true;
			atomic_fetch_add(&s->m.asks_cancelled, 1);
			wait_end_locked(q, MN_ECLOSED, 0, NULL, 0);
			break;
		}
	pthread_mutex_unlock(&s->wait_mu);
}

static void on_stored(void *arg, int rc)
{
	wait_end(arg, rc, 0, NULL, 0);
}

static void on_reply(void *arg, int rc, uint32_t type, const void *payload,
		     size_t len)
{
	wait_end(arg, rc, type, payload, len);
}

void mn__srv_release_waiting(mn__srv *s)
{
	mn__srv_streams_end(s);
	/* Under wait_mu: once unlocked, q may be answered and freed. Its
	 * completion may still come (it finds q done). */
	pthread_mutex_lock(&s->wait_mu);
	while (s->wait_head)
		wait_end_locked(s->wait_head, MN_ECLOSED, 0, NULL, 0);
	pthread_mutex_unlock(&s->wait_mu);
}

/* The answer of a resumed request. */
static enum MHD_Result answer_waited(mn__srv_req *q)
{
	json_t *o;
	if (q->ask) {
		if (q->rc)
			return send_rc(q, q->rc);
		return send_json(
		    q, 200, mn__srv_message_json(q->rtype, q->reply, q->rlen),
		    NULL, NULL);
	}
	if (q->idem && q->rc == MN_EEXIST) {
		o = json_object();
		json_object_set_new(o, "accepted", json_true());
		json_object_set_new(o, "repeat", json_true());
		return send_json(q, 200, o, NULL, NULL);
	}
	if (q->rc == MN_ECONFLICT)
		return send_error(q, 409, q->rc,
				  "Idempotency-Key reused with another "
				  "message");
	if (q->rc)
		return send_rc(q, q->rc);
	o = json_object();
	json_object_set_new(o, "accepted", json_true());
	json_object_set_new(o, "stored", json_true());
	return send_json(q, 201, o, NULL, NULL);
}

/* ---- decoding a request ---------------------------------------------------
 */

typedef struct target {
	const mn_kind *kind;
	unsigned char key[MN_KEY_MAX];
	size_t key_len;
} target;

/* The message of a POST body (mn__srv_decode_message). Returns 0 or an
 * HTTP status (answered). */
static unsigned decode_message(mn__srv_req *q, uint32_t *type,
			       unsigned char **p, size_t *len,
			       enum MHD_Result *ret)
{
	const char *why = NULL;
	int code = 0;
	unsigned st =
	    mn__srv_decode_message(q->body.data, q->body.len, q->s->max_payload,
				   type, p, len, &code, &why);
	if (st)
		*ret = send_error(q, st, code, why);
	return st;
}

/* {kind}/{key} into t. Returns 0 or an HTTP status (answered). */
static unsigned decode_target(mn__srv_req *q, const char *kind, const char *key,
			      target *t, enum MHD_Result *ret)
{
	if (!(t->kind = mn_kind_find(q->s->rt, kind))) {
		*ret = send_error(q, 404, MN_ENOKIND, "no such kind");
		return 404;
	}
	if (mn__cli_key_parse(key, t->key, &t->key_len)) {
		*ret = send_error(q, 400, MN_EKEY,
				  "bad key (1..255 bytes; 0x and hex for "
				  "bytes)");
		return 400;
	}
	return 0;
}

/* A decimal query argument (absent or empty: dflt). Returns 0 or -1. */
static int query_u64(mn__srv_req *q, const char *name, uint64_t dflt,
		     uint64_t *v)
{
	return mn__srv_decode_u64(
	    MHD_lookup_connection_value(q->conn, MHD_GET_ARGUMENT_KIND, name),
	    dflt, v);
}

/* ---- routes ---------------------------------------------------------------
 */

static enum MHD_Result route_messages(mn__srv_req *q, const target *t)
{
	mn__srv *s = q->s;
	enum MHD_Result ret;
	uint32_t type;
	unsigned char *p;
	size_t len;
	uint64_t durable;
	if (query_u64(q, "durable", 0, &durable) || durable > 1)
		return send_error(q, 400, MN_EINVAL, "durable must be 0 or 1");
	const char *ik = MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND,
						     "Idempotency-Key");
	if (ik && (!*ik || strlen(ik) > MN_KEY_MAX))
		return send_error(q, 400, MN_EINVAL,
				  "Idempotency-Key must be 1..255 bytes");
	if (decode_message(q, &type, &p, &len, &ret))
		return ret;
	int rc;
	if (!ik && !durable) {
		rc = mn_send(s->rt, t->kind, t->key, t->key_len, type, p, len);
		free(p);
		if (rc)
			return send_rc(q, rc);
		json_t *o = json_object();
		json_object_set_new(o, "accepted", json_true());
		return send_json(q, 202, o, NULL, NULL);
	}
	if (atomic_load(&s->waiting) >= s->max_asks) {
		free(p);
		return send_error(q, 429, MN_ELIMIT,
				  "too many requests waiting");
	}
	q->idem = ik != NULL;
	wait_begin(q);
	if (ik)
		rc = mn_send_idempotent_async(s->rt, t->kind, t->key,
					      t->key_len, type, p, len, ik,
					      strlen(ik), on_stored, q);
	else
		rc = mn_send_durable_async(s->rt, t->kind, t->key, t->key_len,
					   type, p, len, on_stored, q);
	free(p);
	if (rc)
		wait_end(q, rc, 0, NULL, 0);
	return MHD_YES;
}

static enum MHD_Result route_ask(mn__srv_req *q, const target *t)
{
	mn__srv *s = q->s;
	enum MHD_Result ret;
	uint32_t type;
	unsigned char *p;
	size_t len;
	uint64_t timeout;
	if (query_u64(q, "timeout_ms", 30000, &timeout) || !timeout ||
	    timeout > 300000)
		return send_error(q, 400, MN_EINVAL,
				  "timeout_ms must be 1..300000");
	if (decode_message(q, &type, &p, &len, &ret))
		return ret;
	if (atomic_load(&s->waiting) >= s->max_asks) {
		free(p);
		return send_error(q, 429, MN_ELIMIT, "too many asks waiting");
	}
	q->ask = true;
	wait_begin(q);
	uint64_t id = 0;
	int rc = mn_ask(s->rt, t->kind, t->key, t->key_len, type, p, len,
			(uint32_t)timeout, on_reply, q, &id);
	free(p);
	if (rc)
		wait_end(q, rc, 0, NULL, 0);
	else
		wait_watch(q, id);
	return MHD_YES;
}

/* The stored metadata of an actor as JSON fields of o (none when the
 * store has no record of it yet). */
static void actor_meta(mn__srv *s, json_t *o, const mn__actor_meta *m)
{
	char t[MN__CLI_TIME_CAP];
	(void)s;
	json_object_set_new(o, "id", json_integer((json_int_t)m->id));
	json_object_set_new(o, "last_seq",
			    json_integer((json_int_t)m->last_seq));
	json_object_set_new(o, "last_lsn",
			    json_integer((json_int_t)m->last_lsn));
	mn__cli_time(t, m->created_unix_ms);
	json_object_set_new(o, "created", json_string(t));
	mn__cli_time(t, m->last_active_unix_ms);
	json_object_set_new(o, "last_active", json_string(t));
	if (m->fork_parent_id) {
		json_object_set_new(
		    o, "fork_parent_id",
		    json_integer((json_int_t)m->fork_parent_id));
		json_object_set_new(o, "fork_seq",
				    json_integer((json_int_t)m->fork_seq));
	}
}

static enum MHD_Result route_actor(mn__srv_req *q, const char *kname,
				   const target *t)
{
	mn__srv *s = q->s;
	char keyshow[MN__CLI_KEY_CAP];
	json_t *o = json_object();
	mn__cli_key_format(keyshow, t->key, t->key_len);
	json_object_set_new(o, "kind", json_string(kname));
	json_object_set_new(o, "key", json_string(keyshow));

	mn__actor_meta m;
	uint32_t kind_id;
	bool stored = false;
	pthread_mutex_lock(&s->store_mu);
	if (mn__store_kind_id(s->c->store, kname, &kind_id) == 0 &&
	    mn__store_actor_find(s->c->store, kind_id, t->key, t->key_len,
				 &m) == 0)
		stored = true;
	pthread_mutex_unlock(&s->store_mu);
	if (stored)
		actor_meta(s, o, &m);

	char *text = NULL;
	uint64_t seq = 0;
	int rc = mn_actor_view(s->rt, t->kind, t->key, t->key_len, s->view_ms,
			       &text, &seq);
	if (rc == MN_ENOACTOR && !stored) {
		json_decref(o);
		return send_error(q, 404, rc, "no such actor");
	}
	if (rc == 0) {
		json_object_set_new(o, "seq", json_integer((json_int_t)seq));
		json_object_set_new(o, "state", json_string(text));
		json_t *j = json_loads(text, JSON_DECODE_ANY, NULL);
		if (j)
			json_object_set_new(o, "state_json", j);
	} else if (rc != MN_ENOACTOR) {
		json_object_set_new(o, "state", json_null());
		json_object_set_new(o, "state_error",
				    json_string(mn_err_name(rc)));
	}
	free(text);
	return send_json(q, 200, o, NULL, NULL);
}

typedef struct lister {
	mn__srv *s;
	const mn__srv_token *tok; /* limited to some kinds: only theirs */
	json_t *arr;
	uint32_t kind_id;
	bool by_kind, more;
	uint64_t after, limit, last;
} lister;

static int on_listed(void *arg, const mn__actor_meta *m)
{
	lister *l = arg;
	if ((l->by_kind && m->kind_id != l->kind_id) || m->id <= l->after)
		return 0;
	char kname[MN_KIND_NAME_MAX + 1];
	if (!l->by_kind && l->tok && l->tok->kinds &&
	    (mn__store_kind_name(l->s->c->store, m->kind_id, kname,
				 sizeof kname) != 0 ||
	     !mn__srv_token_kind_ok(l->tok, kname)))
		return 0;
	if (json_array_size(l->arr) == l->limit) {
		l->more = true;
		return MN__CLI_STOP;
	}
	char addr[MN__CLI_ADDR_CAP], key[MN__CLI_KEY_CAP];
	json_t *o = json_object();
	mn__cli_addr_format(l->s->c, addr, m->kind_id, m->key, m->key_len);
	mn__cli_key_format(key, m->key, m->key_len);
	json_object_set_new(o, "address", json_string(addr));
	json_object_set_new(o, "key", json_string(key));
	actor_meta(l->s, o, m);
	json_array_append_new(l->arr, o);
	l->last = m->id;
	return 0;
}

static enum MHD_Result route_list(mn__srv_req *q)
{
	mn__srv *s = q->s;
	lister l = {.s = s, .tok = q->tok, .arr = json_array()};
	if (query_u64(q, "after", 0, &l.after) ||
	    query_u64(q, "limit", 100, &l.limit) || !l.limit ||
	    l.limit > 1000) {
		json_decref(l.arr);
		return send_error(q, 400, MN_EINVAL,
				  "after must be an actor id, limit 1..1000");
	}
	const char *kind =
	    MHD_lookup_connection_value(q->conn, MHD_GET_ARGUMENT_KIND, "kind");
	int rc = 0;
	pthread_mutex_lock(&s->store_mu);
	if (kind && *kind) {
		l.by_kind = true;
		if (strlen(kind) > MN_KIND_NAME_MAX ||
		    mn__store_kind_id(s->c->store, kind, &l.kind_id) != 0)
			l.kind_id = UINT32_MAX; /* no actor has it */
	}
	rc = mn__store_actors_scan(s->c->store, on_listed, &l);
	pthread_mutex_unlock(&s->store_mu);
	if (rc && rc != MN__CLI_STOP) {
		json_decref(l.arr);
		return send_rc(q, rc);
	}
	json_t *o = json_object();
	json_object_set_new(o, "actors", l.arr);
	json_object_set_new(
	    o, "next", l.more ? json_integer((json_int_t)l.last) : json_null());
	return send_json(q, 200, o, NULL, NULL);
}

static enum MHD_Result route_history(mn__srv_req *q, const char *kname,
				     const target *t)
{
	uint64_t from, limit;
	if (query_u64(q, "from", 1, &from) ||
	    query_u64(q, "limit", 100, &limit) || !limit || limit > 1000)
		return send_error(q, 400, MN_EINVAL,
				  "from must be a seq, limit 1..1000");
	json_t *o;
	int rc =
	    mn__srv_history(q->s, kname, t->key, t->key_len, from, limit, &o);
	if (rc == MN_ENOACTOR)
		return send_error(q, 404, rc, "no such actor");
	if (rc)
		return send_rc(q, rc);
	return send_json(q, 200, o, NULL, NULL);
}

static enum MHD_Result route_events(mn__srv_req *q, const target *t)
{
	mn__srv *s = q->s;
	uint64_t timeout, ping, max_events;
	if (query_u64(q, "timeout_ms", 300000, &timeout) || !timeout ||
	    timeout > 3600000)
		return send_error(q, 400, MN_EINVAL,
				  "timeout_ms must be 1..3600000");
	if (query_u64(q, "ping_ms", 15000, &ping) || ping < 100 || ping > 30000)
		return send_error(q, 400, MN_EINVAL,
				  "ping_ms must be 100..30000");
	if (query_u64(q, "max_events", 1024, &max_events) || !max_events ||
	    max_events > 65536)
		return send_error(q, 400, MN_EINVAL,
				  "max_events must be 1..65536");
	if (atomic_load(&s->streams) >= s->max_streams)
		return send_error(q, 429, MN_ELIMIT, "too many event streams");
	struct MHD_Response *r;
	int rc = mn__srv_stream_open(s, q->conn, t->kind, t->key, t->key_len,
				     timeout, ping, max_events, &r);
	if (rc)
		return send_rc(q, rc);
	q->status = 200;
	enum MHD_Result ret = MHD_queue_response(q->conn, 200, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result route_simple(mn__srv_req *q)
{
	mn__srv *s = q->s;
	json_t *o = json_object();
	if (q->route == MN__SRV_R_HEALTHZ) {
		json_object_set_new(o, "status", json_string("ok"));
		return send_json(q, 200, o, NULL, NULL);
	}
	if (q->route == MN__SRV_R_READYZ) {
		mn_runtime_stats st;
		mn_runtime_stats_get(s->rt, &st);
		bool ready = !atomic_load(&s->draining) && !st.store_error;
		json_object_set_new(o, "status",
				    json_string(ready		 ? "ready"
						: st.store_error ? "store error"
								 : "draining"));
		return send_json(q, ready ? 200 : 503, o, NULL, NULL);
	}
	json_decref(o);
	size_t n;
	char *text = mn__srv_metrics_text(s, &n);
	if (!text)
		return send_error(q, 500, MN_ENOMEM, "out of memory");
	return send_text(q, 200, "text/plain; version=0.0.4", text, n);
}

/* A file of the operator page (serve_page.c): 304 when the client has
 * it already. No token: the page holds no data. */
static enum MHD_Result route_page(mn__srv_req *q)
{
	const mn__srv_asset *a = mn__srv_page_find(q->path);
	bool same =
	    mn__srv_etag_match(MHD_lookup_connection_value(
				   q->conn, MHD_HEADER_KIND, "If-None-Match"),
			       a->etag);
	struct MHD_Response *r = mn__srv_page_response(a, same);
	if (!r)
		return MHD_NO;
	q->status = same ? 304 : 200;
	enum MHD_Result ret = MHD_queue_response(q->conn, q->status, r);
	MHD_destroy_response(r);
	return ret;
}

/* POST /v1/admin/upgrade: {"plugin": PATH, "sample": N, "expect_diverge":
 * [KIND...], "timeout_ms": MS}, every member optional (serve_upgrade.c).
 * It runs on this pool thread: the checks and the swaps take seconds. */
static enum MHD_Result route_upgrade(mn__srv_req *q)
{
	mn__srv_upgrade_req u = {.sample = 100, .timeout_ms = 30000};
	const char *expect[16];
	json_t *body = NULL;
	if (q->body.len) {
		json_error_t e;
		body =
		    json_loadb((const char *)q->body.data, q->body.len, 0, &e);
		if (!json_is_object(body)) {
			json_decref(body);
			return send_error(q, 400, MN_EINVAL,
					  "the body must be a JSON object");
		}
	}
	json_t *v;
	const char *bad = NULL;
	if (body && (v = json_object_get(body, "plugin"))) {
		if (!json_is_string(v))
			bad = "plugin must be a string";
		else
			u.plugin = json_string_value(v);
	}
	if (body && (v = json_object_get(body, "sample"))) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > 1000000)
			bad = "sample must be an integer 1..1000000";
		else
			u.sample = (uint64_t)json_integer_value(v);
	}
	if (body && (v = json_object_get(body, "timeout_ms"))) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > 3600000)
			bad = "timeout_ms must be an integer 1..3600000";
		else
			u.timeout_ms = (uint32_t)json_integer_value(v);
	}
	if (body && (v = json_object_get(body, "expect_diverge"))) {
		size_t i;
		json_t *k;
		if (!json_is_array(v) || json_array_size(v) > 16)
			bad = "expect_diverge must be an array of at most 16 "
			      "kind names";
		else
			json_array_foreach(v, i, k)
			{
				if (!json_is_string(k)) {
					bad = "expect_diverge must hold kind "
					      "names";
					break;
				}
				expect[u.nexpect++] = json_string_value(k);
			}
		u.expect = expect;
	}
	if (bad) {
		json_decref(body);
		return send_error(q, 400, MN_EINVAL, bad);
	}
	json_t *report;
	unsigned status;
	mn__srv_upgrade(q->s, &u, &report, &status);
	char msg[160];
	snprintf(msg, sizeof msg, "upgrade of %s: %u",
		 u.plugin ? u.plugin : q->s->plugin, status);
	mn__srv_log(q->s, status == 200 ? "info" : "warn", msg, NULL);
	json_decref(body);
	return send_json(q, status, report, status == 503 ? "5" : NULL, NULL);
}

/* The route of path (its parts into kind and key), or MN__SRV_R_OTHER. */
static enum mn__srv_route route_of(const char *path, char *kind, char *key,
				   size_t cap)
{
	static const char base[] = "/v1/actors";
	if (strcmp(path, "/healthz") == 0)
		return MN__SRV_R_HEALTHZ;
	if (strcmp(path, "/readyz") == 0)
		return MN__SRV_R_READYZ;
	if (strcmp(path, "/metrics") == 0)
		return MN__SRV_R_METRICS;
	if (mn__srv_page_find(path))
		return MN__SRV_R_PAGE;
	if (strcmp(path, "/v1/admin/upgrade") == 0)
		return MN__SRV_R_UPGRADE;
	if (strncmp(path, base, sizeof base - 1) != 0)
		return MN__SRV_R_OTHER;
	const char *p = path + sizeof base - 1;
	if (!*p || strcmp(p, "/") == 0)
		return MN__SRV_R_LIST;
	if (*p++ != '/')
		return MN__SRV_R_OTHER;
	const char *k = strchr(p, '/');
	if (!k || k == p || (size_t)(k - p) >= cap)
		return MN__SRV_R_OTHER;
	memcpy(kind, p, (size_t)(k - p));
	kind[k - p] = 0;
	p = k + 1;
	const char *e = strchr(p, '/');
	size_t klen = e ? (size_t)(e - p) : strlen(p);
	if (!klen || klen >= cap)
		return MN__SRV_R_OTHER;
	memcpy(key, p, klen);
	key[klen] = 0;
	if (!e)
		return MN__SRV_R_ACTOR;
	if (strcmp(e, "/messages") == 0)
		return MN__SRV_R_MESSAGES;
	if (strcmp(e, "/ask") == 0)
		return MN__SRV_R_ASK;
	if (strcmp(e, "/history") == 0)
		return MN__SRV_R_HISTORY;
	if (strcmp(e, "/events") == 0)
		return MN__SRV_R_EVENTS;
	return MN__SRV_R_OTHER;
}

/* 403 for a /v1 request its token may not make: a POST with a read-only
 * token, a kind outside its allow-list (before the kind is looked up, so
 * the answer does not tell which kinds exist). Returns whether it was
 * refused (answered, *ret the answer's result). */
static bool scope_refused(mn__srv_req *q, const char *kind, bool post,
			  enum MHD_Result *ret)
{
	char msg[160];
	if (post && q->tok->read_only) {
		*ret = send_error(q, 403, MN_EINVAL,
				  "this token is read-only (no POST)");
		return true;
	}
	if (q->route == MN__SRV_R_UPGRADE && q->tok->kinds) {
		/* Swapping code touches every kind a plugin has. */
		*ret = send_error(q, 403, MN_EINVAL,
				  "a token limited to kinds may not upgrade");
		return true;
	}
	if (q->route == MN__SRV_R_LIST)
		kind = MHD_lookup_connection_value(
		    q->conn, MHD_GET_ARGUMENT_KIND, "kind");
	if (!kind || !*kind || mn__srv_token_kind_ok(q->tok, kind))
		return false;
	snprintf(msg, sizeof msg, "this token may not use the kind '%.64s'",
		 kind);
	json_t *o = json_object();
	json_t *m = json_string(msg);
	json_object_set_new(o, "error",
			    m ? m
			      : json_string("this token may not use that "
					    "kind"));
	json_object_set_new(o, "code", json_string(mn_err_name(MN_EINVAL)));
	json_t *k = json_string(kind);
	if (k)
		json_object_set_new(o, "kind", k);
	*ret = send_json(q, 403, o, NULL, NULL);
	return true;
}

static enum MHD_Result dispatch_locked(mn__srv_req *q)
{
	mn__srv *s = q->s;
	char kind[3 * MN__CLI_KEY_CAP], key[3 * MN__CLI_KEY_CAP];
	enum MHD_Result ret;
	kind[0] = 0;
	q->route = route_of(q->path, kind, key, sizeof kind);
	bool v1 =
	    strncmp(q->path, "/v1/", 4) == 0 || strcmp(q->path, "/v1") == 0;
	bool post = strcmp(q->method, "POST") == 0;
	bool get =
	    strcmp(q->method, "GET") == 0 || strcmp(q->method, "HEAD") == 0;

	if (v1 && !(q->tok = mn__srv_auth(
			s, MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND,
						       "Authorization"))))
		return send_error(q, 401, MN_EINVAL,
				  "a bearer token is required "
				  "(Authorization: Bearer TOKEN)");
	if (q->route == MN__SRV_R_OTHER)
		return send_error(q, 404, MN_EINVAL, "no such route");
	bool wants_post = q->route == MN__SRV_R_MESSAGES ||
			  q->route == MN__SRV_R_ASK ||
			  q->route == MN__SRV_R_UPGRADE;
	if (wants_post ? !post : !get)
		return send_error(q, 405, MN_EINVAL, "method not allowed");
	if (q->too_big)
		return send_error(q, 413, MN_ETOOBIG,
				  "the body is over the size limit");
	if (q->busy)
		return send_error(q, 429, MN_ELIMIT, "too many requests");
	if (q->route == MN__SRV_R_PAGE)
		return route_page(q);
	if (q->route >= MN__SRV_R_HEALTHZ)
		return route_simple(q);
	if (q->tok && scope_refused(q, kind, post, &ret))
		return ret;
	if ((wants_post || q->route == MN__SRV_R_EVENTS) &&
	    atomic_load(&s->draining))
		return send_error(q, 503, MN_ECLOSED, "draining");
	if (q->route == MN__SRV_R_LIST)
		return route_list(q);
	if (q->route == MN__SRV_R_UPGRADE)
		return route_upgrade(q);
	target t;
	if (decode_target(q, kind, key, &t, &ret))
		return ret;
	if (q->route == MN__SRV_R_MESSAGES)
		return route_messages(q, &t);
	if (q->route == MN__SRV_R_ASK)
		return route_ask(q, &t);
	if (q->route == MN__SRV_R_HISTORY)
		return route_history(q, kind, &t);
	if (q->route == MN__SRV_R_EVENTS)
		return route_events(q, &t);
	return route_actor(q, kind, &t);
}

static enum MHD_Result dispatch(mn__srv_req *q)
{
	mn__srv *s = q->s;
	pthread_rwlock_rdlock(&s->rt_lock);
	enum MHD_Result ret =
	    s->rt ? dispatch_locked(q)
		  : send_error(q, 503, MN_ECLOSED, "shutting down");
	pthread_rwlock_unlock(&s->rt_lock);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
				  const char *url, const char *method,
				  const char *version, const char *upload,
				  size_t *upload_size, void **req_cls)
{
	mn__srv *s = cls;
	mn__srv_req *q = *req_cls;
	(void)version;
	if (!q) {
		if (!(q = calloc(1, sizeof *q)) ||
		    !(q->path = strdup(url ? url : ""))) {
			free(q);
			return MHD_NO;
		}
		q->s = s;
		q->conn = conn;
		snprintf(q->method, sizeof q->method, "%s",
			 method ? method : "");
		q->route = MN__SRV_R_OTHER;
		q->start_us = now_us();
		if (atomic_fetch_add(&s->inflight, 1) >= s->max_inflight)
			q->busy = true;
		*req_cls = q;
		return MHD_YES;
	}
	if (*upload_size) {
		/* The body, kept whole up to max_body; beyond it only noted
		 * (413 at its end). */
		size_t n = *upload_size;
		*upload_size = 0;
		if (!q->too_big && q->body.len + n > s->max_body)
			q->too_big = true;
		if (q->too_big)
			return MHD_YES;
		return mn_buf_append(&q->body, upload, n) ? MHD_NO : MHD_YES;
	}
	if (q->suspended)
		return q->done ? answer_waited(q) : MHD_YES;
	return dispatch(q);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
			 enum MHD_RequestTerminationCode why)
{
	mn__srv *s = cls;
	mn__srv_req *q = *req_cls;
	(void)conn;
	if (!q)
		return;
	/* A request still waiting cannot end here: a suspended connection
	 * is not watched by libmicrohttpd, so it ends only after its resume
	 * (the watcher's, for an ask whose client closed). */
	if ((why != MHD_REQUEST_TERMINATED_COMPLETED_OK && !q->status) ||
	    q->gone)
		q->status = 499; /* the client went away */
	mn__srv_record(s, q->route, q->method, q->path, q->status,
		       now_us() - q->start_us);
	atomic_fetch_sub(&s->inflight, 1);
	free(q->reply);
	mn__buf_free(&q->body);
	free(q->path);
	free(q);
	*req_cls = NULL;
}

int mn__srv_start(mn__srv *s, const void *sa, size_t sa_len, unsigned threads,
		  unsigned conn_limit, uint16_t *port)
{
	const struct sockaddr *addr = sa;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
			 MHD_ALLOW_SUSPEND_RESUME;
	(void)sa_len;
	if (mn__srv_watch_start(s))
		return -1;
	if (addr->sa_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	/* The certificate and key when there is TLS (libmicrohttpd's own,
	 * on GnuTLS); the list ends early otherwise. */
	struct MHD_OptionItem tls[] = {
	    {MHD_OPTION_HTTPS_MEM_CERT, 0, s->tls_cert},
	    {MHD_OPTION_HTTPS_MEM_KEY, 0, s->tls_key},
	    {MHD_OPTION_END, 0, NULL}};
	if (s->tls_cert)
		flags |= MHD_USE_TLS;
	else
		tls[0].option = MHD_OPTION_END;
	s->d = MHD_start_daemon(
	    flags, 0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, sa,
	    MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_LIMIT,
	    conn_limit, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_ARRAY, tls,
	    MHD_OPTION_END);
	if (!s->d) {
		mn__srv_watch_stop(s);
		fprintf(s->c->err,
			"mnemo serve: cannot listen (address in use, no such "
			"address%s)\n",
			s->tls_cert ? ", or a certificate or key libmicrohttpd "
				      "does not take"
				    : "");
		return -1;
	}
	const union MHD_DaemonInfo *di =
	    MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
	*port = di ? di->port : 0;
	return 0;
}

void mn__srv_stop(mn__srv *s)
{
	mn__srv_watch_stop(s);
	if (s->d)
		MHD_stop_daemon(s->d);
	s->d = NULL;
}
