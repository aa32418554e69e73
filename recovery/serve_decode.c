/*
 * serve_decode.c - what the bytes of a `mnemo serve` request decode to,
 * apart from any connection: a message body (JSON through jansson, its
 * payload as base64 or as JSON text), a decimal query value, base64. No
 * I/O and no state, so fuzz/fuzz_serve.c runs it directly on arbitrary
 * bytes (with the key parser, mn__cli_key_parse, and the token line
 * parser, mn__srv_token_parse).
 *
 * Owns: every input ends in 0 or an HTTP status with a reason, never a
 * crash, a leak or a read outside the given bytes.
 *
 * Threads: any (nothing shared).
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "recovery/serve.h"

unsigned mn__srv_decode_message(const void *body, size_t len,
				size_t max_payload, uint32_t *type,
				unsigned char **p, size_t *plen, int *code,
				const char **why)
{
	json_error_t jerr;
	*p = NULL;
	*plen = 0;
	*code = MN_EINVAL;
	json_t *o = len ? json_loadb(body, len, 0, &jerr) : NULL;
	if (!o) {
		*why = len ? "the body is not JSON" : "a JSON body is required";
		return 400;
	}
	json_t *t = json_object_get(o, "type");
	json_t *b = json_object_get(o, "payload");
	json_t *j = json_object_get(o, "json");
	*why = NULL;
	if (!json_is_object(o))
		*why = "the body must be a JSON object";
	else if (!json_is_integer(t) || json_integer_value(t) < 0 ||
		 json_integer_value(t) > UINT32_MAX)
		*why = "\"type\" must be an integer 0..4294967295";
	else if (b && j)
		*why = "give \"payload\" or \"json\", not both";
	else if (b && !json_is_string(b))
		*why = "\"payload\" must be a base64 string";
	if (*why) {
		json_decref(o);
		return 400;
	}
	*type = (uint32_t)json_integer_value(t);
	int rc = 0;
	if (b) {
		rc = mn__b64_decode(json_string_value(b), json_string_length(b),
				    p, plen);
	} else if (j) {
		char *text = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY |
					       JSON_PRESERVE_ORDER);
		if (text) {
			*p = (unsigned char *)text;
			*plen = strlen(text);
		} else {
			rc = MN_ENOMEM;
		}
	}
	json_decref(o);
	if (rc) {
		*code = rc;
		*why = rc == MN_EINVAL ? "\"payload\" is not valid base64"
				       : "out of memory";
		return rc == MN_EINVAL ? 400 : 500;
	}
	if (!*plen) {
		/* "payload": "" is no bytes: NULL, as without a payload. */
		free(*p);
		*p = NULL;
	}
	if (*plen > max_payload) {
		free(*p);
		*p = NULL;
		*plen = 0;
		*code = MN_ETOOBIG;
		*why = "the payload is over the size limit";
		return 413;
	}
	return 0;
}

int mn__srv_decode_u64(const char *text, uint64_t dflt, uint64_t *v)
{
	*v = dflt;
	if (!text || !*text)
		return 0;
	return mn__cli_parse_u64(text, v);
}

/* ---- base64 ---------------------------------------------------------------
 */

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *mn__b64_encode(const void *p, size_t len)
{
	const unsigned char *in = p;
	char *out = malloc((len + 2) / 3 * 4 + 1), *o = out;
	if (!out)
		return NULL;
	size_t i = 0;
	for (; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
			     in[i + 2];
		*o++ = b64[v >> 18];
		*o++ = b64[v >> 12 & 63];
		*o++ = b64[v >> 6 & 63];
		*o++ = b64[v & 63];
	}
	if (i < len) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)in[i + 1] << 8;
		*o++ = b64[v >> 18];
		*o++ = b64[v >> 12 & 63];
		*o++ = i + 1 < len ? b64[v >> 6 & 63] : '=';
		*o++ = '=';
	}
	*o = 0;
	return out;
}

static int b64_value(char ch)
{
	const char *p = ch ? strchr(b64, ch) : NULL;
	return p ? (int)(p - b64) : -1;
}

int mn__b64_decode(const char *s, size_t slen, unsigned char **out, size_t *len)
{
	if (slen % 4)
		return MN_EINVAL;
	unsigned char *o = malloc(slen / 4 * 3 + 1);
	if (!o)
		return MN_ENOMEM;
	size_t n = 0;
	for (size_t i = 0; i < slen; i += 4) {
		int v[4];
		bool last = i + 4 == slen;
		size_t pad = 0;
		for (size_t j = 0; j < 4; j++) {
			if (last && j >= 2 && s[i + j] == '=' &&
			    (j == 3 || s[i + 3] == '=')) {
				v[j] = 0;
				pad++;
				continue;
			}
			if ((v[j] = b64_value(s[i + j])) < 0) {
				free(o);
				return MN_EINVAL;
			}
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
			     (uint32_t)v[2] << 6 | (uint32_t)v[3];
		o[n++] = (unsigned char)(w >> 16);
		if (pad < 2)
			o[n++] = (unsigned char)(w >> 8);
		if (pad < 1)
			o[n++] = (unsigned char)w;
	}
	*out = o;
	*len = n;
	return 0;
}
