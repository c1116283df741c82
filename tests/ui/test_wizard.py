"""The guided deployment (screens/wizard/screen.py) driven by Pilot against a real sandbox over real sockets: from an
empty namespace to a Ready, monitored Deployment; the failure paths leave nothing half-applied; quitting
midway resumes; a second run on the same deployment shows no diff and sends nothing."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config
from rich.console import Console
from textual.widgets import Static

from console.app import LlmctlApp
from console.cli import main
from console.config import Settings
from console.deploy.checks import Status
from console.deploy.progress import ProgressStore
from console.deploy.values.load import load_values_file
from console.kube.cluster import KubeClusterService
from console.sandbox.metrics_source import SandboxMetrics
from console.sandbox.server import SandboxThread
from screens.wizard.screen import WizardScreen
from screens.wizard.steps import ResumeDialog
from tests.deploy.conftest import namespace_objects
from tests.ui.helpers import console_app, wait_for

NS, NAME = "llm-demo", "claude-inference"  # manifests/values.example.yaml, where the wizard starts
SIZE = (150, 40)


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The progress files (ProgressStore) under the test's own state dir."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    yield tmp_path / "state"


def make_app(sb: SandboxThread, tmp_path: Path, context: str | None = None, **kwargs: Any) -> LlmctlApp:
    return console_app(KubeClusterService(sb.info.kubeconfig, context),
                       Settings(audit_log=str(tmp_path / "audit.jsonl")), **kwargs)


async def open_wizard(app: LlmctlApp, pilot: Any) -> WizardScreen:
    await pilot.press("D")
    await wait_for(pilot, lambda: isinstance(app.screen, WizardScreen | ResumeDialog), what="wizard opened")
    return next(s for s in app.screen_stack if isinstance(s, WizardScreen))


async def preflight_done(pilot: Any, w: WizardScreen) -> None:
    await wait_for(pilot, lambda: w.preflight is not None and not w._busy(), what="preflight done")


async def to_form(pilot: Any, w: WizardScreen) -> None:
    await preflight_done(pilot, w)
    await pilot.press("n")
    await wait_for(pilot, lambda: w.step == 2, what="step 2")


async def click_next(pilot: Any, w: WizardScreen) -> None:
    # A button ignores clicks during its 0.2 s "active" effect (after the previous click).
    await wait_for(pilot, lambda: not w.query_one("#next").has_class("-active"), what="Next clickable")
    await pilot.click("#next")


async def submit_form(pilot: Any, w: WizardScreen, step: int = 3) -> None:
    await click_next(pilot, w)
    await wait_for(pilot, lambda: w.step == step or (bool(w.problem) and not w._busy()), what="form checked")


async def to_plan(pilot: Any, w: WizardScreen) -> None:
    """From step 3 to step 4 with the plan and its server dry-run shown."""
    await click_next(pilot, w)
    await wait_for(pilot, lambda: w.step == 4 and w.dry is not None and not w._busy(), what="plan and dry-run")


def shown(w: WizardScreen, selector: str) -> str:
    """What a Static of the wizard shows, as plain text."""
    console = Console(width=150, record=True, file=io.StringIO())
    console.print(w.query_one(selector, Static).content)
    return console.export_text()


def audit_modes(tmp_path: Path) -> list[str]:
    path = tmp_path / "audit.jsonl"
    return [json.loads(line)["mode"] for line in path.read_text().splitlines()] if path.exists() else []


async def test_wizard_deploys_from_empty_namespace_to_ready_with_metrics_then_shows_no_diff(
        sb: SandboxThread, tmp_path: Path) -> None:
    assert namespace_objects(sb, NS) == []
    metrics = SandboxMetrics(sb)
    app = make_app(sb, tmp_path, metrics=metrics)
    out = tmp_path / "out"
    try:
        async with app.run_test(size=SIZE) as pilot:
            w = await open_wizard(app, pilot)
            # 1. preflight: every check of the engine, shown with its status
            await preflight_done(pilot, w)
            status = {c.name: c.status for c in w.preflight.checks}
            for name in ("cluster", "kubernetes", "permissions", "gpu-nodes", "gpu-capacity", "device-plugin",
                         "image-compatibility"):
                assert status[name] is Status.OK, (name, w.preflight.checks)
            assert "preflight passed" in w.status_text
            assert "device-plugin" in shown(w, "#preflight") and "≥ 1.25" in shown(w, "#preflight")
            await pilot.press("n")
            await wait_for(pilot, lambda: w.step == 2, what="step 2")

            # 2. the form: the GPUs suggested from the model's size; a bad value shown next to its field
            await wait_for(pilot, lambda: len(w.images) > 3, what="the registry's images listed")
            assert "127.0.0.1" in " ".join(w.images) and "llm/claude-inference:v1.1.0" in w.images
            w.set_field("gpus", "")
            w.set_field("params", "7")  # 7B in bf16 = 13.0 GiB → 1 A10G (22 GiB)
            await wait_for(pilot, lambda: w.read_form()["size"] == "13.0" and w.read_form()["gpus"] == "1",
                           what="size and GPUs filled in")
            assert "→ 1 per replica" in str(w.query_one("#gpu-suggestion").render())
            w.set_field("hpa_min", "9")
            await submit_form(pilot, w)
            assert w.step == 2 and "must not exceed autoscaling.maxReplicas" in w.field_error("hpa_min")
            w.set_field("hpa_min", "2")
            await submit_form(pilot, w)
            assert w.step == 3, w.problem
            assert w.field_error("hpa_min") == ""

            # 3. build: skipped; 4. the files, the diff and the server dry-run, then apply
            await to_plan(pilot, w)
            assert [o.state for o in w.plan.objects] == ["new"] * 8 and w.dry.ok
            assert namespace_objects(sb, NS) == [], "nothing applied before a"
            assert set(w._files) >= {"plan", "15-poddisruptionbudget.yaml", "30-deployment.yaml",
                                     "40-horizontalpodautoscaler.yaml"}
            assert re.search(r"new +deployment\.apps/claude-inference", shown(w, "#file-view"))
            assert "server dry-run passed" in shown(w, "#apply-results")
            await pilot.press("a")
            await wait_for(pilot, lambda: w.applied is not None and not w._applying(), what="applied")
            assert w.applied.ok, w.applied.message

            # 5. the rollout, then verify: pods Ready, metrics arriving
            await pilot.press("n")
            await wait_for(pilot, lambda: w.verified is not None or (bool(w.problem) and not w._busy()),
                           timeout=60, what="rolled out and verified")
            checks = {c.name: c for c in w.verified.checks}
            assert checks["pods-ready"].status is Status.OK and checks["metrics"].status is Status.OK, checks
            assert len(w.rollout.pods) == 2 and all(p.ready and p.cold_start_s is not None for p in w.rollout.pods)
            apps = client.AppsV1Api(config.new_client_from_config(sb.info.kubeconfig))
            assert apps.read_namespaced_deployment(NAME, NS).status.ready_replicas == 2

            # 6. summary: the files written where asked
            await pilot.press("n")
            await wait_for(pilot, lambda: w.step == 6, what="summary")
            w.query_one("#out-dir").value = str(out)
            await pilot.press("w")
            await wait_for(pilot, lambda: bool(w.written), what="files written")
            names = sorted(p.name for p in out.iterdir())
            assert names[0] == "00-namespace.yaml" and "30-deployment.yaml" in names and "values.yaml" in names
            assert load_values_file(out / "values.yaml") == w.values
            summary = shown(w, "#summary")
            assert "deployment.apps/claude-inference" in summary and str(out / "values.yaml") in summary
            assert f"kubectl apply --server-side --field-manager=llmctl --force-conflicts -f {out} --context " \
                "sandbox-admin" in " ".join(summary.split())  # the long line wraps
            assert w.progress is not None and w.progress.next_step is None, w.progress
            await pilot.press("n")
            await wait_for(pilot, lambda: not isinstance(app.screen, WizardScreen), what="finished")
            applied = audit_modes(tmp_path).count("applied")
            assert applied == 8

            # (c) again on the deployment that now exists: no diff, apply sends nothing
            w = await open_wizard(app, pilot)
            assert isinstance(app.screen, WizardScreen), "a finished progress is not offered for resuming"
            await to_form(pilot, w)
            w.set_field("params", "7")
            await wait_for(pilot, lambda: w.read_form()["size"] == "13.0", what="same size")
            await submit_form(pilot, w)
            await to_plan(pilot, w)
            assert not w.plan.changes and {o.state for o in w.plan.objects} == {"unchanged"}, \
                [(o.ref, o.diff) for o in w.plan.changes]
            assert "no changes" in w.status_text and "no changes" in shown(w, "#file-view")
            await pilot.press("n")
            await wait_for(pilot, lambda: w.step == 5, what="went on without applying")
            assert w.applied is not None and w.applied.results == ()
            await wait_for(pilot, lambda: w.verified is not None, timeout=60, what="verified again")
            assert audit_modes(tmp_path).count("applied") == applied, "the second run sent nothing"
    finally:
        metrics.close()


async def test_incompatible_image_and_forbidden_stop_at_preflight(sandbox: SandboxThread, tmp_path: Path,
                                                                  state_dir: Path) -> None:
    app = make_app(sandbox, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        w = await open_wizard(app, pilot)
        await to_form(pilot, w)
        w.set_field("image", "llm/claude-inference:v2.0.0-cuda13")  # CUDA 13 on the A10G/535 nodes
        await submit_form(pilot, w)
        assert w.step == 2 and w.problem.startswith("stopped at preflight: image-compatibility"), w.problem
        assert "535.104.05" in w.problem and "580.65.06" in w.problem
        (failed,) = w.recheck.failures
        assert failed.name == "image-compatibility" and "image-compatibility" in shown(w, "#recheck")
        await pilot.press("q")
        await wait_for(pilot, lambda: not isinstance(app.screen, WizardScreen), what="wizard closed")
    assert namespace_objects(sandbox, NS) == []
    assert ProgressStore().all() == [], "nothing to resume: it never passed the preflight"

    # sandbox-viewer may read but not create; started as `llmctl deploy --guided` does (the wizard at once)
    viewer = make_app(sandbox, tmp_path, context="sandbox-viewer")
    viewer.wizard_at_start = {"standalone": True}
    async with viewer.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(viewer.screen, WizardScreen), what="opened on the wizard")
        w = viewer.screen
        assert isinstance(w, WizardScreen)
        await preflight_done(pilot, w)
        (perm,) = [c for c in w.preflight.checks if c.name == "permissions"]
        assert perm.status is Status.FAIL and "sandbox-viewer may not create namespaces" in perm.message
        await pilot.press("n")  # the namespace is a form field: the permissions are checked again there
        await wait_for(pilot, lambda: w.step == 2, what="step 2")
        await submit_form(pilot, w)
        assert w.step == 2 and w.problem.startswith(
            "stopped at preflight: permissions: user sandbox-viewer may not create namespaces"), w.problem
        assert "ask for a Role" in shown(w, "#recheck")
        await pilot.press("q")
        await wait_for(pilot, lambda: viewer.return_code == 1, what="the app exits: not deployed")
    assert namespace_objects(sandbox, NS) == []


async def test_quitting_midway_leaves_nothing_applied_and_resumes(sandbox: SandboxThread, tmp_path: Path) -> None:
    app = make_app(sandbox, tmp_path)
    store = ProgressStore()
    async with app.run_test(size=SIZE) as pilot:
        # quit after step 2
        w = await open_wizard(app, pilot)
        await to_form(pilot, w)
        w.set_field("name", "resume-me")
        w.set_field("replicas", "1")
        w.set_field("hpa_min", "1")
        await submit_form(pilot, w)
        assert w.step == 3, w.problem
        await pilot.press("q")
        await wait_for(pilot, lambda: not isinstance(app.screen, WizardScreen), what="wizard closed")
        saved = store.load("sandbox-admin", NS, "resume-me")
        assert saved is not None and saved.completed == ["preflight"] and saved.values["replicas"] == 1
        assert namespace_objects(sandbox, NS) == []

        # the next start offers it; resuming lands after step 2 with the same values, then quit at step 4
        await open_wizard(app, pilot)
        await wait_for(pilot, lambda: isinstance(app.screen, ResumeDialog), what="resume offered")
        assert "resume-me in namespace llm-demo" in app.screen.text  # type: ignore[attr-defined]
        await pilot.press("r")
        w = next(s for s in app.screen_stack if isinstance(s, WizardScreen))
        await wait_for(pilot, lambda: w.step == 3, what="resumed at step 3")
        assert w.values.name == "resume-me" and w.values.replicas == 1
        await to_plan(pilot, w)
        assert w.plan.namespace_new and w.dry.ok
        await pilot.press("q")
        await wait_for(pilot, lambda: not isinstance(app.screen, WizardScreen), what="wizard closed at step 4")
        assert namespace_objects(sandbox, NS) == [], "quit before apply: nothing applied"
        assert store.load("sandbox-admin", NS, "resume-me").completed == ["preflight", "render", "diff", "dry-run"]

        await open_wizard(app, pilot)
        await wait_for(pilot, lambda: isinstance(app.screen, ResumeDialog), what="resume offered again")
        await pilot.press("r")
        w = next(s for s in app.screen_stack if isinstance(s, WizardScreen))
        await wait_for(pilot, lambda: w.step == 4 and w.dry is not None and not w._busy(), what="resumed at step 4")
        assert w.values.name == "resume-me" and w.plan.changes
        await pilot.press("q")
        await wait_for(pilot, lambda: not isinstance(app.screen, WizardScreen), what="closed")

        # starting over discards it
        await open_wizard(app, pilot)
        await wait_for(pilot, lambda: isinstance(app.screen, ResumeDialog), what="offered")
        await pilot.press("s")
        w = next(s for s in app.screen_stack if isinstance(s, WizardScreen))
        await preflight_done(pilot, w)
        assert w.step == 1 and w.values.name == NAME
        assert store.load("sandbox-admin", NS, "resume-me") is None
        await pilot.press("q")
    assert namespace_objects(sandbox, NS) == []
    assert "applied" not in audit_modes(tmp_path)


def test_cli_guided_opens_the_console_on_the_wizard(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    started: list[dict[str, Any]] = []
    monkeypatch.setattr(LlmctlApp, "run", lambda self, *a, **k: started.append(self.wizard_at_start))
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n")
    example = Path(__file__).resolve().parents[2] / "manifests" / "values.example.yaml"
    assert main(["--kubeconfig", str(kubeconfig), "deploy", "--guided", "-f", str(example)]) == 0
    assert started[0]["standalone"] and started[0]["values"].name == NAME
    assert started[0]["values_file"] == str(example)
    assert main(["--kubeconfig", str(kubeconfig), "deploy", "--guided"]) == 0
    assert started[1] == {"standalone": True}
    assert main(["--kubeconfig", str(kubeconfig), "deploy"]) == 2
    assert "-f/--file VALUES is required (or --guided" in capsys.readouterr().err


def test_form_problems_land_under_their_fields_and_gpus_follow_the_model_size() -> None:
    from console.deploy.progress import DeployProgress
    from console.deploy.values.load import values_to_dict
    from console.deploy.values.nodes import NodeFacts
    from console.deploy.wizard import form_fields, form_values, resume_step, suggest_gpus
    from screens.wizard.screen import starting_values

    values = starting_values()
    base = values_to_dict(values)
    a10g = NodeFacts(4, 23028, 4)
    assert form_values(base, form_fields(values), a10g).values == values
    bad = {**form_fields(values), "hpa_min": "9", "gpus": "6", "replicas": "two", "name": "Bad_Name"}
    result = form_values(base, bad, a10g)
    assert result.values is None and result.general == []
    assert result.errors["hpa_min"] == ["9 must not exceed autoscaling.maxReplicas (8)"]
    assert result.errors["replicas"] == ["'two' is not a whole number"]
    assert "not a valid name" in result.errors["name"][0]
    assert "the largest GPU node has 4 allocatable" in result.errors["gpus"][0], "judged despite the other errors"
    hint = suggest_gpus(130.4, a10g)
    assert hint is not None and hint.gpus == 7 and "more than a node has (4)" in hint.text
    assert suggest_gpus(13, a10g).gpus == 1 and suggest_gpus(None, a10g) is None  # type: ignore[union-attr]

    progress = DeployProgress("ctx", "ns", "n", base)
    for done, step in (([], 2), (["preflight"], 3), (["preflight", "render", "diff", "dry-run"], 4),
                       (["preflight", "render", "diff", "dry-run", "apply"], 5),
                       (["preflight", "render", "diff", "dry-run", "apply", "rollout", "verify"], None)):
        progress.completed = done
        assert resume_step(progress) == step, done
