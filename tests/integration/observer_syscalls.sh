#!/usr/bin/env bash
# timeout: 120
# insitu-observer sees every socket syscall family, TCP and UDP, IPv4 and IPv6, with
# exact payloads, equal TCP byte positions at both ends, the UDP peer from the
# datagram's address; the port filter holds; --record/--replay reproduce --dump.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/observer_lib.sh"
obs_prereq

PT=$(free_port); PU=$(free_port); PX=$(free_port)
obs_start OBS --port "$PT" --port "$PU" --record "$TAP_TMP/rec.zst" --stats --json \
	|| { fail "observer attached"; cat "$TAP_TMP/OBS.log"; done_testing; }
pass "observer attached ($(grep -o '([a-z_]* mode' "$TAP_TMP/OBS.log" | tr -d '('))"

tcp() { # FAMILYFLAG ADDR MODE
	local srv
	$TG $1 -s "$2" "$PT" >/dev/null 2>"$TAP_TMP/srv.err" & srv=$!
	wait_for 5 ss -Hltn "sport = :$PT" | grep -q . 
	sleep 0.2
	$TG $1 -n 2 "$2" "$PT" "$3"; local rc=$?
	wait $srv
	return $rc
}
udp() { # FAMILYFLAG ADDR MODE
	local srv
	$TG $1 -u -n 4 -s "$2" "$PU" & srv=$!
	sleep 0.2
	$TG $1 -u -n 4 "$2" "$PU" "$3"; local rc=$?
	wait $srv
	return $rc
}
for m in rw sendrecv sendto vec msg; do ok "tcp4 $m exchange" tcp "" 127.0.0.1 $m; done
ok "tcp6 vec exchange" tcp -6 ::1 vec
ok "tcp6 msg exchange" tcp -6 ::1 msg
for m in sendto msg mmsg; do ok "udp4 $m exchange" udp "" 127.0.0.1 $m; done
ok "udp6 sendto exchange" udp -6 ::1 sendto
# traffic on a port outside the filter must not show up
$TG -s 127.0.0.1 "$PX" >/dev/null & sp=$!; sleep 0.2; $TG -n 1 127.0.0.1 "$PX" rw; wait $sp
sleep 0.3
obs_stop OBS; is "observer exits 0 on SIGINT" "$?" 0

declare -A SEND=([rw]=write [sendrecv]=sendto [sendto]=sendto [vec]=writev [msg]=sendmsg)
declare -A RECV=([rw]=read [sendrecv]=recvfrom [sendto]=recvfrom [vec]=readv [msg]=recvmsg)
for m in rw sendrecv sendto vec msg; do
	p="$m-1-payload"
	got=$(q OBS "select(.type==\"msg\" and .proto==\"tcp\" and .family==\"inet\" and .payload==\"$p\") | [.dir,.syscall,.bytes,.cap_len,.ret]" | sort | tr '\n' ' ')
	is "tcp4 $m: client ${SEND[$m]} and server read, exact payload" "$got" \
		"[\"recv\",\"read\",${#p},${#p},${#p}] [\"send\",\"${SEND[$m]}\",${#p},${#p},${#p}] "
	a="ack:$p"
	got=$(q OBS "select(.type==\"msg\" and .proto==\"tcp\" and .family==\"inet\" and .payload==\"$a\") | [.dir,.syscall,.bytes]" | sort | tr '\n' ' ')
	is "tcp4 $m: server write and client ${RECV[$m]}" "$got" \
		"[\"recv\",\"${RECV[$m]}\",${#a}] [\"send\",\"write\",${#a}] "
	seqs=$(q OBS "select(.type==\"msg\" and .proto==\"tcp\" and .family==\"inet\" and .payload==\"$p\") | .seq" | sort -u | wc -l)
	is "tcp4 $m: sender and receiver carry the same stream position" "$seqs" 1
done
for m in vec msg; do
	got=$(q OBS "select(.family==\"inet6\" and .proto==\"tcp\" and .payload==\"$m-0-payload\") | [.dir,.laddr,.raddr]" | sort | tr '\n' ' ')
	is "tcp6 $m: both ends, IPv6 addresses" "$got" '["recv","::1","::1"] ["send","::1","::1"] '
done
for m in sendto msg; do
	got=$(q OBS "select(.proto==\"udp\" and .family==\"inet\" and .payload==\"$m-2-payload\") | [.dir,.rport==$PU or .lport==$PU, (.flags|index(\"peer_addr\")!=null), .raddr]" | sort | tr '\n' ' ')
	is "udp4 $m: datagram seen at both ends with its peer address" "$got" \
		'["recv",true,true,"127.0.0.1"] ["send",true,true,"127.0.0.1"] '
done
got=$(q OBS 'select(.syscall=="sendmmsg") | [.msg_index,.msg_count,.payload,.rport]' | tr '\n' ' ')
is "udp4 sendmmsg: one event per message" "$got" \
	"[0,4,\"mmsg-0-payload\",$PU] [1,4,\"mmsg-1-payload\",$PU] [2,4,\"mmsg-2-payload\",$PU] [3,4,\"mmsg-3-payload\",$PU] "
got=$(q OBS 'select(.syscall=="recvmmsg") | .payload' | sort | tr '\n' ' ')
is "udp4 recvmmsg: every answer" "$got" '"ack:mmsg-0-payload" "ack:mmsg-1-payload" "ack:mmsg-2-payload" "ack:mmsg-3-payload" '
got=$(q OBS 'select(.proto=="udp" and .family=="inet6" and .payload=="sendto-3-payload") | [.dir,.raddr]' | sort | tr '\n' ' ')
is "udp6 sendto: both ends" "$got" '["recv","::1"] ["send","::1"] '
is "port filter: other ports not captured" \
	"$(q OBS "select(.lport==$PX or .rport==$PX)" | wc -l)" 0
is "nothing from the observer itself" "$(q OBS "select(.pid==$OBS)" | wc -l)" 0
n_accept=$(q OBS "select(.type==\"conn\" and .event==\"accept\" and .lport==$PT)" | wc -l)
is "an accept event per TCP connection" "$n_accept" 7
stats=$(grep '^{' "$TAP_TMP/OBS.log" | tail -n1)
is "stats: no drops, no invalid records" "$(jq -c '[.ringbuf_drops,.invalid]' <<<"$stats")" "[0,0]"
ok "stats: kernel and user-space message counts agree" \
	test "$(jq '.msg_events' <<<"$stats")" = "$(jq '.msgs' <<<"$stats")"

# replay: the same pipeline without the kernel gives the same dump
"$OBSBIN" --replay "$TAP_TMP/rec.zst" --dump -o "$TAP_TMP/replay.json"
ok "replay --dump equals the live --dump" cmp "$TAP_TMP/OBS.json" "$TAP_TMP/replay.json"
head -c 200 "$TAP_TMP/rec.zst" > "$TAP_TMP/cut.zst"
out=$("$OBSBIN" --replay "$TAP_TMP/cut.zst" 2>&1); rc=$?
ok "truncated record file: exit 1 with file and offset" \
	test $rc = 1 -a -n "$(grep -E 'cut.zst:[0-9]+: ' <<<"$out")"
out=$(su nobody -s /bin/sh -c "$OBSBIN" 2>&1); rc=$?
is "not root: clear message" "$rc:$out" \
	"1:insitu-observer: error: must run as root: loading BPF programs needs CAP_BPF, CAP_PERFMON and CAP_SYS_RESOURCE"
"$OBSBIN" --capture 5000 >/dev/null 2>&1
is "bad option value: usage error" "$?" 2
grep -q -- '--replay FILE' <<<"$("$OBSBIN" --help)"
is "--help documents the options" "$?" 0
done_testing
