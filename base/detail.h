/*
 * detail.h - the thread-local error detail behind mn_errdetail().
 *
 * Any layer that returns an MN_E* code may first say why, in a sentence, for
 * the calling thread: the store names the file and the LMDB call, the core
 * names the actor and the handler. The text lives in a per-thread buffer
 * (512 bytes, truncated beyond), so it is valid until this thread's next
 * failing call; no locks, no allocation. A thread that never set one reads
 * "no detail".
 */
#ifndef MN_BASE_DETAIL_H
#define MN_BASE_DETAIL_H

#include <stdarg.h>
#include <stddef.h>

#define MN__DETAIL_MAX 512

/* The calling thread's detail, or "no detail". Never NULL. */
const char *mn__detail(void);

/* Replace the calling thread's detail with a copy of text. */
void mn__detail_set(const char *text);

/* Replace it with a formatted text (vsnprintf rules, truncated). Returns the
 * length that was written (as vsnprintf, may exceed MN__DETAIL_MAX - 1). */
__attribute__((format(printf, 1, 2))) int mn__detail_setf(const char *fmt, ...);
int mn__detail_vsetf(const char *fmt, va_list ap);

/* Append a formatted text to the current detail (truncated). */
__attribute__((format(printf, 1, 2))) void mn__detail_appendf(const char *fmt,
							      ...);

void mn__detail_vappendf(const char *fmt, va_list ap);

/* The calling thread's detail as stored: "" when none was set. */
const char *mn__detail_raw(void);

/* Forget the calling thread's detail (mn__detail() reads "no detail"). */
void mn__detail_clear(void);

#endif
