#!/usr/bin/env bash
# timeout: 60
# `insitu-semantics check` on a corpus of broken semantics files
# (tests/semantics/broken/*.json): each must fail with exactly the messages in
# its .expected file (file:line:column: JSON path: what was expected), and the
# --json form must carry the same problems.
. "$(dirname "$0")/../lib/tap.sh"
SEM=$BUILD/insitu-semantics
cd "$INSITU_ROOT"
[[ -x $SEM ]] || skip_all "$SEM not built"

n=0
for f in tests/semantics/broken/*.json; do
	n=$((n + 1))
	got=$("$SEM" check "$f" 2>&1)
	rc=$?
	is "$(basename "$f" .json): exit status 1" "$rc" "1"
	is "$(basename "$f" .json): messages" "$got" "$(cat "${f%.json}.expected")"
done
((n >= 30)) && pass "corpus has $n broken files (>= 30)" || fail "corpus has only $n broken files"

# all files at once: every problem of every file, in order
all=$("$SEM" check tests/semantics/broken/*.json 2>&1)
is "all broken files at once report every problem" "$all" "$(cat tests/semantics/broken/*.expected)"

json=$("$SEM" check --json tests/semantics/broken/22-regex-error.json)
is "--json problem" "$json" '{"ok":false,"problems":[{"file":"tests/semantics/broken/22-regex-error.json","line":1,"column":201,"path":"$.messages[0].ids.link_id.regex","message":"regex does not compile at offset 11: missing terminating ] for character class"}]}'
ok "--json is valid JSON" jq -e '.ok == false' <<<"$json"

is "a missing file is a problem too" "$("$SEM" check /nonexistent/x.json 2>&1)" "/nonexistent/x.json: cannot open: No such file or directory"
"$SEM" check semantics/*.json >/dev/null
is "shipped files: exit status 0" "$?" "0"
"$SEM" >/dev/null 2>&1
is "no command: usage, exit status 2" "$?" "2"
ok "--help" "$SEM" --help
k=$("$SEM" kernel semantics/*.json)
ok "kernel: shipped files compile into the rule table" grep -q '^[0-9]* of 128 rules; ' <<<"$k"
ok "kernel: DNS query id at bytes 0..2 behind the QR bit" bash -c "grep -A2 -E '^ *[0-9]+ dns +to_server +type 0: signature @2=00/80 min_len=12' | grep -qE '^ *[0-9]+ +query_id: bytes 0\.\.2\$'" <<<"$k"

# -s takes a comma-separated list (sem_load_list): bounded, every name checked
many=$(printf 'semantics/http.json,%.0s' $(seq 33))
out=$("$SEM" frame -s "${many%,}" /dev/null 2>&1); rc=$?
ok "frame: a list of 33 files is refused (exit $rc)" test "$rc" = 1
ok "frame: ... naming the limit" grep -q 'more than 32 files in the list' <<<"$out"
out=$("$SEM" frame -s semantics/http.json,/nonexistent.json /dev/null 2>&1)
ok "frame: a missing file in the list is named" grep -q '^/nonexistent.json: cannot open' <<<"$out"

# the JSON Schema in docs/ accepts every shipped file
if python3 -c 'import jsonschema' 2>/dev/null; then
	ok "docs/semantics.schema.json accepts every shipped file" python3 -c '
import json, sys, jsonschema
s = json.load(open("docs/semantics.schema.json"))
for f in sys.argv[1:]:
    jsonschema.validate(json.load(open(f)), s)' semantics/*.json
else
	skip "docs/semantics.schema.json accepts every shipped file" "python3 jsonschema not installed"
fi
done_testing
