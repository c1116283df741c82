"""The deploy engine against a real sandbox over real sockets: rendered manifests pass the server's dry-run
(and kubectl's), a deployment goes from an empty namespace to Ready with metrics, and every failure path
leaves nothing half-applied."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config

from console.audit import AuditLog
from console.deploy.engine import DeployEngine, DeployError, Status
from console.deploy.render import render
from console.kube.kubeconfig import read_kubeconfig_target
from console.kube.transport import KubeTransport
from console.sandbox.metrics_source import SandboxMetrics
from console.sandbox.server import SandboxThread
from tests.conftest import current_kubectl, debian_kubectl, start_sandbox

from .conftest import VIEWER, core, engine, namespace_objects, run
from .value_sets import VALUE_SETS, values

NS = "llm-demo"


@pytest.fixture(scope="module")
def shared() -> Iterator[SandboxThread]:
    """One sandbox for the dry-run-only tests (they change nothing), with the target namespace created."""
    thread = start_sandbox()
    core(thread).create_namespace({"metadata": {"name": NS}})
    try:
        yield thread
    finally:
        thread.stop()


@pytest.mark.parametrize("name", list(VALUE_SETS))
def test_rendered_manifests_pass_the_server_dry_run(shared: SandboxThread, tmp_path: Path, name: str) -> None:
    async def go() -> None:
        eng = await engine(shared, tmp_path / "audit.jsonl")
        try:
            plan = await eng.diff(render(values(name)))
            assert [o.state for o in plan.objects] == ["unchanged"] + ["new"] * (len(plan.objects) - 1)
            report = await eng.dry_run(plan)
            assert report.ok and all(r.checked for r in report.results), report
            assert len(report.results) == len(plan.objects) - 1
        finally:
            await eng.close()
    run(go())
    assert namespace_objects(shared, NS) == [f"namespace/{NS}"], "a dry-run changes nothing"
    modes = {e["mode"] for e in AuditLog(tmp_path / "audit.jsonl").entries()}
    assert modes == {"dry-run"}


@pytest.mark.parametrize("which", ["current", "debian"])
@pytest.mark.parametrize("name", list(VALUE_SETS))
def test_kubectl_accepts_the_rendered_files(shared: SandboxThread, tmp_path: Path, name: str, which: str) -> None:
    # Both kubectls validate the files client-side against the sandbox's /openapi (v3 for the current one,
    # v2 as protobuf for 1.20), then the server's own validation runs in the dry-run.
    kubectl = current_kubectl() if which == "current" else debian_kubectl()
    written = render(values(name)).write(tmp_path / "m")
    assert written
    base = [kubectl, "--kubeconfig", shared.info.kubeconfig, "--cache-dir", str(tmp_path / "cache"), "apply",
            "--dry-run=server"]
    builtin = [str(f) for f in written if f.name < "50-"]  # 50-, 60-: the Prometheus Operator's kinds
    files = [str(tmp_path / "m")] if which == "current" else builtin
    done = subprocess.run([*base, *(a for f in files for a in ("-f", f))],
                          capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    assert "deployment.apps/claude-inference" in done.stdout and "(server dry run)" in done.stdout
    custom = [str(f) for f in written if f.name >= "50-"]
    if which == "debian" and custom:
        # kubectl 1.20 looks custom resources up in apiextensions.k8s.io/v1beta1, which v1.30 no longer serves:
        # a real 1.30 cluster answers this same error.
        done = subprocess.run([*base, *(a for f in custom for a in ("-f", f))],
                              capture_output=True, text=True, timeout=30, check=False)
        assert done.returncode == 1 and "failed to list CRDs" in done.stderr, (done.returncode, done.stderr)
    assert namespace_objects(shared, NS) == [f"namespace/{NS}"]


def test_deploy_from_empty_namespace_to_ready_with_metrics_then_nothing_to_do(sb: SandboxThread,
                                                                             tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    metrics = SandboxMetrics(sb)
    v = values("defaults")

    async def go() -> None:
        eng = await engine(sb, audit, metrics=metrics)
        try:
            rendered = eng.render(v)
            pre = await eng.preflight(v, rendered)
            assert pre.ok, [c.line() for c in pre.checks]
            names = {c.name: c.status for c in pre.checks}
            for check in ("cluster", "permissions", "gpu-nodes", "gpu-capacity", "device-plugin", "kubernetes",
                          "image-compatibility", "api-resources"):
                assert names[check] is Status.OK, check
            plan = await eng.diff(rendered)
            assert plan.namespace_new and [o.state for o in plan.objects] == ["new"] * 8
            applied = await eng.apply(plan)
            assert applied.ok, applied.message
            updates = []
            rollout = await eng.watch(rendered, 30, on_update=updates.append)
            assert rollout.done and not rollout.failed and len(updates) >= 1
            assert len(rollout.pods) == 2 and all(p.ready and p.cold_start_s is not None for p in rollout.pods)
            verify = await eng.verify(rendered, 20)
            checks = {c.name: c for c in verify.checks}
            assert checks["pods-ready"].status is Status.OK and checks["metrics"].status is Status.OK, verify
            assert checks["alert-rules"].status is Status.SKIP  # no Prometheus given
            again = await eng.diff(rendered)
            assert not again.changes, [(o.ref, o.diff) for o in again.changes]
            assert (await eng.apply(again)).results == ()
        finally:
            await eng.close()
    try:
        run(go())
    finally:
        metrics.close()
    entries = AuditLog(audit).entries()
    assert [e["mode"] for e in entries] == ["dry-run", "applied"] + ["dry-run"] * 7 + ["applied"] * 7
    assert entries[-3]["target"] == f"{NS}/HorizontalPodAutoscaler/claude-inference-hpa"
    pvc = core(sb).read_namespaced_persistent_volume_claim("model-pvc", NS)
    assert pvc.status.phase == "Bound" and pvc.spec.storage_class_name == "standard"


def test_no_gpu_nodes_fails_the_preflight(tmp_path: Path) -> None:
    thread = start_sandbox(gpus_per_node=0)
    try:
        async def go() -> None:
            eng = await engine(thread, tmp_path / "audit.jsonl")
            try:
                pre = await eng.preflight(values("defaults"))
            finally:
                await eng.close()
            failed = {c.name: c.message for c in pre.failures}
            assert failed["gpu-nodes"].startswith("no GPU nodes: none of the 4 nodes has allocatable nvidia.com/gpu")
            assert "device-plugin" in failed
        run(go())
        assert namespace_objects(thread, NS) == []
    finally:
        thread.stop()


def test_a_node_selector_nothing_matches_fails_and_pods_would_not_schedule(sb: SandboxThread, tmp_path: Path) -> None:
    v = values("defaults", nodeSelector={"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}, replicas=2)

    async def go() -> None:
        eng = await engine(sb, tmp_path / "audit.jsonl")
        try:
            pre = await eng.preflight(v)
            (fail,) = [c for c in pre.failures if c.name == "gpu-nodes"]
            assert "no GPU node accepts the pods" in fail.message
            assert "nvidia.com/gpu.product=NVIDIA-H100" in fail.message
            # Applied anyway (the engine's steps are separate): the rollout report names the scheduler's reason.
            rendered = eng.render(v)
            assert (await eng.apply(await eng.diff(rendered))).ok
            report = await eng.watch(rendered, 2.0)
            assert report.timed_out and not report.done
            assert any("didn't match Pod's node affinity/selector" in m for m in report.scheduling), report.scheduling
        finally:
            await eng.close()
    run(go())


def test_incompatible_driver_image_fails_the_preflight(sb: SandboxThread, tmp_path: Path) -> None:
    v = values("defaults", image="llm/claude-inference:v2.0.0-cuda13")

    async def go() -> None:
        eng = await engine(sb, tmp_path / "audit.jsonl")
        try:
            pre = await eng.preflight(v)
        finally:
            await eng.close()
        assert not pre.ok
        (check,) = [c for c in pre.checks if c.name == "image-compatibility"]
        assert check.status is Status.FAIL
        assert "535.104.05" in check.message and "580.65.06" in check.message, check.message
        assert pre.local_registry == sb.ctx.catalog.registry_host
    run(go())


def test_forbidden_to_create_leaves_nothing_half_applied(sb: SandboxThread, tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    v = values("defaults")

    async def go() -> None:
        eng = await engine(sb, audit, context=VIEWER)
        try:
            pre = await eng.preflight(v)
            (perm,) = [c for c in pre.failures if c.name == "permissions"]
            assert perm.message.startswith("user sandbox-viewer may not create namespaces, create "
                                           "persistentvolumeclaims, patch persistentvolumeclaims")
            report = await eng.apply(await eng.diff(eng.render(v)))  # the engine refuses on the server's word too
            assert not report.ok and report.message.startswith("nothing applied: forbidden: cannot create namespaces")
        finally:
            await eng.close()
    run(go())
    assert namespace_objects(sb, NS) == []
    core(sb).create_namespace({"metadata": {"name": NS}})  # the namespace exists: every object is refused

    async def again() -> None:
        eng = await engine(sb, audit, context=VIEWER)
        try:
            report = await eng.apply(await eng.diff(eng.render(v)))
            assert not report.ok and len(report.failures) == 7 and report.message.startswith(
                "nothing applied: the server dry-run failed for 7 of 7 objects — forbidden: cannot create")
        finally:
            await eng.close()
    run(again())
    assert namespace_objects(sb, NS) == [f"namespace/{NS}"]
    assert {e["result"].split(":")[0] for e in AuditLog(audit).entries()} == {"forbidden"}


def test_one_object_failing_the_dry_run_means_nothing_is_applied(sb: SandboxThread, tmp_path: Path) -> None:
    """A Deployment of the same name with another selector (immutable) already exists: the PVC, Service and
    the rest would pass, but none is applied; a namespace created for the run is deleted again."""
    v = values("defaults", namespace="llm")  # the scenario's claude-inference selects app=claude only
    before = namespace_objects(sb, "llm")

    async def go() -> None:
        eng = await engine(sb, tmp_path / "audit.jsonl")
        try:
            plan = await eng.diff(eng.render(v))
            assert {o.ref: o.state for o in plan.objects}["deployment.apps/claude-inference"] == "changed"
            assert "not created by llmctl" in next(o.note for o in plan.objects if o.kind == "Deployment")
            report = await eng.apply(plan)
            assert not report.ok
            (bad,) = report.failures
            assert bad.ref == "deployment.apps/claude-inference" and "field is immutable" in bad.message
        finally:
            await eng.close()
    run(go())
    after = namespace_objects(sb, "llm")
    assert set(after) - set(before) <= {p for p in after if p.startswith(("pods/", "replicasets/"))}, \
        "no object of ours was created"


def test_read_only_refuses_and_audits(sb: SandboxThread, tmp_path: Path) -> None:
    async def go() -> None:
        eng = await engine(sb, tmp_path / "audit.jsonl", readonly=True)
        try:
            with pytest.raises(DeployError, match="read-only mode: deploy refused"):
                await eng.apply(await eng.diff(eng.render(values("defaults"))))
        finally:
            await eng.close()
    run(go())
    assert {e["mode"] for e in AuditLog(tmp_path / "audit.jsonl").entries()} == {"refused"}
    assert namespace_objects(sb, NS) == []


def test_changed_values_patch_only_what_changed_and_keep_the_hpas_replicas(sb: SandboxThread, tmp_path: Path) -> None:
    first = values("defaults")
    changed = values("defaults", image="llm/claude-inference:v1.0.0",
                     autoscaling={**VALUE_SETS["defaults"]["autoscaling"], "maxReplicas": 10})

    async def go() -> None:
        eng = await engine(sb, tmp_path / "audit.jsonl")
        try:
            rendered = eng.render(first)
            assert (await eng.apply(await eng.diff(rendered))).ok
            assert (await eng.watch(rendered, 30)).done
            # The HPA owns the replica count once it exists: scaling by hand is not a difference.
            apps = client.AppsV1Api(config.new_client_from_config(sb.info.kubeconfig, context="sandbox-admin"))
            apps.patch_namespaced_deployment_scale("claude-inference", NS, {"spec": {"replicas": 3}})
            assert not (await eng.diff(rendered)).changes
            plan = await eng.diff(eng.render(changed))
            states = {o.ref: o for o in plan.objects}
            dep, hpa = states["deployment.apps/claude-inference"], states[
                "horizontalpodautoscaler.autoscaling/claude-inference-hpa"]
            assert [o.ref for o in plan.changes] == [dep.ref, hpa.ref]
            image_lines = "-        image: llm/claude-inference:v1.1.0\n+        image: llm/claude-inference:v1.0.0"
            assert image_lines in dep.diff
            assert "-  maxReplicas: 8\n+  maxReplicas: 10" in hpa.diff and hpa.changed == ("spec.maxReplicas",)
            assert "replicas" not in dep.diff.replace("maxReplicas", "")
            report = await eng.apply(plan)
            assert report.ok and [r.message for r in report.results] == [
                "deployment.apps/claude-inference configured",
                "horizontalpodautoscaler.autoscaling/claude-inference-hpa configured"]
            assert (await eng.watch(eng.render(changed), 30)).done
            assert not (await eng.diff(eng.render(changed))).changes
            live = apps.read_namespaced_deployment("claude-inference", NS)
            assert live.spec.replicas >= 2 and live.spec.template.spec.containers[0].image.endswith(":v1.0.0")
        finally:
            await eng.close()
    run(go())


class _StallOnDeployment:
    """A transport that hangs on the real (not dry-run) apply of the Deployment: a user quitting there."""

    def __init__(self, inner: KubeTransport, reached: asyncio.Event) -> None:
        self.inner, self.reached = inner, reached

    async def request(self, method: str, path: str, query: list | None = None, body: object = None,
                      content_type: str = "application/json", timeout: float = 10.0) -> object:
        if method == "PATCH" and "/deployments/" in path and ("dryRun", "All") not in (query or []):
            self.reached.set()
            await asyncio.Event().wait()
        return await self.inner.request(method, path, query, body, content_type, timeout)

    async def get(self, path: str, query: list | None = None) -> object:
        return await self.inner.get(path, query)

    async def close(self) -> None:
        await self.inner.close()


def test_quitting_midway_rolls_back_what_was_created(sb: SandboxThread, tmp_path: Path) -> None:
    async def go() -> None:
        reached = asyncio.Event()
        transport = _StallOnDeployment(await KubeTransport.connect(sb.info.kubeconfig, None), reached)
        eng = DeployEngine(transport, read_kubeconfig_target(sb.info.kubeconfig, None),  # type: ignore[arg-type]
                           AuditLog(tmp_path / "audit.jsonl"))
        try:
            task = asyncio.create_task(eng.apply(await eng.diff(eng.render(values("defaults")))))
            await asyncio.wait_for(reached.wait(), 10)
            assert namespace_objects(sb, NS)[:3] == [f"namespace/{NS}", "persistentvolumeclaims/model-pvc",
                                                     "services/claude-inference"]
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        finally:
            await eng.close()
    run(go())
    assert namespace_objects(sb, NS) == []
    rollback = [e for e in AuditLog(tmp_path / "audit.jsonl").entries() if e["action"] == "deploy-rollback"]
    assert [e["target"] for e in rollback] == [f"{NS}/Service/claude-inference",
                                                f"{NS}/PodDisruptionBudget/claude-inference-pdb",
                                                f"{NS}/PersistentVolumeClaim/model-pvc", f"{NS}/Namespace/{NS}"]
