/*
 * io_curl.c - libcurl's multi-socket interface on the I/O thread's libuv
 * loop (io_int.h): one attempt of a call as a curl easy handle, the socket
 * and timer glue, the end of an attempt (the error mapping, the retry
 * decision and its wait). Loop thread only (IO1).
 *
 * The known pitfalls, and what this file does about each:
 *  - curl's timer function may be called from inside curl (from
 *    curl_multi_add_handle, curl_multi_socket_action, ...). Calling
 *    curl_multi_socket_action from there re-enters curl: it only arms the
 *    uv_timer (a timeout of 0 included: the timer then runs on the loop's
 *    next pass), and the timer's callback drives curl (IO5).
 *  - A timeout of -1 means "no timeout": the uv_timer is stopped, never
 *    started with a huge value.
 *  - CURL_POLL_REMOVE is not a close: curl keeps the connection in its
 *    cache and may watch the same descriptor again. We open and close the
 *    sockets ourselves (CURLOPT_OPENSOCKETFUNCTION,
 *    CURLOPT_CLOSESOCKETFUNCTION): a socket's poll handle lives as long as
 *    its descriptor, REMOVE stops the poll, curl's close starts uv_close,
 *    and close() runs in the uv_close callback, so epoll never watches a
 *    closed or reused descriptor (IO4). A socket curl opened itself (the
 *    threaded resolver's wake-up pair) gets a poll handle of its own, closed
 *    on REMOVE (which curl sends before closing it).
 *  - Signals: CURLOPT_NOSIGNAL on every handle (the threaded resolver does
 *    not need SIGALRM; a signal from curl would hit whatever thread).
 *  - HTTP versions: HTTP/1.1 over cleartext (never prior-knowledge h2c,
 *    which fails on the second stream in Debian 12's libcurl), HTTP/2
 *    offered over TLS by ALPN (CURL_HTTP_VERSION_2TLS).
 *  - Transfers are only added and removed outside curl's callbacks: the
 *    write callback stops a transfer by returning short, never by removing
 *    its handle.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/grow.h"
#include "core/io_int.h"

#define IO_DEFAULT_TIMEOUT_MS	30000u
#define IO_DEFAULT_BACKOFF_MS	100u
#define IO_DEFAULT_MAX_RESPONSE (16u << 20)
#define IO_MAX_HEADERS		(1u << 20) /* response header bytes */
#define IO_BACKOFF_CAP_MS	30000u
#define IO_RETRY_AFTER_CAP_MS	60000u
/* Reset easy handles kept for reuse: up to one per slot (a completion is
 * usually followed by a start), at most this many. Measured: reuse saves
 * about 5% of the loop's CPU per call against curl_easy_init/cleanup. */
#ifndef IO_EASY_POOL
#define IO_EASY_POOL 1024
#endif

/* ---- sockets (IO4) ----------------------------------------------------- */

static void sock_closed(uv_handle_t *h)
{
	io_sock *k = h->data;
	if (k->owned)
		close(k->fd);
	free(k);
}

static curl_socket_t on_open_socket(void *clientp, curlsocktype purpose,
				    struct curl_sockaddr *a)
{
	mn__io *io = clientp;
	(void)purpose;
	int fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
	if (fd < 0)
		return CURL_SOCKET_BAD;
	io_sock *k = calloc(1, sizeof(*k));
	if (!k || mn__grow(&io->socks, &io->socks_cap, (size_t)fd + 1,
			   sizeof(*io->socks), 64)) {
		free(k);
		close(fd);
		return CURL_SOCKET_BAD;
	}
	/* mn__grow leaves new slots uninitialised: clear from the old end. */
	for (size_t i = io->socks_hi; i < io->socks_cap; i++)
		io->socks[i] = NULL;
	io->socks_hi = io->socks_cap;
	if (uv_poll_init_socket(&io->loop, &k->poll, fd)) {
		free(k);
		close(fd);
		return CURL_SOCKET_BAD;
	}
	k->poll.data = k;
	k->fd = fd;
	k->owned = true;
	io->socks[fd] = k;
	return fd;
}

static int on_close_socket(void *clientp, curl_socket_t fd)
{
	mn__io *io = clientp;
	io_sock *k = (size_t)fd < io->socks_cap ? io->socks[fd] : NULL;
	if (!k)
		return close(fd) ? 1 : 0;
	io->socks[fd] = NULL;
	uv_close((uv_handle_t *)&k->poll, sock_closed); /* close() there */
	return 0;
}

static void check_done(mn__io *io);

static void on_poll(uv_poll_t *p, int status, int events)
{
	mn__io *io = p->loop->data;
	io_sock *k = p->data;
	int flags = 0, running;
	if (status < 0)
		flags |= CURL_CSELECT_ERR;
	if (events & UV_READABLE)
		flags |= CURL_CSELECT_IN;
	if (events & UV_WRITABLE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(io->multi, k->fd, flags, &running);
	check_done(io);
}

static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp,
		     void *socketp)
{
	mn__io *io = userp;
	io_sock *k = socketp;
	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (!k)
			return 0;
		if (k->owned)
			uv_poll_stop(&k->poll); /* not a close: IO4 */
		else
			uv_close((uv_handle_t *)&k->poll, sock_closed);
		return 0;
	}
	if (!k) {
		k = (size_t)s < io->socks_cap ? io->socks[s] : NULL;
		if (!k) {
			k = calloc(1, sizeof(*k));
			if (!k)
				return -1;
			if (uv_poll_init_socket(&io->loop, &k->poll, s)) {
				free(k);
				return -1;
			}
			k->poll.data = k;
			k->fd = s;
		}
		curl_multi_assign(io->multi, s, k);
	}
	int ev = (what & CURL_POLL_IN ? UV_READABLE : 0) |
		 (what & CURL_POLL_OUT ? UV_WRITABLE : 0);
	uv_poll_start(&k->poll, ev, on_poll);
	return 0;
}

/* ---- curl's timer (IO5) ------------------------------------------------ */

static void on_curl_timeout(uv_timer_t *t)
{
	mn__io *io = t->data;
	int running;
	curl_multi_socket_action(io->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(io);
}

static int on_curl_timer(CURLM *m, long timeout_ms, void *userp)
{
	mn__io *io = userp;
	(void)m;
	if (timeout_ms < 0)
		uv_timer_stop(&io->curl_timer);
	else
		uv_timer_start(&io->curl_timer, on_curl_timeout,
			       (uint64_t)timeout_ms, 0);
	return 0;
}

/* ---- an attempt -------------------------------------------------------- */

static size_t on_write(char *p, size_t size, size_t n, void *ud)
{
	io_xfer *x = ud;
	io_call *c = x->call;
	size_t len = size * n;
	if (len > x->max_response - x->body_len) {
		x->too_big = true;
		return 0; /* short: curl stops with CURLE_WRITE_ERROR */
	}
	if (mn__grow(&x->body, &x->body_cap, x->body_len + len, 1, 4096)) {
		x->nomem = true;
		return 0;
	}
	memcpy(x->body + x->body_len, p, len);
	x->body_len += len;
	mn__io *io = x->io;
	if (c->req.stream && io->o.chunk)
		io->o.chunk(io->o.arg, &c->req, c->attempt, p, len);
	return len;
}

/* Raw "Name: value\r\n" lines of the last response (a 1xx response before
 * the final one starts over); the status line and the blank line are not
 * kept. */
static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	io_xfer *x = ud;
	size_t len = size * n;
	if (len >= 5 && !memcmp(p, "HTTP/", 5)) {
		x->rhdr_len = 0;
		return len;
	}
	if (len <= 2 && (p[0] == '\r' || p[0] == '\n'))
		return len;
	if (len > IO_MAX_HEADERS - x->rhdr_len) {
		x->too_big = x->hdr_too_big = true;
		return 0;
	}
	if (mn__grow(&x->rhdr, &x->rhdr_cap, x->rhdr_len + len + 1, 1, 1024)) {
		x->nomem = true;
		return 0;
	}
	memcpy(x->rhdr + x->rhdr_len, p, len);
	x->rhdr_len += len;
	x->rhdr[x->rhdr_len] = 0;
	return len;
}

static CURL *easy_get(mn__io *io)
{
	if (io->npool)
		return io->easy_pool[--io->npool];
	return curl_easy_init();
}

static void easy_put(mn__io *io, CURL *e)
{
	if (!e)
		return;
	if (io->npool < io->pool_cap && !io->stopping) {
		curl_easy_reset(e);
		io->easy_pool[io->npool++] = e;
	} else {
		curl_easy_cleanup(e);
	}
}

static void xfer_free(mn__io *io, io_xfer *x)
{
	easy_put(io, x->easy);
	curl_slist_free_all(x->hdrs);
	if (x->cred_line) {
		explicit_bzero(x->cred_line, strlen(x->cred_line));
		free(x->cred_line);
	}
	free(x->body);
	free(x->rhdr);
	free(x);
}

/* The request headers: the caller's lines, Idempotency-Key, the
 * credential's line, and an empty Expect (no 100-continue round trip). */
static int build_headers(io_xfer *x, const mn__io_req *r)
{
	struct curl_slist *l = NULL, *t;
	char *copy = NULL;
	int rc = MN_ENOMEM;
	if (r->headers && *r->headers) {
		if (!(copy = strdup(r->headers)))
			goto out_free;
		for (char *line = copy, *end; line; line = end) {
			end = strchr(line, '\n');
			if (end)
				*end++ = 0;
			size_t n = strlen(line);
			if (n && line[n - 1] == '\r')
				line[--n] = 0;
			if (!n)
				continue;
			if (!(t = curl_slist_append(l, line)))
				goto out_free;
			l = t;
		}
	}
	if (r->idem_key && *r->idem_key) {
		size_t n = strlen(r->idem_key) + sizeof("Idempotency-Key: ");
		char *h = malloc(n);
		if (!h)
			goto out_free;
		snprintf(h, n, "Idempotency-Key: %s", r->idem_key);
		t = curl_slist_append(l, h);
		free(h);
		if (!t)
			goto out_free;
		l = t;
	}
	if (x->cred_line) {
		if (!(t = curl_slist_append(l, x->cred_line)))
			goto out_free;
		l = t;
	}
	if (!(t = curl_slist_append(l, "Expect:")))
		goto out_free;
	l = t;
	x->hdrs = l;
	l = NULL;
	rc = 0;
out_free:
	if (l) {
		/* A list with the secret in it: wipe before the free. */
		for (t = l; t; t = t->next)
			explicit_bzero(t->data, strlen(t->data));
		curl_slist_free_all(l);
	}
	free(copy);
	return rc;
}

static void set_method(CURL *e, const mn__io_req *r)
{
	const char *m = r->method ? r->method : "GET";
	bool post = !strcmp(m, "POST");
	if (!strcmp(m, "GET") && !r->body_len) {
		curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
		return;
	}
	if (!strcmp(m, "HEAD")) {
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
		return;
	}
	if (post || r->body_len) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)r->body_len);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS,
				 r->body_len ? r->body : "");
	}
	if (!post)
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, m);
}

void mn__io_attempt_start(mn__io *io, io_call *c)
{
	const mn__io_req *r = &c->req;
	const char *why = "out of memory";
	int err = MN_ENOMEM, rc;
	io_xfer *x = calloc(1, sizeof(*x));
	c->attempt++;
	if (!x)
		goto out_fail;
	x->call = c;
	x->io = io;
	x->max_response =
	    r->max_response ? r->max_response : IO_DEFAULT_MAX_RESPONSE;
	if (r->credential && *r->credential) {
		if ((rc = mn__io_cred_line(io, r->credential, &x->cred_line))) {
			err = rc;
			/* The name, never a value. */
			snprintf(x->errbuf, sizeof(x->errbuf),
				 "unknown credential '%.200s'", r->credential);
			why = rc == MN_EINVAL ? x->errbuf : "out of memory";
			goto out_fail;
		}
	}
	if (build_headers(x, r) || !(x->easy = easy_get(io)))
		goto out_fail;
	CURL *e = x->easy;
	curl_easy_setopt(e, CURLOPT_URL, r->url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, x);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(
	    e, CURLOPT_TIMEOUT_MS,
	    (long)(r->timeout_ms ? r->timeout_ms : IO_DEFAULT_TIMEOUT_MS));
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
	curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, io);
	curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, on_close_socket);
	curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, io);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->hdrs);
	/* A Content-Length over the limit stops before the body. */
	curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE,
			 (curl_off_t)(x->max_response > INT64_MAX
					  ? INT64_MAX
					  : x->max_response));
	set_method(e, r);
	x->errbuf[0] = 0;
	c->xfer = x;
	if (curl_multi_add_handle(io->multi, e) != CURLM_OK) {
		c->xfer = NULL;
		err = MN_EIO;
		why = "curl_multi_add_handle failed";
		goto out_fail;
	}
	if (io->hook)
		io->hook(io->hook_arg, r, c->attempt, c->host->inflight,
			 io->active);
	return;
out_fail:
	mn__io_slot_free(io, c);
	mn__io_fail(io, c, err, why);
	if (x)
		xfer_free(io, x);
}

void mn__io_attempt_abort(mn__io *io, io_call *c)
{
	io_xfer *x = c->xfer;
	if (!x)
		return;
	curl_multi_remove_handle(io->multi, x->easy);
	c->xfer = NULL;
	xfer_free(io, x);
}

/* ---- the end of an attempt --------------------------------------------- */

/* Transport errors worth another attempt, and 408, 409, 429, 5xx. */
static bool retryable(CURLcode rc, long status)
{
	switch (rc) {
	case CURLE_OK:
		/* 409: a conflict LLM APIs report for a request another
		 * request still holds (retried after a while); no other 4xx. */
		return status == 408 || status == 409 || status == 429 ||
		       (status >= 500 && status <= 599);
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_PARTIAL_FILE:
	case CURLE_GOT_NOTHING:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_SSL_CONNECT_ERROR:
		return true;
	default:
		return false;
	}
}

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* The wait before attempt c->attempt + 1: retry-after-ms or Retry-After
 * when the response has one (milliseconds; delta-seconds or an HTTP date,
 * curl_getdate), capped at 60 s;
 * otherwise backoff * 2^(attempt-1), capped at 30 s, with equal jitter
 * (half fixed, half uniform), so that a crowd of retries spreads without
 * any of them coming back at once. */
static uint64_t retry_wait_ms(io_call *c, io_xfer *x)
{
	struct curl_header *h;
	/* retry-after-ms (milliseconds, OpenAI-style) wins over
	 * Retry-After when both are sent. */
	if (curl_easy_header(x->easy, "retry-after-ms", 0, CURLH_HEADER, -1,
			     &h) == CURLHE_OK) {
		char *end;
		unsigned long long ms = strtoull(h->value, &end, 10);
		if (end != h->value && *end == 0)
			return ms > IO_RETRY_AFTER_CAP_MS
				   ? IO_RETRY_AFTER_CAP_MS
				   : (uint64_t)ms;
	}
	if (curl_easy_header(x->easy, "Retry-After", 0, CURLH_HEADER, -1, &h) ==
	    CURLHE_OK) {
		const char *v = h->value;
		char *end;
		unsigned long long s = strtoull(v, &end, 10);
		int64_t ms = -1;
		if (end != v && *end == 0) {
			ms = s > IO_RETRY_AFTER_CAP_MS / 1000
				 ? IO_RETRY_AFTER_CAP_MS
				 : (int64_t)s * 1000;
		} else {
			time_t t = curl_getdate(v, NULL);
			if (t != -1) {
				int64_t d = (int64_t)t - (int64_t)time(NULL);
				ms = d <= 0 ? 0 : d * 1000;
			}
		}
		if (ms >= 0)
			return ms > IO_RETRY_AFTER_CAP_MS
				   ? IO_RETRY_AFTER_CAP_MS
				   : (uint64_t)ms;
	}
	uint64_t d =
	    c->req.backoff_ms ? c->req.backoff_ms : IO_DEFAULT_BACKOFF_MS;
	for (uint32_t i = 1; i < c->attempt && d < IO_BACKOFF_CAP_MS; i++)
		d *= 2;
	if (d > IO_BACKOFF_CAP_MS)
		d = IO_BACKOFF_CAP_MS;
	return d / 2 + splitmix(&c->rng) % (d - d / 2 + 1);
}

/* The error of a finished attempt (io.h's mapping) and its reason. */
static int attempt_err(CURLcode rc, io_xfer *x, const char **reason)
{
	*reason = "";
	if (rc == CURLE_OK)
		return 0;
	if (x->too_big || rc == CURLE_FILESIZE_EXCEEDED) {
		if (x->hdr_too_big)
			snprintf(x->errbuf, sizeof(x->errbuf),
				 "response headers over %u bytes",
				 IO_MAX_HEADERS);
		else
			snprintf(x->errbuf, sizeof(x->errbuf),
				 "response body over the limit of %llu bytes",
				 (unsigned long long)x->max_response);
		*reason = x->errbuf;
		return MN_ETOOBIG;
	}
	if (x->nomem) {
		*reason = "out of memory receiving the response";
		return MN_ENOMEM;
	}
	*reason = x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc);
	if (rc == CURLE_OPERATION_TIMEDOUT)
		return MN_ETIMEDOUT;
	if (rc == CURLE_URL_MALFORMAT)
		return MN_EINVAL;
	return MN_EIO;
}

static void attempt_end(mn__io *io, io_xfer *x, CURLcode rc)
{
	io_call *c = x->call;
	long status = 0;
	curl_multi_remove_handle(io->multi, x->easy);
	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
	mn__io_slot_free(io, c);
	c->xfer = NULL;
	uint32_t max = c->req.max_attempts ? c->req.max_attempts : 1;
	if (c->attempt < max && !x->too_big && !x->nomem &&
	    retryable(rc, status) &&
	    !mn__io_retry_add(io, c, retry_wait_ms(c, x))) {
		atomic_fetch_add_explicit(&io->retries, 1,
					  memory_order_relaxed);
		xfer_free(io, x);
		return;
	}
	mn__io_result res = {.status = status};
	res.err = attempt_err(rc, x, &res.reason);
	res.headers = x->rhdr;
	res.headers_len = x->rhdr_len;
	res.body = x->body;
	res.body_len = x->body_len;
	mn__io_finish(io, c, &res);
	xfer_free(io, x);
}

static void check_done(mn__io *io)
{
	CURLMsg *m;
	int left;
	while ((m = curl_multi_info_read(io->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		io_xfer *x = NULL;
		CURLcode rc = m->data.result; /* m dies with the handle */
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &x);
		attempt_end(io, x, rc);
	}
	mn__io_pump(io);
}

/* ---- the multi handle -------------------------------------------------- */

int mn__io_curl_open(mn__io *io)
{
	io->multi = curl_multi_init();
	io->pool_cap = io->o.max_inflight < IO_EASY_POOL ? io->o.max_inflight
							 : IO_EASY_POOL;
	io->easy_pool = calloc(io->pool_cap + 1, sizeof(*io->easy_pool));
	if (!io->multi || !io->easy_pool) {
		curl_multi_cleanup(io->multi);
		free(io->easy_pool);
		io->multi = NULL;
		io->easy_pool = NULL;
		return MN_ENOMEM;
	}
	curl_multi_setopt(io->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(io->multi, CURLMOPT_SOCKETDATA, io);
	curl_multi_setopt(io->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
	curl_multi_setopt(io->multi, CURLMOPT_TIMERDATA, io);
	/* Keep a connection per slot for reuse (the default keeps 4 per
	 * easy handle added, which the caps already bound). */
	curl_multi_setopt(io->multi, CURLMOPT_MAXCONNECTS,
			  (long)io->o.max_inflight);
	return 0;
}

void mn__io_curl_close(mn__io *io)
{
	/* Called with no transfer left (the calls were dropped first); the
	 * cached connections close their sockets through IO4. */
	curl_multi_cleanup(io->multi);
	io->multi = NULL;
	for (size_t i = 0; i < io->npool; i++)
		curl_easy_cleanup(io->easy_pool[i]);
	free(io->easy_pool);
	io->easy_pool = NULL;
	io->npool = 0;
	for (size_t i = 0; i < io->socks_cap; i++) {
		io_sock *k = io->socks[i];
		if (k) {
			io->socks[i] = NULL;
			uv_close((uv_handle_t *)&k->poll, sock_closed);
		}
	}
	free(io->socks);
	io->socks = NULL;
	io->socks_cap = io->socks_hi = 0;
}
