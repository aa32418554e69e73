/*
 * test_order.c - FIFO per sender/receiver pair. (a) Several producer
 * threads each send a numbered sequence to the same few actors, mixing
 * mn_send and mn_send_named; every actor checks that each producer's
 * sequence arrives in order with no gap (producer id and sequence number in
 * the payload), with 2 and with 4 workers. (b) Many sender actors each send
 * a numbered sequence to one receiver with mn_ctx_send, in batches split by
 * self-sends, while external messages are mixed in; the receiver identifies
 * each sender with mn_ctx_sender and checks its sequence.
 */
#include <stdlib.h>
#include <string.h>

#include "tests/support/support.h"

/* ---- (a) external producers ----------------------------------------- */

#define A_PRODUCERS 4
#define A_ACTORS    4

static mn_runtime *a_rt;
static mn_kind *a_kind;
static size_t a_n; /* messages per (producer, actor) */
static _Atomic uint64_t a_got[A_ACTORS][A_PRODUCERS];
static _Atomic uint64_t a_send_errors;

typedef struct a_state {
	uint64_t idx;
	uint32_t next[A_PRODUCERS];
} a_state;

static int a_init(mn_ctx *ctx, void **state)
{
	a_state *s = calloc(1, sizeof *s);
	if (!MT_CHECK(s != NULL))
		return MN_ENOMEM;
	if (!mt_self_u64(ctx, &s->idx) || !MT_CHECK(s->idx < A_ACTORS)) {
		free(s);
		return MN_EINVAL;
	}
	*state = s;
	return 0;
}

static int a_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	(void)ctx;
	a_state *s = state;
	if (!MT_CHECK(msg->len == 8))
		return MN_EINVAL;
	uint64_t v = mt_get_u64(msg->payload);
	uint32_t p = (uint32_t)(v >> 32), seq = (uint32_t)v;
	if (!MT_CHECKF(p < A_PRODUCERS, "producer id %u", p))
		return MN_EINVAL;
	MT_CHECKF(seq == s->next[p], "actor %llu: producer %u sent %u after %u",
		  (unsigned long long)s->idx, p, seq, s->next[p] - 1);
	s->next[p] = seq + 1;
	atomic_fetch_add_explicit(&a_got[s->idx][p], 1, memory_order_relaxed);
	return 0;
}

static void a_free(void *state)
{
	free(state);
}

static void a_producer(unsigned p, void *arg)
{
	(void)arg;
	unsigned char keys[A_ACTORS][MT_KEY_LEN];
	for (unsigned a = 0; a < A_ACTORS; a++)
		mt_key_put(keys[a], a);
	for (uint32_t i = 0; i < a_n; i++) {
		unsigned char pl[8];
		mt_put_u64(pl, (uint64_t)p << 32 | i);
		for (unsigned a = 0; a < A_ACTORS; a++) {
			int rc = (i + a) % 2
				     ? mn_send_named(a_rt, "ord", keys[a],
						     MT_KEY_LEN, 1, pl, 8)
				     : mn_send(a_rt, a_kind, keys[a],
					       MT_KEY_LEN, 1, pl, 8);
			if (!MT_CHECKF(rc == 0, "send: %s", mn_err_name(rc)))
				atomic_fetch_add(&a_send_errors, 1);
		}
	}
}

static void run_external_fifo(unsigned workers)
{
	a_rt = mt_open(workers, 0);
	mn_kind_def d = {
	    .name = "ord", .init = a_init, .handle = a_handle, .free = a_free};
	a_kind = mt_register(a_rt, &d);
	a_n = mt_scaled(50000, 500);
	atomic_store(&a_send_errors, 0);
	for (unsigned a = 0; a < A_ACTORS; a++)
		for (unsigned p = 0; p < A_PRODUCERS; p++)
			atomic_store(&a_got[a][p], 0);

	mt_parallel(A_PRODUCERS, a_producer, NULL);
	mt_drain(a_rt);
	mt_assert_no_failures();
	assert_int_equal(atomic_load(&a_send_errors), 0);
	for (unsigned a = 0; a < A_ACTORS; a++)
		for (unsigned p = 0; p < A_PRODUCERS; p++)
			assert_int_equal(atomic_load(&a_got[a][p]), a_n);
	mn_runtime_stats st = mt_stats(a_rt);
	uint64_t total = (uint64_t)A_PRODUCERS * A_ACTORS * a_n;
	assert_int_equal(st.sent, total);
	assert_int_equal(st.processed, total);
	assert_int_equal(st.handler_errors, 0);
	assert_int_equal(st.actors, A_ACTORS);
	mn_runtime_close(a_rt);
	a_rt = NULL;
}

static void test_external_fifo_2_workers(void **state)
{
	(void)state;
	run_external_fifo(2);
}

static void test_external_fifo_4_workers(void **state)
{
	(void)state;
	run_external_fifo(4);
}

/* ---- (b) actor to actor --------------------------------------------- */

#define B_SENDERS 64
#define B_BATCH	  32
#define B_GO	  1
#define B_DATA	  2
#define B_MARK	  3

static mn_kind *b_sink;
static mn_kind *b_fwd;
static size_t b_k; /* messages per sender */
static _Atomic uint64_t b_got[B_SENDERS];
static _Atomic uint64_t b_marks;

typedef struct fwd_state {
	uint32_t sent;
} fwd_state;

static int fwd_init(mn_ctx *ctx, void **state)
{
	(void)ctx;
	*state = calloc(1, sizeof(fwd_state));
	return MT_CHECK(*state != NULL) ? 0 : MN_ENOMEM;
}

/* On B_GO: send the next batch to the sink, then a B_GO to itself if more
 * remain, so that batches of many senders interleave at the sink. */
static int fwd_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	fwd_state *s = state;
	if (!MT_CHECK(msg->type == B_GO))
		return MN_EINVAL;
	for (int i = 0; i < B_BATCH && s->sent < b_k; i++, s->sent++) {
		unsigned char pl[8];
		mt_put_u64(pl, s->sent);
		int rc = mn_ctx_send(ctx, b_sink, "sink", 4, B_DATA, pl, 8);
		MT_CHECKF(rc == 0, "mn_ctx_send: %s", mn_err_name(rc));
	}
	if (s->sent < b_k) {
		mn_addr self;
		mn_ctx_self(ctx, &self);
		int rc = mn_ctx_send(ctx, b_fwd, self.key, self.key_len, B_GO,
				     NULL, 0);
		MT_CHECKF(rc == 0, "self send: %s", mn_err_name(rc));
	}
	return 0;
}

typedef struct sink_state {
	uint64_t next[B_SENDERS];
} sink_state;

static int sink_init(mn_ctx *ctx, void **state)
{
	(void)ctx;
	*state = calloc(1, sizeof(sink_state));
	return MT_CHECK(*state != NULL) ? 0 : MN_ENOMEM;
}

static int sink_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	sink_state *s = state;
	mn_addr from = {0};
	int rc = mn_ctx_sender(ctx, &from);
	if (msg->type == B_MARK) {
		MT_CHECK(rc == MN_ENOACTOR);
		MT_CHECK(msg->flags & MN_MSG_EXTERNAL);
		atomic_fetch_add(&b_marks, 1);
		return 0;
	}
	if (!MT_CHECKF(rc == 0, "mn_ctx_sender: %s", mn_err_name(rc)) ||
	    !MT_CHECK(msg->type == B_DATA) ||
	    !MT_CHECK((msg->flags & MN_MSG_EXTERNAL) == 0) ||
	    !MT_CHECK(from.kind != NULL && strcmp(from.kind, "fwd") == 0))
		return MN_EINVAL;
	uint64_t idx;
	if (!MT_CHECK(mt_key_get(from.key, from.key_len, &idx)) ||
	    !MT_CHECK(idx < B_SENDERS) || !MT_CHECK(msg->len == 8))
		return MN_EINVAL;
	uint64_t seq = mt_get_u64(msg->payload);
	MT_CHECKF(seq == s->next[idx], "sender %llu: %llu after %llu",
		  (unsigned long long)idx, (unsigned long long)seq,
		  (unsigned long long)s->next[idx] - 1);
	s->next[idx] = seq + 1;
	atomic_fetch_add_explicit(&b_got[idx], 1, memory_order_relaxed);
	return 0;
}

static void b_free(void *state)
{
	free(state);
}

static void test_actor_to_actor_fifo(void **state)
{
	(void)state;
	mn_runtime *rt = mt_open(2, 0);
	mn_kind_def ds = {.name = "sink",
			  .init = sink_init,
			  .handle = sink_handle,
			  .free = b_free};
	mn_kind_def df = {.name = "fwd",
			  .init = fwd_init,
			  .handle = fwd_handle,
			  .free = b_free};
	b_sink = mt_register(rt, &ds);
	b_fwd = mt_register(rt, &df);
	b_k = mt_scaled(5000, 100);
	atomic_store(&b_marks, 0);
	for (unsigned i = 0; i < B_SENDERS; i++)
		atomic_store(&b_got[i], 0);

	const unsigned nmarks = 200;
	unsigned marks = 0;
	for (unsigned i = 0; i < B_SENDERS; i++) {
		unsigned char key[MT_KEY_LEN];
		mt_key_put(key, i);
		assert_rc(mn_send(rt, b_fwd, key, sizeof key, B_GO, NULL, 0),
			  0);
		for (unsigned j = 0; j < 2; j++, marks++)
			assert_rc(
			    mn_send(rt, b_sink, "sink", 4, B_MARK, NULL, 0), 0);
	}
	for (; marks < nmarks; marks++) {
		assert_rc(mn_send(rt, b_sink, "sink", 4, B_MARK, NULL, 0), 0);
		if (marks % 16 == 0)
			mt_sleep_ms(1);
	}
	mt_drain(rt);
	mt_assert_no_failures();
	for (unsigned i = 0; i < B_SENDERS; i++)
		assert_int_equal(atomic_load(&b_got[i]), b_k);
	assert_int_equal(atomic_load(&b_marks), nmarks);
	mn_runtime_stats st = mt_stats(rt);
	uint64_t gos = (b_k + B_BATCH - 1) / B_BATCH; /* per sender */
	assert_int_equal(st.sent, B_SENDERS * (b_k + gos) + nmarks);
	assert_int_equal(st.processed, st.sent);
	assert_int_equal(st.handler_errors, 0);
	assert_int_equal(st.actors, B_SENDERS + 1);
	mn_runtime_close(rt);
}

int main(void)
{
	mt_init("core/order");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_external_fifo_2_workers, mt_setup),
	    cmocka_unit_test_setup(test_external_fifo_4_workers, mt_setup),
	    cmocka_unit_test_setup(test_actor_to_actor_fifo, mt_setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
