"""The bench's lean HTTP client (bench/rawhttp.py) against a real socket server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bench.rawhttp import HttpConnection


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")), 0
    )
    return head, await reader.readexactly(length)


Served = tuple[int, list[tuple[bytes, bytes]], list[int]]  # port, requests seen, connections opened


@pytest.fixture
async def server() -> AsyncIterator[Served]:
    """Answers each request with its body echoed, in three separate writes; a request
    whose body is b"bye" gets `Connection: close` and the connection is closed."""
    seen: list[tuple[bytes, bytes]] = []
    connections: list[int] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(len(connections))
        try:
            while True:
                head, body = await read_request(reader)
                seen.append((head, body))
                closing = body == b"bye"
                answer = b"echo:" + body
                extra = b"Connection: close\r\n" if closing else b""
                writer.write(b"HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\n" + extra)
                await writer.drain()
                await asyncio.sleep(0.01)  # the head and body arrive apart
                writer.write(b"Content-Length: %d\r\n\r\n" % len(answer) + answer[:3])
                await writer.drain()
                await asyncio.sleep(0.01)
                writer.write(answer[3:])
                await writer.drain()
                if closing:
                    writer.close()
                    return
        except asyncio.IncompleteReadError:
            writer.close()

    listening = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    yield port, seen, connections
    listening.close()
    await listening.wait_closed()


async def test_answers_split_over_writes_are_read_whole_on_one_kept_connection(server: Served) -> None:
    port, seen, connections = server
    http = HttpConnection("127.0.0.1", port)
    first = await http.request("POST", "/a", {"Authorization": "Bearer t"}, b"one")
    second = await http.request("POST", "/b", None, b"two")
    assert first == (201, b"echo:one") and second == (201, b"echo:two")
    assert len(connections) == 1
    assert seen[0][0].startswith(b"POST /a HTTP/1.1\r\n") and b"Authorization: Bearer t\r\n" in seen[0][0]
    http.close()


async def test_a_closed_connection_is_opened_again_for_the_next_request(server: Served) -> None:
    port, seen, connections = server
    http = HttpConnection("127.0.0.1", port)
    assert await http.request("POST", "/", None, b"bye") == (201, b"echo:bye")
    assert await http.request("POST", "/", None, b'{"n": 1}') == (201, b'echo:{"n": 1}')
    assert len(connections) == 2
    assert [body for _, body in seen] == [b"bye", b'{"n": 1}']
    http.close()
