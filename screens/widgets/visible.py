"""Only what is on screen redraws: a screen follows the cluster snapshot while it is shown, and a hidden one
(another mode is in front, or a screen covers it) only marks itself stale and catches up when it is shown again.

Every mode a user opened stays installed; without this, each cluster change would redraw the dashboard, ``:pods``,
``:hpa`` and any open deployment view at once, whichever one is in front.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.screen import Screen

from console.core.model import ClusterSnapshot


def watch_snapshot(screen: Screen[Any], callback: Callable[[ClusterSnapshot], object]) -> None:
    """Call ``callback`` with the app's snapshot now and on each change while ``screen`` is shown (Textual's
    ``is_current``: in front, or under a dialog); while it is hidden, remember only that it is stale, and call
    ``callback`` once with the latest snapshot when it is shown again."""
    stale = False

    def changed(snap: ClusterSnapshot) -> None:
        nonlocal stale
        if screen.is_current:
            stale = False
            callback(snap)
        else:
            stale = True

    def shown(_front: Screen[Any]) -> None:
        nonlocal stale
        if stale and screen.is_current and screen.is_mounted:
            stale = False
            callback(screen.app.snapshot)  # type: ignore[attr-defined]

    screen.watch(screen.app, "snapshot", changed)
    screen.app.screen_change_signal.subscribe(screen, shown)
