/*
 * cli_calls.c - outbound calls as the tool shows them (docs/tool.md): a
 * call intent (the packed CallIntent a journal entry and the "calls"
 * database keep, decoded by storage's mn__intent_unpack) and a reply
 * envelope (the payload of a MN_MSG_CALL message, decoded by the public
 * mn_call_reply_decode), in text and in JSON. `dump` and `replay` share
 * them. An intent holds a credential's name only: there is no secret to
 * show.
 */
#include <stdio.h>
#include <string.h>

#include "include/mnemo.h"
#include "recovery/cli.h"

const char *mn__cli_transport(uint32_t transport)
{
	return transport == MN__CALL_HTTP     ? "http"
	       : transport == MN__CALL_BRIDGE ? "bridge"
					      : "unknown";
}

void mn__cli_intent_text(FILE *f, const char *indent, const mn__intent *in)
{
	fprintf(f, "%scall %llu (index %u)  ", indent,
		(unsigned long long)in->call_id,
		(unsigned)(in->call_id & 0xffffu));
	if (in->transport == MN__CALL_BRIDGE)
		fprintf(f, "bridge  request %zu B", in->body_len);
	else
		fprintf(f, "%s %s  body %zu B", in->method ? in->method : "",
			in->url ? in->url : "", in->body_len);
	fprintf(f, "  reply type %u  hash 0x%016llx", in->reply_type,
		(unsigned long long)in->request_hash);
	if (in->credential)
		fprintf(f, "  credential %s", in->credential);
	fputc('\n', f);
	for (size_t i = 0; i < in->n_headers; i++)
		fprintf(f, "%s    %s\n", indent, in->headers[i]);
}

/* prefix + key into buf. */
static const char *pk(char *buf, size_t cap, const char *prefix,
		      const char *key)
{
	snprintf(buf, cap, "%s%s", prefix, key);
	return buf;
}

void mn__cli_intent_json(mn__jw *w, const char *prefix, const mn__intent *in)
{
	char k[64], h[24];
	mn__jw_u64(w, pk(k, sizeof k, prefix, "call_id"), in->call_id);
	mn__jw_u64(w, pk(k, sizeof k, prefix, "index"), in->call_id & 0xffffu);
	mn__jw_u64(w, pk(k, sizeof k, prefix, "seq"), in->seq);
	mn__jw_str(w, pk(k, sizeof k, prefix, "transport"),
		   mn__cli_transport(in->transport));
	mn__jw_str(w, pk(k, sizeof k, prefix, "method"),
		   in->method ? in->method : "");
	mn__jw_str(w, pk(k, sizeof k, prefix, "url"), in->url ? in->url : "");
	mn__jw_strs(w, pk(k, sizeof k, prefix, "headers"), in->headers,
		    in->n_headers);
	mn__jw_u64(w, pk(k, sizeof k, prefix, "body_bytes"), in->body_len);
	mn__jw_hex(w, pk(k, sizeof k, prefix, "body_hex"), in->body,
		   in->body_len);
	snprintf(h, sizeof h, "0x%016llx",
		 (unsigned long long)in->request_hash);
	mn__jw_str(w, pk(k, sizeof k, prefix, "request_hash"), h);
	if (in->credential)
		mn__jw_str(w, pk(k, sizeof k, prefix, "credential"),
			   in->credential);
	else
		mn__jw_null(w, pk(k, sizeof k, prefix, "credential"));
	mn__jw_u64(w, pk(k, sizeof k, prefix, "reply_type"), in->reply_type);
	mn__jw_u64(w, pk(k, sizeof k, prefix, "timeout_ms"), in->timeout_ms);
	mn__jw_u64(w, pk(k, sizeof k, prefix, "max_attempts"),
		   in->max_attempts);
	mn__jw_time(w, pk(k, sizeof k, prefix, "created"), in->created_unix_ms);
}

/* The envelope of a reply message (flags MN_MSG_CALL). */
static int reply_decode(const void *payload, size_t len, mn_call_reply *r)
{
	mn_msg m = {.flags = MN_MSG_CALL, .payload = payload, .len = len};
	return mn_call_reply_decode(&m, r);
}

void mn__cli_reply_text(FILE *f, const char *indent, const void *payload,
			size_t len)
{
	mn_call_reply r;
	if (reply_decode(payload, len, &r)) {
		fprintf(f, "%sreply: undecodable envelope (%zu B)\n", indent,
			len);
		return;
	}
	fprintf(f, "%sreply to call %llu: ", indent,
		(unsigned long long)r.call_id);
	if (r.err)
		fprintf(f, "%s (%s)", mn_err_name(r.err), r.reason);
	else
		fprintf(f, "status %d", r.status);
	fprintf(f, "  body %zu B  latency %.1f ms  attempts %u\n", r.body_len,
		(double)r.latency_us / 1000.0, r.attempts);
}

void mn__cli_reply_json(mn__jw *w, const void *payload, size_t len)
{
	mn_call_reply r;
	bool ok = reply_decode(payload, len, &r) == 0;
	mn__jw_bool(w, "reply_ok", ok);
	if (!ok)
		return;
	mn__jw_u64(w, "reply_call_id", r.call_id);
	if (r.err)
		mn__jw_str(w, "reply_err", mn_err_name(r.err));
	else
		mn__jw_null(w, "reply_err");
	mn__jw_str(w, "reply_reason", r.reason);
	mn__jw_i64(w, "reply_status", r.status);
	mn__jw_u64(w, "reply_body_bytes", r.body_len);
	mn__jw_u64(w, "reply_headers_bytes", r.headers_len);
	mn__jw_u64(w, "reply_latency_us", r.latency_us);
	mn__jw_u64(w, "reply_attempts", r.attempts);
}
