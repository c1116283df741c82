"""One clock for the whole sandbox: real wall time for timestamps, durations divided by ``speed``.

Timestamps stay real so ``kubectl get`` ages look right; every simulated duration (cold start,
backoff, progress deadline, HPA windows) is scaled by the speed factor through :meth:`Clock.sleep`
and :meth:`Clock.call_later`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime


class Clock:
    """Wall clock plus a speed factor for simulated durations."""

    def __init__(self, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError("speed must be > 0")
        self.speed = speed
        self._start_mono = time.monotonic()

    @staticmethod
    def now() -> datetime:
        return datetime.now(UTC)

    @staticmethod
    def timestamp() -> str:
        """RFC 3339 timestamp with second precision, as the API server writes them."""
        return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    @staticmethod
    def micro_timestamp() -> str:
        """RFC 3339 with microseconds (a MicroTime, as events.k8s.io's eventTime is written)."""
        return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def sim_elapsed(self) -> float:
        """Simulated seconds since the clock started (wall seconds × speed)."""
        return (time.monotonic() - self._start_mono) * self.speed

    def wall(self, sim_seconds: float) -> float:
        """Wall seconds for a simulated duration."""
        return sim_seconds / self.speed

    async def sleep(self, sim_seconds: float) -> None:
        await asyncio.sleep(self.wall(sim_seconds))

    def call_later(self, sim_seconds: float, callback: Callable[[], object]) -> asyncio.TimerHandle:
        """Schedule ``callback`` on the running loop after a simulated duration."""
        return asyncio.get_running_loop().call_later(self.wall(sim_seconds), callback)


def parse_timestamp(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
