"""Bounded time series for the in-process metrics source: the simulation keeps only *current* figures,
so someone has to remember the last hours for the charts, as Prometheus would.

Samples are kept in ``array('d')`` pairs (16 bytes a sample) and trimmed in amortised O(1); the total
across all series is capped (``budget``), so a 2,000-GPU sandbox keeps a shorter history, not more memory.
Reads resample to a chart's step with Prometheus's instant-vector rule: at each step the newest sample
no older than the lookback.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Hashable


class Ring:
    """(time, value) samples in time order, the oldest dropped beyond ``capacity``."""

    __slots__ = ("capacity", "times", "values")

    def __init__(self, capacity: int) -> None:
        self.capacity = max(capacity, 2)
        self.times = array("d")
        self.values = array("d")

    def append(self, t: float, value: float) -> None:
        self.times.append(t)
        self.values.append(value)
        if len(self.times) >= 2 * self.capacity:  # trim in bulk: amortised O(1) per append
            del self.times[: -self.capacity]
            del self.values[: -self.capacity]

    @property
    def last_time(self) -> float | None:
        return self.times[-1] if self.times else None

    def resample(self, end: float, step: float, count: int, lookback: float) -> tuple[tuple[float, float], ...]:
        """Up to ``count`` points at ``end - (count-1)·step … end``; a point without a sample in the
        lookback before it is left out (a gap), as in a Prometheus range query."""
        out = []
        times, values = self.times, self.values
        for i in range(count):
            t = end - (count - 1 - i) * step
            j = bisect_right(times, t) - 1
            if j >= 0 and t - times[j] <= lookback:
                out.append((t, values[j]))
        return tuple(out)


class History:
    """Named rings sharing one sample budget."""

    def __init__(self, interval_s: float, horizon_s: float = 6 * 3600.0, budget: int = 2_000_000) -> None:
        self.interval_s = interval_s
        self.horizon_s = horizon_s
        self.budget = budget
        self.rings: dict[Hashable, Ring] = {}

    def capacity(self) -> int:
        per_series = self.budget // max(len(self.rings), 1)
        return int(min(self.horizon_s / self.interval_s + 1, per_series))

    def add(self, key: Hashable, t: float, value: float | None) -> None:
        if value is None:
            return
        ring = self.rings.get(key)
        if ring is None:
            ring = self.rings[key] = Ring(self.capacity())
        ring.append(t, value)

    def rebalance(self, now: float) -> None:
        """Forget series with nothing newer than the horizon and share the budget among the rest."""
        for key in [k for k, r in self.rings.items() if (r.last_time or 0.0) < now - self.horizon_s]:
            del self.rings[key]
        cap = self.capacity()
        for ring in self.rings.values():
            ring.capacity = cap

    def points(self, key: Hashable, end: float, step: float, count: int) -> tuple[tuple[float, float], ...]:
        ring = self.rings.get(key)
        if ring is None:
            return ()
        return ring.resample(end, step, count, max(step, 3 * self.interval_s))
