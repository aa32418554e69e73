/*
 * import.h - what `mnemo import` (recovery/cmd_import.c) shares with the
 * writing of its actors (recovery/import_write.c): the state of one import
 * and the three entry points of the writing side. Private to the two files.
 *
 * One import runs on the thread that runs the command; nothing here is
 * shared between threads.
 */
#ifndef MN_RECOVERY_IMPORT_H
#define MN_RECOVERY_IMPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "recovery/cli.h"
#include "recovery/xstream.h"

/* Payload and state bytes above which the next actor starts a new
 * transaction (an actor is never split). */
#define MN__IMPORT_BATCH_BYTES ((uint64_t)8 << 20)
/* Actors at most in one transaction. */
#define MN__IMPORT_BATCH_ACTORS 1024

typedef struct kindent {
	char name[MN_KIND_NAME_MAX + 1];
	uint32_t id;
} kindent;

/* An imported actor by its address in the stream. */
typedef struct mapent {
	const Mnemo__Export__Address *addr;
	uint64_t id;
} mapent;

typedef struct istate {
	mn__cli *c;
	mn__xs_stream xs;
	const unsigned char *as_key; /* --as */
	size_t as_len;
	kindent *kinds;
	size_t nkinds, capkinds;
	uint32_t *kind_ids;  /* per stream actor */
	uint64_t *ids;	     /* per stream actor: its id in the store */
	mapent *map;	     /* sorted by address */
	uint64_t *timer_ids; /* timer ids in use, sorted */
	size_t ntimer_ids, captimer_ids;
	/* Last sender resolved. */
	const Mnemo__Export__Address *last_addr;
	uint64_t last_id;
	uint64_t senders_lost, conflicts, imported;
	uint64_t next_lsn, next_outbox;
	/* The batch being built. */
	mn__wentry *ents;
	size_t nents, capents;
	mn__wsnap *snaps;
	size_t nsnaps, capsnaps;
	mn__wtimer *timers;
	size_t ntimers, captimers;
	mn__wactor *acts;
	size_t nacts, capacts;
	mn__woutbox *obs;
	size_t nobs, capobs;
	/* A copy (no --move): the stream's timers and outbox messages go to
	 * the quarantine, not to the timers and the outbox. */
	bool move;
	mn__woutbox *quar;
	size_t nquar, capquar;
	uint64_t held_timers, held_outbox;
	/* Pending calls: stored for a move (issued by the next runtime,
	 * under the actor's new id), left out of a copy (held_calls). */
	mn__wcall *wcalls;
	size_t nwcalls, capwcalls;
	uint64_t calls, held_calls;
	/* Memory the batch points into (rewritten intents, entries' call
	 * arrays), freed when the batch is written. */
	void **owned;
	size_t nowned, capowned;
	uint64_t batch_bytes;
	size_t batch_first; /* stream index of the batch's first actor */
} istate;

/* For mn__store_kinds_scan: record the store's kind id of name. */
int mn__import_on_kind(void *arg, uint32_t id, const char *name, uint32_t dict);

/* The id of kind name in the store, 0 when it has none (no kind is
 * created). */
uint32_t mn__import_kind_known(const istate *x, const char *name);

/* Steps 4 and 5 of the protocol (cmd_import.c): kinds, then the actors in
 * batches, then the outbox messages. Returns 0 or a store error (what, of
 * whatcap bytes, says where); x->imported counts the actors written. */
int mn__import_write_all(istate *x, const mn__store_info *info, char *what,
			 size_t whatcap);

#endif
