#!/usr/bin/env bash
# Runs inside the VM guest (tests/vm/run-vm): insitu-observer on this guest's kernel.
#
# For each hook mode (auto, then each one forced; a forced mode that this kernel lacks
# may be refused, cleanly, when auto picked another): the programs load and attach, a TCP
# and a UDP request/response between two network namespaces "hosts" (a veth apart)
# come out of --dump with the exact payload bytes in both directions, at both ends,
# each end tagged with its own netns inode, the TCP sequence numbers equal at both
# ends, the connection's lifecycle events, and no ring-buffer drops.
. "$INSITU_ROOT/tests/lib/tap.sh"
need_root
need_cmd socat jq ip
OBS=$BUILD/insitu-observer
[[ -x $OBS ]] || skip_all "insitu-observer not built"

netns_add a
netns_add b
veth_pair "$NS_a" 10.9.0.1 "$NS_b" 10.9.0.2 || skip_all "no veth pair (veth module missing?)"
ino_a=$(stat -L -c %i "/run/netns/$NS_a")
ino_b=$(stat -L -c %i "/run/netns/$NS_b")
diag "netns a=$ino_a (10.9.0.1), b=$ino_b (10.9.0.2)"

# events DUMP JQ_FILTER...: the dump's events that match, compact, one per line
events() { local f=$1; shift; jq -c "$@" "$f" 2>/dev/null; }

attached_or_gone() { grep -q 'attached' "$2" || ! kill -0 "$1" 2>/dev/null; }

# The end of libbpf's log (the verifier's complaint) when the programs are refused.
verifier_log() {
	"$OBS" -v -v --mode "$1" --duration 1 >/dev/null 2>"$TAP_TMP/verbose-$1.err"
	diag "[$1] insitu-observer -v -v --mode $1: the verifier's log and the errors:"
	# each refused program's log: its first lines and its end (where the verdict is)
	awk '/BEGIN PROG LOAD LOG/ {on = 1; n = 0}
	     on { blk[++n] = $0 }
	     /END PROG LOAD LOG/ { on = 0
		for (i = 1; i <= n; i++) if (i <= 4 || i > n - 14) print blk[i]; else if (i == 5) print "    ..."
	     }
	     !on && /failed|error/ { print }' "$TAP_TMP/verbose-$1.err" | tail -n 60 | cut -c1-300 |
		while IFS= read -r l; do diag "    $l"; done
}

# one_mode MODE TCP_PORT UDP_PORT
one_mode() {
	local mode=$1 tport=$2 uport=$3 pid dump=$TAP_TMP/dump-$1.json err=$TAP_TMP/obs-$1.err
	local req="ping-tcp-$mode" ureq="ping-udp-$mode" got line
	if [[ $mode == "$AUTO_MODE" ]]; then
		diag "[$mode] already covered by auto"
		return
	fi
	"$OBS" --dump --stats --mode "$mode" --port "$tport" --port "$uport" >"$dump" 2>"$err" &
	pid=$!
	at_exit "kill_pid $pid"
	# attached, or gave up: loading under emulation takes seconds, not minutes
	wait_for 120 attached_or_gone "$pid" "$err"
	if ! grep -q 'attached' "$err"; then
		local rc=0
		kill_pid "$pid"
		wait "$pid" 2>/dev/null || rc=$?
		# A mode this kernel lacks may be refused, if auto did not pick it: that is
		# the fallback working.  It must then fail cleanly, with the reason.
		if [[ $mode != auto && -n $AUTO_MODE && $AUTO_MODE != "$mode" ]] &&
			grep -q 'refused' "$err" && ((rc == 1)); then
			pass "[$mode] refused cleanly on this kernel, where auto picked $AUTO_MODE: $(grep -m1 'error:' "$err" | cut -c1-200)"
		else
			fail "[$mode] observer loads and attaches" "$(head -c 2000 "$err")"
			verifier_log "$mode"
		fi
		return
	fi
	line=$(grep -m1 'attached' "$err")
	pass "[$mode] observer loads and attaches: ${line#*: }"
	if [[ $mode == auto ]]; then
		AUTO_MODE=$(sed -n 's/.*attached (\([a-z_]*\) mode.*/\1/p' "$err" | head -n1)
		diag "feature probing picked $AUTO_MODE on $(uname -r)"
		grep 'falling back' "$err" | while IFS= read -r l; do diag "  $l"; done
	fi

	# TCP: a in ns a asks, b in ns b answers and closes.
	bg_start tsrv ip netns exec "$NS_b" socat -T20 "TCP-LISTEN:$tport,reuseaddr" SYSTEM:'read l; echo "pong:$l"'
	wait_for 30 ip netns exec "$NS_b" sh -c "ss -Hltn | grep -q :$tport"
	got=$(echo "$req" | ip netns exec "$NS_a" socat -t20 -T20 - "TCP:10.9.0.2:$tport")
	is "[$mode] TCP exchange across namespaces" "$got" "pong:$req"

	# UDP: the same over datagrams (the server answers from the socket it received on).
	bg_start usrv ip netns exec "$NS_b" socat -T20 "UDP-RECVFROM:$uport,reuseaddr" SYSTEM:'read l; echo "pong:$l"'
	wait_for 30 ip netns exec "$NS_b" sh -c "ss -Hlun | grep -q :$uport"
	# The client is a shell that sends, reads one reply and ends, so socat need not
	# wait out a timeout to know that no more datagrams will come.
	got=$(REQ=$ureq ip netns exec "$NS_a" socat -T20 "UDP:10.9.0.2:$uport" \
		SYSTEM:'echo "$REQ"; read -r l; echo "$l" >&2' 2>&1)
	is "[$mode] UDP exchange across namespaces" "$got" "pong:$ureq"

	kill_pid "$tsrv"; kill_pid "$usrv"
	sleep 1 # the observer reads queued events at least every --poll-ms (100 ms)
	kill -INT "$pid"
	local rc=0
	wait "$pid" || rc=$?
	is "[$mode] observer exits 0 on SIGINT" "$rc" 0
	diag "[$mode] $(wc -l < "$dump") events; $(grep -E '^(msg_events|conn_events|ringbuf_drops) ' "$err" | tr -s ' ' | tr '\n' ' ')"
	is "[$mode] no ring-buffer drops" "$(awk '$1 == "ringbuf_drops" {print $2}' "$err")" 0

	# Payload bytes, directions and netns tags, at both ends of each exchange.
	local s r
	for spec in "tcp $tport $req" "udp $uport $ureq"; do
		read -r proto port q <<<"$spec"
		for dirspec in "send $ino_a $q" "recv $ino_b $q" "send $ino_b pong:$q" "recv $ino_a pong:$q"; do
			read -r dir ns payload <<<"$dirspec"
			got=$(events "$dump" --arg p "$proto" --arg d "$dir" --argjson ns "$ns" --arg pl "$payload"$'\n' \
				'select(.type == "msg" and .proto == $p and .dir == $d and .netns == $ns and .payload == $pl)' | head -n1)
			ok "[$mode] $proto $dir \"$payload\" in netns $([[ $ns == "$ino_a" ]] && echo a || echo b)" test -n "$got"
		done
	done

	# TCP: the sender's and the receiver's events for the same bytes carry the same seq.
	for q in "$req" "pong:$req"; do
		s=$(events "$dump" --arg pl "$q"$'\n' -r 'select(.type == "msg" and .proto == "tcp" and .payload == $pl and .dir == "send") | .seq' | head -n1)
		r=$(events "$dump" --arg pl "$q"$'\n' -r 'select(.type == "msg" and .proto == "tcp" and .payload == $pl and .dir == "recv") | .seq' | head -n1)
		if [[ -n $s && $s == "$r" ]]; then pass "[$mode] tcp \"$q\": same seq at both ends ($s)"
		else fail "[$mode] tcp \"$q\": same seq at both ends" "send seq=$s recv seq=$r"; fi
	done

	# Client-side tuple of the request: 10.9.0.1 -> 10.9.0.2:port.
	got=$(events "$dump" --arg pl "$req"$'\n' -r 'select(.type == "msg" and .dir == "send" and .payload == $pl) | "\(.laddr) \(.raddr):\(.rport)"' | head -n1)
	is "[$mode] tcp request tuple" "$got" "10.9.0.1 10.9.0.2:$tport"
	got=$(events "$dump" --arg pl "$ureq"$'\n' -r 'select(.type == "msg" and .dir == "recv" and .payload == $pl) | "\(.raddr) \(.lport)"' | head -n1)
	is "[$mode] udp request peer address at the server" "$got" "10.9.0.1 $uport"

	# Connection lifecycle, each at its own end.
	for spec in "connect $ino_a" "accept $ino_b"; do
		read -r what ns <<<"$spec"
		got=$(events "$dump" --arg e "$what" --argjson ns "$ns" --argjson port "$tport" \
			'select(.type == "conn" and .event == $e and .netns == $ns and (.lport == $port or .rport == $port))' | head -n1)
		ok "[$mode] tcp $what event in netns $([[ $ns == "$ino_a" ]] && echo a || echo b)" test -n "$got"
	done
	if ((TAP_FAILED)); then
		diag "[$mode] dump (first 40 lines):"
		head -n 40 "$dump" | cut -c1-400 | sed 's/^/#   /'
	fi
}

# Linked paths: a client in namespace a asks a proxy in namespace b, which asks a
# backend beside it (RESP on the ports semantics/redis.json names).  Recorded with
# --record, linked by insitu-link with the shipped semantics: one path of two hops,
# each end in its own namespace.
linked_path() {
	local LINK=$BUILD/insitu-link pid rec=$TAP_TMP/link.zst got
	if [[ ! -x $LINK ]]; then skip "linked path" "insitu-link not built"; return; fi
	cat > "$TAP_TMP/backend.sh" <<-'EOF'
	#!/bin/sh
	# one RESP command of five lines in, one bulk string out
	IFS= read -r a; IFS= read -r b; IFS= read -r c; IFS= read -r d; IFS= read -r e
	printf '$3\r\nbar\r\n'
	EOF
	chmod +x "$TAP_TMP/backend.sh"
	"$OBS" --record "$rec" --port 6379 --port 6380 2>"$TAP_TMP/link-obs.err" &
	pid=$!
	at_exit "kill_pid $pid"
	wait_for 120 attached_or_gone "$pid" "$TAP_TMP/link-obs.err"
	if ! grep -q attached "$TAP_TMP/link-obs.err"; then
		fail "linked path: observer records" "$(head -c 600 "$TAP_TMP/link-obs.err")"
		return
	fi
	bg_start backend ip netns exec "$NS_b" socat -T20 TCP-LISTEN:6379,bind=127.0.0.1,reuseaddr,fork "EXEC:$TAP_TMP/backend.sh"
	bg_start proxy ip netns exec "$NS_b" socat -T20 TCP-LISTEN:6380,reuseaddr,fork TCP:127.0.0.1:6379
	wait_for 30 ip netns exec "$NS_b" sh -c 'ss -Hltn | grep -q :6379 && ss -Hltn | grep -q :6380'
	got=$(printf '*2\r\n$3\r\nGET\r\n$3\r\nfoo\r\n' | ip netns exec "$NS_a" socat -t20 -T20 - TCP:10.9.0.2:6380 | tr -d '\r')
	is "linked path: GET through the proxy" "$got" $'$3\nbar'
	sleep 1
	kill -INT "$pid"; wait "$pid"
	"$LINK" -r "$rec" -s "$INSITU_ROOT/semantics" > "$TAP_TMP/paths.json" 2>"$TAP_TMP/link.err"
	is "linked path: insitu-link reads the recording" "$?" 0
	got=$(jq -r 'select(.hops == 2) | [.root.label, .root.link_id, .root.outcome,
		(.root.client.netns == '"$ino_a"'), (.root.server.netns == '"$ino_b"'),
		(.root.children | length), .root.children[0].label,
		(.root.children[0].client.netns == '"$ino_b"'), (.root.children[0].server.addr)] | join(" ")' \
		"$TAP_TMP/paths.json" 2>/dev/null | head -n1)
	is "linked path: client(a) -> proxy(b) -> backend(b), one path of two hops" "$got" \
		"GET foo ok true true 1 GET true 127.0.0.1:6379"
	if ((TAP_FAILED)); then
		diag "paths:"; cut -c1-400 "$TAP_TMP/paths.json" | head -n 5 | sed 's/^/    /' | while IFS= read -r l; do diag "$l"; done
		diag "insitu-link: $(head -c 400 "$TAP_TMP/link.err")"
	fi
}

# auto first: what feature probing picks on this kernel; then every mode by force.
AUTO_MODE=
one_mode auto 7101 7102
one_mode tp_btf 7111 7112
one_mode raw_tp 7121 7122
linked_path
done_testing
