/*
 * test_serve.c - `mnemo serve` (recovery/cmd_serve.c, serve_api.c,
 * serve_obs.c) as a child process on 127.0.0.1 (port 0, learnt from
 * --port-file), with the kind "tally" (tests/recovery/plugin_serve.c,
 * built into a plugin at run time), driven with libcurl.
 *
 * Every route's round trip; auth refused without a token and with a wrong
 * one; each bad input its 4xx with a JSON error; an ask answered and one
 * timing out (504); an idempotent retry (one message; another payload
 * under the same key: 409); /metrics checked by promtool when it is
 * installed; and SIGTERM while durable sends run: exit 0, and after a
 * reopen every message acknowledged with 201 was handled exactly once.
 */
#include <curl/curl.h>
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

#define TOKEN "t0k3n-for-tests"

static int group_setup(void **unused)
{
	(void)unused;
	return serve_setup("serve", "# tokens\nanother-token\n" TOKEN "\n",
			   "--max-asks", "4");
}

static int group_teardown(void **unused)
{
	(void)unused;
	return serve_teardown();
}

/* ---- HTTP ---------------------------------------------------------------- */

typedef struct resp {
	long status;
	char body[1 << 16];
	size_t len;
	char retry_after[16];
} resp;

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	resp *r = arg;
	size_t len = size * n, room = sizeof r->body - 1 - r->len;
	memcpy(r->body + r->len, p, len < room ? len : room);
	r->len += len < room ? len : room;
	r->body[r->len] = 0;
	return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	resp *r = arg;
	size_t len = size * n;
	if (len > 13 && strncasecmp(p, "Retry-After: ", 13) == 0)
		snprintf(r->retry_after, sizeof r->retry_after, "%.*s",
			 len >= 15 ? (int)(len - 15) : 0, p + 13);
	return len;
}

/* One request: method, path (with query), token (NULL: none), an extra
 * header (or NULL), a body (or NULL). Returns the status. */
static long http(resp *r, const char *method, const char *path,
		 const char *token, const char *header, const char *body,
		 size_t body_len)
{
	char url[2048], auth[256];
	CURL *h = curl_easy_init();
	struct curl_slist *hs = NULL;
	assert_non_null(h);
	memset(r, 0, sizeof *r);
	snprintf(url, sizeof url, "http://127.0.0.1:%u%s", port, path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
	if (token) {
		snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
		hs = curl_slist_append(hs, auth);
	}
	if (header)
		hs = curl_slist_append(hs, header);
	hs = curl_slist_append(hs, "Content-Type: application/json");
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hs);
	if (body) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)body_len);
	}
	CURLcode rc = curl_easy_perform(h);
	if (rc == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
	else
		r->status = -1;
	curl_slist_free_all(hs);
	curl_easy_cleanup(h);
	return r->status;
}

static long post(resp *r, const char *path, const char *header,
		 const char *body)
{
	return http(r, "POST", path, TOKEN, header, body, strlen(body));
}

static long get(resp *r, const char *path)
{
	return http(r, "GET", path, TOKEN, NULL, NULL, 0);
}

#define expect_status(r, want)                                                 \
	do {                                                                   \
		if ((r)->status != (want))                                     \
			fail_msg("status %ld, expected %d: %s", (r)->status,   \
				 (want), (r)->body);                           \
	} while (0)

#define expect_body(r, needle)                                                 \
	do {                                                                   \
		if (!strstr((r)->body, (needle)))                              \
			fail_msg("no '%s' in: %s", (needle), (r)->body);       \
	} while (0)

/* ---- tests --------------------------------------------------------------- */

static void test_health(void **unused)
{
	(void)unused;
	resp r;
	http(&r, "GET", "/healthz", NULL, NULL, NULL, 0);
	expect_status(&r, 200);
	http(&r, "GET", "/readyz", NULL, NULL, NULL, 0);
	expect_status(&r, 200);
	expect_body(&r, "\"ready\"");
}

static void test_auth(void **unused)
{
	(void)unused;
	resp r;
	http(&r, "GET", "/v1/actors", NULL, NULL, NULL, 0);
	expect_status(&r, 401);
	expect_body(&r, "\"error\"");
	http(&r, "GET", "/v1/actors", "wrong", NULL, NULL, 0);
	expect_status(&r, 401);
	http(&r, "GET", "/v1/actors", TOKEN "x", NULL, NULL, 0);
	expect_status(&r, 401);
	http(&r, "POST", "/v1/actors/tally/a/messages", "another-toke", NULL,
	     "{\"type\":1}", 10);
	expect_status(&r, 401);
	/* The second token of the file works too. */
	http(&r, "GET", "/v1/actors", "another-token", NULL, NULL, 0);
	expect_status(&r, 200);
	/* Tokens are never logged. */
	FILE *f = fopen(logf_, "r");
	assert_non_null(f);
	char line[4096];
	while (fgets(line, sizeof line, f))
		assert_null(strstr(line, "t0k3n"));
	fclose(f);
}

static void test_messages_and_view(void **unused)
{
	(void)unused;
	resp r;
	/* "7" as base64, then as JSON, then stored. */
	post(&r, "/v1/actors/tally/m1/messages", NULL,
	     "{\"type\":1,\"payload\":\"Nw==\"}");
	expect_status(&r, 202);
	expect_body(&r, "\"accepted\":true");
	post(&r, "/v1/actors/tally/m1/messages", NULL,
	     "{\"type\":1,\"json\":8}");
	expect_status(&r, 202);
	post(&r, "/v1/actors/tally/m1/messages?durable=1", NULL,
	     "{\"type\":1,\"json\":9}");
	expect_status(&r, 201);
	/* The ask comes after the three: the actor's reply counts them. */
	post(&r, "/v1/actors/tally/m1/ask?timeout_ms=5000", NULL,
	     "{\"type\":2}");
	expect_status(&r, 200);
	expect_body(&r, "\"json\":{\"count\":3}");
	expect_body(&r, "\"payload_base64\":\"eyJjb3VudCI6M30=\"");
	get(&r, "/v1/actors/tally/m1");
	expect_status(&r, 200);
	expect_body(&r, "\"state_json\":{\"count\":3,\"dups\":0");
	expect_body(&r, "\"seq\":4");
	expect_body(&r, "\"kind\":\"tally\"");
	/* A key as hex: 0x6d31 is "m1". */
	get(&r, "/v1/actors/tally/0x6d31");
	expect_status(&r, 200);
	expect_body(&r, "\"key\":\"m1\"");
	get(&r, "/v1/actors/tally/never-seen");
	expect_status(&r, 404);
	expect_body(&r, "MN_ENOACTOR");
}

static void test_list(void **unused)
{
	(void)unused;
	resp r;
	char path[128];
	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof path, "/v1/actors/tally/list%d/ask", i);
		/* A reply is released after its commit: the actor is then
		 * in the store. */
		post(&r, path, NULL, "{\"type\":2}");
		expect_status(&r, 200);
	}
	/* Pages of 2 until "next" is null, bounded. */
	unsigned seen = 0, pages = 0;
	char after[32] = "0";
	for (; pages < 50; pages++) {
		snprintf(path, sizeof path,
			 "/v1/actors?kind=tally&limit=2&after=%s", after);
		get(&r, path);
		expect_status(&r, 200);
		for (const char *p = r.body; (p = strstr(p, "\"address\""));
		     p++)
			seen++;
		const char *n = strstr(r.body, "\"next\":");
		assert_non_null(n);
		if (strncmp(n + 7, "null", 4) == 0)
			break;
		snprintf(after, sizeof after, "%ld", strtol(n + 7, NULL, 10));
	}
	assert_true(seen >= 3);
	assert_true(pages >= 1);
	get(&r, "/v1/actors?kind=nosuch");
	expect_status(&r, 200);
	expect_body(&r, "\"actors\":[]");
	get(&r, "/v1/actors?limit=0");
	expect_status(&r, 400);
}

static void test_bad_inputs(void **unused)
{
	(void)unused;
	resp r;
	post(&r, "/v1/actors/tally/b/messages", NULL, "{not json");
	expect_status(&r, 400);
	expect_body(&r, "\"code\":\"MN_EINVAL\"");
	post(&r, "/v1/actors/tally/b/messages", NULL, "[1]");
	expect_status(&r, 400);
	post(&r, "/v1/actors/tally/b/messages", NULL, "{\"type\":-1}");
	expect_status(&r, 400);
	post(&r, "/v1/actors/tally/b/messages", NULL,
	     "{\"type\":1,\"payload\":\"@@@\"}");
	expect_status(&r, 400);
	post(&r, "/v1/actors/nokind/b/messages", NULL, "{\"type\":1}");
	expect_status(&r, 404);
	expect_body(&r, "MN_ENOKIND");
	char path[400], longkey[301];
	memset(longkey, 'k', 300);
	longkey[300] = 0;
	snprintf(path, sizeof path, "/v1/actors/tally/%s/messages", longkey);
	post(&r, path, NULL, "{\"type\":1}");
	expect_status(&r, 400);
	expect_body(&r, "MN_EKEY");
	post(&r, "/v1/actors/tally/b/nothing", NULL, "{\"type\":1}");
	expect_status(&r, 404);
	get(&r, "/v2/x");
	expect_status(&r, 404);
	get(&r, "/v1/actors/tally/b/messages");
	expect_status(&r, 405);
	http(&r, "DELETE", "/v1/actors/tally/b", TOKEN, NULL, NULL, 0);
	expect_status(&r, 405);
	post(&r, "/v1/actors/tally/b/ask?timeout_ms=x", NULL, "{\"type\":2}");
	expect_status(&r, 400);

	/* A payload over 1 MiB (as base64), and a body over the limit. */
	size_t n = (1u << 20) + 3, blen = (n + 2) / 3 * 4;
	char *big = malloc(blen + 64);
	assert_non_null(big);
	int h = sprintf(big, "{\"type\":1,\"payload\":\"");
	memset(big + h, 'A', blen);
	strcpy(big + h + blen, "\"}");
	post(&r, "/v1/actors/tally/b/messages", NULL, big);
	expect_status(&r, 413);
	expect_body(&r, "MN_ETOOBIG");
	free(big);
	size_t over = 3u << 20;
	big = malloc(over);
	assert_non_null(big);
	memset(big, ' ', over);
	http(&r, "POST", "/v1/actors/tally/b/messages", TOKEN, NULL, big, over);
	expect_status(&r, 413);
	free(big);
	/* Still serving. */
	http(&r, "GET", "/healthz", NULL, NULL, NULL, 0);
	expect_status(&r, 200);
}

static void test_ask_timeout(void **unused)
{
	(void)unused;
	resp r;
	double t0 = mt_now();
	post(&r, "/v1/actors/tally/silent/ask?timeout_ms=200", NULL,
	     "{\"type\":3}");
	expect_status(&r, 504);
	expect_body(&r, "MN_ETIMEDOUT");
	assert_true(mt_now() - t0 < 5.0);
}

static void test_idempotent(void **unused)
{
	(void)unused;
	resp r;
	const char *k = "Idempotency-Key: order-17";
	post(&r, "/v1/actors/tally/idem/messages", k,
	     "{\"type\":1,\"json\":5}");
	expect_status(&r, 201);
	post(&r, "/v1/actors/tally/idem/messages", k,
	     "{\"type\":1,\"json\":5}");
	expect_status(&r, 200);
	expect_body(&r, "\"repeat\":true");
	post(&r, "/v1/actors/tally/idem/messages", k,
	     "{\"type\":1,\"json\":6}");
	expect_status(&r, 409);
	expect_body(&r, "MN_ECONFLICT");
	post(&r, "/v1/actors/tally/idem/ask", NULL, "{\"type\":2}");
	expect_status(&r, 200);
	expect_body(&r, "{\"count\":1}");
}

static void test_metrics(void **unused)
{
	(void)unused;
	resp r;
	http(&r, "GET", "/metrics", NULL, NULL, NULL, 0);
	expect_status(&r, 200);
	expect_body(&r, "mnemo_http_requests_total{route=\"messages\","
			"code=\"202\"}");
	expect_body(&r,
		    "mnemo_http_requests_total{route=\"ask\",code=\"504\"}");
	expect_body(&r,
		    "mnemo_http_request_duration_seconds_bucket{le=\"+Inf\"}");
	expect_body(&r, "mnemo_messages_processed_total ");
	expect_body(&r, "mnemo_commit_groups_total ");
	expect_body(&r, "mnemo_actors_persisted ");
	expect_body(&r, "mnemo_outbox_depth ");
	expect_body(&r, "mnemo_timers_pending ");
	expect_body(&r, "mnemo_rehydration_duration_seconds_count ");
	expect_body(&r, "mnemo_commit_group_duration_seconds_bucket{le=");
	expect_body(&r, "mnemo_commit_group_records_bucket{le=\"+Inf\"}");
	if (system("command -v promtool >/dev/null 2>&1") != 0) {
		print_message("promtool not installed: format not checked\n");
		return;
	}
	char path[400], cmd[900];
	snprintf(path, sizeof path, "%s/metrics.txt", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fwrite(r.body, 1, r.len, f);
	fclose(f);
	snprintf(cmd, sizeof cmd, "promtool check metrics < '%s'", path);
	assert_int_equal(system(cmd), 0);
}

/* ---- backpressure ------------------------------------------------------- */

static void *silent_ask(void *arg)
{
	resp *r = malloc(sizeof *r);
	(void)arg;
	post(r, "/v1/actors/tally/busy/ask?timeout_ms=1500", NULL,
	     "{\"type\":3}");
	long st = r->status;
	free(r);
	return (void *)(intptr_t)st;
}

static void test_busy(void **unused)
{
	(void)unused;
	pthread_t th[4];
	resp r;
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, silent_ask, NULL),
				 0);
	/* The four wait (bounded: 5 s), then a fifth is refused. */
	for (int i = 0; i < 500; i++) {
		http(&r, "GET", "/metrics", NULL, NULL, NULL, 0);
		if (strstr(r.body, "mnemo_serve_waiting_requests 4\n"))
			break;
		mt_sleep_ms(10);
	}
	expect_body(&r, "mnemo_serve_waiting_requests 4\n");
	post(&r, "/v1/actors/tally/busy/ask", NULL, "{\"type\":2}");
	expect_status(&r, 429);
	assert_string_equal(r.retry_after, "1");
	post(&r, "/v1/actors/tally/busy/messages?durable=1", NULL,
	     "{\"type\":1}");
	expect_status(&r, 429);
	/* Fire-and-forget does not wait: still accepted. */
	post(&r, "/v1/actors/tally/busy/messages", NULL, "{\"type\":1}");
	expect_status(&r, 202);
	for (int i = 0; i < 4; i++) {
		void *st;
		pthread_join(th[i], &st);
		assert_int_equal((intptr_t)st, 504);
	}
	post(&r, "/v1/actors/tally/busy/ask", NULL, "{\"type\":2}");
	expect_status(&r, 200);
}

/* ---- SIGTERM with durable sends in flight -------------------------------- */

#define DRAIN_THREADS 3
#define DRAIN_EACH    100

static _Atomic int acked[DRAIN_THREADS * DRAIN_EACH];

static void *sender(void *arg)
{
	unsigned t = (unsigned)(uintptr_t)arg;
	resp *r = malloc(sizeof *r);
	char body[64];
	for (unsigned i = 0; i < DRAIN_EACH; i++) {
		unsigned id = t * DRAIN_EACH + i;
		snprintf(body, sizeof body, "{\"type\":1,\"json\":%u}", id);
		long st = post(r, "/v1/actors/tally/drain/messages?durable=1",
			       NULL, body);
		if (st == 201)
			acked[id] = 1;
		else if (st == 503 || st < 0)
			break; /* draining, or gone */
		else
			fail_msg("durable send: status %ld", st);
	}
	free(r);
	return NULL;
}

static void test_drain(void **unused)
{
	(void)unused;
	pthread_t th[DRAIN_THREADS];
	for (unsigned t = 0; t < DRAIN_THREADS; t++)
		assert_int_equal(
		    pthread_create(&th[t], NULL, sender, (void *)(uintptr_t)t),
		    0);
	/* Let some land, then SIGTERM while the senders run. */
	for (int i = 0; i < 500 && !acked[DRAIN_EACH * 0 + 5]; i++)
		mt_sleep_ms(2);
	int st = stop_server();
	for (unsigned t = 0; t < DRAIN_THREADS; t++)
		pthread_join(th[t], NULL);
	assert_int_equal(st, 0);

	unsigned n = 0;
	for (unsigned i = 0; i < DRAIN_THREADS * DRAIN_EACH; i++)
		n += (unsigned)acked[i];
	assert_true(n > 0);

	/* Reopen: every acknowledged id handled exactly once. */
	mn_runtime_opts o = MN_RUNTIME_OPTS_INIT;
	o.store_path = store;
	o.workers = 1;
	mn_runtime *rt;
	assert_rc(mn_runtime_open(&o, &rt), 0);
	mn_kind *k;
	assert_rc(mn_kind_register(rt, &tally_kinds[0], &k), 0);
	mt_drain(rt);
	char *text = NULL;
	assert_rc(mn_actor_view(rt, k, "drain", 5, 5000, &text, NULL), 0);
	const char *ids = strstr(text, "\"ids\":\"");
	assert_non_null(ids);
	ids += 7;
	assert_non_null(strstr(text, "\"dups\":0,"));
	for (unsigned i = 0; i < DRAIN_THREADS * DRAIN_EACH; i++) {
		unsigned byte;
		sscanf(ids + 2 * (i / 8), "%2x", &byte);
		if (acked[i] && !(byte & (1u << (i % 8))))
			fail_msg("message %u acknowledged, not handled: %s", i,
				 text);
	}
	unsigned long long count =
	    strtoull(strstr(text, "\"count\":") + 8, NULL, 10);
	assert_true(count >= n);
	print_message("drain: %u acknowledged, %llu handled\n", n, count);
	free(text);
	mn_runtime_close(rt);
}

int main(void)
{
	mt_init("recovery/serve");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_health),
	    cmocka_unit_test(test_auth),
	    cmocka_unit_test(test_messages_and_view),
	    cmocka_unit_test(test_list),
	    cmocka_unit_test(test_bad_inputs),
	    cmocka_unit_test(test_ask_timeout),
	    cmocka_unit_test(test_idempotent),
	    cmocka_unit_test(test_metrics),
	    cmocka_unit_test(test_busy),
	    cmocka_unit_test(test_drain),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
