"""The Deployment resources form (m): the memory buffer refused before anything is sent, then plan (GPU
preflight, server dry-run) → confirm → apply → audit, and the rollout followed."""

from __future__ import annotations

import json
from pathlib import Path

from textual.widgets import Input

from console.config import Settings
from console.kube.cluster import KubeClusterService
from console.sandbox.server import SandboxThread
from screens.widgets.dialogs import ConfirmDialog, FormDialog
from tests.ui.helpers import console_app, wait_for
from tests.ui.test_actions_ui import apps_api, open_dashboard

DEP = "claude-long-queue"


async def fill(app: object, pilot: object, **values: str) -> None:
    await wait_for(pilot, lambda: isinstance(app.screen, FormDialog), what="resources form")  # type: ignore[attr-defined]
    form = app.screen  # type: ignore[attr-defined]
    assert form.query_one("#field-memory_request", Input).value == "12Gi", "the form shows what is there now"
    for key, value in values.items():
        form.query_one(f"#field-{key}", Input).value = value
    for _ in form.query(Input):
        await pilot.press("enter")  # type: ignore[attr-defined]


async def test_memory_limit_raised_through_the_form(sb: SandboxThread, tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    apps = apps_api(sb)
    app = console_app(KubeClusterService(sb.info.kubeconfig), Settings(audit_log=str(audit)))
    async with app.run_test(size=(160, 50)) as pilot:
        await open_dashboard(app, pilot, DEP)
        await pilot.press("m")
        await fill(app, pilot, memory_limit="13Gi")
        await wait_for(pilot, lambda: any("request 12Gi + 2Gi" in n.message for n in app._notifications),
                       what="memory buffer refused")
        assert not isinstance(app.screen, ConfirmDialog)
        assert not audit.exists() or "resources" not in audit.read_text(), "nothing planned, nothing sent"

        await pilot.press("m")
        await fill(app, pilot, memory_limit="20Gi")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="confirm dialog")
        plan = app.screen.plan  # type: ignore[attr-defined]
        assert plan.preflight is not None and plan.preflight.ok, plan.preflight
        assert "kubectl set resources deployment/claude-long-queue -c inference" in plan.kubectl
        assert "--limits=memory=20Gi,nvidia.com/gpu=1" in plan.kubectl
        assert any(line.startswith("+") and "memory: 20Gi" in line for line in plan.diff.splitlines())
        await pilot.press("y")
        await wait_for(pilot, lambda: apps.read_namespaced_deployment(DEP, "llm").spec.template.spec.containers[0]
                       .resources.limits["memory"] == "20Gi", what=f"applied {[n.message for n in app._notifications]}")
    entries = [json.loads(line) for line in audit.read_text().splitlines()]
    assert [(e["action"], e["mode"], e["result"]) for e in entries] == [("resources", "dry-run", "ok"),
                                                                      ("resources", "applied", "ok")]
    assert entries[1]["after"]["resources"]["inference"]["limits"]["memory"] == "20Gi"
    assert entries[1]["before"]["resources"]["inference"]["limits"]["memory"] == "14Gi"
