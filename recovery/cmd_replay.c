/*
 * cmd_replay.c - `mnemo replay ADDRESS --plugin LIB.so`: re-run an actor's
 * recorded history with a kind's code loaded from a shared object, print
 * the state after each message through the kind's describe(), and report
 * the first message after which the replayed state differs from the
 * recorded history (new code checked against it): by the state hash the
 * runtime recorded with each message when the kind has hash(), and by the
 * bytes of each stored snapshot.
 *
 * The engine (mn__rp_*) is shared with `mnemo diff` (cmd_diff.c). The
 * kind's callbacks run in an offline shell (core/offline.h): a ctx that is
 * always replaying, so sends, replies and timers do nothing, as when a
 * runtime replays a journal (core/persist.c, mn__persist_first_run). The
 * store is opened read-only (replay and diff write nothing; fork, compact,
 * import, rm and quarantine --release/--drop are the tool's writing
 * commands). A plugin's calls into the mn_* API resolve against the tool,
 * which links the whole runtime library and exports it (Makefile: $(TOOL)).
 */
#include <dlfcn.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/abi.h"
#include "core/offline.h"
#include "include/mnemo.h"
#include "recovery/cli.h"

/* ---- helpers ------------------------------------------------------------ */

void mn__cli_lines(FILE *f, const char *indent, const void *p, size_t len)
{
	const char *s = p, *end = s + len;
	if (len == 0) {
		fprintf(f, "%s\n", indent);
		return;
	}
	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		size_t n = nl ? (size_t)(nl - s) : (size_t)(end - s);
		fprintf(f, "%s%.*s\n", indent, (int)n, s);
		s += n + (nl ? 1 : 0);
	}
}

static int digits(const char **s, int n, int *v)
{
	int x = 0;
	for (int i = 0; i < n; i++, (*s)++) {
		if (**s < '0' || **s > '9')
			return -1;
		x = x * 10 + (**s - '0');
	}
	*v = x;
	return 0;
}

int mn__cli_parse_time(const char *s, uint64_t *unix_ms)
{
	struct tm tm = {0};
	int y, mo, d, h, mi, sec, ms = 0, off = 0;
	if (mn__cli_parse_u64(s, unix_ms) == 0)
		return 0;
	if (digits(&s, 4, &y) || *s++ != '-' || digits(&s, 2, &mo) ||
	    *s++ != '-' || digits(&s, 2, &d) || (*s != 'T' && *s != ' ') ||
	    !*s++ || digits(&s, 2, &h) || *s++ != ':' || digits(&s, 2, &mi) ||
	    *s++ != ':' || digits(&s, 2, &sec))
		return -1;
	if (*s == '.') {
		int scale = 100;
		s++;
		if (*s < '0' || *s > '9')
			return -1;
		for (; *s >= '0' && *s <= '9'; s++, scale /= 10)
			ms += (*s - '0') * scale; /* digits past ms drop */
	}
	if (*s == 'Z') {
		s++;
	} else if (*s == '+' || *s == '-') {
		int sign = *s++ == '-' ? -1 : 1, oh, om;
		if (digits(&s, 2, &oh) || *s++ != ':' || digits(&s, 2, &om) ||
		    oh > 23 || om > 59)
			return -1;
		off = sign * (oh * 60 + om) * 60;
	}
	if (*s || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
	    mi > 59 || sec > 60)
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	time_t t = timegm(&tm);
	if (t == (time_t)-1 || (int64_t)t - off < 0)
		return -1;
	*unix_ms = (uint64_t)((int64_t)t - off) * 1000u + (uint64_t)ms;
	return 0;
}

/* ---- the engine --------------------------------------------------------- */

static int load_plugin(mn__rp *r, const mn_kind_def **defs, size_t *ndefs)
{
	mn__cli *c = r->c;
	r->dl = dlopen(r->plugin, RTLD_NOW | RTLD_LOCAL);
	if (!r->dl) {
		const char *why = dlerror();
		fprintf(c->err, "mnemo %s: loading plugin %s: %s\n", c->cmd,
			r->plugin, why ? why : "dlopen failed");
		if (why && strstr(why, "undefined symbol: mn_"))
			fprintf(c->err,
				"mnemo %s: this mnemo binary does not export "
				"the mnemo API to plugins (link it with "
				"-rdynamic)\n",
				c->cmd);
		return MN__CLI_USAGE;
	}
	dlerror();
	void *sym = dlsym(r->dl, MN_PLUGIN_SYMBOL);
	if (!sym) {
		fprintf(c->err,
			"mnemo %s: plugin %s has no symbol '%s' (a plugin "
			"exports const mn_kind_def *%s(size_t *count), "
			"include/mnemo.h)\n",
			c->cmd, r->plugin, MN_PLUGIN_SYMBOL, MN_PLUGIN_SYMBOL);
		return MN__CLI_USAGE;
	}
	mn_plugin_kinds_fn fn;
	memcpy(&fn, &sym, sizeof fn); /* object to function pointer */
	*ndefs = 0;
	*defs = fn(ndefs);
	if (!*defs || *ndefs == 0) {
		fprintf(c->err, "mnemo %s: plugin %s: %s() returned no kinds\n",
			c->cmd, r->plugin, MN_PLUGIN_SYMBOL);
		return MN__CLI_USAGE;
	}
	return MN__CLI_OK;
}

int mn__rp_open(mn__rp *r, mn__cli *c, const char *plugin, const char *address)
{
	const mn_kind_def *defs;
	size_t ndefs, kind_end, stride;
	uint32_t kind_id;
	unsigned char key[MN_KEY_MAX];
	size_t key_len;
	int rc;

	memset(r, 0, sizeof *r);
	r->c = c;
	r->plugin = plugin;
	mn__buf_init(&r->scratch);
	if ((rc = load_plugin(r, &defs, &ndefs)))
		return rc;
	if ((rc = mn__offline_new(&r->off))) {
		fprintf(c->err, "mnemo %s: %s\n", c->cmd, mn_strerror(rc));
		return MN__CLI_USAGE;
	}
	/* The plugin's array has the stride of its header's mn_kind_def
	 * (the first one's size); each def is read into this library's
	 * layout (core/abi.h). */
	stride = mn__kind_def_size(defs);
	for (size_t i = 0; i < ndefs; i++) {
		mn_kind_def def;
		const mn_kind_def *d =
		    (const void *)((const char *)defs + i * stride);
		if (mn__kind_def_load(&def, d) || def.size < stride) {
			fprintf(c->err,
				"mnemo %s: plugin %s: kind %zu: a mn_kind_def "
				"of a size this mnemo cannot read (%zu)\n",
				c->cmd, plugin, i, mn__kind_def_size(d));
			return MN__CLI_USAGE;
		}
		rc = mn__offline_add_kind(r->off, def.name, &def, NULL);
		if (rc || !def.init || !def.handle) {
			fprintf(c->err,
				"mnemo %s: plugin %s: kind %zu ('%s'): %s\n",
				c->cmd, plugin, i,
				def.name ? def.name : "(null)",
				rc == MN_EEXIST ? "name defined twice"
				: rc		? "bad name"
				     : "init and handle are required");
			return MN__CLI_USAGE;
		}
	}

	if ((rc = mn__cli_open(c)))
		return rc;
	rc = mn__cli_addr_parse(c, address, &kind_id, key, &key_len, &kind_end);
	if (rc == MN_ENOKIND) {
		fprintf(c->err, "mnemo %s: no kind named '%.*s' in store %s\n",
			c->cmd, (int)kind_end, address, c->path);
		return MN__CLI_FAIL;
	}
	if (rc)
		return mn__cli_usage(c,
				     "bad address '%s': KIND/KEY expected, the "
				     "key as text or 0x and hex digits, 1 to "
				     "%d bytes",
				     address, MN_KEY_MAX);
	mn__cli_addr_format(c, r->addr, kind_id, key, key_len);
	mn__cli_clear_detail();
	rc = mn__store_actor_find(c->store, kind_id, key, key_len, &r->meta);
	if (rc == MN_ENOACTOR) {
		fprintf(c->err, "mnemo %s: no actor %s in store %s\n", c->cmd,
			r->addr, c->path);
		return MN__CLI_FAIL;
	}
	if (rc)
		return mn__cli_store_fail(c, rc, "reading the actor");
	if (mn__store_kind_name(c->store, kind_id, r->kind_name,
				sizeof r->kind_name)) {
		fprintf(c->err, "mnemo %s: kind %u of %s has no name in %s\n",
			c->cmd, kind_id, r->addr, c->path);
		return MN__CLI_FAIL;
	}
	r->kind = mn_kind_find(mn__offline_runtime(r->off), r->kind_name);
	if (!r->kind) {
		fprintf(c->err,
			"mnemo %s: plugin %s has no kind '%s' (it has:", c->cmd,
			plugin, r->kind_name);
		for (size_t i = 0; i < ndefs; i++)
			fprintf(c->err, " %s",
				((const mn_kind_def *)((const char *)defs +
						       i * stride))
				    ->name);
		fputs(")\n", c->err);
		return MN__CLI_USAGE;
	}
	r->def = mn__offline_kind_def(r->kind);
	if ((rc = mn__offline_set_actor(r->off, r->kind, key, key_len))) {
		fprintf(c->err, "mnemo %s: %s\n", c->cmd, mn_strerror(rc));
		return MN__CLI_USAGE;
	}
	return MN__CLI_OK;
}

static void drop_state(mn__rp *r)
{
	if (r->have_state && r->def->free)
		r->def->free(r->state);
	r->state = NULL;
	r->have_state = false;
}

void mn__rp_close(mn__rp *r)
{
	if (r->def)
		drop_state(r);
	free(r->snaps);
	r->snaps = NULL;
	mn__buf_free(&r->scratch);
	mn__offline_free(r->off);
	r->off = NULL;
	if (r->c)
		mn__cli_close(r->c);
	if (r->dl)
		dlclose(r->dl);
	r->dl = NULL;
}

int mn__rp_describe(mn__rp *r, const void *state, mn_buf *out)
{
	static const char none[] = "(no describe)";
	if (!r->def->describe)
		return mn_buf_append(out, none, sizeof none - 1);
	size_t len = out->len;
	int rc = r->def->describe(state, out);
	if (rc < 0) {
		char why[96];
		out->len = len;
		int n = snprintf(why, sizeof why, "(describe failed: %s)",
				 mn_err_name(rc));
		return mn_buf_append(out, why, (size_t)n);
	}
	return 0;
}

/* The sender of entry e as the kind code sees it (kind in the shell) and as
 * the tool prints it. */
static void resolve_sender(mn__rp *r, const mn__entry *e)
{
	mn__actor_meta m;
	char name[MN_KIND_NAME_MAX + 1];
	if (e->sender_id == r->sender_id && r->sender[0])
		return;
	r->sender_id = e->sender_id;
	r->sender_kind = NULL;
	r->sender_key_len = 0;
	mn__cli_actor_name(r->c, r->sender, e->sender_id);
	if (!e->sender_id ||
	    mn__store_actor_get(r->c->store, e->sender_id, &m) != 0 ||
	    mn__store_kind_name(r->c->store, m.kind_id, name, sizeof name))
		return;
	mn_kind *k = mn_kind_find(mn__offline_runtime(r->off), name);
	if (!k && mn__offline_add_kind(r->off, name, NULL, &k))
		return; /* no room: the handler sees no sender */
	r->sender_kind = k;
	memcpy(r->sender_key, m.key, m.key_len);
	r->sender_key_len = m.key_len;
}

/* Print a divergence at seq: the replayed state and the stored snapshot
 * (restored, then described). */
static int report_divergence(mn__rp *r, const mn_buf *replayed_bytes,
			     const mn_buf *stored)
{
	mn__cli *c = r->c;
	mn_buf a, b;
	void *st = NULL;
	int rc = 0;
	mn__buf_init(&a);
	mn__buf_init(&b);
	if (mn__rp_describe(r, r->state, &a))
		rc = MN_ENOMEM;
	if (!r->def->restore) {
		static const char t[] = "(no restore: cannot describe)";
		rc = rc ? rc : mn_buf_append(&b, t, sizeof t - 1);
	} else {
		mn_ctx *ctx = mn__offline_ctx(r->off);
		int rrc = r->def->restore(ctx, stored->data, stored->len, &st);
		if (rrc < 0) {
			char t[96];
			int n = snprintf(t, sizeof t, "(restore failed: %s)",
					 mn_err_name(rrc));
			rc = rc ? rc : mn_buf_append(&b, t, (size_t)n);
		} else {
			rc = rc ? rc : mn__rp_describe(r, st, &b);
			if (r->def->free)
				r->def->free(st);
		}
	}
	if (rc) {
		mn__buf_free(&a);
		mn__buf_free(&b);
		return rc;
	}
	if (c->json) {
		mn__jw w;
		mn__jw_begin(&w, c->out, "divergence");
		mn__jw_u64(&w, "seq", r->seq);
		mn__jw_bytes(&w, "replayed", a.data, a.len);
		mn__jw_bytes(&w, "stored", b.data, b.len);
		mn__jw_hex(&w, "replayed_hex", replayed_bytes->data,
			   replayed_bytes->len);
		mn__jw_hex(&w, "stored_hex", stored->data, stored->len);
		mn__jw_str(&w, "by", "snapshot");
		mn__jw_end(&w);
	} else {
		fprintf(c->out,
			"diverges at seq %llu: the replayed state differs "
			"from the stored snapshot\n"
			"  replayed (plugin code):\n",
			(unsigned long long)r->seq);
		mn__cli_lines(c->out, "    ", a.data, a.len);
		fputs("  stored (recorded history):\n", c->out);
		mn__cli_lines(c->out, "    ", b.data, b.len);
	}
	mn__buf_free(&a);
	mn__buf_free(&b);
	return 0;
}

/* Stop codes of the history walk (positive: never an MN_E* code). */
#define RP_DONE	    1
#define RP_DIVERGED 2

/* The hash the runtime records for a state (0 is stored as 1: 0 means
 * none; core/persist.c). */
static uint64_t state_hash(mn__rp *r)
{
	uint64_t h = r->def->hash(r->state);
	return h ? h : 1;
}

/* Print a divergence by hash at r->seq: the replayed state's hash and
 * description, the recorded hash (the recorded state itself is stored only
 * at snapshots). */
static int report_hash_divergence(mn__rp *r, uint64_t mine,
				  uint64_t recorded)
{
	mn__cli *c = r->c;
	mn_buf a;
	char hm[24], hr[24];
	mn__buf_init(&a);
	if (mn__rp_describe(r, r->state, &a)) {
		mn__buf_free(&a);
		return MN_ENOMEM;
	}
	snprintf(hm, sizeof hm, "0x%016llx", (unsigned long long)mine);
	snprintf(hr, sizeof hr, "0x%016llx", (unsigned long long)recorded);
	if (c->json) {
		mn__jw w;
		mn__jw_begin(&w, c->out, "divergence");
		mn__jw_u64(&w, "seq", r->seq);
		mn__jw_bytes(&w, "replayed", a.data, a.len);
		mn__jw_null(&w, "stored");
		mn__jw_str(&w, "replayed_hash", hm);
		mn__jw_str(&w, "recorded_hash", hr);
		mn__jw_str(&w, "by", "hash");
		mn__jw_end(&w);
	} else {
		fprintf(c->out,
			"diverges at seq %llu: the replayed state's hash "
			"differs from the one recorded after this message\n"
			"  replayed (plugin code): hash %s\n",
			(unsigned long long)r->seq, hm);
		mn__cli_lines(c->out, "    ", a.data, a.len);
		fprintf(c->out,
			"  recorded (history): hash %s\n"
			"    (the store keeps the state itself only at "
			"snapshots)\n",
			hr);
	}
	mn__buf_free(&a);
	return 0;
}

/* Compare the replayed state after entry e with the hash recorded with it
 * (when both the kind and the entry have one). */
static int check_hash(mn__rp *r, const mn__entry *e)
{
	if (!r->def->hash || !e->state_hash)
		return 0;
	uint64_t h = state_hash(r);
	r->hashed++;
	if (h == e->state_hash)
		return 0;
	r->diverged = true;
	r->diverged_seq = r->seq;
	int rc = report_hash_divergence(r, h, e->state_hash);
	return rc ? rc : RP_DIVERGED;
}

/* Compare the replayed state after r->seq with the stored snapshot there. */
static int check_snapshot(mn__rp *r)
{
	mn__cli *c = r->c;
	mn_buf mine, stored;
	uint64_t sseq, slsn;
	int rc;
	if (!r->def->snapshot)
		return 0;
	mn__buf_init(&mine);
	mn__buf_init(&stored);
	mn__cli_clear_detail();
	rc = mn__store_snapshot_latest(c->store, c->codec, r->meta.id, r->seq,
				       &stored, &sseq, &slsn);
	if (rc == 0 && sseq != r->seq)
		rc = MN_ECORRUPT;
	if (rc == 0) {
		int src = r->def->snapshot(r->state, &mine);
		if (src < 0) {
			fprintf(c->err,
				"mnemo %s: %s: snapshot() of the state after "
				"seq %llu failed: %s\n",
				c->cmd, r->addr, (unsigned long long)r->seq,
				mn_err_name(src));
			rc = RP_DIVERGED;
			r->diverged = true;
			r->diverged_seq = r->seq;
		} else {
			r->compared++;
			if (mine.len != stored.len ||
			    (mine.len &&
			     memcmp(mine.data, stored.data, mine.len) != 0)) {
				r->diverged = true;
				r->diverged_seq = r->seq;
				rc = report_divergence(r, &mine, &stored);
				if (rc == 0)
					rc = RP_DIVERGED;
			}
		}
	}
	mn__buf_free(&mine);
	mn__buf_free(&stored);
	return rc;
}

static int replay_entry(void *arg, const mn__entry *e)
{
	mn__rp *r = arg;
	if (e->seq > r->target)
		return RP_DONE;
	resolve_sender(r, e);
	mn__offline_set_message(r->off, r->sender_kind, r->sender_key,
				r->sender_key_len, e->seq);
	mn__offline_set_timer_ids(r->off, e->timer_ids, e->n_timer_ids);
	mn_msg view = {
	    .type = e->type,
	    .flags = e->flags & 0xffu, /* the public MN_MSG_* bits */
	    .payload = e->len ? e->payload : NULL,
	    .len = e->len,
	};
	int hrc = r->def->handle(mn__offline_ctx(r->off), r->state, &view);
	r->seq = e->seq;
	r->replayed++;
	if (r->cb) {
		int rc = r->cb(r->cb_arg, r, e, hrc);
		if (rc)
			return rc;
	}
	int rc = check_hash(r, e);
	if (rc)
		return rc;
	while (r->next_snap < r->nsnaps && r->snaps[r->next_snap] < e->seq)
		r->next_snap++;
	if (r->next_snap < r->nsnaps && r->snaps[r->next_snap] == e->seq) {
		r->next_snap++;
		if ((rc = check_snapshot(r)))
			return rc;
	}
	return e->seq >= r->target ? RP_DONE : 0;
}

/* The seqs of the stored snapshots in (after, upto], ascending. */
static int list_snapshots(mn__rp *r, uint64_t after, uint64_t upto)
{
	mn__cli *c = r->c;
	mn_buf tmp;
	size_t cap = 0;
	int rc = 0;
	mn__buf_init(&tmp);
	r->nsnaps = r->next_snap = 0;
	while (upto > after) {
		uint64_t seq, lsn;
		tmp.len = 0;
		mn__cli_clear_detail();
		rc = mn__store_snapshot_latest(c->store, c->codec, r->meta.id,
					       upto, &tmp, &seq, &lsn);
		if (rc == MN_ENOACTOR) {
			rc = 0;
			break;
		}
		if (rc)
			break;
		if (seq <= after)
			break;
		if (r->nsnaps == cap) {
			size_t ncap = cap ? 2 * cap : 16;
			uint64_t *n = realloc(r->snaps, ncap * sizeof *n);
			if (!n) {
				rc = MN_ENOMEM;
				break;
			}
			r->snaps = n;
			cap = ncap;
		}
		r->snaps[r->nsnaps++] = seq;
		upto = seq - 1;
	}
	mn__buf_free(&tmp);
	for (size_t i = 0; i < r->nsnaps / 2; i++) {
		uint64_t t = r->snaps[i];
		r->snaps[i] = r->snaps[r->nsnaps - 1 - i];
		r->snaps[r->nsnaps - 1 - i] = t;
	}
	return rc;
}

int mn__rp_run(mn__rp *r, uint64_t target, bool from_start)
{
	mn__cli *c = r->c;
	mn_ctx *ctx = mn__offline_ctx(r->off);
	mn_buf snap;
	uint64_t snap_seq = 0, snap_lsn;
	int rc;

	drop_state(r);
	r->target = target;
	r->replayed = r->compared = r->hashed = 0;
	r->diverged = false;
	r->from_snapshot = false;
	mn__buf_init(&snap);
	rc = MN_ENOACTOR;
	if (!from_start && r->def->restore && target > 0) {
		mn__cli_clear_detail();
		rc = mn__store_snapshot_latest(c->store, c->codec, r->meta.id,
					       target, &snap, &snap_seq,
					       &snap_lsn);
		if (rc && rc != MN_ENOACTOR) {
			mn__buf_free(&snap);
			return mn__cli_store_fail(c, rc,
						  "reading the snapshot");
		}
	}
	mn__offline_set_message(r->off, NULL, NULL, 0, rc ? 0 : snap_seq);
	if (rc == 0) {
		int rrc = r->def->restore(ctx, snap.data, snap.len, &r->state);
		mn__buf_free(&snap);
		if (rrc < 0) {
			fprintf(c->err,
				"mnemo %s: %s is broken: restore() refused "
				"the snapshot at seq %llu: %s\n",
				c->cmd, r->addr, (unsigned long long)snap_seq,
				mn_err_name(rrc));
			return MN__CLI_FAIL;
		}
		r->from_snapshot = true;
		r->start_seq = snap_seq;
	} else {
		mn__buf_free(&snap);
		int irc = r->def->init(ctx, &r->state);
		if (irc < 0) {
			fprintf(c->err, "mnemo %s: %s: init() failed: %s\n",
				c->cmd, r->addr, mn_err_name(irc));
			return MN__CLI_FAIL;
		}
		r->start_seq = 0;
	}
	r->have_state = true;
	r->seq = r->start_seq;
	if (r->cb && (rc = r->cb(r->cb_arg, r, NULL, 0)))
		return rc == MN_ENOMEM ? MN__CLI_USAGE : MN__CLI_FAIL;
	if ((rc = list_snapshots(r, r->start_seq, target)))
		return mn__cli_store_fail(c, rc, "listing the snapshots");
	if (target <= r->start_seq)
		return MN__CLI_OK;

	mn__cli_clear_detail();
	rc = mn__store_history_of(c->store, c->codec, r->meta.id,
				  r->meta.last_lsn, r->start_seq, replay_entry,
				  r);
	if (rc == RP_DIVERGED)
		return MN__CLI_FAIL;
	if (rc < 0) {
		fflush(c->out);
		return mn__cli_store_fail(c, rc, "reading the journal");
	}
	if (r->seq != target) {
		fflush(c->out);
		fprintf(c->err,
			"mnemo %s: %s: the journal ends at seq %llu, before "
			"seq %llu (verify lists the damage)\n",
			c->cmd, r->addr, (unsigned long long)r->seq,
			(unsigned long long)target);
		return MN__CLI_FAIL;
	}
	return MN__CLI_OK;
}

typedef struct at_scan {
	uint64_t unix_ms, seq;
} at_scan;

static int at_entry(void *arg, const mn__entry *e)
{
	at_scan *a = arg;
	if (e->unix_ms > a->unix_ms)
		return RP_DONE;
	a->seq = e->seq;
	return 0;
}

int mn__rp_seq_at(mn__rp *r, uint64_t unix_ms, uint64_t *seq)
{
	at_scan a = {.unix_ms = unix_ms};
	mn__cli_clear_detail();
	int rc = mn__store_history_of(r->c->store, r->c->codec, r->meta.id,
				      r->meta.last_lsn, 0, at_entry, &a);
	if (rc < 0) {
		return mn__cli_store_fail(r->c, rc, "reading the journal");
	}
	*seq = a.seq;
	return 0;
}

/* ---- mnemo replay -------------------------------------------------------- */

static const char synopsis[] =
    "mnemo replay ADDRESS --plugin LIB.so [--to SEQ | --at TIME] "
    "[--from-start] [--json] STORE";

static const char help[] =
    "NAME\n"
    "    mnemo replay - re-run an actor's history with a kind's code\n"
    "\n"
    "SYNOPSIS\n"
    "    mnemo replay ADDRESS --plugin LIB.so [--to SEQ | --at TIME]\n"
    "                 [--from-start] [--json] STORE\n"
    "\n"
    "DESCRIPTION\n"
    "    Loads LIB.so, calls its entry symbol mnemo_plugin_kinds\n"
    "    (MN_PLUGIN_SYMBOL in mnemo.h) for its kinds, and replays the actor\n"
    "    at ADDRESS with the kind of its name: from the actor's latest\n"
    "    snapshot at or before the target (restore()), or with\n"
    "    --from-start from init(), then each recorded message through\n"
    "    handle(), printing after each one its seq, LSN, time, type and\n"
    "    sender and the state as the kind's describe() writes it.\n"
    "    Handlers run in replay mode (mn_ctx_replaying() is true): their\n"
    "    sends, replies and timers do nothing. Nothing is written.\n"
    "\n"
    "    The replayed state is checked against the recorded history:\n"
    "    when the kind has hash() and the runtime recorded a state hash\n"
    "    with each message, the hash after every message; and each stored\n"
    "    snapshot inside the replayed range, byte for byte, against the\n"
    "    kind's snapshot() after the same message. The first difference\n"
    "    is reported as 'diverges at seq S' with the replayed state\n"
    "    described (and the stored one, at a snapshot; a hash alone\n"
    "    cannot be described), and the replay stops there. With\n"
    "    --from-start every message is checked from init(): the way to\n"
    "    test changed code against recorded histories.\n"
    "\n"
    "OPTIONS\n"
    "    -p, --plugin LIB.so  the shared object with the kinds' code\n"
    "                         (a path: give ./x.so for one here)\n"
    "    -t, --to SEQ         stop after message SEQ (default: the last)\n"
    "    -a, --at TIME        stop after the last message handled at or\n"
    "                         before TIME: ISO 8601 (2026-11-25T07:57:00Z,\n"
    "                         UTC unless a zone is given) or unix ms\n"
    "    -s, --from-start     start from init(), not from a snapshot\n"
    "    -j, --json           JSON lines: \"replay\", \"start\", one\n"
    "                         \"state\" per message, \"divergence\",\n"
    "                         \"summary\"\n"
    "    -h, --help           this text\n"
    "\n"
    "EXIT STATUS\n"
    "    0 replayed, every state hash and stored snapshot compared\n"
    "    matched; 1 divergence, an actor that cannot be brought back\n"
    "    (init or restore failed), no such actor or kind in the store, a\n"
    "    damaged record, or a crash of the reader (the plugin's code or\n"
    "    a damaged store; docs/tool.md); 2 usage error, a plugin that\n"
    "    cannot be loaded or lacks the entry symbol or the kind, or the\n"
    "    store cannot be opened.\n"
    "\n"
    "EXAMPLE\n"
    "    mnemo replay agent/alice --plugin ./agents.so ./data\n"
    "    mnemo replay agent/alice --plugin ./new.so --from-start ./data\n"
    "    mnemo replay agent/alice --plugin ./agents.so --to 40 --json "
    "./data\n";

typedef struct rpout {
	mn__rp *r;
	mn_buf desc;
} rpout;

static int print_state(void *arg, mn__rp *r, const mn__entry *e, int hrc)
{
	rpout *o = arg;
	mn__cli *c = r->c;
	char t[MN__CLI_TIME_CAP], fl[64];
	o->desc.len = 0;
	if (mn__rp_describe(r, r->state, &o->desc))
		return MN_ENOMEM;
	if (c->json) {
		mn__jw w;
		mn__jw_begin(&w, c->out, e ? "state" : "start");
		mn__jw_u64(&w, "seq", r->seq);
		if (e) {
			mn__jw_u64(&w, "lsn", e->lsn);
			mn__jw_time(&w, "time", e->unix_ms);
			mn__jw_u64(&w, "unix_ms", e->unix_ms);
			mn__jw_u64(&w, "type", e->type);
			mn__jw_u64(&w, "sender_id", e->sender_id);
			mn__jw_str(&w, "sender", r->sender);
			mn__jw_u64(&w, "flags", e->flags);
			mn__jw_i64(&w, "handle_rc", hrc);
		} else {
			mn__jw_str(&w, "from",
				   r->from_snapshot ? "snapshot" : "init");
		}
		mn__jw_bytes(&w, "state", o->desc.data, o->desc.len);
		mn__jw_end(&w);
		return 0;
	}
	if (!e) {
		if (r->from_snapshot)
			fprintf(c->out,
				"seq %llu  restored from the snapshot\n",
				(unsigned long long)r->seq);
		else
			fputs("seq 0  init\n", c->out);
	} else {
		mn__cli_time(t, e->unix_ms);
		mn__cli_flags(fl, e->flags);
		fprintf(c->out,
			"seq %llu  lsn %llu  %s  type %u  from %s  flags %s",
			(unsigned long long)e->seq, (unsigned long long)e->lsn,
			t, e->type, r->sender, fl);
		if (hrc)
			fprintf(c->out, "  handle: %s", mn_err_name(hrc));
		fputc('\n', c->out);
	}
	mn__cli_lines(c->out, "    ", o->desc.data, o->desc.len);
	return 0;
}

int mn__cmd_replay(int argc, char **argv, FILE *out, FILE *err)
{
	static const struct option opts[] = {
	    {"plugin", required_argument, NULL, 'p'},
	    {"to", required_argument, NULL, 't'},
	    {"at", required_argument, NULL, 'a'},
	    {"from-start", no_argument, NULL, 's'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	mn__cli c;
	mn__rp r;
	rpout o;
	const char *plugin = NULL;
	uint64_t to = 0, at = 0;
	bool have_to = false, have_at = false, from_start = false;
	int ch, rc;

	mn__cli_init(&c, "replay", synopsis, out, err);
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":p:t:a:sjh", opts, NULL)) != -1) {
		switch (ch) {
		case 'p':
			plugin = optarg;
			break;
		case 't':
			if (mn__cli_parse_u64(optarg, &to))
				return mn__cli_usage(
				    &c,
				    "--to wants a sequence number, not '%s'",
				    optarg);
			have_to = true;
			break;
		case 'a':
			if (mn__cli_parse_time(optarg, &at))
				return mn__cli_usage(
				    &c,
				    "--at wants ISO 8601 "
				    "(2026-11-25T07:57:00.804Z) or unix ms, "
				    "not '%s'",
				    optarg);
			have_at = true;
			break;
		case 's':
			from_start = true;
			break;
		case 'j':
			c.json = true;
			break;
		case 'h':
			fputs(help, out);
			return MN__CLI_OK;
		default:
			return mn__cli_bad_option(&c, ch, argv);
		}
	}
	if (argc - optind != 2)
		return mn__cli_usage(&c, "ADDRESS and STORE expected");
	if (!plugin)
		return mn__cli_usage(&c, "--plugin LIB.so is required");
	if (have_to && have_at)
		return mn__cli_usage(&c, "--to and --at exclude each other");
	c.path = argv[optind + 1];
	if ((rc = mn__rp_open(&r, &c, plugin, argv[optind])))
		goto out;

	uint64_t target = r.meta.last_seq;
	if (have_to) {
		if (to > r.meta.last_seq) {
			rc = mn__cli_usage(&c,
					   "--to %llu is past the last message "
					   "of %s (seq %llu)",
					   (unsigned long long)to, r.addr,
					   (unsigned long long)r.meta.last_seq);
			goto out;
		}
		target = to;
	} else if (have_at && (rc = mn__rp_seq_at(&r, at, &target))) {
		goto out;
	}

	if (c.json) {
		mn__jw w;
		mn__jw_begin(&w, out, "replay");
		mn__jw_str(&w, "address", r.addr);
		mn__jw_str(&w, "store", c.path);
		mn__jw_str(&w, "plugin", plugin);
		mn__jw_str(&w, "kind", r.kind_name);
		mn__jw_u64(&w, "last_seq", r.meta.last_seq);
		mn__jw_u64(&w, "to_seq", target);
		mn__jw_bool(&w, "from_start", from_start);
		mn__jw_end(&w);
	} else {
		fprintf(
		    out, "replay %s to seq %llu (last %llu), kind %s from %s\n",
		    r.addr, (unsigned long long)target,
		    (unsigned long long)r.meta.last_seq, r.kind_name, plugin);
	}
	o.r = &r;
	mn__buf_init(&o.desc);
	r.cb = print_state;
	r.cb_arg = &o;
	rc = mn__rp_run(&r, target, from_start);
	mn__buf_free(&o.desc);
	if (c.json) {
		mn__jw w;
		mn__jw_begin(&w, out, "summary");
		mn__jw_u64(&w, "start_seq", r.start_seq);
		mn__jw_str(&w, "start", r.from_snapshot ? "snapshot" : "init");
		mn__jw_u64(&w, "replayed", r.replayed);
		mn__jw_u64(&w, "last_seq", r.seq);
		mn__jw_u64(&w, "snapshots_compared", r.compared);
		mn__jw_u64(&w, "hashes_compared", r.hashed);
		mn__jw_bool(&w, "diverged", r.diverged);
		if (r.diverged)
			mn__jw_u64(&w, "diverged_seq", r.diverged_seq);
		else
			mn__jw_null(&w, "diverged_seq");
		mn__jw_bool(&w, "ok", rc == MN__CLI_OK);
		mn__jw_end(&w);
	} else if (rc == MN__CLI_OK) {
		fprintf(
		    out,
		    "replayed %llu message%s (seq %llu..%llu) from %s; "
		    "%llu stored snapshot%s and %llu state hash%s compared: "
		    "%s\n",
		    (unsigned long long)r.replayed, r.replayed == 1 ? "" : "s",
		    (unsigned long long)r.start_seq + (r.replayed ? 1 : 0),
		    (unsigned long long)r.seq,
		    r.from_snapshot ? "the snapshot" : "init",
		    (unsigned long long)r.compared, r.compared == 1 ? "" : "s",
		    (unsigned long long)r.hashed, r.hashed == 1 ? "" : "es",
		    r.compared || r.hashed ? "all match"
					   : "nothing to compare");
	}
out:
	mn__rp_close(&r);
	return rc;
}
