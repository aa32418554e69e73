/*
 * catalog.c - what names things in a store: kinds (name <-> id, cached in
 * memory under kinds_mu), compression dictionaries, actor records and the
 * names that lead to them.
 *
 * Owns: a name leads to an actor record that names the same kind and key,
 * else MN_ECORRUPT (a damaged key is reported, never taken for a new
 * actor: name_damaged). Threads: any; kind registration and dictionaries
 * serialise on kinds_mu.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/frame.h"
#include "storage/scan.h"
#include "storage/store_int.h"

static int load_dict(void *arg, mn__scan_at *at)
{
	mn__store *s = arg;
	const unsigned char *body;
	size_t len;
	int e = mn__frame_open(s, &at->v, R_DICT, DB_DICTS, MN__FRAME_NAMED,
			       "dict", &body, &len);
	if (e)
		return e;
	Mnemo__Dictionary *d = mnemo__dictionary__unpack(NULL, len, body);
	if (!d)
		return mn__st_fail(s, MN_ECORRUPT, "dicts: undecodable record");
	e = mn__dictset_add(s->dicts, d->id, d->dict.data, d->dict.len);
	mnemo__dictionary__free_unpacked(d, NULL);
	if (e && e != MN_EEXIST)
		return mn__st_fail(s, e, "dictionary rejected by zstd");
	return 0;
}

int mn__st_load_dicts(mn__store *s, MDB_txn *txn)
{
	mn__scan_spec sp = {.dbi = s->dbi[DB_DICTS],
			    .opening = "opening the dictionaries",
			    .reading = "reading dictionaries"};
	return mn__scan(s, txn, &sp, load_dict, s);
}

/* ---- kinds -----------------------------------------------------------------
 */

static int load_kind(void *arg, mn__scan_at *at)
{
	mn__store *s = arg;
	const unsigned char *body;
	size_t len;
	int e = mn__frame_open(s, &at->v, R_KIND, DB_KINDS, MN__FRAME_NAMED,
			       "kind", &body, &len);
	if (e)
		return e;
	Mnemo__KindRecord *kr = mnemo__kind_record__unpack(NULL, len, body);
	if (!kr || !kr->name || strlen(kr->name) > MN_KIND_NAME_MAX ||
	    s->nkinds == KINDS_CACHE) {
		if (kr)
			mnemo__kind_record__free_unpacked(kr, NULL);
		return mn__st_fail(s, MN_ECORRUPT, "kinds: bad record");
	}
	s->kinds[s->nkinds].id = kr->id;
	s->kinds[s->nkinds].dict_id = kr->dict_id;
	strcpy(s->kinds[s->nkinds].name, kr->name);
	s->nkinds++;
	mnemo__kind_record__free_unpacked(kr, NULL);
	return 0;
}

int mn__st_load_kinds(mn__store *s, MDB_txn *txn)
{
	mn__scan_spec sp = {.dbi = s->dbi[DB_KINDS],
			    .opening = "opening kinds",
			    .reading = "reading kinds"};
	s->nkinds = 0;
	return mn__scan(s, txn, &sp, load_kind, s);
}

int mn__store_kind_id(mn__store *s, const char *name, uint32_t *id)
{
	MDB_txn *txn;
	int rc = 0;
	size_t nlen = strlen(name);

	if (nlen == 0 || nlen > MN_KIND_NAME_MAX)
		return MN_EINVAL;
	pthread_mutex_lock(&s->kinds_mu);
	for (unsigned i = 0; i < s->nkinds; i++) {
		if (strcmp(s->kinds[i].name, name) == 0) {
			*id = s->kinds[i].id;
			goto out_unlock;
		}
	}
	if (s->read_only) {
		rc = mn__st_fail(s, MN_ENOKIND, "no kind named %s", name);
		goto out_unlock;
	}
	if (s->nkinds == KINDS_CACHE) {
		rc = mn__st_fail(s, MN_ELIMIT, "too many kinds");
		goto out_unlock;
	}
	if ((rc = mn__st_txn_begin(s, true, &txn))) {
		rc = mn__st_mdb_fail(s, rc, "registering a kind");
		goto out_unlock;
	}
	Mnemo__KindRecord kr = MNEMO__KIND_RECORD__INIT;
	kr.id = s->nkinds + 1; /* dense, from 1, in registration order */
	kr.name = (char *)name;
	MDB_val k = {.mv_size = nlen, .mv_data = (void *)name};
	if ((rc = mn__frame_put(s, txn, DB_KINDS, &k, &kr.base, R_KIND, 0))) {
		mn__st_txn_abort(s, txn);
		rc = mn__st_mdb_fail(s, rc, "writing a kind");
		goto out_unlock;
	}
	if ((rc = mn__st_txn_commit(s, txn))) {
		rc = mn__st_mdb_fail(s, rc, "committing a kind");
		goto out_unlock;
	}
	s->kinds[s->nkinds].id = kr.id;
	s->kinds[s->nkinds].dict_id = 0;
	strcpy(s->kinds[s->nkinds].name, name);
	s->nkinds++;
	*id = kr.id;
out_unlock:
	pthread_mutex_unlock(&s->kinds_mu);
	return rc;
}

int mn__store_kind_name(mn__store *s, uint32_t id, char *buf, size_t cap)
{
	int rc = MN_ENOKIND;
	pthread_mutex_lock(&s->kinds_mu);
	for (unsigned i = 0; i < s->nkinds; i++) {
		if (s->kinds[i].id == id) {
			snprintf(buf, cap, "%s", s->kinds[i].name);
			rc = 0;
			break;
		}
	}
	pthread_mutex_unlock(&s->kinds_mu);
	return rc;
}

uint32_t mn__store_kind_dict(mn__store *s, uint32_t kind_id)
{
	uint32_t d = 0;
	pthread_mutex_lock(&s->kinds_mu);
	for (unsigned i = 0; i < s->nkinds; i++)
		if (s->kinds[i].id == kind_id)
			d = s->kinds[i].dict_id;
	pthread_mutex_unlock(&s->kinds_mu);
	return d;
}

int mn__store_dict_add(mn__store *s, uint32_t kind_id, const void *dict,
		       size_t len, uint32_t *id)
{
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_val k, v;
	unsigned char kb[4];
	uint32_t next = 1;
	unsigned ki;
	int rc;

	pthread_mutex_lock(&s->kinds_mu);
	for (ki = 0; ki < s->nkinds && s->kinds[ki].id != kind_id; ki++)
		;
	if (ki == s->nkinds) {
		pthread_mutex_unlock(&s->kinds_mu);
		return mn__st_fail(s, MN_ENOKIND,
				   "dictionary for unknown kind %u", kind_id);
	}
	if ((rc = mn__st_maybe_grow(s)) ||
	    (rc = mn__st_txn_begin(s, true, &txn))) {
		pthread_mutex_unlock(&s->kinds_mu);
		return rc > 0 ? mn__st_mdb_fail(s, rc, "storing a dictionary")
			      : rc;
	}
	if ((rc = mdb_cursor_open(txn, s->dbi[DB_DICTS], &c)) == 0) {
		if (mdb_cursor_get(c, &k, &v, MDB_LAST) == 0 && k.mv_size == 4)
			next =
			    ((uint32_t)((unsigned char *)k.mv_data)[0] << 24 |
			     (uint32_t)((unsigned char *)k.mv_data)[1] << 16 |
			     (uint32_t)((unsigned char *)k.mv_data)[2] << 8 |
			     ((unsigned char *)k.mv_data)[3]) +
			    1;
		mdb_cursor_close(c);
	}
	Mnemo__Dictionary d = MNEMO__DICTIONARY__INIT;
	d.id = next;
	d.kind_id = kind_id;
	d.created_unix_ms = mn__unix_ms();
	d.dict.data = (uint8_t *)dict;
	d.dict.len = len;
	mn__be32_put(kb, next);
	k.mv_size = 4;
	k.mv_data = kb;
	Mnemo__KindRecord kr = MNEMO__KIND_RECORD__INIT;
	kr.id = kind_id;
	kr.name = s->kinds[ki].name;
	kr.dict_id = next;
	MDB_val kk = {.mv_size = strlen(kr.name), .mv_data = kr.name};
	if (rc ||
	    (rc = mn__frame_put(s, txn, DB_DICTS, &k, &d.base, R_DICT, 0)) ||
	    (rc = mn__frame_put(s, txn, DB_KINDS, &kk, &kr.base, R_KIND, 0))) {
		mn__st_txn_abort(s, txn);
		pthread_mutex_unlock(&s->kinds_mu);
		return mn__st_mdb_fail(s, rc, "storing a dictionary");
	}
	if ((rc = mn__st_txn_commit(s, txn))) {
		pthread_mutex_unlock(&s->kinds_mu);
		return mn__st_commit_fail(s, rc);
	}
	/* Committed: now records may name it. */
	rc = mn__dictset_add(s->dicts, next, dict, len);
	if (rc == 0)
		s->kinds[ki].dict_id = next;
	pthread_mutex_unlock(&s->kinds_mu);
	if (rc)
		return mn__st_fail(s, rc, "dictionary %u rejected by zstd",
				   next);
	*id = next;
	return 0;
}

/* ---- actors ----------------------------------------------------------------
 */

int mn__st_meta_get(mn__store *s, MDB_txn *txn, uint64_t id,
		    Mnemo__ActorMeta **out)
{
	unsigned char kb[8];
	char desc[32];
	MDB_val k = {.mv_size = 8, .mv_data = kb}, v;
	const unsigned char *body;
	size_t len;
	mn__be64_put(kb, id);
	snprintf(desc, sizeof desc, "%llu", (unsigned long long)id);
	int rc = mdb_get(txn, s->dbi[DB_ACTORS], &k, &v);
	if (rc == MDB_NOTFOUND)
		return mn__st_fail(s, MN_ENOACTOR, "actors record %s: missing",
				   desc);
	if (rc)
		return mn__st_mdb_fail(s, rc, "reading an actor");
	if ((rc = mn__frame_open(s, &v, R_ACTOR, DB_ACTORS, MN__FRAME_NAMED,
				 desc, &body, &len)))
		return rc;
	*out = mnemo__actor_meta__unpack(NULL, len, body);
	if (!*out || (*out)->id != id || (*out)->key.len == 0 ||
	    (*out)->key.len > MN_KEY_MAX) {
		if (*out)
			mnemo__actor_meta__free_unpacked(*out, NULL);
		return mn__st_fail(s, MN_ECORRUPT,
				   "actors record %s: undecodable", desc);
	}
	return 0;
}

int mn__st_meta_put(mn__store *s, MDB_txn *txn, const Mnemo__ActorMeta *m)
{
	unsigned char kb[8];
	MDB_val k = {.mv_size = 8, .mv_data = kb};
	mn__be64_put(kb, m->id);
	int rc = mn__frame_put(s, txn, DB_ACTORS, &k, &m->base, R_ACTOR, 0);
	return rc ? mn__st_mdb_fail(s, rc, "writing an actor") : 0;
}

void mn__st_meta_copy(const mn__store *s, const Mnemo__ActorMeta *m,
		      mn__actor_meta *out)
{
	out->id = m->id;
	out->kind_id = m->kind_id;
	out->key_len = (uint8_t)m->key.len;
	memcpy(out->key, m->key.data, m->key.len);
	out->last_seq = m->last_seq;
	out->last_lsn = m->last_lsn;
	out->first_lsn = m->first_lsn;
	out->snapshot_seq = m->snapshot_seq;
	out->created_unix_ms = m->created_unix_ms;
	out->last_active_unix_ms = m->last_active_unix_ms;
	out->compacted_seq = m->compacted_seq;
	out->compacted_lsn = m->compacted_lsn;
	out->fork_parent_id = m->fork_parent_id;
	out->fork_seq = m->fork_seq;
	out->fork_lsn = m->fork_lsn;
	const tail_head *t = s->ntail ? mn__st_tail_find(s, m->id) : NULL;
	if (t && t->lsn > out->last_lsn) {
		out->last_lsn = t->lsn;
		out->last_seq = t->seq;
		if (!out->first_lsn)
			out->first_lsn = t->first_lsn;
	}
}

int mn__store_actor_get(mn__store *s, uint64_t id, mn__actor_meta *out)
{
	MDB_txn *txn;
	Mnemo__ActorMeta *m;
	int rc = mn__st_txn_begin(s, false, &txn);
	if (rc)
		return mn__st_mdb_fail(s, rc, "beginning a read");
	rc = mn__st_meta_get(s, txn, id, &m);
	if (rc == 0) {
		mn__st_meta_copy(s, m, out);
		mnemo__actor_meta__free_unpacked(m, NULL);
	}
	mn__st_txn_abort(s, txn);
	return rc;
}

size_t mn__st_name_key(unsigned char *kb, uint32_t kind_id, const void *key,
		       size_t key_len)
{
	mn__be32_put(kb, kind_id);
	memcpy(kb + 4, key, key_len);
	return 4 + key_len;
}

/* Does actor id's record name (kind_id, key)? 1 yes, 0 no or unreadable. */
static int names_it(mn__store *s, MDB_txn *txn, uint64_t id, uint32_t kind_id,
		    const void *key, size_t key_len)
{
	Mnemo__ActorMeta *m;
	if (mn__st_meta_get(s, txn, id, &m))
		return 0;
	int yes = m->kind_id == kind_id && m->key.len == key_len &&
		  memcmp(m->key.data, key, key_len) == 0;
	mnemo__actor_meta__free_unpacked(m, NULL);
	return yes;
}

/* LMDB's order of keys (memcmp, then length). */
static int key_cmp(const MDB_val *a, const MDB_val *b)
{
	size_t n = a->mv_size < b->mv_size ? a->mv_size : b->mv_size;
	int c = memcmp(a->mv_data, b->mv_data, n);
	return c ? c : (a->mv_size > b->mv_size) - (a->mv_size < b->mv_size);
}

/* Keys read either side of a missed name: NAME_SIDE before and after. */
#define NAME_SIDE 2

/*
 * (kind_id, key) has no names record: is it there under a damaged key, or
 * did a damaged key send the lookup astray? LMDB keys carry no checksum. A
 * flipped byte in a name's key leaves the record in its slot of the leaf
 * page, and LMDB's binary search within the page then goes wrong when it
 * compares with that key: it misses the damaged name itself and may miss
 * a sound name near it. Either way the search ends beside the damaged key.
 * So the NAME_SIDE keys either side of where (kind_id, key) would be are
 * read: keys out of order there (LMDB never stores them so) are damage;
 * and one of the same length (a flipped byte keeps it) that leads to an
 * actor whose record names exactly (kind_id, key) is the damaged name.
 * Both are MN_ECORRUPT, so the actor is reported broken rather than
 * created anew with no history. A sound name of (kind_id, key) that the
 * search missed is the actor: 0 and its id in *found. Otherwise returns
 * MN_ENOACTOR (a new actor), MN_ECORRUPT or an LMDB failure.
 *
 * Limits (docs/semantics.md): damage that changes a key's length, that
 * sits in a branch page's separator key (which routes a lookup to the
 * wrong leaf), or in LMDB's page headers, is not guaranteed to be seen.
 */
static int name_damaged(mn__store *s, MDB_txn *txn, const MDB_val *want,
			uint32_t kind_id, const void *key, size_t key_len,
			uint64_t *found)
{
	MDB_cursor *c;
	MDB_val k, v;
	/* win[lo..hi): names in cursor order; those at and after where
	 * want would be start at NAME_SIDE. */
	struct {
		MDB_val k;
		uint64_t id; /* 0: the value is unreadable */
	} win[2 * NAME_SIDE];
	int lo = NAME_SIDE, hi = NAME_SIDE, e;
	int rc = mdb_cursor_open(txn, s->dbi[DB_NAMES], &c);
	if (rc)
		return mn__st_mdb_fail(s, rc, "opening a cursor");
	for (int pass = 0; pass < 2; pass++) {
		k = *want;
		e = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
		if (pass == 1)
			e = mdb_cursor_get(
			    c, &k, &v, e == MDB_NOTFOUND ? MDB_LAST : MDB_PREV);
		for (int i = 0; i < NAME_SIDE && e == 0; i++) {
			const unsigned char *body;
			size_t len;
			int at = pass == 0 ? hi++ : --lo;
			win[at].k = k;
			win[at].id = mn__frame_open(s, &v, R_NAME, DB_NAMES,
						    MN__FRAME_NAMED, "name",
						    &body, &len) ||
					     len != 8
					 ? 0
					 : mn__be64_get(body);
			e = mdb_cursor_get(c, &k, &v,
					   pass == 0 ? MDB_NEXT : MDB_PREV);
		}
		if (e != 0 && e != MDB_NOTFOUND) {
			mdb_cursor_close(c);
			return mn__st_mdb_fail(s, e, "reading names");
		}
	}
	/* Keys in order: a damaged name can only be where want would be
	 * (win[NAME_SIDE - 1] or win[NAME_SIDE]); out of order: anywhere in
	 * the window, and the search may have missed a sound name. */
	int bad = 0;
	for (int i = lo + 1; i < hi && !bad; i++)
		if (key_cmp(&win[i - 1].k, &win[i].k) >= 0)
			bad = i;
	rc = MN_ENOACTOR;
	for (int i = bad ? lo : NAME_SIDE - 1;
	     i < (bad ? hi : NAME_SIDE + 1) && rc == MN_ENOACTOR; i++)
		if (i >= lo && i < hi && win[i].k.mv_size == want->mv_size &&
		    win[i].id &&
		    names_it(s, txn, win[i].id, kind_id, key, key_len)) {
			if (key_cmp(&win[i].k, want) == 0) {
				/* A sound name the search missed (a damaged
				 * key beside it): it is this actor. */
				*found = win[i].id;
				rc = 0;
			} else {
				rc = mn__st_fail(
				    s, MN_ECORRUPT,
				    "names record of actor %llu: damaged "
				    "key",
				    (unsigned long long)win[i].id);
			}
		}
	if (rc == MN_ENOACTOR && bad)
		rc = mn__st_fail(
		    s, MN_ECORRUPT,
		    "names: keys out of order by actor %llu or %llu "
		    "(damaged key)",
		    (unsigned long long)win[bad - 1].id,
		    (unsigned long long)win[bad].id);
	mdb_cursor_close(c);
	if (rc == MN_ENOACTOR)
		mn__detail_clear(); /* the neighbours' reads are no detail */
	return rc;
}

/* mn__store_actor_find inside txn. The name leads to an id and the id to
 * an actor record that names the same kind and key, else MN_ECORRUPT: a
 * name whose actor record is missing (a damaged actors key) or names
 * another address, or a name found only under a damaged key. */
int mn__st_actor_find_txn(mn__store *s, MDB_txn *txn, uint32_t kind_id,
			  const void *key, size_t key_len, mn__actor_meta *out)
{
	unsigned char kb[4 + MN_KEY_MAX];
	MDB_val k = {.mv_data = kb}, v;
	const unsigned char *body;
	size_t len;

	k.mv_size = mn__st_name_key(kb, kind_id, key, key_len);
	uint64_t id = 0;
	int rc = mdb_get(txn, s->dbi[DB_NAMES], &k, &v);
	if (rc == MDB_NOTFOUND) {
		if ((rc = name_damaged(s, txn, &k, kind_id, key, key_len, &id)))
			return rc;
	} else if (rc) {
		return mn__st_mdb_fail(s, rc, "reading a name");
	} else {
		rc = mn__frame_open(s, &v, R_NAME, DB_NAMES, MN__FRAME_NAMED,
				    "name", &body, &len);
		if (rc)
			return rc;
		if (len != 8)
			return mn__st_fail(s, MN_ECORRUPT,
					   "names record: %zu bytes", len);
		id = mn__be64_get(body);
	}
	Mnemo__ActorMeta *m;
	rc = mn__st_meta_get(s, txn, id, &m);
	if (rc == MN_ENOACTOR)
		/* Names and actors are written in one transaction, and a
		 * deletion removes the name first: a name without its actor
		 * is damage (an actors key changed), never a new actor. */
		return mn__st_fail(
		    s, MN_ECORRUPT,
		    "actors record %llu is missing, its name leads "
		    "to it (damaged key)",
		    (unsigned long long)id);
	if (rc)
		return rc;
	mn__st_meta_copy(s, m, out);
	mnemo__actor_meta__free_unpacked(m, NULL);
	if (out->kind_id != kind_id || out->key_len != key_len ||
	    memcmp(out->key, key, key_len) != 0)
		return mn__st_fail(s, MN_ECORRUPT,
				   "names and actors disagree for actor %llu",
				   (unsigned long long)out->id);
	return 0;
}

int mn__store_actor_find(mn__store *s, uint32_t kind_id, const void *key,
			 size_t key_len, mn__actor_meta *out)
{
	MDB_txn *txn;
	if (key_len == 0 || key_len > MN_KEY_MAX)
		return MN_EKEY;
	int rc = mn__st_txn_begin(s, false, &txn);
	if (rc)
		return mn__st_mdb_fail(s, rc, "beginning a read");
	rc = mn__st_actor_find_txn(s, txn, kind_id, key, key_len, out);
	mn__st_txn_abort(s, txn);
	return rc;
}

int mn__store_kinds_scan(mn__store *s, mn__kind_cb cb, void *arg)
{
	int rc = 0;
	/* The cache holds every kind (loaded at open, kept by registration);
	 * copy it so the callback runs unlocked. */
	pthread_mutex_lock(&s->kinds_mu);
	unsigned n = s->nkinds;
	struct {
		uint32_t id, dict;
		char name[MN_KIND_NAME_MAX + 1];
	} *k = malloc((n ? n : 1) * sizeof *k);
	for (unsigned i = 0; k && i < n; i++) {
		k[i].id = s->kinds[i].id;
		k[i].dict = s->kinds[i].dict_id;
		strcpy(k[i].name, s->kinds[i].name);
	}
	pthread_mutex_unlock(&s->kinds_mu);
	if (!k)
		return MN_ENOMEM;
	for (unsigned i = 0; i < n && !rc; i++)
		rc = cb(arg, k[i].id, k[i].name, k[i].dict);
	free(k);
	return rc;
}
