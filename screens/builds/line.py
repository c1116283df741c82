"""The dashboard's one line about the session's last image build (hidden until there is one)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Static

from console.builds.model import BuildRecord, BuildState
from console.core.units import decimal_size
from screens.builds.view import STATE_STYLE
from screens.host import host


class LastBuildLine(Static):
    """Follows ``app.last_build`` (a BuildRecord, set by the Builds screen)."""

    DEFAULT_CSS = """
    LastBuildLine { height: 1; width: 100%; padding: 0 1; }
    """

    def __init__(self) -> None:
        super().__init__("", id="last-build")

    def on_mount(self) -> None:
        self.display = False
        self.watch(host(self), "last_build", self._show)

    def _show(self, record: Any) -> None:
        self.display = record is not None
        if record is not None:
            self.update(last_build_line(record))


def last_build_line(r: BuildRecord) -> Text:
    """The dashboard's one line about the last build of the session."""
    text = Text("last build ", style="dim")
    text.append(f"#{r.number} {r.tag} ", style="bold")
    text.append(r.state.value, style=STATE_STYLE[r.state])
    if r.state is BuildState.RUNNING:
        text.append(f"  step {r.step}/{r.total}" if r.total else "  starting", style="yellow")
    else:
        text.append(f"  {r.seconds:.1f}s")
    if r.cached:
        text.append(f"  {r.cached} steps from cache", style="dim")
    if r.image:
        text.append(f"  {decimal_size(r.image.size)}")
    if r.message and r.state is BuildState.FAILED:
        text.append(f"  {r.message[:100]}", style="red")
    if r.pushed:
        text.append("  pushed " + ", ".join(r.pushed), style="green")
    text.append("   (:builds)", style="dim")
    return text
