/*
 * checkpoint.c - checkpoints of actor heads (P6): the heads each commit
 * group touched (dirty), sorted by actor with a radix sort, then written a
 * bounded number per commit group until the checkpoint ends, and all at
 * once at close or before a compaction. Writer thread only.
 */
#include "core/persist_int.h"
#include "base/clock.h"

int mn__ckpt_dirty_add(mn__persist *p, uint64_t id, uint64_t lsn, uint64_t seq)
{
	int rc = grow(&p->ck.dirty, &p->ck.dirty_cap, p->ck.ndirty + 1,
		      sizeof(dirty));
	if (rc)
		return rc;
	p->ck.dirty[p->ck.ndirty++] = (dirty){id, lsn, seq};
	return 0;
}

/* Sort d[0..n) by actor id, stably (entries arrive in LSN order, so an
 * actor's newest comes last), using tmp[0..n); returns the array that
 * holds the result. LSD radix, 11 bits a pass: two passes below 4M actor
 * ids. qsort with a comparator was 8% of the writer's time in the 1 KiB
 * durable benchmark (65,536 entries a checkpoint). */
#define DIRTY_RADIX 11
static dirty *dirty_sort(dirty *d, dirty *tmp, size_t n)
{
	uint64_t max = 0;
	for (size_t i = 0; i < n; i++)
		max = d[i].id > max ? d[i].id : max;
	for (unsigned shift = 0; shift < 64 && (max >> shift);
	     shift += DIRTY_RADIX) {
		size_t pos[1u << DIRTY_RADIX] = {0}, sum = 0;
		const uint64_t mask = (1u << DIRTY_RADIX) - 1;
		for (size_t i = 0; i < n; i++)
			pos[(d[i].id >> shift) & mask]++;
		for (size_t b = 0; b <= mask; b++) {
			size_t c = pos[b];
			pos[b] = sum;
			sum += c;
		}
		for (size_t i = 0; i < n; i++)
			tmp[pos[(d[i].id >> shift) & mask]++] = d[i];
		dirty *t = d;
		d = tmp;
		tmp = t;
	}
	return d;
}

/* Begin a checkpoint (P6): the heads touched so far, one per actor, are
 * written a bounded number per commit group (see MN__CHECKPOINT_EVERY), so
 * that a checkpoint of a million actors never stalls one commit, yet ends
 * before the next is due; the group that writes the last of them records
 * checkpoint_lsn. */
int mn__ckpt_begin(mn__persist *p)
{
	size_t n = 0;
	int rc;

	if (p->ck.ckpt_active || p->ck.ndirty == 0)
		return 0;
	if ((rc = grow(&p->ck.ckpt, &p->ck.ckpt_cap, p->ck.ndirty,
		       sizeof *p->ck.ckpt)))
		return rc;
	/* The sorted run may end in ckpt itself: the compaction below
	 * writes at n <= i, so it can run in place. */
	const dirty *d = dirty_sort(p->ck.dirty, p->ck.ckpt, p->ck.ndirty);
	for (size_t i = 0; i < p->ck.ndirty; i++)
		if (i + 1 == p->ck.ndirty || d[i + 1].id != d[i].id)
			p->ck.ckpt[n++] = d[i]; /* the actor's newest */
	p->ck.nckpt = n;
	p->ck.ckpt_pos = 0;
	p->ck.ckpt_lsn = p->last_lsn;
	p->ck.ckpt_active = true;
	p->ck.ndirty = 0;
	return 0;
}

/* Append up to max pending heads to acts[*na...]; returns true when they
 * were the last ones (the batch then records the checkpoint). */
bool mn__ckpt_take(mn__persist *p, size_t max, size_t *na, size_t *taken)
{
	size_t k = 0;
	uint64_t now = mn__unix_ms();
	while (k < max && p->ck.ckpt_pos + k < p->ck.nckpt) {
		const dirty *d = &p->ck.ckpt[p->ck.ckpt_pos + k];
		p->wb.acts[(*na)++] = (mn__wactor){
		    .id = d->id,
		    .last_seq = d->seq,
		    .last_lsn = d->lsn,
		    .last_active_unix_ms = now,
		};
		k++;
	}
	*taken = k;
	return p->ck.ckpt_pos + k == p->ck.nckpt;
}

/* At close: finish the checkpoint in progress and write one of every head
 * still dirty, in whole batches. */
void mn__ckpt_all(mn__persist *p)
{
	for (int round = 0; round < 2; round++) {
		if (atomic_load_explicit(&p->error, memory_order_relaxed))
			return;
		if (!p->ck.ckpt_active && mn__ckpt_begin(p))
			return;
		if (!p->ck.ckpt_active)
			return;
		mn__wbatch b = {0};
		size_t na = 0, taken;
		if (grow(&p->wb.acts, &p->wb.cap_acts, p->ck.nckpt,
			 sizeof *p->wb.acts))
			return;
		mn__ckpt_take(p, SIZE_MAX, &na, &taken);
		b.actors = p->wb.acts;
		b.n_actors = na;
		b.checkpoint_lsn = p->ck.ckpt_lsn;
		b.next_actor_id = atomic_load_explicit(&p->next_actor_id,
						       memory_order_relaxed);
		int rc = mn__store_write(p->store, p->codec, &b);
		if (rc) {
			mn__persist_set_error(p, rc);
			return;
		}
		p->ck.ckpt_active = false;
	}
}

/* Forget the heads of actor id the writer would checkpoint (X3), after
 * writing the newest of them: the deletion walks the actor's chain back
 * from its stored head, which must be exact. 0 or the store's error. */
int mn__ckpt_heads_forget(mn__persist *p, uint64_t id)
{
	dirty newest = {0};
	size_t n = 0;
	for (size_t i = 0; i < p->ck.ndirty; i++) {
		if (p->ck.dirty[i].id != id) {
			p->ck.dirty[n++] = p->ck.dirty[i];
			continue;
		}
		if (p->ck.dirty[i].lsn > newest.lsn)
			newest = p->ck.dirty[i];
	}
	p->ck.ndirty = n;
	if (p->ck.ckpt_active) {
		n = p->ck.ckpt_pos;
		for (size_t i = p->ck.ckpt_pos; i < p->ck.nckpt; i++) {
			if (p->ck.ckpt[i].id != id) {
				p->ck.ckpt[n++] = p->ck.ckpt[i];
				continue;
			}
			if (p->ck.ckpt[i].lsn > newest.lsn)
				newest = p->ck.ckpt[i];
		}
		p->ck.nckpt = n;
	}
	if (!newest.lsn)
		return 0;
	mn__wactor a = {.id = id,
			.last_seq = newest.seq,
			.last_lsn = newest.lsn,
			.last_active_unix_ms = mn__unix_ms()};
	mn__wbatch b = {.actors = &a, .n_actors = 1};
	int rc = mn__store_write(p->store, p->codec, &b);
	if (rc)
		mn__persist_set_error(p, rc);
	return rc;
}
