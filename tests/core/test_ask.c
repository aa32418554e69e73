/*
 * test_ask.c - asks from outside (mn_ask, mn_ask_wait, docs/semantics.md
 * "Asking an actor"): the reply reaches the asker, after the commit for
 * persistent actors; a deferred answer by token; timeouts, cancel, close;
 * many askers at once get their own answers; replay sends nothing.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tests/support/support.h"

enum {
	Q_ECHO = 1,
	Q_SILENT = 2,
	Q_LATER = 3,
	Q_ANSWER = 4,
	Q_COUNT = 5,
	Q_FORWARD = 6
};

typedef struct astate {
	uint64_t handled, token;
} astate;

static _Atomic uint64_t replay_answers; /* replies made while replaying */

MT_FLAT_STATE(a, astate)

static int a_handle(mn_ctx *ctx, void *state, const mn_msg *m)
{
	astate *s = state;
	s->handled++;
	switch (m->type) {
	case Q_ECHO: {
		MT_CHECK(m->flags & MN_MSG_ASK);
		int rc = mn_ctx_reply(ctx, 100, m->payload, m->len);
		MT_CHECKF(rc == 0, "reply: %s", mn_err_name(rc));
		if (mn_ctx_replaying(ctx))
			atomic_fetch_add(&replay_answers, 1);
		return rc;
	}
	case Q_SILENT:
		return 0;
	case Q_LATER: {
		uint64_t t = 0;
		int rc = mn_ctx_ask_token(ctx, &t);
		if (!mn_ctx_replaying(ctx)) {
			MT_CHECKF(rc == 0 && t != 0, "token: %s",
				  mn_err_name(rc));
			s->token = t;
		}
		return 0;
	}
	case Q_ANSWER:
		return mn_ctx_ask_reply(ctx, s->token, 101, "later", 5);
	case Q_COUNT:
		return mn_ctx_reply(ctx, 102, &s->handled, sizeof s->handled);
	case Q_FORWARD: {
		unsigned char to[MT_KEY_LEN];
		mt_key_put(to, 77);
		return mn_ctx_send(ctx, mn_ctx_kind(ctx), to, sizeof to, 9,
				   "fwd", 3);
	}
	}
	return 0;
}

static int a_describe(const void *state, mn_buf *out)
{
	const astate *s = state;
	char t[64];
	int n = snprintf(t, sizeof t, "handled=%llu",
			 (unsigned long long)s->handled);
	return mn_buf_append(out, t, (size_t)n);
}

static mn_kind_def asked_def(const char *name, uint32_t flags)
{
	mn_kind_def d = MN_KIND_DEF_INIT;
	d.name = name;
	d.flags = flags;
	d.init = a_init;
	d.handle = a_handle;
	d.snapshot = a_snapshot;
	d.restore = a_restore;
	d.free = a_free;
	d.describe = a_describe;
	return d;
}

static char dir[256];

static int setup(void **state)
{
	mt_setup(state);
	mt_tmpdir(dir, sizeof dir, "ask");
	atomic_store(&replay_answers, 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return mt_rmrf(dir);
}

static mn_runtime *open_store(unsigned delay_us)
{
	mn_runtime_opts o = MN_RUNTIME_OPTS_INIT;
	o.workers = 2;
	o.store_path = dir;
	o.durability = MN_DURABILITY_RELAXED;
	o.commit_delay_us = delay_us;
	mn_runtime *rt;
	assert_rc(mn_runtime_open(&o, &rt), 0);
	return rt;
}

static void key_of(unsigned char k[MT_KEY_LEN], uint64_t i)
{
	mt_key_put(k, i);
}

/* Volatile and persistent actors answer; the reply is the actor's. */
static void test_ask_wait_round_trip(void **state)
{
	(void)state;
	mn_runtime *rt = open_store(0);
	mn_kind_def dv = asked_def("vol", MN_KIND_VOLATILE),
		    dp = asked_def("per", 0);
	mn_kind *kv = mt_register(rt, &dv), *kp = mt_register(rt, &dp);
	unsigned char k[MT_KEY_LEN];
	key_of(k, 1);
	for (int i = 0; i < 2; i++) {
		mn_kind *kk = i ? kp : kv;
		uint32_t type = 0;
		void *out = NULL;
		size_t n = 0;
		assert_rc(mn_ask_wait(rt, kk, k, sizeof k, Q_ECHO, "ping", 4,
				      5000, &type, &out, &n),
			  0);
		assert_int_equal(type, 100);
		assert_int_equal(n, 4);
		assert_memory_equal(out, "ping", 4);
		free(out);
	}
	/* Bad input: refused, no callback, nothing queued. */
	uint64_t id = 9;
	assert_rc(
	    mn_ask(rt, kp, k, sizeof k, Q_ECHO, NULL, 0, 0, NULL, NULL, &id),
	    MN_EINVAL);
	assert_int_equal(id, 0);
	assert_rc(
	    mn_ask_wait(rt, kp, NULL, 0, Q_ECHO, NULL, 0, 0, NULL, NULL, NULL),
	    MN_EKEY);
	assert_rc(mn_ask_wait(rt, kp, k, sizeof k, Q_ECHO, NULL, 3, 0, NULL,
			      NULL, NULL),
		  MN_EINVAL);
	mn_observer *ob = NULL;
	assert_rc(mn_observe(rt, kp, k, 0, 0, &ob), MN_EKEY);
	assert_rc(mn_observe(rt, NULL, k, sizeof k, 0, &ob), MN_EINVAL);
	assert_null(ob);
	mn_observed ev;
	assert_rc(mn_observer_next(NULL, 0, &ev), MN_EINVAL);
	char *text = NULL;
	assert_rc(mn_actor_view(rt, kp, k, sizeof k, 0, NULL, NULL), MN_EINVAL);
	assert_rc(mn_actor_view(rt, kp, NULL, 0, 0, &text, NULL), MN_EKEY);
	mn_ask_cancel(rt, 12345); /* unknown: ignored */
	mt_drain(rt);
	mt_assert_no_failures();
	mn_runtime_close(rt);
}

/* Persistent actors: the answer is released after the commit of the
 * message that gave it (commits held 200 ms here). */
static void test_answer_after_commit(void **state)
{
	(void)state;
	mn_runtime *rt = open_store(200000);
	mn_kind_def dp = asked_def("per", 0);
	mn_kind *kp = mt_register(rt, &dp);
	unsigned char k[MT_KEY_LEN];
	key_of(k, 2);
	/* First message: its actor is created (its commit goes first). */
	assert_rc(mn_ask_wait(rt, kp, k, sizeof k, Q_ECHO, "a", 1, 5000, NULL,
			      NULL, NULL),
		  0);
	uint64_t before = mt_stats(rt).journaled;
	double t0 = mt_now();
	assert_rc(mn_ask_wait(rt, kp, k, sizeof k, Q_ECHO, "b", 1, 5000, NULL,
			      NULL, NULL),
		  0);
	double dt = mt_now() - t0;
	/* Its entry is journaled once the answer is out. */
	assert_true(mt_stats(rt).journaled >= before + 1);
	assert_true(dt >= 0.15);
	mn_runtime_close(rt);
}

typedef struct seen {
	_Atomic int n, rc;
	_Atomic uint32_t type;
	char body[16];
} seen;

static void on_done(void *arg, int rc, uint32_t type, const void *p, size_t len)
{
	seen *s = arg;
	if (len && len < sizeof s->body)
		memcpy(s->body, p, len);
	atomic_store(&s->rc, rc);
	atomic_store(&s->type, type);
	atomic_fetch_add(&s->n, 1);
}

static void wait_seen(seen *s, int n)
{
	for (int t = 0; t < 500 && atomic_load(&s->n) < n; t++)
		mt_sleep_ms(10);
	assert_int_equal(atomic_load(&s->n), n);
}

/* No answer: MN_ETIMEDOUT at the timeout, once; a deferred answer by token
 * from a later message; cancel: never called; close: MN_ECLOSED. */
static void test_timeout_token_cancel_close(void **state)
{
	(void)state;
	mn_runtime *rt = open_store(0);
	mn_kind_def dp = asked_def("per", 0);
	mn_kind *kp = mt_register(rt, &dp);
	unsigned char k[MT_KEY_LEN];
	key_of(k, 3);

	seen s1 = {0};
	double t0 = mt_now();
	assert_rc(mn_ask(rt, kp, k, sizeof k, Q_SILENT, NULL, 0, 200, on_done,
			 &s1, NULL),
		  0);
	wait_seen(&s1, 1);
	assert_int_equal(atomic_load(&s1.rc), MN_ETIMEDOUT);
	assert_true(mt_now() - t0 >= 0.18);

	seen s2 = {0};
	assert_rc(mn_ask(rt, kp, k, sizeof k, Q_LATER, NULL, 0, 5000, on_done,
			 &s2, NULL),
		  0);
	mt_drain(rt);
	assert_int_equal(atomic_load(&s2.n), 0);
	assert_rc(mn_send(rt, kp, k, sizeof k, Q_ANSWER, NULL, 0), 0);
	wait_seen(&s2, 1);
	assert_int_equal(atomic_load(&s2.rc), 0);
	assert_int_equal(atomic_load(&s2.type), 101);
	assert_string_equal(s2.body, "later");
	/* The token is spent: a second answer is dropped. */
	assert_rc(mn_send(rt, kp, k, sizeof k, Q_ANSWER, NULL, 0), 0);
	mt_drain(rt);
	mt_sleep_ms(50);
	assert_int_equal(atomic_load(&s2.n), 1);

	seen s3 = {0};
	uint64_t id = 0;
	assert_rc(mn_ask(rt, kp, k, sizeof k, Q_LATER, NULL, 0, 300, on_done,
			 &s3, &id),
		  0);
	assert_true(id != 0);
	mn_ask_cancel(rt, id);
	mt_drain(rt);
	assert_rc(mn_send(rt, kp, k, sizeof k, Q_ANSWER, NULL, 0), 0);
	mt_drain(rt);
	mt_sleep_ms(400);
	assert_int_equal(atomic_load(&s3.n), 0);

	seen s4 = {0};
	assert_rc(mn_ask(rt, kp, k, sizeof k, Q_SILENT, NULL, 0, 60000, on_done,
			 &s4, NULL),
		  0);
	mt_drain(rt);
	mn_runtime_close(rt);
	assert_int_equal(atomic_load(&s4.n), 1);
	assert_int_equal(atomic_load(&s4.rc), MN_ECLOSED);
	mt_assert_no_failures();
}

/* Many askers at once, each its own answer (the actor counts). */
typedef struct many {
	mn_runtime *rt;
	mn_kind *k;
	_Atomic unsigned bad;
} many;

static void ask_many(unsigned i, void *arg)
{
	many *m = arg;
	unsigned char k[MT_KEY_LEN];
	key_of(k, 100 + i % 8);
	for (unsigned j = 0; j < 200; j++) {
		char msg[32], *out = NULL;
		int n = snprintf(msg, sizeof msg, "t%u-%u", i, j);
		size_t len = 0;
		uint32_t type = 0;
		int rc =
		    mn_ask_wait(m->rt, m->k, k, sizeof k, Q_ECHO, msg,
				(size_t)n, 10000, &type, (void **)&out, &len);
		if (rc || type != 100 || len != (size_t)n ||
		    memcmp(out, msg, len) != 0)
			atomic_fetch_add(&m->bad, 1);
		free(out);
	}
}

static void test_many_askers(void **state)
{
	(void)state;
	mn_runtime *rt = open_store(0);
	mn_kind_def dp = asked_def("per", 0);
	many m = {.rt = rt, .k = mt_register(rt, &dp)};
	mt_parallel(4, ask_many, &m);
	assert_int_equal(atomic_load(&m.bad), 0);
	mn_runtime_close(rt);
}

/* An answered ask is an ordinary journaled message: after a restart its
 * replay answers nobody, and the state counts it. */
static void test_replay_answers_nobody(void **state)
{
	(void)state;
	mn_runtime *rt = open_store(0);
	mn_kind_def dp = asked_def("per", 0);
	mn_kind *kp = mt_register(rt, &dp);
	unsigned char k[MT_KEY_LEN];
	key_of(k, 4);
	for (int i = 0; i < 3; i++)
		assert_rc(mn_ask_wait(rt, kp, k, sizeof k, Q_ECHO, "x", 1, 5000,
				      NULL, NULL, NULL),
			  0);
	mn_runtime_close(rt);
	rt = open_store(0);
	kp = mt_register(rt, &dp);
	uint64_t handled = 0;
	void *out = NULL;
	size_t len = 0;
	assert_rc(mn_ask_wait(rt, kp, k, sizeof k, Q_COUNT, NULL, 0, 5000, NULL,
			      &out, &len),
		  0);
	assert_int_equal(len, sizeof handled);
	memcpy(&handled, out, len);
	free(out);
	assert_int_equal(handled, 4);
	assert_int_equal(atomic_load(&replay_answers), 3);
	mt_assert_no_failures();
	mn_runtime_close(rt);
}

/* A live view: describe() of the state between two messages, with its
 * seq; nothing journaled; an evicted actor read back; no actor created. */
static void test_live_view(void **state)
{
	(void)state;
	mn_runtime_opts o = MN_RUNTIME_OPTS_INIT;
	o.workers = 2;
	o.store_path = dir;
	o.durability = MN_DURABILITY_RELAXED;
	o.max_resident = 2;
	mn_runtime *rt;
	assert_rc(mn_runtime_open(&o, &rt), 0);
	mn_kind_def dp = asked_def("per", 0);
	mn_kind *kp = mt_register(rt, &dp);
	unsigned char k[MT_KEY_LEN];
	key_of(k, 5);
	for (int i = 0; i < 3; i++)
		assert_rc(mn_send(rt, kp, k, sizeof k, Q_SILENT, NULL, 0), 0);
	mt_drain(rt);
	uint64_t journaled = mt_stats(rt).journaled, seq = 0;
	char *text = NULL;
	assert_rc(mn_actor_view(rt, kp, k, sizeof k, 5000, &text, &seq), 0);
	assert_string_equal(text, "handled=3");
	assert_int_equal(seq, 3);
	free(text);
	/* Push it out of memory, then read it back. */
	for (uint64_t i = 50; i < 60; i++) {
		unsigned char o2[MT_KEY_LEN];
		key_of(o2, i);
		assert_rc(mn_send(rt, kp, o2, sizeof o2, Q_SILENT, NULL, 0), 0);
	}
	mt_drain(rt);
	for (int t = 0; t < 300 && mt_stats(rt).evictions < 5; t++)
		mt_sleep_ms(10);
	uint64_t before = mt_stats(rt).rehydrations;
	journaled = mt_stats(rt).journaled;
	assert_rc(mn_actor_view(rt, kp, k, sizeof k, 5000, &text, &seq), 0);
	assert_string_equal(text, "handled=3");
	assert_int_equal(seq, 3);
	free(text);
	mt_drain(rt);
	assert_true(mt_stats(rt).rehydrations >= before);
	assert_int_equal(mt_stats(rt).journaled, journaled);
	/* Unknown: nothing created. */
	unsigned char nk[MT_KEY_LEN];
	key_of(nk, 999);
	uint64_t actors = mt_stats(rt).actors;
	assert_rc(mn_actor_view(rt, kp, nk, sizeof nk, 1000, &text, NULL),
		  MN_ENOACTOR);
	assert_null(text);
	assert_int_equal(mt_stats(rt).actors, actors);
	/* A kind without describe(). */
	mn_kind_def dn = asked_def("plain", 0);
	dn.describe = NULL;
	mn_kind *kn = mt_register(rt, &dn);
	assert_rc(mn_actor_view(rt, kn, k, sizeof k, 1000, &text, NULL),
		  MN_ENOTSUP);
	/* The next message continues from seq 3. */
	assert_rc(mn_send(rt, kp, k, sizeof k, Q_SILENT, NULL, 0), 0);
	mt_drain(rt);
	assert_rc(mn_actor_view(rt, kp, k, sizeof k, 5000, &text, &seq), 0);
	assert_string_equal(text, "handled=4");
	assert_int_equal(seq, 4);
	free(text);
	mn_runtime_close(rt);
}

/* Observers see committed outputs: an answer, a send with its
 * recipient; a slow reader loses events and is told how many. */
static void test_observer(void **state)
{
	(void)state;
	mn_runtime *rt = open_store(0);
	mn_kind_def dp = asked_def("per", 0);
	mn_kind *kp = mt_register(rt, &dp);
	unsigned char k[MT_KEY_LEN];
	key_of(k, 6);
	mn_observer *ob, *small;
	assert_rc(mn_observe(rt, kp, k, sizeof k, 0, &ob), 0);
	assert_rc(mn_observe(rt, kp, k, sizeof k, 2, &small), 0);
	mn_observed ev;
	assert_rc(mn_observer_next(ob, 0, &ev), MN_ETIMEDOUT);
	assert_rc(mn_ask_wait(rt, kp, k, sizeof k, Q_ECHO, "ping", 4, 5000,
			      NULL, NULL, NULL),
		  0);
	assert_rc(mn_observer_next(ob, 2000, &ev), 0);
	assert_int_equal(ev.type, MN_OBS_ANSWER);
	assert_int_equal(ev.msg_type, 100);
	assert_int_equal(ev.seq, 1);
	assert_int_equal(ev.len, 4);
	assert_memory_equal(ev.data, "ping", 4);
	assert_rc(mn_send(rt, kp, k, sizeof k, Q_FORWARD, NULL, 0), 0);
	assert_rc(mn_observer_next(ob, 2000, &ev), 0);
	assert_int_equal(ev.type, MN_OBS_SENT);
	assert_int_equal(ev.msg_type, 9);
	assert_int_equal(ev.seq, 2);
	assert_string_equal(ev.to.kind, "per");
	uint64_t to = 0;
	assert_true(mt_key_get(ev.to.key, ev.to.key_len, &to));
	assert_int_equal(to, 77);
	assert_memory_equal(ev.data, "fwd", 3);
	/* Another actor's outputs are not this observer's. */
	unsigned char other[MT_KEY_LEN];
	key_of(other, 8);
	assert_rc(mn_ask_wait(rt, kp, other, sizeof other, Q_ECHO, "x", 1, 5000,
			      NULL, NULL, NULL),
		  0);
	mt_drain(rt);
	assert_rc(mn_observer_next(ob, 50, &ev), MN_ETIMEDOUT);
	/* The small one: 2 answers and 1 send kept, 3 more lost... */
	for (int i = 0; i < 3; i++)
		assert_rc(mn_ask_wait(rt, kp, k, sizeof k, Q_ECHO, "y", 1, 5000,
				      NULL, NULL, NULL),
			  0);
	mt_drain(rt);
	assert_rc(mn_observer_next(small, 0, &ev), 0);
	assert_int_equal(ev.type, MN_OBS_LOST);
	assert_int_equal(ev.lost, 3);
	assert_rc(mn_observer_next(small, 0, &ev), 0);
	assert_int_equal(ev.type, MN_OBS_ANSWER);
	assert_rc(mn_observer_next(small, 0, &ev), 0);
	assert_int_equal(ev.type, MN_OBS_SENT);
	assert_rc(mn_observer_next(small, 0, &ev), MN_ETIMEDOUT);
	mn_observer_close(small);
	mn_observer_close(ob);
	/* One left open is freed by the close. */
	assert_rc(mn_observe(rt, kp, k, sizeof k, 4, &ob), 0);
	mn_runtime_close(rt);
}

/* An event-loop reader: the notify callback runs once per event queued
 * (and per event lost), the reader then polls with a timeout of 0; none
 * after the close. */
typedef struct notified {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned calls;
} notified;

static void on_notify(void *arg)
{
	notified *n = arg;
	pthread_mutex_lock(&n->mu);
	n->calls++;
	pthread_cond_broadcast(&n->cv);
	pthread_mutex_unlock(&n->mu);
}

static unsigned notified_wait(notified *n, unsigned want)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 5;
	pthread_mutex_lock(&n->mu);
	while (n->calls < want &&
	       pthread_cond_timedwait(&n->cv, &n->mu, &ts) == 0)
		;
	unsigned got = n->calls;
	pthread_mutex_unlock(&n->mu);
	return got;
}

/* An ask of Q_ECHO with the one byte of text, answered. */
static void echo_wait(mn_runtime *rt, mn_kind *kp, const unsigned char *k,
		      const char *text)
{
	assert_rc(mn_ask_wait(rt, kp, k, MT_KEY_LEN, Q_ECHO, text, 1, 5000,
			      NULL, NULL, NULL),
		  0);
}

static void test_observer_notify(void **state)
{
	(void)state;
	mn_runtime *rt = open_store(0);
	mn_kind_def dp = asked_def("per", 0);
	mn_kind *kp = mt_register(rt, &dp);
	unsigned char k[MT_KEY_LEN];
	key_of(k, 6);
	notified n = {.calls = 0};
	pthread_mutex_init(&n.mu, NULL);
	pthread_cond_init(&n.cv, NULL);
	mn_observer *ob;
	mn_observed ev;
	assert_rc(mn_observer_notify(NULL, on_notify, &n), MN_EINVAL);
	assert_rc(mn_observe(rt, kp, k, sizeof k, 2, &ob), 0);
	assert_rc(mn_observer_notify(ob, on_notify, &n), 0);
	echo_wait(rt, kp, k, "a");
	assert_int_equal(notified_wait(&n, 1), 1);
	assert_rc(mn_observer_next(ob, 0, &ev), 0);
	assert_int_equal(ev.type, MN_OBS_ANSWER);
	assert_memory_equal(ev.data, "a", 1);
	assert_rc(mn_observer_next(ob, 0, &ev), MN_ETIMEDOUT);
	/* 4 answers into a queue of 2: 4 calls, 2 kept, 2 lost. */
	for (int i = 0; i < 4; i++)
		echo_wait(rt, kp, k, "b");
	mt_drain(rt);
	assert_int_equal(notified_wait(&n, 5), 5);
	assert_rc(mn_observer_next(ob, 0, &ev), 0);
	assert_int_equal(ev.type, MN_OBS_LOST);
	assert_int_equal(ev.lost, 2);
	assert_rc(mn_observer_next(ob, 0, &ev), 0);
	assert_rc(mn_observer_next(ob, 0, &ev), 0);
	assert_rc(mn_observer_next(ob, 0, &ev), MN_ETIMEDOUT);
	/* Unset: no more calls. */
	assert_rc(mn_observer_notify(ob, NULL, NULL), 0);
	echo_wait(rt, kp, k, "c");
	mt_drain(rt);
	assert_rc(mn_observer_next(ob, 2000, &ev), 0);
	assert_int_equal(notified_wait(&n, 5), 5);
	assert_rc(mn_observer_notify(ob, on_notify, &n), 0);
	mn_observer_close(ob);
	echo_wait(rt, kp, k, "d");
	mt_drain(rt);
	assert_int_equal(notified_wait(&n, 5), 5);
	mn_runtime_close(rt);
	pthread_cond_destroy(&n.cv);
	pthread_mutex_destroy(&n.mu);
}

int main(void)
{
	mt_init("ask");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_ask_wait_round_trip, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_answer_after_commit, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_timeout_token_cancel_close,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_many_askers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_replay_answers_nobody, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_live_view, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_observer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_observer_notify, setup,
					    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
