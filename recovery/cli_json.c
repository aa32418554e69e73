/*
 * cli_json.c - JSON lines for the tool's --json output, and the UTF-8 test
 * both the JSON and the text output use.
 *
 * Every string the tool writes in JSON goes through mn__json_string: valid
 * UTF-8 passes as is, control characters, quotes and backslashes are
 * escaped, and a byte that does not start a valid UTF-8 sequence becomes
 * U+FFFD, so the output is valid JSON whatever the store holds. Raw bytes
 * that must survive exactly (keys, payloads) are also written as hex.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "recovery/cli.h"

/* Length of the valid UTF-8 sequence at p (n bytes left), 0 if invalid:
 * no overlong forms, no surrogates, nothing above U+10FFFF. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
	unsigned char c = p[0];
	size_t len;
	unsigned lo = 0x80, hi = 0xbf;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else {
		return 0;
	}
	if (n < len || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return len;
}

bool mn__cli_is_text(const void *p, size_t len)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < len;) {
		size_t n = utf8_seq(b + i, len - i);
		if (n == 0)
			return false;
		if (n == 1 && ((b[i] < 0x20 && b[i] != '\t' && b[i] != '\n' &&
				b[i] != '\r') ||
			       b[i] == 0x7f))
			return false;
		i += n;
	}
	return true;
}

void mn__json_string(FILE *f, const void *p, size_t len)
{
	const unsigned char *b = p;
	putc('"', f);
	for (size_t i = 0; i < len;) {
		unsigned char c = b[i];
		size_t n = utf8_seq(b + i, len - i);
		if (n == 0) {
			fputs("\\ufffd", f);
			i++;
			continue;
		}
		if (n > 1) {
			fwrite(b + i, 1, n, f);
			i += n;
			continue;
		}
		i++;
		switch (c) {
		case '"':
			fputs("\\\"", f);
			break;
		case '\\':
			fputs("\\\\", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		case '\r':
			fputs("\\r", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		default:
			if (c < 0x20 || c == 0x7f)
				fprintf(f, "\\u%04x", c);
			else
				putc(c, f);
		}
	}
	putc('"', f);
}

/* The separator and the key of the next field. */
static void field(mn__jw *w, const char *key)
{
	putc(',', w->f);
	mn__json_string(w->f, key, strlen(key));
	putc(':', w->f);
}

void mn__jw_begin(mn__jw *w, FILE *f, const char *record)
{
	w->f = f;
	fputs("{\"record\":", f);
	mn__json_string(f, record, strlen(record));
}

void mn__jw_u64(mn__jw *w, const char *key, uint64_t v)
{
	field(w, key);
	fprintf(w->f, "%llu", (unsigned long long)v);
}

void mn__jw_i64(mn__jw *w, const char *key, int64_t v)
{
	field(w, key);
	fprintf(w->f, "%lld", (long long)v);
}

void mn__jw_bool(mn__jw *w, const char *key, bool v)
{
	field(w, key);
	fputs(v ? "true" : "false", w->f);
}

void mn__jw_num(mn__jw *w, const char *key, double v)
{
	char b[64];
	field(w, key);
	if (!isfinite(v) || fabs(v) >= 1e18) {
		fputs("null", w->f);
		return;
	}
	/* Four decimals without trailing zeros: 0.6676, 10752, 512.5. */
	int n = snprintf(b, sizeof b, "%.4f", v);
	while (n > 0 && b[n - 1] == '0')
		b[--n] = 0;
	if (n > 0 && b[n - 1] == '.')
		b[--n] = 0;
	fputs(strcmp(b, "-0") == 0 ? "0" : b, w->f);
}

void mn__jw_null(mn__jw *w, const char *key)
{
	field(w, key);
	fputs("null", w->f);
}

void mn__jw_str(mn__jw *w, const char *key, const char *s)
{
	field(w, key);
	mn__json_string(w->f, s, strlen(s));
}

void mn__jw_bytes(mn__jw *w, const char *key, const void *p, size_t len)
{
	field(w, key);
	mn__json_string(w->f, p, len);
}

void mn__jw_hex(mn__jw *w, const char *key, const void *p, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *b = p;
	field(w, key);
	putc('"', w->f);
	for (size_t i = 0; i < len; i++) {
		putc(digits[b[i] >> 4], w->f);
		putc(digits[b[i] & 15], w->f);
	}
	putc('"', w->f);
}

void mn__jw_strs(mn__jw *w, const char *key, const char *const *v, size_t n)
{
	field(w, key);
	putc('[', w->f);
	for (size_t i = 0; i < n; i++) {
		if (i)
			putc(',', w->f);
		mn__json_string(w->f, v[i], strlen(v[i]));
	}
	putc(']', w->f);
}

void mn__jw_time(mn__jw *w, const char *key, uint64_t unix_ms)
{
	char t[MN__CLI_TIME_CAP];
	if (!unix_ms) {
		mn__jw_null(w, key);
		return;
	}
	mn__cli_time(t, unix_ms);
	mn__jw_str(w, key, t);
}

void mn__jw_end(mn__jw *w)
{
	fputs("}\n", w->f);
}
