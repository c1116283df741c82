"""What the guided deployment's steps show: the step bar, check tables, the plan and its diff, apply results,
the rollout's pods and the summary (Rich renderables from the deploy engine's reports), and the resume
dialog. The screen and its workers are in screens/wizard/screen.py."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from rich.console import Group
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from console.deploy.checks import Check, Status
from console.deploy.wizard import WIZARD_STEPS

STATUS_STYLE = {Status.OK: "bold green", Status.WARN: "bold yellow", Status.FAIL: "bold red", Status.SKIP: "dim"}
STATE_STYLE = {"new": "bold green", "changed": "bold yellow", "unchanged": "dim", "kept": "cyan"}
THEME = "ansi_dark"
WHY_WIDTH = 48  # the full FailedScheduling reasons are listed under the table
POD_COLUMNS = ("DEPLOYMENT", "POD", "STATUS", "READY", "NODE", "COLD START", "WHY")


def step_bar(step: int, done: set[int]) -> Text:
    """``1 Preflight ✓ › 2 Model & resources › …`` with the current step highlighted."""
    out = Text()
    for i, title in enumerate(WIZARD_STEPS, start=1):
        if i > 1:
            out.append("  ›  ", style="dim")
        mark = " ✓" if i in done and i != step else ""
        if i == step:
            out.append(f" {i} {title} ", style="bold reverse")
        else:
            out.append(f"{i} {title}{mark}", style="green" if i in done else "dim")
    return out


def checks_table(checks: Sequence[Check], deferred: Callable[[Check], bool] | None = None) -> Table:
    """One row per check: status (coloured), what was checked, the message and how to fix it. ``deferred``:
    failures shown as "step 2" (the form can fix them; checked again with its values)."""
    table = Table(box=None, show_header=True, header_style="bold", expand=True, pad_edge=False)
    table.add_column("STATUS", no_wrap=True, width=6)
    table.add_column("CHECK", no_wrap=True, style="bold")
    table.add_column("RESULT", ratio=1)
    for c in checks:
        message = Text(c.message)
        if c.fix:
            message.append(f"\nfix: {c.fix}", style="italic cyan")
        if deferred is not None and deferred(c):
            message.append("\n→ change it in step 2 (checked again with the form's values)", style="yellow")
        table.add_row(Text(c.status.value.upper(), style=STATUS_STYLE.get(c.status, "")), c.name, message)
    return table


def checks_summary(checks: Sequence[Check]) -> Text:
    counts = {s: sum(c.status is s for c in checks) for s in Status}
    out = Text()
    for status in (Status.OK, Status.WARN, Status.FAIL, Status.SKIP):
        if counts[status]:
            out.append(f"{counts[status]} {status.value}  ", style=STATUS_STYLE[status])
    return out


def plan_view(plan: Any) -> Group:
    """The plan: each object's state (new / changed / unchanged / kept) and the diff of what changes."""
    parts: list[Any] = []
    head = Text(plan.summary(), style="bold green" if not plan.changes else "bold")
    parts.append(head)
    table = Table(box=None, show_header=False, pad_edge=False, expand=True)
    table.add_column("state", no_wrap=True, width=10)
    table.add_column("object", ratio=1)
    for op in plan.objects:
        what = Text(op.ref)
        if op.state == "changed" and op.changed:
            what.append(f"  ({', '.join(op.changed[:4])}{', …' if len(op.changed) > 4 else ''})", style="dim")
        if op.note:
            what.append(f"\nnote: {op.note}", style="yellow")
        table.add_row(Text(op.state, style=STATE_STYLE.get(op.state, "")), what)
    parts.append(table)
    diffs = [op.diff.rstrip("\n") for op in plan.objects if op.state in ("changed", "kept") and op.diff]
    if diffs:
        parts.append(Text("\ndiff against what is live (live → rendered):", style="dim"))
        parts.append(Syntax("\n".join(diffs), "diff", theme=THEME, word_wrap=True))
    elif not plan.changes:
        parts.append(Text("\nno changes: applying sends nothing.", style="green"))
    else:
        parts.append(Text("\nthe new objects are shown in full in their files (left).", style="dim"))
    return Group(*parts)


def apply_view(report: Any) -> Group:
    """A dry-run's or an apply's results: failures in red, objects the server could not check noted."""
    ok_style = "bold green" if report.ok else "bold red"
    title = "server dry-run" if report.mode == "dry-run" else "apply"
    parts: list[Any] = [Text.assemble((f"{title}: ", "bold"), (report.message, ok_style))]
    unchecked = [r for r in report.results if r.ok and not r.checked]
    for r in report.results:
        if not r.ok:
            parts.append(Text(f"✕ {r.message}", style="bold red"))
        elif r.checked:
            parts.append(Text(f"✓ {r.message}", style="green"))
    if unchecked:  # the same reason for each: say it once
        why = unchecked[0].message.split(" — ", 1)[-1]
        parts.append(Text(f"· not checked by the server yet ({', '.join(r.ref for r in unchecked)}): {why}",
                          style="dim"))
    for ref in report.rolled_back:
        parts.append(Text(f"↶ rolled back: {ref} deleted", style="yellow"))
    if report.mode == "applied" and not report.ok:
        parts.append(Text("nothing is left half-applied: fix the cause, go back (b) if the values need it, "
                          "and apply again", style="yellow"))
    return Group(*parts)


def yaml_view(text: str) -> Syntax:
    return Syntax(text, "yaml", theme=THEME, word_wrap=False, line_numbers=False)


def verdict_line(report: Any) -> Text:
    out = Text()
    for _name, verdict in report.verdicts:
        style = "bold green" if verdict.done else ("bold red" if verdict.failed else "yellow")
        out.append(verdict.message + "\n", style=style)
    if getattr(report, "timed_out", False):
        out.append("still in progress when the wizard stopped following it (r follows again)\n", style="yellow")
    return out


def pod_cells(pod: Any, waited: float | None) -> tuple[object, ...]:
    """One pod of a RolloutReport; ``waited``: seconds since the wizard first saw it (not Ready yet)."""
    if pod.ready and pod.cold_start_s is not None:
        cold = Text(f"{pod.cold_start_s:.0f} s", style="green", justify="left")
    elif waited is not None:
        cold = Text(f"{waited:.0f} s and counting", style="yellow", justify="left")
    else:
        cold = Text("-", style="dim", justify="left")
    status = Text(pod.status, justify="left", style="green" if pod.ready else ("bold red" if pod.status not in (
        "Pending", "ContainerCreating", "Running", "PodInitializing") else "yellow"))
    return (pod.deployment, pod.name, status, "yes" if pod.ready else "no", pod.node or "-", cold,
            Text(shorten(pod.why or "", WHY_WIDTH), style="red" if pod.why else "", justify="left"))


def shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def scheduling_view(messages: Iterable[str]) -> Text:
    out = Text()
    for m in messages:
        out.append("FailedScheduling: ", style="bold red")
        out.append(m + "\n")
    return out


def lines_view(title: str, lines: Iterable[str], style: str = "") -> Text:
    out = Text(title + "\n", style="bold")
    for line in lines:
        out.append(f"  {line}\n", style=style)
    return out


class ResumeDialog(ModalScreen[bool]):
    """A saved, unfinished guided deployment: resume it (True) or start over (False, the file is discarded)."""

    DEFAULT_CSS = """
    ResumeDialog { align: center middle; }
    ResumeDialog > Vertical { width: 90; height: auto; border: thick $accent; background: $surface; padding: 1 2; }
    ResumeDialog .resume-title { text-style: bold; margin-bottom: 1; }
    ResumeDialog Horizontal { height: auto; margin-top: 1; }
    ResumeDialog Button { margin-right: 2; }
    """
    BINDINGS = [Binding("r,y,enter", "answer(True)", "Resume"), Binding("s,n,escape", "answer(False)", "Start over")]

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Resume the guided deployment?", classes="resume-title")
            yield Static(self.text, id="resume-text")
            with Horizontal():
                yield Button("Resume (r)", variant="primary", id="resume")
                yield Button("Start over (s)", id="start-over")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "resume")

    def action_answer(self, resume: bool) -> None:
        self.dismiss(resume)
