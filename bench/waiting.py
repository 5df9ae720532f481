"""Target 4: waiting at scale. The first page of the Waiting list, and what an
enqueue (bot -> waiting) and a claim cost, with 100 and with 10,000 customers
waiting; and the Redis memory one waiting conversation takes."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from redis.asyncio import Redis

from bench.checks import TIMES, Check
from bench.prepare import TEXT, make_waiting
from bench.rawhttp import HttpConnection
from bench.stats import Summary
from bench.system import BenchStack
from channels.handoff.keys import KeySpace
from channels.handoff.store import HandoffStore
from tests.channel_server import agent_token
from tests.redis_server import RedisServer
from tests.settle import settled

PAGE = "/webhooks/handoff/agent/conversations?view=waiting"
AGENTS = 60
# The page's script takes a millisecond or more; each command it calls, microseconds.
PAGE_SCRIPT_LOGGED_FROM_US = 100


@dataclass
class QueueCosts:
    """Latencies at one queue length."""

    length: int
    # The first page, from the request's first byte sent to the answer's last byte in.
    page: list[float] = field(default_factory=list)
    page_size: int = 0
    page_bytes: int = 0
    # The bench client's own decoding of the page's JSON (Python's json), timed apart:
    # the client's work, not the server's answer.
    page_parse: list[float] = field(default_factory=list)
    # What Redis spent running the page's script (SLOWLOG), in seconds.
    page_redis: list[float] = field(default_factory=list)
    floor: list[float] = field(default_factory=list)
    enqueue: list[float] = field(default_factory=list)
    claim: list[float] = field(default_factory=list)
    # What Redis itself spent running the enqueue and claim scripts (SLOWLOG), in seconds:
    # free of the client's, Python's and the machine's noise, and where a queue's length would show.
    enqueue_redis: list[float] = field(default_factory=list)
    claim_redis: list[float] = field(default_factory=list)


@dataclass
class Memory:
    conversations: int
    text_chars: int
    used_delta: int
    hash_usage: float
    waiting_zset: int
    all_zset: int
    transcript_usage: float
    feed_usage: int

    @property
    def per_conversation(self) -> float:
        return self.used_delta / self.conversations


@dataclass
class WaitingResult:
    costs: list[QueueCosts]
    memory: list[Memory]
    # SLOWLOG durations (seconds) of the enqueue and claim scripts by queue length, the
    # lengths of `costs` and one between them, side by side (see interleaved_script_costs).
    scripts: dict[int, tuple[list[float], list[float]]] = field(default_factory=dict)

    def at(self, length: int) -> QueueCosts:
        return next(c for c in self.costs if c.length == length)

    def script_p50(self, length: int) -> tuple[float, float]:
        """The enqueue and claim scripts' p50 in Redis (ms) at one queue length."""
        enqueue, claim = self.scripts[length]
        return Summary.of(enqueue).p50, Summary.of(claim).p50

    def growth(self, what: str) -> float:
        small, large = self.costs[0], self.costs[-1]
        return Summary.of(getattr(large, what)).p50 / Summary.of(getattr(small, what)).p50

    def checks(self) -> list[Check]:
        small, large = self.costs[0], self.costs[-1]
        lengths = f"{large.length:,} / {small.length} waiting"
        page = Summary.of(large.page).p50
        return [
            Check("4", f"Waiting list, first page with {large.length:,} waiting, p50", page, 5, "ms"),
            Check("4", "Redis memory per waiting conversation", self.memory[0].per_conversation, 1024, "B"),
            Check("4", f"enqueue script in Redis, p50, {lengths}", self.growth("enqueue_redis"), 1.2, TIMES),
            Check("4", f"claim script in Redis, p50, {lengths}", self.growth("claim_redis"), 1.2, TIMES),
        ]


async def clear_handoff_keys(redis: Redis, keys: KeySpace) -> None:
    batch: list[bytes] = []
    async for key in redis.scan_iter(match=f"{keys.base}*", count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            await redis.unlink(*batch)
            batch = []
    if batch:
        await redis.unlink(*batch)


async def queue_costs(stack: BenchStack, store: HandoffStore, length: int, samples: int, already: int) -> QueueCosts:
    """Fills the queue to `length`, then times page reads, enqueues and claims
    (each probe is enqueued, then claimed, so the length stays put)."""
    await make_waiting(store, [f"queued-{i:05d}" for i in range(already, length)])
    # Measured in the steady state: the server has counted the new events into its analytics.
    await settled(store.redis, timeout_s=120)
    costs = QueueCosts(length)
    # The probes take turns among many agents, as a desk's would (each has a request limit).
    tokens = itertools.cycle([agent_token(f"pager{i:02d}") for i in range(AGENTS)])
    http = HttpConnection("127.0.0.1", stack.server.port)
    for _ in range(20):  # warm the connection and the code path
        await http.json("GET", PAGE, next(tokens))
    await slowlog_slower_than(store.redis, PAGE_SCRIPT_LOGGED_FROM_US)
    for _ in range(samples):
        headers = {"Authorization": f"Bearer {next(tokens)}"}
        start = time.perf_counter()
        status, body = await http.request("GET", PAGE, headers)
        costs.page.append(time.perf_counter() - start)
        start = time.perf_counter()
        answer = json.loads(body)
        costs.page_parse.append(time.perf_counter() - start)
        if status != 200:
            raise RuntimeError(f"the Waiting list answered {status}: {answer!r}")
        costs.page_size, costs.page_bytes = len(answer["conversations"]), len(body)
        # The floor: an agent request that reads nothing (token check, rate limit).
        start = time.perf_counter()
        status, answer = await http.json("GET", "/webhooks/handoff/agent/me", next(tokens))
        costs.floor.append(time.perf_counter() - start)
        if status != 200:
            raise RuntimeError(f"/agent/me answered {status}: {answer!r}")
    page_sha = script_sha(store, "conversation_page")
    costs.page_redis = [seconds for words, seconds in await evalsha_entries(store.redis) if words[1] == page_sha]
    for index in range(samples):
        probe = f"probe-{length}-{index:04d}"
        await store.receive_customer_message(probe, TEXT)
        start = time.perf_counter()
        await store.start_waiting(probe, "nlu_fallback")
        costs.enqueue.append(time.perf_counter() - start)
        start = time.perf_counter()
        status, answer = await http.json("POST", f"/webhooks/handoff/agent/conversations/{probe}/claim", next(tokens))
        costs.claim.append(time.perf_counter() - start)
        if status != 200:
            raise RuntimeError(f"claim answered {status}: {answer!r}")
    http.close()
    return costs


async def interleaved_script_costs(
    redis: Redis, lengths: tuple[int, ...], samples: int
) -> dict[int, tuple[list[float], list[float]]]:
    """SLOWLOG durations of the enqueue and claim scripts (seconds) with a queue of
    each length side by side: one bot's key space per length in the same Redis, the
    probes alternating between them, so a drift of the machine touches all alike."""
    stores = {length: HandoffStore(redis, KeySpace(bot=f"len{length}")) for length in lengths}
    for length, store in stores.items():
        await make_waiting(store, [f"q-{i:05d}" for i in range(length)], with_token=False)
        await fill_feed(redis, store)
    await slowlog_everything(redis)
    for index in range(samples):
        for store in stores.values():
            probe = f"probe-{index:04d}"
            await store.receive_customer_message(probe, TEXT)
            await store.start_waiting(probe, "nlu_fallback")
            await store.claim(probe, "prober", "Prober")
    any_store = next(iter(stores.values()))
    shas = {script_sha(any_store, "start_waiting"): 0, script_sha(any_store, "claim"): 1}
    found: dict[int, tuple[list[float], list[float]]] = {length: ([], []) for length in lengths}
    for words, seconds in await evalsha_entries(redis):
        which = shas.get(words[1])
        queue = next((n for n in lengths if f"{{len{n}}}" in words[3]), None)
        if which is not None and queue is not None:
            found[queue][which].append(seconds)
    for store in stores.values():
        await clear_handoff_keys(redis, store.keys)
    return found


async def fill_feed(redis: Redis, store: HandoffStore) -> None:
    """Brings a key space's live feed to its cap, where a server's feed stays once it has
    run a while, whatever the queue's length: every script that emits then trims as it adds
    (`XADD MAXLEN ~`), a cost that would otherwise show only at the longest queue."""
    missing = store.feed_maxlen - await redis.xlen(store.keys.events)
    for start in range(0, max(missing, 0), 1000):
        pipe = redis.pipeline(transaction=False)
        for _ in range(start, min(start + 1000, missing)):
            pipe.xadd(store.keys.events, {"type": "filler", "conv": "-", "data": "{}"})
        await pipe.execute()


def script_sha(store: HandoffStore, name: str) -> str:
    """The SHA1 that EVALSHA names one of the store's Lua scripts by."""
    return str(store._scripts[name].sha)  # type: ignore[attr-defined]  # (redis-py sets it; the stubs lack it)


async def slowlog_everything(redis: Redis) -> None:
    """Makes Redis log every command with its duration, from now on."""
    await slowlog_slower_than(redis, 0)


async def slowlog_slower_than(redis: Redis, micros: int) -> None:
    """Makes Redis log every command that takes `micros` or longer, from now on. (Redis
    logs the commands a script calls too: a threshold above theirs keeps them, and
    what logging them costs, out of the script's own duration.)"""
    await redis.config_set("slowlog-max-len", 100_000)
    await redis.config_set("slowlog-log-slower-than", micros)
    await redis.slowlog_reset()


async def evalsha_entries(redis: Redis) -> list[tuple[list[str], float]]:
    """(EVALSHA, sha, numkeys, first key) and seconds of each script run since
    `slowlog_everything`; logging back to normal."""
    entries = await redis.slowlog_get(100_000)
    await redis.config_set("slowlog-log-slower-than", 10_000)
    await redis.config_set("slowlog-max-len", 128)
    await redis.slowlog_reset()
    found = []
    for entry in entries:
        command = entry["command"]
        words = (command.decode() if isinstance(command, bytes) else str(command)).split(" ", 4)
        if len(words) >= 4 and words[0].lower() == "evalsha":
            found.append((words, int(entry["duration"]) / 1e6))
    return found


async def memory(conversations: int, text: str) -> Memory:
    """used_memory before and after, on a Redis of its own, transcripts and the
    (capped, shared) live feed removed."""
    server = RedisServer()
    server.start()
    redis = Redis.from_url(server.url)
    try:
        keys = KeySpace()
        store = HandoffStore(redis, keys)
        await make_waiting(store, ["warm-up"])  # loads the scripts
        await redis.flushall()
        await asyncio.sleep(0.2)
        before = int((await redis.info("memory"))["used_memory"])
        ids = [f"customer-{i:05d}" for i in range(conversations)]
        await make_waiting(store, ids, text=text)
        transcript = [await redis.memory_usage(keys.messages(i), samples=0) or 0 for i in ids[:200]]
        feed = await redis.memory_usage(keys.events, samples=0) or 0
        # DEL, not UNLINK: freed before used_memory is read.
        for start in range(0, conversations, 1000):
            await redis.delete(*[keys.messages(i) for i in ids[start : start + 1000]])
        await redis.delete(keys.events)
        await asyncio.sleep(0.2)
        after = int((await redis.info("memory"))["used_memory"])
        hashes = [await redis.memory_usage(keys.conversation(i), samples=0) or 0 for i in ids[:200]]
        return Memory(
            conversations=conversations,
            text_chars=len(text),
            used_delta=after - before,
            hash_usage=sum(hashes) / len(hashes),
            waiting_zset=await redis.memory_usage(keys.waiting, samples=0) or 0,
            all_zset=await redis.memory_usage(keys.all_conversations, samples=0) or 0,
            transcript_usage=sum(transcript) / len(transcript),
            feed_usage=feed,
        )
    finally:
        await redis.close()
        server.close()


async def measure(
    stack: BenchStack,
    lengths: tuple[int, ...] = (100, 10_000),
    samples: int = 200,
    log: Callable[[str], None] = print,
    between: int = 1_000,
    script_samples: int = 500,
) -> WaitingResult:
    """Page, enqueue and claim at each of `lengths`; the scripts alone in Redis at those
    lengths and at `between`, to show where their cost steps up and where it stays flat."""
    redis = Redis.from_url(stack.redis.url)
    store = HandoffStore(redis)
    try:
        await clear_handoff_keys(redis, store.keys)
        costs: list[QueueCosts] = []
        already = 0
        for length in lengths:
            log(f"  {length:,} waiting: first page, enqueue and claim, {samples} times each")
            costs.append(await queue_costs(stack, store, length, samples, already))
            already = length
        script_lengths = tuple(sorted({*lengths, between}))
        log(f"  the scripts alone, queues of {', '.join(f'{n:,}' for n in script_lengths)} side by side")
        interleaved = await interleaved_script_costs(redis, script_lengths, script_samples)
        for cost in costs:
            cost.enqueue_redis, cost.claim_redis = interleaved[cost.length]
    finally:
        await redis.close()
    log(f"  Redis memory of {lengths[-1]:,} waiting conversations (a Redis of its own)")
    found = [await memory(lengths[-1], TEXT), await memory(lengths[-1], (TEXT + " ") * 4)]
    return WaitingResult(costs, found, interleaved)
