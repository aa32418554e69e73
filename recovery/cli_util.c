/*
 * cli_util.c - what the tool's store commands share: opening the store
 * read-only, reporting errors in one form ("mnemo dump: opening store
 * ./data: MN_ECORRUPT (store ./data: log record 4411: checksum mismatch)"),
 * and showing keys, addresses, times, sizes and payloads.
 *
 * Keys round-trip: mn__cli_key_format writes a key so that
 * mn__cli_key_parse reads back the same bytes, hence every address the
 * tool prints ("agent/alice", "agent/0x0001feff") can be given to dump.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "include/mnemo.h"
#include "recovery/cli.h"
#include "base/grow.h"

void mn__cli_init(mn__cli *c, const char *cmd, const char *synopsis, FILE *out,
		  FILE *err)
{
	memset(c, 0, sizeof *c);
	c->cmd = cmd;
	c->synopsis = synopsis;
	c->out = out;
	c->err = err;
}

void mn__cli_clear_detail(void)
{
	mn__store_set_errdetail("");
}

/* The detail to show after an error code: the store's, else the code's
 * description. */
static const char *detail(int rc)
{
	const char *d = mn__store_errdetail();
	return strcmp(d, "no detail") == 0 ? mn_strerror(rc) : d;
}

static int open_store(mn__cli *c, bool write);

int mn__cli_open(mn__cli *c)
{
	return open_store(c, false);
}

int mn__cli_open_rw(mn__cli *c)
{
	return open_store(c, true);
}

static int open_store(mn__cli *c, bool write)
{
	struct stat st;
	char data[4096];
	mn__store_info info;
	int rc;

	/* Say plainly what is wrong with a path that is no store at all;
	 * LMDB would only say "No such file or directory". */
	if (stat(c->path, &st) != 0) {
		fprintf(c->err, "mnemo %s: opening store %s: %s\n", c->cmd,
			c->path, strerror(errno));
		return MN__CLI_USAGE;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(c->err,
			"mnemo %s: opening store %s: not a directory (a store "
			"is the directory holding data.mdb)\n",
			c->cmd, c->path);
		return MN__CLI_USAGE;
	}
	snprintf(data, sizeof data, "%s/data.mdb", c->path);
	if (stat(data, &st) != 0) {
		fprintf(c->err,
			"mnemo %s: opening store %s: not a mnemo store (no "
			"data.mdb: %s)\n",
			c->cmd, c->path, strerror(errno));
		return MN__CLI_USAGE;
	}

	mn__store_opts o = {.read_only = !write};
	mn__cli_clear_detail();
	if ((rc = mn__store_open(c->path, &o, &c->store, &info))) {
		if (rc == MN_EBUSY)
			fprintf(c->err,
				"mnemo %s: store %s is in use by a running "
				"runtime (%s); this command writes, so stop "
				"the runtime first\n",
				c->cmd, c->path, detail(rc));
		else
			fprintf(c->err, "mnemo %s: opening store %s: %s (%s)\n",
				c->cmd, c->path, mn_err_name(rc), detail(rc));
		return MN__CLI_USAGE;
	}
	if (write)
		/* Open-time recovery ran (docs/recovery.md): say what it
		 * found. */
		fprintf(c->err,
			"mnemo %s: opened %s: checkpoint LSN %llu, last LSN "
			"%llu; %llu log entries scanned, %llu heads repaired, "
			"%llu stale readers cleared; outbox %llu, quarantine "
			"%llu, timers %llu\n",
			c->cmd, c->path,
			(unsigned long long)info.checkpoint_lsn,
			(unsigned long long)info.last_lsn,
			(unsigned long long)info.entries_scanned,
			(unsigned long long)info.heads_repaired,
			(unsigned long long)info.stale_readers,
			(unsigned long long)info.outbox_entries,
			(unsigned long long)info.quarantined,
			(unsigned long long)info.timers);
	if ((rc = mn__codec_new(mn__store_dicts(c->store), &c->codec))) {
		fprintf(c->err, "mnemo %s: opening store %s: %s (%s)\n", c->cmd,
			c->path, mn_err_name(rc), mn_strerror(rc));
		mn__store_close(c->store);
		c->store = NULL;
		return MN__CLI_USAGE;
	}
	return MN__CLI_OK;
}

void mn__cli_close(mn__cli *c)
{
	mn__codec_free(c->codec);
	c->codec = NULL;
	mn__store_close(c->store);
	c->store = NULL;
}

int mn__cli_usage(mn__cli *c, const char *fmt, ...)
{
	va_list ap;
	fprintf(c->err, "mnemo %s: ", c->cmd);
	va_start(ap, fmt);
	vfprintf(c->err, fmt, ap);
	va_end(ap);
	fprintf(c->err, "\nusage: %s\nRun 'mnemo %s --help' for more.\n",
		c->synopsis, c->cmd);
	return MN__CLI_USAGE;
}

int mn__cli_bad_option(mn__cli *c, int ch, char **argv)
{
	/* getopt_long leaves optind past the offending element. */
	const char *arg = optind > 0 ? argv[optind - 1] : "?";
	if (ch == ':')
		return mn__cli_usage(c, "option '%s' needs a value", arg);
	if (strncmp(arg, "--", 2) == 0 || !optopt)
		return mn__cli_usage(c,
				     "unknown, ambiguous or misused option "
				     "'%s'",
				     arg);
	return mn__cli_usage(c, "unknown option '-%c'", optopt);
}

int mn__cli_store_fail(mn__cli *c, int rc, const char *what)
{
	fprintf(c->err, "mnemo %s: %s: %s (%s)\n", c->cmd, what,
		mn_err_name(rc), detail(rc));
	/* Damage, or history that compaction dropped: what was asked for
	 * is not in the store. */
	return rc == MN_ECORRUPT || rc == MN_ECOMPACTED ? MN__CLI_FAIL
							: MN__CLI_USAGE;
}

int mn__cli_grow(void **arr, size_t *cap, size_t n, size_t el)
{
	/* Room for index n (n + 1 items), first 64: base/grow.h. */
	return mn__grow(arr, cap, n + 1, el, 64);
}

/* ---- values -------------------------------------------------------------- */

int mn__cli_parse_u64(const char *s, uint64_t *v)
{
	uint64_t x = 0;
	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		unsigned d = (unsigned)(*s - '0');
		if (x > (UINT64_MAX - d) / 10)
			return -1;
		x = x * 10 + d;
	}
	*v = x;
	return 0;
}

void mn__cli_key_format(char *buf, const void *key, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *k = key;
	bool text = len > 0 && !(len >= 2 && k[0] == '0' && k[1] == 'x');

	if (len > MN_KEY_MAX)
		len = MN_KEY_MAX;
	for (size_t i = 0; text && i < len; i++)
		text = k[i] >= 0x20 && k[i] < 0x7f;
	if (text) {
		memcpy(buf, k, len);
		buf[len] = 0;
		return;
	}
	buf[0] = '0';
	buf[1] = 'x';
	for (size_t i = 0; i < len; i++) {
		buf[2 + 2 * i] = digits[k[i] >> 4];
		buf[3 + 2 * i] = digits[k[i] & 15];
	}
	buf[2 + 2 * len] = 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int mn__cli_key_parse(const char *s, unsigned char *key, size_t *len)
{
	size_t n = strlen(s);
	if (n >= 2 && s[0] == '0' && s[1] == 'x') {
		size_t digits = n - 2;
		if (digits == 0 || digits % 2 || digits / 2 > MN_KEY_MAX)
			return MN_EKEY;
		for (size_t i = 0; i < digits / 2; i++) {
			int hi = hexval(s[2 + 2 * i]),
			    lo = hexval(s[3 + 2 * i]);
			if (hi < 0 || lo < 0)
				return MN_EKEY;
			key[i] = (unsigned char)(hi << 4 | lo);
		}
		*len = digits / 2;
		return 0;
	}
	if (n == 0 || n > MN_KEY_MAX)
		return MN_EKEY;
	memcpy(key, s, n);
	*len = n;
	return 0;
}

void mn__cli_addr_format(mn__cli *c, char *buf, uint32_t kind_id,
			 const void *key, size_t key_len)
{
	char kind[MN_KIND_NAME_MAX + 1], k[MN__CLI_KEY_CAP];
	if (mn__store_kind_name(c->store, kind_id, kind, sizeof kind) != 0)
		snprintf(kind, sizeof kind, "kind#%u", kind_id);
	mn__cli_key_format(k, key, key_len);
	snprintf(buf, MN__CLI_ADDR_CAP, "%s/%s", kind, k);
}

int mn__cli_addr_parse(mn__cli *c, const char *addr, uint32_t *kind_id,
		       unsigned char *key, size_t *key_len, size_t *kind_end)
{
	const char *slash = strchr(addr, '/');
	if (!slash)
		return MN_EKEY;
	*kind_end = (size_t)(slash - addr);
	for (; slash; slash = strchr(slash + 1, '/')) {
		char name[MN_KIND_NAME_MAX + 1];
		size_t n = (size_t)(slash - addr);
		if (n == 0 || n > MN_KIND_NAME_MAX)
			continue;
		memcpy(name, addr, n);
		name[n] = 0;
		if (mn__store_kind_id(c->store, name, kind_id) == 0) {
			*kind_end = n;
			return mn__cli_key_parse(slash + 1, key, key_len);
		}
	}
	mn__cli_clear_detail();
	return MN_ENOKIND;
}

void mn__cli_actor_name(mn__cli *c, char *buf, uint64_t id)
{
	mn__actor_meta m;
	if (id == 0)
		snprintf(buf, MN__CLI_ADDR_CAP, "outside");
	else if (mn__store_actor_get(c->store, id, &m) == 0)
		mn__cli_addr_format(c, buf, m.kind_id, m.key, m.key_len);
	else
		snprintf(buf, MN__CLI_ADDR_CAP, "actor %llu (unknown)",
			 (unsigned long long)id);
}

void mn__cli_actor_json(mn__cli *c, const mn__actor_meta *m)
{
	char kind[MN_KIND_NAME_MAX + 1], key[MN__CLI_KEY_CAP],
	    addr[MN__CLI_ADDR_CAP];
	mn__jw w;
	mn__jw_begin(&w, c->out, "actor");
	mn__jw_u64(&w, "id", m->id);
	if (mn__store_kind_name(c->store, m->kind_id, kind, sizeof kind) == 0)
		mn__jw_str(&w, "kind", kind);
	else
		mn__jw_null(&w, "kind");
	mn__jw_u64(&w, "kind_id", m->kind_id);
	mn__cli_key_format(key, m->key, m->key_len);
	mn__jw_str(&w, "key", key);
	mn__jw_hex(&w, "key_hex", m->key, m->key_len);
	mn__cli_addr_format(c, addr, m->kind_id, m->key, m->key_len);
	mn__jw_str(&w, "address", addr);
	mn__jw_u64(&w, "last_seq", m->last_seq);
	mn__jw_u64(&w, "last_lsn", m->last_lsn);
	mn__jw_u64(&w, "first_lsn", m->first_lsn);
	mn__jw_u64(&w, "snapshot_seq", m->snapshot_seq);
	mn__jw_u64(&w, "compacted_seq", m->compacted_seq);
	if (m->fork_parent_id) {
		char parent[MN__CLI_ADDR_CAP];
		mn__cli_actor_name(c, parent, m->fork_parent_id);
		mn__jw_str(&w, "fork_of", parent);
		mn__jw_u64(&w, "fork_of_id", m->fork_parent_id);
		mn__jw_u64(&w, "fork_seq", m->fork_seq);
	} else {
		mn__jw_null(&w, "fork_of");
	}
	mn__jw_time(&w, "created", m->created_unix_ms);
	mn__jw_time(&w, "last_active", m->last_active_unix_ms);
	mn__jw_u64(&w, "created_unix_ms", m->created_unix_ms);
	mn__jw_u64(&w, "last_active_unix_ms", m->last_active_unix_ms);
	mn__jw_end(&w);
}

uint64_t mn__cli_history_start(mn__cli *c, const mn__actor_meta *m)
{
	mn__actor_meta cur = *m, parent;
	uint64_t start = m->compacted_seq;
	/* Through the forks whose shared part is still needed. */
	for (int depth = 0;
	     cur.fork_parent_id && start < cur.fork_seq && depth < 64;
	     depth++) {
		if (mn__store_actor_get(c->store, cur.fork_parent_id, &parent))
			break;
		if (parent.compacted_seq > start)
			start = parent.compacted_seq < cur.fork_seq
				    ? parent.compacted_seq
				    : cur.fork_seq;
		cur = parent;
	}
	return start;
}

typedef struct chain_check {
	uint64_t last_seq;
} chain_check;

static int chain_one(void *arg, const mn__entry *e)
{
	chain_check *cc = arg;
	cc->last_seq = e->seq;
	return 0;
}

int mn__cli_actor_check(mn__cli *c, const mn__actor_meta *m, mn_buf *scratch,
			char *why, size_t cap)
{
	uint64_t snap_seq = 0, snap_lsn;
	int rc;

	/* As the runtime's first run does (core/persist.c). */
	mn__cli_clear_detail();
	rc = mn__store_snapshot_latest(c->store, c->codec, m->id, m->last_seq,
				       scratch, &snap_seq, &snap_lsn);
	if (rc == MN_ENOACTOR) {
		snap_seq = 0;
		rc = 0;
	} else if (rc) {
		snprintf(why, cap, "snapshot: %s", mn__store_errdetail());
		return rc;
	}
	if (snap_seq >= m->last_seq)
		return 0;
	chain_check cc = {.last_seq = snap_seq};
	mn__cli_clear_detail();
	rc = mn__store_history(c->store, c->codec, m->last_lsn, snap_seq,
			       chain_one, &cc);
	if (rc) {
		snprintf(why, cap, "journal: %s", mn__store_errdetail());
		return rc;
	}
	if (cc.last_seq != m->last_seq) {
		snprintf(why, cap,
			 "journal: history ends at seq %llu, the actor's head "
			 "says %llu",
			 (unsigned long long)cc.last_seq,
			 (unsigned long long)m->last_seq);
		return MN_ECORRUPT;
	}
	return 0;
}

void mn__cli_lineage(mn__cli *c, char *buf, size_t cap, const mn__actor_meta *m)
{
	char parent[MN__CLI_ADDR_CAP];
	size_t n = 0;
	buf[0] = 0;
	if (m->fork_parent_id) {
		mn__cli_actor_name(c, parent, m->fork_parent_id);
		n = (size_t)snprintf(buf, cap, "fork of %s@%llu", parent,
				     (unsigned long long)m->fork_seq);
	}
	if (m->compacted_seq && n < cap)
		snprintf(buf + n, cap - n, "%shistory from seq %llu",
			 n ? ", " : "",
			 (unsigned long long)m->compacted_seq + 1);
}

void mn__cli_time(char *buf, uint64_t unix_ms)
{
	struct tm tm;
	time_t t = (time_t)(unix_ms / 1000);
	if (!unix_ms || !gmtime_r(&t, &tm)) {
		snprintf(buf, MN__CLI_TIME_CAP, "-");
		return;
	}
	size_t n = strftime(buf, MN__CLI_TIME_CAP, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, MN__CLI_TIME_CAP - n, ".%03uZ",
		 (unsigned)(unix_ms % 1000));
}

void mn__cli_size(char *buf, uint64_t bytes)
{
	static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
	double v = (double)bytes;
	int u = -1;
	if (bytes < 1024) {
		snprintf(buf, 32, "%llu B", (unsigned long long)bytes);
		return;
	}
	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	snprintf(buf, 32, "%.1f %s", v, units[u]);
}

void mn__cli_flags(char *buf, uint32_t flags)
{
	size_t n = 0;
	buf[0] = 0;
	if (!flags) {
		snprintf(buf, 64, "-");
		return;
	}
	if (flags & MN_MSG_EXTERNAL)
		n += (size_t)snprintf(buf + n, 64 - n, "external");
	if (flags & MN_MSG_TIMER)
		n += (size_t)snprintf(buf + n, 64 - n, "%stimer", n ? "," : "");
	if (flags & MN_MSG_CALL)
		n += (size_t)snprintf(buf + n, 64 - n, "%scall", n ? "," : "");
	flags &= ~(MN_MSG_EXTERNAL | MN_MSG_TIMER | MN_MSG_CALL);
	if (flags)
		snprintf(buf + n, 64 - n, "%s0x%x", n ? "," : "", flags);
}

void mn__cli_hexdump(FILE *f, const char *indent, const void *p, size_t len,
		     size_t limit)
{
	const unsigned char *b = p;
	size_t shown = limit && limit < len ? limit : len;
	for (size_t off = 0; off < shown; off += 16) {
		fprintf(f, "%s%08zx  ", indent, off);
		for (size_t j = 0; j < 16; j++) {
			if (off + j < shown)
				fprintf(f, "%02x ", b[off + j]);
			else
				fputs("   ", f);
			if (j == 7)
				putc(' ', f);
		}
		fputs(" |", f);
		for (size_t j = 0; j < 16 && off + j < shown; j++) {
			unsigned char ch = b[off + j];
			putc(ch >= 0x20 && ch < 0x7f ? ch : '.', f);
		}
		fputs("|\n", f);
	}
	if (shown < len)
		fprintf(f, "%s... %zu more bytes (--full shows all)\n", indent,
			len - shown);
}

/* ---- text lines and times (replay, diff) ------------------------------- */

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
