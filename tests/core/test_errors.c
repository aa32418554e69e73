/*
 * test_errors.c - the error table. Walks MN_ERRNO_MAP with the X-macro and
 * checks that the enum, mn_strerror() and mn_err_name() agree with it for
 * every code, that 0 is "MN_OK", that unknown codes get the documented
 * fallbacks, that no two codes share a value or a name, and that
 * mn_version() matches the version macros.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "tests/support/support.h"

typedef struct err_row {
	int value;
	int enum_value;
	const char *name; /* "MN_" + name, as the table spells it */
	const char *desc;
} err_row;

#define ROW(name, val, desc) {(val), MN_##name, "MN_" #name, (desc)},
static const err_row rows[] = {MN_ERRNO_MAP(ROW)};
#undef ROW
#define NROWS (sizeof rows / sizeof rows[0])

static void test_table_matches_functions(void **state)
{
	(void)state;
	assert_true(NROWS >= 18);
	for (size_t i = 0; i < NROWS; i++) {
		const err_row *r = &rows[i];
		assert_int_equal(r->enum_value, r->value);
		assert_true(r->value < 0);
		const char *s = mn_strerror(r->value);
		const char *n = mn_err_name(r->value);
		assert_non_null(s);
		assert_non_null(n);
		assert_string_equal(s, r->desc);
		assert_string_equal(n, r->name);
	}
}

static void test_ok_code(void **state)
{
	(void)state;
	assert_int_equal(MN_OK, 0);
	assert_string_equal(mn_err_name(0), "MN_OK");
	const char *s = mn_strerror(0);
	assert_non_null(s);
	assert_true(s[0] != '\0');
	/* 0 is a known code: it must not describe itself as unknown, nor as
	 * any of the errors. */
	assert_string_not_equal(s, "unknown error");
	for (size_t i = 0; i < NROWS; i++)
		assert_string_not_equal(s, rows[i].desc);
}

static void test_unknown_codes(void **state)
{
	(void)state;
	int lowest = 0;
	for (size_t i = 0; i < NROWS; i++)
		if (rows[i].value < lowest)
			lowest = rows[i].value;
	const int unknown[] = {lowest - 1, lowest - 100, 1,	2,
			       42,	   12345,	 -9999, INT_MIN,
			       INT_MAX,	   INT_MIN + 1};
	for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
		const char *s = mn_strerror(unknown[i]);
		const char *n = mn_err_name(unknown[i]);
		assert_non_null(s);
		assert_non_null(n);
		assert_string_equal(s, "unknown error");
		assert_string_equal(n, "MN_E?");
	}
}

static void test_codes_unique(void **state)
{
	(void)state;
	for (size_t i = 0; i < NROWS; i++) {
		assert_int_not_equal(rows[i].value, 0);
		for (size_t j = i + 1; j < NROWS; j++) {
			if (rows[i].value == rows[j].value)
				fail_msg("%s and %s share value %d",
					 rows[i].name, rows[j].name,
					 rows[i].value);
			assert_string_not_equal(rows[i].name, rows[j].name);
		}
	}
}

static void test_strings_stable(void **state)
{
	(void)state;
	/* Static strings: the same pointer each call, usable from any thread
	 * without a buffer of the caller's. */
	for (size_t i = 0; i < NROWS; i++) {
		assert_ptr_equal(mn_strerror(rows[i].value),
				 mn_strerror(rows[i].value));
		assert_ptr_equal(mn_err_name(rows[i].value),
				 mn_err_name(rows[i].value));
	}
}

static void test_version(void **state)
{
	(void)state;
	char want[64];
	snprintf(want, sizeof want, "%d.%d.%d", MN_VERSION_MAJOR,
		 MN_VERSION_MINOR, MN_VERSION_PATCH);
	assert_non_null(mn_version());
	assert_string_equal(mn_version(), want);
}

int main(void)
{
	mt_init("core/errors");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_table_matches_functions, mt_setup),
	    cmocka_unit_test_setup(test_ok_code, mt_setup),
	    cmocka_unit_test_setup(test_unknown_codes, mt_setup),
	    cmocka_unit_test_setup(test_codes_unique, mt_setup),
	    cmocka_unit_test_setup(test_strings_stable, mt_setup),
	    cmocka_unit_test_setup(test_version, mt_setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
