"""``:compat``: will these images run on these GPUs? A matrix of the namespace's GPU images (and a candidate
image typed in) × node pools (product, driver, compute capability) with coloured verdicts; the cell under the
cursor is explained below (every finding, its reason and its fix), next to the stack checks.

The first frame draws at once: the check (API reads, registry reads) runs in a worker.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import DataTable, Input, Label, Static

from console.compat.matrix import CompatReport, ImageRow, NodePool
from console.compat.rules import Level
from screens.host import host
from screens.widgets import tone
from screens.widgets.footer import KeyFooter
from screens.widgets.statusbar import StatusBar
from screens.widgets.table import ResourceTable

STYLE = {Level.OK: tone.bold(tone.SUCCESS), Level.WARN: tone.bold(tone.WARNING), Level.UNKNOWN: tone.bold(tone.UNKNOWN),
         Level.FAIL: tone.bold(tone.ERROR)}
FIXED_COLUMNS = ("IMAGE", "CUDA", "ARCH")


def verdict_text(level: Level) -> Content:
    mark = {Level.OK: "✓", Level.WARN: "!", Level.UNKNOWN: "?", Level.FAIL: "✕"}[level]
    return Content.styled(f"{mark} {level}", STYLE[level])


def short_ref(ref: str) -> str:
    """Without the registry host (the column is narrow; the detail panel shows the whole reference)."""
    first, _, rest = ref.partition("/")
    return rest if rest and ("." in first or ":" in first or first == "localhost") else ref


def compact_arch(arch_list: tuple[str, ...] | None, width: int = 20) -> str:
    """('sm_80', 'sm_86', 'compute_90') → '80,86+PTX90', cut to ``width`` (the detail panel has it all)."""
    if not arch_list:
        return "?"
    sass = ",".join(a.removeprefix("sm_") for a in arch_list if a.startswith("sm_"))
    ptx = "".join(f"+PTX{a.removeprefix('compute_')}" for a in arch_list if a.startswith("compute_"))
    text = sass + ptx
    return text if len(text) <= width else text[:width - 1] + "…"


def image_detail(row: ImageRow) -> Content:
    f = row.facts
    lines = [Content.styled(row.ref, "bold"),
             Content(f"used by: {', '.join(row.used_by) or '-'}" + ("  (candidate)" if row.candidate else "")),
             Content.styled(f"read from: {f.source or '-'}" + (f"  digest {f.digest[:19]}…" if f.digest else ""),
                            tone.MUTED)]
    if f.error:
        lines.append(Content.styled(f"could not read the image config: {f.error}", STYLE[Level.UNKNOWN]))
        return Content("\n").join(lines)
    lines.append(Content(f"CUDA: {f.cuda or 'not declared'}" + (f" (from {f.cuda_from})" if f.cuda_from else "")))
    arch = " ".join(f.arch_list) if f.arch_list else "not declared (verdicts say UNKNOWN)"
    lines.append(Content(f"GPU architectures: {arch}" + (f" (from {f.arch_from})" if f.arch_from else "")))
    lines.append(Content(f"forward-compat package: {'yes, ' + str(f.compat_from) if f.compat_package else 'no'}"))
    lines += [Content.styled(f"problem: {p}", tone.WARNING) for p in f.problems]
    return Content("\n").join(lines)


def cell_detail(report: CompatReport, row: ImageRow, pool: NodePool) -> Content:
    cell = report.cell(row.ref, pool.key)
    nodes = ", ".join(pool.nodes[:6]) + (f" … ({len(pool.nodes)})" if len(pool.nodes) > 6 else "")
    head = [Content.assemble(verdict_text(cell.level) if cell else "", "  ", (short_ref(row.ref), "bold"), " on ",
                             (pool.label, "bold")),
            Content.styled(f"nodes: {nodes} · {pool.gpus} GPUs"
                           + (f" · driver supports CUDA ≤ {pool.facts.cuda_driver}" if pool.facts.cuda_driver else ""),
                           tone.MUTED)]
    for v in cell.verdicts if cell else ():
        head.append(Content.assemble((f"{v.level:<8}", STYLE[v.level]), v.reason))
        if v.fix:
            head.append(Content.styled(f"         fix: {v.fix}", tone.INFO))
    return Content("\n").join(head)


class CompatScreen(Screen[None]):
    """Driver / CUDA / GPU-architecture compatibility of the namespace's images on the cluster's GPU nodes."""

    BINDINGS = [
        Binding("escape", "app.switch_mode('dashboard')", "Back"),
        Binding("c", "focus_candidate", "Candidate image"),
        Binding("m", "focus_matrix", "Matrix"),
        Binding("ctrl+r", "refresh_now", "Check again"),
    ]

    def __init__(self, service: Any = None) -> None:
        super().__init__()
        self._service = service  # anything with ``async report(namespace, candidate)``; default: the app's
        self.report: CompatReport | None = None
        self.candidate: str | None = None
        self.error = ""
        self.at: float | None = None
        self.explanation: Content | None = None  # what the detail panel shows

    def compose(self) -> ComposeResult:
        yield StatusBar()
        with Vertical(id="compat"):
            with Horizontal(id="compat-candidate-row"):
                yield Label("candidate image ", id="compat-candidate-label")
                yield Input(placeholder="registry/repository:tag — enter checks it against every node pool",
                            id="candidate")
            with Vertical(classes="panel", id="compat-matrix-panel"):
                yield Label("Images × node pools", classes="panel-title", id="compat-title")
                yield Label("checking…", classes="panel-status", id="compat-status")
                yield ResourceTable(id="compat-matrix", cursor_type="cell", zebra_stripes=True)
            with Horizontal(id="compat-lower"):
                with Vertical(classes="panel", id="compat-detail-panel"):
                    yield Label("Why (the cell under the cursor)", classes="panel-title")
                    with VerticalScroll():
                        yield Static("select a cell", id="compat-detail")
                with Vertical(classes="panel", id="compat-stack-panel"):
                    yield Label("Stack", classes="panel-title")
                    yield ResourceTable(id="compat-stack", cursor_type="row", show_cursor=False)
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#compat-stack", DataTable).add_columns("", "CHECK", "FINDING")
        self.query_one("#compat-matrix", DataTable).focus()
        self.load()

    # ---- data -----------------------------------------------------------------------------------------
    async def _service_now(self) -> Any:
        if self._service is None:
            self._service = await host(self).services.compat.get()
        return self._service

    async def _namespace(self) -> str | None:
        """The namespace shown, None when every namespace is (their Deployments are checked together)."""
        app = host(self)
        for _ in range(100):  # the cluster service learns it from the kubeconfig once it has connected
            if app.all_namespaces:
                return None
            if app.snapshot.namespace:
                return str(app.snapshot.namespace)
            await asyncio.sleep(0.1)
        return str(app.settings.namespace or "default")

    @work(exclusive=True, exit_on_error=False, group="compat")
    async def load(self) -> None:
        self.query_one("#compat-status", Label).update("checking…")
        try:
            service = await self._service_now()
            report = await service.report(await self._namespace(), self.candidate)
        except Exception as exc:  # any service failure is shown, never raised into the UI
            self.error = str(getattr(exc, "message", None) or exc)
            self.query_one("#compat-status", Label).update(Content.styled(f"check failed: {self.error}", tone.ERROR))
            return
        self.error = ""
        self.show(report)

    def show(self, report: CompatReport) -> None:
        self.report, self.at = report, time.time()
        table = self.query_one("#compat-matrix", DataTable)
        cursor = table.cursor_coordinate
        table.clear(columns=True)
        table.add_column("IMAGE", key="image")
        table.add_column("CUDA", key="cuda")
        table.add_column("ARCH", key="arch")
        for pool in report.pools:
            table.add_column(f"{pool.short} ×{len(pool.nodes)}", key=pool.key)
        for row in report.images:
            f = row.facts
            name = Content.styled(short_ref(row.ref) + (" (candidate)" if row.candidate else ""),
                                  "bold" if row.candidate else "")
            arch = compact_arch(f.arch_list)
            cells = [report.cell(row.ref, p.key) for p in report.pools]
            verdicts = [verdict_text(c.level) if c else "-" for c in cells]
            table.add_row(*tone.cells([name, f.cuda or "?", arch, *verdicts]), key=row.ref)
        if table.row_count:
            table.move_cursor(row=min(cursor.row, table.row_count - 1),
                              column=min(max(cursor.column, len(FIXED_COLUMNS) if report.pools else 0),
                                         len(table.columns) - 1), animate=False)
        stack = self.query_one("#compat-stack", DataTable)
        stack.clear()
        for check in sorted(report.stack, key=lambda c: -c.verdict.level.rank):
            subject = check.subject.removeprefix(f"{report.namespace}/")
            stack.add_row(*tone.cells([verdict_text(check.verdict.level), subject, check.verdict.reason]))
        errors = "; ".join(report.errors)
        title = (f"Images × node pools — namespace {report.namespace or 'all'}: {len(report.images)} images, "
                 f"{len(report.pools)} pools · overall ")
        self.query_one("#compat-title", Label).update(Content.assemble(title, verdict_text(report.level)))
        status = Content.styled(errors, tone.ACCENT) if errors else Content.styled(
            "enter on a cell or move the cursor: the panel below says why" if report.images else
            f"no GPU workload in {'this namespace' if report.namespace else 'any namespace'}: type a candidate "
            "image above", tone.MUTED)
        self.query_one("#compat-status", Label).update(status)
        self.explain()

    def explain(self) -> None:
        report, detail = self.report, self.query_one("#compat-detail", Static)
        table = self.query_one("#compat-matrix", DataTable)
        if report is None or not table.row_count:
            detail.update("no image to explain")
            return
        coord = table.cursor_coordinate
        keys = table.coordinate_to_cell_key(coord)
        row = next((r for r in report.images if r.ref == keys.row_key.value), None)
        pool = next((p for p in report.pools if p.key == keys.column_key.value), None)
        if row is None:
            return
        self.explanation = cell_detail(report, row, pool) if pool else image_detail(row)
        detail.update(self.explanation)

    # ---- events -------------------------------------------------------------------------------------
    def on_data_table_cell_highlighted(self, event: DataTable.CellHighlighted) -> None:
        if event.data_table.id == "compat-matrix":
            self.explain()

    def on_data_table_cell_selected(self, event: DataTable.CellSelected) -> None:
        if event.data_table.id == "compat-matrix":
            self.explain()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "candidate":
            self.candidate = event.value.strip() or None
            self.query_one("#compat-matrix", DataTable).focus()
            self.load()

    def action_focus_candidate(self) -> None:
        self.query_one("#candidate", Input).focus()

    def action_focus_matrix(self) -> None:
        self.query_one("#compat-matrix", DataTable).focus()

    def action_refresh_now(self) -> None:
        self.load()
