#!/usr/bin/env bash
# timeout: 90
# insitu-logtail following a real nginx error log: nginx proxies to a dead upstream
# (connection refused) and to one that accepts but never answers (upstream timed out
# after proxy_read_timeout); the log is rotated the way logrotate does it (rename +
# USR1 to nginx) and truncated; garbage lines are counted as unmatched.
. "$(dirname "$0")/../lib/tap.sh"
need_cmd nginx curl python3 jq
LT=$BUILD/insitu-logtail
[[ -x $LT ]] || skip_all "$LT not built"
D=${LOGTAIL_KEEP:-$TAP_TMP}
mkdir -p "$D/logs"
# nginx's worker runs as nobody and reopens its log itself on USR1 (rotation): it needs
# to reach $D (a 0700 mktemp directory otherwise), or it keeps writing to the rotated
# file and every line after the rotation's grace period is lost to the follower.
chmod 0711 "$D"
slow=$(free_port)
dead=$(free_port)
while [[ $dead == "$slow" ]]; do dead=$(free_port); done
port=$(free_port)
while [[ $port == "$slow" || $port == "$dead" ]]; do port=$(free_port); done

# An upstream that accepts connections and never answers.
bg_start SLOW python3 -c "
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', $slow)); s.listen(64); held = []
while True:
    c, _ = s.accept(); held.append(c)
"
wait_for 10 bash -c "ss -Hltn 'sport = :$slow' | grep -q ." || fail "slow upstream did not start"
cat >"$D/nginx.conf" <<CONF
worker_processes 1;
pid $D/nginx.pid;
error_log $D/logs/error.log warn;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $D/tmp; proxy_temp_path $D/tmp; fastcgi_temp_path $D/tmp;
    uwsgi_temp_path $D/tmp; scgi_temp_path $D/tmp;
    server {
        listen 127.0.0.1:$port;
        location /slow { proxy_pass http://127.0.0.1:$slow; proxy_read_timeout 1s; }
        location /dead { proxy_pass http://127.0.0.1:$dead; }
    }
}
CONF
mkdir -p "$D/tmp"
bg_start NGINX nginx -c "$D/nginx.conf" -p "$D" -g 'daemon off;'
wait_for 10 curl -s -o /dev/null "http://127.0.0.1:$port/" || { fail "nginx did not start"; cat "$D/NGINX.log"; done_testing; }
wait_for 5 test -s "$D/nginx.pid"

echo "{\"127.0.0.1:$slow\": \"slow-backend\"}" >"$D/subjects.json"
"$LT" --rules "$INSITU_ROOT/rules/nginx.json" --follow --from-start --dry-run --merge-window 0 \
	--interval 50 --json --stats -o web1 --subjects "$D/subjects.json" "$D/logs/error.log" \
	>"$D/reports.jsonl" 2>"$D/stats.json" &
LTPID=$!
at_exit "kill_pid $LTPID"
nreports() { jq -s length "$D/reports.jsonl"; }

for i in 1 2 3; do curl -s -o /dev/null "http://127.0.0.1:$port/dead"; done
for i in 1 2; do curl -s -o /dev/null "http://127.0.0.1:$port/slow"; done
ok "5 upstream errors reported while following" wait_for 20 bash -c "[[ \$(jq -s length '$D/reports.jsonl') -ge 5 ]]"
is "connection refused -> Upstream UNHEALTHY 10 about the dead upstream (raw address)" \
	"$(jq -r 'select(.source.rule=="upstream-refused") | "\(.observer) \(.subject) \(.metrics[0].name) \(.metrics[0].status) \(.metrics[0].score)"' "$D/reports.jsonl" | sort | uniq -c | sed 's/^ *//')" \
	"3 web1 127.0.0.1:$dead Upstream UNHEALTHY 10"
is "read timeout -> Upstream UNHEALTHY 30 about the slow upstream (mapped name)" \
	"$(jq -r 'select(.source.rule=="upstream-timed-out") | "\(.subject) \(.metrics[0].status) \(.metrics[0].score)"' "$D/reports.jsonl" | sort | uniq -c | sed 's/^ *//')" \
	"2 slow-backend UNHEALTHY 30"
now_us=$(($(date +%s%N) / 1000))
ts=$(jq -r .ts_us "$D/reports.jsonl" | tail -n1)
ok "report time is the log time of a line just written (local zone read right)" test $((now_us - ts)) -lt 30000000 -a $((now_us - ts)) -gt -2000000

# Rotation as logrotate does it: rename, then USR1 makes nginx reopen its log.
mv "$D/logs/error.log" "$D/logs/error.log.1"
kill -USR1 "$(cat "$D/nginx.pid")"
wait_for 10 test -e "$D/logs/error.log"
curl -s -o /dev/null "http://127.0.0.1:$port/dead"
ok "a report from the new file after rotation" wait_for 20 bash -c "[[ \$(jq -s length '$D/reports.jsonl') -ge 6 ]]"

# Truncation in place (copytruncate): what follows is read from offset 0.
sleep 0.3
: >"$D/logs/error.log"
sleep 0.3
curl -s -o /dev/null "http://127.0.0.1:$port/dead"
ok "a report after truncation" wait_for 20 bash -c "[[ \$(jq -s length '$D/reports.jsonl') -ge 7 ]]"

# Malformed lines are counted, never fatal; a line from 10 minutes ago is stale.
printf 'garbage\n\x01\x02 binary junk\n2026/13/45 99:99:99 [error] 1#1: *1 not a time\n' >>"$D/logs/error.log"
old=$(date -d '-10 min' '+%Y/%m/%d %H:%M:%S')
echo "$old [error] 1#1: *9 connect() failed (111: Connection refused) while connecting to upstream, client: 127.0.0.1, server: , request: \"GET / HTTP/1.1\", upstream: \"http://10.9.9.9:1/\", host: \"x\"" >>"$D/logs/error.log"
curl -s -o /dev/null "http://127.0.0.1:$port/dead"
ok "still reporting after malformed lines" wait_for 20 bash -c "[[ \$(jq -s length '$D/reports.jsonl') -ge 8 ]]"
kill -TERM $LTPID
wait $LTPID
is "insitu-logtail exits 0 on SIGTERM" "$?" 0
s=$(cat "$D/stats.json")
is "rotation counted" "$(jq -r .rotations <<<"$s")" 1
is "truncation counted" "$(jq -r .truncations <<<"$s")" 1
is "2 malformed lines counted as unmatched" "$(jq -r .unmatched <<<"$s")" 2
is "1 line with an impossible time counted as bad_time" "$(jq -r .bad_time <<<"$s")" 1
is "the 10-minute-old line counted as stale, not reported" "$(jq -r .stale <<<"$s")" 1
ok "no report about the stale line's upstream" bash -c "! grep -q 10.9.9.9 '$D/reports.jsonl'"
is "reports counter = lines printed" "$(jq -r .reports <<<"$s")" "$(nreports)"
done_testing
