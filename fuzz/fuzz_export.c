/*
 * fuzz_export.c - libFuzzer target for the export stream decoder
 * (recovery/xstream.c), the part of `mnemo import` that runs on untrusted
 * bytes before anything is written. Any input must give 0 or an MN_E*
 * code with a reason; nothing may crash, leak or read out of bounds.
 *
 * A stream that decodes is written again with the stream writer (into
 * memory, record by record as decoded) and decoded a second time: it must
 * decode, with the same counts (what import would write is what export
 * would write back).
 *
 * Seeds: fuzz/corpus/fuzz_export/ holds streams made by `mnemo export`
 * (tests/recovery/test_export.c writes them when MN_EXPORT_SEEDS=DIR is
 * set) and a few made by hand.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "include/mnemo.h"
#include "recovery/xstream.h"

static void touch(const void *p, size_t n)
{
	volatile unsigned char x = 0;
	for (size_t i = 0; i < n; i++)
		x ^= ((const unsigned char *)p)[i];
	(void)x;
}

/* Write the decoded records again; returns the new stream (malloc'd). */
static char *reencode(const mn__xs_stream *xs, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);
	mn__xs_writer w;
	if (!f)
		abort();
	if (mn__xs_begin(&w, f, xs->header))
		abort();
	/* recs[0] is the header, the last the trailer. */
	for (size_t i = 1; i + 1 < xs->nrecs; i++)
		if (mn__xs_put(&w, xs->recs[i]))
			abort();
	if (mn__xs_end(&w))
		abort();
	mn__xs_writer_free(&w);
	fclose(f);
	return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	mn__xs_stream xs, again;
	char why[MN__XS_WHY_CAP];
	int rc = mn__xs_decode(data, size, &xs, why);
	if (rc) {
		if (rc != MN_EINVAL && rc != MN_ECORRUPT && rc != MN_EVERSION &&
		    rc != MN_ENOMEM)
			abort();
		if (!why[0] || strlen(why) >= MN__XS_WHY_CAP)
			abort();
		mn__xs_free(&xs);
		return 0;
	}
	for (size_t i = 0; i < xs.nactors; i++) {
		const mn__xs_actor *g = &xs.actors[i];
		touch(g->a->address->kind, strlen(g->a->address->kind));
		touch(g->a->address->key.data, g->a->address->key.len);
		for (size_t j = 0; j < g->nentries; j++)
			touch(g->entries[j]->payload.data,
			      g->entries[j]->payload.len);
		for (size_t j = 0; j < g->nsnaps; j++)
			touch(g->snaps[j]->state.data, g->snaps[j]->state.len);
		for (size_t j = 0; j < g->ntimers; j++)
			touch(g->timers[j]->payload.data,
			      g->timers[j]->payload.len);
	}
	for (size_t i = 0; i < xs.noutbox; i++)
		touch(xs.outbox[i]->payload.data, xs.outbox[i]->payload.len);

	size_t len = 0;
	char *buf = reencode(&xs, &len);
	if (mn__xs_decode(buf, len, &again, why) != 0 ||
	    again.nactors != xs.nactors || again.noutbox != xs.noutbox ||
	    again.nentries != xs.nentries || again.nsnaps != xs.nsnaps ||
	    again.ntimers != xs.ntimers) {
		fprintf(stderr, "fuzz_export: re-encoded stream: %s\n", why);
		abort();
	}
	mn__xs_free(&again);
	free(buf);
	mn__xs_free(&xs);
	return 0;
}
