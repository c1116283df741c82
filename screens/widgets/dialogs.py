"""Dialogs for actions: a small form for the action's input, and the confirm-with-diff dialog."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from console.core.model import ActionPlan
from screens.widgets import tone


class FormDialog(ModalScreen[dict[str, str] | None]):
    """Asks for an action's input: one labelled Input per field. Enter submits, Esc cancels."""

    DEFAULT_CSS = """
    FormDialog { align: center middle; }
    FormDialog > Vertical { width: 72; height: auto; border: thick $accent; background: $surface; padding: 1 2; }
    FormDialog .form-title { text-style: bold; margin-bottom: 1; }
    FormDialog .form-hint { color: $text-muted; }
    FormDialog Input { margin-bottom: 1; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, fields: list[tuple[str, str, str]], hint: str = "") -> None:
        super().__init__()
        self._title = title
        self._fields = fields  # (key, label, initial value)
        self._hint = hint

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self._title, classes="form-title")
            for key, label, value in self._fields:
                yield Label(label)
                yield Input(value=value, id=f"field-{key}")
            if self._hint:
                yield Label(self._hint, classes="form-hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        inputs = list(self.query(Input))
        index = inputs.index(event.input)
        if index + 1 < len(inputs):
            inputs[index + 1].focus()
            return
        self.dismiss({key: self.query_one(f"#field-{key}", Input).value.strip() for key, _, _ in self._fields})

    def action_cancel(self) -> None:
        self.dismiss(None)


def plan_summary(plan: ActionPlan) -> tone.RichContent:
    """What the confirm dialog shows: the kubectl equivalent, preflight, warnings and the diff (a Rich renderable:
    it is printed as well, wrapped as in the dialog)."""
    lines = [Content.assemble(("kubectl equivalent: ", tone.MUTED), (plan.kubectl, tone.bold(tone.INFO)))]
    if plan.preflight is not None:
        pf = plan.preflight
        style = tone.SUCCESS if pf.ok else tone.bold(tone.ERROR)
        lines.append(Content.assemble(("GPU preflight: ", tone.MUTED), (pf.message, style)))
        if pf.alternative and not pf.ok:
            lines.append(Content.assemble(("offered instead: ", tone.MUTED), (pf.alternative, tone.WARNING)))
    gate: Any = plan.compat
    if gate is not None:
        style = {"OK": tone.SUCCESS, "WARN": tone.bold(tone.WARNING), "UNKNOWN": tone.WARNING}.get(
            str(gate.level), tone.bold(tone.ERROR))
        if gate.blocked:
            lines.append(Content.styled("compatibility: FAIL — blocked: the new pods would crash on these nodes. "
                                        "Press f to force the rollout anyway.", tone.bold(tone.ERROR)))
            lines += [Content.styled(f"✕ {line}", tone.bold(tone.ERROR)) for line in gate.lines()
                      if line.startswith("FAIL")]
        else:
            lines.append(Content.assemble(("compatibility: ", tone.MUTED), (gate.summary, style)))
    for warning in plan.warnings:
        lines.append(Content.styled(f"⚠ {warning}", tone.bold(tone.WARNING)))
    lines.append(Content.styled("server dry-run diff (live → after):", tone.MUTED))
    lines.append(tone.code(plan.diff or "(no change)", "diff"))
    return tone.RichContent(Content("\n").join(lines))


class ConfirmDialog(ModalScreen[str | None]):
    """Shows a planned change and asks: apply it ("apply"), take an offered alternative (its id), or not.
    When the set-image compat gate FAILs, apply is replaced by an explicit force ("force", key f)."""

    DEFAULT_CSS = """
    ConfirmDialog { align: center middle; }
    ConfirmDialog > Vertical { width: 90%; max-width: 130; height: 90%; border: thick $warning;
                               background: $surface; padding: 0 1; }
    ConfirmDialog .confirm-title { text-style: bold; padding: 1 0; }
    ConfirmDialog VerticalScroll { height: 1fr; }
    ConfirmDialog Horizontal { height: auto; padding: 1 0 0 0; }
    ConfirmDialog Button { margin-right: 2; }
    """
    BINDINGS = [Binding("escape,n", "cancel", "Cancel"), Binding("y", "apply", "Apply"),
                Binding("f", "force", "Force", show=False)]

    def __init__(self, plan: ActionPlan) -> None:
        super().__init__()
        self.plan = plan
        self.blocked = bool(getattr(plan.compat, "blocked", False))

    def compose(self) -> ComposeResult:
        plan = self.plan
        with Vertical():
            yield Label(f"{plan.action} {plan.kind.lower()}/{plan.name} in {plan.namespace}?", classes="confirm-title")
            with VerticalScroll():
                yield Static(plan_summary(plan), id="plan-summary")
            with Horizontal():
                if self.blocked:
                    yield Button("Force despite FAIL (f)", variant="error", id="force")
                else:
                    yield Button("Apply (y)", variant="warning", id="apply")
                for alt_id, label in plan.alternatives:
                    yield Button(label, variant="primary", id=f"alt-{alt_id}")
                yield Button("Cancel (esc)", id="cancel")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        button = event.button.id or ""
        if button in ("apply", "force"):
            self.dismiss(button)
        elif button.startswith("alt-"):
            self.dismiss(button[4:])
        else:
            self.dismiss(None)

    def action_apply(self) -> None:
        if self.blocked:
            self.notify("The compatibility check says FAIL: press f to force the rollout, esc to cancel.",
                        severity="error")
            return
        self.dismiss("apply")

    def action_force(self) -> None:
        if self.blocked:
            self.dismiss("force")

    def action_cancel(self) -> None:
        self.dismiss(None)


class CommandPrompt(ModalScreen[str | None]):
    """``:`` command mode (k9s style): type a view alias such as ``deploy``, ``pods``, ``nodes``, ``hpa``."""

    DEFAULT_CSS = """
    CommandPrompt { align: center bottom; background: transparent; }
    CommandPrompt Input { width: 100%; border: tall $accent; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def compose(self) -> ComposeResult:
        yield Input(placeholder=":deploy  :pods  :nodes  :hpa  :help  :quit", id="command")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip().lstrip(":"))

    def action_cancel(self) -> None:
        self.dismiss(None)
