/*
 * test_concurrency.c - the runtime under many threads at once.
 *   - No loss, no duplication: 8 producer threads send uniquely numbered
 *     messages to 1024 actors, a quarter of them through relay actors
 *     (mn_ctx_send); every id must be handled exactly once, by the actor it
 *     was addressed to, and the stats must add up.
 *   - A handler never runs concurrently with itself: an "inside" flag in
 *     the state is set with atomic_exchange on entry (it must have been 0)
 *     and cleared on exit, and a plain counter in the state must not lose
 *     increments; 8 threads hammer 3 actors with 2 and with 4 workers.
 *   - Racing creation: threads send to (and one spawns) the same fresh keys
 *     at once; each actor's init must run exactly once, before any handle.
 *   - Shutdown racing with sends: a send that starts after
 *     mn_runtime_shutdown returned fails with MN_ECLOSED, and every send
 *     that returned 0 is handled.
 *   - Kinds registered while actors of other kinds run, and found by name
 *     and messaged from other threads as soon as they exist.
 * Random choices come from mt_rng (seed printed at start).
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/support.h"

/* ---- no loss, no duplication ---------------------------------------- */

#define U_PRODUCERS 8
#define U_ACTORS    1024
#define U_RELAYS    16

static mn_runtime *u_rt;
static mn_kind *u_kind;
static mn_kind *u_relay;
static size_t u_per;		 /* messages per producer */
static _Atomic uint32_t *u_seen; /* by id */
static _Atomic uint8_t u_targeted[U_ACTORS];
static _Atomic uint8_t u_relay_used[U_RELAYS];
static _Atomic uint64_t u_relayed;

static int u_init(mn_ctx *ctx, void **state)
{
	(void)ctx;
	*state = NULL;
	return 0;
}

/* Payload: id (8 bytes), target actor (8 bytes). */
static int u_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	(void)state;
	uint64_t self;
	if (!mt_self_u64(ctx, &self) || !MT_CHECK(msg->len == 16))
		return MN_EINVAL;
	const unsigned char *p = msg->payload;
	uint64_t id = mt_get_u64(p), target = mt_get_u64(p + 8);
	MT_CHECKF(target == self, "id %llu for actor %llu reached %llu",
		  (unsigned long long)id, (unsigned long long)target,
		  (unsigned long long)self);
	if (!MT_CHECKF(id < U_PRODUCERS * u_per, "bad id %llu",
		       (unsigned long long)id))
		return MN_EINVAL;
	uint32_t before =
	    atomic_fetch_add_explicit(&u_seen[id], 1, memory_order_relaxed);
	MT_CHECKF(before == 0, "id %llu handled %u times",
		  (unsigned long long)id, before + 1);
	return 0;
}

static int relay_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	(void)state;
	if (!MT_CHECK(msg->len == 16))
		return MN_EINVAL;
	unsigned char key[MT_KEY_LEN];
	memcpy(key, (const unsigned char *)msg->payload + 8, MT_KEY_LEN);
	int rc = mn_ctx_send(ctx, u_kind, key, MT_KEY_LEN, msg->type,
			     msg->payload, msg->len);
	if (MT_CHECKF(rc == 0, "relay send: %s", mn_err_name(rc)))
		atomic_fetch_add(&u_relayed, 1);
	return 0;
}

static void u_producer(unsigned p, void *arg)
{
	(void)arg;
	mt_rng r;
	mt_rng_init(&r, 100 + p);
	for (uint64_t i = 0; i < u_per; i++) {
		uint64_t id = p * u_per + i;
		uint64_t a = mt_rng_below(&r, U_ACTORS);
		unsigned char pl[16], key[MT_KEY_LEN];
		mt_put_u64(pl, id);
		mt_put_u64(pl + 8, a);
		int rc;
		if (id % 4 == 0) {
			uint64_t rl = mt_rng_below(&r, U_RELAYS);
			mt_key_put(key, rl);
			atomic_store(&u_relay_used[rl], 1);
			rc = mn_send(u_rt, u_relay, key, MT_KEY_LEN, 7, pl, 16);
		} else {
			mt_key_put(key, a);
			rc = mn_send(u_rt, u_kind, key, MT_KEY_LEN, 7, pl, 16);
		}
		atomic_store(&u_targeted[a], 1);
		MT_CHECKF(rc == 0, "send: %s", mn_err_name(rc));
	}
}

static void test_no_loss_no_duplication(void **state)
{
	(void)state;
	u_rt = mt_open(2, 0);
	mn_kind_def du = {.name = "uniq", .init = u_init, .handle = u_handle};
	mn_kind_def dr = {
	    .name = "relay", .init = u_init, .handle = relay_handle};
	u_kind = mt_register(u_rt, &du);
	u_relay = mt_register(u_rt, &dr);
	u_per = mt_scaled(50000, 1000);
	size_t total = U_PRODUCERS * u_per;
	u_seen = calloc(total, sizeof *u_seen);
	assert_non_null(u_seen);
	atomic_store(&u_relayed, 0);
	for (unsigned a = 0; a < U_ACTORS; a++)
		atomic_store(&u_targeted[a], 0);
	for (unsigned a = 0; a < U_RELAYS; a++)
		atomic_store(&u_relay_used[a], 0);

	mt_parallel(U_PRODUCERS, u_producer, NULL);
	mt_drain(u_rt);
	mt_assert_no_failures();

	size_t missing = 0, dup = 0, first_bad = SIZE_MAX;
	for (size_t id = 0; id < total; id++) {
		uint32_t n = atomic_load(&u_seen[id]);
		missing += n == 0;
		dup += n > 1;
		if (n != 1 && first_bad == SIZE_MAX)
			first_bad = id;
	}
	if (missing || dup)
		fail_msg("%zu ids never handled, %zu handled twice (first %zu)",
			 missing, dup, first_bad);
	uint64_t relayed = (total + 3) / 4; /* ids divisible by 4 */
	assert_int_equal(atomic_load(&u_relayed), relayed);
	uint64_t nactors = 0;
	for (unsigned a = 0; a < U_ACTORS; a++)
		nactors += atomic_load(&u_targeted[a]);
	for (unsigned a = 0; a < U_RELAYS; a++)
		nactors += atomic_load(&u_relay_used[a]);
	mn_runtime_stats st = mt_stats(u_rt);
	assert_int_equal(st.sent, total + relayed);
	assert_int_equal(st.processed, total + relayed);
	assert_int_equal(st.handler_errors, 0);
	assert_int_equal(st.actors, nactors);
	mn_runtime_close(u_rt);
	free(u_seen);
	u_seen = NULL;
}

/* ---- a handler never runs concurrently with itself ------------------- */

#define X_PRODUCERS 8
#define X_ACTORS    3
#define X_WORK	    1
#define X_REPORT    2

static mn_runtime *x_rt;
static mn_kind *x_kind;
static size_t x_per;
static _Atomic uint64_t x_overlaps;
static _Atomic uint64_t x_result[X_ACTORS];
static _Atomic uint64_t x_bad_worker;
static unsigned x_workers;

typedef struct x_state {
	atomic_int inside;
	uint64_t count; /* plain on purpose: concurrent handles lose counts */
} x_state;

static int x_init(mn_ctx *ctx, void **state)
{
	(void)ctx;
	x_state *s = malloc(sizeof *s);
	if (!MT_CHECK(s != NULL))
		return MN_ENOMEM;
	atomic_init(&s->inside, 0);
	s->count = 0;
	*state = s;
	return 0;
}

static int x_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	x_state *s = state;
	if (atomic_exchange_explicit(&s->inside, 1, memory_order_acquire)) {
		atomic_fetch_add(&x_overlaps, 1);
		MT_CHECKF(0, "handler entered while already running");
	}
	if (mn_ctx_worker(ctx) >= x_workers)
		atomic_fetch_add(&x_bad_worker, 1);
	if (msg->type == X_REPORT) {
		uint64_t a;
		if (mt_self_u64(ctx, &a) && MT_CHECK(a < X_ACTORS))
			atomic_store(&x_result[a], s->count);
	} else {
		/* A little work inside the window, so overlaps show. */
		volatile unsigned sink = 0;
		for (unsigned i = 0; i < 100; i++)
			sink += i;
		(void)sink;
		s->count++;
	}
	atomic_store_explicit(&s->inside, 0, memory_order_release);
	return 0;
}

static void x_free(void *state)
{
	free(state);
}

static void x_producer(unsigned p, void *arg)
{
	(void)arg;
	mt_rng r;
	mt_rng_init(&r, 200 + p);
	unsigned char keys[X_ACTORS][MT_KEY_LEN];
	for (unsigned a = 0; a < X_ACTORS; a++)
		mt_key_put(keys[a], a);
	for (size_t i = 0; i < x_per; i++) {
		int rc = mn_send(x_rt, x_kind, keys[i % X_ACTORS], MT_KEY_LEN,
				 X_WORK, NULL, 0);
		MT_CHECKF(rc == 0, "send: %s", mn_err_name(rc));
		/* Let mailboxes run empty now and then: the empty/non-empty
		 * transitions are where an actor could get scheduled twice. */
		if (mt_rng_below(&r, 16) == 0)
			sched_yield();
	}
}

static void run_exclusive(unsigned workers)
{
	x_workers = workers;
	x_rt = mt_open(workers, 0);
	mn_kind_def d = {
	    .name = "excl", .init = x_init, .handle = x_handle, .free = x_free};
	x_kind = mt_register(x_rt, &d);
	x_per = mt_scaled(50000, 1500);
	atomic_store(&x_overlaps, 0);
	atomic_store(&x_bad_worker, 0);
	for (unsigned a = 0; a < X_ACTORS; a++)
		atomic_store(&x_result[a], UINT64_MAX);

	mt_parallel(X_PRODUCERS, x_producer, NULL);
	mt_drain(x_rt);
	for (unsigned a = 0; a < X_ACTORS; a++) {
		unsigned char key[MT_KEY_LEN];
		mt_key_put(key, a);
		assert_rc(
		    mn_send(x_rt, x_kind, key, MT_KEY_LEN, X_REPORT, NULL, 0),
		    0);
	}
	mt_drain(x_rt);
	assert_int_equal(atomic_load(&x_overlaps), 0);
	mt_assert_no_failures();
	assert_int_equal(atomic_load(&x_bad_worker), 0);
	for (unsigned a = 0; a < X_ACTORS; a++) {
		uint64_t want = 0;
		for (size_t i = 0; i < x_per; i++)
			want += i % X_ACTORS == a;
		assert_int_equal(atomic_load(&x_result[a]), want * X_PRODUCERS);
	}
	mn_runtime_stats st = mt_stats(x_rt);
	assert_int_equal(st.workers, workers);
	assert_int_equal(st.sent, X_PRODUCERS * x_per + X_ACTORS);
	assert_int_equal(st.processed, st.sent);
	mn_runtime_close(x_rt);
}

static void test_exclusive_2_workers(void **state)
{
	(void)state;
	run_exclusive(2);
}

static void test_exclusive_4_workers(void **state)
{
	(void)state;
	run_exclusive(4);
}

/* ---- racing creation ------------------------------------------------ */

#define C_THREADS 8

static mn_runtime *c_rt;
static mn_kind *c_kind;
static size_t c_keys;
static _Atomic uint32_t *c_inits;
static _Atomic uint32_t *c_handles;
static _Atomic uint64_t c_spawned; /* spawns that returned 0 */

static int c_init(mn_ctx *ctx, void **state)
{
	uint64_t k;
	if (!mt_self_u64(ctx, &k) || !MT_CHECK(k < c_keys))
		return MN_EINVAL;
	uint32_t before = atomic_fetch_add(&c_inits[k], 1);
	MT_CHECKF(before == 0, "key %llu: init ran %u times",
		  (unsigned long long)k, before + 1);
	*state = &c_inits[k];
	return 0;
}

static int c_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	(void)msg;
	uint64_t k;
	if (!mt_self_u64(ctx, &k) || !MT_CHECK(k < c_keys))
		return MN_EINVAL;
	MT_CHECKF(state == &c_inits[k], "key %llu: wrong or no state",
		  (unsigned long long)k);
	MT_CHECKF(atomic_load(&c_inits[k]) == 1, "key %llu: handle before init",
		  (unsigned long long)k);
	atomic_fetch_add(&c_handles[k], 1);
	return 0;
}

/* Every thread walks all keys in its own random order; the last thread
 * spawns instead of sending. */
static void c_thread(unsigned t, void *arg)
{
	(void)arg;
	mt_rng r;
	mt_rng_init(&r, 300 + t);
	size_t *order = malloc(c_keys * sizeof *order);
	if (!MT_CHECK(order != NULL))
		return;
	for (size_t i = 0; i < c_keys; i++)
		order[i] = i;
	for (size_t i = c_keys - 1; i > 0; i--) {
		size_t j = mt_rng_below(&r, i + 1), tmp = order[i];
		order[i] = order[j];
		order[j] = tmp;
	}
	for (size_t i = 0; i < c_keys; i++) {
		unsigned char key[MT_KEY_LEN];
		mt_key_put(key, order[i]);
		if (t == C_THREADS - 1) {
			int rc = mn_spawn(c_rt, c_kind, key, MT_KEY_LEN);
			MT_CHECKF(rc == 0 || rc == MN_EEXIST, "spawn: %s",
				  mn_err_name(rc));
			if (rc == 0)
				atomic_fetch_add(&c_spawned, 1);
		} else {
			int rc =
			    mn_send(c_rt, c_kind, key, MT_KEY_LEN, 0, NULL, 0);
			MT_CHECKF(rc == 0, "send: %s", mn_err_name(rc));
		}
	}
	free(order);
}

static void test_racing_creation(void **state)
{
	(void)state;
	c_rt = mt_open(2, 0);
	mn_kind_def d = {.name = "born", .init = c_init, .handle = c_handle};
	c_kind = mt_register(c_rt, &d);
	c_keys = mt_scaled(50000, 500);
	c_inits = calloc(c_keys, sizeof *c_inits);
	c_handles = calloc(c_keys, sizeof *c_handles);
	assert_non_null(c_inits);
	assert_non_null(c_handles);
	atomic_store(&c_spawned, 0);

	mt_parallel(C_THREADS, c_thread, NULL);
	mt_drain(c_rt);
	mt_assert_no_failures();
	for (size_t k = 0; k < c_keys; k++) {
		if (atomic_load(&c_inits[k]) != 1 ||
		    atomic_load(&c_handles[k]) != C_THREADS - 1)
			fail_msg("key %zu: %u inits, %u handles (want 1, %d)",
				 k, atomic_load(&c_inits[k]),
				 atomic_load(&c_handles[k]), C_THREADS - 1);
	}
	assert_true(atomic_load(&c_spawned) <= c_keys);
	mn_runtime_stats st = mt_stats(c_rt);
	assert_int_equal(st.actors, c_keys);
	assert_int_equal(st.handler_errors, 0);
	mn_runtime_close(c_rt);
	free(c_inits);
	free(c_handles);
}

/* ---- shutdown racing with sends --------------------------------------- */

#define S_PRODUCERS 4
#define S_ACTORS    64

static mn_runtime *s_rt;
static mn_kind *s_kind;
static mt_counts s_counts;
static _Atomic uint64_t s_ok;	  /* sends that returned 0 */
static _Atomic uint64_t s_closed; /* sends that returned MN_ECLOSED */
static _Atomic int s_shut_done;	  /* set after mn_runtime_shutdown returned */
static uint64_t s_threshold;
static _Atomic uint8_t s_key_used[S_ACTORS]; /* a send to it returned 0 */

static void s_thread(unsigned t, void *arg)
{
	(void)arg;
	if (t == S_PRODUCERS) {
		/* The shutter: let the producers get going first. */
		mt_wait_u64(&s_ok, s_threshold, 20.0);
		mn_runtime_shutdown(s_rt);
		atomic_store_explicit(&s_shut_done, 1, memory_order_release);
		return;
	}
	for (uint64_t i = 0;; i++) {
		unsigned char key[MT_KEY_LEN];
		uint64_t a = (i * S_PRODUCERS + t) % S_ACTORS;
		mt_key_put(key, a);
		int after =
		    atomic_load_explicit(&s_shut_done, memory_order_acquire);
		int rc =
		    mn_send(s_rt, s_kind, key, MT_KEY_LEN, 0, &i, sizeof i);
		if (rc == 0) {
			atomic_fetch_add(&s_ok, 1);
			atomic_store(&s_key_used[a], 1);
			if (!MT_CHECKF(!after, "send accepted after shutdown"))
				break;
			continue;
		}
		if (!MT_CHECKF(rc == MN_ECLOSED, "send: %s", mn_err_name(rc)))
			break;
		atomic_fetch_add(&s_closed, 1);
		/* Once closed, it stays closed. */
		for (int j = 0; j < 100; j++) {
			rc = mn_send(s_rt, s_kind, key, MT_KEY_LEN, 0, &i,
				     sizeof i);
			MT_CHECKF(rc == MN_ECLOSED, "send after ECLOSED: %s",
				  mn_err_name(rc));
		}
		break;
	}
}

static void test_shutdown_races_sends(void **state)
{
	(void)state;
	s_rt = mt_open(2, 0);
	mt_counts_reset(&s_counts);
	mn_kind_def d = mt_counting_kind("racy", &s_counts);
	s_kind = mt_register(s_rt, &d);
	atomic_store(&s_ok, 0);
	atomic_store(&s_closed, 0);
	atomic_store(&s_shut_done, 0);
	s_threshold = mt_scaled(50000, 2000);
	for (unsigned a = 0; a < S_ACTORS; a++)
		atomic_store(&s_key_used[a], 0);

	mt_parallel(S_PRODUCERS + 1, s_thread, NULL);
	mt_drain(s_rt);
	mt_assert_no_failures();
	uint64_t ok = atomic_load(&s_ok);
	assert_true(ok >= s_threshold);
	assert_int_equal(atomic_load(&s_closed), S_PRODUCERS);
	assert_int_equal(atomic_load(&s_counts.handles), ok);
	assert_int_equal(atomic_load(&s_counts.bytes), ok * sizeof(uint64_t));
	mn_runtime_stats st = mt_stats(s_rt);
	assert_int_equal(st.sent, ok);
	assert_int_equal(st.processed, ok);
	mn_runtime_close(s_rt);
	assert_int_equal(atomic_load(&s_counts.frees),
			 atomic_load(&s_counts.inits));
	uint64_t used = 0;
	for (unsigned a = 0; a < S_ACTORS; a++)
		used += atomic_load(&s_key_used[a]);
	assert_int_equal(atomic_load(&s_counts.inits), used);
	mt_assert_no_failures();
}

/* ---- registering kinds while actors run ------------------------------- */

#define R_KINDS	  100
#define R_HAMMERS 2

static mn_runtime *r_rt;
static mn_kind *r_base;
static mt_counts r_base_counts;
static mt_counts r_dyn_counts;
static _Atomic unsigned r_nreg; /* kinds dyn-0..dyn-(n-1) registered */
static _Atomic int r_done;
static _Atomic uint64_t r_base_ok; /* hammer sends that returned 0 */
static _Atomic uint64_t r_dyn_ok;  /* sends to dyn kinds that returned 0 */

static void r_name(char *buf, size_t n, unsigned i)
{
	snprintf(buf, n, "dyn-%u", i);
}

/* Thread 0 registers kinds one by one and messages each; the hammers send
 * to an old kind meanwhile; the last thread finds registered kinds by name
 * and sends to them. */
static void r_thread(unsigned t, void *arg)
{
	(void)arg;
	mt_rng r;
	mt_rng_init(&r, 400 + t);
	char name[32];
	if (t == 0) {
		for (unsigned i = 0; i < R_KINDS; i++) {
			r_name(name, sizeof name, i);
			mn_kind_def d = mt_counting_kind(name, &r_dyn_counts);
			mn_kind *k = NULL;
			int rc = mn_kind_register(r_rt, &d, &k);
			if (!MT_CHECKF(rc == 0 && k, "register %s: %s", name,
				       mn_err_name(rc)))
				break;
			rc = mn_send_named(r_rt, name, "x", 1, 0, NULL, 0);
			if (MT_CHECKF(rc == 0, "send %s: %s", name,
				      mn_err_name(rc)))
				atomic_fetch_add(&r_dyn_ok, 1);
			/* release: publishes the registration to the finder
			 * (acquire below). */
			atomic_store_explicit(&r_nreg, i + 1,
					      memory_order_release);
			if (i % 8 == 0)
				sched_yield();
		}
		atomic_store(&r_done, 1);
		return;
	}
	if (t <= R_HAMMERS) {
		while (!atomic_load(&r_done)) {
			unsigned char key[MT_KEY_LEN];
			mt_key_put(key, mt_rng_below(&r, 256));
			int rc =
			    mn_send(r_rt, r_base, key, MT_KEY_LEN, 0, NULL, 0);
			if (MT_CHECKF(rc == 0, "base send: %s",
				      mn_err_name(rc)))
				atomic_fetch_add(&r_base_ok, 1);
		}
		return;
	}
	while (!atomic_load(&r_done)) {
		unsigned n =
		    atomic_load_explicit(&r_nreg, memory_order_acquire);
		if (n == 0) {
			sched_yield();
			continue;
		}
		unsigned i = (unsigned)mt_rng_below(&r, n);
		r_name(name, sizeof name, i);
		mn_kind *k = mn_kind_find(r_rt, name);
		if (!MT_CHECKF(k != NULL, "kind %s not found", name))
			return;
		MT_CHECK(strcmp(mn_kind_name(k), name) == 0);
		int rc = mn_send(r_rt, k, "y", 1, 0, NULL, 0);
		if (MT_CHECKF(rc == 0, "send %s: %s", name, mn_err_name(rc)))
			atomic_fetch_add(&r_dyn_ok, 1);
	}
}

static void test_register_while_running(void **state)
{
	(void)state;
	r_rt = mt_open(2, 0);
	mt_counts_reset(&r_base_counts);
	mt_counts_reset(&r_dyn_counts);
	mn_kind_def d = mt_counting_kind("base", &r_base_counts);
	r_base = mt_register(r_rt, &d);
	atomic_store(&r_nreg, 0);
	atomic_store(&r_done, 0);
	atomic_store(&r_base_ok, 0);
	atomic_store(&r_dyn_ok, 0);

	mt_parallel(R_HAMMERS + 2, r_thread, NULL);
	mt_drain(r_rt);
	mt_assert_no_failures();
	assert_int_equal(atomic_load(&r_nreg), R_KINDS);
	assert_int_equal(atomic_load(&r_base_counts.handles),
			 atomic_load(&r_base_ok));
	assert_int_equal(atomic_load(&r_dyn_counts.handles),
			 atomic_load(&r_dyn_ok));
	assert_true(atomic_load(&r_dyn_ok) >= R_KINDS);
	mn_runtime_stats st = mt_stats(r_rt);
	assert_int_equal(st.sent,
			 atomic_load(&r_base_ok) + atomic_load(&r_dyn_ok));
	assert_int_equal(st.processed, st.sent);
	mn_runtime_close(r_rt);
	assert_int_equal(atomic_load(&r_dyn_counts.frees),
			 atomic_load(&r_dyn_counts.inits));
	assert_int_equal(atomic_load(&r_base_counts.frees),
			 atomic_load(&r_base_counts.inits));
}

int main(void)
{
	mt_init("core/concurrency");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_no_loss_no_duplication, mt_setup),
	    cmocka_unit_test_setup(test_exclusive_2_workers, mt_setup),
	    cmocka_unit_test_setup(test_exclusive_4_workers, mt_setup),
	    cmocka_unit_test_setup(test_racing_creation, mt_setup),
	    cmocka_unit_test_setup(test_shutdown_races_sends, mt_setup),
	    cmocka_unit_test_setup(test_register_while_running, mt_setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
