/*
 * mnemo_cluster.h - libmnemo-cluster, placement of actors over the nodes of
 * a cluster on NATS JetStream (docs/cluster.md). Experimental: the first
 * slice of it (placement, membership, ownership with epochs, status, and
 * the transport of messages to a partition); the runtime does not use it
 * yet, so no actor's message crosses nodes.
 *
 * A node joins a named cluster on a NATS server with JetStream. The cluster
 * has a fixed number of partitions P, recorded in its config bucket when the
 * first node creates it; an address (kind, key) belongs to partition
 * mn_cluster_partition(kind, key, P). Members heartbeat into a key-value
 * bucket with a TTL; one elected member (the leader) spreads the partitions
 * evenly over the live members and writes each partition's owner, with an
 * epoch that grows at each change, by compare-and-set. A node serves the
 * partitions its view says it owns; a stale owner is fenced: its write of
 * an ownership record fails the compare-and-set (mn_cluster_confirm).
 *
 * Conventions are those of mnemo.h: 0 or a negative MN_E* code with the
 * reason in mn_errdetail(); handles opaque; destructors accept NULL. Every
 * function may be called from any thread. Link with -lmnemo-cluster -lnats
 * (and libmnemo, whose error detail it uses).
 */
#ifndef MNEMO_CLUSTER_H
#define MNEMO_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#include "mnemo.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The default number of partitions, and the bounds of any. */
#define MN_CLUSTER_PARTITIONS	  1024u
#define MN_CLUSTER_PARTITIONS_MAX 65536u
/* Cluster and node names: 1..MN_CLUSTER_NAME_MAX of [A-Za-z0-9_-]. */
#define MN_CLUSTER_NAME_MAX 48u

/* The partition of the address (kind, key): the one placement decision.
 * A hash of the kind's name and the key's bytes, mod partitions (not 0).
 * Stable across versions and machines (part of the cluster format). */
uint32_t mn_cluster_partition(const char *kind, const void *key, size_t len,
			      uint32_t partitions);

struct mn_cluster_opts {
	const char *nats_url; /* e.g. "nats://127.0.0.1:4222" */
	const char *cluster;  /* the cluster's name */
	const char *node;     /* this node's name, unique in the cluster */
	uint32_t partitions;  /* 0: MN_CLUSTER_PARTITIONS */
	/* 1: create the cluster when there is none of that name; 0: refuse
	 * (MN_EINVAL, "no cluster NAME ...": a wrong name). */
	int create;
	/* The heartbeat and tick period (0: 500 ms) and the membership TTL
	 * (0: 4 heartbeats): a member silent for the TTL is gone. */
	uint32_t heartbeat_ms;
	uint32_t ttl_ms;
	/* How long a fetched message may stay unacknowledged before it is
	 * delivered again (0: 30 s). */
	uint32_t ack_wait_ms;
};

typedef struct mn_cluster mn_cluster;

/* Connect, check the cluster's config (same P, or MN_EINVAL "wrong cluster
 * config"), announce this node and start its thread (heartbeats, the
 * leader's election and assignment, the view of the owners). A node name
 * already alive in the cluster is refused with MN_EEXIST. */
int mn_cluster_join(const struct mn_cluster_opts *opts, mn_cluster **out);

/* Leave on purpose: stop serving, withdraw the membership (and the
 * leadership) so that the leader hands this node's partitions to the
 * others at once with new epochs; then close. */
int mn_cluster_leave(mn_cluster *c);

/* Close without leaving (what a crash looks like to the others): the
 * membership expires after the TTL; the partitions stay this node's
 * until the leader reassigns them. */
void mn_cluster_close(mn_cluster *c);

/* 1 if this node's view says it owns partition p (its epoch in *epoch if
 * not NULL), 0 if not; MN_EINVAL for a partition out of range. */
int mn_cluster_owns(mn_cluster *c, uint32_t p, uint64_t *epoch);

/* The number of partitions this node owns in its view. */
uint32_t mn_cluster_owned(mn_cluster *c);

/* 1 if this node holds the leadership. */
int mn_cluster_is_leader(mn_cluster *c);

/* 1 once the node has read the owners bucket once (its view is whole). */
int mn_cluster_ready(mn_cluster *c);

/* Prove ownership of p: rewrite its ownership record, same owner and
 * epoch, by compare-and-set on the revision this node last saw. MN_OK if
 * this node still owns it; MN_ECONFLICT if the record moved on (the node
 * is a stale owner, fenced: it drops p from its view); MN_ENOACTOR if the
 * view says another node owns it. */
int mn_cluster_confirm(mn_cluster *c, uint32_t p);

/* For tests: pause (1) or resume (0) the node's thread, as a long stall
 * would: no heartbeats, no view updates. */
void mn_cluster_pause(mn_cluster *c, int paused);

/* ---- messages to a partition (the transport under cross-node delivery;
 * the runtime does not use it yet: docs/cluster.md) ---------------------- */

/* Publish len bytes to partition p's subject (mnemo.NAME.p.P in the
 * cluster's stream mnemo_NAME_msgs) with msg_id as JetStream's message id:
 * a second publish with the same id within the stream's duplicate window
 * (2 minutes) is acknowledged without a second message (*duplicate 1).
 * Returns once JetStream has stored it (MN_OK), or MN_EIO. Any node may
 * publish to any partition. */
int mn_cluster_publish(mn_cluster *c, uint32_t p, const char *msg_id,
		       const void *data, size_t len, int *duplicate);

typedef struct mn_cluster_msg mn_cluster_msg;

/* Up to max messages of partition p, in order, waiting up to timeout_ms
 * for the first; *n of them in msgs. Only the partition's owner may fetch
 * (else MN_ENOACTOR, "not owner": the view names the owner). Each
 * partition has one durable pull consumer (p-P, explicit ack, at most
 * 1,024 unacknowledged): a message fetched and not acknowledged within
 * the ack wait is delivered again, to whichever node owns p then. */
int mn_cluster_fetch(mn_cluster *c, uint32_t p, mn_cluster_msg **msgs, int max,
		     int timeout_ms, int *n);
/* A fetched message's id (the publisher's msg_id), bytes, and how many
 * times it was delivered (1 the first time). */
const char *mn_cluster_msg_id(mn_cluster_msg *m);
const void *mn_cluster_msg_data(mn_cluster_msg *m, size_t *len);
uint64_t mn_cluster_msg_deliveries(mn_cluster_msg *m);
/* Acknowledge (JetStream drops it) and free m. */
int mn_cluster_msg_ack(mn_cluster_msg *m);
/* Free m without acknowledging it: it will be delivered again. */
void mn_cluster_msg_free(mn_cluster_msg *m);

/* A reading of a cluster's records, for `mnemo cluster status`. */
struct mn_cluster_view {
	uint32_t partitions;
	char leader[MN_CLUSTER_NAME_MAX + 1]; /* "" when none */
	size_t n_members;		      /* live members, sorted */
	char (*members)[MN_CLUSTER_NAME_MAX + 1];
	/* Per partition: its owner ("" when unassigned) and epoch. */
	char (*owner)[MN_CLUSTER_NAME_MAX + 1];
	uint64_t *epoch;
	/* Messages in the cluster's stream not yet acknowledged by their
	 * partition's owner (mn_cluster_publish / mn_cluster_fetch). */
	uint64_t waiting;
};

/* Read the cluster's config, members, leader and owners. MN_EINVAL with
 * "no cluster NAME" when there is none of that name. */
int mn_cluster_read(const char *nats_url, const char *cluster,
		    struct mn_cluster_view *out);
void mn_cluster_view_free(struct mn_cluster_view *v);

#ifdef __cplusplus
}
#endif

#endif
