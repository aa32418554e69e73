/*
 * commit.c - commit groups (P2-P5): the writer turns the records it took
 * from the queue into one store batch (journal entries, outbox entries and
 * removals, heads, snapshots, timers, a share of the checkpoint), writes it
 * in one transaction, and only then makes its effects visible: held sends
 * pushed to their recipients (output commit, P3), evictions finished (E4),
 * durable sends' callbacks run, messages counted done (P5). Writer thread
 * only.
 */
#include "core/persist_int.h"

static void count_done(mn__persist *p, uint64_t n)
{
	/* One writer thread: store(load + n), release (drain's D2). */
	atomic_store_explicit(
		&p->done, atomic_load_explicit(&p->done, memory_order_relaxed) + n,
		memory_order_release);
}

/* Is held send h (target key) of actor a one to hold in the quarantine:
 * a fork's send to any actor but itself? */
static bool quarantined(const mn__actor *a, const held_send *h,
			const unsigned char *key)
{
	return (mn__ap(a)->pflags & MN__AP_QUARANTINED) &&
	       !(h->kind_idx == a->kind_idx && h->key_len == a->key_len &&
		 memcmp(key, a->key, a->key_len) == 0);
}

/* Deliver the held sends of an ENTRY record (P3); ids[] are their outbox
 * ids. */
static void deliver_held(mn__persist *p, wrec *r, const uint64_t *ids)
{
	mn_runtime *rt = p->rt;
	const unsigned char *q = r->data + r->sends_off;
	size_t k = 0;
	for (uint32_t i = 0; i < r->nsends; i++) {
		held_send h;
		memcpy(&h, q, sizeof h);
		const unsigned char *key = q + sizeof h;
		if (h.tag != HELD_SEND) {
			q += held_size(h.key_len, (size_t)h.len);
			continue;
		}
		if (quarantined(r->actor, &h, key)) {
			/* Held in the quarantine, not delivered: done. */
			k++;
			count_done(p, 1);
			q += held_size(h.key_len, (size_t)h.len);
			continue;
		}
		mn__sendx x = {.outbox_id = ids[k++], .counted = true};
		int rc = mn__send(rt, NULL, r->actor, rt->kinds[h.kind_idx], key,
				  h.key_len, h.type, key + h.key_len,
				  (size_t)h.len, &x);
		if (rc == MN__EDELETING) {
			/* Its deletion's first transaction removed it from
			 * the outbox (X3). */
			count_done(p, 1);
			mn__event(&rt->ev, MN_EVENT_DROPPED, MN_ENOACTOR,
				  rt->kinds[h.kind_idx], key, h.key_len, 0,
				  "message type %u dropped: the actor is being "
				  "deleted",
				  (unsigned)h.type);
		} else if (rc) {
			/* Counted as sent by the worker: count it done so
			 * drain does not wait forever. The outbox keeps it
			 * for the next open. */
			count_done(p, 1);
			mn__event(&rt->ev, MN_EVENT_UNDELIVERED, rc,
				  rt->kinds[h.kind_idx], key, h.key_len, 0,
				  "stored message %llu (type %u) not delivered "
				  "(%s); it stays stored for the next open",
				  (unsigned long long)x.outbox_id,
				  (unsigned)h.type, mn_err_name(rc));
		}
		q += held_size(h.key_len, (size_t)h.len);
	}
}

/* Write one commit group and make its effects visible (P2, P3, P5). */
void mn__commit_group(mn__persist *p, wrec *list, size_t count)
{
	mn__wbatch b = {0};
	size_t ne = 0, no = 0, nd = 0, na = 0, nsends = 0;
	uint64_t *ids = NULL;
	int rc = atomic_load_explicit(&p->error, memory_order_relaxed);
	uint64_t first_lsn = p->last_lsn;

	size_t nsn = 0, nt = 0, ntd = 0, nq = 0;
	for (wrec *r = list; r; r = r->next)
		nsends += r->rk == REC_ENTRY ? r->nsends : 0;
	if (!rc &&
	    ((rc = grow(&p->ents, &p->cap_ents, count, sizeof *p->ents)) ||
	     (rc = grow(&p->obs, &p->cap_obs, nsends + count, sizeof *p->obs)) ||
	     (rc = grow(&p->quar, &p->cap_quar, nsends + 1, sizeof *p->quar)) ||
	     (rc = grow(&p->dels, &p->cap_dels, count, sizeof *p->dels)) ||
	     (rc = grow(&p->snaps, &p->cap_snaps, count, sizeof *p->snaps)) ||
	     (rc = grow(&p->timers, &p->cap_timers, nsends + 1,
			sizeof *p->timers)) ||
	     (rc = grow(&p->tids, &p->cap_tids, nsends + 1,
			sizeof *p->tids)) ||
	     (rc = grow(&p->tdels, &p->cap_tdels, nsends + count,
			sizeof *p->tdels)) ||
	     (rc = grow(&p->acts, &p->cap_acts, count + MN__CKPT_PER_GROUP,
			sizeof *p->acts)) ||
	     !(ids = malloc((nsends + count + 1) * sizeof *ids))))
		rc = rc ? rc : MN_ENOMEM;

	size_t nid = 0, ntid = 0;
	for (wrec *r = list; !rc && r; r = r->next) {
		mn__actor *a = r->actor;
		switch (r->rk) {
		case REC_ENTRY: {
			uint64_t lsn = ++p->last_lsn;
			mn__wentry *e = &p->ents[ne];
			*e = (mn__wentry){
				.lsn = lsn,
				.actor_id = mn__ap(a)->id,
				.seq = r->seq,
				.prev_lsn = mn__ap(a)->last_lsn,
				.sender_id = r->sender_id,
				.unix_ms = r->unix_ms,
				.outbox_id = r->outbox_id,
				.type = r->type,
				.flags = r->flags,
				.method = r->method,
				.dict_id = r->dict_id,
				.raw_len = r->raw_len,
				.payload = r->data,
				.len = r->len,
				.state_hash = r->state_hash,
			};
			if (r->method == MN__CODEC_RAW)
				mn__dict_sample(p, p->rt->kinds[a->kind_idx], r->data,
				       r->len);
			else if (r->has_raw)
				mn__dict_sample(p, p->rt->kinds[a->kind_idx],
				       r->data + r->len, (size_t)r->raw_len);
			ne++;
			if (r->is_new)
				p->acts[na++] = (mn__wactor){
					.id = mn__ap(a)->id,
					.kind_id = p->rt->kinds[a->kind_idx]
							   ->store_id,
					.key = a->key,
					.key_len = a->key_len,
					.last_seq = r->seq,
					.last_lsn = lsn,
					.first_lsn = lsn,
					.created_unix_ms = r->unix_ms,
					.last_active_unix_ms = r->unix_ms,
					.is_new = true,
				};
			mn__ap(a)->last_lsn = lsn;
			if ((rc = mn__ckpt_dirty_add(p, mn__ap(a)->id, lsn, r->seq)))
				break;
			if (r->has_snap) {
				p->snaps[nsn++] = (mn__wsnap){
					.actor_id = mn__ap(a)->id,
					.seq = r->seq,
					.lsn = lsn,
					.dict_id = r->dict_id,
					.state = r->data + r->snap_off,
					.len = r->snap_len,
					.state_hash = r->snap_hash,
				};
			}
			if (r->flags & MN_MSG_TIMER)
				p->tdels[ntd++] = (mn__wtimer){
					.id = r->outbox_id,
					.due_unix_ms = r->outbox_id >> 16};
			else if (r->outbox_id)
				p->dels[nd++] = r->outbox_id;
			const unsigned char *q = r->data + r->sends_off;
			for (uint32_t i = 0; i < r->nsends; i++) {
				held_send h;
				memcpy(&h, q, sizeof h);
				if (h.tag != HELD_SEND) {
					uint64_t tid;
					memcpy(&tid, q + sizeof h, 8);
					if (h.tag == HELD_TIMER) {
						if (!e->n_timer_ids)
							e->timer_ids = &p->tids[ntid];
						p->tids[ntid++] = tid;
						e->n_timer_ids++;
						p->timers[nt++] = (mn__wtimer){
							.id = tid,
							.actor_id = mn__ap(a)->id,
							.due_unix_ms = tid >> 16,
							.type = h.type,
							.payload = q + sizeof h + 8,
							.len = (size_t)h.len - 8,
						};
					} else
						p->tdels[ntd++] = (mn__wtimer){
							.id = tid,
							.due_unix_ms = tid >> 16};
					q += held_size(h.key_len, (size_t)h.len);
					continue;
				}
				uint64_t id = p->next_outbox_id++;
				ids[nid++] = id;
				mn__woutbox *ob =
					quarantined(a, &h, q + sizeof h)
						? &p->quar[nq++]
						: &p->obs[no++];
				*ob = (mn__woutbox){
					.id = id,
					.kind_id = p->rt->kinds[h.kind_idx]
							   ->store_id,
					.key = q + sizeof h,
					.key_len = h.key_len,
					.type = h.type,
					.sender_id = mn__ap(a)->id,
					.unix_ms = r->unix_ms,
					.payload = q + sizeof h + h.key_len,
					.len = (size_t)h.len,
				};
				mn__dict_codec_choice(p->rt->kinds[h.kind_idx], ob->len,
					     &ob->compress, &ob->dict_id);
				q += held_size(h.key_len, (size_t)h.len);
			}
			break;
		}
		case REC_SPAWN:
			if (r->is_new)
				p->acts[na++] = (mn__wactor){
					.id = mn__ap(a)->id,
					.kind_id = p->rt->kinds[a->kind_idx]
							   ->store_id,
					.key = a->key,
					.key_len = a->key_len,
					.created_unix_ms = r->unix_ms,
					.last_active_unix_ms = r->unix_ms,
					.is_new = true,
				};
			break;
		case REC_DURABLE: {
			uint64_t id = p->next_outbox_id++;
			ids[nid++] = id;
			mn__woutbox *ob = &p->obs[no++];
			*ob = (mn__woutbox){
				.id = id,
				.kind_id = r->target->store_id,
				.key = r->data + r->len,
				.key_len = r->key_len,
				.type = r->type,
				.flags = MN_MSG_EXTERNAL,
				.unix_ms = r->unix_ms,
				.payload = r->data,
				.len = r->len,
			};
			mn__dict_codec_choice(r->target, r->len, &ob->compress,
				     &ob->dict_id);
			break;
		}
		case REC_OUTBOX_DEL:
			p->dels[nd++] = r->outbox_id;
			break;
		case REC_EVICT:
			/* The head becomes exact in the store before the
			 * record leaves memory (rehydration reads it). */
			p->acts[na++] = (mn__wactor){
				.id = mn__ap(a)->id,
				.last_seq = r->seq,
				.last_lsn = mn__ap(a)->last_lsn,
				.last_active_unix_ms = r->unix_ms,
			};
			if (r->has_snap)
				p->snaps[nsn++] = (mn__wsnap){
					.actor_id = mn__ap(a)->id,
					.seq = r->seq,
					.lsn = mn__ap(a)->last_lsn,
					.dict_id = atomic_load_explicit(
						&p->rt->kinds[a->kind_idx]
							 ->dict_id,
						memory_order_acquire),
					.state = r->data + r->snap_off,
					.len = r->snap_len,
					.state_hash = r->snap_hash,
				};
			break;
		}
	}
	size_t ckpt_taken = 0;
	bool ckpt_last = false;
	if (!rc && p->ckpt_active) {
		/* At least as many heads as the group has records, so a
		 * checkpoint always ends before the next is due. */
		size_t quota = p->ckpt_per_group > count ? p->ckpt_per_group
							 : count;
		if ((rc = grow(&p->acts, &p->cap_acts, na + quota,
			       sizeof *p->acts)))
			goto out_ckpt;
		ckpt_last = mn__ckpt_take(p, quota, &na, &ckpt_taken);
		if (ckpt_last) {
			b.checkpoint_lsn = p->ckpt_lsn;
			b.next_actor_id = atomic_load_explicit(
				&p->next_actor_id, memory_order_relaxed);
		}
	}
out_ckpt:
	if (!rc) {
		b.entries = p->ents;
		b.n_entries = ne;
		b.outbox = p->obs;
		b.n_outbox = no;
		b.outbox_del = p->dels;
		b.n_outbox_del = nd;
		b.actors = p->acts;
		b.n_actors = na;
		b.snaps = p->snaps;
		b.n_snaps = nsn;
		b.timers = p->timers;
		b.n_timers = nt;
		b.timer_del = p->tdels;
		b.n_timer_del = ntd;
		b.quarantine = p->quar;
		b.n_quarantine = nq;
		rc = mn__store_write(p->store, p->codec, &b);
		if (rc) {
			mn__persist_set_error(p, rc);
			p->last_lsn = first_lsn;
		}
	}
	if (!rc) {
		p->ckpt_pos += ckpt_taken;
		if (ckpt_last)
			p->ckpt_active = false;
		atomic_fetch_add_explicit(&p->commits, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&p->journaled, ne,
					  memory_order_relaxed);
		atomic_fetch_add_explicit(&p->snapshots, nsn,
					  memory_order_relaxed);
		for (size_t i = 0; i < ntd; i++)
			mn__timers_fired_remove(p, p->tdels[i].id);
	}

	/* After the commit (or its failure): effects, completions, done. */
	nid = 0;
	uint64_t ndone = 0;
	for (wrec *r = list, *next; r; r = next) {
		next = r->next;
		switch (r->rk) {
		case REC_ENTRY:
			if (!rc)
				deliver_held(p, r, ids + nid);
			else
				ndone += r->nmsgs; /* never delivered */
			nid += r->nmsgs;
			ndone++;
			/* release: the evictor's acquire load sees every
			 * use of the record by this thread as done. */
			atomic_fetch_sub_explicit(&mn__ap(r->actor)->inflight, 1,
						  memory_order_release);
			break;
		case REC_SPAWN:
			ndone++;
			atomic_fetch_sub_explicit(&mn__ap(r->actor)->inflight, 1,
						  memory_order_release);
			break;
		case REC_OUTBOX_DEL:
			ndone++;
			break;
		case REC_EVICT:
			mn__evict_finish(p, r, rc);
			break;
		case REC_DURABLE:
			if (!rc) {
				mn__sendx x = {.outbox_id = ids[nid],
					       .counted = true,
					       .mflags = MN_MSG_EXTERNAL};
				int src = mn__send(p->rt, NULL, NULL, r->target,
						   r->data + r->len, r->key_len,
						   r->type, r->data, r->len, &x);
				if (src == MN__EDELETING) {
					ndone++;
					mn__event(&p->rt->ev, MN_EVENT_DROPPED,
						  MN_ENOACTOR, r->target,
						  r->data + r->len, r->key_len,
						  0,
						  "durable message type %u "
						  "dropped: the actor is being "
						  "deleted",
						  (unsigned)r->type);
				} else if (src) {
					ndone++;
					mn__event(&p->rt->ev,
						  MN_EVENT_UNDELIVERED, src,
						  r->target, r->data + r->len,
						  r->key_len, 0,
						  "durable message %llu (type "
						  "%u) not delivered (%s); it "
						  "stays stored for the next "
						  "open",
						  (unsigned long long)x.outbox_id,
						  (unsigned)r->type,
						  mn_err_name(src));
				}
			} else {
				ndone++; /* counted as sent, never delivered */
			}
			nid++;
			if (r->done)
				r->done(r->done_arg, rc);
			break;
		}
		mn__wrec_release(r);
	}
	count_done(p, ndone);
	free(ids);
}
