"""The screens' colours, by meaning: every style here names Textual theme variables (``$text-error``,
``$warning`` …), never a colour, so a light theme stays as readable as the dark one.

The screens build :class:`textual.content.Content` with these styles; Textual resolves the variables when it
draws, against the theme in use (``Static``/``Label.update`` take Content as is, and redraw on a theme change).
Foreground colours are the theme's ``$text-*`` variants: the base colours (``$warning`` …) are meant for
backgrounds and are too pale for text on a light theme.

The widgets that only take Rich renderables — ``DataTable`` cells, ``RichLog`` lines, a Rich ``Table`` or
``Group`` — get the Content through :func:`rich`: a Rich renderable that resolves the variables when it is
rendered, from the running app's stylesheet. A ``DataTable`` re-renders its cells on a theme change by itself;
a ``RichLog`` keeps what it drew, so its screen writes the lines again (``on_theme_change``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from pygments.token import Token
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.segment import Segment
from rich.style import Style as RichStyle
from textual.content import Content
from textual.highlight import HighlightTheme, highlight
from textual.style import Style
from textual.widget import Widget

ERROR = "$text-error"  # failed, refused, unreachable, over the alarm line
WARNING = "$text-warning"  # pending, slow, degraded, needs a look
SUCCESS = "$text-success"  # OK, ready, rolled out, pushed
INFO = "$text-primary"  # hints and fixes, informative values (HPA, stages, progress)
UNKNOWN = "$text-primary"  # no verdict either way
ACCENT = "$text-accent"  # stands apart from the rest: audit entries, the checker's own errors
ALARM = "$error"  # the error colour itself: a chart's alert line
MUTED = "dim"  # secondary text: labels, ages, "-"
CRITICAL = "bold $text on $error"  # a badge: critical alerts
ALERT = "bold $text on $warning"  # a badge: PAUSED, SANDBOX, alerts firing
NOTICE = "bold $text on $primary"  # a badge: READ-ONLY
MATCH = "bold $text on $accent"  # a search hit
DEFAULT = "$foreground"  # plain text, where a colour must be given


def bold(style: str) -> str:
    """The same tone, bold."""
    return f"bold {style}"


class CodeTheme(HighlightTheme):
    """Textual's code highlighting (theme variables), with a diff's added and removed lines in the success and
    error tones."""

    STYLES = {**HighlightTheme.STYLES, Token.Generic.Inserted: SUCCESS, Token.Generic.Deleted: ERROR,
              Token.Generic.Heading: bold(INFO), Token.Generic.Subheading: INFO}


def code(text: str, language: str) -> Content:
    """Source (YAML, a diff) highlighted with the theme's colours."""
    return highlight(text, language=language, theme=CodeTheme)


# ---- Rich renderables --------------------------------------------------------------------------------------
def _parse(style: str | Style) -> Style:
    try:
        return Style.parse(style) if isinstance(style, str) else style
    except Exception:  # no running app (a test printing with a plain Console): no colour, the text stays
        return Style.null()


def rich_style(style: str) -> RichStyle:
    """A style of this module as a Rich style, in the colours of the theme in use now."""
    return _parse(style).rich_style


def _line_segments(line: Content, base: Style) -> Iterable[Segment]:
    """One line of Content as Rich segments, its theme variables resolved now.

    ``$text`` is "auto": a colour contrasting with the background, which a Rich segment does not have (the
    widget's is put under it). ``base`` gives the theme's background to contrast with; it is taken off again.
    """
    for text, style in line.render(base, end="", parse_style=_parse):
        segment_style = style.rich_style
        if base.background is not None and style.background == base.background:
            segment_style = segment_style.without_color + RichStyle.from_color(segment_style.color)
        yield Segment(text, segment_style)


def segments(line: Content) -> list[Segment]:
    """One line of Content as Rich segments in the current theme's colours (for a line-API widget's strips,
    which it rebuilds on a theme change: see :func:`on_theme_change`)."""
    return list(_line_segments(line, _parse("on $background")))


class RichContent:
    """Content as a Rich renderable (for the widgets that do not take Content): its theme variables are
    resolved when Rich renders it, from the running app. ``str()`` is the plain text, as for Rich ``Text``.

    ``wrap=False``: lines longer than the room are cut, not wrapped (a log keeps one line per line).
    """

    __slots__ = ("content", "wrap")

    def __init__(self, content: Content, wrap: bool = True) -> None:
        self.content = content
        self.wrap = wrap

    def __str__(self) -> str:
        return self.content.plain

    def __repr__(self) -> str:
        return f"RichContent({self.content!r})"

    @property
    def plain(self) -> str:
        return self.content.plain

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        lines = self.content.expand_tabs().plain.split("\n")
        widest = max(cell_len(line) for line in lines)
        longest_word = max((cell_len(word) for line in lines for word in line.split()), default=0)
        return Measurement(longest_word if self.wrap else widest, widest)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        content = self.content.expand_tabs()
        if self.wrap and not options.no_wrap:
            lines = content.wrap(options.max_width)
        else:
            lines = content.split("\n", allow_blank=True)
        base = _parse("on $background")
        for line in lines:  # each line ends with a new line, as a Rich Text's do
            yield from _line_segments(line, base)
            yield Segment.line()


def rich(value: Any, wrap: bool = True) -> Any:
    """Content as a Rich renderable (see :class:`RichContent`); anything else as it is."""
    return RichContent(value, wrap) if isinstance(value, Content) else value


def cells(values: Iterable[Any]) -> tuple[Any, ...]:
    """A DataTable row's cells: Content made renderable for the table, the rest as it is."""
    return tuple(rich(value) for value in values)


def on_theme_change(widget: Widget, callback: Callable[[], Any]) -> None:
    """Call ``callback`` after the app's theme changed and its variables are in effect (for what a widget
    drew once and keeps: a RichLog's lines, a chart's cached strips)."""
    widget.app.theme_changed_signal.subscribe(widget, lambda _theme: callback())
