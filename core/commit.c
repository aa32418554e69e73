/*
 * commit.c - commit groups (P2-P5): the writer turns the records it took
 * from the queue into one store batch (journal entries, outbox entries and
 * removals, heads, snapshots, timers, a share of the checkpoint), writes it
 * in one transaction, and only then makes its effects visible: held sends
 * pushed to their recipients (output commit, P3), evictions finished (E4),
 * durable sends' callbacks run, messages counted done (P5). Writer thread
 * only.
 */
#include "core/ask.h"
#include "core/observe.h"
#include "core/persist_int.h"

/* DR2: the gate holds the writer's done counter (gate.h). */
static void count_done(mn__persist *p, uint64_t n)
{
	mn__gate_writer_done(&p->gate, n);
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

/* An output of ENTRY record r, committed, to its actor's observers
 * (observe.c): a send (to: the recipient's key) or an answer. */
static void observe_out(mn_runtime *rt, const wrec *r, int type,
			const held_send *h, const unsigned char *to_key,
			const void *data, size_t len)
{
	const mn__actor *a = r->actor;
	mn_observed ev = {.type = type,
			  .seq = r->seq,
			  .msg_type = h->type,
			  .data = data,
			  .len = len};
	if (to_key)
		ev.to = (mn_addr){.kind = rt->kinds[h->kind_idx]->name,
				  .key = to_key,
				  .key_len = h->key_len};
	mn__observe_emit(rt->observers, a->kind_idx, a->key, a->key_len, &ev);
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
			uint64_t cid;
			memcpy(&cid, key, 8);
			if (h.tag == HELD_CALL)
				mn__calls_issue(p, r->actor, cid, key + 16,
						(size_t)h.len - 16);
			else if (h.tag == HELD_ASK_REPLY) {
				mn__ask_complete(rt->asks, cid, 0, h.type,
						 key + 8, (size_t)h.len - 8);
				if (mn__observed(rt->observers))
					observe_out(rt, r, MN_OBS_ANSWER, &h,
						    NULL, key + 8,
						    (size_t)h.len - 8);
			} else if (h.tag == HELD_CALL_CANCEL)
				mn__calls_cancelled(p, mn__ap(r->actor)->id,
						    cid);
			q += held_size(h.key_len, (size_t)h.len);
			continue;
		}
		if (mn__observed(rt->observers))
			observe_out(rt, r, MN_OBS_SENT, &h, key,
				    key + h.key_len, (size_t)h.len);
		if (quarantined(r->actor, &h, key)) {
			/* Held in the quarantine, not delivered: done. */
			k++;
			count_done(p, 1);
			q += held_size(h.key_len, (size_t)h.len);
			continue;
		}
		mn__sendx x = {.outbox_id = ids[k++], .counted = true};
		int rc = mn__send(rt, NULL, r->actor, rt->kinds[h.kind_idx],
				  key, h.key_len, h.type, key + h.key_len,
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

/*
 * A commit group, as mn__commit_group builds it: counts into the writer's
 * arrays (p->wb.ents, p->wb.obs, ...), the outbox ids assigned to held and
 * durable sends in record order, and the checkpoint share it carries.
 */
typedef struct group {
	wrec *list;
	size_t count;  /* records in list */
	size_t nsends; /* held items of its ENTRY records */
	mn__wbatch b;
	size_t ne, no, nd, na, nsn, nt, ntd, nq;
	size_t nid, ntid;    /* ids[] and p->wb.tids[] used */
	size_t nc, ncd, ncp; /* calls, cdels, cptr/clen/chash used */
	size_t ning;	     /* client keys (p->wb.ing) used */
	uint64_t *ids;	     /* outbox ids, in record order */
	uint64_t first_lsn;
	size_t ckpt_taken;
	bool ckpt_last;
	int rc; /* the sticky error, a failed allocation or the write's */
} group;

/* Phase 1: room in every array for the group's worst case. */
static void group_reserve(mn__persist *p, group *g)
{
	size_t count = g->count, nsends = 0;
	int rc = g->rc;
	for (wrec *r = g->list; r; r = r->next)
		nsends += r->rk == REC_ENTRY ? r->nsends : 0;
	g->nsends = nsends;
	if (!rc &&
	    ((rc = grow(&p->wb.ents, &p->wb.cap_ents, count,
			sizeof *p->wb.ents)) ||
	     (rc = grow(&p->wb.obs, &p->wb.cap_obs, nsends + count,
			sizeof *p->wb.obs)) ||
	     (rc = grow(&p->wb.quar, &p->wb.cap_quar, nsends + 1,
			sizeof *p->wb.quar)) ||
	     (rc = grow(&p->wb.dels, &p->wb.cap_dels, count,
			sizeof *p->wb.dels)) ||
	     (rc = grow(&p->wb.snaps, &p->wb.cap_snaps, count,
			sizeof *p->wb.snaps)) ||
	     (rc = grow(&p->wb.timers, &p->wb.cap_timers, nsends + 1,
			sizeof *p->wb.timers)) ||
	     (rc = grow(&p->wb.tids, &p->wb.cap_tids, nsends + 1,
			sizeof *p->wb.tids)) ||
	     (rc = grow(&p->wb.tdels, &p->wb.cap_tdels, nsends + count,
			sizeof *p->wb.tdels)) ||
	     (rc = grow(&p->wb.calls, &p->wb.cap_calls, nsends + 1,
			sizeof *p->wb.calls)) ||
	     (rc = grow(&p->wb.cdels, &p->wb.cap_cdels, nsends + count,
			sizeof *p->wb.cdels)) ||
	     (rc = grow(&p->wb.cptr, &p->wb.cap_cptr, nsends + 1,
			sizeof *p->wb.cptr)) ||
	     (rc = grow(&p->wb.clen, &p->wb.cap_clen, nsends + 1,
			sizeof *p->wb.clen)) ||
	     (rc = grow(&p->wb.chash, &p->wb.cap_chash, nsends + 1,
			sizeof *p->wb.chash)) ||
	     (rc =
		  grow(&p->wb.ing, &p->wb.cap_ing, count, sizeof *p->wb.ing)) ||
	     (rc = grow(&p->wb.acts, &p->wb.cap_acts,
			count + MN__CKPT_PER_GROUP, sizeof *p->wb.acts)) ||
	     !(g->ids = malloc((nsends + count + 1) * sizeof *g->ids))))
		rc = rc ? rc : MN_ENOMEM;
	g->rc = rc;
}

/* A held call item of ENTRY record r (entry e; body: after its header):
 * a call goes into the entry's calls and (unless the message itself
 * cancelled it) into the calls database; a cancel removes one. */
static void build_call(mn__persist *p, group *g, const wrec *r, mn__wentry *e,
		       const held_send *h, const unsigned char *body)
{
	uint64_t cid, hash;
	memcpy(&cid, body, 8);
	if (h->tag == HELD_CALL_CANCEL) {
		p->wb.cdels[g->ncd++] = (mn__wcall){
		    .actor_id = mn__ap(r->actor)->id, .call_id = cid};
		return;
	}
	memcpy(&hash, body + 8, 8);
	if (!e->n_calls) {
		e->calls = &p->wb.cptr[g->ncp];
		e->call_lens = &p->wb.clen[g->ncp];
		e->call_hashes = &p->wb.chash[g->ncp];
	}
	p->wb.cptr[g->ncp] = body + 16;
	p->wb.clen[g->ncp] = (size_t)h->len - 16;
	p->wb.chash[g->ncp] = hash;
	g->ncp++;
	e->n_calls++;
	if (h->tag == HELD_CALL)
		p->wb.calls[g->nc++] =
		    (mn__wcall){.actor_id = mn__ap(r->actor)->id,
				.call_id = cid,
				.intent = body + 16,
				.len = (size_t)h->len - 16};
}

/* The held items of ENTRY record r (journal entry e) into the batch:
 * timers and cancels, then sends as outbox entries (or the quarantine's). */
static void build_held(mn__persist *p, group *g, wrec *r, mn__wentry *e)
{
	mn__actor *a = r->actor;
	const unsigned char *q = r->data + r->sends_off;
	for (uint32_t i = 0; i < r->nsends; i++) {
		held_send h;
		memcpy(&h, q, sizeof h);
		if (h.tag == HELD_ASK_REPLY) { /* never stored */
			q += held_size(h.key_len, (size_t)h.len);
			continue;
		}
		if (h.tag == HELD_CALL || h.tag == HELD_CALL_DEAD ||
		    h.tag == HELD_CALL_CANCEL) {
			build_call(p, g, r, e, &h, q + sizeof h);
			q += held_size(h.key_len, (size_t)h.len);
			continue;
		}
		if (h.tag != HELD_SEND) {
			uint64_t tid;
			memcpy(&tid, q + sizeof h, 8);
			if (h.tag == HELD_TIMER) {
				if (!e->n_timer_ids)
					e->timer_ids = &p->wb.tids[g->ntid];
				p->wb.tids[g->ntid++] = tid;
				e->n_timer_ids++;
				p->wb.timers[g->nt++] = (mn__wtimer){
				    .id = tid,
				    .actor_id = mn__ap(a)->id,
				    .due_unix_ms = tid >> 16,
				    .type = h.type,
				    .payload = q + sizeof h + 8,
				    .len = (size_t)h.len - 8,
				};
			} else
				p->wb.tdels[g->ntd++] = (mn__wtimer){
				    .id = tid, .due_unix_ms = tid >> 16};
			q += held_size(h.key_len, (size_t)h.len);
			continue;
		}
		uint64_t id = p->next_outbox_id++;
		g->ids[g->nid++] = id;
		mn__woutbox *ob = quarantined(a, &h, q + sizeof h)
				      ? &p->wb.quar[g->nq++]
				      : &p->wb.obs[g->no++];
		*ob = (mn__woutbox){
		    .id = id,
		    .kind_id = p->rt->kinds[h.kind_idx]->store_id,
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
}

/* An ENTRY record: its journal entry (the next LSN), a new actor's name,
 * its dirty head, its snapshot, the removal of the stored message or timer
 * it handled, its held items. 0 or MN_ENOMEM. */
static int build_entry(mn__persist *p, group *g, wrec *r)
{
	mn__actor *a = r->actor;
	const mn_kind *k = p->rt->kinds[a->kind_idx];
	uint64_t lsn = ++p->last_lsn;
	mn__wentry *e = &p->wb.ents[g->ne];
	int rc;
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
	    .kind_version = r->version,
	};
	if (r->method == MN__CODEC_RAW)
		mn__dict_sample(p, k, r->data, r->len);
	else if (r->has_raw)
		mn__dict_sample(p, k, r->data + r->len, (size_t)r->raw_len);
	g->ne++;
	if (r->is_new)
		p->wb.acts[g->na++] = (mn__wactor){
		    .id = mn__ap(a)->id,
		    .kind_id = k->store_id,
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
		return rc;
	if (r->has_snap)
		p->wb.snaps[g->nsn++] = (mn__wsnap){
		    .actor_id = mn__ap(a)->id,
		    .seq = r->seq,
		    .lsn = lsn,
		    .dict_id = r->dict_id,
		    .state = r->data + r->snap_off,
		    .len = r->snap_len,
		    .state_hash = r->snap_hash,
		    .kind_version = r->version,
		};
	if (r->flags & MN_MSG_TIMER)
		p->wb.tdels[g->ntd++] = (mn__wtimer){
		    .id = r->outbox_id, .due_unix_ms = r->outbox_id >> 16};
	else if (r->flags & MN_MSG_CALL)
		p->wb.cdels[g->ncd++] = (mn__wcall){.actor_id = mn__ap(a)->id,
						    .call_id = r->outbox_id};
	else if (r->outbox_id)
		p->wb.dels[g->nd++] = r->outbox_id;
	build_held(p, g, r, e);
	return 0;
}

/* A SPAWN record: a new actor's name. */
static void build_spawn(mn__persist *p, group *g, wrec *r)
{
	mn__actor *a = r->actor;
	if (r->is_new)
		p->wb.acts[g->na++] = (mn__wactor){
		    .id = mn__ap(a)->id,
		    .kind_id = p->rt->kinds[a->kind_idx]->store_id,
		    .key = a->key,
		    .key_len = a->key_len,
		    .created_unix_ms = r->unix_ms,
		    .last_active_unix_ms = r->unix_ms,
		    .is_new = true,
		};
}

/* Idempotent ingress: is r's client key known (this group, or the store
 * within the retention window)? Sets r->dup_rc (MN_EEXIST: the same
 * message, MN_ECONFLICT: another) and returns true when it is. */
static bool ingress_known(mn__persist *p, group *g, wrec *r)
{
	const unsigned char *ck = r->data + r->len + r->key_len;
	uint64_t hash = 0, ms = 0;
	bool found = false;
	for (size_t i = 0; i < g->ning && !found; i++)
		if (p->wb.ing[i].ck_len == r->ck_len &&
		    memcmp(p->wb.ing[i].ckey, ck, r->ck_len) == 0) {
			found = true;
			hash = p->wb.ing[i].hash;
		}
	if (!found) {
		int rc =
		    mn__store_ingress_get(p->store, ck, r->ck_len, &hash, &ms);
		found = rc == 0 && ms + p->ingress_retention_ms > r->unix_ms;
	}
	if (found)
		r->dup_rc = hash == r->ck_hash ? MN_EEXIST : MN_ECONFLICT;
	return found;
}

/* A DURABLE record: its outbox entry, with the next outbox id (and its
 * client key; none when the key says it was stored already). */
static void build_durable(mn__persist *p, group *g, wrec *r)
{
	if (r->ck_len && ingress_known(p, g, r)) {
		g->ids[g->nid++] = 0;
		return;
	}
	uint64_t id = p->next_outbox_id++;
	g->ids[g->nid++] = id;
	if (r->ck_len)
		p->wb.ing[g->ning++] = (mn__wingress){
		    .ckey = r->data + r->len + r->key_len,
		    .ck_len = r->ck_len,
		    .hash = r->ck_hash,
		    .unix_ms = r->unix_ms,
		    .outbox_id = id,
		};
	mn__woutbox *ob = &p->wb.obs[g->no++];
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
	mn__dict_codec_choice(r->target, r->len, &ob->compress, &ob->dict_id);
}

/* An EVICT record (E3): the head becomes exact in the store before the
 * record leaves memory (rehydration reads it), with its snapshot. */
static void build_evict(mn__persist *p, group *g, wrec *r)
{
	mn__actor *a = r->actor;
	p->wb.acts[g->na++] = (mn__wactor){
	    .id = mn__ap(a)->id,
	    .last_seq = r->seq,
	    .last_lsn = mn__ap(a)->last_lsn,
	    .last_active_unix_ms = r->unix_ms,
	};
	if (r->has_snap)
		p->wb.snaps[g->nsn++] = (mn__wsnap){
		    .actor_id = mn__ap(a)->id,
		    .seq = r->seq,
		    .lsn = mn__ap(a)->last_lsn,
		    .dict_id = atomic_load_explicit(
			&p->rt->kinds[a->kind_idx]->dict_id,
			memory_order_acquire),
		    .state = r->data + r->snap_off,
		    .len = r->snap_len,
		    .state_hash = r->snap_hash,
		    .kind_version = r->version,
		};
}

/* Phase 2: every record into the batch's arrays, in queue order. */
static void group_build(mn__persist *p, group *g)
{
	for (wrec *r = g->list; !g->rc && r; r = r->next) {
		switch (r->rk) {
		case REC_ENTRY:
			g->rc = build_entry(p, g, r);
			break;
		case REC_SPAWN:
			build_spawn(p, g, r);
			break;
		case REC_DURABLE:
			build_durable(p, g, r);
			break;
		case REC_OUTBOX_DEL:
			p->wb.dels[g->nd++] = r->outbox_id;
			break;
		case REC_EVICT:
			build_evict(p, g, r);
			break;
		}
	}
}

/* Phase 3: the group's share of the checkpoint in progress (P6). */
static void group_checkpoint(mn__persist *p, group *g)
{
	if (g->rc || !p->ck.ckpt_active)
		return;
	/* At least as many heads as the group has records, so a
	 * checkpoint always ends before the next is due. */
	size_t quota =
	    p->ck.ckpt_per_group > g->count ? p->ck.ckpt_per_group : g->count;
	if ((g->rc = grow(&p->wb.acts, &p->wb.cap_acts, g->na + quota,
			  sizeof *p->wb.acts)))
		return;
	g->ckpt_last = mn__ckpt_take(p, quota, &g->na, &g->ckpt_taken);
	if (g->ckpt_last) {
		g->b.checkpoint_lsn = p->ck.ckpt_lsn;
		g->b.next_actor_id = atomic_load_explicit(&p->next_actor_id,
							  memory_order_relaxed);
	}
}

/* Phase 4: the one transaction (P2). A failure is sticky (P7), and the
 * LSNs the group took are given back. */
static void group_write(mn__persist *p, group *g)
{
	mn__wbatch *b = &g->b;
	if (g->rc)
		return;
	b->entries = p->wb.ents;
	b->n_entries = g->ne;
	b->outbox = p->wb.obs;
	b->n_outbox = g->no;
	b->outbox_del = p->wb.dels;
	b->n_outbox_del = g->nd;
	b->actors = p->wb.acts;
	b->n_actors = g->na;
	b->snaps = p->wb.snaps;
	b->n_snaps = g->nsn;
	b->timers = p->wb.timers;
	b->n_timers = g->nt;
	b->timer_del = p->wb.tdels;
	b->n_timer_del = g->ntd;
	b->quarantine = p->wb.quar;
	b->n_quarantine = g->nq;
	b->calls = p->wb.calls;
	b->n_calls = g->nc;
	b->call_del = p->wb.cdels;
	b->n_call_del = g->ncd;
	b->ingress = p->wb.ing;
	b->n_ingress = g->ning;
	/* Client keys past the window go, a slice a second. */
	uint64_t now = mn__unix_ms();
	if (now > p->wb.ing_pruned_ms + 1000 && now > p->ingress_retention_ms) {
		b->ingress_prune_ms = now - p->ingress_retention_ms;
		b->ingress_prune_max = 4096;
		p->wb.ing_pruned_ms = now;
	}
	g->rc = mn__store_write(p->store, p->codec, b);
	if (g->rc) {
		mn__persist_set_error(p, g->rc);
		p->last_lsn = g->first_lsn;
	}
}

/* Phase 5, after a successful commit: the checkpoint's progress, the
 * counters, and the fired-set slots of the timers it removed. */
static void group_account(mn__persist *p, group *g)
{
	if (g->rc)
		return;
	p->ck.ckpt_pos += g->ckpt_taken;
	if (g->ckpt_last)
		p->ck.ckpt_active = false;
	atomic_fetch_add_explicit(&p->st.commits, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&p->st.journaled, g->ne,
				  memory_order_relaxed);
	atomic_fetch_add_explicit(&p->st.snapshots, g->nsn,
				  memory_order_relaxed);
	for (size_t i = 0; i < g->ntd; i++)
		mn__timers_fired_remove(p, p->wb.tdels[i].id);
	uint64_t first = 0;
	for (size_t i = 0; i < g->nt; i++)
		if (!first || p->wb.timers[i].due_unix_ms < first)
			first = p->wb.timers[i].due_unix_ms;
	mn__timers_arm(p, first);
}

/* A DURABLE record after the commit: its message pushed (P3) with outbox
 * id id, or counted done if it cannot be; its callback. Returns the
 * messages to count done. */
static uint64_t effect_durable(mn__persist *p, wrec *r, uint64_t id, int rc)
{
	uint64_t ndone = 0;
	if (!rc && r->dup_rc) {
		/* Its client key was known: no second message (P3). */
		ndone++;
		rc = r->dup_rc;
	} else if (rc) {
		ndone++; /* counted as sent, never delivered */
	} else {
		mn__sendx x = {.outbox_id = id,
			       .counted = true,
			       .mflags = MN_MSG_EXTERNAL};
		int src =
		    mn__send(p->rt, NULL, NULL, r->target, r->data + r->len,
			     r->key_len, r->type, r->data, r->len, &x);
		if (src == MN__EDELETING) {
			ndone++;
			mn__event(&p->rt->ev, MN_EVENT_DROPPED, MN_ENOACTOR,
				  r->target, r->data + r->len, r->key_len, 0,
				  "durable message type %u dropped: the actor "
				  "is being deleted",
				  (unsigned)r->type);
		} else if (src) {
			ndone++;
			mn__event(
			    &p->rt->ev, MN_EVENT_UNDELIVERED, src, r->target,
			    r->data + r->len, r->key_len, 0,
			    "durable message %llu (type %u) not delivered "
			    "(%s); it stays stored for the next open",
			    (unsigned long long)x.outbox_id, (unsigned)r->type,
			    mn_err_name(src));
		}
	}
	if (r->done)
		r->done(r->done_arg, rc);
	return ndone;
}

/* Phase 6, after the commit or its failure: each record's effects (output
 * commit, P3; the eviction's end, E4-E5; completions), its release, and
 * the messages done (P5). */
static void group_effects(mn__persist *p, group *g)
{
	size_t nid = 0;
	uint64_t ndone = 0;
	int rc = g->rc;
	for (wrec *r = g->list, *next; r; r = next) {
		next = r->next;
		switch (r->rk) {
		case REC_ENTRY:
			if (!rc)
				deliver_held(p, r, g->ids + nid);
			else
				ndone += r->nmsgs; /* never delivered */
			nid += r->nmsgs;
			ndone++;
			/* release: the evictor's acquire load sees every
			 * use of the record by this thread as done. */
			atomic_fetch_sub_explicit(&mn__ap(r->actor)->inflight,
						  1, memory_order_release);
			break;
		case REC_SPAWN:
			ndone++;
			atomic_fetch_sub_explicit(&mn__ap(r->actor)->inflight,
						  1, memory_order_release);
			break;
		case REC_OUTBOX_DEL:
			ndone++;
			break;
		case REC_EVICT:
			mn__evict_finish(p, r, rc);
			break;
		case REC_DURABLE:
			ndone += effect_durable(p, r, rc ? 0 : g->ids[nid], rc);
			nid++;
			break;
		}
		mn__wrec_release(r);
	}
	count_done(p, ndone);
}

/* Write one commit group and make its effects visible (P2, P3, P5). The
 * phases, in order: */
void mn__commit_group(mn__persist *p, wrec *list, size_t count)
{
	group g = {
	    .list = list,
	    .count = count,
	    .first_lsn = p->last_lsn,
	    .rc = atomic_load_explicit(&p->error, memory_order_relaxed),
	};
	group_reserve(p, &g);	 /* 1: room for the worst case */
	group_build(p, &g);	 /* 2: each record into the batch */
	group_checkpoint(p, &g); /* 3: a share of the checkpoint (P6) */
	group_write(p, &g);	 /* 4: one transaction (P2, P7) */
	group_account(p, &g);	 /* 5: counters, fired timers' slots */
	group_effects(p, &g);	 /* 6: output commit, completions (P3, P5) */
	free(g.ids);
}
