/*
 * corpus.h - a reproducible generator of records that look like the traffic
 * of LLM support agents: chat turns (system, user, assistant), tool calls
 * with JSON arguments and tool results with JSON bodies, each one JSON
 * object as an agent would journal it.
 *
 * The text is built from word lists sampled with a Zipf-like distribution,
 * sentence templates, and the identifiers real traffic carries (random
 * conversation and call ids, timestamps, order and tracking numbers, emails,
 * prices). Records of one conversation (16 consecutive indexes) share a
 * customer, an order and a product. Sizes run from about 140 bytes to
 * CORPUS_RECORD_MAX, with a mean near 600 bytes.
 *
 * Only integer arithmetic is used (no floating point, no libm), so a record
 * depends on (seed, index) alone: the same on every machine and build.
 * Nothing in here was copied from real conversations.
 */
#ifndef MNEMO_BENCH_CORPUS_H
#define MNEMO_BENCH_CORPUS_H

#include <stddef.h>
#include <stdint.h>

/* Records are never longer than this. */
#define CORPUS_RECORD_MAX 4096

/*
 * Write record number index of the corpus seeded with seed to out and return
 * its length (at most CORPUS_RECORD_MAX bytes, not NUL-terminated). A cap
 * below CORPUS_RECORD_MAX truncates the record to cap bytes (the returned
 * length is then at most cap). Thread-safe; deterministic in (seed, index).
 */
size_t corpus_record(uint64_t seed, uint64_t index, char *out, size_t cap);

/* The role of record index ("system", "user", "assistant", "tool_call",
 * "tool_result"): what corpus_record() generated for it. */
const char *corpus_record_type(uint64_t seed, uint64_t index);

#endif
