/*
 * codec.c - zstd payload compression with trained dictionaries (codec.h).
 *
 * The dictset is a small open-addressing table of dictionary pointers that
 * readers probe without a lock. Its protocol:
 *
 *   DS1 A dictionary (mn__dict) is fully built, CDict and DDict included,
 *      before it is published, and never changes or moves afterwards; it is
 *      freed only by mn__dictset_free. So a reader that found it may use it
 *      for as long as the set lives. Broken: a codec reading a half-built
 *      or freed dictionary.
 *   DS2 Writers (mn__dictset_add) are serialised by set->mu. A slot goes from
 *      NULL to a dictionary once (release store), and a table is replaced
 *      by a larger copy (release store of set->tab) before it would pass
 *      3/4 full. Readers load set->tab and the slots with acquire, pairing
 *      with those stores. Broken: a reader seeing a slot or table whose
 *      contents it cannot see yet.
 *   DS3 A replaced table is kept (set->retired) until the set is freed, as a
 *      reader may still be probing it; it is never written again. A reader
 *      on an old table may miss a dictionary added after its load of
 *      set->tab, which is correct: that add did not happen before the
 *      lookup. Broken: a use after free in a lookup racing a growth.
 *
 * Codecs compress into dst directly and then drop the frame's magic number
 * (memmove of the ~150 bytes), or copy the payload over it when the frame
 * is not shorter; decompression puts the magic back in front of
 * a copy of the input in per-codec scratch memory. zstd's stable API has no
 * magicless frames, and 4 bytes are 2.6% of a compressed record.
 *
 * storage/ depends on nothing in core/ (design.md section 4), so this file
 * checks with ifs rather than mn_assert.
 */
#include "storage/codec.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <zdict.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "include/mnemo.h"

#define FRAME_MAGIC_LEN 4
#define DICT_TAB_MIN	16 /* slots in a new table (a power of two) */
#define SCRATCH_MIN	4096

_Static_assert(FRAME_MAGIC_LEN == sizeof(uint32_t), "zstd magic is a u32");
/* codec.h spells out zstd's bound so as not to include zstd.h. */
_Static_assert(MN__CODEC_BOUND(0) == ZSTD_COMPRESSBOUND(0) &&
		   MN__CODEC_BOUND(1000) == ZSTD_COMPRESSBOUND(1000) &&
		   MN__CODEC_BOUND(131071) == ZSTD_COMPRESSBOUND(131071) &&
		   MN__CODEC_BOUND(1 << 20) == ZSTD_COMPRESSBOUND(1 << 20),
	       "MN__CODEC_BOUND differs from ZSTD_COMPRESSBOUND");

/* ---- dictionary sets --------------------------------------------------- */

typedef struct mn__dict {
	uint32_t id;
	ZSTD_CDict *cdict;
	ZSTD_DDict *ddict;
} mn__dict;

typedef struct dict_tab {
	struct dict_tab *retired_next; /* under set->mu */
	size_t mask;		       /* slots - 1 */
	_Atomic(mn__dict *) slot[];
} dict_tab;

struct mn__dictset {
	/* Immutable after mn__dictset_new. */
	int level;
	/* Readers: acquire (DS2); written under mu. */
	_Atomic(dict_tab *) tab;
	/* Under mu. */
	pthread_mutex_t mu;
	size_t count;
	dict_tab *retired;
};

static size_t dict_hash(uint32_t id, size_t mask)
{
	return (size_t)((id * 0x9E3779B1u) >> 7) & mask;
}

static dict_tab *dict_tab_new(size_t slots)
{
	dict_tab *t = malloc(sizeof(*t) + slots * sizeof(t->slot[0]));

	if (t == NULL)
		return NULL;
	t->retired_next = NULL;
	t->mask = slots - 1;
	for (size_t i = 0; i < slots; i++)
		atomic_init(&t->slot[i], NULL);
	return t;
}

/* Insert into a table with room (writer, under mu). */
static void dict_tab_put(dict_tab *t, mn__dict *d)
{
	size_t i = dict_hash(d->id, t->mask);

	while (atomic_load_explicit(&t->slot[i], memory_order_relaxed))
		i = (i + 1) & t->mask;
	/* release: publishes the built dictionary (DS1, DS2). */
	atomic_store_explicit(&t->slot[i], d, memory_order_release);
}

static mn__dict *dict_find(mn__dictset *set, uint32_t id)
{
	/* acquire: pairs with the release store of set->tab (DS2). */
	dict_tab *t = atomic_load_explicit(&set->tab, memory_order_acquire);

	for (size_t i = dict_hash(id, t->mask);; i = (i + 1) & t->mask) {
		/* acquire: pairs with the release in dict_tab_put (DS1). */
		mn__dict *d =
		    atomic_load_explicit(&t->slot[i], memory_order_acquire);
		if (d == NULL)
			return NULL;
		if (d->id == id)
			return d;
	}
}

static void dict_free(mn__dict *d)
{
	if (d == NULL)
		return;
	ZSTD_freeCDict(d->cdict);
	ZSTD_freeDDict(d->ddict);
	free(d);
}

int mn__dictset_new(int level, mn__dictset **out)
{
	mn__dictset *set;
	dict_tab *t;

	if (out == NULL)
		return MN_EINVAL;
	*out = NULL;
	if (level == 0)
		level = MN__CODEC_LEVEL_DEFAULT;
	if (level < ZSTD_minCLevel() || level > ZSTD_maxCLevel())
		return MN_EINVAL;
	set = calloc(1, sizeof(*set));
	if (set == NULL)
		return MN_ENOMEM;
	t = dict_tab_new(DICT_TAB_MIN);
	if (t == NULL)
		goto err_free_set;
	if (pthread_mutex_init(&set->mu, NULL) != 0)
		goto err_free_tab;
	set->level = level;
	atomic_init(&set->tab, t);
	*out = set;
	return 0;

err_free_tab:
	free(t);
err_free_set:
	free(set);
	return MN_ENOMEM;
}

void mn__dictset_free(mn__dictset *set)
{
	if (set == NULL)
		return;
	dict_tab *t = atomic_load_explicit(&set->tab, memory_order_relaxed);
	for (size_t i = 0; i <= t->mask; i++)
		dict_free(
		    atomic_load_explicit(&t->slot[i], memory_order_relaxed));
	free(t);
	while (set->retired) {
		t = set->retired;
		set->retired = t->retired_next;
		free(t);
	}
	pthread_mutex_destroy(&set->mu);
	free(set);
}

int mn__dictset_level(const mn__dictset *set)
{
	return set->level;
}

int mn__dictset_has(mn__dictset *set, uint32_t id)
{
	return set != NULL && id != 0 && dict_find(set, id) != NULL;
}

int mn__dictset_add(mn__dictset *set, uint32_t id, const void *dict, size_t len)
{
	mn__dict *d;
	int rc = 0;

	if (set == NULL || dict == NULL || id == 0 || len == 0)
		return MN_EINVAL;
	/* Only dictionaries in zstd's format: raw bytes would be accepted by
	 * zstd as "content" dictionaries, and a damaged stored dictionary
	 * would then load silently and decode records to garbage. */
	if (ZDICT_getDictID(dict, len) == 0)
		return MN_ECORRUPT;
	/* Cheap refusal before the expensive preparation; checked again
	 * under the lock, where it counts. */
	if (dict_find(set, id) != NULL)
		return MN_EEXIST;
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return MN_ENOMEM;
	d->id = id;
	/* Both return NULL for a bad dictionary and for a failed allocation;
	 * zstd does not say which (see codec.h). */
	d->cdict = ZSTD_createCDict(dict, len, set->level);
	d->ddict = ZSTD_createDDict(dict, len);
	if (d->cdict == NULL || d->ddict == NULL) {
		rc = MN_ECORRUPT;
		goto err_free_dict;
	}

	pthread_mutex_lock(&set->mu);
	dict_tab *t = atomic_load_explicit(&set->tab, memory_order_relaxed);
	if (dict_find(set, id) != NULL) {
		rc = MN_EEXIST;
		goto err_unlock;
	}
	if ((set->count + 1) * 4 > (t->mask + 1) * 3) {
		dict_tab *nt = dict_tab_new((t->mask + 1) * 2);
		if (nt == NULL) {
			rc = MN_ENOMEM;
			goto err_unlock;
		}
		for (size_t i = 0; i <= t->mask; i++) {
			mn__dict *o = atomic_load_explicit(
			    &t->slot[i], memory_order_relaxed);
			if (o)
				dict_tab_put(nt, o);
		}
		/* release: readers that load nt see its slots (DS2). */
		atomic_store_explicit(&set->tab, nt, memory_order_release);
		t->retired_next = set->retired; /* DS3 */
		set->retired = t;
		t = nt;
	}
	dict_tab_put(t, d);
	set->count++;
	pthread_mutex_unlock(&set->mu);
	return 0;

err_unlock:
	pthread_mutex_unlock(&set->mu);
err_free_dict:
	dict_free(d);
	return rc;
}

/* ---- training ---------------------------------------------------------- */

int mn__dict_train(const void *samples, const size_t *sizes, unsigned n,
		   size_t dict_cap, void *dict_out, size_t *dict_len)
{
	size_t total = 0, cap, r;

	if (samples == NULL || sizes == NULL || dict_out == NULL ||
	    dict_len == NULL)
		return MN_EINVAL;
	*dict_len = 0;
	if (n < MN__DICT_MIN_SAMPLES || dict_cap < MN__DICT_MIN_CAP)
		return MN_EINVAL;
	for (unsigned i = 0; i < n; i++) {
		if (sizes[i] > SIZE_MAX - total)
			return MN_EINVAL;
		total += sizes[i];
	}
	/* Measured: a dictionary over half the sample bytes is worse than
	 * one of half (codec.h). */
	cap = dict_cap < total / 2 ? dict_cap : total / 2;
	if (cap < MN__DICT_MIN_CAP)
		return MN_EINVAL;
	r = ZDICT_trainFromBuffer(dict_out, cap, samples, sizes, n);
	if (ZDICT_isError(r))
		return ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation
			   ? MN_ENOMEM
			   : MN_EINVAL;
	*dict_len = r;
	return 0;
}

/* ---- codecs ------------------------------------------------------------ */

struct mn__codec {
	mn__dictset *set;
	ZSTD_CCtx *cctx;
	ZSTD_DCtx *dctx;
	unsigned char *scratch; /* magic + compressed input, for decoding */
	size_t scratch_cap;
};

int mn__codec_new(mn__dictset *set, mn__codec **out)
{
	mn__codec *c;

	if (out == NULL)
		return MN_EINVAL;
	*out = NULL;
	if (set == NULL)
		return MN_EINVAL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return MN_ENOMEM;
	c->set = set;
	c->cctx = ZSTD_createCCtx();
	c->dctx = ZSTD_createDCtx();
	c->scratch = malloc(SCRATCH_MIN);
	c->scratch_cap = SCRATCH_MIN;
	if (c->cctx == NULL || c->dctx == NULL || c->scratch == NULL)
		goto err_free_codec;
	/* Sticky parameters: the level (used without a dictionary; with one,
	 * the CDict's level, the same, applies), and the frame fields the
	 * record header already carries (codec.h, "Stored form"). */
	if (ZSTD_isError(ZSTD_CCtx_setParameter(
		c->cctx, ZSTD_c_compressionLevel, set->level)) ||
	    ZSTD_isError(
		ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_contentSizeFlag, 0)) ||
	    ZSTD_isError(
		ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_checksumFlag, 0)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_dictIDFlag, 0)))
		goto err_free_codec;
	*out = c;
	return 0;

err_free_codec:
	mn__codec_free(c);
	return MN_ENOMEM;
}

void mn__codec_free(mn__codec *c)
{
	if (c == NULL)
		return;
	ZSTD_freeCCtx(c->cctx);
	ZSTD_freeDCtx(c->dctx);
	free(c->scratch);
	free(c);
}

static void put_le32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

int mn__codec_compress(mn__codec *c, uint32_t dict_id, const void *src,
		       size_t len, void *dst, size_t dst_cap, size_t *out_len,
		       uint8_t *method)
{
	const mn__dict *d = NULL;
	size_t r;

	if (c == NULL || out_len == NULL || method == NULL ||
	    (src == NULL && len > 0) || dst == NULL || len > SIZE_MAX / 2 ||
	    dst_cap < mn__codec_bound(len))
		return MN_EINVAL;
	if (dict_id != 0) {
		d = dict_find(c->set, dict_id);
		if (d == NULL)
			return MN_EINVAL;
	}
	if (len < (d ? MN__CODEC_MIN_DICT : MN__CODEC_MIN_PLAIN))
		goto store_raw;
	/* Referencing a CDict, or none, only sets a pointer between two
	 * frames (an error would mean a context left mid-frame, which
	 * ZSTD_compress2 never does). */
	r = ZSTD_CCtx_refCDict(c->cctx, d ? d->cdict : NULL);
	if (ZSTD_isError(r))
		return MN_EINVAL;
	/* With the full bound as capacity zstd cannot run out of room; it
	 * fails only to allocate. */
	r = ZSTD_compress2(c->cctx, dst, dst_cap, src, len);
	if (ZSTD_isError(r))
		return ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation
			   ? MN_ENOMEM
			   : MN_EINVAL;
	if (r <= FRAME_MAGIC_LEN || r - FRAME_MAGIC_LEN >= len)
		goto store_raw;
	memmove(dst, (unsigned char *)dst + FRAME_MAGIC_LEN,
		r - FRAME_MAGIC_LEN);
	*out_len = r - FRAME_MAGIC_LEN;
	*method = d ? MN__CODEC_ZSTD_DICT : MN__CODEC_ZSTD;
	return 0;

store_raw:
	if (len > 0)
		memcpy(dst, src, len);
	*out_len = len;
	*method = MN__CODEC_RAW;
	return 0;
}

static int scratch_reserve(mn__codec *c, size_t n)
{
	if (n <= c->scratch_cap)
		return 0;
	size_t cap = c->scratch_cap;
	while (cap < n)
		cap = cap > SIZE_MAX / 2 ? n : cap * 2;
	unsigned char *p = realloc(c->scratch, cap);
	if (p == NULL)
		return MN_ENOMEM;
	c->scratch = p;
	c->scratch_cap = cap;
	return 0;
}

int mn__codec_decompress(mn__codec *c, uint8_t method, uint32_t dict_id,
			 const void *src, size_t len, void *dst, size_t raw_len)
{
	const mn__dict *d = NULL;
	size_t framed, r;
	int rc;

	if (c == NULL || (src == NULL && len > 0) ||
	    (dst == NULL && raw_len > 0))
		return MN_EINVAL;
	switch (method) {
	case MN__CODEC_RAW:
		if (dict_id != 0 || len != raw_len)
			return MN_ECORRUPT;
		if (len > 0)
			memcpy(dst, src, len);
		return 0;
	case MN__CODEC_ZSTD:
		if (dict_id != 0)
			return MN_ECORRUPT;
		break;
	case MN__CODEC_ZSTD_DICT:
		if (dict_id == 0)
			return MN_ECORRUPT;
		d = dict_find(c->set, dict_id);
		if (d == NULL)
			return MN_ECORRUPT;
		break;
	default:
		return MN_ECORRUPT;
	}
	/* mn__codec_compress stores a frame only when it is shorter. */
	if (len == 0 || len >= raw_len)
		return MN_ECORRUPT;
	framed = len + FRAME_MAGIC_LEN;
	rc = scratch_reserve(c, framed);
	if (rc)
		return rc;
	put_le32(c->scratch, ZSTD_MAGICNUMBER);
	memcpy(c->scratch + FRAME_MAGIC_LEN, src, len);
	/* Exactly one frame: zstd would otherwise decode frames concatenated
	 * after the first, which mn__codec_compress never writes. */
	if (ZSTD_findFrameCompressedSize(c->scratch, framed) != framed)
		return MN_ECORRUPT;
	if (d)
		r = ZSTD_decompress_usingDDict(c->dctx, dst, raw_len,
					       c->scratch, framed, d->ddict);
	else
		r = ZSTD_decompressDCtx(c->dctx, dst, raw_len, c->scratch,
					framed);
	if (ZSTD_isError(r))
		return ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation
			   ? MN_ENOMEM
			   : MN_ECORRUPT;
	return r == raw_len ? 0 : MN_ECORRUPT;
}
