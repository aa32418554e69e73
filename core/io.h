/*
 * io.h - the runtime's I/O thread (core/io.c): one libuv loop hosting
 * libcurl's multi-socket interface. Workers and the writer hand it calls
 * through a lock-free queue (core/mpsc.h) and uv_async_send; only the loop
 * thread touches curl handles and libuv handles. It knows nothing of the
 * journal: the durable core (core/calls.c) decides what to issue when (after
 * the commit that stored the intent) and what a completion becomes (a
 * message to the calling actor).
 *
 * What it does for each call: waits in FIFO order while the global cap or
 * its host's cap of transfers in flight is reached; sends the request with
 * the Idempotency-Key header and, when the call names a credential, that
 * credential's header (filled in here, at send time: the secret is in this
 * module's memory only); stops an attempt at its timeout; retries transport
 * errors, 408, 429 and 5xx (up to max_attempts) after an exponential backoff
 * with jitter, or after Retry-After when the server sends one (capped);
 * refuses a body over max_response (the transfer stops; the result says
 * MN_ETOOBIG); hands streamed chunks to the observer; and reports exactly
 * one result per submitted call, unless the call is cancelled or the module
 * closes first.
 *
 * Threads: mn__io_submit, mn__io_cancel, mn__io_credential_set: any thread.
 * The done and chunk callbacks run on the loop thread and must not block.
 * open and close: the runtime's opening and closing thread.
 */
#ifndef MN_CORE_IO_H
#define MN_CORE_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mn__io mn__io;

/* One call. Allocated by the submitter with mn__io_req_new (one block:
 * every string and the body are copied into it); owned by the module from
 * mn__io_submit on, freed by it after done returns (or at close). */
typedef struct mn__io_req {
	/* Identity: opaque to the module except for cancel and log text. */
	uint64_t actor_id, call_id;
	void *arg; /* the submitter's, handed back with the result */

	const char *method;  /* "GET", "POST", ...; NUL-terminated */
	const char *url;     /* http:// or https:// */
	const char *headers; /* "Name: value" lines separated by '\n';
				NULL or "" for none */
	const void *body;
	size_t body_len;
	const char *idem_key;	/* sent as "Idempotency-Key: <idem_key>" */
	const char *credential; /* a registered credential's name, or NULL */
	uint32_t timeout_ms;	/* per attempt; 0 means 30,000 */
	uint32_t max_attempts;	/* 0 or 1: no retry */
	uint32_t backoff_ms;	/* first retry's base delay; 0 means 100 */
	uint64_t max_response;	/* body bytes; 0 means 16 MiB */
	bool stream;		/* hand body chunks to the observer too */
} mn__io_req;

/* A request whose strings and body are copied into one allocation (the
 * scalar fields are copied from tmpl as given). NULL when out of memory. */
mn__io_req *mn__io_req_new(const mn__io_req *tmpl);
void mn__io_req_free(mn__io_req *r);

/* The outcome of a call, valid while done runs. */
typedef struct mn__io_result {
	/* 0: a response arrived (any HTTP status, status says which, after
	 * the retries the call allowed). Otherwise no usable response:
	 * MN_ETIMEDOUT (an attempt ran past timeout_ms), MN_ETOOBIG (the body
	 * passed max_response), MN_EIO (connection refused or dropped, DNS
	 * failure, TLS or protocol error: reason says which), MN_EINVAL (a
	 * malformed URL, an unknown credential), MN_ENOMEM. */
	int err;
	long status;	     /* HTTP status of the last attempt; 0 if none */
	const char *reason;  /* readable reason when err != 0; never NULL */
	const char *headers; /* response headers of the last attempt, raw
				"Name: value\r\n" lines */
	size_t headers_len;
	const void *body; /* body of the last attempt */
	size_t body_len;
	uint32_t attempts;   /* attempts made, >= 1 */
	uint64_t latency_us; /* from submit to this result */
} mn__io_result;

typedef struct mn__io_opts {
	unsigned max_inflight; /* transfers in flight; 0 means 256 */
	unsigned max_per_host; /* per host (scheme, host, port); 0: 64 */
	/* Exactly one call per submitted request that was not cancelled,
	 * on the loop thread; the request is freed after it returns. */
	void (*done)(void *arg, mn__io_req *req, const mn__io_result *res);
	/* Streaming observer (may be NULL): each body chunk of a stream
	 * request, in order, on the loop thread; attempt counts from 1 (a
	 * retry streams again from the start). */
	void (*chunk)(void *arg, const mn__io_req *req, uint32_t attempt,
		      const void *data, size_t len);
	void *arg;
} mn__io_opts;

/* Start the loop thread. 0, MN_ENOMEM, MN_ESYS (thread, libuv or curl
 * could not start). */
int mn__io_open(const mn__io_opts *o, mn__io **out);

/* Stop the loop: transfers in flight and queued are abandoned (no done;
 * their requests are freed). NULL is a no-op. */
void mn__io_close(mn__io *io);

/* Hand a call to the loop. Takes ownership of req in every case. 0, or
 * MN_ECLOSED (closing: req freed, no done). Any thread, never blocks. */
int mn__io_submit(mn__io *io, mn__io_req *req);

/* Cancel call (actor_id, call_id) if it is queued, waiting for a retry or
 * in flight: its transfer stops and done is not called for it. A call
 * unknown to the loop (finished, never submitted) is ignored. Any thread. */
void mn__io_cancel(mn__io *io, uint64_t actor_id, uint64_t call_id);

/* Register (or replace) credential name: calls naming it get the header
 * "header: value". The bytes stay in this module's memory. 0, MN_EINVAL,
 * MN_ENOMEM. Any thread. */
int mn__io_credential_set(mn__io *io, const char *name, const char *header,
			  const char *value);

/* Wake-up for the durable timers: fn(arg) runs once on the loop thread at
 * or after due_unix_ms (wall clock, milliseconds since the epoch; a time
 * already past runs it soon). One wake-up per io: a later call replaces
 * the armed one only if its due time is earlier (an earlier wake-up is
 * never lost; fn is expected to read the next due time itself and call
 * again); once fn ran nothing is armed and any call arms. fn may call
 * mn__io_wake_at. 0, MN_EINVAL (fn NULL), MN_ECLOSED. Any thread. */
int mn__io_wake_at(mn__io *io, uint64_t due_unix_ms, void (*fn)(void *arg),
		   void *arg);

/* Counters (any thread; relaxed reads). */
typedef struct mn__io_stats {
	uint64_t submitted, completed, cancelled, retries;
	uint64_t queued;   /* waiting for a cap, or for a retry */
	uint64_t inflight; /* transfers running now */
} mn__io_stats;
void mn__io_stats_get(mn__io *io, mn__io_stats *st);

#endif
