#!/usr/bin/env bash
# insitu-logtail rides out an insitud outage (issue 9): a real insitud is killed -9
# while logtail follows a growing log, lines keep coming, insitud restarts on the same
# database.  logtail keeps the reports in its bounded backlog (the observer's
# reporter, user/reporter.c), reconnects by itself and delivers every one of them;
# with a backlog smaller than the outage, the oldest are dropped and counted, the
# newest delivered.
# timeout: 90
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/aggregator_lib.sh"
. "$(dirname "$0")/reliability_lib.sh"
need_cmd jq
for b in insitu insitud insitu-logtail; do [[ -x $BUILD/$b ]] || skip_all "$BUILD/$b not built"; done

# One report per line, about the subject the line names (never stale, never merged).
cat > "$TAP_TMP/rules.json" <<'EOF'
{ "program": "outage-test",
  "line": "^(?<time>\\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}:\\d{2}) (?<who>\\S+) (?<what>up|down)$",
  "time": { "field": "time", "format": "%Y-%m-%d %H:%M:%S", "zone": "UTC" },
  "staleness_s": 0, "merge_window_ms": 0,
  "rules": [
    { "name": "down", "when": { "field": "what", "equals": "down" },
      "report": { "metric": "Alive", "status": "UNHEALTHY", "score": 10,
                  "subject": { "field": "who", "map": true, "unmapped": "raw" } } } ] }
EOF
S=$TAP_TMP/d/sock
lines() { # lines FILE PREFIX FROM TO: appends "TIME PREFIX-i down" for i in FROM..TO-1
	local t; t=$(date -u '+%F %T')
	for ((i = $3; i < $4; i++)); do echo "$t $2-$i down"; done >> "$1"
}
have_all() { (($(rel_missing "$S" "$1" "$2") == 0)); }

rel_start_insitud DPID "$TAP_TMP/d" -q || { fail "insitud starts"; done_testing; }
: > "$TAP_TMP/a.log"
bg_start LT "$LOGTAIL" --rules "$TAP_TMP/rules.json" --follow --interval 50 -o lt-a --socket "$S" \
	--stats --json "$TAP_TMP/a.log"
sleep 0.5
lines "$TAP_TMP/a.log" a 0 50
ok "logtail delivers while insitud is up (50 reports)" wait_for 20 have_all a 50

kill -KILL "$DPID"; wait "$DPID" 2>/dev/null
lines "$TAP_TMP/a.log" a 50 250
sleep 1   # logtail reads them now, with insitud gone
rel_start_insitud DPID "$TAP_TMP/d" -q || fail "insitud restarts on the same database"
ok "after the restart, the 200 reports made during the outage arrive by themselves" wait_for 30 have_all a 250
lines "$TAP_TMP/a.log" a 250 260
ok "... and new ones keep flowing" wait_for 20 have_all a 260
kill -TERM "$LT"; wait "$LT" 2>/dev/null
st=$(grep '^{' "$TAP_TMP/LT.log" | tail -n1)
diag "logtail counters: $(jq -c '{reports, sent, accepted, dropped, backlog, reconnects, send_failures, lost_at_exit}' <<<"$st")"
ok "logtail counted the outage: reconnected, nothing dropped, nothing left" \
	jq -e '.reconnects >= 1 and .dropped == 0 and .backlog == 0 and .lost_at_exit == 0 and .accepted == 260' <<<"$st"
grep -q "cannot reach insitud" "$TAP_TMP/LT.log"; is "... and said so once in its log" "$?" 0

# --- a backlog smaller than the outage ---
: > "$TAP_TMP/b.log"
bg_start LT2 "$LOGTAIL" --rules "$TAP_TMP/rules.json" --follow --interval 50 -o lt-b --socket "$S" \
	--backlog 10 --stats --json "$TAP_TMP/b.log"
sleep 0.5
kill -KILL "$DPID"; wait "$DPID" 2>/dev/null
lines "$TAP_TMP/b.log" b 0 100
sleep 1
rel_start_insitud DPID "$TAP_TMP/d" -q || fail "insitud restarts again"
newest() { (($("$INSITU" -s "$S" --json list subjects | jq '[.subjects[].subject | select(startswith("b-")) | ltrimstr("b-") | tonumber | select(. >= 90)] | length') == 10)); }
ok "--backlog 10: the newest 10 reports of the outage are delivered" wait_for 30 newest
kill -TERM "$LT2"; wait "$LT2" 2>/dev/null
st=$(grep '^{' "$TAP_TMP/LT2.log" | tail -n1)
diag "logtail --backlog 10 counters: $(jq -c '{reports, accepted, dropped, backlog, reconnects}' <<<"$st")"
ok "... the 90 older ones were dropped and counted" jq -e '.dropped == 90 and .accepted == 10' <<<"$st"
is "... insitud holds none of the dropped ones" \
	"$("$INSITU" -s "$S" --json list subjects | jq '[.subjects[].subject | select(startswith("b-"))] | length')" 10
rel_no_sanitizer_reports
done_testing
