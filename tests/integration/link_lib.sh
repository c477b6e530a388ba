# Shared by the linking accuracy harnesses (link_http.sh, link_dns.sh); source after
# tests/lib/tap.sh.  Not a test itself (not executable).
# shellcheck shell=bash

# link_observer_done: stops the recording observer ($OBSP, log $TAP_TMP/OBSP.log),
# reports its counters, sets MINC (the accuracy minimum for link_score.py) and
# unpacks the recording $TAP_TMP/ev.zst into $TAP_TMP/ev.raw.
link_observer_done() {
	kill -INT "$OBSP"
	for _ in $(seq 50); do kill -0 "$OBSP" 2>/dev/null || break; sleep 0.1; done
	diag "observer: $(grep -E 'ringbuf_drops|msg_events|^ids_(only|kept)' "$TAP_TMP/OBSP.log" | tr -s ' ' | paste -sd ' ')"
	local drops
	drops=$(awk '$1 == "ringbuf_drops" { print $2 }' "$TAP_TMP/OBSP.log")
	# Events the kernel could not queue (a loaded machine) leave parts of paths unseen:
	# those requests are orphaned, which is then the observer's doing, not the linker's.
	# The accuracy minimum is asserted on complete recordings; mis-stitching never.
	MINC=(--min-correct 99)
	((${drops:-0} > 0)) && MINC=() && diag "observer dropped $drops events: the 99% minimum is not asserted this run"
	zstd -qdcf "$TAP_TMP/ev.zst" >"$TAP_TMP/ev.raw"
}
