/*
 * abi.h - reading the public structs that grow (mn_runtime_opts,
 * mn_kind_def) whatever header version the caller was compiled against.
 *
 * Each such struct starts with `size_t size`, the sizeof the caller's
 * header gave it (MN_RUNTIME_OPTS_INIT, MN_KIND_DEF_INIT), or 0 for the
 * layout of mnemo 0.1 (a struct zeroed with {0} or a designated
 * initialiser that leaves size out). The library copies the caller's size
 * bytes into a zeroed struct of its own layout, so fields the caller's
 * header did not have read as 0, their documented default (docs/api.md,
 * "Structs that grow"). Called at the API's entry points only; everything
 * after works on the copy. Any thread; no state.
 */
#ifndef MN_CORE_ABI_H
#define MN_CORE_ABI_H

#include <stddef.h>

#include "include/mnemo.h"

/* The sizes of mnemo 0.1's layouts (what size 0 means). Frozen: a field
 * added later goes after these. */
#define MN__RUNTIME_OPTS_SIZE_0_1                                              \
	(offsetof(mn_runtime_opts, event_rate) + sizeof(unsigned))
#define MN__KIND_DEF_SIZE_0_1                                                  \
	(offsetof(mn_kind_def, hash) + sizeof(uint64_t(*)(const void *)))

/* The caller's struct size: in->size, or the 0.1 size for 0. */
size_t mn__runtime_opts_size(const mn_runtime_opts *in);
size_t mn__kind_def_size(const mn_kind_def *in);

/*
 * Copy *in (in->size bytes, see above) into *out, zeroing the fields the
 * caller's layout lacks; out->size becomes sizeof *out. Returns 0, or
 * MN_EINVAL: a size too small to hold the size field, or larger than this
 * library's struct with a non-zero byte beyond it (a field this library
 * does not know was set).
 */
int mn__runtime_opts_load(mn_runtime_opts *out, const mn_runtime_opts *in);
int mn__kind_def_load(mn_kind_def *out, const mn_kind_def *in);

/*
 * The stride of a plugin's array of n kind definitions (MN_PLUGIN_SYMBOL):
 * the first one's size when it is set. Size 0 means the 0.1 layout for a
 * plugin built against mnemo 0.1, but a plugin built against a later
 * header whose designated initialisers left size out has this header's
 * stride: the 0.1 stride is kept when every definition read with it has a
 * name, init and handle, else this header's when every one read with it
 * has (else the 0.1 stride, and the caller reports the bad definition).
 */
size_t mn__kind_defs_stride(const mn_kind_def *defs, size_t n);

/* mn__kind_def_load for a definition of such an array: with size 0 and
 * this header's stride, all of it is read. */
int mn__kind_def_load_at(mn_kind_def *out, const mn_kind_def *in,
			 size_t stride);

#endif /* MN_CORE_ABI_H */
