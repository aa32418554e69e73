/*
 * cmd_import.c - `mnemo import [--as KEY] STREAM STORE`: load an export
 * stream (recovery/xstream.h) into a store, where its actors resume: a
 * runtime opening the store rehydrates them with the same state and seq,
 * and new messages continue their histories.
 *
 * The one command that writes. Protocol:
 *   1. The whole stream is decoded and checked (mn__xs_decode) before the
 *      store is opened: a damaged, truncated or newer stream writes nothing
 *      and creates no store.
 *   2. The store is opened for writing (created if absent); a runtime
 *      holding it makes the open fail with MN_EBUSY, and import stops.
 *   3. Every address is checked against the store before anything is
 *      written: one that exists refuses the whole import.
 *   4. Kinds are created (mn__store_kind_id), then actors are written with
 *      mn__store_write, each whole in one transaction (with its name,
 *      entries under fresh LSNs, snapshots and timers); several small
 *      actors share a transaction up to MN__IMPORT_BATCH_BYTES. A crash
 *      leaves whole actors or none of an actor.
 *   5. Last, the outbox messages (whole-store streams), with fresh ids.
 * Senders are named by address in the stream and mapped to the ids of the
 * destination: an imported actor, or one the store already holds, else 0
 * (from outside), counted and reported.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "include/mnemo.h"
#include "recovery/cli.h"
#include "recovery/xstream.h"

/* Payload and state bytes above which the next actor starts a new
 * transaction (an actor is never split). */
#define MN__IMPORT_BATCH_BYTES ((uint64_t)8 << 20)
/* Actors at most in one transaction. */
#define MN__IMPORT_BATCH_ACTORS 1024

static const char synopsis[] = "mnemo import [--move] [--as KEY] STREAM STORE";

static const char help[] =
    "NAME\n"
    "    mnemo import - load an export stream into a store\n"
    "\n"
    "SYNOPSIS\n"
    "    mnemo import [--move] [--as KEY] STREAM STORE\n"
    "\n"
    "DESCRIPTION\n"
    "    Reads STREAM (a file made by `mnemo export`, or - for standard\n"
    "    input), checks all of it (checksums, counts, sequence numbers),\n"
    "    then writes its actors, their snapshots, journals and timers, and\n"
    "    its outbox messages into STORE, created if absent. A runtime that\n"
    "    opens STORE then rehydrates each actor with the state and sequence\n"
    "    number it had; new messages continue its history.\n"
    "\n"
    "    Nothing is written when the stream is damaged, truncated or of a\n"
    "    newer version, or when an actor of the stream already exists in\n"
    "    STORE. Each actor is written whole in one transaction: an import\n"
    "    that stops on the way (a full disk, a crash) leaves whole actors.\n"
    "    Import needs the store to itself: it refuses a store that a\n"
    "    running runtime holds.\n"
    "\n"
    "    Senders are mapped by address to the actors of STORE; a message\n"
    "    from an actor STORE does not hold is recorded as from outside\n"
    "    (import says how many).\n"
    "\n"
    "    A copy or a move. By default the import is a copy: the stream's\n"
    "    pending effects (its timers and its outbox messages) are held in\n"
    "    STORE's quarantine, as a fork's sends are, so the copy does not\n"
    "    fire the original's reminders or send its messages a second\n"
    "    time; `mnemo quarantine` lists them and --release ID|all lets\n"
    "    them go (a held timer is then delivered to its actor at once, as\n"
    "    an ordinary message of the timer's type and payload). With\n"
    "    --move they travel: timers are armed and outbox messages are\n"
    "    delivered as in the source; the source must then be retired\n"
    "    (never run again), or both act on them.\n"
    "\n"
    "OPTIONS\n"
    "    -m, --move    a move: timers and outbox messages travel (the\n"
    "                  source must be retired); default: a copy, they\n"
    "                  are held in the quarantine\n"
    "    -k, --as KEY  import the stream's one actor under KEY (text, or 0x\n"
    "                  and hex digits), e.g. beside the original\n"
    "    -h, --help    this text\n"
    "\n"
    "EXIT STATUS\n"
    "    0 success; 1 the stream is damaged or truncated, or an actor of\n"
    "    it exists in STORE (nothing written); 2 usage error, a stream\n"
    "    that cannot be read (missing, not an export stream, a newer\n"
    "    version), a store that cannot be opened or is in use, or a write\n"
    "    that failed (the actors reported as imported are complete).\n"
    "\n"
    "EXAMPLE\n"
    "    mnemo import all.mnx ./copy\n"
    "    mnemo import --as alice-2 alice.mnx ./data\n";

typedef struct kindent {
	char name[MN_KIND_NAME_MAX + 1];
	uint32_t id;
} kindent;

/* An imported actor by its address in the stream. */
typedef struct mapent {
	const Mnemo__Export__Address *addr;
	uint64_t id;
} mapent;

typedef struct istate {
	mn__cli *c;
	mn__xs_stream xs;
	const unsigned char *as_key; /* --as */
	size_t as_len;
	kindent *kinds;
	size_t nkinds, capkinds;
	uint32_t *kind_ids; /* per stream actor */
	uint64_t *ids;      /* per stream actor: its id in the store */
	mapent *map;        /* sorted by address */
	uint64_t *timer_ids; /* timer ids in use, sorted */
	size_t ntimer_ids, captimer_ids;
	/* Last sender resolved. */
	const Mnemo__Export__Address *last_addr;
	uint64_t last_id;
	uint64_t senders_lost, conflicts, imported;
	uint64_t next_lsn, next_outbox;
	/* The batch being built. */
	mn__wentry *ents;
	size_t nents, capents;
	mn__wsnap *snaps;
	size_t nsnaps, capsnaps;
	mn__wtimer *timers;
	size_t ntimers, captimers;
	mn__wactor *acts;
	size_t nacts, capacts;
	mn__woutbox *obs;
	size_t nobs, capobs;
	/* A copy (no --move): the stream's timers and outbox messages go to
	 * the quarantine, not to the timers and the outbox. */
	bool move;
	mn__woutbox *quar;
	size_t nquar, capquar;
	uint64_t held_timers, held_outbox;
	uint64_t batch_bytes;
	size_t batch_first; /* stream index of the batch's first actor */
} istate;

/* "kind/key" of a stream address into buf (MN__CLI_ADDR_CAP). */
static void addr_text(char *buf, const Mnemo__Export__Address *a,
		      const unsigned char *key, size_t key_len)
{
	char k[MN__CLI_KEY_CAP];
	mn__cli_key_format(k, key ? key : a->key.data,
			   key ? key_len : a->key.len);
	snprintf(buf, MN__CLI_ADDR_CAP, "%s/%s", a->kind, k);
}

static int cmp_map(const void *x, const void *y)
{
	return mn__xs_addr_cmp(((const mapent *)x)->addr, ((const mapent *)y)->addr);
}

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
	return a < b ? -1 : a > b;
}

/* ---- reading the stream ---------------------------------------------------- */

/* The stream's bytes: a regular file is mapped, anything else read. *map
 * says which (munmap or free). Returns 0 or errno. */
static int load(const char *path, void **p, size_t *len, bool *mapped)
{
	int fd = strcmp(path, "-") == 0 ? 0 : open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	int e = 0;
	*p = NULL;
	*len = 0;
	*mapped = false;
	if (fd < 0)
		return errno;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
		void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE,
			       fd, 0);
		if (m != MAP_FAILED) {
			*p = m;
			*len = (size_t)st.st_size;
			*mapped = true;
			goto out;
		}
	}
	mn_buf b;
	mn__buf_init(&b);
	for (;;) {
		if (mn__buf_reserve(&b, b.len + 65536)) {
			e = ENOMEM;
			break;
		}
		ssize_t n = read(fd, b.data + b.len, 65536);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			e = errno;
			break;
		}
		if (n == 0)
			break;
		b.len += (size_t)n;
	}
	if (e)
		mn__buf_free(&b);
	else {
		*p = b.data;
		*len = b.len;
	}
out:
	if (fd != 0)
		close(fd);
	return e;
}

/* ---- the destination ------------------------------------------------------- */

static int on_kind(void *arg, uint32_t id, const char *name, uint32_t dict)
{
	istate *x = arg;
	(void)dict;
	if (mn__cli_grow((void **)&x->kinds, &x->capkinds, x->nkinds, sizeof *x->kinds))
		return MN_ENOMEM;
	snprintf(x->kinds[x->nkinds].name, sizeof x->kinds[0].name, "%s", name);
	x->kinds[x->nkinds++].id = id;
	return 0;
}

/* The id of kind name in the store, 0 when it has none (no kind is
 * created). */
static uint32_t kind_known(const istate *x, const char *name)
{
	for (size_t i = 0; i < x->nkinds; i++)
		if (strcmp(x->kinds[i].name, name) == 0)
			return x->kinds[i].id;
	return 0;
}

/* The id of kind name, created if new. */
static int kind_make(istate *x, const char *name, uint32_t *id)
{
	if ((*id = kind_known(x, name)))
		return 0;
	mn__cli_clear_detail();
	int rc = mn__store_kind_id(x->c->store, name, id);
	if (rc)
		return rc;
	return on_kind(x, *id, name, 0);
}

static int on_timer_id(void *arg, const mn__wtimer *t)
{
	istate *x = arg;
	if (mn__cli_grow((void **)&x->timer_ids, &x->captimer_ids, x->ntimer_ids,
		 sizeof *x->timer_ids))
		return MN_ENOMEM;
	x->timer_ids[x->ntimer_ids++] = t->id;
	return 0;
}

/* A timer id for due: want itself when free and it encodes due (the
 * runtime finds a timer by (id >> 16, id)), else due << 16 | k for the
 * first free k >= 2. Recorded as in use. 0 when out of memory. */
static uint64_t timer_id(istate *x, uint64_t due, uint64_t want)
{
	uint64_t id = want >> 16 == due ? want : due << 16 | 2;
	for (;;) {
		size_t lo = 0, hi = x->ntimer_ids;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (x->timer_ids[mid] < id)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < x->ntimer_ids && x->timer_ids[lo] == id) {
			/* Taken: the next one of this due time. */
			id = id >> 16 == due && (id & 0xffff) < 0xffff
				 ? id + 1
				 : due << 16 | 2;
			continue;
		}
		if (mn__cli_grow((void **)&x->timer_ids, &x->captimer_ids,
			 x->ntimer_ids, sizeof *x->timer_ids))
			return 0;
		memmove(x->timer_ids + lo + 1, x->timer_ids + lo,
			(x->ntimer_ids - lo) * sizeof *x->timer_ids);
		x->timer_ids[lo] = id;
		x->ntimer_ids++;
		return id;
	}
}

/* The destination id of a sender named in the stream: an imported actor,
 * an actor the store holds, or 0 (outside; counted when it named one). */
static uint64_t resolve(istate *x, const Mnemo__Export__Address *a)
{
	if (mn__xs_outside(a))
		return 0;
	if (x->last_addr && mn__xs_addr_cmp(a, x->last_addr) == 0)
		return x->last_id;
	uint64_t id = 0;
	mapent key = {.addr = a};
	mapent *hit = bsearch(&key, x->map, x->xs.nactors, sizeof *x->map,
			      cmp_map);
	if (hit) {
		id = hit->id;
	} else {
		uint32_t kind = kind_known(x, a->kind);
		mn__actor_meta m;
		if (kind && mn__store_actor_find(x->c->store, kind, a->key.data,
						 a->key.len, &m) == 0)
			id = m.id;
	}
	x->last_addr = a;
	x->last_id = id;
	return id;
}

/* Step 3: every address the import would create, looked up. Prints each
 * that exists; returns 0 or a store error. */
static int check_conflicts(istate *x)
{
	for (size_t i = 0; i < x->xs.nactors; i++) {
		const Mnemo__Export__Address *a = x->xs.actors[i].a->address;
		const unsigned char *key = x->as_key ? x->as_key : a->key.data;
		size_t key_len = x->as_key ? x->as_len : a->key.len;
		uint32_t kind = kind_known(x, a->kind);
		mn__actor_meta m;
		char addr[MN__CLI_ADDR_CAP];
		if (!kind)
			continue;
		mn__cli_clear_detail();
		int rc = mn__store_actor_find(x->c->store, kind, key, key_len,
					      &m);
		if (rc == MN_ENOACTOR)
			continue;
		if (rc)
			return rc;
		/* Ten are enough to see the pattern. */
		if (x->conflicts++ < 10) {
			addr_text(addr, a, key, key_len);
			fprintf(x->c->err,
				"mnemo import: actor %s already exists in "
				"store %s (id %llu)\n",
				addr, x->c->path, (unsigned long long)m.id);
		}
	}
	return 0;
}

/* ---- writing --------------------------------------------------------------- */

/* Write the batch built so far (one transaction) and empty it. */
static int flush(istate *x, uint64_t next_actor_id)
{
	mn__wbatch b = {
	    .entries = x->ents,
	    .n_entries = x->nents,
	    .outbox = x->obs,
	    .n_outbox = x->nobs,
	    .actors = x->acts,
	    .n_actors = x->nacts,
	    .snaps = x->snaps,
	    .n_snaps = x->nsnaps,
	    .timers = x->timers,
	    .n_timers = x->ntimers,
	    .quarantine = x->quar,
	    .n_quarantine = x->nquar,
	    /* The open repaired every head and nothing else writes: with
	     * this batch's heads, all are exact up to its last entry. */
	    .checkpoint_lsn = x->nents ? x->ents[x->nents - 1].lsn : 0,
	    .next_actor_id = next_actor_id,
	    /* Compaction points' LSNs, never written (add_actor). */
	    .lsn_reserved = x->next_lsn - 1,
	};
	int rc = 0;
	if (x->nents || x->nobs || x->nacts || x->nquar) {
		mn__cli_clear_detail();
		rc = mn__store_write(x->c->store, x->c->codec, &b);
	}
	x->nents = x->nobs = x->nacts = x->nsnaps = x->ntimers = x->nquar = 0;
	x->batch_bytes = 0;
	x->next_lsn = mn__store_last_lsn(x->c->store) + 1;
	return rc;
}

/* Add actor i of the stream to the batch. */
static int add_actor(istate *x, size_t i)
{
	const mn__xs_actor *g = &x->xs.actors[i];
	const Mnemo__Export__Actor *a = g->a;
	uint64_t id = x->ids[i], first = x->next_lsn;
	uint32_t kind = x->kind_ids[i];
	uint32_t dict = mn__store_kind_dict(x->c->store, kind);

	if (mn__cli_grow((void **)&x->acts, &x->capacts, x->nacts, sizeof *x->acts))
		return MN_ENOMEM;
	/* History after a compaction point: the entry at base_seq is not in
	 * the stream; give it an LSN of its own (never written, reserved by
	 * the batch so never handed out again) for the first entry to point
	 * at, or for the head when no entry follows it, as compaction leaves
	 * it (docs/format.md). */
	uint64_t base_lsn = a->base_seq ? x->next_lsn++ : 0;
	if (g->nentries)
		first = x->next_lsn;
	for (size_t j = 0; j < g->nentries; j++) {
		const Mnemo__Export__Entry *e = g->entries[j];
		if (mn__cli_grow((void **)&x->ents, &x->capents, x->nents,
			 sizeof *x->ents))
			return MN_ENOMEM;
		uint64_t lsn = x->next_lsn++;
		x->ents[x->nents++] = (mn__wentry){
		    .lsn = lsn,
		    .actor_id = id,
		    .seq = e->seq,
		    .prev_lsn = j ? lsn - 1 : base_lsn,
		    .sender_id = resolve(x, e->sender),
		    .unix_ms = e->unix_ms,
		    /* Outbox ids are the source store's: not carried. */
		    .type = e->type,
		    .flags = e->flags,
		    .compress = true,
		    .dict_id = dict,
		    .payload = e->payload.data,
		    .len = e->payload.len,
		    .state_hash = e->state_hash,
		    .timer_ids = e->timer_ids,
		    .n_timer_ids = e->n_timer_ids,
		};
		if (e->sender && !mn__xs_outside(e->sender) &&
		    !x->ents[x->nents - 1].sender_id)
			x->senders_lost++;
	}
	for (size_t j = 0; j < g->nsnaps; j++) {
		const Mnemo__Export__Snapshot *sn = g->snaps[j];
		uint64_t lsn = sn->seq == a->base_seq ? base_lsn : 0,
			 hash = sn->state_hash;
		if (mn__cli_grow((void **)&x->snaps, &x->capsnaps, x->nsnaps,
			 sizeof *x->snaps))
			return MN_ENOMEM;
		if (sn->seq > a->base_seq) {
			/* The entry of that seq: its LSN, and its state hash
			 * is the state's (the store gives export none for
			 * snapshots). */
			const Mnemo__Export__Entry *e =
			    g->entries[sn->seq - a->base_seq - 1];
			lsn = first + (sn->seq - a->base_seq - 1);
			if (!hash)
				hash = e->state_hash;
		}
		x->snaps[x->nsnaps++] = (mn__wsnap){
		    .actor_id = id,
		    .seq = sn->seq,
		    .lsn = lsn,
		    .dict_id = dict,
		    .state = sn->state.data,
		    .len = sn->state.len,
		    .state_hash = hash,
		};
	}
	for (size_t j = 0; j < g->ntimers; j++) {
		const Mnemo__Export__Timer *t = g->timers[j];
		if (!x->move) {
			/* A copy: the timer is held in the quarantine as a
			 * message from the actor to itself (its type and
			 * payload; time: its due time). Released, it is
			 * delivered as an ordinary message, at once. */
			if (mn__cli_grow((void **)&x->quar, &x->capquar,
					 x->nquar, sizeof *x->quar))
				return MN_ENOMEM;
			x->quar[x->nquar++] = (mn__woutbox){
			    .id = x->next_outbox++,
			    .kind_id = kind,
			    .key = x->as_key ? x->as_key
					     : a->address->key.data,
			    .key_len = x->as_key ? x->as_len
						 : a->address->key.len,
			    .type = t->type,
			    .sender_id = id,
			    .unix_ms = t->due_unix_ms,
			    .compress = true,
			    .dict_id = dict,
			    .payload = t->payload.data,
			    .len = t->payload.len,
			};
			x->held_timers++;
			continue;
		}
		uint64_t tid = timer_id(x, t->due_unix_ms, t->id);
		if (!tid ||
		    mn__cli_grow((void **)&x->timers, &x->captimers, x->ntimers,
			 sizeof *x->timers))
			return MN_ENOMEM;
		x->timers[x->ntimers++] = (mn__wtimer){
		    .id = tid,
		    .actor_id = id,
		    .due_unix_ms = t->due_unix_ms,
		    .type = t->type,
		    .payload = t->payload.data,
		    .len = t->payload.len,
		};
	}
	x->acts[x->nacts++] = (mn__wactor){
	    .id = id,
	    .kind_id = kind,
	    .key = x->as_key ? x->as_key : a->address->key.data,
	    .key_len = x->as_key ? x->as_len : a->address->key.len,
	    .last_seq = a->last_seq,
	    .last_lsn = g->nentries ? x->next_lsn - 1 : base_lsn,
	    .first_lsn = g->nentries ? first : 0,
	    .created_unix_ms = a->created_unix_ms,
	    .last_active_unix_ms = a->last_active_unix_ms,
	    .is_new = true,
	    .compacted_seq = a->base_seq,
	    .compacted_lsn = base_lsn,
	};
	x->batch_bytes += g->bytes;
	return 0;
}

/* One line per imported actor, with what the source said of its lineage. */
static void report_actor(istate *x, size_t i)
{
	const mn__xs_actor *g = &x->xs.actors[i];
	const Mnemo__Export__Actor *a = g->a;
	char addr[MN__CLI_ADDR_CAP];
	addr_text(addr, a->address, x->as_key, x->as_len);
	fprintf(x->c->out,
		"  %s  id %llu  last seq %llu  %zu entries  %zu snapshots  "
		"%zu timers\n",
		addr, (unsigned long long)x->ids[i],
		(unsigned long long)a->last_seq, g->nentries, g->nsnaps,
		g->ntimers);
	if (a->fork_parent && !mn__xs_outside(a->fork_parent)) {
		addr_text(addr, a->fork_parent, NULL, 0);
		fprintf(x->c->out,
			"    a fork of %s at seq %llu in the source: imported "
			"with its whole history, as an actor of its own\n",
			addr, (unsigned long long)a->fork_seq);
	}
	if (a->base_seq)
		fprintf(x->c->out,
			"    history starts after seq %llu (compacted in the "
			"source): imported from its snapshot there\n",
			(unsigned long long)a->base_seq);
}

/* Steps 4 and 5. Returns 0 or a store error (what says where). */
static int write_all(istate *x, const mn__store_info *info, char *what,
		     size_t whatcap)
{
	int rc;
	uint64_t next_id = info->next_actor_id;
	mn__xs_stream *xs = &x->xs;

	if (!(x->kind_ids = calloc(xs->nactors + 1, sizeof *x->kind_ids)) ||
	    !(x->ids = calloc(xs->nactors + 1, sizeof *x->ids)) ||
	    !(x->map = calloc(xs->nactors + 1, sizeof *x->map)))
		return MN_ENOMEM;
	for (size_t i = 0; i < xs->nactors; i++) {
		snprintf(what, whatcap, "creating kind %s",
			 xs->actors[i].a->address->kind);
		if ((rc = kind_make(x, xs->actors[i].a->address->kind,
				    &x->kind_ids[i])))
			return rc;
		x->ids[i] = next_id++;
		x->map[i] = (mapent){.addr = xs->actors[i].a->address,
				     .id = x->ids[i]};
	}
	qsort(x->map, xs->nactors, sizeof *x->map, cmp_map);
	snprintf(what, whatcap, "reading timers");
	mn__cli_clear_detail();
	if ((rc = mn__store_timers_due(x->c->store, UINT64_MAX, SIZE_MAX,
				       on_timer_id, x)))
		return rc;
	if (x->ntimer_ids) /* qsort wants an array, even of 0 */
		qsort(x->timer_ids, x->ntimer_ids, sizeof *x->timer_ids,
		      cmp_u64);

	x->next_lsn = mn__store_last_lsn(x->c->store) + 1;
	x->next_outbox = info->next_outbox_id;
	x->batch_first = 0;
	for (size_t i = 0; i < xs->nactors; i++) {
		if (x->nacts && (x->nacts >= MN__IMPORT_BATCH_ACTORS ||
				 x->batch_bytes + xs->actors[i].bytes >
				     MN__IMPORT_BATCH_BYTES)) {
			snprintf(what, whatcap, "writing actors %zu..%zu of %zu",
				 x->batch_first + 1, i, xs->nactors);
			if ((rc = flush(x, x->ids[i - 1] + 1)))
				return rc;
			x->imported = i;
			x->batch_first = i;
		}
		if ((rc = add_actor(x, i)))
			return rc;
	}
	if (xs->nactors) {
		snprintf(what, whatcap, "writing actors %zu..%zu of %zu",
			 x->batch_first + 1, xs->nactors, xs->nactors);
		if ((rc = flush(x, x->ids[xs->nactors - 1] + 1)))
			return rc;
		x->imported = xs->nactors;
	}

	snprintf(what, whatcap, "writing the outbox messages");
	for (size_t i = 0; i < xs->noutbox; i++) {
		const Mnemo__Export__Outbox *o = xs->outbox[i];
		uint32_t kind;
		if ((rc = kind_make(x, o->target->kind, &kind)) ||
		    (rc = mn__cli_grow((void **)&x->obs, &x->capobs, x->nobs,
			       sizeof *x->obs)))
			return rc;
		uint64_t sender = resolve(x, o->sender);
		if (!sender && !mn__xs_outside(o->sender))
			x->senders_lost++;
		/* A copy: held in the quarantine. */
		if (!x->move &&
		    (rc = mn__cli_grow((void **)&x->quar, &x->capquar,
				       x->nquar, sizeof *x->quar)))
			return rc;
		mn__woutbox *ob = x->move ? &x->obs[x->nobs++]
					  : &x->quar[x->nquar++];
		if (!x->move)
			x->held_outbox++;
		*ob = (mn__woutbox){
		    .id = x->next_outbox++,
		    .kind_id = kind,
		    .key = o->target->key.data,
		    .key_len = o->target->key.len,
		    .type = o->type,
		    .flags = o->flags,
		    .sender_id = sender,
		    .unix_ms = o->unix_ms,
		    .compress = true,
		    .dict_id = mn__store_kind_dict(x->c->store, kind),
		    .payload = o->payload.data,
		    .len = o->payload.len,
		};
		x->batch_bytes += o->payload.len;
		if (x->batch_bytes > MN__IMPORT_BATCH_BYTES &&
		    (rc = flush(x, 0)))
			return rc;
	}
	return flush(x, 0);
}

static void istate_free(istate *x)
{
	mn__xs_free(&x->xs);
	free(x->kinds);
	free(x->kind_ids);
	free(x->ids);
	free(x->map);
	free(x->timer_ids);
	free(x->ents);
	free(x->snaps);
	free(x->timers);
	free(x->acts);
	free(x->obs);
	free(x->quar);
}

/* Steps 1 and 2: decode the stream, open the store. Returns 0, or the exit
 * code after saying why. */
static int prepare(istate *x, const char *stream, mn__store_info *info)
{
	mn__cli *c = x->c;
	void *p;
	size_t len;
	bool mapped;
	char why[MN__XS_WHY_CAP];
	int e = load(stream, &p, &len, &mapped), rc;
	if (e) {
		fprintf(c->err, "mnemo import: reading %s: %s\n", stream,
			strerror(e));
		return MN__CLI_USAGE;
	}
	rc = mn__xs_decode(p, len, &x->xs, why);
	if (mapped)
		munmap(p, len);
	else
		free(p);
	if (rc) {
		fprintf(c->err, "mnemo import: stream %s: %s (%s); nothing "
				"imported\n",
			stream, mn_err_name(rc), why);
		return rc == MN_ECORRUPT ? MN__CLI_FAIL : MN__CLI_USAGE;
	}
	if (x->as_key && x->xs.nactors != 1)
		return mn__cli_usage(c,
				     "--as renames one actor; stream %s holds "
				     "%zu",
				     stream, x->xs.nactors);

	mn__cli_clear_detail();
	rc = mn__store_open(c->path, &(mn__store_opts){0}, &c->store, info);
	if (rc == MN_EBUSY) {
		fprintf(c->err,
			"mnemo import: store %s is in use by a running "
			"runtime; stop it or import into another store\n",
			c->path);
		return MN__CLI_USAGE;
	}
	if (rc) {
		fprintf(c->err, "mnemo import: opening store %s: %s (%s)\n",
			c->path, mn_err_name(rc), mn__store_errdetail());
		return MN__CLI_USAGE;
	}
	if ((rc = mn__codec_new(mn__store_dicts(c->store), &c->codec))) {
		fprintf(c->err, "mnemo import: opening store %s: %s\n",
			c->path, mn_err_name(rc));
		return MN__CLI_USAGE;
	}
	return 0;
}

/* The options, for on_option. */
typedef struct iopts {
	istate *x;
	unsigned char as_key[MN_KEY_MAX];
} iopts;

static int on_option(mn__cli *c, int ch, const char *arg, void *u)
{
	iopts *o = u;
	if (ch == 'm') {
		o->x->move = true;
		return 0;
	}
	if (mn__cli_key_parse(arg, o->as_key, &o->x->as_len))
		return mn__cli_usage(c,
				     "bad key '%s' for --as: text or 0x and "
				     "hex digits, 1 to %d bytes",
				     arg, MN_KEY_MAX);
	o->x->as_key = o->as_key;
	return 0;
}

static const mn__cli_spec spec = {
    .name = "import", .synopsis = synopsis, .help = help, .shortopts = "k:m",
    .opts = (const struct option[]){{"as", required_argument, NULL, 'k'},
				    {"move", no_argument, NULL, 'm'},
				    {NULL, 0, NULL, 0}},
    .nargs = 2, .args_wrong = "STREAM and STORE expected",
    .option = on_option};

int mn__cmd_import(int argc, char **argv, FILE *out, FILE *err)
{
	mn__cli c;
	istate x = {.c = &c};
	iopts o = {.x = &x};
	mn__store_info info;
	char what[160];
	char **args;
	int rc;

	if ((rc = mn__cli_begin(&c, &spec, &o, argc, argv, out, err,
				&args)) != MN__CLI_GO)
		return rc;
	const char *stream = args[0];
	if ((rc = prepare(&x, stream, &info)))
		goto out_close;

	mn__cli_clear_detail();
	if ((rc = mn__store_kinds_scan(c.store, on_kind, &x)) ||
	    (rc = check_conflicts(&x))) {
		rc = mn__cli_store_fail(&c, rc, "reading the store");
		goto out_close;
	}
	if (x.conflicts) {
		if (x.conflicts > 10)
			fprintf(err,
				"mnemo import: ... and %llu more actors that "
				"exist\n",
				(unsigned long long)(x.conflicts - 10));
		fprintf(err,
			"mnemo import: nothing imported (import refuses "
			"addresses that exist%s)\n",
			x.xs.nactors == 1 ? "; --as KEY imports under another key"
					  : "");
		rc = MN__CLI_FAIL;
		goto out_close;
	}
	if ((rc = write_all(&x, &info, what, sizeof what))) {
		rc = mn__cli_store_fail(&c, rc, what);
		fprintf(err,
			"mnemo import: %llu of %zu actors were imported before "
			"the failure (each whole)%s\n",
			(unsigned long long)x.imported, x.xs.nactors,
			x.imported == x.xs.nactors && x.xs.noutbox
			    ? "; outbox messages may be missing"
			    : "");
		if (rc == MN__CLI_FAIL)
			rc = MN__CLI_USAGE;
		goto out_close;
	}
	fprintf(out,
		"imported %zu actor%s (%llu entries, %llu snapshots, %llu "
		"timers) and %zu outbox messages into %s\n",
		x.xs.nactors, x.xs.nactors == 1 ? "" : "s",
		(unsigned long long)x.xs.nentries,
		(unsigned long long)x.xs.nsnaps,
		(unsigned long long)x.xs.ntimers, x.xs.noutbox, c.path);
	if (x.held_timers || x.held_outbox)
		fprintf(out,
			"a copy: %llu timer%s and %llu outbox message%s held "
			"in the quarantine (mnemo quarantine --release to let "
			"them go; --move imports them live)\n",
			(unsigned long long)x.held_timers,
			x.held_timers == 1 ? "" : "s",
			(unsigned long long)x.held_outbox,
			x.held_outbox == 1 ? "" : "s");
	for (size_t i = 0; i < x.xs.nactors; i++)
		report_actor(&x, i);
	if (x.senders_lost)
		fprintf(out,
			"%llu message%s from an actor that store %s does not "
			"hold: recorded as from outside\n",
			(unsigned long long)x.senders_lost,
			x.senders_lost == 1 ? "" : "s", c.path);
	rc = MN__CLI_OK;
out_close:
	istate_free(&x);
	mn__cli_close(&c);
	return rc;
}
