"""RBAC with every namespace shown, as most teams are bound: `view` cluster-wide and `edit` in their own namespace
(the sandbox's ``sandbox-llm-developer``). The console asked "may I patch deployments/scale?" cluster-wide, was
told no, and refused every action on every row — also in ``llm``, where the API allows it — with "in namespace "
(empty). Now each action is asked of the API in the row's own namespace: allowed in llm (the form opens and the
scale lands), refused elsewhere with the namespace named, and the refusal audited."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kubernetes import client, config
from textual.widgets import DataTable

from console.audit import AuditLog
from console.config import Settings
from console.kube.cluster import KubeClusterService
from console.sandbox.server import SandboxThread
from screens.deployment import DeploymentScreen
from screens.widgets.dialogs import ConfirmDialog, FormDialog
from tests.ui.helpers import console_app, wait_for
from tests.ui.test_actions_ui import fill_form

DEVELOPER, NAME, HOME, OTHER = "sandbox-llm-developer", "claude-inference", "llm", "team-c"
UNSCALED = "claude-long-queue"


def copy_to(sb: SandboxThread, namespace: str) -> None:
    """The same Deployment in a namespace the developer may read but not change (made by the admin)."""
    api = config.new_client_from_config(sb.info.kubeconfig)
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    core.create_namespace({"metadata": {"name": namespace}})
    dep = api.sanitize_for_serialization(apps.read_namespaced_deployment(NAME, HOME))
    apps.create_namespaced_deployment(namespace, {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": NAME, "namespace": namespace},
        "spec": {"replicas": 1, "selector": dep["spec"]["selector"], "template": dep["spec"]["template"]}})


async def test_actions_are_asked_in_the_rows_namespace(sandbox: SandboxThread, tmp_path: Path) -> None:
    copy_to(sandbox, OTHER)
    audit = tmp_path / "audit.jsonl"
    app = console_app(KubeClusterService(sandbox.info.kubeconfig, context=DEVELOPER), Settings(audit_log=str(audit)))
    apps = client.AppsV1Api(config.new_client_from_config(sandbox.info.kubeconfig))
    async with app.run_test(size=(180, 50)) as pilot:
        table = app.screen.query_one("#deployments", DataTable)
        await wait_for(pilot, lambda: app.snapshot.namespace == HOME and app.snapshot.deployments, what="llm")
        await wait_for(pilot, lambda: bool(app.permissions), what="permissions probed")
        assert app.action_allowed("scale"), "edit in llm: scale allowed"
        await pilot.press("0")

        def keys() -> list[str]:
            return [str(table.coordinate_to_cell_key((i, 0)).row_key.value) for i in range(table.row_count)]
        await wait_for(pilot, lambda: {f"{HOME}/{NAME}", f"{OTHER}/{NAME}"} <= set(keys()), what="both namespaces")
        await wait_for(pilot, lambda: bool(app.permissions), what="permissions probed cluster-wide")
        assert app.action_allowed("scale"), "a cluster-wide no does not disable a key: a namespace may allow it"

        # In llm: the form opens, the scale lands (claude-long-queue: no HPA to scale it back).
        table.focus()
        table.move_cursor(row=keys().index(f"{HOME}/{UNSCALED}"))
        await pilot.press("s")
        await fill_form(app, pilot, "2")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the confirm dialog")
        await pilot.press("y")
        await wait_for(pilot, lambda: apps.read_namespaced_deployment(UNSCALED, HOME).spec.replicas == 2,
                       what="scaled in llm")
        await wait_for(pilot, lambda: isinstance(app.screen, DeploymentScreen), what="the rollout followed")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen.query("#deployments"), what="back on the dashboard")

        # In team-c: refused before any form, the namespace named, the refusal audited; nothing changed.
        app.clear_notifications()
        table.focus()
        table.move_cursor(row=keys().index(f"{OTHER}/{NAME}"))
        await pilot.press("s")
        await wait_for(pilot, lambda: any("scale refused" in str(n.title) for n in app._notifications),
                       what="refused")
        said = [str(n.message) for n in app._notifications]
        assert any(f"cannot patch deployments/scale in namespace {OTHER}" in m for m in said), said
        assert not isinstance(app.screen, FormDialog), "no form for a refused action"
        entries: list[dict[str, Any]] = AuditLog(audit).entries()
        refused = [e for e in entries if e["mode"] == "refused"]
        assert refused and refused[-1]["target"] == f"{OTHER}/Deployment/{NAME}", refused
        assert apps.read_namespaced_deployment(NAME, OTHER).spec.replicas == 1
