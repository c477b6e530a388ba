#!/usr/bin/env bash
# timeout: 60
# The in-kernel filters keep exactly what they name: --comm, --pid, --cgroup (v2).
# Three observers watch the same traffic from two programs (trafficgen, python3).
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/observer_lib.sh"
obs_prereq
need_cmd python3

CG=/sys/fs/cgroup/unified
[[ -d $CG ]] || CG=/sys/fs/cgroup
[[ -f $CG/cgroup.procs ]] || skip_all "no cgroup v2 hierarchy"
cgdir="$CG/insitu-$TAP_ID"
mkdir "$cgdir" || skip_all "cannot create a cgroup"
at_exit "rmdir '$cgdir'"

P=$(free_port); Q=$(free_port)
# a long-lived server whose pid we filter on
$TG -k 2 -s 127.0.0.1 "$Q" >/dev/null 2>&1 & SRV=$!; at_exit "kill_pid $SRV"
obs_start COMM --comm trafficgen --port "$P" --port "$Q" || { fail "observer attached"; done_testing; }
obs_start PID --pid "$SRV" || { fail "observer attached"; done_testing; }
obs_start CGRP --cgroup "$cgdir" --port "$P" --port "$Q" || { fail "observer attached"; done_testing; }

$TG -s 127.0.0.1 "$P" >/dev/null & s=$!; sleep 0.2
ok "trafficgen exchange" $TG -n 2 127.0.0.1 "$P" rw; wait $s
ok "trafficgen exchange with the long-lived server" $TG -n 2 127.0.0.1 "$Q" sendrecv
# python3 in the cgroup talks to the long-lived server
ok "python3 (in the cgroup) exchange" sh -c "echo \$\$ > '$cgdir/cgroup.procs' && exec python3 -c '
import socket
c = socket.create_connection((\"127.0.0.1\", $Q)); c.sendall(b\"from-python\"); assert c.recv(100) == b\"ack:from-python\"'"
sleep 0.3
obs_stop COMM; obs_stop PID; obs_stop CGRP

is "--comm: only trafficgen" "$(q COMM 'select(.type=="msg") | .comm' | sort -u | tr '\n' ' ')" '"trafficgen" '
is "--comm: python3's message only where trafficgen received it" \
	"$(q COMM 'select(.payload=="from-python") | [.comm,.dir]' | tr '\n' ' ')" '["trafficgen","recv"] '
ok "--comm: both trafficgen exchanges captured" \
	test -n "$(q COMM 'select(.payload=="rw-1-payload")')" -a -n "$(q COMM 'select(.payload=="sendrecv-1-payload")')"
is "--pid: only the chosen process" "$(q PID '.pid' | sort -u | tr '\n' ' ')" "$SRV "
ok "--pid: it received python3's message and trafficgen's" \
	test -n "$(q PID 'select(.payload=="from-python" and .dir=="recv")')" -a \
	-n "$(q PID 'select(.payload=="sendrecv-0-payload" and .dir=="recv")')"
is "--cgroup: only python3 (the process in the cgroup)" \
	"$(q CGRP 'select(.type=="msg") | .comm' | sort -u | tr '\n' ' ')" '"python3" '
is "--cgroup: its send and its receive" \
	"$(q CGRP 'select(.type=="msg") | .dir' | sort | tr '\n' ' ')" '"recv" "send" '
done_testing
