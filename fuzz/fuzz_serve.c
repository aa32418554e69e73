/*
 * fuzz_serve.c - libFuzzer target for the request decoding of `mnemo
 * serve` (recovery/serve_decode.c and the parsers it leans on): what a
 * client's bytes turn into before anything reaches the runtime.
 *
 * Input layout: byte 0 chooses (low 2 bits) what the rest is: 0 a message
 * body (mn__srv_decode_message, with a payload limit chosen by bits 2-3:
 * 1 MiB, 64 bytes, 1 byte, 0), 1 an actor key as a path gives it
 * (mn__cli_key_parse), 2 a query value (mn__srv_decode_u64) and a base64
 * text (mn__b64_decode), 3 a token line (mn__srv_token_parse). Text inputs
 * end at their first NUL, as a C string from libmicrohttpd does. Every
 * call must end in success or a stated refusal, never crash or leak, and:
 *   - a decoded message's payload is within the limit, NULL iff empty,
 *     and a "payload" decodes to bytes whose base64 is that text again
 *     modulo nothing (decode(encode(p)) == p);
 *   - a parsed key is 1..255 bytes and its shown form parses back to it;
 *   - a parsed token is non-empty, without blanks, and each kind of its
 *     allow-list is 1..64 bytes.
 * A broken property aborts (a crash to libFuzzer, a failure to the cmocka
 * corpus run in tests/recovery/test_serve_decode.c).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recovery/serve.h"

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_serve: property broken: %s\n", what);
		abort();
	}
}

static void fz_message(const uint8_t *d, size_t n, unsigned sel)
{
	static const size_t limits[4] = {1u << 20, 64, 1, 0};
	size_t limit = limits[(sel >> 2) & 3];
	uint32_t type = 0;
	unsigned char *p = NULL;
	size_t len = 0;
	int code = 0;
	const char *why = NULL;
	unsigned st =
	    mn__srv_decode_message(d, n, limit, &type, &p, &len, &code, &why);
	if (st) {
		check(st == 400 || st == 413 || st == 500, "status");
		check(why != NULL && code < 0, "a refusal has a reason");
		check(p == NULL, "no payload on a refusal");
		return;
	}
	check(len <= limit, "payload within the limit");
	check((p == NULL) == (len == 0), "payload NULL iff empty");
	char *b = mn__b64_encode(p ? (const void *)p : "", len);
	if (b) {
		unsigned char *back = NULL;
		size_t blen = 0;
		check(mn__b64_decode(b, strlen(b), &back, &blen) == 0,
		      "base64 of a payload decodes");
		check(blen == len && (!len || memcmp(back, p, len) == 0),
		      "base64 round trip");
		free(back);
		free(b);
	}
	free(p);
}

static void fz_key(const char *text)
{
	unsigned char key[MN_KEY_MAX], again[MN_KEY_MAX];
	size_t len = 0, alen = 0;
	if (mn__cli_key_parse(text, key, &len) != 0)
		return;
	check(len >= 1 && len <= MN_KEY_MAX, "key length");
	char shown[MN__CLI_KEY_CAP];
	mn__cli_key_format(shown, key, len);
	check(mn__cli_key_parse(shown, again, &alen) == 0, "shown key parses");
	check(alen == len && memcmp(key, again, len) == 0, "key round trip");
}

static void fz_query(const char *text, size_t n)
{
	uint64_t v = 7;
	if (mn__srv_decode_u64(text, 7, &v) == 0 && !*text)
		check(v == 7, "absent query value is the default");
	unsigned char *out = NULL;
	size_t len = 0;
	int rc = mn__b64_decode(text, n, &out, &len);
	check(rc == 0 || rc == MN_EINVAL || rc == MN_ENOMEM, "base64 result");
	if (rc == 0) {
		check(len <= n / 4 * 3, "base64 length");
		free(out);
	}
}

static void fz_token(const char *text, size_t n)
{
	mn__srv_token t;
	const char *why = NULL;
	int rc = mn__srv_token_parse(text, n, &t, &why);
	if (rc < 0) {
		check(why != NULL, "a refused line has a reason");
		return;
	}
	if (rc > 0)
		return;
	check(t.len > 0 && strlen(t.token) == t.len, "token length");
	check(strcspn(t.token, " \t\r") == t.len, "token without blanks");
	for (size_t i = 0; i < t.nkinds; i++)
		check(*t.kinds[i] && strlen(t.kinds[i]) <= MN_KIND_NAME_MAX,
		      "kind name length");
	mn__srv_token_free(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned sel = data[0];
	const uint8_t *d = data + 1;
	size_t n = size - 1;
	if ((sel & 3) == 0) {
		fz_message(d, n, sel);
		return 0;
	}
	/* The rest as a C string (up to its first NUL). */
	char *text = malloc(n + 1);
	if (!text)
		return 0;
	memcpy(text, d, n);
	text[n] = 0;
	size_t tlen = strlen(text);
	if ((sel & 3) == 1)
		fz_key(text);
	else if ((sel & 3) == 2)
		fz_query(text, tlen);
	else
		fz_token(text, tlen);
	free(text);
	return 0;
}
