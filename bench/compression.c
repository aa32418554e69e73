/*
 * compression.c - journal compression on agent traffic (bench/support/
 * corpus.h): bytes stored per message raw, with zstd, and with zstd and a
 * dictionary trained on the first records; the compression ratio; codec
 * speed on one thread; dictionary training time.
 *
 * The first 1,000 records train a MN__DICT_CAP_DEFAULT dictionary
 * (the policy docs/compression.md suggests: a kind's first thousand
 * messages); the others are compressed one by one, as the writer thread
 * does, and every one is decompressed and compared (a mismatch ends the run
 * with exit status 1). Speeds are the median of RUNS passes.
 *
 * bytes_per_msg includes FRAMING_BYTES, what the store adds to every
 * journal entry whatever the payload (docs/format.md): the 8-byte frame,
 * about 40 bytes of JournalEntry fields in protobuf (actor id, seq, type,
 * sender, time, previous LSN, outbox id, codec, dict id, raw length, the
 * payload's tag and length) and LMDB's 18 bytes per leaf node (8-byte node
 * header, 8-byte LSN key, 2-byte page index). compression_ratio is the
 * payload alone: raw payload bytes over stored payload bytes.
 *
 *   BENCH_SCALE=full   200,000 records instead of 20,000
 *   BENCH_LEVEL=L      zstd level (default: MN__CODEC_LEVEL_DEFAULT)
 *   BENCH_DICT_CAP=B   dictionary size (default: MN__DICT_CAP_DEFAULT)
 *   BENCH_TRAIN=N      records to train on (default: 1,000)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/support/bench.h"
#include "bench/support/corpus.h"
#include "storage/codec.h"

#define SEED	      0x6167656e7473ull /* "agents" */
#define TRAIN_DEFAULT 1000
#define FRAMING_BYTES 66
#define RUNS	      3
#define DICT_ID	      1

typedef struct corpus {
	size_t n;    /* records */
	char *raw;   /* all records, back to back */
	size_t *off; /* record i at raw + off[i], length off[i+1] - off[i] */
	const char **type;
} corpus;

typedef struct packed {
	unsigned char *buf; /* stored forms, at boff[i] */
	size_t *boff;
	size_t *slen;
	uint8_t *method;
	size_t stored; /* sum of slen over the measured records */
} packed;

static void corpus_build(corpus *c, size_t n)
{
	c->n = n;
	c->off = malloc((n + 1) * sizeof(*c->off));
	c->type = malloc(n * sizeof(*c->type));
	c->raw = malloc(n * CORPUS_RECORD_MAX);
	if (!c->off || !c->type || !c->raw)
		bench_die("out of memory for %zu records", n);
	c->off[0] = 0;
	for (size_t i = 0; i < n; i++) {
		size_t len = corpus_record(SEED, i, c->raw + c->off[i],
					   CORPUS_RECORD_MAX);
		c->off[i + 1] = c->off[i] + len;
		c->type[i] = corpus_record_type(SEED, i);
	}
}

static size_t rec_len(const corpus *c, size_t i)
{
	return c->off[i + 1] - c->off[i];
}

/* A non-negative integer from the environment, or dflt. */
static long env_long(const char *name, long dflt, long lo, long hi)
{
	const char *s = getenv(name);
	char *end;
	long v;

	if (s == NULL || *s == '\0')
		return dflt;
	v = strtol(s, &end, 10);
	if (*end != '\0' || v < lo || v > hi)
		bench_die("%s=%s: want %ld..%ld", name, s, lo, hi);
	return v;
}

static double train(const corpus *c, size_t n, size_t cap, void *dict,
		    size_t *dict_len)
{
	size_t *sizes = malloc(n * sizeof(*sizes));

	if (sizes == NULL)
		bench_die("out of memory");
	for (size_t i = 0; i < n; i++)
		sizes[i] = rec_len(c, i);
	double t0 = bench_now();
	bench_check(
	    mn__dict_train(c->raw, sizes, (unsigned)n, cap, dict, dict_len),
	    "mn__dict_train");
	double t = bench_now() - t0;
	free(sizes);
	return t;
}

/* Compress records [from, n) with dict_id; returns the median seconds of a
 * pass. The stored forms of the last pass stay in p. */
static double compress_all(mn__codec *codec, const corpus *c, size_t from,
			   uint32_t dict_id, packed *p)
{
	double t[RUNS];

	for (int run = 0; run < RUNS; run++) {
		size_t at = 0;
		p->stored = 0;
		double t0 = bench_now();
		for (size_t i = from; i < c->n; i++) {
			size_t len = rec_len(c, i);
			p->boff[i] = at;
			bench_check(mn__codec_compress(
					codec, dict_id, c->raw + c->off[i], len,
					p->buf + at, mn__codec_bound(len),
					&p->slen[i], &p->method[i]),
				    "mn__codec_compress");
			at += p->slen[i];
			p->stored += p->slen[i];
		}
		t[run] = bench_now() - t0;
	}
	return bench_median(t, RUNS);
}

/* Decompress every stored record into out (laid out as c->raw), then
 * compare with the originals; dies on any difference. */
static double decompress_all(mn__codec *codec, const corpus *c, size_t from,
			     uint32_t dict_id, const packed *p, char *out)
{
	double t[RUNS];

	for (int run = 0; run < RUNS; run++) {
		memset(out + c->off[from], 0, c->off[c->n] - c->off[from]);
		double t0 = bench_now();
		for (size_t i = from; i < c->n; i++) {
			int rc = mn__codec_decompress(
			    codec, p->method[i],
			    p->method[i] == MN__CODEC_ZSTD_DICT ? dict_id : 0,
			    p->buf + p->boff[i], p->slen[i], out + c->off[i],
			    rec_len(c, i));
			if (rc)
				bench_die("record %zu: decompress: %s", i,
					  mn_err_name(rc));
		}
		t[run] = bench_now() - t0;
		for (size_t i = from; i < c->n; i++)
			if (memcmp(out + c->off[i], c->raw + c->off[i],
				   rec_len(c, i)) != 0)
				bench_die("record %zu does not round-trip", i);
	}
	return bench_median(t, RUNS);
}

static void packed_init(packed *p, const corpus *c)
{
	p->buf = malloc(c->n * mn__codec_bound(CORPUS_RECORD_MAX));
	p->boff = malloc(c->n * sizeof(*p->boff));
	p->slen = malloc(c->n * sizeof(*p->slen));
	p->method = malloc(c->n);
	if (!p->buf || !p->boff || !p->slen || !p->method)
		bench_die("out of memory");
}

static void packed_free(packed *p)
{
	free(p->buf);
	free(p->boff);
	free(p->slen);
	free(p->method);
}

static void line_size(const char *variant, double per_msg, size_t n,
		      const char *peer, double peer_value)
{
	struct bench_json j;

	bench_json_begin(&j, "compression", "bytes_per_msg", per_msg, "B");
	bench_json_str(&j, "variant", variant);
	bench_json_u64(&j, "n", n);
	bench_json_u64(&j, "framing", FRAMING_BYTES);
	if (peer)
		bench_json_peer(&j, peer, peer_value, peer_value / per_msg);
	bench_json_end(&j);
}

static void line_speed(const char *metric, const char *variant, double secs,
		       size_t n, size_t raw_bytes, int level)
{
	struct bench_json j;

	bench_json_begin(&j, "compression", metric, (double)n / secs, "msg/s");
	bench_json_str(&j, "variant", variant);
	bench_json_u64(&j, "n", n);
	bench_json_u64(&j, "threads", 1);
	bench_json_f64(&j, "level", level);
	bench_json_f64(&j, "mb_per_s", (double)raw_bytes / secs / 1e6);
	bench_json_end(&j);
}

/* Ratio per record type, to stderr (docs/compression.md quotes them). */
static void note_types(const corpus *c, size_t from, const packed *p)
{
	static const char *const types[] = {"system", "user", "assistant",
					    "tool_call", "tool_result"};
	for (size_t k = 0; k < sizeof(types) / sizeof(types[0]); k++) {
		size_t raw = 0, st = 0, n = 0;
		for (size_t i = from; i < c->n; i++)
			if (strcmp(c->type[i], types[k]) == 0) {
				raw += rec_len(c, i);
				st += p->slen[i];
				n++;
			}
		if (n)
			bench_note("dictionary, %-11s %6zu records, mean %4zu "
				   "B raw, %4zu B stored, ratio %.2f",
				   types[k], n, raw / n, st / n,
				   (double)raw / (double)st);
	}
}

int main(void)
{
	corpus c;
	packed plain, dict;
	mn__dictset *set;
	mn__codec *codec;
	size_t dict_len;

	bench_init("compression");
	size_t n = (size_t)bench_size(20000, 200000);
	int level_opt = (int)env_long("BENCH_LEVEL", 0, -100, 22);
	size_t cap = (size_t)env_long("BENCH_DICT_CAP", MN__DICT_CAP_DEFAULT,
				      MN__DICT_MIN_CAP, 1 << 24);
	size_t ntrain = (size_t)env_long("BENCH_TRAIN", TRAIN_DEFAULT,
					 MN__DICT_MIN_SAMPLES, (long)n / 2);
	unsigned char *dict_buf = malloc(cap);
	if (dict_buf == NULL)
		bench_die("out of memory");
	corpus_build(&c, n);
	size_t from = ntrain, m = n - from;
	size_t raw_bytes = c.off[n] - c.off[from];

	double train_s = train(&c, ntrain, cap, dict_buf, &dict_len);
	bench_check(mn__dictset_new(level_opt, &set), "mn__dictset_new");
	bench_check(mn__dictset_add(set, DICT_ID, dict_buf, dict_len),
		    "mn__dictset_add");
	bench_check(mn__codec_new(set, &codec), "mn__codec_new");
	int level = mn__dictset_level(set);

	packed_init(&plain, &c);
	packed_init(&dict, &c);
	char *out = malloc(c.off[n]);
	if (out == NULL)
		bench_die("out of memory");
	double c_plain = compress_all(codec, &c, from, 0, &plain);
	double c_dict = compress_all(codec, &c, from, DICT_ID, &dict);
	double d_plain = decompress_all(codec, &c, from, 0, &plain, out);
	double d_dict = decompress_all(codec, &c, from, DICT_ID, &dict, out);
	note_types(&c, from, &dict);

	double raw_msg = (double)raw_bytes / (double)m + FRAMING_BYTES;
	double plain_msg = (double)plain.stored / (double)m + FRAMING_BYTES;
	double dict_msg = (double)dict.stored / (double)m + FRAMING_BYTES;
	double plain_ratio = (double)raw_bytes / (double)plain.stored;
	double dict_ratio = (double)raw_bytes / (double)dict.stored;

	line_size("raw", raw_msg, m, NULL, 0);
	line_size("zstd_nodict", plain_msg, m, "raw", raw_msg);
	line_size("zstd_dict", dict_msg, m, "zstd_nodict", plain_msg);

	struct bench_json j;
	bench_json_begin(&j, "compression", "compression_ratio", plain_ratio,
			 "x");
	bench_json_str(&j, "variant", "zstd_nodict");
	bench_json_u64(&j, "n", m);
	bench_json_f64(&j, "level", level);
	bench_json_end(&j);
	bench_json_begin(&j, "compression", "compression_ratio", dict_ratio,
			 "x");
	bench_json_str(&j, "variant", "zstd_dict");
	bench_json_u64(&j, "n", m);
	bench_json_f64(&j, "level", level);
	bench_json_u64(&j, "dict_bytes", dict_len);
	bench_json_u64(&j, "train_records", ntrain);
	bench_json_f64(&j, "target", 5);
	bench_json_peer(&j, "zstd_nodict", plain_ratio,
			dict_ratio / plain_ratio);
	bench_json_end(&j);

	line_speed("compress_per_s", "zstd_dict", c_dict, m, raw_bytes, level);
	line_speed("compress_per_s", "zstd_nodict", c_plain, m, raw_bytes,
		   level);
	line_speed("decompress_per_s", "zstd_dict", d_dict, m, raw_bytes,
		   level);
	line_speed("decompress_per_s", "zstd_nodict", d_plain, m, raw_bytes,
		   level);

	bench_json_begin(&j, "compression", "train_s", train_s, "s");
	bench_json_u64(&j, "n", ntrain);
	bench_json_u64(&j, "sample_bytes", c.off[ntrain]);
	bench_json_u64(&j, "dict_bytes", dict_len);
	bench_json_end(&j);

	bench_note("%zu records (%zu trained on), mean %.0f B raw; level %d", n,
		   ntrain, (double)raw_bytes / (double)m, level);
	mn__codec_free(codec);
	mn__dictset_free(set);
	packed_free(&plain);
	packed_free(&dict);
	free(out);
	free(dict_buf);
	free(c.raw);
	free(c.off);
	free(c.type);
	return 0;
}
