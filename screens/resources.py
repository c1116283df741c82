"""Namespace-wide lists reached from command mode: ``:pods`` and ``:hpa``."""

from __future__ import annotations

import time

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Label

from console.core.model import ClusterSnapshot, PodRow
from console.core.units import age_until
from screens.deployment import POD_COLUMNS, status_text
from screens.host import host
from screens.object_actions import OBJECT_BINDINGS, ObjectActionsMixin, ObjectRef
from screens.widgets.footer import KeyFooter
from screens.widgets.statusbar import StatusBar
from screens.widgets.table import ResourceTable, fill_table, panel_status, set_text
from screens.widgets.visible import watch_snapshot


class PodsScreen(ObjectActionsMixin, Screen[None]):
    """Every pod of the namespace, with the real reason behind its status."""

    BINDINGS = [Binding("escape", "app.switch_mode('dashboard')", "Back"), *OBJECT_BINDINGS]

    def selected_object(self) -> ObjectRef | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        key = str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        namespace, _, name = key.rpartition("/")  # NAMESPACE/NAME when every namespace is shown, else NAME
        return ObjectRef("pods", namespace or host(self).snapshot.namespace, name)

    def compose(self) -> ComposeResult:
        yield StatusBar()
        with Vertical(classes="panel"):
            yield Label("Pods", classes="panel-title")
            yield Label("connecting…", id="pods-status", classes="panel-status")
            yield ResourceTable(id="all-pods", cursor_type="row", zebra_stripes=True)
        yield KeyFooter()

    def on_mount(self) -> None:
        self._shown: dict[str, tuple[PodRow, float, tuple[object, ...]]] = {}  # key → row, age good until, cells
        self._drawn: tuple[tuple[PodRow, ...], bool] | None = None  # the rows last shown, and whether NAMESPACE/NAME
        self._ages_due = 0.0  # when the first age shown changes
        self.query_one(DataTable).add_columns(*POD_COLUMNS)
        watch_snapshot(self, self.show_snapshot)  # hidden: stale until shown again (#16)

    def show_snapshot(self, snap: ClusterSnapshot) -> None:
        pods = host(self).services.cluster.pods()
        every = not snap.namespace  # every namespace shown: pods are NAMESPACE/NAME (names repeat across them)
        # A pod's cells are kept while its row (one per object version) and its age stay the same: the table
        # then knows the row unchanged without comparing its cells (#16: work per event ∝ what changed). An age
        # is worked out again only when it is due to change.
        now = time.time()
        if self._drawn is not None and self._drawn[0] is pods and self._drawn[1] == every and now < self._ages_due:
            # No pod changed (the cluster view hands out the very same rows) and no age is due: the redraw is for
            # another resource's event (an Event, an HPA), and there is nothing to walk.
            self._show_counts(snap, len(pods))
            return
        kept: dict[str, tuple[PodRow, float, tuple[object, ...]]] = {}
        rows: list[tuple[str, tuple[object, ...]]] = []
        due = float("inf")
        for p in pods:
            key = f"{p.namespace}/{p.name}" if every else p.name
            before = self._shown.get(key)
            same = before is not None and before[0] is p
            if same and now < before[1]:
                entry = before
            else:
                created, until = age_until(p.created, now)
                cells = before[2] if same and before[2][6] == created else (
                    key, status_text(p.status, p.ready), p.ready, str(p.restarts), p.node or "-",
                    f"{p.cold_start_s:.0f}s" if p.cold_start_s is not None else "-", created, p.why)
                entry = (p, until, cells)
            kept[key] = entry
            rows.append((key, entry[2]))
            if entry[1] < due:
                due = entry[1]
        self._shown = kept
        fill_table(self.query_one(DataTable), rows)
        self._drawn, self._ages_due = (pods, every), due
        self._show_counts(snap, len(pods))

    def _show_counts(self, snap: ClusterSnapshot, count: int) -> None:
        set_text(self.query_one(".panel-title", Label), f"Pods — namespace {snap.namespace or 'all'}")
        set_text(self.query_one("#pods-status", Label), panel_status(snap, "pods", count))


class HpaScreen(Screen[None]):
    """The namespace's HorizontalPodAutoscalers: bounds, current and desired replicas, metrics."""

    BINDINGS = [Binding("escape", "app.switch_mode('dashboard')", "Back")]
    COLUMNS = ("HPA", "TARGET", "MIN", "MAX", "CURRENT", "DESIRED", "METRICS (current/target)", "LIMITS")

    def compose(self) -> ComposeResult:
        yield StatusBar()
        with Vertical(classes="panel"):
            yield Label("HorizontalPodAutoscalers", classes="panel-title")
            yield Label("connecting…", id="hpa-status", classes="panel-status")
            yield ResourceTable(id="all-hpa", cursor_type="row", zebra_stripes=True)
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns(*self.COLUMNS)
        watch_snapshot(self, self.show_snapshot)  # hidden: stale until shown again (#16)

    def show_snapshot(self, snap: ClusterSnapshot) -> None:
        hpas = host(self).services.cluster.hpas()
        fill_table(self.query_one(DataTable), [
            (h.name, (h.name, f"deployment/{h.target}", str(h.min_replicas), str(h.max_replicas), str(h.current),
                      str(h.desired), h.metrics or "-", h.conditions or "-")) for h in hpas])
        set_text(self.query_one("#hpa-status", Label), panel_status(snap, "horizontalpodautoscalers", len(hpas)))
