"""The wizard's last three steps: render, diff, dry-run and apply; rollout and verify; the summary."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

from rich.console import Group
from textual import work
from textual.content import Content
from textual.widgets import (
    Button,
    DataTable,
    Input,
    Label,
    OptionList,
    Static,
)

from console.deploy.checks import Status
from console.deploy.wizard import (
    created_and_changed,
    default_directory,
    kubectl_equivalents,
    next_steps,
    write_outputs,
)
from screens.widgets import tone
from screens.widgets.filling import fill_table
from screens.wizard.common import (
    POLL_S,
    ROLLOUT_TIMEOUT_S,
    VERIFY_TIMEOUT_S,
)
from screens.wizard.steps import (
    apply_view,
    checks_table,
    lines_view,
    plan_view,
    pod_cells,
    scheduling_view,
    verdict_line,
    yaml_view,
)


class WizardDeploySteps:
    """Mixed into WizardScreen (screens/wizard/screen.py): its attributes and helpers come from there."""

    # ---- step 4: render, diff, dry-run, apply -------------------------------------------------------------
    @work(exclusive=True, exit_on_error=False, group="wizard")
    async def prepare(self) -> None:
        from console.deploy.engine import DeployError

        self.applied = self.plan = self.dry = None
        self.query_one("#apply", Button).disabled = True
        self.query_one("#apply-results", Static).update("")
        values = self.values
        engine = self.engine
        if self.checked_values != values:
            self._status("preflight with the saved values…", tone.WARNING)
            report = await engine.preflight(values)
            self.recheck = report
            if not report.ok:
                self.query_one("#apply-results", Static).update(checks_table(report.failures))
                first = report.failures[0]
                self._fail(f"stopped at preflight: {first.name}: {first.message} — b goes back to change the values")
                return
            self.checked_values = values
        rendered = self.rendered = engine.render(values)
        engine.manifest_dir = Path(self._out_dir()).expanduser()
        files = rendered.files()
        self._files = {"plan": "", **files}
        box = self.query_one("#files", OptionList)
        box.clear_options()
        from textual.widgets.option_list import Option

        box.add_options([Option("plan and diff", id="plan"), Option("server dry-run", id="dry-run"),
                         *[Option(name, id=name) for name in files]])
        self.save("render")
        self._status("diff against what is live…", tone.WARNING)
        try:
            plan = await engine.diff(rendered)
        except DeployError as exc:
            self._fail(f"diff failed: {exc.message}")
            return
        self.plan = plan
        self.save("diff")
        self._show_file("plan")
        box.highlighted = 0
        self.query_one("#plan-head", Label).update(Content.assemble(
            (f"{len(rendered.objects)} objects in {len(files)} files → namespace {values.namespace}: ", "bold"),
            (plan.summary(), tone.bold(tone.SUCCESS) if not plan.changes else tone.bold(tone.WARNING))))
        self._status("server dry-run of every change…", tone.WARNING)
        dry = self.dry = await engine.dry_run(plan)
        self.query_one("#apply-results", Static).update(apply_view(dry))
        if not dry.ok:
            self.save(error=f"dry-run: {dry.message}")
            self._fail(f"server dry-run failed: {dry.failures[0].message} — nothing can be applied; b to change "
                       "the values")
            return
        self.save("dry-run")
        if not plan.changes:
            self._status("no changes: the cluster already matches the values — n goes on (apply sends nothing)",
                         tone.bold(tone.SUCCESS))
        else:
            self.query_one("#apply", Button).disabled = False
            self._status(f"{plan.summary()} — a applies (all-or-nothing: every object is dry-run first)", "bold")
        self.refresh_bindings()

    def _show_file(self, key: str) -> None:
        view = self.query_one("#file-view", Static)
        if key == "plan":
            view.update(plan_view(self.plan) if self.plan is not None else "diffing…")
        elif key == "dry-run":
            view.update(apply_view(self.dry) if self.dry is not None else "not run yet")
        elif key in self._files:
            view.update(yaml_view(self._files[key]))

    def action_apply(self) -> None:
        if self.step != 4:
            return
        if self._applying():
            return
        if self.plan is None or self.dry is None or not self.dry.ok:
            self.notify("nothing to apply yet: the plan and its server dry-run must pass first", severity="warning")
            return
        self.do_apply()

    def do_apply(self, then_next: bool = False) -> None:
        self._apply_worker = self._apply(then_next)

    @work(exclusive=True, exit_on_error=False, group="apply")
    async def _apply(self, then_next: bool) -> None:
        from console.deploy.engine import DeployError

        plan = self.plan
        self.query_one("#apply", Button).disabled = True
        self._status(f"applying {plan.summary()}…", tone.WARNING)
        try:
            report = await self.engine.apply(plan, on_progress=lambda m: self._status(m, tone.WARNING))
        except DeployError as exc:
            self._fail(exc.message)
            self.save(error=f"apply: {exc.message}")
            return
        self.applied = report
        self.query_one("#apply-results", Static).update(apply_view(report))
        if not report.ok:
            if self.progress is not None:
                self.progress.applied = []
            self.save(error=f"apply: {report.message}")
            self._fail(report.message)
            self.query_one("#apply", Button).disabled = False
            return
        self.save("dry-run")
        if self.progress is not None:
            self.progress.applied = [r.ref for r in report.results if r.ok and r.checked]
        self.save("apply")
        self.done.add(4)
        self._show_step()
        self._status(f"{report.message} — n follows the rollout", tone.bold(tone.SUCCESS))
        if then_next:
            self.go(5)

    def _out_dir(self) -> str:
        box = self.query_one("#out-dir", Input)
        default = default_directory(self.values)
        if not box.value.strip() or box.value == self._default_dir:  # not chosen by the user: follow the name
            box.value = default
        self._default_dir = default
        return box.value.strip()

    # ---- step 5: rollout and verify ---------------------------------------------------------------------
    @work(exclusive=True, exit_on_error=False, group="wizard")
    async def follow(self) -> None:
        from console.deploy.engine import DeployError

        engine = self.engine
        rendered = self.rendered = self.rendered if self.rendered is not None and \
            self.rendered.values == self.values else engine.render(self.values)
        self.rollout = self.verified = None
        self.query_one("#verify", Static).update("")
        self._status("following the rollout…", tone.WARNING)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ROLLOUT_TIMEOUT_S
        while True:
            try:
                report = await engine.rollout_snapshot(rendered)
            except DeployError as exc:
                self._fail(f"rollout: {exc.message}")
                return
            if report.done or report.failed or loop.time() >= deadline:
                if not (report.done or report.failed):
                    report = dataclasses.replace(report, timed_out=True)
                self._show_rollout(report)
                break
            self._show_rollout(report)
            await asyncio.sleep(POLL_S)
        if not report.done:
            what = "failed" if report.failed else "still in progress"
            self.save(error=f"rollout {what}")
            self._fail(f"rollout {what}: " + "; ".join(v.message for _, v in report.verdicts) + " (r follows again)")
            return
        self.save("rollout")
        self._status("rolled out; verifying: pods Ready, metrics arriving, alert rules loaded…", tone.WARNING)
        verified = self.verified = await engine.verify(rendered, VERIFY_TIMEOUT_S)
        self.query_one("#verify", Static).update(Group(tone.rich(Content.styled("verify:", "bold")),
                                                       checks_table(verified.checks)))
        if not verified.ok:
            failed = [c for c in verified.checks if c.status is Status.FAIL]
            self.save(error="verify: " + "; ".join(c.message for c in failed))
            self._fail(f"verify failed: {failed[0].name}: {failed[0].message} (r checks again; n goes to the summary)")
            return
        self.save("verify")
        self.done.add(5)
        self._show_step()
        self._status("serving and monitored — n shows the summary", tone.bold(tone.SUCCESS))

    def _show_rollout(self, report: Any) -> None:
        self.rollout = report
        now = self.clock()
        for pod in report.pods:
            self.first_seen.setdefault(pod.name, now)
        self.query_one("#rollout-head", Static).update(verdict_line(report))
        self._fill_pods()
        self.query_one("#scheduling", Static).update(scheduling_view(report.scheduling))

    def _fill_pods(self) -> None:
        report = self.rollout
        if report is None:
            return
        now = self.clock()
        rows = [(p.name, pod_cells(p, None if p.ready else now - self.first_seen.get(p.name, now)))
                for p in report.pods]
        fill_table(self.query_one("#pods", DataTable), rows)

    def _tick(self) -> None:
        if self.step == 5 and self.rollout is not None and not self.rollout.done:
            self._fill_pods()

    # ---- step 6: summary --------------------------------------------------------------------------------
    def _show_summary(self) -> None:
        values = self.values
        out = self._out_dir()
        parts: list[Any] = []
        if self.plan is not None:
            made, changed, same = created_and_changed(self.plan)
            if made:
                parts.append(lines_view("created", made, tone.SUCCESS))
            if changed:
                parts.append(lines_view("changed", changed, tone.WARNING))
            if same and not made and not changed:
                parts.append(Content.styled("nothing changed: the cluster already matched the values\n", tone.SUCCESS))
        elif self.progress is not None and self.progress.applied:
            parts.append(lines_view("applied (before resuming)", self.progress.applied, tone.SUCCESS))
        if self.verified is not None:
            parts.append(Group(tone.rich(Content.styled("verify:", "bold")), checks_table(self.verified.checks),
                               tone.rich(Content(""))))
        if self.written:
            parts.append(lines_view("files written", [str(p) for p in self.written], tone.INFO))
        else:
            parts.append(Content.styled(f"files: not written yet — w writes the manifests and {'values.yaml'} into "
                                        "the directory above\n", tone.WARNING))
        parts.append(lines_view("kubectl equivalents", kubectl_equivalents(values, out, self.context)))
        parts.append(lines_view("next steps", next_steps(values, out, self.context)))
        self.query_one("#summary", Static).update(Group(*(tone.rich(part) for part in parts)))
        self._status("w writes the files; n finishes", "bold")

    def action_write(self) -> None:
        if self.step != 6:
            return
        self._write(self._out_dir())

    @work(exclusive=True, exit_on_error=False, group="write", thread=True)
    def _write(self, directory: str) -> None:
        rendered = self.rendered if self.rendered is not None and self.rendered.values == self.values else \
            self.engine.render(self.values)
        try:
            written = write_outputs(rendered, directory)
        except OSError as exc:
            self.app.call_from_thread(self._fail, f"cannot write to {directory}: {exc.strerror or exc}")
            return
        self.app.call_from_thread(self._written, written)

    def _written(self, written: list[Path]) -> None:
        self.written = written
        if self.progress is not None:
            self.progress.manifests = str(written[0].parent)
            self.save()
        self.done.add(6)
        self._show_step()
        self._show_summary()
        self.notify(f"{len(written)} files written to {written[0].parent}")

