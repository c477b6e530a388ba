#!/usr/bin/env bash
# A request path spread over three aggregators (issue 4, multi-round peer fetch): a
# stores the front (k1 -> leaf k2), b the middle (segment k2 -> leaf k3), c the back
# (segment k3 -> k4); a is peered with b and c over real TCP.  `insitu paths --join k1`
# at a asks b and c for k2, then — b's segment ending in k3 — asks again for k3: the
# whole path in two rounds.  With c down the answer comes back partial, k3 unresolved.
# The paths are submitted over the socket as observers do (segments_peers.sh covers
# observers on real traffic; this one is about the rounds between daemons).
# timeout: 60
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/aggregator_lib.sh"
. "$(dirname "$0")/segments_lib.sh"
need_cmd python3 jq
[[ -x $INSITUD && -x $INSITU ]] || skip_all "build insitud and insitu first"

K=$TAP_TMP/key; peer_key "$K"
peer_ports 3; pa=${PORTS[0]} pb=${PORTS[1]} pc=${PORTS[2]}
start_insitud PA "$TAP_TMP/a" -i a -l "127.0.0.1:$pa" -k "$K" -p "b=127.0.0.1:$pb" -p "c=127.0.0.1:$pc" --peer-timeout 3 || fail "a starts"
start_insitud PB "$TAP_TMP/b" -i b -l "127.0.0.1:$pb" -k "$K" -p "a=127.0.0.1:$pa" --peer-timeout 3 || fail "b starts"
start_insitud PC "$TAP_TMP/c" -i c -l "127.0.0.1:$pc" -k "$K" -p "a=127.0.0.1:$pa" --peer-timeout 3 || fail "c starts"

# hop KEY CLIENT_SEEN SERVER_SEEN [CHILD]: a hop as insitu-observer prints it
hop() {
	jq -cn --arg k "$1" --argjson c "$2" --argjson s "$3" --argjson ch "${4:-null}" \
		'{join: $k, client: {seen: $c}, server: {seen: $s}, outcome: "ok"} + (if $ch then {children: [$ch]} else {} end)'
}
submit() { # submit NODE ROOT_HOP
	req "$TAP_TMP/$1/sock" "{\"op\":\"register\",\"module\":\"t\",\"name\":\"obs-$1\"}" \
		"{\"op\":\"submit_paths\",\"handle\":10000,\"paths\":[{\"root\":$2}]}" | tail -1 | jq -c .accepted
}
is "a stores the front" "$(submit a "$(hop k1 true true "$(hop k2 true false)")")" 1
is "b stores the middle" "$(submit b "$(hop k2 false true "$(hop k3 true false)")")" 1
is "c stores the back" "$(submit c "$(hop k3 false true "$(hop k4 true true)")")" 1

peers_up() { [[ $("$INSITU" -s "$TAP_TMP/a/sock" --json peers | jq '[.peers[] | select(.state == "up")] | length') == 2 ]]; }
ok "a is connected to b and c" wait_for 15 peers_up
ans=$("$INSITU" -s "$TAP_TMP/a/sock" --json paths --join k1 --wait 5000)
is "the whole path k1 -> k2 (b) -> k3 (c) -> k4" \
	"$(jq -c '.paths[0].root | [.join, .children[0].join, .children[0].joined.peer, .children[0].children[0].join,
		.children[0].children[0].joined.peer, .children[0].children[0].children[0].join]' <<<"$ans")" \
	'["k1","k2","b","k3","c","k4"]'
is "in two rounds, nothing partial or unresolved" "$(jq -c '[.rounds, .partial, .unresolved, .paths[0].grafts]' <<<"$ans")" '[2,false,[],2]'
is "a counted the second round" "$("$INSITU" -s "$TAP_TMP/a/sock" --json stats | jq .segments.query_rounds_more)" 1

sleep 4 # more than --peer-timeout of idle peers: pings answered, nobody called silent
is "idle peers stay connected: no timeouts at a" "$("$INSITU" -s "$TAP_TMP/a/sock" --json peers | jq -c '[.peers[].timeouts]')" '[0,0]'
kill_pid "$PC"
c_down() { [[ $("$INSITU" -s "$TAP_TMP/a/sock" --json peers | jq -r '.peers[] | select(.id == "c") | .state') != up ]]; }
ok "a sees c down" wait_for 15 c_down
ans=$("$INSITU" -s "$TAP_TMP/a/sock" --json paths --join k1 --wait 5000)
is "c down: b's part joined, k3 unresolved, partial" \
	"$(jq -c '[.paths[0].root.children[0].joined.peer, .unresolved, .partial, .peers_unavailable]' <<<"$ans")" '["b",["k3"],true,["c"]]'
out=$("$INSITU" -s "$TAP_TMP/a/sock" paths --join k1 --wait 5000)
ok "insitu paths (tree) says which peer was missing" grep -q "^PARTIAL: peer(s) not available: c" <<<"$out"
done_testing
