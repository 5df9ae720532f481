"""docs/images/latency.png: the latency distributions of the run (empirical CDFs)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes

from bench.botpath import PACED_SHARE

Series = tuple[str, Sequence[float]]


def _cdf(axes: Axes, label: str, seconds: Sequence[float], style: str = "-") -> None:
    if not seconds:
        return
    ms = sorted(s * 1000 for s in seconds)
    share = [(i + 1) / len(ms) for i in range(len(ms))]
    axes.step(ms, share, style, where="post", label=f"{label} (n={len(ms):,})", linewidth=1.4)


def _panel(axes: Axes, title: str, series: list[Series], limits: Sequence[float] = ()) -> None:
    styles = ["-", "-", "--", "--", ":", ":"]
    for (label, seconds), style in zip(series, styles, strict=False):
        _cdf(axes, label, seconds, style)
    for limit in limits:
        axes.axvline(limit, color="grey", linewidth=0.8, linestyle="-.")
    axes.set_xscale("log")
    axes.set_xlabel("latency (ms, log scale)")
    axes.set_ylabel("share of requests ≤ x")
    axes.set_ylim(0, 1.01)
    axes.grid(True, which="both", alpha=0.3)
    axes.set_title(title, fontsize=10)
    axes.legend(fontsize=7, loc="lower right")


def paced_series(bot: Any) -> list[Series]:
    """The bot path at the paced load (the p50 target's), when the run has it."""
    if getattr(bot, "paced_rest", None) is None or bot.paced_handoff is None:
        return []
    share = f"{PACED_SHARE:.0%} load"
    return [(f"REST, {share}", bot.paced_rest.latencies), (f"handoff, {share}", bot.paced_handoff.latencies)]


def draw(results: dict[str, Any], path: Path) -> Path:
    figure, grid = plt.subplots(2, 2, figsize=(13, 9))
    bot, human, claims, waiting = (results.get(k) for k in ("bot", "human", "claims", "waiting"))
    if bot is not None:
        _panel(
            grid[0][0],
            f"1. Bot path, {bot.customers} customers at once: REST vs handoff channel (state bot)",
            [
                ("REST, saturated", bot.rest.latencies),
                ("handoff, saturated", bot.handoff.latencies),
                *paced_series(bot),
                ("REST, one customer alone", bot.unloaded["REST"]),
                ("handoff, one customer alone", bot.unloaded["handoff"]),
            ],
        )
    if human is not None:
        series: list[Series] = [
            ("customer message → agent's socket", human.to_agent),
            ("agent message → customer's socket", human.to_customer),
        ]
        if bot is not None:
            series.append(("bot reply, one customer alone", bot.unloaded["handoff"]))
        _panel(
            grid[0][1],
            f"2. Human path, {human.conversations} conversations assigned at once",
            series,
            limits=(5, 25),
        )
    if claims is not None:
        _panel(
            grid[1][0],
            f"3. Claims, {claims.agents} agents racing, vs a bare Sanic endpoint",
            [("claim (HTTP API)", claims.claims.latencies), ("bare Sanic JSON endpoint", claims.bare.latencies)],
        )
    if waiting is not None:
        small, large = waiting.costs[0], waiting.costs[-1]
        _panel(
            grid[1][1],
            "4. Waiting at scale: first page, enqueue, claim",
            [
                (f"first page, {small.length:,} waiting", small.page),
                (f"first page, {large.length:,} waiting", large.page),
                (f"claim, {small.length:,} waiting", small.claim),
                (f"claim, {large.length:,} waiting", large.claim),
                (f"enqueue, {small.length:,} waiting", small.enqueue),
                (f"enqueue, {large.length:,} waiting", large.enqueue),
            ],
            limits=(5,),
        )
    figure.suptitle("make bench: latency distributions (grey lines: targets)", fontsize=12)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
