/*
 * mdbfile.c - the meta pages of an LMDB data file, read with pread before
 * LMDB maps the file (mdbfile.h says why).
 *
 * The layout mirrors LMDB 0.9's own (mdb.c: MDB_page, MDB_db, MDB_meta;
 * native byte order, pgno_t and txnid_t are size_t). The file starts with
 * two meta pages; a reader uses the one with the larger transaction id,
 * whose B-tree roots (free and main databases) that transaction wrote.
 */
#include "storage/mdbfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "include/mnemo.h"

#define MDB_MAGIC_WORD	 0xBEEFC0DEu
#define MDB_DATA_VERSION 1u
#define MDB_P_META	 0x08u
#define MDB_PSIZE_MIN	 512u
#define MDB_PSIZE_MAX	 65536u

typedef struct mdb_page_hdr {
	size_t pgno;
	uint16_t pad, flags;
	uint16_t lower, upper;
} mdb_page_hdr;

typedef struct mdb_db_rec {
	uint32_t pad; /* of the free DB: the page size */
	uint16_t flags, depth;
	size_t branch_pages, leaf_pages, overflow_pages, entries, root;
} mdb_db_rec;

typedef struct mdb_meta_rec {
	uint32_t magic, version;
	void *address;
	size_t mapsize;
	mdb_db_rec dbs[2]; /* free DB, main DB */
	size_t last_pg, txnid;
} mdb_meta_rec;

_Static_assert(sizeof(mdb_page_hdr) == 16, "LMDB's PAGEHDRSZ");
_Static_assert(sizeof(mdb_meta_rec) == 136, "LMDB 0.9's MDB_meta, 64-bit");

/* Read the meta page at off. Returns 1 when read, 0 when the file ends
 * before it, -1 on a read error. */
static int read_meta(int fd, off_t off, mdb_page_hdr *h, mdb_meta_rec *m)
{
	unsigned char buf[sizeof *h + sizeof *m];
	ssize_t n;
	do
		n = pread(fd, buf, sizeof buf, off);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	if ((size_t)n < sizeof buf)
		return 0;
	memcpy(h, buf, sizeof *h);
	memcpy(m, buf + sizeof *h, sizeof *m);
	return 1;
}

static int bad(char *why, size_t cap, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int bad(char *why, size_t cap, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, cap, fmt, ap);
	va_end(ap);
	return code;
}

int mn__mdbfile_check(const char *dir, char *why, size_t cap)
{
	char path[4096];
	mdb_page_hdr h[2];
	mdb_meta_rec m[2];
	struct stat st;
	int fd, rc = 0, got;

	if (snprintf(path, sizeof path, "%s/data.mdb", dir) >= (int)sizeof path)
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0; /* absent (a new store) or unreadable: LMDB says */

	got = read_meta(fd, 0, &h[0], &m[0]);
	if (got <= 0)
		goto out_close; /* empty (LMDB initialises it) or unreadable */
	if (!(h[0].flags & MDB_P_META) || m[0].magic != MDB_MAGIC_WORD) {
		rc = bad(why, cap, MN_ENOTSTORE,
			 "not a mnemo store: data.mdb is not an LMDB data "
			 "file (meta page 0: flags 0x%x, magic 0x%08x)",
			 h[0].flags, m[0].magic);
		goto out_close;
	}
	if (m[0].version != MDB_DATA_VERSION) {
		rc = bad(why, cap, MN_EVERSION,
			 "data.mdb has LMDB data version %u; this build reads "
			 "%u",
			 m[0].version, MDB_DATA_VERSION);
		goto out_close;
	}
	size_t psize = m[0].dbs[0].pad;
	if (psize < MDB_PSIZE_MIN || psize > MDB_PSIZE_MAX ||
	    (psize & (psize - 1)) != 0) {
		rc = bad(why, cap, MN_ECORRUPT,
			 "data file damaged: meta page 0 gives page size %zu",
			 psize);
		goto out_close;
	}
	got = read_meta(fd, (off_t)psize, &h[1], &m[1]);
	if (got < 0)
		goto out_close;
	/* The size after the metas: a writer extends the file before it
	 * writes the meta page naming the new pages. */
	if (fstat(fd, &st) != 0)
		goto out_close;
	uint64_t size = (uint64_t)st.st_size;
	if (got == 0 || size < 2 * (uint64_t)psize) {
		rc = bad(why, cap, MN_ECORRUPT,
			 "data file truncated: %llu bytes, its two meta pages "
			 "need %llu",
			 (unsigned long long)size,
			 (unsigned long long)(2 * psize));
		goto out_close;
	}
	if (!(h[1].flags & MDB_P_META) || m[1].magic != MDB_MAGIC_WORD ||
	    m[1].version != MDB_DATA_VERSION) {
		rc = bad(why, cap, MN_ECORRUPT,
			 "data file damaged: meta page 1 is not a meta page "
			 "(flags 0x%x, magic 0x%08x, version %u)",
			 h[1].flags, m[1].magic, m[1].version);
		goto out_close;
	}
	/* LMDB reads with the newer meta (mdb_env_pick_meta). */
	const mdb_meta_rec *use = m[1].txnid > m[0].txnid ? &m[1] : &m[0];
	if (use->last_pg >= UINT64_MAX / psize - 1) {
		rc = bad(why, cap, MN_ECORRUPT,
			 "data file damaged: the last transaction (%zu) names "
			 "page %zu",
			 use->txnid, use->last_pg);
		goto out_close;
	}
	/* Not last_pg: pages a transaction allocated and then freed before
	 * its commit are counted there but never written, so a healthy file
	 * may end before it (seen after compactions). LMDB writes whole
	 * pages, and every commit writes the roots it names: a file that is
	 * not whole pages, or that ends before a root, was cut. */
	if (size % psize) {
		rc =
		    bad(why, cap, MN_ECORRUPT,
			"data file truncated: %llu bytes is not a whole number "
			"of %zu-byte pages",
			(unsigned long long)size, psize);
		goto out_close;
	}
	uint64_t pages = size / psize;
	for (int i = 0; i < 2; i++) {
		size_t root = use->dbs[i].root;
		if (root != (size_t)-1 && root >= pages) {
			rc = bad(why, cap, MN_ECORRUPT,
				 "data file truncated: %llu bytes, the last "
				 "transaction (%zu) has a root at page %zu",
				 (unsigned long long)size, use->txnid, root);
			goto out_close;
		}
	}
out_close:
	close(fd);
	return rc;
}
