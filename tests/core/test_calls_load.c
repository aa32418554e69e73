/*
 * test_calls_load.c - calls held for seconds do not slow the rest of the
 * runtime: NWAIT actors (10,000) each start one call to the stand-in's
 * /hold?ms=HOLD_MS and return; while every one of them waits, other actors
 * of a simple persistent kind run a fixed batch of NMSG messages (sized
 * once from a warm-up's rate, 100k-300k), timed, and its rate is compared
 * with the same batch timed in the same test without pending calls. Then every
 * one of the NWAIT replies must arrive (bounded wait).
 *
 * The calls really wait: calls_max_inflight and calls_max_per_host are
 * INFLIGHT (5,000) and the stand-in (in this process) holds up to 6,000
 * connections, so during the timed batch 5,000 transfers are in flight,
 * each held by the stand-in, and 5,000 calls wait in the queue behind the
 * cap (checked with mn_runtime_call_stats before and after the batch). Two
 * sockets per transfer in one process: 10,000 descriptors, under the
 * machine's 20,000.
 *
 * "No worker is ever blocked": the batch's rate with the calls pending
 * stays within a loose bound of the rate without them (the machine has 2
 * shared cores; the ratio is printed: it is about 1), and no handler spends
 * more than MAX_CALL_MS inside mn_ctx_call_http (the longest is printed).
 * Relaxed durability keeps the test fast.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tests/support/standin.h"
#include "tests/support/support.h"

#if defined(__SANITIZE_ADDRESS__)
#define MT_ASAN 1
#else
#define MT_ASAN 0
#endif
/* Long enough for the transfers to start and the timed batches to run
 * while every call waits (sanitizer builds are several times slower). */
#define HOLD_MS	    (MT_TSAN ? 12000 : MT_ASAN ? 8000 : 6000)
#define INFLIGHT    5000
#define NBUSY	    1000 /* actors of the timed batch */
#define NMSG_MIN    100000
#define NMSG_MAX    300000
#define BATCH_S	    0.25
#define MAX_CALL_MS (HOLD_MS / 10)

enum { T_START = 1, T_REPLY = 2, T_WORK = 3 };

static size_t nwait, nmsg;
static char hold_url[128];

static _Atomic uint64_t replies, bad_replies, call_errors, worked;
static _Atomic uint64_t call_ns_max;

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static int l_init(mn_ctx *ctx, void **state)
{
	(void)ctx;
	*state = calloc(1, sizeof(uint64_t));
	return *state ? 0 : MN_ENOMEM;
}

static int l_snapshot(const void *state, mn_buf *out)
{
	return mn_buf_append(out, state, sizeof(uint64_t));
}

static int l_restore(mn_ctx *ctx, const void *b, size_t len, void **state)
{
	(void)ctx;
	if (len != sizeof(uint64_t))
		return MN_EINVAL;
	uint64_t *s = malloc(sizeof *s);
	if (!s)
		return MN_ENOMEM;
	memcpy(s, b, len);
	*state = s;
	return 0;
}

/* The waiting kind: T_START makes the call; the reply is counted. */
static int wait_handle(mn_ctx *ctx, void *state, const mn_msg *m)
{
	uint64_t *n = state;
	if (m->flags & MN_MSG_CALL) {
		mn_call_reply r;
		int rc = mn_call_reply_decode(m, &r);
		if (rc || r.err || r.status != 200)
			atomic_fetch_add(&bad_replies, 1);
		(*n)++;
		atomic_fetch_add(&replies, 1);
		return 0;
	}
	if (m->type != T_START)
		return MN_EINVAL;
	mn_http_request req = MN_HTTP_REQUEST_INIT;
	req.url = hold_url;
	req.timeout_ms = 60000;
	uint64_t t0 = now_ns();
	int rc = mn_ctx_call_http(ctx, &req, T_REPLY, NULL);
	uint64_t d = now_ns() - t0, was = atomic_load(&call_ns_max);
	while (d > was && !atomic_compare_exchange_weak(&call_ns_max, &was, d))
		;
	if (rc)
		atomic_fetch_add(&call_errors, 1);
	return rc;
}

/* The busy kind: a counter, journaled like any persistent state. */
static int busy_handle(mn_ctx *ctx, void *state, const mn_msg *m)
{
	(void)ctx;
	uint64_t *n = state;
	if (m->type != T_WORK)
		return MN_EINVAL;
	(*n)++;
	atomic_fetch_add_explicit(&worked, 1, memory_order_relaxed);
	return 0;
}

static mn_kind *reg(mn_runtime *rt, const char *name,
		    int (*handle)(mn_ctx *, void *, const mn_msg *))
{
	mn_kind_def d = MN_KIND_DEF_INIT;
	d.name = name;
	d.init = l_init;
	d.handle = handle;
	d.snapshot = l_snapshot;
	d.restore = l_restore;
	d.free = free;
	d.snapshot_every = 1000000;
	return mt_register(rt, &d);
}

/* One timed batch: NMSG messages round-robin over NBUSY actors, from the
 * first send to the last message handled. Messages per second. */
static double batch(mn_runtime *rt, mn_kind *busy)
{
	unsigned char key[MT_KEY_LEN];
	uint64_t before = atomic_load(&worked);
	double t0 = mt_now();
	for (size_t i = 0; i < nmsg; i++) {
		mt_key_put(key, i % NBUSY);
		assert_rc(mn_send(rt, busy, key, sizeof key, T_WORK, NULL, 0),
			  0);
	}
	mt_drain(rt);
	double dt = mt_now() - t0;
	assert_int_equal(atomic_load(&worked) - before, nmsg);
	return (double)nmsg / dt;
}

/* The best rate of n batches, or best if higher. */
static double best_of(mn_runtime *rt, mn_kind *busy, int n, double best)
{
	for (int i = 0; i < n; i++) {
		double r = batch(rt, busy);
		if (r > best)
			best = r;
	}
	return best;
}

static mn_call_stats cstats(mn_runtime *rt)
{
	mn_call_stats st;
	assert_rc(mn_runtime_call_stats(rt, &st), 0);
	return st;
}

static void test_pending_calls_do_not_slow_workers(void **state)
{
	(void)state;
	char dir[128];
	snprintf(dir, sizeof dir, "/tmp/mnemo-test-calls-load-%d-XXXXXX",
		 (int)getpid());
	assert_non_null(mkdtemp(dir));
	standin *srv;
	standin_opts so = {.seed = 3, .max_connections = INFLIGHT + 1000};
	assert_int_equal(standin_start(&so, &srv), 0);
	char base[64];
	standin_base_url(srv, base, sizeof base);
	snprintf(hold_url, sizeof hold_url, "%s/hold?ms=%u", base, HOLD_MS);
	nwait = mt_scaled(10000, 2 * INFLIGHT / 5);
	nmsg = NMSG_MAX;
	size_t inflight = nwait < 2 * INFLIGHT ? nwait / 2 : INFLIGHT;

	mn_runtime_opts o = MN_RUNTIME_OPTS_INIT;
	o.workers = 2;
	o.store_path = dir;
	o.durability = MN_DURABILITY_RELAXED;
	o.calls_max_inflight = (unsigned)inflight;
	o.calls_max_per_host = (unsigned)inflight;
	mn_runtime *rt = NULL;
	assert_rc(mn_runtime_open(&o, &rt), 0);
	mn_kind *waiter = reg(rt, "waiter", wait_handle);
	mn_kind *busy = reg(rt, "busy", busy_handle);

	/* Without pending calls: a warm-up batch (creates the actors; its
	 * rate sizes the batches to about BATCH_S each, so that a slow build
	 * still runs three of them within the hold), then the best of two
	 * now and one after the replies (best of three: the cores are
	 * shared, a batch may lose its core for a while). */
	double warm = batch(rt, busy);
	nmsg = (size_t)(warm * BATCH_S);
	nmsg = nmsg < NMSG_MIN ? NMSG_MIN : nmsg > NMSG_MAX ? NMSG_MAX : nmsg;
	double base_rate = best_of(rt, busy, 2, 0);

	/* The calls: every waiter's intent committed, the transfers up to
	 * the cap in flight, held by the stand-in. */
	unsigned char key[MT_KEY_LEN];
	for (size_t i = 0; i < nwait; i++) {
		mt_key_put(key, i);
		assert_rc(
		    mn_send(rt, waiter, key, sizeof key, T_START, NULL, 0), 0);
	}
	mt_drain(rt);
	double t_calls = mt_now();
	for (int t = 0; t < 3000 && standin_requests(srv) < inflight; t++)
		mt_sleep_ms(5);
	double t_ready = mt_now();
	mn_call_stats before = cstats(rt);
	assert_int_equal(standin_requests(srv), inflight);
	assert_int_equal(before.pending, nwait);
	assert_int_equal(before.inflight, inflight);
	assert_int_equal(before.queued, nwait - inflight);

	/* With them pending: the best of three. */
	double load_rate = best_of(rt, busy, 3, 0);
	mn_call_stats after = cstats(rt);
	/* Every call was still waiting while the batches ran. */
	assert_int_equal(atomic_load(&replies), 0);
	assert_int_equal(after.pending, nwait);

	/* Every reply arrives: the first INFLIGHT after HOLD_MS, the rest
	 * one hold later. */
	if (!mt_wait_u64(&replies, nwait, 3.0 * HOLD_MS / 1000.0 + 10))
		fail_msg("%llu of %zu replies arrived",
			 (unsigned long long)atomic_load(&replies), nwait);
	mt_drain(rt);
	base_rate = best_of(rt, busy, 1, base_rate);

	double ratio = load_rate / base_rate;
	double call_ms = (double)atomic_load(&call_ns_max) / 1e6;
	printf("# calls load: %zu batch messages: %.0f msg/s without pending "
	       "calls (best of 3), %.0f msg/s with %zu calls pending (%zu in "
	       "flight, %zu "
	       "queued): ratio %.3f; transfers in flight %.2f s after the "
	       "intents; longest mn_ctx_call_http %.3f ms\n",
	       nmsg, base_rate, load_rate, nwait, (size_t)after.inflight,
	       (size_t)after.queued, ratio, t_ready - t_calls, call_ms);
	/* Loose: 2 cores shared with other sessions. The ratio printed is
	 * the figure; this catches a runtime whose workers wait on calls
	 * (they would make it near 0). Sanitized builds are slower and
	 * noisier (ASan measured 0.66 once on a loaded machine). */
#if defined(__SANITIZE_ADDRESS__)
	const double min_ratio = 0.5;
#else
	const double min_ratio = MT_TSAN ? 0.5 : 0.7;
#endif
	assert_true(ratio >= min_ratio);
	assert_true(call_ms < MAX_CALL_MS);
	mt_assert_no_failures();
	assert_int_equal(atomic_load(&bad_replies), 0);
	assert_int_equal(atomic_load(&call_errors), 0);
	mn_call_stats end = cstats(rt);
	assert_int_equal(end.pending, 0);
	assert_int_equal(end.completed, nwait);
	assert_int_equal(standin_keys(srv), nwait);
	mn_runtime_stats st = mt_stats(rt);
	assert_int_equal(st.handler_errors, 0);
	assert_int_equal(st.store_error, 0);
	mn_runtime_close(rt);
	standin_stop(srv);
	char cmd[200];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	mt_init("calls_load");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_pending_calls_do_not_slow_workers,
				   mt_setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
