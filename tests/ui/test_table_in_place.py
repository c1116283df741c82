"""fill_table updates tables in place (#16): a change of one row touches that row only, rows that come are
added one by one and rows that go leave with one reordering of the row index, a new order is one reordering, and
what the table shows is always what a rebuild from the same rows shows. Real Textual DataTables in a running app
(Pilot).

ResourceTable (the table every screen uses) draws what DataTable draws, but a changed cell redraws its own row
only: the other rows' lines come from strips kept per row version."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest
from textual.app import App, ComposeResult
from textual.content import Content
from textual.coordinate import Coordinate
from textual.widgets import DataTable, Label

from screens.widgets import tone
from screens.widgets.filling import fill_table, patch_table
from screens.widgets.table import ResourceTable

COLUMNS = ("NAME", "STATUS", "READY", "AGE")


class Tables(App[None]):
    def __init__(self, live: type[DataTable[Any]] = ResourceTable) -> None:
        super().__init__()
        self.live = live  # the table filled: the console's ResourceTable, or Textual's own DataTable

    def compose(self) -> ComposeResult:
        yield self.live(id="live", cursor_type="row")
        yield DataTable(id="fresh", cursor_type="row")

    def on_mount(self) -> None:
        for table in self.query(DataTable):
            table.add_columns(*COLUMNS)


def counted(target: Any, names: tuple[str, ...] = ("add_row", "update_cell", "remove_row", "clear", "sort")
            ) -> Counter[str]:
    """Count calls of ``target``'s methods ``names`` (by default a table's mutations; the real methods still run)."""
    calls: Counter[str] = Counter()
    for name in names:
        original = getattr(target, name)

        def wrapper(*args: Any, _name: str = name, _original: Any = original, **kwargs: Any) -> Any:
            calls[_name] += 1
            return _original(*args, **kwargs)
        setattr(target, name, wrapper)
    return calls


def shown(table: DataTable[Any]) -> list[tuple[str, tuple[str, ...]]]:
    out = []
    for index in range(table.row_count):
        key = table.coordinate_to_cell_key((index, 0)).row_key.value
        out.append((str(key), tuple(str(getattr(c, "plain", c)) for c in table.get_row_at(index))))
    return out


def rebuilt(app: Tables, rows: list[tuple[str, tuple[object, ...]]]) -> list[tuple[str, tuple[str, ...]]]:
    fresh = app.query_one("#fresh", DataTable)
    fresh.clear()
    for key, cells in rows:
        fresh.add_row(*(str(getattr(c, "plain", c)) for c in cells), key=key)
    return shown(fresh)


def pod_rows(n: int, scaled: dict[str, str] | None = None) -> list[tuple[str, tuple[object, ...]]]:
    rows = []
    for i in range(n):
        name = f"model-{i:04d}"
        status = (scaled or {}).get(name, "Running")
        rows.append((name, (name, Content.styled(status, tone.SUCCESS), "1/1", f"{i % 50}m")))
    return rows


async def test_a_one_row_change_touches_one_row() -> None:
    app = Tables()
    async with app.run_test() as pilot:
        table = app.query_one("#live", DataTable)
        rows = pod_rows(300)
        fill_table(table, rows)
        table.move_cursor(row=120)
        calls = counted(table)
        changed = pod_rows(300, {"model-0042": "Terminating"})
        fill_table(table, changed)
        await pilot.pause()
        assert calls == Counter(update_cell=1)
        assert shown(table) == rebuilt(app, changed)
        calls.clear()
        fill_table(table, changed)  # nothing changed: nothing touched
        assert calls == Counter()
        # A scale from 300 to 301 pods: one row added; down again: one removed. The cursor keeps its pod.
        fill_table(table, pod_rows(301))
        assert calls == Counter(add_row=1, update_cell=1)
        fill_table(table, pod_rows(300))
        # the row goes with one reordering of the row index, not DataTable's remove_row (O(rows) per row)
        assert calls == Counter(add_row=1, update_cell=1)
        assert shown(table) == rebuilt(app, pod_rows(300)) and table.row_count == 300
        assert table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value == "model-0120"


@pytest.mark.parametrize("live", [ResourceTable, DataTable], ids=["ResourceTable", "DataTable"])
async def test_any_sequence_of_changes_shows_what_a_rebuild_shows(live: type[DataTable[Any]]) -> None:
    app = Tables(live)
    rng = random.Random(16)
    async with app.run_test() as pilot:
        table = app.query_one("#live", DataTable)
        rows = pod_rows(60)
        for step in range(40):
            rows = list(rows)
            for _ in range(rng.randint(0, 4)):
                if rows and rng.random() < 0.4:
                    rows.pop(rng.randrange(len(rows)))
                name = f"new-{step}-{rng.randrange(10**6)}"
                rows.insert(rng.randrange(len(rows) + 1), (name, (name, "Pending", "0/1", "0s")))
                key, cells = rows[i := rng.randrange(len(rows))]
                rows[i] = (key, (cells[0], "CrashLoopBackOff", cells[2], f"{step}s"))
            if step % 7 == 0:
                rows.sort(key=lambda r: str(r[1][3]))  # a sort key changed: a new order
            if step % 13 == 12:
                rows = pod_rows(rng.randint(0, 8))  # most rows replaced: rebuilt
            cursor_key = None
            if table.row_count:
                table.move_cursor(row=rng.randrange(table.row_count))
                cursor_key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
            fill_table(table, rows)
            await pilot.pause()
            assert shown(table) == rebuilt(app, rows), step
            if cursor_key in dict(rows):
                assert table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value == cursor_key


async def test_text_cells_are_never_markup() -> None:
    app = Tables()
    async with app.run_test():
        table = app.query_one("#live", DataTable)
        fill_table(table, [("a", ("[b]not bold[/b]", "[red]x", "1/1", "1m"))])
        assert [str(c) for c in table.get_row_at(0)][:2] == ["[b]not bold[/b]", "[red]x"]
        # A table someone cleared behind fill_table's back is rebuilt, not patched.
        table.clear()
        fill_table(table, [("a", ("x", "y", "1/1", "1m")), ("b", ("z", "y", "1/1", "1m"))])
        assert [k for k, _ in shown(table)] == ["a", "b"]


async def test_a_change_of_style_alone_is_redrawn() -> None:
    """Content compares by text only; an alert turning from bold to muted (acknowledged) must still be redrawn."""
    app = Tables()
    async with app.run_test():
        table = app.query_one("#live", DataTable)
        fill_table(table, [("a", ("x", Content.styled("OOMKilled", "bold"), "1/1", "1m"))])
        calls = counted(table)
        fill_table(table, [("a", ("x", Content.styled("OOMKilled", tone.MUTED), "1/1", "1m"))])
        assert calls == Counter(update_cell=1)
        assert table.get_row_at(0)[1].content.spans[0].style == tone.MUTED


class Both(App[None]):
    """A ResourceTable and a plain DataTable of the same size, with the same rows."""

    def compose(self) -> ComposeResult:
        yield ResourceTable(id="resource", cursor_type="row", zebra_stripes=True)
        yield DataTable(id="plain", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        for table in self.query(DataTable):
            table.add_columns(*COLUMNS)
            table.styles.height = 20


def lines(table: DataTable[Any]) -> list[tuple[str, list[tuple[str, str]]]]:
    """What the table draws now, line by line: text and each segment's style (without mouse meta)."""
    out = []
    for y in range(table.size.height):
        strip = table.render_line(y).discard_meta()
        # A style's text names all it draws (colours, attributes, link); its hash would keep the meta discarded.
        out.append((strip.text, [(segment.text, str(segment.style)) for segment in strip.simplify()]))
    return out


def filled(app: Both) -> tuple[ResourceTable, DataTable[Any]]:
    """Both tables of ``app``, each with the same 60 pod rows."""
    resource = app.query_one("#resource", ResourceTable)
    plain = app.query_one("#plain", DataTable)
    for table in (resource, plain):
        fill_table(table, pod_rows(60))
    return resource, plain


async def test_resource_table_draws_what_datatable_draws_and_redraws_one_row_per_change() -> None:
    app = Both()
    async with app.run_test(size=(100, 50)) as pilot:
        resource, plain = filled(app)
        for table in (resource, plain):
            table.move_cursor(row=3)
            table.focus()
            await pilot.pause()
            assert table.has_focus
            assert lines(resource if table is resource else plain)  # drawn
        resource.focus()
        await pilot.pause()
        lines(resource)  # every row shown is drawn and kept
        drawn: Counter[str] = Counter()
        original = resource._draw

        def counting(*args: Any, **kwargs: Any) -> Any:
            drawn["rows"] += 1
            return original(*args, **kwargs)
        resource._draw = counting  # type: ignore[method-assign]
        fill_table(resource, pod_rows(60, {"model-0007": "Pending"}))
        await pilot.pause()
        assert [text for text, _ in lines(resource)][8].split()[:2] == ["model-0007", "Pending"]
        assert drawn["rows"] == 1  # the changed row (no wider than its column); the other lines: kept strips
        # Same drawing as DataTable's, styles included (both focused in turn, cursor on the same row).
        fill_table(plain, pod_rows(60, {"model-0007": "Pending"}))
        plain.focus()
        await pilot.pause()
        plain_lines = lines(plain)
        resource.focus()
        await pilot.pause()
        resource_lines = lines(resource)
        assert [text for text, _ in resource_lines] == [text for text, _ in plain_lines]
        unfocused = {4}  # the cursor row: drawn blurred in the table without focus
        for y, ((_, mine), (_, theirs)) in enumerate(zip(resource_lines, plain_lines, strict=True)):
            if y not in unfocused:
                assert mine == theirs, y


async def test_the_mouse_picks_the_row_under_it_as_in_datatable() -> None:
    """The ResourceTable's lines carry no row meta; a click and a hover still find the row under the pointer
    (scrolled, header included) exactly as DataTable's do."""
    headers: list[str | None] = []

    class Clicked(Both):
        def on_data_table_header_selected(self, message: DataTable.HeaderSelected) -> None:
            headers.append(message.data_table.id)

    app = Clicked()
    async with app.run_test(size=(100, 50)) as pilot:
        resource, plain = filled(app)
        await pilot.pause()
        for table in (resource, plain):
            table.scroll_to(y=25, animate=False)
        await pilot.pause()
        for table in (resource, plain):
            assert table.scroll_offset.y == 25
            await pilot.click(table, offset=(3, 5))  # the 5th line: header + 4 rows → row 25 + 4
            await pilot.pause()
            assert table.cursor_row == 29, table.id
            await pilot.hover(table, offset=(3, 8))
            await pilot.pause()
            assert table.hover_coordinate.row == 32, table.id
            await pilot.click(table, offset=(3, 0))  # the header: a header click, the cursor stays
            await pilot.pause()
            assert table.cursor_row == 29, table.id
        assert headers == ["resource", "plain"]


async def test_row_and_cell_regions_are_datatables() -> None:
    """ResourceTable finds a row's line from its index (rows are one line); DataTable sums the rows above (and
    lists every row for the fixed offset). Both must give the same regions and offsets (the cursor's scrolling and
    repaint use them), with a header and without."""
    app = Both()
    async with app.run_test(size=(100, 50)) as pilot:
        resource, plain = filled(app)
        await pilot.pause()
        for header in (True, False):
            for table in (resource, plain):
                table.show_header = header
            await pilot.pause()
            for row in (0, 1, 7, 59, 60, -1):
                assert resource._get_row_region(row) == plain._get_row_region(row), (header, row)
                for column in range(len(plain.columns) + 1):
                    coordinate = Coordinate(row, column)
                    assert resource._get_cell_region(coordinate) == plain._get_cell_region(coordinate), \
                        (header, row, column)
            for table in (resource, plain):
                table.fixed_columns = 1
            assert resource._get_fixed_offset() == plain._get_fixed_offset(), header
            for table in (resource, plain):
                table.fixed_columns = 0
            assert resource._get_fixed_offset() == plain._get_fixed_offset(), header


class Patched(App[None]):
    """A ResourceTable patched by what changed, and one filled whole with the same rows."""

    def compose(self) -> ComposeResult:
        yield ResourceTable(id="live", cursor_type="row", zebra_stripes=True)
        yield DataTable(id="fresh", cursor_type="row")

    def on_mount(self) -> None:
        for table in self.query(DataTable):
            table.add_columns(*COLUMNS)
            table.styles.height = 20


async def test_patch_table_shows_what_a_rebuild_shows_through_any_changes() -> None:
    """patch_table is given only what changed (and the order when rows came or went): through random adds,
    changes and deletions, the table shows what a rebuild from every row shows, the cursor stays on its row, and
    DataTable's O(rows) remove_row is never called (the rows go in one reordering)."""
    app = Patched()
    rng = random.Random(1616)
    async with app.run_test(size=(100, 50)) as pilot:
        table = app.query_one("#live", ResourceTable)
        rows = dict(pod_rows(80))
        fill_table(table, list(rows.items()))
        calls = counted(table)
        for step in range(60):
            changed: dict[str, tuple[object, ...]] = {}
            gone: list[str] = []
            for _ in range(rng.randint(0, 5)):
                roll = rng.random()
                if roll < 0.3 and len(rows) > 1:
                    key = rng.choice(sorted(rows))
                    del rows[key]
                    changed.pop(key, None)
                    gone.append(key)
                elif roll < 0.6:
                    key = f"model-{rng.randrange(200):04d}"
                    rows[key] = changed[key] = (key, "Pending", "0/1", f"{step}s")
                    if key in gone:
                        gone.remove(key)
                        changed.pop(key)  # gone and back in one redraw: a changed row
                        changed[key] = rows[key]
                elif rows:
                    key = rng.choice(sorted(rows))
                    rows[key] = changed[key] = (key, Content.styled("CrashLoopBackOff", tone.ERROR), "0/1", "1m")
            gone = [key for key in gone if key not in rows]
            ordered = sorted(rows)
            cursor_key = None
            if table.row_count:
                table.move_cursor(row=rng.randrange(table.row_count))
                cursor_key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
            came = any(key not in dict(shown(table)) for key in changed)
            assert patch_table(table, list(changed.items()), gone, ordered if gone or came or step % 9 == 0 else None)
            await pilot.pause()
            expected = [(key, rows[key]) for key in ordered]
            assert shown(table) == rebuilt(app, expected), step
            if cursor_key in rows:
                assert table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value == cursor_key
            assert lines(table)  # it draws (the row index and the kept strips agree)
        assert calls["remove_row"] == 0 and calls["clear"] == 0
        # fill_table after patches still updates in place (its record of what is shown was kept up to date)
        calls.clear()
        key = sorted(rows)[0]
        rows[key] = (key, "Terminating", "0/1", "1m")
        fill_table(table, [(k, rows[k]) for k in sorted(rows)])
        assert calls == Counter(update_cell=1)


async def test_patch_table_refuses_a_table_it_cannot_patch() -> None:
    app = Patched()
    async with app.run_test():
        table = app.query_one("#live", ResourceTable)
        assert not patch_table(table, [("a", ("a", "x", "1/1", "1m"))], [], ["a"]), "never filled"
        fill_table(table, pod_rows(3))
        table.clear()
        table.add_row("b", "x", "1/1", "1m", key="b")  # changed behind fill_table's back
        assert not patch_table(table, [("b", ("b", "y", "1/1", "1m"))], [], None)
        assert [str(c) for c in table.get_row_at(0)][1] == "x", "nothing changed"
        fill_table(table, pod_rows(3))
        try:
            patch_table(table, [("new", ("new", "x", "1/1", "1m"))], [], None)
        except ValueError:
            pass
        else:
            raise AssertionError("a row that came needs the order")


class Boxed(App[None]):
    """A ResourceTable whose box the screen sets (``1fr``, as on ``:pods``), a line under it, and one sized by its
    rows (``auto``, as the dashboard's nodes)."""

    CSS = "#boxed { height: 1fr; } #grown { height: auto; max-height: 12; } #under { height: 1; }"

    def compose(self) -> ComposeResult:
        yield ResourceTable(id="boxed", cursor_type="row", zebra_stripes=True)
        yield Label("under the table", id="under")
        yield ResourceTable(id="grown", cursor_type="row")

    def on_mount(self) -> None:
        for table in self.query(DataTable):
            table.add_columns(*COLUMNS)


async def test_rows_that_come_and_go_repaint_the_table_not_the_whole_screen() -> None:
    """A row more or less changes the table's virtual height, a layout reactive: Textual laid out and repainted the
    whole screen for it (15-25 ms at 180×50), and keys waited (#16). A table whose box the screen sets repaints
    itself and its scrollbar only; the screen is what a full layout gives. A scrollbar shown or hidden, or a table
    sized by its rows, still lays out."""
    app = Boxed()
    async with app.run_test(size=(80, 24)) as pilot:
        boxed, grown = app.query_one("#boxed", ResourceTable), app.query_one("#grown", ResourceTable)
        fill_table(grown, pod_rows(2))
        fill_table(boxed, pod_rows(3))
        await pilot.pause()
        count = counted(app.screen, ("_refresh_layout",))

        async def settled() -> str:
            await pilot.pause()
            await pilot.pause()
            return app.export_screenshot()

        async def as_laid_out() -> str:
            app.screen.refresh(layout=True)
            return await settled()

        fill_table(boxed, pod_rows(40))  # past the box: the scrollbar shows (a layout)
        assert await settled() == await as_laid_out()
        assert boxed.show_vertical_scrollbar
        for rows in (41, 45, 39, 40):  # rows come and go, the scrollbar stays
            count.clear()
            fill_table(boxed, pod_rows(rows))
            screen = await settled()
            assert count["_refresh_layout"] == 0, rows
            assert boxed.virtual_size.height == rows + 1  # the header
            assert boxed.vertical_scrollbar.window_virtual_size == rows + 1
            assert screen == await as_laid_out(), rows
        boxed.scroll_end(animate=False)
        await settled()
        fill_table(boxed, pod_rows(30))  # fewer rows than the scroll offset reached: it is clamped
        screen = await settled()
        assert boxed.scroll_y == boxed.max_scroll_y
        assert screen == await as_laid_out()
        count.clear()
        fill_table(boxed, pod_rows(5))  # back inside the box: the scrollbar goes (a layout)
        assert await settled() == await as_laid_out()
        assert not boxed.show_vertical_scrollbar and count["_refresh_layout"] >= 1
        count.clear()
        height = grown.size.height
        fill_table(grown, pod_rows(4))  # sized by its rows: it grows, and what is below it moves
        await settled()
        assert count["_refresh_layout"] >= 1 and grown.size.height == height + 2
