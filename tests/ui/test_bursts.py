"""Keys read together (a paste, a fast typist, a held key) are handled in order, each where the focus is after the
ones before it — none pops a screen twice, none lands in a closing dialog, none is lost (issue 14).

``burst`` queues the keys as one terminal read does, all before the app handles the first; ``pilot.press`` with
several keys sends them back to back without waiting for their effects.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from textual.command import CommandPalette
from textual.widgets import Button, DataTable, Input

from console.app import LlmctlApp
from console.config import Settings
from console.kube.cluster import KubeClusterService
from console.sandbox.server import SandboxThread
from screens.errorlog import ErrorLog
from screens.help import HelpScreen
from screens.resources import PodsScreen
from screens.widgets.dialogs import ConfirmDialog, FormDialog
from tests.ui.helpers import burst, console_app, key_event, rows, wait_for

DEP = "claude-inference"
PLAIN = "claude-long-queue"  # no HPA


@asynccontextmanager
async def dashboard(sb: SandboxThread, tmp_path: Path, name: str = DEP) -> AsyncIterator[tuple[LlmctlApp, Any]]:
    """The console on ``sb`` (audit log and error log in ``tmp_path``), running, its dashboard showing with the
    Deployment ``name`` selected and the table focused: (app, pilot)."""
    app = console_app(KubeClusterService(sb.info.kubeconfig), Settings(audit_log=str(tmp_path / "audit.jsonl")))
    app.error_log = ErrorLog(tmp_path / "llmctl.log")
    async with app.run_test(size=(160, 45)) as pilot:
        await on_dashboard(app, pilot, name)
        yield app, pilot


async def on_dashboard(app: LlmctlApp, pilot: Any, name: str = DEP) -> None:
    table = app.screen.query_one("#deployments", DataTable)
    await wait_for(pilot, lambda: any(r[0] == name for r in rows(table)), what="deployments listed")
    if not app.readonly:
        await wait_for(pilot, lambda: bool(app.permissions), what="permissions probed")
    table.move_cursor(row=next(i for i, r in enumerate(rows(table)) if r[0] == name))
    table.focus()
    await pilot.pause()


async def open_form(app: LlmctlApp, pilot: Any, key: str, what: str) -> None:
    """Press ``key`` and wait for its form dialog."""
    await pilot.press(key)
    await wait_for(pilot, lambda: isinstance(app.screen, FormDialog), what=what)


async def still_answers(app: LlmctlApp, pilot: Any) -> None:
    """No crash: the app runs, and ``?`` (from the dashboard) still opens the help."""
    await pilot.pause(0.3)
    assert app._exception is None and app.is_running and app.crash is None
    app.go_to("dashboard", "deployments")
    await pilot.pause(0.2)
    await pilot.press("question_mark")
    await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), what="the help opens")
    assert not app.error_log.path.exists(), app.error_log.path.read_text()


def audit(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def count(app: LlmctlApp, kind: type) -> int:
    return sum(isinstance(s, kind) for s in app.screen_stack)


async def test_pasted_command_with_two_enters(sb: SandboxThread, tmp_path: Path) -> None:
    async with dashboard(sb, tmp_path) as (app, pilot):
        burst(app, "colon", "p", "o", "d", "s", "enter", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, PodsScreen), what=":pods")
        await pilot.press("colon", "d", "e", "p", "l", "o", "y", "enter", "enter")  # back to back, no waiting
        await wait_for(pilot, lambda: app.current_mode == "dashboard", what=":deploy")
        await still_answers(app, pilot)


async def test_two_enters_in_the_scale_form_submit_it_once(sb: SandboxThread, tmp_path: Path) -> None:
    async with dashboard(sb, tmp_path, PLAIN) as (app, pilot):
        await open_form(app, pilot, "s", "scale form")
        burst(app, "enter", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what=lambda: (
            f"one confirm dialog; screens now {[type(s).__name__ for s in app.screen_stack]}, "
            f"audit {[e['mode'] for e in audit(tmp_path)]}"))
        await pilot.pause(0.3)
        assert count(app, ConfirmDialog) == 1 and count(app, FormDialog) == 0
        # The first Enter submitted the form; the second went where the focus was then, the Deployments table,
        # whose Enter opens the selected Deployment — the dialog of the scale came over it. (On a loaded machine
        # the plan can be shown first: the second Enter, typed before the dialog existed, then answers nothing.)
        assert [type(s).__name__ for s in app.screen_stack] in (
            ["DashboardScreen", "DeploymentScreen", "ConfirmDialog"], ["DashboardScreen", "ConfirmDialog"])
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmDialog), what="dialog closed")
        await wait_for(pilot, lambda: any("Cancelled" in n.message for n in app._notifications), what="cancelled")
        assert [e["mode"] for e in audit(tmp_path)] == ["dry-run"], "planned once, nothing applied"
        await still_answers(app, pilot)


async def test_each_enter_moves_to_the_next_field_and_typing_follows_the_focus(sb: SandboxThread,
                                                                               tmp_path: Path) -> None:
    async with dashboard(sb, tmp_path) as (app, pilot):
        await open_form(app, pilot, "h", "HPA form")
        # min stays 2; max 8 → 9; no CPU target; the y typed after the last Enter is not an answer to anything
        # shown yet, and lands in no field.
        burst(app, "enter", "backspace", "9", "enter", "enter", "y")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog),
                       what=lambda: f"confirm dialog (screens {[type(s).__name__ for s in app.screen_stack]}, fields "
                            f"{[(i.id, i.value) for i in app.screen.query(Input)]}, notes "
                            f"{[n.message for n in app._notifications]})")
        plan = app.screen.plan  # type: ignore[attr-defined]
        assert plan.after["minReplicas"] == 2 and plan.after["maxReplicas"] == 9, plan.after
        await pilot.pause(0.3)
        assert isinstance(app.screen, ConfirmDialog), ("a y read before the dialog was shown does not confirm it",
                                                       audit(tmp_path), [n.message for n in app._notifications])
        assert [e["mode"] for e in audit(tmp_path)] == ["dry-run"]
        burst(app, "tab", "tab", "enter")  # the diff, Apply, then Cancel: enter does what the focused button says
        await wait_for(pilot, lambda: any("Cancelled" in n.message for n in app._notifications), what="cancelled")
        assert len(app.screen_stack) == 1
        assert [e["mode"] for e in audit(tmp_path)] == ["dry-run"], "Tab Tab Enter cancelled: nothing applied"
        await still_answers(app, pilot)


async def test_a_y_routed_before_the_confirmation_was_shown_answers_nothing(sb: SandboxThread,
                                                                           tmp_path: Path) -> None:
    """The other side of the race (CI of d89eeae, a loaded machine): the y was read and routed to the dashboard's
    table while the plan was still being made; nothing there took it, so it bubbled up to the app's bindings — by
    then the dialog's. A key typed before the confirmation was shown must not answer it on that path either."""
    async with dashboard(sb, tmp_path) as (app, pilot):
        table = app.screen.query_one("#deployments", DataTable)
        await open_form(app, pilot, "h", "HPA form")
        early = key_event("y")  # read now, with the form still open
        await pilot.press("enter", "enter", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="confirm dialog")
        table._forward_event(early)  # as App.on_event forwarded it when the dashboard still had the focus
        await pilot.pause(0.3)
        assert isinstance(app.screen, ConfirmDialog), "a y typed ahead confirmed a plan nobody had seen"
        assert [e["mode"] for e in audit(tmp_path)] == ["dry-run"]
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmDialog), what="cancelled")
        await still_answers(app, pilot)


async def test_a_y_typed_before_the_confirmation_was_shown_answers_nothing(sb: SandboxThread,
                                                                          tmp_path: Path) -> None:
    """Deterministic form of the race above: the y is read (stamped) before the plan is shown, and reaches the
    dialog only after it is — as when the dry-run answers before the key queue lets the y go."""
    async with dashboard(sb, tmp_path) as (app, pilot):
        await open_form(app, pilot, "h", "HPA form")
        early = key_event("y")  # read now, with the form still open
        await pilot.press("enter", "enter", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="confirm dialog")
        early.set_sender(app)
        app.post_message(early)
        await pilot.pause(0.3)
        assert isinstance(app.screen, ConfirmDialog), "a y typed ahead confirmed a plan nobody had seen"
        await pilot.press("y")  # read after it was shown: it answers
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmDialog), what="applied")
        await wait_for(pilot, lambda: [e["mode"] for e in audit(tmp_path)] == ["dry-run", "applied"],
                       what="applied once")
        await still_answers(app, pilot)


async def test_a_second_action_while_one_runs_is_refused(sb: SandboxThread, tmp_path: Path) -> None:
    async with dashboard(sb, tmp_path, PLAIN) as (app, pilot):
        burst(app, "s", "enter", "s", "r")  # the form submitted, then s and r while the scale is being planned
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the scale's dialog")
        await pilot.pause(0.3)
        assert count(app, ConfirmDialog) == 1 and count(app, FormDialog) == 0
        assert app.screen.plan.action == "scale"  # type: ignore[attr-defined]
        # s and r were read while the scale was being planned: each is refused, naming the open flow — or, on a
        # loaded machine where the plan was shown before it was handled, it was typed before the dialog existed
        # and answers nothing (so s may be refused and r not). Either way nothing else started.
        refusals = [n for n in app._notifications if "still open" in n.message]
        assert len(refusals) <= 2 and all("scale of deployment/claude-long-queue" in n.message
                                               for n in refusals)
        assert [e["mode"] for e in audit(tmp_path)] == ["dry-run"], "the scale planned once, nothing else"
        await pilot.press("escape")
        await wait_for(pilot, lambda: len(app.screen_stack) == 1, what="cancelled")
        await pilot.press("s")  # the flow is over: a new one may start
        await wait_for(pilot, lambda: isinstance(app.screen, FormDialog), what="a new scale form")
        await pilot.press("escape")
        await still_answers(app, pilot)


async def test_palette_down_enter_enter(sb: SandboxThread, tmp_path: Path) -> None:
    async with dashboard(sb, tmp_path) as (app, pilot):
        burst(app, "ctrl+p", "down", "enter", "enter")
        await pilot.pause(0.5)
        assert count(app, CommandPalette) <= 1
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette), what="palette")
        await pilot.pause(0.5)  # its commands are gathered
        await pilot.press("down", "enter", "enter")
        await pilot.pause(0.5)
        assert count(app, CommandPalette) == 0
        await still_answers(app, pilot)


async def test_ctrl_p_over_a_dialog_opened_over_the_palette(sb: SandboxThread, tmp_path: Path) -> None:
    async with dashboard(sb, tmp_path, PLAIN) as (app, pilot):
        await open_form(app, pilot, "s", "scale form")
        burst(app, "enter", "ctrl+p")  # the palette opens while the scale is planned; its dialog comes over it
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="confirm dialog")
        # (On a loaded machine the plan can be shown before the ctrl+p is handled: typed before the dialog existed,
        # it then opens nothing.)
        under = count(app, CommandPalette)
        assert under in (0, 1)
        burst(app, "ctrl+p", "ctrl+p")
        await pilot.press("ctrl+p", "ctrl+p")
        await pilot.pause(0.3)
        assert count(app, CommandPalette) == under and isinstance(app.screen, ConfirmDialog)
        await pilot.press("escape")  # the dialog: cancelled
        if not under:
            await wait_for(pilot, lambda: len(app.screen_stack) == 1, what="back on the dashboard")
            await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette), what="on the palette")
        await pilot.press("ctrl+p")
        await pilot.pause(0.2)
        assert count(app, CommandPalette) == 1
        await pilot.press("escape")
        await still_answers(app, pilot)


async def test_a_dismissed_dialog_ignores_later_keys(sb: SandboxThread, tmp_path: Path) -> None:
    async with dashboard(sb, tmp_path, PLAIN) as (app, pilot):
        await open_form(app, pilot, "s", "scale form")
        form = app.screen
        box = form.query_one(Input)
        box.post_message(Input.Submitted(box, box.value))  # two submits already on their way, as from two Enters
        box.post_message(Input.Submitted(box, box.value))
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="confirm dialog")
        dialog = app.screen
        dialog.dismiss(None)
        dialog.dismiss("apply")  # a late answer changes nothing
        form.dismiss({"replicas": "9"})
        await wait_for(pilot, lambda: len(app.screen_stack) == 1, what="closed")
        await pilot.pause(0.3)
        assert [e["mode"] for e in audit(tmp_path)] == ["dry-run"]
        await still_answers(app, pilot)


async def test_the_focused_button_is_plainly_marked(sb: SandboxThread, tmp_path: Path) -> None:
    async with dashboard(sb, tmp_path, PLAIN) as (app, pilot):
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="restart dialog")
        apply, cancel = app.screen.query_one("#apply", Button), app.screen.query_one("#cancel", Button)
        await pilot.press("tab")
        assert app.focused is apply
        assert apply.styles.border_top[0] == "thick" and cancel.styles.border_top[0] != "thick"
        accent = app.theme_variables["accent"]
        assert apply.styles.border_top[1].hex.lower() == accent.lower()
        await pilot.press("tab")
        assert app.focused is cancel and cancel.styles.border_top[0] == "thick"
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(app.screen_stack) == 1, what="cancelled")
        assert [e["mode"] for e in audit(tmp_path)] == ["dry-run"]
