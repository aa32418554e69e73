/*
 * frame.h - the frame every stored value starts with (docs/format.md,
 * "Framing and checksums"), and the per-thread arena records are decoded
 * into. Private to storage/ (store_int.h for the rest).
 *
 * A frame is 8 bytes: CRC-32C (little-endian) of everything after it, the
 * record type, the frame version, two zero bytes; then the record. LMDB
 * checksums nothing, so every read opens the frame first.
 */
#ifndef MN_STORAGE_FRAME_H
#define MN_STORAGE_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "storage/store_int.h"

#define FRAME_HDR     8
#define FRAME_VERSION 1

/* The header's layout, asserted in frame.c against FRAME_HDR. */
struct mn__frame_hdr {
	unsigned char crc[4];  /* CRC-32C of bytes 4..end, little-endian */
	unsigned char type;    /* enum rtype */
	unsigned char version; /* FRAME_VERSION */
	unsigned char zero[2];
};

/* How mn__frame_open reports a refused frame. */
enum mn__frame_report {
	/* Only the verdict: MN_ECORRUPT for any fault, the detail left as it
	 * is (hot paths; they open again with MN__FRAME_NAMED to report). */
	MN__FRAME_QUIET,
	/* The detail names the database and key; MN_EVERSION for a frame
	 * version this build does not read, MN_ECORRUPT otherwise. */
	MN__FRAME_NAMED,
};

/* Finish a frame whose body (len bytes) is already at p + FRAME_HDR.
 * Cannot fail. */
void mn__frame_seal(unsigned char *p, enum rtype t, size_t len);

/* Check the stored value v as a record of type t (in database db, key
 * keydesc: both used only by MN__FRAME_NAMED). On success 0, and *body,
 * *len describe the record (pointing into v). s may be NULL. */
int mn__frame_open(const mn__store *s, const MDB_val *v, enum rtype t, int db,
		   enum mn__frame_report how, const char *keydesc,
		   const unsigned char **body, size_t *len);

/* Put a protobuf message framed into db (MDB_RESERVE: packed in place).
 * Returns 0 or the raw LMDB code. */
int mn__frame_put(const mn__store *s, MDB_txn *txn, int db, MDB_val *key,
		  const ProtobufCMessage *m, enum rtype t, unsigned flags);

/* The allocator to unpack a record of len bytes with: this thread's arena,
 * reset by this call. What it decoded before is gone (callers drop
 * arena-decoded records without freeing them). */
ProtobufCAllocator *mn__arena_for(size_t len);

#endif
