/*
 * persist.c - durability for a runtime with a store: open and close, the
 * writer thread's queue (mpsc.h's, MQ1-MQ4, with W2) and loop, and the handler
 hooks that turn
 * a handled message into a commit record. The rest of the durable core is
 * in the files named for what they hold (persist_int.h lists them): commit
 * groups in commit.c, checkpoints in checkpoint.c, the record and its ring
 * in record.c, eviction in evict.c, timers in timers.c, redelivery and
 * durable sends in outbox.c, rehydration in rehydrate.c, deletion in
 * delete.c, compaction in compact.c, dictionaries in dict_train.c.
 * Threads: workers (the hooks), the writer (its loop), the caller of
 * mn_runtime_open/close.
 *
 * Protocol (docs/semantics.md states the promises, docs/architecture.md
 * repeats these invariants):
 *  P1  A worker handles a message of a persistent actor with the actor's
 *      sends held in the worker's ctx, not delivered. After handle() it
 *      queues one commit record (the message, its sequence number, the held
 *      sends) to the writer and moves on: workers never wait for the disk.
 *  P2  One writer thread takes the queued records in order, up to
 *      commit_max_records at a time, and writes them in one LMDB
 *      transaction (a commit group): a journal entry per message (global
 *      LSN, appended), an outbox entry per held send, the removal of the
 *      outbox entry each handled message came from, new actors' names.
 *  P3  Output commit: only after the commit returns does the writer push
 *      the held sends into their recipients' mailboxes, each carrying its
 *      outbox id. So no recipient ever sees an effect whose cause could be
 *      lost.
 *  P4  Exactly once on one node: a stored message (outbox) is removed in
 *      the same commit as the journal entry of its processing. After a
 *      crash, the outbox holds exactly the stored messages not processed;
 *      they are delivered again when their kind is registered.
 *  P5  A message counts as done (drain) when the writer has committed its
 *      record, so drain waits for durability too.
 *  P6  Actor heads (last seq, last LSN) are written only at checkpoints
 *      (every MN__CHECKPOINT_EVERY entries and at close): the append path
 *      stays sequential. Entries after the checkpoint are chained to their
 *      actor by back-pointers and repaired at open (storage/store.c).
 *  P7  A store failure (disk full, I/O error) is sticky: nothing more is
 *      written, durable sends fail with the error, and what was committed
 *      stays intact.

 */
#include "core/persist_int.h"
#include "base/clock.h"

#include <sched.h>

/* ---- the queue -------------------------------------------------------------
 */

/*
 * The queue from workers (and outside threads, the maintenance thread) to
 * the writer: mpsc.h's detaching queue (MQ1-MQ4), linked through
 * wrec.qnode, its stub embedded in mn__persist_queue; the writer is its
 * only consumer (MQ2). It was a list under mu: with two workers queueing
 * 500k records a second, the mutex's futex waits and wakes were 4-6% of the
 * workers' time (perf, the 1 KiB durable benchmark). Producers push with a
 * seq_cst exchange (mn__mpsc_push_sc) for W2; a busy queue (MQ1) is looked
 * at again, never slept on; a record the writer took has left (MQ3), so
 * the writer may reuse next for its group list.
 *  W2  The writer sleeps only after storing wsleep = 1 and then finding
 *      the queue drained (MQ4, mn__mpsc_drained: its load of the end
 *      seq_cst); a producer loads wsleep (seq_cst) after its exchange and,
 *      if set, clears it and signals cv under mu. In the single order of
 *      seq_cst operations either the writer sees the record or the
 *      producer sees the flag. (The writer's own stub push inside
 *      mn__mpsc_pop is acq_rel: it is sequenced before the writer's
 *      seq_cst store of wsleep and load of the end, and an exchange always
 *      reads the latest end.) Violation: a record stranded while the
 *      writer sleeps (test_writer_sleeps_only_when_drained).
 */
static wrec *wrec_of_qnode(mn__mpsc_node *n)
{
	return n ? (wrec *)((char *)n - offsetof(wrec, qnode)) : NULL;
}

void mn__persist_enqueue(mn__persist *p, wrec *r)
{
	mn__mpsc_push_sc(&p->q.q.end, &r->qnode);
	if (p->delay_us)
		atomic_fetch_add_explicit(&p->q.qlen, 1, memory_order_relaxed);
	if (atomic_load_explicit(&p->q.wsleep, memory_order_seq_cst)) {
		pthread_mutex_lock(&p->mu);
		if (atomic_load_explicit(&p->q.wsleep, memory_order_relaxed)) {
			atomic_store_explicit(&p->q.wsleep, 0,
					      memory_order_relaxed);
			pthread_cond_signal(&p->cv);
		}
		pthread_mutex_unlock(&p->mu);
	}
}

/* Up to max records from the queue, linked through next in queue order,
 * after *last (or starting the list when *list is NULL); returns how many.
 * Writer only. */
static size_t queue_take(mn__persist *p, size_t max, wrec **list, wrec **last)
{
	size_t n = 0;
	wrec *r;
	while (n < max && (r = wrec_of_qnode(mn__mpsc_pop(&p->q.q)))) {
		r->next = NULL;
		if (*last)
			(*last)->next = r;
		else
			*list = r;
		*last = r;
		n++;
	}
	if (n && p->delay_us)
		atomic_fetch_sub_explicit(&p->q.qlen, n, memory_order_relaxed);
	return n;
}

/* True when the writer has taken everything (MQ4, for W2). */
static bool queue_drained(mn__persist *p)
{
	return mn__mpsc_drained(&p->q.q);
}

/* ---- errors ----------------------------------------------------------------
 */

/* Make a store failure sticky (P7), with its detail (writer only). */
void mn__persist_set_error(mn__persist *p, int rc)
{
	if (atomic_load_explicit(&p->error, memory_order_relaxed))
		return;
	snprintf(p->error_detail, sizeof p->error_detail, "%s",
		 mn__store_errdetail());
	atomic_store_explicit(&p->error, rc, memory_order_release);
	mn__event(&p->rt->ev, MN_EVENT_STORE_ERROR, rc, NULL, NULL, 0, 0,
		  "%s; the store takes no more writes", p->error_detail);
}

/* The sticky error, with its detail copied to this thread's errdetail. */
int mn__persist_sticky_error(mn__persist *p)
{
	int rc = atomic_load_explicit(&p->error, memory_order_acquire);
	if (rc)
		mn__store_set_errdetail(p->error_detail);
	return rc;
}

/* ---- the writer ------------------------------------------------------------
 */

/* Sleep until a record, a compaction or deletion request or stop arrives
 * (W2); with timeout_us, at most that long (a deletion waiting for its
 * actor to go idle, X3). */
static void writer_sleep(mn__persist *p, unsigned timeout_us)
{
	struct timespec ts = mn__deadline_us(timeout_us);
	pthread_mutex_lock(&p->mu);
	atomic_store_explicit(&p->q.wsleep, 1, memory_order_seq_cst);
	while (atomic_load_explicit(&p->q.wsleep, memory_order_relaxed) &&
	       !p->stop && !p->cp.creq && (timeout_us || !p->del.dreq_head) &&
	       queue_drained(p)) {
		if (!timeout_us)
			pthread_cond_wait(&p->cv, &p->mu);
		else if (pthread_cond_timedwait(&p->cv, &p->mu, &ts) != 0)
			break;
	}
	atomic_store_explicit(&p->q.wsleep, 0, memory_order_relaxed);
	pthread_mutex_unlock(&p->mu);
}

/* Group commit with a delay: hold the group open until max_records are
 * queued or delay_us has passed. */
static void writer_delay(mn__persist *p)
{
	struct timespec ts = mn__deadline_us(p->delay_us);
	pthread_mutex_lock(&p->mu);
	while (!p->stop &&
	       atomic_load_explicit(&p->q.qlen, memory_order_relaxed) <
		   p->max_records) {
		/* Woken by a producer (any record) or the timeout. */
		atomic_store_explicit(&p->q.wsleep, 1, memory_order_seq_cst);
		if (pthread_cond_timedwait(&p->cv, &p->mu, &ts) != 0)
			break;
	}
	atomic_store_explicit(&p->q.wsleep, 0, memory_order_relaxed);
	pthread_mutex_unlock(&p->mu);
}

static void *writer_main(void *arg)
{
	mn__persist *p = arg;
	pthread_setname_np(pthread_self(), "mn-writer");
	mn__tls_no_admit_wait = true; /* AC3 */

	for (;;) {
		pthread_mutex_lock(&p->mu);
		struct compact_req *cr = p->cp.creq;
		struct delete_req *dr = p->del.dreq_head;
		bool stop = p->stop;
		pthread_mutex_unlock(&p->mu);

		if (p->delay_us && !stop && !queue_drained(p) &&
		    atomic_load_explicit(&p->q.qlen, memory_order_relaxed) <
			p->max_records)
			writer_delay(p);
		wrec *list = NULL, *last = NULL;
		size_t n = queue_take(p, p->max_records, &list, &last);
		if (!n) {
			bool waiting = false;
			if (dr && !(waiting = mn__delete_step(p, dr)))
				continue;
			if (cr) {
				mn__compact_step(p, cr);
				continue;
			}
			if (!queue_drained(p)) {
				sched_yield(); /* a producer mid-push (MQ1) */
				continue;
			}
			if (stop && !dr)
				break;
			writer_sleep(p, waiting ? MN__DELETE_POLL_US : 0);
			continue;
		}

		uint64_t t0 = mn__mono_us();
		mn__commit_group(p, list, n);
		mn__hist_add(&p->st.commit_us, mn__hist_us_le,
			     mn__mono_us() - t0);
		mn__hist_add(&p->st.commit_records, mn__hist_n_le, n);
		if (!atomic_load_explicit(&p->error, memory_order_relaxed))
			mn__dict_train_ready(p);
		if (p->ck.ndirty >= p->ck.checkpoint_every)
			mn__ckpt_begin(p);
		if (dr)
			(void)mn__delete_step(p, dr);
		if (cr)
			mn__compact_step(p, cr);
	}
	mn__ckpt_all(p);
	return NULL;
}

/* ---- open and close --------------------------------------------------------
 */

static int count_due(void *arg, const mn__wtimer *t)
{
	(void)t;
	(*(uint64_t *)arg)++;
	return 0;
}

void mn__persist_recovery(mn_runtime *rt, mn_recovery *out)
{
	*out = rt->persist->recovery;
}

/* Free what persistence gave each worker: its codec, its compression
 * scratch buffer and its record ring (workers stopped). */
static void workers_free(mn_runtime *rt)
{
	for (unsigned i = 0; i < rt->nworkers; i++) {
		mn__worker *w = &rt->workers[i];
		mn__codec_free(w->codec);
		w->codec = NULL;
		mn__buf_free(&w->zbuf);
		if (w->wring)
			free(w->wring->buf);
		free(w->wring);
		w->wring = NULL;
	}
}

/* The gate's store lookup (gate.h, installed at open): whether the store
 * holds actor (k, key). Any thread, under the address's shard lock. */
static bool actor_stored(mn_runtime *rt, const mn_kind *k, const void *key,
			 size_t key_len)
{
	mn__actor_meta m;
	return mn__store_actor_find(rt->persist->store, k->store_id, key,
				    key_len, &m) == 0;
}

int mn__persist_open(mn_runtime *rt, const mn_runtime_opts *o)
{
	mn__store_opts so = {.relaxed = o->durability == MN_DURABILITY_RELAXED};
	mn__store_info info;
	mn__persist *p;
	int rc;

	if (o->durability != MN_DURABILITY_SYNC &&
	    o->durability != MN_DURABILITY_RELAXED)
		return MN_EINVAL;
	/* 64-byte aligned: the queue's fields have cache lines of their
	 * own. */
	p = aligned_alloc(64, (sizeof *p + 63) & ~(size_t)63);
	if (p)
		memset(p, 0, sizeof *p);
	if (!p)
		return MN_ENOMEM;
	p->rt = rt;
	p->max_records = o->commit_max_records ? o->commit_max_records
					       : MN__COMMIT_MAX_DEFAULT;
	p->delay_us = o->commit_delay_us;
	p->kinds_expected = o->kinds_expected;
	pthread_mutex_init(&p->rec_mu, NULL);
	atomic_init(&p->rec_ready, o->kinds_expected == 0);
	p->ingress_retention_ms = o->ingress_retention_ms
				      ? o->ingress_retention_ms
				      : (uint64_t)24 * 3600 * 1000;
	p->ck.checkpoint_every =
	    o->checkpoint_every ? o->checkpoint_every : MN__CHECKPOINT_EVERY;
	/* A checkpoint spreads over about 8 commit groups or more. */
	p->ck.ckpt_per_group = p->ck.checkpoint_every / 8;
	if (p->ck.ckpt_per_group > MN__CKPT_PER_GROUP)
		p->ck.ckpt_per_group = MN__CKPT_PER_GROUP;
	if (p->ck.ckpt_per_group < 1)
		p->ck.ckpt_per_group = 1;
	mn__mpsc_init(&p->q.q);
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	pthread_cond_init(&p->cp.compact_cv, NULL);
	pthread_cond_init(&p->del.delete_cv, NULL);
	pthread_mutex_init(&p->del.redeliver_mu, NULL);
	pthread_mutex_init(&p->tm.fired_mu, NULL);
	pthread_mutex_init(&p->rd.jobs_mu, NULL);
	mn__gate_init(&p->gate, rt, actor_stored);
	atomic_init(&p->tm.timer_seq, mn__unix_ms() * 7919);
	uint64_t t0 = mn__mono_us();
	if ((rc = mn__store_open(o->store_path, &so, &p->store, &info)))
		goto err_free;
	/* Deletions a crash interrupted (mn_actor_delete, mnemo rm) are
	 * finished before anything can reach those actors. */
	size_t ndeleted;
	if ((rc = mn__store_delete_pending(p->store, &ndeleted)))
		goto err_close;
	p->recovery = (mn_recovery){
	    .created = info.created,
	    .last_lsn = info.last_lsn,
	    .checkpoint_lsn = info.checkpoint_lsn,
	    .entries_scanned = info.entries_scanned,
	    .heads_repaired = info.heads_repaired,
	    .stale_readers = info.stale_readers,
	    .outbox = info.outbox_entries,
	    .quarantined = info.quarantined,
	    .timers = info.timers,
	    .next_actor_id = info.next_actor_id,
	    .open_us = mn__mono_us() - t0,
	};
	if (info.timers &&
	    (rc = mn__store_timers_due(p->store, mn__unix_ms(), SIZE_MAX,
				       count_due, &p->recovery.timers_due)))
		goto err_close;
	if ((rc = mn__codec_new(mn__store_dicts(p->store), &p->codec)) ||
	    (rc = mn__codec_new(mn__store_dicts(p->store), &p->rd.maint_codec)))
		goto err_close;
	p->rd.outbox_end = info.next_outbox_id;
	p->gate.stored_at_open = info.outbox_entries > 0;
	for (unsigned i = 0; i < rt->nworkers; i++) {
		struct mn__wring *g;
		if ((rc = mn__codec_new(mn__store_dicts(p->store),
					&rt->workers[i].codec)))
			goto err_close;
		if (!(g = aligned_alloc(64, sizeof *g)) ||
		    !(g->buf = aligned_alloc(64, MN__WRING_CAP))) {
			free(g);
			rc = MN_ENOMEM;
			goto err_close;
		}
		g->head = 0;
		atomic_init(&g->tail, 0);
		rt->workers[i].wring = g;
	}
	p->last_lsn = info.last_lsn;
	p->next_outbox_id = info.next_outbox_id;
	atomic_init(&p->next_actor_id, info.next_actor_id);
	if ((rc = mn__calls_open(p, o)))
		goto err_close;
	if (pthread_create(&p->thread, NULL, writer_main, p) != 0) {
		rc = MN_ESYS;
		goto err_close;
	}
	rt->persist = p;
	rt->gate = &p->gate;
	/* Timers stored by an earlier process fire on the I/O loop. */
	if (info.timers)
		mn__timers_arm(p, mn__store_timers_next(p->store));
	return 0;

err_close:
	mn__calls_close(p);
	workers_free(rt);
	mn__codec_free(p->codec);
	mn__codec_free(p->rd.maint_codec);
	mn__store_close(p->store);
err_free:
	pthread_cond_destroy(&p->cv);
	pthread_cond_destroy(&p->cp.compact_cv);
	pthread_cond_destroy(&p->del.delete_cv);
	pthread_mutex_destroy(&p->del.redeliver_mu);
	pthread_mutex_destroy(&p->mu);
	pthread_mutex_destroy(&p->rec_mu);
	pthread_mutex_destroy(&p->tm.fired_mu);
	pthread_mutex_destroy(&p->rd.jobs_mu);
	mn__gate_destroy(&p->gate);
	free(p);
	return rc;
}

void mn__persist_close(mn_runtime *rt)
{
	mn__persist *p = rt->persist;
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
	pthread_join(p->thread, NULL);
	mn__calls_close(p);
	workers_free(rt);
	mn__codec_free(p->codec);
	mn__codec_free(p->rd.maint_codec);
	mn__store_close(p->store);
	while (p->rd.jobs_head) {
		struct redeliver_job *j = p->rd.jobs_head;
		p->rd.jobs_head = j->next;
		free(j);
	}
	pthread_mutex_destroy(&p->rd.jobs_mu);
	/* Parked messages are dropped like queued ones (gate.c). */
	mn__gate_destroy(&p->gate);
	for (unsigned i = 0; i < MN_KINDS_MAX; i++) {
		mn__buf_free(&p->dt.kc[i].samples);
		free(p->dt.kc[i].sizes);
	}
	free(p->ck.dirty);
	free(p->ck.ckpt);
	free(p->wb.snaps);
	free(p->wb.timers);
	free(p->wb.tids);
	free(p->wb.tdels);
	free(p->wb.calls);
	free(p->wb.cdels);
	free(p->wb.cptr);
	free(p->wb.clen);
	free(p->wb.chash);
	free(p->wb.ing);
	mn__idset_free(&p->tm.fired);
	pthread_mutex_destroy(&p->tm.fired_mu);
	free(p->wb.ents);
	free(p->wb.obs);
	free(p->wb.quar);
	free(p->wb.dels);
	free(p->wb.acts);
	pthread_cond_destroy(&p->cv);
	pthread_cond_destroy(&p->cp.compact_cv);
	pthread_cond_destroy(&p->del.delete_cv);
	pthread_mutex_destroy(&p->del.redeliver_mu);
	pthread_mutex_destroy(&p->mu);
	pthread_mutex_destroy(&p->rec_mu);
	free(p);
	rt->persist = NULL;
	rt->gate = NULL;
}

/* ---- the handler hooks -----------------------------------------------------
 */

bool mn__persist_before_handle(mn__worker *w, mn__actor *a, const mn__msg *m)
{
	mn_ctx *ctx = &w->ctx;
	if ((m->flags & MN_MSG_CALL) && !mn__calls_take_reply(w, a, m))
		return false;
	ctx->seq = ++mn__ap(a)->seq;
	ctx->hold_sends = true;
	ctx->now_ms = mn__unix_ms();
	ctx->rng_seeded = false;
	ctx->ncalls = 0;
	ctx->pending.len = 0;
	ctx->npending = 0;
	ctx->npending_msgs = 0;
	return true;
}

int mn__persist_after_handle(mn__worker *w, mn__actor *a, const mn__msg *m,
			     int handle_rc)
{
	mn_ctx *ctx = &w->ctx;
	mn_kind *k = w->rt->kinds[a->kind_idx];
	(void)handle_rc;
	ctx->hold_sends = false;

	/* Compress here, in parallel on the workers, not on the single
	 * writer thread (measured: zstd took half the writer's time), into
	 * the worker's scratch buffer, so the record is allocated at the
	 * stored size (a quarter of the bound on agent traffic): smaller
	 * blocks for the writer to free and less memory to touch. */
	uint32_t dict = atomic_load_explicit(&k->dict_id, memory_order_acquire);
	bool compress = m->len && (dict || m->len >= MN__PLAIN_MIN);
	const unsigned char *stored = m->data;
	size_t stored_len = m->len, zcap = mn__codec_bound(m->len);
	uint8_t method = MN__CODEC_RAW;
	if (compress && w->zbuf.cap < zcap)
		compress = mn__buf_reserve(&w->zbuf, zcap) == 0;
	if (compress) {
		size_t clen;
		uint8_t how;
		if (mn__codec_compress(w->codec, dict, m->data, m->len,
				       w->zbuf.data, zcap, &clen, &how) == 0 &&
		    how != MN__CODEC_RAW) {
			method = how;
			stored = w->zbuf.data;
			stored_len = clen;
		}
	}
	bool keep_raw =
	    method != MN__CODEC_RAW && !dict &&
	    atomic_load_explicit(&k->sampling, memory_order_relaxed);
	size_t raw_extra = keep_raw ? m->len : 0;

	/* Snapshot policy: every snapshot_every messages or snapshot_bytes
	 * of payload since the last one. */
	mn_buf snap;
	bool want_snap = false;
	mn__buf_init(&snap);
	mn__ap(a)->snap_msgs = mn__ap(a)->snap_msgs < UINT16_MAX
				   ? mn__ap(a)->snap_msgs + 1
				   : UINT16_MAX;
	mn__ap(a)->snap_bytes += m->len < UINT32_MAX - mn__ap(a)->snap_bytes
				     ? (uint32_t)m->len
				     : UINT32_MAX - mn__ap(a)->snap_bytes;
	if (k->def.snapshot &&
	    (mn__ap(a)->snap_msgs >=
		 (k->def.snapshot_every ? k->def.snapshot_every : 1000) ||
	     mn__ap(a)->snap_bytes >= (k->def.snapshot_bytes
					   ? k->def.snapshot_bytes
					   : (1u << 20)))) {
		want_snap = k->def.snapshot(a->state, &snap) >= 0;
		if (want_snap) {
			mn__ap(a)->snap_msgs = 0;
			mn__ap(a)->snap_bytes = 0;
		}
	}
	size_t snap_extra = want_snap ? snap.len : 0;
	wrec *r = mn__wrec_alloc(w, sizeof *r + stored_len + raw_extra +
					ctx->pending.len + snap_extra);
	if (!r) {
		if (w->zbuf.cap > MN__ZBUF_KEEP)
			mn__buf_free(&w->zbuf);
		/* The held sends were counted as sent: count them (and
		 * the message) done, they are lost with the record. */
		mn__count(&w->n_done, 1 + ctx->npending_msgs);
		mn__buf_free(&snap);
		return MN_ENOMEM;
	}
	r->raw_len = m->len;
	r->method = method;
	r->len = stored_len;
	r->dict_id = method == MN__CODEC_ZSTD_DICT ? dict : 0;
	if (stored_len)
		memcpy(r->data, stored, stored_len);
	/* Only now, with the compressed bytes copied out of it: `stored`
	 * may point into zbuf. */
	if (w->zbuf.cap > MN__ZBUF_KEEP)
		mn__buf_free(&w->zbuf); /* a rare large payload */
	if (keep_raw)
		memcpy(r->data + r->len, m->data, m->len);
	r->has_raw = keep_raw;
	r->sends_off = r->len + (keep_raw ? m->len : 0);
	r->rk = REC_ENTRY;
	r->actor = a;
	r->is_new = (a->flags & MN__ACTOR_NEW) != 0;
	a->flags &= (uint8_t)~MN__ACTOR_NEW;
	r->seq = mn__ap(a)->seq;
	/* An ask's sender_id is its ask id: the journal says "outside". */
	r->sender_id = (m->flags & MN_MSG_ASK) ? 0 : m->sender_id;
	r->outbox_id = m->outbox_id;
	r->unix_ms = ctx->now_ms; /* what mn_ctx_time said */
	r->type = m->type;
	r->flags = m->flags & MN__MSG_PUBLIC_MASK;
	if (k->def.hash) {
		uint64_t h = k->def.hash(a->state);
		r->state_hash = h ? h : 1;
	}
	r->version = k->def.version;
	r->nsends = ctx->npending;
	r->nmsgs = ctx->npending_msgs;
	r->sends_len = ctx->pending.len;
	if (ctx->pending.len)
		memcpy(r->data + r->sends_off, ctx->pending.data,
		       ctx->pending.len);
	if (want_snap) {
		r->has_snap = true;
		r->snap_off = r->sends_off + r->sends_len;
		r->snap_len = snap.len;
		if (snap.len)
			memcpy(r->data + r->snap_off, snap.data, snap.len);
		r->snap_hash = mn__snap_hash(snap.data, snap.len);
	}
	mn__buf_free(&snap);
	/* E1: in flight until the writer is done with the record. */
	atomic_fetch_add_explicit(&mn__ap(a)->inflight, 1,
				  memory_order_relaxed);
	mn__persist_enqueue(w->rt->persist, r);
	return 0;
}

int mn__persist_spawned(mn__worker *w, mn__actor *a)
{
	wrec *r = calloc(1, sizeof *r);
	if (!r) {
		mn__count(&w->n_done, 1);
		return MN_ENOMEM;
	}
	r->rk = REC_SPAWN;
	r->actor = a;
	r->is_new = (a->flags & MN__ACTOR_NEW) != 0;
	a->flags &= (uint8_t)~MN__ACTOR_NEW;
	r->unix_ms = mn__unix_ms();
	atomic_fetch_add_explicit(&mn__ap(a)->inflight, 1,
				  memory_order_relaxed);
	mn__persist_enqueue(w->rt->persist, r);
	return 0;
}

int mn__persist_outbox_done(mn__worker *w, uint64_t outbox_id)
{
	wrec *r = calloc(1, sizeof *r);
	if (!r) {
		mn__count(&w->n_done, 1);
		return MN_ENOMEM;
	}
	r->rk = REC_OUTBOX_DEL;
	r->outbox_id = outbox_id;
	mn__persist_enqueue(w->rt->persist, r);
	return 0;
}

/* ---- counters --------------------------------------------------------------
 */

uint64_t mn__persist_evicting(mn_runtime *rt)
{
	return rt->persist ? atomic_load_explicit(&rt->persist->st.evicting,
						  memory_order_relaxed)
			   : 0;
}

int mn__persist_error(mn_runtime *rt)
{
	return rt->persist ? mn__persist_sticky_error(rt->persist) : 0;
}

void mn__persist_stats(mn_runtime *rt, mn_runtime_stats *st)
{
	mn__persist *p = rt->persist;
	if (!p)
		return;
	st->commits =
	    atomic_load_explicit(&p->st.commits, memory_order_relaxed);
	st->journaled =
	    atomic_load_explicit(&p->st.journaled, memory_order_relaxed);
	st->outbox_delivered = atomic_load_explicit(&p->st.delivered_at_open,
						    memory_order_relaxed);
	st->store_bytes = mn__store_disk_bytes(p->store);
	st->store_error = atomic_load_explicit(&p->error, memory_order_relaxed);
	st->evictions =
	    atomic_load_explicit(&p->st.evictions, memory_order_relaxed);
	st->rehydrations =
	    atomic_load_explicit(&p->st.rehydrations, memory_order_relaxed);
	st->snapshots =
	    atomic_load_explicit(&p->st.snapshots, memory_order_relaxed);
	st->replayed =
	    atomic_load_explicit(&p->st.replayed, memory_order_relaxed);
	st->broken = atomic_load_explicit(&p->st.broken, memory_order_relaxed);
	st->timers_fired =
	    atomic_load_explicit(&p->st.timers_fired, memory_order_relaxed);
}

int mn_runtime_histogram(mn_runtime *rt, int which, mn_histogram *out)
{
	if (!rt || !out)
		return MN_EINVAL;
	if (which < MN_HIST_REHYDRATE_US || which > MN_HIST_COMMIT_RECORDS)
		return MN_EINVAL;
	mn__persist *p = rt->persist;
	if (!p)
		return MN_ENOTSUP;
	mn__hist *h = which == MN_HIST_REHYDRATE_US ? &p->st.rehydrate_us
		      : which == MN_HIST_COMMIT_US  ? &p->st.commit_us
						    : &p->st.commit_records;
	mn__hist_read(
	    h, which == MN_HIST_COMMIT_RECORDS ? mn__hist_n_le : mn__hist_us_le,
	    out);
	return 0;
}

void mn_runtime_upgrade_stats(mn_runtime *rt, mn_upgrade_stats *out)
{
	if (!out)
		return;
	*out = (mn_upgrade_stats){0};
	mn__persist *p = rt ? rt->persist : NULL;
	if (!p)
		return;
#define MN__LOAD(f) atomic_load_explicit(&p->st.f, memory_order_relaxed)
	out->upgraded = MN__LOAD(upgraded);
	out->restored_older = MN__LOAD(restored_older);
	out->refused_newer = MN__LOAD(refused_newer);
	out->replayed_older = MN__LOAD(replayed_older);
	out->hash_mismatches = MN__LOAD(hash_mismatches);
	out->code_swaps = MN__LOAD(code_swaps);
	out->swap_evictions = MN__LOAD(swap_evictions);
#undef MN__LOAD
}
