"""A panel's title and status lines: text set only when it changed, and the status a resource's panel shows
(its problem, "connecting…", or how many rows are shown)."""

from __future__ import annotations

from weakref import WeakKeyDictionary

from rich.cells import cell_len
from textual.content import Content
from textual.widgets import Static

from console.core.model import ClusterSnapshot, ConnState
from screens.widgets import tone
from screens.widgets.filling import fingerprint

_TEXTS: WeakKeyDictionary[Static, tuple[object, int]] = WeakKeyDictionary()


def set_text(widget: Static, content: str | Content) -> None:
    """Show ``content`` in a title or status line, doing nothing when it already shows exactly that.

    ``Static.update`` always asks for a new layout of the whole screen, and a screen layout repaints every widget
    on it: on a redraw that changes one pod, an unchanged "Pods — namespace x" or "500 shown" made the screen
    repaint all of its lines. A text of another width still gets a layout (a label's width follows its text)."""
    width = content.cell_length if isinstance(content, Content) else cell_len(content)
    now = (fingerprint(content), width)
    before = _TEXTS.get(widget)
    if before == now:
        return
    _TEXTS[widget] = now
    widget.update(content, layout=not isinstance(before, tuple) or before[1] != width)


def panel_status(snap: ClusterSnapshot, resource: str, count: int, shown: int | None = None) -> Content:
    problem = snap.problem(resource)
    if problem:
        return Content.styled(problem, tone.bold(tone.ERROR))
    if resource not in snap.synced:
        if snap.connection.state is ConnState.ERROR:
            return Content.styled(snap.connection.message, tone.bold(tone.ERROR))
        return Content.styled("connecting…", tone.WARNING)
    if shown is not None and shown != count:
        return Content.styled(f"{shown} of {count} shown (filter)", tone.MUTED)
    return Content.styled(f"{count} shown", tone.MUTED)
