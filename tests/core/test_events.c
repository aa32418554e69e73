/*
 * test_events.c - failures made visible: the event hook
 * (mn_runtime_opts.on_event) reports each failure with the actor's address,
 * the code and a reason, rate-limited; a broken actor keeps its reason, and
 * sends to it fail with it in mn_errdetail(); `mnemo ls --broken` and
 * `mnemo stats` report an actor whose history cannot be read.
 *
 * The kind "ev": a counter; type T_FAIL makes handle() return MN_EINVAL;
 * restore() refuses while refuse_restore is set (another program's state,
 * or a bug in the new code).
 */
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/support.h"

enum { T_ADD = 1, T_FAIL = 2, T_BIG = 3 };

static _Atomic int refuse_restore;

static int ev_init(mn_ctx *ctx, void **state)
{
	(void)ctx;
	*state = calloc(1, sizeof(uint64_t));
	return *state ? 0 : MN_ENOMEM;
}

static int ev_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	(void)ctx;
	if (msg->type == T_FAIL)
		return MN_EINVAL;
	++*(uint64_t *)state;
	return 0;
}

static int ev_snapshot(const void *state, mn_buf *out)
{
	return mn_buf_append(out, state, sizeof(uint64_t));
}

static int ev_restore(mn_ctx *ctx, const void *bytes, size_t len, void **state)
{
	(void)ctx;
	if (atomic_load(&refuse_restore) || len != sizeof(uint64_t))
		return MN_EINVAL;
	uint64_t *s = malloc(sizeof *s);
	if (!s)
		return MN_ENOMEM;
	memcpy(s, bytes, sizeof *s);
	*state = s;
	return 0;
}

static const mn_kind_def ev_def = {.name = "ev",
				   .init = ev_init,
				   .handle = ev_handle,
				   .snapshot = ev_snapshot,
				   .restore = ev_restore,
				   .free = free,
				   .snapshot_every = 1};

/* No snapshots: an actor comes back by replaying its whole journal. */
static const mn_kind_def plain_def = {
    .name = "plain", .init = ev_init, .handle = ev_handle, .free = free};

/* ---- the sink ---------------------------------------------------------- */

#define SINK_MAX 512
typedef struct seen {
	int type, err;
	char kind[MN_KIND_NAME_MAX + 1];
	unsigned char key[MN_KEY_MAX];
	size_t key_len;
	uint64_t seq, suppressed;
	char reason[256];
} seen;

static pthread_mutex_t sink_mu = PTHREAD_MUTEX_INITIALIZER;
static seen sink[SINK_MAX];
static size_t nsink;
static uint64_t sink_suppressed;

static void on_event(void *arg, const mn_event *e)
{
	(void)arg;
	pthread_mutex_lock(&sink_mu);
	sink_suppressed += e->suppressed;
	if (nsink < SINK_MAX) {
		seen *s = &sink[nsink++];
		s->type = e->type;
		s->err = e->err;
		snprintf(s->kind, sizeof s->kind, "%s",
			 e->addr.kind ? e->addr.kind : "");
		s->key_len = e->addr.key_len;
		if (e->addr.key_len)
			memcpy(s->key, e->addr.key, e->addr.key_len);
		s->seq = e->seq;
		s->suppressed = e->suppressed;
		snprintf(s->reason, sizeof s->reason, "%s", e->reason);
	}
	pthread_mutex_unlock(&sink_mu);
}

static void sink_reset(void)
{
	pthread_mutex_lock(&sink_mu);
	nsink = 0;
	sink_suppressed = 0;
	pthread_mutex_unlock(&sink_mu);
}

/* The first event of type in the sink for actor (kind, key), or NULL. */
static const seen *sink_find(int type, const char *kind, uint64_t key)
{
	unsigned char kb[MT_KEY_LEN];
	mt_key_put(kb, key);
	for (size_t i = 0; i < nsink; i++)
		if (sink[i].type == type && !strcmp(sink[i].kind, kind) &&
		    sink[i].key_len == sizeof kb &&
		    !memcmp(sink[i].key, kb, sizeof kb))
			return &sink[i];
	return NULL;
}

static size_t sink_count(int type)
{
	size_t n = 0;
	for (size_t i = 0; i < nsink; i++)
		n += sink[i].type == type;
	return n;
}

static void sink_dump(void)
{
	for (size_t i = 0; i < nsink; i++)
		printf("# event %d %s %s len %zu: %s\n", sink[i].type,
		       mn_err_name(sink[i].err), sink[i].kind, sink[i].key_len,
		       sink[i].reason);
}

/* ---- stores ------------------------------------------------------------- */

static char dir[256];

static void fresh(const char *tag)
{
	char cmd[600];
	snprintf(dir, sizeof dir, "/tmp/mnemo-events-%d-%s", (int)getpid(),
		 tag);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	sink_reset();
	atomic_store(&refuse_restore, 0);
}

static void cleanup(void)
{
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static mn_runtime *open_ev(const char *store, bool hook, unsigned rate,
			   mn_kind **ev, mn_kind **plain)
{
	mn_runtime_opts o = {.workers = 2,
			     .store_path = store,
			     .durability = MN_DURABILITY_RELAXED,
			     .on_event = hook ? on_event : NULL,
			     .event_rate = rate};
	mn_runtime *rt = NULL;
	int rc = mn_runtime_open(&o, &rt);
	if (rc)
		fail_msg("open: %s (%s)", mn_err_name(rc), mn_errdetail());
	assert_rc(mn_kind_register(rt, &ev_def, ev), 0);
	if (plain)
		assert_rc(mn_kind_register(rt, &plain_def, plain), 0);
	return rt;
}

static int send_to(mn_runtime *rt, mn_kind *k, uint64_t key, uint32_t type)
{
	unsigned char kb[MT_KEY_LEN];
	mt_key_put(kb, key);
	return mn_send(rt, k, kb, sizeof kb, type, "x", 1);
}

/* ---- tests -------------------------------------------------------------- */

/* A handler error: one event with the actor, the code and the message's
 * sequence number; the next message is handled as usual. */
static void test_handler_error_event(void **unused)
{
	(void)unused;
	mn_kind *k;
	fresh("handler");
	mn_runtime *rt = open_ev(dir, true, 0, &k, NULL);
	assert_rc(send_to(rt, k, 7, T_ADD), 0);
	assert_rc(send_to(rt, k, 7, T_FAIL), 0);
	assert_rc(send_to(rt, k, 7, T_ADD), 0);
	mt_drain(rt);
	mn_runtime_stats st = mt_stats(rt);
	mn_runtime_close(rt);
	pthread_mutex_lock(&sink_mu);
	sink_dump();
	assert_int_equal(nsink, 1);
	const seen *e = sink_find(MN_EVENT_HANDLER_ERROR, "ev", 7);
	assert_non_null(e);
	assert_int_equal(e->err, MN_EINVAL);
	assert_int_equal(e->seq, 2);
	assert_int_equal(e->suppressed, 0);
	assert_non_null(strstr(e->reason, "MN_EINVAL"));
	pthread_mutex_unlock(&sink_mu);
	assert_int_equal(st.handler_errors, 1);
	assert_int_equal(st.events, 1);
	cleanup();
}

/* restore() refuses the snapshot: one BROKEN event naming the actor and
 * the reason, the message dropped (DROPPED); the next sends to it fail
 * with the code, and mn_errdetail() names the actor and the reason. */
static void test_restore_refused_event(void **unused)
{
	(void)unused;
	mn_kind *k;
	fresh("restore");
	mn_runtime *rt = open_ev(dir, true, 0, &k, NULL);
	for (int i = 0; i < 3; i++) {
		assert_rc(send_to(rt, k, 3, T_ADD), 0);
		assert_rc(send_to(rt, k, 4, T_ADD), 0);
	}
	mt_drain(rt);
	mn_runtime_close(rt);

	atomic_store(&refuse_restore, 1);
	sink_reset();
	rt = open_ev(dir, true, 0, &k, NULL);
	assert_rc(send_to(rt, k, 3, T_ADD), 0); /* not known broken yet */
	mt_drain(rt);
	pthread_mutex_lock(&sink_mu);
	sink_dump();
	const seen *b = sink_find(MN_EVENT_BROKEN, "ev", 3);
	assert_non_null(b);
	assert_int_equal(b->err, MN_EHANDLER);
	assert_non_null(strstr(b->reason, "restore() refused the snapshot"));
	assert_non_null(strstr(b->reason, "MN_EINVAL"));
	const seen *d = sink_find(MN_EVENT_DROPPED, "ev", 3);
	assert_non_null(d);
	assert_int_equal(d->err, MN_EHANDLER);
	pthread_mutex_unlock(&sink_mu);
	assert_int_equal(mt_stats(rt).broken, 1);

	/* Now it is known: the send fails and says why. */
	assert_rc(send_to(rt, k, 3, T_ADD), MN_EHANDLER);
	assert_non_null(strstr(mn_errdetail(), "ev/0x"));
	assert_non_null(strstr(mn_errdetail(), "restore() refused"));
	unsigned char kb[MT_KEY_LEN];
	mt_key_put(kb, 3);
	assert_rc(mn_send_durable(rt, k, kb, sizeof kb, T_ADD, "x", 1),
		  MN_EHANDLER);
	assert_non_null(strstr(mn_errdetail(), "restore() refused"));
	/* Other actors are not affected: actor 4 comes back. */
	atomic_store(&refuse_restore, 0);
	assert_rc(send_to(rt, k, 4, T_ADD), 0);
	mt_drain(rt);
	mn_runtime_stats st = mt_stats(rt);
	assert_int_equal(st.broken, 1);
	mn_runtime_close(rt);
	cleanup();
}

/* Flip a byte in the value of log record lsn (through LMDB, so that the
 * damage is in the record, not in LMDB's pages). */
static void damage_log_record(const char *store, uint64_t lsn)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k, v;
	unsigned char kb[8];
	for (int i = 0; i < 8; i++)
		kb[i] = (unsigned char)(lsn >> (56 - 8 * i));
	assert_int_equal(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 32);
	mdb_env_set_mapsize(env, (size_t)1 << 30);
	assert_int_equal(mdb_env_open(env, store, 0, 0640), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "log", 0, &dbi), 0);
	k.mv_size = 8;
	k.mv_data = kb;
	assert_int_equal(mdb_get(txn, dbi, &k, &v), 0);
	unsigned char *copy = malloc(v.mv_size);
	assert_non_null(copy);
	memcpy(copy, v.mv_data, v.mv_size);
	copy[v.mv_size / 2] ^= 0x5a;
	v.mv_data = copy;
	assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	free(copy);
	mdb_env_close(env);
}

/* The tool's scratch directory (mt_scratch_setup) and its last run. */
static char scratch[256];
static mt_tool_res tres;

/* Run the tool of this build (mt_tool) with args; its stdout, then its
 * stderr, in out (cap bytes); returns its exit status. */
static int tool(char *out, size_t cap, const char *args)
{
	int rc = mt_tool(&tres, "%s", args);
	assert_true(snprintf(out, cap, "%s%s", tres.out, tres.err) < (int)cap);
	return rc;
}

/* A corrupt journal record: the actor is reported broken with
 * MN_ECORRUPT and the record named; `mnemo ls --broken` lists it with that
 * reason and `mnemo stats` counts it, offline. */
static void test_corrupt_journal_event(void **unused)
{
	(void)unused;
	mn_kind *k, *plain;
	fresh("journal");
	mn_runtime *rt = open_ev(dir, true, 0, &k, &plain);
	/* plain/5 gets LSNs 1..3, plain/6 LSNs 4..5. */
	for (int i = 0; i < 3; i++)
		assert_rc(send_to(rt, plain, 5, T_ADD), 0);
	mt_drain(rt);
	for (int i = 0; i < 2; i++)
		assert_rc(send_to(rt, plain, 6, T_ADD), 0);
	mt_drain(rt);
	mn_runtime_close(rt);
	damage_log_record(dir, 2);

	/* Offline first: the tool finds it. */
	char out[8192], args[300];
	snprintf(args, sizeof args, "ls --broken '%s'", dir);
	int rc = tool(out, sizeof out, args);
	printf("%s", out);
	assert_int_equal(rc, 1); /* MN__CLI_FAIL: a broken actor */
	assert_non_null(strstr(out, "plain/0x"));
	assert_non_null(strstr(out, "MN_ECORRUPT"));
	assert_non_null(strstr(out, "log record 2"));
	assert_non_null(strstr(out, "1 broken actor"));
	snprintf(args, sizeof args, "stats '%s'", dir);
	rc = tool(out, sizeof out, args);
	printf("%s", out);
	char want[64];
	snprintf(want, sizeof want, "%-20s%d", "broken actors", 1);
	assert_non_null(strstr(out, want));

	rt = open_ev(dir, true, 0, &k, &plain);
	assert_rc(send_to(rt, plain, 5, T_ADD), 0);
	assert_rc(send_to(rt, plain, 6, T_ADD), 0);
	mt_drain(rt);
	pthread_mutex_lock(&sink_mu);
	sink_dump();
	const seen *b = sink_find(MN_EVENT_BROKEN, "plain", 5);
	assert_non_null(b);
	assert_int_equal(b->err, MN_ECORRUPT);
	assert_non_null(strstr(b->reason, "log record 2"));
	assert_null(sink_find(MN_EVENT_BROKEN, "plain", 6));
	pthread_mutex_unlock(&sink_mu);
	assert_rc(send_to(rt, plain, 5, T_ADD), MN_ECORRUPT);
	assert_non_null(strstr(mn_errdetail(), "log record 2"));
	mn_runtime_close(rt);
	cleanup();
}

/* A flood of handler errors: at most about event_rate a second reach the
 * callback, the rest are counted, and the next event delivered reports
 * how many were suppressed. */
static void test_rate_limit(void **unused)
{
	(void)unused;
	mn_kind *k;
	fresh("rate");
	mn_runtime *rt = open_ev(NULL, true, 5, &k, NULL);
	for (int i = 0; i < 200; i++)
		assert_rc(send_to(rt, k, (uint64_t)i % 4, T_FAIL), 0);
	mt_drain(rt);
	mn_runtime_stats st = mt_stats(rt);
	assert_int_equal(st.handler_errors, 200);
	assert_int_equal(st.events + st.events_suppressed, 200);
	assert_true(st.events >= 5);
	assert_true(st.events_suppressed > 0);
	pthread_mutex_lock(&sink_mu);
	assert_int_equal(nsink, st.events);
	pthread_mutex_unlock(&sink_mu);

	mt_sleep_ms(1100); /* a new window */
	assert_rc(send_to(rt, k, 1, T_FAIL), 0);
	mt_drain(rt);
	st = mt_stats(rt);
	pthread_mutex_lock(&sink_mu);
	assert_true(nsink >= 1);
	assert_true(sink[nsink - 1].suppressed > 0);
	/* Every suppressed event was reported by a later one. */
	assert_int_equal(sink_suppressed, st.events_suppressed);
	pthread_mutex_unlock(&sink_mu);
	mn_runtime_close(rt);
}

/* No hook: the same failures count as before, and no event is made. */
static void test_no_hook(void **unused)
{
	(void)unused;
	mn_kind *k;
	fresh("nohook");
	mn_runtime *rt = open_ev(dir, false, 0, &k, NULL);
	for (int i = 0; i < 50; i++)
		assert_rc(send_to(rt, k, 1, T_FAIL), 0);
	assert_rc(send_to(rt, k, 2, T_ADD), 0);
	mt_drain(rt);
	mn_runtime_stats st = mt_stats(rt);
	assert_int_equal(st.handler_errors, 50);
	assert_int_equal(st.events, 0);
	assert_int_equal(st.events_suppressed, 0);
	pthread_mutex_lock(&sink_mu);
	assert_int_equal(nsink, 0);
	pthread_mutex_unlock(&sink_mu);
	mn_runtime_close(rt);
	cleanup();
}

/* A full disk (the store on an 8 MiB tmpfs as root, else a file size
 * limit, in a child): one STORE_ERROR event with the store's code. */
static void test_full_disk_event(void **unused)
{
	(void)unused;
	char cmd[1024];
	fresh("full");
	assert_int_equal(mkdir(dir, 0750), 0);
	snprintf(cmd, sizeof cmd,
		 "mount -t tmpfs -o size=8m tmpfs '%s' 2>/dev/null", dir);
	int mounted = system(cmd) == 0;
	int want = mounted ? MN_ENOSPC : MN_EIO;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit rl = {.rlim_cur = 8 << 20, .rlim_max = 8 << 20};
		signal(SIGXFSZ, SIG_IGN);
		mn_kind *k;
		mn_runtime *rt = open_ev(dir, true, 0, &k, NULL);
		if (!mounted)
			setrlimit(RLIMIT_FSIZE, &rl);
		static unsigned char big[200000];
		unsigned char key[MT_KEY_LEN];
		mt_key_put(key, 1);
		int rc = 0;
		for (uint32_t i = 0; i < 1000 && rc == 0; i++) {
			uint64_t x = 0x9e3779b97f4a7c15ull * (i + 1);
			for (size_t j = 0; j < sizeof big; j++) {
				x ^= x << 13;
				x ^= x >> 7;
				x ^= x << 17;
				big[j] = (unsigned char)x;
			}
			rc = mn_send_durable(rt, k, key, sizeof key, T_BIG, big,
					     sizeof big);
		}
		mn_runtime_close(rt);
		sink_dump();
		int ok = rc == want && sink_count(MN_EVENT_STORE_ERROR) >= 1;
		const seen *e = NULL;
		for (size_t i = 0; i < nsink; i++)
			if (sink[i].type == MN_EVENT_STORE_ERROR)
				e = e ? e : &sink[i];
		ok = ok && e && e->err == want && e->key_len == 0 &&
		     !e->kind[0] && strstr(e->reason, "store");
		fflush(stdout);
		_exit(ok ? 0 : 5);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (mounted) {
		snprintf(cmd, sizeof cmd, "umount '%s'", dir);
		assert_int_equal(system(cmd), 0);
	}
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	cleanup();
}

static int suite_setup(void **state)
{
	(void)state;
	mt_scratch_setup(scratch, sizeof scratch, "events-tool");
	return 0;
}

static int suite_teardown(void **state)
{
	(void)state;
	return mt_scratch_remove(scratch);
}

int main(void)
{
	mt_init("core/events");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_handler_error_event, mt_setup),
	    cmocka_unit_test_setup(test_restore_refused_event, mt_setup),
	    cmocka_unit_test_setup(test_corrupt_journal_event, mt_setup),
	    cmocka_unit_test_setup(test_rate_limit, mt_setup),
	    cmocka_unit_test_setup(test_no_hook, mt_setup),
	    cmocka_unit_test_setup(test_full_disk_event, mt_setup),
	};
	return cmocka_run_group_tests(tests, suite_setup, suite_teardown);
}
