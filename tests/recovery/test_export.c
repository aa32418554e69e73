/*
 * test_export.c - `mnemo export` and `mnemo import`, run as a user runs
 * them (the tool of this build, through popen), on a store made by a
 * runtime.
 *
 * The source store: kind "agent" (state: a message count and a hash of
 * every message's type and payload; a snapshot every 2 messages) and kind
 * "tool". agent/alice asks tool/search, which replies; alice sets a
 * one-hour timer and tells agent/dave, whose init refuses, so that message
 * and a durable send to dave wait in the outbox; agent/bob gets a
 * 2,000-byte message; an agent has the binary key 00 01 fe ff.
 *
 * Checks: a whole-store and a one-actor export imported into fresh stores
 * agree with the source under `mnemo dump --json` (ids and LSNs aside); a
 * runtime on the destination rehydrates alice and continues her state as
 * the model says; a truncated stream (inside a record and at a record
 * boundary), a flipped byte, a newer stream version, an import over an
 * existing actor and an import into a store a runtime holds each fail with
 * the documented exit code and leave the destination as it was.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "recovery/cli.h"
#include "recovery/xstream.h"
#include "tests/support/support.h"

enum {
	T_HELLO = 1,
	T_ASK = 2,
	T_TELL = 3,
	T_NOTE = 4,
	T_REMIND = 5,
	T_CALL = 7,
	T_RESULT = 8,
	T_SOON = 9
};

static const char HELLO[] = "hello alice";
static const char ASK[] = "find restaurants near the station";
static const char RESULT[] = "result: 42 things found";
static const char TELL[] = "dinner at 8";
static const char EXTRA[] = "one more after the snapshot";
static const char AFTER[] = "a message in the new store";
static const char REMIND[] = "remind me";
static const unsigned char BIN_KEY[] = {0x00, 0x01, 0xfe, 0xff};
static const unsigned char BIN_PAYLOAD[] = {0x00, 0x01, 0x02, 0xff, 'b'};
#define LONG_LEN 2000

static char base[256], src[300];
static mn_kind *agent_kind, *tool_kind;

/* alice's state after the last message handled (any session, replays
 * included): the runtime's view, checked against the model. */
static _Atomic uint64_t alice_count, alice_hash;
/* test_copy_move: dave starts when dave_starts is set; what arrived, not
 * counting replays: T_NOTEs dave handled, T_REMINDs carol handled. */
static _Atomic bool dave_starts;
static _Atomic uint64_t dave_notes, carol_reminds;
#define SOON_MS 700

/* ---- the kinds --------------------------------------------------------------
 */

typedef struct agent_state {
	uint64_t count, hash;
} agent_state;

/* The model: FNV-1a over each message's type and payload, in order. */
static uint64_t fold(uint64_t h, uint32_t type, const void *p, size_t len)
{
	const unsigned char *b = p;
	if (!h)
		h = 14695981039346656037ull;
	h = (h ^ type) * 1099511628211ull;
	for (size_t i = 0; i < len; i++)
		h = (h ^ b[i]) * 1099511628211ull;
	return h;
}

static bool is_key(mn_ctx *ctx, const char *key)
{
	mn_addr self;
	mn_ctx_self(ctx, &self);
	return self.key_len == strlen(key) &&
	       memcmp(self.key, key, self.key_len) == 0;
}

static int agent_init(mn_ctx *ctx, void **state)
{
	/* dave never starts: messages for him stay in the outbox. */
	if (is_key(ctx, "dave") && !atomic_load(&dave_starts))
		return MN_EHANDLER;
	*state = calloc(1, sizeof(agent_state));
	return *state ? 0 : MN_ENOMEM;
}

static int agent_snapshot(const void *state, mn_buf *out)
{
	const agent_state *s = state;
	char text[64];
	int n =
	    snprintf(text, sizeof text, "n=%llu h=%016llx",
		     (unsigned long long)s->count, (unsigned long long)s->hash);
	return mn_buf_append(out, text, (size_t)n);
}

static int agent_restore(mn_ctx *ctx, const void *bytes, size_t len,
			 void **state)
{
	char text[64];
	unsigned long long n, h;
	(void)ctx;
	if (len >= sizeof text)
		return MN_ECORRUPT;
	memcpy(text, bytes, len);
	text[len] = 0;
	if (sscanf(text, "n=%llu h=%llx", &n, &h) != 2)
		return MN_ECORRUPT;
	agent_state *s = malloc(sizeof *s);
	if (!s)
		return MN_ENOMEM;
	s->count = n;
	s->hash = h;
	*state = s;
	return 0;
}

static int agent_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	agent_state *s = state;
	s->count++;
	s->hash = fold(s->hash, msg->type, msg->payload, msg->len);
	if (is_key(ctx, "alice")) {
		atomic_store(&alice_count, s->count);
		atomic_store(&alice_hash, s->hash);
	}
	if (!mn_ctx_replaying(ctx) && msg->type == T_NOTE &&
	    is_key(ctx, "dave"))
		atomic_fetch_add(&dave_notes, 1);
	if (!mn_ctx_replaying(ctx) && msg->type == T_REMIND &&
	    is_key(ctx, "carol"))
		atomic_fetch_add(&carol_reminds, 1);
	switch (msg->type) {
	case T_SOON: {
		int rc = mn_ctx_after(ctx, SOON_MS, T_REMIND, REMIND,
				      strlen(REMIND), NULL);
		return rc ? rc
			  : mn_ctx_send(ctx, agent_kind, "dave", 4, T_NOTE,
					msg->payload, msg->len);
	}
	case T_ASK:
		return mn_ctx_send(ctx, tool_kind, "search", 6, T_CALL,
				   msg->payload, msg->len);
	case T_TELL: {
		int rc = mn_ctx_after(ctx, 3600 * 1000, T_REMIND, REMIND,
				      strlen(REMIND), NULL);
		return rc ? rc
			  : mn_ctx_send(ctx, agent_kind, "dave", 4, T_NOTE,
					msg->payload, msg->len);
	}
	}
	return 0;
}

static int tool_init(mn_ctx *ctx, void **state)
{
	(void)ctx;
	*state = NULL;
	return 0;
}

static int tool_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	(void)state;
	if (msg->type == T_CALL)
		return mn_ctx_reply(ctx, T_RESULT, RESULT, strlen(RESULT));
	return 0;
}

static mn_runtime *open_runtime(const char *dir)
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
	mn_kind_def tooldef = {
	    .name = "tool", .init = tool_init, .handle = tool_handle};
	mn_runtime *rt = NULL;
	int rc = mn_runtime_open(&o, &rt);
	if (rc)
		fail_msg("mn_runtime_open %s: %s (%s)", dir, mn_err_name(rc),
			 mn_errdetail());
	assert_rc(mn_kind_register(rt, &agent, &agent_kind), 0);
	assert_rc(mn_kind_register(rt, &tooldef, &tool_kind), 0);
	return rt;
}

static void send_agent(mn_runtime *rt, const void *key, size_t key_len,
		       uint32_t type, const void *p, size_t len)
{
	assert_rc(mn_send(rt, agent_kind, key, key_len, type, p, len), 0);
}

/* ---- running the tool
 * -------------------------------------------------------- */

/* tests/support: mt_tool runs the tool of this build. */
static mt_tool_res res;
#define run(...)	       mt_tool(&res, __VA_ARGS__)
#define expect_exit(want)      mt_expect_exit(&res, (want))
#define expect_in(hay, needle) mt_expect_in((hay), (needle))

/* Remove "name":<digits>[,] everywhere in s (store-local numbers). */
static void strip_field(char *s, const char *name)
{
	char pat[64];
	size_t n = (size_t)snprintf(pat, sizeof pat, "\"%s\":", name);
	for (char *p = strstr(s, pat); p; p = strstr(p, pat)) {
		char *q = p + n;
		while (*q >= '0' && *q <= '9')
			q++;
		if (*q == ',')
			q++;
		memmove(p, q, strlen(q) + 1);
	}
}

/* `mnemo dump --json ADDRESS DIR`, without the store-local numbers, into
 * out (a static buffer of the caller's). */
static void dump_norm(const char *addr, const char *dir, char *out, size_t cap)
{
	static const char *local[] = {"id",	   "kind_id",	  "lsn",
				      "last_lsn",  "first_lsn",	  "outbox_id",
				      "sender_id", "stored_bytes"};
	run("dump --json '%s' '%s'", addr, dir);
	expect_exit(0);
	for (size_t i = 0; i < sizeof local / sizeof local[0]; i++)
		strip_field(res.out, local[i]);
	assert_true(strlen(res.out) < cap);
	strcpy(out, res.out);
}

static void expect_same_actor(const char *addr, const char *a, const char *b)
{
	static char x[1 << 16], y[1 << 16];
	dump_norm(addr, a, x, sizeof x);
	dump_norm(addr, b, y, sizeof y);
	if (strcmp(x, y) != 0)
		fail_msg("%s differs:\n%s:\n%s\n%s:\n%s", addr, a, x, b, y);
}

/* The number after "key": in out (first occurrence). */
static uint64_t field_u64(const char *out, const char *key)
{
	char k[128];
	snprintf(k, sizeof k, "\"%s\":", key);
	const char *p = strstr(out, k);
	if (!p)
		fail_msg("no %s in %s", k, out);
	return strtoull(p + strlen(k), NULL, 10);
}

/* Counts of a store, to show it unchanged: actors, entries, outbox,
 * snapshots, timers, last LSN; and that it verifies healthy. */
typedef struct counts {
	uint64_t actors, entries, outbox, snapshots, timers, last_lsn, kinds;
} counts;

static counts store_counts(const char *dir)
{
	counts c;
	run("stats --json --quick '%s'", dir);
	expect_exit(0);
	c.actors = field_u64(res.out, "actors");
	c.entries = field_u64(res.out, "journal_entries");
	c.outbox = field_u64(res.out, "outbox");
	c.snapshots = field_u64(res.out, "snapshots");
	c.timers = field_u64(res.out, "timers");
	c.last_lsn = field_u64(res.out, "last_lsn");
	c.kinds = field_u64(res.out, "kinds");
	run("verify '%s'", dir);
	expect_exit(0);
	return c;
}

static void expect_counts(const char *dir, const counts *want)
{
	counts c = store_counts(dir);
	assert_memory_equal(&c, want, sizeof c);
}

static bool exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

/* ---- files ------------------------------------------------------------------
 */

static unsigned char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	assert_true(n > 0);
	rewind(f);
	unsigned char *p = malloc((size_t)n);
	assert_non_null(p);
	assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return p;
}

static void spit(const char *path, const void *p, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* The offset of the last record's frame (the trailer's). */
static size_t last_record(const unsigned char *p, size_t len)
{
	size_t off = MN__XS_MAGIC_LEN, last = 0;
	while (off + MN__XS_FRAME <= len) {
		uint32_t n = (uint32_t)p[off] | (uint32_t)p[off + 1] << 8 |
			     (uint32_t)p[off + 2] << 16 |
			     (uint32_t)p[off + 3] << 24;
		last = off;
		off += MN__XS_FRAME + n;
	}
	assert_int_equal(off, len);
	return last;
}

static void path_in(char *buf, size_t cap, const char *name)
{
	assert_true((size_t)snprintf(buf, cap, "%s/%s", base, name) < cap);
}

/* ---- the tests --------------------------------------------------------------
 */

static uint64_t alice_model(bool with_after)
{
	uint64_t h = 0;
	h = fold(h, T_HELLO, HELLO, strlen(HELLO));
	h = fold(h, T_ASK, ASK, strlen(ASK));
	h = fold(h, T_RESULT, RESULT, strlen(RESULT));
	h = fold(h, T_TELL, TELL, strlen(TELL));
	h = fold(h, T_HELLO, EXTRA, strlen(EXTRA));
	if (with_after)
		h = fold(h, T_HELLO, AFTER, strlen(AFTER));
	return h;
}

/* Build the source store; export it whole and alice alone. */
static void test_export(void **unused)
{
	(void)unused;
	char cmd[600], big[LONG_LEN], path[400];

	snprintf(base, sizeof base, "/tmp/mnemo-export-%d", (int)getpid());
	snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", base, base);
	assert_int_equal(system(cmd), 0);
	mt_tool_setup(base);
	path_in(src, sizeof src, "src");

	mn_runtime *rt = open_runtime(src);
	send_agent(rt, "alice", 5, T_HELLO, HELLO, strlen(HELLO));
	send_agent(rt, "alice", 5, T_ASK, ASK, strlen(ASK));
	for (size_t i = 0; i < LONG_LEN; i++)
		big[i] = "the agent keeps its notes; "[i % 27];
	send_agent(rt, "bob", 3, T_HELLO, big, sizeof big);
	send_agent(rt, "bob", 3, T_HELLO, "hi bob", 6);
	send_agent(rt, BIN_KEY, sizeof BIN_KEY, T_HELLO, BIN_PAYLOAD,
		   sizeof BIN_PAYLOAD);
	mt_drain(rt);
	send_agent(rt, "alice", 5, T_TELL, TELL, strlen(TELL));
	mt_drain(rt);
	send_agent(rt, "alice", 5, T_HELLO, EXTRA, strlen(EXTRA));
	assert_rc(mn_send_durable(rt, agent_kind, "dave", 4, T_NOTE,
				  "from outside", 12),
		  0);
	mt_drain(rt);
	mn_runtime_close(rt);
	assert_int_equal(atomic_load(&alice_count), 5);
	assert_true(atomic_load(&alice_hash) == alice_model(false));

	path_in(path, sizeof path, "all.mnx");
	run("export -o '%s' '%s'", path, src);
	expect_exit(0);
	expect_in(res.out, "exported 4 actors (9 entries, 3 snapshots, 1 "
			   "timers) and 2 outbox messages");
	assert_false(exists(strcat(path, ".partial")));

	path_in(path, sizeof path, "alice.mnx");
	/* To standard output, redirected. */
	run("export --actor agent/alice '%s' > '%s'", src, path);
	expect_exit(0);
	assert_int_equal(res.out[0], 0);

	/* Seeds for fuzz/fuzz_export.c, on request. */
	const char *seeds = getenv("MN_EXPORT_SEEDS");
	if (seeds && *seeds) {
		snprintf(cmd, sizeof cmd, "cp '%s/all.mnx' '%s/alice.mnx' '%s'",
			 base, base, seeds);
		assert_int_equal(system(cmd), 0);
	}

	/* Usage and lookups. */
	run("export --actor agent/zed -o '%s/x' '%s'", base, src);
	expect_exit(1);
	expect_in(res.err, "no actor agent/zed in store");
	run("export --actor nokind/a -o '%s/x' '%s'", base, src);
	expect_exit(1);
	run("export '%s/missing'", base);
	expect_exit(2);
	run("export");
	expect_exit(2);
	expect_in(res.err, "usage: mnemo export");
	run("export --help");
	expect_exit(0);
	expect_in(res.out, "EXIT STATUS");
	run("import --help");
	expect_exit(0);
	expect_in(res.out, "EXIT STATUS");
}

/* Whole store into a fresh one: every actor and the outbox agree. */
static void test_import_whole(void **unused)
{
	(void)unused;
	char dst[400], stream[400];
	path_in(dst, sizeof dst, "dst");
	path_in(stream, sizeof stream, "all.mnx");
	/* A move: the timer and the outbox travel (test_copy_move: a copy). */
	run("import --move '%s' '%s'", stream, dst);
	expect_exit(0);
	expect_in(res.out, "imported 4 actors (9 entries, 3 snapshots, 1 "
			   "timers) and 2 outbox messages");
	expect_in(res.out, "agent/0x0001feff");

	static const char *actors[] = {"agent/alice", "agent/bob",
				       "agent/0x0001feff", "tool/search"};
	for (size_t i = 0; i < 4; i++)
		expect_same_actor(actors[i], src, dst);
	counts a = store_counts(src), b = store_counts(dst);
	assert_int_equal(a.actors, b.actors);
	assert_int_equal(a.entries, b.entries);
	assert_int_equal(a.outbox, b.outbox);
	assert_int_equal(a.snapshots, b.snapshots);
	assert_int_equal(a.timers, b.timers);

	/* The messages waiting for dave, senders mapped by address. */
	run("dump agent/dave '%s'", dst);
	expect_exit(1);
	expect_in(res.err, "2 messages for it wait in the outbox");
	run("stats --json '%s'", dst);
	expect_in(res.out, "\"outbox_payload_bytes\":23");

	/* Alice's journal names tool/search as the sender of seq 3. */
	run("dump --json --from 3 --to 3 agent/alice '%s'", dst);
	expect_in(res.out, "\"sender\":\"tool/search\"");
}

/* One actor, into a fresh store and (--as) beside the original. */
static void test_import_actor(void **unused)
{
	(void)unused;
	char dst[400], stream[400], whole[400];
	path_in(dst, sizeof dst, "one");
	path_in(stream, sizeof stream, "alice.mnx");
	path_in(whole, sizeof whole, "dst");
	run("import '%s' '%s'", stream, dst);
	expect_exit(0);
	expect_in(res.out, "imported 1 actor (5 entries, 2 snapshots, 1 "
			   "timers) and 0 outbox messages");
	/* tool/search is not in that store: seq 3 is from outside. */
	expect_in(res.out, "1 message from an actor that store");
	run("dump --json --from 3 --to 3 agent/alice '%s'", dst);
	expect_in(res.out, "\"sender\":\"outside\"");
	store_counts(dst);

	/* --as: beside the original in the whole copy. */
	run("import --as alice-2 '%s' '%s'", stream, whole);
	expect_exit(0);
	expect_in(res.out, "agent/alice-2");
	expect_in(res.out, "a copy: 1 timer and 0 outbox messages held");
	run("dump --json agent/alice-2 '%s'", whole);
	expect_exit(0);
	expect_in(res.out, "\"last_seq\":5");
	expect_in(res.out, "\"sender\":\"tool/search\"");
	/* A copy: alice-2's timer is held in the quarantine, alice's alone
	 * is armed. */
	counts c = store_counts(whole);
	assert_int_equal(c.timers, 1);
	run("quarantine --json '%s'", whole);
	expect_exit(0);
	expect_in(res.out, "\"sender\":\"agent/alice-2\"");
	expect_in(res.out, "\"target\":\"agent/alice-2\"");
	/* --as names one actor. */
	char all[400];
	path_in(all, sizeof all, "all.mnx");
	run("import --as x '%s' '%s'", all, whole);
	expect_exit(2);
	expect_in(res.err, "--as renames one actor");
	expect_counts(whole, &c);
}

/* A runtime on the destination rehydrates alice and goes on. */
static void test_resume(void **unused)
{
	(void)unused;
	char dst[400];
	path_in(dst, sizeof dst, "one");
	atomic_store(&alice_count, 0);
	atomic_store(&alice_hash, 0);
	mn_runtime *rt = open_runtime(dst);
	send_agent(rt, "alice", 5, T_HELLO, AFTER, strlen(AFTER));
	mt_drain(rt);
	mn_runtime_close(rt);
	assert_int_equal(atomic_load(&alice_count), 6);
	assert_true(atomic_load(&alice_hash) == alice_model(true));
	run("dump --json --from 6 agent/alice '%s'", dst);
	expect_exit(0);
	expect_in(res.out, "\"last_seq\":6");
	expect_in(res.out, "\"seq\":6");
	run("verify '%s'", dst);
	expect_exit(0);
}

/* Damaged streams, conflicts, a held store: refused, nothing written. */
static void test_refusals(void **unused)
{
	(void)unused;
	char stream[400], bad[400], fresh[400], dst[400];
	size_t len;
	path_in(stream, sizeof stream, "all.mnx");
	path_in(bad, sizeof bad, "bad.mnx");
	path_in(fresh, sizeof fresh, "never");
	path_in(dst, sizeof dst, "dst");
	unsigned char *p = slurp(stream, &len);
	counts before = store_counts(dst);

	/* Cut inside a record. */
	spit(bad, p, len / 2);
	run("import '%s' '%s'", bad, fresh);
	expect_exit(1);
	expect_in(res.err, "MN_ECORRUPT");
	expect_in(res.err, "truncated");
	expect_in(res.err, "nothing imported");
	assert_false(exists(fresh));
	run("import '%s' '%s'", bad, dst);
	expect_exit(1);
	expect_counts(dst, &before);

	/* Cut at a record boundary: no trailer. */
	spit(bad, p, last_record(p, len));
	run("import '%s' '%s'", bad, fresh);
	expect_exit(1);
	expect_in(res.err, "without its trailer");
	assert_false(exists(fresh));

	/* One flipped byte in the middle. */
	p[len / 2] ^= 0x10;
	spit(bad, p, len);
	p[len / 2] ^= 0x10;
	run("import '%s' '%s'", bad, fresh);
	expect_exit(1);
	expect_in(res.err, "checksum mismatch");
	assert_false(exists(fresh));

	/* Not a stream at all. */
	spit(bad, "hello\n", 6);
	run("import '%s' '%s'", bad, fresh);
	expect_exit(2);
	expect_in(res.err, "not a mnemo export stream");
	assert_false(exists(fresh));

	/* A newer stream version (an otherwise valid stream). */
	FILE *f = fopen(bad, "wb");
	assert_non_null(f);
	mn__xs_writer w;
	Mnemo__Export__Header h = MNEMO__EXPORT__HEADER__INIT;
	h.stream_version = MN__XS_VERSION + 1;
	h.whole_store = true;
	assert_rc(mn__xs_begin(&w, f, &h), 0);
	assert_rc(mn__xs_end(&w), 0);
	mn__xs_writer_free(&w);
	assert_int_equal(fclose(f), 0);
	run("import '%s' '%s'", bad, fresh);
	expect_exit(2);
	expect_in(res.err, "MN_EVERSION");
	expect_in(res.err, "newer");
	assert_false(exists(fresh));

	/* Over existing actors. */
	run("import '%s' '%s'", stream, dst);
	expect_exit(1);
	expect_in(res.err, "actor agent/alice already exists in store");
	expect_in(res.err, "nothing imported");
	expect_counts(dst, &before);

	/* Into a store a runtime holds. */
	mn_runtime *rt = open_runtime(dst);
	run("import '%s' '%s'", stream, dst);
	expect_exit(2);
	expect_in(res.err, "is in use by a running runtime; stop it or import "
			   "into another store");
	mn_runtime_close(rt);
	expect_counts(dst, &before);
	free(p);

	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
	assert_int_equal(system(cmd), 0);
}

/* The decoder on its own: every prefix of a real stream is refused, the
 * whole one accepted. */
static void test_decoder(void **unused)
{
	(void)unused;
	char dir[300], cmd[700], stream[400], why[MN__XS_WHY_CAP];
	mn__xs_stream xs;
	size_t len;

	/* A small stream of its own, made with the writer. */
	snprintf(dir, sizeof dir, "/tmp/mnemo-export-dec-%d", (int)getpid());
	snprintf(stream, sizeof stream, "%s.mnx", dir);
	FILE *f = fopen(stream, "wb");
	assert_non_null(f);
	mn__xs_writer w;
	Mnemo__Export__Header h = MNEMO__EXPORT__HEADER__INIT;
	Mnemo__Export__Address ad = MNEMO__EXPORT__ADDRESS__INIT;
	Mnemo__Export__Actor a = MNEMO__EXPORT__ACTOR__INIT;
	Mnemo__Export__Entry e = MNEMO__EXPORT__ENTRY__INIT;
	Mnemo__Export__Record r = MNEMO__EXPORT__RECORD__INIT;
	h.stream_version = MN__XS_VERSION;
	assert_rc(mn__xs_begin(&w, f, &h), 0);
	ad.kind = "agent";
	ad.key.data = (uint8_t *)"k";
	ad.key.len = 1;
	a.address = &ad;
	a.last_seq = 2;
	r.body_case = MNEMO__EXPORT__RECORD__BODY_ACTOR;
	r.actor = &a;
	assert_rc(mn__xs_put(&w, &r), 0);
	r.body_case = MNEMO__EXPORT__RECORD__BODY_ENTRY;
	r.entry = &e;
	for (e.seq = 1; e.seq <= 2; e.seq++)
		assert_rc(mn__xs_put(&w, &r), 0);
	assert_rc(mn__xs_end(&w), 0);
	mn__xs_writer_free(&w);
	assert_int_equal(fclose(f), 0);

	unsigned char *p = slurp(stream, &len);
	assert_rc(mn__xs_decode(p, len, &xs, why), 0);
	assert_int_equal(xs.nactors, 1);
	assert_int_equal(xs.actors[0].nentries, 2);
	mn__xs_free(&xs);
	for (size_t n = 0; n < len; n++) {
		int rc = mn__xs_decode(p, n, &xs, why);
		mn__xs_free(&xs);
		if (rc != (n == 0 ? MN_EINVAL : MN_ECORRUPT))
			fail_msg("prefix %zu: %s (%s)", n, mn_err_name(rc),
				 why);
	}
	free(p);
	snprintf(cmd, sizeof cmd, "rm -f '%s'", stream);
	assert_int_equal(system(cmd), 0);
}

/* Wait up to ms for dave_notes and carol_reminds to reach notes and
 * reminds (then a little longer, to see nothing more comes), draining rt;
 * check they are exactly that. */
static void expect_arrived(mn_runtime *rt, uint64_t notes, uint64_t reminds,
			   int ms)
{
	for (int t = 0; t < ms; t += 20) {
		if (atomic_load(&dave_notes) >= notes &&
		    atomic_load(&carol_reminds) >= reminds)
			break;
		usleep(20 * 1000);
	}
	usleep(100 * 1000);
	mt_drain(rt);
	assert_int_equal(atomic_load(&dave_notes), notes);
	assert_int_equal(atomic_load(&carol_reminds), reminds);
}

/* Defect 7: a copy (the default) holds the stream's timers and outbox
 * messages in the quarantine, so nothing fires or is delivered at the
 * next open; the quarantine lists them and --release delivers each once.
 * A move (--move) fires and delivers them as the source would have. */
static void test_copy_move(void **unused)
{
	(void)unused;
	char s2[400], stream[400], copy[400], moved[400];
	path_in(s2, sizeof s2, "src-soon");
	path_in(stream, sizeof stream, "soon.mnx");
	path_in(copy, sizeof copy, "copy-soon");
	path_in(moved, sizeof moved, "moved-soon");

	/* The source: carol sets a timer due in SOON_MS and tells dave (who
	 * does not start: the message waits in the outbox); one durable
	 * send to dave from outside waits too. Closed before the timer is
	 * due. */
	atomic_store(&dave_starts, false);
	mn_runtime *rt = open_runtime(s2);
	send_agent(rt, "carol", 5, T_SOON, TELL, strlen(TELL));
	assert_rc(mn_send_durable(rt, agent_kind, "dave", 4, T_NOTE,
				  "from outside", 12),
		  0);
	mt_drain(rt);
	mn_runtime_close(rt);
	run("export -o '%s' '%s'", stream, s2);
	expect_exit(0);
	expect_in(res.out, "1 timers) and 2 outbox messages");

	run("import '%s' '%s'", stream, copy);
	expect_exit(0);
	expect_in(res.out, "a copy: 1 timer and 2 outbox messages held in "
			   "the quarantine");
	counts c = store_counts(copy);
	assert_int_equal(c.timers, 0);
	assert_int_equal(c.outbox, 0);
	run("quarantine '%s'", copy);
	expect_exit(0);
	expect_in(res.out, "agent/carol -> agent/carol  type 5");
	expect_in(res.out, "agent/carol -> agent/dave  type 4");
	expect_in(res.out, "outside -> agent/dave  type 4");

	run("import --move '%s' '%s'", stream, moved);
	expect_exit(0);
	c = store_counts(moved);
	assert_int_equal(c.timers, 1);
	assert_int_equal(c.outbox, 2);

	/* The copy, opened after the timer fell due: nothing arrives. */
	atomic_store(&dave_starts, true);
	atomic_store(&dave_notes, 0);
	atomic_store(&carol_reminds, 0);
	usleep(SOON_MS * 1000);
	rt = open_runtime(copy);
	expect_arrived(rt, 0, 0, 1500);
	mn_runtime_close(rt);

	/* Released: delivered once, also across another open. */
	run("quarantine --release all '%s'", copy);
	expect_exit(0);
	rt = open_runtime(copy);
	expect_arrived(rt, 2, 1, 5000);
	mn_runtime_close(rt);
	rt = open_runtime(copy);
	expect_arrived(rt, 2, 1, 300);
	mn_runtime_close(rt);
	run("quarantine --json '%s'", copy);
	expect_exit(0);
	assert_null(strstr(res.out, "\"quarantined\""));
	store_counts(copy);

	/* The move: they fire and arrive as in the source, once. */
	atomic_store(&dave_notes, 0);
	atomic_store(&carol_reminds, 0);
	rt = open_runtime(moved);
	expect_arrived(rt, 2, 1, 5000);
	mn_runtime_close(rt);
	rt = open_runtime(moved);
	expect_arrived(rt, 2, 1, 300);
	mn_runtime_close(rt);
	store_counts(moved);
	atomic_store(&dave_starts, false);
}

int main(void)
{
	mt_init("recovery/export");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_export, mt_setup),
	    cmocka_unit_test_setup(test_import_whole, mt_setup),
	    cmocka_unit_test_setup(test_import_actor, mt_setup),
	    cmocka_unit_test_setup(test_resume, mt_setup),
	    cmocka_unit_test_setup(test_copy_move, mt_setup),
	    cmocka_unit_test_setup(test_refusals, mt_setup),
	    cmocka_unit_test_setup(test_decoder, mt_setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
