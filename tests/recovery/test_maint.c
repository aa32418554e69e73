/*
 * test_maint.c - store maintenance under a runtime: compaction (online with
 * mn_runtime_compact, offline with the store's steps), forks (shared
 * history, rehydration, quarantined sends, release), per-message state
 * hashes, and the open-time recovery report.
 *
 * It sits beside the tool's tests: it runs the tool's fork, compact and
 * quarantine (recovery/cmd_maint.c) and drives the store steps under them
 * (compaction, fork, quarantine scans) through the tool's header.
 *
 * The kind "acc" folds every value it receives into (count, digest) in
 * order, so a lost, repeated or reordered message changes its state; the
 * tests keep a model of every actor and compare after each step.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "recovery/cli.h"
#include "tests/support/support.h"

enum { T_ADD = 1, T_CHECK = 2, T_FWD = 3 };

typedef struct acc {
	uint64_t count, digest;
} acc;

#define NACT	 64
#define FORK_KEY 1000 /* forks get keys from here */
static acc want[FORK_KEY + 8];
static acc got[FORK_KEY + 8];
static _Atomic uint64_t checks;

static uint64_t fold(uint64_t d, uint64_t v)
{
	return (d ^ v) * 0x100000001b3ull + 0x9e37;
}

static void model_add(uint64_t key, uint64_t v)
{
	want[key].count++;
	want[key].digest = fold(want[key].digest, v);
}

static int acc_init(mn_ctx *ctx, void **state)
{
	(void)ctx;
	*state = calloc(1, sizeof(acc));
	return *state ? 0 : MN_ENOMEM;
}

static int acc_snapshot(const void *state, mn_buf *out)
{
	return mn_buf_append(out, state, sizeof(acc));
}

static int acc_restore(mn_ctx *ctx, const void *bytes, size_t len, void **state)
{
	(void)ctx;
	if (len != sizeof(acc))
		return MN_ECORRUPT;
	acc *a = malloc(sizeof *a);
	if (!a)
		return MN_ENOMEM;
	memcpy(a, bytes, len);
	*state = a;
	return 0;
}

static uint64_t acc_hash(const void *state)
{
	const acc *a = state;
	return fold(a->digest, a->count);
}

static mn_kind *the_kind;

static int acc_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	acc *a = state;
	uint64_t k = 0;
	switch (msg->type) {
	case T_ADD: {
		uint64_t v = mt_get_u64(msg->payload);
		a->count++;
		a->digest = fold(a->digest, v);
		return 0;
	}
	case T_FWD: { /* [target key]: add 7 there, and 1 to itself */
		unsigned char kb[MT_KEY_LEN], p[8];
		mn_addr self;
		a->count++;
		mt_key_put(kb, mt_get_u64(msg->payload));
		mt_put_u64(p, 7);
		int rc = mn_ctx_send(ctx, the_kind, kb, sizeof kb, T_ADD, p, 8);
		mn_ctx_self(ctx, &self);
		mt_put_u64(p, 1);
		return rc ? rc
			  : mn_ctx_send(ctx, the_kind, self.key, self.key_len,
					T_ADD, p, 8);
	}
	case T_CHECK:
		if (mn_ctx_replaying(ctx))
			return 0;
		if (mt_self_u64(ctx, &k) && k < FORK_KEY + 8)
			got[k] = *a;
		atomic_fetch_add(&checks, 1);
		return 0;
	}
	return MN_EINVAL;
}

static mn_kind_def acc_def = {.name = "acc",
			      .init = acc_init,
			      .handle = acc_handle,
			      .snapshot = acc_snapshot,
			      .restore = acc_restore,
			      .free = free,
			      .hash = acc_hash,
			      .snapshot_every = 5};

static char dir[256];

static void fresh(const char *tag)
{
	char cmd[600];
	snprintf(dir, sizeof dir, "/tmp/mnemo-maint-%d-%s", (int)getpid(), tag);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	memset(want, 0, sizeof want);
}

static void cleanup(void)
{
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static mn_runtime *open_rt(uint64_t max_resident)
{
	mn_runtime_opts o = {.workers = 2,
			     .store_path = dir,
			     .durability = MN_DURABILITY_RELAXED,
			     .max_resident = max_resident,
			     .checkpoint_every = 16};
	mn_runtime *rt = NULL;
	int rc = mn_runtime_open(&o, &rt);
	if (rc)
		fail_msg("open: %s (%s)", mn_err_name(rc), mn_errdetail());
	assert_rc(mn_kind_register(rt, &acc_def, &the_kind), 0);
	return rt;
}

static void send_u64(mn_runtime *rt, uint64_t key, uint32_t type, uint64_t v)
{
	unsigned char kb[MT_KEY_LEN], p[8];
	mt_key_put(kb, key);
	mt_put_u64(p, v);
	assert_rc(mn_send(rt, the_kind, kb, sizeof kb, type, p, sizeof p), 0);
}

static void add(mn_runtime *rt, uint64_t key, uint64_t v)
{
	send_u64(rt, key, T_ADD, v);
	model_add(key, v);
}

static void check_keys(mn_runtime *rt, const uint64_t *keys, size_t n)
{
	memset(got, 0, sizeof got);
	atomic_store(&checks, 0);
	for (size_t i = 0; i < n; i++)
		send_u64(rt, keys[i], T_CHECK, 0);
	mt_drain(rt);
	assert_int_equal(atomic_load(&checks), n);
	for (size_t i = 0; i < n; i++) {
		uint64_t k = keys[i];
		if (got[k].count != want[k].count ||
		    got[k].digest != want[k].digest)
			fail_msg("actor %llu: count %llu, model %llu",
				 (unsigned long long)k,
				 (unsigned long long)got[k].count,
				 (unsigned long long)want[k].count);
	}
}

static void check_range(mn_runtime *rt, uint64_t n)
{
	uint64_t keys[NACT];
	for (uint64_t i = 0; i < n; i++)
		keys[i] = i;
	check_keys(rt, keys, n);
}

static mn__store *store_open(bool ro)
{
	mn__store_opts so = {.read_only = ro};
	mn__store *s = NULL;
	int rc = mn__store_open(dir, &so, &s, NULL);
	if (rc)
		fail_msg("store open: %s (%s)", mn_err_name(rc),
			 mn__store_errdetail());
	return s;
}

static int count_problem(void *arg, const char *text)
{
	(void)arg;
	print_message("problem: %s\n", text);
	return 0;
}

static void verify_clean(void)
{
	mn__store *s = store_open(true);
	mn__codec *c;
	uint64_t nrec, nprob;
	assert_rc(mn__codec_new(mn__store_dicts(s), &c), 0);
	assert_rc(mn__store_verify(s, c, count_problem, NULL, &nrec, &nprob),
		  0);
	assert_int_equal(nprob, 0);
	mn__codec_free(c);
	mn__store_close(s);
}

static mn__actor_meta meta_of(mn__store *s, uint64_t key)
{
	unsigned char kb[MT_KEY_LEN];
	uint32_t kid;
	mn__actor_meta m;
	mt_key_put(kb, key);
	assert_rc(mn__store_kind_id(s, "acc", &kid), 0);
	assert_rc(mn__store_actor_find(s, kid, kb, sizeof kb, &m), 0);
	return m;
}

typedef struct hist_count {
	uint64_t n, hashed, first_seq;
} hist_count;

static int hist_cb(void *arg, const mn__entry *e)
{
	hist_count *h = arg;
	if (!h->n)
		h->first_seq = e->seq;
	h->n++;
	h->hashed += e->state_hash != 0;
	return 0;
}

/* Online compaction shortens stored histories, rehydration from the
 * compaction point restores exact states, early history reports
 * MN_ECOMPACTED, and the store verifies clean; then an offline compaction
 * keeping 3 entries does the same from a writable open. */
static void test_compaction(void **unused)
{
	(void)unused;
	fresh("compact");
	mn_runtime *rt = open_rt(16); /* most actors evicted */
	for (unsigned round = 0; round < 23; round++)
		for (uint64_t k = 0; k < NACT; k++)
			add(rt, k, round * 1000 + k);
	mt_drain(rt);

	mn_compact_stats cs;
	assert_rc(mn_runtime_compact(rt, 0, &cs), 0);
	print_message(
	    "online: %llu actors, %llu compacted, %llu entries, "
	    "%llu snapshots, %llu bytes\n",
	    (unsigned long long)cs.actors, (unsigned long long)cs.compacted,
	    (unsigned long long)cs.entries, (unsigned long long)cs.snapshots,
	    (unsigned long long)cs.bytes);
	assert_int_equal(cs.actors, NACT);
	assert_true(cs.compacted > NACT / 2);
	assert_true(cs.entries >= cs.compacted * 5);
	check_range(rt, NACT); /* rehydrations from the compaction point */
	for (uint64_t k = 0; k < NACT; k++)
		add(rt, k, 77 + k);
	check_range(rt, NACT);
	mn_runtime_close(rt);
	verify_clean();

	/* Offline, keeping the 3 newest entries of each actor. */
	mn__store *s = store_open(false);
	mn__compaction *c;
	bool done = false;
	unsigned steps = 0;
	assert_rc(mn__store_compact_begin(s, 3, &c), 0);
	while (!done) {
		assert_rc(mn__store_compact_step(s, c, 10, &done), 0);
		steps++;
	}
	mn__store_compact_end(c);
	assert_true(steps >= NACT / 10);
	mn__actor_meta m = meta_of(s, 5);
	assert_true(m.compacted_seq > 0);
	assert_true(m.compacted_seq + 3 <= m.last_seq);
	mn__codec *codec;
	assert_rc(mn__codec_new(mn__store_dicts(s), &codec), 0);
	hist_count h = {0};
	assert_rc(mn__store_history(s, codec, m.last_lsn, 0, hist_cb, &h),
		  MN_ECOMPACTED);
	memset(&h, 0, sizeof h);
	assert_rc(mn__store_history(s, codec, m.last_lsn, m.compacted_seq,
				    hist_cb, &h),
		  0);
	assert_int_equal(h.n, m.last_seq - m.compacted_seq);
	assert_int_equal(h.first_seq, m.compacted_seq + 1);
	assert_int_equal(h.hashed, h.n); /* the kind has hash() */
	mn__codec_free(codec);
	mn__store_close(s);
	verify_clean();

	rt = open_rt(0);
	check_range(rt, NACT);
	mn_runtime_close(rt);
	mt_assert_no_failures();
	cleanup();
}

/* The tool's runs (tests/support: mt_tool). */
static mt_tool_res tr;
#define run(...) mt_tool(&tr, __VA_ARGS__)

static void add_durable(mn_runtime *rt, uint64_t key, uint64_t v)
{
	unsigned char kb[MT_KEY_LEN], p[8];
	mt_key_put(kb, key);
	mt_put_u64(p, v);
	assert_rc(
	    mn_send_durable(rt, the_kind, kb, sizeof kb, T_ADD, p, sizeof p),
	    0);
	model_add(key, v);
}

/* Compaction that removes the newest journal entries (every actor's latest
 * snapshot is at its last message: snapshot_every 1, keep 0) must not make
 * the next runtime issue those LSNs again: the actors' heads would stay
 * behind and acknowledged messages be forgotten at the open after. Online
 * (mn_runtime_compact before the close), offline through the tool and
 * through the store's steps, each followed by two open/send/close rounds
 * checked against the model (state and seq) and a clean verify. */
static void test_compaction_drops_newest(void **unused)
{
	(void)unused;
	enum { N = 8 };
	mn_kind_def every1 = acc_def;
	every1.snapshot_every = 1;
	fresh("newest");
	mt_tool_setup("/tmp");
	uint64_t v = 1;
	for (int mode = 0; mode < 3; mode++) {
		mn_runtime_opts o = {.workers = 2, .store_path = dir};
		mn_runtime *rt;
		assert_rc(mn_runtime_open(&o, &rt), 0);
		assert_rc(mn_kind_register(rt, &every1, &the_kind), 0);
		for (int i = 0; i < 3; i++)
			for (uint64_t k = 0; k < N; k++)
				add_durable(rt, k, v++);
		mt_drain(rt);
		if (mode == 0) {
			mn_compact_stats cs;
			assert_rc(mn_runtime_compact(rt, 0, &cs), 0);
			assert_true(cs.entries > 0);
		}
		mn_runtime_close(rt);
		if (mode == 1) {
			if (run("compact '%s'", dir) != 0)
				fail_msg("compact: %s%s", tr.out, tr.err);
		} else if (mode == 2) {
			mn__store *s = store_open(false);
			mn__compaction *c;
			bool done = false;
			assert_rc(mn__store_compact_begin(s, 0, &c), 0);
			while (!done)
				assert_rc(
				    mn__store_compact_step(s, c, 3, &done), 0);
			mn__store_compact_end(c);
			mn__store_close(s);
		}
		verify_clean();
		for (int round = 0; round < 2; round++) {
			assert_rc(mn_runtime_open(&o, &rt), 0);
			assert_rc(mn_kind_register(rt, &every1, &the_kind), 0);
			for (int i = 0; i < 2; i++)
				for (uint64_t k = 0; k < N; k++)
					add_durable(rt, k, v++);
			mt_drain(rt);
			mn_runtime_close(rt);
			verify_clean();
		}
		assert_rc(mn_runtime_open(&o, &rt), 0);
		assert_rc(mn_kind_register(rt, &every1, &the_kind), 0);
		check_range(rt, N);
		mn_runtime_close(rt);
		mn__store *s = store_open(true);
		for (uint64_t k = 0; k < N; k++)
			/* seq counts the CHECKs too: one a mode */
			if (meta_of(s, k).last_seq != want[k].count + mode + 1)
				fail_msg(
				    "mode %d: actor %llu at seq %llu, "
				    "model %llu",
				    mode, (unsigned long long)k,
				    (unsigned long long)meta_of(s, k).last_seq,
				    (unsigned long long)want[k].count + mode +
					1);
		mn__store_close(s);
	}
	mt_assert_no_failures();
	cleanup();
}

/* A history chain that loops (an entry whose back-pointer leads to itself
 * or forward, as LSNs issued twice once made) is damage: compaction and
 * history reads stop with MN_ECORRUPT, never walk without end. The child
 * process bounds a hang. */
static void test_chain_loop_is_corrupt(void **unused)
{
	(void)unused;
	fresh("loop");
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		alarm(20);
		mn__store *s = store_open(false);
		mn__codec *codec;
		uint32_t kid;
		unsigned char kb[MT_KEY_LEN];
		acc a = {3, 9};
		mt_key_put(kb, 1);
		if (mn__codec_new(mn__store_dicts(s), &codec) ||
		    mn__store_kind_id(s, "acc", &kid))
			_exit(3);
		/* seq 1, 2 at LSNs 1, 2; seq 3 at LSN 3 points at LSN 4,
		 * seq 4 at LSN 4 points back at LSN 3: a loop. */
		mn__wentry e[4];
		for (int i = 0; i < 4; i++)
			e[i] = (mn__wentry){.lsn = (uint64_t)i + 1,
					    .actor_id = 1,
					    .seq = (uint64_t)i + 1,
					    .prev_lsn = (uint64_t)i,
					    .type = T_ADD,
					    .method = 0,
					    .payload = "12345678",
					    .len = 8,
					    .raw_len = 8};
		e[2].prev_lsn = 4;
		e[3].prev_lsn = 3;
		mn__wactor wa = {.id = 1,
				 .kind_id = kid,
				 .key = kb,
				 .key_len = sizeof kb,
				 .last_seq = 4,
				 .last_lsn = 4,
				 .first_lsn = 1,
				 .is_new = true};
		mn__wsnap sn = {.actor_id = 1,
				.seq = 4,
				.lsn = 4,
				.state = &a,
				.len = sizeof a};
		mn__wbatch b = {.entries = e,
				.n_entries = 4,
				.actors = &wa,
				.n_actors = 1,
				.snaps = &sn,
				.n_snaps = 1,
				.next_actor_id = 2};
		if (mn__store_write(s, codec, &b))
			_exit(4);
		hist_count h = {0};
		int rc = mn__store_history(s, codec, 4, 0, hist_cb, &h);
		if (rc != MN_ECORRUPT)
			_exit(5);
		mn__compaction *c;
		bool done = false;
		if (mn__store_compact_begin(s, 0, &c))
			_exit(6);
		rc = mn__store_compact_step(s, c, 8, &done);
		mn__store_compact_end(c);
		_exit(rc == MN_ECORRUPT ? 0 : 7);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("child: %s %d",
			 WIFEXITED(st) ? "exit" : "signal (hung?)",
			 WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
	cleanup();
}

typedef struct qcount {
	uint64_t n, sender;
} qcount;

static int q_cb(void *arg, const mn__entry *e)
{
	qcount *q = arg;
	q->n++;
	q->sender = e->sender_id;
	return 0;
}

/* A fork starts from its parent's state at the fork point, continues on
 * its own, leaves the parent alone, and its sends to other actors wait in
 * the quarantine until released. Compacting the parent keeps what the fork
 * shares. */
static void test_fork(void **unused)
{
	(void)unused;
	fresh("fork");
	mn_runtime *rt = open_rt(0);
	acc at20 = {0};
	for (unsigned i = 1; i <= 30; i++) {
		add(rt, 1, i);
		if (i == 20)
			at20 = want[1];
	}
	add(rt, 2, 5);
	mt_drain(rt);
	mn_runtime_close(rt);

	mn__store *s = store_open(false);
	mn__actor_meta parent = meta_of(s, 1), f, ff;
	unsigned char kb[MT_KEY_LEN];
	mt_key_put(kb, FORK_KEY);
	assert_rc(mn__store_fork(s, parent.id, 20, kb, sizeof kb, &f), 0);
	assert_int_equal(f.fork_parent_id, parent.id);
	assert_int_equal(f.last_seq, 20);
	assert_rc(mn__store_fork(s, parent.id, 20, kb, sizeof kb, &ff),
		  MN_EEXIST);
	assert_rc(mn__store_fork(s, parent.id, 31, kb + 1, 3, &ff), MN_EINVAL);
	/* A fork of the fork, at a point inside the shared history. */
	mt_key_put(kb, FORK_KEY + 1);
	assert_rc(mn__store_fork(s, f.id, 12, kb, sizeof kb, &ff), 0);
	assert_int_equal(ff.fork_parent_id, parent.id);
	mn__store_close(s);
	verify_clean();

	want[FORK_KEY] = at20;
	memset(&want[FORK_KEY + 1], 0, sizeof(acc));
	for (unsigned i = 1; i <= 12; i++)
		model_add(FORK_KEY + 1, i);

	rt = open_rt(0);
	uint64_t keys[] = {1, 2, FORK_KEY, FORK_KEY + 1};
	check_keys(rt, keys, 4);
	/* The fork goes its own way; the parent is untouched. */
	add(rt, FORK_KEY, 999);
	/* A forward: +1 to itself (delivered), +7 to actor 2 (held). */
	send_u64(rt, FORK_KEY, T_FWD, 2);
	want[FORK_KEY].count++;
	model_add(FORK_KEY, 1);
	mt_drain(rt);
	check_keys(rt, keys, 4);
	mn_recovery rec;
	assert_rc(mn_runtime_recovery(rt, &rec), 0);
	assert_int_equal(rec.created, 0);
	assert_int_equal(rec.quarantined, 0);
	mn_runtime_close(rt);
	verify_clean();

	s = store_open(false);
	mn__codec *codec;
	assert_rc(mn__codec_new(mn__store_dicts(s), &codec), 0);
	qcount q = {0};
	assert_rc(mn__store_quarantine_scan(s, codec, q_cb, &q), 0);
	assert_int_equal(q.n, 1);
	assert_int_equal(q.sender, f.id);
	/* Compacting the parent keeps the history the forks share. */
	mn__compaction *c;
	bool done = false;
	assert_rc(mn__store_compact_begin(s, 0, &c), 0);
	while (!done)
		assert_rc(mn__store_compact_step(s, c, 100, &done), 0);
	mn__compact_stats cs;
	mn__store_compact_stats(c, &cs);
	mn__store_compact_end(c);
	assert_true(cs.held >= 1);
	parent = meta_of(s, 1);
	assert_true(parent.compacted_seq <= 12);
	uint64_t n;
	assert_rc(mn__store_quarantine_take(s, 12345, true, &n), MN_ENOACTOR);
	assert_rc(mn__store_quarantine_take(s, 0, true, &n), 0);
	assert_int_equal(n, 1);
	mn__codec_free(codec);
	mn__store_close(s);
	verify_clean();

	/* Released: delivered to actor 2 at the next open. */
	rt = open_rt(0);
	model_add(2, 7);
	mn_recovery r2;
	assert_rc(mn_runtime_recovery(rt, &r2), 0);
	assert_int_equal(r2.outbox, 1);
	mt_drain(rt);
	check_keys(rt, keys, 4);
	mn_runtime_close(rt);
	mt_assert_no_failures();
	cleanup();
}

/* The recovery report of a new store and of a reopened one. */
static void test_recovery_report(void **unused)
{
	(void)unused;
	fresh("recovery");
	mn_runtime *rt = open_rt(0);
	mn_recovery r;
	assert_rc(mn_runtime_recovery(rt, &r), 0);
	assert_int_equal(r.created, 1);
	assert_int_equal(r.last_lsn, 0);
	for (unsigned i = 0; i < 40; i++)
		add(rt, i % 4, i);
	mt_drain(rt);
	mn_runtime_close(rt);
	rt = open_rt(0);
	assert_rc(mn_runtime_recovery(rt, &r), 0);
	assert_int_equal(r.created, 0);
	assert_int_equal(r.last_lsn, 40);
	assert_int_equal(r.checkpoint_lsn, 40); /* a clean close */
	assert_int_equal(r.entries_scanned, 0);
	assert_true(r.next_actor_id >= 5);
	uint64_t keys[] = {0, 1, 2, 3};
	check_keys(rt, keys, 4);
	mn_runtime_close(rt);

	mn_runtime *vol = mt_open(1, 0);
	assert_rc(mn_runtime_recovery(vol, &r), MN_ENOTSUP);
	assert_rc(mn_runtime_compact(vol, 0, NULL), MN_ENOTSUP);
	mn_runtime_close(vol);
	mt_assert_no_failures();
	cleanup();
}

/* The writing commands of the tool: refused beside a live runtime, fork,
 * quarantine list/release/drop, compact, with their exit codes. */
static void test_tool_commands(void **unused)
{
	(void)unused;
	fresh("tool");
	mt_tool_setup("/tmp");
	mn_runtime *rt = open_rt(0);
	for (unsigned i = 1; i <= 12; i++)
		add(rt, 3, i);
	mt_drain(rt);
	/* A runtime holds the store: writing commands refuse. */
	assert_int_equal(run("compact '%s'", dir), 2);
	mt_expect_in(tr.err, "in use by a running runtime");
	assert_int_equal(
	    run("fork acc/0x0300000000000000@4 0x0a00000000000000 '%s'", dir),
	    2);
	/* Reading ones do not. */
	assert_int_equal(run("quarantine '%s'", dir), 0);
	mn_runtime_close(rt);

	assert_int_equal(
	    run("fork acc/0x0300000000000000@4 0x0a00000000000000 '%s'", dir),
	    0);
	mt_expect_in(tr.out, "forked acc/0x0300000000000000 at seq 4");
	mt_expect_in(tr.err, "mnemo fork: opened"); /* the recovery line */
	assert_int_equal(
	    run("fork acc/0x0300000000000000@4 0x0a00000000000000 '%s'", dir),
	    1);
	mt_expect_in(tr.err, "MN_EEXIST");
	assert_int_equal(
	    run("fork acc/0x0300000000000000@99 0x0b00000000000000 '%s'", dir),
	    1);
	assert_int_equal(
	    run("fork acc/0x0900000000000000@1 0x0b00000000000000 '%s'", dir),
	    1);
	mt_expect_in(tr.err, "no actor");
	assert_int_equal(run("fork acc/0x03@x 0x0b00000000000000 '%s'", dir),
			 2);
	assert_int_equal(run("fork --json acc/0x0300000000000000@12 0x0c "
			     "'%s'",
			     dir),
			 0);
	mt_expect_in(tr.out, "\"fork_seq\":12");
	assert_int_equal(run("ls '%s'", dir), 0);
	mt_expect_in(tr.out, "fork of acc/0x0300000000000000@4");

	/* The fork sends: +7 to actor 3 is quarantined. */
	rt = open_rt(0);
	send_u64(rt, 10, T_FWD, 3);
	mt_drain(rt);
	mn_runtime_close(rt);
	assert_int_equal(run("quarantine '%s'", dir), 0);
	mt_expect_in(tr.out,
		     "acc/0x0a00000000000000 -> acc/0x0300000000000000");
	assert_int_equal(run("quarantine --json '%s'", dir), 0);
	mt_expect_in(tr.out, "\"record\":\"quarantined\"");
	assert_int_equal(run("quarantine --drop 99999 '%s'", dir), 1);
	assert_int_equal(run("quarantine --drop all --release all '%s'", dir),
			 2);
	assert_int_equal(run("quarantine --drop all '%s'", dir), 0);
	mt_expect_in(tr.out, "dropped 1 message");

	assert_int_equal(run("compact --keep-history 2 --json '%s'", dir), 0);
	mt_expect_in(tr.out, "\"record\":\"compaction\"");
	mt_expect_in(tr.out, "\"held_by_forks\":1");
	assert_int_equal(run("compact --keep-history x '%s'", dir), 2);
	assert_int_equal(run("verify '%s'", dir), 0);
	assert_int_equal(run("dump acc/0x0c '%s'", dir), 0);
	mt_expect_in(tr.out, "forked from");
	/* The forks at 4 and 12 hold the parent's history (its snapshots
	 * are at 5 and 10): nothing of it was dropped. */
	assert_int_equal(run("dump acc/0x0300000000000000 '%s'", dir), 0);
	mt_expect_not_in(tr.out, "were compacted");
	mt_expect_in(tr.out, "seq 1 ");

	/* The fork's state is the parent's at 4 plus its own. */
	rt = open_rt(0);
	memset(&want[10], 0, sizeof(acc));
	for (unsigned i = 1; i <= 4; i++)
		model_add(10, i);
	want[10].count++; /* the T_FWD */
	model_add(10, 1); /* its +1 to itself */
	uint64_t keys[] = {3, 10};
	check_keys(rt, keys, 2);
	mn_runtime_close(rt);

	/* Export and import keep forks and compacted histories whole: the
	 * copy verifies and its actors come back with the same states. */
	assert_int_equal(run("compact '%s'", dir), 0);
	assert_int_equal(run("export -o '%s.mnx' '%s'", dir, dir), 0);
	char orig[200];
	snprintf(orig, sizeof orig, "%.190s", dir);
	snprintf(dir, sizeof dir, "%s-copy", orig);
	assert_int_equal(run("import '%s.mnx' '%s'", orig, dir), 0);
	assert_int_equal(run("verify '%s'", dir), 0);
	rt = open_rt(0);
	check_keys(rt, keys, 2);
	mn_runtime_close(rt);
	cleanup();
	snprintf(dir, sizeof dir, "%s", orig);
	char mnx[300];
	snprintf(mnx, sizeof mnx, "%s.mnx", dir);
	unlink(mnx);
	mt_assert_no_failures();
	cleanup();
}

int main(void)
{
	mt_init("test_maint");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_compaction, mt_setup),
	    cmocka_unit_test_setup(test_compaction_drops_newest, mt_setup),
	    cmocka_unit_test_setup(test_chain_loop_is_corrupt, mt_setup),
	    cmocka_unit_test_setup(test_fork, mt_setup),
	    cmocka_unit_test_setup(test_recovery_report, mt_setup),
	    cmocka_unit_test_setup(test_tool_commands, mt_setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
