"""SVG snapshots of each step of the guided deployment, driven over a static fake of the deploy engine's
reports (built at test time; the real engine is exercised in test_wizard.py). The app around it is the one
of test_snapshots.py (fixed cluster data).

Update after an intended change with:
``.venv/bin/python -m pytest tests/ui/test_wizard_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

import copy
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import tests.ui.test_snapshots as base
from console.core.model import RolloutVerdict
from console.deploy import diff as dd
from console.deploy.checks import Check, Status
from console.deploy.engine import (
    ApplyReport,
    DeployPlan,
    ObjectPlan,
    ObjectResult,
    PodReport,
    PreflightReport,
    RolloutReport,
    VerifyReport,
)
from console.deploy.progress import ProgressStore
from console.deploy.render import Rendered, render
from console.deploy.values.nodes import NodeFacts
from console.deploy.values.schema import Values
from screens.wizard.screen import WizardScreen
from tests.ui.helpers import wait_for

SIZE = base.SIZE
DEP = "claude-inference"


class FakeEngine:
    """The DeployEngine's interface over fixed reports: a cluster where the namespace exists, the Deployment
    runs an older image, and the rest is new."""

    def __init__(self, rolled_out: bool = False) -> None:
        self.target = SimpleNamespace(context="prod-gpu", server="https://10.0.0.1:6443", user="oncall")
        self.manifest_dir: Path | None = None
        self.rolled_out = rolled_out

    async def close(self) -> None:
        return None

    @staticmethod
    def render(values: Values) -> Rendered:
        return render(values)

    async def preflight(self, values: Values, rendered: Rendered | None = None) -> PreflightReport:
        checks = [
            Check("cluster", Status.OK, "https://10.0.0.1:6443 answers (v1.30.4), context prod-gpu, user oncall"),
            Check("api-resources", Status.OK, "every kind to apply is served"),
            Check("permissions", Status.OK,
                  f"may create and patch every kind to apply in namespace {values.namespace}"),
            Check("gpu-nodes", Status.OK, "4 GPU nodes accept the pods (at most 4 GPUs on one, 22 GiB each)"),
            Check("gpu-capacity", Status.OK, f"{values.replicas} GPU pods of 1 GPU each; 3 GPUs free on accepting "
                                             "nodes: all fit"),
            Check("rollout-headroom", Status.WARN, "no free GPU left for a rolling update's surge pod (maxSurge 1): "
                                                   "later rollouts would wait for one",
                  "keep a GPU free, or use maxSurge 0 / maxUnavailable 1 (llmctl rollout set-image offers it)"),
            Check("kubernetes", Status.OK, "Kubernetes v1.30.4 ≥ 1.25"),
            Check("device-plugin", Status.OK, "gpu-operator/nvidia-device-plugin-daemonset: 4/4 ready"),
            Check("dcgm-exporter", Status.OK, "gpu-operator/nvidia-dcgm-exporter present"),
            Check("image-compatibility", Status.OK, f"{values.image}: OK on 1 node pool: NVIDIA-A10G · 535.104.05 · "
                                                    "CC 8.6 (4 nodes)"),
        ]
        return PreflightReport(tuple(checks), NodeFacts(4, 23028, 4))

    async def diff(self, rendered: Rendered) -> DeployPlan:
        plans = []
        for obj in rendered.objects:
            if obj.kind == "Namespace":
                plans.append(ObjectPlan(obj, "unchanged", live=obj.body))
            elif obj.kind == "Deployment":
                live = copy.deepcopy(obj.body)
                live["spec"]["template"]["spec"]["containers"][0]["image"] = "llm/claude-inference:v1.0.0"
                ignored = (("spec", "replicas"),)
                plans.append(ObjectPlan(obj, "changed", dd.unified_diff(live, obj.body, obj.ref, ignored),
                                        ("spec.template.spec.containers[inference].image",), live=live,
                                        ignored=ignored))
            else:
                plans.append(ObjectPlan(obj, "new", dd.unified_diff(None, obj.body, obj.ref)))
        return DeployPlan(rendered.values.namespace, tuple(plans))

    async def dry_run(self, plan: DeployPlan) -> ApplyReport:
        results = tuple(ObjectResult(o.ref, o.state, True, f"{o.ref} would be "
                                     f"{'created' if o.state == 'new' else 'changed'} (server dry-run)")
                        for o in plan.changes)
        return ApplyReport("dry-run", True, results, "server dry-run passed")

    async def apply(self, plan: DeployPlan, on_progress: Any = None) -> ApplyReport:
        results = tuple(ObjectResult(o.ref, o.state, True, f"{o.ref} {'created' if o.state == 'new' else 'configured'}")
                        for o in plan.changes)
        return ApplyReport("applied", True, results, f"applied: {plan.summary()}")

    async def rollout_snapshot(self, rendered: Rendered) -> RolloutReport:
        if self.rolled_out:
            verdict = RolloutVerdict(True, False, f'deployment "{DEP}" successfully rolled out')
            pods = (PodReport(DEP, f"{DEP}-7f4b2-abcde", "Running", True, "gpu-node-1", 34.0, ""),
                    PodReport(DEP, f"{DEP}-7f4b2-fghij", "Running", True, "gpu-node-2", 36.0, ""))
            return RolloutReport(((DEP, verdict),), pods)
        verdict = RolloutVerdict(False, False, f'Waiting for deployment "{DEP}" rollout to finish: 1 of 2 updated '
                                               "replicas are available...")
        why = "0/4 nodes are available: 4 Insufficient nvidia.com/gpu."
        pods = (PodReport(DEP, f"{DEP}-7f4b2-abcde", "Running", True, "gpu-node-1", 34.0, ""),
                PodReport(DEP, f"{DEP}-7f4b2-fghij", "Pending", False, "", None, why))
        return RolloutReport(((DEP, verdict),), pods, (why,))

    async def verify(self, rendered: Rendered, timeout: float = 60.0) -> VerifyReport:
        return VerifyReport((
            Check("pods-ready", Status.OK, "2 pods Ready in 1 Deployment(s); cold start 34–36 s"),
            Check("metrics", Status.OK, f"metrics arriving from Prometheus: {DEP}: 2 pods, 14.2 QPS"),
            Check("alert-rules", Status.OK, "Prometheus has loaded llm-inference.rules"),
        ))


def wizard_app(tmp_path: Path, rolled_out: bool = False) -> tuple[Any, WizardScreen]:
    async def engine() -> FakeEngine:
        return FakeEngine(rolled_out)

    app = base.make_app()
    screen = WizardScreen(engine_factory=engine, store=ProgressStore(tmp_path), clock=lambda: 1000.0)
    return app, screen


async def walk(pilot: Any, w: WizardScreen, step: int) -> None:
    """Open the wizard and go to ``step`` the way a user would."""
    await pilot.app.push_screen(w)
    await wait_for(pilot, lambda: w.preflight is not None and not w._busy(), what="preflight")
    if step >= 2:
        await pilot.press("n")
        await wait_for(pilot, lambda: w.step == 2, what="form")
    if step == 2:
        w.set_field("params", "70")  # 70B in bf16 → 130.4 GiB → 7 A10G: more than a node has
        w.set_field("hpa_min", "9")
        await wait_for(pilot, lambda: w.read_form()["gpus"] == "7", what="size and GPUs follow the parameters")
        w.action_next()
        await wait_for(pilot, lambda: bool(w.problem) and not w._busy(), what="form errors")
    if step >= 3:
        w.action_next()
        await wait_for(pilot, lambda: w.step == 3, what="build step")
    if step >= 4:
        w.action_next()
        await wait_for(pilot, lambda: w.step == 4 and w.dry is not None and not w._busy(), what="plan")
    if step >= 5:
        w.action_apply()
        await wait_for(pilot, lambda: w.applied is not None and not w._applying(), what="applied")
        w.action_next()
        await wait_for(pilot, lambda: w.step == 5 and w.rollout is not None, what="rollout")
    if step == 5 and w.rollout.done:
        await wait_for(pilot, lambda: w.verified is not None and not w._busy(), what="verified")
    if step >= 6:
        await wait_for(pilot, lambda: w.verified is not None and not w._busy(), what="verified")
        w.action_next()
        await wait_for(pilot, lambda: w.step == 6, what="summary")
    w.set_focus(None)
    await pilot.pause(0.2)


def snap(snap_compare: Any, tmp_path: Path, step: int, rolled_out: bool = False) -> bool:
    app, w = wizard_app(tmp_path, rolled_out)
    return bool(snap_compare(app, terminal_size=SIZE, run_before=lambda pilot: walk(pilot, w, step)))


def test_wizard_step1_preflight_snapshot(snap_compare: Any, tmp_path: Path) -> None:
    assert snap(snap_compare, tmp_path, 1)


def test_wizard_step2_form_errors_snapshot(snap_compare: Any, tmp_path: Path) -> None:
    assert snap(snap_compare, tmp_path, 2)


def test_wizard_step3_build_snapshot(snap_compare: Any, tmp_path: Path) -> None:
    assert snap(snap_compare, tmp_path, 3)


def test_wizard_step4_plan_snapshot(snap_compare: Any, tmp_path: Path) -> None:
    assert snap(snap_compare, tmp_path, 4)


def test_wizard_step5_rollout_snapshot(snap_compare: Any, tmp_path: Path) -> None:
    assert snap(snap_compare, tmp_path, 5)


def test_wizard_step6_summary_snapshot(snap_compare: Any, tmp_path: Path) -> None:
    assert snap(snap_compare, tmp_path, 6, rolled_out=True)
