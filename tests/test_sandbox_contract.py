"""The whole sandbox (API + controllers + simulation) driven with the official kubernetes client.

Each test gets its own sandbox (start-up is well under a second) so they can change it freely.
"""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

import pytest
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from console.sandbox.faultcli import send_fault
from console.sandbox.server import SandboxThread
from tests.actions.conftest import eventually, rolled_out

NS, DEP = "llm", "claude-inference"


def api(sb: SandboxThread, context: str = "sandbox-admin") -> client.ApiClient:
    return config.new_client_from_config(sb.info.kubeconfig, context=context)


def revisions(apps: client.AppsV1Api) -> dict[str, tuple[str, int]]:
    """revision → (ReplicaSet name, replicas) of the Deployment's ReplicaSets."""
    rss = apps.list_namespaced_replica_set(NS, label_selector="app=claude").items
    return {rs.metadata.annotations["deployment.kubernetes.io/revision"]: (rs.metadata.name, rs.spec.replicas)
            for rs in rss if rs.metadata.owner_references[0].name == DEP}


def test_image_patch_rolls_out_without_losing_availability_then_undo(sb: SandboxThread) -> None:
    apps = client.AppsV1Api(api(sb))
    eventually(lambda: rolled_out(apps), what="initial rollout")
    start = apps.list_namespaced_deployment(NS, field_selector=f"metadata.name={DEP}")
    new_image = sb.ctx.catalog.ref("llm/claude-inference", "v1.1.0")
    apps.patch_namespaced_deployment(DEP, NS, {"spec": {"template": {"spec": {"containers": [
        {"name": "inference", "image": new_image}]}}}})

    lowest, seen = 99, []
    w = watch.Watch()
    for event in w.stream(apps.list_namespaced_deployment, NS, field_selector=f"metadata.name={DEP}",
                          resource_version=start.metadata.resource_version, timeout_seconds=30):
        st = event["object"].status
        lowest = min(lowest, st.available_replicas or 0)
        seen.append((st.replicas, st.updated_replicas, st.available_replicas))
        if rolled_out(apps):
            w.stop()
    assert lowest >= 2, f"maxUnavailable 0 must keep 2 available, saw {seen}"
    assert any((r or 0) == 3 for r, _, _ in seen), "maxSurge 1 should show a third pod during the rollout"
    revs = revisions(apps)
    assert set(revs) == {"1", "2"} and revs["2"][1] == 2 and revs["1"][1] == 0
    pods = client.CoreV1Api(api(sb)).list_namespaced_pod(NS, label_selector="app=claude").items
    assert {p.spec.containers[0].image for p in pods if p.metadata.deletion_timestamp is None} == {new_image}

    # kubectl rollout undo: put revision 1's template back with a JSON patch.
    old_rs = apps.read_namespaced_replica_set(revs["1"][0], NS)
    template = client.ApiClient().sanitize_for_serialization(old_rs.spec.template)
    template["metadata"]["labels"].pop("pod-template-hash")
    apps.patch_namespaced_deployment(DEP, NS, [{"op": "replace", "path": "/spec/template", "value": template}])
    eventually(lambda: rolled_out(apps), what="undo rollout")
    revs = revisions(apps)
    assert set(revs) == {"2", "3"}, "undo reuses revision 1's ReplicaSet as revision 3"
    reused = apps.read_namespaced_replica_set(revs["3"][0], NS)
    assert reused.metadata.name == old_rs.metadata.name
    assert reused.metadata.annotations["deployment.kubernetes.io/revision-history"] == "1"


def test_dry_run_changes_nothing(sb: SandboxThread) -> None:
    apps = client.AppsV1Api(api(sb))
    before = apps.read_namespaced_deployment(DEP, NS)
    scale = apps.patch_namespaced_deployment_scale(DEP, NS, {"spec": {"replicas": 5}}, dry_run="All")
    assert scale.spec.replicas == 5
    image = sb.ctx.catalog.ref("llm/claude-inference", "v1.1.0")
    would = apps.patch_namespaced_deployment(DEP, NS, {"spec": {"template": {"spec": {"containers": [
        {"name": "inference", "image": image}]}}}}, dry_run="All")
    assert would.spec.template.spec.containers[0].image == image
    time.sleep(0.5)
    after = apps.read_namespaced_deployment(DEP, NS)
    assert after.spec.replicas == before.spec.replicas == 2
    assert after.metadata.resource_version == before.metadata.resource_version
    assert len(revisions(apps)) == 1
    with pytest.raises(ApiException) as bad:
        apps.patch_namespaced_deployment_scale(DEP, NS, {"spec": {"replicas": -1}})
    assert bad.value.status == 422 and json.loads(bad.value.body)["details"]["kind"] == "Scale"


def test_viewer_may_read_but_not_patch(sb: SandboxThread) -> None:
    viewer = api(sb, "sandbox-viewer")
    assert client.AppsV1Api(viewer).read_namespaced_deployment(DEP, NS).spec.replicas == 2
    with pytest.raises(ApiException) as denied:
        client.AppsV1Api(viewer).patch_namespaced_deployment_scale(DEP, NS, {"spec": {"replicas": 3}})
    assert denied.value.status == 403
    review = client.AuthorizationV1Api(viewer).create_self_subject_access_review({
        "spec": {"resourceAttributes": {"verb": "patch", "group": "apps", "resource": "deployments",
                                        "subresource": "scale", "namespace": NS}}})
    assert review.status.allowed is False


def test_failed_scheduling_when_gpus_run_out(sb: SandboxThread) -> None:
    apps, core = client.AppsV1Api(api(sb)), client.CoreV1Api(api(sb))
    # A Deployment without an HPA (claude-hpa would pull claude-inference back to its max of 8).
    apps.patch_namespaced_deployment_scale("claude-long-queue", NS, {"spec": {"replicas": 20}})
    events = eventually(lambda: [e for e in core.list_namespaced_event(NS).items
                                 if e.reason == "FailedScheduling"], what="FailedScheduling event")
    assert events[0].type == "Warning"
    assert "0/4 nodes are available: 4 Insufficient nvidia.com/gpu." in events[0].message
    pending = [p for p in core.list_namespaced_pod(NS, field_selector="status.phase=Pending").items
               if not p.spec.node_name]
    assert pending, "pods that found no GPU stay Pending"
    cond = next(c for c in pending[0].status.conditions if c.type == "PodScheduled")
    assert cond.status == "False" and cond.reason == "Unschedulable"
    # 16 GPUs, 3 held by claude-inference and the short pool: exactly 13 long-pool pods can be placed.
    placed = eventually(lambda: len([p for p in core.list_namespaced_pod(NS, label_selector="pool=long").items
                                     if p.spec.node_name]) == 13 or None, what="13 placed pods")
    assert placed


def _metric_sum(url: str, name: str, label: str) -> float:
    with urllib.request.urlopen(url, timeout=5) as resp:
        text = resp.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name) and label in line)


def test_faults_through_the_api(sb: SandboxThread) -> None:
    apps, core = client.AppsV1Api(api(sb)), client.CoreV1Api(api(sb))
    kc = sb.info.kubeconfig
    eventually(lambda: rolled_out(apps), what="initial rollout")

    def pods(selector: str = "app=claude") -> list[Any]:
        return core.list_namespaced_pod(NS, label_selector=selector).items

    def log_of(pod: Any) -> str:
        return core.read_namespaced_pod_log(pod.metadata.name, NS, container="inference")

    def waiting(reason: str, tag: str = "") -> list[Any]:
        return [p for p in pods() for cs in p.status.container_statuses or []
                if cs.state.waiting and cs.state.waiting.reason == reason and cs.image.endswith(tag)]

    assert send_fault("cuda-too-new", None, kc) == 0
    crashing = eventually(lambda: waiting("CrashLoopBackOff", "v2.0.0-cuda13"), what="CrashLoopBackOff")
    assert "CUDA driver version is insufficient for CUDA runtime version" in log_of(crashing[0])
    assert apps.read_namespaced_deployment(DEP, NS).status.available_replicas >= 2, "old pods keep serving"
    assert send_fault("clear", None, kc) == 0
    eventually(lambda: rolled_out(apps), what="rollback after clear")

    assert send_fault("arch-missing", None, kc) == 0
    crashing = eventually(lambda: waiting("CrashLoopBackOff", "v1.2.0-sm90"), what="CrashLoopBackOff (arch)")
    eventually(lambda: "no kernel image is available for execution on the device" in log_of(crashing[0]),
               what="arch log line")
    assert send_fault("clear", None, kc) == 0
    eventually(lambda: rolled_out(apps), what="rollback after clear")

    assert send_fault("image-pull-error", None, kc) == 0
    eventually(lambda: waiting("ImagePullBackOff") or waiting("ErrImagePull"), what="image pull error")
    assert send_fault("clear", None, kc) == 0
    eventually(lambda: rolled_out(apps), what="rollback after clear")

    assert send_fault("oom", None, kc) == 0
    killed = eventually(lambda: [p for p in pods() for cs in p.status.container_statuses or []
                                 if cs.last_state and cs.last_state.terminated
                                 and cs.last_state.terminated.reason == "OOMKilled"], what="OOMKilled")
    assert killed[0].status.container_statuses[0].restart_count >= 1
    assert send_fault("clear", None, kc) == 0

    victim = pods()[0].spec.node_name
    assert send_fault("node-loss", victim, kc) == 0
    node = eventually(lambda: [c for c in core.read_node(victim).status.conditions
                               if c.type == "Ready" and c.status != "True"], what="node NotReady")
    assert node
    eventually(lambda: all(p.spec.node_name != victim for p in pods()), what="pods moved off the lost node")
    eventually(lambda: rolled_out(apps), what="replacement pods ready")
    assert send_fault("clear", None, kc) == 0
    eventually(lambda: [c for c in core.read_node(victim).status.conditions
                        if c.type == "Ready" and c.status == "True"], what="node Ready again")

    dcgm, vllm = sb.info.dcgm, sb.info.vllm
    used_before = _metric_sum(dcgm, "DCGM_FI_DEV_FB_USED", 'pod="claude-inference-')
    assert send_fault("gpu-memory-leak", None, kc) == 0
    eventually(lambda: _metric_sum(dcgm, "DCGM_FI_DEV_FB_USED", 'pod="claude-inference-') > used_before + 1000,
               what="framebuffer growing")

    def totals() -> tuple[float, float]:
        label = 'model_name="claude-inference"'
        return (_metric_sum(vllm, "vllm:e2e_request_latency_seconds_sum", label),
                _metric_sum(vllm, "vllm:e2e_request_latency_seconds_count", label))

    def mean_latency() -> float:
        """Mean request latency over the last half second (as rate(sum)/rate(count) would give)."""
        s0, c0 = totals()
        time.sleep(0.5)
        s1, c1 = totals()
        return (s1 - s0) / (c1 - c0) if c1 > c0 else 0.0

    calm = mean_latency()
    assert send_fault("latency-spike", None, kc) == 0
    eventually(lambda: mean_latency() > calm * 1.5, what="latency rising")
    assert send_fault("clear", None, kc) == 0
    assert send_fault("volcano", None, kc) == 2, "an unknown fault is a usage error, said by the server"


def test_deleting_a_pod_terminates_it_and_the_replicaset_replaces_it(sb: SandboxThread) -> None:
    apps, core = client.AppsV1Api(api(sb)), client.CoreV1Api(api(sb))
    eventually(lambda: rolled_out(apps), what="initial rollout")
    victim = core.list_namespaced_pod(NS, label_selector="app=claude").items[0].metadata.name
    answer = core.delete_namespaced_pod(victim, NS)
    assert answer.metadata.deletion_timestamp is not None, "a bound pod is Terminating first"
    eventually(lambda: victim not in {p.metadata.name for p in core.list_namespaced_pod(NS).items},
               what="pod removed after its termination")
    eventually(lambda: rolled_out(apps), what="replacement Ready")
    names = {p.metadata.name for p in core.list_namespaced_pod(NS, label_selector="app=claude").items}
    assert len(names) == 2 and victim not in names
