/* reply.c - chat-completion replies: the call envelope, a JSON completion,
 * and the streamed form (server-sent events) through an incremental parser
 * that accepts any chunk boundaries. Every JSON byte goes through jansson;
 * the only bytes read by hand are the SSE framing (lines, "data:" fields).
 * Both forms fill one accumulator, turned into an mn_llm_reply at the
 * end. Public API of mnemo.h only. */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mnemo.h"
#include "mnemo_llm.h"

/* Most tool calls one reply may carry (a stream's index beyond is
 * malformed rather than an allocation of what the server claims). */
#define LLM_TOOL_CALLS_MAX 256

typedef struct sbuf {
	char *p;
	size_t len, cap;
} sbuf;

static int sb_add(sbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p)
			return MN_ENOMEM;
		b->p = p;
		b->cap = cap;
	}
	if (n)
		memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
	return 0;
}

typedef struct acc_call {
	sbuf id, name, args;
	int seen;
} acc_call;

/* What a completion (or the stream so far) said. */
typedef struct acc {
	char *id, *model, *finish;
	sbuf content;
	int has_content;
	acc_call *calls;
	size_t ncalls;
	mn_llm_usage usage;
	int has_error;
	char *etype, *emsg, *ecode;
	char *malformed; /* the first malformation, readable */
	int choices;	 /* choices (stream: choice deltas) read */
	int oom;
} acc;

static void acc_free(acc *a)
{
	free(a->id);
	free(a->model);
	free(a->finish);
	free(a->content.p);
	for (size_t i = 0; i < a->ncalls; i++) {
		free(a->calls[i].id.p);
		free(a->calls[i].name.p);
		free(a->calls[i].args.p);
	}
	free(a->calls);
	free(a->etype);
	free(a->emsg);
	free(a->ecode);
	free(a->malformed);
	memset(a, 0, sizeof(*a));
}

static char *dup_n(const char *s, size_t n)
{
	char *d = malloc(n + 1);
	if (d) {
		memcpy(d, s, n);
		d[n] = 0;
	}
	return d;
}

static char *fmt(const char *f, ...)
{
	va_list ap;
	va_start(ap, f);
	int n = vsnprintf(NULL, 0, f, ap);
	va_end(ap);
	if (n < 0)
		return NULL;
	char *s = malloc((size_t)n + 1);
	if (!s)
		return NULL;
	va_start(ap, f);
	vsnprintf(s, (size_t)n + 1, f, ap);
	va_end(ap);
	return s;
}

/* Record the first malformation (later ones add nothing). */
static void bad(acc *a, const char *what, const char *field)
{
	if (a->malformed)
		return;
	a->malformed = fmt("%s %s", field, what);
	if (!a->malformed)
		a->oom = 1;
}

/* *dst = the string v (when dst is unset and v a string); v of another
 * type but null is malformed. */
static void take_str(acc *a, char **dst, json_t *v, const char *field)
{
	if (!v || json_is_null(v))
		return;
	if (!json_is_string(v)) {
		bad(a, "is not a string", field);
		return;
	}
	if (*dst)
		return;
	*dst = dup_n(json_string_value(v), json_string_length(v));
	if (!*dst)
		a->oom = 1;
}

static void take_usage(acc *a, json_t *u)
{
	if (!u || json_is_null(u))
		return;
	if (!json_is_object(u)) {
		bad(a, "is not an object", "usage");
		return;
	}
	static const char *const names[] = {
	    "prompt_tokens", "completion_tokens", "total_tokens"};
	uint64_t v[3] = {0, 0, 0};
	for (int i = 0; i < 3; i++) {
		json_t *n = json_object_get(u, names[i]);
		if (!n || json_is_null(n))
			continue;
		if (!json_is_integer(n) || json_integer_value(n) < 0) {
			bad(a, "is not a count", names[i]);
			return;
		}
		v[i] = (uint64_t)json_integer_value(n);
	}
	if (!json_object_get(u, "total_tokens"))
		v[2] = v[0] + v[1];
	a->usage.replies = 1;
	a->usage.prompt_tokens = v[0];
	a->usage.completion_tokens = v[1];
	a->usage.total_tokens = v[2];
}

static void take_error(acc *a, json_t *e)
{
	a->has_error = 1;
	if (json_is_string(e)) {
		take_str(a, &a->emsg, e, "error");
		return;
	}
	if (!json_is_object(e))
		return;
	take_str(a, &a->etype, json_object_get(e, "type"), "error.type");
	take_str(a, &a->emsg, json_object_get(e, "message"), "error.message");
	json_t *c = json_object_get(e, "code");
	if (json_is_integer(c) && !a->ecode) {
		a->ecode = fmt("%lld", (long long)json_integer_value(c));
		if (!a->ecode)
			a->oom = 1;
	} else {
		take_str(a, &a->ecode, c, "error.code");
	}
}

/* Append a string field's value to b (a delta, or a whole value). */
static void append(acc *a, sbuf *b, json_t *v, const char *field)
{
	if (!v || json_is_null(v))
		return;
	if (!json_is_string(v)) {
		bad(a, "is not a string", field);
		return;
	}
	if (sb_add(b, json_string_value(v), json_string_length(v)))
		a->oom = 1;
}

/* A string field of which the first fragment that has it counts (a tool
 * call's id and name). */
static void first(acc *a, sbuf *b, json_t *v, const char *field)
{
	if (b->len == 0 || !json_is_string(v))
		append(a, b, v, field);
}

/* The call of index i, grown to it. */
static acc_call *call_at(acc *a, size_t i)
{
	if (i >= LLM_TOOL_CALLS_MAX) {
		bad(a, "has an index over 256", "tool_calls");
		return NULL;
	}
	if (i >= a->ncalls) {
		acc_call *c = realloc(a->calls, (i + 1) * sizeof(*c));
		if (!c) {
			a->oom = 1;
			return NULL;
		}
		memset(c + a->ncalls, 0, (i + 1 - a->ncalls) * sizeof(*c));
		a->calls = c;
		a->ncalls = i + 1;
	}
	return &a->calls[i];
}

/* Tool calls of a message (whole, by position) or of a delta (fragments,
 * by their "index"). */
static void take_tool_calls(acc *a, json_t *tcs, int delta)
{
	if (!tcs || json_is_null(tcs))
		return;
	if (!json_is_array(tcs)) {
		bad(a, "is not an array", "tool_calls");
		return;
	}
	size_t i;
	json_t *tc;
	json_array_foreach(tcs, i, tc)
	{
		if (!json_is_object(tc)) {
			bad(a, "is not an object", "tool_calls[]");
			return;
		}
		size_t at = delta ? 0 : i;
		json_t *ix = json_object_get(tc, "index");
		if (delta || (ix && json_is_integer(ix))) {
			if (!json_is_integer(ix) ||
			    json_integer_value(ix) < 0) {
				bad(a, "is not an index", "tool_calls[].index");
				return;
			}
			at = (size_t)json_integer_value(ix);
		}
		acc_call *c = call_at(a, at);
		if (!c)
			return;
		c->seen = 1;
		first(a, &c->id, json_object_get(tc, "id"), "tool_calls[].id");
		json_t *fn = json_object_get(tc, "function");
		if (!fn || json_is_null(fn))
			continue;
		if (!json_is_object(fn)) {
			bad(a, "is not an object", "tool_calls[].function");
			return;
		}
		first(a, &c->name, json_object_get(fn, "name"),
		      "function.name");
		json_t *args = json_object_get(fn, "arguments");
		if (json_is_object(args) && !delta) {
			/* Some servers send the arguments as an object. */
			char *s =
			    json_dumps(args, JSON_COMPACT | JSON_SORT_KEYS);
			if (!s || sb_add(&c->args, s, strlen(s)))
				a->oom = 1;
			free(s);
		} else {
			append(a, &c->args, args, "function.arguments");
		}
	}
}

/* One choice: a message (whole) or a delta (stream). */
static void take_choice(acc *a, json_t *ch, int delta, mn_llm_delta_fn on_delta,
			void *arg)
{
	if (!json_is_object(ch)) {
		bad(a, "is not an object", "choices[]");
		return;
	}
	json_t *ix = json_object_get(ch, "index");
	if (delta && json_is_integer(ix) && json_integer_value(ix) != 0)
		return; /* n > 1: the first choice only */
	a->choices++;
	const char *field = delta ? "choices[].delta" : "choices[0].message";
	json_t *m = json_object_get(ch, delta ? "delta" : "message");
	if (!json_is_object(m)) {
		if (!delta || (m && !json_is_null(m)))
			bad(a, "is not an object", field);
	} else {
		json_t *c = json_object_get(m, "content");
		if (json_is_string(c)) {
			a->has_content = 1;
			append(a, &a->content, c, "content");
			if (on_delta && json_string_length(c))
				on_delta(arg, json_string_value(c),
					 json_string_length(c));
		} else if (c && !json_is_null(c)) {
			bad(a, "is not a string", "content");
		}
		take_tool_calls(a, json_object_get(m, "tool_calls"), delta);
	}
	json_t *fr = json_object_get(ch, "finish_reason");
	if (json_is_string(fr) && a->finish) {
		free(a->finish); /* the last one said counts */
		a->finish = NULL;
	}
	take_str(a, &a->finish, fr, "finish_reason");
}

/* A completion object, or a stream's chunk object. */
static void take_object(acc *a, json_t *o, int delta, mn_llm_delta_fn on_delta,
			void *arg)
{
	json_t *e = json_object_get(o, "error");
	if (e && !json_is_null(e)) {
		take_error(a, e);
		return;
	}
	take_str(a, &a->id, json_object_get(o, "id"), "id");
	take_str(a, &a->model, json_object_get(o, "model"), "model");
	take_usage(a, json_object_get(o, "usage"));
	json_t *chs = json_object_get(o, "choices");
	if (!chs || json_is_null(chs)) {
		if (!delta)
			bad(a, "are missing", "choices");
		return;
	}
	if (!json_is_array(chs)) {
		bad(a, "is not an array", "choices");
		return;
	}
	if (!delta) {
		if (!json_array_size(chs))
			bad(a, "is empty", "choices");
		else
			take_choice(a, json_array_get(chs, 0), 0, NULL, NULL);
		return;
	}
	size_t i;
	json_t *ch;
	json_array_foreach(chs, i, ch) take_choice(a, ch, 1, on_delta, arg);
}

/* ---- the reply ---------------------------------------------------------- */

void mn_llm_reply_free(mn_llm_reply *r)
{
	if (!r)
		return;
	free(r->detail);
	free(r->id);
	free(r->model);
	free(r->content);
	free(r->finish_reason);
	for (size_t i = 0; i < r->n_tool_calls; i++) {
		free(r->tool_calls[i].id);
		free(r->tool_calls[i].name);
		free(r->tool_calls[i].arguments);
	}
	free(r->tool_calls);
	free(r->error_type);
	free(r->error_message);
	free(r->error_code);
	memset(r, 0, sizeof(*r));
}

const char *mn_llm_outcome_name(int outcome)
{
	switch (outcome) {
	case MN_LLM_OK:
		return "ok";
	case MN_LLM_TRANSPORT:
		return "transport";
	case MN_LLM_API_ERROR:
		return "api_error";
	case MN_LLM_MALFORMED:
		return "malformed";
	case MN_LLM_INCOMPLETE:
		return "incomplete";
	default:
		return "unknown";
	}
}

static char *take(char **p)
{
	char *s = *p;
	*p = NULL;
	return s;
}

/* Move a's findings into *out (zeroed first) and decide the outcome.
 * stream: 1 for SSE (done: [DONE] seen; events: events read). */
static int settle(acc *a, int status, int stream, int done, size_t events,
		  mn_llm_reply *out)
{
	memset(out, 0, sizeof(*out));
	out->status = status;
	out->streamed = stream;
	out->usage = a->usage;
	out->id = take(&a->id);
	out->model = take(&a->model);
	out->finish_reason = take(&a->finish);
	out->error_type = take(&a->etype);
	out->error_message = take(&a->emsg);
	out->error_code = take(&a->ecode);
	if (a->has_content) {
		out->content = a->content.p ? a->content.p : dup_n("", 0);
		out->content_len = a->content.len;
		a->content.p = NULL;
		if (!out->content)
			a->oom = 1;
	}
	size_t n = 0;
	for (size_t i = 0; i < a->ncalls; i++)
		n += a->calls[i].seen;
	if (n) {
		out->tool_calls = calloc(n, sizeof(*out->tool_calls));
		if (!out->tool_calls)
			a->oom = 1;
	}
	for (size_t i = 0, j = 0; out->tool_calls && i < a->ncalls; i++) {
		acc_call *c = &a->calls[i];
		if (!c->seen)
			continue;
		mn_llm_tool_call *t = &out->tool_calls[j++];
		out->n_tool_calls = j;
		t->id = c->id.p ? take(&c->id.p) : NULL;
		t->name = c->name.p ? take(&c->name.p) : NULL;
		t->arguments = c->args.p ? take(&c->args.p) : dup_n("", 0);
		t->arguments_len = c->args.len;
		if (!t->arguments) {
			a->oom = 1;
			continue;
		}
		json_t *v = json_loadb(t->arguments, t->arguments_len, 0, NULL);
		t->arguments_valid = json_is_object(v);
		json_decref(v);
		if (!t->name)
			bad(a, "has no function name", "tool_calls[]");
		else if (!t->id)
			bad(a, "has no id", "tool_calls[]");
	}

	int api = a->has_error || (status && (status < 200 || status > 299));
	if (api) {
		out->outcome = MN_LLM_API_ERROR;
		const char *what = out->error_code   ? out->error_code
				   : out->error_type ? out->error_type
						     : "error";
		const char *msg = out->error_message ? out->error_message
				  : a->has_error     ? "(no message)"
						     : "(no error object)";
		out->detail = status ? fmt("HTTP %d: %s: %s", status, what, msg)
				     : fmt("%s: %s", what, msg);
	} else if (a->malformed) {
		out->outcome = MN_LLM_MALFORMED;
		out->detail = take(&a->malformed);
	} else if (stream && !done) {
		out->outcome = MN_LLM_INCOMPLETE;
		out->detail =
		    fmt("stream ended before [DONE] (%zu events)", events);
	} else if (!a->choices) {
		out->outcome = MN_LLM_MALFORMED;
		out->detail =
		    fmt("no choice in the %s", stream ? "stream" : "body");
	} else {
		out->outcome = MN_LLM_OK;
		out->detail = dup_n("", 0);
	}
	int oom = a->oom || !out->detail;
	acc_free(a);
	if (oom)
		return MN_ENOMEM;
	return out->outcome == MN_LLM_OK ? 0 : MN_EIO;
}

/* ---- streams ------------------------------------------------------------ */

struct mn_llm_stream {
	sbuf line;    /* the line being read */
	sbuf data;    /* the data lines of the event being read */
	int has_data; /* the event has a data line */
	int cr;	      /* the last byte was a CR (a LF after it is the same
			 line break) */
	int done;     /* data: [DONE] seen */
	int finished; /* mn_llm_stream_finish ran */
	int at_end;   /* the body ended: an event left open was cut */
	size_t events;
	acc a;
};

int mn_llm_stream_new(mn_llm_stream **out)
{
	if (!out)
		return MN_EINVAL;
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : MN_ENOMEM;
}

void mn_llm_stream_reset(mn_llm_stream *s)
{
	if (!s)
		return;
	free(s->line.p);
	free(s->data.p);
	acc_free(&s->a);
	memset(s, 0, sizeof(*s));
}

void mn_llm_stream_free(mn_llm_stream *s)
{
	mn_llm_stream_reset(s);
	free(s);
}

/* The end of an event: its data is [DONE] or a chunk object. */
static void dispatch(mn_llm_stream *s, mn_llm_delta_fn on_delta, void *arg)
{
	if (!s->has_data)
		return;
	s->has_data = 0;
	s->events++;
	const char *d = s->data.p ? s->data.p : "";
	size_t n = s->data.len;
	s->data.len = 0;
	if (n == 6 && !memcmp(d, "[DONE]", 6)) {
		s->done = 1;
		return;
	}
	json_error_t e;
	json_t *o = json_loadb(d, n, JSON_ALLOW_NUL, &e);
	if (!o && s->at_end) {
		/* The stream was cut inside this event: incomplete, not
		 * malformed (no [DONE] follows). */
	} else if (!json_is_object(o)) {
		if (!s->a.malformed) {
			s->a.malformed =
			    fmt("event %zu is not a JSON object%s%s", s->events,
				o ? "" : ": ", o ? "" : e.text);
			if (!s->a.malformed)
				s->a.oom = 1;
		}
	} else {
		take_object(&s->a, o, 1, on_delta, arg);
	}
	json_decref(o);
}

/* A complete line (without its break): a field of the event, or the blank
 * line that ends it. */
static void end_line(mn_llm_stream *s, mn_llm_delta_fn on_delta, void *arg)
{
	const char *l = s->line.p ? s->line.p : "";
	size_t n = s->line.len;
	s->line.len = 0;
	if (n == 0) {
		dispatch(s, on_delta, arg);
		return;
	}
	if (l[0] == ':') /* a comment (keep-alive) */
		return;
	const char *colon = memchr(l, ':', n);
	size_t fn = colon ? (size_t)(colon - l) : n;
	if (fn != 4 || memcmp(l, "data", 4))
		return; /* event:, id:, retry: and unknown fields */
	const char *v = colon ? colon + 1 : l + n;
	if (v < l + n && *v == ' ')
		v++;
	if ((s->has_data && sb_add(&s->data, "\n", 1)) ||
	    sb_add(&s->data, v, (size_t)(l + n - v)))
		s->a.oom = 1;
	s->has_data = 1;
}

int mn_llm_stream_feed(mn_llm_stream *s, const void *data, size_t len,
		       mn_llm_delta_fn on_delta, void *arg)
{
	if (!s || s->finished || (!data && len))
		return MN_EINVAL;
	const char *p = data, *end = p + len;
	while (p < end && !s->done && !s->a.oom) {
		if (s->cr) {
			s->cr = 0;
			if (*p == '\n') {
				p++;
				continue;
			}
		}
		const char *q = p;
		while (q < end && *q != '\n' && *q != '\r')
			q++;
		if (sb_add(&s->line, p, (size_t)(q - p)))
			return MN_ENOMEM;
		if (q == end)
			break;
		s->cr = *q == '\r';
		end_line(s, on_delta, arg);
		p = q + 1;
	}
	return s->a.oom ? MN_ENOMEM : 0;
}

/* The end of the body (status: the HTTP status, 0 when unknown). */
static int stream_end(mn_llm_stream *s, int status, mn_llm_reply *out)
{
	s->finished = 1;
	s->at_end = 1;
	if (!s->done && s->line.len)
		end_line(s, NULL, NULL);
	if (!s->done)
		dispatch(s, NULL, NULL);
	return settle(&s->a, status, 1, s->done, s->events, out);
}

int mn_llm_stream_finish(mn_llm_stream *s, mn_llm_reply *out)
{
	if (out)
		memset(out, 0, sizeof(*out));
	if (!s || !out || s->finished)
		return MN_EINVAL;
	return stream_end(s, 0, out);
}

/* ---- bodies and messages ------------------------------------------------ */

int mn_llm_parse_body(int status, const void *body, size_t len,
		      mn_llm_reply *out)
{
	if (!out)
		return MN_EINVAL;
	memset(out, 0, sizeof(*out));
	if (!body && len)
		return MN_EINVAL;
	const char *b = body ? body : "";
	size_t i = 0;
	while (i < len &&
	       (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n'))
		i++;
	acc a;
	memset(&a, 0, sizeof(a));
	if (i == len) {
		bad(&a, "is empty", "the body");
		return settle(&a, status, 0, 0, 0, out);
	}
	if (b[i] != '{') {
		mn_llm_stream *s;
		int rc = mn_llm_stream_new(&s);
		if (!rc)
			rc = mn_llm_stream_feed(s, b, len, NULL, NULL);
		if (!rc)
			rc = stream_end(s, status, out);
		mn_llm_stream_free(s);
		return rc;
	}
	json_error_t e;
	json_t *o = json_loadb(b, len, JSON_ALLOW_NUL, &e);
	if (!json_is_object(o)) {
		a.malformed = fmt("the body is not a JSON object: %s", e.text);
		if (!a.malformed)
			a.oom = 1;
	} else {
		take_object(&a, o, 0, NULL, NULL);
	}
	json_decref(o);
	return settle(&a, status, 0, 1, 0, out);
}

/* A header's value as a number (digits, an optional fraction), or -1. */
static double header_number(const mn_call_reply *r, const char *name)
{
	size_t n;
	const char *v = mn_call_reply_header(r, name, &n);
	char buf[32];
	if (!v || !n || n >= sizeof buf)
		return -1;
	memcpy(buf, v, n);
	buf[n] = 0;
	char *end;
	double d = strtod(buf, &end);
	while (*end == ' ' || *end == '\t' || *end == '\r')
		end++;
	if (end == buf || *end || !(d >= 0) || d > 1e12 || buf[0] == '-' ||
	    buf[0] == '+')
		return -1;
	return d;
}

/* retry-after-ms (OpenAI), else Retry-After in seconds. */
static uint64_t retry_after_ms(const mn_call_reply *r)
{
	double ms = header_number(r, "retry-after-ms");
	if (ms < 0) {
		double s = header_number(r, "Retry-After");
		ms = s < 0 ? 0 : s * 1000;
	}
	return (uint64_t)(ms + 0.5);
}

int mn_llm_reply_retryable(const mn_llm_reply *r)
{
	if (!r)
		return 0;
	switch (r->outcome) {
	case MN_LLM_TRANSPORT:
		return r->transport_err == MN_ETIMEDOUT ||
		       r->transport_err == MN_EIO;
	case MN_LLM_INCOMPLETE:
		return 1;
	case MN_LLM_API_ERROR:
		if (r->error_code &&
		    !strcmp(r->error_code, "insufficient_quota"))
			return 0;
		return r->status == 408 || r->status == 409 ||
		       r->status == 429 ||
		       (r->status >= 500 && r->status <= 599);
	default:
		return 0;
	}
}

int mn_llm_reply_parse(const mn_msg *msg, mn_llm_reply *out)
{
	if (!out)
		return MN_EINVAL;
	memset(out, 0, sizeof(*out));
	mn_call_reply r;
	if (!msg || !(msg->flags & MN_MSG_CALL) ||
	    mn_call_reply_decode(msg, &r)) {
		out->outcome = MN_LLM_MALFORMED;
		out->detail = dup_n("not a call reply", 16);
		return out->detail ? MN_EINVAL : MN_ENOMEM;
	}
	int rc;
	if (r.err) {
		out->outcome = MN_LLM_TRANSPORT;
		out->detail =
		    fmt("%s: %s", mn_err_name(r.err),
			r.reason && *r.reason ? r.reason : mn_strerror(r.err));
		out->status = r.status;
		rc = out->detail ? MN_EIO : MN_ENOMEM;
	} else {
		rc = mn_llm_parse_body(r.status, r.body, r.body_len, out);
	}
	out->retry_after_ms = retry_after_ms(&r);
	out->call_id = r.call_id;
	out->transport_err = r.err;
	out->attempts = r.attempts;
	out->latency_us = r.latency_us;
	return rc;
}

/* ---- usage -------------------------------------------------------------- */

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

void mn_llm_usage_add(mn_llm_usage *sum, const mn_llm_usage *u)
{
	if (!sum || !u)
		return;
	sum->replies = sat_add(sum->replies, u->replies);
	sum->prompt_tokens = sat_add(sum->prompt_tokens, u->prompt_tokens);
	sum->completion_tokens =
	    sat_add(sum->completion_tokens, u->completion_tokens);
	sum->total_tokens = sat_add(sum->total_tokens, u->total_tokens);
}

int mn_llm_body_usage(const void *body, size_t len, mn_llm_usage *out)
{
	if (!out)
		return MN_EINVAL;
	memset(out, 0, sizeof(*out));
	mn_llm_reply r;
	int rc = mn_llm_parse_body(0, body, len, &r);
	if (rc != MN_ENOMEM && r.usage.replies)
		*out = r.usage;
	mn_llm_reply_free(&r);
	if (rc == MN_ENOMEM)
		return rc;
	return out->replies ? 0 : MN_EINVAL;
}
