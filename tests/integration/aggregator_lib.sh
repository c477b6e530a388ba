# Helpers shared by the aggregator_*.sh tests (sourced; not a test itself).
# shellcheck shell=bash
INSITUD="$BUILD/insitud"
INSITU="$BUILD/insitu"

# start_insitud VAR DIR [ARGS...]: starts insitud with its socket and database in DIR,
# waits until it answers; pid in VAR.
start_insitud() {
	local var=$1 dir=$2; shift 2
	mkdir -p "$dir"
	bg_start "$var" "$INSITUD" -s "$dir/sock" -d "$dir/db" "$@"
	wait_for 10 "$INSITU" -s "$dir/sock" ping
}

# req SOCK JSON...: sends raw request lines, prints the answer lines.
req() {
	local sock=$1; shift
	python3 - "$sock" "$@" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile('rwb')
for line in sys.argv[2:]:
    f.write(line.encode() + b"\n"); f.flush()
    print(f.readline().decode().rstrip("\n"))
PY
}
