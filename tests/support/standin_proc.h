/*
 * standin_proc.h - the stand-in server as a child process (the program
 * build/tests/tools/standin-server, tests/tools/standin_server.c), for the
 * harnesses that fork (a server in their own process would leave threads
 * behind each fork) and the benchmark that measures its own memory. Plain
 * POSIX, no test framework: the tests and bench/calls.c both use it.
 */
#ifndef MN_TESTS_STANDIN_PROC_H
#define MN_TESTS_STANDIN_PROC_H

#include <stdint.h>
#include <sys/types.h>

/* Run the program at path with the arguments args (NULL-terminated; may be
 * NULL), and read the port it prints. 0 with *pid and *port, or -1 (the
 * reason on stderr; no child left). */
int standin_proc_start(const char *path, const char *const *args, pid_t *pid,
		       uint16_t *port);

/* SIGTERM, then wait for it. pid <= 0 is a no-op. */
void standin_proc_stop(pid_t pid);

#endif
