"""A lean keep-alive HTTP/1.1 client for throughput runs.

aiohttp's client tops out near 5,000 requests/s on a 2-core machine, so it would
measure itself; this one is an asyncio protocol (no stream reader between the socket
and the parse) that reads only the status line and Content-Length."""

from __future__ import annotations

import asyncio
import json
from typing import Any

HEAD_END = b"\r\n\r\n"


class _Answers(asyncio.Protocol):
    """The socket of one connection and the answer it waits for."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes, bool]] | None = None
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self.answer()

    def answer(self) -> None:
        """Hands the waiter its answer once all of it is in."""
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        end = self.buffer.find(HEAD_END)
        if end < 0:
            return
        head = bytes(self.buffer[:end])
        length, keep_alive = 0, True
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            lowered = name.strip().lower()
            if lowered == b"content-length":
                length = int(value)
            elif lowered == b"connection" and value.strip().lower() == b"close":
                keep_alive = False
        start = end + len(HEAD_END)
        if len(self.buffer) < start + length:
            return
        body = bytes(self.buffer[start : start + length])
        del self.buffer[: start + length]
        waiter.set_result((int(head[9:12]), body, keep_alive))

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("the server closed the connection"))


class HttpConnection:
    """One persistent connection; requests on it go one at a time."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._answers: _Answers | None = None

    async def _connect(self) -> _Answers:
        if self._answers is None or self._answers.lost:
            loop = asyncio.get_running_loop()
            _, self._answers = await loop.create_connection(_Answers, self.host, self.port)
        return self._answers

    def _encode(self, method: str, path: str, headers: dict[str, str], body: bytes) -> bytes:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}", f"Content-Length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    async def request(
        self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> tuple[int, bytes]:
        """Status and body. Reconnects once if the server closed an idle connection."""
        raw = self._encode(method, path, headers or {}, body)
        for attempt in (1, 2):
            answers = await self._connect()
            assert answers.transport is not None
            answers.waiter = asyncio.get_running_loop().create_future()
            answers.transport.write(raw)
            answers.answer()  # in case bytes came ahead of the request (nothing should)
            try:
                status, payload, keep_alive = await answers.waiter
                break
            except ConnectionError:
                self.close()
                if attempt == 2:
                    raise
        if not keep_alive:
            self.close()
        return status, payload

    async def json(self, method: str, path: str, token: str | None = None, body: Any = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        data = b""
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        status, payload = await self.request(method, path, headers, data)
        return status, json.loads(payload) if payload else None

    def close(self) -> None:
        if self._answers is not None and self._answers.transport is not None:
            self._answers.transport.close()
        self._answers = None
