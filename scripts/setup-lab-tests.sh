#!/usr/bin/env bash
# Install what the browser tests (tests/ui, marker `browser`) need on Debian: Debian's chromium
# (Playwright's own browser download is not reachable; the tests use /usr/bin/chromium) and fonts.
# Idempotent and non-interactive; waits for another apt/dpkg run to release its lock.
set -euo pipefail

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
dpkg-query -W -f='${Status}' fonts-liberation 2>/dev/null | grep -q "install ok installed" \
  || missing+=(fonts-liberation)

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup-lab-tests: chromium and fonts already installed ($(chromium --version 2>/dev/null | head -1))"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo -n"
fi
export DEBIAN_FRONTEND=noninteractive
APT_OPTS=(-o DPkg::Lock::Timeout=300 -o Acquire::Retries=3)
echo "setup-lab-tests: installing ${missing[*]}"
$SUDO apt-get "${APT_OPTS[@]}" update -qq
$SUDO apt-get "${APT_OPTS[@]}" install -y -qq --no-install-recommends "${missing[@]}"
chromium --version 2>/dev/null | head -1
