"""Target 3: claims per second through the HTTP API with 100 agents racing
(three agents click each conversation at once; one wins, two get 409), beside a
bare Sanic JSON endpoint in the same run, rounds interleaved."""

from __future__ import annotations

import asyncio
import itertools
import json
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from redis.asyncio import Redis

from bench.checks import Check
from bench.prepare import make_waiting
from bench.procs import CpuMeter
from bench.rawhttp import HttpConnection
from bench.redisstats import CommandMeter
from bench.system import ROOT, BenchStack
from channels.handoff.store import HandoffStore
from tests.channel_server import agent_token
from tests.redis_server import free_port
from tests.settle import settled
from tests.stack import RasaProcess


@dataclass
class LoadRun:
    """Requests answered by one server over its rounds."""

    name: str
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    seconds: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)
    commands: Counter[str] = field(default_factory=Counter)

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else float("nan")

    @property
    def cores_busy(self) -> float:
        """CPU seconds of every process metered (the machine's other work included) per second of rounds."""
        return sum(self.cpu.values()) / self.seconds if self.seconds else float("nan")

    @property
    def decided(self) -> int:
        """Requests answered 200 or 409: a claim won or lost, not refused by the rate limit."""
        return self.statuses[200] + self.statuses[409]

    @property
    def decided_per_second(self) -> float:
        return self.decided / self.seconds if self.seconds else float("nan")

    def cpu_us_per_request(self, process: str) -> float:
        """CPU of `process` (and of its siblings "`process` 2", ...) per request."""
        used = sum(cpu for name, cpu in self.cpu.items() if name == process or name.startswith(f"{process} "))
        return used / max(self.requests, 1) * 1e6


@dataclass
class ClaimsResult:
    agents: int
    race: int
    claims: LoadRun
    bare: LoadRun
    wins: int
    double_wins: int
    wrong_refusals: int
    prepared: int
    processes: int = 1  # Rasa processes sharing the agents (and bare Sanic processes beside them)
    in_rasa: LoadRun | None = None  # the bare answer from a route inside the Rasa process(es)

    @property
    def layout(self) -> str:
        return f"{self.processes} process{'es' if self.processes > 1 else ''}"

    @property
    def claim_cpu_us(self) -> float:
        """Server CPU per claim request: the Rasa process(es)."""
        return self.claims.cpu_us_per_request("rasa")

    @property
    def bare_cpu_us(self) -> float:
        """Server CPU per request of the bare endpoint: its own Sanic process(es)."""
        return self.bare.cpu_us_per_request("bare Sanic")

    @property
    def ratio(self) -> float:
        return self.claims.decided_per_second / self.bare.decided_per_second

    @property
    def wins_per_second(self) -> float:
        return self.wins / self.claims.seconds if self.claims.seconds else float("nan")

    def checks(self) -> list[Check]:
        label = f"claims per second (100 agents racing, {self.layout})"
        return [Check("3", label, self.claims.decided_per_second, 3000, "/s", True)]


class BareServer:
    """`bench.bare_sanic` in its own process."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.bare_sanic", str(self.port)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/", timeout=1):
                    return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("the bare Sanic server did not start") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


Outcomes = dict[str, list[tuple[int, str | None]]] | None  # each conversation's answers: status, winner


def claim_path(conversation_id: str) -> str:
    return f"/webhooks/handoff/agent/conversations/{conversation_id}/claim"


def raced(ids: list[str], race: int) -> Iterator[str]:
    for conversation_id in ids:
        for _ in range(race):
            yield conversation_id


async def run_round(
    connections: list[HttpConnection],
    tokens: list[str],
    ids: Iterator[str],
    path_of: Callable[[str], str],
    duration_s: float,
    run: LoadRun,
    outcomes: Outcomes,
) -> None:
    """Every agent claims the next id until the time is up or the ids run out."""
    deadline = time.perf_counter() + duration_s

    async def agent(index: int) -> None:
        connection, token = connections[index], tokens[index]
        headers = {"Authorization": f"Bearer {token}"}
        for conversation_id in ids:
            start = time.perf_counter()
            status, body = await connection.request("POST", path_of(conversation_id), headers)
            run.latencies.append(time.perf_counter() - start)
            run.statuses[status] += 1
            if outcomes is not None:
                winner = json.loads(body).get("agent") if status in (200, 409) else None
                outcomes.setdefault(conversation_id, []).append((status, winner))
            if time.perf_counter() > deadline:
                return

    began = time.perf_counter()
    await asyncio.gather(*(agent(i) for i in range(len(connections))))
    run.seconds += time.perf_counter() - began


async def measure(
    stack: BenchStack,
    agents: int = 100,
    race: int = 3,
    rounds: int = 3,
    duration_s: float = 3.0,
    prepared: int = 60_000,  # enough for 20,000 requests a second through every round
    log: Callable[[str], None] = print,
    servers: list[RasaProcess] | None = None,
    prefix: str = "race",
) -> ClaimsResult:
    """`servers`: the Rasa processes the agents are spread over (the stack's first
    alone by default); as many bare Sanic processes share the baseline's load."""
    servers = servers or [stack.server]
    redis = Redis.from_url(stack.redis.url)
    store = HandoffStore(redis)
    ids = [f"{prefix}-{i:05d}" for i in range(prepared)]
    log(f"  preparing {prepared:,} waiting conversations through the store")
    began = time.perf_counter()
    await make_waiting(store, ids)
    log(f"  prepared in {time.perf_counter() - began:.1f} s")
    await settled(redis, timeout_s=120)  # the server has counted the new events into its analytics
    bares = [BareServer() for _ in servers]
    claims, baseline, in_rasa = LoadRun("claims"), LoadRun("bare Sanic"), LoadRun("bare route in Rasa")
    outcomes: dict[str, list[tuple[int, str | None]]] = {}
    tokens = [agent_token(f"racer{i:03d}") for i in range(agents)]
    try:
        handoff_conns = [HttpConnection("127.0.0.1", servers[i % len(servers)].port) for i in range(agents)]
        bare_conns = [HttpConnection("127.0.0.1", bares[i % len(bares)].port) for i in range(agents)]
        in_rasa_conns = [HttpConnection("127.0.0.1", servers[i % len(servers)].port) for i in range(agents)]
        remaining = raced(ids, race)
        rasa_pids = {("rasa" if i == 0 else f"rasa {i + 1}"): s.process.pid for i, s in enumerate(servers)}
        bare_pids = {("bare Sanic" if i == 0 else f"bare Sanic {i + 1}"): b.process.pid for i, b in enumerate(bares)}
        others = {name: pid for name, pid in stack.pids().items() if pid not in rasa_pids.values()}
        meter = CpuMeter({**others, **rasa_pids, **bare_pids})
        commands = CommandMeter(redis)
        bare_ids = (f"c{n}" for n in itertools.count())  # the bare answers claim nothing: any id will do
        # Each kind of round: its connections, health path, ids, path of a claim, run and outcomes kept.
        kinds: dict[str, tuple[list[HttpConnection], str, Iterator[str], Callable[[str], str], LoadRun, Outcomes]] = {
            "bare": (bare_conns, "/", bare_ids, "/claim/".__add__, baseline, None),
            "claims": (handoff_conns, "/webhooks/handoff/", remaining, claim_path, claims, outcomes),
            "in Rasa": (in_rasa_conns, "/webhooks/bare/", bare_ids, "/webhooks/bare/claim/".__add__, in_rasa, None),
        }
        order = list(kinds)
        for index in range(rounds):
            for name in order[index % len(order) :] + order[: index % len(order)]:
                conns, health, round_ids, path_of, run, kept = kinds[name]
                # Open (and warm) every connection before the clock starts.
                await asyncio.gather(*(c.request("GET", health) for c in conns))
                await commands.start()
                meter.start()
                await run_round(conns, tokens, round_ids, path_of, duration_s, run, kept)
                for process, used in meter.stop().items():
                    run.cpu[process] = run.cpu.get(process, 0.0) + used
                run.commands.update(await commands.stop())
            log(
                f"  round {index + 1}/{rounds}: claims {claims.per_second:,.0f}/s so far,"
                f" bare Sanic {baseline.per_second:,.0f}/s so far, the bare route in Rasa {in_rasa.per_second:,.0f}/s"
            )
        for conn in handoff_conns + bare_conns + in_rasa_conns:
            conn.close()
    finally:
        for bare in bares:
            bare.stop()
        await redis.close()
    wins = double = wrong = 0
    for seen in outcomes.values():
        winners = [agent for status, agent in seen if status == 200]
        wins += len(winners) == 1
        double += len(winners) > 1
        wrong += sum(1 for status, agent in seen if status == 409 and winners and agent != winners[0])
    return ClaimsResult(agents, race, claims, baseline, wins, double, wrong, prepared, len(servers), in_rasa)
