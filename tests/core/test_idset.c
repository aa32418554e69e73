/*
 * test_idset.c - the id set (core/idset.h): insert, contains, remove,
 * tombstones and their reuse (IS1), growth (IS2), ids that collide in the
 * hash, and a model check against a plain array over a few thousand random
 * operations with a fixed seed.
 */
#include <stdlib.h>
#include <string.h>

#include "tests/support/support.h"

#include "core/idset.h"

/* Ids that land in the same slot of a table of MN__IDSET_CAP0 slots: the
 * slot depends only on id modulo the capacity (an odd multiplier, a
 * power-of-two mask). */
static uint64_t colliding(unsigned i)
{
	return 5 + (uint64_t)i * MN__IDSET_CAP0;
}

static void test_insert_contains_remove(void **state)
{
	(void)state;
	mn__idset s;
	mn__idset_init(&s);
	assert_false(mn__idset_contains(&s, 2));
	assert_false(mn__idset_remove(&s, 2));
	assert_true(mn__idset_insert(&s, 2));
	assert_false(mn__idset_insert(&s, 2)); /* present */
	assert_true(mn__idset_insert(&s, 77));
	assert_true(mn__idset_contains(&s, 2));
	assert_true(mn__idset_contains(&s, 77));
	assert_false(mn__idset_contains(&s, 3));
	assert_int_equal(mn__idset_count(&s), 2);
	assert_true(mn__idset_remove(&s, 2));
	assert_false(mn__idset_remove(&s, 2));
	assert_false(mn__idset_contains(&s, 2));
	assert_true(mn__idset_contains(&s, 77));
	assert_int_equal(mn__idset_count(&s), 1);
	mn__idset_free(&s);
	assert_int_equal(mn__idset_count(&s), 0);
	assert_false(mn__idset_contains(&s, 77));
}

static void test_collisions_and_tombstones(void **state)
{
	(void)state;
	mn__idset s;
	mn__idset_init(&s);
	enum { N = 40 };
	for (unsigned i = 0; i < N; i++)
		assert_true(mn__idset_insert(&s, colliding(i)));
	assert_int_equal(s.cap, MN__IDSET_CAP0); /* no growth: all collide */
	/* A run of N slots: removing from its middle leaves tombstones the
	 * probes for the later ids must pass (IS1). */
	for (unsigned i = 10; i < 20; i++)
		assert_true(mn__idset_remove(&s, colliding(i)));
	for (unsigned i = 0; i < N; i++)
		assert_int_equal(mn__idset_contains(&s, colliding(i)),
				 i < 10 || i >= 20);
	size_t first_tomb = SIZE_MAX, tombs = 0;
	for (size_t i = 0; i < s.cap; i++)
		if (s.slots[i] == 1) {
			tombs++;
			if (first_tomb == SIZE_MAX)
				first_tomb = i;
		}
	assert_int_equal(tombs, 10);
	/* A new colliding id takes the first tombstone on its probe. */
	assert_true(mn__idset_insert(&s, colliding(N)));
	assert_int_equal(s.slots[first_tomb], colliding(N));
	/* An id still present past the tombstones is not added twice. */
	assert_false(mn__idset_insert(&s, colliding(N - 1)));
	assert_int_equal(mn__idset_count(&s), N - 10 + 1);
	mn__idset_free(&s);
}

static void test_growth(void **state)
{
	(void)state;
	mn__idset s;
	mn__idset_init(&s);
	enum { N = 20000 };
	for (uint64_t id = 2; id < 2 + N; id++)
		assert_true(mn__idset_insert(&s, id * 7919));
	assert_int_equal(mn__idset_count(&s), N);
	assert_true(s.cap >= 2 * N); /* IS2 */
	assert_int_equal(s.cap & (s.cap - 1), 0);
	for (uint64_t id = 2; id < 2 + N; id++)
		assert_true(mn__idset_contains(&s, id * 7919));
	assert_false(mn__idset_contains(&s, 3));
	/* Remove everything: the set is empty, every probe still ends. */
	for (uint64_t id = 2; id < 2 + N; id++)
		assert_true(mn__idset_remove(&s, id * 7919));
	assert_int_equal(mn__idset_count(&s), 0);
	for (uint64_t id = 2; id < 2 + N; id++)
		assert_false(mn__idset_contains(&s, id * 7919));
	/* And it fills again. */
	for (uint64_t id = 2; id < 2 + 100; id++)
		assert_true(mn__idset_insert(&s, id));
	assert_int_equal(mn__idset_count(&s), 100);
	mn__idset_free(&s);
}

/* xorshift64: deterministic across platforms. */
static uint64_t rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static void test_model(void **state)
{
	(void)state;
	enum { OPS = 6000, RANGE = 1500 };
	static bool model[RANGE]; /* id i + 2 present */
	size_t count = 0;
	uint64_t seed = 0x1d5e7u;
	mn__idset s;
	memset(model, 0, sizeof model);
	mn__idset_init(&s);
	for (unsigned op = 0; op < OPS; op++) {
		/* Half the ids (the even indexes) collide at the first
		 * capacity. */
		uint64_t r = rnd(&seed);
		unsigned i = (unsigned)((r >> 8) % RANGE);
		uint64_t id = (i & 1) ? ((uint64_t)1 << 40) + i : colliding(i);
		switch ((r >> 4) % 3) {
		case 0:
			assert_int_equal(mn__idset_insert(&s, id), !model[i]);
			count += !model[i];
			model[i] = true;
			break;
		case 1:
			assert_int_equal(mn__idset_remove(&s, id), model[i]);
			count -= model[i];
			model[i] = false;
			break;
		default:
			assert_int_equal(mn__idset_contains(&s, id), model[i]);
		}
		assert_int_equal(mn__idset_count(&s), count);
	}
	mn__idset_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_insert_contains_remove),
	    cmocka_unit_test(test_collisions_and_tombstones),
	    cmocka_unit_test(test_growth),
	    cmocka_unit_test(test_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
