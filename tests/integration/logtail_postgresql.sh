#!/usr/bin/env bash
# timeout: 120
# insitu-logtail following a real PostgreSQL server log: the server logs in
# Asia/Kolkata time (log_timezone; "%m" then prints the ambiguous abbreviation IST),
# and is driven into a statement timeout, a slow statement and "too many clients".
# A second follower configured with the wrong zone (UTC) must see every line as stale.
. "$(dirname "$0")/../lib/tap.sh"
need_root
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
[[ -x $PGBIN/initdb ]] || skip_all "needs postgresql"
need_cmd jq psql runuser
id postgres >/dev/null 2>&1 || skip_all "needs the postgres user"
LT=$BUILD/insitu-logtail
[[ -x $LT ]] || skip_all "$LT not built"

D=$TAP_TMP/pg
mkdir -p "$D"
chmod 755 "$TAP_TMP"
chown postgres "$D"
port=$(free_port)
runuser -u postgres -- "$PGBIN/initdb" -D "$D/data" -A trust -U postgres >"$D/initdb.log" 2>&1 ||
	{ fail "initdb"; sed 's/^/# /' "$D/initdb.log"; done_testing; }
at_exit "runuser -u postgres -- '$PGBIN/pg_ctl' -D '$D/data' stop -m immediate"
touch "$D/server.log"
chown postgres "$D/server.log"

# Followers start first, so they see the server start.
"$LT" -r "$INSITU_ROOT/rules/postgresql.json" --follow --from-start --dry-run --merge-window 0 \
	--interval 50 --json --stats -o db1 --zone Asia/Kolkata "$D/server.log" >"$D/r.jsonl" 2>"$D/stats.json" &
LT1=$!
at_exit "kill_pid $LT1"
"$LT" -r "$INSITU_ROOT/rules/postgresql.json" --follow --from-start --dry-run --merge-window 0 \
	--interval 50 --json --stats -o db1 --zone UTC "$D/server.log" >"$D/wrong.jsonl" 2>"$D/wrong-stats.json" &
LT2=$!
at_exit "kill_pid $LT2"

runuser -u postgres -- "$PGBIN/pg_ctl" -D "$D/data" -l "$D/server.log" -w -t 60 \
	-o "-p $port -k $D -c listen_addresses='' -c max_connections=3 -c superuser_reserved_connections=0 -c log_timezone=Asia/Kolkata -c log_min_duration_statement=500" \
	start >"$D/pg_ctl.log" 2>&1 || { fail "postgres did not start"; sed 's/^/# /' "$D/pg_ctl.log" "$D/server.log"; done_testing; }
q() { psql -X -q -h "$D" -p "$port" -U postgres -d postgres "$@"; }
has() { jq -s -e --arg r "$1" 'any(.[]; .source.rule==$r)' "$D/r.jsonl" >/dev/null; }

ok "server start -> Availability HEALTHY 90" wait_for 20 has ready
q -c "set statement_timeout = 100; select pg_sleep(2)" >/dev/null 2>&1
ok "statement timeout -> Latency UNHEALTHY 30" wait_for 20 has statement-timeout
q -c "select pg_sleep(0.7)" >/dev/null 2>&1
ok "statement over 500 ms (log_min_duration_statement) -> Latency MAYBE_UNHEALTHY 40" wait_for 20 has slow-statement
pids=()
for i in 1 2 3; do q -c "select pg_sleep(4)" >/dev/null 2>&1 & pids+=($!); done
sleep 1
q -c "select 1" >/dev/null 2>&1
ok "4th client beyond max_connections=3 -> Connections UNHEALTHY 20" wait_for 20 has too-many-clients
wait "${pids[@]}"

is "statuses and scores" "$(jq -r '"\(.source.rule) \(.subject) \(.metrics[0].name) \(.metrics[0].status) \(.metrics[0].score)"' "$D/r.jsonl" | sort -u | tr '\n' ';')" \
	"ready db1 Availability HEALTHY 90;slow-statement db1 Latency MAYBE_UNHEALTHY 40;statement-timeout db1 Latency UNHEALTHY 30;too-many-clients db1 Connections UNHEALTHY 20;"
ok "the log really uses IST stamps" grep -q ' IST \[' "$D/server.log"
now_us=$(($(date +%s%N) / 1000))
ts=$(jq -r .ts_us "$D/r.jsonl" | tail -n1)
ok "IST stamps read in Asia/Kolkata give the true time (within 30 s of now)" test $((now_us - ts)) -lt 30000000 -a $((now_us - ts)) -gt -2000000

kill -TERM $LT1 $LT2
wait $LT1 $LT2
is "the follower with the wrong zone (UTC) reported nothing" "$(jq -s length "$D/wrong.jsonl")" 0
ok "...because it saw every report-worthy line 5.5 h in the future (counted, skipped)" \
	test "$(jq -r .future "$D/wrong-stats.json")" -ge "$(jq -r .reports "$D/stats.json")"
is "lines outside the log layout (e.g. DETAIL/STATEMENT continuations) are counted, not fatal" \
	"$(jq -r '.unmatched + .no_rule + .reports + .bad_time + .stale + .future + .merged' "$D/stats.json")" "$(jq -r .lines "$D/stats.json")"
done_testing
