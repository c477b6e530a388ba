#!/usr/bin/env bash
# timeout: 120
# Shipped semantics against traffic captured from the real programs
# (tests/fixtures/semantics/README.md): every message's type, role, ids and
# outcome must equal the reviewed .expected file, and must not change when each
# read is re-fed in pieces of 1, 2, 5 and 64 bytes (messages split across reads)
# or when reads are merged (many messages per read).
. "$(dirname "$0")/../lib/tap.sh"
SEM=$BUILD/insitu-semantics
FX=$INSITU_ROOT/tests/fixtures/semantics
cd "$INSITU_ROOT"
[[ -x $SEM ]] || skip_all "$SEM not built"

ok "every shipped semantics file passes check" "$SEM" check semantics/*.json

while read -r cap files; do
	[[ -z $cap || $cap == \#* ]] && continue
	name=${cap%.cap}
	got=$("$SEM" frame -s "$files" "$FX/$cap" 2>&1)
	is "$name: messages, ids and outcomes as expected" "$got" "$(cat "$FX/$name.expected")"
	for split in 1 2 5 64; do
		again=$("$SEM" frame --split $split -s "$files" "$FX/$cap" 2>&1)
		is "$name: same result fed in $split-byte pieces" "$again" "$got"
	done
	# merge every run of reads in one direction into a single read
	merged=$TAP_TMP/$name.merged
	awk '/^#/ {print; next} { if ($1 == c && $2 == d) { h = h $3 } else { if (h != "") print c, d, h; c = $1; d = $2; h = $3 } }
	     END { if (h != "") print c, d, h }' "$FX/$cap" > "$merged"
	if grep -q '^# transport: udp' "$FX/$cap"; then
		skip "$name: same result with merged reads" "datagrams are never merged"
	else
		is "$name: same result with merged reads" "$("$SEM" frame -s "$files" "$merged" 2>&1)" "$got"
	fi
	n=$(printf '%s\n' "$got" | grep -c ' ? ')
	is "$name: every message matched a type" "$n" "0"
done < "$FX/fixtures.list"

done_testing
