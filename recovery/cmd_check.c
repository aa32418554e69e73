/*
 * cmd_check.c - `mnemo check STORE --plugin NEW.so`: the upgrade gate
 * (docs/upgrades.md). Replays a chosen set of real actors (all, a kind, a
 * random sample, a list) with new code from their stored histories,
 * offline (recorded replies, no network: the replay engine,
 * recovery/replay.c), and reports per actor: identical, diverged at seq S,
 * failed (the handler errored, crashed or hung), or cannot restore (an old
 * snapshot the new code refuses).
 *
 * Shape: the parent opens the store and the plugin, picks the actors (ids
 * only: 16 bytes an actor), closes both, and forks --jobs workers. Worker j
 * checks the picked actors j, j + jobs, ... with its own store and plugin
 * (LMDB environments do not cross fork), writing a start record before
 * each actor and a result after it on its pipe. A worker that dies (a
 * crash in the new code) or stays on one actor past --timeout-ms is
 * blamed for that actor only: the parent records it as failed and forks a
 * new worker for the rest of that stride. Threads: one per process.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "core/offline.h"
#include "core/upgrade.h"
#include "recovery/cli.h"
#include "recovery/replay.h"

static const char synopsis[] =
    "usage: mnemo check --plugin NEW.so [--kind K] [--sample N [--seed S]]\n"
    "                   [--actor ADDRESS]... [--jobs N] [--timeout-ms MS]\n"
    "                   [--expect-diverge KIND]... [--details N] [-j] STORE\n";

static const char help[] =
    "NAME\n"
    "    mnemo check - replay real histories with new code before it "
    "runs\n"
    "\n"
    "SYNOPSIS\n"
    "    mnemo check --plugin NEW.so [options] STORE\n"
    "\n"
    "DESCRIPTION\n"
    "    Replays the chosen actors' stored histories with the kinds of\n"
    "    NEW.so, offline (outbound calls get their recorded replies), from\n"
    "    init (or the snapshot a compaction left), comparing the state\n"
    "    with every stored snapshot and, when the kind has hash(), with\n"
    "    the hash recorded after every message. Each actor is reported\n"
    "    identical, diverged (at the first differing seq: old and new\n"
    "    state described, the message, the differing request of a call),\n"
    "    failed (handle() returned an error where the journal does not\n"
    "    show the old code did the same, init() failed, the code crashed\n"
    "    or ran past --timeout-ms: isolated in a worker process), or\n"
    "    cannot restore (an old snapshot NEW.so refuses). Actors of kinds\n"
    "    NEW.so does not define are skipped.\n"
    "\n"
    "OPTIONS\n"
    "    -p, --plugin NEW.so     the new code (required)\n"
    "    -k, --kind K            only actors of kind K\n"
    "    -n, --sample N          a random sample of N of them\n"
    "    -s, --seed S            the sample's seed (default 1)\n"
    "    -a, --actor ADDRESS     this actor (repeatable); KIND/KEY\n"
    "    -J, --jobs N            worker processes (default: the cores)\n"
    "    -t, --timeout-ms MS     one actor's limit (default 30000)\n"
    "    -e, --expect-diverge K  kind K is meant to change: its\n"
    "                            divergences are reported, not failures\n"
    "    -d, --details N         reports shown per outcome (default 10)\n"
    "    -j, --json              JSON lines: an \"actor\" record for each\n"
    "                            actor not identical (at most --details of\n"
    "                            each outcome), then \"kind\" and\n"
    "                            \"summary\" records\n"
    "\n"
    "EXIT STATUS\n"
    "    0 every actor identical (or diverged only in expected kinds),\n"
    "    1 some diverged, 2 some failed or cannot restore (or a usage or\n"
    "    store error).\n";

enum {
	ST_START = 0,
	ST_IDENTICAL,
	ST_DIVERGED,
	ST_FAILED,
	ST_NORESTORE,
	ST_SKIPPED,
	ST_N
};

static const char *const st_name[ST_N] = {
    "start", "identical", "diverged", "failed", "cannot_restore", "skipped"};

/* A picked actor. */
typedef struct pick {
	uint64_t id;
	uint32_t kind_id;
} pick;

/* One result on a worker's pipe; detail bytes follow. */
typedef struct wire {
	uint32_t idx;
	uint32_t status;
	uint64_t seq;
	uint64_t replayed;
	uint32_t detail_len;
	uint32_t pad;
} wire;

#define DETAIL_MAX 8192
#define KINDS_SEEN 64
#define EXPECT_MAX 16
#define ACTOR_ARGS 64

typedef struct copts {
	const char *plugin, *kind;
	uint64_t sample, seed, jobs, timeout_ms, details;
	const char *actors[ACTOR_ARGS];
	size_t nactors;
	const char *expect[EXPECT_MAX];
	size_t nexpect;
} copts;

/* Per kind, for the summary. */
typedef struct kstat {
	uint32_t kind_id;
	char name[MN_KIND_NAME_MAX + 1];
	bool expected, in_plugin;
	uint64_t n[ST_N];
	uint64_t seq_min, seq_max, seq_sum; /* of divergences */
} kstat;

typedef struct check {
	mn__cli *c;
	copts *o;
	pick *picks;
	size_t npicks, cap;
	uint8_t *status;
	uint64_t *seq;
	uint64_t replayed;
	kstat kinds[KINDS_SEEN];
	size_t nkinds;
	uint64_t shown[ST_N];
	/* Sampling. */
	uint64_t seen, rng;
	uint32_t only_kind; /* 0: any */
} check;

static kstat *kind_of(check *k, uint32_t kind_id)
{
	for (size_t i = 0; i < k->nkinds; i++)
		if (k->kinds[i].kind_id == kind_id)
			return &k->kinds[i];
	return NULL;
}

static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static int add_pick(check *k, const mn__actor_meta *m)
{
	if (mn__cli_grow((void **)&k->picks, &k->cap, k->npicks,
			 sizeof *k->picks))
		return MN_ENOMEM;
	k->picks[k->npicks++] = (pick){.id = m->id, .kind_id = m->kind_id};
	return 0;
}

/* The scan: every actor of the kind (or all), into picks or a reservoir
 * of --sample of them. */
static int on_actor(void *arg, const mn__actor_meta *m)
{
	check *k = arg;
	if (k->only_kind && m->kind_id != k->only_kind)
		return 0;
	if (!kind_of(k, m->kind_id)) {
		kstat *s = &k->kinds[k->nkinds];
		if (k->nkinds == KINDS_SEEN)
			return 0; /* more kinds than a summary shows */
		memset(s, 0, sizeof *s);
		s->kind_id = m->kind_id;
		k->nkinds++;
	}
	k->seen++;
	if (!k->o->sample || k->npicks < k->o->sample)
		return add_pick(k, m);
	uint64_t j = rng_next(&k->rng) % k->seen;
	if (j < k->o->sample)
		k->picks[j] = (pick){.id = m->id, .kind_id = m->kind_id};
	return 0;
}

/* ---- a worker ---------------------------------------------------------- */

/* What the replay's callback saw of the run. */
typedef struct seen {
	uint64_t err_seq; /* the first entry handle() refused, 0 */
	int err_rc;
	bool err_hashed; /* that entry recorded a state hash */
	uint64_t last_seq;
	uint32_t last_type;
	unsigned char last[256];
	size_t last_len, last_full;
} seen;

static int on_state(void *arg, mn__rp *r, const mn__entry *e, int hrc)
{
	seen *s = arg;
	if (!e)
		return 0;
	s->last_seq = e->seq;
	s->last_type = e->type;
	s->last_full = e->len;
	s->last_len = e->len < sizeof s->last ? e->len : sizeof s->last;
	if (s->last_len)
		memcpy(s->last, e->payload, s->last_len);
	if (hrc < 0 && !s->err_seq) {
		s->err_seq = e->seq;
		s->err_rc = hrc;
		s->err_hashed = e->state_hash && r->def->hash;
	}
	return 0;
}

static int write_all(int fd, const void *p, size_t n)
{
	const char *b = p;
	while (n) {
		ssize_t w = write(fd, b, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

static int send_result(int fd, uint32_t idx, uint32_t st, uint64_t seq,
		       uint64_t replayed, const char *d, size_t len)
{
	if (len > DETAIL_MAX)
		len = DETAIL_MAX;
	wire w = {.idx = idx,
		  .status = st,
		  .seq = seq,
		  .replayed = replayed,
		  .detail_len = (uint32_t)len};
	if (write_all(fd, &w, sizeof w))
		return -1;
	return len ? write_all(fd, d, len) : 0;
}

/* After a divergence at seq S: the state before S, which both versions
 * reached alike (nothing differed up to S - 1), replayed again to S - 1
 * and described; the store keeps old states only at snapshots. */
static void before(mn__rp *r, const mn__actor_meta *m, FILE *mem)
{
	uint64_t at = r->diverged_seq;
	if (at <= 1 || at - 1 <= m->compacted_seq)
		return;
	r->cb = NULL;
	if (mn__rp_run(r, at - 1, m->compacted_seq == 0) != MN__CLI_OK)
		return;
	mn_buf d;
	mn__buf_init(&d);
	if (mn__rp_describe(r, r->state, &d) == 0) {
		fprintf(mem, "  before seq %llu (the same in both versions):\n",
			(unsigned long long)at);
		mn__cli_lines(mem, "    ", d.data, d.len);
	}
	mn__buf_free(&d);
	r->diverged_seq = at;
}

/* Check one actor: its outcome, seq, and the report (malloc'd). */
static uint32_t check_one(mn__rp *r, const mn__actor_meta *am, uint64_t *seq,
			  char **det, size_t *dlen)
{
	mn__cli *c = r->c;
	FILE *real_out = c->out, *real_err = c->err;
	FILE *mem = open_memstream(det, dlen);
	seen s = {0};
	uint32_t st;
	mn__actor_meta m = *am;

	*seq = 0;
	if (!mem)
		return ST_FAILED;
	c->out = c->err = mem;
	mn__cli_clear_detail();
	int rc = mn__rp_select(r, &m);
	if (rc) {
		st = ST_FAILED;
		goto out;
	}
	r->cb = on_state;
	r->cb_arg = &s;
	r->stub_calls = false;
	r->start_max = m.compacted_seq;
	rc = mn__rp_run(r, m.last_seq, m.compacted_seq == 0);
	if (r->restore_how == MN__RESTORED_REFUSED ||
	    r->restore_how == MN__RESTORED_FAILED) {
		st = ST_NORESTORE;
		*seq = r->restore_seq;
	} else if (s.err_seq &&
		   (!s.err_hashed ||
		    (r->diverged && r->diverged_seq == s.err_seq))) {
		/* New code refused a message, and nothing shows the old code
		 * ended in the same state. */
		fprintf(mem, "handle() returned %s at seq %llu\n",
			mn_err_name(s.err_rc), (unsigned long long)s.err_seq);
		st = ST_FAILED;
		*seq = s.err_seq;
	} else if (r->diverged || r->call_divergences) {
		st = ST_DIVERGED;
		*seq = r->diverged_seq;
		before(r, &m, mem);
		if (s.last_seq == r->diverged_seq) {
			fprintf(mem,
				"  the message at seq %llu: type %u, %zu B",
				(unsigned long long)s.last_seq, s.last_type,
				s.last_full);
			if (s.last_len && mn__cli_is_text(s.last, s.last_len))
				fprintf(mem, ": %.*s%s\n", (int)s.last_len,
					(const char *)s.last,
					s.last_len < s.last_full ? "..." : "");
			else
				fputc('\n', mem);
		}
	} else if (rc == MN__CLI_OK) {
		st = ST_IDENTICAL;
	} else {
		st = ST_FAILED;
		*seq = r->seq;
	}
out:
	c->out = real_out;
	c->err = real_err;
	fclose(mem);
	return st;
}

/* Worker: picks from, from + stride, ... Exits 0, or 3 when it cannot
 * start (the parent then fails those actors). */
static void worker(check *k, size_t from, size_t stride, int fd)
{
	mn__cli c = *k->c;
	mn__rp r;
	c.store = NULL;
	c.codec = NULL;
	int rc = mn__rp_load(&r, &c, k->o->plugin);
	if (rc) {
		mn__rp_close(&r);
		_exit(3);
	}
	for (size_t i = from; i < k->npicks; i += stride) {
		uint64_t seq;
		char *det = NULL, addr[MN__CLI_ADDR_CAP];
		size_t dlen = 0;
		mn__actor_meta m;
		mn__cli_clear_detail();
		rc = mn__store_actor_get(c.store, k->picks[i].id, &m);
		if (rc) {
			snprintf(addr, sizeof addr, "actor %llu",
				 (unsigned long long)k->picks[i].id);
			if (send_result(fd, (uint32_t)i, ST_START, 0, 0, addr,
					strlen(addr)))
				break;
			const char *why = mn_strerror(rc);
			if (send_result(fd, (uint32_t)i, ST_FAILED, 0, 0, why,
					strlen(why)))
				break;
			continue;
		}
		mn__cli_addr_format(&c, addr, m.kind_id, m.key, m.key_len);
		/* The start names the actor: a crash is blamed on it. */
		if (send_result(fd, (uint32_t)i, ST_START, 0, 0, addr,
				strlen(addr)))
			break;
		uint32_t st = check_one(&r, &m, &seq, &det, &dlen);
		int wrc = send_result(fd, (uint32_t)i, st, seq, r.replayed,
				      st == ST_IDENTICAL ? NULL : det, dlen);
		free(det);
		if (wrc)
			break;
	}
	mn__rp_close(&r);
	_exit(0);
}

/* ---- the parent --------------------------------------------------------- */

typedef struct wslot {
	pid_t pid;
	int fd;
	size_t next;		     /* the next index of its stride */
	long started;		     /* the current actor's index, -1: none */
	uint64_t start_ms;	     /* when it began it */
	char addr[MN__CLI_ADDR_CAP]; /* its address */
	unsigned char buf[sizeof(wire) + DETAIL_MAX];
	size_t have;
} wslot;

static void show(check *k, size_t i, const char *addr, const char *det,
		 size_t len)
{
	mn__cli *c = k->c;
	uint32_t st = k->status[i];
	if (k->shown[st] >= k->o->details)
		return;
	k->shown[st]++;
	if (c->json) {
		mn__jw w;
		mn__jw_begin(&w, c->out, "actor");
		mn__jw_str(&w, "address", addr);
		mn__jw_str(&w, "outcome", st_name[st]);
		if (st == ST_IDENTICAL || st == ST_SKIPPED)
			mn__jw_null(&w, "seq");
		else
			mn__jw_u64(&w, "seq", k->seq[i]);
		mn__jw_bytes(&w, "report", det, len);
		mn__jw_end(&w);
		return;
	}
	fprintf(c->out, "%s: %s", addr, st_name[st]);
	if (st == ST_DIVERGED || st == ST_FAILED || st == ST_NORESTORE)
		fprintf(c->out, " at seq %llu", (unsigned long long)k->seq[i]);
	fputc('\n', c->out);
	mn__cli_lines(c->out, "    ", det, len);
}

static void record(check *k, size_t i, const char *addr, uint32_t st,
		   uint64_t seq, const char *det, size_t len)
{
	if (i >= k->npicks || k->status[i] != ST_START)
		return;
	k->status[i] = (uint8_t)st;
	k->seq[i] = seq;
	kstat *s = kind_of(k, k->picks[i].kind_id);
	if (s) {
		s->n[st]++;
		if (st == ST_DIVERGED) {
			if (!s->seq_min || seq < s->seq_min)
				s->seq_min = seq;
			if (seq > s->seq_max)
				s->seq_max = seq;
			s->seq_sum += seq;
		}
	}
	if (st != ST_IDENTICAL)
		show(k, i, addr, det, len);
}

static int spawn(check *k, wslot *w, size_t stride)
{
	int p[2];
	if (pipe(p))
		return -1;
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		close(p[0]);
		worker(k, w->next, stride, p[1]);
	}
	close(p[1]);
	w->pid = pid;
	w->fd = p[0];
	w->started = -1;
	w->have = 0;
	return 0;
}

/* Bytes from w's pipe: records, in order. Returns 0, or -1 at its end. */
static int drain(check *k, wslot *w, size_t stride)
{
	ssize_t n = read(w->fd, w->buf + w->have, sizeof w->buf - w->have);
	if (n < 0 && errno == EINTR)
		return 0;
	if (n <= 0)
		return -1;
	w->have += (size_t)n;
	for (;;) {
		wire h;
		if (w->have < sizeof h)
			break;
		memcpy(&h, w->buf, sizeof h);
		size_t total = sizeof h + h.detail_len;
		if (w->have < total)
			break;
		if (h.status == ST_START) {
			size_t n = h.detail_len < sizeof w->addr - 1
				       ? h.detail_len
				       : sizeof w->addr - 1;
			memcpy(w->addr, w->buf + sizeof h, n);
			w->addr[n] = '\0';
			w->started = (long)h.idx;
			w->start_ms = mn__mono_ms();
		} else {
			k->replayed += h.replayed;
			record(k, h.idx, w->addr, h.status, h.seq,
			       (const char *)w->buf + sizeof h, h.detail_len);
			w->started = -1;
			w->next = (size_t)h.idx + stride;
		}
		memmove(w->buf, w->buf + total, w->have - total);
		w->have -= total;
	}
	return 0;
}

/* w's worker ended (status st of waitpid, or killed for its time): blame
 * the actor it was on, and say whether the stride has more. */
static bool ended(check *k, wslot *w, int st, bool timed_out, size_t stride)
{
	char why[128];
	close(w->fd);
	w->fd = -1;
	w->pid = 0;
	if (w->started >= 0) {
		size_t i = (size_t)w->started;
		if (timed_out)
			snprintf(why, sizeof why,
				 "the new code ran past %llu ms (killed)\n",
				 (unsigned long long)k->o->timeout_ms);
		else if (WIFSIGNALED(st))
			snprintf(why, sizeof why,
				 "the new code crashed: signal %d (%s)\n",
				 WTERMSIG(st), strsignal(WTERMSIG(st)));
		else
			snprintf(why, sizeof why,
				 "the worker exited with status %d\n",
				 WIFEXITED(st) ? WEXITSTATUS(st) : -1);
		record(k, i, w->addr, ST_FAILED, 0, why, strlen(why));
		w->next = i + stride;
		w->started = -1;
		return w->next < k->npicks;
	}
	if (WIFEXITED(st) && WEXITSTATUS(st) == 3) {
		/* It could not even start: fail the rest of its stride. */
		static const char t[] = "the worker could not load the plugin "
					"or open the store\n";
		for (size_t i = w->next; i < k->npicks; i += stride)
			record(k, i, "(not started)", ST_FAILED, 0, t,
			       sizeof t - 1);
	}
	return false;
}

static int run_workers(check *k, size_t jobs)
{
	wslot *ws = calloc(jobs, sizeof *ws);
	struct pollfd *pf = calloc(jobs, sizeof *pf);
	if (!ws || !pf) {
		free(ws);
		free(pf);
		return MN_ENOMEM;
	}
	size_t live = 0;
	for (size_t j = 0; j < jobs; j++) {
		ws[j].next = j;
		ws[j].fd = -1;
		if (spawn(k, &ws[j], jobs) == 0)
			live++;
	}
	while (live) {
		for (size_t j = 0; j < jobs; j++) {
			pf[j].fd = ws[j].fd;
			pf[j].events = POLLIN;
			pf[j].revents = 0;
		}
		int n = poll(pf, jobs, 200);
		if (n < 0 && errno != EINTR)
			break;
		uint64_t now = mn__mono_ms();
		for (size_t j = 0; j < jobs; j++) {
			wslot *w = &ws[j];
			if (w->fd < 0)
				continue;
			bool gone = false, late = false;
			if (pf[j].revents && drain(k, w, jobs) < 0)
				gone = true;
			if (!gone && w->started >= 0 && now > w->start_ms &&
			    now - w->start_ms > k->o->timeout_ms) {
				kill(w->pid, SIGKILL);
				gone = late = true;
			}
			if (!gone)
				continue;
			int st = 0;
			while (waitpid(w->pid, &st, 0) < 0 && errno == EINTR)
				;
			live--;
			if (ended(k, w, st, late, jobs) &&
			    spawn(k, w, jobs) == 0)
				live++;
		}
	}
	free(ws);
	free(pf);
	return 0;
}

/* ---- the command -------------------------------------------------------- */

static int on_option(mn__cli *c, int ch, const char *arg, void *u)
{
	copts *o = u;
	uint64_t *num = ch == 'n'   ? &o->sample
			: ch == 's' ? &o->seed
			: ch == 'J' ? &o->jobs
			: ch == 't' ? &o->timeout_ms
			: ch == 'd' ? &o->details
				    : NULL;
	if (num) {
		if (mn__cli_parse_u64(arg, num) ||
		    ((ch == 'n' || ch == 'J' || ch == 't') && *num == 0) ||
		    (ch == 'J' && *num > 256))
			return mn__cli_usage(
			    c, "-%c wants a number%s, not '%s'", ch,
			    ch == 'J'		     ? " 1..256"
			    : ch == 'n' || ch == 't' ? " above 0"
						     : "",
			    arg);
		return 0;
	}
	switch (ch) {
	case 'p':
		o->plugin = arg;
		break;
	case 'k':
		o->kind = arg;
		break;
	case 'a':
		if (o->nactors == ACTOR_ARGS)
			return mn__cli_usage(c, "at most %d --actor options",
					     ACTOR_ARGS);
		o->actors[o->nactors++] = arg;
		break;
	case 'e':
		if (o->nexpect == EXPECT_MAX)
			return mn__cli_usage(
			    c, "at most %d --expect-diverge options",
			    EXPECT_MAX);
		o->expect[o->nexpect++] = arg;
		break;
	}
	return 0;
}

static const mn__cli_spec spec = {
    .name = "check",
    .synopsis = synopsis,
    .help = help,
    .shortopts = "p:k:n:s:a:J:t:e:d:",
    .opts =
	(const struct option[]){
	    {"plugin", required_argument, NULL, 'p'},
	    {"kind", required_argument, NULL, 'k'},
	    {"sample", required_argument, NULL, 'n'},
	    {"seed", required_argument, NULL, 's'},
	    {"actor", required_argument, NULL, 'a'},
	    {"jobs", required_argument, NULL, 'J'},
	    {"timeout-ms", required_argument, NULL, 't'},
	    {"expect-diverge", required_argument, NULL, 'e'},
	    {"details", required_argument, NULL, 'd'},
	    {NULL, 0, NULL, 0}},
    .json = true,
    .nargs = 1,
    .option = on_option};

/* Pick the actors: --actor addresses, else a scan. */
static int pick_actors(check *k, mn__rp *r)
{
	mn__cli *c = k->c;
	int rc;
	if (k->o->nactors) {
		for (size_t i = 0; i < k->o->nactors; i++) {
			uint32_t kind_id;
			unsigned char key[MN_KEY_MAX];
			size_t key_len, kind_end;
			mn__actor_meta m;
			const char *a = k->o->actors[i];
			rc = mn__cli_addr_parse(c, a, &kind_id, key, &key_len,
						&kind_end);
			if (rc == 0)
				rc = mn__store_actor_find(c->store, kind_id,
							  key, key_len, &m);
			if (rc) {
				fprintf(c->err,
					"mnemo check: no actor %s in store "
					"%s\n",
					a, c->path);
				return MN__CLI_FAIL;
			}
			k->seen++;
			if (on_actor(k, &m))
				return MN__CLI_USAGE;
		}
		return 0;
	}
	if (k->o->kind) {
		if (mn__store_kind_id(c->store, k->o->kind, &k->only_kind)) {
			fprintf(c->err,
				"mnemo check: no kind named '%s' in "
				"store %s\n",
				k->o->kind, c->path);
			return MN__CLI_FAIL;
		}
		if (!mn_kind_find(mn__offline_runtime(r->off), k->o->kind))
			return mn__cli_usage(c, "plugin %s has no kind '%s'",
					     k->o->plugin, k->o->kind);
	}
	mn__cli_clear_detail();
	if ((rc = mn__store_actors_scan(c->store, on_actor, k)))
		return rc == MN_ENOMEM
			   ? MN__CLI_USAGE
			   : mn__cli_store_fail(c, rc, "listing the actors");
	return 0;
}

/* Name the kinds, mark those the plugin lacks (their actors skipped) and
 * those expected to diverge. */
static int name_kinds(check *k, mn__rp *r)
{
	mn__cli *c = k->c;
	for (size_t i = 0; i < k->nkinds; i++) {
		kstat *s = &k->kinds[i];
		if (mn__store_kind_name(c->store, s->kind_id, s->name,
					sizeof s->name))
			snprintf(s->name, sizeof s->name, "kind-%u",
				 s->kind_id);
		s->in_plugin =
		    mn_kind_find(mn__offline_runtime(r->off), s->name) != NULL;
		for (size_t e = 0; e < k->o->nexpect; e++)
			if (!strcmp(k->o->expect[e], s->name))
				s->expected = true;
	}
	for (size_t e = 0; e < k->o->nexpect; e++)
		if (!mn_kind_find(mn__offline_runtime(r->off), k->o->expect[e]))
			return mn__cli_usage(c,
					     "--expect-diverge %s: plugin %s "
					     "has no such kind",
					     k->o->expect[e], k->o->plugin);
	return 0;
}

static int summarize(check *k, double secs)
{
	mn__cli *c = k->c;
	uint64_t tot[ST_N] = {0}, unexpected = 0;
	for (size_t i = 0; i < k->nkinds; i++) {
		kstat *s = &k->kinds[i];
		for (int st = 0; st < ST_N; st++)
			tot[st] += s->n[st];
		if (!s->expected)
			unexpected += s->n[ST_DIVERGED];
	}
	uint64_t checked = tot[ST_IDENTICAL] + tot[ST_DIVERGED] +
			   tot[ST_FAILED] + tot[ST_NORESTORE];
	double rate = secs > 0 ? (double)checked / secs : 0;
	if (c->json) {
		for (size_t i = 0; i < k->nkinds; i++) {
			kstat *s = &k->kinds[i];
			mn__jw w;
			mn__jw_begin(&w, c->out, "kind");
			mn__jw_str(&w, "kind", s->name);
			for (int st = ST_IDENTICAL; st < ST_N; st++)
				mn__jw_u64(&w, st_name[st], s->n[st]);
			mn__jw_bool(&w, "expect_diverge", s->expected);
			if (s->n[ST_DIVERGED]) {
				mn__jw_u64(&w, "diverged_seq_min", s->seq_min);
				mn__jw_u64(&w, "diverged_seq_max", s->seq_max);
				mn__jw_num(&w, "diverged_seq_mean",
					   (double)s->seq_sum /
					       (double)s->n[ST_DIVERGED]);
			}
			mn__jw_end(&w);
		}
		mn__jw w;
		mn__jw_begin(&w, c->out, "summary");
		mn__jw_u64(&w, "actors", checked + tot[ST_SKIPPED]);
		for (int st = ST_IDENTICAL; st < ST_N; st++)
			mn__jw_u64(&w, st_name[st], tot[st]);
		mn__jw_u64(&w, "messages_replayed", k->replayed);
		mn__jw_num(&w, "seconds", secs);
		mn__jw_num(&w, "actors_per_second", rate);
		mn__jw_u64(&w, "jobs", k->o->jobs);
		mn__jw_end(&w);
	} else {
		fprintf(c->out, "\n%-24s %10s %10s %10s %10s %10s %10s\n",
			"kind", "identical", "diverged", "failed", "no-restore",
			"skipped", "div. seqs");
		for (size_t i = 0; i < k->nkinds; i++) {
			kstat *s = &k->kinds[i];
			char seqs[48] = "-";
			if (s->n[ST_DIVERGED])
				snprintf(seqs, sizeof seqs, "%llu..%llu",
					 (unsigned long long)s->seq_min,
					 (unsigned long long)s->seq_max);
			fprintf(c->out,
				"%-24s %10llu %10llu %10llu %10llu %10llu "
				"%10s%s\n",
				s->name, (unsigned long long)s->n[ST_IDENTICAL],
				(unsigned long long)s->n[ST_DIVERGED],
				(unsigned long long)s->n[ST_FAILED],
				(unsigned long long)s->n[ST_NORESTORE],
				(unsigned long long)s->n[ST_SKIPPED], seqs,
				s->expected	? "  (expected to diverge)"
				: !s->in_plugin ? "  (not in the plugin)"
						: "");
		}
		fprintf(c->out,
			"\n%llu actors checked in %.2f s (%.0f actors/s, %llu "
			"messages replayed, %llu jobs): %llu identical, %llu "
			"diverged, %llu failed, %llu cannot restore, %llu "
			"skipped\n",
			(unsigned long long)checked, secs, rate,
			(unsigned long long)k->replayed,
			(unsigned long long)k->o->jobs,
			(unsigned long long)tot[ST_IDENTICAL],
			(unsigned long long)tot[ST_DIVERGED],
			(unsigned long long)tot[ST_FAILED],
			(unsigned long long)tot[ST_NORESTORE],
			(unsigned long long)tot[ST_SKIPPED]);
		for (size_t i = 0; i < k->nkinds; i++)
			if (k->kinds[i].expected && !k->kinds[i].n[ST_DIVERGED])
				fprintf(c->out,
					"note: kind %s was expected to "
					"diverge and did not\n",
					k->kinds[i].name);
	}
	if (tot[ST_FAILED] || tot[ST_NORESTORE])
		return MN__CLI_USAGE; /* 2 */
	return unexpected ? MN__CLI_FAIL : MN__CLI_OK;
}

int mn__cmd_check(int argc, char **argv, FILE *out, FILE *err)
{
	mn__cli c;
	mn__rp r;
	copts op = {.seed = 1, .timeout_ms = 30000, .details = 10};
	char **args;
	int rc;
	check k = {0};

	if ((rc = mn__cli_begin(&c, &spec, &op, argc, argv, out, err, &args)) !=
	    MN__CLI_GO)
		return rc;
	if (!op.plugin)
		return mn__cli_usage(&c, "--plugin NEW.so is required");
	if (op.nactors && (op.kind || op.sample))
		return mn__cli_usage(&c,
				     "--actor excludes --kind and --sample");
	if (!op.jobs) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		op.jobs = n > 0 ? (uint64_t)n : 1;
	}
	k.c = &c;
	k.o = &op;
	k.rng = op.seed;
	double t0 = mn__mono_ms() / 1000.0;
	if ((rc = mn__rp_load(&r, &c, op.plugin)))
		goto out_rp;
	if ((rc = pick_actors(&k, &r)) || (rc = name_kinds(&k, &r)))
		goto out_rp;
	k.status = calloc(k.npicks ? k.npicks : 1, 1);
	k.seq = calloc(k.npicks ? k.npicks : 1, sizeof *k.seq);
	if (!k.status || !k.seq) {
		fprintf(err, "mnemo check: out of memory\n");
		rc = MN__CLI_USAGE;
		goto out_rp;
	}
	/* Skipped kinds are settled here; the rest go to the workers. */
	for (size_t i = 0; i < k.npicks; i++) {
		kstat *s = kind_of(&k, k.picks[i].kind_id);
		if (!s || !s->in_plugin) {
			k.status[i] = ST_SKIPPED;
			if (s)
				s->n[ST_SKIPPED]++;
		}
	}
	if (!c.json)
		fprintf(out, "check %zu actor%s of %s with %s, %llu job%s\n",
			k.npicks, k.npicks == 1 ? "" : "s", c.path, op.plugin,
			(unsigned long long)op.jobs, op.jobs == 1 ? "" : "s");
	/* The workers open their own store and plugin: none may cross the
	 * fork (LMDB environments do not). */
	mn__rp_close(&r);
	if (run_workers(&k, op.jobs < k.npicks ? op.jobs
					       : (k.npicks ? k.npicks : 1))) {
		fprintf(err, "mnemo check: out of memory\n");
		rc = MN__CLI_USAGE;
		goto out;
	}
	for (size_t i = 0; i < k.npicks; i++)
		if (k.status[i] == ST_START) {
			static const char t[] = "not checked (a worker could "
						"not be started)\n";
			record(&k, i, "(not started)", ST_FAILED, 0, t,
			       sizeof t - 1);
		}
	rc = summarize(&k, mn__mono_ms() / 1000.0 - t0);
	goto out;
out_rp:
	mn__rp_close(&r);
out:
	mn__cli_close(&c);
	free(k.picks);
	free(k.status);
	free(k.seq);
	return rc;
}
