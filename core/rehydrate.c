/*
 * rehydrate.c - bringing a persistent actor back (its first run on a
 * worker): find it in the store, restore its latest snapshot, replay its
 * journal after it (handlers run with sends discarded), or give a new
 * actor its id and run init. A failure marks the actor broken. Worker
 * threads.
 */
#include "core/persist_int.h"
#include "core/upgrade.h"

typedef struct replay {
	mn__worker *w;
	mn__actor *a;
	const mn_kind *k;
	uint64_t last_seq;
	uint64_t diverged_seq; /* the first entry whose hash differed, 0 */
	uint64_t diverged_hash, diverged_had;
	uint32_t diverged_version;
} replay;

static int replay_one(void *arg, const mn__entry *e)
{
	replay *r = arg;
	mn_ctx *ctx = &r->w->ctx;
	mn_runtime *rt = r->w->rt;
	mn_msg view = {
	    .type = e->type,
	    .flags = e->flags & MN__MSG_PUBLIC_MASK,
	    .payload = e->len ? e->payload : NULL,
	    .len = e->len,
	};
	mn__actor_meta m;

	if (e->kind_version > r->k->def.version) {
		/* Newer code wrote it: old code must not misread it. */
		char d[160];
		snprintf(d, sizeof d,
			 "its journal entry at seq %llu was written by "
			 "version %u of kind %s; this code is version %u",
			 (unsigned long long)e->seq, (unsigned)e->kind_version,
			 r->k->def.name, (unsigned)r->k->def.version);
		mn__store_set_errdetail(d);
		atomic_fetch_add_explicit(&rt->persist->st.refused_newer, 1,
					  memory_order_relaxed);
		return MN_EVERSION;
	}
	ctx->replay_sender_kind = NULL;
	ctx->replay_sender_key_len = 0;
	if (e->sender_id &&
	    mn__store_actor_get(rt->persist->store, e->sender_id, &m) == 0) {
		ctx->replay_sender_kind = kind_by_store_id(rt, m.kind_id);
		memcpy(ctx->replay_sender_key, m.key, m.key_len);
		ctx->replay_sender_key_len = m.key_len;
	}
	ctx->seq = e->seq;
	ctx->replay_timer_ids = e->timer_ids;
	ctx->replay_ntimer_ids = e->n_timer_ids;
	ctx->replay_timer_next = 0;
	mn__ctx_replay_entry(ctx, e);
	r->last_seq = e->seq;
	/* The handler's result was counted when the message was first
	 * handled; replay only rebuilds the state. */
	(void)r->k->def.handle(ctx, r->a->state, &view);
	mn__persist *p = rt->persist;
	if (e->kind_version < r->k->def.version)
		atomic_fetch_add_explicit(&p->st.replayed_older, 1,
					  memory_order_relaxed);
	/* The hash the handling code recorded against this code's state
	 * (docs/upgrades.md): a difference is counted and reported once,
	 * never fatal. */
	if (e->state_hash && r->k->def.hash) {
		uint64_t h = r->k->def.hash(r->a->state);
		h = h ? h : 1;
		if (h != e->state_hash) {
			atomic_fetch_add_explicit(&p->st.hash_mismatches, 1,
						  memory_order_relaxed);
			if (!r->diverged_seq) {
				r->diverged_seq = e->seq;
				r->diverged_hash = h;
				r->diverged_had = e->state_hash;
				r->diverged_version = e->kind_version;
			}
		}
	}
	return 0;
}

static void count_restore(mn__persist *p, enum mn__restored how)
{
	_Atomic uint64_t *c =
	    how == MN__RESTORED_UPGRADED  ? &p->st.upgraded
	    : how == MN__RESTORED_OLDER	  ? &p->st.restored_older
	    : how == MN__RESTORED_REFUSED ? &p->st.refused_newer
					  : NULL;
	if (c)
		atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

int mn__persist_first_run(mn__worker *w, mn__actor *a, const mn_kind *k)
{
	mn__persist *p = w->rt->persist;
	mn_ctx *ctx = &w->ctx;
	mn__actor_meta m;
	int rc;

	uint64_t t0 = mn__mono_us();
	/* A stale detail must not name the reason of this failure. */
	mn__store_set_errdetail("");
	rc =
	    mn__store_actor_find(p->store, k->store_id, a->key, a->key_len, &m);
	ctx->msg = NULL;
	if (rc == MN_ENOACTOR) {
		if (!mn__ap(a)->id) {
			mn__ap(a)->id = atomic_fetch_add_explicit(
			    &p->next_actor_id, 1, memory_order_relaxed);
			a->flags |= MN__ACTOR_NEW;
		}
		return k->def.init(ctx, &a->state);
	}
	if (rc)
		goto err_broken;
	mn__ap(a)->id = m.id;
	a->flags &= (uint8_t)~MN__ACTOR_NEW;
	if (m.fork_parent_id)
		mn__ap(a)->pflags |= MN__AP_QUARANTINED;

	/* The latest snapshot, then the journal after it (design.md 3). */
	mn_buf snap;
	uint64_t snap_seq = 0, snap_lsn;
	uint32_t snap_ver = 1;
	mn__buf_init(&snap);
	rc = k->def.restore
		 ? mn__store_snapshot_latest_v(p->store, w->codec, m.id,
					       m.last_seq, &snap, &snap_seq,
					       &snap_lsn, &snap_ver)
		 : MN_ENOACTOR;
	if (rc == 0) {
		enum mn__restored how;
		char d[192];
		ctx->replaying = true;
		rc = mn__kind_restore(&k->def, ctx, snap_ver, snap_seq,
				      snap.data, snap.len, &a->state, &how, d,
				      sizeof d);
		ctx->replaying = false;
		if (rc)
			mn__store_set_errdetail(d);
		count_restore(p, how);
	} else if (rc == MN_ENOACTOR) {
		snap_seq = 0;
		rc = k->def.init(ctx, &a->state);
	}
	mn__buf_free(&snap);
	if (rc)
		goto err_broken;
	replay r = {.w = w, .a = a, .k = k, .last_seq = snap_seq};
	ctx->replaying = true;
	/* Nothing after the snapshot: its head entry may have been
	 * compacted away, so do not look it up. */
	rc = snap_seq >= m.last_seq
		 ? 0
		 : mn__store_history(p->store, w->codec, m.last_lsn, snap_seq,
				     replay_one, &r);
	ctx->replaying = false;
	ctx->replay_sender_kind = NULL;
	ctx->replay_timer_ids = NULL;
	ctx->replay_ntimer_ids = 0;
	if (rc == 0 && r.last_seq != m.last_seq) {
		char d[128];
		snprintf(d, sizeof d,
			 "history ends at seq %llu, the actor's head says %llu",
			 (unsigned long long)r.last_seq,
			 (unsigned long long)m.last_seq);
		mn__store_set_errdetail(d);
		rc = MN_ECORRUPT;
	}
	if (rc) {
		if (k->def.free)
			k->def.free(a->state);
		a->state = NULL;
		goto err_broken;
	}
	if (r.diverged_seq)
		mn__event(&w->rt->ev, MN_EVENT_DIVERGED, 0, k, a->key,
			  a->key_len, r.diverged_seq,
			  "replaying seq %llu (handled by version %u, now "
			  "version %u) gives state hash %016llx; the journal "
			  "recorded %016llx",
			  (unsigned long long)r.diverged_seq,
			  (unsigned)r.diverged_version,
			  (unsigned)k->def.version,
			  (unsigned long long)r.diverged_hash,
			  (unsigned long long)r.diverged_had);
	atomic_fetch_add_explicit(&p->st.replayed, r.last_seq - snap_seq,
				  memory_order_relaxed);
	atomic_fetch_add_explicit(&p->st.rehydrations, 1, memory_order_relaxed);
	mn__hist_add(&p->st.rehydrate_us, mn__hist_us_le, mn__mono_us() - t0);
	mn__ap(a)->seq = m.last_seq;
	mn__ap(a)->snap_msgs = (uint16_t)(m.last_seq - snap_seq > UINT16_MAX
					      ? UINT16_MAX
					      : m.last_seq - snap_seq);
	mn__ap(a)->last_lsn =
	    m.last_lsn; /* before the first record is queued */
	if (a->flags & MN__ACTOR_BROKEN) {
		/* It came back after all (a retry after a passing failure). */
		a->flags &= (uint8_t)~MN__ACTOR_BROKEN;
		mn__broken_clear(&w->rt->ev, k, a->key, a->key_len);
	}
	return 0;

err_broken:
	/* The actor cannot come back: its messages fail (counted), the
	 * others keep running. Reported once per actor record, with its
	 * reason kept for the sends that follow (events.c). */
	if (!(a->flags & MN__ACTOR_BROKEN)) {
		char why[MN__BROKEN_REASON];
		const char *d = mn__store_errdetail();
		if (!strcmp(d, "no detail"))
			d = mn_strerror(rc);
		snprintf(why, sizeof why, "%s (%s)", d, mn_err_name(rc));
		a->flags |= MN__ACTOR_BROKEN;
		atomic_fetch_add_explicit(&p->st.broken, 1,
					  memory_order_relaxed);
		mn__broken_mark(&w->rt->ev, k, a->key, a->key_len, rc, why);
		mn__event(&w->rt->ev, MN_EVENT_BROKEN, rc, k, a->key,
			  a->key_len, 0, "%s", why);
	}
	return rc;
}
