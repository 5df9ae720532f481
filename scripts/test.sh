#!/usr/bin/env bash
# `make test`: checks, data validation, the whole pytest suite (unit, store,
# channel, end-to-end with the real Rasa) and the test stories.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
scripts/ensure-redis.sh >/dev/null
scripts/ensure-chromium.sh >/dev/null
model="$(scripts/ensure-model.sh)"
log "lint: ruff and mypy"
.venv/bin/ruff check .
.venv/bin/ruff format --check . >/dev/null
.venv/bin/mypy
log "rasa data validate"
.venv/bin/rasa data validate --fail-on-warnings --quiet >/dev/null 2>results.validate.log || {
  cat results.validate.log >&2; exit 1; }
log "test stories"
.venv/bin/rasa test core --model "$model" --stories tests/test_stories.yml \
  --fail-on-prediction-errors --out results --quiet >results.stories.log 2>&1 || {
  tail -n 40 results.stories.log >&2; exit 1; }
log "pytest"
HANDOFF_MODEL="$model" .venv/bin/python -m pytest "$@"
scripts/fuzz.sh  # schemathesis over docs/openapi.yaml: prints the number of requests generated
