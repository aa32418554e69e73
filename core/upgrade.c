/*
 * upgrade.c - a snapshot of another version into the running code
 * (core/upgrade.h).
 */
#include "core/upgrade.h"

#include <stdio.h>

#include "base/buf.h"
#include "core/runtime.h"

int mn__kind_restore(const mn_kind_def *def, mn_ctx *ctx, uint32_t version,
		     uint64_t seq, const void *bytes, size_t len, void **state,
		     enum mn__restored *how, char *why, size_t whylen)
{
	uint32_t cur = def->version ? def->version : 1;
	mn_buf up;
	int rc;

	if (!version)
		version = 1;
	if (version > cur) {
		*how = MN__RESTORED_REFUSED;
		snprintf(why, whylen,
			 "its snapshot at seq %llu was written by version %u "
			 "of kind %s; this code is version %u",
			 (unsigned long long)seq, (unsigned)version, def->name,
			 (unsigned)cur);
		return MN_EVERSION;
	}
	mn__buf_init(&up);
	*how = MN__RESTORED_SAME;
	if (version < cur && def->upgrade) {
		rc = def->upgrade(version, bytes, len, &up);
		if (rc < 0) {
			mn__buf_free(&up);
			*how = MN__RESTORED_FAILED;
			snprintf(why, whylen,
				 "upgrade() from version %u refused the "
				 "snapshot at seq %llu (returned %s)",
				 (unsigned)version, (unsigned long long)seq,
				 mn_err_name(rc));
			return MN_EHANDLER;
		}
		bytes = up.data;
		len = up.len;
		version = cur;
		*how = MN__RESTORED_UPGRADED;
	} else if (version < cur) {
		*how = MN__RESTORED_OLDER;
	}
	ctx->state_version = version;
	rc = def->restore(ctx, bytes, len, state);
	ctx->state_version = 0;
	mn__buf_free(&up);
	if (rc < 0) {
		if (*how == MN__RESTORED_OLDER)
			snprintf(why, whylen,
				 "restore() refused the snapshot at seq %llu, "
				 "written by version %u (returned %s)",
				 (unsigned long long)seq, (unsigned)version,
				 mn_err_name(rc));
		else
			snprintf(why, whylen,
				 "restore() refused the snapshot at seq %llu "
				 "(returned %s)",
				 (unsigned long long)seq, mn_err_name(rc));
		*how = MN__RESTORED_FAILED;
		return MN_EHANDLER;
	}
	return 0;
}
