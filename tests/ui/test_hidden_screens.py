"""A screen that is not shown does not redraw on cluster changes; it catches up once when shown again (#16).
A real sandbox, the real console (Pilot): the dashboard stays installed while ``:pods`` is in front."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable

from console.config import Settings
from console.kube.cluster import KubeClusterService
from console.sandbox.server import SandboxThread
from screens.dashboard import DashboardScreen
from screens.resources import PodsScreen
from tests.ui.helpers import console_app, edit_deployment, rows, wait_for

DEP = "claude-long-queue"


def scale(sb: SandboxThread, replicas: int) -> None:
    edit_deployment(sb, DEP, lambda dep: dep["spec"].__setitem__("replicas", replicas))


async def test_a_hidden_dashboard_does_not_redraw_and_catches_up_when_shown(
        sb: SandboxThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    redraws: list[Any] = []
    original = DashboardScreen.show_snapshot

    def counting(self: DashboardScreen, snap: Any) -> None:
        redraws.append(snap)
        original(self, snap)
    monkeypatch.setattr(DashboardScreen, "show_snapshot", counting)
    app = console_app(KubeClusterService(sb.info.kubeconfig), Settings(audit_log=str(tmp_path / "audit.jsonl")))
    async with app.run_test(size=(160, 45)) as pilot:
        deployments = app.screen.query_one("#deployments", DataTable)
        await wait_for(pilot, lambda: any(r[0] == DEP for r in rows(deployments)), what="deployments listed")
        assert redraws, "the dashboard draws while it is shown"
        await app.switch_mode("pods")
        pods = app.screen.query_one("#all-pods", DataTable)
        await wait_for(pilot, lambda: isinstance(app.screen, PodsScreen) and pods.row_count > 0, what="pods")

        def dep_pods() -> int:
            return sum(1 for r in rows(pods) if r[0].startswith(DEP + "-"))
        before = dep_pods()
        redraws.clear()
        scale(sb, before + 2)
        await wait_for(pilot, lambda: dep_pods() == before + 2, what="the pods screen follows the scale")
        assert redraws == [], "the hidden dashboard did not redraw"
        await app.switch_mode("dashboard")
        await wait_for(pilot, lambda: len(redraws) >= 1, what="the dashboard catches up when shown")
        ready = next(r for r in rows(deployments) if r[0] == DEP)
        assert redraws[0].deployments and any(str(before + 2) in cell for cell in ready), ready


async def test_a_cluster_event_repaints_what_changed_not_the_whole_screen(sb: SandboxThread, tmp_path: Path) -> None:
    """The state the screens watch (the snapshot, the alert summary) repaints nothing by itself: a scale reaches the
    dashboard's rows without one refresh of the whole screen (as a ``reactive`` on the App, each cluster event
    repainted every line: #16)."""
    app = console_app(KubeClusterService(sb.info.kubeconfig), Settings(audit_log=str(tmp_path / "audit.jsonl")))
    async with app.run_test(size=(160, 45)) as pilot:
        deployments = app.screen.query_one("#deployments", DataTable)
        await wait_for(pilot, lambda: any(r[0] == DEP for r in rows(deployments)), what="deployments listed")
        await pilot.pause(1.0)
        screen = app.screen
        whole: list[dict[str, Any]] = []
        original = screen.refresh

        def counting(*regions: Any, **kwargs: Any) -> Any:
            if not regions:
                whole.append(kwargs)
            return original(*regions, **kwargs)
        screen.refresh = counting  # type: ignore[method-assign]
        desired = int(next(r for r in rows(deployments) if r[0] == DEP)[1].split("/")[-1])
        scale(sb, desired + 1)
        await wait_for(pilot, lambda: next(r for r in rows(deployments) if r[0] == DEP)[1].endswith(f"/{desired + 1}"),
                       what="the scale on the dashboard")
        await pilot.pause(0.5)  # the pods it made come and go meanwhile
        assert not [kw for kw in whole if not kw.get("layout")], f"whole-screen repaints: {whole}"
