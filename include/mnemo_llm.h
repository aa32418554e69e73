/*
 * mnemo_llm.h - libmnemo-llm, a companion library of mnemo: OpenAI-compatible
 * chat completions (POST /v1/chat/completions) from a persistent actor.
 *
 * It builds the request (jansson inside), sends it with mn_ctx_call_http()
 * under a retry policy suited to LLM APIs, and parses the reply message:
 * content, tool calls, finish reason, usage, the API's error object, and
 * the streamed form (server-sent events) with arbitrary chunk boundaries.
 * It uses the public API of mnemo.h only. Build against it with
 * `pkg-config --cflags --libs mnemo-llm` (docs/agents.md).
 *
 * Conventions are those of mnemo.h: 0 or a negative MN_E* code; handles
 * opaque; destructors accept NULL. Strings given to the library are copied;
 * strings it returns are owned by the object that holds them. Text must be
 * UTF-8 (JSON strings): text that is not is refused with MN_EINVAL.
 * Experimental until mnemo 1.0.
 *
 * Thread safety: a request or a stream parser is used by one thread at a
 * time; every other function may be called from any thread.
 */
#ifndef MNEMO_LLM_H
#define MNEMO_LLM_H

#include <stddef.h>
#include <stdint.h>

#include "mnemo.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Configuration                                                            */
/* ------------------------------------------------------------------------ */

/* Defaults of mn_llm_config_init(), right for LLM APIs: completions are
 * slow, rate limits common, streamed bodies large. */
#define MN_LLM_TIMEOUT_MS_DEFAULT   120000u
#define MN_LLM_MAX_ATTEMPTS_DEFAULT 5u
#define MN_LLM_BACKOFF_MS_DEFAULT   500u
#define MN_LLM_MAX_RESPONSE_DEFAULT (8u << 20)
/* The credential name mn_llm_config_from_env() registers the key under. */
#define MN_LLM_CREDENTIAL_DEFAULT "llm"
/* What mn_llm_config_from_env() uses when MNEMO_LLM_URL / MNEMO_LLM_MODEL
 * are not set. */
#define MN_LLM_URL_DEFAULT   "https://api.openai.com/v1/chat/completions"
#define MN_LLM_MODEL_DEFAULT "gpt-4o-mini"

#define MN_LLM_URL_MAX	      2048
#define MN_LLM_MODEL_MAX      256
#define MN_LLM_CREDENTIAL_MAX 64

/*
 * Where and how to send completions. Plain data (copy it, keep it in a
 * kind's closure). It never holds a secret: the API key is a credential of
 * the runtime (mn_credential_set), named here. Everything in it may be
 * printed.
 */
typedef struct mn_llm_config {
	/* The full chat-completions URL, e.g.
	 * "https://api.openai.com/v1/chat/completions". */
	char url[MN_LLM_URL_MAX];
	/* The model of requests that do not name one (mn_llm_request_model);
	 * "" : none (the "model" key is then omitted). */
	char model[MN_LLM_MODEL_MAX];
	/* The credential whose header the I/O thread adds ("" : none, for a
	 * local endpoint without authentication). */
	char credential[MN_LLM_CREDENTIAL_MAX];
	uint32_t timeout_ms;   /* each attempt */
	uint32_t max_attempts; /* 1: no retry */
	uint32_t backoff_ms;   /* first retry's base delay (doubled, jitter) */
	/* Body bytes; a larger body is an MN_ETOOBIG reply. The reply is a
	 * message: the runtime's mn_runtime_opts.max_payload must hold the
	 * body plus its envelope (headers, about 1 KiB more), so with the
	 * default (8 MiB) open the runtime with max_payload = 9 MiB, or
	 * lower this to what max_payload allows. */
	uint64_t max_response;
} mn_llm_config;

/*
 * Fill *cfg with url and model (either may be NULL: "") and the defaults
 * above; the credential is "". 0, or MN_EINVAL (cfg NULL, a string longer
 * than its field).
 */
int mn_llm_config_init(mn_llm_config *cfg, const char *url, const char *model);

/*
 * Fill *out from the environment: MNEMO_LLM_URL (default
 * MN_LLM_URL_DEFAULT), MNEMO_LLM_MODEL (default MN_LLM_MODEL_DEFAULT), the
 * defaults above, and, when MNEMO_LLM_API_KEY is set and not empty,
 * registers it with mn_credential_set(rt, "llm", "Authorization",
 * "Bearer <key>") and sets out->credential to "llm". The key is never
 * stored in *out, in the store or in a log line. 0, MN_EINVAL (a variable
 * too long, a key with a line break), or mn_credential_set()'s error
 * (MN_ENOTSUP: a runtime without a store). Call it at start, before the
 * kinds that use the config are registered.
 */
int mn_llm_config_from_env(mn_runtime *rt, mn_llm_config *out);

/* ------------------------------------------------------------------------ */
/* Requests                                                                 */
/* ------------------------------------------------------------------------ */

/* A chat-completions request being built: the model, the messages in
 * order, the tools and the sampling options. */
typedef struct mn_llm_request mn_llm_request;

/* A tool call, as a reply carries it (mn_llm_reply.tool_calls) and as an
 * assistant message of a request repeats it. */
typedef struct mn_llm_tool_call {
	char *id;	 /* "call_..." : the tool result names it */
	char *name;	 /* the function's name */
	char *arguments; /* the arguments as the model wrote them: a JSON
			    text that may be invalid; never NULL ("") */
	size_t arguments_len;
	/* 1: arguments parse (jansson) as a JSON object; 0: they do not
	 * (truncated, not JSON, not an object): tell the model, do not
	 * run the tool. */
	int arguments_valid;
} mn_llm_tool_call;

/* mn_llm_request_tool_choice() */
typedef enum mn_llm_tool_choice {
	MN_LLM_TOOL_CHOICE_AUTO = 0, /* the model decides ("auto") */
	MN_LLM_TOOL_CHOICE_NONE,     /* no tool ("none") */
	MN_LLM_TOOL_CHOICE_REQUIRED, /* at least one tool ("required") */
	MN_LLM_TOOL_CHOICE_FUNCTION  /* this function: {"type":"function",
					"function":{"name":...}} */
} mn_llm_tool_choice;

/* A new empty request into *out. 0, MN_EINVAL, MN_ENOMEM. */
int mn_llm_request_new(mn_llm_request **out);
void mn_llm_request_free(mn_llm_request *req);

/* The model (overrides mn_llm_config.model). 0, MN_EINVAL, MN_ENOMEM. */
int mn_llm_request_model(mn_llm_request *req, const char *model);

/*
 * Append a message {"role": role, "content": content}. role is "system",
 * "user" or "assistant" (any other role text is sent as given, e.g.
 * "developer"); content is len bytes of UTF-8 (the _len form; the other
 * takes a NUL-terminated string). 0, MN_EINVAL (NULL, not UTF-8),
 * MN_ENOMEM.
 */
int mn_llm_request_message(mn_llm_request *req, const char *role,
			   const char *content);
int mn_llm_request_message_len(mn_llm_request *req, const char *role,
			       const char *content, size_t len);

/*
 * Append an assistant message that made tool calls: content (may be NULL:
 * "content": null) and the n calls (id, name, arguments; arguments_len
 * and arguments_valid are not read: arguments is sent as the string it
 * is). Every id and name must be set. 0, MN_EINVAL, MN_ENOMEM.
 */
int mn_llm_request_assistant_tool_calls(mn_llm_request *req,
					const char *content,
					const mn_llm_tool_call *calls,
					size_t n);

/*
 * Append a tool's result: {"role": "tool", "tool_call_id": tool_call_id,
 * "content": content (len bytes)}. 0, MN_EINVAL, MN_ENOMEM.
 */
int mn_llm_request_tool_result(mn_llm_request *req, const char *tool_call_id,
			       const char *content, size_t len);

/* Forward declaration: the parsed reply (below). */
struct mn_llm_reply;

/*
 * Append the assistant's turn of a parsed reply (its content and its tool
 * calls), so that the next request continues the conversation. MN_EINVAL
 * for a reply with neither content nor tool calls.
 */
int mn_llm_request_add_reply(mn_llm_request *req,
			     const struct mn_llm_reply *reply);

/*
 * Offer a function tool: {"type":"function","function":{"name": name,
 * "description": description (NULL: omitted), "parameters": <the JSON
 * schema>}}. parameters_json is a JSON text of an object (a JSON schema),
 * NULL for {"type":"object","properties":{}}; it is parsed with jansson
 * and refused (MN_EINVAL) when it is not a JSON object. 0, MN_EINVAL,
 * MN_ENOMEM.
 */
int mn_llm_request_tool(mn_llm_request *req, const char *name,
			const char *description, const char *parameters_json);

/* "tool_choice": choice; function is the name for
 * MN_LLM_TOOL_CHOICE_FUNCTION (NULL otherwise). 0, MN_EINVAL, MN_ENOMEM. */
int mn_llm_request_tool_choice(mn_llm_request *req, mn_llm_tool_choice choice,
			       const char *function);

/* "temperature" (0..2). 0, MN_EINVAL (out of range, NaN). */
int mn_llm_request_temperature(mn_llm_request *req, double temperature);

/* "max_tokens" (> 0). 0, MN_EINVAL. */
int mn_llm_request_max_tokens(mn_llm_request *req, uint32_t max_tokens);

/* on: "stream": true and "stream_options": {"include_usage": true}, and
 * mn_llm_send() sets MN_CALL_STREAM; off: neither. 0, MN_EINVAL. */
int mn_llm_request_stream(mn_llm_request *req, int on);

/*
 * Any other top-level key of the request ("seed", "response_format",
 * "user", "top_p", "max_completion_tokens"...): value_json is a JSON text
 * (any JSON value), parsed with jansson; it replaces what the key held.
 * The keys the functions above manage ("model", "messages", "tools",
 * "tool_choice", "stream", "stream_options") are refused. 0, MN_EINVAL,
 * MN_ENOMEM.
 */
int mn_llm_request_set(mn_llm_request *req, const char *key,
		       const char *value_json);

/* Messages appended so far. */
size_t mn_llm_request_messages(const mn_llm_request *req);

/*
 * The request's JSON text into *json (NUL-terminated, *len bytes, free()
 * it), compact with sorted keys, so that the same request gives the same
 * bytes in every run and in replay (the canonical request hash). cfg (may
 * be NULL) gives the model when the request names none. 0, MN_EINVAL (no
 * messages), MN_ENOMEM.
 */
int mn_llm_request_json(const mn_llm_request *req, const mn_llm_config *cfg,
			char **json, size_t *len);

/*
 * Send the request from a handler: POST cfg->url with the JSON of
 * mn_llm_request_json(), "Content-Type: application/json", cfg's
 * credential, timeout, attempts, backoff and max_response, and
 * MN_CALL_STREAM when the request streams. The reply arrives as a message
 * of reply_type (flags MN_MSG_CALL): read it with mn_llm_reply_parse().
 * *call_id (may be NULL) as for mn_ctx_call_http(), whose errors it returns
 * (and MN_EINVAL for an empty cfg->url or a request without messages).
 * The request may be freed once this returns.
 */
int mn_llm_send(mn_ctx *ctx, const mn_llm_config *cfg,
		const mn_llm_request *req, uint32_t reply_type,
		uint64_t *call_id);

/* ------------------------------------------------------------------------ */
/* Replies                                                                  */
/* ------------------------------------------------------------------------ */

/* Token counts. A reply's: replies is 1 when the server reported usage, 0
 * otherwise. A sum (mn_llm_usage_add): replies counted, tokens added. Plain
 * data: an agent keeps one in its state (tokens per agent). */
typedef struct mn_llm_usage {
	uint64_t replies;
	uint64_t prompt_tokens;
	uint64_t completion_tokens;
	uint64_t total_tokens;
} mn_llm_usage;

/* What a reply is. */
typedef enum mn_llm_outcome {
	MN_LLM_OK = 0,	   /* a completion: content and/or tool calls */
	MN_LLM_TRANSPORT,  /* no response at all (transport_err, reason) */
	MN_LLM_API_ERROR,  /* an error status, or an error object in the
			      body (status, error_*) */
	MN_LLM_MALFORMED,  /* a 2xx body that is not a chat completion: not
			      JSON, no choices, a field of the wrong type */
	MN_LLM_INCOMPLETE, /* a stream cut before "data: [DONE]": what
			      arrived is in the reply */
} mn_llm_outcome;

/* The name of an outcome, e.g. "api_error"; never NULL. */
const char *mn_llm_outcome_name(int outcome);

/*
 * A parsed reply. Strings are NUL-terminated, owned by the reply (freed by
 * mn_llm_reply_free), NULL when the body had no such field. Fields a body
 * did not carry are 0 / NULL. Always free a reply the parse functions
 * filled, whatever they returned.
 */
typedef struct mn_llm_reply {
	int outcome; /* mn_llm_outcome */
	/* Readable text: what went wrong ("HTTP 429: rate_limit_exceeded:
	 * Rate limit reached...", "choices is empty", a transport error's
	 * reason); "" for MN_LLM_OK. Never NULL after a parse that did not
	 * return MN_ENOMEM. */
	char *detail;

	/* From the call's envelope (mn_llm_reply_parse only). */
	uint64_t call_id;
	int transport_err; /* mn_call_reply.err: 0 or MN_ETIMEDOUT... */
	int status;	   /* HTTP status (0: none, or parse_body) */
	uint32_t attempts;
	uint64_t latency_us;

	/* The completion (first choice). */
	char *id;    /* "chatcmpl-..." */
	char *model; /* the model that answered */
	char *content;
	size_t content_len;
	char *finish_reason; /* "stop", "length", "tool_calls"... */
	mn_llm_tool_call *tool_calls;
	size_t n_tool_calls;
	mn_llm_usage usage;
	int streamed; /* 1: the body was server-sent events */

	/* The API's error object ({"error": {...}}), for an error status
	 * or an error event in a stream. code may have been a number in
	 * the body: it is given as its text. */
	char *error_type;
	char *error_message;
	char *error_code;

	/* The wait the server asked for, in ms: its "retry-after-ms" header,
	 * else "Retry-After" in seconds (a date form is not read); 0 when
	 * none (mn_llm_reply_parse only). */
	uint64_t retry_after_ms;
} mn_llm_reply;

/*
 * Parse a reply message (flags MN_MSG_CALL): the call envelope
 * (mn_call_reply_decode), then the body (mn_llm_parse_body). Fills *out.
 * 0 for MN_LLM_OK; MN_EIO for every other outcome (out->outcome and
 * out->detail say which; what could be read is filled in); MN_EINVAL
 * (NULL, not a call reply: out->outcome MN_LLM_MALFORMED), MN_ENOMEM.
 */
int mn_llm_reply_parse(const mn_msg *msg, mn_llm_reply *out);

/*
 * Parse a response body: a chat completion (JSON) or, when it does not
 * start with '{', a stream (server-sent events, through mn_llm_stream).
 * status is the HTTP status (0: unknown, taken as 200); a status outside
 * 2xx is MN_LLM_API_ERROR, with the error object when the body has one.
 * Same returns as mn_llm_reply_parse.
 */
int mn_llm_parse_body(int status, const void *body, size_t len,
		      mn_llm_reply *out);

/* Free what a reply owns and zero it. NULL accepted. */
void mn_llm_reply_free(mn_llm_reply *reply);

/*
 * 1 when sending the same request again later may succeed: no response
 * (MN_ETIMEDOUT, MN_EIO), a stream cut before [DONE], or status 408, 409,
 * 429 (but "insufficient_quota") or 5xx; 0 otherwise (and for NULL). The
 * I/O thread has already made cfg.max_attempts attempts: a handler that
 * wants more waits (mn_ctx_after, reply->retry_after_ms when set) and
 * sends again.
 */
int mn_llm_reply_retryable(const mn_llm_reply *reply);

/* ------------------------------------------------------------------------ */
/* Streams                                                                  */
/* ------------------------------------------------------------------------ */

/*
 * An incremental parser of a streamed completion: server-sent events
 * ("data: {...}" chunks, then "data: [DONE]"), fed in pieces cut anywhere.
 * Content deltas are appended, tool-call fragments accumulated by index
 * (id and name from the first, arguments concatenated), the usage-only
 * final chunk (empty choices) read. mn_llm_parse_body() uses it for an SSE
 * body; an embedding program's on_stream observer (mn_runtime_opts) uses
 * it to show tokens as they arrive: one parser per call (keyed by the
 * chunk's actor and call_id), reset when chunk->attempt changes (a retry
 * streams again from the start).
 */
typedef struct mn_llm_stream mn_llm_stream;

/* Called by mn_llm_stream_feed for each content delta as it is parsed:
 * len bytes of text (not NUL-terminated, valid during the call). */
typedef void (*mn_llm_delta_fn)(void *arg, const char *text, size_t len);

/* A new parser into *out. 0, MN_EINVAL, MN_ENOMEM. */
int mn_llm_stream_new(mn_llm_stream **out);

/*
 * Feed len bytes of the body. on_delta (may be NULL) gets the content
 * deltas the bytes complete. 0, MN_EINVAL (NULL, a finished parser), or
 * MN_ENOMEM; a malformed event is not an error here: it is remembered and
 * finish reports it. Bytes after [DONE] are ignored. The parser holds at
 * most one event's bytes and the reply so far.
 */
int mn_llm_stream_feed(mn_llm_stream *s, const void *data, size_t len,
		       mn_llm_delta_fn on_delta, void *arg);

/*
 * End of the body: the reply into *out. An event left without its final
 * line break is parsed first (its content delta is in *out, not told to a
 * callback). The parser is then done: feeding it again
 * is MN_EINVAL until mn_llm_stream_reset(). Returns as mn_llm_parse_body:
 * 0 (MN_LLM_OK: [DONE] seen, no error), MN_EIO with MN_LLM_INCOMPLETE (no
 * [DONE]: what arrived is in *out), MN_LLM_MALFORMED (an event that is not
 * a chunk object, a field of the wrong type, no choice at all),
 * MN_LLM_API_ERROR (an error event), MN_EINVAL (NULL, finished already),
 * MN_ENOMEM.
 */
int mn_llm_stream_finish(mn_llm_stream *s, mn_llm_reply *out);

/* Forget everything fed (a retry's stream starts again). */
void mn_llm_stream_reset(mn_llm_stream *s);

void mn_llm_stream_free(mn_llm_stream *s);

/* ------------------------------------------------------------------------ */
/* Usage accounting                                                         */
/* ------------------------------------------------------------------------ */

/* Add u to *sum (replies and tokens; saturating). */
void mn_llm_usage_add(mn_llm_usage *sum, const mn_llm_usage *u);

/*
 * The usage a response body reports (a chat completion or a stream whose
 * final chunk has usage), whatever its outcome, for tools that read
 * journaled replies (`mnemo stats`/`dump`). 0 and *out (replies 1), or
 * MN_EINVAL (not a chat completion, or no usage in it; *out zeroed),
 * MN_ENOMEM.
 */
int mn_llm_body_usage(const void *body, size_t len, mn_llm_usage *out);

#ifdef __cplusplus
}
#endif

#endif /* MNEMO_LLM_H */
