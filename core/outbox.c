/*
 * outbox.c - stored messages: their redelivery after an open (lazy restart,
 * paced, one job per kind, by the maintenance thread), the gate that keeps
 * per-pair order across a restart (G1-G3), and durable sends from outside
 * threads (mn_send_durable: a DURABLE record the writer stores and then
 * delivers). Parking itself, and the park lists, are the gate's (gate.c,
 * below the send engine). Threads: the maintenance thread (redelivery),
 * the registering thread (kinds), outside threads (durable sends).
 *
 * Per-pair order across a restart (the gate, docs/architecture.md):
 *  G1  When the store held stored messages at open, every kind is gated
 *      from its registration (before it is published) until its
 *      redelivery job has queued the last of its stored messages.
 *  G2  While a kind is gated, a new message to it (any send but a spawn,
 *      a redelivered stored message and a released one) is counted as sent
 *      and parked, in order, in the kind's list, under gate_mu.
 *  G3  The job's end pushes the kind's parked messages in order and only
 *      then clears the gate (release), all under gate_mu; a sender that
 *      reads the gate clear (acquire) therefore finds every earlier
 *      parked message queued. So stored messages to an actor are in its
 *      mailbox before any message sent to it after the open.
 */
#include "core/maint.h"
#include "core/persist_int.h"
#include "base/clock.h"

typedef struct redeliver {
	mn_runtime *rt;
	mn_kind *k;
	uint64_t n, scanned, last_id, max;
	int rc;
} redeliver;

/*
 * Lazy restart, rate-limited (maintenance thread): each step delivers up to
 * max stored messages of every pending kind, only while fewer than
 * MN__REDELIVER_INFLIGHT messages are in flight in the runtime (messages
 * parked at a gate, G2, not counted: they wait for the redelivery), so that
 * a restart with millions of stored messages neither floods memory nor
 * starves live traffic.
 */
#define MN__REDELIVER_INFLIGHT 65536

static bool redeliver_paced(mn_runtime *rt)
{
	uint64_t inflight = mn__runtime_inflight(rt);
	uint64_t np = atomic_load_explicit(&rt->persist->gate.nparked,
					   memory_order_relaxed);
	return (inflight > np ? inflight - np : 0) > MN__REDELIVER_INFLIGHT;
}

static int redeliver_one(void *arg, const mn__entry *e)
{
	redeliver *d = arg;
	mn_runtime *rt = d->rt;
	mn__sendx x = {.outbox_id = e->lsn,
		       .sender_id = e->sender_id,
		       .mflags = e->flags & MN__MSG_PUBLIC_MASK,
		       .ungated = true};
	mn__actor_meta m;

	if (++d->scanned > d->max * 8)
		return 1; /* enough for this step: resume at this entry */
	if (e->kind_id != d->k->store_id) {
		d->last_id = e->lsn;
		return 0;
	}
	/* Paced by the messages in flight, checked every 64 deliveries;
	 * the scan past other kinds' entries goes on regardless. */
	if ((d->n & 63) == 0 && redeliver_paced(rt))
		return 1; /* resume at this entry */
	d->last_id = e->lsn;
	if (e->sender_id &&
	    mn__store_actor_get(rt->persist->store, e->sender_id, &m) == 0) {
		const mn_kind *sk = kind_by_store_id(rt, m.kind_id);
		/* A sender whose kind is not registered yet is not
		 * reachable by reply; the message still arrives. */
		if (sk) {
			x.sender_kind = sk;
			memcpy(x.sender_key, m.key, m.key_len);
			x.sender_key_len = m.key_len;
		}
	}
	if (!e->sender_id)
		x.mflags |= MN_MSG_EXTERNAL;
	int rc = mn__send(rt, NULL, NULL, d->k, e->key, e->key_len, e->type,
			  e->payload, e->len, &x);
	if (rc) {
		mn__event(&rt->ev, MN_EVENT_UNDELIVERED, rc, d->k, e->key,
			  e->key_len, 0,
			  "stored message %llu (type %u) not redelivered (%s); "
			  "it stays stored for the next open",
			  (unsigned long long)e->lsn, (unsigned)e->type,
			  mn_err_name(rc));
		return rc;
	}
	return ++d->n >= d->max ? 1 : 0;
}

int mn__persist_kind_id(mn_runtime *rt, mn_kind *k)
{
	int rc = mn__store_kind_id(rt->persist->store, k->name, &k->store_id);
	if (rc)
		return rc;
	uint32_t dict = mn__store_kind_dict(rt->persist->store, k->store_id);
	atomic_init(&k->dict_id, dict);
	atomic_init(&k->sampling, dict == 0);
	/* G1: before the kind is published, so no send can pass it. */
	atomic_init(&k->gated, rt->persist->gate.stored_at_open);
	return 0;
}

/* Push the kind's parked messages in order, then clear its gate (G3). The
 * park lists are the gate's (gate.h); they are walked here, above the send
 * engine, because G3's pushes happen under gate_mu. */
static void gate_open(mn_runtime *rt, mn_kind *k)
{
	mn__persist *p = rt->persist;
	pthread_mutex_lock(&p->gate.gate_mu);
	mn__parked *q = p->gate.park_head[k->idx];
	p->gate.park_head[k->idx] = p->gate.park_tail[k->idx] = NULL;
	while (q) {
		mn__parked *next = q->next;
		atomic_fetch_sub_explicit(&p->gate.nparked, 1,
					  memory_order_relaxed);
		int src = mn__send(rt, NULL, NULL, q->kind, q->key, q->key_len,
				   q->type, q->data, q->len, &q->x);
		if (src) {
			/* Counted as sent when parked: done, for drain. */
			mn__gate_parked_done(&p->gate);
			if (src == MN__EDELETING)
				mn__event(&rt->ev, MN_EVENT_DROPPED,
					  MN_ENOACTOR, q->kind, q->key,
					  q->key_len, 0,
					  "parked message type %u dropped: the "
					  "actor is being deleted",
					  (unsigned)q->type);
		}
		free(q);
		q = next;
	}
	atomic_store_explicit(&k->gated, false, memory_order_release);
	pthread_mutex_unlock(&p->gate.gate_mu);
}

void mn__persist_gate_open(mn_runtime *rt, mn_kind *k)
{
	gate_open(rt, k);
}

/* Recovery of one kind: its calls, timers, stored messages. */
static int recover_kind(mn_runtime *rt, mn_kind *k)
{
	mn__persist *p = rt->persist;
	/* Calls the previous process made and got no reply for; timers
	 * due for the kind that waited for it. */
	mn__calls_kind_registered(p, k);
	if (p->recovery.timers)
		mn__timers_arm(p, mn__unix_ms());
	if (!p->gate.stored_at_open)
		return 0; /* nothing was stored before this open */
	redeliver_job *j = calloc(1, sizeof *j);
	if (!j) {
		gate_open(rt, k);
		return MN_ENOMEM;
	}
	j->k = k;
	j->next_id = 1;
	j->end_id = p->rd.outbox_end;
	pthread_mutex_lock(&p->rd.jobs_mu);
	if (p->rd.jobs_tail)
		p->rd.jobs_tail->next = j;
	else
		p->rd.jobs_head = j;
	p->rd.jobs_tail = j;
	/* release: a drain that reads 0 later sees every delivery the jobs
	 * made (counted before their pushes). */
	atomic_fetch_add_explicit(&p->rd.njobs, 1, memory_order_release);
	pthread_mutex_unlock(&p->rd.jobs_mu);
	mn__maint_wake(rt->maint);
	return 0;
}

int mn__persist_kind_registered(mn_runtime *rt, mn_kind *k)
{
	mn__persist *p = rt->persist;
	mn_kind *ready[MN_KINDS_MAX];
	unsigned n = 0;
	pthread_mutex_lock(&p->rec_mu);
	if (!atomic_load_explicit(&p->rec_ready, memory_order_relaxed)) {
		p->rec_waiting[p->nrec_waiting++] = k;
		if (p->nrec_waiting < p->kinds_expected) {
			pthread_mutex_unlock(&p->rec_mu);
			return 0; /* its recovery waits for the others */
		}
		n = p->nrec_waiting;
		memcpy(ready, p->rec_waiting, n * sizeof *ready);
		p->nrec_waiting = 0;
		atomic_store_explicit(&p->rec_ready, true,
				      memory_order_release);
	} else {
		ready[n++] = k;
	}
	pthread_mutex_unlock(&p->rec_mu);
	int rc = 0;
	for (unsigned i = 0; i < n; i++) {
		int r = recover_kind(rt, ready[i]);
		rc = rc ? rc : r;
	}
	return rc;
}

/* Every pending kind's job steps once, in registration order: a kind with
 * few stored messages (or none) is not held behind another's many (its
 * gate, G1, opens when its own scan is done). */
uint64_t mn__persist_redeliver_step(mn_runtime *rt, uint64_t max)
{
	mn__persist *p = rt->persist;
	uint64_t total = 0;
	if (!p || !atomic_load_explicit(&p->rd.njobs, memory_order_acquire))
		return 0;
	pthread_mutex_lock(&p->rd.jobs_mu);
	redeliver_job *j = p->rd.jobs_head, *prev = NULL;
	pthread_mutex_unlock(&p->rd.jobs_mu);
	while (j) {
		redeliver d = {.rt = rt, .k = j->k, .max = max};
		/* Held over the scan and its sends: a deletion's barrier
		 * (X4). */
		pthread_mutex_lock(&p->del.redeliver_mu);
		int rc = mn__store_outbox_range(p->store, p->rd.maint_codec,
						j->next_id, j->end_id,
						redeliver_one, &d);
		pthread_mutex_unlock(&p->del.redeliver_mu);
		atomic_fetch_add_explicit(&p->st.delivered_at_open, d.n,
					  memory_order_relaxed);
		total += d.n;
		/* Only this thread unlinks; registration appends (jobs_mu). */
		pthread_mutex_lock(&p->rd.jobs_mu);
		redeliver_job *next = j->next;
		if (rc == 1) {
			/* Stopped early: go on after the last entry handled. */
			if (d.last_id)
				j->next_id = d.last_id + 1;
			prev = j;
			pthread_mutex_unlock(&p->rd.jobs_mu);
			j = next;
			continue;
		}
		/* Done with this kind (or it failed: the store error is
		 * sticky in the detail; the entries stay stored for the next
		 * open). */
		if (prev)
			prev->next = next;
		else
			p->rd.jobs_head = next;
		if (p->rd.jobs_tail == j)
			p->rd.jobs_tail = prev;
		pthread_mutex_unlock(&p->rd.jobs_mu);
		gate_open(rt, j->k); /* G3 */
		free(j);
		atomic_fetch_sub_explicit(&p->rd.njobs, 1,
					  memory_order_release);
		j = next;
	}
	return total;
}

bool mn__persist_busy(mn_runtime *rt)
{
	return rt->persist && atomic_load_explicit(&rt->persist->rd.njobs,
						   memory_order_acquire);
}

int mn__persist_durable(mn_runtime *rt, const mn_kind *kind, const void *key,
			size_t key_len, uint32_t type, const void *payload,
			size_t len, const void *ckey, size_t ck_len,
			mn_send_done_cb done, void *arg)
{
	mn__persist *p = rt->persist;
	int rc = mn__persist_sticky_error(p);
	if (rc)
		return rc;
	wrec *r = malloc(sizeof *r + len + key_len + ck_len);
	if (!r)
		return MN_ENOMEM;
	memset(r, 0, sizeof *r);
	r->rk = REC_DURABLE;
	r->target = kind;
	r->key_len = (uint8_t)key_len;
	r->type = type;
	r->flags = MN_MSG_EXTERNAL;
	r->unix_ms = mn__unix_ms();
	r->len = len;
	r->done = done;
	r->done_arg = arg;
	if (len)
		memcpy(r->data, payload, len);
	memcpy(r->data + len, key, key_len);
	if (ck_len) {
		/* What the key stands for: the target and the message. */
		uint64_t h = mn__hash(kind->store_id, key, key_len);
		h = mn__hash(h ^ type, payload, len);
		r->ck_hash = h ? h : 1;
		r->ck_len = (uint8_t)ck_len;
		memcpy(r->data + len + key_len, ckey, ck_len);
	}
	/* DR1: counted before the writer pushes it. */
	atomic_fetch_add_explicit(&rt->ext_sent, 1, memory_order_release);
	mn__persist_enqueue(p, r);
	return 0;
}
