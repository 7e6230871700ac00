#!/usr/bin/env bash
# The private-data leak test (test/private/leak.test.ts) searches a capture of the loopback
# traffic taken with Debian's tcpdump. `npm test` runs this first: it installs the package
# when it is missing and this user may, and says exactly what to do when it may not.
set -euo pipefail
if command -v tcpdump > /dev/null; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get > /dev/null; then
  echo "weft tests: installing Debian's tcpdump for the private-data leak test" >&2
  apt-get update -qq > /dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tcpdump > /dev/null
  exit 0
fi
echo "weft tests: the private-data leak test needs tcpdump and root to capture loopback traffic: run 'sudo apt-get install -y tcpdump' and the tests as root" >&2
exit 1
