"""Only what is on screen redraws: a screen follows the cluster snapshot while it is shown, and a hidden one
(another mode is in front, or a screen covers it) only marks itself stale and catches up when it is shown again.

Every mode a user opened stays installed; without this, each cluster change would redraw the dashboard, ``:pods``,
``:hpa`` and any open deployment view at once, whichever one is in front.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from textual.screen import Screen
from textual.timer import Timer

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


class WakeAt:
    """Wakes a screen at a given time (when the first AGE it shows changes: a quiet cluster sends no event to
    redraw on, and an AGE of "5s" must not stay "5s"): one timer, kept for the earliest time asked, calling
    ``callback`` only while the screen is shown; one that came due while it was hidden calls it when shown again."""

    def __init__(self, screen: Screen[Any], callback: Callable[[], object]) -> None:
        self._screen = screen
        self._callback = callback
        self._timer: Timer | None = None
        self._at = math.inf
        self._missed = False
        screen.app.screen_change_signal.subscribe(screen, self._shown)

    def at(self, when: float, now: float) -> None:
        """Wake at epoch second ``when`` (inf: no need), unless already set to wake earlier."""
        if when >= self._at:
            return
        if self._timer is not None:
            self._timer.stop()
        self._at = when
        self._timer = self._screen.set_timer(max(0.05, when - now), self._due) if when != math.inf else None

    def _due(self) -> None:
        self._timer, self._at = None, math.inf
        if self._screen.is_current:
            self._callback()
        else:
            self._missed = True

    def _shown(self, _front: Screen[Any]) -> None:
        if self._missed and self._screen.is_current and self._screen.is_mounted:
            self._missed = False
            self._callback()
