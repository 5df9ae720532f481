"""Nothing lost, nobody let in: faults injected into the real system (two Rasa
servers, the action server, Redis with its AOF).

Figures go to tests/artifacts/reliability.json; UPDATE_DOCS=1 also rewrites
docs/reliability.md from them."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from redis.asyncio import Redis
from websockets.exceptions import ConnectionClosed

from channels.handoff.keys import KeySpace
from channels.handoff.store import HandoffStore
from tests.api_client import ApiClient, LiveSocket
from tests.channel_server import agent_token
from tests.fuzz_report import bad_input_section
from tests.reliability_figures import record_figures, recorded
from tests.stack import ROOT, Stack

pytestmark = pytest.mark.e2e
FIGURES: dict[str, Any] = {}
PACE_S = 0.15  # each customer and agent stays under the per-caller request limit


def record(name: str, figures: dict[str, Any]) -> None:
    FIGURES.update(recorded())  # what the other suites recorded (authorization, limits)
    FIGURES[name] = figures
    record_figures(name, figures)
    if os.environ.get("UPDATE_DOCS") == "1":
        write_report()


def write_report() -> None:
    race, redis, rasa = FIGURES.get("race", {}), FIGURES.get("redis_kill", {}), FIGURES.get("rasa_kill", {})
    lines = [
        "# Reliability",
        "",
        "Measured by `tests/test_reliability.py` (part of `make test`) against the real system: two",
        "`rasa run` processes, the action server and Redis (AOF, `appendfsync everysec`). Regenerate",
        "with `UPDATE_DOCS=1 .venv/bin/pytest tests/test_reliability.py`.",
        "",
        "## No double assignment",
        f"{race.get('agents')} agents, each on its own connection, raced over {race.get('conversations')} waiting",
        f"conversations through both servers: {race.get('claims')} claims in {race.get('seconds')} s.",
        f"Every conversation ended with exactly one agent ({race.get('winners')} winners); "
        f"all {race.get('refused')} other claims were refused with 409 naming the winner.",
        "",
        "## Redis killed under load",
        f"`kill -9` of Redis during a load of customer and agent messages ({redis.get('acknowledged')} messages",
        f"answered 2xx, {redis.get('refused')} refused with 503 while it was down); restarted from its AOF.",
        f"Every acknowledged message was still there, in order ({redis.get('missing')} missing). Service was back",
        f"{redis.get('resume_s')} s after Redis was (the bound is 2 s); the Lua scripts reloaded by themselves.",
        "",
        "## Rasa killed during handoffs",
        f"One Rasa server was killed (SIGKILL) with {rasa.get('waiting')} customers waiting and "
        f"{rasa.get('assigned')} assigned.",
        "Agents kept chatting through the other server; after the restart the Waiting list and the assignments",
        "were intact and the bot stayed silent for the customers still with humans.",
        "",
        "## No silent un-pause",
        'During a handoff, `/restart`, `/greet`, `/order_status{"x": 1}` and a session expiry left the bot',
        "silent and the agent in charge; the tracker stayed paused across the new session.",
        "",
        *reconnect_section(FIGURES.get("reconnects", {})),
        *authorization_section(FIGURES.get("authz", {})),
        *limits_section(FIGURES.get("limits", {})),
        # Last: without fresh figures of scripts/fuzz.sh it keeps the doc's text from its heading on.
        *bad_input_section(),
    ]
    (ROOT / "docs" / "reliability.md").write_text("\n".join(lines))


def reconnect_section(figures: dict[str, Any]) -> list[str]:
    f = figures.get
    return [
        "## Reconnects",
        f"An agent's console and a customer's chat exchanged {f('messages_each_way')} messages each way through two",
        "servers while their WebSockets were cut without a closing handshake",
        f"({f('agent_drops')} times the agent's, {f('customer_drops')} times the customer's, twice both at once);",
        f"each reconnected from the last id it had seen. Missed: {f('missed')}; seen twice: {f('repeated')};",
        "every message arrived in the order it was sent.",
        "",
    ]


def authorization_section(figures: dict[str, Any]) -> list[str]:
    f = figures.get
    return [
        "## Authorization",
        f"`tests/test_authz.py`: every agent route ({f('routes')}) with each of {f('bad_credentials')} bad",
        "credentials (none, malformed header, bad signature, expired, unknown role, ...):",
        f"{f('refusals')} requests, all 401, and Redis unchanged. Every role-gated route ({f('role_gated')})",
        "refuses each lower role with 403 and changes nothing; every action on another agent's conversation is",
        "refused to agents; a customer token reads only its own conversation; no token is read from a URL or",
        "written to a log; tokens are compared in constant time (hmac.compare_digest).",
        "",
    ]


def limits_section(figures: dict[str, Any]) -> list[str]:
    f = figures.get
    return [
        "## Limits",
        f"`tests/test_limits.py` and `tests/test_channel.py`: bodies over {f('max_body_bytes')} bytes and texts",
        f"over {f('max_text_chars')} characters get 413; more than {f('customer_requests_per_s')} requests a second",
        f"per customer or {f('agent_requests_per_s')} per agent get 429 with Retry-After; a WebSocket frame over",
        f"{f('ws_max_frame_bytes')} bytes closes the socket with 1009; a socket that does not authenticate within",
        f"{f('auth_timeout_s')} s is closed, and one that stops answering pings is dropped.",
        "",
    ]


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def store(stack: Stack) -> AsyncIterator[HandoffStore]:
    redis = Redis.from_url(stack.redis.url)
    yield HandoffStore(redis)
    await redis.close()


async def queue(store: HandoffStore, ids: list[str]) -> None:
    for conversation_id in ids:
        await store.receive_customer_message(conversation_id, "xkcd qwfp zzvb")
        assert await store.start_waiting(conversation_id, "nlu_fallback")


async def test_no_double_assignment_across_two_servers(stack: Stack, store: HandoffStore) -> None:
    conversations = [f"race-{i}" for i in range(1000)]
    await queue(store, conversations)
    agents = [agent_token(f"racer-{i}") for i in range(200)]
    sessions = [aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) for _ in agents]
    plan: list[list[str]] = [[] for _ in agents]
    rng = random.Random(7)
    for conversation_id in conversations:
        for index in rng.sample(range(len(agents)), 4):
            plan[index].append(conversation_id)
    results: dict[str, list[tuple[int, Any, str]]] = {c: [] for c in conversations}

    async def race(index: int) -> None:
        api = ApiClient(stack.rasa[index % 2].handoff, sessions[index])
        for conversation_id in plan[index]:
            status, body = await api.request(
                "POST", f"/agent/conversations/{conversation_id}/claim", token=agents[index]
            )
            results[conversation_id].append((status, body, f"racer-{index}"))

    started = time.monotonic()
    try:
        await asyncio.gather(*(race(i) for i in range(len(agents))))
    finally:
        await asyncio.gather(*(s.close() for s in sessions))
    seconds = time.monotonic() - started
    refused = 0
    for conversation_id, attempts in results.items():
        assert len(attempts) == 4
        winners = [agent for status, _, agent in attempts if status == 200]
        assert len(winners) == 1, (conversation_id, attempts)
        for status, body, _ in attempts:
            if status != 200:
                assert (status, body["error"], body["agent"]) == (409, "already_assigned", winners[0])
                refused += 1
        assert (await store.require_conversation(conversation_id)).agent == winners[0]
    record("race", {"agents": len(agents), "conversations": len(conversations), "claims": 4 * len(conversations),
                    "seconds": round(seconds, 1), "winners": len(conversations), "refused": refused})  # fmt: skip


async def test_redis_killed_mid_load_loses_nothing(
    stack: Stack, store: HandoffStore, http: aiohttp.ClientSession
) -> None:
    apis = [ApiClient(rasa.handoff, http) for rasa in stack.rasa]
    customers: dict[str, str] = {}
    agents: dict[str, str] = {}
    for i in range(6):
        sender = f"durable-{i}"
        status, answer = await apis[0].say(sender, "xkcd qwfp zzvb blorf")
        assert status == 200 and answer["state"] == "waiting", answer
        customers[sender] = answer["customer_token"]
        agents[sender] = agent_token(f"keeper-{i}")
        assert (await apis[1].request("POST", f"/agent/conversations/{sender}/claim", token=agents[sender]))[0] == 200
    acknowledged: dict[str, list[str]] = {sender: [] for sender in customers}
    refused = 0
    stop = asyncio.Event()

    async def customer_load(sender: str, token: str) -> None:
        nonlocal refused
        number = 0
        while not stop.is_set():
            text = f"{sender} customer {number}"
            status, _ = await apis[number % 2].say(sender, text, token)
            if status == 200:
                acknowledged[sender].append(text)
            else:
                assert status == 503
                refused += 1
            number += 1
            await asyncio.sleep(PACE_S)

    async def agent_load(sender: str) -> None:
        nonlocal refused
        number = 0
        while not stop.is_set():
            text = f"{sender} agent {number}"
            status, _ = await apis[number % 2].request(
                "POST", f"/agent/conversations/{sender}/messages", {"text": text}, agents[sender]
            )
            if status == 201:
                acknowledged[sender].append(text)
            else:
                assert status == 503
                refused += 1
            number += 1
            await asyncio.sleep(PACE_S)

    load = [asyncio.create_task(customer_load(s, t)) for s, t in customers.items()]
    load += [asyncio.create_task(agent_load(s)) for s in customers]
    await asyncio.sleep(1.5)
    stack.redis.kill()
    await asyncio.sleep(2.0)
    stack.redis.start()
    back = time.monotonic()

    async def serving(api: ApiClient) -> float:
        while (await api.request("GET", "/"))[0] != 200:
            await asyncio.sleep(0.05)
        return time.monotonic() - back

    resume = max(await asyncio.gather(*(serving(api) for api in apis)))
    await asyncio.sleep(1.5)
    stop.set()
    await asyncio.gather(*load)
    assert refused > 0, "the load should have met Redis down"
    missing = 0
    for sender, texts in acknowledged.items():
        transcript = [m.text for m in await store.transcript(sender, limit=100_000)]
        present = [t for t in transcript if t in set(texts)]
        missing += len(set(texts) - set(present))
        customer_part = [t for t in texts if " customer " in t]
        assert [t for t in present if " customer " in t] == customer_part, sender
        agent_part = [t for t in texts if " agent " in t]
        assert [t for t in present if " agent " in t] == agent_part, sender
    assert missing == 0
    assert resume <= 2.0
    record("redis_kill", {"acknowledged": sum(len(t) for t in acknowledged.values()), "refused": refused,
                          "missing": missing, "resume_s": round(resume, 2)})  # fmt: skip


async def tracker(stack: Stack, http: aiohttp.ClientSession, sender: str, index: int = 1) -> dict[str, Any]:
    async with http.get(f"{stack.rasa[index].base}/conversations/{sender}/tracker") as answer:
        assert answer.status == 200
        state: dict[str, Any] = await answer.json()
        return state


async def test_rasa_killed_during_handoffs(stack: Stack, http: aiohttp.ClientSession) -> None:
    survivor = ApiClient(stack.rasa[1].handoff, http)
    agent = agent_token("steady")
    tokens = {}
    for sender in ("kill-waiting", "kill-assigned"):
        status, answer = await survivor.say(sender, "xkcd qwfp zzvb blorf")
        assert answer["state"] == "waiting"
        tokens[sender] = answer["customer_token"]
    assert (await survivor.request("POST", "/agent/conversations/kill-assigned/claim", token=agent))[0] == 200

    victim = stack.rasa[0].process
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait(timeout=10)
    status, _ = await survivor.request(
        "POST", "/agent/conversations/kill-assigned/messages", {"text": "still here"}, agent
    )
    assert status == 201
    status, answer = await survivor.say("kill-assigned", "good, thanks", tokens["kill-assigned"])
    assert (status, answer["state"], answer["messages"]) == (200, "assigned", [])

    stack.start_rasa(0)
    restarted = stack.wait_for_rasa(0)
    again = ApiClient(restarted.handoff, http)
    _, waiting = await again.request("GET", "/agent/conversations?view=waiting", token=agent)
    assert "kill-waiting" in [c["id"] for c in waiting["conversations"]]
    _, mine = await again.request("GET", "/agent/conversations?view=mine", token=agent)
    assert [c["id"] for c in mine["conversations"]] == ["kill-assigned"]
    status, answer = await again.say("kill-assigned", "hello", tokens["kill-assigned"])
    assert (status, answer["state"], answer["messages"]) == (200, "assigned", [])
    assert (await again.request("POST", "/agent/conversations/kill-assigned/messages", {"text": "ok"}, agent))[0] == 201
    assert (await tracker(stack, http, "kill-assigned", 0))["paused"] is True
    record("rasa_kill", {"waiting": 1, "assigned": 1})


async def test_no_silent_unpause(stack: Stack, http: aiohttp.ClientSession) -> None:
    api = ApiClient(stack.rasa[1].handoff, http)
    agent = agent_token("guardian")
    sender = "unpause-1"
    _, answer = await api.say(sender, "xkcd qwfp zzvb blorf")
    customer = answer["customer_token"]
    assert (await api.request("POST", f"/agent/conversations/{sender}/claim", token=agent))[0] == 200
    for text in ("/restart", "/greet", '/order_status{"x": 1}', "/session_start"):
        status, answer = await api.say(sender, text, customer)
        assert (status, answer["state"], answer["messages"]) == (200, "assigned", []), text

    # A session expiry: the last user message becomes two hours old.
    old = {"event": "user", "text": "an old message", "timestamp": time.time() - 7200, "parse_data": {}}
    async with http.post(f"{stack.rasa[1].base}/conversations/{sender}/tracker/events", json=old) as answer:
        assert answer.status == 200
    before = sum(1 for e in (await tracker(stack, http, sender))["events"] if e["event"] == "session_started")
    status, answer = await api.say(sender, "are you still there?", customer)
    assert (status, answer["state"], answer["messages"]) == (200, "assigned", [])

    async def new_session_started() -> dict[str, Any] | None:
        state = await tracker(stack, http, sender)
        started = sum(1 for e in state["events"] if e["event"] == "session_started")
        return (
            state
            if started > before and any(e.get("text") == "are you still there?" for e in state["events"])
            else None
        )

    state = None
    for _ in range(50):
        state = await new_session_started()
        if state:
            break
        await asyncio.sleep(0.2)
    if state is None:
        redis = Redis.from_url(stack.redis.url)
        keys = KeySpace()
        queued = await redis.lrange(keys.recording(sender), 0, -1)
        pending = await redis.xpending(keys.recordings, "recorders")
        lock = await redis.get(f"lock:lock:{sender}")
        await redis.close()
        events = [(e["event"], e.get("text")) for e in (await tracker(stack, http, sender))["events"]][-8:]
        raise AssertionError(
            f"the expired session was not restarted; still queued for the tracker: {queued};"
            f" recorders' pending notices: {pending}; lock: {lock!r}; last events: {events}"
        )
    assert state["paused"] is True
    assert not any(e["event"] == "restart" for e in state["events"])
    assert (await api.request("POST", f"/agent/conversations/{sender}/messages", {"text": "yes!"}, agent))[0] == 201
    record("unpause", {"texts": 4, "session_expiry": True})


class ResumingFollower:
    """Follows one WebSocket, and when the connection drops, opens it again from the
    last id it saw (as the console and the chat page do); keeps every frame."""

    def __init__(self, url: str, token: str, after: str | None, id_of: Any) -> None:
        self.url, self.token, self.last, self.id_of = url, token, after, id_of
        self.frames: list[dict[str, Any]] = []
        self.socket: LiveSocket | None = None
        self.reconnects = 0
        self.stopping = False

    async def run(self) -> None:
        while not self.stopping:
            self.socket = await LiveSocket.open(self.url, self.token, after=self.last)
            try:
                while True:
                    frame = json.loads(await self.socket.connection.recv())
                    self.frames.append(frame)
                    self.last = self.id_of(frame) or self.last
            except ConnectionClosed:
                if not self.stopping:
                    self.reconnects += 1

    def drop(self) -> None:
        """Cuts the connection without a closing handshake, as a lost network does."""
        assert self.socket is not None
        self.socket.connection.transport.abort()

    async def stop(self) -> None:
        self.stopping = True
        if self.socket is not None:
            await self.socket.close()


def event_id(frame: dict[str, Any]) -> str | None:
    return frame.get("id") if frame.get("type") == "event" else None


def message_id(frame: dict[str, Any]) -> str | None:
    return frame["message"]["id"] if frame.get("type") == "message" else None


async def test_sockets_dropped_mid_conversation_miss_nothing_and_repeat_nothing(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    customer_api, agent_api = ApiClient(stack.rasa[0].handoff, http), ApiClient(stack.rasa[1].handoff, http)
    agent = agent_token("reconnecting-agent")
    sender = "reconnect-1"
    _, answer = await customer_api.say(sender, "xkcd qwfp zzvb blorf")
    customer = answer["customer_token"]
    assert (await agent_api.request("POST", f"/agent/conversations/{sender}/claim", token=agent))[0] == 200
    console = ResumingFollower(f"{stack.rasa[1].ws}/agent/ws", agent, None, event_id)
    widget = ResumingFollower(f"{stack.rasa[0].ws}/customer/ws", customer, "0-0", message_id)
    followers = [asyncio.create_task(console.run()), asyncio.create_task(widget.run())]
    await asyncio.sleep(0.5)

    rounds, drops_at = 40, (8, 17, 26, 33)
    for i in range(rounds):
        if i in drops_at:
            (console if i % 2 == 0 else widget).drop()
        if i in (12, 30):
            console.drop()
            widget.drop()
        status, _ = await customer_api.say(sender, f"customer-{i}", customer)
        assert status == 200
        path = f"/agent/conversations/{sender}/messages"
        assert (await agent_api.request("POST", path, {"text": f"agent-{i}"}, agent))[0] == 201
        await asyncio.sleep(PACE_S)

    def heard(follower: ResumingFollower, author: str) -> list[str]:
        texts = []
        for frame in follower.frames:
            message = frame["data"] if frame.get("event") == "message" else frame.get("message")
            if message and message.get("from") == author and frame.get("conversation", sender) == sender:
                texts.append(message["text"])
        return texts

    expected_by_agent = [f"customer-{i}" for i in range(rounds)]
    expected_by_customer = [f"agent-{i}" for i in range(rounds)]
    for _ in range(100):  # the last frames may still be on their way
        if heard(console, "customer")[-1:] == expected_by_agent[-1:] and heard(widget, "agent")[-1:] == [
            expected_by_customer[-1]
        ]:
            break
        await asyncio.sleep(0.1)
    await console.stop()
    await widget.stop()
    await asyncio.gather(*followers, return_exceptions=True)

    by_agent = [t for t in heard(console, "customer") if t.startswith("customer-")]
    by_customer = heard(widget, "agent")
    assert console.reconnects == 4 and widget.reconnects == 4
    assert by_agent == expected_by_agent, "the agent's console missed or repeated a customer message"
    assert by_customer == expected_by_customer, "the customer missed or repeated an agent message"
    record(
        "reconnects",
        {
            "messages_each_way": rounds,
            "agent_drops": console.reconnects,
            "customer_drops": widget.reconnects,
            "missed": (len(set(expected_by_agent) - set(by_agent)) + len(set(expected_by_customer) - set(by_customer))),
            "repeated": (len(by_agent) - len(set(by_agent))) + (len(by_customer) - len(set(by_customer))),
        },
    )
