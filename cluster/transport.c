/*
 * transport.c - messages to a partition: one JetStream stream per cluster
 * (mnemo_NAME_msgs, work-queue retention: a message goes once acked), one
 * subject per partition (mnemo.NAME.p.N), one durable pull consumer per
 * partition (p-N). Publishing carries the caller's id as JetStream's
 * message id, so a repeat within the duplicate window is dropped by the
 * broker.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/detail.h"
#include "cluster/cluster_int.h"

#define MAX_ACK_PENDING 1024

static void stream_name(const struct mn_cluster *c, char *buf, size_t size)
{
	snprintf(buf, size, "mnemo_%s_msgs", c->cluster);
}

static void subject_of(const struct mn_cluster *c, uint32_t p, char *buf,
		       size_t size)
{
	snprintf(buf, size, "mnemo.%s.p.%u", c->cluster, p);
}

int mn__cl_stream(struct mn_cluster *c)
{
	char name[MN_CLUSTER_NAME_MAX + 16], subj[MN_CLUSTER_NAME_MAX + 16];
	const char *subjects[1] = {subj};
	jsStreamInfo *si = NULL;
	jsStreamConfig cfg;
	jsErrCode jerr = 0;
	natsStatus s;

	stream_name(c, name, sizeof name);
	snprintf(subj, sizeof subj, "mnemo.%s.p.*", c->cluster);
	s = js_GetStreamInfo(&si, c->cc.js, name, NULL, &jerr);
	if (s == NATS_OK) {
		jsStreamInfo_Destroy(si);
		return 0;
	}
	jsStreamConfig_Init(&cfg);
	cfg.Name = name;
	cfg.Subjects = subjects;
	cfg.SubjectsLen = 1;
	cfg.Retention = js_WorkQueuePolicy;
	cfg.Storage = js_FileStorage;
	s = js_AddStream(&si, c->cc.js, &cfg, NULL, &jerr);
	if (s == NATS_OK) {
		jsStreamInfo_Destroy(si);
		return 0;
	}
	/* Added by another node meanwhile? */
	if (js_GetStreamInfo(&si, c->cc.js, name, NULL, NULL) == NATS_OK) {
		jsStreamInfo_Destroy(si);
		return 0;
	}
	return mn__cl_nats_err(s, name);
}

int mn_cluster_publish(mn_cluster *c, uint32_t p, const char *msg_id,
		       const void *data, size_t len, int *duplicate)
{
	char subj[MN_CLUSTER_NAME_MAX + 32];
	jsPubAck *ack = NULL;
	jsPubOptions po;
	jsErrCode jerr = 0;
	natsStatus s;

	if (duplicate)
		*duplicate = 0;
	if (p >= c->cc.partitions || !msg_id || !*msg_id ||
	    len > (size_t)INT32_MAX) {
		mn__detail_set("mn_cluster_publish: a partition out of range, "
			       "no message id, or too long");
		return MN_EINVAL;
	}
	subject_of(c, p, subj, sizeof subj);
	jsPubOptions_Init(&po);
	po.MsgId = msg_id;
	s = js_Publish(&ack, c->cc.js, subj, data, (int)len, &po, &jerr);
	if (s != NATS_OK)
		return mn__cl_nats_err(s, "publish");
	if (duplicate)
		*duplicate = ack->Duplicate;
	jsPubAck_Destroy(ack);
	return 0;
}

/* Partition p's subscription, made on first use. Under sub_mu. */
static int sub_of(struct mn_cluster *c, uint32_t p, natsSubscription **out)
{
	char subj[MN_CLUSTER_NAME_MAX + 32], durable[32],
	    stream[MN_CLUSTER_NAME_MAX + 16];
	jsSubOptions so;
	jsErrCode jerr = 0;
	natsStatus s;

	if (c->subs[p]) {
		*out = c->subs[p];
		return 0;
	}
	subject_of(c, p, subj, sizeof subj);
	stream_name(c, stream, sizeof stream);
	snprintf(durable, sizeof durable, "p-%u", p);
	jsSubOptions_Init(&so);
	so.Stream = stream;
	so.Config.AckPolicy = js_AckExplicit;
	so.Config.AckWait = (int64_t)c->ack_wait_ms * 1000000; /* ns */
	so.Config.MaxAckPending = MAX_ACK_PENDING;
	s = js_PullSubscribe(&c->subs[p], c->cc.js, subj, durable, NULL, &so,
			     &jerr);
	if (s != NATS_OK) {
		c->subs[p] = NULL;
		return mn__cl_nats_err(s, "subscribe");
	}
	*out = c->subs[p];
	return 0;
}

int mn_cluster_fetch(mn_cluster *c, uint32_t p, mn_cluster_msg **msgs, int max,
		     int timeout_ms, int *n)
{
	natsSubscription *sub = NULL;
	natsMsgList list = {0};
	jsErrCode jerr = 0;
	natsStatus s;
	int rc, i;

	*n = 0;
	if (p >= c->cc.partitions || max <= 0 || timeout_ms <= 0)
		return MN_EINVAL;
	if (mn_cluster_owns(c, p, NULL) != 1) {
		char owner[MN_CLUSTER_NAME_MAX + 1];
		pthread_mutex_lock(&c->mu);
		strcpy(owner, c->owner[p]);
		pthread_mutex_unlock(&c->mu);
		mn__detail_setf("not owner: partition %u is %s%s, not node "
				"%s's",
				p, *owner ? "node " : "",
				*owner ? owner : "unassigned", c->name);
		return MN_ENOACTOR;
	}
	pthread_mutex_lock(&c->sub_mu);
	rc = sub_of(c, p, &sub);
	pthread_mutex_unlock(&c->sub_mu);
	if (rc)
		return rc;
	s = natsSubscription_Fetch(&list, sub, max, timeout_ms, &jerr);
	if (s == NATS_TIMEOUT)
		return 0;
	if (s != NATS_OK)
		return mn__cl_nats_err(s, "fetch");
	for (i = 0; i < list.Count && i < max; i++) {
		msgs[i] = (mn_cluster_msg *)list.Msgs[i];
		list.Msgs[i] = NULL;
	}
	*n = i;
	natsMsgList_Destroy(&list); /* the array; the messages are ours */
	return 0;
}

const char *mn_cluster_msg_id(mn_cluster_msg *m)
{
	const char *id = NULL;

	if (natsMsgHeader_Get((natsMsg *)m, "Nats-Msg-Id", &id) != NATS_OK)
		return "";
	return id;
}

const void *mn_cluster_msg_data(mn_cluster_msg *m, size_t *len)
{
	*len = (size_t)natsMsg_GetDataLength((natsMsg *)m);
	return natsMsg_GetData((natsMsg *)m);
}

uint64_t mn_cluster_msg_deliveries(mn_cluster_msg *m)
{
	jsMsgMetaData *meta = NULL;
	uint64_t n = 0;

	if (natsMsg_GetMetaData(&meta, (natsMsg *)m) == NATS_OK) {
		n = meta->NumDelivered;
		jsMsgMetaData_Destroy(meta);
	}
	return n;
}

int mn_cluster_msg_ack(mn_cluster_msg *m)
{
	natsStatus s = natsMsg_AckSync((natsMsg *)m, NULL, NULL);

	natsMsg_Destroy((natsMsg *)m);
	return s == NATS_OK ? 0 : mn__cl_nats_err(s, "ack");
}

void mn_cluster_msg_free(mn_cluster_msg *m)
{
	natsMsg_Destroy((natsMsg *)m);
}

void mn__cl_subs_close(struct mn_cluster *c)
{
	uint32_t p;

	pthread_mutex_lock(&c->sub_mu);
	for (p = 0; p < c->cc.partitions; p++) {
		/* Destroy, not unsubscribe: the durable consumer stays for
		 * the partition's next owner. */
		natsSubscription_Destroy(c->subs[p]);
		c->subs[p] = NULL;
	}
	pthread_mutex_unlock(&c->sub_mu);
}
