#!/usr/bin/env bash
# The path segment store's limits are the operator's (insitud's "Segments" key,
# docs/aggregator.md): a small MaxPaths / MaxBytes really evicts, oldest first, counted
# in `insitu stats`; a small MaxStitchBytes caps a stitched path ("capped"); the
# limits in force are shown; bad values are refused with file:line:column.
# timeout: 60
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/aggregator_lib.sh"
need_cmd python3 jq
[[ -x $INSITUD && -x $INSITU ]] || skip_all "build insitud and insitu first"

# path KEY [CHILD_KEY [PAD]]: a path as insitu-observer prints it; with CHILD_KEY a
# leaf whose server end was not seen; PAD bytes of label make it big.
path() {
	jq -cn --arg k "$1" --arg c "${2:-}" --argjson pad "${3:-0}" '
		{root: ({join: $k, client: {seen: true}, server: {seen: true}, label: ("x" * $pad)}
			+ (if $c == "" then {} else {children: [{join: $c, client: {seen: true}, server: {seen: false}}]} end))}'
}
# segment KEY PAD: a path whose root's client end was not seen (continues a leaf KEY).
segment() {
	jq -cn --arg k "$1" --argjson pad "$2" '{root: {join: $k, client: {seen: false}, server: {seen: true}, label: ("y" * $pad)}}'
}
submit() { # submit SOCK PATH...: one submit_paths from a registered observer
	local sock=$1; shift
	local paths; paths=$(printf '%s\n' "$@" | jq -cs .)
	req "$sock" '{"op":"register","module":"t","name":"obs"}' \
		"{\"op\":\"submit_paths\",\"handle\":10000,\"paths\":$paths}" | tail -1
}
stat() { "$INSITU" -s "$1" --json stats | jq -c ".segments | $2"; }

# --- MaxPaths: 3 kept of 5, the two oldest evicted by count
D=$TAP_TMP/a
jq -n '{Segments: {MaxPaths: 3, MaxAgeSeconds: 600, MaxStitchBytes: 4096}}' >"$TAP_TMP/a.json"
start_insitud PID_A "$D" -c "$TAP_TMP/a.json" || { fail "insitud starts with Segments"; done_testing; }
is "5 paths accepted" "$(submit "$D/sock" "$(path a1)" "$(path a2)" "$(path a3)" "$(path a4)" "$(path a5)" | jq -c '[.accepted,.rejected]')" '[5,0]'
is "the limits in force are shown in insitu stats" "$(stat "$D/sock" '[.paths_max, .age_max_ms, .stitch_bytes_max]')" '[3,600000,4096]'
is "3 stored, 2 evicted by count" "$(stat "$D/sock" '[.paths, .evicted_count, .evicted_bytes]')" '[3,2,0]'
is "the oldest went first (a1 gone)" "$("$INSITU" -s "$D/sock" --json paths --join a1 --no-peers | jq -r .error)" not_found
is "the newest stayed (a5 there)" "$("$INSITU" -s "$D/sock" --json paths --join a5 --no-peers | jq -r '.paths[0].root.join')" a5

# --- MaxStitchBytes: a segment bigger than 4096 bytes is not grafted: "capped"
submit "$D/sock" "$(path f1 s1)" "$(segment s1 5000)" >/dev/null
ans=$("$INSITU" -s "$D/sock" --json paths --join f1 --no-peers)
is "a segment over MaxStitchBytes is left out, the path says capped" \
	"$(jq -c '.paths[0] | [.capped, .grafts, .unresolved]' <<<"$ans")" '[true,0,["s1"]]'

# --- MaxBytes: 64 KiB hold a few 10 KB paths, the rest evicted by bytes
D=$TAP_TMP/b
jq -n '{Segments: {MaxBytes: 65536}}' >"$TAP_TMP/b.json"
start_insitud PID_B "$D" -c "$TAP_TMP/b.json" || { fail "insitud starts with MaxBytes"; done_testing; }
for i in 1 2 3 4 5 6 7 8 9 10; do submit "$D/sock" "$(path "b$i" "" 10000)" >/dev/null; done
got=$(stat "$D/sock" '[.paths, .evicted_bytes, .evicted_count, .bytes <= .bytes_max, .bytes_max]')
ok "10 paths of 10 KB in 64 KiB: some evicted by bytes, what is kept fits ($got)" \
	jq -en --argjson g "$got" '$g | length == 5 and .[0] >= 1 and .[0] < 10 and .[1] == 10 - .[0] and .[2] == 0 and .[3] and .[4] == 65536'

# --- bad values: refused before starting, file:line:column
printf '{\n  "Segments": {"MaxPaths": 0}\n}\n' >"$TAP_TMP/bad1.json"
out=$("$INSITUD" -c "$TAP_TMP/bad1.json" -s "$TAP_TMP/x.sock" -d "$TAP_TMP/x.db" 2>&1); rc=$?
ok "MaxPaths 0 refused (exit $rc)" test "$rc" -ne 0
ok "... naming file:line:column and the range" grep -q "bad1.json:2:28: \"MaxPaths\": expected an integer number of paths from 1 to" <<<"$out"
printf '{"Segments": {"MaxPath": 10}}' >"$TAP_TMP/bad2.json"
out=$("$INSITUD" -c "$TAP_TMP/bad2.json" -s "$TAP_TMP/x.sock" -d "$TAP_TMP/x.db" 2>&1)
ok "an unknown Segments key is refused by name" grep -q 'bad2.json:1:15: "Segments": unknown key "MaxPath"' <<<"$out"
printf '{"Segments": {"MaxPeerAnswerBytes": 8388608}}' >"$TAP_TMP/bad3.json"
out=$("$INSITUD" -c "$TAP_TMP/bad3.json" -s "$TAP_TMP/x.sock" -d "$TAP_TMP/x.db" 2>&1)
ok "MaxPeerAnswerBytes above one frame's room is refused" grep -q '"MaxPeerAnswerBytes": expected .* to 3145728' <<<"$out"
done_testing
