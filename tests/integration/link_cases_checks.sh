# The checks of the linking cases (sourced by link_cases.sh on a fresh recording and
# by link_replay.sh on the committed one): $PATHS holds insitu-link's JSON lines.
# shellcheck shell=bash
# hop LABEL -> its hops as compact JSON lines
hop() { jq -c --arg l "GET $1" '.. | objects | select(has("hop") and .label == $l)
	| {c: .client.seen, s: .server.seen, o: .outcome, st: .status, f: .flags, n: (.children | length)}' \
	"$PATHS"; }
both_ok='{"c":true,"s":true,"o":"ok","st":200,"f":[],"n":0}'
is "pipelined request 1: both ends, ok, FIFO flagged ambiguous" "$(hop /pipe1)" \
	'{"c":true,"s":true,"o":"ok","st":200,"f":["ambiguous"],"n":0}'
is "pipelined request 2: both ends, ok, ambiguous" "$(hop /pipe2)" \
	'{"c":true,"s":true,"o":"ok","st":200,"f":["ambiguous"],"n":0}'
is "request split over three writes: one hop, both ends" "$(hop /split | tail -n1)" "$both_ok"
is "same local port, first connection" "$(hop /reuse1)" "$both_ok"
is "same local port, second connection: its own hop" "$(hop /reuse2)" "$both_ok"
is "fd reused, first socket" "$(hop /fd1)" "$both_ok"
is "fd reused, second socket" "$(hop /fd2)" "$both_ok"
# The server thread was already blocked in recv() when the programs were attached, so
# the kernel side may miss that one receive (stash_miss); the client's view is whole.
is "late-starting observer: request on the open connection" "$(hop /late1 | jq -c '{c, o, st, n}')" \
	'{"c":true,"o":"ok","st":200,"n":0}'
diag "late1 server end seen: $(hop /late1 | jq -c .s)"
is "late-starting observer: nothing invented for the unseen request" "$(hop /before)" ""
is "unanswered request: timeout" "$(hop /stall | jq -c '{o, f}')" '{"o":"timeout","f":["timeout"]}'
lat=$(jq -r '.. | objects | select(has("hop") and .label == "GET /split") | .latency_ns' "$PATHS" | tail -n1)
ok "split request: latency covers the pauses between pieces (>= 100 ms)" test "${lat:-0}" -ge 100000000
fan=$(jq -c '.root | select(.label == "GET /fan") | {s: .server.comm, kids: [.children[] | {l: .label, s: .server.comm, o: .outcome}]}' "$PATHS")
is "fan-out: nginx's request has both upstream calls (proxied and mirrored) as children" "$fan" \
	'{"s":"nginx","kids":[{"l":"GET /fan","s":"python3","o":"ok"},{"l":"GET /fan","s":"python3","o":"ok"}]}'
