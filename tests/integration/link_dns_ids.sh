#!/usr/bin/env bash
# timeout: 150
# tests/integration/link_dns.sh with the observer in --payload=ids: the shipped DNS
# semantics are complete in the kernel (txid, the question via the raw DNSQ rule,
# rcode), so every message of the dig -> dnsmasq -> unbound -> named chain reaches
# the linker as its ids block alone; the same accuracy minimums are asserted.
export LINK_DNS_PAYLOAD=ids
exec "$(dirname "$0")/link_dns.sh" "$@"
