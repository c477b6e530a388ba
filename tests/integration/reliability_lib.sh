# Helpers shared by the reliability_*.sh tests and tests/soak (sourced; not a test).
# shellcheck shell=bash
INSITUD="$BUILD/insitud"
INSITU="$BUILD/insitu"
OBSBIN="$BUILD/insitu-observer"
LOGTAIL="$BUILD/insitu-logtail"
# Memory caps are for normal builds; under ASan (make SAN=1: BUILD=build/san) the
# quarantine and shadow memory make resident sizes several times larger.
REL_MEM_FACTOR=1
[[ $BUILD == */san || $BUILD == san ]] && REL_MEM_FACTOR=8

# rel_streamer SOCK DIR NAME [SECONDS [PAUSE]]: a client that submits batches of 20 reports
# about subjects NAME-0, NAME-1, ... and writes, after each acknowledgement, how many
# were acknowledged so far to DIR/NAME.acked.  When insitud goes away it reconnects by
# itself (every 50 ms) and resends the batch that was not acknowledged, like an
# observer's reporter must.  Stops when DIR/stop exists or after SECONDS (default 120).
# PAUSE: seconds to wait after each acknowledged batch (default 0: as fast as it can).
rel_streamer() {
	python3 - "$@" <<'PY'
import json, os, socket, sys, time
sock, d, name = sys.argv[1], sys.argv[2], sys.argv[3]
limit = time.time() + (float(sys.argv[4]) if len(sys.argv) > 4 else 120)
pause = float(sys.argv[5]) if len(sys.argv) > 5 else 0
acked, reconnects = 0, -1
def stop(): return os.path.exists(os.path.join(d, "stop")) or time.time() > limit
while not stop():
    try:
        s = socket.socket(socket.AF_UNIX); s.connect(sock); f = s.makefile("rwb")
    except OSError:
        time.sleep(0.05); continue
    reconnects += 1
    def rq(o):
        f.write(json.dumps(o).encode() + b"\n"); f.flush()
        l = f.readline()
        if not l: raise EOFError
        return json.loads(l)
    try:
        h = rq({"op": "register", "module": "reliability", "name": name})["handle"]
        while not stop():
            batch = [{"subject": "%s-%d" % (name, acked + i),
                      "metrics": [{"name": "m", "status": "h", "score": 1}]} for i in range(20)]
            a = rq({"op": "submit", "handle": h, "reports": batch})
            if not a.get("ok"):
                time.sleep(0.05); continue      # storage error: nothing stored, retry
            acked += 20
            with open(os.path.join(d, name + ".acked.tmp"), "w") as o: o.write("%d %d\n" % (acked, reconnects))
            os.rename(os.path.join(d, name + ".acked.tmp"), os.path.join(d, name + ".acked"))
            if pause: time.sleep(pause)
    except (OSError, EOFError, ValueError, KeyError):
        pass
    finally:
        s.close()
PY
}

# rel_acked DIR NAME: reports acknowledged so far to streamer NAME (0 if none).
rel_acked() { local a; { read -r a _ < "$1/$2.acked"; } 2>/dev/null; echo "${a:-0}"; }

# rel_missing SOCK NAME N: how many of NAME-0 .. NAME-(N-1) insitud does not have.
rel_missing() {
	"$INSITU" -s "$1" --json list subjects | jq --arg p "$2-" --argjson n "$3" \
		'[.subjects[].subject | select(startswith($p)) | ltrimstr($p) | tonumber | select(. < $n)] | unique | $n - length'
}

# rel_integrity DB: sqlite3's own verdict on the database file ("ok" when sound).
rel_integrity() { sqlite3 "$1" 'PRAGMA integrity_check' 2>&1 | head -n 5; }

# rss_kb PID FIELD: VmRSS or VmHWM of PID in KiB (0 when gone).
rss_kb() { awk -v f="$2:" '$1 == f { print $2; found = 1 } END { if (!found) print 0 }' "/proc/$1/status" 2>/dev/null || echo 0; }

# bpf_ids_of PID: the BPF program and link ids PID holds open ("prog N" / "link N"
# lines), read from /proc/PID/fdinfo; this names exactly that process's objects even
# while other observers run on the machine.
bpf_ids_of() {
	grep -h -E '^(prog_id|link_id):' /proc/"$1"/fdinfo/* 2>/dev/null |
		awk '{ sub(/_id:/, "", $1); print $1, $2 }' | sort -u
}

# bpf_ids_alive: every program and link id the kernel has right now, same format.
bpf_ids_alive() {
	{ bpftool -j prog list | jq -r '.[] | "prog \(.id)"'
	  bpftool -j link list | jq -r '.[] | "link \(.id)"'; } | sort -u
}

# rel_no_sanitizer_reports: a test point failing if any log of this test (bg_start
# output in $TAP_TMP) holds an ASan/UBSan/LSan report (make SAN=1 runs).
rel_no_sanitizer_reports() {
	local hits
	hits=$(grep -l -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$TAP_TMP"/*.log 2>/dev/null)
	ok "no sanitizer report in any daemon's log" test -z "$hits"
	[[ -n $hits ]] && grep -h -A 8 -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' $hits | head -n 30 | sed 's/^/# /'
	return 0
}

# rel_start_insitud VAR DIR [ARGS...]: start_insitud (aggregator_lib.sh) with more
# patience: the shared test machine can be slow to schedule a new daemon.
rel_start_insitud() {
	local var=$1 dir=$2; shift 2
	mkdir -p "$dir"
	bg_start "$var" "$INSITUD" -s "$dir/sock" -d "$dir/db" "$@"
	wait_for 30 "$INSITU" -s "$dir/sock" ping
}

# rel_port: a TCP port below the ephemeral range (so no outgoing connection of the
# busy machine holds it) that no socket uses right now.  free_port's range overlaps
# the ephemeral ports, and under load a daemon's bind() then fails now and then.
rel_port() {
	local lo hi p
	read -r lo hi < /proc/sys/net/ipv4/ip_local_port_range
	((lo > 11000)) || lo=32768
	while :; do
		p=$((10000 + RANDOM % (lo - 10000)))
		ss -Htan "sport = :$p" | grep -q . || { echo "$p"; return; }
	done
}
