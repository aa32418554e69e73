/*
 * serve - `mnemo serve` under HTTP load on loopback (docs/serve.md), driven
 * by wrk (Debian's package; scripts/install-deps installs it), beside a
 * bare libmicrohttpd server and beside the in-process sends of the same
 * runtime, all in the same run.
 *
 * The server: the tool of this build ($BUILD/mnemo) as a child process,
 * `serve --listen 127.0.0.1:0 --port-file F --threads HTTP_THREADS
 * --workers W` over a fresh store in /tmp (sync durability, the default),
 * with the kind "tally" of tests/recovery/plugin_serve.c
 * ($BUILD/bench/serve-tally.so, built by make bench). wrk runs CONNS
 * keep-alive connections from WRK_THREADS threads for DURATION seconds
 * (5; BENCH_SCALE=full: 30) per route, each request to one of NACTORS
 * actors in turn, a small Lua script (written here) setting the method,
 * the JSON body and the Authorization header:
 *   - POST .../messages            fire-and-forget, 202 (mn_send)
 *   - POST .../messages?durable=1  stored, 201 (mn_send_durable_async)
 *   - POST .../ask                 the actor's reply, 200 (mn_ask)
 * Requests per second and the latency percentiles come from wrk's own
 * summary (its done() hook, the figures of wrk --latency). Any response
 * that is not 2xx, or a socket error, fails the run; afterwards every
 * actor is asked how many messages it handled, and the total must cover
 * every 202 and 201 wrk counted.
 *
 * The bare peer: a libmicrohttpd daemon in this process with serve's
 * settings (internal polling thread, epoll, a pool of HTTP_THREADS
 * threads) that reads the same request and answers a fixed 202
 * {"accepted":true}, measured the same way before and after the serve
 * runs (the better of the two is the peer: the ratio is not flattered by
 * a slow moment). ratio = serve / bare (the target is >= 0.7 for 202).
 *
 * In-process: the same kind in a runtime in this process on a fresh store,
 * the same actors: NSEND mn_send calls then mn_runtime_drain (messages
 * per second, processed and journaled), and CONNS outstanding
 * mn_send_durable_async / mn_ask calls kept in flight (as CONNS
 * connections would) for DURABLE_N / ASK_N completions. Each route's line
 * carries its in-process rate and the ratio to it: what HTTP costs.
 *
 * wrk missing: one line on stderr saying so, no HTTP figures (the
 * in-process line only), exit 0. BENCH_SERVE_PART=inproc runs the
 * in-process part alone.
 */
#include "bench/support/bench.h"
#include "tests/recovery/plugin_serve.c"
#include "tests/support/serve_proc.h"

#include <curl/curl.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NACTORS	     16
#define CONNS	     32
#define WRK_THREADS  2
#define HTTP_THREADS 4
#define TOKEN	     "bench-serve-token"

static char dir[] = "/tmp/mnemo-bench-serve-XXXXXX";
static pid_t srv = -1;
static unsigned srv_port;

static void kill_server(void)
{
	if (srv > 0)
		serve_proc_stop(srv, SIGKILL, 5000);
	srv = -1;
}

/* ---- wrk ------------------------------------------------------------------
 */

/* The script: args are the path (with %d for the actor), the number of
 * actors, the body and the token. done() prints one line for us. */
static const char lua[] =
    "local reqs = {}\n"
    "local i = 0\n"
    "function init(args)\n"
    "  wrk.method = 'POST'\n"
    "  wrk.body = args[3]\n"
    "  wrk.headers['Content-Type'] = 'application/json'\n"
    "  wrk.headers['Authorization'] = 'Bearer ' .. args[4]\n"
    "  for a = 0, tonumber(args[2]) - 1 do\n"
    "    reqs[#reqs + 1] = wrk.format(nil, string.format(args[1], a))\n"
    "  end\n"
    "end\n"
    "function request()\n"
    "  i = i % #reqs + 1\n"
    "  return reqs[i]\n"
    "end\n"
    "function done(s, lat, req)\n"
    "  local e = s.errors\n"
    "  io.write(string.format('MNEMO-WRK %d %d %d %d %d %d %d %.1f %.1f "
    "%.1f\\n', s.requests, s.duration, e.connect, e.read, e.write, "
    "e.status, e.timeout, lat:percentile(50), lat:percentile(99), "
    "lat:percentile(99.9)))\n"
    "end\n";

typedef struct wrk_res {
	double rps, p50_ms, p99_ms, p999_ms;
	unsigned long long requests;
} wrk_res;

static int have_wrk(void)
{
	return system("command -v wrk >/dev/null 2>&1") == 0;
}

/* wrk against port for secs seconds on path (with %d), body: the figures,
 * or death when a response was not 2xx or a socket failed. */
static wrk_res run_wrk(unsigned port, const char *what, const char *path,
		       const char *body, unsigned secs)
{
	char cmd[2048], line[1024];
	wrk_res r = {0};
	snprintf(cmd, sizeof cmd,
		 "wrk -t%d -c%d -d%us --latency --timeout 10s -s '%s/load.lua' "
		 "http://127.0.0.1:%u -- '%s' %d '%s' '%s' 2>&1",
		 WRK_THREADS, CONNS, secs, dir, port, path, NACTORS, body,
		 TOKEN);
	fflush(NULL);
	FILE *p = popen(cmd, "r");
	if (!p)
		bench_die("cannot run wrk");
	int got = 0;
	unsigned long long n = 0, dur = 0, ec, er, ew, es, et;
	while (fgets(line, sizeof line, p)) {
		if (sscanf(line,
			   "MNEMO-WRK %llu %llu %llu %llu %llu %llu %llu %lf "
			   "%lf %lf",
			   &n, &dur, &ec, &er, &ew, &es, &et, &r.p50_ms,
			   &r.p99_ms, &r.p999_ms) == 10)
			got = 1;
		else if (strstr(line, "Requests/sec") || strstr(line, " 99%") ||
			 strstr(line, "requests in"))
			fprintf(stderr, "  %s: %s", what, line);
	}
	int st = pclose(p);
	if (st != 0 || !got)
		bench_die("%s: wrk failed (status %d): %s", what, st, cmd);
	if (ec || er || ew || es || et)
		bench_die("%s: %llu connect, %llu read, %llu write errors, "
			  "%llu non-2xx responses, %llu timeouts in %llu "
			  "requests",
			  what, ec, er, ew, es, et, n);
	if (!n || !dur)
		bench_die("%s: no request completed", what);
	r.requests = n;
	r.rps = (double)n / ((double)dur / 1e6);
	r.p50_ms /= 1000, r.p99_ms /= 1000, r.p999_ms /= 1000;
	return r;
}

/* ---- the bare libmicrohttpd server ----------------------------------------
 */

static struct MHD_Response *bare_resp;
static char bare_mark; /* a connection's request has started */

static enum MHD_Result bare_request(void *cls, struct MHD_Connection *c,
				    const char *url, const char *method,
				    const char *version, const char *upload,
				    size_t *upload_size, void **con_cls)
{
	(void)cls, (void)url, (void)method, (void)version, (void)upload;
	if (!*con_cls) {
		*con_cls = &bare_mark;
		return MHD_YES;
	}
	if (*upload_size) {
		*upload_size = 0; /* read and dropped */
		return MHD_YES;
	}
	return MHD_queue_response(c, 202, bare_resp);
}

static wrk_res bare_run(unsigned secs, const char *path, const char *body)
{
	static const char text[] = "{\"accepted\":true}";
	bare_resp = MHD_create_response_from_buffer(
	    sizeof text - 1, (void *)text, MHD_RESPMEM_PERSISTENT);
	MHD_add_response_header(bare_resp, "Content-Type", "application/json");
	struct MHD_Daemon *d = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL,
	    bare_request, NULL, MHD_OPTION_THREAD_POOL_SIZE,
	    (unsigned)HTTP_THREADS, MHD_OPTION_CONNECTION_LIMIT, 576u,
	    MHD_OPTION_CONNECTION_TIMEOUT, 60u, MHD_OPTION_END);
	if (!d)
		bench_die("bare libmicrohttpd: cannot listen");
	const union MHD_DaemonInfo *di =
	    MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	wrk_res r = run_wrk(di->port, "bare 202", path, body, secs);
	MHD_stop_daemon(d);
	MHD_destroy_response(bare_resp);
	return r;
}

/* ---- in process ------------------------------------------------------------
 */

typedef struct window {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned out;
	uint64_t done, failed;
} window;

static void window_end(window *w, int rc)
{
	pthread_mutex_lock(&w->mu);
	w->out--;
	w->done++;
	w->failed += rc != 0;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

static void on_stored(void *arg, int rc)
{
	window_end(arg, rc);
}

static void on_reply(void *arg, int rc, uint32_t type, const void *payload,
		     size_t len)
{
	(void)type, (void)payload, (void)len;
	window_end(arg, rc);
}

/* n calls kept CONNS at a time (durable: mn_send_durable_async, else
 * mn_ask): completions per second. */
static double inproc_window(mn_runtime *rt, mn_kind *k, int durable, uint64_t n)
{
	window w = {.out = 0};
	pthread_mutex_init(&w.mu, NULL);
	pthread_cond_init(&w.cv, NULL);
	char key[16];
	double t0 = bench_now();
	for (uint64_t i = 0; i < n; i++) {
		pthread_mutex_lock(&w.mu);
		while (w.out >= CONNS)
			pthread_cond_wait(&w.cv, &w.mu);
		w.out++;
		pthread_mutex_unlock(&w.mu);
		int kl =
		    snprintf(key, sizeof key, "a%u", (unsigned)(i % NACTORS));
		int rc = durable ? mn_send_durable_async(rt, k, key, (size_t)kl,
							 TL_MARK, "1", 1,
							 on_stored, &w)
				 : mn_ask(rt, k, key, (size_t)kl, TL_ASK, NULL,
					  0, 30000, on_reply, &w, NULL);
		bench_check(rc, durable ? "mn_send_durable_async" : "mn_ask");
	}
	pthread_mutex_lock(&w.mu);
	while (w.out)
		pthread_cond_wait(&w.cv, &w.mu);
	pthread_mutex_unlock(&w.mu);
	double dt = bench_now() - t0;
	if (w.failed)
		bench_die("%llu of %llu in-process %s failed",
			  (unsigned long long)w.failed, (unsigned long long)n,
			  durable ? "stored sends" : "asks");
	pthread_cond_destroy(&w.cv);
	pthread_mutex_destroy(&w.mu);
	return (double)n / dt;
}

typedef struct inproc {
	double send, durable, ask;
} inproc;

static inproc inproc_run(unsigned workers)
{
	char path[600], key[16];
	inproc r;
	snprintf(path, sizeof path, "%s/inproc", dir);
	mn_runtime_opts o = MN_RUNTIME_OPTS_INIT;
	o.store_path = path;
	o.workers = workers;
	mn_runtime *rt;
	int rc = mn_runtime_open(&o, &rt);
	if (rc)
		bench_die("open: %s (%s)", mn_strerror(rc), mn_errdetail());
	mn_kind *k;
	bench_check(mn_kind_register(rt, &tally_kinds[0], &k),
		    "mn_kind_register");
	r.durable = inproc_window(rt, k, 1, bench_size(30000, 300000));
	r.ask = inproc_window(rt, k, 0, bench_size(50000, 500000));
	uint64_t nsend = bench_size(200000, 2000000);
	double t0 = bench_now();
	for (uint64_t i = 0; i < nsend; i++) {
		int kl =
		    snprintf(key, sizeof key, "a%u", (unsigned)(i % NACTORS));
		bench_check(mn_send(rt, k, key, (size_t)kl, TL_MARK, "1", 1),
			    "mn_send");
	}
	bench_drain(rt);
	r.send = (double)nsend / (bench_now() - t0);
	bench_note("in process: mn_send %.0f msg/s, mn_send_durable_async "
		   "%.0f/s, mn_ask %.0f/s (%d outstanding)",
		   r.send, r.durable, r.ask, CONNS);
	mn_runtime_close(rt);
	return r;
}

/* ---- mnemo serve -----------------------------------------------------------
 */

static void tool_paths(char *tool, char *plugin, size_t cap)
{
	const char *b = getenv("BUILD");
	char self[2048];
	if (b && *b) {
		snprintf(self, sizeof self, "%s", b);
	} else {
		ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
		if (n <= 0)
			bench_die("cannot find this binary");
		self[n] = 0;
		char *s = strrchr(self, '/');
		*s = 0; /* build/bench */
		s = strrchr(self, '/');
		if (s)
			*s = 0; /* build */
	}
	snprintf(tool, cap, "%s/mnemo", self);
	snprintf(plugin, cap, "%s/bench/serve-tally.so", self);
	if (access(tool, X_OK) || access(plugin, R_OK))
		bench_die("no %s or %s (make bench builds them)", tool, plugin);
}

static void serve_start(unsigned workers)
{
	char tool[4096], plugin[4096], store[600], portf[600], logf[600],
	    tokens[600], w[16], t[16];
	tool_paths(tool, plugin, sizeof tool);
	snprintf(store, sizeof store, "%s/store", dir);
	snprintf(portf, sizeof portf, "%s/port", dir);
	snprintf(logf, sizeof logf, "%s/serve.log", dir);
	snprintf(tokens, sizeof tokens, "%s/tokens", dir);
	snprintf(w, sizeof w, "%u", workers);
	snprintf(t, sizeof t, "%d", HTTP_THREADS);
	FILE *f = fopen(tokens, "w");
	if (!f || fputs(TOKEN "\n", f) < 0 || fclose(f))
		bench_die("cannot write %s", tokens);
	const char *args[] = {"--plugin",  plugin,	"--token-file",
			      tokens,	   "--threads", t,
			      "--workers", w,		NULL};
	if (serve_proc_start(tool, args, store, portf, logf, &srv, &srv_port))
		bench_die("mnemo serve did not start");
}

/* Messages the NACTORS actors handled, by asking each (an ask is handled
 * after what was queued before it). */
static uint64_t served_count(void)
{
	char path[128], body[512];
	uint64_t total = 0;
	for (unsigned a = 0; a < NACTORS; a++) {
		snprintf(path, sizeof path,
			 "/v1/actors/tally/a%u/ask?timeout_ms=120000", a);
		long st =
		    serve_http(srv_port, "POST", path, TOKEN, NULL,
			       "{\"type\":2}", 10, 130000, body, sizeof body);
		const char *c = strstr(body, "{\"count\":");
		if (st != 200 || !c)
			bench_die("ask a%u: status %ld: %s", a, st, body);
		total += strtoull(c + 9, NULL, 10);
	}
	return total;
}

/* ---- output ----------------------------------------------------------------
 */

static void line(const char *metric, const wrk_res *r, unsigned code,
		 unsigned secs, const char *peer, double peer_rps,
		 double inproc_rps)
{
	struct bench_json j;
	bench_json_begin(&j, "serve", metric, r->rps, "req/s");
	bench_json_u64(&j, "code", code);
	bench_json_f64(&j, "p50_ms", r->p50_ms);
	bench_json_f64(&j, "p99_ms", r->p99_ms);
	bench_json_f64(&j, "p999_ms", r->p999_ms);
	bench_json_u64(&j, "requests", r->requests);
	bench_json_u64(&j, "connections", CONNS);
	bench_json_u64(&j, "http_threads", HTTP_THREADS);
	bench_json_u64(&j, "duration_s", secs);
	if (inproc_rps > 0) {
		bench_json_f64(&j, "inprocess_per_s", inproc_rps);
		bench_json_f64(&j, "inprocess_ratio", r->rps / inproc_rps);
	}
	if (peer)
		bench_json_peer(&j, peer, peer_rps, r->rps / peer_rps);
	bench_json_end(&j);
}

static void p99_line(const char *metric, const wrk_res *r, const wrk_res *bare)
{
	struct bench_json j;
	bench_json_begin(&j, "serve", metric, r->p99_ms, "ms");
	bench_json_peer(&j, "bare_mhd_202", bare->p99_ms,
			r->p99_ms > 0 ? bare->p99_ms / r->p99_ms : 0);
	bench_json_end(&j);
}

static void inproc_line(const inproc *in, unsigned workers)
{
	struct bench_json j;
	bench_json_begin(&j, "serve", "inprocess_send_msgs_per_s", in->send,
			 "msg/s");
	bench_json_f64(&j, "durable_async_per_s", in->durable);
	bench_json_f64(&j, "ask_per_s", in->ask);
	bench_json_u64(&j, "outstanding", CONNS);
	bench_json_u64(&j, "actors", NACTORS);
	bench_json_u64(&j, "threads", workers);
	bench_json_end(&j);
}

int main(void)
{
	bench_init("serve");
	unsigned secs = bench_full() ? 30 : 5;
	unsigned workers = bench_threads();
	const char *part = getenv("BENCH_SERVE_PART");
	bench_store_dir(dir);
	int wrk = have_wrk();
	if (!wrk)
		bench_note(
		    "skipped: wrk is not installed (scripts/install-deps "
		    "installs Debian's wrk): no HTTP figures, only the "
		    "in-process ones");
	if ((part && strcmp(part, "inproc") == 0) || !wrk) {
		inproc in = inproc_run(workers);
		inproc_line(&in, workers);
		return 0;
	}
	atexit(kill_server);
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	char script[600];
	snprintf(script, sizeof script, "%s/load.lua", dir);
	FILE *f = fopen(script, "w");
	if (!f || fputs(lua, f) < 0 || fclose(f))
		bench_die("cannot write %s", script);

	const char *msg_path = "/v1/actors/tally/a%d/messages";
	const char *body = "{\"type\":1,\"json\":{\"text\":\"hello\"}}";
	wrk_res bare1 = bare_run(secs, msg_path, body);

	serve_start(workers);
	wrk_res ff = run_wrk(srv_port, "serve 202", msg_path, body, secs);
	wrk_res du =
	    run_wrk(srv_port, "serve 201",
		    "/v1/actors/tally/a%d/messages?durable=1", body, secs);
	wrk_res ask = run_wrk(srv_port, "serve 200 ask",
			      "/v1/actors/tally/a%d/ask?timeout_ms=10000",
			      "{\"type\":2}", secs);
	uint64_t handled = served_count();
	if (handled < ff.requests + du.requests)
		bench_die("the actors handled %llu messages, fewer than the "
			  "%llu 202s and 201s",
			  (unsigned long long)handled,
			  (unsigned long long)(ff.requests + du.requests));
	int st = serve_proc_stop(srv, SIGTERM, 60000);
	srv = -1;
	if (st != 0)
		bench_die("mnemo serve exited with %d after SIGTERM", st);
	struct stat sb;
	char store_data[700];
	snprintf(store_data, sizeof store_data, "%s/store/data.mdb", dir);
	bench_note("serve: %llu messages handled; store %lld bytes",
		   (unsigned long long)handled,
		   stat(store_data, &sb) ? -1LL : (long long)sb.st_size);

	wrk_res bare2 = bare_run(secs, msg_path, body);
	const wrk_res *bare = bare2.rps > bare1.rps ? &bare2 : &bare1;
	bench_note("bare 202: %.0f then %.0f req/s", bare1.rps, bare2.rps);

	inproc in = inproc_run(workers);

	line("bare_mhd_202_req_per_s", bare, 202, secs, NULL, 0, 0);
	line("send_202_req_per_s", &ff, 202, secs, "bare_mhd_202", bare->rps,
	     in.send);
	line("durable_201_req_per_s", &du, 201, secs, "bare_mhd_202", bare->rps,
	     in.durable);
	line("ask_200_req_per_s", &ask, 200, secs, "bare_mhd_202", bare->rps,
	     in.ask);
	p99_line("send_202_p99_ms", &ff, bare);
	p99_line("durable_201_p99_ms", &du, bare);
	p99_line("ask_200_p99_ms", &ask, bare);
	inproc_line(&in, workers);
	curl_global_cleanup();
	return 0;
}
