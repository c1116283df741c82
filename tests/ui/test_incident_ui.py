"""The incident view and the logs screen against the sandbox: a bad rollout (audited) crash-loops; the
timeline shows the audit entry, the rollout old → new image and the restarts; the pod's logs (previous
container) carry the CUDA error, search finds it; roll back from the incident view. And a snapshot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from textual.widgets import DataTable, Input, RichLog

from console.actions.service import Actions
from console.audit import AuditLog
from console.config import Settings
from console.kube.cluster import KubeClusterService
from console.kube.kubeconfig import read_kubeconfig_target
from console.kube.transport import KubeTransport
from console.sandbox.server import SandboxThread
from screens.incident import IncidentScreen
from screens.logs import LogsScreen
from screens.widgets.dialogs import ConfirmDialog, FormDialog
from tests.actions.conftest import ADMIN, DEP, NS
from tests.ui.helpers import console_app, rows, wait_for
from tests.ui.test_snapshots import SIZE, AllowAll, StaticCluster


async def test_incident_view_logs_and_roll_back(sb: SandboxThread, tmp_path: Path) -> None:
    audit_path = tmp_path / "audit.jsonl"
    bad = sb.ctx.catalog.ref("llm/claude-inference", "v2.0.0-cuda13")
    app = console_app(KubeClusterService(sb.info.kubeconfig), Settings(audit_log=str(audit_path)))
    async with app.run_test(size=(170, 48)) as pilot:
        await wait_for(pilot, lambda: app.snapshot.deployments, what="deployments listed")
        transport = await KubeTransport.connect(sb.info.kubeconfig, ADMIN)
        actions = Actions(transport, read_kubeconfig_target(sb.info.kubeconfig, ADMIN), AuditLog(audit_path))
        try:
            await actions.apply(await actions.plan_set_image(NS, DEP, f"inference={bad}"), force=True)
        finally:
            await actions.close()
        await wait_for(pilot, lambda: any(a.name == "CrashLoopBackOff" for a in app.alerts.center.current()),
                       timeout=40, what="the crash loop seen by the console")

        await pilot.press("colon")
        await pilot.pause(0.1)
        for key in f"incident {DEP}":
            await pilot.press("space" if key == " " else key)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, IncidentScreen), what="incident screen")
        screen = app.screen
        table = screen.query_one("#timeline", DataTable)

        def kinds() -> list[str]:
            return [r[2] for r in rows(table)]

        await wait_for(pilot, lambda: {"audit", "rollout"} <= set(kinds()) and ("restart" in kinds()
                                                                               or "event" in kinds()),
                       timeout=30, what=f"audit, rollout and crash entries (have {kinds()})")
        rollout = next(r for r in rows(table) if r[2] == "rollout")
        assert "v2.0.0-cuda13" in rollout[5] and "v1.0.0" in rollout[5]
        assert any(r[2] == "audit" and "set-image" in r[5] for r in rows(table))
        order = [e.kind for e in screen.entries]  # oldest first
        assert order.index("audit") <= order.index("rollout")

        # Logs of the crash-looping pod: the previous container's last words.
        crash = next(i for i, r in enumerate(rows(table)) if r[2] in ("restart", "event") and "claude-inference"
                     in r[4])
        table.move_cursor(row=crash)
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, LogsScreen), what="logs screen")
        logs = app.screen
        await pilot.press("p")
        await wait_for(pilot, lambda: logs.previous and any("CUDA" in line for line in logs.text), timeout=20,
                       what=f"the previous container's CUDA error (have {logs.text[-3:]}, {logs.error})")
        await pilot.press("slash")
        logs.query_one("#log-search", Input).value = "/no kernel image|cuda/i"
        await pilot.press("enter")
        await wait_for(pilot, lambda: bool(logs.matches), what="search matches")
        assert "search" in str(logs.query_one("#logs-status").render())
        assert logs.query_one("#log", RichLog).lines
        await pilot.press("escape")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, IncidentScreen), what="back to the incident")

        # Roll back from the incident view, through the same form and confirm dialog as everywhere.
        await wait_for(pilot, lambda: bool(app.permissions), what="permissions probed")
        await pilot.press("u")
        await wait_for(pilot, lambda: isinstance(app.screen, FormDialog), what="undo form")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), timeout=20, what="confirm dialog")
        await pilot.press("y")
        await wait_for(pilot, lambda: any(d.name == DEP and "v1.0.0" in d.image for d in app.snapshot.deployments),
                       timeout=30, what="rolled back to v1.0.0")
    actions_done = [(e["action"], e["mode"]) for e in AuditLog(audit_path).entries()]
    assert ("undo", "applied") in actions_done


# ---- snapshot ------------------------------------------------------------------------------------------------

NOW = datetime(2026, 11, 25, 3, 30, 0, tzinfo=UTC)


def at(minutes_ago: float) -> str:
    return (NOW - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


class IncidentCluster(StaticCluster):
    """Fixed raw objects for the timeline: a bad rollout at -20 min, crash loop, undo at -8 min."""

    UID = "uid-inference"

    def raw(self, resource: str, namespace: str | None = None) -> list[dict[str, Any]]:
        image = "registry.local/llm/claude-inference:{}"

        def rs(name: str, tag: str, minutes: float, revision: str) -> dict[str, Any]:
            return {"metadata": {"name": name, "namespace": NS, "creationTimestamp": at(minutes),
                                 "annotations": {"deployment.kubernetes.io/revision": revision},
                                 "ownerReferences": [{"kind": "Deployment", "name": DEP, "uid": self.UID}]},
                    "spec": {"template": {"spec": {"containers": [{"name": "inference",
                                                                   "image": image.format(tag)}]}}}}

        def ev(reason: str, message: str, kind: str, name: str, first: float, last: float, count: int = 1,
               type_: str = "Warning") -> dict[str, Any]:
            return {"metadata": {"name": f"{name}.{reason}", "namespace": NS},
                    "involvedObject": {"kind": kind, "name": name, "namespace": NS}, "reason": reason,
                    "message": message, "type": type_, "count": count, "firstTimestamp": at(first),
                    "lastTimestamp": at(last)}

        data: dict[str, list[dict[str, Any]]] = {
            "deployments": [{"metadata": {"name": DEP, "namespace": NS, "uid": self.UID,
                                          "annotations": {"deployment.kubernetes.io/revision": "3"}},
                             "spec": {"replicas": 2}, "status": {}}],
            "replicasets": [rs("claude-inference-6d9c8", "v1.0.0", 120, "3"),
                            rs("claude-inference-7f4b2", "v2.0.0-cuda13", 20, "2")],
            "pods": [{"metadata": {"name": "claude-inference-7f4b2-klmno", "namespace": NS,
                                   "labels": {"pod-template-hash": "7f4b2"},
                                   "ownerReferences": [{"kind": "ReplicaSet", "name": "claude-inference-7f4b2"}]},
                      "spec": {"nodeName": "gpu-node-3"},
                      "status": {"phase": "Running", "containerStatuses": [{
                          "name": "inference", "restartCount": 4, "ready": False,
                          "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                          "lastState": {"terminated": {"reason": "Error", "exitCode": 1,
                                                       "finishedAt": at(12)}}}]}}],
            "events": [
                ev("ScalingReplicaSet", "Scaled up replica set claude-inference-7f4b2 to 1", "Deployment",
                   DEP, 20, 20, type_="Normal"),
                ev("BackOff", "Back-off restarting failed container inference in pod claude-inference-7f4b2-klmno",
                   "Pod", "claude-inference-7f4b2-klmno", 18, 9, 6),
                ev("ScalingReplicaSet", "Scaled down replica set claude-inference-7f4b2 to 0 from 1", "Deployment",
                   DEP, 8, 8, type_="Normal"),
            ],
            "horizontalpodautoscalers": [],
        }
        return data.get(resource, [])

    def alerts(self) -> list:
        return []


def test_incident_view_snapshot(snap_compare: Any, tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl")
    audit.append({"time": at(20.1), "user": "oncall", "action": "set-image", "target": f"{NS}/Deployment/{DEP}",
                  "before": {"images": {"inference": "registry.local/llm/claude-inference:v1.0.0"}},
                  "after": {"images": {"inference": "registry.local/llm/claude-inference:v2.0.0-cuda13"}},
                  "mode": "applied", "result": "ok"})
    audit.append({"time": at(8), "user": "oncall", "action": "undo", "target": f"{NS}/Deployment/{DEP}",
                  "before": {"revision": 2}, "after": {"revision": 3}, "mode": "applied", "result": "ok"})
    app = console_app(IncidentCluster(), Settings(builtin_rules=False, audit_log=str(audit.path)), actions=AllowAll())

    async def open_incident(pilot: Any) -> None:
        await pilot.pause(0.2)
        app.push_screen(IncidentScreen(DEP, now=NOW))
        await pilot.pause(0.4)

    assert snap_compare(app, terminal_size=SIZE, run_before=open_incident)


async def test_the_view_keeps_the_oom_of_pods_replaced_outside_llmctl(sb: SandboxThread, tmp_path: Path) -> None:
    """OOMKilled pods replaced by someone else (a kubectl rollout restart, no audit entry): the console's
    watch kept what their containers died of, so the incident view still shows the OOM kill."""
    from kubernetes import client, config

    from console.sandbox.faultcli import send_fault

    app = console_app(KubeClusterService(sb.info.kubeconfig), Settings(audit_log=str(tmp_path / "a.jsonl")))
    async with app.run_test(size=(170, 48)) as pilot:
        await wait_for(pilot, lambda: app.snapshot.deployments, what="deployments listed")
        assert send_fault("oom", DEP, sb.info.kubeconfig) == 0
        await wait_for(pilot, lambda: any(a.name == "OOMKilled" for a in app.alerts.center.current()), timeout=40,
                       what="the OOM kills seen by the console")
        oomed = {a.target.pod for a in app.alerts.center.current() if a.name == "OOMKilled"}
        assert send_fault("clear", DEP, sb.info.kubeconfig) == 0
        apps = client.AppsV1Api(config.new_client_from_config(sb.info.kubeconfig, context=ADMIN))
        apps.patch_namespaced_deployment(DEP, NS, {"spec": {"template": {"metadata": {"annotations": {
            "kubectl.kubernetes.io/restartedAt": datetime.now(UTC).isoformat()}}}}})
        live = app.services.cluster
        await wait_for(pilot, lambda: not oomed & {p["metadata"]["name"] for p in live.raw("pods")}, timeout=40,
                       what="the OOMKilled pods replaced")
        # A namespace given (an alert's) does not move a timeline away from the namespace the console watches.
        app.show_incident(DEP, "some-other-namespace")
        await wait_for(pilot, lambda: isinstance(app.screen, IncidentScreen), what="incident screen")
        assert app.screen.namespace() == NS and app.screen.deployment == DEP  # type: ignore[attr-defined]
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, IncidentScreen), what="back")
        app.show_incident(DEP)
        await wait_for(pilot, lambda: isinstance(app.screen, IncidentScreen), what="incident screen")
        await pilot.pause(0.3)
        table = app.screen.query_one("#timeline", DataTable)
        await wait_for(pilot, lambda: any(r[2] == "oomkill" and r[4] in oomed for r in rows(table)), timeout=20,
                       what=f"an oomkill entry for a replaced pod ({[r[2] for r in rows(table)]})")
