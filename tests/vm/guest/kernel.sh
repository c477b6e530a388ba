#!/usr/bin/env bash
# Runs inside the VM guest: is this guest kernel one the observer can work on at all?
# BTF present, bpf(2) usable, the tracepoints the observer may pick listed, and two
# network namespaces joined by a veth pair pass TCP and UDP (what observer.sh needs).
. "$INSITU_ROOT/tests/lib/tap.sh"

diag "guest kernel $(uname -r), $(nproc) cpu(s), $(awk '/MemTotal/ {print $2 " kB"}' /proc/meminfo)"
ok "kernel BTF at /sys/kernel/btf/vmlinux" test -s /sys/kernel/btf/vmlinux
ok "bpffs mounted" grep -q ' /sys/fs/bpf bpf ' /proc/mounts

# bpftool feature probe loads a tiny program of each type: proof that bpf(2) works.
probe=$(bpftool feature probe kernel 2>/dev/null)
ok "bpf(2) loads a socket_filter program" grep -q 'program_type socket_filter is available' <<<"$probe"
ok "bpf(2) creates a ringbuf map" grep -q 'map_type ringbuf is available' <<<"$probe"

# Which of the tracepoints the observer may use exist here (6.1 lacks the sock_*_length
# ones: the observer must fall back to sys_enter/sys_exit there).
tp=/sys/kernel/tracing/events
ok "tracefs mounted" test -d $tp
ok "raw_syscalls:sys_enter exists" test -d $tp/raw_syscalls/sys_enter
ok "sock:inet_sock_set_state exists" test -d $tp/sock/inet_sock_set_state
if [[ -d $tp/sock/sock_send_length ]]; then
	diag "sock:sock_send_length exists on this kernel"
else
	diag "sock:sock_send_length does not exist on this kernel (fallback expected)"
fi

# Two "hosts" in namespaces, as the observer's tests use them.
netns_add a
netns_add b
ok "veth pair between two namespaces" veth_pair "$NS_a" 10.7.0.1 "$NS_b" 10.7.0.2
ok "ping across the veth" ip netns exec "$NS_a" ping -c1 -W5 10.7.0.2

bg_start tcpsrv ip netns exec "$NS_b" socat -T5 TCP-LISTEN:7001,reuseaddr SYSTEM:'cat'
wait_for 10 ip netns exec "$NS_b" sh -c 'ss -Hltn | grep -q :7001'
got=$(echo "tcp-hello" | ip netns exec "$NS_a" socat -T5 - TCP:10.7.0.2:7001)
is "TCP echo across namespaces" "$got" "tcp-hello"

bg_start udpsrv ip netns exec "$NS_b" socat -T5 UDP-RECVFROM:7002,reuseaddr SYSTEM:'cat'
wait_for 10 ip netns exec "$NS_b" sh -c 'ss -Hlun | grep -q :7002'
got=$(echo "udp-hello" | ip netns exec "$NS_a" socat -T5 - UDP:10.7.0.2:7002)
is "UDP echo across namespaces" "$got" "udp-hello"

done_testing
