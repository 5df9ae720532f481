#!/usr/bin/env bash
# Makes models/current.tar.gz: the model trained on the current config, domain
# and data, trained once per content hash and kept in the cache outside the clone.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
key="$( (cat config.yml domain.yml; find data -type f -name '*.yml' | LC_ALL=C sort | xargs cat) | sha256sum | cut -c1-16)"
model_dir="$CACHE/models"
model="$model_dir/model-$key.tar.gz"
mkdir -p "$model_dir" models
exec 9>"$model.lock"
flock 9
if [ ! -f "$model" ] || [ "${FORCE_TRAIN:-0}" = 1 ]; then
  log "training the model (data changed: $key)"
  tmp="$(mktemp -d "$model_dir/train.XXXXXX")"
  .venv/bin/rasa train --quiet --out "$tmp" --fixed-model-name "model-$key" >&2
  mv "$tmp/model-$key.tar.gz" "$model"
  rm -rf "$tmp"
fi
ln -sfn "$model" models/current.tar.gz
echo "$model"
