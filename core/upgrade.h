/*
 * upgrade.h - bringing a snapshot written by another version of a kind's
 * code into the running code (docs/upgrades.md): the one place that
 * decides, for the runtime's rehydration (core/rehydrate.c) and the mnemo
 * tool's replay (recovery/replay.c) alike. No state; the thread of the
 * caller.
 */
#ifndef MN_CORE_UPGRADE_H
#define MN_CORE_UPGRADE_H

#include <stddef.h>
#include <stdint.h>

#include "include/mnemo.h"

/* How a snapshot was brought in (mn__kind_restore's *how). */
enum mn__restored {
	MN__RESTORED_SAME = 0, /* written by this version */
	MN__RESTORED_UPGRADED, /* older: upgrade() converted it */
	MN__RESTORED_OLDER,    /* older, no upgrade(): restore() read it */
	MN__RESTORED_REFUSED,  /* newer than this code: refused */
	MN__RESTORED_FAILED,   /* upgrade() or restore() returned an error */
};

/*
 * Restore the snapshot bytes[0..len), written by version `version` of
 * def's kind, into *state with ctx (restore() sees mn_ctx_state_version
 * = the bytes' version). A newer version than def->version is refused
 * (MN_EVERSION); an older one goes through def->upgrade when there is
 * one. Returns 0, MN_EVERSION, or MN_EHANDLER (upgrade() or restore()
 * refused, or upgrade() ran out of memory); why (whylen bytes) then says
 * what happened, naming seq. *how: see above.
 */
int mn__kind_restore(const mn_kind_def *def, mn_ctx *ctx, uint32_t version,
		     uint64_t seq, const void *bytes, size_t len, void **state,
		     enum mn__restored *how, char *why, size_t whylen);

#endif /* MN_CORE_UPGRADE_H */
