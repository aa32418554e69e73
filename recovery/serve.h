/*
 * serve.h - `mnemo serve`, the host process (recovery/cmd_serve.c: options,
 * plugin, runtime, signals and drain; recovery/serve_api.c: the HTTP
 * routes on libmicrohttpd, with JSON through jansson; recovery/serve_obs.c:
 * metrics, the request log, tokens; recovery/serve_page.c: the operator
 * page, built in from recovery/page/; recovery/serve_events.c: the event
 * streams and the watcher thread; recovery/serve_history.c: the journal
 * pages; recovery/serve_upgrade.c: hot upgrades). docs/serve.md
 * documents it.
 *
 * Threads: the command's thread (start, signals, drain), libmicrohttpd's
 * thread pool (every route), and the runtime's writer, workers and ask
 * timer thread (the completions of asks and durable sends, which only
 * store a result and resume the suspended connection), the writer and the
 * I/O loop (observer notifications, which resume a suspended stream), and
 * the watcher (serve_events.c: heartbeats and deadlines of streams, and
 * clients that close a suspended connection).
 *
 * Lock order: rt_lock, then obs_mu, then the runtime's own locks (its
 * observer list, its asks), then wait_mu.
 */
#ifndef MN_RECOVERY_SERVE_H
#define MN_RECOVERY_SERVE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "include/mnemo.h"
#include "recovery/cli.h"

struct MHD_Connection;
struct MHD_Response;
struct json_t;

/* The routes, for metrics (serve_obs.c names them). */
enum mn__srv_route {
	MN__SRV_R_MESSAGES,
	MN__SRV_R_ASK,
	MN__SRV_R_ACTOR,
	MN__SRV_R_LIST,
	MN__SRV_R_HISTORY,
	MN__SRV_R_EVENTS,
	MN__SRV_R_UPGRADE, /* POST /v1/admin/upgrade (serve_upgrade.c) */
	MN__SRV_R_HEALTHZ,
	MN__SRV_R_READYZ,
	MN__SRV_R_METRICS,
	MN__SRV_R_PAGE, /* the operator page's files (serve_page.c) */
	MN__SRV_R_OTHER,
	MN__SRV_ROUTES
};

/* The status codes counted one by one (the rest as "other"). */
#define MN__SRV_CODES 17
/* Latency histogram buckets (seconds; +Inf beyond). */
#define MN__SRV_BUCKETS 12

typedef struct mn__srv_metrics {
	_Atomic uint64_t requests[MN__SRV_ROUTES][MN__SRV_CODES];
	_Atomic uint64_t bucket[MN__SRV_BUCKETS]; /* cumulative at output */
	_Atomic uint64_t count;
	_Atomic uint64_t sum_us;
	_Atomic uint64_t refused_busy;	 /* 429s */
	_Atomic uint64_t asks_cancelled; /* their client went away */
	_Atomic uint64_t stream_events;	 /* events written to streams */
	_Atomic uint64_t stream_lost;	 /* events streams lost */
} mn__srv_metrics;

typedef struct mn__srv_stream mn__srv_stream;

/* One host. */
typedef struct mn__srv {
	mn__cli *c; /* the command's streams; c->store: read-only, for
		     * metadata and listing (store_mu serialises it) */
	pthread_mutex_t store_mu;
	/* Held for reading by every route while it runs, for writing by the
	 * close (rt and the store then NULL: routes answer 503). */
	pthread_rwlock_t rt_lock;
	mn_runtime *rt;
	struct MHD_Daemon *d;
	size_t max_payload;
	size_t max_body;
	unsigned max_inflight; /* requests being handled */
	unsigned max_asks;     /* asks and stored sends waiting */
	unsigned max_streams;  /* event streams open */
	uint32_t view_ms;      /* mn_actor_view's timeout */
	/* Tokens: each NUL-terminated, ntokens of them. */
	char **tokens;
	size_t *token_len;
	size_t ntokens;
	_Atomic int draining;
	_Atomic unsigned inflight;
	_Atomic unsigned waiting; /* suspended connections */
	_Atomic unsigned streams; /* event streams open */
	/* The suspended requests (serve_api.c), for the drain, and the
	 * event streams (serve_events.c); the watch ids. */
	pthread_mutex_t wait_mu;
	struct mn__srv_req *wait_head;
	mn__srv_stream *stream_head;
	uint64_t next_wid;
	/* The watcher (serve_events.c): an epoll set of the sockets of
	 * suspended asks and streams, and an eventfd to wake it. */
	int watch_ep, watch_ev;
	/* The streams' observers (serve_events.c): read and closed under
	 * obs_mu, never once obs_gone (the runtime's close frees them). */
	pthread_mutex_t obs_mu;
	bool obs_gone;
	pthread_t watch_thread;
	bool watch_running;
	_Atomic int watch_stop;
	pthread_mutex_t log_mu;
	mn__srv_metrics m;
	/* Hot upgrades (serve_upgrade.c): one at a time under upgrade_mu;
	 * the plugins loaded so far stay loaded until exit (a kind an
	 * upgrade left alone still runs the code of an older one). */
	pthread_mutex_t upgrade_mu;
	const char *plugin;    /* --plugin: what SIGUSR2 loads again */
	char plugin_dir[4096]; /* the directory an upgrade may load from */
	void **dls;
	size_t ndls, cap_dls;
	_Atomic uint64_t upgrades_done, upgrades_refused;
} mn__srv;

/* ---- serve_api.c --------------------------------------------------------- */

/* Start libmicrohttpd on addr:port (network order inside sa) with threads
 * threads. Returns 0 or -1 (said on c->err). *port: the bound port. */
int mn__srv_start(mn__srv *s, const void *sa, size_t sa_len, unsigned threads,
		  unsigned conn_limit, uint16_t *port);

/* The drain's end: answer every request still suspended with 503 and
 * cancel its ask (done never runs). */
void mn__srv_release_waiting(mn__srv *s);

/* Stop libmicrohttpd (every connection closed). */
void mn__srv_stop(mn__srv *s);

/* ---- serve_page.c -------------------------------------------------------- */

/* One file of the operator page: its URL path, Content-Type, ETag (quoted)
 * and bytes. The table is generated at build time by scripts/embed-page
 * from recovery/page/ (build/gen/serve_page_data.c). */
typedef struct mn__srv_asset {
	const char *path, *type, *etag;
	const unsigned char *data;
	size_t len;
} mn__srv_asset;

extern const mn__srv_asset mn__srv_assets[];
extern const size_t mn__srv_nassets;

/* The file of the page at path ("/index.html" is "/"), or NULL. */
const mn__srv_asset *mn__srv_page_find(const char *path);

/* Whether an If-None-Match header's value (or NULL) names etag (or is
 * "*"): then the answer is 304. */
bool mn__srv_etag_match(const char *if_none_match, const char *etag);

/* The response of a (the page's headers: Content-Type, the
 * Content-Security-Policy, nosniff, ETag, Cache-Control); with
 * not_modified, a 304 without a body. NULL when out of memory. The bytes
 * are static: the response does not copy them. */
struct MHD_Response *mn__srv_page_response(const mn__srv_asset *a,
					   bool not_modified);

/* ---- serve_upgrade.c ----------------------------------------------------- */

/* What an upgrade is asked to do. */
typedef struct mn__srv_upgrade_req {
	const char *plugin;	   /* NULL: s->plugin again */
	uint64_t sample;	   /* actors of each kind mnemo check replays */
	const char *const *expect; /* kinds meant to diverge */
	size_t nexpect;
	uint32_t timeout_ms; /* mn_kind_upgrade's, per kind */
} mn__srv_upgrade_req;

/*
 * Load the plugin (a fresh copy, so a file replaced in place is read
 * again), check each of its kinds the runtime runs with `mnemo check
 * --kind K --sample N` on the store, and when every check passes swap
 * their code (mn_kind_upgrade) and register its new kinds. *report: a
 * JSON object saying what happened to each kind; *status the HTTP status
 * (200 done, 400 a bad plugin or path, 409 a check failed: nothing
 * changed, 500 a swap failed, 503 another upgrade runs). Returns 0 when
 * the upgrade was done. Any thread but a worker; it blocks for the checks
 * and the swaps. rt_lock held for reading.
 */
struct json_t;
int mn__srv_upgrade(mn__srv *s, const mn__srv_upgrade_req *u,
		    struct json_t **report, unsigned *status);

/* Unload every plugin (after the runtime is closed). */
void mn__srv_plugins_free(mn__srv *s);

/* The watcher saw the client of watch id wid close its connection: an ask
 * waiting for it is cancelled (mn_ask_cancel) and answered at once; a
 * stream ends. rt_lock is held for reading. */
void mn__srv_client_gone(mn__srv *s, uint64_t wid);

/* {"type": T, "payload_base64": "...", "json": ...}: json when the bytes
 * are valid UTF-8 JSON (a jansson object). */
struct json_t *mn__srv_message_json(uint32_t type, const void *p, size_t len);

/* ---- serve_events.c ------------------------------------------------------ */

/* Start and stop the watcher thread. Start: 0 or -1 (said on c->err). */
int mn__srv_watch_start(mn__srv *s);
void mn__srv_watch_stop(mn__srv *s);

/* Watch fd (a suspended connection's socket) for its client closing it,
 * as watch id wid; unwatch it before the connection resumes (wait_mu
 * held for both). Best effort: a failure only means it is not watched. */
void mn__srv_watch_add(mn__srv *s, int fd, uint64_t wid);
void mn__srv_watch_del(mn__srv *s, int fd);

/* A new event stream of actor (kind, key) on conn: *resp, the response to
 * queue (text/event-stream, its content read as events come), or an
 * error (MN_ENOMEM, the errors of mn_observe). ping_ms: heartbeat period;
 * timeout_ms: the stream's duration; max_events: the observer's bound. */
int mn__srv_stream_open(mn__srv *s, struct MHD_Connection *conn,
			const mn_kind *kind, const void *key, size_t key_len,
			uint64_t timeout_ms, uint64_t ping_ms,
			uint64_t max_events, struct MHD_Response **resp);

/* End every stream (the drain): each writes an "end" event and closes. */
void mn__srv_streams_end(mn__srv *s);

/* Before mn_runtime_close: the streams' observers are no longer read or
 * closed (the close frees them); a stream still open ends. */
void mn__srv_streams_detach(mn__srv *s);

/* The watcher's part of mn__srv_client_gone: end the stream of watch id
 * wid. Returns whether there was one (wait_mu held). */
bool mn__srv_stream_gone(mn__srv *s, uint64_t wid);

/* ---- serve_history.c ----------------------------------------------------- */

/* One page of actor (kind name kname, key)'s journal from seq from, at most
 * limit entries: *out {"entries":[...],"next":SEQ or null}. Returns 0,
 * MN_ENOACTOR, MN_ENOMEM or a store error. Takes store_mu. */
int mn__srv_history(mn__srv *s, const char *kname, const void *key,
		    size_t key_len, uint64_t from, uint64_t limit,
		    struct json_t **out);

/* ---- serve_obs.c --------------------------------------------------------- */

/* Count one finished request and log it (one JSON line on c->err). */
void mn__srv_record(mn__srv *s, enum mn__srv_route r, const char *method,
		    const char *path, unsigned status, uint64_t dur_us);

/* One free-form JSON log line: {"level":..,"msg":..} plus an optional
 * error name. */
void mn__srv_log(mn__srv *s, const char *level, const char *msg,
		 const char *err);

/* The Prometheus text of the host and its runtime, malloc'd (*len bytes);
 * NULL when out of memory. */
char *mn__srv_metrics_text(mn__srv *s, size_t *len);

/* Whether auth (an Authorization header's value, or NULL) carries one of
 * the tokens: "Bearer " then the token, compared in constant time. */
bool mn__srv_auth_ok(const mn__srv *s, const char *auth);

/* Read tokens from path (one a line; blank lines and lines starting with
 * '#' skipped) or, when path is NULL, from the environment
 * MNEMO_SERVE_TOKENS (separated by commas, spaces or newlines). Returns 0
 * or -1 (said on c->err). */
int mn__srv_tokens_load(mn__srv *s, const char *path);
void mn__srv_tokens_free(mn__srv *s);

/* Base64 (RFC 4648, with padding). encode: malloc'd NUL-terminated text
 * (NULL when out of memory). decode: 0 and a malloc'd *out of *len bytes
 * (never NULL on success), MN_EINVAL for bad text, MN_ENOMEM. */
char *mn__b64_encode(const void *p, size_t len);
int mn__b64_decode(const char *s, size_t slen, unsigned char **out,
		   size_t *len);

#endif /* MN_RECOVERY_SERVE_H */
