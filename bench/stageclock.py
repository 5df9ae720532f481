"""Where a bot message's time goes inside the Rasa server, per channel (bench only).

`StageClock`, while started, notes when Sanic read each request and when Rasa's handling
of its message (`Agent.handle_message`) began and ended: a few microseconds per request,
both channels alike. It is started only for the rounds it explains, so the other phases'
requests (the claims race, say) run Sanic and Rasa unwrapped.

`stages` turns the records into what target 1's p50 depends on: the time from reading a
request to Rasa taking the message up (the handoff channel's Redis round trip is there),
the gap between one message leaving Rasa and the next waiting one starting, and Rasa's
own handling."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.stats import median

_read_at: ContextVar[float | None] = ContextVar("bench_request_read_at", default=None)
QUEUED_WITHIN_S = 0.002  # read this soon after Rasa freed up: it arrived while Rasa was busy

Record = tuple[str, float, float, float, float]  # channel, request read, Rasa start, Rasa end, Rasa CPU


class StageClock:
    """The records of one Rasa process (its main thread), taken while started."""

    def __init__(self) -> None:
        self.records: list[Record] = []
        self._unwrapped: tuple[Callable[..., None], Callable[..., Any]] | None = None

    @property
    def started(self) -> bool:
        return self._unwrapped is not None

    def start(self) -> None:
        """Wraps Sanic's request and Rasa's message handling (once, however often called)."""
        from rasa.core.agent import Agent
        from sanic.request import Request

        if self._unwrapped is not None:
            return
        read_request: Callable[..., None] = Request.__init__
        handle: Callable[..., Any] = Agent.handle_message
        records = self.records

        def reading(request: Any, *args: Any, **kwargs: Any) -> None:
            read_request(request, *args, **kwargs)
            _read_at.set(time.perf_counter())  # the connection's task goes on to the handler

        async def timed(agent: Any, message: Any) -> Any:
            start, cpu = time.perf_counter(), time.thread_time()
            try:
                return await handle(agent, message)
            finally:
                read = _read_at.get()
                if read is not None and read <= start:
                    end = time.perf_counter()
                    records.append((message.input_channel or "?", read, start, end, time.thread_time() - cpu))

        self._unwrapped = (read_request, handle)
        Request.__init__ = reading  # type: ignore[method-assign,assignment]
        Agent.handle_message = timed  # type: ignore[method-assign]

    def stop(self) -> None:
        """Puts back what `start` wrapped; the records stay until `dump`."""
        from rasa.core.agent import Agent
        from sanic.request import Request

        if self._unwrapped is None:
            return
        Request.__init__, Agent.handle_message = self._unwrapped  # type: ignore[method-assign]
        self._unwrapped = None

    def dump(self, path: Path) -> None:
        """Writes the records so far and starts afresh."""
        taken, self.records[:] = list(self.records), []
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(taken))
        tmp.replace(path)


@dataclass(frozen=True)
class Stages:
    """Medians in milliseconds for one channel."""

    messages: int
    idle_before_rasa_ms: float  # request read -> Rasa, the server idle when it came
    idle_messages: int
    queued_gap_ms: float  # one message out of Rasa -> the next (which waited) in
    queued_messages: int
    rasa_ms: float  # Rasa's handling
    rasa_cpu_ms: float


def stages(records: Sequence[Sequence[Any]]) -> dict[str, Stages]:
    """Per channel, from records of one process sorted or not."""
    ordered = sorted(records, key=lambda r: r[2])
    idle: dict[str, list[float]] = {}
    queued: dict[str, list[float]] = {}
    handling: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}
    freed = float("-inf")  # when Rasa last finished a message
    for channel, read, start, end, used in ordered:
        if read - freed > QUEUED_WITHIN_S:
            idle.setdefault(channel, []).append(start - read)
        elif read >= freed:
            queued.setdefault(channel, []).append(start - freed)
        handling.setdefault(channel, []).append(end - start)
        cpu.setdefault(channel, []).append(used)
        freed = max(freed, end)
    return {
        channel: Stages(
            len(handling[channel]),
            median(idle.get(channel, [])) * 1000,
            len(idle.get(channel, [])),
            median(queued.get(channel, [])) * 1000,
            len(queued.get(channel, [])),
            median(handling[channel]) * 1000,
            median(cpu[channel]) * 1000,
        )
        for channel in handling
    }
