/*
 * serve_page.c - the operator page of `mnemo serve` (GET /, /app.js,
 * /style.css): static files of recovery/page/ built into the binary by
 * scripts/embed-page (the table mn__srv_assets), answered from those bytes
 * with the headers that keep a page holding a bearer token safe.
 *
 * The page itself is public (it holds no data); everything it shows comes
 * from /v1 and /metrics through fetch() with the token the operator pastes
 * (docs/serve.md, "Operator page"). Its Content-Security-Policy allows
 * scripts, styles and connections to this origin only and no inline
 * script or style, so text from an actor's state cannot run as code even
 * if the page had a bug that wrote it as markup, and Trusted Types with no
 * policy make every HTML sink (innerHTML and the like) throw, so such a bug
 * fails loudly in the browser test; nosniff keeps the types;
 * frame-ancestors 'none' keeps it out of frames.
 *
 * Caching: every file carries its ETag (a hash of its bytes, fixed at
 * build time) and "Cache-Control: no-cache": the browser revalidates on
 * each load and gets 304 until the binary changes.
 *
 * Threads: any (the table is constant).
 */
#include <microhttpd.h>
#include <string.h>

#include "recovery/serve.h"

/* The Content-Security-Policy of every file of the page. */
static const char page_csp[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; "
    "connect-src 'self'; img-src 'self' data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'; "
    "require-trusted-types-for 'script'; trusted-types 'none'";

const mn__srv_asset *mn__srv_page_find(const char *path)
{
	if (strcmp(path, "/index.html") == 0)
		path = "/";
	for (size_t i = 0; i < mn__srv_nassets; i++)
		if (strcmp(mn__srv_assets[i].path, path) == 0)
			return &mn__srv_assets[i];
	return NULL;
}

bool mn__srv_etag_match(const char *inm, const char *etag)
{
	size_t elen = strlen(etag);
	if (!inm)
		return false;
	/* A comma-separated list of entity tags, each maybe weak ("W/"):
	 * If-None-Match compares weakly (RFC 9110, 13.1.2). */
	const char *p = inm;
	while (*p) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		size_t n = strcspn(p, ",");
		size_t m = n;
		while (m && (p[m - 1] == ' ' || p[m - 1] == '\t'))
			m--;
		if (m == 1 && *p == '*')
			return true;
		const char *t = p;
		if (m > 2 && t[0] == 'W' && t[1] == '/') {
			t += 2;
			m -= 2;
		}
		if (m == elen && memcmp(t, etag, elen) == 0)
			return true;
		p += n;
	}
	return false;
}

struct MHD_Response *mn__srv_page_response(const mn__srv_asset *a,
					   bool not_modified)
{
	/* The bytes are static: MHD_RESPMEM_PERSISTENT, never copied. */
	struct MHD_Response *r = MHD_create_response_from_buffer(
	    not_modified ? 0 : a->len, (void *)a->data, MHD_RESPMEM_PERSISTENT);
	if (!r)
		return NULL;
	if (!not_modified)
		MHD_add_response_header(r, "Content-Type", a->type);
	MHD_add_response_header(r, "ETag", a->etag);
	MHD_add_response_header(r, "Cache-Control", "no-cache");
	MHD_add_response_header(r, "Content-Security-Policy", page_csp);
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	return r;
}
