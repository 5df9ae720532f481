"""What the routes share: the config, the Rasa callback and how to reach the bot."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rasa.core.channels.channel import UserMessage
from sanic import Blueprint, Sanic
from sanic.request import Request

from channels.handoff.bridge import ConversationBridge, RasaBridge
from channels.handoff.config import HandoffConfig
from channels.handoff.http import runtime_of
from channels.handoff.runtime import HandoffRuntime
from channels.handoff.service import HandoffService, OnNewMessage
from channels.handoff.training import existing_examples


def rasa_bridge(app: Sanic) -> ConversationBridge:
    return RasaBridge(getattr(app.ctx, "agent", None))


def blueprint_with_handoff(
    build: Callable[[OnNewMessage], Blueprint],
    on_new_message: OnNewMessage,
    prepare: Callable[[Sanic, UserMessage], Awaitable[None]] | None = None,
) -> Blueprint:
    """Another Rasa channel's blueprint (`build`: its own `blueprint`) with the handoff in
    front of the bot: each message runs `prepare` (when given), then the handoff."""
    wiring: dict[str, Sanic] = {}

    async def with_handoff(message: UserMessage) -> None:
        app = wiring["app"]
        if prepare is not None:
            await prepare(app, message)
        await channel_service(app).channel_message(message, on_new_message)

    bp = build(with_handoff)

    @bp.listener("before_server_start")
    async def remember_app(app: Sanic, _: Any) -> None:
        wiring["app"] = app

    return bp


def channel_service(app: Sanic) -> HandoffService:
    """The handoff for another Rasa channel's blueprint (Socket.IO, REST) on this app."""
    runtime = runtime_of_app(app)
    return HandoffService(
        runtime.store, lambda: rasa_bridge(app), app.ctx.handoff_config, runtime.background, runtime.turns
    )


def runtime_of_app(app: Sanic) -> HandoffRuntime:
    runtime: HandoffRuntime = app.ctx.handoff
    return runtime


@dataclass(frozen=True)
class ChannelContext:
    """Immutable wiring of one channel: no conversation state lives here."""

    config: HandoffConfig
    on_new_message: OnNewMessage
    bridge_for: Callable[[Sanic], ConversationBridge] = rasa_bridge
    # What already trains the bot (normalized text -> intent), read once at start.
    existing_nlu: dict[str, str] = field(default_factory=lambda: existing_examples(Path("data")))

    def service(self, request: Request) -> HandoffService:
        runtime = runtime_of(request)
        app = request.app
        return HandoffService(
            runtime.store,
            lambda: self.bridge_for(app),
            self.config,
            runtime.background,
            runtime.turns,
            lambda: runtime.takes_ticket_steps(getattr(app.ctx, "agent", None)),
        )
