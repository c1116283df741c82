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


# ---- issue 14: grouped by Deployment; expiring a silence asks first, and is refused and audited when not allowed --


async def test_alerts_of_one_deployment_are_grouped_and_the_group_row_works() -> None:
    app = console_app(AlertingCluster(), Settings(builtin_rules=False), actions=AllowAll())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("exclamation_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, AlertsScreen), what="alerts screen")
        table = app.screen.query_one("#alerts-table", DataTable)
        await wait_for(pilot, lambda: table.row_count == 5, what="4 alerts and a group row")
        listed = rows(table)
        assert [r[3] for r in listed] == ["ProgressDeadlineExceeded", "▾ 2 alerts", "├ OOMKilled",
                                          "└ FailedScheduling", "NodeNotReady"]
        assert listed[1][4] == "llm/claude-inference" and "critical" in listed[1][0]
        assert listed[1][7] == "2 alerts: OOMKilled, FailedScheduling"

        table.move_cursor(row=1)
        await pilot.press("a")  # the group: acknowledges both
        await wait_for(pilot, lambda: app.alert_summary.muted == 2, what="both acknowledged")
        assert [r[6] for r in rows(table)][1:4] == ["✓", "✓", "✓"]
        await pilot.press("s")
        await pilot.pause(0.1)
        assert any("select one of its alerts" in str(n.message) for n in app._notifications)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DeploymentScreen), what="the group's Deployment")
        assert app.screen.deployment_name == "claude-inference"


class Audit:
    """The audit log's silence entries."""

    def __init__(self, path: Any) -> None:
        from console.audit import AuditLog

        self.log = AuditLog(path)

    def silences(self) -> list[tuple[str, str, str]]:
        return [(e["action"], e["mode"], e["result"]) for e in self.log.entries() if e["action"].startswith("silence")]


def alertmanager_with_a_silence(workdir: Any) -> tuple[Any, Any, str]:
    """A real Alertmanager (no Prometheus: the silence needs no alert) holding one active silence."""
    from console.alerts.alertmanager import AlertmanagerClient
    from console.audit import AuditLog
    from tests.conftest import need_tool
    from tests.infra_alertmanager import AlertmanagerServer

    server = AlertmanagerServer(need_tool("prometheus-alertmanager"), workdir)
    server.start()
    am = AlertmanagerClient(server.url, audit=AuditLog(workdir / "setup-audit.jsonl"))
    sid = am.create_silence(["alertname=GPUFramebufferHigh", "pod=claude-inference-x"], "2h",
                            "leak drill, ticket 42", "alice")
    return server, am, sid


async def open_silences(app: LlmctlApp, pilot: Any, sid: str) -> DataTable:
    await pilot.press("exclamation_mark")
    await wait_for(pilot, lambda: isinstance(app.screen, AlertsScreen), what="alerts screen")
    silences = app.screen.query_one("#silences", DataTable)
    await wait_for(pilot, lambda: any(r[0] == sid[:8] for r in rows(silences)), timeout=20, what="the silence listed")
    return silences


async def test_x_asks_before_expiring_a_silence_and_only_from_the_silences_list(tmp_path: Any) -> None:
    """Bug: a single x expired the selected silence with no confirmation, whatever had the focus."""
    from screens.alerts import ExpireSilenceDialog

    server, am, sid = alertmanager_with_a_silence(tmp_path)
    audit = tmp_path / "audit.jsonl"
    settings = Settings(builtin_rules=False, alertmanager_url=server.url, alerts_refresh=1.0, audit_log=str(audit))
    app = console_app(AlertingCluster(), settings, actions=AllowAll())
    try:
        async with app.run_test(size=SIZE) as pilot:
            silences = await open_silences(app, pilot, sid)
            assert app.screen.query_one("#alerts-table", DataTable).has_focus
            await pilot.press("x")  # the alerts have the focus: nothing happens but a hint
            await pilot.pause(0.3)
            assert not isinstance(app.screen, ExpireSilenceDialog) and am.silence(sid).state == "active"
            assert any("Silences list" in str(n.message) for n in app._notifications)

            silences.focus()
            await pilot.press("x")
            await wait_for(pilot, lambda: isinstance(app.screen, ExpireSilenceDialog), what="the confirmation")
            shown = str(app.screen.query_one("#silence-detail").render())
            assert sid in shown and 'alertname="GPUFramebufferHigh"' in shown and 'pod="claude-inference-x"' in shown
            assert "leak drill, ticket 42" in shown and "alice" in shown
            await pilot.press("escape")  # keep it
            await wait_for(pilot, lambda: isinstance(app.screen, AlertsScreen), what="back, nothing done")
            await pilot.pause(0.3)
            assert am.silence(sid).state == "active" and Audit(audit).silences() == []

            await pilot.press("x")
            await wait_for(pilot, lambda: isinstance(app.screen, ExpireSilenceDialog), what="asked again")
            await pilot.press("y")
            await wait_for(pilot, lambda: am.silence(sid).state == "expired", timeout=20, what="expired")
        assert Audit(audit).silences() == [("silence-expire", "applied", "ok")]
    finally:
        server.stop()


async def test_a_readonly_console_refuses_to_expire_and_audits_it(tmp_path: Any) -> None:
    from screens.alerts import ExpireSilenceDialog

    server, am, sid = alertmanager_with_a_silence(tmp_path)
    audit = tmp_path / "audit.jsonl"
    settings = Settings(builtin_rules=False, alertmanager_url=server.url, alerts_refresh=1.0, audit_log=str(audit),
                        readonly=True)
    app = console_app(AlertingCluster(), settings, actions=AllowAll())
    try:
        async with app.run_test(size=SIZE) as pilot:
            silences = await open_silences(app, pilot, sid)
            silences.focus()
            await pilot.press("x")
            await wait_for(pilot, lambda: Audit(audit).silences(), what="the refusal audited")
            assert not isinstance(app.screen, ExpireSilenceDialog), "refused before asking"
            assert any("read-only mode" in str(n.message) for n in app._notifications)
        assert am.silence(sid).state == "active"
        [(action, mode, result)] = Audit(audit).silences()
        assert (action, mode) == ("silence-expire", "refused") and result.startswith("read-only mode")
        [entry] = [e for e in Audit(audit).log.entries() if e["action"] == "silence-expire"]
        assert entry["target"] == f"silence/{sid}" and entry["before"]["comment"] == "leak drill, ticket 42"
    finally:
        server.stop()


async def test_a_viewer_context_refuses_to_expire_and_audits_it(sb: SandboxThread, tmp_path: Any) -> None:
    """Bug: the sandbox-viewer context (RBAC: may change nothing) expired silences like an admin."""
    from screens.alerts import ExpireSilenceDialog

    server, am, sid = alertmanager_with_a_silence(tmp_path)
    audit = tmp_path / "audit.jsonl"
    settings = Settings(builtin_rules=False, alertmanager_url=server.url, alerts_refresh=1.0, audit_log=str(audit))
    app = console_app(KubeClusterService(sb.info.kubeconfig, "sandbox-viewer"), settings)
    try:
        async with app.run_test(size=(160, 45)) as pilot:
            await wait_for(pilot, lambda: app.permissions, timeout=30, what="RBAC probed")
            assert not any(app.permissions.values()), "a viewer may change nothing"
            silences = await open_silences(app, pilot, sid)
            silences.focus()
            await pilot.press("x")
            await wait_for(pilot, lambda: Audit(audit).silences(), what="the refusal audited")
            assert not isinstance(app.screen, ExpireSilenceDialog)
        assert am.silence(sid).state == "active"
        [(action, mode, result)] = Audit(audit).silences()
        assert (action, mode) == ("silence-expire", "refused")
        assert result.startswith("forbidden: context sandbox-viewer may change nothing")
    finally:
        server.stop()


async def test_an_alertmanager_refusal_after_confirming_is_reported_and_audited(tmp_path: Any) -> None:
    """Alertmanager behind an authorising proxy (e.g. kube-rbac-proxy) that lets this user read, not write."""
    import threading
    import urllib.request
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from screens.alerts import ExpireSilenceDialog

    server, am, sid = alertmanager_with_a_silence(tmp_path)

    class ReadOnlyProxy(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with urllib.request.urlopen(server.url + self.path, timeout=5) as resp:
                body = resp.read()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def do_DELETE(self) -> None:
            self.send_response(403)
            self.end_headers()
            self.wfile.write(b"Forbidden (user=viewer, verb=delete, resource=silences)")

        def log_message(self, *args: Any) -> None:
            pass

    proxy = ThreadingHTTPServer(("127.0.0.1", 0), ReadOnlyProxy)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    audit = tmp_path / "audit.jsonl"
    settings = Settings(builtin_rules=False, alertmanager_url=f"http://127.0.0.1:{proxy.server_address[1]}",
                        alerts_refresh=1.0, audit_log=str(audit))
    app = console_app(AlertingCluster(), settings, actions=AllowAll())
    try:
        async with app.run_test(size=SIZE) as pilot:
            silences = await open_silences(app, pilot, sid)
            silences.focus()
            await pilot.press("x")
            await wait_for(pilot, lambda: isinstance(app.screen, ExpireSilenceDialog), what="the confirmation")
            await pilot.press("y")
            await wait_for(pilot, lambda: Audit(audit).silences(), timeout=20, what="the refusal audited")
            await wait_for(pilot, lambda: any("refused the request (HTTP 403)" in str(n.message)
                                              for n in app._notifications), what="the refusal shown")
        assert am.silence(sid).state == "active"
        [(action, mode, result)] = Audit(audit).silences()
        assert (action, mode) == ("silence-expire", "refused") and "HTTP 403" in result
    finally:
        proxy.shutdown()
        proxy.server_close()
        server.stop()
