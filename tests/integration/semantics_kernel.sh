#!/usr/bin/env bash
# timeout: 180
# In-kernel ID extraction against user-space extraction, on real traffic.
# Loads the real observer BPF programs with the rule table compiled from the
# shipped semantics (tests/tools/xk_agree), runs redis-server, nginx and named in
# a network namespace on their standard ports, drives them with redis-cli, curl and
# dig (UDP and TCP), and requires, for every captured message, that the kernel's
# ids block equals the C reference byte for byte and that the kernel's ids equal
# user space's ids on the same bytes.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/semantics_lib.sh"
need_root
XK=$BUILD/tests/tools/xk_agree
[[ -x $XK ]] || skip_all "$XK not built"
for c in redis-server redis-cli nginx named dig curl; do
	command -v $c >/dev/null || skip_all "$c not installed"
done
cd "$INSITU_ROOT"
export INSITU_PLUGIN_PATH=$BUILD/plugins

netns_add xk
NS=$NS_xk
W=$TAP_TMP; chmod 755 "$W"

# servers on their standard ports, inside the namespace
bg_start REDIS ip netns exec "$NS" redis-server --port 6379 --save '' --appendonly no
mkdir -p "$W/html" "$W/logs"; echo hello > "$W/html/index.html"
cat > "$W/nginx.conf" <<CONF
worker_processes 1; error_log $W/logs/error.log; pid $W/nginx.pid;
events { worker_connections 64; }
http { access_log off; client_body_temp_path $W; proxy_temp_path $W; fastcgi_temp_path $W;
	uwsgi_temp_path $W; scgi_temp_path $W;
	server { listen 127.0.0.1:80; root $W/html; location = /fail { return 503; } } }
CONF
bg_start NGINX ip netns exec "$NS" nginx -c "$W/nginx.conf" -p "$W" -g 'daemon off;'
named_local "$NS"
for port in 6379 80; do
	ok "server on port $port up" wait_for 20 ip netns exec "$NS" bash -c "exec 3<>/dev/tcp/127.0.0.1/$port"
done
ok "named answers" wait_for 20 bash -c "ip netns exec $NS dig +short +tries=1 +time=1 -p 53 @127.0.0.1 www.test A | grep -q 10.0.0.1" ||
	diag "$(tail -n 5 "$TAP_TMP/NAMED.log")"

bg_start XK "$XK" -s "$(ls semantics/*.json | paste -sd,)" --duration 90
ok "observer loaded with the kernel rule table" wait_for 60 grep -q '^ready' "$TAP_TMP/XK.log" ||
	diag "$(tail -n 5 "$TAP_TMP/XK.log")"

# traffic: pipelined and split RESP, inline commands, HTTP keep-alive, DNS over UDP and TCP
ip netns exec "$NS" redis-cli -p 6379 set user:42 hello >/dev/null
ip netns exec "$NS" redis-cli -p 6379 get user:42 >/dev/null
ip netns exec "$NS" redis-benchmark -p 6379 -n 20 -c 1 -P 5 -t set,get -q >/dev/null 2>&1
ip netns exec "$NS" bash -c 'exec 3<>/dev/tcp/127.0.0.1/6379; printf "GET user:42\r\nEXISTS nokey\r\n" >&3; timeout 1 cat <&3' >/dev/null
ip netns exec "$NS" curl -s -H 'X-Request-Id: r-1' http://127.0.0.1/index.html http://127.0.0.1/fail \
	http://127.0.0.1/a/very/long/path/that/still/fits/in/sixty/four/bytes >/dev/null
ip netns exec "$NS" curl -s -o /dev/null "http://127.0.0.1/$(head -c 100 /dev/zero | tr '\0' p)"
for q in "www.test A" "nope.test A" "www.test AAAA"; do
	ip netns exec "$NS" dig +tries=1 +time=2 -p 53 @127.0.0.1 $q >/dev/null
	ip netns exec "$NS" dig +tcp +tries=1 +time=2 -p 53 @127.0.0.1 $q >/dev/null
done
# every captured fixture, replayed over real sockets with its read boundaries
# (one send() per captured read) in a second namespace
netns_add xk2
FX=tests/fixtures/semantics
ok "fixtures replayed through the kernel" ip netns exec "$NS_xk2" "$FX/replay.py" \
	6379 $FX/redis.cap 80 $FX/http.cap 53 $FX/dns.cap 53 $FX/dns-tcp.cap 11211 $FX/memcached.cap \
	11211 $FX/memcached-binary.cap 6667 $FX/irc.cap 5432 $FX/postgres.cap 1883 $FX/mqtt.cap 2181 $FX/zookeeper.cap
sleep 1
kill_pid "$XK"
out=$(cat "$TAP_TMP/XK.log")
diag "$(grep -E '^(messages|protocol|ringbuf|xk_agree)' <<<"$out")"
ok "kernel block == C reference and kernel ids == user-space ids for every message" \
	grep -q ' disagree 0 reference_mismatch 0$' <<<"$out"
grep '^DISAGREE' <<<"$out" | head -n 5 | while read -r l; do diag "$l"; done
for p in http dns dns-tcp redis zookeeper; do
	n=$(sed -n "s/^protocol $p with_ids \([0-9]*\) disagree 0$/\1/p" <<<"$out")
	ok "$p: messages with ids extracted in the kernel (${n:-none})" test "${n:-0}" -gt 0
done
done_testing
