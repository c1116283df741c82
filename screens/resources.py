"""Namespace-wide lists reached from command mode: ``:pods`` and ``:hpa``."""

from __future__ import annotations

import heapq
import math
import time
from itertools import repeat

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Label

from console.core.model import ClusterSnapshot, PodRow
from console.core.units import age_until
from screens.deployment import POD_COLUMNS, status_text
from screens.format import shown_name
from screens.host import host
from screens.object_actions import OBJECT_BINDINGS, ObjectActionsMixin, ObjectRef
from screens.widgets.filling import fill_table, patch_table
from screens.widgets.footer import KeyFooter
from screens.widgets.panel import panel_status, set_text
from screens.widgets.statusbar import StatusBar
from screens.widgets.table import ResourceTable
from screens.widgets.visible import WakeAt, watch_snapshot


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
        self._mark: object = None  # the cluster view's mark of the rows last shown (pod_changes)
        self._every: bool | None = None  # whether the rows last shown were NAMESPACE/NAME
        self._due: list[tuple[float, str]] = []  # (when its age changes, key) for each row shown, soonest first
        self.query_one(DataTable).add_columns(*POD_COLUMNS)
        self._ages = WakeAt(self, lambda: self.show_snapshot(host(self).snapshot))  # ages move on a quiet cluster
        watch_snapshot(self, self.show_snapshot)  # hidden: stale until shown again (#16)

    def show_snapshot(self, snap: ClusterSnapshot) -> None:
        """Redraw what changed since the last redraw: the pods the cluster view says changed, and the rows whose
        age is due to change (a heap of when each row's age changes). A pod's cells are kept while its row (one per
        object version) and its age stay the same, so the table knows them unchanged without comparing them. Every
        row is walked only on a first draw, a new target, or when the view cannot say what changed (a re-list);
        a redraw for another resource's event (an Event, an HPA) costs nothing here (#16: work per event ∝ what
        changed)."""
        changes = host(self).services.cluster.pod_changes(self._mark)
        every = not snap.namespace  # every namespace shown: pods are NAMESPACE/NAME (names repeat across them)
        now = time.time()
        table = self.query_one(ResourceTable)
        changed = changes.changed
        if changed is None or every != self._every or len(changed) > len(changes.rows) // 2 \
                or not self._patch(table, changes.rows, changed, changes.moved, every, now):
            self._fill(table, changes.rows, every, now)
        self._mark, self._every = changes.mark, every
        self._show_counts(snap, len(changes.rows))
        self._ages.at(self._due[0][0] if self._due else math.inf, now)

    @staticmethod
    def _key(p: PodRow, every: bool) -> str:
        return shown_name(p.namespace, p.name, every)

    def _entry(self, key: str, p: PodRow, now: float) -> tuple[PodRow, float, tuple[object, ...]]:
        """A pod's row, when its age changes, and its cells: the cells kept when only the age is due and it reads
        the same."""
        before = self._shown.get(key)
        if before is not None and before[0] is p and now < before[1]:
            return before
        created, until = age_until(p.created, now)
        if before is not None and before[0] is p and before[2][6] == created:
            return (p, until, before[2])
        cells = (key, status_text(p.status, p.ready), p.ready, str(p.restarts), p.node or "-",
                 f"{p.cold_start_s:.0f}s" if p.cold_start_s is not None else "-", created, p.why)
        return (p, until, cells)

    def _fill(self, table: ResourceTable, pods: tuple[PodRow, ...], every: bool, now: float) -> None:
        """Every row, walked once."""
        kept: dict[str, tuple[PodRow, float, tuple[object, ...]]] = {}
        rows: list[tuple[str, tuple[object, ...]]] = []
        for p in pods:
            key = self._key(p, every)
            entry = kept[key] = self._entry(key, p, now)
            rows.append((key, entry[2]))
        self._shown = kept
        fill_table(table, rows)
        self._due = [(entry[1], key) for key, entry in kept.items() if entry[1] != math.inf]
        heapq.heapify(self._due)

    def _patch(self, table: ResourceTable, pods: tuple[PodRow, ...], changed: dict[str, PodRow | None],
               moved: bool, every: bool, now: float) -> bool:
        """The pods that changed and the ages that are due, patched into the table (False: it must be filled)."""
        shown, due = self._shown, self._due
        redo: dict[str, PodRow] = {}
        gone: list[str] = []
        for ref, p in changed.items():  # ref: the view's NAMESPACE/NAME
            key = ref if every else ref.partition("/")[2]
            if p is not None:
                redo[key] = p
            elif key in shown:
                gone.append(key)
        while due and due[0][0] <= now:
            until, key = heapq.heappop(due)
            held = shown.get(key)
            if held is not None and held[1] == until and key not in redo:  # else an entry replaced since
                redo[key] = held[0]
        fresh = {}
        for key, p in redo.items():
            entry = self._entry(key, p, now)
            if entry is not shown.get(key):
                fresh[key] = entry
        order = list(map(self._key, pods, repeat(every))) if moved else None
        if not patch_table(table, [(key, entry[2]) for key, entry in fresh.items()], gone, order):
            return False
        for key in gone:
            del shown[key]
        shown.update(fresh)
        for key, entry in fresh.items():
            if entry[1] != math.inf:
                heapq.heappush(due, (entry[1], key))
        if len(due) > 2 * len(shown) + 1024:  # entries of rows replaced since pile up: keep the live ones only
            self._due = [(entry[1], key) for key, entry in shown.items() if entry[1] != math.inf]
            heapq.heapify(self._due)
        return True

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
        every = not snap.namespace  # every namespace watched: one name may be in several (NAMESPACE/NAME)
        rows = []
        for h in hpas:
            key = shown_name(h.namespace, h.name, every)
            rows.append((key, (key, f"deployment/{h.target}", str(h.min_replicas), str(h.max_replicas),
                               str(h.current), str(h.desired), h.metrics or "-", h.conditions or "-")))
        fill_table(self.query_one(DataTable), rows)
        set_text(self.query_one("#hpa-status", Label), panel_status(snap, "horizontalpodautoscalers", len(hpas)))
