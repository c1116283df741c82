"""A read-only page of text: an object's YAML (highlighted in the theme's colours) or its describe."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Label, Static

from screens.widgets import tone
from screens.widgets.footer import KeyFooter
from screens.widgets.statusbar import StatusBar


class TextViewScreen(Screen[None]):
    """``y`` (YAML) and ``d`` (describe) on any row; ``esc`` goes back."""

    BINDINGS = [Binding("escape,q", "app.pop_screen", "Back")]

    def __init__(self, title: str, text: str, language: str | None = None) -> None:
        super().__init__()
        self.title_text, self.text, self.language = title, text, language

    def compose(self) -> ComposeResult:
        yield StatusBar()
        yield Label(self.title_text, classes="panel-title", id="text-title")
        with VerticalScroll(id="text-scroll"):
            yield Static(id="text-body")
        yield KeyFooter()

    def on_mount(self) -> None:
        tone.on_theme_change(self, self.draw)  # highlighted in the colours of the theme in use
        self.draw()
        self.query_one("#text-scroll").focus()

    def draw(self) -> None:
        body = tone.code(self.text, self.language) if self.language else Content(self.text)
        self.query_one("#text-body", Static).update(body)
