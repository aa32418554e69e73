/*
 * test_io.c - the I/O thread (core/io.h) against the stand-in server
 * (tests/support/standin.h): GET and POST round trips (headers, body, the
 * Idempotency-Key the server counts); the caps (never more in flight than
 * the global and per-host caps, starts in submission order within a host,
 * a second host not held up by the first one's queue); retries (500 twice
 * then 200, 429 with Retry-After); the error mapping (timeout, a body over
 * the limit with and without a Content-Length, connection refused, DNS
 * failure, a dropped body, a dropped stream, a malformed chunk, a
 * malformed URL); streaming to the observer; cancel of a queued and of an
 * in-flight call; credentials (a small libmicrohttpd server of this file
 * shows the header it received; an unknown name); close with calls in
 * flight and queued (ASan checks the frees); mn__io_wake_at (its
 * replace-if-earlier rule, and the lateness of 1,000 wake-ups).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "base/clock.h"
#include "core/io.h"
#include "core/io_int.h"
#include "tests/support/standin.h"
#include "tests/support/support.h"

#define MAX_CALLS 512

/* What done and chunk saw, per call_id (call ids are small integers). */
typedef struct seen {
	int done; /* times done ran */
	int err;
	long status;
	uint32_t attempts;
	uint64_t latency_us;
	char *body;
	size_t body_len;
	char *headers;
	char reason[256];
	int order; /* completion rank */
	char *chunks;
	size_t chunks_len;
	unsigned nchunks;
	uint32_t chunk_attempt;
	int start_rank; /* attempt-start rank (first attempt) */
} seen;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static seen calls[MAX_CALLS];
static _Atomic uint64_t ndone;
static int nranks, nstarts;
/* hook: the most in flight seen, per host (by port) and overall */
static unsigned max_host[2], max_all;
static uint16_t host_port[2];

static standin *srv, *srv2;
static char base[64], base2[64];

static void reset_seen(void)
{
	pthread_mutex_lock(&mu);
	for (int i = 0; i < MAX_CALLS; i++) {
		free(calls[i].body);
		free(calls[i].headers);
		free(calls[i].chunks);
	}
	memset(calls, 0, sizeof(calls));
	nranks = nstarts = 0;
	max_host[0] = max_host[1] = max_all = 0;
	pthread_mutex_unlock(&mu);
	atomic_store(&ndone, 0);
}

static char *dup_bytes(const void *p, size_t n)
{
	char *d = malloc(n + 1);
	if (d) {
		memcpy(d, p, n);
		d[n] = 0;
	}
	return d;
}

static void on_done(void *arg, mn__io_req *req, const mn__io_result *res)
{
	(void)arg;
	if (!MT_CHECK(req->call_id < MAX_CALLS))
		return;
	pthread_mutex_lock(&mu);
	seen *s = &calls[req->call_id];
	s->done++;
	s->err = res->err;
	s->status = res->status;
	s->attempts = res->attempts;
	s->latency_us = res->latency_us;
	free(s->body);
	free(s->headers);
	s->body = dup_bytes(res->body, res->body_len);
	s->body_len = res->body_len;
	s->headers = dup_bytes(res->headers, res->headers_len);
	snprintf(s->reason, sizeof(s->reason), "%s", res->reason);
	s->order = nranks++;
	MT_CHECK(res->reason != NULL && res->headers != NULL);
	pthread_mutex_unlock(&mu);
	atomic_fetch_add(&ndone, 1);
}

static void on_chunk(void *arg, const mn__io_req *req, uint32_t attempt,
		     const void *data, size_t len)
{
	(void)arg;
	pthread_mutex_lock(&mu);
	seen *s = &calls[req->call_id % MAX_CALLS];
	if (attempt != s->chunk_attempt) { /* a retry streams again */
		s->chunks_len = 0;
		s->chunk_attempt = attempt;
	}
	char *b = realloc(s->chunks, s->chunks_len + len + 1);
	if (b) {
		memcpy(b + s->chunks_len, data, len);
		s->chunks = b;
		s->chunks_len += len;
		b[s->chunks_len] = 0;
		s->nchunks++;
	}
	pthread_mutex_unlock(&mu);
}

static void on_attempt(void *arg, const mn__io_req *req, uint32_t attempt,
		       unsigned host_inflight, unsigned inflight)
{
	(void)arg;
	pthread_mutex_lock(&mu);
	int h = strstr(req->url, base2) == req->url;
	if (host_inflight > max_host[h])
		max_host[h] = host_inflight;
	if (inflight > max_all)
		max_all = inflight;
	if (attempt == 1 && req->call_id < MAX_CALLS)
		calls[req->call_id].start_rank = nstarts++;
	pthread_mutex_unlock(&mu);
}

static mn__io *open_io(unsigned max_inflight, unsigned max_per_host)
{
	mn__io_opts o = {.max_inflight = max_inflight,
			 .max_per_host = max_per_host,
			 .done = on_done,
			 .chunk = on_chunk};
	mn__io *io;
	assert_rc(mn__io_open(&o, &io), 0);
	mn__io_set_attempt_hook(io, on_attempt, NULL);
	return io;
}

/* A call with id, url (base + path), and the rest from t (may be NULL). */
static void call(mn__io *io, uint64_t id, const char *b, const char *path,
		 const mn__io_req *t)
{
	char url[512];
	snprintf(url, sizeof(url), "%s%s", b, path);
	mn__io_req r = t ? *t : (mn__io_req){0};
	r.actor_id = 7;
	r.call_id = id;
	r.url = url;
	if (!r.method)
		r.method = "GET";
	mn__io_req *q = mn__io_req_new(&r);
	assert_non_null(q);
	assert_rc(mn__io_submit(io, q), 0);
}

static void wait_done(uint64_t n, double secs)
{
	if (!mt_wait_u64(&ndone, n, secs))
		fail_msg("only %llu of %llu calls done after %.0f s",
			 (unsigned long long)atomic_load(&ndone),
			 (unsigned long long)n, secs);
}

/* Call id got a response with status after attempts. */
static void assert_response(uint64_t id, long status, uint32_t attempts)
{
	if (calls[id].done != 1 || calls[id].err ||
	    calls[id].status != status || calls[id].attempts != attempts)
		fail_msg("call %llu: done %d, %s (%s), status %ld, attempts %u",
			 (unsigned long long)id, calls[id].done,
			 mn_err_name(calls[id].err), calls[id].reason,
			 calls[id].status, calls[id].attempts);
}

/* Wait for n dones, read the counters, close. */
static void wait_close(mn__io *io, uint64_t n, mn__io_stats *st)
{
	wait_done(n, 20);
	mn__io_stats_get(io, st);
	mn__io_close(io);
}

static int group_setup(void **state)
{
	(void)state;
	standin_opts so = {.seed = mt_seed()};
	if (standin_start(&so, &srv) || standin_start(&so, &srv2))
		return -1;
	standin_base_url(srv, base, sizeof(base));
	standin_base_url(srv2, base2, sizeof(base2));
	host_port[0] = standin_port(srv);
	host_port[1] = standin_port(srv2);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	standin_stop(srv);
	standin_stop(srv2);
	reset_seen();
	return 0;
}

static int setup(void **state)
{
	reset_seen();
	return mt_setup(state);
}

/* ---- round trips ------------------------------------------------------- */

static void test_get_post_round_trip(void **state)
{
	(void)state;
	mn__io *io = open_io(0, 0);
	mn__io_req t = {.idem_key = "rt-get-1"};
	call(io, 1, base, "/echo?x=1", &t);
	t = (mn__io_req){.method = "POST",
			 .idem_key = "rt-post-1",
			 .headers = "X-One: 1\nX-Two: two\r\n",
			 .body = "hello body",
			 .body_len = 10};
	call(io, 2, base, "/echo", &t);
	t = (mn__io_req){.method = "PUT", .body = "put!", .body_len = 4};
	call(io, 3, base, "/echo", &t);
	mn__io_stats st;
	wait_close(io, 3, &st);

	assert_response(1, 200, 1);
	assert_non_null(strstr(calls[1].body, "\"GET\""));
	assert_non_null(strstr(calls[1].body, "rt-get-1"));
	assert_non_null(strstr(calls[1].headers, "Content-Type:"));
	assert_null(strstr(calls[1].headers, "HTTP/1.1"));
	assert_int_equal(calls[2].status, 200);
	assert_non_null(strstr(calls[2].body, "\"POST\""));
	assert_non_null(strstr(calls[2].body, "hello body"));
	assert_non_null(strstr(calls[3].body, "\"PUT\""));
	assert_non_null(strstr(calls[3].body, "put!"));
	assert_int_equal(standin_count(srv, "rt-get-1"), 1);
	assert_int_equal(standin_count(srv, "rt-post-1"), 1);
	assert_true(calls[1].latency_us > 0);
	assert_int_equal(st.submitted, 3);
	assert_int_equal(st.completed, 3);
	assert_int_equal(st.queued + st.inflight, 0);
	mt_assert_no_failures();
}

/* ---- caps and order ---------------------------------------------------- */

static void test_caps_and_order(void **state)
{
	(void)state;
	enum { N = 200 };
	mn__io *io = open_io(8, 4);
	for (uint64_t i = 0; i < N; i++)
		call(io, i, base, "/hold?ms=40", NULL);
	/* Behind 200 waiting calls to the first host: not held up. */
	double t0 = mt_now();
	call(io, N, base2, "/echo", NULL);
	mn__io_stats st = {0};
	for (int i = 0; i < 2000 && st.queued + st.inflight < N; i++) {
		mn__io_stats_get(io, &st);
		mt_sleep_ms(1);
	}
	assert_true(st.inflight <= 8 && st.queued >= N - 8 - 1);
	wait_done(N + 1, 30);
	mn__io_close(io);

	assert_true(calls[N].done == 1 && calls[N].status == 200);
	assert_true(calls[N].latency_us < 1000000);
	assert_true(calls[N].order < N / 2);
	(void)t0;
	assert_int_equal(max_host[0], 4);
	assert_true(max_all <= 8);
	for (uint64_t i = 0; i < N; i++) {
		assert_int_equal(calls[i].done, 1);
		assert_int_equal(calls[i].status, 200);
		/* starts strictly in submission order within the host */
		if (i)
			assert_true(calls[i].start_rank >
				    calls[i - 1].start_rank);
	}
	/* completions: each within the cap's window of its own place */
	for (uint64_t i = 0; i < N; i++) {
		int rank = calls[i].order - (calls[i].order > calls[N].order);
		assert_true(abs(rank - (int)i) < 4);
	}
	mt_assert_no_failures();
}

/* ---- retries ----------------------------------------------------------- */

static void test_retry_5xx_then_200(void **state)
{
	(void)state;
	mn__io *io = open_io(0, 0);
	mn__io_req t = {
	    .idem_key = "retry-500", .max_attempts = 3, .backoff_ms = 20};
	call(io, 1, base, "/status?code=500&times=2", &t);
	t.idem_key = "retry-500-once";
	t.max_attempts = 1;
	call(io, 2, base, "/status?code=503&times=2", &t);
	t.idem_key = "retry-404";
	t.max_attempts = 3;
	call(io, 3, base, "/status?code=404&times=2", &t);
	mn__io_stats st;
	wait_close(io, 3, &st);
	assert_response(1, 200, 3);
	assert_int_equal(standin_count(srv, "retry-500"), 3);
	/* two waits of 20 * 2^(k-1) ms with equal jitter: >= 10 + 20 ms */
	assert_true(calls[1].latency_us >= 30000);
	assert_response(2, 503, 1);
	assert_response(3, 404, 1); /* not retried */
	assert_int_equal(st.retries, 2);
}

static void test_retry_after(void **state)
{
	(void)state;
	mn__io *io = open_io(0, 0);
	mn__io_req t = {
	    .idem_key = "retry-429", .max_attempts = 2, .backoff_ms = 10};
	call(io, 1, base, "/status?code=429&times=1&retry_after=1", &t);
	wait_done(1, 10);
	mn__io_close(io);
	assert_response(1, 200, 2);
	assert_true(calls[1].latency_us >= 950000);
	assert_true(calls[1].latency_us < 3000000);
	assert_int_equal(standin_count(srv, "retry-429"), 2);
}

/* ---- errors ------------------------------------------------------------ */

/* A loopback port nobody listens on (bound, then closed). */
static uint16_t dead_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

static void test_errors(void **state)
{
	(void)state;
	mn__io *io = open_io(0, 0);
	char dead[64];
	snprintf(dead, sizeof(dead), "http://127.0.0.1:%u", dead_port());
	mn__io_req t = {.timeout_ms = 200};
	call(io, 1, base, "/hold?ms=3000", &t);
	t = (mn__io_req){.max_response = 100000};
	call(io, 2, base, "/big?bytes=10000000", &t); /* Content-Length */
	t.max_response = 100;
	call(io, 3, base, "/stream?chunks=200&ms=0", &t); /* chunked */
	t = (mn__io_req){.max_attempts = 2, .backoff_ms = 5};
	call(io, 4, dead, "/echo", &t);
	call(io, 5, "http://no-such-host.invalid", "/echo", &t);
	t = (mn__io_req){0};
	call(io, 6, base, "/drop?after=10", &t);
	call(io, 7, base, "/stream-drop?chunks=2", &t);
	call(io, 8, base, "/bad-chunk", &t);
	call(io, 9, "", "not a url", &t);
	call(io, 10, "ftp://127.0.0.1", "/x", &t);
	t.method = "GET /x HTTP/1.1\r\nX: y";
	call(io, 11, base, "/echo", &t);
	wait_done(11, 20);
	mn__io_close(io);
	assert_int_equal(calls[1].err, MN_ETIMEDOUT);
	assert_true(calls[1].latency_us < 2000000);
	assert_int_equal(calls[2].err, MN_ETOOBIG);
	assert_true(calls[2].body_len <= 100000);
	assert_int_equal(calls[3].err, MN_ETOOBIG);
	assert_true(calls[3].body_len <= 100);
	assert_int_equal(calls[4].err, MN_EIO);
	assert_int_equal(calls[4].attempts, 2);
	assert_true(calls[4].reason[0] != 0);
	assert_int_equal(calls[5].err, MN_EIO);
	assert_true(calls[5].reason[0] != 0);
	for (int i = 6; i <= 8; i++) {
		if (calls[i].err != MN_EIO)
			fail_msg("call %d: %s (%s) status %ld", i,
				 mn_err_name(calls[i].err), calls[i].reason,
				 calls[i].status);
	}
	for (int i = 9; i <= 11; i++)
		assert_int_equal(calls[i].err, MN_EINVAL);
	for (int i = 1; i <= 11; i++)
		assert_int_equal(calls[i].done, 1);
	mt_assert_no_failures();
}

/* ---- streaming --------------------------------------------------------- */

static void test_stream(void **state)
{
	(void)state;
	mn__io *io = open_io(0, 0);
	mn__io_req t = {.stream = true};
	call(io, 1, base, "/stream?chunks=5&ms=20", &t);
	call(io, 2, base, "/echo", NULL); /* not a stream: no chunks */
	wait_done(2, 10);
	mn__io_close(io);
	seen *s = &calls[1];
	assert_int_equal(s->err, 0);
	assert_int_equal(s->status, 200);
	assert_true(s->nchunks >= 2);
	assert_int_equal(s->chunks_len, s->body_len);
	assert_memory_equal(s->chunks, s->body, s->body_len);
	const char *want = "data: 0\n\ndata: 1\n\ndata: 2\n\ndata: 3\n\n"
			   "data: 4\n\ndata: [DONE]\n\n";
	assert_string_equal(s->body, want);
	assert_int_equal(calls[2].nchunks, 0);
}

/* ---- cancel ------------------------------------------------------------ */

static void test_cancel(void **state)
{
	(void)state;
	mn__io *io = open_io(1, 1);
	call(io, 1, base, "/hold?ms=400", NULL); /* in flight */
	call(io, 2, base, "/hold?ms=10", NULL);	 /* queued */
	call(io, 3, base, "/echo", NULL);
	mn__io_stats st = {0};
	for (int i = 0; i < 2000 && st.inflight < 1; i++) {
		mn__io_stats_get(io, &st);
		mt_sleep_ms(1);
	}
	mn__io_cancel(io, 7, 2);
	mn__io_cancel(io, 7, 1);
	mn__io_cancel(io, 7, 99); /* unknown: ignored */
	wait_done(1, 10);
	mt_sleep_ms(50);
	mn__io_stats_get(io, &st);
	mn__io_close(io);
	assert_int_equal(calls[1].done, 0);
	assert_int_equal(calls[2].done, 0);
	assert_int_equal(calls[3].done, 1);
	assert_int_equal(calls[3].status, 200);
	/* the in-flight one was stopped: call 3 did not wait 400 ms */
	assert_true(calls[3].latency_us < 350000);
	assert_int_equal(st.cancelled, 2);
	assert_int_equal(st.completed, 1);
}

/* ---- credentials ------------------------------------------------------- */

/* A server that answers with the Authorization header it received. */
static enum MHD_Result show_auth(void *cls, struct MHD_Connection *c,
				 const char *url, const char *method,
				 const char *version, const char *upload,
				 size_t *upload_len, void **con_cls)
{
	(void)cls, (void)url, (void)method, (void)version, (void)upload;
	if (!*con_cls) { /* the first call, before any body */
		*con_cls = c;
		return MHD_YES;
	}
	if (*upload_len) {
		*upload_len = 0;
		return MHD_YES;
	}
	const char *v =
	    MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	char body[256];
	snprintf(body, sizeof(body), "auth=%s", v ? v : "(none)");
	struct MHD_Response *r = MHD_create_response_from_buffer(
	    strlen(body), body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret = MHD_queue_response(c, 200, r);
	MHD_destroy_response(r);
	return ret;
}

static void test_credentials(void **state)
{
	(void)state;
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct MHD_Daemon *d = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, show_auth, NULL,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&a, MHD_OPTION_END);
	assert_non_null(d);
	const union MHD_DaemonInfo *di =
	    MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	char b[64];
	snprintf(b, sizeof(b), "http://127.0.0.1:%u", di->port);

	mn__io *io = open_io(0, 0);
	assert_rc(
	    mn__io_credential_set(io, "api", "Authorization", "Bearer s1"), 0);
	assert_rc(
	    mn__io_credential_set(io, "api", "Authorization", "Bearer s2"), 0);
	assert_rc(mn__io_credential_set(io, "bad", "Bad: header", "x"),
		  MN_EINVAL);
	assert_rc(mn__io_credential_set(io, "bad", "X", "a\r\nInjected: 1"),
		  MN_EINVAL);
	mn__io_req t = {.credential = "api"};
	call(io, 1, b, "/", &t);
	t.credential = "nope";
	call(io, 2, b, "/", &t);
	call(io, 3, b, "/", NULL);
	wait_done(3, 10);
	mn__io_close(io);
	MHD_stop_daemon(d);
	assert_string_equal(calls[1].body, "auth=Bearer s2");
	assert_int_equal(calls[2].err, MN_EINVAL);
	assert_non_null(strstr(calls[2].reason, "nope"));
	assert_string_equal(calls[3].body, "auth=(none)");
}

/* ---- close with calls everywhere --------------------------------------- */

static void test_close_with_calls(void **state)
{
	(void)state;
	mn__io *io = open_io(16, 8);
	/* First, so that it gets a slot of its host (behind the held calls
	 * it would wait for them): its 500 puts it in the retry wait. */
	mn__io_req t = {.max_attempts = 5, .backoff_ms = 10000};
	call(io, 40, base, "/status?code=500", &t);
	for (uint64_t i = 0; i < 40; i++)
		call(io, i, i % 2 ? base : base2, "/hold?ms=5000", NULL);
	mn__io_stats st = {0};
	for (int i = 0; i < 3000 && (st.inflight < 16 || st.retries < 1); i++) {
		mn__io_stats_get(io, &st);
		mt_sleep_ms(1);
	}
	assert_int_equal(st.inflight, 16);
	double t0 = mt_now();
	mn__io_close(io);
	assert_true(mt_now() - t0 < 2.0);
	assert_int_equal(atomic_load(&ndone), 0);
}

/* ---- wake_at ----------------------------------------------------------- */

typedef struct wake_run {
	mn__io *io;
	uint64_t *due; /* sorted */
	size_t n, next;
	int64_t *late_us;
	_Atomic uint64_t fired;
} wake_run;

static uint64_t unix_us(void)
{
	return mn__clock_ns(CLOCK_REALTIME) / 1000u;
}

/* The durable timers' use: fire everything due, arm for the next. */
static void on_wake_run(void *arg)
{
	wake_run *w = arg;
	uint64_t now = unix_us();
	while (w->next < w->n && w->due[w->next] * 1000 <= now) {
		w->late_us[w->next] = (int64_t)(now - w->due[w->next] * 1000);
		w->next++;
		atomic_fetch_add(&w->fired, 1);
	}
	if (w->next < w->n)
		mn__io_wake_at(w->io, w->due[w->next], on_wake_run, w);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static _Atomic uint64_t wake_a, wake_b;
static uint64_t wake_a_at;

static void on_wake_a(void *arg)
{
	(void)arg;
	wake_a_at = mn__unix_ms();
	atomic_fetch_add(&wake_a, 1);
}

static void on_wake_b(void *arg)
{
	(void)arg;
	atomic_fetch_add(&wake_b, 1);
}

static void test_wake_at(void **state)
{
	(void)state;
	mn__io *io = open_io(0, 0);
	/* An earlier due replaces; a later one does not. */
	uint64_t now = mn__unix_ms();
	assert_rc(mn__io_wake_at(io, now + 400, on_wake_b, NULL), 0);
	assert_rc(mn__io_wake_at(io, now + 100, on_wake_a, NULL), 0);
	assert_rc(mn__io_wake_at(io, now + 300, on_wake_b, NULL), 0);
	assert_true(mt_wait_u64(&wake_a, 1, 5));
	assert_true(wake_a_at >= now + 100 && wake_a_at < now + 300);
	mt_sleep_ms(400);
	assert_int_equal(atomic_load(&wake_b), 0);
	assert_rc(mn__io_wake_at(io, 0, NULL, NULL), MN_EINVAL);

	/* 1,000 due times within 2 s, one timer re-armed by its callback. */
	enum { N = 1000 };
	wake_run w = {.io = io, .n = N};
	w.due = calloc(N, sizeof(*w.due));
	w.late_us = calloc(N, sizeof(*w.late_us));
	mt_rng rng;
	mt_rng_init(&rng, 13);
	uint64_t start = mn__unix_ms() + 50;
	for (size_t i = 0; i < N; i++)
		w.due[i] = start + mt_rng_below(&rng, 2000);
	qsort(w.due, N, sizeof(*w.due), cmp_u64);
	assert_rc(mn__io_wake_at(io, w.due[0], on_wake_run, &w), 0);
	assert_true(mt_wait_u64(&w.fired, N, 10));
	mn__io_close(io);
	qsort(w.late_us, N, sizeof(*w.late_us), cmp_i64);
	printf("# wake_at lateness over %d wakes: p50 %lld us, p99 %lld us, "
	       "max %lld us\n",
	       N, (long long)w.late_us[N / 2],
	       (long long)w.late_us[N * 99 / 100], (long long)w.late_us[N - 1]);
	assert_true(w.late_us[0] >= 0); /* never early */
	assert_true(w.late_us[N * 99 / 100] < 100000);
	free(w.due);
	free(w.late_us);
}

int main(void)
{
	mt_init("core/io");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_get_post_round_trip, setup),
	    cmocka_unit_test_setup(test_caps_and_order, setup),
	    cmocka_unit_test_setup(test_retry_5xx_then_200, setup),
	    cmocka_unit_test_setup(test_retry_after, setup),
	    cmocka_unit_test_setup(test_errors, setup),
	    cmocka_unit_test_setup(test_stream, setup),
	    cmocka_unit_test_setup(test_cancel, setup),
	    cmocka_unit_test_setup(test_credentials, setup),
	    cmocka_unit_test_setup(test_close_with_calls, setup),
	    cmocka_unit_test_setup(test_wake_at, setup),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
