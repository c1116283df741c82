"""The console on a real Prometheus scraping the sandbox: faults show up in the charts, and Prometheus
stopped and started again under the running console is said plainly, then recovered from by itself."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
from textual.widgets import DataTable, Label

from console.app import LlmctlApp
from console.config import Settings
from console.kube.cluster import KubeClusterService
from console.metrics.service import PrometheusMetrics
from console.sandbox.faultcli import send_fault
from screens.widgets.chart import Chart
from tests.ui.helpers import console_app, wait_for

from .conftest import PromSandbox

FAST = Settings(gpu_refresh=0.5, latency_refresh=0.5)


@contextlib.contextmanager
def fault(ps: PromSandbox, kind: str) -> Iterator[None]:
    kubeconfig = ps.sandbox.info.kubeconfig
    assert send_fault(kind, "claude-inference", kubeconfig) == 0
    try:
        yield
    finally:
        send_fault("clear", None, kubeconfig)


def last(chart: Chart, name: str) -> float:
    return next((s.last or 0.0 for s in chart.series if s.name == name), 0.0)


@pytest.fixture
def app(prom_sandbox: PromSandbox) -> Iterator[LlmctlApp]:
    service = PrometheusMetrics(prom_sandbox.prometheus.url, rediscover_s=0.5)
    yield console_app(KubeClusterService(prom_sandbox.sandbox.info.kubeconfig, sandbox=True), FAST, metrics=service)
    service.close()


async def test_faults_show_in_the_charts(app: LlmctlApp, prom_sandbox: PromSandbox,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    async with app.run_test(size=(160, 45)) as pilot:
        app.switch_mode("latency")
        await pilot.pause(0.1)
        latency = app.screen.query_one(Chart)
        await wait_for(pilot, lambda: latency.title.startswith("claude-inference") and 0 < last(latency, "p99") < 1.2,
                       timeout=30, what="p99 of claude-inference charted")
        with fault(prom_sandbox, "latency-spike"):
            # every request 6× slower: p99 ≈ 3 s, far past the 500 ms line
            await wait_for(pilot, lambda: last(latency, "p99") > 1.5, timeout=20, what="latency spike in the chart")
            p99_cell = str(app.screen.query_one("#serving", DataTable).get_row("llm/claude-inference")[5])
            seconds = float(p99_cell[:-2]) / 1000 if p99_cell.endswith("ms") else float(p99_cell[:-1])
            assert seconds > 0.5, "the table's p99 is past the 500 ms line too"

        app.switch_mode("gpu")
        await pilot.pause(0.1)
        gpu = app.screen.query_one(Chart)
        await wait_for(pilot, lambda: last(gpu, "max") > 0, timeout=10, what="framebuffer chart")
        before = last(gpu, "max")
        with fault(prom_sandbox, "gpu-memory-leak"):
            # 150 MiB/s on claude-inference's GPUs: the fleet's highest framebuffer use climbs
            await wait_for(pilot, lambda: last(gpu, "max") > before + 2, timeout=20, what="leak in the chart")
    capsys.readouterr()


async def test_prometheus_restarted_under_the_console(app: LlmctlApp, prom_sandbox: PromSandbox) -> None:
    async with app.run_test(size=(160, 45)) as pilot:
        app.switch_mode("gpu")
        await pilot.pause(0.1)
        table = app.screen.query_one("#gpus", DataTable)
        status = app.screen.query_one("#gpus-status", Label)
        chart = app.screen.query_one(Chart)
        await wait_for(pilot, lambda: table.row_count == 20 and "data" in str(status.render()), timeout=15)

        prom_sandbox.prometheus.stop()
        try:
            await wait_for(pilot, lambda: "Prometheus unreachable at" in str(status.render()), timeout=10,
                           what="unreachable said")
            assert prom_sandbox.prometheus.url in str(status.render())
            assert table.row_count == 20, "the last figures stay"
            assert chart.error is not None and "unreachable" in chart.error.message
        finally:
            prom_sandbox.prometheus.start()
        # A restarted Prometheus may answer "no data" for a scrape or two before the figures are back.
        await wait_for(pilot, lambda: "unreachable" not in str(status.render()) and chart.error is None
                       and table.row_count == 20, timeout=25, what="recovered by itself")
