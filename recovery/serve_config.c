/*
 * serve_config.c - the options of `mnemo serve` from the command line, the
 * environment and a JSON config file (read with jansson), one table for
 * all three (serve_config.h).
 *
 * Owns: every option has one key, one environment variable and (but
 * "tokens") one flag, checked against one range wherever it comes from; a
 * value is taken only when nothing of higher precedence set it (command
 * line > environment > config file > default); an unknown config key or a
 * value of the wrong type is an exit-2 error naming the key. Token values
 * are never printed in a message.
 *
 * Threads: the command's, before anything starts.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "include/mnemo.h"
#include "recovery/serve_config.h"

enum otype { T_STR, T_U64, T_TOKENS };

typedef struct optdef {
	const char *key;  /* in the config file */
	const char *env;  /* environment variable */
	const char *flag; /* on the command line (NULL: none) */
	int ch;		  /* its short option (0: none) */
	enum otype type;
	size_t off; /* in mn__srv_conf */
	uint64_t min, max;
} optdef;

#define S(k, e, f, c, field)                                                   \
	{                                                                      \
		k, e, f, c, T_STR, offsetof(mn__srv_conf, field), 0, 0         \
	}
#define N(k, e, f, c, field, lo, hi)                                           \
	{                                                                      \
		k, e, f, c, T_U64, offsetof(mn__srv_conf, field), lo, hi       \
	}
static const optdef defs[MN__SRV_OPTS] = {
    [MN__SRV_O_PLUGIN] =
	S("plugin", "MNEMO_SERVE_PLUGIN", "--plugin", 'p', plugin),
    [MN__SRV_O_STORE] = S("store", "MNEMO_SERVE_STORE", NULL, 0, store),
    [MN__SRV_O_LISTEN] =
	S("listen", "MNEMO_SERVE_LISTEN", "--listen", 'l', listen),
    [MN__SRV_O_TOKEN_FILE] = S("token_file", "MNEMO_SERVE_TOKEN_FILE",
			       "--token-file", 't', token_file),
    [MN__SRV_O_TOKENS] = {"tokens", "MNEMO_SERVE_TOKENS", NULL, 0, T_TOKENS, 0,
			  0, 0},
    [MN__SRV_O_PORT_FILE] =
	S("port_file", "MNEMO_SERVE_PORT_FILE", "--port-file", 'P', port_file),
    [MN__SRV_O_LOG_FILE] =
	S("log_file", "MNEMO_SERVE_LOG_FILE", "--log-file", 'L', log_file),
    [MN__SRV_O_TLS_CERT] =
	S("tls_cert", "MNEMO_SERVE_TLS_CERT", "--tls-cert", 'C', tls_cert),
    [MN__SRV_O_TLS_KEY] =
	S("tls_key", "MNEMO_SERVE_TLS_KEY", "--tls-key", 'K', tls_key),
    [MN__SRV_O_DRAIN_MS] = N("drain_ms", "MNEMO_SERVE_DRAIN_MS", "--drain-ms",
			     'd', drain_ms, 0, 3600000),
    [MN__SRV_O_THREADS] =
	N("threads", "MNEMO_SERVE_THREADS", "--threads", 'T', threads, 1, 256),
    [MN__SRV_O_MAX_ASKS] = N("max_asks", "MNEMO_SERVE_MAX_ASKS", "--max-asks",
			     'a', max_asks, 1, 1000000),
    [MN__SRV_O_MAX_STREAMS] = N("max_streams", "MNEMO_SERVE_MAX_STREAMS",
				"--max-streams", 'S', max_streams, 1, 100000),
    [MN__SRV_O_WORKERS] = N("workers", "MNEMO_SERVE_WORKERS", "--workers", 'w',
			    workers, 0, MN_WORKERS_MAX),
    [MN__SRV_O_MAX_BODY] = N("max_body", "MNEMO_SERVE_MAX_BODY", "--max-body",
			     'B', max_body, 1024, (uint64_t)1 << 30),
};
#undef S
#undef N

void mn__srv_conf_init(mn__srv_conf *o)
{
	memset(o, 0, sizeof *o);
	o->listen = "127.0.0.1:8700";
	o->drain_ms = 10000;
	o->threads = 4;
	o->max_asks = 1024;
	o->max_streams = 64;
}

const char *mn__srv_conf_env(enum mn__srv_opt i)
{
	return defs[i].env;
}

static const char **str_at(mn__srv_conf *o, const optdef *d)
{
	return (const char **)(void *)((char *)o + d->off);
}

static uint64_t *u64_at(mn__srv_conf *o, const optdef *d)
{
	return (uint64_t *)(void *)((char *)o + d->off);
}

/* Whether a value from `from` may replace option i's. */
static bool takes(mn__srv_conf *o, size_t i, enum mn__srv_from from)
{
	if (o->from[i] > from)
		return false;
	o->from[i] = (unsigned char)from;
	return true;
}

/* A number of option d from text (a flag's or an environment value):
 * 0, or the usage error naming where (`where`: "--threads",
 * "MNEMO_SERVE_THREADS"). */
static int number(mn__cli *c, const optdef *d, const char *where,
		  const char *text, uint64_t *v)
{
	if (mn__cli_parse_u64(text, v) || *v < d->min || *v > d->max)
		return mn__cli_usage(c,
				     "%s wants a number %llu..%llu, not '%s'",
				     where, (unsigned long long)d->min,
				     (unsigned long long)d->max, text);
	return 0;
}

int mn__srv_conf_flag(mn__cli *c, mn__srv_conf *o, int ch, const char *arg)
{
	if (ch == 'c') {
		o->config = arg;
		return 0;
	}
	for (size_t i = 0; i < MN__SRV_OPTS; i++) {
		const optdef *d = &defs[i];
		if (!d->ch || d->ch != ch)
			continue;
		if (d->type == T_STR) {
			if (takes(o, i, MN__SRV_FROM_CLI))
				*str_at(o, d) = arg;
			return 0;
		}
		uint64_t v;
		int rc = number(c, d, d->flag, arg, &v);
		if (!rc && takes(o, i, MN__SRV_FROM_CLI))
			*u64_at(o, d) = v;
		return rc;
	}
	return 0;
}

/* ---- the config file ----------------------------------------------------- */

static int conf_bad(mn__cli *c, const mn__srv_conf *o, const char *key,
		    const char *want)
{
	fprintf(c->err, "mnemo serve: config %s: \"%s\" must be %s\n",
		o->config, key, want);
	return MN__CLI_USAGE;
}

/* "tokens": an array of strings or of objects {"token": "...", "kinds":
 * [...], "read_only": bool} (checked in full by the token loader; only
 * the shape here). */
static bool tokens_shape_ok(json_t *v)
{
	size_t i;
	json_t *t;
	if (!json_is_array(v))
		return false;
	json_array_foreach(v, i, t)
	{
		if (!json_is_string(t) && !json_is_object(t))
			return false;
	}
	return true;
}

static int conf_value(mn__cli *c, mn__srv_conf *o, size_t i, json_t *v)
{
	const optdef *d = &defs[i];
	char want[96];
	switch (d->type) {
	case T_STR:
		if (!json_is_string(v) || !json_string_length(v))
			return conf_bad(c, o, d->key, "a non-empty string");
		if (takes(o, i, MN__SRV_FROM_CONFIG))
			*str_at(o, d) = json_string_value(v);
		return 0;
	case T_U64:
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    (uint64_t)json_integer_value(v) < d->min ||
		    (uint64_t)json_integer_value(v) > d->max) {
			snprintf(want, sizeof want, "an integer %llu..%llu",
				 (unsigned long long)d->min,
				 (unsigned long long)d->max);
			return conf_bad(c, o, d->key, want);
		}
		if (takes(o, i, MN__SRV_FROM_CONFIG))
			*u64_at(o, d) = (uint64_t)json_integer_value(v);
		return 0;
	case T_TOKENS:
		if (!tokens_shape_ok(v))
			return conf_bad(
			    c, o, d->key,
			    "an array of strings or of objects "
			    "{\"token\", \"kinds\", \"read_only\"}");
		if (takes(o, i, MN__SRV_FROM_CONFIG))
			o->tokens_json = v;
		return 0;
	}
	return 0;
}

static int conf_file(mn__cli *c, mn__srv_conf *o)
{
	json_error_t e;
	if (!(o->doc = json_load_file(o->config, JSON_REJECT_DUPLICATES, &e))) {
		if (e.line < 1)
			fprintf(c->err, "mnemo serve: config %s: %s\n",
				o->config, e.text);
		else
			fprintf(c->err,
				"mnemo serve: config %s: line %d column %d: "
				"%s\n",
				o->config, e.line, e.column, e.text);
		return MN__CLI_USAGE;
	}
	if (!json_is_object(o->doc)) {
		fprintf(c->err, "mnemo serve: config %s: not a JSON object\n",
			o->config);
		return MN__CLI_USAGE;
	}
	const char *key;
	json_t *v;
	json_object_foreach(o->doc, key, v)
	{
		size_t i = 0;
		while (i < MN__SRV_OPTS && strcmp(defs[i].key, key) != 0)
			i++;
		if (i == MN__SRV_OPTS) {
			fprintf(c->err,
				"mnemo serve: config %s: unknown key \"%s\" "
				"(docs/serve.md lists the options)\n",
				o->config, key);
			return MN__CLI_USAGE;
		}
		int rc = conf_value(c, o, i, v);
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- the environment ----------------------------------------------------- */

static int conf_env(mn__cli *c, mn__srv_conf *o)
{
	for (size_t i = 0; i < MN__SRV_OPTS; i++) {
		const optdef *d = &defs[i];
		const char *v = getenv(d->env);
		if (!v || !*v)
			continue;
		if (d->type == T_U64) {
			uint64_t n;
			int rc = number(c, d, d->env, v, &n);
			if (rc)
				return rc;
			if (takes(o, i, MN__SRV_FROM_ENV))
				*u64_at(o, d) = n;
		} else if (d->type == T_TOKENS) {
			if (takes(o, i, MN__SRV_FROM_ENV)) {
				o->tokens_text = v;
				o->tokens_json = NULL;
			}
		} else if (takes(o, i, MN__SRV_FROM_ENV)) {
			*str_at(o, d) = v;
		}
	}
	return 0;
}

int mn__srv_conf_load(mn__cli *c, mn__srv_conf *o)
{
	if (!o->config) {
		const char *v = getenv("MNEMO_SERVE_CONFIG");
		if (v && *v)
			o->config = v;
	}
	int rc = o->config ? conf_file(c, o) : 0;
	return rc ? rc : conf_env(c, o);
}

void mn__srv_conf_free(mn__srv_conf *o)
{
	json_decref(o->doc);
	o->doc = NULL;
	o->tokens_json = NULL;
}
