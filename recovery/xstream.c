/*
 * xstream.c - export streams: the writer `mnemo export` uses and the
 * decoder `mnemo import` (and fuzz/fuzz_export.c) runs on untrusted bytes.
 *
 * The decoder checks everything import relies on before import writes a
 * byte, so a damaged, truncated or reordered stream is refused whole:
 *   1. every frame's length fits the bytes left and its CRC-32C matches;
 *   2. the records come in the grammar
 *        Header (Actor Snapshot* Entry* Timer* Call*)* Outbox* Trailer
 *      and nothing follows the Trailer;
 *   3. each actor's entries are base_seq + 1 .. last_seq without a gap,
 *      its snapshots ascend within [base_seq, last_seq], and a base_seq
 *      above 0 has its snapshot;
 *   4. the Trailer's counts equal the records seen (a stream cut at a
 *      record boundary has no Trailer, or one that disagrees);
 *   5. every call intent (an entry's, a pending call's) decodes, an
 *      entry has a request hash per call, and a pending call's id names
 *      its seq, within the actor's history.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "include/mnemo.h"
#include "recovery/xstream.h"
#include "base/crc32c.h"
#include "storage/store.h"

/* ---- writing ------------------------------------------------------------- */

static void put_u32le(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static uint32_t get_u32le(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static void emit(mn__xs_writer *w, const void *p, size_t n)
{
	if (w->err)
		return;
	if (fwrite(p, 1, n, w->f) != n)
		w->err = MN_EIO;
	else
		w->bytes += n;
}

/* Frame and write one record. */
static int put_record(mn__xs_writer *w, const Mnemo__Export__Record *r)
{
	size_t n = mnemo__export__record__get_packed_size(r);
	if (w->err)
		return w->err;
	if (n > MN__XS_RECORD_MAX)
		return w->err = MN_ETOOBIG;
	w->buf.len = 0;
	if (mn__buf_reserve(&w->buf, MN__XS_FRAME + n))
		return w->err = MN_ENOMEM;
	unsigned char *p = w->buf.data;
	put_u32le(p, (uint32_t)n);
	mnemo__export__record__pack(r, p + MN__XS_FRAME);
	uint32_t crc = mn__crc32c(0, p, 4);
	crc = mn__crc32c(crc, p + MN__XS_FRAME, n);
	put_u32le(p + 4, crc);
	emit(w, p, MN__XS_FRAME + n);
	w->records++;
	return w->err;
}

int mn__xs_begin(mn__xs_writer *w, FILE *f, const Mnemo__Export__Header *h)
{
	memset(w, 0, sizeof *w);
	w->f = f;
	mn__buf_init(&w->buf);
	emit(w, MN__XS_MAGIC, MN__XS_MAGIC_LEN);
	Mnemo__Export__Record r = MNEMO__EXPORT__RECORD__INIT;
	r.body_case = MNEMO__EXPORT__RECORD__BODY_HEADER;
	r.header = (Mnemo__Export__Header *)h;
	return put_record(w, &r);
}

int mn__xs_put(mn__xs_writer *w, const Mnemo__Export__Record *r)
{
	int rc = put_record(w, r);
	if (rc)
		return rc;
	switch (r->body_case) {
	case MNEMO__EXPORT__RECORD__BODY_ACTOR:
		w->actors++;
		break;
	case MNEMO__EXPORT__RECORD__BODY_SNAPSHOT:
		w->snapshots++;
		break;
	case MNEMO__EXPORT__RECORD__BODY_ENTRY:
		w->entries++;
		break;
	case MNEMO__EXPORT__RECORD__BODY_TIMER:
		w->timers++;
		break;
	case MNEMO__EXPORT__RECORD__BODY_OUTBOX:
		w->outbox++;
		break;
	case MNEMO__EXPORT__RECORD__BODY_CALL:
		w->calls++;
		break;
	default:
		break;
	}
	return 0;
}

int mn__xs_end(mn__xs_writer *w)
{
	Mnemo__Export__Trailer t = MNEMO__EXPORT__TRAILER__INIT;
	Mnemo__Export__Record r = MNEMO__EXPORT__RECORD__INIT;
	t.records = w->records;
	t.actors = w->actors;
	t.snapshots = w->snapshots;
	t.entries = w->entries;
	t.timers = w->timers;
	t.outbox = w->outbox;
	t.calls = w->calls;
	r.body_case = MNEMO__EXPORT__RECORD__BODY_TRAILER;
	r.trailer = &t;
	put_record(w, &r);
	if (!w->err && fflush(w->f) != 0)
		w->err = MN_EIO;
	return w->err;
}

void mn__xs_writer_free(mn__xs_writer *w)
{
	mn__buf_free(&w->buf);
}

/* ---- reading ------------------------------------------------------------- */

bool mn__xs_outside(const Mnemo__Export__Address *a)
{
	return !a || !a->kind || !a->kind[0];
}

/* The decoder's state: where it is and what it has seen. */
typedef struct dec {
	mn__xs_stream *s;
	char *why;
	uint64_t rec;	   /* number of the record being read, from 1 */
	size_t off;	   /* its byte offset */
	mn__xs_actor *cur; /* the open actor group, or NULL */
	int phase;	   /* 0 actors, 1 outbox (no more actors) */
} dec;

__attribute__((format(printf, 3, 4))) static int bad(dec *d, int rc,
						     const char *fmt, ...)
{
	va_list ap;
	int n = 0;
	if (d->rec)
		n = snprintf(d->why, MN__XS_WHY_CAP,
			     "record %llu at byte %zu: ",
			     (unsigned long long)d->rec, d->off);
	if (n < 0 || n >= MN__XS_WHY_CAP)
		n = 0;
	va_start(ap, fmt);
	vsnprintf(d->why + n, MN__XS_WHY_CAP - (size_t)n, fmt, ap);
	va_end(ap);
	return rc;
}

/* arr (n elements of el bytes) with room for one more: arr itself, or a
 * larger copy (capacities 4, 8, 16, ...), or NULL when out of memory. */
static void *room(void *arr, size_t n, size_t el)
{
	if (n != 0 && (n < 4 || (n & (n - 1)) != 0))
		return arr;
	size_t cap = n ? n * 2 : 4;
	if (cap > SIZE_MAX / el)
		return NULL;
	return realloc(arr, cap * el);
}

/* An address that names an actor: kind 1..MN_KIND_NAME_MAX bytes, key
 * 1..MN_KEY_MAX. */
static bool addr_ok(const Mnemo__Export__Address *a)
{
	if (!a || !a->kind)
		return false;
	size_t kl = strlen(a->kind);
	return kl >= 1 && kl <= MN_KIND_NAME_MAX && a->key.len >= 1 &&
	       a->key.len <= MN_KEY_MAX;
}

/* A sender: outside (absent, or empty kind and key) or an actor. */
static bool sender_ok(const Mnemo__Export__Address *a)
{
	if (mn__xs_outside(a))
		return !a || a->key.len == 0;
	return addr_ok(a);
}

/* Close the open actor group: rule 3's checks that need all of it. */
static int close_actor(dec *d)
{
	mn__xs_actor *g = d->cur;
	if (!g)
		return 0;
	d->cur = NULL;
	uint64_t want = g->a->last_seq - g->a->base_seq;
	if (g->nentries != want)
		return bad(d, MN_ECORRUPT,
			   "actor %s: %zu entries, last_seq %llu and "
			   "base_seq %llu want %llu",
			   g->a->address->kind, g->nentries,
			   (unsigned long long)g->a->last_seq,
			   (unsigned long long)g->a->base_seq,
			   (unsigned long long)want);
	if (g->a->base_seq &&
	    (!g->nsnaps || g->snaps[0]->seq != g->a->base_seq))
		return bad(
		    d, MN_ECORRUPT, "actor %s: no snapshot at base_seq %llu",
		    g->a->address->kind, (unsigned long long)g->a->base_seq);
	return 0;
}

static int on_actor(dec *d, const Mnemo__Export__Actor *a)
{
	int rc;
	if (d->phase)
		return bad(d, MN_ECORRUPT, "an actor after the outbox");
	if ((rc = close_actor(d)))
		return rc;
	if (!addr_ok(a->address))
		return bad(d, MN_ECORRUPT,
			   "actor address: kind 1..%d bytes and key 1..%d "
			   "bytes expected",
			   MN_KIND_NAME_MAX, MN_KEY_MAX);
	if (a->base_seq > a->last_seq)
		return bad(d, MN_ECORRUPT, "base_seq %llu above last_seq %llu",
			   (unsigned long long)a->base_seq,
			   (unsigned long long)a->last_seq);
	if (a->fork_parent && !sender_ok(a->fork_parent))
		return bad(d, MN_ECORRUPT, "bad fork parent address");
	mn__xs_stream *s = d->s;
	mn__xs_actor *na = room(s->actors, s->nactors, sizeof *na);
	if (!na)
		return MN_ENOMEM;
	s->actors = na;
	d->cur = &s->actors[s->nactors++];
	memset(d->cur, 0, sizeof *d->cur);
	d->cur->a = a;
	return 0;
}

static int on_snapshot(dec *d, const Mnemo__Export__Snapshot *sn)
{
	mn__xs_actor *g = d->cur;
	if (!g)
		return bad(d, MN_ECORRUPT, "a snapshot outside an actor");
	if (g->nentries || g->ntimers || g->ncalls)
		return bad(d, MN_ECORRUPT,
			   "a snapshot after entries, timers or calls");
	if (sn->seq < g->a->base_seq || sn->seq > g->a->last_seq ||
	    (g->nsnaps && sn->seq <= g->snaps[g->nsnaps - 1]->seq))
		return bad(d, MN_ECORRUPT,
			   "snapshot seq %llu out of order or outside "
			   "%llu..%llu",
			   (unsigned long long)sn->seq,
			   (unsigned long long)g->a->base_seq,
			   (unsigned long long)g->a->last_seq);
	g->bytes += sn->state.len;
	d->s->nsnaps++;
	void *na = room(g->snaps, g->nsnaps, sizeof *g->snaps);
	if (!na)
		return MN_ENOMEM;
	g->snaps = na;
	g->snaps[g->nsnaps++] = sn;
	return 0;
}

static int on_entry(dec *d, const Mnemo__Export__Entry *e)
{
	mn__xs_actor *g = d->cur;
	if (!g)
		return bad(d, MN_ECORRUPT, "an entry outside an actor");
	if (g->ntimers || g->ncalls)
		return bad(d, MN_ECORRUPT, "an entry after timers or calls");
	uint64_t want = g->a->base_seq + g->nentries + 1;
	if (e->seq != want || e->seq > g->a->last_seq)
		return bad(d, MN_ECORRUPT,
			   "entry seq %llu where seq %llu belongs (last_seq "
			   "%llu)",
			   (unsigned long long)e->seq, (unsigned long long)want,
			   (unsigned long long)g->a->last_seq);
	if (!sender_ok(e->sender))
		return bad(d, MN_ECORRUPT, "entry seq %llu: bad sender address",
			   (unsigned long long)e->seq);
	if (e->n_calls != e->n_call_hashes)
		return bad(d, MN_ECORRUPT,
			   "entry seq %llu: %zu calls, %zu request hashes",
			   (unsigned long long)e->seq, e->n_calls,
			   e->n_call_hashes);
	for (size_t i = 0; i < e->n_calls; i++) {
		mn__intent in;
		void *hold;
		int bad_call = mn__intent_unpack(e->calls[i].data,
						 e->calls[i].len, &in, &hold);
		mn__intent_release(hold);
		if (bad_call)
			return bad(d, MN_ECORRUPT,
				   "entry seq %llu: call %zu does not decode",
				   (unsigned long long)e->seq, i);
		g->bytes += e->calls[i].len;
	}
	g->bytes += e->payload.len;
	d->s->nentries++;
	void *na = room(g->entries, g->nentries, sizeof *g->entries);
	if (!na)
		return MN_ENOMEM;
	g->entries = na;
	g->entries[g->nentries++] = e;
	return 0;
}

static int on_timer(dec *d, const Mnemo__Export__Timer *t)
{
	mn__xs_actor *g = d->cur;
	if (!g)
		return bad(d, MN_ECORRUPT, "a timer outside an actor");
	if (g->ncalls)
		return bad(d, MN_ECORRUPT, "a timer after calls");
	/* Timer ids hold the due time above 16 bits: 47 bits of it. */
	if (t->due_unix_ms == 0 || t->due_unix_ms >> 47)
		return bad(d, MN_ECORRUPT, "timer due time %llu",
			   (unsigned long long)t->due_unix_ms);
	g->bytes += t->payload.len;
	d->s->ntimers++;
	void *na = room(g->timers, g->ntimers, sizeof *g->timers);
	if (!na)
		return MN_ENOMEM;
	g->timers = na;
	g->timers[g->ntimers++] = t;
	return 0;
}

static int on_call(dec *d, const Mnemo__Export__Call *c)
{
	mn__xs_actor *g = d->cur;
	if (!g)
		return bad(d, MN_ECORRUPT, "a call outside an actor");
	if (c->seq == 0 || c->seq > g->a->last_seq ||
	    c->call_id >> 16 != c->seq ||
	    (g->ncalls && c->call_id <= g->calls[g->ncalls - 1]->call_id))
		return bad(d, MN_ECORRUPT,
			   "call %llu of seq %llu: out of order, or not of a "
			   "message of the actor (last seq %llu)",
			   (unsigned long long)c->call_id,
			   (unsigned long long)c->seq,
			   (unsigned long long)g->a->last_seq);
	mn__intent in;
	void *hold;
	int rc = mn__intent_unpack(c->intent.data, c->intent.len, &in, &hold);
	bool same = !rc && in.call_id == c->call_id && in.seq == c->seq;
	mn__intent_release(hold);
	if (!same)
		return bad(d, MN_ECORRUPT, "call %llu: its intent %s",
			   (unsigned long long)c->call_id,
			   rc ? "does not decode" : "is of another call");
	g->bytes += c->intent.len;
	d->s->ncalls++;
	void *na = room(g->calls, g->ncalls, sizeof *g->calls);
	if (!na)
		return MN_ENOMEM;
	g->calls = na;
	g->calls[g->ncalls++] = c;
	return 0;
}

static int on_outbox(dec *d, const Mnemo__Export__Outbox *o)
{
	int rc;
	if ((rc = close_actor(d)))
		return rc;
	d->phase = 1;
	if (!addr_ok(o->target) || !sender_ok(o->sender))
		return bad(d, MN_ECORRUPT, "outbox message: bad address");
	void *na = room(d->s->outbox, d->s->noutbox, sizeof *d->s->outbox);
	if (!na)
		return MN_ENOMEM;
	d->s->outbox = na;
	d->s->outbox[d->s->noutbox++] = o;
	return 0;
}

int mn__xs_addr_cmp(const Mnemo__Export__Address *a,
		    const Mnemo__Export__Address *b)
{
	int c = strcmp(a->kind, b->kind);
	if (c)
		return c;
	if (a->key.len != b->key.len)
		return a->key.len < b->key.len ? -1 : 1;
	return memcmp(a->key.data, b->key.data, a->key.len);
}

static int cmp_actor(const void *x, const void *y)
{
	return mn__xs_addr_cmp((*(const mn__xs_actor *const *)x)->a->address,
			       (*(const mn__xs_actor *const *)y)->a->address);
}

/* No address twice (rule 2's last part; sorted copies of the pointers). */
static int check_unique(dec *d)
{
	mn__xs_stream *s = d->s;
	if (s->nactors < 2)
		return 0;
	mn__xs_actor **v = malloc(s->nactors * sizeof *v);
	if (!v)
		return MN_ENOMEM;
	for (size_t i = 0; i < s->nactors; i++)
		v[i] = &s->actors[i];
	qsort(v, s->nactors, sizeof *v, cmp_actor);
	int rc = 0;
	for (size_t i = 1; i < s->nactors && !rc; i++)
		if (cmp_actor(&v[i - 1], &v[i]) == 0)
			rc = bad(d, MN_ECORRUPT, "actor %s/... appears twice",
				 v[i]->a->address->kind);
	free(v);
	return rc;
}

static int on_trailer(dec *d, const Mnemo__Export__Trailer *t)
{
	mn__xs_stream *s = d->s;
	int rc;
	if ((rc = close_actor(d)))
		return rc;
	/* The trailer itself is not counted: d->rec - 1 records before it. */
	if (t->records != d->rec - 1 || t->actors != s->nactors ||
	    t->snapshots != s->nsnaps || t->entries != s->nentries ||
	    t->timers != s->ntimers || t->outbox != s->noutbox ||
	    t->calls != s->ncalls)
		return bad(d, MN_ECORRUPT,
			   "the trailer counts %llu records (%llu actors, "
			   "%llu snapshots, %llu entries, %llu timers, %llu "
			   "outbox), the stream holds %llu (%zu, %llu, %llu, "
			   "%llu, %zu)",
			   (unsigned long long)t->records,
			   (unsigned long long)t->actors,
			   (unsigned long long)t->snapshots,
			   (unsigned long long)t->entries,
			   (unsigned long long)t->timers,
			   (unsigned long long)t->outbox,
			   (unsigned long long)(d->rec - 1), s->nactors,
			   (unsigned long long)s->nsnaps,
			   (unsigned long long)s->nentries,
			   (unsigned long long)s->ntimers, s->noutbox);
	if (!s->header->whole_store && (s->nactors != 1 || s->noutbox))
		return bad(d, MN_ECORRUPT,
			   "a one-actor stream with %zu actors and %zu outbox "
			   "messages",
			   s->nactors, s->noutbox);
	s->trailer = t;
	return check_unique(d);
}

static int on_header(dec *d, const Mnemo__Export__Header *h)
{
	if (h->stream_version == 0)
		return bad(d, MN_ECORRUPT, "stream version 0");
	if (h->stream_version > MN__XS_VERSION)
		return bad(d, MN_EVERSION,
			   "stream version %u is newer than this tool's (%d)",
			   h->stream_version, MN__XS_VERSION);
	d->s->header = h;
	return 0;
}

/* One record, by its place in the grammar. */
static int on_record(dec *d, const Mnemo__Export__Record *r)
{
	if (!d->s->header && r->body_case != MNEMO__EXPORT__RECORD__BODY_HEADER)
		return bad(d, MN_ECORRUPT, "the first record is not a header");
	switch (r->body_case) {
	case MNEMO__EXPORT__RECORD__BODY_HEADER:
		if (d->s->header)
			return bad(d, MN_ECORRUPT, "a second header");
		return on_header(d, r->header);
	case MNEMO__EXPORT__RECORD__BODY_ACTOR:
		return on_actor(d, r->actor);
	case MNEMO__EXPORT__RECORD__BODY_SNAPSHOT:
		return on_snapshot(d, r->snapshot);
	case MNEMO__EXPORT__RECORD__BODY_ENTRY:
		return on_entry(d, r->entry);
	case MNEMO__EXPORT__RECORD__BODY_TIMER:
		return on_timer(d, r->timer);
	case MNEMO__EXPORT__RECORD__BODY_OUTBOX:
		return on_outbox(d, r->outbox);
	case MNEMO__EXPORT__RECORD__BODY_TRAILER:
		return on_trailer(d, r->trailer);
	case MNEMO__EXPORT__RECORD__BODY_CALL:
		return on_call(d, r->call);
	default:
		return bad(d, MN_ECORRUPT, "a record of unknown type");
	}
}

int mn__xs_decode(const void *p, size_t len, mn__xs_stream *out, char *why)
{
	const unsigned char *b = p;
	dec d = {.s = out, .why = why};
	int rc;

	memset(out, 0, sizeof *out);
	why[0] = 0;
	if (len < MN__XS_MAGIC_LEN ||
	    memcmp(b, MN__XS_MAGIC, MN__XS_MAGIC_LEN) != 0) {
		if (len && len < MN__XS_MAGIC_LEN &&
		    memcmp(b, MN__XS_MAGIC, len) == 0)
			return bad(&d, MN_ECORRUPT,
				   "truncated: %zu bytes, inside the magic",
				   len);
		return bad(&d, MN_EINVAL,
			   "not a mnemo export stream (no magic)");
	}
	size_t off = MN__XS_MAGIC_LEN;
	while (!out->trailer) {
		d.rec++;
		d.off = off;
		size_t left = len - off;
		if (left == 0)
			return bad(&d, MN_ECORRUPT,
				   "truncated: the stream ends without its "
				   "trailer");
		if (left < MN__XS_FRAME)
			return bad(&d, MN_ECORRUPT,
				   "truncated: %zu bytes left, inside a frame",
				   left);
		uint32_t n = get_u32le(b + off), want = get_u32le(b + off + 4);
		if (n > MN__XS_RECORD_MAX)
			return bad(&d, MN_ECORRUPT, "length %lu over the limit",
				   (unsigned long)n);
		if (n > left - MN__XS_FRAME)
			return bad(&d, MN_ECORRUPT,
				   "truncated: a %lu-byte record, %zu bytes "
				   "left",
				   (unsigned long)n, left - MN__XS_FRAME);
		uint32_t crc = mn__crc32c(0, b + off, 4);
		crc = mn__crc32c(crc, b + off + MN__XS_FRAME, n);
		if (crc != want)
			return bad(&d, MN_ECORRUPT, "checksum mismatch");
		Mnemo__Export__Record *r = mnemo__export__record__unpack(
		    NULL, n, b + off + MN__XS_FRAME);
		if (!r)
			return bad(&d, MN_ECORRUPT, "undecodable record");
		Mnemo__Export__Record **nr =
		    room(out->recs, out->nrecs, sizeof *nr);
		if (!nr) {
			mnemo__export__record__free_unpacked(r, NULL);
			return MN_ENOMEM;
		}
		out->recs = nr;
		out->recs[out->nrecs++] = r;
		off += MN__XS_FRAME + n;
		if ((rc = on_record(&d, r)))
			return rc;
	}
	if (off != len) {
		d.rec++;
		d.off = off;
		return bad(&d, MN_ECORRUPT, "%zu bytes after the trailer",
			   len - off);
	}
	return 0;
}

void mn__xs_free(mn__xs_stream *s)
{
	for (size_t i = 0; i < s->nactors; i++) {
		free(s->actors[i].snaps);
		free(s->actors[i].entries);
		free(s->actors[i].timers);
		free(s->actors[i].calls);
	}
	free(s->actors);
	free(s->outbox);
	for (size_t i = 0; i < s->nrecs; i++)
		mnemo__export__record__free_unpacked(s->recs[i], NULL);
	free(s->recs);
	memset(s, 0, sizeof *s);
}
