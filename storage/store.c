/*
 * store.c - the LMDB environment of a store: opening and recovery, framed
 * and checksummed records, batched writes with map growth, and reads.
 *
 * Every value is framed: an 8-byte header (CRC-32C of the rest, record
 * type, frame version) then the record (a protobuf message, or a raw id).
 * LMDB does not checksum data, so every read verifies the frame and a
 * mismatch is MN_ECORRUPT naming the database and key.
 *
 * Map growth: mdb_env_set_mapsize may only run with no transaction open in
 * the process, so every transaction runs under map_lock held shared, and
 * growing takes it exclusively (between two batches of the writer).
 */
#include "storage/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "include/mnemo.h"
#include "schema/mnemo.pb-c.h"
#include "storage/crc32c.h"
#include "storage/mdbfile.h"

enum rtype {
	R_HEADER = 1,
	R_STATE = 2,
	R_KIND = 3,
	R_ACTOR = 4,
	R_NAME = 5,
	R_ENTRY = 6,
	R_SNAPSHOT = 7,
	R_OUTBOX = 8,
	R_TIMER = 9,
	R_DICT = 10,
};

/* The quarantine holds outbox records (R_OUTBOX). */

#define FRAME_HDR 8
#define FRAME_VERSION 1

enum dbi_index {
	DB_META,
	DB_KINDS,
	DB_NAMES,
	DB_ACTORS,
	DB_LOG,
	DB_SNAPSHOTS,
	DB_OUTBOX,
	DB_TIMERS,
	DB_DICTS,
	DB_QUARANTINE, /* added after version 1's first stores: optional */
	DB_COUNT
};

static const char *const db_names[DB_COUNT] = {
	"meta", "kinds", "names", "actors", "log",
	"snapshots", "outbox", "timers", "dicts", "quarantine",
};

/* Kinds cached in memory: few, read often (name <-> id). */
#define KINDS_CACHE 256

struct mn__store {
	/* Immutable after open. */
	char *path;
	MDB_env *env;
	MDB_dbi dbi[DB_COUNT];
	bool read_only;
	bool no_quarantine; /* read-only open of a store that has none */
	int lock_fd;
	mn__dictset *dicts;

	/* Shared by every transaction, exclusive to grow the map. */
	pthread_rwlock_t map_lock;

	/* Writer thread only (mn__store_write). */
	uint64_t last_lsn;
	size_t map_size;

	/* Read-only opens: heads implied by the log after the checkpoint,
	 * sorted by actor id (immutable after open). */
	struct tail_head *tail;
	size_t ntail;

	/* Kind cache: under kinds_mu. */
	pthread_mutex_t kinds_mu;
	unsigned nkinds;
	struct {
		uint32_t id;
		uint32_t dict_id;
		char name[MN_KIND_NAME_MAX + 1];
	} kinds[KINDS_CACHE];
};

/* ---- errors --------------------------------------------------------------- */

static _Thread_local char errdetail[512];
/* The raw LMDB code of the last mdb_fail in this thread. */
static _Thread_local int last_mdb_rc;

const char *mn__store_errdetail(void)
{
	return errdetail[0] ? errdetail : "no detail";
}

void mn__store_set_errdetail(const char *detail)
{
	snprintf(errdetail, sizeof errdetail, "%s", detail);
}

__attribute__((format(printf, 3, 4))) static int
fail(const mn__store *s, int code, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(errdetail, sizeof errdetail, "store %s: ",
			 s && s->path ? s->path : "?");
	if (n < 0 || (size_t)n >= sizeof errdetail)
		n = 0;
	va_start(ap, fmt);
	vsnprintf(errdetail + n, sizeof errdetail - (size_t)n, fmt, ap);
	va_end(ap);
	return code;
}

/* Translate an LMDB (or errno) result. */
static int mdb_code(int rc)
{
	switch (rc) {
	case MDB_SUCCESS:
		return 0;
	case MDB_NOTFOUND:
		return MN_ENOACTOR;
	case MDB_MAP_FULL:
		return MN_ENOSPC;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_BAD_TXN:
	case MDB_BAD_VALSIZE:
		return MN_ECORRUPT;
	case MDB_VERSION_MISMATCH:
	case MDB_INVALID:
		return MN_EVERSION;
	case ENOSPC:
	case EDQUOT:
	case EFBIG:
		return MN_ENOSPC;
	case ENOMEM:
		return MN_ENOMEM;
	case EACCES:
	case EROFS:
	case EIO:
		return MN_EIO;
	case EAGAIN:
	case EBUSY:
		return MN_EBUSY;
	default:
		return MN_EIO;
	}
}

static int mdb_fail(const mn__store *s, int rc, const char *what)
{
	last_mdb_rc = rc;
	return fail(s, mdb_code(rc), "%s: %s", what, mdb_strerror(rc));
}

/* ---- keys and frames ------------------------------------------------------- */

static inline void be64_put(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (unsigned char)v;
		v >>= 8;
	}
}

static inline uint64_t be64_get(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static inline void be32_put(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static inline void le32_put(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static inline uint32_t le32_get(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* Finish a frame whose body (len bytes) is already at p + FRAME_HDR. */
static void frame_seal(unsigned char *p, enum rtype t, size_t len)
{
	p[4] = (unsigned char)t;
	p[5] = FRAME_VERSION;
	p[6] = p[7] = 0;
	le32_put(p, mn__crc32c(0, p + 4, len + FRAME_HDR - 4));
}

/* Check a stored frame; on success *body and *len describe the record. */
static int frame_open(const mn__store *s, const MDB_val *v, enum rtype t,
		      int db, const char *keydesc, const unsigned char **body,
		      size_t *len)
{
	const unsigned char *p = v->mv_data;
	if (!keydesc) {
		/* Quiet check: only the verdict (callers then call again
		 * with the record's name to report it). */
		if (v->mv_size < FRAME_HDR ||
		    le32_get(p) != mn__crc32c(0, p + 4, v->mv_size - 4) ||
		    p[5] != FRAME_VERSION || p[4] != t)
			return MN_ECORRUPT;
		*body = p + FRAME_HDR;
		*len = v->mv_size - FRAME_HDR;
		return 0;
	}
	if (v->mv_size < FRAME_HDR)
		return fail(s, MN_ECORRUPT, "%s record %s: truncated (%zu bytes)",
			    db_names[db], keydesc, v->mv_size);
	if (le32_get(p) != mn__crc32c(0, p + 4, v->mv_size - 4))
		return fail(s, MN_ECORRUPT, "%s record %s: checksum mismatch",
			    db_names[db], keydesc);
	if (p[5] != FRAME_VERSION)
		return fail(s, MN_EVERSION,
			    "%s record %s: frame version %u, this build reads %u",
			    db_names[db], keydesc, p[5], FRAME_VERSION);
	if (p[4] != t)
		return fail(s, MN_ECORRUPT,
			    "%s record %s: record type %u where %u belongs",
			    db_names[db], keydesc, p[4], (unsigned)t);
	*body = p + FRAME_HDR;
	*len = v->mv_size - FRAME_HDR;
	return 0;
}

/* Put a protobuf message framed into db (MDB_RESERVE: packed in place). */
static int put_msg(const mn__store *s, MDB_txn *txn, int db, MDB_val *key,
		   const ProtobufCMessage *m, enum rtype t, unsigned flags)
{
	size_t len = protobuf_c_message_get_packed_size(m);
	MDB_val v = {.mv_size = len + FRAME_HDR, .mv_data = NULL};
	int rc = mdb_put(txn, s->dbi[db], key, &v, flags | MDB_RESERVE);
	if (rc)
		return rc;
	protobuf_c_message_pack(m, (uint8_t *)v.mv_data + FRAME_HDR);
	frame_seal(v.mv_data, t, len);
	return 0;
}

/*
 * Unpacking allocates through protobuf-c's allocator: a per-thread arena
 * that is reset before every record, so decoding a journal entry costs no
 * malloc in the steady state.
 */
typedef struct arena {
	unsigned char *buf;
	size_t cap, used;
	/* Allocations that did not fit (each a malloc with a 16-byte header
	 * linking it here): freed at the next reset, since callers drop
	 * arena-decoded records without freeing them. */
	unsigned char *spill;
} arena;

static void arena_spill_free(arena *a)
{
	while (a->spill) {
		unsigned char *next;
		memcpy(&next, a->spill, sizeof next);
		free(a->spill);
		a->spill = next;
	}
}

static _Thread_local arena tl_arena;

/* The arena's buffer is freed when its thread exits (a pthread key whose
 * value is the thread's arena, so its destructor runs at thread exit). */
static pthread_key_t arena_key;
static pthread_once_t arena_once = PTHREAD_ONCE_INIT;

static void arena_release(void *p)
{
	arena *a = p;
	arena_spill_free(a);
	free(a->buf);
	a->buf = NULL;
	a->cap = a->used = 0;
}

static void arena_key_make(void)
{
	pthread_key_create(&arena_key, arena_release);
}

static void *arena_alloc(void *ad, size_t size)
{
	arena *a = ad;
	size = (size + 15) & ~(size_t)15;
	if (a->used + size > a->cap) {
		/* Overflow: a malloc on the spill list, freed at the next
		 * reset. Rare: the arena is sized for the record (arena_for);
		 * only records of many tiny fields (damage) get here. */
		unsigned char *p = malloc(size + 16);
		if (!p)
			return NULL;
		memcpy(p, &a->spill, sizeof a->spill);
		a->spill = p;
		return p + 16;
	}
	void *p = a->buf + a->used;
	a->used += size;
	return p;
}

static void arena_free(void *ad, void *p)
{
	/* Nothing one at a time: the arena (and its spill list) is released
	 * whole at the next reset. */
	(void)ad;
	(void)p;
}

/* Prepare the arena for a record of len bytes. */
static ProtobufCAllocator *arena_for(size_t len)
{
	static _Thread_local ProtobufCAllocator alloc;
	arena *a = &tl_arena;
	size_t want = len * 2 + 1024;
	arena_spill_free(a);
	if (a->cap < want) {
		if (!a->buf) {
			pthread_once(&arena_once, arena_key_make);
			pthread_setspecific(arena_key, a);
		}
		free(a->buf);
		a->buf = malloc(want);
		a->cap = a->buf ? want : 0;
	}
	a->used = 0;
	alloc.alloc = arena_alloc;
	alloc.free = arena_free;
	alloc.allocator_data = a;
	return &alloc;
}

/* ---- transactions ---------------------------------------------------------- */

/* Transactions this thread holds open (of any store): a thread that holds
 * one must never wait for map_lock's write side, which waits for it. */
static _Thread_local int txns_held;

/* The read transaction this thread holds open on a read-only store (a
 * tool's), and how many reads begun inside it share it: a nested read
 * reuses it, so everything a command reads inside one transaction is one
 * snapshot, and no new transaction is begun that another process's map
 * growth refuses (MDB_MAP_RESIZED, which cannot be adopted while one is
 * open). A writable store's map grows only in this process. */
static _Thread_local struct {
	mn__store *s;
	MDB_txn *txn;
	int nested;
} rd_txn;

static int txn_begin(mn__store *s, bool write, MDB_txn **txn)
{
	if (!write && rd_txn.txn && rd_txn.s == s) {
		rd_txn.nested++;
		*txn = rd_txn.txn;
		return 0;
	}
	for (int attempt = 0;; attempt++) {
		pthread_rwlock_rdlock(&s->map_lock);
		int rc = mdb_txn_begin(s->env, NULL, write ? 0 : MDB_RDONLY,
				       txn);
		if (rc == 0) {
			txns_held++;
			if (!write && s->read_only && !rd_txn.txn) {
				rd_txn.s = s;
				rd_txn.txn = *txn;
				rd_txn.nested = 0;
			}
			return 0;
		}
		pthread_rwlock_unlock(&s->map_lock);
		/* Adopting a map another process grew needs no transaction
		 * of this process open: with one held here, say so rather
		 * than wait for ourselves. */
		if (rc != MDB_MAP_RESIZED || attempt > 0 || txns_held)
			return rc;
		/* Another process (a live runtime, when this is a tool)
		 * grew the map: adopt its size, with no transaction open. */
		pthread_rwlock_wrlock(&s->map_lock);
		mdb_env_set_mapsize(s->env, 0);
		pthread_rwlock_unlock(&s->map_lock);
	}
}

/* A nested read's end (it shares the open one): true when it was. */
static bool rd_txn_end(MDB_txn *txn)
{
	if (txn != rd_txn.txn)
		return false;
	if (rd_txn.nested) {
		rd_txn.nested--;
		return true;
	}
	rd_txn.txn = NULL;
	rd_txn.s = NULL;
	return false;
}

static void txn_abort(mn__store *s, MDB_txn *txn)
{
	if (rd_txn_end(txn))
		return;
	mdb_txn_abort(txn);
	txns_held--;
	pthread_rwlock_unlock(&s->map_lock);
}

static int txn_commit(mn__store *s, MDB_txn *txn)
{
	if (rd_txn_end(txn))
		return 0;
	int rc = mdb_txn_commit(txn);
	txns_held--;
	pthread_rwlock_unlock(&s->map_lock);
	return rc;
}

/* Double the map (no transaction of this process may be open). */
static int grow_map(mn__store *s)
{
	pthread_rwlock_wrlock(&s->map_lock);
	size_t want = s->map_size * 2;
	int rc = mdb_env_set_mapsize(s->env, want);
	if (rc == 0)
		s->map_size = want;
	pthread_rwlock_unlock(&s->map_lock);
	return rc ? mdb_fail(s, rc, "growing the map") : 0;
}

/* Grow ahead of need when the map is three quarters used. */
static int maybe_grow(mn__store *s)
{
	MDB_envinfo info;
	MDB_stat st;
	mdb_env_info(s->env, &info);
	mdb_env_stat(s->env, &st);
	size_t used = (info.me_last_pgno + 1) * (size_t)st.ms_psize;
	if (info.me_mapsize > s->map_size)
		s->map_size = info.me_mapsize; /* grown by another process */
	if (used * 4 < s->map_size * 3)
		return 0;
	return grow_map(s);
}

/* ---- open ------------------------------------------------------------------ */

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int read_state(mn__store *s, MDB_txn *txn, Mnemo__StoreState **out)
{
	MDB_val k = {.mv_size = 5, .mv_data = "state"}, v;
	const unsigned char *body;
	size_t len;
	int rc = mdb_get(txn, s->dbi[DB_META], &k, &v);
	if (rc)
		return rc == MDB_NOTFOUND
			       ? fail(s, MN_ECORRUPT, "meta record state: missing")
			       : mdb_fail(s, rc, "reading meta state");
	if ((rc = frame_open(s, &v, R_STATE, DB_META, "state", &body, &len)))
		return rc;
	*out = mnemo__store_state__unpack(NULL, len, body);
	if (!*out)
		return fail(s, MN_ECORRUPT, "meta record state: undecodable");
	return 0;
}

static int write_state(mn__store *s, MDB_txn *txn,
		       const Mnemo__StoreState *st)
{
	MDB_val k = {.mv_size = 5, .mv_data = "state"};
	int rc = put_msg(s, txn, DB_META, &k, &st->base, R_STATE, 0);
	return rc ? mdb_fail(s, rc, "writing meta state") : 0;
}

/* Create (in a fresh environment) or check the header; fill what the
 * caller wants to know. */
static int check_header(mn__store *s, MDB_txn *txn, bool fresh,
			mn__store_info *info)
{
	MDB_val k = {.mv_size = 6, .mv_data = "header"}, v;
	const unsigned char *body;
	size_t len;
	int rc = mdb_get(txn, s->dbi[DB_META], &k, &v);

	if (rc == MDB_NOTFOUND) {
		/* Only a new environment gets a header: databases named
		 * like mnemo's without one are someone else's. */
		if (s->read_only || !fresh)
			return fail(s, MN_ENOTSTORE,
				    "not a mnemo store (no header)");
		Mnemo__StoreHeader h = MNEMO__STORE_HEADER__INIT;
		Mnemo__StoreState st = MNEMO__STORE_STATE__INIT;
		h.format_version = MN__FORMAT_VERSION;
		h.created_unix_ms = now_ms();
		h.created_by = (char *)mn_version();
		st.next_actor_id = 1;
		st.next_dict_id = 1;
		if ((rc = put_msg(s, txn, DB_META, &k, &h.base, R_HEADER, 0)))
			return mdb_fail(s, rc, "writing the header");
		info->created = true;
		return write_state(s, txn, &st);
	}
	if (rc)
		return mdb_fail(s, rc, "reading the header");
	if ((rc = frame_open(s, &v, R_HEADER, DB_META, "header", &body, &len)))
		return rc;
	Mnemo__StoreHeader *h = mnemo__store_header__unpack(NULL, len, body);
	if (!h)
		return fail(s, MN_ECORRUPT, "meta record header: undecodable");
	uint32_t ver = h->format_version;
	mnemo__store_header__free_unpacked(h, NULL);
	if (ver > MN__FORMAT_VERSION || ver == 0)
		return fail(s, MN_EVERSION,
			    "format version %u; this build reads up to %u", ver,
			    MN__FORMAT_VERSION);
	return 0;
}

static int last_key_u64(mn__store *s, MDB_txn *txn, int db, uint64_t *out)
{
	MDB_cursor *c;
	MDB_val k, v;
	*out = 0;
	int rc = mdb_cursor_open(txn, s->dbi[db], &c);
	if (rc)
		return mdb_fail(s, rc, "opening a cursor");
	rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
	if (rc == 0 && k.mv_size == 8)
		*out = be64_get(k.mv_data);
	else if (rc == 0)
		rc = fail(s, MN_ECORRUPT, "%s: last key of %zu bytes",
			  db_names[db], k.mv_size);
	else if (rc == MDB_NOTFOUND)
		rc = 0;
	else
		rc = mdb_fail(s, rc, "reading the last key");
	mdb_cursor_close(c);
	return rc;
}

static int count_entries(mn__store *s, MDB_txn *txn, int db, uint64_t *out)
{
	MDB_stat st;
	int rc = mdb_stat(txn, s->dbi[db], &st);
	*out = rc ? 0 : st.ms_entries;
	return rc ? mdb_fail(s, rc, "stat") : 0;
}

static int load_dicts(mn__store *s, MDB_txn *txn)
{
	MDB_cursor *c;
	MDB_val k, v;
	int rc = mdb_cursor_open(txn, s->dbi[DB_DICTS], &c);
	if (rc)
		return mdb_fail(s, rc, "opening the dictionaries");
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		const unsigned char *body;
		size_t len;
		int e = frame_open(s, &v, R_DICT, DB_DICTS, "dict", &body, &len);
		if (e) {
			mdb_cursor_close(c);
			return e;
		}
		Mnemo__Dictionary *d = mnemo__dictionary__unpack(NULL, len, body);
		if (!d) {
			mdb_cursor_close(c);
			return fail(s, MN_ECORRUPT, "dicts: undecodable record");
		}
		e = mn__dictset_add(s->dicts, d->id, d->dict.data, d->dict.len);
		mnemo__dictionary__free_unpacked(d, NULL);
		if (e && e != MN_EEXIST) {
			mdb_cursor_close(c);
			return fail(s, e, "dictionary rejected by zstd");
		}
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : mdb_fail(s, rc, "reading dictionaries");
}

/* One (actor, seq, lsn) seen in the log tail. */
typedef struct head {
	uint64_t actor_id, seq, lsn;
} head;

static int head_cmp(const void *a, const void *b)
{
	const head *x = a, *y = b;
	if (x->actor_id != y->actor_id)
		return x->actor_id < y->actor_id ? -1 : 1;
	return x->lsn < y->lsn ? -1 : x->lsn > y->lsn;
}

static int decode_entry(const mn__store *s, const MDB_val *k, const MDB_val *v,
			Mnemo__JournalEntry **out);

static int meta_get(mn__store *s, MDB_txn *txn, uint64_t id,
		    Mnemo__ActorMeta **out);
static int meta_put(mn__store *s, MDB_txn *txn, const Mnemo__ActorMeta *m);

/*
 * The heads the log tail implies: every entry after from_lsn, reduced to
 * each actor's newest (and its oldest in the tail, for first_lsn), sorted
 * by actor id. *out is malloc'd (or NULL when the tail is empty).
 */
typedef struct tail_head {
	uint64_t actor_id, seq, lsn, first_lsn;
} tail_head;

static int scan_tail(mn__store *s, MDB_txn *txn, uint64_t from_lsn,
		     tail_head **out, size_t *nout, uint64_t *scanned)
{
	MDB_cursor *c;
	MDB_val k, v;
	unsigned char kb[8];
	head *h = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;

	*out = NULL;
	*nout = 0;
	if ((rc = mdb_cursor_open(txn, s->dbi[DB_LOG], &c)))
		return mdb_fail(s, rc, "opening the log");
	be64_put(kb, from_lsn + 1);
	k.mv_size = 8;
	k.mv_data = kb;
	for (int e = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); e == 0;
	     e = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		Mnemo__JournalEntry *je;
		if ((rc = decode_entry(s, &k, &v, &je)))
			break;
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			head *nh = realloc(h, cap * sizeof *h);
			if (!nh) {
				rc = MN_ENOMEM;
				break;
			}
			h = nh;
		}
		h[n++] = (head){je->actor_id, je->seq, be64_get(k.mv_data)};
	}
	mdb_cursor_close(c);
	*scanned = n;
	if (rc || n == 0) {
		free(h);
		return rc;
	}
	qsort(h, n, sizeof *h, head_cmp);
	tail_head *t = malloc(n * sizeof *t);
	if (!t) {
		free(h);
		return MN_ENOMEM;
	}
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		if (i == 0 || h[i - 1].actor_id != h[i].actor_id)
			t[m] = (tail_head){h[i].actor_id, 0, 0, h[i].lsn};
		t[m].seq = h[i].seq;
		t[m].lsn = h[i].lsn;
		if (i + 1 == n || h[i + 1].actor_id != h[i].actor_id)
			m++;
	}
	free(h);
	*out = t;
	*nout = m;
	return 0;
}

static const tail_head *tail_find(const mn__store *s, uint64_t id)
{
	size_t lo = 0, hi = s->ntail;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->tail[mid].actor_id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < s->ntail && s->tail[lo].actor_id == id ? &s->tail[lo]
							   : NULL;
}

/*
 * Open-time recovery of actor heads: the writer records actor heads only at
 * checkpoints, so entries after StoreState.checkpoint_lsn may be newer than
 * their actor's head. Scan them, update the heads, and move the checkpoint
 * to the last entry: work bounded by the checkpoint interval, not by the
 * number of actors. A read-only open (the tools, maybe beside a live
 * runtime) keeps the tail's heads in memory instead and applies them to
 * every lookup.
 */
static int repair_heads(mn__store *s, MDB_txn *txn, mn__store_info *info)
{
	Mnemo__StoreState *st;
	tail_head *t = NULL;
	size_t n = 0;
	uint64_t last_actor;
	int rc = read_state(s, txn, &st);
	if (rc)
		return rc;
	info->checkpoint_lsn = st->checkpoint_lsn;
	info->next_actor_id = st->next_actor_id;
	/* Actors created after the last checkpoint have ids the state does
	 * not know yet: never hand one out twice. */
	if ((rc = last_key_u64(s, txn, DB_ACTORS, &last_actor)))
		goto out_free_state;
	if (last_actor + 1 > info->next_actor_id)
		info->next_actor_id = last_actor + 1;
	/* The newest LSN issued, not the newest present: compaction may
	 * have dropped the newest entries, and an LSN issued again would
	 * sit below heads that only move forward (L1). */
	if (info->last_lsn < st->lsn_high)
		info->last_lsn = st->lsn_high;
	if (info->last_lsn <= st->checkpoint_lsn) {
		info->last_lsn = st->checkpoint_lsn;
		goto out_free_state;
	}
	if ((rc = scan_tail(s, txn, st->checkpoint_lsn, &t, &n,
			    &info->entries_scanned)))
		goto out_free_state;
	if (s->read_only) {
		s->tail = t;
		s->ntail = n;
		goto out_free_state;
	}
	for (size_t i = 0; i < n; i++) {
		Mnemo__ActorMeta *m;
		if ((rc = meta_get(s, txn, t[i].actor_id, &m)))
			break;
		if (m->last_lsn < t[i].lsn) {
			m->last_lsn = t[i].lsn;
			m->last_seq = t[i].seq;
			if (!m->first_lsn)
				m->first_lsn = t[i].first_lsn;
			rc = meta_put(s, txn, m);
			info->heads_repaired++;
		}
		mnemo__actor_meta__free_unpacked(m, NULL);
		if (rc)
			break;
	}
	free(t);
	if (rc)
		goto out_free_state;
	st->checkpoint_lsn = info->last_lsn;
	rc = write_state(s, txn, st);
out_free_state:
	mnemo__store_state__free_unpacked(st, NULL);
	return rc;
}

static int load_kinds(mn__store *s, MDB_txn *txn);
static int commit_fail(mn__store *s, int rc);

/* ---- is it a mnemo store? -------------------------------------------------- */

/* The files a store directory holds (docs/format.md). */
static bool store_file(const char *name)
{
	return !strcmp(name, "data.mdb") || !strcmp(name, "lock.mdb") ||
	       !strcmp(name, "mnemo.lock");
}

/* A directory without a store in it (no data.mdb, or an empty one) becomes
 * a new store only if it holds nothing else: a directory of other files is
 * someone else's, and writing a store into it would hide that mistake.
 * Returns 0 or MN_ENOTSTORE; a path that does not exist (or cannot be
 * listed) is left to the open, which creates or reports it. */
static int check_dir(mn__store *s, const char *path)
{
	char p[4096];
	struct stat st;
	snprintf(p, sizeof p, "%s/data.mdb", path);
	if (stat(p, &st) == 0 && st.st_size > 0)
		return 0; /* mdbfile and the databases decide */
	DIR *d = opendir(path);
	if (!d)
		return 0;
	struct dirent *e;
	char other[256] = "";
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
		    store_file(e->d_name))
			continue;
		snprintf(other, sizeof other, "%s", e->d_name);
		break;
	}
	closedir(d);
	if (!other[0])
		return 0;
	return fail(s, MN_ENOTSTORE,
		    "not a mnemo store: the directory holds other files "
		    "(\"%s\") and no data.mdb; a new store needs an empty or "
		    "missing directory",
		    other);
}

static bool mnemo_db(const MDB_val *k)
{
	for (int i = 0; i < DB_COUNT; i++)
		if (k->mv_size == strlen(db_names[i]) &&
		    !memcmp(k->mv_data, db_names[i], k->mv_size))
			return true;
	return false;
}

/* An LMDB environment made by another program: its main database names
 * something that is not one of mnemo's databases, or holds databases but
 * no "meta" with a header. An empty environment is a new store. Returns 0
 * (*fresh says whether it is empty) or MN_ENOTSTORE. */
static int check_env(mn__store *s, MDB_txn *txn, bool *fresh)
{
	MDB_dbi main;
	MDB_cursor *c;
	MDB_val k, v;
	bool any = false, meta = false;
	int rc = mdb_dbi_open(txn, NULL, 0, &main), e;
	if (rc)
		return mdb_fail(s, rc, "opening the main database");
	if ((rc = mdb_cursor_open(txn, main, &c)))
		return mdb_fail(s, rc, "opening a cursor");
	for (e = mdb_cursor_get(c, &k, &v, MDB_FIRST); e == 0 && !rc;
	     e = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		any = true;
		if (!mnemo_db(&k)) {
			char name[64];
			size_t n = k.mv_size < 40 ? k.mv_size : 40;
			for (size_t i = 0; i < n; i++) {
				unsigned char ch = ((unsigned char *)k.mv_data)[i];
				name[i] = ch >= 32 && ch < 127 ? (char)ch : '?';
			}
			name[n] = 0;
			rc = fail(s, MN_ENOTSTORE,
				  "not a mnemo store: the LMDB environment "
				  "holds \"%s\"%s, which is not one of "
				  "mnemo's databases",
				  name, k.mv_size > n ? "..." : "");
		} else if (k.mv_size == 4 && !memcmp(k.mv_data, "meta", 4)) {
			meta = true;
		}
	}
	mdb_cursor_close(c);
	if (!rc && e != 0 && e != MDB_NOTFOUND)
		rc = mdb_fail(s, e, "reading the main database");
	if (!rc && any && !meta)
		rc = fail(s, MN_ENOTSTORE,
			  "not a mnemo store: the LMDB environment has "
			  "databases but no \"meta\"");
	*fresh = !any;
	return rc;
}

int mn__store_open(const char *path, const mn__store_opts *opts,
		   mn__store **out, mn__store_info *info_out)
{
	mn__store_opts o = {0};
	mn__store_info info = {0};
	mn__store *s;
	MDB_txn *txn;
	uint64_t qlast = 0;
	int rc;

	errdetail[0] = 0;
	if (!path || !out)
		return MN_EINVAL;
	*out = NULL;
	if (opts)
		o = *opts;
	if (!o.map_size)
		o.map_size = MN__STORE_MAP_INIT;

	s = calloc(1, sizeof *s);
	if (!s)
		return MN_ENOMEM;
	s->lock_fd = -1;
	s->read_only = o.read_only;
	s->map_size = o.map_size;
	pthread_rwlock_init(&s->map_lock, NULL);
	pthread_mutex_init(&s->kinds_mu, NULL);
	if (!(s->path = strdup(path))) {
		rc = MN_ENOMEM;
		goto err_free;
	}
	if ((rc = mn__dictset_new(o.zstd_level, &s->dicts)))
		goto err_free;

	if ((rc = check_dir(s, path)))
		goto err_free;
	if (!o.read_only && mkdir(path, 0750) != 0 && errno != EEXIST) {
		rc = fail(s, errno == ENOSPC ? MN_ENOSPC : MN_EIO,
			  "creating the directory: %s", strerror(errno));
		goto err_free;
	}
	/* One writing process per store: LMDB would serialise two writers,
	 * but two runtimes on one store would deliver the outbox twice. */
	if (!o.read_only) {
		char lp[4096];
		snprintf(lp, sizeof lp, "%s/mnemo.lock", path);
		s->lock_fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
		if (s->lock_fd < 0) {
			rc = fail(s, MN_EIO, "opening %s: %s", lp,
				  strerror(errno));
			goto err_free;
		}
		if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
			rc = fail(s, MN_EBUSY,
				  "held by another process (%s is locked)", lp);
			goto err_free;
		}
	}

	/* LMDB maps data.mdb and trusts it: refuse a truncated file here
	 * rather than take SIGBUS reading past its end (mdbfile.h). */
	char why[256];
	if ((rc = mn__mdbfile_check(path, why, sizeof why))) {
		rc = fail(s, rc, "%s", why);
		goto err_free;
	}
	if ((rc = mdb_env_create(&s->env))) {
		rc = mdb_fail(s, rc, "mdb_env_create");
		goto err_free;
	}
	mdb_env_set_maxdbs(s->env, DB_COUNT + 4);
	mdb_env_set_mapsize(s->env, o.map_size);
	unsigned flags = MDB_NOTLS | (o.relaxed ? MDB_NOSYNC : 0) |
			 (o.read_only ? MDB_RDONLY : 0);
	if ((rc = mdb_env_open(s->env, path, flags, 0640))) {
		rc = mdb_fail(s, rc, "opening the LMDB environment");
		goto err_free;
	}
	MDB_envinfo ei;
	mdb_env_info(s->env, &ei);
	if (ei.me_mapsize > s->map_size)
		s->map_size = ei.me_mapsize;
	int dead = 0;
	mdb_reader_check(s->env, &dead);

	int attempts = 0;
retry:
	last_mdb_rc = 0;
	if ((rc = txn_begin(s, !o.read_only, &txn))) {
		rc = mdb_fail(s, rc, "beginning the open transaction");
		goto err_free;
	}
	bool fresh = false;
	if ((rc = check_env(s, txn, &fresh)))
		goto err_abort;
	for (int i = 0; i < DB_COUNT; i++) {
		unsigned f = o.read_only ? 0 : MDB_CREATE;
		rc = mdb_dbi_open(txn, db_names[i], f, &s->dbi[i]);
		if (rc == MDB_NOTFOUND && i == DB_QUARANTINE) {
			s->no_quarantine = true; /* nothing was ever held */
			rc = 0;
		}
		if (rc) {
			rc = rc == MDB_NOTFOUND
				     ? fail(s, fresh ? MN_ENOTSTORE : MN_ECORRUPT,
					    "not a mnemo store (no %s database)",
					    db_names[i])
				     : mdb_fail(s, rc, "opening a database");
			goto err_abort;
		}
	}
	if ((rc = check_header(s, txn, fresh, &info)) ||
	    (rc = last_key_u64(s, txn, DB_LOG, &info.last_lsn)) ||
	    (rc = last_key_u64(s, txn, DB_OUTBOX, &info.next_outbox_id)) ||
	    (rc = count_entries(s, txn, DB_OUTBOX, &info.outbox_entries)) ||
	    (!s->no_quarantine &&
	     ((rc = last_key_u64(s, txn, DB_QUARANTINE, &qlast)) ||
	      (rc = count_entries(s, txn, DB_QUARANTINE, &info.quarantined)))) ||
	    (rc = count_entries(s, txn, DB_TIMERS, &info.timers)) ||
	    (rc = load_dicts(s, txn)) || (rc = load_kinds(s, txn)))
		goto err_abort;
	/* Quarantined messages take their ids from the outbox's sequence. */
	if (qlast > info.next_outbox_id)
		info.next_outbox_id = qlast;
	info.next_outbox_id++;
	info.stale_readers = (uint64_t)dead;
	if (!o.read_only) {
		if ((rc = repair_heads(s, txn, &info)))
			goto err_abort;
		if ((rc = txn_commit(s, txn))) {
			rc = mdb_fail(s, rc, "committing the open transaction");
			goto err_grow;
		}
	} else {
		if ((rc = repair_heads(s, txn, &info)))
			goto err_abort;
		/* Commit, not abort: LMDB closes the database handles an
		 * aborted transaction opened, read-only or not. */
		if ((rc = txn_commit(s, txn))) {
			rc = mdb_fail(s, rc, "ending the open transaction");
			goto err_free;
		}
	}
	s->last_lsn = info.last_lsn;
	if (info_out)
		*info_out = info;
	*out = s;
	return 0;

err_abort:
	txn_abort(s, txn);
err_grow:
	/* Repairing heads after a crash rewrites up to a checkpoint interval
	 * of actor records: a map the crashed process had nearly filled may
	 * not hold them. Grow it and run the open transaction again (the
	 * aborted one changed nothing). */
	if (!o.read_only && last_mdb_rc == MDB_MAP_FULL && attempts++ < 16 &&
	    grow_map(s) == 0) {
		info = (mn__store_info){0};
		qlast = 0;
		s->no_quarantine = false;
		goto retry;
	}
err_free:
	mn__store_close(s);
	return rc;
}

void mn__store_close(mn__store *s)
{
	if (!s)
		return;
	if (s->env)
		mdb_env_close(s->env);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	mn__dictset_free(s->dicts);
	free(s->tail);
	pthread_rwlock_destroy(&s->map_lock);
	pthread_mutex_destroy(&s->kinds_mu);
	free(s->path);
	free(s);
}

mn__dictset *mn__store_dicts(mn__store *s)
{
	return s->dicts;
}

uint64_t mn__store_last_lsn(mn__store *s)
{
	return s->last_lsn;
}

uint64_t mn__store_disk_bytes(mn__store *s)
{
	char p[4096];
	struct stat st;
	snprintf(p, sizeof p, "%s/data.mdb", s->path);
	return stat(p, &st) == 0 ? (uint64_t)st.st_blocks * 512 : 0;
}

/* ---- kinds ----------------------------------------------------------------- */

static int load_kinds(mn__store *s, MDB_txn *txn)
{
	MDB_cursor *c;
	MDB_val k, v;
	int rc = mdb_cursor_open(txn, s->dbi[DB_KINDS], &c);
	if (rc)
		return mdb_fail(s, rc, "opening kinds");
	s->nkinds = 0;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		const unsigned char *body;
		size_t len;
		int e = frame_open(s, &v, R_KIND, DB_KINDS, "kind", &body, &len);
		if (e) {
			mdb_cursor_close(c);
			return e;
		}
		Mnemo__KindRecord *kr = mnemo__kind_record__unpack(NULL, len, body);
		if (!kr || !kr->name || strlen(kr->name) > MN_KIND_NAME_MAX ||
		    s->nkinds == KINDS_CACHE) {
			if (kr)
				mnemo__kind_record__free_unpacked(kr, NULL);
			mdb_cursor_close(c);
			return fail(s, MN_ECORRUPT, "kinds: bad record");
		}
		s->kinds[s->nkinds].id = kr->id;
		s->kinds[s->nkinds].dict_id = kr->dict_id;
		strcpy(s->kinds[s->nkinds].name, kr->name);
		s->nkinds++;
		mnemo__kind_record__free_unpacked(kr, NULL);
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : mdb_fail(s, rc, "reading kinds");
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
		rc = fail(s, MN_ENOKIND, "no kind named %s", name);
		goto out_unlock;
	}
	if (s->nkinds == KINDS_CACHE) {
		rc = fail(s, MN_ELIMIT, "too many kinds");
		goto out_unlock;
	}
	if ((rc = txn_begin(s, true, &txn))) {
		rc = mdb_fail(s, rc, "registering a kind");
		goto out_unlock;
	}
	Mnemo__KindRecord kr = MNEMO__KIND_RECORD__INIT;
	kr.id = s->nkinds + 1; /* dense, from 1, in registration order */
	kr.name = (char *)name;
	MDB_val k = {.mv_size = nlen, .mv_data = (void *)name};
	if ((rc = put_msg(s, txn, DB_KINDS, &k, &kr.base, R_KIND, 0))) {
		txn_abort(s, txn);
		rc = mdb_fail(s, rc, "writing a kind");
		goto out_unlock;
	}
	if ((rc = txn_commit(s, txn))) {
		rc = mdb_fail(s, rc, "committing a kind");
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
		return fail(s, MN_ENOKIND, "dictionary for unknown kind %u",
			    kind_id);
	}
	if ((rc = maybe_grow(s)) || (rc = txn_begin(s, true, &txn))) {
		pthread_mutex_unlock(&s->kinds_mu);
		return rc > 0 ? mdb_fail(s, rc, "storing a dictionary") : rc;
	}
	if ((rc = mdb_cursor_open(txn, s->dbi[DB_DICTS], &c)) == 0) {
		if (mdb_cursor_get(c, &k, &v, MDB_LAST) == 0 && k.mv_size == 4)
			next = ((uint32_t)((unsigned char *)k.mv_data)[0] << 24 |
				(uint32_t)((unsigned char *)k.mv_data)[1] << 16 |
				(uint32_t)((unsigned char *)k.mv_data)[2] << 8 |
				((unsigned char *)k.mv_data)[3]) +
			       1;
		mdb_cursor_close(c);
	}
	Mnemo__Dictionary d = MNEMO__DICTIONARY__INIT;
	d.id = next;
	d.kind_id = kind_id;
	d.created_unix_ms = now_ms();
	d.dict.data = (uint8_t *)dict;
	d.dict.len = len;
	be32_put(kb, next);
	k.mv_size = 4;
	k.mv_data = kb;
	Mnemo__KindRecord kr = MNEMO__KIND_RECORD__INIT;
	kr.id = kind_id;
	kr.name = s->kinds[ki].name;
	kr.dict_id = next;
	MDB_val kk = {.mv_size = strlen(kr.name), .mv_data = kr.name};
	if (rc || (rc = put_msg(s, txn, DB_DICTS, &k, &d.base, R_DICT, 0)) ||
	    (rc = put_msg(s, txn, DB_KINDS, &kk, &kr.base, R_KIND, 0))) {
		txn_abort(s, txn);
		pthread_mutex_unlock(&s->kinds_mu);
		return mdb_fail(s, rc, "storing a dictionary");
	}
	if ((rc = txn_commit(s, txn))) {
		pthread_mutex_unlock(&s->kinds_mu);
		return commit_fail(s, rc);
	}
	/* Committed: now records may name it. */
	rc = mn__dictset_add(s->dicts, next, dict, len);
	if (rc == 0)
		s->kinds[ki].dict_id = next;
	pthread_mutex_unlock(&s->kinds_mu);
	if (rc)
		return fail(s, rc, "dictionary %u rejected by zstd", next);
	*id = next;
	return 0;
}

/* ---- actors ---------------------------------------------------------------- */

static int meta_get(mn__store *s, MDB_txn *txn, uint64_t id,
		    Mnemo__ActorMeta **out)
{
	unsigned char kb[8];
	char desc[32];
	MDB_val k = {.mv_size = 8, .mv_data = kb}, v;
	const unsigned char *body;
	size_t len;
	be64_put(kb, id);
	snprintf(desc, sizeof desc, "%llu", (unsigned long long)id);
	int rc = mdb_get(txn, s->dbi[DB_ACTORS], &k, &v);
	if (rc == MDB_NOTFOUND)
		return fail(s, MN_ENOACTOR, "actors record %s: missing", desc);
	if (rc)
		return mdb_fail(s, rc, "reading an actor");
	if ((rc = frame_open(s, &v, R_ACTOR, DB_ACTORS, desc, &body, &len)))
		return rc;
	*out = mnemo__actor_meta__unpack(NULL, len, body);
	if (!*out || (*out)->id != id || (*out)->key.len == 0 ||
	    (*out)->key.len > MN_KEY_MAX) {
		if (*out)
			mnemo__actor_meta__free_unpacked(*out, NULL);
		return fail(s, MN_ECORRUPT, "actors record %s: undecodable",
			    desc);
	}
	return 0;
}

static int meta_put(mn__store *s, MDB_txn *txn, const Mnemo__ActorMeta *m)
{
	unsigned char kb[8];
	MDB_val k = {.mv_size = 8, .mv_data = kb};
	be64_put(kb, m->id);
	int rc = put_msg(s, txn, DB_ACTORS, &k, &m->base, R_ACTOR, 0);
	return rc ? mdb_fail(s, rc, "writing an actor") : 0;
}

static void meta_copy(const mn__store *s, const Mnemo__ActorMeta *m,
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
	const tail_head *t = s->ntail ? tail_find(s, m->id) : NULL;
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
	int rc = txn_begin(s, false, &txn);
	if (rc)
		return mdb_fail(s, rc, "beginning a read");
	rc = meta_get(s, txn, id, &m);
	if (rc == 0) {
		meta_copy(s, m, out);
		mnemo__actor_meta__free_unpacked(m, NULL);
	}
	txn_abort(s, txn);
	return rc;
}

static size_t name_key(unsigned char *kb, uint32_t kind_id, const void *key,
		       size_t key_len)
{
	be32_put(kb, kind_id);
	memcpy(kb + 4, key, key_len);
	return 4 + key_len;
}

/* Does actor id's record name (kind_id, key)? 1 yes, 0 no or unreadable. */
static int names_it(mn__store *s, MDB_txn *txn, uint64_t id, uint32_t kind_id,
		    const void *key, size_t key_len)
{
	Mnemo__ActorMeta *m;
	if (meta_get(s, txn, id, &m))
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
		return mdb_fail(s, rc, "opening a cursor");
	for (int pass = 0; pass < 2; pass++) {
		k = *want;
		e = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
		if (pass == 1)
			e = mdb_cursor_get(c, &k, &v,
					   e == MDB_NOTFOUND ? MDB_LAST
							     : MDB_PREV);
		for (int i = 0; i < NAME_SIDE && e == 0; i++) {
			const unsigned char *body;
			size_t len;
			int at = pass == 0 ? hi++ : --lo;
			win[at].k = k;
			win[at].id = frame_open(s, &v, R_NAME, DB_NAMES, "name",
						&body, &len) ||
					     len != 8
					 ? 0
					 : be64_get(body);
			e = mdb_cursor_get(c, &k, &v,
					   pass == 0 ? MDB_NEXT : MDB_PREV);
		}
		if (e != 0 && e != MDB_NOTFOUND) {
			mdb_cursor_close(c);
			return mdb_fail(s, e, "reading names");
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
				rc = fail(s, MN_ECORRUPT,
					  "names record of actor %llu: damaged "
					  "key",
					  (unsigned long long)win[i].id);
			}
		}
	if (rc == MN_ENOACTOR && bad)
		rc = fail(s, MN_ECORRUPT,
			  "names: keys out of order by actor %llu or %llu "
			  "(damaged key)",
			  (unsigned long long)win[bad - 1].id,
			  (unsigned long long)win[bad].id);
	mdb_cursor_close(c);
	if (rc == MN_ENOACTOR)
		errdetail[0] = 0; /* the neighbours' reads are no detail */
	return rc;
}

/* mn__store_actor_find inside txn. The name leads to an id and the id to
 * an actor record that names the same kind and key, else MN_ECORRUPT: a
 * name whose actor record is missing (a damaged actors key) or names
 * another address, or a name found only under a damaged key. */
static int actor_find_txn(mn__store *s, MDB_txn *txn, uint32_t kind_id,
			  const void *key, size_t key_len, mn__actor_meta *out)
{
	unsigned char kb[4 + MN_KEY_MAX];
	MDB_val k = {.mv_data = kb}, v;
	const unsigned char *body;
	size_t len;

	k.mv_size = name_key(kb, kind_id, key, key_len);
	uint64_t id = 0;
	int rc = mdb_get(txn, s->dbi[DB_NAMES], &k, &v);
	if (rc == MDB_NOTFOUND) {
		if ((rc = name_damaged(s, txn, &k, kind_id, key, key_len, &id)))
			return rc;
	} else if (rc) {
		return mdb_fail(s, rc, "reading a name");
	} else {
		rc = frame_open(s, &v, R_NAME, DB_NAMES, "name", &body, &len);
		if (rc)
			return rc;
		if (len != 8)
			return fail(s, MN_ECORRUPT, "names record: %zu bytes",
				    len);
		id = be64_get(body);
	}
	Mnemo__ActorMeta *m;
	rc = meta_get(s, txn, id, &m);
	if (rc == MN_ENOACTOR)
		/* Names and actors are written in one transaction, and a
		 * deletion removes the name first: a name without its actor
		 * is damage (an actors key changed), never a new actor. */
		return fail(s, MN_ECORRUPT,
			    "actors record %llu is missing, its name leads "
			    "to it (damaged key)",
			    (unsigned long long)id);
	if (rc)
		return rc;
	meta_copy(s, m, out);
	mnemo__actor_meta__free_unpacked(m, NULL);
	if (out->kind_id != kind_id || out->key_len != key_len ||
	    memcmp(out->key, key, key_len) != 0)
		return fail(s, MN_ECORRUPT,
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
	int rc = txn_begin(s, false, &txn);
	if (rc)
		return mdb_fail(s, rc, "beginning a read");
	rc = actor_find_txn(s, txn, kind_id, key, key_len, out);
	txn_abort(s, txn);
	return rc;
}

/* ---- writing --------------------------------------------------------------- */

/* Compress payload into scratch (grown as needed); sets codec fields. */
static int pack_payload(mn__codec *codec, bool compress, uint32_t dict_id,
			const void *p, size_t len, mn_buf *scratch,
			ProtobufCBinaryData *out, uint32_t *method,
			uint32_t *out_dict)
{
	*method = MN__CODEC_RAW;
	*out_dict = 0;
	out->data = (uint8_t *)p;
	out->len = len;
	if (!codec || !compress || len == 0)
		return 0;
	size_t bound = mn__codec_bound(len), clen;
	uint8_t m;
	scratch->len = 0;
	int rc = mn__buf_reserve(scratch, bound);
	if (rc)
		return rc;
	rc = mn__codec_compress(codec, dict_id, p, len, scratch->data, bound,
				&clen, &m);
	if (rc)
		return rc;
	*method = m;
	if (m != MN__CODEC_RAW) {
		*out_dict = m == MN__CODEC_ZSTD_DICT ? dict_id : 0;
		out->data = scratch->data;
		out->len = clen;
	}
	return 0;
}

/* A failed commit: LMDB reports a short write as EIO, so a full disk may
 * look like an I/O error; the filesystem's free space tells them apart. */
static int commit_fail(mn__store *s, int rc)
{
	struct statvfs vfs;
	if ((rc == EIO || rc == ENOSPC || rc == EFBIG) &&
	    statvfs(s->path, &vfs) == 0) {
		uint64_t avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
		if (avail < ((uint64_t)1 << 20) || rc == ENOSPC) {
			last_mdb_rc = rc;
			return fail(s, MN_ENOSPC,
				    "committing: disk full (%llu bytes free; "
				    "%s); nothing of this commit is stored",
				    (unsigned long long)avail, mdb_strerror(rc));
		}
	}
	return mdb_fail(s, rc, "committing");
}

/* An outbox record (the outbox, or the quarantine: same record). */
static int put_outbox(mn__store *s, MDB_txn *txn, mn__codec *codec, int db,
		      const mn__woutbox *o, mn_buf *scratch)
{
	Mnemo__OutboxEntry oe = MNEMO__OUTBOX_ENTRY__INIT;
	unsigned char kb[8];
	MDB_val k = {.mv_size = 8, .mv_data = kb};
	int rc;
	oe.id = o->id;
	oe.target_kind_id = o->kind_id;
	oe.target_key.data = (uint8_t *)o->key;
	oe.target_key.len = o->key_len;
	oe.type = o->type;
	oe.flags = o->flags;
	oe.sender_id = o->sender_id;
	oe.unix_ms = o->unix_ms;
	oe.raw_len = o->len;
	if ((rc = pack_payload(codec, o->compress, o->dict_id, o->payload,
			       o->len, scratch, &oe.payload, &oe.codec,
			       &oe.dict_id)))
		return rc;
	be64_put(kb, o->id);
	if ((rc = put_msg(s, txn, db, &k, &oe.base, R_OUTBOX, 0)))
		return mdb_fail(s, rc, db == DB_OUTBOX
					       ? "writing the outbox"
					       : "writing the quarantine");
	return 0;
}

/* A head update (checkpoints, evictions): the stored record keeps what it
 * holds (creation time, first entry) and takes the new head, unless it
 * holds a newer one already (heads only move forward: a checkpoint written
 * in pieces may carry an older head than the one an eviction wrote since).
 * Checkpoints write thousands of these per commit, so this is the cheap
 * path: one cursor (opened on first use into *cur) finds the record and
 * replaces it in place, decoding is into the arena, and the record's name
 * is formatted only on failure. Any record the quiet checks refuse (or an
 * arena that could not grow) takes the plain path, meta_get and meta_put,
 * which names what is wrong. */
static int head_update(mn__store *s, MDB_txn *txn, MDB_cursor **cur,
		       const mn__wactor *a)
{
	unsigned char kb[8];
	MDB_val k = {.mv_size = 8, .mv_data = kb}, v;
	const unsigned char *body;
	size_t len;
	int rc;
	Mnemo__ActorMeta *m = NULL;
	if (!*cur && mdb_cursor_open(txn, s->dbi[DB_ACTORS], cur))
		*cur = NULL;
	be64_put(kb, a->id);
	/* MDB_SET, not MDB_SET_KEY: k must keep pointing at kb, since a
	 * put of a new size deletes the node (and its key bytes) first. */
	if (*cur && mdb_cursor_get(*cur, &k, &v, MDB_SET) == 0 &&
	    frame_open(s, &v, R_ACTOR, DB_ACTORS, NULL, &body, &len) == 0)
		m = mnemo__actor_meta__unpack(arena_for(len), len, body);
	if (!m || m->id != a->id || m->key.len == 0 ||
	    m->key.len > MN_KEY_MAX) {
		Mnemo__ActorMeta *old;
		if ((rc = meta_get(s, txn, a->id, &old)))
			return rc;
		if (a->last_lsn > old->last_lsn) {
			old->last_seq = a->last_seq;
			old->last_lsn = a->last_lsn;
			old->last_active_unix_ms = a->last_active_unix_ms;
			rc = meta_put(s, txn, old);
		}
		mnemo__actor_meta__free_unpacked(old, NULL);
		return rc;
	}
	if (a->last_lsn <= m->last_lsn)
		return 0;
	m->last_seq = a->last_seq;
	m->last_lsn = a->last_lsn;
	m->last_active_unix_ms = a->last_active_unix_ms;
	len = protobuf_c_message_get_packed_size(&m->base);
	v.mv_size = len + FRAME_HDR;
	v.mv_data = NULL;
	/* The record is replaced where the cursor stands. */
	if ((rc = mdb_cursor_put(*cur, &k, &v, MDB_CURRENT | MDB_RESERVE)))
		return mdb_fail(s, rc, "writing an actor");
	protobuf_c_message_pack(&m->base, (uint8_t *)v.mv_data + FRAME_HDR);
	frame_seal(v.mv_data, R_ACTOR, len);
	return 0;
}

static int write_once(mn__store *s, mn__codec *codec, const mn__wbatch *b,
		      mn_buf *scratch)
{
	MDB_txn *txn;
	unsigned char kb[4 + MN_KEY_MAX];
	MDB_val k = {.mv_data = kb};
	int rc = txn_begin(s, true, &txn);
	if (rc)
		return mdb_fail(s, rc, "beginning a write");

	MDB_cursor *acur = NULL;
	for (size_t i = 0; i < b->n_actors; i++) {
		const mn__wactor *a = &b->actors[i];
		Mnemo__ActorMeta m = MNEMO__ACTOR_META__INIT;
		if (!a->is_new) {
			if ((rc = head_update(s, txn, &acur, a)))
				goto out_abort;
			continue;
		}
		m.id = a->id;
		m.kind_id = a->kind_id;
		m.key.data = (uint8_t *)a->key;
		m.key.len = a->key_len;
		m.created_unix_ms = a->created_unix_ms;
		m.last_seq = a->last_seq;
		m.last_lsn = a->last_lsn;
		m.first_lsn = a->first_lsn;
		m.last_active_unix_ms = a->last_active_unix_ms;
		m.compacted_seq = a->compacted_seq;
		m.compacted_lsn = a->compacted_lsn;
		if ((rc = meta_put(s, txn, &m)))
			goto out_abort;
		if (a->is_new) {
			unsigned char *v8;
			MDB_val v = {.mv_size = FRAME_HDR + 8};
			k.mv_size = name_key(kb, a->kind_id, a->key, a->key_len);
			if ((rc = mdb_put(txn, s->dbi[DB_NAMES], &k, &v,
					  MDB_RESERVE))) {
				rc = mdb_fail(s, rc, "writing a name");
				goto out_abort;
			}
			v8 = v.mv_data;
			be64_put(v8 + FRAME_HDR, a->id);
			frame_seal(v8, R_NAME, 8);
		}
	}

	if (acur)
		mdb_cursor_close(acur);
	acur = NULL;

	uint64_t last = s->last_lsn;
	for (size_t i = 0; i < b->n_entries; i++) {
		const mn__wentry *e = &b->entries[i];
		Mnemo__JournalEntry je = MNEMO__JOURNAL_ENTRY__INIT;
		if (e->lsn <= last) {
			rc = fail(s, MN_EINVAL, "log: LSN %llu not above %llu",
				  (unsigned long long)e->lsn,
				  (unsigned long long)last);
			goto out_abort;
		}
		last = e->lsn;
		je.actor_id = e->actor_id;
		je.seq = e->seq;
		je.type = e->type;
		je.sender_id = e->sender_id;
		je.unix_ms = e->unix_ms;
		je.prev_lsn = e->prev_lsn;
		je.outbox_id = e->outbox_id;
		je.flags = e->flags;
		je.state_hash = e->state_hash;
		je.n_timer_ids = e->n_timer_ids;
		je.timer_ids = (uint64_t *)e->timer_ids;
		if (e->compress) {
			je.raw_len = e->len;
			if ((rc = pack_payload(codec, true, e->dict_id,
					       e->payload, e->len, scratch,
					       &je.payload, &je.codec,
					       &je.dict_id)))
				goto out_abort;
		} else {
			/* Already in its stored form. */
			je.codec = e->method;
			je.dict_id = e->method == MN__CODEC_ZSTD_DICT
					     ? e->dict_id
					     : 0;
			je.raw_len = e->method == MN__CODEC_RAW ? e->len
								: e->raw_len;
			je.payload.data = (uint8_t *)e->payload;
			je.payload.len = e->len;
		}
		be64_put(kb, e->lsn);
		k.mv_size = 8;
		if ((rc = put_msg(s, txn, DB_LOG, &k, &je.base, R_ENTRY,
				  MDB_APPEND))) {
			rc = mdb_fail(s, rc, "appending to the log");
			goto out_abort;
		}
	}

	for (size_t i = 0; i < b->n_outbox; i++)
		if ((rc = put_outbox(s, txn, codec, DB_OUTBOX, &b->outbox[i],
				     scratch)))
			goto out_abort;

	for (size_t i = 0; i < b->n_outbox_del; i++) {
		be64_put(kb, b->outbox_del[i]);
		k.mv_size = 8;
		rc = mdb_del(txn, s->dbi[DB_OUTBOX], &k, NULL);
		if (rc && rc != MDB_NOTFOUND) {
			rc = mdb_fail(s, rc, "removing from the outbox");
			goto out_abort;
		}
		rc = 0;
	}

	for (size_t i = 0; i < b->n_snaps; i++) {
		const mn__wsnap *sn = &b->snaps[i];
		Mnemo__Snapshot ms = MNEMO__SNAPSHOT__INIT;
		unsigned char sk[16];
		ms.actor_id = sn->actor_id;
		ms.seq = sn->seq;
		ms.lsn = sn->lsn;
		ms.raw_len = sn->len;
		ms.state_hash = sn->state_hash;
		if ((rc = pack_payload(codec, true, sn->dict_id, sn->state,
				       sn->len, scratch, &ms.state, &ms.codec,
				       &ms.dict_id)))
			goto out_abort;
		be64_put(sk, sn->actor_id);
		be64_put(sk + 8, sn->seq);
		MDB_val skv = {.mv_size = 16, .mv_data = sk};
		if ((rc = put_msg(s, txn, DB_SNAPSHOTS, &skv, &ms.base,
				  R_SNAPSHOT, 0))) {
			rc = mdb_fail(s, rc, "writing a snapshot");
			goto out_abort;
		}
	}

	for (size_t i = 0; i < b->n_timers; i++) {
		const mn__wtimer *t = &b->timers[i];
		Mnemo__Timer mt = MNEMO__TIMER__INIT;
		unsigned char tk[16];
		mt.id = t->id;
		mt.actor_id = t->actor_id;
		mt.due_unix_ms = t->due_unix_ms;
		mt.type = t->type;
		mt.payload.data = (uint8_t *)t->payload;
		mt.payload.len = t->len;
		be64_put(tk, t->due_unix_ms);
		be64_put(tk + 8, t->id);
		MDB_val tkv = {.mv_size = 16, .mv_data = tk};
		if ((rc = put_msg(s, txn, DB_TIMERS, &tkv, &mt.base, R_TIMER,
				  0))) {
			rc = mdb_fail(s, rc, "writing a timer");
			goto out_abort;
		}
	}
	for (size_t i = 0; i < b->n_timer_del; i++) {
		unsigned char tk[16];
		be64_put(tk, b->timer_del[i].due_unix_ms);
		be64_put(tk + 8, b->timer_del[i].id);
		MDB_val tkv = {.mv_size = 16, .mv_data = tk};
		rc = mdb_del(txn, s->dbi[DB_TIMERS], &tkv, NULL);
		if (rc && rc != MDB_NOTFOUND) {
			rc = mdb_fail(s, rc, "removing a timer");
			goto out_abort;
		}
		rc = 0;
	}

	for (size_t i = 0; i < b->n_quarantine; i++)
		if ((rc = put_outbox(s, txn, codec, DB_QUARANTINE,
				     &b->quarantine[i], scratch)))
			goto out_abort;

	bool reserve = b->lsn_reserved > last;
	if (reserve)
		last = b->lsn_reserved;
	if (b->checkpoint_lsn || b->next_actor_id || reserve) {
		Mnemo__StoreState *st;
		if ((rc = read_state(s, txn, &st)))
			goto out_abort;
		if (b->checkpoint_lsn)
			st->checkpoint_lsn = b->checkpoint_lsn;
		if (reserve && last > st->lsn_high)
			st->lsn_high = last;
		if (b->next_actor_id > st->next_actor_id)
			st->next_actor_id = b->next_actor_id;
		rc = write_state(s, txn, st);
		mnemo__store_state__free_unpacked(st, NULL);
		if (rc)
			goto out_abort;
	}

	if ((rc = txn_commit(s, txn)))
		return commit_fail(s, rc);
	s->last_lsn = last;
	return 0;

out_abort:
	txn_abort(s, txn);
	return rc;
}

int mn__store_write(mn__store *s, mn__codec *codec, const mn__wbatch *b)
{
	mn_buf scratch;
	int rc;

	if (s->read_only)
		return fail(s, MN_EINVAL, "opened read-only");
	mn__buf_init(&scratch);
	for (int attempt = 0;; attempt++) {
		if ((rc = maybe_grow(s)))
			break;
		last_mdb_rc = 0;
		rc = write_once(s, codec, b, &scratch);
		/* A full map is not a full disk: grow it and retry the
		 * whole batch (the transaction was aborted). */
		if (rc == MN_ENOSPC && last_mdb_rc == MDB_MAP_FULL &&
		    attempt < 16) {
			if ((rc = grow_map(s)))
				break;
			continue;
		}
		break;
	}
	mn__buf_free(&scratch);
	return rc;
}

/* ---- reading --------------------------------------------------------------- */

/* Unpack a journal entry whose frame was already checked. */
static int unpack_entry(const mn__store *s, uint64_t lsn, const MDB_val *v,
			Mnemo__JournalEntry **out)
{
	size_t len = v->mv_size - FRAME_HDR;
	*out = mnemo__journal_entry__unpack(
		arena_for(len), len, (const uint8_t *)v->mv_data + FRAME_HDR);
	if (!*out)
		return fail(s, MN_ECORRUPT, "log record %llu: undecodable",
			    (unsigned long long)lsn);
	return 0;
}

static int decode_entry(const mn__store *s, const MDB_val *k, const MDB_val *v,
			Mnemo__JournalEntry **out)
{
	const unsigned char *body;
	size_t len;
	uint64_t lsn = k->mv_size == 8 ? be64_get(k->mv_data) : 0;
	/* The record's name is formatted only on failure: this runs for
	 * every entry replayed. */
	int rc = frame_open(s, v, R_ENTRY, DB_LOG, NULL, &body, &len);
	if (rc) {
		char desc[32];
		snprintf(desc, sizeof desc, "%llu", (unsigned long long)lsn);
		return frame_open(s, v, R_ENTRY, DB_LOG, desc, &body, &len);
	}
	return unpack_entry(s, lsn, v, out);
}

/* Decompress a record's payload into dst (grown); sets *p and *n. */
static int unpack_payload(const mn__store *s, mn__codec *codec,
			  uint32_t method, uint32_t dict_id, uint64_t raw_len,
			  const ProtobufCBinaryData *d, mn_buf *dst,
			  const void **p, size_t *n, const char *what,
			  uint64_t key)
{
	char where[96];
#define WHERE() (snprintf(where, sizeof where, "%s %llu", what,             \
			  (unsigned long long)key),                           \
		 where)
	if (method > 255)
		return fail(s, MN_ECORRUPT, "%s: codec %u unknown", WHERE(),
			    method);
	if (method == MN__CODEC_RAW) {
		if (d->len != raw_len)
			return fail(s, MN_ECORRUPT, "%s: length %zu, expected %llu",
				    WHERE(), d->len, (unsigned long long)raw_len);
		*p = d->data;
		*n = d->len;
		return 0;
	}
	if (!codec)
		return fail(s, MN_EINVAL, "%s: compressed, no codec", WHERE());
	if (raw_len > ((size_t)1 << 31))
		return fail(s, MN_ECORRUPT, "%s: raw length %llu", WHERE(),
			    (unsigned long long)raw_len);
	dst->len = 0;
	int rc = mn__buf_reserve(dst, (size_t)raw_len ? (size_t)raw_len : 1);
	if (rc)
		return rc;
	rc = mn__codec_decompress(codec, (uint8_t)method, dict_id, d->data,
				  d->len, dst->data, (size_t)raw_len);
	if (rc)
		return fail(s, rc, "%s: payload does not decompress (codec %u, "
				   "dictionary %u)",
			    WHERE(), method, dict_id);
	*p = dst->data;
	*n = (size_t)raw_len;
	return 0;
#undef WHERE
}

static int deliver_entry(const mn__store *s, mn__codec *codec, uint64_t lsn,
			 const MDB_val *v, Mnemo__JournalEntry *je,
			 mn_buf *dst, mn__entry_cb cb, void *arg)
{
	mn__entry e = {0};
	int rc = unpack_payload(s, codec, je->codec, je->dict_id, je->raw_len,
				&je->payload, dst, &e.payload, &e.len,
				"log record", lsn);
	if (rc)
		return rc;
	e.lsn = lsn;
	e.actor_id = je->actor_id;
	e.seq = je->seq;
	e.prev_lsn = je->prev_lsn;
	e.sender_id = je->sender_id;
	e.unix_ms = je->unix_ms;
	e.outbox_id = je->outbox_id;
	e.type = je->type;
	e.flags = je->flags;
	e.state_hash = je->state_hash;
	e.timer_ids = je->timer_ids;
	e.n_timer_ids = je->n_timer_ids;
	e.stored_len = v->mv_size;
	return cb(arg, &e);
}

/* A history walk found no entry at lsn, where actor's seq want_seq
 * belongs (actor 0: the head itself, of actor hint, whose seq the walk
 * does not know yet): compacted away (MN_ECOMPACTED) or damage
 * (MN_ECORRUPT). The history asked for starts at seq after_seq + 1. A
 * fork's first fork_seq entries are its parent's: one missing there was
 * dropped on purpose when the parent (or its parent) was compacted past
 * it. */
static int missing_entry(mn__store *s, MDB_txn *txn, uint64_t lsn,
			 uint64_t actor, uint64_t want_seq, uint64_t hint,
			 uint64_t after_seq)
{
	Mnemo__ActorMeta *m;
	uint64_t cur = actor ? actor : hint, who = hint ? hint : cur;
	bool head = !actor;
	for (int depth = 0; cur && depth < 64; depth++) {
		if (meta_get(s, txn, cur, &m))
			break;
		if (head) {
			/* The head's seq, from the actor record that names
			 * the head. */
			bool named = m->last_lsn == lsn;
			want_seq = m->last_seq;
			head = false;
			if (!named) {
				mnemo__actor_meta__free_unpacked(m, NULL);
				break;
			}
		}
		uint64_t c = m->compacted_seq, parent = m->fork_parent_id,
			 fseq = m->fork_seq;
		mnemo__actor_meta__free_unpacked(m, NULL);
		if (want_seq && want_seq <= c) {
			if (cur == who)
				return fail(s, MN_ECOMPACTED,
					    "actor %llu: history up to seq %llu "
					    "was compacted (seq %llu asked for)",
					    (unsigned long long)who,
					    (unsigned long long)c,
					    (unsigned long long)after_seq + 1);
			return fail(s, MN_ECOMPACTED,
				    "actor %llu: history up to seq %llu was "
				    "compacted in actor %llu, whose history it "
				    "shares as a fork (seq %llu asked for)",
				    (unsigned long long)who,
				    (unsigned long long)c,
				    (unsigned long long)cur,
				    (unsigned long long)after_seq + 1);
		}
		if (!parent || want_seq > fseq)
			break;
		cur = parent; /* the entry is the fork parent's */
	}
	return fail(s, MN_ECORRUPT,
		    "log record %llu: missing (history chain broken)",
		    (unsigned long long)lsn);
}

/* Is the entry at lsn (of parent, seq) where fork actor's history joins its
 * parent's? */
static bool fork_boundary(mn__store *s, MDB_txn *txn, uint64_t actor,
			  uint64_t parent, uint64_t seq, uint64_t lsn)
{
	Mnemo__ActorMeta *m;
	if (meta_get(s, txn, actor, &m))
		return false;
	bool ok = m->fork_parent_id == parent && m->fork_seq == seq &&
		  m->fork_lsn == lsn;
	mnemo__actor_meta__free_unpacked(m, NULL);
	return ok;
}

int mn__store_history(mn__store *s, mn__codec *codec, uint64_t head_lsn,
		      uint64_t after_seq, mn__entry_cb cb, void *arg)
{
	return mn__store_history_of(s, codec, 0, head_lsn, after_seq, cb, arg);
}

int mn__store_history_of(mn__store *s, mn__codec *codec, uint64_t actor_id,
			 uint64_t head_lsn, uint64_t after_seq,
			 mn__entry_cb cb, void *arg)
{
	MDB_txn *txn;
	/* The entries found walking back: their values stay valid for the
	 * whole read transaction, so the forward pass neither looks them up
	 * nor checks their checksums again. */
	struct hist {
		uint64_t lsn;
		MDB_val v;
	} *lsns = NULL;
	size_t n = 0, cap = 0;
	unsigned char kb[8];
	MDB_val k = {.mv_size = 8, .mv_data = kb}, v;
	mn_buf dst;
	uint64_t actor = 0, want_seq = 0;
	int rc = txn_begin(s, false, &txn);
	if (rc)
		return mdb_fail(s, rc, "beginning a read");
	mn__buf_init(&dst);

	/* Walk back-pointers from the head to the first wanted entry (and
	 * not one further: what comes before may be compacted away). */
	for (uint64_t lsn = head_lsn; lsn;) {
		Mnemo__JournalEntry *je;
		if (actor && want_seq <= after_seq)
			break;
		be64_put(kb, lsn);
		if ((rc = mdb_get(txn, s->dbi[DB_LOG], &k, &v))) {
			rc = rc == MDB_NOTFOUND
				     ? missing_entry(s, txn, lsn, actor,
						     want_seq, actor_id,
						     after_seq)
				     : mdb_fail(s, rc, "reading the log");
			goto out;
		}
		if ((rc = decode_entry(s, &k, &v, &je)))
			goto out;
		if (actor && je->actor_id != actor && je->seq == want_seq &&
		    fork_boundary(s, txn, actor, je->actor_id, want_seq, lsn))
			actor = je->actor_id; /* into the fork's parent */
		if (actor && (je->actor_id != actor || je->seq != want_seq)) {
			rc = fail(s, MN_ECORRUPT,
				  "log record %llu: actor %llu seq %llu where "
				  "actor %llu seq %llu belongs",
				  (unsigned long long)lsn,
				  (unsigned long long)je->actor_id,
				  (unsigned long long)je->seq,
				  (unsigned long long)actor,
				  (unsigned long long)want_seq);
			goto out;
		}
		actor = je->actor_id;
		if (je->seq <= after_seq)
			break;
		want_seq = je->seq - 1;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			struct hist *nl = realloc(lsns, cap * sizeof *lsns);
			if (!nl) {
				rc = MN_ENOMEM;
				goto out;
			}
			lsns = nl;
		}
		lsns[n].lsn = lsn;
		lsns[n++].v = v;
		if (je->seq == 1 && je->prev_lsn) {
			rc = fail(s, MN_ECORRUPT,
				  "log record %llu: seq 1 with a predecessor",
				  (unsigned long long)lsn);
			goto out;
		}
		lsn = je->prev_lsn;
		if (!lsn && je->seq != 1 && je->seq - 1 > after_seq) {
			rc = fail(s, MN_ECORRUPT,
				  "actor %llu: history starts at seq %llu",
				  (unsigned long long)actor,
				  (unsigned long long)je->seq);
			goto out;
		}
	}
	/* Then forward, oldest first. */
	while (n > 0) {
		Mnemo__JournalEntry *je;
		n--;
		if ((rc = unpack_entry(s, lsns[n].lsn, &lsns[n].v, &je)) ||
		    (rc = deliver_entry(s, codec, lsns[n].lsn, &lsns[n].v, je,
					&dst, cb, arg)))
			goto out;
	}
out:
	txn_abort(s, txn);
	free(lsns);
	mn__buf_free(&dst);
	return rc;
}

/* The latest snapshot record of actor_id at a seq <= max_seq: 0 and *key,
 * *val; MN_ENOACTOR if there is none. */
static int snap_find(mn__store *s, MDB_cursor *c, uint64_t actor_id,
		     uint64_t max_seq, MDB_val *key, MDB_val *val)
{
	unsigned char kb[16];
	MDB_val k = {.mv_size = 16, .mv_data = kb}, v;
	int e;
	/* The first key at or after (actor, max_seq): that one if it is
	 * exactly it, else the one before. */
	be64_put(kb, actor_id);
	be64_put(kb + 8, max_seq);
	e = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	if (e == 0 && !(k.mv_size == 16 && memcmp(k.mv_data, kb, 16) == 0))
		e = mdb_cursor_get(c, &k, &v, MDB_PREV);
	else if (e == MDB_NOTFOUND)
		e = mdb_cursor_get(c, &k, &v, MDB_LAST);
	if (e == MDB_NOTFOUND || (e == 0 && (k.mv_size != 16 ||
					     be64_get(k.mv_data) != actor_id)))
		return MN_ENOACTOR;
	if (e)
		return mdb_fail(s, e, "reading snapshots");
	*key = k;
	*val = v;
	return 0;
}

/* Decode the snapshot record at (k, v) of actor_id. *out is allocated in
 * the thread's arena (valid until the next decode of this thread). */
static int snap_decode(mn__store *s, uint64_t actor_id, const MDB_val *k,
		       const MDB_val *v, Mnemo__Snapshot **out)
{
	char where[64];
	const unsigned char *body;
	size_t len;
	uint64_t sseq = be64_get((unsigned char *)k->mv_data + 8);
	snprintf(where, sizeof where, "%llu/%llu", (unsigned long long)actor_id,
		 (unsigned long long)sseq);
	int rc = frame_open(s, v, R_SNAPSHOT, DB_SNAPSHOTS, where, &body, &len);
	if (rc)
		return rc;
	Mnemo__Snapshot *sn = mnemo__snapshot__unpack(arena_for(len), len, body);
	if (!sn || sn->actor_id != actor_id || sn->seq != sseq)
		return fail(s, MN_ECORRUPT, "snapshots record %s: undecodable",
			    where);
	*out = sn;
	return 0;
}

int mn__store_snapshot_latest(mn__store *s, mn__codec *codec,
			      uint64_t actor_id, uint64_t max_seq, mn_buf *out,
			      uint64_t *seq, uint64_t *lsn)
{
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_val k = {0}, v = {0};
	int rc = txn_begin(s, false, &txn);
	if (rc)
		return mdb_fail(s, rc, "beginning a read");
	if ((rc = mdb_cursor_open(txn, s->dbi[DB_SNAPSHOTS], &c))) {
		txn_abort(s, txn);
		return mdb_fail(s, rc, "opening snapshots");
	}
	/* A fork without a snapshot of its own at or before max_seq starts
	 * from its parent's latest at or before the fork point. */
	for (int depth = 0;; depth++) {
		rc = snap_find(s, c, actor_id, max_seq, &k, &v);
		if (rc != MN_ENOACTOR || depth > 64)
			break;
		Mnemo__ActorMeta *m;
		if (meta_get(s, txn, actor_id, &m))
			break; /* MN_ENOACTOR stays: no snapshot */
		uint64_t parent = m->fork_parent_id, fseq = m->fork_seq;
		mnemo__actor_meta__free_unpacked(m, NULL);
		if (!parent)
			break;
		actor_id = parent;
		if (fseq < max_seq)
			max_seq = fseq;
	}
	if (rc == 0) {
		Mnemo__Snapshot *sn = NULL;
		const void *p;
		size_t n;
		if (!(rc = snap_decode(s, actor_id, &k, &v, &sn)) &&
		    !(rc = unpack_payload(s, codec, sn->codec, sn->dict_id,
					  sn->raw_len, &sn->state, out, &p, &n,
					  "snapshot of actor", actor_id))) {
			if (p != out->data) {
				out->len = 0;
				rc = mn_buf_append(out, p, n);
			}
			out->len = n;
			*seq = sn->seq;
			*lsn = sn->lsn;
		}
	}
	mdb_cursor_close(c);
	txn_abort(s, txn);
	return rc;
}

int mn__store_timers_due(mn__store *s, uint64_t now_ms, size_t max,
			 mn__timer_cb cb, void *arg)
{
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_val k, v;
	size_t n = 0;
	int rc = txn_begin(s, false, &txn), e;
	if (rc)
		return mdb_fail(s, rc, "beginning a read");
	if ((rc = mdb_cursor_open(txn, s->dbi[DB_TIMERS], &c))) {
		txn_abort(s, txn);
		return mdb_fail(s, rc, "opening timers");
	}
	for (e = mdb_cursor_get(c, &k, &v, MDB_FIRST); e == 0 && n < max;
	     e = mdb_cursor_get(c, &k, &v, MDB_NEXT), n++) {
		const unsigned char *body;
		size_t len;
		char where[48];
		if (k.mv_size != 16) {
			rc = fail(s, MN_ECORRUPT, "timers: %zu-byte key",
				  k.mv_size);
			break;
		}
		if (be64_get(k.mv_data) > now_ms)
			break;
		snprintf(where, sizeof where, "%llu",
			 (unsigned long long)be64_get(
				 (unsigned char *)k.mv_data + 8));
		if ((rc = frame_open(s, &v, R_TIMER, DB_TIMERS, where, &body,
				     &len)))
			break;
		Mnemo__Timer *t = mnemo__timer__unpack(arena_for(len), len, body);
		if (!t) {
			rc = fail(s, MN_ECORRUPT, "timers record %s: undecodable",
				  where);
			break;
		}
		mn__wtimer wt = {.id = t->id,
				 .actor_id = t->actor_id,
				 .due_unix_ms = t->due_unix_ms,
				 .type = t->type,
				 .payload = t->payload.data,
				 .len = t->payload.len};
		if ((rc = cb(arg, &wt)))
			break;
	}
	mdb_cursor_close(c);
	txn_abort(s, txn);
	return rc;
}

bool mn__store_timer_exists(mn__store *s, uint64_t due_unix_ms, uint64_t id)
{
	MDB_txn *txn;
	unsigned char tk[16];
	MDB_val k = {.mv_size = 16, .mv_data = tk}, v;
	be64_put(tk, due_unix_ms);
	be64_put(tk + 8, id);
	if (txn_begin(s, false, &txn))
		return false;
	bool found = mdb_get(txn, s->dbi[DB_TIMERS], &k, &v) == 0;
	txn_abort(s, txn);
	return found;
}

uint64_t mn__store_timers_next(mn__store *s)
{
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_val k, v;
	uint64_t due = 0;
	if (txn_begin(s, false, &txn))
		return 0;
	if (mdb_cursor_open(txn, s->dbi[DB_TIMERS], &c) == 0) {
		if (mdb_cursor_get(c, &k, &v, MDB_FIRST) == 0 && k.mv_size == 16)
			due = be64_get(k.mv_data);
		mdb_cursor_close(c);
	}
	txn_abort(s, txn);
	return due;
}

int mn__store_log_scan(mn__store *s, mn__codec *codec, uint64_t from_lsn,
		       mn__entry_cb cb, void *arg)
{
	MDB_txn *txn;
	MDB_cursor *c;
	unsigned char kb[8];
	MDB_val k = {.mv_size = 8, .mv_data = kb}, v;
	mn_buf dst;
	int rc = txn_begin(s, false, &txn);
	if (rc)
		return mdb_fail(s, rc, "beginning a read");
	if ((rc = mdb_cursor_open(txn, s->dbi[DB_LOG], &c))) {
		txn_abort(s, txn);
		return mdb_fail(s, rc, "opening the log");
	}
	mn__buf_init(&dst);
	be64_put(kb, from_lsn);
	int e;
	for (e = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); e == 0;
	     e = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		Mnemo__JournalEntry *je;
		if ((rc = decode_entry(s, &k, &v, &je)) ||
		    (rc = deliver_entry(s, codec, be64_get(k.mv_data), &v, je,
					&dst, cb, arg)))
			break;
	}
	if (!rc && e != MDB_NOTFOUND)
		rc = mdb_fail(s, e, "scanning the log");
	mdb_cursor_close(c);
	txn_abort(s, txn);
	mn__buf_free(&dst);
	return rc;
}

int mn__store_outbox_scan(mn__store *s, mn__codec *codec, mn__entry_cb cb,
			  void *arg)
{
	return mn__store_outbox_range(s, codec, 0, UINT64_MAX, cb, arg);
}

/* The outbox-shaped records of db (outbox or quarantine) with from_id <=
 * id < to_id. */
static int outbox_db_range(mn__store *s, mn__codec *codec, int db,
			   uint64_t from_id, uint64_t to_id, mn__entry_cb cb,
			   void *arg)
{
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_val k, v;
	mn_buf dst;
	int rc = txn_begin(s, false, &txn);
	if (rc)
		return mdb_fail(s, rc, "beginning a read");
	if ((rc = mdb_cursor_open(txn, s->dbi[db], &c))) {
		txn_abort(s, txn);
		return mdb_fail(s, rc, "opening the outbox");
	}
	mn__buf_init(&dst);
	int e;
	unsigned char fk[8];
	be64_put(fk, from_id);
	k.mv_size = 8;
	k.mv_data = fk;
	for (e = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); e == 0;
	     e = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		char where[48];
		const unsigned char *body;
		size_t len;
		uint64_t id = k.mv_size == 8 ? be64_get(k.mv_data) : 0;
		if (id >= to_id)
			break;
		snprintf(where, sizeof where, "%llu", (unsigned long long)id);
		if ((rc = frame_open(s, &v, R_OUTBOX, db, where, &body,
				     &len)))
			break;
		Mnemo__OutboxEntry *o =
			mnemo__outbox_entry__unpack(arena_for(len), len, body);
		if (!o || o->id != id || o->target_key.len == 0 ||
		    o->target_key.len > MN_KEY_MAX) {
			rc = fail(s, MN_ECORRUPT, "%s record %s: undecodable",
				  db_names[db], where);
			break;
		}
		mn__entry en = {0};
		if ((rc = unpack_payload(s, codec, o->codec, o->dict_id,
					 o->raw_len, &o->payload, &dst,
					 &en.payload, &en.len,
					 db == DB_OUTBOX ? "outbox record"
							 : "quarantine record",
					 id)))
			break;
		en.lsn = id;
		en.sender_id = o->sender_id;
		en.unix_ms = o->unix_ms;
		en.type = o->type;
		en.flags = o->flags;
		en.kind_id = o->target_kind_id;
		en.key = o->target_key.data;
		en.key_len = o->target_key.len;
		en.stored_len = v.mv_size;
		if ((rc = cb(arg, &en)))
			break;
	}
	if (!rc && e != MDB_NOTFOUND)
		rc = mdb_fail(s, e, "scanning the outbox");
	mdb_cursor_close(c);
	txn_abort(s, txn);
	mn__buf_free(&dst);
	return rc;
}

int mn__store_outbox_range(mn__store *s, mn__codec *codec, uint64_t from_id,
			   uint64_t to_id, mn__entry_cb cb, void *arg)
{
	return outbox_db_range(s, codec, DB_OUTBOX, from_id, to_id, cb, arg);
}

/* ---- inspection (tools) ------------------------------------------------------ */

int mn__store_actors_scan(mn__store *s, mn__actor_cb cb, void *arg)
{
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_val k, v;
	int rc = txn_begin(s, false, &txn), e;
	if (rc)
		return mdb_fail(s, rc, "beginning a read");
	if ((rc = mdb_cursor_open(txn, s->dbi[DB_ACTORS], &c))) {
		txn_abort(s, txn);
		return mdb_fail(s, rc, "opening actors");
	}
	for (e = mdb_cursor_get(c, &k, &v, MDB_FIRST); e == 0;
	     e = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		const unsigned char *body;
		size_t len;
		char desc[32];
		uint64_t id = k.mv_size == 8 ? be64_get(k.mv_data) : 0;
		snprintf(desc, sizeof desc, "%llu", (unsigned long long)id);
		if ((rc = frame_open(s, &v, R_ACTOR, DB_ACTORS, desc, &body,
				     &len)))
			break;
		Mnemo__ActorMeta *m = mnemo__actor_meta__unpack(NULL, len, body);
		if (!m || m->key.len == 0 || m->key.len > MN_KEY_MAX) {
			if (m)
				mnemo__actor_meta__free_unpacked(m, NULL);
			rc = fail(s, MN_ECORRUPT, "actors record %s: undecodable",
				  desc);
			break;
		}
		mn__actor_meta out;
		meta_copy(s, m, &out);
		mnemo__actor_meta__free_unpacked(m, NULL);
		if ((rc = cb(arg, &out)))
			break;
	}
	if (!rc && e != MDB_NOTFOUND)
		rc = mdb_fail(s, e, "scanning actors");
	mdb_cursor_close(c);
	txn_abort(s, txn);
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

int mn__store_stats_get(mn__store *s, mn__store_stats *st)
{
	MDB_txn *txn;
	MDB_stat ms;
	MDB_envinfo ei;
	memset(st, 0, sizeof *st);
	int rc = txn_begin(s, false, &txn);
	if (rc)
		return mdb_fail(s, rc, "beginning a read");
	uint64_t *counts[DB_COUNT] = {
		[DB_KINDS] = &st->kinds,	 [DB_NAMES] = &st->names,
		[DB_ACTORS] = &st->actors,	 [DB_LOG] = &st->log_entries,
		[DB_SNAPSHOTS] = &st->snapshots, [DB_OUTBOX] = &st->outbox,
		[DB_TIMERS] = &st->timers,	 [DB_DICTS] = &st->dicts,
		[DB_QUARANTINE] = &st->quarantine,
	};
	for (int i = 0; i < DB_COUNT; i++) {
		if (!counts[i] || (i == DB_QUARANTINE && s->no_quarantine))
			continue;
		if ((rc = mdb_stat(txn, s->dbi[i], &ms))) {
			txn_abort(s, txn);
			return mdb_fail(s, rc, "stat");
		}
		*counts[i] = ms.ms_entries;
		if (i == DB_LOG)
			st->log_bytes = (ms.ms_branch_pages + ms.ms_leaf_pages +
					 ms.ms_overflow_pages) *
					(uint64_t)ms.ms_psize;
		st->page_size = ms.ms_psize;
	}
	Mnemo__StoreState *state;
	if ((rc = read_state(s, txn, &state)) == 0) {
		st->checkpoint_lsn = state->checkpoint_lsn;
		mnemo__store_state__free_unpacked(state, NULL);
	}
	if (!rc)
		rc = last_key_u64(s, txn, DB_LOG, &st->last_lsn);
	txn_abort(s, txn);
	mdb_env_info(s->env, &ei);
	st->map_size = ei.me_mapsize;
	st->disk_bytes = mn__store_disk_bytes(s);
	st->format_version = MN__FORMAT_VERSION;
	return rc;
}

/* ---- maintenance: forks, compaction, quarantine ------------------------------ */

/* Run fn(s, arg, txn) in a write transaction, growing the map and retrying
 * when it fills (fn must be safe to run again after an abort). */
static int write_txn(mn__store *s, int (*fn)(mn__store *, void *, MDB_txn *),
		     void *arg)
{
	if (s->read_only)
		return fail(s, MN_EINVAL, "opened read-only");
	for (int attempt = 0;; attempt++) {
		MDB_txn *txn;
		int rc = maybe_grow(s);
		if (rc)
			return rc;
		if ((rc = txn_begin(s, true, &txn)))
			return mdb_fail(s, rc, "beginning a write");
		last_mdb_rc = 0;
		rc = fn(s, arg, txn);
		if (rc) {
			txn_abort(s, txn);
		} else if ((rc = txn_commit(s, txn))) {
			rc = commit_fail(s, rc);
		}
		if (rc == MN_ENOSPC && last_mdb_rc == MDB_MAP_FULL &&
		    attempt < 16) {
			if ((rc = grow_map(s)))
				return rc;
			continue;
		}
		return rc;
	}
}

/* The LSN and owner of the entry at seq in the history that ends at
 * (actor, head_lsn): walks back, across fork boundaries. An entry dropped
 * by compaction is found only when it is the owner's compaction point. */
static int entry_at_seq(mn__store *s, MDB_txn *txn, const Mnemo__ActorMeta *am,
			uint64_t seq, uint64_t *lsn_out, uint64_t *owner_out)
{
	uint64_t actor = am->id, want = am->last_seq, lsn = am->last_lsn;
	unsigned char kb[8];
	MDB_val k = {.mv_size = 8, .mv_data = kb}, v;
	while (lsn) {
		Mnemo__JournalEntry *je;
		int rc;
		/* The compaction point's entry is gone but its LSN is kept: a
		 * fork may start there (from its snapshot). A fork whose head
		 * is its fork point holds its parent's entry there: look in
		 * the parent (and its parent) for that compaction point. */
		for (uint64_t who = actor, depth = 0; want == seq && who &&
						      depth < 64;
		     depth++) {
			Mnemo__ActorMeta *m;
			if ((rc = meta_get(s, txn, who, &m)))
				return rc;
			bool at_base = m->compacted_seq == seq &&
				       m->compacted_lsn == lsn;
			uint64_t up = m->fork_seq == seq && m->fork_lsn == lsn
					  ? m->fork_parent_id
					  : 0;
			mnemo__actor_meta__free_unpacked(m, NULL);
			if (at_base) {
				*lsn_out = lsn;
				*owner_out = who;
				return 0;
			}
			who = up;
		}
		be64_put(kb, lsn);
		if ((rc = mdb_get(txn, s->dbi[DB_LOG], &k, &v)))
			return rc == MDB_NOTFOUND
				       ? missing_entry(s, txn, lsn, actor, want,
						       0, seq - 1)
				       : mdb_fail(s, rc, "reading the log");
		if ((rc = decode_entry(s, &k, &v, &je)))
			return rc;
		if (je->actor_id != actor && je->seq == want &&
		    fork_boundary(s, txn, actor, je->actor_id, want, lsn))
			actor = je->actor_id;
		if (je->actor_id != actor || je->seq != want)
			return fail(s, MN_ECORRUPT,
				    "log record %llu: actor %llu seq %llu where "
				    "actor %llu seq %llu belongs",
				    (unsigned long long)lsn,
				    (unsigned long long)je->actor_id,
				    (unsigned long long)je->seq,
				    (unsigned long long)actor,
				    (unsigned long long)want);
		if (je->seq == seq) {
			*lsn_out = lsn;
			*owner_out = actor;
			return 0;
		}
		want = je->seq - 1;
		lsn = je->prev_lsn;
	}
	return fail(s, MN_ECORRUPT, "actor %llu: no entry at seq %llu",
		    (unsigned long long)am->id, (unsigned long long)seq);
}

typedef struct fork_op {
	uint64_t parent_id, seq;
	const void *key;
	size_t key_len;
	mn__actor_meta *out;
} fork_op;

static int fork_txn(mn__store *s, void *arg, MDB_txn *txn)
{
	fork_op *f = arg;
	Mnemo__ActorMeta *pm = NULL;
	Mnemo__StoreState *st = NULL;
	unsigned char kb[4 + MN_KEY_MAX];
	MDB_val k = {.mv_data = kb}, v;
	uint64_t lsn = 0, owner = 0, last_actor;
	int rc;

	if ((rc = meta_get(s, txn, f->parent_id, &pm)))
		return rc;
	if (f->seq < 1 || f->seq > pm->last_seq) {
		rc = fail(s, MN_EINVAL,
			  "actor %llu has seq 1..%llu; cannot fork at %llu",
			  (unsigned long long)pm->id,
			  (unsigned long long)pm->last_seq,
			  (unsigned long long)f->seq);
		goto out;
	}
	if (f->seq < pm->compacted_seq) {
		rc = fail(s, MN_ECOMPACTED,
			  "actor %llu: history up to seq %llu was compacted; "
			  "fork at %llu or later",
			  (unsigned long long)pm->id,
			  (unsigned long long)pm->compacted_seq,
			  (unsigned long long)pm->compacted_seq);
		goto out;
	}
	if ((rc = entry_at_seq(s, txn, pm, f->seq, &lsn, &owner)))
		goto out;
	k.mv_size = name_key(kb, pm->kind_id, f->key, f->key_len);
	rc = mdb_get(txn, s->dbi[DB_NAMES], &k, &v);
	if (rc == 0) {
		rc = fail(s, MN_EEXIST, "the new address is already an actor");
		goto out;
	}
	if (rc != MDB_NOTFOUND) {
		rc = mdb_fail(s, rc, "reading a name");
		goto out;
	}
	if ((rc = read_state(s, txn, &st)) ||
	    (rc = last_key_u64(s, txn, DB_ACTORS, &last_actor)))
		goto out;
	uint64_t id = st->next_actor_id > last_actor ? st->next_actor_id
						     : last_actor + 1;
	uint64_t now = now_ms();
	Mnemo__ActorMeta m = MNEMO__ACTOR_META__INIT;
	m.id = id;
	m.kind_id = pm->kind_id;
	m.key.data = (uint8_t *)f->key;
	m.key.len = f->key_len;
	m.created_unix_ms = now;
	m.last_active_unix_ms = now;
	m.last_seq = f->seq;
	m.last_lsn = lsn;
	m.fork_parent_id = owner;
	m.fork_seq = f->seq;
	m.fork_lsn = lsn;
	if ((rc = meta_put(s, txn, &m)))
		goto out;
	unsigned char v8[FRAME_HDR + 8];
	MDB_val nv = {.mv_size = sizeof v8, .mv_data = v8};
	be64_put(v8 + FRAME_HDR, id);
	frame_seal(v8, R_NAME, 8);
	if ((rc = mdb_put(txn, s->dbi[DB_NAMES], &k, &nv, 0))) {
		rc = mdb_fail(s, rc, "writing a name");
		goto out;
	}
	st->next_actor_id = id + 1;
	if ((rc = write_state(s, txn, st)))
		goto out;
	meta_copy(s, &m, f->out);
out:
	if (pm)
		mnemo__actor_meta__free_unpacked(pm, NULL);
	if (st)
		mnemo__store_state__free_unpacked(st, NULL);
	return rc;
}

int mn__store_fork(mn__store *s, uint64_t parent_id, uint64_t seq,
		   const void *key, size_t key_len, mn__actor_meta *out)
{
	if (!key || key_len == 0 || key_len > MN_KEY_MAX || !out)
		return MN_EINVAL;
	fork_op f = {parent_id, seq, key, key_len, out};
	return write_txn(s, fork_txn, &f);
}

/* A fork that still reads its parent's history up to seq. */
typedef struct fork_dep {
	uint64_t parent_id, seq;
} fork_dep;

struct mn__compaction {
	uint64_t keep;
	uint64_t next_id; /* the next actor to look at */
	bool done;
	fork_dep *deps;   /* sorted by parent, then seq */
	size_t ndeps;
	mn__compact_stats st;
	uint64_t *ids;    /* one step's actors */
	size_t ids_cap;
	uint64_t *dead;   /* one actor's entries to drop */
	size_t dead_cap;
};

static int dep_cmp(const void *a, const void *b)
{
	const fork_dep *x = a, *y = b;
	if (x->parent_id != y->parent_id)
		return x->parent_id < y->parent_id ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int collect_dep(void *arg, const mn__actor_meta *m)
{
	mn__compaction *c = arg;
	/* A fork compacted past its fork point no longer reads the
	 * parent's history. */
	if (!m->fork_parent_id || m->compacted_seq > m->fork_seq)
		return 0;
	if ((c->ndeps & (c->ndeps + 1)) == 0 || c->ndeps == 0) {
		size_t cap = c->ndeps ? (c->ndeps + 1) * 2 : 16;
		fork_dep *n = realloc(c->deps, cap * sizeof *n);
		if (!n)
			return MN_ENOMEM;
		c->deps = n;
	}
	c->deps[c->ndeps++] = (fork_dep){m->fork_parent_id, m->fork_seq};
	return 0;
}

int mn__store_compact_begin(mn__store *s, uint64_t keep, mn__compaction **out)
{
	mn__compaction *c = calloc(1, sizeof *c);
	if (!c)
		return MN_ENOMEM;
	c->keep = keep;
	c->next_id = 1;
	int rc = mn__store_actors_scan(s, collect_dep, c);
	if (rc) {
		mn__store_compact_end(c);
		return rc;
	}
	if (c->ndeps)
		qsort(c->deps, c->ndeps, sizeof *c->deps, dep_cmp);
	*out = c;
	return 0;
}

/* The smallest fork point of forks reading id's history (UINT64_MAX if
 * none). */
static uint64_t dep_min(const mn__compaction *c, uint64_t id)
{
	size_t lo = 0, hi = c->ndeps;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (c->deps[mid].parent_id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < c->ndeps && c->deps[lo].parent_id == id ? c->deps[lo].seq
							    : UINT64_MAX;
}

/* Compact one actor inside txn. */
static int compact_actor(mn__store *s, mn__compaction *c, MDB_txn *txn,
			 uint64_t id)
{
	Mnemo__ActorMeta *m;
	MDB_cursor *sc = NULL;
	MDB_val k, v;
	unsigned char kb[16];
	int rc = meta_get(s, txn, id, &m);
	if (rc)
		return rc == MN_ENOACTOR ? 0 : rc;
	c->st.actors++;
	if (m->last_seq <= c->keep)
		goto out;
	uint64_t limit = m->last_seq - c->keep, dep = dep_min(c, id);
	if (dep < limit) {
		limit = dep;
		c->st.held++;
	}
	/* The base: this actor's own latest snapshot at or before limit. */
	if ((rc = mdb_cursor_open(txn, s->dbi[DB_SNAPSHOTS], &sc))) {
		rc = mdb_fail(s, rc, "opening snapshots");
		goto out;
	}
	rc = snap_find(s, sc, id, limit, &k, &v);
	if (rc == MN_ENOACTOR) {
		rc = 0;
		goto out;
	}
	if (rc)
		goto out;
	uint64_t base = be64_get((unsigned char *)k.mv_data + 8);
	if (base <= m->compacted_seq || base <= m->fork_seq)
		goto out; /* nothing new to drop (a fork drops only its own) */
	Mnemo__Snapshot *sn;
	if ((rc = snap_decode(s, id, &k, &v, &sn)))
		goto out;
	uint64_t base_lsn = sn->lsn;

	/* Entries: walk back from the head; keep those after the base, drop
	 * the rest of this actor's own (stop at a fork boundary or at what an
	 * earlier compaction dropped). */
	size_t ndead = 0;
	uint64_t first_kept = 0;
	unsigned char lk[8];
	MDB_val lkv = {.mv_size = 8, .mv_data = lk}, lv;
	uint64_t above_seq = UINT64_MAX, above_lsn = UINT64_MAX;
	for (uint64_t lsn = m->last_lsn; lsn;) {
		Mnemo__JournalEntry *je;
		be64_put(lk, lsn);
		int e = mdb_get(txn, s->dbi[DB_LOG], &lkv, &lv);
		if (e == MDB_NOTFOUND)
			break;
		if (e) {
			rc = mdb_fail(s, e, "reading the log");
			goto out;
		}
		if ((rc = decode_entry(s, &lkv, &lv, &je)))
			goto out;
		if (je->actor_id != id)
			break;
		/* L2: a chain moves strictly back; a loop is damage, never
		 * a walk without end. */
		if (lsn >= above_lsn || je->seq >= above_seq) {
			rc = fail(s, MN_ECORRUPT,
				  "log record %llu: actor %llu seq %llu does not "
				  "come before seq %llu (history chain loops)",
				  (unsigned long long)lsn,
				  (unsigned long long)id,
				  (unsigned long long)je->seq,
				  (unsigned long long)above_seq);
			goto out;
		}
		above_lsn = lsn;
		above_seq = je->seq;
		if (je->seq > base) {
			first_kept = lsn;
		} else {
			if (ndead == c->dead_cap) {
				size_t cap = c->dead_cap ? c->dead_cap * 2 : 256;
				uint64_t *n = realloc(c->dead, cap * sizeof *n);
				if (!n) {
					rc = MN_ENOMEM;
					goto out;
				}
				c->dead = n;
				c->dead_cap = cap;
			}
			c->dead[ndead++] = lsn;
			c->st.bytes += lv.mv_size;
		}
		lsn = je->prev_lsn;
	}
	for (size_t i = 0; i < ndead; i++) {
		be64_put(lk, c->dead[i]);
		int e = mdb_del(txn, s->dbi[DB_LOG], &lkv, NULL);
		if (e && e != MDB_NOTFOUND) {
			rc = mdb_fail(s, e, "dropping a log record");
			goto out;
		}
	}
	c->st.entries += ndead;

	/* Snapshots before the base. */
	be64_put(kb, id);
	be64_put(kb + 8, 0);
	k.mv_size = 16;
	k.mv_data = kb;
	for (int e = mdb_cursor_get(sc, &k, &v, MDB_SET_RANGE); e == 0;
	     e = mdb_cursor_get(sc, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 16 || be64_get(k.mv_data) != id ||
		    be64_get((unsigned char *)k.mv_data + 8) >= base)
			break;
		c->st.bytes += v.mv_size;
		c->st.snapshots++;
		if ((e = mdb_cursor_del(sc, 0))) {
			rc = mdb_fail(s, e, "dropping a snapshot");
			goto out;
		}
	}

	m->compacted_seq = base;
	m->compacted_lsn = base_lsn;
	m->first_lsn = first_kept;
	if ((rc = meta_put(s, txn, m)))
		goto out;
	c->st.compacted++;
out:
	if (sc)
		mdb_cursor_close(sc);
	mnemo__actor_meta__free_unpacked(m, NULL);
	return rc;
}

/* Raise StoreState.lsn_high to the newest log key in txn (L1). */
static int keep_lsn_high(mn__store *s, MDB_txn *txn)
{
	Mnemo__StoreState *st;
	uint64_t last;
	int rc = last_key_u64(s, txn, DB_LOG, &last);
	if (rc || (rc = read_state(s, txn, &st)))
		return rc;
	if (last > st->lsn_high) {
		st->lsn_high = last;
		rc = write_state(s, txn, st);
	}
	mnemo__store_state__free_unpacked(st, NULL);
	return rc;
}

typedef struct compact_op {
	mn__compaction *c;
	size_t max;
	mn__compact_stats before;
	uint64_t next_before;
} compact_op;

static int compact_txn(mn__store *s, void *arg, MDB_txn *txn)
{
	compact_op *op = arg;
	mn__compaction *c = op->c;
	MDB_cursor *ac;
	MDB_val k, v;
	unsigned char kb[8];
	size_t n = 0;
	int rc, e;

	/* A retry (map growth) starts the step over. */
	c->st = op->before;
	c->next_id = op->next_before;
	/* L1: before this step may drop the newest log entries, the store
	 * remembers the newest LSN issued, so no LSN is issued twice. */
	if ((rc = keep_lsn_high(s, txn)))
		return rc;
	if (c->ids_cap < op->max) {
		uint64_t *ids = realloc(c->ids, op->max * sizeof *ids);
		if (!ids)
			return MN_ENOMEM;
		c->ids = ids;
		c->ids_cap = op->max;
	}
	/* This step's actors first: the loop below writes the actors
	 * database. */
	if ((rc = mdb_cursor_open(txn, s->dbi[DB_ACTORS], &ac)))
		return mdb_fail(s, rc, "opening the actors");
	be64_put(kb, c->next_id);
	k.mv_size = 8;
	k.mv_data = kb;
	for (e = mdb_cursor_get(ac, &k, &v, MDB_SET_RANGE); e == 0 && n < op->max;
	     e = mdb_cursor_get(ac, &k, &v, MDB_NEXT))
		if (k.mv_size == 8)
			c->ids[n++] = be64_get(k.mv_data);
	mdb_cursor_close(ac);
	if (e && e != MDB_NOTFOUND)
		return mdb_fail(s, e, "reading the actors");
	for (size_t i = 0; i < n; i++)
		if ((rc = compact_actor(s, c, txn, c->ids[i])))
			return rc;
	if (n < op->max || e == MDB_NOTFOUND)
		c->done = true;
	else
		c->next_id = c->ids[n - 1] + 1;
	return 0;
}

int mn__store_compact_step(mn__store *s, mn__compaction *c,
			   size_t max_actors, bool *done)
{
	compact_op op = {c, max_actors ? max_actors : 1, c->st, c->next_id};
	int rc = c->done ? 0 : write_txn(s, compact_txn, &op);
	if (rc) {
		c->st = op.before;
		c->next_id = op.next_before;
	}
	*done = c->done;
	return rc;
}

void mn__store_compact_stats(const mn__compaction *c, mn__compact_stats *st)
{
	*st = c->st;
}

void mn__store_compact_end(mn__compaction *c)
{
	if (!c)
		return;
	free(c->deps);
	free(c->ids);
	free(c->dead);
	free(c);
}

int mn__store_quarantine_scan(mn__store *s, mn__codec *codec, mn__entry_cb cb,
			      void *arg)
{
	if (s->no_quarantine)
		return 0;
	return outbox_db_range(s, codec, DB_QUARANTINE, 0, UINT64_MAX, cb, arg);
}

typedef struct take_op {
	uint64_t id;
	bool release;
	uint64_t n;
} take_op;

static int take_txn(mn__store *s, void *arg, MDB_txn *txn)
{
	take_op *t = arg;
	MDB_cursor *c;
	MDB_val k, v;
	unsigned char kb[8], ob[8];
	uint64_t next, qlast;
	int rc, e;

	t->n = 0;
	if ((rc = last_key_u64(s, txn, DB_OUTBOX, &next)) ||
	    (rc = last_key_u64(s, txn, DB_QUARANTINE, &qlast)))
		return rc;
	if (qlast > next)
		next = qlast;
	if ((rc = mdb_cursor_open(txn, s->dbi[DB_QUARANTINE], &c)))
		return mdb_fail(s, rc, "opening the quarantine");
	be64_put(kb, t->id);
	k.mv_size = 8;
	k.mv_data = kb;
	for (e = mdb_cursor_get(c, &k, &v, t->id ? MDB_SET_KEY : MDB_FIRST);
	     e == 0;) {
		if (t->release) {
			/* The record keeps its frame; only its id (in the
			 * record too) changes: decode, renumber, rewrite. */
			const unsigned char *body;
			size_t len;
			char where[32];
			snprintf(where, sizeof where, "%llu",
				 (unsigned long long)be64_get(k.mv_data));
			if ((rc = frame_open(s, &v, R_OUTBOX, DB_QUARANTINE,
					     where, &body, &len)))
				break;
			Mnemo__OutboxEntry *o = mnemo__outbox_entry__unpack(
				arena_for(len), len, body);
			if (!o) {
				rc = fail(s, MN_ECORRUPT,
					  "quarantine record %s: undecodable",
					  where);
				break;
			}
			o->id = ++next;
			be64_put(ob, o->id);
			MDB_val okv = {.mv_size = 8, .mv_data = ob};
			if ((rc = put_msg(s, txn, DB_OUTBOX, &okv, &o->base,
					  R_OUTBOX, 0))) {
				rc = mdb_fail(s, rc, "writing the outbox");
				break;
			}
		}
		if ((e = mdb_cursor_del(c, 0))) {
			rc = mdb_fail(s, e, "removing from the quarantine");
			break;
		}
		t->n++;
		if (t->id)
			break;
		e = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	if (rc)
		return rc;
	if (e && e != MDB_NOTFOUND)
		return mdb_fail(s, e, "reading the quarantine");
	if (t->id && t->n == 0)
		return fail(s, MN_ENOACTOR, "no quarantined message %llu",
			    (unsigned long long)t->id);
	return 0;
}

int mn__store_quarantine_take(mn__store *s, uint64_t id, bool release,
			      uint64_t *n)
{
	take_op t = {id, release, 0};
	int rc = write_txn(s, take_txn, &t);
	*n = rc ? 0 : t.n;
	return rc;
}

/* ---- deleting an actor (mn_actor_delete, mnemo rm) ---------------------------
 * store.h says the protocol. The marker: meta key "del:" + id (big-endian),
 * an R_NAME frame holding the id. */

#define DEL_KEY_LEN 12

static void del_key(unsigned char *kb, uint64_t id)
{
	memcpy(kb, "del:", 4);
	be64_put(kb + 4, id);
}

/* 0 marked, MN_ENOACTOR not, or a store error. */
static int del_marked(mn__store *s, MDB_txn *txn, uint64_t id)
{
	unsigned char kb[DEL_KEY_LEN];
	MDB_val k = {.mv_size = sizeof kb, .mv_data = kb}, v;
	del_key(kb, id);
	int rc = mdb_get(txn, s->dbi[DB_META], &k, &v);
	if (rc == MDB_NOTFOUND)
		return MN_ENOACTOR;
	return rc ? mdb_fail(s, rc, "reading a deletion marker") : 0;
}

typedef struct del_op {
	uint64_t id;
	size_t max;
	bool done;
	bool check_forks; /* begin: refuse a parent with live forks */
	mn__delete_stats *st;
} del_op;

/* Delete, in db (outbox-shaped: outbox or quarantine), the records to
 * (kind_id, key), and when drop_from those from id; with rewrite_from,
 * records from id get sender 0 (from outside) instead. */
static int del_outbox_db(mn__store *s, MDB_txn *txn, int db,
			 const Mnemo__ActorMeta *m, bool drop_from,
			 uint64_t *count)
{
	MDB_cursor *c;
	MDB_val k, v;
	uint64_t *fix = NULL;
	size_t nfix = 0, capfix = 0;
	int rc = 0, e;
	if ((e = mdb_cursor_open(txn, s->dbi[db], &c)))
		return mdb_fail(s, e, "opening a cursor");
	for (e = mdb_cursor_get(c, &k, &v, MDB_FIRST); e == 0;) {
		const unsigned char *body;
		size_t len;
		char where[32];
		if (k.mv_size != 8) {
			rc = fail(s, MN_ECORRUPT, "%s: %zu-byte key",
				  db_names[db], k.mv_size);
			break;
		}
		snprintf(where, sizeof where, "%llu",
			 (unsigned long long)be64_get(k.mv_data));
		if ((rc = frame_open(s, &v, R_OUTBOX, db, where, &body, &len)))
			break;
		Mnemo__OutboxEntry *o = mnemo__outbox_entry__unpack(
		    arena_for(len), len, body);
		if (!o) {
			rc = fail(s, MN_ECORRUPT, "%s record %s: undecodable",
				  db_names[db], where);
			break;
		}
		bool to = o->target_kind_id == m->kind_id &&
			  o->target_key.len == m->key.len &&
			  memcmp(o->target_key.data, m->key.data,
				 m->key.len) == 0;
		bool from = o->sender_id == m->id;
		if (to || (from && drop_from)) {
			if ((e = mdb_cursor_del(c, 0))) {
				rc = mdb_fail(s, e, "deleting a message");
				break;
			}
			(*count)++;
			e = mdb_cursor_get(c, &k, &v, MDB_NEXT);
			continue;
		}
		if (from) {
			if (nfix == capfix) {
				capfix = capfix ? capfix * 2 : 16;
				void *n = realloc(fix, capfix * sizeof *fix);
				if (!n) {
					rc = MN_ENOMEM;
					break;
				}
				fix = n;
			}
			fix[nfix++] = be64_get(k.mv_data);
		}
		e = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	if (!rc && e && e != MDB_NOTFOUND)
		rc = mdb_fail(s, e, "reading messages");
	/* Its sends to others stay, as from outside. */
	for (size_t i = 0; i < nfix && !rc; i++) {
		unsigned char kb[8];
		const unsigned char *body;
		size_t len;
		MDB_val fk = {.mv_size = 8, .mv_data = kb}, fv;
		be64_put(kb, fix[i]);
		if ((e = mdb_get(txn, s->dbi[db], &fk, &fv))) {
			rc = mdb_fail(s, e, "reading a message");
			break;
		}
		if ((rc = frame_open(s, &fv, R_OUTBOX, db, "message", &body,
				     &len)))
			break;
		Mnemo__OutboxEntry *o = mnemo__outbox_entry__unpack(
		    arena_for(len), len, body);
		if (!o) {
			rc = fail(s, MN_ECORRUPT, "%s: undecodable",
				  db_names[db]);
			break;
		}
		o->sender_id = 0;
		o->flags |= MN_MSG_EXTERNAL;
		if ((e = put_msg(s, txn, db, &fk, &o->base, R_OUTBOX, 0)))
			rc = mdb_fail(s, e, "rewriting a message");
	}
	free(fix);
	return rc;
}

/* MN_EBUSY (detail naming the fork) if actor id has a live fork (one
 * not being deleted), 0 if none, or a store error. One scan of actors. */
static int live_fork(mn__store *s, MDB_txn *txn, uint64_t id)
{
	MDB_cursor *c;
	MDB_val k, v;
	int rc = 0, e;
	if ((e = mdb_cursor_open(txn, s->dbi[DB_ACTORS], &c)))
		return mdb_fail(s, e, "opening actors");
	for (e = mdb_cursor_get(c, &k, &v, MDB_FIRST); e == 0;
	     e = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		const unsigned char *body;
		size_t len;
		if (k.mv_size != 8)
			continue;
		if (frame_open(s, &v, R_ACTOR, DB_ACTORS, "actor", &body, &len))
			continue;
		Mnemo__ActorMeta *f =
		    mnemo__actor_meta__unpack(arena_for(len), len, body);
		if (!f || f->fork_parent_id != id)
			continue;
		uint64_t fid = f->id;
		if ((rc = del_marked(s, txn, fid)) == MN_ENOACTOR) {
			rc = fail(s, MN_EBUSY,
				  "actor %llu has a live fork (actor %llu) "
				  "that shares its history: delete its forks "
				  "first",
				  (unsigned long long)id,
				  (unsigned long long)fid);
			break;
		}
		if (rc)
			break;
	}
	mdb_cursor_close(c);
	if (!rc && e != MDB_NOTFOUND)
		rc = mdb_fail(s, e, "reading actors");
	return rc;
}

static int del_begin_txn(mn__store *s, void *arg, MDB_txn *txn)
{
	del_op *d = arg;
	Mnemo__ActorMeta *m = NULL;
	unsigned char kb[4 + MN_KEY_MAX], sk[16];
	MDB_val k = {.mv_data = kb}, v;
	MDB_cursor *c = NULL;
	int rc, e;

	rc = del_marked(s, txn, d->id);
	if (rc != MN_ENOACTOR)
		return rc; /* begun before (0), or an error */
	if ((rc = meta_get(s, txn, d->id, &m)))
		return rc;

	/* Its live forks share its history: refused. */
	if (d->check_forks && (rc = live_fork(s, txn, d->id)))
		goto out;

	/* Its name, if it still leads to it. */
	k.mv_data = kb;
	k.mv_size = name_key(kb, m->kind_id, m->key.data, m->key.len);
	e = mdb_get(txn, s->dbi[DB_NAMES], &k, &v);
	if (e == 0 && v.mv_size == FRAME_HDR + 8 &&
	    be64_get((const unsigned char *)v.mv_data + FRAME_HDR) == d->id)
		e = mdb_del(txn, s->dbi[DB_NAMES], &k, NULL);
	if (e && e != MDB_NOTFOUND) {
		rc = mdb_fail(s, e, "deleting a name");
		goto out;
	}

	/* Its snapshots: keys (id, seq). */
	if ((e = mdb_cursor_open(txn, s->dbi[DB_SNAPSHOTS], &c))) {
		rc = mdb_fail(s, e, "opening snapshots");
		goto out;
	}
	be64_put(sk, d->id);
	be64_put(sk + 8, 0);
	k.mv_size = 16;
	k.mv_data = sk;
	e = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	while (e == 0 && k.mv_size == 16 && be64_get(k.mv_data) == d->id) {
		if ((e = mdb_cursor_del(c, 0)))
			break;
		d->st->snapshots++;
		e = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	c = NULL;
	if (e && e != MDB_NOTFOUND) {
		rc = mdb_fail(s, e, "deleting snapshots");
		goto out;
	}

	/* Its timers (keys (due, id): every one is looked at). */
	if ((e = mdb_cursor_open(txn, s->dbi[DB_TIMERS], &c))) {
		rc = mdb_fail(s, e, "opening timers");
		goto out;
	}
	for (e = mdb_cursor_get(c, &k, &v, MDB_FIRST); e == 0;) {
		const unsigned char *body;
		size_t len;
		if ((rc = frame_open(s, &v, R_TIMER, DB_TIMERS, "timer", &body,
				     &len)))
			goto out;
		Mnemo__Timer *t =
		    mnemo__timer__unpack(arena_for(len), len, body);
		if (!t) {
			rc = fail(s, MN_ECORRUPT, "timers: undecodable");
			goto out;
		}
		if (t->actor_id == d->id) {
			if ((e = mdb_cursor_del(c, 0)))
				break;
			d->st->timers++;
		}
		e = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	c = NULL;
	if (e && e != MDB_NOTFOUND) {
		rc = mdb_fail(s, e, "deleting timers");
		goto out;
	}

	if ((rc = del_outbox_db(s, txn, DB_OUTBOX, m, false, &d->st->outbox)) ||
	    (!s->no_quarantine &&
	     (rc = del_outbox_db(s, txn, DB_QUARANTINE, m, true,
				 &d->st->quarantine))))
		goto out;

	/* The marker: from here the deletion finishes, even after a crash. */
	unsigned char mk[DEL_KEY_LEN], mv[FRAME_HDR + 8];
	MDB_val mkv = {.mv_size = sizeof mk, .mv_data = mk},
		mvv = {.mv_size = sizeof mv, .mv_data = mv};
	del_key(mk, d->id);
	be64_put(mv + FRAME_HDR, d->id);
	frame_seal(mv, R_NAME, 8);
	if ((e = mdb_put(txn, s->dbi[DB_META], &mkv, &mvv, 0)))
		rc = mdb_fail(s, e, "writing a deletion marker");
out:
	if (c)
		mdb_cursor_close(c);
	mnemo__actor_meta__free_unpacked(m, NULL);
	return rc;
}

static int del_step_txn(mn__store *s, void *arg, MDB_txn *txn)
{
	del_op *d = arg;
	Mnemo__ActorMeta *m = NULL;
	unsigned char kb[8], mk[DEL_KEY_LEN];
	MDB_val k = {.mv_size = 8, .mv_data = kb}, v;
	MDB_val mkv = {.mv_size = sizeof mk, .mv_data = mk};
	int rc, e;

	d->done = false;
	/* This step may drop the newest log entries: no LSN is issued
	 * twice (L1). */
	if ((rc = keep_lsn_high(s, txn)))
		return rc;
	if ((rc = del_marked(s, txn, d->id)))
		return rc == MN_ENOACTOR
			   ? fail(s, MN_EINVAL, "actor %llu: no deletion begun",
				  (unsigned long long)d->id)
			   : rc;
	rc = meta_get(s, txn, d->id, &m);
	if (rc && rc != MN_ENOACTOR)
		return rc;
	if (m) {
		/* Newest first along its own chain; a fork's stops at the
		 * parent's entries, a compacted one where the entries end. */
		uint64_t lsn = m->last_lsn, seq = m->last_seq + 1;
		size_t n = 0;
		bool end = false;
		while (!end && n < d->max) {
			const unsigned char *body;
			size_t len;
			if (!lsn) {
				end = true;
				break;
			}
			be64_put(kb, lsn);
			e = mdb_get(txn, s->dbi[DB_LOG], &k, &v);
			if (e == MDB_NOTFOUND) {
				end = true;
				break;
			}
			if (e) {
				rc = mdb_fail(s, e, "reading the log");
				goto out;
			}
			if ((rc = frame_open(s, &v, R_ENTRY, DB_LOG, "entry",
					     &body, &len)))
				goto out;
			Mnemo__JournalEntry *je = mnemo__journal_entry__unpack(
			    arena_for(len), len, body);
			if (!je) {
				rc = fail(s, MN_ECORRUPT,
					  "log record %llu: undecodable",
					  (unsigned long long)lsn);
				goto out;
			}
			if (je->actor_id != d->id) {
				end = true; /* the parent's: a fork point */
				break;
			}
			if (je->seq >= seq || je->prev_lsn >= lsn) {
				rc = fail(s, MN_ECORRUPT,
					  "log record %llu: actor %llu seq "
					  "%llu, prev_lsn %llu: the chain does "
					  "not move back",
					  (unsigned long long)lsn,
					  (unsigned long long)d->id,
					  (unsigned long long)je->seq,
					  (unsigned long long)je->prev_lsn);
				goto out;
			}
			seq = je->seq;
			uint64_t prev = je->prev_lsn;
			if ((e = mdb_del(txn, s->dbi[DB_LOG], &k, NULL))) {
				rc = mdb_fail(s, e, "deleting an entry");
				goto out;
			}
			d->st->entries++;
			n++;
			lsn = prev;
		}
		if (!end) {
			/* More to go: its head moves back. */
			m->last_lsn = lsn;
			m->last_seq = seq - 1;
			rc = meta_put(s, txn, m);
			goto out;
		}
		k.mv_size = 8;
		be64_put(kb, d->id);
		if ((e = mdb_del(txn, s->dbi[DB_ACTORS], &k, NULL)) &&
		    e != MDB_NOTFOUND) {
			rc = mdb_fail(s, e, "deleting an actor");
			goto out;
		}
	}
	del_key(mk, d->id);
	if ((e = mdb_del(txn, s->dbi[DB_META], &mkv, NULL)) &&
	    e != MDB_NOTFOUND) {
		rc = mdb_fail(s, e, "deleting a deletion marker");
		goto out;
	}
	rc = 0;
	d->done = true;
out:
	if (m)
		mnemo__actor_meta__free_unpacked(m, NULL);
	return rc;
}

int mn__store_delete_begin(mn__store *s, uint64_t id, mn__delete_stats *st)
{
	del_op d = {.id = id, .check_forks = true, .st = st};
	return write_txn(s, del_begin_txn, &d);
}

int mn__store_delete_begin_unforked(mn__store *s, uint64_t id,
				    mn__delete_stats *st)
{
	del_op d = {.id = id, .st = st};
	return write_txn(s, del_begin_txn, &d);
}

int mn__store_delete_check(mn__store *s, uint64_t id)
{
	MDB_txn *txn;
	int rc = txn_begin(s, false, &txn);
	if (rc)
		return mdb_fail(s, rc, "beginning a read");
	rc = live_fork(s, txn, id);
	txn_abort(s, txn);
	return rc;
}

int mn__store_delete_step(mn__store *s, uint64_t id, size_t max, bool *done,
			  mn__delete_stats *st)
{
	del_op d = {.id = id, .max = max ? max : 1, .st = st};
	mn__delete_stats scratch = *st;
	d.st = &scratch;
	int rc = write_txn(s, del_step_txn, &d);
	if (rc == 0)
		*st = scratch; /* counted only when committed */
	*done = rc == 0 && d.done;
	return rc;
}

/* Journal entries per deletion step (one transaction). */
#define MN__DELETE_STEP 4096

int mn__store_delete(mn__store *s, uint64_t id, mn__delete_stats *st)
{
	bool done = false;
	int rc = mn__store_delete_begin(s, id, st);
	while (!rc && !done)
		rc = mn__store_delete_step(s, id, MN__DELETE_STEP, &done, st);
	return rc;
}

int mn__store_delete_marked(mn__store *s, uint64_t *ids, size_t cap,
			    size_t *n)
{
	MDB_txn *txn;
	MDB_cursor *c;
	unsigned char kb[DEL_KEY_LEN];
	MDB_val k = {.mv_size = 4, .mv_data = kb}, v;
	int rc = txn_begin(s, false, &txn), e;
	*n = 0;
	if (rc)
		return mdb_fail(s, rc, "beginning a read");
	if ((rc = mdb_cursor_open(txn, s->dbi[DB_META], &c))) {
		txn_abort(s, txn);
		return mdb_fail(s, rc, "opening meta");
	}
	memcpy(kb, "del:", 4);
	for (e = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	     e == 0 && k.mv_size == DEL_KEY_LEN &&
	     memcmp(k.mv_data, "del:", 4) == 0;
	     e = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (*n < cap)
			ids[*n] = be64_get((const unsigned char *)k.mv_data + 4);
		(*n)++;
	}
	if (e && e != MDB_NOTFOUND)
		rc = mdb_fail(s, e, "reading meta");
	mdb_cursor_close(c);
	txn_abort(s, txn);
	return rc;
}

int mn__store_delete_pending(mn__store *s, size_t *n)
{
	uint64_t ids[64];
	size_t got, done = 0;
	int rc;
	*n = 0;
	for (;;) {
		if ((rc = mn__store_delete_marked(s, ids, 64, &got)))
			return rc;
		if (!got)
			break;
		for (size_t i = 0; i < got && i < 64; i++) {
			mn__delete_stats st = {0};
			if ((rc = mn__store_delete(s, ids[i], &st)))
				return rc;
			done++;
		}
	}
	*n = done;
	return 0;
}

/* ---- verify ------------------------------------------------------------------ */

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
	} *acts;
	size_t nacts, cap;
} vstate;

__attribute__((format(printf, 2, 3))) static int vproblem(vstate *v,
							   const char *fmt,
							   ...)
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

/* Walk one database checking frames; for each sound record call fn. */
static int verify_db(vstate *v, MDB_txn *txn, int db, enum rtype t,
		     int (*fn)(vstate *, const MDB_val *, const unsigned char *,
			       size_t))
{
	MDB_cursor *c;
	MDB_val k, val;
	int rc = mdb_cursor_open(txn, v->s->dbi[db], &c), e;
	if (rc)
		return mdb_fail(v->s, rc, "opening a cursor");
	for (e = mdb_cursor_get(c, &k, &val, MDB_FIRST); e == 0;
	     e = mdb_cursor_get(c, &k, &val, MDB_NEXT)) {
		char desc[64];
		const unsigned char *body;
		size_t len;
		v->records++;
		if (k.mv_size == 8)
			snprintf(desc, sizeof desc, "%llu",
				 (unsigned long long)be64_get(k.mv_data));
		else if (k.mv_size == 16) /* snapshots: actor/seq;
					     timers: due/id */
			snprintf(desc, sizeof desc, "%llu/%llu",
				 (unsigned long long)be64_get(k.mv_data),
				 (unsigned long long)be64_get(
					 (unsigned char *)k.mv_data + 8));
		else
			snprintf(desc, sizeof desc, "(%zu-byte key)",
				 k.mv_size);
		int fr = frame_open(v->s, &val, t, db, desc, &body, &len);
		if (fr) {
			if ((rc = vproblem(v, "%s", errdetail)))
				break;
			continue;
		}
		if (fn && (rc = fn(v, &k, body, len)))
			break;
	}
	if (!rc && e != MDB_NOTFOUND)
		rc = mdb_fail(v->s, e, "walking a database");
	mdb_cursor_close(c);
	return rc;
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
		be64_put(kb, m->id);
		be64_put(kb + 8, m->compacted_seq);
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
		    meta_get(s, txn, m->fork_parent_id, &pm)) {
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
			be64_put(kb, m->fork_lsn);
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
	uint64_t id = be64_get(k->mv_data);
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
		int fr = actor_find_txn(v->s, v->txn, m->kind_id, m->key.data,
					m->key.len, &am);
		/* A deletion that began and did not finish (its name went
		 * first): not damage; the next open or rm finishes it. */
		if ((fr || am.id != id) && del_marked(v->s, v->txn, id) == 0)
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
	uint64_t lsn = be64_get(k->mv_data);
	Mnemo__JournalEntry *je =
		mnemo__journal_entry__unpack(arena_for(len), len, body);
	if (!je)
		return vproblem(v, "log record %llu: undecodable",
				(unsigned long long)lsn);
	struct vact *a = vact_find(v, je->actor_id);
	if (!a)
		return vproblem(v, "log record %llu: unknown actor %llu",
				(unsigned long long)lsn,
				(unsigned long long)je->actor_id);
	if (je->seq != a->seq + 1 || je->prev_lsn != a->lsn) {
		int rc = vproblem(v,
				  "log record %llu: actor %llu seq %llu after "
				  "seq %llu (prev_lsn %llu, expected %llu)",
				  (unsigned long long)lsn,
				  (unsigned long long)je->actor_id,
				  (unsigned long long)je->seq,
				  (unsigned long long)a->seq,
				  (unsigned long long)je->prev_lsn,
				  (unsigned long long)a->lsn);
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
	if (unpack_payload(v->s, v->codec, je->codec, je->dict_id, je->raw_len,
			   &je->payload, &v->dst, &p, &n, "log record", lsn))
		return vproblem(v, "%s", errdetail);
	return 0;
}

static int v_outbox(vstate *v, const MDB_val *k, const unsigned char *body,
		    size_t len)
{
	uint64_t id = be64_get(k->mv_data);
	Mnemo__OutboxEntry *o =
		mnemo__outbox_entry__unpack(arena_for(len), len, body);
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
	if (unpack_payload(v->s, v->codec, o->codec, o->dict_id, o->raw_len,
			   &o->payload, &v->dst, &p, &n, "outbox record", id))
		return vproblem(v, "%s", errdetail);
	return 0;
}

/* Keys carry no checksum: each key must say what the record it leads to
 * says (docs/format.md, "Databases and keys"). */

static int v_kind(vstate *v, const MDB_val *k, const unsigned char *body,
		  size_t len)
{
	Mnemo__KindRecord *kr =
		mnemo__kind_record__unpack(arena_for(len), len, body);
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
		mnemo__dictionary__unpack(arena_for(len), len, body);
	const unsigned char *kb = k->mv_data;
	uint32_t id = k->mv_size == 4 ? (uint32_t)kb[0] << 24 |
						(uint32_t)kb[1] << 16 |
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
		return vproblem(v, "names record (%zu-byte key): %zu-byte "
				   "value, not an actor id",
				k->mv_size, len);
	uint64_t id = be64_get(body);
	const unsigned char *kb = k->mv_data;
	uint32_t kind = (uint32_t)kb[0] << 24 | (uint32_t)kb[1] << 16 |
			(uint32_t)kb[2] << 8 | kb[3];
	Mnemo__ActorMeta *m;
	int rc = meta_get(v->s, v->txn, id, &m);
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
		return vproblem(v, "snapshots record (%zu-byte key): not "
				   "actor and seq",
				k->mv_size);
	uint64_t id = be64_get(k->mv_data),
		 seq = be64_get((unsigned char *)k->mv_data + 8);
	Mnemo__Snapshot *sn =
		mnemo__snapshot__unpack(arena_for(len), len, body);
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
	if (unpack_payload(v->s, v->codec, sn->codec, sn->dict_id, sn->raw_len,
			   &sn->state, &v->dst, &p, &n, "snapshot of actor",
			   id))
		return vproblem(v, "snapshots record %llu/%llu: %s",
				(unsigned long long)id, (unsigned long long)seq,
				errdetail);
	return 0;
}

static int v_timer(vstate *v, const MDB_val *k, const unsigned char *body,
		   size_t len)
{
	if (k->mv_size != 16)
		return vproblem(v, "timers record (%zu-byte key): not due "
				   "time and id",
				k->mv_size);
	uint64_t due = be64_get(k->mv_data),
		 id = be64_get((unsigned char *)k->mv_data + 8);
	Mnemo__Timer *t = mnemo__timer__unpack(arena_for(len), len, body);
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
		return vproblem(v, "timers record %llu/%llu: unknown actor "
				   "%llu",
				(unsigned long long)due, (unsigned long long)id,
				(unsigned long long)t->actor_id);
	return 0;
}

/* meta holds "header", "state" and deletion markers, nothing else. */
static int v_meta(vstate *v)
{
	MDB_cursor *c;
	MDB_val k, val;
	int rc = mdb_cursor_open(v->txn, v->s->dbi[DB_META], &c), e;
	if (rc)
		return mdb_fail(v->s, rc, "opening a cursor");
	for (e = mdb_cursor_get(c, &k, &val, MDB_FIRST); e == 0 && !rc;
	     e = mdb_cursor_get(c, &k, &val, MDB_NEXT)) {
		const unsigned char *body;
		size_t len;
		v->records++;
		if (k.mv_size == 6 && !memcmp(k.mv_data, "header", 6))
			continue; /* read and checked at open */
		if (k.mv_size == 5 && !memcmp(k.mv_data, "state", 5))
			continue; /* read at open and by verify */
		if (k.mv_size == DEL_KEY_LEN &&
		    !memcmp(k.mv_data, "del:", 4)) {
			uint64_t id = be64_get((unsigned char *)k.mv_data + 4);
			if (frame_open(v->s, &val, R_NAME, DB_META, "del:",
				       &body, &len))
				rc = vproblem(v, "%s", errdetail);
			else if (len != 8 || be64_get(body) != id)
				rc = vproblem(v,
					      "meta record del:%llu: its key "
					      "is not the actor it names "
					      "(damaged key?)",
					      (unsigned long long)id);
			else if (!vact_find(v, id))
				rc = vproblem(v,
					      "meta record del:%llu: no such "
					      "actor",
					      (unsigned long long)id);
			continue;
		}
		rc = vproblem(v, "meta record (%zu-byte key): not one of "
				 "mnemo's (damaged key?)",
			      k.mv_size);
	}
	if (!rc && e != MDB_NOTFOUND)
		rc = mdb_fail(v->s, e, "walking meta");
	mdb_cursor_close(c);
	return rc;
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
static int v_freelist(vstate *v)
{
	mn__store *s = v->s;
	MDB_envinfo ei;
	MDB_stat st;
	MDB_cursor *c;
	MDB_val k, val;
	size_t txnid = mdb_txn_id(v->txn), nfree = 0;
	uint64_t before = v->problems;
	int rc = mdb_env_info(s->env, &ei), e;
	if (rc)
		return mdb_fail(s, rc, "reading the environment's info");
	size_t last = ei.me_last_pgno;
	bool exact = ei.me_last_txnid == txnid;
	unsigned char *seen = calloc(last / 8 + 1, 1);
	if (!seen)
		return MN_ENOMEM;
	if ((rc = mdb_cursor_open(v->txn, 0, &c))) {
		free(seen);
		return mdb_fail(s, rc, "opening the free list");
	}
	for (e = mdb_cursor_get(c, &k, &val, MDB_FIRST); e == 0 && !rc;
	     e = mdb_cursor_get(c, &k, &val, MDB_NEXT)) {
		size_t key = 0, n = 0;
		const unsigned char *d = val.mv_data;
		v->records++;
		if (k.mv_size == sizeof key)
			memcpy(&key, k.mv_data, sizeof key);
		if (val.mv_size >= sizeof n)
			memcpy(&n, d, sizeof n);
		if (k.mv_size != sizeof key || key > txnid) {
			rc = vproblem(v,
				      "LMDB free list: a record keyed by "
				      "transaction %zu (%zu-byte key; this "
				      "transaction is %zu)",
				      key, k.mv_size, txnid);
			continue;
		}
		if (val.mv_size % sizeof n || val.mv_size < sizeof n ||
		    n != val.mv_size / sizeof n - 1) {
			rc = vproblem(v,
				      "LMDB free list: transaction %zu's "
				      "record says %zu pages in %zu bytes",
				      key, n, val.mv_size);
			continue;
		}
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
			else if (seen[pg / 8] & (1u << (pg % 8)))
				rc = vproblem(v,
					      "LMDB free list: page %zu is "
					      "listed twice",
					      pg);
			else
				seen[pg / 8] |= (unsigned char)(1u << (pg % 8));
			prev = pg;
		}
		nfree += n;
	}
	if (!rc && e != MDB_NOTFOUND)
		rc = mdb_fail(s, e, "walking the free list");
	mdb_cursor_close(c);
	free(seen);
	if (rc || !exact || v->problems != before)
		return rc; /* a damaged list counts nothing */
	/* Count the pages of every tree: the free list's (0), the main
	 * database's (1, naming the others) and each of ours. */
	size_t used = 2 + nfree; /* the two meta pages */
	for (int i = -2; i < DB_COUNT && !rc; i++) {
		if (i == DB_QUARANTINE && s->no_quarantine)
			continue;
		MDB_dbi dbi = i == -2 ? 0 : i == -1 ? 1 : s->dbi[i];
		if ((rc = mdb_stat(v->txn, dbi, &st)))
			return mdb_fail(s, rc, "stat");
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
	int rc = txn_begin(s, false, &txn);
	if (rc)
		return mdb_fail(s, rc, "beginning a read");
	v.txn = txn;
	mn__buf_init(&v.dst);
	if ((rc = read_state(s, txn, &state)) == 0) {
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
	txn_abort(s, txn);
	mn__buf_free(&v.dst);
	free(v.acts);
	*nrecords = v.records;
	*nproblems = v.problems;
	return rc;
}
