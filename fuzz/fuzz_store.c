/*
 * fuzz_store.c - libFuzzer target for the store's record decoders, end to
 * end: the fuzz bytes become one value of a small real store, which is then
 * opened read-only and read the way the mnemo tool reads it. Every call
 * must return 0 or an MN_E* code; nothing may crash, leak or read out of
 * bounds.
 *
 * Setup (once): a runtime writes a store in a temporary directory (kinds
 * "agent" with snapshots and "tool"; journal entries with raw and
 * zstd-compressed payloads, snapshots, a pending timer, outbox entries left
 * by a close without drain). The keys of each database are listed.
 *
 * Input layout: byte 0 = database (low 4 bits, modulo 9: meta, kinds,
 * names, actors, log, outbox, snapshots, timers, dicts) and flags: 0x80 =
 * rewrite the frame's CRC-32C so the record gets past the checksum into the
 * protobuf and invariant checks; 0x40 = write at a new key (after the last one)
 * instead of over an existing one (always, for a database that is empty). Byte
 * 1 = which existing key. The rest = the value.
 *
 * Per input: the value is written with LMDB (the previous input's value is
 * put back in the same transaction), then mn__store_open(read_only),
 * mn__store_verify, mn__store_log_scan, mn__store_outbox_scan,
 * mn__store_actors_scan with each actor's history and latest snapshot,
 * mn__store_kinds_scan, mn__store_timers_due, mn__store_stats_get.
 *
 * MN_FUZZ_WRITE_SEEDS=DIR: write a seed corpus (every record of the store,
 * one file each, framed as above with the CRC flag) into DIR and exit.
 */
#include <lmdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "include/mnemo.h"
#include "base/crc32c.h"
#include "storage/store.h"

static const char *db_names[] = {"meta",      "kinds",	"names",
				 "actors",    "log",	"outbox",
				 "snapshots", "timers", "dicts"};
#define NDB	(sizeof db_names / sizeof db_names[0])
#define MAXKEYS 64

typedef struct rec {
	unsigned char *key, *val;
	size_t klen, vlen;
} rec;

static struct {
	rec keys[MAXKEYS];
	unsigned nkeys;
	unsigned char newkey[512];
	size_t newklen;
} dbs[NDB];
static unsigned ndbs; /* databases with records */
static char dir[256];

/* What the previous input changed: put back before the next. */
static struct {
	int active;
	unsigned db;
	int is_new;
	unsigned k;
} undo;

static void die(const char *what, int rc)
{
	fprintf(stderr, "fuzz_store: %s: %d (%s)\n", what, rc,
		mdb_strerror(rc));
	abort();
}

/* ---- making the store ------------------------------------------------------
 */

static int agent_init(mn_ctx *ctx, void **state)
{
	(void)ctx;
	*state = calloc(1, 64);
	return *state ? 0 : MN_ENOMEM;
}

static int agent_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	unsigned char *s = state;
	s[msg->type % 64]++;
	if (msg->type == 2) { /* ask the tool: an inter-actor message */
		mn_kind *tool = mn_kind_find(mn_ctx_runtime(ctx), "tool");
		return mn_ctx_send(ctx, tool, "search", 6, 1, msg->payload,
				   msg->len);
	}
	if (msg->type == 3)
		return mn_ctx_after(ctx, 3600 * 1000, 4, "later", 5, NULL);
	return 0;
}

static int agent_snapshot(const void *state, mn_buf *out)
{
	return mn_buf_append(out, state, 64);
}

static int agent_restore(mn_ctx *ctx, const void *b, size_t len, void **st)
{
	(void)ctx;
	if (len != 64)
		return MN_ECORRUPT;
	*st = malloc(64);
	if (!*st)
		return MN_ENOMEM;
	memcpy(*st, b, 64);
	return 0;
}

static int tool_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	(void)state;
	(void)msg;
	if (mn_ctx_sender(ctx, &(mn_addr){0}) == 0)
		return mn_ctx_reply(ctx, 5, "result: 42 items", 16);
	return 0;
}

static int tool_init(mn_ctx *ctx, void **state)
{
	(void)ctx;
	*state = NULL;
	return 0;
}

static const mn_kind_def agent_def = {.name = "agent",
				      .init = agent_init,
				      .handle = agent_handle,
				      .snapshot = agent_snapshot,
				      .restore = agent_restore,
				      .free = free,
				      .snapshot_every = 2};
static const mn_kind_def tool_def = {
    .name = "tool", .init = tool_init, .handle = tool_handle};

static void make_store(void)
{
	static const char text[] =
	    "{\"role\":\"user\",\"content\":\"please summarise the last "
	    "three invoices of customer 1042 and reply with the totals, "
	    "the currency and the due dates, one line each\"}";
	mn_runtime_opts o = {.workers = 1,
			     .store_path = dir,
			     .durability = MN_DURABILITY_RELAXED};
	mn_runtime *rt;
	mn_kind *agent, *tool;
	if (mn_runtime_open(&o, &rt) ||
	    mn_kind_register(rt, &tool_def, &tool) ||
	    mn_kind_register(rt, &agent_def, &agent))
		die("runtime", 0);
	static const char *keys[] = {"alice", "bob", "\x00\x01\xfe\xff"};
	for (unsigned i = 0; i < 3; i++) {
		size_t kl = i == 2 ? 4 : strlen(keys[i]);
		mn_send(rt, agent, keys[i], kl, 1, "hi", 2);
		mn_send(rt, agent, keys[i], kl, 2, text, sizeof text - 1);
		mn_runtime_drain(rt);
		mn_send(rt, agent, keys[i], kl, 1, text, sizeof text - 1);
		mn_send(rt, agent, keys[i], kl, 3, NULL, 0);
		mn_runtime_drain(rt);
	}
	/* Left in the outbox: durable sends not yet handled at close. */
	mn_send_durable(rt, agent, "carol", 5, 1, text, 40);
	mn_send_durable(rt, agent, "carol", 5, 2, text, sizeof text - 1);
	mn_runtime_close(rt);

	/* A trained dictionary for kind 1 (a "dicts" record; records the
	 * fuzzer marks as codec 2, dictionary 1, decompress with it). */
	static char samples[200 * 128];
	static size_t sizes[200];
	static unsigned char dict[2048];
	size_t off = 0, dlen = 0;
	uint32_t id;
	mn__store *st;
	for (unsigned i = 0; i < 200; i++) {
		int n =
		    snprintf(samples + off, 128,
			     "{\"turn\":%u,\"content\":\"invoice %u of "
			     "customer %u: total %u.%02u EUR\"}",
			     i, i * 7 % 100, i * 37 % 1000, i * 13, i % 100);
		sizes[i] = (size_t)n;
		off += sizes[i];
	}
	if (mn__store_open(dir, NULL, &st, NULL) ||
	    mn__dict_train(samples, sizes, 200, sizeof dict, dict, &dlen) ||
	    mn__store_dict_add(st, 1, dict, dlen, &id))
		die("dictionary", 0);
	mn__store_close(st);
}

/* ---- the keys of each database ----------------------------------------- */

static void env_open(MDB_env **env, unsigned flags)
{
	int rc;
	if ((rc = mdb_env_create(env)))
		die("mdb_env_create", rc);
	mdb_env_set_maxdbs(*env, 16);
	mdb_env_set_mapsize(*env, MN__STORE_MAP_INIT);
	if ((rc = mdb_env_open(*env, dir, flags | MDB_NOSYNC, 0640)))
		die("mdb_env_open", rc);
}

static void *memdup(const void *p, size_t n)
{
	void *q = malloc(n ? n : 1);
	if (!q)
		abort();
	memcpy(q, p, n);
	return q;
}

static void list_keys(void)
{
	MDB_env *env;
	MDB_txn *txn;
	env_open(&env, MDB_RDONLY);
	if (mdb_txn_begin(env, NULL, MDB_RDONLY, &txn))
		die("txn", 0);
	for (unsigned d = 0; d < NDB; d++) {
		MDB_dbi dbi;
		MDB_cursor *cur;
		MDB_val k, v;
		if (mdb_dbi_open(txn, db_names[d], 0, &dbi) ||
		    mdb_cursor_open(txn, dbi, &cur))
			continue;
		int op = MDB_FIRST;
		while (dbs[d].nkeys < MAXKEYS &&
		       mdb_cursor_get(cur, &k, &v, op) == 0) {
			rec *r = &dbs[d].keys[dbs[d].nkeys++];
			r->key = memdup(k.mv_data, k.mv_size);
			r->klen = k.mv_size;
			r->val = memdup(v.mv_data, v.mv_size);
			r->vlen = v.mv_size;
			op = MDB_NEXT;
		}
		mdb_cursor_close(cur);
		if (!dbs[d].nkeys) {
			/* Empty (the outbox, when the durable sends were
			 * handled before the close): a new key 1, u64 (u32
			 * for dictionaries). */
			dbs[d].newklen = strcmp(db_names[d], "dicts") ? 8 : 4;
			memset(dbs[d].newkey, 0, dbs[d].newklen);
			dbs[d].newkey[dbs[d].newklen - 1] = 1;
			continue;
		}
		/* A new key after the last: its last byte plus one (a new
		 * LSN, outbox id, actor id ... for the integer keys). */
		rec *last = &dbs[d].keys[dbs[d].nkeys - 1];
		memcpy(dbs[d].newkey, last->key, last->klen);
		dbs[d].newklen = last->klen;
		for (size_t i = last->klen; i-- > 0;)
			if (++dbs[d].newkey[i] != 0)
				break;
		ndbs++;
	}
	mdb_txn_abort(txn);
	mdb_env_close(env);
}

static void cleanup(void)
{
	char cmd[400];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzz_store: could not remove %s\n", dir);
}

static void write_seeds(const char *out)
{
	unsigned n = 0;
	for (unsigned d = 0; d < NDB; d++) {
		for (unsigned k = 0; k < dbs[d].nkeys && k < 8; k++) {
			char path[4096];
			snprintf(path, sizeof path, "%s/%s-%u", out,
				 db_names[d], k);
			FILE *f = fopen(path, "wb");
			if (!f) {
				perror(path);
				exit(1);
			}
			unsigned char h[2] = {(unsigned char)(d | 0x80),
					      (unsigned char)k};
			fwrite(h, 1, 2, f);
			fwrite(dbs[d].keys[k].val, 1, dbs[d].keys[k].vlen, f);
			fclose(f);
			n++;
		}
	}
	fprintf(stderr, "fuzz_store: %u seeds written to %s\n", n, out);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	snprintf(dir, sizeof dir, "%s/mnemo-fuzz-store-%d",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
	cleanup();
	make_store();
	list_keys();
	atexit(cleanup);
	if (ndbs == 0) {
		fprintf(stderr, "fuzz_store: the store has no records\n");
		abort();
	}
	const char *seeds = getenv("MN_FUZZ_WRITE_SEEDS");
	if (seeds && *seeds) {
		write_seeds(seeds);
		exit(0);
	}
	return 0;
}

/* ---- one input -------------------------------------------------------------
 */

static void poke(unsigned d, int is_new, unsigned k, const uint8_t *val,
		 size_t vlen)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	int rc;
	env_open(&env, 0);
	if ((rc = mdb_txn_begin(env, NULL, 0, &txn)))
		die("txn", rc);
	if (undo.active) {
		unsigned ud = undo.db;
		if ((rc = mdb_dbi_open(txn, db_names[ud], 0, &dbi)))
			die("dbi", rc);
		if (undo.is_new) {
			MDB_val key = {dbs[ud].newklen, dbs[ud].newkey};
			rc = mdb_del(txn, dbi, &key, NULL);
		} else {
			rec *r = &dbs[ud].keys[undo.k];
			MDB_val key = {r->klen, r->key}, v = {r->vlen, r->val};
			rc = mdb_put(txn, dbi, &key, &v, 0);
		}
		if (rc && rc != MDB_NOTFOUND)
			die("undo", rc);
	}
	if ((rc = mdb_dbi_open(txn, db_names[d], 0, &dbi)))
		die("dbi", rc);
	MDB_val key, v = {vlen, (void *)val};
	if (is_new)
		key = (MDB_val){dbs[d].newklen, dbs[d].newkey};
	else
		key = (MDB_val){dbs[d].keys[k].klen, dbs[d].keys[k].key};
	if ((rc = mdb_put(txn, dbi, &key, &v, 0)))
		die("put", rc);
	if ((rc = mdb_txn_commit(txn)))
		die("commit", rc);
	mdb_env_close(env);
	undo.active = 1;
	undo.db = d;
	undo.is_new = is_new;
	undo.k = k;
}

typedef struct walk {
	mn__store *s;
	mn__codec *codec;
	uint64_t n;
} walk;

static int count_entry(void *arg, const mn__entry *e)
{
	walk *w = arg;
	/* Touch the decoded bytes: ASan checks they are really there. */
	volatile unsigned char x = 0;
	for (size_t i = 0; i < e->len; i++)
		x ^= ((const unsigned char *)e->payload)[i];
	for (size_t i = 0; i < e->key_len; i++)
		x ^= ((const unsigned char *)e->key)[i];
	(void)x;
	w->n++;
	return 0;
}

static int on_actor(void *arg, const mn__actor_meta *m)
{
	walk *w = arg;
	char name[MN_KIND_NAME_MAX + 1];
	mn__actor_meta again;
	mn_buf state;
	uint64_t seq = 0, lsn = 0;
	mn__buf_init(&state);
	(void)mn__store_kind_name(w->s, m->kind_id, name, sizeof name);
	(void)mn__store_actor_get(w->s, m->id, &again);
	(void)mn__store_actor_find(w->s, m->kind_id, m->key, m->key_len,
				   &again);
	if (mn__store_snapshot_latest(w->s, w->codec, m->id, UINT64_MAX, &state,
				      &seq, &lsn) != 0)
		seq = 0;
	mn__buf_free(&state);
	(void)mn__store_history(w->s, w->codec, m->last_lsn, seq, count_entry,
				w);
	return 0;
}

static int on_problem(void *arg, const char *text)
{
	(void)arg;
	(void)strlen(text);
	return 0;
}

static int on_timer(void *arg, const mn__wtimer *t)
{
	walk *w = arg;
	volatile unsigned char x = 0;
	for (size_t i = 0; i < t->len; i++)
		x ^= ((const unsigned char *)t->payload)[i];
	(void)x;
	w->n++;
	return 0;
}

static int on_kind(void *arg, uint32_t id, const char *name, uint32_t dict)
{
	(void)arg;
	(void)id;
	(void)dict;
	(void)strlen(name);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	unsigned d = (data[0] & 0x0f) % NDB;
	int fix_crc = (data[0] & 0x80) != 0;
	int is_new = (data[0] & 0x40) != 0 || dbs[d].nkeys == 0;
	unsigned k = dbs[d].nkeys ? data[1] % dbs[d].nkeys : 0;
	size_t vlen = size - 2;
	uint8_t *val = memdup(data + 2, vlen);
	if (fix_crc && vlen >= 8) {
		uint32_t crc = mn__crc32c(0, val + 4, vlen - 4);
		memcpy(val, &crc, 4); /* little-endian */
	}
	poke(d, is_new, k, val, vlen);
	free(val);

	mn__store_opts o = {.read_only = true};
	mn__store *s = NULL;
	mn__store_info info;
	if (mn__store_open(dir, &o, &s, &info) != 0)
		return 0;
	walk w = {.s = s};
	if (mn__codec_new(mn__store_dicts(s), &w.codec) == 0) {
		uint64_t nrec = 0, nprob = 0;
		mn__store_stats st;
		(void)mn__store_verify(s, w.codec, on_problem, NULL, &nrec,
				       &nprob);
		(void)mn__store_log_scan(s, w.codec, 0, count_entry, &w);
		(void)mn__store_outbox_scan(s, w.codec, count_entry, &w);
		(void)mn__store_outbox_range(s, w.codec, 1, 3, count_entry, &w);
		(void)mn__store_actors_scan(s, on_actor, &w);
		(void)mn__store_kinds_scan(s, on_kind, NULL);
		(void)mn__store_timers_due(s, UINT64_MAX, 100, on_timer, &w);
		(void)mn__store_timers_next(s);
		(void)mn__store_stats_get(s, &st);
		mn__codec_free(w.codec);
	}
	mn__store_close(s);
	return 0;
}
