"""Target 2: the human path. 200 conversations assigned at once (20 agents with
10 each), every agent and customer on their live WebSocket; each conversation
alternates a customer message and an agent reply at a human pace. Measured from
the HTTP request's start to the frame's arrival on the other side's socket."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench.checks import Check
from bench.procs import CpuMeter
from bench.rawhttp import HttpConnection
from bench.rawws import OnFrame, RawSocket
from bench.stats import Summary
from bench.system import BenchStack
from tests.api_client import ApiClient
from tests.channel_server import agent_token
from tests.stack import RasaProcess

GIBBERISH = "xkcd qwfp zzvb blorf"

Key = tuple[str, ...]


class Arrivals:
    """Futures for frames we expect, resolved with their arrival time."""

    def __init__(self) -> None:
        self.waiting: dict[Key, asyncio.Future[float]] = {}
        self.frames = 0

    def expect(self, key: Key) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiting[key] = future
        return future

    def arrived(self, key: Key, at: float) -> None:
        future = self.waiting.pop(key, None)
        if future is not None and not future.done():
            future.set_result(at)

    def reader(self, key_of: Callable[[dict[str, Any]], Key | None], marker: str) -> OnFrame:
        """Times the frames of one socket someone waits for (only frames holding
        `marker` are parsed: the client's time is not the server's)."""

        def on_frame(raw: str, at: float) -> None:
            self.frames += 1
            if marker in raw:
                key = key_of(json.loads(raw))
                if key is not None:
                    self.arrived(key, at)

        return on_frame


def agent_key(agent_id: str) -> Callable[[dict[str, Any]], Key | None]:
    def key_of(frame: dict[str, Any]) -> Key | None:
        if frame.get("type") == "event" and frame.get("event") == "message" and frame["data"].get("from") == "customer":
            return ("agent", agent_id, str(frame["data"]["text"]))
        return None

    return key_of


def customer_key(sender: str) -> Callable[[dict[str, Any]], Key | None]:
    def key_of(frame: dict[str, Any]) -> Key | None:
        message = frame.get("message") if frame.get("type") == "message" else None
        if message and message.get("from") == "agent":
            return ("customer", sender, str(message["text"]))
        return None

    return key_of


@dataclass
class HumanPathResult:
    conversations: int
    agents: int
    exchanges: int
    gap_s: float
    seconds: float
    to_agent: list[float] = field(default_factory=list)
    to_customer: list[float] = field(default_factory=list)
    to_every_agent: list[float] = field(default_factory=list)  # until the last agent socket has it
    customer_http: list[float] = field(default_factory=list)
    agent_http: list[float] = field(default_factory=list)
    lost: int = 0
    frames: int = 0
    cpu: dict[str, float] = field(default_factory=dict)
    setup_s: float = 0.0
    profile: dict[str, Any] | None = None
    profile_s: float = 0.0

    @property
    def messages(self) -> int:
        return len(self.to_agent) + len(self.to_customer) + self.lost

    def checks(self) -> list[Check]:
        agent, customer = Summary.of(self.to_agent), Summary.of(self.to_customer)
        return [
            Check("2", "customer message → agent's WebSocket, p50 (desk process)", agent.p50, 5, "ms"),
            Check("2", "customer message → agent's WebSocket, p99 (desk process)", agent.p99, 25, "ms"),
            Check("2", "agent message → customer's WebSocket, p50 (desk process)", customer.p50, 5, "ms"),
            Check("2", "agent message → customer's WebSocket, p99 (desk process)", customer.p99, 25, "ms"),
        ]


async def hand_over(api: ApiClient, senders: list[str], concurrency: int = 20) -> dict[str, str]:
    """Each customer's gibberish makes the bot hand over; returns their tokens."""
    tokens: dict[str, str] = {}
    gate = asyncio.Semaphore(concurrency)

    async def one(sender: str) -> None:
        async with gate:
            status, answer = await api.say(sender, GIBBERISH)
        if status != 200 or answer.get("state") != "waiting":
            raise RuntimeError(f"{sender} was not handed over: {status} {answer!r}")
        tokens[sender] = answer["customer_token"]

    await asyncio.gather(*(one(s) for s in senders))
    return tokens


async def measure(
    stack: BenchStack,
    conversations: int = 200,
    agents: int = 20,
    exchanges: int = 3,
    gap_s: float = 10.0,
    log: Callable[[str], None] = print,
    prefix: str = "human",
    profile_exchanges: int = 0,
    server: RasaProcess | None = None,
) -> HumanPathResult:
    """`gap_s`: mean pause of a conversation between two messages (either side).
    `server`: the process customers and agents talk to (the stack's first by default)."""
    random.seed(8)
    server = server or stack.server
    senders = [f"{prefix}-{i:03d}" for i in range(conversations)]
    agent_ids = [f"{prefix}-agent{i:02d}" for i in range(agents)]  # each run its own agents
    tokens = {a: agent_token(a) for a in agent_ids}
    owner = {s: agent_ids[i % agents] for i, s in enumerate(senders)}
    result = HumanPathResult(conversations, agents, exchanges, gap_s, 0.0)
    arrivals = Arrivals()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=conversations + 50)) as http:
        api = ApiClient(server.handoff, http)
        began = time.perf_counter()
        log(f"  handing over {conversations} customers through the bot")
        customer_tokens = await hand_over(api, senders)

        async def claim_all(agent: str) -> None:
            for sender in (s for s in senders if owner[s] == agent):
                status, answer = await api.request("POST", f"/agent/conversations/{sender}/claim", token=tokens[agent])
                if status != 200:
                    raise RuntimeError(f"{agent} could not claim {sender}: {status} {answer!r}")

        await asyncio.gather(*(claim_all(a) for a in agent_ids))
        log(f"  {conversations} conversations assigned to {agents} agents; opening {agents + conversations} sockets")
        port = server.port
        prefix_path = "/webhooks/handoff"
        sockets: list[RawSocket] = []
        for agent in agent_ids:
            socket = await RawSocket.open("127.0.0.1", port, f"{prefix_path}/agent/ws", tokens[agent])
            socket.listen(arrivals.reader(agent_key(agent), '"from": "customer"'))
            sockets.append(socket)
        for sender in senders:
            socket = await RawSocket.open("127.0.0.1", port, f"{prefix_path}/customer/ws", customer_tokens[sender])
            socket.listen(arrivals.reader(customer_key(sender), '"from": "agent"'))
            sockets.append(socket)
        result.setup_s = time.perf_counter() - began
        await asyncio.sleep(1.0)

        async def pause() -> None:
            await asyncio.sleep(random.uniform(0.5 * gap_s, 1.5 * gap_s))

        async def timed(
            key: Key,
            send: Any,
            http_times: list[float],
            into: list[float],
            also: list[Key] | None = None,
            into_last: list[float] | None = None,
        ) -> None:
            """Times `key`'s frame (and, with `also`, until the last of those frames too)."""
            arrival = arrivals.expect(key)
            others = [arrivals.expect(k) for k in also or [] if k != key]
            start = time.perf_counter()
            status, answer = await send
            http_times.append(time.perf_counter() - start)
            if status not in (200, 201):
                raise RuntimeError(f"message refused: {status} {answer!r}")
            try:
                into.append(await asyncio.wait_for(arrival, 10) - start)
            except asyncio.TimeoutError:
                result.lost += 1
                return
            if into_last is not None:
                try:
                    last = max(await asyncio.wait_for(asyncio.gather(*others), 10), default=start)
                    into_last.append(max(last, start + into[-1]) - start)
                except asyncio.TimeoutError:
                    result.lost += 1

        # The messages go out on lean keep-alive connections (bench/rawhttp.py), one
        # per conversation and side: aiohttp's client costs a millisecond a request here.
        customer_conns = {s: HttpConnection("127.0.0.1", port) for s in senders}
        agent_conns = {s: HttpConnection("127.0.0.1", port) for s in senders}

        async def conversation(sender: str, turns: range, record: HumanPathResult) -> None:
            agent = owner[sender]
            await asyncio.sleep(random.uniform(0, 2 * gap_s))
            for turn in turns:
                text = f"Customer {sender} asks question {turn}: is my parcel on its way?"
                body = {"sender": sender, "message": text}
                send = customer_conns[sender].json("POST", f"{prefix_path}/webhook", customer_tokens[sender], body)
                everyone: list[Key] = [("agent", a, text) for a in agent_ids]
                await timed(
                    ("agent", agent, text), send, record.customer_http, record.to_agent, everyone, record.to_every_agent
                )
                await pause()
                reply = f"Agent {agent} answers {sender} ({turn}): it left the warehouse today."
                path = f"{prefix_path}/agent/conversations/{sender}/messages"
                send = agent_conns[sender].json("POST", path, tokens[agent], {"text": reply})
                await timed(("customer", sender, reply), send, record.agent_http, record.to_customer)
                await pause()

        log(
            f"  {conversations} conversations x {exchanges} exchanges, one message per conversation"
            f" every ~{gap_s:.0f} s ({conversations / gap_s:.0f} messages/s in all)"
        )
        meter = CpuMeter(stack.pids())
        meter.start()
        frames_before = arrivals.frames
        run_start = time.perf_counter()
        await asyncio.gather(*(conversation(s, range(exchanges), result) for s in senders))
        result.seconds = time.perf_counter() - run_start
        result.cpu = meter.stop()
        result.frames = arrivals.frames - frames_before
        if profile_exchanges:
            log(f"  {profile_exchanges} more exchange(s) with the sampler on (not counted above)")
            unused = HumanPathResult(conversations, agents, profile_exchanges, gap_s, 0.0)
            stack.start_profile()
            profile_start = time.perf_counter()
            turns = range(exchanges, exchanges + profile_exchanges)
            await asyncio.gather(*(conversation(s, turns, unused) for s in senders))
            result.profile = stack.stop_profile()
            result.profile_s = time.perf_counter() - profile_start
        for connection in [*customer_conns.values(), *agent_conns.values()]:
            connection.close()
        await asyncio.gather(*(socket.close() for socket in sockets))
    return result
