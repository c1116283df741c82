"""What the guided deployment's steps show: the step bar, check tables, the plan and its diff, apply results,
the rollout's pods and the summary (Rich renderables from the deploy engine's reports), and the resume
dialog. The screen and its workers are in screens/wizard/screen.py."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from rich.console import Group
from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import Button, Label, Static

from console.deploy.checks import Check, Status
from console.deploy.wizard import WIZARD_STEPS
from screens.widgets import tone
from screens.widgets.dialogs import Dialog

STATUS_STYLE = {Status.OK: tone.bold(tone.SUCCESS), Status.WARN: tone.bold(tone.WARNING),
                Status.FAIL: tone.bold(tone.ERROR), Status.SKIP: tone.MUTED}
STATE_STYLE = {"new": tone.bold(tone.SUCCESS), "changed": tone.bold(tone.WARNING), "unchanged": tone.MUTED,
               "kept": tone.INFO}
WHY_WIDTH = 48  # the full FailedScheduling reasons are listed under the table
POD_COLUMNS = ("DEPLOYMENT", "POD", "STATUS", "READY", "NODE", "COLD START", "WHY")


def step_bar(step: int, done: set[int]) -> Content:
    """``1 Preflight ✓ › 2 Model & resources › …`` with the current step highlighted."""
    parts: list[tuple[str, str]] = []
    for i, title in enumerate(WIZARD_STEPS, start=1):
        if i > 1:
            parts.append(("  ›  ", tone.MUTED))
        mark = " ✓" if i in done and i != step else ""
        if i == step:
            parts.append((f" {i} {title} ", "bold reverse"))
        else:
            parts.append((f"{i} {title}{mark}", tone.SUCCESS if i in done else tone.MUTED))
    return Content.assemble(*parts)


def checks_table(checks: Sequence[Check], deferred: Callable[[Check], bool] | None = None) -> Table:
    """One row per check: status (coloured), what was checked, the message and how to fix it. ``deferred``:
    failures shown as "step 2" (the form can fix them; checked again with its values)."""
    table = Table(box=None, show_header=True, header_style="bold", expand=True, pad_edge=False)
    table.add_column("STATUS", no_wrap=True, width=6)
    table.add_column("CHECK", no_wrap=True, style="bold")
    table.add_column("RESULT", ratio=1)
    for c in checks:
        message = Content(c.message)
        if c.fix:
            message += Content.styled(f"\nfix: {c.fix}", f"italic {tone.INFO}")
        if deferred is not None and deferred(c):
            message += Content.styled("\n→ change it in step 2 (checked again with the form's values)", tone.WARNING)
        table.add_row(tone.rich(Content.styled(c.status.value.upper(), STATUS_STYLE.get(c.status, ""))), c.name,
                      tone.rich(message))
    return table


def checks_summary(checks: Sequence[Check]) -> Content:
    counts = {s: sum(c.status is s for c in checks) for s in Status}
    return Content.assemble(*((f"{counts[status]} {status.value}  ", STATUS_STYLE[status])
                              for status in (Status.OK, Status.WARN, Status.FAIL, Status.SKIP) if counts[status]))


def plan_view(plan: Any) -> Group:
    """The plan: each object's state (new / changed / unchanged / kept) and the diff of what changes."""
    parts: list[Any] = []
    head = Content.styled(plan.summary(), tone.bold(tone.SUCCESS) if not plan.changes else "bold")
    parts.append(tone.rich(head))
    table = Table(box=None, show_header=False, pad_edge=False, expand=True)
    table.add_column("state", no_wrap=True, width=10)
    table.add_column("object", ratio=1)
    for op in plan.objects:
        what = Content(op.ref)
        if op.state == "changed" and op.changed:
            what += Content.styled(f"  ({', '.join(op.changed[:4])}{', …' if len(op.changed) > 4 else ''})",
                                   tone.MUTED)
        if op.note:
            what += Content.styled(f"\nnote: {op.note}", tone.WARNING)
        table.add_row(tone.rich(Content.styled(op.state, STATE_STYLE.get(op.state, ""))), tone.rich(what))
    parts.append(table)
    diffs = [op.diff.rstrip("\n") for op in plan.objects if op.state in ("changed", "kept") and op.diff]
    if diffs:
        parts.append(tone.rich(Content.styled("\ndiff against what is live (live → rendered):", tone.MUTED)))
        parts.append(tone.rich(tone.code("\n".join(diffs), "diff")))
    elif not plan.changes:
        parts.append(tone.rich(Content.styled("\nno changes: applying sends nothing.", tone.SUCCESS)))
    else:
        parts.append(tone.rich(Content.styled("\nthe new objects are shown in full in their files (left).",
                                              tone.MUTED)))
    return Group(*parts)


def apply_view(report: Any) -> Content:
    """A dry-run's or an apply's results: failures in the error tone, objects the server could not check noted."""
    ok_style = tone.bold(tone.SUCCESS) if report.ok else tone.bold(tone.ERROR)
    title = "server dry-run" if report.mode == "dry-run" else "apply"
    lines = [Content.assemble((f"{title}: ", "bold"), (report.message, ok_style))]
    unchecked = [r for r in report.results if r.ok and not r.checked]
    for r in report.results:
        if not r.ok:
            lines.append(Content.styled(f"✕ {r.message}", tone.bold(tone.ERROR)))
        elif r.checked:
            lines.append(Content.styled(f"✓ {r.message}", tone.SUCCESS))
    if unchecked:  # the same reason for each: say it once
        why = unchecked[0].message.split(" — ", 1)[-1]
        lines.append(Content.styled(f"· not checked by the server yet ({', '.join(r.ref for r in unchecked)}): {why}",
                                    tone.MUTED))
    for ref in report.rolled_back:
        lines.append(Content.styled(f"↶ rolled back: {ref} deleted", tone.WARNING))
    if report.mode == "applied" and not report.ok:
        lines.append(Content.styled("nothing is left half-applied: fix the cause, go back (b) if the values need it, "
                                    "and apply again", tone.WARNING))
    return Content("\n").join(lines)


def yaml_view(text: str) -> Any:
    """A rendered file, highlighted; long lines are cut, not wrapped (as in an editor)."""
    return tone.rich(tone.code(text, "yaml"), wrap=False)


def verdict_line(report: Any) -> Content:
    parts: list[tuple[str, str]] = []
    for _name, verdict in report.verdicts:
        style = tone.bold(tone.SUCCESS) if verdict.done else (tone.bold(tone.ERROR) if verdict.failed else tone.WARNING)
        parts.append((verdict.message + "\n", style))
    if getattr(report, "timed_out", False):
        parts.append(("still in progress when the wizard stopped following it (r follows again)\n", tone.WARNING))
    return Content.assemble(*parts)


def pod_cells(pod: Any, waited: float | None) -> tuple[object, ...]:
    """One pod of a RolloutReport; ``waited``: seconds since the wizard first saw it (not Ready yet)."""
    if pod.ready and pod.cold_start_s is not None:
        cold = Content.styled(f"{pod.cold_start_s:.0f} s", tone.SUCCESS)
    elif waited is not None:
        cold = Content.styled(f"{waited:.0f} s and counting", tone.WARNING)
    else:
        cold = Content.styled("-", tone.MUTED)
    status = Content.styled(pod.status, tone.SUCCESS if pod.ready else (tone.bold(tone.ERROR) if pod.status not in (
        "Pending", "ContainerCreating", "Running", "PodInitializing") else tone.WARNING))
    return (pod.deployment, pod.name, status, "yes" if pod.ready else "no", pod.node or "-", cold,
            Content.styled(shorten(pod.why or "", WHY_WIDTH), tone.ERROR if pod.why else ""))


def shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def scheduling_view(messages: Iterable[str]) -> Content:
    parts: list[str | tuple[str, str]] = []
    for m in messages:
        parts += [("FailedScheduling: ", tone.bold(tone.ERROR)), m + "\n"]
    return Content.assemble(*parts)


def lines_view(title: str, lines: Iterable[str], style: str = "") -> Content:
    return Content.assemble((title + "\n", "bold"), *((f"  {line}\n", style) for line in lines))


class ResumeDialog(Dialog[bool]):
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
