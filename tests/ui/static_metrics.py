"""The MetricsService protocol over fixed figures (snapshots, Pilot tests), counting what is asked."""

from __future__ import annotations

import math
from collections import Counter

from console.core.metrics import (
    DeploymentTrend,
    GpuSample,
    MetricsError,
    MetricsResult,
    Series,
    ServingStats,
    chart_step,
)

NS = "llm"  # the namespace the figures are of
END = 4_000_000_000.0  # the figures' fixed "now", in the future so their age reads 0 s in snapshots
PODS = {("gpu-node-1", "0"): "claude-inference-6d9c8-abcde", ("gpu-node-2", "0"): "claude-inference-6d9c8-fghij",
        ("gpu-node-3", "0"): "claude-short-queue-5d8f7-qrstu", ("gpu-node-4", "0"): "claude-long-queue-7f4b2-vwxyz"}


def wave(name: str, base: float, window: float, cells: int, amp: float = 0.1, spike: float = 1.0) -> Series:
    step = chart_step(window, cells)
    count = 2 * cells
    points = tuple((END - (count - 1 - i) * step,
                    base * (1 + amp * math.sin(i / 5)) * (spike if i > count * 0.8 else 1.0)) for i in range(count))
    return Series(name, points)


class StaticMetrics:
    """Fixed GPUs and serving figures; ``error`` makes every call fail with it (a dead Prometheus)."""

    source = "Prometheus at http://prometheus.monitoring:9090"

    def __init__(self, now: float | None = None) -> None:
        self.calls: Counter[str] = Counter()
        self.error: MetricsError | None = None
        self.at = END if now is None else now

    def min_refresh_s(self) -> float:
        return 0.0

    def _result(self, name: str, value: object, at: float | None = None) -> MetricsResult:  # type: ignore[type-arg]
        self.calls[name] += 1
        if self.error is not None:
            return MetricsResult(error=self.error)
        return MetricsResult(value, at=self.at if at is None else at)

    def gpus(self) -> MetricsResult[tuple[GpuSample, ...]]:
        rows = []
        for n in range(1, 5):
            for i in range(4):
                pod = PODS.get((f"gpu-node-{n}", str(i)), "")
                used = (13_900.0 + 2_600 * (n == 1)) if pod else 0.0
                rows.append(GpuSample(f"gpu-node-{n}", str(i), f"GPU-{n}{i}", "NVIDIA A10G", used, 23_028.0,
                                      55.0 if pod else 0.0, 52.0 if pod else 31.0, NS if pod else "", pod))
        return self._result("gpus", tuple(rows))

    def gpu_history(self, window_s: float, cells: int) -> MetricsResult[dict[str, Series]]:
        return self._result("gpu_history", {f"gpu-node-{n}/0": wave("fb", 60 + 12 * (n == 1), window_s, cells)
                                            for n in range(1, 5)})

    def gpu_chart(self, window_s: float, cells: int) -> MetricsResult[tuple[Series, ...]]:
        return self._result("gpu_chart", (wave("max", 66, window_s, cells, spike=1.25),
                                          wave("mean", 15, window_s, cells)))

    def serving(self, namespace: str | None) -> MetricsResult[tuple[ServingStats, ...]]:
        return self._result("serving", (
            ServingStats("claude-inference", 2, 16.1, 0.19, 0.37, 0.62, 0.24, 3.2, 0.9, 0.06, namespace or NS),
            ServingStats("claude-long-queue", 1, 3.1, 0.23, 0.51, 0.71, 0.38, 0.7, 0.05, 0.15, namespace or NS),
            ServingStats("claude-short-queue", 1, 5.2, 0.17, 0.36, 0.48, 0.23, 0.9, 0.06, 0.01, namespace or NS),
        ))

    def latency_chart(self, namespace: str | None, deployment: str | None, window_s: float,
                      cells: int) -> MetricsResult[tuple[Series, ...]]:
        self.calls[f"latency_chart:{deployment}"] += 1
        return self._result("latency_chart", tuple(
            wave(name, base, window_s, cells, spike=2.5) for name, base in
            (("p50", 0.19), ("p95", 0.37), ("p99", 0.46), ("ttft_p95", 0.24))))

    def deployment_trends(self, namespace: str | None, window_s: float,
                          cells: int) -> MetricsResult[dict[tuple[str, str], DeploymentTrend]]:
        ns = namespace or NS
        return self._result("deployment_trends", {
            (ns, d): DeploymentTrend(d, wave("gpu_mem", mem, window_s, cells), wave("p99", p99, window_s, cells,
                                                                                      spike=1.4), ns)
            for d, mem, p99 in (("claude-inference", 66, 0.46), ("claude-long-queue", 61, 0.71),
                                ("claude-short-queue", 60, 0.33))})

    def close(self) -> None:
        pass
