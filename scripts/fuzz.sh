#!/usr/bin/env bash
# Fuzzes the HTTP API described by docs/openapi.yaml with schemathesis: starts the
# channel on a private Redis (tests/fuzz_server.py, Rasa's venv), then runs
# scripts/fuzz.py in a Python 3.11 venv of its own (schemathesis' pins clash with
# Rasa's), built once per requirements-fuzz.txt in the cache outside the clone.
# Fails on any 5xx or any answer that does not match its schema; the figures go to
# tests/artifacts/fuzz.json (and, with UPDATE_DOCS=1, to docs/reliability.md).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

python311=""
for candidate in "${PYTHON311:-}" python3.11 python3; do
  [ -n "$candidate" ] || continue
  if "$candidate" -c 'import sys, venv; assert sys.version_info[:2] >= (3, 11)' 2>/dev/null; then
    python311="$("$candidate" -c 'import sys; print(sys.executable)')"
    break
  fi
done
[ -n "$python311" ] || { echo "Python 3.11 not found: set PYTHON311=/path/to/python3.11" >&2; exit 1; }

key="$( (cat requirements-fuzz.txt; "$python311" -V) | sha256sum | cut -c1-16)"
venv="$CACHE/fuzz-venv-$key"
exec 8>"$venv.lock"
flock 8
if [ ! -f "$venv/.complete" ]; then
  log "building the schemathesis environment in $venv (once per requirements-fuzz.txt)"
  rm -rf "$venv"
  "$python311" -m venv "$venv"
  pip_quiet() { "$venv/bin/pip" "$@" 2> >(grep -v "is ignored: it is neither" >&2); }
  pip_quiet install --quiet --upgrade "pip<25"
  pip_quiet install --quiet -r requirements-fuzz.txt
  touch "$venv/.complete"
fi
flock -u 8

log "fuzz: schemathesis over docs/openapi.yaml"
[ -x .venv/bin/python ] || scripts/bootstrap-venv.sh
scripts/ensure-redis.sh >/dev/null
artifacts="$ROOT/tests/artifacts"
mkdir -p "$artifacts"
ready="$artifacts/fuzz-server.json"
server_log="$artifacts/fuzz-server.log"
rm -f "$ready"
.venv/bin/python -m tests.fuzz_server "$ready" >"$server_log" 2>&1 &
server=$!
stop_server() {
  if kill -0 "$server" 2>/dev/null; then
    kill -TERM "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
}
trap stop_server EXIT
for _ in $(seq 1 600); do
  [ -s "$ready" ] && break
  kill -0 "$server" 2>/dev/null || { cat "$server_log" >&2; echo "the fuzz server did not start" >&2; exit 1; }
  sleep 0.1
done
[ -s "$ready" ] || { cat "$server_log" >&2; echo "the fuzz server did not start in 60 s" >&2; exit 1; }

# Hypothesis keeps what it learns (and constants it finds in source files) in its
# storage directory: a fresh one per run keeps runs alike and the clone clean.
hypothesis_dir="$artifacts/fuzz-hypothesis"
rm -rf "$hypothesis_dir"
status=0
# The seed fixes the cases; the time bound catches a hang (the run takes about a minute).
HYPOTHESIS_STORAGE_DIRECTORY="$hypothesis_dir" timeout --signal=INT --kill-after=10 "${FUZZ_TIMEOUT_S:-180}" \
  "$venv/bin/python" scripts/fuzz.py --server "$ready" --out "$artifacts/fuzz.json" "$@" \
  >"$artifacts/fuzz.log" 2>&1 || status=$?
if [ "$status" -eq 0 ]; then
  tail -n 1 "$artifacts/fuzz.log"  # the figures: requests generated, failures, answers by status
else
  cat "$artifacts/fuzz.log" >&2
  [ "$status" -ne 124 ] || echo "fuzz: stopped after ${FUZZ_TIMEOUT_S:-180} s" >&2
fi
stop_server
trap - EXIT
if grep -q "Traceback" "$server_log"; then
  echo "the fuzz server logged an exception (see $server_log):" >&2
  grep -B2 -A30 "Traceback" "$server_log" | head -n 80 >&2
  status=1
fi
exit "$status"
