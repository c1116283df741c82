"""The console's first screen: drawn before any network reply, then filled from watches."""

from __future__ import annotations

import asyncio
import threading

from kubernetes import client, config
from textual.widgets import DataTable, Label

from console.kube.cluster import KubeClusterService
from console.sandbox.server import SandboxThread
from screens.widgets.statusbar import StatusBar
from tests.ui.helpers import console_app


async def wait_for(pilot, predicate, timeout: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.05)


def cell_texts(table: DataTable) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


async def test_first_frame_waits_for_nothing_then_dashboard_fills(sandbox: SandboxThread) -> None:
    gate = threading.Event()

    def prepare() -> str:  # holds the connection back: the first frame must not need it
        gate.wait(20)
        return sandbox.info.kubeconfig

    service = KubeClusterService(None, None, None, sandbox=True, prepare=prepare)
    app = console_app(service)
    async with app.run_test(size=(150, 40)) as pilot:
        await pilot.pause(0.1)
        nodes = app.screen.query_one("#nodes", DataTable)
        deployments = app.screen.query_one("#deployments", DataTable)
        assert "connecting" in str(app.screen.query_one("#nodes-status", Label).render())
        assert nodes.row_count == 0
        assert "SANDBOX" in str(app.screen.query_one(StatusBar).render())

        gate.set()
        await wait_for(pilot, lambda: nodes.row_count == 4 and deployments.row_count >= 3
                       and all(row[8] != "?" for row in cell_texts(nodes)))
        rows = {r[0]: r for r in cell_texts(nodes)}
        assert set(rows) == {"gpu-node-1", "gpu-node-2", "gpu-node-3", "gpu-node-4"}
        node = rows["gpu-node-1"]
        assert node[2] == "NVIDIA-A10G" and node[3] == "535.104.05" and node[7] == "4"
        used = sum(int(r[8]) for r in rows.values())
        assert used >= 4  # claude-inference (2) + the two queue pools
        assert sum(int(r[9]) for r in rows.values()) == 16 - used

        deps = {r[0]: r for r in cell_texts(deployments)}
        assert "claude-inference" in deps and deps["claude-inference"][4] == "1"
        assert deps["claude-inference"][9] == "rolled out", "kubectl's verdict, in short"
        assert deps["claude-inference"][8] == "2/8/2/2", "HPA min/max/current/desired"
        header = str(app.screen.query_one(StatusBar).render())
        assert "sandbox-admin" in header and "llm" in header and "connected" in header

        # A change made elsewhere reaches the screen through the watch, not by polling.
        config.load_kube_config(sandbox.info.kubeconfig)
        apps = client.AppsV1Api()
        apps.patch_namespaced_deployment_scale("claude-long-queue", "llm", {"spec": {"replicas": 3}})
        await wait_for(pilot, lambda: {r[0]: r for r in cell_texts(deployments)}["claude-long-queue"][1]
                       .endswith("/3"))
        apps.patch_namespaced_deployment_scale("claude-long-queue", "llm", {"spec": {"replicas": 1}})


async def test_unreachable_cluster_is_said_plainly(tmp_path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: dead\n"
        "clusters: [{name: dead, cluster: {server: 'http://127.0.0.1:9'}}]\n"
        "users: [{name: u, user: {token: not-a-secret}}]\n"
        "contexts: [{name: dead, context: {cluster: dead, user: u, namespace: llm}}]\n"
    )
    app = console_app(KubeClusterService(str(kubeconfig)))
    async with app.run_test(size=(150, 40)) as pilot:
        bar = app.screen.query_one(StatusBar)
        await wait_for(pilot, lambda: "disconnected" in str(bar.render()))
        assert "cannot reach the API server" in str(bar.render())
        assert "not-a-secret" not in str(bar.render())
        await pilot.press("question_mark")
        await pilot.pause(0.1)
        assert app.screen.__class__.__name__ == "HelpScreen"
