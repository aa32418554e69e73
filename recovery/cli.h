/*
 * cli.h - the store commands of the mnemo tool (recovery/cmd_*.c) and the
 * helpers they share (recovery/cli_util.c, recovery/cli_json.c).
 *
 * The commands are library code: each takes its argv (argv[0] is the
 * command's name) and the two streams to write to, never exits, keeps no
 * state between calls, and returns the process exit code the tool's main()
 * (recovery/mnemo_cli.c) hands back. The reading commands (stats, ls,
 * dump, verify, replay, diff, export, quarantine's listing) open the store
 * read-only (mn__cli_open): LMDB read transactions, no writer lock, so
 * they are safe beside a live runtime writing the same store. The writing
 * commands (fork, compact, rm, import, quarantine --release/--drop) open it
 * for writing (mn__cli_open_rw, or import's own open): they take the
 * store's writer lock and refuse beside a live runtime. docs/tool.md
 * documents them. They are built into the tools library
 * (libmnemo-tools.a), linked into the tool and the tests that call them,
 * not into libmnemo.
 *
 * Threads: one command at a time per process (getopt_long's optind and
 * optarg are process globals; each command resets them before parsing).
 */
#ifndef MN_RECOVERY_CLI_H
#define MN_RECOVERY_CLI_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <getopt.h>

#include "storage/codec.h"
#include "storage/store.h"

/* Exit codes (docs/tool.md): success; a damaged store (verify, or a
 * corrupt record met while reading) or an actor or kind that is not there;
 * a usage error or a store that cannot be opened. */
#define MN__CLI_OK    0
#define MN__CLI_FAIL  1
#define MN__CLI_USAGE 2

/* A callback's "stop, all is well" (positive: never a MN_E* code). */
#define MN__CLI_STOP 1
/* mn__cli_begin's "parsed: the command goes on" (never an exit code). */
#define MN__CLI_GO (-1)

/* Room for a key as mn__cli_key_format writes it: "0x" + 2 hex digits a
 * byte + NUL. */
#define MN__CLI_KEY_CAP (2 + 2 * MN_KEY_MAX + 1)
/* Room for "kind/key" (a kind name may be replaced by "kind#4294967295"). */
#define MN__CLI_ADDR_CAP (MN_KIND_NAME_MAX + 1 + MN__CLI_KEY_CAP + 16)
/* Room for an ISO 8601 time "2026-11-25T07:46:13.123Z" (or "-"). */
#define MN__CLI_TIME_CAP 40
/* Payload bytes shown in text output without --full (4 hexdump lines). */
#define MN__CLI_PAYLOAD_SHOWN 64

/* One command's run: its streams, its store, what to say in messages. */
typedef struct mn__cli {
	const char *cmd; /* "dump": messages start "mnemo dump: " */
	FILE *out, *err;
	const char *synopsis; /* the command's usage line, for usage errors */
	const char *path;     /* the store directory */
	mn__store *store;
	mn__codec *codec;
	bool json;
} mn__cli;

/* The commands: return an exit code (MN__CLI_*). */
int mn__cmd_stats(int argc, char **argv, FILE *out, FILE *err);
int mn__cmd_ls(int argc, char **argv, FILE *out, FILE *err);
int mn__cmd_dump(int argc, char **argv, FILE *out, FILE *err);
int mn__cmd_verify(int argc, char **argv, FILE *out, FILE *err);
int mn__cmd_replay(int argc, char **argv, FILE *out, FILE *err);
/* The upgrade gate (recovery/cmd_check.c). */
int mn__cmd_check(int argc, char **argv, FILE *out, FILE *err);
int mn__cmd_diff(int argc, char **argv, FILE *out, FILE *err);
int mn__cmd_fork(int argc, char **argv, FILE *out, FILE *err);
int mn__cmd_compact(int argc, char **argv, FILE *out, FILE *err);
int mn__cmd_quarantine(int argc, char **argv, FILE *out, FILE *err);
int mn__cmd_rm(int argc, char **argv, FILE *out, FILE *err);
int mn__cmd_export(int argc, char **argv, FILE *out, FILE *err);
int mn__cmd_import(int argc, char **argv, FILE *out, FILE *err);
/* The host process (recovery/cmd_serve.c): runs until SIGTERM. */
int mn__cmd_serve(int argc, char **argv, FILE *out, FILE *err);
/* `mnemo cluster status` (recovery/cmd_cluster.c, on libmnemo-cluster). */
int mn__cmd_cluster(int argc, char **argv, FILE *out, FILE *err);

/* Text lines, each after indent (a text without a final newline still ends
 * its last line). */
void mn__cli_lines(FILE *f, const char *indent, const void *p, size_t len);

/* A time: unix milliseconds (digits), or ISO 8601
 * YYYY-MM-DDTHH:MM:SS[.fff][Z|+HH:MM|-HH:MM] (UTC when no zone is given).
 * Returns 0 or -1. */
int mn__cli_parse_time(const char *s, uint64_t *unix_ms);

/* ---- the tool's commands and how they run (cli_run.c) ---------------- */

typedef int (*mn__cli_cmd_fn)(int argc, char **argv, FILE *out, FILE *err);

/* What a command reads: nothing, a store, or a store and a plugin's code
 * (what a crash of the child is blamed on). */
enum mn__cli_reads {
	MN__CLI_READS_NOTHING,
	MN__CLI_READS_STORE,
	MN__CLI_READS_PLUGIN,
};

/* One command of the tool (recovery/mnemo_cli.c's table). */
typedef struct mn__cli_command {
	const char *name;
	mn__cli_cmd_fn fn;
	const char *summary;
	enum mn__cli_reads reads;
} mn__cli_command;

/*
 * Run command c with argv (argv[0] is its name) on stdout and stderr: a
 * command that reads a store in a child process (unless MNEMO_NO_FORK),
 * whose crash becomes one line and exit 1. Returns the exit code.
 */
int mn__cli_run(const mn__cli_command *c, int argc, char **argv);

/* ---- a command's prologue (cli_args.c) ------------------------------- */

/* What a store command takes: the prologue's table. */
typedef struct mn__cli_spec {
	const char *name;     /* "dump" */
	const char *synopsis; /* its usage line */
	const char *help;     /* its manual (--help) */
	/* Its own options (-j/--json and -h/--help are added): short ones
	 * as getopt's string ("k:n:b"), long ones NULL-terminated. */
	const char *shortopts;
	const struct option *opts;
	bool json; /* takes -j/--json (sets mn__cli.json) */
	int nargs; /* positional arguments, STORE the last */
	/* None at all is also fine (c->path then NULL): STORE may come
	 * from elsewhere (serve's config file). */
	bool args_optional;
	/* The usage error for another count (NULL: "missing STORE" or "one
	 * STORE expected"). */
	const char *args_wrong;
	/* One of its own options (ch, with optarg as arg or NULL); 0 to go
	 * on, or an exit code (mn__cli_usage) to stop. arg: mn__cli_begin's. */
	int (*option)(mn__cli *c, int ch, const char *optarg, void *arg);
} mn__cli_spec;

/*
 * The prologue of a store command: mn__cli_init, then argv's options in
 * order (-j/--json sets c->json; -h/--help prints s->help on out; a bad
 * option or a missing value is a usage error; the rest go to s->option),
 * then the count of positional arguments. Returns MN__CLI_GO with *args
 * the positional arguments (s->nargs of them) and c->path the last, or
 * the exit code the command returns at once (MN__CLI_OK after --help).
 */
int mn__cli_begin(mn__cli *c, const mn__cli_spec *s, void *arg, int argc,
		  char **argv, FILE *out, FILE *err, char ***args);

/* ---- running a command (cli_util.c) ---------------------------------- */

void mn__cli_init(mn__cli *c, const char *cmd, const char *synopsis, FILE *out,
		  FILE *err);

/*
 * Open c->path read-only and make a codec for it. On failure prints
 * "mnemo CMD: opening store PATH: MN_X (detail)" and returns MN__CLI_USAGE
 * (a missing path, or a directory without data.mdb, is said plainly).
 */
int mn__cli_open(mn__cli *c);

/*
 * The same for the commands that write (fork, compact, quarantine
 * --release/--drop): a writable open, which takes the store's writer lock
 * (a live runtime holding it is reported plainly: MN__CLI_USAGE) and runs
 * open-time recovery, whose findings go to c->err in one line.
 */
int mn__cli_open_rw(mn__cli *c);

/* Free the codec and close the store (either may be absent). */
void mn__cli_close(mn__cli *c);

/* Print "mnemo CMD: <fmt...>" then the synopsis and a pointer to --help on
 * c->err; returns MN__CLI_USAGE. */
int mn__cli_usage(mn__cli *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Report getopt_long's '?' or ':' for argv; returns MN__CLI_USAGE. */
int mn__cli_bad_option(mn__cli *c, int ch, char **argv);

/*
 * A store call failed with rc: print "mnemo CMD: <what>: MN_X (detail)"
 * and return the exit code: MN__CLI_FAIL for damage (MN_ECORRUPT) and for
 * history compaction dropped (MN_ECOMPACTED), else
 * MN__CLI_USAGE.
 */
int mn__cli_store_fail(mn__cli *c, int rc, const char *what);

/* Clear the store's error detail before a call whose failure we report. */
void mn__cli_clear_detail(void);

/* Room for element n of *arr (el bytes each, *cap of them): the array
 * doubles (from 64) when full. Returns 0 or MN_ENOMEM (*arr unchanged). */
int mn__cli_grow(void **arr, size_t *cap, size_t n, size_t el);

/* ---- values ------------------------------------------------------------ */

/* A decimal u64 (digits only, no sign, no overflow). Returns 0 or -1. */
int mn__cli_parse_u64(const char *s, uint64_t *v);

/*
 * A key as the tool shows it: the text itself when every byte is printable
 * ASCII and it does not start with "0x", else "0x" and lowercase hex. The
 * result parses back to the same bytes (mn__cli_key_parse). buf holds
 * MN__CLI_KEY_CAP bytes.
 */
void mn__cli_key_format(char *buf, const void *key, size_t len);

/* The reverse: "0x" + an even number of hex digits, else the text's bytes.
 * 1..MN_KEY_MAX bytes into key; returns 0 or MN_EKEY. */
int mn__cli_key_parse(const char *s, unsigned char *key, size_t *len);

/* "kind/key" into buf (MN__CLI_ADDR_CAP bytes); an unknown kind id shows
 * as "kind#ID". */
void mn__cli_addr_format(mn__cli *c, char *buf, uint32_t kind_id,
			 const void *key, size_t key_len);

/*
 * Resolve "kind/key" (the kind is the shortest prefix before a '/' that
 * names a kind of the store, so kind names may contain '/'). Returns 0 and
 * the kind id and key bytes, or MN_ENOKIND (no such kind; *kind_end is how
 * many bytes of addr were taken as the kind), MN_EKEY (no '/', or a bad
 * key).
 */
int mn__cli_addr_parse(mn__cli *c, const char *addr, uint32_t *kind_id,
		       unsigned char *key, size_t *key_len, size_t *kind_end);

/* The address of actor id ("outside" for 0; "actor ID (unknown)" if the
 * store has no such actor). buf holds MN__CLI_ADDR_CAP bytes. */
void mn__cli_actor_name(mn__cli *c, char *buf, uint64_t id);

/* One "actor" JSON line: id, kind, key (as shown, and as hex), address,
 * heads, snapshot seq, times. */
void mn__cli_actor_json(mn__cli *c, const mn__actor_meta *m);

/* The seq an actor's stored history starts after: 0, or the compaction
 * point of the actor or of the ancestor whose history a fork shares (a
 * snapshot is stored there). */
uint64_t mn__cli_history_start(mn__cli *c, const mn__actor_meta *m);

/* An actor's lineage for people: "fork of agent/alice@120", "history from
 * seq 41" (compacted), both, or "" for neither. */
void mn__cli_lineage(mn__cli *c, char *buf, size_t cap,
		     const mn__actor_meta *m);

/*
 * Whether the runtime could bring actor m back, judged without its kind's
 * code (docs/tool.md, "Broken actors"): its latest snapshot at or before
 * its last seq must decode (checksum, decompression), and its journal
 * after that snapshot must decode and chain back to it, entry by entry,
 * ending at the actor's last seq. restore() and handle() are not run.
 * Returns 0 (it can be read), or the code the runtime would break it with
 * and the reason in why (cap bytes). scratch holds the snapshot.
 */
int mn__cli_actor_check(mn__cli *c, const mn__actor_meta *m, mn_buf *scratch,
			char *why, size_t cap);

/* ISO 8601 UTC with milliseconds, "-" for 0. buf: MN__CLI_TIME_CAP. */
void mn__cli_time(char *buf, uint64_t unix_ms);

/* "84.0 KiB" (bytes under 1 KiB as "512 B"). buf: 32 bytes. */
void mn__cli_size(char *buf, uint64_t bytes);

/* Flag names of a message ("external", "timer", "call", "0x..." for unknown
 * bits, comma-separated; "-" for none). buf: 64 bytes. */
void mn__cli_flags(char *buf, uint32_t flags);

/* True when p[0..len) is UTF-8 text: valid sequences, no control
 * characters but tab, newline and carriage return. */
bool mn__cli_is_text(const void *p, size_t len);

/*
 * Lines like `hexdump -C`: offset, 16 bytes in hex, the printable ones as
 * text; each line starts with indent. At most limit bytes (0: all), then a
 * line saying how many were left out.
 */
void mn__cli_hexdump(FILE *f, const char *indent, const void *p, size_t len,
		     size_t limit);

/* ---- JSON lines (cli_json.c) ------------------------------------------ */

/* One object written field by field: {"record":"...",...}\n */
typedef struct mn__jw {
	FILE *f;
} mn__jw;

void mn__jw_begin(mn__jw *w, FILE *f, const char *record);
void mn__jw_u64(mn__jw *w, const char *key, uint64_t v);
void mn__jw_i64(mn__jw *w, const char *key, int64_t v);
void mn__jw_bool(mn__jw *w, const char *key, bool v);
/* A finite double with up to 4 decimals; null otherwise. */
void mn__jw_num(mn__jw *w, const char *key, double v);
void mn__jw_null(mn__jw *w, const char *key);
/* A NUL-terminated string, escaped. */
void mn__jw_str(mn__jw *w, const char *key, const char *s);
/* len bytes as a string: valid UTF-8 as is, control characters escaped,
 * each byte of an invalid sequence as U+FFFD. */
void mn__jw_bytes(mn__jw *w, const char *key, const void *p, size_t len);
/* len bytes as lowercase hex digits in a string. */
void mn__jw_hex(mn__jw *w, const char *key, const void *p, size_t len);
/* n NUL-terminated strings as a JSON array of strings. */
void mn__jw_strs(mn__jw *w, const char *key, const char *const *v, size_t n);
/* A time as ISO 8601 (null for 0). */
void mn__jw_time(mn__jw *w, const char *key, uint64_t unix_ms);
/* Close the object and end the line. */
void mn__jw_end(mn__jw *w);

/* Write p[0..len) as a JSON string (quotes included) to f. */
void mn__json_string(FILE *f, const void *p, size_t len);

/* ---- outbound calls (cli_calls.c) -------------------------------------- */

/* An intent's transport as the tool names it ("http", "bridge"). */
const char *mn__cli_transport(uint32_t transport);

/* One call intent in text: "call ID  METHOD URL  body N B  hash 0x...
 * credential NAME" (bridged: "bridge request N B"), then its headers,
 * each on a line after indent. */
void mn__cli_intent_text(FILE *f, const char *indent, const mn__intent *in);

/* Its fields into a JSON record, each key after prefix ("" or "old_"):
 * call_id, index, seq, transport, method, url, headers, body_bytes,
 * body_hex, request_hash, credential (a name or null), reply_type,
 * timeout_ms, max_attempts, created. */
void mn__cli_intent_json(mn__jw *w, const char *prefix, const mn__intent *in);

/* A reply envelope (the payload of a MN_MSG_CALL entry) in one text line
 * after indent: "reply to call ID: status 200  body N B  latency X ms
 * attempts N" or "reply to call ID: MN_ETIMEDOUT (reason) ...";
 * "reply: undecodable envelope" when it does not decode. */
void mn__cli_reply_text(FILE *f, const char *indent, const void *payload,
			size_t len);
/* Its fields into an entry's JSON record: reply_call_id, reply_err
 * (name, or null), reply_reason, reply_status, reply_body_bytes,
 * reply_latency_us, reply_attempts; reply_ok false when it does not
 * decode. */
void mn__cli_reply_json(mn__jw *w, const void *payload, size_t len);

#endif /* MN_RECOVERY_CLI_H */
