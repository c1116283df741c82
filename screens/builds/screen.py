"""The Builds screen: this session's builds and recent local images, the live log of a build (step
durations, cache hits, RUN output), the layer table (largest first, from metadata), lint findings and
push progress. Builds and pushes run in thread workers that post one message per engine event."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Label, RichLog, Static

from console.builds.lint import lint_context
from console.builds.model import (
    BuildCancelled,
    BuildEvent,
    BuildFailed,
    BuildRecord,
    BuildRequest,
    BuildServiceError,
    BuildState,
    BuildSucceeded,
    ImageInfo,
    ImageSummary,
    LayerProgress,
    LintFinding,
    StageSummary,
)
from screens.builds.push import PushMixin
from screens.builds.view import (
    LAYER_COLUMNS,
    LIST_COLUMNS,
    apply_event,
    event_lines,
    findings_view,
    image_cells,
    image_facts,
    layer_rows,
    record_cells,
    request_from_form,
)
from screens.host import host
from screens.widgets import tone
from screens.widgets.dialogs import FormDialog
from screens.widgets.filling import fill_table
from screens.widgets.footer import KeyFooter
from screens.widgets.statusbar import StatusBar
from screens.widgets.table import ResourceTable

LOG_LIMIT = 5000  # lines kept per build


@dataclass
class BuildProgress(Message):
    """One event of build ``number`` from the engine (posted from the build's thread worker)."""

    number: int
    event: BuildEvent


@dataclass
class LintDone(Message):
    number: int
    findings: list[LintFinding]


@dataclass
class EngineState(Message):
    """The engine answered (version, images) or not (the message says how to point DOCKER_HOST)."""

    version: str
    images: list[ImageSummary]
    problem: str = ""


@dataclass
class Inspected(Message):
    reference: str
    image: ImageInfo | None
    problem: str = ""


class BuildsScreen(PushMixin, Screen[None]):
    """``:builds`` — build, watch, inspect and push images on the Docker Engine."""

    BINDINGS = [
        Binding("b", "start_build", "Build"),
        Binding("x", "cancel_build", "Cancel build"),
        Binding("p", "push", "Push"),
        Binding("r", "refresh", "Refresh images"),
        Binding("enter", "open", "Show", show=False),
        Binding("escape", "app.switch_mode('dashboard')", "Back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.records: dict[int, BuildRecord] = {}
        self.logs: dict[int, list[Content]] = {}
        self.findings: dict[int, list[LintFinding]] = {}
        self.images: list[ImageSummary] = []
        self.shown: str = ""  # list key of what the lower panels show: "b:3" or "i:REF"
        self.inspected: dict[str, ImageInfo] = {}
        self.push_layers: dict[str, LayerProgress] = {}
        self._build_run: Any = None  # the running BuildRun, cancellable
        self._building: int | None = None
        self._last_request: BuildRequest | None = None
        self._stages: dict[int, tuple[StageSummary, ...]] = {}

    def compose(self) -> ComposeResult:
        yield StatusBar()
        with Horizontal(id="builds-top"):
            with Vertical(classes="panel", id="builds-list-panel"):
                yield Label("Builds and local images", classes="panel-title")
                yield Static("connecting to the Docker Engine…", id="engine-status", classes="panel-status")
                yield ResourceTable(id="builds-list", cursor_type="row", zebra_stripes=True)
            with VerticalScroll(classes="panel", id="builds-lint-panel"):
                yield Label("Lint", classes="panel-title")
                yield Static(Content.styled("start a build with b: its context is linted first", tone.MUTED),
                             id="lint")
        with Horizontal(id="builds-bottom"):
            with Vertical(classes="panel", id="builds-log-panel"):
                yield Label("Log", classes="panel-title", id="log-title")
                yield RichLog(id="build-log", max_lines=LOG_LIMIT, wrap=False, auto_scroll=True)
            with Vertical(classes="panel", id="builds-layers-panel"):
                yield Label("Layers (largest first)", classes="panel-title")
                yield Static("", id="image-facts")
                yield ResourceTable(id="layers", cursor_type="row", zebra_stripes=True)
                yield Static("", id="push-progress")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#builds-list", DataTable).add_columns(*LIST_COLUMNS)
        self.query_one("#layers", DataTable).add_columns(*LAYER_COLUMNS)
        tone.on_theme_change(self, self._redraw_log)  # the log keeps what it drew: draw it in the new colours
        self.load_engine()

    def on_unmount(self) -> None:
        if self._build_run is not None:  # leaving the console stops the build on the engine too
            self._build_run.cancel()

    # ---- engine and list -------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="builds-engine")
    def load_engine(self) -> None:
        service = host(self).services.builds
        try:
            version = service.version()
            self.post_message(EngineState(version, service.images()))
        except BuildServiceError as exc:
            self.post_message(EngineState("", [], str(exc)))

    def on_engine_state(self, message: EngineState) -> None:
        status = self.query_one("#engine-status", Static)
        engine_host = host(self).services.builds.host
        if message.problem:
            status.update(Content.styled(message.problem, tone.bold(tone.ERROR)))
        else:
            status.update(Content.styled(f"Docker Engine {message.version} at {engine_host}", tone.MUTED))
        self.images = message.images
        self.refresh_list()

    def refresh_list(self) -> None:
        rows: list[tuple[str, tuple[object, ...]]] = [
            (f"b:{n}", record_cells(r)) for n, r in sorted(self.records.items(), reverse=True)]
        built = {t for r in self.records.values() for t in r.request.tags}
        rows += [(f"i:{i.reference}", image_cells(i)) for i in self.images if i.reference not in built]
        fill_table(self.query_one("#builds-list", DataTable), rows)

    def selected_key(self) -> str:
        table = self.query_one("#builds-list", DataTable)
        if not table.row_count:
            return ""
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "builds-list" and event.row_key.value and event.row_key.value != self.shown:
            self.show(str(event.row_key.value))

    def action_open(self) -> None:
        if self.selected_key():
            self.show(self.selected_key())

    def show(self, key: str) -> None:
        """Fill the log, lint and layer panels with one build (``b:N``) or one local image (``i:REF``)."""
        self.shown = key
        log = self.query_one("#build-log", RichLog)
        log.clear()
        if key.startswith("b:"):
            number = int(key[2:])
            record = self.records[number]
            self.query_one("#log-title", Label).update(f"Log — build #{number} {record.tag} ({record.state.value})")
            self._redraw_log()
            self.query_one("#lint", Static).update(findings_view(self.findings.get(number, [])))
            self.show_image(record.image, self._stages.get(number, ()))
        else:
            reference = key[2:]
            self.query_one("#log-title", Label).update(f"Log — {reference} (not built in this session)")
            self.query_one("#lint", Static).update(Content.styled("lint runs on a build's context", tone.MUTED))
            if reference in self.inspected:
                self.show_image(self.inspected[reference])
            else:
                self.show_image(None)
                self.inspect(reference)

    def _redraw_log(self) -> None:
        """The shown build's log, all of it (on show, and after a theme change: the RichLog keeps what it drew)."""
        if self.shown.startswith("b:"):
            log = self.query_one("#build-log", RichLog)
            log.clear()
            for line in self.logs.get(int(self.shown[2:]), []):
                log.write(tone.rich(line, wrap=False))

    def show_image(self, image: ImageInfo | None, stages: tuple[StageSummary, ...] = ()) -> None:
        facts = self.query_one("#image-facts", Static)
        facts.update(image_facts(image, stages) if image else Content.styled("no image yet", tone.MUTED))
        fill_table(self.query_one("#layers", DataTable), layer_rows(image) if image else [])

    @work(thread=True, exclusive=True, exit_on_error=False, group="builds-inspect")
    def inspect(self, reference: str) -> None:
        try:
            self.post_message(Inspected(reference, host(self).services.builds.inspect(reference)))
        except BuildServiceError as exc:
            self.post_message(Inspected(reference, None, str(exc)))

    def on_inspected(self, message: Inspected) -> None:
        if message.image is not None:
            self.inspected[message.reference] = message.image
        if self.shown == f"i:{message.reference}":
            self.show_image(message.image)
            if message.problem:
                self.query_one("#image-facts", Static).update(Content.styled(message.problem, tone.bold(tone.ERROR)))

    def action_refresh(self) -> None:
        self.load_engine()

    # ---- build -------------------------------------------------------------------------------------------
    def action_start_build(self) -> None:
        if self._building is not None:
            self.notify(f"build #{self._building} is still running (x cancels it)", severity="warning")
            return
        last = self._last_request
        fields = [
            ("context", "Context folder", last.context if last else os.getcwd()),
            ("dockerfile", "Dockerfile (relative to the context)", last.dockerfile if last else "Dockerfile"),
            ("tag", "Tag (registry/repo:version)", last.tags[0] if last and last.tags else ""),
            ("target", "Target stage (empty: the last)", (last.target or "") if last else ""),
            ("args", "Build args (K=V K2=V2)", " ".join(f"{k}={v}" for k, v in last.build_args) if last else ""),
        ]
        self.app.push_screen(FormDialog("Build an image", fields, "enter: next field / build · esc: cancel"),
                             self._form_done)

    def _form_done(self, values: dict[str, str] | None) -> None:
        if values is None:
            return
        request = request_from_form(values)
        if isinstance(request, str):
            self.notify(request, severity="error", timeout=8)
            return
        self.begin_build(request)

    def begin_build(self, request: BuildRequest) -> int:
        """Start a build (lint first, then the engine); returns its number in the list."""
        number = max(self.records, default=0) + 1
        self._last_request = request
        self.records[number] = BuildRecord(number, request, BuildState.RUNNING, time.time())
        self.logs[number] = []
        self._building = number
        self.app.last_build = self.records[number]
        self.refresh_list()
        self.query_one("#builds-list", DataTable).move_cursor(row=0)
        self.show(f"b:{number}")
        self.run_build(number, request)
        return number

    @work(thread=True, exclusive=True, exit_on_error=False, group="builds-build")
    def run_build(self, number: int, request: BuildRequest) -> None:
        service = host(self).services.builds
        try:
            findings = lint_context(request.context, request.dockerfile, request.tags, dict(request.build_args),
                                    request.target)
            self.post_message(LintDone(number, findings))
        except OSError as exc:
            self.post_message(BuildProgress(number, BuildFailed(f"cannot read the context: {exc}")))
            return
        limit = int(host(self).settings.image_size_limit_gb * 1e9)
        try:
            self._build_run = service.start_build(request, size_limit=limit)
            for event in self._build_run:
                self.post_message(BuildProgress(number, event))
        except BuildServiceError as exc:
            self.post_message(BuildProgress(number, BuildFailed(str(exc))))

    def on_lint_done(self, message: LintDone) -> None:
        self.findings[message.number] = message.findings
        if self.shown == f"b:{message.number}":
            self.query_one("#lint", Static).update(findings_view(message.findings))

    def on_build_progress(self, message: BuildProgress) -> None:
        number, event = message.number, message.event
        lines = event_lines(event)
        self.logs[number].extend(lines)
        del self.logs[number][:-LOG_LIMIT]
        record = apply_event(self.records[number], event)
        self.records[number] = record
        if self.shown == f"b:{number}":
            log = self.query_one("#build-log", RichLog)
            for line in lines:
                log.write(tone.rich(line, wrap=False))
        if isinstance(event, BuildSucceeded | BuildFailed | BuildCancelled):
            self._build_run, self._building = None, None
            if isinstance(event, BuildSucceeded):
                self._stages[number] = event.stages
                self.findings[number] = [*self.findings.get(number, []), *event.findings]
                self.load_engine()
            if self.shown == f"b:{number}":
                self.show(f"b:{number}")
            self.notify(f"build #{number} {record.state.value}", severity="error" if isinstance(
                event, BuildFailed) else "information")
        if not lines or isinstance(event, BuildSucceeded | BuildFailed | BuildCancelled) or lines[0].plain.startswith(
                "Step"):
            self.refresh_list()  # the list changes on a new step or the outcome, not on every output line
        self.app.last_build = record

    def action_cancel_build(self) -> None:
        if self._build_run is None:
            self.notify("no build is running", severity="warning")
            return
        self._build_run.cancel()
        self.notify(f"cancelling build #{self._building}…")
