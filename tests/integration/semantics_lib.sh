# Shared by the semantics integration tests (ids_only.sh, semantics_kernel.sh);
# source after tests/lib/tap.sh.  Not a test itself (not executable).
# shellcheck shell=bash

# named_local NS: an authoritative named in namespace NS on 127.0.0.1:53, zone
# "test." (www.test A 10.0.0.1), no recursion.  named refuses the test's private
# temp directory, so it gets its own (removed at exit).
named_local() {
	local ns=$1 d
	d=$(mktemp -d /tmp/insitu-named.XXXXXX); chmod 755 "$d"; at_exit "rm -rf '$d'"
	cat >"$d/named.conf" <<CONF
options { directory "$d"; listen-on port 53 { 127.0.0.1; }; listen-on-v6 { none; };
	recursion no; pid-file "$d/named.pid"; dnssec-validation no; };
zone "test." { type primary; file "$d/test.zone"; };
CONF
	printf '$TTL 60\n@ IN SOA ns.test. a.test. 1 60 60 600 60\n@ IN NS ns.test.\nns IN A 127.0.0.1\nwww IN A 10.0.0.1\n' >"$d/test.zone"
	chmod 644 "$d"/*
	bg_start NAMED ip netns exec "$ns" named -g -c "$d/named.conf" -u root
}
