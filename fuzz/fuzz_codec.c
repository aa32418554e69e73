/*
 * fuzz_codec.c - libFuzzer target for mn__codec_decompress (storage/codec.h),
 * the decoder every stored payload and snapshot goes through.
 *
 * Input layout: byte 0 = method (low 2 bits: 0 raw, 1 zstd, 2 zstd+dict,
 * 3 unknown) and dictionary choice (bits 2-3: 0, 1 = the trained dictionary
 * in the set, 2 = an id not in the set, 3 = 0xffffffff); bytes 1-3 = raw_len
 * (little-endian, 24 bits, capped at 1 MiB); the rest = the stored bytes.
 * Source and destination are heap buffers of exactly len and raw_len bytes,
 * so AddressSanitizer sees any access outside them. Decompress must return
 * 0 or an MN_E* code, never crash.
 *
 * Each input is also compressed (without and with the dictionary) and
 * decompressed back, which must give the same bytes.
 *
 * MN_FUZZ_WRITE_SEEDS=DIR: write a seed corpus (valid stored payloads) into
 * DIR and exit.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "include/mnemo.h"
#include "storage/codec.h"

static mn__dictset *set;
static mn__codec *codec;

#define DICT_ID 1

/* Agent-like text samples (deterministic: the dictionary is the same in
 * every run, so the seeds stay valid). */
static size_t sample(unsigned i, char *buf, size_t cap)
{
	static const char *roles[] = {"user", "assistant", "tool"};
	static const char *words[] = {"weather", "invoice",  "search", "flight",
				      "summary", "calendar", "refund", "map"};
	int n = snprintf(buf, cap,
			 "{\"role\":\"%s\",\"turn\":%u,\"content\":\"please "
			 "look up the %s for customer %u and reply with the "
			 "%s status\",\"tokens\":%u}",
			 roles[i % 3], i, words[i % 8], i * 37 % 1000,
			 words[(i / 8) % 8], 100 + i % 50);
	return (size_t)n < cap ? (size_t)n : cap - 1;
}

static void setup(void)
{
	static char samples[400 * 256];
	static size_t sizes[400];
	static unsigned char dict[4096];
	size_t off = 0, dlen = 0;
	for (unsigned i = 0; i < 400; i++) {
		sizes[i] = sample(i, samples + off, 256);
		off += sizes[i];
	}
	if (mn__dictset_new(0, &set) ||
	    mn__dict_train(samples, sizes, 400, sizeof dict, dict, &dlen) ||
	    mn__dictset_add(set, DICT_ID, dict, dlen) ||
	    mn__codec_new(set, &codec)) {
		fprintf(stderr, "fuzz_codec: setup failed\n");
		abort();
	}
}

static void write_seed(const char *dir, unsigned n, uint8_t mode,
		       uint32_t raw_len, const void *p, size_t len)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/seed-%02u", dir, n);
	FILE *f = fopen(path, "wb");
	if (!f) {
		perror(path);
		exit(1);
	}
	uint8_t h[4] = {mode, raw_len & 0xff, (raw_len >> 8) & 0xff,
			(raw_len >> 16) & 0xff};
	fwrite(h, 1, 4, f);
	fwrite(p, 1, len, f);
	fclose(f);
}

static void write_seeds(const char *dir)
{
	static unsigned char out[8192];
	char buf[1024];
	unsigned n = 0;
	for (unsigned i = 0; i < 6; i++) {
		size_t len = sample(i * 11, buf, sizeof buf);
		if (i == 5) { /* a longer one */
			len = 0;
			for (unsigned j = 0; j < 6; j++)
				len += sample(j, buf + len, sizeof buf - len);
		}
		for (uint32_t d = 0; d <= DICT_ID; d++) {
			size_t olen;
			uint8_t method;
			if (mn__codec_compress(codec, d, buf, len, out,
					       sizeof out, &olen, &method))
				abort();
			uint8_t mode =
			    method |
			    (method == MN__CODEC_ZSTD_DICT ? 1u << 2 : 0);
			write_seed(dir, n++, mode, (uint32_t)len, out, olen);
		}
	}
	write_seed(dir, n++, MN__CODEC_RAW, 5, "hello", 5);
	write_seed(dir, n++, MN__CODEC_RAW, 0, "", 0);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	setup();
	const char *dir = getenv("MN_FUZZ_WRITE_SEEDS");
	if (dir && *dir) {
		write_seeds(dir);
		exit(0);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 4)
		return 0;
	static const uint32_t dicts[4] = {0, DICT_ID, 7, 0xffffffffu};
	uint8_t method = data[0] & 3;
	uint32_t dict_id = dicts[(data[0] >> 2) & 3];
	size_t raw_len =
	    (size_t)data[1] | (size_t)data[2] << 8 | (size_t)data[3] << 16;
	if (raw_len > (1u << 20))
		raw_len = 1u << 20;
	size_t len = size - 4;
	unsigned char *src = malloc(len ? len : 1);
	unsigned char *dst = malloc(raw_len);
	if (!src || (!dst && raw_len))
		abort();
	memcpy(src, data + 4, len);
	int rc = mn__codec_decompress(codec, method, dict_id, len ? src : NULL,
				      len, dst, raw_len);
	if (rc != 0 && rc != MN_ECORRUPT && rc != MN_ENOMEM &&
	    rc != MN_EINVAL) {
		fprintf(stderr, "decompress returned %d\n", rc);
		abort();
	}
	if (rc == 0 && method == MN__CODEC_RAW && memcmp(dst, src, len) != 0)
		abort();
	free(dst);

	/* Round trip: what compress stores, decompress gives back. */
	for (uint32_t d = 0; d <= DICT_ID; d++) {
		size_t cap = mn__codec_bound(len), olen = 0;
		uint8_t m = 0;
		unsigned char *c = malloc(cap ? cap : 1);
		unsigned char *back = malloc(len ? len : 1);
		if (!c || !back)
			abort();
		if (mn__codec_compress(codec, d, len ? src : NULL, len, c, cap,
				       &olen, &m) != 0)
			abort();
		if (m != MN__CODEC_RAW && olen >= len)
			abort();
		if (mn__codec_decompress(codec, m,
					 m == MN__CODEC_ZSTD_DICT ? d : 0, c,
					 olen, back, len) != 0 ||
		    memcmp(back, src, len) != 0) {
			fprintf(stderr, "round trip failed (dict %u)\n", d);
			abort();
		}
		free(c);
		free(back);
	}
	free(src);
	return 0;
}
