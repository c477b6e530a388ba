#!/usr/bin/env bash
# Component names from cgroups, with real traffic: a python3 HTTP server runs in its
# own cgroup v2 directory (and network namespace), curl calls it from another
# namespace, some of the calls from a second cgroup, and a names file maps the
# cgroups to "web-cg" and "client-cg" (docs/health.md).  The health reports of
# insitu-observer --health must use those names: the cgroup comes from the
# observer's events (their cgroup id is the directory's inode), also for a client,
# which is only ever named from a request path's side.  Calls from outside the
# client cgroup keep curl's default name; a server outside the cgroup serving on the
# same port keeps its default name.
# timeout: 90
. "$(dirname "$0")/../lib/tap.sh"
need_root
need_cmd python3 curl jq
OBS=${E2E_OBSERVER:-$BUILD/insitu-observer}
[[ -x $OBS ]] || skip_all "build insitu-observer first (make bins)"
CG=/sys/fs/cgroup/unified
[[ -d $CG ]] || CG=/sys/fs/cgroup
[[ -f $CG/cgroup.procs ]] || skip_all "no cgroup v2 hierarchy"
cgdir="$CG/insitu-$TAP_ID" cgcli="$CG/insitu-$TAP_ID-cli"
mkdir "$cgdir" || skip_all "cannot create a cgroup"
at_exit "rmdir '$cgdir'"
mkdir "$cgcli" || skip_all "cannot create a cgroup"
at_exit "rmdir '$cgcli'"

netns_add web && netns_add web2 && netns_add cli || exit 1
veth_pair "$NS_cli" 10.82.0.1 "$NS_web" 10.82.0.2 || exit 1
veth_pair "$NS_cli" 10.82.1.1 "$NS_web2" 10.82.1.2 || exit 1

cat >"$TAP_TMP/names.json" <<JSON
[{"name": "web-cg", "cgroup": "$cgdir"}, {"name": "client-cg", "cgroup": "$cgcli"}]
JSON
bg_start OBS_PID "$OBS" --health --netns "/run/netns/$NS_web" --netns "/run/netns/$NS_web2" \
	--netns "/run/netns/$NS_cli" --names "$TAP_TMP/names.json" --semantics "$INSITU_ROOT/semantics" \
	--threshold warmup=0
sleep 1
# the server joins the cgroup before it execs, so every event of it carries the
# cgroup (and before `ip netns exec`, which mounts a sysfs of its own without it)
bg_start WEB sh -c "echo \$\$ > '$cgdir/cgroup.procs' && exec ip netns exec '$NS_web' python3 -m http.server --bind 10.82.0.2 8000"
bg_start WEB2 ip netns exec "$NS_web2" python3 -m http.server --bind 10.82.1.2 8000
up() { ip netns exec "$NS_cli" curl -sf -o /dev/null -m 1 "http://$1:8000/"; }
ok "server in the cgroup answers" wait_for 20 up 10.82.0.2
ok "server outside the cgroup answers" wait_for 20 up 10.82.1.2
is "the server really is in the cgroup" "$(grep -c . "$cgdir/cgroup.procs")" 1
# curl from the client cgroup (joined before `ip netns exec`, see above)
up_cg() { sh -c "echo \$\$ > '$cgcli/cgroup.procs' && exec ip netns exec '$NS_cli' curl -sf -o /dev/null -m 1 http://$1:8000/"; }
for i in $(seq 1 20); do up 10.82.0.2; up_cg 10.82.0.2; up 10.82.1.2; sleep 0.1; done

reports() { grep '^{' "$TAP_TMP/OBS_PID.log"; }
named_web() { reports | jq -e -s 'map(select(.subject == "web-cg")) | length > 0' >/dev/null; }
if wait_for 15 named_web; then pass "the server in the cgroup is the subject \"web-cg\""
else fail "the server in the cgroup is the subject \"web-cg\"" "$(reports | jq -r '.subject' | sort -u)"; fi
is "its callers: \"client-cg\" from the client cgroup, curl@<netns> from outside it" \
	"$(reports | jq -r 'select(.subject == "web-cg") | .observer' | sort -u | paste -sd ' ')" \
	"client-cg curl@$NS_cli"
is "the server outside the cgroup keeps its default name" \
	"$(reports | jq -r '.subject' | sort -u | grep -c "^python3@$NS_web2:8000$")" 1
is "no report names the cgrouped server by its default name" \
	"$(reports | jq -r '.subject' | grep -c "@$NS_web:")" 0
done_testing
