"""Human fallback for a customer on Rasa's Socket.IO channel, with a real
Socket.IO client, against the real system (customer and agent on two servers)."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

import aiohttp
import pytest
import socketio

from tests.api_client import ApiClient, LiveSocket
from tests.channel_server import agent_token
from tests.stack import Stack, response_text

pytestmark = pytest.mark.e2e


class WidgetClient:
    """What a web widget does: a session, user_uttered out, bot_uttered in."""

    def __init__(self) -> None:
        self.client = socketio.AsyncClient(reconnection=False)
        self.received: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.session = uuid.uuid4().hex

        @self.client.on("bot_uttered")
        async def bot_uttered(data: dict[str, Any]) -> None:
            await self.received.put(data)

    async def connect(self, base: str) -> None:
        # Long-polling: the websocket transport of this client needs a newer aiohttp than Rasa pins.
        await self.client.connect(base, socketio_path="/socket.io", transports=["polling"])
        await self.client.emit("session_request", {"session_id": self.session})

    async def say(self, text: str) -> None:
        await self.client.emit("user_uttered", {"message": text, "session_id": self.session})

    async def next_text(self, timeout_s: float = 15) -> str:
        data = await asyncio.wait_for(self.received.get(), timeout_s)
        assert set(data) <= {
            "text",
            "buttons",
            "image",
            "attachment",
            "quick_replies",
            "elements",
            "agent",
            "agent_name",
            "event",
        }, data
        return str(data.get("text"))

    async def silence(self, quiet_s: float = 1.5) -> list[dict[str, Any]]:
        await asyncio.sleep(quiet_s)
        heard = []
        while not self.received.empty():
            heard.append(self.received.get_nowait())
        return heard


async def eventually_recorded(
    http: aiohttp.ClientSession, stack: Stack, sender: str, text: str, timeout_s: float = 15
) -> dict[str, Any]:
    """The tracker's user event for `text`, once a recorder wrote it."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        async with http.get(f"{stack.rasa[0].base}/conversations/{sender}/tracker") as answer:
            events = (await answer.json())["events"]
        found = [e for e in events if e["event"] == "user" and e.get("text") == text]
        if found:
            return dict(found[-1])
        assert asyncio.get_running_loop().time() < deadline, f"{text!r} was not recorded in the tracker"
        await asyncio.sleep(0.2)


async def test_socketio_customer_is_handed_over_and_back(stack: Stack) -> None:
    widget = WidgetClient()
    await widget.connect(stack.rasa[0].base)
    async with aiohttp.ClientSession() as http:
        agents = ApiClient(stack.rasa[1].handoff, http)
        alice = agent_token("sio-alice")
        console = await LiveSocket.open(f"{stack.rasa[1].ws}/agent/ws", alice)  # Alice is online
        await widget.say("hello")
        assert await widget.next_text() == response_text("utter_greet")

        await widget.say("xkcd qwfp zzvb blorf")
        assert await widget.next_text() == response_text("utter_agent_fallback")
        assert await widget.silence() == []  # the control message never reaches the widget
        _, waiting = await agents.request("GET", "/agent/conversations?view=waiting", token=alice)
        assert widget.session in [c["id"] for c in waiting["conversations"]]

        status, _ = await agents.request("POST", f"/agent/conversations/{widget.session}/claim", token=alice)
        assert status == 200
        assert "joined" in await widget.next_text()
        status, _ = await agents.request(
            "POST", f"/agent/conversations/{widget.session}/messages", {"text": "Hi, a human here."}, alice
        )
        assert status == 201
        assert await widget.next_text() == "Hi, a human here."

        await widget.say("/restart")
        await widget.say("my parcel never came")
        assert await widget.silence() == []
        _, conversation = await agents.request("GET", f"/agent/conversations/{widget.session}", token=alice)
        customer_texts = [m["text"] for m in conversation["transcript"] if m["from"] == "customer"]
        assert customer_texts[-2:] == ["/restart", "my parcel never came"]
        # Rasa's tracker records the human part with the message ids the channel gave.
        recorded = await eventually_recorded(http, stack, widget.session, "my parcel never came")
        assert re.fullmatch(r"[0-9a-f]{32}", recorded.get("message_id") or ""), recorded

        status, _ = await agents.request("POST", f"/agent/conversations/{widget.session}/release", token=alice)
        assert status == 200
        heard = [await widget.next_text(), await widget.next_text()]
        assert response_text("utter_bot_assigned") in heard
        await widget.say("hello")
        assert await widget.next_text() == response_text("utter_greet")
        await console.close()
    await widget.client.disconnect()
