/*
 * test_llm.c - libmnemo-llm (include/mnemo_llm.h): reply parsing against
 * recorded OpenAI-format bodies (tests/llm/fixtures/: a completion, one
 * and parallel tool calls, invalid tool-call arguments, empty choices,
 * error objects, streams with content and with tool-call fragments, a
 * stream cut before [DONE]); every stream split at every byte offset and
 * fed a byte at a time gives the same reply; malformed bodies are errors,
 * never crashes; request building (sorted, compact, deterministic, parsed
 * back with jansson); the configuration from the environment keeps the key
 * out of everything; and, on a runtime, mn_llm_send to the stand-in and
 * mn_llm_reply_parse of real call envelopes (HTTP, bridged, transport
 * error).
 */
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mnemo_llm.h"
#include "tests/support/standin.h"
#include "tests/support/support.h"

/* ---- fixtures ---------------------------------------------------------- */

/* The bytes of tests/llm/fixtures/name (the suite runs from the top of the
 * tree), NUL-terminated, in *len. */
static char *fixture(const char *name, size_t *len)
{
	char path[256];
	snprintf(path, sizeof path, "tests/llm/fixtures/%s", name);
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	long n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	char *b = malloc((size_t)n + 1);
	assert_non_null(b);
	assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	b[n] = 0;
	*len = (size_t)n;
	return b;
}

/* Parse fixture name as a body of status; the rc must be want. */
static void parse_fixture(const char *name, int status, int want,
			  mn_llm_reply *r)
{
	size_t n;
	char *b = fixture(name, &n);
	assert_rc(mn_llm_parse_body(status, b, n, r), want);
	assert_non_null(r->detail);
	free(b);
}

static void expect_usage(const mn_llm_usage *u, uint64_t p, uint64_t c,
			 uint64_t t)
{
	assert_int_equal(u->replies, 1);
	assert_int_equal(u->prompt_tokens, p);
	assert_int_equal(u->completion_tokens, c);
	assert_int_equal(u->total_tokens, t);
}

/* ---- completions ------------------------------------------------------- */

static void test_plain(void **state)
{
	(void)state;
	mn_llm_reply r;
	parse_fixture("plain.json", 200, 0, &r);
	assert_int_equal(r.outcome, MN_LLM_OK);
	assert_string_equal(r.detail, "");
	assert_string_equal(r.id, "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT");
	assert_string_equal(r.model, "gpt-4o-mini-2024-07-18");
	assert_string_equal(r.content, "Your order A-1042 shipped on Monday "
				       "and should arrive by Thursday.");
	assert_int_equal(r.content_len, strlen(r.content));
	assert_string_equal(r.finish_reason, "stop");
	assert_int_equal(r.n_tool_calls, 0);
	assert_null(r.tool_calls);
	assert_int_equal(r.streamed, 0);
	assert_int_equal(r.status, 200);
	assert_null(r.error_message);
	expect_usage(&r.usage, 19, 17, 36);
	mn_llm_reply_free(&r);
	assert_null(r.content);
	mn_llm_reply_free(&r); /* twice: zeroed, harmless */
	mn_llm_reply_free(NULL);
}

static void test_tool_calls(void **state)
{
	(void)state;
	mn_llm_reply r;
	parse_fixture("tool_call.json", 200, 0, &r);
	assert_null(r.content);
	assert_string_equal(r.finish_reason, "tool_calls");
	assert_int_equal(r.n_tool_calls, 1);
	assert_string_equal(r.tool_calls[0].id, "call_abc123");
	assert_string_equal(r.tool_calls[0].name, "lookup_order");
	assert_string_equal(r.tool_calls[0].arguments,
			    "{\n\"order_id\": \"A-1042\"\n}");
	assert_int_equal(r.tool_calls[0].arguments_valid, 1);
	expect_usage(&r.usage, 82, 17, 99);
	mn_llm_reply_free(&r);

	parse_fixture("tool_calls_parallel.json", 0, 0, &r);
	assert_int_equal(r.n_tool_calls, 2);
	assert_string_equal(r.tool_calls[0].id, "call_Q1x");
	assert_string_equal(r.tool_calls[1].id, "call_Q2y");
	assert_string_equal(r.tool_calls[1].name, "refund");
	assert_string_equal(r.tool_calls[1].arguments,
			    "{\"order_id\":\"A-1042\",\"amount_cents\":12999,"
			    "\"reason\":\"damaged in transit\"}");
	assert_int_equal(r.tool_calls[0].arguments_valid, 1);
	assert_int_equal(r.tool_calls[1].arguments_valid, 1);
	mn_llm_reply_free(&r);
}

static void test_invalid_arguments(void **state)
{
	(void)state;
	mn_llm_reply r;
	parse_fixture("invalid_args.json", 200, 0, &r);
	assert_int_equal(r.outcome, MN_LLM_OK);
	assert_string_equal(r.finish_reason, "length");
	assert_int_equal(r.n_tool_calls, 3);
	/* Truncated JSON, an array: reported, kept as given. */
	assert_string_equal(r.tool_calls[0].arguments, "{\"order_id\": \"A-10");
	assert_int_equal(r.tool_calls[0].arguments_valid, 0);
	assert_string_equal(r.tool_calls[1].arguments, "[1, 2]");
	assert_int_equal(r.tool_calls[1].arguments_valid, 0);
	assert_int_equal(r.tool_calls[2].arguments_valid, 1);
	mn_llm_reply_free(&r);
}

static void test_empty_choices(void **state)
{
	(void)state;
	mn_llm_reply r;
	parse_fixture("empty_choices.json", 200, MN_EIO, &r);
	assert_int_equal(r.outcome, MN_LLM_MALFORMED);
	assert_string_equal(r.detail, "choices is empty");
	expect_usage(&r.usage, 12, 0, 12); /* still counted */
	mn_llm_reply_free(&r);
}

static void test_error_objects(void **state)
{
	(void)state;
	mn_llm_reply r;
	parse_fixture("error_401.json", 401, MN_EIO, &r);
	assert_int_equal(r.outcome, MN_LLM_API_ERROR);
	assert_int_equal(r.status, 401);
	assert_string_equal(r.error_type, "invalid_request_error");
	assert_string_equal(r.error_code, "invalid_api_key");
	assert_non_null(strstr(r.error_message, "Incorrect API key"));
	assert_true(
	    strncmp(r.detail, "HTTP 401: invalid_api_key: Incorrect", 36) == 0);
	mn_llm_reply_free(&r);

	parse_fixture("error_429.json", 429, MN_EIO, &r);
	assert_int_equal(r.outcome, MN_LLM_API_ERROR);
	assert_string_equal(r.error_code, "rate_limit_exceeded");
	assert_string_equal(r.error_type, "tokens");
	assert_true(
	    strncmp(r.detail, "HTTP 429: rate_limit_exceeded: Rate ", 36) == 0);
	mn_llm_reply_free(&r);

	parse_fixture("error_400_context.json", 400, MN_EIO, &r);
	assert_string_equal(r.error_code, "context_length_exceeded");
	assert_non_null(strstr(r.error_message, "maximum context length"));
	mn_llm_reply_free(&r);

	/* An error object under a 200, a numeric code, a string error. */
	const char *b = "{\"error\":{\"message\":\"overloaded\",\"code\":529}}";
	assert_rc(mn_llm_parse_body(200, b, strlen(b), &r), MN_EIO);
	assert_int_equal(r.outcome, MN_LLM_API_ERROR);
	assert_string_equal(r.error_code, "529");
	mn_llm_reply_free(&r);
	b = "{\"error\":\"model not found\"}";
	assert_rc(mn_llm_parse_body(404, b, strlen(b), &r), MN_EIO);
	assert_string_equal(r.error_message, "model not found");
	assert_string_equal(r.detail, "HTTP 404: error: model not found");
	mn_llm_reply_free(&r);
	/* A proxy's HTML page under 502; a success body under 500. */
	b = "<html><body>Bad gateway</body></html>";
	assert_rc(mn_llm_parse_body(502, b, strlen(b), &r), MN_EIO);
	assert_int_equal(r.outcome, MN_LLM_API_ERROR);
	assert_string_equal(r.detail, "HTTP 502: error: (no error object)");
	mn_llm_reply_free(&r);
	size_t n;
	char *plain = fixture("plain.json", &n);
	assert_rc(mn_llm_parse_body(500, plain, n, &r), MN_EIO);
	assert_int_equal(r.outcome, MN_LLM_API_ERROR);
	mn_llm_reply_free(&r);
	assert_rc(mn_llm_parse_body(503, "", 0, &r), MN_EIO);
	assert_int_equal(r.outcome, MN_LLM_API_ERROR);
	mn_llm_reply_free(&r);
	free(plain);
}

/* Bodies that are not chat completions: MN_LLM_MALFORMED with a detail
 * naming the problem (checked under ASan for leaks and overreads). */
static void test_malformed(void **state)
{
	(void)state;
	static const struct {
		const char *body, *detail;
	} cases[] = {
	    {"", "the body is empty"},
	    {" \r\n", "the body is empty"},
	    {"{", "the body is not a JSON object"},
	    {"{}", "choices are missing"},
	    {"{\"choices\":null}", "choices are missing"},
	    {"{\"choices\":\"x\"}", "choices is not an array"},
	    {"{\"choices\":[1]}", "choices[] is not an object"},
	    {"{\"choices\":[{}]}", "choices[0].message is not an object"},
	    {"{\"choices\":[{\"message\":{\"content\":5}}]}",
	     "content is not a string"},
	    {"{\"choices\":[{\"message\":{\"tool_calls\":{}}}]}",
	     "tool_calls is not an array"},
	    {"{\"choices\":[{\"message\":{\"tool_calls\":[7]}}]}",
	     "tool_calls[] is not an object"},
	    {"{\"choices\":[{\"message\":{\"tool_calls\":[{\"id\":\"c\","
	     "\"function\":{\"arguments\":\"{}\"}}]}}]}",
	     "tool_calls[] has no function name"},
	    {"{\"choices\":[{\"message\":{\"tool_calls\":[{\"function\":{"
	     "\"name\":\"f\",\"arguments\":\"{}\"}}]}}]}",
	     "tool_calls[] has no id"},
	    {"{\"choices\":[{\"message\":{\"tool_calls\":[{\"id\":\"c\","
	     "\"function\":{\"name\":\"f\",\"arguments\":3}}]}}]}",
	     "function.arguments is not a string"},
	    {"{\"choices\":[{\"message\":{}}],\"usage\":{\"prompt_tokens\":-1}"
	     "}",
	     "prompt_tokens is not a count"},
	    {"{\"choices\":[{\"message\":{}}],\"usage\":7}",
	     "usage is not an object"},
	    {"{\"choices\":[{\"message\":{},\"finish_reason\":1}]}",
	     "finish_reason is not a string"},
	    {"{\"id\":1,\"choices\":[{\"message\":{}}]}", "id is not a string"},
	    {"[{\"choices\":[]}]", NULL}, /* not '{': read as a stream */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		mn_llm_reply r;
		int rc = mn_llm_parse_body(200, cases[i].body,
					   strlen(cases[i].body), &r);
		if (rc != MN_EIO || r.outcome == MN_LLM_OK)
			fail_msg("case %zu: rc %d outcome %d", i, rc,
				 r.outcome);
		if (cases[i].detail && strncmp(r.detail, cases[i].detail,
					       strlen(cases[i].detail)) != 0)
			fail_msg("case %zu: detail '%s', want '%s'", i,
				 r.detail, cases[i].detail);
		mn_llm_reply_free(&r);
	}
	/* Arguments given as an object (some servers): kept as JSON text. */
	const char *b = "{\"choices\":[{\"message\":{\"tool_calls\":[{\"id\":"
			"\"c\",\"function\":{\"name\":\"f\",\"arguments\":"
			"{\"b\":1,\"a\":2}}}]}}]}";
	mn_llm_reply r;
	assert_rc(mn_llm_parse_body(200, b, strlen(b), &r), 0);
	assert_string_equal(r.tool_calls[0].arguments, "{\"a\":2,\"b\":1}");
	assert_int_equal(r.tool_calls[0].arguments_valid, 1);
	mn_llm_reply_free(&r);
	assert_rc(mn_llm_parse_body(200, NULL, 3, &r), MN_EINVAL);
	assert_rc(mn_llm_parse_body(200, "{}", 2, NULL), MN_EINVAL);
}

/* ---- streams ----------------------------------------------------------- */

/* Content deltas as on_delta saw them. */
typedef struct deltas {
	char buf[4096];
	size_t len;
	unsigned calls;
} deltas;

static void on_delta(void *arg, const char *text, size_t len)
{
	deltas *d = arg;
	assert_true(len > 0);
	assert_true(d->len + len < sizeof d->buf);
	memcpy(d->buf + d->len, text, len);
	d->len += len;
	d->calls++;
}

static void expect_same_str(const char *a, const char *b)
{
	if (!a || !b)
		assert_ptr_equal(a, b);
	else
		assert_string_equal(a, b);
}

/* Two replies say the same. */
static void expect_same(const mn_llm_reply *a, const mn_llm_reply *b)
{
	assert_int_equal(a->outcome, b->outcome);
	expect_same_str(a->detail, b->detail);
	expect_same_str(a->id, b->id);
	expect_same_str(a->model, b->model);
	expect_same_str(a->content, b->content);
	assert_int_equal(a->content_len, b->content_len);
	expect_same_str(a->finish_reason, b->finish_reason);
	assert_memory_equal(&a->usage, &b->usage, sizeof a->usage);
	assert_int_equal(a->n_tool_calls, b->n_tool_calls);
	for (size_t i = 0; i < a->n_tool_calls; i++) {
		expect_same_str(a->tool_calls[i].id, b->tool_calls[i].id);
		expect_same_str(a->tool_calls[i].name, b->tool_calls[i].name);
		expect_same_str(a->tool_calls[i].arguments,
				b->tool_calls[i].arguments);
		assert_int_equal(a->tool_calls[i].arguments_valid,
				 b->tool_calls[i].arguments_valid);
	}
	expect_same_str(a->error_message, b->error_message);
}

/* Feed body in the pieces cut at cuts[0..n) (ascending), then finish. */
static int feed_cut(const char *body, size_t len, const size_t *cuts, size_t n,
		    deltas *d, mn_llm_reply *r)
{
	mn_llm_stream *s;
	assert_rc(mn_llm_stream_new(&s), 0);
	size_t at = 0;
	for (size_t i = 0; i <= n; i++) {
		size_t end = i < n ? cuts[i] : len;
		assert_rc(
		    mn_llm_stream_feed(s, body + at, end - at, on_delta, d), 0);
		at = end;
	}
	int rc = mn_llm_stream_finish(s, r);
	mn_llm_stream_free(s);
	return rc;
}

/* The body parsed whole, then split at every offset, then a byte at a
 * time: the same reply each time, the deltas adding up to the content. */
static void every_split(const char *body, size_t len, int want_rc,
			mn_llm_reply *ref)
{
	assert_rc(mn_llm_parse_body(200, body, len, ref), want_rc);
	assert_int_equal(ref->streamed, 1);
	for (size_t k = 0; k <= len; k++) {
		deltas d = {.len = 0};
		mn_llm_reply r;
		assert_rc(feed_cut(body, len, &k, 1, &d, &r), want_rc);
		expect_same(&r, ref);
		assert_int_equal(d.len, ref->content_len);
		if (d.len)
			assert_memory_equal(d.buf, ref->content, d.len);
		mn_llm_reply_free(&r);
	}
	size_t *cuts = malloc(len * sizeof *cuts);
	assert_non_null(cuts);
	for (size_t k = 0; k < len; k++)
		cuts[k] = k;
	deltas d = {.len = 0};
	mn_llm_reply r;
	assert_rc(feed_cut(body, len, cuts, len, &d, &r), want_rc);
	expect_same(&r, ref);
	assert_int_equal(d.len, ref->content_len);
	mn_llm_reply_free(&r);
	free(cuts);
}

/* body with every "\n" made "\r\n" (or "\r" when cr_only). */
static char *with_breaks(const char *body, size_t len, int cr_only,
			 size_t *out_len)
{
	char *o = malloc(2 * len + 1);
	assert_non_null(o);
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		if (body[i] == '\n') {
			o[n++] = '\r';
			if (!cr_only)
				o[n++] = '\n';
		} else {
			o[n++] = body[i];
		}
	}
	o[n] = 0;
	*out_len = n;
	return o;
}

static void test_stream_text(void **state)
{
	(void)state;
	size_t n;
	char *b = fixture("stream_text.sse", &n);
	mn_llm_reply ref;
	every_split(b, n, 0, &ref);
	assert_int_equal(ref.outcome, MN_LLM_OK);
	assert_string_equal(ref.content, "Your order A-1042 shipped on "
					 "Monday\xc3\xa9 \xe2\x80\x94 arriving "
					 "Thursday.");
	assert_string_equal(ref.finish_reason, "stop");
	assert_string_equal(ref.id, "chatcmpl-Str34mT3xt");
	expect_usage(&ref.usage, 25, 12, 37); /* the usage-only chunk */
	assert_int_equal(ref.n_tool_calls, 0);

	/* CRLF and CR line breaks read the same. */
	for (int cr = 0; cr < 2; cr++) {
		size_t m;
		char *v = with_breaks(b, n, cr, &m);
		mn_llm_reply r;
		assert_rc(mn_llm_parse_body(200, v, m, &r), 0);
		expect_same(&r, &ref);
		mn_llm_reply_free(&r);
		size_t half = m / 2;
		deltas d = {.len = 0};
		assert_rc(feed_cut(v, m, &half, 1, &d, &r), 0);
		expect_same(&r, &ref);
		mn_llm_reply_free(&r);
		free(v);
	}
	/* One delta per content chunk (the empty first one is not told). */
	deltas d = {.len = 0};
	mn_llm_reply r;
	assert_rc(feed_cut(b, n, NULL, 0, &d, &r), 0);
	assert_int_equal(d.calls, 11);
	mn_llm_reply_free(&r);
	mn_llm_reply_free(&ref);
	free(b);
}

static void test_stream_tools(void **state)
{
	(void)state;
	size_t n;
	char *b = fixture("stream_tools.sse", &n);
	mn_llm_reply ref;
	every_split(b, n, 0, &ref);
	assert_int_equal(ref.outcome, MN_LLM_OK);
	assert_null(ref.content); /* "content": null only */
	assert_string_equal(ref.finish_reason, "tool_calls");
	assert_int_equal(ref.n_tool_calls, 2);
	assert_string_equal(ref.tool_calls[0].id, "call_S1a");
	assert_string_equal(ref.tool_calls[0].name, "lookup_order");
	assert_string_equal(ref.tool_calls[0].arguments,
			    "{\"order_id\":\"A-1042\"}");
	assert_int_equal(ref.tool_calls[0].arguments_valid, 1);
	assert_string_equal(ref.tool_calls[1].id, "call_S2b");
	assert_string_equal(ref.tool_calls[1].name, "refund");
	assert_string_equal(ref.tool_calls[1].arguments,
			    "{\"order_id\":\"A-1042\",\"amount_cents\":12999}");
	expect_usage(&ref.usage, 151, 40, 191);
	mn_llm_reply_free(&ref);
	free(b);
}

static void test_stream_cut(void **state)
{
	(void)state;
	size_t n;
	char *b = fixture("stream_cut.sse", &n);
	mn_llm_reply ref;
	every_split(b, n, MN_EIO, &ref);
	assert_int_equal(ref.outcome, MN_LLM_INCOMPLETE);
	assert_string_equal(ref.content, "Your order A-1042 shipped on");
	assert_null(ref.finish_reason);
	assert_int_equal(ref.usage.replies, 0);
	assert_string_equal(ref.detail,
			    "stream ended before [DONE] (7 events)");
	mn_llm_reply_free(&ref);
	free(b);

	/* Whole events but no [DONE]: incomplete too. */
	b = fixture("stream_text.sse", &n);
	char *done = strstr(b, "data: [DONE]");
	assert_non_null(done);
	mn_llm_reply r;
	assert_rc(mn_llm_parse_body(200, b, (size_t)(done - b), &r), MN_EIO);
	assert_int_equal(r.outcome, MN_LLM_INCOMPLETE);
	expect_usage(&r.usage, 25, 12, 37);
	mn_llm_reply_free(&r);
	free(b);
}

static int parse_str(const char *body, mn_llm_reply *r)
{
	return mn_llm_parse_body(200, body, strlen(body), r);
}

static void test_stream_edges(void **state)
{
	(void)state;
	mn_llm_reply r;
	/* Comments, other fields, "data:" without its space, a final
	 * event without its blank line, bytes after [DONE]. */
	assert_rc(parse_str(": ping\nevent: chunk\nid: 1\nretry: 10\n"
			    "data:{\"choices\":[{\"delta\":{\"content\":\"a\"}"
			    "}]}\n\ndata: [DONE]\n\ndata: {oops\n\n",
			    &r),
		  0);
	assert_string_equal(r.content, "a");
	mn_llm_reply_free(&r);
	/* A data field split over two lines is one JSON text. */
	assert_rc(parse_str("data: {\"choices\":[{\"delta\":\ndata: "
			    "{\"content\":\"b\"}}]}\n\ndata: [DONE]\n\n",
			    &r),
		  0);
	assert_string_equal(r.content, "b");
	mn_llm_reply_free(&r);
	/* The same with CRLF breaks, cut anywhere (a CR and its LF in two
	 * pieces are still one break). */
	const char *crlf = "data: {\"choices\":[{\"delta\":\r\ndata: "
			   "{\"content\":\"b\"}}]}\r\n\r\ndata: [DONE]\r\n\r\n";
	every_split(crlf, strlen(crlf), 0, &r);
	assert_string_equal(r.content, "b");
	mn_llm_reply_free(&r);
	/* Choices other than the first are skipped. */
	assert_rc(parse_str("data: {\"choices\":[{\"index\":1,\"delta\":{"
			    "\"content\":\"x\"}},{\"index\":0,\"delta\":{"
			    "\"content\":\"y\"}}]}\n\ndata: [DONE]\n\n",
			    &r),
		  0);
	assert_string_equal(r.content, "y");
	mn_llm_reply_free(&r);
	/* An error event. */
	assert_rc(parse_str("data: {\"error\":{\"message\":\"server had an "
			    "error\",\"type\":\"server_error\"}}\n\n",
			    &r),
		  MN_EIO);
	assert_int_equal(r.outcome, MN_LLM_API_ERROR);
	assert_string_equal(r.detail,
			    "HTTP 200: server_error: server had an error");
	mn_llm_reply_free(&r);
	/* A bad event in the middle; [DONE] alone; wrong types. */
	static const char *const bad[] = {
	    "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n"
	    "data: {not json}\n\ndata: [DONE]\n\n",
	    "data: [1]\n\ndata: [DONE]\n\n",
	    "data: [DONE]\n\n",
	    "data: {\"choices\":{}}\n\ndata: [DONE]\n\n",
	    "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"function\":"
	    "{}}]}}]}\n\ndata: [DONE]\n\n",
	    "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":"
	    "100000000,\"id\":\"c\"}]}}]}\n\ndata: [DONE]\n\n",
	    "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,"
	    "\"function\":{\"arguments\":\"{}\"}}]}}]}\n\ndata: [DONE]\n\n",
	    "data: {\"choices\":[{\"delta\":{\"content\":[]}}]}\n\n"
	    "data: [DONE]\n\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int rc = parse_str(bad[i], &r);
		if (rc != MN_EIO || r.outcome != MN_LLM_MALFORMED)
			fail_msg("bad[%zu]: rc %d outcome %s (%s)", i, rc,
				 mn_llm_outcome_name(r.outcome), r.detail);
		mn_llm_reply_free(&r);
	}
	/* The parser's own rules: finish once, then reset to reuse. */
	mn_llm_stream *s;
	assert_rc(mn_llm_stream_new(&s), 0);
	assert_rc(mn_llm_stream_feed(s, "data: [DONE]\n\n", 14, NULL, NULL), 0);
	assert_rc(mn_llm_stream_finish(s, &r), MN_EIO); /* no choice */
	mn_llm_reply_free(&r);
	assert_rc(mn_llm_stream_feed(s, "x", 1, NULL, NULL), MN_EINVAL);
	assert_rc(mn_llm_stream_finish(s, &r), MN_EINVAL);
	mn_llm_stream_reset(s);
	const char *ok = "data: {\"choices\":[{\"delta\":{\"content\":\"z\"}}]}"
			 "\n\ndata: [DONE]\n\n";
	assert_rc(mn_llm_stream_feed(s, ok, strlen(ok), NULL, NULL), 0);
	assert_rc(mn_llm_stream_finish(s, &r), 0);
	assert_string_equal(r.content, "z");
	mn_llm_reply_free(&r);
	mn_llm_stream_free(s);
	mn_llm_stream_free(NULL);
	assert_rc(mn_llm_stream_new(NULL), MN_EINVAL);
	assert_rc(mn_llm_stream_feed(NULL, "", 0, NULL, NULL), MN_EINVAL);
	assert_string_equal(mn_llm_outcome_name(MN_LLM_INCOMPLETE),
			    "incomplete");
	assert_string_equal(mn_llm_outcome_name(99), "unknown");
}

/* ---- requests ---------------------------------------------------------- */

/* Every object in v lists its keys in ascending order. */
static void expect_sorted(json_t *v)
{
	if (json_is_object(v)) {
		const char *k, *prev = NULL;
		json_t *x;
		json_object_foreach(v, k, x)
		{
			if (prev)
				assert_true(strcmp(prev, k) < 0);
			prev = k;
			expect_sorted(x);
		}
	} else if (json_is_array(v)) {
		size_t i;
		json_t *x;
		json_array_foreach(v, i, x) expect_sorted(x);
	}
}

static void test_request_json(void **state)
{
	(void)state;
	mn_llm_request *q;
	assert_rc(mn_llm_request_new(&q), 0);
	char *js;
	size_t len;
	assert_rc(mn_llm_request_json(q, NULL, &js, &len), MN_EINVAL);
	assert_rc(mn_llm_request_message(q, "system",
					 "You are a support "
					 "agent."),
		  0);
	assert_rc(mn_llm_request_message(q, "user", "Where is order A-1042?"),
		  0);
	/* The assistant's tool call, from a parsed reply, then the
	 * result. */
	mn_llm_reply r;
	parse_fixture("tool_call.json", 200, 0, &r);
	assert_rc(mn_llm_request_add_reply(q, &r), 0);
	assert_rc(mn_llm_request_tool_result(q, r.tool_calls[0].id,
					     "{\"status\":\"shipped\"}", 20),
		  0);
	mn_llm_reply_free(&r);
	assert_rc(mn_llm_request_message_len(q, "user", "ok\0!", 4), 0);
	assert_rc(mn_llm_request_tool(q, "lookup_order", "Find an order",
				      "{\"type\":\"object\",\"properties\":{"
				      "\"order_id\":{\"type\":\"string\"}},"
				      "\"required\":[\"order_id\"]}"),
		  0);
	assert_rc(mn_llm_request_tool(q, "ping", NULL, NULL), 0);
	assert_rc(mn_llm_request_tool_choice(q, MN_LLM_TOOL_CHOICE_FUNCTION,
					     "lookup_order"),
		  0);
	assert_rc(mn_llm_request_temperature(q, 0.2), 0);
	assert_rc(mn_llm_request_max_tokens(q, 256), 0);
	assert_rc(mn_llm_request_stream(q, 1), 0);
	assert_rc(mn_llm_request_set(q, "seed", "42"), 0);
	assert_int_equal(mn_llm_request_messages(q), 5);

	mn_llm_config cfg;
	assert_rc(mn_llm_config_init(&cfg,
				     "http://127.0.0.1:1/v1/chat/"
				     "completions",
				     "test-model"),
		  0);
	assert_rc(mn_llm_request_json(q, &cfg, &js, &len), 0);
	assert_int_equal(len, strlen(js));
	assert_null(strchr(js, '\n')); /* compact */
	json_error_t e;
	json_t *got = json_loads(js, JSON_ALLOW_NUL, &e);
	assert_non_null(got);
	expect_sorted(got);
	json_t *want = json_pack(
	    "{s:s, s:[{s:s, s:s}, {s:s, s:s}, {s:s, s:n, s:[{s:s, s:s, "
	    "s:{s:s, s:s}}]}, {s:s, s:s, s:s}, {s:s, s:s%}], "
	    "s:[{s:s, s:{s:s, s:s, s:{s:s, s:{s:{s:s}}, s:[s]}}}, "
	    "{s:s, s:{s:s, s:{s:s, s:{}}}}], "
	    "s:{s:s, s:{s:s}}, s:f, s:i, s:b, s:{s:b}, s:i}",
	    "model", "test-model", "messages", "role", "system", "content",
	    "You are a support agent.", "role", "user", "content",
	    "Where is order A-1042?", "role", "assistant", "content",
	    "tool_calls", "id", "call_abc123", "type", "function", "function",
	    "name", "lookup_order", "arguments",
	    "{\n\"order_id\": \"A-1042\"\n}", "role", "tool", "tool_call_id",
	    "call_abc123", "content", "{\"status\":\"shipped\"}", "role",
	    "user", "content", "ok\0!", (size_t)4, "tools", "type", "function",
	    "function", "name", "lookup_order", "description", "Find an order",
	    "parameters", "type", "object", "properties", "order_id", "type",
	    "string", "required", "order_id", "type", "function", "function",
	    "name", "ping", "parameters", "type", "object", "properties",
	    "tool_choice", "type", "function", "function", "name",
	    "lookup_order", "temperature", 0.2, "max_tokens", 256, "stream", 1,
	    "stream_options", "include_usage", 1, "seed", 42);
	assert_non_null(want);
	if (!json_equal(got, want)) {
		char *w = json_dumps(want, JSON_COMPACT | JSON_SORT_KEYS);
		fail_msg("request\n got %s\nwant %s", js, w);
	}
	/* The same bytes again (and in a second, identical request). */
	char *js2;
	assert_rc(mn_llm_request_json(q, &cfg, &js2, NULL), 0);
	assert_string_equal(js, js2);
	free(js2);
	assert_non_null(strstr(js, "\"temperature\":0.2,"));
	/* The request's own model wins over the config's. */
	assert_rc(mn_llm_request_model(q, "other"), 0);
	assert_rc(mn_llm_request_json(q, &cfg, &js2, NULL), 0);
	assert_non_null(strstr(js2, "\"model\":\"other\""));
	free(js2);
	/* Streaming off removes both keys. */
	assert_rc(mn_llm_request_stream(q, 0), 0);
	assert_rc(mn_llm_request_json(q, NULL, &js2, NULL), 0);
	assert_null(strstr(js2, "stream"));
	free(js2);
	json_decref(got);
	json_decref(want);
	free(js);

	/* Refusals. */
	assert_rc(mn_llm_request_tool(q, "f", NULL, "{\"type\":"), MN_EINVAL);
	assert_rc(mn_llm_request_tool(q, "f", NULL, "[]"), MN_EINVAL);
	assert_rc(mn_llm_request_tool(q, "", NULL, NULL), MN_EINVAL);
	assert_rc(mn_llm_request_message(q, "user", "bad \xff utf-8"),
		  MN_EINVAL);
	assert_rc(mn_llm_request_message(q, "user", NULL), MN_EINVAL);
	assert_rc(mn_llm_request_message(q, "", "x"), MN_EINVAL);
	assert_rc(mn_llm_request_set(q, "messages", "[]"), MN_EINVAL);
	assert_rc(mn_llm_request_set(q, "stream", "true"), MN_EINVAL);
	assert_rc(mn_llm_request_set(q, "top_p", "0.9x"), MN_EINVAL);
	assert_rc(mn_llm_request_temperature(q, 2.5), MN_EINVAL);
	assert_rc(mn_llm_request_max_tokens(q, 0), MN_EINVAL);
	assert_rc(
	    mn_llm_request_tool_choice(q, MN_LLM_TOOL_CHOICE_FUNCTION, NULL),
	    MN_EINVAL);
	assert_rc(mn_llm_request_tool_choice(q, MN_LLM_TOOL_CHOICE_AUTO, "f"),
		  MN_EINVAL);
	mn_llm_tool_call no_id = {.name = (char *)"f", .arguments = NULL};
	assert_rc(mn_llm_request_assistant_tool_calls(q, NULL, &no_id, 1),
		  MN_EINVAL);
	mn_llm_reply empty;
	memset(&empty, 0, sizeof empty);
	assert_rc(mn_llm_request_add_reply(q, &empty), MN_EINVAL);
	assert_int_equal(mn_llm_request_messages(q), 5);
	assert_rc(
	    mn_llm_request_tool_choice(q, MN_LLM_TOOL_CHOICE_REQUIRED, NULL),
	    0);
	assert_rc(mn_llm_request_json(q, NULL, &js, NULL), 0);
	assert_non_null(strstr(js, "\"tool_choice\":\"required\""));
	free(js);
	mn_llm_request_free(q);
	mn_llm_request_free(NULL);
}

static void test_usage(void **state)
{
	(void)state;
	mn_llm_usage sum = {0}, u;
	size_t n;
	char *b = fixture("plain.json", &n);
	assert_rc(mn_llm_body_usage(b, n, &u), 0);
	mn_llm_usage_add(&sum, &u);
	free(b);
	b = fixture("stream_tools.sse", &n);
	assert_rc(mn_llm_body_usage(b, n, &u), 0);
	mn_llm_usage_add(&sum, &u);
	free(b);
	b = fixture("error_429.json", &n);
	assert_rc(mn_llm_body_usage(b, n, &u), MN_EINVAL);
	assert_int_equal(u.replies, 0);
	mn_llm_usage_add(&sum, &u);
	free(b);
	assert_rc(mn_llm_body_usage("x", 1, &u), MN_EINVAL);
	assert_int_equal(sum.replies, 2);
	assert_int_equal(sum.prompt_tokens, 19 + 151);
	assert_int_equal(sum.completion_tokens, 17 + 40);
	assert_int_equal(sum.total_tokens, 36 + 191);
	mn_llm_usage big = {UINT64_MAX, UINT64_MAX - 1, 5, 5};
	mn_llm_usage_add(&sum, &big);
	assert_int_equal(sum.replies, UINT64_MAX); /* saturates */
	assert_int_equal(sum.prompt_tokens, UINT64_MAX);
}

/* ---- on a runtime ------------------------------------------------------ */

enum {
	T_ASK = 1,    /* payload: a URL; send a completion request there */
	T_BRIDGE = 2, /* a bridged call (the test completes it) */
	T_REPLY = 10,
};

#define SECRET "sk-test-4f1c0ffee0ddba11d00d"

static mn_llm_config agent_cfg;
static char dir[256];
static standin *srv;
static char base[64];

/* What the agent saw of its last reply (written before replies is
 * incremented; read by the main thread after the wait). */
static struct {
	int rc, outcome, status, transport_err, retryable;
	uint64_t call_id, made_id, retry_after_ms;
	uint32_t attempts;
	char detail[512];
	char content[512];
	char body[8192];
	mn_llm_usage tokens; /* the agent's running total */
} seen;
static _Atomic uint64_t replies;
static mn_call_ref bridged;
static _Atomic uint64_t n_bridged;

typedef struct agent {
	mn_llm_usage tokens;
	uint64_t call_id;
} agent;

static int a_init(mn_ctx *ctx, void **state)
{
	(void)ctx;
	*state = calloc(1, sizeof(agent));
	return *state ? 0 : MN_ENOMEM;
}

static void a_free(void *state)
{
	free(state);
}

static void copy_str(char *dst, size_t cap, const char *s, size_t n)
{
	n = n < cap - 1 ? n : cap - 1;
	if (n)
		memcpy(dst, s, n);
	dst[n] = 0;
}

static int a_handle(mn_ctx *ctx, void *state, const mn_msg *m)
{
	agent *a = state;
	if (m->flags & MN_MSG_CALL) {
		mn_llm_reply r;
		int rc = mn_llm_reply_parse(m, &r);
		mn_llm_usage_add(&a->tokens, &r.usage);
		mn_call_reply cr;
		if (mn_call_reply_decode(m, &cr) == 0)
			copy_str(seen.body, sizeof seen.body, cr.body,
				 cr.body_len);
		seen.rc = rc;
		seen.outcome = r.outcome;
		seen.status = r.status;
		seen.transport_err = r.transport_err;
		seen.call_id = r.call_id;
		seen.made_id = a->call_id;
		seen.attempts = r.attempts;
		seen.retryable = mn_llm_reply_retryable(&r);
		seen.retry_after_ms = r.retry_after_ms;
		copy_str(seen.detail, sizeof seen.detail, r.detail,
			 r.detail ? strlen(r.detail) : 0);
		copy_str(seen.content, sizeof seen.content, r.content,
			 r.content_len);
		seen.tokens = a->tokens;
		mn_llm_reply_free(&r);
		atomic_fetch_add(&replies, 1);
		return 0;
	}
	if (m->type == T_BRIDGE)
		return mn_ctx_call_begin(ctx, "q", 1, T_REPLY, &a->call_id);
	mn_llm_config cfg = agent_cfg;
	copy_str(cfg.url, sizeof cfg.url, m->payload, m->len);
	mn_llm_request *q;
	int rc = mn_llm_request_new(&q);
	if (rc)
		return rc;
	rc = mn_llm_request_message(q, "user", "Where is order A-1042?");
	if (!rc)
		rc = mn_llm_send(ctx, &cfg, q, T_REPLY, &a->call_id);
	mn_llm_request_free(q);
	return rc;
}

static void on_bridge(void *arg, const mn_bridge_call *c)
{
	(void)arg;
	bridged = c->ref;
	atomic_fetch_add(&n_bridged, 1);
}

static mn_runtime *open_rt(void)
{
	mn_runtime_opts o = MN_RUNTIME_OPTS_INIT;
	o.workers = 2;
	o.store_path = dir;
	o.durability = MN_DURABILITY_RELAXED;
	o.on_bridge_call = on_bridge;
	mn_runtime *rt = NULL;
	assert_rc(mn_runtime_open(&o, &rt), 0);
	return rt;
}

static mn_kind *reg(mn_runtime *rt)
{
	mn_kind_def d = MN_KIND_DEF_INIT;
	d.name = "llm-agent";
	d.init = a_init;
	d.handle = a_handle;
	d.free = a_free;
	return mt_register(rt, &d);
}

static int rt_setup(void **state)
{
	mt_setup(state);
	snprintf(dir, sizeof dir, "/tmp/mnemo-test-llm-%d-XXXXXX",
		 (int)getpid());
	assert_non_null(mkdtemp(dir));
	standin_opts so = {.seed = 3};
	assert_int_equal(standin_start(&so, &srv), 0);
	standin_base_url(srv, base, sizeof base);
	memset(&seen, 0, sizeof seen);
	atomic_store(&replies, 0);
	atomic_store(&n_bridged, 0);
	return 0;
}

static int rt_teardown(void **state)
{
	(void)state;
	standin_stop(srv);
	srv = NULL;
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void ask(mn_runtime *rt, mn_kind *k, uint32_t type, const char *url)
{
	unsigned char key[MT_KEY_LEN];
	mt_key_put(key, 1);
	assert_rc(
	    mn_send(rt, k, key, sizeof key, type, url, url ? strlen(url) : 0),
	    0);
}

static void wait_reply(uint64_t n)
{
	assert_true(mt_wait_u64(&replies, n, 20));
}

/* Does a file under d (recursively) hold needle? */
static int tree_holds(const char *d, const char *needle)
{
	DIR *dp = opendir(d);
	assert_non_null(dp);
	struct dirent *de;
	int found = 0;
	size_t nl = strlen(needle);
	while (!found && (de = readdir(dp))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		char path[512];
		struct stat st;
		snprintf(path, sizeof path, "%s/%s", d, de->d_name);
		if (stat(path, &st))
			continue;
		if (S_ISDIR(st.st_mode)) {
			found = tree_holds(path, needle);
			continue;
		}
		FILE *f = fopen(path, "rb");
		if (!f)
			continue;
		char *b = malloc((size_t)st.st_size + 1);
		assert_non_null(b);
		size_t got = fread(b, 1, (size_t)st.st_size, f);
		fclose(f);
		for (size_t i = 0; i + nl <= got && !found; i++)
			found = !memcmp(b + i, needle, nl);
		free(b);
	}
	closedir(dp);
	return found;
}

/* The environment gives the config; the key goes to the runtime only;
 * mn_llm_send's request reaches the server as built. */
static void test_env_and_send(void **state)
{
	(void)state;
	mn_runtime *rt = open_rt();
	char url[128];
	snprintf(url, sizeof url, "%s/echo", base);
	unsetenv("MNEMO_LLM_URL");
	unsetenv("MNEMO_LLM_MODEL");
	unsetenv("MNEMO_LLM_API_KEY");
	assert_rc(mn_llm_config_from_env(rt, &agent_cfg), 0);
	assert_string_equal(agent_cfg.url, MN_LLM_URL_DEFAULT);
	assert_string_equal(agent_cfg.model, MN_LLM_MODEL_DEFAULT);
	assert_string_equal(agent_cfg.credential, ""); /* no key: none */
	assert_int_equal(agent_cfg.timeout_ms, 120000);
	assert_int_equal(agent_cfg.max_attempts, 5);
	assert_int_equal(agent_cfg.backoff_ms, 500);
	assert_int_equal(agent_cfg.max_response, 8u << 20);

	setenv("MNEMO_LLM_URL", url, 1);
	setenv("MNEMO_LLM_MODEL", "standin-1", 1);
	setenv("MNEMO_LLM_API_KEY", "bad\nkey", 1);
	assert_rc(mn_llm_config_from_env(rt, &agent_cfg), MN_EINVAL);
	setenv("MNEMO_LLM_API_KEY", SECRET, 1);
	assert_rc(mn_llm_config_from_env(rt, &agent_cfg), 0);
	assert_string_equal(agent_cfg.url, url);
	assert_string_equal(agent_cfg.model, "standin-1");
	assert_string_equal(agent_cfg.credential, MN_LLM_CREDENTIAL_DEFAULT);
	assert_null(
	    memmem(&agent_cfg, sizeof agent_cfg, SECRET, strlen(SECRET)));
	agent_cfg.max_attempts = 1;
	agent_cfg.timeout_ms = 10000;

	mn_kind *k = reg(rt);
	ask(rt, k, T_ASK, url);
	wait_reply(1);
	mt_drain(rt);
	/* /echo's body is not a completion: malformed, the envelope read. */
	assert_rc(seen.rc, MN_EIO);
	assert_int_equal(seen.outcome, MN_LLM_MALFORMED);
	assert_int_equal(seen.status, 200);
	assert_int_equal(seen.attempts, 1);
	assert_int_equal(seen.call_id, seen.made_id);
	/* The server got the request as mn_llm_request_json makes it. */
	json_t *echo = json_loads(seen.body, 0, NULL);
	assert_non_null(echo);
	const char *sent = json_string_value(json_object_get(echo, "body"));
	assert_non_null(sent);
	assert_string_equal(sent, "{\"messages\":[{\"content\":\"Where is "
				  "order A-1042?\",\"role\":\"user\"}],"
				  "\"model\":\"standin-1\"}");
	assert_string_equal(json_string_value(json_object_get(echo, "method")),
			    "POST");
	json_decref(echo);
	assert_null(strstr(seen.detail, SECRET));
	mn_runtime_close(rt);
	/* The key is in no file of the store. */
	assert_false(tree_holds(dir, SECRET));
	unsetenv("MNEMO_LLM_API_KEY");
	unsetenv("MNEMO_LLM_URL");
	unsetenv("MNEMO_LLM_MODEL");
}

/* mn_llm_reply_parse on real envelopes: bridged completions with recorded
 * bodies, and a transport error. */
static void test_reply_envelopes(void **state)
{
	(void)state;
	mn_runtime *rt = open_rt();
	assert_rc(mn_llm_config_init(&agent_cfg, NULL, "m"), 0);
	mn_kind *k = reg(rt);
	static const struct {
		const char *file;
		int status, rc, outcome;
	} cases[] = {
	    {"plain.json", 200, 0, MN_LLM_OK},
	    {"stream_text.sse", 200, 0, MN_LLM_OK},
	    {"error_429.json", 429, MN_EIO, MN_LLM_API_ERROR},
	};
	for (size_t i = 0; i < 3; i++) {
		ask(rt, k, T_BRIDGE, NULL);
		assert_true(mt_wait_u64(&n_bridged, i + 1, 20));
		size_t n;
		char *b = fixture(cases[i].file, &n);
		mn_call_ref ref = bridged;
		assert_rc(mn_call_complete(rt, &ref, cases[i].status, b, n), 0);
		free(b);
		wait_reply(i + 1);
		mt_drain(rt);
		assert_rc(seen.rc, cases[i].rc);
		assert_int_equal(seen.outcome, cases[i].outcome);
		assert_int_equal(seen.status, cases[i].status);
		assert_int_equal(seen.call_id, seen.made_id);
	}
	assert_string_equal(seen.detail, "HTTP 429: rate_limit_exceeded: Rate "
					 "limit reached for gpt-4o-mini in "
					 "organization org-XXXXXXXXXXXXXXXXXXX"
					 "XXXXX on tokens per min (TPM): "
					 "Limit 200000, Used 199853, Requested "
					 "1142. Please try again in 298ms. "
					 "Visit https://platform.openai.com/"
					 "account/rate-limits to learn more.");
	/* The agent's running total: the plain and the streamed reply. */
	assert_int_equal(seen.tokens.replies, 2);
	assert_int_equal(seen.tokens.total_tokens, 36 + 37);

	/* Nobody listens on port 1: a transport error. */
	agent_cfg.max_attempts = 1;
	agent_cfg.timeout_ms = 5000;
	ask(rt, k, T_ASK, "http://127.0.0.1:1/v1/chat/completions");
	wait_reply(4);
	mt_drain(rt);
	assert_rc(seen.rc, MN_EIO);
	assert_int_equal(seen.outcome, MN_LLM_TRANSPORT);
	assert_int_equal(seen.transport_err, MN_EIO);
	assert_true(strncmp(seen.detail, "MN_EIO: ", 8) == 0);
	assert_int_equal(seen.retryable, 1);

	/* A 429 with Retry-After, attempts used up: retryable, the wait
	 * read from the envelope's headers. */
	char url[160];
	snprintf(url, sizeof url, "%s/status?code=429&retry_after=3", base);
	ask(rt, k, T_ASK, url);
	wait_reply(5);
	mt_drain(rt);
	assert_int_equal(seen.outcome, MN_LLM_API_ERROR);
	assert_int_equal(seen.status, 429);
	assert_int_equal(seen.retryable, 1);
	assert_int_equal(seen.retry_after_ms, 3000);
	mn_runtime_close(rt);

	/* What may be sent again. */
	static const struct {
		int outcome, status, err;
		const char *code;
		int want;
	} rt_cases[] = {
	    {MN_LLM_API_ERROR, 409, 0, NULL, 1},
	    {MN_LLM_API_ERROR, 408, 0, NULL, 1},
	    {MN_LLM_API_ERROR, 503, 0, NULL, 1},
	    {MN_LLM_API_ERROR, 429, 0, "rate_limit_exceeded", 1},
	    {MN_LLM_API_ERROR, 429, 0, "insufficient_quota", 0},
	    {MN_LLM_API_ERROR, 400, 0, "context_length_exceeded", 0},
	    {MN_LLM_API_ERROR, 401, 0, NULL, 0},
	    {MN_LLM_TRANSPORT, 0, MN_ETIMEDOUT, NULL, 1},
	    {MN_LLM_TRANSPORT, 0, MN_ETOOBIG, NULL, 0},
	    {MN_LLM_TRANSPORT, 0, MN_EINVAL, NULL, 0},
	    {MN_LLM_INCOMPLETE, 200, 0, NULL, 1},
	    {MN_LLM_MALFORMED, 200, 0, NULL, 0},
	    {MN_LLM_OK, 200, 0, NULL, 0},
	};
	for (size_t i = 0; i < sizeof rt_cases / sizeof rt_cases[0]; i++) {
		mn_llm_reply x;
		memset(&x, 0, sizeof x);
		x.outcome = rt_cases[i].outcome;
		x.status = rt_cases[i].status;
		x.transport_err = rt_cases[i].err;
		x.error_code = (char *)rt_cases[i].code;
		if (mn_llm_reply_retryable(&x) != rt_cases[i].want)
			fail_msg("retryable case %zu", i);
	}
	assert_int_equal(mn_llm_reply_retryable(NULL), 0);

	/* Not a call reply. */
	mn_msg m = {.type = 1, .flags = 0, .payload = "x", .len = 1};
	mn_llm_reply r;
	assert_rc(mn_llm_reply_parse(&m, &r), MN_EINVAL);
	assert_int_equal(r.outcome, MN_LLM_MALFORMED);
	mn_llm_reply_free(&r);
	m.flags = MN_MSG_CALL;
	assert_rc(mn_llm_reply_parse(&m, &r), MN_EINVAL);
	mn_llm_reply_free(&r);
	assert_rc(mn_llm_reply_parse(NULL, &r), MN_EINVAL);
	mn_llm_reply_free(&r);
	/* Send's own refusals. */
	assert_rc(mn_llm_config_init(&agent_cfg, "x", NULL), 0);
	char longer[MN_LLM_MODEL_MAX + 1];
	memset(longer, 'm', sizeof longer - 1);
	longer[sizeof longer - 1] = 0;
	assert_rc(mn_llm_config_init(&agent_cfg, "x", longer), MN_EINVAL);
	assert_rc(mn_llm_config_init(NULL, NULL, NULL), MN_EINVAL);
	assert_rc(mn_llm_send(NULL, &agent_cfg, NULL, T_REPLY, NULL),
		  MN_EINVAL);
}

/* Complete the agent's next bridged call with fixture file (status 200). */
static void complete_with(mn_runtime *rt, mn_kind *k, const char *file)
{
	uint64_t n = atomic_load(&n_bridged), r = atomic_load(&replies);
	ask(rt, k, T_BRIDGE, NULL);
	assert_true(mt_wait_u64(&n_bridged, n + 1, 20));
	size_t len;
	char *b = fixture(file, &len);
	mn_call_ref ref = bridged;
	assert_rc(mn_call_complete(rt, &ref, 200, b, len), 0);
	free(b);
	wait_reply(r + 1);
}

/* `mnemo stats` sums the tokens of chat-completion replies per kind;
 * `mnemo dump` shows them per entry. */
static void test_tool_tokens(void **state)
{
	(void)state;
	static mt_tool_res res;
	mn_runtime *rt = open_rt();
	assert_rc(mn_llm_config_init(&agent_cfg, NULL, "m"), 0);
	mn_kind *k = reg(rt);
	complete_with(rt, k, "plain.json");	  /* 19 + 17 = 36 */
	complete_with(rt, k, "stream_tools.sse"); /* 151 + 40 = 191 */
	complete_with(rt, k, "error_429.json");	  /* no usage */
	mt_drain(rt);
	mn_runtime_close(rt);

	char scratch[sizeof dir + 16];
	snprintf(scratch, sizeof scratch, "%s/scratch", dir);
	assert_int_equal(mkdir(scratch, 0700), 0);
	mt_tool_setup(scratch);
	mt_tool(&res, "stats '%s'", dir);
	mt_expect_exit(&res, 0);
	mt_expect_in(res.out, "llm tokens          227 (prompt 170, completion "
			      "57; 2 chat completions)");
	mt_expect_in(res.out, "llm-agent         2          170           57 "
			      "         227");
	mt_tool(&res, "stats --json '%s'", dir);
	mt_expect_exit(&res, 0);
	mt_expect_in(res.out, "\"llm_replies\":2,\"prompt_tokens\":170,"
			      "\"completion_tokens\":57,\"total_tokens\":227");
	mt_tool(&res, "dump llm-agent/0x0100000000000000 '%s'", dir);
	mt_expect_exit(&res, 0);
	mt_expect_in(res.out, "tokens 36 (prompt 19, completion 17)");
	mt_expect_in(res.out, "tokens 191 (prompt 151, completion 40)");
	mt_tool(&res, "dump --json llm-agent/0x0100000000000000 '%s'", dir);
	mt_expect_exit(&res, 0);
	mt_expect_in(res.out, "\"prompt_tokens\":151,\"completion_tokens\":40,"
			      "\"total_tokens\":191");
}

int main(void)
{
	mt_init("llm");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_plain, mt_setup),
	    cmocka_unit_test_setup(test_tool_calls, mt_setup),
	    cmocka_unit_test_setup(test_invalid_arguments, mt_setup),
	    cmocka_unit_test_setup(test_empty_choices, mt_setup),
	    cmocka_unit_test_setup(test_error_objects, mt_setup),
	    cmocka_unit_test_setup(test_malformed, mt_setup),
	    cmocka_unit_test_setup(test_stream_text, mt_setup),
	    cmocka_unit_test_setup(test_stream_tools, mt_setup),
	    cmocka_unit_test_setup(test_stream_cut, mt_setup),
	    cmocka_unit_test_setup(test_stream_edges, mt_setup),
	    cmocka_unit_test_setup(test_request_json, mt_setup),
	    cmocka_unit_test_setup(test_usage, mt_setup),
	    cmocka_unit_test_setup_teardown(test_env_and_send, rt_setup,
					    rt_teardown),
	    cmocka_unit_test_setup_teardown(test_reply_envelopes, rt_setup,
					    rt_teardown),
	    cmocka_unit_test_setup_teardown(test_tool_tokens, rt_setup,
					    rt_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
