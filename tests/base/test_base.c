/*
 * test_base.c - the bottom layer on its own: the thread-local error detail,
 * the growth rule, byte order, the clock, the error table.
 */
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/byteorder.h"
#include "base/clock.h"
#include "base/detail.h"
#include "base/grow.h"
#include "include/mnemo.h"

static void test_detail_set_and_clear(void **st)
{
	(void)st;
	mn__detail_clear();
	assert_string_equal(mn__detail(), "no detail");
	mn__detail_set("store x: mdb_put: full");
	assert_string_equal(mn__detail(), "store x: mdb_put: full");
	assert_int_equal(mn__detail_setf("actor %s seq %d", "a/1", 7), 15);
	assert_string_equal(mn__detail(), "actor a/1 seq 7");
	mn__detail_appendf(" (%s)", "why");
	assert_string_equal(mn__detail(), "actor a/1 seq 7 (why)");
	mn__detail_clear();
	assert_string_equal(mn__detail(), "no detail");
}

static void test_detail_truncates(void **st)
{
	(void)st;
	char big[2 * MN__DETAIL_MAX];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	mn__detail_set(big);
	assert_int_equal(strlen(mn__detail()), MN__DETAIL_MAX - 1);
	mn__detail_appendf("%s", "more"); /* full: no overflow, no change */
	assert_int_equal(strlen(mn__detail()), MN__DETAIL_MAX - 1);
	mn__detail_clear();
}

static void *other_thread(void *arg)
{
	const char **seen = arg;
	seen[0] = strdup(mn__detail()); /* this thread's own: empty */
	mn__detail_set("from the other thread");
	seen[1] = strdup(mn__detail());
	return NULL;
}

static void test_detail_is_per_thread(void **st)
{
	(void)st;
	mn__detail_set("from main");
	const char *seen[2] = {0};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, other_thread, seen), 0);
	pthread_join(t, NULL);
	assert_string_equal(seen[0], "no detail");
	assert_string_equal(seen[1], "from the other thread");
	assert_string_equal(mn__detail(), "from main");
	free((void *)seen[0]);
	free((void *)seen[1]);
	mn__detail_clear();
}

static void test_grow(void **st)
{
	(void)st;
	int *a = NULL;
	size_t cap = 0;
	assert_int_equal(mn__grow(&a, &cap, 0, sizeof *a, 16), 0);
	assert_null(a);
	assert_int_equal(mn__grow(&a, &cap, 1, sizeof *a, 16), 0);
	assert_int_equal(cap, 16);
	for (int i = 0; i < 16; i++)
		a[i] = i;
	int *before = a;
	assert_int_equal(mn__grow(&a, &cap, 16, sizeof *a, 16), 0);
	assert_ptr_equal(a, before); /* already holds 16: untouched */
	assert_int_equal(mn__grow(&a, &cap, 1000, sizeof *a, 16), 0);
	assert_int_equal(cap, 1024);
	for (int i = 0; i < 16; i++)
		assert_int_equal(a[i], i); /* contents kept */
	/* Overflow of the count or of count * elem: refused, array kept. */
	size_t c2 = cap;
	assert_int_equal(mn__grow(&a, &c2, SIZE_MAX, sizeof *a, 16), MN_ENOMEM);
	assert_int_equal(mn__grow(&a, &c2, SIZE_MAX / 2, sizeof *a, 16),
			 MN_ENOMEM);
	assert_int_equal(c2, cap);
	assert_int_equal(a[15], 15);
	free(a);
}

static void test_buf_grows_by_the_rule(void **st)
{
	(void)st;
	mn_buf b;
	mn__buf_init(&b);
	unsigned char chunk[100];
	for (int i = 0; i < 50; i++) {
		memset(chunk, i, sizeof chunk);
		assert_int_equal(mn_buf_append(&b, chunk, sizeof chunk), 0);
	}
	assert_int_equal(mn_buf_len(&b), 5000);
	assert_int_equal(b.cap, 8192); /* 64 doubled until it holds 5000 */
	const unsigned char *d = mn_buf_data(&b);
	for (int i = 0; i < 50; i++)
		assert_int_equal(d[i * 100 + 99], i);
	/* A request past SIZE_MAX: refused, contents kept. */
	assert_int_equal(mn__buf_reserve(&b, SIZE_MAX), MN_ENOMEM);
	assert_int_equal(mn__buf_reserve(&b, SIZE_MAX - 4000), MN_ENOMEM);
	assert_int_equal(mn_buf_len(&b), 5000);
	assert_int_equal(d[4999], 49);
	mn__buf_free(&b);
	assert_int_equal(b.cap, 0);
}

static void test_byteorder(void **st)
{
	(void)st;
	unsigned char b[8];
	mn__be64_put(b, 0x0102030405060708ull);
	const unsigned char be[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	assert_memory_equal(b, be, 8);
	assert_true(mn__be64_get(b) == 0x0102030405060708ull);
	mn__le64_put(b, 0x0102030405060708ull);
	const unsigned char le[8] = {8, 7, 6, 5, 4, 3, 2, 1};
	assert_memory_equal(b, le, 8);
	assert_true(mn__le64_get(b) == 0x0102030405060708ull);
	mn__be32_put(b, 0xa1b2c3d4u);
	assert_int_equal(b[0], 0xa1);
	assert_true(mn__be32_get(b) == 0xa1b2c3d4u);
	mn__le32_put(b, 0xa1b2c3d4u);
	assert_int_equal(b[0], 0xd4);
	assert_true(mn__le32_get(b) == 0xa1b2c3d4u);
	/* Big-endian keys sort as numbers under memcmp. */
	unsigned char k1[8], k2[8];
	mn__be64_put(k1, 255);
	mn__be64_put(k2, 256);
	assert_true(memcmp(k1, k2, 8) < 0);
}

static void test_clock(void **st)
{
	(void)st;
	uint64_t a = mn__mono_ns();
	struct timespec d = {0, 2000000};
	nanosleep(&d, NULL);
	uint64_t b = mn__mono_ns();
	assert_true(b - a >= 2000000);
	assert_true(mn__mono_ms() >= a / 1000000);
	assert_true(mn__mono_us() >= b / 1000);
	/* Wall clock: after 2024-01-01 and before 2100. */
	uint64_t now = mn__unix_ms();
	assert_true(now > 1704067200000ull && now < 4102444800000ull);
}

static void test_error_table(void **st)
{
	(void)st;
	assert_string_equal(mn_err_name(MN_OK), "MN_OK");
	assert_string_equal(mn_err_name(MN_ENOMEM), "MN_ENOMEM");
	assert_string_equal(mn_strerror(MN_OK), "success");
	assert_string_equal(mn_err_name(-12345), "MN_E?");
	assert_string_equal(mn_strerror(-12345), "unknown error");
	assert_non_null(strchr(mn_version(), '.'));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_detail_set_and_clear),
	    cmocka_unit_test(test_detail_truncates),
	    cmocka_unit_test(test_detail_is_per_thread),
	    cmocka_unit_test(test_grow),
	    cmocka_unit_test(test_buf_grows_by_the_rule),
	    cmocka_unit_test(test_byteorder),
	    cmocka_unit_test(test_clock),
	    cmocka_unit_test(test_error_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
