"""Dialogs for actions: a small form for the action's input, and the confirm-with-diff dialog.

A dialog answers once: keys that reach it after its answer (a second Enter read with the first) change
nothing, and closing it closes whatever was opened over it, so the flow waiting for the answer always gets one.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from textual._time import get_time  # the clock Textual stamps events with (Message.time)
from textual.app import ComposeResult
from textual.await_complete import AwaitComplete
from textual.binding import Binding
from textual.command import CommandPalette
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen, Screen, ScreenResultType
from textual.suggester import Suggester
from textual.widgets import Button, Input, Label, Static

from console.core.model import ActionPlan
from screens.widgets import tone


class DismissOnce:
    """Mix into a Screen: :meth:`dismiss` takes effect once, and only while the screen is open in the current mode.

    Textual's ``dismiss`` pops whatever screen is on top and hands the answer to whoever waits: called twice (two
    Enters in one read), it pops the screen underneath as well and answers a second time (``ScreenStackError``,
    ``InvalidStateError``). Here a second call does nothing; a screen with others opened over it closes them first
    (each answered None); and an answer nobody waits for any more (its worker was cancelled) just closes it.
    """

    _answered = False

    def dismiss(self, result: Any = None) -> AwaitComplete:
        screen: Screen[Any] = self  # type: ignore[assignment]
        stack = screen.app.screen_stack
        if self._answered or screen not in stack or screen is stack[0]:
            return AwaitComplete.nothing()
        self._answered = True
        for above in reversed(stack[stack.index(screen) + 1:]):
            above.dismiss(None)
        callbacks = screen._result_callbacks
        if callbacks and callbacks[-1].future is not None and callbacks[-1].future.done():
            return screen.app.pop_screen()
        return super().dismiss(result)  # type: ignore[misc]


class Dialog(DismissOnce, ModalScreen[ScreenResultType]):
    """A modal dialog of the console: answers once; its focused button is plainly marked."""

    DEFAULT_CSS = """
    Dialog Button:focus { border-top: thick $accent !important; border-bottom: thick $accent !important;
                          text-style: bold reverse; }
    """


class AsksOnce:
    """A confirmation: only keys read after it was shown can answer it. A ``y`` typed ahead — read with the Enter
    that submitted a form, before the plan was ready — must not confirm a change the user has not seen;
    :meth:`typed_ahead` tells the app to let such a key go (screens.keyqueue hands keys over one at a time, so a
    key typed ahead can reach the dialog only late)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.shown_at = get_time()  # made when the plan is ready, just before it is pushed

    def typed_ahead(self, event_time: float) -> bool:
        return event_time < self.shown_at


class Palette(DismissOnce, CommandPalette):
    """Textual's command palette (ctrl+p), answering once like the console's dialogs."""


class FormDialog(Dialog[dict[str, str] | None]):
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


def plain(value: object) -> str:
    """A value as a person writes it: ``true``/``false``, ``(none)`` for nothing, numbers and quantities as text,
    ``key=value`` pairs for a mapping (never a Python repr such as ``True`` or ``None``)."""
    if value is None or value == "" or value == {} or value == [] or value == ():
        return "(none)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={plain(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(plain(v) for v in value)
    return str(value)


def change_lines(before: Mapping[str, Any], after: Mapping[str, Any], prefix: str = "") -> list[str]:
    """What a planned change changes, one ``field old → new`` per changed field (nested fields dotted)."""
    out: list[str] = []
    for key in dict.fromkeys([*before, *after]):
        old, new = before.get(key), after.get(key)
        if isinstance(old, Mapping) and isinstance(new, Mapping):
            out += change_lines(old, new, f"{prefix}{key}.")
        elif old != new:
            out.append(f"{prefix}{key} {plain(old)} → {plain(new)}")
    return out


def plan_summary(plan: ActionPlan) -> tone.RichContent:
    """What the confirm dialog shows: the kubectl equivalent, preflight, warnings and the diff (a Rich renderable:
    it is printed as well, wrapped as in the dialog)."""
    lines = [Content.assemble(("kubectl equivalent: ", tone.MUTED), (plan.kubectl, tone.bold(tone.INFO)))]
    changes = change_lines(plan.before, plan.after)
    if changes:
        lines.append(Content.assemble(("changes: ", tone.MUTED), ("; ".join(changes), "bold")))
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


class ConfirmDialog(AsksOnce, Dialog[str | None]):
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


class LineSuggester(Suggester):
    """Suggests the first whole line ``complete`` offers for what is typed (asked afresh each time: the words
    behind it — resource types, namespaces — arrive while the prompt is open)."""

    def __init__(self, complete: Callable[[str], list[str]]) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.complete = complete

    async def get_suggestion(self, value: str) -> str | None:
        if not value:
            return None
        return next((c for c in self.complete(value) if len(c) > len(value)), None)


class CommandPrompt(Dialog[str | None]):
    """``:`` command mode (k9s style): a command, a view alias (``deploy``, ``pods``) or any resource type, with
    completion: the suggestion is shown greyed, ``tab`` takes it, and the other candidates are listed below."""

    DEFAULT_CSS = """
    CommandPrompt { align: center bottom; background: transparent; }
    CommandPrompt Input { width: 100%; border: tall $accent; }
    CommandPrompt #command-candidates { width: 100%; height: auto; max-height: 3; background: $panel;
                                        color: $text-muted; padding: 0 1; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("tab", "accept", "Complete", priority=True)]
    MAX_SHOWN = 12

    def __init__(self, complete: Callable[[str], list[str]] | None = None) -> None:
        super().__init__()
        self.complete = complete or (lambda _line: [])

    def compose(self) -> ComposeResult:
        yield Label("", id="command-candidates")
        yield Input(placeholder=":deploy  :pods  :rs  :svc  :ns NAME  :ctx NAME  :help  (tab completes)", id="command",
                    suggester=LineSuggester(self.complete))

    def on_input_changed(self, event: Input.Changed) -> None:
        shown = self.complete(event.value) if event.value else []
        more = f"  (+{len(shown) - self.MAX_SHOWN} more)" if len(shown) > self.MAX_SHOWN else ""
        self.query_one("#command-candidates", Label).update(
            "  ".join(f":{c}" for c in shown[:self.MAX_SHOWN]) + more)

    def action_accept(self) -> None:
        box = self.query_one(Input)
        candidates = self.complete(box.value) if box.value else []
        if candidates:
            common = os.path.commonprefix(candidates)  # noqa: RUF071 (characters, as a shell completes)
            box.value = common if len(common) > len(box.value) else candidates[0]
            box.cursor_position = len(box.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip().lstrip(":"))

    def action_cancel(self) -> None:
        self.dismiss(None)
