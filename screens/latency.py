"""``:latency``: what the serving stack's users feel — p50/p95/p99 and time to first token against the
500 ms p99 line that triggers scale-out, with throughput, the queue and the KV-cache, per Deployment.

The table lists every serving Deployment of the namespace (one query; with every namespace shown, each
NAMESPACE/NAME apart: one name may serve in several); the row under the cursor is the one charted (one
more query), over the window chosen with keys 1–4.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import Screen
from textual.widgets import DataTable, Label

from console.core.metrics import MetricsError, MetricsResult, MetricsService, ServingStats
from screens.format import shown_name
from screens.host import host
from screens.metrics_poll import METRICS_SCREEN_BINDINGS, MetricsPolling
from screens.widgets import tone
from screens.widgets.chart import Chart, freshness, seconds_label
from screens.widgets.filling import fill_table
from screens.widgets.footer import KeyFooter
from screens.widgets.statusbar import StatusBar
from screens.widgets.table import ResourceTable

COLUMNS = ("DEPLOYMENT", "PODS", "QPS", "p50", "p95", "p99", "TTFT p95", "RUNNING", "WAITING", "KV-CACHE")
P99_LINE_S = 0.5  # the source article: request_latency_99 > 500 ms triggers scale-out


def latency_cell(seconds: float | None, line: float | None = None) -> Content | str:
    if seconds is None:
        return "-"
    return Content.styled(seconds_label(seconds), tone.bold(tone.ERROR) if line is not None and seconds > line else "")


def number(value: float | None, fmt: str = "{:.1f}") -> str:
    return "-" if value is None else fmt.format(value)


Chosen = tuple[str, str]  # (namespace, Deployment) of a row: its key is "NAMESPACE/NAME"


def row_key(chosen: Chosen) -> str:
    return "/".join(chosen)


def serving_cells(s: ServingStats, every_namespace: bool = False) -> tuple[object, ...]:
    kv: Content | str = "-"
    if s.kv_cache is not None:
        kv = Content.styled(f"{100 * s.kv_cache:.0f}%", tone.bold(tone.ERROR) if s.kv_cache > 0.9 else "")
    return (shown_name(*s.key, every_namespace), number(s.pods, "{:.0f}"), number(s.qps), latency_cell(s.p50_s),
            latency_cell(s.p95_s), latency_cell(s.p99_s, P99_LINE_S), latency_cell(s.ttft_p95_s), number(s.running),
            number(s.waiting), kv)


class LatencyScreen(MetricsPolling, Screen[None]):
    """Serving latency, throughput and queue per Deployment, with a latency chart of the selected one."""

    refresh_setting = "latency_refresh"
    BINDINGS = [*METRICS_SCREEN_BINDINGS, Binding("L", "loadtest", "Load test")]

    def __init__(self) -> None:
        super().__init__()
        self.selected: Chosen | None = None
        self.stats: tuple[ServingStats, ...] = ()
        self.at: float | None = None
        self.error: MetricsError | None = None
        self._charted: Chosen | None = None

    def compose(self) -> ComposeResult:
        yield StatusBar()
        with Vertical(id="latency"):
            with Vertical(classes="panel", id="serving-panel"):
                yield Label("Latency", classes="panel-title", id="serving-title")
                yield Label("waiting for data…", id="serving-status", classes="panel-status")
                yield ResourceTable(id="serving", cursor_type="row", zebra_stripes=True)
            yield Chart("latency", threshold=P99_LINE_S, threshold_label="p99 500 ms", label=seconds_label,
                        id="latency-chart")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#serving", DataTable).add_columns(*COLUMNS)
        self.set_interval(1.0, self._show_status)

    @property
    def namespace(self) -> str | None:
        return self.app.snapshot.namespace or None  # type: ignore[attr-defined]

    def action_refresh_now(self) -> None:
        self.poll_now()

    def action_loadtest(self) -> None:
        if self.selected:
            from screens.loadtest import LoadTestScreen

            namespace, name = self.selected
            if not namespace:  # figures without a namespace label: the first Deployment of that name
                row = host(self).deployment_named(name, doing="loading")
                namespace = row.namespace if row else ""
            self.app.push_screen(LoadTestScreen(name, namespace=namespace or None))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        key = event.row_key.value if event.row_key is not None else None
        if key:
            namespace, _, name = str(key).partition("/")
            self.selected = (namespace, name)
            # Refilling the table moves the cursor through rows too: act once things settle, and only
            # if the Deployment under the cursor is not the one charted.
            self.set_timer(0.25, self._chart_selection)

    def _chart_selection(self) -> None:
        if self.selected != self._charted:
            self.poll_now()

    def metrics_job(self, service: MetricsService) -> Callable[[], Any]:
        namespace, selected, window = self.namespace, self.selected, self.window_s
        cells = self.query_one(Chart).plot_width

        def job() -> tuple[Any, ...]:
            table = service.serving(namespace)
            keys = [s.key for s in table.value or ()]
            chosen = selected if selected in keys or not keys else keys[0]
            chart = (service.latency_chart(chosen[0] or namespace, chosen[1], window, cells) if chosen
                     else MetricsResult())
            return table, chosen, chart, service.source

        return job

    def show_metrics(self, payload: Any) -> None:
        chart = self.query_one(Chart)
        if payload is None:
            self.show_not_configured(chart)
            return
        table: MetricsResult[tuple[ServingStats, ...]]
        table, chosen, lines, source = payload
        self.error = table.error
        if table.value is not None:
            self.stats, self.at = table.value, table.at
        self._charted = chosen
        if chosen is not None and self.selected is None:
            self.selected = chosen
        every = self.namespace is None
        fill_table(self.query_one("#serving", DataTable), [(row_key(s.key), serving_cells(s, every))
                                                           for s in self.stats])
        self.query_one("#serving-title", Label).update(
            f"Latency — namespace {self.namespace or 'all'} · {source} · window {self.window} (keys 1–4)")
        chart.title = f"{shown_name(*chosen, every) if chosen else 'latency'} ({self.window})"
        chart.show(lines.value, lines.at, lines.error or (None if chosen else table.error), self.window_s,
                   note="; ".join(lines.missing))
        self._show_status()

    def _show_status(self) -> None:
        if not self.is_current:
            return
        self.query_one("#serving-status", Label).update(freshness(self.at, self.error))
