"""The dashboard's two metric columns: GPU memory used % and p99 latency per Deployment, as sparklines.

One query per refresh for every Deployment of the namespace (``MetricsService.deployment_trends``);
without a metrics service the columns stay "-" and nothing is polled.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.content import Content

from console.core.metrics import DeploymentTrend, MetricsService
from screens.metrics_poll import MetricsPolling
from screens.widgets import tone
from screens.widgets.chart import level_style, seconds_label, sparkline

TREND_COLUMNS = ("GPU MEM", "p99")  # over the last 15 minutes
SPARK_WIDTH = 6


def trend_cells(trend: DeploymentTrend | None) -> tuple[object, object]:
    """``▃▄▅▆▇ 61%`` and ``▂▂▃▅ 420ms``: the recent shape and the latest value, in the error tone past the alert
    lines."""
    cells: list[object] = []
    for series, top, fmt, line in ((trend and trend.gpu_mem, 100.0, lambda v: f"{v:3.0f}%", 80.0),
                                   (trend and trend.p99, None, seconds_label, 0.5)):
        if not series or not series.points:
            cells.append(Content.styled("-", tone.MUTED))
            continue
        last = series.points[-1][1]
        style = level_style(last, line * 0.75, line) if top else (tone.bold(tone.ERROR) if last > line else "")
        shape = sparkline([v for _, v in series.points], SPARK_WIDTH, top)
        cells.append(Content.styled(f"{shape} {fmt(last)}", style))
    return cells[0], cells[1]


class DeploymentTrendsMixin(MetricsPolling):
    """Polls the trends while the dashboard is visible and redraws the Deployment table with them."""

    refresh_setting = "gpu_refresh"
    trends: dict[tuple[str, str], DeploymentTrend]  # by (namespace, Deployment)

    def metrics_job(self, service: MetricsService) -> Callable[[], Any]:
        namespace = self.app.snapshot.namespace or None  # type: ignore[attr-defined]
        window = self.window_s
        return lambda: service.deployment_trends(namespace, window, SPARK_WIDTH // 2)

    def show_metrics(self, payload: Any) -> None:
        if payload is None or payload.value is None:
            return  # keep the last sparklines; the GPU and Latency screens say what is wrong
        self.trends = payload.value
        self.show_snapshot(self.app.snapshot)  # type: ignore[attr-defined]
