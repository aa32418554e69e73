/*
 * mdbfile.h - a look at an LMDB data file before LMDB maps it.
 *
 * LMDB checksums nothing and trusts its file: a data.mdb shorter than its
 * newest transaction says (a truncated copy, a full disk during a copy)
 * makes the first read past the end of the file a SIGBUS in the mapping,
 * and a meta page whose page size is damaged makes every page address
 * wrong. mn__mdbfile_check reads the two meta pages with pread and refuses
 * such a file with an error before mdb_env_open sees it
 * (storage/open.c, mn__store_open). Damage inside B-tree pages is not
 * visible here; the tool runs its commands in a child process for that
 * (recovery/mnemo_cli.c).
 */
#ifndef MN_STORAGE_MDBFILE_H
#define MN_STORAGE_MDBFILE_H

#include <stddef.h>

/*
 * Check dir/data.mdb against its meta pages (LMDB 0.9 layout): both meta
 * pages present and valid, a sane page size, the file a whole number of
 * pages and long enough to hold the newest transaction's two root pages
 * (not (last_pg + 1) pages: pages allocated and freed within a commit are
 * never written, so a healthy file can end before last_pg).
 * Returns 0 when the file passes or cannot be examined here (absent,
 * empty, unreadable: LMDB reports those itself); MN_ENOTSTORE when the
 * file is not an LMDB data file; MN_EVERSION when it has another LMDB data
 * version; MN_ECORRUPT
 * when it is damaged or truncated. On an error, why (cap bytes) says what
 * was found, e.g. "data file truncated: 24576 bytes, the last transaction
 * (342) has a root at page 23". Reads only; safe beside a writer (pages are
 * written before the meta page that names them, and the size is taken after the
 * metas).
 */
int mn__mdbfile_check(const char *dir, char *why, size_t cap);

#endif
