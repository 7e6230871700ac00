#!/usr/bin/env bash
# The NAT tests (test/net/nat/) build network namespaces with veth pairs and routers that
# masquerade with nftables. `npm test` runs this first: as root it installs Debian's
# iproute2 and nftables when they are missing; otherwise the tests skip and say why. The
# WebRTC punch between two NATs needs a STUN server on the public side: Debian's coturn.
set -euo pipefail
if command -v ip > /dev/null && command -v nft > /dev/null && command -v turnserver > /dev/null; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get > /dev/null; then
  echo "weft tests: installing Debian's iproute2, nftables and coturn (STUN) for the NAT tests" >&2
  apt-get update -qq > /dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 nftables coturn > /dev/null
  exit 0
fi
echo "weft tests: the NAT tests need root, ip (iproute2) and nft (nftables), and coturn for WebRTC; they will be skipped" >&2
exit 0
