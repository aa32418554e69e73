/*
 * test_serve_kill.c - SIGKILL `mnemo serve` while clients send stored
 * messages, then check the reopened store against a model.
 *
 * The real server (the tool of this build, tests/support/serve_proc.c) on
 * 127.0.0.1 with the kind "ledger" (tests/recovery/plugin_ledger.c, built
 * into a plugin at run time), which records in its state every id it
 * processed, repeats, and per-client order. KILL_CLIENTS client threads
 * each send their messages one after the other (?durable=1 and an
 * Idempotency-Key naming the message, a payload unique to it) to
 * KILL_ACTORS actors in turn, recording every 201. Once a seeded number of
 * 201s has come back, SIGKILL. Then serve again on the same store:
 *   - every message acknowledged with 201 was processed, exactly once, and
 *     each client's messages to an actor in the order it sent them;
 *   - a message without a 201 (the one each client had in flight) at most
 *     once;
 *   - retried with the same Idempotency-Key: 200 if it was stored before
 *     the kill (it must then be processed already or later, never twice),
 *     201 if not; a few new messages after it: 201;
 *   - in the end every actor processed exactly the messages sent to it,
 *     none twice, none out of order.
 * Several rounds, each with its own seeded kill point (MN_KILL_ROUNDS,
 * default 3), the seed printed at start (MN_TEST_SEED reproduces a run).
 * Bounded: each wait has its deadline; a round takes about a second.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/recovery/plugin_ledger.c"
#include "tests/support/serve_proc.h"
#include "tests/support/support.h"

#define TOKEN	     "kill-test-token"
#define KILL_CLIENTS 4
#define KILL_ACTORS  3
#define KILL_EXTRA   5 /* new messages per client after the restart */

static char dir[256], store[300], plugin[300], tokens[300], portf[300],
    logf_[300], tool[512];
static pid_t child = -1;
static unsigned port;

/* Per id (client * LG_PER + n): sent, acknowledged (201). */
static _Atomic int sent[LG_IDS], acked[LG_IDS];
static _Atomic unsigned nacked;
static _Atomic long bad_status;
/* Per client: the n of its first message without a 201 (-1: none), and
 * how many it sent this round (its next n). */
static int inflight[KILL_CLIENTS], next_n[KILL_CLIENTS];

static void start_server(void)
{
	const char *args[] = {"--plugin",   plugin, "--token-file", tokens,
			      "--threads",  "2",    "--workers",    "2",
			      "--drain-ms", "2000", "--max-asks",   "64",
			      (char *)NULL};
	if (serve_proc_start(tool, args, store, portf, logf_, &child, &port))
		fail_msg("mnemo serve did not start (see %s)", logf_);
}

static int group_setup(void **unused)
{
	(void)unused;
	mt_tmpdir(dir, sizeof dir, "serve-kill");
	snprintf(store, sizeof store, "%s/store", dir);
	snprintf(plugin, sizeof plugin, "%s/ledger.so", dir);
	snprintf(tokens, sizeof tokens, "%s/tokens", dir);
	snprintf(portf, sizeof portf, "%s/port", dir);
	snprintf(logf_, sizeof logf_, "%s/serve.log", dir);
	mt_tool_path(tool, sizeof tool);
	if (mt_build_plugin("tests/recovery/plugin_ledger.c", plugin))
		return -1;
	FILE *f = fopen(tokens, "w");
	if (!f)
		return -1;
	fputs(TOKEN "\n", f);
	fclose(f);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	return 0;
}

static int group_teardown(void **unused)
{
	(void)unused;
	if (child > 0)
		serve_proc_stop(child, SIGKILL, 5000);
	curl_global_cleanup();
	mt_rmrf(dir);
	return 0;
}

/* The stored send of message n of client c: its status. */
static long send_one(unsigned c, int n)
{
	char path[128], key[96], body[64];
	unsigned id = c * LG_PER + (unsigned)n;
	snprintf(path, sizeof path, "/v1/actors/ledger/a%d/messages?durable=1",
		 n % KILL_ACTORS);
	snprintf(key, sizeof key, "Idempotency-Key: kill-%u-%d", c, n);
	int len = snprintf(body, sizeof body, "{\"type\":1,\"json\":%u}", id);
	sent[id] = 1;
	return serve_http(port, "POST", path, TOKEN, key, body, (size_t)len,
			  5000, NULL, 0);
}

static void *client(void *arg)
{
	unsigned c = (unsigned)(uintptr_t)arg;
	for (int n = next_n[c]; n < LG_PER; n++) {
		long st = send_one(c, n);
		next_n[c] = n + 1;
		if (st == 201) {
			acked[c * LG_PER + (unsigned)n] = 1;
			atomic_fetch_add(&nacked, 1);
			continue;
		}
		inflight[c] = n;
		if (st != -1) /* anything but "no answer": wrong */
			atomic_store(&bad_status, st);
		break;
	}
	return NULL;
}

/* The ledger state of actor a (from GET .../aN), or NULL when it does
 * not exist yet. */
static json_t *ledger_state(int a)
{
	char path[64];
	static char body[1 << 16];
	snprintf(path, sizeof path, "/v1/actors/ledger/a%d", a);
	long st = serve_http(port, "GET", path, TOKEN, NULL, NULL, 0, 10000,
			     body, sizeof body);
	if (st == 404)
		return NULL;
	if (st != 200)
		fail_msg("GET %s: status %ld: %s", path, st, body);
	json_error_t e;
	json_t *doc = json_loads(body, 0, &e);
	if (!doc)
		fail_msg("GET %s: not JSON (%s): %s", path, e.text, body);
	json_t *s = json_incref(json_object_get(doc, "state_json"));
	json_decref(doc);
	if (!json_is_object(s))
		fail_msg("GET %s: no state_json: %s", path, body);
	return s;
}

static int has_id(json_t *s, unsigned id)
{
	const char *hex = json_string_value(json_object_get(s, "ids"));
	assert_non_null(hex);
	assert_int_equal(strlen(hex), 2 * LG_IDS / 8);
	unsigned byte;
	assert_int_equal(sscanf(hex + 2 * (id / 8), "%2x", &byte), 1);
	return (byte >> (id % 8)) & 1;
}

static long long field(json_t *s, const char *name)
{
	json_t *v = json_object_get(s, name);
	assert_true(json_is_integer(v));
	return json_integer_value(v);
}

/* Does actor a hold every id of want (want: 1 per id that must be there)?
 * Checks on the way: no dups, no disorder, no bad payload, and nothing
 * beyond allowed (1 per id that may be there). *count: its count. */
static int actor_holds(int a, const int *want, const int *allowed,
		       long long *count)
{
	json_t *s = ledger_state(a);
	int ok = 1;
	*count = 0;
	for (unsigned id = 0; id < LG_IDS; id++) {
		if ((int)(id % LG_PER) % KILL_ACTORS != a)
			continue;
		int has = s ? has_id(s, id) : 0;
		if (want[id] && !has)
			ok = 0;
		if (has && !allowed[id])
			fail_msg("actor a%d processed id %u, never sent", a,
				 id);
	}
	if (s) {
		*count = field(s, "count");
		if (field(s, "dups") || field(s, "disorder") ||
		    field(s, "bad")) {
			char *t = json_dumps(s, JSON_COMPACT);
			fail_msg("actor a%d: a repeat or out of order: %.300s",
				 a, t);
		}
		json_decref(s);
	}
	return ok;
}

/* Wait (bounded: 30 s, a sanitizer build under load restarts slowly) until
 * every actor holds want, none beyond allowed; returns the total count. */
static long long wait_holds(const int *want, const int *allowed,
			    const char *what)
{
	double t0 = mt_now();
	for (;;) {
		long long total = 0, n;
		int ok = 1;
		for (int a = 0; a < KILL_ACTORS; a++) {
			ok &= actor_holds(a, want, allowed, &n);
			total += n;
		}
		if (ok)
			return total;
		if (mt_now() - t0 > 30)
			fail_msg("%s: acknowledged messages missing after 30 s",
				 what);
		mt_sleep_ms(20);
	}
}

static int want[LG_IDS], allowed[LG_IDS];

static void one_round(unsigned round, mt_rng *rng)
{
	/* Kill after this many 201s in the round (seeded). */
	unsigned kill_after = 20 + (unsigned)mt_rng_below(rng, 300);
	unsigned base = atomic_load(&nacked);
	print_message("round %u: SIGKILL after %u acknowledged sends\n", round,
		      kill_after);
	start_server();
	pthread_t th[KILL_CLIENTS];
	for (unsigned c = 0; c < KILL_CLIENTS; c++) {
		inflight[c] = -1;
		assert_int_equal(
		    pthread_create(&th[c], NULL, client, (void *)(uintptr_t)c),
		    0);
	}
	double t0 = mt_now();
	while (atomic_load(&nacked) - base < kill_after && mt_now() - t0 < 20)
		mt_sleep_ms(1);
	assert_true(atomic_load(&nacked) - base >= kill_after);
	int st = serve_proc_stop(child, SIGKILL, 10000);
	child = -1;
	assert_int_equal(st, 128 + SIGKILL);
	for (unsigned c = 0; c < KILL_CLIENTS; c++)
		pthread_join(th[c], NULL);
	if (bad_status)
		fail_msg("a stored send got status %ld", (long)bad_status);

	/* The model: acknowledged ids must be there; sent ones may. */
	for (unsigned id = 0; id < LG_IDS; id++) {
		want[id] = acked[id];
		allowed[id] = sent[id];
	}
	start_server();
	wait_holds(want, allowed, "after the restart");

	/* Retry each client's message without a 201, same key and body. */
	unsigned retried = 0, repeats = 0;
	for (unsigned c = 0; c < KILL_CLIENTS; c++) {
		if (inflight[c] < 0)
			continue;
		unsigned id = c * LG_PER + (unsigned)inflight[c];
		json_t *s = ledger_state(inflight[c] % KILL_ACTORS);
		int seen = s && has_id(s, id);
		json_decref(s);
		long r = send_one(c, inflight[c]);
		if (r != 201 && r != 200)
			fail_msg("retry of %u/%d: status %ld", c, inflight[c],
				 r);
		/* Processed already: it was stored, the key is known. */
		if (seen && r != 200)
			fail_msg("retry of %u/%d: processed before, yet %ld", c,
				 inflight[c], r);
		acked[id] = 1;
		retried++;
		repeats += r == 200;
		/* Then a few new ones. */
		for (int k = 0; k < KILL_EXTRA && next_n[c] < LG_PER; k++) {
			int n = next_n[c]++;
			long r2 = send_one(c, n);
			if (r2 != 201)
				fail_msg("send %u/%d after the restart: "
					 "status %ld",
					 c, n, r2);
			acked[c * LG_PER + (unsigned)n] = 1;
			atomic_fetch_add(&nacked, 1);
		}
	}
	/* Now every message sent is acknowledged: exactly those, once. */
	long long expect = 0;
	for (unsigned id = 0; id < LG_IDS; id++) {
		if (sent[id] && !acked[id])
			fail_msg("id %u sent, never acknowledged", id);
		want[id] = allowed[id] = sent[id];
		expect += sent[id];
	}
	long long total = wait_holds(want, allowed, "after the retries");
	assert_int_equal(total, expect);
	print_message("round %u: %u retried (%u already stored), %lld "
		      "processed, each once and in order\n",
		      round, retried, repeats, total);
	assert_int_equal(serve_proc_stop(child, SIGTERM, 30000), 0);
	child = -1;
}

static void test_kill_mid_traffic(void **unused)
{
	(void)unused;
	mt_rng rng;
	mt_rng_init(&rng, 15);
	const char *e = getenv("MN_KILL_ROUNDS");
	unsigned rounds = e && *e ? (unsigned)strtoul(e, NULL, 10) : 3;
	for (unsigned r = 0; r < rounds; r++) {
		/* Room for one more round: each sends at most 300 + the
		 * clients' in-flight and extra messages per round. */
		int room = 1;
		for (unsigned c = 0; c < KILL_CLIENTS; c++)
			room &= next_n[c] + 400 < LG_PER;
		if (!room)
			break;
		one_round(r, &rng);
	}
}

int main(void)
{
	mt_init("recovery/serve_kill");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_kill_mid_traffic),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
