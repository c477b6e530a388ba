#!/usr/bin/env bash
# The linking rules on a committed recording of real programs (made by link_cases.sh
# with LINK_KEEP=DIR: a python HTTP/1.1 server and clients doing pipelining, a split
# request, port and fd reuse, a late-starting observer, an unanswered request, and
# nginx mirroring a request: fan-out).
# Needs no root and no kernel: it replays the events through insitu-link and checks
# every case, so a change in the linker shows up here first.
# timeout: 30
. "$(dirname "$0")/../lib/tap.sh"
need_cmd jq
LINK=$BUILD/insitu-link
[[ -x $LINK ]] || skip_all "build insitu-link first"
HERE=$INSITU_ROOT/tests/integration
PATHS=$TAP_TMP/paths.jsonl
ok "replay of the recording" "$LINK" -r "$HERE/link_fixtures/cases.zst" \
	-s "$INSITU_ROOT/semantics/http.json" --timeout 500 --linger 100
"$LINK" -r "$HERE/link_fixtures/cases.zst" -s "$INSITU_ROOT/semantics/http.json" \
	--timeout 500 --linger 100 >"$PATHS"
is "one path per request (10 requests seen)" "$(wc -l <"$PATHS" | tr -d ' ')" 10
. "$HERE/link_cases_checks.sh"
tree=$("$LINK" -r "$HERE/link_fixtures/cases.zst" -s "$INSITU_ROOT/semantics/http.json" \
	--timeout 500 --linger 100 --tree)
ok "tree view names both ends of a hop" grep -q 'python3\[[0-9]*\]@[0-9]* -> python3\[[0-9]*\]@[0-9]*  http GET /pipe1' <<<"$tree"
st=$("$LINK" -r "$HERE/link_fixtures/cases.zst" -s "$INSITU_ROOT/semantics/http.json" \
	--timeout 500 --linger 100 --stats --json 2>&1 >/dev/null)
is "--stats --json: counters as one JSON object" "$(jq -c '{paths, paths_incomplete, hops_evicted}' <<<"$st")" \
	'{"paths":10,"paths_incomplete":0,"hops_evicted":0}'
done_testing
