/*
 * test_serve_stream.c - the streaming and reading routes of `mnemo serve`
 * (recovery/serve_events.c, serve_history.c; docs/serve.md): the server
 * as a child process on 127.0.0.1 (port 0, learnt from --port-file) with
 * the kind "tally" (tests/recovery/plugin_serve.c built into a plugin),
 * driven with libcurl, the events read as server-sent events (a stream
 * client on its own thread) and their data with jansson.
 *
 * Events arrive for replies and sends after messages sent over the API, in
 * order, with running ids; a slow reader with a small bound gets a "lost"
 * event, and every event of a burst is either delivered or counted lost,
 * while the actor answers at once; heartbeats and the stream's deadline;
 * the stream limit (429); history pages through N messages matching what
 * was sent, in order; an ask whose client goes away is cancelled at once
 * (the counter, not its 20 s timeout); and SIGTERM ends a stream with an
 * "end" event, promptly.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/recovery/plugin_serve.c"
#include "tests/support/support.h"
#include "tests/recovery/serve_child.h"

#define TOKEN "stream-token"
#define BURST 400

static int group_setup(void **unused)
{
	(void)unused;
	return serve_setup("serve-stream", TOKEN "\n", "--max-streams", "3");
}

static int group_teardown(void **unused)
{
	(void)unused;
	return serve_teardown();
}

/* ---- one request ----------------------------------------------------------
 */

typedef struct reply {
	long status;
	char *body; /* malloc'd, NUL-terminated */
	size_t len;
} reply;

static size_t gather(char *p, size_t size, size_t n, void *arg)
{
	reply *r = arg;
	size_t len = size * n;
	char *b = realloc(r->body, r->len + len + 1);
	assert_non_null(b);
	memcpy(b + r->len, p, len);
	r->body = b;
	r->len += len;
	b[r->len] = 0;
	return len;
}

static void auth_headers(CURL *h, struct curl_slist **hs)
{
	*hs = curl_slist_append(*hs, "Authorization: Bearer " TOKEN);
	*hs = curl_slist_append(*hs, "Content-Type: application/json");
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, *hs);
}

/* GET (body NULL) or POST path; the client gives up after timeout_ms.
 * Returns the status (-1: no response). Free r->body. */
static long request(reply *r, const char *path, const char *body,
		    long timeout_ms)
{
	char url[1024];
	CURL *h = curl_easy_init();
	struct curl_slist *hs = NULL;
	assert_non_null(h);
	memset(r, 0, sizeof *r);
	snprintf(url, sizeof url, "http://127.0.0.1:%u%s", port, path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, gather);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	auth_headers(h, &hs);
	if (body)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	if (curl_easy_perform(h) == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
	else
		r->status = -1;
	curl_slist_free_all(hs);
	curl_easy_cleanup(h);
	if (!r->body)
		r->body = calloc(1, 1);
	return r->status;
}

/* A request that must answer want; returns its JSON body (or NULL for a
 * body that is not JSON). */
static json_t *expect(const char *path, const char *body, long want)
{
	reply r;
	long st = request(&r, path, body, 10000);
	if (st != want)
		fail_msg("%s: status %ld, expected %ld: %s", path, st, want,
			 r.body);
	json_t *o = json_loads(r.body, 0, NULL);
	free(r.body);
	return o;
}

static void send_ok(const char *path, const char *body, long want)
{
	json_decref(expect(path, body, want));
}

/* A metric's value in /metrics (-1: absent). */
static long long metric(const char *name)
{
	reply r;
	char needle[128];
	assert_int_equal(request(&r, "/metrics", NULL, 10000), 200);
	snprintf(needle, sizeof needle, "\n%s ", name);
	const char *p = strstr(r.body, needle);
	long long v = p ? strtoll(p + strlen(needle), NULL, 10) : -1;
	free(r.body);
	return v;
}

/* ---- a stream client ------------------------------------------------------
 */

typedef struct stream {
	char path[512];
	long buffer; /* curl's receive buffer (0: its default) */
	int slow_ms; /* a pause per write callback */
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	reply r; /* the text so far */
	bool done, stop;
	CURLcode rc;
	long status;
} stream;

static size_t stream_write(char *p, size_t size, size_t n, void *arg)
{
	stream *s = arg;
	if (s->slow_ms)
		mt_sleep_ms((unsigned)s->slow_ms);
	pthread_mutex_lock(&s->mu);
	size_t len = s->stop ? 0 : gather(p, size, n, &s->r);
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	return len; /* 0 once stopped: curl closes the connection */
}

static int stream_progress(void *arg, curl_off_t a, curl_off_t b, curl_off_t c,
			   curl_off_t d)
{
	stream *s = arg;
	(void)a, (void)b, (void)c, (void)d;
	pthread_mutex_lock(&s->mu);
	int stop = s->stop;
	pthread_mutex_unlock(&s->mu);
	return stop;
}

static void *stream_main(void *arg)
{
	stream *s = arg;
	char url[1024];
	CURL *h = curl_easy_init();
	struct curl_slist *hs = NULL;
	snprintf(url, sizeof url, "http://127.0.0.1:%u%s", port, s->path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 60000L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, stream_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, stream_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, s);
	if (s->buffer)
		curl_easy_setopt(h, CURLOPT_BUFFERSIZE, s->buffer);
	auth_headers(h, &hs);
	CURLcode rc = curl_easy_perform(h);
	long status = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hs);
	curl_easy_cleanup(h);
	pthread_mutex_lock(&s->mu);
	s->rc = rc;
	s->status = status;
	s->done = true;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* Wait (up to ms) until the text holds needle or the stream ended.
 * Returns whether it holds it. */
static bool stream_wait(stream *s, const char *needle, unsigned ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&s->mu);
	while (!(s->r.body && strstr(s->r.body, needle)) && !s->done &&
	       pthread_cond_timedwait(&s->cv, &s->mu, &ts) == 0)
		;
	bool found = s->r.body && strstr(s->r.body, needle);
	pthread_mutex_unlock(&s->mu);
	return found;
}

/* Open a stream of path; returns once its first bytes came. */
static stream *stream_open(const char *path, long buffer, int slow_ms)
{
	stream *s = calloc(1, sizeof *s);
	assert_non_null(s);
	snprintf(s->path, sizeof s->path, "%s", path);
	s->buffer = buffer;
	s->slow_ms = slow_ms;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	assert_int_equal(pthread_create(&s->th, NULL, stream_main, s), 0);
	if (!stream_wait(s, ": open\n\n", 10000))
		fail_msg("stream %s did not open: %s", path,
			 s->r.body ? s->r.body : "");
	return s;
}

/* Wait for the stream's end; free it. */
static void stream_join(stream *s)
{
	pthread_join(s->th, NULL);
	free(s->r.body);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

/* Stop reading (the client closes), join, free. */
static void stream_close(stream *s)
{
	pthread_mutex_lock(&s->mu);
	s->stop = true;
	pthread_mutex_unlock(&s->mu);
	stream_join(s);
}

/* The number of times needle is in the stream's text so far. */
static unsigned stream_count(stream *s, const char *needle)
{
	unsigned n = 0;
	pthread_mutex_lock(&s->mu);
	for (const char *p = s->r.body; p && (p = strstr(p, needle)); p++)
		n++;
	pthread_mutex_unlock(&s->mu);
	return n;
}

/* One parsed event. */
typedef struct sse {
	char name[32];
	long long id;
	json_t *data;
} sse;

/* The events in text (comments skipped): at most cap into ev; returns
 * how many. Each event's lines: "event: N", "id: I", "data: JSON". */
static size_t sse_parse(const char *text, sse *ev, size_t cap)
{
	size_t n = 0;
	const char *p = text;
	while (p && *p && n < cap) {
		const char *end = strstr(p, "\n\n");
		if (!end)
			break;
		sse e = {.id = -1};
		for (const char *l = p; l < end;) {
			const char *nl = memchr(l, '\n', (size_t)(end - l));
			size_t len = nl ? (size_t)(nl - l) : (size_t)(end - l);
			if (len > 7 && strncmp(l, "event: ", 7) == 0)
				snprintf(e.name, sizeof e.name, "%.*s",
					 (int)(len - 7), l + 7);
			else if (len > 4 && strncmp(l, "id: ", 4) == 0)
				e.id = strtoll(l + 4, NULL, 10);
			else if (len > 6 && strncmp(l, "data: ", 6) == 0)
				e.data = json_loadb(l + 6, len - 6, 0, NULL);
			l += len + 1;
		}
		if (e.name[0]) {
			assert_non_null(e.data);
			ev[n++] = e;
		}
		p = end + 2;
	}
	return n;
}

static void sse_free(sse *ev, size_t n)
{
	for (size_t i = 0; i < n; i++)
		json_decref(ev[i].data);
}

static long long jint(const json_t *o, const char *k)
{
	const json_t *v = json_object_get(o, k);
	if (!json_is_integer(v))
		fail_msg("no integer \"%s\"", k);
	return (long long)json_integer_value(v);
}

static const char *jstr(const json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));
	if (!v)
		fail_msg("no string \"%s\"", k);
	return v;
}

/* ---- tests --------------------------------------------------------------- */

/* Replies and sends, after messages over the API, in order, ids running. */
static void test_events_in_order(void **unused)
{
	(void)unused;
	stream *s = stream_open("/v1/actors/tally/ev/events", 0, 0);
	send_ok("/v1/actors/tally/ev/ask", "{\"type\":2}", 200);
	send_ok("/v1/actors/tally/ev/messages",
		"{\"type\":4,\"json\":{\"n\":1}}", 202);
	send_ok("/v1/actors/tally/ev/messages?durable=1",
		"{\"type\":4,\"json\":{\"n\":2}}", 201);
	send_ok("/v1/actors/tally/ev/messages", "{\"type\":1,\"json\":7}", 202);
	send_ok("/v1/actors/tally/ev/ask", "{\"type\":2}", 200);
	/* Another actor's outputs are not in this stream. */
	send_ok("/v1/actors/tally/other/ask", "{\"type\":2}", 200);
	assert_true(stream_wait(s, "\"count\":1", 10000));
	pthread_mutex_lock(&s->mu);
	sse ev[16];
	size_t n = sse_parse(s->r.body, ev, 16);
	pthread_mutex_unlock(&s->mu);
	/* The model: what the kind does with each message. */
	static const char *const names[] = {"reply", "send", "send", "reply"};
	static const long long seqs[] = {1, 2, 3, 5};
	assert_int_equal(n, 4);
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(ev[i].name, names[i]);
		assert_int_equal(ev[i].id, (long long)i + 1);
		assert_string_equal(jstr(ev[i].data, "type"), names[i]);
		assert_int_equal(jint(ev[i].data, "seq"), seqs[i]);
		assert_non_null(jstr(ev[i].data, "payload_base64"));
	}
	assert_int_equal(jint(ev[0].data, "msg_type"), 2);
	assert_int_equal(jint(json_object_get(ev[0].data, "json"), "count"), 0);
	for (int i = 1; i <= 2; i++) {
		assert_string_equal(jstr(ev[i].data, "to_kind"), "tally");
		assert_string_equal(jstr(ev[i].data, "to_key"), "sink");
		assert_int_equal(jint(ev[i].data, "msg_type"), 1);
		assert_int_equal(jint(json_object_get(ev[i].data, "json"), "n"),
				 i);
	}
	assert_int_equal(jint(json_object_get(ev[3].data, "json"), "count"), 1);
	sse_free(ev, n);
	stream_close(s);
}

/* A reader slower than the actor, with a bound of 2: it is told what it
 * lost, and every output is either delivered or counted lost; the actor
 * never waits for the reader. */
static void test_slow_reader_loses(void **unused)
{
	(void)unused;
	stream *s =
	    stream_open("/v1/actors/tally/burst/events?max_events=2", 1024, 20);
	/* BURST (400) sends in one message. */
	send_ok("/v1/actors/tally/burst/messages",
		"{\"type\":5,\"payload\":\"NDAw\"}", 202);
	/* The actor answers at once while the reader lags. */
	double t0 = mt_now();
	send_ok("/v1/actors/tally/burst/ask", "{\"type\":2}", 200);
	assert_true(mt_now() - t0 < 2.0);
	unsigned asks = 1;
	/* The sink got the whole burst: nobody waited for the reader. */
	long long c = 0;
	for (int i = 0; i < 500 && c < BURST; i++) {
		json_t *o = expect("/v1/actors/tally/sink", NULL, 200);
		c = jint(json_object_get(o, "state_json"), "count");
		json_decref(o);
		if (c < BURST)
			mt_sleep_ms(10);
	}
	assert_true(c >= BURST);
	/* Once the reader caught up, an answer is delivered, not lost. */
	bool caught_up = false;
	for (int i = 0; i < 30 && !caught_up; i++) {
		unsigned before = stream_count(s, "event: reply\n");
		send_ok("/v1/actors/tally/burst/ask", "{\"type\":2}", 200);
		asks++;
		for (int k = 0; k < 100 && !caught_up; k++) {
			caught_up = stream_count(s, "event: reply\n") > before;
			if (!caught_up)
				mt_sleep_ms(10);
		}
	}
	assert_true(caught_up);
	/* An answer is observed just after its asker has it: the model
	 * holds once the last ones came. */
	long long sent = 0, replies = 0, lost = 0, lost_events = 0;
	for (int tries = 0; tries < 200; tries++) {
		pthread_mutex_lock(&s->mu);
		size_t cap = BURST + 64;
		sse *ev = calloc(cap, sizeof *ev);
		size_t n = sse_parse(s->r.body, ev, cap);
		pthread_mutex_unlock(&s->mu);
		sent = replies = lost = lost_events = 0;
		for (size_t i = 0; i < n; i++) {
			assert_int_equal(ev[i].id, (long long)i + 1);
			if (strcmp(ev[i].name, "send") == 0) {
				assert_string_equal(jstr(ev[i].data, "to_key"),
						    "sink");
				sent++;
			} else if (strcmp(ev[i].name, "reply") == 0) {
				replies++;
			} else if (strcmp(ev[i].name, "lost") == 0) {
				lost_events++;
				lost += jint(ev[i].data, "lost");
			}
		}
		sse_free(ev, n);
		free(ev);
		if (sent + replies + lost == BURST + asks)
			break;
		mt_sleep_ms(25);
	}
	if (!lost_events || sent + replies + lost != BURST + asks)
		fail_msg("%lld sent, %lld replies, %lld lost in %lld lost "
			 "events; %d sends and %u asks made",
			 sent, replies, lost, lost_events, BURST, asks);
	assert_true(metric("mnemo_serve_stream_lost_total") >= lost);
	stream_close(s);
}

/* Heartbeats at ping_ms; the stream ends at its deadline. */
static void test_ping_and_deadline(void **unused)
{
	(void)unused;
	double t0 = mt_now();
	stream *s = stream_open(
	    "/v1/actors/tally/quiet/events?ping_ms=200&timeout_ms=1500", 0, 0);
	assert_true(stream_wait(s, ": ping\n\n", 5000));
	assert_true(stream_wait(s, "\"reason\":\"timeout\"", 10000));
	double took = mt_now() - t0;
	assert_true(stream_wait(s, "event: end\n", 1000));
	stream_wait(s, "never there", 5000); /* until it ends */
	assert_true(s->done);
	assert_int_equal(s->rc, CURLE_OK);
	assert_int_equal(s->status, 200);
	assert_true(took >= 1.4 && took < 5.0);
	stream_join(s);
	/* Bad arguments. */
	send_ok("/v1/actors/tally/quiet/events?timeout_ms=0", NULL, 400);
	send_ok("/v1/actors/tally/quiet/events?ping_ms=5", NULL, 400);
	send_ok("/v1/actors/tally/quiet/events?max_events=0", NULL, 400);
	send_ok("/v1/actors/nokind/quiet/events", NULL, 404);
}

/* --max-streams 3: a fourth is refused; closing one makes room. */
static void test_stream_limit(void **unused)
{
	(void)unused;
	stream *s[3];
	/* The earlier tests' streams are closed. */
	for (int i = 0; i < 500 && metric("mnemo_serve_event_streams") != 0;
	     i++)
		mt_sleep_ms(10);
	assert_int_equal(metric("mnemo_serve_event_streams"), 0);
	for (int i = 0; i < 3; i++)
		s[i] = stream_open("/v1/actors/tally/lim/events", 0, 0);
	assert_int_equal(metric("mnemo_serve_event_streams"), 3);
	send_ok("/v1/actors/tally/lim/events", NULL, 429);
	stream_close(s[0]);
	/* The server notices the close (the watcher), then has room. */
	for (int i = 0; i < 500 && metric("mnemo_serve_event_streams") != 2;
	     i++)
		mt_sleep_ms(10);
	assert_int_equal(metric("mnemo_serve_event_streams"), 2);
	s[0] = stream_open("/v1/actors/tally/lim/events", 0, 0);
	for (int i = 0; i < 3; i++)
		stream_close(s[i]);
}

/* N messages, paged with from and limit: what was sent, in order. */
static void test_history_pages(void **unused)
{
	(void)unused;
	enum { N = 23, LIMIT = 5 };
	char body[64], path[256];
	for (int i = 0; i < N; i++) {
		snprintf(body, sizeof body,
			 "{\"type\":1,\"json\":{\"i\":%d,\"w\":\"v%d\"}}", i,
			 i * 7);
		send_ok("/v1/actors/tally/hist/messages?durable=1", body, 201);
	}
	/* 201 is stored, not yet handled: wait for the last entry. */
	snprintf(path, sizeof path,
		 "/v1/actors/tally/hist/history?from=%d&limit=1", N);
	for (int i = 0; i < 500; i++) {
		json_t *o = expect(path, NULL, 200);
		size_t got = json_array_size(json_object_get(o, "entries"));
		json_decref(o);
		if (got)
			break;
		mt_sleep_ms(10);
	}
	long long from = 1, seen = 0;
	int pages = 0;
	for (; pages < 20; pages++) {
		snprintf(path, sizeof path,
			 "/v1/actors/tally/hist/history?from=%lld&limit=%d",
			 from, LIMIT);
		json_t *o = expect(path, NULL, 200);
		json_t *entries = json_object_get(o, "entries");
		assert_true(json_is_array(entries));
		assert_true(json_array_size(entries) <= LIMIT);
		for (size_t k = 0; k < json_array_size(entries); k++) {
			json_t *e = json_array_get(entries, k);
			json_t *j = json_object_get(e, "json");
			assert_int_equal(jint(e, "seq"), seen + 1);
			assert_int_equal(jint(e, "type"), 1);
			assert_int_equal(jint(j, "i"), seen);
			snprintf(body, sizeof body, "v%lld", seen * 7);
			assert_string_equal(jstr(j, "w"), body);
			assert_string_equal(jstr(e, "sender"), "outside");
			assert_non_null(jstr(e, "time"));
			assert_non_null(jstr(e, "payload_base64"));
			assert_true(jint(e, "lsn") > 0);
			assert_true(json_is_array(json_object_get(e, "calls")));
			seen++;
		}
		json_t *next = json_object_get(o, "next");
		if (json_is_null(next)) {
			json_decref(o);
			break;
		}
		assert_int_equal(json_integer_value(next), seen + 1);
		from = (long long)json_integer_value(next);
		json_decref(o);
	}
	assert_int_equal(seen, N);
	assert_int_equal(pages, (N + LIMIT - 1) / LIMIT - 1);
	/* A page from the middle; past the end; bad limits; no actor. */
	json_t *o =
	    expect("/v1/actors/tally/hist/history?from=20&limit=2", NULL, 200);
	json_t *e = json_object_get(o, "entries");
	assert_int_equal(json_array_size(e), 2);
	assert_int_equal(jint(json_array_get(e, 0), "seq"), 20);
	assert_int_equal(jint(o, "next"), 22);
	json_decref(o);
	o = expect("/v1/actors/tally/hist/history?from=99", NULL, 200);
	assert_int_equal(json_array_size(json_object_get(o, "entries")), 0);
	assert_true(json_is_null(json_object_get(o, "next")));
	json_decref(o);
	send_ok("/v1/actors/tally/hist/history?limit=0", NULL, 400);
	send_ok("/v1/actors/tally/hist/history?limit=1001", NULL, 400);
	send_ok("/v1/actors/tally/nobody/history", NULL, 404);
}

/* The client of a waiting ask goes away: cancelled at once. */
static void test_ask_cancelled(void **unused)
{
	(void)unused;
	long long before = metric("mnemo_serve_asks_cancelled_total");
	reply r;
	/* TL_SILENT: never answered; the client gives up after 300 ms. */
	assert_int_equal(request(&r,
				 "/v1/actors/tally/gone/ask?timeout_ms=20000",
				 "{\"type\":3}", 300),
			 -1);
	free(r.body);
	long long after = before;
	for (int i = 0; i < 300 && after == before; i++) {
		mt_sleep_ms(10);
		after = metric("mnemo_serve_asks_cancelled_total");
	}
	assert_int_equal(after, before + 1);
	assert_int_equal(metric("mnemo_serve_waiting_requests"), 0);
	/* The log has it as 499. */
	FILE *f = fopen(logf_, "r");
	assert_non_null(f);
	char line[4096];
	bool logged = false;
	while (fgets(line, sizeof line, f))
		logged |= strstr(line, "\"route\":\"ask\"") &&
			  strstr(line, "\"status\":499");
	fclose(f);
	assert_true(logged);
	/* The actor goes on. */
	send_ok("/v1/actors/tally/gone/ask", "{\"type\":2}", 200);
}

/* SIGTERM: an open stream ends with an "end" event, at once. */
static void test_drain_ends_streams(void **unused)
{
	(void)unused;
	stream *s = stream_open("/v1/actors/tally/dr/events", 0, 0);
	double t0 = mt_now();
	assert_int_equal(stop_server(), 0);
	double took = mt_now() - t0;
	assert_true(stream_wait(s, "\"reason\":\"draining\"", 5000));
	stream_wait(s, "never there", 5000); /* until it ends */
	assert_true(s->done);
	assert_int_equal(s->rc, CURLE_OK);
	/* Not held for --drain-ms (3 s). */
	assert_true(took < 2.5);
	stream_join(s);
}

int main(void)
{
	mt_init("serve-stream");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_events_in_order),
	    cmocka_unit_test(test_slow_reader_loses),
	    cmocka_unit_test(test_ping_and_deadline),
	    cmocka_unit_test(test_stream_limit),
	    cmocka_unit_test(test_history_pages),
	    cmocka_unit_test(test_ask_cancelled),
	    cmocka_unit_test(test_drain_ends_streams),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
