"""Command line: mint agent tokens, print the development secret, export training data."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from channels.handoff.auth import ROLES, mint_agent_token, resolve_jwt_secret
from channels.handoff.validation import ID_PATTERN

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
RUNNING_REDIS_FILE = Path(".handoff") / "run" / "redis-url"


def default_redis_url() -> str:
    """$HANDOFF_REDIS_URL, else the Redis a running `make run` uses, else the local default."""
    if os.environ.get("HANDOFF_REDIS_URL"):
        return os.environ["HANDOFF_REDIS_URL"]
    if RUNNING_REDIS_FILE.exists():
        return RUNNING_REDIS_FILE.read_text().strip()
    return DEFAULT_REDIS_URL


def agent_id(value: str) -> str:
    if not ID_PATTERN.match(value):
        raise argparse.ArgumentTypeError(f"agent ids match {ID_PATTERN.pattern}")
    return value


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="python -m channels.handoff", description=__doc__)
    commands = main.add_subparsers(dest="command", required=True)
    token = commands.add_parser("token", help="print an agent token (JWT) that the running server accepts")
    token.add_argument("--agent", required=True, type=agent_id, help="agent id")
    token.add_argument("--name", help="display name (default: the id)")
    token.add_argument("--role", choices=ROLES, default="agent")
    token.add_argument("--ttl", type=int, default=12 * 3600, help="seconds the token is valid (default 12 h)")
    commands.add_parser("secret", help="print the signing secret (made once for development)")
    export = commands.add_parser("export-training", help="write the agents' examples as Rasa NLU YAML")
    export.add_argument("--out", required=True, type=Path, help="e.g. data/nlu/agent_examples.yml")
    export.add_argument("--redis-url", default=None, help="default: $HANDOFF_REDIS_URL or the Redis of `make run`")
    export.add_argument("--bot", default="default")
    return main


async def export_training(out: Path, redis_url: str, bot: str) -> int:
    from redis.asyncio import Redis

    from channels.handoff.analytics import Analytics
    from channels.handoff.keys import KeySpace
    from channels.handoff.store import HandoffStore
    from channels.handoff.training import existing_examples, exportable, to_nlu_yaml, with_conflicts

    redis = Redis.from_url(redis_url, socket_connect_timeout=2)
    try:
        store = HandoffStore(redis, KeySpace(bot=bot))
        stored = await store.training_examples()
        examples = exportable(with_conflicts(stored, existing_examples(Path("data"))))
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(to_nlu_yaml(examples))
        await Analytics(store).record_training("exported")  # as an export over HTTP is
    finally:
        await redis.close()
    return len(examples)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "token":
        print(mint_agent_token(resolve_jwt_secret(), args.agent, args.name, args.role, args.ttl))
    elif args.command == "secret":
        print(resolve_jwt_secret())
    elif args.command == "export-training":
        count = asyncio.run(export_training(args.out, args.redis_url or default_redis_url(), args.bot))
        print(f"wrote {count} examples to {args.out}", file=sys.stderr)
    return 0
