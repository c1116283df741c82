"""The screens' colours come from the Textual theme (screens/widgets/tone.py): with a light theme, a critical
alert, an error status and OK verdicts are drawn in that theme's colours, and no screen draws a literal colour
("red", "green" …: the terminal's palette or the CSS colour of that name, unreadable on a light background).

Fixed data (the snapshots' static services); the theme is switched while the app runs, so the screens that keep
what they drew (the build log, the charts) are checked to redraw as well.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.color import ColorType
from rich.segment import Segment
from textual.color import Color
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import DataTable, Input

from console.builds.model import BuildRequest
from console.config import Settings
from tests.builds.test_builds_snapshot import REF, RecordedBuilds
from tests.ui.helpers import console_app, rows, wait_for
from tests.ui.static_compat import CANDIDATE, StaticCompat
from tests.ui.static_metrics import StaticMetrics
from tests.ui.test_alerts_ui import AlertingCluster
from tests.ui.test_snapshots import SIZE, AllowAll


def drawn(screen: Screen[Any]) -> Iterator[tuple[Widget, Segment]]:
    """Every segment the screen's visible widgets draw, as the widgets give them (before Textual's own
    ANSI-to-truecolor filter, which would hide a literal "red" behind the terminal theme's RGB); and every cell
    of its tables, drawn alone (under the cursor, or scrolled away, a cell's own colours are not seen)."""
    for widget in screen.walk_children(Widget):
        if not widget.display or not widget.region.area:
            continue
        for y in range(widget.size.height):
            for segment in widget.render_line(y):
                yield widget, segment
        if isinstance(widget, DataTable):
            for index in range(widget.row_count):
                for cell in widget.get_row_at(index):
                    for segment in widget.app.console.render(cell):
                        yield widget, segment


# A literal colour drawn by Rich (Text(style="red")) stays a terminal-palette colour; one in a Textual style
# (Content.styled(..., "red")) becomes the CSS colour of that name.
NAMED = ("red", "green", "yellow", "cyan", "magenta", "blue", "lime")
CSS_NAMED = {Color.parse(name).hex.lower(): name for name in NAMED}


def literal_colours(screen: Screen[Any]) -> set[str]:
    """The literal colours any segment of the screen uses: the 16 ANSI colours (by name or number) and the CSS
    colours named red, green, yellow, cyan, magenta, blue."""
    found = set()
    for widget, segment in drawn(screen):
        style = segment.style
        for colour in (style.color, style.bgcolor) if style else ():
            if colour is None:
                continue
            ansi = colour.type is ColorType.STANDARD or (
                colour.type is ColorType.EIGHT_BIT and (colour.number or 0) < 16)
            if ansi or hex_of(colour) in CSS_NAMED:
                name = colour.name if ansi else CSS_NAMED[hex_of(colour) or ""]
                found.add(f"{name} in {type(widget).__name__}#{widget.id}: {segment.text!r}")
    return found


def hex_of(colour: Any) -> str | None:
    return None if colour is None or colour.triplet is None else colour.triplet.hex.lower()


def segment_with(screen: Screen[Any], text: str, widget_type: type[Widget] = Widget) -> Segment:
    """The first drawn segment holding ``text``."""
    for widget, segment in drawn(screen):
        if isinstance(widget, widget_type) and text in segment.text:
            return segment
    raise AssertionError(f"{text!r} is not drawn on {type(screen).__name__}")


def theme_colour(app: Any, variable: str) -> str:
    return Color.parse(app.theme_variables[variable]).hex.lower()


async def test_a_light_theme_draws_every_screen_in_its_own_colours(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM nvidia/cuda:12.2.2-runtime-ubuntu22.04\nCOPY app.py /app/\n")
    app = console_app(AlertingCluster(), Settings(builtin_rules=False), actions=AllowAll(), metrics=StaticMetrics(),
                      compat=StaticCompat(), builds=RecordedBuilds())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.3)
        app.clear_notifications()
        # A build run under the dark theme: its log lines are drawn once, and must follow the switch.
        app.switch_mode("builds")
        await pilot.pause(0.2)
        app.screen.begin_build(BuildRequest(str(tmp_path), tags=(REF,)))
        await wait_for(pilot, lambda: rows(app.screen.query_one("#builds-list", DataTable))[0][1] == "succeeded",
                       what="the recorded build")
        dark_success = theme_colour(app, "text-success")

        app.theme = "textual-light"
        await pilot.pause(0.3)
        theme = app.current_theme
        assert not theme.dark
        error, text_error, text_success = (theme_colour(app, "error"), theme_colour(app, "text-error"),
                                           theme_colour(app, "text-success"))
        # $error is the theme's error colour (through Textual's colour system: ±1 per channel from rounding).
        assert max(abs(x - y) for x, y in zip(Color.parse(error).rgb, Color.parse(theme.error or "").rgb,
                                               strict=True)) <= 1
        assert text_success != dark_success

        builds = app.screen
        assert hex_of(segment_with(builds, "built registry.local").style.color) == text_success, "the log redrawn"
        assert not literal_colours(builds)

        await app.switch_mode("dashboard")
        await pilot.pause(0.3)
        dashboard = app.screen
        badge = segment_with(dashboard, "critical ")  # " ▲ 4 firing, 3 critical " in the status bar
        assert hex_of(badge.style.bgcolor) == error, "a critical alert: the theme's error colour"
        assert hex_of(segment_with(dashboard, "FAILED: progress deadline", DataTable).style.color) == text_error
        assert hex_of(segment_with(dashboard, "rolled out", DataTable).style.color) == text_success
        assert not literal_colours(dashboard)
        await pilot.press("enter")  # the Deployment under the cursor
        await pilot.pause(0.3)
        assert type(app.screen).__name__ == "DeploymentScreen" and not literal_colours(app.screen)
        await pilot.press("escape")

        await pilot.press("exclamation_mark")
        await pilot.pause(0.3)
        alerts = app.screen
        table = alerts.query_one("#alerts-table", DataTable)
        table.move_cursor(row=table.row_count - 1)  # the cursor's colours off the critical rows
        await pilot.pause(0.1)
        assert hex_of(segment_with(alerts, " critical ", DataTable).style.bgcolor) == error
        assert not literal_colours(alerts)

        await app.switch_mode("compat")
        compat = app.screen
        matrix = compat.query_one("#compat-matrix", DataTable)
        await wait_for(pilot, lambda: matrix.row_count == 3, what="matrix")
        compat.query_one("#candidate", Input).value = CANDIDATE
        compat.query_one("#candidate", Input).focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: matrix.row_count == 4, what="candidate")
        matrix.move_cursor(row=3, column=0)  # the cursor's colours off the verdicts
        await pilot.pause(0.3)
        assert hex_of(segment_with(compat, "✓ OK", DataTable).style.color) == text_success, "OK verdicts"
        assert hex_of(segment_with(compat, "✕ FAIL", DataTable).style.color) == text_error
        assert not literal_colours(compat)

        for mode in ("gpu", "latency"):
            await app.switch_mode(mode)
            await pilot.pause(0.5)
            assert not literal_colours(app.screen), mode
