# join.awk - joins mnemo's benchmark lines with the peers' lines for the same
# workload and prints design.md section 6's peer lines, then (to stderr) a
# plain-text table. Input: lines "SOURCE<TAB>{json}" where SOURCE is "mnemo"
# or the name of a peer program; the JSON objects are flat (no nesting, no
# escaped quotes), as bench/support/bench.c, caf/common.hpp and
# erlang/peer_lib.erl print them.
#
# A workload is bench + metric + the variant field the bench uses (from,
# pairs, payload, and load for commit latencies). A workload run several
# times is reported by its median run, on each side. For each peer that
# reported a workload mnemo also reported, it prints mnemo's line with
# "peer", "peer_value", "ratio" (mnemo over peer for rates, peer over mnemo
# for times, bytes and latencies: > 1 means mnemo is better), "peer_n",
# "runs" and "peer_runs" (when more than one). A peer figure without a mnemo
# counterpart is an error: the exit status is then 1.

# The value of key in a flat JSON object, as text ("" when absent); strings
# lose their quotes.
function field(line, key,    v) {
	if (!match(line, "\"" key "\":(\"[^\"]*\"|[^,}]*)"))
		return ""
	v = substr(line, RSTART + length(key) + 3, RLENGTH - length(key) - 3)
	if (v ~ /^"/)
		v = substr(v, 2, length(v) - 2)
	return v
}

# Commit latencies are compared at the same offered load ("load", from
# bench/peers/mnemo/durable_latency.c and the batched peers), or each at a
# quarter of its own throughput (bench/durable.c and the naive peer, whose
# lines carry no "load").
function variant(line,    v, l) {
	if ((v = field(line, "from")) != "") return "from=" v
	if ((v = field(line, "pairs")) != "") return "pairs=" v
	if ((v = field(line, "payload")) != "") {
		if (field(line, "metric") !~ /^commit_/)
			return "payload=" v
		l = field(line, "load")
		return "payload=" v " load=" (l != "" ? l : "quarter")
	}
	return ""
}

# +1: higher is better; -1: lower is better; 0: not compared.
function direction(bench, metric) {
	if (metric ~ /_per_s$/) return 1
	if (metric == "wall_s" || metric == "peak_rss_bytes") return -1
	if (metric == "rss_bytes_per_actor" || metric == "disk_bytes_per_msg")
		return -1
	if (metric ~ /^commit_p[0-9]+_ms$/) return -1
	return 0
}

function num(v) {
	v += 0
	if (v == int(v) && v < 9007199254740992 && v > -9007199254740992)
		return sprintf("%.0f", v)
	return sprintf("%.6g", v)
}

# Short human form for the table: 1.23M, 45.6k, 0.123.
function human(v) {
	v += 0
	if (v >= 1e9) return sprintf("%.3gG", v / 1e9)
	if (v >= 1e6) return sprintf("%.3gM", v / 1e6)
	if (v >= 1e4) return sprintf("%.3gk", v / 1e3)
	return sprintf("%.4g", v)
}

# The line of a list (ids joined by SUBSEP, leading SUBSEP) whose value is
# the median (the lower middle one for an even count); sets runs to the
# number of lines.
function median_line(list, lines,    ids, n, i, j, t) {
	n = split(substr(list, 2), ids, SUBSEP)
	for (i = 2; i <= n; i++)
		for (j = i; j > 1 && field(lines[ids[j - 1]], "value") + 0 > \
		    field(lines[ids[j]], "value") + 0; j--) {
			t = ids[j]; ids[j] = ids[j - 1]; ids[j - 1] = t
		}
	runs = n
	return ids[int((n + 1) / 2)]
}

BEGIN { FS = "\t"; bad = 0; nrows = 0 }

{
	src = $1
	line = $2
	if (line !~ /^\{/ || field(line, "bench") == "")
		next
	b = field(line, "bench"); m = field(line, "metric")
	if (direction(b, m) == 0)
		next
	key = b SUBSEP m SUBSEP variant(line)
	if (src == "mnemo") {
		# A workload run several times: every run is kept, the median
		# is reported. (mnemo's own same-run baselines, bare_lmdb_append
		# and bare_mpsc_queue, are reported by `make bench`, not here.)
		if (!(key in mnemo))
			order[++nkeys] = key
		mnemo[key] = mnemo[key] SUBSEP (++nm)
		mline[nm] = line
		next
	}
	p = field(line, "peer")
	if (!((key, p) in plist))
		pnames[key] = pnames[key] SUBSEP p
	plist[key, p] = plist[key, p] SUBSEP (++npeer)
	peerline[npeer] = line
}

END {
	for (i = 1; i <= nkeys; i++) {
		key = order[i]
		if (!(key in pnames))
			continue
		ml = mline[median_line(mnemo[key], mline)]
		mruns = runs
		cnt = split(substr(pnames[key], 2), names, SUBSEP)
		for (j = 1; j <= cnt; j++) {
			p = names[j]
			pl = peerline[median_line(plist[key, p], peerline)]
			pruns = runs
			used[key, p] = 1
			b = field(ml, "bench"); m = field(ml, "metric")
			mv = field(ml, "value") + 0
			pv = field(pl, "value") + 0
			d = direction(b, m)
			if (mv <= 0 || pv <= 0) {
				printf "join: %s %s: non-positive value\n", b, m > "/dev/stderr"
				bad = 1
				continue
			}
			ratio = d > 0 ? mv / pv : pv / mv
			out = "{\"bench\":\"" b "\",\"metric\":\"" m "\",\"value\":" num(mv)
			out = out ",\"unit\":\"" field(ml, "unit") "\""
			n = field(ml, "n"); if (n != "") out = out ",\"n\":" num(n)
			t = field(ml, "threads"); if (t != "") out = out ",\"threads\":" num(t)
			v = variant(ml)
			if ((f = field(ml, "from")) != "") out = out ",\"from\":\"" f "\""
			if ((f = field(ml, "pairs")) != "") out = out ",\"pairs\":" num(f)
			if ((f = field(ml, "payload")) != "") out = out ",\"payload\":" num(f)
			if ((f = field(ml, "load")) != "") out = out ",\"load\":" num(f)
			if (mruns > 1) out = out ",\"runs\":" mruns
			out = out ",\"peer\":\"" p "\",\"peer_value\":" num(pv)
			out = out ",\"ratio\":" num(ratio)
			n = field(pl, "n"); if (n != "") out = out ",\"peer_n\":" num(n)
			pc = field(pl, "per_commit")
			if (pc != "") out = out ",\"peer_per_commit\":" num(pc)
			if (pruns > 1) out = out ",\"peer_runs\":" pruns
			print out "}"
			row_w[++nrows] = b (v != "" ? " " v : "")
			row_m[nrows] = m
			row_mv[nrows] = human(mv) " " field(ml, "unit")
			row_p[nrows] = p
			row_pv[nrows] = human(pv)
			row_r[nrows] = sprintf("%.2f", ratio)
		}
	}
	for (k in pnames) {
		cnt = split(substr(pnames[k], 2), names, SUBSEP)
		for (j = 1; j <= cnt; j++)
			if (!((k, names[j]) in used)) {
				split(k, kk, SUBSEP)
				printf "join: no mnemo line for peer %s %s %s %s\n",
				    names[j], kk[1], kk[2], kk[3] > "/dev/stderr"
				bad = 1
			}
	}
	if (nrows == 0) {
		print "join: no peer lines" > "/dev/stderr"
		bad = 1
	}
	fmt = "%-31s %-20s %15s  %-16s %9s %7s\n"
	printf "\n" > "/dev/stderr"
	printf fmt, "workload", "metric", "mnemo", "peer", "peer", "ratio" > "/dev/stderr"
	printf fmt, "--------", "------", "-----", "----", "----", "-----" > "/dev/stderr"
	for (i = 1; i <= nrows; i++) {
		same = i > 1 && row_w[i] == row_w[i - 1] && row_m[i] == row_m[i - 1]
		printf fmt, same ? "" : row_w[i], same ? "" : row_m[i],
		    same ? "" : row_mv[i], row_p[i], row_pv[i], row_r[i] > "/dev/stderr"
	}
	printf "(ratio > 1: mnemo is better in the metric's direction)\n" > "/dev/stderr"
	exit bad
}
