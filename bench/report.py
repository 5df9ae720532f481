"""The console table and docs/benchmarks.md, written from one run's results."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.botpath import PACED_SHARE, PROBE_EVERY, PROBES_HELD, BotPathResult, ChannelRun
from bench.checks import TIMES, Check
from bench.claims import ClaimsResult
from bench.humanpath import HumanPathResult
from bench.procs import OTHERS
from bench.profile import ProfileReport
from bench.stageclock import Stages
from bench.stats import Summary, median, ms, percentile, wait_growth
from bench.system import ROOT
from bench.trackerstore import TrackerStoreResult
from bench.waiting import QueueCosts, WaitingResult
from bench.wakeup import RoundTrips

DOC = ROOT / "docs" / "benchmarks.md"
IMAGE = ROOT / "docs" / "images" / "latency.png"
MIB = 1024 * 1024


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def pct(share: float) -> str:
    return "n/a" if math.isnan(share) else f"{share * 100:.0f}%"


def all_checks(results: dict[str, Any]) -> list[Check]:
    found: list[Check] = []
    for key in ("bot", "human", "claims_one", "claims", "waiting"):
        if key in results:
            found += results[key].checks()
    return found


def console(results: dict[str, Any]) -> str:
    rows = [
        f"{c.target:>2}  {c.label:<58} {c.show(c.value):>12}  {c.goal:<12} {c.verdict.replace('**', '')}"
        for c in all_checks(results)
    ]
    startup = results.get("startup")
    if startup is not None and startup.skipped is None:
        rows.append(f" 5  {'make run to ready (built tree)':<58} {startup.ready_s:>10.1f} s")
        rows.append(f" 5  {'memory of its processes (RSS, sum)':<58} {startup.total_rss / MIB:>8.0f} MiB")
    return "\n".join(["", "target  measured  goal  verdict", *rows, ""])


def cpu_row(cpu: dict[str, float], seconds: float) -> str:
    """`name: cores` for each process, over the phase's wall time."""
    if not seconds:
        return ""
    parts = [f"{name} {used / seconds:.2f}" for name, used in cpu.items() if used > 0.005 * seconds]
    return ", ".join(parts)


# -- sections -------------------------------------------------------------------------


def machine_section(results: dict[str, Any]) -> str:
    facts = dict(results["facts"])
    end = results.get("load_at_end")
    if end:
        facts["Load average at end (1, 5, 15 min)"] = end
    revision = results.get("revision")
    if revision:
        facts["Code measured"] = revision
    return "## The machine\n\n" + table(["", ""], list(facts.items()))


def summary_section(results: dict[str, Any]) -> str:
    rows = [[c.target, c.label, c.show(c.value), c.goal, c.verdict] for c in all_checks(results)]
    bot = results.get("bot")
    if bot is not None:
        rows.insert(
            2,
            ["1", "(bot path p50 latency at saturation, handoff / REST)", f"{bot.p50_ratio:.3f}", "report", "§1"],
        )
    waiting = results.get("waiting")
    if waiting is not None and len(waiting.memory) > 1:
        long = waiting.memory[1]
        rows.append(
            [
                "4",
                f"(the same with a {long.text_chars}-character last message)",
                f"{long.per_conversation:,.0f} B",
                "",
                "",
            ]
        )
    startup = results.get("startup")
    if startup is not None and startup.skipped is None:
        rows.append(["5", "`make run` on a built tree, to ready", f"{startup.ready_s:.1f} s", "report", "reported"])
        rows.append(["5", "memory of its processes (RSS, sum)", f"{startup.total_rss / MIB:.0f} MiB", "report", ""])
    return "## Summary\n\n" + table(["#", "what", "measured", "target", "verdict"], rows)


def tracker_store_lines(result: TrackerStoreResult) -> list[str]:
    rasa, ours, plain, *rest = result.rows
    lines = [
        "",
        f"**The tracker store** (`python -m bench --only tracker`): one Rasa agent in a process of its own,"
        f" {result.sessions} conversations of {result.per_session} messages per case (the questions above), the"
        " cases taking turns; Rasa CPU per message around `Agent.handle_message`, no HTTP, no other load.",
        "",
        table(
            ["case", "Rasa CPU / message", "p50", "CPU against Rasa's store", "CPU / session's first message"],
            [
                [what, f"{cpu:.2f} ms", f"{p50:.2f} ms", f"{cpu / rasa[1]:.3f}{TIMES}", f"{first:.1f} ms"]
                for what, cpu, p50, first in result.rows
            ],
        ),
        "",
        f"With `MergingRedisTrackerStore` (what `endpoints.yml` uses) the channel's stamp changes Rasa's CPU per"
        f" message by {(ours[1] / plain[1] - 1) * 100:+.1f}%; the store takes"
        f" {(1 - ours[1] / rasa[1]) * 100:.1f}% less CPU per message than Rasa's own store (see the fixes below).",
    ]
    if rest:
        checked = rest[0]
        lines[-1] += (
            f" Rasa's own check of the action server's answers (its schema checked on every call) would cost a"
            f" session's first message {checked[3]:.1f} ms of CPU instead of {ours[3]:.1f} ms."
        )
    return lines


def bot_section(
    bot: BotPathResult, profiles: dict[str, ProfileReport], tracker: TrackerStoreResult | None = None
) -> str:
    rows = []
    for run in (bot.rest, bot.handoff):
        s = run.summary
        rows.append(
            [
                f"{run.name} channel",
                f"{run.messages:,}",
                f"{run.throughput:.1f}/s",
                ms(s.p50),
                ms(s.p90),
                ms(s.p99),
                f"{run.cpu_ms_per_message('rasa'):.1f} ms",
                f"{run.cpu_ms_per_message('redis'):.2f} ms",
                f"{run.commands_per_message():.1f} ({run.commands_per_message(('evalsha', 'eval')):.1f})",
            ]
        )
    cpu_ratio = bot.handoff.cpu_ms_per_message("rasa") / bot.rest.cpu_ms_per_message("rasa")
    mean_ratio = bot.handoff.summary.mean / bot.rest.summary.mean
    low, mid, high = min(bot.pair_ratios), median(bot.pair_ratios), max(bot.pair_ratios)
    quartiles = percentile(bot.pair_ratios, 25), percentile(bot.pair_ratios, 75)
    throughput_low, throughput_high = bot.throughput_interval
    solo = {k: Summary.of(v) for k, v in bot.unloaded.items()}
    seconds = bot.rest.seconds + bot.handoff.seconds
    others = (bot.rest.cpu.get(OTHERS, 0) + bot.handoff.cpu.get(OTHERS, 0)) / seconds if seconds else 0
    lines = [
        "## 1. Bot path: the handoff channel in state `bot` against Rasa's REST channel",
        "",
        "One `rasa run` (tests/stack.py) serves both channels with the same model, `endpoints.yml` (the"
        " handoff's tracker and lock stores) and the handoff channel's check of the action server's answers,"
        f" so the ratios below are the channel's cost alone. The same {bot.customers} customers talk at two loads."
        f" **At saturation** (the throughput target) each sends {bot.per_customer} messages one after another"
        " without a break (questions the bot answers with a rule), then a new customer takes its place, so both"
        " channels open sessions at the same rate (each calls the action server's `action_session_start`)."
        f" **At {PACED_SHARE:.0%} of that load** (the p50 target, further below) the same customers send on a"
        " timetable, the same for both channels. A round runs one channel: after"
        f" {bot.ramp_s:.0f} s of ramp-up it counts the answers of the next {bot.window_s:.0f} s and the latency of"
        " the messages sent in them. Rounds alternate REST, handoff, handoff, REST, ..."
        f" ({len(bot.pair_ratios)} pairs at saturation, after a warm-up of both)."
        + settle_sentence(bot)
        + (
            " The desk's settings were saved through the API first, as an admin would have them (office hours,"
            " policies, capacity: `DESK_SETTINGS` in bench/botpath.py): the handoff channel reads them in every bot"
            " message's step and stamps them on it."
            if getattr(bot, "desk_settings_saved", False)
            else ""
        ),
        "",
        table(
            [
                "channel",
                "messages",
                "throughput",
                "p50",
                "p90",
                "p99",
                "Rasa CPU / message",
                "Redis CPU / message",
                "Redis commands / message (EVALSHA)",
            ],
            rows,
        ),
        "",
        f"- **Throughput ratio handoff / REST at saturation: {bot.throughput_ratio:.3f}** (target ≥ 0.97; 95%"
        f" interval {throughput_low:.3f}-{throughput_high:.3f}, drawing the pairs of rounds again). At"
        f" saturation the p50 latency ratio was {bot.p50_ratio:.3f} and the mean latency ratio {mean_ratio:.3f}"
        " (reported: see *why the p50 target is measured below saturation*).",
        f"- Per pair of rounds the throughput ratio ran from {low:.3f} to {high:.3f} (median {mid:.3f},"
        f" quartiles {quartiles[0]:.3f}-{quartiles[1]:.3f}): that spread is the machine's noise"
        f" (other work used {others:.2f} cores on average meanwhile).",
        f"- A steadier view is CPU time: the Rasa process spent {cpu_ratio:.3f}{TIMES} the CPU per message through"
        " the handoff channel. Redis commands include those run inside the Lua scripts.",
        f"- Both channels gave {'the same' if bot.same_replies else '**different**'} replies to the same questions;"
        f" errors: REST {len(bot.rest.errors)}, handoff {len(bot.handoff.errors)}.",
        f"- With one customer alone (no queueing), the bot's reply takes p50 {ms(solo['REST'].p50)} through REST"
        f" and {ms(solo['handoff'].p50)} through the handoff channel (p90 {ms(solo['REST'].p90)} and"
        f" {ms(solo['handoff'].p90)}).",
    ]
    places = sorted(set(getattr(bot.rest, "by_place", {})) & set(getattr(bot.handoff, "by_place", {})))
    if places:
        lines += [
            "",
            "At saturation, p50 latency by the message's place in its customer's session (the first opens the"
            " session: the action server's `action_session_start`):",
            "",
            by_place_table(bot.rest, bot.handoff, places),
        ]
    handoff, rest = profiles.get("bot path, handoff channel"), profiles.get("bot path, REST channel")
    if handoff is not None and rest is not None:
        lines += [
            "",
            "**Where the time goes** (the sampler on Rasa's main thread, same load): busy"
            f" {pct(handoff.busy_share)} of the time. Of the busy time: NLU {pct(handoff.stage('Rasa NLU'))},"
            f" dialogue policies {pct(handoff.stage('Rasa dialogue'))}, actions incl. the action server"
            f" {pct(handoff.stage('Rasa actions'))}, the tracker store {pct(handoff.stage('Rasa tracker'))}, the lock"
            f" store {pct(handoff.stage('Rasa lock'))}; TensorFlow alone {pct(handoff.kind('TensorFlow'))}. The handoff"
            f" channel's own work (its Redis calls, token check, transcript; everything outside Rasa's handling) is"
            f" {pct(handoff.channel_own)} of the busy time; the REST channel's handler around Rasa's handling is too"
            " small to see. See [the profile](#where-the-time-goes-profiles).",
        ]
    extra = command_difference(bot)
    if extra:
        lines += [
            "",
            "Redis commands per message that the handoff channel adds (all clients, scripts' inner commands"
            " included): " + ", ".join(f"`{name}` +{n:.1f}" for name, n in extra) + ".",
        ]
    paced_rest, paced_handoff = getattr(bot, "paced_rest", None), getattr(bot, "paced_handoff", None)
    if paced_rest is not None and paced_handoff is not None and paced_rest.latencies and paced_handoff.latencies:
        lines += paced_lines(bot, paced_rest, paced_handoff)
    shape = shape_paragraph(bot, places)
    if shape:
        lines += ["", shape]
    lines += ["", cost_paragraph(bot, cpu_ratio)]
    if tracker is not None:
        lines += tracker_store_lines(tracker)
    missed = [c for c in bot.checks() if not c.met]
    if missed:
        lines += ["", "**Missed:** " + "; ".join(missed_reason(bot, c) for c in missed) + "."]
    unsettled = [c for c in bot.checks() if c.met and not c.settled]
    if unsettled:
        lines += ["", "**Met, not settled:** " + "; ".join(missed_reason(bot, c) for c in unsettled) + "."]
    return "\n".join(lines)


def missed_reason(bot: BotPathResult, check: Check) -> str:
    """A bot path target missed (or met by less than the run's noise), by how much, and
    what this run says of why."""
    text = f"{check.label} {check.show(check.value)} (by {abs(check.value - check.limit):.3f})"
    if check.interval is not None and not math.isnan(check.interval[0]):
        low, high = check.interval
        text += f", 95% interval {check.show(low)}-{check.show(high)} over the pairs of rounds"
    if "throughput" in check.label:
        low, high = min(bot.pair_ratios), max(bot.pair_ratios)
        return text + (
            f". The pairs of rounds spread from {low:.3f} to {high:.3f}, so one run's wall-clock ratio moves by"
            " several percent either way"
        )
    solo = {k: Summary.of(v).p50 for k, v in bot.unloaded.items()}
    cpu = getattr(bot, "unloaded_cpu_ms", {})
    more = solo["handoff"] - solo["REST"]
    text += (
        f". One customer alone, the reply took {ms(abs(more))} {'more' if more >= 0 else 'less'} through the"
        " handoff channel"
    )
    if cpu.get("REST"):
        text += f" and the Rasa process {cpu['handoff'] / cpu['REST']:.3f}{TIMES} the CPU per message"
    text += f"; at {PACED_SHARE:.0%} load a message also waits for the messages ahead of it"
    inside = getattr(bot, "paced_stages", {})
    if "REST" not in inside or "handoff" not in inside:
        return text
    rest, handoff = inside["REST"], inside["handoff"]
    extra = extra_server_ms(rest, handoff)
    text += queueing_reason(rest, handoff, extra, getattr(bot, "paced_rest", None), check.value)
    return text + alone_reason(extra, more) + wake_up_reason(getattr(bot, "redis_round_trips", None))


def alone_reason(extra: float, alone: float) -> str:
    """When the channel costs `extra` ms more under load though one customer alone was answered
    `alone` ms sooner (negative): that difference is not its own work."""
    if extra <= 0 or alone >= 0:
        return ""
    return (
        f". Yet one customer alone the handoff channel's reply took {ms(-alone)} less than REST's in the same run:"
        " what Rasa's handling adds under load here is not the channel's own work, which is the same with or"
        " without other customers (see *Target 1's p50 at 70% load, this round* under the fixes)"
    )


def wake_up_reason(trips: RoundTrips | None) -> str:
    """Waking an idle Redis, which both channels now pay once per message."""
    if trips is None or trips.wake_up_ms <= 0:
        return ""
    return (
        f". Waking an idle Redis is paid once per message through both channels: in the same run a PING took"
        f" {ms(trips.back_to_back_ms)} right after another and {ms(trips.after_pause_ms)} after"
        f" {trips.pause_s * 1000:.0f} ms of quiet (p50, {trips.samples} of each). Through REST it is Rasa's"
        " ticket for the conversation's lock that wakes it; through the handoff channel its own step, which"
        " takes that ticket in the same script (before, the step was a round trip of its own ahead of Rasa's)"
    )


def total_added(extra: float, share: float) -> str:
    """The channel's extra server time per message, in words that fit its sign."""
    if extra >= 0:
        return f"All told the channel adds ~{extra:.2f} ms, ~{share:.1%} of the server's time per message"
    return (
        f"All told the channel's messages took {-extra:.2f} ms less ({share:.1%}) in this run: its own"
        " cost is smaller than what one run tells apart"
    )


def queueing_reason(rest: Stages, handoff: Stages, extra: float, paced_rest: ChannelRun | None, measured: float) -> str:
    """Why a few percent more server time per message is a larger p50 ratio at the paced
    load: the stage clock's figures and the queueing arithmetic that multiplies them."""
    share = extra / rest.rasa_ms
    text = (
        f". Inside the Rasa server at that load (the stage clock, above), the handoff channel took a message"
        f" into Rasa {ms(handoff.idle_before_rasa_ms - rest.idle_before_rasa_ms)} later after reading its"
        f" request when Rasa was idle, and {ms(handoff.queued_gap_ms - rest.queued_gap_ms)} later after the"
        " message ahead of it when it had waited: the channel's own work on the request (its checks, the"
        " customer's token, the message's place in line, its Redis step made ready). The step itself (the"
        " customer's admission, the message stored, the conversation's state and the live settings read) runs"
        " in Rasa's first Redis round trip, the one that takes Rasa's ticket for the conversation's lock, so it"
        " is inside Rasa's handling, and that round trip brings the tracker too, which Rasa's load and its"
        " save then do not read again (two round trips fewer than through REST):"
        f" {ms(rest.rasa_ms)} (REST) and {ms(handoff.rasa_ms)} (handoff) at the median."
        f" {total_added(extra, share)};"
        f" at {PACED_SHARE:.0%} load every message ahead in line adds its share to the wait, so the p50 ratio"
        f" {'grows' if extra >= 0 else 'shrinks'} by several times that"
    )
    if paced_rest is not None and paced_rest.throughput > 0:
        busy = paced_rest.throughput * rest.rasa_ms / 1000  # the share of the time Rasa was at work (REST)
        if 0 < busy < 1 and share > 0:
            times = wait_growth(busy)
            text += (
                f". How many times: Rasa was at work u = {busy:.0%} of the time through REST (throughput by"
                " handling), and in a single-server queue the mean wait grows as u S / (1 - u) with the service"
                " time S (u grows with S too), so a service time longer by a share e lengthens the wait by about"
                f" (2 + u / (1 - u)) e = {times:.1f}{TIMES} {share:.1%} = {times * share:.0%}. To stay within 1.03"
                " at this load the channel's work would have"
                f" to cost under ~{0.03 / times:.1%} of Rasa's handling, ~{0.03 / times * rest.rasa_ms:.2f} ms a"
                f" message, against the {extra:.2f} ms it costs now"
            )
            if measured < 1 + times * share - 0.02:
                text += (
                    f". This run's p50 ratio, {measured:.3f}, came out below that estimate: the estimate is the"
                    " mean wait of a single-server queue, and one run's p50 moves with the noise its interval shows"
                )
    return text + (
        ". A faster Rasa alone would not shrink it: the faster Rasa's own handling, the larger the channel's share"
    )


def paced_interval(bot: BotPathResult) -> tuple[float, float]:
    """The paced p50 ratio's bootstrap interval; NaN for results saved before there were paced rounds."""
    if getattr(bot, "paced_rest", None) is None or getattr(bot, "paced_handoff", None) is None:
        return math.nan, math.nan
    return bot.paced_p50_interval


def extra_server_ms(rest: Stages, handoff: Stages) -> float:
    """The handoff channel's extra server time per message: before Rasa (weighing the idle
    and queued cases) and in Rasa's handling, where its step runs with Rasa's lock ticket."""
    idle = handoff.idle_before_rasa_ms - rest.idle_before_rasa_ms
    queued = handoff.queued_gap_ms - rest.queued_gap_ms
    counted = handoff.idle_messages + handoff.queued_messages
    if not counted:
        return float("nan")
    before = (idle * handoff.idle_messages + queued * handoff.queued_messages) / counted
    return before + handoff.rasa_ms - rest.rasa_ms  # the channel's step runs inside Rasa's handling


def stage_lines(inside: dict[str, Stages]) -> list[str]:
    """The stage clock's medians at the paced load, per channel."""
    rows = [
        [
            f"{name} channel",
            f"{stage.messages:,}",
            f"{ms(stage.idle_before_rasa_ms)} ({stage.idle_messages:,})",
            f"{ms(stage.queued_gap_ms)} ({stage.queued_messages:,})",
            ms(stage.rasa_ms),
            ms(stage.rasa_cpu_ms),
        ]
        for name, stage in inside.items()
    ]
    headers = [
        "channel",
        "messages",
        "request read → in Rasa, Rasa idle",
        "previous message out of Rasa → this one in, it waited",
        "Rasa's handling",
        "its CPU (main thread)",
    ]
    return [
        "",
        "Inside the Rasa server at this load (`bench/stageclock.py`: when Sanic read each request, when Rasa's"
        " handling of its message began and ended; p50, with the number of messages):",
        "",
        table(headers, rows),
    ]


def by_place_table(rest: ChannelRun, handoff: ChannelRun, places: list[int]) -> str:
    """p50 latency by a message's place in its session, each channel and their ratio."""
    p50 = {run.name: [Summary.of(run.by_place[place]).p50 for place in places] for run in (rest, handoff)}
    rows = [[f"{name} channel", *(ms(value) for value in values)] for name, values in p50.items()]
    ratios = (f"{h / r:.3f}" for h, r in zip(p50[handoff.name], p50[rest.name], strict=True))
    rows.append(["handoff / REST", *ratios])
    return table(["channel", *(f"message {place + 1}" for place in places)], rows)


def settle_sentence(bot: BotPathResult) -> str:
    """How the rounds were kept apart: each ends once the analytics counted its feed events."""
    runs = (bot.handoff, getattr(bot, "paced_handoff", None))
    waits = [w for run in runs if run is not None for w in getattr(run, "settled", [])]
    if not waits:
        return ""
    return (
        " Each round ends once the analytics have counted the feed events it made (the counter gathers them for"
        f" up to a second): after the handoff channel's rounds that took {median(waits):.2f} s at the median,"
        " after REST's nothing, so no round's background work falls into the next."
    )


def paced_lines(bot: BotPathResult, rest: ChannelRun, handoff: ChannelRun) -> list[str]:
    """The same customers at a human pace, PACED_SHARE of saturation: the p50 target."""
    rows = []
    for run in (rest, handoff):
        s = run.summary
        rows.append(
            [
                f"{run.name} channel",
                f"{len(run.latencies):,}",
                f"{run.throughput:.1f}/s",
                ms(s.p50),
                ms(s.mean),
                ms(s.p90),
                ms(s.p99),
            ]
        )
    places = sorted(set(rest.by_place) & set(handoff.by_place))
    solo = {k: Summary.of(v) for k, v in bot.unloaded.items()}
    low, high = paced_interval(bot)
    spread = (
        f" Drawing the {len(rest.rounds)} pairs of rounds again (bootstrap), 95% of the draws give a p50 ratio"
        f" between {low:.3f} and {high:.3f}: what the machine's noise leaves of that figure."
        if not math.isnan(low)
        else ""
    )
    return [
        "",
        f"**At {PACED_SHARE:.0%} load: the p50 target.** The same {bot.customers} customers, each sending on a"
        " timetable of Poisson arrivals (exponential gaps; a message whose answer before it has not come yet goes"
        f" when it comes), offering ~{bot.paced_rate:.0f} messages/s, {PACED_SHARE:.0%} of the REST channel's"
        f" throughput at saturation{capacity_clause(bot)}; {len(rest.rounds)} pairs of rounds of"
        f" {rest.rounds[0][1]:.0f} s. Both rounds of a pair use the same timetable, so they differ by what the"
        " channels cost, not by when the messages came.",
        "",
        table(["channel", "messages", "throughput", "p50", "mean", "p90", "p99"], rows),
        "",
        f"- **p50 latency ratio handoff / REST at {PACED_SHARE:.0%} load: {bot.paced_p50_ratio:.3f}** (target"
        f" ≤ 1.03); mean ratio {handoff.summary.mean / rest.summary.mean:.3f}, p99 ratio"
        f" {handoff.summary.p99 / rest.summary.p99:.3f}. One customer alone the reply takes"
        f" {ms(solo['REST'].p50)} and {ms(solo['handoff'].p50)} (p50), so a message here waits"
        f" {ms(rest.summary.p50 - solo['REST'].p50)} (REST) and {ms(handoff.summary.p50 - solo['handoff'].p50)}"
        " (handoff) at the median for the messages ahead of it." + spread,
        *paced_cost_lines(bot),
        "",
        "p50 latency by the message's place in its session at this load:",
        "",
        by_place_table(rest, handoff, places),
        *(stage_lines(getattr(bot, "paced_stages", {})) if getattr(bot, "paced_stages", {}) else []),
    ]


def capacity_clause(bot: BotPathResult) -> str:
    """How the paced rate followed REST's throughput at saturation over the run."""
    probes = getattr(bot, "capacity_probes", [])
    if len(probes) < 2:
        return " above"
    rates = bot.paced_rates
    return (
        f", measured again in a round of its own before every {PROBE_EVERY} pairs and paced at the median of the"
        f" last {PROBES_HELD} measures (the first measure being the saturated rounds' above): they ran from"
        f" {min(probes):.1f}/s to {max(probes):.1f}/s, and the paced rate from {min(rates):.1f}/s to"
        f" {max(rates):.1f}/s, so a machine that slows down during the run does not drive the server's share of"
        " busy time up, and the wait in line with it"
    )


def paced_cost_lines(bot: BotPathResult) -> list[str]:
    """The paced rounds' CPU per message through each channel, and the load outside the stack
    (with the pairs run again for it); nothing for results saved before they were metered."""
    lines = []
    stack = bot.paced_cpu_ms()
    rasa = bot.paced_cpu_ms(("rasa",)) if stack else {}
    if stack.get("REST"):
        lines.append(
            f"- CPU per message in these rounds (Rasa, the action server and Redis; their events counted):"
            f" {ms(stack['REST'])} through REST, {ms(stack['handoff'])} through the handoff channel, a ratio of"
            f" **{stack['handoff'] / stack['REST']:.3f}**; the Rasa process alone {ms(rasa['REST'])} and"
            f" {ms(rasa['handoff'])}, {rasa['handoff'] / rasa['REST']:.3f}{TIMES}. What the channel costs per"
            " message is not multiplied by the wait in line, as the p50 ratio is."
        )
    outside = getattr(bot, "paced_outside", None)
    if outside is not None and outside.kept:
        kept = sorted(outside.kept)
        lines.append(
            "- The rest of the machine (CPU charged to neither the stack's processes nor the bench's client:"
            " other programs, and kernel work such as the loopback network's) used"
            f" {outside.quiet:.2f} cores with the stack idle; during the counted rounds"
            f" {median(kept):+.2f} cores above that at the median, {kept[-1]:+.2f} at most. A pair is run again"
            f" when either round passes {outside.limit:+.2f}: to count"
            f" {len(bot.paced_rest.rounds) if bot.paced_rest else 0}, {outside.reruns} were run again"
            + (f" (at {', '.join(f'{load:+.3f}' for load in outside.rejected)} cores)" if outside.rejected else "")
            + "."
        )
    return lines


def cost_paragraph(bot: BotPathResult, cpu_ratio: float) -> str:
    """What the channel costs the Rasa process per message, alone and under load."""
    solo = getattr(bot, "unloaded_cpu_ms", {})
    text = "**What the channel costs.** "
    if solo.get("REST"):
        solo_ratio = solo["handoff"] / solo["REST"]
        text += (
            f"One customer alone, the Rasa process spent {solo['REST']:.1f} ms of CPU per message through REST and"
            f" {solo['handoff']:.1f} ms through the handoff channel ({solo_ratio:.3f}{TIMES},"
            f" {solo['handoff'] - solo['REST']:+.2f} ms): the channel's own work (the request's checks, one"
            " script that lets the message in, stores it and reads the live settings stamped on it, run with"
            " Rasa's ticket for the conversation's lock, one that stores the bot's replies and gives the ticket"
            " back, the HTTP answer,"
            " and the feed reader and analytics counter of the process following the feed), less the two reads"
            " of the tracker Rasa's tracker store makes through REST and not here (the first script brings the"
            " tracker with the ticket). "
        )
        if cpu_ratio < solo_ratio - 0.005:
            text += (
                f"Under load it was {cpu_ratio:.3f}{TIMES}: with {bot.customers} customers that work is shared"
                " (the store's commands of one loop turn leave in one write, the feed reader and the analytics"
                " counter wake once for many events)"
                + (", and in this run the REST channel's messages came out dearer" if cpu_ratio < 1 else "")
                + ". "
            )
        else:
            text += f"Under load it was {cpu_ratio:.3f}{TIMES}. "
    else:
        text += f"Under load the Rasa process spent {cpu_ratio:.3f}{TIMES} the CPU per message. "
    return text + (
        "Inside Rasa's handling the stamp costs no measurable time: Rasa keeps a message's metadata in the"
        " tracker, and the tracker store (`channels/handoff/tracker_store.py`) loads and saves it without the"
        " extra work Rasa's own store did for it (see the fixes below)."
    )


def shape_paragraph(bot: BotPathResult, places: list[int]) -> str | None:
    """Why the p50 at saturation says in which order messages are served, not what the channel costs."""
    if not places:
        return None
    rest, handoff = bot.rest.summary, bot.handoff.summary
    first_rest = Summary.of(bot.rest.by_place[places[0]]).p50
    first_handoff = Summary.of(bot.handoff.by_place[places[0]]).p50
    return (
        "**Why the p50 target is measured below saturation.** At saturation every customer always has a message"
        f" in the server, so the mean latency is customers / throughput (Little's law): {bot.customers} /"
        f" {bot.rest.throughput:.1f} = {bot.customers / bot.rest.throughput * 1000:.0f} ms through REST (measured:"
        f" {ms(rest.mean)}), whatever the channel costs. What is left to the median is the order in which the"
        " server takes messages. Rasa handles a message without yielding its event loop (its Redis tracker and"
        " lock stores are synchronous) except where it waits for the action server, as a session's first"
        " message does. Through REST such a message then goes back behind every message that arrived"
        f" meanwhile: message 1 waits {ms(first_rest)} at the median, the others overtake it, and REST's p50 is"
        f" {ms(rest.p50)} against a mean of {ms(rest.mean)} (p99 {ms(rest.p99)}). The handoff channel sends it to"
        " the end of its line too (`channels/handoff/turns.py`: messages start in Rasa in the order they"
        " arrived, a message back from the action server behind those that arrived meanwhile, and a finished"
        f" answer goes out before the next message starts): message 1 waits {ms(first_handoff)}, p50"
        f" {ms(handoff.p50)} against a mean of {ms(handoff.mean)} (p99 {ms(handoff.p99)}). Sending it ahead of"
        " the line instead made the other messages wait behind it (~10% on the p50 at 70% load in an A/B). So"
        " at saturation the p50 ratio says in which order messages meet the action server's replies more than"
        f" what the channel costs ({bot.p50_ratio:.3f} here). Below saturation a message waits for few others,"
        " and the ratio follows what each message costs, the waits for the messages ahead included:"
        f" {bot.paced_p50_ratio:.3f} at {PACED_SHARE:.0%} load."
    )


def command_difference(bot: BotPathResult, shown: int = 8) -> list[tuple[str, float]]:
    """The Redis commands per message the handoff channel makes beyond the REST channel's."""
    rest, handoff = bot.rest, bot.handoff
    names = set(rest.commands) | set(handoff.commands)
    per_message = {
        name: handoff.commands[name] / max(handoff.messages, 1) - rest.commands[name] / max(rest.messages, 1)
        for name in names
        if name != "info"
    }
    return [(n, v) for n, v in sorted(per_message.items(), key=lambda item: (-item[1], item[0])) if v >= 0.05][:shown]


def human_rows(human: HumanPathResult, layout: str) -> list[list[str]]:
    return [
        [f"{layout}: customer message → the agent's WebSocket frame", *Summary.of(human.to_agent).cells()],
        [
            f"{layout}: customer message → the last of the {human.agents} agents' frames",
            *Summary.of(human.to_every_agent).cells(),
        ],
        [f"{layout}: agent message → the customer's WebSocket frame", *Summary.of(human.to_customer).cells()],
        [f"{layout}: customer's HTTP request answered (`POST /webhook`)", *Summary.of(human.customer_http).cells()],
        [f"{layout}: agent's HTTP request answered (`POST .../messages`)", *Summary.of(human.agent_http).cells()],
    ]


def human_section(
    human: HumanPathResult, single: HumanPathResult | None, bot: BotPathResult | None, profile: ProfileReport | None
) -> str:
    """`human`: the desk layout (the targets); `single`: everything on one process."""
    rows = human_rows(human, "desk process")
    if single is not None:
        rows += human_rows(single, "one process")
    if bot is not None:
        rows.append(["the bot's own reply, one customer alone", *Summary.of(bot.unloaded["handoff"]).cells()])
        rows.append(
            [f"the bot's own reply, {bot.customers} customers at once (target 1)", *bot.handoff.summary.cells()]
        )
    rate = human.messages / human.seconds if human.seconds else float("nan")
    lines = [
        "## 2. Human path: 200 conversations assigned at once",
        "",
        f"{human.conversations} customers were handed over through the bot (gibberish, `nlu_fallback`), claimed by"
        f" {human.agents} agents ({human.conversations // human.agents} each) and all kept their WebSockets open"
        f" ({human.agents} agent sockets, which receive every event, and {human.conversations} customer sockets)."
        f" Each conversation then alternated a customer message and an agent reply, {human.exchanges} of each,"
        f" pausing {human.gap_s * 0.5:.0f}-{human.gap_s * 1.5:.0f} s between messages: a human pace, in all"
        f" {rate:.0f} messages/s. Latency runs from the start of the HTTP request to the frame's arrival on the"
        " other side's socket (client-side clock, same machine); the messages go out on lean keep-alive"
        " connections (`bench/rawhttp.py`) and the sockets are read by a lean WebSocket client that stamps each"
        " frame when its bytes are read (`bench/rawws.py`), as each person's own browser would: with 220"
        " sockets in one process, the `websockets` library's two task wake-ups per frame made a frame wait for"
        " the others that arrived with it.",
        "",
        "Two layouts of the same code, run one after the other:",
        "",
        "- **desk process** (the targets): customers and agents talk to a `rasa run` started with"
        " `HANDOFF_RECORDER=off`; the other `rasa run` (which serves no request here) records the human part in"
        " Rasa's trackers from the queue in Redis (`channels/handoff/recorder.py`). This is the layout the README"
        " gives for a desk that must feel instant: the agents' pushes never wait behind Rasa's tracker work.",
        "- **one process**: everything on one `rasa run`, as `make run` starts it; that process also records.",
        "",
        table(["", "n", "p50", "p90", "p99", "max"], rows),
        "",
        f"- Lost frames (not there within 10 s): {human.lost}"
        + (f" (one process: {single.lost})" if single is not None else "")
        + f". Frames received by the test clients: {human.frames:,}.",
        f"- CPU in cores during the desk run: {cpu_row(human.cpu, human.seconds)}.",
    ]
    if single is not None:
        lines.append(f"- CPU in cores during the one-process run: {cpu_row(single.cpu, single.seconds)}.")
    if profile is not None:
        lines += [
            f"- One process: Rasa's main thread was busy {pct(profile.busy_share)} of the time. Of that: recording"
            " human-part messages in Rasa's tracker (each customer message gets an NLU parse for the agents)"
            f" {pct(profile.stage('recording human-part'))}, Redis calls (Rasa's synchronous tracker and lock stores"
            f" and the channel's asyncio client) {pct(profile.stage('redis-py'))}, WebSocket pushes"
            f" {pct(profile.stage('WebSocket pushes'))}, the live feed reader {pct(profile.stage('live feed'))}."
            f" Garbage collections: {gc_text(profile)}.",
        ]
    lines += [
        "",
        "**Where the time goes.** A customer's message is one HTTP request making one Redis round trip (a Lua"
        " script that checks the customer's token and rate limit, stores the message, announces it on the feed"
        " and queues it for the tracker); an agent's too (the agent's token is verified in the process and"
        " remembered; the script counts the rate limit). The push after it is the process's feed reader waking"
        " on the stream and writing the frame to each socket that wants it: every event goes to all"
        f" {human.agents} agent sockets (their lists), one after another, the sockets of the people it is for first"
        " (the agent who has the conversation, its customer), then the others': the row *the last of the agents'"
        " frames* is when every agent's list has it. With one"
        " process, Rasa's tracker work (an NLU parse per customer message, a tracker load"
        " and save per recording, its synchronous Redis tracker and lock stores) holds the event loop for"
        " milliseconds to tens of milliseconds at a time: a frame or request arriving meanwhile waits, which is the"
        " one-process tail. The recorder takes that work off the request's path; a desk process hands it to"
        " another process altogether.",
    ]
    missed = [c for c in human.checks() if not c.met]
    if missed:
        lines += [
            "",
            "**Missed:** "
            + "; ".join(f"{c.label}: {c.show(c.value)} ({c.verdict.replace('**', '')})" for c in missed)
            + f". The HTTP request itself is answered in p50 {ms(Summary.of(human.customer_http).p50)} (customer) and"
            f" {ms(Summary.of(human.agent_http).p50)} (agent) on this machine, where a request to the health"
            " endpoint alone takes about 1 ms (each round trip wakes the client, the server and Redis on a"
            " virtual machine); the push adds the feed reader's wake-up and the fan-out above."
            + (
                " On this shared 2-core machine the other work (see the CPU line) took cores away too."
                if human.cpu.get(OTHERS, 0.0) > 0.2 * human.seconds
                else ""
            ),
        ]
    return "\n".join(lines)


def hottest(profile: ProfileReport) -> str:
    """The hottest innermost function and its share, for a sentence that reads "The hottest function"."""
    if not profile.top:
        return " is unknown (no samples)"
    name, share = profile.top[0]
    return f", `{name}`, takes {pct(share)} of it"


def gc_text(profile: ProfileReport) -> str:
    if not profile.collections:
        return "none"
    parts = []
    for generation, (count, total, longest) in sorted(profile.collections.items()):
        parts.append(f"generation {generation}: {count} ({total * 1000:.0f} ms, longest {longest * 1000:.1f} ms)")
    return "; ".join(parts)


def claims_rows(claims: ClaimsResult) -> list[list[str]]:
    rows = []
    runs = [(claims.claims, "rasa"), (claims.bare, "bare Sanic")]
    if claims.in_rasa is not None:
        runs.append((claims.in_rasa, "rasa"))
    for run, per_request_cpu in runs:
        s = Summary.of(run.latencies)
        statuses = ", ".join(f"{status}: {count:,}" for status, count in sorted(run.statuses.items()))
        rows.append(
            [
                f"{run.name}, {claims.layout}",
                f"{run.requests:,}",
                f"{run.decided_per_second:,.0f}/s",
                ms(s.p50),
                ms(s.p99),
                f"{run.cpu_us_per_request(per_request_cpu):,.0f} µs",
                f"{run.cpu_us_per_request('bench client'):,.0f} µs",
                statuses,
            ]
        )
    return rows


def cost_split(run: ClaimsResult) -> str:
    """What a claim costs over a bare request: the Rasa process's share and the channel's."""
    assert run.in_rasa is not None
    claim, bare = run.claim_cpu_us, run.bare_cpu_us
    inside = run.in_rasa.cpu_us_per_request("rasa")
    return (
        f"- What a claim costs over a bare request ({run.layout}): {claim:,.0f} µs of server CPU against {bare:,.0f} µs"
        f" for the bare endpoint in a process of its own and {inside:,.0f} µs for the same answer from a bare route"
        f" inside the Rasa process (`bench/bare_channel.py`). The Rasa process adds {inside - bare:,.0f} µs to any"
        f" request (Rasa's Sanic app and middleware, a heap of ~750,000 objects); the channel's work adds"
        f" {claim - inside:,.0f} µs (the token check, the route, the claim script's call on the pipelined Redis"
        " connection, the answer, and the process's feed followers counting the two events a claim emits)."
    )


def claims_section(claims: ClaimsResult, one: ClaimsResult | None, profile: ProfileReport | None) -> str:
    """`claims`: the agents spread over two processes (the target); `one`: one process."""
    runs = [r for r in (one, claims) if r is not None]
    rows = [row for run in runs for row in claims_rows(run)]
    commands = sum(claims.claims.commands.values()) / max(claims.claims.requests, 1)
    lines = [
        f"## 3. Claims: {claims.agents} agents racing",
        "",
        f"{claims.prepared:,} conversations were put in the Waiting queue through the store (the same Lua scripts),"
        f" then {claims.agents} agents, each with its own token and keep-alive connection, claimed them through"
        f" `POST /agent/conversations/<id>/claim`, {claims.race} agents on each conversation at once (one wins, the"
        " others get 409 `already_assigned` naming the winner). In the same run, alternating rounds, the same client"
        " drove a bare Sanic JSON endpoint (same Sanic, one worker, uvloop) answering a claim-sized JSON, and a"
        " bare route inside the Rasa process giving the same answer. Measured"
        " twice: on one `rasa run`, then with the agents spread over two `rasa run` processes on the same Redis"
        " (as a load balancer would; the design is stateless) beside two bare Sanic processes.",
        "",
        table(
            ["server", "requests", "rate", "p50", "p99", "server CPU / request", "client CPU / request", "answers"],
            rows,
        ),
        "",
    ]
    for run in runs:
        lines.append(
            f"- **{run.layout}: {run.claims.decided_per_second:,.0f}"
            f" claim requests decided per second** (answered 200 or 409), {run.ratio:.2f}{TIMES} the bare Sanic"
            f" endpoint ({run.bare.decided_per_second:,.0f}/s); won claims {run.wins_per_second:,.0f}/s;"
            f" refused by the agents' rate limit (429, not counted) {run.claims.statuses[429]:,}."
            f" Cores busy while it ran: {run.claims.cores_busy:.2f} (the client,"
            " Redis, the servers and any other work on the machine)."
            f" Correctness under the race: {run.wins:,} conversations"
            f" claimed, each exactly once ({run.double_wins} with two winners, {run.wrong_refusals} refusals naming"
            " a wrong winner)."
        )
    lines += [cost_split(run) for run in runs if run.in_rasa is not None]
    if one is not None and claims.claims.decided_per_second < 1.1 * one.claims.decided_per_second:
        lines.append(
            f"- Two processes carried no more than one: with them, {claims.claims.cores_busy:.2f} cores were busy on a"
            " machine of two (the client, Redis and both processes): a second process adds claims where it has a core"
            " of its own."
        )
    lines += [
        f"- Redis commands per claim request (incl. inside Lua scripts, and the feed readers'): {commands:.1f}.",
        "- The client is `bench/rawhttp.py`, a lean keep-alive HTTP/1.1 client (an asyncio protocol that reads"
        " only the status line and Content-Length): aiohttp's client tops out near 5,000 requests/s on this machine"
        " and would have measured itself. It shares the machine's two cores with the servers; its CPU per request"
        " is in the table.",
        "- What a claim is: an authenticated request and one Redis round trip (the claim script counts the"
        " agent's request against the rate limit, reads the desk's capacity and answers with the conversation), on"
        " the process's one pipelined Redis connection. Verified agent tokens are remembered. What remains is"
        " Python per request: Sanic's request and response, and the feed reader and analytics following the two"
        " events each claim emits.",
    ]
    if profile is not None:
        lines += [
            f"- Where a claim's time goes (sampler, one process, busy {pct(profile.busy_share)}; innermost frame):"
            f" the channel's own code {pct(profile.kind('the handoff channel'))} (the analytics counting the"
            f" feed's events were on the stack in {pct(profile.stage('analytics'))} of the samples), Sanic"
            f" {pct(profile.kind('Sanic'))}, asyncio {pct(profile.kind('asyncio'))}, JSON"
            f" {pct(profile.kind('JSON'))}, and {pct(profile.kind('other'))} elsewhere (the event loop's C code,"
            " socket calls, the standard library); the token check (PyJWT, remembered once verified)"
            f" {pct(profile.stage('PyJWT'))}, redis-py {pct(profile.stage('redis-py'))} (the claim goes on the"
            f" pipelined connection). The hottest function{hottest(profile)}. Garbage collections:"
            f" {gc_text(profile)}.",
        ]
    for run in runs:
        check = run.checks()[0]
        if check.met:
            continue
        lines += [
            "",
            f"**Missed with {run.layout}, by"
            f" {check.limit - check.value:,.0f}/s ({(1 - check.value / check.limit) * 100:.0f}%).**"
            f" {run.claim_cpu_us:,.0f} µs of server CPU per claim against {run.bare_cpu_us:,.0f} µs for the bare"
            " endpoint, on a machine of two cores that the client and Redis share: the ratio to the bare endpoint is"
            " what this code controls; more processes (or cores) carry more claims.",
        ]
    return "\n".join(lines)


def waiting_section(waiting: WaitingResult) -> str:
    rows = []
    for costs in waiting.costs:
        page, enqueue, claim, floor = (Summary.of(x) for x in (costs.page, costs.enqueue, costs.claim, costs.floor))
        in_redis = [Summary.of(costs.enqueue_redis), Summary.of(costs.claim_redis)]
        rows.append(
            [
                f"{costs.length:,}",
                f"{ms(page.p50)} / {ms(page.p99)}",
                page_script_p50(costs),
                f"{ms(floor.p50)}",
                f"{ms(enqueue.p50)} / {ms(enqueue.p99)}",
                f"{ms(claim.p50)} / {ms(claim.p99)}",
                " / ".join(f"{s.p50 * 1000:.0f} µs" for s in in_redis),
            ]
        )
    memory_rows = []
    for memory in waiting.memory:
        memory_rows.append(
            [
                f"{memory.text_chars} characters",
                f"**{memory.per_conversation:,.0f} B**",
                f"{memory.hash_usage:,.0f} B",
                f"{memory.waiting_zset / memory.conversations:,.0f} B",
                f"{memory.all_zset / memory.conversations:,.0f} B",
                f"{memory.transcript_usage:,.0f} B",
                f"{memory.feed_usage / MIB:.1f} MiB",
            ]
        )
    large = waiting.costs[-1]
    lines = [
        "## 4. Waiting at scale",
        "",
        "Conversations were made waiting through the store (`authenticate_customer`, `receive_customer_message`,"
        f" `start_waiting`: what the channel runs). At each queue length, {len(large.page)} sequential reads of the"
        f" first page of `GET /agent/conversations?view=waiting` ({large.page_size} conversations), then"
        f" {len(large.enqueue)} probes: a new conversation enqueued (`start_waiting`, timed through the store) and"
        " claimed (timed through the HTTP API), so the length stays put. Agents take turns (the API allows each 50"
        " requests a second).",
        "",
        table(
            [
                "waiting",
                "first page p50 / p99 (to the answer's last byte)",
                "its script in Redis, p50",
                "an agent request that reads nothing (`GET /agent/me`) p50",
                "enqueue p50 / p99",
                "claim p50 / p99",
                "in Redis (the script alone), p50: enqueue / claim",
            ],
            rows,
        ),
        "",
        f"- Cost at {large.length:,} against {waiting.costs[0].length:,} waiting (p50 ratio): in Redis, the"
        f" enqueue script {waiting.growth('enqueue_redis'):.2f}{TIMES} and the claim script"
        f" {waiting.growth('claim_redis'):.2f}{TIMES} (SLOWLOG durations, with a queue of each length side by side"
        " in one Redis, the probes alternating between them: what a queue's length could change, without the"
        " client's noise, and any drift of the machine touching both alike); seen by the client, enqueue"
        f" {waiting.growth('enqueue'):.2f}{TIMES}, claim {waiting.growth('claim'):.2f}{TIMES}, first page"
        f" {waiting.growth('page'):.2f}{TIMES}. The queue is a sorted set: enqueue and claim are O(log n), the first"
        " page O(log n + page size).",
        *page_parts(waiting),
        *script_steps(waiting),
        "",
        "Redis memory, on a Redis of its own: `used_memory` before and after making"
        f" {waiting.memory[0].conversations:,} waiting conversations, with their transcripts (one stream each) and the"
        " live feed (a capped stream shared by all, at most `feed_maxlen` events) deleted. Per conversation: its"
        " hash (state, times, customer token hash, last message), its entry in the Waiting queue and in the index of"
        " all conversations.",
        "",
        table(
            [
                "last message",
                "used_memory per conversation",
                "its hash (MEMORY USAGE)",
                "Waiting entry",
                "index entry",
                "transcript (not counted)",
                "live feed (not counted)",
            ],
            memory_rows,
        ),
        "",
        "Redis keeps a hash compact (listpack) while every value is at most 64 bytes; a longer last message turns"
        " the hash into a real hash table, hence the second row.",
    ]
    missed = [c for c in waiting.checks() if not c.met]
    if missed:
        page_check = waiting.checks()[0]
        floor_p50 = Summary.of(large.floor).p50
        text = "**Missed:** " + "; ".join(
            f"{c.label}: {c.show(c.value)} ({c.verdict.replace('**', '')})" for c in missed
        )
        if any("script" in c.label for c in missed) and flat_above_step(waiting):
            text += (
                f". The step is below {middle_length(waiting):,} waiting (see above); from there to"
                f" {large.length:,} the scripts cost {script_growth(waiting, 0):.2f}{TIMES} (enqueue) and"
                f" {script_growth(waiting, 1):.2f}{TIMES} (claim): a fixed step, not a cost that grows with the queue"
            )
        if not page_check.met:
            text += (
                f". An agent request that reads nothing already takes {ms(floor_p50)} (Sanic with Rasa's"
                " middleware, the token check, a Redis round trip, on a loop Rasa shares); the page is one"
                f" round trip too (the rate limit, the range and {large.page_size} conversations' JSON built by"
                " one script), its time that script's. On this loaded 2-core machine"
                " the figures move with the other work"
            )
        lines += ["", text + "."]
    return "\n".join(lines)


def page_script_p50(costs: QueueCosts) -> str:
    """The page script's p50 in Redis, or "not timed" for runs that did not time it."""
    timed = getattr(costs, "page_redis", [])
    return ms(Summary.of(timed).p50) if timed else "not timed"


def page_parts(waiting: WaitingResult) -> list[str]:
    """What the first page's time goes to, at the longest queue (runs that timed the parts)."""
    large = waiting.costs[-1]
    script, parse = getattr(large, "page_redis", []), getattr(large, "page_parse", [])
    if not script or not parse:
        return []
    page, floor = Summary.of(large.page).p50, Summary.of(large.floor).p50
    script_p50 = Summary.of(script).p50
    answer = f"the {large.page_bytes / 1024:.0f} KiB answer through the pipelined connection, Sanic and the socket"
    rest = page - floor - script_p50
    # Medians of separate samples do not add up exactly: a rest within that noise is said so.
    rest_text = f"{ms(rest)} for the rest ({answer})" if rest >= 0.1e-3 else f"the rest ({answer}) within their noise"
    return [
        f"- Where the first page's {ms(page)} go, with {large.length:,} waiting (p50 each): {ms(floor)} for any agent"
        " request (Sanic with Rasa's middleware, the token check, one Redis round trip, on the loop Rasa shares:"
        f" `GET /agent/me`), {ms(script_p50)} for the page's script in Redis (the rate limit, the range, and"
        f" {large.page_size} conversations read and encoded as one JSON array by cjson), {rest_text}. The bench"
        f" client decodes the answer after its last byte is in, in {ms(Summary.of(parse).p50)} (Python's json):"
        " the client's work, as a browser's `JSON.parse` is the console's, so not counted in the page.",
    ]


def middle_length(waiting: WaitingResult) -> int | None:
    """The queue length the scripts were also timed at, between the two of the table."""
    ends = {waiting.costs[0].length, waiting.costs[-1].length}
    return next((n for n in sorted(getattr(waiting, "scripts", {})) if n not in ends), None)


def script_growth(waiting: WaitingResult, which: int) -> float:
    """The enqueue (0) or claim (1) script's p50 in Redis, longest queue against the middle one."""
    middle = middle_length(waiting)
    if middle is None:
        return math.nan
    return waiting.script_p50(waiting.costs[-1].length)[which] / waiting.script_p50(middle)[which]


def flat_above_step(waiting: WaitingResult) -> bool:
    """Whether the scripts' growth lies below the middle length (flat within 10% above it)."""
    return all(script_growth(waiting, which) <= 1.1 for which in (0, 1))


def script_steps(waiting: WaitingResult) -> list[str]:
    """The scripts in Redis at the middle queue length too: where their cost steps up."""
    middle = middle_length(waiting)
    if middle is None:
        return []
    small, large = waiting.costs[0].length, waiting.costs[-1].length
    cells = {n: waiting.script_p50(n) for n in (small, middle, large)}
    shown = ", ".join(f"{n:,}: {e * 1000:.0f} / {c * 1000:.0f} µs" for n, (e, c) in cells.items())
    return [
        f"- The scripts alone in Redis at {small:,}, {middle:,} and {large:,} waiting (p50, enqueue / claim; the"
        f" same side-by-side run, {len(waiting.scripts[middle][0])} probes at each): {shown}. From {middle:,} to"
        f" {large:,} waiting the enqueue script costs {script_growth(waiting, 0):.2f}{TIMES} and the claim script"
        f" {script_growth(waiting, 1):.2f}{TIMES}. Each adds to or removes from two sorted sets (the queue and the"
        " index of all conversations: O(log n), and Redis keeps one of at most 128 entries as a compact listpack)"
        " and announces the change on the live feed. Each key space's feed is at its cap here (`feed_maxlen`"
        " events, trimmed as it grows), as a server's is once it has run a while: a feed still filling up would"
        " make the short queues look cheaper than the queue's length makes them."
    ]


def startup_section(results: dict[str, Any]) -> str:
    startup = results.get("startup")
    lines = ["## 5. Start and memory", ""]
    if startup is None:
        return "\n".join([*lines, "Not measured in this run."])
    if startup.skipped is not None:
        return "\n".join([*lines, f"Not measured: {startup.skipped}."])
    rows = [[name, f"{rss / MIB:.0f} MiB"] for name, rss in startup.processes]
    rows.append(["**all**", f"**{startup.total_rss / MIB:.0f} MiB**"])
    lines += [
        "`make run` on a built tree (virtual environment and model cached, as after a first run), with `PORT` and"
        " `ACTION_PORT` on free ports, in a process group of its own, stopped with SIGINT like Ctrl-C:",
        "",
        f"- the Rasa server answers `GET /webhooks/handoff/` after **{startup.health_s:.1f} s**; `Ready.` and the"
        f" agent token are printed after **{startup.ready_s:.1f} s** (minting the token starts one more Python);",
        f"- Ctrl-C stopped everything in {startup.stopped_s:.1f} s.",
        "",
        "Memory (resident set) of each process at ready:",
        "",
        table(["process", "RSS"], rows),
    ]
    stack = results.get("stack_rss")
    if stack:
        lines += [
            "",
            "For comparison, the benchmark's own stack (tests/stack.py) after all the load above:",
            "",
            table(["process", "RSS"], [[name, f"{rss / MIB:.0f} MiB"] for name, rss in stack]),
        ]
    return "\n".join(lines)


def profile_section(results: dict[str, Any]) -> str:
    reports: list[ProfileReport] = list(results.get("profile", []))
    if results.get("profile_human") is not None:
        reports.append(results["profile_human"])
    if not reports:
        return ""
    lines = [
        "## Where the time goes (profiles)",
        "",
        "`bench/sampler.py` samples the Rasa server's main thread (its Python stack, every 2 ms) while the"
        " benchmark repeats a load for a few seconds; `bench/rasa_sampled.py` starts `rasa` with it, off until"
        " SIGUSR1, so the figures above are unprofiled. An in-process sampler favours moments when the main thread"
        " gives up the GIL; shares are of the samples in which the loop was busy (not idle in the selector).",
    ]
    for report in reports:
        rate = report.operations / report.seconds if report.seconds and report.operations else 0
        head = f"### {report.name}: busy {pct(report.busy_share)} of {report.seconds:.0f} s"
        if rate:
            head += f", {report.operations:,} {report.operation} ({rate:,.0f}/s)"
        lines += [
            "",
            head,
            "",
            table(
                ["stage (on the stack)", "share of busy"],
                [[label, pct(share)] for label, share in report.stages if share >= 0.005],
            ),
            "",
            table(
                ["innermost code", "share of busy"],
                [[label, pct(share)] for label, share in report.kinds if share >= 0.005],
            ),
            "",
            "Hottest functions (innermost frame): "
            + ", ".join(f"`{name}` {pct(share)}" for name, share in report.top[:8])
            + f". Garbage collections: {gc_text(report)}.",
        ]
    return "\n".join(lines)


FIXES = """## Fixes made after profiling

Profiling the first runs of this harness found these hot spots in the channel, fixed without changing
what any client sees (`pytest tests/test_channel.py tests/test_store.py tests/test_sockets.py
tests/test_analytics.py` pass):

- **Live feed fan-out** (`feed.py`, `sockets.py`): every feed event woke every WebSocket of the
  process, each through `asyncio.wait_for` (a task and a timer per event). With 220 sockets that
  put ~25 ms between an event and its frame (p50 of the human path ~50 ms). Customer sockets now
  subscribe with a filter (their conversation, or a queue move) and a dropped subscription is
  noticed when its queue drains instead of by a 1 s poll.
- **Garbage collector pauses** (`channel.py`): after the model loads, the Rasa process holds
  ~730,000 long-lived objects and a full collection stopped the loop for 0.5-1 s. The channel now
  freezes them (`gc.freeze()`) once the server started.
- **The agents' lists** (`store.py`, `lua/conversations.lua`): a page of 100 conversations was read
  as 100 pipelined `HGETALL`s, and redis-py's pure-Python parser spent most of the request on the
  ~2,400 fields; one script now returns one JSON summary per conversation.
- **The analytics counter** (`analytics.py`): it woke for every feed event and counted it alone
  (~5 Redis round trips and the parsing on the server's loop), about half of the bot path's
  overhead over the REST channel. It now lets a busy feed gather for 0.25 s and counts it in one
  batch (same counts, up to 0.25 s later).
- **Agents online** (`store.py`): the presence, statuses and profiles read for every message the
  bot answers are one pipeline instead of three round trips.
- **Tracker recording off the request's path** (`recorder.py`, `lua/customer_message.lua`,
  `lua/agent_message.lua`). Recording the human part in Rasa's tracker (an NLU parse per customer
  message, a tracker load and save) holds a loop for tens of milliseconds at a time. A thread of its
  own was tried first and withdrawn: Rasa 3.6's lock store issues its tickets with a read and a
  separate write (no transaction), safe between the coroutines of one loop, not between threads.
  Now the script that stores a human-part message also queues it in Redis, and recorders (a consumer
  group: every process by default) record each conversation's queue in order, once, inside its lock;
  a process started with `HANDOFF_RECORDER=off` leaves it to the others. A desk process serving the
  human path that way: p99 180 ms and 140 ms → 13-25 ms (this run's figures above).
- **Claims, second round** (`redis_pipe.py`, `lua/claim.lua`, `http.py`, `channel.py`, `feed.py`):
  redis-py's asyncio client spent ~60 µs of CPU per command (a pooled connection, a timeout and a
  read per call) and was half of a claim. The store's scripts now share one pipelined connection per
  process (replies matched in order; the writes of one loop turn leave in one `write`); the claim
  script counts the agent's request itself (one round trip per claim); Rasa's CORS middleware is
  skipped for requests without an `Origin` header (nothing for a browser to read; cross-origin
  requests keep their headers: `tests/test_e2e.py`); Sanic no longer builds access-log lines that
  Rasa's log level discards; the feed reader decodes nothing while no socket listens. Server CPU
  per claim: 907 µs → ~330 µs, claims 1,052/s → ~2,900/s on one process.
- **Claims** (`lua/claim.lua`, `auth.py`, requirements): the claim script reads the stored capacity
  and answers with the claimed conversation (four round trips per claim became two), verified agent
  tokens are remembered until they expire (the PyJWT check was ~15% of a claim), and redis-py uses
  hiredis (an `HGETALL` of a conversation: 267 µs → 80 µs of client time). Server CPU per claim went
  from 13 times to 6 times that of the bare Sanic endpoint.
- **The bot path's stamp** (`service.py`): every customer message carries the desk's live
  settings for the actions, and Rasa keeps a message's metadata in the tracker (in the user event,
  in its parse data, and in a slot at a session's start), which it loads, merges and saves for
  every message. Stamping all five settings made this bench's trackers 16% larger than the REST
  channel's, and the tracker store's share of the Rasa process's CPU 24% larger (py-spy on the
  Rasa process, 700 messages through each channel): 2.8% of the samples, most of the 3.2% more
  CPU per message that a bench run measured then. The stamp now names `agents_online` and only the
  settings that differ from their defaults: trackers 6.5% larger than REST's, the tracker store's
  extra 1.3% of the samples.
- **One round trip per request, continued** (`lua/customer_message.lua`,
  `lua/conversation_page.lua`): a customer's message is let in (token, first-time binding, rate
  limit) and stored in the same script, and a page of the agents' lists is counted, ranged and
  built by one script: two round trips to one, three to one. The first page of the Waiting list
  went from 1.72 ms to 1.38 ms p50 (`--only waiting`, the same day). On the human path the saved
  round trip is below the noise between runs: with the same client, the old code gave 2.07 / 1.90
  ms p50 and the new 2.41 / 2.53 ms, in a run where the agent's request, which did not change, also
  took longer (p50 1.97 ms against 1.44 ms). The lean WebSocket client of the bench (above) is what
  moved that measurement: 3.34 / 3.23 ms read with the `websockets` library, 2.07 / 1.90 ms with
  the lean client, the same server code, the same day. A message for the bot also reads the desk's
  settings and agents online in that script (one round trip before Rasa instead of two).
- **Rasa's tracker store** (`tracker_store.py`, `endpoints.yml`): py-spy on one customer's messages
  found most of the channel's bot-path cost inside Rasa: saving the tracker. Rasa's Redis store
  loads a conversation's latest session only and merges it into the stored one on each save; when
  the loaded tracker lacks a stored event it compares every event with every other one
  (`as_dict`). A session's first message with metadata (the channel's stamp) makes Rasa put a slot
  event before the session's start, which its loader leaves out: from then on every save of the
  conversation took that path. `MergingRedisTrackerStore` finds the loaded events in the stored
  ones and keeps the earlier ones without the comparison (the same stored events as Rasa's store:
  `tests/test_tracker_store.py`). The bot path's p50 ratio went from 1.08 (four runs) to 1.06 in a
  `--only bot` run, its CPU ratio from 1.035 to 1.027.
- **Rasa's tracker store, second round** (`tracker_store.py`, `actions/handoff.py`): what was left
  of the stamp's cost was still in the tracker store. An A/B in one Rasa agent (as the tracker store
  phase above does) gave stamped messages 1.9% more CPU than unstamped ones. cProfile
  showed why: a load turned every stored event into an object by walking all of Rasa's event
  classes for each (`Event.resolve_by_type`, most of a load), then, the slot event before the
  session's start counting as a session of its own, replayed the latest session a second time; a
  save loaded the stored tracker the same way, to merge. The store now finds each event's class in
  a table, replays only the latest session, and merges a save as JSON, finding the tracker's events
  in the stored ones without building event objects (Rasa's merge still takes any other case). And
  `action_session_start` no longer carries the stamp over into the new session's
  `session_started_metadata` slot (other metadata it keeps). In that A/B the stamp now costs nothing
  measurable, and every message is 7-8% cheaper in Rasa's CPU, stamped or not. `--only bot`, three
  runs: p50 ratio 0.971, 0.984, 0.995 and CPU ratio 0.971-0.986 (the last full run before: 1.057 and
  1.037).
- **Rasa's check of the action server's answers** (`action_validation.py`): the cProfile of
  Rasa's handling above (sessions of five messages) put 26% of all its time in
  `RemoteAction._validate_action_result`: `jsonschema.validate` checks Rasa's schema of events
  against the JSON Schema meta-schema on every call, 97% of the check, and every session's first
  message calls the action server (`action_session_start`). With the handoff channel, Rasa's remote
  actions build that validator once (answers checked as before, a bad one refused with the same
  error: `tests/test_action_validation.py`). A/B in one Rasa agent (80 sessions each way, taking
  turns): a session's first message 31.9 → 16.8 ms of CPU (p50 30.3 → 15.0 ms), all messages 18.5 →
  15.6 ms on average. It speeds both channels of the bot path alike.
- **The live feed reader** (`store.py`, `runtime.py`): its blocking `XREAD` went through redis-py,
  ~0.2 ms of the server's loop per wake-up (a pooled connection, a timeout, a health check); it now
  waits on a pipelined connection of its own (a blocking read on the shared one would hold up every
  command behind it).
- **Turns in Rasa** (`turns.py`, `service.py`): the bot path's two Redis round trips (before Rasa:
  the conversation's state, admission and live settings; after: the bot's replies into the
  transcript) each let the event loop run whatever was ready, and Rasa holds the loop for a whole
  message. A finished answer waited for another customer's message that started in Rasa during its
  write (15-30 ms), and a message whose round trip came back sooner could start ahead of an earlier
  one. Messages for the bot now start in Rasa in the order they arrived, and none starts while an
  answer is finishing (`tests/test_turns.py`: in arrival order though the earlier message has more
  steps; each answer stored before the next message starts). The same day, at 70% load the p50 ratio
  went from 1.252 (`--only bot`, the code before) to 0.942 (`--only bot`), 1.014 and 1.179 (two full
  runs, the last one above); 1.070 with only the finishing rule. At saturation it went from 1.145 to
  1.107-1.119, where the handoff channel's p99 is now about half of REST's (see *why the p50 target is
  measured below saturation*).
- **Fewer wakes beside the bot** (`feed.py`, `analytics.py`): Rasa's own work costs the same
  through both channels (a same-process A/B timing `Agent.handle_message`: 46.34 against 46.35 ms
  of CPU per message); the handoff's extra +1.78 ± 0.34 ms per message was background work, each
  Redis reply a wake-up of the event loop (~0.3 ms of CPU on this machine). The live feed reader
  woke twice per bot message with no socket open on the process: it now sleeps until one
  subscribes (698 → 5 µs per message at 20 messages/s, `tests/test_feed.py`). The analytics
  counted every 250 ms in eight round trips: now once a second, keeping their lease and cursor in
  memory (637 → 196 µs per message). The same A/B after: +0.67 ± 0.49 ms per message.
- **Custom actions come back to Rasa in turn** (`rasa_resume.py`, `turns.py`): timestamps taken in
  the channel at 70% load (a one-off trace, 6 pairs of paced rounds) showed 54 of 942 answers
  waiting 149 ms on average between Rasa's answer and its Redis reply (8.8 ms over all answers): a
  session's first message, back from the action server (`action_session_start`), ran the rest of its
  handling in that gap, and another came back after it. Through REST nothing yields after Rasa, so
  the answer goes out first. Rasa's remote actions now come back only when no answer is on its way
  out (`tests/test_turns.py`): the same trace after, 4 of 934 over 5 ms, 0.42 ms on average.
- **A message back from the action server takes its place at the end of the line** (`turns.py`):
  it went back into Rasa ahead of the messages still to start, which then all waited for the rest of
  its handling. It now queues behind the messages that arrived meanwhile, as through REST, whose
  event loop takes the action server's reply up after the requests it read before
  (`tests/test_turns.py`). A paced A/B in one process (REST and the channel with either place, their
  rounds taking turns, 14 rounds of each at 22 messages/s, ~1,700 messages each): p50 ratio to REST
  1.111 ahead of the line, 1.013 at its end (mean 1.122 and 1.044); a session's first message now
  waits as long as through REST (Rasa's handling with its wait: mean 64.4 ms through both).
- **The bot's replies stored as Rasa sends them** (`output.py`, `redis_pipe.py`, `service.py`): the
  script that puts a reply into the transcript and onto the feed now leaves for Redis when Rasa hands
  the reply over (written at once, not at the loop's next turn), while Rasa goes on to predict its
  next action and save the tracker; after Rasa the answer waits one loop turn for ids that are
  already there (p50 0.15 ms in the trace above). One customer alone, the first full run with it:
  36.7 ms through REST, 36.9 ms through the handoff channel (p50).
- **The people an event is for hear it first** (`feed.py`, `lua/customer_message.lua`,
  `sockets.py`): every agent socket gets every event, and sockets write in the order the feed hands
  events out. A customer's message now goes first to the sockets of the agent who has the
  conversation (the stream entry names them), an agent's reply first to the customer's socket
  (`tests/test_feed.py`). The table of §2 times both the assigned agent's frame and the last of the
  twenty: 2.82 ms against 4.31 ms p50 from a desk process, the fan-out's length.
- **The Socket.IO relay idles with its clients** (`channel_relay.py`, `socketio_channel.py`): the
  shipped `credentials.yml` has Rasa's Socket.IO channel, whose relay kept the live feed reader of
  every process awake and asked Redis (`SISMEMBER`) about every bot message. It now follows the feed
  only while the process has Socket.IO clients, wakes only for messages it may relay, and asks Redis
  only about conversations whose Socket.IO room is on the process (`tests/test_channel_relay.py`).
- **Where the 70% load gap is** (not closed): the stage clock (`bench/stageclock.py`, its figures in §1
  for this run) times, inside the Rasa server, each request's reading and Rasa's handling of its
  message. Through the handoff channel a message reached Rasa later by its Redis round trip (state,
  admission, live settings; since the next entry, one round trip with Rasa's lock ticket), whether
  Rasa was idle or the message had waited for another; Rasa's own
  handling is the same through both channels (with the stamp or without it: no difference in an A/B).
  Timed from the request's reading in a scratch trace on a 2-core machine where Rasa's handling took
  ~19 ms: the script's call 0.48 ms p50 (its run in Redis ~18 µs, `INFO commandstats`), the request's
  checks 0.2 ms. A later trace (Rasa's handling ~28 ms) split the 1.2 ms from reading the request to Rasa:
  0.40 ms to the channel's handler, 0.08 ms to the script's call, 0.59 ms the call, 0.13 ms on to Rasa.
  The same call from a bare process took 0.16 ms back to back but 0.66-0.73 ms with 20 ms of quiet
  between calls, and 0.79 ms when the client spun instead of sleeping while it waited: the time is Redis
  being woken (a PING alone: 0.07 against 0.57 ms), which the bench now measures in each run. Tried
  and not kept: (1) yielding inside Rasa at the first reply so that the next message's round trip
  runs meanwhile: the gap fell to REST's, but the request's own work moved into the other message's
  handling, no better in latency; (2) writing the script at once rather than at the loop's turn: the
  call took 0.48 ms either way; (3) reading the message with Rasa's NLU during the round trip and
  handing the reading to Rasa (`UserMessage.parse_data`): Rasa's parse alone takes 6.2 ms but its
  handling with the reading given is only 1.6 ms shorter (10.5 against 8.9 ms, one agent, in-memory
  tracker store), so the event loop was held ~4.6 ms longer per message: p50 ratio 1.17 against
  ~1.12 in a paced A/B, not kept; (4) starting Rasa without waiting for the script's reply (a
  prototype that skipped what it would need to keep Redis the truth: the conversation's state known
  to the process, the bot's replies dropped and Rasa's turn undone when the reply says a human has
  it or the token is refused): from the request to Rasa 0.59 against 0.69 ms with Rasa idle (REST
  0.16 ms), since the script's write and the request's checks stay on the event loop; in one paced
  run of the three side by side, p50 ratio to REST 1.035 against 1.065 for the channel as it is, with
  95% intervals of about ±0.12 on that machine's noise at the time: no difference it could show, not
  kept; (5) waking Redis early, a PING on the script's connection as the channel's handler starts, so that
  Redis is awake when the script follows: the call fell from 0.59 to 0.48 ms, but the handler's work
  before it grew from 0.11 to 0.23 ms, 1.25 against 1.22 ms from the request to Rasa, not kept.
- **The customer's step and Rasa's lock ticket in one round trip** (`ticket_step.py`,
  `lock_store.py`, `lua/customer_message_ticket.lua`, `service.py`): before Rasa handles a message it
  takes a ticket for the conversation's lock, a Redis round trip (through REST too, where it is the
  one that wakes Redis), and the channel's step was another one ahead of it, which Rasa waited for.
  When Rasa's lock store is `AtomicRedisLockStore` on the channel's Redis and database (checked at
  start with a key only the channel knows), the channel now hands the message to Rasa in its turn
  with its step waiting, and the lock store runs the step and the ticket as one Lua script when Rasa
  asks for the ticket; the live settings the step reads are stamped on the message before Rasa reads
  its metadata. A message a human has, a refused one (nothing changed) or one whose return to the bot
  is left to finish takes no ticket and leaves Rasa before Rasa changed anything
  (`tests/test_ticket_step.py`; `tests/test_e2e.py` reads Redis's command log: a bot message makes
  the one script and neither of the two it replaces). A paced A/B in one `rasa run` (REST, the
  channel with the step in the ticket, the channel as before; rounds taking turns, 20 of each at 19.5
  messages/s, on a 2-core machine whose host took up to a third of its CPU meanwhile): p50 ratio to
  REST 1.138 against 1.275 (with against without: 0.892, 95% interval 0.749-1.045); from reading the
  request to Rasa with Rasa idle 0.67 against 1.37 ms (REST 0.31), after a message that had waited
  1.37 against 2.19 ms (REST 0.84), Rasa's handling 44.8 against 45.7 ms (REST 44.9). A prototype in a
  quieter hour, 24 rounds of each: 1.184 against 1.218. Then the step was made to go with the ticket
  only when nobody is ahead in line: behind others it goes at once, its round trip made while they are
  in Rasa, and a message a human has never waits for the bot's line. The same A/B after that, the
  machine faster (Rasa's handling ~32 ms): from the request to Rasa 0.53 against 1.01 ms with Rasa idle
  (REST 0.26) and 1.15 against 1.56 ms after a message that had waited (REST 0.76), but p50 ratio to
  REST 1.005 against 0.967 (with against without: 1.039, 95% interval 0.961-1.105): Rasa's handling
  came out 31.9 against 30.4 ms (REST 32.9). Across these A/Bs and this run, Rasa's median handling
  through the handoff channel has been from 1.1 ms shorter to 1.1 ms longer than through REST for the
  same code: at this load the p50 ratio moves with that drift more than with the channel's ~0.4 ms.
- **The bot's replies stored with the return of Rasa's lock ticket** (`ticket_step.py`,
  `lock_store.py`, `output.py`, `lua/bot_messages_release.lua`, `service.py`): once the step went with
  the ticket, Rasa's handling was where the channel still worked: each reply's script left for Redis
  as Rasa sent it, while Rasa went on to predict its next action (in a scratch trace inside the Rasa
  process, Rasa's prediction loop took 0.3 ms longer through the handoff channel than through REST),
  and Rasa's lock store gave the ticket back in a round trip of its own after. For a message whose
  step went with the ticket the channel now holds the replies, and the lock store stores them in the
  script that gives the ticket back: after Rasa's handling one round trip, as through REST, where
  the ticket's return is one too. Should Rasa wait for the action server in the middle, the replies
  so far are stored at once, so the customer's socket shows them meanwhile; should that script fail,
  they are stored after Rasa as before (`tests/test_ticket_step.py`; `tests/test_e2e.py` reads
  Redis's command log: a bot message makes the step's script and this one, once each, and none of
  the four they replace). The first `make bench` with it (at cf74156) gave a p50 ratio to REST at
  70% load of 1.012 (95% interval 0.966-1.065; Rasa's handling 22.4 ms through REST against 22.7 ms),
  the run before it, on another day's machine, 1.142; the next run (at 3b05aee), with the entry
  below too, 1.093: one run's ratio moves by more than the change. A paced A/B in one `rasa run` the same
  day (REST, the channel with the replies held for the ticket's return, the channel storing each as
  Rasa sends it; rounds taking turns, 12 of each at 30 messages/s, ~2,100 messages each): p50 ratio
  to REST 1.093 against 1.149 (with against without, per round: 0.965, 95% interval 0.880-1.056),
  Rasa's handling 21.3 against 21.6 ms (REST 20.7), from the request to Rasa after a message that
  had waited 0.89 against 1.03 ms (REST 0.77). A second such A/B (9 rounds of each) with a trace of
  Rasa's calls in the server (p50 per message, REST / the channel as it is / as it was): p50 ratio
  to REST 1.092 against 1.214; the prediction loop 10.48 / 10.64 / 11.07 ms, the ticket taken 0.28 /
  0.43 / 0.43 ms (through the channel with the step), the ticket given back 0.20 / 0.30 / 0.20 ms
  (with the replies), Rasa's whole handling 21.79 / 22.04 / 22.69 ms. A third, 12 rounds of each,
  after the entry below (in all three arms): p50 ratio to REST 1.058 against 1.148, with against
  without per round 0.936 (95% interval 0.856-0.981); the lock read gone from the trace; Rasa's
  handling 21.62 against 21.88 ms (REST 21.53); by the message's place in its session, p50 REST /
  with / without: the first 46.8 / 54.9 / 55.7 ms, the others 30.9-33.6 / 32.8-34.3 / 36.2-38.4 ms.
  A fourth, 6 rounds of each: 0.964 against 1.144, with against without 0.843 (0.819-0.947); the
  first message of a session 45.5 / 50.1 ms (REST 45.9).
  So the change takes ~0.3-0.6 ms off each message; what is left inside Rasa is the step's and the
  replies' share of those two round trips (~0.25 ms), and before Rasa the request's own work (~0.27
  ms).
- **The first ticket served without reading the lock** (`lock_store.py`): Rasa's lock store, once it
  has a ticket, reads the lock back to see whether the ticket's turn has come, a Redis round trip
  (0.13 ms p50 in the trace above) for every message, through any channel. The ticket script numbers
  on from the last ticket held, so ticket 0 means no other was held: it is now served at once
  (`tests/test_lock_store.py`: no read for it, a second ticket still reads and waits its turn). Both
  channels gain alike, so the ratios above do not show it.
- **The desk's settings parsed once per change** (`settings.py`, `store.py`): every bot message's step
  reads the desk's stored settings, and the channel parsed and checked each of them again, field by
  field. Once an admin has saved them (all eleven are stored), that took ~0.11 ms a message, in a
  micro-benchmark of the parse alone (0.01 ms with nothing saved, as on a fresh Redis). The last
  parse is now kept with the raw values it came from and used again while they are the same
  (`tests/test_store.py`: an unchanged read gives the same parse, also with the fields in another
  order, as Redis gives a hash table's; a change is seen by the next message). Target 1 now runs
  with the settings saved, as a desk in use has them. The first `make bench` with this entry and the
  next (at c37d43a, 24 pairs of paced rounds): p50 ratio to REST at 70% load 1.007 (95% interval
  0.886-1.158).
- **No response middleware on the bot path** (`routes_agent.py`): the analytics' count of training
  examples added and exported ran as a response middleware of the channel's blueprint, so Sanic ran
  it for every request, customers' messages included. The two routes now count them themselves.
- **What the channel still costs, measured without Rasa's own work**: in a scratch run with Rasa's
  message processor replaced by one canned reply (the lock store and its tickets left as they are),
  the Rasa process spent 0.40-0.45 ms of CPU per message through REST and 0.53-0.55 ms through the
  handoff channel, and the reply took 0.70-0.77 against 0.92-1.03 ms (p50, 2,000 messages each). In
  Redis (its command log, p50), the script with the step and the ticket took 40-60 µs against 10-15
  µs for the ticket alone, and the one with the replies and the ticket's return 21-25 µs against
  9-10 µs for the return alone: ~45 µs of Redis work per message that Rasa waits for, since its
  lock store's calls block. The rest is Python around Rasa's handling, ~0.1 ms: the request's
  checks, the step's arguments and its answer read, the replies' script made ready, the answer's
  JSON. Measured again at c6d0ec7: 0.39 against 0.54 ms of CPU and 0.72 against 0.91 ms p50; in
  Redis (`INFO commandstats`, 4,000 calls) the step and the ticket 40 µs against 13 µs for the
  ticket alone, of which the desk's read ~11 µs (the settings' `HGETALL` ~8), the feed's entry ~6
  and the admission ~4.
- **Where the rest is not**: the stamp on the message costs Rasa nothing measurable. One Rasa agent
  in a process of its own (no HTTP), 60 sessions of 5 messages per case, taking turns: CPU per
  message p50 24.00 ms without metadata, 23.91 ms with the stamp as a desk with saved settings
  makes it, 23.74 ms with that stamp and the channel's name; `copy.deepcopy`, which Rasa's policies
  run on the tracker's events, was called as often in both. A cProfile of `Agent.handle_message`
  in the Rasa server, both channels taking turns (200 messages each), put the largest difference
  in the lock store's blocking socket reads, +0.08 ms a message: the step's and the replies'
  script work above, which Rasa waits for. Two A/Bs of one customer alone in one `rasa run` (both
  channels taking turns, 400 and 200 messages each): p50 +0.65 ms and +0.00 ms through the handoff
  channel, Rasa's handling +0.48 and -0.13 ms: a difference that size is below what such a run
  resolves.
- **The tracker with the ticket** (`ticket_step.py`, `lock_store.py`, `tracker_store.py`,
  `lua/customer_message_ticket.lua`): Rasa's tracker store reads a conversation's tracker from
  Redis twice a message, to load it and again when it saves (to merge with what is stored), each a
  blocking round trip (timed inside the Rasa server here: ~0.2 ms for the load, ~0.35 ms for the
  save's read, which comes after Rasa's inference has left Redis idle). The handoff channel's step
  already takes Rasa's ticket in one script; a ticket served at once (no other held) means nobody
  else may change the tracker until it goes back, so that script now reads the tracker too, and
  the tracker store uses it for the load and, once it has saved, what it wrote for a later load or
  save under the same ticket. A ticket behind another, or within 5 s of its expiry, leaves the
  tracker to Redis as before (`tests/test_ticket_step.py`; `tests/test_e2e.py`: one read of the
  tracker per message, in the script). A scratch A/B, one customer alone, the channels taking turns
  session by session (500 messages each): before, the handoff channel's messages cost the main
  thread +0.44 ms ± 0.19 of CPU and Rasa's handling +0.59 ms; after, -0.09 ms ± 0.18 and -0.14 ms,
  with no GET of the tracker through the handoff channel against 2.2 a message through REST.
  `make bench` at 0b44180 (the figures above; this machine ran ~1.7 times slower that day: one
  customer alone 32.4 ms against 18.7 ms before): p50 ratio at 70% load 0.962 (95% interval
  0.873-1.099); a second run of the bot phase (`--only bot`) right after gave 1.081 (1.006-1.183),
  throughput 0.974 (0.900-1.051).
- **What target 1's p50 comes to**: two `make bench` runs of the same code on the same day (c37d43a,
  and c6d0ec7, where only the settings' comparison changed, to one free of the fields' order) gave p50 ratios
  at 70% load of 1.007 (95% interval 0.886-1.158) and 1.110 (1.024-1.213). The channel costs ~0.2-0.25
  ms of server time a message, ~1.1-1.3% of Rasa's handling here; at 70% load the wait multiplies
  that ~3.8 times (the queueing arithmetic in section 1), so the p50 ratio to expect is ~1.04-1.05,
  short of 1.03, with any one run anywhere in ±8% of it. Meeting 1.03 would take the channel's work
  under ~0.15 ms a message. What is left is spread thin, over a dozen pieces of ~5-30 µs each; the largest are the
  scripts' Redis time Rasa's blocking lock store waits for, and the request's checks and the step's
  arguments before Rasa (0.27-0.29 ms from reading the request to Rasa when it is idle, against
  REST's 0.13 ms). Since then the step's script also brings the tracker (above), which takes two
  of Rasa's blocking round trips off each message: two runs at 0b44180 gave 0.962 and 1.081, so the
  ratio now sits around the target, within the same ±8% of noise per run.
- **The tracker decoded once under the ticket** (`ticket_step.py`, `tracker_store.py`): with the
  tracker read in the step's script, Rasa's load and its save each still decoded the same JSON (and a
  load after the save, as after a custom action, decoded it again). The decoded events are now kept
  with the locked tracker and used by both, and after a save what was saved is kept as written
  (`tests/test_ticket_step.py`: one decoding for a load, a save, a load and a save under one ticket,
  and the saved events the same as through the store reading Redis itself). Also, the office hours'
  answer is kept for the minute (`settings.py`: it can only change on one) and the stamp no longer
  walks `dataclasses.fields` per message. A trace of each message's stages inside the Rasa server
  (scratch, one customer alone, 420 messages a channel, p50 handoff minus REST): before, request read
  to Rasa +0.20-0.23 ms, the ticket with the step +0.24-0.27 ms, the ticket's return with the replies
  +0.11-0.12 ms, the load -0.12 ms, the save -0.18 ms, the answer out -0.04 ms: +0.20-0.28 ms all
  told; after, the save -0.28 ms: +0.12 ms. Of the ticket's +0.24 ms, reading the step's answer and
  the live settings is ~0.06 ms; the rest is the script's Redis work and its reply. Inside the
  server these pieces cost 5-10 times what they cost in a loop of their own (the step's arguments
  9 µs there, 65-73 µs here; the settings 2 µs, 27 µs): Rasa's inference between two messages leaves
  the processor's caches cold for the channel's code.
- **Rounds that end once their events are counted** (`bench/botpath.py`, `counted_up`): the analytics
  gather a second of feed events before counting them, so a round of the handoff channel left its
  last count to run in the round after it, often one of REST's. Each round now ends when the count has
  caught up (0.6 s at the median after the handoff channel's rounds, nothing after REST's), and the
  paced rounds went from 24 pairs to 40. Shorter rounds (2 s and 1 s windows after 0.5 s and 0.3 s of
  ramp-up, in a scratch A/B of the designs) gave narrower intervals in one run and not in the next,
  and a lower p50 for both channels (the line not yet built up when counting starts): not kept.
- **Target 1's p50 at 70% load, this round**: the full run above (at 88d8596) gave 1.107 (95% interval
  1.044-1.187); a run of the bot phase right after (`--only bot`) gave 0.980 (0.906-1.059), with a
  throughput ratio of 1.023 (0.994-1.050). In the full run, one customer alone was answered faster
  through the handoff channel (25.9 against 27.1 ms) and its p50 at saturation was 0.996 of REST's,
  yet at 70% load its messages waited longer for those ahead of them: the stage clock puts it in
  Rasa's own handling, inference included (26.0 against 24.7 ms, 17.9 against 17.0 ms of the main
  thread's CPU). In the run after, the same handling took 22.95 against 23.36 ms. A scratch run with
  the trace saw it once after 20 pairs at saturation (NLU +0.35 ms, the policies +0.49 ms, p50 ratio
  1.10) and not in two others (1.02, 1.03). Through the handoff channel there is more work beside
  Rasa per message (in the saturated rounds of both runs: Redis 0.58-0.63 against 0.45-0.48 ms of CPU,
  the bench's own client 0.90-0.97 against 0.79-0.84 ms, as the channel's answer is larger, the rest
  of the machine 0.14-0.22 against 0.00-0.09 ms), and inference runs on both cores (TensorFlow's
  threads), which such work slows; but that extra work was there in the run at 0.980 too, so it is
  not the whole story. What these runs do show: across runs of one code the p50 ratio moves by more
  than each run's interval says (0.96 and 1.08 at 0b44180; 1.107 and 0.980 at 88d8596), since the
  pairs of one run share that run's state of the machine.
- **Less Python before Rasa** (`keys.py`, `store.py`, `turns.py`): a scratch trace of each message's
  way through the Rasa server (marks from reading the request to Rasa taking the message, p50,
  one customer alone and at 70% load) put the handoff channel at 0.33-0.42 ms and REST at
  0.13-0.19 ms, spread over a dozen pieces: the body's checks 40-46 µs, the token, budget and
  service 25-29 µs, the step's arguments 66-75 µs, the reply release and the ticket step 15-18 µs
  each, the turn, the context and Rasa's message 23-27 µs. The key prefix is now kept (every key
  of every message was built from it afresh), the step's empty JSON objects skip the encoder, its
  arguments are built as strings, and the line's turn is a plain async context manager: the
  step's arguments 51-55 µs, the new token and turn 13-14 µs (was 19-20). What is left, ~0.2 ms,
  is spread as thin as before. TensorFlow's threads (scratch, two short runs of the bot phase
  each, alternating): with one thread per op (`TF_INTRA_OP_PARALLELISM_THREADS=1`,
  `TF_INTER_OP_PARALLELISM_THREADS=1`) the p50 ratio at 70% load was 0.945 and 0.938, with
  the default 1.025 and 0.965, with intervals of ±8% on each: not enough to change a default.
  The full run above (at 0446268) gave 0.964 (0.902-1.028) with the changes in.
- **The paced rounds metered, and run again when the machine is busy elsewhere**
  (`bench/botpath.py`, `metered_round`, `PacedOutside`): the p50 ratio at 70% load had come out at
  0.962, 1.081, 1.107, 0.980 and 0.964 in five full runs, about twice the spread that each run's
  interval implies. Each paced round now meters the CPU per message of Rasa, the action server and
  Redis, and what the rest of the machine used meanwhile; a pair in which the rest of the machine
  passed 0.10 of a core above what it uses with the stack idle is run again; and there are 80
  paced pairs instead of 40 (an interval ~1.4 times narrower). A run of the bot phase alone with
  40 pairs (at 01bc8d2) ran no pair again (the rest of the machine +0.00 cores at the median, +0.04
  at most) and gave 1.034 (0.990-1.078), with the stack's CPU per message 1.020 of REST's (the Rasa
  process +0.32 ms, Redis +0.21 ms); the full run at 01bc8d2 gave 0.975 (0.934-1.027), with the stack's
  CPU 0.994 of REST's (the Rasa process -0.35 ms, Redis +0.18 ms), one pair run again. The machine
  was quiet in both, so other work was not what moved them. What moved is Rasa's own handling of
  the same messages: by the stage clock, its main thread's CPU per message through the handoff
  channel against REST's was 16.60 against 16.57 ms in the first run and 17.21 against 17.88 ms in
  the second, a difference larger than the channel's own work (~0.1-0.3 ms) and of either sign.
- **The paced load follows the machine's speed** (`bench/botpath.py`, `CapacityProbes`): the paced
  rate was 70% of REST's throughput at saturation as measured once, before ~20 minutes of paced
  pairs. Rasa's handling took 23.9 ms a message in one run and 29.2 ms in another, so a machine
  that slowed down during the run moved Rasa's busy share from ~60% towards ~75%, where the wait in
  line multiplies what either channel costs more. REST's throughput is now measured again in a
  round of its own before every 10 paced pairs, and the rate is 70% of the median of the last 3
  measures. In the full run at 08b0b5d the measures ran from 18.0/s to 22.8/s: 1.012 (0.962-1.057).
  A run of the bot phase alone just after (at c163cd1) saw the machine slow down from 31.2/s to
  20.2/s, and the paced rate followed it from 19.8/s to 15.4/s. It gave 1.063 (1.008-1.122; both
  halves 1.061), missed. In that run the stack's CPU per message through the handoff channel was
  1.027 of REST's: the Rasa process +0.87 ms, Redis +0.29 ms; on the same two cores the bench
  client +0.26 ms and the rest of the machine (the loopback network's kernel work among it)
  +0.75 ms. In that full run it was 1.003. What the channel costs moves from run to run by more
  than the bar allows, once the wait in line multiplies it.
- **Rasa's save goes with the ticket's return; the counter reads less** (`ticket_step.py`,
  `tracker_store.py`, `lua/bot_messages_release.lua`, `analytics.py`): Rasa's tracker and lock
  stores are synchronous, so every round trip inside its handling holds the event loop, and at
  70% load the next message waits for it. Rasa saves the tracker just before it gives the ticket
  back; with a ticket that brought the tracker, the save is now held and written in the script
  that gives the ticket back with the bot's replies: one blocking round trip fewer a message
  (written on its own should that script fail; `tests/test_ticket_step.py`, and the e2e test sees
  the tracker's one SET inside the script). The analytics counter, on the same event loop, cost
  ~0.2 ms a message: it no longer waits on a busy feed (a blocking XREAD per batch, now only when
  a batch found nothing), and reads of each event only what it counts (no `Message` made per
  message event, the UTC day cached): in a warm loop the parse of 40 events went from 688 to
  366 µs and their tally from 367 to 161 µs (`tests/test_analytics.py`). A run of the bot phase
  alone after both (at 3085887): p50 ratio at 70% load 0.991 (0.954-1.034), mean 0.997, p99
  0.968; the stack's CPU per message 1.005 of REST's (the Rasa process +0.03 ms, Redis +0.13 ms);
  Rasa's handling by the stage clock 39.04 ms against REST's 39.48 ms; throughput at saturation
  1.031 (0.992-1.075).
- **Claims, third round** (`redis_pipe.py`, `analytics.py`, `store.py`, `http.py`, `keys.py`,
  `cors.py`): a cProfile of the Rasa process during the race put the channel's own Python at
  ~44% of a claim request (the route and the store ~35%, the analytics counter ~7%) and Sanic's
  request and response handling at the rest. Commands on the pipelined connection are now packed
  by hiredis in C (a claim's EVALSHA: 11.7 µs → 2.4 µs); the analytics counter reads the feed and
  applies each batch on the pipelined connection, decodes events with ujson into a plain tuple,
  and keeps its histogram names made once; the claimed conversation and feed events are decoded
  with ujson (a conversation's JSON: 9.1 µs → 2.2 µs); an agent's quota and the store's constant
  keys are made once; and Sanic-CORS's response middleware no longer runs as a coroutine (with a
  debug log call) for a request the API already marked as sent by no browser
  (`tests/test_cors.py`). Moving the counter's reads onto the pipelined connection found a fault
  in it: a command sent on a connection Redis dropped between its opening and the command's
  write waited forever; it now fails at once like the others (`tests/test_redis_pipe.py`). The
  Rasa process's CPU per claim request went from 2.17 to 2.08 times the bare endpoint's (325 µs
  against 156 µs in the full run); an A/B run of the old and new code side by side (each on its
  own Redis, rounds interleaved) gave 327 µs → 298 µs a request.
- **The Waiting list's page, encoded in C** (`lua/conversation_page.lua`): the page's script
  built each conversation's JSON field by field in Lua (a string escape, a number format and a
  concatenation per field, 1,100 per page). It now fills one Lua table per conversation and
  hands the page to a single `cjson.encode`. The script alone, 100 conversations, the old and
  new side by side on one Redis (SLOWLOG, 400 runs each, interleaved): 2.76 ms → 1.57 ms p50.
  Reading the 100 hashes (HMGET from Lua) is about half of what is left. The page is the same
  JSON (`tests/test_store.py` compares it with the list built in Python, quotes, slashes,
  control characters and emoji included); cjson writes an object's fields in no set order. The
  bench now times the page to the answer's last byte and the client's own JSON decoding apart
  (0.4-0.6 ms in Python's json for 31 KiB), and the script's time in Redis beside it.
- **The collector's young generation** (`collector.py`): a claim costs the Rasa process about
  twice a bare Sanic request, and a bare route inside the Rasa process already costs 1.2 times
  one in a process of its own (81 µs against 66 µs in a side-by-side run). `perf record` on the
  Rasa process during the race put Python's garbage collector (`gc_collect_main`, `visit_decref`,
  `visit_reachable`) at ~12% of its CPU: Python starts a young collection every 700 net
  allocations of container objects. Once the model is loaded and frozen, the channel raises that
  threshold to 10,000 (and leaves one an operator chose): the collector fell to ~6% of the
  process's CPU, and a claim cost 10-15% less (A/B rounds in one process, the threshold switched
  between rounds: 158-164 µs → 131 µs, 140 → 126 µs, 156 → 132 µs a request, on a day the bare
  endpoint took 66-80 µs; a threshold of 2,000 gave half of it). A young collection now takes
  ~1-2 ms instead of ~0.15 ms, about fourteen times less often; refcounting still frees all but
  cyclic garbage at once (`tests/test_collector.py`). The bench now counts claims decided (200 or
  409) rather than requests, lets the race's agents send 1,000 requests a second each (at the
  product's default of 50, a fast machine's race would be mostly 429 refusals, counted as claims
  before) and prepares 60,000 conversations (15,000 ran out within the rounds on a fast day).
- **The stage clock only where it explains** (`bench/stageclock.py`, `bench/rasa_sampled.py`): the
  clock wrapped Sanic's `Request.__init__` in the Rasa process for the whole run, so every claim
  request and every request to the bare route in Rasa paid for the wrapper, and the bare Sanic
  endpoint they are compared with did not. py-spy on the Rasa process during the race put the
  wrapper's own lines at 1.5% of its samples, about 5 µs a request. The clock now starts at target
  1's paced rounds and stops after them (`tests/test_bench_stages.py`)."""


METHOD = """## How it is measured

- `make bench` runs `scripts/bootstrap-venv.sh`, `scripts/ensure-model.sh`, then
  `.venv/bin/python -m bench`. It starts a private Redis, the action server and one `rasa run` with
  `credentials.yml` and `endpoints.yml` (tests/stack.py) and runs the phases against it; for the
  human path's desk layout only, a second `rasa run` with `HANDOFF_RECORDER=off` joins it. Then it
  stops them and times `make run` itself. Nothing here is hard-coded: the run writes this file and the plot.
- Comparisons run side by side in one run, rounds alternating (A B B A ...), and are given as ratios.
  CPU per operation comes from `/proc/<pid>/stat`, the machine's total from `/proc/stat` ("other work
  on the machine" is everything that is not this benchmark's processes).
- The Rasa server runs as `python -m bench.rasa_sampled`: plain `rasa` plus the sampler, off until the
  profile phase, and the stage clock, which notes when each request was read and when Rasa's handling of
  its message began and ended (a few µs per request, on both channels alike). The clock runs only for
  target 1's paced rounds, the figures it explains: the other phases' requests, the claims race's among
  them, run Sanic and Rasa unwrapped.
- Target 1's ratios come with 95% intervals from drawing the pairs of rounds again with replacement
  (2,000 draws, percentile bootstrap): rounds, not single messages, are what the machine's noise
  moves. A verdict whose interval spans the target is marked *not settled*: another run on the same
  machine could turn it.
- `python -m bench --only bot,claims` runs some phases; `--report-only` re-renders the last results
  (`.handoff/bench-results.pickle`)."""


def write(results: dict[str, Any]) -> list[Path]:
    from bench.plot import draw

    image = draw(results, IMAGE)
    profiles = {p.name: p for p in results.get("profile", [])}
    started = results.get("started", time.strftime("%Y-%m-%d %H:%M"))
    parts = [
        "# Benchmarks",
        "",
        f"Written by `{results.get('command', 'make bench')}` on {started} (the whole run took"
        f" {results.get('elapsed_s', 0) / 60:.1f} min). Every figure below comes from that one run.",
        "",
        f"![Latency distributions]({image.relative_to(DOC.parent)})",
        "",
        summary_section(results),
        "",
        machine_section(results),
    ]
    if "bot" in results:
        parts += ["", bot_section(results["bot"], profiles, results.get("tracker"))]
    if "human" in results:
        parts += [
            "",
            human_section(
                results["human"], results.get("human_single"), results.get("bot"), results.get("profile_human")
            ),
        ]
    if "claims" in results:
        parts += [
            "",
            claims_section(results["claims"], results.get("claims_one"), profiles.get("claims, 100 agents racing")),
        ]
    if "waiting" in results:
        parts += ["", waiting_section(results["waiting"])]
    parts += ["", startup_section(results), "", profile_section(results), "", FIXES, "", METHOD, ""]
    DOC.write_text("\n".join(parts))
    return [DOC, image]
