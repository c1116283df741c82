"""The keyboard help: every binding of the app and of the screen underneath, generated, not typed."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from screens.widgets import tone

EXTRA = (
    ("ctrl+p", "Command palette"),
)


def binding_rows(bindings: list[tuple[str, str]]) -> Table:
    table = Table(box=None, show_header=True, header_style="bold", expand=True)
    table.add_column("Key", no_wrap=True)
    table.add_column("Action")
    for key, desc in bindings:
        table.add_row(tone.rich(Content.styled(key, tone.bold(tone.INFO))), desc)
    return table


class HelpScreen(ModalScreen[None]):
    """``?``: what each key does here."""

    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close help")]

    def __init__(self, bindings: list[tuple[str, str]]) -> None:
        super().__init__()
        self.rows = bindings

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static("[b]llmctl — keys[/b]  (esc closes)", id="help-title")
            yield Static(binding_rows([*self.rows, *EXTRA]), id="help-table")
