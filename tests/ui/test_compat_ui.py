"""The Compat screen (Pilot, on the sandbox and on fixed data) and the set-image confirm dialog's explicit force
when the compatibility check says FAIL. Snapshot: ``--snapshot-update`` after an intended change."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

from rich.console import Console
from textual.widgets import DataTable, Input

from console.audit import AuditLog
from console.config import Settings
from console.kube.cluster import KubeClusterService
from console.sandbox.server import SandboxThread
from screens.compat import CompatScreen
from screens.widgets.dialogs import ConfirmDialog, plan_summary
from tests.ui.helpers import console_app, rows, wait_for
from tests.ui.static_compat import CANDIDATE, StaticCompat
from tests.ui.test_actions_ui import apps_api, fill_form, open_dashboard
from tests.ui.test_snapshots import SIZE, make_app

DEP = "claude-inference"


def plain(renderable: Any) -> str:
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def detail_text(screen: Any) -> str:
    return plain(screen.explanation) if screen.explanation is not None else ""


async def test_compat_screen_on_the_sandbox(sandbox: SandboxThread) -> None:
    app = console_app(KubeClusterService(sandbox.info.kubeconfig), Settings())
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.press("colon", *"compat", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, CompatScreen), what=":compat")
        screen = app.screen
        assert isinstance(screen, CompatScreen)
        # That the screen is drawn before the check answers is asserted on fixed data (a check that waits):
        # test_compat_screen_pilot_on_fixed_data. A wall-clock bound here failed under load on main.
        matrix = screen.query_one("#compat-matrix", DataTable)
        await wait_for(pilot, lambda: screen.report is not None and matrix.row_count == 1, what="matrix")
        assert rows(matrix)[0][0] == "llm/claude-inference:v1.0.0" and rows(matrix)[0][3] == "✓ OK"
        assert "A10G 535.104.05 sm_86 ×4" in [str(c.label) for c in matrix.columns.values()]
        assert "driver 535.104.05 ≥ 535.104.05" in detail_text(screen), "the cell under the cursor is explained"

        await pilot.press("c")
        box = screen.query_one("#candidate", Input)
        assert box.has_focus
        box.value = sandbox.ctx.catalog.ref("llm/claude-inference", "v2.0.0-cuda13")
        await pilot.press("enter")
        await wait_for(pilot, lambda: matrix.row_count == 2, what="candidate row")
        assert rows(matrix)[1][0].endswith("(candidate)") and rows(matrix)[1][3] == "✕ FAIL"
        matrix.move_cursor(row=1, column=3)
        await wait_for(pilot, lambda: "needs ≥ 580.65.06" in detail_text(screen), what="FAIL explained")
        assert "fix: upgrade the nodes' driver" in detail_text(screen)
        matrix.move_cursor(row=1, column=0)
        await wait_for(pilot, lambda: "CUDA: 13.0.0 (from CUDA_VERSION)" in detail_text(screen), what="image facts")
        stack = rows(screen.query_one("#compat-stack", DataTable))
        assert any(r[1] == "device-plugin" and r[0] == "✓ OK" for r in stack)
        await pilot.press("question_mark")
        await pilot.pause(0.1)
        text = " ".join(f"{k} {d}" for k, d in app.screen.rows)  # type: ignore[attr-defined]
        assert "Candidate image" in text and ":compat" in text


async def test_compat_with_every_namespace_shown_checks_every_namespace(sandbox: SandboxThread) -> None:
    """With every namespace shown (`0`), :compat waited 10 s for a namespace that never came, then checked
    "default" (no GPU workload there). Now it checks every namespace's Deployments, each named with its namespace."""
    app = console_app(KubeClusterService(sandbox.info.kubeconfig), Settings())
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_for(pilot, lambda: app.snapshot.namespace == "llm", what="llm watched")
        await pilot.press("0")
        await wait_for(pilot, lambda: app.all_namespaces, what="every namespace")
        await pilot.press("colon", *"compat", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, CompatScreen), what=":compat")
        screen: Any = app.screen
        await wait_for(pilot, lambda: screen.report is not None, timeout=8.0, what="the report, without a wait")
        report = screen.report
        assert report.namespace == "" and not report.errors, report.errors
        used_by = {u for row in report.images for u in row.used_by}
        assert any(u.startswith(f"llm/{DEP}/") for u in used_by), used_by
        assert "namespace all" in str(screen.query_one("#compat-title").render())


async def test_set_image_fail_needs_an_explicit_force(sandbox: SandboxThread, tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    app = console_app(KubeClusterService(sandbox.info.kubeconfig), Settings(audit_log=str(audit)))
    apps = apps_api(sandbox)
    image = sandbox.ctx.catalog.ref("llm/claude-inference", "v1.2.0-sm90")
    async with app.run_test(size=(160, 45)) as pilot:
        await open_dashboard(app, pilot)
        await pilot.press("i")
        await fill_form(app, pilot, f"inference={image}")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="confirm dialog")
        dialog = app.screen
        assert isinstance(dialog, ConfirmDialog) and dialog.blocked
        summary = plain(plan_summary(dialog.plan))
        assert "compatibility: FAIL — blocked" in summary and "no kernel image is available" in summary
        assert not dialog.query("#apply") and dialog.query_one("#force")
        await pilot.press("y")
        await pilot.pause(0.3)
        assert app.screen is dialog, "y does not apply a blocked rollout"
        assert apps.read_namespaced_deployment(DEP, "llm").spec.template.spec.containers[0].image != image
        await pilot.press("f")
        await wait_for(pilot, lambda: apps.read_namespaced_deployment(DEP, "llm").spec.template.spec.containers[0]
                       .image == image, what="forced rollout applied")
    entries = AuditLog(audit).entries()
    assert entries[-1]["mode"] == "applied" and entries[-1]["forced"].startswith("FAIL on NVIDIA-A10G")


class SlowCompat(StaticCompat):
    """Answers only once released: the screen must be drawn and usable meanwhile."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()

    async def report(self, namespace: str | None, candidate: str | None = None) -> Any:
        await self.release.wait()
        return await super().report(namespace, candidate)


async def test_compat_screen_pilot_on_fixed_data() -> None:
    service = SlowCompat()
    app = make_app(compat=service)
    async with app.run_test(size=SIZE) as pilot:
        await app.switch_mode("compat")
        screen = app.screen
        matrix = screen.query_one("#compat-matrix", DataTable)
        await pilot.pause(0.2)
        assert "checking" in str(screen.query_one("#compat-status").render()), "drawn before any answer"
        await pilot.press("c")
        assert screen.query_one("#candidate", Input).has_focus, "and usable"
        await pilot.press("m")
        service.release.set()
        await wait_for(pilot, lambda: matrix.row_count == 3, what="matrix")
        assert service.asked == [("llm", None)]
        header = [str(c.label) for c in matrix.columns.values()]
        assert header[3:] == ["A10G 535.104.05 sm_86 ×4", "H100 550.90.07 sm_90 ×2", "no GFD labels ×1"]
        by_image = {r[0]: r[3:] for r in rows(matrix)}
        assert by_image["llm/claude-inference:v1.0.0"] == ["✓ OK", "✓ OK", "? UNKNOWN"]
        assert by_image["llm/claude-inference:v1.4.0-cu124"][:2] == ["! WARN", "✓ OK"]
        assert by_image["llm/embedder:v0.3.1"][:2] == ["? UNKNOWN", "? UNKNOWN"]
        screen.query_one("#candidate", Input).value = CANDIDATE
        screen.query_one("#candidate", Input).focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: matrix.row_count == 4, what="candidate")
        assert service.asked[-1] == ("llm", CANDIDATE)
        assert rows(matrix)[3][3:5] == ["✕ FAIL", "✓ OK"], "sm_90 only: fails on A10G, runs on H100"


def test_compat_screen_snapshot(snap_compare: Any) -> None:
    app = make_app(compat=StaticCompat())

    async def open_compat(pilot: Any) -> None:
        await pilot.pause(0.2)
        await app.switch_mode("compat")
        screen = app.screen
        await wait_for(pilot, lambda: screen.query_one("#compat-matrix", DataTable).row_count == 3, what="matrix")
        screen.query_one("#candidate", Input).value = CANDIDATE
        screen.query_one("#candidate", Input).focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.query_one("#compat-matrix", DataTable).row_count == 4, what="candidate")
        screen.query_one("#compat-matrix", DataTable).move_cursor(row=3, column=3)
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=SIZE, run_before=open_compat)
