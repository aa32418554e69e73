/*
 * agents.c - the core demo: a million customer-support agents as actors.
 *
 * Each agent ("support-agent/customer-0000042") keeps a small conversational
 * memory: how many turns it has seen, the characters it has read, a rolling
 * digest of the conversation and its last few turns. Some turns ask for a
 * refund; the agent then escalates to one of 100 supervisors (actor to actor
 * messages). The driver keeps an independent model of what every agent and
 * supervisor must hold, and at the end asks each of them to check its state
 * against the model (a "check" message carrying the expected values).
 *
 * This is the runtime core's demo: agents live in memory only. Durability
 * (the kill -9, the restart, the state coming back) arrives with the durable
 * journal and eviction issues, which extend this program.
 *
 * Usage: agents [--agents N] [--turns T] [--workers W]
 */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mnemo.h"

enum { MSG_TURN = 1, MSG_ESCALATE = 2, MSG_CHECK = 3 };

#define LAST_TURNS 3
#define TURN_MAX 64
#define SUPERVISORS 100

typedef struct agent {
	uint32_t turns;
	uint32_t escalations;
	uint64_t chars;
	uint64_t digest; /* FNV-1a over every turn, in order */
	char last[LAST_TURNS][TURN_MAX];
} agent;

typedef struct supervisor {
	uint64_t escalations;
} supervisor;

/* What the driver expects an agent (or supervisor) to hold. */
typedef struct expect {
	uint32_t turns;
	uint32_t escalations;
	uint64_t chars;
	uint64_t digest;
} expect;

static _Atomic uint64_t checks_ok, checks_bad;
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
	"where is my parcel", "my invoice looks wrong", "I want a refund",
	"how do I reset my password", "the app crashes on start",
	"can I change my plan", "I want a refund for the extra charge",
	"thanks, that worked",
};

/* The text of turn r of customer i: deterministic, so the driver can
 * model it. */
static size_t turn_text(uint64_t i, uint32_t r, char *out)
{
	const char *t = topics[(i * 7 + r * 3) % 8];
	int n = snprintf(out, TURN_MAX, "turn %u: %s (order %" PRIu64 ")", r,
			 t, (i * 2654435761u) % 100000);
	return (size_t)n < TURN_MAX ? (size_t)n : TURN_MAX - 1;
}

static int wants_refund(const char *text, size_t len)
{
	return memmem(text, len, "refund", 6) != NULL;
}

static int agent_init(mn_ctx *ctx, void **state)
{
	(void)ctx;
	*state = calloc(1, sizeof(agent));
	return *state ? 0 : MN_ENOMEM;
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
			char key[16], digits[MN_KEY_MAX + 1];
			mn_addr self;
			mn_ctx_self(ctx, &self);
			/* Keys are bytes, not C strings: copy before
			 * parsing "customer-NNNNNNN". */
			memcpy(digits, self.key, self.key_len);
			digits[self.key_len] = 0;
			uint32_t id = (uint32_t)strtoul(digits + 9, NULL, 10);
			int kn = snprintf(key, sizeof key, "sup-%02u",
					  id % SUPERVISORS);
			a->escalations++;
			return mn_ctx_send(ctx, supervisor_kind, key,
					   (size_t)kn, MSG_ESCALATE,
					   msg->payload, msg->len);
		}
		return 0;
	}
	case MSG_CHECK: {
		expect e;
		memcpy(&e, msg->payload, sizeof e);
		int ok = e.turns == a->turns && e.chars == a->chars &&
			 e.digest == a->digest &&
			 e.escalations == a->escalations;
		atomic_fetch_add(ok ? &checks_ok : &checks_bad, 1);
		return 0;
	}
	}
	return MN_EINVAL;
}

static int supervisor_init(mn_ctx *ctx, void **state)
{
	(void)ctx;
	*state = calloc(1, sizeof(supervisor));
	return *state ? 0 : MN_ENOMEM;
}

static int supervisor_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	supervisor *s = state;
	(void)ctx;
	if (msg->type == MSG_ESCALATE) {
		s->escalations++;
		return 0;
	}
	if (msg->type == MSG_CHECK) {
		uint64_t want;
		memcpy(&want, msg->payload, sizeof want);
		atomic_fetch_add(want == s->escalations ? &checks_ok
							: &checks_bad,
				 1);
		return 0;
	}
	return MN_EINVAL;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

static int fail(const char *what, int rc)
{
	fprintf(stderr, "agents: %s: %s (%s)\n", what, mn_err_name(rc),
		mn_strerror(rc));
	return 1;
}

int main(int argc, char **argv)
{
	uint64_t nagents = 1000000;
	uint32_t nturns = 3;
	mn_runtime_opts opts = {0};
	mn_runtime *rt;
	mn_kind *agent_kind;
	int rc;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--agents") && i + 1 < argc)
			nagents = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--turns") && i + 1 < argc)
			nturns = (uint32_t)strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--workers") && i + 1 < argc)
			opts.workers = (unsigned)strtoul(argv[++i], NULL, 10);
		else {
			fprintf(stderr, "usage: agents [--agents N] "
					"[--turns T] [--workers W]\n");
			return 2;
		}
	}
	if (nagents == 0 || nagents > 9999999) {
		fprintf(stderr, "agents: --agents must be 1..9999999\n");
		return 2;
	}

	expect *model = calloc(nagents, sizeof *model);
	uint64_t sup_model[SUPERVISORS] = {0};
	if (!model)
		return fail("model", MN_ENOMEM);

	long rss0 = rss_kib();
	if ((rc = mn_runtime_open(&opts, &rt)))
		return fail("opening the runtime", rc);
	mn_kind_def adef = {.name = "support-agent", .init = agent_init,
			    .handle = agent_handle, .free = free};
	mn_kind_def sdef = {.name = "supervisor", .init = supervisor_init,
			    .handle = supervisor_handle, .free = free};
	if ((rc = mn_kind_register(rt, &adef, &agent_kind)) ||
	    (rc = mn_kind_register(rt, &sdef, &supervisor_kind)))
		return fail("registering kinds", rc);

	mn_runtime_stats st;
	mn_runtime_stats_get(rt, &st);
	printf("mnemo core demo: %" PRIu64 " support agents, %u turns each, "
	       "%u workers\n",
	       nagents, nturns, st.workers);

	double t0 = now_s();
	uint64_t sent = 0;
	for (uint32_t r = 0; r < nturns; r++) {
		for (uint64_t i = 0; i < nagents; i++) {
			char key[24], text[TURN_MAX];
			int kn = snprintf(key, sizeof key, "customer-%07" PRIu64,
					  i);
			size_t tn = turn_text(i, r, text);
			rc = mn_send(rt, agent_kind, key, (size_t)kn, MSG_TURN,
				     text, tn);
			if (rc)
				return fail("sending a turn", rc);
			sent++;
			expect *e = &model[i];
			e->turns++;
			e->chars += tn;
			e->digest = fnv1a(e->digest ? e->digest : FNV_SEED,
					  text, tn);
			if (wants_refund(text, tn)) {
				e->escalations++;
				sup_model[i % SUPERVISORS]++;
			}
			if ((i & 0xfffff) == 0xfffff) {
				fprintf(stderr,
					"\r  round %u/%u: %" PRIu64
					" messages sent",
					r + 1, nturns, sent);
			}
		}
	}
	mn_runtime_drain(rt);
	double t1 = now_s();
	fprintf(stderr, "\r%60s\r", "");
	mn_runtime_stats_get(rt, &st);
	long rss1 = rss_kib();

	printf("  traffic:   %" PRIu64 " turns + %" PRIu64
	       " escalations handled in %.2f s (%.0f msg/s)\n",
	       sent, st.processed - sent, t1 - t0, st.processed / (t1 - t0));
	printf("  resident:  %" PRIu64 " actors, runtime overhead %.0f "
	       "bytes/actor (records %.0f + registry %.0f), process RSS "
	       "+%.0f MiB\n",
	       st.actors,
	       (double)(st.actor_bytes + st.registry_bytes) / st.actors,
	       (double)st.actor_bytes / st.actors,
	       (double)st.registry_bytes / st.actors,
	       (rss1 - rss0) / 1024.0);

	/* Verification: every agent and supervisor checks itself against
	 * the driver's model. */
	for (uint64_t i = 0; i < nagents; i++) {
		char key[24];
		int kn = snprintf(key, sizeof key, "customer-%07" PRIu64, i);
		if ((rc = mn_send(rt, agent_kind, key, (size_t)kn, MSG_CHECK,
				  &model[i], sizeof model[i])))
			return fail("sending a check", rc);
	}
	uint64_t nsup = 0;
	for (unsigned s = 0; s < SUPERVISORS; s++) {
		char key[16];
		int kn = snprintf(key, sizeof key, "sup-%02u", s);
		if (!sup_model[s])
			continue;
		nsup++;
		if ((rc = mn_send(rt, supervisor_kind, key, (size_t)kn,
				  MSG_CHECK, &sup_model[s],
				  sizeof sup_model[s])))
			return fail("sending a check", rc);
	}
	mn_runtime_drain(rt);
	mn_runtime_stats_get(rt, &st);
	uint64_t ok = atomic_load(&checks_ok), bad = atomic_load(&checks_bad);
	int pass = ok == nagents + nsup && bad == 0 && st.handler_errors == 0;
	printf("  verified:  %" PRIu64 "/%" PRIu64
	       " actors match the model, %" PRIu64 " mismatches, %" PRIu64
	       " handler errors: %s\n",
	       ok, nagents + nsup, bad, st.handler_errors,
	       pass ? "PASS" : "FAIL");
	double t2 = now_s();
	mn_runtime_close(rt);
	printf("  close:     %.2f s (every actor's state freed)\n",
	       now_s() - t2);
	printf("  (in memory only: crash and restart arrive with the durable "
	       "journal)\n");
	free(model);
	return pass ? 0 : 1;
}
