/*
 * test_frame.c - storage/frame: the record frame codec. A few frames (an
 * empty body, one byte, a packed protobuf record, a long body) are sealed
 * and opened back; then every truncation and every single flipped byte
 * (each of several bit patterns) of each must be refused with a clear
 * error (MN_ECORRUPT or MN_EVERSION, the detail naming the database and
 * key) or, where a byte is not covered, decode to exactly the original: no
 * crash, no silent wrong decode. Each damaged copy is malloc'd at its exact
 * size, so a read past it is an ASan error. Also: a wrong record type, a
 * newer frame version, the quiet verdict, and decoding into the arena.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/crc32c.h"
#include "storage/frame.h"
#include "tests/support/support.h"

/* A frame of body (len bytes) of type t, malloc'd at its exact size. */
static unsigned char *make_frame(enum rtype t, const void *body, size_t len)
{
	unsigned char *p = malloc(FRAME_HDR + len);
	assert_non_null(p);
	if (len)
		memcpy(p + FRAME_HDR, body, len);
	mn__frame_seal(p, t, len);
	return p;
}

/* Open v as type t both ways; returns the named verdict, and checks that
 * the quiet one agrees on refusing (quiet: MN_ECORRUPT for any fault). */
static int open_both(const MDB_val *v, enum rtype t, const unsigned char **body,
		     size_t *len)
{
	const unsigned char *qb = NULL;
	size_t ql = 0;
	int q =
	    mn__frame_open(NULL, v, t, DB_LOG, MN__FRAME_QUIET, NULL, &qb, &ql);
	mn__detail_clear();
	int n = mn__frame_open(NULL, v, t, DB_LOG, MN__FRAME_NAMED, "4411",
			       body, len);
	if (n == 0) {
		assert_int_equal(q, 0);
		assert_ptr_equal(qb, *body);
		assert_int_equal(ql, *len);
		assert_string_equal(mn__detail_raw(), "");
	} else {
		assert_int_equal(q, MN_ECORRUPT);
		assert_true(n == MN_ECORRUPT || n == MN_EVERSION);
		/* The detail names the database and the key. */
		assert_non_null(strstr(mn__detail_raw(), "log record 4411"));
	}
	return n;
}

/* Every truncation and every flipped byte of the frame of body. */
static void damage_all(enum rtype t, const unsigned char *body, size_t blen)
{
	static const unsigned char flips[] = {0x01, 0x80, 0xff, 0x5a};
	unsigned char *good = make_frame(t, body, blen);
	size_t n = FRAME_HDR + blen;
	const unsigned char *b;
	size_t len;
	MDB_val v = {.mv_size = n, .mv_data = good};

	assert_int_equal(open_both(&v, t, &b, &len), 0);
	assert_ptr_equal(b, good + FRAME_HDR);
	assert_int_equal(len, blen);
	assert_memory_equal(b, body, blen);

	for (size_t cut = 0; cut < n; cut++) {
		unsigned char *p = malloc(cut ? cut : 1);
		assert_non_null(p);
		memcpy(p, good, cut);
		MDB_val tv = {.mv_size = cut, .mv_data = p};
		int rc = open_both(&tv, t, &b, &len);
		if (rc != MN_ECORRUPT)
			fail_msg("truncated to %zu of %zu bytes: %s", cut, n,
				 mn_err_name(rc));
		if (cut < FRAME_HDR)
			assert_non_null(strstr(mn__detail_raw(), "truncated"));
		free(p);
	}

	for (size_t at = 0; at < n; at++) {
		for (size_t f = 0; f < sizeof flips; f++) {
			unsigned char *p = malloc(n);
			assert_non_null(p);
			memcpy(p, good, n);
			p[at] ^= flips[f];
			MDB_val fv = {.mv_size = n, .mv_data = p};
			int rc = open_both(&fv, t, &b, &len);
			if (rc == 0) {
				/* Only a byte no check covers may pass, and
				 * then the record must be the original. */
				if (at >= FRAME_HDR || len != blen ||
				    memcmp(b, body, blen) != 0)
					fail_msg("byte %zu ^ 0x%02x of %zu: "
						 "decoded wrong",
						 at, flips[f], n);
			} else if (!strstr(mn__detail_raw(),
					   "checksum mismatch")) {
				fail_msg("byte %zu ^ 0x%02x: %s", at, flips[f],
					 mn__detail_raw());
			}
			free(p);
		}
	}
	free(good);
}

static void test_frames_damaged(void **state)
{
	(void)state;
	unsigned char one = 0x42, longb[300];
	for (size_t i = 0; i < sizeof longb; i++)
		longb[i] = (unsigned char)(i * 7 + 3);
	damage_all(R_ENTRY, NULL, 0);
	damage_all(R_NAME, &one, 1);
	damage_all(R_SNAPSHOT, longb, sizeof longb);

	/* A packed protobuf record (a journal entry). */
	Mnemo__JournalEntry je = MNEMO__JOURNAL_ENTRY__INIT;
	je.actor_id = 7;
	je.seq = 12;
	je.prev_lsn = 4410;
	je.payload.data = longb;
	je.payload.len = 40;
	size_t plen = mnemo__journal_entry__get_packed_size(&je);
	unsigned char *packed = malloc(plen);
	assert_non_null(packed);
	mnemo__journal_entry__pack(&je, packed);
	damage_all(R_ENTRY, packed, plen);
	free(packed);
}

static void test_header_layout(void **state)
{
	(void)state;
	unsigned char body[3] = {1, 2, 3};
	unsigned char *p = make_frame(R_TIMER, body, sizeof body);
	/* docs/format.md: CRC-32C little-endian of bytes 4..end, type, frame
	 * version, two zero bytes. */
	assert_int_equal(p[4], R_TIMER);
	assert_int_equal(p[5], FRAME_VERSION);
	assert_int_equal(p[6], 0);
	assert_int_equal(p[7], 0);
	uint32_t crc = mn__crc32c(0, p + 4, FRAME_HDR + sizeof body - 4);
	assert_int_equal(mn__le32_get(p), crc);
	free(p);
}

static void test_type_and_version(void **state)
{
	(void)state;
	unsigned char body[16] = "sixteen bytes..";
	unsigned char *p = make_frame(R_ACTOR, body, sizeof body);
	MDB_val v = {.mv_size = FRAME_HDR + sizeof body, .mv_data = p};
	const unsigned char *b;
	size_t len;

	/* Sound, but not the type the reader wants. */
	assert_int_equal(open_both(&v, R_NAME, &b, &len), MN_ECORRUPT);
	assert_non_null(strstr(mn__detail_raw(), "record type 4 where 5"));

	/* A frame version this build does not read (checksum made good). */
	p[5] = FRAME_VERSION + 1;
	mn__le32_put(p, mn__crc32c(0, p + 4, v.mv_size - 4));
	assert_int_equal(open_both(&v, R_ACTOR, &b, &len), MN_EVERSION);
	assert_non_null(strstr(mn__detail_raw(), "frame version 2"));
	free(p);
}

static void test_arena_decode(void **state)
{
	(void)state;
	unsigned char pay[5000];
	for (size_t i = 0; i < sizeof pay; i++)
		pay[i] = (unsigned char)i;
	Mnemo__JournalEntry je = MNEMO__JOURNAL_ENTRY__INIT;
	uint64_t tids[3] = {5, 6, 7};
	je.actor_id = 3;
	je.seq = 9;
	je.payload.data = pay;
	je.payload.len = sizeof pay;
	je.timer_ids = tids;
	je.n_timer_ids = 3;
	size_t plen = mnemo__journal_entry__get_packed_size(&je);
	unsigned char *packed = malloc(plen);
	assert_non_null(packed);
	mnemo__journal_entry__pack(&je, packed);
	unsigned char *p = make_frame(R_ENTRY, packed, plen);
	MDB_val v = {.mv_size = FRAME_HDR + plen, .mv_data = p};
	const unsigned char *b;
	size_t len;
	/* Decode many times: the arena is reset each time, not grown. */
	for (int round = 0; round < 100; round++) {
		assert_int_equal(open_both(&v, R_ENTRY, &b, &len), 0);
		Mnemo__JournalEntry *d =
		    mnemo__journal_entry__unpack(mn__arena_for(len), len, b);
		assert_non_null(d);
		assert_int_equal(d->actor_id, 3);
		assert_int_equal(d->seq, 9);
		assert_int_equal(d->payload.len, sizeof pay);
		assert_memory_equal(d->payload.data, pay, sizeof pay);
		assert_int_equal(d->n_timer_ids, 3);
		assert_int_equal(d->timer_ids[2], 7);
	}
	free(p);
	free(packed);
}

int main(void)
{
	mt_init("storage/frame");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_header_layout, mt_setup),
	    cmocka_unit_test_setup(test_frames_damaged, mt_setup),
	    cmocka_unit_test_setup(test_type_and_version, mt_setup),
	    cmocka_unit_test_setup(test_arena_decode, mt_setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
