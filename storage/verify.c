/*
 * verify.c - mn__store_verify: every record of every database checked
 * (frame, decoding, the keys against the records, the lineage of forks
 * and compactions, heads against the log) and LMDB's free list against
 * the pages in use, all in one read transaction.
 *
 * Threads: any (a tool, maybe beside a live runtime).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/frame.h"
#include "storage/scan.h"
#include "storage/store_int.h"

/* ---- verify
 * ------------------------------------------------------------------ */

typedef struct vstate {
	mn__store *s;
	mn__codec *codec;
	mn__problem_cb problem;
	void *arg;
	uint64_t records, problems;
	mn_buf dst;
	/* Everything verify reads, it reads in this one transaction (one
	 * snapshot of a store a live runtime may be writing). */
	MDB_txn *txn;
	uint64_t ckpt_lsn; /* StoreState.checkpoint_lsn in txn */
	/* per actor: last (seq, lsn) seen in the log, by id; its head in
	 * the actors record; its newest entry at or before ckpt_lsn */
	struct vact {
		uint64_t id, seq, lsn;
		uint32_t kind_id;
		uint64_t head, lsn_ckpt;
	} * acts;
	size_t nacts, cap;
} vstate;

__attribute__((format(printf, 2, 3))) static int vproblem(vstate *v,
							  const char *fmt, ...)
{
	char text[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	v->problems++;
	return v->problem(v->arg, text);
}

static struct vact *vact_find(vstate *v, uint64_t id)
{
	size_t lo = 0, hi = v->nacts;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (v->acts[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < v->nacts && v->acts[lo].id == id ? &v->acts[lo] : NULL;
}

static bool kind_known(mn__store *s, uint32_t id)
{
	char name[MN_KIND_NAME_MAX + 1];
	return mn__store_kind_name(s, id, name, sizeof name) == 0;
}

typedef int (*vrecord_fn)(vstate *, const MDB_val *, const unsigned char *,
			  size_t);

typedef struct vdb_scan {
	vstate *v;
	int db;
	enum rtype t;
	vrecord_fn fn;
} vdb_scan;

static int verify_record(void *arg, mn__scan_at *at)
{
	vdb_scan *vs = arg;
	vstate *v = vs->v;
	const MDB_val *k = &at->k;
	char desc[64];
	const unsigned char *body;
	size_t len;
	v->records++;
	if (k->mv_size == 8)
		snprintf(desc, sizeof desc, "%llu",
			 (unsigned long long)mn__be64_get(k->mv_data));
	else if (k->mv_size == 16) /* snapshots: actor/seq; timers: due/id */
		snprintf(desc, sizeof desc, "%llu/%llu",
			 (unsigned long long)mn__be64_get(k->mv_data),
			 (unsigned long long)mn__be64_get(
			     (unsigned char *)k->mv_data + 8));
	else
		snprintf(desc, sizeof desc, "(%zu-byte key)", k->mv_size);
	if (mn__frame_open(v->s, &at->v, vs->t, vs->db, MN__FRAME_NAMED, desc,
			   &body, &len))
		return vproblem(v, "%s", mn__detail_raw());
	return vs->fn ? vs->fn(v, k, body, len) : 0;
}

/* Walk one database checking frames; for each sound record call fn. */
static int verify_db(vstate *v, MDB_txn *txn, int db, enum rtype t,
		     vrecord_fn fn)
{
	vdb_scan vs = {v, db, t, fn};
	mn__scan_spec sp = {.dbi = v->s->dbi[db],
			    .opening = "opening a cursor",
			    .reading = "walking a database"};
	return mn__scan(v->s, txn, &sp, verify_record, &vs);
}

/* A compacted actor has its snapshot at the compaction point; a fork's
 * parent exists, older than it, and (unless the fork was compacted past
 * its fork point) still has the entry the fork starts from. */
static int v_lineage(vstate *v, const Mnemo__ActorMeta *m)
{
	mn__store *s = v->s;
	MDB_txn *txn = v->txn;
	unsigned char kb[16];
	MDB_val k = {.mv_size = 16, .mv_data = kb}, val;
	int rc = 0;
	if (!m->compacted_seq && !m->fork_parent_id)
		return 0;
	if (m->compacted_seq) {
		mn__be64_put(kb, m->id);
		mn__be64_put(kb + 8, m->compacted_seq);
		if (mdb_get(txn, s->dbi[DB_SNAPSHOTS], &k, &val))
			rc = vproblem(v,
				      "actors record %llu: compacted to seq "
				      "%llu but its snapshot there is missing",
				      (unsigned long long)m->id,
				      (unsigned long long)m->compacted_seq);
	}
	if (!rc && m->fork_parent_id) {
		Mnemo__ActorMeta *pm;
		if (m->fork_parent_id >= m->id ||
		    mn__st_meta_get(s, txn, m->fork_parent_id, &pm)) {
			rc = vproblem(v,
				      "actors record %llu: forked from actor "
				      "%llu, which is missing",
				      (unsigned long long)m->id,
				      (unsigned long long)m->fork_parent_id);
		} else {
			bool needs = m->compacted_seq <= m->fork_seq;
			bool at_base = pm->compacted_seq == m->fork_seq &&
				       pm->compacted_lsn == m->fork_lsn;
			mnemo__actor_meta__free_unpacked(pm, NULL);
			mn__be64_put(kb, m->fork_lsn);
			k.mv_size = 8;
			if (needs && !at_base &&
			    mdb_get(txn, s->dbi[DB_LOG], &k, &val))
				rc = vproblem(v,
					      "actors record %llu: forked at "
					      "log record %llu, which is "
					      "missing",
					      (unsigned long long)m->id,
					      (unsigned long long)m->fork_lsn);
		}
	}
	return rc;
}

static int v_actor(vstate *v, const MDB_val *k, const unsigned char *body,
		   size_t len)
{
	uint64_t id = mn__be64_get(k->mv_data);
	Mnemo__ActorMeta *m = mnemo__actor_meta__unpack(NULL, len, body);
	if (!m || m->id != id || m->key.len == 0 || m->key.len > MN_KEY_MAX) {
		if (m)
			mnemo__actor_meta__free_unpacked(m, NULL);
		return vproblem(v, "actors record %llu: undecodable",
				(unsigned long long)id);
	}
	int rc = 0;
	if (!kind_known(v->s, m->kind_id))
		rc = vproblem(v, "actors record %llu: unknown kind %u",
			      (unsigned long long)id, m->kind_id);
	if (!rc && v->nacts == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 1024;
		void *n = realloc(v->acts, v->cap * sizeof *v->acts);
		if (!n)
			rc = MN_ENOMEM;
		else
			v->acts = n;
	}
	if (!rc) {
		/* Where its own entries must continue from: seq 1 after
		 * nothing, or a compaction point, or a fork point. */
		struct vact a = {id, 0, 0, m->kind_id, m->last_lsn, 0};
		if (m->compacted_seq && m->compacted_seq >= m->fork_seq) {
			a.seq = m->compacted_seq;
			a.lsn = m->compacted_lsn;
		} else if (m->fork_parent_id) {
			a.seq = m->fork_seq;
			a.lsn = m->fork_lsn;
		}
		v->acts[v->nacts++] = a;
		rc = v_lineage(v, m);
	}
	/* Its name must point back at it. */
	if (!rc) {
		mn__actor_meta am;
		int fr = mn__st_actor_find_txn(v->s, v->txn, m->kind_id,
					       m->key.data, m->key.len, &am);
		/* A deletion that began and did not finish (its name went
		 * first): not damage; the next open or rm finishes it. */
		if ((fr || am.id != id) &&
		    mn__st_del_marked(v->s, v->txn, id) == 0)
			fr = 0, am.id = id;
		if (fr || am.id != id)
			rc = vproblem(v,
				      "actors record %llu: its name does not "
				      "lead back to it (%s)",
				      (unsigned long long)id, mn_err_name(fr));
	}
	mnemo__actor_meta__free_unpacked(m, NULL);
	return rc;
}

static int v_entry(vstate *v, const MDB_val *k, const unsigned char *body,
		   size_t len)
{
	uint64_t lsn = mn__be64_get(k->mv_data);
	Mnemo__JournalEntry *je =
	    mnemo__journal_entry__unpack(mn__arena_for(len), len, body);
	if (!je)
		return vproblem(v, "log record %llu: undecodable",
				(unsigned long long)lsn);
	struct vact *a = vact_find(v, je->actor_id);
	if (!a)
		return vproblem(v, "log record %llu: unknown actor %llu",
				(unsigned long long)lsn,
				(unsigned long long)je->actor_id);
	if (je->seq != a->seq + 1 || je->prev_lsn != a->lsn) {
		int rc = vproblem(
		    v,
		    "log record %llu: actor %llu seq %llu after "
		    "seq %llu (prev_lsn %llu, expected %llu)",
		    (unsigned long long)lsn, (unsigned long long)je->actor_id,
		    (unsigned long long)je->seq, (unsigned long long)a->seq,
		    (unsigned long long)je->prev_lsn,
		    (unsigned long long)a->lsn);
		if (rc)
			return rc;
	}
	if (je->n_calls != je->n_call_hashes) {
		int rc = vproblem(v,
				  "log record %llu: %zu calls, %zu request "
				  "hashes",
				  (unsigned long long)lsn, je->n_calls,
				  je->n_call_hashes);
		if (rc)
			return rc;
	}
	a->seq = je->seq;
	a->lsn = lsn;
	if (lsn <= v->ckpt_lsn)
		a->lsn_ckpt = lsn;
	char where[48];
	const void *p;
	size_t n;
	snprintf(where, sizeof where, "log record %llu",
		 (unsigned long long)lsn);
	if (mn__st_unpack_payload(v->s, v->codec, je->codec, je->dict_id,
				  je->raw_len, &je->payload, &v->dst, &p, &n,
				  "log record", lsn))
		return vproblem(v, "%s", mn__detail_raw());
	return 0;
}

static int v_outbox(vstate *v, const MDB_val *k, const unsigned char *body,
		    size_t len)
{
	uint64_t id = mn__be64_get(k->mv_data);
	Mnemo__OutboxEntry *o =
	    mnemo__outbox_entry__unpack(mn__arena_for(len), len, body);
	if (!o || o->id != id)
		return vproblem(v, "outbox record %llu: undecodable",
				(unsigned long long)id);
	if (!kind_known(v->s, o->target_kind_id))
		return vproblem(v, "outbox record %llu: unknown target kind %u",
				(unsigned long long)id, o->target_kind_id);
	if (o->sender_id && !vact_find(v, o->sender_id))
		return vproblem(v, "outbox record %llu: unknown sender %llu",
				(unsigned long long)id,
				(unsigned long long)o->sender_id);
	char where[48];
	const void *p;
	size_t n;
	snprintf(where, sizeof where, "outbox record %llu",
		 (unsigned long long)id);
	if (mn__st_unpack_payload(v->s, v->codec, o->codec, o->dict_id,
				  o->raw_len, &o->payload, &v->dst, &p, &n,
				  "outbox record", id))
		return vproblem(v, "%s", mn__detail_raw());
	return 0;
}

/* Keys carry no checksum: each key must say what the record it leads to
 * says (docs/format.md, "Databases and keys"). */

static int v_kind(vstate *v, const MDB_val *k, const unsigned char *body,
		  size_t len)
{
	Mnemo__KindRecord *kr =
	    mnemo__kind_record__unpack(mn__arena_for(len), len, body);
	if (!kr || !kr->name || strlen(kr->name) != k->mv_size ||
	    memcmp(kr->name, k->mv_data, k->mv_size) != 0)
		return vproblem(v,
				"kinds record %u: undecodable, or its key is "
				"not its name (damaged key?)",
				kr ? kr->id : 0);
	return 0;
}

static int v_dict(vstate *v, const MDB_val *k, const unsigned char *body,
		  size_t len)
{
	Mnemo__Dictionary *d =
	    mnemo__dictionary__unpack(mn__arena_for(len), len, body);
	const unsigned char *kb = k->mv_data;
	uint32_t id = k->mv_size == 4
			  ? (uint32_t)kb[0] << 24 | (uint32_t)kb[1] << 16 |
				(uint32_t)kb[2] << 8 | kb[3]
			  : 0;
	if (!d || k->mv_size != 4 || d->id != id)
		return vproblem(v,
				"dicts record %u: undecodable, or its key is "
				"not its id (damaged key?)",
				id);
	return 0;
}

/* A name leads to an actor whose record names the same kind and key. */
static int v_name(vstate *v, const MDB_val *k, const unsigned char *body,
		  size_t len)
{
	if (len != 8 || k->mv_size < 5 || k->mv_size > 4 + MN_KEY_MAX)
		return vproblem(v,
				"names record (%zu-byte key): %zu-byte "
				"value, not an actor id",
				k->mv_size, len);
	uint64_t id = mn__be64_get(body);
	const unsigned char *kb = k->mv_data;
	uint32_t kind = (uint32_t)kb[0] << 24 | (uint32_t)kb[1] << 16 |
			(uint32_t)kb[2] << 8 | kb[3];
	Mnemo__ActorMeta *m;
	int rc = mn__st_meta_get(v->s, v->txn, id, &m);
	if (rc)
		return vproblem(v,
				"names record of actor %llu: the actor's "
				"record is missing or unreadable (%s)",
				(unsigned long long)id, mn_err_name(rc));
	bool same = m->kind_id == kind && m->key.len == k->mv_size - 4 &&
		    memcmp(m->key.data, kb + 4, m->key.len) == 0;
	mnemo__actor_meta__free_unpacked(m, NULL);
	if (!same)
		return vproblem(v,
				"names record of actor %llu: its key is not "
				"the actor's address (damaged key?)",
				(unsigned long long)id);
	return 0;
}

static int v_snapshot(vstate *v, const MDB_val *k, const unsigned char *body,
		      size_t len)
{
	if (k->mv_size != 16)
		return vproblem(v,
				"snapshots record (%zu-byte key): not "
				"actor and seq",
				k->mv_size);
	uint64_t id = mn__be64_get(k->mv_data),
		 seq = mn__be64_get((unsigned char *)k->mv_data + 8);
	Mnemo__Snapshot *sn =
	    mnemo__snapshot__unpack(mn__arena_for(len), len, body);
	if (!sn)
		return vproblem(v, "snapshots record %llu/%llu: undecodable",
				(unsigned long long)id,
				(unsigned long long)seq);
	if (sn->actor_id != id || sn->seq != seq)
		return vproblem(v,
				"snapshots record %llu/%llu: the record is "
				"actor %llu's snapshot at seq %llu (damaged "
				"key)",
				(unsigned long long)id, (unsigned long long)seq,
				(unsigned long long)sn->actor_id,
				(unsigned long long)sn->seq);
	const struct vact *a = vact_find(v, id);
	if (!a)
		return vproblem(v, "snapshots record %llu/%llu: unknown actor",
				(unsigned long long)id,
				(unsigned long long)seq);
	if (seq > a->seq)
		return vproblem(v,
				"snapshots record %llu/%llu: after the actor's "
				"newest entry (seq %llu)",
				(unsigned long long)id, (unsigned long long)seq,
				(unsigned long long)a->seq);
	const void *p;
	size_t n;
	if (mn__st_unpack_payload(v->s, v->codec, sn->codec, sn->dict_id,
				  sn->raw_len, &sn->state, &v->dst, &p, &n,
				  "snapshot of actor", id))
		return vproblem(v, "snapshots record %llu/%llu: %s",
				(unsigned long long)id, (unsigned long long)seq,
				mn__detail_raw());
	return 0;
}

static int v_timer(vstate *v, const MDB_val *k, const unsigned char *body,
		   size_t len)
{
	if (k->mv_size != 16)
		return vproblem(v,
				"timers record (%zu-byte key): not due "
				"time and id",
				k->mv_size);
	uint64_t due = mn__be64_get(k->mv_data),
		 id = mn__be64_get((unsigned char *)k->mv_data + 8);
	Mnemo__Timer *t = mnemo__timer__unpack(mn__arena_for(len), len, body);
	if (!t)
		return vproblem(v, "timers record %llu/%llu: undecodable",
				(unsigned long long)due,
				(unsigned long long)id);
	if (t->due_unix_ms != due || t->id != id)
		return vproblem(v,
				"timers record %llu/%llu: the record is timer "
				"%llu due at %llu (damaged key)",
				(unsigned long long)due, (unsigned long long)id,
				(unsigned long long)t->id,
				(unsigned long long)t->due_unix_ms);
	if (!vact_find(v, t->actor_id))
		return vproblem(v,
				"timers record %llu/%llu: unknown actor "
				"%llu",
				(unsigned long long)due, (unsigned long long)id,
				(unsigned long long)t->actor_id);
	return 0;
}

static int v_call(vstate *v, const MDB_val *k, const unsigned char *body,
		  size_t len)
{
	if (k->mv_size != 16)
		return vproblem(v,
				"calls record (%zu-byte key): not actor and "
				"call id",
				k->mv_size);
	uint64_t actor = mn__be64_get(k->mv_data),
		 id = mn__be64_get((unsigned char *)k->mv_data + 8);
	Mnemo__CallIntent *c =
	    mnemo__call_intent__unpack(mn__arena_for(len), len, body);
	if (!c)
		return vproblem(v, "calls record %llu/%llu: undecodable",
				(unsigned long long)actor,
				(unsigned long long)id);
	if (c->actor_id != actor || c->call_id != id)
		return vproblem(v,
				"calls record %llu/%llu: the record is call "
				"%llu of actor %llu (damaged key)",
				(unsigned long long)actor,
				(unsigned long long)id,
				(unsigned long long)c->call_id,
				(unsigned long long)c->actor_id);
	const struct vact *a = vact_find(v, actor);
	if (!a)
		return vproblem(v, "calls record %llu/%llu: unknown actor",
				(unsigned long long)actor,
				(unsigned long long)id);
	/* The intent is stored by the commit that journals the message
	 * that made the call (read here in the same transaction as the
	 * log): that message is in the journal. */
	if (c->seq != id >> 16)
		return vproblem(
		    v,
		    "calls record %llu/%llu: made by seq %llu, "
		    "not the seq its call id names (%llu)",
		    (unsigned long long)actor, (unsigned long long)id,
		    (unsigned long long)c->seq, (unsigned long long)(id >> 16));
	if (c->seq > a->seq)
		return vproblem(
		    v,
		    "calls record %llu/%llu: made by seq %llu, "
		    "after the actor's newest entry (seq %llu)",
		    (unsigned long long)actor, (unsigned long long)id,
		    (unsigned long long)c->seq, (unsigned long long)a->seq);
	return 0;
}

static int v_ingress(vstate *v, const MDB_val *k, const unsigned char *body,
		     size_t len)
{
	if (k->mv_size < 1 || k->mv_size > MN_KEY_MAX)
		return vproblem(v, "ingress record: a %zu-byte client key",
				k->mv_size);
	if (!mnemo__ingress_key__unpack(mn__arena_for(len), len, body))
		return vproblem(v, "ingress record: undecodable");
	return 0;
}

static int v_ingress_age(vstate *v, const MDB_val *k, const unsigned char *body,
			 size_t len)
{
	(void)body;
	if (k->mv_size < 9 || k->mv_size > 8 + MN_KEY_MAX || len != 0)
		return vproblem(v,
				"ingress_age record (%zu-byte key, %zu-byte "
				"body): not (time, client key)",
				k->mv_size, len);
	return 0;
}

static int v_meta_record(void *arg, mn__scan_at *at)
{
	vstate *v = arg;
	const MDB_val *k = &at->k;
	const unsigned char *body;
	size_t len;
	v->records++;
	if (k->mv_size == 6 && !memcmp(k->mv_data, "header", 6))
		return 0; /* read and checked at open */
	if (k->mv_size == 5 && !memcmp(k->mv_data, "state", 5))
		return 0; /* read at open and by verify */
	if (k->mv_size == DEL_KEY_LEN && !memcmp(k->mv_data, "del:", 4)) {
		uint64_t id = mn__be64_get((unsigned char *)k->mv_data + 4);
		if (mn__frame_open(v->s, &at->v, R_NAME, DB_META,
				   MN__FRAME_NAMED, "del:", &body, &len))
			return vproblem(v, "%s", mn__detail_raw());
		if (len != 8 || mn__be64_get(body) != id)
			return vproblem(v,
					"meta record del:%llu: its key is not "
					"the actor it names (damaged key?)",
					(unsigned long long)id);
		if (!vact_find(v, id))
			return vproblem(v,
					"meta record del:%llu: no such actor",
					(unsigned long long)id);
		return 0;
	}
	return vproblem(v,
			"meta record (%zu-byte key): not one of mnemo's "
			"(damaged key?)",
			k->mv_size);
}

/* meta holds "header", "state" and deletion markers, nothing else. */
static int v_meta(vstate *v)
{
	mn__scan_spec sp = {.dbi = v->s->dbi[DB_META],
			    .opening = "opening a cursor",
			    .reading = "walking meta"};
	return mn__scan(v->s, v->txn, &sp, v_meta_record, v);
}

/*
 * LMDB's free list (its database 0, readable with a cursor in a read
 * transaction): each record is keyed by the transaction that freed the
 * pages (a size_t not above this transaction's id), and its value is a
 * list of page numbers: a count, then that many numbers in descending
 * order, each between the meta pages and the last page. No page is listed
 * twice. When this transaction is the newest (no writer committed since it
 * began), every page up to the last is the meta pages, a page of a
 * database's tree (mdb_stat of each), or free: exactly, else pages are
 * lost or listed as free while in use. LMDB trusts its free list at the
 * next write: a damaged one makes the first commit fault or hand out a
 * page that is in use.
 */
typedef struct fl_scan {
	vstate *v;
	size_t txnid, last, nfree;
	unsigned char *seen; /* a bit per page */
} fl_scan;

/* One record of the free list: its key, its length, its pages. */
static int fl_record(void *arg, mn__scan_at *at)
{
	fl_scan *fl = arg;
	vstate *v = fl->v;
	const MDB_val *k = &at->k, *val = &at->v;
	size_t key = 0, n = 0, txnid = fl->txnid, last = fl->last;
	const unsigned char *d = val->mv_data;
	int rc = 0;
	v->records++;
	if (k->mv_size == sizeof key)
		memcpy(&key, k->mv_data, sizeof key);
	if (val->mv_size >= sizeof n)
		memcpy(&n, d, sizeof n);
	if (k->mv_size != sizeof key || key > txnid)
		return vproblem(v,
				"LMDB free list: a record keyed by "
				"transaction %zu (%zu-byte key; this "
				"transaction is %zu)",
				key, k->mv_size, txnid);
	if (val->mv_size % sizeof n || val->mv_size < sizeof n ||
	    n != val->mv_size / sizeof n - 1)
		return vproblem(v,
				"LMDB free list: transaction %zu's "
				"record says %zu pages in %zu bytes",
				key, n, val->mv_size);
	size_t prev = SIZE_MAX;
	for (size_t i = 1; i <= n && !rc; i++) {
		size_t pg;
		memcpy(&pg, d + i * sizeof pg, sizeof pg);
		if (pg < 2 || pg > last || pg >= prev)
			rc = vproblem(v,
				      "LMDB free list: transaction "
				      "%zu's record lists page %zu "
				      "(pages 2..%zu, descending)",
				      key, pg, last);
		else if (fl->seen[pg / 8] & (1u << (pg % 8)))
			rc = vproblem(v,
				      "LMDB free list: page %zu is "
				      "listed twice",
				      pg);
		else
			fl->seen[pg / 8] |= (unsigned char)(1u << (pg % 8));
		prev = pg;
	}
	fl->nfree += n;
	return rc;
}

static int v_freelist(vstate *v)
{
	mn__store *s = v->s;
	MDB_envinfo ei;
	MDB_stat st;
	fl_scan fl = {.v = v, .txnid = mdb_txn_id(v->txn)};
	uint64_t before = v->problems;
	mn__scan_spec sp = {.dbi = 0,
			    .opening = "opening the free list",
			    .reading = "walking the free list"};
	int rc = mdb_env_info(s->env, &ei);
	if (rc)
		return mn__st_mdb_fail(s, rc, "reading the environment's info");
	size_t last = fl.last = ei.me_last_pgno;
	bool exact = ei.me_last_txnid == fl.txnid;
	if (!(fl.seen = calloc(last / 8 + 1, 1)))
		return MN_ENOMEM;
	rc = mn__scan(s, v->txn, &sp, fl_record, &fl);
	free(fl.seen);
	if (rc || !exact || v->problems != before)
		return rc; /* a damaged list counts nothing */
	/* Count the pages of every tree: the free list's (0), the main
	 * database's (1, naming the others) and each of ours. */
	size_t used = 2 + fl.nfree; /* the two meta pages */
	for (int i = -2; i < DB_COUNT && !rc; i++) {
		if ((i == DB_QUARANTINE && s->no_quarantine) ||
		    (i == DB_CALLS && s->no_calls) ||
		    ((i == DB_INGRESS || i == DB_INGRESS_AGE) && s->no_ingress))
			continue;
		MDB_dbi dbi = i == -2 ? 0 : i == -1 ? 1 : s->dbi[i];
		if ((rc = mdb_stat(v->txn, dbi, &st)))
			return mn__st_mdb_fail(s, rc, "stat");
		used += st.ms_branch_pages + st.ms_leaf_pages +
			st.ms_overflow_pages;
	}
	if (used != last + 1)
		rc = vproblem(v,
			      "LMDB pages: %zu in use or free, the file's "
			      "last page is %zu (%zu pages): pages lost or "
			      "listed free while in use",
			      used, last, last + 1);
	return rc;
}

int mn__store_verify(mn__store *s, mn__codec *codec, mn__problem_cb problem,
		     void *arg, uint64_t *nrecords, uint64_t *nproblems)
{
	vstate v = {.s = s, .codec = codec, .problem = problem, .arg = arg};
	MDB_txn *txn;
	Mnemo__StoreState *state;
	int rc = mn__st_txn_begin(s, false, &txn);
	if (rc)
		return mn__st_mdb_fail(s, rc, "beginning a read");
	v.txn = txn;
	mn__buf_init(&v.dst);
	if ((rc = mn__st_read_state(s, txn, &state)) == 0) {
		v.ckpt_lsn = state->checkpoint_lsn;
		mnemo__store_state__free_unpacked(state, NULL);
	}
	if (!rc && !(rc = verify_db(&v, txn, DB_KINDS, R_KIND, v_kind)) &&
	    !(rc = verify_db(&v, txn, DB_DICTS, R_DICT, v_dict)) &&
	    !(rc = verify_db(&v, txn, DB_NAMES, R_NAME, v_name)) &&
	    !(rc = verify_db(&v, txn, DB_ACTORS, R_ACTOR, v_actor)) &&
	    !(rc = verify_db(&v, txn, DB_LOG, R_ENTRY, v_entry)) &&
	    !(rc = verify_db(&v, txn, DB_OUTBOX, R_OUTBOX, v_outbox)) &&
	    (s->no_quarantine ||
	     !(rc = verify_db(&v, txn, DB_QUARANTINE, R_OUTBOX, v_outbox))) &&
	    !(rc = verify_db(&v, txn, DB_SNAPSHOTS, R_SNAPSHOT, v_snapshot)) &&
	    !(rc = verify_db(&v, txn, DB_TIMERS, R_TIMER, v_timer)) &&
	    (s->no_calls ||
	     !(rc = verify_db(&v, txn, DB_CALLS, R_CALL, v_call))) &&
	    (s->no_ingress ||
	     (!(rc = verify_db(&v, txn, DB_INGRESS, R_INGRESS, v_ingress)) &&
	      !(rc = verify_db(&v, txn, DB_INGRESS_AGE, R_INGRESS,
			       v_ingress_age)))) &&
	    !(rc = v_meta(&v)))
		rc = v_freelist(&v);
	if (!rc) {
		/* Heads, as this transaction sees them: never past the
		 * actor's newest entry, and exact up to the checkpoint (the
		 * entries after it are the tail, whose heads the next open
		 * repairs: a live runtime writes them at its checkpoints). */
		for (size_t i = 0; i < v.nacts && !rc; i++) {
			const struct vact *a = &v.acts[i];
			if (a->head != a->lsn &&
			    (a->head > a->lsn || a->head < a->lsn_ckpt))
				rc = vproblem(&v,
					      "actors record %llu: head at LSN "
					      "%llu, newest entry at %llu",
					      (unsigned long long)a->id,
					      (unsigned long long)a->head,
					      (unsigned long long)a->lsn);
		}
	}
	mn__st_txn_abort(s, txn);
	mn__buf_free(&v.dst);
	free(v.acts);
	*nrecords = v.records;
	*nproblems = v.problems;
	return rc;
}
