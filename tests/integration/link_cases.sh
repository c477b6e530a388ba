#!/usr/bin/env bash
# The linking rules on event streams recorded from real programs: a python HTTP/1.1
# server and python clients in two network namespaces, recorded by insitu-observer,
# replayed through insitu-link, and each case checked in the JSON paths:
# pipelining (two requests in one write: both hops, FIFO matches flagged ambiguous),
# a request split over three writes, port reuse, fd reuse, a late-starting observer
# (connection already open), a request never answered (timeout) and fan-out (nginx
# mirroring a request: one request, two children).
# timeout: 90
. "$(dirname "$0")/../lib/tap.sh"
need_root
need_cmd python3 jq zstd nginx curl
OBS=$BUILD/insitu-observer LINK=$BUILD/insitu-link
[[ -x $OBS && -x $LINK ]] || skip_all "build insitu-observer and insitu-link first"
HERE=$INSITU_ROOT/tests/integration
CL="python3 $HERE/link_client.py"

netns_add cl
netns_add sv
veth_pair "$NS_cl" 10.79.0.1 "$NS_sv" 10.79.0.2
bg_start SRV ip netns exec "$NS_sv" python3 "$INSITU_ROOT/tests/e2e/backend.py" 10.79.0.2 8000 - 0
# a server that reads requests and never answers
bg_start STALL ip netns exec "$NS_sv" python3 -c '
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.79.0.2", 8080)); s.listen(8)
keep = []
while True:
    c, _ = s.accept(); c.recv(4096); keep.append(c)'
# nginx in front, mirroring every request: one request, two children (fan-out)
NG=$TAP_TMP/nginx
mkdir -p "$NG/tmp"
cat >"$NG/nginx.conf" <<CONF
worker_processes 1;
error_log $NG/error.log;
pid $NG/nginx.pid;
events { worker_connections 256; }
http {
	access_log off;
	client_body_temp_path $NG/tmp; proxy_temp_path $NG/tmp;
	upstream be { server 10.79.0.2:8000; keepalive 8; }
	server {
		listen 10.79.0.2:8081;
		location / { mirror /mirror; proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection ""; }
		location = /ping { return 204; }
		location = /mirror { internal; proxy_pass http://be\$request_uri; proxy_http_version 1.1; proxy_set_header Connection ""; }
	}
}
CONF
bg_start NGINX ip netns exec "$NS_sv" nginx -c "$NG/nginx.conf" -p "$NG" -g 'daemon off;'
up() { ip netns exec "$NS_cl" $CL split 10.79.0.2 8000 && ip netns exec "$NS_cl" curl -sf -o /dev/null http://10.79.0.2:8081/ping; }
# (nginx answers /ping itself: no upstream connection is opened before the observer,
# whose first read on it would be missed)
ok "servers up" wait_for 15 up

GO=$TAP_TMP/go
bg_start LATE ip netns exec "$NS_cl" $CL late 10.79.0.2 8000 "$GO" "$TAP_TMP/ready"
ok "late client: first request answered before the observer starts" wait_for 15 test -e "$TAP_TMP/ready"
bg_start OBSP "$OBS" --record "$TAP_TMP/ev.zst" --netns "/run/netns/$NS_cl" --netns "/run/netns/$NS_sv" \
	--port 8000 --port 8080 --port 8081 --stats
ok "observer attached" wait_for 20 grep -q attached "$TAP_TMP/OBSP.log"
touch "$GO"
for m in pipeline split portreuse fdreuse stall; do
	ok "client: $m" ip netns exec "$NS_cl" $CL $m 10.79.0.2 "$([[ $m == stall ]] && echo 8080 || echo 8000)"
done
ok "client: curl through nginx with a mirror (fan-out)" ip netns exec "$NS_cl" curl -sf -o /dev/null http://10.79.0.2:8081/fan
ok "late client done" wait_for 10 bash -c "! kill -0 $LATE 2>/dev/null"
sleep 0.5
kill -INT "$OBSP"
for _ in $(seq 50); do kill -0 "$OBSP" 2>/dev/null || break; sleep 0.1; done
zstd -qdcf "$TAP_TMP/ev.zst" >"$TAP_TMP/ev.raw"
"$LINK" -r "$TAP_TMP/ev.raw" -s "$INSITU_ROOT/semantics/http.json" --timeout 500 --linger 100 --stats \
	>"$TAP_TMP/paths.jsonl" 2>"$TAP_TMP/stats"
ok "paths printed" test -s "$TAP_TMP/paths.jsonl"
diag "$(grep -E 'paths|match' "$TAP_TMP/stats" | paste -sd' ')"

[[ -n ${LINK_KEEP:-} ]] && mkdir -p "$LINK_KEEP" && cp "$TAP_TMP/ev.zst" "$LINK_KEEP/cases.zst"
PATHS=$TAP_TMP/paths.jsonl
. "$HERE/link_cases_checks.sh"
done_testing
