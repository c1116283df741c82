"""A pick-one dialog: a list to choose from, narrowed by what is typed; optionally the typed text itself
(a namespace that cannot be listed for want of permission can still be typed)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from screens.widgets.dialogs import Dialog


class PickerDialog(Dialog[str | None]):
    """Answers the chosen entry (its id), the typed text when ``typed`` allows it, or None (esc)."""

    DEFAULT_CSS = """
    PickerDialog { align: center middle; }
    PickerDialog > Vertical { width: 72; height: auto; max-height: 80%; border: thick $accent;
                              background: $surface; padding: 1 2; }
    PickerDialog .picker-title { text-style: bold; }
    PickerDialog .picker-hint { color: $text-muted; }
    PickerDialog OptionList { height: auto; max-height: 20; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("down", "move(1)", show=False),
                Binding("up", "move(-1)", show=False)]

    def __init__(self, title: str, choices: list[tuple[str, str]], hint: str = "", typed: bool = False) -> None:
        super().__init__()
        self._title = title
        self.choices = choices  # (id, label)
        self._hint = hint
        self.typed = typed

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self._title, classes="picker-title")
            yield Input(placeholder="type to narrow" + (", or a name" if self.typed else ""), id="picker-input")
            yield OptionList(*self._options(""), id="picker-list")
            if self._hint:
                yield Label(self._hint, classes="picker-hint")

    def _options(self, text: str) -> list[Option]:
        text = text.strip().lower()
        return [Option(label, id=key) for key, label in self.choices if text in label.lower()]

    def on_input_changed(self, event: Input.Changed) -> None:
        options = self.query_one(OptionList)
        options.clear_options()
        options.add_options(self._options(event.value))
        if options.option_count:
            options.highlighted = 0

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        if options.option_count:
            options.highlighted = 0
        self.query_one(Input).focus()

    def action_move(self, step: int) -> None:
        options = self.query_one(OptionList)
        if options.option_count:
            at = 0 if options.highlighted is None else options.highlighted
            options.highlighted = max(0, min(options.option_count - 1, at + step))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        options = self.query_one(OptionList)
        typed = event.value.strip()
        exact = next((key for key, label in self.choices if key == typed), None)
        if exact is not None:
            self.dismiss(exact)
        elif options.highlighted is not None and options.option_count:
            self.dismiss(options.get_option_at_index(options.highlighted).id)
        elif typed and self.typed:
            self.dismiss(typed)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
