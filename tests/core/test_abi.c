/*
 * test_abi.c - the structs that grow (docs/api.md, "Structs that grow"):
 * a program or plugin compiled against an older include/mnemo.h passes an
 * mn_runtime_opts or mn_kind_def that is a prefix of today's, with the old
 * size in its size field; the library must read only that prefix and give
 * the missing fields their defaults. Each old-layout struct here sits in a
 * buffer whose bytes past the old size are 0xff, so a library that read
 * past them would see a garbage callback pointer (and crash calling it) or
 * garbage settings. Also: size 0 is the 0.1 layout (what {0} gives), a
 * larger struct is accepted when its unknown tail is zero and refused
 * (MN_EINVAL) when it is not.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/support.h"

/* An opts (or def) and the bytes after it, as one block of memory. */
typedef struct {
	mn_runtime_opts o;
	unsigned char after[64];
} opts_block;

typedef struct {
	mn_kind_def d;
	unsigned char after[64];
} def_block;

static void never_called(void *arg, const mn_event *ev)
{
	(void)arg;
	(void)ev;
	fail_msg("the library read on_event past the caller's size");
}

static int failing_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	(void)ctx;
	(void)state;
	(void)msg;
	return MN_EINVAL;
}

static int nop_init(mn_ctx *ctx, void **state)
{
	(void)ctx;
	*state = NULL;
	return 0;
}

static int nop_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	(void)ctx;
	(void)state;
	(void)msg;
	return 0;
}

static int nop_snapshot(const void *state, mn_buf *out)
{
	(void)state;
	return mn_buf_append(out, "s", 1);
}

static int nop_restore(mn_ctx *ctx, const void *p, size_t n, void **state)
{
	(void)ctx;
	(void)p;
	(void)n;
	*state = NULL;
	return 0;
}

/* An opts laid out as a header without on_event, event_arg and event_rate
 * would have it: its size ends before on_event. */
static void test_old_runtime_opts(void **state)
{
	(void)state;
	opts_block b;
	memset(&b, 0xff, sizeof b);
	mn_event_fn bad = never_called;
	memcpy(&b.o.on_event, &bad, sizeof bad); /* what a misread finds */
	b.o.size = offsetof(mn_runtime_opts, on_event);
	b.o.workers = 2;
	b.o.max_payload = 0;
	b.o.store_path = NULL;
	b.o.durability = 0;
	b.o.commit_max_records = 0;
	b.o.commit_delay_us = 0;
	b.o.max_resident = 0;
	b.o.idle_evict_ms = 0;
	b.o.checkpoint_every = 0;

	mn_runtime *rt;
	assert_int_equal(mn_runtime_open(&b.o, &rt), 0);
	mn_kind_def d = MN_KIND_DEF_INIT;
	d.name = "failing";
	d.init = nop_init;
	d.handle = failing_handle;
	mn_kind *k;
	assert_int_equal(mn_kind_register(rt, &d, &k), 0);
	/* max_payload missing read as 0: the default limit. */
	static char big[MN_PAYLOAD_MAX_DEFAULT + 1];
	assert_int_equal(mn_send(rt, k, "a", 1, 1, big, sizeof big),
			 MN_ETOOBIG);
	assert_int_equal(mn_send(rt, k, "a", 1, 1, "x", 1), 0);
	assert_int_equal(mn_runtime_drain(rt), 0);
	mn_runtime_stats st;
	mn_runtime_stats_get(rt, &st);
	assert_int_equal(st.handler_errors, 1);
	assert_int_equal(st.events, 0); /* on_event read as NULL */
	mn_runtime_close(rt);
}

/* A def laid out as a header without snapshot_every, snapshot_bytes,
 * describe and hash would have it, for a persistent kind: a misread hash
 * would be called after every message. */
static void test_old_kind_def(void **state)
{
	(void)state;
	char dir[] = "/tmp/mnemo-abi-XXXXXX";
	assert_non_null(mkdtemp(dir));
	mn_runtime_opts o = MN_RUNTIME_OPTS_INIT;
	o.workers = 1;
	o.store_path = dir;
	o.durability = MN_DURABILITY_RELAXED;
	mn_runtime *rt;
	assert_int_equal(mn_runtime_open(&o, &rt), 0);

	def_block b;
	memset(&b, 0xff, sizeof b);
	b.d.size = offsetof(mn_kind_def, snapshot_every);
	b.d.name = "old";
	b.d.flags = 0;
	b.d.arg = NULL;
	b.d.init = nop_init;
	b.d.handle = nop_handle;
	b.d.snapshot = nop_snapshot;
	b.d.restore = nop_restore;
	b.d.free = NULL;
	mn_kind *k;
	assert_int_equal(mn_kind_register(rt, &b.d, &k), 0);
	/* snapshot_every missing read as 0: a snapshot every 1000 messages
	 * (0xffffffff, misread, would take none). */
	for (int i = 0; i < 1000; i++)
		assert_int_equal(mn_send(rt, k, "a", 1, 1, "x", 1), 0);
	assert_int_equal(mn_runtime_drain(rt), 0);
	mn_runtime_stats st;
	mn_runtime_stats_get(rt, &st);
	assert_int_equal(st.handler_errors, 0);
	assert_int_equal(st.snapshots, 1);
	mn_runtime_close(rt);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

/* size 0 (a struct zeroed with {0}) is the 0.1 layout: every field read. */
static void test_size_zero(void **state)
{
	(void)state;
	mn_runtime_opts o = {0};
	o.workers = 3;
	mn_runtime *rt;
	assert_int_equal(mn_runtime_open(&o, &rt), 0);
	mn_kind_def d = {
	    .name = "zero", .init = nop_init, .handle = nop_handle};
	mn_kind *k;
	assert_int_equal(mn_kind_register(rt, &d, &k), 0);
	assert_int_equal(mn_send(rt, k, "a", 1, 1, "x", 1), 0);
	assert_int_equal(mn_runtime_drain(rt), 0);
	mn_runtime_close(rt);
}

/* A newer caller's larger struct: fine when the fields this library does
 * not know are zero, MN_EINVAL when one is set; a size too small to hold
 * the size field is refused too. */
static void test_newer_and_bad_sizes(void **state)
{
	(void)state;
	opts_block b;
	memset(&b, 0, sizeof b);
	b.o.size = sizeof b;
	b.o.workers = 1;
	mn_runtime *rt;
	assert_int_equal(mn_runtime_open(&b.o, &rt), 0);

	def_block d;
	memset(&d, 0, sizeof d);
	d.d.size = sizeof d;
	d.d.name = "newer";
	d.d.init = nop_init;
	d.d.handle = nop_handle;
	mn_kind *k;
	assert_int_equal(mn_kind_register(rt, &d.d, &k), 0);
	d.d.name = "newer2";
	d.after[5] = 1;
	assert_int_equal(mn_kind_register(rt, &d.d, &k), MN_EINVAL);
	d.after[5] = 0;
	d.d.size = 1;
	assert_int_equal(mn_kind_register(rt, &d.d, &k), MN_EINVAL);
	mn_runtime_close(rt);

	b.after[63] = 1;
	assert_int_equal(mn_runtime_open(&b.o, &rt), MN_EINVAL);
	b.after[63] = 0;
	b.o.size = 3;
	assert_int_equal(mn_runtime_open(&b.o, &rt), MN_EINVAL);
}

int main(void)
{
	mt_init("core/abi");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_old_runtime_opts, mt_setup),
	    cmocka_unit_test_setup(test_old_kind_def, mt_setup),
	    cmocka_unit_test_setup(test_size_zero, mt_setup),
	    cmocka_unit_test_setup(test_newer_and_bad_sizes, mt_setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
