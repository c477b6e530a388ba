#!/usr/bin/env bash
# timeout: 60
# insitu-logtail over real ZooKeeper logs from Panorama's evaluation
# (../shared/fixtures/panorama-zookeeper): the shipped rules must turn exactly the
# lines an independent grep finds into reports, with the right subjects (mapped
# through a --subjects table) and the right log times in the configured zone.
. "$(dirname "$0")/../lib/tap.sh"
need_cmd jq
LT=$BUILD/insitu-logtail
RULES=$INSITU_ROOT/rules/zookeeper.json
FIX=$INSITU_ROOT/../shared/fixtures/panorama-zookeeper
[[ -d $FIX ]] || FIX=/work/shared/fixtures/panorama-zookeeper
[[ -x $LT ]] || skip_all "$LT not built"
[[ -r $FIX/zookeeper_pano9.out ]] || skip_all "fixtures not found"

ok "shipped rules pass --check" "$LT" --check "$INSITU_ROOT"/rules/*.json

# The ZooKeeper line layout, written independently of the rules file: a report can
# only come from a line of this shape.
HEAD='^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2},[0-9]{3} \[myid:[0-9]*\] - [A-Z]+ +\[.*:[A-Za-z0-9_$.]+@[0-9]+\] - '
declare -A PAT=(
	[snapshot-too-busy]='Too busy to snap, skipping'
	[quorum-connection-request]='Received connection request /[0-9.]+:[0-9]+'
	[slow-serializing-node]='Slow serializing node'
	[following-exception]='Exception when following the leader'
	[cannot-open-channel]='Cannot open channel to [0-9]+ at election address [^/ ]*/[0-9.]+:[0-9]+'
	[quorum-connection-broken]='Connection broken for id [0-9]+, my id = [0-9]+'
	[slow-fsync]='fsync-ing the write ahead log in [^ ]+ took [0-9]+ms'
	[elected]='(LEADING|FOLLOWING) - LEADER ELECTION TOOK - [0-9]+'
)
for log in zookeeper_pano9.out zookeeper_pano0.out zookeeper.1.out; do
	# merging off: one report per matching line
	"$LT" -r "$RULES" --dry-run --zone UTC --merge-window 0 --json -o peer@x "$FIX/$log" \
		>"$TAP_TMP/r.jsonl" 2>"$TAP_TMP/stats.json"
	for rule in "${!PAT[@]}"; do
		want=$(grep -cE "$HEAD${PAT[$rule]}" "$FIX/$log")
		got=$(jq -r --arg r "$rule" '.rules[$r]' "$TAP_TMP/stats.json")
		is "$log: rule $rule fires on every matching line ($want)" "$got" "$want"
	done
	got=$(jq -r .unmatched "$TAP_TMP/stats.json")
	want=$(grep -cvE "$HEAD" "$FIX/$log")
	is "$log: lines not in ZooKeeper's layout are counted as unmatched ($want)" "$got" "$want"
	is "$log: report lines = reports counter" "$(wc -l <"$TAP_TMP/r.jsonl")" "$(jq -r .reports "$TAP_TMP/stats.json")"
done

# Original cases, with statuses and scores as Panorama's plugin had them.
"$LT" -r "$RULES" --dry-run --zone UTC -q -o peer@9 "$FIX/zookeeper_pano9.out" >"$TAP_TMP/p9.jsonl"
is "Too busy to snap -> Snapshot UNHEALTHY 20 about the observer itself" \
	"$(jq -c 'select(.metrics[0].name=="Snapshot") | [.subject,.metrics[0].status,.metrics[0].score]' "$TAP_TMP/p9.jsonl" | sort -u)" \
	'["peer@9","UNHEALTHY",20]'
is "Slow serializing node -> UNHEALTHY 20" \
	"$(jq -c 'select(.source.rule=="slow-serializing-node") | [.subject,.metrics[0].status,.metrics[0].score]' "$TAP_TMP/p9.jsonl" | sort -u)" \
	'["peer@9","UNHEALTHY",20]'

# Log time: the first "Received connection request" of pano9 is at 17:26:04,986 local
# time.  The same log holds an epoch stamp of the original's own client a few ms later
# ("Submitting report ... at 1495819564995"), which shows the servers' local time was
# UTC: read as UTC the report time must be 1495819564986000 us; read as New York time
# (EDT in May, UTC-4) exactly 4 h later.
first=$(jq -r 'select(.source.rule=="quorum-connection-request") | .ts_us' "$TAP_TMP/p9.jsonl" | head -n1)
is "log time read in UTC" "$first" 1495819564986000
epoch_ms=$(grep -m1 -oE 'Submitting report from peer@9 about peer@9 at [0-9]+' "$FIX/zookeeper_pano9.out" | grep -oE '[0-9]+$')
ok "it agrees with the epoch stamp in the same log (within 1 s)" test $((epoch_ms * 1000 - first)) -lt 1000000 -a $((epoch_ms * 1000 - first)) -ge 0
ny=$("$LT" -r "$RULES" --dry-run --zone America/New_York -q -o peer@9 "$FIX/zookeeper_pano9.out" |
	jq -r 'select(.source.rule=="quorum-connection-request") | .ts_us' | head -n1)
is "the same line read as America/New_York is 4 h later" "$((ny - first))" 14400000000
off=$("$LT" -r "$RULES" --dry-run --zone +05:30 -q -o peer@9 "$FIX/zookeeper_pano9.out" |
	jq -r 'select(.source.rule=="quorum-connection-request") | .ts_us' | head -n1)
is "read at a fixed +05:30 it is 5.5 h earlier" "$((first - off))" 19800000000

# Subjects: addresses in lines mapped through the deployment's table (pano k is
# 10.0.0.(k+4), named peer@k as in the original); unmapped would stay raw addresses.
jq -n '[range(0;10)] | map({key: "10.0.0.\(. + 4)", value: "peer@\(.)"}) | from_entries' >"$TAP_TMP/subjects.json"
"$LT" -r "$RULES" --dry-run --zone UTC -q --merge-window 0 -o peer@9 --subjects "$TAP_TMP/subjects.json" \
	"$FIX/zookeeper_pano9.out" >"$TAP_TMP/m9.jsonl"
want=$(grep -oE "${HEAD}Received connection request /[0-9.]+" "$FIX/zookeeper_pano9.out" |
	grep -oE '[0-9.]+$' | awk -F. '{print "peer@" $4 - 4}' | sort | uniq -c | awk '{print $2 "=" $1}' | sort | tr '\n' ' ')
got=$(jq -r 'select(.metrics[0].name=="QuorumListener" and .metrics[0].status=="HEALTHY" and .metrics[0].score==90) | .subject' \
	"$TAP_TMP/m9.jsonl" | sort | uniq -c | awk '{print $2 "=" $1}' | sort | tr '\n' ' ')
is "Received connection request /ip:port -> QuorumListener HEALTHY 90 about the node at ip" "$got" "$want"
raw=$(jq -r 'select(.metrics[0].name=="QuorumListener") | .subject' "$TAP_TMP/p9.jsonl" | grep -c '^10\.0\.0\.')
is "without the table the subject is the raw address" "$raw" "$(grep -cE "${HEAD}Received connection request" "$FIX/zookeeper_pano9.out")"
got=$("$LT" -r "$RULES" --dry-run --zone UTC -q -o peer@0 --subjects "$TAP_TMP/subjects.json" "$FIX/zookeeper_pano0.out" |
	jq -r 'select(.source.rule=="cannot-open-channel") | "\(.subject) \(.metrics[0].status) \(.metrics[0].score)"' | sort -u | tr '\n' ' ')
want=$(grep -oE "${HEAD}Cannot open channel to [0-9]+ at election address [^/ ]*/[0-9.]+" "$FIX/zookeeper_pano0.out" |
	grep -oE '[0-9.]+$' | awk -F. '{print "peer@" $4 - 4 " MAYBE_UNHEALTHY 40"}' | sort -u | tr '\n' ' ')
is "Cannot open channel to -> QuorumChannel MAYBE_UNHEALTHY 40 about that peer" "$got" "$want"

# Merging: identical events within 1 s of log time are one report.  Expected count
# computed here from the timestamps of the "Too busy to snap" lines of zookeeper.1.out.
want=$(grep -E "${HEAD}Too busy to snap" "$FIX/zookeeper.1.out" | awk '{
	split($2, t, "[:,]"); ms = ((t[1] * 60 + t[2]) * 60 + t[3]) * 1000 + t[4]
	if (n == 0 || ms - last >= 1000) { n++; last = ms } } END { print n + 0 }')
got=$("$LT" -r "$RULES" --dry-run --zone UTC -q "$FIX/zookeeper.1.out" | jq -r 'select(.source.rule=="snapshot-too-busy")' | jq -s length)
is "identical events within the 1 s merge window are merged ($want of $(grep -cE "${HEAD}Too busy to snap" "$FIX/zookeeper.1.out"))" "$got" "$want"

# Standard input ("-") and a named pipe read once to the writer's end.
want=$("$LT" -r "$RULES" --dry-run --zone UTC -q "$FIX/zookeeper.1.out" | wc -l)
is "standard input gives the same reports" "$(cat "$FIX/zookeeper.1.out" | "$LT" -r "$RULES" --dry-run --zone UTC -q - | wc -l)" "$want"
mkfifo "$TAP_TMP/fifo"
(sleep 0.5; cat "$FIX/zookeeper.1.out" >"$TAP_TMP/fifo") &
is "a named pipe is read until its writer closes" "$("$LT" -r "$RULES" --dry-run --zone UTC -q "$TAP_TMP/fifo" | wc -l)" "$want"
wait

done_testing
