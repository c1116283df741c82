"""The guided deployment: ``llmctl deploy --guided``, ``D`` on the dashboard, ``:deploy-new`` / ``:wizard``.

Six steps over the deploy engine (console/deploy/engine.py), one at a time, each able to go back (``b``):

1. Preflight — the engine's checks (cluster ≥ 1.25, permissions, GPU nodes and free GPUs, device plugin,
   the image's compatibility), with the values so far. Failures the form can fix (image, GPUs, namespace
   permissions) do not block here; the others do.
2. Model and resources — a form validated by the values file's own validation (errors under the fields),
   the GPUs per replica suggested from the model's size and the nodes' GPU memory; leaving it runs the
   preflight again with the form's values and stops on any failure.
3. Build and push — points to the Builds screen (``:builds``); a pushed build can be taken as the image.
4. Render and apply — the files (YAML), the diff against what is live, the server dry-run; ``a`` applies
   (the engine dry-runs every object first and applies nothing unless all pass).
5. Rollout and verify — pods with their cold-start timers and FailedScheduling reasons, then the engine's
   verify (pods Ready, metrics arriving, alert rules loaded).
6. Summary — what was created, the files written (``w``: manifests and values.yaml into a directory),
   the kubectl equivalents, next steps.

All cluster I/O runs in workers (the first frame never waits). The progress (values, steps done) is saved
with the engine's ProgressStore after each step, so quitting midway can be resumed: on start, an unfinished
progress of this context is offered. Quitting during an apply cancels it — the engine deletes what it
created — and waits for that before closing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.suggester import SuggestFromList
from textual.widgets import (
    Button,
    Checkbox,
    ContentSwitcher,
    DataTable,
    Input,
    Label,
    OptionList,
    Select,
    Static,
)
from textual.worker import Worker, WorkerState

from console.deploy.progress import DeployProgress, ProgressStore
from console.deploy.values.load import values_to_dict
from console.deploy.values.nodes import NodeFacts
from console.deploy.values.schema import Values
from console.deploy.wizard import (
    PRECISIONS,
    WIZARD_STEPS,
    describe_progress,
)
from screens.host import host
from screens.widgets import tone
from screens.widgets.footer import KeyFooter
from screens.widgets.statusbar import StatusBar
from screens.widgets.table import ResourceTable
from screens.wizard.common import (
    LABELS,
    PLACEHOLDERS,
    EngineFactory,
    starting_values,
)
from screens.wizard.deploy import WizardDeploySteps
from screens.wizard.input import WizardInputSteps
from screens.wizard.steps import (
    POD_COLUMNS,
    step_bar,
)


class WizardScreen(WizardInputSteps, WizardDeploySteps, Screen[None]):
    """The guided deployment (see the module docstring)."""

    BINDINGS = [
        Binding("n", "next", "Next"),
        Binding("b", "back", "Back"),
        Binding("a", "apply", "Apply"),
        Binding("w", "write", "Write files"),
        Binding("o", "open_builds", "Builds screen"),
        Binding("u", "use_build", "Use last build"),
        Binding("r", "rerun", "Run again"),
        Binding("escape,q", "quit_wizard", "Quit (resumable)"),
    ]
    STEP_KEYS = {"apply": {4}, "write": {6}, "open_builds": {3}, "use_build": {3}, "rerun": {1, 4, 5}}

    def __init__(self, values: Values | None = None, *, values_file: str | None = None,
                 engine_factory: EngineFactory | None = None, store: ProgressStore | None = None,
                 standalone: bool = False, clock: Callable[[], float] = time.monotonic,
                 namespace: str | None = None) -> None:
        super().__init__()
        self.values: Values = values or starting_values(namespace)
        self.values_file = values_file
        self.base: dict[str, Any] = values_to_dict(self.values)
        self.engine_factory = engine_factory
        self.store = store or ProgressStore()
        self.standalone = standalone
        self.clock = clock
        self.engine: Any = None
        self.context = ""
        self.step = 1
        self.done: set[int] = set()
        self.facts = NodeFacts()
        self.preflight: Any = None  # PreflightReport of step 1
        self.recheck: Any = None  # PreflightReport with the form's values (step 2, or step 4 on resume)
        self.checked_values: Values | None = None  # the values the last passing preflight was for
        self.rendered: Any = None
        self.plan: Any = None
        self.dry: Any = None
        self.applied: Any = None
        self.rollout: Any = None
        self.verified: Any = None
        self.progress: DeployProgress | None = None
        self.resume_to: int | None = None
        self.images: list[str] = []
        self.written: list[Path] = []
        self.first_seen: dict[str, float] = {}
        self.problem = ""  # the last step's failure, for tests and the status line
        self._form_for: Values | None = None
        self._suggested: int | None = None
        self._gpus_touched = False
        self._files: dict[str, str] = {}
        self._apply_worker: Worker[Any] | None = None
        self._wizard_closing = False
        self._default_dir = ""

    # ---- layout -----------------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield StatusBar()
        yield Static(step_bar(1, set()), id="wizard-steps")
        with ContentSwitcher(initial="step-1", id="wizard-body"):
            with Vertical(id="step-1", classes="wizard-step"):
                yield Label("Preflight: can this cluster run the deployment?", classes="panel-title")
                yield Label("connecting…", id="preflight-head")
                with VerticalScroll(classes="wizard-scroll"):
                    yield Static("", id="preflight")
            with Vertical(id="step-2", classes="wizard-step"):
                yield Label("Model and resources", classes="panel-title")
                with Horizontal(id="form"):
                    with Vertical(id="form-left"):
                        for fid in ("name", "namespace", "model_name"):
                            yield from self._field(fid)
                        with Horizontal(classes="field-row"):
                            yield Label(LABELS["params"], classes="field-label")
                            yield Input(id="f-params", compact=True, placeholder=PLACEHOLDERS["params"])
                            yield Select([(k, k) for k in PRECISIONS], value="bf16/fp16", allow_blank=False,
                                         id="f-precision", compact=True)
                        for fid in ("size", "image"):
                            yield from self._field(fid)
                        yield Label("images (enter picks one):", classes="field-hint", id="images-title")
                        yield OptionList(id="images")
                    with Vertical(id="form-right"):
                        yield from self._field("gpus")
                        yield Label("", id="gpu-suggestion", classes="field-hint")
                        yield from self._field("replicas")
                        with Horizontal(classes="field-row"):
                            yield Label(LABELS["hpa"], classes="field-label")
                            yield Checkbox("HorizontalPodAutoscaler", value=True, id="f-hpa")
                        for fid in ("hpa_min", "hpa_max"):
                            yield from self._field(fid)
                        yield Static("", id="form-general", classes="field-error")
                        with VerticalScroll(id="recheck-box"):
                            yield Static("", id="recheck")
            with Vertical(id="step-3", classes="wizard-step"):
                yield Label("Build and push (optional)", classes="panel-title")
                yield Static("", id="build-note")
            with Vertical(id="step-4", classes="wizard-step"):
                yield Label("Render, diff and apply", classes="panel-title")
                yield Label("", id="plan-head")
                with Horizontal(id="render-body"):
                    yield OptionList(id="files")
                    with VerticalScroll(id="file-box"):
                        yield Static("", id="file-view")
                with VerticalScroll(id="apply-box"):
                    yield Static("", id="apply-results")
            with Vertical(id="step-5", classes="wizard-step"):
                yield Label("Rollout and verify", classes="panel-title")
                yield Static("", id="rollout-head")
                yield ResourceTable(id="pods", cursor_type="row", zebra_stripes=True)
                yield Static("", id="scheduling")
                with VerticalScroll(id="verify-box"):
                    yield Static("", id="verify")
            with Vertical(id="step-6", classes="wizard-step"):
                yield Label("Summary", classes="panel-title")
                with Horizontal(classes="field-row", id="out-row"):
                    yield Label("Write to", classes="field-label")
                    yield Input(id="out-dir", compact=True)
                    yield Button("Write files (w)", id="write", compact=True, variant="primary")
                with VerticalScroll(classes="wizard-scroll"):
                    yield Static("", id="summary")
        with Horizontal(id="wizard-nav"):
            yield Button("◀ Back (b)", id="back", compact=True)
            yield Label("", id="wizard-status")
            yield Button("Apply (a)", id="apply", compact=True, variant="warning")
            yield Button("Next ▶ (n)", id="next", compact=True, variant="primary")
        yield KeyFooter()

    def _field(self, fid: str) -> ComposeResult:
        with Horizontal(classes="field-row"):
            yield Label(LABELS[fid], classes="field-label")
            suggester = SuggestFromList([], case_sensitive=True) if fid == "image" else None
            yield Input(id=f"f-{fid}", compact=True, placeholder=PLACEHOLDERS.get(fid, ""), suggester=suggester)
        yield Label("", id=f"e-{fid}", classes="field-error")

    def on_mount(self) -> None:
        self.query_one("#pods", DataTable).add_columns(*POD_COLUMNS)
        self._show_step()
        self._status("connecting to the cluster…", tone.WARNING)
        self.set_interval(1.0, self._tick)
        self.start()

    async def on_unmount(self) -> None:
        if self.engine is not None:
            await self.engine.close()

    # ---- status and navigation --------------------------------------------------------------------------
    def _status(self, text: str, style: str = "") -> None:
        self.query_one("#wizard-status", Label).update(Content.styled(text, style))

    def _fail(self, text: str) -> None:
        self.problem = text
        self._status(text, tone.bold(tone.ERROR))

    @property
    def closing(self) -> bool:
        """Quit (or finished): on its way out."""
        return self._wizard_closing

    @property
    def status_text(self) -> str:
        return str(self.query_one("#wizard-status", Label).render())

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A step that failed unexpectedly (the API went away mid-step, …): say so instead of waiting forever."""
        if event.state is WorkerState.ERROR and event.worker.node is self:
            error = event.worker.error
            self._fail(f"{event.worker.name.strip('_')} failed: {getattr(error, 'message', None) or error} "
                       "(r runs the step again)")

    def _busy(self) -> bool:
        return any(w.node is self and w.group == "wizard" and w.state in (WorkerState.PENDING, WorkerState.RUNNING)
                   for w in self.workers)

    def _applying(self) -> bool:
        w = self._apply_worker
        return w is not None and w.state in (WorkerState.PENDING, WorkerState.RUNNING)

    def _show_step(self) -> None:
        self.query_one("#wizard-body", ContentSwitcher).current = f"step-{self.step}"
        self.query_one("#wizard-steps", Static).update(step_bar(self.step, self.done))
        self.query_one("#back", Button).disabled = self.step == 1
        self.query_one("#apply", Button).display = self.step == 4
        self.query_one("#next", Button).label = "Finish ▶ (n)" if self.step == 6 else "Next ▶ (n)"
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        steps = self.STEP_KEYS.get(action)
        if steps is not None and self.step not in steps:
            return False
        if action == "back" and self.step == 1:
            return None
        if action == "use_build" and not (host(self).last_build and host(self).last_build.pushed):
            return None
        return True

    def go(self, step: int) -> None:
        if step != self.step:
            self.workers.cancel_group(self, "wizard")
        self.problem = ""
        self.step = step
        self._show_step()
        if step == 2:
            self._fill_form()
            self._status("enter: next field; enter on the last one (or Next) checks the form and runs the preflight "
                         "with it")
            self.query_one("#f-name", Input).focus()
        elif step == 3:
            self._show_build_note()
            self._status("optional: build and push on the Builds screen (o), or go on with the image of step 2 (n)")
        elif step == 4:
            self.prepare()
        elif step == 5:
            self.follow()
        elif step == 6:
            self._show_summary()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        actions = {"back": self.action_back, "next": self.action_next, "apply": self.action_apply,
                   "write": self.action_write}
        if event.button.id in actions:
            event.stop()
            actions[event.button.id]()

    def action_back(self) -> None:
        if self._applying():
            self.notify("applying: wait for it to finish (or quit: what this run created is deleted again)",
                        severity="warning")
            return
        if self.step > 1:
            self.go(self.step - 1)

    def action_next(self) -> None:
        if self._applying():
            self.notify("applying: wait for it to finish", severity="warning")
            return
        self.problem = ""
        if self.step == 1:
            self._next_from_preflight()
        elif self.step == 2:
            self.check_form()
        elif self.step == 3:
            self.done.add(3)
            self.go(4)
        elif self.step == 4:
            if self.applied is not None and self.applied.ok:
                self.go(5)
            elif self.plan is not None and not self.plan.changes and self.dry is not None:
                self.do_apply(then_next=True)  # sends nothing: records the step
            elif self._busy():
                self.notify("still rendering and diffing", severity="warning")
            else:
                self.notify("review the plan, then apply with a (nothing is applied unless every object passes "
                            "the server dry-run)", severity="warning")
        elif self.step == 5:
            if self._busy():
                self.notify("still following the rollout / verifying", severity="warning")
            elif self.rollout is None or not self.rollout.done:
                self.notify("the rollout is not done: r follows it again", severity="warning")
            else:
                self.go(6)
        elif self.step == 6:
            self.close_wizard()

    def action_rerun(self) -> None:
        if self.step == 1:
            self.run_preflight()
        elif self.step == 4 and not self._applying():
            self.prepare()
        elif self.step == 5:
            self.follow()

    # ---- progress ---------------------------------------------------------------------------------------
    def save(self, step: str | None = None, error: str | None = None) -> None:
        """Record ``step`` as done for the current values in the progress file (resumable)."""
        values = self.values
        p = self.progress
        if p is None or (p.namespace, p.name, p.context) != (values.namespace, values.name, self.context):
            if p is not None and "apply" not in p.completed:
                self.store.clear(p.context, p.namespace, p.name)  # renamed before anything was applied
            p = self.progress = self.store.start(self.context, values, self.values_file)
        p.values = values_to_dict(values)
        if step:
            p.mark(step)
        if error:
            p.error = error
        try:
            self.store.save(p)
        except OSError as exc:
            self.notify(f"cannot save the progress file: {exc}", severity="error")

    # ---- quitting ---------------------------------------------------------------------------------------
    def action_quit_wizard(self) -> None:
        self.close_wizard()

    @work(exclusive=True, exit_on_error=False, group="close")
    async def close_wizard(self) -> None:
        if self._wizard_closing:
            return
        self._wizard_closing = True
        worker = self._apply_worker
        if worker is not None and worker.state in (WorkerState.PENDING, WorkerState.RUNNING):
            self._status("cancelling the apply: deleting what this run created…", tone.bold(tone.WARNING))
            worker.cancel()
            try:
                await worker.wait()
            except Exception:  # WorkerCancelled / WorkerFailed: the rollback ran in the engine
                pass
        self.workers.cancel_group(self, "wizard")
        finished = self.progress is not None and self.progress.next_step is None
        if self.progress is not None and not finished:
            self.save()
            self.notify(f"progress saved: {describe_progress(self.progress)}", timeout=6)
        if self.standalone:
            self.app.exit(return_code=0 if finished else 1)
        else:
            self.dismiss(None)


WIZARD_STEP_COUNT = len(WIZARD_STEPS)
