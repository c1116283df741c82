"""The Load test screen against the sandbox: reached with ``:loadtest`` and with ``L`` from a Deployment, it
starts and stops load on the Deployment's Service and charts QPS, p50/p99/TTFT and Ready replicas live."""

from __future__ import annotations

from console.config import Settings
from console.kube.cluster import KubeClusterService
from console.sandbox.server import SandboxThread
from screens.loadtest import LoadTestScreen
from tests.serving.conftest import Cluster
from tests.ui.helpers import console_app, wait_for


async def test_load_test_screen_runs_and_charts(serving_sandbox: tuple[SandboxThread, Cluster]) -> None:
    cluster = serving_sandbox[1]
    app = console_app(KubeClusterService(cluster.kubeconfig), Settings(kubeconfig=cluster.kubeconfig))
    async with app.run_test(size=(150, 50)) as pilot:
        await wait_for(pilot, lambda: app.snapshot.deployments, what="deployments listed")
        await pilot.press("colon")
        await pilot.pause(0.1)
        for key in "loadtest claude-inference":
            await pilot.press("space" if key == " " else key)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, LoadTestScreen), what="load test screen")
        screen = app.screen
        assert isinstance(screen, LoadTestScreen) and screen.deployment == "claude-inference"
        await pilot.press("p")
        await wait_for(pilot, lambda: screen.message.startswith("probe: TTFT"), timeout=20,
                       what=f"the probe's answer ({screen.state}: {screen.message})")
        assert "pod claude-inference-" in screen.message
        await pilot.press("plus")  # 10 → 15 QPS
        assert screen.qps == 15
        await pilot.press("s")
        await wait_for(pilot, lambda: len(screen.history["p99"]) >= 2 and screen.history["replicas"],
                       timeout=30, what=f"live figures (state {screen.state}: {screen.message})")
        assert screen.state == "running" and "llm/claude-inference:8000" in screen.message
        assert 10 <= screen.history["qps"][-1][1] <= 20 and screen.history["replicas"][-1][1] >= 2
        chart = screen.query_one("#loadtest-latency")
        assert [s.name for s in chart.series] == ["p50", "p99", "TTFT p50"] and chart.series[1].points
        await pilot.press("s")
        await wait_for(pilot, lambda: screen.state == "done", timeout=30, what="the run stopped")
        assert "requests" in screen.message and "achieved" in screen.message
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert not isinstance(app.screen, LoadTestScreen)
