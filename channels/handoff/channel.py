"""`HandoffInput`: the Rasa input channel behind `/webhooks/handoff/`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from rasa.core.channels.channel import InputChannel, OutputChannel
from sanic import Blueprint, Sanic
from sanic.request import Request
from sanic.response import HTTPResponse, json

from channels.handoff import (
    action_validation,
    rasa_resume,
    routes_agent,
    routes_customer,
    routes_metrics,
    routes_static,
    sockets,
)
from channels.handoff.bridge import ConversationBridge
from channels.handoff.collector import settle_collector
from channels.handoff.config import HandoffConfig
from channels.handoff.context import ChannelContext, rasa_bridge
from channels.handoff.cors import lighten_cors
from channels.handoff.http import api, runtime_of
from channels.handoff.lock_store import sharing_redis
from channels.handoff.output import TranscriptOutputChannel
from channels.handoff.recorder import Recorder
from channels.handoff.runtime import HandoffRuntime
from channels.handoff.service import HandoffService, OnNewMessage
from channels.handoff.tracker_store import sharing_key_prefix

logger = logging.getLogger(__name__)


class HandoffInput(InputChannel):
    """Customers and agents meet here; Redis holds every bit of shared state."""

    @classmethod
    def name(cls) -> str:
        return "handoff"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> HandoffInput:
        return cls(HandoffConfig.from_dict(credentials))

    def __init__(
        self,
        config: HandoffConfig | None = None,
        bridge_for: Callable[[Sanic], ConversationBridge] = rasa_bridge,
    ) -> None:
        self.config = config or HandoffConfig.from_dict({})
        self.bridge_for = bridge_for
        self._runtime: HandoffRuntime | None = None

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        action_validation.install()  # Rasa's check of the action server's answers, its schema checked once
        bp = Blueprint(f"{self.name()}_webhook", __name__)
        context = ChannelContext(self.config, on_new_message, self.bridge_for)

        @bp.listener("before_server_start")
        async def start(app: Sanic, _: Any) -> None:
            runtime = self._runtime = app.ctx.handoff = HandoffRuntime.start(self.config)
            rasa_resume.install(runtime.turns)  # custom actions come back to Rasa in turn
            app.ctx.handoff_config = self.config
            service = HandoffService(
                runtime.store, lambda: self.bridge_for(app), self.config, runtime.background, runtime.turns
            )
            runtime.every(self.config.sweep_interval_s, service.sweep, "the desk sweep")
            if self.config.recorder:
                runtime.recorder = Recorder(runtime.store, service.record_in_tracker)
                await runtime.recorder.start()
            if not logging.getLogger("sanic.access").isEnabledFor(logging.INFO):
                # Rasa sets Sanic's loggers to LOG_LEVEL_LIBRARIES (ERROR unless asked):
                # no access line would be written, so Sanic need not build one per request.
                app.config.ACCESS_LOG = False

        @bp.listener("after_server_start")
        async def settle(app: Sanic, _: Any) -> None:
            settle_collector()  # Rasa has loaded the model by now (collector.py)
            lighten_cors(app)  # Sanic-CORS adds its middleware as the server starts
            if not self.config.redis_cluster:  # a customer's step and Rasa's ticket in one round trip
                runtime = app.ctx.handoff
                agent = getattr(app.ctx, "agent", None)
                lock_store = runtime.ticket_lock_store = await sharing_redis(agent, runtime.store.place_marker)
                tracker_prefix = None
                if lock_store is not None:  # the tracker, too, read with a ticket served at once
                    tracker_prefix = sharing_key_prefix(agent, await runtime.store.place_marker())
                    lock_store.reads_trackers_at(tracker_prefix)
                logger.info(
                    "customer messages' Redis step: %s%s",
                    "with Rasa's lock ticket, one round trip"
                    if lock_store is not None
                    else "a round trip of its own (Rasa's lock store is not AtomicRedisLockStore on this Redis)",
                    "" if tracker_prefix is None else ", and the tracker's load",
                )

        @bp.listener("after_server_stop")
        async def stop(app: Sanic, _: Any) -> None:
            await app.ctx.handoff.stop()

        @bp.route("/", methods=["GET"])
        @api
        async def health(request: Request) -> HTTPResponse:
            await runtime_of(request).store.ping()
            return json({"status": "ok"})

        routes_customer.register(bp, context)
        routes_agent.register(bp, context)
        routes_metrics.register(bp, context)
        sockets.register(bp, context)
        routes_static.register(bp, context)
        return bp

    def get_output_channel(self) -> OutputChannel | None:
        """Lets Rasa push to a conversation later (e.g. through its HTTP API)."""
        return TranscriptOutputChannel(self._runtime.store) if self._runtime else None
