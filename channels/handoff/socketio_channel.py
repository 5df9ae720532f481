"""Human fallback for customers on Rasa's Socket.IO channel (the usual web widget).

Register `channels.handoff.socketio_channel.HandoffSocketIOInput` in credentials.yml
instead of `socketio` (same settings), beside the handoff channel. Customers keep
their widget; the handoff works as on the handoff channel: the handover message,
silence from the bot while humans have them, agent and system messages pushed
through Socket.IO, the bot-assigned message on release.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.socketio import SocketIOInput
from sanic import Blueprint, Sanic

from channels.handoff.channel_relay import ChannelMembers, Listeners, relay_feed
from channels.handoff.context import blueprint_with_handoff, runtime_of_app
from channels.handoff.service import OnNewMessage

logger = logging.getLogger(__name__)


class HandoffSocketIOInput(SocketIOInput):
    """Rasa's Socket.IO channel, with the handoff in front of the bot."""

    @classmethod
    def name(cls) -> str:
        return "socketio"

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        def build(handle: OnNewMessage) -> Blueprint:
            async def logged(message: UserMessage) -> None:
                try:
                    await handle(message)
                except Exception:
                    # python-socketio drops a handler's exception silently; say what happened.
                    logger.exception("socketio: the message of %s failed", message.sender_id)
                    raise

            return super(HandoffSocketIOInput, self).blueprint(logged)

        async def remember_customer(app: Sanic, message: UserMessage) -> None:
            await self.members(app).sadd(message.sender_id)

        bp = blueprint_with_handoff(build, on_new_message, remember_customer)
        self._fix_session_rooms()
        self._keep_message_order()
        self._count_connections()

        @bp.listener("after_server_start")
        async def start_relay(app: Sanic, _: Any) -> None:
            runtime = runtime_of_app(app)
            runtime.periodic.append(asyncio.get_running_loop().create_task(self.relay(app)))

        return bp

    def _fix_session_rooms(self) -> None:
        """Rasa 3.6 calls `sio.enter_room` without awaiting it, but python-socketio 5.x
        made it a coroutine: with `session_persistence` the customer never joins the
        session's room and misses every reply. This handler awaits it."""
        sio = self.sio
        assert sio is not None

        async def session_request(sid: str, data: dict[str, Any] | None) -> None:
            data = data or {}
            if not data.get("session_id"):
                data["session_id"] = uuid.uuid4().hex
            if self.session_persistence:
                entered = sio.enter_room(sid, data["session_id"], namespace=self.namespace)
                if inspect.isawaitable(entered):
                    await entered
            await sio.emit("session_confirm", data["session_id"], room=sid, namespace=self.namespace)

        sio.on("session_request", session_request, namespace=self.namespace)

    def _keep_message_order(self) -> None:
        """python-socketio runs each event in a task of its own, so two messages sent
        back to back could reach the bot (or the transcript) swapped. Each client's
        messages now wait for the one before: tickets are taken before the first await,
        in the order the tasks were created, which is the order they arrived."""
        sio = self.sio
        assert sio is not None
        handle_message = sio.handlers[self.namespace or "/"][self.user_message_evt]
        in_order = ArrivalOrder()

        async def user_uttered(sid: str, data: dict[str, Any]) -> None:
            async with in_order.turn(sid):
                await handle_message(sid, data)

        sio.on(self.user_message_evt, user_uttered, namespace=self.namespace)

    def _count_connections(self) -> None:
        """Counts this process's Socket.IO clients (`self.listeners`): the relay follows
        the live feed only while some are connected."""
        sio = self.sio
        assert sio is not None
        namespace = self.namespace or "/"
        self.listeners = Listeners()
        connect = sio.handlers[namespace].get("connect")
        disconnect = sio.handlers[namespace].get("disconnect")

        async def counted_connect(sid: str, environ: dict[str, Any], auth: dict[str, Any] | None = None) -> Any:
            accepted = await connect(sid, environ, auth) if connect is not None else True
            if accepted is not False:
                self.listeners.joined()
            return accepted

        async def counted_disconnect(sid: str, reason: Any = None) -> None:
            self.listeners.left()
            if disconnect is not None:
                await disconnect(sid)

        sio.on("connect", counted_connect, namespace=self.namespace)
        sio.on("disconnect", counted_disconnect, namespace=self.namespace)

    def holds_room(self, conversation_id: str) -> bool:
        """Whether a Socket.IO client of this process is in the conversation's room."""
        sio = self.sio
        assert sio is not None
        return conversation_id in sio.manager.rooms.get(self.namespace or "/", {})

    def members(self, app: Sanic) -> ChannelMembers:
        return ChannelMembers(runtime_of_app(app), self.name())

    async def relay(self, app: Sanic) -> None:
        """Pushes what agents (and the bot, outside a customer's request) say to the
        customer's Socket.IO room; every process does, the one holding the socket delivers."""
        sio = self.sio
        assert sio is not None

        async def emit(conversation_id: str, payload: dict[str, Any]) -> None:
            await sio.emit(self.bot_message_evt, payload, room=conversation_id, namespace=self.namespace)

        await relay_feed(runtime_of_app(app), self.name(), emit, listeners=self.listeners, here=self.holds_room)


class ArrivalOrder:
    """Runs the work of one key one at a time, in the order `turn` was called."""

    def __init__(self) -> None:
        self._last: dict[str, asyncio.Future[None]] = {}

    @contextlib.asynccontextmanager
    async def turn(self, key: str) -> AsyncIterator[None]:
        previous = self._last.get(key)
        mine: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._last[key] = mine
        try:
            if previous is not None:
                await asyncio.shield(previous)
            yield
        finally:
            mine.set_result(None)
            if self._last.get(key) is mine:
                del self._last[key]
