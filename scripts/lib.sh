# Shared paths for the project's scripts: sourced, not run.
# The cache lives outside the clone so fresh clones reuse the venv and models.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${HANDOFF_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rasa-handoff}"
mkdir -p "$CACHE"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Prints a free TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
