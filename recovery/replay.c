/*
 * replay.c - the replay engine (recovery/replay.h) shared by `mnemo
 * replay` and `mnemo diff`: load a plugin (dlopen, MN_PLUGIN_SYMBOL; its
 * mn_kind_def array walked by its own struct size, core/abi.h), find the
 * actor, and re-run its history from its latest snapshot (restore()) or
 * from init(), entry by entry through handle(), checking each recorded
 * state hash and each stored snapshot against the replayed state, and
 * each recorded outbound call against the request the code makes now
 * (replay_calls.c); the first difference is reported as the divergence.
 *
 * Invariants it owns: a replay reads the store only (mn__cli_open:
 * read-only, no writer lock); the kind's callbacks run in an offline
 * shell (core/offline.h) whose ctx is always replaying, so sends, replies
 * and timers do nothing, as when a runtime replays a journal
 * (core/persist.c, mn__persist_first_run); r->state is the kind's until
 * mn__rp_close (or the next run) frees it with the kind's free().
 *
 * A plugin's calls into the mn_* API resolve against the tool, which links
 * the whole runtime library and exports it (Makefile: $(TOOL)).
 *
 * Threads: the command's thread only.
 */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include "core/abi.h"
#include "core/offline.h"
#include "core/upgrade.h"
#include "include/mnemo.h"
#include "recovery/replay.h"

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

static void drop_state(mn__rp *r)
{
	if (r->have_state && r->def->free)
		r->def->free(r->state);
	r->state = NULL;
	r->have_state = false;
}

int mn__rp_load(mn__rp *r, mn__cli *c, const char *plugin)
{
	const mn_kind_def *defs;
	size_t ndefs, stride;
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
	stride = mn__kind_defs_stride(defs, ndefs);
	for (size_t i = 0; i < ndefs; i++) {
		mn_kind_def def;
		const mn_kind_def *d =
		    (const void *)((const char *)defs + i * stride);
		if (mn__kind_def_load_at(&def, d, stride) ||
		    def.size < stride) {
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

	r->defs = defs;
	r->ndefs = ndefs;
	r->stride = stride;
	return mn__cli_open(c);
}

int mn__rp_open(mn__rp *r, mn__cli *c, const char *plugin, const char *address)
{
	size_t kind_end;
	uint32_t kind_id;
	unsigned char key[MN_KEY_MAX];
	size_t key_len;
	int rc;

	if ((rc = mn__rp_load(r, c, plugin)))
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
	return mn__rp_select(r, &r->meta);
}

int mn__rp_select(mn__rp *r, const mn__actor_meta *m)
{
	mn__cli *c = r->c;
	uint32_t kind_id = m->kind_id;
	const unsigned char *key = m->key;
	size_t key_len = m->key_len;
	const char *plugin = r->plugin;
	int rc;

	drop_state(r);
	if (m != &r->meta)
		r->meta = *m;
	mn__cli_addr_format(c, r->addr, kind_id, key, key_len);
	r->kind = NULL;
	r->def = NULL;
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
		for (size_t i = 0; i < r->ndefs; i++)
			fprintf(c->err, " %s",
				((const mn_kind_def *)((const char *)r->defs +
						       i * r->stride))
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
			     const mn_buf *stored, uint32_t stored_version)
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
		enum mn__restored how;
		char why[192];
		int rrc = mn__kind_restore(r->def, ctx, stored_version, r->seq,
					   stored->data, stored->len, &st, &how,
					   why, sizeof why);
		if (rrc < 0) {
			char t[224];
			int n =
			    snprintf(t, sizeof t, "(cannot restore: %s)", why);
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
static int report_hash_divergence(mn__rp *r, uint64_t mine, uint64_t recorded)
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
	uint32_t sver = 1;
	int rc;
	if (!r->def->snapshot)
		return 0;
	mn__buf_init(&mine);
	mn__buf_init(&stored);
	mn__cli_clear_detail();
	rc = mn__store_snapshot_latest_v(c->store, c->codec, r->meta.id, r->seq,
					 &stored, &sseq, &slsn, &sver);
	if (rc == 0 && sseq != r->seq)
		rc = MN_ECORRUPT;
	if (rc == 0 && sver != r->def->version) {
		/* Bytes of another version: what rehydration would make of
		 * them (upgrade(), restore() by version), in this version's
		 * bytes. Refused: the new code cannot bring the actor back. */
		enum mn__restored how;
		char why[192];
		void *st = NULL;
		int rrc = mn__kind_restore(
		    r->def, mn__offline_ctx(r->off), sver, r->seq, stored.data,
		    stored.len, &st, &how, why, sizeof why);
		stored.len = 0;
		if (rrc == 0) {
			rrc = r->def->snapshot(st, &stored);
			if (r->def->free)
				r->def->free(st);
		}
		if (rrc) {
			fprintf(c->err,
				"mnemo %s: %s: cannot bring back the stored "
				"snapshot at seq %llu: %s\n",
				c->cmd, r->addr, (unsigned long long)r->seq,
				how == MN__RESTORED_REFUSED ||
					how == MN__RESTORED_FAILED
				    ? why
				    : "snapshot() failed");
			r->restore_how = (int)(how == MN__RESTORED_REFUSED
						   ? MN__RESTORED_REFUSED
						   : MN__RESTORED_FAILED);
			r->restore_version = sver;
			r->restore_seq = r->seq;
			mn__buf_free(&mine);
			mn__buf_free(&stored);
			return RP_DIVERGED;
		}
		sver = r->def->version;
	}
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
				rc = report_divergence(r, &mine, &stored, sver);
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
	mn__offline_set_entry(r->off, e);
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
	int rc = mn__rp_check_calls(r, e);
	if (rc)
		return rc > 0 ? RP_DIVERGED : rc;
	rc = check_hash(r, e);
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
	uint32_t snap_ver = 1;
	int rc;

	drop_state(r);
	r->target = target;
	r->replayed = r->compared = r->hashed = 0;
	r->calls_compared = r->call_divergences = 0;
	r->diverged = false;
	r->from_snapshot = false;
	r->restore_how = 0;
	r->restore_version = 0;
	r->restore_seq = 0;
	mn__buf_init(&snap);
	rc = MN_ENOACTOR;
	if (!from_start && r->def->restore && target > 0) {
		mn__cli_clear_detail();
		rc = mn__store_snapshot_latest_v(
		    c->store, c->codec, r->meta.id,
		    r->start_max ? r->start_max : target, &snap, &snap_seq,
		    &snap_lsn, &snap_ver);
		if (rc && rc != MN_ENOACTOR) {
			mn__buf_free(&snap);
			return mn__cli_store_fail(c, rc,
						  "reading the snapshot");
		}
	}
	mn__offline_set_message(r->off, NULL, NULL, 0, rc ? 0 : snap_seq);
	if (rc == 0) {
		enum mn__restored how;
		char why[192];
		int rrc = mn__kind_restore(r->def, ctx, snap_ver, snap_seq,
					   snap.data, snap.len, &r->state, &how,
					   why, sizeof why);
		mn__buf_free(&snap);
		r->restore_how = how;
		r->restore_version = snap_ver;
		r->restore_seq = snap_seq;
		if (rrc < 0) {
			r->state = NULL;
			fprintf(c->err, "mnemo %s: %s is broken: %s\n", c->cmd,
				r->addr, why);
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
