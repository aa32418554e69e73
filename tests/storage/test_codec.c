/*
 * test_codec.c - storage/crc32c and storage/codec: CRC-32C known vectors and
 * the hardware path against the table path; round trips of every method;
 * the raw fallback; dictionary sets (errors, retraining with old records
 * still readable); training limits; decoding of damaged input (flipped
 * bytes, truncations, wrong metadata, random garbage) that must end in
 * MN_ECORRUPT or a correct-length decode and never touch memory outside the
 * buffers (run under ASan: every buffer is allocated at its exact size);
 * and codecs on several threads sharing a dictset while another thread adds
 * dictionaries (run under TSan).
 *
 * Payloads come from a small generator of JSON-like agent records seeded by
 * mt_rng, so a failure reproduces with the seed printed at start.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/codec.h"
#include "base/crc32c.h"
#include "tests/support/support.h"

/* ---- payloads ---------------------------------------------------------- */

static const char *const WORDS[] = {
    "the",     "order",	   "refund",  "please", "package", "tracking",
    "arrived", "customer", "account", "email",	"thanks",  "delivery",
    "status",  "shipped",  "damaged", "return", "label",   "we",
    "you",     "your",	   "it",      "is",	"not",	   "can",
    "I",       "check",	   "today",   "again",	"sorry",   "help",
};
static const char *const ROLES[] = {"user", "assistant", "tool", "system"};

#define NWORDS (sizeof(WORDS) / sizeof(WORDS[0]))

/* A record of about want bytes (at most cap); flavour picks the key names,
 * so that two flavours make two different-looking corpora. */
static size_t make_record(mt_rng *r, int flavour, char *buf, size_t cap,
			  size_t want)
{
	int k = snprintf(
	    buf, cap,
	    flavour ? "<event kind=\"%s\" n=\"%llu\" at=\"2026-11-%02u\">"
		    : "{\"role\":\"%s\",\"seq\":%llu,\"ts\":\"2026-11-%02u\","
		      "\"text\":\"",
	    ROLES[mt_rng_below(r, 4)],
	    (unsigned long long)mt_rng_below(r, 100000),
	    (unsigned)mt_rng_below(r, 28) + 1);
	size_t n = (size_t)k;

	if (n + 40 >= cap)
		return n < cap ? n : cap - 1;
	/* Each step writes at most 20 bytes; the tail 10. */
	while (n + 40 < cap && n < want) {
		const char *w = WORDS[mt_rng_below(r, NWORDS) *
				      mt_rng_below(r, NWORDS) / NWORDS];
		n += (size_t)snprintf(buf + n, cap - n, "%s ", w);
		if (mt_rng_below(r, 12) == 0)
			n += (size_t)snprintf(
			    buf + n, cap - n, "#%u ",
			    (unsigned)mt_rng_below(r, 1000000));
	}
	n += (size_t)snprintf(buf + n, cap - n, flavour ? "</event>" : "\"}");
	return n;
}

#define NSAMPLES 300
#define REC_MAX	 2048

/* A dictionary trained on NSAMPLES records of one flavour. */
static void *train_dict(int flavour, uint64_t stream, size_t *len)
{
	mt_rng r;
	char *samples = malloc((size_t)NSAMPLES * REC_MAX);
	size_t sizes[NSAMPLES], off = 0;
	void *dict = malloc(16384);

	assert_non_null(samples);
	assert_non_null(dict);
	mt_rng_init(&r, stream);
	for (unsigned i = 0; i < NSAMPLES; i++) {
		sizes[i] = make_record(&r, flavour, samples + off, REC_MAX,
				       200 + mt_rng_below(&r, 800));
		off += sizes[i];
	}
	assert_rc(mn__dict_train(samples, sizes, NSAMPLES, 16384, dict, len),
		  0);
	assert_true(*len >= 1024 && *len <= 16384);
	free(samples);
	return dict;
}

/* Shared by most tests: a set with dictionary 1 (flavour 0). */
typedef struct fixture {
	mn__dictset *set;
	mn__codec *codec;
	void *dict;
	size_t dict_len;
} fixture;

static void fixture_open(fixture *f)
{
	f->dict = train_dict(0, 100, &f->dict_len);
	assert_rc(mn__dictset_new(0, &f->set), 0);
	assert_rc(mn__dictset_add(f->set, 1, f->dict, f->dict_len), 0);
	assert_rc(mn__codec_new(f->set, &f->codec), 0);
}

static void fixture_close(fixture *f)
{
	mn__codec_free(f->codec);
	mn__dictset_free(f->set);
	free(f->dict);
}

/* Compress src with dict_id, check the method, decode into a buffer of
 * exactly len bytes and compare. Returns the stored length. */
static size_t roundtrip(mn__codec *c, uint32_t dict_id, const void *src,
			size_t len, int want_method)
{
	size_t cap = mn__codec_bound(len), out_len = 0;
	unsigned char *dst = malloc(cap);
	unsigned char *back = malloc(len ? len : 1);
	uint8_t method = 255;

	assert_non_null(dst);
	assert_non_null(back);
	assert_rc(mn__codec_compress(c, dict_id, src, len, dst, cap, &out_len,
				     &method),
		  0);
	if (want_method >= 0)
		assert_int_equal(method, want_method);
	if (method == MN__CODEC_RAW)
		assert_int_equal(out_len, len);
	else
		assert_true(out_len < len);
	assert_rc(mn__codec_decompress(
		      c, method, method == MN__CODEC_ZSTD_DICT ? dict_id : 0,
		      dst, out_len, back, len),
		  0);
	assert_memory_equal(back, src, len);
	free(dst);
	free(back);
	return out_len;
}

/* ---- CRC-32C ----------------------------------------------------------- */

typedef uint32_t (*crc_fn)(uint32_t, const void *, size_t);

static void check_vectors(crc_fn f)
{
	unsigned char b[32];

	assert_int_equal(f(0, "123456789", 9), 0xE3069283u);
	assert_int_equal(f(0, NULL, 0), 0);
	/* RFC 3720 (iSCSI) B.4 vectors. */
	memset(b, 0, sizeof(b));
	assert_int_equal(f(0, b, 32), 0x8A9136AAu);
	memset(b, 0xFF, sizeof(b));
	assert_int_equal(f(0, b, 32), 0x62A8AB43u);
	for (int i = 0; i < 32; i++)
		b[i] = (unsigned char)i;
	assert_int_equal(f(0, b, 32), 0x46DD794Eu);
	for (int i = 0; i < 32; i++)
		b[i] = (unsigned char)(31 - i);
	assert_int_equal(f(0, b, 32), 0x113FDB5Cu);
	/* Continuation: the CRC of a then b. */
	assert_int_equal(f(f(0, "1234", 4), "56789", 5), 0xE3069283u);
}

static void test_crc32c_vectors(void **state)
{
	(void)state;
	check_vectors(mn__crc32c);
	check_vectors(mn__crc32c_sw);
	if (mn__crc32c_hw_available())
		check_vectors(mn__crc32c_hw);
	else
		print_message("crc32c: no SSE4.2, hardware path not tested\n");
}

static void test_crc32c_hw_vs_sw(void **state)
{
	(void)state;
	mt_rng r;
	unsigned char *buf = malloc(4096 + 16);

	assert_non_null(buf);
	mt_rng_init(&r, 1);
	for (size_t i = 0; i < 4096 + 16; i++)
		buf[i] = (unsigned char)mt_rng_next(&r);
	for (int iter = 0; iter < 3000; iter++) {
		size_t off = mt_rng_below(&r, 16);
		size_t n = iter < 64 ? (size_t)iter : mt_rng_below(&r, 4097);
		uint32_t seed = iter % 3 ? (uint32_t)mt_rng_next(&r) : 0;
		uint32_t sw = mn__crc32c_sw(seed, buf + off, n);
		assert_int_equal(mn__crc32c(seed, buf + off, n), sw);
		if (mn__crc32c_hw_available())
			assert_int_equal(mn__crc32c_hw(seed, buf + off, n), sw);
		/* Split anywhere: same CRC. */
		size_t k = n ? mt_rng_below(&r, n + 1) : 0;
		assert_int_equal(mn__crc32c(mn__crc32c(seed, buf + off, k),
					    buf + off + k, n - k),
				 sw);
	}
	free(buf);
}

/* ---- round trips ------------------------------------------------------- */

static void test_roundtrip_methods(void **state)
{
	(void)state;
	fixture f;
	mt_rng r;
	char rec[REC_MAX];
	size_t raw_total = 0, plain_total = 0, dict_total = 0;

	fixture_open(&f);
	mt_rng_init(&r, 2);
	for (int i = 0; i < 200; i++) {
		size_t n = make_record(&r, 0, rec, sizeof(rec),
				       100 + mt_rng_below(&r, 1500));
		raw_total += n;
		plain_total += roundtrip(f.codec, 0, rec, n, -1);
		dict_total +=
		    roundtrip(f.codec, 1, rec, n, MN__CODEC_ZSTD_DICT);
	}
	/* The dictionary must earn its keep on its own kind of records. */
	print_message("200 records: %zu bytes raw, %zu zstd, %zu with "
		      "dictionary\n",
		      raw_total, plain_total, dict_total);
	assert_true(dict_total * 4 < plain_total * 3);
	assert_true(plain_total < raw_total);

	/* A compressible payload without dictionary: ZSTD. */
	memset(rec, 'a', 500);
	roundtrip(f.codec, 0, rec, 500, MN__CODEC_ZSTD);

	/* Large payloads (1 MiB, several zstd blocks), both methods. */
	size_t big = 1 << 20;
	char *p = malloc(big);
	assert_non_null(p);
	for (size_t off = 0; off < big;) {
		size_t n = make_record(&r, 0, p + off, big - off, 1000);
		off += n ? n : 1;
	}
	roundtrip(f.codec, 0, p, big, MN__CODEC_ZSTD);
	roundtrip(f.codec, 1, p, big, MN__CODEC_ZSTD_DICT);
	free(p);
	fixture_close(&f);
}

static void test_raw_fallback(void **state)
{
	(void)state;
	fixture f;
	mt_rng r;
	unsigned char buf[4096];

	fixture_open(&f);
	mt_rng_init(&r, 3);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)mt_rng_next(&r);
	/* Incompressible: stored as is, with or without a dictionary. */
	roundtrip(f.codec, 0, buf, sizeof(buf), MN__CODEC_RAW);
	roundtrip(f.codec, 1, buf, sizeof(buf), MN__CODEC_RAW);
	roundtrip(f.codec, 1, buf, 100, MN__CODEC_RAW);
	/* Short payloads: raw below the thresholds, even when compressible. */
	memset(buf, 'x', sizeof(buf));
	roundtrip(f.codec, 0, buf, 0, MN__CODEC_RAW);
	roundtrip(f.codec, 1, buf, 0, MN__CODEC_RAW);
	roundtrip(f.codec, 0, buf, MN__CODEC_MIN_PLAIN - 1, MN__CODEC_RAW);
	roundtrip(f.codec, 0, buf, MN__CODEC_MIN_PLAIN, MN__CODEC_ZSTD);
	roundtrip(f.codec, 1, buf, MN__CODEC_MIN_DICT - 1, MN__CODEC_RAW);
	/* Short payloads like those the dictionary learned: raw under the
	 * threshold; from it on, compressed when zstd finds them in the
	 * dictionary (most of the time from a few bytes past it). */
	char rec[REC_MAX];
	unsigned shrunk = 0;
	for (int i = 0; i < 50; i++) {
		make_record(&r, 0, rec, sizeof(rec), 100);
		roundtrip(f.codec, 1, rec, MN__CODEC_MIN_DICT - 1,
			  MN__CODEC_RAW);
		roundtrip(f.codec, 1, rec, MN__CODEC_MIN_DICT, -1);
		shrunk += roundtrip(f.codec, 1, rec, 40, -1) < 40;
	}
	assert_true(shrunk >= 40);
	/* Every length around the thresholds round-trips, whatever the
	 * method chosen. */
	for (size_t n = 1; n < 200; n++) {
		roundtrip(f.codec, 0, buf + 7, n, -1);
		roundtrip(f.codec, 1, buf + 7, n, -1);
	}
	fixture_close(&f);
}

static void test_compress_errors(void **state)
{
	(void)state;
	fixture f;
	char src[300], dst[400];
	size_t out_len;
	uint8_t method;

	fixture_open(&f);
	memset(src, 'q', sizeof(src));
	assert_int_equal(mn__codec_bound(300), 364);
	assert_true(mn__codec_bound(300) <= sizeof(dst));
	assert_rc(mn__codec_compress(f.codec, 0, src, 300, dst,
				     mn__codec_bound(300) - 1, &out_len,
				     &method),
		  MN_EINVAL);
	assert_rc(mn__codec_compress(f.codec, 0, src, 300, dst,
				     mn__codec_bound(300), &out_len, &method),
		  0);
	assert_rc(mn__codec_compress(f.codec, 0, src, SIZE_MAX / 2 + 1, dst,
				     SIZE_MAX, &out_len, &method),
		  MN_EINVAL);
	assert_rc(mn__codec_compress(f.codec, 7, src, 300, dst, 400, &out_len,
				     &method),
		  MN_EINVAL);
	assert_rc(
	    mn__codec_compress(NULL, 0, src, 300, dst, 400, &out_len, &method),
	    MN_EINVAL);
	assert_rc(mn__codec_compress(f.codec, 0, NULL, 300, dst, 400, &out_len,
				     &method),
		  MN_EINVAL);
	assert_rc(
	    mn__codec_compress(f.codec, 0, src, 300, dst, 400, NULL, &method),
	    MN_EINVAL);
	assert_rc(
	    mn__codec_compress(f.codec, 0, src, 300, dst, 400, &out_len, NULL),
	    MN_EINVAL);
	assert_rc(mn__codec_decompress(NULL, 0, 0, src, 1, dst, 1), MN_EINVAL);
	assert_rc(mn__codec_decompress(f.codec, 0, 0, NULL, 1, dst, 1),
		  MN_EINVAL);
	assert_rc(mn__codec_decompress(f.codec, 0, 0, src, 1, NULL, 1),
		  MN_EINVAL);
	mn__codec *c2 = (mn__codec *)&f; /* must be cleared */
	assert_rc(mn__codec_new(NULL, &c2), MN_EINVAL);
	assert_null(c2);
	assert_rc(mn__codec_new(f.set, NULL), MN_EINVAL);
	fixture_close(&f);
	mn__codec_free(NULL);
	mn__dictset_free(NULL);
}

/* ---- dictionary sets and training -------------------------------------- */

static void test_dictset_add(void **state)
{
	(void)state;
	fixture f;
	mn__dictset *s;
	unsigned char junk[2000];
	mt_rng r;

	assert_rc(mn__dictset_new(0, NULL), MN_EINVAL);
	assert_rc(mn__dictset_new(1000, &s), MN_EINVAL);
	assert_null(s);
	assert_rc(mn__dictset_new(-5, &s), 0);
	assert_int_equal(mn__dictset_level(s), -5);
	mn__dictset_free(s);

	fixture_open(&f);
	assert_int_equal(mn__dictset_level(f.set), MN__CODEC_LEVEL_DEFAULT);
	assert_int_equal(mn__dictset_has(f.set, 1), 1);
	assert_int_equal(mn__dictset_has(f.set, 2), 0);
	assert_int_equal(mn__dictset_has(f.set, 0), 0);
	assert_int_equal(mn__dictset_has(NULL, 1), 0);
	assert_rc(mn__dictset_add(f.set, 1, f.dict, f.dict_len), MN_EEXIST);
	assert_rc(mn__dictset_add(f.set, 0, f.dict, f.dict_len), MN_EINVAL);
	assert_rc(mn__dictset_add(f.set, 2, f.dict, 0), MN_EINVAL);
	assert_rc(mn__dictset_add(f.set, 2, NULL, 10), MN_EINVAL);
	assert_rc(mn__dictset_add(NULL, 2, f.dict, f.dict_len), MN_EINVAL);

	/* Not a zstd dictionary: no magic. */
	mt_rng_init(&r, 4);
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (unsigned char)mt_rng_next(&r);
	assert_rc(mn__dictset_add(f.set, 2, junk, sizeof(junk)), MN_ECORRUPT);
	/* The magic, then garbage where the entropy tables should be. */
	memcpy(junk, f.dict, 8);
	assert_rc(mn__dictset_add(f.set, 2, junk, sizeof(junk)), MN_ECORRUPT);
	/* A dictionary cut inside its tables. */
	assert_rc(mn__dictset_add(f.set, 2, f.dict, 40), MN_ECORRUPT);
	assert_int_equal(mn__dictset_has(f.set, 2), 0);

	/* Many ids (the table grows), all found, the others not. */
	for (uint32_t id = 2; id < 60; id++)
		assert_rc(
		    mn__dictset_add(f.set, id * 7919u, f.dict, f.dict_len), 0);
	for (uint32_t id = 2; id < 60; id++) {
		assert_int_equal(mn__dictset_has(f.set, id * 7919u), 1);
		assert_int_equal(mn__dictset_has(f.set, id * 7919u + 1), 0);
	}
	char rec[REC_MAX];
	mt_rng_init(&r, 5);
	size_t n = make_record(&r, 0, rec, sizeof(rec), 600);
	roundtrip(f.codec, 59 * 7919u, rec, n, MN__CODEC_ZSTD_DICT);
	fixture_close(&f);
}

static void test_dict_train_limits(void **state)
{
	(void)state;
	char samples[64 * 600];
	size_t sizes[64], off = 0, len = 0;
	unsigned char dict[8192];
	mt_rng r;

	mt_rng_init(&r, 6);
	for (int i = 0; i < 64; i++) {
		sizes[i] = make_record(&r, 0, samples + off, 600, 300);
		off += sizes[i];
	}
	assert_rc(mn__dict_train(NULL, sizes, 64, 4096, dict, &len), MN_EINVAL);
	assert_rc(mn__dict_train(samples, NULL, 64, 4096, dict, &len),
		  MN_EINVAL);
	assert_rc(mn__dict_train(samples, sizes, 64, 4096, NULL, &len),
		  MN_EINVAL);
	assert_rc(mn__dict_train(samples, sizes, 64, 4096, dict, NULL),
		  MN_EINVAL);
	assert_rc(mn__dict_train(samples, sizes, MN__DICT_MIN_SAMPLES - 1, 4096,
				 dict, &len),
		  MN_EINVAL);
	assert_rc(mn__dict_train(samples, sizes, 64, MN__DICT_MIN_CAP - 1, dict,
				 &len),
		  MN_EINVAL);
	/* 8 samples of 30 bytes: under 2 * MN__DICT_MIN_CAP in all. */
	size_t tiny[8] = {30, 30, 30, 30, 30, 30, 30, 30};
	assert_rc(mn__dict_train(samples, tiny, 8, 4096, dict, &len),
		  MN_EINVAL);
	/* The minimum that works. */
	assert_rc(mn__dict_train(samples, sizes, MN__DICT_MIN_SAMPLES, 4096,
				 dict, &len),
		  0);
	/* Capped at half the sample bytes. */
	size_t total = 0;
	for (int i = 0; i < MN__DICT_MIN_SAMPLES; i++)
		total += sizes[i];
	assert_true(len >= MN__DICT_MIN_CAP && len <= total / 2);
	/* A usable dictionary. */
	mn__dictset *set;
	assert_rc(mn__dictset_new(0, &set), 0);
	assert_rc(mn__dictset_add(set, 9, dict, len), 0);
	mn__dictset_free(set);
	/* With enough samples, dict_cap is the limit. */
	assert_rc(mn__dict_train(samples, sizes, 64, 2048, dict, &len), 0);
	assert_true(len <= 2048);
}

static void test_dict_retrain(void **state)
{
	(void)state;
	fixture f;
	mt_rng r;
	enum { N = 40 };
	char *rec[N], *stored[N];
	size_t len[N], slen[N];
	uint8_t method[N];
	uint32_t dict_of[N];
	size_t d2_len = 0;
	void *d2 = NULL;

	fixture_open(&f);
	mt_rng_init(&r, 7);
	/* Old records (flavour 0) with dictionary 1. */
	for (int i = 0; i < N; i++) {
		int later = i >= N / 2;
		rec[i] = malloc(REC_MAX);
		assert_non_null(rec[i]);
		len[i] = make_record(&r, later, rec[i], REC_MAX,
				     200 + mt_rng_below(&r, 800));
		if (i == N / 2) {
			/* Traffic changed: retrain on the new flavour. */
			d2 = train_dict(1, 200, &d2_len);
			assert_rc(mn__dictset_add(f.set, 2, d2, d2_len), 0);
		}
		dict_of[i] = later ? 2 : 1;
		stored[i] = malloc(mn__codec_bound(len[i]));
		assert_non_null(stored[i]);
		assert_rc(mn__codec_compress(
			      f.codec, dict_of[i], rec[i], len[i], stored[i],
			      mn__codec_bound(len[i]), &slen[i], &method[i]),
			  0);
		assert_int_equal(method[i], MN__CODEC_ZSTD_DICT);
	}
	/* Both generations decode, with this codec and a new one. */
	mn__codec *c2;
	assert_rc(mn__codec_new(f.set, &c2), 0);
	for (int k = 0; k < 2; k++) {
		mn__codec *c = k ? c2 : f.codec;
		for (int i = 0; i < N; i++) {
			char *back = malloc(len[i]);
			assert_non_null(back);
			assert_rc(mn__codec_decompress(c, method[i], dict_of[i],
						       stored[i], slen[i], back,
						       len[i]),
				  0);
			assert_memory_equal(back, rec[i], len[i]);
			free(back);
		}
	}
	/* The new dictionary suits the new records better than the old. */
	size_t with1 = 0, with2 = 0;
	for (int i = N / 2; i < N; i++) {
		with1 += roundtrip(c2, 1, rec[i], len[i], -1);
		with2 += roundtrip(c2, 2, rec[i], len[i], -1);
	}
	assert_true(with2 < with1);
	for (int i = 0; i < N; i++) {
		free(rec[i]);
		free(stored[i]);
	}
	mn__codec_free(c2);
	free(d2);
	fixture_close(&f);
}

/* ---- corruption -------------------------------------------------------- */

/* Decode len bytes copied to a buffer of exactly that size, into a buffer
 * of exactly raw_len bytes, so that ASan sees any access outside them. */
static int decode_exact(mn__codec *c, uint8_t method, uint32_t dict_id,
			const void *src, size_t len, size_t raw_len)
{
	unsigned char *in = malloc(len ? len : 1);
	unsigned char *out = malloc(raw_len ? raw_len : 1);
	int rc;

	assert_non_null(in);
	assert_non_null(out);
	if (len)
		memcpy(in, src, len);
	rc = mn__codec_decompress(c, method, dict_id, len ? in : NULL, len,
				  raw_len ? out : NULL, raw_len);
	free(in);
	free(out);
	return rc;
}

typedef struct stored_rec {
	char raw[REC_MAX];
	size_t len;
	unsigned char st[MN__CODEC_BOUND(REC_MAX)];
	size_t slen;
	uint8_t method;
	uint32_t dict_id;
} stored_rec;

static void store_rec(mn__codec *c, mt_rng *r, uint32_t dict_id, stored_rec *s)
{
	s->len = make_record(r, 0, s->raw, sizeof(s->raw),
			     150 + mt_rng_below(r, 900));
	s->dict_id = dict_id;
	assert_rc(mn__codec_compress(c, dict_id, s->raw, s->len, s->st,
				     sizeof(s->st), &s->slen, &s->method),
		  0);
	assert_int_not_equal(s->method, MN__CODEC_RAW);
	if (s->method != MN__CODEC_ZSTD_DICT)
		s->dict_id = 0;
}

static void test_corrupt_metadata(void **state)
{
	(void)state;
	fixture f;
	mt_rng r;
	stored_rec s;

	fixture_open(&f);
	mt_rng_init(&r, 8);
	for (uint32_t d = 0; d < 2; d++) {
		store_rec(f.codec, &r, d, &s);
		assert_rc(decode_exact(f.codec, s.method, s.dict_id, s.st,
				       s.slen, s.len),
			  0);
		/* Wrong raw length, both ways. */
		assert_rc(decode_exact(f.codec, s.method, s.dict_id, s.st,
				       s.slen, s.len - 1),
			  MN_ECORRUPT);
		assert_rc(decode_exact(f.codec, s.method, s.dict_id, s.st,
				       s.slen, s.len + 1),
			  MN_ECORRUPT);
		assert_rc(decode_exact(f.codec, s.method, s.dict_id, s.st,
				       s.slen, s.len * 3),
			  MN_ECORRUPT);
		assert_rc(decode_exact(f.codec, s.method, s.dict_id, s.st,
				       s.slen, s.slen),
			  MN_ECORRUPT);
		assert_rc(
		    decode_exact(f.codec, s.method, s.dict_id, s.st, s.slen, 0),
		    MN_ECORRUPT);
		/* Unknown methods. */
		for (unsigned m = 3; m < 256; m += 17)
			assert_rc(decode_exact(f.codec, (uint8_t)m, s.dict_id,
					       s.st, s.slen, s.len),
				  MN_ECORRUPT);
		/* Empty payload. */
		assert_rc(
		    decode_exact(f.codec, s.method, s.dict_id, s.st, 0, s.len),
		    MN_ECORRUPT);
		/* Wrong method for the bytes: RAW with the wrong length. */
		assert_rc(decode_exact(f.codec, MN__CODEC_RAW, 0, s.st, s.slen,
				       s.len),
			  MN_ECORRUPT);
	}
	/* Dictionary ids: missing, unknown, or given without ZSTD_DICT. */
	store_rec(f.codec, &r, 1, &s);
	assert_rc(
	    decode_exact(f.codec, MN__CODEC_ZSTD_DICT, 0, s.st, s.slen, s.len),
	    MN_ECORRUPT);
	assert_rc(
	    decode_exact(f.codec, MN__CODEC_ZSTD_DICT, 77, s.st, s.slen, s.len),
	    MN_ECORRUPT);
	assert_rc(decode_exact(f.codec, MN__CODEC_ZSTD, 1, s.st, s.slen, s.len),
		  MN_ECORRUPT);
	assert_rc(decode_exact(f.codec, MN__CODEC_RAW, 1, s.raw, s.len, s.len),
		  MN_ECORRUPT);
	/* Decoded without its dictionary: the matches into the dictionary
	 * reach before the start of the output. */
	assert_rc(decode_exact(f.codec, MN__CODEC_ZSTD, 0, s.st, s.slen, s.len),
		  MN_ECORRUPT);
	/* Two frames where one is expected: a valid frame followed by a
	 * copy of itself (with the magic that separates frames). */
	store_rec(f.codec, &r, 0, &s);
	unsigned char two[2 * MN__CODEC_BOUND(REC_MAX)];
	memcpy(two, s.st, s.slen);
	two[s.slen] = 0x28;
	two[s.slen + 1] = 0xB5;
	two[s.slen + 2] = 0x2F;
	two[s.slen + 3] = 0xFD;
	memcpy(two + s.slen + 4, s.st, s.slen);
	assert_rc(
	    decode_exact(f.codec, s.method, 0, two, 2 * s.slen + 4, 2 * s.len),
	    MN_ECORRUPT);
	fixture_close(&f);
}

static void test_corrupt_bytes(void **state)
{
	(void)state;
	fixture f;
	mt_rng r;
	stored_rec s;
	unsigned flips = 0, caught = 0;

	fixture_open(&f);
	mt_rng_init(&r, 9);
	for (int k = 0; k < 8; k++) {
		store_rec(f.codec, &r, (uint32_t)(k & 1), &s);
		uint32_t crc = mn__crc32c(0, s.st, s.slen);
		unsigned char bad[MN__CODEC_BOUND(REC_MAX)];
		/* Every byte flipped in turn: a decode of the right length,
		 * or MN_ECORRUPT; the CRC catches every one. */
		for (size_t i = 0; i < s.slen; i++) {
			memcpy(bad, s.st, s.slen);
			bad[i] ^= (unsigned char)(1 + mt_rng_below(&r, 255));
			int rc = decode_exact(f.codec, s.method, s.dict_id, bad,
					      s.slen, s.len);
			if (rc != 0)
				assert_rc(rc, MN_ECORRUPT);
			flips++;
			caught += rc != 0;
			assert_int_not_equal(mn__crc32c(0, bad, s.slen), crc);
		}
		/* Every truncation: MN_ECORRUPT (the frame is incomplete). */
		for (size_t n = 0; n < s.slen; n++)
			assert_rc(decode_exact(f.codec, s.method, s.dict_id,
					       s.st, n, s.len),
				  MN_ECORRUPT);
		/* Extra bytes after the frame. */
		memcpy(bad, s.st, s.slen);
		bad[s.slen] = 0;
		assert_rc(decode_exact(f.codec, s.method, s.dict_id, bad,
				       s.slen + 1, s.len),
			  MN_ECORRUPT);
	}
	print_message("corrupt bytes: %u of %u single-byte flips caught by "
		      "the codec alone (all by the CRC)\n",
		      caught, flips);
	fixture_close(&f);
}

static void test_garbage(void **state)
{
	(void)state;
	fixture f;
	mt_rng r;
	stored_rec s;
	unsigned char buf[3000];
	unsigned ok = 0;
	int iters = (int)mt_scaled(6000, 500);

	fixture_open(&f);
	mt_rng_init(&r, 10);
	store_rec(f.codec, &r, 1, &s);
	for (int it = 0; it < iters; it++) {
		size_t len = mt_rng_below(&r, sizeof(buf));
		size_t raw_len =
		    mt_rng_below(&r, 4) == 0 ? s.len : mt_rng_below(&r, 8192);
		uint8_t method = (uint8_t)mt_rng_below(&r, 4);
		uint32_t dict_id = method == MN__CODEC_ZSTD_DICT
				       ? 1
				       : (uint32_t)(it % 2 ? 0 : 1);
		for (size_t i = 0; i < len; i++)
			buf[i] = (unsigned char)mt_rng_next(&r);
		if (it % 2 && len > 4) {
			/* A real frame header and first bytes, then noise:
			 * gets past the header checks into block decoding. */
			size_t keep =
			    mt_rng_below(&r, len < s.slen ? len : s.slen);
			memcpy(buf, s.st, keep);
		}
		int rc =
		    decode_exact(f.codec, method, dict_id, buf, len, raw_len);
		if (rc != 0)
			assert_rc(rc, MN_ECORRUPT);
		ok += rc == 0;
	}
	print_message("garbage: %d inputs, %u decoded (raw, same length)\n",
		      iters, ok);
	fixture_close(&f);
}

/* ---- threads ----------------------------------------------------------- */

#define DICT_IDS 20 /* past 12 the table grows under the coders */

typedef struct conc {
	mn__dictset *set;
	void *dict;
	size_t dict_len;
	unsigned coders; /* threads 0..coders-1 code, the last one adds */
	_Atomic unsigned added;
	_Atomic int adds_done;
	_Atomic unsigned coders_done;
	size_t iters;
} conc;

static void conc_adder(conc *x)
{
	/* Ids 2..DICT_IDS while the others code; then duplicate adds, which
	 * must all fail, until the coders are done. */
	for (uint32_t id = 2; id <= DICT_IDS; id++) {
		MT_CHECK(mn__dictset_add(x->set, id, x->dict, x->dict_len) ==
			 0);
		atomic_fetch_add(&x->added, 1);
		mt_sleep_ms(1);
	}
	atomic_store(&x->adds_done, 1);
	for (uint32_t k = 0; atomic_load(&x->coders_done) < x->coders; k++) {
		MT_CHECK(mn__dictset_add(x->set, 1 + k % DICT_IDS, x->dict,
					 x->dict_len) == MN_EEXIST);
		mt_sleep_ms(1);
	}
}

static void conc_coder(conc *x, unsigned i)
{
	mn__codec *c;
	mt_rng r;
	char rec[REC_MAX], back[REC_MAX];
	unsigned char st[MN__CODEC_BOUND(REC_MAX)];

	if (!MT_CHECK(mn__codec_new(x->set, &c) == 0))
		return;
	mt_rng_init(&r, 100 + i);
	/* At least iters round trips, and until every add has happened, so
	 * that the adds (and the table's growth) overlap the coding. */
	for (size_t it = 0; it < x->iters || !atomic_load(&x->adds_done);
	     it++) {
		size_t n = make_record(&r, (int)(it & 1), rec, sizeof(rec),
				       100 + mt_rng_below(&r, 1200));
		/* An id the set has, or one that is still being added. */
		uint32_t id = (uint32_t)mt_rng_below(&r, DICT_IDS + 1);
		int has = mn__dictset_has(x->set, id);
		size_t slen;
		uint8_t method;
		int rc = mn__codec_compress(c, id, rec, n, st, sizeof(st),
					    &slen, &method);
		if (id == 0 || has) {
			if (!MT_CHECKF(rc == 0, "compress id %u: %d", id, rc))
				break;
		} else if (rc != 0) {
			/* Not there at the has() check, nor yet now. */
			MT_CHECK(rc == MN_EINVAL);
			continue;
		}
		rc = mn__codec_decompress(
		    c, method, method == MN__CODEC_ZSTD_DICT ? id : 0, st, slen,
		    back, n);
		MT_CHECKF(rc == 0 && memcmp(back, rec, n) == 0,
			  "round trip id %u: %d", id, rc);
	}
	mn__codec_free(c);
}

static void conc_thread(unsigned i, void *arg)
{
	conc *x = arg;

	if (i == x->coders) {
		conc_adder(x);
		return;
	}
	conc_coder(x, i);
	atomic_fetch_add(&x->coders_done, 1);
}

static void test_concurrent(void **state)
{
	(void)state;
	conc x = {.coders = 4};

	x.dict = train_dict(0, 300, &x.dict_len);
	x.iters = mt_scaled(4000, 300);
	atomic_init(&x.added, 0);
	atomic_init(&x.adds_done, 0);
	atomic_init(&x.coders_done, 0);
	assert_rc(mn__dictset_new(0, &x.set), 0);
	assert_rc(mn__dictset_add(x.set, 1, x.dict, x.dict_len), 0);
	mt_parallel(x.coders + 1, conc_thread, &x);
	mt_assert_no_failures();
	assert_int_equal(atomic_load(&x.added), DICT_IDS - 1);
	for (uint32_t id = 1; id <= DICT_IDS; id++)
		assert_int_equal(mn__dictset_has(x.set, id), 1);
	mn__dictset_free(x.set);
	free(x.dict);
}

int main(void)
{
	mt_init("storage/codec");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_crc32c_vectors, mt_setup),
	    cmocka_unit_test_setup(test_crc32c_hw_vs_sw, mt_setup),
	    cmocka_unit_test_setup(test_roundtrip_methods, mt_setup),
	    cmocka_unit_test_setup(test_raw_fallback, mt_setup),
	    cmocka_unit_test_setup(test_compress_errors, mt_setup),
	    cmocka_unit_test_setup(test_dictset_add, mt_setup),
	    cmocka_unit_test_setup(test_dict_train_limits, mt_setup),
	    cmocka_unit_test_setup(test_dict_retrain, mt_setup),
	    cmocka_unit_test_setup(test_corrupt_metadata, mt_setup),
	    cmocka_unit_test_setup(test_corrupt_bytes, mt_setup),
	    cmocka_unit_test_setup(test_garbage, mt_setup),
	    cmocka_unit_test_setup(test_concurrent, mt_setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
