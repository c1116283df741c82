"""Filling a table in place while keeping the cursor.

:func:`fill_table` is the one way a screen puts rows in a ``DataTable`` (and :func:`patch_table` the way to change
only the rows a screen knows changed). It keeps, per table, the cells it last
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

from screens.widgets import tone
from screens.widgets.table import ResourceTable

Row = tuple[str, tuple[object, ...]]

# What each table shows now: its column keys, and row key → the cells' fingerprints (compared with the next fill's).
# A row whose cells are the very tuple given last time is not fingerprinted again (screens keep a row's cells
# while its object version and age stay the same).
_SHOWN: WeakKeyDictionary[DataTable[Any], tuple[list[Any], dict[str, tuple[object, ...]],
                                                  dict[str, Sequence[object]]]] = WeakKeyDictionary()
_REBUILD_SHARE = 0.5  # more rows added or removed than this share of the table: a rebuild is cheaper


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


def _cursor_key(table: DataTable[Any]) -> Any:
    if table.row_count and table.cursor_row < table.row_count:
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
    return None


def _keep_cursor(table: DataTable[Any], key: Any, shown: dict[str, Any]) -> None:
    """The cursor back on the row it was on (by key), if that row is still shown."""
    if key is not None and key in shown:
        index = table.get_row_index(key)
        if index != table.cursor_row:
            table.move_cursor(row=index, animate=False)


def _update_row(table: DataTable[Any], columns: list[Any], key: str, cells: Sequence[object],
                before: tuple[object, ...], now: tuple[object, ...]) -> None:
    """``update_cell`` for each cell of a shown row whose fingerprint changed."""
    for index, column in enumerate(columns):
        if (now[index] if index < len(now) else None) != (before[index] if index < len(before) else None):
            value = cells[index] if index < len(cells) else None
            table.update_cell(key, column, cell(value), update_width=_grows(table, column, value))


def fill_table(table: DataTable[Any], rows: Sequence[Row]) -> None:
    """Show ``rows`` (key, cells), in this order, changing only what differs from what the table shows;
    the cursor stays on the row it was on (by key)."""
    cursor_key = _cursor_key(table)
    columns = [column.key for column in table.ordered_columns]
    columns_then, shown, given = _SHOWN.get(table) or ([], {}, {})
    if columns_then != columns or len(shown) != table.row_count:  # first fill, or the table changed otherwise
        shown, given = {}, {}
    given_now = dict(rows)
    if len(given_now) != len(rows):  # duplicate keys: DataTable refuses them, as it always did
        raise ValueError("fill_table: duplicate row keys")
    wanted = {key: shown[key] if given.get(key) is cells else tuple(map(fingerprint, cells)) for key, cells in rows}
    same_keys = wanted.keys() == shown.keys()
    gone = [] if same_keys else [key for key in shown if key not in wanted]
    new = [] if same_keys else [key for key in wanted if key not in shown]
    if not shown or len(gone) + len(new) > _REBUILD_SHARE * max(len(shown), 1):
        _rebuild(table, rows)
    else:
        # Rows that go leave with one reordering of the row index (place_rows) once the new ones are in:
        # DataTable's remove_row shifts every row below in Python, O(rows) per row removed.
        placed = bool(gone) and isinstance(table, ResourceTable)
        if not placed:
            for key in gone:
                table.remove_row(key)
        for key, cells in rows:
            before, now = shown.get(key), wanted[key]
            if before is now:  # the very fingerprint kept from the last fill: unchanged
                continue
            if before is None:
                table.add_row(*(cell(v) for v in cells), key=key)
            elif before != now:
                _update_row(table, columns, key, cells, before, now)
        if placed:
            assert isinstance(table, ResourceTable)
            table.place_rows(list(given_now), gone)
        # The same keys in the same order as the last fill (compared as lists, at C speed): the order holds.
        elif not (same_keys and list(given_now) == list(given)) and not _same_order(table, rows):
            # One reordering of the row index (what DataTable.sort does), not a rebuild of every row.
            table._row_locations = TwoWayDict({RowKey(key): index for index, (key, _) in enumerate(rows)})
            table._update_count += 1
            table.refresh()
    _SHOWN[table] = (columns, wanted, given_now)
    _keep_cursor(table, cursor_key, wanted)


def patch_table(table: ResourceTable, changed: Sequence[Row], gone: Sequence[str],
                order: Sequence[str] | None) -> bool:
    """Change what a table filled by :func:`fill_table` shows by what changed alone: ``changed`` rows (key,
    cells; new keys are added), ``gone`` keys removed, and ``order`` every key in its new order (None: the order
    holds — required when rows come or go). The work follows the rows changed, plus one reordering of the row
    index (at C speed) when the order changed; the table then shows what ``fill_table`` with every row would.
    False, changing nothing, when the table was not filled by ``fill_table`` since it last changed otherwise:
    the caller fills it whole."""
    columns = [column.key for column in table.ordered_columns]
    held = _SHOWN.get(table)
    if held is None or held[0] != columns or len(held[1]) != table.row_count:
        return False
    _, shown, given = held
    added = [(key, cells) for key, cells in changed if key not in shown]
    if (added or gone) and order is None:
        raise ValueError("patch_table: rows came or went, and no order was given")
    cursor_key = _cursor_key(table)
    for key, cells in changed:
        before = shown.get(key)
        if before is None or given.get(key) is cells:
            continue
        now = tuple(map(fingerprint, cells))
        if before != now:
            _update_row(table, columns, key, cells, before, now)
        shown[key], given[key] = now, cells
    for key in gone:
        shown.pop(key, None)
        given.pop(key, None)
    for key, cells in added:
        table.add_row(*(cell(v) for v in cells), key=key)
        shown[key], given[key] = tuple(map(fingerprint, cells)), cells
    if order is not None:
        table.place_rows(order, gone)
    _keep_cursor(table, cursor_key, shown)
    return True
