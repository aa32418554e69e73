/*
 * test_cli.c - the mnemo tool's store commands (stats, ls, dump, verify) run
 * as a user runs them: the binary of the same build (found from this test's
 * own path, so the ASan and TSan builds test their own tool), through
 * popen, on a store made by a runtime.
 *
 * The store: kinds "agent" (a snapshot every 2 messages) and "tool";
 * agent/alice asks tool/search, which replies; agent/bob gets a long
 * compressible message; an agent with a binary key; agent/carol is created
 * by a durable send. A second session has alice set a one-hour timer and
 * leaves two messages for agent/carol in the outbox (its init refuses, so
 * they stay there: deterministic) and, while that runtime is open, the tool
 * reads the store beside it. Then the checks: numbers, listings, entries in
 * order, snapshots and timers, exit codes, usage errors, a missing store,
 * and a corrupt log record found by verify.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <lmdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "recovery/cli.h"
#include "tests/support/support.h"

enum {
	T_HELLO = 1,
	T_ASK = 2,
	T_TELL = 3,
	T_NOTE = 4,
	T_REMIND = 5,
	T_CALL = 7,
	T_RESULT = 8
};

static const char HELLO_ALICE[] = "hello alice";
static const char ASK[] = "find restaurants near the station";
static const char RESULT[] = "result: 42 things found";
static const char HI_BOB[] = "hi bob";
static const char FIRST_CAROL[] = "first for carol";
static const char PENDING[] = "pending for carol";
static const char DINNER[] = "dinner at 8";
static const char REMIND[] = "remind me";
static const unsigned char BIN_KEY[] = {0x00, 0x01, 0xfe, 0xff};
static const unsigned char BIN_PAYLOAD[] = {0x00, 0x01, 0x02, 0xff,
					    'b',  'i',	'n'};
#define LONG_LEN 2000

static char store_dir[256];
static char tool[PATH_MAX];
static mn_kind *agent_kind, *tool_kind;
/* Second session: agent/carol's init fails, so messages for it stay in
 * the outbox. */
static _Atomic int refuse_carol;

/* ---- the kinds --------------------------------------------------------------
 */

/* An agent counts its messages; its snapshot is that count as text. */
static int agent_init(mn_ctx *ctx, void **state)
{
	mn_addr self;
	mn_ctx_self(ctx, &self);
	if (atomic_load(&refuse_carol) && self.key_len == 5 &&
	    memcmp(self.key, "carol", 5) == 0)
		return MN_EHANDLER;
	*state = calloc(1, sizeof(uint64_t));
	return *state ? 0 : MN_ENOMEM;
}

static int agent_snapshot(const void *state, mn_buf *out)
{
	char text[64];
	int n = snprintf(text, sizeof text, "seen %llu messages",
			 (unsigned long long)*(const uint64_t *)state);
	return mn_buf_append(out, text, (size_t)n);
}

static int agent_restore(mn_ctx *ctx, const void *bytes, size_t len,
			 void **state)
{
	char text[64];
	unsigned long long n;
	(void)ctx;
	if (len >= sizeof text)
		return MN_ECORRUPT;
	memcpy(text, bytes, len);
	text[len] = 0;
	if (sscanf(text, "seen %llu messages", &n) != 1)
		return MN_ECORRUPT;
	uint64_t *st = malloc(sizeof *st);
	if (!st)
		return MN_ENOMEM;
	*st = n;
	*state = st;
	return 0;
}

static int agent_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	++*(uint64_t *)state;
	switch (msg->type) {
	case T_ASK:
		return mn_ctx_send(ctx, tool_kind, "search", 6, T_CALL,
				   msg->payload, msg->len);
	case T_TELL: {
		/* A timer an hour away: still pending when the tool runs. */
		int rc = mn_ctx_after(ctx, 3600 * 1000, T_REMIND, REMIND,
				      strlen(REMIND), NULL);
		return rc ? rc
			  : mn_ctx_send(ctx, agent_kind, "carol", 5, T_NOTE,
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

static mn_runtime *open_runtime(void)
{
	mn_runtime_opts o = {.workers = 2,
			     .store_path = store_dir,
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
		fail_msg("mn_runtime_open: %s (%s)", mn_err_name(rc),
			 mn_errdetail());
	assert_rc(mn_kind_register(rt, &agent, &agent_kind), 0);
	assert_rc(mn_kind_register(rt, &tooldef, &tool_kind), 0);
	return rt;
}

static void send_text(mn_runtime *rt, const char *key, uint32_t type,
		      const char *text, int durable)
{
	if (durable)
		assert_rc(mn_send_durable(rt, agent_kind, key, strlen(key),
					  type, text, strlen(text)),
			  0);
	else
		assert_rc(mn_send(rt, agent_kind, key, strlen(key), type, text,
				  strlen(text)),
			  0);
}

static void long_payload(char *p)
{
	static const char words[] = "the agent keeps its notes; ";
	for (size_t i = 0; i < LONG_LEN; i++)
		p[i] = words[i % (sizeof words - 1)];
}

/* ---- running the tool
 * -------------------------------------------------------- */

typedef struct result {
	int status; /* exit code, or 128 + signal */
	char out[1 << 16];
	char err[1 << 13];
} result;

static result res;

/* Run `mnemo ARGS` (args formatted, passed to sh); stdout and stderr land
 * in res. */
__attribute__((format(printf, 1, 2))) static int run(const char *fmt, ...)
{
	char args[2048], errpath[400];
	va_list ap;
	va_start(ap, fmt);
	assert_true(vsnprintf(args, sizeof args, fmt, ap) < (int)sizeof args);
	va_end(ap);
	snprintf(errpath, sizeof errpath, "%s.stderr", store_dir);
	res.status = mt_tool_run(tool, args, errpath, res.out, sizeof res.out,
				 res.err, sizeof res.err);
	return res.status;
}

#define expect_exit(want)                                                      \
	do {                                                                   \
		if (res.status != (want))                                      \
			fail_msg(                                              \
			    "exit %d, expected %d\nstdout:\n%s\nstderr:\n%s",  \
			    res.status, (want), res.out, res.err);             \
	} while (0)

#define expect_in(hay, needle)                                                 \
	do {                                                                   \
		if (!strstr((hay), (needle)))                                  \
			fail_msg("'%s' not found in:\n%s", (needle), (hay));   \
	} while (0)

#define expect_not_in(hay, needle)                                             \
	do {                                                                   \
		if (strstr((hay), (needle)))                                   \
			fail_msg("'%s' unexpected in:\n%s", (needle), (hay));  \
	} while (0)

/* ---- JSON
 * ------------------------------------------------------------------------ */

/* A minimal validator: returns the end of the value at p, or NULL. */
static const char *jv_value(const char *p);

static const char *jv_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		p++;
	return p;
}

static const char *jv_string(const char *p)
{
	if (*p++ != '"')
		return NULL;
	while (*p != '"') {
		if ((unsigned char)*p < 0x20)
			return NULL;
		if (*p == '\\') {
			p++;
			if (*p == 'u') {
				for (int i = 1; i <= 4; i++)
					if (!strchr("0123456789abcdefABCDEF",
						    p[i]) ||
					    !p[i])
						return NULL;
				p += 4;
			} else if (!*p || !strchr("\"\\/bfnrt", *p)) {
				return NULL;
			}
		}
		p++;
	}
	return p + 1;
}

static const char *jv_number(const char *p)
{
	const char *s = p;
	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		while (*p >= '0' && *p <= '9')
			p++;
	else
		return NULL;
	if (*p == '.') {
		p++;
		if (!(*p >= '0' && *p <= '9'))
			return NULL;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!(*p >= '0' && *p <= '9'))
			return NULL;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	return p > s ? p : NULL;
}

static const char *jv_value(const char *p)
{
	p = jv_ws(p);
	if (*p == '{' || *p == '[') {
		char close = *p == '{' ? '}' : ']';
		p = jv_ws(p + 1);
		if (*p == close)
			return p + 1;
		for (;;) {
			if (close == '}') {
				if (!(p = jv_string(jv_ws(p))))
					return NULL;
				p = jv_ws(p);
				if (*p++ != ':')
					return NULL;
			}
			if (!(p = jv_value(p)))
				return NULL;
			p = jv_ws(p);
			if (*p == close)
				return p + 1;
			if (*p++ != ',')
				return NULL;
		}
	}
	if (*p == '"')
		return jv_string(p);
	if (strncmp(p, "true", 4) == 0 || strncmp(p, "null", 4) == 0)
		return p + 4;
	if (strncmp(p, "false", 5) == 0)
		return p + 5;
	return jv_number(p);
}

/* Every line of out is one JSON object; returns how many lines. */
static unsigned expect_json_lines(const char *out)
{
	unsigned n = 0;
	for (const char *line = out; *line;) {
		const char *nl = strchr(line, '\n');
		assert_non_null(nl);
		const char *end = jv_value(line);
		if (line[0] != '{' || !end || end != nl)
			fail_msg("not one JSON object: %.*s", (int)(nl - line),
				 line);
		n++;
		line = nl + 1;
	}
	return n;
}

/* The line of out holding every needle (up to 3; NULL ends), copied into
 * a static buffer; fails when there is none. */
static const char *line_with(const char *out, const char *a, const char *b,
			     const char *c)
{
	static char line[1 << 14];
	for (const char *l = out; *l;) {
		const char *nl = strchr(l, '\n');
		size_t n = nl ? (size_t)(nl - l) : strlen(l);
		if (n < sizeof line) {
			memcpy(line, l, n);
			line[n] = 0;
			if (strstr(line, a) && (!b || strstr(line, b)) &&
			    (!c || strstr(line, c)))
				return line;
		}
		if (!nl)
			break;
		l = nl + 1;
	}
	fail_msg("no line with '%s' '%s' '%s' in:\n%s", a, b ? b : "",
		 c ? c : "", out);
	return NULL;
}

/* The number after "key": in a JSON line. */
static uint64_t field_u64(const char *line, const char *key)
{
	char k[128];
	snprintf(k, sizeof k, "\"%s\":", key);
	const char *p = strstr(line, k);
	if (!p)
		fail_msg("no %s in %s", k, line);
	return strtoull(p + strlen(k), NULL, 10);
}

/* ---- LMDB directly (the corruption test) ----------------------------------
 */

/* ---- the store
 * ------------------------------------------------------------------ */

/* Journal entries and their payload bytes, as the sessions below make
 * them (8 in the first session, 1 in the second). */
#define ENTRIES 9
static size_t payload_total(void)
{
	return strlen(HELLO_ALICE) + strlen(ASK) + strlen(RESULT) +
	       strlen(DINNER) + strlen(ASK) /* tool/search's call */ +
	       strlen(HI_BOB) + LONG_LEN + sizeof BIN_PAYLOAD +
	       strlen(FIRST_CAROL);
}

static void check_live_stats(void)
{
	run("stats --json '%s'", store_dir);
	expect_exit(0);
	const char *st = line_with(res.out, "\"record\":\"store\"", NULL, NULL);
	assert_int_equal(field_u64(st, "journal_entries"), ENTRIES);
	assert_int_equal(field_u64(st, "outbox"), 2);
	assert_int_equal(field_u64(st, "actors"), 5);

	/* alice's 4th entry is past the runtime's last checkpoint: the
	 * read-only open applies the log tail to her head. */
	run("dump --json agent/alice '%s'", store_dir);
	expect_exit(0);
	assert_int_equal(
	    field_u64(line_with(res.out, "\"record\":\"actor\"", NULL, NULL),
		      "last_seq"),
	    4);
	line_with(res.out, "\"seq\":4", DINNER, NULL);

	run("verify '%s'", store_dir);
	expect_exit(0);
}

/* Build the store (two sessions) and read it while the second runs. */
static void test_store_read_while_live(void **unused)
{
	(void)unused;
	char cmd[600], big[LONG_LEN];

	mt_tool_path(tool, sizeof tool);
	snprintf(store_dir, sizeof store_dir, "/tmp/mnemo-cli-%d",
		 (int)getpid());
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", store_dir);
	assert_int_equal(system(cmd), 0);

	atomic_store(&refuse_carol, 0);
	mn_runtime *rt = open_runtime();
	send_text(rt, "alice", T_HELLO, HELLO_ALICE, 0);
	send_text(rt, "alice", T_ASK, ASK, 0);
	send_text(rt, "bob", T_HELLO, HI_BOB, 0);
	long_payload(big);
	assert_rc(mn_send(rt, agent_kind, "bob", 3, T_HELLO, big, sizeof big),
		  0);
	assert_rc(mn_send(rt, agent_kind, BIN_KEY, sizeof BIN_KEY, T_HELLO,
			  BIN_PAYLOAD, sizeof BIN_PAYLOAD),
		  0);
	send_text(rt, "carol", T_HELLO, FIRST_CAROL, 1);
	mt_drain(rt);
	assert_int_equal(mt_stats(rt).handler_errors, 0);
	mn_runtime_close(rt);

	/* Second session: two messages for carol stay in the outbox (her
	 * init refuses), one from outside and one from alice. */
	atomic_store(&refuse_carol, 1);
	rt = open_runtime();
	send_text(rt, "carol", T_NOTE, PENDING, 1);
	send_text(rt, "alice", T_TELL, DINNER, 0);
	mt_drain(rt);
	assert_int_equal(mt_stats(rt).handler_errors, 2);
	check_live_stats();
	mn_runtime_close(rt);
}

static void test_stats(void **unused)
{
	(void)unused;
	run("stats --json '%s'", store_dir);
	expect_exit(0);
	assert_int_equal(expect_json_lines(res.out), 3);
	const char *st = line_with(res.out, "\"record\":\"store\"", NULL, NULL);
	assert_int_equal(field_u64(st, "kinds"), 2);
	assert_int_equal(field_u64(st, "actors"), 5);
	assert_int_equal(field_u64(st, "names"), 5);
	assert_int_equal(field_u64(st, "journal_entries"), ENTRIES);
	assert_int_equal(field_u64(st, "scanned_entries"), ENTRIES);
	assert_int_equal(field_u64(st, "last_lsn"), ENTRIES);
	assert_int_equal(field_u64(st, "checkpoint_lsn"), ENTRIES);
	assert_int_equal(field_u64(st, "outbox"), 2);
	assert_int_equal(field_u64(st, "payload_bytes"), payload_total());
	assert_int_equal(field_u64(st, "outbox_payload_bytes"),
			 strlen(PENDING) + strlen(DINNER));
	/* Snapshots every 2 messages: alice at 2 and 4, bob at 2. */
	assert_int_equal(field_u64(st, "snapshots"), 3);
	/* alice's reminder, an hour away. */
	assert_int_equal(field_u64(st, "timers"), 1);
	assert_int_equal(field_u64(st, "timers_due"), 0);
	expect_in(st, "\"next_timer\":\"20");
	assert_true(field_u64(st, "disk_bytes") > 0);
	expect_in(st, "\"compression_ratio\":");

	const char *k = line_with(res.out, "\"name\":\"agent\"", NULL, NULL);
	assert_int_equal(field_u64(k, "id"), 1);
	assert_int_equal(field_u64(k, "actors"), 4);
	assert_int_equal(field_u64(k, "journal_entries"), ENTRIES - 1);
	assert_int_equal(field_u64(k, "outbox"), 2);
	/* bob's long message is compressed: agent's journal takes fewer
	 * bytes than its payloads. */
	assert_true(field_u64(k, "stored_bytes") <
		    field_u64(k, "payload_bytes"));
	k = line_with(res.out, "\"name\":\"tool\"", NULL, NULL);
	assert_int_equal(field_u64(k, "id"), 2);
	assert_int_equal(field_u64(k, "actors"), 1);
	assert_int_equal(field_u64(k, "journal_entries"), 1);
	assert_int_equal(field_u64(k, "payload_bytes"), strlen(ASK));

	run("stats '%s'", store_dir);
	expect_exit(0);
	expect_in(res.out, "journal entries     9\n");
	expect_in(res.out, "actors              5\n");
	expect_in(res.out, "outbox              2\n");
	expect_in(res.out, "compression ratio");
	line_with(res.out, "agent ", " 4 ", NULL);
	assert_string_equal(res.err, "");

	run("stats --quick '%s'", store_dir);
	expect_exit(0);
	expect_in(res.out, "journal entries     9\n");
	expect_not_in(res.out, "compression ratio");
}

static void test_ls(void **unused)
{
	(void)unused;
	static const char *const addrs[] = {"agent/alice", "agent/bob",
					    "agent/0x0001feff", "agent/carol",
					    "tool/search"};
	run("ls '%s'", store_dir);
	expect_exit(0);
	for (size_t i = 0; i < 5; i++) {
		char end[64];
		snprintf(end, sizeof end, "  %s\n", addrs[i]);
		expect_in(res.out, end);
	}
	expect_in(res.out, "\n5 actors\n");
	/* alice: 4 entries. */
	line_with(res.out, "agent/alice", "        4 ", NULL);

	run("ls --kind tool '%s'", store_dir);
	expect_exit(0);
	expect_in(res.out, "tool/search\n1 actor\n");
	expect_not_in(res.out, "agent/");

	run("ls --limit 2 '%s'", store_dir);
	expect_exit(0);
	expect_in(res.out, "2 actors shown; more exist");

	run("ls --json -k agent '%s'", store_dir);
	expect_exit(0);
	assert_int_equal(expect_json_lines(res.out), 4);
	const char *b =
	    line_with(res.out, "\"key_hex\":\"0001feff\"", NULL, NULL);
	expect_in(b, "\"key\":\"0x0001feff\"");
	expect_in(b, "\"address\":\"agent/0x0001feff\"");
	expect_in(b, "\"kind\":\"agent\"");
	assert_int_equal(field_u64(b, "last_seq"), 1);
	assert_int_equal(field_u64(b, "snapshot_seq"), 0);
	assert_int_equal(
	    field_u64(
		line_with(res.out, "\"address\":\"agent/bob\"", NULL, NULL),
		"snapshot_seq"),
	    2);
	expect_in(b, "\"created\":\"20");

	run("ls --kind nosuch '%s'", store_dir);
	expect_exit(1);
	expect_in(res.err, "no kind named 'nosuch'");
}

/* p holds needles in this order. */
static void expect_order(const char *p, const char *const *needles, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *q = strstr(p, needles[i]);
		if (!q)
			fail_msg("'%s' missing or out of order", needles[i]);
		p = q + strlen(needles[i]);
	}
}

static void test_dump(void **unused)
{
	(void)unused;
	run("dump agent/alice '%s'", store_dir);
	expect_exit(0);
	static const char *const order[] = {"actor agent/alice\n",
					    "last seq      4\n",
					    "snapshot seq  4\n",
					    "snapshot: seq 4  lsn ",
					    "|seen 4 messages|",
					    "seq 1 ",
					    "from outside",
					    "|hello alice|",
					    "seq 2 ",
					    "|find restaurants|",
					    "seq 3 ",
					    "from tool/search",
					    "|result: 42 thing|",
					    "seq 4 ",
					    "|dinner at 8|",
					    "outbox: no messages waiting",
					    "timers (pending for this actor):",
					    "type 5  payload 9 B",
					    "|remind me|"};
	expect_order(res.out, order, sizeof order / sizeof order[0]);

	run("dump --json agent/alice '%s'", store_dir);
	expect_exit(0);
	assert_int_equal(expect_json_lines(res.out), 7);
	static const char *const jorder[] = {
	    "\"record\":\"actor\"", "\"snapshot_seq\":4,",
	    "\"record\":\"snapshot\",\"seq\":4,",
	    /* "seen 4 messages" */
	    "\"state_hex\":\"7365656e2034206d65737361676573\"", "\"seq\":1,",
	    "\"payload_text\":\"hello alice\"", "\"seq\":2,",
	    "\"payload_text\":\"find restaurants near the station\"",
	    "\"seq\":3,", "\"sender\":\"tool/search\"",
	    "\"payload_text\":\"result: 42 things found\"", "\"seq\":4,",
	    "\"payload_text\":\"dinner at 8\"", "\"record\":\"timer\"",
	    "\"type\":5,", "\"payload_text\":\"remind me\""};
	expect_order(res.out, jorder, sizeof jorder / sizeof jorder[0]);

	run("dump --from 2 --to 3 agent/alice '%s'", store_dir);
	expect_exit(0);
	expect_in(res.out, "\nseq 2 ");
	expect_in(res.out, "\nseq 3 ");
	expect_not_in(res.out, "\nseq 1 ");
	expect_not_in(res.out, "\nseq 4 ");

	/* A binary key, a binary payload. */
	run("dump agent/0x0001FEFF '%s'", store_dir);
	expect_exit(0);
	expect_in(res.out, "key           0x0001feff (4 bytes)");
	expect_in(res.out, "00000000  00 01 02 ff 62 69 6e");
	expect_in(res.out, "|....bin|");
	expect_in(res.out, "snapshot: none\n");
	run("dump -j agent/0x0001feff '%s'", store_dir);
	expect_exit(0);
	line_with(res.out, "\"payload_hex\":\"000102ff62696e\"",
		  "\"payload_text\":null", NULL);

	/* A long payload: 64 bytes shown unless --full. bob's snapshot
	 * came after his second message. */
	run("dump agent/bob '%s'", store_dir);
	expect_exit(0);
	expect_in(res.out, "snapshot: seq 2 ");
	char more[64];
	snprintf(more, sizeof more, "... %d more bytes (--full shows all)",
		 LONG_LEN - MN__CLI_PAYLOAD_SHOWN);
	expect_in(res.out, more);
	run("dump --full agent/bob '%s'", store_dir);
	expect_exit(0);
	expect_not_in(res.out, "more bytes");
	expect_in(res.out, "000007c0  ");

	/* carol: one entry, and two messages waiting in the outbox. */
	run("dump agent/carol '%s'", store_dir);
	expect_exit(0);
	static const char *const corder[] = {
	    "snapshot: none",	   "seq 1 ",
	    "|first for carol|",   "outbox (waiting for this actor)",
	    "from outside",	   "|pending for caro|",
	    "from agent/alice",	   "|dinner at 8|",
	    "timers: none pending"};
	expect_order(res.out, corder, sizeof corder / sizeof corder[0]);
	run("dump --json agent/carol '%s'", store_dir);
	expect_exit(0);
	assert_int_equal(expect_json_lines(res.out), 4);
	line_with(res.out, "\"record\":\"outbox\"",
		  "\"sender\":\"agent/alice\"",
		  "\"payload_text\":\"dinner at 8\"");
}

static void test_dump_not_found(void **unused)
{
	(void)unused;
	run("dump agent/nobody '%s'", store_dir);
	expect_exit(1);
	expect_in(res.err, "mnemo dump: no actor agent/nobody in store");
	assert_string_equal(res.out, "");

	run("dump ghost/alice '%s'", store_dir);
	expect_exit(1);
	expect_in(res.err, "no kind named 'ghost'");

	run("dump agent/0xabc '%s'", store_dir); /* odd number of digits */
	expect_exit(2);
	expect_in(res.err, "bad address 'agent/0xabc'");
	run("dump alice '%s'", store_dir);
	expect_exit(2);
}

static void test_usage(void **unused)
{
	(void)unused;
	static const char *const bad[] = {
	    "",
	    "nosuchcommand",
	    "stats",
	    "stats a b",
	    "stats --bogus /tmp",
	    "ls --limit 0 /tmp",
	    "ls --limit x /tmp",
	    "ls --kind",
	    "dump /tmp",
	    "dump --from 0 agent/alice /tmp",
	    "dump --from 3 --to 2 agent/alice /tmp",
	    "dump --from",
	    "verify",
	    "verify -x /tmp",
	    "errors extra",
	    "help nosuchcommand",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		run("%s", bad[i]);
		if (res.status != 2)
			fail_msg("'mnemo %s': exit %d, expected 2", bad[i],
				 res.status);
		assert_string_equal(res.out, "");
		expect_in(res.err, "usage: mnemo");
	}
	run("dump --from");
	expect_in(res.err, "option '--from' needs a value");
	run("stats --bogus /tmp");
	expect_in(res.err, "'--bogus'");

	static const char *const helps[] = {"stats --help", "ls -h",
					    "dump --help", "verify --help",
					    "help dump"};
	for (size_t i = 0; i < sizeof helps / sizeof helps[0]; i++) {
		run("%s", helps[i]);
		expect_exit(0);
		expect_in(res.out, "SYNOPSIS");
		expect_in(res.out, "EXIT STATUS");
		assert_string_equal(res.err, "");
	}
	run("help");
	expect_exit(0);
	expect_in(res.out, "verify");
	run("version");
	expect_exit(0);
	expect_in(res.out, mn_version());
	run("errors --json");
	expect_exit(0);
	/* One line per code of the table. */
#define ONE_CODE(name, val, desc) +1
	assert_int_equal(expect_json_lines(res.out), 0 MN_ERRNO_MAP(ONE_CODE));
#undef ONE_CODE
	expect_in(res.out, "\"name\":\"MN_ECORRUPT\"");
}

static void test_bad_store(void **unused)
{
	(void)unused;
	char dir[300];
	snprintf(dir, sizeof dir, "%s-missing", store_dir);
	run("stats '%s'", dir);
	expect_exit(2);
	char want[400];
	snprintf(want, sizeof want,
		 "mnemo stats: opening store %s: No such file or directory",
		 dir);
	expect_in(res.err, want);
	assert_string_equal(res.out, "");

	/* A directory that is not a store. */
	assert_int_equal(mkdir(dir, 0700), 0);
	run("verify '%s'", dir);
	expect_exit(2);
	expect_in(res.err, "not a mnemo store");
	rmdir(dir);
}

static void test_verify(void **unused)
{
	(void)unused;
	run("verify '%s'", store_dir);
	expect_exit(0);
	expect_in(res.out, " 0 problems: healthy\n");
	run("verify --json '%s'", store_dir);
	expect_exit(0);
	assert_int_equal(expect_json_lines(res.out), 1);
	expect_in(res.out, "\"healthy\":true");

	/* Flip the last byte of alice's first entry. */
	run("dump --json agent/alice '%s'", store_dir);
	expect_exit(0);
	uint64_t lsn =
	    field_u64(line_with(res.out, "\"seq\":1,", NULL, NULL), "lsn");
	unsigned char k[8], v[512];
	for (int i = 0; i < 8; i++)
		k[i] = (unsigned char)(lsn >> (56 - 8 * i));
	size_t n = mt_store_peek(store_dir, "log", k, 8, v, sizeof v);
	v[n - 1] ^= 0x40;
	mt_store_poke(store_dir, "log", k, 8, v, n);

	char want[64];
	snprintf(want, sizeof want, "log record %llu: checksum mismatch",
		 (unsigned long long)lsn);
	run("verify '%s'", store_dir);
	expect_exit(1);
	expect_in(res.out, want);
	expect_in(res.out, "DAMAGED");
	run("verify --json '%s'", store_dir);
	expect_exit(1);
	expect_json_lines(res.out);
	line_with(res.out, "\"record\":\"problem\"", want, NULL);
	expect_in(res.out, "\"healthy\":false");

	/* Reading the damaged history is an error naming the record. */
	run("dump agent/alice '%s'", store_dir);
	expect_exit(1);
	expect_in(res.err, "mnemo dump: reading the journal: MN_ECORRUPT");
	expect_in(res.err, want);
	run("stats '%s'", store_dir);
	expect_exit(1);
	expect_in(res.err, want);
	/* What does not touch that record still works. */
	run("dump agent/bob '%s'", store_dir);
	expect_exit(0);
	run("ls '%s'", store_dir);
	expect_exit(0);

	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", store_dir);
	assert_int_equal(system(cmd), 0);
}

/* The helpers, in process. */
static void test_helpers(void **unused)
{
	(void)unused;
	char buf[MN__CLI_KEY_CAP];
	unsigned char key[MN_KEY_MAX];
	size_t len;

	mn__cli_key_format(buf, "alice", 5);
	assert_string_equal(buf, "alice");
	mn__cli_key_format(buf, "0xab", 4); /* text that looks like hex */
	assert_string_equal(buf, "0x30786162");
	assert_rc(mn__cli_key_parse(buf, key, &len), 0);
	assert_int_equal(len, 4);
	assert_memory_equal(key, "0xab", 4);
	mn__cli_key_format(buf, "a b\n", 4);
	assert_string_equal(buf, "0x6120620a");
	assert_rc(mn__cli_key_parse("0x", key, &len), MN_EKEY);
	assert_rc(mn__cli_key_parse("0xg0", key, &len), MN_EKEY);
	assert_rc(mn__cli_key_parse("", key, &len), MN_EKEY);

	uint64_t v;
	assert_int_equal(mn__cli_parse_u64("18446744073709551615", &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(mn__cli_parse_u64("18446744073709551616", &v), -1);
	assert_int_equal(mn__cli_parse_u64("-1", &v), -1);

	char t[MN__CLI_TIME_CAP];
	mn__cli_time(t, 1795592852411ull);
	assert_string_equal(t, "2026-11-25T07:47:32.411Z");

	assert_true(mn__cli_is_text("caf\xc3\xa9\n", 6));
	assert_false(mn__cli_is_text("a\x01", 2));
	assert_false(mn__cli_is_text("\xc3", 1));
	assert_false(mn__cli_is_text("\xed\xa0\x80", 3)); /* a surrogate */

	char *mem = NULL;
	size_t mlen = 0;
	FILE *f = open_memstream(&mem, &mlen);
	assert_non_null(f);
	mn__json_string(f, "q\"b\\\x01\xff\xc3\xa9", 8);
	fclose(f);
	assert_string_equal(mem, "\"q\\\"b\\\\\\u0001\\ufffd\xc3\xa9\"");
	free(mem);
}

int main(void)
{
	mt_init("recovery/cli");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_helpers, mt_setup),
	    cmocka_unit_test_setup(test_store_read_while_live, mt_setup),
	    cmocka_unit_test_setup(test_stats, mt_setup),
	    cmocka_unit_test_setup(test_ls, mt_setup),
	    cmocka_unit_test_setup(test_dump, mt_setup),
	    cmocka_unit_test_setup(test_dump_not_found, mt_setup),
	    cmocka_unit_test_setup(test_usage, mt_setup),
	    cmocka_unit_test_setup(test_bad_store, mt_setup),
	    cmocka_unit_test_setup(test_verify, mt_setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
