/*
 * serve_child.h - `mnemo serve` as a child process for the tests of the
 * host (tests/recovery/test_serve.c, test_serve_stream.c): a scratch
 * directory with the store, the kind "tally" built into a plugin
 * (tests/recovery/plugin_serve.c), a token file and the server's log; the
 * server on 127.0.0.1 port 0 (learnt from --port-file). Included once by
 * a test, after tests/support/support.h.
 */
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[256], store[300], plugin[300], tokens[300], portf[300],
    logf_[300];
static pid_t child = -1;
static unsigned port;
/* The one option that differs between the tests, and its value. */
static const char *serve_opt, *serve_val;

static void start_server(void)
{
	char tool[512];
	mt_tool_path(tool, sizeof tool);
	char *const argv[] = {tool,
			      "serve",
			      "--plugin",
			      plugin,
			      "--listen",
			      "127.0.0.1:0",
			      "--port-file",
			      portf,
			      "--token-file",
			      tokens,
			      "--drain-ms",
			      "3000",
			      "--threads",
			      "2",
			      (char *)serve_opt,
			      (char *)serve_val,
			      "--workers",
			      "2",
			      store,
			      NULL};
	child = mt_serve_spawn(argv, portf, logf_, &port);
}

/* SIGTERM, then the exit status (bounded: 30 s; then killed, -1). */
static int stop_server(void)
{
	int st = mt_serve_stop(child);
	child = -1;
	return st;
}

/* The scratch directory (name: its tag), the plugin, the token file
 * (token_lines, as written), libcurl, the server with opt val. */
static int serve_setup(const char *name, const char *token_lines,
		       const char *opt, const char *val)
{
	serve_opt = opt;
	serve_val = val;
	mt_tmpdir(dir, sizeof dir, name);
	snprintf(store, sizeof store, "%s/store", dir);
	snprintf(plugin, sizeof plugin, "%s/tally.so", dir);
	snprintf(tokens, sizeof tokens, "%s/tokens", dir);
	snprintf(portf, sizeof portf, "%s/port", dir);
	snprintf(logf_, sizeof logf_, "%s/serve.log", dir);
	if (mt_build_plugin("tests/recovery/plugin_serve.c", plugin))
		return -1;
	FILE *f = fopen(tokens, "w");
	if (!f)
		return -1;
	fputs(token_lines, f);
	fclose(f);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	start_server();
	return 0;
}

static int serve_teardown(void)
{
	if (child > 0)
		stop_server();
	curl_global_cleanup();
	mt_rmrf(dir);
	return 0;
}
