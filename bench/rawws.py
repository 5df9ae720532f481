"""A lean WebSocket client for latency runs.

With 220 sockets in one client process, the `websockets` library wakes two tasks
per frame (its reader, then the waiting `recv`), so a frame timed on one socket
also waits for the frames other sockets received in the same instant: the client
would measure itself. Here frames are parsed where the bytes arrive and stamped
with the time they were read, as each agent's own browser would see them."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
import time
from collections.abc import Callable

OnFrame = Callable[[str, float], None]

TEXT, CLOSE, PING, PONG = 0x1, 0x8, 0x9, 0xA


def client_frame(opcode: int, payload: bytes) -> bytes:
    """A masked frame, as a client must send it (RFC 6455 §5.3)."""
    mask = os.urandom(4)
    size = len(payload)
    if size < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
    elif size < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
    repeated = (mask * (size // 4 + 1))[:size]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(size, "big")
    return head + mask + masked


class _Protocol(asyncio.Protocol):
    """The handshake's answer, then frames, parsed as they arrive."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.upgraded: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.on_frame: OnFrame = lambda text, at: None
        self.fragments: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        at = time.perf_counter()
        self.buffer += data
        if not self.upgraded.done():
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(self.buffer[: self.buffer.find(b"\r\n")])
            del self.buffer[: end + 4]
            if b" 101 " not in status:
                self.upgraded.set_exception(ConnectionError(f"no upgrade: {status!r}"))
                return
            self.upgraded.set_result(None)
        self._frames(at)

    def _frames(self, at: float) -> None:
        buffer = self.buffer
        while len(buffer) >= 2:
            first, second = buffer[0], buffer[1]
            size, offset = second & 0x7F, 2
            if size == 126:
                if len(buffer) < 4:
                    return
                size, offset = struct.unpack_from("!H", buffer, 2)[0], 4
            elif size == 127:
                if len(buffer) < 10:
                    return
                size, offset = struct.unpack_from("!Q", buffer, 2)[0], 10
            if len(buffer) < offset + size:
                return
            payload = bytes(buffer[offset : offset + size])
            del buffer[: offset + size]
            self._frame(first & 0x80 != 0, first & 0x0F, payload, at)

    def _frame(self, final: bool, opcode: int, payload: bytes, at: float) -> None:
        if opcode == PING:
            self.send(PONG, payload)
        elif opcode == CLOSE:
            self.send(CLOSE, payload[:2])
            if self.transport is not None:
                self.transport.close()
        elif opcode in (TEXT, 0x0):
            self.fragments.append(payload)
            if final:
                text = b"".join(self.fragments).decode()
                self.fragments.clear()
                self.on_frame(text, at)

    def send(self, opcode: int, payload: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(client_frame(opcode, payload))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.upgraded.done():
            self.upgraded.set_exception(ConnectionError("closed during the handshake"))
        if not self.closed.done():
            self.closed.set_result(None)


class RawSocket:
    """One WebSocket: `open` authenticates and returns the ready frame; later text
    frames go to `on_frame(text, arrival time)`."""

    def __init__(self, protocol: _Protocol, ready: dict[str, object]) -> None:
        self._protocol = protocol
        self.ready = ready

    @classmethod
    async def open(cls, host: str, port: int, path: str, token: str) -> RawSocket:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(_Protocol, host, port)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        assert protocol.transport is not None
        protocol.transport.write(request.encode())
        await asyncio.wait_for(protocol.upgraded, 10)
        first: asyncio.Future[str] = loop.create_future()

        def first_frame(text: str, at: float) -> None:
            if not first.done():
                first.set_result(text)

        protocol.on_frame = first_frame
        protocol.send(TEXT, json.dumps({"type": "auth", "token": token, "after": None}).encode())
        ready = json.loads(await asyncio.wait_for(first, 10))
        if ready.get("type") != "ready":
            raise ConnectionError(f"refused: {ready!r}")
        return cls(protocol, ready)

    def listen(self, on_frame: OnFrame) -> None:
        self._protocol.on_frame = on_frame

    async def close(self) -> None:
        self._protocol.send(CLOSE, struct.pack("!H", 1000))
        try:
            await asyncio.wait_for(asyncio.shield(self._protocol.closed), 2)
        except asyncio.TimeoutError:
            if self._protocol.transport is not None:
                self._protocol.transport.abort()
