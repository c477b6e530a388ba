#!/usr/bin/env bash
# Path segments joined across machines (issue 4): two observers, each filtered to the
# namespaces of one "machine" and reporting to its own insitud, the two insitud peered.
#   machine A: curl (lg) -> nginx (ngx)          observer A -> insitud a
#   machine B: python backend (be) -> redis (rd) observer B -> insitud b
# A real request curl -> nginx -> backend -> redis is seen in two halves; `insitu paths`
# at a returns the whole path, B's side fetched from peer b.  With b down (or silent),
# the answer comes back at once, A's side only, marked partial.  Labels reach insitud
# hashed unless --clear-labels.
# timeout: 120
. "$(dirname "$0")/../lib/tap.sh"
need_root
need_cmd nginx redis-server python3 curl jq
. "$(dirname "$0")/aggregator_lib.sh"
. "$(dirname "$0")/segments_lib.sh"
OBS=$BUILD/insitu-observer
[[ -x $OBS && -x $INSITUD && -x $INSITU ]] || skip_all "build insitu-observer, insitud and insitu first"
grep -q -- '--report-paths' <<<"$("$OBS" --help 2>&1)" || skip_all "insitu-observer has no --report-paths"
TOPO_NET=10.86.0
. "$(dirname "$0")/../lib/topo.sh"

# ---- the two machines' programs
topo_switch || fail "switch"
topo_node lg 1 && topo_node ngx 2 && topo_node be 11 && topo_node rd 20 || fail "nodes"
topo_server redis rd redis-server --bind "$TOPO_NET.20" --port 6379 --save '' --appendonly no --protected-mode no
topo_server be be python3 "$INSITU_ROOT/tests/e2e/backend.py" "$TOPO_NET.11" 8000 "$TOPO_NET.20" 6379
NG=$TAP_TMP/nginx
mkdir -p "$NG/logs" "$NG/tmp"
cat >"$NG/nginx.conf" <<CONF
worker_processes 1;
error_log $NG/logs/error.log;
pid $NG/nginx.pid;
events { worker_connections 256; }
http {
	access_log off;
	client_body_temp_path $NG/tmp; proxy_temp_path $NG/tmp;
	upstream be { server $TOPO_NET.11:8000; keepalive 8; }
	server {
		listen $TOPO_NET.2:80;
		location / { proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection ""; }
	}
}
CONF
topo_server nginx ngx nginx -c "$NG/nginx.conf" -p "$NG" -g 'daemon off;'
up() { ip netns exec "$NS_lg" curl -sf -o /dev/null -m 1 "http://$TOPO_NET.2/up"; }
ok "topology answers (curl -> nginx -> backend -> redis)" wait_for 30 up

# ---- two aggregators, peered (ports below the ephemeral range)
K=$TAP_TMP/key; peer_key "$K"
peer_ports 2; pa=${PORTS[0]} pb=${PORTS[1]}
start_insitud PA "$TAP_TMP/a" -i a -l "127.0.0.1:$pa" -k "$K" -p "b=127.0.0.1:$pb" --peer-timeout 3 || fail "insitud a starts"
start_insitud PB "$TAP_TMP/b" -i b -l "127.0.0.1:$pb" -k "$K" -p "a=127.0.0.1:$pa" --peer-timeout 3 || fail "insitud b starts"
a() { "$INSITU" -s "$TAP_TMP/a/sock" "$@"; }
b() { "$INSITU" -s "$TAP_TMP/b/sock" "$@"; }
ok "a and b are peered" wait_for 15 bash -c "[[ \$('$INSITU' -s '$TAP_TMP/a/sock' --json peers | jq -r '.peers[0].state') == up ]]"

# ---- one observer per machine, each sending its paths to its own insitud
ns() { echo "/run/netns/${TOPO_NODE_NS[$1]}"; }
PORTS=(--port 80 --port 8000 --port 6379)
bg_start OA "$OBS" --report-paths --socket "$TAP_TMP/a/sock" --netns "$(ns lg)" --netns "$(ns ngx)" "${PORTS[@]}" --stats
bg_start OB "$OBS" --report-paths --socket "$TAP_TMP/b/sock" --netns "$(ns be)" --netns "$(ns rd)" "${PORTS[@]}" --stats
ok "observer A attached" wait_for 30 grep -q attached "$TAP_TMP/OA.log"
ok "observer B attached" wait_for 30 grep -q attached "$TAP_TMP/OB.log"

up # a first request after the observers started (connections opened before are the linker's corner case)
for i in 1 2 3 4 5; do
	ip netns exec "$NS_lg" curl -sf -o /dev/null -m 3 "http://$TOPO_NET.2/r/seg-$i" || diag "request $i failed"
done
nsegs() { "$INSITU" -s "$TAP_TMP/$1/sock" --json stats | jq '.segments.received // 0'; }
ok "observer A's paths reach insitud a" wait_for 30 bash -c "(( \$('$INSITU' -s '$TAP_TMP/a/sock' --json stats | jq '.segments.received // 0') >= 5 ))"
ok "observer B's segments reach insitud b" wait_for 30 bash -c "(( \$('$INSITU' -s '$TAP_TMP/b/sock' --json stats | jq '.segments.received // 0') >= 5 ))"
diag "stored: a $(nsegs a), b $(nsegs b)"

# the curl -> nginx paths at a; their nginx -> backend leaf continues at b
J=$TAP_TMP/full.json
peer_up() { [[ $("$INSITU" -s "$TAP_TMP/a/sock" --json peers | jq -r '.peers[0].state') == up ]]; }
# a loaded machine can make the peer link flap (then the answer is rightly partial):
# query when the link is up, again if it dropped meanwhile
for try in 1 2 3 4 5; do
	wait_for 20 peer_up
	a --json paths --recent 50 >"$J"
	[[ $(jq -r .partial "$J") == false ]] && break
done
diag "full answer at try $try"
FULL='[.paths[] | select(.root.client.comm == "curl" and .root.server.comm == "nginx")
	| select(.root.children[0].joined.peer == "b")
	| select(.root.children[0].server.comm == "python3")
	| select(.root.children[0].children[0].server.comm == "redis-server")] | length'
diag "peers in a's answer: $(jq -c .peers "$J"); a's peers now: $(a --json peers | jq -c '[.peers[] | {id, state, connects, timeouts}]')"
is "the answer at a is complete (not partial)" "$(jq -r .partial "$J")" false
# (a path whose nginx -> backend hop observer A did not link has nothing to continue:
# counted apart, it is the linker's business, not the join's)
LINKED='[.paths[] | select(.root.client.comm == "curl" and (.root.children | length) > 0)] | length'
diag "curl -> nginx paths with their nginx -> backend hop linked at A: $(jq "$LINKED" "$J") of 6 requests"
ok "at a: curl -> nginx -> python3 (fetched from peer b) -> redis-server, for most requests" \
	test "$(jq "$FULL" "$J")" -ge 4
# every leaf left unresolved at a must be one b has no segment for (the join misses
# nothing that exists; b's linker may have left a request out, e.g. the first one on a
# connection opened before observer B started)
b --json paths --recent 50 --no-peers | jq -c '[.paths[] | select(.segment) | .root.join]' >"$TAP_TMP/broots"
is "no leaf is left unresolved at a while b stores its continuation" \
	"$(jq -c --slurpfile r "$TAP_TMP/broots" '[.unresolved[] | select(. as $k | $r[0] | index($k))]' "$J")" '[]'
diag "paths at a (client server grafts joined-from hop2-server hop3-server): $(jq -c '[.paths[] | [.root.client.comm, .root.server.comm, .grafts, .root.children[0].joined.peer, .root.children[0].server.comm, .root.children[0].children[0].server.comm]]' "$J")"
diag "$(a paths --recent 1 | head -5)"
diag "unjoined leaves at a: $(jq -c '[.paths[] | .unresolved[]]' "$J"); segment roots at b: $(b --json paths --recent 50 --no-peers | jq -c '[.paths[] | [.root.join, .segment, .root.client.seen]]')"
ok "labels derived from payload reach insitud as keyed hashes" \
	test "$(jq '[.paths[].root.label | select(startswith("h:") | not)] | length' "$J")" -eq 0
is "... and no request target in clear anywhere in a's answer" "$(grep -c 'seg-' "$J")" 0
key2=$(jq -r '[.paths[] | select(.root.children[0].joined.peer == "b")][0].root.children[0].join' "$J")
ok "--join KEY (the nginx -> backend hop) returns the path from its root" \
	bash -c "'$INSITU' -s '$TAP_TMP/a/sock' --json paths --join '$key2' | jq -e '.paths[0].root.client.comm == \"curl\" and .paths[0].root.children[0].joined.peer == \"b\"'"
key3=$(jq -r '[.paths[] | select(.root.children[0].joined.peer == "b")][0].root.children[0].children[0].join' "$J")
ok "--join KEY of a hop only b stores (backend -> redis) returns b's path, from the peer" \
	bash -c "'$INSITU' -s '$TAP_TMP/a/sock' --json paths --join '$key3' | jq -e '.paths[0].peer == \"b\" and .paths[0].root.server.comm == \"python3\" and .paths[0].root.children[0].server.comm == \"redis-server\"'"
ok "b serves a's queries" test "$(b --json stats | jq .segments.served_queries)" -ge 1

# ---- b silent (stopped), then down: a answers at once with its own side, partial
kill -STOP "$PB"
S=$TAP_TMP/silent.json
ok "with b silent the query ends within its wait" timeout 10 bash -c "'$INSITU' -s '$TAP_TMP/a/sock' --json paths --recent 50 --wait 500 >'$S'"
diag "b silent: $(jq -c .peers "$S")"
is "... marked partial" "$(jq -r .partial "$S")" true
is "... b named unavailable" "$(jq -c .peers_unavailable "$S")" '["b"]'
kill -CONT "$PB"
kill_pid "$PB"
D=$TAP_TMP/down.json
ok "with b down the query still answers" timeout 10 bash -c "'$INSITU' -s '$TAP_TMP/a/sock' --json paths --recent 50 >'$D'"
is "... marked partial" "$(jq -r .partial "$D")" true
is "... b named unavailable" "$(jq -c .peers_unavailable "$D")" '["b"]'
ok "... A's side is there: curl -> nginx -> (backend address), not joined" \
	test "$(jq '[.paths[] | select(.root.client.comm == "curl" and .root.children[0].server.seen == false and (.root.children[0] | has("joined") | not))] | length' "$D")" -ge 5
ok "the tree view says PARTIAL first" bash -c "'$INSITU' -s '$TAP_TMP/a/sock' paths --recent 1 | head -1 | grep -q '^PARTIAL: .* b'"

# ---- insitud a killed: observer A keeps its paths (bounded backlog) and delivers them
# to the restarted insitud (whose store, memory only, starts empty)
kill -KILL "$PA"; wait "$PA" 2>/dev/null
for i in 1 2 3; do
	ip netns exec "$NS_lg" curl -sf -o /dev/null -m 3 "http://$TOPO_NET.2/r/late-$i" || diag "request late-$i failed"
done
sleep 1
start_insitud PA2 "$TAP_TMP/a" -i a -l "127.0.0.1:$pa" -k "$K" -p "b=127.0.0.1:$pb" --peer-timeout 3 || fail "insitud a restarts"
ok "paths made while insitud a was down reach it after its restart" \
	wait_for 30 bash -c "(( \$('$INSITU' -s '$TAP_TMP/a/sock' --json paths --recent 50 --no-peers | jq '[.paths[] | select(.root.client.comm == \"curl\")] | length') >= 3 ))"
done_testing
