/*
 * test_damage.c - damaged stores never crash the mnemo tool, and a
 * truncated data file is an error for the runtime too.
 *
 * LMDB checksums neither its B-tree pages nor its meta pages: bytes flipped
 * in data.mdb can make it (or our code reading what it returns) fault, and
 * a short file makes the mapping SIGBUS. The store's own frames catch
 * damage inside record values; the open refuses a truncated file
 * (storage/mdbfile.c); the tool runs each store command in a child and
 * reports a crash of it as damage (recovery/mnemo_cli.c). Here:
 *
 *   - a store made by a runtime (one worker, a drain after each message,
 *     so its layout is the same each time: 8 agents with snapshots and
 *     state hashes, 320 messages, one sent by an agent, some large and
 *     incompressible so that they sit on overflow pages, a pending timer),
 *     copied and damaged by flipping bytes at random offsets of data.mdb
 *     (fixed seeds 1..20: seed 1 flips 1 byte, the others 16): `verify`,
 *     `stats` and `dump` are never killed by a signal, exit 0, 1 or 2, and
 *     say why when not 0;
 *   - bytes flipped inside record values only (found through LMDB):
 *     verify exits 1 naming each damaged record;
 *   - a data file cut to half, inside its last page, and below its two
 *     meta pages: the tool and mn_runtime_open report it (MN_ECORRUPT);
 *   - not a store (a regular file, a data.mdb that is not LMDB's:
 *     MN_ENOTSTORE; an LMDB environment of another program, a directory
 *     of other files: MN_ENOTSTORE and left untouched), a newer
 *     format version (seen by the tool; the runtime's case is in
 *     core/test_durable), and addresses with bad keys.
 *
 * The tool is the one of this build (ASan and TSan builds run their own),
 * with the sanitizers told to leave SIGSEGV/SIGBUS/SIGABRT alone so that a
 * crash is a crash; any sanitizer report in its stderr fails the test.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <lmdb.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/support/support.h"

#define AGENTS	 8
#define MESSAGES 320
#define BIG_LEN	 6000 /* incompressible: overflow pages */

enum { T_NOTE = 1, T_BIG = 2, T_TELL = 3 };

static char dir[256], orig[300];
static mn_kind *agent_kind;

static mt_tool_res res;

/* Outcomes of the random runs, for the closing line. */
static unsigned n_exit[3], n_crash_reported;

/* ---- the store's kinds ----------------------------------------------------
 */

typedef struct agent {
	uint64_t count, bytes;
} agent;

static int agent_init(mn_ctx *ctx, void **state)
{
	(void)ctx;
	*state = calloc(1, sizeof(agent));
	return *state ? 0 : MN_ENOMEM;
}

static int agent_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	agent *a = state;
	a->count++;
	a->bytes += msg->len;
	if (msg->type == T_TELL) {
		int rc =
		    mn_ctx_after(ctx, 3600 * 1000, T_NOTE, "later", 5, NULL);
		return rc ? rc
			  : mn_ctx_send(ctx, mn_ctx_kind(ctx), "a1", 2, T_NOTE,
					msg->payload, msg->len);
	}
	return 0;
}

static int agent_snapshot(const void *state, mn_buf *out)
{
	return mn_buf_append(out, state, sizeof(agent));
}

static int agent_restore(mn_ctx *ctx, const void *bytes, size_t len,
			 void **state)
{
	(void)ctx;
	if (len != sizeof(agent))
		return MN_ECORRUPT;
	agent *a = malloc(sizeof *a);
	if (!a)
		return MN_ENOMEM;
	memcpy(a, bytes, len);
	*state = a;
	return 0;
}

static uint64_t agent_hash(const void *state)
{
	const agent *a = state;
	return a->count * 0x9e3779b97f4a7c15ull ^ a->bytes;
}

static void make_store(void)
{
	mn_runtime_opts o = {.workers = 1,
			     .store_path = orig,
			     .durability = MN_DURABILITY_RELAXED};
	mn_kind_def agentdef = {.name = "agent",
				.init = agent_init,
				.handle = agent_handle,
				.snapshot = agent_snapshot,
				.restore = agent_restore,
				.free = free,
				.snapshot_every = 4,
				.hash = agent_hash};
	mn_runtime *rt = NULL;
	int rc = mn_runtime_open(&o, &rt);
	if (rc)
		fail_msg("mn_runtime_open: %s (%s)", mn_err_name(rc),
			 mn_errdetail());
	assert_rc(mn_kind_register(rt, &agentdef, &agent_kind), 0);

	static unsigned char big[BIG_LEN];
	mt_rng r = {.s = 42};
	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (unsigned char)mt_rng_next(&r);
	for (unsigned i = 0; i < MESSAGES; i++) {
		char key[8], text[64];
		int klen = snprintf(key, sizeof key, "a%u", i % AGENTS);
		if (i % 40 == 17) {
			big[0] = (unsigned char)i;
			assert_rc(mn_send(rt, agent_kind, key, (size_t)klen,
					  T_BIG, big, sizeof big),
				  0);
			mt_drain(rt);
			continue;
		}
		uint32_t type = i == 100 ? T_TELL : T_NOTE;
		int n =
		    snprintf(text, sizeof text, "note %u for agent %s", i, key);
		assert_rc(mn_send(rt, agent_kind, key, (size_t)klen, type, text,
				  (size_t)n),
			  0);
		mt_drain(rt);
	}
	mt_drain(rt);
	assert_int_equal(mt_stats(rt).handler_errors, 0);
	mn_runtime_close(rt);
}

static int setup_all(void **state)
{
	(void)state;
	mt_scratch_setup(dir, sizeof dir, "damage");
	snprintf(orig, sizeof orig, "%s/orig", dir);
	make_store();
	return 0;
}

static int teardown_all(void **state)
{
	(void)state;
	return mt_scratch_remove(dir);
}

/* ---- files ----------------------------------------------------------------
 */

/* A fresh copy of the store's data.mdb in dir/name; its path in out. */
static void copy_store(const char *name, char *out, size_t cap)
{
	char from[512], to[512], buf[1 << 16];
	assert_true(snprintf(out, cap, "%s/%s", dir, name) < (int)cap);
	if (mkdir(out, 0700) != 0 && errno != EEXIST)
		fail_msg("mkdir %s: %s", out, strerror(errno));
	snprintf(from, sizeof from, "%s/data.mdb", orig);
	snprintf(to, sizeof to, "%s/data.mdb", out);
	int in = open(from, O_RDONLY),
	    o = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(in >= 0 && o >= 0);
	ssize_t n;
	while ((n = read(in, buf, sizeof buf)) > 0)
		assert_int_equal(write(o, buf, (size_t)n), n);
	assert_int_equal(n, 0);
	close(in);
	close(o);
	snprintf(to, sizeof to, "%s/lock.mdb", out);
	unlink(to); /* LMDB makes a new one */
}

static uint64_t data_size(const char *store)
{
	char p[512];
	struct stat st;
	snprintf(p, sizeof p, "%s/data.mdb", store);
	assert_int_equal(stat(p, &st), 0);
	return (uint64_t)st.st_size;
}

static void cut(const char *store, uint64_t size)
{
	char p[512];
	snprintf(p, sizeof p, "%s/data.mdb", store);
	assert_int_equal(truncate(p, (off_t)size), 0);
}

static uint64_t page_size(void)
{
	MDB_env *env;
	MDB_stat ms;
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_open(env, orig, MDB_RDONLY, 0640), 0);
	assert_int_equal(mdb_env_stat(env, &ms), 0);
	mdb_env_close(env);
	return ms.ms_psize;
}

/* ---- running the tool -----------------------------------------------------
 */

#define run(...)	  mt_tool(&res, __VA_ARGS__)
#define expect_exit(want) mt_expect_exit(&res, (want))
#define expect_in(h, n)	  mt_expect_in((h), (n))

/*
 * The tool on a damaged store: not killed by a signal, exit 0, 1 or 2, a
 * reason given when not 0 (on stderr; verify's problems are on stdout),
 * no sanitizer report. what says which damage, for the failure message.
 */
static void expect_survived(const char *cmd, const char *what)
{
	if (res.status > 2)
		fail_msg("%s: `mnemo %s` exit %d (%s)\nstderr:\n%s", what, cmd,
			 res.status,
			 res.status > 128 ? "killed by a signal" : "bad code",
			 res.err);
	if (strstr(res.err, "Sanitizer") || strstr(res.err, "runtime error"))
		fail_msg("%s: `mnemo %s`: sanitizer report:\n%s", what, cmd,
			 res.err);
	if (res.status != 0 && !res.err[0] &&
	    !(strcmp(cmd, "verify") == 0 && strstr(res.out, "DAMAGED")))
		fail_msg("%s: `mnemo %s` exit %d and says nothing", what, cmd,
			 res.status);
	n_exit[res.status]++;
	if (strstr(res.err, "crashed the reader")) {
		n_crash_reported++;
		printf("# %.*s: `mnemo %s`: %s", (int)strcspn(what, ":"), what,
		       cmd, res.err);
	}
}

/* verify, stats and dump on store. */
static void survive_all(const char *store, const char *what)
{
	run("verify '%s'", store);
	expect_survived("verify", what);
	run("stats '%s'", store);
	expect_survived("stats", what);
	run("dump agent/a3 '%s'", store);
	expect_survived("dump", what);
}

/* ---- random damage --------------------------------------------------------
 */

static void test_random_flips(void **state)
{
	(void)state;
	static const uint64_t seeds[] = {1,  2,	 3,  4,	 5,  6,	 7,
					 8,  9,	 10, 11, 12, 13, 14,
					 15, 16, 17, 18, 19, 20};
	uint64_t size = data_size(orig);
	for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
		char store[400], what[2048];
		unsigned nflips = i == 0 ? 1 : 16;
		mt_rng r = {.s = seeds[i]};
		int len = snprintf(what, sizeof what, "seed %llu, %u byte%s:",
				   (unsigned long long)seeds[i], nflips,
				   nflips == 1 ? "" : "s");
		copy_store("random", store, sizeof store);
		for (unsigned f = 0; f < nflips; f++) {
			uint64_t off = mt_rng_below(&r, size);
			unsigned char x =
			    (unsigned char)(1 + mt_rng_below(&r, 255));
			mt_store_flip(store, off, x);
			len +=
			    snprintf(what + len, sizeof what - (size_t)len,
				     " %llu^%02x", (unsigned long long)off, x);
		}
		survive_all(store, what);
	}
	printf("# damage: %zu stores, %u runs of the tool: exit 0 %u, exit "
	       "1 %u, exit 2 %u; %u crashes of the reader reported\n",
	       sizeof seeds / sizeof seeds[0],
	       n_exit[0] + n_exit[1] + n_exit[2], n_exit[0], n_exit[1],
	       n_exit[2], n_crash_reported);
}

/* ---- damage inside record values ----------------------------------------- */

/* A record to damage: the record of db at key (key_u64 != 0), or the
 * first one, or (big) the first one longer than 4,000 bytes. */
typedef struct target {
	const char *db;
	uint64_t key_u64;
	bool big;
	char name[64];	   /* as verify names it: "log record 2:" */
	uint64_t off, len; /* the value in data.mdb */
} target;

static uint64_t be64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* Find each target and where its value lies in the data file: LMDB hands
 * out pointers into its map of the file (read-only, no MDB_WRITEMAP). */
static void locate(const char *store, target *t, size_t n)
{
	MDB_env *env;
	MDB_txn *txn;
	char path[512];
	assert_int_equal(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 16);
	assert_int_equal(mdb_env_open(env, store, MDB_RDONLY, 0640), 0);
	snprintf(path, sizeof path, "%s/data.mdb", store);
	char *base = mt_map_base(path);
	assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	for (size_t i = 0; i < n; i++) {
		MDB_dbi dbi;
		MDB_cursor *c;
		MDB_val k, v;
		int rc;
		assert_int_equal(mdb_dbi_open(txn, t[i].db, 0, &dbi), 0);
		assert_int_equal(mdb_cursor_open(txn, dbi, &c), 0);
		for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
		     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
			if (t[i].key_u64 && k.mv_size == 8 &&
			    be64(k.mv_data) == t[i].key_u64)
				break;
			if (t[i].big && v.mv_size > 4000)
				break;
			if (!t[i].key_u64 && !t[i].big)
				break;
		}
		if (rc != 0)
			fail_msg("no record to damage in %s", t[i].db);
		if (k.mv_size == 16)
			snprintf(t[i].name, sizeof t[i].name,
				 "%s record %llu/%llu:", t[i].db,
				 (unsigned long long)be64(k.mv_data),
				 (unsigned long long)be64(
				     (unsigned char *)k.mv_data + 8));
		else
			snprintf(t[i].name, sizeof t[i].name,
				 "%s record %llu:", t[i].db,
				 (unsigned long long)be64(k.mv_data));
		t[i].off = (uint64_t)((char *)v.mv_data - base);
		t[i].len = v.mv_size;
		mdb_cursor_close(c);
	}
	mdb_txn_abort(txn);
	mdb_env_close(env);
}

/* One byte flipped in each of six records (three journal entries, one of
 * them on overflow pages, a snapshot, an actor, a timer): verify names
 * every one. */
static void test_record_flips(void **state)
{
	(void)state;
	char store[400];
	target t[] = {
	    {.db = "log", .key_u64 = 2},
	    {.db = "log", .big = true},
	    {.db = "log", .key_u64 = MESSAGES - 20},
	    {.db = "snapshots"},
	    {.db = "actors", .key_u64 = 5},
	    {.db = "timers"},
	};
	size_t n = sizeof t / sizeof t[0];
	copy_store("records", store, sizeof store);
	locate(store, t, n);
	mt_rng r = {.s = 7};
	for (size_t i = 0; i < n; i++) {
		uint64_t at = t[i].off + mt_rng_below(&r, t[i].len);
		mt_store_flip(store, at,
			      (unsigned char)(1 + mt_rng_below(&r, 255)));
	}
	run("verify '%s'", store);
	expect_exit(1);
	for (size_t i = 0; i < n; i++)
		expect_in(res.out, t[i].name);
	expect_in(res.out, "DAMAGED");
	run("stats '%s'", store);
	expect_survived("stats", "record flips");
	run("dump agent/a3 '%s'", store);
	expect_survived("dump", "record flips");
}

/* ---- truncated data files -------------------------------------------------
 */

static void expect_truncated(const char *store, const char *detail)
{
	static const char *const cmds[] = {"verify", "stats", "ls"};
	for (size_t i = 0; i < 3; i++) {
		run("%s '%s'", cmds[i], store);
		expect_exit(2);
		expect_in(res.err, "MN_ECORRUPT");
		expect_in(res.err, detail);
	}
	run("dump agent/a3 '%s'", store);
	expect_exit(2);
	expect_in(res.err, detail);

	mn_runtime_opts o = {.store_path = store};
	mn_runtime *rt = NULL;
	assert_rc(mn_runtime_open(&o, &rt), MN_ECORRUPT);
	assert_null(rt);
	expect_in(mn_errdetail(), detail);
}

static void test_truncated(void **state)
{
	(void)state;
	char store[400];
	uint64_t size = data_size(orig), ps = page_size();
	assert_true(size % ps == 0 && size / ps > 8);

	/* Cut at half the pages (whole pages, so the check that names it is
	 * the roots'), then half a page further (not whole pages): both
	 * every time, whether the store has an odd or even number of pages
	 * (it varies with the run's timing; size / 2 alone hit one message
	 * or the other). */
	uint64_t half = size / ps / 2 * ps;
	char want[128];
	copy_store("half", store, sizeof store);
	cut(store, half);
	expect_truncated(store, "data file truncated");
	snprintf(want, sizeof want, "%llu bytes, the last transaction",
		 (unsigned long long)half);
	expect_in(mn_errdetail(), want);

	copy_store("halfpage", store, sizeof store);
	cut(store, half + ps / 2);
	expect_truncated(store, "data file truncated");
	snprintf(want, sizeof want,
		 "%llu bytes is not a whole number of %llu-byte pages",
		 (unsigned long long)(half + ps / 2), (unsigned long long)ps);
	expect_in(mn_errdetail(), want);

	copy_store("lastpage", store, sizeof store);
	cut(store, size - ps / 2);
	expect_truncated(store, "data file truncated");

	copy_store("metas", store, sizeof store);
	cut(store, ps + 100);
	expect_truncated(store, "its two meta pages need");
}

/* ---- not a store, newer format, bad addresses -----------------------------
 */

static void test_not_a_store(void **state)
{
	(void)state;
	char store[400], p[500];

	/* A regular file. */
	snprintf(p, sizeof p, "%s/file", dir);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs("not a store\n", f);
	fclose(f);
	run("stats '%s'", p);
	expect_exit(2);
	expect_in(res.err, "not a directory");

	/* A data.mdb that is not LMDB's. */
	snprintf(store, sizeof store, "%s/garbage", dir);
	assert_int_equal(mkdir(store, 0700), 0);
	snprintf(p, sizeof p, "%s/data.mdb", store);
	f = fopen(p, "w");
	assert_non_null(f);
	for (int i = 0; i < 3000; i++)
		fputs("garbage ", f);
	fclose(f);
	run("verify '%s'", store);
	expect_exit(2);
	expect_in(res.err, "MN_ENOTSTORE");
	expect_in(res.err, "not an LMDB data file");
	mn_runtime_opts o = {.store_path = store};
	mn_runtime *rt = NULL;
	assert_rc(mn_runtime_open(&o, &rt), MN_ENOTSTORE);
	expect_in(mn_errdetail(), "not a mnemo store");
}

/* An LMDB environment another program made in dir: named databases of its
 * own (named) or keys in the main database (plain). */
static void foreign_env(const char *store, bool named)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	assert_true(mkdir(store, 0700) == 0 || errno == EEXIST);
	assert_int_equal(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 4);
	assert_int_equal(mdb_env_open(env, store, 0, 0640), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, named ? "users" : NULL,
				      named ? MDB_CREATE : 0, &dbi),
			 0);
	MDB_val k = {.mv_size = 5, .mv_data = "alice"},
		v = {.mv_size = 2, .mv_data = "42"};
	assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

/* The databases in store's main database, counted. */
static size_t env_dbs(const char *store)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_stat st;
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_open(env, store, MDB_RDONLY, 0640), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	assert_int_equal(mdb_stat(txn, 1, &st), 0);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	return st.ms_entries;
}

/* Issue 11, defect 10: an LMDB environment of another program, and a
 * directory of other files, are refused (MN_ENOTSTORE) and left as they
 * were; an empty or missing directory becomes a store. */
static void test_not_mnemo_env(void **state)
{
	(void)state;
	char store[400], p[500];
	mn_runtime_opts o = {0};
	mn_runtime *rt = NULL;
	for (int named = 0; named < 2; named++) {
		snprintf(store, sizeof store, "%s/foreign-%d", dir, named);
		foreign_env(store, named);
		o.store_path = store;
		assert_rc(mn_runtime_open(&o, &rt), MN_ENOTSTORE);
		expect_in(mn_errdetail(), "not a mnemo store");
		expect_in(mn_errdetail(), named ? "\"users\"" : "\"alice\"");
		assert_int_equal(env_dbs(store), 1); /* nothing added */
		run("verify '%s'", store);
		expect_exit(2);
		expect_in(res.err, "MN_ENOTSTORE");
		expect_in(res.err, "not a mnemo store");
	}

	/* A directory of other files: refused, nothing written there. */
	snprintf(store, sizeof store, "%s/notes", dir);
	assert_int_equal(mkdir(store, 0700), 0);
	snprintf(p, sizeof p, "%s/todo.txt", store);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs("buy milk\n", f);
	fclose(f);
	o.store_path = store;
	assert_rc(mn_runtime_open(&o, &rt), MN_ENOTSTORE);
	expect_in(mn_errdetail(), "not a mnemo store");
	expect_in(mn_errdetail(), "todo.txt");
	struct stat st;
	snprintf(p, sizeof p, "%s/data.mdb", store);
	assert_int_not_equal(stat(p, &st), 0);
	snprintf(p, sizeof p, "%s/mnemo.lock", store);
	assert_int_not_equal(stat(p, &st), 0);

	/* Empty and missing directories become stores. */
	snprintf(store, sizeof store, "%s/empty", dir);
	assert_int_equal(mkdir(store, 0700), 0);
	for (int i = 0; i < 2; i++) {
		o.store_path = store;
		assert_rc(mn_runtime_open(&o, &rt), 0);
		mn_runtime_close(rt);
		rt = NULL;
		snprintf(store, sizeof store, "%s/missing", dir);
	}
	run("verify '%s'", store);
	expect_exit(0);
}

static void test_newer_format(void **state)
{
	(void)state;
	char store[400];
	copy_store("newer", store, sizeof store);
	mt_store_set_format(store, 99);
	static const char *const cmds[] = {"verify", "stats", "ls"};
	for (size_t i = 0; i < 3; i++) {
		run("%s '%s'", cmds[i], store);
		expect_exit(2);
		expect_in(res.err, "MN_EVERSION");
		expect_in(res.err, "format version 99; this build reads up to");
	}
}

static void test_bad_addresses(void **state)
{
	(void)state;
	char longkey[300];
	memset(longkey, 'k', 256);
	longkey[256] = 0;
	const char *const bad[] = {"agent/0xZZ", "agent/", "agent/0x", longkey};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char addr[320];
		snprintf(addr, sizeof addr, "%s%s", i == 3 ? "agent/" : "",
			 bad[i]);
		run("dump '%s' '%s'", addr, orig);
		expect_exit(2);
		expect_in(res.err, "bad address");
		expect_in(res.err, "usage: mnemo dump");
	}
	/* A 255-byte key is a key: no such actor. */
	longkey[255] = 0;
	run("dump 'agent/%s' '%s'", longkey, orig);
	expect_exit(1);
	expect_in(res.err, "no actor agent/kkk");
}

/* MNEMO_NO_FORK runs the command in the tool's own process: same output. */
static void test_no_fork(void **state)
{
	(void)state;
	char forked[sizeof res.out];
	run("verify '%s'", orig);
	expect_exit(0);
	snprintf(forked, sizeof forked, "%s", res.out);
	assert_int_equal(setenv("MNEMO_NO_FORK", "1", 1), 0);
	run("verify '%s'", orig);
	unsetenv("MNEMO_NO_FORK");
	expect_exit(0);
	assert_string_equal(res.out, forked);
	expect_in(res.out, "0 problems: healthy");
}

int main(void)
{
	mt_init("recovery/damage");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_random_flips, mt_setup),
	    cmocka_unit_test_setup(test_record_flips, mt_setup),
	    cmocka_unit_test_setup(test_truncated, mt_setup),
	    cmocka_unit_test_setup(test_not_a_store, mt_setup),
	    cmocka_unit_test_setup(test_not_mnemo_env, mt_setup),
	    cmocka_unit_test_setup(test_newer_format, mt_setup),
	    cmocka_unit_test_setup(test_bad_addresses, mt_setup),
	    cmocka_unit_test_setup(test_no_fork, mt_setup),
	};
	return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
