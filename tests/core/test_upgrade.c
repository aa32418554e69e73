/*
 * test_upgrade.c - mn_kind_upgrade: a running kind's code replaced under
 * traffic (docs/upgrades.md, core/swap.c U1-U5). Sender threads keep
 * sending numbered messages (each thread's own sequence per actor, some
 * durable) while the kind "hot" goes from version 1 to version 2; every
 * actor's state is checked against a model afterwards: each message
 * processed exactly once and in per-sender order, no version 1 code run
 * after the call returned, every actor on version 2, and the same after a
 * restart; every state it holds was made by version 2's init() or
 * restore(), none by version 1's left resident. Version 2's snapshots carry a
 * tag that only its upgrade() adds to version 1's bytes, so an evicted actor
 * that came back without it is seen.
 */
/* The digest in the state is part of what hash-free snapshots carry, not
 * checked: the checks are per sender (docs/semantics.md, Delivery 1). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/support/support.h"

enum { T_SEQ = 1, T_CHECK = 2, T_SLOW = 3 };

#define NACT 48
#define NT   3

typedef struct hot {
	uint64_t count, digest, order_errors;
	uint64_t last[NT];
	uint64_t v2_msgs;
	uint64_t made_by; /* the version whose init() or restore() made it */
} hot;

static char dir[256];
static hot got[NACT];
static uint32_t got_by[NACT]; /* the version that answered T_CHECK */
static _Atomic uint64_t checks;
static _Atomic int swap_returned;
static _Atomic uint64_t v1_after_swap;
static _Atomic uint64_t v2_restores_unconverted;

static uint64_t fold(uint64_t d, uint64_t v)
{
	return (d ^ v) * 0x100000001b3ull + 0x9e37;
}

static int init_as(void **state, uint64_t ver)
{
	hot *h = calloc(1, sizeof(hot));
	if (!h)
		return MN_ENOMEM;
	h->made_by = ver;
	*state = h;
	return 0;
}

static int v1_init(mn_ctx *ctx, void **state)
{
	(void)ctx;
	return init_as(state, 1);
}

static int v2_init(mn_ctx *ctx, void **state)
{
	(void)ctx;
	return init_as(state, 2);
}

static int handle_as(mn_ctx *ctx, hot *h, const mn_msg *msg, uint32_t ver)
{
	uint64_t k;
	switch (msg->type) {
	case T_SEQ: {
		uint64_t t = mt_get_u64(msg->payload);
		uint64_t n = mt_get_u64((const char *)msg->payload + 8);
		if (t >= NT)
			return MN_EINVAL;
		if (n != h->last[t] + 1)
			h->order_errors++;
		h->last[t] = n;
		h->count++;
		h->digest = fold(h->digest, t << 32 | n);
		if (ver == 2)
			h->v2_msgs++;
		return 0;
	}
	case T_CHECK:
		if (mn_ctx_replaying(ctx))
			return 0;
		if (mt_self_u64(ctx, &k) && k < NACT) {
			got[k] = *h;
			got_by[k] = ver;
		}
		atomic_fetch_add(&checks, 1);
		return 0;
	case T_SLOW:
		if (!mn_ctx_replaying(ctx))
			mt_sleep_ms(400);
		return 0;
	}
	return MN_EINVAL;
}

static int v1_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	if (atomic_load(&swap_returned) && !mn_ctx_replaying(ctx))
		atomic_fetch_add(&v1_after_swap, 1);
	return handle_as(ctx, state, msg, 1);
}

static int v2_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	return handle_as(ctx, state, msg, 2);
}

static int v1_snapshot(const void *state, mn_buf *out)
{
	return mn_buf_append(out, state, sizeof(hot));
}

static int v1_restore(mn_ctx *ctx, const void *b, size_t len, void **state)
{
	if (mn_ctx_state_version(ctx) != 1 || len != sizeof(hot))
		return MN_ECORRUPT;
	if (!(*state = malloc(sizeof(hot))))
		return MN_ENOMEM;
	memcpy(*state, b, sizeof(hot));
	((hot *)*state)->made_by = 1;
	return 0;
}

#define V2_TAG 0x5632u

static int v2_snapshot(const void *state, mn_buf *out)
{
	unsigned char b[sizeof(hot) + 8];
	memcpy(b, state, sizeof(hot));
	mt_put_u64(b + sizeof(hot), V2_TAG);
	return mn_buf_append(out, b, sizeof b);
}

static int v2_restore(mn_ctx *ctx, const void *b, size_t len, void **state)
{
	if (mn_ctx_state_version(ctx) != 2 || len != sizeof(hot) + 8 ||
	    mt_get_u64((const char *)b + sizeof(hot)) != V2_TAG) {
		atomic_fetch_add(&v2_restores_unconverted, 1);
		return MN_ECORRUPT;
	}
	if (!(*state = malloc(sizeof(hot))))
		return MN_ENOMEM;
	memcpy(*state, b, sizeof(hot));
	((hot *)*state)->made_by = 2;
	return 0;
}

static int v2_upgrade(uint32_t from, const void *b, size_t len, mn_buf *out)
{
	if (from != 1 || len != sizeof(hot))
		return MN_ECORRUPT;
	unsigned char t[8];
	mt_put_u64(t, V2_TAG);
	int rc = mn_buf_append(out, b, len);
	return rc ? rc : mn_buf_append(out, t, sizeof t);
}

static mn_kind_def def_v(uint32_t v)
{
	mn_kind_def d = MN_KIND_DEF_INIT;
	d.name = "hot";
	d.init = v == 1 ? v1_init : v2_init;
	d.free = free;
	d.snapshot_every = 8;
	d.version = v;
	if (v == 1) {
		d.handle = v1_handle;
		d.snapshot = v1_snapshot;
		d.restore = v1_restore;
	} else {
		d.handle = v2_handle;
		d.snapshot = v2_snapshot;
		d.restore = v2_restore;
		d.upgrade = v2_upgrade;
	}
	return d;
}

/* ---- the model ------------------------------------------------------------
 */

/* Per thread and actor: the last n sent (each thread's own row). Each
 * thread's numbers seen consecutively (no order error), the last one
 * equal to this and the count equal to the sum: exactly once, in order. */
static uint64_t sent[NT][NACT];

typedef struct sender {
	mn_runtime *rt;
	mn_kind *k;
	unsigned t;
	unsigned rounds;
	_Atomic unsigned *progress;
} sender;

static void send_seq(mn_runtime *rt, mn_kind *k, unsigned t, unsigned a,
		     bool durable)
{
	unsigned char key[MT_KEY_LEN], p[16];
	mt_key_put(key, a);
	uint64_t n = ++sent[t][a];
	mt_put_u64(p, t);
	mt_put_u64(p + 8, n);
	int rc = durable ? mn_send_durable(rt, k, key, sizeof key, T_SEQ, p,
					   sizeof p)
			 : mn_send(rt, k, key, sizeof key, T_SEQ, p, sizeof p);
	if (rc)
		sent[t][a]--;
	MT_CHECKF(rc == 0, "send: %s", mn_err_name(rc));
}

static void *sender_main(void *arg)
{
	sender *s = arg;
	for (unsigned r = 0; r < s->rounds; r++) {
		for (unsigned a = 0; a < NACT; a++)
			send_seq(s->rt, s->k, s->t, a, (r + a) % 7 == 0);
		atomic_fetch_add(s->progress, 1);
	}
	return NULL;
}

static void fresh(const char *tag)
{
	snprintf(dir, sizeof dir, "/tmp/mnemo-upgrade-%d-%s", (int)getpid(),
		 tag);
	mt_rmrf(dir);
	memset(sent, 0, sizeof sent);
	atomic_store(&swap_returned, 0);
	atomic_store(&v1_after_swap, 0);
	atomic_store(&v2_restores_unconverted, 0);
}

static mn_runtime *open_rt(const mn_kind_def *d, mn_kind **k,
			   uint64_t max_resident)
{
	mn_runtime_opts o = MN_RUNTIME_OPTS_INIT;
	o.workers = 2;
	o.store_path = dir;
	o.durability = MN_DURABILITY_RELAXED;
	o.max_resident = max_resident;
	mn_runtime *rt = NULL;
	int rc = mn_runtime_open(&o, &rt);
	if (rc)
		fail_msg("open: %s (%s)", mn_err_name(rc), mn_errdetail());
	assert_rc(mn_kind_register(rt, d, k), 0);
	return rt;
}

static void check_all(mn_runtime *rt, mn_kind *k, uint32_t want_by)
{
	memset(got, 0, sizeof got);
	memset(got_by, 0, sizeof got_by);
	atomic_store(&checks, 0);
	for (unsigned a = 0; a < NACT; a++) {
		unsigned char key[MT_KEY_LEN];
		mt_key_put(key, a);
		assert_rc(mn_send(rt, k, key, sizeof key, T_CHECK, NULL, 0), 0);
	}
	mt_drain(rt);
	assert_int_equal(atomic_load(&checks), NACT);
	for (unsigned a = 0; a < NACT; a++) {
		uint64_t total = 0;
		for (unsigned t = 0; t < NT; t++) {
			total += sent[t][a];
			if (got[a].last[t] != sent[t][a])
				fail_msg("actor %u thread %u: last %llu, sent "
					 "%llu",
					 a, t,
					 (unsigned long long)got[a].last[t],
					 (unsigned long long)sent[t][a]);
		}
		if (got[a].count != total || got[a].order_errors)
			fail_msg("actor %u: count %llu of %llu, %llu out of "
				 "order",
				 a, (unsigned long long)got[a].count,
				 (unsigned long long)total,
				 (unsigned long long)got[a].order_errors);
		assert_int_equal(got_by[a], want_by);
		/* U3: no state of version 1's survives the swap resident. */
		assert_int_equal(got[a].made_by, want_by);
	}
	mt_assert_no_failures();
}

/* Under traffic from three threads (every seventh message durable), the
 * kind goes to version 2; the model holds for every actor, nothing of
 * version 1 runs after the call, and every actor answers as version 2,
 * also after a restart. With max_resident small, evictions and the
 * upgrade's own evictions interleave. */
static void test_upgrade_under_traffic(void **unused)
{
	(void)unused;
	fresh("traffic");
	mn_kind *k;
	mn_kind_def d1 = def_v(1), d2 = def_v(2);
	mn_runtime *rt = open_rt(&d1, &k, 32);
	_Atomic unsigned progress = 0;
	unsigned rounds = MT_TSAN ? 60 : 200;
	sender s[NT];
	pthread_t th[NT];
	for (unsigned t = 0; t < NT; t++) {
		s[t] = (sender){.rt = rt,
				.k = k,
				.t = t,
				.rounds = rounds,
				.progress = &progress};
		assert_int_equal(
		    pthread_create(&th[t], NULL, sender_main, &s[t]), 0);
	}
	while (atomic_load(&progress) < NT * rounds / 3)
		mt_sleep_ms(1);
	int rc = mn_kind_upgrade(rt, &d2, 10000);
	if (rc)
		fail_msg("mn_kind_upgrade: %s (%s)", mn_err_name(rc),
			 mn_errdetail());
	atomic_store(&swap_returned, 1);
	unsigned at_swap = atomic_load(&progress);
	for (unsigned t = 0; t < NT; t++)
		pthread_join(th[t], NULL);
	print_message("# upgrade: at %u of %u rounds; the rest on version 2\n",
		      at_swap, NT * rounds);
	mt_drain(rt);
	check_all(rt, k, 2);
	assert_int_equal(atomic_load(&v1_after_swap), 0);
	assert_int_equal(atomic_load(&v2_restores_unconverted), 0);
	mn_upgrade_stats us;
	mn_runtime_upgrade_stats(rt, &us);
	assert_int_equal(us.code_swaps, 1);
	assert_true(us.upgraded > 0); /* v1 snapshots brought forward */
	mn_runtime_stats st = mt_stats(rt);
	assert_int_equal(st.handler_errors, 0);
	assert_int_equal(st.broken, 0);
	mn_runtime_close(rt);

	/* Reopened with version 2: the same states. */
	rt = open_rt(&d2, &k, 0);
	check_all(rt, k, 2);
	assert_int_equal(atomic_load(&v2_restores_unconverted), 0);
	mn_runtime_close(rt);
	mt_rmrf(dir);
}

/* An actor busy past the timeout: MN_ETIMEDOUT, version 1 stays and gets
 * the messages that waited, in order; a second try succeeds. */
static void test_upgrade_timeout_keeps_old_code(void **unused)
{
	(void)unused;
	fresh("timeout");
	mn_kind *k;
	mn_kind_def d1 = def_v(1), d2 = def_v(2);
	mn_runtime *rt = open_rt(&d1, &k, 0);
	for (unsigned a = 0; a < NACT; a++)
		send_seq(rt, k, 0, a, false);
	mt_drain(rt);
	unsigned char key[MT_KEY_LEN];
	mt_key_put(key, 0);
	assert_rc(mn_send(rt, k, key, sizeof key, T_SLOW, NULL, 0), 0);
	mt_sleep_ms(20);
	assert_rc(mn_kind_upgrade(rt, &d2, 50), MN_ETIMEDOUT);
	assert_non_null(strstr(mn_errdetail(), "not idle in time"));
	for (unsigned a = 0; a < NACT; a++)
		send_seq(rt, k, 1, a, false);
	mt_drain(rt);
	check_all(rt, k, 1);
	assert_rc(mn_kind_upgrade(rt, &d2, 5000), 0);
	check_all(rt, k, 2);
	mn_runtime_close(rt);
	mt_rmrf(dir);
}

static int vol_init(mn_ctx *ctx, void **state)
{
	(void)ctx;
	*state = NULL;
	return 0;
}

static int vol_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	(void)ctx;
	(void)state;
	(void)msg;
	return 0;
}

/* What is refused, and leaves the kind as it was. */
static void test_upgrade_refusals(void **unused)
{
	(void)unused;
	fresh("refuse");
	mn_kind *k;
	mn_kind_def d1 = def_v(1), d2 = def_v(2);
	mn_runtime *rt = open_rt(&d2, &k, 0);
	mn_kind_def vol = MN_KIND_DEF_INIT;
	vol.name = "vol";
	vol.flags = MN_KIND_VOLATILE;
	vol.init = vol_init;
	vol.handle = vol_handle;
	assert_rc(mn_kind_register(rt, &vol, NULL), 0);
	assert_rc(mn_kind_upgrade(NULL, &d2, 0), MN_EINVAL);
	assert_rc(mn_kind_upgrade(rt, NULL, 0), MN_EINVAL);
	assert_rc(mn_kind_upgrade(rt, &d1, 0), MN_EVERSION);
	assert_non_null(strstr(mn_errdetail(), "runs version 2"));
	mn_kind_def other = d2;
	other.flags = MN_KIND_EXPLICIT;
	assert_rc(mn_kind_upgrade(rt, &other, 0), MN_EINVAL);
	other = d2;
	other.name = "nosuch";
	assert_rc(mn_kind_upgrade(rt, &other, 0), MN_ENOKIND);
	other = d2;
	other.handle = NULL;
	assert_rc(mn_kind_upgrade(rt, &other, 0), MN_EINVAL);
	assert_rc(mn_kind_upgrade(rt, &vol, 0), MN_ENOTSUP);
	/* The same version again is allowed (a fix that keeps the format). */
	assert_rc(mn_kind_upgrade(rt, &d2, 0), 0);
	for (unsigned a = 0; a < 4; a++)
		send_seq(rt, k, 0, a, false);
	mt_drain(rt);
	mn_runtime_close(rt);
	mt_rmrf(dir);
}

int main(void)
{
	mt_init("upgrade");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_upgrade_under_traffic, mt_setup),
	    cmocka_unit_test_setup(test_upgrade_timeout_keeps_old_code,
				   mt_setup),
	    cmocka_unit_test_setup(test_upgrade_refusals, mt_setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
