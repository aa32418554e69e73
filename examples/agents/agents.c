/*
 * agents.c - the main demo: many customer-support agents as persistent
 * actors, more of them than memory holds, killed with SIGKILL mid-traffic,
 * brought back, and checked one by one against an independent model.
 *
 * Each agent ("support-agent/customer-0000042") keeps a conversational
 * memory: turns seen, characters read, a digest of the whole conversation
 * in order, escalations, and its last three turns. A turn that asks for a
 * refund escalates to one of 100 supervisors (actor to actor). Agents
 * snapshot every 16 messages; idle ones are evicted down to --resident.
 *
 * The story:
 *   1. A child process opens the store and sends every agent its turns as
 *      durable messages (each acknowledged once stored), with eviction
 *      active. The parent records each acknowledgement.
 *   2. In the middle of the traffic the parent kills the child (SIGKILL).
 *   3. The parent reopens the store (lazy: nothing is loaded), lets the
 *      stored messages finish, and asks every agent to compare its state
 *      with the model: an agent that had n turns must hold exactly the state
 *      the model computes for its first n turns, and n must lie between the
 *      turns acknowledged and the turns sent. Supervisors must have counted
 *      exactly the escalations the agents made.
 *
 * Usage: agents [--agents N] [--turns T] [--resident R] [--workers W]
 *               [--store DIR] [--keep]
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mnemo.h"

enum {
	MSG_TURN = 1,
	MSG_ESCALATE = 2,
	MSG_CHECK = 3,
	MSG_REPORT = 4,
	MSG_PING = 5
};

#define LAST_TURNS  3
#define TURN_MAX    64
#define SUPERVISORS 100

typedef struct agent {
	uint32_t turns;
	uint32_t escalations;
	uint64_t chars;
	uint64_t digest;
	char last[LAST_TURNS][TURN_MAX];
} agent;

typedef struct supervisor {
	uint64_t escalations;
} supervisor;

/* What an agent with n turns must hold (the model, computed by the
 * parent from the turn texts alone). */
typedef struct expect {
	uint32_t turns;
	uint32_t escalations;
	uint64_t chars;
	uint64_t digest;
} expect;

/* A CHECK carries the acknowledged-turn count and the expected state for
 * every possible turn count from 0 to the number of turns sent. */
typedef struct check {
	uint32_t acked, sent;
	expect want[8];
} check;

static _Atomic uint64_t ok_agents, bad_agents;
static _Atomic uint64_t escalations_seen_by_agents;
static _Atomic uint64_t ping_ns; /* when the last PING was handled */
static mn_kind *supervisor_kind;

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

#define FNV_SEED 0xcbf29ce484222325ull

static const char *topics[] = {
    "where is my parcel",
    "my invoice looks wrong",
    "I want a refund",
    "how do I reset my password",
    "the app crashes on start",
    "can I change my plan",
    "I want a refund for the extra charge",
    "thanks, that worked",
};

static size_t turn_text(uint64_t i, uint32_t r, char *out)
{
	const char *t = topics[(i * 7 + r * 3) % 8];
	int n = snprintf(out, TURN_MAX, "turn %u: %s (order %" PRIu64 ")", r, t,
			 (i * 2654435761u) % 100000);
	return (size_t)n < TURN_MAX ? (size_t)n : TURN_MAX - 1;
}

static int wants_refund(const char *text, size_t len)
{
	return memmem(text, len, "refund", 6) != NULL;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- the kinds --------------------------------------------------------------
 */

static int agent_init(mn_ctx *ctx, void **state)
{
	(void)ctx;
	*state = calloc(1, sizeof(agent));
	return *state ? 0 : MN_ENOMEM;
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

static uint64_t self_index(mn_ctx *ctx)
{
	char digits[MN_KEY_MAX + 1];
	mn_addr self;
	mn_ctx_self(ctx, &self);
	memcpy(digits, self.key, self.key_len);
	digits[self.key_len] = 0;
	return strtoull(digits + 9, NULL, 10);
}

static int agent_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	agent *a = state;

	switch (msg->type) {
	case MSG_TURN: {
		size_t n = msg->len < TURN_MAX - 1 ? msg->len : TURN_MAX - 1;
		char *slot = a->last[a->turns % LAST_TURNS];
		memcpy(slot, msg->payload, n);
		slot[n] = 0;
		a->turns++;
		a->chars += msg->len;
		a->digest = fnv1a(a->digest ? a->digest : FNV_SEED,
				  msg->payload, msg->len);
		if (wants_refund(msg->payload, msg->len)) {
			char key[16];
			int kn =
			    snprintf(key, sizeof key, "sup-%02u",
				     (unsigned)(self_index(ctx) % SUPERVISORS));
			a->escalations++;
			/* As a plugin of the mnemo tool (replay), the kind is
			 * found in the tool's offline runtime. */
			const mn_kind *sk =
			    supervisor_kind ? supervisor_kind
					    : mn_kind_find(mn_ctx_runtime(ctx),
							   "supervisor");
			return mn_ctx_send(ctx, sk, key, (size_t)kn,
					   MSG_ESCALATE, msg->payload,
					   msg->len);
		}
		return 0;
	}
	case MSG_PING: /* leaves the state alone: latency probe */
		if (!mn_ctx_replaying(ctx))
			atomic_store(&ping_ns, now_ns());
		return 0;
	case MSG_CHECK: {
		check c;
		if (mn_ctx_replaying(ctx))
			return 0;
		memcpy(&c, msg->payload, sizeof c);
		int ok = a->turns >= c.acked && a->turns <= c.sent;
		if (ok) {
			const expect *e = &c.want[a->turns];
			ok = e->chars == a->chars && e->digest == a->digest &&
			     e->escalations == a->escalations;
		}
		atomic_fetch_add(ok ? &ok_agents : &bad_agents, 1);
		atomic_fetch_add(&escalations_seen_by_agents, a->escalations);
		return 0;
	}
	}
	return MN_EINVAL;
}

static int sup_init(mn_ctx *ctx, void **state)
{
	(void)ctx;
	*state = calloc(1, sizeof(supervisor));
	return *state ? 0 : MN_ENOMEM;
}

static int sup_snapshot(const void *state, mn_buf *out)
{
	return mn_buf_append(out, state, sizeof(supervisor));
}

static int sup_restore(mn_ctx *ctx, const void *bytes, size_t len, void **state)
{
	(void)ctx;
	if (len != sizeof(supervisor))
		return MN_ECORRUPT;
	*state = malloc(sizeof(supervisor));
	if (!*state)
		return MN_ENOMEM;
	memcpy(*state, bytes, len);
	return 0;
}

static _Atomic uint64_t sup_total;

static int sup_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	supervisor *s = state;
	if (msg->type == MSG_ESCALATE) {
		s->escalations++;
		return 0;
	}
	if (msg->type == MSG_REPORT) {
		if (!mn_ctx_replaying(ctx))
			atomic_fetch_add(&sup_total, s->escalations);
		return 0;
	}
	return MN_EINVAL;
}

/* For people (mnemo replay/diff) and for replay's per-message check. */
static int agent_describe(const void *state, mn_buf *out)
{
	const agent *a = state;
	char line[512];
	int n = snprintf(line, sizeof line,
			 "turns %u, escalations %u, chars %" PRIu64
			 ", digest %016" PRIx64 "\n",
			 a->turns, a->escalations, a->chars, a->digest);
	int rc = mn_buf_append(out, line, (size_t)n);
	uint32_t shown = a->turns < LAST_TURNS ? a->turns : LAST_TURNS;
	for (uint32_t i = 0; !rc && i < shown; i++) {
		uint32_t t = a->turns - shown + i;
		n = snprintf(line, sizeof line, "  last: %.*s\n", TURN_MAX,
			     a->last[t % LAST_TURNS]);
		rc = mn_buf_append(out, line, (size_t)n);
	}
	return rc;
}

static uint64_t agent_hash(const void *state)
{
	const agent *a = state;
	uint64_t h = fnv1a(FNV_SEED, &a->turns, sizeof a->turns);
	h = fnv1a(h, &a->escalations, sizeof a->escalations);
	h = fnv1a(h, &a->chars, sizeof a->chars);
	return fnv1a(h, &a->digest, sizeof a->digest);
}

static int sup_describe(const void *state, mn_buf *out)
{
	char line[64];
	int n = snprintf(line, sizeof line, "escalations %" PRIu64 "\n",
			 ((const supervisor *)state)->escalations);
	return mn_buf_append(out, line, (size_t)n);
}

static const mn_kind_def kind_defs[] = {
    {.name = "supervisor",
     .init = sup_init,
     .handle = sup_handle,
     .snapshot = sup_snapshot,
     .restore = sup_restore,
     .free = free,
     .describe = sup_describe,
     .snapshot_every = 64},
    {.name = "support-agent",
     .init = agent_init,
     .handle = agent_handle,
     .snapshot = agent_snapshot,
     .restore = agent_restore,
     .free = free,
     .describe = agent_describe,
     .hash = agent_hash,
     .snapshot_every = 16},
};

/* The kinds as a plugin of the mnemo tool: build/bin/agents.so (the same
 * source, built as a shared object) lets `mnemo replay` and `mnemo diff`
 * re-run any agent of a demo store (`make demo DEMO_ARGS=--keep`). */
const mn_kind_def *mnemo_plugin_kinds(size_t *count);
const mn_kind_def *mnemo_plugin_kinds(size_t *count)
{
	*count = sizeof kind_defs / sizeof kind_defs[0];
	return kind_defs;
}

/* ---- runtime ----------------------------------------------------------------
 */

typedef struct demo {
	uint64_t agents;
	uint32_t turns;
	uint64_t resident;
	unsigned workers;
	char store[512];
	int keep;
} demo;

static int fail(const char *what, int rc)
{
	fprintf(stderr, "agents: %s: %s (%s)\n", what, mn_err_name(rc),
		mn_errdetail());
	return 1;
}

static int open_runtime(const demo *d, mn_runtime **rt, mn_kind **agent_kind)
{
	mn_runtime_opts o = {.workers = d->workers,
			     .store_path = d->store,
			     .durability = MN_DURABILITY_SYNC,
			     .max_resident = d->resident};
	int rc = mn_runtime_open(&o, rt);
	if (rc)
		return fail("opening the runtime", rc);
	if ((rc = mn_kind_register(*rt, &kind_defs[0], &supervisor_kind)) ||
	    (rc = mn_kind_register(*rt, &kind_defs[1], agent_kind)))
		return fail("registering kinds", rc);
	return 0;
}

static int agent_key(uint64_t i, char *key)
{
	return snprintf(key, 24, "customer-%07" PRIu64, i);
}

/* ---- the child: traffic until killed ----------------------------------------
 */

typedef struct ack {
	uint32_t agent, turn;
} ack;

static int ack_fd;

static void on_stored(void *arg, int rc)
{
	uintptr_t v = (uintptr_t)arg;
	ack a = {(uint32_t)(v >> 8), (uint32_t)(v & 0xff)};
	if (rc != 0)
		_exit(3);
	if (write(ack_fd, &a, sizeof a) != sizeof a)
		_exit(4);
}

static void child(const demo *d, int fd)
{
	mn_runtime *rt;
	mn_kind *ak;
	ack_fd = fd;
	if (open_runtime(d, &rt, &ak))
		_exit(2);
	for (uint32_t r = 0; r < d->turns; r++) {
		for (uint64_t i = 0; i < d->agents; i++) {
			char key[24], text[TURN_MAX];
			int kn = agent_key(i, key);
			size_t tn = turn_text(i, r, text);
			int rc = mn_send_durable_async(
			    rt, ak, key, (size_t)kn, MSG_TURN, text, tn,
			    on_stored, (void *)(uintptr_t)(i << 8 | r));
			if (rc)
				_exit(5);
		}
	}
	mn_runtime_drain(rt);
	pause(); /* the parent kills us before or after this point */
	_exit(0);
}

/* ---- the parent
 * ---------------------------------------------------------------- */

/* A progress line on stderr, rewritten in place on a terminal. */
static void progress(const char *fmt, ...)
{
	va_list ap;
	if (!isatty(2))
		return;
	va_start(ap, fmt);
	fprintf(stderr, "\r  ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\033[K");
	if (!*fmt)
		fprintf(stderr, "\r");
	va_end(ap);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static uint64_t dir_bytes(const char *dir)
{
	char p[600];
	struct stat st;
	snprintf(p, sizeof p, "%s/data.mdb", dir);
	return stat(p, &st) == 0 ? (uint64_t)st.st_blocks * 512 : 0;
}

int main(int argc, char **argv)
{
	demo d = {.agents = 1000000, .turns = 3, .resident = 0, .workers = 0};
	/* A store of its own per run, so two demos never share one. */
	snprintf(d.store, sizeof d.store, "build/demo-store-%d", (int)getpid());
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--agents") && i + 1 < argc)
			d.agents = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--turns") && i + 1 < argc)
			d.turns = (uint32_t)strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--resident") && i + 1 < argc)
			d.resident = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--workers") && i + 1 < argc)
			d.workers = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--store") && i + 1 < argc)
			snprintf(d.store, sizeof d.store, "%s", argv[++i]);
		else if (!strcmp(argv[i], "--keep"))
			d.keep = 1;
		else {
			fprintf(stderr,
				"usage: agents [--agents N] [--turns T] "
				"[--resident R] [--workers W] [--store DIR] "
				"[--keep]\n");
			return 2;
		}
	}
	if (d.agents == 0 || d.agents > 9999999 || d.turns == 0 ||
	    d.turns > 7) {
		fprintf(stderr, "agents: --agents 1..9999999, --turns 1..7\n");
		return 2;
	}
	if (!d.resident)
		d.resident = d.agents / 10 ? d.agents / 10 : 1;

	char cmd[700];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", d.store);
	if (system(cmd) != 0)
		return 1;
	printf("mnemo demo: %" PRIu64 " support agents, %u turns each, at "
	       "most %" PRIu64 " resident, store %s\n",
	       d.agents, d.turns, d.resident, d.store);

	/* 1-2. The child sends; the parent records acks and kills it
	 * when about 60% of the turns are stored. */
	uint8_t *acked = calloc(d.agents, 1);
	int fds[2];
	if (!acked || pipe(fds) != 0)
		return 1;
	uint64_t total = d.agents * d.turns, kill_at = total * 6 / 10;
	double t0 = now_s();
	pid_t pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		close(fds[0]);
		child(&d, fds[1]);
	}
	close(fds[1]);
	uint64_t nacked = 0, next_note = 0;
	ack buf[512];
	ssize_t got;
	while (nacked < kill_at && (got = read(fds[0], buf, sizeof buf)) > 0) {
		for (size_t j = 0; j < (size_t)got / sizeof(ack); j++) {
			if (buf[j].agent < d.agents &&
			    buf[j].turn + 1u > acked[buf[j].agent])
				acked[buf[j].agent] =
				    (uint8_t)(buf[j].turn + 1);
			nacked++;
		}
		if (nacked >= next_note) {
			progress("traffic: %" PRIu64 " of %" PRIu64
				 " turns stored (%.0f/s)",
				 nacked, total, nacked / (now_s() - t0));
			next_note = nacked + total / 100 + 1;
		}
	}
	kill(pid, SIGKILL);
	/* Acks already written before the kill count too. */
	while ((got = read(fds[0], buf, sizeof buf)) > 0)
		for (size_t j = 0; j < (size_t)got / sizeof(ack); j++) {
			if (buf[j].agent < d.agents &&
			    buf[j].turn + 1u > acked[buf[j].agent])
				acked[buf[j].agent] =
				    (uint8_t)(buf[j].turn + 1);
			nacked++;
		}
	close(fds[0]);
	int status;
	waitpid(pid, &status, 0);
	double t1 = now_s();
	progress("");
	printf("  traffic:   %" PRIu64 " turns acknowledged as stored in "
	       "%.1f s (%.0f/s), then SIGKILL (%s)\n",
	       nacked, t1 - t0, nacked / (t1 - t0),
	       WIFSIGNALED(status) ? "killed mid-traffic" : "had finished");

	/* 3. Restart. */
	mn_runtime *rt;
	mn_kind *ak;
	double r0 = now_s();
	if (open_runtime(&d, &rt, &ak))
		return 1;
	double r1 = now_s();
	mn_runtime_drain(rt);
	double r2 = now_s();
	mn_runtime_stats st;
	mn_runtime_stats_get(rt, &st);
	printf("  restart:   store opened and kinds registered in %.1f ms; "
	       "%" PRIu64 " stored messages finished in %.1f s\n",
	       (r1 - r0) * 1e3, st.outbox_delivered, r2 - r1);

	/* Rehydration latency: one agent at a time, most of them evicted
	 * (snapshot + journal tail from the store, warm page cache). */
	uint64_t lat[200];
	unsigned nl = 0;
	for (unsigned s = 0; s < 200 && s < d.agents; s++) {
		uint64_t i = (uint64_t)s * 7919 % d.agents;
		char key[24];
		int kn = agent_key(i, key);
		atomic_store(&ping_ns, 0);
		uint64_t ts = now_ns();
		if (mn_send(rt, ak, key, (size_t)kn, MSG_PING, NULL, 0))
			break;
		mn_runtime_drain(rt);
		uint64_t te = atomic_load(&ping_ns);
		if (te > ts)
			lat[nl++] = te - ts;
	}
	qsort(lat, nl, sizeof lat[0], cmp_u64);
	if (nl)
		printf("  rehydrate: an evicted agent answers in %.0f us "
		       "(p50), %.0f us (p99), from snapshot + journal tail\n",
		       lat[nl / 2] / 1e3, lat[nl * 99 / 100] / 1e3);

	/* Verification: every agent against the model. */
	double v0 = now_s();
	check c;
	for (uint64_t i = 0; i < d.agents; i++) {
		char key[24], text[TURN_MAX];
		int kn = agent_key(i, key);
		memset(&c, 0, sizeof c);
		c.acked = acked[i];
		c.sent = d.turns;
		uint64_t dg = 0;
		for (uint32_t r = 0; r < d.turns; r++) {
			size_t tn = turn_text(i, r, text);
			c.want[r + 1] = c.want[r];
			c.want[r + 1].turns = r + 1;
			c.want[r + 1].chars += tn;
			dg = fnv1a(dg ? dg : FNV_SEED, text, tn);
			c.want[r + 1].digest = dg;
			if (wants_refund(text, tn))
				c.want[r + 1].escalations++;
		}
		int rc =
		    mn_send(rt, ak, key, (size_t)kn, MSG_CHECK, &c, sizeof c);
		if (rc)
			return fail("sending a check", rc);
		if ((i & 0xffff) == 0xffff)
			progress("verifying: %" PRIu64 " of %" PRIu64
				 " agents asked",
				 i + 1, d.agents);
	}
	mn_runtime_drain(rt);
	for (unsigned s = 0; s < SUPERVISORS; s++) {
		char key[16];
		int kn = snprintf(key, sizeof key, "sup-%02u", s);
		mn_send(rt, supervisor_kind, key, (size_t)kn, MSG_REPORT, NULL,
			0);
	}
	mn_runtime_drain(rt);
	double v1 = now_s();
	progress("");
	mn_runtime_stats_get(rt, &st);
	uint64_t ok = atomic_load(&ok_agents), bad = atomic_load(&bad_agents);
	uint64_t esc = atomic_load(&escalations_seen_by_agents);
	uint64_t sup = atomic_load(&sup_total);
	int pass = ok == d.agents && bad == 0 && esc == sup;
	printf("  verified:  %" PRIu64 "/%" PRIu64 " agents hold exactly the "
	       "state the model computes for their turns (%" PRIu64
	       " mismatches) in %.1f s\n",
	       ok, d.agents, bad, v1 - v0);
	printf("             supervisors counted %" PRIu64 " escalations, "
	       "agents made %" PRIu64 ": %s\n",
	       sup, esc, esc == sup ? "exactly once" : "MISMATCH");
	printf("  memory:    %" PRIu64 " agents resident of %" PRIu64
	       " persisted; %" PRIu64 " evictions, %" PRIu64
	       " rehydrations, %" PRIu64 " snapshots\n",
	       st.actors, d.agents + SUPERVISORS, st.evictions, st.rehydrations,
	       st.snapshots);
	mn_runtime_close(rt);
	printf("  disk:      %.1f MiB (%.0f bytes per agent)\n",
	       dir_bytes(d.store) / 1048576.0,
	       (double)dir_bytes(d.store) / (double)d.agents);
	printf("  result:    %s\n", pass ? "PASS" : "FAIL");
	if (!d.keep) {
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", d.store);
		if (system(cmd) != 0)
			return 1;
	}
	free(acked);
	return pass ? 0 : 1;
}
