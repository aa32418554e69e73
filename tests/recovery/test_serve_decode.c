/*
 * test_serve_decode.c - the request decoding of `mnemo serve`
 * (recovery/serve_decode.c) directly, and a short deterministic run of the
 * fuzz target fuzz/fuzz_serve.c: every seed of fuzz/corpus/fuzz_serve/,
 * then mutations of them from the test seed (MN_TEST_SEED; printed), so a
 * property the fuzzer checks is also checked by make test.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz_serve.c"
#include "tests/support/support.h"

#define CORPUS	  "fuzz/corpus/fuzz_serve"
#define MUTATIONS 4000

static unsigned decode(const char *body, size_t limit, uint32_t *type, char **p,
		       size_t *len, const char **why)
{
	int code;
	return mn__srv_decode_message(body, strlen(body), limit, type,
				      (unsigned char **)p, len, &code, why);
}

static void test_message(void **unused)
{
	(void)unused;
	uint32_t type;
	char *p;
	size_t len;
	const char *why;
	assert_int_equal(decode("{\"type\":1,\"payload\":\"aGk=\"}", 100, &type,
				&p, &len, &why),
			 0);
	assert_int_equal(type, 1);
	assert_int_equal(len, 2);
	assert_memory_equal(p, "hi", 2);
	free(p);
	assert_int_equal(decode("{\"type\":4294967295,\"json\":{\"a\":[1]}}",
				100, &type, &p, &len, &why),
			 0);
	assert_int_equal(type, 4294967295u);
	assert_int_equal(len, 9);
	assert_memory_equal(p, "{\"a\":[1]}", 9);
	free(p);
	assert_int_equal(decode("{\"type\":0}", 100, &type, &p, &len, &why), 0);
	assert_null(p);
	assert_int_equal(len, 0);
	static const struct {
		const char *body;
		unsigned status;
		const char *why;
	} bad[] = {
	    {"", 400, "required"},
	    {"{", 400, "not JSON"},
	    {"[]", 400, "object"},
	    {"{\"type\":4294967296}", 400, "\"type\""},
	    {"{\"type\":\"1\"}", 400, "\"type\""},
	    {"{\"type\":1,\"payload\":\"aGk=\",\"json\":1}", 400, "not both"},
	    {"{\"type\":1,\"payload\":5}", 400, "base64 string"},
	    {"{\"type\":1,\"payload\":\"aGk\"}", 400, "not valid base64"},
	    {"{\"type\":1,\"json\":\"a text over the ten bytes\"}", 413,
	     "size limit"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		why = NULL;
		assert_int_equal(decode(bad[i].body, 10, &type, &p, &len, &why),
				 bad[i].status);
		assert_null(p);
		if (!why || !strstr(why, bad[i].why))
			fail_msg("'%s': '%s', expected '%s'", bad[i].body,
				 why ? why : "(null)", bad[i].why);
	}
}

static void test_query(void **unused)
{
	(void)unused;
	uint64_t v;
	assert_int_equal(mn__srv_decode_u64(NULL, 30, &v), 0);
	assert_int_equal(v, 30);
	assert_int_equal(mn__srv_decode_u64("", 30, &v), 0);
	assert_int_equal(v, 30);
	assert_int_equal(mn__srv_decode_u64("5000", 30, &v), 0);
	assert_int_equal(v, 5000);
	assert_int_equal(mn__srv_decode_u64("-1", 30, &v), -1);
	assert_int_equal(mn__srv_decode_u64("18446744073709551616", 30, &v),
			 -1);
	assert_int_equal(mn__srv_decode_u64("1e3", 30, &v), -1);
}

/* The corpus files (sorted, for a stable order), *n of them. */
static char **corpus(size_t *n)
{
	DIR *d = opendir(CORPUS);
	char **names = NULL;
	struct dirent *e;
	*n = 0;
	assert_non_null(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.') {
			names = realloc(names, (*n + 1) * sizeof *names);
			assert_non_null(names);
			names[(*n)++] = strdup(e->d_name);
		}
	closedir(d);
	for (size_t i = 1; i < *n; i++)
		for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0;
		     j--) {
			char *t = names[j];
			names[j] = names[j - 1];
			names[j - 1] = t;
		}
	return names;
}

static size_t load(const char *name, uint8_t *buf, size_t cap)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", CORPUS, name);
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	size_t n = fread(buf, 1, cap, f);
	fclose(f);
	return n;
}

static void test_fuzz_corpus(void **unused)
{
	(void)unused;
	size_t n;
	char **names = corpus(&n);
	uint8_t buf[4096];
	assert_true(n >= 10);
	for (size_t i = 0; i < n; i++)
		LLVMFuzzerTestOneInput(buf, load(names[i], buf, sizeof buf));

	/* Mutations: flip, insert, delete, or change the selector byte. */
	mt_rng r;
	mt_rng_init(&r, 15);
	static const uint8_t poke[] = {'"', '{', '}', ',',  ':', '=', ' ', '\\',
				       0,   'x', '0', 0xff, '#', '[', ']'};
	for (unsigned m = 0; m < MUTATIONS; m++) {
		size_t len = load(names[m % n], buf, sizeof buf - 64);
		unsigned edits = 1 + (unsigned)mt_rng_below(&r, 4);
		for (unsigned k = 0; k < edits && len; k++) {
			size_t at = (size_t)mt_rng_below(&r, len);
			uint8_t ch = poke[mt_rng_below(&r, sizeof poke)];
			switch (mt_rng_below(&r, 4)) {
			case 0:
				buf[at] = ch;
				break;
			case 1:
				memmove(buf + at + 1, buf + at, len - at);
				buf[at] = ch;
				len++;
				break;
			case 2:
				memmove(buf + at, buf + at + 1, len - at - 1);
				len--;
				break;
			default:
				buf[0] = (uint8_t)mt_rng_next(&r);
			}
		}
		LLVMFuzzerTestOneInput(buf, len);
	}
	print_message("fuzz_serve: %zu seeds and %u mutations, no property "
		      "broken\n",
		      n, MUTATIONS);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int main(void)
{
	mt_init("recovery/serve_decode");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_message),
	    cmocka_unit_test(test_query),
	    cmocka_unit_test(test_fuzz_corpus),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
