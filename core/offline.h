/*
 * offline.h - a handler context outside any runtime, for the mnemo tool's
 * `replay` and `diff` (recovery/cmd_replay.c): a kind's callbacks (init,
 * restore, handle, snapshot, describe, free) run against an actor's
 * recorded history with no workers, no store and no outside world.
 *
 * The shell is a zeroed mn_runtime holding the kinds (so mn_kind_find and
 * mn_ctx_send's checks work), one mn__worker (mn_ctx_worker reports 0), one
 * actor record (mn_ctx_self) and a ctx that is always replaying: sends,
 * replies, timers and cancels do nothing and return 0, as they do when a
 * runtime replays a journal (core/persist.c). Kinds are persistent, so
 * mn_ctx_after behaves as for a persistent actor. One thread; the shell is
 * never given to a real runtime function that needs workers or a store.
 */
#ifndef MN_CORE_OFFLINE_H
#define MN_CORE_OFFLINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "include/mnemo.h"

typedef struct mn__offline mn__offline;

/* A new shell with no kinds. Returns 0 or MN_ENOMEM. */
int mn__offline_new(mn__offline **out);

/* Free the shell (not the states made by its kinds' callbacks). */
void mn__offline_free(mn__offline *o);

/*
 * Add a kind named name with the callbacks of def (copied), or with none
 * (def NULL: a placeholder, so that a recorded sender of a kind the plugin
 * does not define can still be named). Returns 0 and *out, MN_EEXIST,
 * MN_EINVAL (bad name), MN_ELIMIT (MN_KINDS_MAX kinds).
 */
int mn__offline_add_kind(mn__offline *o, const char *name,
			 const mn_kind_def *def, mn_kind **out);

/* The kind's definition (callbacks may be NULL for a placeholder). */
const mn_kind_def *mn__offline_kind_def(const mn_kind *k);

/* The shell's runtime (as mn_ctx_runtime reports it). */
mn_runtime *mn__offline_runtime(mn__offline *o);

/* Make (kind, key) the actor the ctx runs. Returns 0, MN_EKEY, MN_ENOMEM. */
int mn__offline_set_actor(mn__offline *o, const mn_kind *kind, const void *key,
			  size_t key_len);

/* The recorded sender of the message about to be replayed (kind NULL: from
 * outside), and its sequence number. */
void mn__offline_set_message(mn__offline *o, const mn_kind *sender_kind,
			     const void *sender_key, size_t sender_key_len,
			     uint64_t seq);

/* The ctx to pass to the kind's callbacks (replaying). */
mn_ctx *mn__offline_ctx(mn__offline *o);

/* The timer ids the message being replayed recorded (mn__entry.timer_ids;
 * borrowed until the next set_message), returned by mn_ctx_after. */
void mn__offline_set_timer_ids(mn__offline *o, const uint64_t *ids, size_t n);

/*
 * The journal entry about to be replayed (after set_message and
 * set_timer_ids; e borrowed until the next set_message): its time for
 * mn_ctx_time, a generator seeded as when it was handled (mn_ctx_random),
 * and its recorded calls, which mn_ctx_call_* compare the requests the
 * handler makes with (mn__ctx_replay_entry, core/calls.c).
 */
struct mn__entry;
void mn__offline_set_entry(mn__offline *o, const struct mn__entry *e);

/* What the handler's calls did against the entry's recorded ones. */
typedef struct mn__offline_calls {
	uint32_t made; /* calls the handler made */
	/* The first call whose request differs from the recorded one at
	 * its index, or that has none (the handler made more calls than
	 * recorded): its index and packed intent (borrowed until the next
	 * set_entry). */
	bool diverged;
	uint32_t index;
	const void *intent;
	size_t len;
} mn__offline_calls;
void mn__offline_calls_get(mn__offline *o, mn__offline_calls *out);

#endif
