/*
 * test_cluster.c - placement, membership, ownership with epochs
 * (libmnemo-cluster) on a real nats-server with JetStream: each test starts
 * its own (scripts/nats-test-server: loopback, a kernel-picked port, a
 * temporary store) and stops it. Nodes are threads of this process, each
 * with its own NATS connection. Without nats-server the NATS tests skip,
 * saying why.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/clock.h"
#include "cluster/cluster_int.h"
#include "include/mnemo_cluster.h"

#define P	MN_CLUSTER_PARTITIONS
#define HB_MS	100
#define TTL_MS	3000
#define WAIT_MS 20000

struct server {
	char dir[256];
	char url[128];
};

static int nats_missing;

/* Run scripts/nats-test-server VERB DIR; the URL it prints into url. */
static int script(const char *verb, const char *dir, char *url, size_t size)
{
	char cmd[512];
	FILE *f;
	int rc;

	snprintf(cmd, sizeof cmd, "./scripts/nats-test-server %s %s", verb,
		 dir);
	f = popen(cmd, "r");
	assert_non_null(f);
	if (url) {
		url[0] = '\0';
		if (fgets(url, (int)size, f))
			url[strcspn(url, "\n")] = '\0';
	}
	rc = pclose(f);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static int server_up(void **state)
{
	struct server *s = calloc(1, sizeof *s);
	int rc;

	assert_non_null(s);
	snprintf(s->dir, sizeof s->dir, "/tmp/mnemo-nats.XXXXXX");
	assert_non_null(mkdtemp(s->dir));
	rc = script("start", s->dir, s->url, sizeof s->url);
	if (rc == 77) {
		nats_missing = 1;
	} else {
		assert_int_equal(rc, 0);
		assert_true(strncmp(s->url, "nats://", 7) == 0);
	}
	*state = s;
	return 0;
}

static int server_down(void **state)
{
	struct server *s = *state;
	char cmd[512];

	if (!nats_missing)
		script("stop", s->dir, NULL, 0);
	snprintf(cmd, sizeof cmd, "rm -rf %s", s->dir);
	assert_int_equal(system(cmd), 0);
	free(s);
	return 0;
}

#define NEED_NATS()                                                            \
	do {                                                                   \
		if (nats_missing) {                                            \
			print_message("skipped: nats-server not installed "    \
				      "(scripts/install-deps --cluster)\n");   \
			skip();                                                \
		}                                                              \
	} while (0)

static void nap(int ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static mn_cluster *join(const struct server *s, const char *name, int create)
{
	struct mn_cluster_opts o = {
	    .nats_url = s->url,
	    .cluster = "t1",
	    .node = name,
	    .create = create,
	    .heartbeat_ms = HB_MS,
	    .ttl_ms = TTL_MS,
	};
	mn_cluster *c = NULL;
	int rc = mn_cluster_join(&o, &c);

	if (rc)
		print_message("join %s: %s: %s\n", name, mn_err_name(rc),
			      mn_errdetail());
	assert_int_equal(rc, 0);
	return c;
}

/* Owners in the bucket: counts per node of names (others count as -1). */
struct tally {
	uint32_t count[4];
	uint32_t unassigned, other;
};

static void tally(const struct mn_cluster_view *v, const char *const *names,
		  size_t n, struct tally *t)
{
	uint32_t p;
	size_t i;

	memset(t, 0, sizeof *t);
	for (p = 0; p < v->partitions; p++) {
		if (!v->owner[p][0]) {
			t->unassigned++;
			continue;
		}
		for (i = 0; i < n; i++)
			if (strcmp(v->owner[p], names[i]) == 0)
				break;
		if (i < n)
			t->count[i]++;
		else
			t->other++;
	}
}

/* Wait until the bucket has every partition on names, evenly (each within
 * 1 of P/n), and every node's view agrees with its count. */
static void wait_even(const struct server *s, mn_cluster **nodes,
		      const char *const *names, size_t n,
		      struct mn_cluster_view *out)
{
	uint64_t until = mn__mono_ms() + WAIT_MS;
	struct mn_cluster_view last;
	int have = 0;

	for (;;) {
		struct mn_cluster_view v;
		struct tally t;
		int ok;
		size_t i;

		assert_int_equal(mn_cluster_read(s->url, "t1", &v), 0);
		tally(&v, names, n, &t);
		ok = t.unassigned == 0 && t.other == 0;
		for (i = 0; ok && i < n; i++) {
			ok = t.count[i] >= P / n && t.count[i] <= P / n + 1 &&
			     mn_cluster_owned(nodes[i]) == t.count[i];
		}
		/* Settled: the same owners and epochs on two readings in a
		 * row (not a passing state while the leader writes). */
		if (ok && have &&
		    memcmp(v.owner, last.owner, P * sizeof *v.owner) == 0 &&
		    memcmp(v.epoch, last.epoch, P * sizeof *v.epoch) == 0) {
			mn_cluster_view_free(&last);
			if (out)
				*out = v;
			else
				mn_cluster_view_free(&v);
			return;
		}
		if (have)
			mn_cluster_view_free(&last);
		have = ok;
		if (ok)
			last = v;
		else
			mn_cluster_view_free(&v);
		if (mn__mono_ms() > until) {
			for (i = 0; i < n; i++)
				print_message("%s: %u in the bucket, %u in "
					      "its view\n",
					      names[i], t.count[i],
					      mn_cluster_owned(nodes[i]));
			print_message("unassigned %u, other %u\n", t.unassigned,
				      t.other);
			fail_msg("no even assignment in %d ms", WAIT_MS);
		}
		nap(50);
	}
}

/* n1 (creating the cluster), n2, n3: evenly assigned. */
static void join_three(const struct server *s, mn_cluster **nodes,
		       const char *const *names, struct mn_cluster_view *v)
{
	nodes[0] = join(s, names[0], 1);
	nodes[1] = join(s, names[1], 0);
	nodes[2] = join(s, names[2], 0);
	wait_even(s, nodes, names, 3, v);
}

/* `mnemo cluster status` (text and --json) over the cluster: n live nodes
 * sharing every partition. */
static void status_shows(const struct server *s, const char *cluster, size_t n)
{
	const char *build = getenv("BUILD");
	char cmd[512], line[4096];
	size_t nodes = 0, clusters = 0, live = 0;
	uint32_t sum = 0;
	FILE *f;

	snprintf(cmd, sizeof cmd,
		 "%s/mnemo cluster status --nats %s --cluster %s --json",
		 build ? build : "build", s->url, cluster);
	f = popen(cmd, "r");
	assert_non_null(f);
	while (fgets(line, sizeof line, f)) {
		const char *q;
		if (strstr(line, "\"record\":\"cluster\"")) {
			clusters++;
			assert_non_null(strstr(line, "\"partitions\":1024"));
			assert_non_null(strstr(line, "\"unassigned\":0"));
			assert_non_null(strstr(line, "\"waiting\":0"));
		} else if (strstr(line, "\"record\":\"node\"")) {
			nodes++;
			live += strstr(line, "\"live\":true") != NULL;
			q = strstr(line, "\"partitions\":");
			assert_non_null(q);
			sum += (uint32_t)strtoul(q + 13, NULL, 10);
		}
	}
	assert_int_equal(pclose(f), 0);
	assert_int_equal(clusters, 1);
	assert_int_equal(nodes, n);
	assert_int_equal(live, n);
	assert_int_equal(sum, P);
	/* The text form, and a wrong name refused (exit 2). */
	snprintf(cmd, sizeof cmd,
		 "%s/mnemo cluster status --nats %s --cluster %s | "
		 "grep -q '^members (%zu):'",
		 build ? build : "build", s->url, cluster, n);
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof cmd,
		 "%s/mnemo cluster status --nats %s --cluster nope 2>&1 | "
		 "grep -q 'no cluster nope'",
		 build ? build : "build", s->url);
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof cmd,
		 "%s/mnemo cluster status --nats %s --cluster nope "
		 ">/dev/null 2>&1",
		 build ? build : "build", s->url);
	assert_int_equal(WEXITSTATUS(system(cmd)), 2);
}

/* The partition: in range, stable, spread over the partitions. */
static void test_partition(void **state)
{
	static uint32_t hits[P];
	uint32_t p, i, max = 0, min = UINT32_MAX;
	char key[32];

	(void)state;
	p = mn_cluster_partition("counter", "k1", 2, P);
	assert_true(p < P);
	assert_int_equal(mn_cluster_partition("counter", "k1", 2, P), p);
	assert_int_equal(mn_cluster_partition("counter", "k1", 2, 0), p);
	/* The kind is part of the address. */
	for (i = 0; i < 16; i++) {
		snprintf(key, sizeof key, "k%u", i);
		if (mn_cluster_partition("a", key, strlen(key), P) !=
		    mn_cluster_partition("b", key, strlen(key), P))
			break;
	}
	assert_true(i < 16);
	memset(hits, 0, sizeof hits);
	for (i = 0; i < 64 * P; i++) {
		snprintf(key, sizeof key, "user-%u", i);
		hits[mn_cluster_partition("user", key, strlen(key), P)]++;
	}
	for (p = 0; p < P; p++) {
		max = hits[p] > max ? hits[p] : max;
		min = hits[p] < min ? hits[p] : min;
	}
	/* 64 a partition on average: none empty, none hot. */
	assert_true(min >= 24);
	assert_true(max <= 120);
}

/* The assignment alone: even, stable, dead owners' partitions kept. */
static void test_assign(void **state)
{
	static int cur[P], want[P], again[P];
	mn__cl_name m[3] = {"a", "b", "c"};
	uint32_t p, n[3] = {0}, moved = 0, pinned = 0;

	(void)state;
	for (p = 0; p < P; p++)
		cur[p] = -1;
	mn__cl_assign(P, m, 3, cur, want);
	for (p = 0; p < P; p++) {
		assert_true(want[p] >= 0 && want[p] < 3);
		n[want[p]]++;
	}
	assert_int_equal(n[0], P / 3 + 1); /* 1024 = 342 + 341 + 341 */
	assert_int_equal(n[1], P / 3);
	assert_int_equal(n[2], P / 3);
	/* Again from there: nothing moves. */
	mn__cl_assign(P, m, 3, want, again);
	assert_memory_equal(want, again, sizeof want);
	/* "b" left on purpose (released): only its partitions move. */
	for (p = 0; p < P; p++)
		cur[p] = want[p] == 1 ? -1 : want[p] == 2 ? 1 : 0;
	mn__cl_assign(P, (mn__cl_name[]){"a", "c"}, 2, cur, again);
	for (p = 0; p < P; p++)
		moved += want[p] != 1 && (want[p] == 0 ? 0 : 1) != again[p];
	assert_int_equal(moved, 0);
	/* "c" dead: its partitions wait; a and b share the rest. */
	memset(n, 0, sizeof n);
	for (p = 0; p < P; p++)
		cur[p] = want[p] == 2 ? MN__CL_PINNED : want[p];
	mn__cl_assign(P, m, 2, cur, again);
	for (p = 0; p < P; p++) {
		if (again[p] == MN__CL_PINNED) {
			pinned++;
			continue;
		}
		n[again[p]]++;
	}
	assert_int_equal(pinned, P / 3);
	assert_int_equal(n[0] + n[1], P - P / 3);
	assert_true(n[0] - n[1] <= 1);
}

/* Three nodes join: every partition assigned exactly once, evenly; one
 * leaves on purpose: its partitions go to the two others with new epochs. */
static void test_three_join_and_leave(void **state)
{
	const struct server *s = *state;
	const char *names[3] = {"n1", "n2", "n3"};
	mn_cluster *nodes[3];
	struct mn_cluster_view before, after;
	uint32_t p, moved = 0;
	int leaders;

	NEED_NATS();
	join_three(s, nodes, names, &before);
	leaders = mn_cluster_is_leader(nodes[0]) +
		  mn_cluster_is_leader(nodes[1]) +
		  mn_cluster_is_leader(nodes[2]);
	assert_int_equal(leaders, 1);
	assert_int_equal(before.n_members, 3);
	assert_true(before.leader[0] != '\0');
	for (p = 0; p < P; p++) {
		uint64_t e = 0;
		int i, owners = 0;
		for (i = 0; i < 3; i++)
			if (mn_cluster_owns(nodes[i], p, &e) == 1) {
				owners++;
				assert_string_equal(before.owner[p], names[i]);
				assert_int_equal(e, before.epoch[p]);
			}
		assert_int_equal(owners, 1);
		assert_true(before.epoch[p] >= 1);
	}

	status_shows(s, "t1", 3);

	/* n2 leaves on purpose. */
	assert_int_equal(mn_cluster_leave(nodes[1]), 0);
	nodes[1] = nodes[2];
	names[1] = "n3";
	wait_even(s, nodes, names, 2, &after);
	assert_int_equal(after.n_members, 2);
	for (p = 0; p < P; p++) {
		if (strcmp(before.owner[p], "n2") == 0) {
			moved++;
			/* released (+1), then assigned (+1) */
			assert_true(after.epoch[p] >= before.epoch[p] + 2);
		} else {
			/* the others' partitions did not move */
			assert_string_equal(after.owner[p], before.owner[p]);
			assert_int_equal(after.epoch[p], before.epoch[p]);
		}
	}
	assert_true(moved >= P / 3);
	mn_cluster_view_free(&before);
	mn_cluster_view_free(&after);
	mn_cluster_close(nodes[0]);
	mn_cluster_close(nodes[1]);
}

/* A stalled owner whose partitions moved meanwhile is fenced: its write
 * of the ownership record fails the compare-and-set. */
static void test_stale_owner_fenced(void **state)
{
	const struct server *s = *state;
	const char *names[3] = {"b", "a", "c"};
	mn_cluster *nodes[3];
	struct mn_cluster_view v;
	uint32_t p, fenced = 0, kept = 0;
	uint64_t until;
	static char was_a[P];
	int rc;

	NEED_NATS();
	nodes[0] = join(s, "b", 1);
	until = mn__mono_ms() + WAIT_MS;
	while (!mn_cluster_is_leader(nodes[0])) {
		assert_true(mn__mono_ms() < until);
		nap(20);
	}
	nodes[1] = join(s, "a", 0);
	wait_even(s, nodes, names, 2, NULL);
	for (p = 0; p < P; p++)
		was_a[p] = mn_cluster_owns(nodes[1], p, NULL) == 1;
	/* a stalls (its membership has not expired yet); c joins and the
	 * leader b gives c a share, some of it a's. */
	mn_cluster_pause(nodes[1], 1);
	nodes[2] = join(s, "c", 0);
	until = mn__mono_ms() + WAIT_MS;
	for (;;) {
		assert_int_equal(mn_cluster_read(s->url, "t1", &v), 0);
		struct tally t;
		tally(&v, names, 3, &t);
		if (t.count[2] >= P / 3)
			break;
		mn_cluster_view_free(&v);
		assert_true(mn__mono_ms() < until);
		nap(50);
	}
	for (p = 0; p < P; p++) {
		if (!was_a[p])
			continue;
		/* a's view still says a owns p. */
		assert_int_equal(mn_cluster_owns(nodes[1], p, NULL), 1);
		rc = mn_cluster_confirm(nodes[1], p);
		if (strcmp(v.owner[p], "a") != 0) {
			assert_int_equal(rc, MN_ECONFLICT);
			assert_non_null(strstr(mn_errdetail(), "fenced"));
			assert_int_equal(mn_cluster_owns(nodes[1], p, NULL), 0);
			fenced++;
		} else {
			assert_int_equal(rc, 0);
			kept++;
		}
	}
	assert_true(fenced > 0);
	assert_true(kept > 0);
	mn_cluster_view_free(&v);
	mn_cluster_pause(nodes[1], 0);
	/* Back: a catches up with the bucket; all even over three. */
	wait_even(s, nodes, names, 3, NULL);
	mn_cluster_close(nodes[2]);
	mn_cluster_close(nodes[1]);
	mn_cluster_close(nodes[0]);
}

/* A wrong cluster name, a wrong P, bad names, a duplicate node. */
static void test_refused(void **state)
{
	const struct server *s = *state;
	struct mn_cluster_opts o = {.nats_url = s->url, .heartbeat_ms = HB_MS};
	struct mn_cluster_view v;
	mn_cluster *c = NULL, *bad = NULL;

	NEED_NATS();
	c = join(s, "n1", 1);
	o.cluster = "t2";
	o.node = "n2";
	assert_int_equal(mn_cluster_join(&o, &bad), MN_EINVAL);
	assert_null(bad);
	assert_non_null(strstr(mn_errdetail(), "no cluster t2"));
	assert_int_equal(mn_cluster_read(s->url, "t2", &v), MN_EINVAL);
	assert_non_null(strstr(mn_errdetail(), "no cluster t2"));

	o.cluster = "t1";
	o.partitions = 512;
	assert_int_equal(mn_cluster_join(&o, &bad), MN_EINVAL);
	assert_non_null(strstr(mn_errdetail(), "wrong cluster config"));
	assert_non_null(strstr(mn_errdetail(), "1024"));
	o.create = 1; /* create does not override the config either */
	assert_int_equal(mn_cluster_join(&o, &bad), MN_EINVAL);
	o.create = 0;
	o.partitions = 0;

	o.cluster = "t1.x";
	assert_int_equal(mn_cluster_join(&o, &bad), MN_EINVAL);
	assert_non_null(strstr(mn_errdetail(), "bad cluster name"));
	o.cluster = "t1";
	o.node = "n 2";
	assert_int_equal(mn_cluster_join(&o, &bad), MN_EINVAL);
	assert_non_null(strstr(mn_errdetail(), "bad node name"));
	o.node = "n1";
	assert_int_equal(mn_cluster_join(&o, &bad), MN_EEXIST);
	assert_non_null(strstr(mn_errdetail(), "already a live member"));
	assert_null(bad);
	mn_cluster_close(c);
}

/* nats-server stopped and started again on its store: the nodes reconnect,
 * the assignment is still there, and the cluster still works (a leave is
 * handed over). */
static void test_nats_restart(void **state)
{
	struct server *s = *state;
	const char *names[3] = {"n1", "n2", "n3"};
	mn_cluster *nodes[3];
	struct mn_cluster_view before, after;
	char url[128];
	uint32_t p;

	NEED_NATS();
	join_three(s, nodes, names, &before);
	assert_int_equal(script("kill", s->dir, NULL, 0), 0);
	nap(500);
	assert_int_equal(script("start", s->dir, url, sizeof url), 0);
	assert_string_equal(url, s->url);
	wait_even(s, nodes, names, 3, &after);
	for (p = 0; p < P; p++) {
		assert_string_equal(after.owner[p], before.owner[p]);
		assert_int_equal(after.epoch[p], before.epoch[p]);
	}
	mn_cluster_view_free(&before);
	mn_cluster_view_free(&after);
	/* Still working after the reconnect. */
	assert_int_equal(mn_cluster_leave(nodes[2]), 0);
	wait_even(s, nodes, names, 2, NULL);
	mn_cluster_close(nodes[0]);
	mn_cluster_close(nodes[1]);
}

/* Fetch one message of p from node c within 5 s. */
static mn_cluster_msg *fetch_one(mn_cluster *c, uint32_t p)
{
	mn_cluster_msg *m[4];
	int n = 0, rc;

	rc = mn_cluster_fetch(c, p, m, 1, 5000, &n);
	if (rc)
		print_message("fetch: %s: %s\n", mn_err_name(rc),
			      mn_errdetail());
	assert_int_equal(rc, 0);
	assert_int_equal(n, 1);
	return m[0];
}

static void assert_msg(mn_cluster_msg *m, const char *id, const char *text,
		       uint64_t deliveries)
{
	size_t len;
	const void *d = mn_cluster_msg_data(m, &len);

	assert_string_equal(mn_cluster_msg_id(m), id);
	assert_int_equal(len, strlen(text));
	assert_memory_equal(d, text, len);
	assert_int_equal(mn_cluster_msg_deliveries(m), deliveries);
}

/* Messages to a partition: the broker drops a repeated id, only the owner
 * fetches, in order; a message not acknowledged comes again; after a
 * planned leave the new owner gets what was waiting. */
static void test_messages(void **state)
{
	const struct server *s = *state;
	const char *names[2] = {"n1", "n2"};
	struct mn_cluster_opts o = {
	    .nats_url = s->url,
	    .cluster = "t1",
	    .create = 1,
	    .heartbeat_ms = HB_MS,
	    .ttl_ms = TTL_MS,
	    .ack_wait_ms = 1000,
	};
	mn_cluster *nodes[2];
	mn_cluster_msg *m[4];
	uint32_t p;
	int dup = -1, n = -1;
	uint64_t until;

	NEED_NATS();
	o.node = "n1";
	assert_int_equal(mn_cluster_join(&o, &nodes[0]), 0);
	o.node = "n2";
	o.create = 0;
	assert_int_equal(mn_cluster_join(&o, &nodes[1]), 0);
	wait_even(s, nodes, names, 2, NULL);
	for (p = 0; mn_cluster_owns(nodes[1], p, NULL) != 1; p++)
		;
	assert_int_equal(mn_cluster_publish(nodes[0], p, "o-1", "m1", 2, &dup),
			 0);
	assert_int_equal(dup, 0);
	assert_int_equal(mn_cluster_publish(nodes[0], p, "o-1", "m1", 2, &dup),
			 0);
	assert_int_equal(dup, 1); /* dropped by JetStream */
	assert_int_equal(mn_cluster_publish(nodes[0], p, "o-2", "m2", 2, &dup),
			 0);
	assert_int_equal(dup, 0);

	{
		struct mn_cluster_view v;
		assert_int_equal(mn_cluster_read(s->url, "t1", &v), 0);
		assert_int_equal(v.waiting, 2); /* o-1 once, o-2 */
		mn_cluster_view_free(&v);
	}

	/* Not the owner: refused, nothing taken. */
	assert_int_equal(mn_cluster_fetch(nodes[0], p, m, 4, 100, &n),
			 MN_ENOACTOR);
	assert_non_null(strstr(mn_errdetail(), "not owner"));
	assert_non_null(strstr(mn_errdetail(), "node n2"));

	m[0] = fetch_one(nodes[1], p);
	assert_msg(m[0], "o-1", "m1", 1);
	assert_int_equal(mn_cluster_msg_ack(m[0]), 0);
	m[1] = fetch_one(nodes[1], p);
	assert_msg(m[1], "o-2", "m2", 1);
	mn_cluster_msg_free(m[1]);     /* not acknowledged */
	m[1] = fetch_one(nodes[1], p); /* after the ack wait */
	assert_msg(m[1], "o-2", "m2", 2);
	assert_int_equal(mn_cluster_msg_ack(m[1]), 0);
	assert_int_equal(mn_cluster_fetch(nodes[1], p, m, 4, 300, &n), 0);
	assert_int_equal(n, 0); /* the duplicate never came */

	/* Waiting for n2 when it leaves: n1 gets it with the partition. */
	assert_int_equal(mn_cluster_publish(nodes[0], p, "o-3", "m3", 2, &dup),
			 0);
	assert_int_equal(mn_cluster_leave(nodes[1]), 0);
	until = mn__mono_ms() + WAIT_MS;
	while (mn_cluster_owns(nodes[0], p, NULL) != 1) {
		assert_true(mn__mono_ms() < until);
		nap(20);
	}
	m[0] = fetch_one(nodes[0], p);
	assert_msg(m[0], "o-3", "m3", 1);
	assert_int_equal(mn_cluster_msg_ack(m[0]), 0);
	mn_cluster_close(nodes[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_partition),
	    cmocka_unit_test(test_assign),
	    cmocka_unit_test_setup_teardown(test_three_join_and_leave,
					    server_up, server_down),
	    cmocka_unit_test_setup_teardown(test_stale_owner_fenced, server_up,
					    server_down),
	    cmocka_unit_test_setup_teardown(test_refused, server_up,
					    server_down),
	    cmocka_unit_test_setup_teardown(test_nats_restart, server_up,
					    server_down),
	    cmocka_unit_test_setup_teardown(test_messages, server_up,
					    server_down),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
