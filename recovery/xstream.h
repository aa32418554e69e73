/*
 * xstream.h - export streams (`mnemo export`, `mnemo import`): writing one,
 * and reading one back with every check import needs before it writes
 * anything. docs/format.md ("Export streams") describes the bytes;
 * schema/export.proto the records.
 *
 * A stream is an 8-byte magic, then records: each a protobuf Record framed
 * by its length (u32 little-endian) and a CRC-32C (u32 little-endian) of the
 * length bytes and the record. The first record is a Header, the last a
 * Trailer that counts the others.
 *
 * Library code: never prints, never exits. The decoder runs on untrusted
 * bytes (fuzz/fuzz_export.c): any input gives 0 or an MN_E* code, with a
 * reason, never a crash.
 */
#ifndef MN_RECOVERY_XSTREAM_H
#define MN_RECOVERY_XSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "include/mnemo.h"
#include "schema/export.pb-c.h"
#include "base/buf.h"

/* The stream version this code writes and the newest it reads (2: with
 * outbound calls, Call records and Entry.calls; 1 is read too). */
#define MN__XS_VERSION 2

/* "\x89MNX\r\n\x1a\n": a high byte, then line endings and a ^Z that a text
 * mode transfer would alter (as PNG's signature does). */
#define MN__XS_MAGIC	 "\x89MNX\r\n\x1a\n"
#define MN__XS_MAGIC_LEN 8

/* Bytes before each record: length, then CRC-32C. */
#define MN__XS_FRAME 8

/* Largest record accepted (a payload or state plus a little). */
#define MN__XS_RECORD_MAX ((uint32_t)1 << 30)

/* Room for a reason ("record 12 at byte 3456: checksum mismatch"). */
#define MN__XS_WHY_CAP 200

/* ---- writing ----------------------------------------------------------- */

typedef struct mn__xs_writer {
	FILE *f;
	mn_buf buf; /* the record being framed */
	uint64_t records, actors, snapshots, entries, timers, outbox, calls;
	uint64_t bytes; /* written so far */
	int err;	/* first failure (sticky): MN_EIO or MN_ENOMEM */
} mn__xs_writer;

/* Start a stream on f (magic, then h as the Header record). Returns 0 or
 * the writer's sticky error. mn__xs_writer_free() must follow. */
int mn__xs_begin(mn__xs_writer *w, FILE *f, const Mnemo__Export__Header *h);

/* Append one record (any body but Header and Trailer), counted for the
 * trailer. Returns 0 or the sticky error (later calls then do nothing). */
int mn__xs_put(mn__xs_writer *w, const Mnemo__Export__Record *r);

/* Write the Trailer and flush f. Returns 0 or the sticky error. */
int mn__xs_end(mn__xs_writer *w);

void mn__xs_writer_free(mn__xs_writer *w);

/* ---- reading ----------------------------------------------------------- */

/* One actor's group: its Actor record, then snapshots (seq ascending),
 * entries (base_seq + 1 .. last_seq, no gap), timers and pending calls.
 * The pointers are into the stream's records. */
typedef struct mn__xs_actor {
	const Mnemo__Export__Actor *a;
	const Mnemo__Export__Snapshot **snaps;
	size_t nsnaps;
	const Mnemo__Export__Entry **entries;
	size_t nentries;
	const Mnemo__Export__Timer **timers;
	size_t ntimers;
	const Mnemo__Export__Call **calls;
	size_t ncalls;
	uint64_t bytes; /* payload and state bytes of the group */
} mn__xs_actor;

typedef struct mn__xs_stream {
	const Mnemo__Export__Header *header;
	const Mnemo__Export__Trailer *trailer;
	mn__xs_actor *actors;
	size_t nactors;
	const Mnemo__Export__Outbox **outbox;
	size_t noutbox;
	/* Counts, as checked against the trailer. */
	uint64_t nsnaps, nentries, ntimers, ncalls;
	/* Every record decoded (owned; freed by mn__xs_free). */
	Mnemo__Export__Record **recs;
	size_t nrecs, caprecs;
} mn__xs_stream;

/*
 * Decode and check a whole stream held in p[0..len): framing, checksums,
 * record order (Header, then per actor Actor Snapshot* Entry* Timer*
 * Call*, then Outbox*, then Trailer, then nothing), versions, call
 * intents (each decodes; a pending call's id, seq and actor's last seq
 * agree), addresses (kind 1..63
 * bytes, key 1..255), sequence continuity of each actor's entries, the base
 * snapshot, no address twice, and the trailer's counts. Returns 0 and *out
 * (mn__xs_free() it, also on failure), or:
 *   MN_EINVAL   not an export stream (no magic);
 *   MN_EVERSION a stream version newer than MN__XS_VERSION;
 *   MN_ECORRUPT damaged or truncated (why says where and what);
 *   MN_ENOMEM.
 * why (MN__XS_WHY_CAP bytes) receives the reason on failure. p is not
 * referenced after the call.
 */
int mn__xs_decode(const void *p, size_t len, mn__xs_stream *out, char *why);

void mn__xs_free(mn__xs_stream *s);

/* Order of addresses: kind name, then key length, then key bytes. Both
 * must name an actor (non-NULL, kind set). */
int mn__xs_addr_cmp(const Mnemo__Export__Address *a,
		    const Mnemo__Export__Address *b);

/* True when a is absent or names no actor (empty kind: from outside). */
bool mn__xs_outside(const Mnemo__Export__Address *a);

#endif /* MN_RECOVERY_XSTREAM_H */
