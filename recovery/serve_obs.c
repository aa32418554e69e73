/*
 * serve_obs.c - what `mnemo serve` shows and checks around its routes: the
 * request counters and latency histogram, the Prometheus text of /metrics
 * (written here: no C client library is in Debian), the request log (one
 * JSON object a line on stderr or the log file, through jansson). The
 * bearer tokens are serve_tokens.c's, base64 serve_decode.c's.
 *
 * Owns: a token is never written anywhere (the log has method, path,
 * status and duration only).
 *
 * Threads: any (counters are atomics; a log line is one locked write).
 */
#include <errno.h>
#include <jansson.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "recovery/serve.h"

static const unsigned codes[MN__SRV_CODES - 1] = {200, 201, 202, 400, 401, 403,
						  404, 405, 409, 413, 429, 500,
						  503, 504, 411, 415, 304};

static const char *const route_names[MN__SRV_ROUTES] = {
    [MN__SRV_R_MESSAGES] = "messages", [MN__SRV_R_ASK] = "ask",
    [MN__SRV_R_ACTOR] = "actor",       [MN__SRV_R_LIST] = "list",
    [MN__SRV_R_HISTORY] = "history",   [MN__SRV_R_EVENTS] = "events",
    [MN__SRV_R_UPGRADE] = "upgrade",   [MN__SRV_R_HEALTHZ] = "healthz",
    [MN__SRV_R_READYZ] = "readyz",     [MN__SRV_R_METRICS] = "metrics",
    [MN__SRV_R_PAGE] = "page",	       [MN__SRV_R_OTHER] = "other"};

/* Upper bounds of the latency buckets, in microseconds and as written. */
static const uint64_t bucket_us[MN__SRV_BUCKETS] = {
    250,   500,	  1000,	  2500,	  5000,	   10000,
    25000, 50000, 100000, 250000, 1000000, 5000000};
static const char *const bucket_le[MN__SRV_BUCKETS] = {
    "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01",
    "0.025",   "0.05",	 "0.1",	  "0.25",   "1",     "5"};

static size_t code_index(unsigned status)
{
	for (size_t i = 0; i < MN__SRV_CODES - 1; i++)
		if (codes[i] == status)
			return i;
	return MN__SRV_CODES - 1;
}

static void log_line(mn__srv *s, json_t *o)
{
	char ts[MN__CLI_TIME_CAP];
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	mn__cli_time(ts, (uint64_t)now.tv_sec * 1000 +
			     (uint64_t)now.tv_nsec / 1000000);
	json_object_set_new(o, "time", json_string(ts));
	char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER |
				       JSON_REAL_PRECISION(6));
	json_decref(o);
	if (!text)
		return;
	pthread_mutex_lock(&s->log_mu);
	FILE *f = s->log ? s->log : s->c->err;
	fprintf(f, "%s\n", text);
	fflush(f);
	pthread_mutex_unlock(&s->log_mu);
	free(text);
}

int mn__srv_log_reopen(mn__srv *s)
{
	FILE *f = fopen(s->log_path, "ae");
	if (!f) {
		char msg[512];
		snprintf(msg, sizeof msg, "cannot open the log file %s: %s",
			 s->log_path, strerror(errno));
		mn__srv_log(s, "error", msg, NULL);
		return -1;
	}
	setvbuf(f, NULL, _IOLBF, 0);
	pthread_mutex_lock(&s->log_mu);
	FILE *old = s->log;
	s->log = f;
	pthread_mutex_unlock(&s->log_mu);
	if (old) {
		fclose(old);
		mn__srv_log(s, "info", "log file reopened", NULL);
	}
	return 0;
}

void mn__srv_record(mn__srv *s, enum mn__srv_route r, const char *method,
		    const char *path, unsigned status, uint64_t dur_us)
{
	atomic_fetch_add(&s->m.requests[r][code_index(status)], 1);
	/* A stream's duration is its client's, not a latency. */
	for (size_t i = 0; r != MN__SRV_R_EVENTS && i < MN__SRV_BUCKETS; i++)
		if (dur_us <= bucket_us[i]) {
			atomic_fetch_add(&s->m.bucket[i], 1);
			break;
		}
	if (r != MN__SRV_R_EVENTS) {
		atomic_fetch_add(&s->m.count, 1);
		atomic_fetch_add(&s->m.sum_us, dur_us);
	}
	if (status == 429)
		atomic_fetch_add(&s->m.refused_busy, 1);

	json_t *o = json_object();
	if (!o)
		return;
	json_object_set_new(o, "method", json_string(method ? method : ""));
	/* The path without its query: MHD hands it so; a path that is not
	 * UTF-8 is logged as null. */
	json_object_set_new(o, "path", json_string(path ? path : ""));
	json_object_set_new(o, "route", json_string(route_names[r]));
	json_object_set_new(o, "status", json_integer(status));
	json_object_set_new(o, "duration_ms", json_real((double)dur_us / 1e3));
	log_line(s, o);
}

void mn__srv_log(mn__srv *s, const char *level, const char *msg,
		 const char *err)
{
	json_t *o = json_object();
	if (!o)
		return;
	json_object_set_new(o, "level", json_string(level));
	json_object_set_new(o, "msg", json_string(msg));
	if (err)
		json_object_set_new(o, "error", json_string(err));
	log_line(s, o);
}

/* ---- /metrics -------------------------------------------------------------
 */

typedef struct mbuf {
	char *p;
	size_t len, cap;
	bool oom;
} mbuf;

static void mput(mbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void mput(mbuf *b, const char *fmt, ...)
{
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n =
		    b->oom ? 0
			   : vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (b->oom || n < 0)
			return;
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap * 2 + (size_t)n;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
}

/* One metric with its HELP and TYPE lines and a single value. */
static void metric(mbuf *b, const char *name, const char *type,
		   const char *help, uint64_t v)
{
	mput(b, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name, type,
	     name, (unsigned long long)v);
}

/* A uint64_t field of a stats struct as a metric. */
typedef struct mdef {
	const char *name, *type, *help;
	size_t off;
} mdef;

#define RT(n, t, h, f)                                                         \
	{                                                                      \
		n, t, h, offsetof(mn_runtime_stats, f)                         \
	}
static const mdef rt_metrics[] = {
    RT("mnemo_actors_resident", "gauge", "Actors in memory.", actors),
    RT("mnemo_messages_sent_total", "counter",
       "Messages accepted by a send or spawn.", sent),
    RT("mnemo_messages_processed_total", "counter",
       "Messages handled or dropped.", processed),
    RT("mnemo_handler_errors_total", "counter",
       "init or handle calls that returned an error.", handler_errors),
    RT("mnemo_commit_groups_total", "counter", "Commit groups written.",
       commits),
    RT("mnemo_journaled_total", "counter", "Journal entries written.",
       journaled),
    RT("mnemo_outbox_delivered_total", "counter",
       "Stored messages delivered at open.", outbox_delivered),
    RT("mnemo_store_bytes", "gauge", "Size of the store on disk.", store_bytes),
    RT("mnemo_evictions_total", "counter", "Actors taken out of memory.",
       evictions),
    RT("mnemo_rehydrations_total", "counter",
       "Actors brought back from the store.", rehydrations),
    RT("mnemo_snapshots_total", "counter", "Snapshots written.", snapshots),
    RT("mnemo_replayed_total", "counter", "Journal entries replayed.",
       replayed),
    RT("mnemo_broken_actors_total", "counter",
       "Actors that could not be brought back.", broken),
    RT("mnemo_timers_fired_total", "counter", "Durable timers delivered.",
       timers_fired),
    RT("mnemo_events_total", "counter", "Failure events delivered.", events),
};
#undef RT

#define CS(n, t, h, f)                                                         \
	{                                                                      \
		n, t, h, offsetof(mn_call_stats, f)                            \
	}
static const mdef call_metrics[] = {
    CS("mnemo_calls_started_total", "counter",
       "Outbound call intents committed.", started),
    CS("mnemo_calls_pending", "gauge",
       "Outbound calls made, reply not handled.", pending),
    CS("mnemo_calls_inflight", "gauge", "HTTP transfers running.", inflight),
    CS("mnemo_calls_queued", "gauge",
       "HTTP calls waiting for a cap or a retry.", queued),
    CS("mnemo_calls_completed_total", "counter",
       "Call replies handed to their actor.", completed),
    CS("mnemo_calls_retries_total", "counter", "HTTP attempts after the first.",
       retries),
    CS("mnemo_calls_dropped_total", "counter", "Call replies dropped.",
       dropped),
};
#undef CS

static void metric_u64(mbuf *b, const mdef *d, const void *st)
{
	uint64_t v;
	memcpy(&v, (const char *)st + d->off, sizeof v);
	metric(b, d->name, d->type, d->help, v);
}

/* A runtime histogram (mn_runtime_histogram) in the Prometheus form:
 * cumulative buckets, scale turning its unit into the metric's (1e-6 for
 * microseconds to seconds; 1 for counts). */
static void metric_hist(mbuf *b, mn_runtime *rt, int which, const char *name,
			const char *help, double scale)
{
	mn_histogram h;
	if (mn_runtime_histogram(rt, which, &h))
		return;
	mput(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	uint64_t cum = 0;
	for (unsigned i = 0; i + 1 < MN_HISTOGRAM_BUCKETS; i++) {
		cum += h.bucket[i];
		mput(b, "%s_bucket{le=\"%g\"} %llu\n", name,
		     (double)h.le[i] * scale, (unsigned long long)cum);
	}
	cum += h.bucket[MN_HISTOGRAM_BUCKETS - 1];
	if (h.count < cum)
		h.count = cum;
	mput(b, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n",
	     name, (unsigned long long)h.count, name, (double)h.sum * scale,
	     name, (unsigned long long)h.count);
}

/* Counts of the store's records (the read-only handle, under store_mu). */
static void metric_store(mbuf *b, mn__srv *s)
{
	mn__store_stats ss;
	pthread_mutex_lock(&s->store_mu);
	int rc = s->c->store ? mn__store_stats_get(s->c->store, &ss) : -1;
	pthread_mutex_unlock(&s->store_mu);
	if (rc)
		return;
	metric(b, "mnemo_actors_persisted", "gauge",
	       "Actors in the store (as of the last commit).", ss.actors);
	metric(b, "mnemo_outbox_depth", "gauge",
	       "Stored messages not yet processed.", ss.outbox);
	metric(b, "mnemo_timers_pending", "gauge", "Durable timers stored.",
	       ss.timers);
	metric(b, "mnemo_calls_stored", "gauge",
	       "Outbound call intents stored, reply not journaled.", ss.calls);
	metric(b, "mnemo_journal_entries", "gauge",
	       "Journal entries in the store.", ss.log_entries);
}

char *mn__srv_metrics_text(mn__srv *s, size_t *len)
{
	mbuf b = {.cap = 8192};
	if (!(b.p = malloc(b.cap)))
		return NULL;
	b.p[0] = 0;
	mn_runtime_stats st;
	mn_runtime_stats_get(s->rt, &st);
	for (size_t i = 0; i < sizeof rt_metrics / sizeof rt_metrics[0]; i++)
		metric_u64(&b, &rt_metrics[i], &st);
	metric(&b, "mnemo_workers", "gauge", "Worker threads.", st.workers);
	metric(&b, "mnemo_store_error", "gauge",
	       "Sticky store failure (0 none, else the MN_E* code negated).",
	       (uint64_t)(st.store_error < 0 ? -st.store_error : 0));
	metric_store(&b, s);
	metric_hist(&b, s->rt, MN_HIST_REHYDRATE_US,
		    "mnemo_rehydration_duration_seconds",
		    "Time to bring an actor back from the store.", 1e-6);
	metric_hist(
	    &b, s->rt, MN_HIST_COMMIT_US, "mnemo_commit_group_duration_seconds",
	    "Time to write a commit group and release its effects.", 1e-6);
	metric_hist(&b, s->rt, MN_HIST_COMMIT_RECORDS,
		    "mnemo_commit_group_records", "Records in a commit group.",
		    1.0);
	mn_call_stats cs;
	if (mn_runtime_call_stats(s->rt, &cs) == 0)
		for (size_t i = 0;
		     i < sizeof call_metrics / sizeof call_metrics[0]; i++)
			metric_u64(&b, &call_metrics[i], &cs);
	metric(&b, "mnemo_serve_inflight_requests", "gauge",
	       "HTTP requests being handled.", atomic_load(&s->inflight));
	metric(&b, "mnemo_serve_waiting_requests", "gauge",
	       "Asks and stored sends waiting for their end.",
	       atomic_load(&s->waiting));
	metric(&b, "mnemo_serve_draining", "gauge", "1 while draining.",
	       (uint64_t)atomic_load(&s->draining));
	metric(&b, "mnemo_serve_asks_cancelled_total", "counter",
	       "Asks cancelled because their client closed the connection.",
	       atomic_load(&s->m.asks_cancelled));
	metric(&b, "mnemo_serve_event_streams", "gauge", "Event streams open.",
	       atomic_load(&s->streams));
	metric(&b, "mnemo_serve_stream_events_total", "counter",
	       "Events written to event streams.",
	       atomic_load(&s->m.stream_events));
	metric(&b, "mnemo_serve_stream_lost_total", "counter",
	       "Events event streams lost (their reader was too slow).",
	       atomic_load(&s->m.stream_lost));

	mput(&b, "# HELP mnemo_http_requests_total HTTP requests by route "
		 "and status code.\n"
		 "# TYPE mnemo_http_requests_total counter\n");
	for (size_t r = 0; r < MN__SRV_ROUTES; r++)
		for (size_t i = 0; i < MN__SRV_CODES; i++) {
			uint64_t v = atomic_load(&s->m.requests[r][i]);
			if (!v)
				continue;
			if (i < MN__SRV_CODES - 1)
				mput(&b,
				     "mnemo_http_requests_total{route=\"%s\","
				     "code=\"%u\"} %llu\n",
				     route_names[r], codes[i],
				     (unsigned long long)v);
			else
				mput(&b,
				     "mnemo_http_requests_total{route=\"%s\","
				     "code=\"other\"} %llu\n",
				     route_names[r], (unsigned long long)v);
		}
	mput(&b, "# HELP mnemo_http_request_duration_seconds HTTP request "
		 "latency.\n"
		 "# TYPE mnemo_http_request_duration_seconds histogram\n");
	uint64_t cum = 0;
	for (size_t i = 0; i < MN__SRV_BUCKETS; i++) {
		cum += atomic_load(&s->m.bucket[i]);
		mput(&b,
		     "mnemo_http_request_duration_seconds_bucket{le=\"%s\"} "
		     "%llu\n",
		     bucket_le[i], (unsigned long long)cum);
	}
	uint64_t count = atomic_load(&s->m.count);
	if (count < cum)
		count = cum;
	mput(&b,
	     "mnemo_http_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
	     "mnemo_http_request_duration_seconds_sum %.6f\n"
	     "mnemo_http_request_duration_seconds_count %llu\n",
	     (unsigned long long)count, (double)atomic_load(&s->m.sum_us) / 1e6,
	     (unsigned long long)count);
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	*len = b.len;
	return b.p;
}
