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


async def test_drain_respects_a_pod_disruption_budget(sb: SandboxThread, tmp_path: Path,
                                                      monkeypatch: Any) -> None:
    from console.actions import drain

    monkeypatch.setattr(drain, "RETRY_S", 2.0)
    monkeypatch.setattr(drain, "RETRY_EVERY_S", 0.5)
    api_client = config.new_client_from_config(sb.info.kubeconfig)
    core = client.CoreV1Api(api_client)
    claude = [p for p in core.list_namespaced_pod("llm", label_selector="app=claude").items if p.spec.node_name]
    node = claude[0].spec.node_name
    on_node = [p.metadata.name for p in core.list_namespaced_pod("llm", field_selector=f"spec.nodeName={node}").items]
    client.PolicyV1Api(api_client).create_namespaced_pod_disruption_budget("llm", client.V1PodDisruptionBudget(
        metadata=client.V1ObjectMeta(name="claude-pdb"),
        spec=client.V1PodDisruptionBudgetSpec(min_available=2, selector=client.V1LabelSelector(
            match_labels={"app": "claude"}))))
    log = tmp_path / "audit.jsonl"
    app = console_app(KubeClusterService(sb.info.kubeconfig), Settings(audit_log=str(log)))
    async with app.run_test(size=(160, 45)) as pilot:
        table = app.screen.query_one("#nodes", DataTable)
        await wait_for(pilot, lambda: any(r[0] == node for r in rows(table)), what="nodes listed")
        await pilot.press("g")
        table.move_cursor(row=next(i for i, r in enumerate(rows(table)) if r[0] == node))
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="drain plan", timeout=30)
        plan = app.screen.plan
        assert plan.kubectl.startswith(f"kubectl drain {node} --ignore-daemonsets")
        assert any("PodDisruptionBudget blocks" in w and claude[0].metadata.name in w for w in plan.warnings), \
            plan.warnings
        assert any("DaemonSet" in w for w in plan.warnings), "the device plugin and exporter pods stay"
        assert plan.preflight is not None and "GPU pod(s)" in plan.preflight.message, plan.preflight
        await pilot.press("y")
        await wait_for(pilot, lambda: any("not evicted" in n.message for n in app._notifications),
                       what="the budget's refusal reported", timeout=30)
    assert unschedulable_node(sb, node)
    left = {p.metadata.name for p in core.list_namespaced_pod("llm", field_selector=f"spec.nodeName={node}").items
            if not p.metadata.deletion_timestamp}
    assert claude[0].metadata.name in left, "the budget kept the pod"
    assert left <= set(on_node)
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(e["action"], e["mode"]) for e in entries] == [("drain", "dry-run"), ("drain", "applied")]
    assert claude[0].metadata.name in entries[1]["result"] and entries[1]["after"]["blocked"]


def unschedulable_node(sandbox: SandboxThread, node: str) -> bool:
    return bool(client.CoreV1Api(config.new_client_from_config(sandbox.info.kubeconfig)).read_node(node)
                .spec.unschedulable)
