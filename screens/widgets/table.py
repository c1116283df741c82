"""The resource tables every screen shows: filling one while keeping the cursor, and the panel status line."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import DataTable

from console.core.model import ClusterSnapshot, ConnState
from screens.widgets import tone


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


def fill_table(table: DataTable, rows: list[tuple[str, tuple[object, ...]]]) -> None:
    """Replace a table's rows, keeping the cursor on the same key (Content cells are drawn in the theme's colours)."""
    cursor_key = None
    if table.row_count and table.cursor_row < table.row_count:
        cursor_key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
    table.clear()
    for key, cells in rows:
        table.add_row(*tone.cells(cells), key=key)
    if cursor_key is not None:
        for index, (key, _) in enumerate(rows):
            if key == cursor_key:
                table.move_cursor(row=index, animate=False)
                break
