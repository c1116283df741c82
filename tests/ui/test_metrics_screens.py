"""The GPU and Latency screens and the dashboard's sparklines through Pilot: on the sandbox's direct source,
without a metrics source, and on a fake one that fails and recovers or is not looked at."""

from __future__ import annotations

from typing import Any

from textual.widgets import DataTable, Label

from console.app import LlmctlApp
from console.config import Settings
from console.core.metrics import ErrorKind, MetricsError
from console.kube.cluster import KubeClusterService
from console.sandbox.metrics_source import SandboxMetrics
from console.sandbox.server import SandboxThread
from screens.gpu import GpuScreen
from screens.latency import LatencyScreen
from screens.widgets.chart import Chart
from tests.ui.helpers import console_app, rows, wait_for
from tests.ui.static_metrics import StaticMetrics
from tests.ui.test_snapshots import StaticCluster

FAST = Settings(gpu_refresh=0.2, latency_refresh=0.2, builtin_rules=False)
SIZE = (160, 45)


def text(app: LlmctlApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Label).render())


async def command(pilot: Any, word: str) -> None:
    await pilot.press("colon")
    await pilot.pause(0.05)
    await pilot.press(*word, "enter")
    await pilot.pause(0.15)


async def test_gpu_and_latency_screens_on_the_sandbox(sandbox: SandboxThread) -> None:
    metrics = SandboxMetrics(sandbox, interval_s=0.2)
    app = console_app(KubeClusterService(sandbox.info.kubeconfig, sandbox=True), FAST, metrics=metrics)
    try:
        async with app.run_test(size=SIZE) as pilot:
            deployments = app.screen.query_one("#deployments", DataTable)
            await wait_for(pilot, lambda: any("%" in r[10] for r in rows(deployments)), what="GPU MEM sparkline")
            inference = next(r for r in rows(deployments) if r[0] == "claude-inference")
            assert "%" in inference[10] and "ms" in inference[11], "GPU memory and p99 per Deployment"

            await command(pilot, "gpu")
            assert isinstance(app.screen, GpuScreen)
            table = app.screen.query_one("#gpus", DataTable)
            await wait_for(pilot, lambda: table.row_count == 20, what="4 node rows + 16 GPU rows")
            held = {r[6] for r in rows(table) if r[6].startswith("llm/")}
            sim_pods = sandbox.call(lambda: {f"llm/{g.pods[0][1]}" for g in sandbox.ctx.sim.gpus() if g.pods})
            assert held == sim_pods, "the pod on each GPU, from DCGM's mapping"
            assert rows(table)[0][0] == "gpu-node-1" and rows(table)[1][0].endswith("gpu 0")
            chart = app.screen.query_one(Chart)
            await wait_for(pilot, lambda: [s.name for s in chart.series] == ["max", "mean"], what="fleet chart")
            assert "data" in text(app, "#gpus-status") and "sandbox simulation" in text(app, "#gpus-title")
            await pilot.press("1")
            await wait_for(pilot, lambda: "(5m)" in chart.title, what="window key")

            await command(pilot, "latency")
            assert isinstance(app.screen, LatencyScreen)
            serving = app.screen.query_one("#serving", DataTable)
            lat = app.screen.query_one(Chart)
            await wait_for(pilot, lambda: serving.row_count == 3 and lat.title.startswith("claude-inference"),
                           what="serving table and the first Deployment charted")
            assert {s.name for s in lat.series} == {"p50", "p95", "p99", "ttft_p95"}
            serving.focus()
            await pilot.press("down")
            await wait_for(pilot, lambda: lat.title.startswith("claude-long-queue"), what="selection charted")

            await pilot.press("question_mark")
            await pilot.pause(0.1)
            keys = dict(app.screen.rows)  # type: ignore[attr-defined]
            assert {":gpu", ":latency", "1", "2", "3", "4"} <= set(keys) and keys["2"] == "15m"
    finally:
        metrics.close()


async def test_without_a_metrics_source_the_screens_say_so() -> None:
    app = console_app(StaticCluster(), Settings())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        assert all(r[10] == "-" and r[11] == "-" for r in rows(app.screen.query_one("#deployments", DataTable)))
        for mode, status in (("gpu", "#gpus-status"), ("latency", "#serving-status")):
            app.switch_mode(mode)
            await pilot.pause(0.15)
            assert "Prometheus not configured" in text(app, status)
            assert "--prometheus URL" in text(app, status)


async def test_refresh_stops_while_a_screen_is_hidden() -> None:
    metrics = StaticMetrics()
    app = console_app(StaticCluster(), Settings(gpu_refresh=0.1, latency_refresh=0.1, builtin_rules=False),
                    metrics=metrics)
    async with app.run_test(size=SIZE) as pilot:
        app.switch_mode("gpu")
        await wait_for(pilot, lambda: metrics.calls["gpus"] >= 3, what="the GPU screen polling")
        app.switch_mode("latency")
        await pilot.pause(0.15)
        hidden_from = metrics.calls["gpus"]
        await wait_for(pilot, lambda: metrics.calls["serving"] >= 3, what="the Latency screen polling")
        await pilot.pause(0.3)
        assert metrics.calls["gpus"] == hidden_from, "the GPU screen does not poll while hidden"
        app.switch_mode("gpu")
        await wait_for(pilot, lambda: metrics.calls["gpus"] > hidden_from, timeout=5,
                       what="the GPU screen polling again when shown")


async def test_unreachable_is_said_plainly_keeps_the_data_and_recovers() -> None:
    metrics = StaticMetrics(now=None)
    app = console_app(StaticCluster(), Settings(gpu_refresh=0.1, latency_refresh=0.1, builtin_rules=False),
                    metrics=metrics)
    async with app.run_test(size=SIZE) as pilot:
        app.switch_mode("gpu")
        await pilot.pause(0.1)
        table = app.screen.query_one("#gpus", DataTable)
        chart = app.screen.query_one(Chart)
        await wait_for(pilot, lambda: table.row_count == 20)
        metrics.error = MetricsError(ErrorKind.UNREACHABLE, "Prometheus unreachable at http://prometheus:9090 "
                                                            "(connection refused)")
        await wait_for(pilot, lambda: "Prometheus unreachable at http://prometheus:9090" in text(app, "#gpus-status"))
        assert "(data " in text(app, "#gpus-status"), "the age of what is still shown"
        assert table.row_count == 20 and chart.series, "the last figures stay on screen"
        assert chart.error is not None and "unreachable" in chart.error.message
        metrics.error = None
        await wait_for(pilot, lambda: "unreachable" not in text(app, "#gpus-status") and chart.error is None)
