/*
 * open.c - opening and closing a store: is the directory a mnemo store, the
 * one-writer lock, the open transaction (header, databases, counts,
 * dictionaries, kinds, head repair), retried with a larger map when the
 * repair fills it.
 *
 * Owns: one writing process per store (mnemo.lock, flock), and that a
 * directory or LMDB environment that is someone else's is refused
 * (MN_ENOTSTORE) rather than written into. Threads: the caller of
 * mn__store_open / mn__store_close, with no other call on the store.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/frame.h"
#include "storage/scan.h"
#include "storage/store_int.h"
#include "storage/mdbfile.h"

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
			return mn__st_fail(s, MN_ENOTSTORE,
					   "not a mnemo store (no header)");
		Mnemo__StoreHeader h = MNEMO__STORE_HEADER__INIT;
		Mnemo__StoreState st = MNEMO__STORE_STATE__INIT;
		h.format_version = MN__FORMAT_VERSION;
		h.created_unix_ms = mn__unix_ms();
		h.created_by = (char *)mn_version();
		st.next_actor_id = 1;
		st.next_dict_id = 1;
		if ((rc = mn__frame_put(s, txn, DB_META, &k, &h.base, R_HEADER,
					0)))
			return mn__st_mdb_fail(s, rc, "writing the header");
		info->created = true;
		return mn__st_write_state(s, txn, &st);
	}
	if (rc)
		return mn__st_mdb_fail(s, rc, "reading the header");
	if ((rc = mn__frame_open(s, &v, R_HEADER, DB_META, MN__FRAME_NAMED,
				 "header", &body, &len)))
		return rc;
	Mnemo__StoreHeader *h = mnemo__store_header__unpack(NULL, len, body);
	if (!h)
		return mn__st_fail(s, MN_ECORRUPT,
				   "meta record header: undecodable");
	uint32_t ver = h->format_version;
	mnemo__store_header__free_unpacked(h, NULL);
	if (ver > MN__FORMAT_VERSION || ver == 0)
		return mn__st_fail(
		    s, MN_EVERSION,
		    "format version %u; this build reads up to %u", ver,
		    MN__FORMAT_VERSION);
	return 0;
}

static int count_entries(mn__store *s, MDB_txn *txn, int db, uint64_t *out)
{
	MDB_stat st;
	int rc = mdb_stat(txn, s->dbi[db], &st);
	*out = rc ? 0 : st.ms_entries;
	return rc ? mn__st_mdb_fail(s, rc, "stat") : 0;
}

/* ---- is it a mnemo store? --------------------------------------------------
 */

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
	return mn__st_fail(
	    s, MN_ENOTSTORE,
	    "not a mnemo store: the directory holds other files "
	    "(\"%s\") and no data.mdb; a new store needs an empty or "
	    "missing directory",
	    other);
}

static bool mnemo_db(const MDB_val *k)
{
	for (int i = 0; i < DB_COUNT; i++)
		if (k->mv_size == strlen(mn__st_db_name(i)) &&
		    !memcmp(k->mv_data, mn__st_db_name(i), k->mv_size))
			return true;
	return false;
}

typedef struct env_scan {
	mn__store *s;
	bool any, meta;
} env_scan;

static int env_name(void *arg, mn__scan_at *at)
{
	env_scan *es = arg;
	const MDB_val *k = &at->k;
	es->any = true;
	if (!mnemo_db(k)) {
		char name[64];
		size_t n = k->mv_size < 40 ? k->mv_size : 40;
		for (size_t i = 0; i < n; i++) {
			unsigned char ch = ((unsigned char *)k->mv_data)[i];
			name[i] = ch >= 32 && ch < 127 ? (char)ch : '?';
		}
		name[n] = 0;
		return mn__st_fail(es->s, MN_ENOTSTORE,
				   "not a mnemo store: the LMDB environment "
				   "holds \"%s\"%s, which is not one of "
				   "mnemo's databases",
				   name, k->mv_size > n ? "..." : "");
	}
	if (k->mv_size == 4 && !memcmp(k->mv_data, "meta", 4))
		es->meta = true;
	return 0;
}

/* An LMDB environment made by another program: its main database names
 * something that is not one of mnemo's databases, or holds databases but
 * no "meta" with a header. An empty environment is a new store. Returns 0
 * (*fresh says whether it is empty) or MN_ENOTSTORE. */
static int check_env(mn__store *s, MDB_txn *txn, bool *fresh)
{
	MDB_dbi main;
	env_scan es = {.s = s};
	int rc = mdb_dbi_open(txn, NULL, 0, &main);
	if (rc)
		return mn__st_mdb_fail(s, rc, "opening the main database");
	mn__scan_spec sp = {.dbi = main,
			    .opening = "opening a cursor",
			    .reading = "reading the main database"};
	if (!(rc = mn__scan(s, txn, &sp, env_name, &es)) && es.any && !es.meta)
		rc = mn__st_fail(s, MN_ENOTSTORE,
				 "not a mnemo store: the LMDB environment has "
				 "databases but no \"meta\"");
	*fresh = !es.any;
	return rc;
}

/* Before any transaction: the directory, the one-writer lock, the file's
 * size, the LMDB environment. On failure the caller closes s. */
static int open_env(mn__store *s, const char *path, const mn__store_opts *o)
{
	int rc;
	if ((rc = check_dir(s, path)))
		return rc;
	if (!o->read_only && mkdir(path, 0750) != 0 && errno != EEXIST)
		return mn__st_fail(s, errno == ENOSPC ? MN_ENOSPC : MN_EIO,
				   "creating the directory: %s",
				   strerror(errno));
	/* One writing process per store: LMDB would serialise two writers,
	 * but two runtimes on one store would deliver the outbox twice. */
	if (!o->read_only) {
		char lp[4096];
		snprintf(lp, sizeof lp, "%s/mnemo.lock", path);
		s->lock_fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
		if (s->lock_fd < 0)
			return mn__st_fail(s, MN_EIO, "opening %s: %s", lp,
					   strerror(errno));
		if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0)
			return mn__st_fail(
			    s, MN_EBUSY,
			    "held by another process (%s is locked)", lp);
	}

	/* LMDB maps data.mdb and trusts it: refuse a truncated file here
	 * rather than take SIGBUS reading past its end (mdbfile.h). */
	char why[256];
	if ((rc = mn__mdbfile_check(path, why, sizeof why)))
		return mn__st_fail(s, rc, "%s", why);
	if ((rc = mdb_env_create(&s->env)))
		return mn__st_mdb_fail(s, rc, "mdb_env_create");
	mdb_env_set_maxdbs(s->env, DB_COUNT + 4);
	mdb_env_set_mapsize(s->env, o->map_size);
	unsigned flags = MDB_NOTLS | (o->relaxed ? MDB_NOSYNC : 0) |
			 (o->read_only ? MDB_RDONLY : 0);
	if ((rc = mdb_env_open(s->env, path, flags, 0640)))
		return mn__st_mdb_fail(s, rc, "opening the LMDB environment");
	MDB_envinfo ei;
	mdb_env_info(s->env, &ei);
	if (ei.me_mapsize > s->map_size)
		s->map_size = ei.me_mapsize;
	return 0;
}

/* Open the databases in txn (the quarantine may be missing from a store
 * opened read-only: nothing was ever held). */
static int open_dbs(mn__store *s, MDB_txn *txn, bool fresh)
{
	for (int i = 0; i < DB_COUNT; i++) {
		unsigned f = s->read_only ? 0 : MDB_CREATE;
		int rc = mdb_dbi_open(txn, mn__st_db_name(i), f, &s->dbi[i]);
		if (rc == MDB_NOTFOUND && i == DB_QUARANTINE) {
			s->no_quarantine = true; /* nothing was ever held */
			rc = 0;
		}
		if (rc == MDB_NOTFOUND && i == DB_CALLS) {
			s->no_calls = true; /* no call was ever made */
			rc = 0;
		}
		if (rc == MDB_NOTFOUND &&
		    (i == DB_INGRESS || i == DB_INGRESS_AGE)) {
			s->no_ingress = true; /* no client key ever */
			rc = 0;
		}
		if (rc)
			return rc == MDB_NOTFOUND
				   ? mn__st_fail(
					 s, fresh ? MN_ENOTSTORE : MN_ECORRUPT,
					 "not a mnemo store (no %s "
					 "database)",
					 mn__st_db_name(i))
				   : mn__st_mdb_fail(s, rc,
						     "opening a database");
	}
	return 0;
}

/* The open transaction's reads: header, counts, dictionaries, kinds. */
static int open_read(mn__store *s, MDB_txn *txn, bool fresh,
		     mn__store_info *info)
{
	uint64_t qlast = 0;
	int rc;
	if ((rc = check_header(s, txn, fresh, info)) ||
	    (rc = mn__st_last_key_u64(s, txn, DB_LOG, &info->last_lsn)) ||
	    (rc = mn__st_last_key_u64(s, txn, DB_OUTBOX,
				      &info->next_outbox_id)) ||
	    (rc = count_entries(s, txn, DB_OUTBOX, &info->outbox_entries)) ||
	    (!s->no_quarantine &&
	     ((rc = mn__st_last_key_u64(s, txn, DB_QUARANTINE, &qlast)) ||
	      (rc = count_entries(s, txn, DB_QUARANTINE,
				  &info->quarantined)))) ||
	    (rc = count_entries(s, txn, DB_TIMERS, &info->timers)) ||
	    (rc = mn__st_load_dicts(s, txn)) ||
	    (rc = mn__st_load_kinds(s, txn)))
		return rc;
	/* Quarantined messages take their ids from the outbox's sequence. */
	if (qlast > info->next_outbox_id)
		info->next_outbox_id = qlast;
	info->next_outbox_id++;
	return 0;
}

/* One run of the open transaction: check the environment, open the
 * databases, read what open reports, repair heads, commit. On failure the
 * transaction is ended and nothing of it is kept. */
static int open_txn(mn__store *s, mn__store_info *info)
{
	MDB_txn *txn;
	bool fresh = false;
	int rc;
	if ((rc = mn__st_txn_begin(s, !s->read_only, &txn)))
		return mn__st_mdb_fail(s, rc, "beginning the open transaction");
	if ((rc = check_env(s, txn, &fresh)) ||
	    (rc = open_dbs(s, txn, fresh)) ||
	    (rc = open_read(s, txn, fresh, info)) ||
	    (rc = mn__st_repair_heads(s, txn, info)))
		goto out_abort_txn;
	/* Read-only too: commit, not abort, since LMDB closes the database
	 * handles an aborted transaction opened, read-only or not. */
	if ((rc = mn__st_txn_commit(s, txn)))
		return mn__st_mdb_fail(s, rc,
				       s->read_only
					   ? "ending the open transaction"
					   : "committing the open "
					     "transaction");
	return 0;

out_abort_txn:
	mn__st_txn_abort(s, txn);
	return rc;
}

/* Times the open transaction runs again with a doubled map. */
#define OPEN_GROW_RETRIES 16

int mn__store_open(const char *path, const mn__store_opts *opts,
		   mn__store **out, mn__store_info *info_out)
{
	mn__store_opts o = {0};
	mn__store_info info = {0};
	mn__store *s;
	int rc;

	mn__detail_clear();
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
		goto err_close_store;
	}
	if ((rc = mn__dictset_new(o.zstd_level, &s->dicts)) ||
	    (rc = open_env(s, path, &o)))
		goto err_close_store;
	int dead = 0;
	mdb_reader_check(s->env, &dead);

	/* Repairing heads after a crash rewrites up to a checkpoint interval
	 * of actor records: a map the crashed process had nearly filled may
	 * not hold them. Then the map grows and the open transaction runs
	 * again (the aborted one changed nothing). */
	for (int attempt = 0;; attempt++) {
		mn__st_last_mdb_rc = 0;
		info = (mn__store_info){0};
		s->no_quarantine = false;
		s->no_calls = false;
		s->no_ingress = false;
		if ((rc = open_txn(s, &info)) == 0)
			break;
		if (o.read_only || mn__st_last_mdb_rc != MDB_MAP_FULL ||
		    attempt >= OPEN_GROW_RETRIES || mn__st_grow_map(s) != 0)
			goto err_close_store;
	}
	info.stale_readers = (uint64_t)dead;
	s->last_lsn = info.last_lsn;
	if (info_out)
		*info_out = info;
	*out = s;
	return 0;

err_close_store:
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
