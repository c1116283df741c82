"""The Alerts panel: against the sandbox (a fault fires a cluster-derived alert; header count, notification,
acknowledge, filter, jump), and an SVG snapshot from fixed alerts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from textual.widgets import DataTable, Input

from console.alerts.model import Alert, AlertTarget
from console.app import LlmctlApp
from console.config import Settings
from console.kube.cluster import KubeClusterService
from console.sandbox.faultcli import send_fault
from console.sandbox.server import SandboxThread
from screens.alerts import AlertsScreen
from screens.deployment import DeploymentScreen
from tests.ui.helpers import console_app, rows, wait_for
from tests.ui.test_snapshots import SIZE, AllowAll, StaticCluster


def status_line(app: LlmctlApp) -> str:
    return str(app.screen.query_one("#status-bar").render())


async def test_a_fault_fires_an_alert_seen_from_every_screen(sb: SandboxThread) -> None:
    app = console_app(KubeClusterService(sb.info.kubeconfig), Settings(readonly=True))
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_for(pilot, lambda: app.snapshot.deployments, what="deployments listed")
        assert app.alert_summary.firing == 0 and "firing" not in status_line(app)

        assert send_fault("node-loss", "gpu-node-3", sb.info.kubeconfig) == 0
        await wait_for(pilot, lambda: app.alert_summary.critical >= 1, timeout=40, what="NodeNotReady counted")
        await pilot.pause(0.1)
        assert "firing" in status_line(app) and "critical" in status_line(app)  # on the dashboard
        assert any("NodeNotReady" in (n.title or "") for n in app._notifications), "a notification was raised"

        await pilot.press("exclamation_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, AlertsScreen), what="alerts screen")
        table = app.screen.query_one("#alerts-table", DataTable)
        await wait_for(pilot, lambda: any("NodeNotReady" in " ".join(r) for r in rows(table)), what="alert row")
        row = next(r for r in rows(table) if "NodeNotReady" in " ".join(r))
        assert "gpu-node-3" in row[4] and "critical" in row[0] and "cluster" in row[2]
        assert "firing" in status_line(app)  # the header is on this screen too

        # Acknowledge: still listed, no longer counted in the header.
        index = next(i for i, r in enumerate(rows(table)) if "NodeNotReady" in " ".join(r))
        table.move_cursor(row=index)
        before = app.alert_summary.firing
        await pilot.press("a")
        await wait_for(pilot, lambda: app.alert_summary.firing == before - 1, what="acknowledged")
        assert any(r[6] == "✓" for r in rows(table) if "NodeNotReady" in " ".join(r))

        # Filter: text that matches nothing empties the list; a bad regex is an error, not a crash.
        await pilot.press("slash")
        box = app.screen.query_one("#alerts-filter", Input)
        box.value = "no-such-thing"
        await pilot.pause(0.1)
        assert table.row_count == 0
        box.value = "/[unclosed/"
        await pilot.pause(0.1)
        assert "bad filter regex" in str(app.screen.query_one("#alerts-status").render())
        box.value = "gpu-node-3"
        await pilot.press("enter")
        await wait_for(pilot, lambda: table.row_count >= 1, what="filtered rows")

        # Jump: a node alert opens the dashboard with the node selected.
        table.move_cursor(row=0)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.current_mode == "dashboard", what="dashboard")
        await pilot.pause(0.2)
        nodes = app.screen.query_one("#nodes", DataTable)
        assert nodes.has_focus
        assert nodes.coordinate_to_cell_key(nodes.cursor_coordinate).row_key.value == "gpu-node-3"


async def test_jump_from_a_pod_alert_opens_its_deployment(sb: SandboxThread) -> None:
    app = console_app(KubeClusterService(sb.info.kubeconfig), Settings(readonly=True))
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_for(pilot, lambda: app.snapshot.deployments, what="deployments listed")
        assert send_fault("oom", "claude-inference", sb.info.kubeconfig) == 0
        await wait_for(pilot, lambda: any(a.name == "OOMKilled" for a in app.alerts.center.current()), timeout=40,
                       what="OOMKilled alert")
        await pilot.press("colon")
        await pilot.pause(0.1)
        for key in "alerts":
            await pilot.press(key)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, AlertsScreen), what="alerts screen via :alerts")
        table = app.screen.query_one("#alerts-table", DataTable)
        await wait_for(pilot, lambda: any("OOMKilled" in " ".join(r) for r in rows(table)), what="row")
        table.move_cursor(row=next(i for i, r in enumerate(rows(table)) if "OOMKilled" in " ".join(r)))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DeploymentScreen), what="deployment detail")
        assert app.screen.deployment_name == "claude-inference"


# ---- snapshot ------------------------------------------------------------------------------------------------


class AlertingCluster(StaticCluster):
    """Fixed cluster data plus fixed cluster-derived alerts (times relative to now, built at test time)."""

    def __init__(self) -> None:
        super().__init__()
        now = datetime.now(UTC)
        self._alerts = [
            Alert("cluster", "OOMKilled", "critical", "firing", now - timedelta(minutes=7),
                  AlertTarget("llm", "claude-inference", "claude-inference-7f4b2-klmno", "gpu-node-3"),
                  "llm/claude-inference-7f4b2-klmno: container inference OOMKilled (exit code 137), 3 restarts, "
                  "in CrashLoopBackOff"),
            Alert("cluster", "NodeNotReady", "critical", "firing", now - timedelta(minutes=3),
                  AlertTarget(node="gpu-node-4"), "node gpu-node-4 is NotReady (Ready=Unknown): Kubelet stopped "
                  "posting node status."),
            Alert("cluster", "FailedScheduling", "warning", "firing", now - timedelta(minutes=2),
                  AlertTarget("llm", "claude-inference", "claude-inference-7f4b2-pqrst"),
                  "llm/claude-inference-7f4b2-pqrst cannot be scheduled (no free GPU): 0/4 nodes are available: "
                  "4 Insufficient nvidia.com/gpu."),
            Alert("cluster", "ProgressDeadlineExceeded", "critical", "firing", now - timedelta(minutes=12),
                  AlertTarget("llm", "claude-short-queue"), 'llm/claude-short-queue rollout failed: ReplicaSet '
                  '"claude-short-queue-5d8f7" has timed out progressing.'),
        ]

    def alerts(self) -> list[Alert]:
        return list(self._alerts)


def test_alerts_panel_snapshot(snap_compare: Any) -> None:
    app = console_app(AlertingCluster(), Settings(builtin_rules=False), actions=AllowAll())

    async def open_alerts(pilot: Any) -> None:
        await pilot.pause(0.2)
        app.clear_notifications()
        await pilot.press("exclamation_mark")
        await pilot.pause(0.2)
        table = app.screen.query_one("#alerts-table", DataTable)
        table.move_cursor(row=1)
        await pilot.press("a")  # acknowledge the node alert
        await pilot.pause(0.1)
        app.clear_notifications()
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=SIZE, run_before=open_alerts)


class GpuAlertCluster(StaticCluster):
    def alerts(self) -> list[Alert]:
        return [Alert("builtin", "GPUFramebufferHigh", "warning", "firing", datetime.now(UTC),
                      AlertTarget("llm", None, "claude-inference-6d9c8-fghij", "gpu-node-2", "0"),
                      "GPU 0 on gpu-node-2 framebuffer 91.0% used (> 80%)")]


async def test_jump_from_a_gpu_alert_selects_that_gpu() -> None:
    from screens.gpu import GpuScreen
    from tests.ui.static_metrics import StaticMetrics

    app = console_app(GpuAlertCluster(), Settings(builtin_rules=False), actions=AllowAll(), metrics=StaticMetrics())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("exclamation_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, AlertsScreen), what="alerts screen")
        table = app.screen.query_one("#alerts-table", DataTable)
        await wait_for(pilot, lambda: table.row_count == 1, what="the GPU alert")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, GpuScreen), what="GPU screen")
        gpus = app.screen.query_one("#gpus", DataTable)
        await wait_for(pilot, lambda: gpus.row_count and gpus.coordinate_to_cell_key(
            gpus.cursor_coordinate).row_key.value == "gpu:gpu-node-2/0", what="the cursor on gpu-node-2 GPU 0")
