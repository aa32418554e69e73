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
#include <microhttpd.h>
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
#include "recovery/serve_config.h"

static const char synopsis[] =
    "mnemo serve [--config FILE] [--plugin LIB.so] [--listen HOST:PORT] "
    "[--token-file F] [--port-file F] [--log-file F] [--tls-cert F "
    "--tls-key F] [--drain-ms MS] [--threads N] [--max-asks N] "
    "[--max-streams N] [--workers N] [--max-body BYTES] [STORE]";

static const char help[] =
    "NAME\n"
    "    mnemo serve - host a plugin's kinds over a store, behind HTTP\n"
    "\n"
    "SYNOPSIS\n"
    "    mnemo serve [--config FILE] [--plugin LIB.so] [--listen HOST:PORT]\n"
    "                [--token-file F] [--port-file F] [--log-file F]\n"
    "                [--tls-cert F --tls-key F] [--drain-ms MS]\n"
    "                [--threads N] [--max-asks N] [--max-streams N]\n"
    "                [--workers N] [--max-body BYTES] [STORE]\n"
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
    "    mnemo check on a sample of each kind, then swapped; not for a\n"
    "    token limited to kinds or to reading). Every /v1 request needs\n"
    "    Authorization: Bearer TOKEN; a token may be limited to some kinds\n"
    "    and to reading (403 otherwise). Logs one JSON object a line on\n"
    "    stderr or --log-file (reopened on SIGHUP). SIGTERM or SIGINT\n"
    "    drains and exits 0; SIGUSR2 upgrades to --plugin's file again.\n"
    "    docs/serve.md has the details.\n"
    "\n"
    "    Every option can also be given in the config file (a JSON object:\n"
    "    \"listen\", \"plugin\", \"store\", \"tokens\", \"token_file\",\n"
    "    \"port_file\", \"log_file\", \"tls_cert\", \"tls_key\", "
    "\"drain_ms\",\n"
    "    \"threads\", \"max_asks\", \"max_streams\", \"workers\",\n"
    "    \"max_body\") and in the\n"
    "    environment (MNEMO_SERVE_LISTEN, ..., MNEMO_SERVE_CONFIG for the\n"
    "    file itself); the command line wins over the environment, which\n"
    "    wins over the file.\n"
    "\n"
    "OPTIONS\n"
    "    -c, --config FILE       a JSON config file (MNEMO_SERVE_CONFIG)\n"
    "    -p, --plugin LIB.so     the shared object with the kinds\n"
    "    -l, --listen HOST:PORT  IPv4 address or [IPv6] and port (default\n"
    "                            127.0.0.1:8700; port 0: any free port)\n"
    "    -t, --token-file F      tokens, one a line: TOKEN [kinds=K1,K2]\n"
    "                            [ro] (or MNEMO_SERVE_TOKENS, entries\n"
    "                            separated by ';')\n"
    "    -P, --port-file F       write the bound port there once listening\n"
    "    -L, --log-file F        log there instead of stderr (appended;\n"
    "                            SIGHUP reopens it)\n"
    "    -C, --tls-cert F        PEM certificate (chain): serve HTTPS\n"
    "    -K, --tls-key F         its PEM private key\n"
    "    -d, --drain-ms MS       how long requests in flight get at SIGTERM\n"
    "                            (default 10000)\n"
    "    -T, --threads N         HTTP threads (default 4)\n"
    "    -a, --max-asks N        asks and stored sends waiting at once\n"
    "                            (default 1024; 429 beyond)\n"
    "    -S, --max-streams N     event streams open at once (default 64;\n"
    "                            429 beyond)\n"
    "    -w, --workers N         runtime worker threads (default: cores)\n"
    "    -B, --max-body BYTES    request body limit (default: the base64\n"
    "                            of the largest payload plus 64 KiB)\n"
    "    -h, --help              this text\n"
    "\n"
    "EXIT STATUS\n"
    "    0 after a drain; 2 usage error, a bad config file, a plugin, token\n"
    "    file, certificate or store that cannot be loaded, an address that\n"
    "    cannot be bound.\n"
    "\n"
    "EXAMPLE\n"
    "    MNEMO_SERVE_TOKENS=secret mnemo serve --plugin ./agents.so ./data\n";

static int on_option(mn__cli *c, int ch, const char *arg, void *u)
{
	return mn__srv_conf_flag(c, u, ch, arg);
}

static const mn__cli_spec serve_spec = {
    .name = "serve",
    .synopsis = synopsis,
    .help = help,
    .shortopts = "c:p:l:t:P:L:C:K:d:T:a:S:w:B:",
    .opts =
	(const struct option[]){{"config", required_argument, NULL, 'c'},
				{"plugin", required_argument, NULL, 'p'},
				{"listen", required_argument, NULL, 'l'},
				{"token-file", required_argument, NULL, 't'},
				{"port-file", required_argument, NULL, 'P'},
				{"log-file", required_argument, NULL, 'L'},
				{"tls-cert", required_argument, NULL, 'C'},
				{"tls-key", required_argument, NULL, 'K'},
				{"drain-ms", required_argument, NULL, 'd'},
				{"threads", required_argument, NULL, 'T'},
				{"max-asks", required_argument, NULL, 'a'},
				{"max-streams", required_argument, NULL, 'S'},
				{"workers", required_argument, NULL, 'w'},
				{"max-body", required_argument, NULL, 'B'},
				{NULL, 0, NULL, 0}},
    .nargs = 1,
    .args_optional = true,
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

/* The signals caught, and their old actions (restored at the end). */
static const int caught[] = {SIGTERM, SIGINT, SIGHUP, SIGUSR2};
#define NCAUGHT (sizeof caught / sizeof caught[0])

static int signals_catch(struct sigaction old[NCAUGHT])
{
	if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK))
		return -1;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	for (size_t i = 0; i < NCAUGHT; i++)
		sigaction(caught[i], &sa, &old[i]);
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

static void signals_restore(struct sigaction old[NCAUGHT])
{
	for (size_t i = 0; i < NCAUGHT; i++)
		sigaction(caught[i], &old[i], NULL);
	close(sig_pipe[0]);
	close(sig_pipe[1]);
	sig_pipe[0] = sig_pipe[1] = -1;
}

/* ---- start ----------------------------------------------------------------
 */

/* HOST:PORT (an IPv4 address) or [HOST]:PORT (an IPv6 one) into sa. */
static int parse_listen(mn__cli *c, const char *where, const char *text,
			struct sockaddr_storage *sa, socklen_t *sa_len)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon = strrchr(text, ':'), *h = text;
	size_t hlen = colon ? (size_t)(colon - text) : 0;
	uint64_t port;
	bool v6 = text[0] == '[';
	if (v6) {
		h++;
		hlen = hlen >= 2 && text[hlen - 1] == ']' ? hlen - 2 : SIZE_MAX;
	}
	memset(sa, 0, sizeof *sa);
	if (!colon || hlen >= sizeof host ||
	    mn__cli_parse_u64(colon + 1, &port) || port > 65535)
		return mn__cli_usage(c,
				     "%s wants HOST:PORT or [HOST]:PORT, not "
				     "'%s'",
				     where, text);
	memcpy(host, h, hlen);
	host[hlen] = 0;
	if (v6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)sa;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		*sa_len = sizeof *a;
		if (inet_pton(AF_INET6, host, &a->sin6_addr) == 1)
			return 0;
		return mn__cli_usage(c,
				     "%s wants an IPv6 address in brackets, "
				     "not '%s'",
				     where, host);
	}
	struct sockaddr_in *a = (struct sockaddr_in *)sa;
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)port);
	*sa_len = sizeof *a;
	if (inet_pton(AF_INET, host, &a->sin_addr) == 1)
		return 0;
	return mn__cli_usage(
	    c, "%s wants an IPv4 address (or [IPv6]), not '%s'", where, host);
}

/* The address of sa as text (buf: INET6_ADDRSTRLEN + 2), and whether it
 * is a loopback one. */
static bool addr_text(const struct sockaddr_storage *sa, char *buf, size_t cap)
{
	if (sa->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)sa;
		char t[INET6_ADDRSTRLEN];
		inet_ntop(AF_INET6, &a->sin6_addr, t, sizeof t);
		snprintf(buf, cap, "[%s]", t);
		return IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
	}
	const struct sockaddr_in *a = (const void *)sa;
	inet_ntop(AF_INET, &a->sin_addr, buf, (socklen_t)cap);
	return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
}

/* A whole text file into a malloc'd NUL-terminated string (*out), for
 * the PEM files. Returns 0, or -1 said on c->err. */
static int read_text(mn__cli *c, const char *what, const char *path, char **out)
{
	FILE *f = fopen(path, "r");
	size_t cap = 0;
	*out = NULL;
	ssize_t n = f ? getdelim(out, &cap, '\0', f) : -1;
	if (n <= 0) {
		fprintf(c->err, "mnemo serve: reading the %s %s: %s\n", what,
			path, f ? "empty" : strerror(errno));
		if (f)
			fclose(f);
		free(*out);
		*out = NULL;
		return -1;
	}
	fclose(f);
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
	if (!plugin || !realpath(plugin, r))
		return;
	char *slash = strrchr(r, '/');
	if (slash && slash != r) {
		*slash = 0;
		snprintf(s->plugin_dir, sizeof s->plugin_dir, "%s", r);
	}
}

/* Wait for SIGTERM or SIGINT; returns the signal. SIGHUP reopens the log
 * file meanwhile; SIGUSR2 runs a hot upgrade. */
static int wait_signal(mn__srv *s)
{
	for (;;) {
		struct pollfd p = {.fd = sig_pipe[0], .events = POLLIN};
		if (poll(&p, 1, -1) < 0 && errno != EINTR)
			return 0;
		unsigned char b;
		if (read(sig_pipe[0], &b, 1) != 1)
			continue;
		if (b == SIGUSR2) {
			upgrade_on_signal(s);
			continue;
		}
		if (b != SIGHUP)
			return b;
		if (s->log_path)
			mn__srv_log_reopen(s);
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
	if (s->tls_key) {
		/* The private key is not left in freed memory. */
		volatile char *p = s->tls_key;
		for (size_t i = 0; p[i]; i++)
			p[i] = 0;
	}
	free(s->tls_key);
	free(s->tls_cert);
	if (s->log)
		fclose(s->log);
	pthread_rwlock_destroy(&s->rt_lock);
	pthread_mutex_destroy(&s->store_mu);
	pthread_mutex_destroy(&s->wait_mu);
	pthread_mutex_destroy(&s->log_mu);
	pthread_mutex_destroy(&s->obs_mu);
	pthread_mutex_destroy(&s->upgrade_mu);
}

/* What comes before the runtime: the options' checks, the tokens, the
 * certificate, the log file. Returns 0 or an exit code (said). */
static int srv_prepare(mn__srv *s, mn__cli *c, const mn__srv_conf *o)
{
	/* The tokens first: a config file's mistakes are all said before
	 * what is missing. */
	if (mn__srv_tokens_load(s, o))
		return MN__CLI_USAGE;
	if (!o->plugin)
		return mn__cli_usage(c, "--plugin LIB.so is required (or "
					"\"plugin\" in the config file)");

	if (!o->store)
		return mn__cli_usage(c, "missing STORE (or \"store\" in the "
					"config file)");
	if (!o->tls_cert != !o->tls_key)
		return mn__cli_usage(c, "--tls-cert and --tls-key go together");
	if (o->tls_cert && !MHD_is_feature_supported(MHD_FEATURE_TLS)) {
		fprintf(c->err, "mnemo serve: this libmicrohttpd was built "
				"without TLS (MHD_FEATURE_TLS): no "
				"--tls-cert\n");
		return MN__CLI_USAGE;
	}
	if (o->tls_cert &&
	    (read_text(c, "TLS certificate", o->tls_cert, &s->tls_cert) ||
	     read_text(c, "TLS key", o->tls_key, &s->tls_key)))
		return MN__CLI_USAGE;
	s->log_path = o->log_file;
	if (s->log_path && mn__srv_log_reopen(s))
		return MN__CLI_USAGE;
	return 0;
}

int mn__cmd_serve(int argc, char **argv, FILE *out, FILE *err)
{
	mn__cli c;
	mn__srv s;
	mn__srv_conf o;
	char **args;
	struct sockaddr_storage sa;
	socklen_t sa_len = 0;
	struct sigaction old_sig[NCAUGHT];
	void *dl = NULL;
	int rc;

	mn__srv_conf_init(&o);
	if ((rc = mn__cli_begin(&c, &serve_spec, &o, argc, argv, out, err,
				&args)) != MN__CLI_GO)
		return rc;
	if (c.path)
		o.store = c.path, o.from[MN__SRV_O_STORE] = MN__SRV_FROM_CLI;
	if ((rc = mn__srv_conf_load(&c, &o))) {
		mn__srv_conf_free(&o);
		return rc;
	}
	c.path = o.store;
	static const char *const listen_from[] = {
	    [MN__SRV_FROM_DEFAULT] = "--listen",
	    [MN__SRV_FROM_CONFIG] = "the config's \"listen\"",
	    [MN__SRV_FROM_ENV] = "MNEMO_SERVE_LISTEN",
	    [MN__SRV_FROM_CLI] = "--listen"};
	if ((rc = parse_listen(&c, listen_from[o.from[MN__SRV_O_LISTEN]],
			       o.listen, &sa, &sa_len))) {
		mn__srv_conf_free(&o);
		return rc;
	}
	srv_init(&s, &c);
	plugin_dir(&s, o.plugin);
	if ((rc = srv_prepare(&s, &c, &o))) {
		srv_fini(&s);
		mn__srv_conf_free(&o);
		return rc;
	}

	mn_runtime_opts ro = MN_RUNTIME_OPTS_INIT;
	ro.store_path = c.path;
	ro.workers = (unsigned)o.workers;
	if ((rc = mn_runtime_open(&ro, &s.rt))) {
		fprintf(err, "mnemo serve: opening store %s: %s (%s)\n", c.path,
			mn_err_name(rc), mn_errdetail());
		srv_fini(&s);
		mn__srv_conf_free(&o);
		return MN__CLI_USAGE;
	}
	rc = load_kinds(&c, o.plugin, s.rt, &dl);
	if (!rc && (rc = mn__cli_open(&c)) == 0) {
		s.max_payload = MN_PAYLOAD_MAX_DEFAULT;
		/* base64 of the largest payload, and room for the JSON. */
		s.max_body = o.max_body ? (size_t)o.max_body
					: s.max_payload / 3 * 4 + 65536;
		s.max_inflight = 512;
		s.max_asks = (unsigned)o.max_asks;
		s.max_streams = (unsigned)o.max_streams;
		s.view_ms = 5000;
		if (signals_catch(old_sig)) {
			fprintf(err, "mnemo serve: pipe: %s\n",
				strerror(errno));
			rc = MN__CLI_USAGE;
		}
	} else if (!rc) {
		rc = MN__CLI_USAGE;
	}
	uint16_t port = 0;
	if (!rc && mn__srv_start(&s, &sa, sa_len, (unsigned)o.threads,
				 s.max_inflight + 64, &port)) {
		signals_restore(old_sig);
		rc = MN__CLI_USAGE;
	}
	if (rc) {
		mn_runtime_close(s.rt);
		mn__cli_close(&c);
		if (dl)
			dlclose(dl);
		srv_fini(&s);
		mn__srv_conf_free(&o);
		return rc;
	}
	if (o.port_file && write_port(&c, o.port_file, port)) {
		/* The listener runs; the caller could not learn the port. */
		rc = MN__CLI_USAGE;
		goto stop;
	}
	char msg[160], host[INET6_ADDRSTRLEN + 2];
	bool loopback = addr_text(&sa, host, sizeof host);
	snprintf(msg, sizeof msg, "listening on %s port %u%s", host, port,
		 s.tls_cert ? " (https)" : "");
	mn__srv_log(&s, "info", msg, NULL);
	if (!loopback && !s.tls_cert) {
		snprintf(msg, sizeof msg,
			 "%s is not a loopback address and there is no TLS: "
			 "tokens and bodies cross the network in clear",
			 host);
		mn__srv_log(&s, "warn", msg, NULL);
	}

	int sig = wait_signal(&s);
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
	signals_restore(old_sig);
	mn__srv_plugins_free(&s);
	dlclose(dl);
	srv_fini(&s);
	mn__srv_conf_free(&o);
	return rc;
}
