"""The sandbox's in-process metrics source: the ``MetricsService`` protocol read straight from the simulation.

``llmctl --sandbox`` without a Prometheus uses this, so the GPU and Latency screens work with nothing
else installed; with ``--prometheus URL`` the console reads the same sandbox through a real Prometheus
instead (console/cli/top.py decides). It lives in the sandbox because it knows the simulation; the
services never import the sandbox.

Every read runs on the sandbox's loop (``SandboxThread.call``: the simulation is not thread-safe), and
so does the sampler that keeps the history the simulation itself does not (:mod:`.history`). Figures
are those the exporters serve: GPUs of NotReady nodes are left out, a GPU's pod is the first pod holding
it (DCGM's mapping), latencies are the queue model's quantiles (Prometheus would interpolate them from
the histogram buckets).

Time is the sandbox's simulated time (wall time at ``--speed 1``): the simulation's rates are per
simulated second, and a demo at ``--speed 40`` fills a 15-minute chart in about 20 wall seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from console.core.metrics import (
    DeploymentTrend,
    ErrorKind,
    GpuSample,
    MetricsError,
    MetricsResult,
    Series,
    ServingStats,
    chart_step,
    newest,
)

from .history import History
from .sim.figures import GpuFigures

T = TypeVar("T")
LATENCY_FIELDS = (("p50", "p50_s"), ("p95", "p95_s"), ("p99", "p99_s"), ("ttft_p95", "ttft_p95_s"))
STARTING = MetricsError(ErrorKind.NO_DATA, "sandbox starting…")
MIN_WALL_INTERVAL_S = 0.05  # however fast the simulation runs, sample at most 20 times a wall second


def _deployment_fb_percent(sim: Any) -> dict[tuple[str, str], float]:
    """Framebuffer used % of the GPUs each Deployment's pods hold (by DCGM's first-pod mapping)."""
    owner = {(p.namespace, p.name): (p.namespace, p.deployment) for p in sim.pods() if p.deployment}
    used: dict[tuple[str, str], float] = {}
    total: dict[tuple[str, str], float] = {}
    for g in _visible(sim.gpus()):
        dep = owner.get(g.pods[0][:2]) if g.pods else None
        if dep is not None:
            used[dep] = used.get(dep, 0.0) + round(g.used_mib)
            total[dep] = total.get(dep, 0.0) + round(g.used_mib) + round(g.free_mib)
    return {d: 100.0 * used[d] / total[d] for d in used if total[d]}


def _visible(gpus: Iterable[GpuFigures]) -> list[GpuFigures]:
    """What the DCGM exporter serves: nothing from NotReady nodes."""
    return [g for g in gpus if g.node_ready]


def sample(history: History, sim: Any, now: float) -> None:
    """Record one sample of everything the charts draw."""
    gpus = _visible(sim.gpus())
    percents = [(f"{g.node}/{g.index}", 100.0 * round(g.used_mib) / g.total_mib if g.total_mib else 0.0)
                for g in gpus]
    for key, pct in percents:
        history.add(("gpu", key), now, pct)
    if percents:
        history.add(("fleet", "max"), now, max(p for _, p in percents))
        history.add(("fleet", "mean"), now, sum(p for _, p in percents) / len(percents))
    for d in sim.deployments():
        if d.replicas:
            for name, attr in LATENCY_FIELDS:
                history.add(("dep", d.namespace, d.name, name), now, getattr(d, attr))
    for (ns, name), pct in _deployment_fb_percent(sim).items():
        history.add(("dep", ns, name, "gpu_mem"), now, pct)


class SandboxMetrics:
    """:class:`console.core.metrics.MetricsService` over a :class:`SandboxThread`'s simulation."""

    def __init__(self, sandbox: Any, interval_s: float = 2.0) -> None:
        """``interval_s``: simulated seconds between history samples."""
        self._sandbox = sandbox  # a console.sandbox.server.SandboxThread (started elsewhere, or later)
        config = getattr(getattr(sandbox, "sandbox", None), "config", None)
        speed = self._speed = float(config.speed) if config is not None else 1.0
        self._history = History(max(interval_s, MIN_WALL_INTERVAL_S * speed))
        self._task: asyncio.Task[None] | None = None
        self._samples = 0
        self._epoch: float | None = None  # wall time when the simulation's clock read 0
        self.source = "sandbox simulation (direct)" + (f"; simulated time ×{speed:g}" if speed != 1 else "")

    def min_refresh_s(self) -> float:
        return self._history.interval_s / self._speed

    # ---- the protocol ---------------------------------------------------------------------------
    def gpus(self) -> MetricsResult[tuple[GpuSample, ...]]:
        def read(sim: Any, _h: History, now: float) -> MetricsResult[tuple[GpuSample, ...]]:
            rows = []
            for g in _visible(sim.gpus()):
                ns, pod = (g.pods[0][0], g.pods[0][1]) if g.pods else ("", "")
                used = float(round(g.used_mib))
                rows.append(GpuSample(g.node, str(g.index), g.uuid, g.model_name, used, used + round(g.free_mib),
                                      float(round(g.util)), float(round(g.temp_c)), ns, pod))
            return MetricsResult(tuple(sorted(rows, key=lambda r: (r.node, int(r.index)))), at=now)

        return self._read(read)

    def gpu_history(self, window_s: float, cells: int) -> MetricsResult[dict[str, Series]]:
        def read(_sim: Any, h: History, now: float) -> MetricsResult[dict[str, Series]]:
            step, count = chart_step(window_s, cells), 2 * cells
            out = {key[1]: Series("fb", h.points(key, now, step, count)) for key in h.rings if key[0] == "gpu"}
            return MetricsResult(out, at=newest(out.values()))

        return self._read(read)

    def gpu_chart(self, window_s: float, cells: int) -> MetricsResult[tuple[Series, ...]]:
        keys = [("fleet", "max"), ("fleet", "mean")]
        return self._read(lambda _s, h, now: self._lines(h, now, window_s, cells, keys))

    def serving(self, namespace: str | None) -> MetricsResult[tuple[ServingStats, ...]]:
        def read(sim: Any, _h: History, now: float) -> MetricsResult[tuple[ServingStats, ...]]:
            rows = tuple(sorted(
                (ServingStats(d.name, d.replicas, d.qps, d.p50_s, d.p95_s, d.p99_s, d.ttft_p95_s, d.running, d.waiting,
                              d.kv_cache_perc, d.namespace)
                 for d in sim.deployments() if d.replicas and namespace in (None, d.namespace)),
                key=lambda s: s.key))
            return MetricsResult(rows, at=now)

        return self._read(read)

    def latency_chart(self, namespace: str | None, deployment: str | None, window_s: float,
                      cells: int) -> MetricsResult[tuple[Series, ...]]:
        keys = [("dep", namespace, deployment, name) for name, _ in LATENCY_FIELDS]
        return self._read(lambda _s, h, now: self._lines(h, now, window_s, cells, keys))

    def deployment_trends(self, namespace: str | None, window_s: float,
                          cells: int) -> MetricsResult[dict[tuple[str, str], DeploymentTrend]]:
        def read(sim: Any, h: History, now: float) -> MetricsResult[dict[tuple[str, str], DeploymentTrend]]:
            step, count = chart_step(window_s, cells), 2 * cells
            out = {}
            for d in sim.deployments():
                if namespace in (None, d.namespace):
                    mem = h.points(("dep", d.namespace, d.name, "gpu_mem"), now, step, count)
                    p99 = h.points(("dep", d.namespace, d.name, "p99"), now, step, count)
                    out[d.namespace, d.name] = DeploymentTrend(d.name, Series("gpu_mem", mem), Series("p99", p99),
                                                               d.namespace)
            lines = [s for t in out.values() for s in (t.gpu_mem, t.p99) if s]
            return MetricsResult(out, at=newest(lines))

        return self._read(read)

    def close(self) -> None:
        """Stop the sampler (on the sandbox loop) if the sandbox still runs."""
        task, self._task = self._task, None
        loop = getattr(self._sandbox, "loop", None)
        if task is not None and loop is not None and loop.is_running():
            with contextlib.suppress(Exception):
                self._sandbox.call(task.cancel, timeout=2.0)

    # ---- plumbing -------------------------------------------------------------------------------
    @staticmethod
    def _lines(h: History, now: float, window_s: float, cells: int,
               keys: list[tuple[Any, ...]]) -> MetricsResult[tuple[Series, ...]]:
        step, count = chart_step(window_s, cells), 2 * cells
        lines = tuple(Series(str(k[-1]), h.points(k, now, step, count)) for k in keys)
        lines = tuple(s for s in lines if s.points)
        return MetricsResult(lines, at=newest(lines))

    def _read(self, fn: Callable[[Any, History, float], MetricsResult[T]]) -> MetricsResult[T]:
        loop = getattr(self._sandbox, "loop", None)
        if loop is None or not loop.is_running():
            return MetricsResult(error=STARTING)
        try:
            return self._sandbox.call(lambda: self._on_loop(fn), timeout=5.0)
        except Exception as exc:  # a stopped or stuck sandbox: say so, never raise into the UI
            why = f"sandbox not answering ({exc or 'timeout'})"
            return MetricsResult(error=MetricsError(ErrorKind.UNREACHABLE, why))

    def _on_loop(self, fn: Callable[[Any, History, float], MetricsResult[T]]) -> MetricsResult[T]:
        ctx = getattr(self._sandbox.sandbox, "ctx", None)
        sim = ctx.sim if ctx is not None else None
        if sim is None or not sim.version:
            return MetricsResult(error=STARTING)
        clock = ctx.clock
        if self._task is None:  # history starts with the first read (the console's start)
            self._epoch = time.time() - clock.sim_elapsed()
            sample(self._history, sim, self._now(clock))
            self._task = asyncio.get_running_loop().create_task(self._sampler(sim, clock),
                                                                name="llmctl-metrics-history")
        return fn(sim, self._history, self._now(clock))

    def _now(self, clock: Any) -> float:
        """The simulation's time as an epoch timestamp (wall time at speed 1)."""
        return (self._epoch or 0.0) + clock.sim_elapsed()

    async def _sampler(self, sim: Any, clock: Any) -> None:
        while True:
            await clock.sleep(self._history.interval_s)
            now = self._now(clock)
            sample(self._history, sim, now)
            self._samples += 1
            if self._samples % 100 == 0:
                self._history.rebalance(now)
