#!/usr/bin/env bash
# Soak (issue 9): sustained high message rates and connection churn from real programs
# while everything of insitu runs, for SOAK_SECONDS (default 60; the suite runs it via
# tests/integration/reliability_soak.sh; `SOAK_SECONDS=1800 tests/soak/soak.sh` for a
# long one).  On 127.0.0.1:
#   - redis-server driven by redis-benchmark -k 0 (a new connection per request: port
#     and fd reuse, TIME_WAIT recycling) and by a pipelined keep-alive benchmark;
#   - nginx driven by wrk with "Connection: close", plus requests to a dead upstream
#     whose error-log lines insitu-logtail -f turns into reports;
#   - three insitu-observers at once: one decoding every event (--dump to /dev/null),
#     one with a 64 KiB ring read slowly, so that it must drop (and count) events, one
#     recording nginx's traffic to a file that is replayed afterwards (every record
#     written must read back);
#   - insitud with 8 CLI clients in loops (status, ping, stats, report, get inference).
# Asserts: nothing crashed; resident memory (VmHWM) of each daemon under the cap below
# (docs/reliability.md); drops counted and visible in --stats / insitu stats; the traced
# programs' own success counts; every CLI call answered.
# timeout: 400
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../integration/aggregator_lib.sh"
. "$(dirname "$0")/../integration/reliability_lib.sh"
need_root
need_cmd python3 jq redis-server redis-benchmark redis-cli nginx wrk curl
[[ -x $INSITUD && -x $INSITU && -x $OBSBIN && -x $LOGTAIL ]] || skip_all "build insitud, insitu, insitu-observer, insitu-logtail first"

SECS=${SOAK_SECONDS:-60}
# Resident-memory caps in KiB (documented in docs/reliability.md).
# (x8 under ASan: REL_MEM_FACTOR)
CAP_OBSERVER=${CAP_OBSERVER:-$((65536 * REL_MEM_FACTOR))}    # 8 MiB ring mapped + maps + decoder
CAP_INSITUD=${CAP_INSITUD:-$((65536 * REL_MEM_FACTOR))}
CAP_LOGTAIL=${CAP_LOGTAIL:-$((32768 * REL_MEM_FACTOR))}

ports=()
newport() { local p; while :; do p=$(rel_port); [[ " ${ports[*]} " == *" $p "* ]] || break; done; ports+=("$p"); echo "$p"; }
PR=$(newport); PN=$(newport); PDEAD=$(newport)

# --- the traced programs ---
bg_start REDIS redis-server --port "$PR" --bind 127.0.0.1 --save '' --appendonly no --protected-mode no --maxclients 10000
wait_for 10 redis-cli -p "$PR" ping || { fail "redis starts"; done_testing; }
N=$TAP_TMP/nginx; mkdir -p "$N/logs" "$N/tmp"
cat > "$N/nginx.conf" <<CONF
worker_processes 2;
pid $N/nginx.pid;
error_log $N/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $N/tmp; proxy_temp_path $N/tmp; fastcgi_temp_path $N/tmp;
    uwsgi_temp_path $N/tmp; scgi_temp_path $N/tmp;
    server {
        listen 127.0.0.1:$PN;
        location / { return 200 "ok\n"; }
        location /dead { proxy_pass http://127.0.0.1:$PDEAD; }
    }
}
CONF
bg_start NGINX nginx -c "$N/nginx.conf" -p "$N" -g 'daemon off;'
wait_for 10 curl -sf -o /dev/null "http://127.0.0.1:$PN/" || { fail "nginx starts"; done_testing; }

# --- insitu ---
rel_start_insitud AGG "$TAP_TMP/agg" -q || { fail "insitud starts"; done_testing; }
S=$TAP_TMP/agg/sock
bg_start OBS "$OBSBIN" --port "$PR" --port "$PN" --dump -o /dev/null --stats --json --interval 5
bg_start SLOW "$OBSBIN" --port "$PR" --port "$PN" --ring-kb 64 --throttle-ms 50 --stats --json --interval 5
bg_start REC "$OBSBIN" --port "$PN" --record "$TAP_TMP/soak.zst" --stats --json
wait_for 30 grep -q attached "$TAP_TMP/OBS.log" || fail "observer 1 attached"
wait_for 30 grep -q attached "$TAP_TMP/SLOW.log" || fail "observer 2 attached"
wait_for 30 grep -q attached "$TAP_TMP/REC.log" || fail "observer 3 (recording) attached"
bg_start LT "$LOGTAIL" -r "$INSITU_ROOT/rules/nginx.json" -f --interval 100 -o web1 -s "$S" --merge-window 0 --stats --json "$N/logs/error.log"

END=$((SECONDS + SECS))
# memory sampler: the highest VmRSS seen per process
declare -A PIDS=([observer]=$OBS [observer_slow]=$SLOW [observer_rec]=$REC [insitud]=$AGG [logtail]=$LT)
(
	while ((SECONDS < END + 5)); do
		for k in "${!PIDS[@]}"; do echo "$k $(rss_kb "${PIDS[$k]}" VmRSS)"; done
		sleep 1
	done
) > "$TAP_TMP/rss.log" &
sampler=$!; at_exit "kill $sampler"

# short connections: redis-benchmark -k 0 in a loop
(
	runs=0 bad=0 reqs=0
	while ((SECONDS < END)); do
		if out=$(redis-benchmark -p "$PR" -k 0 -c 16 -n 5000 -t ping_mbulk,set,get -q 2>&1); then
			runs=$((runs + 1)); reqs=$((reqs + 15000))
		else
			bad=$((bad + 1)); echo "$out" | tail -n 3 >&2
		fi
	done
	echo "$runs $bad $reqs"
) > "$TAP_TMP/short.res" 2> "$TAP_TMP/short.err" &
short=$!
# high message rate: pipelined keep-alive connections
(
	runs=0 bad=0 reqs=0
	while ((SECONDS < END)); do
		if redis-benchmark -p "$PR" -c 4 -P 32 -n 100000 -t set,get -q >/dev/null 2>&1; then
			runs=$((runs + 1)); reqs=$((reqs + 200000))
		else bad=$((bad + 1)); fi
	done
	echo "$runs $bad $reqs"
) > "$TAP_TMP/pipe.res" &
pipe=$!
# HTTP with a connection per request
wrk -t 2 -c 32 -d "${SECS}s" -H 'Connection: close' "http://127.0.0.1:$PN/" > "$TAP_TMP/wrk.out" 2>&1 &
wrkp=$!
# errors for logtail: a dead upstream, twice a second
(
	n=0
	while ((SECONDS < END)); do curl -s -o /dev/null "http://127.0.0.1:$PN/dead"; n=$((n + 1)); sleep 0.5; done
	echo "$n"
) > "$TAP_TMP/dead.res" &
dead=$!
# 8 CLI clients
clis=()
for i in 1 2 3 4 5 6 7 8; do
	(
		calls=0 bad=0
		while ((SECONDS < END)); do
			case $((calls % 5)) in
			0) "$INSITU" -s "$S" status ;;
			1) "$INSITU" -s "$S" ping ;;
			2) "$INSITU" -s "$S" --as "cli$i" report "soak-$((calls % 50))" lat:h:90 err:m:40 ;;
			3) "$INSITU" -s "$S" stats ;;
			4) "$INSITU" -s "$S" get inference "soak-$((calls % 50))" ;;
			esac >/dev/null 2>&1 || { [[ $((calls % 5)) == 4 ]] || bad=$((bad + 1)); }
			calls=$((calls + 1))
		done
		echo "$calls $bad"
	) > "$TAP_TMP/cli$i.res" &
	clis+=($!)
done

wait "$short" "$pipe" "$wrkp" "$dead" "${clis[@]}"
diag "soak ran ${SECS}s"

# --- the traced programs kept working ---
read -r sruns sbad sreqs < "$TAP_TMP/short.res"
read -r pruns pbad preqs < "$TAP_TMP/pipe.res"
diag "redis-benchmark -k 0: $sruns runs ($sreqs requests, one connection each), $sbad failed; pipelined: $pruns runs ($preqs requests), $pbad failed"
[[ -s $TAP_TMP/short.err ]] && diag "$(head -n 5 "$TAP_TMP/short.err")"
ok "redis-benchmark with a connection per request never failed ($sruns runs)" test "$sruns" -ge 1 -a "$sbad" -eq 0
ok "pipelined redis-benchmark never failed ($pruns runs)" test "$pruns" -ge 1 -a "$pbad" -eq 0
wreq=$(awk '/requests in/ { print $1 }' "$TAP_TMP/wrk.out")
diag "wrk: $(grep -E 'requests in|Socket errors|Non-2xx|Requests/sec' "$TAP_TMP/wrk.out" | tr -s ' ' | tr '\n' ';')"
ok "wrk with Connection: close served ${wreq:-0} requests, all 200" bash -c "[[ ${wreq:-0} -gt 0 ]] && ! grep -q 'Non-2xx' '$TAP_TMP/wrk.out'"
is "redis still answers" "$(redis-cli -p "$PR" ping)" PONG

# --- insitu survived and counted ---
for k in observer observer_slow observer_rec insitud logtail; do
	ok "$k still running" kill -0 "${PIDS[$k]}"
done
cb=0 cc=0; for i in 1 2 3 4 5 6 7 8; do read -r c b < "$TAP_TMP/cli$i.res"; cc=$((cc + c)); cb=$((cb + b)); done
diag "CLI: $cc calls by 8 clients, $cb failed"
is "every CLI call was answered ($cc calls)" "$cb" 0
agg=$("$INSITU" -s "$S" --json stats)
diag "insitud: $(jq -c 'del(.peers)' <<<"$agg" | cut -c1-600)"
ok "insitu stats shows its drop counters" jq -e 'has("clients_dropped_slow") and has("clients_dropped_too_long") and has("clients_refused_full") and has("evicted_by_view_cap")' <<<"$agg"
ok "views stayed capped (evictions counted)" test "$(jq .evicted_by_view_cap <<<"$agg")" -gt 0
ok "logtail's reports arrived ($(cat "$TAP_TMP/dead.res") dead-upstream requests)" "$INSITU" -s "$S" get report web1 "127.0.0.1:$PDEAD"

# memory, before stopping anything
declare -A HWM
for k in "${!PIDS[@]}"; do HWM[$k]=$(rss_kb "${PIDS[$k]}" VmHWM); done
peak() { awk -v k="$1" '$1 == k && $2 > m { m = $2 } END { print m + 0 }' "$TAP_TMP/rss.log"; }
diag "VmHWM KiB: observer ${HWM[observer]} (sampled peak RSS $(peak observer)), slow observer ${HWM[observer_slow]}, insitud ${HWM[insitud]} (peak $(peak insitud)), logtail ${HWM[logtail]}"
ok "observer memory under ${CAP_OBSERVER} KiB (${HWM[observer]})" test "${HWM[observer]}" -gt 0 -a "${HWM[observer]}" -le "$CAP_OBSERVER"
ok "recording observer memory under ${CAP_OBSERVER} KiB (${HWM[observer_rec]})" test "${HWM[observer_rec]}" -gt 0 -a "${HWM[observer_rec]}" -le "$CAP_OBSERVER"
ok "slow observer memory under ${CAP_OBSERVER} KiB (${HWM[observer_slow]})" test "${HWM[observer_slow]}" -gt 0 -a "${HWM[observer_slow]}" -le "$CAP_OBSERVER"
ok "insitud memory under ${CAP_INSITUD} KiB (${HWM[insitud]})" test "${HWM[insitud]}" -gt 0 -a "${HWM[insitud]}" -le "$CAP_INSITUD"
ok "logtail memory under ${CAP_LOGTAIL} KiB (${HWM[logtail]})" test "${HWM[logtail]}" -gt 0 -a "${HWM[logtail]}" -le "$CAP_LOGTAIL"
# steady state: the second half of the run does not grow beyond the first half's peak + 25 %
half() { awk -v k="$1" -v n="$2" '$1 == k { a[++c] = $2 } END { m = 0; for (i = (n == 1 ? 1 : int(c / 2) + 1); i <= (n == 1 ? int(c / 2) : c); i++) if (a[i] > m) m = a[i]; print m }' "$TAP_TMP/rss.log"; }
for k in observer insitud; do
	h1=$(half "$k" 1); h2=$(half "$k" 2)
	ok "$k RSS flat: first half peak $h1 KiB, second half $h2 KiB" test "$h2" -le $((h1 + h1 / 4 + 1024))
done

kill -INT "$OBS"; wait "$OBS"; rc1=$?
kill -INT "$SLOW"; wait "$SLOW"; rc2=$?
is "observers exit cleanly" "$rc1 $rc2" "0 0"
kill -INT "$REC"; wait "$REC"; rc3=$?
is "recording observer exits cleanly" "$rc3" 0
o1=$(grep '^{' "$TAP_TMP/OBS.log" | tail -n1); o2=$(grep '^{' "$TAP_TMP/SLOW.log" | tail -n1)
o3=$(grep '^{' "$TAP_TMP/REC.log" | tail -n1)
rp=$("$OBSBIN" --replay "$TAP_TMP/soak.zst" --stats --json 2>&1 | grep '^{' | tail -n1)
diag "recorded $(jq .records <<<"$o3") records ($(du -k "$TAP_TMP/soak.zst" | cut -f1) KiB zstd), replay read $(jq .records <<<"$rp")"
ok "every record written under load reads back (replay: $(jq .records <<<"$rp"), none invalid)" \
	jq -e --argjson w "$(jq .records <<<"$o3")" '.records == $w and .records > 0 and .invalid == 0' <<<"$rp"
diag "observer: $o1"
diag "slow observer: $o2"
ok "observer decoded events (msg $(jq .msg_events <<<"$o1"), conn $(jq .conn_events <<<"$o1")), none invalid" \
	jq -e '.msg_events > 10000 and .conn_events > 1000 and .invalid == 0' <<<"$o1"
ok "slow observer dropped events and counted them (ringbuf_drops $(jq .ringbuf_drops <<<"$o2"))" \
	jq -e '.ringbuf_drops > 0 and .records > 0 and .invalid == 0' <<<"$o2"
kill -USR1 "$LT" 2>/dev/null; sleep 0.3; kill -INT "$LT"; wait "$LT"
lt=$(grep '^{' "$TAP_TMP/LT.log" | tail -n1)
diag "logtail: $lt"
ok "logtail: reports sent, none dropped" jq -e '.sent > 0 and .dropped == 0' <<<"$lt"
# figures for docs/reliability.md
{
	echo "seconds $SECS"
	echo "redis_short_requests $sreqs"; echo "redis_pipelined_requests $preqs"; echo "wrk_requests ${wreq:-0}"
	echo "cli_calls $cc"; echo "cli_failed $cb"
	jq -r '"observer_msg_events \(.msg_events)\nobserver_conn_events \(.conn_events)\nobserver_drops \(.ringbuf_drops)"' <<<"$o1"
	jq -r '"slow_observer_drops \(.ringbuf_drops)\nslow_observer_records \(.records)"' <<<"$o2"
	for k in "${!HWM[@]}"; do echo "vmhwm_kib_$k ${HWM[$k]}"; done
} > "${SOAK_FIGURES:-$TAP_TMP/figures}"
rel_no_sanitizer_reports
done_testing
