"""Target 1: the bot path through Rasa's REST channel and through the handoff
channel (state `bot`), same model, same load, same `rasa run`, interleaved in
rounds (A B B A ...) so drift and noise fall on both alike.

In a round, `customers` talk without a break (a new customer takes the place of
one who is done) and only a window after the ramp-up is counted, so both channels
are measured at the same steady concurrency (Little's law holds: p50 and mean
latency follow the throughput)."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from redis.asyncio import Redis

from bench.checks import TIMES, Check
from bench.procs import OTHERS, CpuMeter
from bench.redisstats import CommandMeter
from bench.stageclock import Stages, stages
from bench.stats import Summary, median, paired_ratio_interval
from bench.system import BenchStack
from bench.wakeup import PAUSE_S, RoundTrips, round_trips
from channels.handoff.feed import stream_position
from channels.handoff.keys import KeySpace
from tests.api_client import ApiClient
from tests.channel_server import agent_token

# Questions the shop assistant answers with a rule (none hands over).
MESSAGES = (
    "hello",
    "where is my order",
    "how long does delivery take",
    "what payment methods do you accept",
    "how do I return an item",
    "what are your opening hours",
    "what shipping options do you have",
    "are you a bot",
    "thanks",
    "great",
)

Send = Callable[[str, str], Awaitable[tuple[float, list[str]]]]
CHANNELS = {"REST": "rest", "handoff": "handoff"}  # the channels' names in Rasa's messages
SOLO_SESSIONS = 2  # per block of the one-customer-alone measurement
PACED_SHARE = 0.7  # the paced load offers this share of the REST channel's throughput at saturation
# The REST channel's throughput at saturation is measured again before every this many paced
# pairs, and the paced load follows it: a machine that slows down mid-run would otherwise see
# its share of Rasa's time drift up from PACED_SHARE (queueing multiplies what the channels cost
# more, the busier the server).
PROBE_EVERY = 10
PROBES_HELD = 3  # the paced rate is PACED_SHARE of the median of the last this many measures
# A paced pair is run again when, in either of its rounds, the processes outside the stack
# used more than this share of a core above what they use with the stack idle.
OUTSIDE_LIMIT = 0.10
STACK = ("rasa", "action server", "redis")  # the processes that serve a customer's message
# The desk as an admin set it up (every bot message reads it): the rules' answers do not
# depend on it, but the handoff channel reads and stamps it with each of them.
DESK_SETTINGS = {
    "office_hours": {
        "timezone": "Europe/Berlin",
        "weekly": {day: [["08:00", "20:00"]] for day in ("mon", "tue", "wed", "thu", "fri")},
        "holidays": ["2026-12-25", "2027-01-01"],
    },
    "out_of_hours_policy": "wait",
    "max_chats_per_agent": 5,
    "claim_timeout_s": 300,
    "offline_grace_s": 60,
}


def gaps(seed: int, mean_s: float) -> Callable[[], float]:
    """The gaps between a customer's messages (exponential, mean `mean_s`: Poisson
    arrivals), the same for a seed."""
    rng = random.Random(seed)
    return lambda: rng.expovariate(1 / mean_s)


@dataclass
class ChannelRun:
    """Everything one channel did over its rounds."""

    name: str
    latencies: list[float] = field(default_factory=list)
    by_place: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))  # 0: a session's first
    rounds: list[tuple[int, float]] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    replies: dict[str, set[tuple[str, ...]]] = field(default_factory=lambda: defaultdict(set))
    errors: list[str] = field(default_factory=list)
    commands: Counter[str] = field(default_factory=Counter)
    completed: int = 0  # every answer of the rounds, ramp and drain included (as CPU and commands are metered)
    round_ends: list[int] = field(default_factory=list)  # where each round's latencies end (paced rounds)
    settled: list[float] = field(default_factory=list)  # after each round: the wait for its events to be counted

    def commands_per_message(self, names: tuple[str, ...] | None = None) -> float:
        total = sum(n for c, n in self.commands.items() if names is None or c in names)
        return total / max(self.completed, 1)

    @property
    def messages(self) -> int:
        return sum(n for n, _ in self.rounds)

    @property
    def seconds(self) -> float:
        return sum(s for _, s in self.rounds)

    @property
    def throughput(self) -> float:
        return self.messages / self.seconds if self.seconds else float("nan")

    @property
    def summary(self) -> Summary:
        return Summary.of(self.latencies)

    def latencies_by_round(self) -> list[list[float]]:
        """Each round's latencies, for rounds whose end was marked (`end_round`; none in
        results saved before rounds were marked)."""
        ends = getattr(self, "round_ends", [])
        return [self.latencies[start:end] for start, end in zip([0, *ends[:-1]], ends, strict=True)]

    def end_round(self) -> None:
        self.round_ends.append(len(self.latencies))

    def cpu_ms_per_message(self, process: str) -> float:
        return self.cpu.get(process, 0.0) / max(self.completed, 1) * 1000

    def absorb(self, other: ChannelRun) -> None:
        """Takes in everything `other` (a round of the same channel) did."""
        offset = len(self.latencies)
        self.latencies += other.latencies
        for place, latencies in other.by_place.items():
            self.by_place[place] += latencies
        self.rounds += other.rounds
        for process, used in other.cpu.items():
            self.cpu[process] += used
        for text, replies in other.replies.items():
            self.replies[text] |= replies
        self.errors += other.errors
        self.commands.update(other.commands)
        self.completed += other.completed
        self.round_ends += [offset + end for end in other.round_ends]
        self.settled += other.settled


class Channels:
    """Senders for both channels, on one HTTP session (tests/api_client.ApiClient)."""

    def __init__(self, stack: BenchStack, http: aiohttp.ClientSession) -> None:
        self.rest = ApiClient(f"{stack.server.base}/webhooks/rest", http)
        self.handoff = ApiClient(stack.server.handoff, http)
        self.tokens: dict[str, str] = {}

    async def via_rest(self, sender: str, text: str) -> tuple[float, list[str]]:
        began = time.perf_counter()
        status, body = await self.rest.request("POST", "/webhook", {"sender": sender, "message": text})
        elapsed = time.perf_counter() - began
        if status != 200 or not isinstance(body, list):
            raise RuntimeError(f"REST channel answered {status}: {body!r}")
        return elapsed, [str(m.get("text")) for m in body if "text" in m]

    async def via_handoff(self, sender: str, text: str) -> tuple[float, list[str]]:
        began = time.perf_counter()
        status, body = await self.handoff.say(sender, text, self.tokens.get(sender))
        elapsed = time.perf_counter() - began
        if status != 200 or body.get("state") != "bot":
            raise RuntimeError(f"handoff channel answered {status}: {body!r}")
        if "customer_token" in body:
            self.tokens[sender] = body["customer_token"]
        return elapsed, [str(m["text"]) for m in body["messages"]]


async def run_round(
    send: Send, prefix: str, customers: int, per_customer: int, run: ChannelRun | None
) -> tuple[int, float]:
    """`customers` at once, each sending `per_customer` messages one after another."""

    async def customer(index: int) -> None:
        for turn in range(per_customer):
            text = MESSAGES[(index + turn) % len(MESSAGES)]
            try:
                elapsed, replies = await send(f"{prefix}-{index}", text)
            except (RuntimeError, aiohttp.ClientError) as failed:
                if run is not None:
                    run.errors.append(str(failed)[:200])
                continue
            if run is not None:
                run.latencies.append(elapsed)
                run.replies[text].add(tuple(replies))

    began = time.perf_counter()
    await asyncio.gather(*(customer(i) for i in range(customers)))
    return customers * per_customer, time.perf_counter() - began


async def run_window(
    send: Send,
    prefix: str,
    customers: int,
    per_customer: int,
    ramp_s: float,
    window_s: float,
    run: ChannelRun,
    timetable: Callable[[int], Callable[[], float]] | None = None,
) -> tuple[int, int]:
    """`customers` talking without a break (each sends `per_customer` messages, then a
    new customer takes its place); counts the answers that arrive in the window
    [ramp_s, ramp_s + window_s] and the latencies of the messages sent in it. With
    `timetable` (customer index -> the gaps between that customer's messages), each
    customer keeps a timetable instead: message k is due at the sum of the first k
    gaps, and goes when it is due or when the answer before it arrives, whichever is
    later. The same `timetable` gives both channels the same arrivals, so two rounds of a
    pair differ by what the channels cost, not by when the messages came.
    Returns (answers in the window, answers in all)."""
    began = time.perf_counter()
    opens, closes = began + ramp_s, began + ramp_s + window_s
    counted = completed = 0

    async def customer(index: int) -> None:
        nonlocal counted, completed
        gap = timetable(index) if timetable is not None else None
        due = began
        for session in itertools.count():
            for turn in range(per_customer):
                if gap is not None:
                    due += gap()
                    if due >= closes:
                        return
                    await asyncio.sleep(max(0.0, due - time.perf_counter()))
                start = time.perf_counter()
                if start >= closes:
                    return
                text = MESSAGES[(index + turn) % len(MESSAGES)]
                try:
                    elapsed, replies = await send(f"{prefix}-{index}-{session}", text)
                except (RuntimeError, aiohttp.ClientError) as failed:
                    run.errors.append(str(failed)[:200])
                    continue
                completed += 1
                if opens <= start + elapsed <= closes:
                    counted += 1
                if opens <= start < closes:
                    run.latencies.append(elapsed)
                    run.by_place[turn].append(elapsed)
                    run.replies[text].add(tuple(replies))

    await asyncio.gather(*(customer(i) for i in range(customers)))
    return counted, completed


FEED_KEYS = KeySpace()  # the bench's handoff channel keeps the default key space


async def counted_up(redis: Redis, keys: KeySpace = FEED_KEYS, timeout_s: float = 5.0) -> float:
    """Waits until the analytics (channels/handoff/analytics.py) have counted every event
    on the feed; returns how long it took. A round of the handoff channel leaves up to a
    second of events to count after its last answer (the counter gathers them), work of
    that round: waited for, it does not fall into the next round, whichever channel's."""
    began = time.perf_counter()
    while time.perf_counter() - began < timeout_s:
        last = await redis.xrevrange(keys.events, count=1)
        cursor = await redis.get(keys.stats_cursor)
        if not last or (cursor and stream_position(cursor.decode()) >= stream_position(last[0][0].decode())):
            break
        await asyncio.sleep(0.02)
    return time.perf_counter() - began


@asynccontextmanager
async def desk_set_up(client: ApiClient) -> AsyncIterator[None]:
    """The desk's settings saved through the API as an admin would (`DESK_SETTINGS`);
    those before are saved back afterwards."""
    token = agent_token("bench-admin", "admin")
    status, before = await client.request("GET", "/agent/settings", token=token)
    if status != 200:
        raise RuntimeError(f"GET /agent/settings answered {status}: {before!r}")
    status, body = await client.request("PUT", "/agent/settings", DESK_SETTINGS, token=token)
    if status != 200:
        raise RuntimeError(f"PUT /agent/settings answered {status}: {body!r}")
    try:
        yield
    finally:
        await client.request("PUT", "/agent/settings", before, token=token)


@dataclass
class PacedOutside:
    """The CPU that processes outside the stack used during the paced rounds (cores, above
    `quiet`, what they use with the stack idle), and the pairs run again for it."""

    quiet: float
    limit: float
    kept: list[float] = field(default_factory=list)  # each kept round's load above quiet
    rejected: list[float] = field(default_factory=list)  # each rerun pair's highest load above quiet

    @property
    def reruns(self) -> int:
        return len(self.rejected)

    def keeps(self, loads: list[float], rerun_allowed: bool) -> bool:
        """Whether a pair whose rounds saw `loads` (cores, all told) counts; one that does not is run again."""
        above = [load - self.quiet for load in loads]
        if max(above) > self.limit and rerun_allowed:
            self.rejected.append(max(above))
            return False
        self.kept += above
        return True


@dataclass
class CapacityProbes:
    """REST's throughput at saturation as measured during the run (the saturated rounds,
    then a short round before every PROBE_EVERY paced pairs), and the rate each kept
    paced pair offered."""

    measures: list[float]
    rates: list[float] = field(default_factory=list)

    def measured(self, throughput: float) -> float:
        """Takes a new measure; returns the capacity the next pairs are paced at: the median
        of the last PROBES_HELD measures (one short round alone is noisy)."""
        self.measures.append(throughput)
        return median(self.measures[-PROBES_HELD:])


async def quiet_outside_load(meter: CpuMeter, samples: int = 3, seconds: float = 1.0) -> float:
    """What processes outside the stack use with the stack idle (cores; the least of
    `samples` seconds, so a burst in one does not raise the bar)."""
    loads = []
    for _ in range(samples):
        meter.start()
        await asyncio.sleep(seconds)
        loads.append(meter.stop()[OTHERS] / seconds)
    return min(loads)


async def metered_round(
    window: Awaitable[tuple[int, int]], window_s: float, run: ChannelRun, meter: CpuMeter, redis: Redis
) -> tuple[dict[str, float], float]:
    """One round (`window`, a `run_window` of `run`) with its CPU metered, ending once its
    events are counted; returns the CPU seconds each metered process used and how long it took."""
    began = time.perf_counter()
    meter.start()
    counted, completed = await window
    run.rounds.append((counted, window_s))
    run.end_round()
    run.settled.append(await counted_up(redis))
    run.completed += completed
    used = meter.stop()
    for process, seconds in used.items():
        run.cpu[process] += seconds
    return used, time.perf_counter() - began


@dataclass
class BotPathResult:
    rest: ChannelRun
    handoff: ChannelRun
    pair_ratios: list[float]
    unloaded: dict[str, list[float]]
    customers: int
    per_customer: int
    same_replies: bool
    window_s: float = 0.0
    ramp_s: float = 0.0
    paced_rest: ChannelRun | None = None  # the same customers at a human pace (PACED_SHARE of REST's throughput)
    paced_handoff: ChannelRun | None = None
    paced_rate: float = 0.0  # messages per second offered by the paced load
    unloaded_cpu_ms: dict[str, float] = field(default_factory=dict)  # Rasa CPU per message, one customer alone
    paced_stages: dict[str, Stages] = field(default_factory=dict)  # inside Rasa's server at the paced load
    redis_round_trips: RoundTrips | None = None  # what waking an idle Redis adds to a round trip
    desk_settings_saved: bool = False  # DESK_SETTINGS were saved before the rounds
    paced_outside: PacedOutside | None = None  # the load outside the stack during the paced rounds
    capacity_probes: list[float] = field(default_factory=list)  # REST's throughput at saturation, each measure
    paced_rates: list[float] = field(default_factory=list)  # the rate each paced pair offered

    @property
    def throughput_ratio(self) -> float:
        return self.handoff.throughput / self.rest.throughput

    @property
    def throughput_interval(self) -> tuple[float, float]:
        """The 95% interval of `throughput_ratio` over the pairs of rounds (bootstrap)."""
        return paired_ratio_interval(
            [[counted / seconds] for counted, seconds in self.handoff.rounds],
            [[counted / seconds] for counted, seconds in self.rest.rounds],
            statistic=sum,
        )

    @property
    def p50_ratio(self) -> float:
        """At saturation: reported, not the target (see `paced_p50_ratio`)."""
        return self.handoff.summary.p50 / self.rest.summary.p50

    @property
    def paced_p50_ratio(self) -> float:
        """At PACED_SHARE of REST's saturated throughput: the p50 target's measure. At
        saturation every customer's message waits for all the others' (Little's law:
        the mean latency is customers / throughput), so the p50 there says in which
        order the server takes messages, not what the channel costs."""
        if self.paced_rest is None or self.paced_handoff is None:
            return float("nan")
        return self.paced_handoff.summary.p50 / self.paced_rest.summary.p50

    @property
    def paced_p50_interval(self) -> tuple[float, float]:
        """The 95% interval of `paced_p50_ratio` over the pairs of paced rounds (bootstrap):
        what the machine's noise leaves of the figure."""
        if self.paced_rest is None or self.paced_handoff is None:
            return float("nan"), float("nan")
        return paired_ratio_interval(self.paced_handoff.latencies_by_round(), self.paced_rest.latencies_by_round())

    def paced_cpu_ms(self, processes: tuple[str, ...] = STACK) -> dict[str, float]:
        """CPU per message of `processes` (all told) in the paced rounds, per channel: what
        the channel costs, steadier than a latency that queueing multiplies. Empty for
        results saved before the paced rounds were metered."""
        runs = {"REST": self.paced_rest, "handoff": self.paced_handoff}
        if any(run is None or not run.cpu for run in runs.values()):
            return {}
        return {name: sum(run.cpu_ms_per_message(p) for p in processes) for name, run in runs.items() if run}

    def checks(self) -> list[Check]:
        return [
            Check(
                "1",
                "bot path throughput at saturation, handoff / REST",
                self.throughput_ratio,
                0.97,
                TIMES,
                higher_is_better=True,
                interval=self.throughput_interval,
            ),
            Check(
                "1",
                f"bot path p50 latency at {PACED_SHARE:.0%} load, handoff / REST",
                self.paced_p50_ratio,
                1.03,
                TIMES,
                interval=self.paced_p50_interval,
            ),
        ]

    def distributions(self) -> dict[str, list[float]]:
        return {"REST channel": self.rest.latencies, "handoff channel (state bot)": self.handoff.latencies}

    def details(self) -> dict[str, Any]:
        return {
            "pair ratio spread": (min(self.pair_ratios), median(self.pair_ratios), max(self.pair_ratios)),
        }


async def measure(
    stack: BenchStack,
    customers: int = 20,
    pairs: int = 20,
    window_s: float = 4.0,
    ramp_s: float = 1.0,
    per_customer: int = 5,
    solo_blocks: int = 10,
    paced_pairs: int = 80,
    paced_window_s: float = 6.0,
    log: Callable[[str], None] = print,
) -> BotPathResult:
    rest, handoff = ChannelRun("REST"), ChannelRun("handoff")
    meter = CpuMeter(stack.pids())
    redis = Redis.from_url(stack.redis.url)
    commands = CommandMeter(redis)
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=customers * 2)) as http,
        AsyncExitStack() as desk,
    ):
        channels = Channels(stack, http)
        await desk.enter_async_context(desk_set_up(channels.handoff))
        senders: dict[str, tuple[ChannelRun, Send]] = {
            "REST": (rest, channels.via_rest),
            "handoff": (handoff, channels.via_handoff),
        }
        log(f"  warm-up: {customers} customers x 3 messages on each channel")
        for name, (_, send) in senders.items():
            await run_round(send, f"warm-{name}", customers, 3, None)
        log(
            f"  {pairs} pairs of rounds (A B B A ...): {customers} customers talking without a break,"
            f" counted for {window_s:.0f} s after {ramp_s:.0f} s of ramp-up"
        )
        pair_ratios: list[float] = []
        for pair in range(pairs):
            order = ("REST", "handoff") if pair % 2 == 0 else ("handoff", "REST")
            speeds: dict[str, float] = {}
            for name in order:
                run, send = senders[name]
                await commands.start()
                window = run_window(send, f"r{pair}-{name}", customers, per_customer, ramp_s, window_s, run)
                await metered_round(window, window_s, run, meter, redis)
                run.commands.update(await commands.stop())
                counted = run.rounds[-1][0]
                speeds[name] = counted / window_s
            pair_ratios.append(speeds["handoff"] / speeds["REST"])
            if (pair + 1) % 4 == 0 or pair + 1 == pairs:
                log(
                    f"  pair {pair + 1}/{pairs}: so far REST {rest.throughput:.1f}/s,"
                    f" handoff {handoff.throughput:.1f}/s"
                )
        # The same customers at a human pace: each sends on a timetable of Poisson arrivals,
        # the same for both rounds of a pair, offering PACED_SHARE of REST's throughput above:
        # a busy server, not a saturated one, where every message would wait for all the others.
        capacity = CapacityProbes([rest.throughput])
        log(
            f"  {paced_pairs} pairs of paced rounds: {customers} customers offering {PACED_SHARE:.0%} of REST's"
            f" throughput at saturation, measured again every {PROBE_EVERY} pairs"
        )
        paced = {"REST": ChannelRun("REST"), "handoff": ChannelRun("handoff")}
        quiet = await quiet_outside_load(meter)
        outside = PacedOutside(quiet, OUTSIDE_LIMIT)
        log(f"  outside the stack: {quiet:.2f} cores with it idle; a pair is run again above +{OUTSIDE_LIMIT}")
        stack.start_stage_clock()  # from here on: the paced rounds' messages
        pair, rate, probed = 0, 0.0, -1
        while pair < paced_pairs:
            if pair % PROBE_EVERY == 0 and probed != pair:
                probed = pair
                probe = ChannelRun("REST")
                window = run_window(channels.via_rest, f"c{pair}", customers, per_customer, ramp_s, window_s, probe)
                await metered_round(window, window_s, probe, meter, redis)
                rate = PACED_SHARE * capacity.measured(probe.throughput)
                log(f"  pair {pair + 1}: REST at saturation {probe.throughput:.1f}/s, paced rate {rate:.1f}/s")
            trial: dict[str, ChannelRun] = {}
            loads: list[float] = []
            for name in ("REST", "handoff") if pair % 2 == 0 else ("handoff", "REST"):
                trial[name] = ChannelRun(name)
                window = run_window(
                    senders[name][1],
                    f"p{pair}-{name}-{outside.reruns}",
                    customers,
                    per_customer,
                    ramp_s,
                    paced_window_s,
                    trial[name],
                    timetable=lambda index, pair=pair, rate=rate: gaps(pair * 1000 + index, customers / rate),  # type: ignore[misc]
                )
                used, seconds = await metered_round(window, paced_window_s, trial[name], meter, redis)
                loads.append(used[OTHERS] / seconds)
            if not outside.keeps(loads, rerun_allowed=outside.reruns < paced_pairs):
                log(f"  pair {pair + 1}: outside load {max(loads):.2f} cores, run again")
                continue
            for name, run in trial.items():
                paced[name].absorb(run)
            capacity.rates.append(rate)
            pair += 1
        paced_stages = stages(stack.stage_records())
        # The bot's own reply with nobody else talking: one customer at a time, sessions of
        # `per_customer` messages, in blocks alternating the channels; the CPU per block.
        log(f"  one customer alone: {solo_blocks} blocks of {SOLO_SESSIONS} sessions on each channel")
        unloaded: dict[str, list[float]] = {"REST": [], "handoff": []}
        solo_cpu: dict[str, float] = {"REST": 0.0, "handoff": 0.0}
        solo_meter = CpuMeter({"rasa": stack.pids()["rasa"]})
        for block in range(solo_blocks):
            for name in ("REST", "handoff") if block % 2 == 0 else ("handoff", "REST"):
                solo_meter.start()
                for session in range(SOLO_SESSIONS):
                    for turn in range(per_customer):
                        text = MESSAGES[(session + turn) % len(MESSAGES)]
                        elapsed, _ = await senders[name][1](f"solo-{name}-{block}-{session}", text)
                        unloaded[name].append(elapsed)
                solo_cpu[name] += solo_meter.stop()["rasa"]
        log(f"  Redis round trips, back to back and after {PAUSE_S * 1000:.0f} ms of quiet")
        round_trip = await round_trips(redis)
    await redis.close()
    same = all(rest.replies[text] == handoff.replies[text] for text in set(rest.replies) | set(handoff.replies))
    result = BotPathResult(rest, handoff, pair_ratios, unloaded, customers, per_customer, same, window_s, ramp_s)
    result.paced_rest, result.paced_handoff = paced["REST"], paced["handoff"]
    result.paced_rates, result.capacity_probes = capacity.rates, capacity.measures
    result.paced_rate = sum(capacity.rates) / max(len(capacity.rates), 1)
    result.paced_stages = {name: paced_stages[channel] for name, channel in CHANNELS.items() if channel in paced_stages}
    result.unloaded_cpu_ms = {name: used / len(unloaded[name]) * 1000 for name, used in solo_cpu.items()}
    result.redis_round_trips = round_trip
    result.paced_outside = outside
    result.desk_settings_saved = True
    return result
