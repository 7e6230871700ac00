#!/usr/bin/env bash
# The browser tests drive Debian's Chromium (Playwright's own browser download does not
# work on these machines). `npm test` runs this first: it installs the package when it is
# missing and this user may, and says exactly what to do when it may not.
set -euo pipefail
CHROMIUM="${WEFT_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$CHROMIUM" ]; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get > /dev/null; then
  echo "weft tests: installing Debian's chromium for the browser tests" >&2
  apt-get update -qq > /dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium > /dev/null
  exit 0
fi
echo "weft tests: the browser tests need Chromium at $CHROMIUM: run 'sudo apt-get install -y chromium' (or set WEFT_CHROMIUM to a Chromium binary)" >&2
exit 1
