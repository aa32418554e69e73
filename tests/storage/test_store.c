/*
 * test_store.c - the store below the runtime: batches written and read back
 * (journal entries with back-pointers, outbox, actors and names, kinds),
 * the map growing past its initial size, head repair after entries written
 * past the checkpoint, and truncated or misplaced records refused with
 * MN_ECORRUPT.
 */
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storage/store.h"
#include "tests/support/support.h"

static char dir[256];

static void fresh(const char *tag)
{
	char cmd[600];
	snprintf(dir, sizeof dir, "/tmp/mnemo-store-%d-%s", (int)getpid(), tag);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void cleanup(void)
{
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static mn__store *open_store(size_t map, mn__store_info *info)
{
	mn__store_opts o = {.relaxed = true, .map_size = map};
	mn__store *s = NULL;
	int rc = mn__store_open(dir, &o, &s, info);
	if (rc)
		fail_msg("open: %s (%s)", mn_err_name(rc),
			 mn__store_errdetail());
	return s;
}

typedef struct collected {
	uint64_t n, last_seq;
	uint64_t seqs[64];
	size_t lens[64];
	unsigned char first[64];
} collected;

static int collect_cb(void *arg, const mn__entry *e)
{
	collected *c = arg;
	if (c->n < 64) {
		c->seqs[c->n] = e->seq;
		c->lens[c->n] = e->len;
		c->first[c->n] =
		    e->len ? ((const unsigned char *)e->payload)[0] : 0;
	}
	c->n++;
	c->last_seq = e->seq;
	return 0;
}

/* Two actors' interleaved entries, read back per actor in order; the
 * outbox, names and kinds round-trip; a reopen repairs heads written only
 * in the log (no checkpoint). */
static void test_round_trip_and_repair(void **unused)
{
	(void)unused;
	mn__store_info info;
	mn__codec *codec;
	uint32_t kid, kid2;
	fresh("rt");
	mn__store *s = open_store(0, &info);
	assert_true(info.created);
	assert_rc(mn__store_kind_id(s, "agent", &kid), 0);
	assert_rc(mn__store_kind_id(s, "agent", &kid2), 0);
	assert_int_equal(kid, kid2);
	assert_rc(mn__codec_new(mn__store_dicts(s), &codec), 0);

	mn__wactor acts[2] = {
	    {.id = 1, .kind_id = kid, .key = "a", .key_len = 1, .is_new = true},
	    {.id = 2, .kind_id = kid, .key = "b", .key_len = 1, .is_new = true},
	};
	mn__wentry e[20];
	unsigned char pay[20][2000];
	uint64_t last[3] = {0};
	for (int i = 0; i < 20; i++) {
		uint64_t actor = 1 + (i % 2);
		memset(pay[i], 'a' + i, sizeof pay[i]);
		e[i] = (mn__wentry){.lsn = (uint64_t)i + 1,
				    .actor_id = actor,
				    .seq = (uint64_t)i / 2 + 1,
				    .prev_lsn = last[actor],
				    .type = 7,
				    .compress = true, /* 2000 B: plain zstd */
				    .payload = pay[i],
				    .len = i == 4 ? 0 : sizeof pay[i]};
		last[actor] = (uint64_t)i + 1;
	}
	mn__woutbox ob = {.id = 1,
			  .kind_id = kid,
			  .key = "b",
			  .key_len = 1,
			  .type = 9,
			  .sender_id = 1,
			  .payload = "hi",
			  .len = 2};
	mn__wbatch b = {.entries = e,
			.n_entries = 20,
			.outbox = &ob,
			.n_outbox = 1,
			.actors = acts,
			.n_actors = 2};
	assert_rc(mn__store_write(s, codec, &b), 0);

	/* An LSN not above the last is refused, nothing written. */
	mn__wentry bad = e[3];
	mn__wbatch bb = {.entries = &bad, .n_entries = 1};
	assert_rc(mn__store_write(s, codec, &bb), MN_EINVAL);

	collected c = {0};
	assert_rc(mn__store_history(s, codec, last[1], 0, collect_cb, &c), 0);
	assert_int_equal(c.n, 10);
	for (uint64_t i = 0; i < 10; i++) {
		assert_int_equal(c.seqs[i], i + 1);
		assert_int_equal(c.first[i], i == 2 ? 0 : 'a' + 2 * i);
	}
	assert_int_equal(c.lens[2], 0);
	memset(&c, 0, sizeof c);
	assert_rc(mn__store_history(s, codec, last[2], 6, collect_cb, &c), 0);
	assert_int_equal(c.n, 4); /* seqs 7..10 */
	assert_int_equal(c.seqs[0], 7);

	mn__actor_meta m;
	assert_rc(mn__store_actor_find(s, kid, "b", 1, &m), 0);
	assert_int_equal(m.id, 2);
	assert_int_equal(m.last_lsn, 0); /* heads only at checkpoints */
	assert_rc(mn__store_actor_find(s, kid, "zz", 2, &m), MN_ENOACTOR);
	mn__codec_free(codec);
	mn__store_close(s);

	/* Reopen: the heads come back from the log tail. */
	s = open_store(0, &info);
	assert_int_equal(info.last_lsn, 20);
	assert_int_equal(info.entries_scanned, 20);
	assert_int_equal(info.heads_repaired, 2);
	assert_int_equal(info.outbox_entries, 1);
	assert_int_equal(info.next_outbox_id, 2);
	assert_rc(mn__store_actor_find(s, kid, "a", 1, &m), 0);
	assert_int_equal(m.last_lsn, 19);
	assert_int_equal(m.last_seq, 10);
	assert_int_equal(m.first_lsn, 1);
	char name[64];
	assert_rc(mn__store_kind_name(s, kid, name, sizeof name), 0);
	assert_string_equal(name, "agent");
	mn__store_close(s);

	/* A third open scans nothing: the repair moved the checkpoint. */
	s = open_store(0, &info);
	assert_int_equal(info.entries_scanned, 0);
	assert_int_equal(info.checkpoint_lsn, 20);
	mn__store_close(s);
	cleanup();
}

/* 16 MiB of entries into a 1 MiB map: it grows, nothing is lost. */
static void test_map_grows(void **unused)
{
	(void)unused;
	mn__store_info info;
	uint32_t kid;
	fresh("grow");
	mn__store *s = open_store(1 << 20, &info);
	assert_rc(mn__store_kind_id(s, "k", &kid), 0);
	static unsigned char big[64 * 1024];
	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (unsigned char)(i * 7919 >> 3);
	mn__wactor a = {
	    .id = 1, .kind_id = kid, .key = "x", .key_len = 1, .is_new = true};
	uint64_t prev = 0;
	for (uint64_t i = 1; i <= 256; i++) {
		mn__wentry e = {.lsn = i,
				.actor_id = 1,
				.seq = i,
				.prev_lsn = prev,
				.payload = big,
				.len = sizeof big};
		mn__wbatch b = {.entries = &e,
				.n_entries = 1,
				.actors = &a,
				.n_actors = i == 1};
		assert_rc(mn__store_write(s, NULL, &b), 0);
		prev = i;
	}
	collected c = {0};
	assert_rc(mn__store_history(s, NULL, prev, 0, collect_cb, &c), 0);
	assert_int_equal(c.n, 256);
	assert_true(mn__store_disk_bytes(s) > (16u << 20));
	mn__store_close(s);
	cleanup();
}

/* A truncated journal value and an outbox record stored where a journal
 * entry belongs: both MN_ECORRUPT naming the record. */
static void test_truncated_and_misplaced(void **unused)
{
	(void)unused;
	mn__store_info info;
	uint32_t kid;
	fresh("trunc");
	mn__store *s = open_store(0, &info);
	assert_rc(mn__store_kind_id(s, "k", &kid), 0);
	mn__wactor a = {
	    .id = 1, .kind_id = kid, .key = "x", .key_len = 1, .is_new = true};
	mn__wentry e[2] = {
	    {.lsn = 1, .actor_id = 1, .seq = 1, .payload = "abc", .len = 3},
	    {.lsn = 2,
	     .actor_id = 1,
	     .seq = 2,
	     .prev_lsn = 1,
	     .payload = "def",
	     .len = 3},
	};
	/* Checkpointed: opening scans nothing past LSN 2. */
	mn__wbatch b = {.entries = e,
			.n_entries = 2,
			.actors = &a,
			.n_actors = 1,
			.checkpoint_lsn = 2};
	assert_rc(mn__store_write(s, NULL, &b), 0);
	mn__store_close(s);

	unsigned char k1[8] = {0, 0, 0, 0, 0, 0, 0, 1};
	mt_store_poke(dir, "log", k1, 8, "\x01\x02\x03", 3);
	s = open_store(0, &info);
	collected c = {0};
	assert_rc(mn__store_history(s, NULL, 2, 0, collect_cb, &c),
		  MN_ECORRUPT);
	assert_non_null(strstr(mn__store_errdetail(), "log record 1"));
	assert_non_null(strstr(mn__store_errdetail(), "truncated"));

	/* A record of another type (an outbox entry) where LSN 3 belongs,
	 * past the checkpoint: opening must scan it, and refuses the store
	 * with the record named rather than guess heads. */
	MDB_val dummy;
	(void)dummy;
	mn__woutbox ob = {.id = 1,
			  .kind_id = kid,
			  .key = "x",
			  .key_len = 1,
			  .payload = "zz",
			  .len = 2};
	mn__wbatch ob_b = {.outbox = &ob, .n_outbox = 1};
	assert_rc(mn__store_write(s, NULL, &ob_b), 0);
	mn__store_close(s);
	unsigned char v[256];
	{
		MDB_env *env;
		MDB_txn *txn;
		MDB_dbi dbi;
		MDB_val key = {.mv_size = 8, .mv_data = k1}, val;
		assert_int_equal(mdb_env_create(&env), 0);
		mdb_env_set_maxdbs(env, 16);
		assert_int_equal(mdb_env_open(env, dir, MDB_RDONLY, 0640), 0);
		assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
		assert_int_equal(mdb_dbi_open(txn, "outbox", 0, &dbi), 0);
		assert_int_equal(mdb_get(txn, dbi, &key, &val), 0);
		assert_true(val.mv_size <= sizeof v);
		memcpy(v, val.mv_data, val.mv_size);
		dummy = val;
		mdb_txn_abort(txn);
		mdb_env_close(env);
	}
	unsigned char k3[8] = {0, 0, 0, 0, 0, 0, 0, 3};
	mt_store_poke(dir, "log", k3, 8, v, dummy.mv_size);
	mn__store_opts o = {.relaxed = true};
	mn__store *s2 = NULL;
	assert_rc(mn__store_open(dir, &o, &s2, &info), MN_ECORRUPT);
	assert_null(s2);
	assert_non_null(strstr(mn__store_errdetail(), "log record 3"));
	assert_non_null(strstr(mn__store_errdetail(), "record type 8"));
	cleanup();
}

int main(void)
{
	mt_init("storage/store");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_round_trip_and_repair, mt_setup),
	    cmocka_unit_test_setup(test_map_grows, mt_setup),
	    cmocka_unit_test_setup(test_truncated_and_misplaced, mt_setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
