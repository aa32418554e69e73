/*
 * serve.h - `mnemo serve`, the host process (recovery/cmd_serve.c: options,
 * plugin, runtime, signals and drain; recovery/serve_api.c: the HTTP
 * routes on libmicrohttpd, with JSON through jansson; recovery/serve_obs.c:
 * metrics and the request log; recovery/serve_tokens.c: tokens and their
 * scopes; recovery/serve_config.c: the options; recovery/serve_page.c: the
 * operator page, built in from recovery/page/; recovery/serve_events.c:
 * the event streams and the watcher thread; recovery/serve_history.c: the
 * journal pages; recovery/serve_upgrade.c: hot upgrades). docs/serve.md
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
#define MN__SRV_CODES 18
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

/* One bearer token and what it may do (serve_tokens.c). */
typedef struct mn__srv_token {
	char *token; /* NUL-terminated, len bytes; wiped at free */
	size_t len;
	char **kinds; /* the kinds it may use; NULL: every kind */
	size_t nkinds;
	bool read_only; /* no POST */
} mn__srv_token;

struct mn__srv_conf;

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
	mn__srv_token *tokens;
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
	/* The log: c->err, or log (opened from log_path; reopened on
	 * SIGHUP). Both under log_mu. */
	pthread_mutex_t log_mu;
	FILE *log;
	const char *log_path;
	/* TLS: the PEM texts of the certificate and its key (NULL: plain
	 * HTTP). */
	char *tls_cert, *tls_key;
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

/* Start libmicrohttpd on sa (a sockaddr_in or sockaddr_in6, sa_len bytes)
 * with threads threads, over TLS when s->tls_cert is set. Returns 0 or -1
 * (said on c->err). *port: the bound port. */
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

/* (Re)open the log file s->log_path (appended to) and make it the log,
 * closing the one before: for SIGHUP after a rotation. Returns 0, or -1
 * when it cannot be opened (said on the log in use, which stays). */
int mn__srv_log_reopen(mn__srv *s);

/* The Prometheus text of the host and its runtime, malloc'd (*len bytes);
 * NULL when out of memory. */
char *mn__srv_metrics_text(mn__srv *s, size_t *len);

/* ---- serve_tokens.c ------------------------------------------------------ */

/* The token auth (an Authorization header's value, or NULL) carries:
 * "Bearer " then the token, compared in constant time for a given length,
 * every token tried. NULL when none matches. */
const mn__srv_token *mn__srv_auth(const mn__srv *s, const char *auth);

/* Whether auth carries one of the tokens (any scope). */
bool mn__srv_auth_ok(const mn__srv *s, const char *auth);

/* Whether token t may use kind (its allow-list, or every kind). */
bool mn__srv_token_kind_ok(const mn__srv_token *t, const char *kind);

/* The tokens of the options o (serve_config.h): the token file, the
 * config's "tokens" array or MNEMO_SERVE_TOKENS, whichever was given with
 * the highest precedence (both when given at the same level). A token
 * file has one token a line (blank lines and lines starting with '#'
 * skipped), "TOKEN [kinds=K1,K2] [ro]"; MNEMO_SERVE_TOKENS has such
 * entries separated by ';' or newlines, and an entry without a scope word
 * is a list of plain tokens separated by commas or blanks. Returns 0 or -1
 * (said on c->err, never with a token in it). */
int mn__srv_tokens_load(mn__srv *s, const struct mn__srv_conf *o);

/* One token line ("TOKEN [kinds=K1,K2] [ro]", len bytes, no newline) into
 * *t (its strings malloc'd; free with mn__srv_token_free). Returns 0, 1
 * for a blank or comment line (nothing made), or -1 with *why (a static
 * text that never quotes the line). */
int mn__srv_token_parse(const char *line, size_t len, mn__srv_token *t,
			const char **why);
void mn__srv_token_free(mn__srv_token *t);

void mn__srv_tokens_free(mn__srv *s);

/* ---- serve_decode.c: what a request's bytes decode to (no I/O, no
 * state: the fuzz target fuzz/fuzz_serve.c runs it) ------------------------ */

/* A message body: {"type": N, "payload": "<base64>"}, {"type": N, "json":
 * VALUE} (the compact text of VALUE) or {"type": N}, len bytes (not
 * NUL-terminated). Returns 0 with *type and a malloc'd *p of *plen bytes
 * (NULL when empty; the caller frees), or an HTTP status (400: not JSON,
 * not an object, a bad type or payload; 413: a payload over max_payload;
 * 500: out of memory) with *code the MN_E* code and *why a static text. */
unsigned mn__srv_decode_message(const void *body, size_t len,
				size_t max_payload, uint32_t *type,
				unsigned char **p, size_t *plen, int *code,
				const char **why);

/* A decimal query value: NULL or "" is dflt. Returns 0 or -1 (not only
 * digits, or over UINT64_MAX). */
int mn__srv_decode_u64(const char *text, uint64_t dflt, uint64_t *v);

/* Base64 (RFC 4648, with padding). encode: malloc'd NUL-terminated text
 * (NULL when out of memory). decode: 0 and a malloc'd *out of *len bytes
 * (never NULL on success), MN_EINVAL for bad text, MN_ENOMEM. */
char *mn__b64_encode(const void *p, size_t len);
int mn__b64_decode(const char *s, size_t slen, unsigned char **out,
		   size_t *len);

#endif /* MN_RECOVERY_SERVE_H */
