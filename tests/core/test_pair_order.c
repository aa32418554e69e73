/*
 * test_pair_order.c - per-pair order across a restart (docs/semantics.md,
 * Delivery 1): a message actor S sent to actor R before a crash, stored in
 * the outbox and not yet handled, is handled before any message S sends to
 * R after the restart, although stored messages are redelivered lazily and
 * paced.
 *
 * test_stored_before_new: a child keeps R busy (its handler never returns)
 * while FILL durable sends to R and then S's message #1 to R wait in the
 * outbox, and is killed. The next runtime registers S, then R, and has S
 * send #2 to R at once; R's first message blocks it until S's #2 is
 * committed. FILL is above what the redelivery paces in flight (65,536 plus
 * a tick's 16,384), so without the order rule #1 is still in the store
 * when #2 reaches R's mailbox: R would see #2 first, every run.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/support.h"

enum { T_FILL = 1, T_PAIR = 2, T_KICK = 3 };

static char store_dir[256];

static void fresh_store(const char *tag)
{
	char cmd[600];
	snprintf(store_dir, sizeof store_dir, "/tmp/mnemo-test-%d-%s",
		 (int)getpid(), tag);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", store_dir);
	assert_int_equal(system(cmd), 0);
}

static void remove_store(void)
{
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", store_dir);
	assert_int_equal(system(cmd), 0);
}

/* ---- stored #1 before new #2 ------------------------------------------- */

#define FILL 90000

static mn_kind *r_kind;
/* 0: R's first message blocks forever (the child); 1: until r_release. */
static int r_mode;
static _Atomic int r_release;
static _Atomic uint64_t r_fill;
static _Atomic uint64_t r_npair;
static uint64_t r_pairs[8];
static _Atomic uint64_t acks;

static int st_init(mn_ctx *ctx, void **state)
{
	(void)ctx;
	*state = calloc(1, sizeof(uint64_t));
	return *state ? 0 : MN_ENOMEM;
}

static void st_free(void *state)
{
	free(state);
}

static int r_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	uint64_t *n = state;
	if ((*n)++ == 0 && !mn_ctx_replaying(ctx)) {
		if (r_mode == 0)
			for (;;)
				pause();
		double t0 = mt_now();
		while (!atomic_load(&r_release) && mt_now() - t0 < 20)
			mt_sleep_ms(1);
	}
	if (mn_ctx_replaying(ctx))
		return 0;
	if (msg->type == T_FILL) {
		atomic_fetch_add(&r_fill, 1);
	} else if (msg->type == T_PAIR) {
		uint64_t i = atomic_fetch_add(&r_npair, 1);
		if (i < 8)
			r_pairs[i] = mt_get_u64(msg->payload);
	}
	return 0;
}

static int s_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	(void)state;
	if (msg->type != T_KICK)
		return 0;
	unsigned char key[MT_KEY_LEN];
	mt_key_put(key, 1);
	return mn_ctx_send(ctx, r_kind, key, sizeof key, T_PAIR, msg->payload,
			   msg->len);
}

static mn_kind_def r_def = {
    .name = "po_r", .init = st_init, .handle = r_handle, .free = st_free};
static mn_kind_def s_def = {
    .name = "po_s", .init = st_init, .handle = s_handle, .free = st_free};

static void ack_cb(void *arg, int rc)
{
	(void)arg;
	if (rc == 0)
		atomic_fetch_add(&acks, 1);
}

static mn_runtime *po_open(mn_kind **s)
{
	mn_runtime_opts o = {.workers = 3,
			     .store_path = store_dir,
			     .durability = MN_DURABILITY_RELAXED};
	mn_runtime *rt = NULL;
	if (mn_runtime_open(&o, &rt))
		return NULL;
	/* S first: its redelivery (nothing to it) comes before R's. */
	if (mn_kind_register(rt, &s_def, s) ||
	    mn_kind_register(rt, &r_def, &r_kind))
		return NULL;
	return rt;
}

static void kick(mn_runtime *rt, mn_kind *s, uint64_t n)
{
	unsigned char key[MT_KEY_LEN], p[8];
	mt_key_put(key, 7);
	mt_put_u64(p, n);
	assert_rc(mn_send(rt, s, key, sizeof key, T_KICK, p, sizeof p), 0);
}

static uint64_t journaled(mn_runtime *rt)
{
	mn_runtime_stats st;
	mn_runtime_stats_get(rt, &st);
	return st.journaled;
}

/* The child: R stuck in its first message, FILL durable sends to R
 * stored, then S's #1 to R committed (so stored); then "ready" and wait
 * for the kill. */
static void po_child(int fd)
{
	mn_kind *s;
	unsigned char key[MT_KEY_LEN], p[8];
	r_mode = 0;
	mn_runtime *rt = po_open(&s);
	if (!rt)
		_exit(2);
	mt_key_put(key, 1);
	for (uint64_t i = 0; i < FILL; i++) {
		mt_put_u64(p, i);
		if (mn_send_durable_async(rt, r_kind, key, sizeof key, T_FILL,
					  p, sizeof p, ack_cb, NULL))
			_exit(3);
	}
	if (!mt_wait_u64(&acks, FILL, 60))
		_exit(4);
	mt_key_put(key, 7);
	mt_put_u64(p, 1);
	if (mn_send(rt, s, key, sizeof key, T_KICK, p, sizeof p))
		_exit(5);
	double t0 = mt_now();
	while (journaled(rt) < 1)
		if (mt_now() - t0 > 60)
			_exit(6);
		else
			mt_sleep_ms(1);
	if (write(fd, "r", 1) != 1)
		_exit(7);
	for (;;)
		pause();
}

static void test_stored_before_new(void **unused)
{
	(void)unused;
	int fds[2];
	char c;
	mn_kind *s;

	fresh_store("pair");
	assert_int_equal(pipe(fds), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		po_child(fds[1]);
	}
	close(fds[1]);
	ssize_t got = read(fds[0], &c, 1);
	kill(pid, SIGKILL);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	close(fds[0]);
	if (got != 1)
		fail_msg("child failed before the kill (status %d)",
			 WIFEXITED(status) ? WEXITSTATUS(status) : -1);

	r_mode = 1;
	atomic_store(&r_release, 0);
	atomic_store(&r_fill, 0);
	atomic_store(&r_npair, 0);
	mn_runtime *rt = po_open(&s);
	assert_non_null(rt);
	mn_recovery rec;
	assert_rc(mn_runtime_recovery(rt, &rec), 0);
	assert_int_equal(rec.outbox, FILL + 1);
	kick(rt, s, 2);
	/* S's #2 committed (and pushed right after its commit), then R may
	 * go on. */
	double t0 = mt_now();
	while (journaled(rt) < 1 && mt_now() - t0 < 20)
		mt_sleep_ms(1);
	assert_true(journaled(rt) >= 1);
	mt_sleep_ms(50);
	atomic_store(&r_release, 1);
	mt_drain(rt);
	assert_int_equal(atomic_load(&r_fill), FILL);
	assert_int_equal(atomic_load(&r_npair), 2);
	if (r_pairs[0] != 1 || r_pairs[1] != 2)
		fail_msg("R handled S's messages in the order %llu, %llu "
			 "(sent 1, 2)",
			 (unsigned long long)r_pairs[0],
			 (unsigned long long)r_pairs[1]);
	mn_runtime_close(rt);
	remove_store();
}

/* ---- the bank model: per-pair counters across SIGKILLs and eviction ---- */

/*
 * Accounts; outside threads make durable transfers (XFER to the payer),
 * the payer sends a CREDIT carrying its per-pair counter to the payee,
 * which checks it is exactly one above the last it saw from that payer:
 * a reordered, lost or duplicated credit shows as a gap or a repeat.
 * max_resident 4 keeps accounts evicted and rehydrated; the child is
 * SIGKILLed KILLS times at seeded points; the parent then drains and
 * checks every pair's counters equal and the money conserved.
 */
#define ACC   24
#define KILLS 3
enum { T_XFER = 10, T_CREDIT = 11, T_DUMP = 12 };

typedef struct bacct {
	int64_t bal;
	uint32_t sent[ACC], recv[ACC];
} bacct;

typedef struct bank_shared {
	_Atomic uint64_t bad;
	char first[256];
} bank_shared;

static bank_shared *bsh;
static mn_kind *bank_kind;
static bacct bank_res[ACC];
static _Atomic uint64_t bank_dumps;

static int acct_init(mn_ctx *ctx, void **state)
{
	(void)ctx;
	*state = calloc(1, sizeof(bacct));
	return *state ? 0 : MN_ENOMEM;
}

static int acct_snap(const void *state, mn_buf *out)
{
	return mn_buf_append(out, state, sizeof(bacct));
}

static int acct_restore(mn_ctx *ctx, const void *b, size_t len, void **state)
{
	(void)ctx;
	if (len != sizeof(bacct))
		return MN_ECORRUPT;
	bacct *a = malloc(sizeof *a);
	if (!a)
		return MN_ENOMEM;
	memcpy(a, b, sizeof *a);
	*state = a;
	return 0;
}

static void bank_bad(const char *fmt, uint64_t x, uint64_t y, uint64_t z,
		     uint64_t w)
{
	if (atomic_fetch_add(&bsh->bad, 1) == 0)
		snprintf(bsh->first, sizeof bsh->first, fmt,
			 (unsigned long long)x, (unsigned long long)y,
			 (unsigned long long)z, (unsigned long long)w);
}

static int acct_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	bacct *a = state;
	uint64_t self;
	uint32_t v[3];
	unsigned char key[MT_KEY_LEN];
	if (!mt_self_u64(ctx, &self) || self >= ACC)
		return MN_EINVAL;
	switch (msg->type) {
	case T_XFER:
		memcpy(v, msg->payload, 8);
		a->bal -= v[1];
		v[2] = ++a->sent[v[0]];
		v[0] = (uint32_t)self;
		mt_key_put(key, mt_get_u64(msg->payload) & 0xffffffffu);
		return mn_ctx_send(ctx, bank_kind, key, sizeof key, T_CREDIT, v,
				   sizeof v);
	case T_CREDIT:
		memcpy(v, msg->payload, sizeof v);
		if (v[2] != a->recv[v[0]] + 1 && !mn_ctx_replaying(ctx))
			bank_bad("account %llu: credit %llu from %llu after "
				 "%llu (gap, repeat or reorder)",
				 self, v[2], v[0], a->recv[v[0]]);
		if (v[2] > a->recv[v[0]])
			a->recv[v[0]] = v[2];
		a->bal += v[1];
		return 0;
	case T_DUMP:
		if (!mn_ctx_replaying(ctx)) {
			bank_res[self] = *a;
			atomic_fetch_add(&bank_dumps, 1);
		}
		return 0;
	}
	return 0;
}

static mn_kind_def bank_def = {.name = "bank",
			       .init = acct_init,
			       .handle = acct_handle,
			       .snapshot = acct_snap,
			       .restore = acct_restore,
			       .free = st_free,
			       .snapshot_every = 3};

static mn_runtime *bank_open(void)
{
	mn_runtime_opts o = {.workers = 2,
			     .store_path = store_dir,
			     .durability = MN_DURABILITY_RELAXED,
			     .max_resident = 4};
	mn_runtime *rt = NULL;
	if (mn_runtime_open(&o, &rt) ||
	    mn_kind_register(rt, &bank_def, &bank_kind))
		return NULL;
	return rt;
}

typedef struct bank_child {
	mn_runtime *rt;
	int fd;
	uint64_t seed;
} bank_child;

static void bank_send(unsigned t, void *arg)
{
	bank_child *bc = arg;
	mt_rng r;
	mt_rng_init(&r, bc->seed * 8 + t);
	for (;;) {
		uint32_t from = (uint32_t)mt_rng_below(&r, ACC);
		uint32_t v[2] = {(uint32_t)mt_rng_below(&r, ACC - 1),
				 1 + (uint32_t)mt_rng_below(&r, 100)};
		if (v[0] >= from)
			v[0]++;
		unsigned char key[MT_KEY_LEN];
		mt_key_put(key, from);
		if (mn_send_durable(bc->rt, bank_kind, key, sizeof key, T_XFER,
				    v, sizeof v))
			_exit(3);
		if (write(bc->fd, "a", 1) != 1)
			_exit(4);
	}
}

static void test_bank_order_across_kills(void **unused)
{
	(void)unused;
	uint64_t seed = mt_seed();
	mt_rng r;
	mt_rng_init(&r, seed);
	bsh = mmap(NULL, sizeof *bsh, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(bsh != MAP_FAILED);
	fresh_store("bank");
	for (unsigned k = 0; k < KILLS; k++) {
		int fds[2];
		uint64_t kill_after = 50 + mt_rng_below(&r, 600);
		assert_int_equal(pipe(fds), 0);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(fds[0]);
			bank_child bc = {.fd = fds[1], .seed = seed + k};
			if (!(bc.rt = bank_open()))
				_exit(2);
			mt_parallel(3, bank_send, &bc);
			_exit(0);
		}
		close(fds[1]);
		uint64_t n = 0;
		char c;
		while (n < kill_after && read(fds[0], &c, 1) == 1)
			n++;
		kill(pid, SIGKILL);
		int status;
		assert_int_equal(waitpid(pid, &status, 0), pid);
		close(fds[0]);
		printf("# bank seed %llu: kill %u after %llu acks\n",
		       (unsigned long long)seed, k + 1, (unsigned long long)n);
		if (!WIFSIGNALED(status))
			fail_msg("bank child ended early (status %d)", status);
	}
	mn_runtime *rt = bank_open();
	assert_non_null(rt);
	mt_drain(rt);
	atomic_store(&bank_dumps, 0);
	for (uint64_t i = 0; i < ACC; i++) {
		unsigned char key[MT_KEY_LEN];
		mt_key_put(key, i);
		assert_rc(
		    mn_send(rt, bank_kind, key, sizeof key, T_DUMP, NULL, 0),
		    0);
	}
	mt_drain(rt);
	assert_int_equal(atomic_load(&bank_dumps), ACC);
	if (atomic_load(&bsh->bad))
		fail_msg("seed %llu: %llu bad credits; first: %s",
			 (unsigned long long)seed,
			 (unsigned long long)atomic_load(&bsh->bad),
			 bsh->first);
	int64_t total = 0;
	uint64_t credits = 0;
	for (unsigned a = 0; a < ACC; a++) {
		total += bank_res[a].bal;
		for (unsigned b = 0; b < ACC; b++) {
			credits += bank_res[a].sent[b];
			if (bank_res[a].sent[b] != bank_res[b].recv[a])
				fail_msg("seed %llu: %u sent %u credits to %u, "
					 "which saw %u",
					 (unsigned long long)seed, a,
					 bank_res[a].sent[b], b,
					 bank_res[b].recv[a]);
		}
	}
	assert_int_equal(total, 0);
	printf("# bank seed %llu: %llu credits, every pair in order\n",
	       (unsigned long long)seed, (unsigned long long)credits);
	mn_runtime_close(rt);
	munmap(bsh, sizeof *bsh);
	remove_store();
}

int main(void)
{
	mt_init("core/pair_order");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_stored_before_new, mt_setup),
	    cmocka_unit_test_setup(test_bank_order_across_kills, mt_setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
