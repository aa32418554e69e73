/*
 * test_actor.c - virtual actor semantics as a handler sees them.
 *   - The first message to an address creates the actor; init runs once,
 *     before the first handle, and the state it made is the one handle
 *     gets. Keys are bytes (embedded NULs, 255 bytes), and the same key
 *     under two kinds is two actors.
 *   - The ctx accessors: mn_ctx_self (kind name, key), mn_ctx_kind,
 *     mn_ctx_kind_arg, mn_ctx_runtime, mn_ctx_worker, in init and handle.
 *   - Senders: an external message has MN_MSG_EXTERNAL and no sender
 *     (mn_ctx_sender and mn_ctx_reply give MN_ENOACTOR), as does init;
 *     mn_ctx_reply reaches the sending actor, and a reply to a reply too.
 *   - Errors: init failing drops the message, counts a handler error and
 *     runs again on the next message; handle failing counts a handler error
 *     and is not retried, and the state lives on.
 *   - Self-sends: an actor counting down by sending to itself.
 *   - Sends from init (to another actor and to itself), and a 255-byte
 *     sender key seen whole by the receiver and usable for a reply.
 */
#include <stdlib.h>
#include <string.h>

#include "tests/support/support.h"

static mn_runtime *g_rt;
static unsigned g_workers;
static int g_arg; /* its address is the kind arg */

/* Checks every ctx accessor against what the main thread registered;
 * kind_name is the expected kind. in_init also checks there is no sender. */
static void check_ctx(mn_ctx *ctx, const mn_kind *kind, const char *kind_name,
		      int in_init)
{
	mn_addr self = {0};
	mn_ctx_self(ctx, &self);
	MT_CHECK(self.kind != NULL && strcmp(self.kind, kind_name) == 0);
	MT_CHECK(self.key != NULL && self.key_len >= 1 &&
		 self.key_len <= MN_KEY_MAX);
	MT_CHECK(mn_ctx_kind(ctx) == kind);
	MT_CHECK(mn_ctx_kind_arg(ctx) == &g_arg);
	MT_CHECK(mn_ctx_runtime(ctx) == g_rt);
	MT_CHECKF(mn_ctx_worker(ctx) < g_workers, "worker %u of %u",
		  mn_ctx_worker(ctx), g_workers);
	if (in_init) {
		mn_addr from = {0};
		int rc = mn_ctx_sender(ctx, &from);
		MT_CHECKF(rc == MN_ENOACTOR, "sender in init: %s",
			  mn_err_name(rc));
		rc = mn_ctx_reply(ctx, 0, "x", 1);
		MT_CHECKF(rc == MN_ENOACTOR, "reply in init: %s",
			  mn_err_name(rc));
	}
}

/* ---- creation, init before handle, self address ---------------------- */

#define V_KEYS 6

static mn_kind *v_kind;	 /* "virt" */
static mn_kind *v_kind2; /* "virt2" */
static unsigned char v_keys[V_KEYS][MN_KEY_MAX];
static size_t v_key_lens[V_KEYS];
static _Atomic uint64_t v_inits[2][V_KEYS];
static _Atomic uint64_t v_handles[2][V_KEYS];

#define V_MAGIC 0x7669727475616c21ull

typedef struct v_state {
	uint64_t magic;
	int kind;   /* 0: virt, 1: virt2 */
	size_t idx; /* index in v_keys */
	uint64_t handled;
} v_state;

/* Index of this actor's key in v_keys, or V_KEYS. */
static size_t v_find(mn_ctx *ctx)
{
	mn_addr self;
	mn_ctx_self(ctx, &self);
	for (size_t i = 0; i < V_KEYS; i++)
		if (self.key_len == v_key_lens[i] &&
		    memcmp(self.key, v_keys[i], self.key_len) == 0)
			return i;
	return V_KEYS;
}

static int v_init(mn_ctx *ctx, void **state)
{
	int kind = mn_ctx_kind(ctx) == v_kind2;
	check_ctx(ctx, kind ? v_kind2 : v_kind, kind ? "virt2" : "virt", 1);
	size_t idx = v_find(ctx);
	if (!MT_CHECK(idx < V_KEYS))
		return MN_EINVAL;
	v_state *s = malloc(sizeof *s);
	if (!MT_CHECK(s != NULL))
		return MN_ENOMEM;
	*s = (v_state){.magic = V_MAGIC, .kind = kind, .idx = idx};
	*state = s;
	atomic_fetch_add(&v_inits[kind][idx], 1);
	return 0;
}

/* The payload is the key the sender addressed; it must be this actor's. */
static int v_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	v_state *s = state;
	if (!MT_CHECKF(s != NULL && s->magic == V_MAGIC,
		       "handle without the state init made"))
		return MN_EINVAL;
	int kind = mn_ctx_kind(ctx) == v_kind2;
	check_ctx(ctx, kind ? v_kind2 : v_kind, kind ? "virt2" : "virt", 0);
	MT_CHECK(s->kind == kind);
	mn_addr self;
	mn_ctx_self(ctx, &self);
	MT_CHECK(msg->len == self.key_len &&
		 memcmp(msg->payload, self.key, msg->len) == 0);
	MT_CHECK(v_find(ctx) == s->idx);
	MT_CHECK(atomic_load(&v_inits[kind][s->idx]) == 1);
	s->handled++;
	atomic_fetch_add(&v_handles[kind][s->idx], 1);
	return 0;
}

static void v_free(void *state)
{
	v_state *s = state;
	MT_CHECK(s->magic == V_MAGIC);
	s->magic = 0;
	free(s);
}

static void v_set_key(size_t i, const void *key, size_t len)
{
	memcpy(v_keys[i], key, len);
	v_key_lens[i] = len;
}

static void test_first_message_creates(void **state)
{
	(void)state;
	g_workers = 2;
	g_rt = mt_open(g_workers, 0);
	mn_kind_def d = {.name = "virt",
			 .arg = &g_arg,
			 .init = v_init,
			 .handle = v_handle,
			 .free = v_free};
	v_kind = mt_register(g_rt, &d);
	d.name = "virt2";
	v_kind2 = mt_register(g_rt, &d);

	/* Keys: "a", "b", "a\0b", "a\0c", 255 bytes with zeros, "A". */
	v_set_key(0, "a", 1);
	v_set_key(1, "b", 1);
	v_set_key(2, "a\0b", 3);
	v_set_key(3, "a\0c", 3);
	unsigned char long_key[MN_KEY_MAX];
	for (size_t i = 0; i < MN_KEY_MAX; i++)
		long_key[i] = (unsigned char)(i * 7);
	v_set_key(4, long_key, MN_KEY_MAX);
	v_set_key(5, "A", 1);
	const unsigned sends[V_KEYS] = {5, 3, 2, 1, 4, 1};
	for (size_t k = 0; k < 2; k++)
		for (size_t i = 0; i < V_KEYS; i++) {
			atomic_store(&v_inits[k][i], 0);
			atomic_store(&v_handles[k][i], 0);
		}

	for (unsigned round = 0; round < 5; round++)
		for (size_t i = 0; i < V_KEYS; i++)
			if (round < sends[i])
				assert_rc(mn_send(g_rt, v_kind, v_keys[i],
						  v_key_lens[i], 0, v_keys[i],
						  v_key_lens[i]),
					  0);
	/* "a" under the second kind is a different actor. */
	assert_rc(mn_send_named(g_rt, "virt2", "a", 1, 0, "a", 1), 0);
	mt_drain(g_rt);
	mt_assert_no_failures();
	for (size_t i = 0; i < V_KEYS; i++) {
		assert_int_equal(atomic_load(&v_inits[0][i]), 1);
		assert_int_equal(atomic_load(&v_handles[0][i]), sends[i]);
	}
	assert_int_equal(atomic_load(&v_inits[1][0]), 1);
	assert_int_equal(atomic_load(&v_handles[1][0]), 1);
	for (size_t i = 1; i < V_KEYS; i++)
		assert_int_equal(atomic_load(&v_inits[1][i]), 0);
	assert_int_equal(mt_stats(g_rt).actors, V_KEYS + 1);

	/* More messages later: no second init. */
	assert_rc(mn_send(g_rt, v_kind, "a", 1, 0, "a", 1), 0);
	mt_drain(g_rt);
	assert_int_equal(atomic_load(&v_inits[0][0]), 1);
	assert_int_equal(atomic_load(&v_handles[0][0]), sends[0] + 1);
	mn_runtime_close(g_rt);
	mt_assert_no_failures();
}

/* ---- senders and replies ---------------------------------------------- */

#define CLIENTS 10
#define T_START 1
#define T_PING	2
#define T_PONG	3
#define T_DONE	4

static mn_kind *cl_kind;
static mn_kind *sv_kind;
static _Atomic uint64_t cl_pongs[CLIENTS];
static _Atomic uint64_t sv_pings;
static _Atomic uint64_t sv_dones;
static _Atomic uint64_t ext_checked;

static int cl_init(mn_ctx *ctx, void **state)
{
	check_ctx(ctx, cl_kind, "client", 1);
	*state = NULL;
	return 0;
}

static int sv_init(mn_ctx *ctx, void **state)
{
	/* Created by a client's message: still no sender during init. */
	check_ctx(ctx, sv_kind, "server", 1);
	*state = NULL;
	return 0;
}

/* An external message: flagged, no sender, no reply possible. */
static void check_external(mn_ctx *ctx, const mn_msg *msg)
{
	mn_addr from = {0};
	int rc = mn_ctx_sender(ctx, &from);
	int rc2 = mn_ctx_reply(ctx, 0, "x", 1);
	if (MT_CHECK(msg->flags & MN_MSG_EXTERNAL) &&
	    MT_CHECKF(rc == MN_ENOACTOR, "sender of external: %s",
		      mn_err_name(rc)) &&
	    MT_CHECKF(rc2 == MN_ENOACTOR, "reply to external: %s",
		      mn_err_name(rc2)))
		atomic_fetch_add(&ext_checked, 1);
}

/* The message came from the actor (kind_name, key). */
static int check_from(mn_ctx *ctx, const mn_msg *msg, const char *kind_name,
		      const void *key, size_t key_len)
{
	mn_addr from = {0};
	int rc = mn_ctx_sender(ctx, &from);
	return MT_CHECK(!(msg->flags & MN_MSG_EXTERNAL)) &&
	       MT_CHECKF(rc == 0, "sender: %s", mn_err_name(rc)) &&
	       MT_CHECK(from.kind && strcmp(from.kind, kind_name) == 0) &&
	       MT_CHECK(from.key_len == key_len &&
			memcmp(from.key, key, key_len) == 0);
}

/* Payloads: client index (8 bytes), value (8 bytes). */
static int cl_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	(void)state;
	check_ctx(ctx, cl_kind, "client", 0);
	uint64_t self;
	if (!mt_self_u64(ctx, &self) || !MT_CHECK(self < CLIENTS))
		return MN_EINVAL;
	unsigned char pl[16];
	if (msg->type == T_START) {
		check_external(ctx, msg);
		mt_put_u64(pl, self);
		mt_put_u64(pl + 8, self * 1000);
		int rc = mn_ctx_send(ctx, sv_kind, "srv", 3, T_PING, pl, 16);
		MT_CHECKF(rc == 0, "ping: %s", mn_err_name(rc));
		return 0;
	}
	if (!MT_CHECK(msg->type == T_PONG) || !MT_CHECK(msg->len == 16) ||
	    !check_from(ctx, msg, "server", "srv", 3))
		return MN_EINVAL;
	const unsigned char *p = msg->payload;
	if (MT_CHECK(mt_get_u64(p) == self) &&
	    MT_CHECK(mt_get_u64(p + 8) == self * 1000 + 1))
		atomic_fetch_add(&cl_pongs[self], 1);
	/* Reply to the reply. */
	int rc = mn_ctx_reply(ctx, T_DONE, p, 16);
	MT_CHECKF(rc == 0, "done: %s", mn_err_name(rc));
	return 0;
}

static int sv_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	(void)state;
	check_ctx(ctx, sv_kind, "server", 0);
	if (!MT_CHECK(msg->len == 16))
		return MN_EINVAL;
	const unsigned char *p = msg->payload;
	uint64_t c = mt_get_u64(p);
	unsigned char key[MT_KEY_LEN];
	mt_key_put(key, c);
	if (!check_from(ctx, msg, "client", key, MT_KEY_LEN))
		return MN_EINVAL;
	if (msg->type == T_DONE) {
		atomic_fetch_add(&sv_dones, 1);
		return 0;
	}
	if (!MT_CHECK(msg->type == T_PING))
		return MN_EINVAL;
	atomic_fetch_add(&sv_pings, 1);
	unsigned char pl[16];
	mt_put_u64(pl, c);
	mt_put_u64(pl + 8, mt_get_u64(p + 8) + 1);
	int rc = mn_ctx_reply(ctx, T_PONG, pl, 16);
	MT_CHECKF(rc == 0, "pong: %s", mn_err_name(rc));
	return 0;
}

static void test_reply_reaches_sender(void **state)
{
	(void)state;
	g_workers = 2;
	g_rt = mt_open(g_workers, 0);
	mn_kind_def dc = {.name = "client",
			  .arg = &g_arg,
			  .init = cl_init,
			  .handle = cl_handle};
	mn_kind_def ds = {.name = "server",
			  .arg = &g_arg,
			  .init = sv_init,
			  .handle = sv_handle};
	cl_kind = mt_register(g_rt, &dc);
	sv_kind = mt_register(g_rt, &ds);
	atomic_store(&sv_pings, 0);
	atomic_store(&sv_dones, 0);
	atomic_store(&ext_checked, 0);
	for (unsigned c = 0; c < CLIENTS; c++)
		atomic_store(&cl_pongs[c], 0);

	for (unsigned c = 0; c < CLIENTS; c++) {
		unsigned char key[MT_KEY_LEN];
		mt_key_put(key, c);
		if (c % 2)
			assert_rc(mn_send(g_rt, cl_kind, key, MT_KEY_LEN,
					  T_START, NULL, 0),
				  0);
		else
			assert_rc(mn_send_named(g_rt, "client", key, MT_KEY_LEN,
						T_START, NULL, 0),
				  0);
	}
	mt_drain(g_rt);
	mt_assert_no_failures();
	assert_int_equal(atomic_load(&ext_checked), CLIENTS);
	assert_int_equal(atomic_load(&sv_pings), CLIENTS);
	assert_int_equal(atomic_load(&sv_dones), CLIENTS);
	for (unsigned c = 0; c < CLIENTS; c++)
		assert_int_equal(atomic_load(&cl_pongs[c]), 1);
	mn_runtime_stats st = mt_stats(g_rt);
	assert_int_equal(st.sent, 4 * CLIENTS);
	assert_int_equal(st.processed, 4 * CLIENTS);
	assert_int_equal(st.handler_errors, 0);
	assert_int_equal(st.actors, CLIENTS + 1);
	mn_runtime_close(g_rt);
}

/* ---- callback errors ---------------------------------------------------- */

static _Atomic int flaky_fail_left;
static _Atomic uint64_t flaky_inits; /* init calls, failed ones too */
static _Atomic uint64_t flaky_handles;
static _Atomic uint64_t flaky_frees;
static _Atomic uint64_t flaky_last; /* payload of the last handled message */

static int flaky_init(mn_ctx *ctx, void **state)
{
	(void)ctx;
	atomic_fetch_add(&flaky_inits, 1);
	if (atomic_fetch_sub(&flaky_fail_left, 1) > 0)
		return MN_EHANDLER;
	uint64_t *s = malloc(sizeof *s);
	if (!MT_CHECK(s != NULL))
		return MN_ENOMEM;
	*s = 0;
	*state = s;
	return 0;
}

static int flaky_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	(void)ctx;
	uint64_t *s = state;
	if (!MT_CHECK(s != NULL) || !MT_CHECK(msg->len == 8))
		return MN_EINVAL;
	(*s)++;
	atomic_store(&flaky_last, mt_get_u64(msg->payload));
	atomic_fetch_add(&flaky_handles, 1);
	/* The handled count survives in the state. */
	MT_CHECKF(*s == atomic_load(&flaky_handles), "state count %llu",
		  (unsigned long long)*s);
	return 0;
}

static void flaky_free(void *state)
{
	atomic_fetch_add(&flaky_frees, 1);
	free(state);
}

static void send_u64(mn_runtime *rt, mn_kind *k, const char *key, uint32_t type,
		     uint64_t v)
{
	unsigned char pl[8];
	mt_put_u64(pl, v);
	assert_rc(mn_send(rt, k, key, strlen(key), type, pl, 8), 0);
}

static void expect_flaky(mn_runtime *rt, uint64_t inits, uint64_t handles,
			 uint64_t errors, uint64_t processed)
{
	mt_drain(rt);
	mn_runtime_stats st = mt_stats(rt);
	assert_int_equal(atomic_load(&flaky_inits), inits);
	assert_int_equal(atomic_load(&flaky_handles), handles);
	assert_int_equal(st.handler_errors, errors);
	assert_int_equal(st.processed, processed);
	assert_int_equal(st.sent, processed);
}

static void test_init_error_retries(void **state)
{
	(void)state;
	mn_runtime *rt = mt_open(2, 0);
	mn_kind_def d = {.name = "flaky",
			 .init = flaky_init,
			 .handle = flaky_handle,
			 .free = flaky_free};
	mn_kind *k = mt_register(rt, &d);
	atomic_store(&flaky_fail_left, 2);
	atomic_store(&flaky_inits, 0);
	atomic_store(&flaky_handles, 0);
	atomic_store(&flaky_frees, 0);
	atomic_store(&flaky_last, 0);

	/* init fails: the message is dropped, one handler error. */
	send_u64(rt, k, "f", 0, 1);
	expect_flaky(rt, 1, 0, 1, 1);
	/* Next message: init runs again, fails again. */
	send_u64(rt, k, "f", 0, 2);
	expect_flaky(rt, 2, 0, 2, 2);
	/* Third time init succeeds and this message is handled. */
	send_u64(rt, k, "f", 0, 3);
	expect_flaky(rt, 3, 1, 2, 3);
	assert_int_equal(atomic_load(&flaky_last), 3);
	/* From now on no init, just handle. */
	send_u64(rt, k, "f", 0, 4);
	send_u64(rt, k, "f", 0, 5);
	expect_flaky(rt, 3, 3, 2, 5);
	assert_int_equal(atomic_load(&flaky_last), 5);
	mt_assert_no_failures();
	mn_runtime_close(rt);
	/* Only the successful init made a state to free. */
	assert_int_equal(atomic_load(&flaky_frees), 1);
}

#define P_FAIL	 13
#define P_FAIL2	 14
#define P_REPORT 15

static _Atomic uint64_t picky_calls;
static _Atomic uint64_t picky_report;

static int picky_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	(void)ctx;
	uint64_t *s = state;
	(*s)++;
	atomic_fetch_add(&picky_calls, 1);
	switch (msg->type) {
	case P_FAIL:
		return MN_EHANDLER;
	case P_FAIL2:
		return MN_EINVAL;
	case P_REPORT:
		atomic_store(&picky_report, *s);
		return 0;
	default:
		return 0;
	}
}

static int picky_init(mn_ctx *ctx, void **state)
{
	(void)ctx;
	*state = calloc(1, sizeof(uint64_t));
	return MT_CHECK(*state != NULL) ? 0 : MN_ENOMEM;
}

static void test_handle_error_counted(void **state)
{
	(void)state;
	mn_runtime *rt = mt_open(2, 0);
	mn_kind_def d = {.name = "picky",
			 .init = picky_init,
			 .handle = picky_handle,
			 .free = free};
	mn_kind *k = mt_register(rt, &d);
	atomic_store(&picky_calls, 0);
	atomic_store(&picky_report, 0);
	const uint32_t types[] = {1, P_FAIL, 2,	     P_FAIL2, P_FAIL,
				  3, 4,	     P_FAIL, 5,	      6};
	const size_t n = sizeof types / sizeof types[0];
	for (size_t i = 0; i < n; i++)
		send_u64(rt, k, "p", types[i], i);
	mt_drain(rt);
	mn_runtime_stats st = mt_stats(rt);
	assert_int_equal(atomic_load(&picky_calls), n); /* no retry */
	assert_int_equal(st.handler_errors, 4);
	assert_int_equal(st.processed, n);
	/* The actor and its state live on after errors. */
	send_u64(rt, k, "p", P_REPORT, 0);
	mt_drain(rt);
	assert_int_equal(atomic_load(&picky_report), n + 1);
	assert_int_equal(mt_stats(rt).handler_errors, 4);
	assert_int_equal(mt_stats(rt).actors, 1);
	mn_runtime_close(rt);
	mt_assert_no_failures();
}

/* ---- self-sends -----------------------------------------------------------
 */

static mn_kind *cd_kind;
static _Atomic uint64_t cd_handled;
static _Atomic uint64_t cd_zero;

/* Counts down by sending n-1 to itself; checks each value is one less than
 * the last and that self-sent messages name this actor as the sender. */
static int cd_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	uint64_t *last = state;
	if (!MT_CHECK(msg->len == 8))
		return MN_EINVAL;
	uint64_t n = mt_get_u64(msg->payload);
	mn_addr self;
	mn_ctx_self(ctx, &self);
	if (msg->flags & MN_MSG_EXTERNAL) {
		MT_CHECK(*last == UINT64_MAX);
	} else {
		MT_CHECKF(n + 1 == *last, "got %llu after %llu",
			  (unsigned long long)n, (unsigned long long)*last);
		MT_CHECK(
		    check_from(ctx, msg, "countdown", self.key, self.key_len));
	}
	*last = n;
	atomic_fetch_add(&cd_handled, 1);
	if (n == 0) {
		atomic_fetch_add(&cd_zero, 1);
		return 0;
	}
	unsigned char pl[8];
	mt_put_u64(pl, n - 1);
	int rc = mn_ctx_send(ctx, cd_kind, self.key, self.key_len, 0, pl, 8);
	MT_CHECKF(rc == 0, "self send: %s", mn_err_name(rc));
	return 0;
}

static int cd_init(mn_ctx *ctx, void **state)
{
	(void)ctx;
	uint64_t *last = malloc(sizeof *last);
	if (!MT_CHECK(last != NULL))
		return MN_ENOMEM;
	*last = UINT64_MAX;
	*state = last;
	return 0;
}

static int cd_null_init(mn_ctx *ctx, void **state)
{
	(void)ctx;
	*state = NULL;
	return 0;
}

static void test_self_send(void **state)
{
	(void)state;
	mn_runtime *rt = mt_open(2, 0);
	mn_kind_def d = {.name = "countdown",
			 .init = cd_init,
			 .handle = cd_handle,
			 .free = free};
	cd_kind = mt_register(rt, &d);
	atomic_store(&cd_handled, 0);
	atomic_store(&cd_zero, 0);
	uint64_t n = mt_scaled(20000, 1000);
	const unsigned actors = 3;
	for (unsigned a = 0; a < actors; a++) {
		unsigned char key[MT_KEY_LEN], pl[8];
		mt_key_put(key, a);
		mt_put_u64(pl, n);
		assert_rc(mn_send(rt, cd_kind, key, MT_KEY_LEN, 0, pl, 8), 0);
	}
	mt_drain(rt);
	mt_assert_no_failures();
	assert_int_equal(atomic_load(&cd_handled), actors * (n + 1));
	assert_int_equal(atomic_load(&cd_zero), actors);
	mn_runtime_stats st = mt_stats(rt);
	assert_int_equal(st.sent, actors * (n + 1));
	assert_int_equal(st.processed, st.sent);
	assert_int_equal(st.actors, actors);
	mn_runtime_close(rt);
}

/* ---- sends from init, long sender keys ------------------------------- */

#define E_HELLO	 1
#define E_EXT	 2
#define E_ACTORS 20

static mn_kind *eager_kind, *listen_kind;
static _Atomic uint64_t eager_hellos, eager_ext, listen_got;

/* init sends to a listener (payload: own key) and to itself. */
static int eager_init(mn_ctx *ctx, void **state)
{
	mn_addr self;
	mn_ctx_self(ctx, &self);
	int rc =
	    mn_ctx_send(ctx, listen_kind, "l", 1, 0, self.key, self.key_len);
	MT_CHECKF(rc == 0, "send from init: %s", mn_err_name(rc));
	rc = mn_ctx_send(ctx, eager_kind, self.key, self.key_len, E_HELLO, NULL,
			 0);
	MT_CHECKF(rc == 0, "self send from init: %s", mn_err_name(rc));
	*state = NULL;
	return 0;
}

static int eager_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	(void)state;
	mn_addr self;
	mn_ctx_self(ctx, &self);
	if (msg->type == E_HELLO) {
		if (check_from(ctx, msg, "eager", self.key, self.key_len))
			atomic_fetch_add(&eager_hellos, 1);
	} else if (MT_CHECK(msg->type == E_EXT &&
			    (msg->flags & MN_MSG_EXTERNAL))) {
		atomic_fetch_add(&eager_ext, 1);
	}
	return 0;
}

static int listen_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	(void)state;
	if (check_from(ctx, msg, "eager", msg->payload, msg->len))
		atomic_fetch_add(&listen_got, 1);
	return 0;
}

static void test_send_from_init(void **state)
{
	(void)state;
	mn_runtime *rt = mt_open(2, 0);
	mn_kind_def de = {
	    .name = "eager", .init = eager_init, .handle = eager_handle};
	mn_kind_def dl = {
	    .name = "listener", .init = cd_null_init, .handle = listen_handle};
	eager_kind = mt_register(rt, &de);
	listen_kind = mt_register(rt, &dl);
	atomic_store(&eager_hellos, 0);
	atomic_store(&eager_ext, 0);
	atomic_store(&listen_got, 0);
	for (unsigned a = 0; a < E_ACTORS; a++) {
		unsigned char key[MT_KEY_LEN];
		mt_key_put(key, a);
		assert_rc(
		    mn_send(rt, eager_kind, key, MT_KEY_LEN, E_EXT, NULL, 0),
		    0);
	}
	mt_drain(rt);
	mt_assert_no_failures();
	assert_int_equal(atomic_load(&eager_ext), E_ACTORS);
	assert_int_equal(atomic_load(&eager_hellos), E_ACTORS);
	assert_int_equal(atomic_load(&listen_got), E_ACTORS);
	mn_runtime_stats st = mt_stats(rt);
	assert_int_equal(st.sent, 3 * E_ACTORS);
	assert_int_equal(st.processed, st.sent);
	assert_int_equal(st.actors, E_ACTORS + 1);
	mn_runtime_close(rt);
}

/* A kind name of MN_KIND_NAME_MAX bytes. */
#define LK_NAME                                                                \
	"long-key-sender-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
_Static_assert(sizeof LK_NAME == MN_KIND_NAME_MAX + 1, "63-byte name");

static unsigned char long_key[MN_KEY_MAX];
static mn_kind *lk_kind, *echoer_kind;
static _Atomic uint64_t lk_replies, echoer_got;

/* The 255-byte-key actor sends to the echoer, which must see the whole key
 * as the sender and reply to it. */
static int lk_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	(void)state;
	if (msg->flags & MN_MSG_EXTERNAL) {
		int rc = mn_ctx_send(ctx, echoer_kind, "e", 1, 0, "hi", 2);
		MT_CHECKF(rc == 0, "send: %s", mn_err_name(rc));
		return 0;
	}
	if (check_from(ctx, msg, "echoer", "e", 1) &&
	    MT_CHECK(msg->len == 3 && memcmp(msg->payload, "hi!", 3) == 0))
		atomic_fetch_add(&lk_replies, 1);
	return 0;
}

static int echoer_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	(void)state;
	if (!check_from(ctx, msg, LK_NAME, long_key, MN_KEY_MAX))
		return MN_EINVAL;
	atomic_fetch_add(&echoer_got, 1);
	int rc = mn_ctx_reply(ctx, 0, "hi!", 3);
	MT_CHECKF(rc == 0, "reply: %s", mn_err_name(rc));
	return 0;
}

static void test_long_key_sender(void **state)
{
	(void)state;
	mn_runtime *rt = mt_open(2, 0);
	/* A 63-byte kind name and a 255-byte key: both at their limits. */
	mn_kind_def dl = {
	    .name = LK_NAME, .init = cd_null_init, .handle = lk_handle};
	mn_kind_def de = {
	    .name = "echoer", .init = cd_null_init, .handle = echoer_handle};
	lk_kind = mt_register(rt, &dl);
	echoer_kind = mt_register(rt, &de);
	atomic_store(&lk_replies, 0);
	atomic_store(&echoer_got, 0);
	for (size_t i = 0; i < MN_KEY_MAX; i++)
		long_key[i] = (unsigned char)(255 - i);
	assert_rc(mn_send(rt, lk_kind, long_key, MN_KEY_MAX, 0, NULL, 0), 0);
	mt_drain(rt);
	mt_assert_no_failures();
	assert_int_equal(atomic_load(&echoer_got), 1);
	assert_int_equal(atomic_load(&lk_replies), 1);
	mn_runtime_close(rt);
}

int main(void)
{
	mt_init("core/actor");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_first_message_creates, mt_setup),
	    cmocka_unit_test_setup(test_reply_reaches_sender, mt_setup),
	    cmocka_unit_test_setup(test_init_error_retries, mt_setup),
	    cmocka_unit_test_setup(test_handle_error_counted, mt_setup),
	    cmocka_unit_test_setup(test_self_send, mt_setup),
	    cmocka_unit_test_setup(test_send_from_init, mt_setup),
	    cmocka_unit_test_setup(test_long_key_sender, mt_setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
