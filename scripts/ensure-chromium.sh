#!/usr/bin/env bash
# Installs Debian's Chromium for the browser tests when the machine has none.
set -euo pipefail
if ! command -v chromium >/dev/null 2>&1; then
  echo "==> installing chromium" >&2
  if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
fi
command -v chromium
