/*
 * mnemo.h - the one public header of mnemo, a runtime that keeps millions of
 * long-lived agents alive as persistent actors.
 *
 * Conventions (see docs/api.md):
 *   - Handles are opaque (mn_runtime, mn_kind, mn_ctx); their layouts are
 *     private.
 *   - Functions that can fail return int: 0 on success, a negative MN_E* code
 *     otherwise. mn_strerror() and mn_err_name() describe a code.
 *   - Constructors return their object through an out-parameter; destructors
 *     accept NULL.
 *   - Thread safety is stated per function. "Any thread" means the function
 *     may be called concurrently from any number of threads, including from
 *     inside a handler. Functions taking an mn_ctx may only be called from
 *     inside the handler (or init) that received that ctx.
 *   - Two parts: STABLE (kept source- and binary-compatible from release
 *     to release: names, meanings, struct layouts only ever extended at
 *     the end) and EXPERIMENTAL UNTIL 1.0 (may change in any 0.x release;
 *     docs/api.md says what each part holds).
 *   - The structs a caller fills in (mn_runtime_opts, mn_kind_def) start
 *     with a size field so that they can grow: initialise them with
 *     MN_RUNTIME_OPTS_INIT / MN_KIND_DEF_INIT (or leave size 0 for the 0.1
 *     layout); a field the caller's header did not have gets its default.
 */
#ifndef MNEMO_H
#define MNEMO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MN_VERSION_MAJOR 0
#define MN_VERSION_MINOR 1
#define MN_VERSION_PATCH 0

/* ======================================================================== */
/* STABLE                                                                   */
/* ======================================================================== */

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */
/* ------------------------------------------------------------------------ */

/*
 * The one table of error codes: XX(name, value, description). It generates
 * the enum below, mn_strerror() and mn_err_name(). Values are stable: a code
 * once published keeps its number.
 */
#define MN_ERRNO_MAP(XX)                                                       \
	XX(EINVAL, -1, "invalid argument")                                     \
	XX(ENOMEM, -2, "out of memory")                                        \
	XX(EKEY, -3, "actor key must be 1 to 255 bytes")                       \
	XX(ENOKIND, -4, "unknown kind")                                        \
	XX(ENOACTOR, -5, "unknown actor")                                      \
	XX(ETOOBIG, -6, "message payload over the size limit")                 \
	XX(ECLOSED, -7, "runtime is shut down")                                \
	XX(EEXIST, -8, "already exists")                                       \
	XX(ELIMIT, -9, "a fixed limit was reached")                            \
	XX(ESYS, -10, "operating system call failed")                          \
	XX(EHANDLER, -11, "a kind's callback failed")                          \
	XX(ENOTSUP, -12, "not supported")                                      \
	XX(EIO, -13, "input/output error")                                     \
	XX(ECORRUPT, -14, "stored data is corrupt")                            \
	XX(EVERSION, -15, "store written by an unsupported format version")    \
	XX(ENOSPC, -16, "no space left for the store")                         \
	XX(EBUSY, -17, "resource busy")                                        \
	XX(ETIMEDOUT, -18, "timed out")                                        \
	XX(ECOMPACTED, -19, "that part of the history was compacted away")     \
	XX(ENOTSTORE, -20, "not a mnemo store")                                \
	XX(ECONFLICT, -21, "a client key reused with another message")

enum mn_errno {
	MN_OK = 0,
#define MN__ERR_ENUM(name, val, desc) MN_##name = (val),
	MN_ERRNO_MAP(MN__ERR_ENUM)
#undef MN__ERR_ENUM
};

/* A static description of err ("unknown error" for an unknown code). Any
 * thread; never returns NULL. */
const char *mn_strerror(int err);

/* The symbolic name of err, e.g. "MN_ETOOBIG" ("MN_OK" for 0,
 * "MN_E?" for an unknown code). Any thread; never returns NULL. */
const char *mn_err_name(int err);

/* The library version as "major.minor.patch". */
const char *mn_version(void);

/* A description of the last store failure seen by a call in this thread:
 * the store, the record and the reason, e.g. "store ./data: log record
 * 4411: checksum mismatch"; after a send refused because its actor is
 * broken, "actor KIND/KEY is broken (could not be brought back): REASON".
 * Valid until the next call into mnemo from this thread; never NULL. */
const char *mn_errdetail(void);

/* ------------------------------------------------------------------------ */
/* Limits and tuning constants                                              */
/* ------------------------------------------------------------------------ */

/* Longest actor key in bytes (keys are 1..MN_KEY_MAX bytes). */
#define MN_KEY_MAX 255
/* Longest kind name in bytes, excluding the terminating NUL. */
#define MN_KIND_NAME_MAX 63
/* Most kinds one runtime can register. */
#define MN_KINDS_MAX 256
/* Default payload size limit (mn_runtime_opts.max_payload). */
#define MN_PAYLOAD_MAX_DEFAULT (1u << 20)
/* Messages an actor handles per scheduling turn before it yields its worker
 * to other actors. */
#define MN_SCHED_BATCH 64
/* Most worker threads. */
#define MN_WORKERS_MAX 256

/* ------------------------------------------------------------------------ */
/* Types                                                                    */
/* ------------------------------------------------------------------------ */

typedef struct mn_runtime mn_runtime; /* a running set of actors */
typedef struct mn_kind mn_kind;	      /* a registered behaviour */
typedef struct mn_ctx mn_ctx;	      /* a handler's view of the runtime */
typedef struct mn_buf mn_buf;	      /* a growable byte buffer */

/*
 * An actor's address: its kind's name and its key. Views of addresses handed
 * out by the runtime (mn_ctx_self, mn_ctx_sender) borrow their bytes: they
 * are valid until the callback that received them returns.
 */
typedef struct mn_addr {
	const char *kind; /* NUL-terminated kind name */
	const void *key;  /* key bytes, not NUL-terminated */
	size_t key_len;	  /* 1..MN_KEY_MAX */
} mn_addr;

/*
 * A message as a handler sees it. The payload bytes are owned by the runtime
 * and valid until handle() returns; copy what must outlive the call.
 */
typedef struct mn_msg {
	uint32_t type;	     /* application-defined message type */
	uint32_t flags;	     /* MN_MSG_* */
	const void *payload; /* len bytes; NULL when len is 0 */
	size_t len;
} mn_msg;

/* mn_msg.flags, all of them (bits 0x1..0x80 are public; the runtime keeps
 * the higher bits for itself and never shows them to a handler). */
/* The message was sent by code outside any actor (mn_send);
 * mn_ctx_sender() then reports MN_ENOACTOR. */
#define MN_MSG_EXTERNAL 0x1u
/* The message is a durable timer firing (mn_ctx_after, experimental). */
#define MN_MSG_TIMER 0x2u
/* The message is the reply to an outbound call this actor made
 * (mn_ctx_call_http, mn_ctx_call_begin; experimental): read it with
 * mn_call_reply_decode(). */
#define MN_MSG_CALL 0x4u
/* The message is an ask from outside (mn_ask; experimental): the asker
 * waits for mn_ctx_reply(), or for mn_ctx_ask_reply() with the token of
 * mn_ctx_ask_token() from a later message. */
#define MN_MSG_ASK 0x8u

/*
 * A kind: the behaviour shared by all actors of one name. Callbacks run on a
 * worker thread, never two at once for the same actor, so an actor's state
 * needs no locks. They must not block for long: a blocked handler holds a
 * worker.
 *
 * Determinism rule: handle() computes the new state from the old state and
 * the message alone. Time, randomness and replies from the outside world
 * enter as messages, so a history replays identically.
 */
typedef struct mn_kind_def {
	/* sizeof(mn_kind_def) as the caller's header has it: set by
	 * MN_KIND_DEF_INIT; 0 means the layout of mnemo 0.1. Fields added
	 * after the caller's size read as 0 (their default). */
	size_t size;
	/* Kind name, 1..MN_KIND_NAME_MAX bytes, unique within a runtime.
	 * Copied at registration. */
	const char *name;
	/* MN_KIND_* flags. */
	uint32_t flags;
	/* Opaque pointer handed back by mn_ctx_kind_arg(). */
	void *arg;

	/* Create the fresh state of a new actor, before its first message.
	 * Stores the state (may be NULL) in *state. Return 0, or a negative
	 * code: the message that was about to be handled is then dropped
	 * (counted in mn_runtime_stats.handler_errors) and init runs again
	 * before the next message. Required. */
	int (*init)(mn_ctx *ctx, void **state);

	/* Handle one message, updating state in place. Return 0, or a
	 * negative code (counted in mn_runtime_stats.handler_errors; the
	 * message is not retried). Required. */
	int (*handle)(mn_ctx *ctx, void *state, const mn_msg *msg);

	/* Serialize state into out with mn_buf_append(). Used by the
	 * persistence layer (snapshots); optional until a kind is persistent.
	 */
	int (*snapshot)(const void *state, mn_buf *out);

	/* Rebuild a state from snapshot bytes (valid during the call).
	 * Optional until a kind is persistent. */
	int (*restore)(mn_ctx *ctx, const void *bytes, size_t len,
		       void **state);

	/* Release a state made by init() or restore(). Optional (NULL means
	 * the state needs no release). Called when the actor leaves memory:
	 * at mn_runtime_close, and at eviction. */
	void (*free)(void *state);

	/* Snapshot policy (persistent kinds with a snapshot callback): take
	 * a snapshot after this many messages since the last one (0 means
	 * 1000), or after this many payload bytes (0 means 1 MiB),
	 * whichever comes first; and at eviction, when any message came
	 * after the last snapshot. Snapshots bound what rehydration
	 * replays. */
	uint32_t snapshot_every;
	uint32_t snapshot_bytes;

	/* Describe a state for people (the mnemo tool's replay and diff):
	 * append readable text (or JSON) to out. Optional. Experimental
	 * until 1.0 (as hash below). */
	int (*describe)(const void *state, mn_buf *out);

	/* A 64-bit hash of a state (persistent kinds; optional). When set,
	 * the hash of the state after each message is stored with that
	 * message's journal entry, and `mnemo replay` reports the first
	 * message after which new code's state hashes differently (not only
	 * at snapshots). Must depend on the state alone, be deterministic
	 * across processes, and be cheap: it runs after every message. A
	 * hash of 0 is stored as 1 (0 means "no hash"). */
	uint64_t (*hash)(const void *state);

	/* The version of this code's state and behaviour (0 means 1).
	 * Every journal entry and snapshot records the version of the code
	 * that wrote it (docs/format.md). Raise it when snapshot()'s bytes
	 * change meaning, or when handle() would bring old messages to a
	 * different state; docs/upgrades.md says when. A snapshot written
	 * by a newer version than the running code is refused for that
	 * actor (MN_EVERSION: MN_EVENT_BROKEN), never misread. As every
	 * field after hash, it is read only when size is set
	 * (MN_KIND_DEF_INIT): with size 0 it reads as 0. */
	uint32_t version;

	/* Bring a snapshot written by an older version (from_version, less
	 * than version) forward: append the current version's snapshot
	 * bytes of the same state to out (mn_buf_append), which restore()
	 * then reads. Return 0, or a negative code (the actor is broken:
	 * MN_EVENT_BROKEN). Optional: without it, restore() gets the old
	 * bytes and mn_ctx_state_version() tells it their version. Runs on
	 * a worker, and in the mnemo tool; like restore(), it must not
	 * depend on anything but its arguments. */
	int (*upgrade)(uint32_t from_version, const void *bytes, size_t len,
		       mn_buf *out);
	/* New fields go here, at the end, each defaulting to 0. */
} mn_kind_def;

/* Initialiser of an mn_kind_def: `mn_kind_def d = MN_KIND_DEF_INIT;
 * d.name = ...;` or, with designated initialisers,
 * `{.size = sizeof(mn_kind_def), .name = ..., ...}`. */
#define MN_KIND_DEF_INIT                                                       \
	{                                                                      \
		.size = sizeof(mn_kind_def)                                    \
	}

/* Kind flag: sending to an address of this kind that was never created
 * fails with MN_ENOACTOR instead of creating the actor; actors are created
 * with mn_spawn(). */
#define MN_KIND_EXPLICIT 0x1u
/* Kind flag: in a runtime with a store, actors of this kind are not
 * persisted (no journal; state lost at close). Kinds are persistent by
 * default when the runtime has a store, and volatile without one. */
#define MN_KIND_VOLATILE 0x2u

/* Durability modes (mn_runtime_opts.durability); docs/semantics.md says
 * exactly what each promises. */
enum mn_durability {
	/* Every commit group is fsynced before its effects are visible: a
	 * processed message survives a power loss. The default. */
	MN_DURABILITY_SYNC = 0,
	/* Commits are written to the OS but not fsynced: a process crash
	 * loses nothing committed, a power loss may lose the last moments. */
	MN_DURABILITY_RELAXED = 1,
};

/* ------------------------------------------------------------------------ */
/* Failure events                                                           */
/* ------------------------------------------------------------------------ */

/*
 * Failures that no call returns to its caller are reported to a callback
 * the runtime is opened with (mn_runtime_opts.on_event): the actor, the
 * code and the reason. docs/semantics.md (Failures) lists when each type
 * is reported.
 */
enum mn_event_type {
	/* An actor could not be brought back from the store: restore()
	 * refused its snapshot, the snapshot or the journal after it could
	 * not be read or decoded. Reported once per actor (until it comes
	 * back); its messages then fail (MN_EVENT_DROPPED, and sends to it
	 * return err with the reason in mn_errdetail()). */
	MN_EVENT_BROKEN = 1,
	/* init() or handle() returned a negative code (err). seq: the
	 * message's sequence number (persistent actors; 0 otherwise). */
	MN_EVENT_HANDLER_ERROR = 2,
	/* A commit failed (e.g. MN_ENOSPC): the store error is now sticky
	 * (mn_runtime_stats.store_error). No actor (addr.kind NULL). */
	MN_EVENT_STORE_ERROR = 3,
	/* A queued message was dropped unhandled: its actor is broken, or
	 * its init() failed. */
	MN_EVENT_DROPPED = 4,
	/* A stored message (outbox: a send held until its commit, a
	 * durable send, a redelivery after open) or a due timer could not
	 * be delivered or handled now; it stays stored and is tried again
	 * (timers: at the next tick; messages: at the next open). */
	MN_EVENT_UNDELIVERED = 5,
	/* Rehydration replayed a journal entry and the kind's hash() of the
	 * resulting state differs from the hash the code that first handled
	 * it recorded (new code that handles an old message differently, or
	 * a handler that is not deterministic). Not fatal: the actor runs on
	 * with the state the current code built. seq: the first entry that
	 * differed; reported once per rehydration; err 0. Counted in
	 * mn_upgrade_stats.hash_mismatches (every differing entry). */
	MN_EVENT_DIVERGED = 6,
};

/*
 * One event. Every pointer is borrowed: valid only until the callback
 * returns (copy what must outlive it).
 */
typedef struct mn_event {
	int type; /* enum mn_event_type */
	int err;  /* the MN_E* code of the failure */
	/* The actor concerned; addr.kind is NULL and addr.key_len 0 when
	 * there is none (MN_EVENT_STORE_ERROR). */
	mn_addr addr;
	uint64_t seq; /* the message's sequence number, 0 if none */
	/* Readable reason, e.g. "restore() refused the snapshot (returned
	 * MN_EINVAL)"; NUL-terminated, never NULL. */
	const char *reason;
	/* Events of this type the rate limit dropped since the last one of
	 * this type that was delivered (also summed in
	 * mn_runtime_stats.events_suppressed). */
	uint64_t suppressed;
} mn_event;

/*
 * The event callback. Runs inline on the thread that saw the failure (a
 * worker, the writer thread, the maintenance thread), possibly on several
 * threads at once; never under a lock a worker needs. It must be quick and
 * must not block (a blocked callback stalls a worker or the writer), and
 * must not call into mnemo except mn_strerror(), mn_err_name() and
 * mn_version(): no sends, no stats, no close. Copy what it needs to a queue
 * of your own and act on it elsewhere. arg is mn_runtime_opts.event_arg.
 */
typedef void (*mn_event_fn)(void *arg, const mn_event *ev);

struct mn_bridge_call; /* outbound calls, below (experimental) */
struct mn_stream_chunk;

typedef struct mn_runtime_opts {
	/* sizeof(mn_runtime_opts) as the caller's header has it: set by
	 * MN_RUNTIME_OPTS_INIT; 0 means the layout of mnemo 0.1. Fields
	 * added after the caller's size read as 0 (their default). */
	size_t size;
	/* Worker threads; 0 means one per online core. */
	unsigned workers;
	/* Largest payload accepted by a send, in bytes; 0 means
	 * MN_PAYLOAD_MAX_DEFAULT. */
	size_t max_payload;
	/* Directory of the durable store (created if missing); NULL for a
	 * runtime that keeps everything in memory. */
	const char *store_path;
	/* enum mn_durability. */
	int durability;
	/* Group commit: a commit group closes when it holds this many
	 * records (0 means 4096), or when the previous commit ends and
	 * commit_delay_us has passed since the group's first record (0
	 * means no wait: the group is whatever queued during the previous
	 * commit). */
	unsigned commit_max_records;
	unsigned commit_delay_us;
	/* Eviction (runtimes with a store): keep at most this many actors of
	 * persistent kinds resident, evicting idle ones (approximately the
	 * least recently used; down to 7/8 of it once they are idle); 0
	 * means no limit. Without admission (below) the evictor works after
	 * the fact and a burst may overshoot the bound. */
	uint64_t max_resident;
	/* Also evict persistent actors idle for about this long; 0 means
	 * never by time. */
	unsigned idle_evict_ms;
	/* Journal entries between two checkpoints of actor heads (0 means
	 * 65,536). Opening a store after a crash scans at most about this
	 * many entries; smaller means more head writes. */
	unsigned checkpoint_every;
	/* Failure events (see "Failure events" above); NULL: none (each
	 * failure path then costs one branch more). event_arg is handed
	 * back to on_event. event_rate: events of one type delivered per
	 * second, about (a fixed one-second window); the rest are counted
	 * as suppressed; 0 means 100. */
	mn_event_fn on_event;
	void *event_arg;
	unsigned event_rate;
	/* Outbound calls (experimental, docs/calls.md): HTTP transfers in
	 * flight at once, in all (0 means 256) and per host (scheme, host
	 * and port; 0 means 64); calls beyond wait in order. */
	unsigned calls_max_inflight;
	unsigned calls_max_per_host;
	/* Bridged calls (mn_ctx_call_begin): told to this callback once
	 * their intent is committed, and again after a restart while no
	 * reply landed. NULL: such calls wait until a restart with one. */
	void (*on_bridge_call)(void *arg, const struct mn_bridge_call *call);
	void *bridge_arg;
	/* Streamed responses (MN_CALL_STREAM): each body chunk as it
	 * arrives, volatile (never journaled, never seen by handle). */
	void (*on_stream)(void *arg, const struct mn_stream_chunk *chunk);
	void *stream_arg;
	/* Idempotent ingress (mn_send_idempotent, experimental): how long a
	 * client key is remembered, in ms; 0 means 24 hours. */
	uint64_t ingress_retention_ms;
	/* Recovery after a restart (stored messages delivered, calls issued
	 * again, due timers fired) begins once this many kinds are
	 * registered, so that no handler runs before a kind it sends to
	 * exists; 0 means each kind's recovery begins at its registration. */
	unsigned kinds_expected;
	/* Non-zero: max_resident holds at the door (admission control,
	 * docs/semantics.md State 12): a send that would create or bring
	 * back one more persistent actor waits for room, or from a handler
	 * is parked until there is room. 0 (the default): no waiting; the
	 * evictor brings the count down after a burst. Experimental: it
	 * costs throughput where the working set is far beyond the bound
	 * (every message to an evicted actor then waits for an eviction). */
	unsigned admission;
	/* New fields go here, at the end, each defaulting to 0. */
} mn_runtime_opts;

/* Initialiser of an mn_runtime_opts: `mn_runtime_opts o =
 * MN_RUNTIME_OPTS_INIT; o.workers = 4;` or, with designated initialisers,
 * `{.size = sizeof(mn_runtime_opts), .workers = 4}`. */
#define MN_RUNTIME_OPTS_INIT                                                   \
	{                                                                      \
		.size = sizeof(mn_runtime_opts)                                \
	}

/* Counters of a runtime. Each field is read without stopping the workers, so
 * fields may be a few operations apart from each other. */
typedef struct mn_runtime_stats {
	uint64_t actors;	 /* actors resident in memory */
	uint64_t actor_bytes;	 /* bytes of actor records (state excluded) */
	uint64_t registry_bytes; /* heap bytes of the address registry tables */
	uint64_t sent;		 /* messages accepted by a send or spawn */
	uint64_t processed;	 /* messages handled (or dropped); a spawn
				    counts once, when its init has run */
	uint64_t handler_errors; /* init/handle calls that returned an error */
	uint64_t steals;	 /* actors taken from another worker's queue */
	uint64_t sleeps;	 /* times a worker went to sleep */
	unsigned workers;
	/* With a store: */
	uint64_t commits;	   /* commit groups written */
	uint64_t journaled;	   /* journal entries written */
	uint64_t outbox_delivered; /* stored messages delivered at open */
	uint64_t store_bytes;	   /* size of the store on disk */
	int store_error;	   /* sticky store failure (0 = none) */
	uint64_t evictions;	   /* actors taken out of memory */
	uint64_t rehydrations;	   /* actors brought back from the store */
	uint64_t snapshots;	   /* snapshots written */
	uint64_t replayed;	   /* journal entries replayed */
	uint64_t broken;	   /* actors that could not be brought back */
	uint64_t timers_fired;	   /* durable timers delivered */
	/* Failure events (mn_runtime_opts.on_event): */
	uint64_t events;	    /* delivered to the callback */
	uint64_t events_suppressed; /* dropped by the rate limit */
	/* Admission control (max_resident, docs/semantics.md): the most
	 * actors of persistent kinds resident at once since open (0 without
	 * max_resident); outside sends that waited for room; sends from
	 * handlers and runtime threads parked until room freed; sends
	 * admitted over the bound after a stalled wait. New fields go
	 * here, at the end. */
	uint64_t resident_peak;
	uint64_t admission_waits;
	uint64_t admission_parked;
	uint64_t admission_overruns;
} mn_runtime_stats;

/* ------------------------------------------------------------------------ */
/* Runtime                                                                  */
/* ------------------------------------------------------------------------ */

/*
 * Start a runtime with its worker threads. opts may be NULL for defaults.
 * Returns 0 and *out, or MN_EINVAL (out NULL, workers over MN_WORKERS_MAX,
 * an opts->size this library cannot read: see MN_RUNTIME_OPTS_INIT),
 * MN_ENOMEM, MN_ESYS (threads could not start); with a store_path, the
 * store's codes too (mn_errdetail() says why): MN_ENOTSTORE (the path
 * holds something that is not a mnemo store: another program's LMDB
 * environment, a data.mdb that is not LMDB's, other files and no data.mdb;
 * an empty or missing directory becomes a new store), MN_EVERSION,
 * MN_ECORRUPT, MN_EBUSY, MN_EIO, MN_ENOSPC. Any thread.
 */
int mn_runtime_open(const mn_runtime_opts *opts, mn_runtime **out);

/*
 * Stop accepting sends from outside: from now on mn_send*() return
 * MN_ECLOSED. Messages already queued are still handled until
 * mn_runtime_close(); handlers may still send to each other. Idempotent. Any
 * thread.
 */
void mn_runtime_shutdown(mn_runtime *rt);

/*
 * Wait until no message is queued or being handled anywhere in the runtime.
 * Returns at a moment when the runtime was quiescent; a send that races with
 * it may or may not be waited for. Returns 0, or MN_EINVAL (rt NULL, or
 * called from inside a handler, which would wait for itself). Any thread but
 * a worker.
 */
int mn_runtime_drain(mn_runtime *rt);

/*
 * Shut down, wait for outside sends already admitted, stop the workers after
 * their current turn, drop every message still queued (without handling
 * it), free every actor (kind free()) and the runtime. Call drain first to
 * have queued messages handled. NULL is a no-op. Not from inside a handler.
 * No call on rt may start once close has begun (rt is freed when it
 * returns): to stop outside senders cleanly, call mn_runtime_shutdown()
 * first (their sends then fail with MN_ECLOSED), let them finish, then
 * close.
 */
void mn_runtime_close(mn_runtime *rt);

/* Fill *st with the runtime's counters. Any thread. */
void mn_runtime_stats_get(mn_runtime *rt, mn_runtime_stats *st);

/* Histograms of a runtime with a store (mn_runtime_histogram). */
#define MN_HISTOGRAM_BUCKETS 14
typedef struct mn_histogram {
	uint64_t count; /* observations */
	uint64_t sum;	/* their sum, in the histogram's unit */
	/* Bucket i counts the observations <= le[i] and > le[i - 1]; the
	 * last bound is UINT64_MAX (+Inf). Latencies in microseconds: 25,
	 * 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 100000, 250000,
	 * 1000000; sizes in records: 1, 2, 4, ... 4096. */
	uint64_t le[MN_HISTOGRAM_BUCKETS];
	uint64_t bucket[MN_HISTOGRAM_BUCKETS];
} mn_histogram;

enum mn_histogram_id {
	/* Bringing an actor back from the store (snapshot, upgrade,
	 * restore and the replay of its journal tail), microseconds. */
	MN_HIST_REHYDRATE_US = 0,
	/* A commit group on the writer: build, write (and fsync in sync
	 * mode) and its effects, microseconds. */
	MN_HIST_COMMIT_US = 1,
	/* Records in a commit group. */
	MN_HIST_COMMIT_RECORDS = 2,
};

/* Fill *out with histogram which (enum mn_histogram_id) since the open.
 * Returns 0, MN_EINVAL (NULL, an unknown id), MN_ENOTSUP (no store). Any
 * thread. Experimental. */
int mn_runtime_histogram(mn_runtime *rt, int which, mn_histogram *out);

/* ------------------------------------------------------------------------ */
/* Kinds                                                                    */
/* ------------------------------------------------------------------------ */

/*
 * Register a kind. def is copied (the name too); def->init and def->handle
 * are required. Returns 0 and *out (valid until the runtime is closed), or
 * MN_EINVAL (a missing callback, a name empty or over MN_KIND_NAME_MAX, a
 * def->size this library cannot read: see MN_KIND_DEF_INIT),
 * MN_EEXIST (name taken), MN_ELIMIT (MN_KINDS_MAX reached), MN_ECLOSED.
 * Any thread; a kind may be registered while actors of other kinds run.
 */
int mn_kind_register(mn_runtime *rt, const mn_kind_def *def, mn_kind **out);

/* The kind registered under name, or NULL. Any thread. */
mn_kind *mn_kind_find(mn_runtime *rt, const char *name);

/* The kind's name (valid until the runtime is closed). */
const char *mn_kind_name(const mn_kind *kind);

/* ------------------------------------------------------------------------ */
/* Messages                                                                 */
/* ------------------------------------------------------------------------ */

/*
 * Send a message from outside any actor (fire-and-forget) to the actor
 * (kind, key). If the actor does not exist it is created (virtual actor),
 * unless the kind is MN_KIND_EXPLICIT. The payload is copied once into a
 * buffer owned by the runtime; the caller's bytes may be reused on return.
 *
 * Ordering: two messages sent by one thread to one actor are handled in the
 * order they were sent.
 *
 * Backpressure: with max_resident and admission (mn_runtime_opts), a send
 * that would create or bring back
 * an actor of a persistent kind while max_resident of them are resident
 * waits in the call until evictions make room (bounded; never an error;
 * docs/semantics.md, State 12). From a handler's thread it never waits:
 * the message is parked until there is room.
 *
 * Returns 0, or MN_EINVAL (rt or kind NULL, payload NULL with len > 0),
 * MN_EKEY (key NULL, empty or longer than MN_KEY_MAX), MN_ENOKIND (kind not
 * of this runtime), MN_ENOACTOR (explicit kind, actor never spawned),
 * MN_ETOOBIG (len over max_payload), MN_ECLOSED (after shutdown),
 * MN_ENOMEM, or, for an actor this runtime found broken (it could not be
 * brought back from the store: MN_EVENT_BROKEN), the code that broke it
 * (MN_EHANDLER: restore() refused its snapshot; MN_ECORRUPT: its history
 * is unreadable; or the store's code), with mn_errdetail() naming the
 * actor and the reason. Nothing is queued when an error is returned. Any
 * thread.
 */
int mn_send(mn_runtime *rt, const mn_kind *kind, const void *key,
	    size_t key_len, uint32_t type, const void *payload, size_t len);

/* As mn_send(), naming the kind; MN_ENOKIND if no kind has that name. */
int mn_send_named(mn_runtime *rt, const char *kind, const void *key,
		  size_t key_len, uint32_t type, const void *payload,
		  size_t len);

/*
 * Create the actor (kind, key) now, without a message: its init() runs on a
 * worker soon after. Returns 0, or MN_EEXIST if it exists, and the errors of
 * mn_send(). The way to create actors of an MN_KIND_EXPLICIT kind. Any
 * thread.
 */
int mn_spawn(mn_runtime *rt, const mn_kind *kind, const void *key,
	     size_t key_len);

/*
 * Durable send from outside: returns once the message is stored in the
 * store's outbox (one commit group, fsynced in sync mode); it will then be
 * processed exactly once, even if the process dies right after. Same
 * arguments and errors as mn_send() (a broken actor's code too), plus
 * MN_EINVAL without a store and the store's error (e.g. MN_ENOSPC) if it
 * cannot be stored. Blocks the caller;
 * any thread but a worker.
 */
int mn_send_durable(mn_runtime *rt, const mn_kind *kind, const void *key,
		    size_t key_len, uint32_t type, const void *payload,
		    size_t len);

/* ------------------------------------------------------------------------ */
/* Inside a handler                                                         */
/* ------------------------------------------------------------------------ */

/*
 * Send from inside a handler. Same arguments, semantics and errors as
 * mn_send(), except that it works after mn_runtime_shutdown() (handlers keep
 * talking to each other until close), it is not refused for a broken
 * recipient (a handler's result must not depend on another actor's health:
 * the message is dropped there, reported as MN_EVENT_DROPPED or
 * MN_EVENT_UNDELIVERED), and the recipient sees this actor as
 * the sender. Messages from one actor to another are handled in the order
 * they were sent.
 */
int mn_ctx_send(mn_ctx *ctx, const mn_kind *kind, const void *key,
		size_t key_len, uint32_t type, const void *payload, size_t len);

/* Send to the sender of the message being handled. MN_ENOACTOR if it came
 * from outside (MN_MSG_EXTERNAL) or during init. */
int mn_ctx_reply(mn_ctx *ctx, uint32_t type, const void *payload, size_t len);

/* This actor's address (borrowed, valid until the callback returns). */
void mn_ctx_self(const mn_ctx *ctx, mn_addr *out);

/* The sender's address of the message being handled, in *out (borrowed,
 * valid until the callback returns). Returns 0, or MN_ENOACTOR if the
 * message came from outside any actor, or during init. */
int mn_ctx_sender(const mn_ctx *ctx, mn_addr *out);

/* This actor's kind, and the arg given at its registration. */
const mn_kind *mn_ctx_kind(const mn_ctx *ctx);
void *mn_ctx_kind_arg(const mn_ctx *ctx);

/* The runtime, e.g. to find another kind with mn_kind_find(). */
mn_runtime *mn_ctx_runtime(const mn_ctx *ctx);

/* Index of the worker thread running this callback, 0..workers-1. */
unsigned mn_ctx_worker(const mn_ctx *ctx);

/* Non-zero while the actor replays its journal after a restart: handle()
 * sees the recorded messages again, and its sends are suppressed (their
 * effects were stored the first time). */
int mn_ctx_replaying(const mn_ctx *ctx);

/* The sequence number of the message being handled (1 for an actor's first
 * message); 0 for volatile actors and during init. */
uint64_t mn_ctx_seq(const mn_ctx *ctx);

/* Inside restore(): the kind version of the code that wrote the snapshot
 * being restored (mn_kind_def.version; after an upgrade() callback, the
 * current version). Elsewhere: the running code's version. 1 for data
 * written before versions existed. */
uint32_t mn_ctx_state_version(const mn_ctx *ctx);

/* ------------------------------------------------------------------------ */
/* Buffers                                                                  */
/* ------------------------------------------------------------------------ */

/* Append len bytes to b. Returns 0 or MN_ENOMEM (b unchanged). */
int mn_buf_append(mn_buf *b, const void *data, size_t len);

/* Bytes appended so far, and their count (valid until the next append). */
const void *mn_buf_data(const mn_buf *b);
size_t mn_buf_len(const mn_buf *b);

/* ======================================================================== */
/* EXPERIMENTAL UNTIL 1.0                                                   */
/* ======================================================================== */

/*
 * What follows works and is tested, but its names, arguments or struct
 * layouts may still change in a 0.x release. So may mn_kind_def's describe
 * and hash fields (above).
 */

/* ------------------------------------------------------------------------ */
/* Sends and timers                                                         */
/* ------------------------------------------------------------------------ */

/* Completion of mn_send_durable_async: rc 0 once stored, or an error. */
typedef void (*mn_send_done_cb)(void *arg, int rc);

/*
 * As mn_send_durable(), without blocking: done(arg, rc) runs on the
 * runtime's writer thread once the message is stored (rc 0) or could not
 * be (rc < 0); it must not block. The call itself returns 0 when the
 * message was accepted (done will run), or an error (done will not run).
 */
int mn_send_durable_async(mn_runtime *rt, const mn_kind *kind, const void *key,
			  size_t key_len, uint32_t type, const void *payload,
			  size_t len, mn_send_done_cb done, void *arg);

/*
 * Durable timer: deliver message (type, payload) to this actor after
 * delay_ms. Stored in the same commit as the message being handled, so it
 * exists only if that message is processed; fired as an ordinary message
 * (journaled), also after a restart if it fell due while the process was
 * down, and it brings an evicted actor back. *id (may be NULL) receives the
 * timer's id for mn_ctx_cancel(). Persistent actors only (MN_ENOTSUP
 * otherwise). During replay it sets no timer and returns 0, and *id
 * receives the id the first run of the same message got for its timer of
 * the same index (the journal entry records them), so an id kept in the
 * state cancels the timer after a restart or a rehydration too (entries
 * written before mnemo recorded ids give 0). Ids encode the due time; at
 * most 65,536 timers per millisecond.
 */
int mn_ctx_after(mn_ctx *ctx, uint64_t delay_ms, uint32_t type,
		 const void *payload, size_t len, uint64_t *id);

/* Cancel a timer of this actor (in the commit of the message being
 * handled). A timer that already fired and whose message is queued may
 * still be delivered. Returns 0, MN_EINVAL for an id that is not a timer
 * id, MN_ENOTSUP for volatile actors. */
int mn_ctx_cancel(mn_ctx *ctx, uint64_t id);

/* ------------------------------------------------------------------------ */
/* Outbound calls (docs/calls.md)                                           */
/* ------------------------------------------------------------------------ */

/*
 * A handler starts a call and returns; the reply arrives later as a message
 * of reply_type to the same actor, flagged MN_MSG_CALL, journaled like any
 * other, so a replay feeds the recorded reply and never calls out again.
 * Output commit applies: the call's intent is stored in the commit of the
 * message that made it and issued only after that commit. After a crash,
 * an intent whose reply had not landed is issued again with the same
 * Idempotency-Key: at-least-once toward the service, exactly once into the
 * journal. Persistent actors only.
 */

/* mn_http_request.flags: hand the body's chunks to the runtime's stream
 * observer (mn_runtime_opts.on_stream) while it arrives; the complete body
 * is still the reply. */
#define MN_CALL_STREAM 0x1u

typedef struct mn_http_request {
	size_t size;	    /* MN_HTTP_REQUEST_INIT; 0: this layout */
	const char *method; /* NULL: "GET", or "POST" with a body */
	const char *url;    /* http:// or https://; never a secret in it */
	/* n_headers "Name: value" strings, sent as given (and hashed: never
	 * a secret in them; name a credential instead). */
	const char *const *headers;
	size_t n_headers;
	const void *body;
	size_t body_len;
	/* The name of a credential registered with mn_credential_set(),
	 * whose header the I/O thread adds when it sends; NULL: none. */
	const char *credential;
	uint32_t timeout_ms;   /* each attempt; 0 means 30,000 */
	uint32_t max_attempts; /* 0 or 1: no retry */
	uint32_t backoff_ms;   /* first retry's base delay; 0 means 100 */
	uint64_t max_response; /* body bytes; 0 means 16 MiB */
	uint32_t flags;	       /* MN_CALL_* */
} mn_http_request;

#define MN_HTTP_REQUEST_INIT                                                   \
	{                                                                      \
		.size = sizeof(mn_http_request)                                \
	}

/*
 * Start an HTTP call from a handler (persistent actors). *call_id (may be
 * NULL) receives its id, unique within this actor, the same on every replay
 * of this message. Retries (max_attempts > 1) cover transport errors,
 * timeouts, 408, 429 and 5xx, with exponential backoff and jitter, or
 * Retry-After when the server sends one. Returns 0, MN_EINVAL (no URL, not
 * http(s), a header without ':' or with a line break, during init),
 * MN_ETOOBIG (the request's bytes over max_payload), MN_ELIMIT (65,535
 * calls in one message), MN_ENOTSUP (a volatile actor), MN_ENOMEM. During
 * replay it makes no call and returns 0 with the recorded id.
 */
int mn_ctx_call_http(mn_ctx *ctx, const mn_http_request *req,
		     uint32_t reply_type, uint64_t *call_id);

/*
 * Start a bridged call: work that is not HTTP, done by the embedding
 * program. Once the message's commit stored the intent, the runtime's
 * on_bridge_call callback gets the request bytes and a reference; any
 * thread then completes it with mn_call_complete(). Same returns as
 * mn_ctx_call_http.
 */
int mn_ctx_call_begin(mn_ctx *ctx, const void *request, size_t len,
		      uint32_t reply_type, uint64_t *call_id);

/*
 * Cancel a call of this actor, in the commit of the message being handled:
 * its transfer stops, and from this message on the actor receives nothing
 * for it (a reply already queued is dropped, counted in
 * mn_call_stats.dropped). A call whose reply was already handled, or an id
 * this actor never had, is ignored. 0, MN_EINVAL (during init), MN_ENOTSUP.
 */
int mn_ctx_call_cancel(mn_ctx *ctx, uint64_t call_id);

/* A reply, as mn_call_reply_decode reads it from a MN_MSG_CALL message.
 * Pointers borrow the message's payload (valid until handle returns). */
typedef struct mn_call_reply {
	uint64_t call_id;
	/* 0: a response arrived (status says which, 2xx or not). Otherwise
	 * there is none: MN_ETIMEDOUT (every attempt ran past its timeout),
	 * MN_ETOOBIG (the body passed max_response), MN_EIO (connection
	 * refused or dropped, DNS failure, TLS or protocol error), MN_EINVAL
	 * (a malformed URL, an unknown credential); reason says more. */
	int err;
	int status;	     /* HTTP status (bridged: the completer's) */
	uint32_t attempts;   /* attempts made */
	uint64_t latency_us; /* from issue to the result */
	const char *reason;  /* NUL-terminated, "" when err is 0 */
	const char *headers; /* raw "Name: value\r\n" lines, not NUL-ended */
	size_t headers_len;
	const void *body;
	size_t body_len;
} mn_call_reply;

/* Read a MN_MSG_CALL message. 0, or MN_EINVAL (not a call reply, or its
 * envelope is malformed). Any thread. */
int mn_call_reply_decode(const mn_msg *msg, mn_call_reply *out);

/* The value of response header name (case-insensitive) in *len bytes,
 * borrowed from r, or NULL when absent. */
const char *mn_call_reply_header(const mn_call_reply *r, const char *name,
				 size_t *len);

/* A bridged call, as on_bridge_call sees it (pointers valid during the
 * callback; copy what must outlive it). */
typedef struct mn_call_ref {
	uint64_t actor_id; /* the actor's store id */
	uint64_t call_id;
} mn_call_ref;
typedef struct mn_bridge_call {
	mn_call_ref ref;
	mn_addr actor;
	const void *request;
	size_t len;
	int again; /* 1: issued again after a restart */
} mn_bridge_call;

/*
 * Complete a bridged call with a status of the program's choosing and a
 * body: the reply message is queued to the calling actor (brought back if
 * evicted). 0, MN_EINVAL (no such pending call: never made, completed
 * already, cancelled; each such attempt is counted as dropped), MN_ETOOBIG,
 * MN_ENOMEM, MN_ECLOSED. Any thread (not from the callback's own call).
 */
int mn_call_complete(mn_runtime *rt, const mn_call_ref *ref, int status,
		     const void *body, size_t len);

/* A streamed chunk (on_stream): pointers valid during the callback. */
typedef struct mn_stream_chunk {
	mn_addr actor;
	uint64_t call_id;
	uint32_t attempt; /* 1, then 2... when a retry streams again */
	const void *data;
	size_t len;
} mn_stream_chunk;

/*
 * Register (or replace) credential name: calls naming it get the header
 * "header: value", added by the I/O thread when it sends. The value stays
 * in memory: never in the journal, a snapshot, an export or a log line.
 * Typically read from the environment or a file at start (docs/calls.md).
 * 0, MN_EINVAL (a name, header or value empty or with a line break),
 * MN_ENOMEM, MN_ENOTSUP (no store). Any thread.
 */
int mn_credential_set(mn_runtime *rt, const char *name, const char *header,
		      const char *value);

/* Counters of the outbound calls. */
typedef struct mn_call_stats {
	uint64_t started;   /* intents committed by this process */
	uint64_t reissued;  /* intents issued again at open */
	uint64_t pending;   /* made, reply not yet handled */
	uint64_t inflight;  /* HTTP transfers running */
	uint64_t queued;    /* HTTP calls waiting for a cap or a retry */
	uint64_t completed; /* replies handed to their actor */
	uint64_t retries;   /* HTTP attempts after the first */
	uint64_t dropped;   /* replies dropped: cancelled, duplicate */
	uint64_t cancelled;
} mn_call_stats;

/* Fill *st. MN_ENOTSUP without a store. Any thread. */
int mn_runtime_call_stats(mn_runtime *rt, mn_call_stats *st);

/*
 * Idempotent ingress: a durable send carrying a client key (1..MN_KEY_MAX
 * bytes, e.g. an HTTP Idempotency-Key). The first send with a key stores
 * the message (as mn_send_durable) and the key, in the same commit; a
 * repeat within the retention window (mn_runtime_opts.ingress_retention_ms,
 * default 24 hours) with the same target and message is acknowledged
 * without a second message: MN_EEXIST; with another target or message it
 * is refused: MN_ECONFLICT (nothing stored). Keys older than the window
 * are forgotten (pruned by the writer) and a key may then be used again.
 * Otherwise as mn_send_durable (its errors; blocks; not from a worker).
 * So a client that retries after a lost acknowledgement cannot make the
 * actor handle its message twice.
 */
int mn_send_idempotent(mn_runtime *rt, const mn_kind *kind, const void *key,
		       size_t key_len, uint32_t type, const void *payload,
		       size_t len, const void *client_key, size_t ck_len);

/* As mn_send_idempotent, without blocking: done(arg, rc) runs on the
 * writer thread with 0, MN_EEXIST, MN_ECONFLICT or a store error. */
int mn_send_idempotent_async(mn_runtime *rt, const mn_kind *kind,
			     const void *key, size_t key_len, uint32_t type,
			     const void *payload, size_t len,
			     const void *client_key, size_t ck_len,
			     mn_send_done_cb done, void *arg);

/* ------------------------------------------------------------------------ */
/* Asking an actor from outside                                             */
/* ------------------------------------------------------------------------ */

/*
 * The end of an ask: rc 0 and the actor's reply (type, payload: valid
 * during the call), or MN_ETIMEDOUT (no reply within the timeout: the
 * handler did not answer, or the message was dropped unhandled; a reply
 * that comes later is dropped), MN_ECLOSED (the runtime closed first).
 * Runs once per accepted ask, on the writer thread (persistent
 * actors: after the commit of the message that replied, so a reply is
 * never seen before it is stored), a worker (volatile actors) or the
 * runtime's ask timer thread; it must be quick and must not call into mnemo
 * (copy the reply and act elsewhere, as mn_ask_wait does).
 */
typedef void (*mn_ask_fn)(void *arg, int rc, uint32_t type, const void *payload,
			  size_t len);

/*
 * Send (type, payload) to actor (kind, key) from outside, as mn_send() does
 * (same errors; the message is flagged MN_MSG_ASK), and have its reply
 * handed to done(arg, ...). timeout_ms 0 means 30,000. *ask_id (may be
 * NULL) names the ask for mn_ask_cancel(). The call returns 0 when the
 * message was accepted (done will run exactly once), or an error (done
 * will not run). Any thread (a handler may ask too; it must not wait
 * for the answer).
 */
int mn_ask(mn_runtime *rt, const mn_kind *kind, const void *key, size_t key_len,
	   uint32_t type, const void *payload, size_t len, uint32_t timeout_ms,
	   mn_ask_fn done, void *arg, uint64_t *ask_id);

/* As mn_ask(), blocking until the end: returns the rc done would get, the
 * reply's type in *reply_type and a malloc'd copy of its bytes in *reply
 * (the caller free()s it; NULL for an empty reply) and *reply_len (each
 * may be NULL: not wanted). Not from a worker (MN_EINVAL). */
int mn_ask_wait(mn_runtime *rt, const mn_kind *kind, const void *key,
		size_t key_len, uint32_t type, const void *payload, size_t len,
		uint32_t timeout_ms, uint32_t *reply_type, void **reply,
		size_t *reply_len);

/*
 * A live view of one actor, for people and tools: its kind's describe()
 * text of its state and its sequence number (the last message it handled;
 * 0 for volatile actors), read on the actor's own worker between two
 * messages, so consistent, without a message in its journal. A persistent
 * actor that is not resident is brought back (rehydrated) to be read.
 * *text: malloc'd, NUL-terminated (free() it); *seq may be NULL. Returns
 * 0, MN_ENOACTOR (no such actor: nothing is created), MN_ENOTSUP (its
 * kind has no describe()), MN_ETIMEDOUT (timeout_ms, 0 means 30,000,
 * passed: a busy or broken actor), MN_ECLOSED, the errors of mn_send().
 * Not from a worker. Experimental.
 */
int mn_actor_view(mn_runtime *rt, const mn_kind *kind, const void *key,
		  size_t key_len, uint32_t timeout_ms, char **text,
		  uint64_t *seq);

/* ------------------------------------------------------------------------ */
/* Observing an actor's outputs                                             */
/* ------------------------------------------------------------------------ */

/* What an observer sees (mn_observer_next). */
enum mn_observed_type {
	MN_OBS_SENT = 1,   /* a message it sent (to: the recipient) */
	MN_OBS_ANSWER = 2, /* its answer to an ask from outside */
	MN_OBS_CHUNK = 3,  /* a streamed chunk of one of its calls */
	MN_OBS_LOST = 4,   /* the queue was full: lost events were dropped */
};
typedef struct mn_observed {
	int type;	   /* enum mn_observed_type */
	uint64_t seq;	   /* SENT, ANSWER: the message that produced it */
	uint32_t msg_type; /* SENT, ANSWER: the message's type */
	mn_addr to;	   /* SENT: the recipient (kind NULL otherwise) */
	uint64_t call_id;  /* CHUNK: the call */
	const void *data;  /* the payload or chunk */
	size_t len;
	uint64_t lost; /* LOST: how many */
} mn_observed;
typedef struct mn_observer mn_observer;

/*
 * Observe actor (kind, key)'s outputs: messages it sends and answers it
 * gives, each once the commit of the message that produced it landed
 * (persistent actors; a volatile actor's sends are not observed), and the
 * streamed chunks of its calls as they arrive. Volatile and bounded: at
 * most max_events (0 means 1,024) wait; when the reader is slower, new
 * events are dropped and the next read reports MN_OBS_LOST with the
 * count: an observer never slows the actor. Any thread. 0 and *out, or
 * MN_EINVAL, MN_EKEY, MN_ENOKIND, MN_ENOMEM, MN_ECLOSED.
 */
int mn_observe(mn_runtime *rt, const mn_kind *kind, const void *key,
	       size_t key_len, size_t max_events, mn_observer **out);

/* The next event, waiting up to timeout_ms (0: do not wait). 0 and *ev
 * (its pointers valid until the next call on o), MN_ETIMEDOUT (none
 * came), MN_ECLOSED (the runtime closed). One reader thread at a time. */
int mn_observer_next(mn_observer *o, uint32_t timeout_ms, mn_observed *ev);

/*
 * For a reader on an event loop, which polls with mn_observer_next(o, 0,
 * ...) instead of waiting: fn(arg) is called each time an event is queued
 * for o or one is lost, on the thread that queues it (the writer, the I/O
 * loop), with the runtime's list of observers locked. So it must be quick
 * and must not call mn_observe, mn_observer_notify or mn_observer_close
 * (wake the loop: a condition, an eventfd, libmicrohttpd's
 * MHD_resume_connection); once mn_observer_close returned it is not
 * called again. fn NULL: no callback. Any thread. 0 or MN_EINVAL.
 */
int mn_observer_notify(mn_observer *o, void (*fn)(void *arg), void *arg);

/* Stop observing and free (NULL: no-op). Not while another thread waits
 * in mn_observer_next on it. Observers still open when mn_runtime_close
 * runs are freed by it: close them first (a reader waiting meanwhile gets
 * MN_ECLOSED only if it returns before the close frees them, so stop
 * readers, then close observers, then the runtime). */
void mn_observer_close(mn_observer *o);

/* The asker went away: forget the ask (done never runs for it; a reply is
 * dropped). An unknown or finished ask is ignored. Any thread. */
void mn_ask_cancel(mn_runtime *rt, uint64_t ask_id);

/* In a handler of a MN_MSG_ASK message: a token to answer the asker later,
 * from another message (e.g. once an LLM call's reply arrived), with
 * mn_ctx_ask_reply(). Tokens are volatile: after a restart the asker is
 * gone and a reply to its token is dropped. 0, or MN_ENOACTOR (not an ask,
 * or during replay: *token is then 0). */
int mn_ctx_ask_token(const mn_ctx *ctx, uint64_t *token);

/* Answer the ask of token (output commit applies). A token of no pending
 * ask (timed out, cancelled, answered, or 0) is dropped and returns 0;
 * during replay nothing is sent. */
int mn_ctx_ask_reply(mn_ctx *ctx, uint64_t token, uint32_t type,
		     const void *payload, size_t len);

/* ------------------------------------------------------------------------ */
/* Deterministic time and randomness                                        */
/* ------------------------------------------------------------------------ */

/*
 * The way to obey the determinism rule: the time of the message being
 * handled (unix ms, journaled with it), and random numbers from a
 * generator seeded by the actor and the message's sequence number. Both
 * are identical when the message is replayed. Volatile actors: the clock,
 * and a generator seeded per message.
 */
uint64_t mn_ctx_time(const mn_ctx *ctx);
uint64_t mn_ctx_random(mn_ctx *ctx);

/* ------------------------------------------------------------------------ */
/* Store maintenance on a running runtime                                   */
/* ------------------------------------------------------------------------ */

/*
 * What opening the store found (open-time recovery, docs/recovery.md), for
 * a runtime with a store_path. All counts as of the open.
 */
typedef struct mn_recovery {
	int created;		  /* 1: the store did not exist, made empty */
	uint64_t last_lsn;	  /* newest journal entry (0: none) */
	uint64_t checkpoint_lsn;  /* actor heads were exact up to here */
	uint64_t entries_scanned; /* log tail read to repair heads */
	uint64_t heads_repaired;  /* actor heads moved forward by that scan */
	uint64_t stale_readers;	  /* LMDB reader slots of dead processes */
	uint64_t outbox;	  /* stored messages to deliver (lazily) */
	uint64_t quarantined;	  /* messages forks sent, held (mnemo tool) */
	uint64_t timers;	  /* durable timers stored */
	uint64_t timers_due;	  /* of which due at open (fired first) */
	uint64_t next_actor_id;
	uint64_t open_us; /* time the store's open took */
} mn_recovery;

/* Copy what the open found into *out. MN_ENOTSUP without a store. Any
 * thread. */
int mn_runtime_recovery(mn_runtime *rt, mn_recovery *out);

/* What a compaction did (mn_runtime_compact, `mnemo compact`). */
typedef struct mn_compact_stats {
	uint64_t actors;    /* actors looked at */
	uint64_t compacted; /* actors whose stored history got shorter */
	uint64_t entries;   /* journal entries dropped */
	uint64_t snapshots; /* snapshots dropped */
	uint64_t bytes;	    /* bytes of the dropped records (LMDB reuses the
			     * pages; the data file does not shrink) */
	uint64_t held; /* actors kept longer: a fork shares their history */
} mn_compact_stats;

/*
 * Compact the store while the runtime runs: for every stored actor, drop
 * the journal entries and snapshots older than its latest snapshot that
 * leaves at least keep_history newer entries (0: drop everything before the
 * latest snapshot). History a fork still shares is kept. Runs on the writer
 * thread between commit groups, in steps of one transaction each (a crash
 * mid-way leaves a consistent store, part compacted). Blocks until done.
 * Replay and `mnemo dump` then start at the snapshot an actor's history now
 * begins with (MN_ECOMPACTED for earlier points). Returns 0 and *st (may be
 * NULL), MN_ENOTSUP (no store), MN_EBUSY (a compaction is running), or the
 * store's error. Any thread but a worker.
 */
int mn_runtime_compact(mn_runtime *rt, uint64_t keep_history,
		       mn_compact_stats *st);

/*
 * Delete the actor (kind, key) of this runtime's store, durably: its
 * journal entries, snapshots, timers, the stored messages to it and its
 * name (docs/semantics.md, "Deleting an actor", says what remains on
 * disk). Messages queued or parked for it are dropped, each reported as
 * MN_EVENT_DROPPED; a message it is handling when the call begins
 * completes first. Sends to it while the call runs are refused (outside
 * sends: MN_ENOACTOR; a handler's send, a stored message or a timer:
 * dropped, MN_EVENT_DROPPED). Its pending timers never fire. Once the
 * call returns 0 the deletion survives a crash (a crash during it leaves
 * the actor unreachable, and the next open finishes the deletion), the
 * address is unknown, and a later message creates a fresh actor (init,
 * seq 1, a new id) unless the kind is MN_KIND_EXPLICIT (then sends fail
 * with MN_ENOACTOR until mn_spawn). key is a NUL-terminated key (the
 * mnemo tool's KIND/KEY form). Blocks until the whole history is gone;
 * commit groups keep flowing meanwhile (the writer removes it in steps of
 * a transaction each between them). Returns 0, MN_EINVAL (rt or kind
 * NULL; called from a worker, i.e. inside any handler, which would wait
 * for itself), MN_EKEY, MN_ENOKIND, MN_ENOTSUP (no store, or a
 * MN_KIND_VOLATILE kind), MN_ENOACTOR (no such actor), MN_EBUSY (a fork
 * shares its history: delete its forks first, `mnemo rm`; or another
 * deletion of it is under way), MN_ECLOSED (after shutdown), MN_ENOMEM,
 * or the store's error, with mn_errdetail() saying why. Any thread but a
 * worker.
 */
int mn_actor_delete(mn_runtime *rt, const char *kind, const char *key);

/* ------------------------------------------------------------------------ */
/* Versions                                                                 */
/* ------------------------------------------------------------------------ */

/* What rehydrations met of other versions (docs/upgrades.md), since the
 * runtime opened. */
typedef struct mn_upgrade_stats {
	/* Snapshots of an older version brought forward by upgrade(). */
	uint64_t upgraded;
	/* Snapshots of an older version given to restore() as they are (the
	 * kind has no upgrade()). */
	uint64_t restored_older;
	/* Snapshots of a newer version than the running code: refused, the
	 * actor broken (MN_EVERSION). */
	uint64_t refused_newer;
	/* Journal entries written by an older version, replayed by the
	 * current code. */
	uint64_t replayed_older;
	/* Replayed entries whose recorded state hash the current code's
	 * state does not match (MN_EVENT_DIVERGED). */
	uint64_t hash_mismatches;
	/* Kinds whose code mn_kind_upgrade replaced, and the resident
	 * actors it evicted to do so. */
	uint64_t code_swaps;
	uint64_t swap_evictions;
} mn_upgrade_stats;

/* Fill *out (zeroed without a store). Any thread. */
void mn_runtime_upgrade_stats(mn_runtime *rt, mn_upgrade_stats *out);

/*
 * Replace the code of a running persistent kind (the kind named def->name)
 * with def, without stopping the runtime (docs/upgrades.md, "Upgrading a
 * running host"). New messages to the kind wait, in order, from the call
 * on (a spawn of one of its actors fails with MN_EBUSY meanwhile); the
 * messages already queued are handled by the old code; then every
 * resident actor of the kind is evicted after its current message (a
 * snapshot by the old code), the definition is swapped, and the waiting
 * messages go on to the new code, which rehydrates each actor (through
 * upgrade() or restore() by version, and replaying its journal tail).
 * Other kinds run throughout. A broken actor stays resident and retries
 * with the new code at its next message.
 * def is copied; its flags must equal the running kind's, its version must
 * not be lower. Returns 0, MN_EINVAL (NULL arguments, init or handle
 * missing, other flags, called from a worker), MN_ENOKIND, MN_ENOTSUP (no
 * store or a volatile kind), MN_EVERSION (a lower version), MN_EBUSY (the
 * kind's stored messages are still being delivered after the open, or
 * another upgrade of it runs), MN_ETIMEDOUT (its actors were not all idle
 * within timeout_ms, 0 meaning 30 s: the old code stays, the waiting
 * messages go on to it), MN_ECLOSED, MN_ENOMEM. Experimental.
 */
int mn_kind_upgrade(mn_runtime *rt, const mn_kind_def *def,
		    uint32_t timeout_ms);

/* ------------------------------------------------------------------------ */
/* Plugins of the mnemo tool                                                */
/* ------------------------------------------------------------------------ */

/*
 * Plugins: a shared object that the mnemo tool loads (`mnemo replay
 * --plugin LIB.so`) exports this symbol, returning its kinds' definitions
 * (static storage) and their count. Name: MN_PLUGIN_SYMBOL. The array's
 * stride is the first definition's size (MN_KIND_DEF_INIT); an array whose
 * definitions all left size 0 is read with mnemo 0.1's stride when that
 * gives valid definitions, else with this header's.
 */
typedef const mn_kind_def *(*mn_plugin_kinds_fn)(size_t *count);
#define MN_PLUGIN_SYMBOL "mnemo_plugin_kinds"

#ifdef __cplusplus
}
#endif
#endif /* MNEMO_H */
