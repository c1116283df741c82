"""The action keys end to end: form → plan (server dry-run) → confirm dialog → apply → audit log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kubernetes import client, config
from textual.widgets import DataTable, Input

from console.app import LlmctlApp
from console.config import Settings
from console.kube.cluster import KubeClusterService
from console.sandbox.server import SandboxThread
from screens.deployment import DeploymentScreen
from screens.resources import PodsScreen
from screens.widgets.dialogs import ConfirmDialog, FormDialog
from tests.ui.helpers import console_app, rows, wait_for

DEP = "claude-inference"


def apps_api(sandbox: SandboxThread) -> client.AppsV1Api:
    return client.AppsV1Api(config.new_client_from_config(sandbox.info.kubeconfig))


async def open_dashboard(app: LlmctlApp, pilot: Any, name: str = DEP) -> DataTable:
    table = app.screen.query_one("#deployments", DataTable)
    await wait_for(pilot, lambda: any(r[0] == name for r in rows(table)), what="deployments listed")
    await wait_for(pilot, lambda: bool(app.permissions), what="permissions probed")
    index = next(i for i, r in enumerate(rows(table)) if r[0] == name)
    table.move_cursor(row=index)
    table.focus()
    return table


async def fill_form(app: LlmctlApp, pilot: Any, value: str) -> None:
    await wait_for(pilot, lambda: isinstance(app.screen, FormDialog), what="form dialog")
    box = app.screen.query_one(Input)
    box.value = value
    await pilot.press("enter")


async def test_scale_through_the_confirm_dialog(sandbox: SandboxThread, tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    app = console_app(KubeClusterService(sandbox.info.kubeconfig), Settings(audit_log=str(audit)))
    apps = apps_api(sandbox)
    async with app.run_test(size=(160, 45)) as pilot:
        await open_dashboard(app, pilot)

        # Bad input: a clear error, no dialog, nothing sent.
        await pilot.press("s")
        await fill_form(app, pilot, "-1")
        await wait_for(pilot, lambda: not isinstance(app.screen, FormDialog | ConfirmDialog), what="no dialog")
        await pilot.pause(0.3)
        assert apps.read_namespaced_deployment(DEP, "llm").spec.replicas == 2

        # Cancelled at the confirm dialog: nothing changes.
        await pilot.press("s")
        await fill_form(app, pilot, "4")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="confirm dialog")
        await pilot.press("escape")
        await pilot.pause(0.3)
        assert apps.read_namespaced_deployment(DEP, "llm").spec.replicas == 2

        # claude-inference is HPA-managed: the dialog says the HPA would undo a manual scale.
        await pilot.press("s")
        await fill_form(app, pilot, "3")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="confirm dialog")
        dialog = app.screen
        assert isinstance(dialog, ConfirmDialog)
        assert "kubectl scale deployment/claude-inference" in dialog.plan.kubectl
        assert "--replicas=3" in dialog.plan.kubectl
        assert "replicas: 3" in dialog.plan.diff
        assert any("claude-hpa" in w for w in dialog.plan.warnings), "the HPA will override a manual scale"
        await pilot.press("escape")

        # A Deployment without an HPA: scaled for real.
        await open_dashboard(app, pilot, "claude-long-queue")
        await pilot.press("s")
        await fill_form(app, pilot, "2")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="confirm dialog")
        assert app.screen.plan.preflight is not None and app.screen.plan.preflight.ok  # type: ignore[attr-defined]
        await pilot.press("y")
        await wait_for(pilot, lambda: apps.read_namespaced_deployment("claude-long-queue", "llm").spec.replicas == 2,
                       what="scaled to 2")
        await wait_for(pilot, lambda: isinstance(app.screen, DeploymentScreen), what="detail follows the change")
        head = app.screen.query_one("#deployment-head")
        await wait_for(pilot, lambda: "ready 2/2" in str(head.render()), timeout=30, what="new replica Ready")
    lines = [json.loads(line) for line in audit.read_text().splitlines()]
    assert [entry["mode"] for entry in lines].count("applied") == 1
    assert any(e["mode"] == "dry-run" and e["action"] == "scale" for e in lines)
    apps.patch_namespaced_deployment_scale("claude-long-queue", "llm", {"spec": {"replicas": 1}})


async def test_set_image_rolls_out_and_the_detail_follows_it(sandbox: SandboxThread, tmp_path: Path) -> None:
    app = console_app(KubeClusterService(sandbox.info.kubeconfig), Settings(audit_log=str(tmp_path / "a.jsonl")))
    image = sandbox.ctx.catalog.ref("llm/claude-inference", "v1.1.0")
    async with app.run_test(size=(160, 45)) as pilot:
        await open_dashboard(app, pilot)
        await pilot.press("i")
        await fill_form(app, pilot, f"inference={image}")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="confirm dialog")
        plan = app.screen.plan  # type: ignore[attr-defined]
        assert plan.preflight is not None and plan.preflight.ok, plan.preflight
        assert f"inference={image}" in plan.kubectl
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, DeploymentScreen), what="detail screen")
        head = app.screen.query_one("#deployment-head")
        await wait_for(pilot, lambda: "successfully rolled out" in str(head.render()), timeout=40,
                       what="rollout done")
        revisions = rows(app.screen.query_one("#revisions", DataTable))
        assert revisions[0][0] == "2" and image in revisions[0][2]
        pod_table = app.screen.query_one("#pods", DataTable)
        # The old pods terminate for a moment after the verdict says done.
        await wait_for(pilot, lambda: len(rows(pod_table)) == 2 and all(p[1] == "Running" for p in rows(pod_table)),
                       what="two new pods Running, old ones gone")
        await pilot.press("escape")
        assert not isinstance(app.screen, DeploymentScreen)


async def test_readonly_and_viewer_cannot_act(sandbox: SandboxThread) -> None:
    app = console_app(KubeClusterService(sandbox.info.kubeconfig), Settings(readonly=True))
    async with app.run_test(size=(160, 45)) as pilot:
        table = app.screen.query_one("#deployments", DataTable)
        await wait_for(pilot, lambda: table.row_count > 0, what="deployments")
        assert app.screen.check_action("scale", ()) is None, "shown disabled in read-only mode"
        await pilot.press("s")
        await pilot.pause(0.2)
        assert not isinstance(app.screen, FormDialog)
        assert "READ-ONLY" in str(app.screen.query_one("#status-bar").render())

    viewer = console_app(KubeClusterService(sandbox.info.kubeconfig, context="sandbox-viewer"))
    async with viewer.run_test(size=(160, 45)) as pilot:
        await wait_for(pilot, lambda: viewer.permissions.get("scale") is False, what="SSAR says no")
        assert viewer.screen.check_action("scale", ()) is None
        assert viewer.refusal("scale") == "forbidden: cannot patch deployments/scale in namespace llm"


async def test_command_mode_and_help(sandbox: SandboxThread) -> None:
    app = console_app(KubeClusterService(sandbox.info.kubeconfig))
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.press("colon")
        for key in "pods":
            await pilot.press(key)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, PodsScreen), what=":pods")
        table = app.screen.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count >= 5, what="pods listed")
        assert any(r[0].startswith("claude-inference-") and r[1] == "Running" for r in rows(table))
        await pilot.press("colon", "x", "y", "z", "enter")
        await pilot.pause(0.1)
        assert isinstance(app.screen, PodsScreen)
        await pilot.press("colon", "d", "e", "p", "l", "o", "y", "enter")
        await pilot.pause(0.2)
        assert app.current_mode == "dashboard"
        await pilot.press("question_mark")
        await pilot.pause(0.1)
        text = " ".join(f"{k} {d}" for k, d in app.screen.rows)  # type: ignore[attr-defined]
        for key in ("Scale", "Set image", "Undo", "Restart", "Pause/resume", "HPA", "Filter", ":pods"):
            assert key in text, key


async def test_a_scale_the_hpa_undoes_is_said(sb: SandboxThread, tmp_path: Path) -> None:
    app = console_app(KubeClusterService(sb.info.kubeconfig), Settings(audit_log=str(tmp_path / "a.jsonl")))
    async with app.run_test(size=(160, 45)) as pilot:
        await open_dashboard(app, pilot)
        await pilot.press("s")
        await fill_form(app, pilot, "10")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="confirm dialog")
        await pilot.press("y")
        await wait_for(pilot, lambda: any("did not hold" in (n.title or "") for n in app._notifications),
                       timeout=60, what="the scale that did not hold is said")
        note = next(n for n in app._notifications if "did not hold" in (n.title or ""))
        assert note.severity == "error" and "HorizontalPodAutoscaler claude-hpa" in note.message
