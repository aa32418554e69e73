/*
 * test_scale.c - one million actors (300k under ThreadSanitizer, or scaled
 * by MN_TEST_SCALE). Two producer threads send one message to each of N
 * distinct 8-byte keys; after drain every actor's init ran exactly once and
 * before its handle, handle ran exactly once with the right payload, the
 * stats count N actors and N messages sent and processed, and close calls
 * free() N times. A second round to the same keys must find the existing
 * actors (no second init, no new actor).
 */
#include <stdio.h>
#include <stdlib.h>

#include "tests/support/support.h"

#define PRODUCERS 2

static mn_runtime *rt;
static mn_kind *kind;
static size_t n_actors;
static _Atomic uint8_t *inits;
static _Atomic uint8_t *handles;
static _Atomic uint64_t frees;
static int sentinel; /* every actor's state points here: no allocation */

static int big_init(mn_ctx *ctx, void **state)
{
	uint64_t k;
	if (!mt_self_u64(ctx, &k) || !MT_CHECK(k < n_actors))
		return MN_EINVAL;
	uint8_t before =
	    atomic_fetch_add_explicit(&inits[k], 1, memory_order_relaxed);
	MT_CHECKF(before == 0, "key %llu: init ran twice",
		  (unsigned long long)k);
	*state = &sentinel;
	return 0;
}

static int big_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	uint64_t k;
	if (!mt_self_u64(ctx, &k) || !MT_CHECK(k < n_actors))
		return MN_EINVAL;
	MT_CHECK(state == &sentinel);
	MT_CHECKF(atomic_load_explicit(&inits[k], memory_order_relaxed) == 1,
		  "key %llu: handle without init", (unsigned long long)k);
	MT_CHECK(msg->len == 8 && mt_get_u64(msg->payload) == k);
	atomic_fetch_add_explicit(&handles[k], 1, memory_order_relaxed);
	return 0;
}

static void big_free(void *state)
{
	MT_CHECK(state == &sentinel);
	atomic_fetch_add_explicit(&frees, 1, memory_order_relaxed);
}

static void producer(unsigned p, void *arg)
{
	(void)arg;
	for (size_t i = p; i < n_actors; i += PRODUCERS) {
		unsigned char key[MT_KEY_LEN];
		mt_key_put(key, i);
		int rc = mn_send(rt, kind, key, MT_KEY_LEN, 0, key, 8);
		if (!MT_CHECKF(rc == 0, "send %zu: %s", i, mn_err_name(rc)))
			return;
	}
}

/* Every actor's counters equal want; fails naming the first that does
 * not. */
static void expect_all(_Atomic uint8_t *v, unsigned want, const char *what)
{
	for (size_t i = 0; i < n_actors; i++)
		if (atomic_load_explicit(&v[i], memory_order_relaxed) != want)
			fail_msg("actor %zu: %s ran %u times, expected %u", i,
				 what, atomic_load(&v[i]), want);
}

static void test_million_actors(void **state)
{
	(void)state;
	n_actors = mt_scaled(1000000, 1000); /* 300k under TSan */
	inits = calloc(n_actors, sizeof *inits);
	handles = calloc(n_actors, sizeof *handles);
	assert_non_null(inits);
	assert_non_null(handles);
	atomic_store(&frees, 0);
	rt = mt_open(2, 0);
	mn_kind_def d = {.name = "many",
			 .init = big_init,
			 .handle = big_handle,
			 .free = big_free};
	kind = mt_register(rt, &d);

	double t0 = mt_now();
	mt_parallel(PRODUCERS, producer, NULL);
	mt_drain(rt);
	double t1 = mt_now();
	mt_assert_no_failures();
	expect_all(inits, 1, "init");
	expect_all(handles, 1, "handle");
	mn_runtime_stats st = mt_stats(rt);
	printf("# %zu actors created and messaged in %.2f s; actor_bytes "
	       "%llu, registry_bytes %llu\n",
	       n_actors, t1 - t0, (unsigned long long)st.actor_bytes,
	       (unsigned long long)st.registry_bytes);
	assert_int_equal(st.actors, n_actors);
	assert_int_equal(st.sent, n_actors);
	assert_int_equal(st.processed, n_actors);
	assert_int_equal(st.handler_errors, 0);
	assert_true(st.actor_bytes > 0);

	/* Second round: the same actors, no new init. */
	mt_parallel(PRODUCERS, producer, NULL);
	mt_drain(rt);
	mt_assert_no_failures();
	expect_all(inits, 1, "init");
	expect_all(handles, 2, "handle");
	st = mt_stats(rt);
	assert_int_equal(st.actors, n_actors);
	assert_int_equal(st.sent, 2 * n_actors);
	assert_int_equal(st.processed, 2 * n_actors);

	mn_runtime_close(rt);
	assert_int_equal(atomic_load(&frees), n_actors);
	mt_assert_no_failures();
	free(inits);
	free(handles);
}

int main(void)
{
	mt_init("core/scale");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_million_actors, mt_setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
