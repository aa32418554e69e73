/*
 * test_property.c - forks, compactions, replays, exports, imports and
 * deletions combined, in seeded random sequences checked against a model
 * (issue 11: "Fork, compact, replay, export, import and delete combined in
 * a property test against a model"; and compactions, online and offline,
 * that remove the newest entries, followed by more open/send/close rounds).
 *
 * The kind is tests/recovery/plugin_prop.c (state: count, a running hash of
 * payloads and seqs, the last seq; a one-hour timer for every payload
 * divisible by 4), built into a plugin for `mnemo replay`. Each stream
 * (MN_TEST_SEED, stream number) runs MN_PROP_STEPS steps (default 80; 24
 * in ASan and TSan builds, see PROP_STEPS) on a fresh store, snapshot_every
 * 1, 2 or 3 by stream, over at most SLOTS
 * actors: base actors a0..a3, forks f*, copies c*. A step is one of:
 *
 *   - a durable send to an actor (live, deleted, or new): the state the
 *     runtime's handler ends with must be the model's;
 *   - close and reopen the runtime;
 *   - mn_runtime_compact (keep 0, 1 or 3), or `mnemo compact
 *     --keep-history N` with the runtime closed;
 *   - `mnemo fork KIND/KEY@SEQ NEW`: the fork's history is the first SEQ
 *     messages; refused (MN_ECOMPACTED) only where a compaction may have cut;
 *   - `mnemo replay` to a seq, to the last, or from the start: the state the
 *     replay ends with is the model's at that seq, every recorded hash
 *     matches; MN_ECOMPACTED only below where a compaction may have cut;
 *   - `mnemo export --actor` + `mnemo import --as`: a copy with the same
 *     history, no live timers, the source's pending timers in the quarantine
 *     (docs/tool.md: a copy by default);
 *   - `mnemo rm` (runtime closed) or mn_actor_delete (runtime open): the
 *     actor is gone (or MN_EBUSY while a fork shares its history); a later
 *     send makes it fresh at seq 1.
 *
 * After every step `mnemo verify` must say healthy. At the end every live
 * actor gets two more rounds of open, send, close.
 *
 * The model knows each actor's messages, so its state at every seq; for
 * compaction it keeps an upper bound (cut) of where history may start: a
 * compaction may cut each actor at most at its last seq, so a read at or
 * above cut must succeed, one below it may say MN_ECOMPACTED (never any
 * other error).
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/support/support.h"

#define PROP_PEEK prop_peek
struct prop_state;
static void prop_peek(mn_ctx *ctx, const struct prop_state *s);
#include "tests/recovery/plugin_prop.c"

/*
 * The default number of steps per stream. The plain build runs the full
 * property (80). ASan and TSan builds run the first 24 steps of the same
 * three streams (the seeds are fixed, so it is a prefix of the plain run):
 * they are there to check memory and threads on these paths, which the
 * first steps already take (sends, reopens, both compactions, forks and
 * refused forks, replays, copies, mn_actor_delete; not the offline `mnemo
 * rm`, first reached after step 40, which test_rm runs under them), not to
 * find more sequences. Where the time goes: each step runs `mnemo
 * verify` and most run one to four more tool processes (about 500 for 80
 * steps x 3 streams); under ASan one `mnemo verify` costs about 150 ms
 * (60 ms to start and run, 90 ms for LeakSanitizer's check at exit)
 * against 7 ms plain, so 80 steps took well over 60 s idle and 2-2.5 min
 * on a loaded 2-core machine, past the 60 s watchdog. fsyncs are not it (the
 * runtime is relaxed; 10 fdatasync in a 15-step run). MN_PROP_STEPS overrides
 * in every build.
 */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define PROP_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define PROP_SANITIZED 1
#endif
#endif
#ifdef PROP_SANITIZED
#define PROP_STEPS 24
#else
#define PROP_STEPS 80
#endif

#define SLOTS 16
#define MAXH  2048

typedef struct mactor {
	char key[16];
	int used;	     /* the key was ever handed out */
	int live;	     /* an actor of the store */
	uint64_t n;	     /* last seq */
	uint64_t vals[MAXH]; /* the payload of message i + 1 */
	uint64_t cut;	     /* history below this seq may be compacted */
	int parent;	     /* fork: the slot owning its entry at fork_seq */
	uint64_t fork_seq;
	unsigned timers; /* pending timers of its own */
	unsigned held;	 /* quarantined messages from it (a copy's) */
} mactor;

static mactor m[SLOTS];
static char dir[256], store[300], plugin[300], xfile[300], where[160];
static mt_tool_res res;
static mn_runtime *rt;
static mn_kind *kind;
static mn_kind_def def;
static mt_rng rng;

/* What the runtime's handler saw last, per slot (PROP_PEEK). */
static pthread_mutex_t peek_lock = PTHREAD_MUTEX_INITIALIZER;
static prop_state peeked[SLOTS];

static struct {
	unsigned sends, reopens, ocompacts, compacts, forks, fork_refused,
	    replays, replay_compacted, copies, rms, deletes, rm_busy, verifies;
} n_;

static int slot_of(const void *key, size_t len)
{
	for (int i = 0; i < SLOTS; i++)
		if (m[i].used && strlen(m[i].key) == len &&
		    memcmp(m[i].key, key, len) == 0)
			return i;
	return -1;
}

static void prop_peek(mn_ctx *ctx, const struct prop_state *s)
{
	mn_addr a;
	mn_ctx_self(ctx, &a);
	int i = slot_of(a.key, a.key_len);
	if (!MT_CHECKF(i >= 0, "peek of an unknown key"))
		return;
	pthread_mutex_lock(&peek_lock);
	peeked[i] = *s;
	pthread_mutex_unlock(&peek_lock);
}

static prop_state model_at(int i, uint64_t seq)
{
	prop_state s = {0, 0, 0};
	for (uint64_t q = 1; q <= seq; q++)
		prop_step(&s, m[i].vals[q - 1], q);
	return s;
}

/* Run the tool; fail unless it exits with want. */
#define tool(want, ...) tool_at(__LINE__, (want), __VA_ARGS__)
__attribute__((format(printf, 3, 4))) static void tool_at(int line, int want,
							  const char *fmt, ...)
{
	char args[1200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(args, sizeof args, fmt, ap);
	va_end(ap);
	int st = mt_tool(&res, "%s", args);
	if (getenv("MN_PROP_VERBOSE"))
		print_message("# %s: mnemo %s: exit %d\n", where, args, st);
	if (want >= 0 && st != want)
		fail_msg("line %d, %s: mnemo %s: exit %d, want %d\n%.3000s\n"
			 "%.2000s",
			 line, where, args, st, want, res.out, res.err);
}

static void need(int ok, const char *what)
{
	if (!ok)
		fail_msg("%s: %s\nstdout:\n%.3000s\nstderr:\n%.2000s", where,
			 what, res.out, res.err);
}

static void rt_open(void)
{
	if (rt)
		return;
	mn_runtime_opts o = {.workers = 2,
			     .store_path = store,
			     .durability = MN_DURABILITY_RELAXED};
	int rc = mn_runtime_open(&o, &rt);
	if (rc)
		fail_msg("%s: mn_runtime_open: %s (%s)", where, mn_err_name(rc),
			 mn_errdetail());
	assert_rc(mn_kind_register(rt, &def, &kind), 0);
}

static void rt_close(void)
{
	if (!rt)
		return;
	mt_drain(rt);
	mn_runtime_close(rt);
	rt = NULL;
}

static int pick_live(void)
{
	int live[SLOTS], k = 0;
	for (int i = 0; i < SLOTS; i++)
		if (m[i].live)
			live[k++] = i;
	return k ? live[mt_rng_below(&rng, (uint64_t)k)] : -1;
}

/* A slot never used with the prefix, or -1 when all are. */
static int new_slot(char prefix)
{
	for (int i = 4; i < SLOTS; i++)
		if (!m[i].used) {
			snprintf(m[i].key, sizeof m[i].key, "%c%d", prefix, i);
			m[i].used = 1;
			return i;
		}
	return -1;
}

static void forget(int i)
{
	char key[16];
	memcpy(key, m[i].key, sizeof key);
	memset(&m[i], 0, sizeof m[i]);
	memcpy(m[i].key, key, sizeof key);
	m[i].used = 1;
	m[i].parent = -1;
}

/* ---- the steps
 * ---------------------------------------------------------------- */

static void step_send(int i)
{
	if (m[i].n >= MAXH)
		return;
	rt_open();
	uint64_t v = mt_rng_next(&rng);
	if (!m[i].live)
		forget(i); /* a deleted (or never made) actor starts fresh */
	if (getenv("MN_PROP_VERBOSE"))
		print_message("# %s: send to %s (seq %llu)\n", where, m[i].key,
			      (unsigned long long)m[i].n + 1);
	assert_rc(mn_send_durable(rt, kind, m[i].key, strlen(m[i].key),
				  PROP_ADD, &v, sizeof v),
		  0);
	mt_drain(rt);
	mt_assert_no_failures();
	m[i].live = 1;
	m[i].vals[m[i].n++] = v;
	if (v % 4 == 0)
		m[i].timers++;
	prop_state want = model_at(i, m[i].n), got;
	pthread_mutex_lock(&peek_lock);
	got = peeked[i];
	pthread_mutex_unlock(&peek_lock);
	if (memcmp(&want, &got, sizeof want) != 0)
		fail_msg(
		    "%s: prop/%s after seq %llu: the runtime has count=%llu "
		    "seq=%llu, the model count=%llu seq=%llu",
		    where, m[i].key, (unsigned long long)m[i].n,
		    (unsigned long long)got.count, (unsigned long long)got.seq,
		    (unsigned long long)want.count,
		    (unsigned long long)want.seq);
	n_.sends++;
}

static void cut_all(void)
{
	for (int i = 0; i < SLOTS; i++)
		if (m[i].live)
			m[i].cut = m[i].n;
}

static void step_online_compact(void)
{
	static const uint64_t keeps[] = {0, 0, 1, 3};
	rt_open();
	mt_drain(rt);
	mn_compact_stats st;
	uint64_t keep = keeps[mt_rng_below(&rng, 4)];
	if (getenv("MN_PROP_VERBOSE"))
		print_message("# %s: mn_runtime_compact keep %llu\n", where,
			      (unsigned long long)keep);
	assert_rc(mn_runtime_compact(rt, keep, &st), 0);
	cut_all();
	n_.ocompacts++;
}

static void step_compact(void)
{
	static const unsigned keeps[] = {0, 0, 1, 3};
	rt_close();
	tool(0, "compact --keep-history %u '%s'", keeps[mt_rng_below(&rng, 4)],
	     store);
	cut_all();
	n_.compacts++;
}

/* The slot owning slot i's entry at seq. */
static int owner(int i, uint64_t seq)
{
	while (m[i].parent >= 0 && seq <= m[i].fork_seq)
		i = m[i].parent;
	return i;
}

static void step_fork(void)
{
	int p = pick_live();
	if (p < 0 || m[p].n == 0)
		return;
	int f = new_slot('f');
	if (f < 0)
		return;
	rt_close();
	uint64_t seq = 1 + mt_rng_below(&rng, m[p].n);
	tool(-1, "fork prop/%s@%llu %s '%s'", m[p].key, (unsigned long long)seq,
	     m[f].key, store);
	if (res.status != 0) {
		need(res.status == 1 && strstr(res.err, "MN_ECOMPACTED"),
		     "a fork refused other than as compacted");
		need(seq < m[p].cut, "a fork refused above every compaction");
		m[f].used = 0;
		n_.fork_refused++;
		return;
	}
	forget(f);
	m[f].live = 1;
	m[f].n = seq;
	memcpy(m[f].vals, m[p].vals, seq * sizeof m[f].vals[0]);
	m[f].cut = m[p].cut < seq ? m[p].cut : seq;
	m[f].parent = owner(p, seq);
	m[f].fork_seq = seq;
	n_.forks++;
}

/* The replay's exit and output: the model's state at seq, all matching;
 * or, below the cut only, MN_ECOMPACTED. */
static void expect_replay(int i, uint64_t seq, int below_cut)
{
	if (res.status == 1 && below_cut && strstr(res.err, "MN_ECOMPACTED") &&
	    !strstr(res.err, "MN_ECORRUPT")) {
		n_.replay_compacted++;
		return;
	}
	need(res.status == 0, below_cut
				  ? "replay failed other than as "
				    "compacted"
				  : "replay failed above every compaction");
	prop_state s = model_at(i, seq);
	char want[128];
	snprintf(want, sizeof want, "    count=%llu h=%016llx seq=%llu\n",
		 (unsigned long long)s.count, (unsigned long long)s.h,
		 (unsigned long long)s.seq);
	need(strstr(res.out, want) != NULL, want);
	need(strstr(res.out, "all match") ||
		 strstr(res.out, "nothing to compare"),
	     "replay did not match");
}

static void step_replay(void)
{
	int i = pick_live();
	if (i < 0)
		return;
	rt_close();
	uint64_t r = mt_rng_below(&rng, 4);
	if (r == 0) {
		tool(-1, "replay prop/%s --plugin '%s' '%s'", m[i].key, plugin,
		     store);
		expect_replay(i, m[i].n, 0);
	} else if (r == 1) {
		tool(-1, "replay --from-start prop/%s --plugin '%s' '%s'",
		     m[i].key, plugin, store);
		expect_replay(i, m[i].n, m[i].cut > 0);
	} else {
		uint64_t seq = mt_rng_below(&rng, m[i].n + 1);
		tool(-1, "replay prop/%s --to %llu --plugin '%s' '%s'",
		     m[i].key, (unsigned long long)seq, plugin, store);
		expect_replay(i, seq, seq < m[i].cut);
	}
	n_.replays++;
}

static unsigned count_of(const char *hay, const char *needle)
{
	unsigned k = 0;
	for (const char *h = hay; (h = strstr(h, needle)); h++)
		k++;
	return k;
}

static unsigned held_total(void)
{
	unsigned t = 0;
	for (int i = 0; i < SLOTS; i++)
		t += m[i].held;
	return t;
}

/* dump --json of a live actor: its last seq and its timers. */
static void expect_dump(int i)
{
	char want[64];
	tool(0, "dump --json prop/%s '%s'", m[i].key, store);
	snprintf(want, sizeof want, "\"last_seq\":%llu,",
		 (unsigned long long)m[i].n);
	need(strstr(res.out, want) != NULL, want);
	need(count_of(res.out, "{\"record\":\"timer\"") == m[i].timers,
	     "the actor's timers are not the model's");
}

static void step_copy(void)
{
	int i = pick_live();
	if (i < 0)
		return;
	int c = new_slot('c');
	if (c < 0)
		return;
	rt_close();
	tool(0, "export --actor prop/%s -o '%s' '%s'", m[i].key, xfile, store);
	tool(0, "import --as %s '%s' '%s'", m[c].key, xfile, store);
	unlink(xfile);
	forget(c);
	m[c].live = 1;
	m[c].n = m[i].n;
	memcpy(m[c].vals, m[i].vals, m[i].n * sizeof m[c].vals[0]);
	m[c].cut = m[i].cut;
	m[c].held = m[i].timers; /* a copy: the source's timers held */
	expect_dump(c);
	expect_dump(i);
	tool(0, "quarantine --json '%s'", store);
	need(count_of(res.out, "{\"record\":\"quarantined\"") == held_total(),
	     "the quarantine does not hold the copies' timers");
	n_.copies++;
}

/* Delete an actor: offline (`mnemo rm`, the runtime closed) or online
 * (mn_actor_delete on the open runtime), chosen by the stream. */
static void step_rm(void)
{
	int i = pick_live();
	if (i < 0)
		return;
	int online = (int)mt_rng_below(&rng, 2);
	int forked = 0;
	for (int f = 0; f < SLOTS; f++)
		if (m[f].live && m[f].parent == i)
			forked = 1;
	if (online) {
		rt_open();
		mt_drain(rt);
		int rc = mn_actor_delete(rt, "prop", m[i].key);
		if (rc != (forked ? MN_EBUSY : 0))
			fail_msg(
			    "%s: mn_actor_delete prop/%s: %s (%s), want %s",
			    where, m[i].key, mn_err_name(rc), mn_errdetail(),
			    forked ? "MN_EBUSY" : "MN_OK");
	} else {
		rt_close();
		tool(forked ? 1 : 0, "rm prop/%s '%s'", m[i].key, store);
		if (forked)
			need(strstr(res.err, "MN_EBUSY") != NULL,
			     "rm of a parent");
	}
	if (forked) {
		n_.rm_busy++;
		return;
	}
	forget(i);
	tool(1, "dump prop/%s '%s'", m[i].key, store);
	tool(0, "quarantine --json '%s'", store);
	need(count_of(res.out, "{\"record\":\"quarantined\"") == held_total(),
	     "a delete left the actor's quarantined messages");
	if (online)
		n_.deletes++;
	else
		n_.rms++;
}

static void run_stream(unsigned stream, unsigned steps)
{
	memset(m, 0, sizeof m);
	memset(peeked, 0, sizeof peeked);
	for (int i = 0; i < SLOTS; i++)
		m[i].parent = -1;
	for (int i = 0; i < 4; i++) {
		snprintf(m[i].key, sizeof m[i].key, "a%d", i);
		m[i].used = 1;
	}
	mt_rng_init(&rng, 100 + stream);
	def.snapshot_every = 1 + stream % 3;
	char cmd[700];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", store);
	assert_int_equal(system(cmd), 0);
	rt_open(); /* the store exists from the first step on */
	for (unsigned s = 0; s < steps; s++) {
		uint64_t r = mt_rng_below(&rng, 100);
		snprintf(where, sizeof where,
			 "seed %llu stream %u step %u (snapshot_every %u)",
			 (unsigned long long)mt_seed(), stream, s,
			 def.snapshot_every);
		if (r < 40) {
			int i = mt_rng_below(&rng, 3) ? pick_live() : -1;
			step_send(i >= 0 ? i : (int)mt_rng_below(&rng, 4));
		} else if (r < 47) {
			rt_close();
			rt_open();
			n_.reopens++;
		} else if (r < 53) {
			step_online_compact();
		} else if (r < 60) {
			step_compact();
		} else if (r < 68) {
			step_fork();
		} else if (r < 85) {
			step_replay();
		} else if (r < 92) {
			step_copy();
		} else {
			step_rm();
		}
		tool(0, "verify '%s'", store);
		n_.verifies++;
	}
	/* Two more rounds of open, send, close for every live actor. */
	for (int round = 0; round < 2; round++) {
		snprintf(where, sizeof where, "seed %llu stream %u round %d",
			 (unsigned long long)mt_seed(), stream, round);
		for (int i = 0; i < SLOTS; i++)
			if (m[i].live)
				step_send(i);
		rt_close();
		tool(0, "verify '%s'", store);
	}
	for (int i = 0; i < SLOTS; i++)
		if (m[i].live) {
			tool(-1, "replay prop/%s --plugin '%s' '%s'", m[i].key,
			     plugin, store);
			expect_replay(i, m[i].n, 0);
			expect_dump(i);
		}
}

static int group_setup(void **unused)
{
	(void)unused;
	char cmd[900];
	snprintf(dir, sizeof dir, "/tmp/mnemo-prop-%d", (int)getpid());
	mt_tool_setup(dir);
	snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
	if (system(cmd) != 0)
		return -1;
	snprintf(store, sizeof store, "%s/data", dir);
	snprintf(plugin, sizeof plugin, "%s/prop.so", dir);
	snprintf(xfile, sizeof xfile, "%s/x.mnx", dir);
	if (mt_build_plugin("tests/recovery/plugin_prop.c", plugin))
		return -1;
	size_t nk;
	def = mnemo_plugin_kinds(&nk)[0];
	return 0;
}

static int group_teardown(void **unused)
{
	(void)unused;
	char cmd[400];
	rt_close();
	if (getenv("MN_TEST_KEEP"))
		return 0;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_property(void **unused)
{
	(void)unused;
	const char *env = getenv("MN_PROP_STEPS");
	unsigned steps = env ? (unsigned)atoi(env) : PROP_STEPS;
	double t0 = mt_now();
	for (unsigned stream = 0; stream < 3; stream++)
		run_stream(stream, steps);
	print_message(
	    "property: 3 streams x %u steps in %.1f s: %u sends, %u "
	    "reopens, %u online and %u offline compactions, %u forks "
	    "(%u refused), %u replays (%u compacted), %u copies, %u "
	    "rm and %u mn_actor_delete (%u busy), %u verify healthy\n",
	    steps, mt_now() - t0, n_.sends, n_.reopens, n_.ocompacts,
	    n_.compacts, n_.forks, n_.fork_refused, n_.replays,
	    n_.replay_compacted, n_.copies, n_.rms, n_.deletes, n_.rm_busy,
	    n_.verifies);
}

/*
 * An actor whose compaction dropped its newest entries (snapshot_every 1,
 * keep 0: the history is the snapshot at its last seq, no entry), copied
 * with export and import, then written to: the copy's history starts at
 * that snapshot, so earlier points are MN_ECOMPACTED, never MN_ECORRUPT,
 * and a fork at its start works. The compaction point's LSN, never written,
 * stays reserved: the next entries of any actor are numbered above it.
 * Failed before: the copy had no head (replay: "the journal ends at seq
 * 0", fork: MN_ECORRUPT "no entry at seq 3"), and after two more messages
 * "history starts at seq 4" (MN_ECORRUPT).
 */
static void test_import_compacted_head(void **unused)
{
	(void)unused;
	char cmd[900];
	memset(m, 0, sizeof m);
	for (int i = 0; i < SLOTS; i++)
		m[i].parent = -1;
	snprintf(m[0].key, sizeof m[0].key, "a0");
	snprintf(m[4].key, sizeof m[4].key, "c4");
	snprintf(m[5].key, sizeof m[5].key, "f5");
	m[0].used = m[4].used = m[5].used = 1;
	mt_rng_init(&rng, 7);
	snprintf(where, sizeof where, "import of a compacted head");
	def.snapshot_every = 1;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", store);
	assert_int_equal(system(cmd), 0);
	for (int k = 0; k < 3; k++)
		step_send(0);
	rt_close();
	tool(0, "compact '%s'", store);
	cut_all();
	tool(0, "export --actor prop/a0 -o '%s' '%s'", xfile, store);
	tool(0, "import --as c4 '%s' '%s'", xfile, store);
	m[4] = m[0];
	memcpy(m[4].key, "c4", 3);
	m[4].timers = 0;
	tool(0, "verify '%s'", store);
	tool(1, "replay --from-start prop/c4 --plugin '%s' '%s'", plugin,
	     store);
	expect_replay(4, 3, 1);
	need(res.status == 1, "replay --from-start of the copy");
	tool(1, "replay prop/c4 --to 1 --plugin '%s' '%s'", plugin, store);
	expect_replay(4, 1, 1);
	tool(0, "replay prop/c4 --plugin '%s' '%s'", plugin, store);
	expect_replay(4, 3, 0);
	tool(1, "fork prop/c4@2 f5 '%s'", store);
	need(strstr(res.err, "MN_ECOMPACTED") != NULL, "fork below the start");
	tool(0, "fork prop/c4@3 f5 '%s'", store);
	m[5].live = 1;
	m[5].n = 3;
	memcpy(m[5].vals, m[4].vals, 3 * sizeof m[5].vals[0]);
	m[5].cut = 3;
	m[5].parent = 4;
	m[5].fork_seq = 3;
	/* Another actor first: its entry must not take the reserved LSN. */
	step_send(0);
	step_send(4);
	step_send(4);
	step_send(5);
	rt_close();
	tool(0, "verify '%s'", store);
	for (int i = 0; i < SLOTS; i++) {
		if (!m[i].used)
			continue;
		tool(0, "replay prop/%s --plugin '%s' '%s'", m[i].key, plugin,
		     store);
		expect_replay(i, m[i].n, 0);
	}
	tool(1, "replay --from-start prop/c4 --plugin '%s' '%s'", plugin,
	     store);
	expect_replay(4, 5, 1);
	tool(1, "replay prop/c4 --to 2 --plugin '%s' '%s'", plugin, store);
	expect_replay(4, 2, 1);
	tool(0, "replay prop/c4 --to 4 --plugin '%s' '%s'", plugin, store);
	expect_replay(4, 4, 0);
}

int main(void)
{
	mt_init("recovery/property");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_property, mt_setup),
	    cmocka_unit_test_setup(test_import_compacted_head, mt_setup),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
