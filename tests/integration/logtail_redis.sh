#!/usr/bin/env bash
# timeout: 90
# insitu-logtail following real Redis logs: a replica whose master is down logs sync
# errors (Replication UNHEALTHY 20), then syncs once the master starts (HEALTHY 90),
# then loses it when the master stops (MAYBE_UNHEALTHY 40); the master's log reports
# the lost replica by address (mapped through --subjects).
. "$(dirname "$0")/../lib/tap.sh"
need_cmd redis-server jq
LT=$BUILD/insitu-logtail
[[ -x $LT ]] || skip_all "$LT not built"
D=$TAP_TMP
mp=$(free_port)
rp=$(free_port)
while [[ $rp == "$mp" ]]; do rp=$(free_port); done
touch "$D/replica.log" "$D/master.log"
echo "{\"127.0.0.1:$rp\": \"redis-replica\"}" >"$D/subjects.json"
for who in replica master; do
	"$LT" -r "$INSITU_ROOT/rules/redis.json" --follow --from-start --dry-run --merge-window 0 --interval 50 \
		--json --stats -o "redis-$who" --subjects "$D/subjects.json" "$D/$who.log" >"$D/$who.jsonl" 2>"$D/$who-stats.json" &
	at_exit "kill_pid $!"
	printf -v "LT_$who" '%s' "$!"
done
has() { jq -s -e --arg r "$2" 'any(.[]; .source.rule==$r)' "$D/$1.jsonl" >/dev/null 2>&1; }

bg_start REPLICA redis-server --port "$rp" --bind 127.0.0.1 --save '' --appendonly no --replicaof 127.0.0.1 "$mp" \
	--logfile "$D/replica.log" --dir "$D"
ok "replica up: Availability HEALTHY 90" wait_for 20 has replica ready
ok "master down: Error condition on socket for SYNC -> Replication UNHEALTHY 20" wait_for 20 has replica replication-sync-error
bg_start MASTER redis-server --port "$mp" --bind 127.0.0.1 --save '' --appendonly no --logfile "$D/master.log" --dir "$D"
ok "master up: sync finished -> Replication HEALTHY 90" wait_for 30 has replica replication-synced
kill_pid "$MASTER"
ok "master stopped: Connection with master lost -> Replication MAYBE_UNHEALTHY 40" wait_for 20 has replica master-link-lost
bg_start MASTER2 redis-server --port "$mp" --bind 127.0.0.1 --save '' --appendonly no --logfile "$D/master.log" --dir "$D"
wait_for 30 bash -c "[[ \$(jq -s '[.[] | select(.source.rule==\"replication-synced\")] | length' '$D/replica.jsonl') -ge 2 ]]"
kill_pid "$REPLICA"
ok "replica stopped: the master reports it, mapped by address -> redis-replica MAYBE_UNHEALTHY 40" wait_for 20 bash -c \
	"jq -s -e 'any(.[]; .source.rule==\"replica-lost\" and .subject==\"redis-replica\" and .metrics[0].status==\"MAYBE_UNHEALTHY\" and .metrics[0].score==40)' '$D/master.jsonl' >/dev/null"
is "replica's reports in the order of events" "$(jq -r '.source.rule' "$D/replica.jsonl" | uniq | head -n 4 | tr '\n' ' ')" \
	"ready replication-sync-error replication-synced master-link-lost "
is "statuses of the replica's reports" "$(jq -r '"\(.source.rule) \(.subject) \(.metrics[0].name) \(.metrics[0].status) \(.metrics[0].score)"' "$D/replica.jsonl" | sort -u | tr '\n' ';')" \
	"master-link-lost redis-replica Replication MAYBE_UNHEALTHY 40;ready redis-replica Availability HEALTHY 90;replication-sync-error redis-replica Replication UNHEALTHY 20;replication-synced redis-replica Replication HEALTHY 90;"
kill -TERM "$LT_replica" "$LT_master"
wait "$LT_replica" "$LT_master"
is "no line lost or unaccounted in the replica's log" \
	"$(jq -r '.unmatched + .no_rule + .reports + .bad_time + .stale + .future + .merged' "$D/replica-stats.json")" "$(jq -r .lines "$D/replica-stats.json")"
done_testing
