/*
 * cmd_serve.c - `mnemo serve STORE --plugin LIB.so`: host a plugin's kinds
 * over a store behind an authenticated HTTP API (recovery/serve_api.c),
 * until SIGTERM or SIGINT, then drain (docs/serve.md).
 *
 * The plugin is loaded as `mnemo replay` loads one (dlopen,
 * MN_PLUGIN_SYMBOL); its kinds are registered in a runtime opened on STORE
 * (the writer). The same store is also opened read-only beside it, for
 * the metadata and the listing routes (as `mnemo dump` reads a live
 * store).
 *
 * Drain: readyz answers 503 and new writes and event streams 503 at
 * once, open event streams end; requests in
 * flight get until --drain-ms; then the runtime drains (mn_runtime_drain),
 * closes (asks still waiting end with 503), the listener stops, the store
 * closes, exit 0.
 *
 * Threads: the command's thread waits for a signal (a self-pipe written by
 * the handler) and runs the drain; see serve.h for the others.
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <limits.h>

#include "core/abi.h"
#include "recovery/serve.h"

static const char synopsis[] =
    "mnemo serve --plugin LIB.so [--listen HOST:PORT] [--token-file F] "
    "[--port-file F] [--drain-ms MS] [--threads N] [--max-asks N] "
    "[--max-streams N] [--workers N] STORE";

static const char help[] =
    "NAME\n"
    "    mnemo serve - host a plugin's kinds over a store, behind HTTP\n"
    "\n"
    "SYNOPSIS\n"
    "    mnemo serve --plugin LIB.so [--listen HOST:PORT] [--token-file F]\n"
    "                [--port-file F] [--drain-ms MS] [--threads N]\n"
    "                [--max-asks N] [--max-streams N] [--workers N] STORE\n"
    "\n"
    "DESCRIPTION\n"
    "    Loads LIB.so (its mnemo_plugin_kinds, as mnemo replay does), opens\n"
    "    a runtime on STORE with its kinds and serves an HTTP/1.1 API:\n"
    "    POST /v1/actors/KIND/KEY/messages (202; ?durable=1: 201 once\n"
    "    stored; an Idempotency-Key header: 201, 200 for a repeat, 409\n"
    "    for a key reused with another message), POST\n"
    "    /v1/actors/KIND/KEY/ask?timeout_ms=N (the reply; 504 on timeout),\n"
    "    GET /v1/actors/KIND/KEY (metadata and the live state), GET\n"
    "    /v1/actors/KIND/KEY/history?from=&limit= (journal entries), GET\n"
    "    /v1/actors/KIND/KEY/events (server-sent events of its outputs),\n"
    "    GET /v1/actors?kind=&after=&limit= (a page of actors), GET /healthz,\n"
    "    GET /readyz, GET /metrics (Prometheus text), GET / (the operator\n"
    "    page: a browser signs in with a token), POST /v1/admin/upgrade\n"
    "    (a hot upgrade: a plugin from --plugin's directory, checked with\n"
    "    mnemo check on a sample of each kind, then swapped). Every /v1\n"
    "    request needs Authorization: Bearer TOKEN. Logs one JSON object a\n"
    "    line on stderr. SIGTERM or SIGINT drains and exits 0; SIGUSR2\n"
    "    upgrades to --plugin's file again. docs/serve.md has the\n"
    "    details.\n"
    "\n"
    "OPTIONS\n"
    "    -p, --plugin LIB.so     the shared object with the kinds\n"
    "    -l, --listen HOST:PORT  IPv4 address and port (default\n"
    "                            127.0.0.1:8700; port 0: any free port)\n"
    "    -t, --token-file F      tokens, one a line (default: the\n"
    "                            environment MNEMO_SERVE_TOKENS, comma\n"
    "                            separated)\n"
    "    -P, --port-file F       write the bound port there once listening\n"
    "    -d, --drain-ms MS       how long requests in flight get at SIGTERM\n"
    "                            (default 10000)\n"
    "    -T, --threads N         HTTP threads (default 4)\n"
    "    -a, --max-asks N        asks and stored sends waiting at once\n"
    "                            (default 1024; 429 beyond)\n"
    "    -S, --max-streams N     event streams open at once (default 64;\n"
    "                            429 beyond)\n"
    "    -w, --workers N         runtime worker threads (default: cores)\n"
    "    -h, --help              this text\n"
    "\n"
    "EXIT STATUS\n"
    "    0 after a drain; 2 usage error, a plugin, token file or store\n"
    "    that cannot be loaded, an address that cannot be bound.\n"
    "\n"
    "EXAMPLE\n"
    "    MNEMO_SERVE_TOKENS=secret mnemo serve --plugin ./agents.so ./data\n";

typedef struct sopts {
	const char *plugin, *listen, *token_file, *port_file;
	uint64_t drain_ms, threads, max_asks, max_streams, workers;
} sopts;

static int on_option(mn__cli *c, int ch, const char *arg, void *u)
{
	sopts *o = u;
	uint64_t *v = NULL, max = 0;
	const char *name = NULL;
	switch (ch) {
	case 'p':
		o->plugin = arg;
		return 0;
	case 'l':
		o->listen = arg;
		return 0;
	case 't':
		o->token_file = arg;
		return 0;
	case 'P':
		o->port_file = arg;
		return 0;
	case 'd':
		v = &o->drain_ms, max = 3600000, name = "--drain-ms";
		break;
	case 'T':
		v = &o->threads, max = 256, name = "--threads";
		break;
	case 'a':
		v = &o->max_asks, max = 1000000, name = "--max-asks";
		break;
	case 'S':
		v = &o->max_streams, max = 100000, name = "--max-streams";
		break;
	case 'w':
		v = &o->workers, max = MN_WORKERS_MAX, name = "--workers";
		break;
	default:
		return 0;
	}
	if (mn__cli_parse_u64(arg, v) || *v > max ||
	    (!*v && ch != 'd' && ch != 'w'))
		return mn__cli_usage(c,
				     "%s wants a number up to %llu, not '%s'",
				     name, (unsigned long long)max, arg);
	return 0;
}

static const mn__cli_spec serve_spec = {
    .name = "serve",
    .synopsis = synopsis,
    .help = help,
    .shortopts = "p:l:t:P:d:T:a:S:w:",
    .opts =
	(const struct option[]){{"plugin", required_argument, NULL, 'p'},
				{"listen", required_argument, NULL, 'l'},
				{"token-file", required_argument, NULL, 't'},
				{"port-file", required_argument, NULL, 'P'},
				{"drain-ms", required_argument, NULL, 'd'},
				{"threads", required_argument, NULL, 'T'},
				{"max-asks", required_argument, NULL, 'a'},
				{"max-streams", required_argument, NULL, 'S'},
				{"workers", required_argument, NULL, 'w'},
				{NULL, 0, NULL, 0}},
    .nargs = 1,
    .option = on_option};

/* ---- signals --------------------------------------------------------------
 */

static int sig_pipe[2] = {-1, -1};

static void on_signal(int sig)
{
	int saved = errno;
	unsigned char b = (unsigned char)sig;
	if (write(sig_pipe[1], &b, 1) < 0) {
		/* full: a signal is pending anyway */
	}
	errno = saved;
}

static int signals_catch(struct sigaction *old_term, struct sigaction *old_int)
{
	if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK))
		return -1;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGTERM, &sa, old_term);
	sigaction(SIGINT, &sa, old_int);
	sigaction(SIGUSR2, &sa, NULL); /* a hot upgrade (serve_upgrade.c) */
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

static void signals_restore(struct sigaction *old_term,
			    struct sigaction *old_int)
{
	sigaction(SIGTERM, old_term, NULL);
	sigaction(SIGINT, old_int, NULL);
	signal(SIGUSR2, SIG_DFL);
	close(sig_pipe[0]);
	close(sig_pipe[1]);
	sig_pipe[0] = sig_pipe[1] = -1;
}

/* ---- start ----------------------------------------------------------------
 */

static int parse_listen(mn__cli *c, const char *text, struct sockaddr_in *sa)
{
	char host[64];
	const char *colon = strrchr(text, ':');
	uint64_t port;
	memset(sa, 0, sizeof *sa);
	sa->sin_family = AF_INET;
	if (!colon || (size_t)(colon - text) >= sizeof host ||
	    mn__cli_parse_u64(colon + 1, &port) || port > 65535)
		return mn__cli_usage(c, "--listen wants HOST:PORT, not '%s'",
				     text);
	memcpy(host, text, (size_t)(colon - text));
	host[colon - text] = 0;
	if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
		return mn__cli_usage(c,
				     "--listen wants an IPv4 address, not "
				     "'%s'",
				     host);
	sa->sin_port = htons((uint16_t)port);
	return 0;
}

/* Load the plugin and register its kinds in rt. */
static int load_kinds(mn__cli *c, const char *plugin, mn_runtime *rt, void **dl)
{
	*dl = dlopen(plugin, RTLD_NOW | RTLD_LOCAL);
	if (!*dl) {
		const char *why = dlerror();
		fprintf(c->err, "mnemo serve: loading plugin %s: %s\n", plugin,
			why ? why : "dlopen failed");
		return MN__CLI_USAGE;
	}
	void *sym = dlsym(*dl, MN_PLUGIN_SYMBOL);
	if (!sym) {
		fprintf(c->err, "mnemo serve: plugin %s has no symbol '%s'\n",
			plugin, MN_PLUGIN_SYMBOL);
		return MN__CLI_USAGE;
	}
	mn_plugin_kinds_fn fn;
	memcpy(&fn, &sym, sizeof fn); /* object to function pointer */
	size_t n = 0;
	const mn_kind_def *defs = fn(&n);
	if (!defs || !n) {
		fprintf(c->err, "mnemo serve: plugin %s has no kinds\n",
			plugin);
		return MN__CLI_USAGE;
	}
	/* The array's stride is its header's mn_kind_def (core/abi.h). */
	size_t stride = mn__kind_defs_stride(defs, n);
	for (size_t i = 0; i < n; i++) {
		const mn_kind_def *d =
		    (const void *)((const char *)defs + i * stride);
		mn_kind_def def;
		int rc = mn__kind_def_load_at(&def, d, stride);
		if (!rc)
			rc = mn_kind_register(rt, &def, NULL);
		if (rc) {
			fprintf(c->err,
				"mnemo serve: plugin %s: kind %zu ('%s'): "
				"%s\n",
				plugin, i, d->name ? d->name : "(null)",
				mn_err_name(rc));
			return MN__CLI_USAGE;
		}
	}
	return 0;
}

static int write_port(mn__cli *c, const char *path, uint16_t port)
{
	char tmp[4096];
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (!f || fprintf(f, "%u\n", port) < 0 || fclose(f) != 0 ||
	    rename(tmp, path) != 0) {
		fprintf(c->err, "mnemo serve: writing the port file %s: %s\n",
			path, strerror(errno));
		return -1;
	}
	return 0;
}

static uint64_t mono_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

/* Wait until no request is in flight, or until deadline (mono_ms). */
static void wait_idle(mn__srv *s, uint64_t deadline)
{
	while (atomic_load(&s->inflight) && mono_ms() < deadline)
		poll(NULL, 0, 10);
}

/* Wait for SIGTERM or SIGINT; returns the signal. */
static int wait_signal(void)
{
	for (;;) {
		struct pollfd p = {.fd = sig_pipe[0], .events = POLLIN};
		if (poll(&p, 1, -1) < 0 && errno != EINTR)
			return 0;
		unsigned char b;
		if (read(sig_pipe[0], &b, 1) == 1)
			return b;
	}
}

static void srv_init(mn__srv *s, mn__cli *c)
{
	memset(s, 0, sizeof *s);
	s->c = c;
	s->watch_ep = s->watch_ev = -1;
	pthread_mutex_init(&s->store_mu, NULL);
	pthread_mutex_init(&s->wait_mu, NULL);
	pthread_mutex_init(&s->log_mu, NULL);
	pthread_mutex_init(&s->upgrade_mu, NULL);
	pthread_mutex_init(&s->obs_mu, NULL);
	pthread_rwlockattr_t a;
	pthread_rwlockattr_init(&a);
	pthread_rwlockattr_setkind_np(
	    &a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&s->rt_lock, &a);
	pthread_rwlockattr_destroy(&a);
}

static void srv_fini(mn__srv *s)
{
	mn__srv_tokens_free(s);
	pthread_rwlock_destroy(&s->rt_lock);
	pthread_mutex_destroy(&s->store_mu);
	pthread_mutex_destroy(&s->wait_mu);
	pthread_mutex_destroy(&s->log_mu);
	pthread_mutex_destroy(&s->obs_mu);
	pthread_mutex_destroy(&s->upgrade_mu);
}

/* SIGUSR2: the --plugin file again, checked and swapped (serve_upgrade.c);
 * the outcome is logged. */
static void upgrade_on_signal(mn__srv *s)
{
	mn__srv_upgrade_req u = {.sample = 100, .timeout_ms = 30000};
	json_t *report = NULL;
	unsigned status = 0;
	pthread_rwlock_rdlock(&s->rt_lock);
	if (s->rt)
		mn__srv_upgrade(s, &u, &report, &status);
	pthread_rwlock_unlock(&s->rt_lock);
	char *text = report ? json_dumps(report, JSON_COMPACT) : NULL;
	char msg[1024];
	snprintf(msg, sizeof msg, "SIGUSR2 upgrade of %s: %u %s", s->plugin,
		 status, text ? text : "");
	mn__srv_log(s, status == 200 ? "info" : "warn", msg, NULL);
	free(text);
	json_decref(report);
}

/* The directory of the plugin, where upgrades may load from. */
static void plugin_dir(mn__srv *s, const char *plugin)
{
	char r[PATH_MAX];
	s->plugin = plugin;
	s->plugin_dir[0] = 0;
	if (!realpath(plugin, r))
		return;
	char *slash = strrchr(r, '/');
	if (slash && slash != r) {
		*slash = 0;
		snprintf(s->plugin_dir, sizeof s->plugin_dir, "%s", r);
	}
}

int mn__cmd_serve(int argc, char **argv, FILE *out, FILE *err)
{
	mn__cli c;
	mn__srv s;
	sopts o = {.listen = "127.0.0.1:8700",
		   .drain_ms = 10000,
		   .threads = 4,
		   .max_asks = 1024,
		   .max_streams = 64};
	char **args;
	struct sockaddr_in sa;
	struct sigaction old_term, old_int;
	void *dl = NULL;
	int rc;

	if ((rc = mn__cli_begin(&c, &serve_spec, &o, argc, argv, out, err,
				&args)) != MN__CLI_GO)
		return rc;
	if (!o.plugin)
		return mn__cli_usage(&c, "--plugin LIB.so is required");
	if ((rc = parse_listen(&c, o.listen, &sa)))
		return rc;
	srv_init(&s, &c);
	plugin_dir(&s, o.plugin);
	if (mn__srv_tokens_load(&s, o.token_file)) {
		srv_fini(&s);
		return MN__CLI_USAGE;
	}

	mn_runtime_opts ro = MN_RUNTIME_OPTS_INIT;
	ro.store_path = c.path;
	ro.workers = (unsigned)o.workers;
	if ((rc = mn_runtime_open(&ro, &s.rt))) {
		fprintf(err, "mnemo serve: opening store %s: %s (%s)\n", c.path,
			mn_err_name(rc), mn_errdetail());
		srv_fini(&s);
		return MN__CLI_USAGE;
	}
	rc = load_kinds(&c, o.plugin, s.rt, &dl);
	if (!rc && (rc = mn__cli_open(&c)) == 0) {
		s.max_payload = MN_PAYLOAD_MAX_DEFAULT;
		/* base64 of the largest payload, and room for the JSON. */
		s.max_body = s.max_payload / 3 * 4 + 65536;
		s.max_inflight = 512;
		s.max_asks = (unsigned)o.max_asks;
		s.max_streams = (unsigned)o.max_streams;
		s.view_ms = 5000;
		if (signals_catch(&old_term, &old_int)) {
			fprintf(err, "mnemo serve: pipe: %s\n",
				strerror(errno));
			rc = MN__CLI_USAGE;
		}
	} else if (!rc) {
		rc = MN__CLI_USAGE;
	}
	uint16_t port = 0;
	if (!rc && mn__srv_start(&s, &sa, sizeof sa, (unsigned)o.threads,
				 s.max_inflight + 64, &port)) {
		signals_restore(&old_term, &old_int);
		rc = MN__CLI_USAGE;
	}
	if (rc) {
		mn_runtime_close(s.rt);
		mn__cli_close(&c);
		if (dl)
			dlclose(dl);
		srv_fini(&s);
		return rc;
	}
	if (o.port_file && write_port(&c, o.port_file, port)) {
		/* The listener runs; the caller could not learn the port. */
		rc = MN__CLI_USAGE;
		goto stop;
	}
	char msg[128];
	snprintf(msg, sizeof msg, "listening on %s port %u",
		 inet_ntoa(sa.sin_addr), port);
	mn__srv_log(&s, "info", msg, NULL);

	int sig;
	while ((sig = wait_signal()) == SIGUSR2)
		upgrade_on_signal(&s);
	snprintf(msg, sizeof msg, "signal %d: draining", sig);
	mn__srv_log(&s, "info", msg, NULL);
stop:
	atomic_store(&s.draining, 1);
	/* Event streams end at once (an "end" event), not at the deadline. */
	mn__srv_streams_end(&s);
	wait_idle(&s, mono_ms() + o.drain_ms);
	mn_runtime_drain(s.rt);
	pthread_rwlock_wrlock(&s.rt_lock);
	/* Streams opened meanwhile let go of their observers; asks still
	 * waiting end here (MN_ECLOSED: 503). */
	mn__srv_streams_detach(&s);
	mn_runtime_close(s.rt);
	s.rt = NULL;
	mn__cli_close(&c);
	pthread_rwlock_unlock(&s.rt_lock);
	/* Their answers go out; then the listener stops. */
	wait_idle(&s, mono_ms() + 1000);
	mn__srv_release_waiting(&s);
	mn__srv_stop(&s);
	mn__srv_log(&s, "info", "drained and closed", NULL);
	signals_restore(&old_term, &old_int);
	mn__srv_plugins_free(&s);
	dlclose(dl);
	srv_fini(&s);
	return rc;
}
