"""The resource table every screen shows: a DataTable whose drawing costs what changed, not what is shown.

Screens fill it with :func:`screens.widgets.filling.fill_table` (and ``patch_table``), which change only the rows
that differ.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import count
from typing import Any

from rich.protocol import is_renderable
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual._two_way_dict import TwoWayDict
from textual.geometry import Region, Size, Spacing
from textual.strip import Strip
from textual.widgets import DataTable
from textual.widgets.data_table import CellKey, CellType, ColumnKey, RowDoesNotExist, RowKey

_VERSIONS = count(1)  # a row's content version: new on every add and cell change, never reused


class ResourceTable(DataTable[Any]):
    """The one table widget: a ``DataTable`` whose drawing costs what changed, not what is shown.

    Textual's DataTable keys every cached cell and line on one counter that each change bumps, so one changed
    cell redraws every visible cell (Rich rendering per cell: ~10 ms per event for a screenful). Here each row is
    drawn once per content version into a Strip, kept under its key; a frame only crops the kept strips and lays
    the zebra style over them (the pointer's row is found from its position: see ``_with_row``). A changed cell
    repaints its own line only. Rows are one line high, with no fixed rows or columns and no row labels: tables that
    need those are drawn by DataTable itself.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._versions: dict[RowKey, int] = {}
        self._row_keys: dict[str, RowKey] = {}  # each row's key object by its value (patch_table's reordering)
        self._strips: dict[RowKey, tuple[tuple[object, ...], Strip]] = {}
        self._header: tuple[tuple[object, ...], Strip] | None = None
        self._only_row: int | None = None  # update_cell's repaint: this row's line, not the whole table
        self._tall = False  # a row higher than one line was added: DataTable draws this table
        self._frame: tuple[Style, tuple[int, ...], Style | None, Style | None] | None = None
        self._resized_from: Size | None = None  # the virtual size before _update_dimensions (see refresh)
        super().__init__(*args, **kwargs)

    # -- content changes: a new version for the row, its line repainted -------------------------------------------
    def add_row(self, *cells: CellType, height: int | None = 1, key: str | None = None,
                label: Any = None) -> RowKey:
        row_key = super().add_row(*cells, height=height, key=key, label=label)
        self._tall = self._tall or height != 1 or label is not None
        self._versions[row_key] = next(_VERSIONS)
        self._row_keys[str(row_key.value)] = row_key
        return row_key

    def update_cell(self, row_key: RowKey | str, column_key: ColumnKey | str, value: CellType, *,
                    update_width: bool = False) -> None:
        key = RowKey(row_key) if isinstance(row_key, str) else row_key
        index = self._row_locations.get(key)
        self._only_row = None if update_width or index is None or not self._simple() else index
        try:
            super().update_cell(key, column_key, value, update_width=update_width)
        finally:
            self._only_row = None
        self._versions[key] = next(_VERSIONS)

    def remove_row(self, row_key: RowKey | str) -> None:
        key = RowKey(row_key) if isinstance(row_key, str) else row_key
        super().remove_row(key)
        self._forget(key)

    def _forget(self, key: RowKey) -> None:
        self._versions.pop(key, None)
        self._strips.pop(key, None)
        self._row_keys.pop(str(key.value), None)

    def place_rows(self, keys: Sequence[str], dropped: Iterable[str] = ()) -> None:
        """Drop the rows ``dropped`` and put the others in the order of ``keys`` (each row's key once): one
        reordering of the row index. DataTable's ``remove_row`` walks every row in Python to shift the rows
        below (O(rows) per removed row); here the index is made once, at C speed, from the keys in order."""
        dropped = list(dropped)
        for value in dropped:
            if value not in self._row_keys:
                raise RowDoesNotExist(f"Row key {value!r} is not valid.")
        if len(keys) != len(self.rows) - len(dropped):
            raise ValueError("place_rows: the keys are not the table's rows")
        for value in dropped:
            key = self._row_keys[value]
            for column_key in self._data[key]:
                self._updated_cells.discard(CellKey(key, column_key))
            del self.rows[key], self._data[key]
            self._forget(key)
        located = zip(map(self._row_keys.__getitem__, keys), range(len(keys)), strict=True)
        self._row_locations = TwoWayDict(dict(located))
        self._require_update_dimensions = True
        self.cursor_coordinate = self.cursor_coordinate  # clamped to the rows left
        self.hover_coordinate = self.hover_coordinate
        self._update_count += 1
        self.check_idle()
        self.refresh()  # rows that came or went change the virtual size, and that asks for the layout

    def clear(self, columns: bool = False) -> ResourceTable:
        super().clear(columns)
        self._versions.clear()
        self._row_keys.clear()
        self._strips.clear()
        self._header = None
        self._tall = False
        return self

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        self._resized_from = self.virtual_size
        try:
            super()._update_dimensions(new_rows)
        finally:
            self._resized_from = None

    def _grew_inside(self) -> bool:
        """Whether the virtual size DataTable has just set (more or fewer rows) leaves the screen's layout as it was:
        only the height changed, and this table's height is set by its container, not by its rows."""
        before, after = self._resized_from, self.virtual_size
        height = self.styles.height
        return (before is not None and before.width == after.width and height is not None and not height.is_auto
                and self.size.height > 0 and not getattr(self, "_anchored", False))  # (anchored: the layout scrolls)

    def refresh(self, *regions: Any, repaint: bool = True, layout: bool = False,
                recompose: bool = False) -> ResourceTable:
        if layout and not regions and not recompose and self._grew_inside():
            # A row came or went (the virtual size is a layout reactive): Textual would lay out and repaint the whole
            # screen (15-25 ms), and a key pressed meanwhile waits for it. The table's box stays the same, so update
            # its scrollbars (one shown or hidden asks for the layout itself) and repaint the table alone.
            self._resized_from = None
            self._scroll_update(self.virtual_size)
            layout = False
        if self._only_row is not None and not regions and not layout and not recompose:
            # Rows are one line each here (_simple), so the row's line is at its index: no O(rows) offset sum.
            y = self._only_row + (1 if self.show_header else 0) - self.scroll_offset.y
            if 0 <= y < self.size.height:
                super().refresh(Region(0, y, self.size.width, 1))
            return self
        super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)
        return self

    def notify_style_update(self) -> None:
        self._strips.clear()  # theme, focus or CSS changed: every kept strip has the old colours
        self._header = None
        super().notify_style_update()

    @property
    def _y_offsets(self) -> Any:  # type: ignore[override]
        """DataTable's line → (row key, line in row) list, which it builds again, O(rows), after every change (55 ms
        at 10,000 rows). Rows are one line here, so line y is row y: a view over the row index instead."""
        if self._tall:
            return DataTable._y_offsets.fget(self)  # type: ignore[attr-defined]
        return _OneLineRows(self)

    def _get_row_region(self, row_index: int) -> Region:
        """DataTable sums the heights of every row above (O(rows), on each cursor move); rows are one line here."""
        if self._tall or not self.is_valid_row_index(row_index):
            return super()._get_row_region(row_index)
        width = sum(column.get_render_width(self) for column in self.columns.values()) + self._row_label_column_width
        return Region(0, row_index + (self.header_height if self.show_header else 0), max(self.size.width, width), 1)

    def _get_cell_region(self, coordinate: Any) -> Region:
        """As :meth:`_get_row_region`: the cell's line is its row's index."""
        if self._tall or not self.is_valid_coordinate(coordinate):
            return super()._get_cell_region(coordinate)
        row_index, column_index = coordinate
        x = sum(column.get_render_width(self) for column in self.ordered_columns[:column_index])
        width = self.columns[self._column_locations.get_key(column_index)].get_render_width(self)
        y = row_index + (self.header_height if self.show_header else 0)
        return Region(x + self._row_label_column_width, y, width, 1)

    def _get_fixed_offset(self) -> Spacing:
        """DataTable lists every row in order (O(rows) after each change) to sum the fixed rows' heights."""
        if self.fixed_rows:
            return super()._get_fixed_offset()
        left = sum(column.get_render_width(self) for column in self.ordered_columns[:self.fixed_columns])
        return Spacing(self.header_height if self.show_header else 0, 0, 0, left + self._row_label_column_width)

    # -- drawing ---------------------------------------------------------------------------------------------------
    def _simple(self) -> bool:
        return not (self._tall or self.fixed_rows or self.fixed_columns or self.header_height != 1)

    def _cell_segments(self, value: object, width: int, style: Style) -> list[Segment]:
        """One cell as segments exactly ``width`` cells wide: padding, content cropped or padded, one line."""
        if isinstance(value, str):
            value = Text.from_markup(value)  # DataTable's reading of a plain string (fill_table never passes one)
        elif value is None:
            value = Text("")
        elif not is_renderable(value):
            value = Text(str(value))
        pad = self.cell_padding
        inner = max(0, width - 2 * pad)
        console = self.app.console
        if isinstance(value, Text):
            drawn: Iterable[Segment] = value.render(console)
        else:
            options = self.app.console_options.update(width=inner, min_width=inner, max_width=inner, height=1,
                                                      no_wrap=True)
            drawn = next(Segment.split_lines(console.render(value, options)), [])
        if style:
            drawn = Segment.apply_style(drawn, style)
        line = Segment.adjust_line_length(list(drawn), inner, style, pad=True)
        return [Segment(" " * pad, style), *line, Segment(" " * pad, style)] if pad else line

    def _draw(self, cells: Sequence[object], style: Style, post: Style | None) -> Strip:
        """One row's strip, every column in order; each cell carries its column index for mouse clicks."""
        segments: list[Segment] = []
        width = 0
        for index, (column, value) in enumerate(zip(self.ordered_columns, cells, strict=False)):
            column_width = column.get_render_width(self)
            meta = Style.from_meta({"column": index})
            drawn = self._cell_segments(value, column_width, style)
            segments.extend(Segment.apply_style(drawn, None, post + meta if post else meta))
            width += column_width
        rest = max(0, self.size.width - width)
        segments.append(Segment(" " * rest, style + Style.from_meta({"column": 0, "out_of_bounds": True})))
        return Strip(segments, width + rest)

    def _widths(self) -> tuple[int, ...]:
        return (self.size.width, *(column.get_render_width(self) for column in self.ordered_columns))

    def _header_strip(self, widths: tuple[int, ...]) -> Strip:
        signature = (widths, tuple(str(column.label) for column in self.ordered_columns))
        if self._header is None or self._header[0] != signature:
            style = self.rich_style + self.get_component_rich_style("datatable--header")
            strip = self._draw([column.label for column in self.ordered_columns], style, None)
            self._header = (signature, strip.apply_meta({"row": -1}))
        return self._header[1]

    def _row_strip(self, key: RowKey, index: int, widths: tuple[int, ...]) -> Strip:
        cursor: object = None
        if self.show_cursor and index == self.cursor_row:
            cursor = {"row": "row", "cell": self.cursor_column}.get(self.cursor_type)
        signature = (self._versions.get(key), widths, cursor, self.has_focus)
        kept = self._strips.get(key)
        if kept is None or kept[0] != signature:
            row = self._data.get(key, {})
            cells = [row.get(column.key) for column in self.ordered_columns]
            if cursor == "row":
                strip = self._draw(cells, self._cursor_style(), self._cursor_post())
            elif cursor is not None:  # a cell cursor: that cell in the cursor's colours, the rest as they are
                strip = self._draw_cell_cursor(cells, int(str(cursor)))
            else:
                strip = self._draw(cells, Style(), None)
            kept = (signature, strip)
            self._strips[key] = kept
        return kept[1]

    def _cursor_style(self) -> Style:
        return self.get_component_rich_style("datatable--cursor")

    def _cursor_post(self) -> Style:
        cursor = self._cursor_style()
        post = Style.null()
        if self.cursor_foreground_priority == "css":
            post += Style.from_color(color=cursor.color)
        if self.cursor_background_priority == "css":
            post += Style.from_color(bgcolor=cursor.bgcolor)
        return post

    def _draw_cell_cursor(self, cells: Sequence[object], column: int) -> Strip:
        plain = self._draw(cells, Style(), None)
        marked = self._draw(cells, self._cursor_style(), self._cursor_post())
        offsets = [0]
        for each in self.ordered_columns:
            offsets.append(offsets[-1] + each.get_render_width(self))
        if column >= len(self.ordered_columns):
            return plain
        start, end = offsets[column], offsets[column + 1]
        return Strip.join([plain.crop(0, start), marked.crop(start, end), plain.crop(end)])

    def render_lines(self, crop: Region) -> list[Strip]:
        # What every line of this frame shares, computed once per frame instead of once per line.
        self._frame = (self.rich_style, self._widths(),
                       self.get_component_rich_style("datatable--even-row") if self.zebra_stripes else None,
                       self.get_component_rich_style("datatable--odd-row") if self.zebra_stripes else None)
        try:
            return super().render_lines(crop)
        finally:
            self._frame = None

    def render_line(self, y: int) -> Strip:
        if not self._simple():
            return super().render_line(y)
        frame = self._frame or (self.rich_style, self._widths(), None, None)
        base, widths, even, odd = frame
        width = self.size.width
        scroll_x, scroll_y = self.scroll_offset
        if self.show_header:
            if y == 0:
                return self._header_strip(widths).crop_extend(scroll_x, scroll_x + width, base)
            y -= 1
        index = y + scroll_y
        if index >= self.row_count:
            return Strip.blank(width, base)
        key = self._row_locations.get_key(index)
        row_style = base
        if self.zebra_stripes:
            zebra = odd if index % 2 else even
            row_style = base + (zebra if zebra is not None else
                                self.get_component_rich_style("datatable--odd-row" if index % 2
                                                              else "datatable--even-row"))
        # No per-line "row" meta (laying it over a line's segments cost ~0.2 ms a line, and a new row moves every
        # line below it): the mouse handlers below find the row from the pointer's position instead. The styled
        # line and its crop are cached inside the kept strip (Strip keeps both per style and crop).
        strip = self._row_strip(key, index, widths).apply_style(row_style)
        return strip.crop_extend(scroll_x, scroll_x + width, base)

    def _with_row(self, event: events.MouseEvent) -> None:
        """Give the event the ``row`` meta DataTable's own mouse handling reads (the simple drawing leaves it out
        of the lines): the row under the pointer, from its position, the header line being row -1."""
        meta = event.style.meta
        if not self._simple() or not meta or "column" not in meta or "row" in meta:
            return
        offset = event.get_content_offset(self)
        if offset is None:
            return
        y = offset.y - (1 if self.show_header else 0)
        if y < 0:
            return
        index = y + self.scroll_offset.y
        if index < self.row_count:
            event.style = event.style + Style.from_meta({"row": index})

    # Textual calls these before DataTable's own handlers of the same events (each class of the MRO in turn).
    def _on_mouse_move(self, event: events.MouseMove) -> None:
        self._with_row(event)

    def _on_click(self, event: events.Click) -> None:  # type: ignore[override]
        self._with_row(event)


class _OneLineRows:
    """``DataTable._y_offsets`` for a table whose rows are one line each: line y is row y, at offset 0."""

    def __init__(self, table: DataTable[Any]) -> None:
        self._table = table

    def __len__(self) -> int:
        return self._table.row_count

    def __getitem__(self, y: int) -> tuple[RowKey, int]:
        if not 0 <= y < self._table.row_count:
            raise IndexError(y)
        return self._table._row_locations.get_key(y), 0

    def clear(self) -> None:  # DataTable.clear() empties its cached list; there is nothing to empty here
        pass
