/*
 * io_int.h - the inside of the I/O thread (core/io.h), shared by its three
 * files: io.c (the thread, the submission queue, cancel, credentials,
 * wake_at, close), io_queue.c (the waiting calls: caps, per-host FIFOs,
 * retry waits, the call table) and io_curl.c (libcurl's multi-socket
 * interface on the libuv loop: one attempt of a call, its end, the retry
 * decision).
 *
 * Threads: the fields under "any thread" are atomics or behind their mutex;
 * everything else belongs to the loop thread (IO1), which is the only one
 * to touch curl and libuv handles.
 *
 * Invariants (labels unique in the project):
 *  IO1  Only the loop thread touches curl handles, libuv handles (but
 *       uv_async_send) and the loop-side tables; other threads reach the
 *       loop through the submission queue (mpsc.h, detaching) and
 *       uv_async_send. Violation: a data race inside curl or libuv.
 *  IO2  A call is in exactly one place: the submission queue (IO_NEW), its
 *       host's FIFO (IO_QUEUED), in flight (IO_INFLIGHT: it holds one slot
 *       of the global cap and one of its host's), or the retry heap
 *       (IO_RETRY: no slot). Every call the loop took is in the call table
 *       until it ends. Violation: a cap exceeded, a call lost or freed twice.
 *  IO3  Per host, calls start in arrival order: a new call goes to the tail
 *       of its host's FIFO; a retry whose wait ended goes back in front of
 *       every call that arrived after it (its seq), and the eligible-host
 *       heap always starts the host whose head arrived first. Violation: a
 *       later call overtaking an earlier one to the same host.
 *  IO4  A descriptor curl opened (our opensocket callback) is closed only in
 *       the uv_close callback of its poll handle: CURL_POLL_REMOVE merely
 *       stops the poll; curl's closesocket callback starts the uv_close.
 *       Violation: epoll watching a closed (or reused) descriptor.
 *  IO5  curl_multi_socket_action runs only from a poll callback or the curl
 *       timer's callback, never from inside a curl callback (the timer
 *       function only arms the uv_timer). Violation: re-entering curl.
 *  IO6  Producers enter (entering++), check closing, push, uv_async_send,
 *       leave. Close sets closing, waits for entering == 0, then tells the
 *       loop to stop: no uv_async_send after the async handle is closed and
 *       no node pushed after the loop's last drain. Violation: a use after
 *       free of the loop, a request leaked at close.
 */
#ifndef MN_CORE_IO_INT_H
#define MN_CORE_IO_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include <curl/curl.h>
#include <uv.h>

#include "include/mnemo.h"
#include "core/io.h"
#include "core/mpsc.h"

/* What a node of the submission queue is. */
enum io_msg_kind { IO_MSG_CALL = 1, IO_MSG_CANCEL, IO_MSG_WAKE };

typedef struct io_msg {
	mn__mpsc_node node; /* first */
	uint8_t kind;
} io_msg;

enum io_state { IO_NEW = 0, IO_QUEUED, IO_INFLIGHT, IO_RETRY };

#define IO_NOHEAP UINT32_MAX

typedef struct io_host io_host;
typedef struct io_xfer io_xfer;

/* A call: the module's wrapper around the request, one allocation with the
 * request's strings and body behind it (mn__io_req_new). A queued call
 * costs this block and nothing else. */
typedef struct io_call {
	io_msg msg; /* IO_MSG_CALL; first */
	uint8_t state;
	uint32_t attempt;	     /* attempts started */
	uint32_t heap_idx;	     /* in the retry heap (IO_RETRY) */
	struct io_call *tnext;	     /* call table chain */
	struct io_call *prev, *next; /* host FIFO (IO_QUEUED) */
	io_host *host;
	io_xfer *xfer;	      /* IO_INFLIGHT */
	uint64_t seq;	      /* arrival order on the loop (IO3) */
	uint64_t t_submit_ns; /* mn__io_submit's monotonic clock */
	uint64_t due_ms;      /* IO_RETRY: loop time of the next attempt */
	uint64_t rng;	      /* jitter state, seeded from the call's ids */
	mn__io_req req;
} io_call;

static inline io_call *io_call_of(const mn__io_req *r)
{
	return (io_call *)((char *)r - offsetof(io_call, req));
}

/* A host: scheme://host:port as curl's URL parser reports it. */
struct io_host {
	io_host *tnext;	      /* host table chain */
	io_call *head, *tail; /* waiting calls (IO3) */
	unsigned inflight;    /* slots held (IO2) */
	uint32_t heap_idx;    /* in the eligible heap, or IO_NOHEAP */
	size_t users;	      /* calls pointing here */
	uint64_t hash;
	char key[];
};

/* One attempt in flight: the easy handle, the request headers, the response
 * being received. Freed when the attempt ends (after done, if last). */
struct io_xfer {
	io_call *call;
	mn__io *io;
	CURL *easy;
	struct curl_slist *hdrs;
	char *cred_line; /* "Header: value", wiped before free */
	char *body;
	size_t body_len, body_cap;
	char *rhdr;
	size_t rhdr_len, rhdr_cap;
	uint64_t max_response;
	bool too_big, hdr_too_big, nomem;
	char errbuf[CURL_ERROR_SIZE];
};

/* A socket curl watches: a poll handle, and whether we own the descriptor
 * (opened by our opensocket callback: IO4) or curl does (e.g. the threaded
 * resolver's wake-up pipe, closed by curl right after its REMOVE). */
typedef struct io_sock {
	uv_poll_t poll;
	curl_socket_t fd;
	bool owned;
	bool started;
} io_sock;

/* A min-heap of pointers keyed by a 64-bit number; each owner keeps its
 * index (for removal) in *idx. */
typedef struct io_hent {
	uint64_t key;
	void *p;
	uint32_t *idx;
} io_hent;

typedef struct io_heap {
	io_hent *a;
	size_t n, cap;
} io_heap;

typedef struct io_cred {
	struct io_cred *next;
	char *name;
	char *line; /* "Header: value" */
} io_cred;

struct mn__io {
	/* ---- any thread ---- */
	mn__mpsc q;
	uv_async_t async; /* uv_async_send only, off the loop */
	_Atomic int closing;
	_Atomic unsigned entering; /* producers between enter and leave: IO6 */
	_Atomic int stop;
	_Atomic uint64_t submitted, completed, cancelled, retries;
	_Atomic uint64_t queued, inflight;

	pthread_mutex_t cred_mu;
	io_cred *creds;

	pthread_mutex_t wake_mu;
	bool wake_queued; /* wake_msg is in the queue */
	uint64_t wake_due;
	void (*wake_fn)(void *);
	void *wake_arg;
	io_msg wake_msg;

	/* ---- the loop thread ---- */
	mn__io_opts o;
	pthread_t thread;
	uv_loop_t loop;
	uv_timer_t curl_timer, retry_timer, wake_timer;
	CURLM *multi;
	bool stopping;

	uint64_t seq;	 /* arrival counter (IO3) */
	unsigned active; /* slots held, all hosts */

	io_call **calls; /* call table: (actor_id, call_id) */
	size_t ncalls, calls_cap;
	io_host **hosts; /* host table: key */
	size_t nhosts, hosts_cap;
	io_heap eligible; /* hosts with a waiting call and a free slot */
	io_heap retry;	  /* calls waiting for a retry, by due_ms */

	io_sock **socks;	    /* owned sockets by descriptor (IO4) */
	size_t socks_cap, socks_hi; /* slots below socks_hi are set */

	CURL **easy_pool; /* reset easy handles for reuse */
	size_t npool, pool_cap;

	/* The host of the last URL seen (one reference held), so that a run
	 * of calls to one URL is parsed once. */
	char *last_url;
	io_host *last_host;

	bool wake_armed;
	uint64_t wake_armed_due;
	void (*wake_armed_fn)(void *);
	void *wake_armed_arg;

	/* tests only (mn__io_set_attempt_hook) */
	void (*hook)(void *arg, const mn__io_req *req, uint32_t attempt,
		     unsigned host_inflight, unsigned inflight);
	void *hook_arg;
};

/* ---- io.c ---- */

/* End call c: done (unless cancelled), out of the tables, freed. The
 * result's reason is a static or the attempt's buffer. Loop thread. */
void mn__io_finish(mn__io *io, io_call *c, mn__io_result *res);
/* End call c with err and reason, no response. Loop thread. */
void mn__io_fail(mn__io *io, io_call *c, int err, const char *reason);
/* A copy of credential name's "Header: value" line (the caller wipes and
 * frees it): 0, MN_EINVAL (unknown name), MN_ENOMEM. Loop thread. */
int mn__io_cred_line(mn__io *io, const char *name, char **line);

/* ---- io_queue.c ---- */

int mn__io_heap_push(io_heap *h, uint64_t key, void *p, uint32_t *idx);
void mn__io_heap_del(io_heap *h, uint32_t i);
void mn__io_heap_free(io_heap *h);

int mn__io_calls_add(mn__io *io, io_call *c);
void mn__io_calls_del(mn__io *io, io_call *c);
/* Call fn on every call with these ids (fn may end the call). */
void mn__io_calls_each(mn__io *io, uint64_t actor_id, uint64_t call_id,
		       void (*fn)(mn__io *, io_call *));

/* The host of url (created when new; users counted), or MN_EINVAL (not an
 * http(s) URL curl can parse) or MN_ENOMEM. */
int mn__io_host_get(mn__io *io, const char *url, io_host **out);
void mn__io_host_put(mn__io *io, io_host *h);
void mn__io_hosts_free(mn__io *io);

/* A new call waits at its host's tail; a retried one in front (IO3). */
int mn__io_enqueue(mn__io *io, io_call *c);
int mn__io_requeue(mn__io *io, io_call *c);
/* Take c out of its host's FIFO (cancel). */
void mn__io_unqueue(mn__io *io, io_call *c);
/* The slot c held is free (its attempt ended). */
void mn__io_slot_free(mn__io *io, io_call *c);
/* Start waiting calls while the caps allow. */
void mn__io_pump(mn__io *io);

/* Retry waits: one uv_timer over a heap by due time. */
int mn__io_retry_add(mn__io *io, io_call *c, uint64_t wait_ms);
void mn__io_retry_del(mn__io *io, io_call *c);
void mn__io_retry_timer_cb(uv_timer_t *t);

/* ---- io_curl.c ---- */

int mn__io_curl_open(mn__io *io);
/* Abandon every transfer, clean up the multi handle (its connections'
 * sockets are closed through IO4) and the easy pool. */
void mn__io_curl_close(mn__io *io);
/* Start an attempt of c: it takes a slot, or ends the call (an unknown
 * credential, out of memory). */
void mn__io_attempt_start(mn__io *io, io_call *c);
/* Stop c's attempt in flight without an end (cancel, close). */
void mn__io_attempt_abort(mn__io *io, io_call *c);

/* ---- tests only ---- */

/* fn runs on the loop thread at the start of every attempt, after the
 * slot is taken, with the slots its host and all hosts hold. Set before
 * the first submit. */
void mn__io_set_attempt_hook(mn__io *io,
			     void (*fn)(void *arg, const mn__io_req *req,
					uint32_t attempt,
					unsigned host_inflight,
					unsigned inflight),
			     void *arg);

#endif
