/*
 * test_calls.c - outbound calls from handlers (docs/calls.md) against the
 * stand-in server: a reply reaches the actor as a MN_MSG_CALL message and is
 * journaled; a restart replays it without the server; an intent with no
 * reply at close is issued again at the next open with the same
 * idempotency key and exactly one reply lands; cancel; errors become
 * replies; bridged calls; credentials stay out of the store; deterministic
 * time and randomness; an evicted caller comes back for its reply.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/support/standin.h"
#include "tests/support/support.h"

enum {
	T_CALL = 1,   /* payload: "URL" or "URL|max_attempts|timeout_ms|max" */
	T_CANCEL = 2, /* cancel the last call made */
	T_BRIDGE = 3, /* payload: the bridged request */
	T_TIME = 4,   /* record mn_ctx_time and two mn_ctx_random */
	T_REPORT = 5, /* copy the state to the view */
	T_CRED = 6,   /* payload: URL; call with credential "svc" */
	T_SLEEP = 7,  /* hold the worker this many ms (not in replay) */
	T_STREAM = 8, /* payload: URL; a streamed call */
	T_BAD = 9,    /* every refused request, checked in the handler */
	T_REPLY = 10,
};

#define NACT 64

typedef struct cstate {
	uint64_t calls, replies, last_call, cancelled;
	int64_t last_err, last_status;
	uint64_t last_attempts, last_body_len, last_reply_call;
	uint64_t time_ms, rnd1, rnd2;
	char body[200];
} cstate;

/* What the actors showed (written by handle, read after drain or a wait). */
static struct {
	_Atomic uint64_t replies;
	cstate st; /* copy at the last T_REPORT or reply */
} view[NACT];
static _Atomic uint64_t total_replies;

MT_FLAT_STATE(c, cstate)

static uint64_t self_idx(const mn_ctx *ctx)
{
	uint64_t v = 0;
	mt_self_u64(ctx, &v);
	return v % NACT;
}

static int c_handle(mn_ctx *ctx, void *state, const mn_msg *m)
{
	cstate *s = state;
	uint64_t i = self_idx(ctx);
	char arg[512];
	size_t n = m->len < sizeof arg - 1 ? m->len : sizeof arg - 1;
	if (!(m->flags & MN_MSG_CALL)) {
		memcpy(arg, m->payload ? m->payload : "", n);
		arg[n] = '\0';
	}
	if (m->flags & MN_MSG_CALL) {
		mn_call_reply r;
		MT_CHECK(m->type == T_REPLY);
		int rc = mn_call_reply_decode(m, &r);
		MT_CHECKF(rc == 0, "decode: %s", mn_err_name(rc));
		if (rc)
			return rc;
		s->replies++;
		s->last_err = r.err;
		s->last_status = r.status;
		s->last_attempts = r.attempts;
		s->last_body_len = r.body_len;
		s->last_reply_call = r.call_id;
		size_t bl = r.body_len < sizeof s->body - 1
				? r.body_len
				: sizeof s->body - 1;
		memset(s->body, 0, sizeof s->body);
		if (bl)
			memcpy(s->body, r.body, bl);
		if (!mn_ctx_replaying(ctx)) {
			view[i].st = *s;
			atomic_fetch_add(&view[i].replies, 1);
			atomic_fetch_add(&total_replies, 1);
		}
		return 0;
	}
	switch (m->type) {
	case T_CALL:
	case T_STREAM:
	case T_CRED: {
		char *f[4] = {arg, NULL, NULL, NULL};
		for (int k = 1; k < 4; k++) {
			char *bar = f[k - 1] ? strchr(f[k - 1], '|') : NULL;
			if (bar) {
				*bar = '\0';
				f[k] = bar + 1;
			}
		}
		mn_http_request req = MN_HTTP_REQUEST_INIT;
		req.url = arg;
		req.max_attempts = f[1] ? (uint32_t)atoi(f[1]) : 0;
		req.timeout_ms = f[2] ? (uint32_t)atoi(f[2]) : 5000;
		req.max_response = f[3] ? (uint64_t)atoll(f[3]) : 0;
		req.backoff_ms = 10;
		if (m->type == T_CRED)
			req.credential = "svc";
		if (m->type == T_STREAM)
			req.flags = MN_CALL_STREAM;
		uint64_t id = 0;
		int rc = mn_ctx_call_http(ctx, &req, T_REPLY, &id);
		MT_CHECKF(rc == 0, "call: %s", mn_err_name(rc));
		MT_CHECK(id != 0);
		s->calls++;
		s->last_call = id;
		return rc;
	}
	case T_CANCEL:
		s->cancelled++;
		return mn_ctx_call_cancel(ctx, s->last_call);
	case T_BRIDGE: {
		uint64_t id = 0;
		int rc = mn_ctx_call_begin(ctx, arg, n, T_REPLY, &id);
		MT_CHECKF(rc == 0, "begin: %s", mn_err_name(rc));
		s->calls++;
		s->last_call = id;
		return rc;
	}
	case T_BAD: {
		mn_http_request q = MN_HTTP_REQUEST_INIT;
		uint64_t id = 7;
		const char *crlf[] = {"X-A: b\r\nX-Injected: 1"};
		const char *nocolon[] = {"X-A b"};
		const char *sp[] = {"X A: b"};
		const char *nul[] = {NULL};
		MT_CHECK(mn_ctx_call_http(ctx, NULL, T_REPLY, &id) ==
			 MN_EINVAL);
		MT_CHECK(mn_ctx_call_http(ctx, &q, T_REPLY, &id) == MN_EINVAL);
		MT_CHECK(id == 0);
		q.url = "ftp://x/y";
		MT_CHECK(mn_ctx_call_http(ctx, &q, T_REPLY, NULL) == MN_EINVAL);
		q.url = "http://x/a b";
		MT_CHECK(mn_ctx_call_http(ctx, &q, T_REPLY, NULL) == MN_EINVAL);
		q.url = "http://x/";
		q.headers = crlf;
		q.n_headers = 1;
		MT_CHECK(mn_ctx_call_http(ctx, &q, T_REPLY, NULL) == MN_EINVAL);
		q.headers = nocolon;
		MT_CHECK(mn_ctx_call_http(ctx, &q, T_REPLY, NULL) == MN_EINVAL);
		q.headers = sp;
		MT_CHECK(mn_ctx_call_http(ctx, &q, T_REPLY, NULL) == MN_EINVAL);
		q.headers = nul;
		MT_CHECK(mn_ctx_call_http(ctx, &q, T_REPLY, NULL) == MN_EINVAL);
		q.headers = NULL;
		MT_CHECK(mn_ctx_call_http(ctx, &q, T_REPLY, NULL) == MN_EINVAL);
		q.n_headers = 0;
		q.method = "GE T";
		MT_CHECK(mn_ctx_call_http(ctx, &q, T_REPLY, NULL) == MN_EINVAL);
		q.method = NULL;
		q.body_len = 3; /* body NULL */
		MT_CHECK(mn_ctx_call_http(ctx, &q, T_REPLY, NULL) == MN_EINVAL);
		q.body_len = 0;
		q.credential = "a\nb";
		MT_CHECK(mn_ctx_call_http(ctx, &q, T_REPLY, NULL) == MN_EINVAL);
		q.credential = NULL;
		/* A request over max_payload (1 MiB). */
		static char big[(1u << 20) + 16];
		q.body = big;
		q.body_len = sizeof big;
		MT_CHECK(mn_ctx_call_http(ctx, &q, T_REPLY, NULL) ==
			 MN_ETOOBIG);
		MT_CHECK(mn_ctx_call_begin(ctx, NULL, 4, T_REPLY, NULL) ==
			 MN_EINVAL);
		MT_CHECK(mn_ctx_call_begin(ctx, big, sizeof big, T_REPLY,
					   NULL) == MN_ETOOBIG);
		return 0; /* nothing was made: started stays 0 */
	}
	case T_TIME:
		s->time_ms = mn_ctx_time(ctx);
		s->rnd1 = mn_ctx_random(ctx);
		s->rnd2 = mn_ctx_random(ctx);
		return 0;
	case T_REPORT:
		view[i].st = *s;
		return 0;
	case T_SLEEP:
		if (!mn_ctx_replaying(ctx))
			mt_sleep_ms((unsigned)atoi(arg));
		return 0;
	}
	return 0;
}

static uint64_t c_hash(const void *state)
{
	const unsigned char *p = state;
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < sizeof(cstate); i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

static mn_kind_def caller_def(void)
{
	mn_kind_def d = MN_KIND_DEF_INIT;
	d.name = "caller";
	d.init = c_init;
	d.handle = c_handle;
	d.snapshot = c_snapshot;
	d.restore = c_restore;
	d.free = c_free;
	d.hash = c_hash;
	d.snapshot_every = 1000000;
	return d;
}

/* ---- fixtures -------------------------------------------------------- */

static char dir[256];
static standin *srv;
static char base[64];

/* Bridged calls seen by on_bridge_call. */
static struct {
	_Atomic unsigned n, again;
	mn_call_ref ref[16];
	char req[16][64];
} bridge;

static void on_bridge(void *arg, const mn_bridge_call *c)
{
	(void)arg;
	unsigned i = atomic_load(&bridge.n);
	if (i < 16) {
		bridge.ref[i] = c->ref;
		size_t l = c->len < 63 ? c->len : 63;
		memcpy(bridge.req[i], c->request, l);
		bridge.req[i][l] = '\0';
	}
	if (c->again)
		atomic_fetch_add(&bridge.again, 1);
	atomic_fetch_add(&bridge.n, 1);
}

static unsigned commit_delay_us; /* a test's group commit delay */

/* Chunks the stream observer saw, concatenated. */
static struct {
	_Atomic unsigned n;
	char data[4096];
	size_t len;
	uint64_t call_id;
	int bad_actor;
} streamed;

static void on_stream(void *arg, const mn_stream_chunk *c)
{
	(void)arg;
	atomic_fetch_add(&streamed.n, 1);
	if (strcmp(c->actor.kind, "caller") != 0 || c->attempt != 1)
		streamed.bad_actor = 1;
	streamed.call_id = c->call_id;
	if (streamed.len + c->len < sizeof streamed.data) {
		memcpy(streamed.data + streamed.len, c->data, c->len);
		streamed.len += c->len;
	}
}

static mn_runtime *open_rt(unsigned max_resident)
{
	mn_runtime_opts o = MN_RUNTIME_OPTS_INIT;
	o.commit_delay_us = commit_delay_us;
	o.workers = 2;
	o.store_path = dir;
	o.durability = MN_DURABILITY_RELAXED;
	o.max_resident = max_resident;
	o.on_bridge_call = on_bridge;
	o.on_stream = on_stream;
	mn_runtime *rt = NULL;
	assert_rc(mn_runtime_open(&o, &rt), 0);
	return rt;
}

static mn_kind *reg(mn_runtime *rt)
{
	mn_kind_def d = caller_def();
	return mt_register(rt, &d);
}

static int setup(void **state)
{
	mt_setup(state);
	mt_tmpdir(dir, sizeof dir, "calls");
	standin_opts so = {.seed = 7};
	assert_int_equal(standin_start(&so, &srv), 0);
	standin_base_url(srv, base, sizeof base);
	memset(view, 0, sizeof view);
	atomic_store(&total_replies, 0);
	memset(&bridge, 0, sizeof bridge);
	commit_delay_us = 0;
	memset(&streamed, 0, sizeof streamed);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	standin_stop(srv);
	srv = NULL;
	return mt_rmrf(dir);
}

static void send_to(mn_runtime *rt, mn_kind *k, uint64_t i, uint32_t type,
		    const char *payload)
{
	unsigned char key[MT_KEY_LEN];
	mt_key_put(key, i);
	assert_rc(mn_send(rt, k, key, sizeof key, type, payload,
			  payload ? strlen(payload) : 0),
		  0);
}

/* Wait for the actor's n-th reply (bounded). */
static void wait_replies(uint64_t i, uint64_t n, double timeout_s)
{
	if (!mt_wait_u64(&view[i].replies, n, timeout_s))
		fail_msg("actor %llu: %llu replies, wanted %llu",
			 (unsigned long long)i,
			 (unsigned long long)atomic_load(&view[i].replies),
			 (unsigned long long)n);
}

/* Wait until on_bridge_call was told of n calls (bounded). */
static void wait_bridged(unsigned n)
{
	for (int t = 0; t < 300 && atomic_load(&bridge.n) < n; t++)
		mt_sleep_ms(10);
	assert_int_equal(atomic_load(&bridge.n), n);
}

static mn_call_stats cstats(mn_runtime *rt)
{
	mn_call_stats st;
	assert_rc(mn_runtime_call_stats(rt, &st), 0);
	return st;
}

/* ---- tests ----------------------------------------------------------- */

/* A call's reply arrives as a message; the stand-in saw the idempotency key
 * once; after a restart with the stand-in stopped the state (reply
 * included) comes back from the journal. */
static void test_reply_and_replay(void **state)
{
	(void)state;
	mn_runtime *rt = open_rt(0);
	mn_kind *k = reg(rt);
	char url[128];
	snprintf(url, sizeof url, "%s/echo", base);
	send_to(rt, k, 1, T_CALL, url);
	wait_replies(1, 1, 10);
	mt_drain(rt);
	mt_assert_no_failures();
	cstate got = view[1].st;
	assert_int_equal(got.last_err, 0);
	assert_int_equal(got.last_status, 200);
	assert_true(got.last_body_len > 0);
	assert_non_null(strstr(got.body, "\"n\""));
	assert_int_equal(got.last_reply_call, got.last_call);
	assert_int_equal(standin_keys(srv), 1);
	uint64_t id = mt_store_actor_id(dir, "caller", "");
	(void)id;
	mn_call_stats st = cstats(rt);
	assert_int_equal(st.started, 1);
	assert_int_equal(st.completed, 1);
	assert_int_equal(st.pending, 0);
	mn_runtime_close(rt);

	/* Replay without the server: the reply is in the journal. */
	standin_stop(srv);
	srv = NULL;
	memset(&view[1].st, 0, sizeof view[1].st);
	rt = open_rt(0);
	k = reg(rt);
	send_to(rt, k, 1, T_REPORT, NULL);
	mt_drain(rt);
	mt_assert_no_failures();
	assert_memory_equal(&view[1].st, &got, sizeof got);
	assert_int_equal(atomic_load(&view[1].replies), 1);
	st = cstats(rt);
	assert_int_equal(st.reissued, 0);
	mn_runtime_close(rt);
	standin_opts so = {.seed = 7};
	assert_int_equal(standin_start(&so, &srv), 0);
}

/* An intent whose reply did not land before close is issued again at the
 * next open with the same idempotency key; exactly one reply lands. */
static void test_reissue_after_restart(void **state)
{
	(void)state;
	mn_runtime *rt = open_rt(0);
	mn_kind *k = reg(rt);
	char url[128];
	snprintf(url, sizeof url, "%s/hold?ms=1500", base);
	send_to(rt, k, 2, T_CALL, url);
	mt_drain(rt);
	/* The intent is committed and issued: wait for the server. */
	for (int t = 0; t < 500 && standin_requests(srv) < 1; t++)
		mt_sleep_ms(10);
	assert_int_equal(standin_requests(srv), 1);
	mn_runtime_close(rt); /* before the reply */
	assert_int_equal(atomic_load(&view[2].replies), 0);

	rt = open_rt(0);
	k = reg(rt);
	wait_replies(2, 1, 10);
	mt_drain(rt);
	mt_sleep_ms(100);
	mn_call_stats st = cstats(rt);
	assert_int_equal(st.reissued, 1);
	assert_int_equal(st.pending, 0);
	assert_int_equal(atomic_load(&view[2].replies), 1);
	assert_int_equal(view[2].st.last_status, 200);
	/* Two requests, one key. */
	assert_int_equal(standin_keys(srv), 1);
	assert_int_equal(standin_requests(srv), 2);
	mn_runtime_close(rt);

	/* Nothing is issued a third time. */
	rt = open_rt(0);
	k = reg(rt);
	send_to(rt, k, 2, T_REPORT, NULL);
	mt_drain(rt);
	mt_sleep_ms(200);
	assert_int_equal(standin_requests(srv), 2);
	assert_int_equal(view[2].st.replies, 1);
	assert_int_equal(cstats(rt).reissued, 0);
	mn_runtime_close(rt);
}

/* A cancel in a later message: no reply reaches the actor, nothing is
 * issued again after a restart. A call cancelled by the message that made
 * it is never issued. */
static void test_cancel(void **state)
{
	(void)state;
	mn_runtime *rt = open_rt(0);
	mn_kind *k = reg(rt);
	char url[128];
	snprintf(url, sizeof url, "%s/hold?ms=400", base);
	send_to(rt, k, 3, T_CALL, url);
	send_to(rt, k, 3, T_CANCEL, NULL);
	mt_drain(rt);
	mt_sleep_ms(700);
	mt_drain(rt);
	assert_int_equal(atomic_load(&view[3].replies), 0);
	mn_call_stats st = cstats(rt);
	assert_int_equal(st.cancelled, 1);
	assert_int_equal(st.pending, 0);
	mn_runtime_close(rt);
	uint64_t before = standin_requests(srv);
	rt = open_rt(0);
	k = reg(rt);
	mt_sleep_ms(300);
	assert_int_equal(cstats(rt).reissued, 0);
	assert_int_equal(standin_requests(srv), before);
	mn_runtime_close(rt);
}

/* C2: a cancel handled before a reply that was already queued wins: the
 * reply is dropped, not handled. */
static void test_cancel_beats_queued_reply(void **state)
{
	(void)state;
	mn_runtime *rt = open_rt(0);
	mn_kind *k = reg(rt);
	send_to(rt, k, 8, T_BRIDGE, "slow");
	mt_drain(rt);
	wait_bridged(1);
	mn_call_ref ref = bridge.ref[0];
	mn_runtime_close(rt);
	/* Reopen with commits held 300 ms, so that the cancel's commit
	 * (which forgets the call) comes after the worker took the reply:
	 * the reply is dropped by the CANCELLED state alone. */
	commit_delay_us = 300000;
	rt = open_rt(0);
	k = reg(rt);
	wait_bridged(2);
	ref = bridge.ref[1];
	/* Mailbox: SLEEP, CANCEL, then the reply. */
	send_to(rt, k, 8, T_SLEEP, "200");
	send_to(rt, k, 8, T_CANCEL, NULL);
	assert_rc(mn_call_complete(rt, &ref, 1, "late", 4), 0);
	mt_drain(rt);
	send_to(rt, k, 8, T_REPORT, NULL);
	mt_drain(rt);
	assert_int_equal(view[8].st.cancelled, 1);
	assert_int_equal(view[8].st.replies, 0);
	mn_call_stats st = cstats(rt);
	assert_int_equal(st.dropped, 1);
	assert_int_equal(st.pending, 0);
	mn_runtime_close(rt);
	/* Not issued again: the cancel's commit removed the intent. */
	commit_delay_us = 0;
	rt = open_rt(0);
	k = reg(rt);
	mt_sleep_ms(100);
	assert_int_equal(atomic_load(&bridge.n), 2);
	mn_runtime_close(rt);
}

/* Every failure becomes a reply: refused connection, timeout, body over the
 * limit, 500 then success on retry, a dropped body, a malformed chunk. */
static void test_error_replies(void **state)
{
	(void)state;
	mn_runtime *rt = open_rt(0);
	mn_kind *k = reg(rt);
	char url[256];
	/* A port nobody listens on: the stand-in's, after it stops. */
	standin_opts so = {.seed = 1};
	standin *gone;
	assert_int_equal(standin_start(&so, &gone), 0);
	char gone_base[64];
	standin_base_url(gone, gone_base, sizeof gone_base);
	standin_stop(gone);
	struct {
		const char *fmt;
		int err;
		int status;
		uint32_t attempts;
	} cases[] = {
	    {"%s/echo", 0, 200, 1},
	    {"%s/hold?ms=2000|1|200", MN_ETIMEDOUT, 0, 1},
	    {"%s/big?bytes=100000|1|5000|1000", MN_ETOOBIG, 0, 1},
	    {"%s/status?code=500&times=2|3", 0, 200, 3},
	    {"%s/status?code=503", 0, 503, 1},
	    {"%s/drop?after=10", MN_EIO, 0, 1},
	    {"%s/bad-chunk", MN_EIO, 0, 1},
	    {"%s/stream-drop?chunks=2", MN_EIO, 0, 1},
	    {"%s/status?code=429&times=1&retry_after=1|2", 0, 200, 2},
	    {"%s/stall?ms=3000|1|300", MN_ETIMEDOUT, 0, 1},
	    {"%s/notjson", 0, 200, 1},
	    {"%s/status?code=409&times=1|2", 0, 200, 2},
	    /* Allowed by max_response, over the message limit (1 MiB). */
	    {"%s/big?bytes=1500000|1|5000|2000000", MN_ETOOBIG, 0, 1},
	};
	size_t nc = sizeof cases / sizeof cases[0];
	for (size_t i = 0; i < nc; i++) {
		snprintf(url, sizeof url, cases[i].fmt, base);
		send_to(rt, k, 10 + i, T_CALL, url);
	}
	snprintf(url, sizeof url, "%s/echo", gone_base);
	send_to(rt, k, 30, T_CALL, url);
	send_to(rt, k, 31, T_CALL, "http://no-such-host.invalid/x");
	double t0 = mt_now();
	for (size_t i = 0; i < nc; i++) {
		wait_replies(10 + i, 1, 15);
		const cstate *s = &view[10 + i].st;
		if (s->last_err != cases[i].err ||
		    (cases[i].err == 0 && s->last_status != cases[i].status) ||
		    s->last_attempts != cases[i].attempts)
			fail_msg("%s: err %s status %lld attempts %llu",
				 cases[i].fmt, mn_err_name((int)s->last_err),
				 (long long)s->last_status,
				 (unsigned long long)s->last_attempts);
	}
	/* The 429's Retry-After (1 s) was waited for. */
	assert_true(mt_now() - t0 >= 0.9);
	assert_string_equal(view[10 + nc - 3].st.body, "{oops");
	wait_replies(30, 1, 15);
	assert_int_equal(view[30].st.last_err, MN_EIO);
	wait_replies(31, 1, 15);
	assert_int_equal(view[31].st.last_err, MN_EIO);
	mt_drain(rt);
	mt_assert_no_failures();
	assert_int_equal(cstats(rt).pending, 0);
	mn_runtime_close(rt);
}

/* Bridged calls: told after the commit, completed from this thread; a
 * second completion is refused; a pending one is told again after a
 * restart and its completion then lands once. */
static void test_bridge(void **state)
{
	(void)state;
	mn_runtime *rt = open_rt(0);
	mn_kind *k = reg(rt);
	send_to(rt, k, 4, T_BRIDGE, "work-a");
	mt_drain(rt);
	wait_bridged(1);
	assert_string_equal(bridge.req[0], "work-a");
	mn_call_ref ref = bridge.ref[0];
	assert_rc(mn_call_complete(rt, &ref, 7, "done-a", 6), 0);
	wait_replies(4, 1, 5);
	assert_rc(mn_call_complete(rt, &ref, 7, "again", 5), MN_EINVAL);
	mt_drain(rt);
	assert_int_equal(view[4].st.last_status, 7);
	assert_string_equal(view[4].st.body, "done-a");

	/* One left pending over a restart. */
	send_to(rt, k, 4, T_BRIDGE, "work-b");
	mt_drain(rt);
	wait_bridged(2);
	mn_runtime_close(rt);
	rt = open_rt(0);
	k = reg(rt);
	wait_bridged(3);
	assert_int_equal(atomic_load(&bridge.again), 1);
	assert_string_equal(bridge.req[2], "work-b");
	ref = bridge.ref[2];
	assert_rc(mn_call_complete(rt, &ref, 8, "done-b", 6), 0);
	wait_replies(4, 2, 5);
	mt_drain(rt);
	assert_int_equal(view[4].st.replies, 2);
	assert_string_equal(view[4].st.body, "done-b");
	mt_assert_no_failures();
	mn_runtime_close(rt);
}

/* Does any file of dir hold the bytes of needle? */
static bool dir_holds(const char *d, const char *needle)
{
	DIR *dp = opendir(d);
	struct dirent *de;
	bool found = false;
	size_t nl = strlen(needle);
	assert_non_null(dp);
	while (!found && (de = readdir(dp))) {
		char path[512];
		struct stat stt;
		snprintf(path, sizeof path, "%s/%s", d, de->d_name);
		if (stat(path, &stt) || !S_ISREG(stt.st_mode))
			continue;
		FILE *f = fopen(path, "rb");
		assert_non_null(f);
		char *buf = malloc((size_t)stt.st_size + 1);
		assert_non_null(buf);
		size_t got = fread(buf, 1, (size_t)stt.st_size, f);
		fclose(f);
		for (size_t i = 0; i + nl <= got && !found; i++)
			found = memcmp(buf + i, needle, nl) == 0;
		free(buf);
	}
	closedir(dp);
	return found;
}

/* A named credential is sent by the I/O thread and never stored. */
static void test_credential_never_stored(void **state)
{
	(void)state;
	const char *secret = "sk-test-6b1f0e9a2c4d8e7f";
	mn_runtime *rt = open_rt(0);
	mn_kind *k = reg(rt);
	assert_rc(mn_credential_set(rt, "svc", "Authorization", secret), 0);
	assert_rc(mn_credential_set(rt, "bad", "Auth\r\nX", secret), MN_EINVAL);
	char url[128];
	snprintf(url, sizeof url, "%s/echo", base);
	send_to(rt, k, 5, T_CRED, url);
	wait_replies(5, 1, 10);
	mt_drain(rt);
	assert_int_equal(view[5].st.last_status, 200);
	/* An unknown credential is an error reply, naming it. */
	mn_runtime_close(rt);
	assert_false(dir_holds(dir, secret));
	assert_true(dir_holds(dir, "svc")); /* the name is stored */
}

/* mn_ctx_time and mn_ctx_random give the same values on replay. */
static void test_deterministic_time_random(void **state)
{
	(void)state;
	mn_runtime *rt = open_rt(0);
	mn_kind *k = reg(rt);
	send_to(rt, k, 6, T_TIME, NULL);
	send_to(rt, k, 6, T_REPORT, NULL);
	mt_drain(rt);
	cstate a = view[6].st;
	assert_true(a.time_ms > 0);
	assert_true(a.rnd1 != a.rnd2);
	mn_runtime_close(rt);
	mt_sleep_ms(20);
	memset(&view[6].st, 0, sizeof view[6].st);
	rt = open_rt(0);
	k = reg(rt);
	send_to(rt, k, 6, T_REPORT, NULL);
	mt_drain(rt);
	assert_int_equal(view[6].st.time_ms, a.time_ms);
	assert_int_equal(view[6].st.rnd1, a.rnd1);
	assert_int_equal(view[6].st.rnd2, a.rnd2);
	mn_runtime_close(rt);
}

/* A streamed body reaches the observer chunk by chunk, and the handler
 * once, complete: the same bytes. */
static void test_stream_observer(void **state)
{
	(void)state;
	mn_runtime *rt = open_rt(0);
	mn_kind *k = reg(rt);
	char url[128];
	snprintf(url, sizeof url, "%s/stream?chunks=5&ms=20", base);
	unsigned char key9[MT_KEY_LEN];
	mt_key_put(key9, 9);
	mn_observer *ob;
	assert_rc(mn_observe(rt, k, key9, sizeof key9, 0, &ob), 0);
	send_to(rt, k, 9, T_STREAM, url);
	wait_replies(9, 1, 10);
	mt_drain(rt);
	/* An observer of the actor sees the same chunks. */
	size_t seen = 0;
	unsigned chunks = 0;
	mn_observed ev;
	while (mn_observer_next(ob, 100, &ev) == 0) {
		assert_int_equal(ev.type, MN_OBS_CHUNK);
		assert_memory_equal(ev.data, streamed.data + seen, ev.len);
		seen += ev.len;
		chunks++;
	}
	assert_int_equal(seen, streamed.len);
	assert_int_equal(chunks, atomic_load(&streamed.n));
	mn_observer_close(ob);
	const cstate *s = &view[9].st;
	assert_int_equal(s->last_err, 0);
	assert_int_equal(s->last_status, 200);
	assert_true(atomic_load(&streamed.n) >= 2);
	assert_int_equal(streamed.bad_actor, 0);
	assert_int_equal(streamed.call_id, s->last_call);
	assert_int_equal(streamed.len, s->last_body_len);
	assert_memory_equal(streamed.data, s->body,
			    s->last_body_len < sizeof s->body - 1
				? s->last_body_len
				: sizeof s->body - 1);
	assert_non_null(strstr(streamed.data, "[DONE]"));
	mn_runtime_close(rt);
}

/* A caller evicted while it waits is brought back by its reply. */
static void test_evicted_while_waiting(void **state)
{
	(void)state;
	mn_runtime *rt = open_rt(4);
	mn_kind *k = reg(rt);
	char url[128];
	snprintf(url, sizeof url, "%s/hold?ms=600", base);
	send_to(rt, k, 7, T_CALL, url);
	mt_drain(rt);
	/* Others push it out of memory. */
	for (uint64_t i = 40; i < 60; i++)
		send_to(rt, k, i, T_REPORT, NULL);
	mt_drain(rt);
	for (int t = 0; t < 300 && mt_stats(rt).evictions < 1; t++)
		mt_sleep_ms(10);
	assert_true(mt_stats(rt).evictions >= 1);
	wait_replies(7, 1, 10);
	mt_drain(rt);
	assert_int_equal(view[7].st.last_status, 200);
	assert_int_equal(view[7].st.calls, 1);
	assert_true(mt_stats(rt).rehydrations >= 1);
	mt_assert_no_failures();
	mn_runtime_close(rt);
}

/* Every malformed request is refused in the handler and makes no call;
 * credentials and the decoder refuse bad input too. */
static void test_bad_requests(void **state)
{
	(void)state;
	mn_runtime *rt = open_rt(0);
	mn_kind *k = reg(rt);
	send_to(rt, k, 12, T_BAD, NULL);
	mt_drain(rt);
	mt_assert_no_failures();
	assert_int_equal(cstats(rt).started, 0);
	assert_rc(mn_credential_set(rt, "", "Authorization", "v"), MN_EINVAL);
	assert_rc(mn_credential_set(rt, "n", "Auth: x", "v"), MN_EINVAL);
	assert_rc(mn_credential_set(rt, "n", "Authorization", "a\r\nb"),
		  MN_EINVAL);
	assert_rc(mn_credential_set(rt, "n", "Authorization", ""), MN_EINVAL);
	mn_call_ref ref = {.actor_id = 1, .call_id = 1};
	assert_rc(mn_call_complete(rt, &ref, 0, "x", 1), MN_EINVAL);
	assert_rc(mn_call_complete(rt, NULL, 0, NULL, 0), MN_EINVAL);
	mn_call_stats st;
	assert_rc(mn_runtime_call_stats(NULL, &st), MN_EINVAL);
	mn_runtime_close(rt);
	/* Without a store: not supported. */
	rt = mt_open(1, 0);
	assert_rc(mn_credential_set(rt, "n", "Authorization", "v"), MN_ENOTSUP);
	assert_rc(mn_runtime_call_stats(rt, &st), MN_ENOTSUP);
	mn_runtime_close(rt);
}

/* The envelope decoder refuses what is not a well-formed reply. */
static void test_decode_refuses(void **state)
{
	(void)state;
	unsigned char buf[80] = "MNCR\x01";
	mn_msg m = {.type = 1, .flags = MN_MSG_CALL, .payload = buf, .len = 10};
	mn_call_reply r;
	assert_rc(mn_call_reply_decode(&m, &r), MN_EINVAL);
	m.len = 56;
	buf[56 - 1] = 0;
	/* body length 0, reason length 0: no room for the reason's NUL */
	assert_rc(mn_call_reply_decode(&m, &r), MN_EINVAL);
	m.len = 57; /* the NUL */
	assert_rc(mn_call_reply_decode(&m, &r), 0);
	assert_int_equal(r.body_len, 0);
	buf[48] = 5; /* a body length past the end */
	assert_rc(mn_call_reply_decode(&m, &r), MN_EINVAL);
	buf[48] = 0;
	m.flags = 0;
	assert_rc(mn_call_reply_decode(&m, &r), MN_EINVAL);
	m.flags = MN_MSG_CALL;
	buf[0] = 'X';
	assert_rc(mn_call_reply_decode(&m, &r), MN_EINVAL);
}

int main(void)
{
	mt_init("calls");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_reply_and_replay, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_reissue_after_restart, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cancel_beats_queued_reply,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_error_replies, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_bridge, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_credential_never_stored, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_deterministic_time_random,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stream_observer, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_evicted_while_waiting, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
	    cmocka_unit_test_setup(test_decode_refuses, mt_setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
