/*
 * serve_history.c - the journal of one actor as pages of JSON, for `GET
 * /v1/actors/{kind}/{key}/history?from=&limit=` (docs/serve.md).
 *
 * Read from the store opened read-only beside the runtime (s->c->store,
 * under store_mu), with the storage calls `mnemo dump` uses
 * (mn__store_actor_find, mn__store_history, the intents of each entry):
 * what is committed, never a message in the actor's journal. The stored
 * head of an actor is exact only at the writer's checkpoints: the entries
 * after it are read from the log's tail since the last checkpoint. Each
 * entry:
 * seq, lsn, type, time, sender, flags, the payload as base64 (and as JSON
 * when it is), the kind's state hash after it, the calls it made (their
 * intents) and, for a call's reply, its envelope.
 *
 * Threads: libmicrohttpd's pool.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recovery/serve.h"

typedef struct hpage {
	mn__srv *s;
	json_t *arr;
	uint64_t limit, next;
	bool more;
	/* The log's tail: this actor's entries after its stored head. */
	uint64_t actor_id, after_seq;
} hpage;

static void set_u64(json_t *o, const char *k, uint64_t v)
{
	json_object_set_new(o, k, json_integer((json_int_t)v));
}

static void set_b64(json_t *o, const char *k, const void *p, size_t len)
{
	char *b = mn__b64_encode(p, len);
	json_object_set_new(o, k, b ? json_string(b) : json_null());
	free(b);
}

/* A call intent (packed), or {"call_id":ID,"damaged":true}. */
static json_t *intent_json(const void *p, size_t len, uint64_t call_id)
{
	json_t *o = json_object();
	mn__intent in;
	void *hold;
	if (mn__intent_unpack(p, len, &in, &hold)) {
		mn__intent_release(hold);
		set_u64(o, "call_id", call_id);
		json_object_set_new(o, "damaged", json_true());
		return o;
	}
	char h[24];
	set_u64(o, "call_id", in.call_id);
	json_object_set_new(o, "transport",
			    json_string(mn__cli_transport(in.transport)));
	json_object_set_new(o, "method",
			    json_string(in.method ? in.method : ""));
	json_object_set_new(o, "url", json_string(in.url ? in.url : ""));
	json_t *hs = json_array();
	for (size_t i = 0; i < in.n_headers; i++)
		json_array_append_new(hs, json_string(in.headers[i]));
	json_object_set_new(o, "headers", hs);
	set_u64(o, "body_bytes", in.body_len);
	set_b64(o, "body_base64", in.body, in.body_len);
	snprintf(h, sizeof h, "0x%016llx", (unsigned long long)in.request_hash);
	json_object_set_new(o, "request_hash", json_string(h));
	json_object_set_new(o, "credential",
			    in.credential ? json_string(in.credential)
					  : json_null());
	set_u64(o, "reply_type", in.reply_type);
	set_u64(o, "timeout_ms", in.timeout_ms);
	set_u64(o, "max_attempts", in.max_attempts);
	mn__intent_release(hold);
	return o;
}

/* The envelope of a call's reply (an entry flagged MN_MSG_CALL). */
static json_t *reply_json(const void *p, size_t len)
{
	mn_msg m = {.flags = MN_MSG_CALL, .payload = p, .len = len};
	mn_call_reply r;
	json_t *o = json_object();
	if (mn_call_reply_decode(&m, &r)) {
		json_object_set_new(o, "damaged", json_true());
		return o;
	}
	set_u64(o, "call_id", r.call_id);
	json_object_set_new(
	    o, "err", r.err ? json_string(mn_err_name(r.err)) : json_null());
	json_object_set_new(o, "reason", json_string(r.reason));
	json_object_set_new(o, "status", json_integer(r.status));
	set_u64(o, "body_bytes", r.body_len);
	set_u64(o, "latency_us", r.latency_us);
	set_u64(o, "attempts", r.attempts);
	return o;
}

static int on_entry(void *arg, const mn__entry *e)
{
	hpage *h = arg;
	if (json_array_size(h->arr) == h->limit) {
		h->more = true;
		h->next = e->seq;
		return MN__CLI_STOP;
	}
	char t[MN__CLI_TIME_CAP], who[MN__CLI_ADDR_CAP], fl[64], hash[24];
	json_t *o = mn__srv_message_json(e->type, e->payload, e->len);
	set_u64(o, "seq", e->seq);
	set_u64(o, "lsn", e->lsn);
	mn__cli_time(t, e->unix_ms);
	json_object_set_new(o, "time", json_string(t));
	set_u64(o, "unix_ms", e->unix_ms);
	mn__cli_actor_name(h->s->c, who, e->sender_id);
	json_object_set_new(o, "sender", json_string(who));
	set_u64(o, "sender_id", e->sender_id);
	mn__cli_flags(fl, e->flags);
	json_object_set_new(o, "flags", json_string(fl));
	if (e->state_hash) {
		snprintf(hash, sizeof hash, "0x%016llx",
			 (unsigned long long)e->state_hash);
		json_object_set_new(o, "state_hash", json_string(hash));
	} else {
		json_object_set_new(o, "state_hash", json_null());
	}
	json_t *calls = json_array();
	for (size_t i = 0; i < e->n_calls; i++)
		json_array_append_new(calls,
				      intent_json(e->calls[i], e->call_lens[i],
						  e->seq << 16 | i));
	json_object_set_new(o, "calls", calls);
	if (e->flags & MN_MSG_CALL)
		json_object_set_new(o, "reply", reply_json(e->payload, e->len));
	json_array_append_new(h->arr, o);
	return 0;
}

/* An entry of the log's tail: this actor's, newer than its stored head. */
static int on_tail(void *arg, const mn__entry *e)
{
	hpage *h = arg;
	if (e->actor_id != h->actor_id || e->seq <= h->after_seq)
		return 0;
	h->after_seq = e->seq;
	return on_entry(h, e);
}

int mn__srv_history(mn__srv *s, const char *kname, const void *key,
		    size_t key_len, uint64_t from, uint64_t limit, json_t **out)
{
	hpage h = {.s = s, .arr = json_array(), .limit = limit};
	mn__actor_meta m;
	uint32_t kind_id;
	int rc;
	*out = NULL;
	if (!h.arr)
		return MN_ENOMEM;
	mn__store_stats st;
	pthread_mutex_lock(&s->store_mu);
	/* The checkpoint first: the heads read after it are exact up to it
	 * at least. */
	if ((rc = mn__store_stats_get(s->c->store, &st)) != 0) {
		/* said by rc */
	} else if (mn__store_kind_id(s->c->store, kname, &kind_id) != 0 ||
		   mn__store_actor_find(s->c->store, kind_id, key, key_len,
					&m) != 0) {
		rc = MN_ENOACTOR;
	} else {
		/* Compacted: the journal starts after the compaction point. */
		uint64_t start = mn__cli_history_start(s->c, &m);
		if (from <= start)
			from = start + 1;
		rc =
		    from > m.last_seq
			? 0
			: mn__store_history(s->c->store, s->c->codec,
					    m.last_lsn, from - 1, on_entry, &h);
		/* The stored head trails the live one until the writer's
		 * next checkpoint: the newer entries are in the log after
		 * it (a scan bounded by the checkpoint interval). */
		h.actor_id = m.id;
		h.after_seq = from - 1 > m.last_seq ? from - 1 : m.last_seq;
		uint64_t tail = m.last_lsn > st.checkpoint_lsn
				    ? m.last_lsn
				    : st.checkpoint_lsn;
		if (!rc)
			rc = mn__store_log_scan(s->c->store, s->c->codec,
						tail + 1, on_tail, &h);
		if (rc == MN__CLI_STOP)
			rc = 0;
	}
	pthread_mutex_unlock(&s->store_mu);
	if (rc) {
		json_decref(h.arr);
		return rc;
	}
	json_t *o = json_object();
	json_object_set_new(o, "entries", h.arr);
	json_object_set_new(
	    o, "next", h.more ? json_integer((json_int_t)h.next) : json_null());
	*out = o;
	return 0;
}
