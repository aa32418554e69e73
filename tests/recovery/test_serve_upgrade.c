/*
 * test_serve_upgrade.c - the hot upgrade of `mnemo serve` (docs/serve.md,
 * docs/upgrades.md): the tool as a child process (mt_serve_spawn) hosting
 * the kind "meter" of tests/recovery/plugin_hot.c, built in three
 * versions into the plugin's directory.
 *
 * With durable messages sent from a thread all along: POST
 * /v1/admin/upgrade with the diverging version is refused (409, the check
 * names the kind, nothing changes: version 1 still answers); with version
 * 2 it is done (200, "upgraded"), and then every actor answers as version
 * 2 with exactly the count and sum of every message acknowledged (201),
 * before and after the swap. SIGUSR2 loads --plugin's file again (replaced
 * in place by version 2: a no-op swap, logged). A path outside the
 * plugin's directory, bad bodies and a wrong method are refused.
 */
#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/support.h"

#define TOKEN "upgrade-test-token"
#define NACT  8

static char dir[256], store[300], plugin[300], v2[300], diverge[300],
    logf_[300];
static unsigned port;
static pid_t child = -1;

/* ---- HTTP ------------------------------------------------------------- */

typedef struct resp {
	long status;
	char body[65536];
	size_t len;
} resp;

static size_t keep(char *p, size_t size, size_t n, void *arg)
{
	resp *r = arg;
	size_t k = size * n;
	if (r->len + k < sizeof r->body) {
		memcpy(r->body + r->len, p, k);
		r->len += k;
		r->body[r->len] = 0;
	}
	return k;
}

static void http(resp *r, const char *method, const char *path,
		 const char *body)
{
	char url[512];
	snprintf(url, sizeof url, "http://127.0.0.1:%u%s", port, path);
	memset(r, 0, sizeof *r);
	CURL *c = curl_easy_init();
	assert_non_null(c);
	struct curl_slist *h =
	    curl_slist_append(NULL, "Authorization: Bearer " TOKEN);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (body)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, keep);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	CURLcode rc = curl_easy_perform(c);
	if (rc != CURLE_OK)
		fail_msg("%s %s: %s", method, path, curl_easy_strerror(rc));
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
}

/* ---- the traffic and its model ---------------------------------------- */

static uint64_t want_count[NACT], want_sum[NACT];
static _Atomic int stop_traffic;
static _Atomic uint64_t acked;

static void send_one(unsigned a, uint64_t v)
{
	char path[128], body[96];
	resp r;
	snprintf(path, sizeof path, "/v1/actors/meter/m%u/messages?durable=1",
		 a);
	snprintf(body, sizeof body, "{\"type\":1,\"payload\":\"%s\"}",
		 v % 3 == 0   ? "Mw=="
		 : v % 3 == 1 ? "MQ=="
			      : "Mg==");
	http(&r, "POST", path, body);
	if (r.status != 201)
		fail_msg("POST %s: %ld %s", path, r.status, r.body);
	want_count[a]++;
	want_sum[a] += v % 3 == 0 ? 3 : v % 3;
	atomic_fetch_add(&acked, 1);
}

static void *traffic(void *unused)
{
	(void)unused;
	for (uint64_t v = 0; !atomic_load(&stop_traffic) && v < 100000; v++)
		send_one((unsigned)(v % NACT), v);
	return NULL;
}

/* Every actor's state: as the model says, answered by version ver. */
static void expect_states(int ver)
{
	for (unsigned a = 0; a < NACT; a++) {
		char path[96], want[128];
		resp r;
		snprintf(path, sizeof path, "/v1/actors/meter/m%u", a);
		http(&r, "GET", path, NULL);
		assert_int_equal(r.status, 200);
		snprintf(
		    want, sizeof want,
		    "\"state_json\":{\"count\":%llu,\"sum\":%llu,\"v\":%d}",
		    (unsigned long long)want_count[a],
		    (unsigned long long)want_sum[a], ver);
		if (!strstr(r.body, want))
			fail_msg("%s: want %s in\n%s", path, want, r.body);
	}
}

static void build(const char *out, const char *defs)
{
	if (mt_build_plugin_with("tests/recovery/plugin_hot.c", out, defs))
		fail_msg("building %s failed", out);
}

static int group_setup(void **unused)
{
	(void)unused;
	mt_tmpdir(dir, sizeof dir, "serve-upgrade");
	snprintf(plugin, sizeof plugin, "%s/meter.so", dir);
	snprintf(v2, sizeof v2, "%s/meter-v2.so", dir);
	snprintf(diverge, sizeof diverge, "%s/meter-diverge.so", dir);
	build(plugin, "");
	build(v2, "-DMN_PLUGIN_V2");
	build(diverge, "-DMN_PLUGIN_DIVERGE");
	curl_global_init(CURL_GLOBAL_DEFAULT);
	child = mt_serve_in(dir, plugin, TOKEN, "4", "2", store, logf_,
			    sizeof store, &port);
	return 0;
}

static int group_teardown(void **unused)
{
	(void)unused;
	int st = child > 0 ? mt_serve_stop(child) : 0;
	curl_global_cleanup();
	mt_rmrf(dir);
	return st == 0 ? 0 : -1;
}

static void test_refused_then_done_under_traffic(void **unused)
{
	(void)unused;
	for (uint64_t v = 0; v < 6 * NACT; v++)
		send_one((unsigned)(v % NACT), v);
	expect_states(1);

	pthread_t th;
	atomic_store(&stop_traffic, 0);
	assert_int_equal(pthread_create(&th, NULL, traffic, NULL), 0);
	char body[512];
	resp r;
	snprintf(body, sizeof body, "{\"plugin\":\"%s\",\"sample\":20}",
		 diverge);
	http(&r, "POST", "/v1/admin/upgrade", body);
	if (r.status != 409)
		fail_msg("diverging upgrade: %ld %s", r.status, r.body);
	assert_non_null(strstr(r.body, "\"kind\":\"meter\""));
	assert_non_null(strstr(r.body, "\"action\":\"refused\""));
	assert_non_null(strstr(r.body, "\"diverged\":"));

	uint64_t before = atomic_load(&acked);
	snprintf(body, sizeof body, "{\"plugin\":\"%s\",\"sample\":20}", v2);
	http(&r, "POST", "/v1/admin/upgrade", body);
	if (r.status != 200)
		fail_msg("upgrade: %ld %s", r.status, r.body);
	assert_non_null(strstr(r.body, "\"done\":\"upgraded\""));
	/* Let traffic run on the new code a while, then stop it. */
	while (atomic_load(&acked) < before + 4 * NACT)
		mt_sleep_ms(5);
	atomic_store(&stop_traffic, 1);
	pthread_join(th, NULL);
	print_message("# serve upgrade: %llu messages acknowledged, the swap "
		      "among them\n",
		      (unsigned long long)atomic_load(&acked));
	expect_states(2);

	/* The diverging code is refused as being meant to diverge? Only
	 * when said: with expect_diverge it would pass the check. */
	snprintf(body, sizeof body, "{\"plugin\":\"%s\",\"expect_diverge\":1}",
		 v2);
	http(&r, "POST", "/v1/admin/upgrade", body);
	assert_int_equal(r.status, 400);
}

static void test_sigusr2_reloads_the_plugin_file(void **unused)
{
	(void)unused;
	char cmd[1400];
	/* The same path, a new file: version 2 (again a passing check). */
	snprintf(cmd, sizeof cmd, "cp '%s' '%s.new' && mv '%s.new' '%s'", v2,
		 plugin, plugin, plugin);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(kill(child, SIGUSR2), 0);
	for (int i = 0; i < 400; i++) {
		FILE *f = fopen(logf_, "r");
		char line[4096];
		bool seen = false;
		while (f && fgets(line, sizeof line, f))
			if (strstr(line, "SIGUSR2 upgrade of") &&
			    strstr(line, ": 200 "))
				seen = true;
		if (f)
			fclose(f);
		if (seen) {
			expect_states(2);
			return;
		}
		mt_sleep_ms(25);
	}
	fail_msg("no SIGUSR2 upgrade logged in %s", logf_);
}

static void test_refusals(void **unused)
{
	(void)unused;
	resp r;
	http(&r, "POST", "/v1/admin/upgrade", "{\"plugin\":\"/bin/true\"}");
	assert_int_equal(r.status, 400);
	assert_non_null(strstr(r.body, "directory of --plugin"));
	http(&r, "POST", "/v1/admin/upgrade", "[1]");
	assert_int_equal(r.status, 400);
	http(&r, "POST", "/v1/admin/upgrade", "{\"sample\":0}");
	assert_int_equal(r.status, 400);
	http(&r, "GET", "/v1/admin/upgrade", NULL);
	assert_int_equal(r.status, 405);
	/* Without a token. */
	char url[128];
	snprintf(url, sizeof url, "http://127.0.0.1:%u/v1/admin/upgrade", port);
	CURL *c = curl_easy_init();
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, "{}");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, keep);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	long st;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
	curl_easy_cleanup(c);
	assert_int_equal(st, 401);
}

int main(void)
{
	mt_init("recovery/serve_upgrade");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_refused_then_done_under_traffic,
				   mt_setup),
	    cmocka_unit_test_setup(test_sigusr2_reloads_the_plugin_file,
				   mt_setup),
	    cmocka_unit_test_setup(test_refusals, mt_setup),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
