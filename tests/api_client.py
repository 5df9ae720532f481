"""Small clients of the handoff API for tests: HTTP and the live WebSockets."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import aiohttp
from websockets.legacy.client import connect

Frame = dict[str, Any]


class ApiClient:
    """JSON over HTTP to one server's `/webhooks/handoff` prefix."""

    def __init__(self, base: str, session: aiohttp.ClientSession) -> None:
        self.base = base
        self.session = session

    async def request(
        self, method: str, path: str, body: Any = None, token: str | None = None, raw: bytes | None = None
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        if data is not None:
            headers["Content-Type"] = "application/json"
        async with self.session.request(method, self.base + path, data=data, headers=headers) as response:
            text = await response.text()
            try:
                return response.status, json.loads(text)
            except ValueError:
                return response.status, text

    async def say(self, sender: str, text: str, token: str | None = None, **extra: Any) -> tuple[int, Any]:
        return await self.request("POST", "/webhook", {"sender": sender, "message": text, **extra}, token)


class LiveSocket:
    """A client of the agent or customer WebSocket."""

    def __init__(self, connection: Any, ready: Frame) -> None:
        self.connection = connection
        self.ready = ready
        self.seen: list[Frame] = []

    @classmethod
    async def open(cls, url: str, token: str, after: str | None = None) -> LiveSocket:
        connection = await connect(url, max_size=2**20)
        await connection.send(json.dumps({"type": "auth", "token": token, "after": after}))
        ready = json.loads(await asyncio.wait_for(connection.recv(), 10))
        return cls(connection, ready)

    async def next(self, matches: Callable[[Frame], bool] = lambda f: True, timeout_s: float = 10) -> Frame:
        """The next frame that `matches`, skipping (but keeping) the others."""

        async def read() -> Frame:
            while True:
                frame: Frame = json.loads(await self.connection.recv())
                self.seen.append(frame)
                if matches(frame):
                    return frame

        return await asyncio.wait_for(read(), timeout_s)

    async def drain(self, quiet_s: float = 0.5) -> list[Frame]:
        """Every frame until none arrives for `quiet_s`."""
        frames = []
        while True:
            try:
                frames.append(await self.next(timeout_s=quiet_s))
            except asyncio.TimeoutError:
                return frames

    async def close(self) -> None:
        await self.connection.close()


def is_message(author: str, text: str | None = None) -> Callable[[Frame], bool]:
    """Matches a message frame (customer socket) or message event (agent socket)."""

    def matches(frame: Frame) -> bool:
        if frame.get("type") == "event":
            message = frame["data"] if frame.get("event") == "message" else None
        else:
            message = frame.get("message")
        if not message:
            return False
        return bool(message.get("from") == author and (text is None or message.get("text") == text))

    return matches
