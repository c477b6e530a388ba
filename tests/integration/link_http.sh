#!/usr/bin/env bash
# Linking accuracy, HTTP: wrk (32 keep-alive connections, a unique X-Request-Id and
# path per request) -> nginx -> 3 python backends -> redis, each in its own network
# namespace on a bridge.  insitu-observer records every message; insitu-link turns the
# recording into paths, which link_score.py judges against nginx's access log:
# % correct (wrk->nginx->backend->redis all in one tree, nothing foreign), % orphaned,
# % mis-stitched.  Three runs over the same recording:
#   ids      the shipped semantics                       (asserted: >= 99% / <= 0.1%)
#   no-xrid  X-Request-Id removed from the semantics     (reported)
#   no-ids   every id ignored: connections + threads only (reported)
# timeout: 150
. "$(dirname "$0")/../lib/tap.sh"
need_root
need_cmd nginx wrk redis-server python3 jq zstd
OBS=$BUILD/insitu-observer LINK=$BUILD/insitu-link
[[ -x $OBS && -x $LINK ]] || skip_all "build insitu-observer and insitu-link first"
HERE=$INSITU_ROOT/tests/integration
. "$HERE/link_lib.sh"
SEM=$INSITU_ROOT/semantics
DUR=${LINK_HTTP_DURATION:-2}

# ---- topology: one namespace per node, veths into a bridge in a switch namespace
TOPO_NET=10.77.0
. "$INSITU_ROOT/tests/lib/topo.sh"
topo_switch
NSOPTS=()
node() { # node NAME IP: a host on the bridge, watched by the observer
	topo_node "$1" "$2" || return 1
	NSOPTS+=(--netns "/run/netns/${TOPO_NODE_NS[$1]}") # watch only this test's hosts
}
node lg 1; node ngx 2; node b1 11; node b2 12; node b3 13; node rd 20

# ---- servers
bg_start REDIS ip netns exec "$NS_rd" redis-server --bind 10.77.0.20 --port 6379 --save '' \
	--appendonly no --protected-mode no
for i in 1 2 3; do
	ns="NS_b$i"
	bg_start "BE$i" ip netns exec "${!ns}" python3 "$INSITU_ROOT/tests/e2e/backend.py" "10.77.0.1$i" 8000 10.77.0.20 6379
done
NG=$TAP_TMP/nginx
mkdir -p "$NG/logs" "$NG/tmp"
cat >"$NG/nginx.conf" <<CONF
worker_processes 1;
error_log $NG/logs/error.log;
pid $NG/nginx.pid;
events { worker_connections 4096; }
http {
	log_format rid '\$http_x_request_id \$status';
	access_log $NG/logs/access.log rid;
	client_body_temp_path $NG/tmp; proxy_temp_path $NG/tmp;
	upstream be { server 10.77.0.11:8000; server 10.77.0.12:8000; server 10.77.0.13:8000; keepalive 64; }
	server {
		listen 10.77.0.2:80;
		location / {
			proxy_pass http://be;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_set_header X-Request-Id \$http_x_request_id;
		}
	}
}
CONF
bg_start NGINX ip netns exec "$NS_ngx" nginx -c "$NG/nginx.conf" -p "$NG" -g 'daemon off;'
up() { ip netns exec "$NS_lg" curl -sf -o /dev/null -H 'X-Request-Id: warmup' http://10.77.0.2/warmup; }
ok "topology answers (wrk -> nginx -> backends -> redis)" wait_for 15 up

# ---- record while wrk runs
cat >"$TAP_TMP/rid.lua" <<'LUA'
local n = 0
local threads = 0
function setup(thread) threads = threads + 1; thread:set("tid", threads) end
function request()
	n = n + 1
	local id = tid .. "-" .. n
	return wrk.format("GET", "/r/" .. id, { ["X-Request-Id"] = id })
end
LUA
bg_start OBSP "$OBS" --record "$TAP_TMP/ev.zst" --ring-kb 65536 "${NSOPTS[@]}" --port 80 --port 8000 --port 6379 --stats
ok "observer attached" wait_for 20 grep -q attached "$TAP_TMP/OBSP.log"
: >"$NG/logs/access.log"
ip netns exec "$NS_lg" wrk -t 2 -c 32 -d "${DUR}s" -s "$TAP_TMP/rid.lua" http://10.77.0.2/ >"$TAP_TMP/wrk.out" 2>&1
diag "$(grep -E 'Requests/sec|requests in' "$TAP_TMP/wrk.out" | tr -s ' ' | paste -sd ';')"
sleep 1
link_observer_done # sets MINC
ok "recording readable" test -s "$TAP_TMP/ev.raw"

awk '$2 == 200 && $1 ~ /^[0-9]+-[0-9]+$/ { print $1 }' "$NG/logs/access.log" >"$TAP_TMP/truth"
n=$(wc -l <"$TAP_TMP/truth")
diag "ground truth: $n requests answered 200 by nginx"
ok "at least 500 requests to judge" test "$n" -ge 500

# ---- semantics variants (labels carry the redis key so no-id runs can be judged)
mk_sem() { # DIR JQ-FILTER-FOR-HTTP
	mkdir -p "$1"
	jq '(.messages[] | select(.name == "command") | .label) =
	    {"regex": "^\\*[0-9]+\\r\\n\\$[0-9]+\\r\\n[^\\r]*\\r\\n\\$[0-9]+\\r\\n([^\\r]{1,60})"}' \
		"$SEM/redis.json" >"$1/redis.json"
	jq "$2" "$SEM/http.json" >"$1/http.json"
}
mk_sem "$TAP_TMP/sem-ids" '.'
mk_sem "$TAP_TMP/sem-noxrid" '(.messages[] | select(.ids.follow_ids != null) | .ids.follow_ids) |= map(select(.header != "X-Request-Id"))'

score() { # NAME SEMDIR LINK-OPTS SCORE-BOUNDS...
	local name=$1 sem=$2 opts=$3; shift 3
	"$LINK" -r "$TAP_TMP/ev.raw" -s "$sem" $opts --stats >"$TAP_TMP/paths-$name.jsonl" 2>"$TAP_TMP/stats-$name"
	local out rc
	out=$(python3 "$HERE/link_score.py" "$TAP_TMP/paths-$name.jsonl" "$TAP_TMP/truth" \
		nginx,python3,redis-server '/r/([0-9]+-[0-9]+)' "$@")
	rc=$?
	echo "http $name: $out" >"$TAP_TMP/figure-$name"
	echo "$out" >>"$TAP_TMP/figures"
	return $rc
}
ok "http with ids: >= 99% of captured requests correct (if nothing was dropped), <= 0.1% mis-stitched" score ids "$TAP_TMP/sem-ids" "" "${MINC[@]}" --max-mis 0.1
diag "$(cat "$TAP_TMP/figure-ids" 2>/dev/null)"; diag "$(grep -hE 'linked_id|match id' "$TAP_TMP/stats-ids" 2>/dev/null | paste -sd' ')"
ok "http without X-Request-Id (request target still links): figures" score noxrid "$TAP_TMP/sem-noxrid" ""
diag "$(cat "$TAP_TMP/figure-noxrid" 2>/dev/null)"; diag "$(grep -hE 'linked_id|match id' "$TAP_TMP/stats-noxrid" 2>/dev/null | paste -sd' ')"
ok "http without any id (connections + threads only): figures" score noids "$TAP_TMP/sem-ids" "--no-ids"
diag "$(cat "$TAP_TMP/figure-noids" 2>/dev/null)"; diag "$(grep -hE 'linked_id|match id' "$TAP_TMP/stats-noids" 2>/dev/null | paste -sd' ')"
# Two observers: one watching wrk and nginx, one the backends and redis (the same
# recording, split by namespace as each observer's --netns filter would).  Each prints
# segments; joined by their keys, they must give the same paths.
ino() { stat -L -c %i "/run/netns/$1"; }
"$LINK" -r "$TAP_TMP/ev.raw" -s "$TAP_TMP/sem-ids" --netns "$(ino "$NS_lg")" --netns "$(ino "$NS_ngx")" \
	>"$TAP_TMP/seg-a.jsonl" 2>/dev/null
"$LINK" -r "$TAP_TMP/ev.raw" -s "$TAP_TMP/sem-ids" --netns "$(ino "$NS_b1")" --netns "$(ino "$NS_b2")" \
	--netns "$(ino "$NS_b3")" --netns "$(ino "$NS_rd")" >"$TAP_TMP/seg-b.jsonl" 2>/dev/null
python3 "$HERE/link_join.py" "$TAP_TMP/seg-a.jsonl" "$TAP_TMP/seg-b.jsonl" \
	>"$TAP_TMP/paths-joined.jsonl" 2>"$TAP_TMP/join.err"
diag "two observers: $(cat "$TAP_TMP/join.err")"
ok "two observers, segments joined by key: >= 99% correct, <= 0.1% mis-stitched" \
	python3 "$HERE/link_score.py" "$TAP_TMP/paths-joined.jsonl" "$TAP_TMP/truth" \
	nginx,python3,redis-server '/r/([0-9]+-[0-9]+)' "${MINC[@]}" --max-mis 0.1
diag "http joined: $(python3 "$HERE/link_score.py" "$TAP_TMP/paths-joined.jsonl" "$TAP_TMP/truth" \
	nginx,python3,redis-server '/r/([0-9]+-[0-9]+)')"

# Where the redis hop cannot be judged, say how the two HTTP tiers alone fare.
diag "http ids, wrk->nginx->backend only: $(python3 "$HERE/link_score.py" "$TAP_TMP/paths-ids.jsonl" \
	"$TAP_TMP/truth" nginx,python3 '/r/([0-9]+-[0-9]+)')"
[[ -n ${LINK_FIGURES:-} ]] && cp "$TAP_TMP/figures" "$LINK_FIGURES"
[[ -n ${LINK_KEEP:-} ]] && mkdir -p "$LINK_KEEP" && cp "$TAP_TMP"/{ev.raw,truth,paths-*.jsonl} "$LINK_KEEP/" && cp -r "$TAP_TMP"/sem-* "$LINK_KEEP/"
done_testing
