"""The console under a sandbox that stops and comes back: says so, keeps its data, recovers by itself."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from kubernetes import client, config
from textual.widgets import DataTable

from console.kube.cluster import KubeClusterService
from screens.widgets.statusbar import StatusBar
from tests.conftest import start_sandbox
from tests.ui.helpers import console_app, rows, wait_for


async def test_console_survives_a_sandbox_restart(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    first = start_sandbox(kubeconfig=kubeconfig)
    port = urlparse(first.info.api).port
    app = console_app(KubeClusterService(str(kubeconfig)))
    second = None
    try:
        async with app.run_test(size=(160, 45)) as pilot:
            bar = app.screen.query_one(StatusBar)
            table = app.screen.query_one("#deployments", DataTable)
            await wait_for(pilot, lambda: table.row_count == 4 and "connected" in str(bar.render()),
                           what="connected")
            first.stop()
            await wait_for(pilot, lambda: "disconnected" in str(bar.render()), timeout=30, what="disconnected")
            assert table.row_count == 4, "the last known state stays on screen"
            await pilot.pause(1.2)
            assert "data " in str(bar.render()) and "ago" in str(bar.render())

            second = start_sandbox(kubeconfig=kubeconfig, port=port)
            await wait_for(pilot, lambda: "● connected" in str(bar.render()), timeout=30, what="reconnected")
            apps = client.AppsV1Api(config.new_client_from_config(str(kubeconfig)))
            apps.patch_namespaced_deployment_scale("claude-long-queue", "llm", {"spec": {"replicas": 3}})
            await wait_for(pilot, lambda: any(r[0] == "claude-long-queue" and r[1].endswith("/3")
                                              for r in rows(table)), timeout=30, what="watch works again")
    finally:
        first.stop()
        if second is not None:
            second.stop()
