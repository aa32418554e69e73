/*
 * serve_upgrade.c - swapping the code of a running host's kinds
 * (docs/upgrades.md, "Upgrading a running host"): load the new plugin,
 * check it against real histories (`mnemo check --kind K --sample N`, a
 * child process of this very binary, read-only beside the live writer),
 * and when every check passes replace each kind's code with
 * mn_kind_upgrade (new kinds are registered). Triggered by POST
 * /v1/admin/upgrade (serve_api.c) or SIGUSR2 (cmd_serve.c).
 *
 * A plugin is loaded from a fresh copy of its file: the dynamic loader
 * hands back the loaded object for a path (or an inode) it already has,
 * so a plugin replaced in place would otherwise not be read again. Every
 * plugin stays loaded until exit.
 *
 * Threads: the caller's (an HTTP pool thread or the command's), one
 * upgrade at a time (upgrade_mu).
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/abi.h"
#include "recovery/serve.h"

extern char **environ;

/* Copy src to a new file in TMPDIR; its path into out. 0 or -1. */
static int copy_plugin(const char *src, char *out, size_t cap)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(out, cap, "%s/mnemo-plugin-XXXXXX.so",
		 tmp && *tmp ? tmp : "/tmp");
	int to = mkstemps(out, 3);
	if (to < 0)
		return -1;
	int from = open(src, O_RDONLY | O_CLOEXEC);
	int rc = from < 0 ? -1 : 0;
	char buf[65536];
	while (!rc) {
		ssize_t n = read(from, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -1 : 0;
			break;
		}
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(to, buf + off, (size_t)(n - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				rc = -1;
				break;
			}
			off += w;
		}
	}
	if (from >= 0)
		close(from);
	if (close(to) || rc) {
		unlink(out);
		return -1;
	}
	return 0;
}

/* Whether path lies in s->plugin_dir (after resolving links). */
static bool allowed_path(mn__srv *s, const char *path, char *real, size_t cap)
{
	char r[PATH_MAX];
	if (!realpath(path, r) || strlen(r) >= cap)
		return false;
	snprintf(real, cap, "%s", r);
	size_t n = strlen(s->plugin_dir);
	return n && strncmp(r, s->plugin_dir, n) == 0 && r[n] == '/';
}

/*
 * `mnemo check --plugin P --kind K --sample N --jobs 1 --json STORE` in a
 * child of this binary; its exit status (or -1), and its summary record
 * into *summary (NULL when it printed none).
 */
static int run_check(mn__srv *s, const char *plugin, const char *kind,
		     uint64_t sample, json_t **summary)
{
	char nbuf[24];
	snprintf(nbuf, sizeof nbuf, "%llu", (unsigned long long)sample);
	char *argv[] = {"mnemo",    "check",
			"--plugin", (char *)plugin,
			"--kind",   (char *)kind,
			"--sample", nbuf,
			"--jobs",   "1",
			"--json",   "--timeout-ms",
			"10000",    (char *)s->c->path,
			NULL};
	int out[2];
	*summary = NULL;
	if (pipe2(out, O_CLOEXEC))
		return -1;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	pid_t pid;
	int rc = posix_spawn(&pid, "/proc/self/exe", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(out[1]);
	if (rc) {
		close(out[0]);
		return -1;
	}
	mn_buf b;
	mn__buf_init(&b);
	char chunk[4096];
	for (;;) {
		ssize_t n = read(out[0], chunk, sizeof chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (b.len < (1u << 20) && mn_buf_append(&b, chunk, (size_t)n))
			break;
	}
	close(out[0]);
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (mn_buf_append(&b, "", 1) == 0) {
		const char *p =
		    strstr((const char *)b.data, "{\"record\":\"summary\"");
		if (p)
			*summary = json_loadb(p, strcspn(p, "\n"), 0, NULL);
	}
	mn__buf_free(&b);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static bool expected(const mn__srv_upgrade_req *u, const char *kind)
{
	for (size_t i = 0; i < u->nexpect; i++)
		if (!strcmp(u->expect[i], kind))
			return true;
	return false;
}

/* The plugin's kinds (stride as core/abi.h reads them) into defs. */
static int plugin_kinds(void *dl, mn_kind_def **defs, size_t *n,
			const char **why)
{
	void *sym = dlsym(dl, MN_PLUGIN_SYMBOL);
	if (!sym) {
		*why = "the plugin has no entry symbol " MN_PLUGIN_SYMBOL;
		return -1;
	}
	mn_plugin_kinds_fn fn;
	memcpy(&fn, &sym, sizeof fn);
	size_t count = 0;
	const mn_kind_def *arr = fn(&count);
	if (!arr || !count) {
		*why = "the plugin has no kinds";
		return -1;
	}
	size_t stride = mn__kind_defs_stride(arr, count);
	*defs = calloc(count, sizeof **defs);
	if (!*defs) {
		*why = "out of memory";
		return -1;
	}
	for (size_t i = 0; i < count; i++) {
		const mn_kind_def *d =
		    (const void *)((const char *)arr + i * stride);
		if (mn__kind_def_load_at(&(*defs)[i], d, stride) ||
		    !(*defs)[i].name) {
			free(*defs);
			*why = "a kind definition this mnemo cannot read";
			return -1;
		}
	}
	*n = count;
	return 0;
}

static int keep_dl(mn__srv *s, void *dl)
{
	if (s->ndls == s->cap_dls) {
		size_t cap = s->cap_dls ? 2 * s->cap_dls : 4;
		void **n = realloc(s->dls, cap * sizeof *n);
		if (!n)
			return -1;
		s->dls = n;
		s->cap_dls = cap;
	}
	s->dls[s->ndls++] = dl;
	return 0;
}

static json_t *fail_report(json_t *r, const char *why)
{
	json_object_set_new(r, "error", json_string(why));
	return r;
}

int mn__srv_upgrade(mn__srv *s, const mn__srv_upgrade_req *u,
		    struct json_t **report, unsigned *status)
{
	json_t *r = json_object(), *kinds = json_array();
	char real[PATH_MAX], copy[PATH_MAX];
	const char *why = NULL;
	void *dl = NULL;
	mn_kind_def *defs = NULL;
	size_t n = 0;
	int rc = -1;

	*report = r;
	*status = 400;
	json_object_set_new(r, "kinds", kinds);
	if (pthread_mutex_trylock(&s->upgrade_mu)) {
		*status = 503;
		fail_report(r, "another upgrade is running");
		return -1;
	}
	const char *path = u->plugin ? u->plugin : s->plugin;
	json_object_set_new(r, "plugin", json_string(path));
	if (!allowed_path(s, path, real, sizeof real)) {
		fail_report(r, "the plugin must be a file in the directory of "
			       "--plugin");
		goto out;
	}
	if (copy_plugin(real, copy, sizeof copy)) {
		fail_report(r, "the plugin could not be copied");
		goto out;
	}
	dl = dlopen(copy, RTLD_NOW | RTLD_LOCAL);
	if (!dl) {
		const char *e = dlerror();
		fail_report(r, e ? e : "dlopen failed");
		unlink(copy);
		goto out;
	}
	if (plugin_kinds(dl, &defs, &n, &why)) {
		fail_report(r, why);
		unlink(copy);
		goto out;
	}

	/* The checks: every kind the runtime runs. */
	bool pass = true;
	for (size_t i = 0; i < n; i++) {
		json_t *k = json_object();
		json_array_append_new(kinds, k);
		json_object_set_new(k, "kind", json_string(defs[i].name));
		json_object_set_new(k, "version",
				    json_integer(defs[i].version));
		const mn_kind *running = mn_kind_find(s->rt, defs[i].name);
		if (!running) {
			json_object_set_new(k, "action",
					    json_string("register"));
			continue;
		}
		json_t *sum = NULL;
		int code = run_check(s, copy, defs[i].name, u->sample, &sum);
		if (sum)
			json_object_set_new(k, "check", sum);
		json_object_set_new(k, "check_exit", json_integer(code));
		bool ok = code == 0 || (code == 1 && expected(u, defs[i].name));
		json_object_set_new(k, "action",
				    json_string(ok ? "upgrade" : "refused"));
		if (!ok)
			pass = false;
	}
	unlink(copy);
	if (!pass) {
		*status = 409;
		fail_report(r, "mnemo check did not pass: nothing changed");
		atomic_fetch_add(&s->upgrades_refused, 1);
		goto out;
	}

	/* The swaps: each kind's messages wait only while its own runs. */
	*status = 200;
	for (size_t i = 0; i < n; i++) {
		json_t *k = json_array_get(kinds, i);
		const mn_kind *running = mn_kind_find(s->rt, defs[i].name);
		int krc = running
			      ? mn_kind_upgrade(s->rt, &defs[i], u->timeout_ms)
			      : mn_kind_register(s->rt, &defs[i], NULL);
		json_object_set_new(k, "done",
				    json_string(krc	  ? mn_err_name(krc)
						: running ? "upgraded"
							  : "registered"));
		if (krc) {
			json_object_set_new(k, "detail",
					    json_string(mn_errdetail()));
			*status = 500;
		}
	}
	if (keep_dl(s, dl)) {
		/* Cannot forget it: its code may run. Leaked, never closed. */
	}
	dl = NULL;
	if (*status == 200) {
		rc = 0;
		atomic_fetch_add(&s->upgrades_done, 1);
	} else {
		fail_report(r, "a swap failed: see each kind");
	}
out:
	if (dl)
		dlclose(dl);
	free(defs);
	pthread_mutex_unlock(&s->upgrade_mu);
	return rc;
}

void mn__srv_plugins_free(mn__srv *s)
{
	for (size_t i = 0; i < s->ndls; i++)
		dlclose(s->dls[i]);
	free(s->dls);
	s->dls = NULL;
	s->ndls = s->cap_dls = 0;
}
