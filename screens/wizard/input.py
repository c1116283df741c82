"""The wizard's first three steps: preflight, the model-and-resources form, build and push."""

from __future__ import annotations

import asyncio
from typing import Any

from rich.console import Group
from textual import work
from textual.content import Content
from textual.suggester import SuggestFromList
from textual.widgets import (
    Checkbox,
    Input,
    Label,
    OptionList,
    Select,
    Static,
)

from console.deploy.checks import Status
from console.deploy.progress import DeployProgress
from console.deploy.values.load import values_to_dict
from console.deploy.values.schema import ValuesError
from console.deploy.wizard import (
    FIELDS,
    PRECISIONS,
    blocks_start,
    describe_progress,
    form_fields,
    form_values,
    known_images,
    pick_progress,
    registry_images,
    resume_step,
    size_from_params,
    suggest_gpus,
)
from screens.host import host
from screens.widgets import tone
from screens.wizard.common import (
    FORM_ORDER,
)
from screens.wizard.steps import (
    ResumeDialog,
    checks_summary,
    checks_table,
)


class WizardInputSteps:
    """Mixed into WizardScreen (screens/wizard/screen.py): its attributes and helpers come from there."""

    # ---- step 1: preflight ------------------------------------------------------------------------------
    @work(exclusive=True, exit_on_error=False, group="wizard")
    async def start(self) -> None:
        """Connect the engine, offer a saved progress, then run the preflight."""
        try:
            self.engine = await (self.engine_factory() if self.engine_factory else host(self).services.deploy_engine())
        except Exception as exc:  # DeployError: the kubeconfig cannot be loaded
            self.query_one("#preflight-head", Label).update(Content.styled(getattr(exc, "message", str(exc)),
                                                                           tone.bold(tone.ERROR)))
            self._fail(f"cannot connect: {getattr(exc, 'message', exc)}")
            return
        target = self.engine.target
        self.context = target.context or ""
        given = self.values if self.values_file else None
        saved = await asyncio.to_thread(self.store.all)
        offer = pick_progress(saved, self.context, given.namespace if given else None, given.name if given else None)
        if offer is not None:
            self.app.push_screen(ResumeDialog(describe_progress(offer)),
                                 lambda answer: self._resume_answer(offer, bool(answer)))
            return
        self.run_preflight()

    def _resume_answer(self, progress: DeployProgress, resume: bool) -> None:
        if not resume:
            self.store.clear(progress.context, progress.namespace, progress.name)
            self.notify(f"starting over: the saved progress of {progress.name} was discarded")
        else:
            try:
                self.values = progress.load_values()
            except ValuesError as exc:
                self.notify(f"the saved values cannot be used any more: {exc}", severity="error")
            else:
                self.base = values_to_dict(self.values)
                self.progress = progress
                self.resume_to = resume_step(progress)
                self.done = set(range(1, (self.resume_to or 1)))
        self.run_preflight()

    @work(exclusive=True, exit_on_error=False, group="wizard")
    async def run_preflight(self) -> None:
        if self.engine is None:
            return
        self._status(f"preflight on context {self.context or '?'}…", tone.WARNING)
        values = self.values
        report = await self.engine.preflight(values)
        self.preflight = report
        if report.facts.gpu_nodes is not None:
            self.facts = report.facts
        if report.ok:
            self.checked_values = values
        target = self.engine.target
        head = Content.assemble(("context ", tone.MUTED), (self.context or "?", "bold"), ("  server ", tone.MUTED),
                                target.server or "?", ("  user ", tone.MUTED), target.user or "?", "   ",
                                checks_summary(report.checks),
                                (f"   values: {values.name} in {values.namespace}, image {values.image}", tone.MUTED))
        self.query_one("#preflight-head", Label).update(head)
        self.query_one("#preflight", Static).update(
            checks_table(report.checks, lambda c: c.status is Status.FAIL and not blocks_start(c)))
        self.load_images()
        blocking = [c for c in report.checks if blocks_start(c)]
        if blocking:
            self._fail(f"preflight failed: {', '.join(c.name for c in blocking)} — fix the cluster, then r")
            self.resume_to = None
            return
        if self.resume_to and report.ok:
            step, self.resume_to = self.resume_to, None
            self.done |= {1, 2}
            self.go(step)
            return
        if not report.ok:
            self.problem = "preflight: " + "; ".join(f"{c.name}: {c.message}" for c in report.failures)
            self._status("the failures marked for step 2 can be fixed in the form: n goes on", tone.bold(tone.WARNING))
        else:
            self._status("preflight passed: n goes on to the model and resources", tone.bold(tone.SUCCESS))

    def _next_from_preflight(self) -> None:
        if self.preflight is None or self._busy():
            self.notify("the preflight is still running", severity="warning")
            return
        blocking = [c for c in self.preflight.checks if blocks_start(c)]
        if blocking:
            self.notify(f"cannot go on: {blocking[0].name}: {blocking[0].message}", severity="error")
            return
        self.done.add(1)
        self.go(2)

    @work(exclusive=True, exit_on_error=False, group="images", thread=True)
    def load_images(self) -> None:
        """The images to offer: those running in the cluster, the last pushed build, the cluster's registry."""
        app = host(self)
        running = [d.image for d in app.snapshot.deployments]
        build = app.last_build
        pushed = list(build.pushed if build is not None else ())
        registry: list[str] = []
        note = ""
        registry_host = getattr(self.preflight, "local_registry", None)
        if registry_host:
            try:
                registry = registry_images(registry_host)
            except (OSError, ValueError) as exc:
                note = f" (registry {registry_host}: {exc})"
        images = known_images([self.values.image], pushed, running, registry)
        self.app.call_from_thread(self._show_images, images, note)

    def _show_images(self, images: list[str], note: str) -> None:
        self.images = images
        box = self.query_one("#images", OptionList)
        box.clear_options()
        box.add_options(images)
        self.query_one("#f-image", Input).suggester = SuggestFromList(images, case_sensitive=True)
        self.query_one("#images-title", Label).update(f"images (enter picks one): {len(images)}{note}")

    # ---- step 2: the form -------------------------------------------------------------------------------
    def _fill_form(self) -> None:
        if self._form_for == self.values:
            return
        self._form_for = self.values
        form = form_fields(self.values)
        for fid, value in form.items():
            if fid == "hpa":
                self.query_one("#f-hpa", Checkbox).value = bool(value)
            else:
                self.query_one(f"#f-{fid}", Input).value = str(value)
        self.query_one("#f-params", Input).value = ""
        self._suggested = None
        self._gpus_touched = False
        self._show_suggestion(self.values.model.size_gib)
        self._show_errors({}, [])
        self.query_one("#recheck", Static).update("")

    def read_form(self) -> dict[str, Any]:
        form: dict[str, Any] = {fid: self.query_one(f"#f-{fid}", Input).value for fid in FIELDS if fid != "hpa"}
        form["hpa"] = self.query_one("#f-hpa", Checkbox).value
        return form

    def set_field(self, fid: str, value: str | bool) -> None:
        """Fill one form field (as typing would)."""
        if fid == "hpa":
            self.query_one("#f-hpa", Checkbox).value = bool(value)
        else:
            self.query_one(f"#f-{fid}", Input).value = str(value)

    def _show_errors(self, errors: dict[str, list[str]], general: list[str]) -> None:
        for fid in FIELDS:
            if fid == "hpa":
                continue
            label = self.query_one(f"#e-{fid}", Label)
            text = "; ".join(errors.get(fid, []))
            label.update(Content.styled(f"↳ {text}", tone.bold(tone.ERROR)) if text else "")
            label.display = bool(text)
            self.query_one(f"#f-{fid}", Input).set_class(bool(text), "-invalid-field")
        box = self.query_one("#form-general", Static)
        box.update(Content.styled("\n".join(general), tone.bold(tone.ERROR)) if general else "")
        box.display = bool(general)

    def field_error(self, fid: str) -> str:
        return str(self.query_one(f"#e-{fid}", Label).render())

    def _show_suggestion(self, size_gib: float | None) -> None:
        hint = suggest_gpus(size_gib, self.facts)
        label = self.query_one("#gpu-suggestion", Label)
        label.update(Content.styled(f"suggested: {hint.text}", tone.INFO) if hint else
                     Content.styled("give the weights' size (or parameters) for a suggestion", tone.MUTED))
        if hint is None:
            return
        self._suggested = hint.gpus
        box = self.query_one("#f-gpus", Input)
        if not self._gpus_touched and box.value != str(hint.gpus):
            box.value = str(hint.gpus)

    def on_input_changed(self, event: Input.Changed) -> None:
        fid = (event.input.id or "").removeprefix("f-")
        if fid == "params":
            self._params_changed()
        elif fid == "size":
            try:
                size = float(event.value) if event.value.strip() else None
            except ValueError:
                size = None
            self._show_suggestion(size)
        elif fid == "gpus":  # typed by the user: keep it (an emptied field takes the suggestion again)
            self._gpus_touched = bool(event.value.strip()) and event.value.strip() != str(self._suggested)

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "f-precision":
            self._params_changed()

    def _params_changed(self) -> None:
        text = self.query_one("#f-params", Input).value.strip().rstrip("bB")
        precision = self.query_one("#f-precision", Select).value
        try:
            params = float(text)
        except ValueError:
            return
        if params > 0 and isinstance(precision, str) and precision in PRECISIONS:
            self.query_one("#f-size", Input).value = f"{size_from_params(params, PRECISIONS[precision]):.1f}"

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "out-dir":
            self.action_write()
            return
        if self.step != 2:
            return
        order = [f"f-{fid}" for fid in FORM_ORDER]
        if event.input.id in order:
            index = order.index(event.input.id)
            if index + 1 < len(order):
                self.query_one(f"#{order[index + 1]}", Input).focus()
            else:
                self.action_next()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option_list.id == "images":
            self.query_one("#f-image", Input).value = str(event.option.prompt)
        elif event.option_list.id == "files":
            self._show_file(str(event.option.id))

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option_list.id == "files" and event.option.id:
            self._show_file(str(event.option.id))

    @work(exclusive=True, exit_on_error=False, group="wizard")
    async def check_form(self) -> None:
        result = form_values(self.base, self.read_form(), self.facts if self.facts.gpu_nodes else None)
        self._show_errors(result.errors, result.general)
        if result.values is None:
            self._fail(f"{sum(len(v) for v in result.errors.values()) + len(result.general)} problem(s) in the form: "
                       "see the fields marked in red")
            return
        values = result.values
        if values.warnings:
            self.notify("\n".join(values.warnings), severity="warning", timeout=8)
        if values != self.checked_values:
            self._status(f"preflight with these values (image {values.image}, namespace {values.namespace})…",
                         tone.WARNING)
            report = await self.engine.preflight(values)
            self.recheck = report
            self.query_one("#recheck", Static).update(Group(
                tone.rich(Content.styled("preflight with the form's values:", "bold")), checks_table(
                    [c for c in report.checks if c.status is not Status.OK] or report.checks[:1])))
            if report.facts.gpu_nodes is not None:
                self.facts = report.facts
            if not report.ok:
                first = report.failures[0]
                self._fail(f"stopped at preflight: {first.name}: {first.message}"
                           + (f" (fix: {first.fix})" if first.fix else ""))
                return
            self.checked_values = values
        self.values = values
        self._form_for = values
        self.base = values_to_dict(values)
        self.save("preflight")
        self.done |= {1, 2}
        self.go(3)

    # ---- step 3: build ----------------------------------------------------------------------------------
    def _show_build_note(self) -> None:
        build = host(self).last_build
        pushed = list(build.pushed if build is not None else ())
        parts: list[str | tuple[str, str]] = [
            "The wizard deploys an image that is already in a registry the nodes pull from.\n\n",
            ("To build one: ", "bold"),
            "o opens the Builds screen (:builds) — b builds from a Dockerfile with its live log and lint findings, "
            "p pushes it. Come back with esc there, or :deploy-new: the wizard stays open with its state (and once "
            "quit, it resumes from its progress file).\n\n",
            (f"Image now: {self.values.image}\n", tone.bold(tone.INFO))]
        if pushed:
            parts.append((f"Last pushed build: {pushed[0]} — u uses it (the preflight checks it again in step 4).\n",
                          tone.SUCCESS))
        elif build is not None:
            parts.append((f"Last build: {build.tag} (not pushed yet: push it first, p on the Builds screen).\n",
                          tone.WARNING))
        parts.append(("\nNothing to build? n goes on to render and apply.", tone.MUTED))
        self.query_one("#build-note", Static).update(Content.assemble(*parts))

    def action_open_builds(self) -> None:
        self.app.switch_mode("builds")

    def action_use_build(self) -> None:
        build = host(self).last_build
        pushed = list(build.pushed if build is not None else ())
        if not pushed:
            self.notify("no pushed build in this session", severity="warning")
            return
        try:
            from console.deploy.values.load import parse_values

            self.values = parse_values({**values_to_dict(self.values), "image": pushed[0]})
        except ValuesError as exc:
            self.notify(str(exc), severity="error")
            return
        self.base = values_to_dict(self.values)
        self._show_build_note()
        self.notify(f"image set to {pushed[0]}")

