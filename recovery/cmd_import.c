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
#include "recovery/import.h"

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

/* "kind/key" of a stream address into buf (MN__CLI_ADDR_CAP). */
static void addr_text(char *buf, const Mnemo__Export__Address *a,
		      const unsigned char *key, size_t key_len)
{
	char k[MN__CLI_KEY_CAP];
	mn__cli_key_format(k, key ? key : a->key.data,
			   key ? key_len : a->key.len);
	snprintf(buf, MN__CLI_ADDR_CAP, "%s/%s", a->kind, k);
}

/* ---- reading the stream ----------------------------------------------------
 */

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

/* Step 3: every address the import would create, looked up. Prints each
 * that exists; returns 0 or a store error. */
static int check_conflicts(istate *x)
{
	for (size_t i = 0; i < x->xs.nactors; i++) {
		const Mnemo__Export__Address *a = x->xs.actors[i].a->address;
		const unsigned char *key = x->as_key ? x->as_key : a->key.data;
		size_t key_len = x->as_key ? x->as_len : a->key.len;
		uint32_t kind = mn__import_kind_known(x, a->kind);
		mn__actor_meta m;
		char addr[MN__CLI_ADDR_CAP];
		if (!kind)
			continue;
		mn__cli_clear_detail();
		int rc =
		    mn__store_actor_find(x->c->store, kind, key, key_len, &m);
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
	free(x->wcalls);
	for (size_t i = 0; i < x->nowned; i++)
		free(x->owned[i]);
	free(x->owned);
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
		fprintf(c->err,
			"mnemo import: stream %s: %s (%s); nothing "
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
		fprintf(c->err, "mnemo import: opening store %s: %s\n", c->path,
			mn_err_name(rc));
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
    .name = "import",
    .synopsis = synopsis,
    .help = help,
    .shortopts = "k:m",
    .opts = (const struct option[]){{"as", required_argument, NULL, 'k'},
				    {"move", no_argument, NULL, 'm'},
				    {NULL, 0, NULL, 0}},
    .nargs = 2,
    .args_wrong = "STREAM and STORE expected",
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

	if ((rc = mn__cli_begin(&c, &spec, &o, argc, argv, out, err, &args)) !=
	    MN__CLI_GO)
		return rc;
	const char *stream = args[0];
	if ((rc = prepare(&x, stream, &info)))
		goto out_close;

	mn__cli_clear_detail();
	if ((rc = mn__store_kinds_scan(c.store, mn__import_on_kind, &x)) ||
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
			x.xs.nactors == 1
			    ? "; --as KEY imports under another key"
			    : "");
		rc = MN__CLI_FAIL;
		goto out_close;
	}
	if ((rc = mn__import_write_all(&x, &info, what, sizeof what))) {
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
	char calls[48] = "";
	if (x.xs.ncalls)
		snprintf(calls, sizeof calls, ", %llu pending calls",
			 (unsigned long long)x.xs.ncalls);
	fprintf(out,
		"imported %zu actor%s (%llu entries, %llu snapshots, %llu "
		"timers%s) and %zu outbox messages into %s\n",
		x.xs.nactors, x.xs.nactors == 1 ? "" : "s",
		(unsigned long long)x.xs.nentries,
		(unsigned long long)x.xs.nsnaps,
		(unsigned long long)x.xs.ntimers, calls, x.xs.noutbox, c.path);
	if (x.held_timers || x.held_outbox)
		fprintf(out,
			"a copy: %llu timer%s and %llu outbox message%s held "
			"in the quarantine (mnemo quarantine --release to let "
			"them go; --move imports them live)\n",
			(unsigned long long)x.held_timers,
			x.held_timers == 1 ? "" : "s",
			(unsigned long long)x.held_outbox,
			x.held_outbox == 1 ? "" : "s");
	if (x.held_calls)
		fprintf(out,
			"a copy: %llu pending call%s left out (the original "
			"waits for %s; --move imports them, issued again by "
			"the next runtime)\n",
			(unsigned long long)x.held_calls,
			x.held_calls == 1 ? "" : "s",
			x.held_calls == 1 ? "its reply" : "their replies");
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
