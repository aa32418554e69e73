/*
 * desk.c - the second demo: a support desk of LLM agents (kinds.c) that
 * survives a SIGKILL mid-conversation with calls in flight.
 *
 *   1. The parent starts the stand-in server (build/tests/tools/
 *      standin-server, a child process: an OpenAI-
 *      compatible chat endpoint and the shipping service) unless
 *      MNEMO_LLM_URL is set, in which case the LLM is that endpoint.
 *   2. A child process opens the store and sends every conversation its
 *      configuration and its user turns as durable messages; the agents
 *      talk to the LLM, run tools, wait for people (the child plays them:
 *      it approves some refunds, denies some, leaves the rest unanswered
 *      until the escalation timer fires).
 *   3. Once a share of the turns is answered the parent kills the child
 *      (SIGKILL), reopens the store (the runtime issues the pending calls
 *      again) and plays the people from then on, until no call is pending.
 *   4. Checks: every conversation complete; every tool executed exactly
 *      once (order-desk lookups against the agents' records); every
 *      approval honoured; every refund nobody answered escalated once;
 *      toward the stand-in, no request repeated beyond its injected faults
 *      and the re-issues after the crash. Then a summary.
 *
 * Usage: support-desk [--conversations N] [--turns T] [--resident R]
 *                     [--escalate-ms MS] [--kill-at PERCENT] [--store DIR]
 *                     [--keep] [--seed N]
 */
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "desk.h"
#include <curl/curl.h>
#include <jansson.h>

typedef struct opts {
	uint64_t convs;
	uint32_t turns;
	uint64_t resident;
	uint32_t escalate_ms;
	unsigned kill_pct;
	uint64_t seed;
	char store[512];
	int keep;
	int real; /* MNEMO_LLM_URL was set: no stand-in LLM */
} opts;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: support-desk [--conversations N] [--turns T] "
		"[--resident R]\n"
		"                    [--escalate-ms MS] [--kill-at PERCENT] "
		"[--store DIR] [--keep] [--seed N]\n"
		"\n"
		"Runs N support conversations of T turns against an LLM, "
		"kills the process\n"
		"with SIGKILL once PERCENT of the turns are answered, "
		"restarts, and checks\n"
		"that every conversation completed, every tool ran once and "
		"every approval\n"
		"was honoured. By default the LLM is the stand-in server "
		"(a child process)\n"
		"(deterministic, scripted tool calls, injected faults). With "
		"MNEMO_LLM_URL\n"
		"(e.g. https://api.openai.com/v1/chat/completions), "
		"MNEMO_LLM_MODEL and\n"
		"MNEMO_LLM_API_KEY set, the same binary talks to that "
		"endpoint instead (no\n"
		"stand-in LLM, no faults; the shipping tool still uses the "
		"stand-in\n"
		"server); start with a few conversations: every turn is a "
		"paid call.\n");
}

/* ---- the people: answers to bridged calls ----------------------------------
 */

typedef struct answer {
	mn_call_ref ref;
	int yes;
	double due;
} answer;

static struct {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	answer *q;
	size_t n, cap;
	int stop;
	mn_runtime *rt;
	_Atomic uint64_t asked, answered, again;
} people = {.lock = PTHREAD_MUTEX_INITIALIZER,
	    .wake = PTHREAD_COND_INITIALIZER};

/* on_bridge_call: a refund waits for a person. The person of the
 * conversation answers 30 ms later, or never (desk_person). */
static void on_bridge(void *arg, const mn_bridge_call *call)
{
	(void)arg;
	char key[MN_KEY_MAX + 1];
	size_t n =
	    call->actor.key_len < MN_KEY_MAX ? call->actor.key_len : MN_KEY_MAX;
	memcpy(key, call->actor.key, n);
	key[n] = '\0';
	int p = desk_person(strtoull(key + 5, NULL, 10));
	atomic_fetch_add(&people.asked, 1);
	if (call->again)
		atomic_fetch_add(&people.again, 1);
	if (!p)
		return;
	pthread_mutex_lock(&people.lock);
	if (people.n == people.cap) {
		size_t cap = people.cap ? people.cap * 2 : 256;
		answer *q = realloc(people.q, cap * sizeof *q);
		if (!q) {
			pthread_mutex_unlock(&people.lock);
			return;
		}
		people.q = q;
		people.cap = cap;
	}
	people.q[people.n++] =
	    (answer){.ref = call->ref, .yes = p == 'a', .due = now_s() + 0.03};
	pthread_cond_signal(&people.wake);
	pthread_mutex_unlock(&people.lock);
}

static void *people_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&people.lock);
	while (!people.stop) {
		if (!people.n) {
			pthread_cond_wait(&people.wake, &people.lock);
			continue;
		}
		answer a = people.q[0];
		double wait = a.due - now_s();
		if (wait > 0) {
			pthread_mutex_unlock(&people.lock);
			usleep((useconds_t)(wait * 1e6));
			pthread_mutex_lock(&people.lock);
			continue;
		}
		memmove(people.q, people.q + 1, --people.n * sizeof *people.q);
		pthread_mutex_unlock(&people.lock);
		const char *t = a.yes ? "approve" : "deny";
		if (mn_call_complete(people.rt, &a.ref, 200, t, strlen(t)) == 0)
			atomic_fetch_add(&people.answered, 1);
		pthread_mutex_lock(&people.lock);
	}
	pthread_mutex_unlock(&people.lock);
	return NULL;
}

static pthread_t people_thread;

static void people_start(mn_runtime *rt)
{
	people.rt = rt;
	people.stop = 0;
	pthread_create(&people_thread, NULL, people_main, NULL);
}

static void people_stop(void)
{
	pthread_mutex_lock(&people.lock);
	people.stop = 1;
	people.n = 0;
	pthread_cond_signal(&people.wake);
	pthread_mutex_unlock(&people.lock);
	pthread_join(people_thread, NULL);
}

/* ---- the runtime
 * -------------------------------------------------------------- */

static _Atomic uint64_t stream_chunks;

static void on_stream(void *arg, const mn_stream_chunk *c)
{
	(void)arg, (void)c;
	atomic_fetch_add(&stream_chunks, 1);
}

static mn_kind *agent_kind;

/* Failure events (a handler error, a dropped message): said on stderr. */
static void on_event(void *arg, const mn_event *ev)
{
	(void)arg;
	fprintf(stderr, "  event: %.*s: %s (%s)\n", (int)ev->addr.key_len,
		(const char *)ev->addr.key, ev->reason, mn_err_name(ev->err));
}

static int open_runtime(const opts *o, mn_runtime **rt, mn_llm_config *cfg)
{
	mn_runtime_opts ro = MN_RUNTIME_OPTS_INIT;
	ro.store_path = o->store;
	ro.durability = MN_DURABILITY_SYNC;
	ro.max_resident = o->resident;
	ro.idle_evict_ms = 200;
	ro.on_bridge_call = on_bridge;
	ro.on_stream = on_stream;
	ro.on_event = on_event;
	size_t n;
	const mn_kind_def *defs = desk_kinds(&n);
	/* Recovery (stored messages, calls issued again, due timers) waits
	 * until every kind is registered: a supervisor handed a stored
	 * escalation must find the agents' kind. */
	ro.kinds_expected = (unsigned)n;
	int rc = mn_runtime_open(&ro, rt);
	if (!rc)
		rc = mn_llm_config_from_env(*rt, cfg);
	mn_kind *k = NULL;
	for (size_t i = n; !rc && i-- > 0;) {
		rc = mn_kind_register(*rt, &defs[i], &k);
		if (i == 0)
			agent_kind = k;
	}
	if (rc)
		fprintf(stderr, "support-desk: opening the store: %s (%s)\n",
			mn_err_name(rc), mn_errdetail());
	return rc;
}

static int conv_key(uint64_t c, char *key)
{
	return snprintf(key, 24, "conv-%06" PRIu64, c);
}

/* ---- the child: conversations until killed
 * ------------------------------------ */

static _Atomic uint64_t stored;

static void on_stored(void *arg, int rc)
{
	(void)arg;
	if (rc)
		_exit(3);
	atomic_fetch_add(&stored, 1);
}

static void child(const opts *o, const desk_config *dc, int fd)
{
	mn_runtime *rt;
	mn_llm_config cfg;
	desk_out sink = {0};
	desk_sink = &sink;
	if (open_runtime(o, &rt, &cfg))
		_exit(2);
	people_start(rt);
	uint64_t sent = 0;
	for (uint64_t c = 0; c < o->convs; c++) {
		char key[24];
		int kn = conv_key(c, key);
		if (mn_send_durable_async(rt, agent_kind, key, (size_t)kn,
					  MSG_START, dc, sizeof *dc, on_stored,
					  NULL))
			_exit(4);
		sent++;
		for (uint32_t t = 0; t < o->turns; t++) {
			desk_turn dt;
			desk_script(c, t, &dt);
			if (mn_send_durable_async(
				rt, agent_kind, key, (size_t)kn, MSG_TURN,
				dt.text, strlen(dt.text), on_stored, NULL))
				_exit(4);
			sent++;
		}
	}
	/* Progress to the parent: turns answered, every 10 ms. */
	for (;;) {
		uint64_t v[2] = {atomic_load(&sink.turns_done),
				 atomic_load(&stored) == sent};
		if (write(fd, v, sizeof v) != sizeof v)
			_exit(5);
		usleep(10000);
	}
}

/* ---- the parent
 * ------------------------------------------------------------------ */

/* ---- the stand-in server, a program of the build --------------------------
 */

/* Start <build>/tests/tools/standin-server (beside <build>/bin, where this
 * program is) and read the port it prints. 0 and *pid, or -1. */
static int standin_spawn(uint64_t seed, pid_t *pid, char *base, size_t cap)
{
	char self[900], path[1000], seed_arg[32];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n <= 0)
		return -1;
	self[n] = '\0';
	*strrchr(self, '/') = '\0';
	snprintf(path, sizeof path, "%s/../tests/tools/standin-server", self);
	snprintf(seed_arg, sizeof seed_arg, "%" PRIu64, seed);
	int p[2];
	if (access(path, X_OK) != 0 || pipe(p) != 0) {
		fprintf(stderr, "support-desk: no %s (make desk builds it)\n",
			path);
		return -1;
	}
	fflush(stdout);
	if ((*pid = fork()) < 0)
		return -1;
	if (*pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
		execl(path, path, "--seed", seed_arg, "--latency", "2:20",
		      "--threads", "2", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	char line[32] = "";
	size_t len = 0;
	double t0 = now_s();
	while (!memchr(line, '\n', len) && len < sizeof line - 1 &&
	       now_s() - t0 < 5) {
		struct pollfd pf = {.fd = p[0], .events = POLLIN};
		if (poll(&pf, 1, 100) <= 0)
			continue;
		ssize_t got = read(p[0], line + len, sizeof line - 1 - len);
		if (got <= 0)
			break;
		len += (size_t)got;
		line[len] = '\0';
	}
	close(p[0]);
	unsigned port = (unsigned)strtoul(line, NULL, 10);
	if (!port || port > 65535) {
		kill(*pid, SIGKILL);
		waitpid(*pid, NULL, 0);
		return -1;
	}
	snprintf(base, cap, "http://127.0.0.1:%u", port);
	return 0;
}

typedef struct body {
	char *p;
	size_t len;
} body;

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	body *b = arg;
	size_t k = size * n;
	char *t = realloc(b->p, b->len + k + 1);
	if (!t)
		return 0;
	memcpy(t + b->len, data, k);
	b->p = t;
	b->len += k;
	b->p[b->len] = '\0';
	return k;
}

/* GET base/stats as JSON (NULL on failure). */
static json_t *standin_stats(const char *base)
{
	char url[128];
	body b = {0};
	snprintf(url, sizeof url, "%s/stats", base);
	CURL *e = curl_easy_init();
	if (!e)
		return NULL;
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 30000L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
	CURLcode rc = curl_easy_perform(e);
	curl_easy_cleanup(e);
	json_t *j =
	    rc == CURLE_OK && b.p ? json_loadb(b.p, b.len, 0, NULL) : NULL;
	free(b.p);
	return j;
}

typedef struct key_tally {
	uint64_t keys, requests, faults, reissued, repeated;
} key_tally;

/* Requests per Idempotency-Key beyond the injected faults: 1, or 2 for a
 * call issued again after the crash; more is a call made twice. */
static void tally_keys(json_t *stats, key_tally *t)
{
	const char *key;
	json_t *v;
	json_t *faults = json_object_get(stats, "faults");
	t->requests =
	    (uint64_t)json_integer_value(json_object_get(stats, "requests"));
	json_object_foreach(json_object_get(stats, "keys"), key, v)
	{
		uint64_t n = (uint64_t)json_integer_value(v);
		uint64_t f =
		    (uint64_t)json_integer_value(json_object_get(faults, key));
		t->keys++;
		t->faults += f;
		if (n - f - 1 == 1)
			t->reissued++;
		else if (n - f - 1 > 1)
			t->repeated++;
	}
}

typedef struct expect {
	uint64_t lookups, ships, auto_refunds, approve, deny, unanswered;
} expect;

static int check(int ok, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("  %s ", ok ? "ok  " : "FAIL");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	return ok;
}

int main(int argc, char **argv)
{
	opts o = {.convs = 2000,
		  .turns = 4,
		  .escalate_ms = 300,
		  .kill_pct = 40,
		  .seed = 1};
	snprintf(o.store, sizeof o.store, "build/desk-store-%d", (int)getpid());
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "--keep"))
			o.keep = 1;
		else if (!v) {
			usage(stderr);
			return 2;
		} else if (!strcmp(a, "--conversations"))
			o.convs = strtoull(v, NULL, 10), i++;
		else if (!strcmp(a, "--turns"))
			o.turns = (uint32_t)strtoul(v, NULL, 10), i++;
		else if (!strcmp(a, "--resident"))
			o.resident = strtoull(v, NULL, 10), i++;
		else if (!strcmp(a, "--escalate-ms"))
			o.escalate_ms = (uint32_t)strtoul(v, NULL, 10), i++;
		else if (!strcmp(a, "--kill-at"))
			o.kill_pct = (unsigned)strtoul(v, NULL, 10), i++;
		else if (!strcmp(a, "--seed"))
			o.seed = strtoull(v, NULL, 10), i++;
		else if (!strcmp(a, "--store"))
			snprintf(o.store, sizeof o.store, "%s", v), i++;
		else {
			usage(stderr);
			return 2;
		}
	}
	if (!o.convs || o.convs > 999999 || !o.turns || o.turns > 8 ||
	    o.kill_pct > 100) {
		fprintf(stderr, "support-desk: --conversations 1..999999, "
				"--turns 1..8, --kill-at 0..100\n");
		return 2;
	}
	if (!o.resident)
		o.resident = o.convs / 8 ? o.convs / 8 : 1;

	/* The stand-in: the shipping service always, the LLM unless
	 * MNEMO_LLM_URL names another. */
	pid_t srv;
	char base[64];
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (standin_spawn(o.seed, &srv, base, sizeof base))
		return 1;
	const char *env_url = getenv("MNEMO_LLM_URL");
	o.real = env_url && *env_url;
	desk_config dc = {.escalate_ms = o.escalate_ms, .stream_every = 2};
	snprintf(dc.tools_url, sizeof dc.tools_url, "%s", base);
	if (!o.real) {
		char url[128];
		snprintf(url, sizeof url, "%s/v1/chat/completions", base);
		setenv("MNEMO_LLM_URL", url, 1);
		setenv("MNEMO_LLM_MODEL", "standin-1", 1);
		setenv("MNEMO_LLM_API_KEY", "sk-fake-key-for-the-stand-in", 1);
		dc.faults = 1;
		dc.backoff_ms = 20;
	}
	snprintf(dc.llm_url, sizeof dc.llm_url, "%s", getenv("MNEMO_LLM_URL"));
	const char *model = getenv("MNEMO_LLM_MODEL");
	snprintf(dc.model, sizeof dc.model, "%s",
		 model && *model ? model : MN_LLM_MODEL_DEFAULT);
	const char *key = getenv("MNEMO_LLM_API_KEY");
	if (key && *key)
		snprintf(dc.credential, sizeof dc.credential, "%s",
			 MN_LLM_CREDENTIAL_DEFAULT);

	char cmd[700];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", o.store);
	if (system(cmd) != 0)
		return 1;
	printf("mnemo support desk: %" PRIu64 " conversations, %u turns each, "
	       "at most %" PRIu64 " agents resident, store %s\n"
	       "  LLM: %s%s\n",
	       o.convs, o.turns, o.resident, o.store, dc.llm_url,
	       o.real ? " (MNEMO_LLM_URL)" : " (the stand-in server)");
	fflush(stdout);

	/* 1-2. The child; killed once kill_pct of the turns are answered. */
	uint64_t total_turns = o.convs * o.turns;
	uint64_t kill_at = total_turns * o.kill_pct / 100;
	int fds[2];
	if (pipe(fds) != 0)
		return 1;
	double t0 = now_s();
	pid_t pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		close(fds[0]);
		child(&o, &dc, fds[1]);
	}
	close(fds[1]);
	uint64_t v[2] = {0, 0}, done_before = 0;
	while (read(fds[0], v, sizeof v) == sizeof v) {
		done_before = v[0];
		if (v[1] && v[0] >= kill_at)
			break;
		if (now_s() - t0 > 600)
			break;
	}
	json_t *early = standin_stats(base);
	uint64_t llm_before =
	    (uint64_t)json_integer_value(json_object_get(early, "requests"));
	json_decref(early);
	kill(pid, SIGKILL);
	close(fds[0]);
	int status;
	waitpid(pid, &status, 0);
	double t1 = now_s();
	printf("  traffic:   %" PRIu64 " of %" PRIu64
	       " turns answered, %" PRIu64
	       " requests served by the stand-in in %.1f s, then SIGKILL "
	       "(%s)\n",
	       done_before, total_turns, llm_before, t1 - t0,
	       WIFSIGNALED(status) ? "killed with calls in flight"
				   : "the child had exited");

	/* 3. Restart: pending calls are issued again; the people go on. */
	desk_out sink = {0};
	sink.reports = calloc(o.convs, sizeof *sink.reports);
	sink.n_reports = o.convs;
	desk_sink = &sink;
	mn_runtime *rt;
	mn_llm_config cfg;
	double r0 = now_s();
	if (!sink.reports || open_runtime(&o, &rt, &cfg))
		return 1;
	double r1 = now_s();
	people_start(rt);
	/* Done when no call is pending and the stored messages of before the
	 * crash are all delivered (the maintenance thread queues them paced:
	 * drain alone does not wait for those not queued yet). */
	mn_call_stats cs;
	mn_recovery rec;
	mn_runtime_recovery(rt, &rec);
	for (;;) {
		mn_runtime_stats rs;
		mn_runtime_drain(rt);
		mn_runtime_call_stats(rt, &cs);
		mn_runtime_stats_get(rt, &rs);
		if (!cs.pending && rs.outbox_delivered >= rec.outbox)
			break;
		if (now_s() - r1 > 600) {
			fprintf(stderr, "support-desk: calls still pending "
					"after 600 s\n");
			break;
		}
		usleep(20000);
	}
	mn_runtime_drain(rt);
	double r2 = now_s();
	mn_runtime_call_stats(rt, &cs);
	printf("  restart:   store opened in %.1f ms, %" PRIu64
	       " pending calls issued again, %" PRIu64
	       " stored messages delivered; the rest finished in %.1f s\n",
	       (r1 - r0) * 1e3, cs.reissued, rec.outbox, r2 - r1);

	/* 4. Reports and checks. A send a handler makes is held until its
	 * commit, and drain may return in that window: so ask the agents
	 * until every conversation is complete or nothing moved for 5 s. */
	uint64_t last = UINT64_MAX;
	double moved = now_s();
	for (unsigned round = 0;; round++) {
		uint64_t whole = 0, progress = 0;
		memset(sink.reports, 0, o.convs * sizeof *sink.reports);
		for (uint64_t c = 0; c < o.convs; c++) {
			char k[24];
			int kn = conv_key(c, k);
			mn_send(rt, agent_kind, k, (size_t)kn, MSG_REPORT, NULL,
				0);
		}
		mn_runtime_drain(rt);
		for (uint64_t c = 0; c < o.convs; c++) {
			const desk_report *r = &sink.reports[c];
			whole += r->seen && r->turns == o.turns && !r->phase &&
				 !r->inbox;
			progress += r->turns + r->llm_calls + r->escalated;
		}
		if (whole == o.convs || now_s() - moved > 5)
			break;
		if (progress != last)
			moved = now_s(), last = progress;
		usleep(20000);
	}
	for (unsigned d = 0; d < DESK_DESKS; d++) {
		char k[16];
		int kn = snprintf(k, sizeof k, "desk-%02u", d);
		mn_send_named(rt, "order-desk", k, (size_t)kn, MSG_REPORT, NULL,
			      0);
	}
	for (unsigned s = 0; s < DESK_SUPERVISORS; s++) {
		char k[16];
		int kn = snprintf(k, sizeof k, "sup-%u", s);
		mn_send_named(rt, "supervisor", k, (size_t)kn, MSG_REPORT, NULL,
			      0);
	}
	mn_runtime_drain(rt);
	people_stop();

	desk_report sum = {0};
	expect want = {0};
	uint64_t complete = 0, approvals_ok = 0, big_refunds = 0, late = 0;
	uint64_t shown = 0;
	uint32_t max_state = 0, max_hist = 0;
	int script_ok = 1;
	for (uint64_t c = 0; c < o.convs; c++) {
		const desk_report *r = &sink.reports[c];
		int whole =
		    r->seen && r->turns == o.turns && !r->phase && !r->inbox;
		complete += whole;
		if (!whole && shown++ < 10)
			fprintf(stderr,
				"  incomplete: conv-%06" PRIu64 ": turns %u, "
				"phase %u, waiting turns %u, refunds %u "
				"approved / %u denied / %u escalated / %u "
				"ruled\n",
				c, r->turns, r->phase, r->inbox, r->approved,
				r->denied, r->escalated,
				r->sup_approved + r->sup_denied);
		sum.turns += r->turns;
		sum.llm_calls += r->llm_calls;
		sum.llm_failures += r->llm_failures;
		sum.summaries += r->summaries;
		sum.streamed += r->streamed;
		sum.lookups += r->lookups;
		sum.ship_calls += r->ship_calls;
		sum.refunds_auto += r->refunds_auto;
		sum.bad_args += r->bad_args;
		sum.approved += r->approved;
		sum.denied += r->denied;
		sum.escalated += r->escalated;
		sum.sup_approved += r->sup_approved;
		sum.sup_denied += r->sup_denied;
		sum.tokens += r->tokens;
		if (r->state_bytes > max_state)
			max_state = r->state_bytes;
		if (r->hist > max_hist)
			max_hist = r->hist;
		/* The script: what the stand-in's tool calls make of it. */
		expect e = {0};
		for (uint32_t t = 0; t < o.turns; t++) {
			desk_turn dt;
			desk_script(c, t, &dt);
			e.lookups += dt.kind == 1 || dt.kind == 2;
			e.ships += dt.kind == 2;
			if (dt.kind == 3 && dt.amount <= DESK_REFUND_LIMIT)
				e.auto_refunds++;
			else if (dt.kind == 3) {
				int p = desk_person(c);
				e.approve += p == 'a';
				e.deny += p == 'd';
				e.unanswered += !p;
			}
		}
		uint64_t big = e.approve + e.deny + e.unanswered;
		big_refunds += big;
		/* Honoured: the person's answer, or, for nobody's, one
		 * escalation each; an answer later than the timer (after the
		 * crash, say) is an escalation too, counted as late. */
		uint64_t esc_late = r->escalated > e.unanswered
					? r->escalated - e.unanswered
					: 0;
		late += esc_late;
		int ok = r->approved + esc_late >= e.approve &&
			 r->approved <= e.approve &&
			 r->denied + esc_late >= e.deny &&
			 r->denied <= e.deny &&
			 r->approved + r->denied + r->escalated == big &&
			 r->escalated >= e.unanswered &&
			 r->sup_approved + r->sup_denied == r->escalated;
		approvals_ok += ok;
		if (!o.real &&
		    (r->lookups != e.lookups || r->ship_calls != e.ships ||
		     r->refunds_auto != e.auto_refunds))
			script_ok = 0;
		want.lookups += e.lookups;
		want.ships += e.ships;
		want.approve += e.approve;
		want.deny += e.deny;
		want.unanswered += e.unanswered;
	}
	mn_runtime_stats st;
	mn_runtime_stats_get(rt, &st);
	key_tally kt = {0};
	json_t *stats = standin_stats(base);
	if (stats)
		tally_keys(stats, &kt);
	json_decref(stats);
	uint64_t desk_lookups = atomic_load(&sink.desk_lookups);
	uint64_t sup_esc = atomic_load(&sink.sup_escalations);
	double secs = now_s() - t0;

	printf("  checks:\n");
	int pass = 1;
	pass &= check(complete == o.convs,
		      "%" PRIu64 "/%" PRIu64 " conversations complete (all "
		      "%u turns answered)",
		      complete, o.convs, o.turns);
	pass &= check(desk_lookups == sum.lookups,
		      "order lookups: the desks counted %" PRIu64
		      ", the agents made %u: each exactly once",
		      desk_lookups, sum.lookups);
	if (!o.real)
		pass &= check(script_ok && sum.lookups == want.lookups &&
				  sum.ship_calls == want.ships,
			      "tool calls as the script asks: %u lookups, %u "
			      "shipping calls, %u refunds granted at once",
			      sum.lookups, sum.ship_calls, sum.refunds_auto);
	pass &=
	    check(approvals_ok == o.convs && sup_esc == sum.escalated,
		  "%" PRIu64 " refunds over $%u: %u approved and %u "
		  "denied by people, %u escalated (%" PRIu64
		  " nobody answered, %" PRIu64
		  " answered after the timer); supervisors ruled on %" PRIu64,
		  big_refunds, DESK_REFUND_LIMIT, sum.approved, sum.denied,
		  sum.escalated, want.unanswered, late, sup_esc);
	uint64_t made =
	    o.real ? sum.ship_calls : sum.llm_calls + sum.ship_calls;
	pass &= check(
	    kt.repeated == 0 && kt.keys == made && kt.reissued <= cs.reissued,
	    "the stand-in saw %" PRIu64 " calls (keys) for the %" PRIu64
	    " the agents made, %" PRIu64 " requests: %" PRIu64
	    " injected faults retried, %" PRIu64
	    " re-issued after the crash, %" PRIu64 " made twice",
	    kt.keys, made, kt.requests, kt.faults, kt.reissued, kt.repeated);
	pass &= check(st.handler_errors == 0,
		      "%" PRIu64 " handler errors after the restart",
		      st.handler_errors);
	printf("  figures:\n");
	printf("    conversations %" PRIu64 ", turns %u, LLM calls %u "
	       "(%u summaries, %u streamed: %" PRIu64
	       " chunks seen live), %u failed after retries\n",
	       o.convs, sum.turns, sum.llm_calls, sum.summaries, sum.streamed,
	       atomic_load(&stream_chunks), sum.llm_failures);
	printf("    tool calls %u (lookups %u, shipping %u, refunds %u), "
	       "re-issued calls %" PRIu64 ", people answered %" PRIu64
	       " after the restart (%" PRIu64 " asked again)\n",
	       sum.lookups + sum.ship_calls + sum.refunds_auto +
		   (uint32_t)big_refunds,
	       sum.lookups, sum.ship_calls,
	       sum.refunds_auto + (uint32_t)big_refunds, cs.reissued,
	       atomic_load(&people.answered), atomic_load(&people.again));
	printf("    tokens %" PRIu64 " (%.0f per conversation), memory at most "
	       "%u bytes of text and %u messages per agent (%zu-byte state "
	       "bound)\n",
	       sum.tokens, (double)sum.tokens / (double)o.convs, max_state,
	       max_hist, desk_agent_size());
	uint64_t disk = st.store_bytes;
	mn_runtime_close(rt);
	printf("    evictions %" PRIu64 ", rehydrations %" PRIu64
	       ", time %.1f s, disk %.1f MiB (%.0f bytes per conversation)\n",
	       st.evictions, st.rehydrations, secs, disk / 1048576.0,
	       (double)disk / (double)o.convs);
	kill(srv, SIGTERM);
	waitpid(srv, NULL, 0);
	curl_global_cleanup();
	printf("  result:    %s\n", pass ? "PASS" : "FAIL");
	if (o.keep)
		printf(
		    "  kept:      %s (mnemo replay --plugin "
		    "build/bin/support-desk.so %s support-agent/conv-000001)\n",
		    o.store, o.store);
	else {
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", o.store);
		if (system(cmd) != 0)
			return 1;
	}
	free(sink.reports);
	return pass ? 0 : 1;
}
