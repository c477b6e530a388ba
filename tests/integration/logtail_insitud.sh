#!/usr/bin/env bash
# timeout: 60
# insitu-logtail submitting to a real insitud (through `insitu logtail`, the CLI's
# dispatch): reports from pano9's ZooKeeper log land in insitud as observations of
# observer peer@9, and insitud infers from them what the log says.
. "$(dirname "$0")/../lib/tap.sh"
need_cmd jq
for b in insitu insitud insitu-logtail; do [[ -x $BUILD/$b ]] || skip_all "$BUILD/$b not built"; done
FIX=$INSITU_ROOT/../shared/fixtures/panorama-zookeeper
[[ -d $FIX ]] || FIX=/work/shared/fixtures/panorama-zookeeper
[[ -r $FIX/zookeeper_pano9.out ]] || skip_all "fixtures not found"
export INSITUD_SOCKET=$TAP_TMP/insitud.sock
bg_start INSITUD "$BUILD/insitud" --socket "$INSITUD_SOCKET" --db "$TAP_TMP/insitud.db" --id n9
wait_for 20 "$BUILD/insitu" ping || { fail "insitud did not start"; sed 's/^/# /' "$TAP_TMP/INSITUD.log"; done_testing; }

jq -n '[range(0;10)] | map({key: "10.0.0.\(. + 4)", value: "peer@\(.)"}) | from_entries' >"$TAP_TMP/subjects.json"
"$BUILD/insitu" logtail --rules "$INSITU_ROOT/rules/zookeeper.json" --zone UTC -o peer@9 \
	--subjects "$TAP_TMP/subjects.json" --json --stats "$FIX/zookeeper_pano9.out" 2>"$TAP_TMP/stats.json"
is "insitu logtail exits 0" "$?" 0
reports=$(jq -r .reports "$TAP_TMP/stats.json")
is "every report accepted by insitud ($reports)" "$(jq -r .accepted "$TAP_TMP/stats.json")" "$reports"
is "none dropped" "$(jq -r .dropped "$TAP_TMP/stats.json")" 0

# pano9's log ends with slow serializing and slow fsync: both about itself.
v=$("$BUILD/insitu" --json get view peer@9 peer@9)
last=$(grep -E '^[0-9]{4}-.*\] - (Too busy to snap|Slow serializing node|fsync-ing the write ahead log)' "$FIX/zookeeper_pano9.out" | tail -n1)
ok "the view of peer@9 about itself holds its newest log evidence (${last:0:23})" \
	jq -e --arg t "${last:0:19}" '.view.observations | map(.ts_us) | max | (. / 1000000 | todate | sub("T"; " ") | sub("Z"; "")) == $t' <<<"$v"
inf=$("$BUILD/insitu" --json get inference peer@9)
is "inferred Serialization of peer@9: UNHEALTHY 20" "$(jq -r '.inference.metrics[] | select(.name=="Serialization") | "\(.status) \(.score)"' <<<"$inf")" "UNHEALTHY 20"
is "inferred Snapshot of peer@9: UNHEALTHY 20" "$(jq -r '.inference.metrics[] | select(.name=="Snapshot") | "\(.status) \(.score)"' <<<"$inf")" "UNHEALTHY 20"
inf=$("$BUILD/insitu" --json get inference peer@6)
is "peer@6 seen by peer@9's quorum listener: QuorumListener HEALTHY 90" \
	"$(jq -r '(.inference.observers | join(",")) as $o | .inference.metrics[] | select(.name=="QuorumListener") | "\(.status) \(.score) \($o)"' <<<"$inf")" "HEALTHY 90 peer@9"

# --config: the observer name and socket come from insitud's configuration file.
printf '{"Id": "zk-one", "Socket": "%s"}\n' "$INSITUD_SOCKET" >"$TAP_TMP/insitud.json"
env -u INSITUD_SOCKET "$BUILD/insitu-logtail" --rules "$INSITU_ROOT/rules/zookeeper.json" --zone UTC -q \
	--config "$TAP_TMP/insitud.json" "$FIX/zookeeper.1.out"
is "--config: submitted with the socket from the file" "$?" 0
ok "--config: reports carry the configured Id as observer" \
	bash -c "'$BUILD/insitu' --json get view zk-one zk-one | jq -e '.view.observations | length > 0'"

# Without a daemon: a clear error and exit status 1, not a crash.
"$BUILD/insitu-logtail" --rules "$INSITU_ROOT/rules/zookeeper.json" --socket "$TAP_TMP/none.sock" \
	"$FIX/zookeeper_pano9.out" 2>"$TAP_TMP/err" >/dev/null
is "insitud unreachable at start: exit 1" "$?" 1
ok "...with a hint" grep -q -- "--dry-run" "$TAP_TMP/err"
done_testing
