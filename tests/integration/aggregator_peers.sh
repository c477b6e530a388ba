#!/usr/bin/env bash
# Peer aggregators on loopback ports: propagation, one hop, filtering (IGNORED,
# skipped afterwards), the hold buffer and SUBSCRIPTION, a peer killed and restarted,
# a peer with the wrong key, and a network cut (iptables) healed.
# timeout: 150
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/aggregator_lib.sh"
need_cmd python3 jq
[[ -x $INSITUD && -x $INSITU ]] || skip_all "build insitud and insitu first"

key() { head -c32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$1"; }
K=$TAP_TMP/key; W=$TAP_TMP/wrong; key "$K"; key "$W"
# four free ports below the ephemeral range (so no outgoing connection can hold one)
low_port() {
	local lo; lo=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range)
	local p
	while :; do
		p=$((10000 + RANDOM % (lo - 10004)))
		ss -Hltn "( sport = :$p or sport = :$((p + 1)) or sport = :$((p + 2)) or sport = :$((p + 3)) )" | grep -q . || { echo "$p"; return; }
	done
}
pA=$(low_port); pB=$((pA + 1)); pC=$((pA + 2)); pD=$((pA + 3))
T=(--peer-timeout 1)
A_ARGS=(-i a -l "127.0.0.1:$pA" -k "$K" -p "b=127.0.0.1:$pB" -p "c=127.0.0.1:$pC" -p "d=127.0.0.1:$pD" "${T[@]}")
B_ARGS=(-i b -l "127.0.0.1:$pB" -k "$K" -p "a=127.0.0.1:$pA" -p "c=127.0.0.1:$pC" "${T[@]}")
C_ARGS=(-i c -l "127.0.0.1:$pC" -k "$K" -p "a=127.0.0.1:$pA" -p "b=127.0.0.1:$pB" -f -w w1 "${T[@]}")
D_ARGS=(-i d -l "127.0.0.1:$pD" -k "$W" -p "a=127.0.0.1:$pA" "${T[@]}")
start_insitud PA "$TAP_TMP/A" "${A_ARGS[@]}" || fail "A starts"
start_insitud PB "$TAP_TMP/B" "${B_ARGS[@]}" || fail "B starts"
start_insitud PC "$TAP_TMP/C" "${C_ARGS[@]}" || fail "C starts"
start_insitud PD "$TAP_TMP/D" "${D_ARGS[@]}" || fail "D starts"
a() { "$INSITU" -s "$TAP_TMP/A/sock" "$@"; }
b() { "$INSITU" -s "$TAP_TMP/B/sock" "$@"; }
c() { "$INSITU" -s "$TAP_TMP/C/sock" "$@"; }
d() { "$INSITU" -s "$TAP_TMP/D/sock" "$@"; }
peer() { "$INSITU" -s "$TAP_TMP/$1/sock" --json peers | jq -r ".peers[] | select(.id==\"$2\") | .$3"; }
nviews() { "$INSITU" -s "$TAP_TMP/$1/sock" --json get view "$2" "$3" 2>/dev/null | jq '.view.observations|length'; }

ok "A connects to B and C" wait_for 15 bash -c "[[ \$('$INSITU' -s '$TAP_TMP/A/sock' --json peers | jq -r '[.peers[]|select(.id!=\"d\")|.state]|unique|join(\",\")') == up ]]"

# --- propagation ---
a --as oa report x1 m:u:10 >/dev/null
ok "a local report reaches a peer" wait_for 10 b get view oa x1
is "... with its content" "$(b --json get inference x1 | jq -c '.inference.metrics[0]|[.status,.score]')" '["UNHEALTHY",10]'

# --- filtering: IGNORED, then skipped ---
a --as oa report w1 m:h:90 >/dev/null
ok "a watched subject is accepted by the filtering peer" wait_for 10 c get view oa w1
a --as oa report unw m:u:5 >/dev/null
# C watches only w1: x1 and unw are both IGNORED there
ok "an unwatched subject is IGNORED by the filtering peer" wait_for 10 bash -c "[[ \$('$INSITU' -s '$TAP_TMP/A/sock' --json peers | jq '.peers[]|select(.id==\"c\")|.ignored_subjects') == 2 ]]"
ok "... and not stored there" bash -c "! '$INSITU' -s '$TAP_TMP/C/sock' get view oa unw 2>/dev/null"
a --as oa report unw m:u:6 >/dev/null
ok "... later reports about it are not sent to that peer" wait_for 5 test "$(peer A c skipped_ignored)" -ge 1

# --- one hop: what B learned from A is not forwarded to C ---
sleep 1
is "reports learned from a peer are never forwarded" "$(peer B c sent)" 0

# --- hold buffer + SUBSCRIPTION ---
c --as oc report unw m:h:80 >/dev/null
ok "a local report releases the held peer reports into the LOS" wait_for 5 c get view oa unw
is "... (the one that was IGNORED)" "$(nviews C oa unw)" 1
ok "... and a SUBSCRIPTION puts the subject back at the peer" wait_for 10 test "$(peer A c ignored_subjects)" = 1
a --as oa report unw m:u:7 >/dev/null
ok "... so new reports flow again" wait_for 10 bash -c "[[ \$('$INSITU' -s '$TAP_TMP/C/sock' --json get view oa unw | jq '.view.observations|length') == 2 ]]"

# --- wrong key ---
ok "a peer with the wrong key rejects our frames (counted)" wait_for 10 bash -c "[[ \$('$INSITU' -s '$TAP_TMP/D/sock' --json stats | jq .peers.auth_failures) -ge 1 ]]"
is "... and stores nothing from us" "$(d --json list subjects | jq '.subjects|length')" 0
ok "... and we never see it up" test "$(peer A d state)" != up

# --- a peer killed and restarted: queued reports are delivered ---
kill_pid "$PB"
a --as oa report k1 m:d:1 >/dev/null
ok "while B is down its reports queue at A" wait_for 5 test "$(peer A b queued)" -ge 1
start_insitud PB "$TAP_TMP/B" "${B_ARGS[@]}" || fail "B restarts"
ok "B restarted receives what was queued" wait_for 15 b get view oa k1

# --- network cut with iptables, then healed ---
if ((EUID == 0)) && command -v iptables >/dev/null && iptables -L INPUT -n >/dev/null 2>&1; then
	rule=(INPUT -i lo -p tcp --dport "$pB" -j DROP)
	iptables -I "${rule[@]}" && at_exit "iptables -D ${rule[*]}"
	a --as oa report cut1 m:u:1 >/dev/null
	sleep 2
	ok "during the cut nothing arrives" bash -c "! '$INSITU' -s '$TAP_TMP/B/sock' get view oa cut1 2>/dev/null"
	ok "... and A notices (timeouts counted)" wait_for 5 test "$(peer A b timeouts)" -ge 1
	iptables -D "${rule[@]}"
	ok "healed: the report arrives" wait_for 20 b get view oa cut1
else
	skip "network cut" "needs root and iptables"
fi
ok "frames rejected are counted, not crashing anyone" a ping
done_testing
