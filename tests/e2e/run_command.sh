#!/usr/bin/env bash
# The README's run command (scripts/run, what `make run` starts) on this host: it
# must bring up insitud and insitu-observer on the embedded defaults and show the
# health of real traffic.  Here: redis-server in one namespace, redis-benchmark in
# another, joined by veth; the run is bounded with INSITU_DURATION and uses its own
# state directory and socket.
# timeout: 120
. "$(dirname "$0")/../lib/tap.sh"
need_root
need_cmd redis-server redis-benchmark
for b in insitud insitu insitu-observer; do
	[[ -x $BUILD/$b ]] || skip_all "$BUILD/$b not built"
done

netns_add srv
netns_add cli
veth_pair "$NS_srv" 10.81.0.1 "$NS_cli" 10.81.0.2
bg_start REDIS ip netns exec "$NS_srv" redis-server --bind 10.81.0.1 --port 6379 --save '' \
	--appendonly no --protected-mode no
ok "redis-server answers" wait_for 10 ip netns exec "$NS_cli" redis-cli -h 10.81.0.1 ping

state=$TAP_TMP/state
export INSITU_STATE=$state INSITUD_SOCKET=$TAP_TMP/insitud.sock INSITU_DURATION=14
bg_start RUN env BUILD="$BUILD" "$INSITU_ROOT/scripts/run"
ok "insitud answers on the run's socket" wait_for 20 "$BUILD/insitu" ping
ok "insitu-observer attached" wait_for 20 grep -q attached "$state/observer.log"

# Traffic for a few seconds, from the client namespace.
ip netns exec "$NS_cli" redis-benchmark -h 10.81.0.1 -p 6379 -c 4 -n 200000 -q -t get,set \
	>/dev/null 2>&1 &
bench=$!
at_exit "kill_pid $bench"

subject="redis-server@$NS_srv:6379"
ok "the redis server is a subject, judged HEALTHY" wait_for 20 bash -c \
	"'$BUILD/insitu' --json status | jq -e '.subjects[] | select(.subject == \"$subject\" and .verdict == \"HEALTHY\")'"
ok "redis-benchmark is the observer that sees it" bash -c \
	"'$BUILD/insitu' --json status | jq -e '.subjects[] | select(.subject == \"$subject\") | .observers[] | select(startswith(\"redis-benchmark@$NS_cli\"))'"
kill_pid "$bench"

ok "scripts/run prints the status table" wait_for 20 grep -q "^SUBJECT" "$TAP_TMP/RUN.log"
ok "scripts/run stops by itself after INSITU_DURATION" wait_for 30 bash -c "! kill -0 $RUN 2>/dev/null"
ok "it stopped what it started (no insitud answering)" bash -c "! '$BUILD/insitu' ping"
ok "the database is in the state directory" test -s "$state/insitud.db"
done_testing
