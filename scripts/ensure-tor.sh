#!/usr/bin/env bash
# The onion routing tests (test/net/tor/) run a private Tor network on 127.0.0.1 from
# Debian's tor (tor and tor-gencert). `npm test` runs this first: as root it installs tor
# when missing, without letting the package start its system service (which would join
# the public Tor network); otherwise the tests skip and say why.
set -euo pipefail
if command -v tor > /dev/null && command -v tor-gencert > /dev/null; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get > /dev/null; then
  echo "weft tests: installing Debian's tor for the onion routing tests" >&2
  # invoke-rc.d asks policy-rc.d; 101 means "do not start services"
  made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && made_policy=1
  fi
  apt-get update -qq > /dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends tor > /dev/null
  if [ "$made_policy" = "1" ]; then rm -f /usr/sbin/policy-rc.d; fi
  # with systemd running, the unit may have started anyway: weft runs its own tors
  if command -v systemctl > /dev/null && [ -d /run/systemd/system ]; then systemctl disable --now tor > /dev/null 2>&1 || true; fi
  exit 0
fi
echo "weft tests: the onion routing tests need Debian's tor (apt-get install tor, as root); they will be skipped" >&2
exit 0
