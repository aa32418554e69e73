/*
 * test_serve_ops.c - how `mnemo serve` is configured and run
 * (recovery/serve_config.c, serve_tokens.c, cmd_serve.c): the config file
 * and the environment with their precedence and their errors, token
 * scopes (kinds and read-only), IPv6 and TLS listening, the log file and
 * its reopening on SIGHUP, and the example client examples/http/client.py.
 * Each server is a child process of the tool on a port it picks itself
 * (learnt from its port file), with the kind "tally"
 * (tests/recovery/plugin_serve.c), driven with libcurl.
 */
#include <curl/curl.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <sys/wait.h>
#include <unistd.h>

#include "recovery/serve.h"
#include "tests/support/support.h"

#define FULL "full-token-0123"

static char dir[256], plugin[300];
/* The server running, for the teardown after a failure (-1: none). */
static pid_t running = -1;

/* ---- files --------------------------------------------------------------- */

/* dir/name into buf (300 bytes). */
static const char *in_dir(char *buf, const char *name)
{
	snprintf(buf, 300, "%s/%s", dir, name);
	return buf;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* The whole of a small file (malloc'd, "" when missing). */
static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *text = calloc(1, 1 << 20);
	assert_non_null(text);
	if (f) {
		size_t n = fread(text, 1, (1 << 20) - 1, f);
		text[n] = 0;
		fclose(f);
	}
	return text;
}

/* ---- a server ------------------------------------------------------------ */

typedef struct server {
	pid_t pid;
	unsigned port;
	char log[300];	 /* its stderr */
	char portf[300]; /* the port file it writes */
} server;

/* Run the tool: `mnemo serve ARGS...` (NULL-terminated) with the
 * environment assignments env ("NAME=VALUE", NULL-terminated, or NULL),
 * stderr to sv->log. */
static void spawn(server *sv, const char *const *args, const char *const *env)
{
	char tool[512];
	const char *argv[40];
	size_t n = 0;
	mt_tool_path(tool, sizeof tool);
	argv[n++] = tool;
	argv[n++] = "serve";
	for (; *args && n < 38; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	sv->pid = fork();
	assert_true(sv->pid >= 0);
	if (sv->pid == 0) {
		if (!freopen(sv->log, "w", stderr) ||
		    !freopen("/dev/null", "w", stdout))
			_exit(126);
		for (; env && *env; env++)
			putenv((char *)*env);
		execv(tool, (char *const *)argv);
		_exit(127);
	}
	running = sv->pid;
}

/* Its exit status, waited for (bounded: 30 s). */
static int reap(server *sv)
{
	int st = 0;
	for (int i = 0; i < 3000; i++) {
		if (waitpid(sv->pid, &st, WNOHANG) == sv->pid) {
			sv->pid = running = -1;
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
		}
		mt_sleep_ms(10);
	}
	kill(sv->pid, SIGKILL);
	waitpid(sv->pid, &st, 0);
	sv->pid = running = -1;
	return -1;
}

/* Start a server and wait for its port (bounded: 20 s). */
static void start(server *sv, const char *const *args, const char *const *env)
{
	unlink(sv->portf);
	spawn(sv, args, env);
	for (int i = 0; i < 2000; i++) {
		FILE *f = fopen(sv->portf, "r");
		if (f) {
			int n = fscanf(f, "%u", &sv->port);
			fclose(f);
			if (n == 1 && sv->port)
				return;
		}
		int st;
		if (waitpid(sv->pid, &st, WNOHANG) == sv->pid) {
			char *log = read_file(sv->log);
			running = -1;
			fail_msg("mnemo serve exited early: %s", log);
		}
		mt_sleep_ms(10);
	}
	fail_msg("mnemo serve did not write its port");
}

/* A server named name (its log, port file and store in dir) on listen,
 * with the token file "tokens", one worker, and the options extra
 * (NULL-terminated, or NULL). */
static void start_named(server *sv, const char *name, const char *listen,
			const char *const *extra)
{
	char tk[300], st[300];
	const char *args[32];
	size_t n = 0;
	snprintf(sv->log, sizeof sv->log, "%s/%s.log", dir, name);
	snprintf(sv->portf, sizeof sv->portf, "%s/%s.port", dir, name);
	snprintf(st, sizeof st, "%s/store-%s", dir, name);
	const char *base[] = {"--plugin",     plugin,
			      "--listen",     listen,
			      "--token-file", in_dir(tk, "tokens"),
			      "--port-file",  sv->portf,
			      "--workers",    "1"};
	for (size_t i = 0; i < sizeof base / sizeof base[0]; i++)
		args[n++] = base[i];
	for (; extra && *extra && n < 30; extra++)
		args[n++] = *extra;
	args[n++] = st;
	args[n] = NULL;
	start(sv, args, NULL);
}

/* SIGTERM and the exit status. */
static int stop(server *sv)
{
	kill(sv->pid, SIGTERM);
	return reap(sv);
}

/* A server that is expected to refuse its options: its exit status, and
 * its stderr in *log (malloc'd). */
static int refused(const char *const *args, const char *const *env, char **log)
{
	server sv;
	in_dir(sv.log, "refused.log");
	spawn(&sv, args, env);
	int rc = reap(&sv);
	*log = read_file(sv.log);
	return rc;
}

/* ---- HTTP ---------------------------------------------------------------- */

typedef struct reply {
	long status;
	char body[1 << 16];
	size_t len;
} reply;

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	reply *r = arg;
	size_t len = size * n, room = sizeof r->body - 1 - r->len;
	size_t k = len < room ? len : room;
	memcpy(r->body + r->len, p, k);
	r->len += k;
	r->body[r->len] = 0;
	return len;
}

/* method on base + path with token (or NULL) and body (or NULL, for a
 * GET); cainfo: the CA file for an https base. Returns the status (-1
 * when the transfer failed). */
static long call(reply *r, const char *base, const char *method,
		 const char *path, const char *token, const char *body,
		 const char *cainfo)
{
	char url[1024], auth[256];
	struct curl_slist *hs = NULL;
	CURL *h = curl_easy_init();
	assert_non_null(h);
	memset(r, 0, sizeof *r);
	snprintf(url, sizeof url, "%s%s", base, path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	if (cainfo)
		curl_easy_setopt(h, CURLOPT_CAINFO, cainfo);
	if (token) {
		snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
		hs = curl_slist_append(hs, auth);
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hs);
	}
	if (body)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	r->status = -1;
	if (curl_easy_perform(h) == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(hs);
	curl_easy_cleanup(h);
	return r->status;
}

/* The same on http://127.0.0.1:PORT. */
static long req(reply *r, const server *sv, const char *method,
		const char *path, const char *token, const char *body)
{
	char base[64];
	snprintf(base, sizeof base, "http://127.0.0.1:%u", sv->port);
	return call(r, base, method, path, token, body, NULL);
}

/* The status, and a text the body holds ("" for any). */
static void expect(const reply *r, long want, const char *needle)
{
	if (r->status != want || !strstr(r->body, needle))
		fail_msg("status %ld (expected %ld, with '%s'): %s", r->status,
			 want, needle, r->body);
}

/* ---- setup --------------------------------------------------------------- */

static int group_setup(void **unused)
{
	(void)unused;
	char p[300];
	mt_tmpdir(dir, sizeof dir, "serve-ops");
	snprintf(plugin, sizeof plugin, "%s/tally.so", dir);
	if (mt_build_plugin("tests/recovery/plugin_serve.c", plugin))
		return -1;
	write_file(in_dir(p, "tokens"), "# a comment\n" FULL "\n");
	curl_global_init(CURL_GLOBAL_DEFAULT);
	return 0;
}

/* After each test: a server a failure left running is stopped. */
static int teardown(void **unused)
{
	(void)unused;
	if (running > 0) {
		kill(running, SIGKILL);
		waitpid(running, NULL, 0);
		running = -1;
	}
	return 0;
}

static int group_teardown(void **unused)
{
	teardown(unused);
	curl_global_cleanup();
	mt_rmrf(dir);
	return 0;
}

/* ---- the config file and the environment --------------------------------- */

static void test_config_errors(void **unused)
{
	(void)unused;
	char cf[300], *log;
	const char *args[] = {"--config", in_dir(cf, "bad.json"), NULL};
	static const struct {
		const char *json, *said;
	} cases[] = {
	    {"{\"listen\":\"127.0.0.1:0\",\"colour\":\"red\"}",
	     "unknown key \"colour\""},
	    {"{\"threads\":\"four\"}", "\"threads\" must be an integer"},
	    {"{\"threads\":0}", "\"threads\" must be an integer 1..256"},
	    {"{\"listen\":8700}", "\"listen\" must be a non-empty string"},
	    {"{\"tokens\":\"abc\"}", "\"tokens\" must be an array"},
	    {"{\"tokens\":[{\"token\":\"abc\",\"kind\":[\"x\"]}]}",
	     "tokens[0]: unknown key \"kind\""},
	    {"{\"tokens\":[{\"token\":\"abc\",\"read_only\":1}]}",
	     "\"read_only\" must be true or false"},
	    {"{\"listen\":", "line 1"},
	    {"[1]", "not a JSON object"},
	    {"{\"listen\":\"[::1]\"}", "the config's \"listen\" wants"},
	    {"{\"listen\":\"localhost:80\"}", "an IPv4 address"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		write_file(cf, cases[i].json);
		assert_int_equal(refused(args, NULL, &log), 2);
		if (!strstr(log, cases[i].said))
			fail_msg("'%s': no '%s' in: %s", cases[i].json,
				 cases[i].said, log);
		free(log);
	}
	/* The token of a bad entry is never shown. */
	write_file(cf, "{\"plugin\":\"x.so\",\"store\":\"s\",\"tokens\":"
		       "[{\"token\":\"s3cr3t\",\"kinds\":[\"\"]}]}");
	assert_int_equal(refused(args, NULL, &log), 2);
	assert_non_null(strstr(log, "tokens[0]"));
	assert_null(strstr(log, "s3cr3t"));
	free(log);
	/* A bad environment value names its variable. */
	const char *env[] = {"MNEMO_SERVE_THREADS=lots", NULL};
	const char *none[] = {NULL};
	assert_int_equal(refused(none, env, &log), 2);
	assert_non_null(strstr(log, "MNEMO_SERVE_THREADS"));
	free(log);
	const char *env2[] = {"MNEMO_SERVE_TOKENS=abc colour=red ro", NULL};
	const char *args2[] = {"--plugin", plugin, in_dir(cf, "st-bad"), NULL};
	assert_int_equal(refused(args2, env2, &log), 2);
	assert_non_null(strstr(log, "MNEMO_SERVE_TOKENS, entry 1"));
	assert_null(strstr(log, "abc"));
	free(log);
}

/* port_file comes from the file, the environment and the command line:
 * the port is written where the highest of them says. */
static void test_config_precedence(void **unused)
{
	(void)unused;
	char cf[300], st[300], tk[300], pa[300], pb[300], pc[300], text[2048];
	char envb[400];
	server sv;
	reply r;
	in_dir(pa, "port-a");
	in_dir(pb, "port-b");
	in_dir(pc, "port-c");
	snprintf(text, sizeof text,
		 "{\"listen\":\"127.0.0.1:0\",\"plugin\":\"%s\","
		 "\"store\":\"%s\",\"token_file\":\"%s\",\"port_file\":\"%s\","
		 "\"drain_ms\":2000,\"threads\":2,\"workers\":1,"
		 "\"max_body\":4096}",
		 plugin, in_dir(st, "store-conf"), in_dir(tk, "tokens"), pa);
	write_file(in_dir(cf, "serve.json"), text);
	snprintf(envb, sizeof envb, "MNEMO_SERVE_PORT_FILE=%s", pb);
	const char *env[] = {envb, NULL};
	in_dir(sv.log, "prec.log");

	/* The file alone: port-a; STORE from the file too. */
	const char *args[] = {"--config", cf, NULL};
	snprintf(sv.portf, sizeof sv.portf, "%s", pa);
	start(&sv, args, NULL);
	req(&r, &sv, "GET", "/v1/actors", FULL, NULL);
	expect(&r, 200, "\"actors\"");
	/* max_body from the file: a 5000-byte body is over it. */
	char big[5100];
	memset(big, ' ', 5000);
	big[5000] = 0;
	req(&r, &sv, "POST", "/v1/actors/tally/p/messages", FULL, big);
	expect(&r, 413, "");
	assert_int_equal(stop(&sv), 0);

	/* The environment over the file: port-b, not port-a. */
	unlink(pa);
	snprintf(sv.portf, sizeof sv.portf, "%s", pb);
	start(&sv, args, env);
	assert_int_equal(access(pa, F_OK), -1);
	assert_int_equal(stop(&sv), 0);

	/* The command line over both: port-c. And MNEMO_SERVE_CONFIG
	 * names the file. */
	char envc[400];
	snprintf(envc, sizeof envc, "MNEMO_SERVE_CONFIG=%s", cf);
	const char *env2[] = {envb, envc, NULL};
	const char *args2[] = {"--port-file", pc, NULL};
	unlink(pb);
	snprintf(sv.portf, sizeof sv.portf, "%s", pc);
	start(&sv, args2, env2);
	assert_int_equal(access(pa, F_OK), -1);
	assert_int_equal(access(pb, F_OK), -1);
	req(&r, &sv, "GET", "/healthz", NULL, NULL);
	expect(&r, 200, "");
	assert_int_equal(stop(&sv), 0);
}

/* ---- token scopes -------------------------------------------------------- */

static void test_token_parse(void **unused)
{
	(void)unused;
	mn__srv_token t;
	const char *why;
	const char *line = "  abc kinds=tally,other ro ";
	assert_int_equal(mn__srv_token_parse(line, strlen(line), &t, &why), 0);
	assert_string_equal(t.token, "abc");
	assert_int_equal(t.nkinds, 2);
	assert_string_equal(t.kinds[1], "other");
	assert_true(t.read_only);
	assert_true(mn__srv_token_kind_ok(&t, "tally"));
	assert_false(mn__srv_token_kind_ok(&t, "tall"));
	mn__srv_token_free(&t);
	line = "plain";
	assert_int_equal(mn__srv_token_parse(line, 5, &t, &why), 0);
	assert_null(t.kinds);
	assert_false(t.read_only);
	assert_true(mn__srv_token_kind_ok(&t, "anything"));
	mn__srv_token_free(&t);
	assert_int_equal(mn__srv_token_parse("  # c", 5, &t, &why), 1);
	assert_int_equal(mn__srv_token_parse(" \t", 2, &t, &why), 1);
	static const char *bad[] = {"abc kinds=", "abc kinds=a,", "abc rw",
				    "abc kinds=a,,b", "abc def"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		why = NULL;
		assert_int_equal(
		    mn__srv_token_parse(bad[i], strlen(bad[i]), &t, &why), -1);
		assert_non_null(why);
		assert_null(strstr(why, "abc"));
	}
}

static void test_scopes(void **unused)
{
	(void)unused;
	char cf[300], st[300], tf[300], text[2048];
	server sv;
	reply r;
	/* From the config: the full token and a read-only one; from the
	 * token file beside it: one for tally, one for another kind. */
	write_file(in_dir(tf, "scoped-tokens"),
		   "tally-only kinds=tally\nother-only kinds=other,more\n");
	snprintf(text, sizeof text,
		 "{\"tokens\":[\"" FULL "\",{\"token\":\"reader\","
		 "\"read_only\":true}],\"token_file\":\"%s\"}",
		 tf);
	write_file(in_dir(cf, "scopes.json"), text);
	in_dir(sv.log, "scopes.log");
	in_dir(sv.portf, "scopes.port");
	const char *args[] = {"--config",
			      cf,
			      "--plugin",
			      plugin,
			      "--listen",
			      "127.0.0.1:0",
			      "--port-file",
			      sv.portf,
			      "--workers",
			      "1",
			      in_dir(st, "store-scopes"),
			      NULL};
	start(&sv, args, NULL);

	const char *msg = "/v1/actors/tally/s/messages?durable=1";
	req(&r, &sv, "POST", msg, NULL, "{\"type\":1}");
	expect(&r, 401, "bearer token");
	req(&r, &sv, "POST", msg, "not-a-token", "{\"type\":1}");
	expect(&r, 401, "bearer token");
	req(&r, &sv, "POST", msg, "other-only", "{\"type\":1}");
	expect(&r, 403, "'tally'");
	expect(&r, 403, "\"kind\":\"tally\"");
	assert_null(strstr(r.body, "other-only"));
	assert_null(strstr(r.body, "\"more\""));
	/* A kind that does not exist: 403 as well, not 404. */
	req(&r, &sv, "GET", "/v1/actors/nokind/s", "tally-only", NULL);
	expect(&r, 403, "'nokind'");
	req(&r, &sv, "POST", msg, "reader", "{\"type\":1}");
	expect(&r, 403, "read-only");
	req(&r, &sv, "POST", "/v1/actors/tally/s/ask", "reader",
	    "{\"type\":2}");
	expect(&r, 403, "read-only");
	req(&r, &sv, "POST", msg, "tally-only", "{\"type\":1}");
	expect(&r, 201, "\"stored\":true");
	req(&r, &sv, "POST", msg, FULL, "{\"type\":1}");
	expect(&r, 201, "");
	req(&r, &sv, "GET", "/v1/actors/tally/s", "reader", NULL);
	expect(&r, 200, "\"kind\":\"tally\"");
	req(&r, &sv, "GET", "/v1/actors/tally/s", "other-only", NULL);
	expect(&r, 403, "");
	/* Listing: a token limited to other kinds sees none of tally's,
	 * and may not ask for them. */
	req(&r, &sv, "GET", "/v1/actors", "other-only", NULL);
	expect(&r, 200, "\"actors\":[]");
	req(&r, &sv, "GET", "/v1/actors?kind=tally", "other-only", NULL);
	expect(&r, 403, "");
	req(&r, &sv, "GET", "/v1/actors", "tally-only", NULL);
	expect(&r, 200, "\"address\":\"tally/s\"");
	/* The hot upgrade loads code for every kind: neither a token limited
	 * to kinds nor a read-only one may call it (and nothing is loaded:
	 * the plugin named does not exist). */
	req(&r, &sv, "POST", "/v1/admin/upgrade", "tally-only",
	    "{\"plugin\":\"/nonexistent.so\"}");
	expect(&r, 403, "limited to kinds may not upgrade");
	req(&r, &sv, "POST", "/v1/admin/upgrade", "reader", "{}");
	expect(&r, 403, "read-only");
	req(&r, &sv, "POST", "/v1/admin/upgrade", FULL,
	    "{\"plugin\":\"/nonexistent.so\"}");
	expect(&r, 400, "directory of --plugin");
	/* Counted in /metrics; never a token in the log. */
	req(&r, &sv, "GET", "/metrics", NULL, NULL);
	expect(&r, 200, "code=\"403\"");
	assert_int_equal(stop(&sv), 0);
	char *log = read_file(sv.log);
	assert_null(strstr(log, "only"));
	assert_null(strstr(log, "reader"));
	assert_null(strstr(log, FULL));
	free(log);
}

/* MNEMO_SERVE_TOKENS alone: ';'-separated entries, a scoped one, and an
 * entry of plain tokens separated by a blank and a comma. */
static void test_env_tokens(void **unused)
{
	(void)unused;
	char st[300];
	server sv;
	reply r;
	in_dir(sv.log, "envtok.log");
	in_dir(sv.portf, "envtok.port");
	const char *args[] = {
	    "--plugin",	   plugin,	  "--listen",
	    "127.0.0.1:0", "--port-file", sv.portf,
	    "--workers",   "1",		  in_dir(st, "store-envtok"),
	    NULL};
	const char *env[] = {
	    "MNEMO_SERVE_TOKENS=tok-a tok-b,tok-c;tok-d kinds=other ro", NULL};
	start(&sv, args, env);
	static const char *plain[] = {"tok-a", "tok-b", "tok-c"};
	for (size_t i = 0; i < 3; i++) {
		req(&r, &sv, "POST", "/v1/actors/tally/e/messages", plain[i],
		    "{\"type\":1}");
		expect(&r, 202, "");
	}
	req(&r, &sv, "GET", "/v1/actors/tally/e", "tok-d", NULL);
	expect(&r, 403, "'tally'");
	req(&r, &sv, "GET", "/v1/actors", "tok-d kinds=other", NULL);
	expect(&r, 401, "");
	assert_int_equal(stop(&sv), 0);
}

/* ---- listening: IPv6 and TLS --------------------------------------------- */

/* Whether this machine can bind ::1 (a container may have no IPv6). */
static bool have_ipv6_loopback(void)
{
	int fd = socket(AF_INET6, SOCK_STREAM, 0);
	struct sockaddr_in6 a = {.sin6_family = AF_INET6};
	a.sin6_addr = in6addr_loopback;
	bool ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

static void test_ipv6(void **unused)
{
	(void)unused;
	server sv;
	reply r;
	if (!have_ipv6_loopback()) {
		print_message("skipped: no IPv6 loopback (::1) here\n");
		return;
	}
	start_named(&sv, "v6", "[::1]:0", NULL);
	char base[64];
	snprintf(base, sizeof base, "http://[::1]:%u", sv.port);
	call(&r, base, "GET", "/v1/actors", FULL, NULL, NULL);
	expect(&r, 200, "\"actors\"");
	assert_int_equal(stop(&sv), 0);
	char *log = read_file(sv.log);
	assert_non_null(strstr(log, "listening on [::1] port"));
	assert_null(strstr(log, "\"warn\""));
	free(log);
}

static void test_tls(void **unused)
{
	(void)unused;
	char st[300], tk[300], cert[300], key[300], cmd[1200];
	server sv;
	reply r;
	if (system("command -v openssl >/dev/null 2>&1") != 0) {
		print_message("skipped: openssl is not installed\n");
		return;
	}
	if (!MHD_is_feature_supported(MHD_FEATURE_TLS)) {
		print_message("skipped: this libmicrohttpd has no TLS\n");
		return;
	}
	/* A self-signed certificate for the loopback addresses, made now. */
	snprintf(cmd, sizeof cmd,
		 "openssl req -x509 -newkey ec -pkeyopt "
		 "ec_paramgen_curve:prime256v1 -nodes -days 1 -subj "
		 "/CN=127.0.0.1 -addext "
		 "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost "
		 "-keyout '%s' -out '%s' >/dev/null 2>&1",
		 in_dir(key, "key.pem"), in_dir(cert, "cert.pem"));
	assert_int_equal(system(cmd), 0);
	const char *tls[] = {"--tls-cert", cert, "--tls-key", key, NULL};
	start_named(&sv, "tls", "127.0.0.1:0", tls);
	char base[64];
	snprintf(base, sizeof base, "https://127.0.0.1:%u", sv.port);
	call(&r, base, "GET", "/healthz", NULL, NULL, cert);
	expect(&r, 200, "");
	call(&r, base, "POST", "/v1/actors/tally/t/ask", FULL, "{\"type\":2}",
	     cert);
	expect(&r, 200, "\"json\":{\"count\":0}");
	call(&r, base, "GET", "/v1/actors", NULL, NULL, cert);
	expect(&r, 401, "");
	/* Without the CA the certificate is not trusted; plain HTTP on the
	 * TLS port gets no HTTP answer. */
	call(&r, base, "GET", "/healthz", NULL, NULL, "/dev/null");
	assert_int_equal(r.status, -1);
	req(&r, &sv, "GET", "/healthz", NULL, NULL);
	assert_true(r.status != 200);
	assert_int_equal(stop(&sv), 0);
	char *log = read_file(sv.log);
	assert_non_null(strstr(log, "(https)"));
	free(log);

	/* A certificate without its key, and a key that is not PEM. */
	char *said;
	in_dir(tk, "tokens");
	in_dir(st, "store-tls");
	const char *half[] = {"--plugin", plugin,	"--token-file",
			      tk,	  "--tls-cert", cert,
			      st,	  NULL};
	assert_int_equal(refused(half, NULL, &said), 2);
	assert_non_null(strstr(said, "--tls-cert and --tls-key go together"));
	free(said);
	const char *nokey[] = {"--plugin",
			       plugin,
			       "--token-file",
			       tk,
			       "--tls-cert",
			       cert,
			       "--tls-key",
			       in_dir(key, "no-such-key.pem"),
			       st,
			       NULL};
	assert_int_equal(refused(nokey, NULL, &said), 2);
	assert_non_null(strstr(said, "reading the TLS key"));
	free(said);
}

/* ---- the log file and SIGHUP --------------------------------------------- */

/* Wait until path holds needle (bounded: 10 s). */
static bool file_has(const char *path, const char *needle)
{
	for (int i = 0; i < 1000; i++) {
		char *text = read_file(path);
		bool ok = strstr(text, needle) != NULL;
		free(text);
		if (ok)
			return true;
		mt_sleep_ms(10);
	}
	return false;
}

static void test_log_file(void **unused)
{
	(void)unused;
	char lf[300], rotated[300];
	server sv;
	reply r;
	in_dir(lf, "serve.log");
	in_dir(rotated, "serve.log.1");
	/* Every address, without TLS: a warning. */
	const char *logf[] = {"--log-file", lf, NULL};
	start_named(&sv, "logfile", "0.0.0.0:0", logf);
	req(&r, &sv, "GET", "/v1/actors?first", FULL, NULL);
	expect(&r, 200, "");
	assert_true(file_has(lf, "\"level\":\"warn\""));
	assert_true(file_has(lf, "\"path\":\"/v1/actors\""));
	/* logrotate's way: rename, then SIGHUP. */
	assert_int_equal(rename(lf, rotated), 0);
	kill(sv.pid, SIGHUP);
	assert_true(file_has(lf, "log file reopened"));
	req(&r, &sv, "GET", "/v1/actors/tally/after-rotation", FULL, NULL);
	assert_true(file_has(lf, "/v1/actors/tally/after-rotation"));
	assert_int_equal(stop(&sv), 0);
	assert_true(file_has(lf, "drained and closed"));
	char *old = read_file(rotated);
	assert_non_null(strstr(old, "listening on 0.0.0.0"));
	assert_null(strstr(old, "after-rotation"));
	free(old);
	/* Nothing on stderr but what comes before the log is open. */
	char *err = read_file(sv.log);
	assert_null(strstr(err, "\"path\""));
	free(err);
}

/* ---- examples/http ------------------------------------------------------- */

/* Run cmd, its stdout into *out (malloc'd); returns its exit status. */
static int run_capture(const char *cmd, char **out)
{
	char path[300], full[2048];
	snprintf(full, sizeof full, "%s > '%s' 2>&1", cmd,
		 in_dir(path, "capture.txt"));
	int st = system(full);
	*out = read_file(path);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static void test_examples_http(void **unused)
{
	(void)unused;
	char cmd[1024], *out;
	server sv;
	reply r;
	start_named(&sv, "examples", "127.0.0.1:0", NULL);
	if (system("command -v python3 >/dev/null 2>&1") != 0) {
		print_message("skipped client.py: python3 is not installed\n");
	} else {
		snprintf(cmd, sizeof cmd,
			 "python3 examples/http/client.py --url "
			 "http://127.0.0.1:%u --token " FULL " demo tally py",
			 sv.port);
		int st = run_capture(cmd, &out);
		if (st != 0 || !strstr(out, "\"ok\": true"))
			fail_msg("client.py demo: exit %d: %s", st, out);
		free(out);
		/* The idempotent retry was one message: 1 + 1 + 1. */
		req(&r, &sv, "POST", "/v1/actors/tally/py/ask", FULL,
		    "{\"type\":2}");
		expect(&r, 200, "\"json\":{\"count\":3}");
		/* Its error path: exit 1 with the JSON error. */
		snprintf(cmd, sizeof cmd,
			 "python3 examples/http/client.py --url "
			 "http://127.0.0.1:%u --token wrong get tally py",
			 sv.port);
		assert_int_equal(run_capture(cmd, &out), 1);
		assert_non_null(strstr(out, "bearer token"));
		free(out);
	}
	if (system("command -v curl >/dev/null 2>&1") != 0) {
		print_message("skipped curl.sh: curl is not installed\n");
	} else {
		snprintf(cmd, sizeof cmd,
			 "MNEMO_URL=http://127.0.0.1:%u MNEMO_TOKEN=" FULL
			 " sh examples/http/curl.sh",
			 sv.port);
		int st = run_capture(cmd, &out);
		static const char *want[] = {"[202]", "[201]", "[200]",
					     "[409]", "[401]", "Bearer TOKEN"};
		for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
			if (st != 0 || !strstr(out, want[i]))
				fail_msg("curl.sh: exit %d, no '%s': %s", st,
					 want[i], out);
		assert_null(strstr(out, FULL));
		free(out);
	}
	assert_int_equal(stop(&sv), 0);
}

int main(void)
{
	mt_init("recovery/serve_ops");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_config_errors, teardown),
	    cmocka_unit_test_teardown(test_config_precedence, teardown),
	    cmocka_unit_test_teardown(test_token_parse, teardown),
	    cmocka_unit_test_teardown(test_scopes, teardown),
	    cmocka_unit_test_teardown(test_env_tokens, teardown),
	    cmocka_unit_test_teardown(test_ipv6, teardown),
	    cmocka_unit_test_teardown(test_tls, teardown),
	    cmocka_unit_test_teardown(test_log_file, teardown),
	    cmocka_unit_test_teardown(test_examples_http, teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
