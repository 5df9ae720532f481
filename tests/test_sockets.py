"""The live WebSockets: authentication, live pushes, and resuming after a
reconnect without missing or repeating anything."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from itertools import pairwise

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.legacy.client import connect

from channels.handoff.feed import stream_position
from tests.api_client import Frame, LiveSocket, is_message
from tests.channel_server import BOT_ASSIGNED, HANDOVER, ChannelServer, agent_token
from tests.redis_server import RedisServer

ALICE = agent_token("alice")


def strictly_increasing(ids: list[str]) -> bool:
    positions = [stream_position(i) for i in ids]
    return all(a < b for a, b in pairwise(positions))


async def refused(url: str, first_frame: str) -> tuple[Frame, int | None]:
    async with connect(url) as socket:
        await socket.send(first_frame)
        frame = json.loads(await socket.recv())
        with pytest.raises(ConnectionClosed):
            await socket.recv()
        return frame, socket.close_code


@pytest.fixture
async def second_channel(redis_server: RedisServer, channel: ChannelServer) -> AsyncIterator[ChannelServer]:
    server = ChannelServer(redis_server.url)
    await server.start()
    yield server
    await server.stop()


@pytest.mark.parametrize(
    ("first_frame", "code"),
    [
        ('{"type": "auth", "token": "nonsense"}', "invalid_token"),
        ('{"type": "hello"}', "invalid_frame"),
        ("not json", "invalid_frame"),
        ('{"type": "auth", "token": "x", "after": "yesterday"}', "invalid_id"),
    ],
)
async def test_agent_socket_refuses_bad_auth(channel: ChannelServer, first_frame: str, code: str) -> None:
    frame, close_code = await refused(f"{channel.ws_base}/agent/ws", first_frame)
    assert frame["type"] == "error" and frame["error"] == code
    assert close_code == 4401


async def test_customer_socket_refuses_another_conversations_token(channel: ChannelServer) -> None:
    await channel.hand_over("c1")
    frame, close_code = await refused(f"{channel.ws_base}/customer/ws", json.dumps({"type": "auth", "token": ALICE}))
    assert (frame["error"], close_code) == ("invalid_token", 4401)


async def test_agent_socket_pushes_the_handoff_as_it_happens(channel: ChannelServer) -> None:
    feed = await LiveSocket.open(f"{channel.ws_base}/agent/ws", ALICE)
    assert feed.ready["type"] == "ready" and feed.ready["agent"]["id"] == "alice"
    customer = await channel.hand_over("c1")
    waiting = await feed.next(lambda f: f.get("event") == "waiting")
    assert waiting["conversation"] == "c1" and waiting["data"]["state"] == "waiting"
    await channel.request("POST", "/agent/conversations/c1/claim", token=ALICE)
    claimed = await feed.next(lambda f: f.get("event") == "claimed")
    assert claimed["data"]["agent"] == "alice"
    await channel.say("c1", "are you a person?", customer)
    await feed.next(is_message("customer", "are you a person?"))
    await channel.request("POST", "/agent/conversations/c1/release", token=ALICE)
    released = await feed.next(lambda f: f.get("event") == "released")
    assert released["data"]["state"] == "bot"
    assert strictly_increasing([f["id"] for f in feed.seen])
    await feed.connection.send(json.dumps({"type": "ping"}))
    assert await feed.next(lambda f: f["type"] == "pong")
    await feed.close()


async def test_agent_socket_resumes_after_a_reconnect(channel: ChannelServer) -> None:
    feed = await LiveSocket.open(f"{channel.ws_base}/agent/ws", ALICE)
    customer = await channel.hand_over("c1")
    await feed.next(lambda f: f.get("event") == "waiting")
    last_seen = feed.seen[-1]["id"]
    await feed.close()

    # While this agent is away: a claim, messages both ways, a new customer.
    await channel.request("POST", "/agent/conversations/c1/claim", token=agent_token("bob"))
    await channel.say("c1", "hello?", customer)
    await channel.hand_over("c2")

    back = await LiveSocket.open(f"{channel.ws_base}/agent/ws", ALICE, after=last_seen)
    await back.next(lambda f: f.get("event") == "waiting" and f["conversation"] == "c2")
    await channel.say("c1", "still there?", customer)
    await back.next(is_message("customer", "still there?"))
    replayed = [f for f in back.seen if f["type"] == "event"]
    ids = [f["id"] for f in replayed]
    assert strictly_increasing(ids)
    assert stream_position(ids[0]) > stream_position(last_seen)
    events = [(f["event"], f["conversation"]) for f in replayed if f["event"] != "reading"]
    assert events[:2] == [("claimed", "c1"), ("message", "c1")]
    assert ("waiting", "c2") in events
    assert events.count(("waiting", "c1")) == 0
    await back.close()


async def test_customer_socket_pushes_and_resumes(channel: ChannelServer) -> None:
    customer = await channel.hand_over("c1")
    socket = await LiveSocket.open(f"{channel.ws_base}/customer/ws", customer, after="0-0")
    assert socket.ready == {"type": "ready", "sender": "c1", "state": "waiting"}
    await socket.next(is_message("bot", HANDOVER))
    await channel.request("POST", "/agent/conversations/c1/claim", token=ALICE)
    state = await socket.next(lambda f: f["type"] == "state")
    assert state == {"type": "state", "state": "assigned", "event": "claimed"}
    joined = await socket.next(is_message("system"))
    assert joined["message"]["event"] == "agent_joined"
    await channel.request("POST", "/agent/conversations/c1/messages", {"text": "first"}, ALICE)
    first = await socket.next(is_message("agent", "first"))
    await socket.close()

    for text in ("second", "third"):
        await channel.request("POST", "/agent/conversations/c1/messages", {"text": text}, ALICE)
    back = await LiveSocket.open(f"{channel.ws_base}/customer/ws", customer, after=first["message"]["id"])
    await back.next(is_message("agent", "third"))
    await channel.request("POST", "/agent/conversations/c1/release", token=ALICE)
    await back.next(is_message("bot", BOT_ASSIGNED))
    messages = [f["message"] for f in back.seen if f["type"] == "message"]
    assert [m["text"] for m in messages if m["from"] == "agent"] == ["second", "third"]
    assert all(m["from"] != "customer" for m in messages)
    assert strictly_increasing([m["id"] for m in messages])
    await back.close()


async def test_two_servers_on_one_redis_behave_as_one(channel: ChannelServer, second_channel: ChannelServer) -> None:
    feed = await LiveSocket.open(f"{second_channel.ws_base}/agent/ws", ALICE)
    customer = await channel.hand_over("c1")
    await feed.next(lambda f: f.get("event") == "waiting" and f["conversation"] == "c1")
    status, body = await second_channel.request("POST", "/agent/conversations/c1/claim", token=ALICE)
    assert status == 200
    status, body = await channel.request("POST", "/agent/conversations/c1/claim", token=agent_token("bob"))
    assert (status, body["agent"]) == (409, "alice")
    customer_socket = await LiveSocket.open(f"{channel.ws_base}/customer/ws", customer)
    await second_channel.request("POST", "/agent/conversations/c1/messages", {"text": "from B"}, ALICE)
    await customer_socket.next(is_message("agent", "from B"))
    await channel.say("c1", "from A", customer)
    await feed.next(is_message("customer", "from A"))
    await feed.close()
    await customer_socket.close()
