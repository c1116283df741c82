"""Against the sandbox (its registry serves the image configs over the Registry HTTP API v2): `llmctl check`
catches the mismatched images, `rollout set-image` refuses them (headless and through the actions service),
and forced anyway the pods crash with the line the checker predicted, which the cluster alerts surface."""

from __future__ import annotations

import json
from pathlib import Path

from kubernetes import client, config

from console.actions.service import ActionError
from console.alerts.model import cluster_alerts
from console.audit import AuditLog
from console.compat.rules import NO_KERNEL, Level
from console.sandbox.server import SandboxThread
from tests.actions.conftest import DEP, NS, apps_api, connect, eventually, marks, rolled_out, tokens
from tests.actions.test_cli_actions import llmctl, run_all

CUDA13, SM90 = "v2.0.0-cuda13", "v1.2.0-sm90"
DRIVER_LINE = "CUDA driver version is insufficient for CUDA runtime version"


def ref(sb: SandboxThread, tag: str) -> str:
    return sb.ctx.catalog.ref("llm/claude-inference", tag)


def core_api(sb: SandboxThread) -> client.CoreV1Api:
    return client.CoreV1Api(config.new_client_from_config(sb.info.kubeconfig))


def crashing_pods(core: client.CoreV1Api, tag: str) -> list:
    return [p for p in core.list_namespaced_pod(NS, label_selector="app=claude").items
            for cs in p.status.container_statuses or []
            if cs.image.endswith(tag) and cs.state.waiting and cs.state.waiting.reason == "CrashLoopBackOff"]


def crash_alerts(sb: SandboxThread, core: client.CoreV1Api, tag: str) -> list:
    """The cluster-derived CrashLoopBackOff alerts (console.alerts.model) for the pods running ``tag``."""
    apps = apps_api(sb)
    raw_pods = core.list_namespaced_pod(NS, label_selector="app=claude")
    names = {p.metadata.name for p in raw_pods.items for cs in p.status.container_statuses or []
             if cs.image.endswith(tag)}
    pods = core.api_client.sanitize_for_serialization(raw_pods)
    deps = apps.api_client.sanitize_for_serialization(apps.list_namespaced_deployment(NS))
    return [a for a in cluster_alerts(pods, deps, None) if a.name == "CrashLoopBackOff" and a.target.pod in names]


def test_llmctl_check_catches_both_mismatched_images(sandbox: SandboxThread, tmp_path: Path) -> None:
    ok, cuda13, sm90 = run_all(sandbox, tmp_path, [
        ["check"], ["check", "--image", ref(sandbox, CUDA13), "-o", "json"],
        ["check", "--image", ref(sandbox, SM90), "-d", DEP]])
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "Driver compatibility in namespace llm: OK" in ok.stdout and "NVIDIA-A10G" in ok.stdout

    assert cuda13.returncode == 2, cuda13.stderr
    doc = json.loads(cuda13.stdout)
    assert doc["exit"] == 2 and doc["level"] == "FAIL" and [p["nodes"] for p in doc["pools"]] == [
        ["gpu-node-1", "gpu-node-2", "gpu-node-3", "gpu-node-4"]]
    candidate = next(i for i in doc["images"] if i["candidate"])
    assert candidate["facts"]["cuda"] == "13.0.0" and candidate["facts"]["source"].startswith("registry 127.0.0.1:")
    cell = next(c for c in doc["cells"] if c["image"] == ref(sandbox, CUDA13))
    assert cell["level"] == "FAIL" and cell["verdicts"][0]["code"] == "driver-too-old"
    assert "needs ≥ 580.65.06" in cell["verdicts"][0]["reason"]

    assert sm90.returncode == 2, sm90.stderr
    assert "FAIL" in sm90.stdout and NO_KERNEL in sm90.stdout and "no kernel for sm_86" in sm90.stdout
    assert 'TORCH_CUDA_ARCH_LIST="8.6"' in sm90.stdout, "the fix is printed"


def test_headless_set_image_refuses_then_force_crashes_with_the_predicted_line(sb: SandboxThread,
                                                                               tmp_path: Path) -> None:
    apps, core = apps_api(sb), core_api(sb)
    eventually(lambda: rolled_out(apps), what="initial rollout")
    before, audit = marks(apps), tmp_path / "audit.jsonl"
    image = ref(sb, SM90)
    refused = llmctl(sb, tmp_path, "rollout", "set-image", DEP, f"inference={image}", "--yes",
                     "--audit-log", str(audit))
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "compatibility: FAIL — blocked" in refused.stdout and NO_KERNEL in refused.stdout
    assert f"llmctl: refused: {image} cannot run on the nodes deployment/{DEP} schedules on" in refused.stderr
    assert "rerun with --force" in refused.stderr
    assert marks(apps) == before, "nothing was changed"
    entries = AuditLog(audit).entries()
    assert [e["mode"] for e in entries] == ["dry-run", "refused"] and "no kernel for sm_86" in entries[1]["result"]

    forced = llmctl(sb, tmp_path, "rollout", "set-image", DEP, f"inference={image}", "--yes", "--force", "--no-wait",
                    "--audit-log", str(audit))
    assert forced.returncode == 0, forced.stderr
    last = AuditLog(audit).entries()[-1]
    assert last["mode"] == "applied" and last["result"] == "ok" and last["forced"].startswith("FAIL")
    crashing = eventually(lambda: crashing_pods(core, SM90), what="CrashLoopBackOff")
    log = eventually(lambda: (text := core.read_namespaced_pod_log(crashing[0].metadata.name, NS,
                                                                   container="inference")) and NO_KERNEL in text
                     and text, what="the log line")
    assert f"RuntimeError: {NO_KERNEL}" in log
    alerts = eventually(lambda: crash_alerts(sb, core, SM90), what="CrashLoopBackOff alert")
    assert alerts[0].severity == "critical" and "in CrashLoopBackOff" in alerts[0].summary
    assert not any(t in audit.read_text() for t in tokens(sb))


async def test_the_actions_service_gates_and_force_applies(sb: SandboxThread, tmp_path: Path) -> None:
    apps, core = apps_api(sb), core_api(sb)
    eventually(lambda: rolled_out(apps), what="initial rollout")
    before = marks(apps)
    actions, _ = await connect(sb, tmp_path / "audit.jsonl")
    try:
        fine = await actions.plan_set_image(NS, DEP, ref(sb, "v1.1.0"))
        assert fine.compat.level is Level.OK and not fine.compat.blocked
        assert "driver 535.104.05 ≥ 535.104.05" in fine.compat.summary

        plan = await actions.plan_set_image(NS, DEP, ref(sb, CUDA13))
        gate = plan.compat
        assert gate.blocked and gate.summary.startswith("FAIL on NVIDIA-A10G · 535.104.05 · CC 8.6 (4 nodes)")
        assert "needs ≥ 580.65.06" in gate.summary
        assert any("LD_LIBRARY_PATH" in w for w in plan.warnings), "the container's CUDA 12.2 path is a warning"
        try:
            await actions.apply(plan)
        except ActionError as exc:
            assert exc.code == 1 and "refused" in exc.message
        else:
            raise AssertionError("a FAIL must block apply")
        assert marks(apps) == before
        result = await actions.apply(plan, force=True)
        assert result.ok
    finally:
        await actions.close()
    crashing = eventually(lambda: crashing_pods(core, CUDA13), what="CrashLoopBackOff")
    log = core.read_namespaced_pod_log(crashing[0].metadata.name, NS, container="inference")
    assert DRIVER_LINE in log
    assert eventually(lambda: crash_alerts(sb, core, CUDA13), what="CrashLoopBackOff alert")
    modes = [e["mode"] for e in AuditLog(tmp_path / "audit.jsonl").entries()]
    assert modes == ["dry-run", "dry-run", "refused", "applied"]


def test_check_without_a_cluster_is_unknown_not_ok(tmp_path: Path) -> None:
    proc = llmctl(None, tmp_path, "check", "--kubeconfig", str(tmp_path / "missing"))
    # never OK: a kubeconfig that cannot be used is a usage error, said at once in one line (#14)
    assert proc.returncode == 2 and "OK" not in proc.stdout, proc.stdout + proc.stderr
    assert proc.stderr.strip() == f"llmctl: no kubeconfig at {tmp_path / 'missing'} (use --kubeconfig or --sandbox)"


# ---- issue 13: one image resolver, one notion of the nodes pods can run on -------------------------------------
SHORT_CUDA13 = f"llm/claude-inference:{CUDA13}"  # a Docker Hub short name: the sandbox's nodes pull it via its mirror


def test_short_name_set_image_is_gated_like_deploy(sb: SandboxThread, tmp_path: Path) -> None:
    """`deploy` resolved llm/x:tag through the cluster's advertised local registry (KEP-1755) while
    `rollout set-image` looked on docker.io, said UNKNOWN and let an image through that crash-loops."""
    apps = apps_api(sb)
    eventually(lambda: rolled_out(apps), what="initial rollout")
    before, audit = marks(apps), tmp_path / "audit.jsonl"
    refused, check, hub = run_all(sb, tmp_path, [
        ["rollout", "set-image", DEP, f"inference={SHORT_CUDA13}", "--yes", "--audit-log", str(audit)],
        ["check", "--image", SHORT_CUDA13, "-d", DEP, "-o", "json"],
        ["check", "--image", f"docker.io/{SHORT_CUDA13}", "-o", "json"]])
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "compatibility: FAIL — blocked" in refused.stdout and "needs ≥ 580.65.06" in refused.stdout
    assert f"llmctl: refused: {SHORT_CUDA13} cannot run on the nodes deployment/{DEP} schedules on" in refused.stderr
    assert marks(apps) == before, "nothing was changed"
    assert [e["mode"] for e in AuditLog(audit).entries()] == ["dry-run", "refused"]
    for proc, ref_ in ((check, SHORT_CUDA13), (hub, f"docker.io/{SHORT_CUDA13}")):
        assert proc.returncode == 2, proc.stdout + proc.stderr
        doc = json.loads(proc.stdout)
        candidate = next(i for i in doc["images"] if i["candidate"])
        assert candidate["ref"] == ref_ and candidate["facts"]["cuda"] == "13.0.0", candidate
        assert sb.ctx.catalog.registry_host in candidate["facts"]["source"], "read from the cluster's local registry"
        cell = next(c for c in doc["cells"] if c["image"] == ref_)
        assert cell["level"] == "FAIL" and cell["verdicts"][0]["code"] == "driver-too-old"


async def test_the_checker_resolves_short_names_for_every_caller(sb: SandboxThread) -> None:
    """The compat checker the console's :compat screen and set-image dialog use (built from the transport alone)
    resolves short names through the cluster's local registry too."""
    from console.compat.checker import CompatChecker
    from console.kube.transport import KubeTransport

    transport = await KubeTransport.connect(sb.info.kubeconfig, "sandbox-admin")
    try:
        checker = CompatChecker(transport)
        report = await checker.report(NS, SHORT_CUDA13)
        row = next(r for r in report.images if r.candidate)
        assert row.ref == SHORT_CUDA13 and row.facts.cuda == "13.0.0" and row.facts.error is None
        assert report.exit_code == 2
        deployment = await transport.get(f"/apis/apps/v1/namespaces/{NS}/deployments/{DEP}")
        gate = await checker.gate(deployment, "inference", SHORT_CUDA13)
        assert gate.blocked and "needs ≥ 580.65.06" in gate.summary
    finally:
        await transport.close()


def _driver_labels(version: str) -> dict[str, str]:
    major, minor, rev = version.split(".")
    return {"nvidia.com/cuda.driver.major": major, "nvidia.com/cuda.driver.minor": minor,
            "nvidia.com/cuda.driver.rev": rev}


def _upgrade_drivers_but_gpu_node_1(sb: SandboxThread) -> client.CoreV1Api:
    """Every GPU node but gpu-node-1 gets driver 580.82.07 (CUDA 13 runs there); gpu-node-1 keeps 535.104.05."""
    core = core_api(sb)
    for n in core.list_node().items:
        if n.metadata.name != "gpu-node-1" and (n.metadata.labels or {}).get("nvidia.com/gpu.present") == "true":
            core.patch_node(n.metadata.name, {"metadata": {"labels": _driver_labels("580.82.07")}})
    return core


async def test_gate_ignores_a_cordoned_node_with_an_old_driver(sb: SandboxThread, tmp_path: Path) -> None:
    """The preflight counts only schedulable nodes; the gate counted a cordoned one and blocked set-image."""
    apps = apps_api(sb)
    eventually(lambda: rolled_out(apps), what="initial rollout")
    core = _upgrade_drivers_but_gpu_node_1(sb)
    actions, _ = await connect(sb, tmp_path / "audit.jsonl")
    try:
        before = await actions.plan_set_image(NS, DEP, ref(sb, CUDA13))
        assert before.compat.blocked, "gpu-node-1 is schedulable: its old driver blocks"
        core.patch_node("gpu-node-1", {"spec": {"unschedulable": True}})
        plan = await actions.plan_set_image(NS, DEP, ref(sb, CUDA13))
    finally:
        await actions.close()
    assert not plan.compat.blocked, plan.compat.summary
    assert [label for label, _ in plan.compat.cells] == ["NVIDIA-A10G · 580.82.07 · CC 8.6 (3 nodes)"]
    assert plan.preflight is not None and plan.preflight.ok


async def test_gate_ignores_a_lost_node_with_an_old_driver(sb: SandboxThread, tmp_path: Path) -> None:
    """The sandbox's node-loss fault: gpu-node-1 goes NotReady (unreachable taints); it no longer counts."""
    from console.sandbox.faultcli import send_fault

    apps = apps_api(sb)
    eventually(lambda: rolled_out(apps), what="initial rollout")
    core = _upgrade_drivers_but_gpu_node_1(sb)
    assert send_fault("node-loss", "gpu-node-1", sb.info.kubeconfig) == 0
    eventually(lambda: any(t.key == "node.kubernetes.io/unreachable" for t in
                           core.read_node("gpu-node-1").spec.taints or []), what="the unreachable taint")
    actions, _ = await connect(sb, tmp_path / "audit.jsonl")
    try:
        plan = await actions.plan_set_image(NS, DEP, ref(sb, CUDA13))
    finally:
        await actions.close()
    assert not plan.compat.blocked, plan.compat.summary
    assert [label for label, _ in plan.compat.cells] == ["NVIDIA-A10G · 580.82.07 · CC 8.6 (3 nodes)"]
