/*
 * serve_config.h - the options of `mnemo serve` (recovery/serve_config.c):
 * one table gives each option its config-file key, its environment
 * variable and its command-line flag, and every value remembers which of
 * them set it, so the precedence (command line > environment > config
 * file > default) does not depend on the order they are read in.
 * docs/serve.md lists them.
 */
#ifndef MN_RECOVERY_SERVE_CONFIG_H
#define MN_RECOVERY_SERVE_CONFIG_H

#include <jansson.h>
#include <stdint.h>

#include "recovery/cli.h"

/* Where a value came from (a higher one wins). */
enum mn__srv_from {
	MN__SRV_FROM_DEFAULT,
	MN__SRV_FROM_CONFIG,
	MN__SRV_FROM_ENV,
	MN__SRV_FROM_CLI,
};

/* The options, in the table's order (serve_config.c). */
enum mn__srv_opt {
	MN__SRV_O_PLUGIN,
	MN__SRV_O_STORE,
	MN__SRV_O_LISTEN,
	MN__SRV_O_TOKEN_FILE,
	MN__SRV_O_TOKENS,
	MN__SRV_O_PORT_FILE,
	MN__SRV_O_LOG_FILE,
	MN__SRV_O_TLS_CERT,
	MN__SRV_O_TLS_KEY,
	MN__SRV_O_DRAIN_MS,
	MN__SRV_O_THREADS,
	MN__SRV_O_MAX_ASKS,
	MN__SRV_O_MAX_STREAMS,
	MN__SRV_O_WORKERS,
	MN__SRV_O_MAX_BODY,
	MN__SRV_OPTS
};

typedef struct mn__srv_conf {
	/* Text options (NULL: not given). Borrowed: from argv, the
	 * environment, or doc (alive until mn__srv_conf_free). */
	const char *plugin, *store, *listen, *token_file, *port_file, *log_file,
	    *tls_cert, *tls_key;
	/* The tokens as text (MNEMO_SERVE_TOKENS), or as the config's array
	 * (tokens_json, borrowed from doc); at most one of the two. */
	const char *tokens_text;
	json_t *tokens_json;
	/* Numbers (max_body 0: derived from the payload limit). */
	uint64_t drain_ms, threads, max_asks, max_streams, workers, max_body;
	unsigned char from[MN__SRV_OPTS]; /* enum mn__srv_from */
	const char *config;		  /* the config file read, or NULL */
	json_t *doc;			  /* its JSON */
} mn__srv_conf;

/* The defaults (cannot fail). */
void mn__srv_conf_init(mn__srv_conf *o);

/* One command-line option (getopt's ch, its argument): 0, or the usage
 * error's exit code (said on c->err). --config is taken here too (ch 'c').
 * Options that are not the table's return 0 untouched. */
int mn__srv_conf_flag(mn__cli *c, mn__srv_conf *o, int ch, const char *arg);

/* The config file (--config, else MNEMO_SERVE_CONFIG, else none), then the
 * environment (MNEMO_SERVE_*), each only where nothing above it has set a
 * value. Returns 0, or MN__CLI_USAGE with the reason on c->err: a file
 * that cannot be read or is not JSON (with line and column), an unknown
 * key or a value of the wrong type (naming the key), a bad environment
 * value (naming the variable). */
int mn__srv_conf_load(mn__cli *c, mn__srv_conf *o);

/* Free what the config file held (NULL-tolerant fields). */
void mn__srv_conf_free(mn__srv_conf *o);

/* The environment variable of option i (for messages). */
const char *mn__srv_conf_env(enum mn__srv_opt i);

#endif /* MN_RECOVERY_SERVE_CONFIG_H */
