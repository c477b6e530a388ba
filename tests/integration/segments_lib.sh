# Helpers shared by the segments_*.sh and peers_unknown_frame.sh tests (sourced after
# tap.sh; not a test itself).
# shellcheck shell=bash

# peer_key FILE: a fresh pre-shared peer key (64 hex digits), mode 0600.
peer_key() {
	head -c32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$1"
	chmod 600 "$1"
}

# peer_ports N: N distinct ports nobody listens on, below the ephemeral range (a peer
# port inside it can be taken by a TCP self-connect: docs/aggregator.md), in PORTS.
peer_ports() {
	local p
	PORTS=()
	while ((${#PORTS[@]} < $1)); do
		p=$(free_port)
		[[ " ${PORTS[*]} " == *" $p "* ]] || PORTS+=("$p")
	done
}
