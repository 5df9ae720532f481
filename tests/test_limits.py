"""Limits of the live WebSockets (the HTTP ones, request size, text length and the
per-token rate limits, are in tests/test_channel.py): client frames over 16 KiB,
a socket that never authenticates, and a client that stops answering."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis
from websockets.exceptions import ConnectionClosed
from websockets.legacy.client import connect

from channels.handoff import sockets
from channels.handoff.config import HandoffConfig
from channels.handoff.runtime import HandoffRuntime
from tests.api_client import LiveSocket
from tests.channel_server import ChannelServer, agent_token
from tests.redis_server import RedisServer
from tests.reliability_figures import record_figures

ALICE = agent_token("alice")


async def close_code_after(socket: Any, timeout_s: float = 5) -> int | None:
    """Reads until the server closes the socket; its close code."""
    with pytest.raises(ConnectionClosed):
        while True:
            await asyncio.wait_for(socket.recv(), timeout_s)
    return int(socket.close_code) if socket.close_code is not None else None


def subscribers(channel: ChannelServer) -> int:
    """Sockets the server still serves (each holds one live-feed subscription)."""
    runtime: HandoffRuntime = channel.app.ctx.handoff
    return len(runtime.hub._subscribers)


async def until(condition: Any, timeout_s: float = 5) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def open_sockets(channel: ChannelServer) -> dict[str, LiveSocket]:
    customer = await channel.hand_over("c1")
    return {
        "agent": await LiveSocket.open(f"{channel.ws_base}/agent/ws", ALICE),
        "customer": await LiveSocket.open(f"{channel.ws_base}/customer/ws", customer),
    }


async def answered(live: LiveSocket, ping: str = '{"type": "ping"}') -> None:
    """Sends a ping frame; the server answers pong."""
    await live.connection.send(ping)
    assert (await live.next(lambda f: f["type"] == "pong"))["type"] == "pong"


# -- frame size -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["agent", "customer"])
async def test_a_frame_over_16_kib_closes_the_socket_with_1009(channel: ChannelServer, kind: str) -> None:
    opened = await open_sockets(channel)
    live = opened[kind]
    socket = live.connection
    assert live.ready["type"] == "ready"
    await answered(live)
    # Exactly 16 KiB is still fine; one byte more is not.
    at_limit = json.dumps({"type": "ping", "pad": ""})
    at_limit = at_limit[:-2] + "x" * (sockets.MAX_FRAME_BYTES - len(at_limit)) + '"}'
    assert len(at_limit.encode()) == sockets.MAX_FRAME_BYTES
    await answered(live, at_limit)
    await socket.send(at_limit[:-2] + 'x"}')
    assert await close_code_after(socket) == 1009
    assert socket.close_reason == "frame too large"
    await until(lambda: subscribers(channel) == 1)  # the other socket stays
    for live in opened.values():
        await live.close()


async def test_a_frame_over_the_server_limit_closes_the_socket_with_1009(channel: ChannelServer) -> None:
    """Frames over Sanic's WEBSOCKET_MAX_SIZE (1 MiB) are refused by its WebSocket layer."""
    socket = (await open_sockets(channel))["customer"].connection
    await socket.send("x" * (int(channel.app.config.WEBSOCKET_MAX_SIZE) + 1))
    assert await close_code_after(socket) == 1009
    await until(lambda: subscribers(channel) == 1)


@pytest.mark.parametrize("path", ["/agent/ws", "/customer/ws"])
async def test_an_auth_frame_over_16_kib_is_refused(channel: ChannelServer, path: str) -> None:
    async with connect(f"{channel.ws_base}{path}") as socket:
        await socket.send(json.dumps({"type": "auth", "token": "x" * sockets.MAX_FRAME_BYTES}))
        frame = json.loads(await asyncio.wait_for(socket.recv(), 5))
        assert await close_code_after(socket) == sockets.CLOSE_POLICY
    assert (frame["type"], frame["error"]) == ("error", "invalid_frame")


# -- idle sockets ---------------------------------------------------------------------------------


def test_the_auth_timeout_is_ten_seconds() -> None:
    assert sockets.AUTH_TIMEOUT_S == 10.0
    config = HandoffConfig()
    record_figures(
        "limits",
        {
            "max_body_bytes": config.max_body_bytes,
            "max_text_chars": config.max_text_chars,
            "customer_requests_per_s": config.customer_requests_per_s,
            "agent_requests_per_s": config.agent_requests_per_s,
            "ws_max_frame_bytes": sockets.MAX_FRAME_BYTES,
            "auth_timeout_s": sockets.AUTH_TIMEOUT_S,
        },
    )


@pytest.mark.parametrize("path", ["/agent/ws", "/customer/ws"])
async def test_a_socket_that_never_authenticates_is_closed(
    channel: ChannelServer, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    monkeypatch.setattr(sockets, "AUTH_TIMEOUT_S", 0.5)
    loop = asyncio.get_running_loop()
    async with connect(f"{channel.ws_base}{path}") as socket:
        opened = loop.time()
        frame = json.loads(await asyncio.wait_for(socket.recv(), 5))
        waited = loop.time() - opened
        assert await close_code_after(socket) == sockets.CLOSE_POLICY
    assert (frame["type"], frame["error"]) == ("error", "auth_timeout")
    assert socket.close_reason == "auth_timeout"
    assert 0.4 <= waited < 3, waited
    assert subscribers(channel) == 0


async def test_a_ping_frame_does_not_stand_in_for_the_auth_frame(channel: ChannelServer) -> None:
    async with connect(f"{channel.ws_base}/agent/ws") as socket:
        await socket.send(json.dumps({"type": "ping"}))
        frame = json.loads(await asyncio.wait_for(socket.recv(), 5))
        assert await close_code_after(socket) == sockets.CLOSE_POLICY
    assert frame["error"] == "invalid_frame"


def test_unresponsive_clients_are_dropped_by_default(channel: ChannelServer) -> None:
    """The channel sets no WebSocket keepalive of its own: Sanic's (which Rasa leaves
    as they are) ping every 20 s and drop a client that has not answered in 20 s."""
    assert channel.app.config.WEBSOCKET_PING_INTERVAL == 20
    assert channel.app.config.WEBSOCKET_PING_TIMEOUT == 20


@pytest.fixture
async def quick_pings(redis_client: Redis, redis_server: RedisServer) -> AsyncIterator[ChannelServer]:
    """The channel with Sanic's keepalive pings every 0.2 s, answered within 0.5 s."""
    server = ChannelServer(redis_server.url)
    server.app.config.update({"WEBSOCKET_PING_INTERVAL": 0.2, "WEBSOCKET_PING_TIMEOUT": 0.5})
    await server.start()
    yield server
    await server.stop()


@pytest.mark.parametrize("kind", ["agent", "customer"])
async def test_an_authenticated_client_that_stops_answering_is_closed(quick_pings: ChannelServer, kind: str) -> None:
    channel = quick_pings
    opened = await open_sockets(channel)
    other = "customer" if kind == "agent" else "agent"
    await until(lambda: subscribers(channel) == 2)
    # A client that answers keeps its socket, however long it stays quiet.
    await asyncio.sleep(1.0)
    assert subscribers(channel) == 2
    # This one stops reading: the server's pings go unanswered.
    silent = opened[kind].connection
    silent.transport.pause_reading()
    loop = asyncio.get_running_loop()
    stopped = loop.time()
    await until(lambda: subscribers(channel) == 1, timeout_s=5)
    assert loop.time() - stopped < 3
    silent.transport.resume_reading()
    assert await close_code_after(silent) == 1011  # keepalive ping timeout
    # The other client, still answering, is still served.
    await answered(opened[other])
    await opened[other].close()
