"""The resource tables every screen shows: filling one while keeping the cursor, and the panel status line."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from console.core.model import ClusterSnapshot, ConnState


def panel_status(snap: ClusterSnapshot, resource: str, count: int, shown: int | None = None) -> Text:
    problem = snap.problem(resource)
    if problem:
        return Text(problem, style="bold red")
    if resource not in snap.synced:
        if snap.connection.state is ConnState.ERROR:
            return Text(snap.connection.message, style="bold red")
        return Text("connecting…", style="yellow")
    if shown is not None and shown != count:
        return Text(f"{shown} of {count} shown (filter)", style="dim")
    return Text(f"{count} shown", style="dim")


def fill_table(table: DataTable, rows: list[tuple[str, tuple[object, ...]]]) -> None:
    """Replace a table's rows, keeping the cursor on the same key."""
    cursor_key = None
    if table.row_count and table.cursor_row < table.row_count:
        cursor_key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
    table.clear()
    for key, cells in rows:
        table.add_row(*cells, key=key)
    if cursor_key is not None:
        for index, (key, _) in enumerate(rows):
            if key == cursor_key:
                table.move_cursor(row=index, animate=False)
                break
