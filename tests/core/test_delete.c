/*
 * test_delete.c - deleting an actor from a live runtime: mn_actor_delete
 * (core/persist.c X1-X5, docs/semantics.md "Deleting an actor").
 *
 * Kinds: "agent" (implicit) and "fixed" (MN_KIND_EXPLICIT), state a count
 * and a snapshot every 2 messages; T_TIMER sets a timer due after the
 * payload's milliseconds, T_SLOW blocks its handler until the test lets it
 * go. Handled messages are counted per key (first byte 'a'..'z') outside
 * replay, with the seq of the last one; failure events are counted by
 * type. After a deletion nothing of the actor is in any database (read
 * with the store's own API), `mnemo verify` says healthy, a later message
 * creates a fresh actor (seq 1), and a crash mid-deletion leaves each
 * actor whole or gone.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lmdb.h>

#include "tests/support/support.h"

enum { T_NOTE = 1, T_TIMER = 2, T_SLOW = 3 };

/* A payload to look for in the data file. */
#define SECRET "erasure-me-7f3a9c-please"

static mn_kind *agent_kind, *fixed_kind;
static char base[256];
static mt_tool_res res;
#define run(...)	       mt_tool(&res, __VA_ARGS__)
#define expect_exit(want)      mt_expect_exit(&res, (want))
#define expect_in(hay, needle) mt_expect_in((hay), (needle))

typedef struct agent_state {
	uint64_t count;
} agent_state;

static _Atomic uint64_t handled[26], last_seq[26], timers_seen[26];
static _Atomic int slow_in, slow_go;
static _Atomic uint64_t events[8], dropped_for[26];

static unsigned key_idx(const void *key)
{
	return (unsigned)(((const unsigned char *)key)[0] - 'a') % 26;
}

static void on_event(void *arg, const mn_event *ev)
{
	(void)arg;
	if (ev->type > 0 && ev->type < 8)
		atomic_fetch_add(&events[ev->type], 1);
	if (ev->type == MN_EVENT_DROPPED && ev->addr.key_len)
		atomic_fetch_add(&dropped_for[key_idx(ev->addr.key)], 1);
}

/* init() of agent/v fails while set: its stored message stays stored. */
static _Atomic int fail_v;

static int agent_init(mn_ctx *ctx, void **state)
{
	mn_addr self;
	mn_ctx_self(ctx, &self);
	if (atomic_load(&fail_v) && ((const char *)self.key)[0] == 'v')
		return MN_EINVAL;
	*state = calloc(1, sizeof(agent_state));
	return *state ? 0 : MN_ENOMEM;
}

static int agent_snapshot(const void *state, mn_buf *out)
{
	return mn_buf_append(out, state, sizeof(agent_state));
}

static int agent_restore(mn_ctx *ctx, const void *bytes, size_t len,
			 void **state)
{
	(void)ctx;
	if (len != sizeof(agent_state))
		return MN_ECORRUPT;
	agent_state *s = malloc(sizeof *s);
	if (!s)
		return MN_ENOMEM;
	memcpy(s, bytes, len);
	*state = s;
	return 0;
}

static int agent_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	agent_state *s = state;
	mn_addr self;
	s->count++;
	mn_ctx_self(ctx, &self);
	unsigned i = key_idx(self.key);
	if (mn_ctx_replaying(ctx))
		return 0;
	atomic_fetch_add(&handled[i], 1);
	atomic_store(&last_seq[i], mn_ctx_seq(ctx));
	if (msg->flags & MN_MSG_TIMER)
		atomic_fetch_add(&timers_seen[i], 1);
	if (msg->type == T_TIMER) {
		uint64_t ms = 0;
		if (msg->len == 8)
			ms = mt_get_u64(msg->payload);
		return mn_ctx_after(ctx, ms, T_NOTE, "tick", 4, NULL);
	}
	if (msg->type == T_SLOW) {
		atomic_store(&slow_in, 1);
		for (int n = 0; !atomic_load(&slow_go) && n < 10000; n++)
			mt_sleep_ms(1);
	}
	if (msg->type == T_NOTE && msg->len == 3 &&
	    memcmp(msg->payload, "del", 3) == 0)
		/* From inside a handler: refused, it would wait for itself. */
		MT_CHECK(mn_actor_delete(mn_ctx_runtime(ctx), "agent", "q") ==
			 MN_EINVAL);
	return 0;
}

/* A volatile kind whose handler waits like T_SLOW on every message. */
static int sink_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	(void)ctx;
	(void)state;
	(void)msg;
	atomic_store(&slow_in, 1);
	for (int n = 0; !atomic_load(&slow_go) && n < 10000; n++)
		mt_sleep_ms(1);
	return 0;
}

static void counters_reset(void)
{
	for (int i = 0; i < 26; i++) {
		atomic_store(&handled[i], 0);
		atomic_store(&last_seq[i], 0);
		atomic_store(&timers_seen[i], 0);
		atomic_store(&dropped_for[i], 0);
	}
	for (int i = 0; i < 8; i++)
		atomic_store(&events[i], 0);
	atomic_store(&slow_in, 0);
	atomic_store(&slow_go, 0);
}

static mn_runtime *open_rt(const char *dir)
{
	mn_runtime_opts o = {.workers = 2,
			     .store_path = dir,
			     .durability = MN_DURABILITY_RELAXED,
			     .on_event = on_event,
			     .event_rate = 1000000};
	mn_kind_def agent = {.name = "agent",
			     .init = agent_init,
			     .handle = agent_handle,
			     .snapshot = agent_snapshot,
			     .restore = agent_restore,
			     .free = free,
			     .snapshot_every = 2};
	mn_kind_def fixed = agent;
	fixed.name = "fixed";
	fixed.flags = MN_KIND_EXPLICIT;
	mn_runtime *rt = NULL;
	int rc = mn_runtime_open(&o, &rt);
	if (rc)
		fail_msg("mn_runtime_open %s: %s (%s)", dir, mn_err_name(rc),
			 mn_errdetail());
	assert_rc(mn_kind_register(rt, &agent, &agent_kind), 0);
	assert_rc(mn_kind_register(rt, &fixed, &fixed_kind), 0);
	return rt;
}

static void send_n(mn_runtime *rt, const mn_kind *k, const char *key,
		   unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		char p[32];
		int len = snprintf(p, sizeof p, "%s-%u", key, i);
		assert_rc(
		    mn_send(rt, k, key, strlen(key), T_NOTE, p, (size_t)len),
		    0);
	}
}

static void fresh_dir(char *dir, size_t cap, const char *name)
{
	char cmd[700];
	snprintf(dir, cap, "%s/%s", base, name);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

/* The store id of kind/key, or 0 if the store has no such actor. */
#define actor_id(dir, kind, key) mt_store_actor_id((dir), (kind), (key))

#define expect_gone(dir, id, key)                                              \
	mt_store_expect_gone((dir), "agent", (id), (key))

/* Whether the file holds the bytes of needle. */
static bool file_has(const char *path, const char *needle)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *b = malloc((size_t)n + 1);
	assert_non_null(b);
	assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	bool found = memmem(b, (size_t)n, needle, strlen(needle)) != NULL;
	free(b);
	return found;
}

/* Delete, reopen: the address is unknown to the tool, a later message
 * creates a fresh actor, an explicit kind's is MN_ENOACTOR, and the
 * other actors are untouched. */
static void test_delete_then_reopen(void **unused)
{
	(void)unused;
	char dir[300];
	counters_reset();
	fresh_dir(dir, sizeof dir, "reopen");
	mn_runtime *rt = open_rt(dir);
	send_n(rt, agent_kind, "a", 7);
	send_n(rt, agent_kind, "b", 3);
	assert_rc(mn_spawn(rt, fixed_kind, "e", 1), 0);
	send_n(rt, fixed_kind, "e", 2);
	mt_drain(rt);
	uint64_t aid = actor_id(dir, "agent", "a");
	assert_true(aid != 0);
	assert_rc(mn_actor_delete(rt, "agent", "a"), 0);
	assert_rc(mn_actor_delete(rt, "fixed", "e"), 0);
	/* At once: unknown, and a fresh actor from the next message. */
	assert_rc(mn_actor_delete(rt, "agent", "a"), MN_ENOACTOR);
	assert_rc(mn_send(rt, fixed_kind, "e", 1, T_NOTE, "x", 1), MN_ENOACTOR);
	mn_runtime_close(rt);

	run("dump agent/a '%s'", dir);
	expect_exit(1);
	run("ls '%s'", dir);
	expect_exit(0);
	mt_expect_not_in(res.out, "agent/a ");
	mt_expect_not_in(res.out, "fixed/e");
	expect_in(res.out, "agent/b");
	run("verify '%s'", dir);
	expect_exit(0);
	expect_gone(dir, aid, "a");

	counters_reset();
	rt = open_rt(dir);
	assert_rc(mn_send(rt, fixed_kind, "e", 1, T_NOTE, "x", 1), MN_ENOACTOR);
	send_n(rt, agent_kind, "a", 1);
	send_n(rt, agent_kind, "b", 1);
	mt_drain(rt);
	mn_runtime_close(rt);
	assert_int_equal(atomic_load(&last_seq[0]), 1);
	assert_int_equal(atomic_load(&last_seq[1]), 4);
	assert_true(actor_id(dir, "agent", "a") != aid);
}

/* Argument and state errors. */
static void test_delete_errors(void **unused)
{
	(void)unused;
	char dir[300];
	counters_reset();
	fresh_dir(dir, sizeof dir, "errors");
	mn_runtime *rt = open_rt(dir);
	char long_key[MN_KEY_MAX + 2];
	memset(long_key, 'k', sizeof long_key - 1);
	long_key[sizeof long_key - 1] = 0;
	assert_rc(mn_actor_delete(NULL, "agent", "a"), MN_EINVAL);
	assert_rc(mn_actor_delete(rt, NULL, "a"), MN_EINVAL);
	assert_rc(mn_actor_delete(rt, "agent", NULL), MN_EKEY);
	assert_rc(mn_actor_delete(rt, "agent", ""), MN_EKEY);
	assert_rc(mn_actor_delete(rt, "agent", long_key), MN_EKEY);
	assert_rc(mn_actor_delete(rt, "nokind", "a"), MN_ENOKIND);
	assert_rc(mn_actor_delete(rt, "agent", "nobody"), MN_ENOACTOR);
	/* From a handler: MN_EINVAL (checked in the handler). */
	assert_rc(mn_send(rt, agent_kind, "q", 1, T_NOTE, "del", 3), 0);
	mt_drain(rt);
	mt_assert_no_failures();
	mn_runtime_shutdown(rt);
	assert_rc(mn_actor_delete(rt, "agent", "q"), MN_ECLOSED);
	mn_runtime_close(rt);

	/* Without a store, and for a volatile kind. */
	rt = mt_open(1, 0);
	mn_kind_def v = {.name = "agent",
			 .init = agent_init,
			 .handle = agent_handle,
			 .free = free};
	mn_kind *vk;
	assert_rc(mn_kind_register(rt, &v, &vk), 0);
	assert_rc(mn_send(rt, vk, "a", 1, T_NOTE, "x", 1), 0);
	mt_drain(rt);
	assert_rc(mn_actor_delete(rt, "agent", "a"), MN_ENOTSUP);
	mn_runtime_close(rt);
}

typedef struct deleter {
	mn_runtime *rt;
	const char *kind, *key;
	_Atomic int rc, done;
} deleter;

static void *delete_thread(void *arg)
{
	deleter *d = arg;
	atomic_store(&d->rc, mn_actor_delete(d->rt, d->kind, d->key));
	atomic_store(&d->done, 1);
	return NULL;
}

/* Messages queued behind a slow handler are dropped, each reported;
 * sends while the deletion runs are refused; the message being handled
 * completes first. */
static void test_delete_drops_queued(void **unused)
{
	(void)unused;
	char dir[300];
	counters_reset();
	fresh_dir(dir, sizeof dir, "queued");
	mn_runtime *rt = open_rt(dir);
	send_n(rt, agent_kind, "s", 3);
	mt_drain(rt);
	assert_rc(mn_send(rt, agent_kind, "s", 1, T_SLOW, NULL, 0), 0);
	while (!atomic_load(&slow_in))
		mt_sleep_ms(1);
	send_n(rt, agent_kind, "s", 20); /* queued behind the slow one */
	deleter d = {.rt = rt, .kind = "agent", .key = "s"};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, delete_thread, &d), 0);
	/* Refused once the deletion has begun. */
	int rc = 0;
	for (int n = 0; n < 5000 && rc != MN_ENOACTOR; n++) {
		rc = mn_send(rt, agent_kind, "s", 1, T_NOTE, "late", 4);
		if (rc == 0)
			mt_sleep_ms(1);
	}
	assert_rc(rc, MN_ENOACTOR);
	expect_in(mn_errdetail(), "being deleted");
	assert_false(atomic_load(&d.done)); /* waits for the slow handler */
	/* Messages that got in before the refusal were queued: dropped. */
	atomic_store(&slow_go, 1);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_rc(atomic_load(&d.rc), 0);
	mt_drain(rt);
	/* 3 + the slow one handled; the 20 (and any late one queued before
	 * the refusal) dropped, each reported. */
	assert_int_equal(atomic_load(&handled['s' - 'a']), 4);
	assert_true(atomic_load(&dropped_for['s' - 'a']) >= 20);
	mn_runtime_stats st = mt_stats(rt);
	assert_int_equal(st.sent, st.processed);
	/* After: a fresh actor. */
	send_n(rt, agent_kind, "s", 1);
	mt_drain(rt);
	assert_int_equal(atomic_load(&last_seq['s' - 'a']), 1);
	mn_runtime_close(rt);
	run("verify '%s'", dir);
	expect_exit(0);
}

/* A timer that fired and waits in the mailbox behind a slow message is
 * dropped (its fired-set slot goes after the first transaction, X4). */
static void test_delete_drops_fired_timer(void **unused)
{
	(void)unused;
	char dir[300];
	unsigned char ms[8];
	counters_reset();
	fresh_dir(dir, sizeof dir, "fired");
	mn_runtime *rt = open_rt(dir);
	mt_put_u64(ms, 30);
	assert_rc(mn_send(rt, agent_kind, "w", 1, T_TIMER, ms, 8), 0);
	assert_rc(mn_send(rt, agent_kind, "w", 1, T_SLOW, NULL, 0), 0);
	while (!atomic_load(&slow_in))
		mt_sleep_ms(1);
	mt_sleep_ms(150); /* the timer fires: queued behind T_SLOW */
	mn_runtime_stats st = mt_stats(rt);
	assert_int_equal(st.timers_fired, 1);
	deleter d = {.rt = rt, .kind = "agent", .key = "w"};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, delete_thread, &d), 0);
	while (mn_send(rt, agent_kind, "w", 1, T_NOTE, "x", 1) == 0)
		mt_sleep_ms(1);
	atomic_store(&slow_go, 1);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_rc(atomic_load(&d.rc), 0);
	mt_drain(rt);
	assert_int_equal(atomic_load(&timers_seen['w' - 'a']), 0);
	assert_true(atomic_load(&dropped_for['w' - 'a']) >= 1);
	mt_sleep_ms(50);
	st = mt_stats(rt);
	assert_int_equal(st.timers_fired, 1); /* never again */
	mn_runtime_close(rt);
	run("verify '%s'", dir);
	expect_exit(0);
}

/* Messages parked at a gated kind (stored messages still to redeliver
 * after the open, G1-G3) are dropped and reported. The gate is held shut
 * by pacing: 70,000 messages in flight to a blocked volatile actor. */
static void test_delete_drops_parked(void **unused)
{
	(void)unused;
	char dir[300];
	counters_reset();
	fresh_dir(dir, sizeof dir, "parked");
	mn_runtime *rt = open_rt(dir);
	send_n(rt, agent_kind, "p", 2);
	mt_drain(rt);
	atomic_store(&fail_v, 1); /* its durable message stays stored */
	assert_rc(mn_send_durable(rt, agent_kind, "v", 1, T_NOTE, "v", 1), 0);
	mt_drain(rt);
	mn_runtime_close(rt);

	counters_reset();
	mn_runtime_opts o = {.workers = 2,
			     .store_path = dir,
			     .durability = MN_DURABILITY_RELAXED,
			     .on_event = on_event,
			     .event_rate = 1000000};
	assert_rc(mn_runtime_open(&o, &rt), 0);
	mn_kind_def sink = {.name = "sink",
			    .flags = MN_KIND_VOLATILE,
			    .init = agent_init,
			    .handle = sink_handle,
			    .free = free};
	mn_kind *sk;
	assert_rc(mn_kind_register(rt, &sink, &sk), 0);
	/* sink has nothing stored: its gate opens at the next tick. */
	for (int n = 0; n < 2000 && mn_send(rt, sk, "s", 1, 0, NULL, 0) == 0 &&
			!atomic_load(&slow_in);
	     n++)
		mt_sleep_ms(1);
	assert_true(atomic_load(&slow_in));
	for (int i = 0; i < 70000; i++)
		assert_rc(mn_send(rt, sk, "s", 1, 0, NULL, 0), 0);
	mn_kind_def agent = {.name = "agent",
			     .init = agent_init,
			     .handle = agent_handle,
			     .snapshot = agent_snapshot,
			     .restore = agent_restore,
			     .free = free,
			     .snapshot_every = 2};
	assert_rc(mn_kind_register(rt, &agent, &agent_kind), 0);
	mt_sleep_ms(30); /* a few ticks: the redelivery stays paced */
	send_n(rt, agent_kind, "p", 5); /* parked behind v's stored one */
	assert_int_equal(atomic_load(&handled['p' - 'a']), 0);
	uint64_t pid = actor_id(dir, "agent", "p");
	assert_rc(mn_actor_delete(rt, "agent", "p"), 0);
	assert_int_equal(atomic_load(&dropped_for['p' - 'a']), 5);
	atomic_store(&slow_go, 1);
	atomic_store(&fail_v, 0);
	mt_drain(rt);
	assert_int_equal(atomic_load(&handled['p' - 'a']), 0);
	assert_int_equal(atomic_load(&handled['v' - 'a']), 1);
	mn_runtime_stats st = mt_stats(rt);
	assert_int_equal(st.sent, st.processed);
	send_n(rt, agent_kind, "p", 1);
	mt_drain(rt);
	assert_int_equal(atomic_load(&last_seq['p' - 'a']), 1);
	mn_runtime_close(rt);
	run("verify '%s'", dir);
	expect_exit(0);
	(void)pid;
}

/* Timers of a deleted actor never fire: one pending in the store, and
 * after a reopen. */
static void test_delete_timers(void **unused)
{
	(void)unused;
	char dir[300];
	unsigned char ms[8];
	counters_reset();
	fresh_dir(dir, sizeof dir, "timers");
	mn_runtime *rt = open_rt(dir);
	mt_put_u64(ms, 300);
	assert_rc(mn_send(rt, agent_kind, "t", 1, T_TIMER, ms, 8), 0);
	assert_rc(mn_send(rt, agent_kind, "u", 1, T_TIMER, ms, 8), 0);
	mt_drain(rt);
	uint64_t tid = actor_id(dir, "agent", "t");
	assert_rc(mn_actor_delete(rt, "agent", "t"), 0);
	mt_sleep_ms(700);
	mt_drain(rt);
	assert_int_equal(atomic_load(&timers_seen['t' - 'a']), 0);
	assert_int_equal(atomic_load(&timers_seen['u' - 'a']), 1);
	mn_runtime_close(rt);
	expect_gone(dir, tid, "t");
	rt = open_rt(dir);
	mt_sleep_ms(50);
	mt_drain(rt);
	mn_runtime_close(rt);
	assert_int_equal(atomic_load(&timers_seen['t' - 'a']), 0);
	assert_int_equal(atomic_load(&handled['t' - 'a']), 1);
}

/* A parent with a live fork: MN_EBUSY, untouched; its fork deleted, it
 * goes. */
static void test_delete_fork(void **unused)
{
	(void)unused;
	char dir[300];
	counters_reset();
	fresh_dir(dir, sizeof dir, "fork");
	mn_runtime *rt = open_rt(dir);
	send_n(rt, agent_kind, "p", 6);
	mt_drain(rt);
	mn_runtime_close(rt);
	run("fork agent/p@4 f '%s'", dir);
	expect_exit(0);
	counters_reset();
	rt = open_rt(dir);
	send_n(rt, agent_kind, "f", 1);
	mt_drain(rt);
	assert_rc(mn_actor_delete(rt, "agent", "p"), MN_EBUSY);
	expect_in(mn_errdetail(), "live fork");
	send_n(rt, agent_kind, "p", 1);
	mt_drain(rt);
	assert_int_equal(atomic_load(&last_seq['p' - 'a']), 7);
	uint64_t pid = actor_id(dir, "agent", "p");
	assert_rc(mn_actor_delete(rt, "agent", "f"), 0);
	assert_rc(mn_actor_delete(rt, "agent", "p"), 0);
	mn_runtime_close(rt);
	run("verify '%s'", dir);
	expect_exit(0);
	expect_gone(dir, pid, "p");
}

/* What stays on disk (docs/semantics.md): the deleted payload's bytes are
 * in no record, may stay in LMDB's free pages, and are gone from a
 * compacting copy. */
static void test_delete_bytes(void **unused)
{
	(void)unused;
	char dir[300], path[600], copy[400];
	counters_reset();
	fresh_dir(dir, sizeof dir, "bytes");
	mn_runtime *rt = open_rt(dir);
	for (int i = 0; i < 5; i++)
		assert_rc(mn_send_durable(rt, agent_kind, "x", 1, T_NOTE,
					  SECRET, strlen(SECRET)),
			  0);
	send_n(rt, agent_kind, "y", 3);
	mt_drain(rt);
	snprintf(path, sizeof path, "%s/data.mdb", dir);
	assert_true(file_has(path, SECRET));
	assert_rc(mn_actor_delete(rt, "agent", "x"), 0);
	mn_runtime_close(rt);
	run("dump --json agent/y '%s'", dir);
	expect_exit(0);
	mt_expect_not_in(res.out, SECRET);
	/* A compacting copy (mdb_copy -c) writes live pages only. */
	snprintf(copy, sizeof copy, "%s/copy", base);
	char cmd[900];
	snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", copy, copy);
	assert_int_equal(system(cmd), 0);
	MDB_env *env;
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 32), 0);
	assert_int_equal(mdb_env_open(env, dir, MDB_RDONLY, 0644), 0);
	assert_int_equal(mdb_env_copy2(env, copy, MDB_CP_COMPACT), 0);
	mdb_env_close(env);
	snprintf(path, sizeof path, "%s/data.mdb", copy);
	assert_false(file_has(path, SECRET));
	run("verify '%s'", copy);
	expect_exit(0);
}

/* Deletions beside sends from other threads to the same addresses: every
 * send is accepted or refused with MN_ENOACTOR, nothing is lost track of
 * (sent == processed), and the store stays healthy. */
typedef struct churn {
	mn_runtime *rt;
	_Atomic int stop;
	_Atomic uint64_t ok, refused;
} churn;

static void churn_send(unsigned i, void *arg)
{
	churn *c = arg;
	mt_rng r;
	mt_rng_init(&r, 100 + i);
	while (!atomic_load(&c->stop)) {
		char key[2] = {(char)('a' + mt_rng_below(&r, 6)), 0};
		/* Durable sends every other time: the backpressure that
		 * keeps the writer's queue short (a fire-and-forget flood
		 * would leave the deletion waiting behind it). */
		bool durable = mt_rng_below(&r, 2);
		int rc = durable ? mn_send_durable(c->rt, agent_kind, key, 1,
						   T_NOTE, "c", 1)
				 : mn_send(c->rt, agent_kind, key, 1, T_NOTE,
					   "c", 1);
		if (rc == 0)
			atomic_fetch_add(&c->ok, 1);
		else if (rc == MN_ENOACTOR)
			atomic_fetch_add(&c->refused, 1);
		else
			MT_CHECKF(0, "send: %s", mn_err_name(rc));
	}
}

static void churn_delete(unsigned i, void *arg)
{
	churn *c = arg;
	if (i != 0) {
		churn_send(i, arg);
		return;
	}
	mt_rng r;
	mt_rng_init(&r, 7);
	size_t rounds = mt_scaled(60, 10);
	for (size_t n = 0; n < rounds; n++) {
		char key[2] = {(char)('a' + mt_rng_below(&r, 6)), 0};
		int rc = mn_actor_delete(c->rt, "agent", key);
		MT_CHECKF(rc == 0 || rc == MN_ENOACTOR, "delete %s: %s", key,
			  mn_err_name(rc));
		mt_sleep_ms(1);
	}
	atomic_store(&c->stop, 1);
}

static void test_delete_concurrent(void **unused)
{
	(void)unused;
	char dir[300];
	counters_reset();
	fresh_dir(dir, sizeof dir, "concurrent");
	mn_runtime *rt = open_rt(dir);
	churn c = {.rt = rt};
	mt_parallel(3, churn_delete, &c);
	mt_drain(rt);
	mt_assert_no_failures();
	mn_runtime_stats st = mt_stats(rt);
	assert_int_equal(st.sent, st.processed);
	assert_true(atomic_load(&c.ok) > 0);
	mn_runtime_close(rt);
	run("verify '%s'", dir);
	expect_exit(0);
}

/* SIGKILL at a seeded point while a child deletes many actors: each actor
 * is whole or gone, every deletion the child saw return 0 is done, and a
 * marked one is finished by the next open. */
/* Histories of 2,500 entries: three deletion steps each (1,024 a step). */
#define CRASH_ACTORS 12
#define CRASH_MSGS   2500

static void test_delete_crash(void **unused)
{
	(void)unused;
	char dir[300];
	counters_reset();
	fresh_dir(dir, sizeof dir, "crash");
	mn_runtime *rt = open_rt(dir);
	for (int i = 0; i < CRASH_ACTORS; i++) {
		char key[2] = {(char)('a' + i), 0};
		send_n(rt, agent_kind, key, CRASH_MSGS);
	}
	mt_drain(rt);
	mn_runtime_close(rt);
	uint64_t ids[CRASH_ACTORS];
	for (int i = 0; i < CRASH_ACTORS; i++) {
		char key[2] = {(char)('a' + i), 0};
		ids[i] = actor_id(dir, "agent", key);
	}

	mt_rng r;
	mt_rng_init(&r, 11);
	unsigned after = (unsigned)mt_rng_below(&r, CRASH_ACTORS / 2);
	unsigned delay_us = (unsigned)mt_rng_below(&r, 6000);
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		mn_runtime *crt = open_rt(dir);
		for (int i = 0; i < CRASH_ACTORS; i++) {
			char key[2] = {(char)('a' + i), 0};
			if (mn_actor_delete(crt, "agent", key))
				_exit(3);
			unsigned char b = (unsigned char)i;
			if (write(fds[1], &b, 1) != 1)
				_exit(4);
		}
		mt_sleep_ms(10000);
		_exit(5);
	}
	close(fds[1]);
	unsigned got = 0;
	unsigned char b;
	while (got <= after && read(fds[0], &b, 1) == 1)
		got++;
	usleep(delay_us);
	kill(pid, SIGKILL);
	while (read(fds[0], &b, 1) == 1)
		got++; /* returned before the kill landed */
	close(fds[0]);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	uint64_t mids[CRASH_ACTORS];
	size_t marked = mt_store_delete_marked(dir, mids, CRASH_ACTORS);
	print_message("killed after %u of %u deletions returned (%u us), "
		      "%zu marked and unfinished\n",
		      got, CRASH_ACTORS, delay_us, marked);

	/* The next open finishes a marked deletion. */
	rt = open_rt(dir);
	mn_runtime_close(rt);
	run("verify '%s'", dir);
	expect_exit(0);
	unsigned gone = 0;
	for (unsigned i = 0; i < CRASH_ACTORS; i++) {
		char key[2] = {(char)('a' + i), 0};
		if (actor_id(dir, "agent", key) == 0) {
			expect_gone(dir, ids[i], key);
			gone++;
			continue;
		}
		assert_true(i >= got); /* returned 0: must be gone */
		assert_int_equal(mt_store_actor_seq(dir, ids[i]), CRASH_MSGS);
	}
	assert_true(gone >= got);
	/* Whole: the survivors run on from their last seq. */
	counters_reset();
	rt = open_rt(dir);
	for (unsigned i = gone; i < CRASH_ACTORS; i++) {
		char key[2] = {(char)('a' + i), 0};
		send_n(rt, agent_kind, key, 1);
	}
	mt_drain(rt);
	mn_runtime_close(rt);
	for (unsigned i = gone; i < CRASH_ACTORS; i++)
		assert_int_equal(atomic_load(&last_seq[i]), CRASH_MSGS + 1);
}

static int suite_setup(void **state)
{
	(void)state;
	char cmd[600];
	snprintf(base, sizeof base, "/tmp/mnemo-delete-%d", (int)getpid());
	snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", base, base);
	assert_int_equal(system(cmd), 0);
	mt_tool_setup(base);
	return 0;
}

static int suite_teardown(void **state)
{
	(void)state;
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	mt_init("core/delete");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_delete_then_reopen, mt_setup),
	    cmocka_unit_test_setup(test_delete_errors, mt_setup),
	    cmocka_unit_test_setup(test_delete_drops_queued, mt_setup),
	    cmocka_unit_test_setup(test_delete_drops_fired_timer, mt_setup),
	    cmocka_unit_test_setup(test_delete_drops_parked, mt_setup),
	    cmocka_unit_test_setup(test_delete_timers, mt_setup),
	    cmocka_unit_test_setup(test_delete_fork, mt_setup),
	    cmocka_unit_test_setup(test_delete_bytes, mt_setup),
	    cmocka_unit_test_setup(test_delete_concurrent, mt_setup),
	    cmocka_unit_test_setup(test_delete_crash, mt_setup),
	};
	return cmocka_run_group_tests(tests, suite_setup, suite_teardown);
}
