#!/usr/bin/env bash
# Points .venv at a Python 3.10 virtual environment holding the pinned
# requirements, built once per requirements hash in the cache outside the clone.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
python310="$(scripts/find-python310.sh)"
key="$( (cat requirements.txt; "$python310" -V) | sha256sum | cut -c1-16)"
venv="$CACHE/venv-$key"
exec 9>"$venv.lock"
flock 9
if [ ! -f "$venv/.complete" ]; then
  log "building the virtual environment in $venv (once per requirements.txt)"
  rm -rf "$venv"
  "$python310" -m venv "$venv"
  pip_quiet() { "$venv/bin/pip" "$@" 2> >(grep -v "is ignored: it is neither" >&2); }
  pip_quiet install --quiet --upgrade "pip<25" "setuptools<70.4" wheel
  pip_quiet install --quiet -r requirements.txt
  touch "$venv/.complete"
fi
ln -sfn "$venv" .venv
