"""One shared, pipelined connection to a plain Redis for the store's Lua scripts.

Every coroutine of a process writes its command on the same connection at once
and waits for its reply; Redis answers in order, so replies are matched to
waiters first-in first-out. Next to redis-py's pool (a connection checked out,
a timeout scheduled and a reply read per command), this costs a fraction of the
CPU per command, which is what an agent's claim or a customer's message spends
most of its time on. Blocking reads (the live feed) and Redis Cluster stay with
redis-py.

Failures are redis-py's exceptions, so callers handle both alike: a lost
connection fails every waiting command with ConnectionError (the next command
reconnects), a reply that does not come within `reply_timeout_s` fails them
with TimeoutError and drops the connection.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import hashlib
import time
from collections.abc import Awaitable
from typing import Any
from urllib.parse import unquote, urlparse

import hiredis
from redis.asyncio.connection import BaseParser
from redis.exceptions import ConnectionError, NoScriptError, RedisError, TimeoutError


@functools.lru_cache(maxsize=64)
def script_sha(source: str) -> str:
    return hashlib.sha1(source.encode()).hexdigest()


def pack_command(args: tuple[Any, ...]) -> bytes:
    """A command in the Redis protocol (RESP2): an array of bulk strings. hiredis
    packs it in C; anything but str, bytes, int or float (None, a bool) is a TypeError."""
    return hiredis.pack_command(args)  # type: ignore[no-any-return]


class _Connection(asyncio.Protocol):
    """The socket and the waiters for its replies, oldest first."""

    def __init__(self) -> None:
        self.reader = hiredis.Reader()
        self.waiters: collections.deque[tuple[asyncio.Future[Any], float]] = collections.deque()
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.unsent: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while self.waiters:
            try:
                reply = self.reader.gets()
            except hiredis.ProtocolError as garbled:
                self.fail(ConnectionError(f"Redis protocol error: {garbled}"))
                return
            if reply is False:
                return
            waiter, _ = self.waiters.popleft()
            if not waiter.done():  # a cancelled caller's reply is read and dropped
                if isinstance(reply, hiredis.ReplyError):
                    waiter.set_exception(BaseParser.parse_error(str(reply)))
                else:
                    waiter.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(ConnectionError(f"Connection to Redis lost: {exc!r}" if exc else "Redis closed the connection."))

    def fail(self, error: RedisError) -> None:
        """Closes the connection and fails every command still waiting."""
        self.closed = True
        if self.transport is not None:
            self.transport.abort()
        while self.waiters:
            waiter, _ = self.waiters.popleft()
            if not waiter.done():
                waiter.set_exception(error)

    def send(self, packed: bytes, at_once: bool = False) -> asyncio.Future[Any]:
        """Queues a command; the commands of one turn of the event loop leave in one write.
        `at_once` writes it now, after those queued before it: Redis answers while the
        caller's synchronous work goes on."""
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        if self.closed:  # lost while its caller waited for it to open: nothing would answer
            waiter.set_exception(ConnectionError("Connection to Redis lost."))
            return waiter
        self.waiters.append((waiter, time.monotonic()))
        if not self.unsent and not at_once:
            loop.call_soon(self.flush)
        self.unsent.append(packed)
        if at_once:
            self.flush()
        return waiter

    def flush(self) -> None:
        if not self.unsent:
            return  # written at once already
        if self.transport is not None and not self.closed:
            self.transport.write(b"".join(self.unsent))
        self.unsent.clear()


class PipelinedRedis:
    """Commands of all coroutines on one connection; see the module's docstring."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 6379,
        *,
        unix_path: str | None = None,
        db: int = 0,
        username: str | None = None,
        password: str | None = None,
        connect_timeout_s: float = 2.0,
        reply_timeout_s: float = 10.0,
    ) -> None:
        self.host, self.port, self.unix_path = host, port, unix_path
        self.db, self.username, self.password = db, username, password
        self.connect_timeout_s = connect_timeout_s
        self.reply_timeout_s = reply_timeout_s
        self._connection: _Connection | None = None
        self._opening: asyncio.Task[_Connection] | None = None
        self._closed = False
        self._watchdog: asyncio.TimerHandle | None = None

    @classmethod
    def from_url(cls, url: str, connect_timeout_s: float = 2.0, reply_timeout_s: float = 10.0) -> PipelinedRedis | None:
        """For `redis://` and `unix://` URLs; None for others (TLS stays with redis-py)."""
        parsed = urlparse(url)
        query = {name: unquote(value) for name, _, value in (p.partition("=") for p in parsed.query.split("&") if p)}
        username = unquote(parsed.username) if parsed.username else query.get("username")
        password = unquote(parsed.password) if parsed.password else query.get("password")
        if parsed.scheme == "redis":
            host, port, unix_path = parsed.hostname or "127.0.0.1", parsed.port or 6379, None
            db = int(parsed.path.lstrip("/") or query.get("db") or 0)
        elif parsed.scheme == "unix":
            host, port, unix_path = "", 0, parsed.path
            db = int(query.get("db") or 0)
        else:
            return None
        return cls(
            host,
            port,
            unix_path=unix_path,
            db=db,
            username=username,
            password=password,
            connect_timeout_s=connect_timeout_s,
            reply_timeout_s=reply_timeout_s,
        )

    async def execute(self, *args: Any) -> Any:
        """Sends one command and waits for its reply."""
        connection = self._connection
        if connection is None or connection.closed:
            connection = await self._connect()
        waiter = connection.send(pack_command(args))
        if self._watchdog is None:
            self._arm_watchdog(self.reply_timeout_s)
        return await waiter

    async def run_script(self, source: str, keys: list[str], args: list[Any]) -> Any:
        """EVALSHA, loading the script first if this Redis does not know it yet."""
        sha = script_sha(source)
        try:
            return await self.execute("EVALSHA", sha, len(keys), *keys, *args)
        except NoScriptError:
            await self.execute("SCRIPT", "LOAD", source)
            return await self.execute("EVALSHA", sha, len(keys), *keys, *args)

    def start_script(self, source: str, keys: list[str], args: list[Any]) -> Awaitable[Any]:
        """`run_script`, its EVALSHA written now rather than at the event loop's next
        turn: for a call in the middle of synchronous work (Rasa handling a message),
        whose reply Redis then makes while that work goes on. Await the result."""
        connection = self._connection
        if connection is None or connection.closed:
            return self.run_script(source, keys, args)  # connects first, when awaited
        waiter = connection.send(pack_command(("EVALSHA", script_sha(source), len(keys), *keys, *args)), at_once=True)
        if self._watchdog is None:
            self._arm_watchdog(self.reply_timeout_s)
        return self._script_reply(waiter, source, keys, args)

    async def _script_reply(self, waiter: asyncio.Future[Any], source: str, keys: list[str], args: list[Any]) -> Any:
        try:
            return await waiter
        except NoScriptError:
            return await self.run_script(source, keys, args)

    async def close(self) -> None:
        self._closed = True
        if self._opening is not None and not self._opening.done():
            self._opening.cancel()
            await asyncio.gather(self._opening, return_exceptions=True)
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if self._connection is not None:
            self._connection.fail(ConnectionError("The client closed the connection."))
            self._connection = None

    async def _connect(self) -> _Connection:
        """The live connection, or a new one. Callers that arrive while a connection is
        being made share that one attempt and its outcome."""
        if self._opening is None or self._opening.done():
            self._opening = asyncio.get_running_loop().create_task(self._open())
            # Its failure is its callers'; retrieved here too, for when all of them gave up.
            self._opening.add_done_callback(lambda attempt: attempt.cancelled() or attempt.exception())
        # Shielded: a caller that gives up (its request cancelled) leaves the attempt to the others.
        return await asyncio.shield(self._opening)

    async def _open(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            if self.unix_path:
                opening = loop.create_unix_connection(_Connection, self.unix_path)
            else:
                opening = loop.create_connection(_Connection, self.host, self.port)
            _, connection = await asyncio.wait_for(opening, self.connect_timeout_s)
        except (OSError, asyncio.TimeoutError) as failure:
            raise ConnectionError(f"Cannot connect to Redis: {failure!r}") from failure
        try:
            await asyncio.wait_for(self._prepare(connection), self.connect_timeout_s)
        except asyncio.TimeoutError as slow:
            connection.fail(TimeoutError("Redis did not answer the handshake."))
            raise TimeoutError("Redis did not answer the handshake.") from slow
        except BaseException:
            connection.fail(ConnectionError("Redis refused the handshake."))
            raise
        if self._closed:
            connection.fail(ConnectionError("The client closed the connection."))
            raise ConnectionError("The client closed the connection.")
        self._connection = connection
        return connection

    async def _prepare(self, connection: _Connection) -> None:
        if self.password:
            auth = ("AUTH", self.username, self.password) if self.username else ("AUTH", self.password)
            await connection.send(pack_command(auth))
        if self.db:
            await connection.send(pack_command(("SELECT", self.db)))

    def _arm_watchdog(self, delay_s: float) -> None:
        self._watchdog = asyncio.get_running_loop().call_later(delay_s, self._check_replies)

    def _check_replies(self) -> None:
        """Drops the connection when its oldest command waited too long for a reply."""
        self._watchdog = None
        connection = self._connection
        if connection is None or connection.closed or not connection.waiters:
            return
        waited = time.monotonic() - connection.waiters[0][1]
        if waited >= self.reply_timeout_s:
            connection.fail(TimeoutError(f"No reply from Redis within {self.reply_timeout_s} s."))
            return
        self._arm_watchdog(self.reply_timeout_s - waited)
