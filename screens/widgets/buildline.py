"""The dashboard's one line about the session's last image build (hidden until there is one)."""

from __future__ import annotations

from typing import Any

from textual.widgets import Static

from screens.builds_view import last_build_line


class LastBuildLine(Static):
    """Follows ``app.last_build`` (a BuildRecord, set by the Builds screen)."""

    DEFAULT_CSS = """
    LastBuildLine { height: 1; width: 100%; padding: 0 1; }
    """

    def __init__(self) -> None:
        super().__init__("", id="last-build")

    def on_mount(self) -> None:
        self.display = False
        if hasattr(self.app, "last_build"):
            self.watch(self.app, "last_build", self._show)

    def _show(self, record: Any) -> None:
        self.display = record is not None
        if record is not None:
            self.update(last_build_line(record))
