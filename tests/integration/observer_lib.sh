# Helpers shared by the observer's integration tests (sourced after tests/lib/tap.sh).
# shellcheck shell=bash
OBSBIN=$BUILD/insitu-observer
TG=$BUILD/tests/tools/trafficgen

obs_prereq() {
	need_root
	need_cmd jq
	[[ -x $OBSBIN ]] || skip_all "$OBSBIN not built (make)"
	[[ -x $TG ]] || skip_all "$TG not built (make)"
}

# obs_start NAME ARGS...: runs insitu-observer --dump into $TAP_TMP/NAME.json (its
# stderr/stdout in $TAP_TMP/NAME.log, pid in $NAME) and waits until it is attached.
obs_start() {
	local name=$1; shift
	bg_start "$name" "$OBSBIN" --dump -o "$TAP_TMP/$name.json" --poll-ms 20 "$@"
	wait_for 20 grep -q attached "$TAP_TMP/$name.log"
}

# obs_stop NAME: SIGINT, and the observer's exit status.
obs_stop() {
	local pid=${!1}
	kill -INT "$pid" 2>/dev/null
	wait "$pid"
}

# q NAME FILTER: jq over the events of NAME, compact output.
q() { jq -c "$2" "$TAP_TMP/$1.json"; }

netns_inode() { stat -L -c %i "/run/netns/$1"; }
