/*
 * curl_peer.c - the bare curl-multi client on a libuv loop (curl_peer.h).
 *
 * libcurl tells the loop which sockets to watch (CURLMOPT_SOCKETFUNCTION: one
 * uv_poll per socket, its record attached with curl_multi_assign) and when
 * to call back for its timeouts (CURLMOPT_TIMERFUNCTION: one uv_timer). The
 * pitfalls the I/O thread designs around apply here too: curl is never
 * called from inside its own timer callback (the uv_timer fires on the next
 * loop iteration, even for a timeout of 0); a timeout of -1 stops the
 * timer; CURLOPT_NOSIGNAL is set; a socket's removal stops its poll at once
 * and frees the record from the uv_close callback. Finished transfers are
 * read with curl_multi_info_read after each socket_action; each easy handle
 * is re-armed with the next request while requests remain.
 */
#include "bench/support/curl_peer.h"
#include "bench/support/bench.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

typedef struct peer peer;

typedef struct xfer {
	peer *p;
	CURL *easy;
	struct curl_slist *hdrs;
	double t0;
	uint64_t idx; /* request number, for the key and the latency */
} xfer;

typedef struct psock {
	uv_poll_t poll;
	curl_socket_t fd;
	peer *p;
} psock;

struct peer {
	uv_loop_t loop;
	uv_timer_t timer;
	CURLM *multi;
	const char *url;
	uint64_t n, issued, finished;
	double *lat;
	curl_peer_result res;
};

static size_t discard(char *data, size_t size, size_t nmemb, void *arg)
{
	(void)data;
	(void)arg;
	return size * nmemb;
}

/* Arm x with the next request and hand it to the multi handle. */
static void start(peer *p, xfer *x)
{
	char key[64];
	x->idx = p->issued++;
	snprintf(key, sizeof key, "Idempotency-Key: peer-%llu",
		 (unsigned long long)x->idx);
	curl_slist_free_all(x->hdrs);
	x->hdrs = curl_slist_append(NULL, key);
	if (!x->hdrs)
		bench_die("peer: out of memory");
	curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->hdrs);
	x->t0 = bench_now();
	if (curl_multi_add_handle(p->multi, x->easy) != CURLM_OK)
		bench_die("peer: curl_multi_add_handle failed");
}

/* Finished transfers: record, then re-arm or retire their handles. */
static void reap(peer *p)
{
	CURLMsg *m;
	int left;
	while ((m = curl_multi_info_read(p->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		xfer *x;
		long status = 0;
		CURL *e = m->easy_handle;
		CURLcode rc = m->data.result;
		curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&x);
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
		curl_multi_remove_handle(p->multi, e);
		p->lat[x->idx] = bench_now() - x->t0;
		if (rc == CURLE_OK && status == 200)
			p->res.completed++;
		else
			p->res.failed++;
		if (++p->finished == p->n)
			uv_stop(&p->loop);
		if (p->issued < p->n)
			start(p, x);
	}
}

static void on_poll(uv_poll_t *h, int status, int events)
{
	psock *s = h->data;
	int flags = 0, running;
	if (status < 0)
		flags = CURL_CSELECT_ERR;
	if (events & UV_READABLE)
		flags |= CURL_CSELECT_IN;
	if (events & UV_WRITABLE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(s->p->multi, s->fd, flags, &running);
	reap(s->p);
}

static void on_timer(uv_timer_t *t)
{
	peer *p = t->data;
	int running;
	curl_multi_socket_action(p->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	reap(p);
}

/* CURLMOPT_TIMERFUNCTION: arm (or stop) the loop's timer; never call
 * curl from here. */
static int on_curl_timer(CURLM *multi, long timeout_ms, void *arg)
{
	peer *p = arg;
	(void)multi;
	if (timeout_ms < 0)
		uv_timer_stop(&p->timer);
	else
		uv_timer_start(&p->timer, on_timer, (uint64_t)timeout_ms, 0);
	return 0;
}

static void free_sock(uv_handle_t *h)
{
	free(h->data);
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *arg,
		     void *sockp)
{
	peer *p = arg;
	psock *s = sockp;
	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (s) {
			uv_poll_stop(&s->poll);
			uv_close((uv_handle_t *)&s->poll, free_sock);
			curl_multi_assign(p->multi, fd, NULL);
		}
		return 0;
	}
	if (!s) {
		s = calloc(1, sizeof *s);
		if (!s || uv_poll_init_socket(&p->loop, &s->poll, fd) != 0)
			bench_die("peer: cannot watch a socket");
		s->fd = fd;
		s->p = p;
		s->poll.data = s;
		curl_multi_assign(p->multi, fd, s);
	}
	int ev = 0;
	if (what & CURL_POLL_IN)
		ev |= UV_READABLE;
	if (what & CURL_POLL_OUT)
		ev |= UV_WRITABLE;
	uv_poll_start(&s->poll, ev, on_poll);
	return 0;
}

static void close_any(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, h->type == UV_POLL ? free_sock : NULL);
}

curl_peer_result curl_peer_run(const char *url, uint64_t n,
			       unsigned concurrency, double *lat_s)
{
	peer p = {.url = url, .n = n, .lat = lat_s};
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
	    uv_loop_init(&p.loop) != 0 || !(p.multi = curl_multi_init()))
		bench_die("peer: cannot start libcurl or libuv");
	uv_timer_init(&p.loop, &p.timer);
	p.timer.data = &p;
	curl_multi_setopt(p.multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(p.multi, CURLMOPT_SOCKETDATA, &p);
	curl_multi_setopt(p.multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
	curl_multi_setopt(p.multi, CURLMOPT_TIMERDATA, &p);
	curl_multi_setopt(p.multi, CURLMOPT_MAXCONNECTS, (long)concurrency);
	if (concurrency > n)
		concurrency = (unsigned)n;
	xfer *xs = calloc(concurrency ? concurrency : 1, sizeof *xs);
	if (!xs)
		bench_die("peer: out of memory");
	double t0 = bench_now();
	for (unsigned i = 0; i < concurrency; i++) {
		xfer *x = &xs[i];
		x->p = &p;
		if (!(x->easy = curl_easy_init()))
			bench_die("peer: curl_easy_init failed");
		curl_easy_setopt(x->easy, CURLOPT_URL, url);
		curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
		curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, 30000L);
		curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, discard);
		start(&p, x);
	}
	if (n)
		uv_run(&p.loop, UV_RUN_DEFAULT);
	p.res.seconds = bench_now() - t0;

	for (unsigned i = 0; i < concurrency; i++) {
		curl_multi_remove_handle(p.multi, xs[i].easy);
		curl_easy_cleanup(xs[i].easy);
		curl_slist_free_all(xs[i].hdrs);
	}
	curl_multi_cleanup(p.multi); /* closes the cached connections */
	uv_walk(&p.loop, close_any, NULL);
	uv_run(&p.loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&p.loop) != 0)
		bench_die("peer: the loop did not close");
	free(xs);
	return p.res;
}
