#!/usr/bin/env bash
# Linking accuracy, DNS: 32 concurrent dig processes, each asking unique names
# (qP-N.test) -> dnsmasq (forwarder, no cache) -> unbound (resolver, stub zone) ->
# named (authoritative, TTL 0), each in its own network namespace.  Every hop uses a
# new transaction id; the question (decoded by the insitu-dns.so plugin) is the Rake
# Link_ID/Follow_ID.  Judged against dig's own answers: % correct (dig->dnsmasq->
# unbound->named in one tree, nothing foreign), % orphaned, % mis-stitched.
#   ids     the shipped semantics                    (asserted: >= 99% / <= 0.1%)
#   no-q    the question removed from the semantics, txids kept      (reported)
#   no-ids  every id ignored (FIFO on each UDP flow, threads only)    (reported)
# timeout: 150
. "$(dirname "$0")/../lib/tap.sh"
need_root
need_cmd dig dnsmasq unbound named python3 zstd
OBS=$BUILD/insitu-observer LINK=$BUILD/insitu-link
[[ -x $OBS && -x $LINK ]] || skip_all "build insitu-observer and insitu-link first"
HERE=$INSITU_ROOT/tests/integration
. "$HERE/link_lib.sh"
SEM=$INSITU_ROOT/semantics
PROCS=${LINK_DNS_PROCS:-32} PER=${LINK_DNS_PER:-40}

TOPO_NET=10.78.0
. "$INSITU_ROOT/tests/lib/topo.sh"
topo_switch
NSOPTS=()
node() { # node NAME IP: a host on the bridge, watched by the observer
	topo_node "$1" "$2" || return 1
	NSOPTS+=(--netns "/run/netns/${TOPO_NODE_NS[$1]}") # watch only this test's hosts
}
node cl 1; node dm 2; node ub 3; node bd 4

D=$TAP_TMP/dns
mkdir -p "$D"
cat >"$D/test.zone" <<'ZONE'
$TTL 0
@	IN SOA ns.test. admin.test. 1 3600 600 86400 0
@	IN NS ns.test.
ns	IN A 10.78.0.4
*	IN A 10.0.0.1
ZONE
cat >"$D/named.conf" <<CONF
options {
	directory "$D";
	listen-on port 53 { 10.78.0.4; };
	listen-on-v6 { none; };
	recursion no;
	allow-query { any; };
	dnssec-validation no;
	pid-file "$D/named.pid";
	session-keyfile "$D/session.key";
	managed-keys-directory "$D";
};
controls { };
zone "test." { type master; file "$D/test.zone"; };
CONF
cat >"$D/unbound.conf" <<CONF
server:
	interface: 10.78.0.3
	port: 53
	access-control: 0.0.0.0/0 allow
	do-not-query-localhost: no
	qname-minimisation: no
	do-ip6: no
	username: ""
	chroot: ""
	directory: "$D"
	pidfile: "$D/unbound.pid"
	use-syslog: no
	num-threads: 1
	module-config: "iterator"
	cache-max-ttl: 0
	cache-max-negative-ttl: 0
	local-zone: "test." nodefault
remote-control:
	control-enable: no
stub-zone:
	name: "test."
	stub-addr: 10.78.0.4
CONF
bg_start NAMED ip netns exec "$NS_bd" named -g -c "$D/named.conf"
bg_start UNBOUND ip netns exec "$NS_ub" unbound -d -c "$D/unbound.conf"
bg_start DNSMASQ ip netns exec "$NS_dm" dnsmasq -k --no-resolv --no-hosts --cache-size=0 \
	--server=10.78.0.3 --listen-address=10.78.0.2 --bind-interfaces -p 53 \
	--pid-file="$D/dnsmasq.pid" --dns-forward-max=1000
up() { ip netns exec "$NS_cl" dig @10.78.0.2 +short +tries=1 +time=1 warm.test | grep -q 10.0.0.1; }
ok "chain answers (dig -> dnsmasq -> unbound -> named)" wait_for 20 up

for p in $(seq "$PROCS"); do
	for n in $(seq "$PER"); do echo "q$p-$n.test A"; done >"$D/batch$p"
done
# LINK_DNS_PAYLOAD=ids: record with --payload=ids (the shipped DNS types are complete
# in the kernel: every message is its ids block only) to compare with the default
OBS_PAYLOAD=()
[[ ${LINK_DNS_PAYLOAD:-full} == ids ]] && OBS_PAYLOAD=(--semantics "$SEM/dns.json" --payload ids)
bg_start OBSP "$OBS" --record "$TAP_TMP/ev.zst" --ring-kb 65536 "${NSOPTS[@]}" --port 53 --stats "${OBS_PAYLOAD[@]}"
ok "observer attached" wait_for 20 grep -q attached "$TAP_TMP/OBSP.log"
digs=()
for p in $(seq "$PROCS"); do
	ip netns exec "$NS_cl" dig @10.78.0.2 +tries=1 +time=3 +noall +answer -f "$D/batch$p" >"$D/out$p" 2>&1 &
	digs+=($!)
	at_exit "kill_pid $!"
done
wait "${digs[@]}"
sleep 1
link_observer_done # sets MINC
ok "recording readable" test -s "$TAP_TMP/ev.raw"
# ring-buffer cost: bytes per message event as recorded (header + ids block + payload)
diag "message events: $(python3 -c '
import struct, sys
b = open(sys.argv[1], "rb").read(); o = struct.unpack_from("<I", b, 12)[0]; n = t = 0
while o + 8 <= len(b):
    k, v, sz = struct.unpack_from("<HHI", b, o)
    if sz < 8: break
    if k == 1: n += 1; t += sz
    o += sz
print("%d, %.1f bytes each" % (n, t / max(n, 1)))' "$TAP_TMP/ev.raw")"

cat "$D"/out* | awk '$4 == "A" && $1 ~ /^q[0-9]+-[0-9]+\.test\.$/ { sub(/\.test\.$/, "", $1); print $1 }' |
	sort -u >"$TAP_TMP/truth"
n=$(wc -l <"$TAP_TMP/truth")
diag "ground truth: $n of $((PROCS * PER)) queries answered"
ok "at least 500 queries to judge" test "$n" -ge 500

# the question removed from the semantics (transaction ids kept for matching)
jq 'del(.messages[].ids.link_id, .messages[].ids.follow_ids)' "$SEM/dns.json" >"$TAP_TMP/dns-noq.json"

score() { # NAME LINK-OPTS SCORE-BOUNDS...
	local name=$1 opts=$2 sem=$SEM/dns.json; shift 2
	[[ $name == noq ]] && sem=$TAP_TMP/dns-noq.json
	"$LINK" -r "$TAP_TMP/ev.raw" -s "$sem" $opts --stats >"$TAP_TMP/paths-$name.jsonl" 2>"$TAP_TMP/stats-$name"
	local out rc
	out=$(python3 "$HERE/link_score.py" "$TAP_TMP/paths-$name.jsonl" "$TAP_TMP/truth" \
		'dnsmasq,unbound,(named|isc-)' '(q[0-9]+-[0-9]+)\.test' "$@")
	rc=$?
	echo "dns $name: $out" >"$TAP_TMP/figure-$name"
	return $rc
}
ok "dns with ids: >= 99% of captured requests correct (if nothing was dropped), <= 0.1% mis-stitched" score ids "" "${MINC[@]}" --max-mis 0.1
diag "$(cat "$TAP_TMP/figure-ids" 2>/dev/null)"; diag "$(grep -hE 'linked_id|match id' "$TAP_TMP/stats-ids" 2>/dev/null | paste -sd' ')"
ok "dns without the question as Link_ID (txids kept): figures" score noq ""
diag "$(cat "$TAP_TMP/figure-noq" 2>/dev/null)"; diag "$(grep -hE 'linked_id|match id' "$TAP_TMP/stats-noq" 2>/dev/null | paste -sd' ')"
ok "dns without any id: figures" score noids "--no-ids"
diag "$(cat "$TAP_TMP/figure-noids" 2>/dev/null)"; diag "$(grep -hE 'linked_id|match id' "$TAP_TMP/stats-noids" 2>/dev/null | paste -sd' ')"
[[ -n ${LINK_KEEP:-} ]] && mkdir -p "$LINK_KEEP" && cp "$TAP_TMP"/{ev.raw,truth,paths-*.jsonl} "$LINK_KEEP/"
done_testing
