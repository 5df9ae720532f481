"""Percentiles and summaries of latency samples (seconds in, milliseconds out)."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), linear between the closest ranks."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Summary:
    """A latency distribution in milliseconds."""

    count: int
    p50: float
    p90: float
    p99: float
    mean: float
    max: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Summary:
        ms = [s * 1000 for s in seconds]
        if not ms:
            return cls(0, math.nan, math.nan, math.nan, math.nan, math.nan)
        return cls(len(ms), percentile(ms, 50), percentile(ms, 90), percentile(ms, 99), sum(ms) / len(ms), max(ms))

    def cells(self) -> list[str]:
        return [str(self.count), ms(self.p50), ms(self.p90), ms(self.p99), ms(self.max)]


def ms(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if value < 10:
        return f"{value:.2f} ms"
    if value < 100:
        return f"{value:.1f} ms"
    return f"{value:.0f} ms"


def ratio(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.3f}"


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


def paired_ratio_interval(
    numerator_rounds: Sequence[Sequence[float]],
    denominator_rounds: Sequence[Sequence[float]],
    statistic: Callable[[Sequence[float]], float] = median,
    level: float = 0.95,
    draws: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """How far the ratio of two channels' `statistic` could move with other rounds: the
    pairs of rounds (one of each channel, run side by side) drawn again with replacement
    `draws` times, and the central `level` of the ratios they give (percentile bootstrap)."""
    pairs = min(len(numerator_rounds), len(denominator_rounds))
    if pairs < 2:
        return math.nan, math.nan
    rng = random.Random(seed)
    ratios = []
    for _ in range(draws):
        chosen = [rng.randrange(pairs) for _ in range(pairs)]
        top = statistic([x for i in chosen for x in numerator_rounds[i]])
        bottom = statistic([x for i in chosen for x in denominator_rounds[i]])
        ratios.append(top / bottom)
    tail = (1 - level) / 2 * 100
    return percentile(ratios, tail), percentile(ratios, 100 - tail)


def wait_growth(busy: float) -> float:
    """How many times a longer service time's share lengthens a single-server queue's mean
    wait, at `busy` (0-1) of the server's time taken: the wait goes as busy * S / (1 - busy),
    and busy = arrivals * S grows with S too, so d ln(wait) / d ln(S) = 2 + busy / (1 - busy)."""
    if not 0 <= busy < 1:
        raise ValueError(f"a queue that keeps up is busy less than all the time, not {busy}")
    return 2 + busy / (1 - busy)
