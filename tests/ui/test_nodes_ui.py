"""Nodes from the dashboard: describe, cordon and uncordon through plan → dry-run → confirm → apply → audit;
refused (and audited) read-only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kubernetes import client, config
from textual.widgets import DataTable

from console.config import Settings
from console.kube.cluster import KubeClusterService
from console.sandbox.server import SandboxThread
from screens.text_view import TextViewScreen
from screens.widgets.dialogs import ConfirmDialog
from tests.ui.helpers import console_app, rows, wait_for

NODE = "gpu-node-2"


def unschedulable(sandbox: SandboxThread) -> bool:
    api = client.CoreV1Api(config.new_client_from_config(sandbox.info.kubeconfig))
    return bool(api.read_node(NODE).spec.unschedulable)


async def on_node(app: Any, pilot: Any) -> None:
    table = app.screen.query_one("#nodes", DataTable)
    await wait_for(pilot, lambda: any(r[0] == NODE for r in rows(table)), what="nodes listed")
    await pilot.press("g")
    table.move_cursor(row=next(i for i, r in enumerate(rows(table)) if r[0] == NODE))


def audit(path: Path) -> list[tuple[str, str, str]]:
    return [(e["action"], e["mode"], e["result"]) for e in map(json.loads, path.read_text().splitlines())]


async def test_describe_cordon_and_uncordon(sb: SandboxThread, tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    app = console_app(KubeClusterService(sb.info.kubeconfig), Settings(audit_log=str(log)))
    async with app.run_test(size=(160, 45)) as pilot:
        await on_node(app, pilot)
        await pilot.press("v")
        await wait_for(pilot, lambda: isinstance(app.screen, TextViewScreen), what="node describe")
        assert f"Name:         {NODE}" in app.screen.text and "Conditions:" in app.screen.text
        assert "nvidia.com/gpu" in app.screen.text
        await pilot.press("escape")

        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="cordon plan")
        plan = app.screen.plan
        assert plan.kubectl.startswith(f"kubectl cordon {NODE}") and "unschedulable: true" in plan.diff
        await pilot.press("y")
        await wait_for(pilot, lambda: unschedulable(sb), what="cordoned")
        await pilot.press("c")
        await wait_for(pilot, lambda: any("already cordoned" in n.message for n in app._notifications),
                       what="a second cordon changes nothing")
        await pilot.press("U")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="uncordon plan")
        await pilot.press("y")
        await wait_for(pilot, lambda: not unschedulable(sb), what="uncordoned")
    assert audit(log) == [("cordon", "dry-run", "ok"), ("cordon", "applied", "ok"),
                          ("uncordon", "dry-run", "ok"), ("uncordon", "applied", "ok")]


async def test_cordon_refused_read_only(sandbox: SandboxThread, tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    app = console_app(KubeClusterService(sandbox.info.kubeconfig), Settings(audit_log=str(log), readonly=True))
    async with app.run_test(size=(160, 45)) as pilot:
        await on_node(app, pilot)
        await pilot.press("c")
        await wait_for(pilot, lambda: any("read-only mode: cordon refused" in n.message for n in app._notifications),
                       what="read-only refusal")
    # (RBAC refusals go through the same path as delete's, tested in test_browser_ui: the sandbox's users who may
    # not patch nodes — the viewer with the built-in view role, the namespaced operator — cannot read them either.)
    assert [a[:2] for a in audit(log)] == [("cordon", "refused")]
    assert not unschedulable(sandbox)
