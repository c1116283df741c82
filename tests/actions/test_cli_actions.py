"""The headless commands end to end, as a script runs them: ``python -m console.cli ...`` in a
subprocess against a sandbox, checking exit codes, output and the audit log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from console.audit import FIELDS, AuditLog
from console.sandbox.server import SandboxThread
from tests.actions.conftest import DEP, HPA, NS, apps_api, eventually, hpa_api, marks, rolled_out, tokens

ROOT = Path(__file__).resolve().parents[2]


def llmctl(sb: SandboxThread | None, state: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run the CLI with the sandbox's kubeconfig; no terminal on stdin; XDG state in ``state``."""
    env = {**os.environ, "XDG_STATE_HOME": str(state), "XDG_CONFIG_HOME": str(state / "config")}
    env.pop("KUBECONFIG", None)
    cluster = ["--kubeconfig", sb.info.kubeconfig] if sb is not None else []
    return subprocess.run([sys.executable, "-m", "console.cli", *args, *cluster], cwd=ROOT, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)


def run_all(sb: SandboxThread, state: Path, commands: Sequence[Sequence[str]]) -> list[subprocess.CompletedProcess]:
    """Independent commands at once (each is mostly interpreter start-up)."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda c: llmctl(sb, state, *c), commands))


def test_scale_with_yes_as_json_writes_the_audit_log(sb: SandboxThread, tmp_path: Path) -> None:
    apps = apps_api(sb)
    eventually(lambda: rolled_out(apps), what="initial rollout")
    audit = tmp_path / "audit.jsonl"
    proc = llmctl(sb, tmp_path, "scale", DEP, "--replicas", "3", "--yes", "-o", "json", "--audit-log", str(audit),
                  "--timeout", "30")
    # claude-hpa manages this Deployment and its metrics want 2: the scale does not hold (exit 1, see below)
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    assert report["plan"]["before"] == {"replicas": 2} and report["plan"]["after"] == {"replicas": 3}
    assert report["plan"]["alternatives"] == [{"id": "hpa-min", "label": "Set claude-hpa's minReplicas to 3 instead"}]
    assert report["result"] == {"ok": True, "message": f"deployment.apps/{DEP} scaled to 3", "retried": False}
    assert report["rollout"]["done"] and report["exit"] == 1 and report["held"]["held"] is False
    assert "successfully rolled out" in proc.stderr, "progress goes to stderr with -o json"
    entries = AuditLog(audit).entries()
    assert [e["mode"] for e in entries] == ["dry-run", "applied"]
    assert all(list(e)[: len(FIELDS)] == list(FIELDS) for e in entries)
    assert entries[1]["context"] == "sandbox-admin" and entries[1]["after"] == {"replicas": 3}
    everything = audit.read_text() + proc.stdout + proc.stderr
    assert not any(t in everything for t in tokens(sb)), "no token in the audit log or the output"
    assert not (tmp_path / "llmctl").exists(), "--audit-log replaces the default file"


def test_refusals_and_validation_exit_codes(sb: SandboxThread, tmp_path: Path) -> None:
    apps = apps_api(sb)
    eventually(lambda: rolled_out(apps), what="initial rollout")
    before = marks(apps)
    cases = [
        (["scale", DEP, "--replicas", "3"], 1, "confirmation needed: rerun with --yes"),
        (["scale", DEP, "--replicas", "-1", "--yes"], 2, "replicas must be an integer from 0 to 1000, not '-1'"),
        (["scale", DEP, "--replicas", "1001", "--yes"], 2, "not '1001'"),
        (["scale", DEP, "--replicas", "two", "--yes"], 2, "not 'two'"),
        (["scale", "nope", "--replicas", "2", "--yes"], 1, 'deployment "nope" not found in namespace "llm"'),
        (["hpa", "set", HPA, "--min", "5", "--max", "3", "--yes"], 2,
         "minReplicas (5) must not exceed maxReplicas (3)"),
        (["rollout", "set-image", DEP, "inference=Bad:tag!", "--yes"], 2, "invalid image reference"),
        (["rollout", "undo", DEP, "--to-revision", "7", "--yes"], 2, "revision 7 not found; revisions: 1"),
        (["scale", DEP, "--replicas", "3", "--yes", "--context", "sandbox-viewer"], 1,
         'forbidden: cannot patch deployments/scale in namespace "llm" (user sandbox-viewer)'),
        (["scale", DEP, "--replicas", "3", "--yes", "--readonly"], 1,
         "read-only mode: scale refused (started with --readonly)"),
        (["rollout", "set-image", DEP, "nginx:1", "--alternative", "hpa-min", "--yes"], 2,
         "--alternative hpa-min applies to scale, not set-image"),
        (["rollout", "pause", DEP], 1, "confirmation needed"),
    ]
    results = run_all(sb, tmp_path, [c[0] for c in cases])
    for (args, code, message), proc in zip(cases, results, strict=True):
        assert proc.returncode == code, (args, proc.stdout, proc.stderr)
        assert message in proc.stderr, (args, proc.stderr)
    dry = llmctl(sb, tmp_path, "scale", DEP, "--replicas", "4", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "+  replicas: 4" in dry.stdout and f"kubectl scale deployment/{DEP} --replicas=4 -n llm" in dry.stdout
    assert "HorizontalPodAutoscaler claude-hpa manages this Deployment" in dry.stdout
    assert marks(apps) == before, "no refused, invalid or dry-run command changed the Deployment"
    modes = [e["mode"] for e in AuditLog(tmp_path / "llmctl" / "audit.jsonl").entries()]
    assert sorted(modes) == ["dry-run"] * 5 + ["refused"], "default audit log under XDG_STATE_HOME"


def test_rollout_status_history_set_image_failure_and_undo(sb: SandboxThread, tmp_path: Path) -> None:
    apps = apps_api(sb)
    eventually(lambda: rolled_out(apps), what="initial rollout")
    status, history = run_all(sb, tmp_path, [["rollout", "status", DEP], ["rollout", "history", DEP, "-o", "json"]])
    assert status.returncode == 0 and status.stdout.strip() == f'deployment "{DEP}" successfully rolled out'
    assert [r["number"] for r in json.loads(history.stdout)] == [1]

    image = sb.ctx.catalog.ref("llm/claude-inference", "v1.1.0")
    proc = llmctl(sb, tmp_path, "rollout", "set-image", DEP, f"inference={image}", "--yes", "--timeout", "30")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "GPU preflight: ok: the rollout needs 1 more GPU for its surge pod" in out
    assert f"kubectl set image deployment/{DEP} inference={image}" in out
    assert f"deployment.apps/{DEP} image updated" in out and out.rstrip().endswith("successfully rolled out")

    apps.patch_namespaced_deployment(DEP, NS, {"spec": {"progressDeadlineSeconds": 30}})
    crash = sb.ctx.catalog.ref("llm/claude-inference", "v2.0.0-cuda13")
    failed = llmctl(sb, tmp_path, "rollout", "set-image", DEP, crash, "--yes", "--force", "--timeout", "30")
    assert failed.returncode == 3, (failed.stdout, failed.stderr)
    assert f'error: deployment "{DEP}" exceeded its progress deadline' in failed.stderr
    again = llmctl(sb, tmp_path, "rollout", "status", DEP, "-o", "json")
    assert again.returncode == 3 and json.loads(again.stdout)["failed"] is True

    undo = llmctl(sb, tmp_path, "rollout", "undo", DEP, "--yes", "--timeout", "30")
    assert undo.returncode == 0, undo.stderr
    assert f"kubectl rollout undo deployment/{DEP} --to-revision=2" in undo.stdout
    history = llmctl(sb, tmp_path, "rollout", "history", DEP)
    assert history.returncode == 0 and "REVISION" in history.stdout and "CHANGE-CAUSE" in history.stdout
    assert apps.read_namespaced_deployment(DEP, NS).spec.template.spec.containers[0].image == image


def test_hpa_set_scale_alternative_pause_resume_restart(sb: SandboxThread, tmp_path: Path) -> None:
    apps = apps_api(sb)
    eventually(lambda: rolled_out(apps), what="initial rollout")
    hpa = llmctl(sb, tmp_path, "hpa", "set", HPA, "--min", "3", "--max", "6", "--cpu-target", "80", "--yes",
                 "-o", "json")
    assert hpa.returncode == 0, hpa.stderr
    assert json.loads(hpa.stdout)["plan"]["after"] == {"minReplicas": 3, "maxReplicas": 6, "cpuTarget": 80}
    spec = hpa_api(sb).read_namespaced_horizontal_pod_autoscaler(HPA, NS).spec
    assert (spec.min_replicas, spec.max_replicas, spec.metrics[0].resource.target.average_utilization) == (3, 6, 80)
    alt = llmctl(sb, tmp_path, "scale", DEP, "--replicas", "4", "--alternative", "hpa-min", "--yes")
    assert alt.returncode == 0, alt.stderr
    assert hpa_api(sb).read_namespaced_horizontal_pod_autoscaler(HPA, NS).spec.min_replicas == 4
    pause = llmctl(sb, tmp_path, "rollout", "pause", DEP, "--yes")
    assert pause.returncode == 0 and f"deployment.apps/{DEP} paused" in pause.stdout
    assert apps.read_namespaced_deployment(DEP, NS).spec.paused
    paused_again = llmctl(sb, tmp_path, "rollout", "pause", DEP, "--yes")
    assert paused_again.returncode == 1 and "already paused" in paused_again.stderr
    resume = llmctl(sb, tmp_path, "rollout", "resume", DEP, "--yes", "--no-wait")
    assert resume.returncode == 0, resume.stderr
    restart = llmctl(sb, tmp_path, "rollout", "restart", DEP, "--yes", "--timeout", "30", "-o", "json")
    assert restart.returncode == 0, restart.stderr
    assert json.loads(restart.stdout)["rollout"]["done"] is True
    template = apps.read_namespaced_deployment(DEP, NS).spec.template
    assert "kubectl.kubernetes.io/restartedAt" in template.metadata.annotations


@pytest.mark.parametrize("before", [True, False], ids=["flag-before-command", "flag-after-command"])
def test_sandbox_flag_runs_an_in_process_sandbox(tmp_path: Path, before: bool) -> None:
    command = ["rollout", "status", DEP, "-o", "json"]
    proc = llmctl(None, tmp_path, *(["--sandbox", *command] if before else [*command, "--sandbox"]))
    data = json.loads(proc.stdout)
    assert data["namespace"] == "llm", "the namespace defaults to the context's"
    assert proc.returncode == (0 if data["done"] else 1)


def test_a_scale_the_hpa_overrides_is_reported_not_called_done(sb: SandboxThread, tmp_path: Path) -> None:
    """`scale --replicas 10` of a Deployment whose HPA allows at most 8: the HPA sets 8 on its next sync. The
    command must say the scale did not hold and why, and exit 1 — not print success."""
    apps = apps_api(sb)
    eventually(lambda: rolled_out(apps), what="initial rollout")
    proc = llmctl(sb, tmp_path, "scale", DEP, "--replicas", "10", "--yes", "--timeout", "60", "-o", "json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    held = report["held"]
    now = apps.read_namespaced_deployment(DEP, NS).spec.replicas
    assert held["held"] is False and held["wanted"] == 10 and held["replicas"] == now and 2 <= now <= 8
    assert held["reason"].startswith(f"HorizontalPodAutoscaler claude-hpa (min 2, max 8) set it to {now} (")
    assert held["reason"].endswith("llmctl hpa set claude-hpa --max 10")
    assert "did not hold" in proc.stderr and "claude-hpa" in proc.stderr


def test_a_scale_without_an_autoscaler_holds(sb: SandboxThread, tmp_path: Path) -> None:
    apps = apps_api(sb)
    eventually(lambda: rolled_out(apps, "claude-long-queue"), what="initial rollout")
    proc = llmctl(sb, tmp_path, "scale", "claude-long-queue", "--replicas", "2", "--yes", "--timeout", "60",
                  "-o", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    held = json.loads(proc.stdout)["held"]
    assert held["held"] is True and held["replicas"] == 2 and held["reason"] == ""
