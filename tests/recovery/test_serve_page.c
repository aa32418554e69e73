/*
 * test_serve_page.c - the operator page of `mnemo serve`
 * (recovery/serve_page.c, the files of recovery/page/ embedded by
 * scripts/embed-page): the tool as a child process (mt_serve_spawn) with
 * the kind "tally" (tests/recovery/plugin_serve.c built into a plugin), on
 * 127.0.0.1 port 0 (learnt from --port-file), stopped by SIGTERM.
 *
 * GET / is 200 text/html with the Content-Security-Policy, nosniff and an
 * ETag, and its scripts are files (no inline script); app.js and style.css
 * have their types and are the bytes of recovery/page/; If-None-Match with
 * the ETag is 304 (weak, in a list, "*"), another tag 200; an unknown path
 * is still 404 and POST / 405; the page needs no token while /v1 still
 * does; /metrics counts the route "page".
 */
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tests/support/support.h"

#define TOKEN "page-test-token"

static char dir[256], store[300], plugin[300], logf_[300];
static unsigned port;
static pid_t child = -1;

static int group_setup(void **unused)
{
	(void)unused;
	mt_tmpdir(dir, sizeof dir, "serve-page");
	snprintf(plugin, sizeof plugin, "%s/tally.so", dir);
	if (mt_build_plugin("tests/recovery/plugin_serve.c", plugin))
		return -1;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	child = mt_serve_in(dir, plugin, TOKEN, "2", "1", store, logf_,
			    sizeof store, &port);
	return 0;
}

static int group_teardown(void **unused)
{
	(void)unused;
	/* A drain and a clean close: exit 0. */
	int st = child > 0 ? mt_serve_stop(child) : 0;
	curl_global_cleanup();
	mt_rmrf(dir);
	return st == 0 ? 0 : -1;
}

/* ---- HTTP: status, every header, body ------------------------------------ */

typedef struct page_resp {
	long status;
	char headers[8192];
	size_t hlen;
	char *body;
	size_t len;
} page_resp;

static size_t keep_body(char *p, size_t size, size_t n, void *arg)
{
	page_resp *r = arg;
	size_t len = size * n;
	char *b = realloc(r->body, r->len + len + 1);
	if (!b)
		return 0;
	memcpy(b + r->len, p, len);
	r->body = b;
	r->len += len;
	b[r->len] = 0;
	return len;
}

static size_t keep_header(char *p, size_t size, size_t n, void *arg)
{
	page_resp *r = arg;
	size_t len = size * n, room = sizeof r->headers - 1 - r->hlen;
	if (len > room)
		len = room;
	memcpy(r->headers + r->hlen, p, len);
	r->hlen += len;
	r->headers[r->hlen] = 0;
	return size * n;
}

/* method path, with an optional extra header and the token (or not). */
static void request(page_resp *r, const char *method, const char *path,
		    const char *header, bool with_token)
{
	char url[512];
	CURL *h = curl_easy_init();
	struct curl_slist *hs = NULL;
	assert_non_null(h);
	free(r->body);
	memset(r, 0, sizeof *r);
	snprintf(url, sizeof url, "http://127.0.0.1:%u%s", port, path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, keep_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, keep_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
	if (header)
		hs = curl_slist_append(hs, header);
	if (with_token)
		hs = curl_slist_append(hs, "Authorization: Bearer " TOKEN);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hs);
	if (curl_easy_perform(h) == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
	else
		r->status = -1;
	curl_slist_free_all(hs);
	curl_easy_cleanup(h);
}

/* The value of header name in r (its first occurrence), or "". */
static const char *header_of(const page_resp *r, const char *name, char *buf,
			     size_t cap)
{
	size_t n = strlen(name);
	buf[0] = 0;
	for (const char *p = r->headers; *p; p = strchr(p, '\n') + 1) {
		if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
			const char *v = p + n + 1;
			v += strspn(v, " ");
			size_t vl = strcspn(v, "\r\n");
			snprintf(buf, cap, "%.*s",
				 (int)(vl < cap ? vl : cap - 1), v);
			break;
		}
		if (!strchr(p, '\n'))
			break;
	}
	return buf;
}

static void expect_header(const page_resp *r, const char *name,
			  const char *needle)
{
	char v[1024];
	header_of(r, name, v, sizeof v);
	if (!strstr(v, needle))
		fail_msg("%s is '%s', expected '%s' in it", name, v, needle);
}

/* The bytes of a file (malloc'd, NUL-terminated), or NULL. */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *text = NULL;
	size_t cap = 0;
	ssize_t n = getdelim(&text, &cap, '\0', f);
	fclose(f);
	*len = n < 0 ? 0 : (size_t)n;
	return text;
}

/* ---- tests --------------------------------------------------------------- */

static void test_index(void **unused)
{
	(void)unused;
	page_resp r = {0};
	char csp[1024];
	for (int i = 0; i < 2; i++) {
		request(&r, "GET", i ? "/index.html" : "/", NULL, false);
		assert_int_equal(r.status, 200);
		expect_header(&r, "Content-Type", "text/html");
		expect_header(&r, "X-Content-Type-Options", "nosniff");
		expect_header(&r, "ETag", "\"");
		expect_header(&r, "Cache-Control", "no-cache");
		header_of(&r, "Content-Security-Policy", csp, sizeof csp);
		assert_non_null(strstr(csp, "default-src 'none'"));
		assert_non_null(strstr(csp, "script-src 'self'"));
		assert_non_null(strstr(csp, "frame-ancestors 'none'"));
		assert_non_null(
		    strstr(csp, "require-trusted-types-for 'script'"));
		assert_null(strstr(csp, "unsafe"));
		assert_non_null(strstr(r.body, "<script src=\"/app.js\""));
		/* Every script is a file: no inline code, no handlers. */
		for (const char *p = r.body; (p = strstr(p, "<script")); p++)
			assert_int_equal(strncmp(p, "<script src=", 12), 0);
		assert_null(strstr(r.body, "onclick"));
		assert_null(strstr(r.body, "style=\""));
	}
	/* HEAD: the headers without the body. */
	request(&r, "HEAD", "/", NULL, false);
	assert_int_equal(r.status, 200);
	expect_header(&r, "Content-Type", "text/html");
	assert_int_equal(r.len, 0);
	free(r.body);
}

static void test_assets(void **unused)
{
	(void)unused;
	static const struct {
		const char *path, *file, *type;
	} files[] = {
	    {"/app.js", "recovery/page/app.js", "text/javascript"},
	    {"/style.css", "recovery/page/style.css", "text/css"},
	    {"/", "recovery/page/index.html", "text/html"},
	};
	page_resp r = {0};
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		request(&r, "GET", files[i].path, NULL, false);
		assert_int_equal(r.status, 200);
		expect_header(&r, "Content-Type", files[i].type);
		expect_header(&r, "Content-Security-Policy", "script-src");
		expect_header(&r, "X-Content-Type-Options", "nosniff");
		/* The bytes built in are the file's. */
		size_t len;
		char *want = slurp(files[i].file, &len);
		assert_non_null(want);
		assert_int_equal(r.len, len);
		assert_memory_equal(r.body, want, len);
		free(want);
	}
	free(r.body);
}

static void test_etag(void **unused)
{
	(void)unused;
	page_resp r = {0};
	char etag[128], h[300];
	request(&r, "GET", "/app.js", NULL, false);
	assert_int_equal(r.status, 200);
	header_of(&r, "ETag", etag, sizeof etag);
	assert_true(strlen(etag) > 2 && etag[0] == '"');

	snprintf(h, sizeof h, "If-None-Match: %s", etag);
	request(&r, "GET", "/app.js", h, false);
	assert_int_equal(r.status, 304);
	assert_int_equal(r.len, 0);
	expect_header(&r, "ETag", etag);
	snprintf(h, sizeof h, "If-None-Match: \"other\", W/%s", etag);
	request(&r, "GET", "/app.js", h, false);
	assert_int_equal(r.status, 304);
	request(&r, "GET", "/app.js", "If-None-Match: *", false);
	assert_int_equal(r.status, 304);
	request(&r, "GET", "/app.js", "If-None-Match: \"other\"", false);
	assert_int_equal(r.status, 200);
	assert_true(r.len > 0);
	/* Each file has its own tag. */
	request(&r, "GET", "/style.css", h, false);
	assert_int_equal(r.status, 200);
	free(r.body);
}

static void test_unknown(void **unused)
{
	(void)unused;
	page_resp r = {0};
	static const char *const paths[] = {"/foo", "/app.jsx", "/ui",
					    "/style.css/x", "//"};
	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		request(&r, "GET", paths[i], NULL, false);
		if (r.status != 404)
			fail_msg("%s: %ld", paths[i], r.status);
		expect_header(&r, "Content-Type", "application/json");
		assert_non_null(strstr(r.body, "no such route"));
	}
	request(&r, "POST", "/", NULL, false);
	assert_int_equal(r.status, 405);
	expect_header(&r, "Allow", "GET");
	free(r.body);
}

static void test_token(void **unused)
{
	(void)unused;
	page_resp r = {0};
	/* The page: no token needed (and a token changes nothing). */
	request(&r, "GET", "/", NULL, false);
	assert_int_equal(r.status, 200);
	request(&r, "GET", "/", NULL, true);
	assert_int_equal(r.status, 200);
	/* What it calls: still behind the token. */
	request(&r, "GET", "/v1/actors", NULL, false);
	assert_int_equal(r.status, 401);
	request(&r, "GET", "/v1/actors", "Authorization: Bearer nope", false);
	assert_int_equal(r.status, 401);
	request(&r, "GET", "/v1/actors", NULL, true);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "\"actors\""));
	free(r.body);
}

static void test_metrics(void **unused)
{
	(void)unused;
	page_resp r = {0};
	request(&r, "GET", "/metrics", NULL, false);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body,
			       "mnemo_http_requests_total{route=\"page\","
			       "code=\"200\"}"));
	assert_non_null(strstr(r.body,
			       "mnemo_http_requests_total{route=\"page\","
			       "code=\"304\"}"));
	free(r.body);
}

int main(void)
{
	mt_init("recovery/serve_page");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_index), cmocka_unit_test(test_assets),
	    cmocka_unit_test(test_etag),  cmocka_unit_test(test_unknown),
	    cmocka_unit_test(test_token), cmocka_unit_test(test_metrics),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
