/*
 * detail.c - the per-thread error detail (detail.h). Each thread owns its
 * buffer; nothing here is shared, so nothing needs a lock.
 */
#include "base/detail.h"

#include <stdio.h>
#include <string.h>

#include "include/mnemo.h"

static _Thread_local char detail_buf[MN__DETAIL_MAX];

const char *mn__detail(void)
{
	return detail_buf[0] ? detail_buf : "no detail";
}

/* The public face (mnemo.h): the same text. */
const char *mn_errdetail(void)
{
	return mn__detail();
}

void mn__detail_set(const char *text)
{
	snprintf(detail_buf, sizeof detail_buf, "%s", text ? text : "");
}

int mn__detail_vsetf(const char *fmt, va_list ap)
{
	return vsnprintf(detail_buf, sizeof detail_buf, fmt, ap);
}

int mn__detail_setf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = mn__detail_vsetf(fmt, ap);
	va_end(ap);
	return n;
}

void mn__detail_vappendf(const char *fmt, va_list ap)
{
	size_t used = strlen(detail_buf);
	if (used + 1 >= sizeof detail_buf)
		return;
	vsnprintf(detail_buf + used, sizeof detail_buf - used, fmt, ap);
}

void mn__detail_appendf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	mn__detail_vappendf(fmt, ap);
	va_end(ap);
}

const char *mn__detail_raw(void)
{
	return detail_buf;
}

void mn__detail_clear(void)
{
	detail_buf[0] = '\0';
}
