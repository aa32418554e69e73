/*
 * calls.c - the "calls" database: outbound calls whose reply has not landed
 * (docs/format.md). A record is a framed CallIntent, keyed (actor id, call
 * id) big-endian, written by the commit of the message that made the call
 * and removed by the commit that delivers its reply or cancels it. The
 * bytes are packed by core/ (it owns the intent's meaning); storage frames,
 * checks and scans them. A store made before calls existed has no such
 * database: writable opens create it, read-only ones see no calls.
 */
#include <stdio.h>
#include <string.h>

#include "storage/scan.h"
#include "storage/store_int.h"

#include "base/byteorder.h"
#include "storage/frame.h"

static void call_key(unsigned char kb[16], uint64_t actor_id, uint64_t call_id)
{
	mn__be64_put(kb, actor_id);
	mn__be64_put(kb + 8, call_id);
}

int mn__st_put_calls(mn__store *s, MDB_txn *txn, const mn__wbatch *b)
{
	unsigned char kb[16];
	MDB_val k = {.mv_size = 16, .mv_data = kb};
	int rc;
	for (size_t i = 0; i < b->n_calls; i++) {
		const mn__wcall *c = &b->calls[i];
		MDB_val v = {.mv_size = FRAME_HDR + c->len};
		call_key(kb, c->actor_id, c->call_id);
		if ((rc = mdb_put(txn, s->dbi[DB_CALLS], &k, &v, MDB_RESERVE)))
			return mn__st_mdb_fail(s, rc, "writing a call intent");
		memcpy((unsigned char *)v.mv_data + FRAME_HDR, c->intent,
		       c->len);
		mn__frame_seal(v.mv_data, R_CALL, c->len);
	}
	for (size_t i = 0; i < b->n_call_del; i++) {
		call_key(kb, b->call_del[i].actor_id, b->call_del[i].call_id);
		rc = mdb_del(txn, s->dbi[DB_CALLS], &k, NULL);
		if (rc && rc != MDB_NOTFOUND)
			return mn__st_mdb_fail(s, rc, "removing a call intent");
	}
	return 0;
}

typedef struct calls_scan {
	mn__store *s;
	mn__call_cb cb;
	void *arg;
	uint64_t actor_id; /* del: the actor whose calls go */
	uint64_t *n;
} calls_scan;

static int call_record(void *arg, mn__scan_at *at)
{
	calls_scan *cs = arg;
	const unsigned char *body;
	size_t len;
	char where[48];
	if (at->k.mv_size != 16)
		return mn__st_fail(cs->s, MN_ECORRUPT,
				   "calls: a %zu-byte key (not actor and call)",
				   at->k.mv_size);
	mn__call_rec c = {
	    .actor_id = mn__be64_get(at->k.mv_data),
	    .call_id = mn__be64_get((unsigned char *)at->k.mv_data + 8),
	};
	snprintf(where, sizeof where, "%llu/%llu",
		 (unsigned long long)c.actor_id, (unsigned long long)c.call_id);
	int rc = mn__frame_open(cs->s, &at->v, R_CALL, DB_CALLS,
				MN__FRAME_NAMED, where, &body, &len);
	if (rc)
		return rc;
	c.intent = body;
	c.len = len;
	return cs->cb(cs->arg, &c);
}

int mn__store_calls_scan(mn__store *s, uint64_t actor_id, mn__call_cb cb,
			 void *arg)
{
	MDB_txn *txn;
	unsigned char kb[16];
	MDB_val from = {.mv_size = 16, .mv_data = kb};
	calls_scan cs = {.s = s, .cb = cb, .arg = arg};
	mn__scan_spec sp = {.dbi = s->dbi[DB_CALLS],
			    .from = actor_id ? &from : NULL,
			    .prefix = actor_id ? 8 : 0,
			    .opening = "opening calls",
			    .reading = "reading calls"};
	if (s->no_calls)
		return 0;
	call_key(kb, actor_id, 0);
	int rc = mn__st_txn_begin(s, false, &txn);
	if (rc)
		return mn__st_mdb_fail(s, rc, "beginning a read");
	rc = mn__scan(s, txn, &sp, call_record, &cs);
	mn__st_txn_abort(s, txn);
	return rc;
}

static int del_call(void *arg, mn__scan_at *at)
{
	calls_scan *cs = arg;
	int e;
	if ((e = mdb_cursor_del(at->cur, 0)))
		return mn__st_mdb_fail(cs->s, e, "deleting calls");
	(*cs->n)++;
	return 0;
}

int mn__st_del_calls(mn__store *s, MDB_txn *txn, uint64_t actor_id, uint64_t *n)
{
	unsigned char kb[16];
	MDB_val from = {.mv_size = 16, .mv_data = kb};
	calls_scan cs = {.s = s, .actor_id = actor_id, .n = n};
	mn__scan_spec sp = {.dbi = s->dbi[DB_CALLS],
			    .from = &from,
			    .prefix = 8,
			    .opening = "opening calls",
			    .reading = "deleting calls"};
	if (s->no_calls)
		return 0;
	call_key(kb, actor_id, 0);
	return mn__scan(s, txn, &sp, del_call, &cs);
}

/* ---- the intent record (CallIntent), packed for core/ -------------------- */

int mn__intent_pack(const mn__intent *in, mn_buf *out)
{
	Mnemo__CallIntent c = MNEMO__CALL_INTENT__INIT;
	c.call_id = in->call_id;
	c.actor_id = in->actor_id;
	c.kind_id = in->kind_id;
	c.seq = in->seq;
	c.reply_type = in->reply_type;
	c.transport = in->transport;
	c.method = (char *)(in->method ? in->method : "");
	c.url = (char *)(in->url ? in->url : "");
	c.n_headers = in->n_headers;
	c.headers = (char **)in->headers;
	c.body.data = (uint8_t *)in->body;
	c.body.len = in->body_len;
	c.credential = (char *)(in->credential ? in->credential : "");
	c.timeout_ms = in->timeout_ms;
	c.max_attempts = in->max_attempts;
	c.backoff_ms = in->backoff_ms;
	c.max_response = in->max_response;
	c.flags = in->flags;
	c.request_hash = in->request_hash;
	c.created_unix_ms = in->created_unix_ms;
	size_t n = mnemo__call_intent__get_packed_size(&c);
	int rc = mn__buf_reserve(out, n);
	if (rc)
		return rc;
	mnemo__call_intent__pack(&c, (uint8_t *)out->data + out->len);
	out->len += n;
	return 0;
}

int mn__intent_unpack(const void *p, size_t len, mn__intent *out, void **hold)
{
	Mnemo__CallIntent *c = mnemo__call_intent__unpack(NULL, len, p);
	*hold = c;
	if (!c)
		return MN_ECORRUPT;
	*out = (mn__intent){
	    .call_id = c->call_id,
	    .actor_id = c->actor_id,
	    .kind_id = c->kind_id,
	    .seq = c->seq,
	    .reply_type = c->reply_type,
	    .transport = c->transport,
	    .method = c->method,
	    .url = c->url,
	    .headers = (const char *const *)c->headers,
	    .n_headers = c->n_headers,
	    .body = c->body.data,
	    .body_len = c->body.len,
	    .credential =
		c->credential && *c->credential ? c->credential : NULL,
	    .timeout_ms = c->timeout_ms,
	    .max_attempts = c->max_attempts,
	    .backoff_ms = c->backoff_ms,
	    .max_response = c->max_response,
	    .flags = c->flags,
	    .request_hash = c->request_hash,
	    .created_unix_ms = c->created_unix_ms,
	};
	return 0;
}

void mn__intent_release(void *hold)
{
	if (hold)
		mnemo__call_intent__free_unpacked(hold, NULL);
}
