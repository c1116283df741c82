"""``llmctl deploy`` end to end, as a script runs it: ``python -m console.cli deploy ...`` in a subprocess
against a sandbox (no terminal on stdin), checking exit codes, output, the audit log, the progress file,
and that a second run changes nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from kubernetes import client, config

from console.audit import AuditLog
from console.deploy.progress import STEPS, ProgressStore
from console.deploy.values.load import load_values_file
from console.sandbox.server import SandboxThread
from tests.conftest import current_kubectl, debian_kubectl

from .conftest import ADMIN, engine, namespace_objects, run
from .value_sets import values

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = str(ROOT / "manifests" / "values.example.yaml")
NS, DEP = "llm-demo", "claude-inference"


def llmctl(sb: SandboxThread, state: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "XDG_STATE_HOME": str(state), "XDG_CONFIG_HOME": str(state / "config")}
    env.pop("KUBECONFIG", None)
    return subprocess.run([sys.executable, "-m", "console.cli", *args, "--kubeconfig", sb.info.kubeconfig],
                          cwd=ROOT, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=90)


def test_deploy_the_example_then_run_again_and_nothing_changes(sb: SandboxThread, tmp_path: Path) -> None:
    assert namespace_objects(sb, NS) == []
    first = llmctl(sb, tmp_path, "deploy", "-f", EXAMPLE, "--yes", "--timeout", "60")
    assert first.returncode == 0, first.stdout + first.stderr
    out = first.stdout
    for line in ("plan: 8 to create, 0 to change, 0 unchanged", "  deployment.apps/claude-inference created",
                 'deployment "claude-inference" successfully rolled out', "OK   pods-ready: 2 pods Ready"):
        assert line in out, out
    assert "cold start" in out and "OK   image-compatibility: llm/claude-inference:v1.1.0: OK" in out
    apps = client.AppsV1Api(config.new_client_from_config(sb.info.kubeconfig, context=ADMIN))
    d = apps.read_namespaced_deployment(DEP, NS)
    assert d.status.ready_replicas == 2 and d.spec.template.spec.containers[0].image == "llm/claude-inference:v1.1.0"
    audit = AuditLog(tmp_path / "llmctl" / "audit.jsonl")
    entries = audit.entries()
    applied = [e for e in entries if e["mode"] == "applied"]
    assert [e["target"].split("/", 1)[1] for e in applied] == [
        "Namespace/llm-demo", "PersistentVolumeClaim/model-pvc", "PodDisruptionBudget/claude-inference-pdb",
        "Service/claude-inference",
        "Deployment/claude-inference", "HorizontalPodAutoscaler/claude-inference-hpa",
        "ServiceMonitor/claude-inference", "PrometheusRule/claude-inference-alerts"]
    assert all(e["result"] == "ok" and e["user"] == ADMIN and e["kubectl"].startswith(
        "kubectl apply --server-side --field-manager=llmctl --force-conflicts -f ")
               for e in applied)

    store = ProgressStore(tmp_path / "llmctl" / "deploy")
    progress = store.load(ADMIN, NS, DEP)
    assert progress is not None and progress.completed == list(STEPS) and progress.next_step is None
    assert progress.load_values() == load_values_file(EXAMPLE)
    manifests = Path(progress.manifests or "")
    assert (manifests / "30-deployment.yaml").is_file()
    assert oct(store.path(ADMIN, NS, DEP).stat().st_mode & 0o777) == "0o600"

    second = llmctl(sb, tmp_path, "deploy", "-f", EXAMPLE, "--yes", "--timeout", "60")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "plan: no changes: 8 objects match the values" in second.stdout and "nothing to apply" in second.stdout
    assert "nothing changed: the cluster already matches the values" in second.stdout
    assert audit.entries() == entries, "a re-run writes nothing: no dry-run, no apply"
    assert apps.read_namespaced_deployment(DEP, NS).metadata.generation == d.metadata.generation


def test_refusals_and_dry_run_change_nothing(sb: SandboxThread, tmp_path: Path) -> None:
    bad_image = tmp_path / "cuda13.yaml"
    bad_image.write_text(Path(EXAMPLE).read_text().replace("llm/claude-inference:v1.1.0",
                                                           "llm/claude-inference:v2.0.0-cuda13"))
    invalid = tmp_path / "invalid.yaml"
    invalid.write_text("image: llm/claude-inference:v1.1.0\ngpusPerReplica: 99\n")
    cases = [
        (["deploy", "-f", EXAMPLE], 1, "confirmation needed: rerun with --yes"),
        (["deploy", "-f", EXAMPLE, "--dry-run"], 0, "nothing was changed (--dry-run)"),
        (["deploy", "-f", EXAMPLE, "--yes", "--context", "sandbox-viewer"], 1,
         "preflight failed (permissions): nothing was applied"),
        (["deploy", "-f", str(bad_image), "--yes"], 1, "preflight failed (image-compatibility"),
        (["deploy", "-f", str(invalid), "--yes"], 2, "gpusPerReplica: 99 is too large: at most 16"),
        (["deploy", "-f", EXAMPLE, "--yes", "-n", "other"], 2, "is not the values' namespace (llm-demo)"),
    ]
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda c: llmctl(sb, tmp_path / str(id(c)), *c[0]), cases))
    for (args, code, text), proc in zip(cases, results, strict=True):
        assert proc.returncode == code, (args, proc.stdout, proc.stderr)
        assert text in proc.stdout + proc.stderr, (args, proc.stdout, proc.stderr)
    dry = results[1].stdout
    assert "namespace/llm-demo would be created (server dry-run)" in dry and "not checked by the server" in dry
    assert "driver 535.104.05" in results[3].stdout
    assert namespace_objects(sb, NS) == [], "nothing half-applied"


def test_kubectl_apply_of_the_deployed_manifests_finds_nothing_to_change(sb: SandboxThread, tmp_path: Path) -> None:
    """llmctl applies server-side as field manager ``llmctl``: the files it keeps are the user's to
    ``kubectl apply --server-side --field-manager=llmctl`` from then on (both kubectls), and that changes nothing."""
    v = values("pools")

    async def go() -> None:
        eng = await engine(sb, tmp_path / "audit.jsonl")
        try:
            rendered = eng.render(v)
            rendered.write(tmp_path / "m")
            assert (await eng.apply(await eng.diff(rendered))).ok
        finally:
            await eng.close()
    run(go())
    apps = client.AppsV1Api(config.new_client_from_config(sb.info.kubeconfig, context=ADMIN))
    name = v.deployments()[0]
    before = apps.read_namespaced_deployment(name, NS)
    assert next((m.manager, m.operation) for m in before.metadata.managed_fields) == ("llmctl", "Apply")
    assert "kubectl.kubernetes.io/last-applied-configuration" not in (before.metadata.annotations or {})
    # kubectl diff compares the live object with the server's dry-run answer, read a moment later: while the
    # deployment controller is still writing status the two differ on a real cluster too. Diff once rolled out.
    for dep in v.deployments():
        done = subprocess.run([current_kubectl(), "--kubeconfig", sb.info.kubeconfig, "-n", NS, "rollout", "status",
                               f"deployment/{dep}", "--timeout=60s"], capture_output=True, text=True, timeout=90,
                              check=False)
        assert done.returncode == 0, done.stdout + done.stderr
    for kubectl in (current_kubectl(), debian_kubectl()):
        base = [kubectl, "--kubeconfig", sb.info.kubeconfig, "--cache-dir", str(tmp_path / "cache")]
        done = subprocess.run([*base, "apply", "--server-side", "--field-manager=llmctl", "-f", str(tmp_path / "m")],
                              capture_output=True, text=True, timeout=30, check=False)
        assert done.returncode == 0, done.stderr
        lines = done.stdout.strip().splitlines()
        assert len(lines) == 12 and all(line.endswith(" serverside-applied") for line in lines), done.stdout
        # kubectl 1.20's diff lists CustomResourceDefinitions for custom resources, which the sandbox does not
        # serve: it diffs the built-in kinds' files.
        files = [str(tmp_path / "m")] if kubectl == current_kubectl() else \
            [str(f) for f in sorted((tmp_path / "m").glob("*.yaml")) if f.name < "50-"]
        # The HPA controller keeps writing status (current metrics) between diff's live read and its dry-run, as on
        # a real cluster: such a difference is gone on the next try, a difference in what was applied is not.
        for _ in range(4):
            done = subprocess.run([*base, "diff", "--server-side", "--field-manager=llmctl",
                                   *(a for f in files for a in ("-f", f))],
                                  capture_output=True, text=True, timeout=30, check=False)
            if done.returncode == 0:
                break
        assert done.returncode == 0, done.stdout + done.stderr
    after = apps.read_namespaced_deployment(name, NS)
    assert after.metadata.generation == before.metadata.generation
    kubectl = debian_kubectl()
    listed = json.loads(subprocess.run([kubectl, "--kubeconfig", sb.info.kubeconfig, "--cache-dir",
                                        str(tmp_path / "cache"), "get", "servicemonitors,prometheusrules", "-n", NS,
                                        "-o", "json"], capture_output=True, text=True, timeout=30, check=True).stdout)
    assert sorted(i["kind"] for i in listed["items"]) == ["PrometheusRule", "ServiceMonitor"]
