/*
 * error.c - descriptions of the MN_E* codes (generated from MN_ERRNO_MAP),
 * the version string, and the assertion failure path.
 */
#include <stdio.h>
#include <stdlib.h>

#include "base/assert.h"
#include "include/mnemo.h"

#define MN__STR2(x) #x
#define MN__STR(x)  MN__STR2(x)

const char *mn_strerror(int err)
{
	switch (err) {
	case MN_OK:
		return "success";
#define MN__ERR_DESC(name, val, desc)                                          \
	case MN_##name:                                                        \
		return desc;
		MN_ERRNO_MAP(MN__ERR_DESC)
#undef MN__ERR_DESC
	}
	return "unknown error";
}

const char *mn_err_name(int err)
{
	switch (err) {
	case MN_OK:
		return "MN_OK";
#define MN__ERR_NAME(name, val, desc)                                          \
	case MN_##name:                                                        \
		return "MN_" #name;
		MN_ERRNO_MAP(MN__ERR_NAME)
#undef MN__ERR_NAME
	}
	return "MN_E?";
}

const char *mn_version(void)
{
	return MN__STR(MN_VERSION_MAJOR) "." MN__STR(
	    MN_VERSION_MINOR) "." MN__STR(MN_VERSION_PATCH);
}

_Noreturn void mn__assert_fail(const char *expr, const char *file, int line,
			       const char *func)
{
	fprintf(stderr, "mnemo: assertion failed: %s (%s:%d, %s)\n", expr, file,
		line, func);
	abort();
}
