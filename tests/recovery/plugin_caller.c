/*
 * plugin_caller.c - the kind "caller", which makes outbound calls, as a
 * mnemo plugin for tests/recovery/test_tool_calls.c. The test includes
 * this file to run the kind in a runtime (its calls answered by the
 * stand-in server) and builds it into shared objects at run time for
 * `mnemo replay --plugin`:
 *
 *   - as is: the code that wrote the history (no call divergence);
 *   - -DMN_PLUGIN_CHANGED: the third question's body changes ("question 3,
 *     please" for "question 3 please"): a different request at that seq;
 *   - -DMN_PLUGIN_FEWER: CL_ASK2 makes one call, not two: a recorded call
 *     the code no longer makes.
 *
 * State (all of it in hash(), so replay checks it after every message):
 * questions asked, replies handled, the sum of their statuses and of the
 * call ids the calls returned, a hash of the reply bodies, and every
 * message's mn_ctx_time and first mn_ctx_random mixed in (so the replayed
 * time and random numbers must be the recorded ones).
 *
 * Messages: CL_ASK (payload: a URL) POSTs "question N please" to it;
 * CL_ASK2 (payload: a URL) POSTs "first" and "second"; CL_WAIT opens a
 * bridged call nobody completes (it stays pending); CL_ANSWER is the reply
 * type of every call.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mnemo.h"

enum { CL_ASK = 1, CL_ANSWER = 2, CL_ASK2 = 3, CL_WAIT = 4 };

typedef struct caller {
	uint64_t asked, replies, status_sum, ids_sum, bodies, clock;
} caller;

static uint64_t cl_mix(uint64_t h, uint64_t v)
{
	uint64_t z = (h ^ v) * 0x9e3779b97f4a7c15ull;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	return z ^ (z >> 31);
}

static int caller_init(mn_ctx *ctx, void **state)
{
	(void)ctx;
	*state = calloc(1, sizeof(caller));
	return *state ? 0 : MN_ENOMEM;
}

/* POST body to the URL in msg's payload (NUL-terminated here). */
static int ask(mn_ctx *ctx, caller *c, const mn_msg *msg, const char *body)
{
	char url[256];
	static const char *const hdr[] = {"Content-Type: text/plain"};
	if (msg->len == 0 || msg->len >= sizeof url)
		return MN_EINVAL;
	memcpy(url, msg->payload, msg->len);
	url[msg->len] = 0;
	mn_http_request req = MN_HTTP_REQUEST_INIT;
	req.method = "POST";
	req.url = url;
	req.headers = hdr;
	req.n_headers = 1;
	req.body = body;
	req.body_len = strlen(body);
	req.credential = "svc";
	req.timeout_ms = 5000;
	uint64_t id;
	int rc = mn_ctx_call_http(ctx, &req, CL_ANSWER, &id);
	c->ids_sum += id;
	return rc;
}

static int caller_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	caller *c = state;
	char body[64];
	int rc = 0;
	c->clock = cl_mix(c->clock, mn_ctx_time(ctx));
	c->clock = cl_mix(c->clock, mn_ctx_random(ctx));
	if (msg->flags & MN_MSG_CALL) {
		mn_call_reply r;
		if ((rc = mn_call_reply_decode(msg, &r)))
			return rc;
		c->replies++;
		c->status_sum += (uint64_t)r.status;
		c->ids_sum += r.call_id;
		const unsigned char *b = r.body;
		for (size_t i = 0; i < r.body_len; i++)
			c->bodies = cl_mix(c->bodies, b[i]);
		return 0;
	}
	switch (msg->type) {
	case CL_ASK:
		c->asked++;
#ifdef MN_PLUGIN_CHANGED
		if (c->asked == 3) {
			snprintf(body, sizeof body, "question %llu, please",
				 (unsigned long long)c->asked);
			return ask(ctx, c, msg, body);
		}
#endif
		snprintf(body, sizeof body, "question %llu please",
			 (unsigned long long)c->asked);
		return ask(ctx, c, msg, body);
	case CL_ASK2:
		c->asked++;
		if ((rc = ask(ctx, c, msg, "first")))
			return rc;
#ifndef MN_PLUGIN_FEWER
		rc = ask(ctx, c, msg, "second");
#endif
		return rc;
	case CL_WAIT: {
		uint64_t id;
		rc = mn_ctx_call_begin(ctx, "wait for me", 11, CL_ANSWER, &id);
		c->ids_sum += id;
		return rc;
	}
	default:
		return MN_EINVAL;
	}
}

static int caller_snapshot(const void *state, mn_buf *out)
{
	return mn_buf_append(out, state, sizeof(caller));
}

static int caller_restore(mn_ctx *ctx, const void *bytes, size_t len,
			  void **state)
{
	(void)ctx;
	if (len != sizeof(caller))
		return MN_ECORRUPT;
	caller *c = malloc(sizeof *c);
	if (!c)
		return MN_ENOMEM;
	memcpy(c, bytes, len);
	*state = c;
	return 0;
}

static void caller_free(void *state)
{
	free(state);
}

static int caller_describe(const void *state, mn_buf *out)
{
	const caller *c = state;
	char text[160];
	int n = snprintf(
	    text, sizeof text,
	    "asked=%llu replies=%llu status_sum=%llu ids_sum=%llu",
	    (unsigned long long)c->asked, (unsigned long long)c->replies,
	    (unsigned long long)c->status_sum, (unsigned long long)c->ids_sum);
	return mn_buf_append(out, text, (size_t)n);
}

static uint64_t caller_hash(const void *state)
{
	const caller *c = state;
	uint64_t h = cl_mix(c->asked, c->replies);
	h = cl_mix(h, c->status_sum);
	h = cl_mix(h, c->ids_sum);
	h = cl_mix(h, c->bodies);
	return cl_mix(h, c->clock);
}

static const mn_kind_def caller_kinds[] = {{
    .name = "caller",
    .init = caller_init,
    .handle = caller_handle,
    .snapshot = caller_snapshot,
    .restore = caller_restore,
    .free = caller_free,
    .snapshot_every = 4,
    .describe = caller_describe,
    .hash = caller_hash,
}};

const mn_kind_def *mnemo_plugin_kinds(size_t *count);

/* The plugin's entry symbol (MN_PLUGIN_SYMBOL). */
const mn_kind_def *mnemo_plugin_kinds(size_t *count)
{
	*count = sizeof caller_kinds / sizeof caller_kinds[0];
	return caller_kinds;
}
