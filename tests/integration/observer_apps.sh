#!/usr/bin/env bash
# timeout: 120
# insitu-observer watching real programs: redis-server with redis-cli and
# redis-benchmark, nginx with curl, named (bind9) answering dig over UDP.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/observer_lib.sh"
obs_prereq
need_cmd redis-server redis-cli redis-benchmark nginx named dig curl

PR=$(free_port); PN=$(free_port); PD=$(free_port)
obs_start OBS --port "$PR" --port "$PN" --port "$PD" --stats --json \
	|| { fail "observer attached"; cat "$TAP_TMP/OBS.log"; done_testing; }

# --- redis
bg_start REDIS redis-server --port "$PR" --bind 127.0.0.1 --save '' --appendonly no --protected-mode no
wait_for 10 redis-cli -p "$PR" ping
ok "redis-cli set" test "$(redis-cli -p "$PR" set insitu-key v1)" = OK
ok "redis-benchmark 2000 SETs, 4 connections" \
	redis-benchmark -p "$PR" -n 2000 -c 4 -t set -q -r 1000

# --- nginx
mkdir -p "$TAP_TMP/ng"
cat > "$TAP_TMP/ng/nginx.conf" <<CONF
worker_processes 1;
error_log $TAP_TMP/ng/error.log;
pid $TAP_TMP/ng/nginx.pid;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $TAP_TMP/ng/body;
  proxy_temp_path $TAP_TMP/ng/proxy;
  fastcgi_temp_path $TAP_TMP/ng/fcgi;
  server { listen 127.0.0.1:$PN; location / { return 200 "hello-insitu\n"; } }
}
CONF
bg_start NGINX nginx -c "$TAP_TMP/ng/nginx.conf" -p "$TAP_TMP/ng" -g 'daemon off; master_process off;'
wait_for 10 curl -sf "http://127.0.0.1:$PN/ready"
ok "curl through nginx" test "$(curl -s "http://127.0.0.1:$PN/insitu-path")" = hello-insitu

# --- named + dig (UDP)
mkdir -p "$TAP_TMP/nd"
cat > "$TAP_TMP/nd/named.conf" <<CONF
options { directory "$TAP_TMP/nd"; listen-on port $PD { 127.0.0.1; }; listen-on-v6 { none; };
  recursion no; pid-file "$TAP_TMP/nd/named.pid"; dnssec-validation no; };
controls { };
zone "test." { type master; file "$TAP_TMP/nd/test.zone"; };
CONF
printf '%s\n' '$TTL 60' '@ IN SOA ns.test. admin.test. 1 60 60 60 60' '@ IN NS ns.test.' \
	'ns IN A 127.0.0.1' 'www IN A 10.1.2.3' > "$TAP_TMP/nd/test.zone"
bg_start NAMED named -g -c "$TAP_TMP/nd/named.conf"
wait_for 15 dig @127.0.0.1 -p "$PD" ns.test +short +tries=1 +time=1
ok "dig www.test against named" \
	test "$(dig @127.0.0.1 -p "$PD" www.test +short +tries=1 +time=2 +notcp)" = 10.1.2.3

sleep 0.3
obs_stop OBS; is "observer exits 0" "$?" 0

# redis: the exact RESP bytes at both ends, same byte range
set_req='*3\r\n$3\r\nset\r\n$10\r\ninsitu-key\r\n$2\r\nv1\r\n'
got=$(q OBS "select(.type==\"msg\" and .payload==\"$set_req\") | [.comm,.dir,.seq]" | sort)
cli=$(jq -r 'select(.[0]=="redis-cli") | .[2]' <<<"$got")
srv=$(jq -r 'select(.[0]=="redis-server") | .[2]' <<<"$got")
ok "redis: SET seen at redis-cli (send) and redis-server (recv)" \
	test "$(jq -r '.[1]' <<<"$got" | sort | tr '\n' ' ')" = "recv send "
ok "redis: both ends carry the same byte position" test -n "$cli" -a "$cli" = "$srv"
is "redis: +OK reply received by redis-cli" \
	"$(q OBS 'select(.type=="msg" and .payload=="+OK\r\n" and .comm=="redis-cli") | .dir')" '"recv"'
nset=$(q OBS 'select(.type=="msg" and .comm=="redis-server" and .dir=="recv" and (.payload|startswith("*3\r\n$3\r\nSET\r\n")))' | wc -l)
is "redis-benchmark: every one of the 2000 SETs seen at the server" "$nset" 2000
nbench=$(q OBS 'select(.type=="msg" and .comm=="redis-benchmark" and .dir=="send" and (.payload|startswith("*3\r\n$3\r\nSET\r\n")))' | wc -l)
is "redis-benchmark: every SET seen at the client" "$nbench" 2000

# nginx: the request line at both ends, the body in the answer
req=$(q OBS 'select(.type=="msg" and (.payload|startswith("GET /insitu-path HTTP/1.1\r\n"))) | [.comm,.dir,.seq]' | sort)
is "nginx: request seen at curl (send) and nginx (recv)" \
	"$(jq -r '"\(.[0]):\(.[1])"' <<<"$req" | sort | tr '\n' ' ')" "curl:send nginx:recv "
is "nginx: same byte position at both ends" "$(jq -r '.[2]' <<<"$req" | sort -u | wc -l)" 1
ok "nginx: the answer carries the body, seen at curl" \
	test -n "$(q OBS 'select(.type=="msg" and .comm=="curl" and .dir=="recv" and (.payload|contains("hello-insitu")))')"

# named: the query (same txid, same bytes) at dig and at named, the answer back.
# (jq's contains() stops at NUL bytes: index() is used on binary payloads.)
qry=$(q OBS "select(.type==\"msg\" and .proto==\"udp\" and (.payload|index(\"\\u0003www\\u0004test\")!=null) and .dir==\"send\" and .rport==$PD) | .payload" | head -n1)
ok "dns: dig's query seen, to named's port" test -n "$qry"
srvq=$(q OBS "select(.type==\"msg\" and .proto==\"udp\" and .dir==\"recv\" and .lport==$PD and .payload==$qry) | .comm")
ok "dns: the same query bytes received on named's side" test -n "$srvq"
ok "dns: the answer received by dig, from named's port" \
	test -n "$(q OBS "select(.type==\"msg\" and .proto==\"udp\" and .dir==\"recv\" and .rport==$PD and (.payload|index(\"\\u0003www\\u0004test\")!=null))")"
stats=$(grep '^{' "$TAP_TMP/OBS.log" | tail -n1)
is "no ring-buffer drops" "$(jq .ringbuf_drops <<<"$stats")" 0
done_testing
