"""Switching context and namespace inside the console: the watches restart on the new target, the header
says where the console is, and the namespaces used last are offered first."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable, OptionList

from console.app.target import RecentNamespaces
from console.config import Settings
from console.kube.cluster import KubeClusterService
from console.sandbox.server import SandboxThread
from screens.resources import PodsScreen
from screens.widgets.picker import PickerDialog
from screens.widgets.statusbar import StatusBar
from tests.ui.helpers import console_app, rows, wait_for


@pytest.fixture(autouse=True)
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return tmp_path / "state"


def header(app: Any) -> str:
    return str(app.screen.query_one(StatusBar).render())


def deployment_names(app: Any) -> set[str]:
    return {r[0] for r in rows(app.screen.query_one("#deployments", DataTable))}


async def command(pilot: Any, line: str) -> None:
    await pilot.press("colon", *line, "enter")


async def test_namespace_and_all_namespaces_refill_the_tables(sandbox: SandboxThread, tmp_path: Path) -> None:
    app = console_app(KubeClusterService(sandbox.info.kubeconfig), Settings(audit_log=str(tmp_path / "a.jsonl")))
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_for(pilot, lambda: "claude-inference" in deployment_names(app), what="llm's Deployments")
        assert "ns llm" in header(app)

        await command(pilot, "ns kube-system")
        await wait_for(pilot, lambda: "coredns" in deployment_names(app), what="kube-system's Deployments")
        assert "claude-inference" not in deployment_names(app)
        assert "ns kube-system" in header(app)

        await pilot.press("0")
        await wait_for(pilot, lambda: {"coredns", "claude-inference", "kube-state-metrics"} <= deployment_names(app),
                       what="every namespace's Deployments")
        assert "ns all" in header(app)
        # :pods over every namespace: NAMESPACE/NAME (a name may repeat across namespaces), and the row's own
        # namespace is what d/y/e/ctrl+d/l act on.
        await command(pilot, "pods")
        await wait_for(pilot, lambda: isinstance(app.screen, PodsScreen), what=":pods")
        pods = app.screen.query_one("#all-pods", DataTable)
        await wait_for(pilot, lambda: {r[0].split("/")[0] for r in rows(pods)} >= {"kube-system", "llm", "monitoring"},
                       what="every namespace's pods")
        shown = [r[0] for r in rows(pods)]
        assert shown == sorted(shown, key=lambda key: key.split("/")), "by namespace, then name"
        index = next(i for i, key in enumerate(shown) if key.startswith("kube-system/coredns-"))
        pods.move_cursor(row=index)
        ref = app.screen.selected_object()
        assert ref is not None and (ref.namespace, ref.name) == tuple(shown[index].split("/"))
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, PodsScreen), what="the dashboard again")

        # `:ns` with no name: a picker, the namespace used last first, then what the API lists.
        await command(pilot, "ns")
        await wait_for(pilot, lambda: isinstance(app.screen, PickerDialog), what="namespace picker")
        picker = app.screen
        await wait_for(pilot, lambda: picker.query_one(OptionList).option_count > 3, what="namespaces listed")
        ids = [key for key, _ in picker.choices]
        assert ids[:2] == ["all", "kube-system"], ids
        assert "llm" in ids and "monitoring" in ids
        await pilot.press(*"monit", "enter")
        await wait_for(pilot, lambda: deployment_names(app) == {"kube-state-metrics"}, what="monitoring")
    assert RecentNamespaces().recent("sandbox-admin")[:2] == ["monitoring", "kube-system"]


async def test_context_switch_and_back(sandbox: SandboxThread, tmp_path: Path) -> None:
    app = console_app(KubeClusterService(sandbox.info.kubeconfig), Settings(audit_log=str(tmp_path / "a.jsonl")))
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_for(pilot, lambda: "claude-inference" in deployment_names(app), what="connected")
        await command(pilot, "ctx nope")
        await wait_for(pilot, lambda: any("no context 'nope'" in n.message for n in app._notifications),
                       what="unknown context said")
        await command(pilot, "ctx")
        await wait_for(pilot, lambda: isinstance(app.screen, PickerDialog), what="context picker")
        assert [key for key, _ in app.screen.choices] == ["sandbox-admin", "sandbox-viewer", "sandbox-llm-operator",
                                                           "sandbox-llm-developer"]
        await pilot.press(*"operator", "enter")
        await wait_for(pilot, lambda: "ctx sandbox-llm-operator" in header(app), what="operator context")
        await wait_for(pilot, lambda: "claude-inference" in deployment_names(app) and app.permissions,
                       what="tables refilled from the operator's watches")
        actions = await app.services.actions.get()
        assert actions.target.context == "sandbox-llm-operator", "actions reconnect as the new context's user"

        # The operator may not read kube-system: the panel says so instead of showing the old namespace's rows.
        await command(pilot, "ns kube-system")
        await wait_for(pilot, lambda: "no permission" in str(app.screen.query_one("#deployments-status").render()),
                       what="forbidden namespace said")
        assert deployment_names(app) == set()

        await command(pilot, "ctx sandbox-admin")
        await wait_for(pilot, lambda: "ctx sandbox-admin" in header(app) and "ns llm" in header(app),
                       what="back to admin, in its own namespace")
        await wait_for(pilot, lambda: "claude-inference" in deployment_names(app), what="admin's tables")
        assert (await app.services.actions.get()).target.context == "sandbox-admin"


async def test_command_mode_completes_kinds_namespaces_and_contexts(sandbox: SandboxThread, tmp_path: Path) -> None:
    from textual.widgets import Input, Label

    from screens.browser import BrowserScreen
    from screens.widgets.dialogs import CommandPrompt

    app = console_app(KubeClusterService(sandbox.info.kubeconfig), Settings(audit_log=str(tmp_path / "a.jsonl")))
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_for(pilot, lambda: "claude-inference" in deployment_names(app), what="connected")
        await pilot.press("colon")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPrompt), what="prompt")
        prompt = app.screen
        await wait_for(pilot, lambda: "kinds" in app.completion_words and "contexts" in app.completion_words,
                       what="words gathered")
        await pilot.press(*"replicas")
        await wait_for(pilot, lambda: ":replicasets" in str(prompt.query_one("#command-candidates", Label).render()),
                       what="candidates listed")
        await pilot.press("tab")
        assert prompt.query_one(Input).value == "replicasets"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, BrowserScreen), what="browser from a completed kind")

        await pilot.press("colon", *"ns kube-sy", "tab")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPrompt)
                       and app.screen.query_one(Input).value == "ns kube-system", what="namespace completed")
        await pilot.press("escape")
        await pilot.press("colon", *"ctx sandbox-vi", "tab")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPrompt)
                       and app.screen.query_one(Input).value == "ctx sandbox-viewer", what="context completed")
        await pilot.press("escape")


async def test_namespace_typed_when_listing_is_forbidden(sandbox: SandboxThread, tmp_path: Path) -> None:
    from textual.widgets import Label

    app = console_app(KubeClusterService(sandbox.info.kubeconfig, context="sandbox-llm-operator", namespace="default"),
                      Settings(audit_log=str(tmp_path / "a.jsonl")))
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_for(pilot, lambda: "ctx sandbox-llm-operator" in header(app), what="operator context")
        await command(pilot, "ns")
        await wait_for(pilot, lambda: isinstance(app.screen, PickerDialog), what="namespace picker")
        hint = str(app.screen.query_one(".picker-hint", Label).render())
        assert "no permission to list namespaces: type the namespace" in hint
        await pilot.press(*"llm", "enter")
        await wait_for(pilot, lambda: "ns llm" in header(app) and "claude-inference" in deployment_names(app),
                       what="typed namespace watched")
