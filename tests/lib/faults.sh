# Gray-failure injection for insitu's end-to-end tests and demo (this kernel has no
# netem: see shared/reference KERNEL.md).  Source after tests/lib/tap.sh and topo.sh.
#
#   fault_delay NODE PROTO PORT MS   every packet NODE sends from PROTO source port PORT
#                                    is held MS ms (iptables -j NFQUEUE + delayq, in
#                                    NODE's namespace): a slow server
#   fault_loss NODE PROTO PORT PCT   PCT% of those packets dropped (nft numgen)
#   fault_cut NODE DST_IP            NODE's packets to DST_IP dropped (one client's path
#                                    cut while others are fine)
#   fault_hang NAME                  SIGSTOP the server NAME (topo_server); clear: SIGCONT
#   fault_kill NAME                  SIGKILL the server NAME; clear: topo_restart NAME
#   fault_errors_http NAME           backend NAME answers 500 (its fail flag file)
#   fault_errors_named               named refuses every query (REFUSED, config reload)
#   fault_clear                      undoes every active fault, last first
#
# Each fault records the exact command that undoes it (rule spec, table name, pid), run
# by fault_clear.  Should the test die first, what outlives it is handled at exit:
# delayq by pid, stopped servers get SIGCONT, and the rules and tables go with the
# namespaces tap.sh deletes.  Nothing is removed by name patterns.
# shellcheck shell=bash

FAULT_UNDO=()
FAULT_QUEUE=${FAULT_QUEUE:-31}
DELAYQ=${DELAYQ:-$BUILD/tests/tools/delayq}

_fault_push() { FAULT_UNDO+=("$1"); }

fault_clear() {
	local i
	for ((i = ${#FAULT_UNDO[@]} - 1; i >= 0; i--)); do
		eval "${FAULT_UNDO[$i]}" >/dev/null 2>&1 || true
	done
	FAULT_UNDO=()
}

# fault_delay NODE PROTO PORT MS
fault_delay() {
	local node=$1 proto=$2 port=$3 ms=$4 ns="NS_$1"
	local q=$FAULT_QUEUE pid
	FAULT_QUEUE=$((FAULT_QUEUE + 1))
	[[ -x $DELAYQ ]] || { echo "fault_delay: $DELAYQ not built" >&2; return 1; }
	ip netns exec "${!ns}" "$DELAYQ" --queue "$q" --delay-ms "$ms" \
		>>"$TAP_TMP/delayq-$node.log" 2>&1 &
	pid=$!
	_fault_push "kill_pid $pid"
	at_exit "kill_pid $pid"
	# the queue must be bound before packets go to it (--queue-bypass would let them
	# through undelayed meanwhile, but the fault would start late)
	wait_for 5 grep -q "queue $q," "$TAP_TMP/delayq-$node.log" || return 1
	local rule=(OUTPUT -p "$proto" --sport "$port" -j NFQUEUE --queue-num "$q" --queue-bypass)
	ip netns exec "${!ns}" iptables -I "${rule[@]}" || return 1
	_fault_push "ip netns exec '${!ns}' iptables -D ${rule[*]}"
}

# fault_loss NODE PROTO PORT PCT
fault_loss() {
	local node=$1 proto=$2 port=$3 pct=$4 ns="NS_$1"
	local table="insitu_loss_$node"
	ip netns exec "${!ns}" nft -f - <<NFT || return 1
table inet $table {
	chain out {
		type filter hook output priority 0; policy accept;
		$proto sport $port numgen random mod 100 < $pct drop
	}
}
NFT
	_fault_push "ip netns exec '${!ns}' nft delete table inet $table"
}

# fault_cut NODE DST_IP
fault_cut() {
	local node=$1 dst=$2 ns="NS_$1"
	local rule=(OUTPUT -d "$dst" -j DROP)
	ip netns exec "${!ns}" iptables -I "${rule[@]}" || return 1
	_fault_push "ip netns exec '${!ns}' iptables -D ${rule[*]}"
}

# fault_hang NAME
fault_hang() {
	local pid=${TOPO_PID[$1]}
	kill -STOP "$pid" || return 1
	_fault_push "kill -CONT $pid"
	at_exit "kill -CONT $pid"
}

# fault_kill NAME: the server dies; clearing the fault starts it again.
fault_kill() {
	local name=$1 pid=${TOPO_PID[$1]}
	kill -KILL "$pid" || return 1
	wait "$pid" 2>/dev/null
	_fault_push "topo_restart $name"
}

# fault_errors_http NAME: backend NAME answers 500 until cleared.
fault_errors_http() {
	local flag=$TOPO_DIR/fail-$1
	: >"$flag" || return 1
	_fault_push "rm -f '$flag'"
}

# fault_errors_named: named answers REFUSED to every query until cleared.
fault_errors_named() {
	_named_conf none
	kill -HUP "${TOPO_PID[named]}" || return 1
	_fault_push "_named_conf any; kill -HUP ${TOPO_PID[named]}"
}
