/*
 * abi.c - reading the public structs that grow (core/abi.h): a caller's
 * mn_runtime_opts or mn_kind_def, of whatever size its header gave it,
 * copied into a zeroed struct of this library's layout. Owns the rule
 * "size 0 is the 0.1 layout; missing fields read as 0 (their default); a
 * larger struct is accepted when the bytes this library does not know are
 * zero". Any thread; no state.
 */
#include <stdbool.h>
#include <string.h>

#include "core/abi.h"

/* Copy size bytes of in into out (cap bytes, zeroed first). */
static int load(void *out, size_t cap, const void *in, size_t size)
{
	const unsigned char *p = in;
	memset(out, 0, cap);
	if (size < sizeof(size_t))
		return MN_EINVAL;
	for (size_t i = cap; i < size; i++)
		if (p[i])
			return MN_EINVAL;
	memcpy(out, in, size < cap ? size : cap);
	return 0;
}

size_t mn__runtime_opts_size(const mn_runtime_opts *in)
{
	return in->size ? in->size : MN__RUNTIME_OPTS_SIZE_0_1;
}

size_t mn__kind_def_size(const mn_kind_def *in)
{
	return in->size ? in->size : MN__KIND_DEF_SIZE_0_1;
}

int mn__runtime_opts_load(mn_runtime_opts *out, const mn_runtime_opts *in)
{
	int rc = load(out, sizeof *out, in, mn__runtime_opts_size(in));
	out->size = sizeof *out;
	return rc;
}

int mn__kind_def_load(mn_kind_def *out, const mn_kind_def *in)
{
	int rc = load(out, sizeof *out, in, mn__kind_def_size(in));
	out->size = sizeof *out;
	if (!out->version)
		out->version = 1; /* 0 means 1 (docs/upgrades.md) */
	return rc;
}

static bool defs_plausible(const mn_kind_def *defs, size_t n, size_t stride)
{
	for (size_t i = 0; i < n; i++) {
		const mn_kind_def *d =
		    (const void *)((const char *)defs + i * stride);
		if (d->size || !d->name || !d->init || !d->handle)
			return false;
	}
	return true;
}

size_t mn__kind_defs_stride(const mn_kind_def *defs, size_t n)
{
	if (defs->size || n < 2 ||
	    defs_plausible(defs, n, MN__KIND_DEF_SIZE_0_1))
		return mn__kind_def_size(defs);
	if (defs_plausible(defs, n, sizeof(mn_kind_def)))
		return sizeof(mn_kind_def);
	return mn__kind_def_size(defs);
}

int mn__kind_def_load_at(mn_kind_def *out, const mn_kind_def *in, size_t stride)
{
	if (in->size || stride != sizeof *out)
		return mn__kind_def_load(out, in);
	mn_kind_def tmp = *in;
	tmp.size = sizeof tmp;
	return mn__kind_def_load(out, &tmp);
}
