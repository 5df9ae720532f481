"""Human fallback for a customer on Rasa's callback channel: the bot's, the agent's
and the desk's messages are posted to the callback URL (a small HTTP receiver here),
through a real Sanic server and Redis, with the stand-in bot."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from rasa.utils.endpoints import EndpointConfig

from channels.handoff.callback_channel import HandoffCallbackInput
from tests.channel_server import BOT_ASSIGNED, HANDOVER, ChannelServer, agent_token
from tests.redis_server import RedisServer, free_port

ALICE = agent_token("alice")


class CallbackReceiver:
    """What the callback URL receives, in order."""

    def __init__(self) -> None:
        self.port = free_port()
        self.posted: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()

        async def receive(request: web.Request) -> web.Response:
            await self.posted.put(await request.json())
            return web.json_response({})

        app.router.add_post("/bot", receive)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def next_text(self, timeout_s: float = 5.0) -> str:
        return str((await asyncio.wait_for(self.posted.get(), timeout_s)).get("text"))

    async def silence(self, quiet_s: float = 0.5) -> list[dict[str, Any]]:
        await asyncio.sleep(quiet_s)
        heard = []
        while not self.posted.empty():
            heard.append(self.posted.get_nowait())
        return heard


@pytest.fixture
async def receiver() -> AsyncIterator[CallbackReceiver]:
    found = CallbackReceiver()
    await found.start()
    yield found
    assert found.runner is not None
    await found.runner.cleanup()


def with_callback(channel: ChannelServer, receiver: CallbackReceiver) -> ChannelServer:
    callback = HandoffCallbackInput(EndpointConfig(f"http://127.0.0.1:{receiver.port}/bot"))
    channel.app.blueprint(callback.blueprint(channel.bot), url_prefix="/webhooks/callback")
    return channel


@pytest.fixture
async def servers(
    redis_server: RedisServer, redis_client: Any, receiver: CallbackReceiver
) -> AsyncIterator[tuple[ChannelServer, ChannelServer]]:
    """Two servers on one Redis, both with the callback channel: each message is posted once."""
    first = with_callback(ChannelServer(redis_server.url), receiver)
    second = with_callback(ChannelServer(redis_server.url), receiver)
    second.bridge = first.bridge  # one stand-in tracker for both, as Rasa's is in Redis
    await first.start()
    await second.start()
    yield first, second
    await second.stop()
    await first.stop()


async def test_callback_customer_is_handed_over_hears_the_agent_and_comes_back(
    servers: tuple[ChannelServer, ChannelServer], receiver: CallbackReceiver
) -> None:
    customer_side, server = servers  # the customer writes to one server, the agent uses the other
    async with aiohttp.ClientSession() as http:

        async def say(text: str) -> None:
            url = f"http://127.0.0.1:{customer_side.port}/webhooks/callback/webhook"
            async with http.post(url, json={"sender": "cb-1", "message": text}) as answer:
                assert answer.status == 200

        await say("hello")
        assert await receiver.next_text() == "Hi from the bot!"
        await say("gibberish please")
        assert await receiver.next_text() == HANDOVER
        assert await receiver.silence() == []  # the control message is never posted
        _, waiting = await server.request("GET", "/agent/conversations?view=waiting", token=ALICE)
        assert [c["id"] for c in waiting["conversations"]] == ["cb-1"]

        assert (await server.request("POST", "/agent/conversations/cb-1/claim", token=ALICE))[0] == 200
        assert await receiver.next_text() == "Alice joined the chat."
        path = "/agent/conversations/cb-1/messages"
        assert (await server.request("POST", path, {"text": "Hi, a human here."}, ALICE))[0] == 201
        assert await receiver.next_text() == "Hi, a human here."
        await say("/restart")
        assert await receiver.silence() == []  # the bot stays silent

        assert (await server.request("POST", "/agent/conversations/cb-1/release", token=ALICE))[0] == 200
        heard = [await receiver.next_text(), await receiver.next_text()]
        assert BOT_ASSIGNED in heard
        await say("hello")
        assert await receiver.next_text() == "Hi from the bot!"
        assert await receiver.silence() == []  # nothing twice
