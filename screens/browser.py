"""One browser for every resource type the API serves (``:rs``, ``:svc``, ``:pvc``, ``:crd``, a CRD's plural…):
the columns the server's Table format gives (``Accept: as=Table``, as kubectl prints them), refreshed every few
seconds in the watched namespace (or all of them), with filter, sort and the row keys of
:mod:`screens.object_actions` (describe, YAML, edit, delete, logs), and ``P`` on a Service row probes it
(:mod:`screens.probe`).
"""

from __future__ import annotations

import asyncio
import re

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Input, Label

from console.core.model import ClusterSnapshot
from screens.host import host
from screens.object_actions import NODE_BINDINGS, OBJECT_BINDINGS, ObjectActionsMixin, ObjectRef
from screens.widgets import tone
from screens.widgets.filling import fill_table
from screens.widgets.footer import KeyFooter
from screens.widgets.panel import set_text
from screens.widgets.statusbar import StatusBar
from screens.widgets.table import ResourceTable

REFRESH_S = 3.0
_NUMBER = re.compile(r"^(\d+(?:\.\d+)?)")
_AGE = re.compile(r"(\d+)([smhdy])")
_AGE_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "y": 31536000}


def sort_key(text: str) -> tuple[int, float, str]:
    """Numbers by value, ages (``3d4h``) by length of time, the rest as text."""
    if (ages := _AGE.findall(text)) and "".join(a + u for a, u in ages) == text:
        return (0, float(sum(int(a) * _AGE_S[u] for a, u in ages)), text)
    if m := _NUMBER.match(text):
        return (0, float(m.group(1)), text)
    return (1, 0.0, text.lower())


class BrowserScreen(ObjectActionsMixin, Screen[None]):
    """The objects of one resource type, as the API server prints them."""

    BINDINGS = [
        *OBJECT_BINDINGS,
        *NODE_BINDINGS,
        Binding("P", "probe", "Probe service"),
        Binding("slash", "filter", "Filter"),
        Binding("o", "sort_next", "Sort column"),
        Binding("O", "sort_reverse", "Reverse sort"),
        Binding("ctrl+r", "refresh_now", "Refresh"),
        Binding("escape", "back", "Clear filter / back"),
    ]

    def __init__(self, word: str) -> None:
        super().__init__()
        self.word = word
        self.table_data = None  # the last ResourceTable read
        self.filter_text = ""
        self.sort_column = 0
        self.reverse = False
        self.error: str | None = None
        self._scope: tuple[str, str] | None = None  # (context, namespace) the rows were read in
        self._wake = asyncio.Event()

    def compose(self) -> ComposeResult:
        yield StatusBar()
        with Vertical(classes="panel"):
            yield Label(self.word, classes="panel-title", id="browser-title")
            yield Label("reading…", id="browser-status", classes="panel-status")
            yield ResourceTable(id="browser", cursor_type="row", zebra_stripes=True)
        yield Input(placeholder="filter: part of any column (enter keeps it, esc clears)", id="browser-filter")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#browser-filter", Input).display = False
        self.query_one(DataTable).focus()
        self.watch(self.app, "snapshot", self._on_snapshot)
        self.poll()

    def _on_snapshot(self, snap: ClusterSnapshot) -> None:
        if self._scope is not None and self._scope != (snap.context, snap.namespace):
            self._wake.set()  # another context or namespace: read again now

    # ---- reading ---------------------------------------------------------------------------------
    @work(exclusive=True, exit_on_error=False, group="browser")
    async def poll(self) -> None:
        while True:
            await self._read()
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), REFRESH_S)
            except TimeoutError:
                pass

    async def _read(self) -> None:
        from console.kube.errors import KubeError
        from console.kube.tables import fetch_table

        app = host(self)
        snap = app.snapshot
        transport = app.services.cluster.transport
        if transport is None:
            self.error = "connecting…"
            self._show_status()
            return
        try:
            resource = (await app.catalog()).find(self.word)
            namespace = (snap.namespace or None) if resource.namespaced else None
            self.table_data = await fetch_table(transport, resource, namespace)
            self.refresh_bindings()
            self._scope = (snap.context, snap.namespace)
            self.error = None
        except KubeError as exc:
            self.error = exc.message if exc.code != 403 else f"no permission to list {self.word}" + (
                f" in {snap.namespace}" if snap.namespace else " cluster-wide")
            self.table_data = None
            self._scope = (snap.context, snap.namespace)
        self.draw()

    def action_refresh_now(self) -> None:
        self._wake.set()

    # ---- drawing ---------------------------------------------------------------------------------
    def _namespaces_shown(self) -> bool:
        data = self.table_data
        return bool(data is not None and data.resource.namespaced and not host(self).snapshot.namespace)

    def draw(self) -> None:
        table = self.query_one(DataTable)
        data = self.table_data
        if data is None:
            table.clear(columns=True)
            self._show_status()
            return
        wide_ns = self._namespaces_shown()
        header = data.header(namespaces=wide_ns)
        if [str(c.label) for c in table.columns.values()] != header:
            table.clear(columns=True)
            table.add_columns(*header)
            self.sort_column = min(self.sort_column, len(header) - 1)
        rows = [(r.key, tuple(data.cells(r, namespaces=wide_ns))) for r in data.rows]
        if self.filter_text:
            needle = self.filter_text.lower()
            rows = [r for r in rows if any(needle in str(c).lower() for c in r[1])]
        rows.sort(key=lambda r: sort_key(str(r[1][self.sort_column])) if self.sort_column < len(r[1]) else (1, 0, ""),
                  reverse=self.reverse)
        fill_table(table, rows)
        set_text(self.query_one("#browser-title", Label),
            f"{data.resource.kind} ({data.resource.qualified}) — "
            + ("cluster-scoped" if not data.resource.namespaced else
               f"namespace {host(self).snapshot.namespace or 'all'}")
            + f" · sorted by {header[self.sort_column]}{' ↓' if self.reverse else ''}")
        self._show_status(len(rows))

    def _show_status(self, shown: int | None = None) -> None:
        from textual.content import Content

        label = self.query_one("#browser-status", Label)
        if self.error:
            label.update(Content.styled(self.error, tone.bold(tone.ERROR)))
        elif self.table_data is not None:
            total = len(self.table_data.rows)
            text = f"{shown} of {total} shown (filter {self.filter_text!r})" if self.filter_text else f"{total} shown"
            label.update(Content.styled(text, tone.MUTED))

    # ---- keys ------------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Cordon and uncordon only where the rows are nodes."""
        if action in ("cordon", "uncordon", "drain"):
            data = self.table_data
            return data is not None and data.resource.kind == "Node" and not data.resource.group
        if action == "probe":  # Services only
            return self.table_data is not None and self.table_data.resource.kind == "Service" and \
                not self.table_data.resource.group
        return True

    def on_screen_resume(self) -> None:
        self.refresh_bindings()

    def selected_object(self) -> ObjectRef | None:
        table = self.query_one(DataTable)
        data = self.table_data
        if data is None or not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        row = next((r for r in data.rows if r.key == key), None)
        return None if row is None else ObjectRef(data.resource.qualified, row.namespace, row.name)

    def action_probe(self) -> None:
        from screens.probe import start

        ref = self.selected_object()
        if ref is None:
            self.app.notify("no Service selected to probe", severity="warning")
        else:
            start(self.app, ref.namespace or "default", service=ref.name)

    def action_sort_next(self) -> None:
        columns = len(self.query_one(DataTable).columns)
        if columns:
            self.sort_column = (self.sort_column + 1) % columns
            self.draw()

    def action_sort_reverse(self) -> None:
        self.reverse = not self.reverse
        self.draw()

    def action_filter(self) -> None:
        box = self.query_one("#browser-filter", Input)
        box.display = True
        box.value = self.filter_text
        box.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.input.display = False
        self.filter_text = event.value.strip()
        self.query_one(DataTable).focus()
        self.draw()

    def action_back(self) -> None:
        box = self.query_one("#browser-filter", Input)
        if box.display or self.filter_text:
            box.display = False
            self.filter_text = ""
            self.query_one(DataTable).focus()
            self.draw()
            return
        self.dismiss(None)
