#!/usr/bin/env bash
# timeout: 90
# Two "hosts" (network namespaces joined by a veth pair): one observer sees both
# ends of each connection, each tagged with its own netns inode, with the same
# byte range and the same payload bytes; IPv4 and IPv6; the --netns filter.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/observer_lib.sh"
obs_prereq
need_cmd redis-server redis-cli ip

netns_add cli && netns_add srv || skip_all "cannot create network namespaces"
veth_pair "$NS_cli" 10.77.0.1 "$NS_srv" 10.77.0.2
veth_pair "$NS_cli" fd77::1 "$NS_srv" fd77::2 64
INO_CLI=$(netns_inode "$NS_cli"); INO_SRV=$(netns_inode "$NS_srv")
P=6379   # inside the namespaces nothing else listens

obs_start ALL --port "$P" --port 7777 || { fail "observer attached"; done_testing; }
obs_start SRVONLY --netns "$NS_srv" || { fail "second observer attached"; done_testing; }

ip netns exec "$NS_srv" redis-server --port "$P" --bind 10.77.0.2 --save '' --appendonly no \
	--protected-mode no >"$TAP_TMP/redis.log" 2>&1 &
REDIS=$!; at_exit "kill_pid $REDIS"
wait_for 10 ip netns exec "$NS_cli" redis-cli -h 10.77.0.2 -p "$P" ping
val=$(head -c 300 /dev/zero | tr '\0' 'x')
ok "redis-cli across namespaces" \
	test "$(ip netns exec "$NS_cli" redis-cli -h 10.77.0.2 -p "$P" set netns-key "$val")" = OK

ip netns exec "$NS_srv" "$TG" -6 -s fd77::2 7777 >/dev/null 2>&1 &
TGS=$!; at_exit "kill_pid $TGS"
sleep 0.3
ok "IPv6 exchange across namespaces" ip netns exec "$NS_cli" "$TG" -6 -n 2 fd77::2 7777 msg
wait $TGS
sleep 0.3
obs_stop ALL; is "observer exits 0" "$?" 0
obs_stop SRVONLY

req=$(printf '*3\\r\\n$3\\r\\nset\\r\\n$9\\r\\nnetns-key\\r\\n$300\\r\\n%s\\r\\n' "$val")
ev=$(q ALL "select(.type==\"msg\" and .payload==\"$req\") | {comm,dir,netns,seq,bytes,laddr,raddr,lport,rport}")
cli=$(jq -c 'select(.dir=="send")' <<<"$ev"); srv=$(jq -c 'select(.dir=="recv")' <<<"$ev")
ok "client end seen (redis-cli send)" test "$(jq -r .comm <<<"$cli")" = redis-cli
ok "server end seen (redis-server recv)" test "$(jq -r .comm <<<"$srv")" = redis-server
is "client event tagged with the client's netns" "$(jq .netns <<<"$cli")" "$INO_CLI"
is "server event tagged with the server's netns" "$(jq .netns <<<"$srv")" "$INO_SRV"
is "same byte range at both ends" "$(jq -c '[.seq,.bytes]' <<<"$cli")" "$(jq -c '[.seq,.bytes]' <<<"$srv")"
reqlen=$(printf '*3\r\n$3\r\nset\r\n$9\r\nnetns-key\r\n$300\r\n%s\r\n' "$val" | wc -c)
is "payload bytes exact ($reqlen bytes)" "$(jq .bytes <<<"$srv")" "$reqlen"
is "tuples mirror each other" "$(jq -c '[.laddr,.lport,.raddr,.rport]' <<<"$cli")" \
	"$(jq -c '[.raddr,.rport,.laddr,.lport]' <<<"$srv")"
ev6=$(q ALL 'select(.type=="msg" and .payload=="msg-1-payload") | [.dir,.netns,.seq,.laddr,.raddr] | @text' | sort)
is "IPv6: both ends, own netns, same position" \
	"$(jq -r 'fromjson | "\(.[0]) \(.[1])"' <<<"$ev6" | tr '\n' ',')" "recv $INO_SRV,send $INO_CLI,"
is "IPv6: one byte position" "$(jq -r 'fromjson | .[2]' <<<"$ev6" | sort -u | wc -l)" 1
n_srv=$(q SRVONLY "select(.netns==$INO_SRV)" | wc -l)
n_other=$(q SRVONLY "select(.netns!=$INO_SRV)" | wc -l)
ok "--netns: events of the chosen namespace ($n_srv)" test "$n_srv" -gt 0
is "--netns: no events from other namespaces" "$n_other" 0
ok "--netns: both the redis and the IPv6 exchange on the server side" \
	test -n "$(q SRVONLY 'select(.payload=="msg-1-payload")')" -a \
	-n "$(q SRVONLY "select(.payload==\"$req\")")"
done_testing
