/*
 * test_reminders.c - timer ids across a restart, as an agent uses them: a
 * user's reminder is set with mn_ctx_after, its id kept in the state, and a
 * newer reminder cancels the older one by that id. After a restart the
 * state is rebuilt by replay, which must hand back the id the first run
 * got (docs/semantics.md, State 9), or the old reminder is orphaned and
 * fires beside its replacement.
 *
 * Kind "user" (no snapshot: a restart replays the whole journal): REMIND
 * [delay ms, tag] cancels the pending reminder (if any) and sets a new one
 * carrying tag; the timer's firing records its tag. The test records every
 * id mn_ctx_after returns, first run and replay, per user.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/support/support.h"

enum { T_REMIND = 1, T_FIRE = 2, T_CHECK = 3 };

#define USERS 100

typedef struct user {
	uint64_t pending; /* the reminder to cancel; 0 = none */
	uint64_t fired, last_tag;
} user;

static user got[USERS];
static uint64_t first_id[USERS], replay_id[USERS];
static _Atomic uint64_t checks, replays;

static int user_init(mn_ctx *ctx, void **state)
{
	(void)ctx;
	*state = calloc(1, sizeof(user));
	return *state ? 0 : MN_ENOMEM;
}

static int user_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	user *u = state;
	uint64_t k;
	if (!mt_self_u64(ctx, &k) || k >= USERS)
		return MN_EINVAL;
	switch (msg->type) {
	case T_REMIND: {
		uint64_t delay = mt_get_u64(msg->payload);
		const unsigned char *tag =
		    (const unsigned char *)msg->payload + 8;
		int rc;
		if (u->pending && (rc = mn_ctx_cancel(ctx, u->pending)))
			return rc;
		if ((rc =
			 mn_ctx_after(ctx, delay, T_FIRE, tag, 8, &u->pending)))
			return rc;
		if (mn_ctx_replaying(ctx)) {
			replay_id[k] = u->pending;
			atomic_fetch_add(&replays, 1);
		} else if (mt_get_u64(tag) == 1) {
			first_id[k] = u->pending; /* round 1's */
		}
		return 0;
	}
	case T_FIRE:
		u->fired++;
		u->last_tag = mt_get_u64(msg->payload);
		u->pending = 0;
		return 0;
	case T_CHECK:
		if (!mn_ctx_replaying(ctx)) {
			got[k] = *u;
			atomic_fetch_add(&checks, 1);
		}
		return 0;
	}
	return MN_EINVAL;
}

static mn_kind_def user_def = {
    .name = "user", .init = user_init, .handle = user_handle, .free = free};

static char dir[256];

static mn_runtime *open_rt(mn_kind **k)
{
	mn_runtime_opts o = {.workers = 2,
			     .store_path = dir,
			     .durability = MN_DURABILITY_RELAXED};
	mn_runtime *rt;
	int rc = mn_runtime_open(&o, &rt);
	if (rc)
		fail_msg("open: %s (%s)", mn_err_name(rc), mn_errdetail());
	assert_rc(mn_kind_register(rt, &user_def, k), 0);
	return rt;
}

static void remind_all(mn_runtime *rt, mn_kind *k, uint64_t delay, uint64_t tag)
{
	unsigned char key[MT_KEY_LEN], p[16];
	mt_put_u64(p, delay);
	mt_put_u64(p + 8, tag);
	for (uint64_t u = 0; u < USERS; u++) {
		mt_key_put(key, u);
		assert_rc(
		    mn_send(rt, k, key, sizeof key, T_REMIND, p, sizeof p), 0);
	}
	mt_drain(rt);
}

/* Round 1 sets a reminder 2 s out and closes; round 2 (a new runtime: every
 * user replays round 1 first) replaces it with one 300 ms out. Exactly the
 * second fires for every user, and replay returned the first run's ids. */
static void test_reminder_replaced_after_restart(void **unused)
{
	(void)unused;
	char cmd[600];
	mn_kind *k;
	snprintf(dir, sizeof dir, "/tmp/mnemo-remind-%d", (int)getpid());
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);

	double t0 = mt_now();
	mn_runtime *rt = open_rt(&k);
	remind_all(rt, k, 2000, 1);
	mn_runtime_close(rt);

	rt = open_rt(&k);
	remind_all(rt, k, 300, 2);
	assert_int_equal(atomic_load(&replays), USERS);
	for (int u = 0; u < USERS; u++)
		if (replay_id[u] != first_id[u] || !first_id[u])
			fail_msg("user %d: replay returned timer id %llu, the "
				 "first run %llu",
				 u, (unsigned long long)replay_id[u],
				 (unsigned long long)first_id[u]);
	/* Past both due times (the first reminder's 2 s included). */
	while (mt_now() - t0 < 2.8)
		mt_sleep_ms(50);
	mt_drain(rt);
	unsigned char key[MT_KEY_LEN];
	for (uint64_t u = 0; u < USERS; u++) {
		mt_key_put(key, u);
		assert_rc(mn_send(rt, k, key, sizeof key, T_CHECK, NULL, 0), 0);
	}
	mt_drain(rt);
	assert_int_equal(atomic_load(&checks), USERS);
	unsigned orphans = 0;
	for (int u = 0; u < USERS; u++) {
		if (got[u].fired != 1 || got[u].last_tag != 2)
			orphans++;
	}
	if (orphans)
		fail_msg("%u of %d users saw a reminder other than exactly "
			 "their newest (an orphaned timer fired)",
			 orphans, USERS);
	mn_runtime_close(rt);
	mt_assert_no_failures();
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	mt_init("core/reminders");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_reminder_replaced_after_restart,
				   mt_setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
