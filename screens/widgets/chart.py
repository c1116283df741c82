"""Braille history charts (nvitop's style: two samples per cell, a self-adjusting scale) and the small
text pieces the metric panels share: sparklines, framebuffer bars and the data's freshness.

The plot is computed once per data change or resize into cached strips; drawing a frame only hands
them out, so a chart costs nothing between refreshes (tests/bench measures a frame).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

from rich.segment import Segment
from rich.style import Style
from textual.content import Content
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

from console.core.metrics import MetricsError, Series
from screens.widgets import tone
from screens.widgets.statusbar import age_text

# Braille dot bits by (column in cell, row in cell from the top).
_DOTS = ((0x01, 0x02, 0x04, 0x40), (0x08, 0x10, 0x20, 0x80))
SPARK = "▁▂▃▄▅▆▇█"
# Theme variables, resolved when drawn: p99 in the error tone, the alert line in the theme's error colour itself
# (as the tail and its limit were magenta and red), the others in the success, warning and info tones.
COLOURS = {"p50": tone.SUCCESS, "p95": tone.WARNING, "p99": tone.ERROR, "ttft_p95": tone.INFO,
           "max": tone.WARNING, "mean": tone.INFO, "fb": tone.SUCCESS}
THRESHOLD = tone.ALARM
AXIS_STYLE = Style(dim=True)
LABEL_WIDTH = 8


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 × 10^k at or above ``value`` (a scale a person reads at a glance)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= value * (1 - 1e-9))


def scale_max(series: Sequence[Series], threshold: float | None, floor: float = 0.0) -> float:
    """Top of the y axis: the data's peak, and the threshold line with some room above it."""
    peak = max((v for s in series for _, v in s.points), default=0.0)
    return nice_ceiling(max(peak, (threshold or 0.0) * 1.15, floor))


def plot(series: Sequence[Series], start: float, end: float, top: float, width: int, height: int,
         threshold: float | None = None) -> list[list[tuple[int, int]]]:
    """Braille cells (bits, colour index: -1 threshold, else the series' index) for a plot area.

    Each series gets one column of dots per half cell; points sharing a column keep their highest
    value (a spike never disappears), and consecutive columns are joined by a vertical run.
    """
    cols, rows = 2 * width, 4 * height
    grid = [[(0, -2)] * width for _ in range(height)]
    span = max(end - start, 1e-9)

    def put(x: int, y: int, colour: int) -> None:
        row = rows - 1 - y
        cell_row, dot_row = divmod(row, 4)
        bits, old = grid[cell_row][x // 2]
        grid[cell_row][x // 2] = (bits | _DOTS[x % 2][dot_row], colour if colour >= 0 or old < 0 else old)

    if threshold is not None and 0 <= threshold <= top:
        y = min(rows - 1, round(threshold / top * (rows - 1)))
        for x in range(cols):
            if x % 4 < 2:  # dashed
                put(x, y, -1)
    for index, s in enumerate(series):
        column: dict[int, float] = {}
        for t, v in s.points:
            if start <= t <= end:
                x = min(cols - 1, int((t - start) / span * (cols - 1) + 0.5))
                column[x] = max(v, column.get(x, v))
        previous: int | None = None
        for x in sorted(column):
            y = max(0, min(rows - 1, round(column[x] / top * (rows - 1))))
            low, high = (y, y) if previous is None else (min(y, previous), max(y, previous))
            for yy in range(low, high + 1):
                put(x, yy, index)
            previous = y
    return grid


def sparkline(values: Sequence[float], width: int, top: float | None = None) -> str:
    """Block-character history, the last ``width`` values, scaled 0..top (default: their peak)."""
    values = list(values)[-width:]
    if not values:
        return ""
    peak = top if top else max(max(values), 1e-9)
    chars = [SPARK[max(0, min(len(SPARK) - 1, int(v / peak * (len(SPARK) - 1) + 0.5)))] for v in values]
    return "".join(chars)


def level_style(percent: float, warn: float = 60.0, alarm: float = 80.0) -> str:
    """The success, warning or error tone by the alert lines (utilisation, memory, temperature)."""
    return tone.bold(tone.ERROR) if percent >= alarm else tone.WARNING if percent >= warn else tone.SUCCESS


def bar(percent: float, width: int = 10) -> Content:
    """``█████▌     61%``: a framebuffer bar, in the error tone from the 80 % line."""
    filled = max(0.0, min(percent, 100.0)) / 100 * width
    blocks = "█" * int(filled) + ("▌" if filled - int(filled) >= 0.5 else "")
    return Content.assemble((blocks, level_style(percent)), ("░" * (width - len(blocks)), tone.MUTED),
                            (f" {percent:3.0f}%", level_style(percent)))


def freshness(at: float | None, error: MetricsError | None, now: float | None = None) -> Content:
    """What a panel says about its data: its age, or plainly why there is none (and how old the rest is)."""
    now = time.time() if now is None else now
    age = None if at is None else max(0.0, now - at)
    if error is not None:
        text = Content.styled(error.message, tone.bold(tone.ERROR))
        if age is not None:
            text += Content.styled(f" (data {age_text(age)})", tone.MUTED)
        return text
    if age is None:
        return Content.styled("waiting for data…", tone.WARNING)
    return Content.styled(f"data {age_text(age)}", tone.MUTED)


def seconds_label(value: float) -> str:
    return f"{value * 1000:.0f}ms" if value < 1 else f"{value:.2g}s" if value < 10 else f"{value:.0f}s"


def percent_label(value: float) -> str:
    return f"{value:.0f}%"


class Chart(Widget):
    """A titled braille chart with a threshold line and its data's freshness; ``show()`` feeds it."""

    DEFAULT_CSS = """
    Chart { height: 12; width: 1fr; }
    """

    def __init__(self, title: str, *, threshold: float | None = None, threshold_label: str = "",
                 label: Callable[[float], str] = percent_label, floor: float = 0.0, id: str | None = None) -> None:
        super().__init__(id=id)
        self.title = title
        self.threshold = threshold
        self.threshold_label = threshold_label
        self.label = label
        self.floor = floor
        self.series: tuple[Series, ...] = ()
        self.window_s = 900.0
        self.end = 0.0
        self.at: float | None = None
        self.error: MetricsError | None = None
        self.note = ""
        self.clock: Callable[[], float] = time.time  # tests fix it, so snapshots do not age
        self._strips: list[Strip] = []
        self._built_for: tuple[int, int] = (0, 0)

    def on_mount(self) -> None:
        self.set_interval(1.0, self._tick)  # the age keeps counting between refreshes
        tone.on_theme_change(self, self._restyle)  # the cached strips hold the old theme's colours

    def _restyle(self) -> None:
        self._built_for = (0, 0)
        self.refresh()

    def _tick(self) -> None:
        if self.screen.is_current and self._strips:
            self._strips[0] = self._header(self.size.width)
            self.refresh(Region(0, 0, self.size.width, 1))

    def show(self, series: Sequence[Series] | None, at: float | None, error: MetricsError | None,
             window_s: float, note: str = "") -> None:
        """New data (None keeps the last lines, e.g. while Prometheus is unreachable)."""
        if series is not None:
            self.series = tuple(series)
            self.at = at
            # The axis ends at the newest data: stale data stays where it was drawn, its age in the header.
            self.end = at if at is not None else self.clock()
        self.error, self.window_s, self.note = error, window_s, note
        self._built_for = (0, 0)
        self.refresh()

    @property
    def plot_width(self) -> int:
        """Cells of plot area (what a range query's step is computed for)."""
        return max(self.size.width - LABEL_WIDTH, 10)

    # ---- drawing --------------------------------------------------------------------------------
    def _header(self, width: int) -> Strip:
        parts: list[str | tuple[str, str]] = [(self.title, "bold")]
        for s in self.series:
            if s.points:
                parts += [(f"  ● {s.name} ", COLOURS.get(s.name, tone.DEFAULT)), self.label(s.points[-1][1])]
        if self.threshold is not None and self.threshold_label:
            parts.append((f"  ┄ {self.threshold_label}", THRESHOLD))
        status = freshness(self.at, self.error, self.clock())
        if self.note:
            status = Content.styled(self.note + "  ", tone.MUTED) + status
        room = max(width - status.cell_length - 1, 0)
        text = Content.assemble(*parts).truncate(room, pad=True)
        # The widget's own style (the theme's colours) goes under every line: not the terminal's background.
        return Strip(tone.segments(text + " " + status), width).crop(0, width).apply_style(self.rich_style)

    def build(self, width: int, height: int) -> list[Strip]:
        """Every line of the chart for this size (header, plot rows, time axis)."""
        strips = [self._header(width)]
        rows = max(height - 2, 1)
        cells = max(width - LABEL_WIDTH, 1)
        top = scale_max(self.series, self.threshold, self.floor)
        start = self.end - self.window_s
        grid = plot(self.series, start, self.end, top, cells, rows, self.threshold)
        styles = [tone.rich_style(COLOURS.get(s.name, tone.DEFAULT)) for s in self.series]
        threshold_style = tone.rich_style(THRESHOLD)
        base = self.rich_style
        dots = 4 * rows - 1
        marks = {(dots - round(v / top * dots)) // 4: v for v in (0.0, top / 2, top)}  # the row each value is in
        for r, line in enumerate(grid):
            label = f"{self.label(marks[r]):>{LABEL_WIDTH - 2}} ┤" if r in marks else " " * (LABEL_WIDTH - 1) + "│"
            segments = [Segment(label, AXIS_STYLE)]
            run, run_style = [], None
            for bits, colour in line:
                style = None if not bits else threshold_style if colour == -1 else styles[colour]
                if style is not run_style and run:
                    segments.append(Segment("".join(run), run_style))
                    run = []
                run_style = style
                run.append(chr(0x2800 + bits) if bits else " ")
            if run:
                segments.append(Segment("".join(run), run_style))
            strips.append(Strip(segments, width).apply_style(base))
        minutes = self.window_s / 60
        span = f"-{minutes:.0f}m" if minutes < 60 else f"-{minutes / 60:.0f}h"
        axis = " " * (LABEL_WIDTH - 1) + "└" + span.ljust(max(cells - 3, 0)) + "now"
        strips.append(Strip([Segment(axis[:width], AXIS_STYLE)], width).apply_style(base))
        return strips

    def render_line(self, y: int) -> Strip:
        width, height = self.size.width, self.size.height
        if self._built_for != (width, height):
            self._strips = self.build(width, height)
            self._built_for = (width, height)
        return self._strips[y] if y < len(self._strips) else Strip.blank(width, self.rich_style)
