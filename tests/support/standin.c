/*
 * standin.c - the stand-in server (standin.h): libmicrohttpd with a pool of
 * polling threads (epoll), JSON bodies by jansson, a table of counts per
 * Idempotency-Key, and one timer thread of its own.
 *
 * No handler ever sleeps. Whatever must wait (the latency before a reply,
 * /hold, the pauses of /stream and /stall) suspends its connection
 * (MHD_suspend_connection, from the access handler or the content reader,
 * the only places libmicrohttpd allows it) and puts it on a min-heap of due
 * times; the timer thread resumes it when due, and libmicrohttpd calls the
 * handler or the reader again. A held connection costs its socket and its
 * request record, not a thread.
 *
 * Protocol of the heap (all under s->lock):
 *   SI1  A connection is suspended before it is put on the heap, and taken
 *        off the heap before it is resumed: libmicrohttpd's resume of a
 *        connection that is not suspended is undefined, and a suspended
 *        connection cannot complete, so its request record lives while it is
 *        on the heap. Violation: a resume of a running connection, or of a
 *        freed one.
 *   SI2  Once s->stopping is set nothing is suspended any more and the heap
 *        is emptied by resuming everything on it: libmicrohttpd refuses to
 *        stop with connections suspended. Violation: a panic or a leak in
 *        MHD_stop_daemon.
 * Lock order: s->lock, then libmicrohttpd's own locks (suspend and resume
 * take them); no libmicrohttpd callback is entered with s->lock held.
 */
#include "tests/support/standin.h"

#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <jansson.h>
#include <microhttpd.h>

/* An /echo body beyond this is refused with 413. */
#define STANDIN_BODY_MAX (8u << 20)
/* A /big body beyond this is refused with 400. */
#define STANDIN_BIG_MAX (1ull << 30)
/* Seconds a connection may be idle (held replies are suspended and do not
 * count): long enough for any benchmark's pauses. */
#define STANDIN_IDLE_TIMEOUT_S 600u
#define STANDIN_BACKLOG	       8192u
/* The longest pause (a day): /hold?ms= and the like are clamped to it. */
#define STANDIN_PAUSE_MAX_MS (86400ull * 1000)

typedef struct key_slot {
	char *key; /* NULL: empty */
	uint64_t n;
	uint64_t faults; /* of those, answered with an injected fault */
} key_slot;

typedef struct due {
	uint64_t at_ns;
	struct MHD_Connection *conn;
} due;

struct standin {
	struct MHD_Daemon *d;
	standin_opts o;
	uint16_t port;

	pthread_mutex_t lock;
	pthread_cond_t wake; /* the timer thread: heap changed or stopping */
	/* Under lock: */
	bool stopping;
	due *heap;
	size_t heap_len, heap_cap;
	key_slot *keys;
	size_t keys_cap, keys_len;
	uint64_t requests;

	pthread_t timer;
	bool timer_started;
	/* libmicrohttpd's messages are printed while it starts; after, only
	 * those about the connection limit and accept (the others would be
	 * the faults injected on purpose, and clients that give up). */
	atomic_bool started;
};

enum endpoint {
	EP_ECHO,
	EP_JSON,
	EP_HOLD,
	EP_STATUS,
	EP_BIG,
	EP_DROP,
	EP_STREAM,
	EP_STREAM_DROP,
	EP_BAD_CHUNK,
	EP_STALL,
	EP_NOTJSON,
	EP_STATS,
	EP_CHAT,
	EP_NOT_FOUND,
};

static const struct {
	const char *path;
	enum endpoint ep;
} endpoints[] = {
    {"/echo", EP_ECHO},
    {"/json", EP_JSON},
    {"/hold", EP_HOLD},
    {"/status", EP_STATUS},
    {"/big", EP_BIG},
    {"/drop", EP_DROP},
    {"/stream", EP_STREAM},
    {"/stream-drop", EP_STREAM_DROP},
    {"/bad-chunk", EP_BAD_CHUNK},
    {"/stall", EP_STALL},
    {"/notjson", EP_NOTJSON},
    {"/stats", EP_STATS},
    {"/v1/chat/completions", EP_CHAT},
};

/* An injected fault of /v1/chat/completions (?fault=...). */
enum chat_fault {
	CF_NONE,
	CF_STATUS, /* fault=<code>: that status and an API error object */
	CF_DROP,   /* fault=drop: the body cut half-way, connection closed */
	CF_STALL, /* fault=stall: one byte, then ms (default 60 s) of silence */
};

/* One request, from its first call of the access handler to the
 * completion callback (which frees it). */
typedef struct req {
	standin *s;
	struct MHD_Connection *conn;
	enum endpoint ep;
	char *idem;   /* the Idempotency-Key, or NULL */
	uint64_t n;   /* requests seen with idem, this one included */
	uint64_t seq; /* this request's number among all */
	char *body;   /* the request body (/echo, /status) */
	size_t len, cap;
	bool too_big; /* the body passed STANDIN_BODY_MAX */
	bool waited;  /* the delay before the reply is over */
	/* Content readers: */
	uint64_t a, b;	 /* the endpoint's numbers (ms, chunks, bytes) */
	uint64_t events; /* /stream: events produced */
	bool paused;	 /* a reader's pause is over */
	char ev[48];	 /* the event being sent, and how much is left */
	size_t ev_len, ev_off;
	bool done_sent;
	/* /v1/chat/completions: the fault this request gets, and the reply
	 * as segments sent gap_ms apart (the events of a stream; a stall's
	 * two halves), ending cut (with an error) or not. */
	enum chat_fault fault;
	char **segs;
	size_t n_segs, seg_i, seg_off;
	uint64_t gap_ms;
	bool cut;
} req;

/* ---- numbers -------------------------------------------------------- */

static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint64_t hash_str(const char *p)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
	for (; *p; p++)
		h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
	return h;
}

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/* The query argument name as a number, or dflt when absent or not one. */
static uint64_t arg_u64(struct MHD_Connection *c, const char *name,
			uint64_t dflt)
{
	const char *v =
	    MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
	if (!v || !*v)
		return dflt;
	char *end;
	errno = 0;
	unsigned long long x = strtoull(v, &end, 10);
	if (errno || *end || v[0] == '-')
		return dflt;
	return x;
}

/* ---- counts per Idempotency-Key (under s->lock) --------------------- */

static int keys_grow(standin *s)
{
	size_t cap = s->keys_cap ? s->keys_cap * 2 : 1024;
	key_slot *t = calloc(cap, sizeof *t);
	if (!t)
		return -1;
	for (size_t i = 0; i < s->keys_cap; i++) {
		if (!s->keys[i].key)
			continue;
		size_t j = hash_str(s->keys[i].key) & (cap - 1);
		while (t[j].key)
			j = (j + 1) & (cap - 1);
		t[j] = s->keys[i];
	}
	free(s->keys);
	s->keys = t;
	s->keys_cap = cap;
	return 0;
}

/* The slot of key; with add, made when missing (NULL when out of memory);
 * without, NULL when missing. */
static key_slot *keys_find(standin *s, const char *key, bool add)
{
	if (add && (s->keys_len + 1) * 10 > s->keys_cap * 7 &&
	    keys_grow(s) != 0)
		return NULL;
	if (!s->keys_cap)
		return NULL;
	size_t j = hash_str(key) & (s->keys_cap - 1);
	for (; s->keys[j].key; j = (j + 1) & (s->keys_cap - 1))
		if (strcmp(s->keys[j].key, key) == 0)
			return &s->keys[j];
	if (!add)
		return NULL;
	char *copy = strdup(key);
	if (!copy)
		return NULL;
	s->keys[j].key = copy;
	s->keys[j].n = 0;
	s->keys[j].faults = 0;
	s->keys_len++;
	return &s->keys[j];
}

/* ---- the heap of due connections (under s->lock) -------------------- */

static void heap_swap(due *h, size_t i, size_t j)
{
	due t = h[i];
	h[i] = h[j];
	h[j] = t;
}

/* Room for one more entry on the heap: 0, or -1 when out of memory. */
static int heap_reserve(standin *s)
{
	if (s->heap_len < s->heap_cap)
		return 0;
	size_t cap = s->heap_cap ? s->heap_cap * 2 : 256;
	due *h = realloc(s->heap, cap * sizeof *h);
	if (!h)
		return -1;
	s->heap = h;
	s->heap_cap = cap;
	return 0;
}

/* Cannot fail: heap_reserve made the room. */
static void heap_push(standin *s, due e)
{
	size_t i = s->heap_len++;
	s->heap[i] = e;
	while (i > 0 && s->heap[(i - 1) / 2].at_ns > s->heap[i].at_ns) {
		heap_swap(s->heap, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static due heap_pop(standin *s)
{
	due top = s->heap[0];
	s->heap[0] = s->heap[--s->heap_len];
	size_t i = 0;
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < s->heap_len && s->heap[l].at_ns < s->heap[m].at_ns)
			m = l;
		if (r < s->heap_len && s->heap[r].at_ns < s->heap[m].at_ns)
			m = r;
		if (m == i)
			break;
		heap_swap(s->heap, i, m);
		i = m;
	}
	return top;
}

/* Suspend c for ms milliseconds (at most STANDIN_PAUSE_MAX_MS), from the
 * access handler or a content reader of c. Returns 1 if suspended, 0 if the
 * caller must go on at once (stopping, or no memory for the heap: then the
 * wait is skipped). */
static int pause_for(standin *s, struct MHD_Connection *c, uint64_t ms)
{
	int paused = 0;
	if (ms > STANDIN_PAUSE_MAX_MS)
		ms = STANDIN_PAUSE_MAX_MS;
	pthread_mutex_lock(&s->lock);
	if (!s->stopping && heap_reserve(s) == 0) {
		MHD_suspend_connection(c); /* SI1: before the heap */
		heap_push(s, (due){now_ns() + ms * 1000000ull, c});
		pthread_cond_signal(&s->wake);
		paused = 1;
	}
	pthread_mutex_unlock(&s->lock);
	return paused;
}

static void *timer_main(void *arg)
{
	standin *s = arg;
	pthread_mutex_lock(&s->lock);
	while (!s->stopping) {
		uint64_t t = now_ns();
		while (s->heap_len && s->heap[0].at_ns <= t)
			MHD_resume_connection(heap_pop(s).conn); /* SI1 */
		if (!s->heap_len) {
			pthread_cond_wait(&s->wake, &s->lock);
			continue;
		}
		uint64_t at = s->heap[0].at_ns;
		struct timespec ts = {(time_t)(at / 1000000000ull),
				      (long)(at % 1000000000ull)};
		pthread_cond_timedwait(&s->wake, &s->lock, &ts);
	}
	while (s->heap_len) /* SI2 */
		MHD_resume_connection(heap_pop(s).conn);
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* ---- replies -------------------------------------------------------- */

static enum MHD_Result reply_buf(struct MHD_Connection *c, unsigned code,
				 const char *type, char *buf, size_t len,
				 enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(len, buf, mode);
	if (!r) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free(buf);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	enum MHD_Result ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ret;
}

/* Reply with the JSON value j (taken). NULL (jansson refused a string
 * that is not UTF-8, say a path): 400. */
static enum MHD_Result reply_json(struct MHD_Connection *c, unsigned code,
				  json_t *j, const char *retry_after)
{
	static char unencodable[] = "{\"error\":\"not UTF-8\"}";
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!text)
		return reply_buf(c, MHD_HTTP_BAD_REQUEST, "application/json",
				 unencodable, sizeof unencodable - 1,
				 MHD_RESPMEM_PERSISTENT);
	struct MHD_Response *r = MHD_create_response_from_buffer(
	    strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				"application/json");
	if (retry_after)
		MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER,
					retry_after);
	enum MHD_Result ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ret;
}

static json_t *echo_json(const req *q, const char *method, const char *url)
{
	json_t *body = json_stringn(q->body ? q->body : "", q->len);
	/* A body that is not UTF-8 cannot be a JSON string: null then. */
	return json_pack("{s:s, s:s, s:o, s:s?, s:I}", "method", method, "path",
			 url, "body", body ? body : json_null(), "idem",
			 q->idem, "n", (json_int_t)q->n);
}

static json_t *stats_json(standin *s)
{
	json_t *keys = json_object(), *faults = json_object();
	pthread_mutex_lock(&s->lock);
	json_t *j = json_pack("{s:I}", "requests", (json_int_t)s->requests);
	for (size_t i = 0; keys && faults && i < s->keys_cap; i++) {
		if (!s->keys[i].key)
			continue;
		json_object_set_new(keys, s->keys[i].key,
				    json_integer((json_int_t)s->keys[i].n));
		if (s->keys[i].faults)
			json_object_set_new(
			    faults, s->keys[i].key,
			    json_integer((json_int_t)s->keys[i].faults));
	}
	pthread_mutex_unlock(&s->lock);
	if (j && keys && faults) {
		json_object_set_new(j, "keys", keys);
		json_object_set_new(j, "faults", faults);
	} else {
		json_decref(keys);
		json_decref(faults);
	}
	return j;
}

/* The deterministic object of /json?id=X. */
static json_t *json_for(uint64_t seed, const char *id)
{
	uint64_t h = mix64(seed ^ hash_str(id));
	char text[64];
	snprintf(text, sizeof text, "item %s of seed %" PRIu64 ": %016" PRIx64,
		 id, seed, mix64(h));
	return json_pack("{s:s, s:I, s:s}", "id", id, "value",
			 (json_int_t)(h >> 11), "text", text);
}

/* The byte at offset i of /big's body: letters and a newline each 64. */
static char big_byte(uint64_t seed, uint64_t i)
{
	if (i % 64 == 63)
		return '\n';
	return (char)('a' + (seed + i * 7 + i / 64) % 26);
}

static ssize_t big_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	req *q = cls;
	uint64_t left = q->a - pos;
	size_t n = left < max ? (size_t)left : max;
	for (size_t i = 0; i < n; i++)
		buf[i] = big_byte(q->s->o.seed, pos + i);
	return (ssize_t)n;
}

/* /drop: q->a bytes of a body promised longer, then an error (the
 * connection closes). */
static ssize_t drop_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	req *q = cls;
	if (pos >= q->a)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	uint64_t left = q->a - pos;
	size_t n = left < max ? (size_t)left : max;
	memset(buf, 'x', n);
	return (ssize_t)n;
}

/* /stream and /stream-drop: q->a events q->b ms apart, then
 * "data: [DONE]" (or, for /stream-drop, an error). */
static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	req *q = cls;
	(void)pos;
	if (q->ev_off == q->ev_len) {
		if (q->events == q->a) {
			if (q->ep == EP_STREAM_DROP)
				return MHD_CONTENT_READER_END_WITH_ERROR;
			if (q->done_sent)
				return MHD_CONTENT_READER_END_OF_STREAM;
			q->done_sent = true;
			q->ev_len = (size_t)snprintf(q->ev, sizeof q->ev,
						     "data: [DONE]\n\n");
		} else {
			if (q->events > 0 && q->b > 0 && !q->paused &&
			    pause_for(q->s, q->conn, q->b)) {
				q->paused = true;
				return 0;
			}
			q->paused = false;
			q->ev_len = (size_t)snprintf(q->ev, sizeof q->ev,
						     "data: %" PRIu64 "\n\n",
						     q->events);
			q->events++;
		}
		q->ev_off = 0;
	}
	size_t n = q->ev_len - q->ev_off;
	if (n > max)
		n = max;
	memcpy(buf, q->ev + q->ev_off, n);
	q->ev_off += n;
	return (ssize_t)n;
}

/* /stall: "{", a pause of q->a ms, "}". */
static ssize_t stall_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	req *q = cls;
	(void)max;
	if (pos == 0) {
		buf[0] = '{';
		return 1;
	}
	if (!q->paused && pause_for(q->s, q->conn, q->a)) {
		q->paused = true;
		return 0;
	}
	buf[0] = '}';
	return 1;
}

/* /bad-chunk: libmicrohttpd frames every chunk itself, correctly, so the
 * malformed chunk goes straight to the socket: this reader runs only once
 * the headers (Transfer-Encoding: chunked) are all sent, and its error
 * makes libmicrohttpd close the connection after it. */
static ssize_t bad_chunk_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	req *q = cls;
	(void)pos, (void)buf, (void)max;
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(q->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	static const char bad[] = "4\r\nfine\r\nzz-not-hex\r\nbroken\r\n";
	if (ci)
		(void)send(ci->connect_fd, bad, sizeof bad - 1, MSG_NOSIGNAL);
	return MHD_CONTENT_READER_END_WITH_ERROR;
}

static enum MHD_Result reply_reader(struct MHD_Connection *c, req *q,
				    uint64_t size, size_t block,
				    MHD_ContentReaderCallback fn,
				    const char *type)
{
	struct MHD_Response *r =
	    MHD_create_response_from_callback(size, block, fn, q, NULL);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (q->ep == EP_STREAM || q->ep == EP_STREAM_DROP)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL,
					"no-cache");
	enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

/* ---- /v1/chat/completions ------------------------------------------- */

/* The words of the deterministic replies. */
static const char *const chat_words[] = {
    "thanks", "for",	 "your",  "message", "I",     "can",	"help",
    "with",   "that",	 "today", "please",  "note",  "the",	"details",
    "are",    "below",	 "let",	  "me",	     "check", "this",	"account",
    "order",  "support", "team",  "happy",   "to",    "assist", "anything",
    "else",   "we",	 "will",  "follow"};
#define CHAT_WORDS (sizeof chat_words / sizeof chat_words[0])

/* The first "order N", "order #N" or "#N" of text, as digits into out
 * (cap > 1): 1 if found. */
static int find_order(const char *text, char *out, size_t cap)
{
	for (const char *p = text; *p; p++) {
		const char *d = NULL;
		if (strncasecmp(p, "order ", 6) == 0)
			d = p[6] == '#' ? p + 7 : p + 6;
		else if (*p == '#')
			d = p + 1;
		if (!d || *d < '0' || *d > '9')
			continue;
		size_t n = 0;
		while (d[n] >= '0' && d[n] <= '9' && n + 1 < cap)
			out[n] = d[n], n++;
		out[n] = '\0';
		return 1;
	}
	return 0;
}

/* The amount of the first "$N" of text, or 0. */
static uint64_t find_amount(const char *text)
{
	const char *p = strchr(text, '$');
	return p ? strtoull(p + 1, NULL, 10) : 0;
}

static const char *msg_text(json_t *m, const char *key)
{
	const char *t = json_string_value(json_object_get(m, key));
	return t ? t : "";
}

static uint64_t count_words(const char *t)
{
	uint64_t n = 0;
	for (int in = 0; *t; t++) {
		int sp = *t == ' ' || *t == '\n' || *t == '\t';
		n += !sp && !in;
		in = !sp;
	}
	return n;
}

/* The tool a chat request offers under name, or 0. */
static int offers_tool(json_t *body, const char *name)
{
	const char *choice =
	    json_string_value(json_object_get(body, "tool_choice"));
	if (choice && strcmp(choice, "none") == 0)
		return 0;
	size_t i;
	json_t *t;
	json_array_foreach(json_object_get(body, "tools"), i, t)
	{
		const char *n = json_string_value(
		    json_object_get(json_object_get(t, "function"), "name"));
		if (n && strcmp(n, name) == 0)
			return 1;
	}
	return 0;
}

/* What a chat request gets: content or one tool call, and the usage. */
typedef struct chat_answer {
	char content[1024];
	char call_id[32], call_name[32], call_args[128];
	uint64_t prompt_tokens, completion_tokens;
	uint64_t h; /* the hash of the conversation and the seed */
} chat_answer;

/* The tool the script calls next for the last user message: the tools
 * its words ask for (a refund: request_refund; an order: lookup_order,
 * then track_shipment when it asks where the parcel is), less those
 * whose results follow it. NULL when none is left. */
static const char *next_tool(json_t *body, const char *user, json_t *msgs,
			     size_t after, char *order, uint64_t *amount)
{
	const char *want[2] = {NULL, NULL};
	char o[24];
	if (!find_order(user, o, sizeof o))
		return NULL;
	snprintf(order, 24, "%s", o);
	*amount = find_amount(user);
	if (strcasestr(user, "refund") && *amount)
		want[0] = "request_refund";
	else {
		want[0] = "lookup_order";
		if (strcasestr(user, "parcel") || strcasestr(user, "ship") ||
		    strcasestr(user, "where is"))
			want[1] = "track_shipment";
	}
	for (size_t w = 0; w < 2 && want[w]; w++) {
		int done = 0;
		/* A result of want[w]: a tool message answering an id that an
		 * assistant message after the user's gave to want[w]. */
		for (size_t i = after + 1; !done && i < json_array_size(msgs);
		     i++) {
			json_t *m = json_array_get(msgs, i);
			if (strcmp(msg_text(m, "role"), "tool") != 0)
				continue;
			const char *id = msg_text(m, "tool_call_id");
			for (size_t j = after + 1; !done && j < i; j++) {
				size_t k;
				json_t *c;
				json_array_foreach(
				    json_object_get(json_array_get(msgs, j),
						    "tool_calls"),
				    k, c)
				{
					const char *cid = json_string_value(
					    json_object_get(c, "id"));
					const char *name =
					    json_string_value(json_object_get(
						json_object_get(c, "function"),
						"name"));
					if (cid && name &&
					    strcmp(cid, id) == 0 &&
					    strcmp(name, want[w]) == 0)
						done = 1;
				}
			}
		}
		if (!done)
			return offers_tool(body, want[w]) ? want[w] : NULL;
	}
	return NULL;
}

/* The answer to a parsed chat request. */
static void chat_answer_for(uint64_t seed, json_t *body, chat_answer *a)
{
	memset(a, 0, sizeof *a);
	json_t *msgs = json_object_get(body, "messages");
	char *canon = json_dumps(msgs, JSON_COMPACT | JSON_SORT_KEYS);
	a->h = mix64(seed ^ hash_str(canon ? canon : ""));
	free(canon);
	size_t i, user = SIZE_MAX;
	json_t *m;
	json_array_foreach(msgs, i, m)
	{
		a->prompt_tokens += 3 + count_words(msg_text(m, "content"));
		if (strcmp(msg_text(m, "role"), "user") == 0)
			user = i;
	}
	const char *utext =
	    user == SIZE_MAX ? ""
			     : msg_text(json_array_get(msgs, user), "content");
	char order[24];
	uint64_t amount = 0;
	const char *tool = user == SIZE_MAX ? NULL
					    : next_tool(body, utext, msgs, user,
							order, &amount);
	if (tool) {
		snprintf(a->call_id, sizeof a->call_id, "call_%016" PRIx64,
			 mix64(a->h));
		snprintf(a->call_name, sizeof a->call_name, "%s", tool);
		if (strcmp(tool, "request_refund") == 0)
			snprintf(a->call_args, sizeof a->call_args,
				 "{\"order_id\": \"%s\", \"amount\": %" PRIu64
				 "}",
				 order, amount);
		else
			snprintf(a->call_args, sizeof a->call_args,
				 "{\"order_id\": \"%s\"}", order);
		a->completion_tokens = 5 + strlen(a->call_args) / 4;
		return;
	}
	size_t n = 0, cap = sizeof a->content;
	/* After tools: a final answer quoting the last tool result. */
	json_t *last = json_array_get(msgs, json_array_size(msgs) - 1);
	if (last && strcmp(msg_text(last, "role"), "tool") == 0)
		n = (size_t)snprintf(a->content, cap,
				     "Here is what I found: %.200s.",
				     msg_text(last, "content"));
	else if (strncasecmp(utext, "summarize", 9) == 0)
		n = (size_t)snprintf(a->content, cap, "Summary:");
	else
		n = (size_t)snprintf(a->content, cap, "Hello!");
	uint64_t x = a->h, words = 6 + x % 10;
	for (uint64_t w = 0; w < words && n + 16 < cap; w++) {
		x = mix64(x);
		n += (size_t)snprintf(a->content + n, cap - n, " %s",
				      chat_words[x % CHAT_WORDS]);
	}
	a->completion_tokens = count_words(a->content);
}

static json_t *usage_json(const chat_answer *a)
{
	return json_pack("{s:I, s:I, s:I}", "prompt_tokens",
			 (json_int_t)a->prompt_tokens, "completion_tokens",
			 (json_int_t)a->completion_tokens, "total_tokens",
			 (json_int_t)(a->prompt_tokens + a->completion_tokens));
}

/* The head of a completion or a chunk: id, object, created, model. */
static json_t *chat_head(const chat_answer *a, json_t *body, const char *object)
{
	char id[48];
	snprintf(id, sizeof id, "chatcmpl-%016" PRIx64, a->h);
	const char *model = json_string_value(json_object_get(body, "model"));
	return json_pack("{s:s, s:s, s:I, s:s}", "id", id, "object", object,
			 "created", (json_int_t)(1700000000 + a->h % 100000000),
			 "model", model ? model : "standin");
}

static json_t *tool_call_json(const chat_answer *a, const char *args,
			      bool first)
{
	json_t *fn = json_pack("{s:s}", "arguments", args);
	json_t *c = json_pack("{s:i, s:o}", "index", 0, "function", fn);
	if (first) {
		json_object_set_new(fn, "name", json_string(a->call_name));
		json_object_set_new(c, "id", json_string(a->call_id));
		json_object_set_new(c, "type", json_string("function"));
	}
	return c;
}

/* The plain (not streamed) completion. */
static json_t *chat_completion(const chat_answer *a, json_t *body)
{
	json_t *j = chat_head(a, body, "chat.completion");
	json_t *msg = json_pack("{s:s}", "role", "assistant");
	if (a->call_name[0]) {
		json_object_set_new(msg, "content", json_null());
		json_object_set_new(
		    msg, "tool_calls",
		    json_pack("[o]", tool_call_json(a, a->call_args, true)));
		json_object_del(
		    json_array_get(json_object_get(msg, "tool_calls"), 0),
		    "index");
	} else
		json_object_set_new(msg, "content", json_string(a->content));
	json_object_set_new(j, "choices",
			    json_pack("[{s:i, s:o, s:s}]", "index", 0,
				      "message", msg, "finish_reason",
				      a->call_name[0] ? "tool_calls" : "stop"));
	json_object_set_new(j, "usage", usage_json(a));
	return j;
}

/* Append segment text (taken; NULL: out of memory) to q's. */
static int seg_add(req *q, char *text)
{
	if (!text)
		return -1;
	char **t = realloc(q->segs, (q->n_segs + 1) * sizeof *t);
	if (!t) {
		free(text);
		return -1;
	}
	q->segs = t;
	q->segs[q->n_segs++] = text;
	return 0;
}

/* A server-sent event of chunk (taken) with delta (taken) and
 * finish_reason (NULL: null), or of the object j (taken) as is. */
static int sse_add(req *q, json_t *j)
{
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!text)
		return -1;
	size_t n = strlen(text) + 9;
	char *ev = malloc(n);
	if (ev)
		snprintf(ev, n, "data: %s\n\n", text);
	free(text);
	return seg_add(q, ev);
}

static int chunk_add(req *q, const chat_answer *a, json_t *body, json_t *delta,
		     const char *finish)
{
	json_t *j = chat_head(a, body, "chat.completion.chunk");
	json_object_set_new(
	    j, "choices",
	    json_pack("[{s:i, s:o, s:o}]", "index", 0, "delta", delta,
		      "finish_reason",
		      finish ? json_string(finish) : json_null()));
	return sse_add(q, j);
}

/* The events of a streamed completion: the role, the content word by
 * word (or the tool call: its name, then its arguments in pieces of 7
 * bytes), the finish reason, the usage when asked, [DONE]. */
static int chat_stream(req *q, const chat_answer *a, json_t *body)
{
	int rc = chunk_add(
	    q, a, body,
	    json_pack("{s:s, s:s}", "role", "assistant", "content", ""), NULL);
	if (a->call_name[0]) {
		size_t len = strlen(a->call_args);
		rc |= chunk_add(q, a, body,
				json_pack("{s:[o]}", "tool_calls",
					  tool_call_json(a, "", true)),
				NULL);
		for (size_t off = 0; !rc && off < len; off += 7) {
			char piece[8];
			snprintf(piece, sizeof piece, "%.7s",
				 a->call_args + off);
			rc |= chunk_add(
			    q, a, body,
			    json_pack("{s:[o]}", "tool_calls",
				      tool_call_json(a, piece, false)),
			    NULL);
		}
	} else {
		const char *p = a->content;
		while (!rc && *p) {
			const char *e = strchr(p + 1, ' ');
			size_t n = e ? (size_t)(e - p) : strlen(p);
			rc |= chunk_add(q, a, body,
					json_pack("{s:s%}", "content", p, n),
					NULL);
			p += n;
		}
	}
	rc |= chunk_add(q, a, body, json_object(),
			a->call_name[0] ? "tool_calls" : "stop");
	if (json_is_true(json_object_get(
		json_object_get(body, "stream_options"), "include_usage"))) {
		json_t *j = chat_head(a, body, "chat.completion.chunk");
		json_object_set_new(j, "choices", json_array());
		json_object_set_new(j, "usage", usage_json(a));
		rc |= sse_add(q, j);
	}
	return rc | seg_add(q, strdup("data: [DONE]\n\n"));
}

/* The API's error object. */
static json_t *api_error(const char *message, const char *type,
			 const char *code)
{
	return json_pack("{s:{s:s, s:s, s:s?, s:n}}", "error", "message",
			 message, "type", type, "code", code, "param");
}

/* The segments of a chat reply, one after the other q->gap_ms apart;
 * then the end, or an error (q->cut) that closes the connection. */
static ssize_t segs_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	req *q = cls;
	(void)pos;
	if (q->seg_i < q->n_segs && q->seg_off == 0 && q->seg_i > 0 &&
	    q->gap_ms > 0 && !q->paused &&
	    pause_for(q->s, q->conn, q->gap_ms)) {
		q->paused = true;
		return 0;
	}
	q->paused = false;
	if (q->seg_i == q->n_segs)
		return q->cut ? MHD_CONTENT_READER_END_WITH_ERROR
			      : MHD_CONTENT_READER_END_OF_STREAM;
	const char *seg = q->segs[q->seg_i];
	size_t n = strlen(seg) - q->seg_off;
	if (n > max)
		n = max;
	memcpy(buf, seg + q->seg_off, n);
	q->seg_off += n;
	if (!seg[q->seg_off])
		q->seg_i++, q->seg_off = 0;
	return (ssize_t)n;
}

/* POST /v1/chat/completions: OpenAI's chat-completions format (see
 * standin.h). */
static enum MHD_Result reply_chat(req *q)
{
	struct MHD_Connection *c = q->conn;
	if (q->fault == CF_STATUS) {
		uint64_t code = arg_u64(c, "fault", 500);
		int limit = code == 429;
		return reply_json(
		    c, (unsigned)code,
		    api_error(limit ? "Rate limit reached (stand-in)"
				    : "The server had an error (stand-in)",
			      limit ? "rate_limit_exceeded" : "server_error",
			      limit ? "rate_limit_exceeded" : NULL),
		    MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND,
						"retry_after"));
	}
	json_error_t jerr;
	json_t *body = q->body ? json_loadb(q->body, q->len, 0, &jerr) : NULL;
	if (!json_is_object(body) ||
	    !json_is_array(json_object_get(body, "messages")) ||
	    !json_array_size(json_object_get(body, "messages"))) {
		json_decref(body);
		return reply_json(c, MHD_HTTP_BAD_REQUEST,
				  api_error("the body must be a JSON object "
					    "with a non-empty messages array",
					    "invalid_request_error",
					    "invalid_body"),
				  NULL);
	}
	chat_answer a;
	chat_answer_for(q->s->o.seed, body, &a);
	bool stream = json_is_true(json_object_get(body, "stream"));
	int rc = 0;
	if (stream) {
		rc = chat_stream(q, &a, body);
		q->gap_ms = arg_u64(c, "cadence_ms", q->s->o.chat_cadence_ms);
	} else {
		json_t *j = chat_completion(&a, body);
		rc = seg_add(q, j ? json_dumps(j, JSON_COMPACT) : NULL);
		json_decref(j);
	}
	json_decref(body);
	if (rc)
		return MHD_NO;
	uint64_t total = 0;
	for (size_t i = 0; i < q->n_segs; i++)
		total += strlen(q->segs[i]);
	if (q->fault == CF_DROP) {
		/* Half the events of a stream, half the bytes of a body. */
		if (q->n_segs > 1) {
			size_t keep = q->n_segs / 2;
			while (q->n_segs > keep)
				free(q->segs[--q->n_segs]);
		} else
			q->segs[0][strlen(q->segs[0]) / 2] = '\0';
		q->cut = true;
	} else if (q->fault == CF_STALL) {
		/* A body: its first byte, then silence; a stream: its first
		 * event, then silence. */
		if (!stream) {
			if (seg_add(q, strdup(q->segs[0] + 1)))
				return MHD_NO;
			q->segs[0][1] = '\0';
		}
		q->gap_ms = arg_u64(c, "ms", 60000);
	}
	struct MHD_Response *r = MHD_create_response_from_callback(
	    stream ? MHD_SIZE_UNKNOWN : total, 4096, segs_reader, q, NULL);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				stream ? "text/event-stream"
				       : "application/json");
	enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

/* The reply of q, once its body is in and its delay over. */
static enum MHD_Result reply(req *q, const char *method, const char *url)
{
	struct MHD_Connection *c = q->conn;
	standin *s = q->s;
	if (q->too_big)
		return reply_json(c, MHD_HTTP_CONTENT_TOO_LARGE,
				  json_pack("{s:s}", "error", "body too large"),
				  NULL);
	switch (q->ep) {
	case EP_ECHO:
	case EP_HOLD:
		return reply_json(c, MHD_HTTP_OK, echo_json(q, method, url),
				  NULL);
	case EP_STATUS: {
		uint64_t code = arg_u64(c, "code", 500);
		uint64_t times = arg_u64(c, "times", UINT64_MAX);
		if (code < 100 || code > 999)
			code = 500;
		if (!q->idem || q->n <= times)
			return reply_json(
			    c, (unsigned)code,
			    json_pack("{s:I, s:I}", "status", (json_int_t)code,
				      "n", (json_int_t)q->n),
			    MHD_lookup_connection_value(
				c, MHD_GET_ARGUMENT_KIND, "retry_after"));
		return reply_json(c, MHD_HTTP_OK, echo_json(q, method, url),
				  NULL);
	}
	case EP_JSON: {
		const char *id =
		    MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "id");
		return reply_json(c, MHD_HTTP_OK,
				  json_for(s->o.seed, id ? id : ""), NULL);
	}
	case EP_BIG:
		if (q->a > STANDIN_BIG_MAX)
			return reply_json(
			    c, MHD_HTTP_BAD_REQUEST,
			    json_pack("{s:s}", "error", "bytes too large"),
			    NULL);
		return reply_reader(c, q, q->a, 64 * 1024, big_reader,
				    "application/octet-stream");
	case EP_DROP:
		if (q->a > STANDIN_BIG_MAX)
			q->a = STANDIN_BIG_MAX;
		return reply_reader(c, q, q->a + 1024, 4096, drop_reader,
				    "application/octet-stream");
	case EP_STREAM:
	case EP_STREAM_DROP:
		return reply_reader(c, q, MHD_SIZE_UNKNOWN, 1024, stream_reader,
				    "text/event-stream");
	case EP_BAD_CHUNK:
		return reply_reader(c, q, MHD_SIZE_UNKNOWN, 1024,
				    bad_chunk_reader, "text/plain");
	case EP_STALL:
		return reply_reader(c, q, 2, 16, stall_reader,
				    "application/json");
	case EP_NOTJSON:
		return reply_buf(c, MHD_HTTP_OK, "application/json", "{oops", 5,
				 MHD_RESPMEM_PERSISTENT);
	case EP_STATS:
		return reply_json(c, MHD_HTTP_OK, stats_json(s), NULL);
	case EP_CHAT:
		return reply_chat(q);
	case EP_NOT_FOUND:
		break;
	}
	return reply_json(
	    c, MHD_HTTP_NOT_FOUND,
	    json_pack("{s:s, s:s}", "error", "no such endpoint", "path", url),
	    NULL);
}

/* The delay before q's reply: the latency drawn for it, and /hold's. */
static uint64_t delay_ms(const req *q)
{
	const standin_opts *o = &q->s->o;
	uint64_t ms = 0;
	if (q->ep == EP_STATS)
		return 0;
	if (o->latency_max_ms > o->latency_min_ms)
		ms = o->latency_min_ms +
		     mix64(o->seed ^ mix64(q->seq)) %
			 (o->latency_max_ms - o->latency_min_ms + 1u);
	else
		ms = o->latency_min_ms;
	if (q->ep == EP_HOLD)
		ms += q->a < STANDIN_PAUSE_MAX_MS ? q->a : STANDIN_PAUSE_MAX_MS;
	return ms;
}

/* A new request: its record, counted (but /stats). NULL: out of memory. */
static req *req_new(standin *s, struct MHD_Connection *c, const char *url)
{
	req *q = calloc(1, sizeof *q);
	if (!q)
		return NULL;
	q->s = s;
	q->conn = c;
	q->ep = EP_NOT_FOUND;
	for (size_t i = 0; i < sizeof endpoints / sizeof endpoints[0]; i++)
		if (strcmp(url, endpoints[i].path) == 0)
			q->ep = endpoints[i].ep;
	switch (q->ep) {
	case EP_HOLD:
	case EP_STALL:
		q->a = arg_u64(c, "ms", 0);
		break;
	case EP_BIG:
		q->a = arg_u64(c, "bytes", 0);
		break;
	case EP_DROP:
		q->a = arg_u64(c, "after", 16);
		break;
	case EP_STREAM:
	case EP_STREAM_DROP:
		q->a = arg_u64(c, "chunks", 3);
		q->b = arg_u64(c, "ms", 0);
		break;
	default:
		break;
	}
	const char *key =
	    MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Idempotency-Key");
	if (key && !(q->idem = strdup(key))) {
		free(q);
		return NULL;
	}
	if (q->ep == EP_STATS)
		return q;
	pthread_mutex_lock(&s->lock);
	q->seq = s->requests++;
	key_slot *k = q->idem ? keys_find(s, q->idem, true) : NULL;
	if (k)
		q->n = ++k->n;
	if (q->ep == EP_CHAT) {
		/* The first `times` requests of a key (default: all) get the
		 * fault; those without a key always do. */
		const char *f = MHD_lookup_connection_value(
		    c, MHD_GET_ARGUMENT_KIND, "fault");
		uint64_t times = arg_u64(c, "times", UINT64_MAX);
		if (f && (!q->idem || q->n <= times)) {
			q->fault = strcmp(f, "drop") == 0    ? CF_DROP
				   : strcmp(f, "stall") == 0 ? CF_STALL
				   : arg_u64(c, "fault", 0) >= 100 &&
					   arg_u64(c, "fault", 0) <= 999
				       ? CF_STATUS
				       : CF_NONE;
			if (q->fault != CF_NONE && k)
				k->faults++;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return q;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
				  const char *url, const char *method,
				  const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	standin *s = cls;
	req *q = *con_cls;
	(void)version;
	if (!q) {
		if (!(q = req_new(s, c, url)))
			return MHD_NO;
		*con_cls = q;
		return MHD_YES;
	}
	if (*upload_size) {
		size_t n = *upload_size;
		*upload_size = 0;
		if (q->too_big || q->len + n > STANDIN_BODY_MAX) {
			q->too_big = true;
			return MHD_YES;
		}
		if (q->len + n > q->cap) {
			size_t cap = q->cap ? q->cap : 1024;
			while (cap < q->len + n)
				cap *= 2;
			char *b = realloc(q->body, cap);
			if (!b)
				return MHD_NO;
			q->body = b;
			q->cap = cap;
		}
		memcpy(q->body + q->len, upload, n);
		q->len += n;
		return MHD_YES;
	}
	if (!q->waited) {
		q->waited = true;
		uint64_t ms = delay_ms(q);
		if (ms && pause_for(s, c, ms))
			return MHD_YES; /* called again when resumed */
	}
	return reply(q, method, url);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode why)
{
	(void)cls, (void)c, (void)why;
	req *q = *con_cls;
	if (!q)
		return;
	for (size_t i = 0; i < q->n_segs; i++)
		free(q->segs[i]);
	free(q->segs);
	free(q->idem);
	free(q->body);
	free(q);
	*con_cls = NULL;
}

/* ---- life ----------------------------------------------------------- */

static void on_log(void *cls, const char *fmt, va_list ap)
{
	standin *s = cls;
	if (atomic_load_explicit(&s->started, memory_order_relaxed) &&
	    !strstr(fmt, "limit") && !strstr(fmt, "accept"))
		return;
	fputs("standin: ", stderr);
	vfprintf(stderr, fmt, ap);
}

static void free_tables(standin *s)
{
	for (size_t i = 0; i < s->keys_cap; i++)
		free(s->keys[i].key);
	free(s->keys);
	free(s->heap);
}

int standin_start(const standin_opts *o, standin **out)
{
	*out = NULL;
	standin *s = calloc(1, sizeof *s);
	if (!s) {
		fprintf(stderr, "standin: out of memory\n");
		return -1;
	}
	if (o)
		s->o = *o;
	if (s->o.latency_max_ms < s->o.latency_min_ms)
		s->o.latency_max_ms = s->o.latency_min_ms;
	unsigned threads = s->o.threads ? s->o.threads : 4;
	unsigned conns = s->o.max_connections ? s->o.max_connections : 4096;

	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->wake, &ca);
	pthread_condattr_destroy(&ca);
	int e = pthread_create(&s->timer, NULL, timer_main, s);
	if (e) {
		fprintf(stderr, "standin: timer thread: %s\n", strerror(e));
		goto err_free;
	}
	s->timer_started = true;

	struct sockaddr_in sa;
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = 0;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD |
			 MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	if (MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES)
		flags |= MHD_USE_EPOLL;
	s->d = MHD_start_daemon(
	    flags, 0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER,
	    on_log, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
	    MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_LIMIT,
	    conns, MHD_OPTION_CONNECTION_TIMEOUT, STANDIN_IDLE_TIMEOUT_S,
	    MHD_OPTION_LISTEN_BACKLOG_SIZE, STANDIN_BACKLOG,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_END);
	if (!s->d) {
		fprintf(stderr, "standin: MHD_start_daemon failed\n");
		goto err_free;
	}
	const union MHD_DaemonInfo *di =
	    MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
	if (!di || !di->port) {
		fprintf(stderr, "standin: no bound port\n");
		goto err_free;
	}
	s->port = di->port;
	atomic_store_explicit(&s->started, true, memory_order_relaxed);
	*out = s;
	return 0;

err_free:
	standin_stop(s);
	return -1;
}

uint16_t standin_port(const standin *s)
{
	return s->port;
}

void standin_base_url(const standin *s, char *buf, size_t cap)
{
	snprintf(buf, cap, "http://127.0.0.1:%u", (unsigned)s->port);
}

uint64_t standin_count(standin *s, const char *key)
{
	if (!key)
		return 0;
	pthread_mutex_lock(&s->lock);
	key_slot *k = keys_find(s, key, false);
	uint64_t n = k ? k->n : 0;
	pthread_mutex_unlock(&s->lock);
	return n;
}

uint64_t standin_faults(standin *s, const char *key)
{
	if (!key)
		return 0;
	pthread_mutex_lock(&s->lock);
	key_slot *k = keys_find(s, key, false);
	uint64_t n = k ? k->faults : 0;
	pthread_mutex_unlock(&s->lock);
	return n;
}

void standin_each_key(standin *s,
		      void (*fn)(void *arg, const char *key, uint64_t n,
				 uint64_t faults),
		      void *arg)
{
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->keys_cap; i++)
		if (s->keys[i].key)
			fn(arg, s->keys[i].key, s->keys[i].n,
			   s->keys[i].faults);
	pthread_mutex_unlock(&s->lock);
}

uint64_t standin_requests(standin *s)
{
	pthread_mutex_lock(&s->lock);
	uint64_t n = s->requests;
	pthread_mutex_unlock(&s->lock);
	return n;
}

uint64_t standin_keys(standin *s)
{
	pthread_mutex_lock(&s->lock);
	uint64_t n = s->keys_len;
	pthread_mutex_unlock(&s->lock);
	return n;
}

void standin_stop(standin *s)
{
	if (!s)
		return;
	if (s->timer_started) {
		pthread_mutex_lock(&s->lock);
		s->stopping = true; /* SI2 */
		pthread_cond_signal(&s->wake);
		pthread_mutex_unlock(&s->lock);
		pthread_join(s->timer, NULL);
	}
	if (s->d)
		MHD_stop_daemon(s->d);
	pthread_cond_destroy(&s->wake);
	pthread_mutex_destroy(&s->lock);
	free_tables(s);
	free(s);
}
