/*
 * import_write.c - the writing side of `mnemo import` (steps 4 and 5 of the
 * protocol in recovery/cmd_import.c): the destination's kinds, its timer ids
 * and the senders resolved to its actor ids, then each actor of the stream
 * added to a batch (its entries under fresh LSNs, its snapshots, its timers
 * or, for a copy, their quarantined messages) and the batch written in one
 * transaction, then the outbox messages.
 *
 * Owns: an actor is never split between transactions (a crash leaves whole
 * actors or none of one); a timer id is never one the store or this import
 * already uses; the LSN of a compaction point is reserved by its batch, never
 * written nor handed out again.
 *
 * Runs on the thread that runs the command.
 */
#include <stdlib.h>
#include <string.h>

#include "include/mnemo.h"
#include "recovery/import.h"

static int cmp_map(const void *x, const void *y)
{
	return mn__xs_addr_cmp(((const mapent *)x)->addr,
			       ((const mapent *)y)->addr);
}

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
	return a < b ? -1 : a > b;
}

/* ---- the destination -------------------------------------------------------
 */

int mn__import_on_kind(void *arg, uint32_t id, const char *name, uint32_t dict)
{
	istate *x = arg;
	(void)dict;
	if (mn__cli_grow((void **)&x->kinds, &x->capkinds, x->nkinds,
			 sizeof *x->kinds))
		return MN_ENOMEM;
	snprintf(x->kinds[x->nkinds].name, sizeof x->kinds[0].name, "%s", name);
	x->kinds[x->nkinds++].id = id;
	return 0;
}

uint32_t mn__import_kind_known(const istate *x, const char *name)
{
	for (size_t i = 0; i < x->nkinds; i++)
		if (strcmp(x->kinds[i].name, name) == 0)
			return x->kinds[i].id;
	return 0;
}

/* The id of kind name, created if new. */
static int kind_make(istate *x, const char *name, uint32_t *id)
{
	if ((*id = mn__import_kind_known(x, name)))
		return 0;
	mn__cli_clear_detail();
	int rc = mn__store_kind_id(x->c->store, name, id);
	if (rc)
		return rc;
	return mn__import_on_kind(x, *id, name, 0);
}

static int on_timer_id(void *arg, const mn__wtimer *t)
{
	istate *x = arg;
	if (mn__cli_grow((void **)&x->timer_ids, &x->captimer_ids,
			 x->ntimer_ids, sizeof *x->timer_ids))
		return MN_ENOMEM;
	x->timer_ids[x->ntimer_ids++] = t->id;
	return 0;
}

/* A timer id for due: want itself when free and it encodes due (the
 * runtime finds a timer by (id >> 16, id)), else due << 16 | k for the
 * first free k >= 2. Recorded as in use. 0 when out of memory. */
static uint64_t timer_id(istate *x, uint64_t due, uint64_t want)
{
	uint64_t id = want >> 16 == due ? want : due << 16 | 2;
	for (;;) {
		size_t lo = 0, hi = x->ntimer_ids;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (x->timer_ids[mid] < id)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < x->ntimer_ids && x->timer_ids[lo] == id) {
			/* Taken: the next one of this due time. */
			id = id >> 16 == due && (id & 0xffff) < 0xffff
				 ? id + 1
				 : due << 16 | 2;
			continue;
		}
		if (mn__cli_grow((void **)&x->timer_ids, &x->captimer_ids,
				 x->ntimer_ids, sizeof *x->timer_ids))
			return 0;
		memmove(x->timer_ids + lo + 1, x->timer_ids + lo,
			(x->ntimer_ids - lo) * sizeof *x->timer_ids);
		x->timer_ids[lo] = id;
		x->ntimer_ids++;
		return id;
	}
}

/* The destination id of a sender named in the stream: an imported actor,
 * an actor the store holds, or 0 (outside; counted when it named one). */
static uint64_t resolve(istate *x, const Mnemo__Export__Address *a)
{
	if (mn__xs_outside(a))
		return 0;
	if (x->last_addr && mn__xs_addr_cmp(a, x->last_addr) == 0)
		return x->last_id;
	uint64_t id = 0;
	mapent key = {.addr = a};
	mapent *hit =
	    bsearch(&key, x->map, x->xs.nactors, sizeof *x->map, cmp_map);
	if (hit) {
		id = hit->id;
	} else {
		uint32_t kind = mn__import_kind_known(x, a->kind);
		mn__actor_meta m;
		if (kind && mn__store_actor_find(x->c->store, kind, a->key.data,
						 a->key.len, &m) == 0)
			id = m.id;
	}
	x->last_addr = a;
	x->last_id = id;
	return id;
}

/* ---- writing ---------------------------------------------------------------
 */

/* Keep p (malloc'd) until the batch is written; false (p freed) when out
 * of memory. */
static bool own(istate *x, void *p)
{
	if (!p || mn__cli_grow((void **)&x->owned, &x->capowned, x->nowned,
			       sizeof *x->owned)) {
		free(p);
		return false;
	}
	x->owned[x->nowned++] = p;
	return true;
}

static void drop_owned(istate *x)
{
	for (size_t i = 0; i < x->nowned; i++)
		free(x->owned[i]);
	x->nowned = 0;
}

/* The packed intent p[0..len) of the source store, rewritten for actor id
 * of kind kind of this one (the stream names actors by address; intents
 * by id): *out (owned by the batch). 0, MN_ECORRUPT, MN_ENOMEM. */
static int rewrite_intent(istate *x, const ProtobufCBinaryData *p, uint64_t id,
			  uint32_t kind, const void **out, size_t *out_len)
{
	mn__intent in;
	void *hold;
	mn_buf b;
	mn__buf_init(&b);
	int rc = mn__intent_unpack(p->data, p->len, &in, &hold);
	if (!rc) {
		in.actor_id = id;
		in.kind_id = kind;
		rc = mn__intent_pack(&in, &b);
	}
	mn__intent_release(hold);
	if (!rc && !own(x, b.data))
		rc = MN_ENOMEM;
	else if (rc)
		mn__buf_free(&b);
	*out = rc ? NULL : b.data;
	*out_len = rc ? 0 : b.len;
	return rc;
}

/* Write the batch built so far (one transaction) and empty it. */
static int flush(istate *x, uint64_t next_actor_id)
{
	mn__wbatch b = {
	    .entries = x->ents,
	    .n_entries = x->nents,
	    .outbox = x->obs,
	    .n_outbox = x->nobs,
	    .actors = x->acts,
	    .n_actors = x->nacts,
	    .snaps = x->snaps,
	    .n_snaps = x->nsnaps,
	    .timers = x->timers,
	    .n_timers = x->ntimers,
	    .quarantine = x->quar,
	    .n_quarantine = x->nquar,
	    .calls = x->wcalls,
	    .n_calls = x->nwcalls,
	    /* The open repaired every head and nothing else writes: with
	     * this batch's heads, all are exact up to its last entry. */
	    .checkpoint_lsn = x->nents ? x->ents[x->nents - 1].lsn : 0,
	    .next_actor_id = next_actor_id,
	    /* Compaction points' LSNs, never written (add_actor). */
	    .lsn_reserved = x->next_lsn - 1,
	};
	int rc = 0;
	if (x->nents || x->nobs || x->nacts || x->nquar) {
		mn__cli_clear_detail();
		rc = mn__store_write(x->c->store, x->c->codec, &b);
	}
	x->nents = x->nobs = x->nacts = x->nsnaps = x->ntimers = x->nquar = 0;
	x->nwcalls = 0;
	drop_owned(x);
	x->batch_bytes = 0;
	x->next_lsn = mn__store_last_lsn(x->c->store) + 1;
	return rc;
}

/* The actor of the stream being added to the batch, for its steps. */
typedef struct adding {
	const mn__xs_actor *g;
	const Mnemo__Export__Actor *a;
	uint64_t id;
	uint32_t kind, dict;
	uint64_t base_lsn; /* its compaction point's LSN, 0 if none */
	uint64_t first;	   /* the LSN of its first entry */
} adding;

/* The calls entry e made, into w (intents rewritten for this store). */
static int add_entry_calls(istate *x, const adding *d,
			   const Mnemo__Export__Entry *e, mn__wentry *w)
{
	if (!e->n_calls)
		return 0;
	const void **calls = malloc(e->n_calls * sizeof *calls);
	if (!own(x, calls))
		return MN_ENOMEM;
	size_t *lens = malloc(e->n_calls * sizeof *lens);
	if (!own(x, lens))
		return MN_ENOMEM;
	for (size_t i = 0; i < e->n_calls; i++) {
		int rc = rewrite_intent(x, &e->calls[i], d->id, d->kind,
					&calls[i], &lens[i]);
		if (rc)
			return rc;
	}
	w->calls = calls;
	w->call_lens = lens;
	w->call_hashes = e->call_hashes;
	w->n_calls = e->n_calls;
	return 0;
}

/* Its pending calls: stored (--move: the next runtime issues them), or
 * left out of a copy (counted), which must not call the world again for
 * the original. */
static int add_calls(istate *x, const adding *d)
{
	const mn__xs_actor *g = d->g;
	for (size_t j = 0; j < g->ncalls; j++) {
		const Mnemo__Export__Call *c = g->calls[j];
		if (!x->move) {
			x->held_calls++;
			continue;
		}
		if (mn__cli_grow((void **)&x->wcalls, &x->capwcalls, x->nwcalls,
				 sizeof *x->wcalls))
			return MN_ENOMEM;
		mn__wcall *w = &x->wcalls[x->nwcalls];
		*w = (mn__wcall){.actor_id = d->id, .call_id = c->call_id};
		int rc = rewrite_intent(x, &c->intent, d->id, d->kind,
					&w->intent, &w->len);
		if (rc)
			return rc;
		x->nwcalls++;
		x->calls++;
	}
	return 0;
}

/* Its entries, under fresh LSNs chained from base_lsn. */
static int add_entries(istate *x, const adding *d)
{
	const mn__xs_actor *g = d->g;
	for (size_t j = 0; j < g->nentries; j++) {
		const Mnemo__Export__Entry *e = g->entries[j];
		if (mn__cli_grow((void **)&x->ents, &x->capents, x->nents,
				 sizeof *x->ents))
			return MN_ENOMEM;
		uint64_t lsn = x->next_lsn++;
		x->ents[x->nents++] = (mn__wentry){
		    .lsn = lsn,
		    .actor_id = d->id,
		    .seq = e->seq,
		    .prev_lsn = j ? lsn - 1 : d->base_lsn,
		    .sender_id = resolve(x, e->sender),
		    .unix_ms = e->unix_ms,
		    /* Outbox ids are the source store's: not carried. */
		    .type = e->type,
		    .flags = e->flags,
		    .compress = true,
		    .dict_id = d->dict,
		    .payload = e->payload.data,
		    .len = e->payload.len,
		    .state_hash = e->state_hash,
		    .kind_version = e->kind_version,
		    .timer_ids = e->timer_ids,
		    .n_timer_ids = e->n_timer_ids,
		};
		int rc = add_entry_calls(x, d, e, &x->ents[x->nents - 1]);
		if (rc)
			return rc;
		if (e->sender && !mn__xs_outside(e->sender) &&
		    !x->ents[x->nents - 1].sender_id)
			x->senders_lost++;
	}
	return 0;
}

/* Its snapshots, each at the LSN of the entry of its seq (or of the
 * compaction point). */
static int add_snaps(istate *x, const adding *d)
{
	const mn__xs_actor *g = d->g;
	const Mnemo__Export__Actor *a = d->a;
	for (size_t j = 0; j < g->nsnaps; j++) {
		const Mnemo__Export__Snapshot *sn = g->snaps[j];
		uint64_t lsn = sn->seq == a->base_seq ? d->base_lsn : 0,
			 hash = sn->state_hash;
		if (mn__cli_grow((void **)&x->snaps, &x->capsnaps, x->nsnaps,
				 sizeof *x->snaps))
			return MN_ENOMEM;
		if (sn->seq > a->base_seq) {
			/* The entry of that seq: its LSN, and its state hash
			 * is the state's (the store gives export none for
			 * snapshots). */
			const Mnemo__Export__Entry *e =
			    g->entries[sn->seq - a->base_seq - 1];
			lsn = d->first + (sn->seq - a->base_seq - 1);
			if (!hash)
				hash = e->state_hash;
		}
		x->snaps[x->nsnaps++] = (mn__wsnap){
		    .actor_id = d->id,
		    .seq = sn->seq,
		    .lsn = lsn,
		    .dict_id = d->dict,
		    .state = sn->state.data,
		    .len = sn->state.len,
		    .state_hash = hash,
		    .kind_version = sn->kind_version,
		};
	}
	return 0;
}

/* Its timers: live under free timer ids (--move), else held in the
 * quarantine. */
static int add_timers(istate *x, const adding *d)
{
	const mn__xs_actor *g = d->g;
	const Mnemo__Export__Actor *a = d->a;
	for (size_t j = 0; j < g->ntimers; j++) {
		const Mnemo__Export__Timer *t = g->timers[j];
		if (!x->move) {
			/* A copy: the timer is held in the quarantine as a
			 * message from the actor to itself (its type and
			 * payload; time: its due time). Released, it is
			 * delivered as an ordinary message, at once. */
			if (mn__cli_grow((void **)&x->quar, &x->capquar,
					 x->nquar, sizeof *x->quar))
				return MN_ENOMEM;
			x->quar[x->nquar++] = (mn__woutbox){
			    .id = x->next_outbox++,
			    .kind_id = d->kind,
			    .key = x->as_key ? x->as_key : a->address->key.data,
			    .key_len =
				x->as_key ? x->as_len : a->address->key.len,
			    .type = t->type,
			    .sender_id = d->id,
			    .unix_ms = t->due_unix_ms,
			    .compress = true,
			    .dict_id = d->dict,
			    .payload = t->payload.data,
			    .len = t->payload.len,
			};
			x->held_timers++;
			continue;
		}
		uint64_t tid = timer_id(x, t->due_unix_ms, t->id);
		if (!tid || mn__cli_grow((void **)&x->timers, &x->captimers,
					 x->ntimers, sizeof *x->timers))
			return MN_ENOMEM;
		x->timers[x->ntimers++] = (mn__wtimer){
		    .id = tid,
		    .actor_id = d->id,
		    .due_unix_ms = t->due_unix_ms,
		    .type = t->type,
		    .payload = t->payload.data,
		    .len = t->payload.len,
		};
	}
	return 0;
}

/* Add actor i of the stream to the batch. */
static int add_actor(istate *x, size_t i)
{
	adding d = {.g = &x->xs.actors[i],
		    .a = x->xs.actors[i].a,
		    .id = x->ids[i],
		    .kind = x->kind_ids[i],
		    .first = x->next_lsn};
	const mn__xs_actor *g = d.g;
	const Mnemo__Export__Actor *a = d.a;
	int rc;
	d.dict = mn__store_kind_dict(x->c->store, d.kind);

	if (mn__cli_grow((void **)&x->acts, &x->capacts, x->nacts,
			 sizeof *x->acts))
		return MN_ENOMEM;
	/* History after a compaction point: the entry at base_seq is not in
	 * the stream; give it an LSN of its own (never written, reserved by
	 * the batch so never handed out again) for the first entry to point
	 * at, or for the head when no entry follows it, as compaction leaves
	 * it (docs/format.md). */
	d.base_lsn = a->base_seq ? x->next_lsn++ : 0;
	if (g->nentries)
		d.first = x->next_lsn;
	if ((rc = add_entries(x, &d)) || (rc = add_snaps(x, &d)) ||
	    (rc = add_timers(x, &d)) || (rc = add_calls(x, &d)))
		return rc;
	x->acts[x->nacts++] = (mn__wactor){
	    .id = d.id,
	    .kind_id = d.kind,
	    .key = x->as_key ? x->as_key : a->address->key.data,
	    .key_len = x->as_key ? x->as_len : a->address->key.len,
	    .last_seq = a->last_seq,
	    .last_lsn = g->nentries ? x->next_lsn - 1 : d.base_lsn,
	    .first_lsn = g->nentries ? d.first : 0,
	    .created_unix_ms = a->created_unix_ms,
	    .last_active_unix_ms = a->last_active_unix_ms,
	    .is_new = true,
	    .compacted_seq = a->base_seq,
	    .compacted_lsn = d.base_lsn,
	};
	x->batch_bytes += g->bytes;
	return 0;
}

int mn__import_write_all(istate *x, const mn__store_info *info, char *what,
			 size_t whatcap)
{
	int rc;
	uint64_t next_id = info->next_actor_id;
	mn__xs_stream *xs = &x->xs;

	if (!(x->kind_ids = calloc(xs->nactors + 1, sizeof *x->kind_ids)) ||
	    !(x->ids = calloc(xs->nactors + 1, sizeof *x->ids)) ||
	    !(x->map = calloc(xs->nactors + 1, sizeof *x->map)))
		return MN_ENOMEM;
	for (size_t i = 0; i < xs->nactors; i++) {
		snprintf(what, whatcap, "creating kind %s",
			 xs->actors[i].a->address->kind);
		if ((rc = kind_make(x, xs->actors[i].a->address->kind,
				    &x->kind_ids[i])))
			return rc;
		x->ids[i] = next_id++;
		x->map[i] =
		    (mapent){.addr = xs->actors[i].a->address, .id = x->ids[i]};
	}
	qsort(x->map, xs->nactors, sizeof *x->map, cmp_map);
	snprintf(what, whatcap, "reading timers");
	mn__cli_clear_detail();
	if ((rc = mn__store_timers_due(x->c->store, UINT64_MAX, SIZE_MAX,
				       on_timer_id, x)))
		return rc;
	if (x->ntimer_ids) /* qsort wants an array, even of 0 */
		qsort(x->timer_ids, x->ntimer_ids, sizeof *x->timer_ids,
		      cmp_u64);

	x->next_lsn = mn__store_last_lsn(x->c->store) + 1;
	x->next_outbox = info->next_outbox_id;
	x->batch_first = 0;
	for (size_t i = 0; i < xs->nactors; i++) {
		if (x->nacts && (x->nacts >= MN__IMPORT_BATCH_ACTORS ||
				 x->batch_bytes + xs->actors[i].bytes >
				     MN__IMPORT_BATCH_BYTES)) {
			snprintf(what, whatcap,
				 "writing actors %zu..%zu of %zu",
				 x->batch_first + 1, i, xs->nactors);
			if ((rc = flush(x, x->ids[i - 1] + 1)))
				return rc;
			x->imported = i;
			x->batch_first = i;
		}
		if ((rc = add_actor(x, i)))
			return rc;
	}
	if (xs->nactors) {
		snprintf(what, whatcap, "writing actors %zu..%zu of %zu",
			 x->batch_first + 1, xs->nactors, xs->nactors);
		if ((rc = flush(x, x->ids[xs->nactors - 1] + 1)))
			return rc;
		x->imported = xs->nactors;
	}

	snprintf(what, whatcap, "writing the outbox messages");
	for (size_t i = 0; i < xs->noutbox; i++) {
		const Mnemo__Export__Outbox *o = xs->outbox[i];
		uint32_t kind;
		if ((rc = kind_make(x, o->target->kind, &kind)) ||
		    (rc = mn__cli_grow((void **)&x->obs, &x->capobs, x->nobs,
				       sizeof *x->obs)))
			return rc;
		uint64_t sender = resolve(x, o->sender);
		if (!sender && !mn__xs_outside(o->sender))
			x->senders_lost++;
		/* A copy: held in the quarantine. */
		if (!x->move &&
		    (rc = mn__cli_grow((void **)&x->quar, &x->capquar, x->nquar,
				       sizeof *x->quar)))
			return rc;
		mn__woutbox *ob =
		    x->move ? &x->obs[x->nobs++] : &x->quar[x->nquar++];
		if (!x->move)
			x->held_outbox++;
		*ob = (mn__woutbox){
		    .id = x->next_outbox++,
		    .kind_id = kind,
		    .key = o->target->key.data,
		    .key_len = o->target->key.len,
		    .type = o->type,
		    .flags = o->flags,
		    .sender_id = sender,
		    .unix_ms = o->unix_ms,
		    .compress = true,
		    .dict_id = mn__store_kind_dict(x->c->store, kind),
		    .payload = o->payload.data,
		    .len = o->payload.len,
		};
		x->batch_bytes += o->payload.len;
		if (x->batch_bytes > MN__IMPORT_BATCH_BYTES &&
		    (rc = flush(x, 0)))
			return rc;
	}
	return flush(x, 0);
}
