/*
 * node.c - one node of a cluster: its thread heartbeats, runs for and
 * renews the leadership, and keeps the view of the owners bucket (a
 * watcher); the leader writes the assignment, one compare-and-set per
 * partition that changes owner, with the next epoch.
 *
 * The view (owner, epoch, revision per partition) is under mu; NATS calls
 * are made outside it.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/detail.h"
#include "cluster/cluster_int.h"

static void nap_ms(int64_t ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

static void on_reconnected(natsConnection *nc, void *arg)
{
	struct mn_cluster *c = arg;

	(void)nc;
	atomic_store(&c->reconnected, 1);
}

static void key_of(char *key, size_t size, uint32_t p)
{
	snprintf(key, size, "p.%u", p);
}

/* Apply one entry of the owners bucket to the view. */
static void apply(struct mn_cluster *c, kvEntry *e)
{
	const char *key = kvEntry_Key(e);
	mn__cl_name node;
	uint64_t epoch = 0;
	char *end;
	unsigned long p;

	if (strncmp(key, "p.", 2) != 0)
		return;
	p = strtoul(key + 2, &end, 10);
	if (*end || end == key + 2 || p >= c->cc.partitions)
		return;
	if (kvEntry_Operation(e) != kvOp_Put) {
		node[0] = '\0';
	} else if (mn__cl_owner_parse(kvEntry_Value(e), kvEntry_ValueLen(e),
				      &epoch, node) != 0) {
		return; /* not ours to read: left as it was */
	}
	pthread_mutex_lock(&c->mu);
	if (kvEntry_Revision(e) >= c->rev[p]) {
		strcpy(c->owner[p], node);
		c->epoch[p] = epoch;
		c->rev[p] = kvEntry_Revision(e);
	}
	pthread_mutex_unlock(&c->mu);
}

/* Wait up to ms for the owners bucket's changes and apply them. */
static void watch(struct mn_cluster *c, int64_t ms)
{
	int64_t until = (int64_t)mn__mono_ms() + ms;

	if (atomic_exchange(&c->reconnected, 0) || !c->w) {
		/* After a reconnect the server may have lost the watcher's
		 * consumer: start again from the bucket's state. */
		kvWatcher_Destroy(c->w);
		c->w = NULL;
		if (kvStore_WatchAll(&c->w, c->cc.owners, NULL) != NATS_OK) {
			c->w = NULL;
			nap_ms(ms);
			return;
		}
	}
	for (;;) {
		int64_t left = until - (int64_t)mn__mono_ms();
		kvEntry *e = NULL;
		natsStatus s;

		if (left <= 0)
			return;
		s = kvWatcher_Next(&e, c->w, left);
		if (s == NATS_TIMEOUT)
			return;
		if (s != NATS_OK) {
			kvWatcher_Destroy(c->w);
			c->w = NULL;
			nap_ms(left);
			return;
		}
		if (!e) {
			atomic_store(&c->ready, 1);
			continue;
		}
		apply(c, e);
		kvEntry_Destroy(e);
	}
}

static void lead(struct mn_cluster *c)
{
	uint64_t rev = 0;
	natsStatus s;

	if (atomic_load(&c->leader)) {
		s = kvStore_UpdateString(&rev, c->cc.leader, "leader", c->name,
					 c->leader_rev);
		if (s == NATS_OK) {
			c->leader_rev = rev;
			return;
		}
		atomic_store(&c->leader, 0);
	}
	s = kvStore_CreateString(&rev, c->cc.leader, "leader", c->name);
	if (s == NATS_OK) {
		c->leader_rev = rev;
		atomic_store(&c->leader, 1);
		return;
	}
	/* Our own record, whose renewal failed (NATS was away): take it
	 * back rather than wait for its TTL. */
	kvEntry *e = NULL;
	if (kvStore_Get(&e, c->cc.leader, "leader") == NATS_OK) {
		if (strcmp(kvEntry_ValueString(e), c->name) == 0 &&
		    kvStore_UpdateString(&rev, c->cc.leader, "leader", c->name,
					 kvEntry_Revision(e)) == NATS_OK) {
			c->leader_rev = rev;
			atomic_store(&c->leader, 1);
		}
		kvEntry_Destroy(e);
	}
}

static int find(const mn__cl_name *names, size_t n, const char *name)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int d = strcmp(names[mid], name);
		if (d == 0)
			return (int)mid;
		if (d < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* The leader's step: the assignment over the live members, written where
 * it differs from the view. */
static void assign(struct mn_cluster *c)
{
	uint32_t P = c->cc.partitions, p;
	mn__cl_name *members = NULL;
	size_t n = 0;
	int *cur = NULL, *want = NULL;
	uint64_t *epoch = NULL, *rev = NULL;
	mn__cl_name *owner = malloc(P * sizeof *owner);
	uint64_t renewed = mn__mono_ms();

	cur = malloc(P * sizeof *cur);
	want = malloc(P * sizeof *want);
	epoch = malloc(P * sizeof *epoch);
	rev = malloc(P * sizeof *rev);
	if (!owner || !cur || !want || !epoch || !rev)
		goto out;
	/* The view, then the members: a release seen in the view was
	 * written after its node's "leaving", which the members then show. */
	pthread_mutex_lock(&c->mu);
	memcpy(epoch, c->epoch, P * sizeof *epoch);
	memcpy(rev, c->rev, P * sizeof *rev);
	memcpy(owner, c->owner, P * sizeof *owner);
	pthread_mutex_unlock(&c->mu);
	if (mn__cl_members(&c->cc, &members, &n) != 0 || n == 0)
		goto out;
	for (p = 0; p < P; p++) {
		const char *o = owner[p];
		cur[p] = *o ? find(members, n, o) : -1;
		/* An owner that is not live and did not leave: dead; its
		 * partitions wait for it. */
		if (*o && cur[p] < 0)
			cur[p] = MN__CL_PINNED;
	}
	mn__cl_assign(P, members, n, cur, want);
	for (p = 0; p < P; p++) {
		char key[32], val[MN_CLUSTER_NAME_MAX + 32];
		uint64_t nrev = 0;
		natsStatus s;

		if (want[p] == cur[p] || want[p] < 0)
			continue;
		/* A long run of writes renews the leadership as it goes and
		 * stops when it is lost: one leader writes at a time. */
		if (mn__mono_ms() - renewed >= c->hb_ms) {
			lead(c);
			renewed = mn__mono_ms();
			if (!atomic_load(&c->leader))
				break;
		}
		key_of(key, sizeof key, p);
		snprintf(val, sizeof val, "%llu %s",
			 (unsigned long long)(epoch[p] + 1), members[want[p]]);
		if (rev[p] == 0)
			s = kvStore_CreateString(&nrev, c->cc.owners, key, val);
		else
			s = kvStore_UpdateString(&nrev, c->cc.owners, key, val,
						 rev[p]);
		if (s != NATS_OK)
			continue; /* the view was behind: next tick */
		pthread_mutex_lock(&c->mu);
		if (nrev > c->rev[p]) {
			strcpy(c->owner[p], members[want[p]]);
			c->epoch[p] = epoch[p] + 1;
			c->rev[p] = nrev;
		}
		pthread_mutex_unlock(&c->mu);
	}
out:
	free(members);
	free(owner);
	free(cur);
	free(want);
	free(epoch);
	free(rev);
}

static void *run(void *arg)
{
	struct mn_cluster *c = arg;

	for (;;) {
		pthread_mutex_lock(&c->mu);
		while (c->paused && !c->stop) {
			c->parked = 1;
			pthread_cond_broadcast(&c->cv);
			pthread_cond_wait(&c->cv, &c->mu);
		}
		c->parked = 0;
		if (c->stop) {
			pthread_mutex_unlock(&c->mu);
			break;
		}
		pthread_mutex_unlock(&c->mu);
		kvStore_PutString(NULL, c->cc.members, c->name, "alive");
		lead(c);
		if (atomic_load(&c->leader) && atomic_load(&c->ready))
			assign(c);
		watch(c, c->hb_ms);
	}
	kvWatcher_Destroy(c->w);
	c->w = NULL;
	return NULL;
}

/* Stop the node's thread (if started) and wait for it. */
static void halt(struct mn_cluster *c)
{
	if (!c->started)
		return;
	pthread_mutex_lock(&c->mu);
	c->stop = 1;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->th, NULL);
	c->started = 0;
}

static void destroy(struct mn_cluster *c)
{
	halt(c);
	if (c->subs)
		mn__cl_subs_close(c);
	mn__cl_shut(&c->cc);
	pthread_mutex_destroy(&c->sub_mu);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
	free(c->owner);
	free(c->epoch);
	free(c->rev);
	free(c->subs);
	free(c);
}

int mn_cluster_join(const struct mn_cluster_opts *o, mn_cluster **out)
{
	struct mn_cluster *c;
	uint32_t ttl;
	natsStatus s;
	int rc;

	*out = NULL;
	if (!o || !o->nats_url) {
		mn__detail_set("mn_cluster_join: no NATS URL");
		return MN_EINVAL;
	}
	if (!mn__cl_name_ok(o->node)) {
		mn__detail_setf("bad node name \"%.64s\": 1 to %u of "
				"A-Z a-z 0-9 _ -",
				o->node ? o->node : "(null)",
				MN_CLUSTER_NAME_MAX);
		return MN_EINVAL;
	}
	c = calloc(1, sizeof *c);
	if (!c)
		return MN_ENOMEM;
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	pthread_mutex_init(&c->sub_mu, NULL);
	strcpy(c->name, o->node);
	c->ack_wait_ms = o->ack_wait_ms ? o->ack_wait_ms : 30000;
	c->hb_ms = o->heartbeat_ms ? o->heartbeat_ms : 500;
	ttl = o->ttl_ms ? o->ttl_ms : 4 * c->hb_ms;
	if (ttl <= c->hb_ms) {
		mn__detail_setf("membership TTL %u ms not above the heartbeat "
				"%u ms",
				ttl, c->hb_ms);
		destroy(c);
		return MN_EINVAL;
	}
	rc = mn__cl_open(&c->cc, o->nats_url, o->cluster,
			 o->partitions ? o->partitions : MN_CLUSTER_PARTITIONS,
			 o->create, ttl, on_reconnected, c);
	if (rc) {
		destroy(c);
		return rc;
	}
	c->owner = calloc(c->cc.partitions, sizeof *c->owner);
	c->epoch = calloc(c->cc.partitions, sizeof *c->epoch);
	c->rev = calloc(c->cc.partitions, sizeof *c->rev);
	c->subs = calloc(c->cc.partitions, sizeof *c->subs);
	if (!c->owner || !c->epoch || !c->rev || !c->subs) {
		destroy(c);
		return MN_ENOMEM;
	}
	strcpy(c->cluster, o->cluster);
	if ((rc = mn__cl_stream(c))) {
		destroy(c);
		return rc;
	}
	s = kvStore_CreateString(NULL, c->cc.members, c->name, "alive");
	if (s != NATS_OK) {
		mn__detail_setf("node %s is already a live member of cluster "
				"%s (or NATS failed: %s)",
				c->name, o->cluster, natsStatus_GetText(s));
		destroy(c);
		return MN_EEXIST;
	}
	if (pthread_create(&c->th, NULL, run, c) != 0) {
		kvStore_Delete(c->cc.members, c->name);
		destroy(c);
		mn__detail_set("mn_cluster_join: pthread_create failed");
		return MN_ESYS;
	}
	c->started = 1;
	*out = c;
	return 0;
}

void mn_cluster_close(mn_cluster *c)
{
	if (c)
		destroy(c);
}

int mn_cluster_leave(mn_cluster *c)
{
	uint32_t p;
	int rc = 0;

	if (!c)
		return 0;
	/* Stop the thread first: no heartbeat or assignment after this. */
	halt(c);
	/* Leaving: from now on the leader gives this node nothing. */
	kvStore_PutString(NULL, c->cc.members, c->name, "leaving");
	/* Release each owned partition by CAS (a stale view fails: that
	 * partition is no longer ours anyway). */
	for (p = 0; p < c->cc.partitions; p++) {
		char key[32], val[32];
		uint64_t rev, epoch;

		pthread_mutex_lock(&c->mu);
		if (strcmp(c->owner[p], c->name) != 0) {
			pthread_mutex_unlock(&c->mu);
			continue;
		}
		rev = c->rev[p];
		epoch = c->epoch[p];
		c->owner[p][0] = '\0';
		pthread_mutex_unlock(&c->mu);
		key_of(key, sizeof key, p);
		snprintf(val, sizeof val, "%llu",
			 (unsigned long long)(epoch + 1));
		kvStore_UpdateString(NULL, c->cc.owners, key, val, rev);
	}
	if (kvStore_Delete(c->cc.members, c->name) != NATS_OK)
		rc = MN_EIO;
	if (atomic_load(&c->leader))
		kvStore_Delete(c->cc.leader, "leader");
	destroy(c);
	return rc;
}

int mn_cluster_owns(mn_cluster *c, uint32_t p, uint64_t *epoch)
{
	int own;

	if (p >= c->cc.partitions)
		return MN_EINVAL;
	pthread_mutex_lock(&c->mu);
	own = strcmp(c->owner[p], c->name) == 0;
	if (own && epoch)
		*epoch = c->epoch[p];
	pthread_mutex_unlock(&c->mu);
	return own;
}

uint32_t mn_cluster_owned(mn_cluster *c)
{
	uint32_t p, n = 0;

	pthread_mutex_lock(&c->mu);
	for (p = 0; p < c->cc.partitions; p++)
		n += strcmp(c->owner[p], c->name) == 0;
	pthread_mutex_unlock(&c->mu);
	return n;
}

int mn_cluster_is_leader(mn_cluster *c)
{
	return atomic_load(&c->leader);
}

int mn_cluster_ready(mn_cluster *c)
{
	return atomic_load(&c->ready);
}

int mn_cluster_confirm(mn_cluster *c, uint32_t p)
{
	char key[32], val[MN_CLUSTER_NAME_MAX + 32];
	uint64_t rev, epoch, nrev = 0;
	natsStatus s;

	if (p >= c->cc.partitions)
		return MN_EINVAL;
	pthread_mutex_lock(&c->mu);
	if (strcmp(c->owner[p], c->name) != 0) {
		pthread_mutex_unlock(&c->mu);
		mn__detail_setf("partition %u is not node %s's", p, c->name);
		return MN_ENOACTOR;
	}
	rev = c->rev[p];
	epoch = c->epoch[p];
	pthread_mutex_unlock(&c->mu);
	key_of(key, sizeof key, p);
	snprintf(val, sizeof val, "%llu %s", (unsigned long long)epoch,
		 c->name);
	s = kvStore_UpdateString(&nrev, c->cc.owners, key, val, rev);
	pthread_mutex_lock(&c->mu);
	if (s == NATS_OK) {
		if (nrev > c->rev[p])
			c->rev[p] = nrev;
		pthread_mutex_unlock(&c->mu);
		return 0;
	}
	if (c->rev[p] == rev && strcmp(c->owner[p], c->name) == 0)
		c->owner[p][0] = '\0'; /* fenced: not ours any more */
	pthread_mutex_unlock(&c->mu);
	if (s == NATS_ERR || s == NATS_NOT_FOUND) {
		mn__detail_setf("node %s fenced out of partition %u: its "
				"ownership record moved on from revision %llu "
				"(epoch %llu)",
				c->name, p, (unsigned long long)rev,
				(unsigned long long)epoch);
		return MN_ECONFLICT;
	}
	return mn__cl_nats_err(s, "confirm");
}

void mn_cluster_pause(mn_cluster *c, int paused)
{
	pthread_mutex_lock(&c->mu);
	c->paused = paused;
	pthread_cond_broadcast(&c->cv);
	while (paused && !c->parked && c->started)
		pthread_cond_wait(&c->cv, &c->mu);
	pthread_mutex_unlock(&c->mu);
}
