"""The live WebSockets for agents and customers.

Framing (JSON text frames), the same on both:
1. The client's first frame authenticates, within 10 s; tokens never travel in a URL:
   `{"type": "auth", "token": "<token>", "after": "<last id seen>" | null}`.
2. The server answers `{"type": "ready", ...}`, then replays everything after
   `after`, then pushes as things happen. Ids are sortable; a client keeps the
   last one it saw and sends it as `after` when it reconnects.
3. A client may send `{"type": "ping"}`; the server answers `{"type": "pong"}`.
Errors are `{"type": "error", "error": <code>, "message": ...}` followed by a close.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from redis.exceptions import RedisError
from sanic import Blueprint
from sanic.request import Request

from channels.handoff.auth import sender_of_customer_token, verify_agent_token
from channels.handoff.context import ChannelContext
from channels.handoff.errors import BadRequest, HandoffError, Unauthorized
from channels.handoff.feed import Subscription, stream_position
from channels.handoff.http import runtime_of
from channels.handoff.store import FeedEvent, HandoffStore, subscriber_key
from channels.handoff.validation import stream_id

logger = logging.getLogger(__name__)

AUTH_TIMEOUT_S = 10.0
MAX_FRAME_BYTES = 16 * 1024
CLOSE_POLICY = 4401
CLOSE_TOO_SLOW = 4408
CLOSE_UNAVAILABLE = 4503
PRESENCE_INTERVAL_S = 10.0
QUEUE_EVENTS = ("claimed", "released", "requeued")

Frame = dict[str, Any]


class HideTokenFrames(logging.Filter):
    """Sanic hands the WebSocket layer its error logger, which at DEBUG (e.g. Rasa's
    LOG_LEVEL_LIBRARIES=DEBUG) logs every frame, the start and end of an auth frame's
    token included. Frames that hold a token are logged without their content."""

    HIDDEN = "<a frame holding a token, not logged>"

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(map(holds_token, record.args)):
            record.args = tuple(self.HIDDEN if holds_token(arg) else arg for arg in record.args)
        return True


def holds_token(arg: Any) -> bool:
    data = getattr(arg, "data", None)  # a websockets Frame: the whole payload, not its shortened text
    return isinstance(data, (bytes, bytearray, memoryview)) and b"token" in bytes(data)


def hide_token_frames(logger_name: str = "sanic.error") -> None:
    logger = logging.getLogger(logger_name)
    if not any(isinstance(existing, HideTokenFrames) for existing in logger.filters):
        logger.addFilter(HideTokenFrames())


async def send_frame(ws: Any, frame: Frame) -> None:
    await ws.send(json.dumps(frame))


async def first_frame(ws: Any) -> Frame:
    """The client's auth frame, or a refusal."""
    try:
        raw = await asyncio.wait_for(ws.recv(), AUTH_TIMEOUT_S)
    except asyncio.TimeoutError as late:
        raise Unauthorized("auth_timeout", "Send the auth frame first.") from late
    if raw is None or len(raw) > MAX_FRAME_BYTES:
        raise BadRequest("invalid_frame", "The auth frame is missing or too large.")
    try:
        frame = json.loads(raw)
    except ValueError as bad:
        raise BadRequest("invalid_frame", "Frames are JSON objects.") from bad
    if not isinstance(frame, dict) or frame.get("type") != "auth" or not isinstance(frame.get("token"), str):
        raise BadRequest("invalid_frame", 'The first frame is {"type": "auth", "token": ..., "after": ...}.')
    after = frame.get("after")
    if after is not None and not isinstance(after, str):
        raise BadRequest("invalid_frame", "'after' must be an id string.")
    stream_id(after)
    return frame


async def answer_pings(ws: Any) -> None:
    """Reads client frames until the socket closes; answers pings."""
    while True:
        raw = await ws.recv()
        if raw is None:
            return
        if len(raw) > MAX_FRAME_BYTES:
            await ws.close(code=1009, reason="frame too large")
            return
        try:
            frame = json.loads(raw)
        except ValueError:
            continue
        if isinstance(frame, dict) and frame.get("type") == "ping":
            await send_frame(ws, {"type": "pong"})


async def feed_events(
    request: Request,
    ws: Any,
    after: str | None,
    backlog: Callable[[str], Awaitable[list[Any]]],
    position_of: Callable[[Any], str | None],
    live: Callable[[FeedEvent], Any | None],
    subscription: Subscription,
) -> AsyncIterator[Any]:
    """Items after `after` (from `backlog`), then live ones (from `subscription`, made
    before `after` was read), each once and in order. Items whose position is None
    (state notices) are passed through as they come. Ends the subscription."""
    runtime = runtime_of(request)
    try:
        last = after
        while last is not None:
            page = await backlog(last)
            for item in page:
                last = position_of(item) or last
                yield item
            if len(page) < 500:
                break
        while True:
            event = await subscription.get()
            if event is None:
                await ws.close(code=CLOSE_TOO_SLOW, reason="fell behind; reconnect with your last id")
                return
            item = live(event)
            if item is None:
                continue
            position = position_of(item)
            if position is not None:
                if last is not None and stream_position(position) <= stream_position(last):
                    continue
                last = position
            yield item
    finally:
        runtime.hub.unsubscribe(subscription)


async def serve(ws: Any, push: Awaitable[None]) -> None:
    """Runs the push loop beside the ping reader until either ends."""
    tasks = [asyncio.ensure_future(push), asyncio.ensure_future(answer_pings(ws))]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def refuse(ws: Any, error: HandoffError) -> None:
    await send_frame(ws, {"type": "error", **error.to_dict()})
    await ws.close(code=CLOSE_POLICY, reason=error.code)


def register(bp: Blueprint, context: ChannelContext) -> None:
    config = context.config
    hide_token_frames()

    @bp.websocket("/agent/ws")
    async def agent_socket(request: Request, ws: Any) -> None:
        store = runtime_of(request).store
        try:
            hello = await first_frame(ws)
            agent = verify_agent_token(config.jwt_secret, hello["token"])
            after = stream_id(hello.get("after"))
            oldest = await store.oldest_event_id()
            latest = await store.last_event_id()
            await send_frame(ws, {"type": "ready", "agent": agent.to_dict(), "last_event_id": latest})
            if after is not None and oldest is not None and stream_position(after) < stream_position(oldest):
                await send_frame(ws, {"type": "reset", "message": "Events were trimmed; reload the lists."})
            # Without `after`, the feed starts at the id the client was just told: nothing
            # that happens between this frame and the subscription is missed.
            after = after or latest
        except HandoffError as refused:
            await refuse(ws, refused)
            return
        except RedisError:
            await ws.close(code=CLOSE_UNAVAILABLE, reason="storage unavailable")
            return

        async def keep_present() -> None:
            while True:
                await store.touch_agent(agent.id, agent.name, agent.role)
                await asyncio.sleep(PRESENCE_INTERVAL_S)

        async def push() -> None:
            presence = asyncio.ensure_future(keep_present())
            try:
                await push_events()
            finally:
                presence.cancel()

        async def push_events() -> None:
            subscription = await runtime_of(request).hub.subscribe(key=subscriber_key("agent", agent.id))
            events = feed_events(request, ws, after, store.events_after, lambda e: e.id, lambda e: e, subscription)
            async for event in events:
                await ws.send(event.agent_frame)  # encoded once for every agent socket of the process

        await serve(ws, push())

    @bp.websocket("/customer/ws")
    async def customer_socket(request: Request, ws: Any) -> None:
        runtime = runtime_of(request)
        store: HandoffStore = runtime.store
        try:
            hello = await first_frame(ws)
            sender = sender_of_customer_token(hello["token"])
            await store.verify_customer(sender, hello["token"])
            after = stream_id(hello.get("after"))
            conversation = await store.require_conversation(sender)
        except HandoffError as refused:
            await refuse(ws, refused)
            return
        except RedisError:
            await ws.close(code=CLOSE_UNAVAILABLE, reason="storage unavailable")
            return

        def to_customer(event: FeedEvent) -> Frame | None:
            if event.conversation_id != sender:
                # Someone else's queue move may move this customer up.
                return {"type": "queue"} if event.type in QUEUE_EVENTS else None
            if event.type == "message" and event.data["from"] != "customer":
                return {"type": "message", "message": event.data}
            if event.type in ("waiting", "claimed", "released", "requeued", "transferred"):
                # State changes carry the feed's id; messages carry their own.
                return {"type": "state", "state": event.data.get("state"), "event": event.type}
            return None

        def concerns_customer(event: FeedEvent) -> bool:
            """The events `to_customer` may turn into a frame: the hub wakes this socket for no other."""
            return event.conversation_id == sender or event.type in QUEUE_EVENTS

        async def backlog(last: str) -> list[Frame]:
            found = await store.customer_messages(sender, last, limit=10_000)
            return [{"type": "message", "message": m.to_dict()} for m in found]

        def message_position(frame: Frame) -> str | None:
            return str(frame["message"]["id"]) if frame["type"] == "message" else None

        async def push() -> None:
            position = await store.waiting_position(sender)
            if position is not None:
                await send_frame(ws, {"type": "queue", "position": position})
            frames = feed_events(request, ws, after, backlog, message_position, to_customer, subscription)
            async for frame in frames:
                if frame["type"] == "queue":
                    if position is None:
                        continue  # not waiting: others' queue moves do not concern this customer
                    now = await store.waiting_position(sender)
                    if now is None or now == position:
                        continue
                    position = frame["position"] = now
                await send_frame(ws, frame)
                if frame["type"] == "state":
                    position = await store.waiting_position(sender)
                    if position is not None:
                        await send_frame(ws, {"type": "queue", "position": position})

        # Subscribed before "ready": whatever happens once the client has heard it reaches
        # the client (without `after` there is no backlog to read).
        subscription = await runtime.hub.subscribe(concerns_customer, subscriber_key("conversation", sender))
        try:
            await send_frame(ws, {"type": "ready", "sender": sender, "state": conversation.state})
            await serve(ws, push())
        finally:
            runtime.hub.unsubscribe(subscription)
