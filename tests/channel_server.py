"""The handoff channel on a real Sanic server in the test's event loop, with a
stub bot where the bot is beside the point (the end-to-end suite uses Rasa)."""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from rasa.core.channels.channel import OutputChannel, UserMessage
from sanic import Sanic

from channels.handoff.auth import mint_agent_token
from channels.handoff.channel import HandoffInput
from channels.handoff.config import HandoffConfig
from channels.handoff.service import OnNewMessage
from channels.handoff.store import QueuedMessage
from tests.api_client import ApiClient
from tests.redis_server import free_port

DOMAIN = Path(__file__).resolve().parent.parent / "domain.yml"
HANDOVER = "Let me get a colleague to help you."
BOT_ASSIGNED = "You're back with the assistant."
NO_AGENTS = "All our colleagues are busy at the moment."
STILL_WAITING = "Thanks for your patience."
SECRET = "test-secret-0123456789abcdef0123456789abcdef"
_app_numbers = itertools.count()


@dataclass
class FakeBridge:
    """Stands in for Rasa's tracker: records what the channel logs."""

    paused: set[str] = field(default_factory=set)
    customer_log: list[tuple[str, str]] = field(default_factory=list)
    bot_log: list[tuple[str, str]] = field(default_factory=list)  # what the stub bot read and answered
    agent_log: list[tuple[str, str, str]] = field(default_factory=list)
    actions: list[tuple[str, str]] = field(default_factory=list)
    timeline: list[tuple[str, str, str]] = field(default_factory=list)  # (conversation, kind, text) as recorded
    locks: defaultdict[str, asyncio.Lock] = field(default_factory=lambda: defaultdict(asyncio.Lock))

    def lock(self, conversation_id: str) -> AbstractAsyncContextManager[Any]:
        return self.locks[conversation_id]

    async def record(self, conversation_id: str, messages: list[QueuedMessage]) -> list[dict[str, Any]]:
        assert self.locks[conversation_id].locked(), "recorded outside the conversation's lock"
        readings: list[dict[str, Any]] = []
        for message, _ in messages:
            self.timeline.append((conversation_id, message.author, message.text))
            if message.author == "customer":
                self.customer_log.append((conversation_id, message.text))
                readings.append({"text": message.text, "intent": {"name": "order_status", "confidence": 0.42}})
            else:
                self.agent_log.append((conversation_id, message.data["agent"], message.text))
                readings.append({})
        return readings

    async def run_action(self, conversation_id: str, action: str, output: OutputChannel) -> None:
        self.actions.append((conversation_id, action))
        self.timeline.append((conversation_id, "action", action))
        if action == "action_bot_assigned":
            await output.send_text_message(conversation_id, BOT_ASSIGNED)
            self.paused.discard(conversation_id)
        elif action == "action_no_agents_online":
            await output.send_text_message(conversation_id, NO_AGENTS)
            self.paused.discard(conversation_id)
        elif action == "action_still_waiting":
            await output.send_text_message(conversation_id, STILL_WAITING)

    async def is_paused(self, conversation_id: str) -> bool:
        return conversation_id in self.paused

    async def customer_parses(self, conversation_id: str) -> list[tuple[str, dict[str, Any]]]:
        return [
            (text, {"text": text, "intent": {"name": "greet", "confidence": 0.97}, "entities": []})
            for conversation, text in self.bot_log
            if conversation == conversation_id
        ]

    async def pause(self, conversation_id: str) -> None:
        self.paused.add(conversation_id)

    def intents(self) -> list[str]:
        """The project domain's intents, as the real bridge reads them from the model."""
        return sorted(yaml.safe_load(DOMAIN.read_text())["intents"])


@dataclass
class StubBot:
    """Answers like a tiny assistant: gibberish or asking for a human hands over."""

    bridge: FakeBridge
    received: list[UserMessage] = field(default_factory=list)
    failure: Exception | None = None  # raised instead of answering, when set

    async def __call__(self, message: UserMessage) -> None:
        if self.failure is not None:
            raise self.failure
        self.received.append(message)
        sender = message.sender_id
        output = message.output_channel
        if sender in self.bridge.paused:
            return
        text = message.text or ""
        self.bridge.bot_log.append((sender, text))
        if text.startswith("gibberish") or "human" in text:
            if not message.metadata["handoff"].get("enabled", True):  # stamped only when not the default
                await output.send_text_message(sender, "Sorry, I didn't get that.")
                return
            await output.send_text_message(sender, HANDOVER)
            reason = "request_human" if "human" in text else "nlu_fallback"
            reading = {"intent": "nlu_fallback", "confidence": 0.3, "intent_ranking": [], "entities": []}
            await output.send_custom_json(
                sender, {"handoff": {"state": "waiting", "reason": reason, "reading": reading}}
            )
            self.bridge.paused.add(sender)
        elif text == "hello":
            await output.send_text_message(sender, "Hi from the bot!")
        else:
            await output.send_text_message(sender, f"bot: {text}")


def agent_token(agent_id: str, role: str = "agent", name: str | None = None) -> str:
    return mint_agent_token(SECRET, agent_id, name or agent_id.title(), role)


class ChannelServer:
    """A running server with the handoff channel, and helpers to talk to it."""

    def __init__(
        self,
        redis_url: str,
        sweep_interval_s: float = 3600.0,
        around_bot: Callable[[StubBot], OnNewMessage] | None = None,
        **settings: Any,
    ) -> None:
        """`around_bot` wraps the stub bot in what Rasa is given (e.g. to make it hold the loop)."""
        self.bridge = FakeBridge()
        self.bot = StubBot(self.bridge)
        handler: OnNewMessage = around_bot(self.bot) if around_bot is not None else self.bot
        self.port = free_port()
        self.config = HandoffConfig(
            redis_url=redis_url, jwt_secret=SECRET, sweep_interval_s=sweep_interval_s, **settings
        )
        self.channel = HandoffInput(self.config, bridge_for=lambda app: self.bridge)
        self.app = Sanic(f"handoff_test_{next(_app_numbers)}")
        self.app.blueprint(self.channel.blueprint(handler), url_prefix="/webhooks/handoff")
        self.server: Any = None
        self.http: aiohttp.ClientSession | None = None
        self.api: ApiClient | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhooks/handoff"

    @property
    def ws_base(self) -> str:
        return f"ws://127.0.0.1:{self.port}/webhooks/handoff"

    async def start(self) -> None:
        self.server = await self.app.create_server(
            host="127.0.0.1", port=self.port, return_asyncio_server=True, access_log=False
        )
        await self.server.startup()
        await self.server.before_start()
        await self.server.after_start()
        self.http = aiohttp.ClientSession()
        self.api = ApiClient(self.base, self.http)

    async def stop(self) -> None:
        if self.http:
            await self.http.close()
        await self.server.before_stop()
        self.server.close()
        await self.server.wait_closed()
        await self.server.after_stop()

    async def request(
        self, method: str, path: str, body: Any = None, token: str | None = None, raw: bytes | None = None
    ) -> tuple[int, Any]:
        assert self.api is not None
        return await self.api.request(method, path, body, token, raw)

    async def say(self, sender: str, text: str, token: str | None = None, **extra: Any) -> tuple[int, Any]:
        assert self.api is not None
        return await self.api.say(sender, text, token, **extra)

    async def hand_over(self, sender: str, token: str | None = None) -> str:
        """A customer's gibberish puts them in the Waiting queue; returns their token."""
        status, answer = await self.say(sender, "gibberish qwxz", token)
        assert status == 200 and answer["state"] == "waiting", answer
        return token or str(answer["customer_token"])
