"""The resource tables every screen shows: filling one in place while keeping the cursor, and the panel status line.

:func:`fill_table` is the one way a screen puts rows in a ``DataTable``. It keeps, per table, the cells it last
showed under each row key (a name or UID), and on a redraw touches only what changed: ``update_cell`` for a
changed cell, ``add_row`` / ``remove_row`` for rows that came or went, and one reordering of the row index
when the order changed (a sort key moved) — never a clear-and-refill of a table whose rows mostly stayed.
Text cells are plain ``Text`` (a pod name is never parsed as markup); Content cells are drawn in the theme's
colours. The table shown is the same as a rebuild from the same rows would give.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from weakref import WeakKeyDictionary

from rich.cells import cell_len
from rich.text import Text
from textual._two_way_dict import TwoWayDict
from textual.content import Content
from textual.widgets import DataTable
from textual.widgets.data_table import RowKey

from console.core.model import ClusterSnapshot, ConnState
from screens.widgets import tone

Row = tuple[str, tuple[object, ...]]
# What each table shows now: its column keys, and row key → the cells' fingerprints (compared with the next fill's).
_SHOWN: WeakKeyDictionary[DataTable[Any], tuple[list[Any], dict[str, tuple[object, ...]]]] = WeakKeyDictionary()
_REBUILD_SHARE = 0.5  # more rows added or removed than this share of the table: a rebuild is cheaper


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


def cell(value: object) -> object:
    """What a DataTable gets for a cell: text as plain ``Text`` (no markup parsing, ever), Content as a
    renderable in the theme's colours, anything else as it is."""
    if isinstance(value, str):
        return Text(value, end="", no_wrap=True)
    return tone.rich(value)


def fingerprint(value: object) -> object:
    """What decides whether a cell must be redrawn: its text and its styles (Content's own ``==`` compares
    the text only, so a row turning from bold to muted would be missed)."""
    if isinstance(value, Content):
        return (Content, value.plain, value.spans)  # Content is immutable: its span list is never changed
    return value


def _grows(table: DataTable[Any], column: Any, value: object) -> bool:
    """Whether a new cell is wider than its column: only then must the table measure widths again (a narrower
    cell would make DataTable measure every cell of the column, O(rows) per changed cell)."""
    if isinstance(value, str):
        width = cell_len(value)
    elif isinstance(value, Content):
        width = value.cell_length
    else:
        return True
    return width > table.columns[column].content_width


def _rebuild(table: DataTable[Any], rows: Sequence[Row]) -> None:
    table.clear()
    for key, cells in rows:
        table.add_row(*(cell(v) for v in cells), key=key)


def _same_order(table: DataTable[Any], rows: Sequence[Row]) -> bool:
    locations = table._row_locations
    return all(locations.get(RowKey(key)) == index for index, (key, _) in enumerate(rows))


def fill_table(table: DataTable[Any], rows: Sequence[Row]) -> None:
    """Show ``rows`` (key, cells), in this order, changing only what differs from what the table shows;
    the cursor stays on the row it was on (by key)."""
    cursor_key = None
    if table.row_count and table.cursor_row < table.row_count:
        cursor_key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
    columns = [column.key for column in table.ordered_columns]
    columns_then, shown = _SHOWN.get(table) or ([], {})
    if columns_then != columns or len(shown) != table.row_count:  # first fill, or the table changed otherwise
        shown = {}
    wanted = {key: tuple(map(fingerprint, cells)) for key, cells in rows}
    gone = [key for key in shown if key not in wanted]
    new = [key for key in wanted if key not in shown]
    if len(wanted) != len(rows):  # duplicate keys: DataTable refuses them, as it always did
        raise ValueError("fill_table: duplicate row keys")
    if not shown or len(gone) + len(new) > _REBUILD_SHARE * max(len(shown), 1):
        _rebuild(table, rows)
    else:
        for key in gone:
            table.remove_row(key)
        for key, cells in rows:
            before, now = shown.get(key), wanted[key]
            if before is None:
                table.add_row(*(cell(v) for v in cells), key=key)
            elif before != now:
                for index, column in enumerate(columns):
                    if (now[index] if index < len(now) else None) != (before[index] if index < len(before) else None):
                        value = cells[index] if index < len(cells) else None
                        table.update_cell(key, column, cell(value), update_width=_grows(table, column, value))
        if not _same_order(table, rows):
            # One reordering of the row index (what DataTable.sort does), not a rebuild of every row.
            table._row_locations = TwoWayDict({RowKey(key): index for index, (key, _) in enumerate(rows)})
            table._update_count += 1
            table.refresh()
    _SHOWN[table] = (columns, wanted)
    if cursor_key is not None and cursor_key in wanted:
        index = table.get_row_index(cursor_key)
        if index != table.cursor_row:
            table.move_cursor(row=index, animate=False)
