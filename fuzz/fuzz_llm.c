/*
 * fuzz_llm.c - libFuzzer target for libmnemo-llm's reply parsers
 * (include/mnemo_llm.h): mn_llm_parse_body (a chat completion, or a
 * server-sent-events stream) and the incremental mn_llm_stream, on bytes a
 * server (or anything pretending to be one) sends.
 *
 * Input layout: byte 0 = the HTTP status (index into a small table: 0,
 * 200, 400, 401, 429, 500, 503, 299); byte 1 = the seed of the chunk cuts;
 * the rest = the body. Each body is:
 *   - parsed whole with mn_llm_parse_body (never a crash; detail set);
 *   - fed to a stream parser whole and, separately, in pieces cut at
 *     pseudo-random offsets from the seed: both must give the same reply
 *     (arbitrary chunk boundaries), and, for a body parse_body reads as a
 *     stream, the same reply as parse_body with status 0; the content
 *     deltas told must be the same and a prefix of the content;
 *   - read by mn_llm_body_usage;
 *   - used as a message, a tool's parameters and a request key's value of
 *     a request, serialised.
 * A mismatch aborts (a crash input). Leak checks stay on.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "include/mnemo_llm.h"

static const int statuses[] = {0, 200, 400, 401, 429, 500, 503, 299};

typedef struct told {
	char *buf;
	size_t len, cap;
} told;

static void on_delta(void *arg, const char *text, size_t len)
{
	told *t = arg;
	if (t->len + len > t->cap) {
		size_t cap = (t->len + len) * 2;
		char *b = realloc(t->buf, cap);
		if (!b)
			abort();
		t->buf = b;
		t->cap = cap;
	}
	memcpy(t->buf + t->len, text, len);
	t->len += len;
}

static int same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

static void expect_same(const mn_llm_reply *a, const mn_llm_reply *b)
{
	int ok = a->outcome == b->outcome && same_str(a->detail, b->detail) &&
		 same_str(a->id, b->id) && same_str(a->model, b->model) &&
		 a->content_len == b->content_len &&
		 (!a->content_len ||
		  !memcmp(a->content, b->content, a->content_len)) &&
		 same_str(a->finish_reason, b->finish_reason) &&
		 !memcmp(&a->usage, &b->usage, sizeof a->usage) &&
		 a->n_tool_calls == b->n_tool_calls &&
		 same_str(a->error_message, b->error_message);
	for (size_t i = 0; ok && i < a->n_tool_calls; i++)
		ok = same_str(a->tool_calls[i].id, b->tool_calls[i].id) &&
		     same_str(a->tool_calls[i].name, b->tool_calls[i].name) &&
		     a->tool_calls[i].arguments_len ==
			 b->tool_calls[i].arguments_len &&
		     !memcmp(a->tool_calls[i].arguments,
			     b->tool_calls[i].arguments,
			     a->tool_calls[i].arguments_len) &&
		     a->tool_calls[i].arguments_valid ==
			 b->tool_calls[i].arguments_valid;
	if (!ok) {
		fprintf(stderr, "fuzz_llm: replies differ: '%s' / '%s'\n",
			a->detail ? a->detail : "(null)",
			b->detail ? b->detail : "(null)");
		abort();
	}
}

/* Feed body in pieces (cuts from seed; seed 0: whole), finish into *r. */
static int feed(const char *body, size_t len, unsigned seed, told *t,
		mn_llm_reply *r)
{
	mn_llm_stream *s;
	if (mn_llm_stream_new(&s))
		abort();
	uint32_t x = seed * 2654435761u + 1;
	size_t at = 0;
	while (at < len) {
		size_t n = len - at;
		if (seed) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			n = 1 + x % (n < 64 ? n : 64);
		}
		if (mn_llm_stream_feed(s, body + at, n, on_delta, t))
			abort();
		at += n;
	}
	int rc = mn_llm_stream_finish(s, r);
	mn_llm_stream_free(s);
	return rc;
}

static void requests(const char *text, size_t len)
{
	mn_llm_request *q;
	if (mn_llm_request_new(&q))
		abort();
	char *z = malloc(len + 1);
	if (!z)
		abort();
	memcpy(z, text, len);
	z[len] = 0;
	(void)mn_llm_request_message_len(q, "user", text, len);
	(void)mn_llm_request_tool(q, "f", z, z);
	(void)mn_llm_request_set(q, "response_format", z);
	char *js;
	if (mn_llm_request_json(q, NULL, &js, NULL) == 0)
		free(js);
	free(z);
	mn_llm_request_free(q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	int status = statuses[data[0] % (sizeof statuses / sizeof *statuses)];
	unsigned seed = data[1];
	const char *body = (const char *)data + 2;
	size_t len = size - 2;

	mn_llm_reply whole;
	int rc = mn_llm_parse_body(status, body, len, &whole);
	if (rc != MN_ENOMEM &&
	    (!whole.detail || (rc == 0) != (whole.outcome == MN_LLM_OK)))
		abort();

	told t1 = {0}, t2 = {0};
	mn_llm_reply a, b;
	int ra = feed(body, len, 0, &t1, &a);
	int rb = feed(body, len, seed | 1, &t2, &b);
	if (ra != rb)
		abort();
	expect_same(&a, &b);
	if (t1.len != t2.len || (t1.len && memcmp(t1.buf, t2.buf, t1.len)))
		abort();
	/* Told deltas are a prefix of the content (an event still open at
	 * the end is parsed by finish, which tells no one). */
	if (t1.len > a.content_len ||
	    (t1.len && memcmp(t1.buf, a.content, t1.len)))
		abort();
	if (whole.streamed && status == 0)
		expect_same(&whole, &a);
	free(t1.buf);
	free(t2.buf);
	mn_llm_reply_free(&a);
	mn_llm_reply_free(&b);
	mn_llm_reply_free(&whole);

	mn_llm_usage u;
	(void)mn_llm_body_usage(body, len, &u);
	requests(body, len);
	return 0;
}
