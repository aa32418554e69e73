/*
 * test_crash.c - the crash harness: a forked child runs mixed traffic on a
 * store and is killed with SIGKILL at a seeded random point; the parent
 * reopens the store, lets it recover, and checks everything against a model.
 *
 * Traffic in the child (one kind, "crash", NACT actors, max_resident 16 so
 * actors are evicted and rehydrated all the time, snapshot_every 3,
 * checkpoint_every 32):
 *   - two threads send ids with mn_send_durable, each acknowledged on a pipe
 *     once the call returned. Id i goes to actor i % NACT, slot i / NACT;
 *     thread t sends the ids whose slot has parity t, slot by slot, so every
 *     actor hears from both threads;
 *   - an actor that handles id i with i % 3 == 0 forwards it to actor
 *     (i + 1) % NACT (inter-actor message, outbox, output commit);
 *   - i % 4 == 1: it sets a durable timer (1..40 ms) that fires back id i;
 *   - a forwarded id with i % 9 == 0 sets a timer at the receiver too;
 *   - a third thread compacts the store (mn_runtime_compact, keeping
 *     seed % 3 entries) every 3 ms, so kills land inside compactions;
 *   - payloads: the 8-byte id, then for about 1 id in 64 (drawn from the
 *     seed) padding of a drawn size up to max_payload (half of them up to
 *     64 KiB, a few exactly max_payload), compressible (a few letters
 *     cycling) or random; forwarded copies and timers carry the whole
 *     payload, and every handler checks it byte for byte (issue 11: large
 *     compressed payloads were acknowledged, then stored corrupt).
 * Each actor counts, per slot, how often it saw the id, its forwarded copy,
 * and each timer's firing; plus count, sum and the per-sender order.
 *
 * The model, checked after recovery, drain, and the due timers fired:
 *   - each sender's processed ids are exactly a prefix of what it sent (a
 *     durable send returned before the next began), at least as long as its
 *     acknowledged ids: every acknowledged id exactly once, none twice;
 *   - a forwarded copy, and every timer, exactly once per processed id that
 *     set it (none for an id never processed);
 *   - count, sum and per-sender order of each actor agree;
 *   - `mnemo verify` exits 0 on the store as the crash left it, after
 *     recovery, and after `mnemo compact`; a further clean restart (replay from
 * snapshots) gives the same states and fires nothing again.
 *
 * Seeds: run r of a binary uses seed MN_TEST_SEED + r (printed); to
 * reproduce one: MN_TEST_SEED=<seed> MN_CRASH_RUNS=1 build/tests/crash/
 * test_crash. MN_CRASH_RUNS sets the number of runs (default 4, 2 under
 * ThreadSanitizer).
 */
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/support.h"

#define NACT	     200
#define SLOTS	     32
#define MAXID	     (NACT * SLOTS)
#define SENDERS	     2
#define MAX_DELAY_MS 40

enum { T_ADD = 1, T_FWD = 2, T_FIRE = 3, T_FFIRE = 4, T_CHECK = 5 };

typedef struct cstate {
	uint64_t count, sum;
	uint64_t last[SENDERS]; /* last slot + 1 from each sender thread */
	uint64_t order_errors;
	uint64_t bad_payloads; /* payloads not as sent (length or bytes) */
	uint8_t seen[SLOTS];   /* the durable send of id a + NACT * slot */
	uint8_t fwd[SLOTS];    /* forwarded copy of id (a - 1) + NACT * slot */
	uint8_t fired[SLOTS];  /* timer set by seen[slot] */
	uint8_t ffired[SLOTS]; /* timer set by fwd[slot] */
} cstate;

static cstate results[NACT];
static _Atomic uint64_t checks;

static int fwd_of(uint64_t id)
{
	return id % 3 == 0;
}
static int timer_of(uint64_t id)
{
	return id % 4 == 1;
}
static int ftimer_of(uint64_t id)
{
	return id % 9 == 0;
}
static uint64_t delay_of(uint64_t id)
{
	return 1 + (id * 7) % MAX_DELAY_MS;
}

/* The run's seed for payload sizes and bytes (set before the fork, so the
 * child and the parent's recovery agree). */
static uint64_t pay_seed;
#define PAD_MAX (MN_PAYLOAD_MAX_DEFAULT - 8)

static uint64_t mix(uint64_t z)
{
	z += 0x9e3779b97f4a7c15ull;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Padding bytes after id's 8-byte payload: 0 for most ids. */
static size_t pad_of(uint64_t id)
{
	uint64_t h = mix(pay_seed ^ mix(id));
	if (h % 64 != 7)
		return 0;
	h = mix(h);
	unsigned b = (unsigned)(h % 100);
	h >>= 8;
	if (b < 50)
		return 1 + h % 65536;
	if (b < 85)
		return 1 + h % 300000;
	if (b < 95)
		return 1 + h % PAD_MAX;
	return PAD_MAX; /* the whole payload exactly max_payload */
}

/* Padding byte stream of id: a few letters cycling, or random. */
typedef struct pad_gen {
	uint64_t s;
	unsigned period;
	bool random;
} pad_gen;

static pad_gen pad_start(uint64_t id)
{
	uint64_t h = mix(mix(pay_seed ^ mix(id)) ^ 0x5bd1e995u);
	return (pad_gen){.s = h,
			 .period = 2 + (unsigned)(h % 5),
			 .random = (h >> 8) % 2 == 0};
}

static unsigned char pad_byte(pad_gen *g, size_t i)
{
	if (!g->random)
		return (unsigned char)('a' + (g->s >> 16) % 16 + i % g->period);
	if (i % 8 == 0)
		g->s = mix(g->s);
	return (unsigned char)(g->s >> (8 * (i % 8)));
}

static void pad_fill(uint64_t id, unsigned char *p, size_t n)
{
	pad_gen g = pad_start(id);
	for (size_t i = 0; i < n; i++)
		p[i] = pad_byte(&g, i);
}

/* Whether msg carries id's payload exactly as sent. */
static bool payload_ok(uint64_t id, const mn_msg *msg)
{
	size_t n = pad_of(id);
	const unsigned char *p = (const unsigned char *)msg->payload + 8;
	if (msg->len != 8 + n)
		return false;
	pad_gen g = pad_start(id);
	for (size_t i = 0; i < n; i++)
		if (p[i] != pad_byte(&g, i))
			return false;
	return true;
}

static int cs_init(mn_ctx *ctx, void **state)
{
	(void)ctx;
	*state = calloc(1, sizeof(cstate));
	return *state ? 0 : MN_ENOMEM;
}

static int cs_snapshot(const void *state, mn_buf *out)
{
	return mn_buf_append(out, state, sizeof(cstate));
}

static int cs_restore(mn_ctx *ctx, const void *bytes, size_t len, void **state)
{
	(void)ctx;
	if (len != sizeof(cstate))
		return MN_ECORRUPT;
	cstate *c = malloc(sizeof *c);
	if (!c)
		return MN_ENOMEM;
	memcpy(c, bytes, len);
	*state = c;
	return 0;
}

static void bump(cstate *c, uint8_t *counter, uint64_t id)
{
	(*counter)++;
	c->count++;
	c->sum += id;
}

static int cs_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	cstate *c = state;
	uint64_t self = 0, id;
	if (!mt_self_u64(ctx, &self) || self >= NACT)
		return MN_EINVAL;
	if (msg->type == T_CHECK) {
		/* Reports to the outside world: not again in replay. */
		if (!mn_ctx_replaying(ctx)) {
			results[self] = *c;
			atomic_fetch_add(&checks, 1);
		}
		return 0;
	}
	if (msg->len < 8)
		return MN_EINVAL;
	id = mt_get_u64(msg->payload);
	if (id >= MAXID)
		return MN_EINVAL;
	if (!payload_ok(id, msg))
		c->bad_payloads++;
	uint64_t slot = id / NACT;
	switch (msg->type) {
	case T_ADD: {
		if (id % NACT != self)
			return MN_EINVAL;
		unsigned t = slot % SENDERS;
		if (slot + 1 <= c->last[t])
			c->order_errors++;
		c->last[t] = slot + 1;
		bump(c, &c->seen[slot], id);
		if (fwd_of(id)) {
			unsigned char key[MT_KEY_LEN];
			mt_key_put(key, (self + 1) % NACT);
			int rc =
			    mn_ctx_send(ctx, mn_ctx_kind(ctx), key, sizeof key,
					T_FWD, msg->payload, msg->len);
			if (rc)
				return rc;
		}
		if (timer_of(id))
			return mn_ctx_after(ctx, delay_of(id), T_FIRE,
					    msg->payload, msg->len, NULL);
		return 0;
	}
	case T_FWD:
		if ((id + 1) % NACT != self)
			return MN_EINVAL;
		bump(c, &c->fwd[slot], id);
		if (ftimer_of(id))
			return mn_ctx_after(ctx, delay_of(id + 3), T_FFIRE,
					    msg->payload, msg->len, NULL);
		return 0;
	case T_FIRE:
	case T_FFIRE:
		if (!(msg->flags & MN_MSG_TIMER))
			return MN_EINVAL;
		bump(c,
		     msg->type == T_FIRE ? &c->fired[slot] : &c->ffired[slot],
		     id);
		return 0;
	}
	return MN_EINVAL;
}

static const mn_kind_def crash_def = {.name = "crash",
				      .init = cs_init,
				      .handle = cs_handle,
				      .snapshot = cs_snapshot,
				      .restore = cs_restore,
				      .free = free,
				      .snapshot_every = 3};

/* ---- store, tool -----------------------------------------------------------
 */

static char store_dir[256];
static char tool[PATH_MAX];

static void rm_store(void)
{
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", store_dir);
	assert_int_equal(system(cmd), 0);
}

/* `mnemo verify STORE` must exit 0; its output is shown on failure. */
static void tool_verify(uint64_t seed, const char *when)
{
	char cmd[PATH_MAX + 800];
	snprintf(cmd, sizeof cmd, "'%s' verify '%s' >'%s.verify' 2>&1", tool,
		 store_dir, store_dir);
	fflush(stdout);
	int st = system(cmd);
	int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	if (code != 0) {
		snprintf(cmd, sizeof cmd, "cat '%s.verify'", store_dir);
		if (system(cmd) != 0)
			printf("# (no verify output)\n");
		fail_msg("seed %llu: mnemo verify %s exited %d (%s)",
			 (unsigned long long)seed, store_dir, code, when);
	}
	snprintf(cmd, sizeof cmd, "%s.verify", store_dir);
	unlink(cmd);
}

/* The number after "key": in a JSON line (0 when absent). */
static uint64_t json_u64(const char *line, const char *key)
{
	char pat[64];
	snprintf(pat, sizeof pat, "\"%s\":", key);
	const char *p = strstr(line, pat);
	return p ? strtoull(p + strlen(pat), NULL, 10) : 0;
}

/* How many journal entries the store holds, of how many were written
 * (the difference: dropped by compaction). */
static void tool_entries(uint64_t *held, uint64_t *written)
{
	char args[PATH_MAX + 64], ep[300], out[8192], err[4096];
	snprintf(args, sizeof args, "stats --json --quick '%s'", store_dir);
	snprintf(ep, sizeof ep, "%s.err", store_dir);
	assert_int_equal(
	    mt_tool_run(tool, args, ep, out, sizeof out, err, sizeof err), 0);
	*held = json_u64(out, "journal_entries");
	*written = json_u64(out, "last_lsn");
}

static void tool_compact(uint64_t seed)
{
	char args[PATH_MAX + 64], ep[300], out[4096], err[4096];
	uint64_t held, written;
	tool_entries(&held, &written);
	snprintf(args, sizeof args, "compact --json '%s'", store_dir);
	snprintf(ep, sizeof ep, "%s.err", store_dir);
	int rc = mt_tool_run(tool, args, ep, out, sizeof out, err, sizeof err);
	if (rc != 0 || !strstr(out, "\"record\":\"compaction\""))
		fail_msg("seed %llu: mnemo compact exited %d: %s%s",
			 (unsigned long long)seed, rc, out, err);
	printf("# crash seed %llu: %llu of %llu journal entries left by the "
	       "runtime's compactions; mnemo compact dropped %llu more\n",
	       (unsigned long long)seed, (unsigned long long)held,
	       (unsigned long long)written,
	       (unsigned long long)json_u64(out, "entries_dropped"));
}

static mn_runtime *open_rt(int durability, mn_kind **k)
{
	mn_runtime_opts o = {.workers = 2,
			     .store_path = store_dir,
			     .durability = durability,
			     .max_resident = 16,
			     .checkpoint_every = 32};
	mn_runtime *rt = NULL;
	int rc = mn_runtime_open(&o, &rt);
	if (rc)
		return NULL;
	if (mn_kind_register(rt, &crash_def, k)) {
		mn_runtime_close(rt);
		return NULL;
	}
	return rt;
}

/* ---- the child -------------------------------------------------------------
 */

typedef struct child {
	mn_runtime *rt;
	mn_kind *kind;
	int fd;
} child;

static child ch;

/* Thread t's n-th id: slots of parity t in order, every actor per slot. */
static uint64_t nth_id(unsigned t, uint64_t n)
{
	uint64_t slot = (n / NACT) * SENDERS + t;
	return slot * NACT + n % NACT;
}

#define PER_SENDER (MAXID / SENDERS)

static void child_send(unsigned t, void *arg)
{
	(void)arg;
	unsigned char *p = malloc(8 + PAD_MAX);
	if (!p)
		_exit(3);
	for (uint64_t n = 0; n < PER_SENDER; n++) {
		uint64_t id = nth_id(t, n);
		unsigned char key[MT_KEY_LEN];
		size_t pad = pad_of(id);
		mt_key_put(key, id % NACT);
		mt_put_u64(p, id);
		pad_fill(id, p + 8, pad);
		if (mn_send_durable(ch.rt, ch.kind, key, sizeof key, T_ADD, p,
				    8 + pad) != 0)
			_exit(3);
		uint32_t v = (uint32_t)id;
		if (write(ch.fd, &v, sizeof v) != sizeof v)
			_exit(4);
	}
}

/* Compaction while the traffic runs (and when the kill comes): the
 * runtime's writer drops history older than snapshots, keeping keep
 * entries, over and over. */
static void *compactor(void *arg)
{
	uint64_t keep = (uint64_t)(uintptr_t)arg;
	for (;;) {
		int rc = mn_runtime_compact(ch.rt, keep, NULL);
		if (rc && rc != MN_EBUSY)
			_exit(5);
		usleep(3000);
	}
	return NULL;
}

static void child_main(int fd, int durability, uint64_t keep)
{
	pthread_t t;
	ch.rt = open_rt(durability, &ch.kind);
	if (!ch.rt)
		_exit(2);
	ch.fd = fd;
	if (pthread_create(&t, NULL, compactor, (void *)(uintptr_t)keep))
		_exit(6);
	mt_parallel(SENDERS, child_send, NULL);
	pause(); /* timers keep firing until the kill */
	_exit(0);
}

/* ---- the parent ------------------------------------------------------------
 */

static void collect(mn_runtime *rt, mn_kind *k)
{
	unsigned char key[MT_KEY_LEN];
	mt_drain(rt);
	memset(results, 0, sizeof results);
	atomic_store(&checks, 0);
	for (uint64_t a = 0; a < NACT; a++) {
		mt_key_put(key, a);
		assert_rc(mn_send(rt, k, key, sizeof key, T_CHECK, NULL, 0), 0);
	}
	mt_drain(rt);
	assert_int_equal(atomic_load(&checks), NACT);
}

/* 1 when every timer set by a processed message has fired (counts may
 * still be short if timers are pending; an excess stays an excess). */
static int timers_done(void)
{
	for (uint64_t id = 0; id < MAXID; id++) {
		uint64_t a = id % NACT, s = id / NACT;
		const cstate *c = &results[a], *f = &results[(a + 1) % NACT];
		if (timer_of(id) && c->fired[s] < c->seen[s])
			return 0;
		if (fwd_of(id) && ftimer_of(id) && f->ffired[s] < f->fwd[s])
			return 0;
	}
	return 1;
}

/* Check results against the model; acked[id] marks acknowledged ids. */
static void check_model(uint64_t seed, const uint8_t *acked,
			uint64_t *processed_out)
{
	uint64_t processed = 0;
	cstate want[NACT];
	memset(want, 0, sizeof want);

	for (unsigned t = 0; t < SENDERS; t++) {
		/* The processed ids of sender t: a prefix of its sends. */
		uint64_t n = 0, acked_n = 0;
		while (n < PER_SENDER) {
			uint64_t id = nth_id(t, n);
			if (results[id % NACT].seen[id / NACT] == 0)
				break;
			n++;
		}
		for (uint64_t m = 0; m < PER_SENDER; m++) {
			uint64_t id = nth_id(t, m);
			unsigned got = results[id % NACT].seen[id / NACT];
			if (acked[id])
				acked_n = m + 1;
			if (m < n && got != 1)
				fail_msg("seed %llu: id %llu processed %u "
					 "times",
					 (unsigned long long)seed,
					 (unsigned long long)id, got);
			if (m >= n && got != 0)
				fail_msg("seed %llu: sender %u: id %llu "
					 "processed but id %llu before it "
					 "was not",
					 (unsigned long long)seed, t,
					 (unsigned long long)id,
					 (unsigned long long)nth_id(t, n));
		}
		if (n < acked_n)
			fail_msg("seed %llu: sender %u: acknowledged id %llu "
				 "lost (processed prefix %llu, acked %llu)",
				 (unsigned long long)seed, t,
				 (unsigned long long)nth_id(t, n),
				 (unsigned long long)n,
				 (unsigned long long)acked_n);
		/* The model of what those n ids did. */
		for (uint64_t m = 0; m < n; m++) {
			uint64_t id = nth_id(t, m), a = id % NACT,
				 s = id / NACT, b = (a + 1) % NACT;
			bump(&want[a], &want[a].seen[s], id);
			want[a].last[t] = s + 1;
			if (fwd_of(id)) {
				bump(&want[b], &want[b].fwd[s], id);
				if (ftimer_of(id))
					bump(&want[b], &want[b].ffired[s], id);
			}
			if (timer_of(id))
				bump(&want[a], &want[a].fired[s], id);
		}
		processed += n;
	}
	for (unsigned a = 0; a < NACT; a++) {
		const cstate *g = &results[a], *w = &want[a];
		for (unsigned s = 0; s < SLOTS; s++) {
			uint64_t id = a + (uint64_t)NACT * s;
			uint64_t fid =
			    (a + NACT - 1) % NACT + (uint64_t)NACT * s;
			if (g->fwd[s] != w->fwd[s])
				fail_msg("seed %llu: forwarded copy of id %llu "
					 "processed %u times, want %u",
					 (unsigned long long)seed,
					 (unsigned long long)fid, g->fwd[s],
					 w->fwd[s]);
			if (g->fired[s] != w->fired[s])
				fail_msg("seed %llu: timer of id %llu fired %u "
					 "times, want %u",
					 (unsigned long long)seed,
					 (unsigned long long)id, g->fired[s],
					 w->fired[s]);
			if (g->ffired[s] != w->ffired[s])
				fail_msg(
				    "seed %llu: timer of forwarded id %llu "
				    "fired %u times, want %u",
				    (unsigned long long)seed,
				    (unsigned long long)fid, g->ffired[s],
				    w->ffired[s]);
		}
		if (g->bad_payloads)
			fail_msg("seed %llu: actor %u: %llu payloads not as "
				 "sent",
				 (unsigned long long)seed, a,
				 (unsigned long long)g->bad_payloads);
		if (g->order_errors)
			fail_msg("seed %llu: actor %u: %llu messages out of "
				 "order",
				 (unsigned long long)seed, a,
				 (unsigned long long)g->order_errors);
		if (g->count != w->count || g->sum != w->sum ||
		    memcmp(g->last, w->last, sizeof g->last) != 0)
			fail_msg("seed %llu: actor %u: count %llu sum %llu, "
				 "model %llu %llu",
				 (unsigned long long)seed, a,
				 (unsigned long long)g->count,
				 (unsigned long long)g->sum,
				 (unsigned long long)w->count,
				 (unsigned long long)w->sum);
	}
	*processed_out = processed;
}

static unsigned crash_runs(void)
{
	const char *s = getenv("MN_CRASH_RUNS");
	if (s && *s)
		return (unsigned)strtoul(s, NULL, 10);
	return MT_TSAN ? 2 : 4;
}

static void crash_once(uint64_t seed)
{
	static uint8_t acked[MAXID];
	int fds[2];
	mn_kind *k;
	mt_rng r = {.s = seed};
	(void)mt_rng_next(&r);

	int durability =
	    seed % 4 == 0 ? MN_DURABILITY_SYNC : MN_DURABILITY_RELAXED;
	/* Sync commits fsync each durable send: fewer of them. Below MAXID:
	 * the child sends MAXID ids in all. */
	uint64_t kill_after =
	    1 + mt_rng_below(&r, durability == MN_DURABILITY_SYNC ? 300
				 : MT_TSAN			  ? 400
								  : 4000);
	unsigned extra_us = (unsigned)mt_rng_below(&r, 3000);
	printf("# crash seed %llu: SIGKILL %u us after %llu acks (%s); "
	       "reproduce: MN_TEST_SEED=%llu MN_CRASH_RUNS=1\n",
	       (unsigned long long)seed, extra_us,
	       (unsigned long long)kill_after,
	       durability == MN_DURABILITY_SYNC ? "sync" : "relaxed",
	       (unsigned long long)seed);
	memset(acked, 0, sizeof acked);
	pay_seed = seed;
	snprintf(store_dir, sizeof store_dir, "/tmp/mnemo-crash-%d",
		 (int)getpid());
	rm_store();
	assert_int_equal(pipe(fds), 0);
	fflush(stdout);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		child_main(fds[1], durability, seed % 3);
	}
	close(fds[1]);
	uint64_t nacked = 0;
	uint32_t v;
	while (nacked < kill_after && read(fds[0], &v, sizeof v) == sizeof v) {
		assert_true(v < MAXID);
		acked[v] = 1;
		nacked++;
	}
	if (extra_us)
		usleep(extra_us);
	kill(pid, SIGKILL);
	/* Acks already in the pipe were acknowledged before the kill. */
	while (read(fds[0], &v, sizeof v) == sizeof v) {
		assert_true(v < MAXID);
		acked[v] = 1;
		nacked++;
	}
	close(fds[0]);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFSIGNALED(status))
		fail_msg("seed %llu: child exited with %d before the kill",
			 (unsigned long long)seed,
			 WIFEXITED(status) ? WEXITSTATUS(status) : -1);

	/* The store as the crash left it is healthy. */
	tool_verify(seed, "after the crash");

	mn_runtime *rt = open_rt(durability, &k);
	if (!rt)
		fail_msg("seed %llu: reopen: %s", (unsigned long long)seed,
			 mn_errdetail());
	mt_drain(rt);
	/* Timers due while the process was down, or set by redelivered
	 * messages, fire within MAX_DELAY_MS; allow for slow machines. */
	double t0 = mt_now();
	mt_sleep_ms(MAX_DELAY_MS + 10);
	collect(rt, k);
	while (!timers_done() && mt_now() - t0 < 20) {
		mt_sleep_ms(50);
		collect(rt, k);
	}
	uint64_t processed;
	mn_runtime_stats st = mt_stats(rt);
	if (st.broken || st.handler_errors || st.store_error)
		printf("# crash seed %llu: %llu broken actors, %llu handler "
		       "errors, store error %d (%s)\n",
		       (unsigned long long)seed, (unsigned long long)st.broken,
		       (unsigned long long)st.handler_errors, st.store_error,
		       mn_errdetail());
	check_model(seed, acked, &processed);
	st = mt_stats(rt);
	assert_int_equal(st.handler_errors, 0);
	assert_int_equal(st.store_error, 0);
	assert_int_equal(st.broken, 0);
	mt_assert_no_failures();
	printf("# crash seed %llu: %llu acknowledged, %llu processed, "
	       "exactly once; %llu redelivered, %llu timers fired after "
	       "reopen, %llu rehydrations\n",
	       (unsigned long long)seed, (unsigned long long)nacked,
	       (unsigned long long)processed,
	       (unsigned long long)st.outbox_delivered,
	       (unsigned long long)st.timers_fired,
	       (unsigned long long)st.rehydrations);
	mn_runtime_close(rt);
	tool_verify(seed, "after recovery");
	/* Offline compaction by the tool, then the clean restart below
	 * rehydrates every actor from what compaction kept. */
	tool_compact(seed);
	tool_verify(seed, "after mnemo compact");

	/* A clean restart: every state comes back the same from snapshots and
	 * journal tails, and no timer fires again. */
	static cstate before[NACT];
	memcpy(before, results, sizeof before);
	rt = open_rt(durability, &k);
	if (!rt)
		fail_msg("seed %llu: second reopen: %s",
			 (unsigned long long)seed, mn_errdetail());
	mt_drain(rt);
	mt_sleep_ms(MAX_DELAY_MS + 10);
	collect(rt, k);
	for (unsigned a = 0; a < NACT; a++)
		if (memcmp(&before[a], &results[a], sizeof(cstate)) != 0)
			fail_msg("seed %llu: actor %u differs after a clean "
				 "restart",
				 (unsigned long long)seed, a);
	st = mt_stats(rt);
	assert_int_equal(st.timers_fired, 0);
	assert_int_equal(st.handler_errors, 0);
	mn_runtime_close(rt);
	rm_store();
}

static void test_crash_mixed_traffic(void **unused)
{
	(void)unused;
	mt_tool_path(tool, sizeof tool);
	uint64_t seed = mt_seed();
	unsigned runs = crash_runs();
	for (unsigned i = 0; i < runs; i++)
		crash_once(seed + i);
	printf("# crash: %u runs survived\n", runs);
}

int main(void)
{
	mt_init("crash/crash");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_crash_mixed_traffic, mt_setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
