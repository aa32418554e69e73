/*
 * replay_calls.c - replay meets outbound calls (recovery/replay.h,
 * docs/tool.md "Calls in a replay"): during a replay no call is made; the
 * offline ctx compares each request the code makes with the one the entry
 * recorded at the same index by the canonical request hash
 * (mn__ctx_replay_entry, core/calls.c), and the recorded replies are fed
 * as the journaled messages they are. Here, after each entry: the first
 * call whose request differs, or a recorded call the code no longer
 * makes, is reported as a call divergence, with the old and the new
 * request and the first field and byte where they differ.
 *
 * Threads: the command's thread only.
 */
#include <stdio.h>
#include <string.h>

#include "core/offline.h"
#include "include/mnemo.h"
#include "recovery/replay.h"

/* Bytes shown of each side after the first difference. */
#define EXCERPT 32

/* Where two requests first differ: the field's name, the byte offset in
 * it, and the two fields' bytes (NULL with len 0 for a side that has no
 * such field). */
typedef struct cdiff {
	char field[32];
	size_t at;
	const char *a, *b;
	size_t alen, blen;
} cdiff;

static bool bytes_differ(cdiff *d, const char *name, const void *a, size_t alen,
			 const void *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen, i = 0;
	const unsigned char *x = a, *y = b;
	while (i < n && x[i] == y[i])
		i++;
	if (i == n && alen == blen)
		return false;
	snprintf(d->field, sizeof d->field, "%s", name);
	d->at = i;
	d->a = a;
	d->b = b;
	d->alen = alen;
	d->blen = blen;
	return true;
}

static bool str_differ(cdiff *d, const char *name, const char *a, const char *b)
{
	a = a ? a : "";
	b = b ? b : "";
	return bytes_differ(d, name, a, strlen(a), b, strlen(b));
}

/* The canonical fields in the hash's order: method, URL, each header,
 * body. False when they are all equal (then the hashes were too). */
static bool first_diff(const mn__intent *o, const mn__intent *n, cdiff *d)
{
	char name[32];
	if (str_differ(d, "method", o->method, n->method) ||
	    str_differ(d, "url", o->url, n->url))
		return true;
	size_t nh = o->n_headers > n->n_headers ? o->n_headers : n->n_headers;
	for (size_t i = 0; i < nh; i++) {
		snprintf(name, sizeof name, "header %zu", i + 1);
		if (i >= o->n_headers || i >= n->n_headers) {
			const char *h =
			    i < o->n_headers ? o->headers[i] : n->headers[i];
			snprintf(d->field, sizeof d->field, "%s", name);
			d->at = 0;
			d->a = i < o->n_headers ? h : NULL;
			d->b = i < n->n_headers ? h : NULL;
			d->alen = d->a ? strlen(h) : 0;
			d->blen = d->b ? strlen(h) : 0;
			return true;
		}
		if (str_differ(d, name, o->headers[i], n->headers[i]))
			return true;
	}
	return bytes_differ(d, "body", o->body, o->body_len, n->body,
			    n->body_len);
}

/* Up to EXCERPT bytes of p[at..len) as the text output quotes them:
 * printable ASCII as is, the rest (and ' and \) escaped. */
static void excerpt(FILE *f, const char *p, size_t len, size_t at)
{
	if (!p) {
		fputs("(none)", f);
		return;
	}
	if (at >= len) {
		fprintf(f, "(ends at byte %zu)", len);
		return;
	}
	size_t end = len - at > EXCERPT ? at + EXCERPT : len;
	putc('\'', f);
	for (size_t i = at; i < end; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == '\'' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c >= 0x20 && c < 0x7f)
			putc(c, f);
		else
			fprintf(f, "\\x%02x", c);
	}
	putc('\'', f);
	if (end < len)
		fputs("...", f);
}

static void excerpt_json(mn__jw *w, const char *key, const char *p, size_t len,
			 size_t at)
{
	if (!p || at > len) {
		mn__jw_null(w, key);
		return;
	}
	size_t n = len - at > EXCERPT ? EXCERPT : len - at;
	mn__jw_bytes(w, key, p + at, n);
}

/* Print the divergence at call index of entry e: o the recorded intent
 * (NULL: none recorded at that index), n the new one (NULL: not made). */
static void report(mn__rp *r, const mn__entry *e, uint32_t index,
		   const mn__intent *o, const mn__intent *n, uint32_t made)
{
	mn__cli *c = r->c;
	cdiff d;
	memset(&d, 0, sizeof d);
	bool have_diff = o && n && first_diff(o, n, &d);
	uint64_t call_id = e->seq << 16 | index;
	if (c->json) {
		mn__jw w;
		mn__jw_begin(&w, c->out, "divergence");
		mn__jw_u64(&w, "seq", e->seq);
		mn__jw_str(&w, "by", "call");
		mn__jw_u64(&w, "call_index", index);
		mn__jw_u64(&w, "call_id", call_id);
		mn__jw_u64(&w, "calls_recorded", e->n_calls);
		mn__jw_u64(&w, "calls_made", made);
		mn__jw_bool(&w, "old", o != NULL);
		if (o)
			mn__cli_intent_json(&w, "old_", o);
		mn__jw_bool(&w, "new", n != NULL);
		if (n)
			mn__cli_intent_json(&w, "new_", n);
		if (have_diff) {
			mn__jw_str(&w, "differs", d.field);
			mn__jw_u64(&w, "differs_at", d.at);
			excerpt_json(&w, "old_bytes", d.a, d.alen, d.at);
			excerpt_json(&w, "new_bytes", d.b, d.blen, d.at);
		} else {
			mn__jw_null(&w, "differs");
		}
		mn__jw_str(&w, "action", r->stub_calls ? "stub" : "stop");
		mn__jw_end(&w);
		return;
	}
	FILE *f = c->out;
	if (o && n)
		fprintf(f,
			"diverges at seq %llu: call %u (id %llu) makes a "
			"different request than the recorded one\n",
			(unsigned long long)e->seq, index,
			(unsigned long long)call_id);
	else if (o)
		fprintf(f,
			"diverges at seq %llu: call %u (id %llu) was recorded "
			"but the code does not make it (%u call%s made, %zu "
			"recorded)\n",
			(unsigned long long)e->seq, index,
			(unsigned long long)call_id, made, made == 1 ? "" : "s",
			e->n_calls);
	else
		fprintf(f,
			"diverges at seq %llu: call %u (id %llu) is made by "
			"the code but was not recorded (%zu call%s "
			"recorded)\n",
			(unsigned long long)e->seq, index,
			(unsigned long long)call_id, e->n_calls,
			e->n_calls == 1 ? "" : "s");
	fputs("  old (recorded):\n", f);
	if (o)
		mn__cli_intent_text(f, "    ", o);
	else
		fputs("    (no call)\n", f);
	fputs("  new (plugin code):\n", f);
	if (n)
		mn__cli_intent_text(f, "    ", n);
	else
		fputs("    (no call)\n", f);
	if (have_diff) {
		fprintf(f, "  %s differs at byte %zu: old ", d.field, d.at);
		excerpt(f, d.a, d.alen, d.at);
		fputs(" new ", f);
		excerpt(f, d.b, d.blen, d.at);
		fputc('\n', f);
	}
	if (r->stub_calls)
		fputs("  (--on-divergence stub: the recorded replies are fed "
		      "on)\n",
		      f);
}

int mn__rp_check_calls(mn__rp *r, const mn__entry *e)
{
	mn__offline_calls oc;
	mn__offline_calls_get(r->off, &oc);
	r->calls_compared += e->n_calls;
	uint32_t index;
	if (oc.diverged)
		index = oc.index;
	else if (oc.made < e->n_calls)
		index = oc.made; /* the first recorded call not made */
	else
		return 0;

	mn__intent o, n;
	void *ho = NULL, *hn = NULL;
	bool have_o = index < e->n_calls, have_n = oc.diverged;
	int rc = 0;
	if (have_o &&
	    mn__intent_unpack(e->calls[index], e->call_lens[index], &o, &ho)) {
		char why[128];
		snprintf(why, sizeof why,
			 "seq %llu: the recorded call %u does not decode",
			 (unsigned long long)e->seq, index);
		mn__store_set_errdetail(why);
		rc = MN_ECORRUPT;
	}
	if (!rc && have_n && mn__intent_unpack(oc.intent, oc.len, &n, &hn))
		rc = MN_ENOMEM; /* packed by this process: only memory */
	if (!rc) {
		if (!r->diverged) {
			r->diverged = true;
			r->diverged_seq = e->seq;
		}
		r->call_divergences++;
		report(r, e, index, have_o ? &o : NULL, have_n ? &n : NULL,
		       oc.made);
		rc = r->stub_calls ? 0 : 1;
	}
	mn__intent_release(ho);
	mn__intent_release(hn);
	return rc;
}
