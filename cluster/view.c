/*
 * view.c - mn_cluster_read: one reading of a cluster's records (the
 * config, the live members, the leader, every partition's owner), for
 * `mnemo cluster status`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/detail.h"
#include "cluster/cluster_int.h"

static int owners(struct mn__cl_conn *cc, struct mn_cluster_view *v)
{
	kvWatcher *w = NULL;
	natsStatus s = kvStore_WatchAll(&w, cc->owners, NULL);
	uint64_t until = mn__mono_ms() + 5000;

	if (s != NATS_OK)
		return mn__cl_nats_err(s, "owners");
	for (;;) {
		kvEntry *e = NULL;
		const char *key;
		char *end;
		unsigned long p;
		uint64_t now = mn__mono_ms();

		if (now >= until) {
			kvWatcher_Destroy(w);
			mn__detail_set("owners: no end of the bucket in 5 s");
			return MN_ETIMEDOUT;
		}
		s = kvWatcher_Next(&e, w, (int64_t)(until - now));
		if (s != NATS_OK) {
			kvWatcher_Destroy(w);
			return mn__cl_nats_err(s, "owners");
		}
		if (!e)
			break; /* the bucket's state, whole */
		key = kvEntry_Key(e);
		if (kvEntry_Operation(e) == kvOp_Put &&
		    strncmp(key, "p.", 2) == 0 &&
		    (p = strtoul(key + 2, &end, 10), *end == '\0') &&
		    p < v->partitions)
			mn__cl_owner_parse(kvEntry_Value(e),
					   kvEntry_ValueLen(e), &v->epoch[p],
					   v->owner[p]);
		kvEntry_Destroy(e);
	}
	kvWatcher_Destroy(w);
	return 0;
}

int mn_cluster_read(const char *nats_url, const char *cluster,
		    struct mn_cluster_view *v)
{
	struct mn__cl_conn cc;
	mn__cl_name *members = NULL;
	kvEntry *e = NULL;
	int rc;

	memset(v, 0, sizeof *v);
	rc = mn__cl_open(&cc, nats_url, cluster, 0, 0, 0, NULL, NULL);
	if (rc)
		return rc;
	v->partitions = cc.partitions;
	v->owner = calloc(v->partitions, sizeof *v->owner);
	v->epoch = calloc(v->partitions, sizeof *v->epoch);
	if (!v->owner || !v->epoch) {
		rc = MN_ENOMEM;
		goto out;
	}
	if ((rc = mn__cl_members(&cc, &members, &v->n_members)))
		goto out;
	v->members = members;
	if (kvStore_Get(&e, cc.leader, "leader") == NATS_OK) {
		const char *l = kvEntry_ValueString(e);
		if (mn__cl_name_ok(l))
			strcpy(v->leader, l);
		kvEntry_Destroy(e);
	}
	rc = owners(&cc, v);
	if (rc == 0) {
		char name[MN_CLUSTER_NAME_MAX + 16];
		jsStreamInfo *si = NULL;
		snprintf(name, sizeof name, "mnemo_%s_msgs", cluster);
		if (js_GetStreamInfo(&si, cc.js, name, NULL, NULL) == NATS_OK) {
			v->waiting = si->State.Msgs;
			jsStreamInfo_Destroy(si);
		}
	}
out:
	mn__cl_shut(&cc);
	if (rc)
		mn_cluster_view_free(v);
	return rc;
}

void mn_cluster_view_free(struct mn_cluster_view *v)
{
	if (!v)
		return;
	free(v->members);
	free(v->owner);
	free(v->epoch);
	memset(v, 0, sizeof *v);
}
