/*
 * test_standin.c - the stand-in server of the tests (tests/support/
 * standin.h) seen from libcurl: every endpoint's status, body and fault
 * (curl's own error for a dropped body, a dropped stream, a malformed
 * chunk, a stall), the counts per Idempotency-Key and /stats, the latency,
 * held replies that leave the server free for others, and a stop with
 * replies still held; /v1/chat/completions: replies, scripted tool calls,
 * streams, faults.
 */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "tests/support/support.h"
#include "tests/support/standin.h"

static standin *srv;
static char base[64];

/* What one transfer gave. */
typedef struct got {
	CURLcode rc;
	long status;
	char *body;
	size_t len, cap;
	char retry_after[32];
	char type[64];
	double secs;
	double first_byte_secs; /* when the first body byte came, or -1 */
	double start;
} got;

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	got *g = arg;
	size_t k = size * n;
	if (k && g->first_byte_secs < 0)
		g->first_byte_secs = mt_now() - g->start;
	if (g->len + k + 1 > g->cap) {
		size_t cap = g->cap ? g->cap : 4096;
		while (cap < g->len + k + 1)
			cap *= 2;
		char *b = realloc(g->body, cap);
		if (!b)
			return 0;
		g->body = b;
		g->cap = cap;
	}
	memcpy(g->body + g->len, p, k);
	g->len += k;
	g->body[g->len] = '\0';
	return k;
}

/* Copies the value of header name (case-insensitive) of line into dst. */
static void header_value(const char *line, size_t len, const char *name,
			 char *dst, size_t cap)
{
	size_t nl = strlen(name);
	if (len <= nl + 1 || strncasecmp(line, name, nl) != 0 ||
	    line[nl] != ':')
		return;
	const char *v = line + nl + 1;
	const char *end = line + len;
	while (v < end && *v == ' ')
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n'))
		end--;
	size_t n = (size_t)(end - v) < cap - 1 ? (size_t)(end - v) : cap - 1;
	memcpy(dst, v, n);
	dst[n] = '\0';
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	got *g = arg;
	header_value(p, size * n, "Retry-After", g->retry_after,
		     sizeof g->retry_after);
	header_value(p, size * n, "Content-Type", g->type, sizeof g->type);
	return size * n;
}

/* An easy handle for url (relative to base) with key as Idempotency-Key
 * (NULL: none), post as body (NULL: GET), a timeout of timeout_ms (0: 10
 * s), writing into g. The header list goes to *hl (free it). */
static CURL *easy(const char *path, const char *key, const char *post,
		  long timeout_ms, got *g, struct curl_slist **hl)
{
	char url[512], h[256];
	memset(g, 0, sizeof *g);
	g->first_byte_secs = -1;
	snprintf(url, sizeof url, "%s%s", base, path);
	CURL *e = curl_easy_init();
	assert_non_null(e);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
			 timeout_ms ? timeout_ms : 10000);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, g);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, g);
	*hl = NULL;
	if (key) {
		snprintf(h, sizeof h, "Idempotency-Key: %s", key);
		*hl = curl_slist_append(NULL, h);
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, *hl);
	}
	if (post)
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, post);
	return e;
}

/* One transfer; fills g (free g->body with got_free). */
static void fetch(const char *path, const char *key, const char *post,
		  long timeout_ms, got *g)
{
	struct curl_slist *hl;
	CURL *e = easy(path, key, post, timeout_ms, g, &hl);
	g->start = mt_now();
	g->rc = curl_easy_perform(e);
	g->secs = mt_now() - g->start;
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &g->status);
	curl_easy_cleanup(e);
	curl_slist_free_all(hl);
}

static void got_free(got *g)
{
	free(g->body);
	g->body = NULL;
}

/* g's body as JSON (fails the test when it is not). */
static json_t *body_json(const got *g)
{
	json_error_t err;
	json_t *j = json_loadb(g->body ? g->body : "", g->len, 0, &err);
	if (!j)
		fail_msg("not JSON (%s): %.*s", err.text, (int)g->len,
			 g->body ? g->body : "");
	return j;
}

static json_int_t int_of(json_t *j, const char *name)
{
	json_t *v = json_object_get(j, name);
	assert_true(json_is_integer(v));
	return json_integer_value(v);
}

static const char *str_of(json_t *j, const char *name)
{
	json_t *v = json_object_get(j, name);
	assert_true(json_is_string(v));
	return json_string_value(v);
}

static int group_setup(void **state)
{
	(void)state;
	standin_opts o = {.seed = 7};
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 ||
	    standin_start(&o, &srv) != 0)
		return -1;
	standin_base_url(srv, base, sizeof base);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	standin_stop(srv);
	curl_global_cleanup();
	return 0;
}

static void test_port_and_url(void **state)
{
	(void)state;
	char want[64];
	assert_true(standin_port(srv) > 0);
	snprintf(want, sizeof want, "http://127.0.0.1:%u",
		 (unsigned)standin_port(srv));
	assert_string_equal(base, want);
}

static void test_echo_counts(void **state)
{
	(void)state;
	uint64_t before = standin_requests(srv);
	uint64_t keys = standin_keys(srv);
	got g;
	fetch("/echo", "echo-1", "hello, body", 0, &g);
	assert_int_equal(g.rc, CURLE_OK);
	assert_int_equal(g.status, 200);
	json_t *j = body_json(&g);
	assert_string_equal(str_of(j, "method"), "POST");
	assert_string_equal(str_of(j, "path"), "/echo");
	assert_string_equal(str_of(j, "body"), "hello, body");
	assert_string_equal(str_of(j, "idem"), "echo-1");
	assert_int_equal(int_of(j, "n"), 1);
	json_decref(j);
	got_free(&g);

	fetch("/echo", "echo-1", NULL, 0, &g);
	j = body_json(&g);
	assert_string_equal(str_of(j, "method"), "GET");
	assert_string_equal(str_of(j, "body"), "");
	assert_int_equal(int_of(j, "n"), 2);
	json_decref(j);
	got_free(&g);

	fetch("/echo", NULL, NULL, 0, &g); /* no key: counted in all only */
	j = body_json(&g);
	assert_true(json_is_null(json_object_get(j, "idem")));
	assert_int_equal(int_of(j, "n"), 0);
	json_decref(j);
	got_free(&g);

	assert_int_equal(standin_count(srv, "echo-1"), 2);
	assert_int_equal(standin_count(srv, "echo-never"), 0);
	assert_int_equal(standin_requests(srv), before + 3);
	assert_int_equal(standin_keys(srv), keys + 1);
}

static void test_many_keys(void **state)
{
	(void)state;
	enum { KEYS = 1500 };
	uint64_t keys = standin_keys(srv);
	char path[128], key[64];
	got g;
	/* One handle, so the connection is kept alive: fast. */
	CURL *e = curl_easy_init();
	assert_non_null(e);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	memset(&g, 0, sizeof g);
	g.first_byte_secs = -1;
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &g);
	snprintf(path, sizeof path, "%s/echo", base);
	curl_easy_setopt(e, CURLOPT_URL, path);
	for (unsigned i = 0; i < 2 * KEYS; i++) {
		snprintf(key, sizeof key, "Idempotency-Key: many-%u", i % KEYS);
		struct curl_slist *hl = curl_slist_append(NULL, key);
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, hl);
		g.len = 0;
		assert_int_equal(curl_easy_perform(e), CURLE_OK);
		curl_slist_free_all(hl);
	}
	curl_easy_cleanup(e);
	got_free(&g);
	assert_int_equal(standin_keys(srv), keys + KEYS);
	for (unsigned i = 0; i < KEYS; i += 97) {
		snprintf(key, sizeof key, "many-%u", i);
		assert_int_equal(standin_count(srv, key), 2);
	}
}

static void test_stats(void **state)
{
	(void)state;
	got g;
	fetch("/echo", "stats-a", NULL, 0, &g);
	got_free(&g);
	fetch("/echo", "stats-a", NULL, 0, &g);
	got_free(&g);
	fetch("/echo", "stats-b", NULL, 0, &g);
	got_free(&g);
	uint64_t requests = standin_requests(srv);
	fetch("/stats", NULL, NULL, 0, &g);
	assert_int_equal(g.status, 200);
	assert_string_equal(g.type, "application/json");
	json_t *j = body_json(&g);
	assert_int_equal(int_of(j, "requests"), requests);
	json_t *keys = json_object_get(j, "keys");
	assert_true(json_is_object(keys));
	assert_int_equal(json_object_size(keys), standin_keys(srv));
	assert_int_equal(int_of(keys, "stats-a"), 2);
	assert_int_equal(int_of(keys, "stats-b"), 1);
	json_decref(j);
	got_free(&g);
	/* /stats itself is not counted. */
	assert_int_equal(standin_requests(srv), requests);
}

static void test_json_deterministic(void **state)
{
	(void)state;
	got a, b, c;
	fetch("/json?id=abc", NULL, NULL, 0, &a);
	fetch("/json?id=abc", NULL, NULL, 0, &b);
	fetch("/json?id=abd", NULL, NULL, 0, &c);
	assert_int_equal(a.status, 200);
	assert_string_equal(a.body, b.body);
	assert_string_not_equal(a.body, c.body);
	json_t *j = body_json(&a);
	assert_string_equal(str_of(j, "id"), "abc");
	assert_true(int_of(j, "value") >= 0);
	assert_non_null(strstr(str_of(j, "text"), "abc"));
	json_decref(j);

	/* Another server with the same seed says the same; another seed
	 * does not. */
	standin *s2;
	standin_opts o = {.seed = 7};
	char keep[64];
	memcpy(keep, base, sizeof keep);
	for (int k = 0; k < 2; k++) {
		assert_int_equal(standin_start(&o, &s2), 0);
		standin_base_url(s2, base, sizeof base);
		got d;
		fetch("/json?id=abc", NULL, NULL, 0, &d);
		if (k == 0)
			assert_string_equal(d.body, a.body);
		else
			assert_string_not_equal(d.body, a.body);
		got_free(&d);
		standin_stop(s2);
		o.seed = 8;
	}
	memcpy(base, keep, sizeof base);
	got_free(&a);
	got_free(&b);
	got_free(&c);
}

static void test_status_per_key(void **state)
{
	(void)state;
	const char *path = "/status?code=429&times=2&retry_after=3";
	got g;
	for (int i = 1; i <= 4; i++) {
		fetch(path, "status-1", NULL, 0, &g);
		assert_int_equal(g.rc, CURLE_OK);
		assert_int_equal(g.status, i <= 2 ? 429 : 200);
		assert_string_equal(g.retry_after, i <= 2 ? "3" : "");
		json_t *j = body_json(&g);
		assert_int_equal(int_of(j, "n"), i);
		json_decref(j);
		got_free(&g);
	}
	/* Another key has its own count. */
	fetch(path, "status-2", NULL, 0, &g);
	assert_int_equal(g.status, 429);
	got_free(&g);
	/* No times: every request; no retry_after: no header. */
	for (int i = 0; i < 3; i++) {
		fetch("/status?code=500", "status-3", NULL, 0, &g);
		assert_int_equal(g.status, 500);
		assert_string_equal(g.retry_after, "");
		got_free(&g);
	}
	/* Without a key: every request gets the code. */
	fetch("/status?code=503&times=1", NULL, NULL, 0, &g);
	assert_int_equal(g.status, 503);
	got_free(&g);
	fetch("/status?code=503&times=1", NULL, NULL, 0, &g);
	assert_int_equal(g.status, 503);
	got_free(&g);
	assert_int_equal(standin_count(srv, "status-1"), 4);
}

static void test_big(void **state)
{
	(void)state;
	static const size_t sizes[] = {0, 1, 63, 64, 65537, 5u << 20};
	got g, h;
	char path[64];
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		snprintf(path, sizeof path, "/big?bytes=%zu", sizes[i]);
		fetch(path, NULL, NULL, 0, &g);
		assert_int_equal(g.rc, CURLE_OK);
		assert_int_equal(g.status, 200);
		assert_int_equal(g.len, sizes[i]);
		got_free(&g);
	}
	fetch("/big?bytes=100000", NULL, NULL, 0, &g);
	fetch("/big?bytes=100000", NULL, NULL, 0, &h);
	assert_memory_equal(g.body, h.body, 100000);
	assert_int_equal(g.body[63], '\n');
	got_free(&g);
	got_free(&h);
	fetch("/big?bytes=99999999999", NULL, NULL, 0, &g);
	assert_int_equal(g.status, 400);
	got_free(&g);
}

static void test_drop_mid_body(void **state)
{
	(void)state;
	got g;
	fetch("/drop?after=100", NULL, NULL, 0, &g);
	assert_int_equal(g.rc, CURLE_PARTIAL_FILE);
	assert_int_equal(g.status, 200);
	assert_int_equal(g.len, 100);
	got_free(&g);
	fetch("/drop?after=0", NULL, NULL, 0, &g);
	assert_int_equal(g.rc, CURLE_PARTIAL_FILE);
	assert_int_equal(g.len, 0);
	got_free(&g);
}

static void test_stream(void **state)
{
	(void)state;
	got g;
	fetch("/stream?chunks=4&ms=50", NULL, NULL, 0, &g);
	assert_int_equal(g.rc, CURLE_OK);
	assert_int_equal(g.status, 200);
	assert_string_equal(g.type, "text/event-stream");
	assert_string_equal(g.body, "data: 0\n\ndata: 1\n\ndata: 2\n\n"
				    "data: 3\n\ndata: [DONE]\n\n");
	assert_true(g.secs >= 0.15); /* three pauses of 50 ms */
	assert_true(g.first_byte_secs >= 0 && g.first_byte_secs < 0.1);
	got_free(&g);

	fetch("/stream?chunks=0", NULL, NULL, 0, &g);
	assert_int_equal(g.rc, CURLE_OK);
	assert_string_equal(g.body, "data: [DONE]\n\n");
	got_free(&g);
}

static void test_stream_drop(void **state)
{
	(void)state;
	got g;
	fetch("/stream-drop?chunks=2&ms=10", NULL, NULL, 0, &g);
	assert_int_equal(g.rc, CURLE_PARTIAL_FILE);
	assert_int_equal(g.status, 200);
	assert_string_equal(g.body, "data: 0\n\ndata: 1\n\n");
	got_free(&g);
}

static void test_bad_chunk(void **state)
{
	(void)state;
	got g;
	fetch("/bad-chunk", NULL, NULL, 0, &g);
	assert_int_equal(g.rc, CURLE_RECV_ERROR);
	assert_int_equal(g.status, 200);
	assert_string_equal(g.body ? g.body : "", "fine");
	got_free(&g);
}

static void test_stall(void **state)
{
	(void)state;
	got g;
	fetch("/stall?ms=300", NULL, NULL, 0, &g);
	assert_int_equal(g.rc, CURLE_OK);
	assert_string_equal(g.body, "{}");
	assert_true(g.secs >= 0.29);
	assert_true(g.first_byte_secs >= 0 && g.first_byte_secs < 0.2);
	got_free(&g);
	/* A client that gives up sees one byte and a timeout. */
	fetch("/stall?ms=2000", NULL, NULL, 200, &g);
	assert_int_equal(g.rc, CURLE_OPERATION_TIMEDOUT);
	assert_int_equal(g.len, 1);
	got_free(&g);
}

static void test_notjson_and_not_found(void **state)
{
	(void)state;
	got g;
	fetch("/notjson", NULL, NULL, 0, &g);
	assert_int_equal(g.status, 200);
	assert_string_equal(g.type, "application/json");
	assert_string_equal(g.body, "{oops");
	json_error_t err;
	assert_null(json_loadb(g.body, g.len, 0, &err));
	got_free(&g);
	fetch("/nowhere", NULL, NULL, 0, &g);
	assert_int_equal(g.status, 404);
	got_free(&g);
}

/* Bytes that are not UTF-8 cannot be JSON strings: a body of them is
 * echoed as null, a path of them is refused with 400. */
static void test_not_utf8(void **state)
{
	(void)state;
	got g;
	fetch("/echo", NULL, "\xff\xfe", 0, &g);
	assert_int_equal(g.status, 200);
	json_t *j = body_json(&g);
	assert_true(json_is_null(json_object_get(j, "body")));
	json_decref(j);
	got_free(&g);
	fetch("/nowhere%FF", NULL, NULL, 0, &g);
	assert_int_equal(g.status, 400);
	got_free(&g);
}

static void test_body_limit(void **state)
{
	(void)state;
	size_t n = (8u << 20) + 1;
	char *big = malloc(n + 1);
	assert_non_null(big);
	memset(big, 'b', n);
	big[n] = '\0';
	got g;
	fetch("/echo", NULL, big, 0, &g);
	assert_int_equal(g.status, 413);
	got_free(&g);
	big[n - 1] = '\0'; /* exactly the limit: echoed */
	fetch("/echo", NULL, big, 0, &g);
	assert_int_equal(g.status, 200);
	json_t *j = body_json(&g);
	assert_int_equal(strlen(str_of(j, "body")), n - 1);
	json_decref(j);
	got_free(&g);
	free(big);
}

/* Transfers in flight at once on one curl multi handle. */
enum { MANY_MAX = 64 };
typedef struct many {
	CURLM *m;
	int n, running;
	got g[MANY_MAX];
	CURL *e[MANY_MAX];
	struct curl_slist *hl[MANY_MAX];
} many;

/* Add n transfers, the i-th of path(i), each on its own connection. */
static void many_start(many *x, int n, const char *(*path)(int i))
{
	assert_true(n <= MANY_MAX);
	x->m = curl_multi_init();
	assert_non_null(x->m);
	x->n = x->running = n;
	for (int i = 0; i < n; i++) {
		x->e[i] = easy(path(i), NULL, NULL, 0, &x->g[i], &x->hl[i]);
		curl_easy_setopt(x->e[i], CURLOPT_FRESH_CONNECT, 1L);
		curl_multi_add_handle(x->m, x->e[i]);
	}
}

/* Drive the transfers until s has seen want requests (want > 0) or all
 * are done (want 0), for at most secs seconds. */
static void many_run(many *x, standin *s, uint64_t want, double secs)
{
	double t0 = mt_now();
	while (mt_now() - t0 < secs && x->running &&
	       (!want || standin_requests(s) < want)) {
		curl_multi_perform(x->m, &x->running);
		curl_multi_poll(x->m, NULL, 0, 10, NULL);
	}
}

static void many_free(many *x)
{
	for (int i = 0; i < x->n; i++) {
		curl_multi_remove_handle(x->m, x->e[i]);
		curl_easy_cleanup(x->e[i]);
		curl_slist_free_all(x->hl[i]);
		got_free(&x->g[i]);
	}
	curl_multi_cleanup(x->m);
}

static const char *hold_path(int i)
{
	(void)i;
	return "/hold?ms=500";
}

/* 50 replies held 500 ms at once, and meanwhile an /echo answers at once:
 * the held ones take no thread. */
static void test_hold_does_not_block(void **state)
{
	(void)state;
	enum { HOLDS = 50 };
	many x;
	uint64_t before = standin_requests(srv);
	double t0 = mt_now();
	many_start(&x, HOLDS, hold_path);
	many_run(&x, srv, before + HOLDS, 5);
	assert_int_equal(standin_requests(srv), before + HOLDS);
	got eg;
	fetch("/echo", NULL, NULL, 0, &eg);
	assert_int_equal(eg.status, 200);
	assert_true(eg.secs < 0.1);
	assert_true(mt_now() - t0 < 0.45); /* the holds still held */
	got_free(&eg);
	many_run(&x, srv, 0, 10);
	assert_int_equal(x.running, 0);
	assert_true(mt_now() - t0 >= 0.49);
	CURLMsg *msg;
	int left, done = 0;
	while ((msg = curl_multi_info_read(x.m, &left))) {
		assert_int_equal(msg->data.result, CURLE_OK);
		done++;
	}
	assert_int_equal(done, HOLDS);
	for (int i = 0; i < HOLDS; i++) {
		long status = 0;
		curl_easy_getinfo(x.e[i], CURLINFO_RESPONSE_CODE, &status);
		assert_int_equal(status, 200);
		json_t *j = body_json(&x.g[i]);
		assert_string_equal(str_of(j, "path"), "/hold");
		json_decref(j);
	}
	many_free(&x);
}

static void test_latency(void **state)
{
	(void)state;
	standin *s2;
	standin_opts o = {
	    .seed = 3, .latency_min_ms = 60, .latency_max_ms = 80};
	assert_int_equal(standin_start(&o, &s2), 0);
	char keep[64];
	memcpy(keep, base, sizeof keep);
	standin_base_url(s2, base, sizeof base);
	got g;
	for (int i = 0; i < 3; i++) {
		fetch("/echo", NULL, NULL, 0, &g);
		assert_int_equal(g.status, 200);
		assert_true(g.secs >= 0.059);
		got_free(&g);
	}
	fetch("/stats", NULL, NULL, 0, &g); /* not delayed */
	assert_int_equal(g.status, 200);
	assert_true(g.secs < 0.05);
	got_free(&g);
	memcpy(base, keep, sizeof base);
	standin_stop(s2);
}

static const char *held_path(int i)
{
	return i % 2 ? "/hold?ms=20000" : "/stream?chunks=5&ms=20000";
}

/* A stop while replies are held and streams pause: it returns soon, and
 * the clients see their transfers fail or end, not hang. */
static void test_stop_while_holding(void **state)
{
	(void)state;
	enum { N = 8 };
	standin *s2;
	standin_opts o = {.seed = 1, .threads = 2};
	assert_int_equal(standin_start(&o, &s2), 0);
	char keep[64];
	memcpy(keep, base, sizeof keep);
	standin_base_url(s2, base, sizeof base);
	many x;
	many_start(&x, N, held_path);
	many_run(&x, s2, N, 5);
	assert_int_equal(standin_requests(s2), N);
	many_run(&x, s2, 0, 0.05); /* the streams into their first pause */
	double t1 = mt_now();
	standin_stop(s2);
	assert_true(mt_now() - t1 < 2);
	many_run(&x, NULL, 0, 8); /* s2 is gone: want 0 */
	assert_int_equal(x.running, 0);
	many_free(&x);
	memcpy(base, keep, sizeof base);
}

/* The program of this build: <build>/tests/tools/standin-server, beside
 * <build>/tests/core/test_standin (make test builds it). */
static void server_path(char *buf, size_t cap)
{
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	assert_true(n > 0);
	self[n] = '\0';
	char *slash = strrchr(self, '/');
	assert_non_null(slash);
	*slash = '\0';
	assert_true(snprintf(buf, cap, "%s/../tools/standin-server", self) <
		    (int)cap);
	if (access(buf, X_OK) != 0)
		fail_msg("no program at %s (make test builds it)", buf);
}

/* Start the program with args (NULL-terminated, after argv[0]), its stdout
 * on *out_fd, its stderr on /dev/null when quiet. Returns its pid. */
static pid_t server_spawn(char *const *args, bool quiet, int *out_fd)
{
	char path[4096];
	char *argv[16];
	server_path(path, sizeof path);
	argv[0] = path;
	size_t i = 0;
	for (; args[i] && i < 14; i++)
		argv[i + 1] = args[i];
	argv[i + 1] = NULL;
	int p[2];
	assert_int_equal(pipe(p), 0);
	fflush(stdout);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(p[1], 1);
		if (quiet && !freopen("/dev/null", "w", stderr))
			_exit(126);
		close(p[0]);
		close(p[1]);
		execv(path, argv);
		_exit(127);
	}
	close(p[1]);
	*out_fd = p[0];
	return pid;
}

static void test_program(void **state)
{
	(void)state;
	char port_file[64], line[32] = "", file_line[32] = "";
	snprintf(port_file, sizeof port_file, "/tmp/mnemo-standin-%d.port",
		 (int)getpid());
	remove(port_file);
	char *args[] = {"--seed",      "7",	    "--latency",
			"40:40",       "--threads", "2",
			"--port-file", port_file,   NULL};
	int fd;
	pid_t pid = server_spawn(args, false, &fd);
	/* "PORT\n" on stdout, within 5 s. */
	size_t len = 0;
	double t0 = mt_now();
	while (!memchr(line, '\n', len) && len < sizeof line - 1 &&
	       mt_now() - t0 < 5) {
		struct pollfd pf = {.fd = fd, .events = POLLIN};
		if (poll(&pf, 1, 100) <= 0)
			continue;
		ssize_t n = read(fd, line + len, sizeof line - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		line[len] = '\0';
	}
	close(fd);
	unsigned port = (unsigned)strtoul(line, NULL, 10);
	assert_true(port > 0 && port < 65536);
	FILE *f = fopen(port_file, "r");
	assert_non_null(f);
	assert_non_null(fgets(file_line, sizeof file_line, f));
	fclose(f);
	remove(port_file);
	assert_string_equal(file_line, line);

	char keep[64];
	memcpy(keep, base, sizeof keep);
	snprintf(base, sizeof base, "http://127.0.0.1:%u", port);
	got g;
	fetch("/json?id=abc", "prog-1", NULL, 0, &g);
	assert_int_equal(g.status, 200);
	assert_true(g.secs >= 0.039); /* --latency 40:40 */
	json_t *j = body_json(&g);
	assert_string_equal(str_of(j, "id"), "abc");
	json_decref(j);
	got_free(&g);
	fetch("/stats", NULL, NULL, 0, &g);
	j = body_json(&g);
	assert_int_equal(int_of(j, "requests"), 1);
	assert_int_equal(int_of(json_object_get(j, "keys"), "prog-1"), 1);
	json_decref(j);
	got_free(&g);
	memcpy(base, keep, sizeof base);

	assert_int_equal(kill(pid, SIGTERM), 0);
	assert_int_equal(mt_child_wait(pid, 5), 0);

	char *bad[] = {"--latency", "9:2", NULL};
	pid = server_spawn(bad, true, &fd); /* its usage unseen */
	close(fd);
	assert_int_equal(mt_child_wait(pid, 5), 2);
}

/* ---- /v1/chat/completions ------------------------------------------- */

#define CHAT_PATH "/v1/chat/completions"
#define CHAT_TOOLS                                                             \
	"\"tools\":[{\"type\":\"function\",\"function\":{\"name\":"            \
	"\"lookup_order\"}},{\"type\":\"function\",\"function\":{\"name\":"    \
	"\"track_shipment\"}},{\"type\":\"function\",\"function\":{"           \
	"\"name\":\"request_refund\"}}]"

/* The first choice's message of a completion body. */
static json_t *choice_message(json_t *j)
{
	json_t *c = json_array_get(json_object_get(j, "choices"), 0);
	assert_non_null(c);
	return json_object_get(c, "message");
}

static void test_chat_plain(void **state)
{
	(void)state;
	const char *a = "{\"model\":\"m-1\",\"messages\":[{\"role\":\"user\","
			"\"content\":\"hello there\"}]}";
	const char *b = "{\"messages\":[{\"role\":\"user\","
			"\"content\":\"hello again\"}]}";
	got g;
	fetch(CHAT_PATH, "chat-plain", a, 0, &g);
	assert_int_equal(g.status, 200);
	assert_string_equal(g.type, "application/json");
	json_t *j = body_json(&g);
	got_free(&g);
	assert_string_equal(str_of(j, "object"), "chat.completion");
	assert_string_equal(str_of(j, "model"), "m-1");
	assert_true(strncmp(str_of(j, "id"), "chatcmpl-", 9) == 0);
	json_t *m = choice_message(j);
	assert_string_equal(str_of(m, "role"), "assistant");
	char first[1024];
	snprintf(first, sizeof first, "%s", str_of(m, "content"));
	assert_true(strlen(first) > 10);
	json_t *c = json_array_get(json_object_get(j, "choices"), 0);
	assert_string_equal(str_of(c, "finish_reason"), "stop");
	json_t *u = json_object_get(j, "usage");
	assert_int_equal(int_of(u, "prompt_tokens"), 3 + 2);
	assert_true(int_of(u, "completion_tokens") > 0);
	assert_int_equal(int_of(u, "total_tokens"),
			 int_of(u, "prompt_tokens") +
			     int_of(u, "completion_tokens"));
	json_decref(j);
	/* The same conversation: the same reply; another: another. */
	fetch(CHAT_PATH, "chat-plain-2", a, 0, &g);
	j = body_json(&g);
	got_free(&g);
	assert_string_equal(str_of(choice_message(j), "content"), first);
	json_decref(j);
	fetch(CHAT_PATH, NULL, b, 0, &g);
	j = body_json(&g);
	got_free(&g);
	assert_string_not_equal(str_of(choice_message(j), "content"), first);
	assert_string_equal(str_of(j, "model"), "standin");
	json_decref(j);
	/* Summaries are recognisable. */
	fetch(CHAT_PATH, NULL,
	      "{\"messages\":[{\"role\":\"user\",\"content\":\"Summarize "
	      "the conversation\"}]}",
	      0, &g);
	j = body_json(&g);
	got_free(&g);
	assert_true(
	    strncmp(str_of(choice_message(j), "content"), "Summary:", 8) == 0);
	json_decref(j);
	/* Not a chat request: 400 with an API error object. */
	const char *bad[] = {"{oops", "{\"messages\":[]}", "[1]"};
	for (size_t i = 0; i < 3; i++) {
		fetch(CHAT_PATH, NULL, bad[i], 0, &g);
		assert_int_equal(g.status, 400);
		j = body_json(&g);
		got_free(&g);
		json_t *e = json_object_get(j, "error");
		assert_string_equal(str_of(e, "type"), "invalid_request_error");
		assert_true(strlen(str_of(e, "message")) > 0);
		json_decref(j);
	}
}

/* The tool call of a completion: its name and arguments into the
 * buffers, its id returned in id (cap 64). */
static void tool_call_of(json_t *j, char *id, char *name, char *args)
{
	json_t *c = json_array_get(json_object_get(j, "choices"), 0);
	assert_string_equal(str_of(c, "finish_reason"), "tool_calls");
	json_t *m = json_object_get(c, "message");
	assert_true(json_is_null(json_object_get(m, "content")));
	json_t *t = json_array_get(json_object_get(m, "tool_calls"), 0);
	assert_non_null(t);
	assert_string_equal(str_of(t, "type"), "function");
	snprintf(id, 64, "%s", str_of(t, "id"));
	json_t *f = json_object_get(t, "function");
	snprintf(name, 64, "%s", str_of(f, "name"));
	snprintf(args, 256, "%s", str_of(f, "arguments"));
}

static void test_chat_tools(void **state)
{
	(void)state;
	char body[4096], id[64], name[64], args[256], id2[64];
	const char *user = "{\"role\":\"user\",\"content\":\"where is my "
			   "parcel for order #1234?\"}";
	got g;
	snprintf(body, sizeof body, "{\"messages\":[%s]," CHAT_TOOLS "}", user);
	fetch(CHAT_PATH, NULL, body, 0, &g);
	json_t *j = body_json(&g);
	got_free(&g);
	tool_call_of(j, id, name, args);
	json_decref(j);
	assert_string_equal(name, "lookup_order");
	assert_string_equal(args, "{\"order_id\": \"1234\"}");
	/* Its result: the next tool. */
	snprintf(body, sizeof body,
		 "{\"messages\":[%s,{\"role\":\"assistant\",\"content\":null,"
		 "\"tool_calls\":[{\"id\":\"%s\",\"type\":\"function\","
		 "\"function\":{\"name\":\"lookup_order\",\"arguments\":\"{}\"}"
		 "}]},{\"role\":\"tool\",\"tool_call_id\":\"%s\",\"content\":"
		 "\"order 1234: shipped\"}]," CHAT_TOOLS "}",
		 user, id, id);
	fetch(CHAT_PATH, NULL, body, 0, &g);
	j = body_json(&g);
	got_free(&g);
	tool_call_of(j, id2, name, args);
	json_decref(j);
	assert_string_equal(name, "track_shipment");
	assert_string_not_equal(id2, id);
	/* Both results: the final answer quotes the last. */
	size_t n = strlen(body) - strlen("]," CHAT_TOOLS "}");
	snprintf(body + n, sizeof body - n,
		 ",{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{"
		 "\"id\":\"%s\",\"type\":\"function\",\"function\":{\"name\":"
		 "\"track_shipment\",\"arguments\":\"{}\"}}]},{\"role\":"
		 "\"tool\",\"tool_call_id\":\"%s\",\"content\":\"in transit, "
		 "day 2\"}]," CHAT_TOOLS "}",
		 id2, id2);
	fetch(CHAT_PATH, NULL, body, 0, &g);
	j = body_json(&g);
	got_free(&g);
	json_t *c = json_array_get(json_object_get(j, "choices"), 0);
	assert_string_equal(str_of(c, "finish_reason"), "stop");
	assert_non_null(strstr(str_of(json_object_get(c, "message"), "content"),
			       "in transit, day 2"));
	json_decref(j);
	/* A refund with an amount. */
	fetch(CHAT_PATH, NULL,
	      "{\"messages\":[{\"role\":\"user\",\"content\":\"I want a "
	      "refund of $250 for order 77\"}]," CHAT_TOOLS "}",
	      0, &g);
	j = body_json(&g);
	got_free(&g);
	tool_call_of(j, id, name, args);
	json_decref(j);
	assert_string_equal(name, "request_refund");
	assert_string_equal(args, "{\"order_id\": \"77\", \"amount\": 250}");
	/* Tools not offered, or refused by tool_choice: plain text. */
	const char *plain[] = {
	    "{\"messages\":[{\"role\":\"user\",\"content\":\"status of order "
	    "55\"}]}",
	    "{\"messages\":[{\"role\":\"user\",\"content\":\"status of order "
	    "55\"}]," CHAT_TOOLS ",\"tool_choice\":\"none\"}"};
	for (size_t i = 0; i < 2; i++) {
		fetch(CHAT_PATH, NULL, plain[i], 0, &g);
		j = body_json(&g);
		got_free(&g);
		c = json_array_get(json_object_get(j, "choices"), 0);
		assert_string_equal(str_of(c, "finish_reason"), "stop");
		json_decref(j);
	}
}

/* The events of an SSE body: each "data: " payload in order, as JSON
 * (NULL for [DONE], which must be last). Returns their count. */
static size_t sse_events(const got *g, json_t **ev, size_t cap, int *done)
{
	size_t n = 0;
	*done = 0;
	const char *p = g->body ? g->body : "";
	while (*p) {
		assert_true(strncmp(p, "data: ", 6) == 0);
		const char *e = strstr(p, "\n\n");
		assert_non_null(e);
		assert_false(*done);
		if (strncmp(p + 6, "[DONE]", 6) == 0)
			*done = 1;
		else {
			assert_true(n < cap);
			json_error_t err;
			ev[n] = json_loadb(p + 6, (size_t)(e - p - 6), 0, &err);
			assert_non_null(ev[n]);
			n++;
		}
		p = e + 2;
	}
	return n;
}

static void test_chat_stream(void **state)
{
	(void)state;
	const char *plain = "{\"messages\":[{\"role\":\"user\",\"content\":"
			    "\"tell me more\"}]}";
	const char *streamed =
	    "{\"messages\":[{\"role\":\"user\",\"content\":\"tell me more\"}],"
	    "\"stream\":true,\"stream_options\":{\"include_usage\":true}}";
	got g;
	fetch(CHAT_PATH, NULL, plain, 0, &g);
	json_t *j = body_json(&g);
	got_free(&g);
	char want[1024];
	snprintf(want, sizeof want, "%s", str_of(choice_message(j), "content"));
	json_int_t total = int_of(json_object_get(j, "usage"), "total_tokens");
	json_decref(j);

	fetch(CHAT_PATH "?cadence_ms=20", NULL, streamed, 0, &g);
	assert_int_equal(g.rc, CURLE_OK);
	assert_string_equal(g.type, "text/event-stream");
	json_t *ev[64];
	int done;
	size_t n = sse_events(&g, ev, 64, &done);
	got_free(&g);
	assert_true(done);
	assert_true(n >= 5);
	assert_true(g.secs >= 0.02 * (double)n);
	char text[1024] = "";
	for (size_t i = 0; i + 1 < n; i++) {
		assert_string_equal(str_of(ev[i], "object"),
				    "chat.completion.chunk");
		json_t *c =
		    json_array_get(json_object_get(ev[i], "choices"), 0);
		const char *d = json_string_value(
		    json_object_get(json_object_get(c, "delta"), "content"));
		if (d)
			strncat(text, d, sizeof text - strlen(text) - 1);
		const char *f =
		    json_string_value(json_object_get(c, "finish_reason"));
		assert_true(i + 2 == n ? f && !strcmp(f, "stop") : !f);
	}
	assert_string_equal(text, want);
	/* The last: usage only. */
	assert_int_equal(json_array_size(json_object_get(ev[n - 1], "choices")),
			 0);
	assert_int_equal(
	    int_of(json_object_get(ev[n - 1], "usage"), "total_tokens"), total);
	for (size_t i = 0; i < n; i++)
		json_decref(ev[i]);

	/* A tool call: its arguments in fragments; no usage unasked. */
	fetch(CHAT_PATH, NULL,
	      "{\"messages\":[{\"role\":\"user\",\"content\":\"refund $90 for "
	      "order 4242\"}]," CHAT_TOOLS ",\"stream\":true}",
	      0, &g);
	n = sse_events(&g, ev, 64, &done);
	got_free(&g);
	assert_true(done);
	char args[256] = "";
	size_t frags = 0;
	for (size_t i = 0; i < n; i++) {
		json_t *c =
		    json_array_get(json_object_get(ev[i], "choices"), 0);
		assert_non_null(c);
		json_t *t = json_array_get(
		    json_object_get(json_object_get(c, "delta"), "tool_calls"),
		    0);
		if (t) {
			assert_int_equal(int_of(t, "index"), 0);
			json_t *f = json_object_get(t, "function");
			if (json_object_get(f, "name"))
				assert_string_equal(str_of(f, "name"),
						    "request_refund");
			strncat(args, str_of(f, "arguments"),
				sizeof args - strlen(args) - 1);
			frags++;
		}
		if (i + 1 == n)
			assert_string_equal(str_of(c, "finish_reason"),
					    "tool_calls");
		json_decref(ev[i]);
	}
	assert_string_equal(args, "{\"order_id\": \"4242\", \"amount\": 90}");
	assert_true(frags > 3);
}

static void sum_faults(void *arg, const char *key, uint64_t n, uint64_t faults)
{
	uint64_t *sum = arg;
	(void)key;
	sum[0] += n;
	sum[1] += faults;
}

static void test_chat_faults(void **state)
{
	(void)state;
	const char *body = "{\"messages\":[{\"role\":\"user\",\"content\":"
			   "\"hi\"}],\"stream\":false}";
	got g;
	for (int i = 1; i <= 2; i++) {
		fetch(CHAT_PATH "?fault=429&times=1&retry_after=1", "cf-1",
		      body, 0, &g);
		assert_int_equal(g.status, i == 1 ? 429 : 200);
		assert_string_equal(g.retry_after, i == 1 ? "1" : "");
		json_t *j = body_json(&g);
		got_free(&g);
		if (i == 1) {
			json_t *e = json_object_get(j, "error");
			assert_string_equal(str_of(e, "type"),
					    "rate_limit_exceeded");
			assert_string_equal(str_of(e, "code"),
					    "rate_limit_exceeded");
			assert_true(strlen(str_of(e, "message")) > 0);
		} else
			assert_non_null(choice_message(j));
		json_decref(j);
	}
	assert_int_equal(standin_count(srv, "cf-1"), 2);
	assert_int_equal(standin_faults(srv, "cf-1"), 1);
	for (int i = 1; i <= 3; i++) {
		fetch(CHAT_PATH "?fault=500&times=2", "cf-2", body, 0, &g);
		assert_int_equal(g.status, i <= 2 ? 500 : 200);
		json_t *j = body_json(&g);
		got_free(&g);
		if (i <= 2)
			assert_string_equal(
			    str_of(json_object_get(j, "error"), "type"),
			    "server_error");
		json_decref(j);
	}
	assert_int_equal(standin_faults(srv, "cf-2"), 2);
	/* drop: the body cut, then the stream cut. */
	fetch(CHAT_PATH "?fault=drop&times=1", "cf-3", body, 0, &g);
	assert_int_equal(g.rc, CURLE_PARTIAL_FILE);
	got_free(&g);
	fetch(CHAT_PATH "?fault=drop&times=1", "cf-3", body, 0, &g);
	assert_int_equal(g.rc, CURLE_OK);
	got_free(&g);
	fetch(CHAT_PATH "?fault=drop", NULL,
	      "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
	      "\"stream\":true}",
	      0, &g);
	assert_int_not_equal(g.rc, CURLE_OK);
	assert_null(strstr(g.body ? g.body : "", "[DONE]"));
	got_free(&g);
	/* stall: the client's timeout. */
	fetch(CHAT_PATH "?fault=stall&ms=5000", NULL, body, 300, &g);
	assert_int_equal(g.rc, CURLE_OPERATION_TIMEDOUT);
	assert_int_equal(g.len, 1);
	got_free(&g);
	/* The faults per key, for all keys. */
	uint64_t sum[2] = {0, 0};
	standin_each_key(srv, sum_faults, sum);
	assert_true(sum[1] >= 4);
}

int main(void)
{
	mt_init("core/standin");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_port_and_url, mt_setup),
	    cmocka_unit_test_setup(test_echo_counts, mt_setup),
	    cmocka_unit_test_setup(test_many_keys, mt_setup),
	    cmocka_unit_test_setup(test_stats, mt_setup),
	    cmocka_unit_test_setup(test_json_deterministic, mt_setup),
	    cmocka_unit_test_setup(test_status_per_key, mt_setup),
	    cmocka_unit_test_setup(test_big, mt_setup),
	    cmocka_unit_test_setup(test_drop_mid_body, mt_setup),
	    cmocka_unit_test_setup(test_stream, mt_setup),
	    cmocka_unit_test_setup(test_stream_drop, mt_setup),
	    cmocka_unit_test_setup(test_bad_chunk, mt_setup),
	    cmocka_unit_test_setup(test_stall, mt_setup),
	    cmocka_unit_test_setup(test_notjson_and_not_found, mt_setup),
	    cmocka_unit_test_setup(test_not_utf8, mt_setup),
	    cmocka_unit_test_setup(test_body_limit, mt_setup),
	    cmocka_unit_test_setup(test_hold_does_not_block, mt_setup),
	    cmocka_unit_test_setup(test_latency, mt_setup),
	    cmocka_unit_test_setup(test_stop_while_holding, mt_setup),
	    cmocka_unit_test_setup(test_program, mt_setup),
	    cmocka_unit_test_setup(test_chat_plain, mt_setup),
	    cmocka_unit_test_setup(test_chat_tools, mt_setup),
	    cmocka_unit_test_setup(test_chat_stream, mt_setup),
	    cmocka_unit_test_setup(test_chat_faults, mt_setup),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
