/*
 * call_reply.c - the reply envelope of an outbound call (the payload of a
 * MN_MSG_CALL message, docs/format.md "Call replies") and the canonical
 * request hash. Both are part of the store format: a journal keeps them.
 *
 * Envelope, little-endian:
 *   0  "MNCR"          4  version (1), 3 zero bytes
 *   8  call id u64     16 err i32       20 status i32
 *   24 attempts u32    28 reason length u32 (without its NUL)
 *   32 latency us u64  40 headers length u32   44 zero u32
 *   48 body length u64
 *   56 reason bytes, NUL, header bytes, body bytes
 * Any thread; no state.
 */
#include <string.h>
#include <strings.h>

#include "base/byteorder.h"
#include "base/hash.h"
#include "core/calls.h"

#define REPLY_MAGIC   "MNCR"
#define REPLY_VERSION 1

int mn__reply_encode(const mn__reply_parts *r, mn_buf *out)
{
	const char *reason = r->reason ? r->reason : "";
	size_t rl = strlen(reason);
	if (rl > UINT32_MAX / 2 || r->headers_len > UINT32_MAX / 2)
		return MN_ETOOBIG;
	size_t total = MN__REPLY_HDR + rl + 1 + r->headers_len + r->body_len;
	int rc = mn__buf_reserve(out, total);
	if (rc)
		return rc;
	unsigned char *p = (unsigned char *)out->data + out->len;
	memset(p, 0, MN__REPLY_HDR);
	memcpy(p, REPLY_MAGIC, 4);
	p[4] = REPLY_VERSION;
	mn__le64_put(p + 8, r->call_id);
	mn__le32_put(p + 16, (uint32_t)r->err);
	mn__le32_put(p + 20, (uint32_t)r->status);
	mn__le32_put(p + 24, r->attempts);
	mn__le32_put(p + 28, (uint32_t)rl);
	mn__le64_put(p + 32, r->latency_us);
	mn__le32_put(p + 40, (uint32_t)r->headers_len);
	mn__le64_put(p + 48, (uint64_t)r->body_len);
	unsigned char *q = p + MN__REPLY_HDR;
	memcpy(q, reason, rl + 1);
	q += rl + 1;
	if (r->headers_len)
		memcpy(q, r->headers, r->headers_len);
	q += r->headers_len;
	if (r->body_len)
		memcpy(q, r->body, r->body_len);
	out->len += total;
	return 0;
}

int mn_call_reply_decode(const mn_msg *msg, mn_call_reply *out)
{
	if (!msg || !out || !(msg->flags & MN_MSG_CALL) ||
	    msg->len < MN__REPLY_HDR || !msg->payload)
		return MN_EINVAL;
	const unsigned char *p = msg->payload;
	if (memcmp(p, REPLY_MAGIC, 4) != 0 || p[4] != REPLY_VERSION)
		return MN_EINVAL;
	uint64_t rl = mn__le32_get(p + 28), hl = mn__le32_get(p + 40),
		 bl = mn__le64_get(p + 48);
	uint64_t room = msg->len - MN__REPLY_HDR;
	/* Each length checked against what is left: no sum can wrap. */
	if (rl >= room || hl > room - rl - 1 || bl != room - rl - 1 - hl)
		return MN_EINVAL;
	const unsigned char *q = p + MN__REPLY_HDR;
	if (q[rl] != '\0' || memchr(q, '\0', rl))
		return MN_EINVAL;
	*out = (mn_call_reply){
	    .call_id = mn__le64_get(p + 8),
	    .err = (int)mn__le32_get(p + 16),
	    .status = (int)mn__le32_get(p + 20),
	    .attempts = mn__le32_get(p + 24),
	    .latency_us = mn__le64_get(p + 32),
	    .reason = (const char *)q,
	    .headers = (const char *)q + rl + 1,
	    .headers_len = (size_t)hl,
	    .body = bl ? q + rl + 1 + hl : NULL,
	    .body_len = (size_t)bl,
	};
	return 0;
}

const char *mn_call_reply_header(const mn_call_reply *r, const char *name,
				 size_t *len)
{
	if (!r || !name)
		return NULL;
	size_t nl = strlen(name);
	const char *p = r->headers, *end = r->headers + r->headers_len;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *le = eol ? eol : end;
		if ((size_t)(le - p) > nl && p[nl] == ':' &&
		    strncasecmp(p, name, nl) == 0) {
			const char *v = p + nl + 1;
			while (v < le && (*v == ' ' || *v == '\t'))
				v++;
			const char *ve = le;
			while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' ||
					  ve[-1] == '\t'))
				ve--;
			if (len)
				*len = (size_t)(ve - v);
			return v;
		}
		p = eol ? eol + 1 : end;
	}
	return NULL;
}

/* One field of the canonical request: its length, then its bytes. */
static uint64_t hash_part(uint64_t h, const void *p, size_t len)
{
	return mn__hash(h ^ (uint64_t)len, p, len);
}

uint64_t mn__request_hash(const char *method, const char *url,
			  const char *const *headers, size_t n_headers,
			  const void *body, size_t body_len)
{
	uint64_t h = mn__hash(0x63616c6cull, "mnemo-call-v1", 13);
	h = hash_part(h, method, strlen(method));
	h = hash_part(h, url, strlen(url));
	h = hash_part(h ^ (uint64_t)n_headers, "", 0);
	for (size_t i = 0; i < n_headers; i++)
		h = hash_part(h, headers[i], strlen(headers[i]));
	h = hash_part(h, body, body_len);
	return h ? h : 1;
}
