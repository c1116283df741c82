"""GPU and serving metric records, and the ``MetricsService`` protocol the panels read them through.

Pure data: the Prometheus adapter (console/metrics) and the sandbox's in-process source both produce
these records, so the screens never know which one they are reading.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, Protocol, TypeVar

T = TypeVar("T")
WINDOWS = {"5m": 300.0, "15m": 900.0, "1h": 3600.0, "6h": 21600.0}


class ErrorKind(StrEnum):
    NOT_CONFIGURED = "not configured"
    UNREACHABLE = "unreachable"
    REFUSED = "refused"
    NO_METRIC = "no such metric"
    QUERY = "query failed"
    NO_DATA = "no data yet"


@dataclass(frozen=True)
class MetricsError:
    kind: ErrorKind
    message: str


@dataclass(frozen=True)
class MetricsResult(Generic[T]):
    """A value or an error; ``at`` is the time (epoch s) the data is as of, for the panel's age."""

    value: T | None = None
    error: MetricsError | None = None
    at: float | None = None
    missing: tuple[str, ...] = ()  # parts the stack does not have (e.g. TGI has no TTFT histogram)


@dataclass(frozen=True)
class Series:
    """One line of a chart: (epoch s, value) points, oldest first."""

    name: str
    points: tuple[tuple[float, float], ...]

    @property
    def last(self) -> float | None:
        return self.points[-1][1] if self.points else None


@dataclass(frozen=True)
class GpuSample:
    """One GPU as DCGM reports it now; the pod is DCGM's pod mapping, never an NVML PID."""

    node: str
    index: str
    uuid: str
    model: str
    used_mib: float
    total_mib: float
    util: float | None
    temp_c: float | None
    namespace: str = ""
    pod: str = ""

    @property
    def key(self) -> str:
        return f"{self.node}/{self.index}"

    @property
    def used_percent(self) -> float:
        return 100.0 * self.used_mib / self.total_mib if self.total_mib else 0.0


@dataclass(frozen=True)
class ServingStats:
    """One Deployment's serving figures now (latencies in seconds, KV-cache 0..1). ``namespace``: the
    Deployment's (read for every namespace, one name may serve in several: each has its own figures)."""

    deployment: str
    pods: int | None = None
    qps: float | None = None
    p50_s: float | None = None
    p95_s: float | None = None
    p99_s: float | None = None
    ttft_p95_s: float | None = None
    running: float | None = None
    waiting: float | None = None
    kv_cache: float | None = None
    namespace: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return self.namespace, self.deployment


@dataclass(frozen=True)
class DeploymentTrend:
    """A Deployment's recent GPU memory used % and p99 latency, for the dashboard's sparklines."""

    deployment: str
    gpu_mem: Series | None = None
    p99: Series | None = None
    namespace: str = ""


class MetricsService(Protocol):
    """What the GPU, Latency and dashboard panels ask for. Blocking; never raises."""

    source: str  # where the figures come from, for the panels ("Prometheus at http://...")

    def min_refresh_s(self) -> float:
        """Refreshing faster than this re-reads the same data (the scrape interval)."""
        ...

    def gpus(self) -> MetricsResult[tuple[GpuSample, ...]]: ...

    def gpu_history(self, window_s: float, cells: int) -> MetricsResult[dict[str, Series]]:
        """Framebuffer used % per GPU (keyed by :attr:`GpuSample.key`), ~2 points per cell."""
        ...

    def gpu_chart(self, window_s: float, cells: int) -> MetricsResult[tuple[Series, ...]]:
        """The fleet's ``max`` and ``mean`` framebuffer used %."""
        ...

    def serving(self, namespace: str | None) -> MetricsResult[tuple[ServingStats, ...]]:
        """Per Deployment of ``namespace`` (None: of every namespace, each (namespace, name) apart), by namespace
        and name."""
        ...

    def latency_chart(self, namespace: str | None, deployment: str | None, window_s: float,
                      cells: int) -> MetricsResult[tuple[Series, ...]]:
        """``p50``, ``p95``, ``p99`` and ``ttft_p95`` (seconds) of one Deployment."""
        ...

    def deployment_trends(self, namespace: str | None, window_s: float,
                          cells: int) -> MetricsResult[dict[tuple[str, str], DeploymentTrend]]:
        """Per Deployment of ``namespace`` (None: of every namespace), by (namespace, name)."""
        ...

    def close(self) -> None: ...


def chart_step(window_s: float, cells: int) -> float:
    """Seconds between points so a chart ``cells`` wide gets two per cell and never more."""
    return float(max(1, math.ceil(window_s / (2 * max(cells, 1)))))


def newest(series: Iterable[Series]) -> float | None:
    """The timestamp of the newest point: a chart's data is as old as that."""
    stamps = [s.points[-1][0] for s in series if s.points]
    return max(stamps) if stamps else None
