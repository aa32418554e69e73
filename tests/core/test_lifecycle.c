/*
 * test_lifecycle.c - opening, draining, shutting down and closing a runtime.
 *   - drain with nothing sent returns at once; drain from inside a handler
 *     is MN_EINVAL;
 *   - drain waits for chains of messages that actors forward to each other
 *     (the count is exact right after drain), also when several threads
 *     drain at once;
 *   - close with messages still queued and actors ping-ponging forever
 *     returns promptly, calls free() once per state init made, and runs no
 *     callback afterwards (ASan's leak check covers the dropped messages);
 *   - repeated open/close with 1-4 workers, the default worker count, and
 *     MN_WORKERS_MAX workers;
 *   - after shutdown, queued messages are still handled and handlers keep
 *     sending to each other (mn_ctx_send, mn_ctx_reply), while mn_send,
 *     from outside or from inside a handler, fails with MN_ECLOSED.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/support/support.h"

static mt_counts counts;

/* ---- drain ------------------------------------------------------------ */

static void test_drain_idle(void **state)
{
	(void)state;
	mn_runtime *rt = mt_open(2, 0);
	for (int i = 0; i < 3; i++) {
		double t0 = mt_now();
		mt_drain(rt);
		double dt = mt_now() - t0;
		if (dt > 1.0)
			fail_msg("drain of an idle runtime took %.3f s", dt);
	}
	/* Idle again after some work. */
	mt_counts_reset(&counts);
	mn_kind_def d = mt_counting_kind("idle", &counts);
	mn_kind *k = mt_register(rt, &d);
	for (int i = 0; i < 100; i++)
		assert_rc(mn_send(rt, k, "a", 1, 0, NULL, 0), 0);
	mt_drain(rt);
	assert_int_equal(atomic_load(&counts.handles), 100);
	double t0 = mt_now();
	mt_drain(rt);
	mt_drain(rt);
	assert_true(mt_now() - t0 < 1.0);
	mn_runtime_close(rt);
	assert_int_equal(atomic_load(&counts.frees), 1);
	mt_assert_no_failures();
}

static _Atomic uint64_t in_handler_rc_ok;
static mn_runtime *in_handler_rt;

static int drain_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	(void)state;
	(void)msg;
	mn_runtime *rt = mn_ctx_runtime(ctx);
	MT_CHECK(rt == in_handler_rt);
	int rc = mn_runtime_drain(rt);
	if (MT_CHECKF(rc == MN_EINVAL, "drain in a handler: %d (%s)", rc,
		      mn_err_name(rc)))
		atomic_fetch_add(&in_handler_rc_ok, 1);
	return 0;
}

static int null_init(mn_ctx *ctx, void **state)
{
	(void)ctx;
	*state = NULL;
	return 0;
}

static void test_drain_in_handler(void **state)
{
	(void)state;
	in_handler_rt = mt_open(2, 0);
	atomic_store(&in_handler_rc_ok, 0);
	mn_kind_def d = {
	    .name = "drainer", .init = null_init, .handle = drain_handle};
	mn_kind *k = mt_register(in_handler_rt, &d);
	for (int i = 0; i < 10; i++)
		assert_rc(mn_send(in_handler_rt, k, "d", 1, 0, NULL, 0), 0);
	mt_drain(in_handler_rt);
	mt_assert_no_failures();
	assert_int_equal(atomic_load(&in_handler_rc_ok), 10);
	mn_runtime_close(in_handler_rt);
}

/*
 * Chains: actors 2c and 2c+1 pass a counter back and forth; each hop
 * forwards n-1 until 0. Started before the drains, so each drain must wait
 * for the whole chain: there is always a message in flight until the end.
 */
#define CHAINS 4

static size_t chain_len;
static mn_kind *hop_kind;
static _Atomic uint64_t hops[CHAINS];
static _Atomic uint64_t chain_done[CHAINS];

static int hop_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	(void)state;
	uint64_t self;
	if (!mt_self_u64(ctx, &self) || !MT_CHECK(msg->len == 8))
		return MN_EINVAL;
	uint64_t c = self / 2, n = mt_get_u64(msg->payload);
	if (!MT_CHECK(c < CHAINS))
		return MN_EINVAL;
	atomic_fetch_add(&hops[c], 1);
	if (n == 0) {
		atomic_fetch_add(&chain_done[c], 1);
		return 0;
	}
	unsigned char key[MT_KEY_LEN], pl[8];
	mt_key_put(key, self ^ 1);
	mt_put_u64(pl, n - 1);
	int rc = mn_ctx_send(ctx, hop_kind, key, MT_KEY_LEN, 0, pl, 8);
	MT_CHECKF(rc == 0, "hop send: %s", mn_err_name(rc));
	return 0;
}

static mn_runtime *chain_rt;

static void chain_drainer(unsigned t, void *arg)
{
	(void)t;
	(void)arg;
	int rc = mn_runtime_drain(chain_rt);
	MT_CHECKF(rc == 0, "drain: %s", mn_err_name(rc));
	for (unsigned c = 0; c < CHAINS; c++)
		MT_CHECKF(atomic_load(&hops[c]) == chain_len + 1 &&
			      atomic_load(&chain_done[c]) == 1,
			  "drain returned with chain %u at %llu of %zu hops", c,
			  (unsigned long long)atomic_load(&hops[c]),
			  chain_len + 1);
}

static void run_chain(unsigned drainers)
{
	chain_rt = mt_open(2, 0);
	mn_kind_def d = {
	    .name = "hop", .init = null_init, .handle = hop_handle};
	hop_kind = mt_register(chain_rt, &d);
	chain_len = mt_scaled(100000, 2000);
	for (unsigned c = 0; c < CHAINS; c++) {
		atomic_store(&hops[c], 0);
		atomic_store(&chain_done[c], 0);
	}
	for (unsigned c = 0; c < CHAINS; c++) {
		unsigned char key[MT_KEY_LEN], pl[8];
		mt_key_put(key, 2 * c);
		mt_put_u64(pl, chain_len);
		assert_rc(
		    mn_send(chain_rt, hop_kind, key, MT_KEY_LEN, 0, pl, 8), 0);
	}
	if (drainers == 1)
		chain_drainer(0, NULL);
	else
		mt_parallel(drainers, chain_drainer, NULL);
	mt_assert_no_failures();
	for (unsigned c = 0; c < CHAINS; c++) {
		assert_int_equal(atomic_load(&hops[c]), chain_len + 1);
		assert_int_equal(atomic_load(&chain_done[c]), 1);
	}
	mn_runtime_stats st = mt_stats(chain_rt);
	assert_int_equal(st.sent, CHAINS * (chain_len + 1));
	assert_int_equal(st.processed, st.sent);
	assert_int_equal(st.actors, 2 * CHAINS);
	mn_runtime_close(chain_rt);
}

static void test_drain_waits_for_chain(void **state)
{
	(void)state;
	run_chain(1);
}

static void test_concurrent_drains(void **state)
{
	(void)state;
	run_chain(3);
}

/* ---- close with work pending ---------------------------------------- */

#define PP_PAIRS     100
#define FLOOD_ACTORS 1000

static mn_kind *pp_kind;
static mt_counts pp_counts;    /* ping-pong actors */
static mt_counts flood_counts; /* actors with a deep queue */

/* Counting state plus forever ping-pong: an external message starts a
 * rally with the partner (key ^ 1); every actor message is answered. */
typedef struct pp_state {
	uint64_t magic;
} pp_state;
#define PP_MAGIC 0x70696e67706f6e67ull

static int pp_init(mn_ctx *ctx, void **state)
{
	(void)ctx;
	pp_state *s = malloc(sizeof *s);
	if (!MT_CHECK(s != NULL))
		return MN_ENOMEM;
	s->magic = PP_MAGIC;
	*state = s;
	atomic_fetch_add(&pp_counts.inits, 1);
	return 0;
}

static int pp_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	pp_state *s = state;
	MT_CHECK(s->magic == PP_MAGIC);
	atomic_fetch_add(&pp_counts.handles, 1);
	int rc;
	if (msg->flags & MN_MSG_EXTERNAL) {
		uint64_t self;
		if (!mt_self_u64(ctx, &self))
			return MN_EINVAL;
		unsigned char key[MT_KEY_LEN];
		mt_key_put(key, self ^ 1);
		rc = mn_ctx_send(ctx, pp_kind, key, MT_KEY_LEN, 1, "ping", 4);
	} else {
		rc = mn_ctx_reply(ctx, 1, msg->payload, msg->len);
	}
	MT_CHECKF(rc == 0, "ping-pong send: %s", mn_err_name(rc));
	return 0;
}

static void pp_free(void *state)
{
	pp_state *s = state;
	MT_CHECK(s->magic == PP_MAGIC);
	s->magic = 0;
	free(s);
	atomic_fetch_add(&pp_counts.frees, 1);
}

static void test_close_with_pending(void **state)
{
	(void)state;
	mn_runtime *rt = mt_open(2, 0);
	mt_counts_reset(&pp_counts);
	mt_counts_reset(&flood_counts);
	mn_kind_def dp = {.name = "pp",
			  .init = pp_init,
			  .handle = pp_handle,
			  .free = pp_free};
	pp_kind = mt_register(rt, &dp);
	mn_kind_def df = mt_counting_kind("flood", &flood_counts);
	mn_kind *flood = mt_register(rt, &df);

	for (unsigned p = 0; p < PP_PAIRS; p++) {
		unsigned char key[MT_KEY_LEN];
		mt_key_put(key, 2 * p);
		assert_rc(mn_send(rt, pp_kind, key, MT_KEY_LEN, 0, NULL, 0), 0);
	}
	/* Deep queues of payload-carrying messages, never drained. */
	size_t per = mt_scaled(100, 10);
	char pl[200];
	memset(pl, 'f', sizeof pl);
	for (size_t i = 0; i < per; i++)
		for (unsigned a = 0; a < FLOOD_ACTORS; a++) {
			unsigned char key[MT_KEY_LEN];
			mt_key_put(key, a);
			assert_rc(mn_send(rt, flood, key, MT_KEY_LEN, 0, pl,
					  sizeof pl),
				  0);
		}
	assert_true(mt_wait_u64(&pp_counts.handles, 10 * PP_PAIRS, 10.0));

	double t0 = mt_now();
	mn_runtime_close(rt);
	double dt = mt_now() - t0;
	if (dt > 5.0)
		fail_msg("close with pending messages took %.2f s", dt);

	uint64_t h1 = atomic_load(&pp_counts.handles);
	uint64_t f1 = atomic_load(&flood_counts.handles);
	mt_sleep_ms(50);
	assert_int_equal(atomic_load(&pp_counts.handles), h1);
	assert_int_equal(atomic_load(&flood_counts.handles), f1);
	/* The flood could not all be handled: close dropped the rest. */
	printf("# close: %.3f s, %llu of %zu flood messages handled\n", dt,
	       (unsigned long long)f1, per * FLOOD_ACTORS);
	assert_true(atomic_load(&pp_counts.inits) >= PP_PAIRS);
	assert_true(atomic_load(&pp_counts.inits) <= 2 * PP_PAIRS);
	assert_int_equal(atomic_load(&pp_counts.frees),
			 atomic_load(&pp_counts.inits));
	assert_int_equal(atomic_load(&flood_counts.frees),
			 atomic_load(&flood_counts.inits));
	mt_assert_no_failures();
}

static void test_open_close_cycles(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 12; i++) {
		unsigned workers = 1 + i % 4;
		mn_runtime *rt = mt_open(workers, 0);
		assert_int_equal(mt_stats(rt).workers, workers);
		mt_counts_reset(&counts);
		mn_kind_def d = mt_counting_kind("cycle", &counts);
		mn_kind *k = mt_register(rt, &d);
		for (unsigned j = 0; j < 100; j++) {
			unsigned char key[MT_KEY_LEN];
			mt_key_put(key, j % 10);
			assert_rc(
			    mn_send(rt, k, key, MT_KEY_LEN, 0, &j, sizeof j),
			    0);
		}
		if (i % 2 == 0) {
			mt_drain(rt);
			assert_int_equal(atomic_load(&counts.handles), 100);
			assert_int_equal(atomic_load(&counts.inits), 10);
		}
		if (i % 3 == 0)
			mn_runtime_shutdown(rt);
		mn_runtime_close(rt);
		assert_int_equal(atomic_load(&counts.frees),
				 atomic_load(&counts.inits));
		mt_assert_no_failures();
	}
	/* A runtime that never ran anything. */
	mn_runtime *rt = mt_open(3, 0);
	mn_runtime_close(rt);
}

/* The send cache (core/runtime.c) remembers the last volatile actor a
 * thread sent to. Two runtimes open at once with the same kind name and
 * key, sent to alternately, and runtimes closed and reopened with the same
 * address: each message reaches its own runtime's actor (ASan would see a
 * cached record of a closed runtime being used). */
static void test_send_cache_across_runtimes(void **state)
{
	(void)state;
	static mt_counts c1, c2;
	unsigned char key[MT_KEY_LEN];
	mt_key_put(key, 7);
	for (unsigned round = 0; round < 6; round++) {
		mt_counts_reset(&c1);
		mt_counts_reset(&c2);
		mn_runtime *r1 = mt_open(1 + round % 2, 0);
		mn_runtime *r2 = mt_open(2, 0);
		mn_kind_def d1 = mt_counting_kind("same", &c1);
		mn_kind_def d2 = mt_counting_kind("same", &c2);
		mn_kind *k1 = mt_register(r1, &d1), *k2 = mt_register(r2, &d2);
		for (unsigned j = 0; j < 300; j++) {
			uint64_t v = j;
			if (j % 3 == 2)
				assert_rc(mn_send(r2, k2, key, sizeof key, 0,
						  &v, sizeof v),
					  0);
			else
				assert_rc(mn_send(r1, k1, key, sizeof key, 0,
						  &v, sizeof v),
					  0);
		}
		mt_drain(r1);
		mt_drain(r2);
		assert_int_equal(atomic_load(&c1.handles), 200);
		assert_int_equal(atomic_load(&c2.handles), 100);
		assert_int_equal(atomic_load(&c1.inits), 1);
		assert_int_equal(atomic_load(&c2.inits), 1);
		/* Close one, keep sending to the other from this thread. */
		mn_runtime_close(r1);
		for (unsigned j = 0; j < 50; j++)
			assert_rc(
			    mn_send(r2, k2, key, sizeof key, 0, &j, sizeof j),
			    0);
		mt_drain(r2);
		assert_int_equal(atomic_load(&c2.handles), 150);
		mn_runtime_close(r2);
		mt_assert_no_failures();
	}
}

/* An outside thread keeps a cache of message buffers (core/msgpool.c):
 * one that sends, outlives the runtime's close, then exits (its cache is
 * released at close or at exit, whichever the code picks, never twice). */
typedef struct outlive {
	mn_runtime *rt;
	mn_kind *k;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stage; /* 1: sent; 2: runtime closed */
} outlive;

static void *outlive_main(void *arg)
{
	outlive *o = arg;
	unsigned char key[MT_KEY_LEN];
	char payload[600] = {0};
	for (unsigned j = 0; j < 500; j++) {
		mt_key_put(key, j % 5);
		MT_CHECK(mn_send(o->rt, o->k, key, sizeof key, 0, payload,
				 1 + j % sizeof payload) == 0);
	}
	pthread_mutex_lock(&o->mu);
	o->stage = 1;
	pthread_cond_broadcast(&o->cv);
	while (o->stage != 2)
		pthread_cond_wait(&o->cv, &o->mu);
	pthread_mutex_unlock(&o->mu);
	return NULL;
}

static void test_outside_thread_outlives_runtime(void **state)
{
	(void)state;
	static mt_counts c;
	for (unsigned round = 0; round < 4; round++) {
		outlive o = {.stage = 0};
		pthread_t t;
		mt_counts_reset(&c);
		pthread_mutex_init(&o.mu, NULL);
		pthread_cond_init(&o.cv, NULL);
		o.rt = mt_open(2, 0);
		mn_kind_def d = mt_counting_kind("outlive", &c);
		o.k = mt_register(o.rt, &d);
		assert_int_equal(pthread_create(&t, NULL, outlive_main, &o), 0);
		pthread_mutex_lock(&o.mu);
		while (o.stage != 1)
			pthread_cond_wait(&o.cv, &o.mu);
		pthread_mutex_unlock(&o.mu);
		mt_drain(o.rt);
		assert_int_equal(atomic_load(&c.handles), 500);
		mn_runtime_close(o.rt);
		pthread_mutex_lock(&o.mu);
		o.stage = 2;
		pthread_cond_broadcast(&o.cv);
		pthread_mutex_unlock(&o.mu);
		assert_int_equal(pthread_join(t, NULL), 0);
		pthread_cond_destroy(&o.cv);
		pthread_mutex_destroy(&o.mu);
		mt_assert_no_failures();
	}
}

static void test_default_workers(void **state)
{
	(void)state;
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		n = 1;
	if (n > MN_WORKERS_MAX)
		n = MN_WORKERS_MAX;
	mn_runtime *rt = mt_open(0, 0);
	assert_int_equal(mt_stats(rt).workers, (unsigned)n);
	mn_runtime_close(rt);
	mn_runtime_opts o = {0};
	assert_rc(mn_runtime_open(&o, &rt), 0);
	assert_int_equal(mt_stats(rt).workers, (unsigned)n);
	mn_runtime_close(rt);
}

static _Atomic unsigned max_worker_seen;

static int worker_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	(void)state;
	(void)msg;
	unsigned w = mn_ctx_worker(ctx);
	MT_CHECKF(w < MN_WORKERS_MAX, "worker index %u", w);
	unsigned cur = atomic_load(&max_worker_seen);
	while (w > cur &&
	       !atomic_compare_exchange_weak(&max_worker_seen, &cur, w))
		;
	return 0;
}

static void test_max_workers(void **state)
{
	(void)state;
	mn_runtime *rt = mt_open(MN_WORKERS_MAX, 0);
	assert_int_equal(mt_stats(rt).workers, MN_WORKERS_MAX);
	atomic_store(&max_worker_seen, 0);
	mn_kind_def d = {
	    .name = "w", .init = null_init, .handle = worker_handle};
	mn_kind *k = mt_register(rt, &d);
	for (unsigned i = 0; i < 2000; i++) {
		unsigned char key[MT_KEY_LEN];
		mt_key_put(key, i % 500);
		assert_rc(mn_send(rt, k, key, MT_KEY_LEN, 0, NULL, 0), 0);
	}
	mt_drain(rt);
	mt_assert_no_failures();
	assert_int_equal(mt_stats(rt).processed, 2000);
	assert_true(atomic_load(&max_worker_seen) < MN_WORKERS_MAX);
	mn_runtime_close(rt);
}

/* ---- shutdown --------------------------------------------------------- */

static void test_shutdown_handles_queued(void **state)
{
	(void)state;
	mn_runtime *rt = mt_open(2, 0);
	mt_counts_reset(&counts);
	mn_kind_def d = mt_counting_kind("queued", &counts);
	mn_kind *k = mt_register(rt, &d);
	size_t n = mt_scaled(20000, 1000);
	for (size_t i = 0; i < n; i++) {
		unsigned char key[MT_KEY_LEN];
		mt_key_put(key, i % 100);
		assert_rc(mn_send(rt, k, key, MT_KEY_LEN, 0, &i, sizeof i), 0);
	}
	mn_runtime_shutdown(rt);
	assert_rc(mn_send(rt, k, "late", 4, 0, NULL, 0), MN_ECLOSED);
	mt_drain(rt);
	assert_int_equal(atomic_load(&counts.handles), n);
	assert_int_equal(atomic_load(&counts.bytes), n * sizeof(size_t));
	mn_runtime_stats st = mt_stats(rt);
	assert_int_equal(st.sent, n);
	assert_int_equal(st.processed, n);
	mn_runtime_close(rt);
	assert_int_equal(atomic_load(&counts.frees), 100);
	mt_assert_no_failures();
}

/*
 * A "gate" actor, on its external start message, waits (bounded) until the
 * main thread has shut the runtime down, then starts a rally of RALLY hops
 * with an "echo" actor: gate -> echo with mn_ctx_send, then replies both
 * ways with mn_ctx_reply. From inside the handler, mn_send (the outside
 * API) must already fail with MN_ECLOSED.
 */
#define RALLY 1000

static mn_kind *echo_kind;
static _Atomic int gate_entered;
static _Atomic int gate_released; /* main has returned from shutdown */
static _Atomic uint64_t rally_hops;
static _Atomic uint64_t rally_end;
static _Atomic int gate_ctx_rc = 1;
static _Atomic int gate_send_rc = 1;

static int rally(mn_ctx *ctx, const mn_msg *msg)
{
	if (!MT_CHECK(msg->len == 8))
		return MN_EINVAL;
	uint64_t n = mt_get_u64(msg->payload);
	atomic_fetch_add(&rally_hops, 1);
	if (n == 0) {
		atomic_fetch_add(&rally_end, 1);
		return 0;
	}
	unsigned char pl[8];
	mt_put_u64(pl, n - 1);
	int rc = mn_ctx_reply(ctx, 0, pl, 8);
	MT_CHECKF(rc == 0, "reply after shutdown: %s", mn_err_name(rc));
	return 0;
}

static int gate_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	(void)state;
	if (!(msg->flags & MN_MSG_EXTERNAL))
		return rally(ctx, msg);
	atomic_store(&gate_entered, 1);
	double end = mt_now() + 10.0;
	while (!atomic_load(&gate_released) && mt_now() < end)
		mt_sleep_ms(1);
	MT_CHECK(atomic_load(&gate_released));
	unsigned char pl[8];
	mt_put_u64(pl, RALLY);
	atomic_store(&gate_ctx_rc,
		     mn_ctx_send(ctx, echo_kind, "echo", 4, 0, pl, 8));
	atomic_store(&gate_send_rc, mn_send(mn_ctx_runtime(ctx), echo_kind,
					    "echo", 4, 0, pl, 8));
	return 0;
}

static int echo_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	(void)state;
	MT_CHECK(!(msg->flags & MN_MSG_EXTERNAL));
	return rally(ctx, msg);
}

static void test_handlers_send_after_shutdown(void **state)
{
	(void)state;
	mn_runtime *rt = mt_open(2, 0);
	mn_kind_def dg = {
	    .name = "gate", .init = null_init, .handle = gate_handle};
	mn_kind_def de = {
	    .name = "echo", .init = null_init, .handle = echo_handle};
	mn_kind *gate = mt_register(rt, &dg);
	echo_kind = mt_register(rt, &de);
	atomic_store(&gate_entered, 0);
	atomic_store(&gate_released, 0);
	atomic_store(&rally_hops, 0);
	atomic_store(&rally_end, 0);
	atomic_store(&gate_ctx_rc, 1);
	atomic_store(&gate_send_rc, 1);

	assert_rc(mn_send(rt, gate, "gate", 4, 0, NULL, 0), 0);
	double end = mt_now() + 10.0;
	while (!atomic_load(&gate_entered) && mt_now() < end)
		mt_sleep_ms(1);
	assert_true(atomic_load(&gate_entered));
	mn_runtime_shutdown(rt);
	assert_rc(mn_send(rt, echo_kind, "echo", 4, 0, NULL, 0), MN_ECLOSED);
	atomic_store(&gate_released, 1);
	mt_drain(rt);

	mt_assert_no_failures();
	assert_rc(atomic_load(&gate_ctx_rc), 0);
	assert_rc(atomic_load(&gate_send_rc), MN_ECLOSED);
	assert_int_equal(atomic_load(&rally_hops), RALLY + 1);
	assert_int_equal(atomic_load(&rally_end), 1);
	mn_runtime_stats st = mt_stats(rt);
	assert_int_equal(st.sent, 1 + RALLY + 1);
	assert_int_equal(st.processed, st.sent);
	mn_runtime_close(rt);
}

int main(void)
{
	mt_init("core/lifecycle");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_drain_idle, mt_setup),
	    cmocka_unit_test_setup(test_drain_in_handler, mt_setup),
	    cmocka_unit_test_setup(test_drain_waits_for_chain, mt_setup),
	    cmocka_unit_test_setup(test_concurrent_drains, mt_setup),
	    cmocka_unit_test_setup(test_close_with_pending, mt_setup),
	    cmocka_unit_test_setup(test_open_close_cycles, mt_setup),
	    cmocka_unit_test_setup(test_send_cache_across_runtimes, mt_setup),
	    cmocka_unit_test_setup(test_outside_thread_outlives_runtime,
				   mt_setup),
	    cmocka_unit_test_setup(test_default_workers, mt_setup),
	    cmocka_unit_test_setup(test_max_workers, mt_setup),
	    cmocka_unit_test_setup(test_shutdown_handles_queued, mt_setup),
	    cmocka_unit_test_setup(test_handlers_send_after_shutdown, mt_setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
