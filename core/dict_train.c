/*
 * dict_train.c - dictionary training (docs/compression.md, the policy in
 * persist_int.h): a kind's first payloads are kept as samples, then the
 * writer trains and stores one dictionary for the kind and publishes it in
 * mn_kind.dict_id (release; workers load it acquire). Writer thread only.
 */
#include "core/persist_int.h"

/* How the writer stores a payload of kind k (outbox entries; journal
 * payloads arrive compressed by their worker). */
void mn__dict_codec_choice(const mn_kind *k, size_t len, bool *compress,
			   uint32_t *dict_id)
{
	*dict_id = atomic_load_explicit(&((mn_kind *)k)->dict_id,
					memory_order_acquire);
	*compress = *dict_id || len >= MN__PLAIN_MIN;
}

/* Keep a raw payload of kind k as a training sample while it has no
 * dictionary. */
void mn__dict_sample(mn__persist *p, const mn_kind *k, const void *payload,
		     size_t len)
{
	kind_codec *kc = &p->dt.kc[k->idx];
	if (!atomic_load_explicit(&((mn_kind *)k)->sampling,
				  memory_order_relaxed) ||
	    len < MN__CODEC_MIN_DICT || len > MN__DICT_SAMPLE_MAX)
		return;
	if (grow(&kc->sizes, &kc->sizes_cap, kc->nsamples + 1,
		 sizeof *kc->sizes) ||
	    mn_buf_append(&kc->samples, payload, len))
		return; /* no memory: just fewer samples */
	kc->sizes[kc->nsamples++] = len;
}

/* Train the dictionaries that have enough samples (after a commit group:
 * the samples are copies). A kind whose traffic teaches zstd nothing keeps
 * no dictionary. */
void mn__dict_train_ready(mn__persist *p)
{
	mn_runtime *rt = p->rt;
	unsigned n = atomic_load_explicit(&rt->nkinds, memory_order_acquire);
	for (unsigned i = 0; i < n; i++) {
		kind_codec *kc = &p->dt.kc[i];
		mn_kind *k = rt->kinds[i];
		if (!atomic_load_explicit(&k->sampling, memory_order_relaxed) ||
		    (kc->nsamples < MN__DICT_SAMPLES &&
		     kc->samples.len < MN__DICT_SAMPLE_BYTES))
			continue;
		unsigned char *dict = malloc(MN__DICT_CAP_DEFAULT);
		size_t dlen;
		uint32_t id;
		if (dict &&
		    mn__dict_train(kc->samples.data, kc->sizes, kc->nsamples,
				   MN__DICT_CAP_DEFAULT, dict, &dlen) == 0 &&
		    mn__store_dict_add(p->store, k->store_id, dict, dlen,
				       &id) == 0) {
			/* release: the dictionary is in the dictset; pairs
			 * with the acquire loads of the workers. */
			atomic_store_explicit(&k->dict_id, id,
					      memory_order_release);
			p->dt.dicts_trained++;
		}
		free(dict);
		atomic_store_explicit(&k->sampling, false,
				      memory_order_relaxed);
		mn__buf_free(&kc->samples);
		free(kc->sizes);
		kc->sizes = NULL;
		kc->sizes_cap = 0;
		kc->nsamples = 0;
	}
}
