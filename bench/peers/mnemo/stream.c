/*
 * stream - writes the message stream of the durable workload to files, so
 * the CAF and Erlang peers persist exactly what bench/durable.c sends mnemo.
 *
 *   stream pool SIZE OUT     16,384 payloads of exactly SIZE bytes, cut from
 *                            consecutive records of the agent corpus (seed
 *                            42), back to back: durable.c's make_pool()
 *   stream targets NACTORS NMSGS OUT
 *                            NMSGS recipients, each a little-endian u32 in
 *                            [0, NACTORS): durable.c's xorshift64 sequence
 *
 * Message i goes to target i with payload i mod 16,384. Exit 0, or 1 with a
 * message on stderr.
 */
#include "bench/support/corpus.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POOL 16384 /* as in bench/durable.c */

static int die(const char *what)
{
	fprintf(stderr, "stream: %s: %s\n", what, strerror(errno));
	return 1;
}

static int write_pool(size_t size, const char *out)
{
	char rec[CORPUS_RECORD_MAX];
	uint64_t idx = 0;
	FILE *f = fopen(out, "wb");

	if (f == NULL)
		return die(out);
	for (int i = 0; i < POOL; i++) {
		size_t have = 0;
		while (have < size) {
			size_t n = corpus_record(42, idx++, rec, sizeof rec);
			if (n > size - have)
				n = size - have;
			if (fwrite(rec, 1, n, f) != n)
				return die(out);
			have += n;
		}
	}
	if (fclose(f) != 0)
		return die(out);
	return 0;
}

static int write_targets(uint64_t nactors, uint64_t nmsgs, const char *out)
{
	uint64_t x = 88172645463325252ull;
	FILE *f = fopen(out, "wb");

	if (f == NULL)
		return die(out);
	for (uint64_t i = 0; i < nmsgs; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		uint32_t a = (uint32_t)(x % nactors);
		unsigned char le[4] = {
		    (unsigned char)a, (unsigned char)(a >> 8),
		    (unsigned char)(a >> 16), (unsigned char)(a >> 24)};
		if (fwrite(le, 1, 4, f) != 4)
			return die(out);
	}
	if (fclose(f) != 0)
		return die(out);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "pool") == 0) {
		long size = strtol(argv[2], NULL, 10);
		if (size < 1 || size > 65536) {
			fprintf(stderr, "stream: bad size %s\n", argv[2]);
			return 1;
		}
		return write_pool((size_t)size, argv[3]);
	}
	if (argc == 5 && strcmp(argv[1], "targets") == 0) {
		uint64_t nactors = strtoull(argv[2], NULL, 10);
		uint64_t nmsgs = strtoull(argv[3], NULL, 10);
		if (nactors < 1 || nactors > UINT32_MAX || nmsgs < 1) {
			fprintf(stderr, "stream: bad counts\n");
			return 1;
		}
		return write_targets(nactors, nmsgs, argv[4]);
	}
	fprintf(stderr, "usage: stream pool SIZE OUT | "
			"stream targets NACTORS NMSGS OUT\n");
	return 1;
}
