/*
 * test_tool_calls.c - the mnemo tool on a history with outbound calls
 * (docs/tool.md, docs/calls.md "Replay meets calls"), run as a user runs
 * it (popen of this build's tool) on a store written by a runtime running
 * the kind "caller" of tests/recovery/plugin_caller.c, whose HTTP calls
 * the stand-in server (tests/support/standin.h) answers. The stand-in is
 * stopped before the tool runs: a replay never calls out.
 *
 * History of caller/c1 (each reply waited for, so the seqs are fixed):
 *   1 ASK  -> 2 its reply      3 ASK -> 4 reply     5 ASK (question 3)
 *   -> 6 reply                 7 ASK2 (two calls) -> 8, 9 the replies
 *   10 WAIT (a bridged call nobody completes: pending in the store)
 * snapshot_every 4: snapshots after seq 4 and 8.
 *
 * Plugins: good.so (the code that wrote it), changed.so
 * (-DMN_PLUGIN_CHANGED: the body of question 3, seq 5, differs at byte
 * 10), fewer.so (-DMN_PLUGIN_FEWER: seq 7 makes one call of two).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "recovery/cli.h"
#include "recovery/xstream.h"
#include "tests/recovery/plugin_caller.c"
#include "tests/support/standin.h"
#include "tests/support/support.h"

#define SECRET "Bearer s3cret-never-stored"

static char dir[256], store[300], good[300], changed[300], fewer[300];
static char url[128];
static mt_tool_res res;

#define run(...)	    mt_tool(&res, __VA_ARGS__)
#define expect_exit(want)   mt_expect_exit(&res, (want))
#define expect_in(h, n)	    mt_expect_in((h), (n))
#define expect_not_in(h, n) mt_expect_not_in((h), (n))

static void build(const char *out, const char *defs)
{
	if (mt_build_plugin_with("tests/recovery/plugin_caller.c", out, defs))
		fail_msg("building %s failed", out);
}

/* Send one message to caller/c1 and wait until `replies` call replies
 * were queued in all, then until they were handled. */
static void step(mn_runtime *rt, uint32_t type, const char *payload,
		 uint64_t replies)
{
	assert_rc(mn_send_named(rt, "caller", "c1", 2, type, payload,
				payload ? strlen(payload) : 0),
		  0);
	mn_call_stats cs = {0};
	for (int i = 0; i < 1000; i++) {
		assert_rc(mn_runtime_call_stats(rt, &cs), 0);
		if (cs.completed >= replies)
			break;
		mt_sleep_ms(5);
	}
	assert_int_equal(cs.completed, replies);
	mt_drain(rt);
}

static int setup_all(void **state)
{
	(void)state;
	if (access("tests/recovery/plugin_caller.c", R_OK) != 0)
		fail_msg("run from the repository's root");
	mt_scratch_setup(dir, sizeof dir, "toolcalls");
	snprintf(store, sizeof store, "%s/data", dir);
	snprintf(good, sizeof good, "%s/good.so", dir);
	snprintf(changed, sizeof changed, "%s/changed.so", dir);
	snprintf(fewer, sizeof fewer, "%s/fewer.so", dir);
	build(good, "");
	build(changed, "-DMN_PLUGIN_CHANGED");
	build(fewer, "-DMN_PLUGIN_FEWER");

	standin *srv;
	standin_opts so = {.seed = 3};
	assert_int_equal(standin_start(&so, &srv), 0);
	char base[64];
	standin_base_url(srv, base, sizeof base);
	snprintf(url, sizeof url, "%s/echo", base);

	mn_runtime_opts o = {.workers = 2,
			     .store_path = store,
			     .durability = MN_DURABILITY_RELAXED};
	mn_runtime *rt;
	int rc = mn_runtime_open(&o, &rt);
	if (rc)
		fail_msg("mn_runtime_open: %s (%s)", mn_err_name(rc),
			 mn_errdetail());
	size_t n;
	const mn_kind_def *defs = mnemo_plugin_kinds(&n);
	assert_rc(mn_kind_register(rt, &defs[0], NULL), 0);
	assert_rc(mn_credential_set(rt, "svc", "Authorization", SECRET), 0);
	step(rt, CL_ASK, url, 1);   /* seq 1, reply 2 */
	step(rt, CL_ASK, url, 2);   /* 3, 4 */
	step(rt, CL_ASK, url, 3);   /* 5, 6 */
	step(rt, CL_ASK2, url, 5);  /* 7; 8, 9 */
	step(rt, CL_WAIT, NULL, 5); /* 10, pending */
	mn_runtime_stats st = mt_stats(rt);
	assert_int_equal(st.handler_errors, 0);
	mn_runtime_close(rt);
	assert_int_equal(standin_requests(srv), 5);
	standin_stop(srv); /* the tool runs without it */
	return 0;
}

static int teardown_all(void **state)
{
	(void)state;
	return mt_scratch_remove(dir);
}

/* The code that wrote the history replays it: no divergence, every state
 * hash (time, random numbers, call ids and replies in it) matching. */
static void test_replay_same(void **state)
{
	(void)state;
	run("replay caller/c1 --from-start --plugin '%s' '%s'", good, store);
	expect_exit(0);
	expect_in(res.out, "replayed 10 messages (seq 1..10) from init; 2 "
			   "stored snapshots, 6 recorded calls and 10 state "
			   "hashes compared: all match\n");
	expect_not_in(res.out, "diverges");
	/* From the latest snapshot (seq 8): 9 and 10. */
	run("replay caller/c1 --plugin '%s' '%s'", good, store);
	expect_exit(0);
	expect_in(res.out, "replayed 2 messages (seq 9..10) from the "
			   "snapshot; 0 stored snapshots, 1 recorded call "
			   "and 2 state hashes compared: all match\n");
	run("replay --json caller/c1 --from-start --plugin '%s' '%s'", good,
	    store);
	expect_exit(0);
	expect_in(res.out,
		  "\"diverged\":false,\"diverged_seq\":null,"
		  "\"ok\":true,\"calls_compared\":6,"
		  "\"call_divergences\":0,\"on_divergence\":\"stop\"}");
}

/* A changed request body at seq 5: reported there, with both requests and
 * the first differing bytes; exit 1; stub goes on to the end. */
static void test_replay_changed_request(void **state)
{
	(void)state;
	run("replay caller/c1 --from-start --plugin '%s' '%s'", changed, store);
	expect_exit(1);
	expect_in(res.out, "diverges at seq 5: call 0 (id 327680) makes a "
			   "different request than the recorded one\n"
			   "  old (recorded):\n"
			   "    call 327680 (index 0)  POST ");
	expect_in(res.out, "/echo  body 17 B  reply type 2  hash 0x");
	expect_in(res.out, "/echo  body 18 B  reply type 2  hash 0x");
	expect_in(res.out, "  credential svc\n"
			   "        Content-Type: text/plain\n");
	expect_in(res.out, "  body differs at byte 10: old ' please' new "
			   "', please'\n");
	expect_not_in(res.out, "seq 6  lsn");
	expect_not_in(res.out, "s3cret");

	run("replay --json caller/c1 --from-start --plugin '%s' '%s'", changed,
	    store);
	expect_exit(1);
	expect_in(res.out, "{\"record\":\"divergence\",\"seq\":5,\"by\":"
			   "\"call\",\"call_index\":0,\"call_id\":327680,"
			   "\"calls_recorded\":1,\"calls_made\":1,\"old\":true,"
			   "\"old_call_id\":327680");
	expect_in(res.out, "\"differs\":\"body\",\"differs_at\":10,"
			   "\"old_bytes\":\" please\",\"new_bytes\":\", "
			   "please\",\"action\":\"stop\"}");
	expect_in(res.out, "\"new_body_bytes\":18,");
	expect_in(res.out, "\"diverged\":true,\"diverged_seq\":5,\"ok\":false,"
			   "\"calls_compared\":3,\"call_divergences\":1,"
			   "\"on_divergence\":\"stop\"}");

	run("replay caller/c1 --from-start --on-divergence stub --plugin '%s' "
	    "'%s'",
	    changed, store);
	expect_exit(1);
	expect_in(res.out, "diverges at seq 5: call 0");
	expect_in(res.out, "(--on-divergence stub: the recorded replies are "
			   "fed on)\n");
	expect_in(res.out, "\nseq 10  lsn ");
	expect_in(res.out, "replayed 10 messages (seq 1..10) from init; 2 "
			   "stored snapshots, 6 recorded calls and 10 state "
			   "hashes compared: 1 call divergence stubbed (first "
			   "at seq 5)\n");

	run("replay caller/c1 --on-divergence maybe --plugin '%s' '%s'", good,
	    store);
	expect_exit(2);
	expect_in(res.err, "--on-divergence wants stop or stub, not 'maybe'");
}

/* A recorded call the code no longer makes (seq 7, call 1). */
static void test_replay_fewer_calls(void **state)
{
	(void)state;
	run("replay caller/c1 --from-start --plugin '%s' '%s'", fewer, store);
	expect_exit(1);
	expect_in(res.out, "diverges at seq 7: call 1 (id 458753) was "
			   "recorded but the code does not make it (1 call "
			   "made, 2 recorded)\n");
	expect_in(res.out, "  new (plugin code):\n    (no call)\n");
	/* The state after it differs too (one call id fewer): with stub the
	 * state hash stops the replay at seq 7. */
	run("replay caller/c1 --from-start --on-divergence stub --plugin '%s' "
	    "'%s'",
	    fewer, store);
	expect_exit(1);
	expect_in(res.out, "diverges at seq 7: call 1");
	expect_in(res.out, "diverges at seq 7: the replayed state's hash");
}

/* dump: the calls each entry made, the replies, the pending call. */
static void test_dump(void **state)
{
	(void)state;
	run("dump caller/c1 '%s'", store);
	expect_exit(0);
	expect_in(res.out, "    call 65536 (index 0)  POST ");
	expect_in(res.out, "/echo  body 17 B  reply type 2  hash 0x");
	expect_in(res.out, "flags external,call  outbox 65536");
	expect_in(res.out, "    reply to call 65536: status 200  body ");
	expect_in(res.out, "    call 458753 (index 1)  POST ");
	expect_in(res.out, "\ncalls (pending for this actor):\n"
			   "call 655360 (index 0)  bridge  request 11 B  reply "
			   "type 2  hash 0x");
	expect_not_in(res.out, "s3cret");

	run("dump --json caller/c1 '%s'", store);
	expect_exit(0);
	expect_in(res.out, "\"payload_text\":\"http://127.0.0.1:");
	expect_in(res.out, "/echo\",\"calls\":1}\n"
			   "{\"record\":\"call\",\"call_id\":65536,"
			   "\"index\":0,\"seq\":1,\"transport\":\"http\",");
	expect_in(res.out, "\"headers\":[\"Content-Type: text/plain\"],"
			   "\"body_bytes\":17,");
	expect_in(res.out, "\"credential\":\"svc\"");
	expect_in(res.out, "\"reply_ok\":true,\"reply_call_id\":65536,"
			   "\"reply_err\":null,\"reply_reason\":\"\","
			   "\"reply_status\":200,");
	expect_in(res.out, "{\"record\":\"pending_call\",\"call_id\":655360,"
			   "\"index\":0,\"seq\":10,\"transport\":\"bridge\"");
	expect_not_in(res.out, "s3cret");
}

/* stats counts the pending call; verify finds the store healthy. */
static void test_stats_verify(void **state)
{
	(void)state;
	run("stats '%s'", store);
	expect_exit(0);
	expect_in(res.out, "pending calls");
	expect_in(res.out, "\npending calls       1\n");
	run("stats --json '%s'", store);
	expect_exit(0);
	expect_in(res.out, "\"calls\":1");
	run("verify '%s'", store);
	expect_exit(0);
}

/* A packed bridged call's intent: call index of message seq, of actor 1
 * and kind 1 when actor is set (0: ids left 0). */
static void bridge_intent(mn_buf *b, uint64_t seq, unsigned index, int actor)
{
	mn__intent in = {.call_id = seq << 16 | index,
			 .actor_id = actor ? 1 : 0,
			 .kind_id = actor ? 1 : 0,
			 .seq = seq,
			 .reply_type = CL_ANSWER,
			 .transport = MN__CALL_BRIDGE,
			 .method = "BRIDGE",
			 .url = ""};
	mn__buf_init(b);
	assert_rc(mn__intent_pack(&in, b), 0);
}

/* verify: a pending intent of a message the journal does not hold (seq
 * 20 of an actor whose newest entry is seq 10) is a problem. */
static void test_verify_orphan_call(void **state)
{
	(void)state;
	char copy[320], cmd[1100];
	snprintf(copy, sizeof copy, "%s/orphan", dir);
	snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -r '%s' '%s'", copy, store,
		 copy);
	assert_int_equal(system(cmd), 0);
	mn__store_opts so = {0};
	mn__store *s;
	assert_rc(mn__store_open(copy, &so, &s, NULL), 0);
	mn__codec *codec;
	assert_rc(mn__codec_new(mn__store_dicts(s), &codec), 0);
	mn_buf b;
	bridge_intent(&b, 20, 0, 1);
	mn__wcall wc = {.actor_id = 1,
			.call_id = 20ull << 16,
			.intent = b.data,
			.len = b.len};
	mn__wbatch wb = {.calls = &wc, .n_calls = 1};
	assert_rc(mn__store_write(s, codec, &wb), 0);
	mn__buf_free(&b);
	mn__codec_free(codec);
	mn__store_close(s);

	run("verify '%s'", copy);
	expect_exit(1);
	expect_in(res.out, "calls record 1/1310720: made by seq 20, after the "
			   "actor's newest entry (seq 10)");
	run("verify '%s'", store);
	expect_exit(0);
}

/* Bridged calls an import's runtime is told of. */
static mn_call_ref told;
static int told_again, ntold;

static void on_bridge(void *arg, const mn_bridge_call *bc)
{
	(void)arg;
	told = bc->ref;
	told_again = bc->again;
	ntold++;
}

/* export / import --move: the pending call travels with its actor (and
 * each entry's recorded calls with its entry): the imported actor replays
 * with no divergence, and the next runtime issues the call again; a copy
 * leaves it out. */
static void test_export_import(void **state)
{
	(void)state;
	char mnx[320], moved[320], copied[320];
	snprintf(mnx, sizeof mnx, "%s/c1.mnx", dir);
	snprintf(moved, sizeof moved, "%s/moved", dir);
	snprintf(copied, sizeof copied, "%s/copied", dir);
	run("export --actor caller/c1 -o '%s' '%s'", mnx, store);
	expect_exit(0);
	expect_in(res.out, "exported 1 actor (10 entries, 2 snapshots, 0 "
			   "timers, 1 pending calls) and 0 outbox messages");
	run("import --move '%s' '%s'", mnx, moved);
	expect_exit(0);
	expect_in(res.out, "imported 1 actor (10 entries, 2 snapshots, 0 "
			   "timers, 1 pending calls) and 0 outbox messages");
	run("verify '%s'", moved);
	expect_exit(0);
	run("dump caller/c1 '%s'", moved);
	expect_exit(0);
	expect_in(res.out, "    call 458753 (index 1)  POST ");
	expect_in(res.out, "\ncalls (pending for this actor):\n"
			   "call 655360 (index 0)  bridge  request 11 B");
	run("replay caller/c1 --from-start --plugin '%s' '%s'", good, moved);
	expect_exit(0);
	expect_in(res.out, "6 recorded calls and 10 state hashes compared: "
			   "all match\n");
	run("replay caller/c1 --from-start --plugin '%s' '%s'", changed, moved);
	expect_exit(1);
	expect_in(res.out, "diverges at seq 5: call 0");

	run("import '%s' '%s'", mnx, copied);
	expect_exit(0);
	expect_in(res.out, "a copy: 1 pending call left out");
	run("dump caller/c1 '%s'", copied);
	expect_exit(0);
	expect_in(res.out, "\ncalls: none pending\n");

	/* The moved actor's call is issued by the next runtime; completing
	 * it journals the reply as seq 11. */
	mn_runtime_opts o = {.size = sizeof(mn_runtime_opts),
			     .workers = 1,
			     .store_path = moved,
			     .durability = MN_DURABILITY_RELAXED,
			     .on_bridge_call = on_bridge};
	mn_runtime *rt;
	assert_rc(mn_runtime_open(&o, &rt), 0);
	size_t n;
	const mn_kind_def *defs = mnemo_plugin_kinds(&n);
	ntold = 0;
	assert_rc(mn_kind_register(rt, &defs[0], NULL), 0);
	assert_int_equal(ntold, 1);
	assert_int_equal(told.call_id, 10ull << 16);
	assert_int_equal(told_again, 1);
	assert_rc(mn_call_complete(rt, &told, 200, "done", 4), 0);
	mt_drain(rt);
	mn_runtime_close(rt);
	run("dump --from 11 caller/c1 '%s'", moved);
	expect_exit(0);
	expect_in(res.out, "    reply to call 655360: status 200  body 4 B");
	expect_in(res.out, "\ncalls: none pending\n");
}

/* A one-actor stream (version v) of one entry and, when intent is set, a
 * pending call (call_id, seq) with those intent bytes, decoded. */
static int decode_one(uint32_t v, uint64_t call_id, uint64_t seq,
		      const void *intent, size_t ilen, char *why)
{
	char path[320];
	snprintf(path, sizeof path, "%s/one.mnx", dir);
	FILE *f = fopen(path, "w+b");
	assert_non_null(f);
	/* Records, in stream order: the actor (last seq 1), its entry. */
	Mnemo__Export__Address ad = MNEMO__EXPORT__ADDRESS__INIT;
	ad.kind = "caller";
	ad.key = (ProtobufCBinaryData){.len = 1, .data = (uint8_t *)"k"};
	Mnemo__Export__Actor a = MNEMO__EXPORT__ACTOR__INIT;
	a.address = &ad;
	a.last_seq = 1;
	Mnemo__Export__Entry e = MNEMO__EXPORT__ENTRY__INIT;
	e.seq = 1;
	Mnemo__Export__Call cl = MNEMO__EXPORT__CALL__INIT;
	Mnemo__Export__Header h = MNEMO__EXPORT__HEADER__INIT;
	h.stream_version = v;
	mn__xs_writer w;
	assert_rc(mn__xs_begin(&w, f, &h), 0);
	Mnemo__Export__Record r = MNEMO__EXPORT__RECORD__INIT;
	r.body_case = MNEMO__EXPORT__RECORD__BODY_ACTOR;
	r.actor = &a;
	assert_rc(mn__xs_put(&w, &r), 0);
	r.body_case = MNEMO__EXPORT__RECORD__BODY_ENTRY;
	r.entry = &e;
	assert_rc(mn__xs_put(&w, &r), 0);
	if (intent) {
		cl.call_id = call_id;
		cl.seq = seq;
		cl.intent.data = (uint8_t *)intent;
		cl.intent.len = ilen;
		r.body_case = MNEMO__EXPORT__RECORD__BODY_CALL;
		r.call = &cl;
		assert_rc(mn__xs_put(&w, &r), 0);
	}
	assert_rc(mn__xs_end(&w), 0);
	mn__xs_writer_free(&w);
	long len = ftell(f);
	assert_true(len > 0);
	unsigned char *p = malloc((size_t)len);
	assert_non_null(p);
	rewind(f);
	assert_int_equal(fread(p, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	mn__xs_stream xs;
	int rc = mn__xs_decode(p, (size_t)len, &xs, why);
	mn__xs_free(&xs);
	free(p);
	return rc;
}

/* The decoder: a version 1 stream (before calls) is read; a pending call
 * of a seq past the actor's history, or whose intent does not decode or
 * names another call, is refused. */
static void test_stream_calls(void **state)
{
	(void)state;
	char why[MN__XS_WHY_CAP];
	assert_rc(decode_one(1, 0, 0, NULL, 0, why), 0);
	mn_buf b;
	bridge_intent(&b, 1, 0, 0);
	assert_rc(decode_one(2, 1ull << 16, 1, b.data, b.len, why), 0);
	assert_rc(decode_one(2, 5ull << 16, 5, b.data, b.len, why),
		  MN_ECORRUPT);
	expect_in(why, "not of a message of the actor (last seq 1)");
	assert_rc(decode_one(2, 1ull << 16 | 1, 1, b.data, b.len, why),
		  MN_ECORRUPT);
	expect_in(why, "is of another call");
	assert_rc(decode_one(2, 1ull << 16, 1, "\xff\xff\xff", 3, why),
		  MN_ECORRUPT);
	expect_in(why, "does not decode");
	mn__buf_free(&b);
}

int main(void)
{
	mt_init("recovery/tool_calls");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_replay_same, mt_setup),
	    cmocka_unit_test_setup(test_replay_changed_request, mt_setup),
	    cmocka_unit_test_setup(test_replay_fewer_calls, mt_setup),
	    cmocka_unit_test_setup(test_dump, mt_setup),
	    cmocka_unit_test_setup(test_stats_verify, mt_setup),
	    cmocka_unit_test_setup(test_verify_orphan_call, mt_setup),
	    cmocka_unit_test_setup(test_export_import, mt_setup),
	    cmocka_unit_test_setup(test_stream_calls, mt_setup),
	};
	return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
