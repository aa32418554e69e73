/*
 * test_crash_calls.c - the crash harness with outbound calls in flight: a
 * forked child runs a runtime whose actors make HTTP calls to the stand-in
 * and record every reply in their state; the parent SIGKILLs the child at
 * a seeded random point, starts another child on the same store (which
 * issues the stored intents again and makes new calls), kills it too, a
 * few rounds, then recovers the store itself, lets every call finish, and
 * checks everything against a model.
 *
 * The stand-in is the program build/.../tests/tools/standin-server, started
 * by the parent on an ephemeral port for the whole run (a server in the
 * parent's own process would leave threads behind each fork); its counts
 * per Idempotency-Key are read from its /stats endpoint.
 *
 * Traffic: in round r the child sends, with mn_send_durable (each
 * acknowledged on a pipe once it returned; 1 ms apart), the trigger ids
 * of round r: NACT * TPB of them, trigger t to actor t % NACT. An actor
 * handling trigger t makes one call to /hold?ms=H (H drawn from the
 * seed, 5..300 ms) and, for about a third of the triggers, a second one to
 * /status?code=500&times=1 allowing 4 attempts (500, then 200 on the
 * retry). It keeps each call's id in its state; a reply is counted on the
 * call it names, with its status, error, attempts and the Idempotency-Key
 * the stand-in echoes. max_resident 16: waiting actors are evicted and
 * their replies bring them back.
 *
 * The model, after the last round and recovery:
 *   - the processed triggers of each round are a prefix of what its child
 *     sent, at least as long as what was acknowledged, each processed once;
 *   - every call of a processed trigger got exactly one reply (none lost,
 *     none twice), status 200, no error; the call of a trigger never
 *     processed does not exist, and no reply names an unknown call;
 *   - each reply carries the key mnemo-<actor>-<seq>-<index> of its call id;
 *   - the stand-in saw every call's key at least once (at-least-once
 *     outside) and exactly as many distinct keys as there are calls (no
 *     call was made whose intent was not committed);
 *   - `mnemo verify` passes on the store the crashes left; a clean restart
 *     gives the same states and issues nothing.
 *
 * Seeds: run i uses MN_TEST_SEED + i (printed; MN_TEST_SEED=<seed>
 * MN_CRASH_RUNS=1 reproduces one). MN_CRASH_RUNS (default 2) runs of
 * MN_CRASH_ROUNDS (default 3, at most ROUNDS_MAX) kills each.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "tests/support/standin_proc.h"
#include "tests/support/support.h"

#define NACT	   40
#define TPB	   3 /* triggers per actor per round */
#define ROUNDS_MAX 8
#define LOCALS	   (ROUNDS_MAX * TPB) /* trigger slots per actor */
#define CPT	   2		      /* calls per trigger, at most */
#define PER_ROUND  (NACT * TPB)
#define MAX_HOLD   300

enum { T_GO = 1, T_REPLY = 2, T_REPORT = 3 };

typedef struct callrec {
	uint64_t call_id; /* 0: not made */
	uint32_t replies;
	int32_t err, status;
	uint32_t attempts;
	char idem[48]; /* the key the stand-in echoed */
} callrec;

typedef struct cstate {
	uint8_t seen[LOCALS]; /* trigger local slot handled */
	uint64_t unknown_replies;
	callrec calls[LOCALS * CPT];
} cstate;

static cstate results[NACT];
static _Atomic uint64_t reports;

/* Set before the fork: the child and the parent's recovery agree. */
static uint64_t run_seed;
static char base_url[64];

/* A number drawn from the run's seed for trigger t (stream s). */
static uint64_t draw(uint64_t t, uint64_t s)
{
	mt_rng r = {.s = run_seed ^ (t * 0x9e3779b97f4a7c15ull + s)};
	return mt_rng_next(&r);
}

static unsigned hold_of(uint64_t t)
{
	return 5 + (unsigned)(draw(t, 1) % (MAX_HOLD - 4));
}

static int second_of(uint64_t t)
{
	return draw(t, 2) % 3 == 0;
}

MT_FLAT_STATE(cc, cstate)

/* The "idem" string of an /echo body into out ("" when absent). */
static void echo_idem(const void *body, size_t len, char *out, size_t cap)
{
	static const char pat[] = "\"idem\":\"";
	const char *b = body, *end = b + len;
	out[0] = 0;
	for (const char *p = b; p + sizeof pat - 1 <= end; p++) {
		if (memcmp(p, pat, sizeof pat - 1) != 0)
			continue;
		p += sizeof pat - 1;
		size_t n = 0;
		while (p + n < end && p[n] != '"' && n + 1 < cap)
			n++;
		memcpy(out, p, n);
		out[n] = 0;
		return;
	}
}

static int on_reply(cstate *c, const mn_msg *m)
{
	mn_call_reply r;
	int rc = mn_call_reply_decode(m, &r);
	if (rc)
		return rc;
	for (size_t i = 0; i < LOCALS * CPT; i++) {
		callrec *cr = &c->calls[i];
		if (cr->call_id != r.call_id)
			continue;
		cr->replies++;
		cr->err = r.err;
		cr->status = r.status;
		cr->attempts = r.attempts;
		echo_idem(r.body, r.body_len, cr->idem, sizeof cr->idem);
		return 0;
	}
	c->unknown_replies++;
	return 0;
}

static int make_call(mn_ctx *ctx, callrec *cr, const char *url,
		     uint32_t attempts)
{
	mn_http_request req = MN_HTTP_REQUEST_INIT;
	req.url = url;
	req.timeout_ms = 10000;
	req.max_attempts = attempts;
	req.backoff_ms = 20;
	return mn_ctx_call_http(ctx, &req, T_REPLY, &cr->call_id);
}

static int cc_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	cstate *c = state;
	uint64_t self = 0;
	if (!mt_self_u64(ctx, &self) || self >= NACT)
		return MN_EINVAL;
	if (msg->flags & MN_MSG_CALL)
		return msg->type == T_REPLY ? on_reply(c, msg) : MN_EINVAL;
	if (msg->type == T_REPORT) {
		/* Reports to the outside world: not again in replay. */
		if (!mn_ctx_replaying(ctx)) {
			results[self] = *c;
			atomic_fetch_add(&reports, 1);
		}
		return 0;
	}
	if (msg->type != T_GO || msg->len != 8)
		return MN_EINVAL;
	uint64_t t = mt_get_u64(msg->payload), local = t / NACT;
	if (t % NACT != self || local >= LOCALS)
		return MN_EINVAL;
	c->seen[local]++;
	char url[160];
	snprintf(url, sizeof url, "%s/hold?ms=%u", base_url, hold_of(t));
	int rc = make_call(ctx, &c->calls[local * CPT], url, 1);
	if (!rc && second_of(t)) {
		snprintf(url, sizeof url, "%s/status?code=500&times=1",
			 base_url);
		rc = make_call(ctx, &c->calls[local * CPT + 1], url, 4);
	}
	return rc;
}

static const mn_kind_def cc_def = {.name = "ccall",
				   .init = cc_init,
				   .handle = cc_handle,
				   .snapshot = cc_snapshot,
				   .restore = cc_restore,
				   .free = cc_free,
				   .snapshot_every = 3};

/* ---- the stand-in program ------------------------------------------------
 */

static pid_t srv_pid;
static uint16_t srv_port;

/* pipe(fds), then fork: the child's pid (0 in the child). */
static pid_t fork_piped(int fds[2])
{
	assert_int_equal(pipe(fds), 0);
	fflush(stdout);
	pid_t pid = fork();
	assert_true(pid >= 0);
	return pid;
}

/* Start build/.../tests/tools/standin-server beside the tool. */
static void srv_start(const char *tool)
{
	char path[PATH_MAX];
	size_t n = strlen(tool);
	assert_true(n > 5 && strcmp(tool + n - 5, "mnemo") == 0);
	snprintf(path, sizeof path, "%.*stests/tools/standin-server",
		 (int)(n - 5), tool);
	if (access(path, X_OK) != 0)
		fail_msg("no stand-in at %s (make test builds it)", path);
	static const char *const args[] = {"--seed", "1", NULL};
	if (standin_proc_start(path, args, &srv_pid, &srv_port) != 0)
		fail_msg("the stand-in did not start (%s)", path);
	snprintf(base_url, sizeof base_url, "http://127.0.0.1:%u",
		 (unsigned)srv_port);
}

static void srv_stop(void)
{
	standin_proc_stop(srv_pid);
	srv_pid = 0;
}

/* GET /stats of the stand-in (HTTP/1.0 on a plain socket: no threads in
 * this process, which forks), parsed. */
static json_t *srv_stats(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons(srv_port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	static const char rq[] = "GET /stats HTTP/1.0\r\nHost: standin\r\n"
				 "Connection: close\r\n\r\n";
	assert_int_equal(write(fd, rq, sizeof rq - 1), (ssize_t)sizeof rq - 1);
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	assert_non_null(buf);
	for (;;) {
		if (len + 1 == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		ssize_t r = read(fd, buf + len, cap - 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	buf[len] = 0;
	char *body = strstr(buf, "\r\n\r\n");
	assert_non_null(body);
	json_error_t e;
	json_t *j = json_loads(body + 4, 0, &e);
	if (!j)
		fail_msg("stand-in /stats: not JSON: %s", e.text);
	free(buf);
	return j;
}

/* ---- store, tool ----------------------------------------------------------
 */

static char store_dir[256];
static char tool[PATH_MAX];

static void rm_store(void)
{
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", store_dir);
	assert_int_equal(system(cmd), 0);
}

static void tool_verify(uint64_t seed)
{
	char args[PATH_MAX + 64], ep[300], out[8192], err[4096];
	snprintf(args, sizeof args, "verify '%s'", store_dir);
	snprintf(ep, sizeof ep, "%s.err", store_dir);
	int rc = mt_tool_run(tool, args, ep, out, sizeof out, err, sizeof err);
	if (rc != 0)
		fail_msg("seed %llu: mnemo verify exited %d: %s%s",
			 (unsigned long long)seed, rc, out, err);
}

static mn_runtime *open_rt(int durability, mn_kind **k)
{
	mn_runtime_opts o = MN_RUNTIME_OPTS_INIT;
	o.workers = 2;
	o.store_path = store_dir;
	o.durability = durability;
	o.max_resident = 16;
	o.checkpoint_every = 32;
	mn_runtime *rt = NULL;
	if (mn_runtime_open(&o, &rt))
		return NULL;
	if (mn_kind_register(rt, &cc_def, k)) {
		mn_runtime_close(rt);
		return NULL;
	}
	return rt;
}

/* ---- the child ------------------------------------------------------------
 */

static void child_main(int fd, int durability, unsigned round)
{
	mn_kind *k;
	mn_runtime *rt = open_rt(durability, &k);
	if (!rt)
		_exit(2);
	unsigned char p[8], key[MT_KEY_LEN];
	for (uint64_t i = 0; i < PER_ROUND; i++) {
		uint64_t t = (uint64_t)round * PER_ROUND + i;
		mt_key_put(key, t % NACT);
		mt_put_u64(p, t);
		if (mn_send_durable(rt, k, key, sizeof key, T_GO, p, 8) != 0)
			_exit(3);
		uint32_t v = (uint32_t)t;
		if (write(fd, &v, sizeof v) != sizeof v)
			_exit(4);
		usleep(1000); /* paced: kills land among the sends too */
	}
	pause(); /* calls and replies go on until the kill */
	_exit(0);
}

/* ---- the parent -----------------------------------------------------------
 */

static void collect(mn_runtime *rt, mn_kind *k)
{
	unsigned char key[MT_KEY_LEN];
	mt_drain(rt);
	memset(results, 0, sizeof results);
	atomic_store(&reports, 0);
	for (uint64_t a = 0; a < NACT; a++) {
		mt_key_put(key, a);
		assert_rc(mn_send(rt, k, key, sizeof key, T_REPORT, NULL, 0),
			  0);
	}
	mt_drain(rt);
	assert_int_equal(atomic_load(&reports), NACT);
}

static const callrec *call_of(uint64_t t, unsigned j)
{
	return &results[t % NACT].calls[(t / NACT) * CPT + j];
}

/* 1 once every call made has its reply. */
static int calls_done(unsigned rounds)
{
	for (uint64_t t = 0; t < (uint64_t)rounds * PER_ROUND; t++)
		for (unsigned j = 0; j < CPT; j++)
			if (call_of(t, j)->call_id && !call_of(t, j)->replies)
				return 0;
	return 1;
}

/* One kill: a child on the store sends round's triggers; SIGKILL after
 * kill_after acknowledgements and extra_us more. */
static uint64_t crash_round(uint64_t seed, int durability, unsigned round,
			    mt_rng *r, uint8_t *acked)
{
	uint64_t kill_after = 1 + mt_rng_below(r, PER_ROUND);
	unsigned extra_us = (unsigned)mt_rng_below(r, 200000);
	int fds[2];
	pid_t pid = fork_piped(fds);
	if (pid == 0) {
		close(fds[0]);
		child_main(fds[1], durability, round);
	}
	close(fds[1]);
	uint64_t n = 0;
	uint32_t v;
	while (n < kill_after && read(fds[0], &v, sizeof v) == sizeof v) {
		assert_true(v < ROUNDS_MAX * PER_ROUND);
		acked[v] = 1;
		n++;
	}
	usleep(extra_us);
	kill(pid, SIGKILL);
	while (read(fds[0], &v, sizeof v) == sizeof v) {
		assert_true(v < ROUNDS_MAX * PER_ROUND);
		acked[v] = 1;
		n++;
	}
	close(fds[0]);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFSIGNALED(status))
		fail_msg("seed %llu round %u: child exited with %d before the "
			 "kill",
			 (unsigned long long)seed, round,
			 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	printf("# crash-calls seed %llu round %u: SIGKILL %u us after %llu "
	       "acks (%llu in all)\n",
	       (unsigned long long)seed, round, extra_us,
	       (unsigned long long)kill_after, (unsigned long long)n);
	return n;
}

/* The model; returns the number of calls. */
static uint64_t check_model(uint64_t seed, unsigned rounds,
			    const uint8_t *acked)
{
	uint64_t ncalls = 0;
	for (unsigned a = 0; a < NACT; a++)
		if (results[a].unknown_replies)
			fail_msg(
			    "seed %llu: actor %u: %llu replies to unknown "
			    "calls",
			    (unsigned long long)seed, a,
			    (unsigned long long)results[a].unknown_replies);
	for (unsigned rd = 0; rd < rounds; rd++) {
		uint64_t first = (uint64_t)rd * PER_ROUND, n = 0, acked_n = 0;
		while (n < PER_ROUND &&
		       results[(first + n) % NACT].seen[(first + n) / NACT])
			n++;
		for (uint64_t i = 0; i < PER_ROUND; i++) {
			uint64_t t = first + i;
			unsigned got = results[t % NACT].seen[t / NACT];
			if (acked[t])
				acked_n = i + 1;
			if ((i < n && got != 1) || (i >= n && got != 0))
				fail_msg("seed %llu: trigger %llu processed "
					 "%u times (round %u: prefix %llu)",
					 (unsigned long long)seed,
					 (unsigned long long)t, got, rd,
					 (unsigned long long)n);
			for (unsigned j = 0; j < CPT; j++) {
				const callrec *c = call_of(t, j);
				int want = i < n && (j == 0 || second_of(t));
				if (!want) {
					if (c->call_id || c->replies)
						fail_msg(
						    "seed %llu: trigger "
						    "%llu: call %u made",
						    (unsigned long long)seed,
						    (unsigned long long)t, j);
					continue;
				}
				ncalls++;
				char key[48];
				snprintf(key, sizeof key, "-%llu-%u",
					 (unsigned long long)(c->call_id >> 16),
					 (unsigned)(c->call_id & 0xffff));
				size_t kl = strlen(key), il = strlen(c->idem);
				if (!c->call_id || c->replies != 1 || c->err ||
				    c->status != 200 ||
				    strncmp(c->idem, "mnemo-", 6) != 0 ||
				    il < kl ||
				    strcmp(c->idem + il - kl, key) != 0)
					fail_msg("seed %llu: trigger %llu call "
						 "%u (id %llu): %u replies, "
						 "err %d status %d key '%s'",
						 (unsigned long long)seed,
						 (unsigned long long)t, j,
						 (unsigned long long)c->call_id,
						 c->replies, c->err, c->status,
						 c->idem);
			}
		}
		if (n < acked_n)
			fail_msg("seed %llu round %u: acknowledged trigger "
				 "%llu lost (processed prefix %llu, acked "
				 "%llu)",
				 (unsigned long long)seed, rd,
				 (unsigned long long)(first + n),
				 (unsigned long long)n,
				 (unsigned long long)acked_n);
	}
	return ncalls;
}

/* The stand-in's counts agree: every call's key seen at least as often
 * as its reply's attempts, and no key of a call that does not exist.
 * Returns the number of keys seen more than once. */
static uint64_t check_standin(uint64_t seed, unsigned rounds, uint64_t ncalls,
			      uint64_t *requests)
{
	json_t *st = srv_stats();
	json_t *keys = json_object_get(st, "keys");
	assert_non_null(keys);
	uint64_t again = 0;
	for (uint64_t t = 0; t < (uint64_t)rounds * PER_ROUND; t++)
		for (unsigned j = 0; j < CPT; j++) {
			const callrec *c = call_of(t, j);
			if (!c->call_id)
				continue;
			json_int_t n =
			    json_integer_value(json_object_get(keys, c->idem));
			if (n < 1 || (uint64_t)n < c->attempts)
				fail_msg("seed %llu: key %s: %lld requests, "
					 "reply after %u attempts",
					 (unsigned long long)seed, c->idem,
					 (long long)n, c->attempts);
			if ((uint64_t)n > c->attempts)
				again++;
		}
	if (json_object_size(keys) != ncalls)
		fail_msg("seed %llu: the stand-in saw %zu keys, %llu calls "
			 "were made",
			 (unsigned long long)seed, json_object_size(keys),
			 (unsigned long long)ncalls);
	*requests =
	    (uint64_t)json_integer_value(json_object_get(st, "requests"));
	json_decref(st);
	return again;
}

static unsigned env_num(const char *name, unsigned dflt, unsigned max)
{
	const char *s = getenv(name);
	unsigned v = s && *s ? (unsigned)strtoul(s, NULL, 10) : dflt;
	return v > max ? max : v;
}

static void crash_once(uint64_t seed, unsigned rounds)
{
	static uint8_t acked[ROUNDS_MAX * PER_ROUND];
	mt_rng r = {.s = seed};
	(void)mt_rng_next(&r);
	int durability =
	    seed % 4 == 0 ? MN_DURABILITY_SYNC : MN_DURABILITY_RELAXED;
	memset(acked, 0, sizeof acked);
	run_seed = seed;
	snprintf(store_dir, sizeof store_dir, "/tmp/mnemo-crash-calls-%d",
		 (int)getpid());
	rm_store();
	srv_start(tool);
	printf("# crash-calls seed %llu: %u rounds (%s), stand-in on port %u; "
	       "reproduce: MN_TEST_SEED=%llu MN_CRASH_RUNS=1 "
	       "MN_CRASH_ROUNDS=%u\n",
	       (unsigned long long)seed, rounds,
	       durability == MN_DURABILITY_SYNC ? "sync" : "relaxed",
	       (unsigned)srv_port, (unsigned long long)seed, rounds);
	uint64_t nacked = 0;
	for (unsigned rd = 0; rd < rounds; rd++)
		nacked += crash_round(seed, durability, rd, &r, acked);
	tool_verify(seed);

	/* Recovery: the stored intents are issued again; every call ends. */
	mn_kind *k;
	mn_runtime *rt = open_rt(durability, &k);
	if (!rt)
		fail_msg("seed %llu: reopen: %s", (unsigned long long)seed,
			 mn_errdetail());
	double t0 = mt_now();
	collect(rt, k);
	while (!calls_done(rounds) && mt_now() - t0 < 30) {
		mt_sleep_ms(50);
		collect(rt, k);
	}
	uint64_t ncalls = check_model(seed, rounds, acked);
	mn_call_stats cs;
	assert_rc(mn_runtime_call_stats(rt, &cs), 0);
	assert_int_equal(cs.pending, 0);
	mn_runtime_stats st = mt_stats(rt);
	assert_int_equal(st.handler_errors, 0);
	assert_int_equal(st.store_error, 0);
	assert_int_equal(st.broken, 0);
	mt_assert_no_failures();
	mn_runtime_close(rt);
	uint64_t requests, requests2;
	uint64_t again = check_standin(seed, rounds, ncalls, &requests);
	printf("# crash-calls seed %llu: %llu acknowledged triggers, %llu "
	       "calls, one reply each; %llu reissued at the last open; "
	       "%llu keys sent again after a crash; %llu requests\n",
	       (unsigned long long)seed, (unsigned long long)nacked,
	       (unsigned long long)ncalls, (unsigned long long)cs.reissued,
	       (unsigned long long)again, (unsigned long long)requests);
	tool_verify(seed);

	/* A clean restart: the same states, nothing issued. */
	static cstate before[NACT];
	memcpy(before, results, sizeof before);
	rt = open_rt(durability, &k);
	if (!rt)
		fail_msg("seed %llu: second reopen: %s",
			 (unsigned long long)seed, mn_errdetail());
	mt_sleep_ms(100);
	collect(rt, k);
	for (unsigned a = 0; a < NACT; a++)
		if (memcmp(&before[a], &results[a], sizeof(cstate)) != 0)
			fail_msg("seed %llu: actor %u differs after a clean "
				 "restart",
				 (unsigned long long)seed, a);
	assert_rc(mn_runtime_call_stats(rt, &cs), 0);
	assert_int_equal(cs.reissued, 0);
	mn_runtime_close(rt);
	(void)check_standin(seed, rounds, ncalls, &requests2);
	assert_int_equal(requests2, requests);
	srv_stop();
	rm_store();
}

static void test_crash_calls(void **unused)
{
	(void)unused;
	mt_tool_path(tool, sizeof tool);
	uint64_t seed = mt_seed();
	unsigned runs = env_num("MN_CRASH_RUNS", 2, 1000);
	unsigned rounds = env_num("MN_CRASH_ROUNDS", 3, ROUNDS_MAX);
	for (unsigned i = 0; i < runs; i++)
		crash_once(seed + i, rounds ? rounds : 1);
	printf("# crash-calls: %u runs survived\n", runs);
}

static int teardown(void **state)
{
	(void)state;
	srv_stop();
	return 0;
}

int main(void)
{
	mt_init("crash/crash_calls");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_crash_calls, mt_setup,
					    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
