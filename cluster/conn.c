/*
 * conn.c - the NATS connection and the cluster's buckets.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/detail.h"
#include "cluster/cluster_int.h"

int mn__cl_nats_err(natsStatus s, const char *what)
{
	const char *last = nats_GetLastError(NULL);

	mn__detail_setf("%s: %s%s%s", what, natsStatus_GetText(s),
			last && *last ? ": " : "", last ? last : "");
	return MN_EIO;
}

static int bucket(struct mn__cl_conn *cc, kvStore **kv, const char *cluster,
		  const char *what, int64_t ttl_ms, int create)
{
	char name[MN_CLUSTER_NAME_MAX + 32];
	kvConfig cfg;
	natsStatus s;

	snprintf(name, sizeof name, "mnemo_%s_%s", cluster, what);
	s = js_KeyValue(kv, cc->js, name);
	if (s == NATS_OK)
		return 0;
	if (s != NATS_NOT_FOUND)
		return mn__cl_nats_err(s, name);
	if (!create) {
		mn__detail_setf("no cluster %s on this NATS server (bucket %s "
				"missing): a wrong cluster name, or no node "
				"created it yet",
				cluster, name);
		return MN_EINVAL;
	}
	kvConfig_Init(&cfg);
	cfg.Bucket = name;
	cfg.History = 1;
	cfg.TTL = ttl_ms * 1000000; /* nanoseconds */
	cfg.StorageType = js_FileStorage;
	s = js_CreateKeyValue(kv, cc->js, &cfg);
	if (s != NATS_OK)
		return mn__cl_nats_err(s, name);
	return 0;
}

/* Read or write the config record; check P. */
static int config(struct mn__cl_conn *cc, const char *cluster,
		  uint32_t partitions, int create)
{
	char want[64], *end;
	kvEntry *e = NULL;
	natsStatus s;
	unsigned long got;
	const char *v;

	snprintf(want, sizeof want, "partitions=%u",
		 partitions ? partitions : MN_CLUSTER_PARTITIONS);
	s = kvStore_Get(&e, cc->config, "config");
	if (s == NATS_NOT_FOUND && create) {
		s = kvStore_CreateString(NULL, cc->config, "config", want);
		if (s == NATS_OK) {
			cc->partitions =
			    partitions ? partitions : MN_CLUSTER_PARTITIONS;
			return 0;
		}
		/* Created by another node meanwhile: read it. */
		s = kvStore_Get(&e, cc->config, "config");
	}
	if (s == NATS_NOT_FOUND) {
		mn__detail_setf("cluster %s has no config record", cluster);
		return MN_EINVAL;
	}
	if (s != NATS_OK)
		return mn__cl_nats_err(s, "config");
	v = kvEntry_ValueString(e);
	if (strncmp(v, "partitions=", 11) != 0 ||
	    (got = strtoul(v + 11, &end, 10)) == 0 || *end ||
	    got > MN_CLUSTER_PARTITIONS_MAX) {
		mn__detail_setf("wrong cluster config: cluster %s has config "
				"\"%.64s\", not a mnemo cluster's",
				cluster, v);
		kvEntry_Destroy(e);
		return MN_ECORRUPT;
	}
	kvEntry_Destroy(e);
	if (partitions && got != partitions) {
		mn__detail_setf("wrong cluster config: cluster %s has %lu "
				"partitions, this node %u",
				cluster, got, partitions);
		return MN_EINVAL;
	}
	cc->partitions = (uint32_t)got;
	return 0;
}

int mn__cl_open(struct mn__cl_conn *cc, const char *url, const char *cluster,
		uint32_t partitions, int create, int64_t ttl_ms,
		void (*reconnected)(natsConnection *, void *), void *arg)
{
	natsOptions *o = NULL;
	natsStatus s;
	int rc;

	memset(cc, 0, sizeof *cc);
	if (!mn__cl_name_ok(cluster)) {
		mn__detail_setf("bad cluster name \"%.64s\": 1 to %u of "
				"A-Z a-z 0-9 _ -",
				cluster ? cluster : "(null)",
				MN_CLUSTER_NAME_MAX);
		return MN_EINVAL;
	}
	if (partitions > MN_CLUSTER_PARTITIONS_MAX) {
		mn__detail_setf("%u partitions: at most %u", partitions,
				MN_CLUSTER_PARTITIONS_MAX);
		return MN_EINVAL;
	}
	s = natsOptions_Create(&o);
	if (s == NATS_OK)
		s = natsOptions_SetURL(o, url);
	if (s == NATS_OK)
		s = natsOptions_SetMaxReconnect(o, -1);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectWait(o, 100);
	if (s == NATS_OK)
		s = natsOptions_SetTimeout(o, 2000);
	if (s == NATS_OK && reconnected)
		s = natsOptions_SetReconnectedCB(o, reconnected, arg);
	if (s == NATS_OK)
		s = natsConnection_Connect(&cc->nc, o);
	natsOptions_Destroy(o);
	if (s != NATS_OK) {
		char what[256];
		snprintf(what, sizeof what, "connect to %s", url);
		return mn__cl_nats_err(s, what);
	}
	s = natsConnection_JetStream(&cc->js, cc->nc, NULL);
	if (s != NATS_OK) {
		rc = mn__cl_nats_err(s, "JetStream");
		goto fail;
	}
	if ((rc = bucket(cc, &cc->config, cluster, "config", 0, create)) ||
	    (rc = config(cc, cluster, partitions, create)) ||
	    (rc = bucket(cc, &cc->members, cluster, "members", ttl_ms,
			 create)) ||
	    (rc = bucket(cc, &cc->leader, cluster, "leader", ttl_ms, create)) ||
	    (rc = bucket(cc, &cc->owners, cluster, "owners", 0, create)))
		goto fail;
	return 0;
fail:
	mn__cl_shut(cc);
	return rc;
}

void mn__cl_shut(struct mn__cl_conn *cc)
{
	kvStore_Destroy(cc->owners);
	kvStore_Destroy(cc->leader);
	kvStore_Destroy(cc->members);
	kvStore_Destroy(cc->config);
	jsCtx_Destroy(cc->js);
	if (cc->nc) {
		natsConnection_Close(cc->nc);
		natsConnection_Destroy(cc->nc);
	}
	memset(cc, 0, sizeof *cc);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(a, b);
}

int mn__cl_members(struct mn__cl_conn *cc, mn__cl_name **names, size_t *n)
{
	kvKeysList keys = {0};
	natsStatus s = kvStore_Keys(&keys, cc->members, NULL);
	int i;

	*names = NULL;
	*n = 0;
	if (s == NATS_NOT_FOUND)
		return 0;
	if (s != NATS_OK)
		return mn__cl_nats_err(s, "members");
	*names = calloc((size_t)keys.Count + 1, sizeof **names);
	if (!*names) {
		kvKeysList_Destroy(&keys);
		return MN_ENOMEM;
	}
	for (i = 0; i < keys.Count; i++) {
		kvEntry *e = NULL;
		int alive;
		if (!mn__cl_name_ok(keys.Keys[i]))
			continue;
		/* "leaving": on its way out, given nothing */
		if (kvStore_Get(&e, cc->members, keys.Keys[i]) != NATS_OK)
			continue;
		alive = strcmp(kvEntry_ValueString(e), "alive") == 0;
		kvEntry_Destroy(e);
		if (!alive)
			continue;
		strcpy((*names)[*n], keys.Keys[i]);
		(*n)++;
	}
	kvKeysList_Destroy(&keys);
	qsort(*names, *n, sizeof **names, by_name);
	return 0;
}
