"""The resource browser for any type discovery lists, and the row keys: describe, YAML, delete, edit, logs."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException
from textual.widgets import DataTable, Input

from console.config import Settings
from console.kube.cluster import KubeClusterService
from console.sandbox.server import SandboxThread
from screens.browser import BrowserScreen, sort_key
from screens.logs import LogsScreen
from screens.resources import PodsScreen
from screens.text_view import TextViewScreen
from screens.widgets.dialogs import ConfirmDialog, FormDialog
from tests.ui.helpers import console_app, rows, wait_for

SIZE = (170, 45)


def core(sandbox: SandboxThread) -> client.CoreV1Api:
    return client.CoreV1Api(config.new_client_from_config(sandbox.info.kubeconfig))


def apps(sandbox: SandboxThread) -> client.AppsV1Api:
    return client.AppsV1Api(config.new_client_from_config(sandbox.info.kubeconfig))


def audit_entries(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def browser_rows(app: Any) -> list[list[str]]:
    return rows(app.screen.query_one("#browser", DataTable)) if isinstance(app.screen, BrowserScreen) else []


async def open_kind(app: Any, pilot: Any, word: str) -> BrowserScreen:
    await pilot.press("colon", *word, "enter")
    await wait_for(pilot, lambda: isinstance(app.screen, BrowserScreen) and app.screen.table_data is not None,
                   what=f":{word} browser")
    assert isinstance(app.screen, BrowserScreen)
    return app.screen


async def cursor_to(app: Any, pilot: Any, name: str, column: int = 0) -> None:
    await wait_for(pilot, lambda: any(r[column] == name for r in browser_rows(app)), what=f"row {name}")
    table = app.screen.query_one("#browser", DataTable)
    table.move_cursor(row=next(i for i, r in enumerate(browser_rows(app)) if r[column] == name))


def notified(app: Any, text: str) -> bool:
    return any(text in str(n.message) for n in app._notifications)


def test_sort_key_orders_numbers_and_ages_by_value() -> None:
    assert sorted(["10", "9", "100"], key=sort_key) == ["9", "10", "100"]
    assert sorted(["2d", "5m", "3h", "90s"], key=sort_key) == ["90s", "5m", "3h", "2d"]
    assert sorted(["b", "A", "c"], key=sort_key) == ["A", "b", "c"]


async def test_any_kind_with_the_servers_columns_filter_and_sort(sandbox: SandboxThread, tmp_path: Path) -> None:
    app = console_app(KubeClusterService(sandbox.info.kubeconfig), Settings(audit_log=str(tmp_path / "a.jsonl")))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_kind(app, pilot, "rs")
        table = screen.query_one("#browser", DataTable)
        assert [str(c.label) for c in table.columns.values()] == ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]
        await wait_for(pilot, lambda: any(r[0].startswith("claude-inference-") for r in browser_rows(app)),
                       what="llm's ReplicaSets")

        await pilot.press("escape")
        screen = await open_kind(app, pilot, "svc")
        assert "TYPE" in [str(c.label) for c in screen.query_one(DataTable).columns.values()]
        await pilot.press("escape")

        # Cluster-scoped, via a plural name, and all namespaces (NAMESPACE column first).
        screen = await open_kind(app, pilot, "namespaces")
        await wait_for(pilot, lambda: {"llm", "kube-system"} <= {r[0] for r in browser_rows(app)}, what="namespaces")
        await pilot.press("escape")
        await pilot.press("0")
        await pilot.press("colon", *"deploy", "enter")  # :deploy is llmctl's richer dashboard
        await wait_for(pilot, lambda: bool(app.screen.query("#deployments")), what=":deploy → dashboard")
        screen = await open_kind(app, pilot, "deployments.apps")
        def first_column() -> str:
            return str(next(iter(screen.query_one(DataTable).columns.values())).label)

        await wait_for(pilot, lambda: first_column() == "NAMESPACE", what="NAMESPACE column across namespaces")
        names = {r[1] for r in browser_rows(app)}
        assert {"coredns", "claude-inference", "kube-state-metrics"} <= names

        # Filter: only matching rows; esc clears it first, then leaves.
        await pilot.press("slash", *"coredns", "enter")
        await wait_for(pilot, lambda: [r[1] for r in browser_rows(app)] == ["coredns"], what="filtered")
        # Sort: `o` moves to the next column, `O` reverses.
        await pilot.press("escape")
        await wait_for(pilot, lambda: len(browser_rows(app)) > 1, what="filter cleared")
        await pilot.press("o", "O")
        await wait_for(pilot, lambda: "sorted by NAME ↓" in str(screen.query_one("#browser-title").render()),
                       what="sorted by name, reversed")
        shown = [r[1] for r in browser_rows(app)]
        assert shown == sorted(shown, key=sort_key, reverse=True)

        await pilot.press("escape")
        await pilot.press("colon", *"frobnicate", "enter")
        await wait_for(pilot, lambda: notified(app, "unknown command :frobnicate"), what="unknown type said")


async def test_describe_yaml_and_logs_of_a_pod(sandbox: SandboxThread, tmp_path: Path) -> None:
    app = console_app(KubeClusterService(sandbox.info.kubeconfig), Settings(audit_log=str(tmp_path / "a.jsonl")))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("colon", *"pods", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, PodsScreen), what=":pods")
        table = app.screen.query_one(DataTable)
        await wait_for(pilot, lambda: any(r[0].startswith("claude-inference-") for r in rows(table)), what="pods")
        pod = next(r[0] for r in rows(table) if r[0].startswith("claude-inference-"))
        table.move_cursor(row=next(i for i, r in enumerate(rows(table)) if r[0] == pod))
        table.focus()

        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, TextViewScreen), what="describe")
        text = app.screen.text
        assert f"Name:         {pod}" in text and "Namespace:    llm" in text
        assert "Conditions:" in text and "Ready" in text
        assert "Events:" in text and "Scheduled" in text, text[-800:]
        await pilot.press("escape")

        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, TextViewScreen), what="YAML")
        assert "kind: Pod" in app.screen.text and f"name: {pod}" in app.screen.text
        assert app.screen.language == "yaml" and "managedFields" not in app.screen.text
        await pilot.press("escape")

        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, LogsScreen), what="logs")
        logs = app.screen
        await wait_for(pilot, lambda: len(logs.text) > 0, what="log lines")
        await pilot.press("c")
        await wait_for(pilot, lambda: notified(app, "this pod has one container"), what="one container said")
        await pilot.press("escape")

        # A Deployment's logs: every pod's, each line prefixed with its pod.
        await pilot.press("colon", *"deploy", "enter")
        await wait_for(pilot, lambda: app.screen.query("#deployments") and any(
            r[0] == "claude-inference" for r in rows(app.screen.query_one("#deployments", DataTable))), what="deps")
        deps = app.screen.query_one("#deployments", DataTable)
        deps.move_cursor(row=next(i for i, r in enumerate(rows(deps)) if r[0] == "claude-inference"))
        deps.focus()
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, LogsScreen) and len(app.screen.text) > 0,
                       what="deployment logs")
        assert len(app.screen.pods) == 2
        assert all(line.startswith("[claude-inference-") for line in app.screen.text)


async def test_delete_with_confirmation_and_refusals(sb: SandboxThread, tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    api = core(sb)
    api.create_namespaced_config_map("llm", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="scratch"),
                                                                data={"a": "1"}))
    app = console_app(KubeClusterService(sb.info.kubeconfig), Settings(audit_log=str(audit)))
    async with app.run_test(size=SIZE) as pilot:
        await open_kind(app, pilot, "cm")
        await cursor_to(app, pilot, "scratch")
        await pilot.press("ctrl+d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="confirm dialog")
        plan = app.screen.plan
        assert plan.action == "delete" and plan.kubectl.startswith("kubectl delete configmap/scratch -n llm")
        assert "-  a: '1'" in plan.diff or "-  a: \"1\"" in plan.diff or "a: '1'" in plan.diff
        await pilot.press("escape")
        await pilot.pause(0.3)
        assert api.read_namespaced_config_map("scratch", "llm").data == {"a": "1"}, "cancel deletes nothing"

        await pilot.press("ctrl+d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="confirm dialog")
        await pilot.press("y")
        await wait_for(pilot, lambda: notified(app, "configmap 'scratch' deleted"), what="deleted")
        with pytest.raises(ApiException) as gone:
            api.read_namespaced_config_map("scratch", "llm")
        assert gone.value.status == 404
        modes = [(e["action"], e["mode"], e["result"]) for e in audit_entries(audit) if e["target"].endswith("scratch")]
        assert ("delete", "dry-run", "ok") in modes and ("delete", "applied", "ok") in modes

        # A Deployment takes its ReplicaSets and pods with it: the name must be typed.
        await pilot.press("escape")
        await open_kind(app, pilot, "deployments.apps")
        await cursor_to(app, pilot, "claude-long-queue")
        await pilot.press("ctrl+d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="confirm")
        assert any("dependent objects go with it" in w and "replicaset/" in w for w in app.screen.plan.warnings)
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, FormDialog), what="type the name")
        app.screen.query_one(Input).value = "claude-long"
        await pilot.press("enter")
        await wait_for(pilot, lambda: notified(app, "does not match"), what="wrong name refused")
        apps(sb).read_namespaced_deployment("claude-long-queue", "llm")  # still there


async def test_delete_refused_read_only_and_forbidden(sandbox: SandboxThread, tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    app = console_app(KubeClusterService(sandbox.info.kubeconfig), Settings(audit_log=str(audit), readonly=True))
    async with app.run_test(size=SIZE) as pilot:
        await open_kind(app, pilot, "svc")
        await cursor_to(app, pilot, "claude-inference")
        await pilot.press("ctrl+d")
        await wait_for(pilot, lambda: notified(app, "read-only mode: delete refused"), what="read-only refusal")
        assert not isinstance(app.screen, ConfirmDialog)
    assert [e["mode"] for e in audit_entries(audit)] == ["refused"]

    audit.unlink()
    viewer = console_app(KubeClusterService(sandbox.info.kubeconfig, context="sandbox-viewer"),
                         Settings(audit_log=str(audit)))
    async with viewer.run_test(size=SIZE) as pilot:
        await open_kind(viewer, pilot, "svc")
        await cursor_to(viewer, pilot, "claude-inference")
        await pilot.press("ctrl+d")
        await wait_for(pilot, lambda: notified(viewer, "forbidden: cannot delete services"), what="RBAC refusal")
    entries = audit_entries(audit)
    assert [(e["action"], e["mode"], e["user"]) for e in entries] == [("delete", "refused", "sandbox-viewer")]
    core(sandbox).read_namespaced_service("claude-inference", "llm")


async def test_edit_in_editor_changes_the_memory_limit(sb: SandboxThread, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    editor = tmp_path / "editor.sh"
    editor.write_text("#!/bin/sh\nsed -i 's/memory: 14Gi/memory: 16Gi/' \"$1\"\n")
    editor.chmod(editor.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("EDITOR", str(editor))
    monkeypatch.delenv("KUBE_EDITOR", raising=False)
    audit = tmp_path / "audit.jsonl"
    before = apps(sb).read_namespaced_deployment("claude-inference", "llm")
    limits = before.spec.template.spec.containers[0].resources.limits
    assert limits["memory"] == "14Gi", limits  # what the fake editor changes
    app = console_app(KubeClusterService(sb.info.kubeconfig), Settings(audit_log=str(audit)))
    async with app.run_test(size=SIZE) as pilot:
        await open_kind(app, pilot, "deployments.apps")
        await cursor_to(app, pilot, "claude-inference")
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="edit plan")
        plan = app.screen.plan
        assert plan.action == "edit" and plan.kubectl.startswith("kubectl edit deployment.apps/claude-inference")
        diff = plan.diff.splitlines()
        assert any(line.startswith("-") and "memory: 14Gi" in line for line in diff), plan.diff
        assert any(line.startswith("+") and "memory: 16Gi" in line for line in diff), plan.diff
        assert any(v == "16Gi" for v in plan.after.values()), plan.after
        await pilot.press("y")
        await wait_for(pilot, lambda: notified(app, "deployment 'claude-inference' edited"), what="applied")
    after = apps(sb).read_namespaced_deployment("claude-inference", "llm")
    assert after.spec.template.spec.containers[0].resources.limits["memory"] == "16Gi"
    modes = [(e["action"], e["mode"], e["result"]) for e in audit_entries(audit)]
    assert modes == [("edit", "dry-run", "ok"), ("edit", "applied", "ok")]
    assert os.environ["EDITOR"] == str(editor)


async def test_a_custom_resource_kind_from_discovery(sandbox: SandboxThread, tmp_path: Path) -> None:
    """The Prometheus Operator's ServiceMonitor, a custom resource the API lists in discovery: its plural and
    NAME.GROUP open the browser with the server's columns, and its rows can be described."""
    custom = client.CustomObjectsApi(config.new_client_from_config(sandbox.info.kubeconfig))
    custom.create_namespaced_custom_object("monitoring.coreos.com", "v1", "llm", "servicemonitors", {
        "apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
        "metadata": {"name": "browser-crd-test", "namespace": "llm"},
        "spec": {"selector": {"matchLabels": {"app": "claude"}}, "endpoints": [{"port": "http"}]}})
    app = console_app(KubeClusterService(sandbox.info.kubeconfig), Settings(audit_log=str(tmp_path / "a.jsonl")))
    async with app.run_test(size=SIZE) as pilot:
        for word in ("servicemonitors", "servicemonitors.monitoring.coreos.com"):
            screen = await open_kind(app, pilot, word)
            assert str(next(iter(screen.query_one(DataTable).columns.values())).label) == "NAME"
            await cursor_to(app, pilot, "browser-crd-test")
            await pilot.press("escape")
        await open_kind(app, pilot, "servicemonitors")
        await cursor_to(app, pilot, "browser-crd-test")
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, TextViewScreen), what="describe")
        assert "browser-crd-test" in app.screen.text and "ServiceMonitor" in app.screen.text  # type: ignore[attr-defined]
