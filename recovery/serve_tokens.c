/*
 * serve_tokens.c - the bearer tokens of `mnemo serve` and their scopes: a
 * token may be limited to some kinds and to reading (no POST). They come
 * from a token file, the config file's "tokens" array or the environment
 * MNEMO_SERVE_TOKENS (docs/serve.md, "Security").
 *
 * Owns: a token is never printed (a message about a bad entry names its
 * line or its index, never its text), compared in constant time for a
 * given length with every token tried, and wiped from memory when freed.
 *
 * Threads: loaded by the command's thread before the listener starts;
 * read by any afterwards (never changed while serving).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "recovery/serve.h"
#include "recovery/serve_config.h"

/* ---- checking a request -------------------------------------------------- */

/* Equal in time that depends on the lengths only. */
static bool same(const char *a, size_t alen, const char *b, size_t blen)
{
	unsigned char diff = alen != blen;
	for (size_t i = 0; i < blen; i++)
		diff |= (unsigned char)((i < alen ? a[i] : 0) ^ b[i]);
	return diff == 0;
}

const mn__srv_token *mn__srv_auth(const mn__srv *s, const char *auth)
{
	static const char bearer[] = "Bearer ";
	if (!auth || strncmp(auth, bearer, sizeof bearer - 1) != 0)
		return NULL;
	const char *t = auth + sizeof bearer - 1;
	size_t tlen = strlen(t);
	/* Every token compared; the match picked without a branch on it. */
	size_t hit = s->ntokens;
	for (size_t i = 0; i < s->ntokens; i++) {
		size_t m = (size_t)0 - (size_t)same(t, tlen, s->tokens[i].token,
						    s->tokens[i].len);
		hit = (hit & ~m) | (i & m);
	}
	return hit < s->ntokens ? &s->tokens[hit] : NULL;
}

bool mn__srv_auth_ok(const mn__srv *s, const char *auth)
{
	return mn__srv_auth(s, auth) != NULL;
}

bool mn__srv_token_kind_ok(const mn__srv_token *t, const char *kind)
{
	if (!t->kinds)
		return true;
	for (size_t i = 0; i < t->nkinds; i++)
		if (strcmp(t->kinds[i], kind) == 0)
			return true;
	return false;
}

/* ---- making tokens ------------------------------------------------------- */

void mn__srv_token_free(mn__srv_token *t)
{
	if (t->token) {
		/* Not left in freed memory. */
		volatile char *p = t->token;
		for (size_t j = 0; j < t->len; j++)
			p[j] = 0;
		free(t->token);
	}
	for (size_t i = 0; i < t->nkinds; i++)
		free(t->kinds[i]);
	free(t->kinds);
	memset(t, 0, sizeof *t);
}

/* Append kind (len bytes) to t's allow-list. 0, or -1 with *why. */
static int kind_add(mn__srv_token *t, const char *kind, size_t len,
		    const char **why)
{
	if (!len || len > MN_KIND_NAME_MAX) {
		*why = "a kind name must be 1..64 bytes";
		return -1;
	}
	char **k = realloc(t->kinds, (t->nkinds + 1) * sizeof *k);
	if (!k || !(k[t->nkinds] = strndup(kind, len))) {
		if (k)
			t->kinds = k;
		*why = "out of memory";
		return -1;
	}
	t->kinds = k;
	t->nkinds++;
	return 0;
}

static bool blank(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r';
}

/* The word at *p (up to end), skipping blanks first; its length (0 at
 * the end). */
static size_t word(const char **p, const char *end)
{
	while (*p < end && blank(**p))
		(*p)++;
	size_t n = 0;
	while (*p + n < end && !blank((*p)[n]))
		n++;
	return n;
}

/* The comma-separated kinds of "kinds=..." (text, len bytes). */
static int kinds_parse(mn__srv_token *t, const char *text, size_t len,
		       const char **why)
{
	const char *end = text + len;
	if (!len) {
		*why = "kinds= wants one kind or more (kinds=K1,K2)";
		return -1;
	}
	/* An empty allow-list is still a list: a token for no kind. */
	if (!t->kinds && !(t->kinds = calloc(1, sizeof *t->kinds))) {
		*why = "out of memory";
		return -1;
	}
	while (text < end) {
		const char *comma = memchr(text, ',', (size_t)(end - text));
		size_t n =
		    comma ? (size_t)(comma - text) : (size_t)(end - text);
		if (kind_add(t, text, n, why))
			return -1;
		text += n + (comma != NULL);
		if (comma && text == end) {
			*why = "kinds= ends with a comma";
			return -1;
		}
	}
	return 0;
}

int mn__srv_token_parse(const char *line, size_t len, mn__srv_token *t,
			const char **why)
{
	static const char kinds[] = "kinds=";
	const char *p = line, *end = line + len;
	memset(t, 0, sizeof *t);
	size_t n = word(&p, end);
	if (!n || *p == '#')
		return 1;
	if (memchr(p, '\0', n)) {
		*why = "a token has a NUL byte";
		return -1;
	}
	if (!(t->token = strndup(p, n))) {
		*why = "out of memory";
		return -1;
	}
	t->len = n;
	p += n;
	while ((n = word(&p, end)) > 0) {
		if (n > sizeof kinds - 1 &&
		    memcmp(p, kinds, sizeof kinds - 1) == 0) {
			if (kinds_parse(t, p + sizeof kinds - 1,
					n - (sizeof kinds - 1), why))
				goto err_free;
		} else if ((n == 2 && memcmp(p, "ro", 2) == 0) ||
			   (n == 9 && memcmp(p, "read_only", 9) == 0)) {
			t->read_only = true;
		} else {
			*why = "a word after the token is neither "
			       "kinds=K1,K2 nor ro";
			goto err_free;
		}
		p += n;
	}
	return 0;
err_free:
	mn__srv_token_free(t);
	return -1;
}

/* ---- loading them ---------------------------------------------------------
 */

static int token_push(mn__srv *s, mn__srv_token *t)
{
	mn__srv_token *a = realloc(s->tokens, (s->ntokens + 1) * sizeof *a);
	if (!a) {
		mn__srv_token_free(t);
		return -1;
	}
	s->tokens = a;
	a[s->ntokens++] = *t;
	return 0;
}

/* Whether an entry (n bytes) has a scope word after its first word:
 * kinds=... or ro / read_only. */
static bool has_scope(const char *p, size_t n)
{
	const char *end = p + n;
	size_t w = word(&p, end);
	for (p += w; (w = word(&p, end)) > 0; p += w)
		if ((w > 6 && memcmp(p, "kinds=", 6) == 0) ||
		    (w == 2 && memcmp(p, "ro", 2) == 0) ||
		    (w == 9 && memcmp(p, "read_only", 9) == 0))
			return true;
	return false;
}

/* Lines of text (a token file's, or one MNEMO_SERVE_TOKENS entry each);
 * where names them in messages ("token file F", "MNEMO_SERVE_TOKENS"). */
static int tokens_lines(mn__srv *s, const char *text, const char *seps,
			const char *where)
{
	unsigned line = 0;
	for (const char *p = text; *p;) {
		size_t n = strcspn(p, seps);
		const char *why = NULL;
		mn__srv_token t;
		line++;
		/* An environment entry without a scope word: plain tokens,
		 * separated by commas or blanks (the older form). */
		bool plain = strchr(seps, ';') && !has_scope(p, n);
		for (const char *q = p, *end = p + n; q < end;) {
			size_t m = plain ? strcspn(q, ", \t") : n;
			if (q + m > end)
				m = (size_t)(end - q);
			int rc = mn__srv_token_parse(q, m, &t, &why);
			if (rc < 0) {
				fprintf(s->c->err,
					"mnemo serve: %s, entry %u: %s\n",
					where, line, why);
				return -1;
			}
			if (rc == 0 && token_push(s, &t))
				goto err_oom;
			q += m + 1;
		}
		p += n;
		if (*p)
			p++;
	}
	return 0;
err_oom:
	fputs("mnemo serve: out of memory\n", s->c->err);
	return -1;
}

static int tokens_file(mn__srv *s, const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		fprintf(s->c->err,
			"mnemo serve: reading the token file %s: %s\n", path,
			strerror(errno));
		return -1;
	}
	char *text = NULL, where[4200];
	size_t cap = 0;
	ssize_t n = getdelim(&text, &cap, '\0', f);
	fclose(f);
	snprintf(where, sizeof where, "token file %s", path);
	int rc = n <= 0 ? 0 : tokens_lines(s, text, "\n", where);
	if (text) {
		memset(text, 0, cap);
		free(text);
	}
	return rc;
}

/* One entry of the config's "tokens" array (index i). */
static int token_json(mn__srv *s, const char *config, size_t i, json_t *v)
{
	mn__srv_token t = {0};
	const char *why = NULL, *key;
	json_t *f;
	if (json_is_string(v)) {
		const char *text = json_string_value(v);
		if (!json_string_length(v) ||
		    strcspn(text, " \t\r\n") != json_string_length(v))
			why = "a token must be non-empty, without blanks";
		else if (!(t.token = strdup(text)))
			why = "out of memory";
		t.len = json_string_length(v);
		goto out;
	}
	json_object_foreach(v, key, f)
	{
		if (strcmp(key, "token") == 0) {
			if (!json_is_string(f) || !json_string_length(f) ||
			    strlen(json_string_value(f)) !=
				json_string_length(f)) {
				why = "\"token\" must be a non-empty string";
				goto out;
			}
		} else if (strcmp(key, "kinds") == 0) {
			size_t j;
			json_t *k;
			if (!json_is_array(f)) {
				why = "\"kinds\" must be an array of kind "
				      "names";
				goto out;
			}
			if (!t.kinds &&
			    !(t.kinds = calloc(1, sizeof *t.kinds))) {
				why = "out of memory";
				goto out;
			}
			json_array_foreach(f, j, k)
			{
				if (!json_is_string(k)) {
					why = "\"kinds\" must be an array of "
					      "kind names";
					goto out;
				}
				if (kind_add(&t, json_string_value(k),
					     json_string_length(k), &why))
					goto out;
			}
		} else if (strcmp(key, "read_only") == 0) {
			if (!json_is_boolean(f)) {
				why = "\"read_only\" must be true or false";
				goto out;
			}
			t.read_only = json_is_true(f);
		} else {
			fprintf(s->c->err,
				"mnemo serve: config %s: tokens[%zu]: unknown "
				"key \"%s\" (token, kinds, read_only)\n",
				config, i, key);
			mn__srv_token_free(&t);
			return -1;
		}
	}
	f = json_object_get(v, "token");
	if (!f)
		why = "\"token\" is missing";
	else if (!(t.token = strdup(json_string_value(f))))
		why = "out of memory";
	else
		t.len = json_string_length(f);
out:
	if (why) {
		fprintf(s->c->err, "mnemo serve: config %s: tokens[%zu]: %s\n",
			config, i, why);
		mn__srv_token_free(&t);
		return -1;
	}
	if (token_push(s, &t)) {
		fputs("mnemo serve: out of memory\n", s->c->err);
		return -1;
	}
	return 0;
}

int mn__srv_tokens_load(mn__srv *s, const mn__srv_conf *o)
{
	unsigned char ff = o->from[MN__SRV_O_TOKEN_FILE],
		      ft = o->from[MN__SRV_O_TOKENS];
	if (o->token_file && ff >= ft && tokens_file(s, o->token_file))
		return -1;
	if (ft >= ff && o->tokens_text &&
	    tokens_lines(s, o->tokens_text, ";\n", "MNEMO_SERVE_TOKENS"))
		return -1;
	if (ft >= ff && o->tokens_json) {
		size_t i;
		json_t *v;
		json_array_foreach(o->tokens_json, i, v)
		{
			if (token_json(s, o->config, i, v))
				return -1;
		}
	}
	if (!s->ntokens) {
		fprintf(s->c->err,
			"mnemo serve: no token (give --token-file FILE, one "
			"token a line, \"tokens\" in the config file, or "
			"MNEMO_SERVE_TOKENS)\n");
		return -1;
	}
	for (size_t i = 0; i < s->ntokens; i++)
		for (size_t j = 0; j < i; j++)
			if (s->tokens[i].len == s->tokens[j].len &&
			    memcmp(s->tokens[i].token, s->tokens[j].token,
				   s->tokens[i].len) == 0) {
				fprintf(
				    s->c->err,
				    "mnemo serve: token %zu is given twice "
				    "(counting from 1, in the order read)\n",
				    i + 1);
				return -1;
			}
	return 0;
}

void mn__srv_tokens_free(mn__srv *s)
{
	for (size_t i = 0; i < s->ntokens; i++)
		mn__srv_token_free(&s->tokens[i]);
	free(s->tokens);
	s->tokens = NULL;
	s->ntokens = 0;
}
