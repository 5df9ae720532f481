"""A target and what was measured against it."""

from __future__ import annotations

import math
from dataclasses import dataclass

TIMES = "\u00d7"  # the unit of ratios
WHOLE_UNITS = ("/s", "B")  # rates and sizes: shown in whole units, however small


@dataclass(frozen=True)
class Check:
    """One numbered target: `value` against `limit` (a floor or a ceiling)."""

    target: str
    label: str
    value: float
    limit: float
    unit: str
    higher_is_better: bool = False
    interval: tuple[float, float] | None = None  # the value's 95% interval, where the run gives one

    @property
    def settled(self) -> bool:
        """Whether the run's noise leaves the verdict standing: the interval (if any) lies
        wholly on the verdict's side of the limit."""
        if self.interval is None or any(math.isnan(end) for end in self.interval):
            return True
        low, high = self.interval
        return not low <= self.limit <= high

    @property
    def met(self) -> bool:
        if math.isnan(self.value):
            return False
        return self.value >= self.limit if self.higher_is_better else self.value <= self.limit

    def show(self, value: float) -> str:
        if math.isnan(value):
            return "n/a"
        if self.unit == TIMES:
            return f"{value:.3f}"
        if self.unit in ("ms", "s"):
            digits = 2 if abs(value) < 10 else 1
            return f"{value:.{digits}f} {self.unit}"
        if abs(value) >= 100 or self.unit in WHOLE_UNITS:
            return f"{value:,.0f} {self.unit}".strip()
        return f"{value:.2f} {self.unit}".strip()

    @property
    def goal(self) -> str:
        return f"{'≥' if self.higher_is_better else '≤'} {self.show(self.limit)}"

    @property
    def verdict(self) -> str:
        if math.isnan(self.value):
            return "not measured"
        gap = abs(self.value - self.limit)
        share = gap / abs(self.limit) * 100 if self.limit else math.inf
        how = f"{self.show(gap) if self.unit != TIMES else f'{gap:.3f}'} ({share:.0f}%)"
        verdict = f"met, by {how}" if self.met else f"**missed, by {how}**"
        if not self.settled and self.interval is not None:
            low, high = self.interval
            verdict += f"; not settled: its 95% interval {self.show(low)}-{self.show(high)} spans the target"
        return verdict
