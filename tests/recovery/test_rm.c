/*
 * test_rm.c - deleting an actor: `mnemo rm KIND/KEY STORE` and the store's
 * deletion (storage/store.h, "deleting an actor").
 *
 * The store: kind "agent" (state: a count and a hash of every message, a
 * snapshot every 2 messages; a message of type T_TIMER sets a one-hour
 * timer). After `rm`, nothing of the actor is left in any database (scanned
 * with the store's own API), verify says healthy, the other actors are as
 * the model says, and a message to the same address creates a fresh actor
 * (state from init, seq 1). A fork's parent is refused until its fork is
 * deleted. A deletion stopped between its transactions (as a kill leaves
 * it) keeps the actor unreachable, and the next open finishes it.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "recovery/cli.h"
#include "tests/support/support.h"

enum { T_NOTE = 1, T_TIMER = 2 };

static mn_kind *agent_kind;
static char base[256];
static mt_tool_res res;
#define run(...)	       mt_tool(&res, __VA_ARGS__)
#define expect_exit(want)      mt_expect_exit(&res, (want))
#define expect_in(hay, needle) mt_expect_in((hay), (needle))

typedef struct agent_state {
	uint64_t count, hash;
} agent_state;

/* The last message handled per actor key (first byte of the key: 'a'..'z'),
 * outside replay: its seq and the state's count after it. */
static _Atomic uint64_t last_seq[26], last_count[26];

static uint64_t fold(uint64_t h, const void *p, size_t len)
{
	const unsigned char *b = p;
	if (!h)
		h = 14695981039346656037ull;
	for (size_t i = 0; i < len; i++)
		h = (h ^ b[i]) * 1099511628211ull;
	return h;
}

static int agent_init(mn_ctx *ctx, void **state)
{
	(void)ctx;
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
	s->hash = fold(s->hash, msg->payload, msg->len);
	mn_ctx_self(ctx, &self);
	unsigned i =
	    (unsigned)(((const unsigned char *)self.key)[0] - 'a') % 26;
	if (!mn_ctx_replaying(ctx)) {
		atomic_store(&last_seq[i], mn_ctx_seq(ctx));
		atomic_store(&last_count[i], s->count);
	}
	if (msg->type == T_TIMER && !mn_ctx_replaying(ctx))
		return mn_ctx_after(ctx, 3600 * 1000, T_NOTE, "later", 5, NULL);
	return 0;
}

static mn_runtime *open_rt(const char *dir)
{
	mn_runtime_opts o = {.workers = 2,
			     .store_path = dir,
			     .durability = MN_DURABILITY_RELAXED};
	mn_kind_def agent = {.name = "agent",
			     .init = agent_init,
			     .handle = agent_handle,
			     .snapshot = agent_snapshot,
			     .restore = agent_restore,
			     .free = free,
			     .snapshot_every = 2};
	mn_runtime *rt = NULL;
	int rc = mn_runtime_open(&o, &rt);
	if (rc)
		fail_msg("mn_runtime_open %s: %s (%s)", dir, mn_err_name(rc),
			 mn_errdetail());
	assert_rc(mn_kind_register(rt, &agent, &agent_kind), 0);
	return rt;
}

static void send_n(mn_runtime *rt, const char *key, unsigned n, uint32_t type)
{
	for (unsigned i = 0; i < n; i++) {
		char p[32];
		int len = snprintf(p, sizeof p, "%s-%u", key, i);
		assert_rc(mn_send_durable(rt, agent_kind, key, strlen(key),
					  type, p, (size_t)len),
			  0);
	}
}

/* A store: a (n_a messages, one sets a timer), b (5), c (3). */
static void make_store(const char *dir, unsigned n_a)
{
	char cmd[400];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	mn_runtime *rt = open_rt(dir);
	send_n(rt, "a", 1, T_TIMER);
	send_n(rt, "a", n_a - 1, T_NOTE);
	send_n(rt, "b", 5, T_NOTE);
	send_n(rt, "c", 3, T_NOTE);
	mt_drain(rt);
	mn_runtime_close(rt);
}

#define expect_gone(dir, id, key)                                              \
	mt_store_expect_gone((dir), "agent", (id), (key))

static uint64_t actor_id(const char *dir, const char *key)
{
	mn__store *s;
	mn__store_info info;
	mn__actor_meta m;
	uint32_t kind_id;
	assert_rc(mn__store_open(dir, &(mn__store_opts){.read_only = true}, &s,
				 &info),
		  0);
	assert_rc(mn__store_kind_id(s, "agent", &kind_id), 0);
	assert_rc(mn__store_actor_find(s, kind_id, key, strlen(key), &m), 0);
	mn__store_close(s);
	return m.id;
}

/* The other actors as the model says, and a fresh actor at a's address. */
static void expect_after(const char *dir, uint64_t b_count, uint64_t c_count)
{
	memset(last_seq, 0, sizeof last_seq);
	memset(last_count, 0, sizeof last_count);
	mn_runtime *rt = open_rt(dir);
	send_n(rt, "a", 1, T_NOTE);
	send_n(rt, "b", 1, T_NOTE);
	send_n(rt, "c", 1, T_NOTE);
	mt_drain(rt);
	mn_runtime_close(rt);
	assert_int_equal(atomic_load(&last_seq[0]), 1);
	assert_int_equal(atomic_load(&last_count[0]), 1);
	assert_int_equal(atomic_load(&last_seq[1]), b_count + 1);
	assert_int_equal(atomic_load(&last_count[1]), b_count + 1);
	assert_int_equal(atomic_load(&last_seq[2]), c_count + 1);
	assert_int_equal(atomic_load(&last_count[2]), c_count + 1);
	run("verify '%s'", dir);
	expect_exit(0);
}

static void test_rm_offline(void **unused)
{
	(void)unused;
	char dir[300];
	snprintf(base, sizeof base, "/tmp/mnemo-rm-%d", (int)getpid());
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", base, base);
	assert_int_equal(system(cmd), 0);
	mt_tool_setup(base);
	snprintf(dir, sizeof dir, "%s/one", base);
	make_store(dir, 7);
	uint64_t id = actor_id(dir, "a");

	/* Beside a live runtime: refused. */
	mn_runtime *rt = open_rt(dir);
	run("rm agent/a '%s'", dir);
	expect_exit(2);
	mn_runtime_close(rt);

	run("rm agent/a '%s'", dir);
	expect_exit(0);
	expect_in(res.out, "deleted agent/a");
	expect_in(res.out, "7 journal entries");
	expect_in(res.out, "1 timers");
	run("verify '%s'", dir);
	expect_exit(0);
	expect_gone(dir, id, "a");
	run("rm agent/a '%s'", dir);
	expect_exit(1);
	expect_in(res.err, "no actor agent/a");
	expect_after(dir, 5, 3);
}

/* A fork's parent is refused while the fork lives; the fork deleted, the
 * parent goes, and the fork's deletion left the parent's entries. */
static void test_rm_fork(void **unused)
{
	(void)unused;
	char dir[300];
	snprintf(dir, sizeof dir, "%s/fork", base);
	make_store(dir, 6);
	run("fork agent/a@4 z '%s'", dir);
	expect_exit(0);
	run("rm agent/a '%s'", dir);
	expect_exit(1);
	expect_in(res.err, "live fork");
	/* The fork runs two messages of its own. */
	mn_runtime *rt = open_rt(dir);
	send_n(rt, "z", 2, T_NOTE);
	mt_drain(rt);
	mn_runtime_close(rt);
	assert_int_equal(atomic_load(&last_seq[25]), 6);
	uint64_t zid = actor_id(dir, "z"), aid = actor_id(dir, "a");
	run("rm agent/z '%s'", dir);
	expect_exit(0);
	expect_in(res.out, "2 journal entries");
	run("verify '%s'", dir);
	expect_exit(0);
	run("dump agent/a '%s'", dir);
	expect_exit(0);
	run("rm agent/a '%s'", dir);
	expect_exit(0);
	expect_in(res.out, "6 journal entries");
	expect_gone(dir, zid, "z");
	expect_gone(dir, aid, "a");
	expect_after(dir, 5, 3);
}

/* A deletion stopped between its transactions (what a kill leaves: each
 * is atomic): the actor is unreachable, verify says healthy, and the next
 * runtime open finishes it. Then a child killed with SIGKILL in the middle
 * of a long deletion, and `mnemo rm` of another actor finishes it. */
static void test_rm_crash(void **unused)
{
	(void)unused;
	char dir[300];
	snprintf(dir, sizeof dir, "%s/crash", base);
	make_store(dir, 40);
	uint64_t id = actor_id(dir, "a");

	mn__store *s;
	mn__store_info info;
	mn__delete_stats st = {0};
	bool done = false;
	assert_rc(mn__store_open(dir, &(mn__store_opts){0}, &s, &info), 0);
	assert_rc(mn__store_delete_begin(s, id, &st), 0);
	assert_rc(mn__store_delete_step(s, id, 5, &done, &st), 0);
	assert_false(done);
	assert_int_equal(st.entries, 5);
	mn__store_close(s);

	/* Half way: unreachable, reported as a deletion in progress. */
	run("dump agent/a '%s'", dir);
	expect_exit(1);
	run("verify '%s'", dir);
	expect_exit(0);
	/* The open finishes it; a's address is fresh. */
	expect_after(dir, 5, 3);
	/* (that fresh a has id != the old one) */
	assert_true(actor_id(dir, "a") != id);

	/* SIGKILL mid-way through a large history. */
	snprintf(dir, sizeof dir, "%s/kill", base);
	make_store(dir, 3000);
	id = actor_id(dir, "a");
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		mn__store *cs;
		mn__store_info ci;
		mn__delete_stats cst = {0};
		bool cdone = false;
		if (mn__store_open(dir, &(mn__store_opts){0}, &cs, &ci) ||
		    mn__store_delete_begin(cs, id, &cst))
			_exit(3);
		for (int i = 0; !cdone; i++) {
			if (i == 10)
				raise(SIGKILL); /* mid-way: 10 steps of 100 */
			if (mn__store_delete_step(cs, id, 100, &cdone, &cst))
				_exit(4);
		}
		_exit(5);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	run("verify '%s'", dir);
	expect_exit(0);
	run("dump agent/a '%s'", dir);
	expect_exit(1);
	run("rm agent/c '%s'", dir);
	expect_exit(0);
	expect_in(res.err, "finished 1 deletion a crash had interrupted");
	expect_gone(dir, id, "a");
	run("verify '%s'", dir);
	expect_exit(0);
	snprintf(dir, sizeof dir, "rm -rf '%s'", base);
	assert_int_equal(system(dir), 0);
}

int main(void)
{
	mt_init("recovery/rm");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_rm_offline, mt_setup),
	    cmocka_unit_test_setup(test_rm_fork, mt_setup),
	    cmocka_unit_test_setup(test_rm_crash, mt_setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
