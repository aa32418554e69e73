/*
 * errmap.c - how the store reports failures: this thread's error detail
 * (kept by base/detail.c; "store PATH: " then what failed),
 * and the translation of LMDB and errno results into MN_E* codes. LMDB
 * codes never leave storage/: every LMDB failure goes through
 * mn__st_mdb_fail, which also remembers the raw code for the map-growth
 * retries (MDB_MAP_FULL behind MN_ENOSPC).
 *
 * Threads: any; everything here is per thread (_Thread_local).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/statvfs.h>

#include "storage/store_int.h"

_Thread_local int mn__st_last_mdb_rc;

/* The thread's detail lives in base/detail.c; these two names are the
 * store's interface to it for core/ (store.h). */
const char *mn__store_errdetail(void)
{
	return mn__detail();
}

void mn__store_set_errdetail(const char *detail)
{
	mn__detail_set(detail);
}

int mn__st_fail(const mn__store *s, int code, const char *fmt, ...)
{
	va_list ap;
	mn__detail_setf("store %s: ", s && s->path ? s->path : "?");
	va_start(ap, fmt);
	mn__detail_vappendf(fmt, ap);
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

int mn__st_mdb_fail(const mn__store *s, int rc, const char *what)
{
	mn__st_last_mdb_rc = rc;
	return mn__st_fail(s, mdb_code(rc), "%s: %s", what, mdb_strerror(rc));
}

/* A failed commit: LMDB reports a short write as EIO, so a full disk may
 * look like an I/O error; the filesystem's free space tells them apart. */
int mn__st_commit_fail(mn__store *s, int rc)
{
	struct statvfs vfs;
	if ((rc == EIO || rc == ENOSPC || rc == EFBIG) &&
	    statvfs(s->path, &vfs) == 0) {
		uint64_t avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
		if (avail < ((uint64_t)1 << 20) || rc == ENOSPC) {
			mn__st_last_mdb_rc = rc;
			return mn__st_fail(
			    s, MN_ENOSPC,
			    "committing: disk full (%llu bytes free; "
			    "%s); nothing of this commit is stored",
			    (unsigned long long)avail, mdb_strerror(rc));
		}
	}
	return mn__st_mdb_fail(s, rc, "committing");
}
