/*
 * standin_proc.c - the stand-in program as a child (standin_proc.h): fork,
 * its stdout on a pipe, exec; the port is the first line it prints.
 */
#include "tests/support/standin_proc.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define ARGS_MAX 16

int standin_proc_start(const char *path, const char *const *args, pid_t *pid,
		       uint16_t *port)
{
	char *argv[ARGS_MAX + 2];
	size_t n = 0;
	argv[n++] = (char *)path;
	for (size_t i = 0; args && args[i]; i++) {
		if (n > ARGS_MAX) {
			fprintf(stderr, "standin_proc: too many arguments\n");
			return -1;
		}
		argv[n++] = (char *)args[i];
	}
	argv[n] = NULL;
	int fds[2];
	if (pipe(fds) != 0) {
		fprintf(stderr, "standin_proc: pipe: %s\n", strerror(errno));
		return -1;
	}
	fflush(stdout);
	pid_t p = fork();
	if (p < 0) {
		fprintf(stderr, "standin_proc: fork: %s\n", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (p == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execv(path, argv);
		_exit(127);
	}
	close(fds[1]);
	char line[32] = {0};
	size_t got = 0;
	while (got < sizeof line - 1 && !strchr(line, '\n')) {
		ssize_t r = read(fds[0], line + got, sizeof line - 1 - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fds[0]);
	unsigned long v = strtoul(line, NULL, 10);
	if (!v || v > 65535) {
		fprintf(stderr, "standin_proc: %s did not start\n", path);
		standin_proc_stop(p);
		return -1;
	}
	*pid = p;
	*port = (uint16_t)v;
	return 0;
}

void standin_proc_stop(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}
