"""Rasa's Redis tracker store against the handoff's (`channels/handoff/tracker_store.py`):
one Rasa agent in a process of its own, the model of the stack, the same conversations
(sessions of five questions, as on the bot path) taking turns between the stores, with
and without the channel's stamp in the messages' metadata (and the channel's check of
the action server's answers installed, as in Rasa's process). CPU per message is the
process's own clock around `Agent.handle_message`; no HTTP, no other load.

    .venv/bin/python -m bench.trackerstore SESSIONS   # with the stack's environment; prints JSON
"""

from __future__ import annotations

import asyncio
import json
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

from bench.botpath import MESSAGES
from bench.system import ROOT, BenchStack

STAMP = {"handoff": {"agents_online": 0}}
# (what is measured, the store's class, whether the messages carry the stamp, whether the
# action server's answers are checked as Rasa checks them: its schema checked on every call)
CASES = (
    ("Rasa's `RedisTrackerStore`, stamped messages", "rasa", True, False),
    ("`MergingRedisTrackerStore`, stamped messages", "ours", True, False),
    ("`MergingRedisTrackerStore`, no metadata", "ours", False, False),
    ("`MergingRedisTrackerStore`, stamped, Rasa's own check of the answers", "ours", True, True),
)


@dataclass
class TrackerStoreResult:
    sessions: int
    per_session: int
    rows: list[tuple[str, float, float, float]]  # what, Rasa CPU ms per message, p50 ms, CPU ms per first message

    def cpu(self, index: int) -> float:
        return self.rows[index][1]


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run(sessions: int, per_session: int = 5) -> dict[str, Any]:
    """In the measuring process: load the model, take turns, return the figures."""
    from rasa.core.actions.action import RemoteAction
    from rasa.core.agent import load_agent
    from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
    from rasa.core.tracker_store import AwaitableTrackerStore, RedisTrackerStore
    from rasa.core.utils import AvailableEndpoints

    from channels.handoff import action_validation
    from channels.handoff.tracker_store import MergingRedisTrackerStore
    from tests.stack import model_path

    rasa_check = RemoteAction._validate_action_result
    action_validation.install()  # as the handoff channel does in Rasa's process
    checks = {False: action_validation.validate_action_result, True: rasa_check}

    endpoints = AvailableEndpoints.read_endpoints(str(ROOT / "endpoints.yml"))
    agent = await load_agent(model_path=str(model_path()), endpoints=endpoints)
    store_config = endpoints.tracker_store
    if store_config is None:
        raise RuntimeError("endpoints.yml names no tracker store")
    host, port = str(store_config.url), int(store_config.kwargs["port"])
    stores = {
        name: AwaitableTrackerStore(cls(agent.domain, host=host, port=port, key_prefix=f"bench-{name}:"))
        for name, cls in (("rasa", RedisTrackerStore), ("ours", MergingRedisTrackerStore))
    }
    used = [0.0] * len(CASES)
    first_used = [0.0] * len(CASES)  # a session's first message: the action server's action_session_start
    latencies: list[list[float]] = [[] for _ in CASES]
    warm_up = 2
    for session in range(sessions + warm_up):
        order = list(enumerate(CASES)) if session % 2 == 0 else list(enumerate(CASES))[::-1]
        for index, (_, store, stamped, rasa_checks) in order:
            agent.tracker_store = agent.processor.tracker_store = stores[store]  # type: ignore[union-attr]
            RemoteAction._validate_action_result = checks[rasa_checks]  # type: ignore[method-assign]
            for turn in range(per_session):
                message = UserMessage(
                    MESSAGES[(session + turn) % len(MESSAGES)],
                    CollectingOutputChannel(),
                    f"store-{index}-{session}",
                    input_channel="rest",
                    metadata=STAMP if stamped else None,
                )
                began_cpu, began = cpu_seconds(), time.perf_counter()
                await agent.handle_message(message)
                if session >= warm_up:
                    used[index] += cpu_seconds() - began_cpu
                    first_used[index] += cpu_seconds() - began_cpu if turn == 0 else 0.0
                    latencies[index].append(time.perf_counter() - began)
    count = sessions * per_session
    return {
        "sessions": sessions,
        "per_session": per_session,
        "rows": [
            (what, used[i] / count * 1000, statistics.median(latencies[i]) * 1000, first_used[i] / sessions * 1000)
            for i, (what, *_) in enumerate(CASES)
        ],
    }


async def measure(stack: BenchStack, sessions: int = 80, log: Any = print) -> TrackerStoreResult:
    """Runs `run` in a process of its own, with the stack's Redis and action server."""
    log(f"  {len(CASES)} cases x {sessions} sessions of 5 messages, taking turns, in one Rasa agent")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.trackerstore",
        str(sessions),
        cwd=ROOT,
        env=stack.environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    out, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"bench.trackerstore exited with {process.returncode}")
    figures = json.loads(out.decode().strip().splitlines()[-1])
    rows = [(str(what), float(cpu), float(p50), float(first)) for what, cpu, p50, first in figures["rows"]]
    return TrackerStoreResult(int(figures["sessions"]), int(figures["per_session"]), rows)


if __name__ == "__main__":
    print(json.dumps(asyncio.run(run(int(sys.argv[1])))))
