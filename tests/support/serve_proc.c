/*
 * serve_proc.c - `mnemo serve` as a child process and one HTTP request to
 * it (serve_proc.h).
 */
#include "tests/support/serve_proc.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void nap_ms(unsigned ms)
{
	struct timespec t = {.tv_sec = ms / 1000,
			     .tv_nsec = (long)(ms % 1000) * 1000000L};
	while (nanosleep(&t, &t) && errno == EINTR) {
	}
}

int serve_proc_start(const char *tool, const char *const *args,
		     const char *store, const char *portf, const char *logf,
		     pid_t *pid, unsigned *port)
{
	const char *argv[64];
	size_t n = 0;
	argv[n++] = tool;
	argv[n++] = "serve";
	argv[n++] = "--listen";
	argv[n++] = "127.0.0.1:0";
	argv[n++] = "--port-file";
	argv[n++] = portf;
	for (size_t i = 0; args && args[i] && n < 60; i++)
		argv[n++] = args[i];
	argv[n++] = store;
	argv[n] = NULL;
	unlink(portf);
	fflush(NULL);
	pid_t c = fork();
	if (c < 0) {
		perror("serve_proc: fork");
		return -1;
	}
	if (c == 0) {
		int fd = open(logf, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0)
			dup2(fd, 2);
		execv(tool, (char *const *)argv);
		_exit(127);
	}
	for (int i = 0; i < 3000; i++) {
		FILE *f = fopen(portf, "r");
		if (f) {
			int got = fscanf(f, "%u", port);
			fclose(f);
			if (got == 1 && *port) {
				*pid = c;
				return 0;
			}
		}
		int st;
		if (waitpid(c, &st, WNOHANG) == c) {
			fprintf(stderr,
				"serve_proc: mnemo serve exited early "
				"(see %s)\n",
				logf);
			return -1;
		}
		nap_ms(10);
	}
	fprintf(stderr, "serve_proc: mnemo serve wrote no port in 30 s\n");
	serve_proc_stop(c, SIGKILL, 5000);
	return -1;
}

int serve_proc_stop(pid_t pid, int sig, unsigned timeout_ms)
{
	int st = 0;
	if (pid <= 0)
		return -1;
	kill(pid, sig);
	for (unsigned waited = 0; waited < timeout_ms; waited += 5) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st)
					     : 128 + WTERMSIG(st);
		nap_ms(5);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

size_t serve_proc_rss(pid_t pid, size_t *anon)
{
	char path[64], line[256];
	size_t rss = 0, a = 0;
	snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
	FILE *f = fopen(path, "r");
	if (f) {
		while (fgets(line, sizeof line, f)) {
			unsigned long long kb;
			if (sscanf(line, "VmRSS: %llu", &kb) == 1)
				rss = (size_t)kb * 1024;
			else if (sscanf(line, "RssAnon: %llu", &kb) == 1)
				a = (size_t)kb * 1024;
		}
		fclose(f);
	}
	if (anon)
		*anon = a;
	return rss;
}

typedef struct sink {
	char *p;
	size_t cap, len;
} sink;

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	sink *s = arg;
	size_t len = size * n;
	if (s->p && s->cap) {
		size_t room = s->cap - 1 - s->len;
		size_t k = len < room ? len : room;
		memcpy(s->p + s->len, p, k);
		s->len += k;
		s->p[s->len] = 0;
	}
	return len;
}

long serve_http(unsigned port, const char *method, const char *path,
		const char *token, const char *header, const char *body,
		size_t len, unsigned timeout_ms, char *out, size_t cap)
{
	char url[2048], auth[512];
	sink s = {out, cap, 0};
	long status = -1;
	if (out && cap)
		out[0] = 0;
	CURL *h = curl_easy_init();
	if (!h)
		return -1;
	struct curl_slist *hs = NULL;
	snprintf(url, sizeof url, "http://127.0.0.1:%u%s", port, path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
	if (token) {
		snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
		hs = curl_slist_append(hs, auth);
	}
	if (header)
		hs = curl_slist_append(hs, header);
	hs = curl_slist_append(hs, "Content-Type: application/json");
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hs);
	if (body) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)len);
	}
	if (curl_easy_perform(h) == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hs);
	curl_easy_cleanup(h);
	return status;
}
