#!/usr/bin/env bash
# `make run`: a private Redis (unless REDIS_URL is set), the action server and
# the Rasa server with the handoff channel. Ctrl-C stops them all.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
model="$(scripts/ensure-model.sh)"
PY=.venv/bin/python
export HANDOFF_JWT_SECRET="${HANDOFF_JWT_SECRET:-$($PY -m channels.handoff secret)}"
run_dir="$ROOT/.handoff/run"
mkdir -p "$run_dir"
pids=()
stop_all() {
  trap - EXIT INT TERM
  rm -f "$run_dir/redis-url"
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop_all EXIT INT TERM

if [ -z "${REDIS_URL:-}" ]; then
  redis_bin="$(scripts/ensure-redis.sh)"
  redis_port="${HANDOFF_REDIS_PORT:-$(free_port)}"
  "$redis_bin" --port "$redis_port" --bind 127.0.0.1 --dir "$run_dir" --save "" \
    --appendonly yes --appendfsync everysec --logfile "$run_dir/redis.log" &
  pids+=($!)
  REDIS_URL="redis://127.0.0.1:$redis_port/0"
  log "private Redis on port $redis_port (data in .handoff/run)"
fi
echo "$REDIS_URL" > "$run_dir/redis-url"
eval "$($PY scripts/redis_env.py "$REDIS_URL")"
export HANDOFF_REDIS_URL="$REDIS_URL" REDIS_HOST REDIS_PORT REDIS_DB REDIS_PASSWORD
export ACTION_PORT="${ACTION_PORT:-5055}"
port="${PORT:-5005}"

.venv/bin/rasa run actions --port "$ACTION_PORT" --actions actions >"$run_dir/actions.log" 2>&1 &
pids+=($!)
.venv/bin/rasa run --model "$model" --port "$port" --credentials credentials.yml \
  --endpoints endpoints.yml >"$run_dir/rasa.log" 2>&1 &
rasa_pid=$!
pids+=($rasa_pid)
log "starting the action server (port $ACTION_PORT) and Rasa (port $port); logs in .handoff/run/"

until curl -fsS "http://127.0.0.1:$port/webhooks/handoff/" >/dev/null 2>&1; do
  if ! kill -0 "$rasa_pid" 2>/dev/null; then
    echo "Rasa stopped; the end of .handoff/run/rasa.log:" >&2
    tail -n 30 "$run_dir/rasa.log" >&2
    exit 1
  fi
  sleep 1
done
token="$($PY -m channels.handoff token --agent agent1 --name "Agent One" --role supervisor)"
cat <<TXT

Ready.
  Rasa server      http://127.0.0.1:$port/
  Customer chat    http://127.0.0.1:$port/webhooks/handoff/chat/
  Agent console    http://127.0.0.1:$port/webhooks/handoff/console/
  API              http://127.0.0.1:$port/webhooks/handoff/   (docs/api.md)
  Redis            $REDIS_URL

An agent token (Agent One, supervisor), valid 12 hours:
$token

More tokens: .venv/bin/python -m channels.handoff token --agent <id> [--name <name>] [--role agent|supervisor|admin]
Press Ctrl-C to stop.
TXT
wait -n "${pids[@]}"
