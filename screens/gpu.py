"""``:gpu``: every GPU of the cluster, per node, from DCGM — framebuffer, utilisation, temperature, the pod
holding it and its history — and a chart of framebuffer used % with the 80 % alert line.

The pod comes from DCGM's pod labels (its Kubernetes pod mapping), never from NVML process ids, which
inside containers name the wrong processes (nvidia-docker #1483).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.screen import Screen
from textual.widgets import DataTable, Label

from console.core.metrics import GpuSample, MetricsError, MetricsResult, MetricsService, Series
from screens.metrics_poll import METRICS_SCREEN_BINDINGS, MetricsPolling
from screens.widgets import tone
from screens.widgets.chart import Chart, bar, freshness, level_style, sparkline
from screens.widgets.filling import fill_table
from screens.widgets.footer import KeyFooter
from screens.widgets.statusbar import StatusBar
from screens.widgets.table import ResourceTable

COLUMNS = ("NODE / GPU", "MODEL", "FRAMEBUFFER", "USED / TOTAL", "UTIL", "TEMP", "POD", "HISTORY")
SPARK_WIDTH = 16
ALERT_PERCENT = 80.0  # the source article's alert: gpu_mem_usage_percent > 80 %


def gib(mib: float) -> str:
    return f"{mib / 1024:.1f} GiB"


def gpu_cells(g: GpuSample, history: Series | None, last: bool = False) -> tuple[object, ...]:
    spark = sparkline([v for _, v in history.points], SPARK_WIDTH, 100.0) if history else ""
    util = "-" if g.util is None else Content.styled(f"{g.util:.0f}%", level_style(g.util, 90, 101))
    temp = "-" if g.temp_c is None else Content.styled(f"{g.temp_c:.0f}°C", level_style(g.temp_c, 75, 85))
    pod = f"{g.namespace}/{g.pod}" if g.pod else Content.styled("idle", tone.MUTED)
    branch = "└" if last else "├"
    return (f"{branch} gpu {g.index}", g.model, bar(g.used_percent), f"{gib(g.used_mib)} / {gib(g.total_mib)}", util,
            temp, pod, Content.styled(spark, level_style(history.last or 0.0) if history else ""))


def node_cells(node: str, gpus: list[GpuSample]) -> tuple[object, ...]:
    used, total = sum(g.used_mib for g in gpus), sum(g.total_mib for g in gpus)
    utils = [g.util for g in gpus if g.util is not None]
    temps = [g.temp_c for g in gpus if g.temp_c is not None]
    held = sum(1 for g in gpus if g.pod)
    return (Content.styled(node, "bold"), f"{len(gpus)} GPUs", bar(100 * used / total if total else 0.0),
            f"{gib(used)} / {gib(total)}", f"max {max(utils):.0f}%" if utils else "-",
            f"max {max(temps):.0f}°C" if temps else "-", f"{held} held by pods", "")


def table_rows(gpus: tuple[GpuSample, ...], history: dict[str, Series]) -> list[tuple[str, tuple[object, ...]]]:
    """A row per node (totals) followed by a row per GPU."""
    nodes: dict[str, list[GpuSample]] = {}
    for g in gpus:
        nodes.setdefault(g.node, []).append(g)
    rows: list[tuple[str, tuple[object, ...]]] = []
    for node, members in nodes.items():
        rows.append((f"node:{node}", node_cells(node, members)))
        rows += [(f"gpu:{g.key}", gpu_cells(g, history.get(g.key), i == len(members) - 1))
                 for i, g in enumerate(members)]
    return rows


class GpuScreen(MetricsPolling, Screen[None]):
    """GPU memory and utilisation, per node and per GPU."""

    refresh_setting = "gpu_refresh"
    BINDINGS = METRICS_SCREEN_BINDINGS

    def __init__(self) -> None:
        super().__init__()
        self.gpus: tuple[GpuSample, ...] = ()
        self.history: dict[str, Series] = {}
        self.at: float | None = None
        self.error: MetricsError | None = None
        self._select: str | None = None  # a row key to put the cursor on once it is listed (a jump from an alert)

    def select_gpu(self, node: str | None, gpu: str) -> None:
        """Put the cursor on one GPU's row (now, or when the next figures list it)."""
        self._select = f"gpu:{node}/{gpu}" if node else None
        self._apply_selection()

    def _apply_selection(self) -> None:
        if self._select is None:
            return
        table = self.query_one("#gpus", DataTable)
        for index in range(table.row_count):
            if table.coordinate_to_cell_key((index, 0)).row_key.value == self._select:
                table.move_cursor(row=index, animate=False)
                table.focus()
                self._select = None
                return

    def compose(self) -> ComposeResult:
        yield StatusBar()
        with Vertical(id="gpu"):
            with Vertical(classes="panel", id="gpus-panel"):
                yield Label("GPUs", classes="panel-title", id="gpus-title")
                yield Label("waiting for data…", id="gpus-status", classes="panel-status")
                yield ResourceTable(id="gpus", cursor_type="row", zebra_stripes=True)
            yield Chart("framebuffer used %", threshold=ALERT_PERCENT, threshold_label="alert 80 %", floor=100.0,
                        id="gpu-chart")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#gpus", DataTable).add_columns(*COLUMNS)
        self.set_interval(1.0, self._show_status)

    def action_refresh_now(self) -> None:
        self.poll_now()

    def metrics_job(self, service: MetricsService) -> Callable[[], Any]:
        window, cells = self.window_s, self.query_one(Chart).plot_width
        return lambda: (service.gpus(), service.gpu_history(window, SPARK_WIDTH // 2),
                        service.gpu_chart(window, cells), service.source)

    def show_metrics(self, payload: Any) -> None:
        chart = self.query_one(Chart)
        if payload is None:
            self.show_not_configured(chart)
            return
        table: MetricsResult[tuple[GpuSample, ...]]
        table, history, lines, source = payload
        self.error = table.error
        if table.value is not None:
            self.gpus, self.at = table.value, table.at
        if history.value is not None:
            self.history = history.value
        fill_table(self.query_one("#gpus", DataTable), table_rows(self.gpus, self.history))
        self._apply_selection()
        nodes = len({g.node for g in self.gpus})
        self.query_one("#gpus-title", Label).update(
            f"GPUs — {len(self.gpus)} on {nodes} nodes · {source} · window {self.window} (keys 1–4)")
        chart.title = f"framebuffer used % ({self.window})"
        chart.show(lines.value, lines.at, lines.error, self.window_s)
        self._show_status()

    def _show_status(self) -> None:
        if not self.is_current:
            return
        self.query_one("#gpus-status", Label).update(freshness(self.at, self.error))
