#!/usr/bin/env bash
# timeout: 150
# insitu-logtail on a real ZooKeeper ensemble (Debian's zookeeperd, 3 servers, one
# network namespace each on a bridge): after the election each server's quorum
# listener reports its peers HEALTHY; then the leader is stopped, and the followers'
# logs must yield "Exception when following the leader" -> Following UNHEALTHY 30 and
# QuorumChannel MAYBE_UNHEALTHY 40 about the stopped leader (subject mapped from its
# address or id).  Java on 2 shared cores is slow: every wait is bounded.
. "$(dirname "$0")/../lib/tap.sh"
need_root
need_cmd java jq ip
[[ -r /usr/share/java/zookeeper.jar ]] || skip_all "needs zookeeperd (libzookeeper-java)"
LT=$BUILD/insitu-logtail
[[ -x $LT ]] || skip_all "$LT not built"
CP=/etc/zookeeper/conf:/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar
for j in ${CP//:/ }; do [[ -e $j ]] || skip_all "missing $j"; done
D=${LOGTAIL_KEEP:-$TAP_TMP}

# Switch namespace with a bridge; node i is 10.77.0.i on it.
netns_add sw
ip -n "$NS_sw" link add br0 type bridge
ip -n "$NS_sw" link set br0 up
for i in 1 2 3; do
	netns_add "zk$i"
	ns=NS_zk$i
	ip link add eth0 netns "${!ns}" type veth peer name "p$i" netns "$NS_sw"
	ip -n "$NS_sw" link set "p$i" master br0 up
	ip -n "${!ns}" addr add "10.77.0.$i/24" dev eth0
	ip -n "${!ns}" link set eth0 up
done
echo '{"10.77.0.1":"zk1","10.77.0.2":"zk2","10.77.0.3":"zk3","1":"zk1","2":"zk2","3":"zk3"}' >"$D/subjects.json"

for i in 1 2 3; do
	mkdir -p "$D/zk$i/data"
	echo "$i" >"$D/zk$i/data/myid"
	cat >"$D/zk$i/zoo.cfg" <<CFG
tickTime=500
initLimit=20
syncLimit=4
dataDir=$D/zk$i/data
clientPort=2181
admin.enableServer=false
server.1=10.77.0.1:2888:3888
server.2=10.77.0.2:2888:3888
server.3=10.77.0.3:2888:3888
CFG
	touch "$D/zk$i/zookeeper.log"
	"$LT" -r "$INSITU_ROOT/rules/zookeeper.json" --follow --from-start --dry-run --merge-window 0 --interval 100 \
		--json --stats -o "zk$i" --subjects "$D/subjects.json" "$D/zk$i/zookeeper.log" \
		>"$D/r$i.jsonl" 2>"$D/s$i.json" &
	at_exit "kill_pid $!"
	printf -v "LT$i" '%s' "$!"
done
for i in 1 2 3; do
	ns=NS_zk$i
	bg_start "ZK$i" ip netns exec "${!ns}" java -Xmx96m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -cp "$CP" \
		-Dzookeeper.log.dir="$D/zk$i" -Dzookeeper.root.logger=INFO,ROLLINGFILE \
		org.apache.zookeeper.server.quorum.QuorumPeerMain "$D/zk$i/zoo.cfg"
done

elected() { grep -lE ' - (LEADING|FOLLOWING) - LEADER ELECTION TOOK' "$D"/zk{1,2,3}/zookeeper.log 2>/dev/null | wc -l; }
if ! wait_for 90 bash -c "[[ \$(grep -lE ' - (LEADING|FOLLOWING) - LEADER ELECTION TOOK' '$D'/zk{1,2,3}/zookeeper.log | wc -l) -ge 3 ]]"; then
	fail "no leader elected in 90 s ($(elected) of 3 servers done)"
	tail -n 5 "$D"/zk*/zookeeper.log | sed 's/^/# /'
	done_testing
fi
pass "3-server ensemble elected a leader"
leader=$(grep -lE ' - LEADING - LEADER ELECTION TOOK' "$D"/zk{1,2,3}/zookeeper.log | head -n1 | sed -E 's|.*/zk([0-9])/zookeeper.log|\1|')
followers=(); for i in 1 2 3; do [[ $i == "$leader" ]] || followers+=("$i"); done
diag "leader zk$leader, followers zk${followers[0]} zk${followers[1]}"
# any report of server $1 satisfying the jq condition $2 (jq -s: with -e alone the
# status would only reflect the last line)
hasr() { jq -s -e "any(.[]; $2)" "$D/r$1.jsonl" >/dev/null 2>&1; }
anyr() { cat "$D"/r{1,2,3}.jsonl | jq -s -e "any(.[]; $1)" >/dev/null 2>&1; }
elected_all() { for i in 1 2 3; do hasr $i '.source.rule=="elected" and .subject=="zk'$i'" and .metrics[0].status=="HEALTHY"' || return 1; done; }
ok "each server reports its own election: Election HEALTHY 90" wait_for 10 elected_all
# Quorum connections: a server accepts election connections from peers with a larger id.
ok "quorum listener: Received connection request -> QuorumListener HEALTHY 90 about the peer (mapped)" \
	wait_for 10 anyr '.metrics[0].name=="QuorumListener" and .metrics[0].status=="HEALTHY" and .metrics[0].score==90 and (.subject|test("^zk[123]$")) and .subject != .observer'

ldr=ZK$leader
killed_us=$(($(date +%s%N) / 1000))
kill -TERM "${!ldr}"
for f in "${followers[@]}"; do
	ok "zk$f: Exception when following the leader -> Following UNHEALTHY 30" wait_for 30 hasr "$f" \
		'.source.rule=="following-exception" and .subject=="zk'"$f"'" and .metrics[0].status=="UNHEALTHY" and .metrics[0].score==30'
done
ok "the followers report the stopped leader zk$leader: QuorumChannel MAYBE_UNHEALTHY 40" wait_for 40 anyr \
	".ts_us > $killed_us and .observer != \"zk$leader\" and .metrics[0].name==\"QuorumChannel\" and .subject==\"zk$leader\" and .metrics[0].status==\"MAYBE_UNHEALTHY\" and .metrics[0].score==40"
# Re-election also breaks connections between the running servers for a moment
# ("Connection broken for id N"): those are reported too, but the stopped leader must
# be the one most reported after the stop.
counts=$(cat "$D"/r{1,2,3}.jsonl | jq -r "select(.ts_us > $killed_us and .metrics[0].name==\"QuorumChannel\") | .subject" | sort | uniq -c | sort -rn)
diag "QuorumChannel reports after the stop: $(echo $counts)"
is "the stopped leader is the most reported subject after the stop" "$(awk 'NR==1 {print $2}' <<<"$counts")" "zk$leader"
if ((TAP_FAILED)); then
	for i in 1 2 3; do grep -hE 'WARN|ERROR' "$D/zk$i/zookeeper.log" | tail -n 4 | cut -c1-160 | sed "s/^/# zk$i: /"; done
fi
for i in 1 2 3; do
	lt=LT$i
	kill -TERM "${!lt}"
	wait "${!lt}"
	is "zk$i: every line of the log accounted for (Java stack traces as unmatched)" \
		"$(jq -r '.unmatched + .no_rule + .reports + .bad_time + .stale + .future + .merged' "$D/s$i.json")" "$(jq -r .lines "$D/s$i.json")"
done
done_testing
