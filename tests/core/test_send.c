/*
 * test_send.c - what a message carries from sender to handler. The payload
 * is copied at send time: the sender's buffer is overwritten (stack) or
 * freed (heap, so ASan sees any late read) right after mn_send returns, and
 * the handler must still see the original bytes, the exact length and the
 * type. Zero-length payloads arrive as payload NULL, len 0. The same holds
 * for mn_ctx_send from a handler, including forwarding the handler's own
 * incoming payload (freed by the runtime after handle returns), and for
 * payloads at the 1 MiB default limit.
 */
#include <stdlib.h>
#include <string.h>

#include "tests/support/support.h"

/* Expected payload length of the message whose type is its index. Written
 * by the main thread before the sends that use it (the send publishes it to
 * the worker). */
#define NMSG_MAX 4096
static size_t lens[NMSG_MAX];

static mn_kind *chk_kind;
static _Atomic uint64_t chk_ok;	       /* messages whose bytes checked out */
static _Atomic uint64_t chk_zero_null; /* zero-length ones with NULL */
static _Atomic uint64_t chk_external;  /* ones flagged MN_MSG_EXTERNAL */

static unsigned char pattern(uint32_t seq, size_t i)
{
	return (unsigned char)((seq * 131u + (uint32_t)i * 7u +
				(uint32_t)(i >> 8)) ^
			       0x5au);
}

static void fill(unsigned char *p, uint32_t seq, size_t len)
{
	for (size_t i = 0; i < len; i++)
		p[i] = pattern(seq, i);
}

typedef struct chk_state {
	uint32_t next; /* type of the next message expected */
} chk_state;

static int chk_init(mn_ctx *ctx, void **state)
{
	(void)ctx;
	chk_state *s = calloc(1, sizeof *s);
	if (!MT_CHECK(s != NULL))
		return MN_ENOMEM;
	*state = s;
	return 0;
}

/* Checks type order, length and bytes of each message against lens[] and
 * pattern(). */
static int chk_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	(void)ctx;
	chk_state *s = state;
	uint32_t seq = msg->type;
	if (!MT_CHECKF(seq == s->next, "got type %u, expected %u", seq,
		       s->next))
		return 0;
	s->next = seq + 1;
	if (!MT_CHECKF(seq < NMSG_MAX && msg->len == lens[seq],
		       "message %u: len %zu, expected %zu", seq, msg->len,
		       seq < NMSG_MAX ? lens[seq] : 0))
		return 0;
	if (msg->flags & MN_MSG_EXTERNAL)
		atomic_fetch_add(&chk_external, 1);
	if (msg->len == 0) {
		if (MT_CHECKF(msg->payload == NULL,
			      "message %u: empty payload not NULL", seq))
			atomic_fetch_add(&chk_zero_null, 1);
		atomic_fetch_add(&chk_ok, 1);
		return 0;
	}
	const unsigned char *p = msg->payload;
	if (!MT_CHECK(p != NULL))
		return 0;
	for (size_t i = 0; i < msg->len; i++)
		if (!MT_CHECKF(p[i] == pattern(seq, i),
			       "message %u: byte %zu is %u, expected %u", seq,
			       i, p[i], pattern(seq, i)))
			return 0;
	atomic_fetch_add(&chk_ok, 1);
	return 0;
}

static void chk_free(void *state)
{
	free(state);
}

static mn_runtime *open_chk(unsigned workers)
{
	mn_runtime *rt = mt_open(workers, 0);
	mn_kind_def d = {.name = "chk",
			 .init = chk_init,
			 .handle = chk_handle,
			 .free = chk_free};
	chk_kind = mt_register(rt, &d);
	atomic_store(&chk_ok, 0);
	atomic_store(&chk_zero_null, 0);
	atomic_store(&chk_external, 0);
	return rt;
}

static void test_payload_reused_after_send(void **state)
{
	(void)state;
	mn_runtime *rt = open_chk(2);
	mt_rng r;
	mt_rng_init(&r, 1);
	const uint32_t n = 3000;
	assert_true(n <= NMSG_MAX);
	uint64_t zeros = 0;
	for (uint32_t i = 0; i < n; i++) {
		lens[i] = (i % 10 == 0) ? 0 : (size_t)mt_rng_below(&r, 4097);
		zeros += lens[i] == 0;
	}

	unsigned char stack[4096];
	for (uint32_t i = 0; i < n; i++) {
		size_t len = lens[i];
		switch (i % 3) {
		case 0: /* stack buffer, overwritten at once */
			fill(stack, i, len);
			assert_rc(mn_send(rt, chk_kind, "s", 1, i,
					  len ? stack : NULL, len),
				  0);
			memset(stack, 0xee, sizeof stack);
			break;
		case 1: { /* heap buffer, freed at once */
			unsigned char *h = malloc(len ? len : 1);
			assert_non_null(h);
			fill(h, i, len);
			assert_rc(mn_send(rt, chk_kind, "s", 1, i, h, len), 0);
			memset(h, 0xee, len);
			free(h);
			break;
		}
		default: /* by name; a non-NULL pointer with len 0 too */
			fill(stack, i, len);
			assert_rc(
			    mn_send_named(rt, "chk", "s", 1, i, stack, len), 0);
			memset(stack, 0x11, sizeof stack);
			break;
		}
	}
	mt_drain(rt);
	mt_assert_no_failures();
	assert_int_equal(atomic_load(&chk_ok), n);
	assert_int_equal(atomic_load(&chk_zero_null), zeros);
	assert_int_equal(atomic_load(&chk_external), n);
	mn_runtime_close(rt);
}

static void test_zero_length(void **state)
{
	(void)state;
	mn_runtime *rt = open_chk(1);
	char b[1] = {'z'};
	for (uint32_t i = 0; i < 4; i++)
		lens[i] = 0;
	assert_rc(mn_send(rt, chk_kind, "z", 1, 0, NULL, 0), 0);
	assert_rc(mn_send(rt, chk_kind, "z", 1, 1, b, 0), 0);
	assert_rc(mn_send_named(rt, "chk", "z", 1, 2, NULL, 0), 0);
	assert_rc(mn_send_named(rt, "chk", "z", 1, 3, b, 0), 0);
	mt_drain(rt);
	mt_assert_no_failures();
	assert_int_equal(atomic_load(&chk_ok), 4);
	assert_int_equal(atomic_load(&chk_zero_null), 4);
	mn_runtime_close(rt);
}

/* ---- types ---------------------------------------------------------- */

static const uint32_t types[] = {
    0, 1, 2, 0x7fffffffu, 0x80000000u, 0xfffffffeu, 0xffffffffu, 12345};
#define NTYPES (sizeof types / sizeof types[0])
static _Atomic uint64_t types_seen;

static int types_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	(void)ctx;
	size_t *next = state;
	if (MT_CHECKF(*next < NTYPES && msg->type == types[*next],
		      "message %zu has type %u", *next, msg->type) &&
	    MT_CHECK(msg->flags & MN_MSG_EXTERNAL) &&
	    MT_CHECK(msg->len == 4 && msg->payload != NULL &&
		     memcmp(msg->payload, &types[*next], 4) == 0))
		atomic_fetch_add(&types_seen, 1);
	(*next)++;
	return 0;
}

static int types_init(mn_ctx *ctx, void **state)
{
	(void)ctx;
	*state = calloc(1, sizeof(size_t));
	return *state ? 0 : MN_ENOMEM;
}

static void test_types_delivered(void **state)
{
	(void)state;
	mn_runtime *rt = mt_open(2, 0);
	mn_kind_def d = {.name = "types",
			 .init = types_init,
			 .handle = types_handle,
			 .free = chk_free};
	mn_kind *k = mt_register(rt, &d);
	atomic_store(&types_seen, 0);
	for (size_t i = 0; i < NTYPES; i++)
		assert_rc(mn_send(rt, k, "t", 1, types[i], &types[i], 4), 0);
	mt_drain(rt);
	mt_assert_no_failures();
	assert_int_equal(atomic_load(&types_seen), NTYPES);
	mn_runtime_close(rt);
}

/* ---- mn_ctx_send ---------------------------------------------------- */

/*
 * "src" actors, on an external message of type n, send messages 0..n-1 to
 * the chk actor with their own key: even ones from a local buffer that is
 * overwritten after each send, odd ones from a heap buffer freed after the
 * send. Then, for its last message, src forwards the external payload it
 * received (lens[n], pattern n) as-is: the runtime frees that buffer after
 * handle returns, so chk must hold its own copy.
 */
static _Atomic uint64_t src_send_errors;

static int src_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	(void)state;
	mn_addr self;
	mn_ctx_self(ctx, &self);
	unsigned char local[4096];
	for (uint32_t i = 0; i < msg->type; i++) {
		int rc;
		if (i % 2 == 0) {
			fill(local, i, lens[i]);
			rc = mn_ctx_send(ctx, chk_kind, self.key, self.key_len,
					 i, local, lens[i]);
			memset(local, 0xcc, sizeof local);
		} else {
			unsigned char *h = malloc(lens[i] + 1);
			if (!MT_CHECK(h != NULL))
				return MN_ENOMEM;
			fill(h, i, lens[i]);
			rc = mn_ctx_send(ctx, chk_kind, self.key, self.key_len,
					 i, h, lens[i]);
			memset(h, 0xcc, lens[i]);
			free(h);
		}
		if (!MT_CHECKF(rc == 0, "mn_ctx_send: %s", mn_err_name(rc)))
			atomic_fetch_add(&src_send_errors, 1);
	}
	int rc = mn_ctx_send(ctx, chk_kind, self.key, self.key_len, msg->type,
			     msg->payload, msg->len);
	MT_CHECKF(rc == 0, "mn_ctx_send (forward): %s", mn_err_name(rc));
	return 0;
}

static int null_init(mn_ctx *ctx, void **state)
{
	(void)ctx;
	*state = NULL;
	return 0;
}

static void test_ctx_send_copies(void **state)
{
	(void)state;
	mn_runtime *rt = open_chk(2);
	mn_kind_def d = {
	    .name = "src", .init = null_init, .handle = src_handle};
	mn_kind *src = mt_register(rt, &d);
	atomic_store(&src_send_errors, 0);
	mt_rng r;
	mt_rng_init(&r, 2);
	const uint32_t n = 500; /* messages per src actor */
	for (uint32_t i = 0; i <= n; i++)
		lens[i] = (i % 7 == 0) ? 0 : (size_t)mt_rng_below(&r, 2049);
	const unsigned nsrc = 8;
	unsigned char *fwd = malloc(lens[n] + 1);
	assert_non_null(fwd);
	fill(fwd, n, lens[n]);
	for (unsigned s = 0; s < nsrc; s++) {
		unsigned char key[MT_KEY_LEN];
		mt_key_put(key, s);
		assert_rc(mn_send(rt, src, key, sizeof key, n, fwd, lens[n]),
			  0);
	}
	free(fwd);
	mt_drain(rt);
	mt_assert_no_failures();
	assert_int_equal(atomic_load(&src_send_errors), 0);
	/* Each src actor sent n + 1 messages to its own chk actor. */
	assert_int_equal(atomic_load(&chk_ok), (uint64_t)nsrc * (n + 1));
	assert_int_equal(atomic_load(&chk_external), 0);
	mn_runtime_stats st = mt_stats(rt);
	assert_int_equal(st.sent, nsrc + (uint64_t)nsrc * (n + 1));
	assert_int_equal(st.processed, st.sent);
	assert_int_equal(st.actors, 2 * nsrc);
	mn_runtime_close(rt);
}

static void test_big_payloads(void **state)
{
	(void)state;
	mn_runtime *rt = open_chk(2);
	const uint32_t n = 6;
	for (uint32_t i = 0; i < n; i++)
		lens[i] = MN_PAYLOAD_MAX_DEFAULT - (i % 2) * 4093;
	for (uint32_t i = 0; i < n; i++) {
		unsigned char *h = malloc(lens[i]);
		assert_non_null(h);
		fill(h, i, lens[i]);
		assert_rc(mn_send(rt, chk_kind, "big", 3, i, h, lens[i]), 0);
		free(h);
	}
	mt_drain(rt);
	mt_assert_no_failures();
	assert_int_equal(atomic_load(&chk_ok), n);
	mn_runtime_close(rt);
}

int main(void)
{
	mt_init("core/send");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_payload_reused_after_send, mt_setup),
	    cmocka_unit_test_setup(test_zero_length, mt_setup),
	    cmocka_unit_test_setup(test_types_delivered, mt_setup),
	    cmocka_unit_test_setup(test_ctx_send_copies, mt_setup),
	    cmocka_unit_test_setup(test_big_payloads, mt_setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
