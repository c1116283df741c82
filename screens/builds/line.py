"""The dashboard's one line about the session's last image build (hidden until there is one)."""

from __future__ import annotations

from typing import Any

from textual.content import Content
from textual.widgets import Static

from console.builds.model import BuildRecord, BuildState
from console.core.units import decimal_size
from screens.builds.view import STATE_STYLE
from screens.host import host
from screens.widgets import tone


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


def last_build_line(r: BuildRecord) -> Content:
    """The dashboard's one line about the last build of the session."""
    parts: list[str | tuple[str, str]] = [("last build ", tone.MUTED), (f"#{r.number} {r.tag} ", "bold"),
                                          (r.state.value, STATE_STYLE[r.state])]
    if r.state is BuildState.RUNNING:
        parts.append((f"  step {r.step}/{r.total}" if r.total else "  starting", tone.WARNING))
    else:
        parts.append(f"  {r.seconds:.1f}s")
    if r.cached:
        parts.append((f"  {r.cached} steps from cache", tone.MUTED))
    if r.image:
        parts.append(f"  {decimal_size(r.image.size)}")
    if r.message and r.state is BuildState.FAILED:
        parts.append((f"  {r.message[:100]}", tone.ERROR))
    if r.pushed:
        parts.append(("  pushed " + ", ".join(r.pushed), tone.SUCCESS))
    parts.append(("   (:builds)", tone.MUTED))
    return Content.assemble(*parts)
