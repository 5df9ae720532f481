"""Handoff analytics: what happened on the live feed, counted once, kept in Redis.

Every state change and message is already an event on one Redis stream (the
agents' live feed, `KeySpace.events`). Each server process runs an `Analytics`
task that follows the stream and folds new events into counters, histogram
buckets and per-day figures in Redis, so every process serves the same numbers.

Each event is counted exactly once, in stream order, however many processes
run: the id of the last counted event (the cursor) lives in Redis. A process
reads the cursor and the events after it, works out what they add, and hands
that to one Lua script (lua/count_events.lua) that applies it and moves the
cursor only if the cursor has not moved meanwhile. When another process counted
first, nothing is applied and the process starts again from the new cursor; a
process that dies half-way has written nothing. (A consumer group would hand the
events to several consumers at once, in no guaranteed order; figures that depend
on what came before, such as who had a conversation when its customer wrote or
when an agent joined, need the events in order. A Lua script rather than
WATCH/MULTI, because every key carries the bot's hash tag: it works on a Redis
Cluster too.)

The counter runs beside the bot on the same event loop, where a Redis round trip
costs more than the counting it carries: it counts in batches, at most one a
second (the figures trail the feed by about that much), and keeps the lease and
the cursor it last applied in memory, so a batch takes three round trips (events,
open handoffs, apply) whatever its size, and a fourth that waits for the next event
only when the batch found none (a busy feed is not waited on). It reads of each
event only what it counts.

What the feed cannot tell is read when the figures are asked for: the queue
length, the longest wait now and the number of stored training examples.
Training examples added and exported are counted by `record_training` (the HTTP
routes call it through a response hook, the export-training command itself).

No Sanic here: `routes_metrics.py` serves the figures.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import socket
import statistics
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, NamedTuple, cast

import ujson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from channels.handoff.follower import FollowerTask
from channels.handoff.keys import KeySpace
from channels.handoff.store import HandoffStore, now_ms

logger = logging.getLogger(__name__)

# Handoff reasons as the metrics name them; anything else is "other".
REASONS = {
    "nlu_fallback": "fallback",
    "request_human": "request_human",
    "takeover": "takeover",
    "recovered": "recovered",
}
REASON_LABELS = ("fallback", "request_human", "takeover", "recovered", "other")
# Histogram upper bounds, in seconds.
TIME_TO_CLAIM_BUCKETS = (5, 15, 30, 60, 120, 300, 600, 1800, 3600)
HANDLING_TIME_BUCKETS = (30, 60, 120, 300, 600, 1200, 1800, 3600, 7200)
HISTOGRAMS = {"time_to_claim": TIME_TO_CLAIM_BUCKETS, "handling_time": HANDLING_TIME_BUCKETS}
# Each histogram's counter names, made once: (count, sum, ((upper bound ms, bucket), ...)).
HISTOGRAM_COUNTERS = {
    name: (f"{name}:count", f"{name}:sum_ms", tuple((bound * 1000, f"{name}:le:{bound}") for bound in bounds))
    for name, bounds in HISTOGRAMS.items()
}
DAY_TTL_S = 40 * 86_400
TOP_FALLBACKS_KEPT = 500
TOP_TRIM_SLACK = 50
MAX_KEY_CHARS = 300
TRAINING_FIELDS = ("training_examples:added", "training_examples:exported")


DAY_MS = 86_400_000


def utc_day(at_ms: int) -> str:
    return _day_of(at_ms // DAY_MS)


@functools.lru_cache(maxsize=8)
def _day_of(day_number: int) -> str:
    """The UTC date of a day counted from the epoch (every event of a batch shares one or two)."""
    return datetime.fromtimestamp(day_number * DAY_MS / 1000, tz=timezone.utc).date().isoformat()


def event_time(entry_id: str) -> int:
    """The milliseconds part of a stream id: when Redis appended the event."""
    return int(entry_id.partition("-")[0])


def reason_label(reason: Any) -> str:
    return REASONS.get(str(reason or ""), "other")


def normalize_text(text: str) -> str:
    """Groups customer texts that differ only in case, spacing or end punctuation."""
    folded = " ".join(text.casefold().split()).strip(" .,!?;:…¿¡")
    return folded[:MAX_KEY_CHARS]


def cause_label(cause: Any) -> str:
    text = str(cause or "")
    ok = 0 < len(text) <= 32 and all(c.isascii() and (c.isalnum() or c == "_") for c in text)
    return text.lower() if ok else "other"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _number(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class OpenHandoff:
    """Where a conversation's handoff stands: waiting since, or with agents since.
    Conversations with the bot have none."""

    state: str  # "waiting" or "assigned"
    queued_at: int | None = None
    claimed_at: int | None = None

    def to_json(self) -> str:
        return ujson.dumps({"state": self.state, "queued_at": self.queued_at, "claimed_at": self.claimed_at})

    @classmethod
    def from_json(cls, raw: Any) -> OpenHandoff | None:
        if raw is None:
            return None
        try:
            values = ujson.loads(raw)
            return cls(str(values["state"]), _number(values.get("queued_at")), _number(values.get("claimed_at")))
        except (ValueError, KeyError, TypeError):
            return None


@dataclass(frozen=True)
class FallbackText:
    """A customer message that made the bot give up (the last one before the handoff)."""

    key: str
    text: str
    conversation: str
    at: int


@dataclass
class Tally:
    """What a run of events adds to the figures. Pure: no Redis."""

    known: Mapping[str, OpenHandoff | None]
    counters: Counter[str] = field(default_factory=Counter)
    days: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    waits: defaultdict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    fallbacks: list[FallbackText] = field(default_factory=list)
    open: dict[str, OpenHandoff | None] = field(default_factory=dict)

    def handoff_of(self, conversation: str) -> OpenHandoff | None:
        if conversation in self.open:
            return self.open[conversation]
        return self.known.get(conversation)

    def count(self, name: str, day: str, amount: int = 1) -> None:
        self.counters[name] += amount
        self.days[day][name] += amount

    def observe(self, histogram: str, value_ms: int) -> None:
        value_ms = max(0, value_ms)
        count, total, buckets = HISTOGRAM_COUNTERS[histogram]
        counters = self.counters
        counters[count] += 1
        counters[total] += value_ms
        for bound_ms, bucket in buckets:
            if value_ms <= bound_ms:
                counters[bucket] += 1

    def add(self, event: CountedEvent) -> None:
        at = event_time(event.id)
        day = utc_day(at)
        conversation = event.conversation_id
        data = event.data
        current = self.handoff_of(conversation)
        self.counters["events"] += 1
        if event.type == "message":
            author = data.get("from")
            if author == "customer":
                self.count("customer_messages:bot" if current is None else "customer_messages:human", day)
            elif author in ("bot", "agent"):
                self.count(f"{author}_messages", day)
        elif event.type == "waiting":
            reason = reason_label(data.get("reason"))
            self.count("handoffs", day)
            self.count(f"handoffs:{reason}", day)
            self.open[conversation] = OpenHandoff("waiting", _number(data.get("waiting_since")) or at)
            text = data.get("last_message")
            if reason == "fallback" and isinstance(text, str) and normalize_text(text):
                self.fallbacks.append(FallbackText(normalize_text(text), text, conversation, at))
        elif event.type == "claimed":
            claimed_at = _number(data.get("claimed_at")) or at
            if data.get("reason") == "takeover" and (current is None or current.state != "waiting"):
                # An agent took the conversation straight from the bot: a handoff, not a claim.
                self.count("handoffs", day)
                self.count("handoffs:takeover", day)
                self.open[conversation] = OpenHandoff("assigned", None, claimed_at)
                return
            self.count("claims", day)
            queued_at = current.queued_at if current is not None else _number(data.get("waiting_since"))
            if queued_at is not None:
                self.observe("time_to_claim", claimed_at - queued_at)
                self.waits[day].append(max(0, claimed_at - queued_at))
            self.open[conversation] = OpenHandoff("assigned", queued_at, claimed_at)
        elif event.type == "transferred":
            # Another agent now: the customer's time with people goes on.
            self.count("transfers", day)
            since = current.claimed_at if current is not None else None
            self.open[conversation] = OpenHandoff("assigned", None, since or _number(data.get("claimed_at")) or at)
        elif event.type == "requeued":
            # Back in the queue: the next claim's wait counts from now.
            self.count("requeues", day)
            self.open[conversation] = OpenHandoff("waiting", at)
        elif event.type == "released":
            released_at = _number(data.get("released_at")) or at
            if data.get("abandoned") is True or (current is not None and current.state == "waiting"):
                # Back to the bot without ever reaching an agent.
                self.count("abandoned", day)
                self.count(f"abandoned:{cause_label(data.get('cause'))}", day)
            else:
                self.count("releases", day)
                if current is not None and current.claimed_at is not None:
                    self.observe("handling_time", released_at - current.claimed_at)
            self.open[conversation] = None


class CountedEvent(NamedTuple):
    """A feed event as far as the counting reads it: its data as stored (a message's
    too, not made a `Message`: `FeedEvent.from_stream` costs the server's event loop
    several times as much per event)."""

    id: str
    type: str
    conversation_id: str
    data: dict[str, Any]


def parse_events(entries: Iterable[tuple[Any, dict[Any, Any]]]) -> list[CountedEvent]:
    """The events of stream entries; an entry that is not one is skipped."""
    events = []
    for entry_id, fields in entries:
        try:
            kind, conversation = _text(_field(fields, b"type")), _text(_field(fields, b"conv"))
            data = ujson.loads(_field(fields, b"data"))
            if type(data) is not dict:
                raise TypeError("data is not an object")
            if kind == "message" and type(data.get("from")) is not str:
                raise KeyError("from")
        except (ValueError, KeyError, TypeError) as bad:
            logger.warning("analytics: skipping feed entry %s (%r)", _text(entry_id), bad)
            continue
        events.append(CountedEvent(_text(entry_id), kind, conversation, data))
    return events


def _field(fields: dict[Any, Any], name: bytes) -> Any:
    """A stream entry's field, from a client that does not decode replies or one that does."""
    value = fields.get(name)
    return fields[name.decode()] if value is None else value


@dataclass(frozen=True)
class Histogram:
    """A fixed-bucket histogram: cumulative counts per upper bound (seconds)."""

    buckets: tuple[tuple[float, int], ...]
    count: int
    sum_s: float

    @property
    def mean_s(self) -> float | None:
        return round(self.sum_s / self.count, 3) if self.count else None


@dataclass(frozen=True)
class Snapshot:
    """Every figure at one moment: the counters, today's, and the live queue."""

    at: int
    totals: dict[str, int]
    queue_length: int
    oldest_waiting_since: int | None
    training_examples: int
    day: str
    today: dict[str, int]
    today_waits_ms: list[int]
    top_fallbacks: list[dict[str, Any]]

    @staticmethod
    def by_reason(counters: Mapping[str, int]) -> dict[str, int]:
        return {reason: counters.get(f"handoffs:{reason}", 0) for reason in REASON_LABELS}

    @staticmethod
    def fallback_rate(counters: Mapping[str, int]) -> float | None:
        """Fallback handoffs per customer message the bot handled."""
        messages = counters.get("customer_messages:bot", 0)
        return round(counters.get("handoffs:fallback", 0) / messages, 4) if messages else None

    @property
    def median_wait_s(self) -> float | None:
        return round(statistics.median(self.today_waits_ms) / 1000, 3) if self.today_waits_ms else None

    @property
    def longest_wait_s(self) -> float | None:
        return round(max(0, self.at - self.oldest_waiting_since) / 1000, 3) if self.oldest_waiting_since else None

    def histogram(self, name: str) -> Histogram:
        totals = self.totals
        buckets = tuple((float(b), totals.get(f"{name}:le:{b}", 0)) for b in HISTOGRAMS[name])
        return Histogram(buckets, totals.get(f"{name}:count", 0), totals.get(f"{name}:sum_ms", 0) / 1000)

    def abandoned_by_cause(self) -> dict[str, int]:
        return {name.split(":", 1)[1]: n for name, n in sorted(self.totals.items()) if name.startswith("abandoned:")}

    def to_dict(self) -> dict[str, Any]:
        totals, today = self.totals, self.today
        claim, handling = self.histogram("time_to_claim"), self.histogram("handling_time")
        return {
            "generated_at": self.at,
            "today": {
                "date": self.day,
                "handoffs": today.get("handoffs", 0),
                "by_reason": self.by_reason(today),
                "claims": today.get("claims", 0),
                "releases": today.get("releases", 0),
                "abandoned": today.get("abandoned", 0),
                "customer_messages_to_bot": today.get("customer_messages:bot", 0),
                "fallback_rate": self.fallback_rate(today),
                "median_wait_s": self.median_wait_s,
            },
            "queue": {
                "length": self.queue_length,
                "oldest_waiting_since": self.oldest_waiting_since,
                "longest_wait_s": self.longest_wait_s,
            },
            "totals": {
                "handoffs": totals.get("handoffs", 0),
                "by_reason": self.by_reason(totals),
                "claims": totals.get("claims", 0),
                "releases": totals.get("releases", 0),
                "abandoned": totals.get("abandoned", 0),
                "abandoned_by_cause": self.abandoned_by_cause(),
                "requeues": totals.get("requeues", 0),
                "transfers": totals.get("transfers", 0),
                "customer_messages": {
                    "bot": totals.get("customer_messages:bot", 0),
                    "human": totals.get("customer_messages:human", 0),
                },
                "bot_messages": totals.get("bot_messages", 0),
                "agent_messages": totals.get("agent_messages", 0),
                "fallback_rate": self.fallback_rate(totals),
                "time_to_claim": {"count": claim.count, "mean_s": claim.mean_s},
                "handling_time": {"count": handling.count, "mean_s": handling.mean_s},
                "events_counted": totals.get("events", 0),
            },
            "training_examples": {
                "stored": self.training_examples,
                "added": totals.get("training_examples:added", 0),
                "exported": totals.get("training_examples:exported", 0),
            },
            "top_fallbacks": self.top_fallbacks,
        }


class Analytics:
    """Counts the feed into Redis (one task per process) and reads the figures."""

    def __init__(
        self,
        store: HandoffStore,
        block_ms: int = 1000,
        retry_s: float = 0.5,
        batch: int = 500,
        top_kept: int = TOP_FALLBACKS_KEPT,
        linger_s: float = 1.0,
        lease_ms: int = 5000,
    ) -> None:
        self.store = store
        self.linger_s = linger_s
        self.lease_ms = lease_ms
        self.identity = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        # The command API of both clients the store may hold (Redis, RedisCluster).
        self.redis = cast(Redis, store.redis)
        self.keys: KeySpace = store.keys
        self.block_ms = block_ms
        self.retry_s = retry_s
        self.batch = batch
        self.top_kept = top_kept
        self._follower = FollowerTask(self._follow)
        self._lease_sure_until = 0.0  # monotonic time until which the lease is surely this process's
        self._cursor: str | None = None  # the counted cursor as this process last applied it

    # -- the counting task -------------------------------------------------------

    def start(self) -> None:
        self._follower.start()

    async def stop(self) -> None:
        self._lease_sure_until, self._cursor = 0.0, None
        if await self._follower.stop():
            try:  # hand the lease on at once rather than when it runs out
                if _text(await self.redis.get(self.keys.stats_leader) or b"") == self.identity:
                    await self.redis.delete(self.keys.stats_leader)
            except RedisError:
                pass

    async def leading(self) -> bool:
        """True while this process holds the counting lease. One process counts at a
        time (each batch is also applied only once, so a brief second counter is
        harmless); when it stops, another takes over within `lease_ms`. The lease is
        renewed once half of it has run, not on every batch: each Redis round trip
        costs the server's event loop far more than the work it carries."""
        asked = time.monotonic()
        if asked < self._lease_sure_until:
            return True
        key = self.keys.stats_leader
        if not await self.redis.set(key, self.identity, nx=True, px=self.lease_ms):
            if _text(await self.redis.get(key) or b"") != self.identity:
                self._lease_sure_until = 0.0
                return False
            await self.redis.pexpire(key, self.lease_ms)
        self._lease_sure_until = asked + self.lease_ms / 2000
        return True

    async def _follow(self) -> None:
        while not self._follower.stopping:
            try:
                if not await self.leading():
                    await asyncio.sleep(self.lease_ms / 2000)  # another process counts
                    continue
                before = self._cursor
                cursor = await self.catch_up()
                if cursor == before:
                    # Nothing came: sleeps until an event arrives after the cursor (or the
                    # stream appears). A busy feed skips this round trip.
                    await self.redis.xread({self.keys.events: cursor}, count=1, block=self.block_ms)
                # Then lets a busy feed gather for a while: one batch counts them all. Counted
                # one by one, each event cost the server ~5 Redis round trips on its event loop.
                await asyncio.sleep(self.linger_s)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as failure:
                logger.warning("analytics: Redis unavailable (%s); retrying", failure)
                await asyncio.sleep(self.retry_s)
            except Exception:
                logger.exception("analytics: counting failed; retrying")
                await asyncio.sleep(self.retry_s)

    async def catch_up(self) -> str:
        """Counts every event not counted yet (by any process); returns the cursor."""
        while True:
            done, cursor = await self.count_batch()
            if done:
                return cursor

    async def count_batch(self) -> tuple[bool, str]:
        """Counts up to `batch` events after the cursor, atomically with moving it.
        Returns (nothing left to count, cursor)."""
        k = self.keys
        cursor = self._cursor
        if cursor is None:
            stored = await self.redis.get(k.stats_cursor)
            cursor = _text(stored) if stored is not None else "0-0"
        entries = await self.store.event_entries_after(cursor, self.batch)
        if not entries:
            self._cursor = cursor  # as stored: kept like one applied (a stale one fails to apply)
            return True, cursor
        last = _text(entries[-1][0])
        events = parse_events(entries)
        conversations = sorted({e.conversation_id for e in events})
        known: dict[str, OpenHandoff | None] = {}
        if conversations:
            raws = await self.redis.hmget(k.stats_open, conversations)
            known = {c: OpenHandoff.from_json(raw) for c, raw in zip(conversations, raws, strict=True)}
        tally = Tally(known)
        for event in events:
            tally.add(event)
        trimmed = await self._trimmed_fallbacks(tally)
        keys, payload = self._changes(tally, trimmed, cursor, last)
        if not await self.store.apply_counted(keys, ujson.dumps(payload)):
            self._cursor = None  # another process counted these first: read where it got to
            return False, cursor
        self._cursor = last
        return len(entries) < self.batch, last

    async def _trimmed_fallbacks(self, tally: Tally) -> list[str]:
        """The rarest fallback texts to forget, keeping about `top_kept`."""
        if not tally.fallbacks:
            return []
        size = int(await self.redis.zcard(self.keys.stats_fallback_texts))
        if size < self.top_kept + TOP_TRIM_SLACK:
            return []
        rarest = await self.redis.zrange(self.keys.stats_fallback_texts, 0, size - self.top_kept - 1)
        fresh = {f.key for f in tally.fallbacks}
        return [m for m in (_text(r) for r in rarest) if m not in fresh]

    def _changes(self, tally: Tally, trimmed: list[str], cursor: str, last: str) -> tuple[list[str], dict[str, Any]]:
        """The keys and the JSON argument of lua/count_events.lua (numbers as strings)."""
        k = self.keys
        keys = [k.stats_cursor, k.stats, k.stats_open, k.stats_fallback_texts, k.stats_fallback_latest]

        def key_index(key: str) -> str:
            keys.append(key)
            return str(len(keys))  # Lua counts from 1

        days = [
            [key_index(k.stats_day(day)), {name: str(n) for name, n in counts.items() if n}]
            for day, counts in tally.days.items()
        ]
        waits = [
            [key_index(k.stats_day_waits(day)), [str(ms) for ms in ms_list]] for day, ms_list in tally.waits.items()
        ]
        payload = {
            "expect": cursor,
            "last": last,
            "ttl": str(DAY_TTL_S),
            "counters": {name: str(n) for name, n in tally.counters.items() if n},
            "days": days,
            "waits": waits,
            "trim": trimmed,
            "fallbacks": [
                [f.key, json.dumps({"text": f.text, "conversation": f.conversation, "at": f.at})]
                for f in tally.fallbacks
            ],
            "open_set": {c: h.to_json() for c, h in tally.open.items() if h is not None},
            "open_del": [c for c, h in tally.open.items() if h is None],
        }
        return keys, payload

    async def caught_up(self) -> bool:
        """True when every event on the feed has been counted."""
        cursor = await self.redis.get(self.keys.stats_cursor)
        last = await self.store.last_event_id()
        return last == "0-0" or (cursor is not None and _text(cursor) == last)

    # -- what the feed does not carry ----------------------------------------------

    async def record_training(self, what: str) -> None:
        """Counts a training example added (`added`) or an export (`exported`)."""
        name = f"training_examples:{what}"
        if name not in TRAINING_FIELDS:
            raise ValueError(f"unknown training figure {what!r}")
        day = self.keys.stats_day(utc_day(now_ms()))
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hincrby(self.keys.stats, name, 1)
            pipe.hincrby(day, name, 1)
            pipe.expire(day, DAY_TTL_S)
            await pipe.execute()

    # -- reading -------------------------------------------------------------------

    async def snapshot(self, top: int = 10) -> Snapshot:
        """Every figure, the live ones read now (one round trip)."""
        k = self.keys
        at = now_ms()
        day = utc_day(at)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(k.stats)
            pipe.zcard(k.waiting)
            pipe.zrange(k.waiting, 0, 0, withscores=True)
            pipe.hlen(k.training_examples)
            pipe.hgetall(k.stats_day(day))
            pipe.lrange(k.stats_day_waits(day), 0, -1)
            pipe.zrevrange(k.stats_fallback_texts, 0, max(0, top - 1), withscores=True)
            totals, queue, oldest, examples, today, waits, ranked = await pipe.execute()
        top_fallbacks = await self._describe_fallbacks(ranked[:top] if top > 0 else [])
        return Snapshot(
            at=at,
            totals={_text(name): int(value) for name, value in totals.items()},
            queue_length=int(queue),
            oldest_waiting_since=int(oldest[0][1]) if oldest else None,
            training_examples=int(examples),
            day=day,
            today={_text(name): int(value) for name, value in today.items()},
            today_waits_ms=[int(w) for w in waits],
            top_fallbacks=top_fallbacks,
        )

    async def _describe_fallbacks(self, ranked: list[tuple[Any, float]]) -> list[dict[str, Any]]:
        if not ranked:
            return []
        keys = [_text(member) for member, _ in ranked]
        latest = await self.redis.hmget(self.keys.stats_fallback_latest, keys)
        described = []
        for key, (_, score), raw in zip(keys, ranked, latest, strict=True):
            try:
                seen = json.loads(_text(raw)) if raw is not None else {}
            except ValueError:
                seen = {}
            described.append(
                {
                    "text": seen.get("text", key),
                    "normalized": key,
                    "count": int(score),
                    "conversation": seen.get("conversation"),
                    "at": seen.get("at"),
                }
            )
        return described
