/*
 * test_damage_keys.c - damaged LMDB keys are reported, never taken for a
 * new actor, and `mnemo verify` checks every key and LMDB's free list
 * (issue 11, defects 8 and 9).
 *
 * LMDB keys carry no checksum (the store's frames cover values only). A
 * byte flipped in a key, in its slot of the leaf page (found through
 * LMDB's map of the file, mt_store_key_offset), is what a bad sector or a
 * stray write does. Here, on copies of one store (a runtime with one
 * worker and a drain after each message, so its layout is the same every
 * time: 1,500 actors over several leaf pages of names, ten of them with
 * three messages, snapshots and a pending timer):
 *
 *   - a names key flipped (its last byte; its kind's first byte; the first
 *     key of a leaf page moved past every key; the last key of a leaf page
 *     moved before every key): a message to that actor reports it broken
 *     (MN_ECORRUPT, the reason in mn_errdetail()), its history is not
 *     replaced by a fresh init; its neighbours come back whole, or (when
 *     the damaged key sends LMDB's search for them astray) broken too,
 *     never fresh; new actors are still created;
 *   - an actors key flipped: the same, "is missing, its name leads to it";
 *   - a snapshots key and a timers key flipped: `verify` exits 1 naming
 *     the record and "damaged key" (it said healthy before);
 *   - a page number in LMDB's free list flipped (the free list's root
 *     page, found from the newer meta page): `verify` exits 1 naming the
 *     free list (it said healthy; the runtime's first commit then faults);
 *   - the undamaged copy: `verify` healthy (no false alarm from the page
 *     count).
 */
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/support/support.h"

#define ACTORS	  1500
#define DEEP	  10 /* k0000..k0009 get DEEP_MSGS messages, the others one */
#define DEEP_MSGS 3

enum { T_NOTE = 1, T_LATER = 2 };

static char dir[256], orig[300];
static mt_tool_res res;

#define run(...)	  mt_tool(&res, __VA_ARGS__)
#define expect_exit(want) mt_expect_exit(&res, (want))
#define expect_in(h, n)	  mt_expect_in((h), (n))

/* ---- the kind: a counter; what each actor saw, by key index ----------- */

static _Atomic uint64_t seen[ACTORS + 16];

static int key_index(const mn_ctx *ctx)
{
	mn_addr a;
	char k[16];
	mn_ctx_self(ctx, &a);
	if (a.key_len != 5 || ((const char *)a.key)[0] != 'k')
		return ACTORS; /* the fresh actors */
	memcpy(k, (const char *)a.key + 1, 4);
	k[4] = 0;
	return atoi(k);
}

static int c_init(mn_ctx *ctx, void **state)
{
	(void)ctx;
	*state = calloc(1, sizeof(uint64_t));
	return *state ? 0 : MN_ENOMEM;
}

static int c_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	uint64_t *n = state;
	++*n;
	if (msg->type == T_LATER) {
		int rc = mn_ctx_after(ctx, 3600 * 1000, T_NOTE, "x", 1, NULL);
		if (rc)
			return rc;
	}
	atomic_store(&seen[key_index(ctx)], *n);
	return 0;
}

static int c_snapshot(const void *state, mn_buf *out)
{
	return mn_buf_append(out, state, sizeof(uint64_t));
}

static int c_restore(mn_ctx *ctx, const void *bytes, size_t len, void **state)
{
	(void)ctx;
	if (len != sizeof(uint64_t))
		return MN_EINVAL;
	if (!(*state = malloc(len)))
		return MN_ENOMEM;
	memcpy(*state, bytes, len);
	return 0;
}

static const mn_kind_def counter = {.name = "counter",
				    .init = c_init,
				    .handle = c_handle,
				    .snapshot = c_snapshot,
				    .restore = c_restore,
				    .free = free,
				    .snapshot_every = 2};

static mn_runtime *open_rt(const char *store, mn_kind **k)
{
	mn_runtime_opts o = {.workers = 1,
			     .store_path = store,
			     .durability = MN_DURABILITY_RELAXED};
	mn_runtime *rt = NULL;
	int rc = mn_runtime_open(&o, &rt);
	if (rc)
		fail_msg("mn_runtime_open %s: %s (%s)", store, mn_err_name(rc),
			 mn_errdetail());
	assert_rc(mn_kind_register(rt, &counter, k), 0);
	return rt;
}

static void key_of(unsigned i, char key[6])
{
	snprintf(key, 6, "k%04u", i % 10000);
}

static int send_to(mn_runtime *rt, mn_kind *k, unsigned i, uint32_t type)
{
	char key[6];
	key_of(i, key);
	return mn_send(rt, k, key, 5, type, "note", 4);
}

static void make_store(void)
{
	mn_kind *k;
	mn_runtime *rt = open_rt(orig, &k);
	for (unsigned i = 0; i < ACTORS; i++) {
		unsigned n = i < DEEP ? DEEP_MSGS : 1;
		for (unsigned m = 0; m < n; m++) {
			assert_rc(send_to(rt, k, i, m == 1 ? T_LATER : T_NOTE),
				  0);
			mt_drain(rt);
		}
	}
	assert_int_equal(mt_stats(rt).handler_errors, 0);
	mn_runtime_close(rt);
}

static int setup_all(void **state)
{
	(void)state;
	mt_scratch_setup(dir, sizeof dir, "damage-keys");
	snprintf(orig, sizeof orig, "%s/orig", dir);
	make_store();
	return 0;
}

static int teardown_all(void **state)
{
	(void)state;
	return mt_scratch_remove(dir);
}

/* A fresh copy of the store in dir/name (data.mdb only); path in out. */
static void copy_store(const char *name, char *out, size_t cap)
{
	char cmd[1400];
	assert_true(snprintf(out, cap, "%s/%s", dir, name) < (int)cap);
	snprintf(cmd, sizeof cmd,
		 "rm -rf '%s' && mkdir '%s' && cp '%s/data.mdb' '%s/'", out,
		 out, orig, out);
	assert_int_equal(system(cmd), 0);
}

/* The names key of actor i: kind id (the first kind: 1) and key. */
static void name_key(unsigned i, unsigned char nk[9])
{
	char key[6];
	key_of(i, key);
	nk[0] = nk[1] = nk[2] = 0;
	nk[3] = 1;
	memcpy(nk + 4, key, 5);
}

static uint64_t be64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void be64_put(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (56 - 8 * i));
}

/* Actor i's id, from its names record (frame, then the id). */
static uint64_t actor_id(const char *store, unsigned i)
{
	unsigned char nk[9], v[64];
	name_key(i, nk);
	assert_int_equal(
	    mt_store_peek(store, "names", nk, sizeof nk, v, sizeof v), 16);
	return be64(v + 8);
}

static uint64_t page_size(const char *store)
{
	MDB_env *env;
	MDB_stat ms;
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_open(env, store, MDB_RDONLY, 0640), 0);
	assert_int_equal(mdb_env_stat(env, &ms), 0);
	mdb_env_close(env);
	return ms.ms_psize;
}

/*
 * Open the damaged copy with a runtime and send to the damaged actors:
 * each is broken (not handled: its counter is not restarted by a fresh
 * init), a second send fails with MN_ECORRUPT and the reason why in
 * mn_errdetail(); the undamaged actors near them come back whole, and a
 * new address still makes a new actor.
 */
static void expect_broken(const char *store, const unsigned *bad, size_t nbad,
			  const char *why)
{
	mn_kind *k;
	size_t nbroken_near = 0;
	for (size_t i = 0; i < ACTORS + 16; i++)
		atomic_store(&seen[i], 0);
	mn_runtime *rt = open_rt(store, &k);
	for (size_t i = 0; i < nbad; i++) {
		unsigned b = bad[i];
		assert_rc(send_to(rt, k, b, T_NOTE), 0);
		mt_drain(rt);
		if (atomic_load(&seen[b]))
			fail_msg("k%04u: handled as count %llu after its key "
				 "was damaged (a fresh actor, history lost)",
				 b, (unsigned long long)atomic_load(&seen[b]));
		int rc = send_to(rt, k, b, T_NOTE);
		if (rc != MN_ECORRUPT)
			fail_msg("k%04u: second send %s, want MN_ECORRUPT "
				 "(broken); detail: %s",
				 b, mn_err_name(rc), mn_errdetail());
		expect_in(mn_errdetail(), why);
		expect_in(mn_errdetail(), "is broken");
		/* Its neighbours are whole. */
		for (int d = -1; d <= 1; d += 2) {
			int nb = (int)b + d;
			if (nb < 0 || nb >= ACTORS)
				continue;
			bool damaged = false;
			for (size_t j = 0; j < nbad; j++)
				damaged |= bad[j] == (unsigned)nb;
			if (damaged)
				continue;
			int r0 = send_to(rt, k, (unsigned)nb, T_NOTE);
			mt_drain(rt);
			uint64_t want = (nb < DEEP ? DEEP_MSGS : 1) + 1,
				 got = atomic_load(&seen[nb]);
			if (got == 0 && (r0 == MN_ECORRUPT ||
					 send_to(rt, k, (unsigned)nb, T_NOTE) ==
					     MN_ECORRUPT)) {
				/* The damaged key sent its lookup astray:
				 * broken too, with a reason. */
				printf("# k%04d beside k%04u: broken (%s)\n",
				       nb, b, mn_errdetail());
				nbroken_near++;
				continue;
			}
			if (got != want)
				fail_msg("k%04d: count %llu, want %llu (or "
					 "broken)",
					 nb, (unsigned long long)got,
					 (unsigned long long)want);
			atomic_store(&seen[nb], 0);
		}
	}
	mn_runtime_stats st = mt_stats(rt);
	assert_int_equal(st.broken, nbad + nbroken_near);
	/* New actors are still created. */
	assert_rc(mn_send(rt, k, "fresh", 5, T_NOTE, "n", 1), 0);
	mt_drain(rt);
	assert_int_equal(atomic_load(&seen[ACTORS]), 1);
	mn_runtime_close(rt);
	/* verify reports it too. */
	run("verify '%s'", store);
	expect_exit(1);
	expect_in(res.out, "DAMAGED");
}

/* ---- defect 8: names and actors keys ----------------------------------- */

static void test_name_key_last_byte(void **state)
{
	(void)state;
	char store[400];
	unsigned char nk[9];
	copy_store("name-last", store, sizeof store);
	name_key(5, nk);
	mt_store_flip(store, mt_store_key_offset(store, "names", nk, 9) + 8,
		      0x40);
	unsigned bad[] = {5};
	expect_broken(store, bad, 1, "names record of actor");
}

static void test_name_key_kind_byte(void **state)
{
	(void)state;
	char store[400];
	unsigned char nk[9];
	copy_store("name-kind", store, sizeof store);
	name_key(7, nk);
	mt_store_flip(store, mt_store_key_offset(store, "names", nk, 9), 0x80);
	unsigned bad[] = {7};
	expect_broken(store, bad, 1, "names record of actor");
}

/* The first key of one leaf page made to sort after every key, the last
 * of another made to sort before every key: the lookup's search within the
 * page (or its step to the next page) still lands beside each. */
static void test_name_key_page_edges(void **state)
{
	(void)state;
	char store[400];
	unsigned char nk[9];
	copy_store("name-edges", store, sizeof store);
	uint64_t ps = page_size(store), prev_pg = 0;
	unsigned first = 0, last = 0;
	for (unsigned i = 0; i < ACTORS; i++) {
		name_key(i, nk);
		uint64_t pg = mt_store_key_offset(store, "names", nk, 9) / ps;
		if (i > 0 && pg != prev_pg) {
			/* i opens a page, i - 1 closed one */
			if (!first && i > 100)
				first = i;
			else if (first && !last && i > first + 2)
				last = i - 1;
		}
		prev_pg = pg;
	}
	if (!first || !last)
		fail_msg("names fit in fewer pages than expected (page %llu)",
			 (unsigned long long)ps);
	printf("# page edges: k%04u opens a leaf page, k%04u closes one\n",
	       first, last);
	name_key(first, nk);
	mt_store_flip(store, mt_store_key_offset(store, "names", nk, 9), 0x80);
	name_key(last, nk);
	/* kind 1 -> 0: before every key */
	mt_store_flip(store, mt_store_key_offset(store, "names", nk, 9) + 3,
		      0x01);
	unsigned bad[] = {first, last};
	expect_broken(store, bad, 2, "names record of actor");
}

static void test_actor_key(void **state)
{
	(void)state;
	char store[400];
	unsigned char ak[8];
	copy_store("actor", store, sizeof store);
	be64_put(ak, actor_id(store, 3));
	mt_store_flip(store, mt_store_key_offset(store, "actors", ak, 8) + 7,
		      0x40);
	unsigned bad[] = {3};
	expect_broken(store, bad, 1, "is missing, its name leads to it");
}

/* ---- defect 9: verify checks every key, and the free list ------------- */

static void test_verify_healthy(void **state)
{
	(void)state;
	char store[400];
	copy_store("healthy", store, sizeof store);
	run("verify '%s'", store);
	expect_exit(0);
	expect_in(res.out, " 0 problems: healthy\n");
}

static void test_verify_snapshot_key(void **state)
{
	(void)state;
	char store[400];
	unsigned char sk[16];
	copy_store("snapshot", store, sizeof store);
	uint64_t id = actor_id(store, 2);
	be64_put(sk, id);
	be64_put(sk + 8, 2); /* snapshot_every 2: the one at seq 2 */
	mt_store_flip(
	    store, mt_store_key_offset(store, "snapshots", sk, 16) + 15, 0x40);
	run("verify '%s'", store);
	expect_exit(1);
	char want[96];
	snprintf(want, sizeof want,
		 "snapshots record %llu/66:", (unsigned long long)id);
	expect_in(res.out, want);
	expect_in(res.out, "damaged key");
	expect_in(res.out, "DAMAGED");
}

static void test_verify_timer_key(void **state)
{
	(void)state;
	char store[400];
	copy_store("timer", store, sizeof store);
	/* The first timer's key, read with LMDB. */
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_cursor *c;
	MDB_val k, v;
	unsigned char tk[16];
	assert_int_equal(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 16);
	assert_int_equal(mdb_env_open(env, store, MDB_RDONLY, 0640), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "timers", 0, &dbi), 0);
	assert_int_equal(mdb_cursor_open(txn, dbi, &c), 0);
	assert_int_equal(mdb_cursor_get(c, &k, &v, MDB_FIRST), 0);
	assert_int_equal(k.mv_size, 16);
	memcpy(tk, k.mv_data, 16);
	mdb_cursor_close(c);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	mt_store_flip(store, mt_store_key_offset(store, "timers", tk, 16) + 15,
		      0x20);
	run("verify '%s'", store);
	expect_exit(1);
	expect_in(res.out, "timers record ");
	expect_in(res.out, "damaged key");
}

/* LMDB 0.9's layout (64-bit): a page header of 16 bytes; the meta record
 * after it: magic, version (4 each), address, map size (8 each), then the
 * free database's MDB_db (pad 4, flags 2, depth 2, five counts of 8: root
 * last), the main one's, the last page and the transaction id. */
#define META_OFF	16
#define META_FREE_DEPTH (META_OFF + 24 + 6)
#define META_FREE_ROOT	(META_OFF + 24 + 40)
#define META_TXNID	(META_OFF + 24 + 2 * 48 + 8)

static uint64_t le_at(const unsigned char *p, size_t n)
{
	uint64_t v = 0;
	for (size_t i = n; i-- > 0;)
		v = v << 8 | p[i];
	return v;
}

static void test_verify_free_list(void **state)
{
	(void)state;
	char store[400], p[500];
	copy_store("freelist", store, sizeof store);
	uint64_t ps = page_size(store);
	unsigned char m[2][256];
	snprintf(p, sizeof p, "%s/data.mdb", store);
	int fd = open(p, O_RDONLY);
	assert_true(fd >= 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pread(fd, m[i], sizeof m[i], (off_t)(i * ps)),
				 (ssize_t)sizeof m[i]);
	const unsigned char *meta =
	    le_at(m[1] + META_TXNID, 8) > le_at(m[0] + META_TXNID, 8) ? m[1]
								      : m[0];
	uint64_t root = le_at(meta + META_FREE_ROOT, 8);
	unsigned depth = (unsigned)le_at(meta + META_FREE_DEPTH, 2);
	if (root == UINT64_MAX || depth != 1)
		fail_msg("free list: root %llu, depth %u (want one leaf)",
			 (unsigned long long)root, depth);
	unsigned char pg[65536];
	assert_true(ps <= sizeof pg);
	assert_int_equal(pread(fd, pg, ps, (off_t)(root * ps)), (ssize_t)ps);
	close(fd);
	/* The first node: mp_ptrs[0] after the header; a node is lo, hi,
	 * flags, ksize (2 bytes each), the key (a transaction id), then its
	 * data in place (flags 0): a count and the page numbers. */
	assert_int_equal(pg[10] & 0x02, 0x02); /* P_LEAF */
	size_t node = (size_t)le_at(pg + 16, 2);
	unsigned flags = (unsigned)le_at(pg + node + 4, 2);
	size_t ksize = (size_t)le_at(pg + node + 6, 2);
	size_t dsize =
	    (size_t)le_at(pg + node, 2) | (size_t)le_at(pg + node + 2, 2) << 16;
	assert_int_equal(flags, 0);
	assert_int_equal(ksize, 8);
	uint64_t count = le_at(pg + node + 8 + ksize, 8);
	if (count < 1 || dsize != (count + 1) * 8)
		fail_msg("free list: first record %llu pages in %zu bytes",
			 (unsigned long long)count, dsize);
	/* The first page number's byte 5: the page is 2^40 further on. */
	uint64_t at = root * ps + node + 8 + ksize + 8 + 5;
	printf("# free list: root page %llu, %llu pages in the first record; "
	       "flipping byte %llu\n",
	       (unsigned long long)root, (unsigned long long)count,
	       (unsigned long long)at);
	mt_store_flip(store, at, 0x01);
	run("verify '%s'", store);
	expect_exit(1);
	expect_in(res.out, "LMDB free list: ");
	expect_in(res.out, "DAMAGED");
}

int main(void)
{
	mt_init("recovery/damage_keys");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_verify_healthy, mt_setup),
	    cmocka_unit_test_setup(test_name_key_last_byte, mt_setup),
	    cmocka_unit_test_setup(test_name_key_kind_byte, mt_setup),
	    cmocka_unit_test_setup(test_name_key_page_edges, mt_setup),
	    cmocka_unit_test_setup(test_actor_key, mt_setup),
	    cmocka_unit_test_setup(test_verify_snapshot_key, mt_setup),
	    cmocka_unit_test_setup(test_verify_timer_key, mt_setup),
	    cmocka_unit_test_setup(test_verify_free_list, mt_setup),
	};
	return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
