"""The dashboard: GPU nodes (allocatable / allocated / free) and Deployments, filled from watches."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Label

from console.model import ClusterSnapshot, ConnState, DeploymentRow, GpuNode
from screens.widgets.statusbar import StatusBar

NODE_COLUMNS = ("NODE", "READY", "PRODUCT", "DRIVER", "CUDA", "CC", "GPU MEM", "ALLOC", "USED", "FREE")
DEPLOY_COLUMNS = ("NAMESPACE", "DEPLOYMENT", "READY", "UP-TO-DATE", "AVAILABLE", "GPU/REPLICA", "GPUS",
                  "REV", "IMAGE")


def node_cells(n: GpuNode) -> tuple[object, ...]:
    ready = Text("Ready", style="green") if n.ready else Text("NotReady", style="bold red")
    ready.justify = "left"
    if n.unschedulable:
        ready.append(",NoSchedule", style="yellow")
    free: object = "?" if n.free is None else Text(str(n.free), style="bold green" if n.free else "dim", justify="left")
    return (
        n.name, ready, n.product or Text("unknown", style="dim"), n.driver or "-", n.cuda or "-",
        n.compute or "-", f"{n.gpu_memory_mib / 1024:.1f} GiB" if n.gpu_memory_mib else "-",
        str(n.allocatable), "?" if n.allocated is None else str(n.allocated), free,
    )


def deployment_cells(d: DeploymentRow) -> tuple[object, ...]:
    ok = d.ready >= d.desired and d.available >= d.desired
    ready = Text(f"{d.ready}/{d.desired}", style="green" if ok else "bold yellow", justify="left")
    return (d.namespace, d.name, ready, str(d.updated), str(d.available), str(d.gpus_per_replica),
            str(d.gpus_total), d.revision or "-", d.image)


def panel_status(snap: ClusterSnapshot, resource: str, count: int) -> Text:
    problem = snap.problem(resource)
    if problem:
        return Text(problem, style="bold red")
    if resource not in snap.synced:
        if snap.connection.state is ConnState.ERROR:
            return Text(snap.connection.message, style="bold red")
        return Text("connecting…", style="yellow")
    return Text(f"{count} shown", style="dim")


class DashboardScreen(Screen[None]):
    """First screen: what GPUs the cluster has and what is running on them."""

    BINDINGS = [("g", "focus_nodes", "GPU nodes"), ("d", "focus_deployments", "Deployments")]

    def compose(self) -> ComposeResult:
        yield StatusBar()
        with Vertical(id="dashboard"):
            with Vertical(classes="panel", id="nodes-panel"):
                yield Label("GPU nodes", classes="panel-title")
                yield Label("connecting…", id="nodes-status", classes="panel-status")
                yield DataTable(id="nodes", cursor_type="row", zebra_stripes=True)
            with Vertical(classes="panel", id="deployments-panel"):
                yield Label("Deployments", classes="panel-title")
                yield Label("connecting…", id="deployments-status", classes="panel-status")
                yield DataTable(id="deployments", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#nodes", DataTable).add_columns(*NODE_COLUMNS)
        self.query_one("#deployments", DataTable).add_columns(*DEPLOY_COLUMNS)
        self.watch(self.app, "snapshot", self.show_snapshot)

    def show_snapshot(self, snap: ClusterSnapshot) -> None:
        gpu_nodes = [n for n in snap.nodes if n.allocatable or n.product]
        self._fill("#nodes", [(n.name, node_cells(n)) for n in gpu_nodes])
        self._fill("#deployments", [(f"{d.namespace}/{d.name}", deployment_cells(d)) for d in snap.deployments])
        title = "GPU nodes"
        if gpu_nodes:
            total = sum(n.allocatable for n in gpu_nodes)
            free = [n.free for n in gpu_nodes]
            free_txt = "?" if any(f is None for f in free) else str(sum(f or 0 for f in free))
            title = f"GPU nodes — {len(gpu_nodes)} nodes, {total} GPUs, {free_txt} free"
        self.query_one("#nodes-panel .panel-title", Label).update(title)
        self.query_one("#nodes-status", Label).update(panel_status(snap, "nodes", len(gpu_nodes)))
        self.query_one("#deployments-panel .panel-title", Label).update(
            f"Deployments — namespace {snap.namespace or '?'}")
        self.query_one("#deployments-status", Label).update(
            panel_status(snap, "deployments", len(snap.deployments)))

    def _fill(self, selector: str, rows: list[tuple[str, tuple[object, ...]]]) -> None:
        table = self.query_one(selector, DataTable)
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

    def action_focus_nodes(self) -> None:
        self.query_one("#nodes", DataTable).focus()

    def action_focus_deployments(self) -> None:
        self.query_one("#deployments", DataTable).focus()
