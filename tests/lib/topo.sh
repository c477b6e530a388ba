# Multi-host topologies in network namespaces for insitu's end-to-end tests and demo.
# Source after tests/lib/tap.sh (uses netns_add, bg_start, at_exit, wait_for).
#
#   topo_switch                 a bridge in its own namespace ($NS_sw, or $TOPO_SW's)
#   topo_node NAME IP           a node namespace ($NS_NAME) on the bridge at $TOPO_NET.IP;
#                               ${TOPO_NODE_NS[NAME]} lists every node's namespace
#   topo_server NAME NODE CMD.. starts CMD inside NODE's namespace; its pid is
#                               ${TOPO_PID[NAME]}, killed at exit; topo_restart NAME
#                               starts the same command again (after a kill)
#   topo_http                   wrk-style front tier: clients lg1 lg2 lg3 -> nginx (ngx,
#                               .2:80, round robin) -> backends b1 b2 b3 (.11-.13:8000)
#                               -> redis (rd, .20:6379)
#   topo_dns                    DNS forwarder chain: clients cl1 cl2 cl3 -> dnsmasq (dm,
#                               .2:53) -> unbound (ub, .3:53) -> named (bd, .4:53, zone test.)
#   http_load NODE RATE         curl at RATE requests/s from NODE to nginx (one keep-alive
#                               connection, unique paths), one line per request in
#                               $TAP_TMP/load-NODE.log: "<code> <seconds>"
#   dns_load NODE RATE          dig at about RATE queries/s from NODE (unique names),
#                               one line per query in $TAP_TMP/load-NODE.log: "<rcode> <ms>"
#
# Servers run in the foreground and are started with `ip netns exec NS CMD &` so that
# the pid is the server's own (ip netns exec execs CMD); everything is removed at exit
# by pid and by the exact namespace names tap.sh created.
# shellcheck shell=bash

TOPO_NET=${TOPO_NET:-10.79.0}
declare -gA TOPO_PID TOPO_CMD TOPO_NODE TOPO_NODE_NS
TOPO_DIR=${TOPO_DIR:-$TAP_TMP/topo}
mkdir -p "$TOPO_DIR"

# The switch namespace is "sw" ($NS_sw); set TOPO_SW before topo_http/topo_dns to build
# a second topology in the same test.
TOPO_SW=${TOPO_SW:-sw}
topo_switch() {
	netns_add "$TOPO_SW" || return 1
	TOPO_SW_NS=$(eval echo "\$NS_${TOPO_SW//-/_}")
	ip -n "$TOPO_SW_NS" link add br0 type bridge
	ip -n "$TOPO_SW_NS" link set br0 up
}

# topo_node NAME IP-LAST-OCTET
topo_node() {
	netns_add "$1" || return 1
	local ns="NS_$1" v="e${TAP_ID: -5}x$2"
	TOPO_NODE_NS[$1]=${!ns}
	v=${v:0:13}
	ip link add "${v}a" netns "${!ns}" type veth peer name "${v}b" netns "$TOPO_SW_NS" || return 1
	ip -n "${!ns}" addr add "$TOPO_NET.$2/24" dev "${v}a"
	ip -n "${!ns}" link set "${v}a" up
	ip -n "$TOPO_SW_NS" link set "${v}b" master br0 up
}

# topo_server NAME NODE CMD...: runs CMD in NODE's namespace (pid in TOPO_PID[NAME]).
topo_server() {
	local name=$1 node=$2; shift 2
	local ns="NS_$node"
	TOPO_CMD[$name]=$(printf '%q ' "$@")
	TOPO_NODE[$name]=$node
	ip netns exec "${!ns}" "$@" >>"$TOPO_DIR/$name.log" 2>&1 &
	TOPO_PID[$name]=$!
	at_exit "kill_pid ${TOPO_PID[$name]}"
}

# topo_restart NAME: the same command again (the old process must be gone).  The
# command is re-split from its quoted form into an array, never run through eval in
# the background, so that $! is the server's pid and not a subshell's.
topo_restart() {
	local name=$1 ns="NS_${TOPO_NODE[$1]}"
	local -a cmd
	eval "cmd=(${TOPO_CMD[$name]})"
	ip netns exec "${!ns}" "${cmd[@]}" >>"$TOPO_DIR/$name.log" 2>&1 &
	TOPO_PID[$name]=$!
	at_exit "kill_pid ${TOPO_PID[$name]}"
}

# ---- HTTP: clients -> nginx -> 3 python backends -> redis --------------------------

HTTP_FRONT=$TOPO_NET.2
HTTP_BACKENDS=(b1 b2 b3)

topo_http() {
	local here i
	here=$INSITU_ROOT/tests/e2e
	HTTP_FRONT=$TOPO_NET.2
	topo_switch || return 1
	topo_node lg1 31 && topo_node lg2 32 && topo_node lg3 33 || return 1
	topo_node ngx 2 && topo_node rd 20 || return 1
	for i in 1 2 3; do topo_node "b$i" "1$i" || return 1; done
	topo_server redis rd redis-server --bind "$TOPO_NET.20" --port 6379 --save '' \
		--appendonly no --protected-mode no
	for i in 1 2 3; do
		topo_server "b$i" "b$i" python3 "$here/backend.py" "$TOPO_NET.1$i" 8000 \
			"$TOPO_NET.20" 6379 "$TOPO_DIR/fail-b$i"
	done
	local ng=$TOPO_DIR/nginx
	mkdir -p "$ng/logs" "$ng/tmp"
	# Timeouts as a careful operator sets them: a hung backend costs a request 2 s,
	# after which nginx tries the next one and leaves the failed one alone for 3 s.
	cat >"$ng/nginx.conf" <<CONF
worker_processes 1;
error_log $ng/logs/error.log;
pid $ng/nginx.pid;
events { worker_connections 4096; }
http {
	access_log off;
	client_body_temp_path $ng/tmp; proxy_temp_path $ng/tmp;
	upstream be {
		server $TOPO_NET.11:8000 max_fails=1 fail_timeout=3s;
		server $TOPO_NET.12:8000 max_fails=1 fail_timeout=3s;
		server $TOPO_NET.13:8000 max_fails=1 fail_timeout=3s;
		keepalive 64;
	}
	server {
		listen $HTTP_FRONT:80;
		location / {
			proxy_pass http://be;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_connect_timeout 1s;
			proxy_read_timeout 2s;
			proxy_send_timeout 2s;
		}
	}
}
CONF
	topo_server nginx ngx nginx -c "$ng/nginx.conf" -p "$ng" -g 'daemon off;'
	wait_for 30 _http_up
}

_http_up() {
	local i
	for i in 1 2 3; do
		ip netns exec "$NS_lg1" curl -sf -o /dev/null -m 1 "http://$HTTP_FRONT/up$i" || return 1
	done
}

# http_load NODE RATE: serial requests at RATE/s on one keep-alive connection.
http_load() {
	local node=$1 rate=$2 ns="NS_$1"
	ip netns exec "${!ns}" stdbuf -oL curl -s -o /dev/null -m 4 --rate "$rate/s" \
		-w '%{http_code} %{time_total}\n' "http://$HTTP_FRONT/$node/[1-10000000]" \
		>"$TAP_TMP/load-$node.log" 2>&1 &
	TOPO_PID[load-$node]=$!
	at_exit "kill_pid ${TOPO_PID[load-$node]}"
}

# ---- DNS: clients -> dnsmasq -> unbound -> named ----------------------------------

DNS_FRONT=$TOPO_NET.2

topo_dns() {
	local d=$TOPO_DIR/dns
	mkdir -p "$d"
	DNS_FRONT=$TOPO_NET.2
	topo_switch || return 1
	topo_node cl1 31 && topo_node cl2 32 && topo_node cl3 33 || return 1
	topo_node dm 2 && topo_node ub 3 && topo_node bd 4 || return 1
	cat >"$d/test.zone" <<ZONE
\$TTL 0
@	IN SOA ns.test. admin.test. 1 3600 600 86400 0
@	IN NS ns.test.
ns	IN A $TOPO_NET.4
*	IN A 10.0.0.1
ZONE
	# named.conf is rendered from a template so the "errors" fault can turn queries
	# away (allow-query { none; } -> REFUSED) with a reload (SIGHUP), no restart.
	DNS_NAMED_CONF=$d/named.conf
	_named_conf any
	cat >"$d/unbound.conf" <<CONF
server:
	interface: $TOPO_NET.3
	port: 53
	access-control: 0.0.0.0/0 allow
	do-not-query-localhost: no
	qname-minimisation: no
	do-ip6: no
	username: ""
	chroot: ""
	directory: "$d"
	pidfile: "$d/unbound.pid"
	use-syslog: no
	num-threads: 1
	module-config: "iterator"
	cache-max-ttl: 0
	cache-max-negative-ttl: 0
	infra-host-ttl: 1
	infra-keep-probing: yes
	local-zone: "test." nodefault
remote-control:
	control-enable: no
stub-zone:
	name: "test."
	stub-addr: $TOPO_NET.4
CONF
	topo_server named bd named -g -c "$d/named.conf"
	topo_server unbound ub unbound -d -c "$d/unbound.conf"
	topo_server dnsmasq dm dnsmasq -k --no-resolv --no-hosts --cache-size=0 \
		--server="$TOPO_NET.3" --listen-address="$DNS_FRONT" --bind-interfaces -p 53 \
		--pid-file="$d/dnsmasq.pid" --dns-forward-max=1000
	wait_for 20 _dns_up
}

# _named_conf any|none: who may query named.
_named_conf() {
	local d=$TOPO_DIR/dns
	cat >"$d/named.conf.tmp" <<CONF
options {
	directory "$d";
	listen-on port 53 { $TOPO_NET.4; };
	listen-on-v6 { none; };
	recursion no;
	allow-query { $1; };
	dnssec-validation no;
	pid-file "$d/named.pid";
	session-keyfile "$d/session.key";
	managed-keys-directory "$d";
};
controls { };
zone "test." { type master; file "$d/test.zone"; };
CONF
	mv "$d/named.conf.tmp" "$d/named.conf"
}

_dns_up() {
	ip netns exec "$NS_cl1" dig "@$DNS_FRONT" +short +tries=1 +time=1 warm.test | grep -q 10.0.0.1
}

# dns_load NODE RATE: dig at about RATE queries/s (batches of 5 unique names per dig
# process, serial, each query waiting up to 2 s).
dns_load() {
	local node=$1 rate=$2 ns="NS_$1"
	ip netns exec "${!ns}" bash -c '
		i=0 f=$(mktemp)
		trap "rm -f $f" EXIT
		while :; do
			t0=$(date +%s%N)
			: >"$f"
			for _ in 1 2 3 4 5; do i=$((i + 1)); echo "q$3-$i.test A" >>"$f"; done
			dig @"$1" +tries=1 +time=2 +noall +comments +stats -f "$f" 2>&1 | awk "
				/status:/ { if (st != \"\") print st, \"-\"; st = \$6; sub(/,/, \"\", st) }
				/Query time:/ { print st, \$4; st = \"\" }
				/timed out/ { print \"TIMEOUT -\" }
				END { if (st != \"\") print st, \"-\" }"
			left=$(( (5000000000 / $2) - ($(date +%s%N) - t0) ))
			((left > 0)) && sleep "$(printf "0.%09d" "$left")"
		done' dns_load "$DNS_FRONT" "$rate" "$node" >"$TAP_TMP/load-$node.log" 2>&1 &
	TOPO_PID[load-$node]=$!
	at_exit "kill_pid ${TOPO_PID[load-$node]}"
}
