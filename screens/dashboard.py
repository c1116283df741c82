"""The dashboard: GPU nodes (allocatable / allocated / free) and Deployments, filled from watches."""

from __future__ import annotations

from collections import defaultdict

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import Screen
from textual.widgets import DataTable, Input, Label

from console.core.metrics import DeploymentTrend
from console.core.model import ClusterSnapshot, DeploymentRow, GpuNode
from console.core.units import age
from screens.actions_flow import ACTION_BINDINGS, ActionsMixin
from screens.builds.line import LastBuildLine
from screens.dashboard_trends import TREND_COLUMNS, DeploymentTrendsMixin, trend_cells
from screens.format import shown_name, verdict_text
from screens.object_actions import NODE_BINDINGS, OBJECT_BINDINGS, ObjectActionsMixin, ObjectRef
from screens.widgets import tone
from screens.widgets.filling import fill_table
from screens.widgets.footer import KeyFooter
from screens.widgets.panel import panel_status, set_text
from screens.widgets.statusbar import StatusBar
from screens.widgets.table import ResourceTable
from screens.widgets.visible import watch_snapshot

NODE_COLUMNS = ("NODE", "READY", "PRODUCT", "DRIVER", "CUDA", "CC", "GPU MEM", "ALLOC", "USED", "FREE")
DEPLOY_COLUMNS = ("DEPLOYMENT", "READY", "UP-TO-DATE", "AVAILABLE", "GPU/REPLICA", "GPUS", "REV", "AGE",
                  "HPA min/max/cur/want", "ROLLOUT", *TREND_COLUMNS, "IMAGE")
SORTS = {"name": lambda d: d.name, "age": lambda d: d.created,
         "ready": lambda d: (d.ready / d.desired if d.desired else 1.0, d.name)}


def node_cells(n: GpuNode) -> tuple[object, ...]:
    ready = Content.styled("Ready", tone.SUCCESS) if n.ready else Content.styled("NotReady", tone.bold(tone.ERROR))
    if n.unschedulable:
        ready += Content.styled(",NoSchedule", tone.WARNING)
    free: object = "?" if n.free is None else Content.styled(
        str(n.free), tone.bold(tone.SUCCESS) if n.free and n.ready else tone.MUTED)
    return (
        n.name, ready, n.product or Content.styled("unknown", tone.MUTED), n.driver or "-", n.cuda or "-",
        n.compute or "-", f"{n.gpu_memory_mib / 1024:.1f} GiB" if n.gpu_memory_mib else "-",
        str(n.allocatable), "?" if n.allocated is None else str(n.allocated), free,
    )


def deployment_cells(d: DeploymentRow, trend: DeploymentTrend | None = None) -> tuple[object, ...]:
    ok = d.ready >= d.desired and d.available >= d.desired
    ready = Content.styled(f"{d.ready}/{d.desired}", tone.SUCCESS if ok else tone.bold(tone.WARNING))
    hpa = f"{d.hpa.min_replicas}/{d.hpa.max_replicas}/{d.hpa.current}/{d.hpa.desired}" if d.hpa else "-"
    rollout = verdict_text(d.verdict, short=True)
    if d.paused:
        rollout = Content.styled("PAUSED ", tone.ALERT) + rollout
    return (d.name, ready, str(d.updated), str(d.available), str(d.gpus_per_replica), str(d.gpus_total),
            d.revision or "-", age(d.created), hpa, rollout, *trend_cells(trend), d.image)


def product_summary(nodes: list[GpuNode]) -> str:
    """GPUs per product: 'NVIDIA-A10G 16 (12 free) · NVIDIA-L4 8 (8 free)'."""
    total: dict[str, int] = defaultdict(int)
    free: dict[str, int | None] = defaultdict(int)
    for n in nodes:
        key = n.product or "unlabelled"
        total[key] += n.allocatable
        f = free[key]
        free[key] = None if f is None or n.free is None else f + (n.free if n.ready else 0)
    return " · ".join(f"{p} {total[p]} ({'?' if free[p] is None else free[p]} free)" for p in sorted(total))


class DashboardScreen(ActionsMixin, ObjectActionsMixin, DeploymentTrendsMixin, Screen[None]):
    """First screen: what GPUs the cluster has and what is running on them."""

    BINDINGS = [
        Binding("g", "focus_nodes", "GPU nodes"),
        Binding("d", "focus_deployments", "Deployments"),
        Binding("D", "app.deploy_wizard", "New deployment", show=False),
        Binding("enter", "open", "Open", show=False),
        Binding("slash", "filter", "Filter"),
        Binding("N", "sort('name')", "Sort name", show=False),
        Binding("A", "sort('age')", "Sort age", show=False),
        Binding("R", "sort('ready')", "Sort ready", show=False),
        Binding("escape", "clear_filter", "Clear filter", show=False),
        *ACTION_BINDINGS,
        Binding("P", "probe", "Probe"),
        Binding("v", "describe", "Describe"),  # `d` is the Deployments panel here; describe everywhere else
        *(b for b in OBJECT_BINDINGS if b.key != "d"),
        *NODE_BINDINGS,
    ]

    def __init__(self) -> None:
        super().__init__()
        self.filter_text = ""
        self.sort_key = "name"
        self._rows: dict[str, DeploymentRow] = {}
        self.trends: dict[tuple[str, str], DeploymentTrend] = {}

    def compose(self) -> ComposeResult:
        yield StatusBar()
        yield LastBuildLine()
        with Vertical(id="dashboard"):
            with Vertical(classes="panel", id="nodes-panel"):
                yield Label("GPU nodes", classes="panel-title")
                yield Label("connecting…", id="nodes-status", classes="panel-status")
                yield ResourceTable(id="nodes", cursor_type="row", zebra_stripes=True)
            with Vertical(classes="panel", id="deployments-panel"):
                yield Label("Deployments", classes="panel-title")
                yield Label("connecting…", id="deployments-status", classes="panel-status")
                yield ResourceTable(id="deployments", cursor_type="row", zebra_stripes=True)
        yield Input(placeholder="filter: part of a name or image (enter keeps it, esc clears)", id="filter")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#nodes", DataTable).add_columns(*NODE_COLUMNS)
        self.query_one("#deployments", DataTable).add_columns(*DEPLOY_COLUMNS)
        self.query_one("#filter", Input).display = False
        watch_snapshot(self, self.show_snapshot)  # hidden: stale until shown again (#16)
        self.query_one("#deployments", DataTable).focus()

    def _matches(self, *texts: str) -> bool:
        needle = self.filter_text.lower()
        return not needle or any(needle in t.lower() for t in texts)

    def show_snapshot(self, snap: ClusterSnapshot) -> None:
        gpu_nodes = [n for n in snap.nodes if n.allocatable or n.product]
        nodes = [n for n in gpu_nodes if self._matches(n.name, n.product)]
        fill_table(self.query_one("#nodes", DataTable), [(n.name, node_cells(n)) for n in nodes])
        deps = sorted((d for d in snap.deployments if self._matches(d.name, d.image)), key=SORTS[self.sort_key])
        def key(d: DeploymentRow) -> str:
            return shown_name(d.namespace, d.name, not snap.namespace)

        self._rows = {key(d): d for d in snap.deployments}
        trends = self.trends
        fill_table(self.query_one("#deployments", DataTable),
                   [(key(d), deployment_cells(d, trends.get((d.namespace, d.name)))) for d in deps])
        title = "GPU nodes"
        if gpu_nodes:
            title = f"GPU nodes — {len(gpu_nodes)} nodes: {product_summary(gpu_nodes)}"
        set_text(self.query_one("#nodes-panel .panel-title", Label), title)
        set_text(self.query_one("#nodes-status", Label), panel_status(snap, "nodes", len(gpu_nodes), len(nodes)))
        set_text(self.query_one("#deployments-panel .panel-title", Label),
            f"Deployments — namespace {snap.namespace or 'all'} (sorted by {self.sort_key}; enter opens)")
        set_text(self.query_one("#deployments-status", Label),
            panel_status(snap, "deployments", len(snap.deployments), len(deps)))

    def selected_deployment(self) -> DeploymentRow | None:
        table = self.query_one("#deployments", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return self._rows.get(str(key))

    def selected_object(self) -> ObjectRef | None:
        """The node under the cursor when the node panel has the focus, else the Deployment."""
        nodes = self.query_one("#nodes", DataTable)
        if nodes.has_focus and nodes.row_count:
            return ObjectRef("nodes", "", str(nodes.coordinate_to_cell_key(nodes.cursor_coordinate).row_key.value))
        row = self.selected_deployment()
        return ObjectRef("deployments.apps", row.namespace, row.name) if row else None

    def action_open(self) -> None:
        row = self.selected_deployment()
        if row is not None:
            self.app.show_deployment(row.name, row.namespace)

    def action_probe(self) -> None:
        from screens.probe import probe_deployment

        probe_deployment(self.app, self.selected_deployment())

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        row = self._rows.get(str(event.row_key.value)) if event.data_table.id == "deployments" else None
        if row is not None:
            self.app.show_deployment(row.name, row.namespace)

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            self.filter_text = event.value.strip()
            self.show_snapshot(self.app.snapshot)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            event.input.display = bool(self.filter_text)
            self.query_one("#deployments", DataTable).focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.value = ""
        box.display = False
        self.query_one("#deployments", DataTable).focus()

    def action_sort(self, key: str) -> None:
        self.sort_key = key
        self.show_snapshot(self.app.snapshot)

    def action_focus_nodes(self) -> None:
        self.query_one("#nodes", DataTable).focus()

    def focus_node(self, name: str) -> None:
        """Focus the node table with the cursor on ``name`` (a jump from an alert)."""
        table = self.query_one("#nodes", DataTable)
        table.focus()
        for index in range(table.row_count):
            if table.coordinate_to_cell_key((index, 0)).row_key.value == name:
                table.move_cursor(row=index, animate=False)
                return
        self.app.notify(f"node {name} is not in the node list", severity="warning")

    def action_focus_deployments(self) -> None:
        self.query_one("#deployments", DataTable).focus()
