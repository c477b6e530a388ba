#!/usr/bin/env bash
# timeout: 150
# insitu-observer --payload=ids, end to end, against --payload=full on the same
# traffic: curl -> nginx -> python http.server (two HTTP hops linked by the request
# target) and dig -> named (UDP, txid, rcode), in a network namespace, with the
# kernel-complete semantics in tests/integration/ids_only/.  Requires:
#   - in ids mode every HTTP request/response start and every DNS message comes as
#     ids block only (flag ids_only, cap_len 0, empty payload) and the kernel
#     counter ids_only counts them;
#   - the paths of both modes are the same: tree shape, protocols, link ids,
#     outcomes and status codes, both ends of every hop joined;
#   - the linker used the kernel's blocks (kernel_ids / ids_only counters).
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/semantics_lib.sh"
need_root
need_cmd nginx named dig curl python3 jq
OBS=$BUILD/insitu-observer
[[ -x $OBS ]] || skip_all "build insitu-observer first"
SEM=$INSITU_ROOT/tests/integration/ids_only

netns_add io
NS=$NS_io
W=$TAP_TMP; chmod 755 "$W"
ip -n "$NS" link set lo up

# backend: python's http.server; nginx proxies /b/ to it, answers /fail with 503
mkdir -p "$W/html/b" "$W/logs"; echo hello > "$W/html/index.html"; echo x > "$W/html/b/x.txt"
bg_start BACKEND ip netns exec "$NS" python3 -m http.server 8000 --bind 127.0.0.1 --directory "$W/html"
cat > "$W/nginx.conf" <<CONF
worker_processes 1; error_log $W/logs/error.log; pid $W/nginx.pid;
events { worker_connections 64; }
http { access_log off; sendfile off; client_body_temp_path $W; proxy_temp_path $W;
	fastcgi_temp_path $W; uwsgi_temp_path $W; scgi_temp_path $W;
	server { listen 127.0.0.1:80; root $W/html;
		location = /fail { return 503; }
		location /b/ { proxy_pass http://127.0.0.1:8000; } } }
CONF
bg_start NGINX ip netns exec "$NS" nginx -c "$W/nginx.conf" -p "$W" -g 'daemon off;'
named_local "$NS"
for port in 80 8000; do
	ok "server on port $port up" wait_for 20 ip netns exec "$NS" bash -c "exec 3<>/dev/tcp/127.0.0.1/$port"
done
ok "named answers" wait_for 20 bash -c "ip netns exec $NS dig +short +tries=1 +time=1 @127.0.0.1 www.test A | grep -q 10.0.0.1"

traffic() {
	local i
	for i in $(seq 1 8); do
		ip netns exec "$NS" curl -s -o /dev/null "http://127.0.0.1/b/x.txt?n=$i"
		ip netns exec "$NS" curl -s -o /dev/null "http://127.0.0.1/b/missing$i"
		ip netns exec "$NS" curl -s -o /dev/null "http://127.0.0.1/fail?n=$i"
		ip netns exec "$NS" dig +tries=1 +time=2 @127.0.0.1 www.test A >/dev/null
		ip netns exec "$NS" dig +tries=1 +time=2 @127.0.0.1 nope$i.test A >/dev/null
		ip netns exec "$NS" dig +tries=1 +time=2 @127.0.0.1 other$i.example A >/dev/null
	done
}

# run MODE: observer live with --paths, --dump and --stats
run() {
	local m=$1
	bg_start "OBS_$m" "$OBS" --semantics "$SEM" --payload "$m" --netns "/run/netns/$NS" \
		--paths --dump --output "$W/dump.$m" --record "$W/rec.$m.zst" --stats --poll-ms 50 --wake-kb 1
	wait_for 60 grep -q "attached" "$TAP_TMP/OBS_$m.log" || { diag "$(tail -n 5 "$TAP_TMP/OBS_$m.log")"; return 1; }
	traffic
	sleep 2 # the linker emits a path once its hops are done and lingered
	local v="OBS_$m"
	kill -INT "${!v}"
	wait "${!v}"
}
ok "full mode: observer ran" run full
ok "ids mode: observer ran" run ids
for m in full ids; do
	grep '^{"path"' "$TAP_TMP/OBS_$m.log" > "$W/paths.$m" || true
done

# ---- no payload bytes in ids mode
sel='select(.type=="msg" and (.lport==80 or .rport==80 or .lport==8000 or .rport==8000 or .lport==53 or .rport==53))'
n_ids=$(jq -c "$sel | select(.flags|index(\"ids_only\"))" "$W/dump.ids" | wc -l)
n_bad=$(jq -c "$sel | select(.flags|index(\"ids_only\")) | select(.cap_len != 0 or .payload != \"\" or (.ids|length) == 0)" "$W/dump.ids" | wc -l)
n_dns_kept=$(jq -c "$sel | select(.proto==\"udp\" and .bytes > 0 and (.flags|index(\"ids_only\")|not))" "$W/dump.ids" | wc -l)
n_full_ids=$(jq -c "$sel | select(.flags|index(\"ids_only\"))" "$W/dump.full" | wc -l)
# 8 rounds: 24 dig queries + 24 answers, 24 curl requests + 24 responses at nginx and
# 16 proxied ones at the backend, each seen by sender and receiver: >= 96*2
ok "ids mode: messages sent as ids only ($n_ids)" test "$n_ids" -ge 192
is "ids mode: none of them carries payload bytes" "$n_bad" 0
is "ids mode: every DNS datagram came without payload" "$n_dns_kept" 0
is "full mode: no message is ids only" "$n_full_ids" 0
k_ids=$(awk '$1 == "ids_only" { print $2 }' "$TAP_TMP/OBS_ids.log" | tail -n 1)
ok "kernel counter ids_only ($k_ids) counts them" test "$k_ids" -ge "$n_ids"
avg() { jq -s "[.[] | $sel | 136 + ((.ids|length)/2) + .cap_len] | add / length | floor" "$1"; }
diag "ring-buffer bytes per message event (these ports): full $(avg "$W/dump.full"), ids $(avg "$W/dump.ids")"

# ---- the linker used the kernel's ids
# "linker: ids kernel K user_space U ids_only I ids_only_unusable B"
lstat() { awk -v k="$2" '$1 == "linker:" && $2 == "ids" { for (i = 3; i < NF; i++) if ($i == k) print $(i + 1) }' "$TAP_TMP/OBS_$1.log" | tail -n 1; }
l_ids=$(lstat ids ids_only); l_bad=$(lstat ids ids_only_unusable); l_k=$(lstat full kernel)
diag "linker ids: full mode kernel $l_k user_space $(lstat full user_space); ids mode ids_only $l_ids kernel $(lstat ids kernel) user_space $(lstat ids user_space)"
ok "ids mode: linker took $l_ids messages from the ids block alone" test "$l_ids" -ge 192
is "ids mode: no unusable block" "$l_bad" 0
ok "full mode: linker used complete kernel blocks instead of extracting ($l_k)" test "$l_k" -ge 100
# the same counters in --stats --json ("linker" object), against the text form of
# the same replay of the ids-mode recording
replay() { "$OBS" --replay "$W/rec.ids.zst" --semantics "$SEM" --paths --stats "$@" 2>/dev/null; }
txt=$(replay | awk '$1 == "linker:" && $2 == "ids" { print $4, $6, $8, $10 }' | tail -n 1)
js=$(replay --json | grep '"linker"' | tail -n 1 | jq -r '.linker | "\(.kernel_ids) \(.user_ids) \(.ids_only) \(.ids_only_unusable)"')
is "--stats --json: linker kernel_ids user_ids ids_only ids_only_unusable as in the text form" "$js" "$txt"
ok "--stats --json: linker ids_only of the replay ($(cut -d' ' -f3 <<<"$js")) >= 192" test "$(cut -d' ' -f3 <<<"$js")" -ge 192

# ---- same paths
norm='def n: [.proto, .link_id, .outcome, .status, .client.seen, .server.seen, ([.children[] | n] | sort)]; .root | n'
for m in full ids; do jq -c "$norm" "$W/paths.$m" | sort > "$W/norm.$m"; done
np=$(wc -l < "$W/norm.full")
ok "full mode: paths ($np)" test "$np" -ge 48
ok "ids mode: the same paths (shape, link ids, outcomes, status, both ends joined)" \
	diff "$W/norm.full" "$W/norm.ids" || diag "$(diff "$W/norm.full" "$W/norm.ids" | head -n 10)"
two=$(jq -c 'select(.root.children | length == 1) | select(.root.children[0].link_id | startswith("/b/"))' "$W/paths.ids" | wc -l)
ok "ids mode: nginx -> backend hops linked under their client request ($two)" test "$two" -ge 16
e503=$(jq -c 'select(.root.status == 503 and .root.outcome == "error")' "$W/paths.ids" | wc -l)
ok "ids mode: 503 outcomes from the kernel's status bytes ($e503)" test "$e503" -ge 8
# IDS_ONLY_KEEP=DIR keeps the two recordings (tests/fixtures/linker/ came from there)
[[ -n ${IDS_ONLY_KEEP:-} ]] && cp "$W/rec.full.zst" "$W/rec.ids.zst" "$IDS_ONLY_KEEP/"
done_testing
