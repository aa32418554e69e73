/*
 * serve_proc.h - `mnemo serve` as a child process, and one HTTP request to
 * it, for the tests and the benchmark that drive the real server
 * (tests/recovery/test_serve_kill.c, bench/serve.c). Plain POSIX and
 * libcurl, no test framework.
 */
#ifndef MN_TESTS_SERVE_PROC_H
#define MN_TESTS_SERVE_PROC_H

#include <stddef.h>
#include <sys/types.h>

/* Run `TOOL serve --listen 127.0.0.1:0 --port-file PORTF ARGS... STORE`
 * with stderr to logf, and wait for the port it writes (bounded: 30 s).
 * args: NULL-terminated, may be NULL. 0 with *pid and *port, or -1 (the
 * reason on stderr; no child left). */
int serve_proc_start(const char *tool, const char *const *args,
		     const char *store, const char *portf, const char *logf,
		     pid_t *pid, unsigned *port);

/* Send sig (SIGTERM: a drain; SIGKILL: a crash) and wait up to timeout_ms
 * for the exit; past it, SIGKILL. The exit status (128 + N for signal N),
 * or -1 when it had to be killed after the timeout. */
int serve_proc_stop(pid_t pid, int sig, unsigned timeout_ms);

/* Resident set size of a process in bytes (VmRSS; anon: RssAnon), 0 when
 * it cannot be read. */
size_t serve_proc_rss(pid_t pid, size_t *anon);

/* One request to 127.0.0.1:port: method, path (with the query), a bearer
 * token (NULL: none), one more header line (NULL: none), a body (NULL:
 * none; len bytes). The response body goes to out (cut at cap - 1, NUL
 * terminated; out may be NULL). The status, or -1 when there was none
 * (refused, reset, timed out after timeout_ms). Thread-safe once
 * curl_global_init has run. */
long serve_http(unsigned port, const char *method, const char *path,
		const char *token, const char *header, const char *body,
		size_t len, unsigned timeout_ms, char *out, size_t cap);

#endif
