"""Redraws after cluster events are paced by their own cost (#16): a redraw comes at once when none was made for a
while, else after the redraws' smoothed time ÷ REDRAW_SHARE (a fifth of a core), never closer than REDRAW_MIN nor
further apart than REDRAW_MAX, and a burst of events waiting for one redraw makes one. The app's own timer calls are
recorded (the pacing decision), with a clock the test sets (console.app's ``time``)."""

from __future__ import annotations

from typing import Any

import pytest

import console.app as app_module
from console.app import REDRAW_MAX, REDRAW_MIN, REDRAW_SHARE, ClusterChanged
from tests.ui.test_snapshots import make_app


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now


@pytest.mark.parametrize("took", [0.001, 0.02, 0.1])
async def test_the_pause_between_redraws_follows_their_cost(took: float, monkeypatch: pytest.MonkeyPatch) -> None:
    app: Any = make_app()
    async with app.run_test() as pilot:
        await pilot.pause(0.2)
        clock = Clock()
        monkeypatch.setattr(app_module, "time", clock)
        timers: list[float] = []
        redraws: list[float] = []
        original_redraw = app._redraw

        def redraw() -> None:
            redraws.append(clock.now)
            original_redraw()
        app._redraw = redraw
        app.set_timer = lambda wait, callback: timers.append(wait)  # the pacing decision, not a real timer
        app._last_redraw, app._redraw_took, app._redraw_pending = 0.0, took, False
        app.on_cluster_changed(ClusterChanged())  # none for a long while: at once
        assert redraws == [clock.now] and timers == []
        app._redraw_took = took  # (the redraw just made is timed by the real clock: set the cost again)
        clock.now += 0.01
        for _ in range(5):  # a burst 10 ms after it: one redraw scheduled, after the rest of the pause
            app.on_cluster_changed(ClusterChanged())
        interval = min(REDRAW_MAX, max(REDRAW_MIN, took / REDRAW_SHARE))
        assert timers == [pytest.approx(interval - 0.01)], (took, timers)
        assert len(redraws) == 1
