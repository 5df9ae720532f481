#!/usr/bin/env bash
# Installs redis-server from Debian's packages when the machine has none.
set -euo pipefail
if ! command -v redis-server >/dev/null 2>&1; then
  echo "==> installing redis-server" >&2
  if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq redis-server >/dev/null
fi
command -v redis-server
