/*
 * standin.h - the stand-in server of the tests and benchmarks: an HTTP/1.1
 * server on libmicrohttpd (JSON by jansson) listening on 127.0.0.1 at an
 * ephemeral port, with deterministic replies from a seed, a latency
 * distribution, fault injection, and counts of requests per
 * Idempotency-Key so that tests can assert exactly-once toward the outside.
 * Also built as a program (build/tests/tools/standin-server, from
 * tests/tools/standin_server.c; see docs/calls.md) for the benchmark and the
 * crash harness.
 *
 * Endpoints (any method; the request body is read and ignored unless said):
 *   /echo                 200, JSON {"method","path","body","idem","n"}:
 *                         n = requests seen so far with this Idempotency-Key
 *   /json?id=X            200, a deterministic JSON object from (seed, X)
 *   /hold?ms=N            200 after N ms (the reply held, the thread free)
 *   /status?code=C[&times=T][&retry_after=S]
 *                         the first T requests (default: all) with one
 *                         Idempotency-Key get status C (with Retry-After: S
 *                         when given), later ones 200 /echo's body
 *   /big?bytes=N          200 with an N-byte body
 *   /drop?after=N         headers promising more, N body bytes, then the
 *                         connection closes (mid-body)
 *   /stream?chunks=N&ms=M server-sent events: N "data: <i>\n\n" events, M
 *                         ms apart, then "data: [DONE]\n\n"
 *   /stream-drop?chunks=N a stream that stops after N events mid-stream
 *   /bad-chunk            a chunked body with a malformed chunk size
 *   /stall?ms=N           headers, one body byte, then N ms of silence
 *   /notjson              200, Content-Type application/json, body "{oops"
 *   /stats                200, JSON {"requests":R,"keys":{"<key>":n,...},
 *                         "faults":{"<key>":f,...}}: f of the n requests of
 *                         a key got an injected fault (keys with f > 0)
 *   /v1/chat/completions  OpenAI chat completions (POST, JSON body): a
 *                         deterministic reply from the seed and the
 *                         messages, and scripted tool calls for the last
 *                         user message, among the tools the request offers:
 *                         "refund" with "order N" (or "#N") and "$A":
 *                         request_refund {"order_id":"N","amount":A};
 *                         otherwise "order N": lookup_order {"order_id":
 *                         "N"}, then, when the text says "parcel", "ship"
 *                         or "where is", track_shipment {"order_id":"N"};
 *                         each once its result (a tool message answering
 *                         its id) is missing after that user message
 *                         (finish_reason "tool_calls"); once all are there
 *                         a final answer quoting the last tool result.
 *                         A last user message starting "Summarize" gets
 *                         "Summary: ...". usage counts words (prompt: 3
 *                         per message plus its words). "stream": true:
 *                         chat.completion.chunk events word by word
 *                         (tool-call arguments in 7-byte fragments),
 *                         cadence_ms apart (?cadence_ms=, default
 *                         opts.chat_cadence_ms), a usage chunk when
 *                         stream_options.include_usage, "data: [DONE]".
 *                         Faults, for the first `times` requests of an
 *                         Idempotency-Key (default all; every request
 *                         without one): ?fault=CODE[&retry_after=S] (an
 *                         API error object {"error":{"message","type",
 *                         "code","param"}} with that status), fault=drop
 *                         (half the body or half the events, then the
 *                         connection closes), fault=stall[&ms=N] (the
 *                         first byte or event, then N ms, default 60 s, of
 *                         silence). A body that is not a JSON object with
 *                         messages: 400 invalid_request_error.
 * The default latency (opts.latency_min_ms..latency_max_ms, uniform from
 * the seed) is added before every reply but /stats.
 */
#ifndef MN_TESTS_STANDIN_H
#define MN_TESTS_STANDIN_H

#include <stddef.h>
#include <stdint.h>

typedef struct standin standin;

typedef struct standin_opts {
	uint64_t seed;
	unsigned latency_min_ms, latency_max_ms; /* 0, 0: none */
	unsigned threads; /* libmicrohttpd worker threads; 0 means 4 */
	/* Connections held at once (MHD_OPTION_CONNECTION_LIMIT); 0: 4096 */
	unsigned max_connections;
	/* /v1/chat/completions streams: ms between events (0: none). */
	unsigned chat_cadence_ms;
} standin_opts;

/* Start on 127.0.0.1:0. 0 and *out, or -1 (reason on stderr). */
int standin_start(const standin_opts *o, standin **out);
/* The port it listens on. */
uint16_t standin_port(const standin *s);
/* "http://127.0.0.1:PORT" into buf (cap >= 32). */
void standin_base_url(const standin *s, char *buf, size_t cap);
/* Requests seen with Idempotency-Key key (0 if none), and in all. */
uint64_t standin_count(standin *s, const char *key);
uint64_t standin_requests(standin *s);
/* Requests with Idempotency-Key key answered with an injected fault. */
uint64_t standin_faults(standin *s, const char *key);
/* fn(arg, key, requests, faults) for every Idempotency-Key seen (under
 * the server's lock: fn must not call the server). */
void standin_each_key(standin *s,
		      void (*fn)(void *arg, const char *key, uint64_t n,
				 uint64_t faults),
		      void *arg);
/* Distinct Idempotency-Keys seen. */
uint64_t standin_keys(standin *s);
/* Stop and free; NULL is a no-op. */
void standin_stop(standin *s);

#endif
