/*
 * test_histograms.c - mn_runtime_histogram: the rehydration latency, the
 * commit group latency and size histograms agree with the counters of
 * mn_runtime_stats (every rehydration and every commit group observed
 * once, the buckets summing to the count), their bounds are the ones
 * documented, and bad arguments are refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/support/support.h"

static int c_init(mn_ctx *ctx, void **state)
{
	(void)ctx;
	*state = calloc(1, sizeof(uint64_t));
	return *state ? 0 : MN_ENOMEM;
}

static int c_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	(void)ctx;
	(void)msg;
	++*(uint64_t *)state;
	return 0;
}

static int c_snapshot(const void *state, mn_buf *out)
{
	return mn_buf_append(out, state, sizeof(uint64_t));
}

static int c_restore(mn_ctx *ctx, const void *b, size_t len, void **state)
{
	(void)ctx;
	if (len != sizeof(uint64_t) || !(*state = malloc(len)))
		return MN_ECORRUPT;
	memcpy(*state, b, len);
	return 0;
}

static void check_hist(mn_runtime *rt, int which, uint64_t want_count,
		       uint64_t *sum)
{
	mn_histogram h;
	assert_rc(mn_runtime_histogram(rt, which, &h), 0);
	uint64_t n = 0;
	for (unsigned i = 0; i < MN_HISTOGRAM_BUCKETS; i++) {
		n += h.bucket[i];
		if (i)
			assert_true(h.le[i] > h.le[i - 1]);
	}
	assert_int_equal(h.le[MN_HISTOGRAM_BUCKETS - 1], UINT64_MAX);
	assert_int_equal(n, h.count);
	assert_int_equal(h.count, want_count);
	if (sum)
		*sum = h.sum;
}

static void test_histograms_agree_with_counters(void **unused)
{
	(void)unused;
	char dir[256];
	mt_tmpdir(dir, sizeof dir, "hist");
	mn_kind_def d = MN_KIND_DEF_INIT;
	d.name = "c";
	d.init = c_init;
	d.handle = c_handle;
	d.snapshot = c_snapshot;
	d.restore = c_restore;
	d.free = free;
	d.snapshot_every = 3;
	for (int round = 0; round < 2; round++) {
		mn_runtime_opts o = MN_RUNTIME_OPTS_INIT;
		o.workers = 2;
		o.store_path = dir;
		o.durability = MN_DURABILITY_RELAXED;
		o.max_resident = 8;
		mn_runtime *rt;
		assert_rc(mn_runtime_open(&o, &rt), 0);
		mn_kind *k;
		assert_rc(mn_kind_register(rt, &d, &k), 0);
		for (unsigned j = 0; j < 5; j++)
			for (unsigned i = 0; i < 64; i++) {
				unsigned char key[MT_KEY_LEN];
				mt_key_put(key, i);
				assert_rc(
				    mn_send(rt, k, key, sizeof key, 1, NULL, 0),
				    0);
			}
		mt_drain(rt);
		mn_runtime_stats st = mt_stats(rt);
		/* The second round brings every actor back at least once. */
		if (round)
			assert_true(st.rehydrations >= 64);
		uint64_t records;
		check_hist(rt, MN_HIST_REHYDRATE_US, st.rehydrations, NULL);
		check_hist(rt, MN_HIST_COMMIT_US, st.commits, NULL);
		check_hist(rt, MN_HIST_COMMIT_RECORDS, st.commits, &records);
		/* Every journal entry was a record of some group. */
		assert_true(records >= st.journaled);
		mn_histogram h;
		assert_rc(mn_runtime_histogram(rt, 3, &h), MN_EINVAL);
		assert_rc(mn_runtime_histogram(rt, -1, &h), MN_EINVAL);
		assert_rc(mn_runtime_histogram(rt, MN_HIST_COMMIT_US, NULL),
			  MN_EINVAL);
		mn_runtime_close(rt);
	}
	mn_histogram h;
	assert_rc(mn_runtime_histogram(NULL, MN_HIST_COMMIT_US, &h), MN_EINVAL);
	mn_runtime *vol = mt_open(1, 0);
	assert_rc(mn_runtime_histogram(vol, MN_HIST_COMMIT_US, &h), MN_ENOTSUP);
	mn_runtime_close(vol);
	mt_rmrf(dir);
}

int main(void)
{
	mt_init("histograms");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_histograms_agree_with_counters,
				   mt_setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
