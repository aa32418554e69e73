/*
 * cluster_int.h - private to cluster/ (libmnemo-cluster): the NATS
 * connection, the cluster's buckets and their records, the assignment.
 *
 * Buckets of cluster NAME (JetStream key-value, file storage):
 *   mnemo_NAME_config   "config": "partitions=P"   written once, by create
 *   mnemo_NAME_members  NODE: "alive" | "leaving"  TTL: heartbeats
 *   mnemo_NAME_leader   "leader": NODE             TTL: renewed by CAS
 *   mnemo_NAME_owners   "p.N": "EPOCH NODE"        changed by CAS only
 *                       or "EPOCH" (released by its owner on leave)
 */
#ifndef MN_CLUSTER_INT_H
#define MN_CLUSTER_INT_H

#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "include/mnemo_cluster.h"

typedef char mn__cl_name[MN_CLUSTER_NAME_MAX + 1];

/* The connection and the four buckets of one cluster. */
struct mn__cl_conn {
	natsConnection *nc;
	jsCtx *js;
	kvStore *config;
	kvStore *members;
	kvStore *leader;
	kvStore *owners;
	uint32_t partitions;
};

/* One node (node.c); its view of the owners bucket is under mu, NATS
 * calls are made outside it. */
struct mn_cluster {
	struct mn__cl_conn cc;
	mn__cl_name name;
	mn__cl_name cluster;
	uint32_t hb_ms;
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop, paused, parked, started;
	atomic_int ready, leader, reconnected;
	uint64_t leader_rev; /* the thread's own */
	kvWatcher *w;	     /* the thread's own */
	/* The partitions' pull subscriptions (transport.c), under sub_mu. */
	pthread_mutex_t sub_mu;
	natsSubscription **subs;
	uint32_t ack_wait_ms;
	/* The view, under mu. */
	mn__cl_name *owner;
	uint64_t *epoch;
	uint64_t *rev;
};

/* The messages stream (transport.c): create it if absent. */
int mn__cl_stream(struct mn_cluster *c);
/* Drop the partitions' subscriptions (the consumers stay). */
void mn__cl_subs_close(struct mn_cluster *c);

/* 1 if s is a valid cluster or node name. */
int mn__cl_name_ok(const char *s);

/* A NATS failure as MN_EIO with "what: NATS's text" in the detail. */
int mn__cl_nats_err(natsStatus s, const char *what);

/* Connect to url (reconnecting for ever, 100 ms apart) and open the
 * cluster's buckets. partitions 0: read P from the config; else check it
 * (MN_EINVAL "wrong cluster config"); create: make a missing cluster. The
 * TTL is the members' and the leader's. */
int mn__cl_open(struct mn__cl_conn *cc, const char *url, const char *cluster,
		uint32_t partitions, int create, int64_t ttl_ms,
		void (*reconnected)(natsConnection *, void *), void *arg);
void mn__cl_shut(struct mn__cl_conn *cc);

/* An ownership record: "EPOCH NODE", or "EPOCH" when released by its
 * owner (node ""). */
int mn__cl_owner_parse(const char *v, int len, uint64_t *epoch,
		       mn__cl_name node);

/* The live members' names, sorted: the keys of the members bucket
 * (expired ones are gone) whose value is "alive" (not "leaving").
 * *names malloc'ed. */
int mn__cl_members(struct mn__cl_conn *cc, mn__cl_name **names, size_t *n);

/* The even assignment: want[p] = index into members (n > 0) for every
 * partition p with cur[p] != MN__CL_PINNED (those stay where they are: a
 * dead owner's partitions wait for it). The others are spread over the
 * members: each gets R/n or R/n+1 of them (the first R%n in name order
 * one more); a partition stays with its current owner (cur[p], -1 if none
 * or released) while that owner has room, else goes to the member with
 * room that ranks it highest (rendezvous hash of member and p). */
#define MN__CL_PINNED (-2)
void mn__cl_assign(uint32_t partitions, const mn__cl_name *members, size_t n,
		   const int *cur, int *want);

#endif
