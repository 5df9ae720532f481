"""What the server's main thread spends its time on, from the sampler's stacks."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from redis.asyncio import Redis

from bench import botpath, claims
from bench.prepare import make_waiting
from bench.rawhttp import HttpConnection
from bench.system import BenchStack
from channels.handoff.store import HandoffStore
from tests.channel_server import agent_token

# Where a sample's innermost frame lives -> what it is doing (first match wins).
LEAF_KINDS: Sequence[tuple[str, str]] = (
    ("tensorflow/", "TensorFlow / Keras (model inference)"),
    ("keras/", "TensorFlow / Keras (model inference)"),
    ("numpy/", "numpy / scipy / sklearn"),
    ("scipy/", "numpy / scipy / sklearn"),
    ("sklearn/", "numpy / scipy / sklearn"),
    ("rasa/", "Rasa's Python code"),
    ("rasa_sdk/", "Rasa's Python code"),
    ("redis/", "redis-py (client side of Redis calls)"),
    ("channels/handoff/", "the handoff channel's own code"),
    ("sanic/", "Sanic, HTTP and WebSocket serving"),
    ("sanic_routing/", "Sanic, HTTP and WebSocket serving"),
    ("sanic_cors/", "Sanic, HTTP and WebSocket serving"),
    ("websockets/", "Sanic, HTTP and WebSocket serving"),
    ("httptools", "Sanic, HTTP and WebSocket serving"),
    ("aiohttp/", "aiohttp (Rasa's calls to the action server)"),
    ("jwt/", "PyJWT (agent tokens)"),
    ("json/", "JSON encoding"),
    ("ujson", "JSON encoding"),
    ("asyncio/", "asyncio machinery"),
    ("logging/", "logging"),
)

# Sanic recompiles these methods at start (its "touchup", `__touchup__`), naming each
# one's code after the method itself: a leaf "name:name" of these is Sanic's.
SANIC_RECOMPILED = frozenset(
    {
        *("handle_request", "handle_exception", "_run_response_middleware", "_run_request_middleware"),  # Sanic
        *("http1_request_header", "http1_response_header", "read"),  # Http
        *("send", "connection_task"),  # HttpProtocol
    }
)


def leaf_kind(leaf: str) -> str:
    """What the innermost frame `file:function` is doing (LEAF_KINDS, Sanic's recompiled methods)."""
    file, _, function = leaf.rpartition(":")
    if file == function and file in SANIC_RECOMPILED:
        return "Sanic, HTTP and WebSocket serving"
    return next((label for marker, label in LEAF_KINDS if marker in leaf), "other")


# Frames that mark a stage; a sample counts for every stage on its stack.
STAGES: Sequence[tuple[str, str]] = (
    ("rasa/core/processor.py:parse_message", "Rasa NLU (parse_message)"),
    ("rasa/core/processor.py:_predict_next_with_tracker", "Rasa dialogue policies (predict next action)"),
    ("rasa/core/tracker_store.py:", "Rasa tracker store (load / save trackers in Redis)"),
    ("rasa/core/lock_store.py:", "Rasa lock store"),
    ("rasa/core/actions/action.py:run", "Rasa actions (incl. calls to the action server)"),
    ("rasa/core/channels/rest.py:", "Rasa REST channel's handler"),
    ("channels/handoff/", "handoff channel (incl. the Rasa work it calls)"),
    ("redis/", "redis-py (any Redis call)"),
    ("channels/handoff/recorder.py:", "recording human-part messages in Rasa's tracker"),
    ("channels/handoff/sockets.py:", "WebSocket pushes"),
    ("channels/handoff/feed.py:", "live feed reader"),
    ("channels/handoff/analytics.py:", "analytics (counts every feed event into Redis)"),
    ("channels/handoff/service.py:sweep", "the desk sweep (periodic)"),
    ("jwt/", "PyJWT (agent tokens)"),
)

# Inside the Rasa handling of a message, channel frames are not the channel's own cost.
RASA_HANDLING = ("rasa/core/agent.py:handle_message", "rasa/core/processor.py:handle_message")


def is_idle(stack: Sequence[str]) -> bool:
    """The loop waiting for I/O: nothing above the server's run loop."""
    leaf = stack[-1] if stack else ""
    return leaf.startswith(("sanic/server/runners.py:", "sanic/app.py:run", "selectors.py:", "sanic/server/"))


@dataclass
class ProfileReport:
    name: str
    seconds: float
    samples: int
    idle: int
    kinds: list[tuple[str, float]] = field(default_factory=list)
    stages: list[tuple[str, float]] = field(default_factory=list)
    channel_own: float = 0.0
    top: list[tuple[str, float]] = field(default_factory=list)
    operations: int = 0
    operation: str = ""
    collections: dict[str, tuple[int, float, float]] = field(default_factory=dict)

    def stage(self, label_start: str) -> float:
        """The busy share of the first stage whose label starts with `label_start`."""
        return next((share for label, share in self.stages if label.startswith(label_start)), 0.0)

    def kind(self, label_start: str) -> float:
        return next((share for label, share in self.kinds if label.startswith(label_start)), 0.0)

    @property
    def busy_share(self) -> float:
        return (self.samples - self.idle) / self.samples if self.samples else float("nan")


def analyse(name: str, data: dict[str, Any], seconds: float) -> ProfileReport:
    counts: list[tuple[tuple[str, ...], int]] = [(tuple(r["stack"]), int(r["count"])) for r in data["samples"]]
    total = sum(c for _, c in counts)
    idle = sum(c for s, c in counts if is_idle(s))
    busy = max(total - idle, 1)
    kinds: Counter[str] = Counter()
    stages: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    own = 0
    for stack, count in counts:
        if is_idle(stack):
            continue
        leaf = stack[-1] if stack else "?"
        leaves[leaf] += count
        kinds[leaf_kind(leaf)] += count
        joined = "\n".join(stack)
        for marker, label in STAGES:
            if marker in joined:
                stages[label] += count
        if "channels/handoff/" in joined and not any(m in joined for m in RASA_HANDLING):
            own += count
    return ProfileReport(
        name=name,
        seconds=seconds,
        samples=total,
        idle=idle,
        kinds=[(k, c / busy) for k, c in kinds.most_common()],
        stages=[(k, c / busy) for k, c in stages.most_common()],
        channel_own=own / busy,
        top=[(k, c / busy) for k, c in leaves.most_common(12)],
        collections={
            g: (int(v["count"]), float(v["total_s"]), float(v["longest_s"])) for g, v in data.get("gc", {}).items()
        },
    )


async def profile_bot(stack: BenchStack, channel: str, seconds: float, customers: int = 20) -> ProfileReport:
    async with aiohttp.ClientSession() as http:
        channels = botpath.Channels(stack, http)
        send = channels.via_handoff if channel == "handoff" else channels.via_rest
        await botpath.run_round(send, f"prof-warm-{channel}", customers, 2, None)
        stack.start_profile()
        began = time.perf_counter()
        done = 0
        while time.perf_counter() - began < seconds:
            count, _ = await botpath.run_round(send, f"prof-{channel}-{done}", customers, 5, None)
            done += count
        elapsed = time.perf_counter() - began
        report = analyse(f"bot path, {channel} channel", stack.stop_profile(), elapsed)
    report.operations, report.operation = done, "messages"
    return report


async def profile_claims(stack: BenchStack, seconds: float, agents: int = 100) -> ProfileReport:
    redis = Redis.from_url(stack.redis.url)
    ids = [f"prof-claim-{i:05d}" for i in range(int(seconds * 2500))]
    await make_waiting(HandoffStore(redis), ids)
    await redis.close()
    await asyncio.sleep(2.0)
    tokens = [agent_token(f"profiler{i:03d}") for i in range(agents)]
    conns = [HttpConnection("127.0.0.1", stack.server.port) for _ in range(agents)]
    await asyncio.gather(*(c.request("GET", "/webhooks/handoff/") for c in conns))
    run = claims.LoadRun("claims")
    stack.start_profile()
    began = time.perf_counter()
    await claims.run_round(
        conns,
        tokens,
        claims.raced(ids, 3),
        lambda c: f"/webhooks/handoff/agent/conversations/{c}/claim",
        seconds,
        run,
        None,
    )
    elapsed = time.perf_counter() - began
    report = analyse("claims, 100 agents racing", stack.stop_profile(), elapsed)
    for conn in conns:
        conn.close()
    report.operations, report.operation = run.requests, "claim requests"
    return report


async def measure(stack: BenchStack, seconds: float = 12.0, log: Callable[[str], None] = print) -> list[ProfileReport]:
    reports = []
    for channel in ("handoff", "REST"):
        log(f"  sampling the Rasa server: bot path through the {channel} channel, {seconds:.0f} s")
        reports.append(await profile_bot(stack, channel, seconds))
    log(f"  sampling the Rasa server: claims, {seconds / 2:.0f} s")
    reports.append(await profile_claims(stack, seconds / 2))
    return reports
