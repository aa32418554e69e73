/*
 * test_scan.c - storage/scan: the one cursor loop of the store. On a
 * database of its own inside a real store: an empty database, one record,
 * starting keys and prefix bounds (a prefix present, absent, at the end),
 * an early stop from the callback, errors (negative and positive) handed
 * back unchanged, records deleted under the cursor, and a cursor that does
 * not open reported with the scan's own words.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storage/scan.h"
#include "tests/support/support.h"

static char dir[256];

typedef struct fixture {
	mn__store *s;
	MDB_txn *txn;
	MDB_dbi dbi;
} fixture;

/* A fresh store, a write transaction, and an empty database "scantest". */
static void open_fixture(fixture *f, const char *tag)
{
	char cmd[600];
	snprintf(dir, sizeof dir, "/tmp/mnemo-scan-%d-%s", (int)getpid(), tag);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	mn__store_opts o = {.relaxed = true};
	int rc = mn__store_open(dir, &o, &f->s, NULL);
	if (rc)
		fail_msg("open: %s (%s)", mn_err_name(rc),
			 mn__store_errdetail());
	assert_int_equal(mn__st_txn_begin(f->s, true, &f->txn), 0);
	assert_int_equal(mdb_dbi_open(f->txn, "scantest", MDB_CREATE, &f->dbi),
			 0);
}

static void close_fixture(fixture *f)
{
	char cmd[600];
	mn__st_txn_abort(f->s, f->txn);
	mn__store_close(f->s);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void put(fixture *f, const char *k, const char *v)
{
	MDB_val kk = {.mv_size = strlen(k), .mv_data = (void *)k};
	MDB_val vv = {.mv_size = strlen(v), .mv_data = (void *)v};
	assert_int_equal(mdb_put(f->txn, f->dbi, &kk, &vv, 0), 0);
}

/* What the callback saw, and what it does. */
typedef struct seen {
	int n;
	char keys[16][16];
	int stop_at; /* 1-based call that sets stop (0: never) */
	int fail_at; /* 1-based call that returns fail_rc */
	int fail_rc;
	bool del_odd; /* delete the 1st, 3rd, ... record under the cursor */
} seen;

static int record(void *arg, mn__scan_at *at)
{
	seen *sn = arg;
	assert_true(sn->n < 16);
	assert_true(at->k.mv_size < 16);
	memcpy(sn->keys[sn->n], at->k.mv_data, at->k.mv_size);
	sn->keys[sn->n][at->k.mv_size] = 0;
	sn->n++;
	assert_non_null(at->cur);
	if (sn->del_odd && sn->n % 2 == 1)
		assert_int_equal(mdb_cursor_del(at->cur, 0), 0);
	if (sn->n == sn->fail_at)
		return sn->fail_rc;
	if (sn->n == sn->stop_at)
		at->stop = true;
	return 0;
}

static int scan(fixture *f, const char *from, size_t prefix, seen *sn)
{
	MDB_val k = {.mv_size = from ? strlen(from) : 0,
		     .mv_data = (void *)from};
	mn__scan_spec sp = {.dbi = f->dbi,
			    .from = from ? &k : NULL,
			    .prefix = prefix,
			    .opening = "opening the test database",
			    .reading = "reading the test database"};
	return mn__scan(f->s, f->txn, &sp, record, sn);
}

/* sn saw exactly the keys of want, a space-separated list. */
static void expect(const seen *sn, const char *want)
{
	char got[256] = "";
	for (int i = 0; i < sn->n; i++) {
		if (i)
			strcat(got, " ");
		strcat(got, sn->keys[i]);
	}
	assert_string_equal(got, want);
}

static void fill(fixture *f)
{
	static const char *const keys[] = {"a1", "a2", "b1", "b2", "b3", "c1"};
	for (size_t i = 0; i < 6; i++)
		put(f, keys[i], "v");
}

static void test_empty_and_one(void **state)
{
	(void)state;
	fixture f;
	seen sn = {0};
	open_fixture(&f, "one");
	assert_int_equal(scan(&f, NULL, 0, &sn), 0);
	assert_int_equal(sn.n, 0);
	assert_int_equal(scan(&f, "x", 1, &sn), 0);
	assert_int_equal(sn.n, 0);

	put(&f, "k", "value");
	assert_int_equal(scan(&f, NULL, 0, &sn), 0);
	expect(&sn, "k");
	close_fixture(&f);
}

static void test_from_and_prefix(void **state)
{
	(void)state;
	fixture f;
	open_fixture(&f, "prefix");
	fill(&f);
	seen sn = {0};
	assert_int_equal(scan(&f, NULL, 0, &sn), 0);
	expect(&sn, "a1 a2 b1 b2 b3 c1");
	sn = (seen){0};
	assert_int_equal(scan(&f, "b2", 0, &sn), 0); /* from b2 to the end */
	expect(&sn, "b2 b3 c1");
	sn = (seen){0};
	assert_int_equal(scan(&f, "b", 1, &sn), 0); /* keys "b..." only */
	expect(&sn, "b1 b2 b3");
	sn = (seen){0};
	assert_int_equal(scan(&f, "b2", 1, &sn), 0); /* from b2, in "b" */
	expect(&sn, "b2 b3");
	sn = (seen){0};
	assert_int_equal(scan(&f, "bz", 1, &sn), 0); /* past the b's */
	assert_int_equal(sn.n, 0);
	sn = (seen){0};
	assert_int_equal(scan(&f, "c", 1, &sn), 0); /* the last key */
	expect(&sn, "c1");
	sn = (seen){0};
	assert_int_equal(scan(&f, "d", 0, &sn), 0); /* after every key */
	assert_int_equal(sn.n, 0);
	sn = (seen){0};
	assert_int_equal(scan(&f, "a1", 2, &sn), 0); /* a whole key */
	expect(&sn, "a1");
	close_fixture(&f);
}

static void test_stop_and_errors(void **state)
{
	(void)state;
	fixture f;
	open_fixture(&f, "stop");
	fill(&f);
	seen sn = {.stop_at = 2};
	assert_int_equal(scan(&f, NULL, 0, &sn), 0);
	expect(&sn, "a1 a2");
	sn = (seen){.stop_at = 1};
	assert_int_equal(scan(&f, "b", 1, &sn), 0);
	expect(&sn, "b1");

	sn = (seen){.fail_at = 3, .fail_rc = MN_ECORRUPT};
	assert_int_equal(scan(&f, NULL, 0, &sn), MN_ECORRUPT);
	expect(&sn, "a1 a2 b1");
	/* A callback's positive result is not a stop: it comes back. */
	sn = (seen){.fail_at = 2, .fail_rc = 7};
	assert_int_equal(scan(&f, "b", 1, &sn), 7);
	expect(&sn, "b1 b2");

	/* A cursor that does not open: an MN_E* code, the scan's words. */
	MDB_val k = {.mv_size = 1, .mv_data = "a"};
	mn__scan_spec sp = {.dbi = 9999,
			    .from = &k,
			    .opening = "opening the test database",
			    .reading = "reading the test database"};
	sn = (seen){0};
	int rc = mn__scan(f.s, f.txn, &sp, record, &sn);
	assert_true(rc < 0);
	assert_int_equal(sn.n, 0);
	assert_non_null(
	    strstr(mn__store_errdetail(), "opening the test database"));
	close_fixture(&f);
}

static void test_delete_under_cursor(void **state)
{
	(void)state;
	fixture f;
	open_fixture(&f, "del");
	fill(&f);
	seen sn = {.del_odd = true};
	assert_int_equal(scan(&f, NULL, 0, &sn), 0);
	expect(&sn, "a1 a2 b1 b2 b3 c1"); /* every record visited once */
	sn = (seen){0};
	assert_int_equal(scan(&f, NULL, 0, &sn), 0);
	expect(&sn, "a2 b2 c1"); /* the odd ones are gone */
	close_fixture(&f);
}

int main(void)
{
	mt_init("storage/scan");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_empty_and_one, mt_setup),
	    cmocka_unit_test_setup(test_from_and_prefix, mt_setup),
	    cmocka_unit_test_setup(test_stop_and_errors, mt_setup),
	    cmocka_unit_test_setup(test_delete_under_cursor, mt_setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
