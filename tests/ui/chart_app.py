"""A one-chart app over fixed data, for the chart's snapshot test and benchmark."""

from __future__ import annotations

import math
import time

from textual.app import App, ComposeResult

from console.core.metrics import Series
from screens.widgets.chart import Chart, seconds_label

WINDOW = 900.0


def latency_series(points: int, end: float, window: float = WINDOW) -> list[Series]:
    """p50/p95/p99 lines with a spike past the 500 ms line two thirds of the way along."""
    step = window / points
    times = [end - window + i * step for i in range(points)]

    def line(name: str, base: float) -> Series:
        values = [base * (1 + 0.15 * math.sin(i / 9)) * (3.2 if 0.62 < i / points < 0.72 else 1.0)
                  for i in range(points)]
        return Series(name, tuple(zip(times, values, strict=True)))

    return [line("p50", 0.18), line("p95", 0.33), line("p99", 0.42), line("ttft_p95", 0.12)]


class ChartApp(App[None]):
    CSS = "Screen { layout: vertical; } Chart { height: 1fr; }"

    def __init__(self, points: int = 240, end: float | None = None) -> None:
        super().__init__()
        self.points = points
        self.end = end

    def compose(self) -> ComposeResult:
        yield Chart("latency claude-inference", threshold=0.5, threshold_label="p99 500 ms", label=seconds_label,
                    id="chart")

    def on_mount(self) -> None:
        chart = self.query_one(Chart)
        end = self.end or time.time()
        chart.clock = lambda: end + 3  # "data 3s ago", whenever the test runs
        chart.show(latency_series(self.points, end), end, None, WINDOW)
