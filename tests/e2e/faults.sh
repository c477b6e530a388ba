#!/usr/bin/env bash
# The fault injectors of tests/lib/faults.sh (and delayq) do what they claim, measured
# by the clients themselves — no insitu involved: the HTTP topology of topo_http, curl
# straight from a client namespace to backend b1, and the DNS chain of topo_dns, dig to
# the authoritative server.  Effects asserted are large and relative (a 300 ms delay
# must cost >= 290 ms; healthy answers must take < 100 ms at the median).
# timeout: 150
. "$(dirname "$0")/../lib/tap.sh"
need_root
need_cmd nginx redis-server python3 curl iptables nft stdbuf dig named unbound dnsmasq
. "$INSITU_ROOT/tests/lib/topo.sh"
. "$INSITU_ROOT/tests/lib/faults.sh"
[[ -x $DELAYQ ]] || skip_all "build delayq first (make tests)"

topo_http
rc=$?
is "HTTP topology answers" "$rc" 0
((rc == 0)) || { echo "Bail out! no topology"; done_testing; }
B1=http://$TOPO_NET.11:8000

# times NODE N [CURL-OPTS...]: N sequential fresh requests to b1; "code seconds" lines
times() {
	local node=$1 n=$2 ns="NS_$1" i; shift 2
	for ((i = 0; i < n; i++)); do
		ip netns exec "${!ns}" curl -s -o /dev/null -w '%{http_code} %{time_total}\n' "$@" "$B1/f$i"
	done
}
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR ? v[int((NR + 1) / 2)] : -1) }'; }
below() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }

t=$(times lg1 7 -m 5 | awk '{ print $2 }' | median)
ok "healthy: median answer from b1 under 100 ms ($t s)" below "$t" 0.1

fault_delay b1 tcp 8000 300
t=$(times lg1 4 -m 5 | awk '{ print $2 }' | sort -g | head -n1)
ok "delay 300 ms on b1: every answer takes >= 290 ms (fastest $t s)" below 0.29 "$t"
fault_clear
t=$(times lg1 7 -m 5 | awk '{ print $2 }' | median)
ok "delay removed: median back under 100 ms ($t s)" below "$t" 0.1
ok "delayq exited on SIGTERM and printed its counters" grep -q 'delayq: queued [1-9][0-9]* accepted [1-9]' "$TAP_TMP/delayq-b1.log"
ok "delayq dropped nothing and set every verdict" grep -q 'dropped_full 0 recv_errors 0 verdict_errors 0' "$TAP_TMP/delayq-b1.log"
diag "$(tail -n1 "$TAP_TMP/delayq-b1.log")"
out=$(ip netns exec "$NS_b1" iptables -S OUTPUT)
is "delay rule removed from b1's namespace" "$(grep -c NFQUEUE <<<"$out")" 0

fault_loss b1 tcp 8000 50
slow=$(times lg1 12 -m 8 | awk '$2 >= 0.2' | wc -l)
ok "50% loss on b1: some answers wait for a retransmission (>= 200 ms: $slow of 12)" test "$slow" -ge 1
fault_clear
is "loss table removed" "$(ip netns exec "$NS_b1" nft list tables | grep -c insitu_loss)" 0

fault_errors_http b1
is "errors: b1 answers 500" "$(times lg1 1 -m 5 | awk '{ print $1 }')" 500
fault_clear
is "errors removed: b1 answers 200" "$(times lg1 1 -m 5 | awk '{ print $1 }')" 200

fault_hang b1
ip netns exec "$NS_lg1" curl -s -o /dev/null -m 1 "$B1/hang"
is "hang: a request to the SIGSTOPped b1 times out (curl 28)" "$?" 28
is "hang: b1 is stopped" "$(ps -o stat= -p "${TOPO_PID[b1]}" | cut -c1)" T
fault_clear
is "resumed: b1 answers 200" "$(times lg1 1 -m 5 | awk '{ print $1 }')" 200

old=${TOPO_PID[b1]}
fault_kill b1
ip netns exec "$NS_lg1" curl -s -o /dev/null -m 2 "$B1/dead"
is "death: connecting to the killed b1 is refused (curl 7)" "$?" 7
fault_clear
up_b1() { [[ $(times lg1 1 -m 1 | awk '{ print $1 }') == 200 ]]; }
ok "restarted: b1 answers again" wait_for 15 up_b1
ok "restarted b1 has a new pid that is the server itself ($old -> ${TOPO_PID[b1]})" \
	test "$(ps -o args= -p "${TOPO_PID[b1]}" | grep -c backend.py)" = 1

fault_cut lg1 "$TOPO_NET.11"
ip netns exec "$NS_lg1" curl -s -o /dev/null -m 1 "$B1/cut"
is "cut lg1 -> b1: lg1's request times out (curl 28)" "$?" 28
is "cut lg1 -> b1: lg2 still gets 200" "$(times lg2 1 -m 2 | awk '{ print $1 }')" 200
fault_clear
is "cut removed: lg1 gets 200 again" "$(times lg1 1 -m 2 | awk '{ print $1 }')" 200

# ---- DNS: UDP delay and REFUSED on the authoritative server ------------------------
TOPO_NET=10.82.0 TOPO_SW=sw2
topo_dns
rc=$?
is "DNS chain answers" "$rc" 0
((rc == 0)) || { echo "Bail out! no DNS chain"; done_testing; }
qtime() { # dig straight to named: "<status> <ms>"
	ip netns exec "$NS_cl1" dig "@$TOPO_NET.4" +tries=1 +time=3 +noall +comments +stats "$1.test" |
		awk '/status:/ { st = $6; sub(/,/, "", st) } /Query time:/ { print st, $4 }'
}
fault_delay bd udp 53 300
read -r st ms <<<"$(qtime d1)"
ok "UDP delay 300 ms on named: answered ($st) in >= 290 ms ($ms ms)" test "${ms:-0}" -ge 290
fault_clear
read -r st ms <<<"$(qtime d2)"
ok "delay removed: answered ($st) in < 100 ms ($ms ms)" test "${ms:-999}" -lt 100
fault_errors_named
refused() { [[ $(qtime "r$RANDOM" | awk '{ print $1 }') == REFUSED ]]; }
ok "errors: named answers REFUSED (after its reload)" wait_for 10 refused
fault_clear
noerror() { [[ $(qtime "n$RANDOM" | awk '{ print $1 }') == NOERROR ]]; }
ok "errors removed: named answers NOERROR again" wait_for 10 noerror
done_testing
