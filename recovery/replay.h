/*
 * replay.h - the replay engine shared by `mnemo replay` (cmd_replay.c) and
 * `mnemo diff` (cmd_diff.c), in recovery/replay.c: load a plugin's kinds,
 * open the store read-only, and re-run one actor's recorded history with
 * the plugin's code, comparing the states it reaches with the recorded
 * state hashes and snapshots.
 *
 * Threads: one replay at a time per mn__rp, on the command's thread.
 */
#ifndef MN_RECOVERY_REPLAY_H
#define MN_RECOVERY_REPLAY_H

#include "recovery/cli.h"

struct mn__offline;
typedef struct mn__rp mn__rp;

/* Called after each state the replay reaches: e is the journal entry just
 * handled (handle_rc what handle() returned), or NULL for the start state
 * (after restore or init, at r->start_seq). Return 0 to go on, or a
 * negative MN_E* code to stop the replay with it. */
typedef int (*mn__rp_cb)(void *arg, mn__rp *r, const mn__entry *e,
			 int handle_rc);

/* One actor replayed with a plugin's kind. */
struct mn__rp {
	mn__cli *c;
	const char *plugin; /* path given to --plugin */
	void *dl;	    /* its dlopen handle */
	struct mn__offline *off;
	const mn_kind *kind; /* the actor's kind in the offline shell */
	const mn_kind_def *def;
	char kind_name[MN_KIND_NAME_MAX + 1];
	char addr[MN__CLI_ADDR_CAP];
	mn__actor_meta meta;
	void *state;	    /* the replayed state (NULL before a run) */
	bool have_state;    /* init/restore ran (free() owed) */
	uint64_t start_seq; /* the run started after this message */
	/* Not 0: a run not from the start begins at the latest snapshot at
	 * or before this seq, not before the target (mnemo check). */
	uint64_t start_max;
	bool from_snapshot; /* ... restored from the snapshot at start_seq */
	/* How the start's snapshot came in (enum mn__restored,
	 * core/upgrade.h) and the version that wrote it. */
	int restore_how;
	uint32_t restore_version;
	/* A stored snapshot of another version the code could not bring
	 * back (restore_how REFUSED or FAILED) ends the run: its seq. */
	uint64_t restore_seq;
	uint64_t seq;	   /* the last message replayed (start_seq at first) */
	uint64_t replayed; /* messages handled in the run */
	uint64_t compared; /* stored snapshots compared */
	uint64_t hashed;   /* recorded state hashes compared */
	bool diverged;
	uint64_t diverged_seq;
	/* Outbound calls: a request the code makes that differs from the
	 * recorded one (or a recorded call it does not make) is a call
	 * divergence; stub_calls: report it and go on feeding the recorded
	 * replies (--on-divergence stub), else report it and stop. */
	bool stub_calls;
	uint64_t calls_compared;   /* recorded calls compared */
	uint64_t call_divergences; /* reported (at most one per entry) */
	/* Stored snapshots after start_seq, up to the target (ascending). */
	uint64_t *snaps;
	size_t nsnaps, next_snap;
	uint64_t target;
	mn__rp_cb cb;
	void *cb_arg;
	/* Last sender resolved. */
	uint64_t sender_id;
	const mn_kind *sender_kind;
	unsigned char sender_key[MN_KEY_MAX];
	size_t sender_key_len;
	char sender[MN__CLI_ADDR_CAP];
	mn_buf scratch;
	/* The plugin's kinds (mn__rp_load). */
	const mn_kind_def *defs;
	size_t ndefs, stride;
};

/*
 * Load the plugin (dlopen, then its MN_PLUGIN_SYMBOL), open c->path, find
 * the actor at address and its kind among the plugin's kinds. Returns
 * MN__CLI_OK, or the exit code after printing why (2: plugin or store
 * errors, a bad address; 1: no such actor or kind in the store).
 * mn__rp_close() must follow in every case.
 */
int mn__rp_open(mn__rp *r, mn__cli *c, const char *plugin, const char *address);

/* mn__rp_open in two steps, for a run over many actors (mnemo check):
 * load the plugin and open c->path; then make m (a record of that store)
 * the actor the next runs replay (its kind among the plugin's kinds; the
 * state of an earlier actor freed). Same returns; mn__rp_close() after
 * either. */
int mn__rp_load(mn__rp *r, mn__cli *c, const char *plugin);
int mn__rp_select(mn__rp *r, const mn__actor_meta *m);

/*
 * Replay the actor's history up to message target (<= meta.last_seq):
 * from its latest snapshot at or before target (restore()) unless
 * from_start or the kind has no restore (init()), then each journal entry
 * through handle() with the ctx replaying. After each entry that recorded
 * a state hash, when the kind has hash(), compares the replayed state's
 * hash with it; after each stored snapshot after the start, compares
 * snapshot() of the replayed state with it. On the first difference prints
 * the divergence (text or JSON, the states described) and stops. Returns
 * MN__CLI_OK; MN__CLI_FAIL on divergence, a broken actor (init or restore
 * failed) or a damaged record; MN__CLI_USAGE for other store errors. The state
 * stays in r->state until the next run or close.
 */
int mn__rp_run(mn__rp *r, uint64_t target, bool from_start);

/*
 * After handle() of entry e (replay_calls.c): compare the calls the code
 * made with those e recorded; on a difference print the call divergence
 * (text or JSON: the old and new request, the first differing bytes) and
 * count it. Returns 0 to go on (no divergence, or one stubbed), 1 to stop
 * (a divergence, stub_calls false), or MN_ECORRUPT (a recorded intent
 * that does not decode; the message printed), MN_ENOMEM.
 */
int mn__rp_check_calls(mn__rp *r, const mn__entry *e);

/* The sequence number of the last message handled at or before unix_ms
 * (0 when none). Returns 0, or an exit code after printing why. */
int mn__rp_seq_at(mn__rp *r, uint64_t unix_ms, uint64_t *seq);

/* Append the kind's describe() of state to out, or "(no describe)", or
 * "(describe failed: MN_X)". Returns 0 or MN_ENOMEM. */
int mn__rp_describe(mn__rp *r, const void *state, mn_buf *out);

/* Free the state (the kind's free()), the shell, close the store and the
 * plugin. */
void mn__rp_close(mn__rp *r);

#endif /* MN_RECOVERY_REPLAY_H */
