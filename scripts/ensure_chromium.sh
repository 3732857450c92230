#!/usr/bin/env bash
# Installs Debian's Chromium for the browser tests (a dashboard page on
# another origin calling the API, the HTML report's layout), once. Prints
# the browser to run. Idempotent and quick when already done; safe to run
# from several tests at once.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p target
exec 9>"target/chromium.lock"
flock 9
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "Chromium is missing; install Debian's package chromium (apt-get install chromium) as root" >&2
    exit 1
  fi
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2
fi
command -v chromium
