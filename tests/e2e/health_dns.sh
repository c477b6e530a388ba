#!/usr/bin/env bash
# Gray failures detected end to end, DNS forwarder chain: three clients (dig, about 8
# queries/s each, unique names) -> dnsmasq (forwarder, no cache) -> unbound (resolver,
# stub zone, no cache) -> named (authoritative, TTL 0), each in its own network
# namespace.  The servers are named by a names file (docs/health.md): "dns-forwarder",
# "dns-resolver", "dns-auth"; the clients keep their default names (dig@<netns>).
#
# One fault at a time, between healthy phases of 20 s in which every component must
# stay HEALTHY:
#   named delayed 300 ms (NFQUEUE + delayq)  -> dns-auth UNHEALTHY (latency)
#   named refuses every query (REFUSED)      -> dns-auth UNHEALTHY (errors)
#   30% of named's answers lost (nft)        -> dns-auth UNHEALTHY (timeouts)
#   unbound hung (SIGSTOP)                   -> dns-resolver UNHEALTHY (timeouts)
#   named killed                             -> dns-auth DEAD (connect: unbound's
#                                               connected UDP sockets get ECONNREFUSED
#                                               from the ICMP port unreachable) or
#                                               UNHEALTHY (timeouts) when ICMP is
#                                               rate-limited
# Each must be detected within 15 s (time printed, not asserted), nobody else flagged
# meanwhile (the forwarders in front only wait for, retry or relay the fault: the
# Panorama principle, a caller waiting for its callee is not at fault), and recover.
# timeout: 360
. "$(dirname "$0")/../lib/tap.sh"
need_root
need_cmd dig dnsmasq unbound named jq iptables nft
TOPO_NET=10.80.0
. "$INSITU_ROOT/tests/lib/topo.sh"
. "$INSITU_ROOT/tests/lib/faults.sh"
. "$INSITU_ROOT/tests/e2e/health_lib.sh"

e2e_need_wiring

topo_dns
rc=$?
is "chain answers (dig -> dnsmasq -> unbound -> named)" "$rc" 0
((rc == 0)) || bail "no topology"
cat >"$TAP_TMP/names.json" <<JSON
[
  {"name": "dns-forwarder", "netns": "$NS_dm"},
  {"name": "dns-resolver", "netns": "$NS_ub"},
  {"name": "dns-auth", "netns": "$NS_bd"}
]
JSON
e2e_start "$TAP_TMP/names.json"
rc=$?
is "insitud and insitu-observer started (names file)" "$rc" 0
((rc == 0)) || bail "no insitud/insitu-observer"
for c in cl1 cl2 cl3; do dns_load "$c" 8; done

FWD=dns-forwarder RES=dns-resolver AUTH=dns-auth
everyone=("$FWD" "$RES" "$AUTH")
all_seen_healthy() {
	local s
	for s in "${everyone[@]}"; do [[ $(verdict_of "$s") == HEALTHY ]] || return 1; done
}
if wait_for 40 all_seen_healthy; then
	pass "every component seen, named by the names file, HEALTHY"
else
	fail "every component seen, named by the names file, HEALTHY" "$(verdicts)"
fi
diag "subjects: $(verdicts | awk '{print $1}' | paste -sd ' ')"
out=$(healthy_phase "$PHASE")
is "healthy phase before the faults (${PHASE} s): nothing flagged" "$out" ""

run_fault dns-delay "$AUTH" UNHEALTHY fault_delay bd udp 53 300
run_fault dns-errors "$AUTH" UNHEALTHY fault_errors_named
run_fault dns-loss "$AUTH" UNHEALTHY fault_loss bd udp 53 30
run_fault dns-hang "$RES" UNHEALTHY fault_hang unbound
run_fault dns-death "$AUTH" "UNHEALTHY|DEAD" fault_kill named

[[ -s $DETECT_LOG ]] && diag "detection times (s): $(paste -sd ' ' "$DETECT_LOG")"
[[ -n ${E2E_FIGURES:-} && -s $DETECT_LOG ]] && cat "$DETECT_LOG" >>"$E2E_FIGURES"
diag "observer: $(tr '\n' ' ' <"$TAP_TMP/OBS_PID.log" | tail -c 600)"
done_testing
