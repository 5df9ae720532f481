"""A handoff channel to fuzz: `python -m tests.fuzz_server READY.json` starts a
private Redis and the channel on a real Sanic server (tests/channel_server.py, stub
bot), seeds conversations in every state, writes READY.json (the base URL, tokens,
the seeded ids) and serves until SIGTERM or SIGINT. scripts/fuzz.sh runs
schemathesis against it.

The per-agent rate limit is off (`agent_requests_per_s=0`): every fuzzed request
carries the same agent token, and 429s would cut the run short of the code behind
the limit. The per-customer limit keeps its default (10 a second per sender).
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from tests.channel_server import ChannelServer, agent_token
from tests.redis_server import RedisServer

FUZZ_AGENT = "fuzzer"
OTHER_AGENT = "other"
CUSTOMER = "fuzz-customer"


async def ok(server: ChannelServer, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
    status, answer = await server.request(method, path, body, token)
    if status not in (200, 201):
        raise RuntimeError(f"seeding failed: {method} {path} answered {status} {answer}")
    return answer


async def seed(server: ChannelServer, fuzzer: str) -> dict[str, Any]:
    """Conversations with the bot, waiting, assigned to the fuzzer and to someone
    else; a canned response and a training example, so that generated requests
    also reach the code behind the 404s."""
    other = agent_token(OTHER_AGENT)
    conversations: dict[str, list[str]] = {"bot": [], "waiting": [], "mine": [], "others": []}
    for i in range(1, 4):
        await ok(server, "POST", "/webhook", {"sender": f"b{i}", "message": "hello"})
        conversations["bot"].append(f"b{i}")
        await server.hand_over(f"w{i}")
        conversations["waiting"].append(f"w{i}")
        for prefix, token, kind in (("a", fuzzer, "mine"), ("o", other, "others")):
            await server.hand_over(f"{prefix}{i}")
            await ok(server, "POST", f"/agent/conversations/{prefix}{i}/claim", token=token)
            conversations[kind].append(f"{prefix}{i}")
    # `c1` is the spec's example id: the examples phase finds it assigned to the fuzzer.
    await server.hand_over("c1")
    await ok(server, "POST", "/agent/conversations/c1/claim", token=fuzzer)
    customer_token = await server.hand_over(CUSTOMER)
    canned = await ok(
        server, "POST", "/agent/canned-responses", {"shortcut": "hello", "text": "Hi {customer_name}!"}, fuzzer
    )
    example = await ok(
        server,
        "POST",
        "/agent/conversations/b1/training-examples",
        {"text": "where is my parcel", "intent": "order_status"},
        fuzzer,
    )
    return {
        "conversations": conversations,
        "conversation_ids": sorted({"c1", CUSTOMER, *(i for ids in conversations.values() for i in ids)}),
        "canned_response_ids": [canned["canned_response"]["id"]],
        "example_ids": [example["example"]["id"]],
        "customer": CUSTOMER,
        "customer_token": customer_token,
    }


async def main(ready_file: Path) -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    redis = RedisServer()
    redis.start()
    server = ChannelServer(redis.url, agent_requests_per_s=0)
    try:
        await server.start()
        fuzzer = agent_token(FUZZ_AGENT, "admin")
        seeded = await seed(server, fuzzer)
        ready = {"base_url": server.base, "agent_token": fuzzer, "agent_rate_limit": "off", **seeded}
        partial = ready_file.with_suffix(".partial")
        partial.write_text(json.dumps(ready, indent=2))
        partial.replace(ready_file)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        try:
            await server.stop()
        finally:
            redis.close()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m tests.fuzz_server READY.json")
    asyncio.run(main(Path(sys.argv[1])))
