"""The handoff state in Redis: conversations, the Waiting queue, transcripts,
the agents' live feed and training examples.

Every state transition is one Lua script (atomic). This module knows nothing
of Sanic or Rasa: it takes plain values and raises `HandoffError`s.

It runs on a single Redis and on a Redis Cluster alike: every key of one bot
shares a hash tag (one slot), scripts get every key in KEYS, and nothing relies
on MULTI/EXEC or WATCH (redis-py's cluster pipelines have no transactions):
several writes that must land together are a Lua script too.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Literal, TypeAlias, cast

import ujson
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.commands.core import AsyncScript
from redis.exceptions import ResponseError

from channels.handoff.errors import Conflict, Forbidden, NotFound, TooManyRequests, Unauthorized
from channels.handoff.examples import TrainingExample
from channels.handoff.keys import KeySpace
from channels.handoff.redis_pipe import PipelinedRedis
from channels.handoff.settings import DeskSettings, StoredSettings

RedisClient: TypeAlias = Redis | RedisCluster
"""A single Redis or a Redis Cluster (`redis.asyncio`): the store works on both."""

State = Literal["bot", "waiting", "assigned"]
Author = Literal["customer", "bot", "agent", "system"]
VIEWS = ("waiting", "live", "mine", "all")
LIVE_WINDOW_MS = 30 * 60 * 1000


def now_ms() -> int:
    return int(time.time() * 1000)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _number(value: str | None) -> int | None:
    return int(value) if value else None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _json_object(value: dict[str, Any] | None) -> str:
    """A dict as JSON; the usual empty one without the encoder (every bot message has one)."""
    return json.dumps(value) if value else "{}"


def stream_id_after(after: str | None) -> str:
    """The exclusive lower bound for XRANGE after a message id."""
    return f"({after}" if after else "-"


@dataclass(frozen=True)
class Message:
    """One message of a transcript; `id` is its sortable stream id."""

    id: str
    author: Author
    text: str
    at: int
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "from": self.author, "text": self.text, "at": self.at, **self.data}

    @classmethod
    def from_stream(cls, entry_id: Any, fields: dict[Any, Any]) -> Message:
        values = {_text(k): _text(v) for k, v in fields.items()}
        return cls(
            id=_text(entry_id),
            author=values["from"],  # type: ignore[arg-type]
            text=values["text"],
            at=int(values.get("at", 0)),
            data=ujson.loads(values.get("data") or "{}"),
        )


@dataclass(frozen=True)
class Conversation:
    """A conversation's handoff state, as agents see it."""

    id: str
    state: State
    agent: str | None = None
    agent_name: str | None = None
    waiting_since: int | None = None
    claimed_at: int | None = None
    reason: str | None = None
    last_message: str | None = None
    last_message_at: int | None = None
    created_at: int | None = None
    updated_at: int | None = None
    handoffs: int = 0

    @classmethod
    def from_hash(cls, conversation_id: str, raw: dict[Any, Any]) -> Conversation | None:
        """From the conversation's Redis hash (bytes or str); None when it has no state."""
        return cls.from_fields(conversation_id, {_text(k): _text(v) for k, v in raw.items()})

    @classmethod
    def from_fields(cls, conversation_id: str, values: dict[str, str]) -> Conversation | None:
        """From the hash's fields already as text (a script's JSON summary): the agents'
        lists build 100 of these per page, so nothing is converted twice."""
        if "state" not in values:
            return None
        get = values.get
        return cls(
            id=conversation_id,
            state=values["state"],  # type: ignore[arg-type]
            agent=get("agent"),
            agent_name=get("agent_name"),
            waiting_since=_number(get("waiting_since")),
            claimed_at=_number(get("claimed_at")),
            reason=get("reason"),
            last_message=get("last_message"),
            last_message_at=_number(get("last_message_at")),
            created_at=_number(get("created_at")),
            updated_at=_number(get("updated_at")),
            handoffs=_number(get("handoffs")) or 0,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "state": self.state,
            "agent": self.agent,
            "agent_name": self.agent_name,
            "waiting_since": self.waiting_since,
            "claimed_at": self.claimed_at,
            "reason": self.reason,
            "last_message": self.last_message,
            "last_message_at": self.last_message_at,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "handoffs": self.handoffs,
        }


@dataclass(frozen=True)
class Quota:
    """A caller's request budget: at most `limit` requests a second (0: no limit)."""

    subject: str
    limit: int


NO_QUOTA = Quota("-", 0)  # no request budget to count against


@dataclass(frozen=True)
class Admission:
    """A customer request's credentials: the token it carries (None: none), the token
    to bind if it is the sender's first, and the caller's request budget."""

    token: str | None
    new_token: str
    quota: Quota


@dataclass(frozen=True)
class IncomingResult:
    """What happened to a customer message: the state it met, its id, and the
    action still owed to the bot side of a return to the bot (if any)."""

    state: State
    message_id: str
    resume_action: str | None
    issued_token: str | None = None  # bound to the sender by this message's admission
    desk: tuple[DeskSettings, int] | None = None  # for the bot, when asked: the desk and agents online

    @property
    def resume_pending(self) -> bool:
        return self.resume_action is not None


@dataclass(frozen=True)
class FeedEvent:
    """One event of the agents' live feed."""

    id: str
    type: str
    conversation_id: str
    data: dict[str, Any]
    for_agent: str | None = None  # the agent it is for above all (a customer's message: the assignee)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "event": self.type, "conversation": self.conversation_id, "data": self.data}

    @property
    def audience(self) -> tuple[str, ...]:
        """Who the event is for above all, as feed subscription keys: the conversation's
        customer and, for a customer's message, the agent who has the conversation."""
        conversation = subscriber_key("conversation", self.conversation_id)
        return (conversation, subscriber_key("agent", self.for_agent)) if self.for_agent else (conversation,)

    @functools.cached_property
    def agent_frame(self) -> str:
        """The event as the agents' WebSocket frame (JSON)."""
        return json.dumps({"type": "event", **self.to_dict()})

    @classmethod
    def from_stream(cls, entry_id: Any, fields: dict[Any, Any]) -> FeedEvent:
        values = {_text(k): _text(v) for k, v in fields.items()}
        data = ujson.loads(values["data"])
        if values["type"] == "message":
            data = message_from_event(data).to_dict()
        return cls(_text(entry_id), values["type"], values["conv"], data, values.get("agent"))


def _replies(result: list[Any]) -> list[Any]:
    """A script's reply with its strings decoded (nested lists kept as they are)."""
    return [r if isinstance(r, list) else _text(r) for r in result]


def _entries(reply: list[Any]) -> list[tuple[Any, dict[Any, Any]]]:
    """Stream entries as Redis sends them ([id, [field, value, ...]] each): (id, fields)."""
    return [(entry_id, dict(zip(flat[::2], flat[1::2], strict=True))) for entry_id, flat in reply]


async def _replies_of(reply: Awaitable[list[Any]]) -> list[Any]:
    return _replies(await reply)


def subscriber_key(kind: Literal["agent", "conversation"], name: str) -> str:
    """A live feed subscriber's key: an agent's sockets, or a conversation's customer's."""
    return f"{kind}:{name}"


def message_from_event(data: dict[str, Any]) -> Message:
    """The message a feed event of type `message` carries."""
    return Message(data["id"], data["from"], data["text"], int(data.get("at", 0)), data.get("data") or {})


# The functions a script uses besides _common.lua's (files under lua/, in order).
SCRIPT_LIBRARIES: dict[str, tuple[str, ...]] = {
    "customer_message": ("customer_message_step",),
    "customer_message_ticket": ("lock/ticket", "customer_message_step"),
    "bot_ticket": ("lock/ticket",),
    "bot_messages": ("bot_messages_step",),
    "bot_messages_release": ("lock/ticket", "bot_messages_step"),
}


def _load_script(name: str) -> str:
    folder = resources.files("channels.handoff") / "lua"
    parts = ("_common", *SCRIPT_LIBRARIES.get(name, ()), name)
    return "\n".join((folder / f"{part}.lua").read_text() for part in parts)


QueuedMessage: TypeAlias = tuple[Message, dict[str, Any]]  # a message to record, with its tracker metadata


@dataclass(frozen=True)
class RecordingBatch:
    """A conversation's recording list as read: the messages to record (with their
    tracker metadata) and the list's entries, to take off once recorded."""

    messages: list[QueuedMessage]
    entries: list[str]


RECORDERS = "recorders"  # the consumer group of the processes that record in trackers


class HandoffStore:
    """Atomic handoff state transitions and reads on one Redis (or one Redis Cluster)."""

    def __init__(
        self,
        redis: RedisClient,
        keys: KeySpace | None = None,
        feed_maxlen: int = 10_000,
        pipe: PipelinedRedis | None = None,
        feed_pipe: PipelinedRedis | None = None,
    ) -> None:
        """`pipe`, when given, runs the Lua scripts (the hot path) on one pipelined
        connection to the same Redis; `feed_pipe`, a connection of its own, waits for
        the live feed (a blocking read would hold up every command behind it);
        everything else goes through `redis`."""
        # The async RedisCluster answers every command the store sends, as Redis
        # does; types-redis 4.6 gives it none of them (its stub has a TODO for
        # AsyncRedisClusterCommands), so the checker sees one Redis.
        self.redis = cast(Redis, redis)
        self.keys = keys or KeySpace()
        self.feed_maxlen = feed_maxlen
        self.pipe = pipe
        self.feed_pipe = feed_pipe
        self._sources: dict[str, str] = {
            name: _load_script(name)
            for name in (
                "customer_message",
                "customer_message_ticket",
                "bot_ticket",
                "bot_messages",
                "bot_messages_release",
                "start_waiting",
                "claim",
                "agent_message",
                "release",
                "transfer",
                "takeover",
                "return_to_bot",
                "add_reading",
                "hash_update",
                "hash_compare_and_set",
                "conversations",
                "count_request",
                "conversation_page",
                "admit_customer",
                "forget_recorded",
                "forget_recorders",
                "count_events",
            )
        }
        self._stored_settings = StoredSettings()  # the desk's settings, parsed once per change
        self._scripts: dict[str, AsyncScript] = {
            name: self.redis.register_script(source) for name, source in self._sources.items()
        }

    async def _script(self, script: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """A Lua script's raw reply, through the pipelined connection when there is one."""
        if self.pipe is not None:
            return await self.pipe.run_script(self._sources[script], list(keys), [str(a) for a in args])
        return await self._scripts[script](keys=list(keys), args=[str(a) for a in args])

    async def _command(self, *args: Any) -> Any:
        """One command whose reply needs no conversion (a string, a number, nil), on
        the pipelined connection when there is one."""
        if self.pipe is not None:
            return await self.pipe.execute(*args)
        return await self.redis.execute_command(*args)

    async def _run(self, script: str, keys: Sequence[str], args: Sequence[Any]) -> list[Any]:
        return _replies(await self._script(script, keys, args))

    async def count_request(self, subject: str, second: int, ttl_s: int = 2) -> int:
        """Counts one request of `subject` in the window `second`; the window's count."""
        return int(await self._script("count_request", [self.keys.rate(subject, second)], [ttl_s]))

    async def ping(self) -> bool:
        return bool(await self.redis.ping())

    # -- customers -------------------------------------------------------------

    async def authenticate_customer(
        self, conversation_id: str, token: str | None, new_token: str, quota: Quota | None = None
    ) -> str | None:
        """Checks a customer's token; on a sender's first message binds `new_token`
        to it and returns it. Raises Unauthorized for a wrong or missing token. With a
        `quota`, a caller who owns the sender is counted against it (TooManyRequests
        beyond it): all in one round trip. (Tokens are kept and compared as SHA-256
        digests.)"""
        quota = quota or NO_QUOTA
        result = await self._run(
            "admit_customer",
            [self.keys.conversation(conversation_id), self.keys.rate(quota.subject, int(time.time()))],
            [hash_token(token) if token is not None else "", hash_token(new_token), quota.limit],
        )
        self._check_admission(result[0], quota)
        return new_token if result[1] == "1" else None

    @staticmethod
    def _check_admission(status: str, quota: Quota) -> None:
        """Raises the refusal an admission's status names (nothing for 'ok')."""
        if status == "missing_token":
            raise Unauthorized("missing_token", "This conversation needs its customer token (Authorization: Bearer).")
        if status == "invalid_token":
            raise Unauthorized("invalid_token", "The customer token does not match this conversation.")
        if status == "rate_limited":
            raise TooManyRequests.over(quota.limit)

    async def verify_customer(self, conversation_id: str, token: str) -> None:
        """Checks a customer's token without binding one (for reads)."""
        self._check_customer_token(await self._command("HGET", self.keys.conversation(conversation_id), "token"), token)

    @staticmethod
    def _check_customer_token(stored: Any, token: str | None) -> None:
        if token is None:
            raise Unauthorized("missing_token", "This conversation needs its customer token (Authorization: Bearer).")
        expected = _text(stored) if stored is not None else hash_token("")
        if stored is None or not hmac.compare_digest(expected, hash_token(token)):
            raise Unauthorized("invalid_token", "The customer token does not match this conversation.")

    async def receive_customer_message(
        self,
        conversation_id: str,
        text: str,
        data: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        admission: Admission | None = None,
        desk: DeskSettings | None = None,
    ) -> IncomingResult:
        """Stores a customer message; while a human has the conversation it is also
        queued for Rasa's tracker, with `metadata` (see `pending_recordings`). In the
        same step: with an `admission`, the request is let in first, as by
        `authenticate_customer` (the same refusals, nothing stored then); with `desk`
        (the defaults), a message for the bot comes with the desk settings and the number
        of agents online (connected within the grace period and not Away or Offline by
        choice, as `agents` reports them): what the bot's every answer needs."""
        keys, args = self.customer_message_step(conversation_id, text, data, metadata, admission, desk)
        return self.customer_message_result(await self._script("customer_message", keys, args), admission, desk)

    def customer_message_step(
        self,
        conversation_id: str,
        text: str,
        data: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        admission: Admission | None = None,
        desk: DeskSettings | None = None,
    ) -> tuple[list[str], list[str]]:
        """The keys and arguments of `receive_customer_message`'s step (lua/customer_message_step.lua)."""
        k = self.keys
        quota = admission.quota if admission is not None else NO_QUOTA
        keys = [
            *self._human_message_keys(conversation_id),
            k.rate(quota.subject, int(time.time())),
            k.settings,
            k.presence,
            k.agent_status,
        ]
        token = admission.token if admission is not None else None
        args = [
            conversation_id,
            text,
            _json_object(data),
            str(now_ms()),
            str(self.feed_maxlen),
            _json_object(metadata),
            "1" if admission is not None else "0",
            hash_token(token) if token is not None else "",
            hash_token(admission.new_token) if admission is not None else "",
            str(quota.limit),
            str(desk.offline_grace_s) if desk is not None else "",
        ]
        return keys, args

    def customer_message_result(
        self, result: Any, admission: Admission | None = None, desk: DeskSettings | None = None
    ) -> IncomingResult:
        """What the step's answer says (its refusals raised as errors)."""
        quota = admission.quota if admission is not None else NO_QUOTA
        status = _text(result[0])
        self._check_admission(status, quota)
        state, message_id, resume, issued = (_text(r) for r in result[1:5])
        issued_token = admission.new_token if admission is not None and issued == "1" else None
        read_desk = self._desk_of(result[5] or [], result[6], desk) if desk is not None and len(result) > 5 else None
        return IncomingResult(state, message_id, resume or None, issued_token, read_desk)  # type: ignore[arg-type]

    async def place_marker(self) -> str:
        """Leaves a key for a minute that no one else knows, and returns it: whoever
        finds it uses the same Redis and database."""
        key = f"{self.keys.base}marker:{secrets.token_hex(8)}"
        await self._command("SET", key, "1", "EX", 60)
        return key

    def script_source(self, script: str) -> str:
        """A script's whole Lua source, for a caller that runs it on a connection of its
        own (see ticket_step.py)."""
        return self._sources[script]

    def _human_message_keys(self, conversation_id: str) -> list[str]:
        """The keys a customer's or an agent's message touches: the conversation, its
        transcript, the feed, the index, and the queue for Rasa's tracker."""
        k = self.keys
        return [
            k.conversation(conversation_id),
            k.messages(conversation_id),
            k.events,
            k.all_conversations,
            k.recording(conversation_id),
            k.recordings,
        ]

    async def add_bot_messages(
        self, conversation_id: str, messages: Iterable[tuple[str, dict[str, Any]]], author: Author = "bot"
    ) -> list[str]:
        """Appends the bot's replies (text and extra fields) to the transcript."""
        keys, args = self._bot_messages_call(conversation_id, messages, author)
        if len(args) == 4:
            return []
        return await self._run("bot_messages", keys, args)

    def start_bot_message(self, conversation_id: str, text: str, extra: dict[str, Any]) -> Awaitable[list[str]]:
        """`add_bot_messages` for one reply, sent to Redis now (on the pipelined
        connection) though the caller does not yield: called while Rasa is still
        working on a message, the reply is stored meanwhile. Await the ids."""
        if self.pipe is None:
            return self.add_bot_messages(conversation_id, [(text, extra)])
        keys, args = self._bot_messages_call(conversation_id, [(text, extra)], "bot")
        return _replies_of(self.pipe.start_script(self._sources["bot_messages"], keys, [str(a) for a in args]))

    def bot_messages_step(
        self, conversation_id: str, messages: Iterable[tuple[str, dict[str, Any]]]
    ) -> tuple[list[str], list[str]]:
        """The keys and arguments of `add_bot_messages`'s step (lua/bot_messages_step.lua), for
        a caller that runs it with the return of Rasa's lock ticket (ticket_step.py)."""
        keys, args = self._bot_messages_call(conversation_id, messages, "bot")
        return keys, [str(a) for a in args]

    def _bot_messages_call(
        self, conversation_id: str, messages: Iterable[tuple[str, dict[str, Any]]], author: Author
    ) -> tuple[list[str], list[Any]]:
        """The keys and arguments of the `bot_messages` script."""
        args: list[Any] = [conversation_id, now_ms(), self.feed_maxlen, author]
        for text, extra in messages:
            args += [text, json.dumps(extra)]
        k = self.keys
        return [k.conversation(conversation_id), k.messages(conversation_id), k.events], args

    async def last_message_id(self, conversation_id: str) -> str:
        """The id of a transcript's latest message ("0-0" when it has none)."""
        entries = await self.redis.xrevrange(self.keys.messages(conversation_id), count=1)
        return _text(entries[0][0]) if entries else "0-0"

    async def customer_messages(self, conversation_id: str, after: str | None, limit: int = 500) -> list[Message]:
        """Messages to the customer (bot, agent, system) after a message id."""
        return [m for m in await self.transcript(conversation_id, after, limit) if m.author != "customer"]

    async def transcript(
        self, conversation_id: str, after: str | None = None, limit: int = 1000, readings: bool = False
    ) -> list[Message]:
        """The conversation's messages, oldest first; with `readings`, customer
        messages carry the bot's NLU reading of them (for agents)."""
        entries = await self.redis.xrange(
            self.keys.messages(conversation_id), min=stream_id_after(after), max="+", count=limit
        )
        messages = [Message.from_stream(entry_id, fields) for entry_id, fields in entries]
        if not readings:
            return messages
        found = {_text(k): _text(v) for k, v in (await self.redis.hgetall(self.keys.readings(conversation_id))).items()}
        return [
            Message(m.id, m.author, m.text, m.at, {**m.data, "reading": json.loads(found[m.id])})
            if m.id in found
            else m
            for m in messages
        ]

    async def add_reading(self, conversation_id: str, message_id: str, reading: dict[str, Any]) -> None:
        """Attaches the bot's NLU reading to a customer message and tells the agents."""
        await self._run(
            "add_reading",
            [self.keys.readings(conversation_id), self.keys.events],
            [conversation_id, message_id, json.dumps(reading), self.feed_maxlen,
             json.dumps({"message_id": message_id, "reading": reading})],
        )  # fmt: skip

    # -- recording the human part in Rasa's tracker ----------------------------------

    async def pending_recordings(self, conversation_id: str) -> RecordingBatch:
        """The human-part messages not yet recorded, oldest first, each with the
        metadata its tracker event gets."""
        listed = [_text(item) for item in await self.redis.lrange(self.keys.recording(conversation_id), 0, -1)]
        if not listed:
            return RecordingBatch([], [])
        queued = [item.split(" ", 1) for item in listed]
        entries = await self.redis.xrange(self.keys.messages(conversation_id), min=queued[0][0], max=queued[-1][0])
        by_id = {_text(entry_id): Message.from_stream(entry_id, fields) for entry_id, fields in entries}
        # A message the transcript no longer holds (trimmed or deleted) is left out.
        messages = [(by_id[i], json.loads(metadata)) for i, metadata in queued if i in by_id]
        return RecordingBatch(messages, listed)

    async def forget_recordings(self, conversation_id: str, batch: RecordingBatch) -> None:
        """Takes a recorded batch off the conversation's recording list: what is still
        at its head (nothing twice, nothing queued since)."""
        if batch.entries:
            await self._script("forget_recorded", [self.keys.recording(conversation_id)], batch.entries)

    async def join_recorders(self) -> None:
        """Makes the recorders' consumer group (once for all processes)."""
        key = self.keys.recordings
        try:
            if isinstance(self.redis, RedisCluster):  # redis-py 4.6 finds no key in XGROUP CREATE
                await self.redis.initialize()  # learns the slots, once
                node = self.redis.get_node_from_key(key)
                await self.redis.execute_command("XGROUP", "CREATE", key, RECORDERS, "0", "MKSTREAM", target_nodes=node)
            else:
                await self.redis.xgroup_create(key, RECORDERS, id="0", mkstream=True)
        except ResponseError as exists:
            if "BUSYGROUP" not in str(exists):
                raise

    async def next_recordings(self, consumer: str, block_ms: int, count: int = 50) -> list[tuple[str, str]]:
        """(notice id, conversation id) of new notices for this consumer, blocking up to `block_ms`."""
        answer = await self.redis.xreadgroup(
            RECORDERS, consumer, {self.keys.recordings: ">"}, count=count, block=block_ms
        )
        return [(_text(i), _text(f.get(b"conv", b""))) for i, f in answer[0][1]] if answer else []

    async def stalled_recordings(self, consumer: str, idle_ms: int, count: int = 50) -> list[tuple[str, str]]:
        """Notices another consumer took but did not finish within `idle_ms` (it died
        or failed), now this consumer's."""
        answer = await self.redis.xautoclaim(self.keys.recordings, RECORDERS, consumer, idle_ms, "0-0", count=count)
        return [(_text(i), _text(f.get(b"conv", b""))) for i, f in answer[1] if f]

    async def forget_recorders(self, consumer: str = "", idle_ms: int = 3_600_000) -> int:
        """Forgets members of the recorders' group with no unfinished work: `consumer`
        (a recorder that stops) and any silent for `idle_ms` (a process that died).
        How many were forgotten."""
        return int(await self._script("forget_recorders", [self.keys.recordings], [RECORDERS, consumer, idle_ms]))

    async def recording_done(self, *notice_ids: str) -> None:
        async with self.redis.pipeline(transaction=False) as both:
            both.xack(self.keys.recordings, RECORDERS, *notice_ids)
            both.xdel(self.keys.recordings, *notice_ids)
            await both.execute()

    # -- transitions -----------------------------------------------------------

    async def start_waiting(self, conversation_id: str, reason: str) -> bool:
        """bot -> waiting. Returns False when the conversation was not with the bot."""
        k = self.keys
        result = await self._run(
            "start_waiting",
            [k.conversation(conversation_id), k.waiting, k.events, k.all_conversations],
            [conversation_id, now_ms(), reason, self.feed_maxlen],
        )
        if result[0] == "not_found":
            raise NotFound("unknown_conversation", f"No conversation {conversation_id!r}.")
        return result[0] == "ok"

    async def claim(
        self, conversation_id: str, agent_id: str, agent_name: str, max_chats: int = 0, quota: Quota | None = None
    ) -> Conversation:
        """waiting -> assigned, in one round trip. `max_chats` applies unless the desk
        settings store their own `max_chats_per_agent` (read inside the script);
        `quota`, when given, counts this request against the caller's budget first."""
        k = self.keys
        quota = quota or NO_QUOTA
        result = await self._run(
            "claim",
            [
                k.conversation(conversation_id),
                k.waiting,
                k.agent_conversations(agent_id),
                k.events,
                k.messages(conversation_id),
                k.all_conversations,
                k.settings,
                k.rate(quota.subject, int(time.time())),
            ],
            [
                conversation_id,
                agent_id,
                agent_name,
                now_ms(),
                self.feed_maxlen,
                f"{agent_name} joined the chat.",
                max_chats,
                quota.limit,
            ],
        )
        if result[0] == "rate_limited":
            raise TooManyRequests.over(quota.limit)
        if result[0] == "not_found":
            raise NotFound("unknown_conversation", f"No conversation {conversation_id!r}.")
        self._raise_for_capacity(result)
        if result[0] == "already_assigned":
            raise Conflict(
                "already_assigned",
                f"{result[2] or result[1]} already took this conversation.",
                agent=result[1],
                agent_name=result[2] or result[1],
            )
        if result[0] == "not_waiting":
            raise Conflict("not_waiting", "This conversation is not waiting for an agent.", state=result[1])
        claimed = Conversation.from_fields(conversation_id, ujson.loads(result[1]))
        assert claimed is not None, "the claim script answers with the claimed conversation"
        return claimed

    async def add_agent_message(
        self, conversation_id: str, agent_id: str, agent_name: str, text: str, quota: Quota | None = None
    ) -> Message:
        """The assigned agent's message; `quota`, when given, counts the request first."""
        k = self.keys
        quota = quota or NO_QUOTA
        at = now_ms()
        extra = {"agent": agent_id, "agent_name": agent_name}
        result = await self._run(
            "agent_message",
            [*self._human_message_keys(conversation_id), k.rate(quota.subject, int(time.time()))],
            [conversation_id, agent_id, text, json.dumps(extra), at, self.feed_maxlen, quota.limit],
        )
        if result[0] == "rate_limited":
            raise TooManyRequests.over(quota.limit)
        self._raise_for_owner_refusal(conversation_id, result)
        return Message(result[1], "agent", text, at, extra)

    async def release(self, conversation_id: str, caller: str, force: bool = False) -> str:
        """assigned -> bot, by the owner (or anyone with `force`). Returns the
        agent who had it. Leaves `resume_pending` set: see `finish_resume`."""
        k = self.keys
        for _ in range(5):
            owner_id = await self._owner(conversation_id)
            result = await self._run(
                "release",
                [
                    k.conversation(conversation_id),
                    k.agent_conversations(owner_id),
                    k.events,
                    k.messages(conversation_id),
                    k.all_conversations,
                ],
                [
                    conversation_id,
                    caller,
                    "1" if force else "0",
                    now_ms(),
                    self.feed_maxlen,
                    owner_id,
                    "The agent left the chat.",
                ],
            )
            if result[0] != "owner_changed":
                self._raise_for_owner_refusal(conversation_id, result)
                return str(result[1])
        raise Conflict("busy", "The conversation changed hands while releasing it; try again.")

    async def resume_pending(self, conversation_id: str) -> str | None:
        """The action owed to the bot side of a return to the bot, if any."""
        action = await self._command("HGET", self.keys.conversation(conversation_id), "resume_pending")
        return _text(action) if action is not None else None

    async def transfer(
        self,
        conversation_id: str,
        caller: str,
        target_id: str | None,
        target_name: str | None = None,
        force: bool = False,
        max_chats: int = 0,
        reason: str = "transfer",
    ) -> str:
        """assigned -> another agent, or (target None) back to the Waiting queue at
        its original place. Returns the agent who had it."""
        k = self.keys
        target = target_id or ""
        name = target_name or target
        notice = (
            f"{name} took over the chat."
            if target
            else "You're back in the queue; a colleague will be with you shortly."
        )
        for _ in range(5):
            owner_id = await self._owner(conversation_id)
            result = await self._run(
                "transfer",
                [
                    k.conversation(conversation_id),
                    k.agent_conversations(owner_id),
                    k.agent_conversations(target),
                    k.waiting,
                    k.events,
                    k.messages(conversation_id),
                    k.all_conversations,
                ],
                [conversation_id, caller, "1" if force else "0", now_ms(), self.feed_maxlen, owner_id, target, name,
                 notice, max_chats, reason],
            )  # fmt: skip
            if result[0] == "owner_changed":
                continue
            if result[0] == "same_agent":
                raise Conflict("same_agent", "The conversation is already with that agent.")
            self._raise_for_capacity(result)
            self._raise_for_owner_refusal(conversation_id, result)
            return str(result[1])
        raise Conflict("busy", "The conversation changed hands while transferring it; try again.")

    async def takeover(self, conversation_id: str, agent_id: str, agent_name: str, max_chats: int = 0) -> Conversation:
        """bot -> assigned: an agent takes a conversation the bot is handling."""
        k = self.keys
        result = await self._run(
            "takeover",
            [
                k.conversation(conversation_id),
                k.agent_conversations(agent_id),
                k.events,
                k.messages(conversation_id),
                k.all_conversations,
            ],
            [
                conversation_id,
                agent_id,
                agent_name,
                now_ms(),
                self.feed_maxlen,
                f"{agent_name} joined the chat.",
                max_chats,
            ],
        )
        if result[0] == "not_found":
            raise NotFound("unknown_conversation", f"No conversation {conversation_id!r}.")
        self._raise_for_capacity(result)
        if result[0] == "not_with_bot":
            raise Conflict(
                "not_with_bot", "Only a conversation the bot is handling can be taken over.", state=result[1]
            )
        return await self.require_conversation(conversation_id)

    async def return_to_bot(
        self,
        conversation_id: str,
        cause: str,
        notice: str,
        resume_action: str = "action_bot_assigned",
        expected_waiting_since: int | None = None,
    ) -> bool:
        """waiting -> bot with no agent (cancelled, or nobody claimed in time).
        False when it was no longer waiting (or waited anew since)."""
        k = self.keys
        result = await self._run(
            "return_to_bot",
            [k.conversation(conversation_id), k.waiting, k.events, k.messages(conversation_id), k.all_conversations],
            [conversation_id, now_ms(), self.feed_maxlen, expected_waiting_since or "", cause, notice, resume_action],
        )
        if result[0] == "not_found":
            raise NotFound("unknown_conversation", f"No conversation {conversation_id!r}.")
        return result[0] == "ok"

    async def _owner(self, conversation_id: str) -> str:
        owner = await self._command("HGET", self.keys.conversation(conversation_id), "agent")
        return _text(owner) if owner is not None else ""

    @staticmethod
    def _raise_for_capacity(result: list[Any]) -> None:
        if result[0] == "capacity_reached":
            raise Conflict(
                "capacity_reached", "That agent already has the most chats allowed at once.", chats=int(result[1])
            )

    async def finish_resume(self, conversation_id: str) -> None:
        """Marks the bot side of a release (resume, bot-assigned message) done."""
        await self.redis.hdel(self.keys.conversation(conversation_id), "resume_pending")

    @staticmethod
    def _raise_for_owner_refusal(conversation_id: str, result: list[Any]) -> None:
        if result[0] == "ok":
            return
        if result[0] == "not_found":
            raise NotFound("unknown_conversation", f"No conversation {conversation_id!r}.")
        if result[0] == "not_assigned":
            raise Conflict("not_assigned", "This conversation is not assigned to an agent.", state=result[1])
        if result[0] == "not_your_conversation":
            raise Forbidden("not_your_conversation", "Another agent is handling this conversation.", agent=result[1])
        raise RuntimeError(f"unexpected script result {result!r}")

    # -- reads -----------------------------------------------------------------

    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        raw = await self.redis.hgetall(self.keys.conversation(conversation_id))
        return Conversation.from_hash(conversation_id, raw)

    async def require_conversation(self, conversation_id: str) -> Conversation:
        conversation = await self.get_conversation(conversation_id)
        if conversation is None:
            raise NotFound("unknown_conversation", f"No conversation {conversation_id!r}.")
        return conversation

    async def _conversations(self, ids: Sequence[str]) -> list[Conversation]:
        if not ids:
            return []
        # One script, one JSON array for the page: parsing every hash field of a
        # 100-conversation page in redis-py took most of the Waiting list's time.
        page = await self._script("conversations", [self.keys.conversation(i) for i in ids], ids)
        summaries = ujson.loads(page)
        found = (Conversation.from_fields(cid, fields) for cid, fields in zip(ids, summaries, strict=True))
        return [c for c in found if c is not None]

    async def list_conversations(
        self, view: str, agent_id: str, limit: int = 100, offset: int = 0
    ) -> list[Conversation]:
        """One of the agents' views: waiting (longest first), live, mine or all."""
        k = self.keys
        if view == "waiting":
            ids = await self.redis.zrange(k.waiting, offset, offset + limit - 1)
            return [c for c in await self._conversations([_text(i) for i in ids]) if c.state == "waiting"]
        if view == "mine":
            ids = sorted(_text(i) for i in await self.redis.smembers(k.agent_conversations(agent_id)))
            mine = [c for c in await self._conversations(ids) if c.agent == agent_id]
            mine.sort(key=lambda c: c.claimed_at or 0)
            return mine[offset : offset + limit]
        if view == "live":
            since = now_ms() - LIVE_WINDOW_MS
            ids = await self.redis.zrevrangebyscore(k.all_conversations, "+inf", since, start=offset, num=limit)
            return [c for c in await self._conversations([_text(i) for i in ids]) if c.state == "bot"]
        if view == "all":
            ids = await self.redis.zrevrange(k.all_conversations, offset, offset + limit - 1)
            return await self._conversations([_text(i) for i in ids])
        raise ValueError(f"unknown view {view!r}")

    async def conversation_page_json(
        self, view: str, limit: int = 100, offset: int = 0, quota: Quota | None = None
    ) -> bytes:
        """The `waiting`, `live` or `all` list as the API's JSON array, built in Redis in
        one step: the same conversations as `list_conversations`, passed on without
        parsing. `quota`, when given, counts the request first (TooManyRequests beyond)."""
        k = self.keys
        index = {"waiting": k.waiting, "live": k.all_conversations, "all": k.all_conversations}.get(view)
        if index is None:
            raise ValueError(f"no JSON page for view {view!r}")
        quota = quota or NO_QUOTA
        since = now_ms() - LIVE_WINDOW_MS
        reply = await self._script(
            "conversation_page",
            [k.rate(quota.subject, int(time.time())), index],
            [quota.limit, view, offset, limit, since, k.conversation("")],
        )
        if _text(reply[0]) == "rate_limited":
            raise TooManyRequests.over(quota.limit)
        page = reply[1]
        return page if isinstance(page, bytes) else str(page).encode()

    async def count_waiting(self) -> int:
        return int(await self.redis.zcard(self.keys.waiting))

    async def waiting_position(self, conversation_id: str) -> int | None:
        """1 for the longest-waiting customer; None when not waiting."""
        rank = await self._command("ZRANK", self.keys.waiting, conversation_id)
        return None if rank is None else int(rank) + 1

    async def waiting_since_before(self, before_ms: int, limit: int = 100) -> list[tuple[str, int]]:
        """Conversations waiting since before `before_ms`, longest first."""
        found = await self.redis.zrangebyscore(
            self.keys.waiting, "-inf", before_ms, start=0, num=limit, withscores=True
        )
        return [(_text(member), int(score)) for member, score in found]

    async def mark_once(self, conversation_id: str, flag: str) -> bool:
        """Sets a flag on a conversation; True only the first time."""
        return bool(await self.redis.hsetnx(self.keys.conversation(conversation_id), flag, str(now_ms())))

    async def agent_conversations(self, agent_id: str) -> list[str]:
        return sorted(_text(i) for i in await self.redis.smembers(self.keys.agent_conversations(agent_id)))

    async def agent_loads(self, agent_ids: Sequence[str]) -> dict[str, int]:
        """How many conversations each agent holds now (one round trip)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for agent_id in agent_ids:
                pipe.scard(self.keys.agent_conversations(agent_id))
            counts = await pipe.execute()
        return {agent_id: int(count) for agent_id, count in zip(agent_ids, counts, strict=True)}

    # -- agents' presence ----------------------------------------------------------

    async def touch_agent(self, agent_id: str, name: str, role: str) -> None:
        """Records that an agent is here now (a connected console or an API call)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zadd(self.keys.presence, {agent_id: now_ms()})
            pipe.hset(self.keys.agents, agent_id, json.dumps({"name": name, "role": role}))
            await pipe.execute()

    async def set_agent_status(self, agent_id: str, status: str) -> None:
        await self.redis.hset(self.keys.agent_status, agent_id, status)

    async def agents(self, grace_ms: int) -> list[dict[str, Any]]:
        """Every agent seen, with a status: their own choice while connected, else offline."""
        since = now_ms() - grace_ms
        # One round trip: this runs for every customer message the bot answers (agents online).
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zrange(self.keys.presence, 0, -1, withscores=True)
            pipe.hgetall(self.keys.agent_status)
            pipe.hgetall(self.keys.agents)
            seen, raw_statuses, raw_profiles = await pipe.execute()
        statuses = {_text(k): _text(v) for k, v in raw_statuses.items()}
        profiles = {_text(k): json.loads(_text(v)) for k, v in raw_profiles.items()}
        found = []
        for member, score in seen:
            agent_id = _text(member)
            connected = score >= since
            chosen = statuses.get(agent_id, "online")
            found.append({
                "id": agent_id,
                "name": profiles.get(agent_id, {}).get("name", agent_id),
                "role": profiles.get(agent_id, {}).get("role", "agent"),
                "status": chosen if connected and chosen != "offline" else "offline",
                "last_seen": int(score),
            })  # fmt: skip
        return found

    async def agents_gone_since(self, before_ms: int) -> list[str]:
        """Agents last seen before `before_ms` (or who chose offline)."""
        gone = {_text(m) for m in await self.redis.zrangebyscore(self.keys.presence, "-inf", before_ms)}
        statuses = await self.redis.hgetall(self.keys.agent_status)
        gone |= {_text(k) for k, v in statuses.items() if _text(v) == "offline"}
        return sorted(gone)

    # -- notes, customer details, canned responses ------------------------------------

    async def add_note(self, conversation_id: str, note: dict[str, Any]) -> None:
        await self.redis.rpush(self.keys.notes(conversation_id), json.dumps(note))

    async def notes(self, conversation_id: str) -> list[dict[str, Any]]:
        return [json.loads(_text(n)) for n in await self.redis.lrange(self.keys.notes(conversation_id), 0, -1)]

    async def customer_details(self, conversation_id: str) -> dict[str, str]:
        raw = await self.redis.hgetall(self.keys.customer(conversation_id))
        return {_text(k): _text(v) for k, v in raw.items()}

    async def update_customer_details(self, conversation_id: str, changes: dict[str, str | None]) -> dict[str, str]:
        removed = [name for name, value in changes.items() if value is None]
        kept = {name: value for name, value in changes.items() if value is not None}
        await self._update_hash(self.keys.customer(conversation_id), removed, kept)
        return await self.customer_details(conversation_id)

    async def _update_hash(self, key: str, removed: Sequence[str], kept: dict[str, str]) -> None:
        """Deletes and sets fields of one hash at once (a script: no MULTI on a cluster)."""
        if removed or kept:
            await self._run("hash_update", [key], [len(removed), *removed, *(x for item in kept.items() for x in item)])

    async def canned_responses(self) -> list[dict[str, Any]]:
        raw = await self.redis.hgetall(self.keys.canned_responses)
        return sorted((json.loads(_text(v)) for v in raw.values()), key=lambda r: str(r["shortcut"]))

    async def save_canned_response(self, response: dict[str, Any]) -> None:
        await self.redis.hset(self.keys.canned_responses, str(response["id"]), json.dumps(response))

    async def delete_canned_response(self, response_id: str) -> bool:
        return bool(await self.redis.hdel(self.keys.canned_responses, response_id))

    # -- the agents' live feed -------------------------------------------------

    async def last_event_id(self) -> str:
        entries = await self.redis.xrevrange(self.keys.events, count=1)
        return _text(entries[0][0]) if entries else "0-0"

    async def events_after(self, after: str, limit: int = 1000) -> list[FeedEvent]:
        entries = await self.redis.xrange(self.keys.events, min=stream_id_after(after), max="+", count=limit)
        return [FeedEvent.from_stream(entry_id, fields) for entry_id, fields in entries]

    async def event_entries_after(self, after: str, limit: int = 1000) -> list[tuple[Any, Any]]:
        """Up to `limit` feed entries after the id `after`: (id, fields) of each,
        undecoded, read on the pipelined connection when there is one (redis-py's
        reply conversion costs more than the read)."""
        if self.pipe is not None:
            reply = await self.pipe.execute("XRANGE", self.keys.events, stream_id_after(after), "+", "COUNT", limit)
            return _entries(reply)
        return list(await self.redis.xrange(self.keys.events, min=stream_id_after(after), max="+", count=limit))

    async def apply_counted(self, keys: Sequence[str], changes: str) -> bool:
        """Applies a batch of counted feed events (lua/count_events.lua: `changes` is its
        JSON argument) if the counted cursor has not moved meanwhile; False when it had."""
        return bool(await self._script("count_events", keys, [changes]))

    async def wait_for_entries(self, after: str, block_ms: int, limit: int = 1000) -> list[tuple[Any, Any]]:
        """Blocks up to `block_ms` for feed events after `after` (XREAD BLOCK): (id,
        fields) of each stream entry, undecoded (`FeedEvent.from_stream` decodes one)."""
        if self.feed_pipe is not None:
            reply = await self.feed_pipe.execute(
                "XREAD", "COUNT", limit, "BLOCK", block_ms, "STREAMS", self.keys.events, after
            )
            # [[stream, [[id, [field, value, ...]], ...]]], or nil when nothing came.
            return _entries(reply[0][1]) if reply else []
        answer = await self.redis.xread({self.keys.events: after}, count=limit, block=block_ms)
        return list(answer[0][1]) if answer else []

    async def oldest_event_id(self) -> str | None:
        entries = await self.redis.xrange(self.keys.events, count=1)
        return _text(entries[0][0]) if entries else None

    # -- idempotent customer requests ---------------------------------------------

    async def reserve_request(
        self, conversation_id: str, message_id: str, ttl_s: int = 86_400
    ) -> dict[str, Any] | None:
        """Reserves a client message id. Returns the stored answer of an earlier
        request with that id, or None when this request is the first."""
        key = self.keys.dedupe(conversation_id, message_id)
        if await self.redis.set(key, "pending", nx=True, ex=ttl_s):
            return None
        stored = await self.redis.get(key)
        if stored is None or _text(stored) == "pending":
            raise Conflict("duplicate_in_progress", "A request with this message_id is being processed.")
        answer: dict[str, Any] = json.loads(_text(stored))
        return answer

    async def store_answer(
        self, conversation_id: str, message_id: str, answer: dict[str, Any], ttl_s: int = 86_400
    ) -> None:
        await self.redis.set(self.keys.dedupe(conversation_id, message_id), json.dumps(answer), ex=ttl_s)

    async def earlier_answer(self, conversation_id: str, message_id: str) -> dict[str, Any] | None:
        """The stored answer to a finished request with this client message id, if any."""
        stored = await self.redis.get(self.keys.dedupe(conversation_id, message_id))
        if stored is None or _text(stored) == "pending":
            return None
        answer: dict[str, Any] = json.loads(_text(stored))
        return answer

    async def unbind_customer_token(self, conversation_id: str, token: str) -> None:
        """Frees a sender whose first message failed, so a retry can bind a token anew."""
        key = self.keys.conversation(conversation_id)
        stored = await self.redis.hget(key, "token")
        if stored is not None and hmac.compare_digest(_text(stored), hash_token(token)):
            await self.redis.hdel(key, "token")

    async def forget_request(self, conversation_id: str, message_id: str) -> None:
        await self.redis.delete(self.keys.dedupe(conversation_id, message_id))

    # -- settings ----------------------------------------------------------------

    async def desk_settings(self, defaults: DeskSettings) -> DeskSettings:
        raw = await self.redis.hgetall(self.keys.settings)
        return self._stored_settings.parsed(raw.items(), defaults, _text)

    def _desk_of(self, flat: list[Any], online: Any, defaults: DeskSettings) -> tuple[DeskSettings, int]:
        """The desk as `desk_now` (lua/customer_message_step.lua) read it."""
        return self._stored_settings.parsed(zip(flat[::2], flat[1::2], strict=True), defaults, _text), int(online)

    async def save_desk_settings(self, settings: DeskSettings) -> None:
        await self.redis.hset(self.keys.settings, mapping=settings.to_redis())  # type: ignore[arg-type]

    # -- training examples ---------------------------------------------------------

    async def add_training_example(self, example: TrainingExample) -> bool:
        """Stores an example; the same text with the same intent is merged into
        the one record (its contributors grow). True when it is new."""
        key = self.keys.training_examples
        for _ in range(20):
            stored = await self.redis.hget(key, example.id)
            record = TrainingExample.from_storage(json.loads(_text(stored))).merged_with(example) if stored else example
            # Written only if the record is still what was read (as WATCH did).
            result = await self._run(
                "hash_compare_and_set",
                [key],
                [example.id, json.dumps(record.to_storage()), "0" if stored is None else "1",
                 "" if stored is None else _text(stored)],
            )  # fmt: skip
            if result[0] == "ok":
                return stored is None
        raise Conflict("busy", "Training examples changed meanwhile; try again.")

    async def training_example(self, example_id: str) -> TrainingExample | None:
        stored = await self.redis.hget(self.keys.training_examples, example_id)
        return TrainingExample.from_storage(json.loads(_text(stored))) if stored else None

    async def replace_training_example(self, old_id: str, example: TrainingExample) -> None:
        """Saves an edited example (its id follows its text and intent)."""
        removed = [old_id] if old_id != example.id else []
        await self._update_hash(self.keys.training_examples, removed, {example.id: json.dumps(example.to_storage())})

    async def training_examples(self) -> list[TrainingExample]:
        raw = await self.redis.hgetall(self.keys.training_examples)
        examples = [TrainingExample.from_storage(json.loads(_text(value))) for value in raw.values()]
        examples.sort(key=lambda e: (e.intent, e.text))
        return examples
