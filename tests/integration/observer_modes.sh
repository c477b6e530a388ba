#!/usr/bin/env bash
# timeout: 60
# Both hook flavours capture the same thing: the raw_tp fallback (what a kernel
# without tp_btf or bpf_rdonly_cast gets) and tp_btf, forced with --mode, on the
# syscall families with the most kernel-side work (iovecs, msghdr, mmsg).
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/observer_lib.sh"
obs_prereq

for mode in raw_tp tp_btf; do
	PT=$(free_port); PU=$(free_port)
	if ! obs_start "M_$mode" --mode "$mode" --port "$PT" --port "$PU"; then
		fail "$mode: observer attached"; cat "$TAP_TMP/M_$mode.log"; continue
	fi
	ok "$mode: attached in the mode asked for" grep -q "attached ($mode mode" "$TAP_TMP/M_$mode.log"
	$TG -s 127.0.0.1 "$PT" >/dev/null & srv=$!; sleep 0.2
	ok "$mode: tcp writev/readv exchange" $TG -n 2 127.0.0.1 "$PT" vec; wait $srv
	$TG -6 -s ::1 "$PT" >/dev/null & srv=$!; sleep 0.2
	ok "$mode: tcp6 sendmsg/recvmsg exchange" $TG -6 -n 2 ::1 "$PT" msg; wait $srv
	$TG -u -n 3 -s 127.0.0.1 "$PU" & srv=$!; sleep 0.2
	ok "$mode: udp sendmmsg/recvmmsg exchange" $TG -u -n 3 127.0.0.1 "$PU" mmsg; wait $srv
	sleep 0.2
	obs_stop "M_$mode"; is "$mode: exits 0" "$?" 0
	got=$(q "M_$mode" 'select(.payload=="vec-1-payload") | [.dir,.syscall,.seq]' | sort)
	is "$mode: writev seen at both ends" "$(jq -r '.[0]+":"+.[1]' <<<"$got" | tr '\n' ' ')" "recv:read send:writev "
	is "$mode: same byte position" "$(jq '.[2]' <<<"$got" | sort -u | wc -l)" 1
	is "$mode: recvmsg over IPv6 with the reply" \
		"$(q "M_$mode" 'select(.syscall=="recvmsg" and .family=="inet6") | .payload' | tr '\n' ' ')" \
		'"ack:msg-0-payload" "ack:msg-1-payload" '
	is "$mode: sendmmsg messages" \
		"$(q "M_$mode" 'select(.syscall=="sendmmsg") | .payload' | tr '\n' ' ')" \
		'"mmsg-0-payload" "mmsg-1-payload" "mmsg-2-payload" '
	is "$mode: accept and sock_close events (server side; the listener dies with exit, not close)" \
		"$(q "M_$mode" "select(.type==\"conn\" and .lport==$PT and (.event==\"accept\" or .event==\"sock_close\")) | .event" | sort | uniq -c | awk '{print $1 $2}' | tr '\n' ' ')" \
		'2"accept" 2"sock_close" '
done
done_testing
